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
//! The evaluators read the emitted objects as JSON values, which carry a
//! `khc.dev/source: FILE:LINE` annotation: converted from the typed objects khc
//! emits ([`model_objects`], what the query commands use) or parsed from an
//! output's YAML ([`objects`], the oracle of the tests); [`Workspace`] adds the
//! checked model for tenant and workload names.

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

/// The kinds the RBAC authorizer reads in full (and the admission policies'
/// annotations, for the `managed-by` appliers).
const RBAC_KINDS: &[&str] = &["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"];

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

/// The emitted objects of the [`ANALYSED_KINDS`] of a model, straight from the
/// typed objects khc emits (no YAML written or parsed), with the paths `khc build`
/// writes them to, sorted by path: what [`objects_of_kinds`] reads back from the
/// model's output (`tests/typed_model.rs` holds the two equal).
pub fn model_objects(model: &Model) -> Vec<Object> {
    model_objects_of(model, ANALYSED_KINDS, &[])
}

/// Like [`model_objects`], only the objects of `kinds`, and of `heads` only
/// `apiVersion`, `kind` and `metadata` (the RBAC authorizer reads only the
/// annotations of admission policies: their CEL is not converted).
pub fn model_objects_of(model: &Model, kinds: &[&str], heads: &[&str]) -> Vec<Object> {
    let mut out = cluster_objects_of(model, kinds, heads);
    // On one thread: faster than two on a shared machine, and one allocator
    // arena keeps the peak RSS down.
    for t in &model.tenants {
        out.extend(tenant_objects_of(model, t, kinds, heads));
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// A built object as the evaluators read it, if its kind is among `kinds` (in
/// full) or `heads` (`apiVersion`, `kind` and `metadata` only).
fn convert(b: khc_emit::objects::Built, path: String, kinds: &[&str], heads: &[&str]) -> Option<Object> {
    if kinds.contains(&b.kind) {
        Some(Object { path, value: b.body.json() })
    } else if heads.contains(&b.kind) {
        Some(Object { path, value: b.body.head() })
    } else {
        None
    }
}

/// The objects of the cluster unit of `model` among `kinds` and `heads` (see
/// [`model_objects_of`]), unsorted.
fn cluster_objects_of(model: &Model, kinds: &[&str], heads: &[&str]) -> Vec<Object> {
    let cluster = &model.cluster.name;
    khc_emit::cluster_unit_objects(&model.cluster)
        .into_iter()
        .filter_map(|b| {
            let path = khc_emit::cluster_object_path(cluster, &b);
            convert(b, path, kinds, heads)
        })
        .collect()
}

/// The objects of tenant `t` of `model` among `kinds` and `heads` (see
/// [`model_objects_of`]), unsorted.
fn tenant_objects_of(model: &Model, t: &Tenant, kinds: &[&str], heads: &[&str]) -> Vec<Object> {
    let dir = khc_emit::tenant_dir(&model.cluster.name, &t.name);
    khc_emit::tenant_built(t)
        .into_iter()
        .filter_map(|b| {
            let path = khc_emit::tenant_object_path(&dir, &b);
            convert(b, path, kinds, heads)
        })
        .collect()
}

/// The objects that judge a pod, Service or claim of tenant `t` of `model`
/// (`khc_emit::objects::tenant_judges`: its Namespaces and its `admission`
/// block's policies), as [`tenant_objects_of`] converts them, unsorted.
fn tenant_judges_of(model: &Model, t: &Tenant) -> Vec<Object> {
    let dir = khc_emit::tenant_dir(&model.cluster.name, &t.name);
    khc_emit::objects::tenant_judges(t)
        .into_iter()
        .filter_map(|b| {
            let path = khc_emit::tenant_object_path(&dir, &b);
            convert(b, path, VIEW_KINDS, &[])
        })
        .collect()
}

/// The kinds a [`TenantView`] reads.
const VIEW_KINDS: &[&str] = &["Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"];

/// The evaluators that judge an object in one tenant's namespaces, built from the
/// cluster units' objects and that tenant's alone ([`Workspace::tenant_view`];
/// of the tenant's, only the Namespaces and the policies that can match a pod,
/// Service or claim — what `khc eval` judges with them —, emitted alone):
/// other tenants' admission policies bind only their own namespaces (by the
/// tenant label) — but for `khc-nodes-T`, which binds every namespace except
/// T's and is in every other tenant's view —, and their Namespaces are not this
/// tenant's, so for a namespace of the tenant both answer as the whole fleet's
/// evaluators do
/// (`tests/typed_model.rs` holds `khc eval`'s findings equal both ways).
pub struct TenantView {
    /// The admission policies of the cluster units and of the tenant.
    pub admission: admission::Admission,
    /// The tenant's Namespaces (and the cluster units'): their labels.
    pub network: network::Network,
}

/// With `KHC_QUERY_TIMING=1`, prints on stderr the wall time since the previous
/// stage and the peak RSS so far, after each stage of loading a workspace.
pub fn stage(what: &str) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    if !*ON.get_or_init(|| std::env::var_os("KHC_QUERY_TIMING").is_some_and(|v| v == "1")) {
        return;
    }
    let now = std::time::Instant::now();
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let since = last.map_or(0.0, |l| (now - l).as_secs_f64() * 1e3);
    *last = Some(now);
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.trim_start_matches("VmHWM:").trim().to_string()))
        .unwrap_or_default();
    eprintln!("khc timing: {what}: {since:.1} ms (peak RSS {peak})");
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    stage(&format!("before {what}"));
    let v = f();
    stage(what);
    v
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

/// What a workspace's evaluators are built from: the models, and the emitted
/// objects — given (parsed YAML, live objects joined), or converted from the
/// models on first use.
pub struct Source {
    models: std::sync::Arc<Vec<Model>>,
    objects: std::sync::OnceLock<Vec<Object>>,
    /// Whether the objects are converted from the models (not given: parsed
    /// YAML, live objects joined), so that a [`TenantView`] may be built.
    typed: bool,
    /// The [`VIEW_KINDS`] of each model's cluster unit, for the tenant views.
    cluster_views: std::sync::OnceLock<Vec<Vec<Object>>>,
    /// The `khc-nodes-T` policies and bindings of each model's tenants with
    /// `nodes`, with T: they bind every namespace but T's (and the exempt ones),
    /// so every other tenant's view holds them.
    nodes_views: std::sync::OnceLock<Vec<Vec<(String, Object)>>>,
    /// [`Source::cluster_views`] and [`Source::nodes_views`] read once
    /// (Namespaces kept, policies and bindings read), for every tenant view.
    view_parts: std::sync::OnceLock<ViewParts>,
    /// The first tenant (model, tenant positions) that owns each namespace.
    owners: std::sync::OnceLock<std::collections::HashMap<String, (usize, usize)>>,
    /// The positions of the tenants of each name, in each model (a tenant view
    /// finds its tenant without scanning the fleet).
    by_name: std::sync::OnceLock<std::collections::HashMap<String, Vec<(usize, usize)>>>,
}

impl Source {
    /// Every emitted object of the [`ANALYSED_KINDS`].
    fn objects(&self) -> &Vec<Object> {
        self.objects.get_or_init(|| timed("emit the analysed objects", || self.models.iter().flat_map(model_objects).collect()))
    }

    /// Hands each reader the objects it reads, in path order, in one pass over
    /// the units (each unit's objects built and converted once, however many
    /// evaluators read them): all of them to every reader when they exist;
    /// otherwise only those of its kinds (and of a reader of policy heads, the
    /// `apiVersion`, `kind` and `metadata` of the admission policies that name
    /// an applier), built from the models one tenant at a time with only the
    /// parts those kinds need ([`khc_emit::tenant_built_of`]) and dropped once
    /// read (the converted objects of the whole fleet are never held at once:
    /// the evaluators are built in less memory).
    fn each_for(&self, readers: &mut [Reader<'_>]) {
        if let Some(all) = self.objects.get() {
            for o in all {
                readers.iter_mut().for_each(|r| (r.add)(o));
            }
            return;
        }
        let mut kinds: Vec<&str> = readers.iter().flat_map(|r| r.kinds.iter().copied()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let heads = readers.iter().any(|r| r.policy_heads);
        stage("before emit the objects it reads, one tenant at a time");
        for m in self.models.iter() {
            // As `model_objects_of` orders a model's objects (by path): every
            // object of a unit lies under its folder, so the units in the order of
            // their folders, each unit's objects in the order of their paths.
            let mut units: Vec<(String, Option<&Tenant>)> = vec![(khc_emit::cluster_unit_dir(&m.cluster.name) + "/", None)];
            units.extend(m.tenants.iter().map(|t| (khc_emit::tenant_dir(&m.cluster.name, &t.name) + "/", Some(t))));
            units.sort_by(|a, b| a.0.cmp(&b.0));
            for (_, unit) in units {
                let mut objects = match unit {
                    None => cluster_objects_of(m, &kinds, if heads { &[POLICY] } else { &[] }),
                    Some(t) => {
                        let dir = khc_emit::tenant_dir(&m.cluster.name, &t.name);
                        let mut objects: Vec<Object> = khc_emit::tenant_built_of(t, &kinds)
                            .into_iter()
                            .map(|b| Object { path: khc_emit::tenant_object_path(&dir, &b), value: b.body.json() })
                            .collect();
                        // A tenant's only policy that names an applier (its CEL not built).
                        if heads && !kinds.contains(&POLICY) {
                            if let Some(b) = khc_emit::tenant_applier_head(t) {
                                objects.push(Object { path: khc_emit::tenant_object_path(&dir, &b), value: b.body.head() });
                            }
                        }
                        objects
                    }
                };
                objects.sort_by(|a, b| a.path.cmp(&b.path));
                for o in &objects {
                    for r in readers.iter_mut() {
                        if r.kinds.contains(&o.kind()) || (r.policy_heads && o.kind() == POLICY) {
                            (r.add)(o);
                        }
                    }
                }
            }
        }
        stage("emit the objects it reads, one tenant at a time");
    }
}

impl Source {
    /// The [`VIEW_KINDS`] objects of each model's cluster unit.
    fn cluster_views(&self) -> &Vec<Vec<Object>> {
        self.cluster_views.get_or_init(|| self.models.iter().map(|m| cluster_objects_of(m, VIEW_KINDS, &[])).collect())
    }

    /// The `khc-nodes-T` policies and bindings of each model, with T.
    fn nodes_views(&self) -> &Vec<Vec<(String, Object)>> {
        self.nodes_views.get_or_init(|| {
            self.models
                .iter()
                .map(|m| {
                    let mut out = Vec::new();
                    for t in m.tenants.iter().filter(|t| t.nodes.is_some()) {
                        let name = format!("khc-nodes-{}", t.name);
                        out.extend(tenant_judges_of(m, t).into_iter().filter(|o| o.name() == name).map(|o| (t.name.clone(), o)));
                    }
                    out
                })
                .collect()
        })
    }

    /// The positions of the tenants of each name (`(model, tenant)` indexes,
    /// in model order).
    pub(crate) fn by_name(&self) -> &std::collections::HashMap<String, Vec<(usize, usize)>> {
        self.by_name.get_or_init(|| {
            let mut by_name: std::collections::HashMap<String, Vec<(usize, usize)>> = std::collections::HashMap::new();
            for (i, m) in self.models.iter().enumerate() {
                for (j, t) in m.tenants.iter().enumerate() {
                    by_name.entry(t.name.clone()).or_default().push((i, j));
                }
            }
            by_name
        })
    }
}

/// A tenant's Namespaces and its one admission policy and binding, read
/// from the model without building the policy (what
/// [`admission::AdmissionBuilder::read_typed`] reads from
/// `khc_emit::objects::tenant_judges`'s objects), each rule's check found by
/// the rule and its arguments ([`admission::Programs::rule_check`]: a fleet's
/// tenants state the same rules), for a tenant without exceptions, node
/// isolation, stand-in rules, custom rules or rules that judge Services and
/// claims (its `khc-tenant-T` is then its only policy, as
/// `khc_emit::objects::tenant_judges` builds it); `None` otherwise.
/// `tests/typed_model.rs` holds the views equal to the JSON round trip's.
fn tenant_entries_from_model(dir: &str, t: &Tenant, programs: &mut admission::Programs) -> Option<Vec<(String, ViewEntry)>> {
    let a = t.admission.as_ref();
    if !t.exceptions.is_empty()
        || t.nodes.is_some()
        || !t.pod_security.stand_ins.is_empty()
        || a.is_some_and(|a| !a.custom.is_empty() || a.rules.iter().any(|r| r.kind.judges_resources()))
    {
        return None;
    }
    // The Namespaces' labels from the model, not from built objects.
    let mut out: Vec<(String, ViewEntry)> = t
        .namespaces
        .iter()
        .map(|ns| (khc_emit::tenant_cluster_scoped_path(dir, "Namespace", ns), ViewEntry::Namespace(ns.clone(), khc_emit::objects::namespace_labels(t, ns))))
        .collect();
    // A tenant without an `admission` block: its policy holds the token rule
    // only, denying (as `khc_emit::objects::tenant_policies` defaults it).
    let (origin, rules, minor, actions) = match a {
        Some(a) => (&a.origin, a.rules.as_slice(), a.minor_version, a.actions.as_slice()),
        None => (&t.origin, &[][..], 30, &[][..]),
    };
    // Each rule's check shared with every tenant that states it at the same
    // origin (the rules of a `use` all have the profile's lines).
    let mut checks = programs.rule_checks(rules.iter().map(|r| (&r.kind, &r.origin)), minor);
    let mounting: Vec<String> = t.workloads.iter().filter(|w| w.automount_token).map(|w| w.name.clone()).collect();
    let (expression, message) = khc_emit::cel::token_validation(&mounting);
    checks.push(programs.check(&expression, format!("{message} [khc rule automount-token at {}]", t.origin)));
    let name = format!("khc-tenant-{}", t.name);
    let resources = khc_emit::cel::MATCHED_RESOURCES.iter().flat_map(|(g, rs)| rs.iter().map(|r| (g.to_string(), r.clone()))).collect();
    let origin = origin.to_string();
    let head = (name.clone(), origin.clone(), true, resources);
    let policy = admission::pod_policy(programs, head, &khc_emit::cel::VARIABLES, checks, std::slice::from_ref(&*khc_emit::cel::SPEC_CHANGED));
    let mut actions: Vec<String> = actions.iter().map(|x| x.validation_action().to_string()).collect();
    if actions.is_empty() {
        actions.push("Deny".into());
    }
    let namespaces = selector::Selector::of_label_selector(&khc_emit::objects::namespaces_by_name(&t.namespaces));
    let binding = admission::PolicyBinding { name: name.clone(), namespaces, actions, source: origin };
    let path = |kind: &str| khc_emit::tenant_cluster_scoped_path(dir, kind, &name);
    out.push((path("ValidatingAdmissionPolicy"), ViewEntry::Part(admission::Part::Policy(policy))));
    out.push((path("ValidatingAdmissionPolicyBinding"), ViewEntry::Part(admission::Part::Binding(name.clone(), binding))));
    Some(out)
}

/// A Namespace of a tenant view, or one of its admission policies or
/// bindings, read.
#[derive(Clone)]
enum ViewEntry {
    /// A Namespace's name and labels (as `network::Network::add` reads them).
    Namespace(String, selector::Labels),
    Part(admission::Part),
}

impl ViewEntry {
    /// A Namespace object's entry, as `network::Network::add` reads it.
    fn namespace(o: &Object) -> ViewEntry {
        ViewEntry::Namespace(o.name().to_string(), selector::labels(&o.value["metadata"]["labels"]))
    }

    /// A typed Namespace's entry (its labels are strings: as read from its JSON).
    fn typed_namespace(b: &khc_emit::objects::Built) -> Option<ViewEntry> {
        let ns = b.body.typed().downcast_ref::<k8s_openapi::api::core::v1::Namespace>()?;
        Some(ViewEntry::Namespace(ns.metadata.name.clone().unwrap_or_default(), ns.metadata.labels.clone().unwrap_or_default()))
    }
}

/// [`Source::cluster_views`] and [`Source::nodes_views`] read: each model's
/// `(path, entry)`, and `(T, path, entry)` of the `khc-nodes-T` ones.
struct ViewParts {
    clusters: Vec<Vec<(String, ViewEntry)>>,
    nodes: Vec<Vec<(String, String, ViewEntry)>>,
}

/// The kind of an admission policy.
const POLICY: &str = "ValidatingAdmissionPolicy";

/// What one evaluator reads in a pass over the units ([`Source::each_for`]).
struct Reader<'a> {
    /// The kinds it reads in full.
    kinds: &'a [&'a str],
    /// Whether it reads the heads of the admission policies (the applier annotation).
    policy_heads: bool,
    /// Takes each object.
    add: &'a mut dyn FnMut(&Object),
}

/// Which evaluators to build in one pass ([`Workspace::prepare`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evaluators {
    /// The RBAC authorizer.
    pub rbac: bool,
    /// The NetworkPolicy evaluator.
    pub network: bool,
    /// The admission policies.
    pub admission: bool,
}

/// The evaluators `want` asks for, built in one pass over the source.
fn build_evaluators(s: &Source, want: Evaluators) -> (Option<rbac::Rbac>, Option<network::Network>, Option<admission::Admission>) {
    let mut rbac = want.rbac.then(rbac::Rbac::builtin);
    let mut network = want.network.then(network::Network::default);
    let mut programs = admission::Programs::default();
    let mut builder = want.admission.then(|| admission::AdmissionBuilder::new(&mut programs));
    {
        let mut add_rbac = |o: &Object| rbac.as_mut().expect("asked for").add(o);
        let mut add_network = |o: &Object| network.as_mut().expect("asked for").add(o);
        let mut add_admission = |o: &Object| builder.as_mut().expect("asked for").add(o);
        let mut readers = Vec::new();
        if want.rbac {
            readers.push(Reader { kinds: RBAC_KINDS, policy_heads: true, add: &mut add_rbac });
        }
        if want.network {
            readers.push(Reader { kinds: &["Namespace", "NetworkPolicy"], policy_heads: false, add: &mut add_network });
        }
        if want.admission {
            readers.push(Reader { kinds: &[POLICY, "ValidatingAdmissionPolicyBinding"], policy_heads: false, add: &mut add_admission });
        }
        s.each_for(&mut readers);
    }
    let admission = builder.map(admission::AdmissionBuilder::finish);
    for (built, what) in [(rbac.is_some(), "RBAC authorizer"), (network.is_some(), "NetworkPolicy evaluator"), (admission.is_some(), "admission policies")] {
        if built {
            stage(what);
        }
    }
    (rbac, network, admission)
}

/// A value built from the workspace's [`Source`] on first use (a question builds
/// only the evaluators it asks, from the kinds each reads: `reach` compiles no
/// CEL and converts no admission policy).
pub struct Lazy<T> {
    cell: std::sync::OnceLock<T>,
    source: std::sync::Arc<Source>,
    build: fn(&Source) -> T,
}

impl<T> Lazy<T> {
    fn new(source: &std::sync::Arc<Source>, build: fn(&Source) -> T) -> Lazy<T> {
        Lazy { cell: std::sync::OnceLock::new(), source: source.clone(), build }
    }
}

impl<T> std::ops::Deref for Lazy<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.cell.get_or_init(|| (self.build)(&self.source))
    }
}

/// The emitted objects of a workspace, converted on first use.
pub struct Objects(std::sync::Arc<Source>);

impl std::ops::Deref for Objects {
    type Target = Vec<Object>;
    fn deref(&self) -> &Vec<Object> {
        self.0.objects()
    }
}

/// A compiled program and the evaluators built from it.
pub struct Workspace {
    /// The checked model of every entry file (one per cluster).
    pub models: std::sync::Arc<Vec<Model>>,
    /// The emitted objects of the [`ANALYSED_KINDS`].
    pub objects: Objects,
    /// The RBAC authorizer.
    pub rbac: Lazy<rbac::Rbac>,
    /// The NetworkPolicy evaluator.
    pub network: Lazy<network::Network>,
    /// The admission policies.
    pub admission: Lazy<admission::Admission>,
    /// Live pods (and pod templates of live controllers) that use the host's
    /// network: `(namespace, pod labels, live KIND NS/NAME)`. NetworkPolicies never
    /// select them.
    pub host_network_pods: Vec<(String, selector::Labels, String)>,
}

impl Workspace {
    /// Compiles the project at `path` (an entry file or a directory) and loads
    /// the evaluators from its typed model ([`Workspace::from_models`]).
    pub fn load(path: &Path) -> Result<Workspace, LoadError> {
        Ok(Workspace::from_models(Workspace::load_models(path)?))
    }

    /// The checked model of every entry file of the project at `path`, or why
    /// there is none. The compiled project (its database) is dropped once
    /// checked, before the models are taken out of it: every checked tenant
    /// moves out of its memo uncopied and the database's memory is free for
    /// what the question builds next (the query commands: their peak RSS while
    /// loading is `khc check`'s, and freeing the memos costs about what copying
    /// the tenants did).
    pub fn load_models(path: &Path) -> Result<Vec<Model>, LoadError> {
        stage("start");
        let project = Project::open(path).map_err(LoadError::Io)?;
        stage("open the project");
        Workspace::models_of(project, drop)
    }

    /// The checked model of every entry file of an opened project (e.g. a git
    /// revision's, [`Project::open_version`]), then hands the project to
    /// `dispose`, before the models are taken out of it: with `drop` (see
    /// [`Workspace::load_models`]) every checked tenant moves out of its memo
    /// uncopied; with `std::mem::forget` the memos stay and the tenants are
    /// copied.
    pub fn models_of(project: Project, dispose: fn(Project)) -> Result<Vec<Model>, LoadError> {
        let db = &project.db;
        let mut parts = Vec::new();
        for &entry in &project.entries {
            let Some(p) = khc_db::checks::model_parts(db, entry) else {
                return Err(LoadError::Errors(render(db, khc_db::checks::diagnostics(db, entry), ColorChoice::Never)));
            };
            parts.push(p);
        }
        stage("check");
        dispose(project);
        stage("dispose of the database");
        fn own<T: Clone>(a: std::sync::Arc<T>) -> T {
            std::sync::Arc::try_unwrap(a).unwrap_or_else(|a| (*a).clone())
        }
        let models = parts.into_iter().map(|(c, ts)| Model { cluster: own(c), tenants: ts.into_iter().map(own).collect() }).collect();
        stage("the models");
        Ok(models)
    }

    /// Compiles the project at `path` the long way: emits every file as
    /// `khc build` writes it and parses the YAML back ([`Workspace::new`]). The
    /// test oracle for [`Workspace::load`].
    pub fn load_through_yaml(path: &Path) -> Result<Workspace, LoadError> {
        let project = Project::open(path).map_err(LoadError::Io)?;
        Workspace::of_entries(&project.db, &project.entries)
    }

    /// The workspace of the programs rooted at `entries` in `db` (the database
    /// of `khc` commands, or the language server's, whose queries are already
    /// warm): every model and output, or the errors of the first program that
    /// has some.
    pub fn of_entries(db: &khc_db::KhcDatabase, entries: &[khc_db::SourceFile]) -> Result<Workspace, LoadError> {
        Workspace::of_checked(db, entries, |entry, files| {
            if let Some(out) = build(db, entry) {
                files.extend(out.files.iter().cloned());
            }
        })
    }

    /// The evaluators that judge pod objects in tenant `tenant`'s namespaces
    /// exactly as [`Workspace::of_entries`] does, built from the cluster's files
    /// and that tenant's alone (salsa keeps each tenant's files, so the cost does
    /// not grow with the other tenants): every model, the cluster-wide policies
    /// and the tenant's own; other tenants' policies, NetworkPolicies and
    /// Namespaces never concern a pod in its namespaces. The language server
    /// judges an open manifest of pod objects with it.
    pub fn of_tenant(db: &khc_db::KhcDatabase, entries: &[khc_db::SourceFile], tenant: &str) -> Result<Workspace, LoadError> {
        Workspace::of_checked(db, entries, |entry, files| {
            files.extend(khc_db::emit::cluster_files(db, entry).iter().flatten().cloned());
            if let Some(t) = khc_db::scope(db, entry).tenant(db, entry, tenant) {
                files.extend(khc_db::tenant_files(db, t).iter().cloned());
            }
        })
    }

    /// Every program's checked model (or the errors of the first program that
    /// has some) and the output files `files_of` picks for each entry.
    fn of_checked(
        db: &khc_db::KhcDatabase,
        entries: &[khc_db::SourceFile],
        mut files_of: impl FnMut(khc_db::SourceFile, &mut Vec<khc_emit::OutputFile>),
    ) -> Result<Workspace, LoadError> {
        let mut models = Vec::new();
        let mut files = Vec::new();
        for &entry in entries {
            let checked = check(db, entry);
            let Some(model) = checked.model.clone() else {
                return Err(LoadError::Errors(render(db, &checked.diagnostics, ColorChoice::Never)));
            };
            models.push(model);
            files_of(entry, &mut files);
        }
        Ok(Workspace::new(models, &Output { files }))
    }

    /// The evaluators over the given models, loaded from the typed objects khc
    /// emits for them ([`model_objects`]): nothing is written or parsed.
    /// Each evaluator converts only the kinds it reads, unless every object was
    /// asked for first.
    pub fn from_models(models: Vec<Model>) -> Workspace {
        Workspace::from_source(Source {
            models: std::sync::Arc::new(models),
            objects: std::sync::OnceLock::new(),
            typed: true,
            cluster_views: std::sync::OnceLock::new(),
            nodes_views: std::sync::OnceLock::new(),
            view_parts: std::sync::OnceLock::new(),
            owners: std::sync::OnceLock::new(),
            by_name: std::sync::OnceLock::new(),
        })
    }

    /// The evaluators over the given models and their output, parsed back from
    /// the YAML files (the round trip [`Workspace::from_models`] avoids; kept as
    /// its test oracle and for tools holding only an output tree).
    pub fn new(models: Vec<Model>, output: &Output) -> Workspace {
        Workspace::from_objects(models, objects_of_kinds(output, Some(ANALYSED_KINDS)))
    }

    /// The evaluators over the given models and emitted objects.
    /// Each evaluator is built on first use.
    pub fn from_objects(models: Vec<Model>, objects: Vec<Object>) -> Workspace {
        Workspace::from_source(Source {
            models: std::sync::Arc::new(models),
            objects: std::sync::OnceLock::from(objects),
            typed: false,
            cluster_views: std::sync::OnceLock::new(),
            nodes_views: std::sync::OnceLock::new(),
            view_parts: std::sync::OnceLock::new(),
            owners: std::sync::OnceLock::new(),
            by_name: std::sync::OnceLock::new(),
        })
    }

    fn from_source(source: Source) -> Workspace {
        let source = std::sync::Arc::new(source);
        Workspace {
            models: source.models.clone(),
            rbac: Lazy::new(&source, |s| build_evaluators(s, Evaluators { rbac: true, ..Evaluators::default() }).0.expect("built")),
            network: Lazy::new(&source, |s| build_evaluators(s, Evaluators { network: true, ..Evaluators::default() }).1.expect("built")),
            admission: Lazy::new(&source, |s| build_evaluators(s, Evaluators { admission: true, ..Evaluators::default() }).2.expect("built")),
            objects: Objects(source),
            host_network_pods: Vec::new(),
        }
    }

    /// Builds, in one pass over the emitted objects, the evaluators of `want`
    /// that are not built yet (a question that reads several converts each
    /// unit once, not once per evaluator): `blast-radius` and `report` ask for
    /// the NetworkPolicy evaluator and the admission policies together.
    pub fn prepare(&self, want: Evaluators) {
        let want = Evaluators {
            rbac: want.rbac && self.rbac.cell.get().is_none(),
            network: want.network && self.network.cell.get().is_none(),
            admission: want.admission && self.admission.cell.get().is_none(),
        };
        if want == Evaluators::default() {
            return;
        }
        let (rbac, network, admission) = build_evaluators(&self.objects.0, want);
        // Set unless built meanwhile (the cells are only ever set to the same value).
        if let Some(r) = rbac {
            let _ = self.rbac.cell.set(r);
        }
        if let Some(n) = network {
            let _ = self.network.cell.set(n);
        }
        if let Some(a) = admission {
            let _ = self.admission.cell.set(a);
        }
    }

    /// The evaluators that judge objects in the namespaces of tenant `tenant`
    /// ([`TenantView`]), from the cluster units and that tenant alone, their
    /// expressions shared through `programs`; `None` when the workspace's
    /// objects were given (parsed YAML, live objects), which only the whole
    /// fleet's evaluators read. The cluster units' policies (and other
    /// tenants' `khc-nodes-T`) are read and sorted once for every view and
    /// copied; the tenant's own are read from the model where they can be
    /// (`tenant_entries_from_model`: each rule's check shared with the other
    /// tenants that state it at the same origin, the Namespaces' labels
    /// without building them), else from the typed objects khc builds, not
    /// from their JSON form ([`admission::AdmissionBuilder::read_typed`]);
    /// [`Workspace::tenant_view_through_json`] is the oracle, and
    /// `programs` parsed as written ([`admission::Programs::as_written`]) take
    /// it.
    pub fn tenant_view(&self, tenant: &str, programs: &mut admission::Programs) -> Option<TenantView> {
        let source = &self.objects.0;
        if !source.typed || programs.is_as_written() {
            return self.tenant_view_through_json(tenant, programs);
        }
        let parts = source.view_parts.get_or_init(|| {
            let mut b = admission::AdmissionBuilder::new(programs);
            let mut entry = |o: &Object| match o.kind() {
                "Namespace" => Some(ViewEntry::namespace(o)),
                _ => b.read(o).map(ViewEntry::Part),
            };
            // Each sorted by path once (stable, as the whole view's sort kept
            // objects of one path in order), for every view to merge its own into.
            let clusters = source
                .cluster_views()
                .iter()
                .map(|c| {
                    let mut c: Vec<(String, ViewEntry)> = c.iter().filter_map(|o| Some((o.path.clone(), entry(o)?))).collect();
                    c.sort_by(|a, b| a.0.cmp(&b.0));
                    c
                })
                .collect();
            let nodes = source
                .nodes_views()
                .iter()
                .map(|n| {
                    let mut n: Vec<(String, String, ViewEntry)> = n.iter().filter_map(|(t, o)| Some((t.clone(), o.path.clone(), entry(o)?))).collect();
                    n.sort_by(|a, b| a.1.cmp(&b.1));
                    n
                })
                .collect();
            ViewParts { clusters, nodes }
        });
        let by_name = source.by_name();
        let mut builder = admission::AdmissionBuilder::new(programs);
        let mut network = network::Network::default();
        for (i, m) in source.models.iter().enumerate() {
            let mut own: Vec<(String, Option<ViewEntry>)> = Vec::new();
            for &(_, j) in by_name.get(tenant).into_iter().flatten().filter(|(mi, _)| *mi == i) {
                let t = &m.tenants[j];
                let dir = khc_emit::tenant_dir(&m.cluster.name, &t.name);
                if let Some(entries) = tenant_entries_from_model(&dir, t, builder.programs()) {
                    own.extend(entries.into_iter().map(|(path, e)| (path, Some(e))));
                    continue;
                }
                for b in khc_emit::objects::tenant_judges(t) {
                    let path = khc_emit::tenant_object_path(&dir, &b);
                    let entry = match b.kind {
                        "Namespace" => ViewEntry::typed_namespace(&b),
                        _ => builder.read_typed(b.body.typed()).map(ViewEntry::Part),
                    };
                    // A binding that names no policy is read as nothing, as the
                    // builder ignores it.
                    if let Some(e) = entry {
                        own.push((path, Some(e)));
                    }
                }
            }
            // As `model_objects_of` orders a model's objects: by path (a
            // stable sort of the cluster unit's, the tenant's own and other
            // tenants' `khc-nodes-T`, which bind this tenant's namespaces
            // too): the three lists, each sorted, merged, ties in that order.
            own.sort_by(|a, b| a.0.cmp(&b.0));
            let clusters = &parts.clusters[i];
            let nodes: Vec<&(String, String, ViewEntry)> = parts.nodes[i].iter().filter(|(t, _, _)| t != tenant).collect();
            let (mut c, mut o, mut n) = (0, 0, 0);
            while c < clusters.len() || o < own.len() || n < nodes.len() {
                // The first of the heads by path (0: the cluster unit's, 1:
                // the tenant's own, 2: another tenant's).
                let heads = [clusters.get(c).map(|e| &e.0), own.get(o).map(|e| &e.0), nodes.get(n).map(|e| &e.1)];
                let mut from = 0;
                for k in 1..3 {
                    if heads[k].is_some_and(|p| heads[from].is_none_or(|q| p < q)) {
                        from = k;
                    }
                }
                let entry = match from {
                    0 => {
                        c += 1;
                        clusters[c - 1].1.clone()
                    }
                    1 => {
                        o += 1;
                        own[o - 1].1.take().expect("each own entry once")
                    }
                    _ => {
                        n += 1;
                        nodes[n - 1].2.clone()
                    }
                };
                match entry {
                    ViewEntry::Namespace(name, mut labels) => {
                        labels.insert(network::NAMESPACE_NAME_LABEL.into(), name.clone());
                        network.namespace_labels.insert(name, labels);
                    }
                    ViewEntry::Part(p) => builder.add_part(p),
                }
            }
        }
        Some(TenantView { admission: builder.finish(), network })
    }

    /// [`Workspace::tenant_view`] with every object of the view converted to
    /// JSON and read back (the cluster units' again for each view): the
    /// oracle of the typed reading (`tests/typed_model.rs` holds both views'
    /// policies equal).
    pub fn tenant_view_through_json(&self, tenant: &str, programs: &mut admission::Programs) -> Option<TenantView> {
        let source = &self.objects.0;
        if !source.typed {
            return None;
        }
        let clusters = source.cluster_views();
        let by_name = source.by_name();
        let mut own: Vec<Vec<Object>> = source.models.iter().map(|_| Vec::new()).collect();
        for &(i, j) in by_name.get(tenant).into_iter().flatten() {
            let m = &source.models[i];
            own[i].extend(tenant_judges_of(m, &m.tenants[j]));
        }
        let nodes = source.nodes_views();
        let mut refs: Vec<&Object> = Vec::new();
        for ((own, cluster), nodes) in own.iter().zip(clusters).zip(nodes) {
            // As `model_objects_of` orders a model's objects: by path. Other
            // tenants' `khc-nodes-T` policies bind this tenant's namespaces too.
            let others = nodes.iter().filter(|(t, _)| t != tenant).map(|(_, o)| o);
            let mut part: Vec<&Object> = cluster.iter().chain(own).chain(others).collect();
            part.sort_by(|a, b| a.path.cmp(&b.path));
            refs.extend(part);
        }
        let namespaces: Vec<Object> = refs.iter().filter(|o| o.kind() == "Namespace").map(|o| (*o).clone()).collect();
        Some(TenantView { admission: admission::Admission::with_programs(&refs, programs), network: network::Network::new(&namespaces) })
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
        // The first owner in tenant order, as a scan finds it, through a map
        // built on the first call (`eval` and the escalation search ask per object).
        let owners = self.objects.0.owners.get_or_init(|| {
            let mut owners = std::collections::HashMap::new();
            for (i, m) in self.models.iter().enumerate() {
                for (j, t) in m.tenants.iter().enumerate() {
                    for n in &t.namespaces {
                        owners.entry(n.clone()).or_insert((i, j));
                    }
                }
            }
            owners
        });
        owners.get(namespace).map(|&(i, j)| &self.models[i].tenants[j])
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
        // Converted from the models, the objects are only of the analysed kinds:
        // another kind is none of them (and converts nothing).
        if self.objects.0.typed && !ANALYSED_KINDS.contains(&kind) {
            return None;
        }
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
