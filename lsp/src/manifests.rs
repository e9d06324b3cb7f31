//! Application manifests in the editor: `*.yaml`/`*.yml` files holding
//! Kubernetes objects, judged exactly as `khc eval FILE -p DIR` judges them
//! ([`khc_analysis::eval::evaluate_with`] over [`khc_analysis::Workspace`]), where
//! DIR is the nearest folder above the file that holds entry files. Each finding
//! becomes a diagnostic on its field's line (the line `khc eval` names with
//! `[at FILE:LINE]`, else the object's first line), related to the `.khc`
//! statement that imposes it, with a quick fix where one is certain.

use khc_analysis::eval::{evaluate_with, Finding, Options, Severity};
use khc_analysis::manifest::parse;
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Position, Range,
    TextEdit, Uri, WorkspaceEdit,
};
use std::collections::HashMap;

/// The diagnostic code of a manifest finding (SPEC section 12).
pub const CODE: &str = "manifest";

/// True for a file the server judges as an application manifest.
pub fn is_manifest(key: &str) -> bool {
    key.ends_with(".yaml") || key.ends_with(".yml")
}

/// The objects of `text` (the file `key`), or `None` when it is not YAML holding
/// Kubernetes objects (every document needs `apiVersion` and `kind`): such a
/// file gets no diagnostics from khc.
pub fn objects(key: &str, text: &str) -> Option<Vec<khc_analysis::manifest::Manifest>> {
    let ms = parse(key, text).ok()?;
    let k8s = |m: &khc_analysis::manifest::Manifest| m.value["apiVersion"].is_string() && m.value["kind"].is_string();
    (!ms.is_empty() && ms.iter().all(k8s)).then_some(ms)
}

/// `khc eval`'s findings on the objects of one manifest file.
pub fn findings(ws: &khc_analysis::Workspace, objects: &[khc_analysis::manifest::Manifest]) -> Vec<Finding> {
    evaluate_with(ws, objects, &Options::default())
}

/// The one namespace of `objects` when every object is of a pod kind
/// (`khc_rules::facts::POD_KINDS`) and names it: such a manifest can be judged by
/// its tenant's evaluators alone ([`khc_analysis::Workspace::of_tenant`]).
pub fn pod_namespace(objects: &[khc_analysis::manifest::Manifest]) -> Option<&str> {
    let mut ns = None;
    for m in objects {
        khc_rules::facts::pod_kind_of(m.value["kind"].as_str()?)?;
        let this = m.value["metadata"]["namespace"].as_str().filter(|n| !n.is_empty())?;
        if ns.is_some_and(|n| n != this) {
            return None;
        }
        ns = Some(this);
    }
    ns
}

/// `FILE:LINE` → (FILE, 1-based LINE).
fn split(loc: &str) -> Option<(&str, u32)> {
    let (f, l) = loc.rsplit_once(':')?;
    Some((f, l.parse().ok()?))
}

/// The range of 1-based line `line` of `text` without its indentation (and a
/// list's `- `), in UTF-16 columns.
pub fn line_range(text: &str, line: u32) -> Range {
    let l = line.saturating_sub(1);
    let s = text.lines().nth(l as usize).unwrap_or("");
    let body = s.trim_end();
    let lead = body.len() - body.trim_start().trim_start_matches("- ").trim_start().len();
    let col = |b: usize| body[..b].encode_utf16().count() as u32;
    Range { start: Position { line: l, character: col(lead) }, end: Position { line: l, character: col(body.len()) } }
}

/// The diagnostic of one finding: on its field's line, the imposing statement
/// as related information (`locate` maps a source file and 1-based line to its
/// location).
pub fn diagnostic(f: &Finding, text: &str, locate: &dyn Fn(&str, u32) -> Option<Location>) -> Diagnostic {
    let line = split(f.field_location.as_deref().unwrap_or(&f.location)).map_or(1, |(_, l)| l);
    let related = split(&f.rule_source).and_then(|(file, l)| {
        Some(vec![DiagnosticRelatedInformation { location: locate(file, l)?, message: format!("{} {}: the intent that imposes it", f.check, f.rule) }])
    });
    Diagnostic {
        range: line_range(text, line),
        severity: Some(match f.severity {
            Severity::Deny => DiagnosticSeverity::ERROR,
            Severity::Warn => DiagnosticSeverity::WARNING,
            Severity::Info => DiagnosticSeverity::INFORMATION,
        }),
        code: Some(NumberOrString::String(CODE.into())),
        source: Some("khc eval".into()),
        message: f.message.clone(),
        related_information: related,
        data: Some(serde_json::json!({"check": f.check, "rule": f.rule, "object": f.object})),
        ..Default::default()
    }
}

/// A certain fix for the field on `line` (0-based) of `text`: a value that the
/// restricted profile requires replaces the one written
/// (`allowPrivilegeEscalation: true` → `false`, `readOnlyRootFilesystem: false`
/// → `true`, `privileged: true` → `false`, a seccomp `type: Unconfined` →
/// `RuntimeDefault`). `None` when the field is absent or written otherwise.
pub fn fix_at(text: &str, line: u32) -> Option<(String, TextEdit)> {
    let lines: Vec<&str> = text.lines().collect();
    let replace = |l: u32, from: &str, to: &str| -> Option<TextEdit> {
        let s = *lines.get(l as usize)?;
        let at = s.rfind(from)?;
        let col = |b: usize| s[..b].encode_utf16().count() as u32;
        Some(TextEdit {
            range: Range { start: Position { line: l, character: col(at) }, end: Position { line: l, character: col(at + from.len()) } },
            new_text: to.into(),
        })
    };
    let s = lines.get(line as usize)?.trim_start().trim_start_matches("- ").trim_end();
    let (key, value) = s.split_once(':').map(|(k, v)| (k.trim().trim_matches('"'), v.trim()))?;
    match (key, value) {
        ("allowPrivilegeEscalation", "true") => Some(("Set `allowPrivilegeEscalation: false`".into(), replace(line, "true", "false")?)),
        ("readOnlyRootFilesystem", "false") => Some(("Set `readOnlyRootFilesystem: true`".into(), replace(line, "false", "true")?)),
        ("privileged", "true") => Some(("Set `privileged: false`".into(), replace(line, "true", "false")?)),
        ("seccompProfile", "") => {
            let next = lines.get(line as usize + 1)?.trim();
            (next == "type: Unconfined").then_some(())?;
            Some(("Set the seccomp profile to `RuntimeDefault`".into(), replace(line + 1, "Unconfined", "RuntimeDefault")?))
        }
        _ => None,
    }
}

/// The quick fixes of a code-action request on a manifest: for each khc
/// diagnostic in the request, the certain fix of its line, if any; one action
/// per distinct edit (Pod Security and an admission rule often flag one field),
/// naming every diagnostic it fixes.
pub fn code_actions(uri: &Uri, text: &str, diagnostics: &[Diagnostic]) -> Vec<CodeActionOrCommand> {
    let mut fixes: Vec<(String, TextEdit, Vec<Diagnostic>)> = Vec::new();
    for d in diagnostics.iter().filter(|d| d.code == Some(NumberOrString::String(CODE.into()))) {
        if let Some((title, edit)) = fix_at(text, d.range.start.line) {
            match fixes.iter_mut().find(|(_, e, _)| *e == edit) {
                Some((_, _, ds)) => ds.push(d.clone()),
                None => fixes.push((title, edit, vec![d.clone()])),
            }
        }
    }
    fixes
        .into_iter()
        .map(|(title, edit, ds)| {
            let mut changes = HashMap::new();
            changes.insert(uri.clone(), vec![edit]);
            CodeActionOrCommand::CodeAction(CodeAction {
                title,
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(ds),
                edit: Some(WorkspaceEdit { changes: Some(changes), ..Default::default() }),
                is_preferred: Some(true),
                ..Default::default()
            })
        })
        .collect()
}
