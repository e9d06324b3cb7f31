//! RBAC: `role NAME { can … on … }` and `grant ROLE to …` (SPEC.md section 9).

use crate::context::{word, At, Ctx};
use crate::env::{OidcPrefixes, Tenants};
use crate::model::*;
use crate::schema::{self, BlockKind};
use crate::values;
use khc_syntax::{Diagnostic, Span, Value};
use std::collections::BTreeMap;

/// Built-in API groups and their resources (with the subresources worth naming).
const BUILTIN: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "bindings",
            "componentstatuses",
            "configmaps",
            "endpoints",
            "events",
            "groups",
            "limitranges",
            "namespaces",
            "namespaces/finalize",
            "namespaces/status",
            "nodes",
            "nodes/configz",
            "nodes/healthz",
            "nodes/log",
            "nodes/metrics",
            "nodes/pods",
            "nodes/proxy",
            "nodes/spec",
            "nodes/stats",
            "nodes/status",
            "persistentvolumeclaims",
            "persistentvolumeclaims/status",
            "persistentvolumes",
            "pods",
            "pods/attach",
            "pods/binding",
            "pods/ephemeralcontainers",
            "pods/eviction",
            "pods/exec",
            "pods/log",
            "pods/portforward",
            "pods/proxy",
            "pods/status",
            "podtemplates",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "replicationcontrollers/status",
            "resourcequotas",
            "resourcequotas/status",
            "secrets",
            "serviceaccounts",
            "serviceaccounts/token",
            "services",
            "services/proxy",
            "services/status",
            "users",
        ],
    ),
    (
        "apps",
        &[
            "controllerrevisions",
            "daemonsets",
            "daemonsets/status",
            "deployments",
            "deployments/scale",
            "deployments/status",
            "replicasets",
            "replicasets/scale",
            "replicasets/status",
            "statefulsets",
            "statefulsets/scale",
            "statefulsets/status",
        ],
    ),
    ("batch", &["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
    ("autoscaling", &["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
    ("policy", &["poddisruptionbudgets", "poddisruptionbudgets/status"]),
    ("networking.k8s.io", &["ingressclasses", "ingresses", "ingresses/status", "networkpolicies"]),
    ("rbac.authorization.k8s.io", &["clusterrolebindings", "clusterroles", "rolebindings", "roles"]),
    ("storage.k8s.io", &["csidrivers", "csinodes", "csistoragecapacities", "storageclasses", "volumeattachments"]),
    ("coordination.k8s.io", &["leases"]),
    ("discovery.k8s.io", &["endpointslices"]),
    ("events.k8s.io", &["events"]),
    ("scheduling.k8s.io", &["priorityclasses"]),
    ("node.k8s.io", &["runtimeclasses"]),
    ("apiextensions.k8s.io", &["customresourcedefinitions", "customresourcedefinitions/status"]),
    (
        "admissionregistration.k8s.io",
        &["mutatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings", "validatingwebhookconfigurations"],
    ),
    ("certificates.k8s.io", &["certificatesigningrequests", "certificatesigningrequests/approval", "certificatesigningrequests/status", "signers"]),
    ("authentication.k8s.io", &["tokenreviews", "uids", "userextras/scopes"]),
    ("authorization.k8s.io", &["localsubjectaccessreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews", "subjectaccessreviews"]),
];

/// Every built-in resource with its API group ("" for core), for completion.
pub fn builtin_resources() -> impl Iterator<Item = (&'static str, &'static str)> {
    BUILTIN.iter().flat_map(|(group, rs)| rs.iter().map(move |r| (*group, *r)))
}

/// Whether a built-in resource (group, plural without subresource) is
/// cluster-scoped, so that only a cluster role may grant it.
pub fn is_cluster_scoped(group: &str, resource: &str) -> bool {
    CLUSTER_SCOPED.iter().any(|(g, r)| *g == group && *r == resource)
}

/// Built-in ClusterRoles a tenant may grant in its namespaces.
pub(crate) const BUILTIN_TENANT_ROLES: &[&str] = &["view", "edit", "admin"];

/// The longest role name: `clusterrolebinding-NAME.yaml` fits in 255 bytes.
const MAX_ROLE_NAME: usize = 255 - "clusterrolebinding-".len() - ".yaml".len();

/// Built-in ClusterRoles a `role` may not replace or shadow.
const BUILTIN_ROLE_NAMES: &[&str] = &["cluster-admin", "admin", "edit", "view"];

/// Resources that are not namespaced: a Role (tenant role) cannot grant them.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "namespaces"),
    ("", "nodes"),
    ("", "persistentvolumes"),
    ("", "componentstatuses"),
    ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("storage.k8s.io", "storageclasses"),
    ("storage.k8s.io", "csidrivers"),
    ("storage.k8s.io", "csinodes"),
    ("storage.k8s.io", "volumeattachments"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
    ("certificates.k8s.io", "certificatesigningrequests"),
    ("node.k8s.io", "runtimeclasses"),
    ("scheduling.k8s.io", "priorityclasses"),
    ("networking.k8s.io", "ingressclasses"),
];

/// Namespaced resources whose write access undoes what khc set up in a tenant.
const TENANT_GUARDRAILS: &[(&str, &str, &str)] = &[
    ("networking.k8s.io", "networkpolicies", "can delete or rewrite the tenant's network isolation"),
    ("", "resourcequotas", "can lift the tenant's quota"),
    ("", "limitranges", "can lift the tenant's container limits"),
    ("rbac.authorization.k8s.io", "roles", "can write Roles (privilege escalation within the namespace)"),
    ("rbac.authorization.k8s.io", "rolebindings", "can bind roles to anyone (privilege escalation)"),
    ("", "serviceaccounts/token", "can mint tokens for any ServiceAccount of the namespace"),
];

/// Cluster-wide writes that undo what khc set up, or are CIS 5.1 powers, in a
/// cluster role: `(group, resource, verbs that count, what the holder can do)`.
const CLUSTER_GUARDRAILS: &[(&str, &str, &[&str], &str)] = &[
    ("networking.k8s.io", "networkpolicies", WRITE_VERBS, "can delete or rewrite every tenant's network isolation, cluster-wide"),
    ("", "resourcequotas", WRITE_VERBS, "can lift every tenant's quota, cluster-wide"),
    ("", "limitranges", WRITE_VERBS, "can lift every tenant's container limits, cluster-wide"),
    ("rbac.authorization.k8s.io", "roles", WRITE_VERBS, "can write Roles in every namespace (privilege escalation, cluster-wide)"),
    ("rbac.authorization.k8s.io", "rolebindings", WRITE_VERBS, "can bind roles to anyone in every namespace (privilege escalation, cluster-wide)"),
    ("", "serviceaccounts/token", CREATE, "can mint tokens for every ServiceAccount of the cluster"),
    ("", "pods", CREATE, "can run pods in every namespace, as any ServiceAccount of it"),
    ("", "replicationcontrollers", CREATE, "can run pods in every namespace, as any ServiceAccount of it"),
    ("apps", "deployments", CREATE, "can run pods in every namespace, as any ServiceAccount of it"),
    ("apps", "replicasets", CREATE, "can run pods in every namespace, as any ServiceAccount of it"),
    ("apps", "statefulsets", CREATE, "can run pods in every namespace, as any ServiceAccount of it"),
    ("apps", "daemonsets", CREATE, "can run pods in every namespace, as any ServiceAccount of it"),
    ("batch", "jobs", CREATE, "can run pods in every namespace, as any ServiceAccount of it"),
    ("batch", "cronjobs", CREATE, "can run pods in every namespace, as any ServiceAccount of it"),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
        WRITE_VERBS,
        "can remove every khc admission rule and the `managed-by` protection itself, cluster-wide",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
        WRITE_VERBS,
        "can unbind every khc admission rule and the `managed-by` protection itself, cluster-wide",
    ),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", WRITE_VERBS, "can intercept and rewrite every API request (CIS 5.1.8)"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations", WRITE_VERBS, "can intercept every API request or refuse them all (CIS 5.1.8)"),
    ("", "persistentvolumes", CREATE, "can create hostPath PersistentVolumes and so mount any node directory (CIS 5.1.9)"),
    (
        "certificates.k8s.io",
        "certificatesigningrequests/approval",
        &["update", "patch", "*"],
        "can approve certificate requests; with `approve` on `signers`, issue client certificates for any user or group (CIS 5.1.11)",
    ),
    ("certificates.k8s.io", "signers", &["approve", "*"], "can approve certificates for the signer, naming any user or group (CIS 5.1.11)"),
];

/// Writes that recreate a known attack path, in any role: `(group, resource, what the holder can do)`.
const CVE_GRANTS: &[(&str, &str, &str)] = &[
    ("", "endpoints", "can point a Service at any address, e.g. the API server or another tenant's pods (CVE-2021-25740)"),
    ("discovery.k8s.io", "endpointslices", "can point a Service at any address, e.g. the API server or another tenant's pods (CVE-2021-25740)"),
    ("", "services/status", "can set a LoadBalancer's ingress IP and intercept the cluster's traffic to it (CVE-2020-8554)"),
    ("", "pods/binding", "can place pods on any node, the scheduler's power (e.g. on another tenant's nodes)"),
    ("", "pods/status", "can rewrite pods' status (readiness, IPs) that Services and controllers trust"),
    ("", "resourcequotas/status", "can reset a quota's recorded usage and so exceed it"),
    ("", "namespaces/status", "can change a namespace's labels, its Pod Security level included, through the status subresource"),
    ("", "namespaces/finalize", "can change a namespace's labels, its Pod Security level included, through the finalize subresource"),
];

/// Resources whose `create` runs a pod as any ServiceAccount of its namespace.
const POD_MAKERS: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "replicationcontrollers"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
];

/// Whether a rule lets its holder run pods as any ServiceAccount of a namespace
/// it applies in: `create` on pods or a pod-making kind (not with `names`, which
/// never authorizes `create`), or `update`/`patch` on a pod-making kind (its pod
/// template, `serviceAccountName` included). PodTemplates make no pods.
pub(crate) fn rule_makes_pods(r: &RoleRule) -> bool {
    khc_rules::facts::POD_KINDS.iter().filter(|k| k.kind != "PodTemplate").any(|k| {
        let group = r.api_groups.iter().any(|g| g == k.group || g == "*");
        let resource = r.resources.iter().any(|x| x == k.plural || x == "*");
        let verbs: &[&str] = if k.template.is_empty() { &["create", "*"] } else { &["create", "update", "patch", "*"] };
        // `names` never authorizes `create`, but a named controller's template can be changed.
        let verb = r.verbs.iter().any(|v| verbs.contains(&v.as_str()) && (r.resource_names.is_empty() || (!k.template.is_empty() && v != "create")));
        group && resource && verb
    })
}

/// The built-in ClusterRoles that let the holder run pods.
pub(crate) const BUILTIN_POD_MAKERS: &[&str] = &["edit", "admin", "cluster-admin"];

/// The names of the roles among `roles` that let the holder run pods.
pub(crate) fn pod_maker_roles(roles: &[Role]) -> Vec<String> {
    roles.iter().filter(|r| r.rules.iter().any(rule_makes_pods)).map(|r| r.name.clone()).collect()
}

/// Who `bindings` let run pods, as `SUBJECT (grant ROLE)`: bindings of a Role
/// in `roles`, of a ClusterRole in `cluster_roles` or of a built-in role that
/// runs pods.
pub(crate) fn pod_makers(bindings: &[Binding], roles: &[String], cluster_roles: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for b in bindings {
        let (role, makes) = match &b.role {
            RoleRef::Role(n) => (n, roles.contains(n)),
            RoleRef::ClusterRole(n) => (n, cluster_roles.contains(n) || BUILTIN_POD_MAKERS.contains(&n.as_str())),
        };
        if makes {
            for s in &b.subjects {
                let text = format!("{} (grant `{role}`)", subject_text(s));
                if !out.contains(&text) {
                    out.push(text);
                }
            }
        }
    }
    out
}

const WRITE_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection", "*"];
const CREATE: &[&str] = &["create", "*"];

/// What a role's rules are judged against besides their own text.
#[derive(Clone, Debug, Default)]
pub(crate) struct RoleScope {
    /// A tenant's Role (in each tenant namespace) rather than a ClusterRole.
    pub tenant: bool,
    /// The `managed-by` ServiceAccounts this role's grants reach (a cluster role:
    /// all; a tenant role: those in the tenant's namespaces), as `NS/NAME`: whoever
    /// runs a pod as one, mints its token or reads its Secrets becomes the applier.
    pub applier_accounts: Vec<String>,
    /// Every `managed-by` subject, as text (impersonating any of them becomes the applier).
    pub applier: Vec<String>,
    /// The cluster's Kubernetes minor version (the kubelet's fine-grained
    /// subresources exist from 1.33).
    pub minor_version: u32,
}

/// The kubelet subresources of fine-grained kubelet authorization (KEP-2862:
/// alpha in 1.32 behind `KubeletFineGrainedAuthz`, on by default from 1.33, GA in
/// 1.36). Before, the kubelet checks `nodes/proxy` for these paths.
pub const KUBELET_FINE_GRAINED: &[&str] = &["nodes/configz", "nodes/healthz", "nodes/pods"];

/// The first minor version whose kubelets check [`KUBELET_FINE_GRAINED`] by default.
pub const KUBELET_FINE_GRAINED_SINCE: u32 = 33;

impl RoleScope {
    /// The scope of a tenant's Role: the applier's ServiceAccounts in `namespaces`.
    pub(crate) fn tenant(managed_by: &[Subject], namespaces: &[String], minor_version: u32) -> RoleScope {
        RoleScope {
            tenant: true,
            minor_version,
            applier_accounts: managed_by
                .iter()
                .filter_map(|s| match s {
                    Subject::ServiceAccount { namespace, name } if namespaces.contains(namespace) => Some(format!("{namespace}/{name}")),
                    _ => None,
                })
                .collect(),
            applier: managed_by
                .iter()
                .filter(|s| matches!(s, Subject::ServiceAccount { namespace, .. } if namespaces.contains(namespace)))
                .map(subject_text)
                .collect(),
        }
    }

    /// The scope of a cluster role: every applier is in reach.
    pub(crate) fn cluster(managed_by: &[Subject], minor_version: u32) -> RoleScope {
        RoleScope {
            tenant: false,
            minor_version,
            applier_accounts: managed_by
                .iter()
                .filter_map(|s| match s {
                    Subject::ServiceAccount { namespace, name } => Some(format!("{namespace}/{name}")),
                    _ => None,
                })
                .collect(),
            applier: managed_by.iter().map(subject_text).collect(),
        }
    }
}

/// A subject as written in source (`serviceaccount argocd/x`).
pub(crate) fn subject_text(s: &Subject) -> String {
    match s {
        Subject::User(u) => format!("user {u}"),
        Subject::Group(g) => format!("group {g}"),
        Subject::ServiceAccount { namespace, name } => format!("serviceaccount {namespace}/{name}"),
    }
}

/// Checks `role NAME { can … }`; `tenant` for a tenant's Role.
pub(crate) fn check_role(cx: &mut Ctx, at: &At<'_>, scope: &RoleScope) -> Option<Role> {
    let (name, span) = cx.one_word(at, "a role name")?;
    if BUILTIN_ROLE_NAMES.contains(&name.as_str()) || name.starts_with("system:") {
        let d = cx.error(at, span, "conflict", format!("`{name}` is a built-in role: a role of that name would replace or shadow it"));
        d.notes.push("help: choose another name; grant the built-in role with `grant NAME to …`".into());
        return None;
    }
    if !values::is_dns_subdomain(&name) {
        cx.error(at, span, "invalid-name", format!("`{name}` is not a valid role name"))
            .notes
            .push("help: role names are DNS-1123 subdomains: lowercase letters, digits, `-` and `.`".into());
    } else if name.len() > MAX_ROLE_NAME {
        // The output file `clusterrolebinding-NAME.yaml` must fit in a file name (255 bytes).
        cx.error(at, span, "invalid-name", format!("role name `{}…` is {} characters long; the limit is {MAX_ROLE_NAME}", &name[..20], name.len()))
            .notes
            .push("note: khc writes each object to `KIND-NAME.yaml`, and file names are limited to 255 bytes".into());
    }
    if at.s.block.is_none() {
        cx.error(at, at.s.span, "bad-argument", format!("role `{name}` needs a block of `can … on …` rules"));
    }
    let mut rules = Vec::new();
    for c in at.children() {
        if c.name() != "can" || c.s.name.quoted {
            cx.unknown_statement(&c, BlockKind::Role);
            continue;
        }
        cx.no_block(&c);
        rules.extend(check_can(cx, &c, scope));
    }
    Some(Role { name, origin: at.origin(), rules })
}

/// Checks a `role` statement and appends the role to `roles`, reporting a role
/// whose name was already declared in the same scope (`firsts` maps names to
/// their first declaration). `what` is `role` or `cluster role`.
pub(crate) fn add_role<'a>(cx: &mut Ctx, at: At<'a>, what: &str, roles: &mut Vec<Role>, firsts: &mut BTreeMap<String, At<'a>>, scope: &RoleScope) {
    let Some(r) = check_role(cx, &at, scope) else { return };
    if let Some(first) = firsts.get(&r.name) {
        let first = (first.file(), first.s.span);
        cx.duplicate(&at, at.s.span, &format!("{what} `{}`", r.name), first);
        return;
    }
    firsts.insert(r.name.clone(), at);
    roles.push(r);
}

/// Splits `can VERB… on RESOURCE… [names NAME…]` into its three parts.
fn split_can<'v>(args: &[&'v Value]) -> (Vec<&'v Value>, Option<Vec<&'v Value>>, Option<Vec<&'v Value>>) {
    let is_kw = |v: &Value, kw: &str| matches!(&v.kind, khc_syntax::ValueKind::Name(n) if n == kw);
    let on = args.iter().position(|v| is_kw(v, "on"));
    let names = args.iter().position(|v| is_kw(v, "names"));
    let verbs_end = on.or(names).unwrap_or(args.len());
    let verbs = args[..verbs_end].to_vec();
    let resources = on.map(|o| args[o + 1..names.filter(|n| *n > o).unwrap_or(args.len())].to_vec());
    let names = names.map(|n| args[n + 1..].to_vec());
    (verbs, resources, names)
}

fn check_can(cx: &mut Ctx, at: &At<'_>, scope: &RoleScope) -> Vec<RoleRule> {
    let tenant = scope.tenant;
    let args = at.s.flat_args();
    let (verb_vals, resource_vals, name_vals) = split_can(&args);
    let Some(resource_vals) = resource_vals.filter(|r| !r.is_empty()) else {
        cx.error(at, at.s.span, "bad-argument", "`can` needs resources after `on`").notes.push("help: write `can get list on pods services`".into());
        return Vec::new();
    };
    if verb_vals.is_empty() {
        cx.error(at, at.s.name.span, "bad-argument", "`can` needs at least one verb").notes.push("help: write `can get list on pods`".into());
        return Vec::new();
    }
    let mut verbs = Vec::new();
    for v in &verb_vals {
        let Some(verb) = v.as_text() else { continue };
        if !schema::VERBS.contains(&verb) {
            let d = Diagnostic::error("invalid-value", at.file(), v.span, format!("unknown verb `{verb}`"));
            let d = match values::suggest(&verb, schema::VERBS.names()) {
                Some(s) => d.with_suggestion(s),
                None => d.with_note(format!("verbs are: {}", schema::VERBS.names().join(", "))),
            };
            cx.push(d);
            continue;
        }
        if verb == "*" {
            cx.warning(at, v.span, "risky", "wildcard verb `*` grants every current and future verb").notes.push("help: list the verbs the role needs".into());
        }
        if matches!(verb.as_str(), "escalate" | "bind" | "impersonate") {
            cx.warning(at, v.span, "risky", format!("`{verb}` lets the holder gain permissions it was not granted"));
        }
        if !verbs.contains(&verb) {
            verbs.push(verb);
        }
    }
    let mut names = Vec::new();
    if let Some(nv) = name_vals {
        if nv.is_empty() {
            cx.error(at, at.s.span, "bad-argument", "`names` needs at least one resource name");
        }
        if let Some(v) = verb_vals.iter().find(|v| matches!(v.as_text().as_deref(), Some("create" | "deletecollection"))) {
            let verb = v.as_text().unwrap_or_default();
            cx.error(at, v.span, "conflict", format!("`names` cannot restrict `{verb}`: the grant would silently do nothing"))
                .notes
                .push("note: Kubernetes does not know an object's name before it is created, nor names in a collection request; grant this verb without `names`, in its own `can`".into());
        }
        if let Some(v) = verb_vals.iter().find(|v| v.as_text().as_deref() == Some("*")) {
            cx.warning(at, v.span, "no-effect", "`*` with `names` never authorizes `create`, `deletecollection`, `list` or `watch`: those parts of the grant silently do nothing")
                .notes
                .push("note: Kubernetes does not know an object's name before it is created, nor names in a collection request; list the verbs the named objects need".into());
        }
        for v in nv {
            match word(v) {
                Some(n) if !n.is_empty() => names.push(n.to_string()),
                _ => {
                    cx.error(at, v.span, "invalid-value", "expected a resource name");
                }
            }
        }
    }
    // Group resources by API group, keeping first-seen order.
    let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut urls: Vec<String> = Vec::new();
    for v in resource_vals {
        let Some(text) = v.as_text() else { continue };
        if text.starts_with('/') {
            if let Some(url) = check_url(cx, at, &text, v.span, scope, &names, &verbs) {
                if !urls.contains(&url) {
                    urls.push(url);
                }
            }
            continue;
        }
        if scope.minor_version < KUBELET_FINE_GRAINED_SINCE && KUBELET_FINE_GRAINED.contains(&text.as_str()) {
            cx.warning(at, v.span, "no-effect", format!("kubelets before Kubernetes 1.{KUBELET_FINE_GRAINED_SINCE} do not check `{text}`: they authorize that endpoint with `nodes/proxy`, so this grant does nothing on 1.{}", scope.minor_version))
                .notes
                .push("note: fine-grained kubelet authorization (KEP-2862) is alpha in 1.32 behind the `KubeletFineGrainedAuthz` feature gate and on by default from 1.33".into());
        }
        let Some((resource, group)) = check_resource(cx, at, &text, v.span) else { continue };
        let reads = ["get", "list", "watch", "*"];
        if (resource == "secrets" || resource == "*") && group.is_empty() && verbs.iter().any(|v| reads.contains(&v.as_str())) && names.is_empty() {
            cx.warning(at, v.span, "risky", "read access to all secrets in scope").notes.push("help: narrow it with `names \"secret-name\"`".into());
        }
        if matches!(resource.as_str(), "pods/exec" | "pods/attach" | "nodes/proxy") && verbs.iter().any(|v| v == "create" || v == "*" || v == "get") {
            cx.warning(at, v.span, "risky", format!("access to `{resource}` allows running commands in containers or on nodes"));
        }
        let writes = verbs.iter().any(|v| WRITE_VERBS.contains(&v.as_str()));
        if resource == "pods/ephemeralcontainers" && verbs.iter().any(|v| v == "update" || v == "patch" || v == "*") {
            cx.warning(at, v.span, "risky", "access to `pods/ephemeralcontainers` lets the holder attach debug containers to running pods");
        }
        if tenant && CLUSTER_SCOPED.iter().any(|(g, r)| *g == group && *r == resource) {
            cx.error(at, v.span, "conflict", format!("`{text}` is cluster-scoped: a tenant's Role cannot grant it, so this rule would do nothing"))
                .notes
                .push("help: grant it with a cluster role (`role NAME { … }` in `cluster`)".into());
            continue;
        }
        if tenant && writes {
            if let Some((_, _, what)) = TENANT_GUARDRAILS.iter().find(|(g, r, _)| *g == group && *r == resource) {
                cx.warning(at, v.span, "risky", format!("write access to `{text}` {what}"));
            }
        }
        let has = |allowed: &[&str]| verbs.iter().any(|v| allowed.contains(&v.as_str()));
        if !tenant {
            if let Some((_, _, which, what)) = CLUSTER_GUARDRAILS.iter().find(|(g, r, _, _)| *g == group && *r == resource) {
                if has(which) {
                    cx.warning(at, v.span, "risky", format!("`{}` on `{text}` in a cluster role {what}", verbs.join(" ")));
                }
            }
        }
        if writes {
            if let Some((_, _, what)) = CVE_GRANTS.iter().find(|(g, r, _)| *g == group && *r == resource) {
                cx.warning(at, v.span, "risky", format!("write access to `{text}` {what}"));
            }
        }
        // Becoming the applier: whoever runs a pod as the applier's ServiceAccount,
        // mints its token, reads its Secrets or impersonates it is the applier, which
        // khc's protection exempts from everything.
        let any = group == "*" && resource == "*";
        let pods = any || POD_MAKERS.iter().any(|(g, r)| *g == group && *r == resource);
        let how = if !scope.applier_accounts.is_empty() && pods && has(CREATE) {
            Some(format!("can run pods as {}", scope.applier_accounts.join(", ")))
        } else if !scope.applier_accounts.is_empty() && (any || (group.is_empty() && resource == "serviceaccounts/token")) && has(CREATE) {
            Some(format!("can mint tokens for {}", scope.applier_accounts.join(", ")))
        } else if !scope.applier_accounts.is_empty()
            && (any || (group.is_empty() && resource == "secrets"))
            && has(&["get", "list", "watch", "*"])
            && names.is_empty()
        {
            Some(format!("can read the Secrets of the namespace of {}", scope.applier_accounts.join(", ")))
        } else if !scope.applier.is_empty()
            && has(&["impersonate", "*"])
            && (any || (group.is_empty() && matches!(resource.as_str(), "users" | "groups" | "serviceaccounts" | "*")))
        {
            Some("can impersonate anyone, the applier included".to_string())
        } else {
            None
        };
        if let Some(how) = how {
            let d = cx.warning(
                at,
                v.span,
                "applier",
                format!(
                    "`{}` on `{text}` becomes the applier ({}): it {how}, and khc's `managed-by` protection exempts the applier from everything",
                    verbs.join(" "),
                    scope.applier.join(", ")
                ),
            );
            d.notes.push("note: the applier may change or delete every namespace, NetworkPolicy, quota and role khc manages; keep its namespace to the applier and cluster administrators".into());
        }
        if resource == "namespaces" && group.is_empty() && verbs.iter().any(|v| matches!(v.as_str(), "update" | "patch" | "*")) {
            cx.warning(at, v.span, "risky", "write access to `namespaces` can relabel a namespace (its Pod Security level)");
        }
        let list = by_group.entry(group).or_default();
        if !list.contains(&resource) {
            list.push(resource);
        }
    }
    let mut rules: Vec<RoleRule> = by_group
        .into_iter()
        .map(|(group, resources)| RoleRule {
            api_groups: vec![group],
            resources,
            verbs: verbs.clone(),
            resource_names: names.clone(),
            non_resource_urls: Vec::new(),
        })
        .collect();
    if !urls.is_empty() {
        rules.push(RoleRule { api_groups: Vec::new(), resources: Vec::new(), verbs: verbs.clone(), resource_names: Vec::new(), non_resource_urls: urls });
    }
    rules
}

/// The verbs a non-resource request can carry: the API server names it by the
/// lowercased HTTP method, and khc's verb list has `get`, `patch` and `delete`
/// of those (`*` covers `post`, `put` and `head` too).
const URL_VERBS: &[&str] = &["get", "patch", "delete", "*"];

/// Checks a non-resource URL (`"/metrics"`, `"/healthz/*"`) in `can … on`.
fn check_url(cx: &mut Ctx, at: &At<'_>, text: &str, span: Span, scope: &RoleScope, names: &[String], verbs: &[String]) -> Option<String> {
    if scope.tenant {
        cx.error(at, span, "conflict", format!("`{text}` is a non-resource URL: only a cluster role can grant it (a Role's rules cannot name URLs)"))
            .notes
            .push("help: grant it with a cluster role (`role NAME { can get on \"/metrics\" }` in `cluster`)".into());
        return None;
    }
    let star = text.find('*');
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) || star.is_some_and(|i| i != text.len() - 1) {
        cx.error(at, span, "invalid-value", format!("`{text}` is not a non-resource URL"))
            .notes
            .push("help: write a path such as `\"/metrics\"`; a `*` may only end it (`\"/healthz/*\"` covers every path under `/healthz/`)".into());
        return None;
    }
    if !names.is_empty() {
        cx.error(at, span, "conflict", format!("`names` cannot restrict the non-resource URL `{text}`: the grant would silently do nothing"))
            .notes
            .push("help: grant URLs in a `can` of their own, without `names`".into());
        return None;
    }
    if text == "/*" || text == "*" {
        cx.warning(at, span, "risky", "`/*` covers every non-resource URL, including future ones");
    }
    if let Some(v) = verbs.iter().find(|v| !URL_VERBS.contains(&v.as_str())) {
        cx.warning(at, span, "no-effect", format!("`{v}` never applies to a non-resource URL: the API server names such requests by their HTTP method (`get`, `post`, `put`, `patch`, `delete`, `head`)"))
            .notes
            .push("help: write `can get on \"/metrics\"`".into());
    }
    Some(text.to_string())
}

/// Checks `resource[.group][/sub]` (or `*`), returning `(resource, group)`.
fn check_resource(cx: &mut Ctx, at: &At<'_>, text: &str, span: Span) -> Option<(String, String)> {
    if text == "*" {
        cx.warning(at, span, "risky", "wildcard resource `*` covers every resource, including future ones");
        return Some(("*".into(), "*".into()));
    }
    let (base, sub) = match text.split_once('/') {
        Some((b, s)) => (b, Some(s)),
        None => (text, None),
    };
    let (res, group) = match base.split_once('.') {
        Some((r, g)) => (r, g),
        // Impersonating a uid is authorized on `uids` of authentication.k8s.io
        // (users, groups and serviceaccounts are core resources).
        None if base == "uids" => (base, "authentication.k8s.io"),
        None => (base, ""),
    };
    let resource = match sub {
        Some(s) => format!("{res}/{s}"),
        None => res.to_string(),
    };
    if res.is_empty() || sub == Some("") {
        cx.error(at, span, "invalid-value", format!("`{text}` is not a resource"));
        return None;
    }
    if let Some((_, known)) = BUILTIN.iter().find(|(g, _)| *g == group) {
        if !known.contains(&resource.as_str()) {
            let shown = if group.is_empty() { "the core API group".to_string() } else { format!("API group `{group}`") };
            let mut d = Diagnostic::error("unknown-name", at.file(), span, format!("`{resource}` is not a resource of {shown}"));
            if let Some(s) = values::suggest(&resource, known.iter().copied()) {
                d = d.with_suggestion(s);
            } else if let Some((g, _)) = BUILTIN.iter().find(|(_, rs)| rs.contains(&resource.as_str())) {
                let sub = sub.map(|s| format!("/{s}")).unwrap_or_default();
                d = d.with_help(format!("`{resource}` is in API group `{g}`: write `{res}.{g}{sub}`"));
            }
            cx.push(d);
            return None;
        }
    }
    Some((resource, group.to_string()))
}

/// Where grants are resolved.
pub(crate) enum GrantScope<'h> {
    /// Cluster grants: ClusterRoleBindings.
    Cluster { cluster_roles: &'h [String], oidc: Option<&'h OidcPrefixes>, tenants: &'h dyn Tenants },
    /// Tenant grants: RoleBindings.
    Tenant {
        roles: &'h [String],
        cluster_roles: &'h [String],
        workloads: &'h BTreeMap<String, Workload>,
        namespaces: &'h [String],
        oidc: Option<&'h OidcPrefixes>,
        tenants: &'h dyn Tenants,
    },
}

impl GrantScope<'_> {
    fn oidc(&self) -> Option<&OidcPrefixes> {
        match self {
            GrantScope::Cluster { oidc, .. } | GrantScope::Tenant { oidc, .. } => *oidc,
        }
    }

    fn tenants(&self) -> &dyn Tenants {
        match self {
            GrantScope::Cluster { tenants, .. } | GrantScope::Tenant { tenants, .. } => *tenants,
        }
    }
}

/// Resolves `tenant T workload W` (the values after `tenant`: `T`, `workload`,
/// `W`) to W's ServiceAccount in W's namespace, with "did you mean" errors for
/// an unknown tenant or workload.
fn tenant_workload(cx: &mut Ctx, at: &At<'_>, tenant: &Value, rest: &[&Value], scope: &GrantScope<'_>) -> Option<Subject> {
    let name = word(tenant).unwrap_or("");
    let (Some(kw), Some(w)) = (rest.first(), rest.get(1)) else {
        cx.error(at, tenant.span, "bad-argument", "a tenant subject is written `tenant NAME workload NAME`")
            .notes
            .push("help: name the workload whose ServiceAccount gets the grant: `tenant ci workload deployer`".into());
        return None;
    };
    if word(kw) != Some("workload") {
        cx.error(at, kw.span, "bad-argument", "expected `workload NAME` after `tenant NAME`")
            .notes
            .push("help: a grant names one workload's ServiceAccount: `tenant ci workload deployer`".into());
        return None;
    }
    let Some(facts) = scope.tenants().tenant_facts(name) else {
        let suggestion = scope.tenants().closest_tenant(name);
        let d = cx.error(at, tenant.span, "unknown-name", format!("unknown tenant `{name}`"));
        d.primary.message = "no tenant has this name".into();
        if let Some(s) = suggestion {
            d.suggest(&s);
        }
        return None;
    };
    let workload = word(w).unwrap_or("");
    match facts.workloads.get(workload) {
        Some(f) => Some(Subject::ServiceAccount { namespace: f.namespace.clone(), name: workload.to_string() }),
        None => {
            let s = values::suggest(workload, facts.workloads.keys().map(String::as_str));
            let d = cx.error(at, w.span, "unknown-name", format!("tenant `{name}` has no workload `{workload}`"));
            match s {
                Some(s) => d.suggest(s),
                None => d.notes.push(format!("help: declare it with `workload {workload} {{ … }}` in tenant `{name}`")),
            }
            None
        }
    }
}

/// Warns about a tenant's grant to a ServiceAccount in a namespace the tenant
/// does not own (`shown` is the subject as written).
fn outside_tenant(cx: &mut Ctx, at: &At<'_>, span: Span, shown: &str, namespace: &str, scope: &GrantScope<'_>) {
    if let GrantScope::Tenant { namespaces, .. } = scope {
        if !namespaces.iter().any(|n| n == namespace) {
            cx.warning(at, span, "risky", format!("`{shown}` is outside this tenant: the grant reaches into namespace `{namespace}`"))
                .notes
                .push("note: whoever can create pods in that namespace can run them as this ServiceAccount and act with this grant".into());
        }
    }
}

/// Warns when no OIDC issuer can produce the name of a user or group subject
/// (`kind` is `user` or `group`): the grant then does nothing for OIDC sign-ins.
/// Every name an issuer produces starts with its prefix (the
/// AuthenticationConfiguration khc writes always sets `claimMappings.username.prefix`
/// and `groups.prefix`, so the flag-era exception for an `email` claim does not
/// apply). `system:` names are the API server's own (ServiceAccounts are users
/// `system:serviceaccount:NS:NAME`, nodes `system:node:NAME`): no issuer makes them.
/// The warning offers the prefixed name as a fix.
fn check_oidc_subject(cx: &mut Ctx, at: &At<'_>, span: Span, kind: &str, name: &str, oidc: &OidcPrefixes) {
    if name.starts_with("system:") {
        return;
    }
    let prefixes = if kind == "user" { &oidc.users } else { &oidc.groups };
    if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
        return;
    }
    let why = if prefixes.is_empty() {
        format!("no OIDC issuer of `authentication` has a groups claim, so no sign-in carries group `{name}`")
    } else {
        let shown: Vec<String> = prefixes.iter().map(|p| format!("`{p}`")).collect();
        format!("no OIDC issuer of `authentication` can produce {kind} `{name}`: their {kind} names start with {}", shown.join(" or "))
    };
    let d = cx.warning(at, span, "no-effect", format!("{why}; the grant silently does nothing for OIDC sign-ins"));
    if let Some(p) = prefixes.first() {
        d.suggest(&format!("\"{p}{name}\""));
        d.notes.push(format!("note: only a client certificate or another authenticator could name `{name}`"));
    }
}

/// Checks every `grant` of a scope, merging grants of one role into one binding.
pub(crate) fn check_grants(cx: &mut Ctx, grants: &[At<'_>], scope: &GrantScope<'_>) -> Vec<Binding> {
    let mut out: Vec<Binding> = Vec::new();
    for at in grants {
        cx.no_block(at);
        let args = at.s.flat_args();
        let to = args.iter().position(|v| matches!(&v.kind, khc_syntax::ValueKind::Name(n) if n == "to"));
        let (role_val, subject_vals) = match (to, args.first()) {
            (Some(1), Some(r)) if args.len() > 2 => (*r, &args[2..]),
            _ => {
                cx.error(at, at.s.span, "bad-argument", "`grant` is written `grant ROLE to SUBJECT…`")
                    .notes
                    .push("help: e.g. `grant deployer to group \"payments-devs\" workload ci`".into());
                continue;
            }
        };
        let Some(role_name) = word(role_val) else {
            cx.error(at, role_val.span, "bad-argument", "expected a role name");
            continue;
        };
        let Some(role) = resolve_role(cx, at, role_name, role_val.span, scope) else { continue };
        let subjects = subjects(cx, at, subject_vals, scope);
        let binding_name = match &role {
            RoleRef::Role(n) | RoleRef::ClusterRole(n) => n.clone(),
        };
        match out.iter_mut().find(|b| b.role == role) {
            Some(b) => {
                for s in subjects {
                    if !b.subjects.contains(&s) {
                        b.subjects.push(s);
                    }
                }
            }
            None => out.push(Binding { name: binding_name, origin: at.origin(), role, subjects }),
        }
    }
    out
}

fn resolve_role(cx: &mut Ctx, at: &At<'_>, name: &str, span: Span, scope: &GrantScope<'_>) -> Option<RoleRef> {
    let (own, cluster, builtin): (&[String], &[String], &[&str]) = match scope {
        GrantScope::Cluster { cluster_roles, .. } => (&[], cluster_roles, &["view", "edit", "admin", "cluster-admin"]),
        GrantScope::Tenant { roles, cluster_roles, .. } => (roles, cluster_roles, BUILTIN_TENANT_ROLES),
    };
    if own.iter().any(|r| r == name) {
        return Some(RoleRef::Role(name.to_string()));
    }
    if cluster.iter().any(|r| r == name) {
        return Some(RoleRef::ClusterRole(name.to_string()));
    }
    if builtin.contains(&name) {
        let what = match name {
            "admin" => Some("full control of the namespace, including its Roles and RoleBindings"),
            "cluster-admin" => Some("full control of the whole cluster"),
            "edit" => Some("read access to every Secret, `pods/exec`, running pods as any ServiceAccount of the namespace, and deleting NetworkPolicies"),
            _ => None,
        };
        if let Some(what) = what {
            cx.warning(at, span, "risky", format!("built-in role `{name}` grants {what}"));
        }
        return Some(RoleRef::ClusterRole(name.to_string()));
    }
    let candidates = own.iter().map(String::as_str).chain(cluster.iter().map(String::as_str)).chain(builtin.iter().copied());
    let suggestion = values::suggest(name, candidates);
    let d = cx.error(at, span, "unknown-name", format!("unknown role `{name}`"));
    d.primary.message = "no role has this name".into();
    match suggestion {
        Some(s) => d.suggest(s),
        None => d.notes.push(format!("help: declare it with `role {name} {{ can … on … }}` or use a built-in role: {}", builtin.join(", "))),
    }
    None
}

pub(crate) fn subjects(cx: &mut Ctx, at: &At<'_>, vals: &[&Value], scope: &GrantScope<'_>) -> Vec<Subject> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < vals.len() {
        let kind_val = vals[i];
        let kind = word(kind_val).unwrap_or("");
        let Some(arg) = vals.get(i + 1) else {
            cx.error(
                at,
                kind_val.span,
                "bad-argument",
                "a subject is written `user \"NAME\"`, `group \"NAME\"`, `workload NAME`, `tenant NAME workload NAME` or `serviceaccount \"NS/NAME\"`",
            );
            break;
        };
        i += 2;
        let Some(name) = word(arg) else {
            cx.error(at, arg.span, "bad-argument", format!("expected a name after `{kind}`"));
            continue;
        };
        let subject = match kind {
            "user" | "group" if name.is_empty() || name.chars().any(char::is_control) => {
                cx.error(at, arg.span, "invalid-value", format!("a {kind} name must be non-empty and without control characters"));
                continue;
            }
            "user" => {
                if name == "system:anonymous" {
                    cx.warning(at, arg.span, "risky", "granting to `system:anonymous` grants to every unauthenticated client");
                }
                Subject::User(name.to_string())
            }
            "group" => {
                if name == "system:serviceaccounts" || name.starts_with("system:serviceaccounts:") {
                    cx.warning(
                        at,
                        arg.span,
                        "risky",
                        format!(
                            "granting to `{name}` grants to every ServiceAccount{}",
                            if name.len() > 22 { " of that namespace" } else { " of the cluster" }
                        ),
                    );
                }
                if name == "system:authenticated" || name == "system:unauthenticated" {
                    cx.warning(
                        at,
                        arg.span,
                        "risky",
                        format!("granting to `{name}` grants to every {} client", if name.ends_with("unauthenticated") { "anonymous" } else { "signed-in" }),
                    );
                }
                Subject::Group(name.to_string())
            }
            "serviceaccount" => match name.split_once('/') {
                Some((ns, sa)) if values::is_dns_label(ns) && values::is_dns_subdomain(sa) => {
                    if sa == "default" {
                        cx.warning(
                            at,
                            arg.span,
                            "risky",
                            format!("`{name}` is the namespace's default ServiceAccount: every pod that names none gets this grant"),
                        )
                        .notes
                        .push("help: grant to a workload's own ServiceAccount".into());
                    } else {
                        outside_tenant(cx, at, arg.span, name, ns, scope);
                    }
                    Subject::ServiceAccount { namespace: ns.into(), name: sa.into() }
                }
                _ => {
                    cx.error(at, arg.span, "invalid-value", format!("`{name}` is not `NAMESPACE/NAME`"));
                    continue;
                }
            },
            "workload" => match scope {
                GrantScope::Tenant { workloads, .. } => match workloads.get(name) {
                    Some(w) => Subject::ServiceAccount { namespace: w.namespace.clone(), name: w.name.clone() },
                    None => {
                        let s = values::suggest(name, workloads.keys().map(String::as_str));
                        let d = cx.error(at, arg.span, "unknown-name", format!("unknown workload `{name}`"));
                        if let Some(s) = s {
                            d.suggest(s);
                        }
                        continue;
                    }
                },
                GrantScope::Cluster { .. } => {
                    cx.error(at, kind_val.span, "bad-argument", "`workload NAME` names a workload of the enclosing tenant; `cluster` has none")
                        .notes
                        .push("help: in `cluster`, write `tenant TENANT workload NAME` (or `serviceaccount \"NAMESPACE/NAME\"`)".into());
                    continue;
                }
            },
            "tenant" => {
                let rest = &vals[i.min(vals.len())..];
                i += 2;
                let Some(s) = tenant_workload(cx, at, arg, rest, scope) else { continue };
                if let Subject::ServiceAccount { namespace, .. } = &s {
                    let shown = format!("tenant {name} workload {}", rest.get(1).and_then(|v| word(v)).unwrap_or(""));
                    let span = kind_val.span.to(rest[1].span);
                    outside_tenant(cx, at, span, &shown, namespace, scope);
                }
                s
            }
            _ => {
                let d = cx.error(at, kind_val.span, "bad-argument", format!("unknown subject kind `{kind}`"));
                d.notes.push("help: subjects are `user`, `group`, `workload`, `tenant … workload` and `serviceaccount`".into());
                continue;
            }
        };
        if let Some(oidc) = scope.oidc() {
            match &subject {
                Subject::User(n) => check_oidc_subject(cx, at, arg.span, "user", n, oidc),
                Subject::Group(n) => check_oidc_subject(cx, at, arg.span, "group", n, oidc),
                Subject::ServiceAccount { .. } => {}
            }
        }
        if !out.contains(&subject) {
            out.push(subject);
        }
    }
    out
}

#[cfg(test)]
mod pod_maker_tests {
    /// `POD_MAKERS` is exactly the registry's pod kinds that run pods (every kind
    /// of `khc_rules::facts::POD_KINDS` but PodTemplate), as [`super::rule_makes_pods`] reads them.
    #[test]
    fn pod_makers_are_the_registry_pod_kinds_that_run_pods() {
        let mut from_facts: Vec<(&str, &str)> = khc_rules::facts::POD_KINDS.iter().filter(|k| k.kind != "PodTemplate").map(|k| (k.group, k.plural)).collect();
        let mut here: Vec<(&str, &str)> = super::POD_MAKERS.to_vec();
        from_facts.sort();
        here.sort();
        assert_eq!(here, from_facts);
    }
}
