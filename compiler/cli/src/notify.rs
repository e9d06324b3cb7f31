//! Change notification (inotify, through `libc`) on directories: what
//! `khc build --watch` waits on for its sources ([`SOURCES`]) and watches OUT
//! with between two writes ([`OUTPUT`]). A directory on a network or FUSE file
//! system is refused (changes made elsewhere raise no event there), so the
//! callers poll or compare stamps instead. Without inotify (not Linux), or
//! with `KHC_WATCH_POLL=1`, nothing is ever watched.

/// Events were lost (the queue overflowed): anything may have changed.
pub struct Lost;

/// One event.
pub struct Event {
    /// The watched directory, as given to [`Notify::watch`].
    pub dir: String,
    /// The entry it names (empty: the directory itself).
    pub name: String,
    /// The directory itself was removed or moved (no longer watched).
    pub gone: bool,
}

#[cfg(target_os = "linux")]
mod imp {
    use super::{Event, Lost};
    use std::collections::HashMap;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::path::Path;
    use std::time::Duration;

    /// An inotify instance watching directories.
    pub struct Notify {
        fd: OwnedFd,
        /// The events asked for.
        mask: u32,
        /// Watch descriptor → the directories (as written in keys) it watches.
        wds: HashMap<i32, Vec<String>>,
        /// Directory (as written in keys) → its watch descriptor.
        dirs: HashMap<String, i32>,
    }

    /// What changes OUT behind the writer's back: an entry created, removed or
    /// renamed, a file written or its attributes changed, a directory removed or
    /// moved; links are never followed. Not a file closed after writing: opening
    /// the lock file for writing is no change.
    pub const OUTPUT: u32 = libc::IN_CREATE
        | libc::IN_DELETE
        | libc::IN_MODIFY
        | libc::IN_ATTRIB
        | libc::IN_MOVED_FROM
        | libc::IN_MOVED_TO
        | libc::IN_DELETE_SELF
        | libc::IN_MOVE_SELF
        | libc::IN_DONT_FOLLOW
        | libc::IN_ONLYDIR;

    /// What changes a source: created, written (and closed), truncated, removed,
    /// renamed in or out, its attributes (mtime, mode) changed; and the directory
    /// itself removed or moved.
    pub const SOURCES: u32 = libc::IN_CREATE
        | libc::IN_DELETE
        | libc::IN_MODIFY
        | libc::IN_ATTRIB
        | libc::IN_CLOSE_WRITE
        | libc::IN_MOVED_FROM
        | libc::IN_MOVED_TO
        | libc::IN_DELETE_SELF
        | libc::IN_MOVE_SELF
        | libc::IN_ONLYDIR;

    /// File systems on which changes may come from elsewhere (another machine,
    /// the host of a virtual machine or container) and raise no inotify event:
    /// NFS, SMB/CIFS, FUSE (sshfs, Docker Desktop's shares), 9p (WSL, QEMU),
    /// Ceph, AFS, Coda, Lustre, GFS2, OCFS2 (virtiofs is FUSE).
    const REMOTE: [i64; 12] =
        [0x6969, 0x517B, 0xFF53_4D42, 0xFE53_4D42, 0x6573_5546, 0x0102_1997, 0x00C3_6400, 0x5346_414F, 0x7375_7245, 0x0BD0_0BD0, 0x0116_1970, 0x7461_636F];

    fn c_path(p: &Path) -> Option<std::ffi::CString> {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::CString::new(p.as_os_str().as_bytes()).ok()
    }

    impl Notify {
        /// A new instance reporting the events of `mask` ([`SOURCES`], [`OUTPUT`]);
        /// `None` when the system has none to give.
        pub fn new(mask: u32) -> Option<Notify> {
            if super::forced_off() {
                return None;
            }
            // SAFETY: no pointers; the result is owned below.
            let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
            // SAFETY: just created, owned by nobody else.
            (fd >= 0).then(|| Notify { fd: unsafe { OwnedFd::from_raw_fd(fd) }, mask, wds: HashMap::new(), dirs: HashMap::new() })
        }

        /// Watches directory `dir` (as written in keys; `""` is `root`):
        /// `Some(true)` when the watch is new, `Some(false)` when it was already
        /// watched, `None` when it cannot be (missing, the watch limit, a
        /// network or FUSE file system).
        pub fn watch(&mut self, root: &Path, dir: &str) -> Option<bool> {
            if self.dirs.contains_key(dir) {
                return Some(false);
            }
            let path = match (root.as_os_str().is_empty(), dir.is_empty()) {
                (true, true) => Path::new(".").to_path_buf(),
                (_, true) => root.to_path_buf(),
                (_, false) => root.join(dir),
            };
            let c = c_path(&path)?;
            // SAFETY: zeroed plain data, filled by statfs from a valid C string.
            let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
            if unsafe { libc::statfs(c.as_ptr(), &mut fs) } != 0 || REMOTE.contains(&(fs.f_type as i64)) {
                return None;
            }
            // SAFETY: a valid descriptor and C string.
            let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), self.mask) };
            if wd < 0 {
                return None;
            }
            self.wds.entry(wd).or_default().push(dir.to_string());
            self.dirs.insert(dir.to_string(), wd);
            Some(true)
        }

        /// Waits up to `timeout` for events and returns them (each directory
        /// watched by the event's descriptor, as given to [`Notify::watch`]),
        /// or [`Lost`] when the queue overflowed.
        pub fn wait(&mut self, timeout: Duration) -> Result<Vec<Event>, Lost> {
            let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
                return Ok(Vec::new());
            }
            let mut out = Vec::new();
            let mut lost = false;
            // Aligned for `inotify_event`.
            let mut buf = vec![0u64; 4096 / 8];
            loop {
                // SAFETY: reads into a buffer of the given length.
                let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len() * 8) };
                if n <= 0 {
                    break;
                }
                // SAFETY: the kernel wrote `n` bytes; viewed as bytes.
                let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
                let mut at = 0;
                let head = std::mem::size_of::<libc::inotify_event>();
                while at + head <= bytes.len() {
                    // SAFETY: a whole event header lies at `at` (read unaligned).
                    let ev: libc::inotify_event = unsafe { std::ptr::read_unaligned(bytes[at..].as_ptr().cast()) };
                    let name_bytes = &bytes[at + head..(at + head + ev.len as usize).min(bytes.len())];
                    at += head + ev.len as usize;
                    if ev.mask & libc::IN_Q_OVERFLOW != 0 {
                        lost = true;
                        continue;
                    }
                    let gone = ev.mask & (libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_IGNORED) != 0;
                    let end = name_bytes.iter().position(|&b| b == 0).unwrap_or(name_bytes.len());
                    let name = String::from_utf8_lossy(&name_bytes[..end]).into_owned();
                    let dirs = if gone {
                        // The directory went away: forget it (watched again if it is back).
                        if ev.mask & libc::IN_IGNORED == 0 {
                            // SAFETY: a valid descriptor; a stale wd is harmless.
                            unsafe { libc::inotify_rm_watch(self.fd.as_raw_fd(), ev.wd) };
                        }
                        let dirs = self.wds.remove(&ev.wd).unwrap_or_default();
                        for d in &dirs {
                            self.dirs.remove(d);
                        }
                        dirs
                    } else {
                        self.wds.get(&ev.wd).cloned().unwrap_or_default()
                    };
                    for dir in dirs {
                        out.push(Event { dir, name: name.clone(), gone });
                    }
                }
            }
            if lost {
                Err(Lost)
            } else {
                Ok(out)
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{Event, Lost};
    use std::path::Path;
    use std::time::Duration;

    /// Never created.
    pub struct Notify;

    /// Unused without inotify.
    pub const SOURCES: u32 = 0;
    /// Unused without inotify.
    pub const OUTPUT: u32 = 0;

    impl Notify {
        /// Never: there is no inotify here.
        pub fn new(_: u32) -> Option<Notify> {
            let _ = super::forced_off();
            None
        }
        /// Never watches.
        pub fn watch(&mut self, _: &Path, _: &str) -> Option<bool> {
            None
        }
        /// Never reports anything.
        pub fn wait(&mut self, _: Duration) -> Result<Vec<Event>, Lost> {
            Ok(Vec::new())
        }
    }
}

pub use imp::*;

/// Whether change notification is turned off (`KHC_WATCH_POLL=1`: poll the
/// sources and compare OUT's stamps, as on a file system inotify cannot see).
pub fn forced_off() -> bool {
    std::env::var_os("KHC_WATCH_POLL").is_some_and(|v| !v.is_empty() && v != "0")
}
