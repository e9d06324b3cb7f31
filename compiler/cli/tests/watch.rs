//! `khc build --watch` as a whole process: it rebuilds after an edit, rewrites
//! only the files whose bytes changed, keeps the previous output when the sources
//! have errors, and stops cleanly on SIGINT (exit 0, lock released).

#![cfg(unix)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("khc-watch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("tenants")).unwrap();
    d
}

/// Every file below `dir` with (inode, mtime seconds, mtime nanoseconds, contents).
fn tree(dir: &Path) -> BTreeMap<String, (u64, i64, i64, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u64, i64, i64, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, (m.ino(), m.mtime(), m.mtime_nsec(), std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Kills the watching process if the test fails half-way.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines of the child's stderr, read on a thread.
fn lines(child: &mut Child) -> Receiver<String> {
    let (tx, rx) = channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a summary line (`khc: N errors…`), returning it and the lines before it.
fn summary(rx: &Receiver<String>) -> (String, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut before = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) if l.starts_with("khc: ") && l.contains(" error") => return (l, before),
            Ok(l) => before.push(l),
            Err(_) => break,
        }
    }
    panic!("no summary line within 30 s; saw {before:?}");
}

const ENTRY: &str =
    "import \"tenants/a.khc\"\nimport \"tenants/b.khc\"\ncluster c {\n  kubernetes 1.31\n  role pod-reader { can get list on pods }\n  encryption { provider secretbox { key k env \"K\" } }\n}\n";
const A: &str = "tenant a {\n  workload api {}\n  quota { pods 10 }\n}\n";
const B: &str = "tenant b {\n  workload web {}\n}\n";

#[test]
fn watch_rebuilds_only_what_changed_keeps_output_on_errors_and_stops_on_sigint() {
    let dir = temp("e2e");
    std::fs::write(dir.join("main.khc"), ENTRY).unwrap();
    std::fs::write(dir.join("tenants/a.khc"), A).unwrap();
    std::fs::write(dir.join("tenants/b.khc"), B).unwrap();
    let out = dir.join("out");
    let (mut child, rx) = start_watch(&dir, &[".", "-o", "out"]);

    // 1. The first build writes everything.
    let (line, _) = summary(&rx);
    assert!(line.contains("0 errors") && line.contains("changed, 0 removed"), "{line}");
    let first = tree(&out);
    assert!(first.contains_key("clusters/c/tenants/a/namespaces/a/serviceaccount-api.yaml"));

    // 2. Edit tenant a: its new object appears, its changed files are rewritten,
    //    and nothing else is touched (same inode and mtime).
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(dir.join("tenants/a.khc"), A.replace("quota { pods 10 }", "quota { pods 10 }\n  workload worker {}")).unwrap();
    let (line, _) = summary(&rx);
    assert!(line.contains("0 errors") && line.contains("after changes to tenants/a.khc"), "{line}");
    let second = tree(&out);
    let new_sa = "clusters/c/tenants/a/namespaces/a/serviceaccount-worker.yaml";
    assert!(second.contains_key(new_sa), "{line}");
    let rewritten: Vec<&String> =
        second.keys().filter(|k| first.get(*k).is_none_or(|f| (f.0, f.1, f.2) != (second[*k].0, second[*k].1, second[*k].2))).collect();
    let want = [".khc-manifest", "clusters/c/tenants/a/namespaces/a/Kustomization", new_sa];
    assert_eq!(rewritten, want.map(String::from).iter().collect::<Vec<_>>(), "only the new file, the listing that names it and the manifest");
    for (k, v) in &first {
        if k.contains("tenants/b/") || k.contains("/cluster/") {
            assert_eq!((v.0, v.1, v.2), (second[k].0, second[k].1, second[k].2), "{k} was rewritten");
        }
    }
    assert!(line.contains("(2 changed, 0 removed)"), "{line}");

    // 3. An error: diagnostics, and the output stays exactly as it was.
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(dir.join("tenants/b.khc"), "tenant b {\n  isolation sometimes\n}\n").unwrap();
    let (line, before) = summary(&rx);
    assert!(line.contains("1 error") && line.contains("nothing written") && line.contains("tenants/b.khc"), "{line}");
    assert!(before.iter().any(|l| l.contains("unknown isolation mode")), "{before:?}");
    assert_eq!(tree(&out), second, "an erroneous build changed the output");

    // 4. Fixed (without the workload): built again; the workload's ServiceAccount is
    //    removed and the listing that named it rewritten.
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(dir.join("tenants/b.khc"), "tenant b {}\n").unwrap();
    let (line, _) = summary(&rx);
    assert!(line.contains("0 errors") && line.contains("(1 changed, 1 removed)"), "{line}");
    assert!(!out.join("clusters/c/tenants/b/namespaces/b/serviceaccount-web.yaml").exists());

    // 5. A new entry file in the directory is picked up (a second cluster).
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(dir.join("staging.khc"), ENTRY.replace("cluster c", "cluster staging").replace("1.31", "1.32")).unwrap();
    let (line, _) = summary(&rx);
    assert!(line.contains("for clusters c, staging"), "{line}");
    assert!(out.join("clusters/staging/tenants/a/namespaces/a/serviceaccount-worker.yaml").exists());

    // 6. SIGINT: a clean exit, with the lock released (another build runs at once).
    // SAFETY: sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGINT) }, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "khc --watch did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    // Every line up to the end of khc's stderr (the reader thread may not have
    // passed the last ones on yet when the exit is seen).
    let rest: Vec<String> = rx.iter().collect();
    assert!(rest.iter().any(|l| l == "khc: stopped watching"), "{rest:?}");
    let o = Command::new(env!("CARGO_BIN_EXE_khc")).args(["build", ".", "-o", "out"]).current_dir(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("(0 changed, 0 removed)"));
    std::fs::remove_dir_all(&dir).ok();
}

fn start_watch(dir: &Path, args: &[&str]) -> (KillOnDrop, Receiver<String>) {
    start_watch_with(dir, args, &[])
}

/// [`start_watch`] with environment variables (`KHC_WATCH_POLL=1`: no inotify;
/// `KHC_WATCH_TRACE=1`: a line counting each build's work).
fn start_watch_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (KillOnDrop, Receiver<String>) {
    let child = Command::new(env!("CARGO_BIN_EXE_khc"))
        .args(["build", "--watch"])
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start khc build --watch");
    let mut child = KillOnDrop(child);
    let rx = lines(&mut child.0);
    (child, rx)
}

/// Waits for a line satisfying `want` within `secs`.
fn wait_line(rx: &Receiver<String>, secs: u64, want: impl Fn(&str) -> bool) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) if want(&l) => return Some(l),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// #25 item 13: a save of the same length that leaves the modification time as it
/// was (a coarse timestamp: both saves in one tick) and the inode (written in
/// place) is still seen: recently modified files are compared by contents.
#[test]
fn watch_sees_a_same_length_save_within_one_timestamp_tick() {
    let dir = temp("tick");
    std::fs::write(dir.join("main.khc"), ENTRY).unwrap();
    std::fs::write(dir.join("tenants/a.khc"), A).unwrap();
    std::fs::write(dir.join("tenants/b.khc"), B).unwrap();
    let a = dir.join("tenants/a.khc");
    // A fixed timestamp a little in the future: "recent" whatever the machine's load.
    let when = std::time::SystemTime::now() + Duration::from_secs(30);
    std::fs::File::options().write(true).open(&a).unwrap().set_modified(when).unwrap();
    let (_child, rx) = start_watch(&dir, &[".", "-o", "out"]);
    let (line, _) = summary(&rx);
    assert!(line.contains("0 errors"), "{line}");
    wait_line(&rx, 30, |l| l.starts_with("khc: watching")).expect("watching");
    // Same length (pods 10 → pods 20), in place (same inode), same mtime.
    let ino = std::fs::metadata(&a).unwrap().ino();
    {
        use std::io::{Seek, Write};
        let mut f = std::fs::File::options().write(true).open(&a).unwrap();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.write_all(A.replace("pods 10", "pods 20").as_bytes()).unwrap();
        f.set_modified(when).unwrap();
    }
    let m = std::fs::metadata(&a).unwrap();
    assert_eq!((m.ino(), m.len()), (ino, A.len() as u64));
    let line = wait_line(&rx, 30, |l| l.starts_with("khc: ") && l.contains(" error")).expect("the same-length save was missed: no rebuild within 30 s");
    assert!(line.contains("after changes to tenants/a.khc") && line.contains("(1 changed"), "{line}");
    let written: Vec<String> = tree(&dir.join("out")).into_values().map(|v| String::from_utf8_lossy(&v.3).into_owned()).collect();
    assert!(written.iter().any(|t| t.contains("pods: '20'")), "the new quota was not written");
    std::fs::remove_dir_all(&dir).ok();
}

/// #25 item 13: a rebuild whose write fails (another process holds OUT's lock) is
/// tried again without any further edit, and succeeds once the lock is free.
#[test]
fn watch_retries_a_failed_write() {
    use std::os::unix::io::AsRawFd;
    let dir = temp("retry");
    std::fs::write(dir.join("main.khc"), ENTRY).unwrap();
    std::fs::write(dir.join("tenants/a.khc"), A).unwrap();
    std::fs::write(dir.join("tenants/b.khc"), B).unwrap();
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let lock = std::fs::File::create(dir.join("out/.khc-lock")).unwrap();
    // SAFETY: flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    let (_child, rx) = start_watch(&dir, &[".", "-o", "out"]);
    wait_line(&rx, 30, |l| l.contains("another khc build is writing")).expect("the first write fails on the held lock");
    drop(lock);
    let line = wait_line(&rx, 30, |l| l.starts_with("khc: ") && l.contains("wrote")).expect("the failed write was never retried");
    assert!(line.contains("retrying the failed write"), "{line}");
    assert!(dir.join("out/clusters/c/Kustomization").exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// #25 item 13: Ctrl-C during a long build stops khc within a bounded time (the
/// build is not waited for beyond a grace period), and a second Ctrl-C exits at
/// once; the next build completes OUT.
#[test]
fn watch_stops_within_bounded_time_and_a_second_ctrl_c_exits_at_once() {
    let dir = temp("ctrlc");
    // Large enough that a debug build takes several seconds.
    for (name, text) in khc_tests::fleet_sources(400) {
        std::fs::write(dir.join(name), text).unwrap();
    }
    for signals in [2, 1] {
        let (mut child, _rx) = start_watch(&dir, &["main.khc", "-o", "out"]);
        // Not before khc catches SIGINT (under load the process may take longer
        // than any fixed sleep to get there, and the default action kills it).
        wait_for_sigint_handler(child.0.id());
        let sent = Instant::now();
        for _ in 0..signals {
            // SAFETY: sends a signal to our own child process.
            assert_eq!(unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGINT) }, 0);
            std::thread::sleep(Duration::from_millis(30));
        }
        let bound = if signals == 2 { Duration::from_secs(1) } else { Duration::from_secs(6) };
        let status = loop {
            if let Some(s) = child.0.try_wait().unwrap() {
                break s;
            }
            assert!(sent.elapsed() < bound + Duration::from_secs(10), "khc --watch still running {:?} after {signals} SIGINT", sent.elapsed());
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(sent.elapsed() < bound, "{signals} SIGINT: exited after {:?} (bound {bound:?}), {status:?}", sent.elapsed());
        assert!(matches!(status.code(), Some(0 | 130)), "{status:?}");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_khc")).args(["build", "main.khc", "-o", "out"]).current_dir(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

/// Waits (up to 30 s) until process `pid` catches SIGINT: bit 1 of `SigCgt` in
/// `/proc/PID/status`.
fn wait_for_sigint_handler(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .is_some_and(|m| m & (1 << (libc::SIGINT - 1)) != 0);
        if caught {
            return;
        }
        assert!(Instant::now() < deadline, "khc --watch did not install its SIGINT handler within 30 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every file below `dir` with its contents only.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    tree(dir).into_iter().filter(|(k, _)| k != ".khc-lock").map(|(k, v)| (k, v.3)).collect()
}

/// A one-shot `khc build` of `dir`'s `main.khc` into a fresh `OUT`: what `--watch` must have written.
fn oracle(dir: &Path, name: &str) -> BTreeMap<String, Vec<u8>> {
    let out = dir.join(name);
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::new(env!("CARGO_BIN_EXE_khc")).args(["build", "main.khc", "-o", name]).current_dir(dir).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let c = contents(&out);
    std::fs::remove_dir_all(&out).ok();
    c
}

/// Issue 24 item 5: at fleet size, a one-tenant edit rewrites exactly the files
/// whose bytes changed (found from the database's memos, not by reading OUT):
/// every other file keeps its inode and mtime, and OUT equals a fresh build's.
/// With OUT's directories compared by stamps (`KHC_WATCH_POLL=1`), an unchanged
/// file edited in place is not even read (the full write would restore it);
/// with OUT watched (inotify), that edit is seen and the next build repairs it
/// with the full write, and the later edits are incremental again.
#[test]
fn watch_rewrites_only_the_changed_files_of_a_fleet() {
    for poll in [true, false] {
        rewrites_only_the_changed_files(poll);
    }
}

fn rewrites_only_the_changed_files(poll: bool) {
    let dir = temp(if poll { "fleet-poll" } else { "fleet" });
    let n = 120;
    for (name, text) in khc_tests::fleet_sources(n) {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let env: &[(&str, &str)] = if poll { &[("KHC_WATCH_POLL", "1"), ("KHC_WATCH_TRACE", "1")] } else { &[("KHC_WATCH_TRACE", "1")] };
    let (_child, rx) = start_watch_with(&dir, &["main.khc", "-o", "out"], env);
    let (line, _) = summary(&rx);
    assert!(line.contains("0 errors"), "{line}");
    wait_line(&rx, 60, |l| l.starts_with("khc: watching")).expect("watching");
    let out = dir.join("out");
    // A file of another tenant edited in place (same inode, its directory
    // untouched, so no stamp changes). Stamped, it stays as edited: proof that
    // OUT is not read (a plain `khc build` restores it: README, "How khc writes
    // OUT"). Watched, the next build sees it and restores it.
    let untouched = out.join("clusters/bench/tenants/t90/Kustomization");
    let original = std::fs::read(&untouched).unwrap();
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(&untouched).unwrap();
        f.write_all(b"# edited in place\n").unwrap();
    }
    for (round, k) in [7, 50, 7].into_iter().enumerate() {
        let before = tree(&out);
        std::thread::sleep(Duration::from_millis(50));
        // Variant 1 changes t{k}'s CPU quota and a port of its egress; back to 0 in round 3.
        let variant = if round == 2 { 0 } else { 1 };
        std::fs::write(dir.join(format!("t{k}.khc")), khc_tests::fleet_tenant(k, n, variant)).unwrap();
        let (line, before_lines) = summary(&rx);
        assert!(line.contains("0 errors") && line.contains(&format!("after changes to t{k}.khc")), "{line}");
        let trace = before_lines.iter().chain([&line]).find(|l| l.starts_with("khc: trace:")).cloned().unwrap_or_default();
        let repaired = !poll && round == 0;
        let mode = if poll { "OUT stamped" } else { "OUT watched" };
        let write = if repaired { "full write" } else { "incremental write" };
        let after = tree(&out);
        let skip = |p: &str| p == ".khc-manifest" || (repaired && p == "clusters/bench/tenants/t90/Kustomization");
        let differ: Vec<&String> = after.keys().filter(|p| before.get(*p).map(|b| &b.3) != Some(&after[*p].3) && !skip(p)).collect();
        assert!(!differ.is_empty() && differ.iter().all(|p| p.contains(&format!("/tenants/t{k}/"))), "{differ:?}");
        let rewritten: Vec<&String> =
            after.keys().filter(|p| before.get(*p).is_none_or(|b| (b.0, b.1, b.2) != (after[*p].0, after[*p].1, after[*p].2)) && !skip(p)).collect();
        assert_eq!(rewritten, differ, "only the files whose bytes changed are rewritten");
        let changed = differ.len() + usize::from(repaired);
        assert!(line.contains(&format!("({changed} changed, 0 removed)")), "{line}");
        assert_eq!(before.len(), after.len());
        let want: &[u8] = if poll { b"# edited in place\n" } else { &original };
        assert_eq!(
            std::fs::read(&untouched).unwrap(),
            want,
            "round {round}: stamped, the watcher read or rewrote an unchanged file; watched, it missed an edit"
        );
        // The trace comes after the write, before the summary: read it if it came first.
        let trace = if trace.is_empty() { wait_line(&rx, 5, |l| l.starts_with("khc: trace:")).unwrap_or_default() } else { trace };
        assert!(trace.contains(write) && trace.contains(mode), "round {round}: {trace}");
        let mut written = contents(&out);
        if poll {
            written.insert("clusters/bench/tenants/t90/Kustomization".into(), original.clone());
        }
        assert_eq!(written, oracle(&dir, "oracle"), "round {round}: OUT differs from a fresh build");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_khc")).args(["build", "main.khc", "-o", "out"]).current_dir(&dir).output().unwrap();
    let repairs = if poll { "(1 changed, 0 removed)" } else { "(0 changed, 0 removed)" };
    assert!(String::from_utf8_lossy(&o.stderr).contains(repairs), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&untouched).unwrap(), original, "a one-shot build repairs it");
    std::fs::remove_dir_all(&dir).ok();
}

/// The counts of a `khc: trace:` line: units read, tenants emitted, files hashed.
fn trace_counts(line: &str) -> (usize, usize, usize) {
    let n: Vec<usize> = line.split_whitespace().filter_map(|w| w.trim_end_matches(',').parse().ok()).collect();
    (n[0], n[1], n[2])
}

/// Issue 24 item 5: the work of a one-tenant edit is flat in the fleet size —
/// the same number of diagnostic units read again, tenants asked of the
/// database and generated files hashed at 100 and at 800 tenants (the other
/// tenants are neither re-checked, nor emitted, nor verified), and the write is
/// the incremental one with OUT watched, not stamped.
#[test]
fn watch_work_per_edit_is_flat_in_the_fleet_size() {
    let mut counts = Vec::new();
    for n in [100, 800] {
        let dir = temp(&format!("flat-{n}"));
        for (name, text) in khc_tests::fleet_sources(n) {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let (_child, rx) = start_watch_with(&dir, &["main.khc", "-o", "out"], &[("KHC_WATCH_TRACE", "1")]);
        wait_line(&rx, 300, |l| l.starts_with("khc: watching")).expect("watching");
        let mut per_size = Vec::new();
        for k in [7, 42] {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::write(dir.join(format!("t{k}.khc")), khc_tests::fleet_tenant(k, n, 1)).unwrap();
            let trace = wait_line(&rx, 60, |l| l.starts_with("khc: trace:")).expect("a trace line");
            assert!(trace.contains("incremental write") && trace.contains("OUT watched"), "{n} tenants: {trace}");
            let line = wait_line(&rx, 60, |l| l.starts_with("khc: ") && l.contains(" error")).expect("summary");
            assert!(line.contains("0 errors") && line.contains(&format!("after changes to t{k}.khc")), "{line}");
            per_size.push(trace_counts(&trace));
        }
        counts.push(per_size);
        std::fs::remove_dir_all(&dir).ok();
    }
    eprintln!("work per one-tenant edit (units read, tenants emitted, files hashed) at 100 and 800 tenants: {counts:?}");
    assert_eq!(counts[0], counts[1], "the work of an edit grows with the fleet: {counts:?} (units, tenants, files hashed) at 100 and 800 tenants");
    for &(units, tenants, hashed) in &counts[1] {
        assert!(units <= 8 && tenants <= 4 && hashed <= 60, "{counts:?}");
    }
}

/// Issue 24 item 5: OUT changed behind the watcher's back — a generated file
/// removed, another replaced (written elsewhere and renamed over it), the
/// manifest rewritten by another build — is noticed (the directories' and the
/// manifest's stamps differ from what the last write left) and the next build
/// repairs it with the full write, as a one-shot build would.
#[test]
fn watch_repairs_an_out_changed_behind_its_back() {
    // Watched (inotify) and stamped (`KHC_WATCH_POLL=1`).
    for poll in [false, true] {
        repairs_an_out_changed_behind_its_back(poll);
    }
}

fn repairs_an_out_changed_behind_its_back(poll: bool) {
    let dir = temp(if poll { "repair-poll" } else { "repair" });
    let n = 30;
    for (name, text) in khc_tests::fleet_sources(n) {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let env: &[(&str, &str)] = if poll { &[("KHC_WATCH_POLL", "1")] } else { &[] };
    let (_child, rx) = start_watch_with(&dir, &["main.khc", "-o", "out"], env);
    let (line, _) = summary(&rx);
    assert!(line.contains("0 errors"), "{line}");
    wait_line(&rx, 60, |l| l.starts_with("khc: watching")).expect("watching");
    let out = dir.join("out");
    let fresh = oracle(&dir, "oracle");
    assert_eq!(contents(&out), fresh);
    // 1. A file removed and another replaced, in tenants the next edit does not touch.
    let removed = out.join("clusters/bench/tenants/t3/namespaces/t3/serviceaccount-api.yaml");
    std::fs::remove_file(&removed).unwrap();
    let replaced = out.join("clusters/bench/tenants/t4/Kustomization");
    std::fs::write(dir.join("junk"), "not what khc wrote\n").unwrap();
    std::fs::rename(dir.join("junk"), &replaced).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(dir.join("t9.khc"), khc_tests::fleet_tenant(9, n, 1)).unwrap();
    let (line, _) = summary(&rx);
    assert!(line.contains("0 errors") && line.contains("after changes to t9.khc"), "{line}");
    assert_eq!(contents(&out), oracle(&dir, "oracle"), "the removed and replaced files are written again");
    // 2. Another build (of the earlier sources) rewrote OUT and its manifest: the
    //    watcher's next build notices and writes every difference.
    let old = dir.join("old");
    std::fs::create_dir_all(&old).unwrap();
    for (name, text) in khc_tests::fleet_sources(n) {
        std::fs::write(old.join(name), text).unwrap();
    }
    let o = Command::new(env!("CARGO_BIN_EXE_khc")).args(["build", "old/main.khc", "-o", "out"]).current_dir(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(contents(&out), fresh, "the other build wrote the earlier tree");
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(dir.join("t11.khc"), khc_tests::fleet_tenant(11, n, 1)).unwrap();
    let (line, _) = summary(&rx);
    assert!(line.contains("0 errors") && line.contains("after changes to t11.khc"), "{line}");
    assert_eq!(contents(&out), oracle(&dir, "oracle"), "t9's and t11's edits are both in OUT");
    std::fs::remove_dir_all(&dir).ok();
}
