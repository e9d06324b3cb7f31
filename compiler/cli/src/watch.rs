//! `khc build --watch`: keep the database warm and rebuild when sources change.
//!
//! Change detection polls file metadata (length, modification time, inode) of
//! every source the programs read, and of the `*.khc` files of the project
//! directory (new entries), every [`POLL`]; a change is built once the files have
//! been quiet for [`QUIET`] (an editor's save or a `git checkout` is one rebuild,
//! not one per file). Only changed files are read again; salsa re-checks and
//! re-emits only what depends on them, and the writer rewrites only files whose
//! bytes changed, found from the memos that changed and what it recorded of its
//! last write (`write::Memory`), without reading the rest of OUT. A build with errors writes nothing, so the previous output stays
//! as it was. A build whose write failed (OUT locked by another build, a foreign
//! file, an I/O error) is tried again after [`RETRY`]. SIGINT/SIGTERM (Ctrl-C)
//! stop the loop: between builds khc exits at once with code 0; during a build the
//! writer stops between files, and after [`STOP_GRACE`] khc exits (code 130) even
//! if the compile is still running; a second Ctrl-C exits at once (130). Either
//! way the lock on OUT is released and the writer's journal lets the next build
//! complete an interrupted write.
//!
//! A file is changed when its length, modification time or inode changed, or,
//! while it was modified less than [`RECENT`] ago, its contents hash: a save of the
//! same length within the file system's timestamp granularity is not missed.
//!
//! Polling instead of inotify (the `notify` crate): no new dependency, and it
//! works the same on every file system — network and container bind mounts, where
//! inotify sees no events, and through symbolic links; a poll of a few thousand
//! `stat` calls costs well under a millisecond per thousand files.

use khc_db::{FileContents, Project};
use khc_syntax::FileKey;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often sources are polled.
pub const POLL: Duration = Duration::from_millis(100);
/// How long sources must be unchanged before a rebuild starts.
pub const QUIET: Duration = Duration::from_millis(150);

/// How long a stop asked for by the first Ctrl-C may wait for the running build
/// before khc exits anyway (the writer's journal lets the next build complete OUT).
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// How soon a build whose write failed (OUT locked by another build, a foreign
/// file, an I/O error) is tried again when no source changes.
pub const RETRY: Duration = Duration::from_secs(2);
/// Files modified this recently are also compared by contents: a save of the same
/// length within the file system's timestamp granularity leaves length, mtime and
/// inode unchanged.
const RECENT: Duration = Duration::from_secs(3);

/// Set by SIGINT/SIGTERM.
pub static STOP: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic swap and `_exit`: async-signal-safe. A second Ctrl-C exits at
    // once (an interrupted write is completed by the next build).
    if STOP.swap(true, Ordering::SeqCst) {
        // SAFETY: `_exit` is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
}

/// After the first Ctrl-C, gives the running build [`STOP_GRACE`] to finish (the
/// writer stops between files), then exits: the stop is bounded.
fn start_stop_watchdog() {
    std::thread::spawn(|| {
        while !STOP.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(STOP_GRACE);
        say!("khc: stopped watching (the interrupted build is completed by the next one)");
        std::process::exit(130);
    });
}

/// Routes SIGINT and SIGTERM to [`STOP`] (the default would kill khc mid-write;
/// the writer's journal would recover, but a clean stop is nicer).
fn install_signal_handlers() {
    #[cfg(unix)]
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// A file's identity and version: length, modification time, inode and, for a
/// recently modified file, a hash of its contents (`None` when absent).
#[derive(Clone, Copy, Debug)]
struct Meta {
    len: u64,
    secs: i64,
    nanos: i64,
    ino: u64,
    hash: Option<u64>,
}

impl PartialEq for Meta {
    /// Same metadata, and the same contents when both sides hashed them (a file
    /// that aged out of [`RECENT`] is not a change).
    fn eq(&self, o: &Self) -> bool {
        (self.len, self.secs, self.nanos, self.ino) == (o.len, o.secs, o.nanos, o.ino) && (self.hash.is_none() || o.hash.is_none() || self.hash == o.hash)
    }
}

type Stamp = Option<Meta>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    let modified = m.modified().ok();
    #[cfg(unix)]
    let (secs, nanos, ino) = {
        use std::os::unix::fs::MetadataExt;
        (m.mtime(), m.mtime_nsec(), m.ino())
    };
    #[cfg(not(unix))]
    let (secs, nanos, ino) = {
        let t = modified.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default();
        (t.as_secs() as i64, i64::from(t.subsec_nanos()), 0)
    };
    // Recent (or in the future): the timestamp may not tell two saves apart.
    let recent = modified.is_none_or(|t| t.elapsed().map_or(true, |age| age < RECENT));
    let hash = (recent && m.is_file()).then(|| content_hash(path)).flatten();
    Some(Meta { len: m.len(), secs, nanos, ino, hash })
}

/// A hash of a regular file's contents (read through [`khc_db::read_source`]: never
/// blocks on a FIFO, capped in size).
fn content_hash(path: &Path) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match khc_db::read_source(path) {
        FileContents::Text(t) => t.hash(&mut h),
        FileContents::Missing(why) => why.hash(&mut h),
    }
    Some(h.finish())
}

/// The files to watch: every source the database knows (not the standard
/// library), and, for a directory project, its `*.khc` files.
fn watched(project: &Project, dir_mode: bool) -> Vec<FileKey> {
    let db = &project.db;
    // Standard-library keys (`std/…`, khc_semantics::STD_PREFIX) are embedded, never read.
    let mut keys: Vec<FileKey> = db.loaded().iter().map(|f| f.key(db).clone()).filter(|k| !k.starts_with("std/")).collect();
    if dir_mode {
        if let Ok(rd) = std::fs::read_dir(db.root()) {
            for e in rd.flatten() {
                if let Some(n) = e.file_name().to_str().filter(|n| n.ends_with(".khc")) {
                    keys.push(FileKey::from(n));
                }
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

fn snapshot(root: &Path, keys: &[FileKey]) -> BTreeMap<FileKey, Stamp> {
    keys.iter().map(|k| (k.clone(), stamp(&root.join(&**k)))).collect()
}

/// Waits until a watched file changed (or, for a directory project, a `*.khc`
/// file appeared in it) and then stayed quiet; `None` when asked to stop. With
/// `retry_at`, returns no changed files at that moment if nothing changed before
/// (a failed write is tried again).
fn wait_for_change(
    project: &Project,
    dir_mode: bool,
    baseline: &BTreeMap<FileKey, Stamp>,
    retry_at: Option<Instant>,
) -> Option<(Vec<FileKey>, BTreeMap<FileKey, Stamp>)> {
    let root = project.db.root();
    // The sources the programs read, listed once per wait (not per poll); in a
    // directory project each poll also lists the directory for new `*.khc` files.
    let sources = watched(project, false);
    let keys = || {
        if !dir_mode {
            return sources.clone();
        }
        let mut keys = sources.clone();
        if let Ok(rd) = std::fs::read_dir(root) {
            for e in rd.flatten() {
                if let Some(n) = e.file_name().to_str().filter(|n| n.ends_with(".khc")) {
                    let k = FileKey::from(n);
                    if sources.binary_search(&k).is_err() {
                        keys.push(k);
                    }
                }
            }
        }
        keys
    };
    let changed =
        |now: &BTreeMap<FileKey, Stamp>| -> Vec<FileKey> { now.iter().filter(|(k, s)| baseline.get(*k) != Some(s)).map(|(k, _)| k.clone()).collect() };
    loop {
        if STOP.load(Ordering::SeqCst) {
            return None;
        }
        std::thread::sleep(POLL);
        let mut now = snapshot(root, &keys());
        if changed(&now).is_empty() {
            if retry_at.is_some_and(|t| Instant::now() >= t) {
                return Some((Vec::new(), baseline.clone()));
            }
            continue;
        }
        // Debounce: one look QUIET after the last change seen; another change
        // waits QUIET again (so a save is built QUIET after it was seen, not a
        // poll or two later).
        loop {
            std::thread::sleep(QUIET);
            if STOP.load(Ordering::SeqCst) {
                return None;
            }
            let next = snapshot(root, &keys());
            if next == now {
                break;
            }
            now = next;
        }
        let files = changed(&now);
        if !files.is_empty() {
            return Some((files, now));
        }
    }
}

/// Reads the changed files into the database (and, for a directory, finds new
/// or removed entries), then loads any new imports.
fn refresh(project: &mut Project, dir_mode: bool, changed: &[FileKey]) -> Result<(), String> {
    let root = project.db.root().to_path_buf();
    let updates: Vec<(FileKey, FileContents)> = changed.iter().map(|k| (k.clone(), khc_db::read_source(&root.join(&**k)))).collect();
    project.db.set_contents_many(updates);
    if dir_mode {
        let (entries, unreadable) = khc_db::discover_entries(&mut project.db)?;
        project.entries = entries;
        project.unreadable = unreadable;
    }
    for e in project.entries.clone() {
        project.db.load_program(e);
    }
    Ok(())
}

/// Builds once, then again after every change until SIGINT/SIGTERM. `build`
/// checks and writes, printing diagnostics and one summary line, which ends with
/// the given note (what changed, and the time since the given start); it returns
/// whether the write failed (tried again after [`RETRY`] if no source changes).
pub fn run(path: &Path, mut build: impl FnMut(&mut Project, Instant, &str) -> bool) -> Result<(), String> {
    install_signal_handlers();
    start_stop_watchdog();
    let dir_mode = std::fs::metadata(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?.is_dir();
    let started = Instant::now();
    let mut project = Project::open(path)?;
    let root: PathBuf = project.db.root().to_path_buf();
    let mut keys = watched(&project, dir_mode);
    let mut baseline = snapshot(&root, &keys);
    let mut failed = build(&mut project, started, "");
    say!("khc: watching {} source file{} for changes (Ctrl-C to stop)", keys.len(), if keys.len() == 1 { "" } else { "s" });
    loop {
        let retry_at = failed.then(|| Instant::now() + RETRY);
        let Some((changed, now)) = wait_for_change(&project, dir_mode, &baseline, retry_at) else { break };
        let started = Instant::now();
        let names: Vec<&str> = changed.iter().take(3).map(|k| &**k).collect();
        let more = if changed.len() > 3 { format!(" and {} more", changed.len() - 3) } else { String::new() };
        let trigger = if changed.is_empty() { "retrying the failed write".to_string() } else { format!("after changes to {}{more}", names.join(", ")) };
        if let Err(e) = refresh(&mut project, dir_mode, &changed) {
            say!("error: {e}");
            failed = true;
        } else {
            failed = build(&mut project, started, &trigger);
        }
        // The state just read is the new baseline; files that appeared with this
        // build (new imports, new entries) start from their current state.
        keys = watched(&project, dir_mode);
        let mut next = now;
        for k in &keys {
            if !next.contains_key(k) {
                next.insert(k.clone(), stamp(&root.join(&**k)));
            }
        }
        next.retain(|k, _| keys.contains(k));
        baseline = next;
    }
    say!("khc: stopped watching");
    // The process ends here: skip tearing down the database.
    std::mem::forget(project);
    Ok(())
}
