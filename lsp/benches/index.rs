//! The language server's name index and cross-file edits at fleet size, in
//! process (issue 24, item 4): `cargo bench -p khc-lsp --bench index [-- OPTIONS]`
//! (`--profile dev` for the debug build).
//!
//! For each size it writes a generated workspace (`khc_tests::workspace_gen`, the
//! one every benchmark uses) to tmpfs, drives [`khc_lsp::Server`] with the JSON
//! messages an editor sends (`initialize`, `initialized`, `didOpen` of
//! `cluster.khc` and of the middle tenant's file) and times, on this thread
//! (wall and thread CPU, so the shared machine's load shows as the gap):
//! * **refs**: `textDocument/references` on the name of the next tenant in the
//!   middle tenant's cross-tenant `allow` (every peer reference of that tenant);
//!   median per request and per returned location, and the first request alone
//!   (`1st`: it builds the index's maps, as the first lookup after an edit that
//!   changed a name does);
//! * **rename**: `textDocument/rename` of the same name (the edit is computed, not
//!   applied), per request and per edited location;
//! * **def**: `textDocument/definition` of that name;
//! * **x-edit**: a cross-tenant edit: the port of the middle tenant's `allow
//!   ingress from tenant PREV workload api … ports 8080`, which PREV's egress reads,
//!   toggled 8080 ↔ 8081 (`didChange` → the diagnostics computed and published);
//! * **typing**: single-character edits of the file's comment (no name or fact
//!   changes), median and p95 (wall and CPU: on a loaded machine the wall p95 is
//!   mostly the time the thread waited for a core);
//! * **refs after edit**: the references request above, each after one such
//!   keystroke (at most 5): the first lookup after an edit rebuilds the
//!   program's name index.
//!
//! Options: `--sizes 100,1000,5000` (the default), `--quick` (100 and 1,000),
//! `--runs N` requests or edits per figure (default 20). Always exits 0: it is a
//! measurement, not a test.

use khc_lsp::transport::Incoming;
use khc_lsp::Server;
use khc_tests::workspace_gen::{digit_after, Workspace, COMMENT_MARKER, ENTRY};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// This thread's CPU time (Linux; zero elsewhere).
fn thread_cpu() -> Duration {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid out-pointer for clock_gettime.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            return Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        }
    }
    Duration::ZERO
}

/// A sample of (wall, CPU) durations.
#[derive(Default)]
struct Sample {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
    /// Locations per answer (references, rename).
    count: usize,
}

impl Sample {
    fn pct(v: &[Duration], p: f64) -> Duration {
        let mut s = v.to_vec();
        s.sort();
        if s.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
        s[rank.clamp(1, s.len()) - 1]
    }
    fn med(&self) -> Duration {
        Self::pct(&self.wall, 50.0)
    }
    fn cpu_med(&self) -> Duration {
        Self::pct(&self.cpu, 50.0)
    }
    fn p95(&self) -> Duration {
        Self::pct(&self.wall, 95.0)
    }
    fn cpu_p95(&self) -> Duration {
        Self::pct(&self.cpu, 95.0)
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

struct Client {
    server: Server,
    id: i64,
    version: i64,
}

impl Client {
    fn send(&mut self, msgs: Vec<Value>) -> Vec<Value> {
        self.server.handle_batch(msgs.into_iter().map(Incoming::Message).collect()).0
    }

    fn notify(&mut self, method: &str, params: Value) -> Vec<Value> {
        self.send(vec![json!({"jsonrpc": "2.0", "method": method, "params": params})])
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let out = self.send(vec![json!({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params})]);
        out.into_iter().find(|m| m["id"] == json!(self.id)).expect("an answer")
    }

    /// Times `f` (wall and thread CPU).
    fn timed<T>(&mut self, sample: &mut Sample, f: impl FnOnce(&mut Self) -> T) -> T {
        let (c0, t0) = (thread_cpu(), Instant::now());
        let v = f(self);
        sample.wall.push(t0.elapsed());
        sample.cpu.push(thread_cpu().saturating_sub(c0));
        v
    }
}

fn position(text: &str, offset: usize) -> Value {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..].encode_utf16().count();
    json!({"line": line, "character": col})
}

struct Row {
    n: usize,
    open: Duration,
    refs: Sample,
    rename: Sample,
    def: Sample,
    cross: Sample,
    typing: Sample,
    refs_after_edit: Sample,
}

fn run(root: &Path, n: usize, runs: usize) -> Row {
    let ws = Workspace::new(n);
    ws.write(root).expect("write workspace");
    let uri_of = |rel: &str| format!("file://{}/{rel}", root.display());
    let mut c = Client { server: Server::default(), id: 0, version: 1 };
    let t0 = Instant::now();
    let root_uri = format!("file://{}", root.display());
    c.send(vec![json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"rootUri": root_uri, "workspaceFolders": [{"uri": root_uri, "name": "ws"}], "capabilities": {}}})]);
    c.notify("initialized", json!({}));
    c.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri_of(ENTRY), "languageId": "khc", "version": 1, "text": ws.cluster_source()}}));
    let target = n / 2;
    let rel = ws.tenant_path(target);
    let uri = uri_of(&rel);
    let mut text = ws.tenant_source(target, 0);
    c.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri, "languageId": "khc", "version": 1, "text": text}}));
    let open = t0.elapsed();

    // The next tenant's name in `allow egress from workload api to tenant NEXT …`.
    let name_at = text.find("to tenant ").expect("a cross-tenant allow") + "to tenant ".len() + 1;
    let at = json!({"textDocument": {"uri": uri}, "position": position(&text, name_at)});
    let mut row = Row {
        n,
        open,
        refs: Sample::default(),
        rename: Sample::default(),
        def: Sample::default(),
        cross: Sample::default(),
        typing: Sample::default(),
        refs_after_edit: Sample::default(),
    };
    let mut params = at.clone();
    params["context"] = json!({"includeDeclaration": true});
    for _ in 0..runs {
        let v = c.timed(&mut row.refs, |c| c.request("textDocument/references", params.clone()));
        row.refs.count = v["result"].as_array().map_or(0, Vec::len);
    }
    let mut params = at.clone();
    params["newName"] = json!("renamed-tenant");
    for _ in 0..runs {
        let v = c.timed(&mut row.rename, |c| c.request("textDocument/rename", params.clone()));
        row.rename.count = v["result"]["changes"].as_object().map_or(0, |m| m.values().map(|e| e.as_array().map_or(0, Vec::len)).sum());
    }
    for _ in 0..runs {
        c.timed(&mut row.def, |c| c.request("textDocument/definition", at.clone()));
    }

    // Edits: full text, each followed by the diagnostics (computed in the batch).
    let edit = |c: &mut Client, sample: &mut Sample, text: &str| {
        c.version += 1;
        let params = json!({"textDocument": {"uri": uri, "version": c.version}, "contentChanges": [{"text": text}]});
        let out = c.timed(sample, |c| c.notify("textDocument/didChange", params));
        assert!(out.iter().any(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri.as_str()), "the edited file's diagnostics");
    };
    let port_at =
        text.find("allow ingress from tenant ").and_then(|i| text[i..].find("ports 8080").map(|j| i + j + "ports 808".len())).expect("a cross-tenant ingress");
    for k in 0..runs {
        text.replace_range(port_at..port_at + 1, if k % 2 == 0 { "1" } else { "0" });
        edit(&mut c, &mut row.cross, &text);
    }
    let comment_at = digit_after(&text, COMMENT_MARKER).expect("comment digit");
    for k in 0..runs.max(30) {
        text.replace_range(comment_at..comment_at + 1, if k % 2 == 0 { "1" } else { "0" });
        edit(&mut c, &mut row.typing, &text);
    }
    // The first references request after a keystroke: the program's name index
    // is rebuilt (every file's index joined, then the maps).
    let mut params = at.clone();
    params["context"] = json!({"includeDeclaration": true});
    for k in 0..runs.min(5) {
        text.replace_range(comment_at..comment_at + 1, if k % 2 == 0 { "1" } else { "0" });
        edit(&mut c, &mut Sample::default(), &text);
        c.timed(&mut row.refs_after_edit, |c| c.request("textDocument/references", params.clone()));
    }
    let _ = std::fs::remove_dir_all(root);
    row
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let mut sizes: Vec<usize> = if args.iter().any(|a| a == "--quick") { vec![100, 1000] } else { vec![100, 1000, 5000] };
    if let Some(list) = value("--sizes") {
        sizes = list.split(',').map(|s| s.trim().parse().expect("--sizes: numbers separated by commas")).collect();
    }
    let runs: usize = value("--runs").map_or(20, |r| r.parse().expect("--runs: a number"));
    let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    println!("khc lsp index benchmark, in process ({} build), {runs} requests/edits per figure", if cfg!(debug_assertions) { "debug" } else { "release" });
    println!("medians unless p95; wall (this thread's CPU); /loc = per returned location");
    println!(
        "{:>7} {:>9} {:>5} {:>9} {:>16} {:>9} {:>16} {:>9} {:>10} {:>16} {:>16} {:>16} {:>20}",
        "tenants",
        "open ms",
        "refs",
        "1st ms",
        "refs ms (cpu)",
        "µs/loc",
        "rename ms (cpu)",
        "µs/loc",
        "def ms",
        "x-edit ms (cpu)",
        "typing ms (cpu)",
        "typing p95 (cpu)",
        "refs after edit (cpu)"
    );
    let mut first: Option<(f64, f64)> = None;
    for n in sizes {
        let root = base.join(format!("khc-bench-index-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let row = run(&root, n, runs);
        let per = |s: &Sample| s.cpu_med() / s.count.max(1) as u32;
        println!(
            "{:>7} {:>9} {:>5} {:>9} {:>16} {:>9} {:>16} {:>9} {:>10} {:>16} {:>16} {:>16} {:>20}",
            row.n,
            format!("{:.0}", row.open.as_secs_f64() * 1e3),
            row.refs.count,
            ms(row.refs.wall[0]),
            format!("{} ({})", ms(row.refs.med()), ms(row.refs.cpu_med())),
            us(per(&row.refs)),
            format!("{} ({})", ms(row.rename.med()), ms(row.rename.cpu_med())),
            us(per(&row.rename)),
            ms(row.def.med()),
            format!("{} ({})", ms(row.cross.med()), ms(row.cross.cpu_med())),
            format!("{} ({})", ms(row.typing.med()), ms(row.typing.cpu_med())),
            format!("{} ({})", ms(row.typing.p95()), ms(row.typing.cpu_p95())),
            format!("{} ({})", ms(row.refs_after_edit.med()), ms(row.refs_after_edit.cpu_med())),
        );
        let (r, m) = (per(&row.refs).as_secs_f64(), per(&row.rename).as_secs_f64());
        match first {
            None => first = Some((r, m)),
            Some((r0, m0)) => println!("{:>7} per location ÷ first size: references {:.2}×, rename {:.2}×", n, r / r0.max(1e-12), m / m0.max(1e-12)),
        }
    }
    println!("targets (issue 24 item 4): per reference at 5,000 within 2× of 100; cross-tenant edit ≤ 5 ms and typing p95 ≤ 10 ms at 5,000");
}
