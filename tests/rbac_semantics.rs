//! Semantic test of the generated RBAC: a small authorizer over the emitted Roles,
//! ClusterRoles and their bindings answers "can SUBJECT do VERB on RESOURCE in
//! NAMESPACE?" as the API server's RBAC authorizer would (for the roles khc
//! declares; built-in ClusterRoles are checked by their bindings only). The
//! authorizer is `khc_tests::rbac` (tests/support/rbac.rs), which `tests/kube_server.rs`
//! also compares with a real API server.

use khc_tests::rbac::{Rbac, Who};
use khc_tests::*;

#[test]
fn rbac_answers_match_the_declared_intent() {
    let rbac = Rbac::new(objects(&example_output()));
    let devs = Who::Group("payments-devs");
    let worker = Who::Sa("payments-jobs", "worker");
    let api = Who::Sa("payments", "api");
    let prometheus = Who::Sa("monitoring", "prometheus");
    let oncall = Who::Group("platform-oncall");
    let ops = Who::Group("billing-ops");
    let cases: Vec<(&str, bool, bool)> = vec![
        ("devs deploy in payments", rbac.can(devs, "create", "apps", "deployments", Some("payments"), None), true),
        ("devs deploy in payments-jobs", rbac.can(devs, "patch", "apps", "deployments", Some("payments-jobs"), None), true),
        ("devs cannot deploy in legacy", rbac.can(devs, "create", "apps", "deployments", Some("legacy-billing"), None), false),
        ("devs read pod logs", rbac.can(devs, "get", "", "pods/log", Some("payments"), None), true),
        ("devs cannot exec into pods", rbac.can(devs, "create", "", "pods/exec", Some("payments"), None), false),
        ("devs cannot delete pods", rbac.can(devs, "delete", "", "pods", Some("payments"), None), false),
        ("devs read the one named secret", rbac.can(devs, "get", "", "secrets", Some("payments"), Some("ledger-db-credentials")), true),
        ("devs cannot read other secrets", rbac.can(devs, "get", "", "secrets", Some("payments"), Some("other")), false),
        ("devs cannot list secrets", rbac.can(devs, "list", "", "secrets", Some("payments"), None), false),
        ("devs cannot touch RBAC", rbac.can(devs, "create", "rbac.authorization.k8s.io", "rolebindings", Some("payments"), None), false),
        ("the worker's SA runs jobs", rbac.can(worker, "create", "batch", "jobs", Some("payments-jobs"), None), true),
        ("the API's SA has no API access", rbac.can(api, "get", "", "pods", Some("payments"), None), false),
        ("prometheus discovers pods in its namespace", rbac.can(prometheus, "list", "", "pods", Some("monitoring"), None), true),
        ("prometheus discovers endpointslices", rbac.can(prometheus, "watch", "discovery.k8s.io", "endpointslices", Some("monitoring"), None), true),
        ("but not in payments", rbac.can(prometheus, "list", "", "pods", Some("payments"), None), false),
        ("on-call reads pods everywhere", rbac.can(oncall, "list", "", "pods", Some("legacy-billing"), None), true),
        ("on-call reads nodes", rbac.can(oncall, "get", "", "nodes", None, None), true),
        ("on-call cannot read secrets", rbac.can(oncall, "get", "", "secrets", Some("payments"), None), false),
        ("on-call cannot write", rbac.can(oncall, "update", "apps", "deployments", Some("payments"), None), false),
        ("billing ops update deployments", rbac.can(ops, "update", "apps", "deployments", Some("legacy-billing"), None), true),
        ("billing ops cannot delete them", rbac.can(ops, "delete", "apps", "deployments", Some("legacy-billing"), None), false),
        ("strangers can do nothing", rbac.can(Who::User("mallory"), "get", "", "pods", Some("payments"), None), false),
    ];
    let wrong: Vec<String> = cases.iter().filter(|(_, got, want)| got != want).map(|(n, got, _)| format!("{n}: got {got}")).collect();
    assert!(wrong.is_empty(), "RBAC differs from intent:\n{}", wrong.join("\n"));
    for ns in ["payments", "payments-jobs"] {
        assert!(rbac.bound_to(Who::Group("payments-auditors"), "view", ns), "auditors get the built-in view role in {ns}");
    }
    assert!(!rbac.bound_to(Who::Group("payments-auditors"), "view", "legacy-billing"));
}
