//! The language schema: one table describing every block, the statements it
//! accepts, their argument shapes and one-line documentation, and the sets of
//! keyword values (verbs, levels, modes…). The checker's "unknown statement"
//! messages, the SPEC coverage test, and the IDE's completion, hover and semantic
//! tokens all read it, so no keyword list is written twice.

/// The kinds of blocks (and the file's top level).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockKind {
    /// The top level of a file.
    File,
    /// `cluster NAME { … }`.
    Cluster,
    /// `tenant NAME { … }`.
    Tenant,
    /// `workload NAME { … }`.
    Workload,
    /// `selector { KEY "VALUE" … }` (free label keys).
    Selector,
    /// `pod-security [LEVEL] { … }`.
    PodSecurity,
    /// `quota { … }`.
    Quota,
    /// `limits { … }`.
    Limits,
    /// `role NAME { … }`.
    Role,
    /// `encryption { … }`.
    Encryption,
    /// `provider aesgcm|aescbc|secretbox { … }`.
    KeyProvider,
    /// `provider kms { … }`.
    KmsProvider,
    /// `nodes { … }` (tenant node isolation).
    Nodes,
    /// `admission { … }`.
    Admission,
    /// `profile NAME { … }`.
    Profile,
    /// `audit { … }` in `cluster`.
    Audit,
    /// `pod-security { … }` in `cluster` (the API server's default).
    ClusterPodSecurity,
    /// `authentication { … }` in `cluster`.
    Authentication,
    /// `oidc "ISSUER-URL" { … }` in `authentication`.
    Oidc,
    /// `exception NAME { … }` in a tenant.
    Exception,
    /// `exception NAME { … }` in the cluster (lifts cluster rules).
    ClusterException,
    /// `rule NAME { … }` in an admission block (a custom rule).
    CustomRule,
    /// `images { … }` in a tenant or the cluster.
    Images,
    /// `scanned-by key "PATH" … { … }` in `images` (its allow-list).
    ScannedBy,
}

/// One statement a block accepts.
#[derive(Clone, Copy, Debug)]
pub struct StatementSchema {
    /// The statement's name.
    pub name: &'static str,
    /// The argument shape, as SPEC writes it (`NAME…`, `LEVEL [{ … }]`).
    pub shape: &'static str,
    /// One line of documentation.
    pub doc: &'static str,
    /// The block the statement opens, if any.
    pub block: Option<BlockKind>,
    /// True when the statement may appear at most once in its block.
    pub once: bool,
}

/// A block: what it is called in messages and what it accepts.
#[derive(Clone, Copy, Debug)]
pub struct BlockSchema {
    /// The kind.
    pub kind: BlockKind,
    /// How messages name it: "a tenant", "a quota".
    pub context: &'static str,
    /// The statements it accepts.
    pub statements: &'static [StatementSchema],
}

const fn s(name: &'static str, shape: &'static str, doc: &'static str) -> StatementSchema {
    StatementSchema { name, shape, doc, block: None, once: false }
}

const fn once(name: &'static str, shape: &'static str, doc: &'static str) -> StatementSchema {
    StatementSchema { name, shape, doc, block: None, once: true }
}

const fn opens(name: &'static str, shape: &'static str, doc: &'static str, block: BlockKind, once: bool) -> StatementSchema {
    StatementSchema { name, shape, doc, block: Some(block), once }
}

const FILE: &[StatementSchema] = &[
    s("import", "\"PATH\"", "Includes another file (relative to this one) or a standard-library module (`std/NAME`)."),
    opens("cluster", "NAME { … }", "The cluster this program describes: version, encryption, cluster-wide admission and RBAC.", BlockKind::Cluster, false),
    opens("tenant", "NAME { … }", "A tenant: its namespaces, isolation, workloads, RBAC, quotas and admission rules.", BlockKind::Tenant, false),
    opens("profile", "NAME { … }", "A named, reusable bundle of admission rules (`use NAME`).", BlockKind::Profile, false),
];

const CLUSTER: &[StatementSchema] = &[
    once("kubernetes", "VERSION", "Target Kubernetes minor version (1.30 or later); sets the Pod Security Standards version."),
    once("exempt-namespaces", "NAME…", "Namespaces the cluster-wide admission rules do not apply to."),
    once("api-server", "CIDR…", "The API server endpoints; token-mounting workloads in isolated tenants may reach them on TCP 443 and 6443."),
    once(
        "pod-cidr",
        "CIDR…",
        "The cluster's pod address ranges; a `cidr` peer that covers them is a warning (whether an ipBlock matches pods is CNI-defined).",
    ),
    once(
        "service-cidr",
        "CIDR…",
        "The cluster's Service address ranges; a `cidr` peer that covers them is a warning (CNIs differ on ipBlocks and Service IPs).",
    ),
    once(
        "cni",
        "generic|calico|antrea|cilium|kube-router",
        "The cluster's CNI: what khc may emit beyond NetworkPolicies (ClusterNetworkPolicy tiers, CiliumNetworkPolicies, DNS-name egress); default generic.",
    ),
    s(
        "dns",
        "[namespace NS [selector KEY \"VALUE\"…]] [cidr ADDRESS…]",
        "Where the cluster serves DNS: isolated tenants' `allow-dns` egress (port 53 UDP and TCP) goes to these pods and/or addresses instead of `k8s-app: kube-dns` in kube-system, e.g. `dns cidr 169.254.20.10/32` for NodeLocal DNSCache.",
    ),
    s(
        "allow",
        "ingress from tenant NAME [workload NAME] to all-tenants … | egress from all-tenants to tenant NAME [workload NAME] …",
        "Traffic of every tenant in one statement: every tenant accepts from one tenant (monitoring scraping every tenant), or sends to one (a log collector); the rule in every isolated tenant and the opposite one at that tenant.",
    ),
    once("quota-scale", "FACTOR", "Scales every tenant's quota amounts (cpu, memory, storage, pods) in this cluster, rounding up, e.g. `quota-scale 0.25`."),
    once(
        "admission-mode",
        "deny|warn|audit…",
        "Replaces the `mode` of every admission policy in this cluster (cluster and tenants), e.g. `admission-mode warn audit`.",
    ),
    opens("encryption", "{ … }", "Encryption at rest of Secrets (and other resources) in etcd.", BlockKind::Encryption, true),
    opens("admission", "{ … }", "Admission rules for every non-exempt namespace.", BlockKind::Admission, true),
    opens(
        "exception",
        "NAME { … }",
        "A scoped exception to the cluster's `admission` rules: named rules lifted for some namespaces (any, e.g. `kube-system` or `monitoring`) or ServiceAccounts `\"ns/name\"`, with a required reason and an optional expiry.",
        BlockKind::ClusterException,
        false,
    ),
    opens("role", "NAME { … }", "A ClusterRole.", BlockKind::Role, false),
    s("grant", "ROLE to SUBJECT…", "Binds a role to users, groups or ServiceAccounts (a ClusterRoleBinding)."),
    once("managed-by", "SUBJECT…", "The GitOps applier: only it (and `system:masters`) may change what khc manages."),
    opens("audit", "{ … }", "The API server's audit policy and log settings (default: khc's safe policy).", BlockKind::Audit, true),
    opens(
        "pod-security",
        "{ … }",
        "The Pod Security default for namespaces khc does not manage (default enforce baseline, audit and warn restricted).",
        BlockKind::ClusterPodSecurity,
        true,
    ),
    opens("authentication", "{ … }", "API server authentication: anonymous access and OIDC issuers.", BlockKind::Authentication, true),
    opens(
        "images",
        "{ … }",
        "The image policy of every tenant (registries, digests, signatures, scans); a tenant's own `images` block may only tighten it.",
        BlockKind::Images,
        true,
    ),
    once(
        "kubelet-certificate-authority",
        "\"PATH\"",
        "The CA bundle (on the control-plane nodes) that signs the kubelets' serving certificates: the API server verifies kubelets with it (`--kubelet-certificate-authority`).",
    ),
];

const AUDIT: &[StatementSchema] = &[
    once("log-path", "\"PATH\"", "Where the API server writes the audit log (default /var/log/kubernetes/audit/audit.log)."),
    once("max-age", "DAYS", "Days to keep rotated audit logs (default 30)."),
    once("max-backups", "N", "Rotated audit logs to keep (default 10)."),
    once("max-size", "MEGABYTES", "Size at which the audit log is rotated (default 100)."),
];

const CLUSTER_POD_SECURITY: &[StatementSchema] = &[
    once("enforce", "LEVEL", "The level enforced in namespaces without Pod Security labels (default baseline)."),
    once("audit", "LEVEL", "The level audited in namespaces without Pod Security labels (default restricted)."),
    once("warn", "LEVEL", "The level warned about in namespaces without Pod Security labels (default restricted)."),
    once("version", "VERSION|latest", "The Pod Security Standards version (default: the cluster's Kubernetes version)."),
    once("exempt-usernames", "\"NAME\"…", "Users whose requests Pod Security does not judge."),
    once("exempt-runtime-classes", "NAME…", "RuntimeClasses whose pods Pod Security does not judge."),
    once("exempt-namespaces", "NAME…", "Namespaces Pod Security does not judge (default: the cluster's `exempt-namespaces`)."),
];

const AUTHENTICATION: &[StatementSchema] = &[
    once("anonymous", "health-only|off", "Anonymous requests: only to /healthz, /livez and /readyz, or none."),
    opens("oidc", "\"ISSUER-URL\" { … }", "An OIDC issuer whose ID tokens the API server accepts (a JWT authenticator).", BlockKind::Oidc, false),
];

const OIDC: &[StatementSchema] = &[
    once("audience", "\"AUDIENCE\"…", "The client IDs a token must be issued for (required)."),
    once("username-claim", "\"CLAIM\"", "The claim that names the user (default sub)."),
    once("username-prefix", "\"PREFIX\"", "Prefixed to every user name, so issuers cannot mint `system:` users (default `oidc:`)."),
    once("groups-claim", "\"CLAIM\"", "The claim that lists the user's groups (default: no groups)."),
    once("groups-prefix", "\"PREFIX\"", "Prefixed to every group name (default `oidc:`)."),
];

const TENANT: &[StatementSchema] = &[
    once("namespaces", "NAME…", "The tenant's namespaces (default: one named after the tenant)."),
    opens(
        "pod-security",
        "LEVEL [{ … }]",
        "Pod Security Admission level: privileged, baseline or restricted (default restricted).",
        BlockKind::PodSecurity,
        true,
    ),
    once("isolation", "MODE", "Network isolation: strict (default), tenant, ingress (ingress only, for a migration) or none."),
    s(
        "allow",
        "ingress|egress …",
        "Declared network traffic: `allow ingress from PEER [to workload W] [ports …]` or `allow egress [from workload W] to PEER [ports …]`.",
    ),
    once(
        "network-policies",
        "khc-only|self-managed",
        "Who may write NetworkPolicies in the tenant's namespaces: only the `managed-by` applier (default), or also the tenant's own admins.",
    ),
    opens("quota", "{ … }", "A ResourceQuota in each of the tenant's namespaces.", BlockKind::Quota, true),
    opens("limits", "{ … }", "A LimitRange (container defaults and bounds) in each namespace.", BlockKind::Limits, true),
    opens("role", "NAME { … }", "A Role in each of the tenant's namespaces.", BlockKind::Role, false),
    s("grant", "ROLE to SUBJECT…", "Binds a role to users, groups or workloads (a RoleBinding per namespace)."),
    opens("workload", "NAME { … }", "A workload: its pod selector and its own ServiceAccount.", BlockKind::Workload, false),
    opens("admission", "{ … }", "Admission rules for this tenant's namespaces.", BlockKind::Admission, true),
    opens(
        "images",
        "{ … }",
        "What images the tenant's pods may run: registries, pinned by digest, signed by a key or keyless identity, scanned with no finding at or above a severity (checked at admission by sigstore policy-controller).",
        BlockKind::Images,
        true,
    ),
    opens("nodes", "{ … }", "Node isolation: the node labels the tenant's pods must select and the only taints they may tolerate.", BlockKind::Nodes, true),
    once(
        "api-share",
        "SHARES",
        "API Priority and Fairness: the tenant's ServiceAccounts and granted users and groups get their own priority level with SHARES (1–100) nominal concurrency shares; a flood from the tenant queues, then gets 429, in its own level.",
    ),
    once(
        "deletable-namespaces",
        "NAME…",
        "Namespaces emitted without the GitOps delete guards (Argo CD `Delete=false,Prune=false`, Flux `prune: disabled`): removing them from the source lets the engine delete them and everything in them.",
    ),
    opens(
        "exception",
        "NAME { … }",
        "A scoped exception: admission rules (and the Pod Security controls they stand for) lifted for some namespaces or workloads, with a required reason and an optional expiry.",
        BlockKind::Exception,
        false,
    ),
];

const EXCEPTION: &[StatementSchema] = &[
    once("namespaces", "NAME…", "The tenant's namespaces the exception covers (default: the workloads' namespaces, else every namespace of the tenant)."),
    once("workloads", "NAME…", "The workloads it covers: pods running as their ServiceAccount (default: every pod of the namespaces)."),
    once("lifts", "RULE…", "The admission rules it lifts; a rule that stands for a Pod Security control also lifts that control (SPEC section 5)."),
    once("reason", "\"TEXT\"", "Why the exception is needed (required); shown by `khc report`, `diff`, `eval` and hover."),
    once("expires", "\"YYYY-MM-DD\"", "The last day the exception applies; after it, the build fails (KHC_TODAY overrides today's date)."),
];

const CLUSTER_EXCEPTION: &[StatementSchema] = &[
    once("namespaces", "NAME…", "The namespaces the exception covers, any namespace (default: the namespaces of `workloads`)."),
    once("workloads", "\"NS/NAME\"…", "The pods it covers by ServiceAccount, `\"monitoring/node-exporter\"` (default: every pod of the namespaces)."),
    once("lifts", "RULE…", "The cluster's `admission` rules it lifts."),
    once("reason", "\"TEXT\"", "Why the exception is needed (required); shown by `khc report`, `diff`, `eval` and hover."),
    once("expires", "\"YYYY-MM-DD\"", "The last day the exception applies; after it, the build fails (KHC_TODAY overrides today's date)."),
];

const NODES: &[StatementSchema] = &[
    s("selector", "KEY \"VALUE\"", "The tenant's pods must carry this nodeSelector pair."),
    s("toleration", "KEY [\"VALUE\"]", "The tenant's pods may tolerate this taint (any value when none is given)."),
];

const IMAGES: &[StatementSchema] = &[
    once("registries", "\"PREFIX\"…", "Images come from these registry prefixes (the `allowed-registries` rule; within the cluster's, if it has some)."),
    once("pinned", "", "Images are pinned by digest, `name@sha256:…` (the `require-digest` rule); a tag the verifier's mutating webhook resolved to a digest passes."),
    s(
        "signed-by",
        "key \"PATH\" | keyless issuer \"URL\" subject|subject-regex \"TEXT\"",
        "Every image must carry a cosign signature by this public key (a PEM file relative to the workspace) or keyless identity; several `signed-by` are all required.",
    ),
    opens(
        "scanned-by",
        "key \"PATH\" max-age DURATION deny-at SEVERITY [{ allow \"ID\" because \"TEXT\" … }]",
        "Every image must carry a vulnerability-scan attestation (cosign `vuln`, Trivy's report) signed by this key, no older than `max-age` (e.g. 7d), with no finding at or above `deny-at` outside the allow-list.",
        BlockKind::ScannedBy,
        false,
    ),
    once(
        "volume-images",
        "\"REF@sha256:DIGEST\"…",
        "The only image volumes pods may mount (the `allowed-image-volumes` rule); with signatures or scans required and no list, none (the verifier does not look at image volumes).",
    ),
];

const SCANNED_BY: &[StatementSchema] =
    &[s("allow", "\"ID\" because \"TEXT\"", "A finding accepted despite its severity (a CVE or GHSA id), with the reason it is acceptable (required).")];

const WORKLOAD: &[StatementSchema] = &[
    once("namespace", "NAME", "One of the tenant's namespaces (default: the first)."),
    opens("selector", "{ KEY \"VALUE\" … }", "The pod labels that identify the workload (default `app.kubernetes.io/name: NAME`).", BlockKind::Selector, true),
    once("automount-token", "BOOL", "Mount the API token into the workload's pods (default false)."),
    s(
        "port",
        "NAME NUMBER [TCP|UDP|SCTP]",
        "A named container port of the workload's pods (`port http 8080`): `allow … ports http` names it, and `reach` resolves it to this number when the workload is the destination.",
    ),
];

/// `rule NAME { … }` in an admission block.
const CUSTOM_RULE_STATEMENT: StatementSchema = opens(
    "rule",
    "NAME { kinds …; cel \"…\"; message \"…\" }",
    "A custom rule: a CEL expression (true when the object complies) judging the named resources, with its message; its own ValidatingAdmissionPolicy, bound like the block's rules.",
    BlockKind::CustomRule,
    false,
);

const CUSTOM_RULE: &[StatementSchema] = &[
    once("kinds", "RESOURCE…", "The resources judged: plurals, with the API group after a dot (`pods deployments.apps widgets.example.com`)."),
    once("cel", "\"EXPR\"", "The CEL expression, true when the object complies (`object`, `oldObject`, `request`, `namespaceObject` as in a ValidatingAdmissionPolicy); parse-checked by khc, type-checked by the API server."),
    once("message", "\"TEXT\"", "The message shown when the expression is false."),
];

const POD_SECURITY: &[StatementSchema] = &[
    s("enforce", "LEVEL", "The level whose violations are rejected."),
    s("audit", "LEVEL", "The level whose violations are recorded in the audit log."),
    s("warn", "LEVEL", "The level whose violations are returned as warnings."),
    s("version", "VERSION|latest", "The Pod Security Standards version (default: the cluster's Kubernetes version)."),
    s("namespace", "NAME LEVEL", "The level enforced in one of the tenant's namespaces (audit and warn keep the tenant's levels)."),
];

const QUOTA: &[StatementSchema] = &[
    s("cpu", "QUANTITY", "requests.cpu: total CPU requested by the namespace's pods."),
    s("memory", "QUANTITY", "requests.memory: total memory requested."),
    s("limit-cpu", "QUANTITY", "limits.cpu: total CPU limits."),
    s("limit-memory", "QUANTITY", "limits.memory: total memory limits."),
    s("ephemeral-storage", "QUANTITY", "requests.ephemeral-storage: total local ephemeral storage requested."),
    s("storage", "QUANTITY", "requests.storage: total storage requested by PersistentVolumeClaims."),
    s("pods", "COUNT", "pods: number of pods."),
    s("services", "COUNT", "services: number of Services."),
    s("secrets", "COUNT", "secrets: number of Secrets."),
    s("configmaps", "COUNT", "configmaps: number of ConfigMaps."),
    s("pvcs", "COUNT", "persistentvolumeclaims: number of PersistentVolumeClaims."),
    s("load-balancers", "COUNT", "services.loadbalancers: number of LoadBalancer Services."),
    s("node-ports", "COUNT", "services.nodeports: number of NodePort Services."),
    s("budget", "tenant", "The amounts are the tenant's total, split across its namespaces at compile time (evenly, or by `share`), each namespace's amount rounded down."),
    s("share", "NAMESPACE WEIGHT", "Under `budget tenant`: the namespace's weight in the split (1 when not written), e.g. `share shop-prod 3`."),
    s("namespace", "NAMESPACE KEY QUANTITY …", "Under `budget tenant`: explicit amounts for one namespace, e.g. `namespace shop-batch cpu 1 memory 2Gi`; the rest of each amount is split among the namespaces without an explicit value for it."),
];

/// The `quota` statements that shape a tenant budget rather than set a key.
pub const QUOTA_BUDGET_STATEMENTS: &[&str] = &["budget", "share", "namespace"];

/// Quota statements and the ResourceQuota keys they set; `true` for quantities.
pub const QUOTA_KEYS: &[(&str, &str, bool)] = &[
    ("cpu", "requests.cpu", true),
    ("memory", "requests.memory", true),
    ("limit-cpu", "limits.cpu", true),
    ("limit-memory", "limits.memory", true),
    ("ephemeral-storage", "requests.ephemeral-storage", true),
    ("storage", "requests.storage", true),
    ("pods", "pods", false),
    ("services", "services", false),
    ("secrets", "secrets", false),
    ("configmaps", "configmaps", false),
    ("pvcs", "persistentvolumeclaims", false),
    ("load-balancers", "services.loadbalancers", false),
    ("node-ports", "services.nodeports", false),
];

const LIMITS: &[StatementSchema] = &[
    s("default", "cpu Q memory Q …", "Default limits per container."),
    s("request", "cpu Q memory Q …", "Default requests per container."),
    s("max", "cpu Q memory Q …", "Maximum per container."),
    s("min", "cpu Q memory Q …", "Minimum per container."),
];

const ROLE: &[StatementSchema] =
    &[s("can", "VERB… on RESOURCE… [names \"NAME\"…]", "One RBAC rule: these verbs on these resources (optionally only the named objects).")];

const ENCRYPTION: &[StatementSchema] = &[
    once("resources", "NAME…", "Resources to encrypt (default secrets): secrets, configmaps, RESOURCE.GROUP, *.GROUP or *."),
    opens(
        "provider",
        "KIND [{ … }]",
        "An encryption provider, in order of preference: aesgcm, aescbc, secretbox, kms or identity.",
        BlockKind::KeyProvider,
        false,
    ),
];

const KEY_PROVIDER: &[StatementSchema] = &[s(
    "key",
    "NAME env \"VAR\" | NAME file \"PATH\"",
    "A key whose material is read at install time from an environment variable or a file (never written in source).",
)];

const KMS_PROVIDER: &[StatementSchema] = &[
    s("name", "NAME", "The KMS v2 plugin's name (unique)."),
    s("endpoint", "\"unix:///PATH\"", "The plugin's unix socket."),
    s("timeout", "DURATION", "How long the API server waits for the plugin (e.g. 3s)."),
];

/// The admission rules, shared by `admission` blocks and profiles: one row per
/// rule of the registry (`khc_rules::ALL`), in its order.
pub static RULES: std::sync::LazyLock<Vec<StatementSchema>> = std::sync::LazyLock::new(|| {
    khc_rules::ALL
        .iter()
        .map(|r| {
            let d = r.def();
            s(d.name, d.shape, d.doc)
        })
        .collect()
});

const USE: StatementSchema = s("use", "PROFILE", "Includes every rule of a profile.");
const MODE: StatementSchema = once("mode", "deny|warn|audit …", "What a violation does (default deny).");

/// Every block with its statements. Admission and profile blocks list their
/// special statements here; their rules come from [`RULES`].
pub const BLOCKS: &[BlockSchema] = &[
    BlockSchema { kind: BlockKind::File, context: "a file", statements: FILE },
    BlockSchema { kind: BlockKind::Cluster, context: "a cluster", statements: CLUSTER },
    BlockSchema { kind: BlockKind::Tenant, context: "a tenant", statements: TENANT },
    BlockSchema { kind: BlockKind::Workload, context: "a workload", statements: WORKLOAD },
    BlockSchema { kind: BlockKind::Selector, context: "a selector", statements: &[] },
    BlockSchema { kind: BlockKind::PodSecurity, context: "a pod-security block", statements: POD_SECURITY },
    BlockSchema { kind: BlockKind::Quota, context: "a quota", statements: QUOTA },
    BlockSchema { kind: BlockKind::Limits, context: "a limits block", statements: LIMITS },
    BlockSchema { kind: BlockKind::Role, context: "a role", statements: ROLE },
    BlockSchema { kind: BlockKind::Encryption, context: "an encryption block", statements: ENCRYPTION },
    BlockSchema { kind: BlockKind::KeyProvider, context: "a key provider", statements: KEY_PROVIDER },
    BlockSchema { kind: BlockKind::KmsProvider, context: "provider `kms`", statements: KMS_PROVIDER },
    BlockSchema { kind: BlockKind::Nodes, context: "a nodes block", statements: NODES },
    BlockSchema { kind: BlockKind::Admission, context: "an admission block", statements: &[MODE, USE, CUSTOM_RULE_STATEMENT] },
    BlockSchema { kind: BlockKind::CustomRule, context: "a custom rule", statements: CUSTOM_RULE },
    BlockSchema { kind: BlockKind::Profile, context: "a profile", statements: &[USE] },
    BlockSchema { kind: BlockKind::Audit, context: "an audit block", statements: AUDIT },
    BlockSchema { kind: BlockKind::ClusterPodSecurity, context: "the cluster's pod-security block", statements: CLUSTER_POD_SECURITY },
    BlockSchema { kind: BlockKind::Authentication, context: "an authentication block", statements: AUTHENTICATION },
    BlockSchema { kind: BlockKind::Oidc, context: "an oidc block", statements: OIDC },
    BlockSchema { kind: BlockKind::Exception, context: "an exception", statements: EXCEPTION },
    BlockSchema { kind: BlockKind::ClusterException, context: "a cluster exception", statements: CLUSTER_EXCEPTION },
    BlockSchema { kind: BlockKind::Images, context: "an images block", statements: IMAGES },
    BlockSchema { kind: BlockKind::ScannedBy, context: "a scanned-by block", statements: SCANNED_BY },
];

/// The schema of a block.
pub fn block(kind: BlockKind) -> &'static BlockSchema {
    BLOCKS.iter().find(|b| b.kind == kind).expect("every block kind has a schema")
}

/// Every statement a block accepts (admission rules included for admission
/// blocks and profiles).
pub fn statements(kind: BlockKind) -> impl Iterator<Item = &'static StatementSchema> {
    let rules: &'static [StatementSchema] = if matches!(kind, BlockKind::Admission | BlockKind::Profile) { RULES.as_slice() } else { &[] };
    block(kind).statements.iter().chain(rules.iter())
}

/// The names of the statements a block accepts, for messages and completion.
pub fn statement_names(kind: BlockKind) -> Vec<&'static str> {
    statements(kind).map(|s| s.name).collect()
}

/// The schema of statement `name` in a block.
pub fn statement(kind: BlockKind, name: &str) -> Option<&'static StatementSchema> {
    statements(kind).find(|s| s.name == name)
}

/// The block a statement opens, given its first value (a provider's kind decides
/// which statements its block accepts).
pub fn child_block(parent: BlockKind, name: &str, first_value: Option<&str>) -> Option<BlockKind> {
    let stmt = statement(parent, name)?;
    match (stmt.block?, first_value) {
        (BlockKind::KeyProvider, Some("kms")) => Some(BlockKind::KmsProvider),
        (kind, _) => Some(kind),
    }
}

/// Declares the statements of one block as an enum, so that a checker matches
/// them exhaustively: a statement added to the block's schema (and here — a
/// test requires the enum to list exactly the schema's statements) without a
/// checker arm is a compile error, not a silent fall into a `_ =>` arm.
macro_rules! statement_enum {
    ($(#[$meta:meta])* $name:ident for $block:path { $($variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $(
                #[doc = concat!("`", $text, "`.")]
                $variant,
            )*
        }

        impl $name {
            /// Every statement, in the schema's order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            /// The block whose statements these are.
            pub const BLOCK: BlockKind = $block;

            /// The statement's name.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The statement called `name`, if the block has one.
            pub fn of(name: &str) -> Option<$name> {
                match name {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

statement_enum! {
    /// The statements of `cluster NAME { … }`.
    ClusterStatement for BlockKind::Cluster {
        Kubernetes = "kubernetes",
        ExemptNamespaces = "exempt-namespaces",
        ApiServer = "api-server",
        PodCidr = "pod-cidr",
        ServiceCidr = "service-cidr",
        Cni = "cni",
        Dns = "dns",
        Allow = "allow",
        QuotaScale = "quota-scale",
        AdmissionMode = "admission-mode",
        Encryption = "encryption",
        Admission = "admission",
        Exception = "exception",
        Role = "role",
        Grant = "grant",
        ManagedBy = "managed-by",
        Audit = "audit",
        PodSecurity = "pod-security",
        Authentication = "authentication",
        Images = "images",
        KubeletCertificateAuthority = "kubelet-certificate-authority",
    }
}

statement_enum! {
    /// The statements of `tenant NAME { … }`.
    TenantStatement for BlockKind::Tenant {
        Namespaces = "namespaces",
        PodSecurity = "pod-security",
        Isolation = "isolation",
        Allow = "allow",
        NetworkPolicies = "network-policies",
        Quota = "quota",
        Limits = "limits",
        Role = "role",
        Grant = "grant",
        Workload = "workload",
        Admission = "admission",
        Images = "images",
        Nodes = "nodes",
        ApiShare = "api-share",
        DeletableNamespaces = "deletable-namespaces",
        Exception = "exception",
    }
}

statement_enum! {
    /// The statements of `images { … }`.
    ImagesStatement for BlockKind::Images {
        Registries = "registries",
        Pinned = "pinned",
        SignedBy = "signed-by",
        ScannedBy = "scanned-by",
        VolumeImages = "volume-images",
    }
}

statement_enum! {
    /// The statements of `audit { … }` in `cluster`.
    AuditStatement for BlockKind::Audit {
        LogPath = "log-path",
        MaxAge = "max-age",
        MaxBackups = "max-backups",
        MaxSize = "max-size",
    }
}

statement_enum! {
    /// The statements of the cluster's `pod-security { … }`.
    ClusterPodSecurityStatement for BlockKind::ClusterPodSecurity {
        Enforce = "enforce",
        Audit = "audit",
        Warn = "warn",
        Version = "version",
        ExemptUsernames = "exempt-usernames",
        ExemptRuntimeClasses = "exempt-runtime-classes",
        ExemptNamespaces = "exempt-namespaces",
    }
}

statement_enum! {
    /// The statements of `authentication { … }`.
    AuthenticationStatement for BlockKind::Authentication {
        Anonymous = "anonymous",
        Oidc = "oidc",
    }
}

statement_enum! {
    /// The statements of `oidc "URL" { … }`.
    OidcStatement for BlockKind::Oidc {
        Audience = "audience",
        UsernameClaim = "username-claim",
        UsernamePrefix = "username-prefix",
        GroupsClaim = "groups-claim",
        GroupsPrefix = "groups-prefix",
    }
}

/// A set of keyword values with documentation, e.g. the RBAC verbs.
#[derive(Clone, Copy, Debug)]
pub struct ValueSet {
    /// What the values are (for messages and completion).
    pub what: &'static str,
    /// The values and their one-line documentation.
    pub values: &'static [(&'static str, &'static str)],
}

impl ValueSet {
    /// The values alone.
    pub fn names(&self) -> Vec<&'static str> {
        self.values.iter().map(|v| v.0).collect()
    }

    /// True when `v` is one of the values.
    pub fn contains(&self, v: &str) -> bool {
        self.values.iter().any(|x| x.0 == v)
    }

    /// The documentation of a value.
    pub fn doc(&self, v: &str) -> Option<&'static str> {
        self.values.iter().find(|x| x.0 == v).map(|x| x.1)
    }
}

/// Pod Security Standards levels.
pub const LEVELS: ValueSet = ValueSet {
    what: "Pod Security level",
    values: &[
        ("privileged", "Unrestricted: allows known privilege escalations."),
        ("baseline", "Prevents known privilege escalations (host namespaces, privileged, hostPath…)."),
        ("restricted", "Hardened best practice: non-root, no capabilities, seccomp, no escalation."),
    ],
};

/// Network isolation modes.
pub const ISOLATION_MODES: ValueSet = ValueSet {
    what: "isolation mode",
    values: &[
        ("strict", "Default deny in and out; only DNS and declared `allow` traffic flows."),
        ("tenant", "As strict, plus traffic within the tenant's own namespaces."),
        ("ingress", "Staged isolation: default deny of ingress only, egress stays open (for a migration from ingress-only NetworkPolicies)."),
        ("none", "No NetworkPolicies: every pod in the cluster can reach the tenant."),
    ],
};

/// Who may write NetworkPolicies in a tenant's namespaces (`network-policies`).
pub const NETWORK_POLICY_OWNERS: ValueSet = ValueSet {
    what: "NetworkPolicy owner",
    values: &[
        ("khc-only", "Only the `managed-by` applier: an admission policy refuses everyone else's NetworkPolicies (default)."),
        ("self-managed", "The tenant's admins may add NetworkPolicies too (they can reopen egress; other tenants stay isolated)."),
    ],
};

/// The CNIs `cni` names (SPEC section 6, "The CNI"): each value says which
/// network objects beyond NetworkPolicies the cluster enforces.
pub const CNIS: ValueSet = ValueSet {
    what: "CNI",
    values: &[
        ("generic", "Any CNI: NetworkPolicies only; DNS-name egress is an error and `api-server` egress a `cni` warning (Cilium does not match it) (default)."),
        ("calico", "Calico (3.32+): NetworkPolicies plus ClusterNetworkPolicy tiers (Admin: tenant walls, metadata block; Baseline: default deny elsewhere); DNS names as `domainNames`."),
        ("antrea", "Antrea (2.7+): as `calico` (ClusterNetworkPolicy tiers, DNS names as `domainNames`)."),
        ("cilium", "Cilium: NetworkPolicies plus CiliumNetworkPolicies: `api-server` egress as `toEntities: kube-apiserver`, DNS names as `toFQDNs` with the DNS proxy rule."),
        ("kube-router", "kube-router: NetworkPolicies only (iptables); DNS-name egress is an error."),
    ],
};

/// Encryption provider kinds.
pub const PROVIDERS: ValueSet = ValueSet {
    what: "encryption provider",
    values: &[
        (
            "aesgcm",
            "AES-GCM with static keys read at install time: not advised upstream without automated key rotation (a warning when it writes; CIS 1.2.28: WARN).",
        ),
        ("aescbc", "AES-CBC (not recommended: padding-oracle attacks; CIS 1.2.28: PASS)."),
        ("secretbox", "XSalsa20 and Poly1305 with keys read at install time (the recommended static-key provider; CIS 1.2.28: PASS)."),
        ("kms", "A KMS v2 plugin (envelope encryption; the recommended provider; CIS 1.2.28: PASS)."),
        ("identity", "No encryption: reads data written before encryption was enabled (CIS 1.2.28: WARN when first)."),
    ],
};

/// Admission binding actions (`mode`).
pub const MODES: ValueSet = ValueSet {
    what: "mode",
    values: &[("deny", "Reject the request."), ("warn", "Return a warning to the client."), ("audit", "Record the violation in the audit log.")],
};

/// RBAC verbs.
pub const VERBS: ValueSet = ValueSet {
    what: "verb",
    values: &[
        ("get", "Read one object."),
        ("list", "List objects (includes their contents)."),
        ("watch", "Watch objects for changes."),
        ("create", "Create objects."),
        ("update", "Replace objects."),
        ("patch", "Modify objects."),
        ("delete", "Delete one object."),
        ("deletecollection", "Delete many objects at once."),
        ("use", "Use a policy object (e.g. a PodSecurityPolicy)."),
        ("bind", "Bind a role without holding its permissions (escalation)."),
        ("escalate", "Edit a role beyond one's own permissions (escalation)."),
        ("impersonate", "Act as another user, group or ServiceAccount."),
        ("approve", "Approve certificate signing requests."),
        ("sign", "Sign certificate signing requests."),
        ("*", "Every verb."),
    ],
};

/// Subject kinds in `grant`.
pub const SUBJECT_KINDS: ValueSet = ValueSet {
    what: "subject kind",
    values: &[
        ("user", "A user name, as authentication reports it: `user \"alice@example.com\"`."),
        ("group", "A group name: `group \"payments-devs\"`."),
        ("workload", "A workload of this tenant (its ServiceAccount): `workload api`."),
        ("tenant", "A workload of any tenant (its ServiceAccount, in its namespace): `tenant ci workload deployer`."),
        ("serviceaccount", "Any ServiceAccount: `serviceaccount \"NAMESPACE/NAME\"`."),
    ],
};

/// The built-in cluster roles a `grant` may name.
pub const BUILTIN_ROLES: ValueSet = ValueSet {
    what: "built-in role",
    values: &[
        ("view", "Read most objects of a namespace, but not Secrets."),
        ("edit", "Read and write most objects of a namespace, Secrets included."),
        ("admin", "Everything in a namespace, including its RBAC."),
        ("cluster-admin", "Everything in the cluster (cluster grants only)."),
    ],
};

/// Network peer kinds in `allow`.
pub const PEER_KINDS: ValueSet = ValueSet {
    what: "peer",
    values: &[
        ("tenant", "Pods of a tenant: `tenant NAME [workload NAME]`."),
        ("workload", "A workload of this tenant: `workload NAME`."),
        ("namespace", "A namespace not managed by khc: `namespace ingress-nginx`."),
        ("cidr", "IP blocks: `cidr 10.0.0.0/8 [except 10.1.0.0/16]`."),
        ("dns", "Egress to DNS names: `dns \"api.example.com\" \"*.example.org\"` (needs `cni cilium`, `calico` or `antrea`)."),
    ],
};

/// The other keywords that appear inside statements.
pub const KEYWORDS: ValueSet = ValueSet {
    what: "keyword",
    values: &[
        ("ingress", "Traffic into the tenant's pods."),
        ("egress", "Traffic out of the tenant's pods."),
        ("from", "The sending side."),
        ("to", "The receiving side; in `grant`, the subjects."),
        (
            "ports",
            "Allowed ports, ranges or port names (`ports 8080 9000-9100 http`; default: all). A name is the destination pod's container port of that name.",
        ),
        ("protocol", "TCP (default), UDP or SCTP."),
        ("except", "CIDRs inside the block that are excluded."),
        ("all-tenants", "In the cluster's `allow`: every tenant's pods (a rule in every isolated tenant, the opposite one at the tenant the statement names)."),
        ("selector", "In the cluster's `dns`: the DNS pods' labels, `selector k8s-app \"kube-dns\"`."),
        ("on", "The resources of a `can` rule."),
        ("names", "Restricts a `can` rule to the named objects."),
        ("env", "Key material from an environment variable at install time."),
        ("file", "Key material from a file at install time."),
        ("true", "Yes."),
        ("false", "No."),
        ("latest", "The newest Pod Security Standards version."),
        ("readonly", "In `allowed-host-paths`: every mount of such a volume is read-only."),
        ("key", "In `signed-by`/`scanned-by`: a cosign public key, a PEM file relative to the workspace."),
        ("keyless", "In `signed-by`: a Fulcio certificate identity (`issuer` and `subject` or `subject-regex`)."),
        ("issuer", "In `signed-by keyless`: the OIDC issuer URL of the signing identity."),
        ("subject", "In `signed-by keyless`: the certificate subject (an e-mail, a workflow URL), exactly."),
        ("subject-regex", "In `signed-by keyless`: a regular expression the certificate subject matches."),
        ("max-age", "In `scanned-by`: the oldest scan accepted (`7d`, `36h`); in `audit`, days to keep logs."),
        ("deny-at", "In `scanned-by`: a finding at or above this severity denies the image."),
        ("because", "In `allow` of `scanned-by`: why the finding is accepted (required)."),
    ],
};

/// Vulnerability severities (`deny-at` of `scanned-by`).
pub const SEVERITIES: ValueSet = ValueSet {
    what: "severity",
    values: &[
        ("critical", "Deny only critical findings."),
        ("high", "Deny high and critical findings."),
        ("medium", "Deny medium, high and critical findings."),
        ("low", "Deny every finding with a severity (low and above)."),
    ],
};

/// Network protocols.
pub const PROTOCOLS: ValueSet = ValueSet { what: "protocol", values: &[("TCP", "TCP (default)."), ("UDP", "UDP."), ("SCTP", "SCTP.")] };

/// Anonymous access modes (`anonymous` in `authentication`).
pub const ANONYMOUS_MODES: ValueSet = ValueSet {
    what: "anonymous mode",
    values: &[
        ("health-only", "Anonymous requests reach only /healthz, /livez and /readyz (Kubernetes 1.32 or later; else as `off`)."),
        ("off", "No anonymous requests (`--anonymous-auth=false`): health probes must authenticate."),
    ],
};

/// Every value set, for the SPEC coverage test and the IDE.
pub const VALUE_SETS: &[&ValueSet] = &[
    &LEVELS,
    &ISOLATION_MODES,
    &PROVIDERS,
    &MODES,
    &VERBS,
    &SUBJECT_KINDS,
    &BUILTIN_ROLES,
    &PEER_KINDS,
    &KEYWORDS,
    &PROTOCOLS,
    &ANONYMOUS_MODES,
    &NETWORK_POLICY_OWNERS,
    &CNIS,
    &SEVERITIES,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement and keyword value in the schema is named in SPEC.md, so the
    /// reference cannot silently fall behind the language.
    #[test]
    fn spec_documents_every_keyword() {
        let spec = include_str!("../../../SPEC.md");
        let mut words: Vec<&str> = Vec::new();
        for b in BLOCKS {
            words.extend(statements(b.kind).map(|s| s.name));
        }
        for set in VALUE_SETS {
            words.extend(set.names());
        }
        let missing: Vec<&str> = words.into_iter().filter(|w| !spec.contains(&format!("`{w}")) && !spec.contains(&format!(" {w} "))).collect();
        assert!(missing.is_empty(), "SPEC.md does not mention: {missing:?}");
    }

    /// SPEC section 12 lists every diagnostic code of the registry.
    #[test]
    fn spec_lists_every_diagnostic_code() {
        let spec = include_str!("../../../SPEC.md");
        let section = &spec[spec.find("## 12. Diagnostics").expect("SPEC has a diagnostics section")..];
        for (code, _) in khc_syntax::CODES {
            assert!(section.contains(&format!("| `{code}`")), "SPEC section 12 does not list `{code}`");
        }
    }

    /// Each statement enum lists exactly its block's statements, in order.
    #[test]
    fn statement_enums_match_the_schema() {
        fn check(block: BlockKind, names: Vec<&'static str>) {
            assert_eq!(names, statement_names(block), "the statement enum of {block:?} differs from the schema");
        }
        check(ClusterStatement::BLOCK, ClusterStatement::ALL.iter().map(|s| s.name()).collect());
        check(TenantStatement::BLOCK, TenantStatement::ALL.iter().map(|s| s.name()).collect());
        check(ImagesStatement::BLOCK, ImagesStatement::ALL.iter().map(|s| s.name()).collect());
        check(AuditStatement::BLOCK, AuditStatement::ALL.iter().map(|s| s.name()).collect());
        check(ClusterPodSecurityStatement::BLOCK, ClusterPodSecurityStatement::ALL.iter().map(|s| s.name()).collect());
        check(AuthenticationStatement::BLOCK, AuthenticationStatement::ALL.iter().map(|s| s.name()).collect());
        check(OidcStatement::BLOCK, OidcStatement::ALL.iter().map(|s| s.name()).collect());
    }

    #[test]
    fn every_block_kind_has_one_schema_and_docs() {
        for b in BLOCKS {
            assert_eq!(BLOCKS.iter().filter(|o| o.kind == b.kind).count(), 1);
            for st in statements(b.kind) {
                assert!(!st.doc.is_empty() && st.doc.ends_with('.'), "{}: {}", st.name, st.doc);
                if let Some(child) = st.block {
                    let _ = block(child);
                }
            }
        }
        assert_eq!(child_block(BlockKind::Encryption, "provider", Some("kms")), Some(BlockKind::KmsProvider));
        assert_eq!(child_block(BlockKind::Encryption, "provider", Some("aesgcm")), Some(BlockKind::KeyProvider));
        assert_eq!(QUOTA_KEYS.len() + QUOTA_BUDGET_STATEMENTS.len(), QUOTA.len());
    }
}
