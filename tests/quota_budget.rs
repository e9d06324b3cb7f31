//! A tenant budget (`quota { budget tenant; … }`, SPEC.md section 10): the
//! amounts are the tenant's total, split across its namespaces at compile time
//! (evenly, by `share`, or explicit amounts per namespace), each namespace's
//! amount rounded down so the namespaces never hold more than the budget; the
//! split follows `quota-scale`; explicit amounts beyond the budget are an error.

use khc_emit::Output;
use khc_tests::*;

/// Compiles one tenant `t` (namespaces `a b c`) with `quota` body `body`, in a
/// cluster with `extra` settings.
fn compile_quota(body: &str, extra: &str) -> (Option<Output>, String) {
    let src = format!(
        "cluster c {{\n  managed-by group \"khc-appliers\"\n  {extra}\n  encryption {{ provider secretbox {{ key k env \"K\" }} }}\n}}\n\
         tenant t {{\n  namespaces a b c\n  limits {{ request cpu 100m memory 64Mi }}\n  quota {{\n{body}\n  }}\n}}\n"
    );
    let (out, _, rendered) = compile_sources(&[("main.khc", &src)]);
    (out, rendered)
}

/// The `spec.hard` of namespace `ns`'s ResourceQuota.
fn hard(out: &Output, ns: &str) -> serde_json::Value {
    let path = format!("clusters/c/tenants/t/namespaces/{ns}/resourcequota-t-quota.yaml");
    let text = &out.files.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("no {path}")).contents;
    let v: serde_json::Value = serde_yaml_ng::from_str(text).expect("yaml");
    v["spec"]["hard"].clone()
}

fn built(body: &str, extra: &str) -> Output {
    let (out, rendered) = compile_quota(body, extra);
    assert!(!rendered.contains("error"), "{rendered}");
    out.expect("builds")
}

#[test]
fn without_a_budget_every_namespace_gets_the_amounts() {
    let out = built("cpu 6; memory 12Gi; pods 30", "");
    for ns in ["a", "b", "c"] {
        assert_eq!(hard(&out, ns), serde_json::json!({"requests.cpu": "6", "requests.memory": "12Gi", "pods": "30"}), "{ns}");
    }
}

#[test]
fn an_even_split_divides_the_budget() {
    let out = built("budget tenant; cpu 6; memory 12Gi; pods 30; services 10", "");
    for ns in ["a", "b", "c"] {
        assert_eq!(hard(&out, ns), serde_json::json!({"requests.cpu": "2", "requests.memory": "4Gi", "pods": "10", "services": "3"}), "{ns}");
    }
}

#[test]
fn an_uneven_split_rounds_each_namespace_down() {
    // 1 CPU = 1000m / 3 = 333m (999m in all); 1Gi / 3 = 357913941 bytes
    // (1073741823 in all, one byte under the budget); 10 pods / 3 = 3.
    let out = built("budget tenant; cpu 1; memory 1Gi; pods 10", "");
    for ns in ["a", "b", "c"] {
        assert_eq!(hard(&out, ns), serde_json::json!({"requests.cpu": "333m", "requests.memory": "357913941", "pods": "3"}), "{ns}");
    }
}

#[test]
fn shares_weight_the_split() {
    let out = built("budget tenant; share a 2; cpu 6; memory 6Gi", "");
    assert_eq!(hard(&out, "a"), serde_json::json!({"requests.cpu": "3", "requests.memory": "3Gi"}));
    assert_eq!(hard(&out, "b"), serde_json::json!({"requests.cpu": "1500m", "requests.memory": "1536Mi"}));
    assert_eq!(hard(&out, "c"), hard(&out, "b"));
}

#[test]
fn explicit_amounts_take_their_part_and_the_rest_is_split() {
    let out = built("budget tenant; namespace c cpu 1 pods 4; share a 2; cpu 6; memory 6Gi; pods 10", "");
    // `c` has no explicit memory: it takes part in the memory split (weight 1),
    // so no namespace is left without a memory quota.
    assert_eq!(hard(&out, "c"), serde_json::json!({"requests.cpu": "1", "requests.memory": "1536Mi", "pods": "4"}));
    // 5 CPUs left, weights 2:1 → 3333m and 1666m (4999m, under the budget).
    assert_eq!(hard(&out, "a"), serde_json::json!({"requests.cpu": "3333m", "requests.memory": "3Gi", "pods": "4"}));
    assert_eq!(hard(&out, "b"), serde_json::json!({"requests.cpu": "1666m", "requests.memory": "1536Mi", "pods": "2"}));
}

#[test]
fn quota_scale_scales_the_budget_before_the_split() {
    // 6 × 0.25 = 1.5 CPUs: 500m each; the explicit 1 CPU of `c` scales to 250m.
    let out = built("budget tenant; cpu 6", "quota-scale 0.25");
    for ns in ["a", "b", "c"] {
        assert_eq!(hard(&out, ns), serde_json::json!({"requests.cpu": "500m"}), "{ns}");
    }
    let out = built("budget tenant; namespace c cpu 1; cpu 6", "quota-scale 0.25");
    assert_eq!(hard(&out, "c"), serde_json::json!({"requests.cpu": "250m"}));
    assert_eq!(hard(&out, "a"), serde_json::json!({"requests.cpu": "625m"}));
}

#[test]
fn explicit_amounts_beyond_the_budget_are_an_error() {
    let (out, rendered) = compile_quota("budget tenant; namespace a cpu 4; namespace b cpu 2500m; cpu 6", "");
    assert!(out.is_none(), "{rendered}");
    assert!(rendered.contains("error[conflict]: the namespaces' `requests.cpu` add up to more than the tenant budget"), "{rendered}");
    assert!(rendered.contains("the explicit amounts reach 6500m here; the budget is 6"), "{rendered}");
    // Exactly the budget is fine (the others get nothing).
    let out = built("budget tenant; namespace a cpu 4; namespace b cpu 2; cpu 6", "");
    assert_eq!(hard(&out, "c"), serde_json::json!({"requests.cpu": "0"}));
}

#[test]
fn misused_budget_statements_are_errors() {
    for (body, want) in [
        ("share a 2; cpu 6", "`share` and `namespace` split a tenant budget: add `budget tenant`"),
        ("budget tenant; share z 2; cpu 6", "`z` is not a namespace of this tenant"),
        ("budget tenant; share a 0; cpu 6", "`share` takes a namespace and a whole weight"),
        ("budget namespace; cpu 6", "`budget` takes `tenant`"),
        ("budget tenant; namespace a memory 1Gi; cpu 6", "namespace `a` sets `requests.memory` but the tenant budget has no `requests.memory`"),
        ("budget tenant; namespace a; cpu 6", "`namespace` takes a namespace and amounts"),
    ] {
        let (_, rendered) = compile_quota(body, "");
        assert!(rendered.contains(want), "{body}: {rendered}");
    }
}
