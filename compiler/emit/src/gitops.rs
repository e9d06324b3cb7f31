//! GitOps engine objects (`khc build --gitops argocd|flux`): one engine object per
//! unit of the output — one for the cluster-scoped objects, one per tenant — written
//! to `clusters/CLUSTER/gitops/`, which then becomes the cluster's entry point
//! ("app of apps"): pointing an engine at `clusters/CLUSTER` creates the engine
//! objects, and each of them renders and applies one small unit on its own.
//!
//! * Argo CD: an `argoproj.io/v1alpha1` `Application` per unit, automated sync with
//!   `prune` and `selfHeal`, the cluster unit in sync-wave `0` and tenant units in
//!   wave `1`, so cluster-scoped objects are applied before tenant objects (within a
//!   tenant unit Argo CD applies Namespaces before the objects in them).
//! * Flux: a `kustomize.toolkit.fluxcd.io/v1` `Kustomization` per unit with
//!   `prune: true`; tenant units `dependsOn` the cluster unit, which has `wait: true`.
//!   With `--gitops-repo`, a `source.toolkit.fluxcd.io/v1` `GitRepository` is written
//!   too; without it the units use the `flux-system` GitRepository that
//!   `flux bootstrap` creates for the repository.
//!
//! The objects are validated against the engines' published CRD schemas in
//! `tests/gitops.rs`.

use crate::{cluster_root, cluster_unit_dir, document, file_name, kustomization, objects, tenant_dir, OutputFile, KUSTOMIZATION_FILE};
use khc_semantics::model::{Model, Origin};
use serde_json::{json, Value};

/// The GitOps engine to emit objects for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Argo CD `Application`s.
    ArgoCd,
    /// Flux `Kustomization`s.
    Flux,
}

/// Where the engine finds the generated tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitOps {
    /// The engine.
    pub engine: Engine,
    /// Git repository URL holding the output (required for Argo CD; for Flux, a
    /// GitRepository is emitted when given).
    pub repo: Option<String>,
    /// Branch, tag or commit (default `HEAD` for Argo CD, branch `main` for Flux).
    pub revision: Option<String>,
    /// Folder of the output directory inside the repository (default: the root).
    pub path: String,
}

/// Namespace of Argo CD's Application objects.
pub const ARGOCD_NAMESPACE: &str = "argocd";
/// Namespace of Flux's objects.
pub const FLUX_NAMESPACE: &str = "flux-system";
/// The GitRepository `flux bootstrap` creates for the repository it manages.
pub const FLUX_BOOTSTRAP_SOURCE: &str = "flux-system";

impl GitOps {
    /// Checks the options: `Err` is a message for the user.
    pub fn validate(&self) -> Result<(), String> {
        if self.engine == Engine::ArgoCd && self.repo.is_none() {
            return Err("--gitops argocd needs --gitops-repo URL (the Git repository that holds the output)".into());
        }
        if self.engine == Engine::Flux && self.repo.is_none() && self.revision.is_some() {
            return Err(format!(
                "--gitops-revision needs --gitops-repo with --gitops flux (without it the units use the `{FLUX_BOOTSTRAP_SOURCE}` GitRepository and its revision)"
            ));
        }
        if let Some(repo) = &self.repo {
            if repo.trim().is_empty() || repo.chars().any(char::is_whitespace) {
                return Err(format!("--gitops-repo `{repo}` is not a repository URL"));
            }
            // Flux's GitRepository accepts only these schemes (its CRD's `url` pattern).
            if self.engine == Engine::Flux && !["http://", "https://", "ssh://"].iter().any(|s| repo.starts_with(s)) {
                return Err(format!("--gitops-repo `{repo}`: Flux needs an http://, https:// or ssh:// URL (e.g. ssh://git@host/org/repo.git)"));
            }
        }
        // Written into YAML and shown in messages: a control character (a newline, an
        // escape sequence) has no place in a path or a revision.
        if let Some(rev) = self.revision.as_ref().filter(|r| r.is_empty() || r.chars().any(|c| c.is_control() || c.is_whitespace())) {
            return Err(format!("--gitops-revision {rev:?} is not a branch, tag or commit (empty, or holds spaces or control characters)"));
        }
        if self.path.chars().any(char::is_control) {
            return Err(format!("--gitops-path {:?} holds a control character", self.path));
        }
        if self.path.split('/').any(|seg| seg == "..") {
            return Err(format!("--gitops-path `{}` must not contain `..`", self.path));
        }
        Ok(())
    }

    /// The path of `dir` (relative to the output directory) inside the repository.
    fn repo_path(&self, dir: &str) -> String {
        let prefix = self.path.trim_matches('/');
        if prefix.is_empty() || prefix == "." {
            dir.to_string()
        } else {
            format!("{prefix}/{dir}")
        }
    }
}

/// One unit of the output: a folder applied on its own.
struct Unit<'a> {
    /// Engine object name.
    name: String,
    /// Folder relative to the output directory.
    dir: String,
    tenant: Option<&'a str>,
    origin: &'a Origin,
}

/// The units of a model: the cluster unit (only when it has objects, see
/// [`crate::emit_cluster`]) and every tenant's.
fn units(model: &Model) -> Vec<Unit<'_>> {
    let c = &model.cluster;
    let mut units = Vec::new();
    if has_cluster_unit(model) {
        units.push(Unit { name: c.name.clone(), dir: cluster_unit_dir(&c.name), tenant: None, origin: &c.origin });
    }
    for t in &model.tenants {
        units.push(Unit { name: format!("{}-{}", c.name, t.name), dir: tenant_dir(&c.name, &t.name), tenant: Some(&t.name), origin: &t.origin });
    }
    units
}

/// Whether the cluster has a unit of cluster-scoped objects.
fn has_cluster_unit(model: &Model) -> bool {
    !crate::cluster_unit_objects(&model.cluster).is_empty()
}

fn metadata(name: &str, namespace: &str, tenant: Option<&str>, origin: &Origin, extra_annotations: &[(&str, &str)]) -> Value {
    let mut labels = json!({ objects::MANAGED_BY.0: objects::MANAGED_BY.1 });
    if let Some(t) = tenant {
        labels[objects::TENANT_LABEL] = json!(t);
    }
    let mut annotations = json!({ objects::SOURCE_ANNOTATION: origin.to_string() });
    for (k, v) in extra_annotations {
        annotations[*k] = json!(v);
    }
    json!({ "name": name, "namespace": namespace, "labels": labels, "annotations": annotations })
}

fn argocd_application(opts: &GitOps, u: &Unit<'_>) -> Value {
    let wave = if u.tenant.is_some() { "1" } else { "0" };
    let mut meta = metadata(&u.name, ARGOCD_NAMESPACE, u.tenant, u.origin, &[("argocd.argoproj.io/sync-wave", wave)]);
    // Deleting the Application deletes its objects too.
    meta["finalizers"] = json!(["resources-finalizer.argocd.argoproj.io"]);
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": meta,
        "spec": {
            "project": "default",
            "source": {
                "repoURL": opts.repo.as_deref().unwrap_or_default(),
                "targetRevision": opts.revision.as_deref().unwrap_or("HEAD"),
                "path": opts.repo_path(&u.dir),
            },
            "destination": { "server": "https://kubernetes.default.svc" },
            "syncPolicy": {
                "automated": { "prune": true, "selfHeal": true },
                "retry": { "limit": 5, "backoff": { "duration": "5s", "factor": 2, "maxDuration": "3m" } },
            },
        },
    })
}

fn flux_source_name(model: &Model, opts: &GitOps) -> String {
    if opts.repo.is_some() {
        format!("khc-{}", model.cluster.name)
    } else {
        FLUX_BOOTSTRAP_SOURCE.to_string()
    }
}

fn flux_kustomization(model: &Model, opts: &GitOps, u: &Unit<'_>) -> Value {
    let mut spec = json!({
        "interval": "10m",
        "retryInterval": "1m",
        "timeout": "5m",
        "path": format!("./{}", opts.repo_path(&u.dir)),
        "prune": true,
        "sourceRef": { "kind": "GitRepository", "name": flux_source_name(model, opts) },
    });
    if u.tenant.is_some() {
        if has_cluster_unit(model) {
            spec["dependsOn"] = json!([{ "name": model.cluster.name }]);
        }
    } else {
        // Tenant units wait until every cluster-scoped object is applied and ready.
        spec["wait"] = json!(true);
    }
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": metadata(&u.name, FLUX_NAMESPACE, u.tenant, u.origin, &[]),
        "spec": spec,
    })
}

fn flux_git_repository(model: &Model, opts: &GitOps) -> Value {
    let revision = opts.revision.as_deref().unwrap_or("main");
    let reference = if revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        json!({ "commit": revision })
    } else if revision.starts_with("refs/") {
        json!({ "name": revision })
    } else {
        json!({ "branch": revision })
    };
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": metadata(&flux_source_name(model, opts), FLUX_NAMESPACE, None, &model.cluster.origin, &[]),
        "spec": { "interval": "5m", "url": opts.repo.as_deref().unwrap_or_default(), "ref": reference },
    })
}

fn file(dir: &str, kind: &'static str, v: &Value, origin: &Origin) -> OutputFile {
    let b = objects::Built {
        kind,
        name: v["metadata"]["name"].as_str().expect("engine objects are named").to_string(),
        namespace: None,
        origin: origin.clone(),
        body: Box::new(objects::ValueBody(v.clone())),
    };
    OutputFile { path: format!("{dir}/{}", file_name(&b)), contents: document(&b) }
}

/// The engine objects of a model, under `clusters/CLUSTER/gitops/`, with that
/// folder's kustomization.
pub fn engine_files(model: &Model, opts: &GitOps) -> Vec<OutputFile> {
    let dir = format!("{}/gitops", cluster_root(&model.cluster.name));
    let mut files = Vec::new();
    if opts.engine == Engine::Flux && opts.repo.is_some() {
        files.push(file(&dir, "GitRepository", &flux_git_repository(model, opts), &model.cluster.origin));
    }
    for u in units(model) {
        let f = match opts.engine {
            Engine::ArgoCd => file(&dir, "Application", &argocd_application(opts, &u), u.origin),
            Engine::Flux => file(&dir, "Kustomization", &flux_kustomization(model, opts, &u), u.origin),
        };
        files.push(f);
    }
    let mut names: Vec<String> = files.iter().map(|f| f.path.rsplit('/').next().expect("file name").to_string()).collect();
    names.sort();
    files.push(OutputFile { path: format!("{dir}/{KUSTOMIZATION_FILE}"), contents: kustomization(&model.cluster.origin.to_string(), &names) });
    files
}

/// Adds the engine objects of `model` to its emitted `files` and makes
/// `clusters/CLUSTER/gitops` the cluster's entry point (instead of the cluster unit,
/// which its engine object now applies). Keeps `files` sorted by path.
pub fn apply(files: &mut Vec<OutputFile>, model: &Model, opts: &GitOps) {
    let entry = entry_point(model);
    match files.iter_mut().find(|f| f.path == entry.path) {
        Some(f) => f.contents = entry.contents,
        None => files.push(entry),
    }
    files.extend(engine_files(model, opts));
    files.sort_by(|a, b| a.path.cmp(&b.path));
}

/// The cluster's entry point with GitOps engine objects: a kustomization listing
/// `gitops/` only. It replaces the file of the same path [`crate::emit_cluster`] writes.
pub fn entry_point(model: &Model) -> OutputFile {
    let root = cluster_root(&model.cluster.name);
    OutputFile { path: format!("{root}/{KUSTOMIZATION_FILE}"), contents: kustomization(&model.cluster.origin.to_string(), &["gitops".to_string()]) }
}
