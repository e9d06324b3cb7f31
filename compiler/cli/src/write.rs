//! Writes the generated tree into OUT safely. The guarantees (README, "How khc
//! writes OUT"):
//!
//! * **Never leaves OUT.** No symbolic link below OUT is followed: every path
//!   component under OUT is checked with `symlink_metadata` before khc writes,
//!   chmods or deletes there, and a link is refused with an error naming it. The
//!   changes themselves go through directory descriptors ([`crate::dirfd`]: each
//!   directory opened `O_DIRECTORY | O_NOFOLLOW` from its parent's, files created,
//!   renamed and removed relative to it), so a directory swapped for a link after
//!   the check cannot redirect a write, chmod or delete. OUT
//!   itself is the user's choice and may be a link. Manifest entries are untrusted:
//!   an absolute path, `..`, `.`, an empty segment or a control character is an error,
//!   and so is any path khc could not have generated (outside `clusters/`, a hidden
//!   segment, a file name khc never writes): only khc-shaped paths are ever deleted.
//! * **Never overwrites or deletes what it did not write.** A file that is not in
//!   the manifest and differs from the new contents (compared as bytes; an
//!   unreadable file differs) is foreign: the build stops before writing anything
//!   unless `--force`. Only manifest entries are ever deleted.
//! * **Atomic per file.** Each file is written to a temporary name in its own
//!   directory and renamed over the old one, so a reader (or a crash) sees the old or
//!   the new contents, never a mix. A directory that does not exist yet is written
//!   whole under a temporary name in its parent and renamed into place once, never
//!   over anything ([`write_fresh`]): its files appear together, each complete. Before the first change the manifest is rewritten
//!   as a journal: the union of the old and new paths plus an "incomplete" mark; the
//!   final manifest is written last. A build killed at any point therefore leaves every
//!   file old or new, and the next build knows all of them as khc's and completes
//!   without `--force` (removing leftover temporary files). Stale files that cannot be
//!   removed stay in the manifest.
//! * **One build at a time.** An exclusive `flock` on `OUT/.khc-lock` is held for
//!   the whole write; a second build fails at once with a clear message.
//! * **No partial write for impossible names.** Every path is checked up front
//!   against the file-system limits (255 bytes a component, 4096 a path).
//! * **Cheap when nothing changed.** Directories are checked and created once each,
//!   a file is read only if it exists and has the new length, and a no-op build
//!   writes nothing, not even the manifest.
//! * **`--watch` writes from memory** ([`Memory`], [`write_watched`]): what the
//!   last write recorded (each file's hash and identity, the memo that produced
//!   it, the `lstat` stamps of the manifest and of every output directory) lets
//!   the next write compare, check and write only the files of memos that
//!   changed; it is trusted only while OUT's stamps are unchanged, else the full
//!   write runs. Every guarantee above holds on both paths.

use khc_emit::OutputFile;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

/// The manifest of generated files, kept in the output directory.
pub const MANIFEST: &str = ".khc-manifest";
/// The lock file, kept in the output directory (never removed: removing a lock
/// file while another process waits on it would let two builds in).
pub const LOCK: &str = ".khc-lock";
/// Prefix of temporary files; a name with this prefix is khc's own.
const TMP_PREFIX: &str = ".khc-tmp-";
/// The manifest line that marks a journal: a build that did not finish.
const INCOMPLETE: &str = "# incomplete: a khc build was interrupted; the next build completes it";
const HEADER: &str = "# Files written by khc build. khc removes these when it no longer generates them.";
/// Writes of at least this many files use several threads.
const PARALLEL_WRITE_MIN: usize = 512;
/// At most this many writer threads.
const MAX_WRITE_THREADS: usize = 4;
/// Longest file name component (bytes) on the file systems khc targets.
const NAME_MAX: usize = 255;
/// Longest path (bytes, including the terminating NUL) the kernel accepts.
const PATH_MAX: usize = 4096;

/// What a write did.
pub struct Stats {
    /// Files created or rewritten.
    pub changed: usize,
    /// Stale files removed.
    pub removed: usize,
    /// Stale files that could not be removed (they stay in the manifest).
    pub kept: Vec<String>,
}

/// Options for [`write_tree`].
#[derive(Clone, Copy)]
pub struct Options {
    /// Overwrite foreign files.
    pub force: bool,
    /// `fsync` each file before renaming it into place, and its directory after
    /// (a new directory staged whole: each file and directory before the rename,
    /// the parent after).
    pub fsync: bool,
    /// When set (Ctrl-C in `--watch`), the write stops between files with an error;
    /// the journal lets the next build complete it.
    pub stop: Option<&'static std::sync::atomic::AtomicBool>,
}

/// Checks a relative path (a generated path or a manifest entry): `/`-separated,
/// no empty, `.` or `..` segment, no control character, not absolute, not one of
/// khc's own bookkeeping names.
fn validate(rel: &str) -> Result<(), &'static str> {
    if rel.is_empty() {
        return Err("an empty path");
    }
    if rel.starts_with('/') {
        return Err("an absolute path");
    }
    if rel.chars().any(|c| c.is_control()) {
        return Err("a control character");
    }
    for seg in rel.split('/') {
        match seg {
            "" => return Err("an empty path segment"),
            "." | ".." => return Err("a `.` or `..` segment"),
            _ if seg.starts_with(TMP_PREFIX) || seg == LOCK || seg == MANIFEST => return Err("a name reserved for khc's own files"),
            _ => {}
        }
    }
    Ok(())
}

/// The folder every generated path lies in.
const GENERATED_ROOT: &str = "clusters/";
/// File names khc generates that are not `*.yaml`, `*.md` or `*.sh`.
const GENERATED_NAMES: [&str; 5] = ["Kustomization", "kube-apiserver-flags", "kube-controller-manager-flags", "kube-scheduler-flags", "kubelet-config.conf"];

/// Checks that `rel` (already [`validate`]d) is a path khc could have generated:
/// under `clusters/`, no hidden segment, and one of khc's file names (`*.yaml`,
/// `*.md`, `*.sh`, `Kustomization`, the control plane's flag files and
/// `kubelet-config.conf`). The manifest is a large
/// generated file nobody reviews: only such paths are ever deleted, so a planted
/// line cannot make a build remove `.git/config` or `.github/workflows/*`.
fn khc_shaped(rel: &str) -> Result<(), &'static str> {
    let Some(below) = rel.strip_prefix(GENERATED_ROOT) else {
        return Err("outside `clusters/`, where khc writes everything it generates");
    };
    let segments: Vec<&str> = below.split('/').collect();
    if segments.len() < 2 {
        return Err("not below a cluster's folder `clusters/CLUSTER/`");
    }
    if segments.iter().any(|s| s.starts_with('.')) {
        return Err("a hidden name (starting with `.`), which khc never generates");
    }
    let name = segments[segments.len() - 1];
    let ours = GENERATED_NAMES.contains(&name) || [".yaml", ".md", ".sh"].iter().any(|ext| name.len() > ext.len() && name.ends_with(ext));
    if !ours {
        return Err("not a name khc generates (`*.yaml`, `*.md`, `*.sh`, `Kustomization`, the control plane's flag files and `kubelet-config.conf`)");
    }
    Ok(())
}

/// Checks a generated path against the file-system limits.
fn check_length(out: &Path, rel: &str) -> Result<(), String> {
    if let Some(seg) = rel.split('/').find(|s| s.len() > NAME_MAX) {
        return Err(format!("cannot write {rel}: the name `{seg}` is {} bytes long; file systems allow at most {NAME_MAX}", seg.len()));
    }
    let total = out.as_os_str().len() + 1 + rel.len();
    if total >= PATH_MAX {
        return Err(format!("cannot write {}/{rel}: the path is {total} bytes long; the system allows at most {}", out.display(), PATH_MAX - 1));
    }
    Ok(())
}

/// Error text for a symbolic link found below OUT.
fn link_error(path: &Path) -> String {
    format!(
        "{} is a symbolic link; khc never follows links inside the output directory (it could write or delete outside it): remove the link or choose another --out",
        path.display()
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DirState {
    /// A real directory (not a link).
    Dir,
    /// Does not exist (nor does anything below it).
    Absent,
}

/// What is at a file path below OUT.
enum FileState {
    Absent,
    /// A regular file of this length.
    File(u64),
}

/// Error text for a failed operation on `rel` below OUT: a link (or a file) where
/// a directory should be is named as such.
fn fd_error(path: &Path, e: &std::io::Error) -> String {
    if crate::dirfd::is_link_or_not_dir(e) {
        format!(
            "{} (or a folder on its way below the output directory) is a symbolic link or not a folder; khc never follows links inside the output directory: remove the link or choose another --out",
            path.display()
        )
    } else {
        format!("cannot write {}: {e}", path.display())
    }
}

/// The output directory, with what is known about its subdirectories. Every
/// question about a path checks each component below OUT once (no link followed);
/// every change goes through `root` (directory descriptors opened with
/// `O_NOFOLLOW`), so a directory swapped for a link after the checks cannot
/// redirect it.
struct Tree<'a> {
    out: &'a Path,
    root: crate::dirfd::Root,
    dirs: HashMap<String, DirState>,
}

impl<'a> Tree<'a> {
    fn new(out: &'a Path, root: crate::dirfd::Root) -> Self {
        Tree { out, root, dirs: HashMap::from([(String::new(), DirState::Dir)]) }
    }

    fn path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.out.to_path_buf()
        } else {
            self.out.join(rel)
        }
    }

    /// The state of directory `rel` ("" is OUT): a link or a non-directory is an error.
    fn dir(&mut self, rel: &str) -> Result<DirState, String> {
        if let Some(&s) = self.dirs.get(rel) {
            return Ok(s);
        }
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        let state = if self.dir(parent)? == DirState::Absent {
            DirState::Absent
        } else {
            let path = self.path(rel);
            match std::fs::symlink_metadata(&path) {
                Err(e) if e.kind() == ErrorKind::NotFound => DirState::Absent,
                Err(e) => return Err(format!("cannot inspect {}: {e}", path.display())),
                Ok(m) if m.file_type().is_symlink() => return Err(link_error(&path)),
                Ok(m) if m.is_dir() => DirState::Dir,
                Ok(_) => return Err(format!("{} is in the way: khc needs a directory there", path.display())),
            }
        };
        self.dirs.insert(rel.to_string(), state);
        Ok(state)
    }

    /// What is at file `rel`: a link (at any level) or a directory is an error.
    fn file(&mut self, rel: &str) -> Result<FileState, String> {
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        if self.dir(parent)? == DirState::Absent {
            return Ok(FileState::Absent);
        }
        let path = self.path(rel);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(FileState::Absent),
            Err(e) => Err(format!("cannot inspect {}: {e}", path.display())),
            Ok(m) if m.file_type().is_symlink() => Err(link_error(&path)),
            Ok(m) if m.is_file() => Ok(FileState::File(m.len())),
            Ok(_) => Err(format!("{} is in the way: khc needs a regular file there", path.display())),
        }
    }

    /// The topmost directory on the way to file `rel` that does not exist (its
    /// parent does), if any; [`Self::file`] must have inspected `rel`.
    fn absent_root<'p>(&self, rel: &'p str) -> Option<&'p str> {
        let dir = rel.rsplit_once('/')?.0;
        let mut start = 0;
        loop {
            let end = dir[start..].find('/').map_or(dir.len(), |i| start + i);
            if self.dirs.get(&dir[..end]) == Some(&DirState::Absent) {
                return Some(&dir[..end]);
            }
            if end == dir.len() {
                return None;
            }
            start = end + 1;
        }
    }

    /// Creates directory `rel` and its missing parents, one `mkdir` each.
    fn make_dir(&mut self, rel: &str) -> Result<(), String> {
        if self.dir(rel)? == DirState::Dir {
            return Ok(());
        }
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        self.make_dir(parent)?;
        let path = self.path(rel);
        match self.root.mkdir(rel) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let m = std::fs::symlink_metadata(&path).map_err(|e| format!("cannot inspect {}: {e}", path.display()))?;
                if m.file_type().is_symlink() {
                    return Err(link_error(&path));
                }
                if !m.is_dir() {
                    return Err(format!("{} is in the way: khc needs a directory there", path.display()));
                }
            }
            Err(e) => return Err(fd_error(&path, &e)),
        }
        self.dirs.insert(rel.to_string(), DirState::Dir);
        Ok(())
    }

    /// Whether the file at `rel` (known to be a regular file of length `len`) holds
    /// exactly `contents`. Unreadable counts as different.
    fn same(&self, rel: &str, len: u64, contents: &[u8]) -> bool {
        if len != contents.len() as u64 {
            return false;
        }
        // The length is known: no `fstat` for a size hint, and never more than one
        // byte past it (a file that grew since differs anyway).
        let mut buf = Vec::with_capacity(contents.len() + 1);
        self.root.open_read(rel).and_then(|f| f.take(len + 1).read_to_end(&mut buf)).is_ok() && buf == contents
    }

    /// Writes `contents` to `rel` atomically: a temporary file in the same directory,
    /// renamed over the target. The directory must exist.
    fn write_atomic(&self, rel: &str, tmp_name: &str, contents: &[u8], executable: bool, fsync: bool) -> Result<(), String> {
        self.write_atomic_with(rel, tmp_name, executable, fsync, |file| file.write_all(contents))
    }

    /// [`Self::write_atomic`] with contents that `fill` writes into the temporary file.
    fn write_atomic_with(
        &self,
        rel: &str,
        tmp_name: &str,
        executable: bool,
        fsync: bool,
        fill: impl FnOnce(&mut File) -> std::io::Result<()>,
    ) -> Result<(), String> {
        let path = self.path(rel);
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let tmp = if dir.is_empty() { tmp_name.to_string() } else { format!("{dir}/{tmp_name}") };
        let err = |e: std::io::Error| fd_error(&path, &e);
        // Created relative to the directory's descriptor with O_EXCL|O_NOFOLLOW; a
        // leftover from a killed build is removed first (the name is reserved for khc).
        let mut file = match self.root.create_new(&tmp) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                self.root.unlink(&tmp).map_err(err)?;
                self.root.create_new(&tmp).map_err(err)?
            }
            r => r.map_err(err)?,
        };
        let done = (|| {
            fill(&mut file)?;
            #[cfg(unix)]
            if executable {
                use std::os::unix::fs::PermissionsExt;
                // On the open file: no path, so nothing to follow.
                file.set_permissions(std::fs::Permissions::from_mode(0o755))?;
            }
            #[cfg(not(unix))]
            let _ = executable;
            if fsync {
                file.sync_all()?;
            }
            drop(file);
            self.root.rename(dir, tmp_name, name)
        })();
        if let Err(e) = done {
            let _ = self.root.unlink(&tmp);
            return Err(err(e));
        }
        test_hook_step();
        Ok(())
    }
}

/// Test-only hook: with `KHC_TEST_PAUSE_AFTER=N`, the build announces
/// `khc-test: paused` on stderr after N steps (each file written or removed, and
/// the journal) and sleeps, so a test can `kill -9` it at a known point. Not for
/// users; documented in README, "Tests".
fn test_hook_step() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static STEPS: AtomicUsize = AtomicUsize::new(0);
    static LIMIT: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let Some(limit) = *LIMIT.get_or_init(|| std::env::var("KHC_TEST_PAUSE_AFTER").ok().and_then(|v| v.parse().ok())) else {
        return;
    };
    if STEPS.fetch_add(1, Ordering::SeqCst) + 1 == limit {
        let _ = writeln!(std::io::stderr(), "khc-test: paused");
        // `KHC_TEST_RESUME_ON_STDIN=1`: resume after a line on stdin (the race test
        // swaps a directory for a link at this point).
        if std::env::var_os("KHC_TEST_RESUME_ON_STDIN").is_some() {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            return;
        }
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// The exclusive lock on OUT, released when dropped (or when the process dies).
pub struct Lock {
    _file: File,
}

/// Takes the exclusive lock on OUT (opened as `root`), failing at once if another
/// build holds it.
fn lock(out: &Path, root: &crate::dirfd::Root) -> Result<Lock, String> {
    let path = out.join(LOCK);
    let file = root.open_or_create(LOCK).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            link_error(&path)
        } else {
            format!("cannot open the lock file {}: {e}", path.display())
        }
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::WouldBlock {
                return Err(format!(
                    "another khc build is writing to {} (it holds {}); wait for it to finish, or choose another --out",
                    out.display(),
                    path.display()
                ));
            }
            return Err(format!("cannot lock {}: {e}", path.display()));
        }
    }
    Ok(Lock { _file: file })
}

/// The previous manifest: its entries and whether it is a journal of an
/// interrupted build. A missing manifest is empty.
fn read_manifest(tree: &mut Tree<'_>) -> Result<(BTreeSet<String>, bool), String> {
    let path = tree.out.join(MANIFEST);
    let len = match tree.file(MANIFEST)? {
        FileState::Absent => return Ok((BTreeSet::new(), false)),
        FileState::File(len) => len,
    };
    let mut bytes = Vec::with_capacity(len as usize);
    tree.root.open_read(MANIFEST).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8; delete it only if OUT holds nothing but khc's output", path.display()))?;
    let mut entries = BTreeSet::new();
    let mut incomplete = false;
    for (i, line) in text.lines().enumerate() {
        if line == INCOMPLETE {
            incomplete = true;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Err(why) = validate(line).and_then(|()| khc_shaped(line)) {
            return Err(format!(
                "{}:{}: the entry {line:?} is {why}; khc only removes files it could have generated inside the output directory. Fix or delete the line",
                path.display(),
                i + 1
            ));
        }
        entries.insert(line.to_string());
    }
    Ok((entries, incomplete))
}

/// Writes the manifest atomically.
fn write_manifest(tree: &Tree<'_>, entries: &BTreeSet<&str>, incomplete: bool, fsync: bool) -> Result<(), String> {
    // Streamed: at 1,000 tenants the list is megabytes, written when every
    // generated file is still held (a build's peak memory).
    tree.write_atomic_with(MANIFEST, &format!("{TMP_PREFIX}manifest"), false, fsync, |file| {
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, file);
        w.write_all(HEADER.as_bytes())?;
        w.write_all(b"\n")?;
        if incomplete {
            w.write_all(INCOMPLETE.as_bytes())?;
            w.write_all(b"\n")?;
        }
        for e in entries {
            w.write_all(e.as_bytes())?;
            w.write_all(b"\n")?;
        }
        w.flush()
    })
}

/// Removes leftover temporary files of an interrupted build from the directories
/// of `entries` and every directory above them (up to OUT itself): temporary
/// files (`.khc-tmp-N`) and new directories staged whole (`.khc-tmp-dir-N`, see
/// [`write_fresh`]), which lie in the parent of the directory they become.
fn remove_leftovers(tree: &mut Tree<'_>, entries: &BTreeSet<String>) -> Result<(), String> {
    let dirs: BTreeSet<&str> = entries.iter().flat_map(|e| ancestors(e)).collect();
    for d in dirs {
        if tree.dir(d)? == DirState::Absent {
            continue;
        }
        // Listed and removed through the directory's descriptor, never following a link.
        let Ok(list) = tree.root.names_with_prefix(d, TMP_PREFIX) else { continue };
        for (name, is_dir) in list {
            let rel = if d.is_empty() { name } else { format!("{d}/{name}") };
            let _ = if is_dir { tree.root.remove_tree(&rel) } else { tree.root.unlink(&rel) };
        }
    }
    Ok(())
}

/// Writes `files` into the tree, each atomically: first their directories, then
/// the files, on several threads for a large write (creating files is kernel work
/// that runs in parallel; each file has its own temporary name).
fn write_files(tree: &mut Tree<'_>, files: &[&OutputFile], opts: &Options) -> Result<(), String> {
    let mut synced_dirs: BTreeSet<&str> = BTreeSet::new();
    for f in files {
        let dir = f.path.rsplit_once('/').map_or("", |(p, _)| p);
        tree.make_dir(dir)?;
        if opts.fsync {
            synced_dirs.insert(dir);
        }
    }
    let count = files.len();
    let tree_ref = &*tree;
    let write_one = move |n: usize| -> Result<(), String> {
        let tree = tree_ref;
        if opts.stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst)) {
            return Err("interrupted; the next build completes the output".into());
        }
        let f = files[n];
        tree.write_atomic(&f.path, &format!("{TMP_PREFIX}{n}"), f.contents.as_bytes(), f.path.ends_with(".sh"), opts.fsync)
    };
    let threads = if count < PARALLEL_WRITE_MIN { 1 } else { std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_WRITE_THREADS) };
    if threads <= 1 {
        (0..count).try_for_each(write_one)?;
    } else {
        let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads).map(|t| scope.spawn(move || (t..count).step_by(threads).try_for_each(write_one))).collect();
            workers.into_iter().map(|w| w.join().unwrap_or_else(|_| Err("internal error: a writer thread panicked".into()))).collect()
        });
        results.into_iter().collect::<Result<Vec<()>, String>>()?;
    }
    for d in synced_dirs {
        let _ = tree.root.sync_dir(d);
    }
    Ok(())
}

/// Prefix of the temporary name under which a directory that does not exist yet
/// is written whole, in its parent, before it is renamed into place.
const STAGE_PREFIX: &str = ".khc-tmp-dir-";

/// `parent/` of a relative path ("" for OUT), and its last component.
fn parent_and_name(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

/// Whether `rel` lies below directory `dir` ("" is OUT).
fn is_below(rel: &str, dir: &str) -> bool {
    dir.is_empty() || (rel.len() > dir.len() && rel.starts_with(dir) && rel.as_bytes()[dir.len()] == b'/')
}

/// One directory of a staged write: its real path, the staged directory it
/// belongs to, and the files to create in it.
struct DirJob<'a> {
    real: &'a str,
    root: &'a str,
    files: Vec<&'a OutputFile>,
}

/// Directory descriptors along the way to the directories of a staged write,
/// kept on a stack (the directories are visited in depth-first order, so each is
/// opened once): every component opened `O_DIRECTORY | O_NOFOLLOW` from its
/// parent's descriptor, a staged root under its temporary name.
struct Walker<'a> {
    root: &'a crate::dirfd::Root,
    staged: &'a HashMap<&'a str, String>,
    stack: Vec<(&'a str, std::sync::Arc<std::os::fd::OwnedFd>)>,
    buf: Vec<u8>,
}

impl<'a> Walker<'a> {
    fn new(root: &'a crate::dirfd::Root, staged: &'a HashMap<&'a str, String>) -> Self {
        Walker { root, staged, stack: Vec::new(), buf: Vec::new() }
    }

    /// The descriptor of directory `d`: the parent of the staged root `root`, or
    /// a directory at or below that root (already created).
    fn fd(&mut self, d: &'a str, root: &'a str) -> std::io::Result<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        let base = parent_and_name(root).0;
        if self.stack.first().map(|s| s.0) != Some(base) {
            self.stack.clear();
            self.stack.push((base, self.root.dir(base)?));
        }
        while self.stack.len() > 1 {
            let top = self.stack[self.stack.len() - 1].0;
            if top == d || is_below(d, top) {
                break;
            }
            self.stack.pop();
        }
        loop {
            let (top, fd) = &self.stack[self.stack.len() - 1];
            if *top == d {
                return Ok(fd.as_raw_fd());
            }
            let start = if top.is_empty() { 0 } else { top.len() + 1 };
            let end = d[start..].find('/').map_or(d.len(), |i| start + i);
            let real = &d[..end];
            let name = if real == root { self.staged[root].as_str() } else { &d[start..end] };
            let opened = crate::dirfd::open_dir_at(fd.as_raw_fd(), crate::dirfd::c_name(&mut self.buf, name)?)?;
            self.stack.push((real, std::sync::Arc::new(opened)));
        }
    }
}

/// Writes `files`, each below a directory that does not exist yet (`roots`:
/// the topmost such directory of each file, as [`Tree::absent_root`] finds it),
/// a directory at a time: each root is built whole under a temporary name in its
/// parent (`.khc-tmp-dir-N`: its directories made, its files created with their
/// final names, `O_EXCL | O_NOFOLLOW`, relative to their directory's descriptor),
/// then renamed into place once (`renameat2(RENAME_NOREPLACE)`). A reader sees
/// the directory absent or complete, so each file still appears only with its
/// whole contents — the atomicity of a rename per file, with one rename per new
/// directory (a cold build: one). A build killed before the rename leaves only the
/// temporary directory, which the next build removes (its journal lists the files).
fn write_fresh(tree: &mut Tree<'_>, files: &[(&str, &OutputFile)], opts: &Options) -> Result<(), String> {
    if files.is_empty() {
        return Ok(());
    }
    // The roots, each with its temporary name.
    let mut roots: Vec<&str> = files.iter().map(|(r, _)| *r).collect();
    roots.sort_unstable();
    roots.dedup();
    let staged: HashMap<&str, String> = roots.iter().enumerate().map(|(i, r)| (*r, format!("{STAGE_PREFIX}{i}"))).collect();
    // Every directory to make (the files' and those between them and their
    // root), in depth-first order, with its files.
    let mut by_dir: HashMap<&str, DirJob<'_>> = HashMap::new();
    for &(root, f) in files {
        let dir = parent_and_name(&f.path).0;
        by_dir.entry(dir).or_insert_with(|| DirJob { real: dir, root, files: Vec::new() }).files.push(f);
        let mut d = dir;
        while d != root {
            d = parent_and_name(d).0;
            by_dir.entry(d).or_insert_with(|| DirJob { real: d, root, files: Vec::new() });
        }
    }
    let mut jobs: Vec<DirJob<'_>> = by_dir.into_values().collect();
    jobs.sort_unstable_by(|a, b| a.real.split('/').cmp(b.real.split('/')));
    let root_fd_error = |rel: &str, e: std::io::Error| fd_error(&tree.path(rel), &e);
    let cleanup = |tree: &Tree<'_>, from: usize| {
        for r in &roots[from..] {
            let base = parent_and_name(r).0;
            let _ = tree.root.remove_tree(&if base.is_empty() { staged[r].clone() } else { format!("{base}/{}", staged[r]) });
        }
    };

    // 1. The directories, parents first.
    let made = (|| -> Result<(), String> {
        let mut walker = Walker::new(&tree.root, &staged);
        let mut buf = Vec::new();
        for job in &jobs {
            let (parent, name) = parent_and_name(job.real);
            let is_root = job.real == job.root;
            let fd = walker.fd(parent, job.root).map_err(|e| root_fd_error(parent, e))?;
            let name = if is_root { staged[job.root].as_str() } else { name };
            let c = crate::dirfd::c_name(&mut buf, name).map_err(|e| root_fd_error(job.real, e))?;
            match crate::dirfd::mkdir_at(fd, c) {
                // A leftover of a killed build under the same temporary name: khc's own.
                Err(e) if is_root && e.kind() == ErrorKind::AlreadyExists => {
                    crate::dirfd::remove_tree_at(fd, c).and_then(|()| crate::dirfd::mkdir_at(fd, c)).map_err(|e| root_fd_error(job.real, e))?
                }
                r => r.map_err(|e| root_fd_error(job.real, e))?,
            }
        }
        Ok(())
    })();
    if let Err(e) = made {
        cleanup(tree, 0);
        return Err(e);
    }

    // 2. The files, on several threads for a large write, each thread a run of
    //    whole directories (no two threads create files in one directory).
    let with_files: Vec<&DirJob<'_>> = jobs.iter().filter(|j| !j.files.is_empty()).collect();
    let threads = if files.len() < PARALLEL_WRITE_MIN { 1 } else { std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_WRITE_THREADS) };
    let mut runs: Vec<&[&DirJob<'_>]> = Vec::new();
    let per_thread = files.len().div_ceil(threads);
    let (mut start, mut count) = (0, 0);
    for (i, job) in with_files.iter().enumerate() {
        count += job.files.len();
        if count >= per_thread || i + 1 == with_files.len() {
            runs.push(&with_files[start..=i]);
            (start, count) = (i + 1, 0);
        }
    }
    let tree_ref = &*tree;
    let staged_ref = &staged;
    let write_run = move |run: &[&DirJob<'_>]| -> Result<(), String> {
        use std::os::fd::AsRawFd;
        let tree = tree_ref;
        let mut walker = Walker::new(&tree.root, staged_ref);
        let mut buf = Vec::new();
        for job in run {
            let dir = walker.fd(job.real, job.root).map_err(|e| fd_error(&tree.path(job.real), &e))?;
            for f in &job.files {
                if opts.stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst)) {
                    return Err("interrupted; the next build completes the output".into());
                }
                let name = parent_and_name(&f.path).1;
                let done = (|| -> std::io::Result<()> {
                    let mut file = crate::dirfd::create_at(dir, crate::dirfd::c_name(&mut buf, name)?)?;
                    file.write_all(f.contents.as_bytes())?;
                    #[cfg(unix)]
                    if f.path.ends_with(".sh") {
                        use std::os::unix::fs::PermissionsExt;
                        // On the open file: no path, so nothing to follow.
                        file.set_permissions(std::fs::Permissions::from_mode(0o755))?;
                    }
                    if opts.fsync {
                        file.sync_all()?;
                    }
                    Ok(())
                })();
                done.map_err(|e| fd_error(&tree.path(&f.path), &e))?;
                test_hook_step();
            }
            if opts.fsync {
                // SAFETY: a valid descriptor.
                let _ = unsafe { libc::fsync(dir.as_raw_fd()) };
            }
        }
        Ok(())
    };
    let written: Result<(), String> = if runs.len() <= 1 {
        runs.into_iter().try_for_each(write_run)
    } else {
        std::thread::scope(|scope| {
            let workers: Vec<_> = runs.into_iter().map(|run| scope.spawn(move || write_run(run))).collect();
            // The scope joins every thread before returning, also after an error.
            workers.into_iter().try_for_each(|w| w.join().unwrap_or_else(|_| Err("internal error: a writer thread panicked".into())))
        })
    };
    if let Err(e) = written {
        cleanup(tree, 0);
        return Err(e);
    }

    // 3. Each root renamed into place, only if nothing appeared there meanwhile.
    let mut buf = (Vec::new(), Vec::new());
    for (i, root) in roots.iter().enumerate() {
        let (parent, name) = parent_and_name(root);
        let renamed = tree.root.dir(parent).and_then(|fd| {
            use std::os::fd::AsRawFd;
            let from = crate::dirfd::c_name(&mut buf.0, &staged[root])?;
            let to = crate::dirfd::c_name(&mut buf.1, name)?;
            crate::dirfd::rename_dir_noreplace(fd.as_raw_fd(), from, to)?;
            if opts.fsync {
                // SAFETY: a valid descriptor.
                let _ = unsafe { libc::fsync(fd.as_raw_fd()) };
            }
            Ok(())
        });
        if let Err(e) = renamed {
            cleanup(tree, i);
            let path = tree.path(root);
            return Err(if matches!(e.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY | libc::ENOTDIR)) {
                format!("{} appeared while khc was writing it (another program is writing there); nothing was overwritten: run the build again", path.display())
            } else {
                fd_error(&path, &e)
            });
        }
        test_hook_step();
    }
    for job in &jobs {
        tree.dirs.insert(job.real.to_string(), DirState::Dir);
    }
    Ok(())
}

/// Removes the stale files `present` (and directories they leave empty):
/// how many were removed, and those that could not be (with why), which stay
/// in the manifest.
fn remove_stale<'p>(tree: &Tree<'_>, present: &[&'p str]) -> (usize, Vec<(&'p str, String)>) {
    let mut removed = 0;
    let mut kept = Vec::new();
    for &p in present {
        let path = tree.path(p);
        match tree.root.unlink(p) {
            Ok(()) => {
                removed += 1;
                test_hook_step();
                // Remove now-empty parents (rmdir never follows a link and fails on a non-empty directory).
                let mut dir = p.rsplit_once('/').map(|(d, _)| d);
                while let Some(d) = dir {
                    if tree.root.rmdir(d).is_err() {
                        break;
                    }
                    dir = d.rsplit_once('/').map(|(d, _)| d);
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => kept.push((p, format!("{}: {e}", path.display()))),
        }
    }
    (removed, kept)
}

/// Refuses to overwrite files khc did not write (`foreign`, paths under `out`)
/// unless `--force`: the one message of the full and the watched write.
fn refuse_foreign(out: &Path, foreign: &[&str], opts: &Options) -> Result<(), String> {
    match foreign.first() {
        Some(first) if !opts.force => Err(format!(
            "{} already exists and was not written by khc ({} such file{}); pass --force to overwrite, or choose another --out",
            out.join(first).display(),
            foreign.len(),
            if foreign.len() == 1 { "" } else { "s" }
        )),
        _ => Ok(()),
    }
}

/// Writes `files` under `out`. `Err` is a message for the user; when it comes from
/// the checks (foreign files, links, names too long, a held lock), nothing has
/// been written.
pub fn write_tree(out: &Path, files: &[&OutputFile], opts: &Options) -> Result<Stats, String> {
    // 1. Every generated path is valid and fits the file system, before any write.
    let mut current: BTreeSet<&str> = BTreeSet::new();
    for f in files {
        validate(&f.path).and_then(|()| khc_shaped(&f.path)).map_err(|why| format!("internal error: khc generated the path {:?}, which is {why}", f.path))?;
        check_length(out, &f.path)?;
        if !current.insert(&f.path) {
            return Err(format!("internal error: khc generated {} twice", f.path));
        }
    }

    // 2. OUT exists (it may be a link the user chose) and is ours alone.
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let root = crate::dirfd::Root::open(out).map_err(|e| format!("cannot open {}: {e}", out.display()))?;
    let _lock = lock(out, &root)?;
    let mut tree = Tree::new(out, root);
    let (previous, incomplete) = read_manifest(&mut tree)?;

    // 3. Inspect every target (no link anywhere below OUT) and find what changes.
    let mut changed_files: Vec<usize> = Vec::new();
    let mut foreign: Vec<&str> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        match tree.file(&f.path)? {
            FileState::Absent => changed_files.push(i),
            FileState::File(len) => {
                if !tree.same(&f.path, len, f.contents.as_bytes()) {
                    if !previous.contains(&f.path) {
                        foreign.push(&f.path);
                    }
                    changed_files.push(i);
                }
            }
        }
    }
    refuse_foreign(out, &foreign, opts)?;
    // Stale files: check their paths too (a link there is refused before any change).
    let stale: Vec<&str> = previous.iter().map(String::as_str).filter(|p| !current.contains(p)).collect();
    let mut stale_present: Vec<&str> = Vec::new();
    for &p in &stale {
        if let FileState::File(_) = tree.file(p)? {
            stale_present.push(p);
        }
    }

    let manifest_matches = !incomplete && previous.len() == current.len() && stale.is_empty();
    if changed_files.is_empty() && stale_present.is_empty() && manifest_matches {
        return Ok(Stats { changed: 0, removed: 0, kept: Vec::new() });
    }

    // 4. Journal: every path of the old and the new tree is khc's from now on.
    if incomplete {
        remove_leftovers(&mut tree, &previous)?;
    }
    let union: BTreeSet<&str> = current.iter().copied().chain(previous.iter().map(String::as_str)).collect();
    write_manifest(&tree, &union, true, opts.fsync)?;
    drop(union);

    // 5. The new files, each atomically: in existing directories one by one
    //    (directories first), in new directories a new directory at a time.
    let (mut in_place, mut fresh): (Vec<&OutputFile>, Vec<(&str, &OutputFile)>) = (Vec::new(), Vec::new());
    for &i in &changed_files {
        match tree.absent_root(&files[i].path) {
            Some(root) => fresh.push((root, files[i])),
            None => in_place.push(files[i]),
        }
    }
    write_files(&mut tree, &in_place, opts)?;
    write_fresh(&mut tree, &fresh, opts)?;

    // 6. Stale files; those that cannot be removed stay in the manifest.
    let (removed, kept) = remove_stale(&tree, &stale_present);

    // 7. The final manifest, last.
    let mut final_entries = current;
    final_entries.extend(kept.iter().map(|(p, _)| *p));
    write_manifest(&tree, &final_entries, false, opts.fsync)?;
    if opts.fsync {
        let _ = tree.root.sync_dir("");
    }
    let kept = kept.into_iter().map(|(_, why)| why).collect();
    Ok(Stats { changed: changed_files.len(), removed, kept })
}

// ---------------------------------------------------------------------------
// `khc build --watch`: the written tree kept in memory between builds.

/// The generated files of one memo (a cluster's or a tenant's), with the
/// fingerprint of their paths and contents when the database knows it without
/// reading them (`None`: hashed here). A group known to be unchanged since the
/// last write may be given by its fingerprint alone, without files (a
/// placeholder: `khc build --watch` does not even ask the database for them).
pub struct Group<'a> {
    /// [`khc_db::emit::files_fingerprint`] of `files`, if known.
    pub fingerprint: Option<u64>,
    /// The files.
    pub files: Vec<&'a OutputFile>,
}

/// One file as the last `--watch` write left it.
struct Rec {
    /// [`content_hash`] of its contents.
    hash: u64,
    /// Its length.
    len: usize,
    /// [`khc_emit::collisions::identity_hash`] of the object it holds.
    id: Option<u64>,
    /// The fingerprint of the group that produced it.
    group: u64,
}

/// `(device, inode, length, mtime s, mtime ns, ctime s, ctime ns)` of a path
/// below OUT, from `lstat` (a link is described, never followed).
type Stamp = (u64, u64, u64, i64, i64, i64, i64);

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).ok()?;
    Some((m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec()))
}

/// The stamps of directories `dirs` below OUT (`""` is OUT itself), each by
/// `fstatat(AT_SYMLINK_NOFOLLOW)` relative to its parent's descriptor (opened
/// `O_PATH | O_NOFOLLOW` once per parent): one path component looked up per
/// directory, not the whole path — at 5,000 tenants these are 20,000
/// directories, checked before every `--watch` write.
fn dir_stamps(out: &Path, dirs: &[&str]) -> Vec<Option<Stamp>> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let Ok(root) = std::fs::File::open(out) else { return vec![None; dirs.len()] };
    let mut fds: HashMap<&str, Option<OwnedFd>> = HashMap::new();
    fn open<'d>(root: &std::fs::File, fds: &mut HashMap<&'d str, Option<OwnedFd>>, d: &'d str) -> Option<i32> {
        if d.is_empty() {
            return Some(root.as_raw_fd());
        }
        if !fds.contains_key(d) {
            let (parent, name) = d.rsplit_once('/').unwrap_or(("", d));
            let fd = open(root, fds, parent).and_then(|p| {
                let c = std::ffi::CString::new(name).ok()?;
                // SAFETY: a valid descriptor and C string; the result is owned below.
                let fd = unsafe { libc::openat(p, c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
                // SAFETY: just opened, owned by nobody else.
                (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
            });
            fds.insert(d, fd);
        }
        fds[d].as_ref().map(|f| f.as_raw_fd())
    }
    // The field types of `stat` differ between platforms: the casts are no-ops on some.
    #[allow(clippy::unnecessary_cast)]
    let from = |st: &libc::stat| -> Stamp {
        (st.st_dev as u64, st.st_ino as u64, st.st_size as u64, st.st_mtime as i64, st.st_mtime_nsec as i64, st.st_ctime as i64, st.st_ctime_nsec as i64)
    };
    dirs.iter()
        .map(|&d| {
            // SAFETY: zeroed plain data, filled by fstat/fstatat.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            let ok = if d.is_empty() {
                // SAFETY: a valid descriptor and buffer.
                unsafe { libc::fstat(root.as_raw_fd(), &mut st) == 0 }
            } else {
                let (parent, name) = d.rsplit_once('/').unwrap_or(("", d));
                let (Some(p), Ok(c)) = (open(&root, &mut fds, parent), std::ffi::CString::new(name)) else { return None };
                // SAFETY: a valid descriptor, C string and buffer.
                unsafe { libc::fstatat(p, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) == 0 }
            };
            ok.then(|| from(&st))
        })
        .collect()
}

/// A hash of a file's contents (SipHash, 64 bits).
fn content_hash(contents: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    contents.hash(&mut h);
    h.finish()
}

/// Every directory containing `rel` (its parent, its parent's parent … up to
/// OUT itself, `""`).
fn ancestors(rel: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(rel), |p| (!p.is_empty()).then(|| p.rsplit_once('/').map_or("", |(d, _)| d))).skip(1)
}

/// What `khc build --watch` knows of OUT after its last successful write: every
/// file's content hash, length and object identity, which memo produced it, and
/// the `lstat` stamps (inode, length, mtime, ctime) of the manifest and of every
/// directory holding output, as the writer left them. The next build then finds
/// the files to rewrite from the database's memos alone — groups whose
/// fingerprint is unchanged are not looked at, the others file by file against
/// the hashes here — checks collisions only for those files, and writes them
/// without reading or `stat`ing the rest of the tree. Before trusting it, the
/// writer compares the stamps with OUT (one `lstat` per directory, none per
/// file): any difference — a file created, removed or renamed in a directory,
/// the manifest rewritten by another build, OUT replaced — and the full write
/// runs instead, which re-reads OUT and repairs it.
#[derive(Default)]
pub struct Memory {
    /// The OUT it describes; `None` until a write succeeded (and after a failed one).
    out: Option<PathBuf>,
    /// The manifest's stamp.
    manifest: Option<Stamp>,
    /// Every generated file, by path.
    files: BTreeMap<String, Rec>,
    /// The paths of each group, by fingerprint.
    groups: HashMap<u64, Vec<String>>,
    /// How many files hold each object identity (by hash).
    ids: HashMap<u64, u32>,
    /// The stamp of every directory holding output, and of OUT (`""`); shared
    /// with the [`Check`] that compares them while the build compiles.
    dirs: std::sync::Arc<HashMap<String, Option<Stamp>>>,
    /// Those directories watched for changes since the last write (inotify),
    /// when every one of them could be: then no stamp needs comparing.
    watch: Option<OutWatch>,
    /// Whether the last write was the incremental one (for `KHC_WATCH_TRACE`).
    incremental: bool,
}

/// OUT's directories under change notification between two writes: an event
/// in a directory the writer did not write in, or lost events, is a change
/// behind khc's back ([`OutWatch::foreign`]).
struct OutWatch {
    notify: crate::notify::Notify,
    /// OUT, resolved (it may be a link the user chose; nothing below it is).
    root: PathBuf,
    /// Something changed OUT that the writer did not do.
    foreign: bool,
}

impl OutWatch {
    /// Watches every directory of `dirs` below `out`; `None` when one cannot be
    /// (the watch limit, a network or FUSE file system, no inotify).
    fn new(out: &Path, dirs: &[String]) -> Option<OutWatch> {
        let root = out.canonicalize().ok()?;
        let mut notify = crate::notify::Notify::new(crate::notify::OUTPUT)?;
        for d in dirs {
            notify.watch(&root, d)?;
        }
        Some(OutWatch { notify, root, foreign: false })
    }

    /// Reads the pending events: those in `ours` (directories the writer just
    /// wrote in) are the writer's own; any other, or lost events, marks OUT as
    /// changed behind khc's back. Returns whether it is.
    fn settle(&mut self, ours: &BTreeSet<String>) -> bool {
        match self.notify.wait(std::time::Duration::ZERO) {
            Ok(events) => self.foreign |= events.iter().any(|e| !ours.contains(&e.dir)),
            Err(crate::notify::Lost) => self.foreign = true,
        }
        self.foreign
    }
}

/// The comparison of a [`Memory`] with OUT ([`Memory::check`]): done at once
/// when OUT's directories are watched, else comparing the stamps on its own
/// thread while the build checks and emits.
pub enum Check {
    /// The answer.
    Ready(bool),
    /// The thread comparing the stamps.
    Thread(std::thread::JoinHandle<bool>),
}

impl Check {
    /// Whether OUT is as the memory recorded it.
    pub fn unchanged(self) -> bool {
        match self {
            Check::Ready(b) => b,
            Check::Thread(t) => t.join().unwrap_or(false),
        }
    }
}

/// What changed between the files a build generated and a [`Memory`]: from
/// [`Memory::plan`], for [`Memory::collisions`] and [`write_watched`].
pub struct Plan<'a> {
    /// Each group's fingerprint.
    fps: Vec<u64>,
    /// Groups whose fingerprint is not in the memory (their files were compared).
    examined: Vec<usize>,
    /// Files new or different from the memory: group, file, hash, identity.
    changed: Vec<(usize, &'a OutputFile, u64, Option<u64>)>,
    /// Paths of vanished groups that no group generates any more.
    stale: Vec<String>,
    /// A path or an identity that may be generated twice: the full check decides.
    doubt: bool,
    /// A placeholder group the memory does not know: the write must be a full one.
    incomplete: bool,
    /// How many files were hashed to compare them with the memory.
    hashed: usize,
}

impl Plan<'_> {
    /// How many generated files were hashed to compare them with the memory
    /// (those of the groups whose fingerprint it did not know).
    pub fn hashed(&self) -> usize {
        self.hashed
    }
}

impl Memory {
    /// Whether nothing is known (the next write is a full one).
    pub fn is_empty(&self) -> bool {
        self.out.is_none()
    }

    /// Starts comparing the stamps of the manifest and of every output directory
    /// with OUT on another thread (at 5,000 tenants 20,000 `fstatat` calls, as
    /// long as the rest of the build). [`write_watched`] takes the answer, and
    /// re-checks under the lock the manifest and the directories it writes in
    /// (a change to another directory in between is seen by the next build: its
    /// recorded stamp stays the old one).
    pub fn check(&mut self, out: &Path) -> Option<Check> {
        if self.out.as_deref() != Some(out) {
            return None;
        }
        if let Some(w) = self.watch.as_mut() {
            // Watched: no event since the last write, and OUT and its manifest
            // the same files (OUT replaced by another directory raises no event
            // in the old one).
            let quiet = !w.settle(&BTreeSet::new());
            let root = dir_stamps(out, &[""]);
            return Some(Check::Ready(
                quiet && self.manifest.is_some() && stamp(&out.join(MANIFEST)) == self.manifest && root == [self.dirs.get("").copied().flatten()],
            ));
        }
        let (dirs, manifest, out) = (self.dirs.clone(), self.manifest, out.to_path_buf());
        let spawned = std::thread::Builder::new().name("khc-out-check".into()).spawn(move || {
            manifest.is_some() && stamp(&out.join(MANIFEST)) == manifest && {
                let (names, want): (Vec<&str>, Vec<Option<Stamp>>) = dirs.iter().map(|(d, s)| (d.as_str(), *s)).unzip();
                dir_stamps(&out, &names) == want
            }
        });
        spawned.ok().map(Check::Thread)
    }

    fn clear(&mut self) {
        *self = Memory::default();
    }

    /// Compares the generated `groups` with the memory: a group whose fingerprint
    /// the memory holds is unchanged (not read); the files of the others are
    /// hashed and compared by path.
    pub fn plan<'a>(&self, groups: &[Group<'a>]) -> Plan<'a> {
        let fps: Vec<u64> = groups
            .iter()
            .map(|g| {
                g.fingerprint.unwrap_or_else(|| {
                    use std::hash::{Hash, Hasher};
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    g.files.len().hash(&mut h);
                    for f in &g.files {
                        f.hash(&mut h);
                    }
                    h.finish()
                })
            })
            .collect();
        let current: std::collections::HashSet<u64> = fps.iter().copied().collect();
        let mut doubt = current.len() != fps.len();
        let (mut examined, mut changed) = (Vec::new(), Vec::new());
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut delta: HashMap<u64, i64> = HashMap::new();
        let mut incomplete = false;
        for (gi, g) in groups.iter().enumerate() {
            if self.groups.contains_key(&fps[gi]) {
                continue;
            }
            // A placeholder (no files) the memory does not know.
            incomplete |= g.files.is_empty() && g.fingerprint.is_some();
            examined.push(gi);
            for &f in &g.files {
                doubt |= !seen.insert(&f.path);
                let hash = content_hash(&f.contents);
                match self.files.get(&f.path) {
                    // Still claimed by a group that did not change: generated twice.
                    Some(r) if current.contains(&r.group) => doubt = true,
                    Some(r) if r.hash == hash && r.len == f.contents.len() => continue,
                    Some(r) => {
                        if let Some(id) = r.id {
                            *delta.entry(id).or_default() -= 1;
                        }
                    }
                    None => {}
                }
                let id = khc_emit::collisions::identity_hash(f);
                if let Some(id) = id {
                    *delta.entry(id).or_default() += 1;
                }
                changed.push((gi, f, hash, id));
            }
        }
        let mut stale = Vec::new();
        for (fp, paths) in &self.groups {
            if current.contains(fp) {
                continue;
            }
            for p in paths {
                if !seen.contains(p.as_str()) {
                    if let Some(id) = self.files.get(p).and_then(|r| r.id) {
                        *delta.entry(id).or_default() -= 1;
                    }
                    stale.push(p.clone());
                }
            }
        }
        stale.sort();
        // An identity held by more files than before, and by more than one.
        doubt |= delta.iter().any(|(id, d)| *d > 0 && i64::from(self.ids.get(id).copied().unwrap_or(0)) + d > 1);
        let hashed = examined.iter().map(|&gi| groups[gi].files.len()).sum();
        Plan { fps, examined, changed, stale, doubt: doubt || incomplete, incomplete, hashed }
    }

    /// The collisions among `files` (all of them, as [`khc_emit::collisions::find`]
    /// reports them), checking only the changed files when the memory allows:
    /// the full check runs for a first build or when a path or an identity may
    /// be generated twice.
    pub fn collisions<'a>(&self, plan: &Plan<'a>, files: &dyn Fn() -> Vec<&'a OutputFile>) -> Vec<khc_emit::collisions::Collision> {
        if self.is_empty() || plan.doubt {
            khc_emit::collisions::find(&files())
        } else {
            Vec::new()
        }
    }

    /// Whether the last write was the incremental one (the memory matched OUT)
    /// and whether OUT's directories are watched (inotify) rather than stamped.
    pub fn last_write(&self) -> (bool, bool) {
        (self.incremental, self.watch.is_some())
    }

    /// How many generated files the memory knows (all of them, after a
    /// successful write).
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Records a successful write of `groups` (planned as `plan`): file records,
    /// groups and identities updated for what changed, and the stamps of the
    /// directories in `dirs` (`None`: every directory holding output) and of the
    /// manifest taken again.
    fn commit(&mut self, out: &Path, groups: &[Group<'_>], plan: &Plan<'_>, dirs: Option<BTreeSet<String>>) {
        let current: std::collections::HashSet<u64> = plan.fps.iter().copied().collect();
        for p in &plan.stale {
            if let Some(r) = self.files.remove(p) {
                self.forget_id(r.id);
            }
        }
        self.groups.retain(|fp, _| current.contains(fp));
        for &(gi, f, hash, id) in &plan.changed {
            let rec = Rec { hash, len: f.contents.len(), id, group: plan.fps[gi] };
            if let Some(old) = self.files.insert(f.path.clone(), rec) {
                self.forget_id(old.id);
            }
            if let Some(id) = id {
                *self.ids.entry(id).or_default() += 1;
            }
        }
        for &gi in &plan.examined {
            let fp = plan.fps[gi];
            for f in &groups[gi].files {
                if let Some(r) = self.files.get_mut(&f.path) {
                    r.group = fp;
                }
            }
            self.groups.insert(fp, groups[gi].files.iter().map(|f| f.path.clone()).collect());
        }
        let dirs: Vec<String> = match dirs {
            Some(d) => {
                // The writer's own events are those in the directories it wrote
                // in; new directories are watched from now on.
                if let Some(w) = self.watch.as_mut() {
                    w.settle(&d);
                    // (A directory the write removed is not watched again.)
                    if d.iter().any(|x| w.notify.watch(&w.root, x).is_none() && w.root.join(x).is_dir()) {
                        self.watch = None;
                    }
                }
                d.into_iter().collect()
            }
            None => {
                std::sync::Arc::make_mut(&mut self.dirs).clear();
                let all: BTreeSet<&str> = self.files.keys().flat_map(|p| ancestors(p)).collect();
                let all: Vec<String> = all.into_iter().map(String::from).collect();
                // Watched before the stamps are taken: a change in between is seen.
                self.watch = OutWatch::new(out, &all);
                all
            }
        };
        let refs: Vec<&str> = dirs.iter().map(String::as_str).collect();
        let stamps = dir_stamps(out, &refs);
        let recorded = std::sync::Arc::make_mut(&mut self.dirs);
        for (d, s) in dirs.into_iter().zip(stamps) {
            match s {
                Some(s) => recorded.insert(d, Some(s)),
                None => recorded.remove(&d),
            };
        }
        self.manifest = stamp(&out.join(MANIFEST));
        self.out = Some(out.to_path_buf());
    }

    fn forget_id(&mut self, id: Option<u64>) {
        if let Some(id) = id {
            if let Some(n) = self.ids.get_mut(&id) {
                *n -= 1;
                if *n == 0 {
                    self.ids.remove(&id);
                }
            }
        }
    }

    /// Whether the manifest and the directories `dirs` (those the write changes;
    /// [`Check`] compared all of them) still have the recorded inode, length,
    /// mtime and ctime (a file created, removed or renamed changes its
    /// directory's; any rewrite of the manifest replaces its inode). A directory
    /// the memory does not know (a new one) is checked as the full write checks
    /// it, by [`Tree`].
    fn matches(&mut self, out: &Path, dirs: &BTreeSet<String>) -> bool {
        let known: Vec<&str> = dirs.iter().map(String::as_str).filter(|d| self.dirs.contains_key(*d)).collect();
        let want: Vec<Option<Stamp>> = known.iter().map(|d| self.dirs[*d]).collect();
        let quiet = self.watch.as_mut().is_none_or(|w| !w.settle(&BTreeSet::new()));
        quiet && self.out.as_deref() == Some(out) && self.manifest.is_some() && stamp(&out.join(MANIFEST)) == self.manifest && dir_stamps(out, &known) == want
    }
}

/// [`write_tree`] for `khc build --watch`: with a [`Memory`] of the previous
/// write that still matches OUT (`check`: [`Memory::check`], answered here),
/// writes only the changed files of `plan` (and removes its stale ones) without
/// reading or `stat`ing the rest; otherwise (a first build, OUT changed behind
/// khc's back, another build wrote it) the full [`write_tree`] of `files()`.
/// `complete`, when `groups` hold placeholders (groups known unchanged, given
/// by their fingerprint alone: [`Group::files`] empty), gives every group with
/// its files, for the memory of a full write. Either way the memory then
/// describes the new tree, or is cleared when the write failed.
pub fn write_watched<'a>(
    out: &Path,
    files: &dyn Fn() -> Vec<&'a OutputFile>,
    (groups, plan): (&[Group<'a>], &Plan<'a>),
    check: Option<Check>,
    opts: &Options,
    memory: &mut Memory,
    complete: Option<&dyn Fn() -> Vec<Group<'a>>>,
) -> Result<Stats, String> {
    let unchanged = check.is_some_and(Check::unchanged);
    let fast = if memory.is_empty() || !unchanged || plan.incomplete { None } else { write_incremental(out, groups, plan, opts, memory) };
    let incremental = fast.is_some();
    let result = match fast {
        Some(r) => r,
        None => {
            memory.clear();
            let r = write_tree(out, &files(), opts);
            if r.is_ok() {
                // Everything was compared and written: record it all.
                match complete {
                    Some(complete) => {
                        let all = complete();
                        let plan = memory.plan(&all);
                        memory.commit(out, &all, &memory_plan_all(&all, &plan), None);
                    }
                    None => memory.commit(out, groups, &memory_plan_all(groups, plan), None),
                }
            }
            r
        }
    };
    match &result {
        Ok(stats) if stats.kept.is_empty() => {}
        // Files the manifest keeps that the memory does not know: start over.
        _ => memory.clear(),
    }
    memory.incremental = incremental;
    result
}

/// The plan against an empty memory: every file new (hashes and identities
/// reused from `plan` where it has them).
fn memory_plan_all<'a>(groups: &[Group<'a>], plan: &Plan<'a>) -> Plan<'a> {
    let known: HashMap<&str, (u64, Option<u64>)> = plan.changed.iter().map(|&(_, f, h, id)| (f.path.as_str(), (h, id))).collect();
    let mut changed = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        for &f in &g.files {
            let (h, id) = known.get(f.path.as_str()).copied().unwrap_or_else(|| (content_hash(&f.contents), khc_emit::collisions::identity_hash(f)));
            changed.push((gi, f, h, id));
        }
    }
    Plan { fps: plan.fps.clone(), examined: (0..groups.len()).collect(), changed, stale: Vec::new(), doubt: false, incomplete: false, hashed: 0 }
}

/// The directories a planned write changes (and their ancestors, and OUT).
fn touched(plan: &Plan<'_>) -> BTreeSet<String> {
    let mut touched: BTreeSet<String> = BTreeSet::from([String::new()]);
    for p in plan.changed.iter().map(|c| c.1.path.as_str()).chain(plan.stale.iter().map(String::as_str)) {
        touched.extend(ancestors(p).map(String::from));
    }
    touched
}

/// The incremental write of [`write_watched`]; `None` when the memory does not
/// match OUT (the full write runs instead; nothing was changed).
fn write_incremental(out: &Path, groups: &[Group<'_>], plan: &Plan<'_>, opts: &Options, memory: &mut Memory) -> Option<Result<Stats, String>> {
    // 1. New paths are valid and fit the file system.
    for &(_, f, _, _) in &plan.changed {
        if !memory.files.contains_key(&f.path) {
            if let Err(e) = validate(&f.path)
                .and_then(|()| khc_shaped(&f.path))
                .map_err(|why| format!("internal error: khc generated the path {:?}, which is {why}", f.path))
            {
                return Some(Err(e));
            }
            if let Err(e) = check_length(out, &f.path) {
                return Some(Err(e));
            }
        }
    }
    // 2. Locked, and OUT is as the last write left it (checked under the lock).
    let root = match crate::dirfd::Root::open(out) {
        Ok(r) => r,
        Err(_) => return None,
    };
    let lock = match lock(out, &root) {
        Ok(l) => l,
        Err(e) => return Some(Err(e)),
    };
    if !memory.matches(out, &touched(plan)) {
        return None;
    }
    let r = incremental_locked(out, root, groups, plan, opts, memory);
    drop(lock);
    Some(r)
}

fn incremental_locked(
    out: &Path,
    root: crate::dirfd::Root,
    groups: &[Group<'_>],
    plan: &Plan<'_>,
    opts: &Options,
    memory: &mut Memory,
) -> Result<Stats, String> {
    let mut tree = Tree::new(out, root);
    // 3. Inspect only the targets that change: a new path holding something not
    //    ours is foreign; one already holding the new bytes needs no write.
    let mut new_paths: Vec<&str> = Vec::new();
    let mut to_write: Vec<&OutputFile> = Vec::new();
    let mut foreign: Vec<&str> = Vec::new();
    for &(_, f, _, _) in &plan.changed {
        let ours = memory.files.contains_key(&f.path);
        if !ours {
            new_paths.push(&f.path);
        }
        match tree.file(&f.path)? {
            FileState::Absent => to_write.push(f),
            FileState::File(len) => {
                if ours || !tree.same(&f.path, len, f.contents.as_bytes()) {
                    if !ours {
                        foreign.push(&f.path);
                    }
                    to_write.push(f);
                }
            }
        }
    }
    refuse_foreign(out, &foreign, opts)?;
    let mut stale_present: Vec<&str> = Vec::new();
    for p in &plan.stale {
        if let FileState::File(_) = tree.file(p)? {
            stale_present.push(p);
        }
    }
    let paths_change = !new_paths.is_empty() || !plan.stale.is_empty();
    let touched = touched(plan);
    if to_write.is_empty() && stale_present.is_empty() && !paths_change {
        memory.commit(out, groups, plan, Some(touched));
        return Ok(Stats { changed: 0, removed: 0, kept: Vec::new() });
    }

    // 4. Journal: the new paths and the "incomplete" mark appended to the
    //    manifest (each append leaves a valid manifest: a torn last line is a
    //    comment or one more khc-shaped path), so a build killed from here on is
    //    completed by the next one, which also removes leftover temporary files.
    //    Appending, not rewriting, keeps this step independent of the tree's size.
    let manifest_len = memory.manifest.map_or(0, |s| s.2);
    let path = out.join(MANIFEST);
    let journal = (|| -> std::io::Result<()> {
        let mut f = tree.root.open_write(MANIFEST, true)?;
        let mut text = String::new();
        for p in &new_paths {
            text.push_str(p);
            text.push('\n');
        }
        text.push_str(INCOMPLETE);
        text.push('\n');
        f.write_all(text.as_bytes())?;
        if opts.fsync {
            f.sync_all()?;
        }
        Ok(())
    })();
    journal.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    test_hook_step();

    // 5. The changed files, 6. the stale ones.
    write_files(&mut tree, &to_write, opts)?;
    let (removed, kept) = remove_stale(&tree, &stale_present);

    // 7. The final manifest: the journal cut back to what it was when no path
    //    changed (one `ftruncate`), else rewritten atomically.
    if paths_change || !kept.is_empty() {
        let mut entries: BTreeSet<&str> = memory.files.keys().map(String::as_str).collect();
        for p in &plan.stale {
            entries.remove(p.as_str());
        }
        entries.extend(new_paths.iter().copied());
        entries.extend(kept.iter().map(|(p, _)| *p));
        write_manifest(&tree, &entries, false, opts.fsync)?;
    } else {
        let cut = (|| -> std::io::Result<()> {
            let f = tree.root.open_write(MANIFEST, false)?;
            f.set_len(manifest_len)?;
            if opts.fsync {
                f.sync_all()?;
            }
            Ok(())
        })();
        cut.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if opts.fsync {
        let _ = tree.root.sync_dir("");
    }
    let stats = Stats { changed: to_write.len(), removed, kept: kept.into_iter().map(|(_, why)| why).collect() };
    drop(tree);
    memory.commit(out, groups, plan, Some(touched));
    Ok(stats)
}
