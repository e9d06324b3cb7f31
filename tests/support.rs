//! Helpers shared by the integration tests: compile a project through the real
//! salsa database, compare against golden files, and read emitted YAML.

#![warn(missing_docs)]

#[path = "support/cel_eval.rs"]
pub mod cel_eval;
#[path = "support/kube.rs"]
pub mod kube;
#[path = "support/network.rs"]
pub mod network;
#[path = "support/rbac.rs"]
pub mod rbac;

use khc_db::{build, check, render, ColorChoice, KhcDatabase, Project};
use khc_emit::Output;
use khc_syntax::{Diagnostic, FileKey};
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Compiles the project at `path` (file or directory): the output of every entry
/// (files merged) and all diagnostics.
pub fn compile(path: &Path) -> (Output, Vec<Diagnostic>) {
    let project = Project::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut files = Vec::new();
    let mut diags = Vec::new();
    for &entry in &project.entries {
        diags.extend(check(&project.db, entry).diagnostics.iter().cloned());
        if let Some(out) = build(&project.db, entry) {
            files.extend(out.files.iter().cloned());
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    (Output { files }, diags)
}

/// Compiles source text given as `(key, text)` files; the first is the entry.
/// Returns the output (if no errors), the diagnostics and the rendered diagnostics.
pub fn compile_sources(files: &[(&str, &str)]) -> (Option<Output>, Vec<Diagnostic>, String) {
    let mut db = KhcDatabase::new("");
    let mut entry = None;
    for (key, text) in files {
        let f = db.set_text(&FileKey::from(*key), text.to_string());
        entry.get_or_insert(f);
    }
    let entry = entry.expect("at least one file");
    let diags = check(&db, entry).diagnostics.clone();
    let out = build(&db, entry).clone();
    let rendered = render(&db, &diags, ColorChoice::Never);
    (out, diags, rendered)
}

/// Compiles the multi-tenant example.
pub fn example_output() -> Output {
    let (out, diags) = compile(&repo_root().join("examples/multi-tenant"));
    assert!(diags.iter().all(|d| !d.is_error()), "example has errors: {diags:?}");
    assert!(!out.files.is_empty(), "example produced no files");
    out
}

/// Every YAML file of an output that holds a Kubernetes object (not kustomizations,
/// not the control-plane folder), parsed.
pub fn objects(out: &Output) -> Vec<(String, serde_json::Value)> {
    out.files
        .iter()
        .filter(|f| f.path.ends_with(".yaml") && !f.path.ends_with("kustomization.yaml") && !f.path.contains("/control-plane/"))
        .map(|f| {
            let v: serde_json::Value = serde_yaml_ng::from_str(&f.contents).unwrap_or_else(|e| panic!("{} is not YAML: {e}", f.path));
            (f.path.clone(), v)
        })
        .collect()
}

/// The objects of one kind.
pub fn of_kind<'a>(objs: &'a [(String, serde_json::Value)], kind: &str) -> Vec<&'a serde_json::Value> {
    objs.iter().filter(|(_, v)| v["kind"] == kind).map(|(_, v)| v).collect()
}

/// Compares `actual` with the golden file at `path`; with `KHC_BLESS=1` rewrites it.
pub fn assert_golden(path: &Path, actual: &str) {
    if std::env::var_os("KHC_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("golden files live in a folder")).expect("create golden folder");
        std::fs::write(path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| panic!("missing golden file {}; run with KHC_BLESS=1 to create it", path.display()));
    if expected != actual {
        let diff_line = expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output at line {}\n--- expected: {:?}\n+++ actual:   {:?}\n(run with KHC_BLESS=1 to accept the new output)",
            path.display(),
            diff_line + 1,
            expected.lines().nth(diff_line),
            actual.lines().nth(diff_line)
        );
    }
}
