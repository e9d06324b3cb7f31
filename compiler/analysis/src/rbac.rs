//! An RBAC authorizer over the emitted Roles, ClusterRoles and bindings, matching
//! requests as the API server's RBAC authorizer does: a binding applies to its
//! namespace (RoleBinding) or everywhere (ClusterRoleBinding); a rule matches
//! when its verbs, API groups and resources (`*`, `resource/subresource`,
//! `*/subresource`) match and, if it lists resourceNames, the request names one
//! of them. Kubernetes' user-facing ClusterRoles (`view`, `edit`, `admin`,
//! `cluster-admin`) come from the bootstrap policy with aggregation resolved.
//! ServiceAccounts are members of `system:serviceaccounts`,
//! `system:serviceaccounts:NS` and `system:authenticated`.

use crate::selector::{labels, Labels, Selector};
use crate::{source_of, Object};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The built-in user-facing ClusterRoles of Kubernetes (bootstrap policy).
pub const BUILTIN_ROLES_YAML: &str = include_str!("../data/user-facing-cluster-roles.yaml");

/// The bootstrap policy's non-resource grants to every user (`system:discovery`,
/// `system:public-info-viewer`).
pub const BOOTSTRAP_NON_RESOURCE_YAML: &str = include_str!("../data/bootstrap-non-resource.yaml");

/// Resources whose creation runs pods (as any ServiceAccount of the namespace).
pub const POD_MAKERS: &[&str] =
    &["pods", "deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps", "jobs.batch", "cronjobs.batch", "replicationcontrollers"];

/// Source shown for the built-in roles.
pub const BUILTIN_SOURCE: &str = "<kubernetes bootstrap policy>";

/// A subject's bindings with their namespace (`None`: cluster-wide) and role, as
/// [`Rbac::permissions_of`] answers.
pub type SubjectPermissions<'a> = Vec<(Option<String>, &'a BindingDef, &'a RoleDef)>;

/// Who asks.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(tag = "kind")]
pub enum Subject {
    /// A user.
    User {
        /// User name.
        name: String,
    },
    /// A group.
    Group {
        /// Group name.
        name: String,
    },
    /// A ServiceAccount.
    ServiceAccount {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
}

impl Subject {
    /// A group.
    pub fn group(name: &str) -> Subject {
        Subject::Group { name: name.into() }
    }
    /// A user.
    pub fn user(name: &str) -> Subject {
        Subject::User { name: name.into() }
    }
    /// A ServiceAccount.
    pub fn sa(namespace: &str, name: &str) -> Subject {
        Subject::ServiceAccount { namespace: namespace.into(), name: name.into() }
    }

    /// Parses `user:NAME`, `group:NAME`, `sa:NS/NAME` or
    /// `system:serviceaccount:NS:NAME`.
    pub fn parse(s: &str) -> Option<Subject> {
        if let Some(rest) = s.strip_prefix("system:serviceaccount:") {
            let (ns, n) = rest.split_once(':')?;
            return Some(Subject::sa(ns, n));
        }
        let (kind, name) = s.split_once(':')?;
        match kind {
            "user" | "User" => Some(Subject::user(name)),
            "group" | "Group" => Some(Subject::group(name)),
            "sa" | "serviceaccount" | "ServiceAccount" => {
                let (ns, n) = name.split_once('/')?;
                Some(Subject::sa(ns, n))
            }
            _ => None,
        }
    }

    fn from_json(v: &Value, binding_ns: Option<&str>) -> Option<Subject> {
        let name = v["name"].as_str()?;
        match v["kind"].as_str()? {
            "User" => Some(Subject::user(name)),
            "Group" => Some(Subject::group(name)),
            "ServiceAccount" => Some(Subject::sa(v["namespace"].as_str().or(binding_ns)?, name)),
            _ => None,
        }
    }

    /// Whether a binding naming `self` grants to `who` (directly or through a
    /// group `who` belongs to).
    pub fn covers(&self, who: &Subject) -> bool {
        if self == who {
            return true;
        }
        match (self, who) {
            (Subject::Group { name }, Subject::ServiceAccount { namespace, .. }) => {
                name == "system:serviceaccounts" || name == "system:authenticated" || *name == format!("system:serviceaccounts:{namespace}")
            }
            (Subject::Group { name }, Subject::User { .. }) => name == "system:authenticated",
            _ => false,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User { name } => write!(f, "user:{name}"),
            Subject::Group { name } => write!(f, "group:{name}"),
            Subject::ServiceAccount { namespace, name } => write!(f, "sa:{namespace}/{name}"),
        }
    }
}

/// One policy rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// API groups.
    pub api_groups: Vec<String>,
    /// Resources (`pods`, `pods/log`, `*/scale`, `*`).
    pub resources: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
    /// Resource names; empty means all.
    pub resource_names: Vec<String>,
    /// Non-resource URLs (`/metrics`, `/healthz/*`); a rule with these has no
    /// resources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

impl Rule {
    /// A rule from its JSON form (`apiGroups`, `resources`, `verbs`, `resourceNames`).
    pub fn from_json(v: &Value) -> Rule {
        Rule::parse(v)
    }

    fn parse(v: &Value) -> Rule {
        Rule {
            api_groups: strings(&v["apiGroups"]),
            resources: strings(&v["resources"]),
            verbs: strings(&v["verbs"]),
            resource_names: strings(&v["resourceNames"]),
            non_resource_urls: strings(&v["nonResourceURLs"]),
        }
    }

    /// Whether the rule allows `req` (as `RuleAllows` in the API server).
    pub fn allows(&self, req: &Request) -> bool {
        let any = |list: &[String], x: &str| list.iter().any(|l| l == "*" || l == x);
        if req.is_non_resource() {
            // NonResourceURLMatches: exact, `*`, or a prefix ending in `*`.
            let url = |r: &String| r == "*" || *r == req.resource || r.strip_suffix('*').is_some_and(|p| req.resource.starts_with(p));
            return any(&self.verbs, &req.verb) && self.non_resource_urls.iter().any(url);
        }
        any(&self.verbs, &req.verb) && any(&self.api_groups, &req.group) && self.resource_matches(&req.resource) && self.name_matches(req.name.as_deref())
    }

    fn resource_matches(&self, combined: &str) -> bool {
        let sub = combined.split_once('/').map(|(_, s)| s);
        self.resources.iter().any(|r| r == "*" || r == combined || sub.is_some_and(|s| r.len() == s.len() + 2 && r.starts_with("*/") && r.ends_with(s)))
    }

    fn name_matches(&self, name: Option<&str>) -> bool {
        self.resource_names.is_empty() || name.is_some_and(|n| self.resource_names.iter().any(|r| r == n))
    }

    /// `verbs on resources[.group] [names …]`, for messages.
    pub fn describe(&self) -> String {
        let res: Vec<String> =
            self.resources.iter().flat_map(|r| self.api_groups.iter().map(move |g| if g.is_empty() { r.clone() } else { format!("{r}.{g}") })).collect();
        let mut s = format!("{} on {}", self.verbs.join(" "), res.iter().chain(&self.non_resource_urls).cloned().collect::<Vec<_>>().join(" "));
        if !self.resource_names.is_empty() {
            s.push_str(&format!(" names {}", self.resource_names.join(" ")));
        }
        s
    }
}

/// A request: `verb` on `group`/`resource` (with subresource, `pods/log`),
/// optionally named, in a namespace or cluster-wide.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Request {
    /// The verb.
    pub verb: String,
    /// API group (`""` for core).
    pub group: String,
    /// Resource, with subresource as `pods/log`.
    pub resource: String,
    /// Namespace; `None` for cluster-scoped resources or all namespaces.
    pub namespace: Option<String>,
    /// Resource name.
    pub name: Option<String>,
}

impl Request {
    /// Parses `RESOURCE[.GROUP][/SUBRESOURCE]` (`pods`, `pods/log`,
    /// `deployments.apps`, `deployments.apps/scale`).
    /// A resource starting with `/` is a non-resource URL (`/metrics`): it has no
    /// group, namespace or name, as the API server sees it.
    pub fn new(verb: &str, resource: &str, namespace: Option<&str>, name: Option<&str>) -> Request {
        if resource.starts_with('/') {
            return Request { verb: verb.into(), group: String::new(), resource: resource.into(), namespace: None, name: None };
        }
        let (res, sub) = match resource.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (resource, None),
        };
        let (res, group) = res.split_once('.').unwrap_or((res, ""));
        let resource = match sub {
            Some(s) => format!("{res}/{s}"),
            None => res.to_string(),
        };
        Request { verb: verb.into(), group: group.into(), resource, namespace: namespace.map(str::to_string), name: name.map(str::to_string) }
    }

    /// Whether the request is for a non-resource URL (`/metrics`).
    pub fn is_non_resource(&self) -> bool {
        self.resource.starts_with('/')
    }

    /// The request in `RESOURCE[.GROUP]` notation.
    pub fn describe(&self) -> String {
        if self.is_non_resource() {
            return format!("{} {} (non-resource URL)", self.verb, self.resource);
        }
        let (res, sub) = match self.resource.split_once('/') {
            Some((r, s)) => (r, format!("/{s}")),
            None => (self.resource.as_str(), String::new()),
        };
        let group = if self.group.is_empty() { String::new() } else { format!(".{}", self.group) };
        let mut s = format!("{} {res}{group}{sub}", self.verb);
        if let Some(n) = &self.name {
            s.push_str(&format!(" named {n}"));
        }
        match &self.namespace {
            Some(ns) => s.push_str(&format!(" in namespace {ns}")),
            None => s.push_str(" cluster-wide"),
        }
        s
    }
}

/// A Role or ClusterRole.
#[derive(Clone, Debug)]
pub struct RoleDef {
    /// `Role` or `ClusterRole`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace of a Role.
    pub namespace: Option<String>,
    /// Rules (aggregation resolved).
    pub rules: Vec<Rule>,
    /// `FILE:LINE`, or [`BUILTIN_SOURCE`].
    pub source: String,
    labels: Labels,
    aggregation: Vec<Selector>,
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Clone, Debug)]
pub struct BindingDef {
    /// `RoleBinding` or `ClusterRoleBinding`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace of a RoleBinding.
    pub namespace: Option<String>,
    /// `Role` or `ClusterRole`.
    pub role_kind: String,
    /// The role's name.
    pub role_name: String,
    /// Subjects.
    pub subjects: Vec<Subject>,
    /// `FILE:LINE`.
    pub source: String,
}

/// Why a request is allowed: one binding, its role and the matching rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// `RoleBinding NS/NAME` or `ClusterRoleBinding NAME`.
    pub binding: String,
    /// The binding's `FILE:LINE`.
    pub binding_source: String,
    /// `Role NS/NAME` or `ClusterRole NAME`.
    pub role: String,
    /// The role's `FILE:LINE` (or the bootstrap policy).
    pub role_source: String,
    /// The matching rule.
    pub rule: String,
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}) → {} ({}): {}", self.binding, self.binding_source, self.role, self.role_source, self.rule)
    }
}

/// How a subject gets a permission indirectly: by running a pod as (or minting a
/// token of) a ServiceAccount that has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Escalation {
    /// The ServiceAccount whose permission is borrowed.
    pub via: Subject,
    /// What the subject does to borrow it (`create pods in NS`).
    pub how: String,
    /// Why the subject may do that.
    pub grants: Vec<Grant>,
}

/// A subject allowed to make a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// The subject as named by the binding.
    pub subject: Subject,
    /// Direct grants (empty for an escalation-only answer).
    pub grants: Vec<Grant>,
    /// Indirect ways, when the subject has no direct grant.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<Escalation>,
    /// Multi-step escalation paths ([`crate::escalation`]), filled by the callers
    /// that search them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<crate::escalation::Path>,
}

/// The authorizer.
#[derive(Clone, Debug, Default)]
pub struct Rbac {
    /// Roles by `(kind, namespace, name)`.
    pub roles: BTreeMap<(String, Option<String>, String), RoleDef>,
    /// Bindings.
    pub bindings: Vec<BindingDef>,
    /// Indexes into `bindings` by the namespace of a RoleBinding (`None`:
    /// ClusterRoleBindings).
    by_namespace: std::collections::HashMap<Option<String>, Vec<usize>>,
    /// The bootstrap ClusterRoleBindings that grant non-resource URLs to every
    /// user: consulted only for non-resource requests, so they never show up in
    /// the answers about resources.
    bootstrap: Vec<BindingDef>,
    /// The `managed-by` applier (from the protection policies' `khc.dev/applier`
    /// annotation): exempt from khc's protection, so whoever becomes it may change
    /// everything khc manages.
    pub appliers: Vec<Subject>,
}

/// The annotation of khc's protection policies naming the applier
/// (`serviceaccount:NS/NAME`, `user:NAME`, `group:NAME`, comma-separated).
pub const APPLIER_ANNOTATION: &str = "khc.dev/applier";

/// Whether a request writes something khc manages (and protects under `managed-by`).
pub fn writes_managed(req: &Request) -> bool {
    let managed = match req.group.as_str() {
        "" => matches!(
            req.resource.as_str(),
            "namespaces" | "namespaces/status" | "namespaces/finalize" | "serviceaccounts" | "resourcequotas" | "resourcequotas/status" | "limitranges"
        ),
        "networking.k8s.io" => req.resource == "networkpolicies",
        "rbac.authorization.k8s.io" => matches!(req.resource.as_str(), "roles" | "rolebindings" | "clusterroles" | "clusterrolebindings"),
        _ => false,
    };
    managed && matches!(req.verb.as_str(), "create" | "update" | "patch" | "delete" | "deletecollection")
}

fn role_def(v: &Value, source: String) -> RoleDef {
    let kind = v["kind"].as_str().unwrap_or("").to_string();
    let namespace = if kind == "Role" { v["metadata"]["namespace"].as_str().map(str::to_string) } else { None };
    RoleDef {
        kind,
        name: v["metadata"]["name"].as_str().unwrap_or("").to_string(),
        namespace,
        rules: v["rules"].as_array().map(|a| a.iter().map(Rule::parse).collect()).unwrap_or_default(),
        source,
        labels: labels(&v["metadata"]["labels"]),
        aggregation: v["aggregationRule"]["clusterRoleSelectors"].as_array().map(|a| a.iter().map(Selector::parse).collect()).unwrap_or_default(),
    }
}

/// The built-in ClusterRoles with aggregation resolved (`view` ⊂ `edit` ⊂ `admin`).
pub fn builtin_roles() -> Vec<RoleDef> {
    let docs: Vec<Value> = serde_yaml_ng::from_str(BUILTIN_ROLES_YAML).expect("the embedded bootstrap roles parse");
    let mut roles: Vec<RoleDef> = docs.iter().map(|d| role_def(d, BUILTIN_SOURCE.to_string())).collect();
    // The aggregation controller's fixpoint: an aggregated role's rules are the
    // union of the rules of every role its selectors match.
    loop {
        let mut changed = false;
        for i in 0..roles.len() {
            if roles[i].aggregation.is_empty() {
                continue;
            }
            let mut rules = Vec::new();
            for (j, other) in roles.iter().enumerate() {
                if j != i && roles[i].aggregation.iter().any(|s| s.matches(&other.labels)) {
                    for r in &other.rules {
                        if !rules.contains(r) {
                            rules.push(r.clone());
                        }
                    }
                }
            }
            if rules != roles[i].rules {
                roles[i].rules = rules;
                changed = true;
            }
        }
        if !changed {
            return roles;
        }
    }
}

impl Rbac {
    /// The authorizer over the RBAC objects among `objects`, plus the built-in
    /// ClusterRoles (unless the objects redefine them).
    pub fn new(objects: &[Object]) -> Rbac {
        let mut rbac = Rbac::builtin();
        for o in objects {
            rbac.add(o);
        }
        rbac
    }

    /// The authorizer over no object yet: the built-in ClusterRoles and the
    /// bootstrap grants; [`Rbac::add`] adds the objects one by one, in order
    /// (the query commands convert and add each tenant's objects in turn, so
    /// the converted objects of the whole fleet are never held at once).
    pub fn builtin() -> Rbac {
        let mut rbac = Rbac::default();
        for r in builtin_roles() {
            rbac.roles.insert((r.kind.clone(), None, r.name.clone()), r);
        }
        let docs: Vec<Value> = serde_yaml_ng::from_str(BOOTSTRAP_NON_RESOURCE_YAML).expect("the embedded bootstrap non-resource grants parse");
        for d in &docs {
            match d["kind"].as_str() {
                Some("ClusterRole") => {
                    let r = role_def(d, BUILTIN_SOURCE.to_string());
                    rbac.roles.insert((r.kind.clone(), None, r.name.clone()), r);
                }
                _ => rbac.bootstrap.push(BindingDef {
                    kind: "ClusterRoleBinding".into(),
                    name: d["metadata"]["name"].as_str().unwrap_or("").to_string(),
                    namespace: None,
                    role_kind: "ClusterRole".into(),
                    role_name: d["roleRef"]["name"].as_str().unwrap_or("").to_string(),
                    subjects: d["subjects"].as_array().map(|a| a.iter().filter_map(|s| Subject::from_json(s, None)).collect()).unwrap_or_default(),
                    source: BUILTIN_SOURCE.to_string(),
                }),
            }
        }
        rbac
    }

    /// Adds one object (its RBAC kinds, and the appliers an admission policy
    /// names); the other kinds are ignored.
    pub fn add(&mut self, o: &Object) {
        let rbac = self;
        {
            match o.kind() {
                "Role" | "ClusterRole" => {
                    let r = role_def(&o.value, source_of(&o.value));
                    rbac.roles.insert((r.kind.clone(), r.namespace.clone(), r.name.clone()), r);
                }
                "ValidatingAdmissionPolicy" => {
                    for a in o.value["metadata"]["annotations"][APPLIER_ANNOTATION].as_str().unwrap_or("").split(',').filter_map(|s| Subject::parse(s.trim())) {
                        if !rbac.appliers.contains(&a) {
                            rbac.appliers.push(a);
                        }
                    }
                }
                "RoleBinding" | "ClusterRoleBinding" => {
                    let v = &o.value;
                    let ns = if o.kind() == "RoleBinding" { o.namespace().map(str::to_string) } else { None };
                    rbac.bindings.push(BindingDef {
                        kind: o.kind().to_string(),
                        name: o.name().to_string(),
                        namespace: ns.clone(),
                        role_kind: v["roleRef"]["kind"].as_str().unwrap_or("").to_string(),
                        role_name: v["roleRef"]["name"].as_str().unwrap_or("").to_string(),
                        subjects: v["subjects"].as_array().map(|a| a.iter().filter_map(|s| Subject::from_json(s, ns.as_deref())).collect()).unwrap_or_default(),
                        source: source_of(v),
                    });
                    rbac.by_namespace.entry(ns).or_default().push(rbac.bindings.len() - 1);
                }
                _ => {}
            }
        }
    }

    /// Adds every object of `objects` in order, as [`Rbac::add`] does (`khc
    /// diff` adds one unit's objects at a time, converted once for both
    /// versions).
    pub fn add_all(&mut self, objects: &[Object]) {
        for o in objects {
            self.add(o);
        }
    }

    /// The role a binding refers to.
    pub fn role_of(&self, b: &BindingDef) -> Option<&RoleDef> {
        let ns = if b.role_kind == "Role" { b.namespace.clone() } else { None };
        self.roles.get(&(b.role_kind.clone(), ns, b.role_name.clone()))
    }

    /// Whether a binding is in effect for a request in `namespace`.
    fn applies(b: &BindingDef, namespace: Option<&str>) -> bool {
        match b.kind.as_str() {
            "ClusterRoleBinding" => true,
            _ => namespace.is_some() && b.namespace.as_deref() == namespace,
        }
    }

    /// The grants of one binding that allow `req` (its role's matching rules).
    fn binding_grants(&self, b: &BindingDef, req: &Request) -> Vec<Grant> {
        if !Self::applies(b, req.namespace.as_deref()) {
            return Vec::new();
        }
        let Some(role) = self.role_of(b) else { return Vec::new() };
        let binding = match &b.namespace {
            Some(ns) => format!("{} {ns}/{}", b.kind, b.name),
            None => format!("{} {}", b.kind, b.name),
        };
        let role_name = match &role.namespace {
            Some(ns) => format!("{} {ns}/{}", role.kind, role.name),
            None => format!("{} {}", role.kind, role.name),
        };
        role.rules
            .iter()
            .filter(|r| r.allows(req))
            .map(|r| Grant {
                binding: binding.clone(),
                binding_source: b.source.clone(),
                role: role_name.clone(),
                role_source: role.source.clone(),
                rule: r.describe(),
            })
            .collect()
    }

    /// Why `who` may make `req` directly (empty: not allowed directly).
    pub fn grants(&self, who: &Subject, req: &Request) -> Vec<Grant> {
        self.candidates_for(req).filter(|b| b.subjects.iter().any(|s| s.covers(who))).flat_map(|b| self.binding_grants(b, req)).collect()
    }

    /// Whether `who` may make `req` directly.
    pub fn can(&self, who: &Subject, req: &Request) -> bool {
        !self.grants(who, req).is_empty()
    }

    /// Whether a RoleBinding in `namespace` binds `who` to ClusterRole `role`.
    pub fn bound_to(&self, who: &Subject, role: &str, namespace: &str) -> bool {
        self.bindings.iter().any(|b| {
            b.kind == "RoleBinding"
                && b.namespace.as_deref() == Some(namespace)
                && b.role_kind == "ClusterRole"
                && b.role_name == role
                && b.subjects.iter().any(|s| s.covers(who))
        })
    }

    /// The bindings that may apply to a request in `namespace`.
    fn candidates(&self, namespace: Option<&str>) -> impl Iterator<Item = &BindingDef> {
        let cluster = self.by_namespace.get(&None).into_iter().flatten();
        let ns = namespace.and_then(|n| self.by_namespace.get(&Some(n.to_string()))).into_iter().flatten();
        cluster.chain(ns).map(|&i| &self.bindings[i])
    }

    /// The bindings that may apply to `req`: those of [`Self::candidates`], and
    /// for a non-resource request the bootstrap grants to every user.
    fn candidates_for<'a>(&'a self, req: &Request) -> impl Iterator<Item = &'a BindingDef> {
        let bootstrap = if req.is_non_resource() { self.bootstrap.as_slice() } else { &[] };
        self.candidates(req.namespace.as_deref()).chain(bootstrap)
    }

    /// Every subject named by a binding that may make `req` directly, with why.
    pub fn who_can_directly(&self, req: &Request) -> Vec<Answer> {
        let mut by_subject: BTreeMap<Subject, Vec<Grant>> = BTreeMap::new();
        for b in self.candidates_for(req) {
            let g = self.binding_grants(b, req);
            if g.is_empty() {
                continue;
            }
            for s in &b.subjects {
                by_subject.entry(s.clone()).or_default().extend(g.iter().cloned());
            }
        }
        by_subject.into_iter().map(|(subject, grants)| Answer { subject, grants, escalations: Vec::new(), paths: Vec::new() }).collect()
    }

    /// For a request without a name: the subjects allowed only for some named
    /// objects (rules with resourceNames), with those grants.
    pub fn who_can_for_names(&self, req: &Request) -> Vec<Answer> {
        if req.name.is_some() {
            return Vec::new();
        }
        let mut by_subject: BTreeMap<Subject, Vec<Grant>> = BTreeMap::new();
        for b in self.candidates(req.namespace.as_deref()) {
            let Some(role) = self.role_of(b) else { continue };
            for r in role.rules.iter().filter(|r| !r.resource_names.is_empty()) {
                let named = Request { name: r.resource_names.first().cloned(), ..req.clone() };
                if !r.allows(&named) {
                    continue;
                }
                for g in self.binding_grants(b, &named) {
                    for s in &b.subjects {
                        by_subject.entry(s.clone()).or_default().push(g.clone());
                    }
                }
            }
        }
        by_subject.into_iter().map(|(subject, grants)| Answer { subject, grants, escalations: Vec::new(), paths: Vec::new() }).collect()
    }

    /// Ways to act as ServiceAccount `sa`: create pods in its namespace (a pod may
    /// name any ServiceAccount), create its token, or impersonate it.
    fn borrowers(&self, sa: &Subject) -> Vec<(Subject, String, Vec<Grant>)> {
        let Subject::ServiceAccount { namespace, name } = sa else { return Vec::new() };
        let mut ways = vec![
            (Request::new("create", "serviceaccounts/token", Some(namespace), Some(name)), format!("create a token for {sa}")),
            (Request::new("impersonate", "serviceaccounts", Some(namespace), Some(name)), format!("impersonate {sa}")),
        ];
        // A pod, or a controller that makes pods, may name any ServiceAccount of its namespace.
        for res in POD_MAKERS {
            let plural = res.split('.').next().unwrap_or(res);
            ways.push((Request::new("create", res, Some(namespace), None), format!("create {plural} in {namespace} whose pods run as {name}")));
        }
        let mut out = Vec::new();
        for (req, how) in ways {
            for a in self.who_can_directly(&req) {
                if &a.subject != sa {
                    out.push((a.subject, how.clone(), a.grants));
                }
            }
        }
        out
    }

    /// Every subject that may make `req`: directly, or (one step) by acting as a
    /// ServiceAccount that may.
    pub fn who_can(&self, req: &Request) -> Vec<Answer> {
        let mut answers = self.who_can_directly(req);
        let direct: BTreeSet<Subject> = answers.iter().map(|a| a.subject.clone()).collect();
        let mut extra: BTreeMap<Subject, Vec<Escalation>> = BTreeMap::new();
        for a in answers.iter().filter(|a| matches!(a.subject, Subject::ServiceAccount { .. })) {
            for (who, how, grants) in self.borrowers(&a.subject) {
                if !direct.contains(&who) {
                    extra.entry(who).or_default().push(Escalation { via: a.subject.clone(), how, grants });
                }
            }
        }
        for (who, e) in self.applier_escalations(req) {
            if !direct.contains(&who) {
                extra.entry(who).or_default().push(e);
            }
        }
        answers.extend(extra.into_iter().map(|(subject, escalations)| Answer { subject, grants: Vec::new(), escalations, paths: Vec::new() }));
        answers.sort_by(|a, b| a.subject.cmp(&b.subject));
        answers
    }

    /// For a write to something khc manages: every subject that becomes the
    /// applier (by running a pod as its ServiceAccount, minting its token or
    /// impersonating it), which khc's protection exempts — whatever RBAC the
    /// applier holds outside khc's output, it can write what khc manages.
    pub fn applier_escalations(&self, req: &Request) -> Vec<(Subject, Escalation)> {
        if !writes_managed(req) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for applier in &self.appliers {
            let ways = match applier {
                Subject::ServiceAccount { .. } => self.borrowers(applier),
                Subject::User { name } => self
                    .who_can_directly(&Request::new("impersonate", "users", None, Some(name.as_str())))
                    .into_iter()
                    .map(|a| (a.subject, format!("impersonate {applier}"), a.grants))
                    .collect(),
                Subject::Group { name } => self
                    .who_can_directly(&Request::new("impersonate", "groups", None, Some(name.as_str())))
                    .into_iter()
                    .map(|a| (a.subject, format!("impersonate {applier}"), a.grants))
                    .collect(),
            };
            for (who, how, grants) in ways {
                if &who != applier {
                    out.push((
                        who,
                        Escalation { via: applier.clone(), how: format!("{how}: becomes the applier (managed-by), which khc's protection exempts"), grants },
                    ));
                }
            }
        }
        out
    }

    /// Whether and why `who` may make `req`: direct grants, or escalations
    /// through a ServiceAccount that may.
    pub fn explain(&self, who: &Subject, req: &Request) -> Answer {
        let grants = self.grants(who, req);
        let mut escalations = Vec::new();
        if grants.is_empty() {
            for a in self.who_can_directly(req) {
                if !matches!(a.subject, Subject::ServiceAccount { .. }) {
                    continue;
                }
                for (borrower, how, g) in self.borrowers(&a.subject) {
                    if borrower.covers(who) {
                        escalations.push(Escalation { via: a.subject.clone(), how, grants: g });
                    }
                }
            }
            for (borrower, e) in self.applier_escalations(req) {
                if borrower.covers(who) {
                    escalations.push(e);
                }
            }
        }
        Answer { subject: who.clone(), grants, escalations, paths: Vec::new() }
    }

    /// Every `(binding, role)` pair naming a subject covering `who`, with the
    /// namespace the binding applies to (`None`: cluster-wide).
    pub fn permissions_of(&self, who: &Subject) -> Vec<(Option<String>, &BindingDef, &RoleDef)> {
        self.bindings.iter().filter(|b| b.subjects.iter().any(|s| s.covers(who))).filter_map(|b| Some((b.namespace.clone(), b, self.role_of(b)?))).collect()
    }

    /// Every subject named by some binding.
    pub fn subjects(&self) -> BTreeSet<Subject> {
        self.bindings.iter().flat_map(|b| b.subjects.iter().cloned()).collect()
    }

    /// [`Rbac::permissions_of`] of every subject of [`Rbac::subjects`], in that
    /// order, each subject's bindings found through a map of the subjects the
    /// bindings name (plus the groups that cover others, as [`Subject::covers`]
    /// says) instead of a scan of every binding: linear in bindings, for pages
    /// that list everyone (`khc graph --format html`).
    pub fn all_permissions(&self) -> Vec<(Subject, SubjectPermissions<'_>)> {
        let mut named: std::collections::HashMap<&Subject, Vec<usize>> = std::collections::HashMap::new();
        for (i, b) in self.bindings.iter().enumerate() {
            for s in &b.subjects {
                named.entry(s).or_default().push(i);
            }
        }
        self.subjects()
            .into_iter()
            .map(|who| {
                let mut idx: Vec<usize> = named.get(&who).cloned().unwrap_or_default();
                let covering: Vec<String> = match &who {
                    Subject::ServiceAccount { namespace, .. } => {
                        vec!["system:serviceaccounts".into(), "system:authenticated".into(), format!("system:serviceaccounts:{namespace}")]
                    }
                    Subject::User { .. } => vec!["system:authenticated".into()],
                    Subject::Group { .. } => Vec::new(),
                };
                for name in covering {
                    if let Some(v) = named.get(&Subject::Group { name }) {
                        idx.extend(v);
                    }
                }
                idx.sort_unstable();
                idx.dedup();
                let perms = idx
                    .into_iter()
                    .filter_map(|i| {
                        let b = &self.bindings[i];
                        Some((b.namespace.clone(), b, self.role_of(b)?))
                    })
                    .collect();
                (who, perms)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    /// [`super::POD_MAKERS`] (in the order the escalation search tries them) is
    /// exactly the registry's pod kinds that run pods: every kind of
    /// `khc_rules::facts::POD_KINDS` but PodTemplate, which only stores a template.
    #[test]
    fn pod_makers_are_the_registry_pod_kinds_that_run_pods() {
        let mut from_facts: Vec<String> = khc_rules::facts::POD_KINDS
            .iter()
            .filter(|k| k.kind != "PodTemplate")
            .map(|k| if k.group.is_empty() { k.plural.to_string() } else { format!("{}.{}", k.plural, k.group) })
            .collect();
        let mut here: Vec<String> = super::POD_MAKERS.iter().map(|s| s.to_string()).collect();
        from_facts.sort();
        here.sort();
        assert_eq!(here, from_facts);
    }
}
