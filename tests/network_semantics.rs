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

const NAMED_PORTS: &str = r#"cluster c {
  managed-by serviceaccount "argocd/argocd-application-controller"
}
tenant a {
  workload web {
    port http 8080
    port metrics 9090
    port dns 5353 UDP
  }
  workload scraper {}
  allow ingress from workload scraper to workload web ports http
  allow egress from workload scraper to workload web ports http metrics
  allow egress from workload scraper to cidr 203.0.113.0/24 ports http
}
"#;

/// Named ports (issue 20 item 5): `ports http` is written as `port: http`, and the
/// evaluator resolves a name against the *destination* pod's container ports —
/// the selected pod for an ingress rule, the peer for an egress rule — by name and
/// protocol; an address outside the cluster has no named ports.
#[test]
fn named_ports_resolve_against_the_destination_pod() {
    let tmp = kube::TempDir::new("named-ports");
    std::fs::write(tmp.0.join("cluster.khc"), NAMED_PORTS).unwrap();
    let ws = khc_analysis::Workspace::load(&tmp.0).expect("builds");
    let policy = |name: &str| -> serde_json::Value {
        ws.objects.iter().find(|o| o.kind() == "NetworkPolicy" && o.name() == name).unwrap_or_else(|| panic!("no {name}")).value.clone()
    };
    let ingress = policy("allow-ingress-to-web-from-tenant-a-scraper");
    assert_eq!(ingress["spec"]["ingress"][0]["ports"], serde_json::json!([{"port": "http", "protocol": "TCP"}]));
    let web = ws.endpoint("a/web").unwrap().endpoint;
    let scraper = ws.endpoint("a/scraper").unwrap().endpoint;
    assert_eq!(web.named_port("http", "TCP"), Some(8080), "the workload's `port` is in its endpoint");
    assert_eq!(web.named_port("dns", "TCP"), None, "a name resolves for its own protocol only");
    // Ingress allows `http` = 8080 of web; egress `http metrics` = 8080, 9090.
    let d = ws.network.decide(&scraper, &web);
    assert_eq!(d.ports().to_string(), "8080/TCP", "{d:?}");
    assert!(ws.network.allowed(&scraper, &web, 8080, "TCP"));
    assert!(!ws.network.allowed(&scraper, &web, 9090, "TCP"), "metrics is allowed by egress only");
    // The same names on a pod without those container ports allow nothing.
    let plain = Endpoint::pod("a", &[("app.kubernetes.io/name", "web")]);
    assert!(ws.network.decide(&scraper, &plain).ports().is_empty());
    // Egress to an address: no pod, no named port.
    let ip = Endpoint::ip("203.0.113.9".parse().unwrap());
    assert!(ws.network.decide(&scraper, &ip).ports().is_empty());
}

/// Bad port names and numbers are errors with a span, never a silent default.
#[test]
fn named_port_mistakes_are_errors() {
    let cases = [
        ("workload w { port HTTP 8080 }", "`HTTP` is not a port name"),
        ("workload w { port http 70000 }", "a container port is a number from 1 to 65535"),
        ("workload w { port http 80 QUIC }", "protocols are `TCP`, `UDP` and `SCTP`"),
        ("workload w { port http 80; port http 81 }", "port `http` is declared twice"),
        ("workload w { port 8080 }", "expected `port NAME NUMBER"),
        ("workload w {}\n  allow ingress from tenant a to workload w ports very-long-port-name", "is neither a port number nor a port name"),
        ("workload w {}\n  allow ingress from tenant a to workload w ports http http", "port `http` is written twice"),
    ];
    for (body, want) in cases {
        let src = format!("cluster c {{\n  managed-by serviceaccount \"argocd/argocd-application-controller\"\n}}\ntenant a {{\n  {body}\n}}\n");
        let (_, diags, rendered) = compile_sources(&[("cluster.khc", &src)]);
        assert!(diags.iter().any(|d| d.is_error() && d.message.contains(want)), "{body}: want {want:?}, got\n{rendered}");
    }
}

/// The cluster's DNS target (issue 20 item 5, SPEC section 6 "DNS"): NodeLocal
/// DNSCache's link-local listen address and a CoreDNS deployment with its own
/// label replace the hard-coded `k8s-app: kube-dns`; `khc reach … @dns`
/// answers from it, and the old target is no longer open.
#[test]
fn dns_target_comes_from_the_cluster() {
    let tmp = kube::TempDir::new("dns-target");
    std::fs::write(
        tmp.0.join("cluster.khc"),
        r#"cluster c {
  managed-by serviceaccount "argocd/argocd-application-controller"
  dns namespace kube-system selector k8s-app "coredns" cidr 169.254.20.10/32
}
tenant a {
  workload web {}
}
tenant b {
  isolation ingress
}
"#,
    )
    .unwrap();
    let ws = khc_analysis::Workspace::load(&tmp.0).expect("builds");
    let dns = ws.objects.iter().find(|o| o.kind() == "NetworkPolicy" && o.name() == "allow-dns" && o.namespace() == Some("a")).expect("allow-dns in a");
    assert_eq!(
        dns.value["spec"]["egress"][0]["to"],
        serde_json::json!([
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}, "podSelector": {"matchLabels": {"k8s-app": "coredns"}}},
            {"ipBlock": {"cidr": "169.254.20.10/32"}}
        ])
    );
    assert!(
        !ws.objects.iter().any(|o| o.kind() == "NetworkPolicy" && o.namespace() == Some("b") && o.name() == "allow-dns"),
        "a staged tenant's egress is open: no allow-dns"
    );
    let web = ws.endpoint("a/web").unwrap().endpoint;
    let target = ws.endpoint("@dns").expect("@dns resolves");
    assert_eq!(target.name, "DNS (pods k8s-app=coredns in kube-system)");
    assert_eq!(target.source.as_deref(), Some("cluster.khc:3"), "named after the `dns` statement");
    for proto in ["UDP", "TCP"] {
        assert!(ws.network.allowed(&web, &target.endpoint, 53, proto), "{proto} to the CoreDNS pods");
        assert!(ws.network.allowed(&web, &Endpoint::ip("169.254.20.10".parse().unwrap()), 53, proto), "{proto} to NodeLocal DNSCache");
    }
    assert!(!ws.network.allowed(&web, &target.endpoint, 443, "TCP"), "port 53 only");
    assert!(!ws.network.allowed(&web, &Endpoint::pod("kube-system", &[("k8s-app", "kube-dns")]), 53, "UDP"), "the default target is no longer open");
    assert!(!ws.network.allowed(&web, &Endpoint::ip("169.254.20.11".parse().unwrap()), 53, "UDP"), "only the listen address");
    let radius =
        khc_analysis::posture::blast_radius(&ws, ws.tenants().find(|t| t.name == "a").unwrap(), &ws.tenants().find(|t| t.name == "a").unwrap().workloads[0]);
    let reached: Vec<&str> = radius.reaches.iter().map(|r| r.endpoint.as_str()).collect();
    assert!(reached.contains(&"DNS (pods k8s-app=coredns in kube-system)") && reached.contains(&"DNS (169.254.20.10/32)"), "{reached:?}");

    // Without `dns`: kube-dns in kube-system, as before.
    std::fs::write(
        tmp.0.join("cluster.khc"),
        "cluster c {\n  managed-by serviceaccount \"argocd/argocd-application-controller\"\n}\ntenant a {\n  workload web {}\n}\n",
    )
    .unwrap();
    let ws = khc_analysis::Workspace::load(&tmp.0).expect("builds");
    let target = ws.endpoint("@dns").unwrap();
    assert_eq!(target.name, "DNS (pods k8s-app=kube-dns in kube-system)");
    assert!(ws.network.allowed(&ws.endpoint("a/web").unwrap().endpoint, &target.endpoint, 53, "UDP"));
}

/// `dns` mistakes are errors with a span; a selector on NodeLocal DNSCache's
/// hostNetwork pods is a `no-effect` warning that names the listen address.
#[test]
fn dns_target_mistakes_are_diagnosed() {
    let cases = [
        ("dns", "`dns` needs the DNS pods' namespace or an address", true),
        ("dns namespace", "`namespace` needs a namespace name", true),
        ("dns namespace Kube_System", "namespace", true),
        ("dns namespace kube-system selector", "`selector` needs at least one label", true),
        ("dns namespace kube-system selector k8s-app", "label `k8s-app` needs a value", true),
        ("dns cidr", "`cidr` needs at least one address block", true),
        ("dns cidr 169.254.20.300/32", "is not a valid CIDR", true),
        ("dns cidr 169.254.20.10/32 169.254.20.10/32", "is written twice", true),
        ("dns port 53", "unexpected `port` in `dns`", true),
        ("dns namespace kube-system selector k8s-app \"node-local-dns\"", "NodeLocal DNSCache's pods run with `hostNetwork: true`", false),
    ];
    for (stmt, want, error) in cases {
        let src = format!("cluster c {{\n  managed-by serviceaccount \"argocd/argocd-application-controller\"\n  {stmt}\n}}\ntenant a {{}}\n");
        let (_, diags, rendered) = compile_sources(&[("cluster.khc", &src)]);
        let d = diags.iter().find(|d| d.message.contains(want)).unwrap_or_else(|| panic!("{stmt}: want {want:?}, got\n{rendered}"));
        assert_eq!(d.is_error(), error, "{stmt}: {rendered}");
        let line = src.find("  dns").unwrap()..src.find("  dns").unwrap() + stmt.len() + 2;
        assert!(line.contains(&(d.primary.span.start as usize)), "{stmt}: on the `dns` line: {rendered}");
    }
}

const ALL_TENANTS: &str = r#"cluster c {
  managed-by serviceaccount "argocd/argocd-application-controller"
  allow ingress from tenant monitoring workload prometheus to all-tenants ports 9090
  allow egress from all-tenants to tenant logging workload collector ports 4317
}
tenant monitoring {
  workload prometheus {}
  workload grafana {}
}
tenant logging {
  workload collector {}
}
tenant shop {
  namespaces shop shop-jobs
  workload api {}
  workload worker { namespace shop-jobs }
}
tenant web {
  isolation ingress
  workload site {}
}
tenant lab {
  isolation tenant
  workload notebook {}
}
tenant legacy {
  isolation none
  workload app {}
}
"#;

/// `allow ingress from tenant T workload W to all-tenants` in the cluster (issue
/// 20 item 5): one statement, the pair of policies — the egress at the source to
/// every tenant's namespaces, the ingress in every namespace of every tenant with
/// isolation (none for `isolation none`) — and `reach --matrix` agrees; no
/// one-sided-traffic warning.
#[test]
fn all_tenants_allow_compiles_into_both_sides() {
    let tmp = kube::TempDir::new("all-tenants");
    std::fs::write(tmp.0.join("cluster.khc"), ALL_TENANTS).unwrap();
    let (_, diags, rendered) = compile_sources(&[("cluster.khc", ALL_TENANTS)]);
    assert!(!diags.iter().any(|d| d.code == "unreachable" || d.is_error()), "{rendered}");
    let ws = khc_analysis::Workspace::load(&tmp.0).expect("builds");
    let policies = |name: &str| -> Vec<(String, serde_json::Value)> {
        ws.objects.iter().filter(|o| o.kind() == "NetworkPolicy" && o.name() == name).map(|o| (o.namespace().unwrap().to_string(), o.value.clone())).collect()
    };
    let egress = policies("allow-egress-from-prometheus-to-all-tenants");
    assert_eq!(egress.len(), 1, "one egress policy at the source");
    assert_eq!(egress[0].0, "monitoring");
    assert_eq!(
        egress[0].1["spec"]["egress"][0]["to"][0]["namespaceSelector"]["matchExpressions"][0]["values"],
        serde_json::json!(["lab", "legacy", "logging", "monitoring", "shop", "shop-jobs", "web"])
    );
    assert_eq!(egress[0].1["metadata"]["annotations"]["khc.dev/source"], "cluster.khc:3", "the cluster's statement is the source");
    let mut ingress: Vec<String> = policies("allow-ingress-from-tenant-monitoring-prometheus").into_iter().map(|(ns, _)| ns).collect();
    ingress.sort();
    assert_eq!(ingress, ["lab", "logging", "monitoring", "shop", "shop-jobs", "web"], "every isolated tenant namespace, none in `legacy`");
    let at = |s: &str| ws.endpoint(s).unwrap().endpoint;
    let prometheus = at("monitoring/prometheus");
    for dst in ["shop/api", "shop/worker", "web/site", "lab/notebook", "legacy/app", "monitoring/grafana"] {
        assert!(ws.network.allowed(&prometheus, &at(dst), 9090, "TCP"), "prometheus → {dst} on 9090");
        assert!(!ws.network.allowed(&prometheus, &at(dst), 8080, "TCP"), "prometheus → {dst}: 9090 only (its egress is isolated)");
    }
    assert!(!ws.network.allowed(&at("monitoring/grafana"), &at("shop/api"), 9090, "TCP"), "another monitoring workload is not the source");
    let m = khc_analysis::posture::matrix(&ws);
    let from_prometheus: Vec<String> = m.iter().filter(|r| r.from == "monitoring/prometheus").map(|r| format!("{} {}", r.to, r.ports)).collect();
    assert_eq!(
        from_prometheus,
        [
            "lab/notebook 9090/TCP",
            "legacy/app 9090/TCP",
            "logging/collector 4317/TCP, 9090/TCP",
            "monitoring/grafana 9090/TCP",
            "shop/api 9090/TCP",
            "shop/worker 9090/TCP",
            "web/site 9090/TCP"
        ],
        "reach --matrix agrees"
    );

    // `allow egress from all-tenants to tenant logging workload collector`: an
    // egress rule in every tenant that isolates egress (not `web`, staged, nor
    // `legacy`), the ingress at the collector from every tenant's namespaces.
    let mut egress: Vec<String> = policies("allow-egress-to-tenant-logging-collector").into_iter().map(|(ns, _)| ns).collect();
    egress.sort();
    assert_eq!(egress, ["lab", "logging", "monitoring", "shop", "shop-jobs"]);
    let ingress = policies("allow-ingress-to-collector-from-all-tenants");
    assert_eq!(ingress.len(), 1);
    assert_eq!(ingress[0].1["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"], "collector");
    let to_collector: Vec<String> = m.iter().filter(|r| r.to == "logging/collector").map(|r| format!("{} {}", r.from, r.ports)).collect();
    assert_eq!(
        to_collector,
        [
            "lab/notebook 4317/TCP",
            "legacy/app 4317/TCP",
            "monitoring/grafana 4317/TCP",
            "monitoring/prometheus 4317/TCP, 9090/TCP",
            "shop/api 4317/TCP",
            "shop/worker 4317/TCP",
            "web/site 4317/TCP"
        ],
        "every tenant's pods reach the collector, on 4317 only"
    );
}

/// The cluster's `allow` names a declared tenant and workload, and has one form.
#[test]
fn all_tenants_mistakes_are_errors() {
    let cases = [
        ("allow ingress from tenant monitorin workload prometheus to all-tenants", "unknown tenant `monitorin`"),
        ("allow ingress from tenant monitoring workload prometeus to all-tenants", "tenant `monitoring` has no workload `prometeus`"),
        ("allow egress from tenant monitoring to all-tenants", "expected `from all-tenants` after `allow egress` in the cluster"),
        ("allow egress from all-tenants to namespace kube-system", "expected `to tenant NAME` after `allow egress from all-tenants`"),
        ("allow egress from all-tenants to tenant monitoring workload prometeus", "tenant `monitoring` has no workload `prometeus`"),
        ("allow sideways from tenant monitoring to all-tenants", "the cluster's `allow` starts with `ingress` or `egress`"),
        ("allow ingress from tenant monitoring to tenant shop", "in the cluster, the destination is `all-tenants`"),
        ("allow ingress from namespace kube-system to all-tenants", "expected `from tenant NAME`"),
        ("allow ingress from tenant monitoring to all-tenants ports 70000", "is not a port"),
    ];
    for (stmt, want) in cases {
        let src = format!(
            "cluster c {{\n  managed-by serviceaccount \"argocd/argocd-application-controller\"\n  {stmt}\n}}\ntenant monitoring {{\n  workload prometheus {{}}\n}}\ntenant shop {{}}\n"
        );
        let (_, diags, rendered) = compile_sources(&[("cluster.khc", &src)]);
        assert!(diags.iter().any(|d| d.is_error() && d.message.contains(want)), "{stmt}: want {want:?}, got\n{rendered}");
    }
}

/// The one-sided-traffic warning's help (and the editor's quick fix) names the
/// exact mirror statement (issue 20 item 5): added to the other tenant, it
/// silences the warning and the traffic flows on the ports and protocols the
/// first side named.
#[test]
fn the_mirror_statement_completes_the_traffic() {
    let cases = [
        ("allow ingress from tenant b workload api to workload web ports 8080 9000-9100 protocol TCP UDP", "b/api", "a/web", 9050, "UDP"),
        ("allow egress from workload web to tenant b workload api ports 53 protocol UDP", "a/web", "b/api", 53, "UDP"),
        ("allow ingress from tenant b to workload web ports http", "b", "a/web", 8080, "TCP"),
        ("allow egress to tenant b", "a", "b", 443, "TCP"),
    ];
    for (rule, from, to, port, proto) in cases {
        let program = |b_extra: &str| {
            format!(
                "cluster c {{\n  managed-by serviceaccount \"argocd/argocd-application-controller\"\n}}\ntenant a {{\n  workload web {{\n    port http 8080\n  }}\n  {rule}\n}}\ntenant b {{\n  workload api {{}}\n{b_extra}}}\n"
            )
        };
        let (_, diags, rendered) = compile_sources(&[("cluster.khc", &program(""))]);
        let d = diags.iter().find(|d| d.code == "unreachable").unwrap_or_else(|| panic!("{rule}: no warning\n{rendered}"));
        let help = d.notes.iter().find_map(|n| n.strip_prefix("help: add `")).unwrap_or_else(|| panic!("{rule}: {d:?}"));
        let (mirror, tenant) = help.split_once("` to tenant `").unwrap();
        assert_eq!(tenant, "b`", "{rule}");
        let src = program(&format!("  {mirror}\n"));
        let (_, diags, rendered) = compile_sources(&[("cluster.khc", &src)]);
        assert!(!diags.iter().any(|d| d.code == "unreachable" || d.is_error()), "{rule} + {mirror}:\n{rendered}");
        let tmp = kube::TempDir::new("mirror");
        std::fs::write(tmp.0.join("cluster.khc"), &src).unwrap();
        let ws = khc_analysis::Workspace::load(&tmp.0).expect("builds");
        let (src_ep, dst_ep) = (ws.endpoint(from).unwrap().endpoint, ws.endpoint(to).unwrap().endpoint);
        assert!(ws.network.allowed(&src_ep, &dst_ep, port, proto), "{rule} + {mirror}: {from} → {to} {port}/{proto}");
    }
}
