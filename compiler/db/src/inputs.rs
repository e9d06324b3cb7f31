//! The salsa inputs and interned keys. (The constructors and accessors salsa
//! generates for them are not documented individually; their fields are.)
//!
//! File contents *and file existence* are inputs, set by the CLI and the language
//! server: no query reads the disk. A file that an import names but that does not
//! exist (or cannot be read) is an input too, with [`FileContents::Missing`], so
//! creating it later is an ordinary input change.
#![allow(missing_docs)]

use khc_syntax::FileKey;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a file holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FileContents {
    /// The file's text.
    Text(String),
    /// The file does not exist or cannot be read: why.
    Missing(String),
}

/// A source file: the salsa input.
#[salsa::input(debug)]
pub struct SourceFile {
    /// Path relative to the project root, or `std/NAME.khc`.
    #[returns(ref)]
    pub key: FileKey,
    /// Its contents, or why it has none.
    #[returns(ref)]
    pub contents: FileContents,
}

impl SourceFile {
    /// The text ("" for a missing file).
    pub fn text(self, db: &dyn salsa::Database) -> &str {
        match self.contents(db) {
            FileContents::Text(t) => t,
            FileContents::Missing(_) => "",
        }
    }
}

/// Every file the database knows, by key: the set changes only when a file is
/// first seen, so queries that look files up by key are told about new files.
#[salsa::input(debug)]
pub struct Workspace {
    #[returns(ref)]
    pub files: Arc<BTreeMap<FileKey, SourceFile>>,
}

/// One top-level declaration of the program rooted at `entry`: the statement at
/// `index` among `file`'s top-level statements. Never collected (salsa otherwise
/// reuses interned values not read for a few revisions, and the memos keyed by
/// them would be lost while the language server re-checks only edited files).
#[salsa::interned(debug, revisions = usize::MAX)]
pub struct ItemId<'db> {
    /// The entry file of the program.
    pub entry: SourceFile,
    /// The file the declaration is in.
    pub file: SourceFile,
    /// Its index among the file's top-level statements.
    pub index: u32,
}

/// One file of the program rooted at `entry`: the key of the per-file diagnostic
/// queries ([`crate::checks::unit_diagnostics`]). Never collected, like [`ItemId`].
#[salsa::interned(debug, revisions = usize::MAX)]
pub struct ProgramFile<'db> {
    /// The entry file of the program.
    pub entry: SourceFile,
    /// The file.
    pub file: SourceFile,
}

/// A run of consecutive files of a program: the key of the per-chunk queries
/// ([`crate::programs::chunk_imports`], [`crate::programs::chunk_scope`]). It names its files itself, so a chunk
/// query does not read the program (whose durability is the lowest of all its
/// files') and is as durable as its own files. Never collected, like
/// [`ItemId`].
#[salsa::interned(debug, revisions = usize::MAX)]
pub struct FileChunk<'db> {
    /// The files, in program order.
    #[returns(ref)]
    pub files: Vec<SourceFile>,
}

/// A run of at most [`crate::programs::CHUNK`] tenants of a program (those
/// that count, in [`crate::Scope::live_tenants`] order): the key of the
/// per-chunk queries that whole-program queries read instead of every tenant's
/// facts, so verifying them after an edit walks the chunks and the edited
/// tenant's chunk, not the fleet (see [`crate::programs`]). Never collected,
/// like [`ItemId`].
#[salsa::interned(debug, revisions = usize::MAX)]
pub struct TenantChunk<'db> {
    /// The tenants.
    #[returns(ref)]
    pub tenants: Vec<ItemId<'db>>,
}
