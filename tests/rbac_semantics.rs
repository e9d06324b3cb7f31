//! Semantic test of the generated RBAC: the authorizer of `khc-analysis` over the
//! emitted Roles, ClusterRoles and their bindings (and Kubernetes' built-in
//! user-facing ClusterRoles) answers "can SUBJECT do VERB on RESOURCE in
//! NAMESPACE?" as the API server's RBAC authorizer would.

use khc_analysis::rbac::{Rbac, Request, Subject};
use khc_tests::*;

fn can(rbac: &Rbac, who: &Subject, verb: &str, group: &str, resource: &str, namespace: Option<&str>, name: Option<&str>) -> bool {
    let res = if group.is_empty() {
        resource.to_string()
    } else {
        match resource.split_once('/') {
            Some((r, sub)) => format!("{r}.{group}/{sub}"),
            None => format!("{resource}.{group}"),
        }
    };
    rbac.can(who, &Request::new(verb, &res, namespace, name))
}

#[test]
fn rbac_answers_match_the_declared_intent() {
    let rbac = Rbac::new(&khc_analysis::objects(&example_output()));
    let devs = Subject::group("oidc:payments-devs");
    let worker = Subject::sa("payments-jobs", "worker");
    let api = Subject::sa("payments", "api");
    let prometheus = Subject::sa("monitoring", "prometheus");
    let oncall = Subject::group("oidc:platform-oncall");
    let ops = Subject::group("oidc:billing-ops");
    let auditors = Subject::group("oidc:payments-auditors");
    let cases: Vec<(&str, bool, bool)> = vec![
        ("devs deploy in payments", can(&rbac, &devs, "create", "apps", "deployments", Some("payments"), None), true),
        ("devs deploy in payments-jobs", can(&rbac, &devs, "patch", "apps", "deployments", Some("payments-jobs"), None), true),
        ("devs cannot deploy in legacy", can(&rbac, &devs, "create", "apps", "deployments", Some("legacy-billing"), None), false),
        ("devs read pod logs", can(&rbac, &devs, "get", "", "pods/log", Some("payments"), None), true),
        ("devs cannot exec into pods", can(&rbac, &devs, "create", "", "pods/exec", Some("payments"), None), false),
        ("devs cannot delete pods", can(&rbac, &devs, "delete", "", "pods", Some("payments"), None), false),
        ("devs read the one named secret", can(&rbac, &devs, "get", "", "secrets", Some("payments"), Some("ledger-db-credentials")), true),
        ("devs cannot read other secrets", can(&rbac, &devs, "get", "", "secrets", Some("payments"), Some("other")), false),
        ("devs cannot list secrets", can(&rbac, &devs, "list", "", "secrets", Some("payments"), None), false),
        ("devs cannot touch RBAC", can(&rbac, &devs, "create", "rbac.authorization.k8s.io", "rolebindings", Some("payments"), None), false),
        ("the worker's SA runs jobs", can(&rbac, &worker, "create", "batch", "jobs", Some("payments-jobs"), None), true),
        ("the API's SA has no API access", can(&rbac, &api, "get", "", "pods", Some("payments"), None), false),
        ("prometheus discovers pods in its namespace", can(&rbac, &prometheus, "list", "", "pods", Some("monitoring"), None), true),
        ("prometheus discovers endpointslices", can(&rbac, &prometheus, "watch", "discovery.k8s.io", "endpointslices", Some("monitoring"), None), true),
        ("but not in payments", can(&rbac, &prometheus, "list", "", "pods", Some("payments"), None), false),
        ("on-call reads pods everywhere", can(&rbac, &oncall, "list", "", "pods", Some("legacy-billing"), None), true),
        ("on-call reads nodes", can(&rbac, &oncall, "get", "", "nodes", None, None), true),
        ("on-call cannot read secrets", can(&rbac, &oncall, "get", "", "secrets", Some("payments"), None), false),
        ("on-call cannot write", can(&rbac, &oncall, "update", "apps", "deployments", Some("payments"), None), false),
        ("billing ops update deployments", can(&rbac, &ops, "update", "apps", "deployments", Some("legacy-billing"), None), true),
        ("billing ops cannot delete them", can(&rbac, &ops, "delete", "apps", "deployments", Some("legacy-billing"), None), false),
        ("auditors read pod logs through the built-in view role", can(&rbac, &auditors, "get", "", "pods/log", Some("payments"), None), true),
        ("auditors list deployments through view", can(&rbac, &auditors, "list", "apps", "deployments", Some("payments-jobs"), None), true),
        ("auditors cannot read secrets (view excludes them)", can(&rbac, &auditors, "get", "", "secrets", Some("payments"), None), false),
        ("auditors cannot create pods", can(&rbac, &auditors, "create", "", "pods", Some("payments"), None), false),
        ("auditors cannot exec (view has no pods/exec)", can(&rbac, &auditors, "get", "", "pods/exec", Some("payments"), None), false),
        ("auditors have nothing in legacy", can(&rbac, &auditors, "get", "", "pods", Some("legacy-billing"), None), false),
        ("strangers can do nothing", can(&rbac, &Subject::user("mallory"), "get", "", "pods", Some("payments"), None), false),
    ];
    let wrong: Vec<String> = cases.iter().filter(|(_, got, want)| got != want).map(|(n, got, _)| format!("{n}: got {got}")).collect();
    assert!(wrong.is_empty(), "RBAC differs from intent:\n{}", wrong.join("\n"));
    for ns in ["payments", "payments-jobs"] {
        assert!(rbac.bound_to(&Subject::group("oidc:payments-auditors"), "view", ns), "auditors get the built-in view role in {ns}");
    }
    assert!(!rbac.bound_to(&Subject::group("oidc:payments-auditors"), "view", "legacy-billing"));
}

#[test]
fn builtin_roles_are_expanded_with_aggregation() {
    let roles = khc_analysis::rbac::builtin_roles();
    let role = |n: &str| roles.iter().find(|r| r.name == n).unwrap_or_else(|| panic!("built-in {n}"));
    let allows = |n: &str, verb: &str, res: &str| role(n).rules.iter().any(|r| r.allows(&Request::new(verb, res, Some("ns"), None)));
    assert!(allows("view", "get", "pods/log") && !allows("view", "get", "secrets"));
    assert!(allows("edit", "get", "pods") && allows("edit", "create", "pods/exec") && allows("edit", "get", "secrets"));
    assert!(!allows("edit", "create", "rolebindings.rbac.authorization.k8s.io"));
    assert!(allows("admin", "create", "rolebindings.rbac.authorization.k8s.io") && allows("admin", "watch", "deployments.apps/scale"));
    assert!(allows("cluster-admin", "escalate", "clusterroles.rbac.authorization.k8s.io"));
    assert!(!allows("view", "create", "pods"));
}

#[test]
fn creating_pods_borrows_a_service_accounts_permissions() {
    let src = r#"
cluster c {
  kubernetes 1.35
  managed-by group "khc-appliers"
  encryption { provider secretbox { key k env "K" } }
}
tenant shop {
  workload operator { automount-token true }
  role reader { can get on secrets names "db" }
  role runner { can create on pods }
  grant reader to workload operator
  grant runner to group "ci"
  grant edit to group "devs"
}
"#;
    let (out, diags, rendered) = compile_sources(&[("main.khc", src)]);
    let out = out.unwrap_or_else(|| panic!("{diags:?}\n{rendered}"));
    let rbac = Rbac::new(&khc_analysis::objects(&out));
    let req = Request::new("get", "secrets", Some("shop"), Some("db"));
    let answers = rbac.who_can(&req);
    let direct: Vec<String> = answers.iter().filter(|a| !a.grants.is_empty()).map(|a| a.subject.to_string()).collect();
    assert_eq!(direct, ["group:devs", "sa:shop/operator"], "edit reads every secret; the operator its one");
    let ci = answers.iter().find(|a| a.subject == Subject::group("ci")).expect("ci escalates by creating pods");
    assert!(ci.grants.is_empty() && ci.escalations[0].via == Subject::sa("shop", "operator"));
    assert!(!rbac.can(&Subject::group("ci"), &req));
    assert!(!rbac.explain(&Subject::group("ci"), &req).escalations.is_empty());
    assert!(rbac.explain(&Subject::group("strangers"), &req).escalations.is_empty());
    // Service accounts are members of their namespace's group.
    assert!(Subject::group("system:serviceaccounts:shop").covers(&Subject::sa("shop", "x")));
}
