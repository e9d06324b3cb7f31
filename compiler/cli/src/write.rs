//! Writes the generated tree safely: only files whose contents changed are
//! rewritten, files khc wrote before but no longer generates are removed, and files
//! khc did not write are never overwritten without `--force`.

use khc_emit::OutputFile;
use std::collections::BTreeSet;
use std::path::Path;

/// The manifest of generated files, kept in the output directory.
pub const MANIFEST: &str = ".khc-manifest";

/// What a write did.
pub struct Stats {
    /// Files created or rewritten.
    pub changed: usize,
    /// Stale files removed.
    pub removed: usize,
}

/// Writes `files` under `out`. `Err` is a message for the user.
pub fn write_tree(out: &Path, files: &[OutputFile], force: bool) -> Result<Stats, String> {
    let manifest_path = out.join(MANIFEST);
    let previous: BTreeSet<String> = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(str::to_string).collect(),
        Err(_) => BTreeSet::new(),
    };
    let current: BTreeSet<String> = files.iter().map(|f| f.path.clone()).collect();
    if !force {
        let foreign: Vec<&str> = files
            .iter()
            .filter(|f| !previous.contains(&f.path))
            .filter(|f| std::fs::read_to_string(out.join(&f.path)).is_ok_and(|existing| existing != f.contents))
            .map(|f| f.path.as_str())
            .collect();
        if let Some(first) = foreign.first() {
            return Err(format!(
                "{} already exists and was not written by khc ({} such file{}); pass --force to overwrite, or choose another --out",
                out.join(first).display(),
                foreign.len(),
                if foreign.len() == 1 { "" } else { "s" }
            ));
        }
    }
    let mut removed = 0;
    for stale in previous.difference(&current) {
        // Manifest entries are paths khc wrote; refuse anything that escapes `out`.
        if stale.split('/').any(|seg| seg == ".." || seg.is_empty()) {
            continue;
        }
        let path = out.join(stale);
        if std::fs::remove_file(&path).is_ok() {
            removed += 1;
            let mut dir = path.parent();
            while let Some(d) = dir {
                if d == out || std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
    }
    let mut changed = 0;
    for f in files {
        let path = out.join(&f.path);
        if std::fs::read_to_string(&path).is_ok_and(|existing| existing == f.contents) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, &f.contents).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        #[cfg(unix)]
        if f.path.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
        }
        changed += 1;
    }
    let mut manifest = String::from("# Files written by khc build. khc removes these when it no longer generates them.\n");
    for p in &current {
        manifest.push_str(p);
        manifest.push('\n');
    }
    std::fs::write(&manifest_path, manifest).map_err(|e| format!("cannot write {}: {e}", manifest_path.display()))?;
    Ok(Stats { changed, removed })
}
