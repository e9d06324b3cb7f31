//! Every emitted object deserializes into its k8s-openapi type (Kubernetes 1.30
//! API) and serializes back to exactly the same document: nothing is unknown to
//! the API and nothing is lost. `kubectl kustomize` renders the whole tree.

use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::flowcontrol::v1::{FlowSchema, PriorityLevelConfiguration};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use khc_emit::encryption::EncryptionConfiguration;
use khc_tests::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn round_trip<T: DeserializeOwned + Serialize>(path: &str, v: &Value) {
    let typed: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{path} does not deserialize as its kind: {e}"));
    let back = serde_json::to_value(&typed).expect("serializes");
    assert_eq!(&back, v, "{path} changed in a round trip through k8s-openapi");
}

#[test]
fn every_object_round_trips_through_k8s_openapi() {
    let out = example_output();
    let objs = objects(&out);
    assert!(objs.len() > 50);
    for (path, v) in &objs {
        match v["kind"].as_str().expect("kind") {
            "Namespace" => round_trip::<Namespace>(path, v),
            "ServiceAccount" => round_trip::<ServiceAccount>(path, v),
            "Role" => round_trip::<Role>(path, v),
            "RoleBinding" => round_trip::<RoleBinding>(path, v),
            "ClusterRole" => round_trip::<ClusterRole>(path, v),
            "ClusterRoleBinding" => round_trip::<ClusterRoleBinding>(path, v),
            "NetworkPolicy" => round_trip::<NetworkPolicy>(path, v),
            "ResourceQuota" => round_trip::<ResourceQuota>(path, v),
            "LimitRange" => round_trip::<LimitRange>(path, v),
            "ValidatingAdmissionPolicy" => round_trip::<ValidatingAdmissionPolicy>(path, v),
            "ValidatingAdmissionPolicyBinding" => round_trip::<ValidatingAdmissionPolicyBinding>(path, v),
            "FlowSchema" => round_trip::<FlowSchema>(path, v),
            "PriorityLevelConfiguration" => round_trip::<PriorityLevelConfiguration>(path, v),
            other => panic!("{path}: unexpected kind {other}"),
        }
    }
}

#[test]
fn encryption_configuration_round_trips_with_strict_fields() {
    let out = example_output();
    let f = out.files.iter().find(|f| f.path.ends_with("control-plane/encryption-config.yaml")).expect("encryption config");
    let v: Value = serde_yaml_ng::from_str(&f.contents).unwrap();
    round_trip::<EncryptionConfiguration>(&f.path, &v);
    assert_eq!(v["apiVersion"], "apiserver.config.k8s.io/v1");
    let providers = v["resources"][0]["providers"].as_array().unwrap();
    assert_eq!(providers[0]["kms"]["apiVersion"], "v2");
    assert!(providers.last().unwrap().get("identity").is_some());
    assert!(!f.contents.contains("c2Vj"), "no key material in output");
}

#[test]
fn kustomize_renders_the_tree() {
    if std::process::Command::new("kubectl").arg("version").arg("--client").output().is_err() {
        eprintln!("SKIPPED kustomize_renders_the_tree: kubectl is not installed on this machine");
        return;
    }
    let out = example_output();
    let dir = std::env::temp_dir().join(format!("khc-kustomize-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for f in &out.files {
        let p = dir.join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &f.contents).unwrap();
    }
    // The entry point renders the cluster unit; each tenant unit renders on its own;
    // together they render every object exactly once.
    let render = |dir: &std::path::Path| {
        let run = std::process::Command::new("kubectl").arg("kustomize").arg(dir).output().expect("run kubectl");
        assert!(run.status.success(), "kubectl kustomize {} failed: {}", dir.display(), String::from_utf8_lossy(&run.stderr));
        let rendered = String::from_utf8(run.stdout).unwrap();
        rendered.matches("\nkind: ").count() + usize::from(rendered.starts_with("kind: "))
    };
    let cluster = dir.join("clusters/prod-eu");
    let mut kinds = render(&cluster);
    assert_eq!(kinds, objects(&out).iter().filter(|(p, _)| p.contains("/cluster/")).count(), "the entry point renders the cluster unit only");
    for t in std::fs::read_dir(cluster.join("tenants")).unwrap() {
        kinds += render(&t.unwrap().path());
    }
    assert_eq!(kinds, objects(&out).len(), "the units should render every object exactly once");
    std::fs::remove_dir_all(&dir).ok();
}
