//! Builds typed Kubernetes objects (k8s-openapi, API version 1.30) from the model.

use crate::cel;
use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
    ValidatingAdmissionPolicySpec, Validation, Variable,
};
use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota, ResourceQuotaSpec, ServiceAccount};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::Resource;
use khc_semantics::model::{self, Action, Admission, Direction, Isolation, Origin, Peer, RuleId, Tenant};
use std::collections::BTreeMap;

/// Annotation naming the source line an object came from.
pub const SOURCE_ANNOTATION: &str = "khc.dev/source";
/// Label carrying the tenant on namespaces and tenant objects.
pub const TENANT_LABEL: &str = "khc.dev/tenant";
/// The managed-by label.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "khc");

/// An object's typed body, serialized only when asked: to YAML when its file is
/// written, to a JSON value when the evaluators of `khc-analysis` read it (the
/// query commands never write and re-parse YAML).
pub trait Body: Send + Sync {
    /// The YAML document (khc's writer, [`crate::yaml`]).
    fn yaml(&self) -> String {
        let mut out = String::with_capacity(1024);
        self.append_yaml(&mut out);
        out
    }
    /// [`Body::yaml`] appended to `out` (a buffer reused from one file to the next).
    fn append_yaml(&self, out: &mut String);
    /// The object as a JSON value: what parsing [`Body::yaml`] gives.
    fn json(&self) -> serde_json::Value;
    /// `apiVersion`, `kind` and `metadata` of [`Body::json`] only, without
    /// serializing the rest (an admission policy's CEL, for a reader of its
    /// annotations).
    fn head(&self) -> serde_json::Value;
    /// The typed object itself, for a reader that takes it as it is (`khc
    /// eval`'s tenant views read the admission policies and bindings without
    /// converting them to JSON): downcast it to its k8s-openapi type.
    fn typed(&self) -> &dyn std::any::Any;
}

impl<T: serde::Serialize + k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + Send + Sync + 'static> Body for T {
    fn append_yaml(&self, out: &mut String) {
        crate::yaml::append(out, self).expect("k8s-openapi objects always serialize")
    }
    fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("k8s-openapi objects always serialize")
    }
    fn head(&self) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": T::API_VERSION,
            "kind": T::KIND,
            "metadata": serde_json::to_value(self.metadata()).expect("metadata serializes"),
        })
    }
    fn typed(&self) -> &dyn std::any::Any {
        self
    }
}

/// An object khc builds as a JSON value (the GitOps engines' custom resources).
pub struct ValueBody(pub serde_json::Value);

impl Body for ValueBody {
    fn append_yaml(&self, out: &mut String) {
        crate::yaml::append(out, &self.0).expect("JSON values always serialize")
    }
    fn json(&self) -> serde_json::Value {
        self.0.clone()
    }
    fn head(&self) -> serde_json::Value {
        serde_json::json!({ "apiVersion": self.0["apiVersion"], "kind": self.0["kind"], "metadata": self.0["metadata"] })
    }
    fn typed(&self) -> &dyn std::any::Any {
        self
    }
}

/// A built object, typed, with where it goes.
pub struct Built {
    /// Kind, e.g. `NetworkPolicy`.
    pub kind: &'static str,
    /// Object name.
    pub name: String,
    /// Namespace for namespaced objects.
    pub namespace: Option<String>,
    /// Where it was declared.
    pub origin: Origin,
    /// The object, serialized on demand.
    pub body: Box<dyn Body>,
}

pub(crate) fn built<T: Body + k8s_openapi::Resource + 'static>(obj: T, name: &str, namespace: Option<&str>, origin: &Origin) -> Built {
    Built { kind: T::KIND, name: name.to_string(), namespace: namespace.map(str::to_string), origin: origin.clone(), body: Box::new(obj) }
}

/// The managed-by label, and the tenant label of a tenant's object.
fn standard_labels(tenant: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())]);
    if let Some(t) = tenant {
        labels.insert(TENANT_LABEL.to_string(), t.to_string());
    }
    labels
}

/// Standard metadata: name, namespace, managed-by and tenant labels, source annotation.
pub(crate) fn meta(name: &str, namespace: Option<&str>, tenant: Option<&str>, origin: &Origin) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: Some(standard_labels(tenant)),
        annotations: Some(BTreeMap::from([(SOURCE_ANNOTATION.to_string(), origin.to_string())])),
        ..Default::default()
    }
}

fn match_labels(labels: &BTreeMap<String, String>) -> LabelSelector {
    LabelSelector { match_labels: Some(labels.clone()), ..Default::default() }
}

/// Selects exactly these namespaces by `kubernetes.io/metadata.name`, which the
/// API server sets and nobody can change — unlike `khc.dev/tenant`, which anyone
/// allowed to create or label a namespace could forge.
pub fn namespaces_by_name(namespaces: &[String]) -> LabelSelector {
    let mut values = namespaces.to_vec();
    values.sort();
    values.dedup();
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement { key: NAMESPACE_NAME_LABEL.into(), operator: "In".into(), values: Some(values) }]),
        ..Default::default()
    }
}

/// The label the API server sets on every namespace to its name (immutable).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

fn one_label(k: &str, v: &str) -> LabelSelector {
    match_labels(&BTreeMap::from([(k.to_string(), v.to_string())]))
}

fn quantities(m: &BTreeMap<String, String>) -> Option<BTreeMap<String, Quantity>> {
    (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), Quantity(v.clone()))).collect())
}

// ---------------------------------------------------------------------------
// Tenant objects.

/// Every object of a tenant.
pub fn tenant_objects(t: &Tenant) -> Vec<Built> {
    tenant_objects_of(t, &|_| true)
}

/// The objects of [`tenant_objects`] whose kind `want` accepts, in the same
/// order; the parts that build only other kinds are skipped (the admission
/// policies' CEL, for a reader of RBAC or NetworkPolicies).
pub fn tenant_objects_of(t: &Tenant, want: &dyn Fn(&str) -> bool) -> Vec<Built> {
    let mut out = Vec::new();
    let tn = Some(t.name.as_str());
    for ns in &t.namespaces {
        if want(Namespace::KIND) {
            out.push(namespace_object(t, ns));
        }
        tenant_namespace_parts(t, ns, want, &mut out);
    }
    if want(ServiceAccount::KIND) {
        for w in &t.workloads {
            let mut m = meta(&w.name, Some(&w.namespace), tn, &w.origin);
            m.labels.get_or_insert_with(BTreeMap::new).insert("khc.dev/workload".into(), w.name.clone());
            let sa = ServiceAccount { metadata: m, automount_service_account_token: Some(w.automount_token), ..Default::default() };
            out.push(built(sa, &w.name, Some(&w.namespace), &w.origin));
        }
    }
    if want(ValidatingAdmissionPolicy::KIND) || want(ValidatingAdmissionPolicyBinding::KIND) {
        out.extend(tenant_policies(t).into_iter().filter(|b| want(b.kind)));
    }
    out
}

/// The objects of one tenant namespace besides the Namespace itself, those of
/// the kinds `want` accepts.
fn tenant_namespace_parts(t: &Tenant, ns: &str, want: &dyn Fn(&str) -> bool, out: &mut Vec<Built>) {
    let tn = Some(t.name.as_str());
    if want(ServiceAccount::KIND) {
        let sa = ServiceAccount { metadata: meta("default", Some(ns), tn, &t.origin), automount_service_account_token: Some(false), ..Default::default() };
        out.push(built(sa, "default", Some(ns), &t.origin));
    }
    if want(NetworkPolicy::KIND) {
        out.extend(network_policies(t, ns));
    }
    if let Some(q) = t.quota.as_ref().filter(|_| want(ResourceQuota::KIND)) {
        let rq = ResourceQuota {
            metadata: meta(&format!("{}-quota", t.name), Some(ns), tn, &q.origin),
            spec: Some(ResourceQuotaSpec { hard: quantities(q.hard_for(ns)), ..Default::default() }),
            ..Default::default()
        };
        out.push(built(rq, &format!("{}-quota", t.name), Some(ns), &q.origin));
    }
    if let Some(l) = t.limits.as_ref().filter(|_| want(LimitRange::KIND)) {
        let item = LimitRangeItem {
            type_: "Container".into(),
            default: quantities(&l.default),
            default_request: quantities(&l.request),
            max: quantities(&l.max),
            min: quantities(&l.min),
            ..Default::default()
        };
        let lr = LimitRange { metadata: meta(&format!("{}-limits", t.name), Some(ns), tn, &l.origin), spec: Some(LimitRangeSpec { limits: vec![item] }) };
        out.push(built(lr, &format!("{}-limits", t.name), Some(ns), &l.origin));
    }
    for r in t.roles.iter().filter(|_| want(Role::KIND)) {
        let role = Role { metadata: meta(&r.name, Some(ns), tn, &r.origin), rules: Some(policy_rules(&r.rules)) };
        out.push(built(role, &r.name, Some(ns), &r.origin));
    }
    for b in t.bindings.iter().filter(|_| want(RoleBinding::KIND)) {
        let rb = RoleBinding { metadata: meta(&b.name, Some(ns), tn, &b.origin), role_ref: role_ref(&b.role), subjects: Some(subjects(&b.subjects)) };
        out.push(built(rb, &b.name, Some(ns), &b.origin));
    }
}

/// The Namespace `ns` of tenant `t`: its Pod Security labels, its delete guard.
fn namespace_object(t: &Tenant, ns: &str) -> Built {
    let mut m = meta(ns, None, Some(t.name.as_str()), &t.origin);
    if !t.deletable_namespaces.iter().any(|d| d == ns) {
        let annotations = m.annotations.get_or_insert_with(BTreeMap::new);
        for (k, v) in khc_rules::facts::NAMESPACE_DELETE_GUARDS {
            annotations.insert(k.to_string(), v.to_string());
        }
    }
    add_namespace_labels(t, ns, m.labels.get_or_insert_with(BTreeMap::new));
    built(Namespace { metadata: m, ..Default::default() }, ns, None, &t.origin)
}

/// The labels of tenant `t`'s Namespace `ns`, as [`tenant_namespaces`] emits
/// them, without building the object (`khc eval`'s tenant views read them;
/// `tests/typed_model.rs` holds the two equal).
pub fn namespace_labels(t: &Tenant, ns: &str) -> BTreeMap<String, String> {
    let mut labels = standard_labels(Some(&t.name));
    add_namespace_labels(t, ns, &mut labels);
    labels
}

/// Adds a tenant Namespace's own labels to its standard ones ([`meta`]'s):
/// its Pod Security levels and versions, and the image verifier's label.
fn add_namespace_labels(t: &Tenant, ns: &str, labels: &mut BTreeMap<String, String>) {
    const MODES: [(&str, &str); 3] = [
        ("pod-security.kubernetes.io/enforce", "pod-security.kubernetes.io/enforce-version"),
        ("pod-security.kubernetes.io/audit", "pod-security.kubernetes.io/audit-version"),
        ("pod-security.kubernetes.io/warn", "pod-security.kubernetes.io/warn-version"),
    ];
    let ps = &t.pod_security;
    for ((mode, version), level) in MODES.into_iter().zip([ps.enforce_in(ns), ps.audit, ps.warn]) {
        labels.insert(mode.to_string(), level.as_str().to_string());
        labels.insert(version.to_string(), ps.version.clone());
    }
    if t.images.as_ref().is_some_and(|i| i.policy.needs_verifier()) {
        labels.insert(crate::images::INCLUDE_LABEL.0.to_string(), crate::images::INCLUDE_LABEL.1.to_string());
    }
}

/// What a tenant's pods, Services and claims are judged by: its Namespaces
/// and the admission policies (with bindings) of its `admission` block, in
/// the order [`tenant_objects`] emits them — not the `managed-by` protection's
/// nor the NetworkPolicy guard's, which match only khc's own kinds and
/// NetworkPolicies (`khc eval`'s tenant views; `tests/typed_model.rs` holds
/// them equal to those of [`crate::tenant_built`]).
pub fn tenant_judges(t: &Tenant) -> Vec<Built> {
    let mut out = tenant_namespaces(t);
    out.extend(tenant_policies(t));
    out
}

/// The tenant's Namespaces, as [`tenant_objects`] emits them.
pub fn tenant_namespaces(t: &Tenant) -> Vec<Built> {
    t.namespaces.iter().map(|ns| namespace_object(t, ns)).collect()
}

/// The tenant's admission policies and bindings (see [`tenant_objects`]).
fn tenant_policies(t: &Tenant) -> Vec<Built> {
    let mut out = Vec::new();
    let tn = Some(t.name.as_str());
    // Every tenant has a policy: its admission rules, and always the rule that a
    // pod may mount its API token only as a workload declared with
    // `automount-token true` (a pod-level `automountServiceAccountToken: true`
    // would otherwise override the ServiceAccount's setting).
    // Borrowed unless it must change (a copy of every rule per tenant was a
    // fifth of the policy's cost).
    let mut admission: std::borrow::Cow<Admission> = match &t.admission {
        Some(a) => std::borrow::Cow::Borrowed(a),
        None => std::borrow::Cow::Owned(Admission {
            origin: t.origin.clone(),
            actions: vec![Action::Deny],
            rules: Vec::new(),
            custom: Vec::new(),
            minor_version: 30,
        }),
    };
    let mounting: Vec<String> = t.workloads.iter().filter(|w| w.automount_token).map(|w| w.name.clone()).collect();
    let (expression, message) = cel::token_validation(&mounting);
    let token = Validation {
        expression,
        message: Some(format!("{message} [khc rule automount-token at {}]", t.origin)),
        reason: Some("Forbidden".into()),
        ..Default::default()
    };
    if admission.actions.is_empty() {
        admission.to_mut().actions.push(Action::Deny);
    }
    let mut extra = vec![token];
    if let Some(n) = &t.nodes {
        let (expression, message) = cel::nodes_validation(&n.selector, &n.tolerations);
        extra.push(Validation {
            expression,
            message: Some(format!("{message} [khc rule nodes at {}]", n.origin)),
            reason: Some("Forbidden".into()),
            ..Default::default()
        });
    }
    extra.extend(stand_in_validations(t, &admission));
    out.extend(admission_policy_with(&format!("khc-tenant-{}", t.name), &admission, namespaces_by_name(&t.namespaces), tn, extra, &t.exceptions));
    if let Some(n) = &t.nodes {
        // The tenant's nodes are kept from everyone else: every namespace but the
        // tenant's own and the system ones (`exempt-namespaces`).
        let validations = cel::nodes_outside_validations(&t.name, &n.selector, &n.tolerations)
            .into_iter()
            .map(|(expression, message)| Validation {
                expression,
                message: Some(format!("{message} [khc rule nodes at {}]", n.origin)),
                reason: Some("Forbidden".into()),
                ..Default::default()
            })
            .collect();
        let mut others: Vec<String> = t.namespaces.iter().chain(&t.exempt_namespaces).cloned().collect();
        others.sort();
        others.dedup();
        let selector = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement { key: NAMESPACE_NAME_LABEL.into(), operator: "NotIn".into(), values: Some(others) }]),
            ..Default::default()
        };
        out.extend(policy_and_binding(
            &format!("khc-nodes-{}", t.name),
            &admission,
            selector,
            tn,
            validations,
            &cel::MATCHED_RESOURCES,
            Some(&cel::SPEC_CHANGED),
            true,
        ));
    }
    out
}

/// The NetworkPolicies of one tenant namespace.
fn network_policies(t: &Tenant, ns: &str) -> Vec<Built> {
    if t.isolation == Isolation::None {
        return Vec::new();
    }
    let tn = Some(t.name.as_str());
    let mut out = Vec::new();
    let policy = |name: &str, origin: &Origin, spec: NetworkPolicySpec| {
        built(NetworkPolicy { metadata: meta(name, Some(ns), tn, origin), spec: Some(spec) }, name, Some(ns), origin)
    };
    if t.isolation == Isolation::Ingress {
        // Staged isolation: ingress only; egress stays open, so no DNS or API-server rule.
        out.push(policy(
            "default-deny-ingress",
            &t.origin,
            NetworkPolicySpec { pod_selector: Some(LabelSelector::default()), policy_types: Some(vec!["Ingress".into()]), ..Default::default() },
        ));
    } else {
        strict_policies(t, ns, &mut out, &policy);
    }
    for r in &t.allows {
        if let Some((_, wns, _)) = &r.local {
            if wns != ns {
                continue;
            }
        }
        let peers = peers(&r.peer);
        let ports = if r.ports.is_empty() && r.named_ports.is_empty() {
            // `protocol UDP` without ports: every port of that protocol only.
            r.protocol_only.then(|| r.protocols.iter().map(|proto| NetworkPolicyPort { protocol: Some(proto.clone()), port: None, end_port: None }).collect())
        } else {
            // Each port once per protocol (`ports 53 protocol UDP TCP`); named
            // ports (`port: http`) after the numbers.
            Some(
                r.protocols
                    .iter()
                    .flat_map(|proto| {
                        r.ports
                            .iter()
                            .map(move |p| NetworkPolicyPort {
                                protocol: Some(proto.clone()),
                                port: Some(IntOrString::Int(p.port as i32)),
                                end_port: p.end.map(|e| e as i32),
                            })
                            .chain(r.named_ports.iter().map(move |n| NetworkPolicyPort {
                                protocol: Some(proto.clone()),
                                port: Some(IntOrString::String(n.clone())),
                                end_port: None,
                            }))
                    })
                    .collect(),
            )
        };
        let pod_selector = Some(r.local.as_ref().map(|(_, _, sel)| match_labels(sel)).unwrap_or_default());
        let spec = match r.direction {
            Direction::Ingress => NetworkPolicySpec {
                pod_selector,
                policy_types: Some(vec!["Ingress".into()]),
                ingress: Some(vec![NetworkPolicyIngressRule { from: Some(peers), ports }]),
                ..Default::default()
            },
            Direction::Egress => NetworkPolicySpec {
                pod_selector,
                policy_types: Some(vec!["Egress".into()]),
                egress: Some(vec![NetworkPolicyEgressRule { to: Some(peers), ports }]),
                ..Default::default()
            },
        };
        out.push(policy(&r.name, &r.origin, spec));
    }
    out
}

/// The default deny of both directions and what strict isolation always allows
/// (DNS, same tenant, the API server for token-mounting workloads).
fn strict_policies(t: &Tenant, ns: &str, out: &mut Vec<Built>, policy: &dyn Fn(&str, &Origin, NetworkPolicySpec) -> Built) {
    let both = Some(vec!["Ingress".to_string(), "Egress".to_string()]);
    out.push(policy(
        "default-deny",
        &t.origin,
        NetworkPolicySpec { pod_selector: Some(LabelSelector::default()), policy_types: both.clone(), ..Default::default() },
    ));
    // The cluster's DNS target (`dns …`, default kube-dns in kube-system): its
    // pods by namespace name and labels, and its addresses (NodeLocal DNSCache's
    // link-local listen address) as ipBlocks.
    let dns_peers: Vec<NetworkPolicyPeer> = t
        .dns
        .namespace
        .iter()
        .map(|ns| NetworkPolicyPeer {
            namespace_selector: Some(one_label("kubernetes.io/metadata.name", ns)),
            pod_selector: (!t.dns.selector.is_empty()).then(|| match_labels(&t.dns.selector)),
            ..Default::default()
        })
        .chain(t.dns.cidrs.iter().map(|c| NetworkPolicyPeer { ip_block: Some(IPBlock { cidr: c.clone(), except: None }), ..Default::default() }))
        .collect();
    let dns_ports =
        ["UDP", "TCP"].iter().map(|p| NetworkPolicyPort { protocol: Some(p.to_string()), port: Some(IntOrString::Int(53)), end_port: None }).collect();
    out.push(policy(
        "allow-dns",
        &t.origin,
        NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(vec![NetworkPolicyEgressRule { to: Some(dns_peers), ports: Some(dns_ports) }]),
            ..Default::default()
        },
    ));
    if t.isolation == Isolation::Tenant {
        let same = NetworkPolicyPeer { namespace_selector: Some(namespaces_by_name(&t.namespaces)), ..Default::default() };
        out.push(policy(
            "allow-same-tenant",
            &t.origin,
            NetworkPolicySpec {
                pod_selector: Some(LabelSelector::default()),
                policy_types: both,
                ingress: Some(vec![NetworkPolicyIngressRule { from: Some(vec![same.clone()]), ports: None }]),
                egress: Some(vec![NetworkPolicyEgressRule { to: Some(vec![same]), ports: None }]),
            },
        ));
    }
    for w in t.workloads.iter().filter(|w| w.automount_token && w.namespace == ns && !t.api_server.is_empty()) {
        let to = t.api_server.iter().map(|c| NetworkPolicyPeer { ip_block: Some(IPBlock { cidr: c.clone(), except: None }), ..Default::default() }).collect();
        let ports = [443, 6443].iter().map(|p| NetworkPolicyPort { protocol: Some("TCP".into()), port: Some(IntOrString::Int(*p)), end_port: None }).collect();
        let name = khc_semantics::api_server_policy_name(&w.name);
        out.push(policy(
            &name,
            &w.origin,
            NetworkPolicySpec {
                pod_selector: Some(match_labels(&w.selector)),
                policy_types: Some(vec!["Egress".into()]),
                egress: Some(vec![NetworkPolicyEgressRule { to: Some(to), ports: Some(ports) }]),
                ..Default::default()
            },
        ));
    }
}

fn peers(p: &Peer) -> Vec<NetworkPolicyPeer> {
    match p {
        Peer::Tenant { namespaces, workload, .. } => vec![NetworkPolicyPeer {
            namespace_selector: Some(namespaces_by_name(namespaces)),
            pod_selector: workload.as_ref().map(|(_, sel)| match_labels(sel)),
            ..Default::default()
        }],
        Peer::Namespace(n) => vec![NetworkPolicyPeer { namespace_selector: Some(one_label("kubernetes.io/metadata.name", n)), ..Default::default() }],
        Peer::AllTenants { namespaces } => vec![NetworkPolicyPeer { namespace_selector: Some(namespaces_by_name(namespaces)), ..Default::default() }],
        Peer::Cidr(blocks) => blocks
            .iter()
            .map(|b| NetworkPolicyPeer {
                ip_block: Some(IPBlock { cidr: b.cidr.clone(), except: (!b.except.is_empty()).then(|| b.except.clone()) }),
                ..Default::default()
            })
            .collect(),
        // Never in `allows` (DNS-name rules are `dns_egress`, the CNI's objects).
        Peer::Dns(_) => Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// RBAC.

fn policy_rules(rules: &[model::RoleRule]) -> Vec<PolicyRule> {
    rules
        .iter()
        .map(|r| match r.non_resource_urls.is_empty() {
            true => PolicyRule {
                api_groups: Some(r.api_groups.clone()),
                resources: Some(r.resources.clone()),
                verbs: r.verbs.clone(),
                resource_names: (!r.resource_names.is_empty()).then(|| r.resource_names.clone()),
                ..Default::default()
            },
            false => PolicyRule { non_resource_urls: Some(r.non_resource_urls.clone()), verbs: r.verbs.clone(), ..Default::default() },
        })
        .collect()
}

fn role_ref(r: &model::RoleRef) -> RoleRef {
    let (kind, name) = match r {
        model::RoleRef::Role(n) => ("Role", n),
        model::RoleRef::ClusterRole(n) => ("ClusterRole", n),
    };
    RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: kind.into(), name: name.clone() }
}

fn subjects(s: &[model::Subject]) -> Vec<Subject> {
    s.iter()
        .map(|s| match s {
            model::Subject::User(n) => Subject { api_group: Some("rbac.authorization.k8s.io".into()), kind: "User".into(), name: n.clone(), namespace: None },
            model::Subject::Group(n) => Subject { api_group: Some("rbac.authorization.k8s.io".into()), kind: "Group".into(), name: n.clone(), namespace: None },
            model::Subject::ServiceAccount { namespace, name } => {
                Subject { api_group: Some(String::new()), kind: "ServiceAccount".into(), name: name.clone(), namespace: Some(namespace.clone()) }
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Cluster objects.

/// Every cluster-scoped object that does not belong to a tenant.
pub fn cluster_objects(c: &model::Cluster) -> Vec<Built> {
    let mut out = Vec::new();
    for r in &c.roles {
        let role = ClusterRole { metadata: meta(&r.name, None, None, &r.origin), rules: Some(policy_rules(&r.rules)), ..Default::default() };
        out.push(built(role, &r.name, None, &r.origin));
    }
    for b in &c.bindings {
        let crb = ClusterRoleBinding { metadata: meta(&b.name, None, None, &b.origin), role_ref: role_ref(&b.role), subjects: Some(subjects(&b.subjects)) };
        out.push(built(crb, &b.name, None, &b.origin));
    }
    if let Some(a) = &c.admission {
        let selector = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "kubernetes.io/metadata.name".into(),
                operator: "NotIn".into(),
                values: Some(c.exempt_namespaces.clone()),
            }]),
            ..Default::default()
        };
        out.extend(admission_policy_with("khc-cluster", a, selector, None, Vec::new(), &c.exceptions));
    }
    out
}

/// A ValidatingAdmissionPolicy with one validation per rule (then `extra`), and
/// its binding. UPDATEs are judged only when the pod spec changed (as Pod
/// Security Admission does), so tightening a rule never blocks scaling down or
/// removing finalizers of an old object.
fn admission_policy_with(
    name: &str,
    a: &Admission,
    namespace_selector: LabelSelector,
    tenant: Option<&str>,
    extra: Vec<Validation>,
    exceptions: &[model::Exception],
) -> Vec<Built> {
    let validation = |r: &model::AdmissionRule, (expression, message): (String, String), pods: bool| Validation {
        expression: excepted(exceptions, r.kind.id, pods, expression),
        message: Some(format!("{message} [khc rule {} at {}]", r.kind.keyword(), r.origin)),
        reason: Some("Forbidden".into()),
        ..Default::default()
    };
    let mut validations: Vec<Validation> = a.rules.iter().filter_map(|r| cel::validation(&r.kind, a.minor_version).map(|v| validation(r, v, true))).collect();
    validations.extend(extra);
    let resource_validations: Vec<Validation> = a.rules.iter().filter_map(|r| cel::resource_validation(&r.kind).map(|v| validation(r, v, false))).collect();
    // A block of custom rules only has no pod policy (the API server refuses a
    // policy without validations).
    let mut out = if validations.is_empty() {
        Vec::new()
    } else {
        policy_and_binding(name, a, namespace_selector.clone(), tenant, validations, &cel::MATCHED_RESOURCES, Some(&cel::SPEC_CHANGED), true)
    };
    if !resource_validations.is_empty() {
        let name = format!("{name}.resources");
        out.extend(policy_and_binding(
            &name,
            a,
            namespace_selector.clone(),
            tenant,
            resource_validations,
            &cel::RESOURCE_MATCHED,
            Some(cel::RESOURCE_SPEC_CHANGED),
            false,
        ));
    }
    // Each custom rule is a policy of its own, matching its resources only: the
    // API server type-checks a policy's expressions against every kind it matches.
    for r in &a.custom {
        let name = format!("{name}.rule-{}", r.name);
        let mut matched: Vec<(&str, Vec<String>)> = Vec::new();
        for (group, resource) in &r.kinds {
            match matched.iter_mut().find(|(g, _)| g == group) {
                Some((_, rs)) => rs.push(resource.clone()),
                None => matched.push((group.as_str(), vec![resource.clone()])),
            }
        }
        let v = Validation {
            expression: r.expression.clone(),
            message: Some(format!("{} [khc rule {} at {}]", r.message, r.name, r.origin)),
            reason: Some("Forbidden".into()),
            ..Default::default()
        };
        out.extend(policy_and_binding(&name, a, namespace_selector.clone(), tenant, vec![v], &matched, None, false));
    }
    out
}

/// A rule's expression with the exceptions that lift it: true for the objects
/// they cover (`exceptions` in SPEC section 5), else the rule.
fn excepted(exceptions: &[model::Exception], rule: RuleId, pods: bool, expression: String) -> String {
    let covers: Vec<String> = exceptions.iter().filter(|e| e.lifts.contains(&rule)).filter_map(|e| e.cel(pods)).map(|c| format!("({c})")).collect();
    if covers.is_empty() {
        return expression;
    }
    format!("{} || ({expression})", covers.join(" || "))
}

/// The Pod Security level khc enforces in CEL where an exception lowered a
/// namespace's `enforce` label to `privileged` (SPEC section 5, "Exceptions"):
/// the level's stand-in rules (`khc_rules::pss_stand_in`) for the pods of those
/// namespaces, each lifted by the exceptions that lift it. A stand-in rule the
/// tenant's own `admission` already states with the same arguments is left out
/// (the tenant's rule judges every namespace).
fn stand_in_validations(t: &Tenant, a: &Admission) -> Vec<Validation> {
    let mut by_level: BTreeMap<model::Level, Vec<String>> = BTreeMap::new();
    for (ns, level) in &t.pod_security.stand_ins {
        by_level.entry(*level).or_default().push(ns.clone());
    }
    let mut out = Vec::new();
    for (level, namespaces) in by_level {
        let pl = match level {
            model::Level::Baseline => khc_rules::facts::PssLevel::Baseline,
            model::Level::Restricted => khc_rules::facts::PssLevel::Restricted,
            model::Level::Privileged => continue,
        };
        let names: Vec<&str> = t.exceptions.iter().filter(|e| e.namespaces.iter().any(|n| namespaces.contains(n))).map(|e| e.name.as_str()).collect();
        for kind in khc_rules::pss_stand_in(pl) {
            if a.rules.iter().any(|r| r.kind == kind) {
                continue;
            }
            let Some((expression, message)) = cel::validation(&kind, a.minor_version) else { continue };
            let expression = format!("!(request.namespace in {}) || {}", cel::list(&namespaces), excepted(&t.exceptions, kind.id, true, expression));
            out.push(Validation {
                expression,
                message: Some(format!(
                    "{message} (Pod Security {} is enforced by khc in namespaces {}, whose label exceptions {} lowered) [khc rule {} at {}]",
                    level.as_str(),
                    namespaces.join(", "),
                    names.join(", "),
                    kind.keyword(),
                    t.origin
                )),
                reason: Some("Forbidden".into()),
                ..Default::default()
            });
        }
    }
    out
}

/// One ValidatingAdmissionPolicy (matching `matched`, judging UPDATEs only when
/// `changed` holds — every CREATE and UPDATE without it —, with the pod variables
/// when `pods`) and its binding.
#[allow(clippy::too_many_arguments)]
fn policy_and_binding(
    name: &str,
    a: &Admission,
    namespace_selector: LabelSelector,
    tenant: Option<&str>,
    validations: Vec<Validation>,
    matched: &[(&str, Vec<String>)],
    changed: Option<&str>,
    pods: bool,
) -> Vec<Built> {
    let resource_rules = matched
        .iter()
        .map(|(group, resources)| NamedRuleWithOperations {
            api_groups: Some(vec![group.to_string()]),
            // Built-in groups at `v1` (type-checked by the API server); a custom
            // rule's other groups (CRDs) at every version.
            api_versions: Some(vec![if khc_rules::facts::V1_API_GROUPS.contains(group) { "v1" } else { "*" }.into()]),
            operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
            resources: Some(resources.clone()),
            ..Default::default()
        })
        .collect();
    let variables = pods.then(|| cel::VARIABLES.iter().map(|(n, e)| Variable { name: n.to_string(), expression: e.clone() }).collect());
    let policy = ValidatingAdmissionPolicy {
        metadata: meta(name, None, tenant, &a.origin),
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".into()),
            match_constraints: Some(MatchResources { resource_rules: Some(resource_rules), ..Default::default() }),
            match_conditions: changed
                .map(|changed| vec![MatchCondition { name: if pods { "pod-spec-changed" } else { "spec-changed" }.into(), expression: changed.to_string() }]),
            variables,
            validations: Some(validations),
            ..Default::default()
        }),
        ..Default::default()
    };
    let actions = a.actions.iter().map(|x| x.validation_action().to_string()).collect();
    let binding = ValidatingAdmissionPolicyBinding {
        metadata: meta(name, None, tenant, &a.origin),
        spec: Some(ValidatingAdmissionPolicyBindingSpec {
            policy_name: Some(name.to_string()),
            validation_actions: Some(actions),
            match_resources: Some(MatchResources { namespace_selector: Some(namespace_selector), ..Default::default() }),
            ..Default::default()
        }),
    };
    vec![built(policy, name, None, &a.origin), built(binding, name, None, &a.origin)]
}
