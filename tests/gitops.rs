//! The output's units and the GitOps engine objects (README, "Output layout" and
//! "Using the output with Argo CD, Flux or kubectl"):
//! * the cluster entry point holds only the cluster unit; every tenant is a unit of
//!   its own; `kubectl kustomize` renders each; `kubectl apply -R -f` (emulated: the
//!   files kubectl would read, in its order) sees only objects, Namespaces first;
//! * `--gitops argocd|flux` objects: one per unit, ordering and pruning, paths that
//!   exist, and strict validation against the engines' published CRD schemas
//!   (`tests/fixtures/crds/`, Python `jsonschema`; skipped with a message when absent).

use khc_emit::gitops::{self, Engine, GitOps};
use khc_emit::Output;
use khc_tests::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;

const REPO: &str = "https://git.example.com/platform/gitops.git";

fn argocd() -> GitOps {
    GitOps { engine: Engine::ArgoCd, repo: Some(REPO.into()), revision: Some("main".into()), path: "deploy/out/".into() }
}

fn flux(repo: bool) -> GitOps {
    GitOps { engine: Engine::Flux, repo: repo.then(|| REPO.to_string()), revision: repo.then(|| "release".to_string()), path: "deploy/out".into() }
}

fn with_gitops(opts: &GitOps) -> Output {
    opts.validate().expect("valid options");
    let mut out = example_output();
    gitops::apply(&mut out.files, &example_model(), opts);
    out
}

fn parse(contents: &str) -> Value {
    serde_yaml_ng::from_str(contents).expect("YAML")
}

fn resources_of(out: &Output, path: &str) -> Vec<String> {
    let f = out.files.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("no {path}"));
    parse(&f.contents)["resources"].as_array().expect("resources").iter().map(|r| r.as_str().unwrap().to_string()).collect()
}

fn tenants() -> Vec<String> {
    example_model().tenants.iter().map(|t| t.name.clone()).collect()
}

/// Engine objects of an output, parsed.
fn engine_objects(out: &Output) -> Vec<(String, Value)> {
    out.files.iter().filter(|f| f.path.contains("/gitops/") && f.path.ends_with(".yaml")).map(|f| (f.path.clone(), parse(&f.contents))).collect()
}

#[test]
fn the_entry_point_holds_only_the_cluster_unit_and_every_tenant_is_a_unit() {
    let out = example_output();
    assert_eq!(resources_of(&out, "clusters/prod-eu/Kustomization"), ["cluster"]);
    let paths: BTreeSet<&str> = out.files.iter().map(|f| f.path.as_str()).collect();
    assert!(!paths.iter().any(|p| p.ends_with("kustomization.yaml")), "kustomizations are named `Kustomization`");
    assert!(!paths.contains("clusters/prod-eu/tenants/Kustomization"), "no kustomization over every tenant");
    for t in tenants() {
        let unit = format!("clusters/prod-eu/tenants/{t}/Kustomization");
        assert!(paths.contains(unit.as_str()), "{unit} missing");
    }
    // Every listed resource exists: a file, or a folder with its own kustomization.
    for f in out.files.iter().filter(|f| f.path.ends_with("/Kustomization")) {
        let dir = f.path.strip_suffix("/Kustomization").unwrap();
        for r in resources_of(&out, &f.path) {
            let p = format!("{dir}/{r}");
            assert!(paths.contains(p.as_str()) || paths.contains(format!("{p}/Kustomization").as_str()), "{}: {r} does not exist", f.path);
        }
    }
}

/// The files `kubectl apply -R -f DIR` reads, in its order: cli-runtime walks the
/// tree in lexical order (filepath.Walk) and reads only `.json`, `.yaml` and `.yml`.
fn kubectl_walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            kubectl_walk(&p, files);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json") {
            files.push(p);
        }
    }
}

#[test]
fn kubectl_apply_recursive_reads_only_objects_with_namespaces_first() {
    let out = example_output();
    let dir = write_temp_tree("apply-r", &out);
    let cluster = dir.join("clusters/prod-eu");
    let mut files = Vec::new();
    for sub in ["cluster", "tenants"] {
        kubectl_walk(&cluster.join(sub), &mut files);
    }
    assert_eq!(files.len(), objects(&out).len(), "kubectl would read exactly the object files");
    let mut created_namespaces = BTreeSet::new();
    let declared: BTreeSet<String> =
        objects(&out).iter().filter(|(_, v)| v["kind"] == "Namespace").map(|(_, v)| v["metadata"]["name"].as_str().unwrap().to_string()).collect();
    for f in &files {
        let v = parse(&std::fs::read_to_string(f).unwrap());
        assert!(v["apiVersion"].is_string() && v["kind"].is_string() && v["metadata"]["name"].is_string(), "{} is not an object", f.display());
        assert_ne!(v["apiVersion"], "kustomize.config.k8s.io/v1beta1", "{} is a kustomization", f.display());
        if v["kind"] == "Namespace" {
            created_namespaces.insert(v["metadata"]["name"].as_str().unwrap().to_string());
        }
        if let Some(ns) = v["metadata"]["namespace"].as_str() {
            if declared.contains(ns) {
                assert!(created_namespaces.contains(ns), "{} is read before its Namespace {ns}", f.display());
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn kubectl_kustomize_renders_each_unit_and_the_gitops_entry_points() {
    if !have_kubectl() {
        eprintln!("SKIPPED kubectl_kustomize_renders_each_unit_and_the_gitops_entry_points: kubectl is not installed on this machine");
        return;
    }
    let n = tenants().len();
    for (opts, kinds) in [
        (argocd(), vec![("Application", n + 1)]),
        (flux(false), vec![("Kustomization", n + 1)]),
        (flux(true), vec![("Kustomization", n + 1), ("GitRepository", 1)]),
    ] {
        let out = with_gitops(&opts);
        let dir = write_temp_tree("gitops-kustomize", &out);
        let rendered = kustomize_kinds(&dir.join("clusters/prod-eu"));
        for (kind, count) in kinds {
            assert_eq!(rendered.iter().filter(|k| *k == kind).count(), count, "{:?}: {kind}", opts.engine);
        }
        assert_eq!(rendered.len(), engine_objects(&out).len(), "{:?}: the entry point renders the engine objects only", opts.engine);
        // Every unit an engine object points at renders.
        for (_, v) in engine_objects(&out) {
            let path = v["spec"]["source"]["path"].as_str().or(v["spec"]["path"].as_str()).map(|p| p.trim_start_matches("./").to_string());
            if let Some(p) = path {
                let rel = p.strip_prefix("deploy/out/").unwrap_or_else(|| panic!("{p} is not under --gitops-path"));
                assert!(!kustomize_kinds(&dir.join(rel)).is_empty(), "{rel} renders nothing");
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn argocd_applications_one_per_unit_cluster_first_with_pruning() {
    let out = with_gitops(&argocd());
    assert_eq!(resources_of(&out, "clusters/prod-eu/Kustomization"), ["gitops"]);
    let apps = engine_objects(&out);
    assert_eq!(apps.len(), tenants().len() + 1);
    let mut dirs = BTreeSet::new();
    for (path, a) in &apps {
        assert_eq!(a["kind"], "Application", "{path}");
        assert_eq!(a["metadata"]["namespace"], "argocd");
        let spec = &a["spec"];
        assert_eq!(spec["source"]["repoURL"], REPO);
        assert_eq!(spec["source"]["targetRevision"], "main");
        assert_eq!(spec["syncPolicy"]["automated"]["prune"], true, "{path}: pruning");
        let dir = spec["source"]["path"].as_str().unwrap().strip_prefix("deploy/out/").expect("under --gitops-path").to_string();
        assert!(out.files.iter().any(|f| f.path == format!("{dir}/Kustomization")), "{path}: {dir} is not a unit");
        let wave = a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"].as_str().unwrap();
        assert_eq!(wave, if dir.ends_with("/cluster") { "0" } else { "1" }, "{path}: cluster objects sync before tenants");
        dirs.insert(dir);
    }
    assert!(dirs.contains("clusters/prod-eu/cluster"));
    for t in tenants() {
        assert!(dirs.contains(&format!("clusters/prod-eu/tenants/{t}")), "no Application for tenant {t}");
    }
    validate_all("argocd-application.yaml", &apps);
}

#[test]
fn flux_kustomizations_one_per_unit_depending_on_the_cluster_unit() {
    for repo in [false, true] {
        let out = with_gitops(&flux(repo));
        let objs = engine_objects(&out);
        let ks: Vec<_> = objs.iter().filter(|(_, v)| v["kind"] == "Kustomization").cloned().collect();
        let sources: Vec<_> = objs.iter().filter(|(_, v)| v["kind"] == "GitRepository").cloned().collect();
        assert_eq!(ks.len(), tenants().len() + 1);
        assert_eq!(sources.len(), usize::from(repo));
        let source_name = if repo { "khc-prod-eu" } else { "flux-system" };
        for (path, k) in &ks {
            assert_eq!(k["metadata"]["namespace"], "flux-system");
            assert_eq!(k["spec"]["prune"], true, "{path}: pruning");
            assert_eq!(k["spec"]["sourceRef"], json!({ "kind": "GitRepository", "name": source_name }));
            let dir = k["spec"]["path"].as_str().unwrap().strip_prefix("./deploy/out/").expect("under --gitops-path").to_string();
            assert!(out.files.iter().any(|f| f.path == format!("{dir}/Kustomization")), "{path}: {dir} is not a unit");
            if dir.ends_with("/cluster") {
                assert_eq!(k["spec"]["wait"], true);
                assert!(k["spec"].get("dependsOn").is_none());
            } else {
                assert_eq!(k["spec"]["dependsOn"], json!([{ "name": "prod-eu" }]), "{path}: tenants after cluster objects");
            }
        }
        if repo {
            let s = &sources[0].1;
            assert_eq!(s["spec"]["url"], REPO);
            assert_eq!(s["spec"]["ref"], json!({ "branch": "release" }));
            validate_all("flux-gitrepository.yaml", &sources);
        }
        validate_all("flux-kustomization.yaml", &ks);
    }
}

#[test]
fn strict_validation_rejects_unknown_and_mistyped_fields() {
    let out = with_gitops(&argocd());
    let (path, app) = engine_objects(&out).remove(0);
    let mut unknown = app.clone();
    unknown["spec"]["syncPolicy"]["automated"]["prunne"] = json!(true);
    let mut mistyped = app.clone();
    mistyped["spec"]["syncPolicy"]["automated"]["prune"] = json!("yes");
    let mut missing = app;
    missing["spec"].as_object_mut().unwrap().remove("project");
    for doc in [unknown, mistyped, missing] {
        if let Some(errors) = validate("argocd-application.yaml", &[(path.clone(), doc)]) {
            assert!(!errors.is_empty(), "an invalid Application passed validation");
        }
    }
    let out = with_gitops(&flux(false));
    let (path, mut k) = engine_objects(&out).remove(0);
    k["spec"]["interval"] = json!("ten minutes");
    if let Some(errors) = validate("flux-kustomization.yaml", &[(path, k)]) {
        assert!(!errors.is_empty(), "a bad interval passed validation");
    }
}

#[test]
fn options_are_checked() {
    let mut o = argocd();
    o.repo = None;
    assert!(o.validate().unwrap_err().contains("--gitops-repo"));
    let mut o = flux(true);
    o.repo = Some("git@github.com:org/repo.git".into());
    assert!(o.validate().unwrap_err().contains("ssh://"));
    let mut o = flux(false);
    o.revision = Some("main".into());
    assert!(o.validate().is_err());
    let mut o = argocd();
    o.path = "../x".into();
    assert!(o.validate().is_err());
    assert!(flux(false).validate().is_ok() && flux(true).validate().is_ok() && argocd().validate().is_ok());
    // #25 item 16: control characters in --gitops-path / --gitops-revision.
    for bad in ["deploy\nout", "deploy/\u{1b}[2Jout", "a\rb", "x\u{7f}"] {
        let mut o = argocd();
        o.path = bad.into();
        assert!(o.validate().unwrap_err().contains("--gitops-path"), "{bad:?}");
        let mut o = argocd();
        o.revision = Some(bad.into());
        assert!(o.validate().unwrap_err().contains("--gitops-revision"), "{bad:?}");
        let mut o = flux(true);
        o.revision = Some(bad.into());
        assert!(o.validate().is_err(), "{bad:?}");
    }
}

// ---------------------------------------------------------------------------
// Strict validation against the CRD schemas.

/// The fixture's `openAPIV3Schema`, made strict: every object node that lists its
/// properties rejects others (as `kubectl --validate=strict` and the API server's
/// field validation do), unless it preserves unknown fields.
fn strict_schema(file: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/crds").join(file)).expect("CRD fixture");
    let crd: Value = serde_yaml_ng::from_str(&text).expect("CRD parses");
    let mut schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    fn strict(s: &mut Value) {
        match s {
            Value::Object(obj) => {
                if obj.contains_key("properties")
                    && !obj.contains_key("additionalProperties")
                    && obj.get("x-kubernetes-preserve-unknown-fields") != Some(&json!(true))
                {
                    obj.insert("additionalProperties".into(), json!(false));
                }
                obj.values_mut().for_each(strict);
            }
            Value::Array(a) => a.iter_mut().for_each(strict),
            _ => {}
        }
    }
    strict(&mut schema);
    schema
}

const VALIDATOR: &str = r#"
import json, sys
try:
    import jsonschema
except ImportError:
    sys.exit(3)
schema = json.load(open(sys.argv[1]))
docs = json.load(open(sys.argv[2]))
v = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
errors = [f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for name, doc in docs for e in v.iter_errors(doc)]
print(json.dumps(errors))
"#;

/// Validates documents against a fixture's schema: the errors, or `None` (with a
/// message) when Python's jsonschema is not available.
fn validate(file: &str, docs: &[(String, Value)]) -> Option<Vec<String>> {
    let dir = std::env::temp_dir().join(format!("khc-crd-{}-{file}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("schema.json"), strict_schema(file).to_string()).unwrap();
    std::fs::write(dir.join("docs.json"), serde_json::to_string(docs).unwrap()).unwrap();
    let python = std::env::var("KHC_PYTHON").unwrap_or_else(|_| "python3".into());
    let run = std::process::Command::new(&python).arg("-c").arg(VALIDATOR).arg(dir.join("schema.json")).arg(dir.join("docs.json")).output();
    std::fs::remove_dir_all(&dir).ok();
    match run {
        Ok(o) if o.status.success() => Some(serde_json::from_slice(&o.stdout).expect("validator output")),
        Ok(o) if o.status.code() == Some(3) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CRD validation needs Python's jsonschema (scripts/setup/10-kubernetes-validate.sh sets KHC_PYTHON)"
            );
            eprintln!("SKIPPED CRD validation against {file}: the Python package jsonschema is not installed");
            None
        }
        Ok(o) => panic!("validator failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "cannot run {python}: {e}");
            eprintln!("SKIPPED CRD validation against {file}: cannot run {python}: {e}");
            None
        }
    }
}

fn validate_all(file: &str, docs: &[(String, Value)]) {
    for (path, doc) in docs {
        let meta = doc["metadata"].as_object().expect("metadata");
        for key in meta.keys() {
            assert!(["name", "namespace", "labels", "annotations", "finalizers"].contains(&key.as_str()), "{path}: metadata.{key}");
        }
        let name = meta["name"].as_str().unwrap();
        assert!(name.len() <= 253 && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'), "{path}: name {name}");
    }
    if let Some(errors) = validate(file, docs) {
        assert!(errors.is_empty(), "{file}:\n{}", errors.join("\n"));
    }
}
