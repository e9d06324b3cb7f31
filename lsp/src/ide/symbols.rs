//! Document symbols (the outline) and workspace symbols.

use super::*;

impl<'a> Analysis<'a> {
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
