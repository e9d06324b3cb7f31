//! Acknowledged warnings (SPEC.md section 12): a reviewed warning is
//! acknowledged in source with a comment on its line, or alone on the line
//! before it,
//!
//! ```text
//! grant secret-reader to serviceaccount "ingress-nginx/ingress-nginx" # khc: allow risky — the controller serves TLS for every tenant
//! ```
//!
//! `khc check --deny-warnings` then passes; the warning stays visible (counted,
//! listed with `--show-acknowledged`, a suppressed result in SARIF, a hint in
//! editors). An acknowledgement without a reason, or one that matches no warning
//! (errors cannot be acknowledged), is itself a warning. Both front ends call
//! [`acknowledge`], so they agree.

use khc_syntax::{Diagnostic, FileKey, Severity, Span};

/// The marker that starts an acknowledgement inside a comment.
pub const MARKER: &str = "khc: allow";

/// One `# khc: allow CODE… — REASON` comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acknowledgement {
    /// The codes it acknowledges.
    pub codes: Vec<String>,
    /// Why (empty when missing).
    pub reason: String,
    /// The comment's span.
    pub span: Span,
    /// The 0-based line whose warnings it acknowledges.
    pub line: usize,
}

/// Every acknowledgement comment of `text`.
pub fn acknowledgements(text: &str) -> Vec<Acknowledgement> {
    let lines: Vec<(usize, &str)> = {
        let mut at = 0;
        text.split_inclusive('\n')
            .map(|l| {
                let start = at;
                at += l.len();
                (start, l.trim_end_matches(['\n', '\r']))
            })
            .collect()
    };
    let mut out = Vec::new();
    for (i, (start, line)) in lines.iter().enumerate() {
        let Some(hash) = comment_start(line) else { continue };
        let comment = line[hash + 1..].trim_start();
        let Some(rest) = comment.strip_prefix(MARKER) else { continue };
        let (codes, reason) = match rest.find(['—', ':']).or_else(|| rest.find(" - ")).or_else(|| rest.find("--")) {
            Some(at) => (&rest[..at], rest[at..].trim_start_matches(['—', ':', '-', ' '])),
            None => (rest, ""),
        };
        let codes: Vec<String> = codes.split([' ', ',']).filter(|c| !c.is_empty()).map(str::to_string).collect();
        // Alone on its line: it concerns the next line that is not a comment.
        let target = if line[..hash].trim().is_empty() {
            lines.iter().enumerate().skip(i + 1).find(|(_, (_, l))| !l.trim().is_empty() && !l.trim_start().starts_with('#')).map_or(i, |(j, _)| j)
        } else {
            i
        };
        out.push(Acknowledgement { codes, reason: reason.trim().to_string(), span: Span::new(start + hash, start + line.len()), line: target });
    }
    out
}

/// Where a line's comment starts: the first `#` outside a string.
fn comment_start(line: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            '\\' if in_string && !escaped => {
                escaped = true;
                continue;
            }
            '"' if !escaped => in_string = !in_string,
            '#' if !in_string => return Some(i),
            _ => {}
        }
        escaped = false;
    }
    None
}

/// Marks the warnings of `diags` whose primary location is in `file` (with
/// contents `text`) and that an acknowledgement there names, and adds a
/// warning for each acknowledgement without a reason or that matches nothing.
pub fn acknowledge_file(file: &FileKey, text: &str, diags: &mut Vec<Diagnostic>) {
    acknowledge_with(file, text, &acknowledgements(text), diags);
}

/// The acknowledgement comments of a file ([`acknowledgements`]), memoized: a
/// rebuild reads them again only for the files that changed.
#[salsa::tracked(returns(ref))]
pub fn file_acknowledgements(db: &dyn crate::Db, file: crate::SourceFile) -> Vec<Acknowledgement> {
    acknowledgements(file.text(db))
}

/// [`acknowledge_file`] with the file's acknowledgements already read.
fn acknowledge_with(file: &FileKey, text: &str, acks: &[Acknowledgement], diags: &mut Vec<Diagnostic>) {
    if acks.is_empty() {
        return;
    }
    let line_of = |offset: u32| text[..(offset as usize).min(text.len())].matches('\n').count();
    let mut used = vec![false; acks.len()];
    for d in diags.iter_mut().filter(|d| &d.primary.file == file && d.acknowledged.is_none()) {
        let line = line_of(d.primary.span.start);
        for (i, a) in acks.iter().enumerate() {
            if a.line == line && a.codes.iter().any(|c| c == d.code) {
                used[i] = true;
                if d.severity == Severity::Warning && !a.reason.is_empty() {
                    d.acknowledged = Some(a.reason.clone());
                }
            }
        }
    }
    for (a, used) in acks.iter().zip(used) {
        let codes = a.codes.join(", ");
        if a.codes.is_empty() {
            diags.push(
                Diagnostic::warning("no-effect", file, a.span, "this acknowledgement names no diagnostic code")
                    .with_note("help: write `# khc: allow CODE — REASON`, e.g. `# khc: allow risky — reviewed with the security team`"),
            );
        } else if a.reason.is_empty() {
            diags.push(
                Diagnostic::warning("bad-argument", file, a.span, format!("the acknowledgement of `{codes}` needs a reason"))
                    .with_note(format!("help: write `# khc: allow {codes} — REASON`: why the warning is acceptable, for the reviewers")),
            );
        } else if !used {
            let mut d = Diagnostic::warning("no-effect", file, a.span, format!("this acknowledgement of `{codes}` matches no warning on line {}", a.line + 1));
            if diags.iter().any(|d| &d.primary.file == file && d.is_error() && line_of(d.primary.span.start) == a.line) {
                d.notes.push("note: errors cannot be acknowledged".into());
            } else {
                d.notes.push("help: remove it, or put it on the line of the warning it acknowledges (or alone on the line before)".into());
            }
            diags.push(d);
        }
    }
}

/// [`acknowledge_file`] for every loaded file of `db` (standard-library
/// modules excepted), then the diagnostics sorted again.
pub fn acknowledge(db: &crate::KhcDatabase, diags: &mut Vec<Diagnostic>) {
    for f in db.loaded() {
        let key = f.key(db);
        if key.starts_with(khc_semantics::STD_PREFIX) {
            continue;
        }
        let acks = file_acknowledgements(db, f);
        if !acks.is_empty() {
            acknowledge_with(key, f.text(db), acks, diags);
        }
    }
    crate::sort_diagnostics(diags);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_acknowledgements_on_the_line_or_before_it() {
        let text = "a \"#x\" # khc: allow risky — reviewed\n# khc: allow risky, conflict: the CI deployer\n\nb\n# not one\nc # khc: allow risky\n";
        let a = acknowledgements(text);
        assert_eq!(a.len(), 3, "{a:?}");
        assert_eq!((a[0].codes.clone(), a[0].reason.as_str(), a[0].line), (vec!["risky".to_string()], "reviewed", 0));
        assert_eq!((a[1].codes.clone(), a[1].reason.as_str(), a[1].line), (vec!["risky".to_string(), "conflict".into()], "the CI deployer", 3));
        assert_eq!((a[2].reason.as_str(), a[2].line), ("", 5));
        assert_eq!(&text[a[0].span.range()], "# khc: allow risky — reviewed");
    }
}
