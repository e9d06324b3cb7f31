//! The IDE features as pure functions over the database (no JSON-RPC): hover,
//! completion, definition, references, rename, document and workspace symbols,
//! semantic tokens, folding ranges, formatting and code actions. Keywords, docs
//! and value sets all come from [`khc_semantics::schema`].

use crate::text::LineIndex;
use khc_db::{parse, program_index, KhcDatabase, SourceFile};
use khc_semantics::index::{Definition, ProgramIndex, SymbolId, SymbolKind};
use khc_semantics::schema::{self, BlockKind, ValueSet};
use khc_syntax::{ast, FileKey, Span, SyntaxKind, SyntaxNode, SyntaxToken};
use lsp_types::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// The semantic token types, in legend order.
pub const TOKEN_TYPES: &[SemanticTokenType] = &[
    SemanticTokenType::KEYWORD,
    SemanticTokenType::COMMENT,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::ENUM_MEMBER,
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::TYPE,
    SemanticTokenType::CLASS,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::OPERATOR,
];

/// The server capabilities (as JSON, for `initialize`).
pub fn capabilities() -> Value {
    let caps = ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(TextDocumentSyncKind::INCREMENTAL),
            save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions { include_text: Some(false) })),
            ..Default::default()
        })),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions { trigger_characters: Some(vec!["\"".into(), "/".into()]), ..Default::default() }),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions { prepare_provider: Some(true), work_done_progress_options: Default::default() })),
        document_symbol_provider: Some(OneOf::Left(true)),
        workspace_symbol_provider: Some(OneOf::Left(true)),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(SemanticTokensOptions {
            legend: SemanticTokensLegend { token_types: TOKEN_TYPES.to_vec(), token_modifiers: vec![SemanticTokenModifier::DECLARATION] },
            full: Some(SemanticTokensFullOptions::Bool(true)),
            range: None,
            ..Default::default()
        })),
        folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..Default::default()
        })),
        workspace: Some(WorkspaceServerCapabilities {
            workspace_folders: Some(WorkspaceFoldersServerCapabilities { supported: Some(true), change_notifications: Some(OneOf::Left(true)) }),
            file_operations: None,
        }),
        ..Default::default()
    };
    serde_json::to_value(caps).unwrap_or(Value::Null)
}

/// One file seen with the programs that include it.
pub struct Analysis<'a> {
    db: &'a KhcDatabase,
    file: SourceFile,
    key: FileKey,
    text: &'a str,
    root: SyntaxNode,
    entries: Vec<SourceFile>,
    indexes: Vec<&'a ProgramIndex>,
    lone: Option<ProgramIndex>,
    ix: LineIndex<'a>,
}

fn location(uri_of: &dyn Fn(&str) -> Option<String>, db: &KhcDatabase, file: &str, span: Span) -> Option<Location> {
    let uri: Uri = uri_of(file)?.parse().ok()?;
    let text = db.file(file)?.text(db);
    Some(Location { uri, range: LineIndex::new(text).range(span) })
}

/// True for a DNS-1123 label: 1–63 of `a-z0-9-`, starting and ending alphanumeric.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && b.len() <= 63 && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-') && b[0] != b'-' && b[b.len() - 1] != b'-'
}

fn markdown(value: String) -> Hover {
    Hover { contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value }), range: None }
}

fn value_set_of(word: &str) -> Option<(&'static ValueSet, &'static str)> {
    schema::VALUE_SETS.iter().find_map(|s| s.doc(word).map(|d| (*s, d)))
}

/// The kind of block whose statements surround `offset`, walking up from it.
pub fn block_kind_at(root: &SyntaxNode, offset: u32) -> Option<BlockKind> {
    let tok = ast::token_at(root, offset)?;
    let mut blocks: Vec<SyntaxNode> = tok.parent_ancestors().filter(|n| n.kind() == SyntaxKind::BLOCK).collect();
    // A cursor right after `}` is outside that block.
    if tok.kind() == SyntaxKind::R_BRACE && u32::from(tok.text_range().end()) <= offset {
        blocks.retain(|b| b.text_range().end() > tok.text_range().end());
    }
    blocks.reverse();
    let mut kind = BlockKind::File;
    for b in blocks {
        let stmt = ast::Statement::cast(b.parent()?)?;
        let first = stmt.flat_args().first().and_then(|v| v.as_text());
        kind = schema::child_block(kind, &stmt.keyword(), first.as_deref())?;
    }
    Some(kind)
}

impl<'a> Analysis<'a> {
    /// Prepares the analysis of `file`, included by the programs of `entries`.
    pub fn new(db: &'a KhcDatabase, file: SourceFile, entries: Vec<SourceFile>) -> Self {
        let text = file.text(db);
        let root = parse(db, file).syntax();
        let indexes: Vec<&ProgramIndex> = entries.iter().map(|e| program_index(db, *e)).collect();
        let lone = indexes.is_empty().then(|| ProgramIndex { files: vec![khc_db::syntax::file_index(db, file).clone()] });
        Analysis { db, file, key: file.key(db).clone(), text, root, entries, indexes, lone, ix: LineIndex::new(text) }
    }

    /// The line index of the file.
    pub fn line_index(&self) -> &LineIndex<'a> {
        &self.ix
    }

    fn index(&self) -> &ProgramIndex {
        self.indexes.first().copied().or(self.lone.as_ref()).expect("an index")
    }

    fn symbol_at(&self, offset: u32) -> Option<(SymbolId, Span)> {
        let occ = self.index().at(&self.key, offset)?;
        Some((occ.symbol().clone(), occ.span()))
    }

    fn definition_of(&self, id: &SymbolId) -> Option<&Definition> {
        self.index().definition(id)
    }

    fn statement_name_at(&self, offset: u32) -> Option<(ast::Statement, SyntaxToken)> {
        let tok = ast::token_at(&self.root, offset)?;
        if tok.kind() != SyntaxKind::NAME {
            return None;
        }
        let stmt = tok.parent_ancestors().find_map(ast::Statement::cast)?;
        (stmt.name_token() == tok).then_some((stmt, tok))
    }

    /// Hover: statement docs, value docs, or what a name is, where it is defined
    /// and what it produces; for an admission rule, the CEL it compiles to.
    pub fn hover(&self, offset: u32) -> Option<Hover> {
        if let Some((id, span)) = self.symbol_at(offset) {
            let mut h = markdown(self.describe_symbol(&id));
            h.range = Some(self.ix.range(span));
            return Some(h);
        }
        if let Some((stmt, tok)) = self.statement_name_at(offset) {
            let kind = block_kind_at(&self.root, u32::from(tok.text_range().start()))?;
            let st = schema::statement(kind, tok.text())?;
            let mut md = format!("```khc\n{} {}\n```\n{}", st.name, st.shape, st.doc);
            if matches!(kind, BlockKind::Admission | BlockKind::Profile) && schema::RULES.iter().any(|r| r.name == st.name) {
                if let Some(cel) = self.cel_of(stmt.span()) {
                    md.push_str(&format!("\n\nCompiles to the ValidatingAdmissionPolicy validation:\n```cel\n{cel}\n```"));
                }
                for e in self.exceptions_here(offset).iter().filter(|e| e.lifts.iter().any(|r| r.keyword() == st.name)) {
                    md.push_str(&format!("\n\nLifted by exception `{}` ({}): {}", e.name, exception_scope(e), e.reason));
                }
            }
            if kind == BlockKind::Tenant && st.name == "exception" {
                let start = u32::from(tok.text_range().start());
                if let Some(e) = self.exceptions_here(offset).into_iter().find(|e| e.span.start == start) {
                    md.push_str(&format!(
                        "\n\n**Exception `{}`** lifts {} for {}; {}.\n\nReason: {}",
                        e.name,
                        e.lifts.iter().map(|r| format!("`{}`", r.keyword())).collect::<Vec<_>>().join(", "),
                        exception_scope(&e),
                        e.expires.as_deref().map_or("no expiry".to_string(), |d| format!("expires {d}")),
                        e.reason
                    ));
                    if let Some(t) = self.tenant_model_at(offset) {
                        for ns in e.namespaces.iter().filter(|ns| t.pod_security.stand_ins.contains_key(*ns)) {
                            md.push_str(&format!(
                                "\n\nNamespace `{ns}`: Pod Security `enforce` lowered to `privileged`; khc enforces `{}` in the tenant's policy for every other pod.",
                                t.pod_security.stand_ins[ns].as_str()
                            ));
                        }
                    }
                }
            }
            let mut h = markdown(md);
            h.range = Some(self.ix.range(tok.text_range().into()));
            return Some(h);
        }
        let tok = ast::token_at(&self.root, offset)?;
        // A rule named in an exception's `lifts`.
        if tok.kind() == SyntaxKind::NAME && tok.parent_ancestors().find_map(ast::Statement::cast).is_some_and(|s| s.is("lifts")) {
            if let Some(r) = khc_rules::RuleId::from_name(tok.text()) {
                let d = r.def();
                let mut h = markdown(format!("```khc\n{} {}\n```\n{}", d.name, d.shape, d.doc));
                h.range = Some(self.ix.range(tok.text_range().into()));
                return Some(h);
            }
        }
        if let Some(md) = self.resource_hover(&tok) {
            let mut h = markdown(md);
            h.range = Some(self.ix.range(tok.text_range().into()));
            return Some(h);
        }
        if tok.kind() == SyntaxKind::NAME {
            let (set, doc) = value_set_of(tok.text())?;
            let mut h = markdown(format!("`{}` — {}: {doc}", tok.text(), set.what));
            h.range = Some(self.ix.range(tok.text_range().into()));
            return Some(h);
        }
        None
    }

    /// Hover on a resource of a `can … on` statement: its API group, whether it
    /// is namespaced (a tenant role may grant it) and its subresources, spelled as
    /// the language writes them.
    fn resource_hover(&self, tok: &SyntaxToken) -> Option<String> {
        let stmt = tok.parent_ancestors().find_map(ast::Statement::cast)?;
        if !stmt.is("can") {
            return None;
        }
        let on = stmt.syntax().children_with_tokens().filter_map(|e| e.into_token()).position(|t| t.kind() == SyntaxKind::NAME && t.text() == "on")?;
        let at = stmt.syntax().children_with_tokens().filter_map(|e| e.into_token()).position(|t| &t == tok)?;
        if at <= on {
            return None;
        }
        match tok.kind() {
            SyntaxKind::NAME => resource_doc(tok.text()),
            SyntaxKind::STRING => resource_doc(tok.text().trim_matches('"')),
            _ => None,
        }
    }

    /// The statements of a profile, each with its line, for hover on a profile
    /// name (`use restricted`): what the profile brings, the rules of profiles it
    /// `use`s listed under them.
    fn profile_rules(&self, def: &Definition) -> Option<String> {
        let mut out = Vec::new();
        let mut seen = vec![def.id.clone()];
        self.profile_lines(def, 0, &mut seen, &mut out)?;
        let rules = out.iter().filter(|l| !l.trim_start().starts_with("- `use ")).count();
        Some(if out.is_empty() { "It brings no rules.".to_string() } else { format!("It brings {rules} rule(s):\n{}", out.join("\n")) })
    }

    fn profile_lines(&self, def: &Definition, depth: usize, seen: &mut Vec<SymbolId>, out: &mut Vec<String>) -> Option<()> {
        let file = self.db.file(&def.file)?;
        let text = file.text(self.db);
        let lines = LineIndex::new(text);
        let tree = parse(self.db, file).tree();
        let profile = tree.statements().find(|s| s.span() == def.full_span)?;
        let short = def.file.rsplit('/').next().unwrap_or(&def.file).to_string();
        for r in profile.children() {
            let span = r.span();
            let src = text[span.range()].lines().next().unwrap_or("").trim();
            out.push(format!("{}- `{src}` ({short}:{})", "  ".repeat(depth), lines.position(span.start as usize).line + 1));
            if r.is("use") && depth < 8 {
                for v in r.flat_args() {
                    let khc_syntax::ast::ValueKind::Name(name) = v.kind else { continue };
                    let id = SymbolId { kind: SymbolKind::Profile, name, tenant: None };
                    if seen.contains(&id) {
                        continue;
                    }
                    seen.push(id.clone());
                    if let Some(d) = self.definition_of(&id) {
                        let d = d.clone();
                        self.profile_lines(&d, depth + 1, seen, out);
                    }
                }
            }
        }
        Some(())
    }

    /// The checked tenant whose declaration in this file encloses `offset`.
    fn tenant_model_at(&self, offset: u32) -> Option<khc_semantics::model::Tenant> {
        let name = self.enclosing_tenant(offset)?;
        for e in &self.entries {
            let scope = khc_db::scope(self.db, *e);
            for t in scope.live_tenants(self.db, *e) {
                if let Some(t) = &khc_db::tenant_check(self.db, t).0 {
                    if t.name == name && t.origin.file == self.key {
                        return Some((**t).clone());
                    }
                }
            }
        }
        None
    }

    /// The exceptions of the tenant that encloses `offset`.
    fn exceptions_here(&self, offset: u32) -> Vec<khc_semantics::model::Exception> {
        self.tenant_model_at(offset).map(|t| t.exceptions).unwrap_or_default()
    }

    fn cel_of(&self, span: Span) -> Option<String> {
        for e in &self.entries {
            let scope = khc_db::scope(self.db, *e);
            let mut admissions = Vec::new();
            if let Some((c, _)) = khc_db::checks::cluster_check(self.db, *e) {
                admissions.extend(c.admission.clone());
            }
            for t in scope.live_tenants(self.db, *e) {
                if let Some(t) = &khc_db::tenant_check(self.db, t).0 {
                    admissions.extend(t.admission.clone());
                }
            }
            for a in admissions {
                for r in a.rules {
                    if r.origin.file == self.key && r.span == span {
                        let parts = [khc_emit::cel::validation(&r.kind, a.minor_version), khc_emit::cel::resource_validation(&r.kind)];
                        let text: Vec<String> = parts.into_iter().flatten().map(|(expr, message)| format!("{expr}\n// message: {message}")).collect();
                        return Some(text.join("\n"));
                    }
                }
            }
        }
        None
    }

    fn describe_symbol(&self, id: &SymbolId) -> String {
        let mut md = format!("**{} `{}`**", id.kind.describe(), id.name);
        if let Some(t) = id.tenant.as_deref().filter(|t| !t.is_empty()) {
            md.push_str(&format!(" of tenant `{t}`"));
        }
        match self.definition_of(id) {
            Some(def) => {
                let line = self.db.file(&def.file).map(|f| LineIndex::new(f.text(self.db)).position(def.span.start as usize).line + 1).unwrap_or(0);
                md.push_str(&format!("\n\nDefined in `{}` line {line}.", def.file.rsplit('/').next().unwrap_or(&def.file)));
            }
            None => md.push_str("\n\nNot defined in this program."),
        }
        let produces = match id.kind {
            SymbolKind::Tenant => self.tenant_objects(&id.name),
            SymbolKind::Workload => {
                Some("Produces a ServiceAccount in its namespace; network rules select its pods by its selector (NetworkPolicy peers).".to_string())
            }
            SymbolKind::Role => Some("Produces a Role in each of the tenant's namespaces (bound by RoleBindings from `grant`).".into()),
            SymbolKind::ClusterRole => Some("Produces a ClusterRole (bound by ClusterRoleBindings from `grant`).".into()),
            SymbolKind::Namespace => Some("Produces a Namespace with Pod Security labels, its NetworkPolicies, quota and limits.".into()),
            SymbolKind::Profile => Some("A bundle of admission rules; each `use` adds them to a ValidatingAdmissionPolicy.".into()),
            SymbolKind::Cluster => Some("Produces the cluster-wide objects: encryption config, admission policies, ClusterRoles.".into()),
        };
        if let Some(p) = produces {
            md.push_str("\n\n");
            md.push_str(&p);
        }
        if id.kind == SymbolKind::Profile {
            if let Some(rules) = self.definition_of(id).and_then(|d| self.profile_rules(d)) {
                md.push_str("\n\n");
                md.push_str(&rules);
            }
        }
        md
    }

    fn tenant_objects(&self, name: &str) -> Option<String> {
        let e = *self.entries.first()?;
        let t = khc_db::scope(self.db, e).tenant(self.db, e, name)?;
        let files = khc_db::tenant_files(self.db, t);
        if files.is_empty() {
            return Some("Produces no objects until its errors are fixed.".into());
        }
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for f in files {
            for line in f.contents.lines() {
                if let Some(k) = line.strip_prefix("kind: ") {
                    *kinds.entry(k.trim().to_string()).or_default() += 1;
                }
            }
        }
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} × {k}")).collect();
        Some(format!("Produces {} file(s): {}.", files.len(), list.join(", ")))
    }

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
        let same_scope = |k: SymbolKind| match (def.id.kind, k) {
            (SymbolKind::Role | SymbolKind::ClusterRole, SymbolKind::Role | SymbolKind::ClusterRole) => true,
            (a, b) => a == b,
        };
        if ix.definitions().any(|d| same_scope(d.id.kind) && d.id.name == new && (d.id.tenant == def.id.tenant || d.id.kind == SymbolKind::ClusterRole)) {
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

    /// The outline: cluster, tenants (with workloads, namespaces, roles), profiles.
    #[allow(deprecated)]
    pub fn document_symbols(&self) -> Vec<DocumentSymbol> {
        let fi = khc_db::syntax::file_index(self.db, self.file);
        let sym = |d: &Definition| DocumentSymbol {
            name: d.id.name.clone(),
            detail: Some(d.id.kind.describe().to_string()),
            kind: symbol_kind(d.id.kind),
            tags: None,
            deprecated: None,
            range: self.ix.range(d.full_span),
            selection_range: self.ix.range(d.span),
            children: None,
        };
        let mut out: Vec<DocumentSymbol> = Vec::new();
        let mut parents: Vec<(Span, usize)> = Vec::new();
        for d in &fi.definitions {
            match d.id.kind {
                SymbolKind::Cluster | SymbolKind::Tenant | SymbolKind::Profile => {
                    parents.push((d.full_span, out.len()));
                    out.push(sym(d));
                }
                _ => {
                    let parent = parents.iter().rev().find(|(s, _)| s.start <= d.full_span.start && d.full_span.end <= s.end && *s != d.full_span);
                    match parent {
                        Some((_, i)) => out[*i].children.get_or_insert_with(Vec::new).push(sym(d)),
                        None if d.full_span != parents.last().map_or(Span::default(), |p| p.0) => out.push(sym(d)),
                        None => {}
                    }
                }
            }
        }
        out
    }

    /// Semantic tokens of the whole file.
    pub fn semantic_tokens(&self) -> SemanticTokensResult {
        let fi = khc_db::syntax::file_index(self.db, self.file);
        let mut names: HashMap<u32, (u32, bool)> = HashMap::new();
        for d in &fi.definitions {
            names.insert(d.span.start, (symbol_token(d.id.kind), true));
        }
        for r in &fi.references {
            names.entry(r.span.start).or_insert((symbol_token(r.target.kind), false));
        }
        let mut data = Vec::new();
        let (mut pl, mut pc) = (0u32, 0u32);
        for tok in self.root.descendants_with_tokens().filter_map(|e| e.into_token()) {
            let start = u32::from(tok.text_range().start());
            let (ty, decl) = match tok.kind() {
                SyntaxKind::COMMENT => (1, false),
                SyntaxKind::STRING => names.get(&start).copied().unwrap_or((2, false)),
                SyntaxKind::NUMBER | SyntaxKind::ADDRESS | SyntaxKind::RANGE => (3, false),
                SyntaxKind::STAR => (10, false),
                SyntaxKind::NAME => {
                    let is_stmt = tok.parent().and_then(ast::Statement::cast).is_some_and(|s| s.name_token() == tok);
                    if is_stmt {
                        (0, false)
                    } else if let Some(x) = names.get(&start) {
                        *x
                    } else if value_set_of(tok.text()).is_some() {
                        (4, false)
                    } else {
                        continue;
                    }
                }
                _ => continue,
            };
            if tok.text().contains('\n') {
                continue;
            }
            let p = self.ix.position(start as usize);
            let len = tok.text().encode_utf16().count() as u32;
            let dl = p.line - pl;
            let dc = if dl == 0 { p.character - pc } else { p.character };
            data.push(SemanticToken { delta_line: dl, delta_start: dc, length: len, token_type: ty, token_modifiers_bitset: decl as u32 });
            pl = p.line;
            pc = p.character;
        }
        SemanticTokensResult::Tokens(SemanticTokens { result_id: None, data })
    }

    /// Folding ranges: blocks, multi-line lists and runs of comment lines.
    pub fn folding_ranges(&self) -> Vec<FoldingRange> {
        let mut out = Vec::new();
        for n in self.root.descendants() {
            if matches!(n.kind(), SyntaxKind::BLOCK | SyntaxKind::LIST) {
                let r = n.text_range();
                let (a, b) = (self.ix.position(r.start().into()).line, self.ix.position(r.end().into()).line);
                if b > a {
                    // Keep the closing line visible.
                    out.push(FoldingRange { start_line: a, end_line: b - 1, ..Default::default() });
                }
            }
        }
        let mut run: Option<(u32, u32)> = None;
        let flush = |run: &mut Option<(u32, u32)>, out: &mut Vec<FoldingRange>| {
            if let Some((a, b)) = run.take() {
                if b > a {
                    out.push(FoldingRange { start_line: a, end_line: b, kind: Some(FoldingRangeKind::Comment), ..Default::default() });
                }
            }
        };
        for (i, line) in self.text.lines().enumerate() {
            let i = i as u32;
            if line.trim_start().starts_with('#') {
                run = Some(match run {
                    Some((a, b)) if b + 1 == i => (a, i),
                    other => {
                        let mut r = other;
                        flush(&mut r, &mut out);
                        (i, i)
                    }
                });
            } else {
                flush(&mut run, &mut out);
            }
        }
        flush(&mut run, &mut out);
        out
    }

    /// Formatting: the whole file in `khc fmt` layout (no edit when unchanged).
    pub fn formatting(&self) -> Vec<TextEdit> {
        let f = khc_fmt::format_parsed(self.text, parse(self.db, self.file));
        if !f.changed {
            return Vec::new();
        }
        let end = self.ix.position(self.text.len());
        vec![TextEdit { range: Range { start: Position::default(), end }, new_text: f.text }]
    }

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
    fn append_to_tenant(&self, name: &str, stmt: &str, uri_of: &dyn Fn(&str) -> Option<String>) -> Option<(Uri, TextEdit)> {
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

    /// Completion: statements valid in the cursor's block at the start of a
    /// statement; argument values after it (from the schema and the index).
    pub fn completion(&self, offset: u32) -> Vec<CompletionItem> {
        let offset = (offset as usize).min(self.text.len());
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let prefix = &self.text[line_start..offset];
        // After the last `{` or `;` on the line a new statement starts.
        let stmt_part = prefix.rsplit(['{', ';']).next().unwrap_or(prefix);
        // Inside an import string: stdlib modules.
        if stmt_part.trim_start().starts_with("import") && stmt_part.matches('"').count() % 2 == 1 {
            return khc_db::STDLIB
                .iter()
                .map(|(k, _)| {
                    let label = k.trim_end_matches(".khc").to_string();
                    item(&label, CompletionItemKind::MODULE, Some("standard-library module"))
                })
                .collect();
        }
        let words: Vec<&str> = stmt_part.split_whitespace().collect();
        let typing = !stmt_part.ends_with(|c: char| c.is_whitespace()) && !words.is_empty();
        let complete: &[&str] = if typing { &words[..words.len() - 1] } else { &words };
        let kind = block_kind_at(&self.root, (line_start + (prefix.len() - stmt_part.len())) as u32).unwrap_or(BlockKind::File);
        if complete.is_empty() {
            return schema::statements(kind)
                .map(|s| {
                    let mut it = item(s.name, CompletionItemKind::KEYWORD, Some(s.shape));
                    it.documentation = Some(Documentation::String(s.doc.to_string()));
                    it
                })
                .collect();
        }
        let stmt = complete[0];
        let prev = *complete.last().expect("not empty");
        let set = |s: &ValueSet| -> Vec<CompletionItem> {
            s.values
                .iter()
                .map(|(v, d)| {
                    let mut it = item(v, CompletionItemKind::ENUM_MEMBER, Some(s.what));
                    it.documentation = Some(Documentation::String(d.to_string()));
                    it
                })
                .collect()
        };
        let tenant_here = self.enclosing_tenant(offset as u32);
        let defs = |k: SymbolKind, tenant: Option<&str>| -> Vec<CompletionItem> {
            let mut names: Vec<String> = self
                .index()
                .definitions()
                .filter(|d| d.id.kind == k && (tenant.is_none() || d.id.tenant.as_deref() == tenant))
                .map(|d| d.id.name.clone())
                .collect();
            names.sort();
            names.dedup();
            names.iter().map(|n| item(n, CompletionItemKind::REFERENCE, Some(k.describe()))).collect()
        };
        match (stmt, prev) {
            // `exception NAME { lifts RULE…; workloads W…; namespaces NS… }`.
            ("lifts", _) if kind == BlockKind::Exception => khc_rules::ALL
                .iter()
                .filter(|r| !complete.contains(&r.keyword()))
                .map(|r| {
                    let d = r.def();
                    let mut it = item(d.name, CompletionItemKind::ENUM_MEMBER, Some("admission rule"));
                    it.documentation = Some(Documentation::String(d.doc.to_string()));
                    it
                })
                .collect(),
            ("workloads", _) if kind == BlockKind::Exception => defs(SymbolKind::Workload, tenant_here.as_deref()),
            ("namespaces", _) if kind == BlockKind::Exception => defs(SymbolKind::Namespace, tenant_here.as_deref()),
            ("deletable-namespaces", _) if kind == BlockKind::Tenant => defs(SymbolKind::Namespace, tenant_here.as_deref()),
            ("namespace", _) if kind == BlockKind::PodSecurity && complete.len() == 2 => set(&schema::LEVELS),
            (_, "tenant") if stmt != "tenant" => defs(SymbolKind::Tenant, None),
            (_, "workload") => {
                let other = complete.windows(3).rev().find(|w| w[0] == "tenant" && w[2] == "workload").map(|w| w[1].to_string());
                defs(SymbolKind::Workload, other.as_deref().or(tenant_here.as_deref()))
            }
            ("use", "use") => defs(SymbolKind::Profile, None),
            ("grant", "grant") => {
                let mut v = defs(SymbolKind::Role, tenant_here.as_deref());
                v.extend(defs(SymbolKind::ClusterRole, None));
                v.extend(set(&schema::BUILTIN_ROLES));
                v
            }
            ("grant", "to") | ("managed-by", "managed-by") => set(&schema::SUBJECT_KINDS),
            ("anonymous", _) => set(&schema::ANONYMOUS_MODES),
            ("pod-security" | "enforce" | "audit" | "warn", _) => set(&schema::LEVELS),
            ("isolation", _) => set(&schema::ISOLATION_MODES),
            ("network-policies", _) => set(&schema::NETWORK_POLICY_OWNERS),
            ("mode", _) => set(&schema::MODES),
            ("provider", _) => set(&schema::PROVIDERS),
            ("can", "on") | (_, "on") => khc_semantics::builtin_resources()
                .map(|(g, r)| {
                    let mut it = item(&resource_spelling(g, r), CompletionItemKind::VALUE, Some(if g.is_empty() { "core" } else { g }));
                    // `/` is not a name character: a subresource is written as a string.
                    if r.contains('/') {
                        it.insert_text = Some(format!("\"{}\"", resource_spelling(g, r)));
                    }
                    it.documentation =
                        resource_doc(&resource_spelling(g, r)).map(|d| Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value: d }));
                    it
                })
                .collect(),
            ("can", _) => set(&schema::VERBS),
            (rule, _) if matches!(kind, BlockKind::Admission | BlockKind::Profile) && khc_rules::RuleId::from_name(rule).is_some() => {
                let def = khc_rules::RuleId::from_name(rule).expect("checked").def();
                def.args.values().iter().map(|v| item(v, CompletionItemKind::ENUM_MEMBER, Some(def.name))).collect()
            }
            (_, "protocol") => set(&schema::PROTOCOLS),
            ("allow", "allow") => ["ingress", "egress"].iter().map(|k| item(k, CompletionItemKind::KEYWORD, schema::KEYWORDS.doc(k))).collect(),
            ("allow", "from" | "to") => set(&schema::PEER_KINDS),
            ("namespace", "namespace") | (_, "namespace") if tenant_here.is_some() && stmt == "namespace" => {
                defs(SymbolKind::Namespace, tenant_here.as_deref())
            }
            ("allow", _) => after_peer(complete),
            _ => Vec::new(),
        }
    }

    fn enclosing_tenant(&self, offset: u32) -> Option<String> {
        let fi = khc_db::syntax::file_index(self.db, self.file);
        fi.definitions.iter().find(|d| d.id.kind == SymbolKind::Tenant && d.full_span.start <= offset && offset <= d.full_span.end).map(|d| d.id.name.clone())
    }
}

/// Whom an exception covers, in words.
fn exception_scope(e: &khc_semantics::model::Exception) -> String {
    if e.workloads.is_empty() {
        format!("namespaces {}", e.namespaces.join(", "))
    } else {
        format!("workloads {}", e.workloads.iter().map(|(w, ns)| format!("{ns}/{w}")).collect::<Vec<_>>().join(", "))
    }
}

/// How the language writes a built-in resource: `pods`, `deployments.apps`,
/// `deployments.apps/scale` (the group between the resource and its subresource).
pub fn resource_spelling(group: &str, resource: &str) -> String {
    match (group, resource.split_once('/')) {
        ("", _) => resource.to_string(),
        (g, Some((base, sub))) => format!("{base}.{g}/{sub}"),
        (g, None) => format!("{resource}.{g}"),
    }
}

/// Hover text of a resource as the language writes it (`deployments.apps`,
/// `pods/exec`), or `None` when it is not a built-in resource.
pub fn resource_doc(word: &str) -> Option<String> {
    let (group, resource) = khc_semantics::builtin_resources().find(|(g, r)| resource_spelling(g, r) == word)?;
    let (base, sub) = match resource.split_once('/') {
        Some((b, s)) => (b, Some(s)),
        None => (resource, None),
    };
    let group_text = if group.is_empty() { "the core API group".to_string() } else { format!("API group `{group}`") };
    let mut md = match sub {
        Some(sub) => format!("**`{word}`** — subresource `{sub}` of `{base}`, {group_text}."),
        None => format!("**`{word}`** — resource `{base}`, {group_text}."),
    };
    if khc_semantics::is_cluster_scoped(group, base) {
        md.push_str("\n\nCluster-scoped: only a cluster `role` may grant it (a tenant role's RoleBinding cannot).");
    } else {
        md.push_str("\n\nNamespaced: a tenant `role` grants it in each of the tenant's namespaces.");
    }
    if sub.is_none() {
        let subs: Vec<String> = khc_semantics::builtin_resources()
            .filter(|(g, r)| *g == group && r.split_once('/').is_some_and(|(b, _)| b == base))
            .map(|(g, r)| format!("`{}`", resource_spelling(g, r)))
            .collect();
        if !subs.is_empty() {
            md.push_str(&format!("\n\nSubresources (granted separately): {}.", subs.join(", ")));
        }
    }
    Some(md)
}

/// The keywords that may come next in an `allow` statement whose last word is a
/// complete value or a direction (`allow ingress from tenant billing workload
/// api ▮` → `to`, `ports`, `protocol`), following SPEC section 6:
/// `allow ingress from PEER [to workload NAME] [ports PORT…] [protocol PROTO]` and
/// `allow egress [from workload NAME] to PEER [ports PORT…] [protocol PROTO]`.
fn after_peer(words: &[&str]) -> Vec<CompletionItem> {
    let prev = *words.last().expect("not empty");
    let direction = words.get(1).copied().unwrap_or("");
    let has = |w: &str| words.contains(&w);
    let mut next: Vec<&str> = Vec::new();
    if words.len() == 2 {
        next = if direction == "egress" {
            vec!["from", "to"]
        } else if direction == "ingress" {
            vec!["from"]
        } else {
            vec![]
        };
    } else if words.len() >= 4 && !schema::KEYWORDS.values.iter().chain(schema::PEER_KINDS.values).any(|(k, _)| *k == prev) {
        let before = words[words.len() - 2];
        if has("protocol") {
            return Vec::new();
        }
        if !has("ports") {
            if before == "tenant" {
                next.push("workload");
            }
            let peer_written = if direction == "ingress" { has("from") } else { has("to") };
            if direction == "ingress" && !has("to") {
                next.push("to");
            }
            if direction == "egress" && !has("to") && before == "workload" {
                next.push("to");
            }
            if peer_written {
                next.push("ports");
            }
        }
        if (direction == "ingress" && has("from")) || has("to") {
            next.push("protocol");
        }
    }
    next.into_iter().map(|k| item(k, CompletionItemKind::KEYWORD, schema::KEYWORDS.doc(k))).collect()
}

fn item(label: &str, kind: CompletionItemKind, detail: Option<&str>) -> CompletionItem {
    CompletionItem { label: label.to_string(), kind: Some(kind), detail: detail.map(str::to_string), ..Default::default() }
}

fn symbol_kind(k: SymbolKind) -> lsp_types::SymbolKind {
    match k {
        SymbolKind::Cluster => lsp_types::SymbolKind::MODULE,
        SymbolKind::Tenant => lsp_types::SymbolKind::CLASS,
        SymbolKind::Profile => lsp_types::SymbolKind::INTERFACE,
        SymbolKind::Workload => lsp_types::SymbolKind::OBJECT,
        SymbolKind::Namespace => lsp_types::SymbolKind::NAMESPACE,
        SymbolKind::Role | SymbolKind::ClusterRole => lsp_types::SymbolKind::FUNCTION,
    }
}

fn symbol_token(k: SymbolKind) -> u32 {
    match k {
        SymbolKind::Namespace => 5,
        SymbolKind::Tenant | SymbolKind::Cluster => 6,
        SymbolKind::Workload | SymbolKind::Profile => 7,
        SymbolKind::Role | SymbolKind::ClusterRole => 8,
    }
}

/// Workspace symbols: every definition of every program whose name contains
/// `query` (case-insensitive).
#[allow(deprecated)]
pub fn workspace_symbols(db: &KhcDatabase, entries: &[SourceFile], query: &str, uri_of: &dyn Fn(&str) -> Option<String>) -> Vec<SymbolInformation> {
    let q = query.to_lowercase();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for e in entries {
        for d in program_index(db, *e).definitions() {
            if d.file.starts_with(khc_semantics::STD_PREFIX)
                || !d.id.name.to_lowercase().contains(&q)
                || !seen.insert((d.file.clone(), d.span.start, d.id.kind))
            {
                continue;
            }
            if let Some(location) = location(uri_of, db, &d.file, d.span) {
                out.push(SymbolInformation {
                    name: d.id.name.clone(),
                    kind: symbol_kind(d.id.kind),
                    tags: None,
                    deprecated: None,
                    location,
                    container_name: d.id.tenant.clone().filter(|t| !t.is_empty()),
                });
            }
            if out.len() >= 1000 {
                return out;
            }
        }
    }
    out
}

/// For tests: JSON of a value.
pub fn to_json(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(json!(null))
}
