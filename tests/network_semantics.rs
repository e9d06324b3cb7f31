//! Semantic test of the generated NetworkPolicies: the evaluator of
//! `khc-analysis` (Kubernetes NetworkPolicy rules (a pod is isolated for a direction when a policy
//! of that type selects it; then traffic flows only if some rule allows it, and a
//! connection needs both the sender's egress and the receiver's ingress) answers
//! reachability questions about the multi-tenant example.

use khc_analysis::network::{Endpoint, Network};
use khc_tests::*;

struct Cluster {
    net: Network,
}

enum Dest<'a> {
    Pod(&'a Endpoint),
    Ip(std::net::Ipv4Addr),
}

impl Cluster {
    fn new() -> Self {
        Cluster { net: Network::new(&khc_analysis::objects(&example_output())) }
    }

    fn pod(&self, namespace: &str, l: &[(&str, &str)]) -> Endpoint {
        let known = ["kube-system", "ingress-nginx", "default"];
        assert!(self.net.namespace_labels.contains_key(namespace) || known.contains(&namespace), "unknown namespace {namespace}");
        Endpoint::pod(namespace, l)
    }

    fn allowed(&self, src: &Endpoint, dst: Dest<'_>, port: u16, proto: &str) -> bool {
        match dst {
            Dest::Pod(d) => self.net.allowed(src, d, port, proto),
            Dest::Ip(ip) => self.net.allowed(src, &Endpoint::ip(ip), port, proto),
        }
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

#[test]
fn decisions_name_the_policies_and_ports() {
    let c = Cluster::new();
    let prometheus = Endpoint::pod("monitoring", &[("app.kubernetes.io/name", "prometheus")]);
    let api = Endpoint::pod("payments", &[("app", "payments-api")]);
    let d = c.net.decide(&prometheus, &api);
    assert_eq!(d.ports().to_string(), "9090/TCP");
    let ingress: Vec<&str> = d.ingress.allowing.iter().map(|(p, _)| p.source.as_str()).collect();
    assert_eq!(ingress, ["tenants/payments.khc:26"], "the allow statement decides");
    assert!(d.egress.allowing.iter().any(|(p, _)| p.source == "tenants/monitoring.khc:14"));
    let stranger = Endpoint::pod("default", &[]);
    let d = c.net.decide(&stranger, &api);
    assert!(d.ports().is_empty() && d.ingress.isolated && !d.egress.isolated);
    // A CIDR inside an allowed block but overlapping an exception is not allowed as a whole.
    let billing = Endpoint::pod("legacy-billing", &[("app", "billing")]);
    assert!(c.net.allowed(&billing, &Endpoint::parse_net("10.20.1.0/24").unwrap(), 1521, "TCP"));
    assert!(!c.net.allowed(&billing, &Endpoint::parse_net("10.20.0.0/16").unwrap(), 1521, "TCP"));
}
