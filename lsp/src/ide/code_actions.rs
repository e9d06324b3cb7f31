//! Quick fixes from the diagnostics in a code-action request.

use super::*;

impl<'a> Analysis<'a> {
    /// Quick fixes from the diagnostics in the request: "did you mean `X`?"
    /// replaces the diagnostic's range with `X`; an `unreachable` rule gets the
    /// missing rule added to the other tenant; a wildcard verb is narrowed to the
    /// read-only verbs.
    pub fn code_actions(&self, params: &CodeActionParams, uri_of: &dyn Fn(&str) -> Option<String>) -> Vec<CodeActionOrCommand> {
        let mut out = Vec::new();
        let mut action = |title: String, d: &lsp_types::Diagnostic, uri: Uri, edit: TextEdit, preferred: bool| {
            let mut changes = HashMap::new();
            changes.insert(uri, vec![edit]);
            out.push(CodeActionOrCommand::CodeAction(CodeAction {
                title,
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![d.clone()]),
                edit: Some(WorkspaceEdit { changes: Some(changes), ..Default::default() }),
                is_preferred: Some(preferred),
                ..Default::default()
            }));
        };
        for d in &params.context.diagnostics {
            // A wildcard verb: narrow it to the read-only verbs.
            if d.message.starts_with("wildcard verb `*`") {
                let edit = TextEdit { range: d.range, new_text: "get list watch".into() };
                action("Narrow `*` to the read-only verbs `get list watch`".into(), d, params.text_document.uri.clone(), edit, false);
            }
            // An unreachable rule: add the missing rule to the other tenant.
            if let Some((stmt, tenant)) = d.message.lines().find_map(|l| {
                let rest = l.strip_prefix("help: add `")?;
                let (stmt, rest) = rest.split_once("` to tenant `")?;
                Some((stmt.to_string(), rest.trim_end_matches('`').to_string()))
            }) {
                if let Some(edit) = self.append_to_tenant(&tenant, &stmt, uri_of) {
                    action(format!("Add `{stmt}` to tenant `{tenant}`"), d, edit.0, edit.1, true);
                }
            }
            // A warning: acknowledge it in source (`# khc: allow CODE — REASON`
            // alone on the line before it); the reason is left for the author.
            if d.severity == Some(lsp_types::DiagnosticSeverity::WARNING) {
                if let Some(lsp_types::NumberOrString::String(code)) = &d.code {
                    let line = d.range.start.line;
                    let text = self.text.split('\n').nth(line as usize).unwrap_or("");
                    let indent: String = text.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
                    let at = lsp_types::Position { line, character: 0 };
                    let edit = TextEdit { range: Range { start: at, end: at }, new_text: format!("{indent}# {} {code} — \n", khc_db::acknowledge::MARKER) };
                    action(format!("Acknowledge `{code}`… (add `# khc: allow {code} — REASON` above)"), d, params.text_document.uri.clone(), edit, false);
                }
            }
            for line in d.message.lines() {
                let Some(rest) = line.split("did you mean `").nth(1) else { continue };
                let Some(s) = rest.split('`').next() else { continue };
                let edit = TextEdit { range: d.range, new_text: s.to_string() };
                action(format!("Replace with `{s}`"), d, params.text_document.uri.clone(), edit, true);
            }
        }
        out
    }

    /// An edit inserting `stmt` as the last statement of tenant `name`.
    pub(crate) fn append_to_tenant(&self, name: &str, stmt: &str, uri_of: &dyn Fn(&str) -> Option<String>) -> Option<(Uri, TextEdit)> {
        let id = SymbolId { kind: SymbolKind::Tenant, name: name.to_string(), tenant: None };
        let def = self.definition_of(&id)?;
        let text = self.db.file(&def.file)?.text(self.db);
        let body = &text[def.full_span.range()];
        if !body.ends_with('}') {
            return None;
        }
        let close = def.full_span.end as usize - 1;
        let line_start = text[..close].rfind('\n').map_or(0, |i| i + 1);
        let (at, new_text) = if text[line_start..close].trim().is_empty() { (line_start, format!("  {stmt}\n")) } else { (close, format!("\n  {stmt}\n")) };
        let pos = LineIndex::new(text).position(at);
        let uri: Uri = uri_of(&def.file)?.parse().ok()?;
        Some((uri, TextEdit { range: Range { start: pos, end: pos }, new_text }))
    }
}
