//! The tenant header: name, namespaces, isolation and workloads — what other
//! tenants' rules refer to (SPEC.md sections 5 and 11). Read before the rest of
//! the tenant, and projected into position-free [`TenantFacts`] for other tenants.

use crate::context::{At, Ctx};
use crate::env::{TenantFacts, WorkloadFacts};
use crate::model::*;
use crate::schema::{self, BlockKind};
use crate::values;
use khc_syntax::Span;
use std::collections::BTreeMap;

/// Namespaces a tenant can never own.
pub(crate) const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// A tenant's header, read from its statement.
pub(crate) struct TenantHeader {
    /// The position-free facts other tenants see.
    pub facts: TenantFacts,
    /// The tenant name's span.
    pub name_span: Span,
    /// Each namespace with where it is listed (the tenant name when implicit).
    pub namespace_spans: Vec<(String, Span)>,
    /// The workloads, with their declaration sites.
    pub workloads: BTreeMap<String, Workload>,
}

/// Reads a tenant's name, namespaces, isolation mode and workloads.
pub(crate) fn read_header(cx: &mut Ctx, at: &At<'_>) -> Option<TenantHeader> {
    let (name, span) = cx.one_word(at, "a tenant name")?;
    cx.check_label(at, &name, span, "tenant");
    if at.s.block.is_none() {
        cx.error(at, at.s.span, "bad-argument", format!("tenant `{name}` needs a block")).notes.push(format!("help: `tenant {name} {{ isolation strict }}`"));
    }
    let mut namespaces: Vec<(String, Span)> = Vec::new();
    let mut listed = std::collections::HashSet::new();
    let mut isolation = None;
    let mut ns_stmt: Option<At<'_>> = None;
    let mut seen = Vec::new();
    for c in at.children() {
        match c.name() {
            "namespaces" if !c.s.name.quoted => {
                if !cx.once(&mut seen, c) {
                    continue;
                }
                ns_stmt = Some(c);
                cx.no_block(&c);
                for (n, span) in cx.words(&c, "namespace names") {
                    if !cx.check_label(&c, &n, span, "namespace") {
                        continue;
                    }
                    if !listed.insert(n.clone()) {
                        cx.error(&c, span, "duplicate", format!("namespace `{n}` is listed twice"));
                        continue;
                    }
                    namespaces.push((n, span));
                }
            }
            "isolation" if !c.s.name.quoted => {
                cx.no_block(&c);
                if !cx.once(&mut seen, c) {
                    continue;
                }
                if let Some((mode, span)) = cx.one_word(&c, "an isolation mode") {
                    isolation = Some(match mode.as_str() {
                        "strict" => Isolation::Strict,
                        "tenant" => Isolation::Tenant,
                        "ingress" => Isolation::Ingress,
                        "none" => {
                            cx.warning(&c, span, "risky", format!("tenant `{name}` has no network isolation: every pod in the cluster can reach it"));
                            Isolation::None
                        }
                        _ => {
                            cx.error(&c, span, "invalid-value", format!("unknown isolation mode `{mode}`")).notes.push(format!(
                                "help: modes are {}",
                                schema::ISOLATION_MODES.names().iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                            ));
                            Isolation::Strict
                        }
                    });
                }
            }
            _ => {}
        }
    }
    if ns_stmt.is_none() {
        namespaces.push((name.clone(), span));
    }
    let owner = ns_stmt.unwrap_or(*at);
    namespaces.retain(|(n, nspan)| {
        if SYSTEM_NAMESPACES.contains(&n.as_str()) {
            cx.error(&owner, *nspan, "conflict", format!("namespace `{n}` is a system namespace and cannot belong to a tenant"));
            return false;
        }
        true
    });
    let names: Vec<String> = namespaces.iter().map(|(n, _)| n.clone()).collect();
    let mut workloads = BTreeMap::new();
    let mut workload_spans: BTreeMap<String, Span> = BTreeMap::new();
    for c in at.children().filter(|c| c.name() == "workload" && !c.s.name.quoted) {
        if let Some(w) = check_workload(cx, &c, &names) {
            if let Some(first) = workload_spans.get(&w.name) {
                cx.duplicate(&c, c.s.span, &format!("workload `{}`", w.name), (c.file(), *first));
                continue;
            }
            workload_spans.insert(w.name.clone(), c.s.span);
            workloads.insert(w.name.clone(), w);
        }
    }
    // Two workloads with the same selector in different namespaces look alike to
    // other tenants' rules that name one of them.
    let list: Vec<&Workload> = workloads.values().collect();
    for (i, a) in list.iter().enumerate() {
        if let Some(b) = list[i + 1..].iter().find(|b| b.selector == a.selector && b.namespace != a.namespace) {
            cx.warning(at, name_span_of(at), "conflict", format!("workloads `{}` and `{}` select pods by the same labels", a.name, b.name))
                .notes
                .push("note: peers select workloads by labels in all of the tenant's namespaces, so a rule naming one also admits the other; give each its own selector".into());
        }
    }
    let facts = TenantFacts {
        name,
        namespaces: names,
        workloads: workloads
            .iter()
            .map(|(n, w): (&String, &Workload)| {
                (n.clone(), WorkloadFacts { namespace: w.namespace.clone(), selector: w.selector.clone(), automount_token: w.automount_token })
            })
            .collect(),
        isolation: isolation.unwrap_or(Isolation::Strict),
    };
    Some(TenantHeader { facts, name_span: span, namespace_spans: namespaces, workloads })
}

/// Checks `workload NAME { … }`.
fn check_workload(cx: &mut Ctx, at: &At<'_>, namespaces: &[String]) -> Option<Workload> {
    let (name, span) = cx.one_word(at, "a workload name")?;
    if !cx.check_label(at, &name, span, "workload") {
        return None;
    }
    if name == "default" {
        cx.error(at, span, "conflict", "`default` is reserved: khc hardens every namespace's default ServiceAccount (no token)")
            .notes
            .push("help: give the workload its own name; its ServiceAccount gets that name".into());
        return None;
    }
    let mut w = Workload {
        name: name.clone(),
        origin: at.origin(),
        namespace: namespaces.first().cloned().unwrap_or_default(),
        selector: BTreeMap::from([("app.kubernetes.io/name".to_string(), name.clone())]),
        automount_token: false,
        ports: Vec::new(),
    };
    let mut seen = Vec::new();
    for c in at.children() {
        let known = !c.s.name.quoted && schema::statement(BlockKind::Workload, c.name()).is_some_and(|s| s.once);
        if known && !cx.once(&mut seen, c) {
            continue;
        }
        match (c.name(), c.s.name.quoted) {
            ("namespace", false) => {
                cx.no_block(&c);
                if let Some((ns, span)) = cx.one_word(&c, "a namespace") {
                    if namespaces.contains(&ns) {
                        w.namespace = ns;
                    } else {
                        let d = cx.error(&c, span, "unknown-name", format!("`{ns}` is not a namespace of this tenant"));
                        d.notes.push(format!("note: the tenant's namespaces are: {}", namespaces.join(", ")));
                    }
                }
            }
            ("selector", false) => {
                cx.no_args(&c);
                let mut sel = BTreeMap::new();
                for l in c.children() {
                    cx.no_block(&l);
                    let key = l.s.name.text.clone();
                    if !values::is_label_key(&key) {
                        cx.error(&l, l.s.name.span, "invalid-name", format!("`{key}` is not a valid label key"));
                        continue;
                    }
                    let Some((value, vspan)) = cx.one_word(&l, "a label value") else { continue };
                    if !values::is_label_value(&value) {
                        cx.error(&l, vspan, "invalid-value", format!("`{value}` is not a valid label value"))
                            .notes
                            .push("note: label values are at most 63 letters, digits, `-`, `_`, `.`, starting and ending alphanumeric".into());
                        continue;
                    }
                    if sel.insert(key.clone(), value).is_some() {
                        cx.error(&l, l.s.name.span, "duplicate", format!("label `{key}` is set twice"));
                    }
                }
                if sel.is_empty() && !c.s.block_recovered() {
                    cx.error(&c, c.s.span, "bad-argument", "`selector` needs at least one label, e.g. `selector { app \"api\" }`");
                } else {
                    w.selector = sel;
                }
            }
            ("automount-token", false) => {
                cx.no_block(&c);
                if let Some(b) = cx.boolean(&c) {
                    w.automount_token = b;
                }
            }
            ("port", false) => {
                cx.no_block(&c);
                if let Some(p) = container_port(cx, &c) {
                    if w.ports.iter().any(|q| q.name == p.name) {
                        cx.error(&c, c.s.span, "duplicate", format!("port `{}` is declared twice", p.name));
                    } else {
                        w.ports.push(p);
                    }
                }
            }
            _ => cx.unknown_statement(&c, BlockKind::Workload),
        }
    }
    Some(w)
}

/// Checks `port NAME NUMBER [PROTOCOL]` in a workload.
fn container_port(cx: &mut Ctx, at: &At<'_>) -> Option<crate::model::ContainerPort> {
    let args = at.s.flat_args();
    let usage = "expected `port NAME NUMBER [TCP|UDP|SCTP]`, e.g. `port http 8080`";
    if !(2..=3).contains(&args.len()) {
        cx.error(at, at.s.span, "bad-argument", usage);
        return None;
    }
    let name = crate::context::word(args[0]).unwrap_or("");
    if !is_port_name(name) {
        cx.error(at, args[0].span, "invalid-name", format!("`{name}` is not a port name")).notes.push(
            "note: a port name (IANA_SVC_NAME) is at most 15 lowercase letters, digits and `-`, with at least one letter, no `-` at either end and no `--`"
                .into(),
        );
        return None;
    }
    let number = match &args[1].kind {
        khc_syntax::ast::ValueKind::Number { digits, unit } if unit.is_empty() => digits.parse::<u32>().ok().filter(|p| (1..=65535).contains(p)),
        _ => None,
    };
    let Some(number) = number else {
        cx.error(at, args[1].span, "invalid-value", "a container port is a number from 1 to 65535");
        return None;
    };
    let protocol = match args.get(2) {
        None => "TCP".to_string(),
        Some(v) => {
            let p = crate::context::word(v).unwrap_or("").to_ascii_uppercase();
            if !matches!(p.as_str(), "TCP" | "UDP" | "SCTP") {
                cx.error(at, v.span, "invalid-value", "protocols are `TCP`, `UDP` and `SCTP`");
                return None;
            }
            p
        }
    };
    Some(crate::model::ContainerPort { name: name.to_string(), port: number as u16, protocol })
}

/// Whether `s` is a valid container port name (Kubernetes' IANA_SVC_NAME: 1–15
/// lowercase letters, digits and `-`, at least one letter, no `-` at either end,
/// no `--`).
pub fn is_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.chars().any(|c| c.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// The span of `tenant NAME`.
fn name_span_of(at: &At<'_>) -> Span {
    at.s.args.first().map_or(at.s.name.span, |v| at.s.name.span.to(v.span))
}
