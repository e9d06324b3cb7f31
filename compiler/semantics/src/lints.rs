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
            let from_us: Vec<&NetRule> =
                other.allows().iter().filter(|o| o.direction == wanted && matches!(&o.peer, Peer::Tenant { tenant, .. } if *tenant == t.name)).collect();
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
                d = d.with_secondary(&other.origin().file, other.span(), format!("tenant `{other_name}` is isolated"));
                cx.push(d);
            }
        }
    }
}
