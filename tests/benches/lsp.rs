//! Language-server benchmark, whole process over stdio:
//! `cargo bench -p khc-tests --bench lsp [-- OPTIONS]`.
//!
//! For each size it writes a generated workspace (`khc_tests::workspace_gen`) to
//! tmpfs (`/dev/shm` when present), starts `khc lsp`, and acts as an editor would:
//! `initialize` (with `rootUri` and `workspaceFolders`), `initialized`, `didOpen` of
//! `cluster.khc` and of one tenant file, then
//! * **edit**: 30 single-character edits in the tenant file, alternating a harmless
//!   comment change (revision digit `0` ↔ `1`) and a value change (quota `cpu 4` ↔
//!   `cpu 5`); each waits for the `publishDiagnostics` of that file whose `version`
//!   matches (or, when the server sends no version, the next one for that file).
//!   Edits are full-text `didChange`s, or ranged ones when the server advertises
//!   incremental sync (`textDocumentSync.change == 2`). Reported: median, p95 and
//!   max latency, server CPU per edit, publishDiagnostics notifications per edit;
//! * **burst**: 30 keys typed at 100 ms intervals without waiting; how long after
//!   the last key its diagnostics arrive;
//! * **hover** and **completion**: 20 requests each at a fixed position; servers
//!   answering "method not found" are shown as `n/a`;
//! * **references**: 20 `textDocument/references` requests on a peer tenant's name
//!   (every file of the workspace names some tenant, so this walks the whole index);
//! * **manifests** (#23): a Deployment YAML in the edited tenant's namespace is
//!   opened (`man-open`: didOpen → its diagnostics, the first one builds the
//!   project's evaluators); then 10 edits of a `.khc` rule (the quota digit of the
//!   tenant file) each wait for the open manifest's re-judged diagnostics
//!   (`rule→man`: didChange of the `.khc` file → publishDiagnostics of the
//!   manifest), and 10 single-character edits of the manifest (its `replicas`)
//!   each wait for its diagnostics (`man-edit`). Medians.
//!
//! The server must publish diagnostics for the edited document after every
//! change, even when they did not change (as today's server does); an edit whose
//! publication never comes counts as missing (`miss`) after the timeout.
//!
//! Options: `--quick` (or `KHC_BENCH_QUICK=1`): 10 and 100 tenants only (default:
//! 10, 100, 1000); `--sizes 10,2000`; `--flat` puts tenant files next to
//! `cluster.khc` instead of in `tenants/`, `--both-layouts` runs both;
//! `--warnings` gives every tenant file one warning, so every file has diagnostics
//! (`pubs/e` then shows whether the server re-publishes unchanged files).
//! `KHC_BIN=path/to/khc` measures that binary instead of building one (the
//! benchmark otherwise runs `cargo build --release -p khc`, see `common/mod.rs`).
//! `KHC_BENCH_TIMEOUT_MS` (default 10000): how long to wait for one publication
//! before counting it as missing. Always exits 0: it is a measurement, not a test.

mod common;

use common::{cpu_time, ms, percentile, Options, Scratch};
use khc_tests::workspace_gen::{digit_after, Layout, Workspace, COMMENT_MARKER, ENTRY, QUOTA_CPU_MARKER};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

const EDITS: usize = 30;
const BURST_KEYS: usize = 30;
const BURST_INTERVAL: Duration = Duration::from_millis(100);
const REQUESTS: usize = 20;

/// A message from the server and when the reader thread finished reading it.
struct Msg {
    at: Instant,
    v: Value,
}

/// A running `khc lsp`.
struct Lsp {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Msg>,
    next_id: i64,
    timeout: Duration,
    /// textDocumentSync.change advertised by the server (1 full, 2 incremental).
    sync: u64,
    info: String,
    /// publishDiagnostics notifications received so far.
    pubs: usize,
}

impl Lsp {
    fn start(khc: &Path, root: &Path, timeout: Duration) -> (Lsp, Duration) {
        let mut child = Command::new(khc)
            .arg("lsp")
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} lsp: {e}", khc.display()));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut len = None;
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse::<usize>().ok();
                        }
                    }
                }
                let Some(len) = len else { return };
                let mut buf = vec![0; len];
                if reader.read_exact(&mut buf).is_err() {
                    return;
                }
                let at = Instant::now();
                let Ok(v) = serde_json::from_slice(&buf) else { return };
                if tx.send(Msg { at, v }).is_err() {
                    return;
                }
            }
        });
        let mut lsp = Lsp { child, stdin, rx, next_id: 0, timeout, sync: 1, info: String::new(), pubs: 0 };
        let uri = file_uri(root);
        let name = root.file_name().map_or("workspace".into(), |n| n.to_string_lossy().into_owned());
        let params = json!({
            "processId": std::process::id(),
            "clientInfo": {"name": "khc-lsp-bench"},
            "rootUri": uri,
            "rootPath": root,
            "workspaceFolders": [{"uri": uri, "name": name}],
            "capabilities": {
                "workspace": {"workspaceFolders": true, "didChangeWatchedFiles": {"dynamicRegistration": true}, "configuration": true},
                "textDocument": {
                    "synchronization": {"didSave": true, "dynamicRegistration": false},
                    "publishDiagnostics": {"versionSupport": true, "relatedInformation": true},
                    "hover": {"contentFormat": ["markdown", "plaintext"]},
                    "completion": {"completionItem": {"snippetSupport": false}}
                }
            }
        });
        let (took, resp) = lsp.request("initialize", params);
        let resp = resp.expect("initialize answered");
        let caps = &resp["result"]["capabilities"];
        lsp.sync = match &caps["textDocumentSync"] {
            Value::Number(n) => n.as_u64().unwrap_or(1),
            Value::Object(o) => o.get("change").and_then(Value::as_u64).unwrap_or(1),
            _ => 1,
        };
        let si = &resp["result"]["serverInfo"];
        lsp.info = format!("{} {}", si["name"].as_str().unwrap_or("?"), si["version"].as_str().unwrap_or(""));
        lsp.notify("initialized", json!({}));
        (lsp, took)
    }

    fn send(&mut self, v: &Value) {
        let body = v.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).and_then(|_| self.stdin.flush()).expect("write to khc lsp");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next message before `deadline`, answering requests from the server
    /// (registrations, configuration, progress) on the way.
    fn next(&mut self, deadline: Instant) -> Option<Msg> {
        loop {
            let msg = match self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => panic!("khc lsp closed its output (crashed?)"),
            };
            if let (Some(id), Some(method)) = (msg.v.get("id"), msg.v.get("method").and_then(Value::as_str)) {
                let result = match method {
                    "workspace/configuration" => {
                        let n = msg.v["params"]["items"].as_array().map_or(0, Vec::len);
                        Value::Array(vec![Value::Null; n])
                    }
                    _ => Value::Null,
                };
                let reply = json!({"jsonrpc": "2.0", "id": id.clone(), "result": result});
                self.send(&reply);
                continue;
            }
            if msg.v["method"] == "textDocument/publishDiagnostics" {
                self.pubs += 1;
            }
            return Some(msg);
        }
    }

    /// Sends a request and waits for its response: (round trip, response).
    fn request(&mut self, method: &str, params: Value) -> (Duration, Option<Value>) {
        self.next_id += 1;
        let id = self.next_id;
        let t0 = Instant::now();
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = t0 + self.timeout;
        while let Some(m) = self.next(deadline) {
            if m.v.get("method").is_none() && m.v["id"] == id {
                return (m.at - t0, Some(m.v));
            }
        }
        (self.timeout, None)
    }

    /// Discards what the server sent so far: sends a request no server implements
    /// and waits for its (error) answer. A server that handles messages in order has
    /// sent every publication of earlier changes by then, so an unversioned
    /// publication seen afterwards belongs to the next change. Not timed.
    fn barrier(&mut self) {
        self.request("khc-bench/barrier", Value::Null);
    }

    /// Waits for a publishDiagnostics for `uri` with `version` (or without any
    /// version); returns its arrival time.
    fn wait_publish(&mut self, uri: &str, version: i64, timeout: Duration) -> Option<Instant> {
        self.wait_publish_msg(uri, version, timeout).map(|m| m.at)
    }

    /// As [`Lsp::wait_publish`], returning the whole message.
    fn wait_publish_msg(&mut self, uri: &str, version: i64, timeout: Duration) -> Option<Msg> {
        let deadline = Instant::now() + timeout;
        while let Some(m) = self.next(deadline) {
            if m.v["method"] != "textDocument/publishDiagnostics" {
                continue;
            }
            if m.v["params"]["uri"] != uri {
                continue;
            }
            match m.v["params"]["version"].as_i64() {
                Some(v) if v != version => continue,
                _ => return Some(m),
            }
        }
        None
    }

    fn shutdown(mut self) {
        let (_, resp) = self.request("shutdown", Value::Null);
        if resp.is_some() {
            self.notify("exit", Value::Null);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn file_uri(path: &Path) -> String {
    let mut s = String::from("file://");
    for b in path.to_str().expect("UTF-8 path").bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// LSP position of a byte offset in ASCII text.
fn position(text: &str, offset: usize) -> Value {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let character = offset - before.rfind('\n').map_or(0, |i| i + 1);
    json!({"line": line, "character": character})
}

/// The open tenant document and its edit state.
struct Doc {
    uri: String,
    text: String,
    version: i64,
    comment_at: usize,
    quota_at: usize,
    edits: usize,
}

impl Doc {
    /// Applies the next single-character edit (comment and value alternately) and
    /// sends it; returns the send time.
    fn edit(&mut self, lsp: &mut Lsp) -> Instant {
        let at = if self.edits.is_multiple_of(2) { self.comment_at } else { self.quota_at };
        self.edits += 1;
        let new = match self.text.as_bytes()[at] {
            b'0' => b'1',
            b'1' => b'0',
            b'4' => b'5',
            b'5' => b'4',
            _ => unreachable!("edit spots hold 0/1 or 4/5"),
        };
        self.replace(lsp, at, new)
    }

    /// Replaces the ASCII byte at `at` by `new` and sends the change (ranged when the
    /// server syncs incrementally); returns the send time.
    fn replace(&mut self, lsp: &mut Lsp, at: usize, new: u8) -> Instant {
        let new = (new as char).to_string();
        let start = position(&self.text, at);
        self.text.replace_range(at..at + 1, &new);
        self.version += 1;
        let change = if lsp.sync == 2 {
            let end = json!({"line": start["line"], "character": start["character"].as_u64().expect("character") + 1});
            json!({"range": {"start": start, "end": end}, "rangeLength": 1, "text": new})
        } else {
            json!({"text": self.text})
        };
        let params = json!({"textDocument": {"uri": self.uri, "version": self.version}, "contentChanges": [change]});
        let t0 = Instant::now();
        lsp.notify("textDocument/didChange", params);
        t0
    }
}

/// One size's results.
#[derive(Default)]
struct Row {
    init: Duration,
    open_entry: Option<Duration>,
    open_tenant: Option<Duration>,
    edits: Vec<Duration>,
    missing: usize,
    cpu_per_edit: Option<Duration>,
    pubs_per_edit: f64,
    burst_last: Option<Duration>,
    burst_note: &'static str,
    /// Whether an unknown tenant name in the edited file is reported (the
    /// published diagnostics include semantic checks, not only syntax).
    semantic: Option<bool>,
    hover: Option<Vec<Duration>>,
    completion: Option<Vec<Duration>>,
    references: Option<Vec<Duration>>,
    /// didOpen of the manifest → its diagnostics.
    manifest_open: Option<Duration>,
    /// `.khc` rule edit → the open manifest's diagnostics.
    rule_to_manifest: Vec<Duration>,
    /// Manifest edit → its diagnostics.
    manifest_edit: Vec<Duration>,
    /// Diagnostics on the manifest (the debugging Deployment has some).
    manifest_diagnostics: usize,
}

const MANIFEST_EDITS: usize = 10;

/// A Deployment in tenant `t`'s first namespace that its intent refuses
/// (hostNetwork, privilege escalation); `replicas: 1` is the edit spot.
fn manifest(t: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: debug\n  namespace: {t}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {t}-api\n  template:\n    metadata:\n      labels:\n        app: {t}-api\n    spec:\n      hostNetwork: true\n      containers:\n        - name: debug\n          image: registry.example.com/debug:1.0\n          securityContext:\n            allowPrivilegeEscalation: true\n"
    )
}

fn open(lsp: &mut Lsp, path: &Path, text: &str, wait: Duration) -> Option<Duration> {
    let uri = file_uri(path);
    let t0 = Instant::now();
    lsp.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri, "languageId": "khc", "version": 1, "text": text}}));
    lsp.wait_publish(&uri, 1, wait).map(|at| at - t0)
}

/// Times `REQUESTS` requests; `None` when the server does not implement the method.
fn time_requests(lsp: &mut Lsp, method: &str, params: Value) -> Option<Vec<Duration>> {
    let mut times = Vec::new();
    for _ in 0..REQUESTS {
        let (took, resp) = lsp.request(method, params.clone());
        let resp = resp?;
        if resp["error"]["code"] == -32601 {
            return None;
        }
        times.push(took);
    }
    Some(times)
}

fn run(khc: &Path, scratch: &Path, n: usize, layout: Layout, warnings: bool, timeout: Duration) -> (Row, String, u64) {
    let ws = Workspace::new(n).with_layout(layout).with_warnings(warnings);
    let root: PathBuf = scratch.join(format!("{layout:?}-{n}").to_lowercase());
    ws.write(&root).expect("write workspace");
    let mut row = Row::default();
    let (mut lsp, init) = Lsp::start(khc, &root, timeout);
    row.init = init;
    let open_wait = timeout.max(Duration::from_secs(120));

    let entry_text = ws.cluster_source();
    row.open_entry = open(&mut lsp, &root.join(ENTRY), &entry_text, open_wait);
    lsp.barrier();
    let target = n / 2;
    let path = root.join(ws.tenant_path(target));
    let text = ws.tenant_source(target, 0);
    row.open_tenant = open(&mut lsp, &path, &text, open_wait);
    let mut doc = Doc {
        uri: file_uri(&path),
        comment_at: digit_after(&text, COMMENT_MARKER).expect("comment digit"),
        quota_at: digit_after(&text, QUOTA_CPU_MARKER).expect("quota digit"),
        text,
        version: 1,
        edits: 0,
    };

    // Edits, one at a time.
    let pid = lsp.child.id();
    lsp.barrier();
    let cpu0 = cpu_time(pid);
    let pubs0 = lsp.pubs;
    for _ in 0..EDITS {
        lsp.barrier();
        let t0 = doc.edit(&mut lsp);
        let uri = doc.uri.clone();
        match lsp.wait_publish(&uri, doc.version, timeout) {
            Some(at) => row.edits.push(at - t0),
            None => row.missing += 1,
        }
    }
    lsp.barrier();
    row.cpu_per_edit = cpu0.zip(cpu_time(pid)).map(|(a, b)| b.saturating_sub(a) / EDITS as u32);
    row.pubs_per_edit = (lsp.pubs - pubs0) as f64 / EDITS as f64;

    // Typing burst: keys every 100 ms without waiting, then the last key's diagnostics.
    lsp.barrier();
    let start = Instant::now();
    let mut last_sent = start;
    for k in 0..BURST_KEYS {
        let due = start + BURST_INTERVAL * k as u32;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        last_sent = doc.edit(&mut lsp);
    }
    let last_version = doc.version;
    let mut for_uri = 0;
    let mut last_at = None;
    let mut versioned = false;
    loop {
        // Unversioned publications: the last key's are the BURST_KEYS-th for the file;
        // a server that coalesces sends fewer, so stop after a quiet period.
        let quiet = if versioned { timeout } else { timeout.min(Duration::from_secs(3)) };
        let Some(m) = lsp.next(Instant::now() + quiet) else {
            if !versioned && last_at.is_some() {
                row.burst_note = "~";
                row.burst_last = last_at.map(|a: Instant| a.saturating_duration_since(last_sent));
            } else {
                row.burst_note = "!";
            }
            break;
        };
        if m.v["method"] != "textDocument/publishDiagnostics" || m.v["params"]["uri"] != doc.uri.as_str() {
            continue;
        }
        for_uri += 1;
        last_at = Some(m.at);
        match m.v["params"]["version"].as_i64() {
            Some(v) => {
                versioned = true;
                if v == last_version {
                    row.burst_last = Some(m.at.saturating_duration_since(last_sent));
                    break;
                }
            }
            None if for_uri == BURST_KEYS => {
                row.burst_last = Some(m.at.saturating_duration_since(last_sent));
                break;
            }
            None => {}
        }
    }

    // Do the file's diagnostics include semantic checks? Rename a peer tenant
    // reference to an unknown name (one character), look for an error, undo.
    let name_at = doc.text.find("to tenant ").map(|i| i + "to tenant ".len()).expect("a cross-tenant allow");
    lsp.barrier();
    doc.replace(&mut lsp, name_at, b'q');
    let uri = doc.uri.clone();
    row.semantic = lsp
        .wait_publish_msg(&uri, doc.version, timeout)
        .map(|m| m.v["params"]["diagnostics"].as_array().is_some_and(|d| d.iter().any(|d| d["severity"] == 1 && d["code"] != "syntax")));
    lsp.barrier();
    doc.replace(&mut lsp, name_at, b't');
    lsp.wait_publish(&uri, doc.version, timeout);
    lsp.barrier();

    // Hover on a peer tenant's name and completion at the start of a statement.
    let text = &doc.text;
    let name_at = name_at + 1;
    let stmt_at = text.find("  quota {").map_or(0, |i| i + 4);
    let td = json!({"uri": doc.uri});
    row.hover = time_requests(&mut lsp, "textDocument/hover", json!({"textDocument": td, "position": position(text, name_at)}));
    row.completion =
        time_requests(&mut lsp, "textDocument/completion", json!({"textDocument": td, "position": position(text, stmt_at), "context": {"triggerKind": 1}}));
    row.references = time_requests(
        &mut lsp,
        "textDocument/references",
        json!({"textDocument": td, "position": position(text, name_at), "context": {"includeDeclaration": true}}),
    );

    // Application manifests: open one, edit a rule, type in the manifest.
    let man_path = root.join("apps/debug.yaml");
    let mut man_text = manifest(&Workspace::tenant_name(target));
    std::fs::create_dir_all(root.join("apps")).expect("apps folder");
    std::fs::write(&man_path, &man_text).expect("write manifest");
    let man_uri = file_uri(&man_path);
    lsp.barrier();
    let t0 = Instant::now();
    lsp.notify("textDocument/didOpen", json!({"textDocument": {"uri": man_uri, "languageId": "yaml", "version": 1, "text": man_text}}));
    let opened = lsp.wait_publish_msg(&man_uri, 1, open_wait);
    row.manifest_open = opened.as_ref().map(|m| m.at - t0);
    row.manifest_diagnostics = opened.map_or(0, |m| m.v["params"]["diagnostics"].as_array().map_or(0, Vec::len));
    let mut man_version = 1;
    for _ in 0..MANIFEST_EDITS {
        lsp.barrier();
        let t0 = doc.edit(&mut lsp);
        if let Some(at) = lsp.wait_publish(&man_uri, man_version, timeout) {
            row.rule_to_manifest.push(at - t0);
        }
    }
    let spot = man_text.find("replicas: ").expect("replicas") + "replicas: ".len();
    for _ in 0..MANIFEST_EDITS {
        lsp.barrier();
        let new = if man_text.as_bytes()[spot] == b'1' { "2" } else { "1" };
        let start = position(&man_text, spot);
        man_text.replace_range(spot..spot + 1, new);
        man_version += 1;
        let end = json!({"line": start["line"], "character": start["character"].as_u64().expect("character") + 1});
        let change = if lsp.sync == 2 { json!({"range": {"start": start, "end": end}, "text": new}) } else { json!({"text": man_text}) };
        let t0 = Instant::now();
        lsp.notify("textDocument/didChange", json!({"textDocument": {"uri": man_uri, "version": man_version}, "contentChanges": [change]}));
        if let Some(at) = lsp.wait_publish(&man_uri, man_version, timeout) {
            row.manifest_edit.push(at - t0);
        }
    }
    let info = lsp.info.clone();
    let sync = lsp.sync;
    lsp.shutdown();
    let _ = std::fs::remove_dir_all(&root);
    (row, info, sync)
}

fn main() {
    let opts = Options::parse(&[10, 100, 1000], &[10, 100]);
    let layouts = if opts.has("--both-layouts") {
        vec![Layout::Nested, Layout::Flat]
    } else if opts.has("--flat") {
        vec![Layout::Flat]
    } else {
        vec![Layout::Nested]
    };
    let warnings = opts.has("--warnings");
    let timeout = Duration::from_millis(std::env::var("KHC_BENCH_TIMEOUT_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000));
    let khc = common::khc_binary();
    println!("{}", common::machine_load());
    let scratch = Scratch::new("lsp");
    println!(
        "khc lsp benchmark: {}{} ({} edits, burst of {} keys every {:?}, {} hover/completion requests)",
        khc.display(),
        if warnings { ", one warning per tenant file" } else { "" },
        EDITS,
        BURST_KEYS,
        BURST_INTERVAL,
        REQUESTS
    );
    println!("all times in ms; edit = didChange → publishDiagnostics of the edited file; burst = last key → its diagnostics");
    let header = format!(
        "{:<7} {:>7} {:>7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>6} {:>5} {:>9} {:>4} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "layout",
        "tenants",
        "init",
        "open-cl",
        "open-t",
        "edit-med",
        "edit-p95",
        "edit-max",
        "cpu/edit",
        "pubs/e",
        "miss",
        "burst",
        "sem",
        "hov-med",
        "hov-p95",
        "cmp-med",
        "cmp-p95",
        "ref-med",
        "ref-p95"
    );
    let mut printed_header = false;
    let mut manifest_rows = Vec::new();
    for layout in layouts {
        let mut medians = Vec::new();
        for &n in &opts.sizes {
            let (row, info, sync) = run(&khc, &scratch.0, n, layout, warnings, timeout);
            if !printed_header {
                println!("server: {info}; textDocumentSync.change = {sync} ({})", if sync == 2 { "incremental edits sent" } else { "full text sent" });
                println!("{header}");
                printed_header = true;
            }
            let med = percentile(&row.edits, 50.0);
            medians.push((n, med));
            manifest_rows.push((layout, n, (row.manifest_open, row.manifest_diagnostics, row.rule_to_manifest.clone(), row.manifest_edit.clone())));
            let stat = |v: &Option<Vec<Duration>>, p: f64| v.as_ref().map_or_else(|| "n/a".to_string(), |v| ms(percentile(v, p)));
            println!(
                "{:<7} {:>7} {:>7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>6.1} {:>5} {:>9} {:>4} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
                format!("{layout:?}").to_lowercase(),
                n,
                ms(Some(row.init)),
                ms(row.open_entry),
                ms(row.open_tenant),
                ms(med),
                ms(percentile(&row.edits, 95.0)),
                ms(percentile(&row.edits, 100.0)),
                ms(row.cpu_per_edit),
                row.pubs_per_edit,
                row.missing,
                format!("{}{}", row.burst_note, ms(row.burst_last)),
                row.semantic.map_or("?", |s| if s { "yes" } else { "no" }),
                stat(&row.hover, 50.0),
                stat(&row.hover, 95.0),
                stat(&row.completion, 50.0),
                stat(&row.completion, 95.0),
                stat(&row.references, 50.0),
                stat(&row.references, 95.0),
            );
        }
        if let (Some((n0, Some(a))), Some((n1, Some(b)))) = (medians.first(), medians.last()) {
            if n1 > n0 {
                println!("{:<7} edit median {n1}/{n0} = {:.1}×", format!("{layout:?}").to_lowercase(), b.as_secs_f64() / a.as_secs_f64().max(1e-9));
            }
        }
    }
    println!("manifest rows (#23): man-open = didOpen of a Deployment YAML → its diagnostics (n = how many); rule→man = edit of a .khc rule → the open manifest re-judged; man-edit = a key in the manifest → its diagnostics (medians of {MANIFEST_EDITS})");
    for (layout, n, row) in &manifest_rows {
        println!(
            "{:<7} {:>7} man-open {:>8} (n={}) rule→man {:>8} max {:>8} man-edit {:>8} max {:>8}",
            format!("{layout:?}").to_lowercase(),
            n,
            ms(row.0),
            row.1,
            ms(percentile(&row.2, 50.0)),
            ms(percentile(&row.2, 100.0)),
            ms(percentile(&row.3, 50.0)),
            ms(percentile(&row.3, 100.0)),
        );
    }
    println!("miss = edits whose diagnostics never came (timeout {timeout:?}); burst ~ = server sent fewer unversioned publications than keys (last one taken), ! = none");
    println!("sem = an unknown tenant name typed into the edited file is reported as an error (diagnostics include semantic checks)");
    println!("targets (issues 5, 6) at 1000 tenants: edit median ≤ 10, p95 ≤ 15, median ≤ 2× the 10-tenant one; burst ≤ 20; hover, completion ≤ 5; references (issue 24) at 5000 within 2× the 100-tenant figure per reference");
}
