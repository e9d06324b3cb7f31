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
/// refuses directories, FIFOs, devices and sockets without opening them, files
/// larger than [`MAX_SOURCE_BYTES`], and text that is not UTF-8.
pub fn read_source(path: &Path) -> FileContents {
    let missing = |why: String| FileContents::Missing(format!("{}: {why}", path.display()));
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return missing(e.to_string()),
    };
    if !meta.is_file() {
        return missing("not a regular file".into());
    }
    if meta.len() > MAX_SOURCE_BYTES {
        return missing(format!("{} bytes is larger than the {} MiB limit for sources", meta.len(), MAX_SOURCE_BYTES / (1024 * 1024)));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    let read = std::fs::File::open(path).and_then(|f| f.take(MAX_SOURCE_BYTES + 1).read_to_end(&mut bytes));
    if let Err(e) = read {
        return missing(e.to_string());
    }
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return missing(format!("larger than the {} MiB limit for sources", MAX_SOURCE_BYTES / (1024 * 1024)));
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
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut project = if meta.is_dir() {
            let mut db = KhcDatabase::new(path);
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
            let mut db = KhcDatabase::new(root);
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

/// The entry files directly inside the database root (symlinks to files
/// included), and the `*.khc` files there that could not be read.
pub fn discover_entries(db: &mut KhcDatabase) -> Result<(Vec<SourceFile>, Vec<SourceFile>), String> {
    let dir = db.root().to_path_buf();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".khc") && !dir.join(n).is_dir())
        .collect();
    names.sort();
    let loaded: Vec<(FileKey, FileContents)> = names.iter().map(|n| (FileKey::from(n.as_str()), read_source(&dir.join(n)))).collect();
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
