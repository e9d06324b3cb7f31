//! Semantic tokens: keywords, names by kind, values.

use super::*;

impl<'a> Analysis<'a> {
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
}

fn symbol_token(k: SymbolKind) -> u32 {
    match k {
        SymbolKind::Namespace => 5,
        SymbolKind::Tenant | SymbolKind::Cluster => 6,
        SymbolKind::Workload | SymbolKind::Profile => 7,
        SymbolKind::Role | SymbolKind::ClusterRole => 8,
    }
}
