//! What is not one rule's data fixture (those are `tests/rules/NAME.yaml`, run by
//! `tests/rule_fixtures.rs`): Service and PersistentVolumeClaim rules live in the
//! tenant's `.resources` policy, and `nodes { … }` pins pods and limits their
//! tolerations.

use khc_analysis::admission::{resource_of, Admission};
use khc_tests::*;
use serde_json::{json, Value};

/// Compiles a tenant with `rules` on Kubernetes 1.`minor`.
fn admission(rules: &str, minor: u32) -> Admission {
    let source = format!("cluster c {{\n  kubernetes 1.{minor}\n}}\ntenant t {{\n  admission {{\n    {rules}\n  }}\n}}\n");
    let (out, diags, rendered) = compile_sources(&[("main.khc", &source)]);
    let out = out.unwrap_or_else(|| panic!("`{rules}` does not compile: {diags:?}\n{rendered}"));
    Admission::new(&khc_analysis::objects(&out))
}

/// The rules (other than the tenant's own token rule) that reject `object`.
fn denied_by(a: &Admission, object: &Value) -> Vec<String> {
    let (group, resource) = resource_of(object["apiVersion"].as_str().unwrap_or("v1"), object["kind"].as_str().unwrap_or("")).expect("a matched kind");
    let mut out = Vec::new();
    for p in a.policies.iter().filter(|p| p.resources.iter().any(|(g, r)| *g == group && *r == resource)) {
        for v in p.evaluate(object, &["Deny".to_string()]) {
            assert!(v.error.is_none(), "{}: CEL fails to evaluate: {:?}", v.rule, v.error);
            out.push(v.rule);
        }
    }
    out.retain(|r| r != "automount-token");
    out
}

/// A minimal pod with `spec` merged in (JSON pointer → value).
fn pod(changes: &[(&str, Value)]) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "r/app:1"}]}});
    for (pointer, value) in changes {
        put(&mut p, pointer, value.clone());
    }
    p
}

/// Sets the value at a JSON pointer, creating missing parent objects.
fn put(v: &mut Value, pointer: &str, value: Value) {
    let mut target = v;
    let keys: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, key) in keys.iter().enumerate() {
        if i + 1 == keys.len() {
            match target {
                Value::Array(a) => a[key.parse::<usize>().expect("an index")] = value,
                _ => target[*key] = value,
            }
            return;
        }
        target = match target {
            Value::Array(a) => &mut a[key.parse::<usize>().expect("an index")],
            _ => {
                if target.get(*key).is_none() {
                    target[*key] = json!({});
                }
                &mut target[*key]
            }
        };
    }
}

/// Rules that judge Services and claims go to a second policy, so the pod
/// policy never evaluates a Service; pod-only scopes get no second policy.
#[test]
fn service_rules_get_their_own_policy() {
    let a = admission("no-external-ips\n    no-privileged", 37);
    let names: Vec<&str> = a.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"khc-tenant-t.resources"), "{names:?}");
    let second = a.policies.iter().find(|p| p.name == "khc-tenant-t.resources").unwrap();
    assert_eq!(second.bindings.len(), 1);
    assert!(second.resources.contains(&(String::new(), "services".to_string())));
    let a = admission("no-privileged", 37);
    assert!(a.policies.iter().all(|p| !p.name.ends_with(".resources")));
}

/// `nodes { … }`: the tenant's pods carry the nodeSelector pairs and tolerate
/// only the listed taints and the two NoExecute ones Kubernetes adds itself.
#[test]
fn node_isolation_pins_pods_and_limits_tolerations() {
    let source = "cluster c {\n  kubernetes 1.37\n}\ntenant t {\n  nodes {\n    selector pool \"payments\"\n    selector \"topology.kubernetes.io/zone\" \"eu-1a\"\n    toleration dedicated \"payments\"\n    toleration gpu\n  }\n}\n";
    let (out, diags, rendered) = compile_sources(&[("main.khc", source)]);
    let out = out.unwrap_or_else(|| panic!("does not compile: {diags:?}\n{rendered}"));
    let a = Admission::new(&khc_analysis::objects(&out));
    let pinned = [("/spec/nodeSelector", json!({"pool": "payments", "topology.kubernetes.io/zone": "eu-1a", "disk": "ssd"}))];
    let with_tolerations = |t: Value| {
        let mut p = pod(&pinned);
        p["spec"]["tolerations"] = t;
        p
    };
    let default_tolerations = json!([
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    ]);
    let cases: Vec<(&str, Value, bool)> = vec![
        ("pinned", pod(&pinned), false),
        ("pinned with the default tolerations", with_tolerations(default_tolerations), false),
        ("listed toleration", with_tolerations(json!([{"key": "dedicated", "operator": "Equal", "value": "payments", "effect": "NoSchedule"}])), false),
        ("listed key, any value", with_tolerations(json!([{"key": "gpu", "operator": "Exists"}])), false),
        ("no nodeSelector", pod(&[]), true),
        ("one pair missing", pod(&[("/spec/nodeSelector", json!({"pool": "payments"}))]), true),
        ("other pool", pod(&[("/spec/nodeSelector", json!({"pool": "shop", "topology.kubernetes.io/zone": "eu-1a"}))]), true),
        ("other tenant's taint value", with_tolerations(json!([{"key": "dedicated", "value": "shop"}])), true),
        ("Exists on a key listed with a value", with_tolerations(json!([{"key": "dedicated", "operator": "Exists"}])), true),
        ("tolerate everything", with_tolerations(json!([{"operator": "Exists"}])), true),
        (
            "not-ready NoSchedule is not a default",
            with_tolerations(json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}])),
            true,
        ),
        ("control-plane taint", with_tolerations(json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}])), true),
    ];
    let mut problems = Vec::new();
    for (name, object, denied) in cases {
        let found = denied_by(&a, &object);
        let expected: Vec<String> = if denied { vec!["nodes".to_string()] } else { Vec::new() };
        if found != expected {
            problems.push(format!("{name}: denied by {found:?}, expected {expected:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
