//! Server state and dispatch: the project model, open documents, coalesced and
//! change-only diagnostics, and the requests.

use crate::ide::{self, Analysis};
use crate::text::{self, apply_change, path_to_uri, uri_to_path, LineIndex};
use crate::transport::Incoming;
use crate::{lenses, manifests};
use khc_db::{parse, read_source_capped, Durability, FileContents, KhcDatabase, LiveDiagnostics, SourceFile};
use khc_syntax::{Diagnostic, FileKey, Severity};
use lsp_types::{DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, PublishDiagnosticsParams, Uri};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;

/// At most this many diagnostics are published per file (then one "N more").
pub const MAX_DIAGNOSTICS_PER_FILE: usize = 200;

/// An open document.
struct Doc {
    version: i32,
    text: String,
}

impl Doc {
    /// Applies a `textDocument/didChange`: its version and every content change
    /// (a range edit, or the whole text when no range is given).
    fn apply(&mut self, params: &Value) {
        if let Some(v) = params.pointer("/textDocument/version").and_then(Value::as_i64) {
            self.version = v as i32;
        }
        for c in params.get("contentChanges").and_then(Value::as_array).into_iter().flatten() {
            let range = c.get("range").and_then(|r| serde_json::from_value(r.clone()).ok());
            if let Some(t) = c.get("text").and_then(Value::as_str) {
                apply_change(&mut self.text, range, t);
            }
        }
    }
}

/// The server: database, project model, documents and what was published.
pub struct Server {
    db: KhcDatabase,
    /// Workspace folders (absolute paths) and the URI each was given as.
    folders: Vec<(String, String)>,
    /// Entry files (those declaring a `cluster`) under the folders or opened.
    entries: BTreeSet<FileKey>,
    /// Open documents.
    docs: BTreeMap<FileKey, Doc>,
    /// Open application manifests (`*.yaml`, `*.yml`; not in the database).
    manifests: BTreeMap<FileKey, Doc>,
    /// Manifests edited since the last computation.
    dirty_manifests: BTreeSet<FileKey>,
    /// The folders whose manifests are judged (`initializationOptions.manifests`,
    /// absolute); `None`: every manifest under the workspace folders.
    manifest_folders: Option<Vec<String>>,
    /// The evaluators of each project folder (the folder holding entry files),
    /// whole or of one tenant (keyed `FOLDER\0TENANT`), built on first use and
    /// dropped when any `.khc` file changes.
    projects: BTreeMap<String, Option<std::sync::Arc<khc_analysis::Workspace>>>,
    /// The URI the client used for a file, echoed back exactly.
    uris: BTreeMap<FileKey, String>,
    /// Each entry's diagnostics by file, kept up to date edit by edit.
    by_entry: BTreeMap<FileKey, LiveDiagnostics>,
    /// Diagnostics of the checks across the entries of one directory
    /// (`khc_db::checks::duplicate_clusters`), by file.
    across_entries: BTreeMap<FileKey, Vec<Diagnostic>>,
    /// Diagnostics of files no program includes (syntax only).
    standalone: BTreeMap<FileKey, Vec<Diagnostic>>,
    /// What was last published per file.
    published: BTreeMap<FileKey, Vec<Diagnostic>>,
    /// Files changed since the last computation.
    dirty: BTreeSet<FileKey>,
    /// Documents edited since the last computation: always published.
    edited: BTreeSet<FileKey>,
    /// `KHC_LSP_TIMING` is set: each diagnostics computation prints a timing
    /// breakdown and how many times each query executed on stderr.
    timing: bool,
    shutdown: bool,
    initialized: bool,
    next_id: i64,
}

impl Default for Server {
    fn default() -> Self {
        let timing = std::env::var_os("KHC_LSP_TIMING").is_some();
        Server {
            db: if timing { KhcDatabase::with_log("") } else { KhcDatabase::new("") },
            folders: Vec::new(),
            entries: BTreeSet::new(),
            docs: BTreeMap::new(),
            manifests: BTreeMap::new(),
            dirty_manifests: BTreeSet::new(),
            manifest_folders: None,
            projects: BTreeMap::new(),
            uris: BTreeMap::new(),
            by_entry: BTreeMap::new(),
            across_entries: BTreeMap::new(),
            standalone: BTreeMap::new(),
            published: BTreeMap::new(),
            dirty: BTreeSet::new(),
            edited: BTreeSet::new(),
            timing,
            shutdown: false,
            initialized: false,
            next_id: 1,
        }
    }
}

fn response(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: &Value, code: i32, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

fn notification(method: &str, params: impl serde::Serialize) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": params})
}

/// Skips dot-directories, `target/` and `node_modules/` when looking for files.
fn skipped_dir(name: &str) -> bool {
    name.starts_with('.') || name == "target" || name == "node_modules"
}

/// At most this many `*.khc` files are read from the workspace folders.
pub const MAX_WORKSPACE_FILES: usize = 20_000;

/// The largest `*.khc` file read from disk while no editor has it open (the
/// workspace scan, watched-file changes, a closed file): a larger one is not read,
/// parsed or checked — one 60 MB file somewhere in the workspace stalled
/// `initialize` for 25 s at 3.7 GB — and is reported instead (a warning message
/// at `initialize`, and a "cannot read" diagnostic where it is imported). Opening
/// it in the editor checks it (the client sends its text).
pub const MAX_UNOPENED_SOURCE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a file no editor has open, within [`MAX_UNOPENED_SOURCE_BYTES`].
fn read_source(path: &Path) -> FileContents {
    read_source_capped(path, MAX_UNOPENED_SOURCE_BYTES)
}

fn walk(dir: &Path, out: &mut Vec<String>, depth: usize) {
    if depth > 32 || out.len() >= MAX_WORKSPACE_FILES {
        return;
    }
    let Ok(read) = std::fs::read_dir(dir) else { return };
    for e in read.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let name = e.file_name().to_string_lossy().to_string();
        let path = e.path();
        if ft.is_dir() {
            if !skipped_dir(&name) {
                walk(&path, out, depth + 1);
            }
        } else if name.ends_with(".khc") {
            if let Some(p) = path.to_str() {
                out.push(p.to_string());
            }
        }
    }
}

impl Server {
    /// The database (for tests).
    pub fn db(&self) -> &KhcDatabase {
        &self.db
    }

    /// Handles queued messages in order: notifications update the inputs;
    /// diagnostics are computed once, before the first request that follows an
    /// edit and at the end. Returns the messages to send and, after `exit`, the
    /// process exit code.
    pub fn handle_batch(&mut self, batch: Vec<Incoming>) -> (Vec<Value>, Option<i32>) {
        let mut out = Vec::new();
        for item in batch {
            let msg = match item {
                Incoming::Malformed(code, why) => {
                    out.push(error(&Value::Null, code, why));
                    continue;
                }
                Incoming::Message(m) => m,
            };
            let method = msg.get("method").and_then(Value::as_str).map(str::to_string);
            let id = msg.get("id").cloned();
            let params = msg.get("params").cloned().unwrap_or(Value::Null);
            match (method, id) {
                (Some(method), Some(id)) => {
                    if (!self.dirty.is_empty() || !self.dirty_manifests.is_empty()) && method != "initialize" {
                        self.flush(&mut out);
                    }
                    out.extend(self.request(&method, &id, params));
                }
                (Some(method), None) => {
                    if method == "exit" {
                        self.flush(&mut out);
                        return (out, Some(if self.shutdown { 0 } else { 1 }));
                    }
                    out.extend(self.notification(&method, params));
                }
                (None, Some(_)) if msg.get("result").is_some() || msg.get("error").is_some() => {} // a response to us
                (None, id) => out.push(error(&id.unwrap_or(Value::Null), -32600, "not a JSON-RPC request or notification")),
            }
        }
        self.flush(&mut out);
        (out, None)
    }

    fn request(&mut self, method: &str, id: &Value, params: Value) -> Vec<Value> {
        if self.shutdown {
            return vec![error(id, -32600, format!("`{method}` after shutdown"))];
        }
        if method == "initialize" {
            return self.initialize(id, &params);
        }
        if !self.initialized {
            return vec![error(id, -32002, "the server is not initialized")];
        }
        if method == "shutdown" {
            self.shutdown = true;
            return vec![response(id, Value::Null)];
        }
        match self.feature(method, &params) {
            Ok(Some(v)) => vec![response(id, v)],
            Ok(None) => vec![error(id, -32601, format!("khc does not handle {method}"))],
            Err(why) => vec![error(id, -32602, why)],
        }
    }

    fn initialize(&mut self, id: &Value, params: &Value) -> Vec<Value> {
        let mut folders: Vec<String> = Vec::new();
        if let Some(fs) = params.get("workspaceFolders").and_then(Value::as_array) {
            folders.extend(fs.iter().filter_map(|f| f.get("uri")?.as_str().map(str::to_string)));
        }
        if folders.is_empty() {
            if let Some(u) = params.get("rootUri").and_then(Value::as_str) {
                folders.push(u.to_string());
            } else if let Some(p) = params.get("rootPath").and_then(Value::as_str) {
                folders.push(format!("file://{}", text::encode_path(p)));
            }
        }
        for uri in folders {
            if let Some(path) = uri_to_path(&uri) {
                self.folders.push((path, uri.trim_end_matches('/').to_string()));
            }
        }
        if let Some(dirs) = params.pointer("/initializationOptions/manifests").and_then(Value::as_array) {
            let mut abs = Vec::new();
            for d in dirs.iter().filter_map(Value::as_str) {
                if d.starts_with('/') {
                    abs.push(d.trim_end_matches('/').to_string());
                } else {
                    abs.extend(self.folders.iter().map(|(f, _)| format!("{f}/{}", d.trim_end_matches('/'))));
                }
            }
            self.manifest_folders = Some(abs);
        }
        let too_large = self.scan_folders();
        self.initialized = true;
        let watch = params.pointer("/capabilities/workspace/didChangeWatchedFiles/dynamicRegistration").and_then(Value::as_bool) == Some(true);
        let result = json!({
            "capabilities": ide::capabilities(),
            "serverInfo": {"name": "khc", "version": env!("CARGO_PKG_VERSION")},
        });
        let mut out = vec![response(id, result)];
        // Files skipped by the scan are named (a few, then a count).
        if !too_large.is_empty() {
            let mut text = format!(
                "khc: not checking {} file{} too large to read while closed (open to check): ",
                too_large.len(),
                if too_large.len() == 1 { "" } else { "s" }
            );
            text.push_str(&too_large.iter().take(3).cloned().collect::<Vec<_>>().join("; "));
            if too_large.len() > 3 {
                text.push_str(&format!("; and {} more", too_large.len() - 3));
            }
            out.push(json!({"jsonrpc": "2.0", "method": "window/showMessage", "params": {"type": 2, "message": text}}));
        }
        if watch {
            let id = self.next_id;
            self.next_id += 1;
            out.push(json!({"jsonrpc": "2.0", "id": format!("khc-watch-{id}"), "method": "client/registerCapability", "params": {"registrations": [{
                "id": "khc-watch", "method": "workspace/didChangeWatchedFiles",
                "registerOptions": {"watchers": [{"globPattern": "**/*.khc"}]}
            }]}}));
        }
        out
    }

    /// Reads every `*.khc` file under the workspace folders and finds the entries.
    /// Returns the files that were too large to read (see [`MAX_UNOPENED_SOURCE_BYTES`]).
    fn scan_folders(&mut self) -> Vec<String> {
        let mut paths = Vec::new();
        for (folder, _) in &self.folders {
            walk(Path::new(folder), &mut paths, 0);
        }
        paths.sort();
        paths.dedup();
        let loaded: Vec<(FileKey, FileContents)> =
            paths.iter().filter(|p| !self.docs.contains_key(p.as_str())).map(|p| (FileKey::from(p.as_str()), read_source(Path::new(p)))).collect();
        let too_large: Vec<String> = loaded
            .iter()
            .filter_map(|(_, c)| match c {
                FileContents::Missing(why) if why.contains("larger than the") => Some(why.clone()),
                _ => None,
            })
            .collect();
        let files = self.db.set_contents_many_durable(loaded, Durability::MEDIUM);
        for f in files {
            self.dirty.insert(f.key(&self.db).clone());
        }
        too_large
    }

    /// The URI to publish for a file: the client's own, else one built under the
    /// workspace folder's URI (as the client spelled it).
    fn uri_of(&self, key: &str) -> Option<String> {
        if let Some(u) = self.uris.get(key) {
            return Some(u.clone());
        }
        for (folder, uri) in &self.folders {
            if let Some(rest) = key.strip_prefix(folder.as_str()) {
                if rest.starts_with('/') {
                    return Some(format!("{uri}{}", text::encode_path(rest)));
                }
            }
        }
        path_to_uri(key).map(|u| u.as_str().to_string())
    }

    fn key_of(&mut self, uri: &str) -> Option<FileKey> {
        let path = uri_to_path(uri)?;
        let key = FileKey::from(path.as_str());
        self.uris.entry(key.clone()).or_insert_with(|| uri.to_string());
        Some(key)
    }

    fn notification(&mut self, method: &str, params: Value) -> Vec<Value> {
        let uri = params.pointer("/textDocument/uri").and_then(Value::as_str).map(str::to_string);
        match method {
            "initialized" => {}
            "textDocument/didOpen" => {
                let (Some(uri), Some(text)) = (uri, params.pointer("/textDocument/text").and_then(Value::as_str)) else { return Vec::new() };
                let Some(key) = self.key_of(&uri) else { return Vec::new() };
                if manifests::is_manifest(&key) {
                    self.uris.insert(key.clone(), uri.clone());
                    let version = params.pointer("/textDocument/version").and_then(Value::as_i64).unwrap_or(0) as i32;
                    self.manifests.insert(key.clone(), Doc { version, text: text.to_string() });
                    self.dirty_manifests.insert(key);
                    return Vec::new();
                }
                self.uris.insert(key.clone(), uri.clone());
                let version = params.pointer("/textDocument/version").and_then(Value::as_i64).unwrap_or(0) as i32;
                self.docs.insert(key.clone(), Doc { version, text: text.to_string() });
                if !self.in_folders(&key) {
                    self.adopt_folder_of(&key, &uri);
                }
                // Open buffers are what changes: low durability, so queries over
                // the other (medium) files are verified without walking them.
                self.db.set_contents_durable(&key, FileContents::Text(text.to_string()), Durability::LOW);
                self.dirty.insert(key.clone());
                self.edited.insert(key);
            }
            "textDocument/didChange" => {
                let Some(key) = uri.and_then(|u| self.key_of(&u)) else { return Vec::new() };
                if let Some(doc) = self.manifests.get_mut(&key) {
                    doc.apply(&params);
                    self.dirty_manifests.insert(key);
                    return Vec::new();
                }
                let Some(doc) = self.docs.get_mut(&key) else { return Vec::new() };
                doc.apply(&params);
                let text = doc.text.clone();
                self.db.set_text(&key, text);
                self.dirty.insert(key.clone());
                self.edited.insert(key);
            }
            "textDocument/didClose" => {
                let Some(key) = uri.and_then(|u| self.key_of(&u)) else { return Vec::new() };
                if self.manifests.remove(&key).is_some() {
                    self.dirty_manifests.remove(&key);
                    // Only open manifests are judged: a closed one's squiggles go.
                    return self.publish_manifest(&key, Vec::new()).into_iter().collect();
                }
                if self.docs.remove(&key).is_some() {
                    self.db.set_contents_durable(&key, read_source(Path::new(&*key)), Durability::MEDIUM);
                    self.dirty.insert(key);
                }
            }
            "textDocument/didSave" => {
                // The buffer is the truth while open; a save changes nothing else.
                if let (Some(key), Some(t)) = (uri.and_then(|u| self.key_of(&u)), params.get("text").and_then(Value::as_str)) {
                    if let Some(doc) = self.docs.get_mut(&key) {
                        doc.text = t.to_string();
                        self.db.set_text(&key, t.to_string());
                        self.dirty.insert(key);
                    }
                }
            }
            "workspace/didChangeWatchedFiles" => {
                for ch in params.get("changes").and_then(Value::as_array).into_iter().flatten() {
                    let Some(key) = ch.get("uri").and_then(Value::as_str).and_then(|u| self.key_of(u)) else { continue };
                    if !key.ends_with(".khc") || self.docs.contains_key(&key) {
                        continue;
                    }
                    let contents = match ch.get("type").and_then(Value::as_i64) {
                        Some(3) => FileContents::Missing(format!("{key}: deleted")),
                        _ => read_source(Path::new(&*key)),
                    };
                    self.db.set_contents_durable(&key, contents, Durability::MEDIUM);
                    self.dirty.insert(key);
                }
            }
            "workspace/didChangeWorkspaceFolders" => {
                let ev = params.get("event").cloned().unwrap_or(Value::Null);
                for f in ev.get("removed").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(u) = f.get("uri").and_then(Value::as_str) {
                        let u = u.trim_end_matches('/');
                        self.folders.retain(|(_, fu)| fu != u);
                    }
                }
                for f in ev.get("added").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(u) = f.get("uri").and_then(Value::as_str) {
                        if let Some(p) = uri_to_path(u) {
                            self.folders.push((p, u.trim_end_matches('/').to_string()));
                        }
                    }
                }
                self.scan_folders();
            }
            "$/cancelRequest" | "$/setTrace" => {}
            _ => {}
        }
        Vec::new()
    }

    /// A file opened outside every workspace folder (a client that sent none):
    /// the nearest enclosing directory, up to three levels up, with an entry file
    /// directly inside becomes a folder, so `tenants/x.khc` finds `../cluster.khc`.
    fn adopt_folder_of(&mut self, key: &str, uri: &str) {
        let mut dir = Path::new(key).parent();
        let mut uri_dir = uri.rsplit_once('/').map(|(d, _)| d.to_string());
        // The opened document itself, as the editor holds it (it may be unsaved):
        // an entry file is the root of its own project, so a lone cluster file
        // never adopts an ancestor directory (say `/tmp`) and scans all of it.
        let is_entry = |t: &str| khc_semantics::is_entry(&khc_syntax::parse(&FileKey::from(""), t).tree());
        let opened_is_entry = self.docs.get(key).is_some_and(|d| is_entry(&d.text));
        for level in 0..3 {
            let (Some(d), Some(u)) = (dir, uri_dir.clone()) else { return };
            let has_entry = (level == 0 && opened_is_entry)
                || std::fs::read_dir(d).into_iter().flatten().flatten().any(|e| {
                    let p = e.path();
                    p.extension().is_some_and(|x| x == "khc") && matches!(read_source(&p), FileContents::Text(t) if is_entry(&t))
                });
            if has_entry {
                if let Some(ds) = d.to_str() {
                    self.folders.push((ds.to_string(), u));
                    self.scan_folders();
                }
                return;
            }
            dir = d.parent();
            uri_dir = uri_dir.and_then(|u| u.rsplit_once('/').map(|(d, _)| d.to_string())).filter(|u| u.len() > "file://".len());
        }
    }

    fn in_folders(&self, key: &str) -> bool {
        self.folders.iter().any(|(f, _)| key.strip_prefix(f.as_str()).is_some_and(|r| r.starts_with('/')))
    }

    /// Recomputes diagnostics after edits and publishes what changed (and, always,
    /// the edited documents): `.khc` sources, then the open manifests.
    fn flush(&mut self, out: &mut Vec<Value>) {
        let sources_changed = !self.dirty.is_empty();
        if sources_changed {
            self.flush_sources(out);
        }
        self.flush_manifests(sources_changed, out);
    }

    /// Re-judges the open manifests: all of them after a `.khc` change (the
    /// evaluators are rebuilt from the warm database), else the edited ones.
    fn flush_manifests(&mut self, sources_changed: bool, out: &mut Vec<Value>) {
        if sources_changed {
            self.projects.clear();
        }
        let targets: Vec<FileKey> =
            if sources_changed { self.manifests.keys().cloned().collect() } else { std::mem::take(&mut self.dirty_manifests).into_iter().collect() };
        self.dirty_manifests.clear();
        for key in targets {
            let t0 = std::time::Instant::now();
            let diags = self.judge(&key);
            if self.timing {
                eprintln!("khc lsp: manifest {key}: {} diagnostics in {:.3}ms", diags.len(), t0.elapsed().as_secs_f64() * 1e3);
            }
            out.extend(self.publish_manifest(&key, diags));
        }
    }

    /// Whether the manifest `key` is in the folders whose manifests are judged.
    fn serves_manifest(&self, key: &str) -> bool {
        let under = |f: &str| key.strip_prefix(f).is_some_and(|r| r.starts_with('/'));
        match &self.manifest_folders {
            Some(dirs) => dirs.iter().any(|d| under(d)),
            None => self.folders.iter().any(|(f, _)| under(f)),
        }
    }

    /// The folder of the entry files whose programs judge `key` (as `khc eval -p
    /// FOLDER`): the nearest folder above it that holds some, with those entries.
    fn project_of(&self, key: &str) -> Option<(String, Vec<SourceFile>)> {
        let dir_of = |k: &str| k.rsplit_once('/').map_or(String::new(), |(d, _)| d.to_string());
        let dirs: BTreeSet<String> = self.entries.iter().map(|e| dir_of(e)).collect();
        let mut dir = dir_of(key);
        while !dirs.contains(&dir) {
            dir = dir.rsplit_once('/').map(|(d, _)| d.to_string())?;
        }
        let entries = self.entries.iter().filter(|e| dir_of(e) == dir).filter_map(|e| self.db.file(e)).collect();
        Some((dir, entries))
    }

    /// The evaluators for `objects` of a manifest under `dir`: the tenant's alone
    /// when they are pod objects of one tenant's namespace, else the whole
    /// project's. Built on first use, dropped when any `.khc` file changes.
    /// `None` when a program has errors.
    fn evaluators(
        &mut self,
        dir: &str,
        entries: &[SourceFile],
        objects: &[khc_analysis::manifest::Manifest],
    ) -> Option<std::sync::Arc<khc_analysis::Workspace>> {
        let tenant = manifests::pod_namespace(objects).and_then(|ns| {
            entries.iter().find_map(|e| {
                let model = khc_db::check(&self.db, *e).model.as_ref()?;
                model.tenants.iter().find(|t| t.namespaces.iter().any(|n| n == ns)).map(|t| t.name.clone())
            })
        });
        self.evaluators_of(dir, entries, tenant)
    }

    /// The evaluators of tenant `tenant` ([`khc_analysis::Workspace::of_tenant`]:
    /// the cluster's files and the tenant's), or of the whole project for `None`;
    /// cached per project folder and tenant until a `.khc` file changes.
    fn evaluators_of(&mut self, dir: &str, entries: &[SourceFile], tenant: Option<String>) -> Option<std::sync::Arc<khc_analysis::Workspace>> {
        let cache_key = format!("{dir}\0{}", tenant.as_deref().unwrap_or(""));
        if let Some(ws) = self.projects.get(&cache_key) {
            return ws.clone();
        }
        let ws = match &tenant {
            Some(t) => khc_analysis::Workspace::of_tenant(&self.db, entries, t),
            None => khc_analysis::Workspace::of_entries(&self.db, entries),
        };
        let ws = ws.ok().map(std::sync::Arc::new);
        self.projects.insert(cache_key, ws.clone());
        ws
    }

    /// The diagnostics of the open manifest `key`: `khc eval`'s findings.
    fn judge(&mut self, key: &FileKey) -> Vec<lsp_types::Diagnostic> {
        if !self.serves_manifest(key) {
            return Vec::new();
        }
        let Some((dir, entries)) = self.project_of(key) else { return Vec::new() };
        let Some(doc) = self.manifests.get(key) else { return Vec::new() };
        let text = doc.text.clone();
        let Some(objects) = manifests::objects(key, &text) else { return Vec::new() };
        let Some(ws) = self.evaluators(&dir, &entries, &objects) else { return Vec::new() };
        let locate = |file: &str, line: u32| -> Option<Location> {
            let text = self.db.file(file)?.text(&self.db);
            let uri = Uri::from_str(&self.uri_of(file)?).ok()?;
            Some(Location { uri, range: manifests::line_range(text, line) })
        };
        // The server's files are absolute paths; `khc eval -p DIR` names them
        // relative to DIR, and so do the messages here.
        let prefix = format!("{dir}/");
        let mut diags: Vec<lsp_types::Diagnostic> = manifests::findings(&ws, &objects)
            .iter()
            .map(|f| {
                let mut d = manifests::diagnostic(f, &text, &locate);
                d.message = d.message.replace(&prefix, "");
                d
            })
            .collect();
        diags.truncate(MAX_DIAGNOSTICS_PER_FILE);
        diags
    }

    /// For an `undeclared-workload` finding: the quick fix declaring the pods as
    /// a workload of their tenant (named after the object, selecting its pod
    /// labels, in its namespace), appended to the tenant's `.khc`. None when the
    /// name is not a free DNS label or the pods have no labels.
    fn declare_workload_actions(&self, key: &str, text: &str, diagnostics: &[lsp_types::Diagnostic]) -> Vec<lsp_types::CodeActionOrCommand> {
        let mut out = Vec::new();
        let Some(objects) = manifests::objects(key, text) else { return out };
        let Some((_, entries)) = self.project_of(key) else { return out };
        for d in diagnostics.iter().filter(|d| d.data.as_ref().is_some_and(|v| v["rule"] == "undeclared-workload")) {
            let line = d.range.start.line + 1;
            let Some(m) = objects.iter().rev().find(|m| m.line <= line) else { continue };
            let Some((meta, _)) = khc_analysis::manifest::pod_template(&m.value) else { continue };
            let (Some(name), Some(ns)) = (m.value["metadata"]["name"].as_str(), m.value["metadata"]["namespace"].as_str()) else { continue };
            let labels: BTreeMap<&str, &str> = meta["labels"].as_object().into_iter().flatten().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))).collect();
            if labels.is_empty() || !ide::is_dns_label(name) {
                continue;
            }
            let Some(t) = entries.iter().find_map(|e| {
                let model = khc_db::check(&self.db, *e).model.as_ref()?;
                model.tenants.iter().find(|t| t.namespaces.iter().any(|n| n == ns)).cloned()
            }) else {
                continue;
            };
            if t.workloads.iter().any(|w| w.name == name) {
                continue;
            }
            let word = |s: &str| {
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                    s.to_string()
                } else {
                    format!("{s:?}")
                }
            };
            let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{} {v:?}", word(k))).collect();
            let namespace = if t.namespaces.first().is_some_and(|n| n == ns) { String::new() } else { format!("namespace {ns}; ") };
            let stmt = format!("workload {name} {{ {namespace}selector {{ {} }} }}", selector.join("; "));
            let Some(file) = self.db.file(&t.origin.file) else { continue };
            let a = Analysis::new(&self.db, file, self.entries_of(file));
            let Some((uri, edit)) = a.append_to_tenant(&t.name, &stmt, &|k| self.uri_of(k)) else { continue };
            let mut changes = std::collections::HashMap::new();
            changes.insert(uri, vec![edit]);
            out.push(lsp_types::CodeActionOrCommand::CodeAction(lsp_types::CodeAction {
                title: format!("Declare workload `{name}` in tenant `{}`", t.name),
                kind: Some(lsp_types::CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![d.clone()]),
                edit: Some(lsp_types::WorkspaceEdit { changes: Some(changes), ..Default::default() }),
                ..Default::default()
            }));
        }
        out
    }

    fn publish_manifest(&self, key: &FileKey, diagnostics: Vec<lsp_types::Diagnostic>) -> Option<Value> {
        let uri = Uri::from_str(&self.uri_of(key)?).ok()?;
        let version = self.manifests.get(key).map(|d| d.version);
        Some(notification("textDocument/publishDiagnostics", PublishDiagnosticsParams { uri, diagnostics, version }))
    }

    /// Recomputes the `.khc` diagnostics after edits and publishes what changed
    /// (and, always, the edited documents).
    fn flush_sources(&mut self, out: &mut Vec<Value>) {
        let t0 = std::time::Instant::now();
        let mut phases: Vec<(&str, std::time::Instant)> = Vec::new();
        let dirty = std::mem::take(&mut self.dirty);
        let edited = std::mem::take(&mut self.edited);
        // Entries may appear or disappear with an edit.
        let mut removed: Vec<FileKey> = Vec::new();
        for key in &dirty {
            let Some(f) = self.db.file(key) else { continue };
            let is_entry = matches!(f.contents(&self.db), FileContents::Text(_)) && khc_semantics::is_entry(&parse(&self.db, f).tree());
            if is_entry && (self.in_folders(key) || self.docs.contains_key(key)) {
                self.entries.insert(key.clone());
            } else if self.entries.remove(key) {
                if let Some(old) = self.by_entry.remove(key) {
                    removed.extend(old.file_keys().cloned());
                }
            }
        }
        // Each entry's diagnostics follow the changed files of its program (at the
        // cost of those files, unless what other files read of them changed).
        phases.push(("entries", std::time::Instant::now()));
        let dirty_files: Vec<SourceFile> = dirty.iter().filter_map(|k| self.db.file(k)).collect();
        let mut touched: BTreeSet<FileKey> = dirty.clone();
        touched.extend(edited.iter().cloned());
        touched.extend(removed);
        for e in self.entries.clone() {
            let Some(ef) = self.db.file(&e) else { continue };
            self.db.load_program(ef);
            phases.push(("load", std::time::Instant::now()));
            let live = self.by_entry.entry(e).or_insert_with(|| LiveDiagnostics::new(ef));
            if live.entry() != ef {
                *live = LiveDiagnostics::new(ef);
            }
            let changed = live.update(&self.db, &dirty_files);
            phases.push(("update", std::time::Instant::now()));
            touched.extend(changed);
        }
        let mut candidates = touched;
        // Checks across the entries of one directory (two entry files declaring
        // one cluster): the same function `khc check` runs.
        let mut by_dir: BTreeMap<String, Vec<SourceFile>> = BTreeMap::new();
        for e in &self.entries {
            if let Some(f) = self.db.file(e) {
                by_dir.entry(e.rsplit_once('/').map_or(String::new(), |(d, _)| d.to_string())).or_default().push(f);
            }
        }
        let mut across: BTreeMap<FileKey, Vec<Diagnostic>> = BTreeMap::new();
        for entries in by_dir.values().filter(|e| e.len() > 1) {
            for d in khc_db::checks::duplicate_clusters(&self.db, entries) {
                across.entry(d.primary.file.clone()).or_default().push(d);
            }
        }
        candidates.extend(self.across_entries.keys().cloned());
        candidates.extend(across.keys().cloned());
        self.across_entries = across;
        // Files no program includes: their own syntax and top-level diagnostics.
        let included = |k: &str| self.by_entry.values().any(|m| m.contains_key(k));
        let mut standalone = BTreeMap::new();
        for k in dirty.iter().chain(self.standalone.keys()).chain(candidates.iter()) {
            if included(k) || k.starts_with(khc_semantics::STD_PREFIX) {
                continue;
            }
            if let Some(f) = self.db.file(k) {
                if !(self.docs.contains_key(k) || self.in_folders(k)) {
                    continue;
                }
                let mut d = parse(&self.db, f).errors.clone();
                d.extend(khc_db::syntax::file_diagnostics(&self.db, f).iter().cloned());
                if let FileContents::Missing(_) = f.contents(&self.db) {
                    d.clear();
                }
                khc_db::sort_diagnostics(&mut d);
                standalone.insert(k.clone(), d);
            }
        }
        candidates.extend(self.standalone.keys().cloned());
        candidates.extend(standalone.keys().cloned());
        self.standalone = standalone;
        phases.push(("standalone", std::time::Instant::now()));
        let n_candidates = candidates.len();
        for k in candidates {
            if k.starts_with(khc_semantics::STD_PREFIX) {
                continue;
            }
            let mut diags: Vec<Diagnostic> = Vec::new();
            let mut n_programs = 0;
            for m in self.by_entry.values() {
                let ds = m.get(&k);
                if !ds.is_empty() {
                    n_programs += 1;
                    diags.extend(ds.iter().cloned());
                }
            }
            if let Some(ds) = self.standalone.get(&k) {
                diags.extend(ds.iter().cloned());
            }
            if let Some(ds) = self.across_entries.get(&k) {
                n_programs += 1;
                diags.extend(ds.iter().cloned());
            }
            if n_programs > 1 {
                khc_db::sort_diagnostics(&mut diags);
            }
            // Warnings acknowledged in source become hints; an acknowledgement
            // without a reason or a match is a warning (as in `khc check`).
            if let Some(f) = self.db.file(&k) {
                let text = f.text(&self.db).to_string();
                khc_db::acknowledge::acknowledge_file(&k, &text, &mut diags);
                khc_db::sort_diagnostics(&mut diags);
            }
            let changed = self.published.get(&k).map_or(!diags.is_empty(), |old| *old != diags);
            if changed || edited.contains(&k) {
                if let Some(n) = self.publish(&k, &diags) {
                    out.push(n);
                }
                if diags.is_empty() {
                    self.published.remove(&k);
                } else {
                    self.published.insert(k.clone(), diags);
                }
            }
        }
        if self.timing {
            phases.push(("publish", std::time::Instant::now()));
            let mut line = format!("khc lsp: {} changed, {n_candidates} candidates:", dirty.len());
            let mut last = t0;
            for (name, at) in phases {
                line.push_str(&format!(" {name} {:.3}ms", (at - last).as_secs_f64() * 1e3));
                last = at;
            }
            let mut runs: BTreeMap<String, usize> = BTreeMap::new();
            for q in self.db.take_log() {
                *runs.entry(q.split('(').next().unwrap_or("").to_string()).or_default() += 1;
            }
            eprintln!("{line}; total {:.3}ms; executed {runs:?}", t0.elapsed().as_secs_f64() * 1e3);
        }
    }

    fn publish(&self, key: &FileKey, diags: &[Diagnostic]) -> Option<Value> {
        let uri = Uri::from_str(&self.uri_of(key)?).ok()?;
        let text = self.db.file(key).map(|f| f.text(&self.db)).unwrap_or("");
        let ix = LineIndex::new(text);
        let mut diagnostics: Vec<lsp_types::Diagnostic> = diags.iter().take(MAX_DIAGNOSTICS_PER_FILE).map(|d| self.to_lsp(d, &ix)).collect();
        if diags.len() > MAX_DIAGNOSTICS_PER_FILE {
            let last = &diags[MAX_DIAGNOSTICS_PER_FILE];
            diagnostics.push(lsp_types::Diagnostic {
                range: ix.range(last.primary.span),
                severity: Some(DiagnosticSeverity::INFORMATION),
                source: Some("khc".into()),
                message: format!("{} more diagnostics in this file (run `khc check` to see them all)", diags.len() - MAX_DIAGNOSTICS_PER_FILE),
                ..Default::default()
            });
        }
        let version = self.docs.get(key).map(|d| d.version);
        Some(notification("textDocument/publishDiagnostics", PublishDiagnosticsParams { uri, diagnostics, version }))
    }

    fn to_lsp(&self, d: &Diagnostic, ix: &LineIndex<'_>) -> lsp_types::Diagnostic {
        let mut message = d.message.clone();
        if !d.primary.message.is_empty() {
            message.push_str(&format!(" ({})", d.primary.message));
        }
        if let Some(why) = &d.acknowledged {
            message.push_str(&format!("\nacknowledged: {why}"));
        }
        for n in &d.notes {
            message.push('\n');
            message.push_str(n);
        }
        let related: Vec<DiagnosticRelatedInformation> = d
            .secondary
            .iter()
            .filter_map(|s| {
                let other = self.db.file(&s.file)?.text(&self.db);
                let uri = Uri::from_str(&self.uri_of(&s.file)?).ok()?;
                Some(DiagnosticRelatedInformation { location: Location { uri, range: LineIndex::new(other).range(s.span) }, message: s.message.clone() })
            })
            .collect();
        lsp_types::Diagnostic {
            range: ix.range(d.primary.span),
            severity: Some(match (d.severity, &d.acknowledged) {
                (Severity::Error, _) => DiagnosticSeverity::ERROR,
                (Severity::Warning, Some(_)) => DiagnosticSeverity::HINT,
                (Severity::Warning, None) => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(d.code.to_string())),
            source: Some("khc".into()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            ..Default::default()
        }
    }

    /// The entries whose programs include `file`.
    fn entries_of(&self, file: SourceFile) -> Vec<SourceFile> {
        let key = file.key(&self.db);
        self.entries.iter().filter(|e| self.by_entry.get(*e).is_some_and(|m| m.contains_key(key))).filter_map(|e| self.db.file(e)).collect()
    }

    fn feature(&mut self, method: &str, params: &Value) -> Result<Option<Value>, String> {
        if method == "workspace/symbol" {
            let query = params.get("query").and_then(Value::as_str).unwrap_or("");
            let entries: Vec<SourceFile> = self.entries.iter().filter_map(|e| self.db.file(e)).collect();
            let syms = ide::workspace_symbols(&self.db, &entries, query, &|k| self.uri_of(k));
            return Ok(Some(serde_json::to_value(syms).unwrap_or(Value::Null)));
        }
        let Some(uri) = params.pointer("/textDocument/uri").and_then(Value::as_str).map(str::to_string) else {
            return if method.starts_with("textDocument/") { Err("missing textDocument.uri".into()) } else { Ok(None) };
        };
        let key = self.key_of(&uri).ok_or_else(|| format!("not a file URI: {uri}"))?;
        if manifests::is_manifest(&key) {
            // A manifest is not khc source: quick fixes only.
            let Some(doc) = self.manifests.get(&key) else { return Ok(Some(Value::Null)) };
            if method != "textDocument/codeAction" {
                return Ok(Some(Value::Null));
            }
            let p: lsp_types::CodeActionParams = serde_json::from_value(params.clone()).map_err(|e| e.to_string())?;
            let mut actions = manifests::code_actions(&p.text_document.uri, &doc.text, &p.context.diagnostics);
            let text = doc.text.clone();
            actions.extend(self.declare_workload_actions(&key, &text, &p.context.diagnostics));
            return serde_json::to_value(actions).map(Some).map_err(|e| e.to_string());
        }
        let file = match self.db.file(&key) {
            Some(f) => f,
            None => self.db.set_contents_durable(&key, read_source(Path::new(&*key)), Durability::MEDIUM),
        };
        if method == "textDocument/codeLens" {
            // The query commands' answers: the project's evaluators (cached).
            let defs = khc_db::syntax::file_index(&self.db, file).definitions.clone();
            let Some((dir, entries)) = self.project_of(&key) else { return Ok(Some(json!([]))) };
            let Some(ws) = self.evaluators(&dir, &entries, &[]) else { return Ok(Some(json!([]))) };
            let text = file.text(&self.db).to_string();
            return serde_json::to_value(lenses::code_lenses(&ws, &defs, &text)).map(Some).map_err(|e| e.to_string());
        }
        let entries = self.entries_of(file);
        if method == "textDocument/hover" {
            // The resource's hover gains who may touch it in the tenant's
            // namespaces, from the tenant's evaluators (cached, as the lenses' and
            // the manifests' are).
            let (hover, target, workload) = {
                let a = Analysis::new(&self.db, file, entries);
                let pos = params.get("position").and_then(|p| serde_json::from_value::<lsp_types::Position>(p.clone()).ok());
                let offset = pos.map(|p| a.line_index().offset(p) as u32).ok_or("missing position")?;
                (a.hover(offset), a.resource_in_tenant_at(offset), a.workload_at(offset))
            };
            let mut hover = hover;
            // A workload's hover gains who reaches it, from the project's
            // evaluators (the code lenses' and `khc blast-radius`'s).
            if let (Some(h), Some((tenant, workload))) = (hover.as_mut(), workload) {
                let ws = self.project_of(&key).and_then(|(dir, entries)| self.evaluators(&dir, &entries, &[]));
                if let (Some(ws), lsp_types::HoverContents::Markup(m)) = (ws, &mut h.contents) {
                    if let Some(md) = lenses::reached_by(&ws, &tenant, &workload) {
                        m.value.push_str("\n\n");
                        m.value.push_str(&md);
                    }
                }
            }
            if let (Some(h), Some((resource, tenant))) = (hover.as_mut(), target) {
                // The tenant's evaluators: RBAC in its namespaces comes from its own
                // RoleBindings and the cluster's bindings, never another tenant's.
                let ws = self.project_of(&key).and_then(|(dir, entries)| self.evaluators_of(&dir, &entries, Some(tenant.clone())));
                if let (Some(ws), lsp_types::HoverContents::Markup(m)) = (ws, &mut h.contents) {
                    if let Some(md) = crate::touch::who_may_touch(&ws, &tenant, &resource) {
                        m.value.push_str("\n\n");
                        m.value.push_str(&md);
                    }
                }
            }
            return serde_json::to_value(hover).map(Some).map_err(|e| e.to_string());
        }
        let a = Analysis::new(&self.db, file, entries);
        let pos = params.get("position").and_then(|p| serde_json::from_value::<lsp_types::Position>(p.clone()).ok());
        let offset = pos.map(|p| a.line_index().offset(p) as u32);
        let uri_of = |k: &str| self.uri_of(k);
        let v = match method {
            "textDocument/completion" => serde_json::to_value(a.completion(offset.ok_or("missing position")?)),
            "textDocument/definition" => serde_json::to_value(a.definition(offset.ok_or("missing position")?, &uri_of)),
            "textDocument/references" => {
                let decl = params.pointer("/context/includeDeclaration").and_then(Value::as_bool).unwrap_or(true);
                serde_json::to_value(a.references(offset.ok_or("missing position")?, decl, &uri_of))
            }
            "textDocument/prepareRename" => serde_json::to_value(a.prepare_rename(offset.ok_or("missing position")?)),
            "textDocument/rename" => {
                let new = params.get("newName").and_then(Value::as_str).ok_or("missing newName")?;
                serde_json::to_value(a.rename(offset.ok_or("missing position")?, new, &uri_of)?)
            }
            "textDocument/documentSymbol" => serde_json::to_value(a.document_symbols()),
            "textDocument/semanticTokens/full" => serde_json::to_value(a.semantic_tokens()),
            "textDocument/foldingRange" => serde_json::to_value(a.folding_ranges()),
            "textDocument/formatting" => serde_json::to_value(a.formatting()),
            "textDocument/codeAction" => {
                let p: lsp_types::CodeActionParams = serde_json::from_value(params.clone()).map_err(|e| e.to_string())?;
                serde_json::to_value(a.code_actions(&p, &uri_of))
            }
            _ => return Ok(None),
        };
        v.map(Some).map_err(|e| e.to_string())
    }
}
