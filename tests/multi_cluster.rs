//! Several clusters sharing tenant modules (`examples/multi-cluster`): one
//! database for every entry of a directory (shared files parsed once), and the
//! per-cluster overrides `quota-scale` and `admission-mode` (SPEC.md section 4).

use khc_db::{build, check, KhcDatabase};
use khc_emit::Output;
use khc_syntax::FileKey;
use khc_tests::*;

/// The example's sources, keyed as `khc build examples/multi-cluster` keys them.
fn example_sources() -> Vec<(String, String)> {
    let dir = repo_root().join("examples/multi-cluster");
    ["staging.khc", "prod.khc", "tenants/shop.khc", "tenants/observability.khc"]
        .iter()
        .map(|k| (k.to_string(), std::fs::read_to_string(dir.join(k)).expect("example source")))
        .collect()
}

fn file<'a>(out: &'a Output, path: &str) -> &'a str {
    &out.files.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("no {path}")).contents
}

fn yaml(text: &str) -> serde_json::Value {
    serde_yaml_ng::from_str(text).expect("YAML")
}

#[test]
fn entries_share_one_database_and_shared_files_are_parsed_once() {
    let mut db = KhcDatabase::with_log("");
    let mut entries = Vec::new();
    for (key, text) in example_sources() {
        let f = db.set_text(&FileKey::from(key.as_str()), text);
        if !key.contains('/') {
            entries.push(f);
        }
    }
    for &e in &entries {
        db.load_program(e);
    }
    for &e in &entries {
        // Only the `cni` warnings the sources acknowledge (`# khc: allow cni — …`).
        let mut diags = check(&db, e).diagnostics.clone();
        let (key, text) = (e.key(&db).clone(), e.text(&db).to_string());
        khc_db::acknowledge::acknowledge_file(&key, &text, &mut diags);
        assert!(diags.iter().all(|d| d.acknowledged.is_some()), "{diags:?}");
        assert!(build(&db, e).is_some());
    }
    let log = db.take_log();
    let count = |q: &str| log.iter().filter(|l| l.starts_with(&format!("{q}("))).count();
    // staging, prod, shop, observability and std/restricted: each parsed once,
    // although both programs import the tenants and the standard library.
    assert_eq!(count("parse"), 5, "{log:?}");
    // Each tenant is checked and emitted once per cluster (the cluster's settings differ).
    assert_eq!(count("tenant_check"), 4, "{log:?}");
    assert_eq!(count("tenant_files"), 4, "{log:?}");
}

#[test]
fn quota_scale_and_admission_mode_apply_to_the_including_cluster_only() {
    let (out, diags) = compile(&repo_root().join("examples/multi-cluster"));
    assert!(diags.is_empty(), "{diags:?}");
    let quota = |c: &str, t: &str, ns: &str| {
        yaml(file(&out, &format!("clusters/{c}/tenants/{t}/namespaces/{ns}/resourcequota-{t}-quota.yaml")))["spec"]["hard"].clone()
    };
    let prod = quota("prod", "shop", "shop");
    let staging = quota("staging", "shop", "shop");
    assert_eq!(prod["requests.cpu"], "16");
    assert_eq!(staging["requests.cpu"], "4");
    assert_eq!(prod["limits.memory"], "64Gi");
    assert_eq!(staging["limits.memory"], "16Gi");
    assert_eq!(staging["requests.storage"], "50Gi");
    assert_eq!(staging["pods"], "30");
    // Object counts are the application's shape: not scaled.
    assert_eq!(prod["services"], "10");
    assert_eq!(staging["services"], "10");
    assert_eq!(staging["services.loadbalancers"], "0");
    // Rounded up: 10 pods × 0.25 = 2.5 → 3.
    assert_eq!(quota("staging", "observability", "observability")["pods"], "3");

    let actions = |path: &str| yaml(file(&out, path))["spec"]["validationActions"].clone();
    for c in ["prod", "staging"] {
        let want = if c == "prod" { serde_json::json!(["Deny"]) } else { serde_json::json!(["Warn", "Audit"]) };
        assert_eq!(actions(&format!("clusters/{c}/cluster/validatingadmissionpolicybinding-khc-cluster.yaml")), want, "{c}");
        for t in ["shop", "observability"] {
            assert_eq!(actions(&format!("clusters/{c}/tenants/{t}/validatingadmissionpolicybinding-khc-tenant-{t}.yaml")), want, "{c}/{t}");
        }
    }
    // The Pod Security version follows each cluster's `kubernetes`.
    let ns = |c: &str| {
        yaml(file(&out, &format!("clusters/{c}/tenants/shop/namespace-shop.yaml")))["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"].clone()
    };
    assert_eq!(ns("prod"), "v1.35");
    assert_eq!(ns("staging"), "v1.36");
}

/// A tenant without an `admission` block still has its automount-token policy: it
/// follows `admission-mode` too; without the override it denies.
#[test]
fn admission_mode_covers_tenants_without_admission_blocks() {
    let entry = |extra: &str| {
        format!(
            "import \"t.khc\"\ncluster c {{\n  managed-by group \"khc-appliers\"\n  {extra}\n  encryption {{ provider secretbox {{ key k env \"K\" }} }}\n}}\n"
        )
    };
    for (extra, want) in [
        ("", serde_json::json!(["Deny"])),
        ("admission-mode audit", serde_json::json!(["Audit"])),
        ("admission-mode deny audit", serde_json::json!(["Deny", "Audit"])),
    ] {
        let (out, diags, _) = compile_sources(&[("main.khc", &entry(extra)), ("t.khc", "tenant t {}\n")]);
        assert!(diags.is_empty(), "{extra}: {diags:?}");
        let out = out.expect("builds");
        let b = yaml(file(&out, "clusters/c/tenants/t/validatingadmissionpolicybinding-khc-tenant-t.yaml"));
        assert_eq!(b["spec"]["validationActions"], want, "{extra}");
    }
}

#[test]
fn bad_overrides_are_errors() {
    for (stmt, message) in [
        ("quota-scale 0", "is not a quota scale factor"),
        ("quota-scale 0.0001", "is not a quota scale factor"),
        ("quota-scale 101", "is not a quota scale factor"),
        ("quota-scale", "takes one factor"),
        ("quota-scale 1 2", "takes one factor"),
        ("quota-scale 2Gi", "expected a factor"),
        ("admission-mode", "needs `deny`, `warn` or `audit`"),
        ("admission-mode sometimes", "unknown mode `sometimes`"),
        ("admission-mode deny warn", "`deny` and `warn` cannot be combined"),
        ("quota-scale 1\n  quota-scale 2", "twice"),
    ] {
        let text = format!("cluster c {{\n  managed-by group \"khc-appliers\"\n  {stmt}\n  encryption {{ provider secretbox {{ key k env \"K\" }} }}\n}}\n");
        let (out, diags, rendered) = compile_sources(&[("main.khc", &text)]);
        assert!(out.is_none(), "{stmt}: built");
        assert!(diags.iter().any(|d| d.is_error() && d.message.contains(message)), "{stmt}: {rendered}");
    }
    // Scale 1 is the identity; fractional factors round up.
    let with = |stmt: &str| {
        let text = format!(
            "import \"t.khc\"\ncluster c {{\n  managed-by group \"khc-appliers\"\n  {stmt}\n  encryption {{ provider secretbox {{ key k env \"K\" }} }}\n}}\n"
        );
        let t = "tenant t {\n  quota { cpu 1500m; memory 1Gi; pods 7; secrets 9 }\n  limits { request cpu 100m memory 64Mi }\n}\n";
        let (out, diags, _) = compile_sources(&[("main.khc", &text), ("t.khc", t)]);
        assert!(diags.is_empty(), "{stmt}: {diags:?}");
        yaml(file(&out.expect("builds"), "clusters/c/tenants/t/namespaces/t/resourcequota-t-quota.yaml"))["spec"]["hard"].clone()
    };
    assert_eq!(with(""), with("quota-scale 1"));
    let h = with("quota-scale 0.333");
    assert_eq!(h["requests.cpu"], "500m"); // 1500m × 0.333 = 499.5m → 500m
    assert_eq!(h["requests.memory"], "357556028"); // 1Gi × 0.333 = 357556027.392 bytes, rounded up
    assert_eq!(h["pods"], "3"); // 2.331 → 3
    assert_eq!(h["secrets"], "9");
    let h = with("quota-scale 2");
    assert_eq!((h["requests.cpu"].as_str(), h["requests.memory"].as_str(), h["pods"].as_str()), (Some("3"), Some("2Gi"), Some("14")));
}
