//! Opening a project from a path given on the command line: the only place that
//! reads sources from disk (queries never do). Files are read with
//! [`read_source`], which refuses anything that is not a regular file and caps
//! the size, so a FIFO or `/dev/zero` cannot hang or exhaust khc.

use crate::{parse, FileContents, KhcDatabase, SourceFile};
use khc_syntax::FileKey;
use std::io::Read;
use std::path::Path;

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
    let mut entries = Vec::new();
    let mut unreadable = Vec::new();
    for f in files {
        if matches!(f.contents(db), FileContents::Missing(_)) {
            unreadable.push(f);
        } else if khc_semantics::is_entry(&parse(db, f).tree()) {
            entries.push(f);
        }
    }
    Ok((entries, unreadable))
}
