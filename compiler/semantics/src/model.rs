//! The checked security model: what the program means, with every name resolved
//! and every value validated. Emission turns this into Kubernetes objects.

use khc_syntax::FileKey;
use std::collections::BTreeMap;

/// Where a model element was declared: file and 1-based line. Emitted as the
/// `khc.dev/source` annotation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The declaring file.
    pub file: FileKey,
    /// 1-based line of the declaring statement.
    pub line: u32,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A whole checked program: one cluster and its tenants (sorted by name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    /// The cluster settings.
    pub cluster: Cluster,
    /// Tenants, sorted by name.
    pub tenants: Vec<Tenant>,
}

/// `cluster NAME { … }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// Cluster name (output folder `clusters/NAME`).
    pub name: String,
    /// Declaration site.
    pub origin: Origin,
    /// Target Kubernetes minor version (1.`minor`).
    pub minor_version: u32,
    /// Namespaces the cluster-wide admission rules skip.
    pub exempt_namespaces: Vec<String>,
    /// CIDRs of the API server endpoints (`api-server`), for token-mounting workloads.
    pub api_server: Vec<String>,
    /// The pod address ranges (`pod-cidr`): a `cidr` peer that covers them is a warning.
    pub pod_cidr: Vec<String>,
    /// The Service address ranges (`service-cidr`): a `cidr` peer that covers them is a warning.
    pub service_cidr: Vec<String>,
    /// The cluster's CNI (`cni`): which network objects beyond NetworkPolicies it enforces.
    pub cni: Cni,
    /// Where the cluster serves DNS (`dns …`): isolated tenants' `allow-dns` egress goes there.
    pub dns: DnsTarget,
    /// `allow ingress from tenant T … to all-tenants …` (traffic every tenant
    /// accepts) and `allow egress from all-tenants to tenant T …` (traffic every
    /// tenant sends).
    pub all_tenants_allows: Vec<AllTenantsAllow>,
    /// Encryption at rest, if declared.
    pub encryption: Option<Encryption>,
    /// Cluster-wide admission rules, if any.
    pub admission: Option<Admission>,
    /// ClusterRoles.
    pub roles: Vec<Role>,
    /// ClusterRoleBindings.
    pub bindings: Vec<Binding>,
    /// `quota-scale`: every tenant quota amount is scaled by this many thousandths.
    pub quota_scale: Option<u32>,
    /// `admission-mode`: replaces the actions of every admission policy of the cluster.
    pub admission_mode: Option<Vec<Action>>,
    /// The API server's control-plane settings: audit, Pod Security default, authentication.
    pub control_plane: ControlPlane,
    /// The GitOps applier (`managed-by`): the only subjects allowed to change what khc manages.
    pub managed_by: Vec<Subject>,
    /// Scoped exceptions to the cluster's `admission` rules (`exception NAME { … }`
    /// in the cluster, SPEC section 5); `workloads` are ServiceAccounts `(name, namespace)`.
    pub exceptions: Vec<Exception>,
    /// `images { … }`: the default image policy of every tenant (a tenant's own
    /// block may only tighten it), if any.
    pub images: Option<Images>,
}

/// The cluster's CNI (`cni`, SPEC section 6, "The CNI").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Cni {
    /// Any CNI: NetworkPolicies only (the default).
    #[default]
    Generic,
    /// Calico: ClusterNetworkPolicy tiers.
    Calico,
    /// Antrea: ClusterNetworkPolicy tiers.
    Antrea,
    /// Cilium: CiliumNetworkPolicies (`toEntities`, `toFQDNs`).
    Cilium,
    /// kube-router: NetworkPolicies only.
    KubeRouter,
}

impl Cni {
    /// The keyword (`cni NAME`).
    pub fn as_str(self) -> &'static str {
        match self {
            Cni::Generic => "generic",
            Cni::Calico => "calico",
            Cni::Antrea => "antrea",
            Cni::Cilium => "cilium",
            Cni::KubeRouter => "kube-router",
        }
    }

    /// The CNI named `name`.
    pub fn of(name: &str) -> Option<Cni> {
        [Cni::Generic, Cni::Calico, Cni::Antrea, Cni::Cilium, Cni::KubeRouter].into_iter().find(|c| c.as_str() == name)
    }

    /// True when the CNI implements the sig-network ClusterNetworkPolicy
    /// (`policy.networking.k8s.io/v1alpha2`, tiers Admin and Baseline).
    pub fn cluster_network_policy(self) -> bool {
        matches!(self, Cni::Calico | Cni::Antrea)
    }

    /// True when the CNI can allow egress to DNS names (`allow egress … to dns`)
    /// on Kubernetes 1.`minor`.
    pub fn dns_names(self, minor: u32) -> bool {
        self == Cni::Cilium || self.tiers(minor)
    }

    /// True when khc emits ClusterNetworkPolicy tiers for this CNI on Kubernetes
    /// 1.`minor`: the CRD's CEL (`isCIDR`) needs 1.31 ([`CLUSTER_NETWORK_POLICY_MIN_MINOR`]).
    pub fn tiers(self, minor: u32) -> bool {
        self.cluster_network_policy() && minor >= CLUSTER_NETWORK_POLICY_MIN_MINOR
    }
}

/// The oldest Kubernetes minor whose API server accepts the ClusterNetworkPolicy
/// CRD of network-policy-api v0.2.0: its validation rules call `isCIDR`, a CEL
/// function from 1.31 (1.30.14 refuses the CRD: "undeclared reference to 'isCIDR'").
pub const CLUSTER_NETWORK_POLICY_MIN_MINOR: u32 = 31;

/// `encryption { … }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encryption {
    /// Declaration site.
    pub origin: Origin,
    /// Resources to encrypt (`secrets`, `widgets.example.com`, `*.apps`).
    pub resources: Vec<String>,
    /// Providers in order of preference.
    pub providers: Vec<Provider>,
}

/// One encryption provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provider {
    /// AES-GCM with keys.
    AesGcm(Vec<Key>),
    /// AES-CBC with keys.
    AesCbc(Vec<Key>),
    /// XSalsa20/Poly1305 with keys.
    Secretbox(Vec<Key>),
    /// KMS v2 plugin.
    Kms {
        /// Plugin name (unique).
        name: String,
        /// `unix://` socket.
        endpoint: String,
        /// Optional call timeout (Go duration).
        timeout: Option<String>,
    },
    /// No encryption (read old data / write plain).
    Identity,
}

impl Provider {
    /// The provider's name in the EncryptionConfiguration (`aesgcm`, `kms`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Provider::AesGcm(_) => "aesgcm",
            Provider::AesCbc(_) => "aescbc",
            Provider::Secretbox(_) => "secretbox",
            Provider::Kms { .. } => "kms",
            Provider::Identity => "identity",
        }
    }

    /// The keys of a key-based provider; empty for `kms` and `identity`.
    pub fn keys(&self) -> &[Key] {
        match self {
            Provider::AesGcm(k) | Provider::AesCbc(k) | Provider::Secretbox(k) => k,
            Provider::Kms { .. } | Provider::Identity => &[],
        }
    }
}

/// A named encryption key and where its material comes from at install time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// Key name in the EncryptionConfiguration.
    pub name: String,
    /// Source of the base64 key material.
    pub source: KeySource,
}

/// Where key material is read from when the configuration is installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// An environment variable holding the base64 key.
    Env(String),
    /// A file holding the base64 key.
    File(String),
}

/// Pod Security Standards level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Unrestricted.
    Privileged,
    /// Prevents known escalations.
    Baseline,
    /// Hardened best practice.
    Restricted,
}

impl Level {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// Pod Security Admission settings of a tenant's namespaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSecurity {
    /// Enforced level.
    pub enforce: Level,
    /// Audited level.
    pub audit: Level,
    /// Warned level.
    pub warn: Level,
    /// `v1.31` or `latest`.
    pub version: String,
    /// Namespaces whose `enforce` level differs from the tenant's: set by
    /// `namespace NS LEVEL` in the block, or lowered to `privileged` by an
    /// exception that lifts a Pod Security control (see `stand_ins`).
    pub namespace_enforce: BTreeMap<String, Level>,
    /// Namespaces whose `enforce` label khc lowered to `privileged` for an
    /// exception, with the level khc's own CEL keeps enforcing there for every
    /// pod the exception does not name (SPEC section 5, "Exceptions").
    pub stand_ins: BTreeMap<String, Level>,
}

impl PodSecurity {
    /// The level enforced in namespace `ns`.
    pub fn enforce_in(&self, ns: &str) -> Level {
        self.namespace_enforce.get(ns).copied().unwrap_or(self.enforce)
    }
}

/// `exception NAME { … }` in a tenant (SPEC section 5, "Exceptions"): admission
/// rules lifted for some namespaces or workloads, with a reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    /// The exception's name.
    pub name: String,
    /// Declaration site.
    pub origin: Origin,
    /// The span of `exception NAME` in `origin.file`.
    pub span: khc_syntax::Span,
    /// The namespaces it covers (the tenant's; all of them by default, or the
    /// namespaces of `workloads`).
    pub namespaces: Vec<String>,
    /// The workloads it covers, with their namespaces: pods running as their
    /// ServiceAccount; empty means every pod of `namespaces`.
    pub workloads: Vec<(String, String)>,
    /// The rules it lifts.
    pub lifts: Vec<RuleId>,
    /// Why (required).
    pub reason: String,
    /// The last day it applies (`YYYY-MM-DD`), if any.
    pub expires: Option<String>,
}

impl Exception {
    /// The CEL that is true for the objects the exception covers, in a policy
    /// with the pod variables (`pods`) or without them (Services and claims:
    /// only an exception without workloads covers them; `None` then).
    pub fn cel(&self, pods: bool) -> Option<String> {
        let lit = |s: &str| khc_rules::cel::lit(s);
        if self.workloads.is_empty() {
            return Some(format!("request.namespace in {}", khc_rules::cel::list(&self.namespaces)));
        }
        if !pods {
            return None;
        }
        let each: Vec<String> = self
            .workloads
            .iter()
            .map(|(w, ns)| {
                format!("(request.namespace == {} && has(variables.podSpec.serviceAccountName) && variables.podSpec.serviceAccountName == {})", lit(ns), lit(w))
            })
            .collect();
        Some(each.join(" || "))
    }
}

/// Network isolation mode (SPEC.md section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Default deny; only DNS and declared traffic.
    Strict,
    /// As strict, plus traffic within the tenant.
    Tenant,
    /// Staged isolation for a migration: default deny of ingress only; egress
    /// stays open (no `allow egress`, no `allow-dns`).
    Ingress,
    /// No NetworkPolicies.
    None,
}

/// Traffic direction of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Into the tenant's pods.
    Ingress,
    /// Out of the tenant's pods.
    Egress,
}

/// Labels selecting pods.
pub type Selector = BTreeMap<String, String>;

/// The other side of an allowed connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Pods of a tenant (all its namespaces), optionally one workload.
    Tenant {
        /// Tenant name (may be the rule's own tenant).
        tenant: String,
        /// The tenant's namespaces: peers are selected by their immutable
        /// `kubernetes.io/metadata.name`, never by a label a tenant could set.
        namespaces: Vec<String>,
        /// Workload name and pod selector, when narrowed to one workload.
        workload: Option<(String, Selector)>,
    },
    /// A namespace not managed by khc.
    Namespace(String),
    /// IP blocks.
    Cidr(Vec<IpBlock>),
    /// DNS names (`dns "api.example.com" "*.example.org"`), egress only; never
    /// in [`Tenant::allows`] (NetworkPolicies cannot name them): such rules are
    /// in [`Tenant::dns_egress`].
    Dns(Vec<String>),
    /// Every tenant's pods (the cluster's `allow … all-tenants`, at its one
    /// tenant): the namespaces of every tenant, by name.
    AllTenants {
        /// Every namespace of every tenant.
        namespaces: Vec<String>,
    },
}

/// `allow ingress from tenant T [workload W] to all-tenants [ports …] [protocol …]`
/// or `allow egress from all-tenants to tenant T [workload W] …` in the cluster
/// (SPEC.md section 6, "Every tenant"): one statement that compiles into the
/// rule at `T` and the opposite rule in every tenant that isolates that direction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AllTenantsAllow {
    /// Declaration site.
    pub origin: Origin,
    /// The statement's span in `origin.file`.
    pub span: khc_syntax::Span,
    /// `Ingress`: every tenant accepts from `tenant` (a scraper); `Egress`:
    /// every tenant sends to `tenant` (a collector).
    pub direction: Direction,
    /// The one tenant (sender for `Ingress`, receiver for `Egress`), with the
    /// span of its name.
    pub tenant: (String, khc_syntax::Span),
    /// Its workload (none: every pod of the tenant), with the span of its name.
    pub workload: Option<(String, khc_syntax::Span)>,
    /// Allowed ports; empty (with `named_ports` empty) means all.
    pub ports: Vec<PortRange>,
    /// Named ports (`ports metrics`), resolved on each destination pod.
    pub named_ports: Vec<String>,
    /// Protocols (`TCP` when not written).
    pub protocols: Vec<String>,
    /// True when `protocol` was written.
    pub protocol_only: bool,
}

/// Where the cluster serves DNS (`dns …` in the cluster, SPEC.md section 6):
/// the peers of every isolated tenant's `allow-dns` egress, on port 53 UDP and TCP.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DnsTarget {
    /// The DNS pods' namespace, selected by its immutable `kubernetes.io/metadata.name`;
    /// `None` when DNS is reached by address only (`dns cidr …`).
    pub namespace: Option<String>,
    /// The DNS pods' labels in `namespace` (empty: every pod of the namespace).
    pub selector: Selector,
    /// Addresses DNS is served at outside any pod a NetworkPolicy can select:
    /// NodeLocal DNSCache's link-local listen address (`169.254.20.10/32`),
    /// which a hostNetwork pod answers on every node.
    pub cidrs: Vec<String>,
    /// Where `dns` was written (`None`: the default).
    pub origin: Option<Origin>,
}

impl Default for DnsTarget {
    /// kube-dns (CoreDNS) as kubeadm and most distributions deploy it:
    /// pods labelled `k8s-app: kube-dns` in `kube-system`.
    fn default() -> Self {
        DnsTarget {
            namespace: Some("kube-system".into()),
            selector: Selector::from([("k8s-app".to_string(), "kube-dns".to_string())]),
            cidrs: Vec::new(),
            origin: None,
        }
    }
}

impl DnsTarget {
    /// How messages name the target: `pods k8s-app=kube-dns in kube-system`,
    /// `169.254.20.10/32`, or both.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(ns) = &self.namespace {
            let labels: Vec<String> = self.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.push(match labels.is_empty() {
                true => format!("every pod in {ns}"),
                false => format!("pods {} in {ns}", labels.join(",")),
            });
        }
        parts.extend(self.cidrs.iter().cloned());
        parts.join(" and ")
    }
}

/// An IP block with exceptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpBlock {
    /// The CIDR.
    pub cidr: String,
    /// CIDRs inside it that are excluded.
    pub except: Vec<String>,
}

/// A port or port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port.
    pub port: u16,
    /// Last port, for a range.
    pub end: Option<u16>,
}

/// An `allow` statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetRule {
    /// Declaration site.
    pub origin: Origin,
    /// The statement's span in `origin.file`.
    pub span: khc_syntax::Span,
    /// NetworkPolicy name (unique within the tenant).
    pub name: String,
    /// Ingress or egress.
    pub direction: Direction,
    /// The tenant workload the rule applies to (name, namespace, selector);
    /// `None` means every pod of the tenant.
    pub local: Option<(String, String, Selector)>,
    /// The other side.
    pub peer: Peer,
    /// Allowed ports; empty (with `named_ports` empty) means all.
    pub ports: Vec<PortRange>,
    /// Named ports (`ports http`): the NetworkPolicy names them (`port: http`)
    /// and the destination pod's container port of that name is allowed.
    pub named_ports: Vec<String>,
    /// `TCP`, `UDP` and/or `SCTP` (`protocol UDP TCP`); `TCP` when not written.
    pub protocols: Vec<String>,
    /// True when `protocol` was written: without `ports`, the rule then allows
    /// every port of that protocol only.
    pub protocol_only: bool,
}

/// A ResourceQuota: `(key, quantity)` pairs in Kubernetes terms, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Declaration site.
    pub origin: Origin,
    /// `requests.cpu` → `20`, …: each namespace's amounts, or the tenant's
    /// total under `budget tenant`.
    pub hard: BTreeMap<String, String>,
    /// `budget tenant`: `hard` is the tenant's total, split across its
    /// namespaces at compile time (SPEC.md section 10).
    pub budget: Option<Budget>,
    /// Under `budget tenant`, each namespace's amounts after the split (and
    /// after `quota-scale`); empty otherwise.
    pub per_namespace: BTreeMap<String, BTreeMap<String, String>>,
}

impl Quota {
    /// The ResourceQuota amounts of namespace `ns`: its share of a tenant
    /// budget, else `hard`.
    pub fn hard_for(&self, ns: &str) -> &BTreeMap<String, String> {
        self.per_namespace.get(ns).unwrap_or(&self.hard)
    }
}

/// How a tenant budget (`budget tenant`) is split across the namespaces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// `share NS N`: the namespace's weight (1 when not written), with the
    /// statement's span.
    pub shares: BTreeMap<String, (u32, khc_syntax::Span)>,
    /// `namespace NS KEY Q …`: explicit amounts (ResourceQuota keys), with the
    /// statement's span; the rest of the budget is split among the others.
    pub explicit: BTreeMap<String, (BTreeMap<String, String>, khc_syntax::Span)>,
}

/// A LimitRange for containers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Declaration site.
    pub origin: Origin,
    /// Default limits.
    pub default: BTreeMap<String, String>,
    /// Default requests.
    pub request: BTreeMap<String, String>,
    /// Maximum per container.
    pub max: BTreeMap<String, String>,
    /// Minimum per container.
    pub min: BTreeMap<String, String>,
}

/// A Role or ClusterRole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    /// Role name.
    pub name: String,
    /// Declaration site.
    pub origin: Origin,
    /// Policy rules in declaration order.
    pub rules: Vec<RoleRule>,
}

/// One RBAC policy rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleRule {
    /// API groups (`""` for core).
    pub api_groups: Vec<String>,
    /// Resources, with subresources as `pods/log`.
    pub resources: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
    /// Resource names, if restricted.
    pub resource_names: Vec<String>,
    /// Non-resource URLs (`/metrics`, `/healthz/*`): a rule of a ClusterRole with
    /// these has no API groups or resources.
    pub non_resource_urls: Vec<String>,
}

/// What a binding grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleRef {
    /// A Role of the tenant.
    Role(String),
    /// A ClusterRole (declared in `cluster` or built in).
    ClusterRole(String),
}

/// Who a binding grants to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// A user name.
    User(String),
    /// A group name.
    Group(String),
    /// A ServiceAccount.
    ServiceAccount {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
}

/// A RoleBinding or ClusterRoleBinding (all `grant`s of one role merged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// Binding name (the role's name).
    pub name: String,
    /// Declaration site of the first grant.
    pub origin: Origin,
    /// The granted role.
    pub role: RoleRef,
    /// Subjects, in declaration order without duplicates.
    pub subjects: Vec<Subject>,
}

/// A workload and its ServiceAccount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Workload (and ServiceAccount) name.
    pub name: String,
    /// Declaration site.
    pub origin: Origin,
    /// Its namespace.
    pub namespace: String,
    /// Pod labels identifying it.
    pub selector: Selector,
    /// Whether the API token is mounted.
    pub automount_token: bool,
    /// Its named container ports (`port NAME NUMBER [PROTOCOL]`), which
    /// `allow … ports NAME` resolves against.
    pub ports: Vec<ContainerPort>,
}

/// A named container port a workload declares: `port http 8080 [TCP]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerPort {
    /// The port's name (an IANA service name: at most 15 lowercase letters,
    /// digits and `-`, with a letter).
    pub name: String,
    /// Its number.
    pub port: u16,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
}

/// What a violated admission rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Reject the request.
    Deny,
    /// Return a warning to the client.
    Warn,
    /// Record in the audit log.
    Audit,
}

impl Action {
    /// The ValidatingAdmissionPolicyBinding's `validationActions` value.
    pub fn validation_action(self) -> &'static str {
        match self {
            Action::Deny => "Deny",
            Action::Warn => "Warn",
            Action::Audit => "Audit",
        }
    }
}

/// The admission rules of one scope (cluster or tenant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// Declaration site of the `admission` block.
    pub origin: Origin,
    /// Binding actions.
    pub actions: Vec<Action>,
    /// Rules, in declaration order (profiles expanded in place).
    pub rules: Vec<AdmissionRule>,
    /// Custom rules (`rule NAME { kinds …; cel "…"; message "…" }`), each its own
    /// ValidatingAdmissionPolicy.
    pub custom: Vec<CustomRule>,
    /// The cluster's Kubernetes minor version: the defaults of version-dependent
    /// rules (`allowed-sysctls`, `allowed-volume-types`, `allowed-selinux-types`)
    /// follow the Pod Security Standards of that version.
    pub minor_version: u32,
}

/// A custom admission rule: what the built-in rules cannot say, in CEL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomRule {
    /// Its name (unique in its `admission` block).
    pub name: String,
    /// Declaration site.
    pub origin: Origin,
    /// The `rule` statement's span.
    pub span: khc_syntax::Span,
    /// The resources it judges, `(API group, plural)`: `pods` → `("", "pods")`,
    /// `deployments.apps` → `("apps", "deployments")`.
    pub kinds: Vec<(String, String)>,
    /// The CEL expression, true when the object complies (parse-checked).
    pub expression: String,
    /// The message shown when it does not.
    pub message: String,
}

/// One admission rule and where it was stated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmissionRule {
    /// The rule.
    pub kind: RuleKind,
    /// Declaration site (inside a profile for `use`d rules).
    pub origin: Origin,
    /// The statement's span in `origin.file`.
    pub span: khc_syntax::Span,
}

/// The admission rules (SPEC.md section 8): a rule of the registry and its
/// arguments.
pub use khc_rules::{Args as RuleArgs, RuleId, RuleKind};

/// `tenant NAME { … }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// Tenant name.
    pub name: String,
    /// Declaration site.
    pub origin: Origin,
    /// The span of `tenant NAME` in `origin.file`.
    pub span: khc_syntax::Span,
    /// Namespaces, in declaration order.
    pub namespaces: Vec<String>,
    /// Pod Security Admission labels.
    pub pod_security: PodSecurity,
    /// Network isolation mode.
    pub isolation: Isolation,
    /// Declared traffic.
    pub allows: Vec<NetRule>,
    /// ResourceQuota, if any.
    pub quota: Option<Quota>,
    /// LimitRange, if any.
    pub limits: Option<Limits>,
    /// Roles.
    pub roles: Vec<Role>,
    /// RoleBindings.
    pub bindings: Vec<Binding>,
    /// Workloads.
    pub workloads: Vec<Workload>,
    /// The cluster's API server CIDRs: workloads that mount their token may reach them.
    pub api_server: Vec<String>,
    /// The cluster's CNI (`cni`).
    pub cni: Cni,
    /// True when the tenant gets ClusterNetworkPolicy tiers ([`Cni::tiers`]).
    pub tiers: bool,
    /// `allow egress … to dns "NAME"…`: egress to DNS names, enforced by the
    /// CNI's own objects (CiliumNetworkPolicy `toFQDNs`, ClusterNetworkPolicy
    /// `domainNames`); each rule's peer is [`Peer::Dns`].
    pub dns_egress: Vec<NetRule>,
    /// The cluster's DNS target (`dns …`): where `allow-dns` lets the tenant's pods resolve names.
    pub dns: DnsTarget,
    /// The cluster's `managed-by` subjects: with any, the tenant's objects are protected
    /// from everyone else by an admission policy.
    pub managed_by: Vec<Subject>,
    /// The cluster's `exempt-namespaces` (system namespaces), which node isolation leaves alone.
    pub exempt_namespaces: Vec<String>,
    /// Tenant admission rules, if any.
    pub admission: Option<Admission>,
    /// Node isolation (`nodes { … }`), if any.
    pub nodes: Option<NodeIsolation>,
    /// `network-policies self-managed`: the tenant's own admins may write
    /// NetworkPolicies; otherwise only the `managed-by` applier may (SPEC section 6).
    pub self_managed_network_policies: bool,
    /// API Priority and Fairness (`api-share N`), if any.
    pub api_share: Option<ApiShare>,
    /// Scoped exceptions (`exception NAME { … }`).
    pub exceptions: Vec<Exception>,
    /// `deletable-namespaces`: namespaces emitted without the GitOps engines'
    /// delete guards, which a pruning engine deletes when they leave the source.
    pub deletable_namespaces: Vec<String>,
    /// The tenant's image policy: its own `images { … }` joined with the
    /// cluster's (SPEC section 5, "Images"), if either has one.
    pub images: Option<Images>,
}

/// `images { … }` (in a tenant or the cluster): where its requirements were
/// declared and what they are.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Images {
    /// Declaration site (the tenant's block, else the cluster's).
    pub origin: Origin,
    /// The requirements.
    pub policy: ImagePolicy,
}

/// What images a tenant's pods may run. Registries, digests and image volumes
/// are judged by admission rules the block adds to the tenant's `admission`
/// (`allowed-registries`, `require-digest`, `allowed-image-volumes`);
/// signatures and scans by the verifier (sigstore policy-controller) through a
/// ClusterImagePolicy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ImagePolicy {
    /// `registries "PREFIX"…` (each ending in `/`; empty: any registry).
    pub registries: Vec<String>,
    /// `pinned`: images by digest.
    pub pinned: bool,
    /// `signed-by …`: every one must have signed the image.
    pub signers: Vec<Signer>,
    /// `scanned-by …`: every one must have attested a passing scan.
    pub scans: Vec<ScanRequirement>,
    /// `volume-images "REF@sha256:…"…` (`None` when not written).
    pub volume_images: Option<Vec<String>>,
}

impl ImagePolicy {
    /// True when the verifier must run for the tenant's namespaces (signatures
    /// or scans are required).
    pub fn needs_verifier(&self) -> bool {
        !self.signers.is_empty() || !self.scans.is_empty()
    }

    /// The image volumes allowed: the listed ones, none when the verifier is
    /// needed and none are listed (it does not look at image volumes), else
    /// `None` (image volumes are not restricted by this block).
    pub fn allowed_volume_images(&self) -> Option<Vec<String>> {
        match &self.volume_images {
            Some(v) => Some(v.clone()),
            None if self.needs_verifier() => Some(Vec::new()),
            None => None,
        }
    }
}

/// `signed-by key "PATH"` or `signed-by keyless issuer "…" subject[-regex] "…"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Signer {
    /// Who signs.
    pub identity: SignerIdentity,
    /// True when the requirement comes from the cluster's block.
    pub from_cluster: bool,
}

/// A signing identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SignerIdentity {
    /// A public key: the file (relative to the workspace) and its PEM text.
    Key {
        /// The key file, as written (relative to the file that names it).
        path: String,
        /// Its PEM text (`-----BEGIN PUBLIC KEY-----` …).
        pem: String,
    },
    /// A Fulcio certificate identity (keyless signing).
    Keyless {
        /// The OIDC issuer URL.
        issuer: String,
        /// The certificate subject (an e-mail, a workflow URL), or a regular expression.
        subject: String,
        /// True for `subject-regex`.
        regex: bool,
    },
}

impl SignerIdentity {
    /// How messages, `report` and `diff` name it.
    pub fn describe(&self) -> String {
        match self {
            SignerIdentity::Key { path, .. } => format!("key \"{path}\""),
            SignerIdentity::Keyless { issuer, subject, regex: false } => format!("keyless issuer \"{issuer}\" subject \"{subject}\""),
            SignerIdentity::Keyless { issuer, subject, regex: true } => format!("keyless issuer \"{issuer}\" subject-regex \"{subject}\""),
        }
    }
}

/// `scanned-by key "PATH" max-age DURATION deny-at SEVERITY { allow "CVE-…" because "…" }`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScanRequirement {
    /// The scanner's key file, as written (relative to the file that names it).
    pub key_path: String,
    /// Its PEM text.
    pub pem: String,
    /// The oldest scan accepted, in hours.
    pub max_age_hours: u32,
    /// A finding at or above this severity denies the image.
    pub deny_at: Severity,
    /// Findings accepted anyway, with the reason.
    pub allow: Vec<AllowedFinding>,
    /// True when the requirement comes from the cluster's block.
    pub from_cluster: bool,
}

/// `allow "CVE-…" because "…"` in a `scanned-by` block.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AllowedFinding {
    /// The vulnerability id (`CVE-2024-1234`, `GHSA-…`).
    pub id: String,
    /// Why it is accepted (required).
    pub reason: String,
}

/// A vulnerability severity, as scanners report it (Trivy's `Severity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
    /// `critical`.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    /// The keyword (`high`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity called `s`.
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The severities a scanner writes (upper case) at or above this one.
    pub fn at_or_above(self) -> Vec<&'static str> {
        Severity::ALL
            .into_iter()
            .filter(|x| *x >= self)
            .map(|x| match x {
                Severity::Low => "LOW",
                Severity::Medium => "MEDIUM",
                Severity::High => "HIGH",
                Severity::Critical => "CRITICAL",
            })
            .collect()
    }
}

/// `api-share N`: the tenant's own API Priority and Fairness level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiShare {
    /// Declaration site.
    pub origin: Origin,
    /// Nominal concurrency shares of the tenant's PriorityLevelConfiguration (1–100).
    pub shares: u32,
}

/// `nodes { … }`: where a tenant's pods may run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeIsolation {
    /// Declaration site.
    pub origin: Origin,
    /// nodeSelector pairs every pod must carry.
    pub selector: BTreeMap<String, String>,
    /// Taints the pods may tolerate: key and value (`None`: any value).
    pub tolerations: Vec<(String, Option<String>)>,
}

/// The API server's control-plane settings of a cluster (SPEC.md section 7):
/// every field has a safe default, so every cluster gets its control-plane files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlPlane {
    /// Target Kubernetes minor version (decides which API versions and fields are emitted).
    pub minor_version: u32,
    /// Audit policy and log settings.
    pub audit: Audit,
    /// The Pod Security default for namespaces without labels.
    pub pod_security: ClusterPodSecurity,
    /// Authentication settings.
    pub authentication: Authentication,
    /// `kubelet-certificate-authority "PATH"`: the CA bundle the API server checks
    /// the kubelets' serving certificates against (`--kubelet-certificate-authority`).
    pub kubelet_ca: Option<FileSetting>,
}

/// A control-plane setting naming a file on the control-plane nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSetting {
    /// Declaration site.
    pub origin: Origin,
    /// The absolute path (letters, digits, `.`, `_`, `-`, `/`).
    pub path: String,
}

/// `audit { … }`: the log settings (the policy itself is khc's, see the emitter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audit {
    /// Declaration site (the cluster's when defaulted).
    pub origin: Origin,
    /// `--audit-log-path`.
    pub log_path: String,
    /// `--audit-log-maxage` (days).
    pub max_age: u32,
    /// `--audit-log-maxbackup`.
    pub max_backups: u32,
    /// `--audit-log-maxsize` (megabytes).
    pub max_size: u32,
}

/// `pod-security { … }` in `cluster`: the PodSecurity admission plugin's defaults and exemptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterPodSecurity {
    /// Declaration site (the cluster's when defaulted).
    pub origin: Origin,
    /// Enforced level.
    pub enforce: Level,
    /// Audited level.
    pub audit: Level,
    /// Warned level.
    pub warn: Level,
    /// `v1.N` or `latest`.
    pub version: String,
    /// Exempt user names.
    pub exempt_usernames: Vec<String>,
    /// Exempt RuntimeClass names.
    pub exempt_runtime_classes: Vec<String>,
    /// Exempt namespaces.
    pub exempt_namespaces: Vec<String>,
}

/// Anonymous access to the API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anonymous {
    /// Not stated and not expressible for the target version: the server's default.
    Unchanged,
    /// Only the health endpoints.
    HealthOnly,
    /// None at all.
    Off,
}

/// `authentication { … }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authentication {
    /// Declaration site (the cluster's when defaulted).
    pub origin: Origin,
    /// Anonymous access (after the version fallback: `HealthOnly` only where the
    /// target supports it structurally).
    pub anonymous: Anonymous,
    /// OIDC issuers.
    pub oidc: Vec<Oidc>,
}

/// `oidc "ISSUER-URL" { … }`: a JWT authenticator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Oidc {
    /// Declaration site.
    pub origin: Origin,
    /// The issuer URL (https).
    pub issuer: String,
    /// Accepted audiences.
    pub audiences: Vec<String>,
    /// The user-name claim.
    pub username_claim: String,
    /// The user-name prefix.
    pub username_prefix: String,
    /// The groups claim, if any.
    pub groups_claim: Option<String>,
    /// The groups prefix.
    pub groups_prefix: String,
}
