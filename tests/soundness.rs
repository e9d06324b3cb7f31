//! Tenant identity cannot be forged, and what khc emits cannot collide: every
//! namespace selector khc emits (NetworkPolicy peers, admission bindings) selects
//! by the immutable `kubernetes.io/metadata.name`, and no two objects share a name.

use khc_tests::*;
use serde_json::Value;
use std::collections::BTreeSet;

/// Every `namespaceSelector` in a value, with where it was found.
fn selectors<'a>(v: &'a Value, path: &str, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "namespaceSelector" {
                    out.push((format!("{path}/{k}"), x));
                }
                selectors(x, &format!("{path}/{k}"), out);
            }
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| selectors(x, &format!("{path}/{i}"), out)),
        _ => {}
    }
}

#[test]
fn namespaces_are_selected_by_their_immutable_name_only() {
    let objects = objects(&example_output());
    let mut checked = 0;
    for (path, obj) in &objects {
        let mut found = Vec::new();
        selectors(obj, "", &mut found);
        for (at, sel) in found {
            checked += 1;
            assert!(sel.get("matchLabels").is_none_or(|m| m.as_object().unwrap().keys().all(|k| k == "kubernetes.io/metadata.name")), "{path}{at}: {sel}");
            for e in sel.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
                assert_eq!(e["key"], "kubernetes.io/metadata.name", "{path}{at}: {sel}");
            }
            let s = sel.to_string();
            assert!(!s.contains("khc.dev/tenant"), "{path}{at} trusts a forgeable label: {s}");
        }
    }
    assert!(checked > 10, "the example has namespace selectors to check ({checked})");
}

#[test]
fn network_policy_names_never_collide() {
    let src = "cluster c {\n  encryption { provider secretbox { key k env \"K\" } }\n}\n\
tenant x { allow ingress from tenant y }\ntenant y {\n  allow ingress from tenant x\n  allow ingress from tenant x ports 80\n  allow ingress from tenant x-2\n  allow egress to tenant x\n}\n\
tenant x-2 { allow egress to tenant y }\n";
    let (out, diags, rendered) = compile_sources(&[("c.khc", src)]);
    let out = out.unwrap_or_else(|| panic!("{diags:?}\n{rendered}"));
    let mut seen = BTreeSet::new();
    for (path, obj) in objects(&out) {
        let key = (obj["kind"].to_string(), obj["metadata"]["namespace"].to_string(), obj["metadata"]["name"].to_string());
        assert!(seen.insert(key.clone()), "two objects {key:?} (second at {path})");
    }
}

#[test]
fn the_default_service_account_cannot_be_a_workload() {
    let src = "cluster c {\n  encryption { provider secretbox { key k env \"K\" } }\n}\ntenant t { workload default { automount-token true } }\n";
    let (out, diags, _) = compile_sources(&[("c.khc", src)]);
    assert!(out.is_none());
    assert!(diags.iter().any(|d| d.message.contains("`default` is reserved")), "{diags:?}");
}

#[test]
fn grants_that_do_nothing_or_shadow_built_ins_are_errors() {
    let src = "cluster c {\n  encryption { provider secretbox { key k env \"K\" } }\n  role cluster-admin { can get on pods }\n}\n\
tenant t {\n  role r {\n    can create on configmaps names \"x\"\n    can get on nodes\n  }\n}\n";
    let (_, diags, _) = compile_sources(&[("c.khc", src)]);
    let messages: Vec<&str> = diags.iter().filter(|d| d.is_error()).map(|d| d.message.as_str()).collect();
    assert!(messages.iter().any(|m| m.contains("`cluster-admin` is a built-in role")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("`names` cannot restrict `create`")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("`nodes` is cluster-scoped")), "{messages:?}");
}

#[test]
fn risky_grants_are_flagged() {
    let src = "cluster c {\n  encryption { provider secretbox { key k env \"K\" } }\n}\n\
tenant t {\n  role r { can create delete on networkpolicies.networking.k8s.io rolebindings.rbac.authorization.k8s.io }\n  grant r to group \"system:serviceaccounts\" user \"system:anonymous\" serviceaccount \"other/sa\" serviceaccount \"t/default\"\n  grant edit to group \"g\"\n}\n";
    let (_, diags, _) = compile_sources(&[("c.khc", src)]);
    let risky: Vec<&str> = diags.iter().filter(|d| d.code == "risky").map(|d| d.message.as_str()).collect();
    for needle in [
        "networkpolicies",
        "rolebindings",
        "system:serviceaccounts",
        "system:anonymous",
        "outside this tenant",
        "default ServiceAccount",
        "built-in role `edit`",
    ] {
        assert!(risky.iter().any(|m| m.contains(needle)), "no warning about {needle}: {risky:?}");
    }
}
