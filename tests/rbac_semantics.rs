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

/// Issue 20 item 4: `grant ROLE to tenant T workload W` — another tenant's
/// workload named by its declaration, in a tenant's grant and in the cluster's.
const CROSS_TENANT: &str = r#"cluster c {
  kubernetes 1.35
  managed-by tenant ci workload deployer
  encryption { provider secretbox { key k env "K" } }
  role node-reader { can get list watch on nodes }
  grant node-reader to tenant ci workload deployer
}
tenant ci {
  namespaces ci ci-jobs
  workload deployer { namespace ci-jobs }
  workload builder {}
}
tenant shop {
  role deployer { can get list create update patch on deployments.apps }
  grant deployer to tenant ci workload deployer
  grant deployer to tenant shop workload api
  workload api {}
}
"#;

fn diags_with<'a>(d: &'a [khc_syntax::Diagnostic], code: &str, text: &str) -> Vec<&'a khc_syntax::Diagnostic> {
    d.iter().filter(|x| x.code == code && x.message.contains(text)).collect()
}

#[test]
fn cross_tenant_workload_subjects_resolve_to_the_workloads_service_account() {
    let (out, diags, rendered) = compile_sources(&[("main.khc", CROSS_TENANT)]);
    let out = out.unwrap_or_else(|| panic!("{rendered}"));
    // The binding the API server gets names the workload's ServiceAccount in its own namespace.
    let objs = objects(&out);
    let rb =
        of_kind(&objs, "RoleBinding").into_iter().find(|b| b["metadata"]["namespace"] == "shop" && b["metadata"]["name"] == "deployer").expect("RoleBinding");
    assert_eq!(
        rb["subjects"],
        serde_json::json!([{ "apiGroup": "", "kind": "ServiceAccount", "name": "deployer", "namespace": "ci-jobs" }, { "apiGroup": "", "kind": "ServiceAccount", "name": "api", "namespace": "shop" }])
    );
    let crb = of_kind(&objs, "ClusterRoleBinding").into_iter().find(|b| b["metadata"]["name"] == "node-reader").expect("ClusterRoleBinding");
    assert_eq!(crb["subjects"], serde_json::json!([{ "apiGroup": "", "kind": "ServiceAccount", "name": "deployer", "namespace": "ci-jobs" }]));
    // `managed-by` takes the same subject: the protection policies exempt that ServiceAccount.
    let managed = of_kind(&objs, "ValidatingAdmissionPolicy")
        .into_iter()
        .find(|p| p["metadata"]["name"].as_str().unwrap().starts_with("khc-managed-by"))
        .expect("protection");
    assert!(managed.to_string().contains("system:serviceaccount:ci-jobs:deployer"), "{managed}");
    // Outside the granting tenant: the same `risky` warning as a hand-written `"ci-jobs/deployer"`,
    // on the whole subject; the tenant's own workload and the cluster's grant get none.
    let risky = diags_with(&diags, "risky", "outside this tenant");
    assert_eq!(risky.len(), 1, "{rendered}");
    assert_eq!(&CROSS_TENANT[risky[0].primary.span.range()], "tenant ci workload deployer");
    assert!(risky[0].message.contains("`tenant ci workload deployer`") && risky[0].message.contains("`ci-jobs`"), "{rendered}");
    // who-can and can answer for it.
    let rbac = Rbac::new(&khc_analysis::objects(&out));
    let deployer = Subject::sa("ci-jobs", "deployer");
    assert!(can(&rbac, &deployer, "create", "apps", "deployments", Some("shop"), None));
    assert!(!can(&rbac, &deployer, "create", "apps", "deployments", Some("ci"), None));
    assert!(can(&rbac, &deployer, "list", "", "nodes", None, None));
    assert!(!can(&rbac, &Subject::sa("ci", "builder"), "list", "", "nodes", None, None));
    let who: Vec<String> = rbac
        .who_can(&Request::new("create", "deployments.apps", Some("shop"), None))
        .iter()
        .filter(|a| !a.grants.is_empty())
        .map(|a| a.subject.to_string())
        .collect();
    assert!(who.contains(&"sa:ci-jobs/deployer".to_string()), "{who:?}");
}

#[test]
fn cross_tenant_subject_mistakes_have_spans_and_suggestions() {
    let src = CROSS_TENANT
        .replace("grant node-reader to tenant ci workload deployer", "grant node-reader to tenant cii workload deployer workload x")
        .replace("grant deployer to tenant ci workload deployer", "grant deployer to tenant ci workload deployr tenant ci builder builder");
    let (out, d, rendered) = compile_sources(&[("main.khc", &src)]);
    assert!(out.is_none(), "{rendered}");
    let tenant = diags_with(&d, "unknown-name", "unknown tenant `cii`");
    assert_eq!(tenant.len(), 1, "{rendered}");
    assert_eq!(&src[tenant[0].primary.span.range()], "cii");
    assert_eq!(tenant[0].fixes[0].replacement, "ci");
    let workload = diags_with(&d, "unknown-name", "tenant `ci` has no workload `deployr`");
    assert_eq!(workload.len(), 1, "{rendered}");
    assert_eq!(&src[workload[0].primary.span.range()], "deployr");
    assert_eq!(workload[0].fixes[0].replacement, "deployer");
    let shape = diags_with(&d, "bad-argument", "expected `workload NAME` after `tenant NAME`");
    assert_eq!(shape.len(), 1, "{rendered}");
    assert_eq!(&src[shape[0].primary.span.range()], "builder");
    let bare = diags_with(&d, "bad-argument", "`cluster` has none");
    assert_eq!(bare.len(), 1, "{rendered}");
    assert!(bare[0].notes.iter().any(|n| n.contains("tenant TENANT workload NAME")), "{rendered}");
}

/// Issue 20 item 4: a cluster grant to `serviceaccount "NS/NAME"` where NS is a
/// tenant's namespace and NAME none of its workloads there, or NS is no tenant's
/// namespace but close to one: a warning with "did you mean" and a fix.
#[test]
fn cluster_grants_to_service_accounts_are_checked_against_the_tenants() {
    let src = CROSS_TENANT.replace(
        "grant node-reader to tenant ci workload deployer",
        "grant node-reader to serviceaccount \"ci-jobs/deployr\" serviceaccount \"ci-job/deployer\" serviceaccount \"ci-jobs/deployer\" serviceaccount \"argocd/argocd-server\" serviceaccount \"ci/nobody\"",
    ).replace("managed-by tenant ci workload deployer", "managed-by serviceaccount \"ci-jobs/deployers\"");
    let (out, d, rendered) = compile_sources(&[("main.khc", &src)]);
    assert!(out.is_some(), "warnings only: {rendered}");
    let named = diags_with(&d, "unknown-name", "declares no workload `deployr`");
    assert_eq!(named.len(), 1, "{rendered}");
    assert!(!named[0].is_error());
    assert_eq!(&src[named[0].primary.span.range()], "\"ci-jobs/deployr\"");
    assert_eq!(named[0].fixes[0].replacement, "\"ci-jobs/deployer\"");
    let ns = diags_with(&d, "unknown-name", "no tenant declares namespace `ci-job`");
    assert_eq!(ns.len(), 1, "{rendered}");
    assert_eq!(&src[ns[0].primary.span.range()], "\"ci-job/deployer\"");
    assert_eq!(ns[0].fixes[0].replacement, "\"ci-jobs/deployer\"");
    // A workload declared in another namespace of the tenant: no suggestion, the list.
    let nobody = diags_with(&d, "unknown-name", "declares no workload `nobody`");
    assert_eq!(nobody.len(), 1, "{rendered}");
    assert!(nobody[0].notes.iter().any(|n| n.contains("`builder`")), "{rendered}");
    // `managed-by` is checked the same way.
    let applier = diags_with(&d, "unknown-name", "declares no workload `deployers`");
    assert_eq!(applier.len(), 1, "{rendered}");
    assert_eq!(applier[0].fixes[0].replacement, "\"ci-jobs/deployer\"");
    // The right name and a namespace khc does not manage (nor resemble) are fine.
    assert_eq!(diags_with(&d, "unknown-name", "").len(), 4, "{rendered}");
}

/// Issue 20 item 4: users (like groups) that no OIDC issuer can produce are a
/// `no-effect` warning with the prefixed name as a fix; `system:` users
/// (ServiceAccounts, nodes) never are.
#[test]
fn users_without_an_oidc_prefix_are_warned_with_a_fix() {
    let src = r#"cluster c {
  kubernetes 1.35
  encryption { provider secretbox { key k env "K" } }
  authentication {
    oidc "https://login.example.com" {
      audience "kubernetes"
      username-claim "email"
      username-prefix "sso:"
    }
  }
}
tenant shop {
  role reader { can get on pods }
  grant reader to user "alice@example.com" user "sso:bob@example.com" user "system:serviceaccount:ci:deployer" user "system:node:n1"
}
"#;
    let (_, d, rendered) = compile_sources(&[("main.khc", src)]);
    let alice = diags_with(&d, "no-effect", "user `alice@example.com`");
    assert_eq!(alice.len(), 1, "{rendered}");
    assert_eq!(&src[alice[0].primary.span.range()], "\"alice@example.com\"");
    assert_eq!(alice[0].fixes[0].replacement, "\"sso:alice@example.com\"");
    assert_eq!(diags_with(&d, "no-effect", "").len(), 1, "only alice: {rendered}");
}
