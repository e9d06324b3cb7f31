//! `tenant NAME { … }`: namespaces, pod security, isolation and `allow` rules,
//! quotas and limits, workloads, RBAC and admission (SPEC.md sections 5, 6, 10, 11).

use crate::admission::{check_admission, ProfileTable};
use crate::check::{word, At, Ctx};
use crate::model::*;
use crate::rbac::{add_role, check_grants, GrantScope};
use crate::values;
use khc_syntax::{Diagnostic, Span, Value, ValueKind};
use std::collections::BTreeMap;

pub(crate) const STATEMENTS: &[&str] = &["namespaces", "pod-security", "isolation", "allow", "quota", "limits", "role", "grant", "workload", "admission"];

/// Facts about a tenant that other tenants' rules refer to, gathered first.
pub(crate) struct TenantHeader<'a> {
    pub at: At<'a>,
    pub name: String,
    pub namespaces: Vec<String>,
    pub workloads: BTreeMap<String, Workload>,
    pub isolation: Isolation,
}

/// Gathers every tenant's name, namespaces, workloads and isolation mode.
pub(crate) fn headers<'a>(cx: &mut Ctx, tenants: &[At<'a>]) -> BTreeMap<String, TenantHeader<'a>> {
    let mut out: BTreeMap<String, TenantHeader<'a>> = BTreeMap::new();
    let mut ns_owner: BTreeMap<String, (At<'a>, Span)> = BTreeMap::new();
    for at in tenants {
        let Some((name, span)) = cx.one_word(at, "a tenant name") else { continue };
        cx.check_label(at, &name, span, "tenant");
        if let Some(first) = out.get(&name) {
            let first = (first.at.file(), first.at.s.span);
            cx.duplicate(at, span, &format!("tenant `{name}`"), first);
            continue;
        }
        if at.s.block.is_none() {
            cx.error(at, at.s.span, "bad-argument", format!("tenant `{name}` needs a block"))
                .notes
                .push(format!("help: `tenant {name} {{ isolation strict }}`"));
        }
        let mut namespaces: Vec<(String, Span)> = Vec::new();
        let mut isolation = None;
        let mut ns_stmt: Option<At<'a>> = None;
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
                        if namespaces.iter().any(|(x, _)| *x == n) {
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
                            "none" => {
                                cx.warning(&c, span, "risky", format!("tenant `{name}` has no network isolation: every pod in the cluster can reach it"));
                                Isolation::None
                            }
                            _ => {
                                cx.error(&c, span, "invalid-value", format!("unknown isolation mode `{mode}`"))
                                    .notes
                                    .push("help: modes are `strict`, `tenant` and `none`".into());
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
        let system = ["default", "kube-system", "kube-public", "kube-node-lease"];
        for (n, nspan) in &namespaces {
            let owner = ns_stmt.unwrap_or(*at);
            if system.contains(&n.as_str()) {
                cx.error(&owner, *nspan, "conflict", format!("namespace `{n}` is a system namespace and cannot belong to a tenant"));
                continue;
            }
            if let Some((first_at, first_span)) = ns_owner.get(n) {
                let first = (first_at.file(), *first_span);
                cx.duplicate(&owner, *nspan, &format!("namespace `{n}`"), first);
                continue;
            }
            ns_owner.insert(n.clone(), (owner, *nspan));
        }
        let namespaces: Vec<String> = namespaces.into_iter().map(|(n, _)| n).collect();
        let mut workloads = BTreeMap::new();
        let mut workload_spans: BTreeMap<String, Span> = BTreeMap::new();
        for c in at.children().filter(|c| c.name() == "workload" && !c.s.name.quoted) {
            if let Some(w) = check_workload(cx, &c, &namespaces) {
                if let Some(first) = workload_spans.get(&w.name) {
                    cx.duplicate(&c, c.s.span, &format!("workload `{}`", w.name), (c.file(), *first));
                    continue;
                }
                workload_spans.insert(w.name.clone(), c.s.span);
                workloads.insert(w.name.clone(), w);
            }
        }
        let header = TenantHeader { at: *at, name: name.clone(), namespaces, workloads, isolation: isolation.unwrap_or(Isolation::Strict) };
        out.insert(name, header);
    }
    out
}

/// Checks `workload NAME { … }`.
fn check_workload(cx: &mut Ctx, at: &At<'_>, namespaces: &[String]) -> Option<Workload> {
    let (name, span) = cx.one_word(at, "a workload name")?;
    if !cx.check_label(at, &name, span, "workload") {
        return None;
    }
    let mut w = Workload {
        name: name.clone(),
        origin: at.origin(),
        namespace: namespaces.first().cloned().unwrap_or_default(),
        selector: BTreeMap::from([("app.kubernetes.io/name".to_string(), name.clone())]),
        automount_token: false,
    };
    let mut seen = Vec::new();
    for c in at.children() {
        let known = !c.s.name.quoted && matches!(c.name(), "namespace" | "selector" | "automount-token");
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
            _ => cx.unknown_statement(&c, "a workload", &["namespace", "selector", "automount-token"]),
        }
    }
    Some(w)
}

/// Checks the rest of a tenant, given every tenant's header.
pub(crate) fn check_tenant(
    cx: &mut Ctx,
    h: &TenantHeader<'_>,
    all: &BTreeMap<String, TenantHeader<'_>>,
    cluster_roles: &[String],
    profiles: &ProfileTable,
    minor: u32,
    api_server: &[String],
) -> Tenant {
    let at = h.at;
    let mut t = Tenant {
        name: h.name.clone(),
        origin: at.origin(),
        namespaces: h.namespaces.clone(),
        pod_security: PodSecurity { enforce: Level::Restricted, audit: Level::Restricted, warn: Level::Restricted, version: format!("v1.{minor}") },
        isolation: h.isolation,
        allows: Vec::new(),
        quota: None,
        limits: None,
        roles: Vec::new(),
        bindings: Vec::new(),
        workloads: h.workloads.values().cloned().collect(),
        api_server: api_server.to_vec(),
        admission: None,
    };
    t.workloads.sort_by(|a, b| a.name.cmp(&b.name));
    let mut seen = Vec::new();
    let mut grants = Vec::new();
    let mut role_firsts = BTreeMap::new();
    for c in at.children() {
        if c.s.name.quoted || !STATEMENTS.contains(&c.name()) {
            cx.unknown_statement(&c, "a tenant", STATEMENTS);
            continue;
        }
        if matches!(c.name(), "pod-security" | "quota" | "limits" | "admission") && !cx.once(&mut seen, c) {
            continue;
        }
        match c.name() {
            "namespaces" | "isolation" | "workload" => {} // checked in `headers`
            "pod-security" => t.pod_security = pod_security(cx, &c, minor),
            "allow" => {
                if let Some(rule) = allow(cx, &c, h, all) {
                    t.allows.push(rule);
                }
            }
            "quota" => t.quota = quota(cx, &c),
            "limits" => t.limits = limits(cx, &c),
            "role" => add_role(cx, c, "role", &mut t.roles, &mut role_firsts),
            "grant" => grants.push(c),
            _ => t.admission = Some(check_admission(cx, &c, profiles)),
        }
    }
    if t.isolation == Isolation::None {
        if let Some(rule) = t.allows.first() {
            cx.push(
                Diagnostic::error("conflict", &rule.origin.file, rule.span, "`allow` needs network isolation")
                    .with_label("this rule would isolate the pods it selects")
                    .with_help("use `isolation strict` or `isolation tenant`, or remove the `allow` rules"),
            );
        }
    }
    name_rules(&mut t.allows);
    let role_names: Vec<String> = t.roles.iter().map(|r| r.name.clone()).collect();
    let scope = GrantScope::Tenant { roles: &role_names, cluster_roles, workloads: &h.workloads };
    t.bindings = check_grants(cx, &grants, &scope);
    if let Some(q) = &t.quota {
        let has_default_request = |r: &str| t.limits.as_ref().is_some_and(|l| l.request.contains_key(r) || l.default.contains_key(r));
        for r in ["cpu", "memory"] {
            if q.hard.contains_key(&format!("requests.{r}")) && !has_default_request(r) {
                let msg = format!("the quota limits `requests.{r}` but `limits` sets no default {r} request: pods that omit it will be rejected");
                cx.warning(&at, at.s.name.span, "conflict", msg).notes.push(format!("help: add `limits {{ request {r} … }}`"));
            }
        }
    }
    t
}

fn level(cx: &mut Ctx, at: &At<'_>, v: &str, span: Span) -> Option<Level> {
    match v {
        "privileged" => Some(Level::Privileged),
        "baseline" => Some(Level::Baseline),
        "restricted" => Some(Level::Restricted),
        _ => {
            let d = cx.error(at, span, "invalid-value", format!("unknown Pod Security level `{v}`"));
            d.notes.push("help: levels are `privileged`, `baseline` and `restricted`".into());
            None
        }
    }
}

/// `pod-security LEVEL [{ enforce … audit … warn … version … }]`.
fn pod_security(cx: &mut Ctx, at: &At<'_>, minor: u32) -> PodSecurity {
    let mut ps = PodSecurity { enforce: Level::Restricted, audit: Level::Restricted, warn: Level::Restricted, version: format!("v1.{minor}") };
    if !at.s.args.is_empty() || at.s.block.is_none() {
        if let Some((l, span)) = cx.one_word(at, "a level (`privileged`, `baseline` or `restricted`)") {
            if let Some(l) = level(cx, at, &l, span) {
                ps.enforce = l;
                ps.audit = l;
                ps.warn = l;
            }
        }
    }
    let mut enforce_span = at.s.span;
    for c in at.children() {
        cx.no_block(&c);
        match (c.name(), c.s.name.quoted) {
            (mode @ ("enforce" | "audit" | "warn"), false) => {
                let Some((l, span)) = cx.one_word(&c, "a level") else { continue };
                let Some(l) = level(cx, &c, &l, span) else { continue };
                match mode {
                    "enforce" => {
                        ps.enforce = l;
                        enforce_span = c.s.span;
                    }
                    "audit" => ps.audit = l,
                    _ => ps.warn = l,
                }
            }
            ("version", false) => {
                let args = c.s.flat_args();
                let text = match args.as_slice() {
                    [v] => match &v.kind {
                        ValueKind::Number { digits, unit } if unit.is_empty() => Some((digits.clone(), v.span)),
                        ValueKind::Name(s) | ValueKind::Str(s) => Some((s.clone(), v.span)),
                        _ => None,
                    },
                    _ => None,
                };
                match text {
                    Some((s, _)) if s == "latest" => ps.version = s,
                    Some((s, span)) => match values::parse_version(&s) {
                        Some(m) => ps.version = format!("v1.{m}"),
                        None => {
                            cx.error(&c, span, "invalid-value", format!("`{s}` is not a version")).notes.push("help: write `1.31` or `latest`".into());
                        }
                    },
                    None => {
                        cx.error(&c, c.s.span, "bad-argument", "`version` takes one version, e.g. `version 1.31` or `version latest`");
                    }
                }
            }
            _ => cx.unknown_statement(&c, "a pod-security block", &["enforce", "audit", "warn", "version"]),
        }
    }
    if ps.enforce == Level::Privileged {
        cx.warning(at, enforce_span, "risky", "enforcing `privileged` allows host access and privileged containers")
            .notes
            .push("help: enforce `baseline` at least, and audit/warn `restricted`".into());
    }
    for (mode, l) in [("audit", ps.audit), ("warn", ps.warn)] {
        if l < ps.enforce {
            let msg = format!("`{mode} {}` is weaker than `enforce {}` and will never fire", l.as_str(), ps.enforce.as_str());
            cx.warning(at, at.s.span, "conflict", msg);
        }
    }
    ps
}

/// Counted quota keys, mapped to ResourceQuota names; `true` for quantities.
pub(crate) const QUOTA_KEYS: &[(&str, &str, bool)] = &[
    ("cpu", "requests.cpu", true),
    ("memory", "requests.memory", true),
    ("limit-cpu", "limits.cpu", true),
    ("limit-memory", "limits.memory", true),
    ("ephemeral-storage", "requests.ephemeral-storage", true),
    ("storage", "requests.storage", true),
    ("pods", "pods", false),
    ("services", "services", false),
    ("secrets", "secrets", false),
    ("configmaps", "configmaps", false),
    ("pvcs", "persistentvolumeclaims", false),
    ("load-balancers", "services.loadbalancers", false),
    ("node-ports", "services.nodeports", false),
];

/// Reads a quantity value: a number with a Kubernetes suffix.
fn quantity(cx: &mut Ctx, at: &At<'_>, v: &Value) -> Option<(String, i128)> {
    let (digits, unit) = match &v.kind {
        ValueKind::Number { digits, unit } => (digits.clone(), unit.clone()),
        ValueKind::Str(s) => {
            let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
            (s[..split].to_string(), s[split..].to_string())
        }
        _ => (String::new(), String::new()),
    };
    match values::parse_quantity(&digits, &unit) {
        Some(n) => Some((format!("{digits}{unit}"), n)),
        None => {
            let text = v.as_text().unwrap_or_default();
            let d = cx.error(at, v.span, "invalid-value", format!("`{text}` is not a quantity"));
            d.notes.push("help: quantities look like `500m`, `2`, `256Mi`, `1Gi` (suffixes m, k, M, G, T, Ki, Mi, Gi, Ti)".into());
            if matches!(unit.as_str(), "GB" | "MB" | "Gb" | "Mb" | "gi" | "mi" | "KB") {
                d.notes.push("note: Kubernetes writes `Gi`/`Mi` (binary) or `G`/`M` (decimal)".into());
            }
            None
        }
    }
}

fn quota(cx: &mut Ctx, at: &At<'_>) -> Option<Quota> {
    cx.no_args(at);
    let mut hard = BTreeMap::new();
    let keys: Vec<&str> = QUOTA_KEYS.iter().map(|k| k.0).collect();
    for c in at.children() {
        cx.no_block(&c);
        let Some((_, k8s, is_quantity)) = QUOTA_KEYS.iter().find(|k| k.0 == c.name() && !c.s.name.quoted) else {
            cx.unknown_statement(&c, "a quota", &keys);
            continue;
        };
        let args = c.s.flat_args();
        let [v] = args.as_slice() else {
            let d = cx.error(&c, c.s.span, "bad-argument", format!("`{}` takes one value", c.name()));
            if args.get(1).is_some_and(|a| matches!(a.kind, ValueKind::Name(_))) {
                d.notes.push("help: to write several statements on one line, separate them with `;`".into());
            }
            continue;
        };
        let value = if *is_quantity {
            quantity(cx, &c, v).map(|(s, _)| s)
        } else {
            match &v.kind {
                ValueKind::Number { digits, unit } if unit.is_empty() && !digits.contains('.') => Some(digits.clone()),
                _ => {
                    cx.error(&c, v.span, "invalid-value", format!("`{}` is a count: write a whole number", c.name()));
                    None
                }
            }
        };
        if let Some(value) = value {
            if hard.insert(k8s.to_string(), value).is_some() {
                cx.error(&c, c.s.name.span, "duplicate", format!("`{}` is set twice", c.name()));
            }
        }
    }
    Some(Quota { origin: at.origin(), hard })
}

fn limits(cx: &mut Ctx, at: &At<'_>) -> Option<Limits> {
    cx.no_args(at);
    let mut l = Limits { origin: at.origin(), default: BTreeMap::new(), request: BTreeMap::new(), max: BTreeMap::new(), min: BTreeMap::new() };
    let mut numeric: BTreeMap<(&str, String), (i128, Span)> = BTreeMap::new();
    let mut kind_ats = Vec::new();
    for c in at.children() {
        cx.no_block(&c);
        let kind = match (c.name(), c.s.name.quoted) {
            ("default", false) => "default",
            ("request", false) => "request",
            ("max", false) => "max",
            ("min", false) => "min",
            _ => {
                cx.unknown_statement(&c, "a limits block", &["default", "request", "max", "min"]);
                continue;
            }
        };
        kind_ats.push(c);
        let args = c.s.flat_args();
        if args.is_empty() || args.len() % 2 != 0 {
            cx.error(&c, c.s.span, "bad-argument", format!("`{kind}` takes pairs: `{kind} cpu 500m memory 256Mi`"));
            continue;
        }
        for pair in args.chunks(2) {
            let res = word(pair[0]).unwrap_or("");
            if res != "cpu" && res != "memory" && res != "ephemeral-storage" {
                cx.error(&c, pair[0].span, "invalid-value", format!("`{res}` is not `cpu`, `memory` or `ephemeral-storage`"));
                continue;
            }
            let Some((text, n)) = quantity(cx, &c, pair[1]) else { continue };
            let map = match kind {
                "default" => &mut l.default,
                "request" => &mut l.request,
                "max" => &mut l.max,
                _ => &mut l.min,
            };
            if map.insert(res.to_string(), text).is_some() {
                cx.error(&c, pair[0].span, "duplicate", format!("`{kind} {res}` is set twice"));
            }
            numeric.insert((kind, res.to_string()), (n, pair[1].span));
        }
    }
    // min ≤ request ≤ default ≤ max, per resource.
    let order = ["min", "request", "default", "max"];
    for res in ["cpu", "memory", "ephemeral-storage"] {
        let present: Vec<(&str, i128, Span)> = order.iter().filter_map(|k| numeric.get(&(*k, res.to_string())).map(|(n, s)| (*k, *n, *s))).collect();
        for w in present.windows(2) {
            let ((ka, a, sa), (kb, b, sb)) = (w[0], w[1]);
            if a > b {
                let d = Diagnostic::error("conflict", at.file(), sb, format!("{kb} {res} is below the {ka} {res}"))
                    .with_label(format!("{kb} {res} is here"))
                    .with_secondary(at.file(), sa, format!("{ka} {res} is here"))
                    .with_note("limits must satisfy min ≤ request ≤ default ≤ max");
                cx.push(d);
            }
        }
    }
    Some(l)
}

// ---------------------------------------------------------------------------
// Network rules.

/// A cursor over the words of an `allow` statement.
struct Cursor<'v> {
    args: Vec<&'v Value>,
    pos: usize,
}

impl<'v> Cursor<'v> {
    fn peek_word(&self) -> Option<&'v str> {
        self.args.get(self.pos).and_then(|v| match &v.kind {
            ValueKind::Name(n) => Some(n.as_str()),
            _ => None,
        })
    }
    fn next(&mut self) -> Option<&'v Value> {
        let v = self.args.get(self.pos).copied();
        self.pos += 1;
        v
    }
    fn eat(&mut self, kw: &str) -> bool {
        if self.peek_word() == Some(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
}

const ALLOW_SHAPE: &str =
    "`allow ingress from PEER [to workload NAME] [ports …] [protocol …]` or `allow egress [from workload NAME] to PEER [ports …] [protocol …]`";

fn allow(cx: &mut Ctx, at: &At<'_>, h: &TenantHeader<'_>, all: &BTreeMap<String, TenantHeader<'_>>) -> Option<NetRule> {
    cx.no_block(at);
    let mut c = Cursor { args: at.s.flat_args(), pos: 0 };
    let fail = |cx: &mut Ctx, span: Span, msg: String| {
        cx.error(at, span, "bad-argument", msg).notes.push(format!("help: write {ALLOW_SHAPE}"));
        None
    };
    let direction = match c.peek_word() {
        Some("ingress") => Direction::Ingress,
        Some("egress") => Direction::Egress,
        _ => {
            let span = c.args.first().map_or(at.s.name.span, |v| v.span);
            return fail(cx, span, "`allow` starts with `ingress` or `egress`".into());
        }
    };
    c.pos += 1;
    let mut local = None;
    let peer;
    if direction == Direction::Ingress {
        if !c.eat("from") {
            let span = c.args.get(c.pos).map_or(at.s.span, |v| v.span);
            return fail(cx, span, "expected `from` after `allow ingress`".into());
        }
        peer = parse_peer(cx, at, &mut c, h, all)?;
        if c.eat("to") {
            local = Some(local_workload(cx, at, &mut c, h)?);
        }
    } else {
        if c.eat("from") {
            local = Some(local_workload(cx, at, &mut c, h)?);
        }
        if !c.eat("to") {
            let span = c.args.get(c.pos).map_or(at.s.span, |v| v.span);
            return fail(cx, span, "expected `to` in `allow egress`".into());
        }
        peer = parse_peer(cx, at, &mut c, h, all)?;
    }
    let mut ports = Vec::new();
    let mut protocol = None;
    while let Some(v) = c.next() {
        match word(v) {
            Some("ports") if ports.is_empty() => {
                while c.pos < c.args.len() && c.peek_word().is_none() {
                    let pv = c.next().expect("checked bound");
                    if let Some(p) = port(cx, at, pv) {
                        ports.push(p);
                    }
                }
                if ports.is_empty() {
                    cx.error(at, v.span, "bad-argument", "`ports` needs at least one port or range");
                }
            }
            Some("protocol") if protocol.is_none() => {
                let Some(pv) = c.next() else {
                    cx.error(at, v.span, "bad-argument", "`protocol` needs `TCP`, `UDP` or `SCTP`");
                    break;
                };
                let p = word(pv).unwrap_or("").to_ascii_uppercase();
                if !matches!(p.as_str(), "TCP" | "UDP" | "SCTP") {
                    cx.error(at, pv.span, "invalid-value", "protocols are `TCP`, `UDP` and `SCTP`");
                }
                protocol = Some(p);
            }
            _ => {
                let text = v.as_text().unwrap_or_else(|| "[…]".into());
                return fail(cx, v.span, format!("unexpected `{text}` in `allow`"));
            }
        }
    }
    if protocol.is_some() && ports.is_empty() {
        cx.warning(at, at.s.span, "conflict", "`protocol` without `ports` has no effect: every port and protocol is allowed");
    }
    Some(NetRule {
        origin: at.origin(),
        span: at.s.span,
        name: String::new(),
        direction,
        local,
        peer,
        ports,
        protocol: protocol.unwrap_or_else(|| "TCP".into()),
    })
}

fn local_workload(cx: &mut Ctx, at: &At<'_>, c: &mut Cursor<'_>, h: &TenantHeader<'_>) -> Option<(String, String, Selector)> {
    if !c.eat("workload") {
        let span = c.args.get(c.pos).map_or(at.s.span, |v| v.span);
        cx.error(at, span, "bad-argument", "expected `workload NAME`");
        return None;
    }
    let w = workload_ref(cx, at, c, h)?;
    Some((w.name.clone(), w.namespace.clone(), w.selector.clone()))
}

fn workload_ref<'h>(cx: &mut Ctx, at: &At<'_>, c: &mut Cursor<'_>, h: &'h TenantHeader<'_>) -> Option<&'h Workload> {
    let Some(v) = c.next() else {
        cx.error(at, at.s.span, "bad-argument", "expected a workload name");
        return None;
    };
    let name = word(v).unwrap_or("");
    match h.workloads.get(name) {
        Some(w) => Some(w),
        None => {
            let s = values::suggest(name, h.workloads.keys().map(String::as_str));
            let tenant = &h.name;
            let d = cx.error(at, v.span, "unknown-name", format!("tenant `{tenant}` has no workload `{name}`"));
            match s {
                Some(s) => d.notes.push(format!("help: did you mean `{s}`?")),
                None => d.notes.push(format!("help: declare it with `workload {name} {{ … }}` in tenant `{tenant}`")),
            }
            None
        }
    }
}

fn parse_peer(cx: &mut Ctx, at: &At<'_>, c: &mut Cursor<'_>, h: &TenantHeader<'_>, all: &BTreeMap<String, TenantHeader<'_>>) -> Option<Peer> {
    let Some(kind_v) = c.next() else {
        cx.error(at, at.s.span, "bad-argument", "expected a peer: `tenant NAME`, `workload NAME`, `namespace NAME` or `cidr ADDRESS`");
        return None;
    };
    match word(kind_v).unwrap_or("") {
        "tenant" => {
            let v = c.next()?;
            let name = word(v).unwrap_or("");
            let Some(other) = all.get(name) else {
                let s = values::suggest(name, all.keys().map(String::as_str));
                let d = cx.error(at, v.span, "unknown-name", format!("unknown tenant `{name}`"));
                if let Some(s) = s {
                    d.notes.push(format!("help: did you mean `{s}`?"));
                }
                return None;
            };
            let workload = if c.eat("workload") {
                let w = workload_ref(cx, at, c, other)?;
                Some((w.name.clone(), w.selector.clone()))
            } else {
                None
            };
            Some(Peer::Tenant { tenant: name.to_string(), workload })
        }
        "workload" => {
            let w = workload_ref(cx, at, c, h)?;
            Some(Peer::Tenant { tenant: h.name.clone(), workload: Some((w.name.clone(), w.selector.clone())) })
        }
        "namespace" => {
            let v = c.next()?;
            let name = word(v).unwrap_or("");
            if !cx.check_label(at, name, v.span, "namespace") {
                return None;
            }
            if let Some(owner) = all.values().find(|t| t.namespaces.iter().any(|n| n == name)) {
                let tenant = &owner.name;
                cx.error(at, v.span, "conflict", format!("namespace `{name}` belongs to tenant `{tenant}`"))
                    .notes
                    .push(format!("help: write `tenant {tenant}`"));
                return None;
            }
            Some(Peer::Namespace(name.to_string()))
        }
        "cidr" => {
            let mut blocks: Vec<(values::Cidr, IpBlock)> = Vec::new();
            let mut in_except = false;
            let mut invalid = false;
            while let Some(v) = c.args.get(c.pos).copied() {
                let text = match &v.kind {
                    ValueKind::Address(a) | ValueKind::Str(a) => a.clone(),
                    ValueKind::Name(n) if n == "except" && !in_except && !blocks.is_empty() => {
                        c.pos += 1;
                        in_except = true;
                        continue;
                    }
                    _ => break,
                };
                c.pos += 1;
                let cidr = match values::parse_cidr(&text) {
                    Ok(cidr) => cidr,
                    Err(why) => {
                        cx.error(at, v.span, "invalid-value", format!("`{text}` is not a valid CIDR: {why}"));
                        invalid = true;
                        continue;
                    }
                };
                let canonical = values::cidr_text(&cidr);
                if !in_except {
                    blocks.push((cidr, IpBlock { cidr: canonical, except: Vec::new() }));
                    continue;
                }
                match blocks.iter_mut().find(|(b, _)| b.contains(&cidr) && b.prefix < cidr.prefix) {
                    Some((_, block)) => block.except.push(canonical),
                    None => {
                        cx.error(at, v.span, "invalid-value", format!("`{text}` is not strictly inside any of the allowed blocks"))
                            .notes
                            .push("note: an `except` range must lie inside a `cidr` block and be smaller than it".into());
                    }
                }
            }
            if blocks.is_empty() {
                if invalid {
                    return None;
                }
                cx.error(at, kind_v.span, "bad-argument", "`cidr` needs at least one address block, e.g. `cidr 10.0.0.0/8`");
                return None;
            }
            Some(Peer::Cidr(blocks.into_iter().map(|(_, b)| b).collect()))
        }
        other => {
            cx.error(at, kind_v.span, "bad-argument", format!("unknown peer `{other}`"))
                .notes
                .push("help: peers are `tenant NAME [workload NAME]`, `workload NAME`, `namespace NAME` and `cidr ADDRESS… [except ADDRESS…]`".into());
            None
        }
    }
}

fn port(cx: &mut Ctx, at: &At<'_>, v: &Value) -> Option<PortRange> {
    let parse = |s: &str| s.parse::<u32>().ok().filter(|p| (1..=65535).contains(p)).map(|p| p as u16);
    let bad = |cx: &mut Ctx| {
        cx.error(at, v.span, "invalid-value", format!("`{}` is not a port (1–65535) or range (`8000-8100`)", v.as_text().unwrap_or_default()));
        None
    };
    match &v.kind {
        ValueKind::Number { digits, unit } if unit.is_empty() => match parse(digits) {
            Some(p) => Some(PortRange { port: p, end: None }),
            None => bad(cx),
        },
        ValueKind::Range { lo, hi } => match (parse(lo), parse(hi)) {
            (Some(a), Some(b)) if a < b => Some(PortRange { port: a, end: Some(b) }),
            (Some(_), Some(_)) => {
                cx.error(at, v.span, "invalid-value", "a port range goes from low to high, e.g. `8000-8100`");
                None
            }
            _ => bad(cx),
        },
        _ => bad(cx),
    }
}

/// Gives each rule a readable, unique NetworkPolicy name.
fn name_rules(rules: &mut [NetRule]) {
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    for r in rules.iter_mut() {
        let peer = match &r.peer {
            Peer::Tenant { tenant, workload: Some((w, _)) } => format!("tenant-{tenant}-{w}"),
            Peer::Tenant { tenant, workload: None } => format!("tenant-{tenant}"),
            Peer::Namespace(n) => format!("namespace-{n}"),
            Peer::Cidr(blocks) => format!("cidr-{}", blocks[0].cidr.replace(['.', '/', ':'], "-").trim_matches('-')),
        };
        let base = match (r.direction, &r.local) {
            (Direction::Ingress, Some((w, _, _))) => format!("allow-ingress-to-{w}-from-{peer}"),
            (Direction::Ingress, None) => format!("allow-ingress-from-{peer}"),
            (Direction::Egress, Some((w, _, _))) => format!("allow-egress-from-{w}-to-{peer}"),
            (Direction::Egress, None) => format!("allow-egress-to-{peer}"),
        };
        let base: String = base.chars().take(240).collect::<String>().trim_end_matches('-').replace("--", "-");
        let n = used.entry(base.clone()).or_insert(0);
        *n += 1;
        r.name = if *n == 1 { base } else { format!("{base}-{n}") };
    }
}

/// True when rule `r` of one tenant and rule `o` of the peer tenant (opposite
/// directions, naming each other) can allow the same connection: compatible
/// workloads on both sides and overlapping ports with the same protocol.
fn compatible(r: &NetRule, o: &NetRule) -> bool {
    let peer_workload = |rule: &NetRule| match &rule.peer {
        Peer::Tenant { workload: Some((w, _)), .. } => Some(w.clone()),
        _ => None,
    };
    let local_workload = |rule: &NetRule| rule.local.as_ref().map(|(w, _, _)| w.clone());
    let same = |a: Option<String>, b: Option<String>| a.is_none() || b.is_none() || a == b;
    let ports_overlap = r.ports.is_empty()
        || o.ports.is_empty()
        || (r.protocol == o.protocol && r.ports.iter().any(|a| o.ports.iter().any(|b| a.port <= b.end.unwrap_or(b.port) && b.port <= a.end.unwrap_or(a.port))));
    same(local_workload(r), peer_workload(o)) && same(peer_workload(r), local_workload(o)) && ports_overlap
}

/// Warns when a workload mounts its API token in an isolated tenant but the cluster
/// declares no `api-server`: default deny would block its calls to the API.
pub(crate) fn check_api_access(cx: &mut Ctx, cluster: &At<'_>, tenants: &[Tenant]) {
    let needy: Vec<String> = tenants
        .iter()
        .filter(|t| t.isolation != Isolation::None && t.api_server.is_empty())
        .flat_map(|t| t.workloads.iter().filter(|w| w.automount_token).map(move |w| format!("{}/{}", t.name, w.name)))
        .collect();
    if let Some(first) = needy.first() {
        let more = if needy.len() > 1 { format!(" (and {} more)", needy.len() - 1) } else { String::new() };
        cx.warning(cluster, cluster.s.name.span, "unreachable", format!("workload {first}{more} mounts its API token, but network isolation blocks its egress to the API server"))
            .notes
            .push("help: declare the API server endpoints in the cluster, e.g. `api-server 10.0.0.10/32`; khc then allows egress to them on ports 443 and 6443 for workloads that mount their token".into());
    }
}

/// Warns when traffic between two isolated tenants is allowed on one side only.
pub(crate) fn check_reachability(cx: &mut Ctx, tenants: &[Tenant], headers: &BTreeMap<String, TenantHeader<'_>>) {
    let find = |name: &str| tenants.iter().find(|t| t.name == name);
    for t in tenants {
        for r in &t.allows {
            let Peer::Tenant { tenant: other_name, .. } = &r.peer else { continue };
            if *other_name == t.name {
                continue;
            }
            let Some(other) = find(other_name) else { continue };
            if other.isolation == Isolation::None {
                continue;
            }
            let wanted = match r.direction {
                Direction::Ingress => Direction::Egress,
                Direction::Egress => Direction::Ingress,
            };
            let from_us: Vec<&NetRule> =
                other.allows.iter().filter(|o| o.direction == wanted && matches!(&o.peer, Peer::Tenant { tenant, .. } if *tenant == t.name)).collect();
            if !from_us.is_empty() && !from_us.iter().any(|o| compatible(r, o)) {
                let (verb, other_side) = match r.direction {
                    Direction::Ingress => ("send", "egress"),
                    Direction::Egress => ("accept", "ingress"),
                };
                let d = Diagnostic::warning(
                    "unreachable",
                    &r.origin.file,
                    r.span,
                    format!("tenant `{other_name}` does {verb} this traffic, but for other workloads, ports or protocols"),
                )
                .with_label("no matching rule on the other side")
                .with_secondary(&from_us[0].origin.file, from_us[0].span, format!("tenant `{other_name}`'s {other_side} rule"));
                cx.push(d);
                continue;
            }
            if from_us.is_empty() {
                let (verb, other_side) = match r.direction {
                    Direction::Ingress => ("send to", "allow egress to"),
                    Direction::Egress => ("accept from", "allow ingress from"),
                };
                let mut d = Diagnostic::warning(
                    "unreachable",
                    &r.origin.file,
                    r.span,
                    format!("tenant `{other_name}` does not {verb} tenant `{}`: this traffic will be dropped", t.name),
                )
                .with_label("allowed on this side only")
                .with_help(format!("add `{other_side} tenant {}` to tenant `{other_name}`", t.name));
                if let Some(h) = headers.get(other_name.as_str()) {
                    d = d.with_secondary(
                        h.at.file(),
                        h.at.s.name.span.to(h.at.s.args.first().map_or(h.at.s.name.span, |a| a.span)),
                        format!("tenant `{other_name}` is isolated"),
                    );
                }
                cx.push(d);
            }
        }
    }
}
