//! `tenant NAME { … }` (SPEC.md sections 5, 6, 10, 11): the header (namespaces,
//! isolation, workloads) in [`header`], pod security, network rules, quotas and
//! limits in their own modules; RBAC and admission are shared with the cluster.

pub(crate) mod header;
pub(crate) mod network;
pub(crate) mod pod_security;
pub(crate) mod resources;

use crate::admission::check_admission;
use crate::context::{At, Ctx};
use crate::env::Env;
use crate::model::*;
use crate::rbac::{add_role, check_grants, GrantScope};
use crate::schema::{self, BlockKind};
use khc_syntax::Diagnostic;
use std::collections::BTreeMap;

/// Checks a whole tenant against the rest of the program (`env`): its header,
/// that its namespaces are its own, and every statement of its block.
pub(crate) fn check_tenant(cx: &mut Ctx, at: &At<'_>, env: &dyn Env) -> Option<Tenant> {
    let h = header::read_header(cx, at)?;
    let cluster = env.cluster();
    let minor = cluster.minor_version;
    check_namespace_owners(cx, at, &h, env);
    let mut t = Tenant {
        name: h.facts.name.clone(),
        origin: at.origin(),
        span: at.s.name.span.to(h.name_span),
        namespaces: h.facts.namespaces.clone(),
        pod_security: PodSecurity { enforce: Level::Restricted, audit: Level::Restricted, warn: Level::Restricted, version: format!("v1.{minor}") },
        isolation: h.facts.isolation,
        allows: Vec::new(),
        quota: None,
        limits: None,
        roles: Vec::new(),
        bindings: Vec::new(),
        workloads: h.workloads.values().cloned().collect(),
        api_server: cluster.api_server.clone(),
        managed_by: cluster.managed_by.clone(),
        admission: None,
        nodes: None,
        self_managed_network_policies: false,
    };
    t.workloads.sort_by(|a, b| a.name.cmp(&b.name));
    let profiles = env.profiles();
    let mut seen = Vec::new();
    let mut grants = Vec::new();
    let mut role_firsts = BTreeMap::new();
    for c in at.children() {
        if c.s.name.quoted || schema::statement(BlockKind::Tenant, c.name()).is_none() {
            cx.unknown_statement(&c, BlockKind::Tenant);
            continue;
        }
        // `namespaces` and `isolation` are checked once in the header.
        let once = schema::statement(BlockKind::Tenant, c.name()).is_some_and(|s| s.once) && !matches!(c.name(), "namespaces" | "isolation");
        if once && !cx.once(&mut seen, c) {
            continue;
        }
        match c.name() {
            "namespaces" | "isolation" | "workload" => {} // read with the header
            "pod-security" => t.pod_security = pod_security::pod_security(cx, &c, minor),
            "allow" => {
                if let Some(rule) = network::allow(cx, &c, &h, env) {
                    t.allows.push(rule);
                }
            }
            "quota" => t.quota = resources::quota(cx, &c),
            "limits" => t.limits = resources::limits(cx, &c),
            "role" => add_role(cx, c, "role", &mut t.roles, &mut role_firsts),
            "grant" => grants.push(c),
            "nodes" => t.nodes = nodes(cx, &c),
            "network-policies" => t.self_managed_network_policies = network::network_policies(cx, &c, h.facts.isolation, !cluster.managed_by.is_empty()),
            _ => t.admission = Some(Admission { minor_version: minor, ..check_admission(cx, &c, &profiles) }),
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
    // Per-cluster overrides (SPEC.md section 4).
    if let (Some(q), Some(milli)) = (&mut t.quota, cluster.quota_scale) {
        crate::overrides::scale_quota(q, milli);
    }
    if let Some(mode) = &cluster.admission_mode {
        // A tenant without an `admission` block still has a policy (the
        // automount-token rule): it follows the cluster's mode too.
        let a = t.admission.get_or_insert_with(|| Admission { origin: t.origin.clone(), actions: Vec::new(), rules: Vec::new(), minor_version: minor });
        a.actions.clone_from(mode);
    }
    // The policies khc adds itself are named first: `allow-egress-from-W-to-api-server`
    // for token-mounting workloads (emitted when the cluster declares `api-server`);
    // a declared rule never takes their names (workload `x-to-tenant-b` and a rule
    // from workload `x` to tenant `b-to-api-server` would otherwise share one).
    let api_policies: Vec<String> =
        t.workloads.iter().filter(|w| w.automount_token && !t.api_server.is_empty()).map(|w| network::api_server_policy_name(&w.name)).collect();
    network::name_rules(&mut t.allows, api_policies);
    let role_names: Vec<String> = t.roles.iter().map(|r| r.name.clone()).collect();
    let scope = GrantScope::Tenant { roles: &role_names, cluster_roles: &cluster.roles, workloads: &h.workloads, namespaces: &h.facts.namespaces };
    t.bindings = check_grants(cx, &grants, &scope);
    if let Some(q) = &t.quota {
        let has_default_request = |r: &str| t.limits.as_ref().is_some_and(|l| l.request.contains_key(r) || l.default.contains_key(r));
        for r in ["cpu", "memory"] {
            if q.hard.contains_key(&format!("requests.{r}")) && !has_default_request(r) {
                let msg = format!("the quota limits `requests.{r}` but `limits` sets no default {r} request: pods that omit it will be rejected");
                cx.warning(at, at.s.name.span, "conflict", msg).notes.push(format!("help: add `limits {{ request {r} … }}`"));
            }
        }
    }
    Some(t)
}

/// `nodes { selector KEY "VALUE"; toleration KEY ["VALUE"] }`.
fn nodes(cx: &mut Ctx, at: &At<'_>) -> Option<NodeIsolation> {
    cx.no_args(at);
    let mut n = NodeIsolation { origin: at.origin(), selector: BTreeMap::new(), tolerations: Vec::new() };
    for c in at.children() {
        if c.s.name.quoted || schema::statement(BlockKind::Nodes, c.name()).is_none() {
            cx.unknown_statement(&c, BlockKind::Nodes);
            continue;
        }
        cx.no_block(&c);
        let args = c.s.flat_args();
        let words: Vec<(String, khc_syntax::Span)> = args.iter().filter_map(|v| crate::context::word(v).map(|w| (w.to_string(), v.span))).collect();
        if words.len() != args.len() || words.is_empty() || words.len() > 2 || (c.name() == "selector" && words.len() != 2) {
            let shape = if c.name() == "selector" {
                "a label key and a value, e.g. `selector pool \"payments\"`"
            } else {
                "a taint key and optionally a value, e.g. `toleration dedicated \"payments\"`"
            };
            cx.error(&c, c.s.span, "bad-argument", format!("`{}` takes {shape}", c.name()));
            continue;
        }
        let (key, kspan) = &words[0];
        if !crate::values::is_label_key(key) {
            cx.error(&c, *kspan, "invalid-name", format!("`{key}` is not a valid label or taint key"));
            continue;
        }
        let value = words.get(1).map(|(v, _)| v.clone());
        if let Some((v, vspan)) = words.get(1) {
            if !crate::values::is_label_value(v) {
                cx.error(&c, *vspan, "invalid-value", format!("`{v}` is not a valid label or taint value"));
                continue;
            }
        }
        if c.name() == "selector" {
            if n.selector.insert(key.clone(), value.unwrap_or_default()).is_some() {
                cx.error(&c, *kspan, "duplicate", format!("node label `{key}` is selected twice"));
            }
        } else if n.tolerations.iter().any(|(k, v)| k == key && *v == value) {
            cx.error(&c, *kspan, "duplicate", format!("toleration `{key}` is stated twice"));
        } else {
            n.tolerations.push((key.clone(), value));
        }
    }
    if at.children().next().is_none() {
        cx.warning(at, at.s.span, "conflict", "an empty `nodes` block only forbids tolerations")
            .notes
            .push("help: add `selector KEY \"VALUE\"` to pin the tenant's pods to its nodes".into());
    }
    Some(n)
}

/// Reports namespaces another tenant lists too (the first tenant by name keeps
/// them; the others get the error).
fn check_namespace_owners(cx: &mut Ctx, at: &At<'_>, h: &header::TenantHeader, env: &dyn Env) {
    let me = &h.facts.name;
    for (ns, span) in &h.namespace_spans {
        let owners = env.namespace_owners(ns);
        let Some(first) = owners.iter().find(|o| *o != me) else { continue };
        if first > me {
            continue;
        }
        let mut d = Diagnostic::error("duplicate", at.file(), *span, format!("namespace `{ns}` is declared twice")).with_label("declared again here");
        if let Some((file, first_span)) = env.namespace_declaration(first, ns) {
            d = d.with_secondary(&file, first_span, format!("first declared by tenant `{first}`"));
        }
        cx.push(d);
    }
}

/// The position-free facts of a tenant (its header), without diagnostics.
pub(crate) fn tenant_facts(at: &At<'_>) -> Option<crate::env::TenantFacts> {
    header::read_header(&mut Ctx::default(), at).map(|h| h.facts)
}

/// Where a tenant lists namespace `ns`.
pub(crate) fn namespace_span(at: &At<'_>, ns: &str) -> Option<khc_syntax::Span> {
    let h = header::read_header(&mut Ctx::default(), at)?;
    h.namespace_spans.iter().find(|(n, _)| n == ns).map(|(_, s)| *s)
}
