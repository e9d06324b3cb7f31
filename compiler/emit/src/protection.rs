//! Protection of what khc manages (`managed-by SUBJECT…`, SPEC.md section 4): a
//! ValidatingAdmissionPolicy per tenant, `khc-managed-TENANT`, bound to the
//! tenant's namespaces by their immutable names, lets only the applier (and
//! `system:masters`, and the controllers that must clean up a deleted namespace)
//!
//! * create or delete the tenant's namespaces, or change their `khc.dev/*`,
//!   `pod-security.kubernetes.io/*` and `policy.sigstore.dev/*` labels (the
//!   last: the image verifier's opt-in, which a tenant must not drop);
//! * create, update or delete the ServiceAccounts, NetworkPolicies, ResourceQuotas,
//!   LimitRanges, Roles and RoleBindings khc emits there — known by name (a name
//!   cannot be forged on create), and any object of those kinds carrying
//!   `app.kubernetes.io/managed-by: khc`; and the tenant's ClusterImagePolicy
//!   `khc-TENANT` (`images`), by name;
//!
//! and one cluster policy, `khc-managed-by`, does the same for the ClusterRoles and
//! ClusterRoleBindings of the cluster. ValidatingAdmissionPolicies and their
//! bindings cannot be protected this way: the API server never runs admission
//! policies on them (a policy could otherwise lock itself in); RBAC must keep them
//! to cluster administrators.

use crate::cel::list;
use crate::objects::{namespaces_by_name, Built, MANAGED_BY, SOURCE_ANNOTATION, TENANT_LABEL};
use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
    ValidatingAdmissionPolicySpec, Validation, Variable,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::Resource;
use khc_semantics::model::{Cluster, Origin, Subject, Tenant};
use std::collections::BTreeMap;

/// Users that may always change khc's objects besides the applier: the
/// controllers that delete a namespace's contents when the applier deletes the
/// namespace, and create its `default` ServiceAccount.
pub const CONTROLLERS: &[&str] = &[
    "system:kube-controller-manager",
    "system:serviceaccount:kube-system:namespace-controller",
    "system:serviceaccount:kube-system:service-account-controller",
];

/// The controllers that create pods or pod-making objects from their owners (as
/// their own ServiceAccounts, with kube-controller-manager's
/// `--use-service-account-credentials`): a pod of the applier's own workload is
/// created by one of them.
pub const POD_CONTROLLERS: &[&str] = &[
    "system:serviceaccount:kube-system:cronjob-controller",
    "system:serviceaccount:kube-system:daemon-set-controller",
    "system:serviceaccount:kube-system:deployment-controller",
    "system:serviceaccount:kube-system:job-controller",
    "system:serviceaccount:kube-system:replicaset-controller",
    "system:serviceaccount:kube-system:replication-controller",
    "system:serviceaccount:kube-system:statefulset-controller",
];

/// The group of the kubelets, which request the tokens of the pods bound to their
/// node (the NodeRestriction admission plugin limits them to those).
pub const NODES_GROUP: &str = "system:nodes";

/// The group that is always allowed (break-glass; admission policies apply to it, RBAC does not).
pub const BREAK_GLASS_GROUP: &str = "system:masters";

/// The label prefixes of a namespace that only the applier may change.
/// (`policy.sigstore.dev/`: the verifier's opt-in label, `policy.sigstore.dev/include`,
/// which a tenant could otherwise remove to escape its image signature checks.)
pub const PROTECTED_LABEL_PREFIXES: &[&str] = &["khc.dev/", "pod-security.kubernetes.io/", "policy.sigstore.dev/"];

/// The resource (plural) and group of a kind khc emits, when the protection
/// policies match it by name (`khc_rules::facts::EMITTED_KINDS`; a kind missing
/// there fails `tests/registry.rs`).
fn resource_of(kind: &str) -> Option<(&'static str, &'static str)> {
    khc_rules::facts::emitted_kind(kind).filter(|k| k.protection == khc_rules::facts::Protection::ByName).map(|k| (k.group, k.plural))
}

/// The user names and groups of the applier.
fn applier(subjects: &[Subject]) -> (Vec<String>, Vec<String>) {
    let mut users: Vec<String> = CONTROLLERS.iter().map(|s| s.to_string()).collect();
    let mut groups = vec![BREAK_GLASS_GROUP.to_string()];
    for s in subjects {
        match s {
            Subject::User(u) => users.push(u.clone()),
            Subject::Group(g) => groups.push(g.clone()),
            Subject::ServiceAccount { namespace, name } => users.push(format!("system:serviceaccount:{namespace}:{name}")),
        }
    }
    users.sort();
    users.dedup();
    groups.sort();
    groups.dedup();
    (users, groups)
}

/// How the applier is named in messages.
pub(crate) fn applier_text(subjects: &[Subject]) -> String {
    subjects
        .iter()
        .map(|s| match s {
            Subject::User(u) => format!("user {u}"),
            Subject::Group(g) => format!("group {g}"),
            Subject::ServiceAccount { namespace, name } => format!("serviceaccount {namespace}/{name}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The match condition: the request is not the applier's (nor break-glass, nor a controller's).
pub fn not_applier_expression(subjects: &[Subject]) -> String {
    not_applier_or(subjects, &[], &[])
}

/// [`not_applier_expression`], also allowing `users` and `groups`.
fn not_applier_or(subjects: &[Subject], more_users: &[&str], more_groups: &[&str]) -> String {
    let (mut users, mut groups) = applier(subjects);
    users.extend(more_users.iter().map(|s| s.to_string()));
    groups.extend(more_groups.iter().map(|s| s.to_string()));
    users.sort();
    users.dedup();
    groups.sort();
    groups.dedup();
    format!("!(request.userInfo.username in {} || (has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in {})))", list(&users), list(&groups))
}

/// The name of the object a request is about, keyed on the object itself: a
/// DELETE's `oldObject` (a label-selected `deletecollection` reaches admission once
/// per object, without `request.name`), otherwise `object` (`''` when a CREATE
/// has only `generateName`).
pub const OBJECT_NAME: &str = "(request.operation == 'DELETE' ? (oldObject != null && has(oldObject.metadata.name) ? oldObject.metadata.name : '') : (object != null && has(object.metadata.name) ? object.metadata.name : ''))";

/// The request's namespace, `''` for cluster-scoped requests (where the API server
/// leaves `request.namespace` out, and reading it fails).
pub const REQUEST_NAMESPACE: &str = "(has(request.namespace) ? request.namespace : '')";

/// True (in CEL) when `o` carries `app.kubernetes.io/managed-by: khc`.
fn labelled(o: &str) -> String {
    format!("(has({o}.metadata.labels) && '{k}' in {o}.metadata.labels && {o}.metadata.labels['{k}'] == '{v}')", k = MANAGED_BY.0, v = MANAGED_BY.1)
}

/// The CEL that allows a request on an object of the listed kinds unless it is one
/// of khc's: named in `keys` (`RESOURCE/NAMESPACE/NAME`, namespace empty for
/// cluster-scoped objects) or labelled as khc's before or after the request.
pub fn objects_expression(keys: &[String]) -> String {
    format!(
        "request.resource.resource == 'namespaces' || !((request.resource.resource + '/' + {REQUEST_NAMESPACE} + '/' + {OBJECT_NAME}) in {} || (request.operation != 'DELETE' && {}) || (request.operation != 'CREATE' && {}))",
        list(keys),
        labelled("object"),
        labelled("oldObject")
    )
}

/// The CEL that allows a request on a Namespace unless it creates or deletes one of
/// `namespaces`, or changes one of their protected labels.
pub fn namespaces_expression(namespaces: &[String]) -> String {
    let prefixes = list(&PROTECTED_LABEL_PREFIXES.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    format!(
        "request.resource.resource != 'namespaces' || !({OBJECT_NAME} in {ns}) || (request.operation == 'UPDATE' && !{prefixes}.exists(p, \
(has(object.metadata.labels) && object.metadata.labels.exists(k, k.startsWith(p) && (!has(oldObject.metadata.labels) || !(k in oldObject.metadata.labels) || oldObject.metadata.labels[k] != object.metadata.labels[k]))) || \
(has(oldObject.metadata.labels) && oldObject.metadata.labels.exists(k, k.startsWith(p) && (!has(object.metadata.labels) || !(k in object.metadata.labels))))))",
        ns = list(namespaces)
    )
}

/// The annotation naming the applier on every protection policy
/// (`serviceaccount:NS/NAME`, `user:NAME`, `group:NAME`, comma-separated), for
/// the questions khc answers (`who-can` reports who becomes the applier).
pub const APPLIER_ANNOTATION: &str = "khc.dev/applier";

fn meta(name: &str, tenant: Option<&str>, origin: &Origin, subjects: &[Subject]) -> ObjectMeta {
    let mut labels = BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())]);
    if let Some(t) = tenant {
        labels.insert(TENANT_LABEL.to_string(), t.to_string());
    }
    let applier: Vec<String> = subjects
        .iter()
        .map(|s| match s {
            Subject::User(u) => format!("user:{u}"),
            Subject::Group(g) => format!("group:{g}"),
            Subject::ServiceAccount { namespace, name } => format!("serviceaccount:{namespace}/{name}"),
        })
        .collect();
    ObjectMeta {
        name: Some(name.to_string()),
        labels: Some(labels),
        annotations: Some(BTreeMap::from([(SOURCE_ANNOTATION.to_string(), origin.to_string()), (APPLIER_ANNOTATION.to_string(), applier.join(","))])),
        ..Default::default()
    }
}

fn built<T: crate::objects::Body + Resource + 'static>(obj: T, name: &str, origin: &Origin) -> Built {
    Built { kind: T::KIND, name: name.to_string(), namespace: None, origin: origin.clone(), body: Box::new(obj) }
}

fn rule(group: &str, resources: &[&str]) -> NamedRuleWithOperations {
    NamedRuleWithOperations {
        api_groups: Some(vec![group.to_string()]),
        api_versions: Some(vec!["v1".into()]),
        operations: Some(vec!["CREATE".into(), "UPDATE".into(), "DELETE".into()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        ..Default::default()
    }
}

fn policy(
    name: &str,
    tenant: Option<&str>,
    origin: &Origin,
    subjects: &[Subject],
    rules: Vec<NamedRuleWithOperations>,
    validations: Vec<Validation>,
    selector: Option<LabelSelector>,
) -> Vec<Built> {
    policy_with(name, tenant, origin, (subjects, &[], &[]), rules, None, validations, selector)
}

#[allow(clippy::too_many_arguments)]
fn policy_with(
    name: &str,
    tenant: Option<&str>,
    origin: &Origin,
    (subjects, more_users, more_groups): (&[Subject], &[&str], &[&str]),
    rules: Vec<NamedRuleWithOperations>,
    variables: Option<Vec<Variable>>,
    validations: Vec<Validation>,
    selector: Option<LabelSelector>,
) -> Vec<Built> {
    let vap = ValidatingAdmissionPolicy {
        metadata: meta(name, tenant, origin, subjects),
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".into()),
            match_constraints: Some(MatchResources { resource_rules: Some(rules), ..Default::default() }),
            match_conditions: Some(vec![MatchCondition { name: "not-the-applier".into(), expression: not_applier_or(subjects, more_users, more_groups) }]),
            variables,
            validations: Some(validations),
            ..Default::default()
        }),
        ..Default::default()
    };
    let binding = ValidatingAdmissionPolicyBinding {
        metadata: meta(name, tenant, origin, subjects),
        spec: Some(ValidatingAdmissionPolicyBindingSpec {
            policy_name: Some(name.to_string()),
            validation_actions: Some(vec!["Deny".into()]),
            match_resources: selector.map(|s| MatchResources { namespace_selector: Some(s), ..Default::default() }),
            ..Default::default()
        }),
    };
    vec![built(vap, name, origin), built(binding, name, origin)]
}

fn keys(objects: &[Built]) -> Vec<String> {
    let mut keys: Vec<String> =
        objects.iter().filter_map(|b| resource_of(b.kind).map(|(_, r)| format!("{r}/{}/{}", b.namespace.as_deref().unwrap_or(""), b.name))).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The protection policy and binding of a tenant (none without `managed-by`),
/// given the tenant's other objects.
pub fn tenant_policy(t: &Tenant, objects: &[Built]) -> Vec<Built> {
    if t.managed_by.is_empty() {
        return Vec::new();
    }
    let who = applier_text(&t.managed_by);
    let mut namespaces = t.namespaces.clone();
    namespaces.sort();
    let source = format!("[khc managed-by, tenant {} at {}]", t.name, t.origin);
    let validations = vec![
        Validation {
            expression: namespaces_expression(&namespaces),
            message: Some(format!(
                "namespace is managed by khc: only {who} may create or delete it or change its khc.dev/, pod-security.kubernetes.io/ and policy.sigstore.dev/ labels {source}"
            )),
            reason: Some("Forbidden".into()),
            ..Default::default()
        },
        Validation {
            expression: objects_expression(&keys(objects)),
            message: Some(format!("object is managed by khc: only {who} may create, change or delete it {source}")),
            reason: Some("Forbidden".into()),
            ..Default::default()
        },
    ];
    // The status and finalize subresources of a namespace carry its labels too
    // (Pod Security Admission judges neither), and a quota's status holds its usage.
    let mut rules = vec![
        rule("", &["namespaces", "namespaces/status", "namespaces/finalize", "serviceaccounts", "resourcequotas", "resourcequotas/status", "limitranges"]),
        rule("networking.k8s.io", &["networkpolicies"]),
        rule("rbac.authorization.k8s.io", &["roles", "rolebindings"]),
    ];
    // The tenant's ClusterImagePolicy (cluster-scoped: the binding's namespace
    // selector never skips a cluster-scoped object), by name, in every served
    // version (v1alpha1 and v1beta1 convert into each other).
    if objects.iter().any(|b| b.kind == "ClusterImagePolicy") {
        let mut r = rule(crate::images::CIP_API_VERSION.split('/').next().unwrap_or_default(), &["clusterimagepolicies"]);
        r.api_versions = Some(vec!["*".into()]);
        rules.push(r);
    }
    policy(&format!("khc-managed-{}", t.name), Some(&t.name), &t.origin, &t.managed_by, rules, validations, Some(namespaces_by_name(&namespaces)))
}

/// The protection policy of [`tenant_policy`] with its metadata alone (an empty
/// spec), built without its CEL; `None` without `managed-by`.
pub fn tenant_policy_head(t: &Tenant) -> Option<Built> {
    if t.managed_by.is_empty() {
        return None;
    }
    let name = format!("khc-managed-{}", t.name);
    let vap = ValidatingAdmissionPolicy { metadata: meta(&name, Some(&t.name), &t.origin, &t.managed_by), ..Default::default() };
    Some(built(vap, &name, &t.origin))
}

/// The ServiceAccounts among the applier's subjects, as `NAMESPACE/NAME`.
pub fn applier_accounts(subjects: &[Subject]) -> Vec<String> {
    let mut out: Vec<String> = subjects
        .iter()
        .filter_map(|s| match s {
            Subject::ServiceAccount { namespace, name } => Some(format!("{namespace}/{name}")),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The ServiceAccount a pod (or template) runs as, in CEL: `serviceAccountName`,
/// else the deprecated `serviceAccount`, else `default`.
const POD_ACCOUNT: &str = "(has(variables.podSpec.serviceAccountName) && variables.podSpec.serviceAccountName != '' ? variables.podSpec.serviceAccountName : (has(variables.podSpec.serviceAccount) && variables.podSpec.serviceAccount != '' ? variables.podSpec.serviceAccount : 'default'))";

/// Whoever runs a pod as the applier's ServiceAccount, or mints its token, is the
/// applier: `khc-managed-by.applier` refuses pods and pod templates that run as
/// it, and `khc-managed-by.tokens` token requests for it, in the applier's
/// namespaces, except from the applier itself, break-glass and the controllers
/// (the pod-making controllers; the kubelets for tokens). None without a
/// ServiceAccount applier.
pub fn applier_policies(c: &Cluster) -> Vec<Built> {
    let accounts = applier_accounts(&c.managed_by);
    if accounts.is_empty() {
        return Vec::new();
    }
    let mut namespaces: Vec<String> = accounts.iter().filter_map(|a| a.split_once('/').map(|(ns, _)| ns.to_string())).collect();
    namespaces.dedup();
    let who = applier_text(&c.managed_by);
    let source = format!("[khc managed-by at {}]", c.origin);
    let pods = Validation {
        expression: format!("!(({REQUEST_NAMESPACE} + '/' + {POD_ACCOUNT}) in {})", list(&accounts)),
        message: Some(format!("pods may not run as the applier {who}: whoever does becomes the applier, which khc's protection exempts {source}")),
        reason: Some("Forbidden".into()),
        ..Default::default()
    };
    let pod_rules = crate::cel::MATCHED_RESOURCES
        .iter()
        .map(|(group, resources)| NamedRuleWithOperations {
            api_groups: Some(vec![group.to_string()]),
            api_versions: Some(vec!["v1".into()]),
            operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
            resources: Some(resources.iter().map(|r| r.to_string()).collect()),
            ..Default::default()
        })
        .collect();
    let pod_spec = crate::cel::VARIABLES.iter().find(|(n, _)| *n == "podSpec").map(|(_, e)| e.to_string()).expect("the pod variables define podSpec");
    let variables = Some(vec![Variable { name: "podSpec".into(), expression: pod_spec }]);
    let mut out = policy_with(
        "khc-managed-by.applier",
        None,
        &c.origin,
        (&c.managed_by, POD_CONTROLLERS, &[]),
        pod_rules,
        variables,
        vec![pods],
        Some(namespaces_by_name(&namespaces)),
    );
    let tokens = Validation {
        expression: format!("!(({REQUEST_NAMESPACE} + '/' + (has(request.name) ? request.name : '')) in {})", list(&accounts)),
        message: Some(format!("only the applier {who} and the kubelets may request its tokens: whoever holds one becomes the applier {source}")),
        reason: Some("Forbidden".into()),
        ..Default::default()
    };
    let token_rules = vec![NamedRuleWithOperations {
        api_groups: Some(vec!["".into()]),
        api_versions: Some(vec!["v1".into()]),
        operations: Some(vec!["CREATE".into()]),
        resources: Some(vec!["serviceaccounts/token".into()]),
        ..Default::default()
    }];
    out.extend(policy_with(
        "khc-managed-by.tokens",
        None,
        &c.origin,
        (&c.managed_by, &[], &[NODES_GROUP]),
        token_rules,
        None,
        vec![tokens],
        Some(namespaces_by_name(&namespaces)),
    ));
    out
}

/// The cluster's protection policy for its ClusterRoles and ClusterRoleBindings
/// (none without `managed-by` or without cluster RBAC), given the cluster objects.
pub fn cluster_policy(c: &Cluster, objects: &[Built]) -> Vec<Built> {
    let keys = keys(objects);
    if c.managed_by.is_empty() || keys.is_empty() {
        return Vec::new();
    }
    let who = applier_text(&c.managed_by);
    let validations = vec![Validation {
        expression: objects_expression(&keys),
        message: Some(format!("object is managed by khc: only {who} may create, change or delete it [khc managed-by at {}]", c.origin)),
        reason: Some("Forbidden".into()),
        ..Default::default()
    }];
    let rules = vec![rule("rbac.authorization.k8s.io", &["clusterroles", "clusterrolebindings"])];
    policy("khc-managed-by", None, &c.origin, &c.managed_by, rules, validations, None)
}
