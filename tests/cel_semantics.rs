//! Semantic test of the generated admission policies: the CEL in the emitted
//! ValidatingAdmissionPolicy is evaluated (by `khc-analysis`, with the `cel`
//! interpreter) against a
//! compliant pod and controllers, init, ephemeral containers and the other pod
//! kinds, and exactly the expected rules must reject each object. The single
//! violations of each rule are data fixtures (`tests/rules/NAME.yaml`).

use khc_analysis::admission::Admission;
use khc_tests::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const SOURCE: &str = r#"
import "std/restricted"
cluster test {
  kubernetes 1.35
  managed-by group "khc-appliers"
  encryption { provider secretbox { key k1 env "KHC_KEY" } }
}
tenant shop {
  admission {
    use restricted
    allowed-registries "registry.example.com/shop/"
  }
}
"#;

/// The rules of the tenant policy that reject `object`.
fn violations(object: &Value) -> BTreeSet<String> {
    let (out, diags, rendered) = compile_sources(&[("main.khc", SOURCE)]);
    let out = out.unwrap_or_else(|| panic!("does not compile: {diags:?}\n{rendered}"));
    let admission = Admission::new(&khc_analysis::objects(&out));
    let policy = admission.policies.iter().find(|p| p.name == "khc-tenant-shop").expect("tenant policy");
    let found = policy.evaluate(object, &["Deny".to_string()]);
    for v in &found {
        assert!(v.error.is_none(), "{}: CEL fails to evaluate: {:?}", v.rule, v.error);
        assert_ne!(v.rule_source, "?", "every rule names its source");
    }
    found.into_iter().map(|v| v.rule).collect()
}

fn good_spec() -> Value {
    json!({
        "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}, "appArmorProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "app",
            "image": "registry.example.com/shop/api:1.4.2",
            "ports": [{"containerPort": 8443}],
            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
            "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}
        }],
        "volumes": [{"name": "tmp", "emptyDir": {}}]
    })
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}

/// The good pod with one change at a JSON pointer.
fn with(pointer: &str, value: Value) -> Value {
    let mut spec = good_spec();
    set(&mut spec, pointer, value);
    pod(spec)
}

fn set_of(rules: &[&str]) -> BTreeSet<String> {
    rules.iter().map(|s| s.to_string()).collect()
}

#[test]
fn compliant_objects_pass_every_rule() {
    assert_eq!(violations(&pod(good_spec())), set_of(&[]));
    let digest = format!("registry.example.com/shop/api@sha256:{}", "a".repeat(64));
    assert_eq!(violations(&with("/containers/0/image", json!(digest))), set_of(&[]));
    // Container-level settings may replace the pod-level ones.
    let mut spec = good_spec();
    set(&mut spec, "/securityContext", json!({}));
    set(&mut spec, "/containers/0/securityContext/runAsNonRoot", json!(true));
    set(&mut spec, "/containers/0/securityContext/runAsUser", json!(20000));
    set(&mut spec, "/containers/0/securityContext/seccompProfile", json!({"type": "Localhost", "localhostProfile": "p.json"}));
    set(&mut spec, "/containers/0/securityContext/appArmorProfile", json!({"type": "Localhost", "localhostProfile": "k8s-app"}));
    assert_eq!(violations(&pod(spec)), set_of(&[]));
}

#[test]
fn init_containers_are_judged_too() {
    let mut spec = good_spec();
    let mut init = spec["containers"][0].clone();
    init["name"] = json!("init");
    init["securityContext"]["privileged"] = json!(true);
    spec["initContainers"] = json!([init]);
    assert_eq!(violations(&pod(spec)), set_of(&["no-privileged"]));
}

#[test]
fn pod_templates_of_controllers_are_judged() {
    let template = json!({"metadata": {"labels": {"app": "x"}}, "spec": good_spec()});
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"selector": {}, "template": template}});
    assert_eq!(violations(&deployment), set_of(&[]));
    let mut bad = deployment.clone();
    bad["spec"]["template"]["spec"]["hostIPC"] = json!(true);
    assert_eq!(violations(&bad), set_of(&["no-host-namespaces"]));
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}});
    assert_eq!(violations(&cron), set_of(&[]));
    let mut bad = cron;
    bad["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:latest");
    assert_eq!(violations(&bad), set_of(&["no-latest-tag", "allowed-registries"]));
}

/// An ephemeral container (`kubectl debug`) is judged like any other: a debug
/// image from outside the allowed registries, tagged `latest`, run as root with a
/// writable root filesystem, is rejected — once passed by every rule.
#[test]
fn ephemeral_containers_are_judged() {
    let mut spec = good_spec();
    spec["ephemeralContainers"] = json!([{"name": "debug", "image": "docker.io/busybox:latest", "securityContext": {"runAsUser": 0}}]);
    let found = violations(&pod(spec));
    for rule in ["allowed-registries", "no-latest-tag", "read-only-root-fs", "no-privilege-escalation", "min-uid"] {
        assert!(found.contains(rule), "{rule} not applied to the ephemeral container: {found:?}");
    }
    assert!(!found.contains("require-limits"), "ephemeral containers cannot declare resources: {found:?}");
}

/// A pod cannot override its ServiceAccount's `automount-token false`.
#[test]
fn pod_level_token_mounting_is_denied_for_undeclared_workloads() {
    let mut spec = good_spec();
    spec["automountServiceAccountToken"] = json!(true);
    assert!(violations(&pod(spec.clone())).contains("automount-token"));
    spec["automountServiceAccountToken"] = json!(false);
    assert!(!violations(&pod(spec)).contains("automount-token"));
}

/// ReplicationControllers and PodTemplates are matched and their templates judged.
#[test]
fn replication_controllers_and_pod_templates_are_judged() {
    let mut bad = good_spec();
    bad["containers"][0]["image"] = json!("registry.example.com/shop/api:latest");
    let rc = json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"}, "spec": {"template": {"spec": bad.clone()}}});
    let pt = json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "pt"}, "template": {"spec": bad}});
    assert!(violations(&rc).contains("no-latest-tag"));
    assert!(violations(&pt).contains("no-latest-tag"));
    let (out, _, _) = compile_sources(&[("main.khc", SOURCE)]);
    let policy = out.unwrap().files.into_iter().find(|f| f.path.ends_with("validatingadmissionpolicy-khc-tenant-shop.yaml")).unwrap().contents;
    for r in ["pods/ephemeralcontainers", "replicationcontrollers", "podtemplates"] {
        assert!(policy.contains(&format!("- {r}")), "{r} is not matched:\n{policy}");
    }
    let doc: Value = serde_yaml_ng::from_str(&policy).unwrap();
    let condition = doc["spec"]["matchConditions"][0]["expression"].as_str().unwrap_or_default();
    assert!(
        condition.contains("request.operation != 'UPDATE'") && condition.contains("oldObject"),
        "UPDATEs are judged only when the pod spec changes: {condition}"
    );
}

/// `managed-by` keyed on the object (issue 17, items 1, 4 and 6), evaluated as the
/// API server presents each request: a cluster-scoped request has no
/// `request.namespace`, a label-selected `deletecollection` reaches admission
/// once per object with no `request.name` and the object in `oldObject`, and the
/// status and finalize subresources of a namespace carry its labels.
#[test]
fn protection_is_keyed_on_the_object_and_guards_absent_fields() {
    let source = r#"
cluster c {
  kubernetes 1.37
  managed-by serviceaccount "argocd/argocd-application-controller"
  role reader { can get list on pods }
  grant reader to group "readers"
}
tenant t { isolation strict }
"#;
    let (out, diags, rendered) = compile_sources(&[("main.khc", source)]);
    let out = out.unwrap_or_else(|| panic!("does not compile: {diags:?}\n{rendered}"));
    let admission = Admission::new(&khc_analysis::objects(&out));
    let cluster = admission.policies.iter().find(|p| p.name == "khc-managed-by").expect("cluster protection");
    let tenant = admission.policies.iter().find(|p| p.name == "khc-managed-t").expect("tenant protection");
    for sub in ["namespaces/status", "namespaces/finalize", "resourcequotas/status"] {
        assert!(tenant.resources.contains(&(String::new(), sub.to_string())), "khc-managed-t does not match {sub}");
    }
    let deny = ["Deny".to_string()];
    let user = |name: &str| json!({"username": name, "groups": ["system:authenticated"]});
    let cluster_request = |op: &str, resource: &str, name: Option<&str>, who: Value| {
        let mut r = json!({"operation": op, "resource": {"group": "rbac.authorization.k8s.io", "version": "v1", "resource": resource}, "userInfo": who});
        if let Some(n) = name {
            r["name"] = json!(n);
        }
        r
    };
    let role = |name: &str, khc: bool| {
        let mut r = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": []});
        if khc {
            r["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "khc"});
        }
        r
    };
    let judged = |p: &khc_analysis::admission::Policy, req: &Value, obj: &Value, old: &Value| -> Option<Vec<String>> {
        p.evaluate_request(req, obj, old, &deny).map(|v| v.into_iter().map(|v| format!("{}: {}", v.message, v.error.unwrap_or_default())).collect())
    };
    // A foreign ClusterRole created by a permitted user: no `request.namespace`.
    let r = judged(cluster, &cluster_request("CREATE", "clusterroles", Some("foreign"), user("alice")), &role("foreign", false), &Value::Null);
    assert_eq!(r, Some(vec![]), "a foreign ClusterRole is refused");
    // The aggregation controller updating `edit` (as its own ServiceAccount).
    let aggregator = user("system:serviceaccount:kube-system:clusterrole-aggregation-controller");
    let r = judged(cluster, &cluster_request("UPDATE", "clusterroles", Some("edit"), aggregator), &role("edit", false), &role("edit", false));
    assert_eq!(r, Some(vec![]), "the aggregation controller is refused");
    // khc's ClusterRole stays protected: by name, and by label.
    let r = judged(cluster, &cluster_request("UPDATE", "clusterroles", Some("reader"), user("alice")), &role("reader", false), &role("reader", true));
    assert!(r.is_some_and(|v| v.len() == 1), "khc's ClusterRole is not protected");
    let r = judged(cluster, &cluster_request("DELETE", "clusterrolebindings", Some("reader"), user("alice")), &Value::Null, &role("reader", false));
    assert!(r.is_some_and(|v| v.len() == 1), "khc's ClusterRoleBinding may be deleted");
    // The applier is not judged.
    let applier = user("system:serviceaccount:argocd:argocd-application-controller");
    assert_eq!(judged(cluster, &cluster_request("DELETE", "clusterroles", Some("reader"), applier), &Value::Null, &role("reader", true)), None);

    // A tenant's label-selected deletecollection of NetworkPolicies: one DELETE per
    // object, no name in the request.
    let netpol = |name: &str, khc: bool| {
        let mut n = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": "t", "labels": {"team": "a"}}, "spec": {"podSelector": {}}});
        if khc {
            n["metadata"]["labels"]["app.kubernetes.io/managed-by"] = json!("khc");
        }
        n
    };
    let collection_delete = json!({"operation": "DELETE", "namespace": "t", "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "networkpolicies"}, "userInfo": user("dev")});
    assert_eq!(
        judged(tenant, &collection_delete, &Value::Null, &netpol("mine", false)),
        Some(vec![]),
        "a tenant's own NetworkPolicy cannot be deleted by label"
    );
    assert!(
        judged(tenant, &collection_delete, &Value::Null, &netpol("default-deny", false)).is_some_and(|v| v.len() == 1),
        "khc's default-deny deleted by collection"
    );
    assert!(
        judged(tenant, &collection_delete, &Value::Null, &netpol("sneaky", true)).is_some_and(|v| v.len() == 1),
        "a khc-labelled object deleted by collection"
    );

    // Pod Security labels through the status and finalize subresources.
    let ns = |level: &str| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t", "labels": {"kubernetes.io/metadata.name": "t", "khc.dev/tenant": "t", "pod-security.kubernetes.io/enforce": level}}});
    for sub in ["status", "finalize"] {
        let req = json!({"operation": "UPDATE", "name": "t", "namespace": "t", "subResource": sub, "resource": {"group": "", "version": "v1", "resource": "namespaces"}, "userInfo": user("dev")});
        assert!(judged(tenant, &req, &ns("privileged"), &ns("restricted")).is_some_and(|v| v.len() == 1), "namespaces/{sub} relabels");
        assert_eq!(judged(tenant, &req, &ns("restricted"), &ns("restricted")), Some(vec![]), "namespaces/{sub} without a label change is refused");
    }
}
