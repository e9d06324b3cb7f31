//! Opening a project from a path given on the command line.

use crate::{parse, Db, KhcDatabase, SourceFile};
use khc_syntax::FileKey;
use std::path::Path;

/// A database plus the entry files to compile.
pub struct Project {
    /// The database, rooted at the project directory.
    pub db: KhcDatabase,
    /// Entry files (files that declare a `cluster`), sorted by key.
    pub entries: Vec<SourceFile>,
}

impl Project {
    /// Opens `path`: a `.khc` file (its directory is the root, it is the entry) or a
    /// directory (every `*.khc` file directly inside that declares a `cluster` is an
    /// entry). `Err` is a usage or IO problem, worded for the user.
    pub fn open(path: &Path) -> Result<Project, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        if meta.is_dir() {
            let db = KhcDatabase::new(path);
            let entries = discover_entries(&db)?;
            if entries.is_empty() {
                return Err(format!(
                    "no entry file in {}: no `*.khc` file there declares a `cluster`\nhelp: pass the entry file, or add `cluster NAME {{ … }}` to one file",
                    path.display()
                ));
            }
            return Ok(Project { db, entries });
        }
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| format!("{} is not a file name", path.display()))?;
        if !name.ends_with(".khc") {
            return Err(format!("{} is not a .khc file", path.display()));
        }
        let root = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let db = KhcDatabase::new(root);
        let entry = db.load(&FileKey::from(name))?;
        Ok(Project { db, entries: vec![entry] })
    }
}

/// The entry files directly inside the database root.
pub fn discover_entries(db: &KhcDatabase) -> Result<Vec<SourceFile>, String> {
    let dir = db.root();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".khc"))
        .collect();
    names.sort();
    let mut entries = Vec::new();
    for n in names {
        let f = db.load(&FileKey::from(n.as_str()))?;
        if khc_semantics::is_entry(&parse(db, f).tree) {
            entries.push(f);
        }
    }
    Ok(entries)
}
