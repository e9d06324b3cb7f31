//! `tenant NAME { … }` (SPEC.md sections 5, 6, 10, 11): the header (namespaces,
//! isolation, workloads) in [`header`], pod security, network rules, quotas and
//! limits in their own modules; RBAC and admission are shared with the cluster.

pub(crate) mod exception;
pub(crate) mod header;
pub(crate) mod network;
pub(crate) mod pod_security;
pub(crate) mod resources;

use crate::admission::check_admission;
use crate::context::{At, Ctx};
use crate::env::Env;
use crate::model::*;
use crate::rbac::{add_role, check_grants, GrantScope, RoleScope};
use crate::schema::{self, BlockKind, TenantStatement};
use khc_syntax::{Diagnostic, ValueKind};
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
        pod_security: PodSecurity {
            enforce: Level::Restricted,
            audit: Level::Restricted,
            warn: Level::Restricted,
            version: format!("v1.{minor}"),
            namespace_enforce: BTreeMap::new(),
            stand_ins: BTreeMap::new(),
        },
        isolation: h.facts.isolation,
        allows: Vec::new(),
        quota: None,
        limits: None,
        roles: Vec::new(),
        bindings: Vec::new(),
        workloads: h.workloads.values().cloned().collect(),
        api_server: cluster.api_server.clone(),
        cni: cluster.cni,
        tiers: cluster.cni.tiers(minor),
        dns_egress: Vec::new(),
        dns: cluster.dns.clone(),
        managed_by: cluster.managed_by.clone(),
        exempt_namespaces: cluster.exempt_namespaces.clone(),
        admission: None,
        nodes: None,
        api_share: None,
        self_managed_network_policies: false,
        exceptions: Vec::new(),
        deletable_namespaces: Vec::new(),
        images: None,
    };
    let mut images_at: Option<At<'_>> = None;
    let mut exceptions = Vec::new();
    t.workloads.sort_by(|a, b| a.name.cmp(&b.name));
    let profiles = env.profiles();
    let mut seen = Vec::new();
    let mut grants = Vec::new();
    let mut role_firsts = BTreeMap::new();
    let role_scope = RoleScope::tenant(&cluster.managed_by, &h.facts.namespaces, cluster.minor_version);
    for c in at.children() {
        let Some(stmt) = TenantStatement::of(c.name()).filter(|_| !c.s.name.quoted) else {
            cx.unknown_statement(&c, BlockKind::Tenant);
            continue;
        };
        // `namespaces` and `isolation` are checked once in the header.
        let once = schema::statement(BlockKind::Tenant, c.name()).is_some_and(|s| s.once) && !matches!(c.name(), "namespaces" | "isolation");
        if once && !cx.once(&mut seen, c) {
            continue;
        }
        match stmt {
            TenantStatement::Namespaces | TenantStatement::Isolation | TenantStatement::Workload => {} // read with the header
            TenantStatement::PodSecurity => t.pod_security = pod_security::pod_security(cx, &c, minor, &h.facts.namespaces),
            TenantStatement::Exception => exceptions.push(c),
            TenantStatement::DeletableNamespaces => t.deletable_namespaces = deletable_namespaces(cx, &c, &h.facts.namespaces),
            TenantStatement::Allow => match network::allow(cx, &c, &h, env) {
                Some(rule) if matches!(rule.peer, Peer::Dns(_)) => t.dns_egress.push(rule),
                Some(rule) => t.allows.push(rule),
                None => {}
            },
            TenantStatement::Quota => t.quota = resources::quota(cx, &c),
            TenantStatement::Limits => t.limits = resources::limits(cx, &c),
            TenantStatement::Role => add_role(cx, c, "role", &mut t.roles, &mut role_firsts, &role_scope),
            TenantStatement::Grant => grants.push(c),
            TenantStatement::Nodes => t.nodes = nodes(cx, &c),
            TenantStatement::Images => images_at = Some(c),
            TenantStatement::Admission => {
                let a = Admission { minor_version: minor, ..check_admission(cx, &c, &profiles) };
                crate::admission::check_rule_scope(cx, &a, minor, None);
                t.admission = Some(a);
            }
            TenantStatement::ApiShare => t.api_share = api_share(cx, &c),
            TenantStatement::NetworkPolicies => {
                t.self_managed_network_policies = network::network_policies(cx, &c, h.facts.isolation, !cluster.managed_by.is_empty())
            }
        }
    }
    add_image_rules(cx, &mut t, images_at.as_ref(), env, minor);
    exception::check_exceptions(cx, &exceptions, &mut t, &h.workloads, minor);
    if t.isolation == Isolation::Ingress {
        if let Some(rule) = t.allows.iter().find(|r| r.direction == Direction::Egress) {
            cx.push(
                Diagnostic::error("conflict", &rule.origin.file, rule.span, "`allow egress` needs egress isolation: `isolation ingress` leaves egress open")
                    .with_label("this rule would isolate the egress of the pods it selects")
                    .with_help("remove the rule while the tenant's isolation is staged, or use `isolation strict`"),
            );
        }
    }
    if t.isolation == Isolation::Ingress {
        if let Some(rule) = t.dns_egress.first() {
            cx.push(
                Diagnostic::error("conflict", &rule.origin.file, rule.span, "`allow egress` needs egress isolation: `isolation ingress` leaves egress open")
                    .with_help("remove the rule while the tenant's isolation is staged, or use `isolation strict`"),
            );
        }
    }
    if t.isolation == Isolation::None {
        if let Some(rule) = t.allows.first().or(t.dns_egress.first()) {
            cx.push(
                Diagnostic::error("conflict", &rule.origin.file, rule.span, "`allow` needs network isolation")
                    .with_label("this rule would isolate the pods it selects")
                    .with_help("use `isolation strict` or `isolation tenant`, or remove the `allow` rules"),
            );
        }
    }
    // The cluster's `allow … to all-tenants` (SPEC.md section 6, "Every tenant"):
    // the ingress side in every isolated tenant, the egress side at the source.
    t.allows.extend(network::all_tenants_rules(&h, env));
    // Per-cluster overrides (SPEC.md section 4).
    // A tenant budget is scaled first, then split (SPEC.md section 10).
    let unscaled = t.quota.as_ref().map(|q| q.hard.clone());
    if let (Some(q), Some(milli)) = (&mut t.quota, cluster.quota_scale) {
        crate::overrides::scale_quota(q, milli);
    }
    if let (Some(q), Some(unscaled)) = (&mut t.quota, &unscaled) {
        resources::split_budget(cx, q, &t.namespaces, unscaled);
    }
    if let Some(mode) = &cluster.admission_mode {
        // A tenant without an `admission` block still has a policy (the
        // automount-token rule): it follows the cluster's mode too.
        let a = t.admission.get_or_insert_with(|| Admission {
            origin: t.origin.clone(),
            actions: Vec::new(),
            rules: Vec::new(),
            custom: Vec::new(),
            minor_version: minor,
        });
        a.actions.clone_from(mode);
    }
    // The policies khc adds itself are named first: `allow-egress-from-W-to-api-server`
    // for token-mounting workloads (emitted when the cluster declares `api-server`);
    // a declared rule never takes their names (workload `x-to-tenant-b` and a rule
    // from workload `x` to tenant `b-to-api-server` would otherwise share one).
    let api_policies: Vec<String> =
        t.workloads.iter().filter(|w| w.automount_token && !t.api_server.is_empty()).map(|w| network::api_server_policy_name(&w.name)).collect();
    network::name_rules(&mut t.allows, api_policies.clone());
    network::name_rules(&mut t.dns_egress, api_policies);
    let role_names: Vec<String> = t.roles.iter().map(|r| r.name.clone()).collect();
    let scope = GrantScope::Tenant {
        roles: &role_names,
        cluster_roles: &cluster.roles,
        workloads: &h.workloads,
        namespaces: &h.facts.namespaces,
        oidc: cluster.oidc.as_ref(),
        tenants: &crate::env::EnvTenants(env),
    };
    t.bindings = check_grants(cx, &grants, &scope);
    // Who may run pods in the tenant's namespaces: its own grants (RoleBindings in
    // each namespace) and the cluster's (ClusterRoleBindings).
    let mut makers = crate::rbac::pod_makers(&t.bindings, &crate::rbac::pod_maker_roles(&t.roles), &cluster.pod_maker_roles);
    makers.extend(cluster.pod_makers.iter().filter(|m| !makers.contains(m)).cloned().collect::<Vec<_>>());
    exception::check_pod_makers(cx, &exceptions, &t.exceptions, &makers);
    check_external_name(cx, at, &t, cluster.external_name_restricted);
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

/// The tenant's image policy (SPEC.md section 5, "Images"): its own `images`
/// block joined with the cluster's; its registries, digest pinning and image
/// volumes become rules of the tenant's `admission` (an `allowed-registries`
/// the tenant wrote there is the same requirement: joined, not repeated).
fn add_image_rules(cx: &mut Ctx, t: &mut Tenant, at: Option<&At<'_>>, env: &dyn Env, minor: u32) {
    let own = at.map(|a| crate::images::check_images(cx, a, &crate::env::EnvFiles(env), false));
    let cluster = env.cluster();
    let Some(mut images) = crate::images::join(cx, at, cluster.images.as_ref(), own) else { return };
    let written = t.admission.as_ref().and_then(|a| a.rules.iter().find(|r| r.kind.id == khc_rules::RuleId::AllowedRegistries)).cloned();
    if let Some(w) = &written {
        if at.is_some_and(|a| a.children().any(|c| c.name() == "registries")) {
            cx.push(
                Diagnostic::error("conflict", &w.origin.file, w.span, "the registries are given twice: in `admission` and in `images { registries … }`")
                    .with_help("keep one: `images { registries … }` compiles to this rule"),
            );
        } else if !images.policy.registries.is_empty() {
            images.policy.registries = crate::images::intersect_registries(&images.policy.registries, w.kind.args.names());
            if images.policy.registries.is_empty() {
                cx.push(Diagnostic::error(
                    "conflict",
                    &w.origin.file,
                    w.span,
                    "no registry of this rule is within the cluster's `images { registries … }`: no image could run",
                ));
            }
        }
    }
    // The rules name the tenant's block, else the cluster's (whose span is not
    // in this file: the tenant's name stands for it in diagnostics).
    let (origin, span) = match at {
        Some(a) => (a.origin(), a.s.name.span),
        None => (images.origin.clone(), t.span),
    };
    let rules = crate::images::rules(&images.policy);
    if !rules.is_empty() {
        let a = t.admission.get_or_insert_with(|| Admission {
            origin: origin.clone(),
            actions: Vec::new(),
            rules: Vec::new(),
            custom: Vec::new(),
            minor_version: minor,
        });
        a.rules.retain(|r| r.kind.id != khc_rules::RuleId::AllowedRegistries || images.policy.registries.is_empty());
        for kind in rules {
            if let Some(r) = a.rules.iter_mut().find(|r| r.kind.id == kind.id && kind.id != khc_rules::RuleId::AllowedImageVolumes) {
                r.kind = kind;
            } else {
                a.rules.push(AdmissionRule { kind, origin: origin.clone(), span });
            }
        }
    }
    t.images = Some(images);
}

/// ExternalName as a confused deputy (SPEC.md section 9): a tenant that may
/// create Services of type `ExternalName` can name another tenant's Service
/// (`api.payments.svc.cluster.local`), and a shared proxy that the other tenant
/// admits (an ingress controller) then serves it on the attacker's host. Warns
/// when a binding of the tenant grants `create` on Services and neither the
/// tenant's nor the cluster's `allowed-service-types` leaves `ExternalName` out.
fn check_external_name(cx: &mut Ctx, at: &At<'_>, t: &Tenant, cluster_restricted: bool) {
    let restricted = t.admission.as_ref().is_some_and(|a| {
        a.rules.iter().any(|r| r.kind.id == khc_rules::RuleId::AllowedServiceTypes && !r.kind.args.names().iter().any(|x| x == "ExternalName"))
    });
    if restricted || cluster_restricted {
        return;
    }
    let creates_services = |rules: &[RoleRule]| {
        rules.iter().any(|r| {
            r.api_groups.iter().any(|g| g.is_empty() || g == "*")
                && r.resources.iter().any(|x| x == "services" || x == "*")
                && r.verbs.iter().any(|v| v == "create" || v == "*")
        })
    };
    let Some(b) = t.bindings.iter().find(|b| match &b.role {
        RoleRef::Role(n) => t.roles.iter().any(|r| &r.name == n && creates_services(&r.rules)),
        RoleRef::ClusterRole(n) => n == "edit" || n == "admin",
    }) else {
        return;
    };
    let name = match &b.role {
        RoleRef::Role(n) | RoleRef::ClusterRole(n) => n,
    };
    let d = cx.warning(
        at,
        t.span,
        "risky",
        format!(
            "`grant {name}` (at {}) lets this tenant create Services of type ExternalName: naming another tenant's Service, it can make a shared proxy that tenant admits (an ingress controller) serve that Service on its own host",
            b.origin
        ),
    );
    d.notes.push("help: add `allowed-service-types ClusterIP` (or any list without ExternalName) to the tenant's or the cluster's `admission`".into());
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

/// `deletable-namespaces NS…`: the tenant's namespaces emitted without the
/// GitOps delete guards (SPEC.md section 13).
fn deletable_namespaces(cx: &mut Ctx, at: &At<'_>, namespaces: &[String]) -> Vec<String> {
    cx.no_block(at);
    let mut out = Vec::new();
    for (ns, span) in cx.words(at, "one or more of the tenant's namespaces") {
        if namespaces.contains(&ns) {
            if !out.contains(&ns) {
                out.push(ns);
            }
            continue;
        }
        let mut d = Diagnostic::error("unknown-name", at.file(), span, format!("`{ns}` is not a namespace of this tenant"));
        match crate::values::suggest(&ns, namespaces.iter().map(String::as_str)) {
            Some(s) => d.suggest(s),
            None => d.notes.push(format!("note: the tenant's namespaces: {}", namespaces.join(", "))),
        }
        cx.push(d);
    }
    out
}

/// The most nominal concurrency shares `api-share` accepts: Kubernetes' own
/// `workload-low` level has 100, `global-default` 20.
pub const MAX_API_SHARE: u32 = 100;

/// `api-share N`: the tenant's API Priority and Fairness level (SPEC.md section 5).
fn api_share(cx: &mut Ctx, at: &At<'_>) -> Option<ApiShare> {
    cx.no_block(at);
    let args = at.s.flat_args();
    let [v] = args.as_slice() else {
        cx.error(at, at.s.span, "bad-argument", "`api-share` takes one number: the tenant's nominal concurrency shares, e.g. `api-share 10`");
        return None;
    };
    match &v.kind {
        ValueKind::Number { digits, unit } => match digits.parse::<u32>() {
            Ok(n) if unit.is_empty() && (1..=MAX_API_SHARE).contains(&n) => Some(ApiShare { origin: at.origin(), shares: n }),
            _ => {
                cx.error(at, v.span, "invalid-value", format!("`api-share` is a whole number from 1 to {MAX_API_SHARE}"))
                    .notes
                    .push("note: Kubernetes' own levels: workload-low 100, global-default 20, catch-all 5".into());
                None
            }
        },
        _ => {
            cx.error(at, v.span, "invalid-value", format!("expected a whole number of shares, found {}", v.describe()));
            None
        }
    }
}
