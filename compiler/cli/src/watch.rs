//! `khc build --watch`: keep the database warm and rebuild when sources change.
//!
//! Change detection ([`Watcher`]): the directories holding the sources the
//! programs read (and, for a directory project, the project directory, for new
//! `*.khc` files) are watched with inotify; an event names a file, which is then
//! looked at (its [`Meta`] stamp compared with the last build's). Files inotify
//! cannot see are polled every [`POLL`] instead: on network and FUSE file
//! systems, symbolic links, directories that cannot be watched, systems without
//! inotify, or everything with `KHC_WATCH_POLL=1`. Every [`RESCAN`] every
//! source is looked at anyway. A change is built once the files have been quiet
//! for [`QUIET`] (an editor's save or a `git checkout` is one rebuild, not one per
//! file). Only changed files are read again; salsa re-checks and re-emits only
//! what depends on them, and the writer rewrites only files whose bytes changed,
//! found from the memos that changed and what it recorded of its last write
//! (`write::Memory`), without reading the rest of OUT. A build with errors writes
//! nothing, so the previous output stays as it was. A build whose write failed
//! (OUT locked by another build, a foreign file, an I/O error) is tried again
//! after [`RETRY`]. SIGINT/SIGTERM (Ctrl-C) stop the loop: between builds khc
//! exits at once with code 0; during a build the writer stops between files, and
//! after [`STOP_GRACE`] khc exits (code 130) even if the compile is still
//! running; a second Ctrl-C exits at once (130). Either way the lock on OUT is
//! released and the writer's journal lets the next build complete an interrupted
//! write.
//!
//! A file is changed when its length, modification time or inode changed, or,
//! while it was modified less than [`RECENT`] ago, its contents hash: a save of the
//! same length within the file system's timestamp granularity is not missed.
//!
//! Why inotify and not only polling: polling 5,000 sources every 100 ms cost
//! about a tenth of a core while nothing changed, and half a poll of latency per
//! edit; waiting on inotify costs nothing between edits. It is called through
//! `libc` (already a dependency; the `notify` crate would add a dozen crates for
//! the one system call set khc uses), and polling stays for what inotify
//! cannot see.

use crate::write::Group;
use khc_db::programs::ItemRef;
use khc_db::{FileContents, ItemId, KhcDatabase, LiveDiagnostics, Project, SourceFile};
use khc_syntax::Diagnostic;
use khc_syntax::FileKey;
use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often polled sources are looked at (and, with change notification, how
/// often the wait for events wakes up to see Ctrl-C).
pub const POLL: Duration = Duration::from_millis(100);
/// With change notification, how often every source is looked at anyway (an
/// event missed, e.g. a hard link edited through another directory).
pub const RESCAN: Duration = Duration::from_secs(10);
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
    stamp_of(path, std::fs::metadata(path).ok()?)
}

/// [`stamp`] from the file's metadata (of the file, not of a link to it).
fn stamp_of(path: &Path, m: std::fs::Metadata) -> Stamp {
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
        keys.extend(khc_files(db.root()));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The `*.khc` files of directory `root`.
fn khc_files(root: &Path) -> Vec<FileKey> {
    let dir = if root.as_os_str().is_empty() { Path::new(".") } else { root };
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.flatten().filter_map(|e| e.file_name().to_str().filter(|n| n.ends_with(".khc")).map(FileKey::from)).collect()
}

/// The directory part of a key as written (`""` for a file of the root).
fn dir_of(key: &str) -> &str {
    key.rsplit_once('/').map_or("", |(d, _)| d)
}

/// Watches the sources and tells which changed: change notification where the
/// operating system gives it ([`crate::notify::Notify`], inotify on Linux), polling for
/// the rest, and a stamp ([`Meta`]) compared with the last build's either way.
///
/// A source is polled every [`POLL`] instead of notified when its directory
/// cannot be watched (it does not exist, the watch limit is reached, or it is on
/// a network or FUSE file system, where changes made on another machine or
/// through the host raise no event), when it is a symbolic link (an event names
/// the link, not a change of its target), without inotify, or with
/// `KHC_WATCH_POLL=1`. Every notified source is also looked at every
/// [`RESCAN`], in case an event was missed (a hard link edited through another
/// directory raises its event there).
struct Watcher {
    /// The change notification, if the system has it (and polling is not forced).
    notify: Option<crate::notify::Notify>,
    /// Directories (as written in keys) that are polled rather than notified.
    polled_dirs: std::collections::HashSet<String>,
    /// Sources that are symbolic links (polled), as of their last look.
    links: std::collections::HashSet<FileKey>,
    /// When every source was last looked at.
    rescanned: Instant,
}

/// What one wait found: the changed files and the stamps of every file looked at.
type Found = (Vec<FileKey>, BTreeMap<FileKey, Stamp>);

impl Watcher {
    fn new() -> Watcher {
        Watcher {
            notify: crate::notify::Notify::new(crate::notify::SOURCES),
            polled_dirs: std::collections::HashSet::new(),
            links: std::collections::HashSet::new(),
            rescanned: Instant::now(),
        }
    }

    /// The stamp of each of `keys` ([`Watcher::look`]).
    fn look_all(&mut self, root: &Path, keys: &BTreeSet<FileKey>) -> BTreeMap<FileKey, Stamp> {
        keys.iter().map(|k| (k.clone(), self.look(root, k))).collect()
    }

    /// A file's stamp, noting whether it is a symbolic link.
    fn look(&mut self, root: &Path, key: &FileKey) -> Stamp {
        let path = root.join(&**key);
        // One `lstat`; a second call (`stat`) only for a link.
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                self.links.insert(key.clone());
                stamp(&path)
            }
            Ok(m) => {
                self.links.remove(key);
                stamp_of(&path, m)
            }
            Err(_) => {
                self.links.remove(key);
                None
            }
        }
    }

    /// Waits until a watched file changed (or, for a directory project, a
    /// `*.khc` file appeared in it) and then stayed quiet for [`QUIET`]; `None`
    /// when asked to stop. With `retry_at`, returns no changed files at that
    /// moment if nothing changed before (a failed write is tried again).
    fn wait(&mut self, project: &Project, dir_mode: bool, baseline: &BTreeMap<FileKey, Stamp>, retry_at: Option<Instant>) -> Option<Found> {
        let root = project.db.root();
        // The sources the programs read, listed once per wait (not per look).
        let sources = watched(project, false);
        // Watch their directories (and the project's); a directory watched for
        // the first time has its files looked at once (a change just before the
        // watch began raised no event).
        let mut dirs: Vec<&str> = sources.iter().map(|k| dir_of(k)).collect();
        if dir_mode {
            dirs.push("");
        }
        dirs.sort_unstable();
        dirs.dedup();
        let mut fresh: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for &d in &dirs {
            let notified = match self.notify.as_mut() {
                Some(n) => match n.watch(root, d) {
                    Some(new) => {
                        if new {
                            fresh.insert(d);
                        }
                        true
                    }
                    None => false,
                },
                None => false,
            };
            if notified {
                self.polled_dirs.remove(d);
            } else {
                self.polled_dirs.insert(d.to_string());
            }
        }
        let in_sources = |k: &str| sources.binary_search_by(|s| (**s).cmp(k)).is_ok();
        // The files to look at on every tick: the polled ones.
        let polled: Vec<FileKey> = sources.iter().filter(|k| self.polled_dirs.contains(dir_of(k)) || self.links.contains(*k)).cloned().collect();
        let list_root = dir_mode && self.polled_dirs.contains("");
        let mut first: BTreeSet<FileKey> = sources.iter().filter(|k| fresh.contains(dir_of(k))).cloned().collect();
        if dir_mode && fresh.contains("") {
            first.extend(khc_files(root).into_iter().filter(|k| !in_sources(k)));
        }
        let changed = |now: &BTreeMap<FileKey, Stamp>| -> Vec<FileKey> {
            now.iter().filter(|(k, s)| baseline.get(*k).map_or(s.is_some(), |b| b != *s)).map(|(k, _)| k.clone()).collect()
        };
        // One tick: the files an event named (or every file, when events were
        // lost or a rescan is due), the polled ones, and new `*.khc` files.
        let tick = |this: &mut Watcher, wait: Duration, candidates: &mut BTreeSet<FileKey>| -> bool {
            let mut seen = false;
            match this.notify.as_mut() {
                Some(n) => match n.wait(wait) {
                    Ok(events) => {
                        for ev in events {
                            if ev.gone {
                                // A directory went away: look at everything.
                                candidates.extend(sources.iter().cloned());
                                seen = true;
                                continue;
                            }
                            let key = if ev.dir.is_empty() { ev.name } else { format!("{}/{}", ev.dir, ev.name) };
                            if in_sources(&key) || (dir_mode && !key.contains('/') && key.ends_with(".khc")) {
                                candidates.insert(FileKey::from(key.as_str()));
                                seen = true;
                            }
                        }
                    }
                    Err(crate::notify::Lost) => {
                        candidates.extend(sources.iter().cloned());
                        seen = true;
                    }
                },
                None => std::thread::sleep(wait),
            }
            if this.notify.is_some() && this.rescanned.elapsed() >= RESCAN {
                candidates.extend(sources.iter().cloned());
                this.rescanned = Instant::now();
            }
            candidates.extend(polled.iter().cloned());
            if list_root {
                candidates.extend(khc_files(root).into_iter().filter(|k| !in_sources(k)));
            }
            seen
        };
        let mut candidates: BTreeSet<FileKey> = std::mem::take(&mut first);
        loop {
            if STOP.load(Ordering::SeqCst) {
                return None;
            }
            // Without notification a tick is a poll; with it, a wait for events
            // that wakes up every POLL to see Ctrl-C and the polled files.
            tick(self, POLL, &mut candidates);
            let mut now = self.look_all(root, &candidates);
            if changed(&now).is_empty() {
                candidates.clear();
                if retry_at.is_some_and(|t| Instant::now() >= t) {
                    return Some((Vec::new(), BTreeMap::new()));
                }
                continue;
            }
            // Debounce: QUIET after the last event (without events, one look
            // QUIET after the change was seen), again while the files still move
            // (an editor's save or a `git checkout` is one rebuild).
            loop {
                let mut until = Instant::now() + QUIET;
                while let Some(left) = until.checked_duration_since(Instant::now()) {
                    if STOP.load(Ordering::SeqCst) {
                        return None;
                    }
                    if tick(self, left.min(POLL), &mut candidates) {
                        until = Instant::now() + QUIET;
                    }
                    if self.notify.is_none() {
                        break;
                    }
                }
                if self.notify.is_none() {
                    // Polling: the rest of QUIET, then one look (as before events).
                    if let Some(left) = until.checked_duration_since(Instant::now()) {
                        std::thread::sleep(left);
                    }
                }
                let next = self.look_all(root, &candidates);
                // Notified files are still once QUIET passed without an event
                // (a look during a save, between its truncate and its write, is
                // no reason to wait QUIET again); polled ones once they look
                // the same twice.
                let settled = if self.notify.is_some() { polled.iter().all(|k| next.get(k) == now.get(k)) } else { next == now };
                now = next;
                if settled {
                    break;
                }
            }
            let files = changed(&now);
            if !files.is_empty() {
                return Some((files, now));
            }
            candidates.clear();
        }
    }
}

/// Reads the changed files into the database (and, for a directory, finds new
/// or removed entries), then loads any new imports.
fn refresh(project: &mut Project, dir_mode: bool, changed: &[FileKey]) -> Result<(), String> {
    let root = project.db.root().to_path_buf();
    let updates: Vec<(FileKey, FileContents)> = changed.iter().map(|k| (k.clone(), khc_db::read_source(&root.join(&**k)))).collect();
    // Read again with the durability they were first read with (medium, as
    // every file from disk): a file set to low durability on its first edit
    // would drop the durability of every chunk memo holding it, and salsa
    // cannot backdate a value whose durability dropped, so the whole-program
    // queries over those chunks (the program's files, its scope, the namespace
    // owners, the cluster's lints) would run again on the first edit of each
    // file. Medium keeps them backdated; the price is that each edit verifies
    // the medium memos it reaches again (a few per file, no re-execution).
    project.db.set_contents_many_durable(updates, khc_db::Durability::MEDIUM);
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
pub fn run(path: &Path, mut build: impl FnMut(&mut Project, Instant, &str, &[FileKey]) -> bool) -> Result<(), String> {
    install_signal_handlers();
    start_stop_watchdog();
    let dir_mode = std::fs::metadata(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?.is_dir();
    let started = Instant::now();
    let mut project = Project::open(path)?;
    let root: PathBuf = project.db.root().to_path_buf();
    let mut watcher = Watcher::new();
    let keys = watched(&project, dir_mode);
    let mut baseline: BTreeMap<FileKey, Stamp> = keys.iter().map(|k| (k.clone(), watcher.look(&root, k))).collect();
    let mut failed = build(&mut project, started, "", &[]);
    say!("khc: watching {} source file{} for changes (Ctrl-C to stop)", keys.len(), if keys.len() == 1 { "" } else { "s" });
    loop {
        let retry_at = failed.then(|| Instant::now() + RETRY);
        let Some((changed, now)) = watcher.wait(&project, dir_mode, &baseline, retry_at) else { break };
        let started = Instant::now();
        let names: Vec<&str> = changed.iter().take(3).map(|k| &**k).collect();
        let more = if changed.len() > 3 { format!(" and {} more", changed.len() - 3) } else { String::new() };
        let trigger = if changed.is_empty() { "retrying the failed write".to_string() } else { format!("after changes to {}{more}", names.join(", ")) };
        if let Err(e) = refresh(&mut project, dir_mode, &changed) {
            say!("error: {e}");
            failed = true;
        } else {
            failed = build(&mut project, started, &trigger, &changed);
        }
        // The state just read is the new baseline; files that appeared with this
        // build (new imports, new entries) start from their current state.
        baseline.extend(now);
        let keys = watched(&project, dir_mode);
        for k in &keys {
            if !baseline.contains_key(k) {
                let s = watcher.look(&root, k);
                baseline.insert(k.clone(), s);
            }
        }
        if baseline.len() != keys.len() {
            baseline.retain(|k, _| keys.binary_search(k).is_ok());
        }
    }
    say!("khc: stopped watching");
    // The process ends here: skip tearing down the database.
    std::mem::forget(project);
    Ok(())
}

/// What `khc build --watch` keeps between builds besides the database, so that
/// a rebuild's work follows the edit, not the fleet: the memory of OUT
/// ([`crate::write::Memory`]), and per entry its diagnostics kept up to date
/// file by file ([`LiveDiagnostics`], as the language server keeps them) and
/// the fingerprint of each tenant's files at the last write. A rebuild then
/// re-reads the units of the changed files (and of the files that name a
/// tenant whose facts changed), re-emits only those files' tenants, and gives
/// the writer every other tenant by its last fingerprint: no memo of an
/// unchanged tenant is verified.
#[derive(Default)]
pub struct Warm {
    /// What the last write left in OUT.
    pub memory: crate::write::Memory,
    entries: HashMap<SourceFile, Entry>,
    /// Tenants the current build asked the database for (emitted or verified).
    emitted: usize,
}

/// One entry's part of [`Warm`].
struct Entry {
    live: LiveDiagnostics,
    /// The fingerprint of each tenant's files when they were last emitted.
    fingerprints: HashMap<ItemRef, u64>,
    /// The tenants whose checks may have changed since they were last
    /// emitted; `None`: any (the next emission reads them all).
    dirty: Option<std::collections::HashSet<ItemRef>>,
}

impl Warm {
    /// The diagnostics of `entry` after the files `changed` (keys) were read
    /// again: those of [`khc_db::diagnostics`], kept up to date at the cost of
    /// the changed files. Notes which tenants must be emitted again.
    pub fn diagnostics(&mut self, db: &KhcDatabase, entry: SourceFile, changed: &[FileKey]) -> Vec<Diagnostic> {
        // A changed file no program reads as a source (a key file an `images`
        // block names, or a file not yet imported) is read by no unit the live
        // diagnostics know: read them all.
        let unknown = changed.iter().any(|k| !self.entries.values().any(|e| e.live.contains_key(k)));
        let e = self.entries.entry(entry).or_insert_with(|| Entry { live: LiveDiagnostics::new(entry), fingerprints: HashMap::new(), dirty: None });
        if unknown {
            e.live = LiveDiagnostics::new(entry);
        }
        self.emitted = 0;
        let files: Vec<SourceFile> = changed.iter().filter_map(|k| db.file(k)).collect();
        e.live.update(db, &files);
        match (e.live.last_files_read(), &mut e.dirty) {
            (Some(read), Some(dirty)) => {
                for &f in read {
                    dirty.extend(khc_db::checks::live_tenants_in(db, entry, f).into_iter().map(|t| ItemRef { file: *t.file(db), index: *t.index(db) }));
                }
            }
            _ => e.dirty = None,
        }
        e.live.all()
    }

    /// The groups of files of `entry` for the writer: the cluster's, and each
    /// tenant's — with `partial`, only the tenants re-checked since their last
    /// emission are asked of the database, the others given by their last
    /// fingerprint alone (placeholders). `None` when a tenant cannot be emitted
    /// (the program has errors).
    pub fn groups<'db>(&mut self, db: &'db dyn khc_db::Db, entry: SourceFile, partial: bool) -> Option<Vec<Group<'db>>> {
        let e = self.entries.get_mut(&entry)?;
        let cluster = khc_db::emit::cluster_emitted(db, entry).as_ref()?;
        let mut groups = vec![Group { fingerprint: Some(*khc_db::emit::cluster_emitted_fingerprint(db, entry)), files: cluster.iter().collect() }];
        let emit = |t: ItemId<'db>| -> Option<Group<'db>> {
            if !*khc_db::emit::tenant_checks(db, t) {
                return None;
            }
            Some(Group { fingerprint: Some(*khc_db::emit::tenant_files_fingerprint(db, t)), files: khc_db::tenant_files(db, t).iter().collect() })
        };
        match (&e.dirty, partial) {
            (Some(dirty), true) => {
                for (r, fp) in e.fingerprints.iter_mut() {
                    if dirty.contains(r) {
                        let g = emit(ItemId::new(db, entry, r.file, r.index))?;
                        *fp = g.fingerprint.unwrap_or_default();
                        groups.push(g);
                    } else {
                        groups.push(Group { fingerprint: Some(*fp), files: Vec::new() });
                    }
                }
                let new: Vec<ItemRef> = dirty.iter().filter(|r| !e.fingerprints.contains_key(r)).copied().collect();
                for r in new {
                    let g = emit(ItemId::new(db, entry, r.file, r.index))?;
                    e.fingerprints.insert(r, g.fingerprint.unwrap_or_default());
                    groups.push(g);
                }
            }
            _ => {
                e.fingerprints.clear();
                for t in khc_db::scope(db, entry).live_tenants(db, entry) {
                    let g = emit(t)?;
                    e.fingerprints.insert(ItemRef { file: *t.file(db), index: *t.index(db) }, g.fingerprint.unwrap_or_default());
                    groups.push(g);
                }
            }
        }
        e.dirty = Some(Default::default());
        self.emitted += groups.iter().skip(1).filter(|g| !g.files.is_empty()).count();
        Some(groups)
    }

    /// What the current build did, for `KHC_WATCH_TRACE=1` (and the tests that
    /// count an edit's work): the diagnostic units read again (each file's and
    /// the program's), and the tenants asked of the database.
    pub fn work(&self) -> (usize, usize) {
        (self.entries.values().map(|e| e.live.last_units_read()).sum(), self.emitted)
    }

    /// Forgets the entries not in `entries` (removed entry files).
    pub fn retain(&mut self, entries: &[SourceFile]) {
        self.entries.retain(|e, _| entries.contains(e));
    }
}
