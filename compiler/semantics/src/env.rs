//! What one part of a program may ask about the rest of it. A tenant is checked
//! on its own against an [`Env`]; the salsa database implements it with queries,
//! so a tenant's check depends only on what it actually reads — the facts of the
//! tenants its `allow` rules name, not the whole program.
//!
//! Facts carry no positions (spans, lines): an edit that moves text without
//! changing meaning leaves them equal, and nothing that reads them is re-checked.

use crate::admission::ProfileTable;
use crate::model::{Isolation, NetRule, Origin, Selector, Tenant};
use khc_syntax::{FileKey, Span};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The cluster settings tenants depend on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClusterFacts {
    /// Cluster name.
    pub name: String,
    /// Target Kubernetes minor version.
    pub minor_version: u32,
    /// CIDRs of the API server endpoints.
    pub api_server: Vec<String>,
    /// The pod address ranges (`pod-cidr`).
    pub pod_cidr: Vec<String>,
    /// The Service address ranges (`service-cidr`).
    pub service_cidr: Vec<String>,
    /// The cluster's CNI (`cni`).
    pub cni: crate::model::Cni,
    /// Where DNS is served (`dns …`), without its origin (facts carry no lines).
    pub dns: crate::model::DnsTarget,
    /// `allow … to all-tenants` statements of the cluster: every tenant reads them
    /// (the source emits the egress side, every isolated tenant the ingress side).
    pub all_tenants_allows: Vec<crate::model::AllTenantsAllow>,
    /// Names of the cluster's ClusterRoles.
    pub roles: Vec<String>,
    /// `quota-scale` in thousandths, if set.
    pub quota_scale: Option<u32>,
    /// `admission-mode`, if set.
    pub admission_mode: Option<Vec<crate::model::Action>>,
    /// The cluster's `managed-by` subjects.
    pub managed_by: Vec<crate::model::Subject>,
    /// Namespaces the cluster-wide admission rules skip (`exempt-namespaces`).
    pub exempt_namespaces: Vec<String>,
    /// The prefixes of the names the cluster's OIDC issuers produce (`None` without one).
    pub oidc: Option<OidcPrefixes>,
    /// The cluster's `admission` has `allowed-service-types` without `ExternalName`.
    pub external_name_restricted: bool,
    /// The cluster roles (declared in `cluster`) whose rules let the holder run
    /// pods: `create` on pods or a pod-making kind, `update`/`patch` on the latter.
    pub pod_maker_roles: Vec<String>,
    /// Who the cluster's grants let run pods in every namespace, as
    /// `SUBJECT (grant ROLE)` (a pod-making cluster role or the built-in `edit`,
    /// `admin`, `cluster-admin` bound cluster-wide).
    pub pod_makers: Vec<String>,
    /// The cluster's `images { … }` (every tenant's default), with its origin:
    /// the rules it adds to each tenant's policy name it.
    pub images: Option<crate::model::Images>,
}

/// A file the program reads besides its sources (a public key named by
/// `images`), as the database holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AuxFile {
    /// Its text.
    Text(String),
    /// It does not exist or cannot be read: why.
    Missing(String),
    /// Not read yet (the database reads it and checks again).
    NotLoaded,
}

/// The user and group prefixes the cluster's OIDC issuers give their names
/// (`None` without an issuer), for grants whose subject no issuer can produce.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct OidcPrefixes {
    /// Each issuer's username prefix.
    pub users: Vec<String>,
    /// Each issuer's groups prefix (issuers with a groups claim only).
    pub groups: Vec<String>,
}

/// A workload as other tenants see it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WorkloadFacts {
    /// Its namespace.
    pub namespace: String,
    /// Pod labels identifying it.
    pub selector: Selector,
    /// Whether it mounts its API token.
    pub automount_token: bool,
}

/// A tenant as other tenants see it: what `allow … tenant NAME [workload W]` and
/// `namespace NAME` peers resolve against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantFacts {
    /// Tenant name.
    pub name: String,
    /// Its namespaces.
    pub namespaces: Vec<String>,
    /// Its workloads by name.
    pub workloads: BTreeMap<String, WorkloadFacts>,
    /// Its network isolation.
    pub isolation: Isolation,
}

/// The rest of the program, as a tenant's check sees it.
pub trait Env {
    /// The cluster's settings (defaults when the program has no cluster).
    fn cluster(&self) -> Arc<ClusterFacts>;
    /// Every profile of the program.
    fn profiles(&self) -> Arc<ProfileTable>;
    /// The facts of tenant `name`, if the program declares it.
    fn tenant(&self, name: &str) -> Option<Arc<TenantFacts>>;
    /// The tenant name closest to `name`, for "did you mean" (from names indexed
    /// once per program: see [`crate::values::NameIndex`]).
    fn suggest_tenant(&self, name: &str) -> Option<String>;
    /// The names of every tenant of the program, sorted (read only by the
    /// source tenant of an `allow … to all-tenants`).
    fn tenant_names(&self) -> Vec<String>;
    /// The tenants that list namespace `ns`, sorted by name.
    fn namespace_owners(&self, ns: &str) -> Vec<String>;
    /// Where tenant `tenant` lists namespace `ns` (for a related location).
    fn namespace_declaration(&self, tenant: &str, ns: &str) -> Option<(FileKey, Span)>;
    /// A file named by an `images` block (a public key), relative to the workspace root.
    fn aux_file(&self, key: &str) -> AuxFile;
}

/// What the cluster's check may ask about the program's tenants: the facts of
/// the tenants its grants name (`grant ROLE to tenant T workload W`). A smaller
/// view than [`Env`], which also answers the cluster's own facts (asking those
/// while checking the cluster would be a cycle).
pub trait Tenants {
    /// The facts of tenant `name`, if the program declares it.
    fn tenant_facts(&self, name: &str) -> Option<Arc<TenantFacts>>;
    /// The tenant name closest to `name`, for "did you mean".
    fn closest_tenant(&self, name: &str) -> Option<String>;
    /// A file named by the cluster's `images` block (a public key).
    fn aux_file(&self, key: &str) -> AuxFile;
}

/// A tenant's [`Env`] seen as [`Tenants`] (its grants name other tenants' workloads).
pub struct EnvTenants<'a>(pub &'a dyn Env);

impl Tenants for EnvTenants<'_> {
    fn tenant_facts(&self, name: &str) -> Option<Arc<TenantFacts>> {
        self.0.tenant(name)
    }

    fn closest_tenant(&self, name: &str) -> Option<String> {
        self.0.suggest_tenant(name)
    }

    fn aux_file(&self, key: &str) -> AuxFile {
        self.0.aux_file(key)
    }
}

/// A tenant's [`Env`] as the key reader of its `images` block.
pub(crate) struct EnvFiles<'a>(pub &'a dyn Env);

impl crate::images::AuxFiles for EnvFiles<'_> {
    fn aux_file(&self, key: &str) -> AuxFile {
        self.0.aux_file(key)
    }
}

/// The cluster's [`Tenants`] view as the key reader of its `images` block.
pub(crate) struct TenantsFiles<'a>(pub &'a dyn Tenants);

impl crate::images::AuxFiles for TenantsFiles<'_> {
    fn aux_file(&self, key: &str) -> AuxFile {
        self.0.aux_file(key)
    }
}

/// What the cross-tenant lints read of a checked tenant: its isolation and its
/// traffic rules (and where it is declared). Equality looks at those only, so
/// editing a tenant's quota, roles, admission or workload bodies leaves it equal
/// and no other tenant is re-linted; the lints can read nothing else of it.
#[derive(Clone, Debug)]
pub struct TenantLintFacts(Arc<Tenant>);

impl TenantLintFacts {
    /// The lint facts of a checked tenant.
    pub fn of(t: Arc<Tenant>) -> Self {
        TenantLintFacts(t)
    }

    /// Tenant name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Declaration site.
    pub fn origin(&self) -> &Origin {
        &self.0.origin
    }

    /// The span of `tenant NAME` in `origin().file`.
    pub fn span(&self) -> Span {
        self.0.span
    }

    /// Network isolation mode.
    pub fn isolation(&self) -> Isolation {
        self.0.isolation
    }

    /// Declared traffic.
    pub fn allows(&self) -> &[NetRule] {
        &self.0.allows
    }
}

impl PartialEq for TenantLintFacts {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.name() == other.name()
                && self.origin() == other.origin()
                && self.span() == other.span()
                && self.isolation() == other.isolation()
                && self.allows() == other.allows())
    }
}

impl Eq for TenantLintFacts {}

/// The checked tenants, as cross-tenant lints see them.
pub trait LintEnv {
    /// What the lints read of tenant `name` (`None` when it does not check).
    fn lint_facts(&self, name: &str) -> Option<Arc<TenantLintFacts>>;
}
