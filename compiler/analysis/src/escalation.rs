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
//! denies it; a change to a role khc manages where `managed-by` protects it.
//! The search is bounded ([`MAX_DEPTH`] steps, [`MAX_IDENTITIES`] identities);
//! when a bound is hit the answer says so.

use crate::rbac::{Grant, Request, Subject, POD_MAKERS};
use crate::{pss, Workspace};
use serde::Serialize;
use std::collections::{BTreeSet, VecDeque};

/// The longest path followed.
pub const MAX_DEPTH: usize = 4;
/// The most identities visited from one subject.
pub const MAX_IDENTITIES: usize = 400;

/// One step of an escalation path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What the subject does (`impersonate user:alice`, `bind ClusterRole admin in namespace a`).
    pub how: String,
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
    /// Ways to the permission (or, for [`powers`], to each power).
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
    /// The permissions of a role, bound to itself in a namespace (`None`: cluster-wide).
    Role { kind: String, name: String, namespace: Option<String> },
    /// Any permission in a namespace (`None`: cluster-wide), through `escalate`.
    AnyIn(Option<String>),
    /// Sees the objects of every request a validating webhook is sent (Secrets' values).
    SeesRequests,
}

struct Search<'a> {
    ws: &'a Workspace,
    namespaces: Vec<String>,
    subjects: BTreeSet<Subject>,
}

fn with(mut steps: Vec<Step>, step: Step) -> Vec<Step> {
    steps.push(step);
    steps
}

impl<'a> Search<'a> {
    fn new(ws: &'a Workspace) -> Search<'a> {
        let mut namespaces: BTreeSet<String> = ws.tenants().flat_map(|t| t.namespaces.iter().cloned()).collect();
        namespaces.extend(ws.rbac.bindings.iter().filter_map(|b| b.namespace.clone()));
        namespaces.extend(ws.external_namespaces());
        let mut subjects = ws.rbac.subjects();
        for ns in &namespaces {
            subjects.insert(Subject::sa(ns, "default"));
        }
        Search { ws, namespaces: namespaces.into_iter().collect(), subjects }
    }

    fn grants(&self, who: &Subject, verb: &str, res: &str, ns: Option<&str>, name: Option<&str>) -> Vec<Grant> {
        self.ws.rbac.grants(who, &Request::new(verb, res, ns, name))
    }

    /// Why khc's admission refuses a hostPath pod in `ns`, if it does.
    fn host_path_refused(&self, ns: &str) -> Option<String> {
        let pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "x", "namespace": ns},
            "spec": {"containers": [{"name": "x", "image": "x"}], "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}
        });
        if let Some(t) = self.ws.tenant_of(ns) {
            let ps = &t.pod_security;
            if !pss::check(ps.enforce, pss::minor_of(&ps.version), &pod["metadata"], &pod["spec"]).iter().all(|v| v.control != "host-path") {
                return Some(format!("Pod Security enforce {} in {ns} refuses hostPath volumes ({})", ps.enforce.as_str(), t.origin));
            }
        } else {
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
        let labels = self.ws.network.labels_of(ns);
        for (policy, binding) in self.ws.admission.applicable("", "pods", &labels) {
            if let Some(v) = policy.evaluate(&pod, &binding.actions).into_iter().find(|v| v.actions.iter().any(|a| a == "Deny") && v.error.is_none()) {
                return Some(format!("khc admission rule {} ({}) refuses hostPath volumes in {ns}", v.rule, v.rule_source));
            }
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

    /// The identities `who` can become in one step.
    fn moves(&self, who: &Subject) -> Vec<(Subject, Step)> {
        let mut out = Vec::new();
        let impersonates = !self.grants(who, "impersonate", "users", None, None).is_empty()
            || !self.grants(who, "impersonate", "groups", None, None).is_empty()
            || !self.grants(who, "impersonate", "serviceaccounts", None, None).is_empty()
            || self.ws.rbac.permissions_of(who).iter().any(|(_, _, r)| r.rules.iter().any(|r| r.verbs.iter().any(|v| v == "impersonate" || v == "*")));
        for s in &self.subjects {
            if s == who {
                continue;
            }
            if impersonates {
                let (res, ns, name) = match s {
                    Subject::User { name } => ("users", None, name.as_str()),
                    Subject::Group { name } => ("groups", None, name.as_str()),
                    Subject::ServiceAccount { namespace, name } => ("serviceaccounts", Some(namespace.as_str()), name.as_str()),
                };
                let g = self.grants(who, "impersonate", res, ns, Some(name));
                if !g.is_empty() {
                    out.push((s.clone(), Step { how: format!("impersonate {s}"), grants: g }));
                    continue;
                }
            }
            if let Subject::ServiceAccount { namespace, name } = s {
                let g = self.grants(who, "create", "serviceaccounts/token", Some(namespace), Some(name));
                if !g.is_empty() {
                    out.push((s.clone(), Step { how: format!("create a token for {s} (serviceaccounts/token)"), grants: g }));
                    continue;
                }
                if let Some((res, g)) = POD_MAKERS.iter().find_map(|r| {
                    let g = self.grants(who, "create", r, Some(namespace), None);
                    (!g.is_empty()).then_some((*r, g))
                }) {
                    let plural = res.split('.').next().unwrap_or(res);
                    out.push((s.clone(), Step { how: format!("create {plural} in {namespace} whose pods run as {s}"), grants: g }));
                    continue;
                }
                let g = self.grants(who, "get", "secrets", Some(namespace), None);
                if !g.is_empty() {
                    out.push((
                        s.clone(),
                        Step {
                            how: format!("read the token of {s} from a kubernetes.io/service-account-token Secret in {namespace} (where one exists)"),
                            grants: g,
                        },
                    ));
                }
            }
        }
        out
    }

    /// The powers `who` can take in one step, with the pruned ones.
    fn powers(&self, who: &Subject) -> Vec<(Power, Step, Option<String>)> {
        let mut out = Vec::new();
        let g = self.grants(who, "impersonate", "groups", None, Some("system:masters"));
        if !g.is_empty() {
            out.push((Power::Everything, Step { how: "impersonate group:system:masters (every permission)".into(), grants: g }, None));
        }
        // A client certificate for any user or group (system:masters included).
        let csr = self.grants(who, "create", "certificatesigningrequests.certificates.k8s.io", None, None);
        let approval = self.grants(who, "update", "certificatesigningrequests.certificates.k8s.io/approval", None, None);
        let signer = ["kubernetes.io/kube-apiserver-client", "kubernetes.io/*"]
            .iter()
            .map(|n| self.grants(who, "approve", "signers.certificates.k8s.io", None, Some(*n)))
            .find(|g| !g.is_empty());
        if let (false, false, Some(signer)) = (csr.is_empty(), approval.is_empty(), signer) {
            let grants = [csr, approval, signer].concat();
            out.push((
                Power::Everything,
                Step { how: "create and approve a CertificateSigningRequest for a kube-apiserver-client certificate of group system:masters".into(), grants },
                None,
            ));
        }
        for kind in ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"] {
            let g = self.grants(who, "create", &format!("{kind}.admissionregistration.k8s.io"), None, None);
            if !g.is_empty() {
                let (p, how) = if kind.starts_with("mutating") {
                    (
                        Power::Everything,
                        "create a MutatingWebhookConfiguration that rewrites every request (pods to run as any ServiceAccount, with host access)",
                    )
                } else {
                    (Power::SeesRequests, "create a ValidatingWebhookConfiguration that is sent every request's object (Secret values included)")
                };
                out.push((p, Step { how: how.into(), grants: g }, None));
            }
        }
        // A node's root: every ServiceAccount whose pods run there.
        for verb in ["get", "create"] {
            let g = self.grants(who, verb, "nodes/proxy", None, None);
            if !g.is_empty() {
                out.push((
                    Power::AnyServiceAccount,
                    Step { how: format!("{verb} nodes/proxy: exec in any pod through the kubelet, as its ServiceAccount"), grants: g },
                    None,
                ));
                break;
            }
        }
        let pv = self.grants(who, "create", "persistentvolumes", None, None);
        for ns in &self.namespaces {
            let pods = self.grants(who, "create", "pods", Some(ns), None);
            if pods.is_empty() {
                continue;
            }
            if !pv.is_empty() {
                let g = [pv.clone(), pods.clone()].concat();
                out.push((
                    Power::AnyServiceAccount,
                    Step {
                        how: format!("create a hostPath PersistentVolume and a pod in {ns} that mounts it: the node's root, and the tokens of every pod there"),
                        grants: g,
                    },
                    None,
                ));
            }
            let pruned = self.host_path_refused(ns);
            out.push((
                Power::AnyServiceAccount,
                Step { how: format!("create a pod with a hostPath volume in {ns}: the node's root, and the tokens of every pod there"), grants: pods },
                pruned,
            ));
        }
        // bind: create a binding to a role it may bind.
        let scopes: Vec<Option<&str>> = std::iter::once(None).chain(self.namespaces.iter().map(|n| Some(n.as_str()))).collect();
        for scope in scopes {
            let binding_res = if scope.is_some() { "rolebindings.rbac.authorization.k8s.io" } else { "clusterrolebindings.rbac.authorization.k8s.io" };
            let create = self.grants(who, "create", binding_res, scope, None);
            if create.is_empty() {
                continue;
            }
            for ((kind, rns, name), _) in self.ws.rbac.roles.iter() {
                if kind == "Role" && rns.as_deref() != scope {
                    continue;
                }
                if kind == "Role" && scope.is_none() {
                    continue;
                }
                let res = if kind == "Role" { "roles.rbac.authorization.k8s.io" } else { "clusterroles.rbac.authorization.k8s.io" };
                let bind = self.grants(who, "bind", res, scope, Some(name));
                if bind.is_empty() {
                    continue;
                }
                let where_ = scope.map_or("cluster-wide".to_string(), |n| format!("in namespace {n}"));
                out.push((
                    Power::Role { kind: kind.clone(), name: name.clone(), namespace: scope.map(str::to_string) },
                    Step { how: format!("bind {kind} {name} to itself {where_} (`bind`)"), grants: [create.clone(), bind].concat() },
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
                    Step {
                        how: format!("create a role with any permission (`escalate`) and bind it to itself {where_}"),
                        grants: [esc, create_role, bind_any, create.clone()].concat(),
                    },
                    None,
                ));
            }
        }
        // escalate on a role already bound to it: add any rule.
        for (ns, b, role) in self.ws.rbac.permissions_of(who) {
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
                Step {
                    how: format!("add any rule to {} {} (`escalate`), bound to it by {} {}", role.kind, role.name, b.kind, b.name) + &format!(" {where_}"),
                    grants: [esc, upd].concat(),
                },
                pruned,
            ));
        }
        out
    }

    /// Whether a power gives `req`, and the final step's extra text.
    fn power_gives(&self, p: &Power, req: &Request) -> Option<Vec<Grant>> {
        match p {
            Power::Everything => Some(Vec::new()),
            Power::AnyServiceAccount => {
                self.ws.rbac.who_can_directly(req).into_iter().find(|a| matches!(a.subject, Subject::ServiceAccount { .. })).map(|a| a.grants)
            }
            Power::Role { kind, name, namespace } => {
                if namespace.is_some() && namespace != &req.namespace {
                    return None;
                }
                let role = self.ws.rbac.roles.get(&(kind.clone(), if kind == "Role" { namespace.clone() } else { None }, name.clone()))?;
                role.rules.iter().any(|r| r.allows(req)).then(Vec::new)
            }
            Power::AnyIn(ns) => (ns.is_none() || ns == &req.namespace).then(Vec::new),
            Power::SeesRequests => (req.group.is_empty() && req.resource == "secrets" && matches!(req.verb.as_str(), "get" | "list" | "watch")).then(Vec::new),
        }
    }

    /// Breadth-first from `who`: every identity reachable, with its path.
    fn identities(&self, who: &Subject) -> (Vec<(Subject, Vec<Step>)>, Option<String>) {
        let mut seen: BTreeSet<Subject> = BTreeSet::new();
        seen.insert(who.clone());
        let mut queue = VecDeque::from([(who.clone(), Vec::<Step>::new())]);
        let mut out = Vec::new();
        let mut bound = None;
        while let Some((s, path)) = queue.pop_front() {
            out.push((s.clone(), path.clone()));
            if path.len() >= MAX_DEPTH {
                if !self.moves(&s).iter().all(|(t, _)| seen.contains(t)) {
                    bound = Some(format!("paths longer than {MAX_DEPTH} steps were not followed"));
                }
                continue;
            }
            for (t, step) in self.moves(&s) {
                if seen.contains(&t) {
                    continue;
                }
                if seen.len() >= MAX_IDENTITIES {
                    bound = Some(format!("the search stopped after {MAX_IDENTITIES} identities"));
                    break;
                }
                seen.insert(t.clone());
                queue.push_back((t, with(path.clone(), step)));
            }
        }
        (out, bound)
    }
}

/// The multi-step ways `who` obtains `req` (direct grants excluded: a path has at
/// least one step beyond the subject's own grants), pruned paths included.
pub fn paths_to(ws: &Workspace, who: &Subject, req: &Request) -> Closure {
    let search = Search::new(ws);
    let (ids, bound) = search.identities(who);
    let mut paths = Vec::new();
    for (s, prefix) in &ids {
        if !prefix.is_empty() {
            let g = ws.rbac.grants(s, req);
            if !g.is_empty() {
                paths.push(Path { steps: with(prefix.clone(), Step { how: format!("as {s}: {}", req.describe()), grants: g }), pruned: None });
                continue;
            }
        }
        for (p, step, pruned) in search.powers(s) {
            if let Some(g) = search.power_gives(&p, req) {
                let mut steps = with(prefix.clone(), step);
                if !g.is_empty() {
                    steps.push(Step { how: format!("as a ServiceAccount that may: {}", req.describe()), grants: g });
                }
                paths.push(Path { steps, pruned });
            }
        }
    }
    // Followable paths first, shortest first.
    paths.sort_by_key(|p| (p.pruned.is_some(), p.steps.len()));
    let mut seen = BTreeSet::new();
    paths.retain(|p| seen.insert(p.describe()));
    Closure { paths, bound }
}

/// Every subject (named by a binding) with a multi-step path to `req` and no
/// direct grant, with its paths. Only subjects that hold an escalation step
/// beyond pod creation and Secret reads (impersonate, bind, escalate, tokens,
/// CSRs, webhooks, PersistentVolumes, nodes/proxy) are searched from.
pub fn who_can_by_escalation(ws: &Workspace, req: &Request) -> Vec<(Subject, Closure)> {
    let direct: BTreeSet<Subject> = ws.rbac.who_can_directly(req).into_iter().map(|a| a.subject).collect();
    let mut out = Vec::new();
    for s in ws.rbac.subjects() {
        if direct.contains(&s) {
            continue;
        }
        // Pod creation and Secret reads alone are the one-step escalations
        // `Rbac::who_can` already follows; searching from every subject that may
        // create a Deployment would cost a search per tenant developer.
        let risky = ws.rbac.permissions_of(&s).iter().any(|(_, _, r)| {
            r.rules.iter().any(|r| {
                crate::effects::risks(r).iter().any(|x| !x.starts_with("creates pods") && !x.starts_with("reads Secrets") && !x.starts_with("lists Secrets"))
            })
        });
        if !risky {
            continue;
        }
        let c = paths_to(ws, &s, req);
        if c.paths.iter().any(|p| p.pruned.is_none()) {
            out.push((s, c));
        }
    }
    out
}

/// Everything `who` can become or take, for `blast-radius`: each path's
/// description (the last step is what it obtains), pruned ones marked.
pub fn reachable(ws: &Workspace, who: &Subject) -> Closure {
    let search = Search::new(ws);
    let (ids, bound) = search.identities(who);
    let mut paths = Vec::new();
    for (s, prefix) in &ids {
        if !prefix.is_empty() {
            paths.push(Path { steps: prefix.clone(), pruned: None });
        }
        for (_, step, pruned) in search.powers(s) {
            paths.push(Path { steps: with(prefix.clone(), step), pruned });
        }
    }
    paths.sort_by_key(|p| (p.pruned.is_some(), p.steps.len()));
    Closure { paths, bound }
}
