//! Guardrails of the network intent that need no cluster (issue 19; the real-packet
//! versions are in `tests/dataplane.rs`): broad egress blocks lose the cloud
//! metadata endpoints unless a statement names them, `pod-cidr`/`service-cidr`
//! warnings, the `khc-network-TENANT` guard and `network-policies self-managed`,
//! and no unit that `kubectl apply -k` would refuse.

use khc_analysis::admission::Admission;
use khc_analysis::network::{Endpoint, Network};
use khc_emit::Output;
use khc_syntax::Diagnostic;
use khc_tests::*;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

fn build(src: &str) -> (Output, Vec<Diagnostic>) {
    let (out, diags, rendered) = compile_sources(&[("cluster.khc", src)]);
    assert!(diags.iter().all(|d| !d.is_error()), "{rendered}");
    (out.expect("no errors"), diags)
}

fn warnings_with<'a>(diags: &'a [Diagnostic], code: &str, text: &str) -> Vec<&'a Diagnostic> {
    diags.iter().filter(|d| !d.is_error() && d.code == code && d.message.contains(text)).collect()
}

fn policy(out: &Output, ns: &str, name: &str) -> Value {
    let objs = objects(out);
    of_kind(&objs, "NetworkPolicy")
        .into_iter()
        .find(|o| o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no NetworkPolicy {ns}/{name}"))
        .clone()
}

const WEB: &str = r#"cluster c {
  managed-by serviceaccount "argocd/argocd-application-controller"
}
tenant a {
  workload web {}
  workload meta {}
  allow egress from workload web to cidr 0.0.0.0/0 ports 80 443
  allow egress from workload meta to cidr 169.254.169.254/32 ports 80
  allow egress from workload meta to cidr "::/0" ports 443
}
"#;

/// `allow … cidr 0.0.0.0/0 ports 80 443` no longer reaches 169.254.169.254 (the
/// audit's finding), with a warning that says so; a statement naming the endpoint
/// keeps it; IPv6 loses AWS's fd00:ec2::254.
#[test]
fn broad_egress_excludes_the_metadata_endpoints_unless_named() {
    let (out, diags) = build(WEB);
    let w = warnings_with(&diags, "risky", "cloud metadata endpoint 169.254.169.254");
    assert_eq!(w.len(), 1, "one warning for the 0.0.0.0/0 block: {diags:?}");
    assert!(w[0].message.contains("except 169.254.169.254/32"), "{}", w[0].message);
    assert_eq!(warnings_with(&diags, "risky", "fd00:ec2::254").len(), 1, "{diags:?}");
    let p = policy(&out, "a", "allow-egress-from-web-to-cidr-0-0-0-0-0");
    assert_eq!(p["spec"]["egress"][0]["to"][0]["ipBlock"]["except"], serde_json::json!(["169.254.169.254/32"]));
    let named = policy(&out, "a", "allow-egress-from-meta-to-cidr-169-254-169-254-32");
    assert!(named["spec"]["egress"][0]["to"][0]["ipBlock"].get("except").is_none(), "a named endpoint keeps it");
    // What `khc reach a/web 169.254.169.254 --port 80` answers.
    let net = Network::new(&khc_analysis::objects(&out));
    let web = Endpoint::pod("a", &[("app.kubernetes.io/name", "web")]);
    let meta = Endpoint::pod("a", &[("app.kubernetes.io/name", "meta")]);
    let ip = |s: &str| Endpoint::ip(s.parse::<Ipv4Addr>().unwrap());
    assert!(!net.allowed(&web, &ip("169.254.169.254"), 80, "TCP"), "metadata must be denied through 0.0.0.0/0");
    assert!(net.allowed(&web, &ip("93.184.216.34"), 80, "TCP"), "the internet stays allowed");
    assert!(net.allowed(&meta, &ip("169.254.169.254"), 80, "TCP"), "named: allowed");
}

/// The command line says the same (exit 1, denied).
#[test]
fn khc_reach_denies_the_metadata_endpoint() {
    let tmp = kube::TempDir::new("guardrails-reach");
    std::fs::write(tmp.0.join("cluster.khc"), WEB).unwrap();
    let khc = repo_root().join("target/debug/khc");
    if !khc.is_file() {
        eprintln!("SKIPPED khc_reach_denies_the_metadata_endpoint: build `khc` first (cargo build -p khc)");
        return;
    }
    let o = Command::new(&khc).args(["reach", "a/web", "169.254.169.254", "--port", "80", "-p"]).arg(&tmp.0).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.starts_with("denied"), "{stdout}");
}

#[test]
fn cidr_peers_that_cover_pod_or_service_ranges_are_warned_about() {
    let src = r#"cluster c {
  pod-cidr 10.244.0.0/16
  service-cidr 10.96.0.0/12
}
tenant a {
  allow egress to cidr 10.0.0.0/8 ports 443
  allow ingress from cidr 10.244.7.0/24
  allow egress to cidr 0.0.0.0/0 except 10.0.0.0/8 169.254.0.0/16 ports 80
  allow egress to cidr 192.168.0.0/16 ports 5432
}
"#;
    let (_, diags) = build(src);
    let pods = warnings_with(&diags, "risky", "covers pod addresses");
    let services = warnings_with(&diags, "risky", "covers service addresses");
    assert_eq!(pods.len(), 2, "10.0.0.0/8 and 10.244.7.0/24 overlap the pod range: {diags:?}");
    assert_eq!(services.len(), 1, "10.0.0.0/8 covers the Service range: {diags:?}");
    assert!(pods.iter().all(|d| d.message.contains("CNI-defined")), "{pods:?}");
    assert!(warnings_with(&diags, "risky", "metadata").is_empty(), "an except that covers it is kept as written: {diags:?}");
}

#[test]
fn the_network_guard_and_its_opt_out() {
    let src = r#"cluster c {
  managed-by serviceaccount "argocd/argocd-application-controller"
}
tenant closed {}
tenant open {
  network-policies self-managed
}
tenant loose {
  isolation none
}
"#;
    let (out, diags) = build(src);
    assert_eq!(warnings_with(&diags, "risky", "admins may add NetworkPolicies").len(), 1, "{diags:?}");
    let objs = objects(&out);
    let vaps: Vec<&str> = of_kind(&objs, "ValidatingAdmissionPolicy").iter().filter_map(|o| o["metadata"]["name"].as_str()).collect();
    assert!(vaps.contains(&"khc-network-closed"), "{vaps:?}");
    assert!(!vaps.contains(&"khc-network-open"), "self-managed: no guard");
    assert!(!vaps.contains(&"khc-network-loose"), "isolation none: no NetworkPolicy to guard");
    // The evaluator applies the guard to the tenant's namespace and denies a
    // NetworkPolicy (the applier is exempted by a match condition on the server).
    let admission = Admission::new(&khc_analysis::objects(&out));
    let labels = khc_analysis::selector::Labels::from([("kubernetes.io/metadata.name".to_string(), "closed".to_string())]);
    let applicable = admission.applicable("networking.k8s.io", "networkpolicies", &labels);
    let (p, b) = applicable.iter().find(|(p, _)| p.name == "khc-network-closed").expect("the guard applies");
    let np = serde_json::json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "x", "namespace": "closed"}, "spec": {"podSelector": {}}});
    let v = p.evaluate(&np, &b.actions);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].rule, "network-policies");
    // Without managed-by there is no applier to exempt: no guard, and `khc-only` says so.
    let (out, diags) = build("cluster c {}\ntenant a {\n  network-policies khc-only\n}\n");
    assert_eq!(warnings_with(&diags, "conflict", "needs the cluster's `managed-by`").len(), 1, "{diags:?}");
    assert!(!objects(&out).iter().any(|(_, o)| o["metadata"]["name"] == "khc-network-a"));
    let (_, diags, rendered) = compile_sources(&[("cluster.khc", "cluster c {}\ntenant a {\n  network-policies self-manged\n}\n")]);
    assert!(diags.iter().any(|d| d.is_error() && d.code == "invalid-value"), "{rendered}");
    assert!(rendered.contains("self-managed"), "did you mean: {rendered}");
}

/// Every unit renders at least one object: a program without cluster-scoped
/// objects has no cluster unit and no entry point (and its GitOps engine objects
/// no unit for it), and no kustomization is `resources: []`.
#[test]
fn no_unit_is_empty() {
    let (out, _) = build("cluster c {}\ntenant a {}\n");
    assert!(out.files.iter().all(|f| !f.contents.contains("resources: []")), "an empty kustomization");
    assert!(!out.files.iter().any(|f| f.path.starts_with("clusters/c/cluster/")), "no cluster unit without cluster objects");
    assert!(!out.files.iter().any(|f| f.path == "clusters/c/Kustomization"), "no entry point listing an absent unit");
    assert!(out.files.iter().any(|f| f.path == "clusters/c/tenants/a/Kustomization"));
    let model = model_of("cluster c {}\ntenant a {}\n");
    for engine in [khc_emit::gitops::Engine::Flux, khc_emit::gitops::Engine::ArgoCd] {
        let opts = khc_emit::gitops::GitOps { engine, repo: Some("https://git.example.com/x.git".into()), revision: None, path: String::new() };
        let mut f = out.files.clone();
        khc_emit::gitops::apply(&mut f, &model, &opts);
        let units: Vec<&str> =
            f.iter().filter(|f| f.path.starts_with("clusters/c/gitops/") && !f.path.ends_with("Kustomization")).map(|f| f.path.as_str()).collect();
        assert!(
            units.iter().all(|p| !p.ends_with("/kustomization-c.yaml") && !p.ends_with("/application-c.yaml")),
            "no engine object for the absent cluster unit: {units:?}"
        );
        assert!(units.iter().any(|p| p.ends_with("-c-a.yaml")), "the tenant unit's engine object: {units:?}");
        assert!(f.iter().all(|f| !f.contents.contains("dependsOn")), "no dependsOn an absent unit");
        assert!(f.iter().any(|f| f.path == "clusters/c/Kustomization"), "the GitOps entry point exists");
    }
    // With cluster-scoped objects, the unit and the entry point are there.
    let (out, _) = build("cluster c {\n  role r { can get on nodes }\n}\n");
    assert!(out.files.iter().any(|f| f.path == "clusters/c/cluster/Kustomization"));
    assert!(out.files.iter().any(|f| f.path == "clusters/c/Kustomization"));
    let kubectl = Command::new("kubectl").arg("version").arg("--client").output().is_ok_and(|o| o.status.success());
    if kubectl {
        let (out, _) = build("cluster c {}\ntenant a {}\n");
        let tmp = kube::TempDir::new("guardrails-units");
        kube::write_output(&out, &tmp.0);
        for unit in kustomizations(&tmp.0) {
            let o = Command::new("kubectl").args(["kustomize"]).arg(&unit).output().unwrap();
            assert!(o.status.success() && o.stdout.windows(5).any(|w| w == b"kind:"), "{} renders objects", unit.display());
        }
    }
}

fn kustomizations(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(kustomizations(&p));
        } else if p.file_name().is_some_and(|n| n == "Kustomization") {
            out.push(dir.to_path_buf());
        }
    }
    out
}

fn model_of(src: &str) -> khc_semantics::model::Model {
    let tmp = kube::TempDir::new("guardrails-model");
    std::fs::write(tmp.0.join("cluster.khc"), src).unwrap();
    let project = khc_db::Project::open(&tmp.0).unwrap();
    let entry = project.entries[0];
    khc_db::check(&project.db, entry).model.clone().expect("a model")
}
