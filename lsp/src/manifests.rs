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

/// The indentation of a line (spaces).
fn indent(l: &str) -> usize {
    l.len() - l.trim_start_matches(' ').len()
}

/// The insertion a finding about a missing field calls for, where certain: the
/// field added to every container of the object (at `line`, 0-based) that
/// lacks it, under its `securityContext` (created at the end of the container
/// when absent): `allowPrivilegeEscalation: false`, `readOnlyRootFilesystem:
/// true`, `capabilities: drop: [ALL]`; or the pod's seccomp profile
/// `RuntimeDefault` when the object sets none anywhere. Block-style YAML only:
/// a flow-style `securityContext: {…}` (or an existing `capabilities`) gets no
/// fix, as its right form is not certain.
pub fn insertion_fix(text: &str, line: u32, rule: &str, message: &str) -> Option<(String, Vec<TextEdit>)> {
    let lines: Vec<&str> = text.lines().collect();
    let at = line as usize;
    let start = lines[..at.min(lines.len())].iter().rposition(|l| l.starts_with("---")).map_or(0, |i| i + 1);
    let end = lines.iter().skip(at + 1).position(|l| l.starts_with("---")).map_or(lines.len(), |i| at + 1 + i);
    let object = &lines[start..end];
    let key_line = |l: &str, key: &str| l.trim_start().trim_start_matches("- ").starts_with(&format!("{key}:"));
    let insert = |l: usize, body: &[String]| TextEdit {
        range: Range { start: Position { line: l as u32, character: 0 }, end: Position { line: l as u32, character: 0 } },
        new_text: body.iter().map(|b| format!("{b}\n")).collect(),
    };
    let (title, field): (&str, &[(usize, &str)]) = if rule.contains("privilege-escalation") {
        ("Add `allowPrivilegeEscalation: false` to every container", &[(0, "allowPrivilegeEscalation: false")])
    } else if rule.contains("read-only-root") {
        ("Add `readOnlyRootFilesystem: true` to every container", &[(0, "readOnlyRootFilesystem: true")])
    } else if rule.contains("drop-all-capabilities") || (rule.contains("capabilities") && message.contains("drop ALL")) {
        ("Drop ALL capabilities in every container", &[(0, "capabilities:"), (2, "drop: [ALL]")])
    } else if rule.contains("seccomp") && !message.contains("Unconfined") {
        // The pod's profile, unless something already names one.
        if object.iter().any(|l| key_line(l, "seccompProfile")) {
            return None;
        }
        let (ci, c) = object.iter().enumerate().find(|(_, l)| key_line(l, "containers"))?;
        let k = indent(c);
        let pad = |n: usize| " ".repeat(n);
        let edit = match object.iter().enumerate().find(|(_, l)| indent(l) == k && key_line(l, "securityContext")) {
            Some((_, l)) if !l.trim_end().ends_with("securityContext:") => return None,
            Some((si, _)) => insert(start + si + 1, &[format!("{}seccompProfile:", pad(k + 2)), format!("{}type: RuntimeDefault", pad(k + 4))]),
            None => insert(
                start + ci,
                &[format!("{}securityContext:", pad(k)), format!("{}seccompProfile:", pad(k + 2)), format!("{}type: RuntimeDefault", pad(k + 4))],
            ),
        };
        return Some(("Set the pod's seccomp profile to `RuntimeDefault`".into(), vec![edit]));
    } else {
        return None;
    };
    let key = field[0].1.split(':').next().unwrap_or("");
    let mut edits = Vec::new();
    for (ci, c) in object.iter().enumerate().filter(|(_, l)| key_line(l, "containers") || key_line(l, "initContainers")) {
        let k = indent(c);
        // The items of the block sequence under `containers:`.
        let mut items: Vec<(usize, usize)> = Vec::new(); // (first line, last non-empty line), object-relative
        let mut seq: Option<usize> = None;
        for (i, l) in object.iter().enumerate().skip(ci + 1) {
            if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            }
            let n = indent(l);
            let is_item = l.trim_start().starts_with("- ");
            match seq {
                None if is_item && n >= k => seq = Some(n),
                None => break,
                Some(_) => {}
            }
            let si = seq?;
            if is_item && n == si {
                items.push((i, i));
            } else if n > si {
                items.last_mut()?.1 = i;
            } else {
                break;
            }
        }
        let si = seq?;
        let c_ind = si + 2;
        let pad = |n: usize| " ".repeat(n);
        for (first, last) in items {
            let body = &object[first..=last];
            let sc = body.iter().position(|l| indent(l) == c_ind && key_line(l, "securityContext") || (l.trim_start().starts_with("- securityContext:")));
            match sc {
                Some(p) => {
                    let l = body[p];
                    if !l.trim_end().ends_with("securityContext:") {
                        return None; // flow style
                    }
                    let inner: Vec<&&str> = body[p + 1..].iter().take_while(|l| l.trim().is_empty() || indent(l) > c_ind).collect();
                    if inner.iter().any(|l| key_line(l, key)) {
                        continue;
                    }
                    let lines: Vec<String> = field.iter().map(|(d, f)| format!("{}{f}", pad(c_ind + 2 + d))).collect();
                    edits.push(insert(start + first + p + 1, &lines));
                }
                None => {
                    let mut lines = vec![format!("{}securityContext:", pad(c_ind))];
                    lines.extend(field.iter().map(|(d, f)| format!("{}{f}", pad(c_ind + 2 + d))));
                    edits.push(insert(start + last + 1, &lines));
                }
            }
        }
    }
    (!edits.is_empty()).then(|| (title.to_string(), edits))
}

/// The quick fixes of a code-action request on a manifest: for each khc
/// diagnostic in the request, the certain fix of its line, if any; one action
/// per distinct edit (Pod Security and an admission rule often flag one field),
/// naming every diagnostic it fixes.
pub fn code_actions(uri: &Uri, text: &str, diagnostics: &[Diagnostic]) -> Vec<CodeActionOrCommand> {
    let mut fixes: Vec<(String, Vec<TextEdit>, Vec<Diagnostic>)> = Vec::new();
    for d in diagnostics.iter().filter(|d| d.code == Some(NumberOrString::String(CODE.into()))) {
        let rule = d.data.as_ref().and_then(|v| v["rule"].as_str()).unwrap_or("");
        let fix = fix_at(text, d.range.start.line).map(|(t, e)| (t, vec![e])).or_else(|| insertion_fix(text, d.range.start.line, rule, &d.message));
        if let Some((title, edits)) = fix {
            match fixes.iter_mut().find(|(_, e, _)| *e == edits) {
                Some((_, _, ds)) => ds.push(d.clone()),
                None => fixes.push((title, edits, vec![d.clone()])),
            }
        }
    }
    fixes
        .into_iter()
        .map(|(title, edits, ds)| {
            let mut changes = HashMap::new();
            changes.insert(uri.clone(), edits);
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
