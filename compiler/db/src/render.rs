//! Renders diagnostics with codespan-reporting: `error[code]: message`, the file,
//! line and column, the source line with carets, and help/note lines.

use crate::KhcDatabase;
use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label as CsLabel, Severity as CsSeverity};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, Config};
use khc_syntax::{Diagnostic, Severity};
use std::collections::BTreeMap;

/// Whether to colour the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    /// ANSI colours.
    Always,
    /// Plain text.
    Never,
}

/// Renders `diags` (whose files must be loaded in `db`) as text.
pub fn render(db: &KhcDatabase, diags: &[Diagnostic], color: ColorChoice) -> String {
    let mut files = SimpleFiles::new();
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    // Only the files the diagnostics point at (not every loaded file: a rebuild
    // of 5,000 tenants with one warning copies one text, not 5,000).
    let keys: std::collections::BTreeSet<&str> =
        diags.iter().flat_map(|d| std::iter::once(&*d.primary.file).chain(d.secondary.iter().map(|s| &*s.file))).collect();
    for key in keys {
        let Some(f) = db.file(key) else { continue };
        let key = f.key(db).to_string();
        if ids.contains_key(&key) {
            continue;
        }
        // codespan counts lines by `\n`; a lone `\r` ends a line too (same byte
        // length, so spans stay valid).
        let id = files.add(db.display_name(&key), lone_cr_as_newline(f.text(db)));
        ids.insert(key, id);
    }
    // Diagnostics about files that could not be loaded still need a file to point at.
    let empty = files.add("<unknown>".to_string(), String::new());
    let config = Config::default();
    let mut out = String::new();
    let mut buffer = termcolor::Buffer::ansi();
    for d in diags {
        let file_of = |key: &str| ids.get(key).copied().unwrap_or(empty);
        let severity = match d.severity {
            Severity::Error => CsSeverity::Error,
            Severity::Warning => CsSeverity::Warning,
        };
        let mut labels = vec![CsLabel::primary(file_of(&d.primary.file), d.primary.span.range()).with_message(d.primary.message.clone())];
        for s in &d.secondary {
            labels.push(CsLabel::secondary(file_of(&s.file), s.span.range()).with_message(s.message.clone()));
        }
        let cs = CsDiagnostic::new(severity).with_code(d.code).with_message(d.message.clone()).with_labels(labels).with_notes(d.notes.clone());
        match color {
            ColorChoice::Never => {
                let text = term::emit_into_string(&config, &files, &cs).unwrap_or_else(|e| format!("{}: {} ({e})\n", d.code, d.message));
                out.push_str(&text);
            }
            ColorChoice::Always => {
                if term::emit_to_write_style(&mut buffer, &config, &files, &cs).is_err() {
                    out.push_str(&format!("{}: {}\n", d.code, d.message));
                }
            }
        }
    }
    if color == ColorChoice::Always {
        out.push_str(&String::from_utf8_lossy(buffer.as_slice()));
    }
    out
}

/// The text with every lone `\r` (not followed by `\n`) replaced by `\n`.
fn lone_cr_as_newline(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        if c == '\r' && bytes.get(i + 1) != Some(&b'\n') {
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check;
    use khc_syntax::FileKey;

    #[test]
    fn renders_plain_and_coloured() {
        let mut db = KhcDatabase::new("");
        let f = db.set_text(&FileKey::from("x.khc"), "cluster c {\n  kubernetes 1.2\n}\n".into());
        let diags = check(&db, f).diagnostics.clone();
        let plain = render(&db, &diags, ColorChoice::Never);
        assert!(plain.contains("error[invalid-value]: khc targets Kubernetes 1.30 or later") && plain.contains("x.khc:2:14"), "{plain}");
        assert!(!plain.contains('\u{1b}'));
        let coloured = render(&db, &diags, ColorChoice::Always);
        assert!(coloured.contains('\u{1b}') && coloured.contains("khc targets Kubernetes 1.30 or later"), "{coloured}");
    }
}
