//! Validates every emitted object against the official Kubernetes OpenAPI schemas
//! in strict mode (unknown fields are errors), for the oldest supported version
//! (1.30) and the newest bundled one, using the `kubernetes-validate` tool.
//!
//! The tool comes from PyPI (`.ci/run` installs it into a virtualenv and sets
//! `KHC_KUBERNETES_VALIDATE`); without it the test prints SKIPPED.

use khc_emit::Output;
use khc_tests::*;
use std::path::PathBuf;
use std::process::Command;

fn validator() -> Option<PathBuf> {
    let path = std::env::var_os("KHC_KUBERNETES_VALIDATE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("kubernetes-validate"));
    Command::new(&path).arg("--version").output().ok().filter(|o| o.status.success()).map(|_| path)
}

/// Outputs to validate: the example and every warning-only case of the error corpus
/// (those compile, and exercise wildcards, aescbc, identity, privileged levels…).
fn outputs() -> Vec<(String, Output)> {
    let mut all = vec![("example".to_string(), example_output())];
    let dir = repo_root().join("tests/errors");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("warn-") && p.extension().is_some_and(|e| e == "khc"))
        .collect();
    cases.sort();
    for case in cases {
        let name = case.file_name().unwrap().to_str().unwrap().to_string();
        let (out, diags, _) = compile_sources(&[(&name, &std::fs::read_to_string(&case).unwrap())]);
        all.push((name.clone(), out.unwrap_or_else(|| panic!("{name} should compile: {diags:?}"))));
    }
    all
}

#[test]
fn every_object_validates_against_kubernetes_schemas() {
    let Some(tool) = validator() else {
        eprintln!("SKIPPED every_object_validates_against_kubernetes_schemas: kubernetes-validate is not installed (see .ci/run)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("khc-schema-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut files = Vec::new();
    for (name, out) in outputs() {
        for (i, (path, _)) in objects(&out).iter().enumerate() {
            let f = out.files.iter().find(|f| &f.path == path).unwrap();
            let target = dir.join(format!("{name}-{i:03}.yaml"));
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(&target, &f.contents).unwrap();
            files.push(target);
        }
    }
    assert!(files.len() > 70);
    for version in [Some("1.30.0"), None] {
        let mut cmd = Command::new(&tool);
        cmd.arg("--strict").arg("--quiet");
        if let Some(v) = version {
            cmd.arg("-k").arg(v);
        }
        let run = cmd.args(&files).output().expect("run kubernetes-validate");
        let report = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
        assert!(run.status.success() && !report.contains("ERROR"), "schema validation failed for Kubernetes {}:\n{report}", version.unwrap_or("latest"));
    }
    std::fs::remove_dir_all(&dir).ok();
}
