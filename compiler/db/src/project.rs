//! Opening a project from a path given on the command line: the only place that
//! reads sources from disk (queries never do). Files are read with
//! [`read_source`], which refuses anything that is not a regular file and caps
//! the size, so a FIFO or `/dev/zero` cannot hang or exhaust khc.

use crate::{parse, FileContents, KhcDatabase, SourceFile};
use khc_syntax::FileKey;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// The largest source file khc reads.
pub const MAX_SOURCE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a source file: its text, or why it cannot be used. Follows symlinks;
/// refuses directories, FIFOs, devices and sockets, files larger than
/// [`MAX_SOURCE_BYTES`], and text that is not UTF-8. The file is opened first
/// (non-blocking, so opening a FIFO never waits for a writer) and its type and size
/// are taken from the open descriptor (`fstat`): a path swapped for a FIFO between a
/// check and the open cannot hang khc (the CLI, `--watch` and the language server
/// all read through here).
pub fn read_source(path: &Path) -> FileContents {
    read_source_capped(path, MAX_SOURCE_BYTES)
}

/// [`read_source`] with a smaller size limit `cap` (at most [`MAX_SOURCE_BYTES`]):
/// the language server reads files no editor has open with a lower one, so one
/// huge `*.khc` somewhere in the workspace cannot stall `initialize`.
pub fn read_source_capped(path: &Path, cap: u64) -> FileContents {
    let cap = cap.min(MAX_SOURCE_BYTES);
    let limit = || {
        if cap >= 1024 * 1024 {
            format!("{} MiB", cap / (1024 * 1024))
        } else {
            format!("{cap} bytes")
        }
    };
    let missing = |why: String| FileContents::Missing(format!("{}: {why}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY);
    }
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) => return missing(e.to_string()),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return missing(e.to_string()),
    };
    if !meta.is_file() {
        return missing("not a regular file".into());
    }
    if meta.len() > cap {
        return missing(format!("{} bytes is larger than the {} limit for sources", meta.len(), limit()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // A regular file ignores O_NONBLOCK; the cap holds if it grows meanwhile.
    if let Err(e) = file.take(cap + 1).read_to_end(&mut bytes) {
        return missing(e.to_string());
    }
    if bytes.len() as u64 > cap {
        return missing(format!("larger than the {} limit for sources", limit()));
    }
    match String::from_utf8(bytes) {
        Ok(text) => FileContents::Text(text),
        Err(e) => missing(format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to())),
    }
}

/// Another version of a project's files, read from somewhere other than the
/// working tree: `khc diff --against REV` reads a git revision
/// ([`crate::git::GitTree`]). Keys are relative to the same root as the working
/// tree's ([`KhcDatabase::root`]); see [`KhcDatabase::switch_version`] and
/// [`Project::reopen_version`].
pub trait VersionFiles: Send + Sync {
    /// The `*.khc` files directly inside the root in this version, sorted by
    /// key: each with `None`, or why it is not read as a source (a symbolic
    /// link, not a regular file: the walker's policy, [`khc_syntax::walk`]).
    /// `Err` when the root is not a directory of this version, worded for the
    /// user.
    fn root_sources(&self) -> Result<Vec<(FileKey, Option<String>)>, String>;
    /// Whether `key` holds exactly `current` in this version, decided without
    /// reading the file's contents where possible (a git blob id against the
    /// hash of `current`): such a file is not read again.
    fn unchanged(&self, key: &FileKey, current: &FileContents) -> bool;
    /// The contents of `key` in this version, or why it has none
    /// ([`FileContents::Missing`]; limits as [`read_source`]'s).
    fn read(&self, key: &FileKey) -> FileContents;
    /// `key` written without `..` detours, relative to the root, when it has
    /// them and stays inside the root (as [`KhcDatabase`] canonicalizes keys on
    /// disk); `None` otherwise.
    fn canonical_key(&self, key: &FileKey) -> Option<FileKey>;
    /// How a file of this version is shown to users (`REV:path/in/repo.khc`).
    fn display_name(&self, key: &str) -> String;
}

/// A database plus the entry files to compile.
pub struct Project {
    /// The database, rooted at the project directory, with every program loaded.
    pub db: KhcDatabase,
    /// Entry files (files that declare a `cluster`), sorted by key.
    pub entries: Vec<SourceFile>,
    /// `*.khc` files of the directory that could not be read (each reported by
    /// `khc check` as a diagnostic; the others are still checked).
    pub unreadable: Vec<SourceFile>,
}

impl Project {
    /// Opens `path`: a `.khc` file (its directory is the root, it is the entry) or a
    /// directory (every `*.khc` file directly inside that declares a `cluster` is an
    /// entry). Loads every program's imports. `Err` is a usage or IO problem,
    /// worded for the user.
    pub fn open(path: &Path) -> Result<Project, String> {
        Project::open_in(path, None)
    }

    /// Opens `path` as [`Project::open`] does, in this project's database
    /// ([`KhcDatabase::reroot`]): `khc diff OLD NEW` opens NEW in OLD's database,
    /// so the files both versions share keep their memos and only what the
    /// changed files reach is checked again.
    pub fn reopen(self, path: &Path) -> Result<Project, String> {
        Project::open_in(path, Some(self.db))
    }

    /// Opens the other version `files` of this project in this project's
    /// database ([`KhcDatabase::switch_version`]): `khc diff --against REV`
    /// opens the working tree, then the revision in the same database, so a
    /// file the revision holds unchanged is neither read again nor checked
    /// again. `entry` is the entry file's key when the project was given as a
    /// file; `None` for a directory (every `*.khc` file directly in the root
    /// of that version that declares a `cluster`).
    pub fn reopen_version(self, files: Arc<dyn VersionFiles>, entry: Option<&FileKey>) -> Result<Project, String> {
        Project::open_version_in(self.db, files, entry)
    }

    /// Opens the version `files` of the project rooted at `root` in a fresh
    /// database (every file read from `files`): the oracle of
    /// [`Project::reopen_version`] (`KHC_DIFF_FULL=1`).
    pub fn open_version(root: &Path, files: Arc<dyn VersionFiles>, entry: Option<&FileKey>) -> Result<Project, String> {
        Project::open_version_in(KhcDatabase::new(root), files, entry)
    }

    /// Opens `path` as [`Project::open`] does, in `db` (a fresh database,
    /// e.g. [`KhcDatabase::with_log`]; rerooted at the project).
    pub fn open_with(path: &Path, db: KhcDatabase) -> Result<Project, String> {
        Project::open_in(path, Some(db))
    }

    fn open_version_in(mut db: KhcDatabase, files: Arc<dyn VersionFiles>, entry: Option<&FileKey>) -> Result<Project, String> {
        db.switch_version(files.clone());
        let mut project = match entry {
            Some(key) => {
                // Known (the working tree's entry): already brought to this version.
                let entry = match db.file(key) {
                    Some(f) if f.key(&db) == key => f,
                    _ => {
                        let contents = files.read(key);
                        db.set_contents(key, contents)
                    }
                };
                if let FileContents::Missing(why) = entry.contents(&db) {
                    return Err(format!("cannot read {why}"));
                }
                Project { db, entries: vec![entry], unreadable: Vec::new() }
            }
            None => {
                let listed = files.root_sources()?;
                let mut fresh = Vec::new();
                let mut known = Vec::new();
                for (key, why) in listed {
                    match (why, db.file(&key)) {
                        (Some(why), _) => fresh.push((key, FileContents::Missing(why))),
                        // Already brought to this version by `switch_version`.
                        (None, Some(f)) if *f.key(&db) == key => known.push(f),
                        (None, _) => {
                            let contents = files.read(&key);
                            fresh.push((key, contents));
                        }
                    }
                }
                known.extend(db.set_contents_many(fresh));
                known.sort_by_key(|f| f.key(&db).clone());
                let (entries, unreadable) = classify(&db, known);
                if entries.is_empty() && unreadable.is_empty() {
                    return Err(format!("no entry file in {}: no `*.khc` file there declares a `cluster`", files.display_name("").trim_end_matches('/')));
                }
                Project { db, entries, unreadable }
            }
        };
        for e in project.entries.clone() {
            project.db.load_program(e);
        }
        Ok(project)
    }

    fn open_in(path: &Path, db: Option<KhcDatabase>) -> Result<Project, String> {
        let at = |db: Option<KhcDatabase>, root: &Path| match db {
            Some(mut db) => {
                db.reroot(root);
                db
            }
            None => KhcDatabase::new(root),
        };
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut project = if meta.is_dir() {
            let mut db = at(db, path);
            let (entries, unreadable) = discover_entries(&mut db)?;
            if entries.is_empty() && unreadable.is_empty() {
                return Err(format!(
                    "no entry file in {}: no `*.khc` file there declares a `cluster`\nhelp: pass the entry file, or add `cluster NAME {{ … }}` to one file",
                    path.display()
                ));
            }
            Project { db, entries, unreadable }
        } else {
            let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| format!("{} is not a file name", path.display()))?;
            if !name.ends_with(".khc") {
                return Err(format!("{} is not a .khc file", path.display()));
            }
            let root = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let mut db = at(db, root);
            let contents = read_source(path);
            if let FileContents::Missing(why) = &contents {
                return Err(format!("cannot read {why}"));
            }
            let entry = db.set_contents(&FileKey::from(name), contents);
            Project { db, entries: vec![entry], unreadable: Vec::new() }
        };
        for e in project.entries.clone() {
            project.db.load_program(e);
        }
        Ok(project)
    }
}

/// The entry files directly inside the database root, and the `*.khc` files
/// there that could not be read. Listed by the one walker's policy
/// ([`khc_syntax::walk`]): a symbolic link or a FIFO there is not read but listed
/// as unreadable with the reason, so it is reported (an import names a file
/// explicitly and may still follow a link).
pub fn discover_entries(db: &mut KhcDatabase) -> Result<(Vec<SourceFile>, Vec<SourceFile>), String> {
    let dir = db.root().to_path_buf();
    let walked = khc_syntax::walk::walk(&dir, khc_syntax::walk::Depth::One, &["khc"]).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let name = |p: &Path| p.file_name()?.to_str().map(str::to_string);
    let mut loaded: Vec<(FileKey, FileContents)> =
        walked.files.iter().filter_map(|p| name(p)).map(|n| (FileKey::from(n.as_str()), read_source(&dir.join(&n)))).collect();
    // A linked or special `*.khc` there is not read, but reported (it may be meant as an entry).
    loaded.extend(
        walked.skipped.iter().filter_map(|(p, why)| Some((FileKey::from(name(p)?.as_str()), FileContents::Missing(format!("{}: {why}", p.display()))))),
    );
    loaded.sort_by(|a, b| a.0.cmp(&b.0));
    let files = db.set_contents_many(loaded);
    Ok(classify(db, files))
}

/// Splits a directory's sources into entry files (those that declare a
/// `cluster`) and unreadable ones.
fn classify(db: &KhcDatabase, files: Vec<SourceFile>) -> (Vec<SourceFile>, Vec<SourceFile>) {
    let mut entries = Vec::new();
    let mut unreadable = Vec::new();
    for f in files {
        if matches!(f.contents(db), FileContents::Missing(_)) {
            unreadable.push(f);
        } else if khc_semantics::is_entry(&parse(db, f).tree()) {
            entries.push(f);
        }
    }
    (entries, unreadable)
}
