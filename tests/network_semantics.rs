//! Semantic test of the generated NetworkPolicies: a small evaluator of the
//! Kubernetes NetworkPolicy rules (a pod is isolated for a direction when a policy
//! of that type selects it; then traffic flows only if some rule allows it, and a
//! connection needs both the sender's egress and the receiver's ingress) answers
//! reachability questions about the multi-tenant example.

use khc_tests::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

#[derive(Clone)]
struct Pod {
    namespace: String,
    labels: BTreeMap<String, String>,
}

enum Dest<'a> {
    Pod(&'a Pod),
    Ip(Ipv4Addr),
}

struct Cluster {
    policies: Vec<Value>,
    namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
}

fn labels(v: &Value) -> BTreeMap<String, String> {
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
    fn new() -> Self {
        let out = example_output();
        let objs = objects(&out);
        let policies = of_kind(&objs, "NetworkPolicy").into_iter().cloned().collect();
        let mut namespace_labels = BTreeMap::new();
        for ns in of_kind(&objs, "Namespace") {
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

    fn pod(&self, namespace: &str, l: &[(&str, &str)]) -> Pod {
        assert!(self.namespace_labels.contains_key(namespace), "unknown namespace {namespace}");
        Pod { namespace: namespace.into(), labels: l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    /// Policies of `kind` ("Ingress"/"Egress") that select `pod`.
    fn selecting<'a>(&'a self, pod: &'a Pod, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
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

    fn allowed(&self, src: &Pod, dst: Dest<'_>, port: u16, proto: &str) -> bool {
        let egress: Vec<&Value> = self.selecting(src, "Egress").collect();
        let egress_ok = egress.is_empty()
            || egress.iter().any(|p| {
                p["spec"]["egress"].as_array().is_some_and(|rules| rules.iter().any(|r| self.rule_allows(r, "to", &src.namespace, &dst, port, proto)))
            });
        let ingress_ok = match dst {
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
        };
        egress_ok && ingress_ok
    }
}

#[test]
fn reachability_matches_the_declared_intent() {
    let c = Cluster::new();
    let api = c.pod("payments", &[("app", "payments-api")]);
    let db = c.pod("payments", &[("app", "ledger-db")]);
    let worker = c.pod("payments-jobs", &[("app", "payments-worker")]);
    let prometheus = c.pod("monitoring", &[("app.kubernetes.io/name", "prometheus")]);
    let grafana = c.pod("monitoring", &[("app.kubernetes.io/name", "grafana")]);
    let billing = c.pod("legacy-billing", &[("app", "billing")]);
    let batch = c.pod("legacy-billing", &[("app", "batch")]);
    let ingress = c.pod("ingress-nginx", &[("app", "controller")]);
    let dns = c.pod("kube-system", &[("k8s-app", "kube-dns")]);
    let stranger = c.pod("default", &[("app", "x")]);

    let cases: Vec<(&str, bool, bool)> = vec![
        ("prometheus scrapes the payments API metrics port", c.allowed(&prometheus, Dest::Pod(&api), 9090, "TCP"), true),
        ("prometheus cannot reach the API's serving port", c.allowed(&prometheus, Dest::Pod(&api), 8443, "TCP"), false),
        ("other monitoring pods cannot scrape payments", c.allowed(&grafana, Dest::Pod(&api), 9090, "TCP"), false),
        ("monitoring pods talk among themselves", c.allowed(&grafana, Dest::Pod(&prometheus), 9090, "TCP"), true),
        ("the ingress controller reaches the API", c.allowed(&ingress, Dest::Pod(&api), 8443, "TCP"), true),
        ("the ingress controller cannot reach the database", c.allowed(&ingress, Dest::Pod(&db), 5432, "TCP"), false),
        ("the API reaches its database", c.allowed(&api, Dest::Pod(&db), 5432, "TCP"), true),
        ("the worker reaches the database across namespaces", c.allowed(&worker, Dest::Pod(&db), 5432, "TCP"), true),
        ("the database cannot call the API", c.allowed(&db, Dest::Pod(&api), 8443, "TCP"), false),
        ("strict isolation: the API cannot call the worker", c.allowed(&api, Dest::Pod(&worker), 8080, "TCP"), false),
        ("the API reaches the card processor", c.allowed(&api, Dest::Ip("203.0.113.10".parse().unwrap()), 443, "TCP"), true),
        ("only on 443", c.allowed(&api, Dest::Ip("203.0.113.10".parse().unwrap()), 80, "TCP"), false),
        ("no other internet egress", c.allowed(&api, Dest::Ip("8.8.8.8".parse().unwrap()), 443, "TCP"), false),
        ("DNS over UDP", c.allowed(&api, Dest::Pod(&dns), 53, "UDP"), true),
        ("DNS over TCP", c.allowed(&billing, Dest::Pod(&dns), 53, "TCP"), true),
        ("nothing else in kube-system", c.allowed(&api, Dest::Pod(&dns), 443, "TCP"), false),
        ("legacy cannot reach payments", c.allowed(&billing, Dest::Pod(&api), 8443, "TCP"), false),
        ("unmanaged namespaces cannot reach payments", c.allowed(&stranger, Dest::Pod(&api), 8443, "TCP"), false),
        ("billing reaches its Oracle subnet", c.allowed(&billing, Dest::Ip("10.20.1.5".parse().unwrap()), 1521, "TCP"), true),
        ("but not the excepted range", c.allowed(&billing, Dest::Ip("10.20.99.5".parse().unwrap()), 1521, "TCP"), false),
        ("prometheus scrapes legacy within the port range", c.allowed(&prometheus, Dest::Pod(&billing), 8085, "TCP"), true),
        ("outside the range it cannot", c.allowed(&prometheus, Dest::Pod(&billing), 9000, "TCP"), false),
        ("legacy pods talk among themselves", c.allowed(&batch, Dest::Pod(&billing), 7000, "TCP"), true),
        ("prometheus reaches kubelets", c.allowed(&prometheus, Dest::Ip("10.0.3.4".parse().unwrap()), 10250, "TCP"), true),
        ("prometheus mounts its token and reaches the API server", c.allowed(&prometheus, Dest::Ip("10.0.0.11".parse().unwrap()), 6443, "TCP"), true),
        ("the payments API has no token and no API server access", c.allowed(&api, Dest::Ip("10.0.0.11".parse().unwrap()), 6443, "TCP"), false),
        ("grafana has no token and no API server access", c.allowed(&grafana, Dest::Ip("10.0.0.10".parse().unwrap()), 443, "TCP"), false),
    ];
    let wrong: Vec<String> = cases.iter().filter(|(_, got, want)| got != want).map(|(n, got, _)| format!("{n}: got {got}")).collect();
    assert!(wrong.is_empty(), "reachability differs from intent:\n{}", wrong.join("\n"));
}
