//! The benchmark workspace generator produces programs that compile cleanly.

use khc_tests::workspace_gen::{digit_after, Layout, Workspace, COMMENT_MARKER, QUOTA_CPU_MARKER};
use khc_tests::{compile, compile_sources};

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("khc-gen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn fifty_tenants_on_disk_compile_without_errors_or_warnings() {
    for layout in [Layout::Nested, Layout::Flat] {
        let dir = temp(&format!("{layout:?}"));
        let ws = Workspace::new(50).with_layout(layout);
        ws.write(&dir).unwrap();
        let (out, diags) = compile(&dir);
        assert!(diags.is_empty(), "{layout:?}: {diags:#?}");
        // Every tenant's namespaces and the cluster objects are emitted.
        assert!(out.files.iter().any(|f| f.path.ends_with("tenants/t049/namespace-t049.yaml")), "{layout:?}");
        assert!(out.files.iter().any(|f| f.path.ends_with("tenants/t002/t002-data/serviceaccount-db.yaml") || f.path.contains("t002-data")), "{layout:?}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn small_workspaces_compile_without_errors_or_warnings() {
    for n in [1, 2, 3, 7, 8, 13] {
        let files = Workspace::new(n).files();
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        let (out, diags, rendered) = compile_sources(&refs);
        assert!(diags.is_empty(), "{n} tenants:\n{rendered}");
        assert!(out.is_some(), "{n} tenants");
    }
}

/// The injected warning is a `grant admin`: the built-in role's warning, and
/// (since `admin` creates Services and the tenant does not restrict their type)
/// the ExternalName one.
#[test]
fn with_warnings_every_tenant_file_has_one_risky_grant() {
    let files = Workspace::new(12).with_warnings(true).files();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let (out, diags, rendered) = compile_sources(&refs);
    assert!(out.is_some(), "{rendered}");
    assert_eq!(diags.len(), 24, "{rendered}");
    for (i, (path, _)) in files.iter().skip(1).enumerate() {
        let here: Vec<_> = diags.iter().filter(|d| *d.primary.file == **path).collect();
        assert_eq!(here.len(), 2, "tenant {i}: {rendered}");
        assert!(here.iter().all(|d| !d.is_error() && d.code == "risky"), "{rendered}");
        assert!(here.iter().any(|d| d.message.contains("built-in role `admin`")) && here.iter().any(|d| d.message.contains("ExternalName")), "{rendered}");
    }
}

#[test]
fn edit_spots_are_single_digits() {
    let ws = Workspace::new(3);
    let text = ws.tenant_source(1, 0);
    let c = digit_after(&text, COMMENT_MARKER).unwrap();
    assert_eq!(&text[c..c + 1], "0");
    assert!(text[..c].lines().count() == 1, "the comment is on the first line");
    let q = digit_after(&text, QUOTA_CPU_MARKER).unwrap();
    assert_eq!(&text[q..q + 1], "4");
    assert_eq!(&ws.tenant_source(1, 1)[q..q + 1], "5");
}
