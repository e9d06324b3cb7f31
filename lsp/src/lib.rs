//! The khc language server: live diagnostics for `.khc` files over the Language
//! Server Protocol (stdio), computed by the same salsa database as `khc build`.
//!
//! Files are keyed by absolute path. On every open or change the server updates the
//! file's text in the database, finds the entry files whose programs include it
//! (the file itself, or entry files in its directory), re-checks them
//! incrementally and publishes diagnostics for every file involved.

#![warn(missing_docs)]

use khc_db::{parse, program, read_source, FileContents, KhcDatabase, SourceFile};
use khc_syntax::{Diagnostic, FileKey, Severity};
use lsp_server::{Connection, Message, Notification};
use lsp_types::{
    DiagnosticRelatedInformation, DiagnosticSeverity, InitializeResult, Location, NumberOrString, Position, PublishDiagnosticsParams, Range,
    ServerCapabilities, ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind, Uri,
};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// Runs the server on stdin/stdout until the client shuts it down.
pub fn run_stdio() -> Result<(), String> {
    let (connection, io_threads) = Connection::stdio();
    let caps = ServerCapabilities { text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)), ..Default::default() };
    let init = InitializeResult { capabilities: caps, server_info: Some(ServerInfo { name: "khc".into(), version: Some(env!("CARGO_PKG_VERSION").into()) }) };
    let init = serde_json::to_value(init).map_err(|e| e.to_string())?;
    let (id, _params) = connection.initialize_start().map_err(|e| e.to_string())?;
    connection.initialize_finish(id, init).map_err(|e| e.to_string())?;
    let mut server = Server { db: KhcDatabase::new(""), published: BTreeSet::new() };
    for msg in &connection.receiver {
        match msg {
            Message::Request(req) => {
                if connection.handle_shutdown(&req).map_err(|e| e.to_string())? {
                    break;
                }
                let resp = lsp_server::Response::new_err(req.id, lsp_server::ErrorCode::MethodNotFound as i32, format!("khc does not handle {}", req.method));
                connection.sender.send(Message::Response(resp)).map_err(|e| e.to_string())?;
            }
            Message::Notification(n) => {
                for out in server.notification(&n) {
                    connection.sender.send(Message::Notification(out)).map_err(|e| e.to_string())?;
                }
            }
            Message::Response(_) => {}
        }
    }
    drop(connection);
    io_threads.join().map_err(|e| e.to_string())
}

/// Server state: the database and the files diagnostics were published for.
pub struct Server {
    db: KhcDatabase,
    published: BTreeSet<FileKey>,
}

impl Default for Server {
    fn default() -> Self {
        Server { db: KhcDatabase::new(""), published: BTreeSet::new() }
    }
}

impl Server {
    /// Handles one notification and returns the notifications to send back.
    pub fn notification(&mut self, n: &Notification) -> Vec<Notification> {
        let text_of = |v: &serde_json::Value| -> Option<(String, String)> {
            let uri = v.pointer("/textDocument/uri")?.as_str()?.to_string();
            let text = match n.method.as_str() {
                "textDocument/didOpen" => v.pointer("/textDocument/text")?.as_str()?.to_string(),
                _ => v.pointer("/contentChanges")?.as_array()?.last()?.get("text")?.as_str()?.to_string(),
            };
            Some((uri, text))
        };
        match n.method.as_str() {
            "textDocument/didOpen" | "textDocument/didChange" => match text_of(&n.params) {
                Some((uri, text)) => match uri_to_path(&uri) {
                    Some(path) => self.update(&path, text),
                    None => Vec::new(),
                },
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Sets a file's text and returns fresh diagnostics for every affected file.
    pub fn update(&mut self, path: &str, text: String) -> Vec<Notification> {
        let key: FileKey = path.into();
        let file = self.db.set_text(&key, text);
        let diags = self.diagnostics_for(file);
        let mut by_file: BTreeMap<FileKey, Vec<Diagnostic>> = BTreeMap::new();
        by_file.entry(key).or_default();
        for d in diags {
            // Embedded standard-library modules have no file to publish to.
            if d.primary.file.starts_with('/') {
                by_file.entry(d.primary.file.clone()).or_default().push(d);
            }
        }
        // Clear files that had diagnostics before and have none now.
        for old in &self.published {
            by_file.entry(old.clone()).or_default();
        }
        let mut out = Vec::new();
        self.published.clear();
        for (file_key, diags) in by_file {
            if !diags.is_empty() {
                self.published.insert(file_key.clone());
            }
            if let Some(n) = self.publish(&file_key, &diags) {
                out.push(n);
            }
        }
        out
    }

    /// Diagnostics of every program that includes `file`.
    fn diagnostics_for(&mut self, file: SourceFile) -> Vec<Diagnostic> {
        let mut entries = Vec::new();
        if khc_semantics::is_entry(&parse(&self.db, file).tree()) {
            self.db.load_program(file);
            entries.push(file);
        } else if let Some(dir) = std::path::Path::new(&**file.key(&self.db)).parent() {
            // Entry files in the same directory that import this file.
            if let Ok(read) = std::fs::read_dir(dir) {
                let mut names: Vec<String> =
                    read.filter_map(|e| e.ok()).filter_map(|e| e.path().to_str().map(str::to_string)).filter(|p| p.ends_with(".khc")).collect();
                names.sort();
                for n in names {
                    let key = FileKey::from(n.as_str());
                    let f = match self.db.file(&key) {
                        Some(f) => f,
                        None => {
                            let contents = read_source(std::path::Path::new(&n));
                            self.db.set_contents(&key, contents)
                        }
                    };
                    if matches!(f.contents(&self.db), FileContents::Missing(_)) || !khc_semantics::is_entry(&parse(&self.db, f).tree()) {
                        continue;
                    }
                    self.db.load_program(f);
                    if program(&self.db, f).files.contains(&file) {
                        entries.push(f);
                    }
                }
            }
        }
        let db = &self.db;
        if entries.is_empty() {
            // A module no entry imports: syntax and import errors only.
            let mut d = parse(db, file).errors.clone();
            khc_db::sort_diagnostics(&mut d);
            return d;
        }
        let mut all = Vec::new();
        for e in entries {
            all.extend(khc_db::diagnostics(db, e).iter().cloned());
        }
        khc_db::sort_diagnostics(&mut all);
        all
    }

    fn publish(&self, key: &FileKey, diags: &[Diagnostic]) -> Option<Notification> {
        let text = self.db.file(key).map(|f| f.text(&self.db).to_string()).unwrap_or_default();
        let uri = path_to_uri(key)?;
        let diagnostics = diags.iter().map(|d| self.to_lsp(d, &text)).collect();
        let params = PublishDiagnosticsParams { uri, diagnostics, version: None };
        Some(Notification::new("textDocument/publishDiagnostics".into(), params))
    }

    fn to_lsp(&self, d: &Diagnostic, text: &str) -> lsp_types::Diagnostic {
        let mut message = d.message.clone();
        if !d.primary.message.is_empty() {
            message.push_str(&format!(" ({})", d.primary.message));
        }
        for n in &d.notes {
            message.push('\n');
            message.push_str(n);
        }
        let related: Vec<DiagnosticRelatedInformation> = d
            .secondary
            .iter()
            .filter_map(|s| {
                let other = self.db.file(&s.file)?.text(&self.db).to_string();
                Some(DiagnosticRelatedInformation {
                    location: Location { uri: path_to_uri(&s.file)?, range: range(&other, s.span) },
                    message: s.message.clone(),
                })
            })
            .collect();
        lsp_types::Diagnostic {
            range: range(text, d.primary.span),
            severity: Some(match d.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(d.code.to_string())),
            source: Some("khc".into()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            ..Default::default()
        }
    }
}

/// The LSP position (line, UTF-16 column) of a byte offset.
pub fn position(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() as u32;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let character = before[line_start..].encode_utf16().count() as u32;
    Position { line, character }
}

fn range(text: &str, span: khc_syntax::Span) -> Range {
    Range { start: position(text, span.start as usize), end: position(text, span.end as usize) }
}

/// `file:///a/b%20c.khc` → `/a/b c.khc`.
pub fn uri_to_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("file://")?;
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `/a/b c.khc` → `file:///a/b%20c.khc`.
pub fn path_to_uri(path: &str) -> Option<Uri> {
    let mut s = String::from("file://");
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::from_str(&s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_round_trip() {
        let p = "/tmp/my dir/a.khc";
        let uri = path_to_uri(p).unwrap();
        assert_eq!(uri.as_str(), "file:///tmp/my%20dir/a.khc");
        assert_eq!(uri_to_path(uri.as_str()).unwrap(), p);
    }

    #[test]
    fn positions_are_utf16() {
        let text = "a\n€b";
        assert_eq!(position(text, 2 + 3), Position { line: 1, character: 1 });
    }

    #[test]
    fn publishes_diagnostics_and_clears_them() {
        let dir = std::env::temp_dir().join(format!("khc-lsp-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.khc").to_str().unwrap().to_string();
        let mut server = Server::default();
        let out = server.update(&path, "cluster prod {\n  kubernetes 1.2\n}\n".into());
        let params: PublishDiagnosticsParams = serde_json::from_value(out[0].params.clone()).unwrap();
        assert!(params.diagnostics.iter().any(|d| d.message.contains("not a Kubernetes version") || d.message.contains("1.30")), "{:?}", params.diagnostics);
        let bad = params.diagnostics.iter().find(|d| d.severity == Some(DiagnosticSeverity::ERROR)).unwrap();
        assert_eq!(bad.range.start, Position { line: 1, character: 13 });
        let out = server.update(&path, "cluster prod {\n  kubernetes 1.31\n  encryption { provider secretbox { key k env \"K\" } }\n}\n".into());
        let params: PublishDiagnosticsParams = serde_json::from_value(out[0].params.clone()).unwrap();
        assert!(params.diagnostics.is_empty(), "{:?}", params.diagnostics);
        std::fs::remove_dir_all(&dir).ok();
    }
}
