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

// ---------------------------------------------------------------------------------
// `cni` (issue 19 items 3, 4 and 7; SPEC section 6, "The CNI"). The real-server
// validation of these objects against their CRDs is in `tests/kube_server.rs`
// (`cni_objects_validate_against_their_crds`).

/// Compares a fixture's build with its checked-in `generated/` tree (byte for
/// byte, no extra or missing files); `KHC_BLESS=1` rewrites the tree.
fn assert_fixture_tree(dir: &Path, out: &Output) {
    let generated = dir.join("generated");
    if std::env::var_os("KHC_BLESS").is_some() && generated.exists() {
        std::fs::remove_dir_all(&generated).unwrap();
    }
    let mut want = std::collections::BTreeSet::new();
    for f in &out.files {
        assert_golden(&generated.join(&f.path), &f.contents);
        want.insert(generated.join(&f.path));
    }
    let mut stack = vec![generated.clone()];
    let mut on_disk = std::collections::BTreeSet::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                on_disk.insert(e.path());
            }
        }
    }
    assert_eq!(on_disk, want, "{}: the checked-in tree has extra or missing files", generated.display());
}

/// The CNI fixtures (`tests/cni/calico`, `tests/cni/cilium`): their output trees
/// are golden, compile without errors, and hold the CNI's objects.
#[test]
fn cni_fixtures_match_their_checked_in_trees() {
    for name in ["calico", "cilium"] {
        let dir = repo_root().join("tests/cni").join(name);
        let (out, diags) = compile(&dir);
        assert!(diags.iter().all(|d| !d.is_error()), "{name}: {diags:?}");
        assert!(diags.iter().all(|d| d.code != "cni" && d.code != "unreachable"), "{name}: {diags:?}");
        assert_fixture_tree(&dir, &out);
    }
}

fn of_kind_named(out: &Output, kind: &str, name: &str) -> Value {
    let objs = objects(out);
    of_kind(&objs, kind).into_iter().find(|o| o["metadata"]["name"] == name).unwrap_or_else(|| panic!("no {kind} {name}")).clone()
}

/// `cni calico`: each isolated tenant's Admin-tier wall passes its own
/// namespaces, DNS and its declared flows to the NetworkPolicies (with their
/// ports), denies the metadata endpoints (unless a statement names one) and every
/// other namespace; a staged tenant has no egress wall; DNS names are an Admin
/// `Accept` of `domainNames` for the rule's pods; namespaces no tenant owns get the
/// Baseline default deny in the cluster unit.
#[test]
fn calico_gets_cluster_network_policy_tiers() {
    let (out, _) = compile(&repo_root().join("tests/cni/calico"));
    let shop = of_kind_named(&out, "ClusterNetworkPolicy", "khc-tenant-shop");
    assert_eq!(shop["apiVersion"], "policy.networking.k8s.io/v1alpha2");
    assert_eq!(shop["spec"]["tier"], "Admin");
    assert_eq!(shop["spec"]["subject"]["namespaces"]["matchExpressions"][0]["values"], serde_json::json!(["shop", "shop-jobs"]));
    let egress = shop["spec"]["egress"].as_array().unwrap();
    let names: Vec<&str> = egress.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["same-tenant", "dns", "metadata", "allow-egress-from-worker-to-tenant-billing-api", "allow-egress-to-tenant-legacy", "tenant-wall"],
        "{egress:?}"
    );
    assert_eq!(egress[2]["to"][0]["networks"], serde_json::json!(["169.254.169.254/32", "fd00:ec2::254/128"]));
    assert_eq!(egress[3]["action"], "Pass");
    assert_eq!(egress[3]["protocols"][0]["tcp"]["destinationPort"]["range"], serde_json::json!({ "start": 9000, "end": 9100 }));
    assert_eq!(egress[5]["action"], "Deny");
    let ingress = shop["spec"]["ingress"].as_array().unwrap();
    let names: Vec<&str> = ingress.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["same-tenant", "allow-ingress-to-web-from-namespace-ingress-nginx", "allow-ingress-to-web-from-tenant-billing-api", "tenant-wall"]);
    assert_eq!(ingress[1]["protocols"], serde_json::json!([{ "destinationNamedPort": "http" }]));
    // billing names the IPv4 metadata endpoint on its own: only the IPv6 one is denied.
    let billing = of_kind_named(&out, "ClusterNetworkPolicy", "khc-tenant-billing");
    let metadata = billing["spec"]["egress"].as_array().unwrap().iter().find(|r| r["name"] == "metadata").expect("metadata rule").clone();
    assert_eq!(metadata["to"][0]["networks"], serde_json::json!(["fd00:ec2::254/128"]), "{billing}");
    // A staged tenant: ingress wall only.
    let legacy = of_kind_named(&out, "ClusterNetworkPolicy", "khc-tenant-legacy");
    assert!(legacy["spec"].get("egress").is_none() && legacy["spec"]["ingress"].as_array().unwrap().len() == 3, "{legacy}");
    // DNS names.
    let dns = of_kind_named(&out, "ClusterNetworkPolicy", "khc-shop-allow-egress-from-worker-to-dns-api-stripe-com");
    assert_eq!(dns["spec"]["priority"], 50);
    assert_eq!(dns["spec"]["subject"]["pods"]["podSelector"]["matchLabels"]["app"], "worker");
    assert_eq!(dns["spec"]["egress"][0]["to"][0]["domainNames"], serde_json::json!(["api.stripe.com", "*.s3.amazonaws.com"]));
    assert_eq!(dns["spec"]["egress"][0]["action"], "Accept");
    let udp = of_kind_named(&out, "ClusterNetworkPolicy", "khc-billing-allow-egress-to-dns-any-example-org");
    assert_eq!(udp["spec"]["egress"][0]["protocols"], serde_json::json!([{ "udp": { "destinationPort": { "range": { "start": 1, "end": 65535 } } } }]));
    // The Baseline tier, in the cluster unit.
    let path = out.files.iter().find(|f| f.path.ends_with("clusternetworkpolicy-khc-baseline-default-deny.yaml")).expect("baseline file").path.clone();
    assert_eq!(path, "clusters/calico-lab/cluster/clusternetworkpolicy-khc-baseline-default-deny.yaml");
    let base = of_kind_named(&out, "ClusterNetworkPolicy", "khc-baseline-default-deny");
    assert_eq!(base["spec"]["tier"], "Baseline");
    assert_eq!(base["spec"]["subject"]["namespaces"]["matchExpressions"][0], serde_json::json!({ "key": "khc.dev/tenant", "operator": "DoesNotExist" }));
    assert_eq!(base["spec"]["subject"]["namespaces"]["matchExpressions"][1]["values"], serde_json::json!(["kube-node-lease", "kube-public", "kube-system"]));
    // Not a single CiliumNetworkPolicy; the NetworkPolicies are those of `generic`.
    assert!(of_kind(&objects(&out), "CiliumNetworkPolicy").is_empty());
}

/// `cni cilium`: the `api-server` egress of token-mounting workloads (without
/// any `api-server` CIDR) as `toEntities: [kube-apiserver]` on 443 and 6443; DNS
/// names as `toFQDNs` (`*.` as Cilium's multi-level `**.`) with their ports, and
/// the DNS proxy rule in each namespace that has one; no ClusterNetworkPolicy.
#[test]
fn cilium_gets_cilium_network_policies() {
    let (out, diags) = compile(&repo_root().join("tests/cni/cilium"));
    assert!(diags.is_empty(), "{diags:?}");
    let objs = objects(&out);
    let cnps = of_kind(&objs, "CiliumNetworkPolicy");
    let api: Vec<&&Value> = cnps.iter().filter(|o| o["metadata"]["name"].as_str().unwrap().ends_with("-to-api-server")).collect();
    assert_eq!(api.len(), 2, "one per token-mounting workload: {api:?}");
    let worker = api.iter().find(|o| o["metadata"]["namespace"] == "shop-jobs").unwrap();
    assert_eq!(worker["apiVersion"], "cilium.io/v2");
    assert_eq!(worker["spec"]["endpointSelector"]["matchLabels"]["app"], "worker");
    assert_eq!(worker["spec"]["egress"][0]["toEntities"], serde_json::json!(["kube-apiserver"]));
    assert_eq!(
        worker["spec"]["egress"][0]["toPorts"][0]["ports"],
        serde_json::json!([{ "port": "443", "protocol": "TCP" }, { "port": "6443", "protocol": "TCP" }])
    );
    let fqdn = cnps.iter().find(|o| o["metadata"]["name"] == "allow-egress-from-worker-to-dns-api-stripe-com").unwrap();
    assert_eq!(fqdn["spec"]["egress"][0]["toFQDNs"], serde_json::json!([{ "matchName": "api.stripe.com" }, { "matchPattern": "**.s3.amazonaws.com" }]));
    let mut proxies: Vec<String> =
        cnps.iter().filter(|o| o["metadata"]["name"] == "allow-dns-proxy").map(|o| o["metadata"]["namespace"].as_str().unwrap().to_string()).collect();
    proxies.sort();
    assert_eq!(proxies, ["shop", "shop-jobs"]);
    let proxy = cnps.iter().find(|o| o["metadata"]["name"] == "allow-dns-proxy").unwrap();
    assert_eq!(proxy["spec"]["egress"][0]["toPorts"][0]["rules"]["dns"], serde_json::json!([{ "matchPattern": "*" }]));
    let ranged = cnps.iter().find(|o| o["metadata"]["name"] == "allow-egress-to-dns-any-example-org" && o["metadata"]["namespace"] == "shop").unwrap();
    assert_eq!(ranged["spec"]["egress"][0]["toPorts"][0]["ports"][1], serde_json::json!({ "port": "8000", "protocol": "UDP", "endPort": 8100 }));
    assert!(of_kind(&objs, "ClusterNetworkPolicy").is_empty());
    // The guard refuses foreign CiliumNetworkPolicies too (only with `cni cilium`).
    let guard = of_kind(&objs, "ValidatingAdmissionPolicy").into_iter().find(|o| o["metadata"]["name"] == "khc-network-shop").expect("the guard").clone();
    let groups: Vec<&str> =
        guard["spec"]["matchConstraints"]["resourceRules"].as_array().unwrap().iter().map(|r| r["apiGroups"][0].as_str().unwrap()).collect();
    assert_eq!(groups, ["networking.k8s.io", "cilium.io"]);
    let (plain, _) = compile(&repo_root().join("examples/multi-tenant"));
    let plain = objects(&plain);
    let guard = of_kind(&plain, "ValidatingAdmissionPolicy").into_iter().find(|o| o["metadata"]["name"] == "khc-network-payments").expect("the guard").clone();
    assert_eq!(guard["spec"]["matchConstraints"]["resourceRules"].as_array().unwrap().len(), 1);
    // The NetworkPolicies stay: no NetworkPolicy for a DNS-name rule, none to the API server without `api-server`.
    assert!(of_kind(&objs, "NetworkPolicy").iter().all(|o| !o["metadata"]["name"].as_str().unwrap().contains("dns-")), "{objs:?}");
}

/// `cni generic` (the default) and `cni kube-router` emit exactly what a cluster
/// without `cni` emits: the examples' trees are unchanged by the statement.
#[test]
fn generic_and_kube_router_output_is_unchanged() {
    let root = repo_root().join("examples/multi-tenant");
    let (plain, _) = compile(&root);
    for cni in ["generic", "kube-router"] {
        let tmp = kube::TempDir::new(&format!("cni-{cni}"));
        copy_tree(&root, &tmp.0);
        let entry = tmp.0.join("cluster.khc");
        let src = std::fs::read_to_string(&entry).unwrap();
        // On the same line, so every `khc.dev/source` line stays.
        std::fs::write(&entry, src.replacen("  kubernetes 1.35\n", &format!("  kubernetes 1.35; cni {cni}\n"), 1)).unwrap();
        let (out, diags) = compile(&tmp.0);
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        assert_eq!(out.files, plain.files, "cni {cni} changed the output");
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == "generated") {
            continue;
        }
        if p.is_dir() {
            copy_tree(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

const DNS_TENANT: &str = "tenant a {\n  workload web { selector { app \"web\" } }\n  allow egress from workload web to dns \"api.example.com\" ports 443\n}\n";

/// DNS-name egress needs a CNI that enforces it: an error with its span (on `dns`)
/// for `generic` (stated or not) and `kube-router`; ingress from DNS names, bad
/// names and repeated names are errors too.
#[test]
fn dns_names_need_a_cni_that_enforces_them() {
    for cni in ["", "  cni generic\n", "  cni kube-router\n"] {
        let src = format!("cluster c {{\n{cni}}}\n{DNS_TENANT}");
        let (out, diags, rendered) = compile_sources(&[("cluster.khc", &src)]);
        assert!(out.is_none(), "{rendered}");
        let d = diags.iter().find(|d| d.code == "cni").unwrap_or_else(|| panic!("{rendered}"));
        assert!(d.is_error() && d.message.contains("egress to DNS names needs a CNI"), "{d:?}");
        assert_eq!(&src[d.primary.span.start as usize..d.primary.span.end as usize], "dns");
    }
    for (rule, want) in [
        ("allow ingress from dns \"api.example.com\"", "egress peers only"),
        ("allow egress to dns \"not a name\"", "is not a DNS name"),
        ("allow egress to dns \"localhost\"", "is not a DNS name"),
        ("allow egress to dns \"a.example.com\" \"A.example.com\"", "written twice"),
        ("allow egress to dns", "needs at least one quoted DNS name"),
    ] {
        let src = format!("cluster c {{\n  cni cilium\n}}\ntenant a {{\n  {rule}\n}}\n");
        let (out, _, rendered) = compile_sources(&[("cluster.khc", &src)]);
        assert!(out.is_none() && rendered.contains(want), "{rule}: {rendered}");
    }
    let (out, _, rendered) = compile_sources(&[("cluster.khc", "cluster c {\n  cni flannel\n}\n")]);
    assert!(out.is_none() && rendered.contains("unknown CNI `flannel`"), "{rendered}");
}

/// `api-server` egress with `cni generic` (stated or not) is a `cni` warning on
/// the `api-server` statement naming cilium#20550; a stated CNI silences it; with
/// `cni cilium` a token-mounting workload needs no `api-server` CIDRs (no
/// `unreachable` warning).
#[test]
fn api_server_egress_warns_under_generic() {
    let tenant = "tenant a {\n  workload op { automount-token true }\n}\n";
    for (cni, warned) in [("", true), ("  cni generic\n", true), ("  cni calico\n", false), ("  cni cilium\n", false), ("  cni kube-router\n", false)] {
        let src = format!("cluster c {{\n  kubernetes 1.37\n{cni}  api-server 10.0.0.1/32\n}}\n{tenant}");
        let (_, diags, rendered) = compile_sources(&[("cluster.khc", &src)]);
        let w: Vec<&Diagnostic> = diags.iter().filter(|d| d.code == "cni").collect();
        assert_eq!(w.len(), usize::from(warned), "{cni:?}: {rendered}");
        if warned {
            assert!(!w[0].is_error() && w[0].message.contains("cilium#20550") && w[0].message.contains("a/op"), "{rendered}");
            assert!(src[w[0].primary.span.start as usize..].starts_with("api-server"), "{rendered}");
        }
    }
    // No token-mounting workload: no warning.
    let (_, diags, _) = compile_sources(&[("cluster.khc", "cluster c {\n  api-server 10.0.0.1/32\n}\ntenant a {}\n")]);
    assert!(diags.iter().all(|d| d.code != "cni"), "{diags:?}");
    let (_, diags, rendered) = compile_sources(&[("cluster.khc", &format!("cluster c {{\n  cni cilium\n}}\n{tenant}"))]);
    assert!(diags.iter().all(|d| d.code != "unreachable"), "{rendered}");
    let (_, diags, rendered) = compile_sources(&[("cluster.khc", &format!("cluster c {{\n  cni calico\n}}\n{tenant}"))]);
    assert!(diags.iter().any(|d| d.code == "unreachable"), "{rendered}");
}

/// ClusterNetworkPolicy's CRD needs Kubernetes 1.31 (a 1.30 API server refuses its
/// `isCIDR` rules, `tests/kube_server.rs`): `cni calico` on 1.30 is a `cni` warning
/// and emits no tier (the NetworkPolicies stay), and a DNS-name egress is an error.
#[test]
fn tiers_need_kubernetes_1_31() {
    let src = "cluster c {\n  kubernetes 1.30\n  cni calico\n}\ntenant a {\n  workload web { selector { app \"web\" } }\n}\n";
    let (out, diags, rendered) = compile_sources(&[("cluster.khc", src)]);
    let out = out.unwrap_or_else(|| panic!("{rendered}"));
    let w: Vec<&Diagnostic> = diags.iter().filter(|d| d.code == "cni").collect();
    assert!(w.len() == 1 && !w[0].is_error() && w[0].message.contains("needs 1.31"), "{rendered}");
    assert!(of_kind(&objects(&out), "ClusterNetworkPolicy").is_empty());
    assert!(!of_kind(&objects(&out), "NetworkPolicy").is_empty());
    let (out, _, rendered) = compile_sources(&[("cluster.khc", &src.replace("} }\n}", "} }\n  allow egress to dns \"api.example.com\"\n}"))]);
    assert!(out.is_none() && rendered.contains("needs Kubernetes 1.31"), "{rendered}");
    let (out, _, rendered) = compile_sources(&[("cluster.khc", &src.replace("1.30", "1.31"))]);
    assert_eq!(of_kind(&objects(&out.unwrap_or_else(|| panic!("{rendered}"))), "ClusterNetworkPolicy").len(), 2);
}

/// `khc diff` shows a DNS-name rule (no NetworkPolicy carries it): added is a
/// loosening, removed a tightening, with the statement's line.
#[test]
fn diff_shows_dns_name_egress() {
    let project = |tag: &str, rule: &str| {
        let tmp = kube::TempDir::new(tag);
        let src = format!("cluster c {{\n  kubernetes 1.37\n  cni cilium\n}}\ntenant t {{\n  workload web {{ selector {{ app \"web\" }} }}\n{rule}}}\n");
        std::fs::write(tmp.0.join("main.khc"), src).unwrap();
        let ws = khc_analysis::Workspace::load(&tmp.0).expect("builds");
        (tmp, ws)
    };
    let (_a, old) = project("dns-diff-old", "");
    let (_b, new) = project("dns-diff-new", "  allow egress from workload web to dns \"api.example.com\" ports 443\n");
    let changes = khc_analysis::diff::compare(&old, &new);
    let dns: Vec<_> = changes.iter().filter(|c| c.what.contains("→ dns")).collect();
    assert_eq!(dns.len(), 1, "{changes:#?}");
    assert_eq!(dns[0].what, "t/web → dns api.example.com");
    assert_eq!(dns[0].after, "443/TCP");
    assert_eq!(dns[0].effect, khc_analysis::diff::Effect::Loosened);
    assert_eq!(dns[0].source, "main.khc:7");
    let back = khc_analysis::diff::compare(&new, &old);
    assert!(back.iter().any(|c| c.what.contains("→ dns") && c.effect == khc_analysis::diff::Effect::Tightened), "{back:#?}");
}

/// `khc blast-radius` lists a workload's DNS-name egress with the CNI object that
/// allows it (no NetworkPolicy does).
#[test]
fn blast_radius_lists_dns_name_egress() {
    let tmp = kube::TempDir::new("dns-blast");
    let src = "cluster c {\n  kubernetes 1.37\n  cni cilium\n}\ntenant t {\n  workload web { selector { app \"web\" } }\n  workload db { selector { app \"db\" } }\n  allow egress from workload web to dns \"api.example.com\" \"*.example.org\" ports 443\n}\n";
    std::fs::write(tmp.0.join("main.khc"), src).unwrap();
    let ws = khc_analysis::Workspace::load(&tmp.0).expect("builds");
    let t = ws.tenants().find(|t| t.name == "t").unwrap();
    let radius = |w: &str| khc_analysis::posture::blast_radius(&ws, t, t.workloads.iter().find(|x| x.name == w).unwrap());
    let web = radius("web");
    let dns = web.reaches.iter().find(|r| r.endpoint == "dns api.example.com *.example.org").unwrap_or_else(|| panic!("{:?}", web.reaches));
    assert_eq!(dns.ports.to_string(), "443/TCP");
    assert_eq!(dns.because, ["CiliumNetworkPolicy t/allow-egress-from-web-to-dns-api-example-com (main.khc:8)"]);
    assert!(radius("db").reaches.iter().all(|r| !r.endpoint.starts_with("dns ")), "only the rule's workload");
    // A token-mounting workload reaches the API server as Cilium's entity.
    let ws = khc_analysis::Workspace::load(&repo_root().join("tests/cni/cilium")).expect("builds");
    let t = ws.tenants().find(|t| t.name == "shop").unwrap();
    let worker = khc_analysis::posture::blast_radius(&ws, t, t.workloads.iter().find(|x| x.name == "worker").unwrap());
    let api = worker.reaches.iter().find(|r| r.endpoint == "api-server (Cilium entity kube-apiserver)").unwrap_or_else(|| panic!("{:?}", worker.reaches));
    assert_eq!(api.ports.to_string(), "443/TCP, 6443/TCP");
    assert_eq!(api.because, ["CiliumNetworkPolicy shop-jobs/allow-egress-from-worker-to-api-server (cluster.khc:19)"]);
}
