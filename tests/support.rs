//! Helpers shared by the integration tests: compile a project through the real
//! salsa database, compare against golden files, and read emitted YAML.

#![warn(missing_docs)]

#[path = "support/kube.rs"]
pub mod kube;
#[path = "support/rule_fixtures.rs"]
pub mod rule_fixtures;
#[path = "support/supply.rs"]
pub mod supply;
pub mod workspace_gen;

use khc_db::{build, check, render, ColorChoice, KhcDatabase, Project};
use khc_emit::Output;
use khc_syntax::{Diagnostic, FileKey};
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Compiles the project at `path` (file or directory): the output of every entry
/// (files merged) and the diagnostics `khc check` reports — warnings the sources
/// acknowledge (`# khc: allow CODE — REASON`, as the examples do for `cni`) left out.
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
    khc_db::acknowledge::acknowledge(&project.db, &mut diags);
    diags.retain(|d| d.acknowledged.is_none());
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
    db.load_program(entry);
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

/// Every YAML file of an output that holds a Kubernetes object, parsed: not the
/// kustomizations (named `Kustomization`), the GitOps engine objects (`gitops/`) or
/// the control-plane folder.
pub fn objects(out: &Output) -> Vec<(String, serde_json::Value)> {
    out.files
        .iter()
        .filter(|f| f.path.ends_with(".yaml") && !f.path.contains("/control-plane/") && !f.path.contains("/gitops/"))
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

/// The source of tenant `i` of a generated `n`-tenant fleet (benchmarks, corpus
/// and CLI tests):
/// two namespaces, two workloads, allows to and from the neighbouring tenants'
/// APIs (tenant `i`'s api sends to `i+1`'s, which accepts it), a CIDR egress,
/// quota, limits, RBAC and admission. `variant` changes a port and the quota.
pub fn fleet_tenant(i: usize, n: usize, variant: usize) -> String {
    let (next, prev) = ((i + 1) % n, (i + n - 1) % n);
    format!(
        "tenant t{i} {{
  namespaces t{i} t{i}-jobs
  isolation strict
  workload api {{ selector {{ app \"api-{i}\" }} }}
  workload worker {{ namespace t{i}-jobs }}
  allow ingress from tenant t{prev} workload api to workload api ports 8080
  allow egress from workload api to tenant t{next} workload api ports 8080
  allow egress from workload worker to cidr 10.{b}.0.0/16 except 10.{b}.1.0/24 ports {port}
  quota {{ cpu {cpu}; memory 8Gi; pods 50 }}
  limits {{ default cpu 500m memory 512Mi; request cpu 100m memory 128Mi }}
  role deployer {{ can get list watch create update patch on deployments.apps jobs.batch }}
  grant deployer to group \"t{i}-devs\" workload worker
  admission {{ use restricted; allowed-registries \"registry.example.com/t{i}/\" }}
}}
",
        b = i % 250,
        port = 5432 + variant,
        cpu = 4 + variant,
    )
}

/// The entry file of a generated fleet of `n` tenants (cluster `bench`).
pub fn fleet_entry(n: usize) -> String {
    let mut entry = String::from("import \"std/restricted\"\n");
    for i in 0..n {
        entry.push_str(&format!("import \"t{i}.khc\"\n"));
    }
    entry.push_str("cluster bench {\n  kubernetes 1.35\n  managed-by group \"khc-appliers\"\n  encryption { provider secretbox { key k env \"K\" } }\n  admission { use host-isolation }\n}\n");
    entry
}

/// A generated fleet of `n` tenants as `(file, text)`, the entry `main.khc` first.
pub fn fleet_sources(n: usize) -> Vec<(String, String)> {
    let mut files = vec![("main.khc".to_string(), fleet_entry(n))];
    for i in 0..n {
        files.push((format!("t{i}.khc"), fleet_tenant(i, n, 0)));
    }
    files
}

/// The checked model of the multi-tenant example (one entry).
pub fn example_model() -> khc_semantics::model::Model {
    let project = Project::open(&repo_root().join("examples/multi-tenant")).expect("open example");
    let entry = *project.entries.first().expect("one entry");
    check(&project.db, entry).model.clone().expect("example checks")
}

/// Writes an output tree under a fresh temporary folder named after `tag`.
pub fn write_temp_tree(tag: &str, out: &Output) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("khc-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for f in &out.files {
        let p = dir.join(&f.path);
        std::fs::create_dir_all(p.parent().expect("files live in folders")).expect("create folder");
        std::fs::write(p, &f.contents).expect("write file");
    }
    dir
}

/// Whether `kubectl` runs here.
pub fn have_kubectl() -> bool {
    std::process::Command::new("kubectl").args(["version", "--client"]).output().is_ok_and(|o| o.status.success())
}

/// `kubectl kustomize DIR`: the rendered objects' kinds, in order.
pub fn kustomize_kinds(dir: &Path) -> Vec<String> {
    let run = std::process::Command::new("kubectl").arg("kustomize").arg(dir).output().expect("run kubectl");
    assert!(run.status.success(), "kubectl kustomize {} failed: {}", dir.display(), String::from_utf8_lossy(&run.stderr));
    String::from_utf8(run.stdout).expect("utf-8").lines().filter_map(|l| l.strip_prefix("kind: ").map(str::to_string)).collect()
}

/// Sets the value at a JSON pointer (its parent must exist); `null` removes an
/// object key. For building test objects one change at a time.
pub fn set(v: &mut serde_json::Value, pointer: &str, value: serde_json::Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() { v } else { v.pointer_mut(parent).unwrap_or_else(|| panic!("no {parent}")) };
    match target {
        serde_json::Value::Object(m) => {
            if value.is_null() {
                m.remove(key);
            } else {
                m.insert(key.to_string(), value);
            }
        }
        serde_json::Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
        _ => panic!("cannot set {pointer}"),
    }
}
