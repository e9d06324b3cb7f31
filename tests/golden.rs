//! Golden tests: the examples' whole output trees are checked in under
//! `examples/multi-tenant/generated/` and `examples/multi-cluster/generated/` and
//! must match byte for byte; error cases in
//! `tests/errors/*.khc` must render exactly the diagnostics in `*.stderr`.
//! Regenerate with `KHC_BLESS=1 cargo test -p khc-tests --test golden`.

use khc_tests::*;
use std::collections::BTreeSet;

/// Compares an example's build output with its checked-in `generated/` tree
/// (byte for byte, no extra or missing files); `KHC_BLESS=1` rewrites the tree.
fn assert_example_tree(example: &str, out: &khc_emit::Output) {
    let dir = repo_root().join("examples").join(example).join("generated");
    let mut expected_files = BTreeSet::new();
    if dir.exists() && std::env::var_os("KHC_BLESS").is_some() {
        std::fs::remove_dir_all(&dir).expect("clear generated tree");
    }
    for f in &out.files {
        assert_golden(&dir.join(&f.path), &f.contents);
        expected_files.insert(f.path.clone());
    }
    // No stale files in the checked-in tree.
    let mut on_disk = BTreeSet::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read generated tree") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                on_disk.insert(p.strip_prefix(&dir).expect("inside").to_string_lossy().replace('\\', "/"));
            }
        }
    }
    assert_eq!(on_disk, expected_files, "{example}: the checked-in tree has extra or missing files");
}

#[test]
fn example_output_matches_checked_in_tree() {
    assert_example_tree("multi-tenant", &example_output());
}

/// The multi-cluster example: two entries (`staging.khc`, `prod.khc`) sharing the
/// tenant modules, each in its own `clusters/NAME/`, with 0 diagnostics.
#[test]
fn multi_cluster_example_matches_checked_in_tree() {
    let (out, diags) = compile(&repo_root().join("examples/multi-cluster"));
    assert!(diags.is_empty(), "the multi-cluster example has diagnostics: {diags:?}");
    let clusters: BTreeSet<&str> = out.files.iter().filter_map(|f| f.path.strip_prefix("clusters/")?.split('/').next()).collect();
    assert_eq!(clusters.into_iter().collect::<Vec<_>>(), ["prod", "staging"]);
    assert_example_tree("multi-cluster", &out);
}

#[test]
fn golden_tree_covers_every_emitted_kind() {
    let out = example_output();
    let kinds: BTreeSet<String> = objects(&out).iter().map(|(_, v)| v["kind"].as_str().unwrap().to_string()).collect();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "FlowSchema",
        "PriorityLevelConfiguration",
    ] {
        assert!(kinds.contains(kind), "the example emits no {kind}");
    }
    assert!(out.files.iter().any(|f| f.path.ends_with("control-plane/encryption-config.yaml")));
}

#[test]
fn output_is_deterministic() {
    let a = example_output();
    let b = example_output();
    assert_eq!(a, b);
}

#[test]
fn every_object_points_at_its_source_line() {
    let out = example_output();
    for (path, v) in objects(&out) {
        let src = v["metadata"]["annotations"]["khc.dev/source"].as_str().unwrap_or_else(|| panic!("{path} has no khc.dev/source annotation"));
        let (file, line) = src.rsplit_once(':').expect("file:line");
        let line: usize = line.parse().expect("line number");
        let text = if let Some(std) = file.strip_prefix("std/") {
            std::fs::read_to_string(repo_root().join("stdlib").join(std)).expect("stdlib file")
        } else {
            std::fs::read_to_string(repo_root().join("examples/multi-tenant").join(file)).expect("source file")
        };
        let stmt = text.lines().nth(line - 1).unwrap_or_else(|| panic!("{path}: {src} is past the end of the file"));
        assert!(!stmt.trim().is_empty() && !stmt.trim_start().starts_with('#'), "{path}: {src} points at {stmt:?}");
    }
}

#[test]
fn error_cases_render_expected_diagnostics() {
    let dir = repo_root().join("tests/errors");
    let mut cases: Vec<_> =
        std::fs::read_dir(&dir).expect("tests/errors").map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "khc")).collect();
    cases.sort();
    assert!(cases.len() >= 8, "expected the error corpus, found {} cases", cases.len());
    for case in cases {
        let name = case.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&case).unwrap();
        let key = format!("errors/{name}");
        let (out, diags, rendered) = compile_sources(&[(&key, &text)]);
        assert!(!diags.is_empty(), "{name} produced no diagnostics");
        let wants_errors = !name.starts_with("warn-");
        assert_eq!(diags.iter().any(|d| d.is_error()), wants_errors, "{name}: errors expected = {wants_errors}");
        assert_eq!(out.is_some(), !wants_errors, "{name}: output only without errors");
        assert_golden(&case.with_extension("stderr"), &rendered);
    }
}
