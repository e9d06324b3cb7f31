//! Program-level queries: the files of the program rooted at an entry (following
//! imports through the [`crate::Workspace`]), and its scope — which declaration
//! each tenant, profile and cluster name means.
//!
//! A query over the whole program reads its files through [`FileChunk`]s of at
//! most [`CHUNK`] files, never file by file (issue 24). Salsa verifies a memo by
//! walking its dependencies; a query that read every file directly would walk
//! one dependency per file after every edit of an open (low-durability) buffer,
//! linear in the fleet. A chunk that holds no edited file only reads files of
//! higher durability, so salsa verifies it in O(1) without walking it; the
//! chunk with the edited file walks its [`CHUNK`] files, and its value (the
//! files' imports, or their declarations) stays equal after an edit inside a
//! declaration, so salsa backdates it and nothing whole-program re-runs. An
//! edit costs about `files / CHUNK + CHUNK` verifications, not `files`.

use crate::syntax::{file_index, file_items, import_targets, key_targets};
use crate::{Db, FileChunk, ItemId, SourceFile};
use khc_semantics::index::ProgramIndex;
use khc_semantics::program::ItemKind;
use khc_syntax::FileKey;
use std::collections::{BTreeMap, HashSet};

/// How many files (or tenants) a chunk of a whole-program query holds.
pub const CHUNK: usize = 64;

/// `files` cut into [`FileChunk`]s of at most [`CHUNK`] files.
pub fn file_chunks<'db>(db: &'db dyn Db, files: &[SourceFile]) -> Vec<FileChunk<'db>> {
    files.chunks(CHUNK).map(|c| FileChunk::new(db, c.to_vec())).collect()
}

/// The import targets of a chunk's files, in order (duplicates kept).
#[salsa::tracked(returns(ref))]
pub fn chunk_imports<'db>(db: &'db dyn Db, chunk: FileChunk<'db>) -> Vec<FileKey> {
    chunk.files(db).iter().flat_map(|&f| import_targets(db, f).iter().cloned()).collect()
}

/// The key files a chunk's files' `images` blocks name, in order: equal after
/// an edit that keeps every file's key paths.
#[salsa::tracked(returns(ref))]
pub fn chunk_keys<'db>(db: &'db dyn Db, chunk: FileChunk<'db>) -> Vec<FileKey> {
    chunk.files(db).iter().flat_map(|&f| key_targets(db, f).iter().cloned()).collect()
}

/// The files of a program.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Program {
    /// The entry first, then its imports in depth-first order (missing files
    /// included, so their later creation is seen).
    pub files: Vec<SourceFile>,
    /// Imported keys (and key files of `images` blocks) the workspace does not
    /// know at all: the CLI or language server must read them (or mark them
    /// missing) and ask again.
    pub missing: Vec<FileKey>,
}

/// Why each of a chunk's files cannot be read (`None`: it has text), in
/// order: equal after an edit of a file's text, so a file that imports many
/// (the entry) does not depend on every imported file's contents.
#[salsa::tracked(returns(ref))]
pub fn chunk_missing<'db>(db: &'db dyn Db, chunk: FileChunk<'db>) -> Vec<Option<String>> {
    chunk
        .files(db)
        .iter()
        .map(|f| match f.contents(db) {
            crate::FileContents::Missing(why) => Some(why.clone()),
            crate::FileContents::Text(_) => None,
        })
        .collect()
}

/// Every file of the program rooted at `entry`.
#[salsa::tracked(returns(ref))]
pub fn program(db: &dyn Db, entry: SourceFile) -> Program {
    let known = db.workspace().files(db).clone();
    let mut files = vec![entry];
    let mut seen: HashSet<SourceFile> = HashSet::from([entry]);
    let mut missing = Vec::new();
    let mut i = 0;
    // Breadth first, a chunk of the queue at a time: the same order as one file
    // at a time (each chunk's targets are appended in its files' order), with
    // one dependency per chunk ([`chunk_imports`]).
    while i < files.len() {
        let end = files.len().min(i + CHUNK);
        let chunk = FileChunk::new(db, files[i..end].to_vec());
        i = end;
        // A missing file has no text, hence no imports: the contents are not read
        // here, so an edit that keeps every file's imports does not re-run this.
        for target in chunk_imports(db, chunk) {
            match known.get(target) {
                Some(t) => {
                    if seen.insert(*t) {
                        files.push(*t);
                    }
                }
                None => {
                    if !missing.contains(target) {
                        missing.push(target.clone());
                    }
                }
            }
        }
        // Key files of `images` blocks: read, never followed as sources.
        for target in chunk_keys(db, chunk) {
            if !known.contains_key(target) && !missing.contains(target) {
                missing.push(target.clone());
            }
        }
    }
    Program { files, missing }
}

/// A top-level declaration: the file and the statement's index in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ItemRef {
    /// The file.
    pub file: SourceFile,
    /// Its index among the file's top-level statements.
    pub index: u32,
}

/// The declarations of a program, by kind and name, in program order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    /// Every `cluster` (more than one is an error).
    pub clusters: Vec<ItemRef>,
    /// Tenants by name (more than one declaration is an error; the first counts).
    pub tenants: BTreeMap<String, Vec<ItemRef>>,
    /// Tenants without a valid name (checked for their diagnostics only).
    pub unnamed_tenants: Vec<ItemRef>,
    /// Every `profile`, in program order.
    pub profiles: Vec<ItemRef>,
}

impl Scope {
    /// The tenants that count: the first declaration of each name, and unnamed
    /// ones, as item ids of the program rooted at `entry`.
    pub fn live_tenants<'db>(&self, db: &'db dyn Db, entry: SourceFile) -> Vec<ItemId<'db>> {
        self.live_tenant_refs().map(|r| ItemId::new(db, entry, r.file, r.index)).collect()
    }

    /// The declarations of the tenants that count, as in [`Self::live_tenants`].
    pub fn live_tenant_refs(&self) -> impl Iterator<Item = ItemRef> + '_ {
        self.tenants.values().filter_map(|v| v.first()).chain(&self.unnamed_tenants).copied()
    }

    /// The declaration of tenant `name`.
    pub fn tenant<'db>(&self, db: &'db dyn Db, entry: SourceFile, name: &str) -> Option<ItemId<'db>> {
        self.tenants.get(name).and_then(|v| v.first()).map(|r| ItemId::new(db, entry, r.file, r.index))
    }
}

/// The declarations of a chunk's files, as [`scope`] gathers them: equal after
/// an edit that keeps every declaration's kind and name.
#[salsa::tracked(returns(ref))]
pub fn chunk_scope<'db>(db: &'db dyn Db, chunk: FileChunk<'db>) -> Scope {
    let mut scope = Scope::default();
    for &file in chunk.files(db) {
        for item in file_items(db, file) {
            let r = ItemRef { file, index: item.index };
            match item.kind {
                ItemKind::Cluster => scope.clusters.push(r),
                ItemKind::Tenant if item.name.is_empty() => scope.unnamed_tenants.push(r),
                ItemKind::Tenant => scope.tenants.entry(item.name.clone()).or_default().push(r),
                ItemKind::Profile => scope.profiles.push(r),
                ItemKind::Import => {}
            }
        }
    }
    scope
}

/// The scope of the program rooted at `entry`. Depends only on each file's
/// declarations, so editing inside a tenant does not change it; read through
/// [`chunk_scope`], so verifying it after such an edit walks the chunks and
/// the edited file's chunk, not every file.
#[salsa::tracked(returns(ref))]
pub fn scope(db: &dyn Db, entry: SourceFile) -> Scope {
    let mut scope = Scope::default();
    for chunk in file_chunks(db, &program(db, entry).files) {
        let part = chunk_scope(db, chunk);
        scope.clusters.extend_from_slice(&part.clusters);
        scope.unnamed_tenants.extend_from_slice(&part.unnamed_tenants);
        scope.profiles.extend_from_slice(&part.profiles);
        for (name, refs) in &part.tenants {
            scope.tenants.entry(name.clone()).or_default().extend_from_slice(refs);
        }
    }
    scope
}

/// The name index of the program rooted at `entry`: every definition and
/// reference of every file.
#[salsa::tracked(returns(ref))]
pub fn program_index(db: &dyn Db, entry: SourceFile) -> ProgramIndex {
    ProgramIndex::new(program(db, entry).files.iter().map(|f| file_index(db, *f).clone()).collect())
}
