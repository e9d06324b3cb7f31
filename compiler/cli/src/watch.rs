//! `khc build --watch`: keep the database warm and rebuild when sources change.
//!
//! Change detection polls file metadata (length, modification time, inode) of
//! every source the programs read, and of the `*.khc` files of the project
//! directory (new entries), every [`POLL`]; a change is built once the files have
//! been quiet for [`QUIET`] (an editor's save or a `git checkout` is one rebuild,
//! not one per file). Only changed files are read again; salsa re-checks and
//! re-emits only what depends on them, and the writer rewrites only files whose
//! bytes changed. A build with errors writes nothing, so the previous output stays
//! as it was. SIGINT/SIGTERM (Ctrl-C) stop the loop between builds: a write in
//! progress completes, the lock on OUT is released, and khc exits with code 0.
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

/// Set by SIGINT/SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
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

/// A file's identity and version as far as metadata tells: `None` when absent.
type Stamp = Option<(u64, i64, i64, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((m.len(), m.mtime(), m.mtime_nsec(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let t = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default();
        Some((m.len(), t.as_secs() as i64, i64::from(t.subsec_nanos()), 0))
    }
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
/// file appeared in it) and then stayed quiet; `None` when asked to stop.
fn wait_for_change(project: &Project, dir_mode: bool, baseline: &BTreeMap<FileKey, Stamp>) -> Option<(Vec<FileKey>, BTreeMap<FileKey, Stamp>)> {
    let root = project.db.root();
    let sources = watched(project, false);
    let keys = || {
        if !dir_mode {
            return sources.clone();
        }
        let mut keys = watched(project, true);
        keys.extend(sources.iter().cloned());
        keys.sort();
        keys.dedup();
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
            continue;
        }
        // Debounce: wait until nothing moved for QUIET.
        let mut last_change = Instant::now();
        loop {
            if STOP.load(Ordering::SeqCst) {
                return None;
            }
            std::thread::sleep(POLL.min(QUIET));
            let next = snapshot(root, &keys());
            if next != now {
                now = next;
                last_change = Instant::now();
            } else if last_change.elapsed() >= QUIET {
                break;
            }
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
/// the given note (what changed, and the time since the given start).
pub fn run(path: &Path, mut build: impl FnMut(&mut Project, Instant, &str)) -> Result<(), String> {
    install_signal_handlers();
    let dir_mode = std::fs::metadata(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?.is_dir();
    let started = Instant::now();
    let mut project = Project::open(path)?;
    let root: PathBuf = project.db.root().to_path_buf();
    let mut keys = watched(&project, dir_mode);
    let mut baseline = snapshot(&root, &keys);
    build(&mut project, started, "");
    say!("khc: watching {} source file{} for changes (Ctrl-C to stop)", keys.len(), if keys.len() == 1 { "" } else { "s" });
    while let Some((changed, now)) = wait_for_change(&project, dir_mode, &baseline) {
        let started = Instant::now();
        let names: Vec<&str> = changed.iter().take(3).map(|k| &**k).collect();
        let more = if changed.len() > 3 { format!(" and {} more", changed.len() - 3) } else { String::new() };
        let trigger = format!("after changes to {}{more}", names.join(", "));
        if let Err(e) = refresh(&mut project, dir_mode, &changed) {
            say!("error: {e}");
        } else {
            build(&mut project, started, &trigger);
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
