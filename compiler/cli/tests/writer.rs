//! The output writer's guarantees (README, "How khc writes OUT"): never follows
//! links below OUT, never overwrites or deletes what it did not write (bytes
//! compared), atomic per file with interrupted builds completed by the next one,
//! one build at a time, names too long refused before any write, source names
//! never injected into generated files, closed pipes never crash khc, and a no-op
//! build writes nothing.
//!
//! `KHC_BIN=/path/to/khc` runs these tests against another binary (used to show
//! they fail on the writer before these fixes).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn bin() -> PathBuf {
    std::env::var_os("KHC_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_khc")), PathBuf::from)
}

fn khc(args: &[&str], cwd: &Path) -> Output {
    Command::new(bin()).args(args).current_dir(cwd).env("NO_COLOR", "1").output().expect("run khc")
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("khc-writer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// A cluster role, so that the cluster has its unit and entry point (`clusters/c/Kustomization`).
const CLUSTER: &str = "cluster c {\n  kubernetes 1.35\n  managed-by group \"khc-appliers\"\n  role pod-reader { can get list on pods }\n  encryption { provider secretbox { key k env \"K\" } }\n}\n";

/// A cluster with the given tenants (each with a workload, a role and a grant).
fn program(tenants: &[&str], variant: usize) -> String {
    let mut s = String::from(CLUSTER);
    for t in tenants {
        s.push_str(&format!(
            "tenant {t} {{\n  namespaces {t} {t}-jobs\n  workload api {{ selector {{ app \"api-{variant}\" }} }}\n  role deployer {{ can get list on deployments.apps }}\n  grant deployer to group \"{t}-devs\"\n  quota {{ cpu {cpu}; memory 8Gi }}\n  limits {{ default cpu 500m memory 512Mi; request cpu 100m memory 128Mi }}\n}}\n",
            cpu = 4 + variant
        ));
    }
    s
}

/// Every regular file below `dir` (relative path → bytes), skipping khc's lock file.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let t = e.file_type().unwrap();
            let p = e.path();
            if t.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                if rel != ".khc-lock" {
                    out.insert(rel, std::fs::read(&p).unwrap_or_default());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

#[cfg(unix)]
#[test]
fn links_below_out_are_never_followed() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let dir = temp("links");
    std::fs::write(dir.join("c.khc"), program(&["a"], 0)).unwrap();
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(elsewhere.join("sub")).unwrap();

    // A linked directory below OUT: nothing is written through it.
    std::fs::create_dir_all(dir.join("o1")).unwrap();
    symlink(&elsewhere, dir.join("o1/clusters")).unwrap();
    let o = khc(&["build", "c.khc", "-o", "o1"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("o1/clusters is a symbolic link"), "{}", stderr(&o));
    assert!(!elsewhere.join("c").exists(), "nothing written outside OUT");

    // A linked file: not written through, and the install script's chmod does not
    // reach the target.
    assert_eq!(khc(&["build", "c.khc", "-o", "o2"], &dir).status.code(), Some(0));
    let victim = elsewhere.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let script = dir.join("o2/clusters/c/control-plane/install-encryption-config.sh");
    std::fs::remove_file(&script).unwrap();
    symlink(&victim, &script).unwrap();
    let o = khc(&["build", "c.khc", "-o", "o2"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("install-encryption-config.sh is a symbolic link"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777, 0o644);

    // A manifest line below a linked directory: the target is not deleted.
    assert_eq!(khc(&["build", "c.khc", "-o", "o3"], &dir).status.code(), Some(0));
    std::fs::write(elsewhere.join("sub/f.yaml"), "keep me").unwrap();
    symlink(&elsewhere, dir.join("o3/clusters/link")).unwrap();
    let manifest = dir.join("o3/.khc-manifest");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str("clusters/link/sub/f.yaml\n");
    std::fs::write(&manifest, text).unwrap();
    let o = khc(&["build", "c.khc", "-o", "o3"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("o3/clusters/link is a symbolic link"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(elsewhere.join("sub/f.yaml")).unwrap(), "keep me");

    // OUT itself may be a link: the user chose it.
    std::fs::create_dir_all(dir.join("real")).unwrap();
    symlink(dir.join("real"), dir.join("o4")).unwrap();
    let o = khc(&["build", "c.khc", "-o", "o4"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(dir.join("real/clusters/c/Kustomization").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn manifest_entries_are_untrusted() {
    let dir = temp("manifest");
    std::fs::write(dir.join("c.khc"), program(&["a"], 0)).unwrap();
    assert_eq!(khc(&["build", "c.khc", "-o", "out"], &dir).status.code(), Some(0));
    let outside = dir.join("outside.txt");
    let manifest = dir.join("out/.khc-manifest");
    let good = std::fs::read_to_string(&manifest).unwrap();
    for bad in [outside.display().to_string(), "../outside.txt".into(), "clusters//x".into(), "clusters/./x".into(), "a\u{1b}b".into()] {
        std::fs::write(&outside, "keep me").unwrap();
        std::fs::write(&manifest, format!("{good}{bad}\n")).unwrap();
        let o = khc(&["build", "c.khc", "-o", "out"], &dir);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(".khc-manifest:") && stderr(&o).contains("Fix or delete the line"), "{}", stderr(&o));
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me", "{bad:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// #25 item 12: the manifest does not decide what is deleted. Lines naming files
/// inside OUT that khc never generates (`.git/config`, CI workflows, `CODEOWNERS`,
/// hidden or foreign names under `clusters/`) stop the build with an error naming
/// the line, and the files stay.
#[test]
fn manifest_lines_khc_could_not_have_written_are_refused() {
    let dir = temp("manifest-shape");
    std::fs::write(dir.join("c.khc"), program(&["a"], 0)).unwrap();
    assert_eq!(khc(&["build", "c.khc", "-o", "out"], &dir).status.code(), Some(0));
    let manifest = dir.join("out/.khc-manifest");
    let good = std::fs::read_to_string(&manifest).unwrap();
    for bad in [".git/config", ".github/workflows/ci.yaml", "CODEOWNERS", "clusters/c/.git/config", "clusters/c/notes.txt", "clusters/README.md", "docs/x.yaml"]
    {
        let victim = dir.join("out").join(bad);
        std::fs::create_dir_all(victim.parent().unwrap()).unwrap();
        std::fs::write(&victim, "keep me").unwrap();
        std::fs::write(&manifest, format!("{good}{bad}\n")).unwrap();
        let o = khc(&["build", "c.khc", "-o", "out"], &dir);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        let line = good.lines().count() + 1;
        assert!(stderr(&o).contains(&format!(".khc-manifest:{line}:")) && stderr(&o).contains("Fix or delete the line"), "{bad}: {}", stderr(&o));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me", "{bad:?}");
        std::fs::remove_file(&victim).unwrap();
    }
    // A khc-shaped stale line is still removed.
    std::fs::write(dir.join("out/clusters/c/old.yaml"), "x").unwrap();
    std::fs::write(&manifest, format!("{good}clusters/c/old.yaml\n")).unwrap();
    assert_eq!(khc(&["build", "c.khc", "-o", "out"], &dir).status.code(), Some(0));
    assert!(!dir.join("out/clusters/c/old.yaml").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn foreign_files_are_compared_as_bytes() {
    let dir = temp("bytes");
    std::fs::write(dir.join("c.khc"), program(&["a"], 0)).unwrap();
    let target = dir.join("out/clusters/c/Kustomization");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    let foreign = b"\xff\xfe not UTF-8, not khc's".to_vec();
    std::fs::write(&target, &foreign).unwrap();
    let o = khc(&["build", "c.khc", "-o", "out"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("was not written by khc") && stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&target).unwrap(), foreign);
    assert!(!dir.join("out/clusters/c/tenants").exists(), "nothing written");
    assert_eq!(khc(&["build", "c.khc", "-o", "out", "--force"], &dir).status.code(), Some(0));
    assert_ne!(std::fs::read(&target).unwrap(), foreign);
    std::fs::remove_dir_all(&dir).ok();
}

/// Reads the child's stderr until the test hook's pause line; false at EOF.
fn wait_for_pause(child: &mut Child) -> bool {
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            return false;
        }
        if line.starts_with("khc-test: paused") {
            return true;
        }
    }
}

fn spawn_build(dir: &Path, out: &str, pause_after: Option<usize>) -> Child {
    let mut c = Command::new(bin());
    c.args(["build", "c.khc", "-o", out]).current_dir(dir).env("NO_COLOR", "1").stdout(Stdio::null());
    c.stderr(if pause_after.is_some() { Stdio::piped() } else { Stdio::null() });
    if let Some(n) = pause_after {
        c.env("KHC_TEST_PAUSE_AFTER", n.to_string());
    }
    c.spawn().unwrap()
}

/// [`spawn_build`] into `out` that pauses after `pause_after` steps and resumes
/// when a line is written to its stdin (test hook `KHC_TEST_RESUME_ON_STDIN`).
fn spawn_resumable(dir: &Path, pause_after: usize) -> Child {
    let mut c = Command::new(bin());
    c.args(["build", "c.khc", "-o", "out"]).current_dir(dir).env("NO_COLOR", "1");
    c.env("KHC_TEST_PAUSE_AFTER", pause_after.to_string()).env("KHC_TEST_RESUME_ON_STDIN", "1");
    c.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

/// After an interrupted build: every file is the old or the new version (temporary
/// files aside), and the manifest knows every generated file that exists.
fn assert_old_or_new(out: &Path, old: &BTreeMap<String, Vec<u8>>, new: &BTreeMap<String, Vec<u8>>, when: &str) {
    let now = files(out);
    let manifest = String::from_utf8(now.get(".khc-manifest").cloned().unwrap_or_default()).unwrap();
    for (path, bytes) in &now {
        // khc's temporary files, and new directories staged whole (`.khc-tmp-dir-N`).
        if path == ".khc-manifest" || path.split('/').any(|s| s.starts_with(".khc-tmp-")) {
            continue;
        }
        assert!(old.get(path) == Some(bytes) || new.get(path) == Some(bytes), "{when}: {path} is neither the old nor the new version");
        assert!(manifest.lines().any(|l| l == path), "{when}: {path} exists but the manifest does not list it");
    }
}

/// Kills a build (SIGKILL) after each step in turn — the journal, every file
/// written, every stale file removed — and checks that the tree is old-or-new per
/// file and that the next build completes it without `--force`.
#[test]
fn a_build_killed_at_any_step_is_completed_by_the_next() {
    let dir = temp("kill");
    let old_src = program(&["a", "b", "c"], 0);
    let new_src = program(&["a", "c", "d"], 1);
    std::fs::write(dir.join("c.khc"), &old_src).unwrap();
    assert_eq!(khc(&["build", "c.khc", "-o", "ref-old"], &dir).status.code(), Some(0));
    std::fs::write(dir.join("c.khc"), &new_src).unwrap();
    assert_eq!(khc(&["build", "c.khc", "-o", "ref-new"], &dir).status.code(), Some(0));
    let old = files(&dir.join("ref-old"));
    let new = files(&dir.join("ref-new"));
    let mut step = 1;
    loop {
        let _ = std::fs::remove_dir_all(dir.join("out"));
        std::fs::write(dir.join("c.khc"), &old_src).unwrap();
        assert_eq!(khc(&["build", "c.khc", "-o", "out"], &dir).status.code(), Some(0));
        std::fs::write(dir.join("c.khc"), &new_src).unwrap();
        let mut child = spawn_build(&dir, "out", Some(step));
        if !wait_for_pause(&mut child) {
            let status = child.wait().unwrap();
            assert!(status.success());
            assert!(step > 10, "the build must pause at step {step} when KHC_TEST_PAUSE_AFTER is set (test hook)");
            eprintln!("killed after each of {} steps", step - 1);
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let when = format!("killed after step {step}");
        assert_old_or_new(&dir.join("out"), &old, &new, &when);
        let o = khc(&["build", "c.khc", "-o", "out"], &dir);
        assert_eq!(o.status.code(), Some(0), "{when}: the next build must complete without --force: {}", stderr(&o));
        assert_eq!(files(&dir.join("out")), new, "{when}: the next build leaves exactly the new tree");
        step += 1;
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Every file below `dir` whose path has a segment starting with `.khc-tmp-`.
fn temporaries(dir: &Path) -> Vec<String> {
    files(dir).into_keys().filter(|p| p.split('/').any(|s| s.starts_with(".khc-tmp-"))).collect()
}

/// A cold build (OUT empty) writes the new `clusters/` whole under a temporary
/// name and renames it into place once: paused (then killed) after each step —
/// the journal, every file, the rename — `clusters/` is absent or complete,
/// never partial, and the next build completes the tree without `--force`,
/// leaving no temporary directory behind.
#[test]
fn a_cold_build_appears_whole_and_a_killed_one_is_completed_by_the_next() {
    let dir = temp("cold");
    std::fs::write(dir.join("c.khc"), program(&["a", "b", "c"], 0)).unwrap();
    assert_eq!(khc(&["build", "c.khc", "-o", "ref"], &dir).status.code(), Some(0));
    let reference = files(&dir.join("ref"));
    let generated = |tree: &BTreeMap<String, Vec<u8>>| {
        tree.iter().filter(|(p, _)| p.starts_with("clusters/")).map(|(p, b)| (p.clone(), b.clone())).collect::<BTreeMap<_, _>>()
    };
    let (mut step, mut seen_staged) = (1, false);
    loop {
        let _ = std::fs::remove_dir_all(dir.join("out"));
        let mut child = spawn_build(&dir, "out", Some(step));
        if !wait_for_pause(&mut child) {
            assert!(child.wait().unwrap().success());
            assert!(step > 10, "the build must pause at step {step} (test hook)");
            break;
        }
        let now = files(&dir.join("out"));
        let visible = generated(&now);
        assert!(
            visible.is_empty() || visible == generated(&reference),
            "paused after step {step}: clusters/ is partial: {:?}",
            visible.keys().collect::<Vec<_>>()
        );
        seen_staged |= visible.is_empty() && !temporaries(&dir.join("out")).is_empty();
        child.kill().unwrap();
        child.wait().unwrap();
        let o = khc(&["build", "c.khc", "-o", "out"], &dir);
        assert_eq!(o.status.code(), Some(0), "killed after step {step}: the next build must complete without --force: {}", stderr(&o));
        assert_eq!(files(&dir.join("out")), reference, "killed after step {step}: the next build leaves exactly the tree, no temporary directory");
        step += 1;
    }
    assert!(seen_staged, "no pause saw the files staged under a temporary directory");
    std::fs::remove_dir_all(&dir).ok();
}

/// A directory that appears where a staged one is to be renamed (another program
/// writing into OUT during the build) is never replaced: the build stops with an
/// error naming it, its contents are intact, and nothing khc staged is left.
#[test]
fn a_directory_that_appears_during_a_cold_build_is_not_replaced() {
    use std::io::Write as _;
    let dir = temp("appears");
    std::fs::write(dir.join("c.khc"), program(&["a", "b"], 0)).unwrap();
    let mut child = spawn_resumable(&dir, 2);
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("khc-test: paused") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "the build did not pause");
    }
    std::fs::create_dir_all(dir.join("out/clusters")).unwrap();
    std::fs::write(dir.join("out/clusters/notes.txt"), "mine").unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{rest}");
    assert!(rest.contains("appeared while khc was writing"), "{rest}");
    assert_eq!(std::fs::read_to_string(dir.join("out/clusters/notes.txt")).unwrap(), "mine");
    assert!(temporaries(&dir.join("out")).is_empty(), "{:?}", temporaries(&dir.join("out")));
    // The next build writes around the foreign file (it is not at a generated path).
    let o = khc(&["build", "c.khc", "-o", "out"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.join("out/clusters/notes.txt")).unwrap(), "mine");
    assert!(dir.join("out/clusters/c/Kustomization").exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// The same with a real `kill -9` at moments spread over the writing of a large
/// tree (no test hook: the test watches OUT until the build starts changing it,
/// then waits 0–30 ms).
#[cfg(unix)]
#[test]
fn a_large_build_killed_at_random_moments_is_completed_by_the_next() {
    let dir = temp("kill9");
    // 15 tenants go, 15 come (sorting first, so they are written early), 30 change.
    let names: Vec<String> = (0..15).map(|i| format!("a{i}")).chain((0..45).map(|i| format!("m{i}"))).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let old_src = program(&refs[15..], 0);
    let new_src = program(&refs[..45], 1);
    std::fs::write(dir.join("c.khc"), &old_src).unwrap();
    assert_eq!(khc(&["build", "c.khc", "-o", "ref-old"], &dir).status.code(), Some(0));
    std::fs::write(dir.join("c.khc"), &new_src).unwrap();
    assert_eq!(khc(&["build", "c.khc", "-o", "ref-new"], &dir).status.code(), Some(0));
    let old = files(&dir.join("ref-old"));
    let new = files(&dir.join("ref-new"));
    let manifest = dir.join("out/.khc-manifest");
    let gone = dir.join("out/clusters/c/tenants/m44/Kustomization"); // only in the old tree
    let mut interrupted = 0;
    for delay_ms in [0, 1, 3, 10, 30] {
        let _ = std::fs::remove_dir_all(dir.join("out"));
        std::fs::write(dir.join("c.khc"), &old_src).unwrap();
        assert_eq!(khc(&["build", "c.khc", "-o", "out"], &dir).status.code(), Some(0));
        let before = std::fs::read(&manifest).unwrap();
        std::fs::write(dir.join("c.khc"), &new_src).unwrap();
        let mut child = spawn_build(&dir, "out", None);
        // Wait until the build starts changing OUT (the manifest changes or an old
        // file goes), or ends.
        while child.try_wait().unwrap().is_none() && std::fs::read(&manifest).is_ok_and(|m| m == before) && gone.exists() {
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL (may come after the build finished)
        if !child.wait().unwrap().success() {
            interrupted += 1;
        }
        let when = format!("killed {delay_ms} ms after the build started changing OUT");
        assert_old_or_new(&dir.join("out"), &old, &new, &when);
        let o = khc(&["build", "c.khc", "-o", "out"], &dir);
        assert_eq!(o.status.code(), Some(0), "{when}: the next build must complete without --force: {}", stderr(&o));
        assert_eq!(files(&dir.join("out")), new, "{when}");
    }
    eprintln!("{interrupted} of 5 builds were killed before they finished");
    assert!(interrupted > 0, "no build was interrupted");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_second_concurrent_build_is_refused() {
    let dir = temp("lock");
    std::fs::write(dir.join("c.khc"), program(&["a", "b"], 0)).unwrap();
    let mut first = spawn_build(&dir, "out", Some(3));
    assert!(wait_for_pause(&mut first), "the first build pauses mid-write (test hook KHC_TEST_PAUSE_AFTER)");
    let o = khc(&["build", "c.khc", "-o", "out"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("another khc build is writing to out"), "{}", stderr(&o));
    first.kill().unwrap();
    first.wait().unwrap();
    // The lock dies with its holder.
    let o = khc(&["build", "c.khc", "-o", "out"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn names_too_long_are_refused_before_anything_is_written() {
    let dir = temp("long");
    // A cluster role of 250 characters: `clusterrole-NAME.yaml` is 267 bytes.
    let long = ["a".repeat(62), "b".repeat(62), "c".repeat(62), "d".repeat(61)].join(".");
    assert_eq!(long.len(), 250);
    let src = CLUSTER.replace("kubernetes 1.35\n", &format!("kubernetes 1.35\n  role {long} {{ can get on pods }}\n  grant {long} to group \"g\"\n"));
    std::fs::write(dir.join("c.khc"), format!("{src}tenant a {{}}\n")).unwrap();
    // The compiler already refuses it (a source error, exit 1), before any write.
    let o = khc(&["build", "c.khc", "-o", "out"], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("the limit is 231"), "{}", stderr(&o));
    assert!(files(&dir.join("out")).is_empty(), "nothing written: {:?}", files(&dir.join("out")).keys().collect::<Vec<_>>());

    // A path over 4096 bytes: a deep OUT whose short files fit but whose long ones do not.
    std::fs::write(dir.join("c.khc"), format!("{CLUSTER}tenant a {{}}\n")).unwrap();
    let mut deep = dir.clone();
    while deep.as_os_str().len() < 4096 - 45 {
        deep.push("d".repeat(200.min(4096 - 46 - deep.as_os_str().len()).max(1)));
    }
    std::fs::create_dir_all(deep.parent().unwrap()).unwrap();
    let o = khc(&["build", "c.khc", "-o", deep.to_str().unwrap()], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("the system allows at most 4095"), "{}", stderr(&o));
    assert!(files(&deep).is_empty(), "nothing written");
    std::fs::remove_dir_all(&dir).ok();
}

/// Source names with a newline and shell or kustomize syntax cannot inject
/// anything: the install script runs without executing it, and `kubectl
/// kustomize` renders the same objects as for plain names.
#[cfg(unix)]
#[test]
fn source_names_cannot_inject_commands_or_kustomize_fields() {
    let dir = temp("inject");
    // An entry file whose name carries a command.
    let entry = "c\ntouch PWNED\n#.khc";
    std::fs::write(dir.join(entry), CLUSTER).unwrap();
    let o = khc(&["build", entry, "-o", "out"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let script = dir.join("out/clusters/c/control-plane/install-encryption-config.sh");
    let run =
        Command::new("sh").arg(&script).arg(dir.join("enc.yaml")).current_dir(&dir).env("K", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(!dir.join("PWNED").exists(), "the file name was executed by the install script");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("# Generated by khc from \"c\\ntouch PWNED\\n#.khc:5\". Do not edit.\n"), "{text}");

    // A tenant in a directory whose name adds a kustomize patch turning the
    // admission policy binding from Deny into Audit.
    let sub = concat!(
        "x\n",
        r#"patches: [{patch: "[{\"op\": \"replace\", \"path\": \"\x2fspec\x2fvalidationActions\", \"value\": [\"Audit\"]}]", target: {kind: ValidatingAdmissionPolicyBinding}}]"#,
        "\n#"
    );
    std::fs::create_dir_all(dir.join(sub)).unwrap();
    std::fs::write(dir.join(sub).join("t.khc"), "tenant shop {\n  admission { use restricted }\n}\n").unwrap();
    let import = sub.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    std::fs::write(dir.join("k.khc"), format!("import \"std/restricted\"\nimport \"{import}/t.khc\"\n{CLUSTER}")).unwrap();
    let o = khc(&["build", "k.khc", "-o", "out2"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let has_kubectl = Command::new("kubectl").arg("version").arg("--client").output().is_ok_and(|o| o.status.success());
    if has_kubectl {
        let k = Command::new("kubectl").args(["kustomize", "out2/clusters/c/tenants/shop"]).current_dir(&dir).output().unwrap();
        assert!(k.status.success(), "{}", String::from_utf8_lossy(&k.stderr));
        let yaml = String::from_utf8_lossy(&k.stdout);
        assert!(yaml.contains("kind: ValidatingAdmissionPolicyBinding"), "{yaml}");
        let actions: Vec<&str> = yaml.lines().filter(|l| l.trim() == "- Audit" || l.trim() == "- Deny").collect();
        // The tenant's admission binding, its managed-by protection binding and its NetworkPolicy guard's.
        assert_eq!(actions, ["  - Deny", "  - Deny", "  - Deny"], "the directory name patched a binding:\n{yaml}");
    } else {
        eprintln!("kubectl not found: skipping the kustomize check");
    }
    for (path, bytes) in files(&dir.join("out2")) {
        for line in String::from_utf8(bytes).unwrap().lines() {
            assert!(!line.starts_with("patches"), "{path}: injected line {line:?}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A closed stderr or stdout never makes khc panic: it exits with the code of the
/// run.
#[test]
fn closed_pipes_do_not_crash_khc() {
    let dir = temp("pipe");
    std::fs::write(dir.join("bad.khc"), "cluster c {\n  kubernetes 1.2\n}\n").unwrap();
    std::fs::write(dir.join("c.khc"), program(&["a"], 0)).unwrap();
    let closed = || {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        writer
    };
    let run = |args: &[&str], stdout_closed: bool| {
        let mut c = Command::new(bin());
        c.args(args).current_dir(&dir).env("NO_COLOR", "1");
        if stdout_closed {
            c.stdout(closed()).stderr(Stdio::null());
        } else {
            c.stderr(closed()).stdout(Stdio::null());
        }
        c.status().unwrap().code()
    };
    assert_eq!(run(&["check", "bad.khc"], false), Some(1), "errors, stderr closed");
    assert_eq!(run(&["build", "c.khc", "-o", "out"], false), Some(0), "build, stderr closed");
    assert!(dir.join("out/clusters/c/Kustomization").exists());
    assert_eq!(run(&["check", "missing.khc"], false), Some(2), "usage error, stderr closed");
    assert_eq!(run(&["--help"], true), Some(0), "help, stdout closed");
    assert_eq!(run(&["--no-such-flag"], false), Some(2), "clap error, stderr closed");
    std::fs::remove_dir_all(&dir).ok();
}

/// A rebuild with nothing changed writes nothing, not even the manifest.
#[cfg(unix)]
#[test]
fn a_no_op_rebuild_writes_nothing() {
    use std::os::unix::fs::MetadataExt;
    let dir = temp("noop");
    std::fs::write(dir.join("c.khc"), program(&["a", "b"], 0)).unwrap();
    assert_eq!(khc(&["build", "c.khc", "-o", "out", "--fsync"], &dir).status.code(), Some(0));
    let stamp = |p: &Path| {
        let m = std::fs::symlink_metadata(p).unwrap();
        (m.ino(), m.mtime(), m.mtime_nsec())
    };
    let manifest = dir.join("out/.khc-manifest");
    let before = stamp(&manifest);
    let all_before: Vec<_> = files(&dir.join("out")).keys().map(|k| (k.clone(), stamp(&dir.join("out").join(k)))).collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let o = khc(&["build", "c.khc", "-o", "out"], &dir);
    assert!(stderr(&o).contains("(0 changed, 0 removed)"), "{}", stderr(&o));
    assert_eq!(stamp(&manifest), before, "the manifest was rewritten");
    let all_after: Vec<_> = files(&dir.join("out")).keys().map(|k| (k.clone(), stamp(&dir.join("out").join(k)))).collect();
    assert_eq!(all_before, all_after);
    std::fs::remove_dir_all(&dir).ok();
}

/// Stale files that cannot be removed stay in the manifest, and a later build
/// removes them. (Uses `chattr +i`, which works for root on ext4; skipped when the
/// file system or user does not allow it.)
#[cfg(target_os = "linux")]
#[test]
fn stale_files_that_cannot_be_removed_stay_in_the_manifest() {
    let dir = temp("kept");
    std::fs::write(dir.join("c.khc"), program(&["a", "b"], 0)).unwrap();
    assert_eq!(khc(&["build", "c.khc", "-o", "out"], &dir).status.code(), Some(0));
    let locked = dir.join("out/clusters/c/tenants/b/b");
    let chattr = |flag: &str| Command::new("chattr").arg(flag).arg(&locked).output().is_ok_and(|o| o.status.success());
    if !chattr("+i") {
        eprintln!("chattr +i not permitted here: skipping");
        std::fs::remove_dir_all(&dir).ok();
        return;
    }
    std::fs::write(dir.join("c.khc"), program(&["a"], 0)).unwrap();
    let o = khc(&["build", "c.khc", "-o", "out"], &dir);
    let manifest = std::fs::read_to_string(dir.join("out/.khc-manifest")).unwrap();
    chattr("-i");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: cannot remove stale file") && stderr(&o).contains("stays in .khc-manifest"), "{}", stderr(&o));
    let quota = "clusters/c/tenants/b/b/resourcequota-b-quota.yaml";
    assert!(dir.join("out").join(quota).exists());
    assert!(manifest.lines().any(|l| l == quota), "a stale file that could not be removed left the manifest:\n{manifest}");
    assert!(!manifest.lines().any(|l| l == "clusters/c/tenants/b/Kustomization"), "removed files leave the manifest");
    assert!(!manifest.contains("# incomplete"));
    // Next time it can be removed, and is.
    let o = khc(&["build", "c.khc", "-o", "out"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!dir.join("out/clusters/c/tenants/b").exists(), "{}", stderr(&o));
    assert!(!std::fs::read_to_string(dir.join("out/.khc-manifest")).unwrap().contains("tenants/b/"));
    std::fs::remove_dir_all(&dir).ok();
}

/// #25 item 4: a directory below OUT swapped for a symbolic link *after* khc
/// checked it (a racing process) cannot redirect a write: every change goes
/// through directory descriptors opened `O_NOFOLLOW`. Deterministic part: the
/// build is paused right after its checks and journal (`KHC_TEST_PAUSE_AFTER=1`,
/// resumed through stdin), the tenant's folder is moved away and replaced by a
/// link to another folder, and the build resumes: nothing may appear in that
/// folder. The hook-free race is `a_racing_swap_cannot_redirect_writes`.
#[test]
fn a_directory_swapped_for_a_link_during_a_build_cannot_redirect_writes() {
    use std::io::Write as _;
    use std::os::unix::fs::symlink;
    let dir = temp("race");
    let elsewhere = dir.join("elsewhere");
    // The same folders as the tenant's, so that a path-based writer following the
    // link would succeed there.
    for ns in ["a", "a-jobs"] {
        std::fs::create_dir_all(elsewhere.join("namespaces").join(ns)).unwrap();
    }
    let files_in = |d: &Path| files(d).into_keys().collect::<Vec<_>>();
    std::fs::write(dir.join("c.khc"), program(&["a", "b"], 0)).unwrap();
    assert_eq!(khc(&["build", "c.khc", "-o", "out"], &dir).status.code(), Some(0));
    let tenant = dir.join("out/clusters/c/tenants/a");
    let moved = dir.join("moved-a");

    // 1. Paused after the journal: swap, then resume.
    std::fs::write(dir.join("c.khc"), program(&["a", "b"], 1)).unwrap();
    let mut child = spawn_resumable(&dir, 1);
    assert!(wait_for_pause(&mut child), "the build did not pause");
    std::fs::rename(&tenant, &moved).unwrap();
    symlink(&elsewhere, &tenant).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let status = child.wait().unwrap();
    let written = files_in(&elsewhere);
    assert!(written.is_empty(), "khc wrote through the swapped link: {written:?} (exit {status:?})");
    // Either the build stops at the link (a folder not opened yet) or it wrote into
    // the folder it had checked and opened (now moved away); never through the link.
    assert_ne!(status.code(), Some(101), "{status:?}");
    // Put the folder back: the next build completes the tree.
    std::fs::remove_file(&tenant).unwrap();
    std::fs::rename(&moved, &tenant).unwrap();
    let o = khc(&["build", "c.khc", "-o", "out"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

/// #25 item 4 without any test hook: rebuilds (alternating variants, so every
/// build writes into the tenant's folder) for a bounded time while another
/// thread keeps swapping that folder for a link to a folder outside OUT and back,
/// as fast as it can. Nothing may ever appear outside OUT. On the path-based
/// writer before the fix (check with `symlink_metadata`, then write by path) this
/// fails within the bound: a check passes on the real folder and the write lands
/// through the link (`KHC_BIN` runs the test against another build of khc).
#[test]
fn a_racing_swap_cannot_redirect_writes() {
    use std::os::unix::fs::symlink;
    let dir = temp("race-free");
    let elsewhere = dir.join("elsewhere");
    for ns in ["a", "a-jobs"] {
        std::fs::create_dir_all(elsewhere.join("namespaces").join(ns)).unwrap();
    }
    let files_in = |d: &Path| files(d).into_keys().collect::<Vec<_>>();
    std::fs::write(dir.join("c.khc"), program(&["a", "b"], 0)).unwrap();
    assert_eq!(khc(&["build", "c.khc", "-o", "out"], &dir).status.code(), Some(0));
    let tenant = dir.join("out/clusters/c/tenants/a");
    let moved = dir.join("moved-a");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, tenant, moved, elsewhere) = (stop.clone(), tenant.clone(), moved.clone(), elsewhere.clone());
        std::thread::spawn(move || {
            let mut swaps = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if std::fs::rename(&tenant, &moved).is_ok() {
                    let _ = symlink(&elsewhere, &tenant);
                    std::thread::sleep(std::time::Duration::from_micros(50));
                    let _ = std::fs::remove_file(&tenant);
                    let _ = std::fs::rename(&moved, &tenant);
                    swaps += 1;
                }
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
            swaps
        })
    };
    let start = std::time::Instant::now();
    let mut builds = 0;
    while start.elapsed() < std::time::Duration::from_secs(5) && files_in(&elsewhere).is_empty() {
        std::fs::write(dir.join("c.khc"), program(&["a", "b"], builds % 2)).unwrap();
        let o = khc(&["build", "c.khc", "-o", "out"], &dir);
        assert_ne!(o.status.code(), Some(101), "{}", stderr(&o));
        builds += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    let written = files_in(&elsewhere);
    assert!(written.is_empty(), "after {builds} builds and {swaps} swaps, khc wrote outside OUT: {written:?}");
    eprintln!("race: {builds} builds, {swaps} swaps, nothing written outside OUT");
    std::fs::remove_dir_all(&dir).ok();
}
