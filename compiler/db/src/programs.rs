//! Program-level queries: the files of the program rooted at an entry (following
//! imports through the [`crate::Workspace`]), and its scope — which declaration
//! each tenant, profile and cluster name means.

use crate::syntax::{file_index, file_items, import_targets, key_targets};
use crate::{Db, ItemId, SourceFile};
use khc_semantics::index::ProgramIndex;
use khc_semantics::program::ItemKind;
use khc_syntax::FileKey;
use std::collections::BTreeMap;

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

/// Every file of the program rooted at `entry`.
#[salsa::tracked(returns(ref))]
pub fn program(db: &dyn Db, entry: SourceFile) -> Program {
    let known = db.workspace().files(db).clone();
    let mut files = vec![entry];
    let mut missing = Vec::new();
    let mut i = 0;
    while i < files.len() {
        let f = files[i];
        i += 1;
        // A missing file has no text, hence no imports: the contents are not read
        // here, so an edit that keeps every file's imports does not re-run this.
        for target in import_targets(db, f) {
            match known.get(target) {
                Some(t) if !files.contains(t) => files.push(*t),
                Some(_) => {}
                None => {
                    if !missing.contains(target) {
                        missing.push(target.clone());
                    }
                }
            }
        }
        // Key files of `images` blocks: read, never followed as sources.
        for target in key_targets(db, f) {
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

/// The scope of the program rooted at `entry`. Depends only on each file's
/// declarations, so editing inside a tenant does not change it.
#[salsa::tracked(returns(ref))]
pub fn scope(db: &dyn Db, entry: SourceFile) -> Scope {
    let mut scope = Scope::default();
    for &file in &program(db, entry).files {
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

/// The name index of the program rooted at `entry`: every definition and
/// reference of every file.
#[salsa::tracked(returns(ref))]
pub fn program_index(db: &dyn Db, entry: SourceFile) -> ProgramIndex {
    ProgramIndex::new(program(db, entry).files.iter().map(|f| file_index(db, *f).clone()).collect())
}
