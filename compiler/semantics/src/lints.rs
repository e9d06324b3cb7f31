//! Cross-tenant lints: checks that read more than one tenant, run after each
//! tenant is checked on its own (SPEC.md section 6).

use crate::context::{At, Ctx};
use crate::env::{LintEnv, TenantFacts};
use crate::model::*;
use crate::tenant::network::compatible;
use khc_syntax::Diagnostic;

/// Warns when a workload mounts its API token in an isolated tenant but the cluster
/// declares no `api-server`: default deny would block its calls to the API. With
/// `cni cilium` the CiliumNetworkPolicy's `toEntities: kube-apiserver` needs no
/// addresses. With `cni generic` and `api-server` egress in use, warns (`cni`)
/// that Cilium's default does not match an `ipBlock` to the API server.
pub(crate) fn check_api_access(cx: &mut Ctx, cluster_at: &At<'_>, cluster: &Cluster, tenants: &[std::sync::Arc<TenantFacts>]) {
    let needy: Vec<String> = tenants
        .iter()
        .filter(|t| !matches!(t.isolation, Isolation::None | Isolation::Ingress))
        .flat_map(|t| t.workloads.iter().filter(|(_, w)| w.automount_token).map(move |(name, _)| format!("{}/{name}", t.name)))
        .collect();
    let Some(first) = needy.first() else { return };
    let more = if needy.len() > 1 { format!(" (and {} more)", needy.len() - 1) } else { String::new() };
    if !cluster.api_server.is_empty() {
        if cluster.cni == Cni::Generic {
            let span = cluster_at.children().find(|c| c.name() == "api-server").map_or(cluster_at.s.name.span, |c| c.s.span);
            let d = cx.warning(
                cluster_at,
                span,
                "cni",
                format!("the `api-server` egress of {first}{more} is an ipBlock to these addresses, which Cilium does not match under its default `policyCIDRMatchMode` (cilium#20550)"),
            );
            d.notes.push("note: other CNIs (Calico, Antrea, kube-router) match it; which one runs here is not stated".into());
            d.notes.push("help: state the cluster's CNI: `cni cilium` adds a CiliumNetworkPolicy with `toEntities: kube-apiserver`; `cni calico`, `antrea` or `kube-router` keeps the ipBlock alone".into());
        }
        return;
    }
    if cluster.cni == Cni::Cilium {
        return;
    }
    cx.warning(cluster_at, cluster_at.s.name.span, "unreachable", format!("workload {first}{more} mounts its API token, but network isolation blocks its egress to the API server"))
        .notes
        .push("help: declare the API server endpoints in the cluster, e.g. `api-server 10.0.0.10/32`; khc then allows egress to them on ports 443 and 6443 for workloads that mount their token".into());
}

/// Warns when traffic between tenant `t` and another isolated tenant is allowed
/// on one side only. Reads only the tenants `t`'s rules name.
pub(crate) fn check_reachability(cx: &mut Ctx, t: &Tenant, env: &dyn LintEnv) {
    {
        for r in &t.allows {
            let Peer::Tenant { tenant: other_name, .. } = &r.peer else { continue };
            if *other_name == t.name {
                continue;
            }
            let Some(other) = env.lint_facts(other_name) else { continue };
            if other.isolation() == Isolation::None {
                continue;
            }
            // A staged (`ingress`) tenant's egress is open: it needs no egress rule.
            if other.isolation() == Isolation::Ingress && r.direction == Direction::Ingress {
                continue;
            }
            let wanted = match r.direction {
                Direction::Ingress => Direction::Egress,
                Direction::Egress => Direction::Ingress,
            };
            let from_us: Vec<&NetRule> = other
                .allows()
                .iter()
                .filter(|o| {
                    o.direction == wanted && (matches!(&o.peer, Peer::Tenant { tenant, .. } if *tenant == t.name) || matches!(&o.peer, Peer::AllTenants { .. }))
                })
                .collect();
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
                .with_secondary(&from_us[0].origin.file, from_us[0].span, format!("tenant `{other_name}`'s {other_side} rule"))
                .with_help(format!("add `{}` to tenant `{other_name}`", mirror(r, &t.name)));
                cx.push(d);
                continue;
            }
            if from_us.is_empty() {
                let verb = match r.direction {
                    Direction::Ingress => "send to",
                    Direction::Egress => "accept from",
                };
                let mut d = Diagnostic::warning(
                    "unreachable",
                    &r.origin.file,
                    r.span,
                    format!("tenant `{other_name}` does not {verb} tenant `{}`: this traffic will be dropped", t.name),
                )
                .with_label("allowed on this side only")
                .with_help(format!("add `{}` to tenant `{other_name}`", mirror(r, &t.name)));
                d = d.with_secondary(&other.origin().file, other.span(), format!("tenant `{other_name}` is isolated"));
                cx.push(d);
            }
        }
    }
}

/// The cluster's `allow … all-tenants` statements name a declared tenant and
/// one of its workloads (the tenants' checks skip a source that does not
/// resolve; the error is here, where every tenant is known).
pub(crate) fn check_all_tenants_sources(cx: &mut Ctx, allows: &[AllTenantsAllow], tenants: &[std::sync::Arc<TenantFacts>]) {
    for a in allows {
        let (name, span) = &a.tenant;
        let Some(t) = tenants.iter().find(|t| t.name == *name) else {
            let mut d = Diagnostic::error("unknown-name", &a.origin.file, *span, format!("unknown tenant `{name}`"));
            if let Some(s) = crate::values::suggest(name, tenants.iter().map(|t| t.name.as_str())) {
                d.suggest(s);
            }
            cx.push(d);
            continue;
        };
        if let Some((w, wspan)) = &a.workload {
            if !t.workloads.contains_key(w) {
                let mut d = Diagnostic::error("unknown-name", &a.origin.file, *wspan, format!("tenant `{name}` has no workload `{w}`"));
                match crate::values::suggest(w, t.workloads.keys().map(String::as_str)) {
                    Some(s) => d.suggest(s),
                    None => d.notes.push(format!("help: declare it with `workload {w} {{ … }}` in tenant `{name}`")),
                }
                cx.push(d);
            }
        }
    }
}

/// Checks the cluster's ServiceAccounts written `"NS/NAME"` (grants,
/// `managed-by`, exceptions' `workloads`) against the tenants (SPEC.md section 9): in a namespace of a tenant, `NAME` should be
/// one of the ServiceAccounts khc writes there (its workloads'); a namespace no
/// tenant declares but whose name is close to one is probably a typo. Each is a
/// warning (an `unknown-name` warning: the ServiceAccount may exist outside khc)
/// with "did you mean" and a fix replacing the string.
pub(crate) fn check_cluster_service_accounts(cx: &mut Ctx, cluster: &At<'_>, tenants: &[std::sync::Arc<TenantFacts>]) {
    let mut owners: std::collections::BTreeMap<&str, &TenantFacts> = std::collections::BTreeMap::new();
    for t in tenants {
        for ns in &t.namespaces {
            owners.entry(ns.as_str()).or_insert(t);
        }
    }
    // `grant … to serviceaccount "NS/NAME"`, `managed-by serviceaccount "NS/NAME"`
    // and a cluster exception's `workloads "NS/NAME"`.
    let mut named: Vec<(At<'_>, &khc_syntax::Value)> = Vec::new();
    for g in cluster.children().filter(|c| !c.s.name.quoted) {
        match g.name() {
            "grant" | "managed-by" => {
                let args = g.s.flat_args();
                for pair in args.windows(2).filter(|p| crate::context::word(p[0]) == Some("serviceaccount")) {
                    named.push((g, pair[1]));
                }
            }
            "exception" => {
                for w in g.children().filter(|c| c.name() == "workloads" && !c.s.name.quoted) {
                    named.extend(w.s.flat_args().into_iter().map(|v| (w, v)));
                }
            }
            _ => {}
        }
    }
    for (g, value) in named {
        let Some(text) = value.as_text() else { continue };
        let Some((ns, name)) = text.split_once('/') else { continue };
        match owners.get(ns) {
            Some(t) => {
                let here: Vec<&str> = t.workloads.iter().filter(|(_, w)| w.namespace == ns).map(|(n, _)| n.as_str()).collect();
                if here.contains(&name) || name == "default" {
                    continue;
                }
                let mut d = Diagnostic::warning(
                    "unknown-name",
                    g.file(),
                    value.span,
                    format!(
                        "namespace `{ns}` belongs to tenant `{}`, which declares no workload `{name}` there: khc writes no ServiceAccount `{text}`",
                        t.name
                    ),
                )
                .with_label("no workload of this name");
                match crate::values::suggest(name, here.iter().copied()) {
                    Some(s) => d.suggest(&format!("\"{ns}/{s}\"")),
                    None if here.is_empty() => {
                        d = d.with_help(format!("declare `workload {name} {{ namespace {ns} }}` in tenant `{}`", t.name));
                    }
                    None => d = d.with_help(format!("its workloads there are {}", here.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", "))),
                }
                d = d.with_note(format!("write `tenant {} workload NAME` to name a workload's ServiceAccount by its declaration", t.name));
                cx.push(d);
            }
            None => {
                let Some(close) = crate::values::suggest(ns, owners.keys().copied()) else { continue };
                let mut d = Diagnostic::warning(
                    "unknown-name",
                    g.file(),
                    value.span,
                    format!("no tenant declares namespace `{ns}`, but tenant `{}` declares `{close}`", owners[close].name),
                )
                .with_label("not a namespace of any tenant");
                d.suggest(&format!("\"{close}/{name}\""));
                cx.push(d);
            }
        }
    }
}

/// The statement the other tenant needs for rule `r` of tenant `tenant` to
/// carry traffic: the same connection seen from the other side, with the
/// workloads swapped, the same ports and the same protocols
/// (`allow ingress from tenant a workload web to workload api ports 8080` in
/// `b` ↔ `allow egress from workload web to tenant b workload api ports 8080`
/// in `a`). `r`'s peer is a tenant.
pub fn mirror(r: &NetRule, tenant: &str) -> String {
    let peer_workload = match &r.peer {
        Peer::Tenant { workload: Some((w, _)), .. } => Some(w.as_str()),
        _ => None,
    };
    let local = r.local.as_ref().map(|(w, _, _)| w.as_str());
    let mut out = match r.direction {
        Direction::Ingress => {
            let from = peer_workload.map(|w| format!(" from workload {w}")).unwrap_or_default();
            let to = local.map(|w| format!(" workload {w}")).unwrap_or_default();
            format!("allow egress{from} to tenant {tenant}{to}")
        }
        Direction::Egress => {
            let from = local.map(|w| format!(" workload {w}")).unwrap_or_default();
            let to = peer_workload.map(|w| format!(" to workload {w}")).unwrap_or_default();
            format!("allow ingress from tenant {tenant}{from}{to}")
        }
    };
    let ports: Vec<String> = r
        .ports
        .iter()
        .map(|p| match p.end {
            Some(e) => format!("{}-{e}", p.port),
            None => p.port.to_string(),
        })
        .chain(r.named_ports.iter().cloned())
        .collect();
    if !ports.is_empty() {
        out.push_str(&format!(" ports {}", ports.join(" ")));
    }
    if r.protocol_only || r.protocols != ["TCP"] {
        out.push_str(&format!(" protocol {}", r.protocols.join(" ")));
    }
    out
}
