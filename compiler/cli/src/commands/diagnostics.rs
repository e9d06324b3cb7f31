//! `--format json|sarif` for the diagnostics of `khc check` and `khc build`.

use super::sarif::{self, SarifResult};
use clap::ValueEnum;
use khc_db::KhcDatabase;
use khc_syntax::{Diagnostic, Severity};
use serde_json::{json, Value};

/// How `check`, `build` and `eval` report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiagFormat {
    /// Rendered for people, on stderr.
    Text,
    /// JSON on stdout.
    Json,
    /// SARIF 2.1.0 on stdout (GitHub code scanning).
    Sarif,
}

/// `(path shown to users, 1-based line, 1-based column)` of a byte offset.
fn position(db: &KhcDatabase, file: &str, offset: u32) -> (String, u32, u32) {
    let path = match file.strip_prefix("std/") {
        Some(name) => format!("stdlib/{name}"),
        None => db.display_name(file),
    };
    let Some(f) = db.file(file) else { return (path, 1, 1) };
    let text = f.text(db);
    let before = &text[..text.floor_char_boundary(offset as usize)];
    let line = before.matches('\n').count() as u32 + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
    (path, line, col)
}

/// Diagnostics as a JSON array.
pub fn to_json(db: &KhcDatabase, diags: &[Diagnostic]) -> Value {
    let list: Vec<Value> = diags
        .iter()
        .map(|d| {
            let (file, line, column) = position(db, &d.primary.file, d.primary.span.start);
            let related: Vec<Value> = d
                .secondary
                .iter()
                .map(|l| {
                    let (file, line, column) = position(db, &l.file, l.span.start);
                    json!({"file": file, "line": line, "column": column, "message": l.message})
                })
                .collect();
            json!({
                "severity": if d.severity == Severity::Error { "error" } else { "warning" },
                "code": d.code,
                "message": d.message,
                "file": file, "line": line, "column": column,
                "label": d.primary.message,
                "related": related,
                "notes": d.notes,
                "acknowledged": d.acknowledged,
            })
        })
        .collect();
    json!({"diagnostics": list})
}

/// Diagnostics as a SARIF log.
pub fn to_sarif(db: &KhcDatabase, diags: &[Diagnostic]) -> Value {
    let results: Vec<SarifResult> = diags
        .iter()
        .map(|d| {
            let (file, line, _) = position(db, &d.primary.file, d.primary.span.start);
            let mut message = d.message.clone();
            for n in &d.notes {
                message.push_str(&format!("\n{n}"));
            }
            SarifResult {
                suppression: d.acknowledged.clone(),
                rule_id: d.code.to_string(),
                level: if d.severity == Severity::Error { "error" } else { "warning" },
                message,
                file,
                line,
                related: d
                    .secondary
                    .iter()
                    .map(|l| {
                        let (f, line, _) = position(db, &l.file, l.span.start);
                        (f, line, if l.message.is_empty() { "related".to_string() } else { l.message.clone() })
                    })
                    .collect(),
            }
        })
        .collect();
    sarif::log(&results)
}

/// Prints diagnostics in a machine format on stdout.
pub fn print(db: &KhcDatabase, diags: &[Diagnostic], format: DiagFormat) {
    let v = match format {
        DiagFormat::Sarif => to_sarif(db, diags),
        _ => to_json(db, diags),
    };
    println!("{}", serde_json::to_string_pretty(&v).expect("JSON serializes"));
}
