//! Issue 24, item 2: `khc diff --against REV [PATH]` reads the old version from
//! git (the revision's tree listed once, only the files whose blob differs from
//! the working file read through `git cat-file --batch`, nothing extracted) into
//! the database that holds the working tree. With real `git` in temporary
//! repositories: on a table of edits the report equals `khc diff OLD_CHECKOUT
//! NEW` with OLD_CHECKOUT the revision extracted by `git archive` (the way
//! before), in every format, with the same exit code; usage errors exit 2 with
//! the reason; and, by count (`KHC_DIFF_STATS=1`), a one-tenant change reads one
//! blob from git and checks one tenant of the old version again.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A fresh folder of its own (tests run in parallel threads of one process).
fn temp(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("khc-against-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(["-c", "user.name=khc", "-c", "user.email=khc@example.com", "-c", "commit.gpgsign=false", "-c", "core.symlinks=true"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn khc(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_khc"));
    cmd.args(args).current_dir(cwd).env("NO_COLOR", "1").env_remove("KHC_DIFF_FULL").env_remove("KHC_DIFF_STATS").stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Copies a tree of sources (`*.khc`, key files), leaving `generated/` out.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "generated") {
                copy_dir(&p, &dest);
            }
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// Replaces `from` by `to` in `file` (which must hold it).
fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} holds {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

/// A git repository holding the example at `platform/` (or the images fixture
/// at `images/`), `setup` applied, committed.
fn repository(name: &str, setup: &dyn Fn(&Path)) -> PathBuf {
    let dir = temp(name);
    copy_dir(&repo_root().join("examples/multi-tenant"), &dir.join("platform"));
    copy_dir(&repo_root().join("tests/images"), &dir.join("images"));
    setup(&dir);
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "base"]);
    dir
}

/// The revision extracted by `git archive` into a folder outside the repository.
fn old_checkout(repo: &Path, rev: &str) -> PathBuf {
    let to = temp("checkout");
    let mut archive = Command::new("git").args(["archive", "--format=tar", rev]).current_dir(repo).stdout(Stdio::piped()).spawn().unwrap();
    let untar = Command::new("tar").arg("-xf").arg("-").arg("-C").arg(&to).stdin(archive.stdout.take().unwrap()).output().unwrap();
    assert!(archive.wait().unwrap().success(), "git archive {rev}");
    assert!(untar.status.success(), "{}", String::from_utf8_lossy(&untar.stderr));
    to
}

/// `khc diff --against REV PROJECT` in `repo` equals `khc diff OLD/PROJECT
/// PROJECT` (stdout of every format, exit code); the text report.
fn assert_as_checkout(repo: &Path, rev: &str, project: &str, what: &str) -> (String, i32) {
    let old = old_checkout(repo, rev);
    let old_project = old.join(project);
    let old_project = old_project.to_str().unwrap();
    let mut text = None;
    for format in ["text", "json", "markdown", "sarif"] {
        let git_side = khc(repo, &["diff", "--against", rev, project, "--format", format], &[]);
        let checkout = khc(repo, &["diff", old_project, project, "--format", format], &[]);
        assert_eq!(
            git_side.status.code(),
            checkout.status.code(),
            "{what} ({format}): exit codes\n--against: {}\ncheckout: {}",
            err(&git_side),
            err(&checkout)
        );
        assert_eq!(out(&git_side), out(&checkout), "{what} ({format})\n--against stderr: {}", err(&git_side));
        if format == "text" {
            text = Some((out(&git_side), git_side.status.code().unwrap()));
        }
    }
    std::fs::remove_dir_all(&old).ok();
    text.unwrap()
}

const TENANT: &str = "tenant extra {\n  namespaces extra\n  isolation strict\n  workload web { selector { app \"web\" } }\n  allow ingress from tenant payments workload api to workload web ports 8080\n}\n";

type Step = fn(&Path);

#[test]
fn the_report_equals_a_diff_against_the_old_checkout() {
    let none: Step = |_| {};
    // (what, base setup before the commit, the working-tree edit, the project path, changes expected)
    let cases: Vec<(&str, Step, Step, &str, bool)> = vec![
        ("nothing changed", none, none, "platform", false),
        (
            "a changed tenant",
            none,
            |d| edit(&d.join("platform/tenants/payments.khc"), "  pod-security restricted\n", "  pod-security baseline\n"),
            "platform",
            true,
        ),
        (
            "a changed tenant, staged",
            none,
            |d| {
                edit(&d.join("platform/tenants/payments.khc"), "  pod-security restricted\n", "  pod-security baseline\n");
                git(d, &["add", "-A"]);
            },
            "platform",
            true,
        ),
        (
            "the project given as its entry file",
            none,
            |d| edit(&d.join("platform/tenants/payments.khc"), "  pod-security restricted\n", "  pod-security baseline\n"),
            "platform/cluster.khc",
            true,
        ),
        (
            "an added, untracked tenant file",
            none,
            |d| {
                std::fs::write(d.join("platform/tenants/extra.khc"), TENANT).unwrap();
                edit(&d.join("platform/cluster.khc"), "import \"tenants/legacy.khc\"\n", "import \"tenants/legacy.khc\"\nimport \"tenants/extra.khc\"\n");
            },
            "platform",
            true,
        ),
        (
            "an added tenant file git ignores",
            |d| std::fs::write(d.join(".gitignore"), "extra.khc\n").unwrap(),
            |d| {
                std::fs::write(d.join("platform/tenants/extra.khc"), TENANT).unwrap();
                edit(&d.join("platform/cluster.khc"), "import \"tenants/legacy.khc\"\n", "import \"tenants/legacy.khc\"\nimport \"tenants/extra.khc\"\n");
            },
            "platform",
            true,
        ),
        (
            "a deleted tenant file",
            none,
            |d| {
                std::fs::remove_file(d.join("platform/tenants/legacy.khc")).unwrap();
                edit(&d.join("platform/cluster.khc"), "import \"tenants/legacy.khc\"\n", "");
            },
            "platform",
            true,
        ),
        (
            "a deleted file still imported (the new version has errors)",
            none,
            |d| std::fs::remove_file(d.join("platform/tenants/legacy.khc")).unwrap(),
            "platform",
            false,
        ),
        (
            "a renamed file (git mv) and its import",
            none,
            |d| {
                git(d, &["mv", "platform/tenants/legacy.khc", "platform/tenants/old.khc"]);
                edit(&d.join("platform/cluster.khc"), "import \"tenants/legacy.khc\"", "import \"tenants/old.khc\"");
            },
            "platform",
            // The admission messages name the tenant's file.
            true,
        ),
        (
            "an import pointed at another file",
            none,
            |d| {
                let text = std::fs::read_to_string(d.join("platform/tenants/payments.khc")).unwrap();
                std::fs::write(d.join("platform/tenants/payments2.khc"), text.replace("  pod-security restricted\n", "  pod-security baseline\n")).unwrap();
                edit(&d.join("platform/cluster.khc"), "import \"tenants/payments.khc\"", "import \"tenants/payments2.khc\"");
            },
            "platform",
            true,
        ),
        (
            "an import above the project, inside the repository",
            |d| {
                std::fs::create_dir_all(d.join("shared")).unwrap();
                std::fs::rename(d.join("platform/tenants/legacy.khc"), d.join("shared/legacy.khc")).unwrap();
                edit(&d.join("platform/cluster.khc"), "import \"tenants/legacy.khc\"", "import \"../shared/legacy.khc\"");
            },
            |d| edit(&d.join("shared/legacy.khc"), "  isolation tenant\n", "  isolation none\n"),
            "platform",
            true,
        ),
        (
            "a committed symbolic link to a file above the project",
            |d| {
                std::fs::create_dir_all(d.join("shared")).unwrap();
                std::fs::rename(d.join("platform/tenants/legacy.khc"), d.join("shared/legacy.khc")).unwrap();
                std::os::unix::fs::symlink("../../shared/legacy.khc", d.join("platform/tenants/legacy.khc")).unwrap();
            },
            |d| edit(&d.join("shared/legacy.khc"), "  isolation tenant\n", "  isolation none\n"),
            "platform",
            true,
        ),
        (
            // The posture does not compare key material: equal reports (the
            // blob read is counted in `a_changed_key_file_is_read_from_the_revision`).
            "a changed image key file",
            none,
            |d| {
                let b = std::fs::read(d.join("images/keys/tenant-b.pub")).unwrap();
                std::fs::write(d.join("images/keys/tenant-a.pub"), b).unwrap();
            },
            "images",
            false,
        ),
        (
            "a deleted image key file and its signature",
            none,
            |d| {
                std::fs::remove_file(d.join("images/keys/tenant-a.pub")).unwrap();
                edit(&d.join("images/cluster.khc"), "    signed-by key \"keys/tenant-a.pub\"\n", "");
            },
            "images",
            true,
        ),
        (
            "the project at the repository's top",
            |d| {
                copy_dir(&d.join("platform"), d);
                std::fs::remove_dir_all(d.join("platform")).unwrap();
                std::fs::remove_dir_all(d.join("images")).unwrap();
            },
            |d| edit(&d.join("tenants/payments.khc"), "  pod-security restricted\n", "  pod-security baseline\n"),
            ".",
            true,
        ),
    ];
    for (what, setup, change, project, changes) in cases {
        let dir = repository("table", &setup);
        change(&dir);
        let (text, code) = assert_as_checkout(&dir, "HEAD", project, what);
        if changes {
            assert_ne!(text, "no change in security posture\n", "{what}: the edit shows");
        } else if code == 0 {
            assert_eq!(text, "no change in security posture\n", "{what}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// A key file the `images` block names is read like an import: changed in
/// the work tree, its blob (and only it) is read from the revision.
#[test]
fn a_changed_key_file_is_read_from_the_revision() {
    let dir = repository("key", &|_| {});
    let b = std::fs::read(dir.join("images/keys/tenant-b.pub")).unwrap();
    std::fs::write(dir.join("images/keys/tenant-a.pub"), b).unwrap();
    let o = khc(&dir, &["diff", "--against", "HEAD", "images"], &[("KHC_DIFF_STATS", "1")]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(err(&o).contains("; 1 blobs read from git (0 link targets); 3 files unchanged (not read);"), "{}", err(&o));
    std::fs::remove_dir_all(&dir).ok();
}

/// A path that leaves the repository is not versioned: both versions read it
/// from disk, so an edit there is no change (and no blob is read for it).
#[test]
fn paths_outside_the_repository_are_read_from_disk_in_both_versions() {
    let base = temp("outside");
    let repo = base.join("repo");
    copy_dir(&repo_root().join("examples/multi-tenant"), &repo.join("platform"));
    std::fs::create_dir_all(base.join("outside")).unwrap();
    std::fs::rename(repo.join("platform/tenants/legacy.khc"), base.join("outside/legacy.khc")).unwrap();
    edit(&repo.join("platform/cluster.khc"), "import \"tenants/legacy.khc\"", "import \"../../outside/legacy.khc\"");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "base"]);
    edit(&base.join("outside/legacy.khc"), "ports 1521", "ports 1522");
    let o = khc(&repo, &["diff", "--against", "HEAD", "platform"], &[("KHC_DIFF_STATS", "1")]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(out(&o), "no change in security posture\n");
    assert!(err(&o).contains("; 0 blobs read from git (0 link targets); 4 files unchanged (not read);"), "{}", err(&o));
    std::fs::remove_dir_all(&base).ok();
}

/// A committed change against an older revision, the work tree clean; and a
/// working tree that went back to the revision's text is no change.
#[test]
fn older_revisions_and_a_reverted_edit() {
    let dir = repository("older", &|_| {});
    let payments = dir.join("platform/tenants/payments.khc");
    let before = std::fs::read_to_string(&payments).unwrap();
    edit(&payments, "  pod-security restricted\n", "  pod-security baseline\n");
    git(&dir, &["commit", "-qam", "loosen"]);
    let (text, _) = assert_as_checkout(&dir, "HEAD~1", "platform", "HEAD~1, committed");
    assert!(text.contains("tenant payments enforce: restricted → baseline"), "{text}");
    std::fs::write(&payments, before).unwrap();
    let (text, _) = assert_as_checkout(&dir, "HEAD~1", "platform", "the edit reverted in the work tree");
    assert_eq!(text, "no change in security posture\n");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn usage_errors_exit_2_with_the_reason() {
    let dir = repository("errors", &|_| {});
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["diff", "--against", "no-such-rev", "platform"], "\"no-such-rev\" does not name a commit or tree"),
        (vec!["diff", "--against", "HEAD~5", "platform"], "does not name a commit or tree"),
        (vec!["diff", "--against=--output=x", "platform"], "is not a git revision"),
        (vec!["diff", "--against", "HEAD", "no-such-dir"], "cannot open no-such-dir"),
        (vec!["diff", "--against", "HEAD", "platform/apps/payments/api.yaml"], "is not a .khc file"),
    ];
    for (args, want) in cases {
        let o = khc(&dir, &args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(want), "{args:?}: {}", err(&o));
    }
    // A project that did not exist at the revision, as a folder and as an entry file.
    copy_dir(&dir.join("platform"), &dir.join("platform2"));
    let o = khc(&dir, &["diff", "--against", "HEAD", "platform2"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("HEAD:platform2 is not a directory in the revision"), "{}", err(&o));
    let o = khc(&dir, &["diff", "--against", "HEAD", "platform2/cluster.khc"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("cannot read HEAD:platform2/cluster.khc: no such file in the revision"), "{}", err(&o));
    // Not in a git work tree.
    let plain = temp("plain");
    copy_dir(&repo_root().join("examples/multi-tenant"), &plain.join("platform"));
    let o = khc(&plain, &["diff", "--against", "HEAD", "platform"], &[("GIT_CEILING_DIRECTORIES", plain.parent().unwrap().to_str().unwrap())]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("platform is not in a git work tree"), "{}", err(&o));
    // An import of the old version that is missing there is the old version's error (exit 1), named `REV:path`.
    edit(&dir.join("platform/cluster.khc"), "import \"tenants/legacy.khc\"", "import \"tenants/legacy.khc\"\nimport \"tenants/extra.khc\"");
    std::fs::write(dir.join("platform/tenants/extra.khc"), TENANT).unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "extra"]);
    git(&dir, &["rm", "-q", "--cached", "platform/tenants/extra.khc"]);
    git(&dir, &["commit", "-qm", "extra untracked"]);
    let o = khc(&dir, &["diff", "--against", "HEAD", "platform"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("HEAD:platform/tenants/extra.khc: no such file in the revision"), "{}", err(&o));
    std::fs::remove_dir_all(&plain).ok();
    std::fs::remove_dir_all(&dir).ok();
}

/// Non-UTF-8 names: a project path below the repository's top that is not
/// UTF-8 is refused (exit 2); a `*.khc` name in the revision's project folder
/// that is not UTF-8 is not read, with a warning (the working tree's walk
/// skips it too).
#[test]
fn non_utf8_names_are_refused_clearly() {
    use std::os::unix::ffi::OsStrExt;
    let odd = std::ffi::OsStr::from_bytes(b"pl\xffat");
    let dir = repository("utf8", &|d| {
        copy_dir(&d.join("platform"), &d.join(odd));
        std::fs::write(d.join("platform").join(std::ffi::OsStr::from_bytes(b"\xfe.khc")), "cluster odd { kubernetes 1.35 }\n").unwrap();
    });
    let o = Command::new(env!("CARGO_BIN_EXE_khc")).arg("diff").arg("--against").arg("HEAD").arg(odd).current_dir(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("is not a UTF-8 path below the git work tree"), "{}", err(&o));
    let o = khc(&dir, &["diff", "--against", "HEAD", "platform"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(err(&o).contains("warning: HEAD:platform/\u{fffd}.khc is not read: its name is not UTF-8"), "{}", err(&o));
    assert_eq!(out(&o), "no change in security posture\n");
    std::fs::remove_dir_all(&dir).ok();
}

/// The count: on a 40-tenant fleet in a subfolder of a repository with one
/// tenant changed, `--against HEAD` lists the tree, reads exactly that one
/// file's blob from git (the other 40 files' blob ids equal the working
/// files' hashes: not read), parses only it and checks that one tenant of
/// the old version again (every other tenant's check is the new version's memo); nothing
/// changed reads nothing and checks nothing; nothing is written to `TMPDIR`.
/// `KHC_DIFF_FULL=1` (a fresh database for the revision) reads all 41 and
/// reports the same changes.
#[test]
fn unchanged_files_are_neither_read_from_git_nor_checked_again() {
    let n = 40;
    let dir = repository("count", &|d| {
        let fleet = d.join("fleet");
        std::fs::create_dir_all(&fleet).unwrap();
        std::fs::write(fleet.join("main.khc"), khc_tests::fleet_entry(n)).unwrap();
        for i in 0..n {
            std::fs::write(fleet.join(format!("t{i}.khc")), khc_tests::fleet_tenant(i, n, 0)).unwrap();
        }
    });
    let tmp = temp("tmpdir");
    let tmp_s = tmp.to_str().unwrap();
    let stats = |o: &Output| err(o).lines().find(|l| l.starts_with("khc diff --against:")).unwrap_or_else(|| panic!("no stats: {}", err(o))).to_string();
    let o = khc(&dir, &["diff", "--against", "HEAD", "fleet"], &[("KHC_DIFF_STATS", "1"), ("TMPDIR", tmp_s)]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(out(&o), "no change in security posture\n");
    let s = stats(&o);
    assert!(
        s.contains("; 0 blobs read from git (0 link targets); 41 files unchanged (not read); 0 files parsed and 0 tenants checked for the old version"),
        "{s}"
    );

    std::fs::write(dir.join("fleet/t7.khc"), khc_tests::fleet_tenant(7, n, 1)).unwrap();
    let o = khc(&dir, &["diff", "--against", "HEAD", "fleet", "--format", "json"], &[("KHC_DIFF_STATS", "1"), ("TMPDIR", tmp_s)]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let s = stats(&o);
    assert!(
        s.contains("; 1 blobs read from git (0 link targets); 40 files unchanged (not read); 1 files parsed and 1 tenants checked for the old version"),
        "{s}"
    );
    let full = khc(&dir, &["diff", "--against", "HEAD", "fleet", "--format", "json"], &[("KHC_DIFF_STATS", "1"), ("KHC_DIFF_FULL", "1"), ("TMPDIR", tmp_s)]);
    assert_eq!(out(&full), out(&o), "{}", err(&full));
    assert!(stats(&full).contains("; 41 blobs read from git (0 link targets); 0 files unchanged"), "{}", stats(&full));
    assert!(out(&o).contains("\"source\": \"t7.khc:"), "{}", out(&o));
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "nothing is extracted: {left:?}");
    std::fs::remove_dir_all(&tmp).ok();
    std::fs::remove_dir_all(&dir).ok();
}
