//! Whole-program views: endpoints named on the command line, the reachability
//! matrix of every workload pair, and a workload's blast radius.

use crate::network::{Decision, Endpoint, Ports};
use crate::rbac::{Request, Subject};
use crate::Workspace;
use khc_semantics::model::{Tenant, Workload};
use serde::Serialize;

/// A named endpoint: what it is and how it is shown.
#[derive(Clone, Debug)]
pub struct Named {
    /// Shown as.
    pub name: String,
    /// The endpoint.
    pub endpoint: Endpoint,
    /// `FILE:LINE` of its declaration (workloads and tenants).
    pub source: Option<String>,
}

impl Workspace {
    /// Resolves `TENANT/WORKLOAD`, `TENANT` (a pod of the tenant's first
    /// namespace matching no workload), `NAMESPACE` (a pod without labels), an IP
    /// address or a CIDR.
    pub fn endpoint(&self, spec: &str) -> Result<Named, String> {
        if spec == DNS_ENDPOINT {
            return self
                .dns_endpoints()
                .into_iter()
                .next()
                .map(|(name, endpoint, source)| Named { name, endpoint, source })
                .ok_or_else(|| "the project declares no cluster".into());
        }
        if let Some(e) = Endpoint::parse_net(spec) {
            return Ok(Named { name: spec.into(), endpoint: e, source: None });
        }
        if spec.contains('/') {
            let (t, w) = self.workload(spec).ok_or_else(|| {
                let known: Vec<String> = self.workloads().map(|(t, w)| format!("{}/{}", t.name, w.name)).take(20).collect();
                format!("no workload `{spec}`; workloads are: {}", known.join(", "))
            })?;
            return Ok(workload_endpoint(t, w));
        }
        if let Some(t) = self.tenants().find(|t| t.name == spec) {
            let ns = t.namespaces.first().cloned().unwrap_or_default();
            return Ok(Named {
                name: format!("{spec} (a pod in {ns} matching no workload)"),
                endpoint: Endpoint::bare_pod(&ns),
                source: Some(t.origin.to_string()),
            });
        }
        if spec.is_empty() || !spec.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(format!("`{spec}` is not a TENANT/WORKLOAD, tenant, namespace, IP address or CIDR"));
        }
        let source = self.tenant_of(spec).map(|t| t.origin.to_string());
        Ok(Named { name: format!("namespace {spec} (a pod without labels)"), endpoint: Endpoint::bare_pod(spec), source })
    }
}

/// `khc reach`'s name for the cluster's DNS target (`dns …`, SPEC section 6).
pub const DNS_ENDPOINT: &str = "@dns";

impl Workspace {
    /// The cluster's DNS target as endpoints (SPEC section 6, `dns`): a pod
    /// with the target's labels in its namespace, then each of its addresses,
    /// named for messages, with the `dns` statement's FILE:LINE when written.
    pub fn dns_endpoints(&self) -> Vec<(String, Endpoint, Option<String>)> {
        let mut out = Vec::new();
        for m in self.models.iter() {
            let dns = &m.cluster.dns;
            let source = dns.origin.as_ref().map(|o| o.to_string());
            if let Some(ns) = &dns.namespace {
                let labels: Vec<(&str, &str)> = dns.selector.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let what = if labels.is_empty() {
                    String::new()
                } else {
                    format!(" {}", labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
                };
                out.push((format!("DNS (pods{what} in {ns})"), Endpoint::pod(ns, &labels), source.clone()));
            }
            for c in &dns.cidrs {
                if let Some(e) = Endpoint::parse_net(c) {
                    out.push((format!("DNS ({c})"), e, source.clone()));
                }
            }
        }
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }
}

/// The endpoint of a workload's pods.
pub fn workload_endpoint(t: &Tenant, w: &Workload) -> Named {
    Named {
        name: format!("{}/{}", t.name, w.name),
        endpoint: Endpoint::Pod {
            namespace: w.namespace.clone(),
            labels: w.selector.clone(),
            ports: w.ports.iter().map(|p| (p.name.clone(), p.protocol.clone(), p.port)).collect(),
        },
        source: Some(w.origin.to_string()),
    }
}

/// The peers outside the tenants that the intent names: `namespace NS` (a pod
/// without labels) and `cidr CIDR [except …]` (an address outside the
/// exceptions), sorted, without duplicates.
pub fn external_endpoints(ws: &Workspace) -> Vec<(String, Endpoint)> {
    external_endpoints_of(ws.models.iter().flat_map(|m| m.tenants.iter()))
}

/// [`external_endpoints`] of these tenants (`khc diff` holds two versions'
/// tenants without a workspace for either).
pub fn external_endpoints_of<'a>(tenants: impl Iterator<Item = &'a Tenant> + Clone) -> Vec<(String, Endpoint)> {
    // The namespaces named by `allow … namespace NS` (as `Workspace::external_namespaces`).
    let mut namespaces: Vec<String> = Vec::new();
    for t in tenants.clone() {
        for a in &t.allows {
            if let khc_semantics::model::Peer::Namespace(n) = &a.peer {
                namespaces.push(n.clone());
            }
        }
    }
    namespaces.sort();
    namespaces.dedup();
    let mut out: Vec<(String, Endpoint)> = namespaces.into_iter().map(|n| (format!("namespace {n}"), Endpoint::bare_pod(&n))).collect();
    for t in tenants {
        for a in &t.allows {
            if let khc_semantics::model::Peer::Cidr(blocks) = &a.peer {
                for b in blocks {
                    if let Some(e) = crate::network::block_endpoint(&b.cidr, &b.except) {
                        let name = if b.except.is_empty() && b.cidr == "0.0.0.0/0" {
                            INTERNET.to_string()
                        } else if b.except.is_empty() {
                            format!("cidr {}", b.cidr)
                        } else {
                            format!("cidr {} except {}", b.cidr, b.except.join(" "))
                        };
                        out.push((name, e));
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// One allowed pair of the matrix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reach {
    /// Sender (`TENANT/WORKLOAD`).
    pub from: String,
    /// Receiver.
    pub to: String,
    /// Allowed ports.
    pub ports: Ports,
}

/// Every workload pair that can connect on some port (self-pairs excluded).
pub fn matrix(ws: &Workspace) -> Vec<Reach> {
    let named: Vec<Named> = ws.workloads().map(|(t, w)| workload_endpoint(t, w)).collect();
    let endpoints: Vec<Endpoint> = named.iter().map(|n| n.endpoint.clone()).collect();
    ws.network.matrix(&endpoints).into_iter().map(|(a, b, ports)| Reach { from: named[a].name.clone(), to: named[b].name.clone(), ports }).collect()
}

/// What a compromised pod of a workload can do.
#[derive(Clone, Debug, Serialize)]
pub struct BlastRadius {
    /// `TENANT/WORKLOAD`.
    pub workload: String,
    /// Its declaration.
    pub source: String,
    /// Whether its API token is mounted.
    pub token_mounted: bool,
    /// Workloads and external endpoints it can open connections to.
    pub reaches: Vec<Reached>,
    /// Who can reach it.
    pub reached_by: Vec<Reached>,
    /// RBAC permissions of its ServiceAccount (empty without a token).
    pub permissions: Vec<Permission>,
    /// Secrets its token can read (`NS/NAME` or `NS/*`).
    pub secrets: Vec<Permission>,
    /// Admission rules that bind its pods.
    pub admission_rules: Vec<AdmissionRuleRef>,
    /// How its token becomes the `managed-by` applier (which khc's protection
    /// exempts), if it can: `how (binding → role)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub becomes_applier: Vec<String>,
    /// What its token can become or take in more steps (empty without a token;
    /// filled by [`crate::escalation::reachable`] where asked, as `khc blast-radius` does).
    pub escalations: crate::escalation::Closure,
}

/// A reachable endpoint with the deciding policies.
#[derive(Clone, Debug, Serialize)]
pub struct Reached {
    /// The other side.
    pub endpoint: String,
    /// Ports.
    pub ports: Ports,
    /// The policies that allow it (`NetworkPolicy NS/NAME (FILE:LINE)`).
    pub because: Vec<String>,
}

/// One permission of a ServiceAccount.
#[derive(Clone, Debug, Serialize)]
pub struct Permission {
    /// Where it applies (`namespace NS` or `cluster-wide`).
    pub scope: String,
    /// The rule.
    pub rule: String,
    /// Binding and role, with their sources.
    pub because: String,
}

/// An admission rule that applies to a workload's pods.
#[derive(Clone, Debug, Serialize)]
pub struct AdmissionRuleRef {
    /// The policy.
    pub policy: String,
    /// The khc rule.
    pub rule: String,
    /// Its `FILE:LINE`.
    pub source: String,
    /// Binding actions.
    pub actions: Vec<String>,
}

fn reasons(d: &Decision) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (r, _) in d.egress.allowing.iter().chain(d.ingress.allowing.iter()) {
        let s = r.to_string();
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The blast radius of `TENANT/WORKLOAD`.
pub fn blast_radius(ws: &Workspace, t: &Tenant, w: &Workload) -> BlastRadius {
    // The evaluators it reads of the whole fleet, converted in one pass (RBAC
    // only for a mounted token; the admission rules are the tenant's own).
    ws.prepare(crate::Evaluators { network: true, rbac: w.automount_token, admission: false });
    let me = workload_endpoint(t, w);
    let mut reaches = Vec::new();
    let mut reached_by = Vec::new();
    for (t2, w2) in ws.workloads() {
        let other = workload_endpoint(t2, w2);
        if other.name == me.name {
            continue;
        }
        let d = ws.network.decide(&me.endpoint, &other.endpoint);
        if !d.ports().is_empty() {
            reaches.push(Reached { endpoint: other.name.clone(), ports: d.ports(), because: reasons(&d) });
        }
        let d = ws.network.decide(&other.endpoint, &me.endpoint);
        if !d.ports().is_empty() {
            reached_by.push(Reached { endpoint: other.name.clone(), ports: d.ports(), because: reasons(&d) });
        }
    }
    // External peers named by the intent: namespaces and CIDRs.
    let mut externals = external_endpoints(ws);
    externals.extend(ws.dns_endpoints().into_iter().map(|(name, e, _)| (name, e)));
    for c in &t.api_server {
        if let Some(e) = Endpoint::parse_net(c) {
            externals.push((format!("api-server {c}"), e));
        }
    }
    externals.push((INTERNET.into(), Endpoint::Net { lo: 0, hi: u32::MAX }));
    externals.dedup_by(|a, b| a.0 == b.0);
    for (name, e) in externals {
        let d = ws.network.decide(&me.endpoint, &e);
        let ports = d.ports();
        if !ports.is_empty() && !reaches.iter().any(|r: &Reached| r.endpoint == name) {
            reaches.push(Reached { endpoint: name.clone(), ports, because: reasons(&d) });
        }
        // Inbound from outside the tenants: CIDRs (the internet included) and namespaces.
        let d = ws.network.decide(&e, &me.endpoint);
        let ports = d.ports();
        if !ports.is_empty() && !reached_by.iter().any(|r: &Reached| r.endpoint == name) {
            reached_by.push(Reached { endpoint: name, ports, because: reasons(&d) });
        }
    }
    reaches.extend(cni_reaches(t, w));
    let sa = Subject::sa(&w.namespace, &w.name);
    let mut permissions = Vec::new();
    let mut secrets = Vec::new();
    if w.automount_token {
        for (ns, b, role) in ws.rbac.permissions_of(&sa) {
            let scope = ns.as_ref().map_or("cluster-wide".to_string(), |n| format!("namespace {n}"));
            for r in &role.rules {
                let p = Permission {
                    scope: scope.clone(),
                    rule: r.describe(),
                    because: format!("{} {} ({}) → {} {} ({})", b.kind, b.name, b.source, role.kind, role.name, role.source),
                };
                let reads_secrets = ["get", "list", "watch"].iter().any(|v| {
                    let req = Request::new(v, "secrets", ns.as_deref().or(Some(&w.namespace)), r.resource_names.first().map(String::as_str));
                    r.allows(&req)
                });
                if reads_secrets {
                    secrets.push(p.clone());
                }
                permissions.push(p);
            }
        }
    }
    let mut admission_rules = Vec::new();
    // The tenant's own evaluators judge a pod in its namespace as the fleet's do
    // (one tenant's policies converted, not the fleet's), unless the
    // workspace's objects were given.
    let view = ws.tenant_view(&t.name, &mut crate::admission::Programs::default());
    let (network, admission) = match &view {
        Some(v) => (&v.network, &v.admission),
        None => (&*ws.network, &*ws.admission),
    };
    let ns_labels = network.labels_of(&w.namespace);
    for (p, b) in admission.applicable("", "pods", &ns_labels) {
        for c in &p.checks {
            admission_rules.push(AdmissionRuleRef { policy: p.name.clone(), rule: c.rule.clone(), source: c.rule_source.clone(), actions: b.actions.clone() });
        }
    }
    // One write khc manages stands for all of them: becoming the applier is the same.
    let mut becomes_applier = Vec::new();
    if w.automount_token {
        let probe = Request::new("delete", "networkpolicies.networking.k8s.io", Some(&w.namespace), None);
        for (who, e) in ws.rbac.applier_escalations(&probe) {
            if who.covers(&sa) {
                for g in &e.grants {
                    becomes_applier.push(format!("{} ({} → {})", e.how, g.binding, g.role));
                }
            }
        }
    }
    BlastRadius {
        becomes_applier,
        workload: me.name,
        source: w.origin.to_string(),
        token_mounted: w.automount_token,
        reaches,
        reached_by,
        permissions,
        secrets,
        admission_rules,
        escalations: Default::default(),
    }
}

/// What a workload reaches outside NetworkPolicies, through its tenant's CNI
/// objects (SPEC section 6, "The CNI"): DNS-name egress (`dns NAME…`) and, on
/// Cilium, the API server as its `kube-apiserver` entity.
pub fn cni_reaches(t: &Tenant, w: &Workload) -> Vec<Reached> {
    let mut reaches = Vec::new();
    // DNS-name egress: no NetworkPolicy carries it; the CNI's object does.
    for r in t.dns_egress.iter().filter(|r| r.local.as_ref().is_none_or(|(lw, _, _)| *lw == w.name)) {
        let khc_semantics::model::Peer::Dns(names) = &r.peer else { continue };
        let mut ports = if r.ports.is_empty() && r.named_ports.is_empty() && !r.protocol_only { Ports::all() } else { Ports(Vec::new()) };
        for p in &r.protocols {
            if r.ports.is_empty() && r.named_ports.is_empty() && r.protocol_only {
                ports.add(p, 1, u16::MAX);
            }
            for range in &r.ports {
                ports.add(p, range.port, range.end.unwrap_or(range.port));
            }
        }
        let object = match t.cni {
            khc_semantics::model::Cni::Cilium => format!("CiliumNetworkPolicy {}/{}", w.namespace, r.name),
            _ => format!("ClusterNetworkPolicy khc-{}-{}", t.name, r.name),
        };
        reaches.push(Reached { endpoint: format!("dns {}", names.join(" ")), ports, because: vec![format!("{object} ({})", r.origin)] });
    }
    // Cilium: the API server as its `kube-apiserver` entity (SPEC section 6, "The CNI").
    if t.cni == khc_semantics::model::Cni::Cilium
        && w.automount_token
        && matches!(t.isolation, khc_semantics::model::Isolation::Strict | khc_semantics::model::Isolation::Tenant)
    {
        let mut ports = Ports(Vec::new());
        ports.add("TCP", 443, 443);
        ports.add("TCP", 6443, 6443);
        let name = khc_semantics::api_server_policy_name(&w.name);
        reaches.push(Reached {
            endpoint: "api-server (Cilium entity kube-apiserver)".into(),
            ports,
            because: vec![format!("CiliumNetworkPolicy {}/{name} ({})", w.namespace, w.origin)],
        });
    }
    reaches
}

/// The name of the node standing for every address outside the cluster (the
/// whole IPv4 range): reachable only through `cidr 0.0.0.0/0` or a rule as wide.
pub const INTERNET: &str = "the internet (0.0.0.0/0)";
