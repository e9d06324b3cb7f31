//! The security posture of a program in intent terms, and the change between two
//! programs: reachability, RBAC permissions, admission rules, Pod Security
//! levels, isolation and encryption — each change marked as loosening or
//! tightening, with the source line responsible where there is one.

use crate::network::{Endpoint, Network};
use crate::posture::workload_endpoint;
use crate::rbac::{Rbac, Subject};
use crate::{LoadError, Object, Workspace, ANALYSED_KINDS};
use khc_db::{render, ColorChoice, Project};
use khc_semantics::model::{Cluster, Model, Tenant};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// One fact of the posture: a key (what), a value (how much) and a source.
pub type Facts = BTreeMap<(String, String), (String, String)>;

/// The posture of a program: category → facts keyed by subject.
#[derive(Clone, Debug, Default)]
pub struct Posture {
    /// `(category, key)` → `(value, FILE:LINE)`.
    pub facts: Facts,
}

/// Whether a change loosens or tightens security.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Destroys something on the cluster when applied: a namespace (and
    /// everything in it) that leaves the source.
    Destructive,
    /// Less secure: new reachability, new permissions, fewer rules, lower levels.
    Loosened,
    /// More secure.
    Tightened,
    /// Neither clearly (e.g. encryption provider order).
    Changed,
}

/// One change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `reachability`, `rbac`, `admission`, `pod-security`, `isolation`, `encryption`.
    pub category: String,
    /// What changed.
    pub what: String,
    /// Before (empty when added).
    pub before: String,
    /// After (empty when removed).
    pub after: String,
    /// Its effect.
    pub effect: Effect,
    /// `FILE:LINE` responsible (in the new program; in the old one for removals).
    pub source: String,
}

/// The ports of a DNS-name rule as the matrix writes ports (`443/TCP`, `all ports`).
fn dns_ports(r: &khc_semantics::model::NetRule) -> String {
    if r.ports.is_empty() && r.named_ports.is_empty() {
        return if r.protocol_only { r.protocols.iter().map(|p| format!("all/{p}")).collect::<Vec<_>>().join(", ") } else { "all ports".into() };
    }
    let mut each = Vec::new();
    for p in &r.protocols {
        for range in &r.ports {
            each.push(match range.end {
                Some(e) => format!("{}-{e}/{p}", range.port),
                None => format!("{}/{p}", range.port),
            });
        }
        each.extend(r.named_ports.iter().map(|n| format!("{n}/{p}")));
    }
    each.join(", ")
}

/// The weakest level a value names (`restricted`, or `restricted (node-agents
/// privileged)` for a tenant with per-namespace levels).
fn level_rank(l: &str) -> u8 {
    l.split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
        .filter_map(|w| match w {
            "privileged" => Some(0),
            "baseline" => Some(1),
            "restricted" => Some(2),
            _ => None,
        })
        .min()
        .unwrap_or(2)
}

impl Posture {
    /// The posture of a workspace, with reachability to and from the external
    /// peers its intent names.
    pub fn of(ws: &Workspace) -> Posture {
        Posture::with_peers(ws, &crate::posture::external_endpoints(ws))
    }

    /// The posture of a workspace, with reachability to and from `externals`.
    pub fn with_peers(ws: &Workspace, externals: &[(String, Endpoint)]) -> Posture {
        let mut f = Facts::new();
        let mut put = |cat: &str, key: String, value: String, source: String| {
            f.insert((cat.to_string(), key), (value, source));
        };
        // Reachability between workloads, and to/from the external peers the intent names.
        let (names, endpoints, workloads) = endpoints_of(ws.tenants(), externals);
        // One matrix over workloads and external peers; reasons only for the allowed pairs.
        for (i, j, _) in ws.network.matrix(&endpoints) {
            if i >= workloads && j >= workloads {
                continue;
            }
            put_pair(&mut put, &ws.network, &names, &endpoints, i, j);
        }
        // RBAC: every subject's rules per scope.
        for s in ws.rbac.subjects() {
            put_subject(&mut put, &ws.rbac, &s);
        }
        // Admission: every rule of every policy, with its actions.
        for p in &ws.admission.policies {
            put_policy(&mut put, p);
        }
        for t in ws.tenants() {
            put_tenant(&mut put, t);
        }
        for m in ws.models.iter() {
            put_cluster(&mut put, &m.cluster);
        }
        Posture { facts: f }
    }
}

/// The names and endpoints of the workloads of `tenants` (in order), then of
/// `externals`; and how many of them are workloads.
fn endpoints_of<'a>(tenants: impl Iterator<Item = &'a Tenant>, externals: &[(String, Endpoint)]) -> (Vec<String>, Vec<Endpoint>, usize) {
    let (mut names, mut endpoints): (Vec<String>, Vec<Endpoint>) =
        tenants.flat_map(|t| t.workloads.iter().map(move |w| workload_endpoint(t, w))).map(|n| (n.name, n.endpoint)).unzip();
    let workloads = names.len();
    names.extend(externals.iter().map(|(n, _)| n.clone()));
    endpoints.extend(externals.iter().map(|(_, e)| e.clone()));
    (names, endpoints, workloads)
}

/// The reachability fact of the allowed pair `(i, j)`: its ports and the
/// sources of the policies that allow it.
fn put_pair(put: &mut impl FnMut(&str, String, String, String), network: &Network, names: &[String], endpoints: &[Endpoint], i: usize, j: usize) {
    let d = network.decide(&endpoints[i], &endpoints[j]);
    let mut s: Vec<String> = d.egress.allowing.iter().chain(d.ingress.allowing.iter()).map(|(r, _)| r.source.clone()).collect();
    s.sort();
    s.dedup();
    put("reachability", format!("{} → {}", names[i], names[j]), d.ports().to_string(), s.join(", "));
}

/// The RBAC facts of one subject: each rule of each role bound to it, per scope.
fn put_subject(put: &mut impl FnMut(&str, String, String, String), rbac: &Rbac, s: &Subject) {
    for (ns, b, role) in rbac.permissions_of(s) {
        let scope = ns.clone().map_or("cluster-wide".to_string(), |n| format!("in {n}"));
        for r in &role.rules {
            put("rbac", format!("{s} may {} {scope}", r.describe()), format!("via {} {}", role.kind, role.name), b.source.clone());
        }
    }
}

/// The admission facts of one policy: each rule with the bindings' actions.
fn put_policy(put: &mut impl FnMut(&str, String, String, String), p: &crate::admission::Policy) {
    let actions: Vec<String> = p.bindings.iter().flat_map(|b| b.actions.iter().cloned()).collect();
    for c in &p.checks {
        let msg = c.message.rsplit_once(" [khc rule ").map_or(c.message.as_str(), |(m, _)| m);
        // A custom rule's expression is the source's own text: a changed
        // `cel` is a change (built-in rules' expressions follow the
        // version and the exceptions, shown as facts of their own).
        let mut value = actions.join(",");
        if p.name.ends_with(&format!(".rule-{}", c.rule)) {
            value = format!("{value}{CEL_SEPARATOR}{}", c.expression);
        }
        put("admission", format!("{}: {} ({msg})", p.name, c.rule), value, c.rule_source.clone());
    }
}

/// The facts of one tenant, read from its checked model alone: DNS-name egress,
/// Pod Security levels, namespaces, exceptions, isolation, token mounting.
fn put_tenant(put: &mut impl FnMut(&str, String, String, String), t: &Tenant) {
    // DNS-name egress (`allow egress … to dns`, SPEC section 6, "The CNI"): no
    // NetworkPolicy carries it, so it is a reachability fact of its own.
    for r in &t.dns_egress {
        let khc_semantics::model::Peer::Dns(names) = &r.peer else { continue };
        let from = r.local.as_ref().map_or(format!("tenant {}", t.name), |(w, _, _)| format!("{}/{w}", t.name));
        put("reachability", format!("{from} → dns {}", names.join(" ")), dns_ports(r), r.origin.to_string());
    }
    let ps = &t.pod_security;
    for (mode, level) in [("enforce", ps.enforce), ("audit", ps.audit), ("warn", ps.warn)] {
        let mut value = level.as_str().to_string();
        if mode == "enforce" && !ps.namespace_enforce.is_empty() {
            let each: Vec<String> = ps.namespace_enforce.iter().map(|(ns, l)| format!("{ns} {}", l.as_str())).collect();
            value = format!("{value} ({})", each.join(", "));
        }
        put("pod-security", format!("tenant {} {mode}", t.name), value, t.origin.to_string());
    }
    // Every namespace khc creates: one leaving the source is deleted by a
    // pruning GitOps engine unless the guards of section 13 stop it.
    for ns in &t.namespaces {
        let guard = if t.deletable_namespaces.contains(ns) { "deletable" } else { "delete-guarded" };
        put("namespace", format!("namespace {ns}"), format!("tenant {}, {guard}", t.name), t.origin.to_string());
    }
    // Exceptions: one fact per lifted rule and covered scope, so a new
    // or widened exception is a new fact (a loosening).
    for e in &t.exceptions {
        exception_facts(put, &format!("tenant {}", t.name), e);
    }
    if let Some(i) = &t.images {
        image_facts(put, &t.name, i);
    }
    put("isolation", format!("tenant {}", t.name), format!("{:?}", t.isolation).to_lowercase(), t.origin.to_string());
    for w in &t.workloads {
        put("token", format!("{}/{} mounts its API token", t.name, w.name), w.automount_token.to_string(), w.origin.to_string());
    }
}

/// The facts of one cluster: its exceptions (as the tenants') and encryption.
fn put_cluster(put: &mut impl FnMut(&str, String, String, String), c: &Cluster) {
    for e in &c.exceptions {
        exception_facts(put, &format!("cluster {}", c.name), e);
    }
    if let Some(e) = &c.encryption {
        let providers: Vec<&str> = e.providers.iter().map(|p| p.kind()).collect();
        for r in &e.resources {
            put("encryption", format!("cluster {} encrypts {r}", c.name), providers.join(" → "), e.origin.to_string());
        }
    }
}

/// The facts of one exception of `owner` (`tenant T`, `cluster C`): one per
/// lifted rule and covered scope, so a new or widened exception is a new fact
/// (a loosening).
fn exception_facts(put: &mut impl FnMut(&str, String, String, String), owner: &str, e: &khc_semantics::model::Exception) {
    let scopes: Vec<String> = if e.workloads.is_empty() {
        e.namespaces.iter().map(|n| format!("namespace {n}")).collect()
    } else {
        e.workloads.iter().map(|(w, n)| format!("workload {n}/{w}")).collect()
    };
    let expiry = e.expires.as_deref().map_or("no expiry".to_string(), |d| format!("until {d}"));
    for r in &e.lifts {
        for scope in &scopes {
            put(
                "exception",
                format!("{owner}: `{}` lifted for {scope}", r.keyword()),
                format!("exception {}, {expiry}: {}", e.name, e.reason),
                e.origin.to_string(),
            );
        }
    }
}

/// The facts of a tenant's image policy (`images { … }`, joined with the
/// cluster's), category `images`: each value starts with what it is, so that
/// [`effect`] can tell a loosening (a signer or scan removed, `deny-at`
/// raised, a longer `max-age`, a new accepted finding, registry or volume
/// image, `pinned` dropped) from a tightening.
fn image_facts(put: &mut impl FnMut(&str, String, String, String), tenant: &str, i: &khc_semantics::model::Images) {
    let p = &i.policy;
    let src = i.origin.to_string();
    let owner = format!("tenant {tenant} images");
    if !p.registries.is_empty() {
        put("images", format!("{owner} from registries"), format!("registries: {}", p.registries.join(" ")), src.clone());
    }
    if p.pinned {
        put("images", format!("{owner} pinned by digest"), "required".into(), src.clone());
    }
    for s in &p.signers {
        put("images", format!("{owner} signed by {}", s.identity.describe()), "required".into(), src.clone());
    }
    for s in &p.scans {
        let k = format!("{owner} scanned (attestation signed by key \"{}\")", s.key_path);
        put("images", k.clone(), "required".into(), src.clone());
        put("images", format!("{k} threshold"), format!("deny-at: {}", s.deny_at.as_str()), src.clone());
        put("images", format!("{k} freshness"), format!("max-age: {}h", s.max_age_hours), src.clone());
        for a in &s.allow {
            put("images", format!("{k}: accepts {}", a.id), format!("accepted: {}", a.reason), src.clone());
        }
    }
    if let Some(v) = p.allowed_volume_images() {
        let list = if v.is_empty() { "none".to_string() } else { v.join(" ") };
        put("images", format!("{owner} volume images"), format!("volume-images: {list}"), src);
    }
}

/// The effect of a changed `images` fact (values written by [`image_facts`]).
fn image_effect(before: &str, after: &str) -> Effect {
    let loosened = match (before.split_once(": "), after.split_once(": ")) {
        (Some(("registries", b)), Some(("registries", a))) => {
            let b: Vec<&str> = b.split(' ').collect();
            a.split(' ').any(|r| !b.iter().any(|x| r.starts_with(x)))
        }
        (Some(("volume-images", b)), Some(("volume-images", a))) => {
            let b: Vec<&str> = b.split(' ').collect();
            a != "none" && a.split(' ').any(|r| !b.contains(&r))
        }
        (Some(("deny-at", b)), Some(("deny-at", a))) => {
            let rank = |x: &str| khc_semantics::model::Severity::parse(x).map_or(0, |s| s as u8);
            rank(a) > rank(b)
        }
        (Some(("max-age", b)), Some(("max-age", a))) => {
            let hours = |x: &str| x.trim_end_matches('h').parse::<u32>().unwrap_or(0);
            hours(a) > hours(b)
        }
        _ => return Effect::Changed,
    };
    if loosened {
        Effect::Loosened
    } else {
        Effect::Tightened
    }
}

/// Between a custom rule's actions and its expression in an `admission` fact.
const CEL_SEPARATOR: &str = "; cel: ";

fn effect(category: &str, before: Option<&str>, after: Option<&str>) -> Effect {
    match (category, before, after) {
        ("namespace", Some(_), None) => Effect::Destructive,
        ("namespace", None, Some(_)) => Effect::Changed,
        ("namespace", Some(b), Some(a)) if !b.ends_with("deletable") && a.ends_with("deletable") => Effect::Loosened,
        ("exception", None, Some(_)) => Effect::Loosened,
        ("exception", Some(_), None) => Effect::Tightened,
        ("reachability" | "rbac", None, Some(_)) => Effect::Loosened,
        ("reachability" | "rbac", Some(_), None) => Effect::Tightened,
        ("reachability", Some(b), Some(a)) => {
            if a.len() >= b.len() || a == "all ports" {
                Effect::Loosened
            } else {
                Effect::Tightened
            }
        }
        ("admission", None, Some(_)) => Effect::Tightened,
        ("admission", Some(_), None) => Effect::Loosened,
        ("admission", Some(b), Some(a)) => {
            // The actions only: a custom rule's expression may say `Deny`.
            let actions = |v: &str| v.split_once(CEL_SEPARATOR).map_or(v, |(x, _)| x).to_string();
            let (b, a) = (actions(b), actions(a));
            if b.contains("Deny") && !a.contains("Deny") {
                Effect::Loosened
            } else if !b.contains("Deny") && a.contains("Deny") {
                Effect::Tightened
            } else {
                Effect::Changed
            }
        }
        ("pod-security", Some(b), Some(a)) => {
            if level_rank(a) < level_rank(b) {
                Effect::Loosened
            } else {
                Effect::Tightened
            }
        }
        ("isolation", Some(b), Some(a)) => {
            let rank = |x: &str| ["none", "tenant", "strict"].iter().position(|y| *y == x).unwrap_or(0);
            if rank(a) < rank(b) {
                Effect::Loosened
            } else {
                Effect::Tightened
            }
        }
        // A newly accepted finding widens what may run; other new image facts
        // (a signer, a scan, registries where there were none) are requirements.
        ("images", None, Some(a)) if a.starts_with("accepted: ") => Effect::Loosened,
        ("images", Some(b), None) if b.starts_with("accepted: ") => Effect::Tightened,
        ("images", Some(b), Some(a)) => image_effect(b, a),
        ("token", _, Some("true")) => Effect::Loosened,
        ("token", _, _) => Effect::Tightened,
        ("encryption", Some(_), None) => Effect::Loosened,
        ("encryption", None, Some(_)) => Effect::Tightened,
        ("encryption", Some(b), Some(a)) => {
            if a.starts_with("identity") && !b.starts_with("identity") {
                Effect::Loosened
            } else if b.starts_with("identity") && !a.starts_with("identity") {
                Effect::Tightened
            } else {
                Effect::Changed
            }
        }
        (_, None, Some(_)) => Effect::Tightened,
        (_, Some(_), None) => Effect::Loosened,
        _ => Effect::Changed,
    }
}

/// The posture change between two workspaces: reachability is compared for the
/// external peers either names (so a widened CIDR still covers the old one).
pub fn compare(old: &Workspace, new: &Workspace) -> Vec<Change> {
    let mut peers = crate::posture::external_endpoints(old);
    peers.extend(crate::posture::external_endpoints(new));
    peers.sort_by(|a, b| a.0.cmp(&b.0));
    peers.dedup_by(|a, b| a.0 == b.0);
    diff(&Posture::with_peers(old, &peers), &Posture::with_peers(new, &peers))
}

/// The changes from `old` to `new`, loosenings first.
pub fn diff(old: &Posture, new: &Posture) -> Vec<Change> {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&(String, String)> = old.facts.keys().chain(new.facts.keys()).collect();
    for k in keys {
        let (b, a) = (old.facts.get(k), new.facts.get(k));
        if b.map(|x| &x.0) == a.map(|x| &x.0) {
            continue;
        }
        let source = a.or(b).map(|x| x.1.clone()).unwrap_or_default();
        out.push(Change {
            category: k.0.clone(),
            what: k.1.clone(),
            before: b.map(|x| x.0.clone()).unwrap_or_default(),
            after: a.map(|x| x.0.clone()).unwrap_or_default(),
            effect: effect(&k.0, b.map(|x| x.0.as_str()), a.map(|x| x.0.as_str())),
            source,
        });
    }
    out.sort_by(|x, y| (x.effect, &x.category, &x.what).cmp(&(y.effect, &y.category, &y.what)));
    out
}

/// One program (entry file) of a version as the database holds it: the
/// checked cluster and tenants (sorted by name), shared with salsa's memos, so
/// a tenant the new version did not change is the same `Arc` in both.
#[derive(Clone, Debug)]
pub struct Program {
    /// The checked cluster.
    pub cluster: Arc<Cluster>,
    /// Its tenants, sorted by name.
    pub tenants: Vec<Arc<Tenant>>,
}

impl Program {
    fn model(&self) -> Model {
        Model { cluster: (*self.cluster).clone(), tenants: self.tenants.iter().map(|t| (**t).clone()).collect() }
    }
}

/// The checked programs of the project at `old` and at `new`, compiled in one
/// database: `new` is opened in `old`'s ([`khc_db::Project::reopen`]), so a file
/// with the same text in both is the same salsa input and nothing it alone
/// decides is checked twice. Each side is its programs or why there are none.
/// The database is handed to `dispose` (a process that ends after answering
/// passes `std::mem::forget`).
pub fn load_versions(old: &Path, new: &Path, dispose: fn(Project)) -> (Result<Vec<Program>, LoadError>, Result<Vec<Program>, LoadError>) {
    let programs = programs_of;
    crate::stage("start");
    let project = match Project::open(old) {
        Ok(p) => p,
        Err(e) => {
            let new = Project::open(new).map_err(LoadError::Io).and_then(|p| programs(&p));
            return (Err(LoadError::Io(e)), new);
        }
    };
    let old = programs(&project);
    crate::stage("check the old version");
    let (new, project) = match project.reopen(new) {
        Ok(p) => (programs(&p), Some(p)),
        Err(e) => (Err(LoadError::Io(e)), None),
    };
    crate::stage("check the new version in the same database");
    if let Some(p) = project {
        dispose(p);
    }
    (old, new)
}

/// The checked programs of the working tree's project at `new` and of its
/// other version `old` (`khc diff --against REV`: the revision's files, read
/// from git by [`khc_db::git::GitTree`]), compiled in one database: `new` is
/// opened from disk and checked, then the database switches to `old`
/// ([`khc_db::Project::reopen_version`]), where a file whose text is
/// unchanged is neither read again nor checked again. `entry` is the entry
/// file's key when `new` is a file. Each side is its programs or why there are
/// none; the database (`db`, fresh, rooted anywhere: it is rerooted at `new`)
/// is handed to `dispose` with the old version loaded, its executed-query log
/// holding only the old version's work ([`khc_db::KhcDatabase::with_log`]).
pub fn load_against(
    new: &Path,
    old: Arc<dyn khc_db::VersionFiles>,
    entry: Option<&khc_syntax::FileKey>,
    db: khc_db::KhcDatabase,
    dispose: impl FnOnce(Project),
) -> (Result<Vec<Program>, LoadError>, Result<Vec<Program>, LoadError>) {
    crate::stage("start");
    let project = match Project::open_with(new, db) {
        Ok(p) => p,
        Err(e) => return (Err(LoadError::Io(e.clone())), Err(LoadError::Io(e))),
    };
    let new = programs_of(&project);
    crate::stage("check the new version (the working tree)");
    project.db.take_log();
    let (old, project) = match project.reopen_version(old, entry) {
        Ok(p) => (programs_of(&p), Some(p)),
        Err(e) => (Err(LoadError::Io(e)), None),
    };
    crate::stage("check the old version in the same database");
    if let Some(p) = project {
        dispose(p);
    }
    (old, new)
}

/// The checked programs of every entry of a project, or its diagnostics.
fn programs_of(project: &Project) -> Result<Vec<Program>, LoadError> {
    let db = &project.db;
    let mut out = Vec::new();
    for &entry in &project.entries {
        let Some((cluster, tenants)) = khc_db::checks::model_parts(db, entry) else {
            return Err(LoadError::Errors(render(db, khc_db::checks::diagnostics(db, entry), ColorChoice::Never)));
        };
        out.push(Program { cluster, tenants });
    }
    Ok(out)
}

fn same<T: PartialEq>(a: &Arc<T>, b: &Arc<T>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

/// Whether the posture can be compared unit by unit: the same clusters in the
/// same order, and no tenant name or namespace twice on either side (facts are
/// keyed by those names; where two programs share one, the full comparison
/// decides which fact stands).
fn comparable_by_unit(old: &[Program], new: &[Program]) -> bool {
    let unique = |side: &[Program]| {
        let mut names = BTreeSet::new();
        let mut namespaces = BTreeSet::new();
        side.iter().flat_map(|p| &p.tenants).all(|t| names.insert(t.name.as_str()) && t.namespaces.iter().all(|n| namespaces.insert(n.as_str())))
    };
    old.len() == new.len() && old.iter().zip(new).all(|(a, b)| same(&a.cluster, &b.cluster)) && unique(old) && unique(new)
}

/// The posture change between two versions, unit by unit (SPEC section 13,
/// "The posture change"): the same changes as [`compare`] over the two whole workspaces
/// (`compiler/analysis/tests/incremental_diff.rs` holds them equal), computed
/// only over what changed and what it can affect.
///
/// A tenant whose checked model is equal in both versions (the same `Arc` when
/// both were checked in one database) emits the same objects in both, so its
/// own facts are skipped; the evaluators are built over every unit's objects
/// (a clean unit's converted once), and asked only what a changed unit can
/// affect, across tenants too:
///
/// * reachability: every pair with an endpoint of a changed tenant or in a
///   namespace where a changed unit emits an object (a NetworkPolicy evaluates
///   only the policies of the two endpoints' namespaces and their labels);
/// * RBAC: every subject covered by a subject of a binding a changed unit
///   emits, or of a RoleBinding whose Role is in such a namespace (all
///   subjects when a changed unit emits a ClusterRole: aggregation and
///   ClusterRoleBindings reach everyone);
/// * admission: every policy a changed unit emits or binds (with all its
///   bindings, whoever emits them).
///
/// A changed cluster, or names shared across programs, fall back to [`compare`].
pub fn compare_programs(old: &[Program], new: &[Program]) -> Vec<Change> {
    compare_programs_then(old, new, drop)
}

/// What [`compare_programs_then`] built to answer: both versions' evaluators.
pub struct Evaluators {
    /// The old version's NetworkPolicy evaluator and RBAC authorizer, then the new one's.
    pub sides: Vec<(Network, Rbac)>,
}

/// [`compare_programs`], then hands the evaluators it built to `dispose` (a
/// process that ends after answering passes `std::mem::forget` and skips
/// freeing them one allocation at a time).
pub fn compare_programs_then(old: &[Program], new: &[Program], dispose: fn(Evaluators)) -> Vec<Change> {
    if !comparable_by_unit(old, new) {
        let ws = |side: &[Program]| Workspace::from_models(side.iter().map(Program::model).collect());
        return compare(&ws(old), &ws(new));
    }
    let by_name = |p: &Program| -> BTreeMap<String, Arc<Tenant>> { p.tenants.iter().map(|t| (t.name.clone(), t.clone())).collect() };
    let (olds, news): (Vec<_>, Vec<_>) = (old.iter().map(by_name).collect(), new.iter().map(by_name).collect());
    // Changed tenants, per program: on one side only, or different.
    let dirty: Vec<BTreeSet<String>> = olds
        .iter()
        .zip(&news)
        .map(|(o, n)| o.keys().chain(n.keys()).filter(|k| !matches!((o.get(*k), n.get(*k)), (Some(a), Some(b)) if same(a, b))).cloned().collect())
        .collect();
    if dirty.iter().all(BTreeSet::is_empty) {
        return Vec::new();
    }
    crate::stage("compare the tenants");
    // The changed tenants' objects, in both versions.
    let mut changed: BTreeMap<(usize, String), [Vec<Object>; 2]> = BTreeMap::new();
    for (i, names) in dirty.iter().enumerate() {
        for n in names {
            let c = &old[i].cluster;
            let each = |side: &BTreeMap<String, Arc<Tenant>>| side.get(n).map(|t| unit_objects(&c.name, t, &|_, _| true)).unwrap_or_default();
            changed.insert((i, n.clone()), [each(&olds[i]), each(&news[i])]);
        }
    }
    // What the changed units touch, in either version.
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    let mut bindings: BTreeSet<(String, Option<String>, String)> = BTreeSet::new();
    let mut policies: BTreeSet<String> = BTreeSet::new();
    let mut cluster_roles = false;
    for o in changed.values().flatten().flatten() {
        if let Some(ns) = o.namespace() {
            namespaces.insert(ns.to_string());
        }
        match o.kind() {
            "Namespace" => {
                namespaces.insert(o.name().to_string());
            }
            "ClusterRole" => cluster_roles = true,
            "RoleBinding" | "ClusterRoleBinding" => {
                bindings.insert((o.kind().to_string(), o.namespace().map(str::to_string), o.name().to_string()));
            }
            "ValidatingAdmissionPolicy" => {
                policies.insert(o.name().to_string());
            }
            "ValidatingAdmissionPolicyBinding" => {
                policies.insert(policy_name(o).to_string());
            }
            _ => {}
        }
    }
    for (i, n) in changed.keys() {
        for t in olds[*i].get(n).into_iter().chain(news[*i].get(n)) {
            namespaces.extend(t.namespaces.iter().cloned());
        }
    }
    // The evaluators of both versions, fed unit by unit in the order of their
    // output paths (the order `model_objects` gives, so each answers as over
    // the whole list); a clean unit's objects are converted once for both.
    // Admission policies: only those a changed unit emits or binds.
    let admitted = |o: &Object| match o.kind() {
        "ValidatingAdmissionPolicy" => policies.contains(o.name()),
        "ValidatingAdmissionPolicyBinding" => policies.contains(policy_name(o)),
        _ => false,
    };
    let mut sides: [(Network, Rbac, Vec<Object>); 2] = [(Network::default(), Rbac::new(&[]), Vec::new()), (Network::default(), Rbac::new(&[]), Vec::new())];
    let mut feed = |side: usize, objects: &[Object]| {
        let (network, rbac, admission) = &mut sides[side];
        network.add_all(objects);
        rbac.add_all(objects);
        admission.extend(objects.iter().filter(|o| admitted(o)).cloned());
    };
    // A clean unit's objects: what the NetworkPolicy evaluator and the RBAC
    // authorizer read, and in full only the admission policies a changed unit names.
    let read = |kind: &str, name: &str| kind != "ValidatingAdmissionPolicy" || policies.contains(name);
    for (i, p) in old.iter().enumerate() {
        let c = &p.cluster;
        let mut units: Vec<(String, Option<&String>)> = vec![(format!("{}/", khc_emit::cluster_unit_dir(&c.name)), None)];
        units.extend(
            olds[i].keys().chain(news[i].keys()).collect::<BTreeSet<_>>().into_iter().map(|n| (format!("{}/", khc_emit::tenant_dir(&c.name, n)), Some(n))),
        );
        units.sort();
        for (_, unit) in units {
            match unit {
                None => {
                    let objects = cluster_objects(c, &read);
                    feed(0, &objects);
                    feed(1, &objects);
                }
                Some(n) => match changed.get(&(i, n.clone())) {
                    Some([before, after]) => {
                        feed(0, before);
                        feed(1, after);
                    }
                    None => {
                        let objects = olds[i].get(n).map(|t| unit_objects(&c.name, t, &read)).unwrap_or_default();
                        feed(0, &objects);
                        feed(1, &objects);
                    }
                },
            }
        }
    }
    crate::stage("build the evaluators (clean units converted once)");
    // The external peers either version names, as `compare` takes them.
    let mut peers = crate::posture::external_endpoints_of(old.iter().flat_map(|p| p.tenants.iter().map(|t| &**t)));
    peers.extend(crate::posture::external_endpoints_of(new.iter().flat_map(|p| p.tenants.iter().map(|t| &**t))));
    peers.sort_by(|a, b| a.0.cmp(&b.0));
    peers.dedup_by(|a, b| a.0 == b.0);
    let [(old_network, old_rbac, old_admitted), (new_network, new_rbac, new_admitted)] = sides;
    // RBAC: the subjects a changed binding (or a binding of a changed Role) covers.
    let subjects: BTreeSet<Subject> = {
        let all: BTreeSet<Subject> = old_rbac.subjects().into_iter().chain(new_rbac.subjects()).collect();
        if cluster_roles {
            all
        } else {
            let touched = |b: &&crate::rbac::BindingDef| {
                bindings.contains(&(b.kind.clone(), b.namespace.clone(), b.name.clone()))
                    || (b.role_kind == "Role" && b.namespace.as_ref().is_some_and(|n| namespaces.contains(n)))
            };
            let covering: BTreeSet<&Subject> = old_rbac.bindings.iter().chain(&new_rbac.bindings).filter(touched).flat_map(|b| b.subjects.iter()).collect();
            all.into_iter().filter(|s| covering.iter().any(|c| c.covers(s))).collect()
        }
    };
    let posture = |programs: &[Program], names: &[BTreeMap<String, Arc<Tenant>>], network: &Network, rbac: &Rbac, admitted: &[Object]| -> Posture {
        let mut f = Facts::new();
        let mut put = |cat: &str, key: String, value: String, source: String| {
            f.insert((cat.to_string(), key), (value, source));
        };
        // Reachability: every pair with an endpoint a change can affect.
        let (labels, endpoints, workloads) = endpoints_of(programs.iter().flat_map(|p| p.tenants.iter().map(|t| &**t)), &peers);
        let mut marked: Vec<bool> = Vec::new();
        for (i, p) in programs.iter().enumerate() {
            for t in &p.tenants {
                marked.extend(t.workloads.iter().map(|_| dirty[i].contains(&t.name)));
            }
        }
        marked.resize(endpoints.len(), false);
        for (m, e) in marked.iter_mut().zip(&endpoints) {
            *m |= matches!(e, Endpoint::Pod { namespace, .. } if namespaces.contains(namespace));
        }
        for i in (0..endpoints.len()).filter(|&i| marked[i]) {
            for j in 0..endpoints.len() {
                if i == j || (i >= workloads && j >= workloads) {
                    continue;
                }
                if !network.ports(&endpoints[i], &endpoints[j]).is_empty() {
                    put_pair(&mut put, network, &labels, &endpoints, i, j);
                }
                if !marked[j] && !network.ports(&endpoints[j], &endpoints[i]).is_empty() {
                    put_pair(&mut put, network, &labels, &endpoints, j, i);
                }
            }
        }
        let named = rbac.subjects();
        for s in subjects.iter().filter(|s| named.contains(s)) {
            put_subject(&mut put, rbac, s);
        }
        for p in &crate::admission::Admission::new(admitted).policies {
            put_policy(&mut put, p);
        }
        for (i, changed) in dirty.iter().enumerate() {
            for t in changed.iter().filter_map(|n| names[i].get(n)) {
                put_tenant(&mut put, t);
            }
        }
        Posture { facts: f }
    };
    let before = posture(old, &olds, &old_network, &old_rbac, &old_admitted);
    let after = posture(new, &news, &new_network, &new_rbac, &new_admitted);
    crate::stage("the posture of what changed");
    dispose(Evaluators { sides: vec![(old_network, old_rbac), (new_network, new_rbac)] });
    diff(&before, &after)
}

/// The policy a ValidatingAdmissionPolicyBinding binds.
fn policy_name(o: &Object) -> &str {
    o.value["spec"]["policyName"].as_str().unwrap_or("")
}

/// Converts built objects of the [`ANALYSED_KINDS`] the evaluators read (not
/// ServiceAccounts) to JSON, sorted by path; those `full` refuses (by kind and
/// name: admission policies no change names) only to their head, whose
/// annotations the RBAC authorizer reads.
fn convert(built: Vec<khc_emit::objects::Built>, path: impl Fn(&khc_emit::objects::Built) -> String, full: &dyn Fn(&str, &str) -> bool) -> Vec<Object> {
    let mut out: Vec<Object> = built
        .into_iter()
        .filter(|b| ANALYSED_KINDS.contains(&b.kind) && b.kind != "ServiceAccount")
        .map(|b| {
            let value = if full(b.kind, &b.name) { b.body.json() } else { b.body.head() };
            Object { path: path(&b), value }
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The objects of one tenant's unit ([`convert`]).
fn unit_objects(cluster: &str, t: &Tenant, full: &dyn Fn(&str, &str) -> bool) -> Vec<Object> {
    let dir = khc_emit::tenant_dir(cluster, &t.name);
    convert(khc_emit::tenant_built(t), |b| khc_emit::tenant_object_path(&dir, b), full)
}

/// The objects of a cluster's unit ([`convert`]).
fn cluster_objects(c: &Cluster, full: &dyn Fn(&str, &str) -> bool) -> Vec<Object> {
    convert(khc_emit::cluster_unit_objects(c), |b| khc_emit::cluster_object_path(&c.name, b), full)
}

fn describe(c: &Change) -> String {
    match (c.before.is_empty(), c.after.is_empty()) {
        (true, _) => format!("+ {}: {}", c.what, c.after),
        (_, true) => format!("- {} (was {})", c.what, c.before),
        _ => format!("~ {}: {} → {}", c.what, c.before, c.after),
    }
}

/// The changes as text.
pub fn text(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no change in security posture\n".into();
    }
    let mut s = String::new();
    for effect in [Effect::Destructive, Effect::Loosened, Effect::Tightened, Effect::Changed] {
        let these: Vec<&Change> = changes.iter().filter(|c| c.effect == effect).collect();
        if these.is_empty() {
            continue;
        }
        s.push_str(&format!("{} ({}):\n", format!("{effect:?}").to_lowercase(), these.len()));
        for c in these {
            s.push_str(&format!("  [{}] {}  ({})\n", c.category, describe(c), if c.source.is_empty() { "-" } else { &c.source }));
        }
    }
    s
}

/// The changes as Markdown, fit for a pull-request comment.
pub fn markdown(changes: &[Change]) -> String {
    let loosened = changes.iter().filter(|c| c.effect == Effect::Loosened).count();
    let tightened = changes.iter().filter(|c| c.effect == Effect::Tightened).count();
    let mut s = String::from("### khc: security posture change\n\n");
    if changes.is_empty() {
        s.push_str("No change in security posture.\n");
        return s;
    }
    let destructive = changes.iter().filter(|c| c.effect == Effect::Destructive).count();
    if destructive > 0 {
        s.push_str(&format!("**{destructive} destructive** (a namespace leaves the source: see the delete guards in the README), "));
    }
    s.push_str(&format!("**{loosened} loosened**, {tightened} tightened, {} other.\n\n", changes.len() - loosened - tightened - destructive));
    s.push_str("| effect | area | change | before | after | source |\n|---|---|---|---|---|---|\n");
    let cell = |x: &str| if x.is_empty() { "—".to_string() } else { x.replace('|', "\\|") };
    for c in changes {
        let icon = match c.effect {
            Effect::Destructive => "💥 destructive",
            Effect::Loosened => "🔓 loosened",
            Effect::Tightened => "🔒 tightened",
            Effect::Changed => "changed",
        };
        s.push_str(&format!("| {icon} | {} | {} | {} | {} | `{}` |\n", c.category, cell(&c.what), cell(&c.before), cell(&c.after), cell(&c.source)));
    }
    s
}
