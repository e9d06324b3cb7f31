//! Issue 24, item 2: `khc diff` holds both versions in one database and compares
//! the posture unit by unit (`khc_analysis::diff::load_versions`,
//! `compare_programs`). The old path — two full compiles and the whole posture
//! of each (`Workspace::load` twice, `compare`) — is the oracle: on the
//! examples and on generated programs with edits from a table and random ones
//! (in tenants, across tenants, in the cluster, tenants added and removed,
//! edits that break the program), both give the same changes, in both
//! directions, or both refuse. `khc diff --against REV` (`load_against` with
//! the revision read from git, `khc_db::git::GitTree`) is held to the same
//! oracle on generated programs committed in a git repository and edited in
//! the work tree.

use khc_analysis::diff::{compare, compare_programs, load_against, load_versions, Change};
use khc_analysis::Workspace;
use khc_tests::repo_root;
use khc_tests::workspace_gen::{Layout, Workspace as Gen};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

/// The changes from `old` to `new` both ways, or the error of each side.
fn both_ways(old: &Path, new: &Path) -> (Result<Vec<Change>, String>, Result<Vec<Change>, String>) {
    let full = match (Workspace::load(old), Workspace::load(new)) {
        (Ok(a), Ok(b)) => Ok(compare(&a, &b)),
        (a, b) => Err(format!("{:?} {:?}", a.err(), b.err())),
    };
    let incremental = match load_versions(old, new, drop) {
        (Ok(a), Ok(b)) => Ok(compare_programs(&a, &b)),
        (a, b) => Err(format!("{:?} {:?}", a.err(), b.err())),
    };
    (full, incremental)
}

/// Asserts the incremental diff equals the full one from `old` to `new` and
/// back; the number of changes (`None` when both refuse).
fn assert_same(old: &Path, new: &Path, what: &str) -> Option<usize> {
    let mut n = Some(0);
    for (a, b) in [(old, new), (new, old)] {
        match both_ways(a, b) {
            (Ok(full), Ok(incremental)) => {
                assert_eq!(incremental, full, "{what}: {} → {}", a.display(), b.display());
                n = n.map(|n| n + full.len());
            }
            (Err(_), Err(_)) => n = None,
            (full, incremental) => panic!("{what}: {} → {}: the full diff {full:?}, the incremental one {incremental:?}", a.display(), b.display()),
        }
    }
    n
}

/// Copies the `.khc` files of `from` into a fresh `to`.
fn copy_tree(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    for e in std::fs::read_dir(from).expect("read dir") {
        let p = e.expect("entry").path();
        let dest = to.join(p.file_name().expect("name"));
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "generated") {
                copy_tree(&p, &dest);
            }
        } else if p.extension().is_some_and(|x| x == "khc") {
            std::fs::create_dir_all(to).expect("mkdir");
            std::fs::copy(&p, &dest).expect("copy");
        }
    }
}

/// One edit of a file: replace the first `from` with `to` (an insertion when
/// `from` ends the file's tenant block).
fn edit(dir: &Path, file: &str, from: &str, to: &str) -> bool {
    let path = dir.join(file);
    let Ok(text) = std::fs::read_to_string(&path) else { return false };
    if !text.contains(from) {
        return false;
    }
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    true
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("khc-incremental-diff-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// One edit: `(file, from, to)`, see [`edit`].
type Edit<'a> = (&'a str, &'a str, &'a str);

/// The examples, each against a table of edits: inside a tenant (a port, a
/// level, a grant, a token), across tenants (an `allow` another tenant's
/// policies answer), in the cluster (the full comparison's fallback), and in
/// the multi-cluster example (tenants of the same name in two programs).
#[test]
fn examples_with_edits_diff_as_two_full_compiles() {
    let base = scratch("examples");
    let mt = "examples/multi-tenant";
    let table: &[(&str, &[Edit])] = &[
        (mt, &[("tenants/payments.khc", "ports 8443", "ports 8443 8444")]),
        (mt, &[("tenants/payments.khc", "pod-security restricted", "pod-security baseline")]),
        (mt, &[("tenants/payments.khc", "grant view to group \"oidc:payments-auditors\"", "grant edit to group \"oidc:payments-auditors\"")]),
        (mt, &[("tenants/payments.khc", "  api-share 20\n", "  api-share 20\n  grant deployer to group \"system:authenticated\"\n")]),
        (mt, &[("tenants/monitoring.khc", "to tenant payments workload api ports 9090", "to tenant payments workload api ports 9090 9091")]),
        (
            mt,
            &[
                ("tenants/payments.khc", "to workload api ports 9090", "to workload api ports 9090 9091"),
                ("tenants/monitoring.khc", "workload api ports 9090", "workload api ports 9090 9091"),
            ],
        ),
        (mt, &[("tenants/monitoring.khc", "automount-token true", "automount-token false")]),
        (mt, &[("tenants/monitoring.khc", "isolation tenant", "isolation strict")]),
        (mt, &[("tenants/monitoring.khc", "    require-limits memory\n", "")]),
        (mt, &[("tenants/legacy.khc", "tenant legacy {", "tenant legacy {\n  grant view to tenant monitoring workload prometheus")]),
        (mt, &[("cluster.khc", "no-latest-tag\n", "")]),
        // A tenant leaves (destructive), and the one `allow` naming it.
        (
            mt,
            &[
                ("cluster.khc", "import \"tenants/legacy.khc\"\n", ""),
                ("tenants/monitoring.khc", "  allow egress from workload prometheus to tenant legacy ports 8080-8089\n", ""),
            ],
        ),
        ("examples/multi-cluster", &[("tenants/shop.khc", "isolation strict", "isolation tenant")]),
    ];
    let mut changed = 0;
    for (i, (example, edits)) in table.iter().enumerate() {
        let old = repo_root().join(example);
        let new = base.join(format!("edit-{i}"));
        copy_tree(&old, &new);
        for (file, from, to) in edits.iter() {
            assert!(edit(&new, file, from, to), "{example}/{file} has no `{from}`");
        }
        let n = assert_same(&old, &new, &format!("{example}: {edits:?}"));
        eprintln!("{example}: {edits:?}: {n:?} changes both ways");
        changed += usize::from(n.is_some_and(|n| n > 0));
    }
    // Only the monitoring port its receiver does not open changes nothing.
    assert_eq!(changed, table.len() - 1, "every other edit changes the posture");
    assert_eq!(assert_same(&repo_root().join(mt), &repo_root().join(mt), "unchanged"), Some(0));
    let _ = std::fs::remove_dir_all(&base);
}

/// Edits the random test picks from, applied to tenant `i` of a generated
/// workspace: `(file of tenant i or the entry, from, to)`.
fn random_edit(ws: &Gen, kind: usize, i: usize) -> (String, String, String) {
    let t = Gen::tenant_name(i);
    let file = ws.tenant_path(i);
    let next = Gen::tenant_name((i + 1) % ws.n);
    let (from, to): (String, String) = match kind % 14 {
        0 => ("ports 8443".into(), "ports 8443 9443".into()),
        1 => ("isolation strict".into(), "isolation tenant".into()),
        2 => ("isolation tenant".into(), "isolation none".into()),
        3 => ("except 10.".into(), "except 10.".into()),
        4 => ("ports 443 8000-8100".into(), "ports 443 8000-8200".into()),
        5 => (format!("tenant {t} {{"), format!("tenant {t} {{\n  grant reader to tenant {next} workload api")),
        6 => ("  allow ingress from tenant".into(), "  # allow ingress from tenant".into()),
        7 => ("pod-security restricted".into(), "pod-security baseline".into()),
        8 => ("    use restricted\n".into(), String::new()),
        9 => ("  workload api {\n".into(), "  workload api {\n    automount-token true\n".into()),
        10 => (format!("grant view to group \"{t}-auditors\""), format!("grant edit to group \"{t}-auditors\" group \"system:serviceaccounts\"")),
        11 => ("can get on secrets names".into(), "can get list on secrets names".into()),
        // A broken program: both refuse.
        12 => ("workload db {".into(), "workload db {{".into()),
        _ => ("ports 5432".into(), "ports 5433".into()),
    };
    (file, from, to)
}

/// Runs git in `dir` (a throwaway identity; no signing).
fn git(dir: &Path, args: &[&str]) {
    let o = std::process::Command::new("git")
        .args(["-c", "user.name=khc", "-c", "user.email=khc@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// `--against HEAD` of the project at `work` (committed as `old` holds it, then
/// edited in the work tree): the changes of two full compiles of `old` and
/// `work`, or both refuse; the number of changes.
fn assert_against_as_full(old: &Path, work: &Path, what: &str) -> Option<usize> {
    let full = match (Workspace::load(old), Workspace::load(work)) {
        (Ok(a), Ok(b)) => Ok(compare(&a, &b)),
        (a, b) => Err(format!("{:?} {:?}", a.err(), b.err())),
    };
    let (tree, root, entry) = khc_db::git::GitTree::open(work, "HEAD").expect("a git work tree");
    let against = match load_against(work, std::sync::Arc::new(tree), entry.as_ref(), khc_db::KhcDatabase::new(&root), drop) {
        (Ok(a), Ok(b)) => Ok(compare_programs(&a, &b)),
        (a, b) => Err(format!("{:?} {:?}", a.err(), b.err())),
    };
    match (full, against) {
        (Ok(full), Ok(against)) => {
            assert_eq!(against, full, "{what}");
            Some(full.len())
        }
        (Err(_), Err(_)) => None,
        (full, against) => panic!("{what}: the full diff {full:?}, --against {against:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("KHC_FUZZ_CASES").ok().and_then(|v| v.parse::<u32>().ok()).map_or(8, |n| n.div_ceil(3)), ..ProptestConfig::default() })]

    /// A generated workspace (flat or nested: imports across folders) committed
    /// in a subfolder of a git repository, then one to four random edits (and
    /// sometimes a new, untracked tenant file) in the work tree: `--against
    /// HEAD` gives the changes of two full compiles.
    #[test]
    fn against_a_git_revision_diffs_as_two_full_compiles(
        edits in proptest::collection::vec((0usize..14, 0usize..12), 1..5),
        add_tenant in any::<bool>(),
        flat in any::<bool>(),
    ) {
        let ws = Gen::new(12).with_layout(if flat { Layout::Flat } else { Layout::Nested });
        let base = scratch(&format!("git-{:x}", {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (&edits, add_tenant, flat).hash(&mut h);
            h.finish()
        }));
        let (old, repo) = (base.join("old"), base.join("repo"));
        let work = repo.join("platform");
        ws.write(&old).expect("write");
        ws.write(&work).expect("write");
        git(&repo, &["init", "-q"]);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-qm", "base"]);
        for &(kind, i) in &edits {
            let (file, from, to) = random_edit(&ws, kind, i);
            edit(&work, &file, &from, &to);
        }
        if add_tenant {
            std::fs::write(work.join("extra.khc"), "tenant extra {\n  isolation strict\n  workload web { selector { app \"web\" } }\n  allow egress from workload web to tenant t001 workload api ports 8080\n}\n").expect("write");
            edit(&work, khc_tests::workspace_gen::ENTRY, "import \"std/restricted\"\n", "import \"std/restricted\"\nimport \"extra.khc\"\n");
        }
        let what = format!("{edits:?} add {add_tenant} flat {flat}");
        let n = assert_against_as_full(&old, &work, &what);
        eprintln!("--against: {what}: {n:?} changes");
        let _ = std::fs::remove_dir_all(&base);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("KHC_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24), ..ProptestConfig::default() })]

    /// A generated workspace against itself with one to four random edits in
    /// random tenants (sometimes a tenant added or the cluster edited).
    #[test]
    fn generated_programs_with_random_edits_diff_as_two_full_compiles(
        edits in proptest::collection::vec((0usize..14, 0usize..12), 1..5),
        add_tenant in any::<bool>(),
        cluster_edit in 0usize..6,
        flat in any::<bool>(),
    ) {
        let ws = Gen::new(12).with_layout(if flat { Layout::Flat } else { Layout::Nested });
        let base = scratch(&format!("gen-{:x}", {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (&edits, add_tenant, cluster_edit, flat).hash(&mut h);
            h.finish()
        }));
        let (old, new) = (base.join("old"), base.join("new"));
        ws.write(&old).expect("write");
        ws.write(&new).expect("write");
        for &(kind, i) in &edits {
            let (file, from, to) = random_edit(&ws, kind, i);
            edit(&new, &file, &from, &to);
        }
        let entry = khc_tests::workspace_gen::ENTRY;
        if add_tenant {
            // A new tenant (its namespace and grants) that reads another's workload.
            std::fs::write(new.join("extra.khc"), "tenant extra {\n  isolation strict\n  workload web { selector { app \"web\" } }\n  allow egress from workload web to tenant t001 workload api ports 8080\n  role r { can get on pods }\n  grant r to tenant t002 workload api\n}\n").expect("write");
            edit(&new, entry, "import \"std/restricted\"\n", "import \"std/restricted\"\nimport \"extra.khc\"\n");
        }
        if cluster_edit == 0 {
            edit(&new, entry, "grant platform-reader to group \"platform-oncall\"", "grant platform-reader to group \"platform-oncall\" group \"system:authenticated\"");
        }
        let n = assert_same(&old, &new, &format!("{edits:?} add {add_tenant} cluster {cluster_edit} flat {flat}"));
        eprintln!("{edits:?} add {add_tenant} cluster {cluster_edit} flat {flat}: {n:?} changes both ways");
        let _ = std::fs::remove_dir_all(&base);
    }
}

/// The generated fleet (one file per tenant, as the fleet bench): one tenant's
/// port and quota changed is one loosening, the same both ways.
#[test]
fn fleet_with_one_tenant_changed_diffs_as_two_full_compiles() {
    let base = scratch("fleet");
    let (old, new) = (base.join("old"), base.join("new"));
    for dir in [&old, &new] {
        std::fs::create_dir_all(dir).expect("mkdir");
        for (f, text) in khc_tests::fleet_sources(20) {
            std::fs::write(dir.join(f), text).expect("write");
        }
    }
    std::fs::write(new.join("t1.khc"), khc_tests::fleet_tenant(1, 20, 1)).expect("write");
    let (full, incremental) = both_ways(&old, &new);
    let full = full.expect("compiles");
    assert_eq!(full.len(), 1, "{full:#?}");
    assert_eq!(incremental.expect("compiles"), full);
    let _ = std::fs::remove_dir_all(&base);
}
