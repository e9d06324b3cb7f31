//! What the cluster's CNI (`cni`, SPEC section 6, "The CNI") enforces beyond
//! NetworkPolicies, built as JSON values (no k8s-openapi type exists for them):
//!
//! * `cni cilium`: CiliumNetworkPolicies (`cilium.io/v2`) — the `api-server`
//!   egress of token-mounting workloads as `toEntities: [kube-apiserver]`
//!   (Cilium does not match an `ipBlock` to the API server under its default
//!   `policyCIDRMatchMode`, cilium#20550), and `allow egress … to dns` as
//!   `toFQDNs` with the DNS proxy rule `toFQDNs` needs (egress to kube-dns with
//!   `rules.dns`).
//! * `cni calico|antrea`: sig-network ClusterNetworkPolicies
//!   (`policy.networking.k8s.io/v1alpha2`) — per isolated tenant an Admin-tier
//!   wall (the tenant's own namespaces and its declared flows `Pass` to the
//!   NetworkPolicies, the metadata endpoints and every other namespace `Deny`),
//!   `allow egress … to dns` as an Admin-tier `Accept` of `domainNames`; in the
//!   cluster unit a Baseline-tier default deny for namespaces no tenant owns.
//!
//! `generic` and `kube-router` get nothing here: their output is NetworkPolicies only.

use crate::objects::{meta, namespaces_by_name, Built, ValueBody, NAMESPACE_NAME_LABEL};
use khc_semantics::model::{Cluster, Cni, Direction, DnsTarget, Isolation, NetRule, Origin, Peer, Tenant, Workload};
use serde_json::{json, Value};

/// The API version of CiliumNetworkPolicy.
pub const CILIUM_API_VERSION: &str = "cilium.io/v2";
/// The API version of ClusterNetworkPolicy (sig-network network-policy-api v0.2.0).
pub const CLUSTER_NETWORK_POLICY_API_VERSION: &str = "policy.networking.k8s.io/v1alpha2";
/// The priority of a tenant's Admin-tier wall (tenants' subjects are disjoint).
pub const WALL_PRIORITY: i64 = 100;
/// The priority of a DNS-name `Accept` (before the walls: a lower number wins).
pub const DNS_PRIORITY: i64 = 50;
/// The priority of the Baseline-tier default deny.
pub const BASELINE_PRIORITY: i64 = 100;
/// The name of the Baseline-tier default deny in the cluster unit.
pub const BASELINE_NAME: &str = "khc-baseline-default-deny";

fn body(api_version: &str, kind: &'static str, name: &str, namespace: Option<&str>, tenant: Option<&str>, origin: &Origin, spec: Value) -> Built {
    let m = serde_json::to_value(meta(name, namespace, tenant, origin)).expect("metadata serializes");
    let v = json!({ "apiVersion": api_version, "kind": kind, "metadata": m, "spec": spec });
    Built { kind, name: name.to_string(), namespace: namespace.map(str::to_string), origin: origin.clone(), body: Box::new(ValueBody(v)) }
}

/// The objects a tenant gets from its cluster's CNI (empty for `generic` and `kube-router`).
pub fn tenant_objects(t: &Tenant) -> Vec<Built> {
    match t.cni {
        Cni::Cilium => cilium(t),
        Cni::Calico | Cni::Antrea if t.tiers => cluster_network_policies(t),
        Cni::Calico | Cni::Antrea => Vec::new(),
        Cni::Generic | Cni::KubeRouter => Vec::new(),
    }
}

/// The objects of the cluster unit the CNI adds: the Baseline tier for CNIs
/// that implement ClusterNetworkPolicy.
pub fn cluster_objects(c: &Cluster) -> Vec<Built> {
    if !c.cni.tiers(c.minor_version) {
        return Vec::new();
    }
    let mut outside = vec![json!({ "key": crate::objects::TENANT_LABEL, "operator": "DoesNotExist" })];
    if !c.exempt_namespaces.is_empty() {
        let mut ex = c.exempt_namespaces.clone();
        ex.sort();
        outside.push(json!({ "key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": ex }));
    }
    let spec = json!({
        "tier": "Baseline",
        "priority": BASELINE_PRIORITY,
        "subject": { "namespaces": { "matchExpressions": outside } },
        "ingress": [
            { "name": "default-deny", "action": "Deny", "from": [{ "namespaces": {} }] },
        ],
        "egress": [
            { "name": "dns", "action": "Accept", "to": dns_peers(&c.dns), "protocols": dns_protocols() },
            { "name": "default-deny", "action": "Deny", "to": [{ "namespaces": {} }, { "networks": ["0.0.0.0/0", "::/0"] }] },
        ],
    });
    vec![body(CLUSTER_NETWORK_POLICY_API_VERSION, "ClusterNetworkPolicy", BASELINE_NAME, None, None, &c.origin, spec)]
}

// ---------------------------------------------------------------------------
// Cilium.

/// Labels of a workload's pods as a Cilium endpoint selector.
fn endpoint_selector(sel: Option<&khc_semantics::model::Selector>) -> Value {
    match sel {
        Some(s) => json!({ "matchLabels": s }),
        None => json!({}),
    }
}

/// The name of the CiliumNetworkPolicy that lets `toFQDNs` work: Cilium learns
/// the addresses of a name only from DNS answers its proxy sees.
pub const CILIUM_DNS_PROXY: &str = "allow-dns-proxy";

fn cilium(t: &Tenant) -> Vec<Built> {
    let mut out = Vec::new();
    let tn = Some(t.name.as_str());
    let egress_isolated = matches!(t.isolation, Isolation::Strict | Isolation::Tenant);
    for ns in &t.namespaces {
        if egress_isolated {
            for w in t.workloads.iter().filter(|w| w.automount_token && &w.namespace == ns) {
                out.push(api_server_policy(t, w));
            }
        }
        let rules: Vec<&NetRule> = t.dns_egress.iter().filter(|r| r.local.as_ref().is_none_or(|(_, wns, _)| wns == ns)).collect();
        if rules.is_empty() {
            continue;
        }
        // Cilium's DNS proxy sees the names only on the way to the cluster's DNS
        // target (`dns …`): its pods by Cilium's `k8s:` labels, its addresses by CIDR.
        let to_ports = json!([{ "ports": [{ "port": "53", "protocol": "ANY" }], "rules": { "dns": [{ "matchPattern": "*" }] } }]);
        let mut egress = Vec::new();
        if let Some(dns_ns) = &t.dns.namespace {
            let mut labels = serde_json::Map::new();
            labels.insert("k8s:io.kubernetes.pod.namespace".into(), json!(dns_ns));
            for (k, v) in t.dns.selector.iter() {
                labels.insert(format!("k8s:{k}"), json!(v));
            }
            egress.push(json!({ "toEndpoints": [{ "matchLabels": labels }], "toPorts": to_ports }));
        }
        if !t.dns.cidrs.is_empty() {
            egress.push(json!({ "toCIDR": t.dns.cidrs, "toPorts": to_ports }));
        }
        let proxy = json!({ "endpointSelector": {}, "egress": egress });
        out.push(body(CILIUM_API_VERSION, "CiliumNetworkPolicy", CILIUM_DNS_PROXY, Some(ns), tn, &rules[0].origin, proxy));
        for r in rules {
            let Peer::Dns(names) = &r.peer else { continue };
            // `*.example.com` means one or more labels (as ClusterNetworkPolicy's
            // `domainNames`): Cilium's `**.` prefix; its `*.` is one label only.
            let fqdns: Vec<Value> = names
                .iter()
                .map(|n| match n.strip_prefix("*.") {
                    Some(rest) => json!({ "matchPattern": format!("**.{rest}") }),
                    None => json!({ "matchName": n }),
                })
                .collect();
            let mut rule = json!({ "toFQDNs": fqdns });
            if let Some(ports) = cilium_ports(r) {
                rule["toPorts"] = json!([{ "ports": ports }]);
            }
            let spec = json!({ "endpointSelector": endpoint_selector(r.local.as_ref().map(|(_, _, s)| s)), "egress": [rule] });
            out.push(body(CILIUM_API_VERSION, "CiliumNetworkPolicy", &r.name, Some(ns), tn, &r.origin, spec));
        }
    }
    out
}

/// `allow-egress-from-W-to-api-server` as Cilium honours it: the
/// `kube-apiserver` entity on TCP 443 and 6443.
fn api_server_policy(t: &Tenant, w: &Workload) -> Built {
    let spec = json!({
        "endpointSelector": endpoint_selector(Some(&w.selector)),
        "egress": [{
            "toEntities": ["kube-apiserver"],
            "toPorts": [{ "ports": [{ "port": "443", "protocol": "TCP" }, { "port": "6443", "protocol": "TCP" }] }],
        }],
    });
    let name = khc_semantics::api_server_policy_name(&w.name);
    body(CILIUM_API_VERSION, "CiliumNetworkPolicy", &name, Some(&w.namespace), Some(&t.name), &w.origin, spec)
}

/// A rule's ports as Cilium's `toPorts[].ports` (`None`: every port).
fn cilium_ports(r: &NetRule) -> Option<Vec<Value>> {
    if r.ports.is_empty() && r.named_ports.is_empty() {
        return r.protocol_only.then(|| r.protocols.iter().map(|p| json!({ "port": "0", "protocol": p })).collect());
    }
    let mut out = Vec::new();
    for proto in &r.protocols {
        for p in &r.ports {
            let mut v = json!({ "port": p.port.to_string(), "protocol": proto });
            if let Some(e) = p.end {
                v["endPort"] = json!(e);
            }
            out.push(v);
        }
        for n in &r.named_ports {
            out.push(json!({ "port": n, "protocol": proto }));
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// ClusterNetworkPolicy (Calico, Antrea).

/// The cluster's DNS target (`dns …`, default kube-dns in kube-system) as
/// ClusterNetworkPolicy egress peers: its pods, and its addresses as `networks`.
fn dns_peers(dns: &DnsTarget) -> Value {
    let mut peers = Vec::new();
    if let Some(ns) = &dns.namespace {
        peers.push(json!({ "pods": {
            "namespaceSelector": { "matchLabels": { NAMESPACE_NAME_LABEL: ns } },
            "podSelector": { "matchLabels": dns.selector },
        } }));
    }
    if !dns.cidrs.is_empty() {
        peers.push(json!({ "networks": dns.cidrs }));
    }
    Value::Array(peers)
}

fn dns_protocols() -> Value {
    json!([{ "udp": { "destinationPort": { "number": 53 } } }, { "tcp": { "destinationPort": { "number": 53 } } }])
}

fn by_name(namespaces: &[String]) -> Value {
    serde_json::to_value(namespaces_by_name(namespaces)).expect("selector serializes")
}

/// A rule's ports as ClusterNetworkPolicy `protocols` (`None`: every port).
/// `protocol UDP` without ports is the whole range (a protocol entry needs a port).
fn cnp_protocols(r: &NetRule, named: bool) -> Option<Vec<Value>> {
    let every = r.ports.is_empty() && r.named_ports.is_empty();
    if every && !r.protocol_only {
        return None;
    }
    let mut out = Vec::new();
    for proto in &r.protocols {
        let key = proto.to_ascii_lowercase();
        if every {
            out.push(json!({ key.clone(): { "destinationPort": { "range": { "start": 1, "end": 65535 } } } }));
        }
        for p in &r.ports {
            let port = match p.end {
                Some(e) => json!({ "range": { "start": p.port, "end": e } }),
                None => json!({ "number": p.port }),
            };
            out.push(json!({ key.clone(): { "destinationPort": port } }));
        }
    }
    if named {
        for n in &r.named_ports {
            out.push(json!({ "destinationNamedPort": n }));
        }
    }
    Some(out)
}

fn peer_of(p: &Peer, ingress: bool) -> Option<Vec<Value>> {
    match p {
        Peer::Tenant { namespaces, workload: None, .. } => Some(vec![json!({ "namespaces": by_name(namespaces) })]),
        Peer::Tenant { namespaces, workload: Some((_, sel)), .. } => {
            Some(vec![json!({ "pods": { "namespaceSelector": by_name(namespaces), "podSelector": { "matchLabels": sel } } })])
        }
        Peer::Namespace(n) => Some(vec![json!({ "namespaces": by_name(std::slice::from_ref(n)) })]),
        // The cluster's `allow … all-tenants`: every tenant's namespaces.
        Peer::AllTenants { namespaces } => Some(vec![json!({ "namespaces": by_name(namespaces) })]),
        // Ingress peers have no networks; egress networks are left to the
        // NetworkPolicies (the wall denies namespaces only).
        Peer::Cidr(_) | Peer::Dns(_) => {
            let _ = ingress;
            None
        }
    }
}

/// The metadata endpoints the wall denies, less those a rule of the tenant names
/// on their own (`cidr 169.254.169.254/32`: SPEC section 6).
fn metadata_denied(t: &Tenant) -> Vec<String> {
    khc_semantics::METADATA_ENDPOINTS
        .iter()
        .filter(|m| {
            !t.allows
                .iter()
                .any(|r| r.direction == Direction::Egress && matches!(&r.peer, Peer::Cidr(b) if b.iter().any(|b| b.cidr == **m && b.except.is_empty())))
        })
        .map(|m| m.to_string())
        .collect()
}

fn cluster_network_policies(t: &Tenant) -> Vec<Built> {
    let mut out = Vec::new();
    if t.isolation == Isolation::None {
        return out;
    }
    let own = vec![json!({ "namespaces": by_name(&t.namespaces) })];
    let subject = json!({ "namespaces": by_name(&t.namespaces) });
    let mut ingress = vec![json!({ "name": "same-tenant", "action": "Pass", "from": own })];
    let mut egress = vec![
        json!({ "name": "same-tenant", "action": "Pass", "to": own }),
        json!({ "name": "dns", "action": "Pass", "to": dns_peers(&t.dns), "protocols": dns_protocols() }),
    ];
    let metadata = metadata_denied(t);
    if !metadata.is_empty() {
        egress.push(json!({ "name": "metadata", "action": "Deny", "to": [{ "networks": metadata }] }));
    }
    for r in &t.allows {
        let Some(peers) = peer_of(&r.peer, r.direction == Direction::Ingress) else { continue };
        let mut rule = json!({ "name": r.name, "action": "Pass" });
        if let Some(p) = cnp_protocols(r, true) {
            rule["protocols"] = json!(p);
        }
        match r.direction {
            Direction::Ingress => {
                rule["from"] = json!(peers);
                ingress.push(rule);
            }
            Direction::Egress => {
                rule["to"] = json!(peers);
                egress.push(rule);
            }
        }
    }
    ingress.push(json!({ "name": "tenant-wall", "action": "Deny", "from": [{ "namespaces": {} }] }));
    egress.push(json!({ "name": "tenant-wall", "action": "Deny", "to": [{ "namespaces": {} }] }));
    let mut spec = json!({ "tier": "Admin", "priority": WALL_PRIORITY, "subject": subject, "ingress": ingress });
    // A staged (`ingress`) tenant's egress is open: no egress wall.
    if t.isolation != Isolation::Ingress {
        spec["egress"] = json!(egress);
    }
    out.push(body(CLUSTER_NETWORK_POLICY_API_VERSION, "ClusterNetworkPolicy", &format!("khc-tenant-{}", t.name), None, Some(&t.name), &t.origin, spec));
    for r in &t.dns_egress {
        let Peer::Dns(names) = &r.peer else { continue };
        let subject = match &r.local {
            Some((_, ns, sel)) => json!({ "pods": { "namespaceSelector": by_name(std::slice::from_ref(ns)), "podSelector": { "matchLabels": sel } } }),
            None => json!({ "namespaces": by_name(&t.namespaces) }),
        };
        let mut rule = json!({ "name": "dns-names", "action": "Accept", "to": [{ "domainNames": names }] });
        if let Some(p) = cnp_protocols(r, false) {
            rule["protocols"] = json!(p);
        }
        let spec = json!({ "tier": "Admin", "priority": DNS_PRIORITY, "subject": subject, "egress": [rule] });
        out.push(body(CLUSTER_NETWORK_POLICY_API_VERSION, "ClusterNetworkPolicy", &format!("khc-{}-{}", t.name, r.name), None, Some(&t.name), &r.origin, spec));
    }
    out
}
