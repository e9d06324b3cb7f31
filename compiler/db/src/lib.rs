//! The salsa database of khc: the incremental core shared by `khc build`,
//! `khc check` and the language server.
//!
//! * Inputs ([`inputs`]): each [`SourceFile`] (key and contents, or why it is
//!   missing) and the [`Workspace`] set of known files. The CLI and the language
//!   server set them ([`KhcDatabase::set_text`], [`KhcDatabase::load_program`]);
//!   no query reads the disk.
//! * Queries, by layer: [`syntax`] (parse, line starts, top-level items, imports,
//!   name index of a file) → [`programs`] (the files of a program, its scope) →
//!   [`checks`] (profiles, cluster, each tenant on its own, cross-tenant lints,
//!   diagnostics, the model) → [`emit`] (each tenant's files, the build). An edit
//!   inside one tenant re-checks that tenant and the lints that read it; facts
//!   other tenants read carry no positions, so they stay equal and salsa backdates
//!   them. Queries over the whole program read the files and tenants through
//!   chunks ([`FileChunk`], [`TenantChunk`]), so verifying them after an edit
//!   walks the chunks, not the fleet (see [`programs`]).
//!
//! [`live`] keeps a program's diagnostics up to date for the language server at
//! the cost of the edited files ([`LiveDiagnostics`]). [`render`] prints
//! diagnostics with codespan-reporting.

#![warn(missing_docs)]

pub mod acknowledge;
pub mod checks;
pub mod emit;
pub mod git;
pub mod inputs;
pub mod live;
pub mod programs;
mod project;
mod render;
pub mod syntax;

pub use checks::{check, diagnostics, tenant_check, Checked};

pub use emit::{build, build_files, collision_diagnostics, emit_releasing, tenant_files};
pub use inputs::{FileChunk, FileContents, ItemId, ProgramFile, SourceFile, TenantChunk, Workspace};
pub use live::LiveDiagnostics;
pub use programs::{program, program_index, scope, Program, Scope};
pub use project::{discover_entries, read_source, read_source_capped, Project, VersionFiles, MAX_SOURCE_BYTES};
pub use render::{render, ColorChoice};
pub use syntax::{file_items, line_starts, parse};

use khc_syntax::{Diagnostic, FileKey};
pub use salsa::Durability;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The standard library, embedded in the binary: `(key, text)`.
pub const STDLIB: &[(&str, &str)] =
    &[("std/baseline.khc", include_str!("../../../stdlib/baseline.khc")), ("std/restricted.khc", include_str!("../../../stdlib/restricted.khc"))];

/// The database interface the queries need.
#[salsa::db]
pub trait Db: salsa::Database {
    /// The set of known files.
    fn workspace(&self) -> Workspace;
}

/// The concrete database.
#[salsa::db]
#[derive(Clone)]
pub struct KhcDatabase {
    storage: salsa::Storage<Self>,
    root: PathBuf,
    workspace: Option<Workspace>,
    files: BTreeMap<FileKey, SourceFile>,
    /// The durability each file's contents were last set with.
    durability: HashMap<SourceFile, Durability>,
    log: Option<Arc<Mutex<Vec<String>>>>,
    /// How many memos salsa verified (without re-running them) since the last
    /// [`Self::take_validated`], with [`Self::with_log`].
    validated: Arc<AtomicUsize>,
    /// Whether [`Self::bound_memos`] was called.
    bounded: bool,
    /// Where files are read when they are not the working tree's
    /// ([`Self::switch_version`]; `khc diff --against REV`).
    version: Option<Arc<dyn VersionFiles>>,
}

#[salsa::db]
impl salsa::Database for KhcDatabase {}

#[salsa::db]
impl Db for KhcDatabase {
    fn workspace(&self) -> Workspace {
        self.workspace.expect("the workspace input is created with the database")
    }
}

impl KhcDatabase {
    /// A database whose relative file keys resolve against `root`, knowing the
    /// standard library.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self::with_storage(salsa::Storage::new(None), root.into(), None, Default::default())
    }

    /// A database that records which queries execute (for incrementality tests).
    /// It also counts the memos salsa verifies: [`Self::take_validated`].
    pub fn with_log(root: impl Into<PathBuf>) -> Self {
        let log: Arc<Mutex<Vec<String>>> = Default::default();
        let validated: Arc<AtomicUsize> = Default::default();
        let (sink, count) = (log.clone(), validated.clone());
        let storage = salsa::Storage::new(Some(Box::new(move |event: salsa::Event| match event.kind {
            salsa::EventKind::WillExecute { database_key } => sink.lock().expect("log lock").push(format!("{database_key:?}")),
            salsa::EventKind::DidValidateMemoizedValue { .. } => {
                count.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        })));
        Self::with_storage(storage, root.into(), Some(log), validated)
    }

    fn with_storage(storage: salsa::Storage<Self>, root: PathBuf, log: Option<Arc<Mutex<Vec<String>>>>, validated: Arc<AtomicUsize>) -> Self {
        let mut db =
            KhcDatabase { storage, root, workspace: None, files: BTreeMap::new(), durability: HashMap::new(), log, validated, bounded: false, version: None };
        // The file set is a low-durability input, so the queries over a whole
        // program (files, scope, profiles, cluster) are low-durability from the
        // start: when a file read from disk (medium) is opened in an editor and
        // becomes low, they re-run once with equal values and are backdated, and
        // nothing that reads them (every tenant's check) re-runs. Salsa cannot
        // backdate a value whose durability dropped.
        db.workspace = Some(Workspace::builder(Arc::new(BTreeMap::new())).durability(Durability::LOW).new(&db));
        for (key, text) in STDLIB {
            let key = FileKey::from(*key);
            let f = SourceFile::builder(key.clone(), FileContents::Text(text.to_string())).durability(Durability::HIGH).new(&db);
            db.files.insert(key, f);
            db.durability.insert(f, Durability::HIGH);
        }
        db.publish_files();
        db
    }

    /// Batch mode (a one-shot `khc build`): from now on [`Self::release_memos`]
    /// drops the syntax trees and the tenants' facts, and [`emit_releasing`]
    /// each tenant's checked model once its files exist. Results stay correct — a
    /// dropped value is recomputed if it is asked for again — but a long-lived
    /// database (the language server, `--watch`) keeps them all, so edits re-check
    /// only what changed.
    pub fn bound_memos(&mut self) {
        syntax::keep_trees(self, 1);
        checks::keep_tenant_facts(self, 1);
        // Bounded (so uses are recorded) but not released until emission.
        checks::keep_checked_tenants(self, usize::MAX);
        self.bounded = true;
    }

    /// Drops the memos [`Self::bound_memos`] bounds (nothing without it).
    pub fn release_memos(&mut self) {
        use salsa::Database as _;
        self.trigger_lru_eviction();
    }

    /// Takes the names of the queries executed since the last call.
    pub fn take_log(&self) -> Vec<String> {
        self.log.as_ref().map(|l| std::mem::take(&mut *l.lock().expect("log lock"))).unwrap_or_default()
    }

    /// Takes how many memos salsa verified without re-running them since the
    /// last call (a database made by [`Self::with_log`]; 0 otherwise): the work
    /// of bringing queries up to date that the executed-query log does not show
    /// (each verified dependency of a whole-program query counts once).
    pub fn take_validated(&self) -> usize {
        self.validated.swap(0, Ordering::Relaxed)
    }

    /// The project root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn publish_files(&mut self) {
        use salsa::Setter;
        let map = Arc::new(self.files.clone());
        let ws = self.workspace();
        ws.set_files(self).to(map);
    }

    /// Sets (or creates) a file's contents. New files are announced to the
    /// workspace once per call; use [`KhcDatabase::set_contents_many`] for many.
    pub fn set_contents(&mut self, key: &FileKey, contents: FileContents) -> SourceFile {
        self.set_contents_durable(key, contents, Durability::LOW)
    }

    /// Sets (or creates) a file's contents with a salsa durability: `LOW` for
    /// buffers being edited, `MEDIUM` for files read from disk. Queries that read
    /// only files of higher durability than an edited one are verified without
    /// walking their dependencies, so an edit costs little however many files the
    /// program has. Setting another durability with equal contents is a change.
    pub fn set_contents_durable(&mut self, key: &FileKey, contents: FileContents, durability: Durability) -> SourceFile {
        let (f, new) = self.set_one(key, contents, durability);
        if new {
            self.publish_files();
        }
        f
    }

    /// Sets several files at once (one workspace update for all new ones).
    pub fn set_contents_many(&mut self, files: Vec<(FileKey, FileContents)>) -> Vec<SourceFile> {
        self.set_contents_many_durable(files, Durability::LOW)
    }

    /// Sets several files at once with one durability (see
    /// [`KhcDatabase::set_contents_durable`]).
    pub fn set_contents_many_durable(&mut self, files: Vec<(FileKey, FileContents)>, durability: Durability) -> Vec<SourceFile> {
        let mut any_new = false;
        let out = files
            .into_iter()
            .map(|(k, c)| {
                let (f, new) = self.set_one(&k, c, durability);
                any_new |= new;
                f
            })
            .collect();
        if any_new {
            self.publish_files();
        }
        out
    }

    fn set_one(&mut self, key: &FileKey, contents: FileContents, durability: Durability) -> (SourceFile, bool) {
        use salsa::Setter;
        match self.files.get(key).copied() {
            Some(f) => {
                let was = self.durability.get(&f).copied().unwrap_or(Durability::LOW);
                if f.contents(self) != &contents || was != durability {
                    f.set_contents(self).with_durability(durability).to(contents);
                    self.durability.insert(f, durability);
                }
                (f, false)
            }
            None => {
                let f = SourceFile::builder(key.clone(), contents).durability(durability).new(self);
                self.files.insert(key.clone(), f);
                self.durability.insert(f, durability);
                (f, true)
            }
        }
    }

    /// Points the database at another root (another version of the same
    /// project: `khc diff OLD NEW`) and re-reads every file it knows from there,
    /// each with the durability it was read with: a file whose text is the same
    /// is no change, so salsa re-checks only what the changed files reach. A
    /// file the new root lacks becomes [`FileContents::Missing`].
    pub fn reroot(&mut self, root: impl Into<PathBuf>) {
        self.root = root.into();
        self.version = None;
        let known: Vec<(FileKey, SourceFile)> =
            self.files.iter().filter(|(k, f)| !k.starts_with(khc_semantics::STD_PREFIX) && f.key(self) == *k).map(|(k, f)| (k.clone(), *f)).collect();
        for (key, f) in known {
            let durability = self.durability.get(&f).copied().unwrap_or(Durability::LOW);
            let contents = read_source(&self.root.join(&*key));
            self.set_one(&key, contents, durability);
        }
    }

    /// Switches the database to another version of the project's files
    /// (`khc diff --against REV`: the revision's tree, read from git): from now
    /// on files are read from `files`, and every file the database knows is
    /// brought to that version, keeping the durability it was read with. A file
    /// `files` says is unchanged ([`VersionFiles::unchanged`]) is not read at
    /// all and stays the very same input (nothing that reads only it is
    /// checked again); a file the version lacks becomes
    /// [`FileContents::Missing`]. The root stays (keys mean the same paths).
    pub fn switch_version(&mut self, files: Arc<dyn VersionFiles>) {
        self.version = Some(files.clone());
        let known: Vec<(FileKey, SourceFile)> =
            self.files.iter().filter(|(k, f)| !k.starts_with(khc_semantics::STD_PREFIX) && f.key(self) == *k).map(|(k, f)| (k.clone(), *f)).collect();
        for (key, f) in known {
            if files.unchanged(&key, f.contents(self)) {
                continue;
            }
            let durability = self.durability.get(&f).copied().unwrap_or(Durability::LOW);
            let contents = files.read(&key);
            self.set_one(&key, contents, durability);
        }
    }

    /// The other version [`Self::switch_version`] switched to, if any.
    pub fn version(&self) -> Option<&Arc<dyn VersionFiles>> {
        self.version.as_ref()
    }

    /// Sets (or creates) a file's text, e.g. from an editor buffer.
    pub fn set_text(&mut self, key: &FileKey, text: String) -> SourceFile {
        self.set_contents(key, FileContents::Text(text))
    }

    /// The file with this key, if known.
    pub fn file(&self, key: &str) -> Option<SourceFile> {
        self.files.get(key).copied()
    }

    /// Every file known so far, for rendering diagnostics.
    pub fn loaded(&self) -> Vec<SourceFile> {
        self.files.values().copied().collect()
    }

    /// Reads from disk (under the root) every file the program of `entry` imports
    /// that the database does not know yet, until none is missing. Files that
    /// cannot be read are recorded as [`FileContents::Missing`], with the reason.
    pub fn load_program(&mut self, entry: SourceFile) {
        loop {
            let missing = program(self, entry).missing.clone();
            if missing.is_empty() {
                return;
            }
            let mut loaded = Vec::new();
            let mut aliases = Vec::new();
            for k in missing {
                match self.canonical_key(&k) {
                    Some(canonical) if canonical != k => {
                        if self.file(&canonical).is_none() && !loaded.iter().any(|(c, _)| *c == canonical) {
                            let contents = self.read_key(&canonical);
                            loaded.push((canonical.clone(), contents));
                        }
                        aliases.push((k, canonical));
                    }
                    _ => {
                        let contents = self.read_key(&k);
                        loaded.push((k, contents));
                    }
                }
            }
            self.set_contents_many_durable(loaded, Durability::MEDIUM);
            if !aliases.is_empty() {
                for (alias, canonical) in aliases {
                    let f = self.files[&canonical];
                    self.files.insert(alias, f);
                }
                self.publish_files();
            }
        }
    }

    /// The key of the same file written without `..` detours (`../p/b.khc` seen
    /// from inside `p/` is `b.khc`), so a file imported along two paths is one
    /// file. `None` for standard-library keys and files outside the root.
    fn canonical_key(&self, key: &FileKey) -> Option<FileKey> {
        if key.starts_with(khc_semantics::STD_PREFIX) || !key.split('/').any(|s| s == "..") {
            return None;
        }
        if let Some(v) = &self.version {
            return v.canonical_key(key);
        }
        let root = if self.root.as_os_str().is_empty() { Path::new(".") } else { self.root.as_path() };
        let path = root.join(&**key).canonicalize().ok()?;
        let rel = path.strip_prefix(root.canonicalize().ok()?).ok()?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        Some(FileKey::from(parts?.join("/").as_str()))
    }

    /// Reads the file a key names: standard-library keys are never read from disk
    /// (an unknown module is missing, with the list of modules).
    fn read_key(&self, key: &FileKey) -> FileContents {
        if key.starts_with(khc_semantics::STD_PREFIX) {
            let names: Vec<&str> = STDLIB.iter().map(|(k, _)| k.trim_end_matches(".khc")).collect();
            return FileContents::Missing(format!("no standard-library module `{}`; there are: {}", key.trim_end_matches(".khc"), names.join(", ")));
        }
        if let Some(v) = &self.version {
            return v.read(key);
        }
        read_source(&self.root.join(&**key))
    }

    /// How a file key is shown to users: a path they can open.
    pub fn display_name(&self, key: &str) -> String {
        if let Some(name) = key.strip_prefix(khc_semantics::STD_PREFIX) {
            format!("<stdlib>/{name}")
        } else if let Some(v) = &self.version {
            v.display_name(key)
        } else if self.root.as_os_str().is_empty() || self.root == Path::new(".") || Path::new(key).is_absolute() {
            key.to_string()
        } else {
            self.root.join(key).display().to_string()
        }
    }
}

/// At most this many diagnostics are kept per file ([`cap_per_file`]).
pub const MAX_DIAGNOSTICS_PER_FILE: usize = 500;

/// Keeps the first `max` diagnostics of each file (of sorted `diags`) and adds one
/// "N more" diagnostic per file that had more, so no input can flood the output.
pub fn cap_per_file(diags: Vec<Diagnostic>, max: usize) -> Vec<Diagnostic> {
    let mut out = Vec::with_capacity(diags.len().min(max * 4));
    let mut i = 0;
    while i < diags.len() {
        let file = diags[i].primary.file.clone();
        let end = diags[i..].iter().position(|d| d.primary.file != file).map_or(diags.len(), |p| i + p);
        out.extend(diags[i..end.min(i + max)].iter().cloned());
        if end - i > max {
            let errors = diags[i + max..end].iter().filter(|d| d.is_error()).count();
            let last = diags[i + max - 1].primary.span;
            let message = format!("{} more diagnostics in this file ({errors} errors)", end - i - max);
            let code = diags[i + max].code;
            let d = if errors > 0 { Diagnostic::error(code, &file, last, message) } else { Diagnostic::warning(code, &file, last, message) };
            out.push(d.with_note(format!("khc shows the first {max} diagnostics of a file")));
        }
        i = end;
    }
    out
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
                "import \"{}\"\ncluster c {{\n  kubernetes 1.35\n  managed-by group \"khc-appliers\"\n  encryption {{ provider secretbox {{ key k env \"K\" }} }}\n}}\n",
                key.trim_end_matches(".khc")
            );
            let f = db.set_text(&FileKey::from("main.khc"), entry);
            let diags = &check(&db, f).diagnostics;
            assert!(diags.is_empty(), "{key}: {diags:?}");
        }
    }

    /// A missing import reports "cannot read"; creating the file (an input
    /// change, no disk read in any query) makes the program whole.
    #[test]
    fn creating_a_missing_import_is_seen() {
        let mut db = KhcDatabase::new("");
        let entry = db.set_text(
            &FileKey::from("main.khc"),
            "import \"t.khc\"\ncluster c {\n  managed-by group \"khc-appliers\"\n  encryption { provider secretbox { key k env \"K\" } }\n}\n".into(),
        );
        assert_eq!(program(&db, entry).missing, vec![FileKey::from("t.khc")]);
        db.set_contents(&FileKey::from("t.khc"), FileContents::Missing("no such file".into()));
        assert!(check(&db, entry).diagnostics.iter().any(|d| d.message.contains("cannot read `t.khc`")));
        db.set_text(&FileKey::from("t.khc"), "tenant t {}\n".into());
        let checked = check(&db, entry);
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
        assert_eq!(checked.model.as_ref().unwrap().tenants.len(), 1);
    }
}
