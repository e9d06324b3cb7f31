//! Inputs that once hung, crashed or misled khc (issue: "input that cannot hang or
//! crash khc"): each runs the real binary with a time limit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("khc-inputs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs khc in `cwd`, killing it after `limit` (its output is read while it runs).
fn khc_within(args: &[&str], cwd: &Path, limit: Duration) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_khc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run khc");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()).ok());
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("khc output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("khc {args:?} did not finish within {limit:?}");
        }
    }
}

fn khc(args: &[&str], cwd: &Path) -> Output {
    khc_within(args, cwd, Duration::from_secs(60))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const CLUSTER: &str = "cluster c {\n  kubernetes 1.35\n  managed-by group \"khc-appliers\"\n  encryption { provider secretbox { key k env \"K\" } }\n}\n";

#[test]
fn deep_nesting_is_a_syntax_error_not_a_crash() {
    let dir = temp("deep");
    std::fs::write(dir.join("c.khc"), format!("{CLUSTER}tenant t {}\n", "{".repeat(10_000))).unwrap();
    std::fs::write(dir.join("d.khc"), format!("{CLUSTER}tenant t {{ namespaces {} }}\n", "[".repeat(13_400))).unwrap();
    for f in ["c.khc", "d.khc"] {
        let o = khc(&["check", f], &dir);
        assert_eq!(o.status.code(), Some(1), "{f}: {}", stderr(&o));
        assert!(stderr(&o).contains("nested more than 64 deep"), "{f}: {}", stderr(&o));
    }
}

#[test]
fn an_imported_fifo_or_device_is_refused_without_hanging() {
    let dir = temp("fifo");
    let fifo = dir.join("pipe.khc");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.khc")).unwrap();
    std::fs::write(dir.join("c.khc"), format!("import \"pipe.khc\"\nimport \"zero.khc\"\n{CLUSTER}")).unwrap();
    let o = khc_within(&["check", "c.khc"], &dir, Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("cannot read `pipe.khc`") && err.contains("not a regular file"), "{err}");
    assert!(err.contains("cannot read `zero.khc`"), "{err}");
    // In a directory, the FIFO beside the entry is reported too, and the entry is checked.
    let o = khc_within(&["check", "."], &dir, Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn an_unreadable_file_in_a_directory_is_reported_and_the_others_checked() {
    let dir = temp("nonutf8");
    std::fs::write(dir.join("a.khc"), CLUSTER).unwrap();
    std::fs::write(dir.join("b.khc"), b"tenant \xff\xfe {}\n").unwrap();
    let o = khc(&["check", "."], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("b.khc") && err.contains("not UTF-8"), "{err}");
    assert!(err.contains("1 error, 0 warnings"), "the entry a.khc is checked clean: {err}");
}

#[test]
fn symlinked_entry_bom_and_lone_cr_line_endings() {
    let dir = temp("bom");
    std::fs::create_dir_all(dir.join("real")).unwrap();
    std::fs::write(dir.join("real/c.khc"), format!("\u{feff}{}", CLUSTER.replace('\n', "\r")).replace("kubernetes 1.35", "kubernetes 1.2")).unwrap();
    std::os::unix::fs::symlink(dir.join("real/c.khc"), dir.join("c.khc")).unwrap();
    // Inside a directory no link is followed (one walker, one policy: SPEC section 3);
    // the link is reported, not read.
    let o = khc(&["check", "."], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("not followed inside a directory"), "{}", stderr(&o));
    // Named on the command line, the linked entry is read.
    let o = khc(&["check", "c.khc"], &dir);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    // The BOM is accepted; the error is on line 2 although lines end with a lone CR.
    assert!(err.contains("c.khc:2:14"), "{err}");
    assert!(!err.contains("\u{feff}"), "{err}");
}

#[test]
fn a_file_imported_along_two_paths_is_one_file() {
    let dir = temp("dotdot");
    std::fs::create_dir_all(dir.join("p")).unwrap();
    std::fs::write(dir.join("p/b.khc"), "tenant b {}\n").unwrap();
    std::fs::write(dir.join("p/a.khc"), "import \"../p/b.khc\"\nimport \"b.khc\"\n").unwrap();
    std::fs::write(dir.join("p/main.khc"), format!("import \"a.khc\"\nimport \"../p/b.khc\"\n{CLUSTER}")).unwrap();
    let o = khc(&["check", "p/main.khc"], &dir);
    assert_eq!(o.status.code(), Some(0), "no duplicate tenant `b`: {}", stderr(&o));
}

#[test]
fn quantity_overflow_is_an_error() {
    let dir = temp("overflow");
    std::fs::write(dir.join("c.khc"), format!("{CLUSTER}tenant t {{\n  limits {{ min memory 200000000000Ei }}\n}}\n")).unwrap();
    let o = khc(&["check", "c.khc"], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("is not a quantity"), "{}", stderr(&o));
}

#[test]
fn two_entries_with_one_cluster_name_fail_check_too() {
    let dir = temp("dupcluster");
    std::fs::write(dir.join("a.khc"), CLUSTER).unwrap();
    std::fs::write(dir.join("b.khc"), CLUSTER).unwrap();
    let o = khc(&["check", "."], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cluster `c` is declared by both"), "{}", stderr(&o));
}

#[test]
fn a_flood_of_errors_is_capped_and_fast() {
    let dir = temp("flood");
    // 1,000,000 `$` would once cost 1.1 GB of diagnostics; 2 MB of them must be quick.
    std::fs::write(dir.join("c.khc"), format!("{CLUSTER}{}", "$ $ $ $\n".repeat(250_000))).unwrap();
    let start = Instant::now();
    let o = khc_within(&["check", "c.khc"], &dir, Duration::from_secs(60));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("more syntax errors in this file"), "{}", &err[err.len().saturating_sub(500)..]);
    assert!(err.len() < 200_000, "output is bounded: {} bytes", err.len());
    eprintln!("2 MB of errors checked in {:?}", start.elapsed());
}
