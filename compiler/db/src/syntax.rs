//! Per-file queries: the lossless parse, line starts, top-level declarations,
//! imports and the file's name index. Each depends on one file only.

use crate::{Db, SourceFile};
use khc_semantics::index::FileIndex;
use khc_semantics::program::Item;
use khc_semantics::ImportRef;
use khc_syntax::{Diagnostic, FileKey, Parse};

/// Parses a file into its lossless tree and syntax errors. Kept for as long as
/// the database lives, unless a batch build bounds it ([`crate::KhcDatabase::bound_memos`]):
/// the tree is then dropped once the declarations derived from it are known.
#[salsa::tracked(returns(ref), lru = 0)]
pub fn parse(db: &dyn Db, file: SourceFile) -> Parse {
    khc_syntax::parse(file.key(db), file.text(db))
}

/// Keeps at most `n` syntax trees past [`crate::KhcDatabase::release_memos`] (0: all).
pub(crate) fn keep_trees(db: &mut dyn Db, n: usize) {
    parse::set_lru_capacity(db, n);
}

/// The byte offsets at which the file's lines start.
#[salsa::tracked(returns(ref))]
pub fn line_starts(db: &dyn Db, file: SourceFile) -> Vec<u32> {
    khc_semantics::line_starts(file.text(db))
}

/// The file's top-level declarations (no positions: equal across edits inside them).
#[salsa::tracked(returns(ref))]
pub fn file_items(db: &dyn Db, file: SourceFile) -> Vec<Item> {
    khc_semantics::program::file_items(&parse(db, file).tree())
}

/// The spans of the file's top-level declarations, by [`Item::index`].
#[salsa::tracked(returns(ref))]
pub fn item_spans(db: &dyn Db, file: SourceFile) -> Vec<khc_syntax::Span> {
    khc_semantics::program::statement_spans(&parse(db, file).tree())
}

/// The file's imports with their spans, and diagnostics for malformed ones.
#[salsa::tracked(returns(ref))]
pub fn file_imports(db: &dyn Db, file: SourceFile) -> (Vec<ImportRef>, Vec<Diagnostic>) {
    khc_semantics::imports(file.key(db), &parse(db, file).tree())
}

/// The keys of the files a file imports (no positions).
#[salsa::tracked(returns(ref))]
pub fn import_targets(db: &dyn Db, file: SourceFile) -> Vec<FileKey> {
    file_imports(db, file).0.iter().map(|r| r.target.clone()).collect()
}

/// The key files the file's `images` blocks name (relative to it): read
/// like imports, but never parsed as sources.
#[salsa::tracked(returns(ref))]
pub fn key_targets(db: &dyn Db, file: SourceFile) -> Vec<FileKey> {
    khc_semantics::images::key_files(file.key(db), &parse(db, file).tree())
}

/// Diagnostics about the file's top level (unknown statements).
#[salsa::tracked(returns(ref))]
pub fn file_diagnostics(db: &dyn Db, file: SourceFile) -> Vec<Diagnostic> {
    khc_semantics::program::file_diagnostics(file.key(db), line_starts(db, file), &parse(db, file).tree())
}

/// The definitions and references of one file.
#[salsa::tracked(returns(ref))]
pub fn file_index(db: &dyn Db, file: SourceFile) -> FileIndex {
    khc_semantics::index::index_file(file.key(db), &parse(db, file).tree())
}
