//! The `khc` binary: exit codes, help text, output writing and its safety rules.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn khc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_khc")).args(args).current_dir(cwd).env("NO_COLOR", "1").output().expect("run khc")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("khc-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn build_writes_the_example_tree_and_is_deterministic() {
    let out = temp("build");
    let o = khc(&["build", "examples/multi-tenant", "-o", out.to_str().unwrap()], &repo());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrote 107 files (107 changed, 0 removed)"), "{}", stderr(&o));
    assert!(out.join("clusters/prod-eu/Kustomization").exists());
    let script = out.join("clusters/prod-eu/control-plane/install-encryption-config.sh");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&script).unwrap().permissions().mode() & 0o111, 0o111);
    }
    // Same again: nothing changes on disk.
    let o = khc(&["build", "examples/multi-tenant", "-o", out.to_str().unwrap()], &repo());
    assert!(stderr(&o).contains("(0 changed, 0 removed)"), "{}", stderr(&o));
    // The checked-in generated tree is exactly what the CLI writes.
    let golden = repo().join("examples/multi-tenant/generated/clusters/prod-eu/tenants/payments/namespace-payments.yaml");
    assert_eq!(std::fs::read(&golden).unwrap(), std::fs::read(out.join("clusters/prod-eu/tenants/payments/namespace-payments.yaml")).unwrap());
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn rebuild_removes_stale_files_but_never_foreign_ones() {
    let dir = temp("stale");
    let src = dir.join("c.khc");
    let out = dir.join("out");
    let two = "cluster c {\n  kubernetes 1.35\n  managed-by group \"khc-appliers\"\n  encryption { provider secretbox { key k env \"K\" } }\n}\ntenant a {}\ntenant b {}\n";
    std::fs::write(&src, two).unwrap();
    assert_eq!(khc(&["build", "c.khc", "-o", "out"], &dir).status.code(), Some(0));
    assert!(out.join("clusters/c/tenants/b/namespace-b.yaml").exists());
    std::fs::write(out.join("README.md"), "mine").unwrap();
    std::fs::write(&src, two.replace("tenant b {}\n", "")).unwrap();
    let o = khc(&["build", "c.khc", "-o", "out"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!out.join("clusters/c/tenants/b").exists(), "stale tenant folder removed");
    assert_eq!(std::fs::read_to_string(out.join("README.md")).unwrap(), "mine", "foreign file untouched");

    // A file khc did not write is not overwritten without --force.
    let other = dir.join("other");
    // (The tenant unit's kustomization: this cluster has no cluster-scoped object,
    // so no cluster unit and no entry point.)
    std::fs::create_dir_all(other.join("clusters/c/tenants/a")).unwrap();
    std::fs::write(other.join("clusters/c/tenants/a/Kustomization"), "hand-written").unwrap();
    let o = khc(&["build", "c.khc", "-o", "other"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(other.join("clusters/c/tenants/a/Kustomization")).unwrap(), "hand-written");
    assert_eq!(khc(&["build", "c.khc", "-o", "other", "--force"], &dir).status.code(), Some(0));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn exit_codes() {
    let dir = temp("codes");
    std::fs::write(dir.join("bad.khc"), "cluster c {\n  kubernetes 1.2\n}\n").unwrap();
    std::fs::write(dir.join("warn.khc"), "cluster c {\n  kubernetes 1.31\n}\n").unwrap();
    let o = khc(&["check", "bad.khc"], &dir);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("error[invalid-value]") && err.contains("bad.khc:2:14"), "{err}");
    let o = khc(&["build", "bad.khc", "-o", "out"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(!dir.join("out").exists(), "nothing written on errors");
    assert_eq!(khc(&["check", "warn.khc"], &dir).status.code(), Some(0));
    assert_eq!(khc(&["check", "warn.khc", "--deny-warnings"], &dir).status.code(), Some(1));
    assert_eq!(khc(&["check", "missing.khc"], &dir).status.code(), Some(2));
    assert_eq!(khc(&["build", "--no-such-flag"], &dir).status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn help_teaches() {
    let o = khc(&["--help"], &repo());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("build") && text.contains("check") && text.contains("Exit codes") && text.contains("Examples"), "{text}");
    let o = khc(&["build", "--help"], &repo());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("control-plane") && text.contains("--deny-warnings") && text.contains(".khc-manifest"), "{text}");
}

#[test]
fn directory_without_entry_is_a_usage_error() {
    let dir = temp("noentry");
    std::fs::write(dir.join("t.khc"), "tenant a {}\n").unwrap();
    let o = khc(&["check", "."], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("declares a `cluster`"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_directory_with_two_entries_builds_two_clusters() {
    let dir = temp("multi");
    let cluster = |name: &str| {
        format!("import \"shared.khc\"\ncluster {name} {{\n  kubernetes 1.35\n  managed-by group \"khc-appliers\"\n  encryption {{ provider secretbox {{ key k env \"K\" }} }}\n}}\n")
    };
    std::fs::write(dir.join("eu.khc"), cluster("eu")).unwrap();
    std::fs::write(dir.join("us.khc"), cluster("us")).unwrap();
    std::fs::write(dir.join("shared.khc"), "tenant shop {}\n").unwrap();
    let o = khc(&["build", ".", "-o", "out"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("clusters eu, us"), "{}", stderr(&o));
    for c in ["eu", "us"] {
        assert!(dir.join(format!("out/clusters/{c}/tenants/shop/namespace-shop.yaml")).exists());
    }
    std::fs::write(dir.join("us.khc"), cluster("eu")).unwrap();
    let o = khc(&["build", ".", "-o", "out"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cluster `eu` is declared by both eu.khc and us.khc"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn language_server_publishes_diagnostics_over_stdio() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = temp("lsp");
    let file = dir.join("c.khc");
    let uri = format!("file://{}", file.display());
    let text = "cluster c {\n  kubernetes 1.2\n}\n";
    // On disk too: without workspace folders the server adopts the nearest
    // directory with an entry file, which must be this one (not whatever other
    // `*.khc` an unrelated process left in the system's temporary folder).
    std::fs::write(&file, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_khc"))
        .arg("lsp")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start khc lsp");
    let mut stdin = child.stdin.take().unwrap();
    let mut send = |v: serde_json::Value| {
        let body = v.to_string();
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        stdin.flush().unwrap();
    };
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut recv = move || -> serde_json::Value {
        let mut len = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                len = n.trim().parse().unwrap();
            }
        }
        let mut buf = vec![0; len];
        reader.read_exact(&mut buf).unwrap();
        serde_json::from_slice(&buf).unwrap()
    };
    send(serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}));
    let init = recv();
    assert_eq!(init["result"]["serverInfo"]["name"], "khc");
    send(serde_json::json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
    send(
        serde_json::json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "khc", "version": 1, "text": text}}}),
    );
    let diags = recv();
    assert_eq!(diags["method"], "textDocument/publishDiagnostics");
    assert_eq!(diags["params"]["uri"], uri.as_str());
    let list = diags["params"]["diagnostics"].as_array().unwrap();
    let err = list.iter().find(|d| d["severity"] == 1).expect("an error");
    assert_eq!(err["code"], "invalid-value");
    assert_eq!(err["range"]["start"], serde_json::json!({"line": 1, "character": 13}));
    send(serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": null}));
    assert_eq!(recv()["id"], 2);
    send(serde_json::json!({"jsonrpc": "2.0", "method": "exit", "params": null}));
    let status = child.wait().unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn build_gitops_flags_emit_engine_objects_or_explain_what_is_missing() {
    let out = temp("gitops").join("out");
    let o = khc(&["build", "examples/multi-tenant", "-o", out.to_str().unwrap(), "--gitops", "argocd"], &repo());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--gitops-repo"), "{}", stderr(&o));
    assert!(!out.exists(), "nothing written on a usage error");
    let o = khc(&["build", "examples/multi-tenant", "-o", out.to_str().unwrap(), "--gitops-repo", "https://x"], &repo());
    assert_eq!(o.status.code(), Some(2), "--gitops-repo needs --gitops");
    let args = [
        "build",
        "examples/multi-tenant",
        "-o",
        out.to_str().unwrap(),
        "--gitops",
        "argocd",
        "--gitops-repo",
        "https://git.example.com/p.git",
        "--gitops-path",
        "out",
    ];
    let o = khc(&args, &repo());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let entry = std::fs::read_to_string(out.join("clusters/prod-eu/Kustomization")).unwrap();
    assert!(entry.contains("- gitops") && !entry.contains("- cluster"), "{entry}");
    let app = std::fs::read_to_string(out.join("clusters/prod-eu/gitops/application-prod-eu-payments.yaml")).unwrap();
    assert!(app.contains("path: out/clusters/prod-eu/tenants/payments"), "{app}");
    // Switching to Flux replaces the Applications (they are khc's stale files).
    let o = khc(&["build", "examples/multi-tenant", "-o", out.to_str().unwrap(), "--gitops", "flux"], &repo());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!out.join("clusters/prod-eu/gitops/application-prod-eu-payments.yaml").exists());
    assert!(out.join("clusters/prod-eu/gitops/kustomization-prod-eu-payments.yaml").exists());
    std::fs::remove_dir_all(out.parent().unwrap()).ok();
}

/// #25 item 8: one directory walker for every command. `khc fmt --check DIR`
/// follows no link below DIR (a link loop listed one file 41 times) and reads no
/// FIFO (it hung); entry discovery does not read a FIFO or a linked `*.khc`.
#[cfg(unix)]
#[test]
fn fmt_and_entry_discovery_follow_no_links_and_read_no_fifos() {
    let dir = temp("walker");
    std::fs::create_dir_all(dir.join("src/sub")).unwrap();
    std::fs::write(dir.join("src/sub/t.khc"), "tenant  a {\n}\n").unwrap();
    std::os::unix::fs::symlink(dir.join("src"), dir.join("src/sub/loop")).unwrap();
    let outside = temp("walker-outside");
    std::fs::write(outside.join("o.khc"), "tenant  o {\n}\n").unwrap();
    std::os::unix::fs::symlink(outside.join("o.khc"), dir.join("src/linked.khc")).unwrap();
    let fifo = std::ffi::CString::new(dir.join("src/fifo.khc").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    let d = dir.clone();
    std::thread::spawn(move || {
        let _ = tx.send(khc(&["fmt", "--check", "src"], &d));
    });
    let o = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("khc fmt hung (a FIFO read, or a link loop followed)");
    let listed: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect();
    assert_eq!(listed, ["src/sub/t.khc"], "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(outside.join("o.khc")).unwrap(), "tenant  o {\n}\n");

    // Entry discovery: a FIFO and a linked entry next to the real one.
    std::fs::write(dir.join("cluster.khc"), "cluster c {\n  kubernetes 1.35\n}\n").unwrap();
    std::fs::write(outside.join("other.khc"), "cluster other {\n  kubernetes 1.35\n}\n").unwrap();
    std::os::unix::fs::symlink(outside.join("other.khc"), dir.join("other.khc")).unwrap();
    let fifo = std::ffi::CString::new(dir.join("z.khc").to_str().unwrap()).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    let d = dir.clone();
    std::thread::spawn(move || {
        let _ = tx.send(khc(&["check", "."], &d));
    });
    let o = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("khc check hung");
    // Neither is read; both are reported, so an intended entry is not silently ignored.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("a symbolic link (not followed inside a directory)") && stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("cluster `other`"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&outside).ok();
}

/// Issue 20 item 3: warnings acknowledged in source (`# khc: allow CODE —
/// REASON` on their line, or alone on the line before) no longer fail
/// `--deny-warnings`; they stay counted, are listed with `--show-acknowledged`,
/// and are suppressed results (with the justification) in SARIF. An
/// acknowledgement that matches nothing, or without a reason, is a warning.
#[test]
fn acknowledged_warnings_pass_deny_warnings_and_stay_visible() {
    let dir = temp("acknowledge");
    let src = dir.join("c.khc");
    let warned = "cluster c {\n  kubernetes 1.37\n}\ntenant t {}\n";
    std::fs::write(&src, warned).unwrap();
    let o = khc(&["check", "c.khc", "--deny-warnings"], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("khc: 0 errors, 2 warnings (warnings denied)"), "{}", stderr(&o));
    // Both warnings (no encryption, no managed-by) are on the cluster's line.
    let acked = "# khc: allow risky — a lab cluster: no Secrets, applied by hand\ncluster c {\n  kubernetes 1.37\n}\ntenant t {}\n";
    std::fs::write(&src, acked).unwrap();
    let o = khc(&["check", "c.khc", "--deny-warnings"], &dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("khc: 0 errors, 0 warnings (2 acknowledged)"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning[risky]"), "{}", stderr(&o));
    let o = khc(&["check", "c.khc", "--show-acknowledged"], &dir);
    assert!(
        stderr(&o).contains("warning[risky]") && stderr(&o).contains("acknowledged in source: a lab cluster: no Secrets, applied by hand"),
        "{}",
        stderr(&o)
    );
    let o = khc(&["check", "c.khc", "--format", "sarif"], &dir);
    let sarif: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{sarif}");
    for r in results {
        assert_eq!(r["suppressions"][0]["kind"], "inSource", "{r}");
        assert_eq!(r["suppressions"][0]["justification"], "a lab cluster: no Secrets, applied by hand", "{r}");
    }
    // One that matches nothing, and one without a reason: warnings.
    std::fs::write(
        &src,
        acked
            .replace("  kubernetes 1.37\n", "  kubernetes 1.37 # khc: allow conflict — nothing to see\n")
            .replace("tenant t {}", "tenant t {} # khc: allow risky"),
    )
    .unwrap();
    let o = khc(&["check", "c.khc", "--deny-warnings"], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning[no-effect]: this acknowledgement of `conflict` matches no warning on line 3"), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning[bad-argument]: the acknowledgement of `risky` needs a reason"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn import_writes_the_project_and_the_report() {
    let dir = temp("import");
    let out = dir.join("cluster.khc");
    let report = dir.join("report.json");
    let o = khc(
        &[
            "import",
            "tests/import/legacy.yaml",
            "-o",
            out.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--format",
            "json",
            "--tenant-label",
            "team",
        ],
        &repo(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let source = std::fs::read_to_string(&out).unwrap();
    assert!(source.contains("tenant platform {\n  namespaces monitoring"), "{source}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let left: Vec<&str> = r["left_out"].as_array().unwrap().iter().map(|i| i["object"].as_str().unwrap()).collect();
    assert!(left.contains(&"NetworkPolicy web/from-ingress-nginx"), "{left:?}");
    assert!(r["left_out"][0]["location"].as_str().unwrap().starts_with("tests/import/legacy.yaml:"));
    // The imported project checks clean of errors.
    let c = khc(&["check", out.to_str().unwrap()], &repo());
    assert!(c.status.success(), "{}", stderr(&c));
    // Stdin, the text report on stderr; a bad mapping is a usage error.
    let piped = Command::new(env!("CARGO_BIN_EXE_khc"))
        .args(["import", "-"])
        .current_dir(repo())
        .stdin(std::fs::File::open(repo().join("tests/import/legacy.yaml")).unwrap())
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert!(String::from_utf8_lossy(&piped.stderr).contains("left out (11):"), "{}", stderr(&piped));
    assert_eq!(String::from_utf8_lossy(&piped.stdout), std::fs::read_to_string(repo().join("tests/import/legacy.khc")).unwrap());
    let bad = khc(&["import", "tests/import/legacy.yaml", "--tenant-of", "shop"], &repo());
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn who_can_and_can_answer_for_urls_and_kubelet_subresources() {
    // The imported sample's Prometheus ClusterRole: `nodes/metrics` and `/metrics`.
    let p = ["-p", "tests/import/legacy.khc"];
    let yes = khc(&[&["can", "sa:monitoring/prometheus", "get", "/metrics"][..], &p].concat(), &repo());
    assert!(yes.status.success(), "{}", String::from_utf8_lossy(&yes.stdout));
    assert!(String::from_utf8_lossy(&yes.stdout).contains("ClusterRole prometheus"));
    let no = khc(&[&["can", "sa:monitoring/prometheus", "get", "/logs"][..], &p].concat(), &repo());
    assert_eq!(no.status.code(), Some(1));
    assert!(khc(&[&["can", "sa:monitoring/prometheus", "get", "nodes/metrics"][..], &p].concat(), &repo()).status.success());
    assert_eq!(khc(&[&["can", "sa:monitoring/prometheus", "get", "nodes/proxy"][..], &p].concat(), &repo()).status.code(), Some(1));
    // Every user reads /healthz through the bootstrap discovery roles.
    let w = khc(&[&["who-can", "get", "/healthz"][..], &p].concat(), &repo());
    let out = String::from_utf8_lossy(&w.stdout);
    assert!(out.contains("group:system:authenticated") && out.contains("system:public-info-viewer"), "{out}");
    let w = khc(&[&["who-can", "get", "/metrics"][..], &p].concat(), &repo());
    let out = String::from_utf8_lossy(&w.stdout);
    assert!(out.contains("sa:monitoring/prometheus") && !out.contains("system:authenticated"), "{out}");
}
