//! Answers about compiled khc intent, with the source line of every reason.
//!
//! One copy of the evaluators used by the tests and by the query commands of the
//! CLI (`who-can`, `can`, `reach`, `blast-radius`, `eval`, `diff`, `graph`,
//! `report`):
//!
//! * [`rbac`]: an RBAC authorizer over the emitted Roles, ClusterRoles and
//!   bindings, with Kubernetes' built-in user-facing ClusterRoles (`view`, `edit`,
//!   `admin`, `cluster-admin`) expanded from the bootstrap policy, aggregation
//!   resolved; subresources and resourceNames as the API server matches them.
//! * [`network`]: a NetworkPolicy evaluator (isolation per direction, a
//!   connection needs the sender's egress and the receiver's ingress).
//! * [`admission`]: the emitted ValidatingAdmissionPolicies evaluated with the
//!   `cel` interpreter, matched to objects by their bindings.
//! * [`pss`]: the Pod Security Standards checks (baseline and restricted).
//! * [`eval`]: application manifests judged against the intent of their
//!   namespace (Pod Security, admission rules, network intent).
//! * [`benchmark`]: the CIS Kubernetes Benchmark checks of the control plane,
//!   judged from the generated control-plane files (`khc report --benchmark`).
//!
//! The evaluators read the emitted objects (parsed YAML), which carry a
//! `khc.dev/source: FILE:LINE` annotation; [`Workspace`] adds the checked model
//! for tenant and workload names.

#![warn(missing_docs)]

pub mod admission;
pub mod benchmark;
pub mod diff;
pub mod effects;
pub mod escalation;
pub mod eval;
pub mod live;
pub mod manifest;
pub mod network;
pub mod posture;
pub mod pss;
pub mod rbac;
pub mod report;
pub mod selector;

use khc_db::{build, check, render, ColorChoice, Project};
use khc_emit::Output;
use khc_semantics::model::{Model, Tenant, Workload};
use serde_json::Value;
use std::path::Path;

/// The annotation naming an object's source line.
pub const SOURCE_ANNOTATION: &str = "khc.dev/source";

/// One emitted Kubernetes object.
#[derive(Clone, Debug)]
pub struct Object {
    /// The output file it was emitted to.
    pub path: String,
    /// The parsed object.
    pub value: Value,
}

impl Object {
    /// `kind`.
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or("")
    }
    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or("")
    }
    /// `metadata.namespace`, for namespaced objects.
    pub fn namespace(&self) -> Option<&str> {
        self.value["metadata"]["namespace"].as_str()
    }
    /// The `khc.dev/source` annotation (`FILE:LINE`), or `?`.
    pub fn source(&self) -> String {
        source_of(&self.value)
    }
}

/// The `khc.dev/source` annotation of an object, or `?`.
pub fn source_of(v: &Value) -> String {
    v["metadata"]["annotations"][SOURCE_ANNOTATION].as_str().unwrap_or("?").to_string()
}

/// Every YAML file of an output that holds Kubernetes objects (not
/// kustomizations, not API server configuration), parsed (on every core).
pub fn objects(out: &Output) -> Vec<Object> {
    objects_of_kinds(out, None)
}

/// The kinds the evaluators read.
pub const ANALYSED_KINDS: &[&str] = &[
    "Namespace",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "NetworkPolicy",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ServiceAccount",
];

/// The top-level `kind:` of a YAML document, found without parsing it.
fn top_level_kind(yaml: &str) -> Option<&str> {
    yaml.lines().find_map(|l| l.strip_prefix("kind:")).map(|k| k.trim().trim_matches(|c| c == '\'' || c == '"'))
}

/// Like [`objects`], but only documents whose top-level kind is in `kinds`
/// (when given) are parsed.
pub fn objects_of_kinds(out: &Output, kinds: Option<&[&str]>) -> Vec<Object> {
    let files: Vec<&khc_emit::OutputFile> = out
        .files
        .iter()
        .filter(|f| f.path.ends_with(".yaml") && !f.path.ends_with("kustomization.yaml"))
        .filter(|f| kinds.is_none_or(|ks| top_level_kind(&f.contents).is_none_or(|k| ks.contains(&k))))
        .collect();
    let parse = |f: &&khc_emit::OutputFile| {
        let v: Value = serde_yaml_ng::from_str(&f.contents).ok()?;
        // API server configuration (EncryptionConfiguration) is not an object of the cluster.
        (v["apiVersion"].as_str().is_some_and(|a| !a.starts_with("apiserver.config.k8s.io"))).then(|| Object { path: f.path.clone(), value: v })
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || files.len() < 512 {
        return files.iter().filter_map(parse).collect();
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = files.chunks(chunk).map(|c| s.spawn(move || c.iter().filter_map(parse).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("parsing does not panic")).collect()
    })
}

/// Why a project cannot be analysed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The path cannot be read (a usage or IO problem).
    Io(String),
    /// The sources have errors (rendered diagnostics).
    Errors(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "{e}"),
            LoadError::Errors(d) => write!(f, "{d}the sources have errors; fix them first (khc check)"),
        }
    }
}

/// A compiled program and the evaluators built from it.
pub struct Workspace {
    /// The checked model of every entry file (one per cluster).
    pub models: Vec<Model>,
    /// The emitted objects of the [`ANALYSED_KINDS`].
    pub objects: Vec<Object>,
    /// The RBAC authorizer.
    pub rbac: rbac::Rbac,
    /// The NetworkPolicy evaluator.
    pub network: network::Network,
    /// The admission policies.
    pub admission: admission::Admission,
    /// Live pods (and pod templates of live controllers) that use the host's
    /// network: `(namespace, pod labels, live KIND NS/NAME)`. NetworkPolicies never
    /// select them.
    pub host_network_pods: Vec<(String, selector::Labels, String)>,
}

impl Workspace {
    /// Compiles the project at `path` (an entry file or a directory).
    pub fn load(path: &Path) -> Result<Workspace, LoadError> {
        let project = Project::open(path).map_err(LoadError::Io)?;
        Workspace::of_entries(&project.db, &project.entries)
    }

    /// The workspace of the programs rooted at `entries` in `db` (the database
    /// of `khc` commands, or the language server's, whose queries are already
    /// warm): every model and output, or the errors of the first program that
    /// has some.
    pub fn of_entries(db: &khc_db::KhcDatabase, entries: &[khc_db::SourceFile]) -> Result<Workspace, LoadError> {
        let mut models = Vec::new();
        let mut files = Vec::new();
        for &entry in entries {
            let checked = check(db, entry);
            let Some(model) = checked.model.clone() else {
                return Err(LoadError::Errors(render(db, &checked.diagnostics, ColorChoice::Never)));
            };
            models.push(model);
            if let Some(out) = build(db, entry) {
                files.extend(out.files.iter().cloned());
            }
        }
        Ok(Workspace::new(models, &Output { files }))
    }

    /// The evaluators that judge pod objects in tenant `tenant`'s namespaces
    /// exactly as [`Workspace::of_entries`] does, built from the cluster's files
    /// and that tenant's alone (salsa keeps each tenant's files, so the cost does
    /// not grow with the other tenants): every model, the cluster-wide policies
    /// and the tenant's own; other tenants' policies, NetworkPolicies and
    /// Namespaces never concern a pod in its namespaces. The language server
    /// judges an open manifest of pod objects with it.
    pub fn of_tenant(db: &khc_db::KhcDatabase, entries: &[khc_db::SourceFile], tenant: &str) -> Result<Workspace, LoadError> {
        let mut models = Vec::new();
        let mut files = Vec::new();
        for &entry in entries {
            let checked = check(db, entry);
            let Some(model) = checked.model.clone() else {
                return Err(LoadError::Errors(render(db, &checked.diagnostics, ColorChoice::Never)));
            };
            models.push(model);
            files.extend(khc_db::emit::cluster_files(db, entry).iter().flatten().cloned());
            if let Some(t) = khc_db::scope(db, entry).tenant(db, entry, tenant) {
                files.extend(khc_db::tenant_files(db, t).iter().cloned());
            }
        }
        Ok(Workspace::new(models, &Output { files }))
    }

    /// The evaluators over the given models and their output.
    pub fn new(models: Vec<Model>, output: &Output) -> Workspace {
        let objects = objects_of_kinds(output, Some(ANALYSED_KINDS));
        let rbac = rbac::Rbac::new(&objects);
        let network = network::Network::new(&objects);
        let admission = admission::Admission::new(&objects);
        Workspace { models, objects, rbac, network, admission, host_network_pods: Vec::new() }
    }

    /// The live hostNetwork pods whose labels a pod endpoint's labels select
    /// (their `live KIND NS/NAME`).
    pub fn host_network_of(&self, e: &network::Endpoint) -> Vec<&str> {
        let network::Endpoint::Pod { namespace, labels, .. } = e else { return Vec::new() };
        self.host_network_pods
            .iter()
            .filter(|(ns, l, _)| ns == namespace && labels.iter().all(|(k, v)| l.get(k) == Some(v)))
            .map(|(_, _, s)| s.as_str())
            .collect()
    }

    /// Every tenant of every cluster.
    pub fn tenants(&self) -> impl Iterator<Item = &Tenant> {
        self.models.iter().flat_map(|m| m.tenants.iter())
    }

    /// The tenant that owns `namespace`.
    pub fn tenant_of(&self, namespace: &str) -> Option<&Tenant> {
        self.tenants().find(|t| t.namespaces.iter().any(|n| n == namespace))
    }

    /// `TENANT/WORKLOAD`.
    pub fn workload(&self, spec: &str) -> Option<(&Tenant, &Workload)> {
        let (t, w) = spec.split_once('/')?;
        let tenant = self.tenants().find(|x| x.name == t)?;
        Some((tenant, tenant.workloads.iter().find(|x| x.name == w)?))
    }

    /// The emitted object of `kind` (among the [`ANALYSED_KINDS`]) with that
    /// namespace and name, if khc emits one.
    pub fn emitted(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<&Object> {
        self.objects.iter().find(|o| o.kind() == kind && o.name() == name && o.namespace() == namespace && !o.path.starts_with("live:"))
    }

    /// Every `(tenant, workload)`, in tenant order.
    pub fn workloads(&self) -> impl Iterator<Item = (&Tenant, &Workload)> {
        self.tenants().flat_map(|t| t.workloads.iter().map(move |w| (t, w)))
    }

    /// The cluster-scoped (and unmanaged) namespaces mentioned by the intent:
    /// exempt namespaces and `namespace` peers of `allow` statements.
    pub fn external_namespaces(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in self.tenants() {
            for a in &t.allows {
                if let khc_semantics::model::Peer::Namespace(n) = &a.peer {
                    out.push(n.clone());
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
