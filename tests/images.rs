//! `images { … }` (SPEC.md section 5, "Images"): the two-tenant fixture
//! `tests/images/` compiles to its checked-in tree (`KHC_BLESS=1` rewrites it),
//! and its objects have the shape the real-verifier test relies on: a
//! ClusterImagePolicy per tenant with signatures, the opt-in label on exactly
//! those tenants' namespaces, protected, and the CEL rules in each tenant's policy.
//! The rules' CEL is judged in process by `tests/rule_fixtures.rs`
//! (`tests/rules/require-digest.yaml`, `allowed-image-volumes.yaml`); the
//! diagnostics by the error corpus (`tests/errors/images.khc`).

use khc_emit::Output;
use khc_tests::*;
use serde_json::Value;
use std::path::Path;

fn fixture() -> (Output, Vec<khc_syntax::Diagnostic>) {
    compile(&repo_root().join("tests/images"))
}

/// Compares the fixture's build with `tests/images/generated/` byte for byte.
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

fn named<'a>(objs: &'a [(String, Value)], kind: &str, name: &str) -> Option<&'a Value> {
    objs.iter().map(|(_, v)| v).find(|v| v["kind"] == kind && v["metadata"]["name"] == name)
}

#[test]
fn fixture_matches_its_checked_in_tree() {
    let (out, diags) = fixture();
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    assert_fixture_tree(&repo_root().join("tests/images"), &out);
}

#[test]
fn tenants_with_signatures_get_a_cluster_image_policy_and_the_opt_in_label() {
    let (out, _) = fixture();
    let objs = objects(&out);
    let a = named(&objs, "ClusterImagePolicy", "khc-tenant-a").expect("tenant-a's policy");
    assert_eq!(a["apiVersion"], "policy.sigstore.dev/v1alpha1");
    let names: Vec<&str> = a["spec"]["authorities"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["signed-1", "scanned-1", "other-tenants"]);
    let pem = std::fs::read_to_string(repo_root().join("tests/images/keys/tenant-a.pub")).unwrap();
    assert_eq!(a["spec"]["authorities"][0]["key"]["data"].as_str().unwrap().trim(), pem.trim());
    let att = &a["spec"]["authorities"][1]["attestations"][0];
    assert_eq!(att["predicateType"], "https://cosign.sigstore.dev/attestation/vuln/v1");
    let rego = att["policy"]["data"].as_str().unwrap();
    assert!(
        rego.contains("{\"CRITICAL\"}[v.Severity]") && rego.contains("not {\"CVE-2024-1234\"}[v.VulnerabilityID]") && rego.contains("< 168 * 3600"),
        "{rego}"
    );
    let policy = a["spec"]["policy"]["data"].as_str().unwrap();
    assert!(policy.contains("tenant { {\"tenant-a\"}[input.metadata.namespace] }"), "{policy}");
    assert_eq!(a["spec"]["policy"]["includeObjectMeta"], true);
    let b = named(&objs, "ClusterImagePolicy", "khc-tenant-b").expect("tenant-b's policy");
    let keyless = &b["spec"]["authorities"][1];
    assert_eq!(keyless["keyless"]["identities"][0]["subjectRegExp"], "^https://github.com/acme/b/");
    assert_eq!(keyless["ctlog"]["url"], "https://rekor.sigstore.dev");
    assert!(named(&objs, "ClusterImagePolicy", "khc-tenant-c").is_none(), "no signature requirement, no verifier policy");
    for (ns, opted) in [("tenant-a", true), ("tenant-b", true), ("tenant-c", false)] {
        let n = named(&objs, "Namespace", ns).unwrap();
        assert_eq!(n["metadata"]["labels"]["policy.sigstore.dev/include"] == "true", opted, "{ns}");
    }
}

#[test]
fn the_opt_in_label_and_the_policy_are_protected() {
    let (out, _) = fixture();
    let objs = objects(&out);
    let vap = named(&objs, "ValidatingAdmissionPolicy", "khc-managed-tenant-a").unwrap();
    let text = vap.to_string();
    assert!(text.contains("policy.sigstore.dev/"), "the protected prefixes name the verifier's label");
    assert!(text.contains("clusterimagepolicies//khc-tenant-a"), "the policy is protected by name");
    let rules = vap["spec"]["matchConstraints"]["resourceRules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["apiGroups"][0] == "policy.sigstore.dev" && r["resources"][0] == "clusterimagepolicies" && r["apiVersions"][0] == "*"));
    let c = named(&objs, "ValidatingAdmissionPolicy", "khc-managed-tenant-c").unwrap();
    assert!(!c["spec"]["matchConstraints"]["resourceRules"].to_string().contains("clusterimagepolicies"));
}

#[test]
fn digests_registries_and_image_volumes_are_rules_of_the_tenant_policy() {
    let (out, _) = fixture();
    let objs = objects(&out);
    let messages =
        |t: &str| -> String { named(&objs, "ValidatingAdmissionPolicy", &format!("khc-tenant-tenant-{t}")).unwrap()["spec"]["validations"].to_string() };
    let a = messages("a");
    assert!(a.contains("must come from: registry.example.com/a/ ["), "the tenant's registries within the cluster's: {a}");
    assert!(a.contains("pinned by digest"), "the cluster's `pinned` holds in every tenant");
    assert!(a.contains("image volumes must be one of: registry.example.com/a/data@sha256:"));
    let b = messages("b");
    assert!(b.contains("must come from: registry.example.com/ ["));
    assert!(b.contains("image volumes are not allowed"), "signatures required, no volume-images: no image volume");
    let c = messages("c");
    assert!(c.contains("pinned by digest") && !c.contains("image volumes are not"), "{c}");
}
