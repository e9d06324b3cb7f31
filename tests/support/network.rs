//! khc's own NetworkPolicy evaluator (a pod is isolated for a direction when a
//! policy of that type selects it; then traffic flows only if some rule allows it,
//! and a connection needs both the sender's egress and the receiver's ingress).
//! Shared by `tests/network_semantics.rs` and `tests/kube_server.rs`, which compares
//! it with an upstream evaluator.

use crate::{example_output, objects, of_kind};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// A pod: its namespace and labels.
#[derive(Clone, Debug)]
pub struct Pod {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's labels.
    pub labels: BTreeMap<String, String>,
}

/// Where traffic goes: a pod, or an address outside the cluster.
pub enum Dest<'a> {
    /// A pod of the cluster.
    Pod(&'a Pod),
    /// An address outside the cluster.
    Ip(Ipv4Addr),
}

/// NetworkPolicies and namespace labels.
pub struct Cluster {
    /// The NetworkPolicy objects.
    pub policies: Vec<Value>,
    /// Every namespace's labels (with `kubernetes.io/metadata.name`).
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
}

/// A JSON map of labels.
pub fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect()).unwrap_or_default()
}

fn selects(selector: &Value, l: &BTreeMap<String, String>) -> bool {
    if selector.is_null() {
        return true;
    }
    let ml = labels(&selector["matchLabels"]);
    if !ml.iter().all(|(k, v)| l.get(k) == Some(v)) {
        return false;
    }
    selector["matchExpressions"].as_array().is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let key = e["key"].as_str().unwrap();
            let values: Vec<&str> = e["values"].as_array().map(|a| a.iter().map(|v| v.as_str().unwrap()).collect()).unwrap_or_default();
            match e["operator"].as_str().unwrap() {
                "In" => l.get(key).is_some_and(|v| values.contains(&v.as_str())),
                "NotIn" => !l.get(key).is_some_and(|v| values.contains(&v.as_str())),
                "Exists" => l.contains_key(key),
                "DoesNotExist" => !l.contains_key(key),
                op => panic!("unknown operator {op}"),
            }
        })
    })
}

fn in_cidr(ip: Ipv4Addr, cidr: &str) -> bool {
    let (net, prefix) = cidr.split_once('/').unwrap();
    let net: Ipv4Addr = net.parse().unwrap();
    let prefix: u32 = prefix.parse().unwrap();
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    (u32::from(ip) & mask) == (u32::from(net) & mask)
}

impl Cluster {
    /// The example's NetworkPolicies and namespaces.
    pub fn example() -> Self {
        Self::of(&objects(&example_output()))
    }

    /// The NetworkPolicies and namespaces of `objs`, plus the unmanaged namespaces
    /// `kube-system`, `ingress-nginx` and `default`.
    pub fn of(objs: &[(String, Value)]) -> Self {
        let policies = of_kind(objs, "NetworkPolicy").into_iter().cloned().collect();
        let mut namespace_labels = BTreeMap::new();
        for ns in of_kind(objs, "Namespace") {
            let name = ns["metadata"]["name"].as_str().unwrap().to_string();
            let mut l = labels(&ns["metadata"]["labels"]);
            l.insert("kubernetes.io/metadata.name".into(), name.clone());
            namespace_labels.insert(name, l);
        }
        for extra in ["kube-system", "ingress-nginx", "default"] {
            namespace_labels.insert(extra.into(), BTreeMap::from([("kubernetes.io/metadata.name".to_string(), extra.to_string())]));
        }
        Cluster { policies, namespace_labels }
    }

    /// A pod in a known namespace.
    pub fn pod(&self, namespace: &str, l: &[(&str, &str)]) -> Pod {
        assert!(self.namespace_labels.contains_key(namespace), "unknown namespace {namespace}");
        Pod { namespace: namespace.into(), labels: l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    /// Policies of `kind` ("Ingress"/"Egress") that select `pod`.
    pub fn selecting<'a>(&'a self, pod: &'a Pod, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.policies.iter().filter(move |p| {
            p["metadata"]["namespace"] == pod.namespace.as_str()
                && selects(&p["spec"]["podSelector"], &pod.labels)
                && p["spec"]["policyTypes"].as_array().unwrap().iter().any(|t| t == kind)
        })
    }

    fn peer_matches(&self, peer: &Value, policy_ns: &str, other: &Dest<'_>) -> bool {
        match other {
            Dest::Ip(ip) => {
                let Some(block) = peer.get("ipBlock") else { return false };
                in_cidr(*ip, block["cidr"].as_str().unwrap())
                    && !block["except"].as_array().is_some_and(|ex| ex.iter().any(|e| in_cidr(*ip, e.as_str().unwrap())))
            }
            Dest::Pod(p) => {
                if peer.get("ipBlock").is_some() {
                    return false;
                }
                let ns_ok = match peer.get("namespaceSelector") {
                    Some(sel) => selects(sel, &self.namespace_labels[&p.namespace]),
                    None => p.namespace == policy_ns,
                };
                ns_ok && peer.get("podSelector").is_none_or(|sel| selects(sel, &p.labels))
            }
        }
    }

    fn rule_allows(&self, rule: &Value, peers_key: &str, policy_ns: &str, other: &Dest<'_>, port: u16, proto: &str) -> bool {
        let peers_ok = match rule.get(peers_key).and_then(Value::as_array) {
            None => true,
            Some(peers) => peers.iter().any(|peer| self.peer_matches(peer, policy_ns, other)),
        };
        let ports_ok = match rule.get("ports").and_then(Value::as_array) {
            None => true,
            Some(ports) => ports.iter().any(|p| {
                let lo = p["port"].as_u64().unwrap() as u16;
                let hi = p.get("endPort").and_then(Value::as_u64).map_or(lo, |e| e as u16);
                p["protocol"].as_str().unwrap_or("TCP") == proto && (lo..=hi).contains(&port)
            }),
        };
        peers_ok && ports_ok
    }

    /// Does the sender's egress allow traffic to `dst` on `port`/`proto`?
    pub fn egress_allowed(&self, src: &Pod, dst: &Dest<'_>, port: u16, proto: &str) -> bool {
        let egress: Vec<&Value> = self.selecting(src, "Egress").collect();
        egress.is_empty()
            || egress
                .iter()
                .any(|p| p["spec"]["egress"].as_array().is_some_and(|rules| rules.iter().any(|r| self.rule_allows(r, "to", &src.namespace, dst, port, proto))))
    }

    /// Does the receiver's ingress allow traffic from `src` on `port`/`proto`
    /// (always, for an address outside the cluster)?
    pub fn ingress_allowed(&self, src: &Pod, dst: &Dest<'_>, port: u16, proto: &str) -> bool {
        match dst {
            Dest::Ip(_) => true,
            Dest::Pod(d) => {
                let ingress: Vec<&Value> = self.selecting(d, "Ingress").collect();
                ingress.is_empty()
                    || ingress.iter().any(|p| {
                        p["spec"]["ingress"]
                            .as_array()
                            .is_some_and(|rules| rules.iter().any(|r| self.rule_allows(r, "from", &d.namespace, &Dest::Pod(src), port, proto)))
                    })
            }
        }
    }

    /// Is TCP/UDP/SCTP traffic from `src` to `dst` on `port` allowed (the sender's
    /// egress and, for a pod, the receiver's ingress)?
    pub fn allowed(&self, src: &Pod, dst: Dest<'_>, port: u16, proto: &str) -> bool {
        self.egress_allowed(src, &dst, port, proto) && self.ingress_allowed(src, &dst, port, proto)
    }
}
