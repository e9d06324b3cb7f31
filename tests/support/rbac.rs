//! A small RBAC authorizer over emitted (and, for the real-server tests, built-in)
//! Roles, ClusterRoles and their bindings: it answers "can SUBJECT do VERB on
//! RESOURCE in NAMESPACE?" as the API server's RBAC authorizer does. Shared by
//! `tests/rbac_semantics.rs` (khc's objects alone) and `tests/kube_server.rs`
//! (compared with the real server's SubjectAccessReviews).

use serde_json::Value;

/// Who asks: a user in one group, a named user, or a ServiceAccount `(namespace, name)`.
#[derive(Clone, Copy, Debug)]
pub enum Who<'a> {
    /// Some user in this group.
    Group(&'a str),
    /// This user, in no group of its own.
    User(&'a str),
    /// The ServiceAccount `(namespace, name)`.
    Sa(&'a str, &'a str),
}

/// The user name test subjects in a [`Who::Group`] have.
pub const GROUP_MEMBER: &str = "khc-test-member";

impl Who<'_> {
    /// The user name the API server sees.
    pub fn user(&self) -> String {
        match self {
            Who::Group(_) => GROUP_MEMBER.to_string(),
            Who::User(u) => u.to_string(),
            Who::Sa(ns, n) => format!("system:serviceaccount:{ns}:{n}"),
        }
    }

    /// The groups the API server sees (every authenticated user is in
    /// `system:authenticated`; ServiceAccounts in `system:serviceaccounts[:NS]`).
    pub fn groups(&self) -> Vec<String> {
        let mut g = match self {
            Who::Group(g) => vec![g.to_string()],
            Who::User(_) => vec![],
            Who::Sa(ns, _) => vec!["system:serviceaccounts".to_string(), format!("system:serviceaccounts:{ns}")],
        };
        g.push("system:authenticated".to_string());
        g
    }
}

/// The authorizer over a list of `(path, object)` pairs.
pub struct Rbac {
    /// Roles, ClusterRoles, RoleBindings and ClusterRoleBindings (other kinds are ignored).
    pub objs: Vec<(String, Value)>,
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

impl Rbac {
    /// An authorizer over these objects.
    pub fn new(objs: Vec<(String, Value)>) -> Rbac {
        Rbac { objs }
    }

    fn subject_matches(s: &Value, who: Who<'_>) -> bool {
        match s["kind"].as_str() {
            Some("Group") => who.groups().iter().any(|g| s["name"] == g.as_str()),
            Some("User") => s["name"] == who.user().as_str(),
            Some("ServiceAccount") => matches!(who, Who::Sa(ns, n) if s["name"] == n && s["namespace"] == ns),
            _ => false,
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
        // `pods/*` matches every subresource of pods.
        let resource_ok = {
            let list = strs(&rule["resources"]);
            any(list.clone(), resource) || resource.split_once('/').is_some_and(|(r, _)| list.contains(&format!("{r}/*").as_str()))
        };
        any(strs(&rule["verbs"]), verb)
            && any(strs(&rule["apiGroups"]), group)
            && resource_ok
            && match rule.get("resourceNames").map(strs) {
                None => true,
                Some(names) if names.is_empty() => true,
                Some(names) => name.is_some_and(|n| names.contains(&n)),
            }
    }

    /// Can `who` do `verb` on `group`/`resource` (optionally named) in `namespace`
    /// (`None` for cluster-scoped)?
    pub fn can(&self, who: Who<'_>, verb: &str, group: &str, resource: &str, namespace: Option<&str>, name: Option<&str>) -> bool {
        let mut rules = Vec::new();
        for (_, b) in &self.objs {
            let applies = match b["kind"].as_str() {
                Some("ClusterRoleBinding") => true,
                Some("RoleBinding") => namespace.is_some() && b["metadata"]["namespace"].as_str() == namespace,
                _ => false,
            };
            let subjects = b["subjects"].as_array().cloned().unwrap_or_default();
            if !applies || !subjects.iter().any(|s| Self::subject_matches(s, who)) {
                continue;
            }
            let role = &b["roleRef"];
            let role_ns = if role["kind"] == "Role" { b["metadata"]["namespace"].as_str() } else { None };
            rules.extend(self.rules_of(role["kind"].as_str().unwrap(), role["name"].as_str().unwrap(), role_ns));
        }
        rules.iter().any(|r| Self::rule_allows(r, verb, group, resource, name))
    }

    /// Is `who` bound to the ClusterRole `cluster_role` by a RoleBinding in `namespace`?
    pub fn bound_to(&self, who: Who<'_>, cluster_role: &str, namespace: &str) -> bool {
        self.objs.iter().any(|(_, b)| {
            b["kind"] == "RoleBinding"
                && b["metadata"]["namespace"] == namespace
                && b["roleRef"]["kind"] == "ClusterRole"
                && b["roleRef"]["name"] == cluster_role
                && b["subjects"].as_array().unwrap().iter().any(|s| Self::subject_matches(s, who))
        })
    }
}
