//! khc writes YAML with its own serializer (`khc_emit::yaml`) instead of serde_yaml_ng.
//! Proof of equivalence over the test corpus — the example, the warning cases of
//! `tests/errors/warn-*.khc` and generated fleets: every emitted object is read back
//! into its typed k8s-openapi (or khc) struct and serialized again by serde_yaml_ng,
//! as khc did before; both texts must parse to the same value and be byte-identical.
//! The writer's cache of long scalars (the admission policies' CEL, the same in
//! every tenant) is held to writing every scalar anew, byte for byte.

use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use khc_emit::encryption::EncryptionConfiguration;
use khc_emit::Output;
use khc_tests::*;
use serde_json::Value;

fn reserialize<T: serde::de::DeserializeOwned + serde::Serialize>(body: &str) -> String {
    let typed: T = serde_yaml_ng::from_str(body).expect("deserializes as its kind");
    serde_yaml_ng::to_string(&typed).expect("serializes")
}

/// What serde_yaml_ng writes for the typed object `body` describes.
fn serde_yaml_ng_text(kind: &str, body: &str) -> String {
    match kind {
        "Namespace" => reserialize::<Namespace>(body),
        "ServiceAccount" => reserialize::<ServiceAccount>(body),
        "Role" => reserialize::<Role>(body),
        "RoleBinding" => reserialize::<RoleBinding>(body),
        "ClusterRole" => reserialize::<ClusterRole>(body),
        "ClusterRoleBinding" => reserialize::<ClusterRoleBinding>(body),
        "NetworkPolicy" => reserialize::<NetworkPolicy>(body),
        "ResourceQuota" => reserialize::<ResourceQuota>(body),
        "LimitRange" => reserialize::<LimitRange>(body),
        "ValidatingAdmissionPolicy" => reserialize::<ValidatingAdmissionPolicy>(body),
        "ValidatingAdmissionPolicyBinding" => reserialize::<ValidatingAdmissionPolicyBinding>(body),
        "FlowSchema" => reserialize::<k8s_openapi::api::flowcontrol::v1::FlowSchema>(body),
        "PriorityLevelConfiguration" => reserialize::<k8s_openapi::api::flowcontrol::v1::PriorityLevelConfiguration>(body),
        "EncryptionConfiguration" => reserialize::<EncryptionConfiguration>(body),
        // API server configuration without a typed Rust model: compared through
        // serde_yaml_ng's own order-preserving value.
        "Policy" | "AdmissionConfiguration" | "AuthenticationConfiguration" | "KubeletConfiguration" => reserialize::<serde_yaml_ng::Value>(body),
        other => panic!("unexpected kind {other}"),
    }
}

fn corpus() -> Vec<(String, Output)> {
    let mut outs = vec![("example".to_string(), example_output())];
    let dir = repo_root().join("tests/errors");
    let mut warn: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("warn-") && p.extension().is_some_and(|e| e == "khc"))
        .collect();
    warn.sort();
    assert!(!warn.is_empty());
    for case in warn {
        let text = std::fs::read_to_string(&case).unwrap();
        let key = format!("errors/{}", case.file_name().unwrap().to_str().unwrap());
        let (out, _, _) = compile_sources(&[(&key, &text)]);
        outs.push((key, out.expect("warning cases compile")));
    }
    for n in [3, 40] {
        let sources = fleet_sources(n);
        let refs: Vec<(&str, &str)> = sources.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (out, diags, rendered) = compile_sources(&refs);
        assert!(out.is_some(), "generated fleet of {n} does not compile: {diags:?}\n{rendered}");
        outs.push((format!("fleet-{n}"), out.unwrap()));
    }
    outs
}

#[test]
fn every_emitted_document_equals_serde_yaml_ng_output() {
    let mut documents = 0;
    for (name, out) in corpus() {
        for f in out.files.iter().filter(|f| f.path.ends_with(".yaml")) {
            // Drop the header comments khc writes above the document.
            let body: String = f.contents.lines().skip_while(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect();
            let ours: Value = serde_yaml_ng::from_str(&body).unwrap_or_else(|e| panic!("{name}: {} does not parse: {e}", f.path));
            if f.path.ends_with("Kustomization") || f.path.ends_with("kustomization.yaml") {
                continue;
            }
            let kind = ours["kind"].as_str().unwrap_or_else(|| panic!("{name}: {} has no kind", f.path));
            if kind.starts_with("Application")
                || (kind == "Kustomization" && ours["apiVersion"] != "kustomize.config.k8s.io/v1beta1")
                || kind == "GitRepository"
            {
                continue; // GitOps engine objects: not from k8s-openapi types, see gitops tests.
            }
            let theirs_text = serde_yaml_ng_text(kind, &body);
            let theirs: Value = serde_yaml_ng::from_str(&theirs_text).unwrap();
            assert_eq!(ours, theirs, "{name}: {} parses differently", f.path);
            assert_eq!(body, theirs_text, "{name}: {} is not byte-identical to serde_yaml_ng's output", f.path);
            documents += 1;
        }
    }
    assert!(documents > 500, "only {documents} documents compared");
}

/// The writer copies a long scalar met before from a per-thread cache
/// (`khc_emit::yaml`, issue 24 item 6): the corpus and a 300-tenant fleet, whose
/// every tenant's admission policies repeat the same CEL, emit the same bytes
/// with the cache as with every scalar written anew (and the cache is used).
#[test]
fn cached_scalars_emit_the_same_bytes_as_uncached() {
    let emit_all = || {
        let mut outs = corpus();
        let sources = fleet_sources(300);
        let refs: Vec<(&str, &str)> = sources.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        outs.push(("fleet-300".into(), compile_sources(&refs).0.expect("the fleet compiles")));
        outs
    };
    let hits = khc_emit::yaml::scalar_cache_hits();
    let cached = emit_all();
    assert!(khc_emit::yaml::scalar_cache_hits() - hits > 3000, "the cache was used");
    let fresh = khc_emit::yaml::uncached(emit_all);
    assert_eq!(cached.len(), fresh.len());
    let mut files = 0;
    for ((name, a), (_, b)) in cached.iter().zip(&fresh) {
        assert_eq!(a.files.len(), b.files.len(), "{name}");
        for (x, y) in a.files.iter().zip(&b.files) {
            assert_eq!(x.path, y.path, "{name}");
            assert!(x.contents == y.contents, "{name}: {} differs with the cache", x.path);
            files += 1;
        }
    }
    assert!(files > 9000, "{files}");
}
