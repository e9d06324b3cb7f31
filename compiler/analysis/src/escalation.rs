//! Multi-step privilege escalation over the RBAC authorizer: from a subject,
//! every identity it can become and every power it can take, step by step, each
//! step with the grants (FILE:LINE) that allow it.
//!
//! Steps to another identity: impersonating a user, group or ServiceAccount;
//! creating a ServiceAccount's token; creating pods (or any pod-creating
//! controller) that run as a ServiceAccount of the namespace; reading Secrets
//! that may hold a ServiceAccount's token (`kubernetes.io/service-account-token`).
//! Terminal steps (powers): binding a role (`bind`, plus creating the binding),
//! writing a role with permissions one lacks (`escalate`), impersonating
//! `system:masters`, approving a client certificate for any user (CSR create +
//! approval + `approve` on the signer), writing a mutating webhook
//! configuration, a node's root (pods with hostPath volumes, PersistentVolumes
//! with hostPath, `nodes/proxy`) and so every ServiceAccount whose pods run there.
//!
//! The API server's escalation checks are the ones of
//! `pkg/registry/rbac/{rolebinding,role}/policybased` (a binding needs `bind` on
//! its role, or every permission the role grants; a role needs `escalate`, or
//! every permission it lists) and of the impersonation filter
//! (`impersonate` on `users`, `groups`, `serviceaccounts` of the core group and
//! `uids` of `authentication.k8s.io`).
//!
//! Paths khc's own admission refuses are kept, marked as pruned with the reason:
//! a hostPath pod where the namespace's Pod Security or a khc admission rule
//! denies it; pods running as a ServiceAccount a khc rule refuses there
//! (`no-default-service-account`); pods and tokens of the `managed-by` applier;
//! a change to a role khc manages where `managed-by` protects it.
//! The search is bounded ([`MAX_DEPTH`] steps, [`MAX_IDENTITIES`] identities);
//! when a bound is hit the answer says so.
//!
//! Every step carries an [`Act`]: what to do on the API server to take it, so
//! that a path can be executed step by step (`compiler/cli/tests/live_server.rs`
//! does, as the subject, on real API servers; SPEC section 10 says what each act
//! is and what the proof checks).
//!
//! Cost: one [`Search`] answers every question about one workspace; each
//! identity's moves and powers are computed once and memoized, and the moves to
//! ServiceAccounts are decided per namespace (a subject's rules without
//! `resourceNames` allow every ServiceAccount of a namespace alike), not per
//! ServiceAccount, and only in the namespaces the identity may act in (found
//! through indexes, never by a scan of every namespace). A question in a
//! namespace is searched only from the subjects whose followable paths may
//! lead there, found backward from the namespace (its RoleBindings' subjects,
//! those who may become them, and those whose paths lead anywhere:
//! [`Search::who_can`]), so `who-can -n NS` visits NS's few subjects and
//! `who-can -A` over a fleet is linear in its size without a forward search
//! from every tenant's admins. A subject's request with a verb none of its
//! rules lists is refused without asking the authorizer.

use crate::rbac::{BindingDef, Grant, Request, RoleDef, Subject, POD_MAKERS};
use crate::{pss, Workspace};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::rc::Rc;

/// The longest path followed.
pub const MAX_DEPTH: usize = 4;
/// The most identities visited from one subject.
pub const MAX_IDENTITIES: usize = 400;

/// What one step does on the API server, for a machine to replay it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "act", rename_all = "kebab-case")]
pub enum Act {
    /// Send the next requests with `Impersonate-User` (a user, or a
    /// ServiceAccount as `system:serviceaccount:NS:NAME`) or `Impersonate-Group`;
    /// a group is impersonated along with a user (`user`): the API server
    /// refuses groups without one.
    Impersonate {
        /// Who is impersonated.
        subject: Subject,
        /// For a group: the user impersonated with it.
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    /// Create a token for the ServiceAccount (a TokenRequest) and act with it.
    Token {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// Create `resource` (a pod or a pod-making controller) in `namespace` whose
    /// pods run as ServiceAccount `name`; act with the token such a pod gets.
    RunAs {
        /// `pods`, `deployments.apps`, …
        resource: String,
        /// The namespace.
        namespace: String,
        /// The ServiceAccount.
        name: String,
    },
    /// Read the ServiceAccount's token from a `kubernetes.io/service-account-token`
    /// Secret of its namespace (where one exists) and act with it.
    ReadTokenSecret {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// Create a CertificateSigningRequest for a `kube-apiserver-client`
    /// client certificate of `subject` (a user: its name as `CN`; a group: as an
    /// `O`; a ServiceAccount: `CN=system:serviceaccount:NS:NAME`), approve it,
    /// act with the signed certificate. Never `system:masters`: the
    /// CertificateSubjectRestriction admission plugin refuses that group.
    ApproveCsr {
        /// Whose certificate (none: any user, group or ServiceAccount but `system:masters`).
        #[serde(skip_serializing_if = "Option::is_none")]
        subject: Option<Subject>,
    },
    /// Create a webhook configuration.
    Webhook {
        /// Mutating (rewrites requests) or validating (sees them).
        mutating: bool,
    },
    /// Use `nodes/proxy` (the kubelet's API: exec in any pod).
    NodesProxy {
        /// `get` or `create`.
        verb: String,
    },
    /// Create a hostPath PersistentVolume, a claim bound to it in `namespace`
    /// and a pod there that mounts it.
    HostPathVolume {
        /// The namespace.
        namespace: String,
    },
    /// Create a pod with a hostPath volume in `namespace`.
    HostPathPod {
        /// The namespace.
        namespace: String,
    },
    /// Bind a role to itself (a RoleBinding in `namespace`, or a ClusterRoleBinding).
    Bind {
        /// `Role` or `ClusterRole`.
        role_kind: String,
        /// The role's name.
        role: String,
        /// The binding's namespace (`None`: a ClusterRoleBinding).
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
    /// Create a role with the permission wanted (`escalate`) and bind it to itself.
    Escalate {
        /// The namespace (`None`: a ClusterRole and ClusterRoleBinding).
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
    /// Add the permission wanted to a role already bound to it (`escalate` + `update`).
    AddRule {
        /// `Role` or `ClusterRole`.
        role_kind: String,
        /// The role's name.
        role: String,
        /// A Role's namespace.
        #[serde(skip_serializing_if = "Option::is_none")]
        role_namespace: Option<String>,
    },
    /// Make the request itself, as the identity reached.
    Request,
    /// Make the request as ServiceAccount `name` of `namespace`, whose token a
    /// node's root reads from its pods.
    AsServiceAccount {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
}

/// One step of an escalation path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What the subject does (`impersonate user:alice`, `bind ClusterRole admin in namespace a`).
    pub how: String,
    /// The same, for a machine (see [`Act`]).
    pub act: Act,
    /// The grants that allow it (each with binding, role and their FILE:LINE).
    pub grants: Vec<Grant>,
}

/// A multi-step way to a permission (or a power).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Path {
    /// The steps, in order; the last one obtains the permission.
    pub steps: Vec<Step>,
    /// Why khc's own admission refuses a step of this path (it is shown, not followed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned: Option<String>,
}

impl Path {
    /// The steps as `a → b → c`.
    pub fn describe(&self) -> String {
        self.steps.iter().map(|s| s.how.as_str()).collect::<Vec<_>>().join(" → ")
    }
}

/// What a subject can reach: the paths to a request, and whether a bound cut the search.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Closure {
    /// Ways to the permission (or, for [`reachable`], to each power).
    pub paths: Vec<Path>,
    /// The bound that was hit, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<String>,
}

/// A power a subject may take, beyond one identity's grants.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Power {
    /// Everything (system:masters, or a webhook that rewrites every request).
    Everything,
    /// The permissions of every ServiceAccount whose pods run on a node it owns.
    AnyServiceAccount,
    /// The permissions of any user, group or ServiceAccount but `system:masters`
    /// (a client certificate it approves for itself).
    AnyIdentity,
    /// The permissions of a role, bound to itself in a namespace (`None`: cluster-wide).
    Role { kind: String, name: String, namespace: Option<String> },
    /// Any permission in a namespace (`None`: cluster-wide), through `escalate`.
    AnyIn(Option<String>),
    /// Sees the objects of every request a validating webhook is sent (Secrets' values).
    SeesRequests,
}

/// A move to another identity: the identity, the step, why khc's admission refuses it.
type Move = (Subject, Step, Option<String>);
/// A power with its step and why khc's admission refuses it.
type PowerStep = (Power, Step, Option<String>);

/// The identities reached from one subject, with their paths; the moves khc's
/// admission refuses (not followed); the bound hit.
struct Reached {
    identities: Vec<(Subject, Vec<Step>)>,
    refused: Vec<(Subject, Vec<Step>, String)>,
    bound: Option<String>,
}

/// The escalation search over one workspace, with its memoized moves and powers.
/// Build it once and ask it many questions ([`Search::paths_to`]).
pub struct Search<'a> {
    ws: &'a Workspace,
    namespaces: Vec<String>,
    /// ServiceAccounts (named by a binding, and each namespace's `default`) by namespace.
    accounts: BTreeMap<String, Vec<String>>,
    /// The namespaces of [`Search::accounts`] that are not among [`Search::namespaces`]
    /// (a binding names a ServiceAccount of a namespace nobody manages): every
    /// identity's moves look there.
    outside: Vec<String>,
    /// The namespaces holding a ServiceAccount of each name (for rules with
    /// `resourceNames`): an index, so that an identity's moves visit only the
    /// namespaces it may act in, never every namespace of the fleet.
    account_namespaces: HashMap<String, Vec<String>>,
    /// Users and groups named by a binding.
    people: Vec<Subject>,
    /// ClusterRoles, and Roles by namespace.
    cluster_roles: Vec<String>,
    roles_in: HashMap<String, Vec<String>>,
    moves: RefCell<HashMap<Subject, Rc<Vec<Move>>>>,
    powers: RefCell<HashMap<Subject, Rc<Vec<PowerStep>>>>,
    host_path: RefCell<HashMap<String, Option<String>>>,
    pod_refusal: RefCell<HashMap<(String, String), Option<String>>>,
    risky: std::cell::OnceCell<Vec<Subject>>,
    /// Where each searched subject's paths may lead ([`Search::scopes`]).
    scopes: std::cell::OnceCell<Scopes>,
    /// The index of the backward search ([`Search::candidates`]).
    backward: std::cell::OnceCell<Option<Backward>>,
    /// Whether a Pod Security level (and version) refuses a hostPath pod.
    pss_host_path: RefCell<HashMap<(&'static str, u32), bool>>,
    /// Whether a role (by address) may create pods.
    pod_roles: RefCell<HashMap<*const RoleDef, bool>>,
    /// The bindings naming each subject (indexes into the authorizer's bindings).
    bindings_of: HashMap<Subject, Vec<usize>>,
    perms: RefCell<HashMap<Subject, Perms<'a>>>,
    /// The verbs of each subject's rules ([`Search::may_verb`]).
    verbs: RefCell<HashMap<Subject, Rc<Vec<&'a str>>>>,
    /// Whether a role (by address) holds an escalation step the search starts
    /// from ([`Search::searched_subjects`]): decided once per role, not once
    /// per binding of the fleet's thousand `admin` grants.
    risky_roles: RefCell<HashMap<*const RoleDef, bool>>,
    /// The same, per rule (by value).
    risky_rules: RefCell<HashMap<&'a crate::rbac::Rule, bool>>,
    reached: RefCell<HashMap<Subject, Rc<Reached>>>,
    /// The subjects allowed the last request directly (asked once per request,
    /// not once per power that borrows them).
    direct: RefCell<Option<(Request, Rc<Vec<crate::rbac::Answer>>)>>,
    /// The rules denying a plain pod of a namespace's workload: what another
    /// ServiceAccount's pod is compared with.
    reference_denials: RefCell<HashMap<(String, String), BTreeMap<String, String>>>,
    #[allow(clippy::type_complexity)]
    pod_policies: RefCell<HashMap<String, Rc<Vec<(&'a crate::admission::Policy, &'a crate::admission::PolicyBinding)>>>>,
}

/// The searched subjects (indexes into [`Search::searched_subjects`]) whose
/// paths may lead anywhere, and those whose paths lead only into some
/// namespaces, by namespace.
type Scopes = (Vec<usize>, HashMap<String, Vec<usize>>);

/// The index of the backward search from a namespace ([`Search::candidates`]).
struct Backward {
    /// The subjects the RoleBindings of each namespace name.
    named_in: HashMap<String, Vec<Subject>>,
    /// The identities whose followable paths may lead anywhere (a
    /// ClusterRoleBinding names them, or they may create hostPath pods where
    /// no admission refuses them), with every identity that may become one of
    /// them, step by step.
    anywhere: BTreeSet<Subject>,
    /// [`Backward::anywhere`]'s searched subjects (indexes into
    /// [`Search::searched_subjects`]).
    anywhere_idx: Vec<usize>,
    /// The index of each searched subject.
    index: HashMap<Subject, usize>,
}

/// A subject's `(namespace, binding, role)` triples ([`crate::rbac::Rbac::permissions_of`]).
type Perms<'a> = Rc<Vec<(Option<String>, &'a BindingDef, &'a RoleDef)>>;

/// The value `cache` holds for `key`, or `make`'s, then kept (the search's
/// memos). `make` runs with `cache` not borrowed: it may ask other memos, or
/// this one for another key.
fn memo<K, Q, V>(cache: &RefCell<HashMap<K, V>>, key: &Q, make: impl FnOnce() -> V) -> V
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: ToOwned<Owned = K> + std::hash::Hash + Eq + ?Sized,
    V: Clone,
{
    if let Some(v) = cache.borrow().get(key) {
        return v.clone();
    }
    let v = make();
    cache.borrow_mut().insert(key.to_owned(), v.clone());
    v
}

fn with(mut steps: Vec<Step>, step: Step) -> Vec<Step> {
    steps.push(step);
    steps
}

fn step(how: String, act: Act, grants: Vec<Grant>) -> Step {
    Step { how, act, grants }
}

/// A pod that meets `restricted` and the common khc rules (pinned image, limits),
/// running as ServiceAccount `sa` of `ns`: what the search asks khc's admission
/// about when only the ServiceAccount should decide.
pub fn plain_pod(ns: &str, sa: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "khc-escalation", "namespace": ns},
        "spec": {
            "serviceAccountName": sa, "automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}, "appArmorProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "image": "registry.example.com/base/app:1.0",
                "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}},
                "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}}]
        }
    })
}

impl<'a> Search<'a> {
    /// The search over `ws` (subjects and namespaces indexed once).
    pub fn new(ws: &'a Workspace) -> Search<'a> {
        let mut namespaces: BTreeSet<String> = ws.tenants().flat_map(|t| t.namespaces.iter().cloned()).collect();
        namespaces.extend(ws.rbac.bindings.iter().filter_map(|b| b.namespace.clone()));
        namespaces.extend(ws.external_namespaces());
        let mut accounts: BTreeMap<String, BTreeSet<String>> = namespaces.iter().map(|n| (n.clone(), BTreeSet::from(["default".to_string()]))).collect();
        let mut people = BTreeSet::new();
        for s in ws.rbac.subjects() {
            match s {
                Subject::ServiceAccount { namespace, name } => {
                    accounts.entry(namespace).or_default().insert(name);
                }
                other => {
                    people.insert(other);
                }
            }
        }
        let mut cluster_roles = Vec::new();
        let mut roles_in: HashMap<String, Vec<String>> = HashMap::new();
        for (kind, ns, name) in ws.rbac.roles.keys() {
            match (kind.as_str(), ns) {
                ("Role", Some(ns)) => roles_in.entry(ns.clone()).or_default().push(name.clone()),
                ("ClusterRole", _) => cluster_roles.push(name.clone()),
                _ => {}
            }
        }
        let outside: Vec<String> = accounts.keys().filter(|n| !namespaces.contains(*n)).cloned().collect();
        let mut account_namespaces: HashMap<String, Vec<String>> = HashMap::new();
        for (ns, names) in &accounts {
            for name in names {
                account_namespaces.entry(name.clone()).or_default().push(ns.clone());
            }
        }
        Search {
            ws,
            namespaces: namespaces.into_iter().collect(),
            accounts: accounts.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect(),
            outside,
            account_namespaces,
            people: people.into_iter().collect(),
            cluster_roles,
            roles_in,
            moves: RefCell::default(),
            powers: RefCell::default(),
            host_path: RefCell::default(),
            pod_refusal: RefCell::default(),
            risky: std::cell::OnceCell::new(),
            scopes: std::cell::OnceCell::new(),
            backward: std::cell::OnceCell::new(),
            pss_host_path: RefCell::default(),
            pod_roles: RefCell::default(),
            bindings_of: {
                let mut m: HashMap<Subject, Vec<usize>> = HashMap::new();
                for (i, b) in ws.rbac.bindings.iter().enumerate() {
                    for s in &b.subjects {
                        let v = m.entry(s.clone()).or_default();
                        if v.last() != Some(&i) {
                            v.push(i);
                        }
                    }
                }
                m
            },
            perms: RefCell::default(),
            verbs: RefCell::default(),
            risky_roles: RefCell::default(),
            risky_rules: RefCell::default(),
            reached: RefCell::default(),
            direct: RefCell::default(),
            reference_denials: RefCell::default(),
            pod_policies: RefCell::default(),
        }
    }

    /// [`crate::rbac::Rbac::permissions_of`], from the subject index (the bindings
    /// naming `who` or a group it belongs to: `system:authenticated`, a
    /// ServiceAccount's `system:serviceaccounts[:NS]`), memoized.
    fn perms(&self, who: &Subject) -> Perms<'a> {
        memo(&self.perms, who, || {
            let rbac: &'a crate::rbac::Rbac = &self.ws.rbac;
            Rc::new(
                self.binding_indexes(who)
                    .into_iter()
                    .filter_map(|i| {
                        let b = &rbac.bindings[i];
                        Some((b.namespace.clone(), b, rbac.role_of(b)?))
                    })
                    .collect(),
            )
        })
    }

    /// The bindings naming `who` or a group it belongs to, in order (indexes
    /// into the authorizer's bindings).
    fn binding_indexes(&self, who: &Subject) -> Vec<usize> {
        let mut idx: Vec<usize> = self.bindings_of.get(who).cloned().unwrap_or_default();
        let mut group = |name: &str| {
            if let Some(v) = self.bindings_of.get(&Subject::group(name)) {
                idx.extend(v);
            }
        };
        match who {
            Subject::User { .. } => group("system:authenticated"),
            Subject::ServiceAccount { namespace, .. } => {
                group("system:authenticated");
                group("system:serviceaccounts");
                group(&format!("system:serviceaccounts:{namespace}"));
            }
            Subject::Group { .. } => {}
        }
        idx.sort_unstable();
        idx.dedup();
        idx
    }

    fn grants(&self, who: &Subject, verb: &str, res: &str, ns: Option<&str>, name: Option<&str>) -> Vec<Grant> {
        if !self.may_verb(who, verb) {
            return Vec::new();
        }
        self.ws.rbac.grants(who, &Request::new(verb, res, ns, name))
    }

    /// Whether some rule bound to `who` lists `verb` (or `*`): when none does,
    /// the authorizer allows `who` no request with that verb, and the search
    /// does not ask it (a tenant's `admin` has no `bind`, `escalate` nor
    /// `approve`: its powers are decided without a question per ClusterRole).
    /// The same bindings as [`crate::rbac::Rbac::grants`]: those naming `who`
    /// or a group covering it ([`Search::perms`]).
    fn may_verb(&self, who: &Subject, verb: &str) -> bool {
        let verbs = memo(&self.verbs, who, || {
            let mut v: Vec<&'a str> = self.perms(who).iter().flat_map(|(_, _, r)| r.rules.iter().flat_map(|r| r.verbs.iter().map(String::as_str))).collect();
            v.sort_unstable();
            v.dedup();
            Rc::new(v)
        });
        verbs.iter().any(|v| *v == "*" || *v == verb)
    }

    /// The namespaces where `who` may do one of `asks` (verb, resource): every
    /// namespace when a ClusterRoleBinding allows it (asked in a namespace no
    /// RoleBinding names), else only those whose RoleBindings name `who`. The
    /// loops over namespaces ask only these: a tenant's admin is bound in its two
    /// namespaces, not in the fleet's thousand.
    fn namespaces_for(&self, who: &Subject, asks: &[(&str, &str)]) -> Vec<String> {
        // No namespace can be named so: only ClusterRoleBindings apply there.
        const NOWHERE: &str = "khc:nowhere";
        if asks.iter().any(|(verb, res)| !self.grants(who, verb, res, Some(NOWHERE), None).is_empty()) {
            return self.namespaces.clone();
        }
        let bound: BTreeSet<String> = self.perms(who).iter().filter_map(|(ns, _, _)| ns.clone()).collect();
        bound.into_iter().collect()
    }

    /// Why khc's admission refuses a hostPath pod in `ns`, if it does (memoized).
    fn host_path_refused(&self, ns: &str) -> Option<String> {
        memo(&self.host_path, ns, || self.host_path_refused_uncached(ns))
    }

    fn host_path_refused_uncached(&self, ns: &str) -> Option<String> {
        let pod = || {
            serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "x", "namespace": ns},
                "spec": {"containers": [{"name": "x", "image": "x"}], "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}
            })
        };
        if let Some(t) = self.ws.tenant_of(ns) {
            let ps = &t.pod_security;
            // The pod differs between namespaces only in its name and namespace,
            // which Pod Security does not read: decided once per level and version.
            let minor = pss::minor_of(&ps.version);
            let refused = memo(&self.pss_host_path, &(ps.enforce.as_str(), minor), || {
                let pod = pod();
                !pss::check(ps.enforce, minor, &pod["metadata"], &pod["spec"]).iter().all(|v| v.control != "host-path")
            });
            if refused {
                return Some(format!("Pod Security enforce {} in {ns} refuses hostPath volumes ({})", ps.enforce.as_str(), t.origin));
            }
        } else {
            let pod = pod();
            for m in self.ws.models.iter() {
                let ps = &m.cluster.control_plane.pod_security;
                if !ps.exempt_namespaces.iter().any(|e| e == ns)
                    && pss::check(ps.enforce, pss::minor_of(&ps.version), &pod["metadata"], &pod["spec"]).iter().any(|v| v.control == "host-path")
                {
                    return Some(format!(
                        "the cluster's Pod Security default (enforce {}) refuses hostPath volumes in {ns} ({})",
                        ps.enforce.as_str(),
                        ps.origin
                    ));
                }
            }
        }
        let policies = self.pod_policies(ns);
        let pod = if policies.is_empty() { serde_json::Value::Null } else { pod() };
        for (policy, binding) in policies.iter() {
            if let Some(v) = policy.evaluate(&pod, &binding.actions).into_iter().find(|v| v.actions.iter().any(|a| a == "Deny") && v.error.is_none()) {
                return Some(format!("khc admission rule {} ({}) refuses hostPath volumes in {ns}", v.rule, v.rule_source));
            }
        }
        None
    }

    /// The admission policies (and bindings) that judge pods in `ns` (memoized).
    fn pod_policies(&self, ns: &str) -> Rc<Vec<(&'a crate::admission::Policy, &'a crate::admission::PolicyBinding)>> {
        memo(&self.pod_policies, ns, || {
            let admission: &'a crate::admission::Admission = &self.ws.admission;
            Rc::new(admission.applicable("", "pods", &self.ws.network.labels_of(ns)))
        })
    }

    /// The khc admission rules that deny `pod` in its namespace.
    fn denying_rules(&self, pod: &serde_json::Value, ns: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (policy, binding) in self.pod_policies(ns).iter() {
            for v in policy.evaluate(pod, &binding.actions) {
                if v.actions.iter().any(|a| a == "Deny") && v.error.is_none() {
                    out.insert(v.rule, v.rule_source);
                }
            }
        }
        out
    }

    /// Why khc's admission refuses pods running as ServiceAccount `name` of `ns`
    /// where it admits the same pod running as a workload of the namespace (the
    /// ServiceAccount decides: `no-default-service-account`). Memoized.
    fn pods_as_refused(&self, ns: &str, name: &str) -> Option<String> {
        let key = (ns.to_string(), name.to_string());
        memo(&self.pod_refusal, &key, || {
            // Only a check that reads the pod's ServiceAccount can tell two pods
            // apart that differ in nothing else (khc's CEL names the field).
            let reads_account = self.pod_policies(ns).iter().any(|(p, _)| p.checks.iter().any(|c| c.expression.contains("serviceAccount")));
            let reference = if reads_account {
                self.ws.tenant_of(ns).and_then(|t| t.workloads.iter().find(|w| w.namespace == ns && w.name != name)).map(|w| w.name.clone())
            } else {
                None
            };
            reference.and_then(|other| {
                let allowed = memo(&self.reference_denials, &(ns.to_string(), other.clone()), || self.denying_rules(&plain_pod(ns, &other), ns));
                self.denying_rules(&plain_pod(ns, name), ns)
                    .into_iter()
                    .find(|(rule, _)| !allowed.contains_key(rule))
                    .map(|(rule, src)| format!("khc admission rule {rule} ({src}) refuses pods running as sa:{ns}/{name}"))
            })
        })
    }

    /// Why khc's `managed-by` protection refuses `who` running pods as, or
    /// minting tokens of, ServiceAccount `target` (the applier).
    fn applier_refused(&self, who: &Subject, target: &Subject, what: &str) -> Option<String> {
        let appliers = &self.ws.rbac.appliers;
        if appliers.iter().any(|a| a == target) && !appliers.iter().any(|a| a.covers(who)) {
            return Some(format!("khc's managed-by protection refuses {what} of the applier {target} to anyone but the applier (and the kubelets)"));
        }
        None
    }

    /// Whether khc's protection (managed-by) refuses `who` changing a role khc emits.
    fn protected(&self, who: &Subject, kind: &str, ns: Option<&str>, name: &str) -> Option<String> {
        let obj = self.ws.emitted(kind, ns, name)?;
        let appliers: Vec<Subject> = self.ws.models.iter().flat_map(|m| m.cluster.managed_by.iter().map(crate::effects::model_subject)).collect();
        if appliers.is_empty() || appliers.iter().any(|a| a.covers(who)) {
            return None;
        }
        Some(format!("{kind} {name} is khc's ({}); the managed-by protection refuses changes by anyone but the applier", obj.source()))
    }

    /// A user `who` may impersonate (groups are impersonated along with one), with the grants.
    fn impersonable_user(&self, who: &Subject) -> Option<(String, Vec<Grant>)> {
        // A rule without resourceNames allows every name: pick one no binding names.
        let any = "khc-escalation";
        let g = self.grants(who, "impersonate", "users", None, Some(any));
        if !g.is_empty() {
            return Some((any.to_string(), g));
        }
        let names: BTreeSet<String> = self
            .perms(who)
            .iter()
            .flat_map(|(_, _, r)| r.rules.iter().flat_map(|r| r.resource_names.iter().cloned()))
            .chain(self.people.iter().filter_map(|p| match p {
                Subject::User { name } => Some(name.clone()),
                _ => None,
            }))
            .collect();
        names.into_iter().find_map(|n| {
            let g = self.grants(who, "impersonate", "users", None, Some(&n));
            (!g.is_empty()).then_some((n, g))
        })
    }

    /// The identities `who` can become in one step (memoized), refused ones marked.
    fn moves(&self, who: &Subject) -> Rc<Vec<Move>> {
        memo(&self.moves, who, || Rc::new(self.moves_uncached(who)))
    }

    fn moves_uncached(&self, who: &Subject) -> Vec<Move> {
        let mut out = Vec::new();
        let perms = self.perms(who);
        let impersonates = perms.iter().any(|(_, _, r)| r.rules.iter().any(|r| r.verbs.iter().any(|v| v == "impersonate" || v == "*")));
        let on = |r: &crate::rbac::Rule, what: &[&str]| r.resources.iter().any(|x| x == "*" || what.contains(&x.as_str()));
        let people =
            perms.iter().any(|(_, _, r)| r.rules.iter().any(|r| r.verbs.iter().any(|v| v == "impersonate" || v == "*") && on(r, &["users", "groups"])));
        // Rules with resourceNames are the only ones that allow one object of a
        // namespace and not another: without them, one question per namespace;
        // with them, the ServiceAccounts they name.
        let names: BTreeSet<&str> = perms
            .iter()
            .flat_map(|(_, _, r)| r.rules.iter())
            .filter(|r| on(r, &["serviceaccounts", "serviceaccounts/token", "secrets"]))
            .flat_map(|r| r.resource_names.iter().map(String::as_str))
            .collect();
        let named = !names.is_empty();
        if people {
            // The user a group is impersonated with, looked up once and only if needed.
            let along = std::cell::OnceCell::new();
            for s in &self.people {
                if s == who {
                    continue;
                }
                match s {
                    Subject::User { name } => {
                        let g = self.grants(who, "impersonate", "users", None, Some(name));
                        if !g.is_empty() {
                            out.push((s.clone(), step(format!("impersonate {s}"), Act::Impersonate { subject: s.clone(), user: None }, g), None));
                        }
                    }
                    Subject::Group { name } => {
                        let g = self.grants(who, "impersonate", "groups", None, Some(name));
                        if g.is_empty() {
                            continue;
                        }
                        if let Some((user, ug)) = along.get_or_init(|| self.impersonable_user(who)) {
                            out.push((
                                s.clone(),
                                step(
                                    format!("impersonate {s} (with user {user}: a group is impersonated along with a user)"),
                                    Act::Impersonate { subject: s.clone(), user: Some(user.clone()) },
                                    [g, ug.clone()].concat(),
                                ),
                                None,
                            ));
                        }
                    }
                    Subject::ServiceAccount { .. } => {}
                }
            }
        }
        let mut asks: Vec<(&str, &str)> = vec![("create", "serviceaccounts/token"), ("get", "secrets"), ("impersonate", "serviceaccounts")];
        asks.extend(POD_MAKERS.iter().map(|r| ("create", *r)));
        let relevant = self.namespaces_for(who, &asks);
        // The namespaces to look at, in order: those where `who` may act, those
        // khc does not manage, and (rules with resourceNames may name a
        // ServiceAccount of any namespace) those holding an account so named.
        // Indexed, not a scan of every namespace per identity: a fleet's
        // thousand tenant admins each look at their own two namespaces.
        let mut visit: BTreeSet<&str> = relevant.iter().map(String::as_str).collect();
        visit.extend(self.outside.iter().map(String::as_str));
        for n in &names {
            visit.extend(self.account_namespaces.get(*n).into_iter().flatten().map(String::as_str));
        }
        for ns in visit {
            let Some(accounts) = self.accounts.get(ns) else { continue };
            let ns = &ns.to_string();
            let nsr = Some(ns.as_str());
            let imp_ns = if impersonates { self.grants(who, "impersonate", "serviceaccounts", nsr, None) } else { Vec::new() };
            let tok_ns = self.grants(who, "create", "serviceaccounts/token", nsr, None);
            let maker = POD_MAKERS.iter().find_map(|r| {
                let g = self.grants(who, "create", r, nsr, None);
                (!g.is_empty()).then_some((*r, g))
            });
            let secrets = self.grants(who, "get", "secrets", nsr, None);
            if imp_ns.is_empty() && tok_ns.is_empty() && maker.is_none() && secrets.is_empty() && !named {
                continue;
            }
            for name in accounts {
                let s = Subject::sa(ns, name);
                // A ServiceAccount no binding names (nor its groups) gives nothing.
                if &s == who || self.perms(&s).is_empty() {
                    continue;
                }
                let by_name = |verb: &str, res: &str, any: &Vec<Grant>| -> Vec<Grant> {
                    if !any.is_empty() {
                        any.clone()
                    } else if names.contains(name.as_str()) {
                        self.grants(who, verb, res, nsr, Some(name))
                    } else {
                        Vec::new()
                    }
                };
                let mut ways: Vec<Move> = Vec::new();
                let imp = if impersonates { by_name("impersonate", "serviceaccounts", &imp_ns) } else { Vec::new() };
                if !imp.is_empty() {
                    ways.push((s.clone(), step(format!("impersonate {s}"), Act::Impersonate { subject: s.clone(), user: None }, imp), None));
                }
                let tok = by_name("create", "serviceaccounts/token", &tok_ns);
                if !tok.is_empty() {
                    let refused = self.applier_refused(who, &s, "tokens");
                    ways.push((
                        s.clone(),
                        step(format!("create a token for {s} (serviceaccounts/token)"), Act::Token { namespace: ns.clone(), name: name.clone() }, tok),
                        refused,
                    ));
                }
                // Only the first way khc's admission allows is kept: when one is
                // already found, whether admission refuses the pods is not asked
                // (that question builds every tenant's admission policies).
                if let Some((res, g)) = maker.as_ref().filter(|_| ways.iter().all(|w| w.2.is_some())) {
                    let plural = res.split('.').next().unwrap_or(res);
                    let refused = self.applier_refused(who, &s, "pods").or_else(|| self.pods_as_refused(ns, name));
                    ways.push((
                        s.clone(),
                        step(
                            format!("create {plural} in {ns} whose pods run as {s}"),
                            Act::RunAs { resource: res.to_string(), namespace: ns.clone(), name: name.clone() },
                            g.clone(),
                        ),
                        refused,
                    ));
                }
                let sec = by_name("get", "secrets", &secrets);
                if !sec.is_empty() {
                    ways.push((
                        s.clone(),
                        step(
                            format!("read the token of {s} from a kubernetes.io/service-account-token Secret in {ns} (where one exists)"),
                            Act::ReadTokenSecret { namespace: ns.clone(), name: name.clone() },
                            sec,
                        ),
                        None,
                    ));
                }
                // The first way khc's admission allows; else the first refused one, shown pruned.
                if let Some(i) = ways.iter().position(|w| w.2.is_none()).or(if ways.is_empty() { None } else { Some(0) }) {
                    out.push(ways.swap_remove(i));
                }
            }
        }
        out
    }

    /// The powers `who` can take in one step (memoized), with the pruned ones.
    fn powers(&self, who: &Subject) -> Rc<Vec<PowerStep>> {
        memo(&self.powers, who, || Rc::new(self.powers_uncached(who)))
    }

    fn powers_uncached(&self, who: &Subject) -> Vec<PowerStep> {
        let mut out = Vec::new();
        let g = self.grants(who, "impersonate", "groups", None, Some("system:masters"));
        if !g.is_empty() {
            if let Some((user, ug)) = self.impersonable_user(who) {
                out.push((
                    Power::Everything,
                    step(
                        format!("impersonate group:system:masters with user {user} (every permission)"),
                        Act::Impersonate { subject: Subject::group("system:masters"), user: Some(user) },
                        [g, ug].concat(),
                    ),
                    None,
                ));
            }
        }
        // A client certificate for any user, group or ServiceAccount; not for
        // system:masters: the CertificateSubjectRestriction admission plugin
        // (on by default) refuses kube-apiserver-client requests with that group.
        let csr = self.grants(who, "create", "certificatesigningrequests.certificates.k8s.io", None, None);
        let approval = self.grants(who, "update", "certificatesigningrequests.certificates.k8s.io/approval", None, None);
        let signer = ["kubernetes.io/kube-apiserver-client", "kubernetes.io/*"]
            .iter()
            .map(|n| self.grants(who, "approve", "signers.certificates.k8s.io", None, Some(*n)))
            .find(|g| !g.is_empty());
        if let (false, false, Some(signer)) = (csr.is_empty(), approval.is_empty(), signer) {
            out.push((
                Power::AnyIdentity,
                step(
                    "create and approve a CertificateSigningRequest for a kube-apiserver-client certificate of any user, group or ServiceAccount (not system:masters: the CertificateSubjectRestriction admission plugin refuses it)".into(),
                    Act::ApproveCsr { subject: None },
                    [csr, approval, signer].concat(),
                ),
                None,
            ));
        }
        for mutating in [true, false] {
            let kind = if mutating { "mutatingwebhookconfigurations" } else { "validatingwebhookconfigurations" };
            let g = self.grants(who, "create", &format!("{kind}.admissionregistration.k8s.io"), None, None);
            if !g.is_empty() {
                let (p, how) = if mutating {
                    (
                        Power::Everything,
                        "create a MutatingWebhookConfiguration that rewrites every request (pods to run as any ServiceAccount, with host access)",
                    )
                } else {
                    (Power::SeesRequests, "create a ValidatingWebhookConfiguration that is sent every request's object (Secret values included)")
                };
                out.push((p, step(how.into(), Act::Webhook { mutating }, g), None));
            }
        }
        // A node's root: every ServiceAccount whose pods run there.
        for verb in ["get", "create"] {
            let g = self.grants(who, verb, "nodes/proxy", None, None);
            if !g.is_empty() {
                out.push((
                    Power::AnyServiceAccount,
                    step(format!("{verb} nodes/proxy: exec in any pod through the kubelet, as its ServiceAccount"), Act::NodesProxy { verb: verb.into() }, g),
                    None,
                ));
                break;
            }
        }
        let pv = self.grants(who, "create", "persistentvolumes", None, None);
        for ns in &self.namespaces_for(who, &[("create", "pods")]) {
            let pods = self.grants(who, "create", "pods", Some(ns), None);
            if pods.is_empty() {
                continue;
            }
            // A pod mounts a PersistentVolume through a claim: the claim is needed too.
            let pvc = if pv.is_empty() { Vec::new() } else { self.grants(who, "create", "persistentvolumeclaims", Some(ns), None) };
            if !pvc.is_empty() {
                out.push((
                    Power::AnyServiceAccount,
                    step(
                        format!("create a hostPath PersistentVolume, a claim bound to it and a pod in {ns} that mounts it: the node's root, and the tokens of every pod there"),
                        Act::HostPathVolume { namespace: ns.clone() },
                        [pv.clone(), pvc, pods.clone()].concat(),
                    ),
                    None,
                ));
            }
            let pruned = self.host_path_refused(ns);
            out.push((
                Power::AnyServiceAccount,
                step(
                    format!("create a pod with a hostPath volume in {ns}: the node's root, and the tokens of every pod there"),
                    Act::HostPathPod { namespace: ns.clone() },
                    pods,
                ),
                pruned,
            ));
        }
        // bind: create a binding to a role it may bind.
        let bound = self.namespaces_for(who, &[("create", "rolebindings.rbac.authorization.k8s.io")]);
        let scopes: Vec<Option<&str>> = std::iter::once(None).chain(bound.iter().map(|n| Some(n.as_str()))).collect();
        for scope in scopes {
            let binding_res = if scope.is_some() { "rolebindings.rbac.authorization.k8s.io" } else { "clusterrolebindings.rbac.authorization.k8s.io" };
            let create = self.grants(who, "create", binding_res, scope, None);
            if create.is_empty() {
                continue;
            }
            let namespaced = scope.and_then(|n| self.roles_in.get(n)).into_iter().flatten().map(|n| ("Role", n));
            for (kind, name) in self.cluster_roles.iter().map(|n| ("ClusterRole", n)).chain(namespaced) {
                let res = if kind == "Role" { "roles.rbac.authorization.k8s.io" } else { "clusterroles.rbac.authorization.k8s.io" };
                let bind = self.grants(who, "bind", res, scope, Some(name));
                if bind.is_empty() {
                    continue;
                }
                let where_ = scope.map_or("cluster-wide".to_string(), |n| format!("in namespace {n}"));
                out.push((
                    Power::Role { kind: kind.to_string(), name: name.clone(), namespace: scope.map(str::to_string) },
                    step(
                        format!("bind {kind} {name} to itself {where_} (`bind`)"),
                        Act::Bind { role_kind: kind.to_string(), role: name.clone(), namespace: scope.map(str::to_string) },
                        [create.clone(), bind].concat(),
                    ),
                    None,
                ));
            }
            // escalate: write a role with any permission, bind it.
            let role_res = if scope.is_some() { "roles.rbac.authorization.k8s.io" } else { "clusterroles.rbac.authorization.k8s.io" };
            let esc = self.grants(who, "escalate", role_res, scope, None);
            let create_role = self.grants(who, "create", role_res, scope, None);
            let bind_any = self.grants(who, "bind", role_res, scope, None);
            if !esc.is_empty() && !create_role.is_empty() && !bind_any.is_empty() {
                let where_ = scope.map_or("cluster-wide".to_string(), |n| format!("in namespace {n}"));
                out.push((
                    Power::AnyIn(scope.map(str::to_string)),
                    step(
                        format!("create a role with any permission (`escalate`) and bind it to itself {where_}"),
                        Act::Escalate { namespace: scope.map(str::to_string) },
                        [esc, create_role, bind_any, create.clone()].concat(),
                    ),
                    None,
                ));
            }
        }
        // escalate on a role already bound to it: add any rule.
        for (ns, b, role) in self.perms(who).iter() {
            let res = if role.kind == "Role" { "roles.rbac.authorization.k8s.io" } else { "clusterroles.rbac.authorization.k8s.io" };
            let rns = role.namespace.as_deref();
            let esc = self.grants(who, "escalate", res, rns, Some(&role.name));
            let upd = self.grants(who, "update", res, rns, Some(&role.name));
            if esc.is_empty() || upd.is_empty() {
                continue;
            }
            let pruned = self.protected(who, &role.kind, rns, &role.name);
            let where_ = ns.as_deref().map_or("cluster-wide".to_string(), |n| format!("in namespace {n}"));
            out.push((
                Power::AnyIn(ns.clone()),
                step(
                    format!("add any rule to {} {} (`escalate`), bound to it by {} {}", role.kind, role.name, b.kind, b.name) + &format!(" {where_}"),
                    Act::AddRule { role_kind: role.kind.clone(), role: role.name.clone(), role_namespace: role.namespace.clone() },
                    [esc, upd].concat(),
                ),
                pruned,
            ));
        }
        out
    }

    /// [`crate::rbac::Rbac::who_can_directly`] for `req`, kept for the next asks of the same request.
    fn directly(&self, req: &Request) -> Rc<Vec<crate::rbac::Answer>> {
        if let Some((r, a)) = &*self.direct.borrow() {
            if r == req {
                return a.clone();
            }
        }
        let a = Rc::new(self.ws.rbac.who_can_directly(req));
        *self.direct.borrow_mut() = Some((req.clone(), a.clone()));
        a
    }

    /// Whether a power gives `req`: `None` no; `Some(None)` by itself;
    /// `Some(Some((sa, grants)))` as that ServiceAccount.
    fn power_gives(&self, p: &Power, req: &Request) -> Option<Option<(Subject, Vec<Grant>)>> {
        match p {
            Power::Everything => Some(None),
            Power::AnyServiceAccount => {
                self.directly(req).iter().find(|a| matches!(a.subject, Subject::ServiceAccount { .. })).map(|a| Some((a.subject.clone(), a.grants.clone())))
            }
            Power::AnyIdentity => {
                self.directly(req).iter().find(|a| a.subject != Subject::group("system:masters")).map(|a| Some((a.subject.clone(), a.grants.clone())))
            }
            Power::Role { kind, name, namespace } => {
                if namespace.is_some() && namespace != &req.namespace {
                    return None;
                }
                let role = self.ws.rbac.roles.get(&(kind.clone(), if kind == "Role" { namespace.clone() } else { None }, name.clone()))?;
                role.rules.iter().any(|r| r.allows(req)).then_some(None)
            }
            Power::AnyIn(ns) => (ns.is_none() || ns == &req.namespace).then_some(None),
            Power::SeesRequests => (req.group.is_empty() && req.resource == "secrets" && matches!(req.verb.as_str(), "get" | "list" | "watch")).then_some(None),
        }
    }

    /// Breadth-first from `who`: every identity reachable, with its path
    /// (memoized: it does not depend on the request).
    fn identities(&self, who: &Subject) -> Rc<Reached> {
        memo(&self.reached, who, || Rc::new(self.identities_uncached(who)))
    }

    fn identities_uncached(&self, who: &Subject) -> Reached {
        let mut seen: BTreeSet<Subject> = BTreeSet::new();
        seen.insert(who.clone());
        let mut queue = VecDeque::from([(who.clone(), Vec::<Step>::new())]);
        let mut r = Reached { identities: Vec::new(), refused: Vec::new(), bound: None };
        while let Some((s, path)) = queue.pop_front() {
            let moves = self.moves(&s);
            r.identities.push((s, path.clone()));
            if path.len() >= MAX_DEPTH {
                if !moves.iter().all(|(t, _, _)| seen.contains(t)) {
                    r.bound = Some(format!("paths longer than {MAX_DEPTH} steps were not followed"));
                }
                continue;
            }
            for (t, step, refused) in moves.iter() {
                if seen.contains(t) {
                    continue;
                }
                if let Some(why) = refused {
                    r.refused.push((t.clone(), with(path.clone(), step.clone()), why.clone()));
                    continue;
                }
                if seen.len() >= MAX_IDENTITIES {
                    r.bound = Some(format!("the search stopped after {MAX_IDENTITIES} identities"));
                    break;
                }
                seen.insert(t.clone());
                queue.push_back((t.clone(), with(path.clone(), step.clone())));
            }
        }
        r
    }

    /// The multi-step ways `who` obtains `req` (direct grants excluded: a path
    /// has at least one step beyond the subject's own grants), pruned paths included.
    pub fn paths_to(&self, who: &Subject, req: &Request) -> Closure {
        let reached = self.identities(who);
        let mut paths = Vec::new();
        let last = |s: &Subject, g: Vec<Grant>| step(format!("as {s}: {}", req.describe()), Act::Request, g);
        for (s, prefix) in &reached.identities {
            if !prefix.is_empty() {
                let g = self.ws.rbac.grants(s, req);
                if !g.is_empty() {
                    paths.push(Path { steps: with(prefix.clone(), last(s, g)), pruned: None });
                    continue;
                }
            }
            for (p, st, pruned) in self.powers(s).iter() {
                if let Some(by) = self.power_gives(p, req) {
                    let mut steps = with(prefix.clone(), st.clone());
                    match (by, p) {
                        (Some((whom, g)), Power::AnyIdentity) => {
                            let last = steps.last_mut().expect("the power's step");
                            last.how = format!("create and approve a CertificateSigningRequest for a kube-apiserver-client certificate of {whom}");
                            last.act = Act::ApproveCsr { subject: Some(whom.clone()) };
                            steps.push(step(format!("as {whom}: {}", req.describe()), Act::Request, g));
                        }
                        (Some((Subject::ServiceAccount { namespace, name }, g)), _) => {
                            steps.push(step(
                                format!("as a ServiceAccount that may: {} (sa:{namespace}/{name})", req.describe()),
                                Act::AsServiceAccount { namespace, name },
                                g,
                            ));
                        }
                        (Some(_), _) => unreachable!("only a certificate is for any identity"),
                        (None, _) => {}
                    }
                    paths.push(Path { steps, pruned: pruned.clone() });
                }
            }
        }
        // Moves khc's admission refuses, to an identity that would be allowed: shown pruned.
        for (t, prefix, why) in &reached.refused {
            let g = self.ws.rbac.grants(t, req);
            if !g.is_empty() {
                paths.push(Path { steps: with(prefix.clone(), last(t, g)), pruned: Some(why.clone()) });
            }
        }
        // Followable paths first, shortest first.
        paths.sort_by_key(|p| (p.pruned.is_some(), p.steps.len()));
        let mut seen = BTreeSet::new();
        paths.retain(|p| seen.insert(p.describe()));
        Closure { paths, bound: reached.bound.clone() }
    }

    /// Why khc's admission refuses a one-step escalation of
    /// [`crate::rbac::Rbac::explain`] / [`crate::rbac::Rbac::who_can`] (`who`
    /// borrowing ServiceAccount `e.via` by a token or pods), if it does: the same
    /// checks as the multi-step search's moves.
    pub fn escalation_refused(&self, who: &Subject, e: &crate::rbac::Escalation) -> Option<String> {
        let Subject::ServiceAccount { namespace, name } = &e.via else { return None };
        if e.how.starts_with("create a token") {
            self.applier_refused(who, &e.via, "tokens")
        } else if e.how.starts_with("create ") {
            self.applier_refused(who, &e.via, "pods").or_else(|| self.pods_as_refused(namespace, name))
        } else {
            None
        }
    }

    /// [`crate::rbac::Rbac::who_can`] (direct grants and one-step escalations)
    /// without the one-step escalations khc's own admission refuses
    /// ([`Search::escalation_refused`]); subjects left with neither are dropped.
    /// `khc who-can`, and the language server's hover and lenses, answer with it.
    pub fn who_can_one_step(&self, req: &Request) -> Vec<crate::rbac::Answer> {
        let mut answers = self.ws.rbac.who_can(req);
        for a in &mut answers {
            let who = a.subject.clone();
            a.escalations.retain(|e| self.escalation_refused(&who, e).is_none());
        }
        answers.retain(|a| !a.grants.is_empty() || !a.escalations.is_empty());
        answers
    }

    /// Every subject (named by a binding) with a multi-step path to `req` and no
    /// direct grant, with its paths (see [`who_can_by_escalation`]).
    ///
    /// A resource request in a namespace is searched only from the subjects
    /// whose paths may lead there, found backward from it
    /// ([`Search::candidates`]; when a binding names a group of every user or
    /// ServiceAccount, through [`Search::scopes`] instead), a cluster-wide one
    /// only from those whose paths may lead anywhere: `who-can -A` over a
    /// fleet whose every tenant grants `admin` asks each namespace about the
    /// few subjects that may act in it, not about the thousand tenants' admins.
    /// The oracle is [`Search::who_can_scanning`] (`tests/attack_paths.rs`).
    pub fn who_can(&self, req: &Request) -> Vec<(Subject, Closure)> {
        let subjects = self.searched_subjects();
        match (&req.namespace, req.is_non_resource()) {
            (Some(ns), false) => {
                if let Some(idx) = self.candidates(ns) {
                    return self.who_can_among(req, idx.into_iter().map(|i| &subjects[i]));
                }
                self.who_can_scoped(req)
            }
            // A cluster-wide resource request: only a ClusterRoleBinding grants it,
            // and every power but a role or an `escalate` in a namespace (which
            // give only that namespace's requests) leads anywhere: the subjects
            // of [`Backward::anywhere`].
            (None, false) => match self.backward.get_or_init(|| self.backward_index()) {
                Some(b) => self.who_can_among(req, b.anywhere_idx.iter().map(|&i| &subjects[i])),
                None => self.who_can_among(req, subjects.iter()),
            },
            // A non-resource URL: the bootstrap grants give some to every user.
            (_, true) => self.who_can_among(req, subjects.iter()),
        }
    }

    /// [`Search::who_can`] through the index of every searched subject's scope
    /// ([`Search::scopes`]: each subject's forward search, once), for a
    /// resource request in a namespace: what `who-can` asks when the backward
    /// search ([`Search::candidates`]) cannot answer (a binding names a group
    /// of every user or ServiceAccount); tested against both.
    pub fn who_can_scoped(&self, req: &Request) -> Vec<(Subject, Closure)> {
        let subjects = self.searched_subjects();
        match (&req.namespace, req.is_non_resource()) {
            (Some(ns), false) => {
                let (anywhere, by_ns) = self.scopes();
                let mut idx: Vec<usize> = anywhere.iter().chain(by_ns.get(ns).into_iter().flatten()).copied().collect();
                idx.sort_unstable();
                idx.dedup();
                self.who_can_among(req, idx.into_iter().map(|i| &subjects[i]))
            }
            _ => self.who_can_among(req, subjects.iter()),
        }
    }

    /// [`Search::who_can`] searching from every subject it searches from,
    /// without the index of where their paths lead: the oracle the index is
    /// tested against (`tests/attack_paths.rs`).
    pub fn who_can_scanning(&self, req: &Request) -> Vec<(Subject, Closure)> {
        self.who_can_among(req, self.searched_subjects().iter())
    }

    fn who_can_among<'s>(&self, req: &Request, subjects: impl Iterator<Item = &'s Subject>) -> Vec<(Subject, Closure)> {
        let direct: BTreeSet<Subject> = self.directly(req).iter().map(|a| a.subject.clone()).collect();
        let mut out = Vec::new();
        for s in subjects {
            if direct.contains(s) {
                continue;
            }
            let c = self.paths_to(s, req);
            if c.paths.iter().any(|p| p.pruned.is_none()) {
                out.push((s.clone(), c));
            }
        }
        out
    }

    /// The searched subjects (indexes into [`Search::searched_subjects`], in
    /// order) whose followable paths may obtain a resource request in `ns`: a
    /// superset of those [`Search::scopes`] holds for `ns`, found backward
    /// from the namespace instead of forward from every subject (`None`: a
    /// binding names `system:authenticated` or `system:serviceaccounts`, and
    /// every identity would be a target).
    ///
    /// Such a path ends at an identity bound in `ns` or holding a power there
    /// or anywhere. Every power but a role bound or an `escalate` in a
    /// namespace needs a ClusterRoleBinding, or a hostPath pod where no
    /// admission refuses it; a role bound or an `escalate` in `ns` needs a
    /// RoleBinding there. So the targets are the identities the RoleBindings
    /// of `ns` name, and those of [`Backward::anywhere`]. A step to a
    /// ServiceAccount of namespace X (impersonation, a token, a pod, a Secret)
    /// is allowed only by a RoleBinding of X or a ClusterRoleBinding, a step
    /// to a user or group (impersonation) only by a ClusterRoleBinding: the
    /// identities that may become a target are the subjects those bindings
    /// name (a group of X's ServiceAccounts: each of them), iterated to a
    /// fixpoint. `-n t5` over a fleet of tenant admins visits t5's few
    /// subjects, not the forward search of every admin.
    fn candidates(&self, ns: &str) -> Option<Vec<usize>> {
        let b = self.backward.get_or_init(|| self.backward_index()).as_ref()?;
        let mut seen: BTreeSet<Subject> = BTreeSet::new();
        let mut queue: Vec<Subject> = Vec::new();
        self.expand(b.named_in.get(ns).into_iter().flatten(), &mut queue);
        while let Some(t) = queue.pop() {
            if b.anywhere.contains(&t) || !seen.insert(t.clone()) {
                continue;
            }
            if let Subject::ServiceAccount { namespace, .. } = &t {
                self.expand(b.named_in.get(namespace).into_iter().flatten(), &mut queue);
            }
        }
        let mut idx: Vec<usize> = b.anywhere_idx.iter().copied().chain(seen.iter().filter_map(|s| b.index.get(s).copied())).collect();
        idx.sort_unstable();
        idx.dedup();
        Some(idx)
    }

    /// The identities a binding naming `named` grants to: the subjects
    /// themselves, and each ServiceAccount of a namespace a group
    /// `system:serviceaccounts:NS` names.
    fn expand<'s>(&self, named: impl Iterator<Item = &'s Subject>, out: &mut Vec<Subject>) {
        for s in named {
            out.push(s.clone());
            if let Subject::Group { name } = s {
                if let Some(ns) = name.strip_prefix("system:serviceaccounts:") {
                    out.extend(self.accounts.get(ns).into_iter().flatten().map(|a| Subject::sa(ns, a)));
                }
            }
        }
    }

    /// The index of [`Search::candidates`] (`None`: a group of every user or
    /// ServiceAccount is bound).
    fn backward_index(&self) -> Option<Backward> {
        let rbac = &self.ws.rbac;
        let mut named_in: HashMap<String, Vec<Subject>> = HashMap::new();
        let mut seeds: Vec<Subject> = Vec::new();
        for b in &rbac.bindings {
            if b.subjects.iter().any(|s| matches!(s, Subject::Group { name } if name == "system:authenticated" || name == "system:serviceaccounts")) {
                return None;
            }
            match &b.namespace {
                None => self.expand(b.subjects.iter(), &mut seeds),
                Some(ns) => {
                    named_in.entry(ns.clone()).or_default().extend(b.subjects.iter().cloned());
                    // A hostPath pod is the node's root: anywhere, unless admission refuses it.
                    if self.may_create_pods(rbac.role_of(b)) && self.host_path_refused(ns).is_none() {
                        self.expand(b.subjects.iter(), &mut seeds);
                    }
                }
            }
        }
        for v in named_in.values_mut() {
            v.sort();
            v.dedup();
        }
        let mut anywhere = BTreeSet::new();
        while let Some(t) = seeds.pop() {
            if !anywhere.insert(t.clone()) {
                continue;
            }
            if let Subject::ServiceAccount { namespace, .. } = &t {
                self.expand(named_in.get(namespace).into_iter().flatten(), &mut seeds);
            }
        }
        let index: HashMap<Subject, usize> = self.searched_subjects().iter().enumerate().map(|(i, s)| (s.clone(), i)).collect();
        let mut anywhere_idx: Vec<usize> = anywhere.iter().filter_map(|s| index.get(s).copied()).collect();
        anywhere_idx.sort_unstable();
        Some(Backward { named_in, anywhere, anywhere_idx, index })
    }

    /// Whether some rule of `role` allows creating pods (memoized per role).
    fn may_create_pods(&self, role: Option<&RoleDef>) -> bool {
        let Some(role) = role else { return false };
        memo(&self.pod_roles, &(role as *const RoleDef), || {
            let req = Request::new("create", "pods", None, None);
            role.rules.iter().any(|r| r.allows(&req))
        })
    }

    /// The namespaces where `who`'s followable paths ([`Search::paths_to`],
    /// those khc's admission does not refuse) may obtain a resource request
    /// (`None`: anywhere). Such a path ends with a request made as an identity
    /// reached (its bindings' namespaces; a ClusterRoleBinding: anywhere), or
    /// with a power (a role bound or an `escalate` in a namespace; any other
    /// power: anywhere). Pruned paths are left out: [`Search::who_can`] lists
    /// only subjects with a followable path (and then all their paths).
    fn scope(&self, who: &Subject) -> Option<BTreeSet<String>> {
        let reached = self.identities(who);
        let mut out = BTreeSet::new();
        let bound_in = |t: &Subject, out: &mut BTreeSet<String>| -> Option<()> {
            for (ns, _, _) in self.perms(t).iter() {
                out.insert(ns.clone()?);
            }
            Some(())
        };
        for (t, prefix) in &reached.identities {
            if !prefix.is_empty() {
                bound_in(t, &mut out)?;
            }
            for (p, _, _) in self.powers(t).iter().filter(|(_, _, pruned)| pruned.is_none()) {
                match p {
                    Power::Role { namespace: Some(n), .. } | Power::AnyIn(Some(n)) => {
                        out.insert(n.clone());
                    }
                    _ => return None,
                }
            }
        }
        Some(out)
    }

    /// [`Search::scope`] of every searched subject, indexed by namespace
    /// (computed once: each subject's identities and powers are memoized, and
    /// a question in one namespace searches from those that may lead there).
    fn scopes(&self) -> &Scopes {
        self.scopes.get_or_init(|| {
            let mut anywhere = Vec::new();
            let mut by_ns: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, s) in self.searched_subjects().iter().enumerate() {
                match self.scope(s) {
                    None => anywhere.push(i),
                    Some(nss) => {
                        for n in nss {
                            by_ns.entry(n).or_default().push(i);
                        }
                    }
                }
            }
            (anywhere, by_ns)
        })
    }

    /// The subjects `who-can` searches from (memoized through the moves cache's
    /// workspace): those holding an escalation step beyond pod creation and
    /// Secret reads (impersonate, bind, escalate, tokens, CSRs, webhooks,
    /// PersistentVolumes, nodes/proxy).
    fn searched_subjects(&self) -> &[Subject] {
        self.risky.get_or_init(|| {
            let rbac: &'a crate::rbac::Rbac = &self.ws.rbac;
            // Decided per binding (through its role, once per role and once per
            // distinct rule), not by each subject's permissions: the fleet's
            // tenant developers are not searched from, nor their permissions held.
            let risky: Vec<bool> = rbac.bindings.iter().map(|b| rbac.role_of(b).is_some_and(|r| self.risky_role(r))).collect();
            rbac.subjects().into_iter().filter(|s| self.binding_indexes(s).into_iter().any(|i| risky[i])).collect()
        })
    }

    /// Whether `role` holds an escalation step beyond pod creation and Secret
    /// reads (memoized per role, and per rule: every tenant's Role with the
    /// same rules is decided once).
    fn risky_role(&self, role: &'a RoleDef) -> bool {
        memo(&self.risky_roles, &(role as *const RoleDef), || {
            role.rules.iter().any(|rule| {
                // Pod creation and Secret reads alone are the one-step escalations
                // `Rbac::who_can` already follows; searching from every subject that
                // may create a Deployment would cost a search per tenant developer.
                memo(&self.risky_rules, &rule, || {
                    crate::effects::risks(rule)
                        .iter()
                        .any(|x| !x.starts_with("creates pods") && !x.starts_with("reads Secrets") && !x.starts_with("lists Secrets"))
                })
            })
        })
    }
}

/// The multi-step ways `who` obtains `req` (direct grants excluded: a path has at
/// least one step beyond the subject's own grants), pruned paths included.
pub fn paths_to(ws: &Workspace, who: &Subject, req: &Request) -> Closure {
    Search::new(ws).paths_to(who, req)
}

/// Every subject (named by a binding) with a multi-step path to `req` and no
/// direct grant, with its paths. Only subjects that hold an escalation step
/// beyond pod creation and Secret reads (impersonate, bind, escalate, tokens,
/// CSRs, webhooks, PersistentVolumes, nodes/proxy) are searched from.
pub fn who_can_by_escalation(ws: &Workspace, req: &Request) -> Vec<(Subject, Closure)> {
    Search::new(ws).who_can(req)
}

/// Everything `who` can become or take, for `blast-radius`: each path's
/// description (the last step is what it obtains), pruned ones marked.
pub fn reachable(ws: &Workspace, who: &Subject) -> Closure {
    let search = Search::new(ws);
    let reached = search.identities(who);
    let mut paths = Vec::new();
    for (s, prefix) in &reached.identities {
        if !prefix.is_empty() {
            paths.push(Path { steps: prefix.clone(), pruned: None });
        }
        for (_, st, pruned) in search.powers(s).iter() {
            paths.push(Path { steps: with(prefix.clone(), st.clone()), pruned: pruned.clone() });
        }
    }
    for (_, steps, why) in &reached.refused {
        paths.push(Path { steps: steps.clone(), pruned: Some(why.clone()) });
    }
    paths.sort_by_key(|p| (p.pruned.is_some(), p.steps.len()));
    Closure { paths, bound: reached.bound.clone() }
}
