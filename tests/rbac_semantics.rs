//! Semantic test of the generated RBAC: a small authorizer over the emitted Roles,
//! ClusterRoles and their bindings answers "can SUBJECT do VERB on RESOURCE in
//! NAMESPACE?" as the API server's RBAC authorizer would (for the roles khc
//! declares; built-in ClusterRoles are checked by their bindings only).

use khc_tests::*;
use serde_json::Value;

#[derive(Clone, Copy)]
enum Who<'a> {
    Group(&'a str),
    User(&'a str),
    Sa(&'a str, &'a str),
}

struct Rbac {
    objs: Vec<(String, Value)>,
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

impl Rbac {
    fn subject_matches(s: &Value, who: Who<'_>) -> bool {
        match who {
            Who::Group(g) => s["kind"] == "Group" && s["name"] == g,
            Who::User(u) => s["kind"] == "User" && s["name"] == u,
            Who::Sa(ns, n) => s["kind"] == "ServiceAccount" && s["name"] == n && s["namespace"] == ns,
        }
    }

    fn rules_of(&self, kind: &str, name: &str, namespace: Option<&str>) -> Vec<Value> {
        self.objs
            .iter()
            .map(|(_, v)| v)
            .filter(|v| v["kind"] == kind && v["metadata"]["name"] == name && v["metadata"]["namespace"].as_str() == namespace)
            .flat_map(|v| v["rules"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    fn rule_allows(rule: &Value, verb: &str, group: &str, resource: &str, name: Option<&str>) -> bool {
        let any = |list: Vec<&str>, x: &str| list.contains(&"*") || list.contains(&x);
        any(strs(&rule["verbs"]), verb)
            && any(strs(&rule["apiGroups"]), group)
            && any(strs(&rule["resources"]), resource)
            && match rule.get("resourceNames") {
                None => true,
                Some(names) => name.is_some_and(|n| strs(names).contains(&n)),
            }
    }

    /// Can `who` do `verb` on `group`/`resource` (optionally named) in `namespace`
    /// (`None` for cluster-scoped)?
    fn can(&self, who: Who<'_>, verb: &str, group: &str, resource: &str, namespace: Option<&str>, name: Option<&str>) -> bool {
        let mut rules = Vec::new();
        for (_, b) in &self.objs {
            let kind = b["kind"].as_str().unwrap();
            let applies = match kind {
                "ClusterRoleBinding" => true,
                "RoleBinding" => namespace.is_some() && b["metadata"]["namespace"].as_str() == namespace,
                _ => false,
            };
            if !applies || !b["subjects"].as_array().unwrap().iter().any(|s| Self::subject_matches(s, who)) {
                continue;
            }
            let role = &b["roleRef"];
            let role_ns = if role["kind"] == "Role" { b["metadata"]["namespace"].as_str() } else { None };
            rules.extend(self.rules_of(role["kind"].as_str().unwrap(), role["name"].as_str().unwrap(), role_ns));
        }
        rules.iter().any(|r| Self::rule_allows(r, verb, group, resource, name))
    }

    fn bound_to(&self, who: Who<'_>, cluster_role: &str, namespace: &str) -> bool {
        self.objs.iter().any(|(_, b)| {
            b["kind"] == "RoleBinding"
                && b["metadata"]["namespace"] == namespace
                && b["roleRef"]["kind"] == "ClusterRole"
                && b["roleRef"]["name"] == cluster_role
                && b["subjects"].as_array().unwrap().iter().any(|s| Self::subject_matches(s, who))
        })
    }
}

#[test]
fn rbac_answers_match_the_declared_intent() {
    let rbac = Rbac { objs: objects(&example_output()) };
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
