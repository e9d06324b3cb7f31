//! `images { … }` (SPEC.md section 5, "Images"): the two-tenant fixture
//! `tests/images/` compiles to its checked-in tree (`KHC_BLESS=1` rewrites it),
//! and its objects have the shape the real-verifier test relies on: a
//! ClusterImagePolicy per tenant with signatures, the opt-in label on exactly
//! those tenants' namespaces, protected, and the CEL rules in each tenant's policy.
//! The rules' CEL is judged in process by `tests/rule_fixtures.rs`
//! (`tests/rules/require-digest.yaml`, `allowed-image-volumes.yaml`); the
//! diagnostics by the error corpus (`tests/errors/images.khc`).

use khc_emit::Output;
use khc_tests::kube;
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

/// A copy of the fixture (sources and keys, not `generated/`) with `edit`
/// applied to `cluster.khc`, loaded for the query commands.
fn variant(tag: &str, edit: impl Fn(String) -> String) -> (kube::TempDir, khc_analysis::Workspace) {
    let tmp = kube::TempDir::new(tag);
    let src = repo_root().join("tests/images");
    std::fs::create_dir_all(tmp.0.join("keys")).unwrap();
    for k in ["tenant-a", "tenant-b", "scanner"] {
        std::fs::copy(src.join(format!("keys/{k}.pub")), tmp.0.join(format!("keys/{k}.pub"))).unwrap();
    }
    let text = std::fs::read_to_string(src.join("cluster.khc")).unwrap();
    std::fs::write(tmp.0.join("cluster.khc"), edit(text)).unwrap();
    let ws = khc_analysis::Workspace::load(&tmp.0).unwrap_or_else(|e| panic!("{e:?}"));
    (tmp, ws)
}

fn effect_of(changes: &[khc_analysis::diff::Change], what: &str) -> khc_analysis::diff::Effect {
    let c: Vec<_> = changes.iter().filter(|c| c.category == "images" && c.what.ends_with(what)).collect();
    assert_eq!(c.len(), 1, "one `images` change about {what:?}: {changes:#?}");
    c[0].effect
}

/// `khc diff`: removing a signature requirement (and each other weakening of
/// SPEC section 5, "Images") is a loosening; adding one a tightening.
#[test]
fn diff_reports_a_removed_signature_requirement_as_a_loosening() {
    use khc_analysis::diff::{compare, Effect};
    let (_a, old) = variant("images-diff-old", |s| s);
    let (_s, same) = variant("images-diff-same", |s| s);
    assert!(compare(&old, &same).is_empty());
    let (_b, new) = variant("images-diff-unsigned", |s| s.replace("    signed-by key \"keys/tenant-a.pub\"\n", ""));
    let changes = compare(&old, &new);
    assert_eq!(effect_of(&changes, "tenant tenant-a images signed by key \"keys/tenant-a.pub\""), Effect::Loosened);
    let (_c, back) = variant("images-diff-resigned", |s| s);
    assert_eq!(effect_of(&compare(&new, &back), "signed by key \"keys/tenant-a.pub\""), Effect::Tightened);
    let (_d, weaker) = variant("images-diff-weaker", |s| {
        s.replace("max-age 7d deny-at critical {", "max-age 30d deny-at critical {\n      allow \"CVE-2025-9\" because \"fixed upstream\"")
            .replace(
                "    signed-by keyless",
                "    volume-images \"registry.example.com/b/d@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n    signed-by keyless",
            )
            .replace("    registries \"registry.example.com/a/\"\n", "    registries \"registry.example.com/a/\" \"registry.example.com/shared/\"\n")
            .replace("  images {\n    registries \"registry.example.com/\"\n    pinned\n  }", "  images {\n    registries \"registry.example.com/\"\n  }")
    });
    let changes = compare(&old, &weaker);
    assert_eq!(effect_of(&changes, "max-age"), Effect::Loosened);
    assert_eq!(effect_of(&changes, "accepts CVE-2025-9"), Effect::Loosened);
    assert_eq!(effect_of(&changes, "tenant tenant-b images volume images"), Effect::Loosened);
    assert_eq!(effect_of(&changes, "tenant tenant-a images from registries"), Effect::Loosened);
    assert_eq!(effect_of(&changes, "tenant tenant-c images pinned by digest"), Effect::Loosened);
    let (_e, raised) = variant("images-diff-raised", |s| s.replace("deny-at critical", "deny-at high"));
    assert_eq!(effect_of(&compare(&old, &raised), "deny-at"), Effect::Tightened, "high denies more than critical");
    assert_eq!(effect_of(&compare(&raised, &old), "deny-at"), Effect::Loosened);
    let (_f, unscanned) = variant("images-diff-unscanned", |s| {
        s.replace("scanned-by key", "# scanned-by key").replace("      allow", "#      allow").replace("    }\n    volume-images", "    volume-images")
    });
    assert_eq!(effect_of(&compare(&old, &unscanned), "scanned (attestation signed by key \"keys/scanner.pub\")"), Effect::Loosened);
}

/// `khc eval`: digests, registries and image volumes are judged offline (the
/// admission rules); signatures and scans are reported as checked at admission.
#[test]
fn eval_judges_digests_offline_and_defers_signatures_to_the_verifier() {
    let (_t, ws) = variant("images-eval", |s| s);
    let digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: ok, namespace: tenant-a}}\nspec:\n  containers:\n  - {{name: app, image: \"registry.example.com/a/app@sha256:{digest}\"}}\n---\n\
apiVersion: v1\nkind: Pod\nmetadata: {{name: bad, namespace: tenant-a}}\nspec:\n  containers:\n  - {{name: app, image: \"docker.io/app:v1\"}}\n  volumes:\n  - {{name: d, image: {{reference: \"registry.example.com/a/other@sha256:{digest}\"}}}}\n"
    );
    let manifests = khc_analysis::manifest::parse("pods.yaml", &yaml).unwrap();
    let findings = khc_analysis::eval::evaluate_all(&ws, &manifests, "default");
    let of = |obj: &str, check: &str, rule: &str| findings.iter().filter(|f| f.object == obj && f.check == check && f.rule == rule).collect::<Vec<_>>();
    let info = of("Pod/ok", "images", "signed-by");
    assert_eq!(info.len(), 1, "{findings:#?}");
    assert!(info[0].message.contains("checked at admission by policy-controller") && info[0].message.contains("keys/tenant-a.pub"), "{}", info[0].message);
    assert!(
        findings.iter().filter(|f| f.object == "Pod/ok").all(|f| f.check != "admission"),
        "a pinned image from the tenant's registry passes: {findings:#?}"
    );
    for rule in ["require-digest", "allowed-registries", "allowed-image-volumes"] {
        assert_eq!(of("Pod/bad", "admission", rule).len(), 1, "{rule}: {findings:#?}");
    }
}

/// `khc report`: a row for the signatures and one for the scans.
#[test]
fn report_has_a_row_per_requirement() {
    let (_t, ws) = variant("images-report", |s| s);
    let rows = khc_analysis::report::compliance(&ws);
    let row = |id: &str| rows.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("no row {id}"));
    let enforcer = |id: &str, t: &str| row(id).tenants[t].enforcer;
    use khc_analysis::report::Enforcer::{Khc, Neither};
    assert_eq!([enforcer("recommended/image-signatures", "tenant-a"), enforcer("recommended/image-signatures", "tenant-c")], [Khc, Neither]);
    assert_eq!([enforcer("recommended/image-scans", "tenant-a"), enforcer("recommended/image-scans", "tenant-b")], [Khc, Neither]);
    assert_eq!(enforcer("recommended/require-digest", "tenant-c"), Khc, "the cluster's `pinned` holds in every tenant");
    assert!(row("recommended/image-scans").tenants["tenant-a"].sources[0].contains("deny at critical and above, max age 168h, accepting CVE-2024-1234"));
}

/// `khc fmt` lays out an `images` block like any other (the generic statement
/// form): the fixture is canonical, and a squeezed copy formats back to it.
#[test]
fn fmt_lays_out_images_blocks() {
    let text = std::fs::read_to_string(repo_root().join("tests/images/cluster.khc")).unwrap();
    assert!(khc_fmt::check(&text), "tests/images/cluster.khc is not in `khc fmt` layout");
    let squeezed = text
        .replace("  images {\n    signed-by key \"keys/tenant-b.pub\"\n", "  images { signed-by key \"keys/tenant-b.pub\"\n")
        .replace("    pinned\n", "    pinned;\n");
    assert_ne!(squeezed, text);
    assert_eq!(khc_fmt::format(&squeezed).text, text);
}

/// policy-controller v0.13.1's ClusterImagePolicy CRD, from `KHC_SUPPLY_CONFIG`
/// (the module's `config/`, set by the supply setup) or the Go module cache.
fn cip_crd() -> Option<Value> {
    let dir = std::env::var_os("KHC_SUPPLY_CONFIG").map(std::path::PathBuf::from).or_else(|| {
        let out = std::process::Command::new("go").args(["env", "GOMODCACHE"]).output().ok()?;
        let cache = String::from_utf8(out.stdout).ok()?;
        Some(Path::new(cache.trim()).join("github.com/sigstore/policy-controller@v0.13.1/config"))
    })?;
    let text = std::fs::read_to_string(dir.join("300-clusterimagepolicy.yaml")).ok()?;
    serde_yaml_ng::from_str(&text).ok()
}

/// Structural validation against an OpenAPI v3 schema as the API server prunes
/// and checks it: types, required fields, and unknown fields (an error here,
/// where the server would silently drop them).
fn validate(v: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
    let ty = schema["type"].as_str().unwrap_or("");
    let ok = match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        _ => true,
    };
    if !ok {
        errors.push(format!("{path}: expected {ty}, found {v}"));
        return;
    }
    if let Some(req) = schema["required"].as_array() {
        for r in req.iter().filter_map(Value::as_str) {
            if v.get(r).is_none() {
                errors.push(format!("{path}: missing required `{r}`"));
            }
        }
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if let Some(p) = schema["properties"].get(k) {
                    validate(x, p, &format!("{path}.{k}"), errors);
                } else if schema["additionalProperties"].is_object() {
                    validate(x, &schema["additionalProperties"], &format!("{path}.{k}"), errors);
                } else if schema["properties"].is_object() && schema["x-kubernetes-preserve-unknown-fields"] != true {
                    errors.push(format!("{path}: unknown field `{k}`"));
                }
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                validate(x, &schema["items"], &format!("{path}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

/// The emitted ClusterImagePolicies validate against policy-controller
/// v0.13.1's CRD (its storage version `v1alpha1`), no field unknown.
#[test]
fn cluster_image_policies_validate_against_the_crd() {
    let Some(crd) = cip_crd() else {
        let why = "policy-controller v0.13.1's config/ is neither at KHC_SUPPLY_CONFIG nor in the Go module cache (`go mod download github.com/sigstore/policy-controller@v0.13.1`)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("cluster_image_policies_validate_against_the_crd: {why}");
        }
        eprintln!("SKIPPED cluster_image_policies_validate_against_the_crd: {why}");
        return;
    };
    let version = crd["spec"]["versions"].as_array().unwrap().iter().find(|v| v["name"] == "v1alpha1").expect("the CRD serves v1alpha1");
    let schema = &version["schema"]["openAPIV3Schema"];
    let (out, _) = fixture();
    let objs = objects(&out);
    let cips: Vec<&Value> = of_kind(&objs, "ClusterImagePolicy");
    assert_eq!(cips.len(), 2);
    for cip in cips {
        let mut errors = Vec::new();
        // metadata is the API server's ObjectMeta, not in the CRD's schema.
        validate(&cip["spec"], &schema["properties"]["spec"], "spec", &mut errors);
        assert!(errors.is_empty(), "{}: {errors:#?}", cip["metadata"]["name"]);
    }
    // The validator sees what it should.
    let mut errors = Vec::new();
    validate(&serde_json::json!({ "authorities": [{ "name": "x", "keyy": {} }] }), &schema["properties"]["spec"], "spec", &mut errors);
    assert!(errors.iter().any(|e| e.contains("unknown field `keyy`")), "{errors:?}");
}
