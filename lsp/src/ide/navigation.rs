//! Go to definition, find references and rename (across files).

use super::*;

impl<'a> Analysis<'a> {
    /// Go to definition.
    pub fn definition(&self, offset: u32, uri_of: &dyn Fn(&str) -> Option<String>) -> Option<GotoDefinitionResponse> {
        if let Some(target) = self.import_target_at(offset) {
            let uri: Uri = uri_of(&target)?.parse().ok()?;
            return Some(GotoDefinitionResponse::Scalar(Location { uri, range: Range::default() }));
        }
        let (id, _) = self.symbol_at(offset)?;
        let def = self.definition_of(&id)?;
        location(uri_of, self.db, &def.file, def.span).map(GotoDefinitionResponse::Scalar)
    }

    fn import_target_at(&self, offset: u32) -> Option<String> {
        let tok = ast::token_at(&self.root, offset)?;
        if tok.kind() != SyntaxKind::STRING {
            return None;
        }
        let stmt = tok.parent_ancestors().find_map(ast::Statement::cast)?;
        if !stmt.is("import") {
            return None;
        }
        let raw = tok.text().trim_matches('"');
        khc_semantics::resolve_import(&self.key, raw).ok().map(|k| k.to_string()).filter(|k| !k.starts_with(khc_semantics::STD_PREFIX))
    }

    /// Find references (with the declaration when asked).
    pub fn references(&self, offset: u32, include_declaration: bool, uri_of: &dyn Fn(&str) -> Option<String>) -> Option<Vec<Location>> {
        let (id, _) = self.symbol_at(offset)?;
        let def = self.definition_of(&id)?;
        let mut out = Vec::new();
        if include_declaration {
            out.extend(location(uri_of, self.db, &def.file, def.span));
        }
        for r in self.index().references_of(def) {
            out.extend(location(uri_of, self.db, &r.file, r.span));
        }
        Some(out)
    }

    /// The range of the name that a rename would change.
    pub fn prepare_rename(&self, offset: u32) -> Option<PrepareRenameResponse> {
        let (id, span) = self.symbol_at(offset)?;
        self.definition_of(&id)?;
        Some(PrepareRenameResponse::Range(self.ix.range(span)))
    }

    /// Rename a definition and every reference, across files. The new name must be
    /// a DNS-1123 label and must not collide with a definition of the same kind.
    pub fn rename(&self, offset: u32, new: &str, uri_of: &dyn Fn(&str) -> Option<String>) -> Result<WorkspaceEdit, String> {
        if !is_dns_label(new) {
            return Err(format!("`{new}` is not a valid name: use 1–63 lowercase letters, digits and `-`, starting and ending with a letter or digit"));
        }
        let (id, _) = self.symbol_at(offset).ok_or("no name to rename here")?;
        let def = self.definition_of(&id).ok_or_else(|| format!("{} `{}` is not defined in this program", id.kind.describe(), id.name))?;
        let ix = self.index();
        if ix.name_taken(&def.id, new) {
            return Err(format!("a {} named `{new}` already exists", def.id.kind.describe()));
        }
        let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
        let mut spans: Vec<(FileKey, Span)> = vec![(def.file.clone(), def.span)];
        spans.extend(ix.references_of(def).map(|r| (r.file.clone(), r.span)));
        spans.sort_by_key(|(f, s)| (f.clone(), s.start));
        spans.dedup();
        for (file, span) in spans {
            let loc = location(uri_of, self.db, &file, span).ok_or_else(|| format!("cannot edit {file}"))?;
            changes.entry(loc.uri).or_default().push(TextEdit { range: loc.range, new_text: new.to_string() });
        }
        Ok(WorkspaceEdit { changes: Some(changes), ..Default::default() })
    }
}
