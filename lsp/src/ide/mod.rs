//! The IDE features as pure functions over the database (no JSON-RPC), one
//! module per feature in the manner of rust-analyzer's `ide` crate: [`hover`],
//! [`completion`], [`navigation`] (definition, references, rename), [`symbols`]
//! (document and workspace), [`semantic_tokens`], [`folding`], [`formatting`] and
//! [`code_actions`]. This module holds [`Analysis`] (one file seen with the
//! programs that include it) and the helpers the features share. Keywords, docs
//! and value sets all come from [`khc_semantics::schema`].

mod code_actions;
mod completion;
mod folding;
mod formatting;
mod hover;
mod navigation;
mod semantic_tokens;
mod symbols;

pub use hover::{resource_doc, resource_spelling};
pub use symbols::workspace_symbols;

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
        code_lens_provider: Some(CodeLensOptions { resolve_provider: Some(false) }),
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
        let lone = indexes.is_empty().then(|| ProgramIndex::new(vec![khc_db::syntax::file_index(db, file).clone()]));
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
}

fn item(label: &str, kind: CompletionItemKind, detail: Option<&str>) -> CompletionItem {
    CompletionItem { label: label.to_string(), kind: Some(kind), detail: detail.map(str::to_string), ..Default::default() }
}

/// For tests: JSON of a value.
pub fn to_json(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(json!(null))
}
