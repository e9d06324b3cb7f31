//! The one directory walker every command uses (`khc fmt DIR`, `khc eval DIR`,
//! the project's entry files, the language server's workspace scan), with one
//! policy:
//!
//! * **No symbolic link below the starting directory is followed**, to a file or
//!   to a directory: a checkout can carry links that point anywhere, and a linked
//!   directory can loop. A path named explicitly (the starting point itself) is the
//!   user's choice and is used as given.
//! * **Only regular files** are listed: FIFOs, devices and sockets (which could
//!   block a reader or never end) are skipped.
//! * **Hidden directories** (`.git`, `.cache`…) are not entered.
//! * Files are listed sorted; the walk is iterative (a deep tree cannot exhaust the
//!   stack).
//!
//! What was skipped is returned, so a command can say so.

use std::path::{Path, PathBuf};

/// What a walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Regular files with an accepted extension, sorted.
    pub files: Vec<PathBuf>,
    /// Entries with an accepted extension that were skipped, and why.
    pub skipped: Vec<(PathBuf, &'static str)>,
}

/// How deep [`walk`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// Only the directory's own entries.
    One,
    /// Every directory below it (hidden ones excepted).
    All,
}

/// Lists the regular files below `dir` whose extension is one of `extensions`
/// (without the dot), by the policy of this module.
pub fn walk(dir: &Path, depth: Depth, extensions: &[&str]) -> std::io::Result<Walk> {
    let accepted = |p: &Path| p.extension().and_then(|e| e.to_str()).is_some_and(|e| extensions.contains(&e));
    let mut out = Walk::default();
    let mut dirs = vec![dir.to_path_buf()];
    let mut first = true;
    while let Some(d) = dirs.pop() {
        let read = match std::fs::read_dir(&d) {
            Ok(r) => r,
            // The starting directory must be readable; a subdirectory that is not is skipped.
            Err(e) if first => return Err(e),
            Err(_) => {
                out.skipped.push((d, "cannot be read"));
                continue;
            }
        };
        first = false;
        for entry in read.flatten() {
            let p = entry.path();
            // `DirEntry::file_type` never follows a link.
            let Ok(ty) = entry.file_type() else { continue };
            if ty.is_symlink() {
                if accepted(&p) {
                    out.skipped.push((p, "a symbolic link (not followed inside a directory)"));
                }
            } else if ty.is_dir() {
                if depth == Depth::All && !entry.file_name().to_string_lossy().starts_with('.') {
                    dirs.push(p);
                }
            } else if accepted(&p) {
                if ty.is_file() {
                    out.files.push(p);
                } else {
                    out.skipped.push((p, "not a regular file"));
                }
            }
        }
    }
    out.files.sort();
    out.skipped.sort();
    Ok(out)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn links_fifos_and_hidden_directories_are_not_listed() {
        let dir = std::env::temp_dir().join(format!("khc-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        for f in ["x.khc", "a/y.khc", "a/b/z.khc", ".git/h.khc", "a/n.txt"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        std::os::unix::fs::symlink(dir.join("x.khc"), dir.join("a/link.khc")).unwrap();
        // A loop: a/b/up → dir.
        std::os::unix::fs::symlink(&dir, dir.join("a/b/up")).unwrap();
        let c = std::ffi::CString::new(dir.join("a/fifo.khc").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid C string.
        assert_eq!(unsafe { libc_mkfifo(c.as_ptr(), 0o600) }, 0);
        let w = walk(&dir, Depth::All, &["khc"]).unwrap();
        let rel: Vec<String> = w.files.iter().map(|p| p.strip_prefix(&dir).unwrap().display().to_string()).collect();
        assert_eq!(rel, ["a/b/z.khc", "a/y.khc", "x.khc"]);
        let skipped: Vec<String> = w.skipped.iter().map(|(p, _)| p.strip_prefix(&dir).unwrap().display().to_string()).collect();
        assert_eq!(skipped, ["a/fifo.khc", "a/link.khc"]);
        let w = walk(&dir, Depth::One, &["khc"]).unwrap();
        assert_eq!(w.files, [dir.join("x.khc")]);
        std::fs::remove_dir_all(&dir).ok();
    }

    extern "C" {
        #[link_name = "mkfifo"]
        fn libc_mkfifo(path: *const std::ffi::c_char, mode: u32) -> i32;
    }
}
