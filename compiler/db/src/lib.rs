//! The salsa database of khc: the incremental core shared by `khc build`,
//! `khc check` and the language server.
//!
//! * Input: [`SourceFile`] (a file key and its text), created on demand by
//!   [`Db::load`] from disk or from the embedded standard library, and updated in
//!   place by editors ([`KhcDatabase::set_text`]).
//! * Tracked queries: [`parse`] → [`imports`] → [`program`] (all modules of an
//!   entry) → [`check`] (semantics) → [`tenant_model`] → [`tenant_files`] and
//!   [`build`] (emission). Each is recomputed only when the inputs it read change;
//!   a tenant's files are re-emitted only when that tenant's model changes.
//!
//! [`render`] prints diagnostics with codespan-reporting.

#![warn(missing_docs)]

mod inputs;
mod project;
mod render;

pub use inputs::{SourceFile, TenantRef};
pub use project::{discover_entries, Project};
pub use render::{render, ColorChoice};

use khc_emit::{Output, OutputFile};
use khc_semantics::model::{Model, Tenant};
use khc_semantics::{ImportRef, Module};
use khc_syntax::{Diagnostic, FileKey, SourceTree};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The standard library, embedded in the binary: `(key, text)`.
pub const STDLIB: &[(&str, &str)] =
    &[("std/baseline.khc", include_str!("../../../stdlib/baseline.khc")), ("std/restricted.khc", include_str!("../../../stdlib/restricted.khc"))];

/// The database interface the queries need.
#[salsa::db]
pub trait Db: salsa::Database {
    /// The file with this key, read on first use. `Err` explains why it cannot be read.
    fn load(&self, key: &FileKey) -> Result<SourceFile, String>;
}

/// The concrete database.
#[salsa::db]
#[derive(Clone)]
pub struct KhcDatabase {
    storage: salsa::Storage<Self>,
    root: PathBuf,
    files: Arc<Mutex<BTreeMap<FileKey, SourceFile>>>,
    log: Option<Arc<Mutex<Vec<String>>>>,
}

#[salsa::db]
impl salsa::Database for KhcDatabase {}

impl KhcDatabase {
    /// A database whose relative file keys resolve against `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        KhcDatabase { storage: salsa::Storage::new(None), root: root.into(), files: Default::default(), log: None }
    }

    /// A database that records which queries execute (for incrementality tests).
    pub fn with_log(root: impl Into<PathBuf>) -> Self {
        let log: Arc<Mutex<Vec<String>>> = Default::default();
        let sink = log.clone();
        let storage = salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
            if let salsa::EventKind::WillExecute { database_key } = event.kind {
                sink.lock().expect("log lock").push(format!("{database_key:?}"));
            }
        })));
        KhcDatabase { storage, root: root.into(), files: Default::default(), log: Some(log) }
    }

    /// Takes the names of the queries executed since the last call.
    pub fn take_log(&self) -> Vec<String> {
        self.log.as_ref().map(|l| std::mem::take(&mut *l.lock().expect("log lock"))).unwrap_or_default()
    }

    /// The project root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Sets (or creates) a file's text, e.g. from an editor buffer.
    pub fn set_text(&mut self, key: &FileKey, text: String) -> SourceFile {
        use salsa::Setter;
        let existing = self.files.lock().expect("files lock").get(key).copied();
        match existing {
            Some(f) => {
                if f.text(self) != &text {
                    f.set_text(self).to(text);
                }
                f
            }
            None => {
                let f = SourceFile::new(self, key.clone(), text);
                self.files.lock().expect("files lock").insert(key.clone(), f);
                f
            }
        }
    }

    /// Every file loaded so far, for rendering diagnostics.
    pub fn loaded(&self) -> Vec<SourceFile> {
        self.files.lock().expect("files lock").values().copied().collect()
    }

    /// How a file key is shown to users: a path they can open.
    pub fn display_name(&self, key: &str) -> String {
        if let Some(name) = key.strip_prefix(khc_semantics::STD_PREFIX) {
            format!("<stdlib>/{name}")
        } else if self.root.as_os_str().is_empty() || self.root == Path::new(".") {
            key.to_string()
        } else {
            self.root.join(key).display().to_string()
        }
    }
}

#[salsa::db]
impl Db for KhcDatabase {
    fn load(&self, key: &FileKey) -> Result<SourceFile, String> {
        if let Some(f) = self.files.lock().expect("files lock").get(key) {
            return Ok(*f);
        }
        let text = if key.starts_with(khc_semantics::STD_PREFIX) {
            match STDLIB.iter().find(|(k, _)| *k == &**key) {
                Some((_, t)) => t.to_string(),
                None => {
                    let names: Vec<&str> = STDLIB.iter().map(|(k, _)| k.trim_end_matches(".khc")).collect();
                    return Err(format!("no standard-library module `{}`; there are: {}", key.trim_end_matches(".khc"), names.join(", ")));
                }
            }
        } else {
            let path = self.root.join(&**key);
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?
        };
        let mut files = self.files.lock().expect("files lock");
        let f = *files.entry(key.clone()).or_insert_with(|| SourceFile::new(self, key.clone(), text));
        Ok(f)
    }
}

/// A parsed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The syntax tree.
    pub tree: SourceTree,
    /// Syntax errors.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses a file.
#[salsa::tracked(returns(ref))]
pub fn parse(db: &dyn Db, file: SourceFile) -> Parsed {
    let (tree, diagnostics) = khc_syntax::parse(file.key(db), file.text(db));
    Parsed { tree, diagnostics }
}

/// The imports of a file, with diagnostics for malformed ones.
#[salsa::tracked(returns(ref))]
pub fn imports(db: &dyn Db, file: SourceFile) -> (Vec<ImportRef>, Vec<Diagnostic>) {
    khc_semantics::imports(file.key(db), &parse(db, file).tree)
}

/// Every module of the program rooted at `entry` (entry first, then imports in
/// depth-first order), with syntax, import and file-reading diagnostics.
#[salsa::tracked(returns(ref))]
pub fn program(db: &dyn Db, entry: SourceFile) -> (Vec<SourceFile>, Vec<Diagnostic>) {
    let mut files = vec![entry];
    let mut diags = Vec::new();
    let mut i = 0;
    while i < files.len() {
        let f = files[i];
        diags.extend(parse(db, f).diagnostics.iter().cloned());
        let (refs, import_diags) = imports(db, f);
        diags.extend(import_diags.iter().cloned());
        for r in refs {
            match db.load(&r.target) {
                Ok(t) if !files.contains(&t) => files.push(t),
                Ok(_) => {}
                Err(why) => diags.push(Diagnostic::error("import", f.key(db), r.span, format!("cannot read `{}`", r.target)).with_note(why)),
            }
        }
        i += 1;
    }
    (files, diags)
}

/// The result of checking a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The model, when there are no errors.
    pub model: Option<Model>,
    /// Every diagnostic of the program, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks the program rooted at `entry`.
#[salsa::tracked(returns(ref))]
pub fn check(db: &dyn Db, entry: SourceFile) -> Checked {
    let (files, mut diagnostics) = program(db, entry).clone();
    let modules: Vec<Module<'_>> = files.iter().map(|f| Module { file: f.key(db), text: f.text(db), tree: &parse(db, *f).tree }).collect();
    let (model, sema) = khc_semantics::analyze(&modules);
    diagnostics.extend(sema);
    sort_diagnostics(&mut diagnostics);
    let model = if diagnostics.iter().any(Diagnostic::is_error) { None } else { model };
    Checked { model, diagnostics }
}

/// The checked model of one tenant, with its cluster's name. Re-executes whenever
/// the program is re-checked, but is cheap, and salsa backdates an unchanged
/// result so that [`tenant_files`] is not recomputed.
#[salsa::tracked(returns(ref))]
pub fn tenant_model<'db>(db: &'db dyn Db, t: TenantRef<'db>) -> Option<(String, Tenant)> {
    let model = check(db, *t.entry(db)).model.as_ref()?;
    let tenant = model.tenants.iter().find(|x| x.name == *t.name(db))?;
    Some((model.cluster.name.clone(), tenant.clone()))
}

/// The emitted files of one tenant: recomputed only when that tenant changes.
#[salsa::tracked(returns(ref))]
pub fn tenant_files<'db>(db: &'db dyn Db, t: TenantRef<'db>) -> Vec<OutputFile> {
    match tenant_model(db, t) {
        Some((cluster, tenant)) => khc_emit::emit_tenant(cluster, tenant),
        None => Vec::new(),
    }
}

/// The emitted files of the program rooted at `entry`, if it has no errors.
#[salsa::tracked(returns(ref))]
pub fn build(db: &dyn Db, entry: SourceFile) -> Option<Output> {
    let model = check(db, entry).model.as_ref()?;
    let mut files = khc_emit::emit_cluster(model);
    for t in &model.tenants {
        files.extend(tenant_files(db, TenantRef::new(db, entry, t.name.clone())).iter().cloned());
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Some(Output { files })
}

/// Sorts diagnostics by file, position and severity, removing exact duplicates.
pub fn sort_diagnostics(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| (&a.primary.file, a.primary.span.start, a.severity, &a.message).cmp(&(&b.primary.file, b.primary.span.start, b.severity, &b.message)));
    diags.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module in `stdlib/` is embedded, and every embedded module checks
    /// without diagnostics when imported.
    #[test]
    fn stdlib_is_embedded_and_clean() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stdlib");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".khc"))
            .map(|n| format!("std/{n}"))
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = STDLIB.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(on_disk, embedded, "register every stdlib module in STDLIB");
        for (key, text) in STDLIB {
            assert_eq!(std::fs::read_to_string(dir.join(&key[4..])).unwrap(), *text);
            let mut db = KhcDatabase::new("");
            let entry = format!(
                "import \"{}\"\ncluster c {{\n  kubernetes 1.31\n  encryption {{ provider secretbox {{ key k env \"K\" }} }}\n}}\n",
                key.trim_end_matches(".khc")
            );
            let f = db.set_text(&FileKey::from("main.khc"), entry);
            let diags = &check(&db, f).diagnostics;
            assert!(diags.is_empty(), "{key}: {diags:?}");
        }
    }
}
