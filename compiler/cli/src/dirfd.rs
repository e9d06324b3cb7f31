//! The writer's file-system access below OUT, resolved relative to directory
//! file descriptors: every directory below OUT is opened with
//! `O_DIRECTORY | O_NOFOLLOW` from its parent's descriptor (`openat`), and every
//! file is created, read, renamed or removed relative to its directory's
//! descriptor (`openat`, `renameat`, `unlinkat`, `mkdirat`). A directory swapped
//! for a symbolic link after khc checked it (a racing process) therefore cannot
//! redirect a write, chmod or delete outside OUT: opening the link fails (`ELOOP`
//! or `ENOTDIR`), and a directory already opened stays the directory that was
//! checked. OUT itself is opened once, following a link (it is the user's choice).
//!
//! Plain `libc` calls (already a dependency, for `flock`): `rustix` and `cap-std`
//! wrap the same calls and would add crates.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// At most this many directory descriptors are kept open (then the cache starts over).
const CACHE: usize = 256;

/// OUT, opened, and the directories below it opened so far.
pub struct Root {
    fd: Arc<OwnedFd>,
    dirs: Mutex<HashMap<String, Arc<OwnedFd>>>,
}

fn cstr(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a name"))
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `(parent, name)` of a `/`-separated relative path.
fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

/// Whether an error from opening a directory with `O_NOFOLLOW` means a link (or
/// something else that is not a directory) is in the way.
pub fn is_link_or_not_dir(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR))
}

impl Root {
    /// Opens OUT (following a link: OUT is the directory the user chose).
    pub fn open(out: &Path) -> io::Result<Root> {
        use std::os::unix::ffi::OsStrExt;
        let path = CString::new(out.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the path"))?;
        // SAFETY: a valid C string; the descriptor is owned below.
        let fd = check(unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) })?;
        // SAFETY: `fd` was just opened and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Root { fd: Arc::new(fd), dirs: Mutex::new(HashMap::new()) })
    }

    /// The descriptor of directory `rel` ("" is OUT), each component opened with
    /// `O_NOFOLLOW` from its parent's descriptor.
    pub fn dir(&self, rel: &str) -> io::Result<Arc<OwnedFd>> {
        if rel.is_empty() {
            return Ok(self.fd.clone());
        }
        if let Some(fd) = self.dirs.lock().unwrap_or_else(|e| e.into_inner()).get(rel) {
            return Ok(fd.clone());
        }
        let (parent, name) = split(rel);
        let parent = self.dir(parent)?;
        let fd = Arc::new(open_dir_at(parent.as_raw_fd(), &cstr(name)?)?);
        let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
        if dirs.len() >= CACHE {
            dirs.clear();
        }
        dirs.insert(rel.to_string(), fd.clone());
        Ok(fd)
    }

    /// Creates directory `rel` (its parent must exist); `AlreadyExists` if it does.
    pub fn mkdir(&self, rel: &str) -> io::Result<()> {
        let (parent, name) = split(rel);
        mkdir_at(self.dir(parent)?.as_raw_fd(), &cstr(name)?)
    }

    fn open_at(&self, rel: &str, flags: libc::c_int, mode: libc::c_uint) -> io::Result<File> {
        let (parent, name) = split(rel);
        open_file_at(self.dir(parent)?.as_raw_fd(), &cstr(name)?, flags, mode)
    }

    /// Opens file `rel` for reading (never through a link, never blocking on a FIFO).
    pub fn open_read(&self, rel: &str) -> io::Result<File> {
        self.open_at(rel, libc::O_RDONLY | libc::O_NONBLOCK, 0)
    }

    /// Creates file `rel`, which must not exist (`O_EXCL`: never through a link).
    pub fn create_new(&self, rel: &str) -> io::Result<File> {
        self.open_at(rel, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o666)
    }

    /// Opens (creating it if needed) file `rel` for reading and writing, not through a link.
    pub fn open_or_create(&self, rel: &str) -> io::Result<File> {
        self.open_at(rel, libc::O_RDWR | libc::O_CREAT, 0o666)
    }

    /// Opens the existing file `rel` for writing, not through a link; with
    /// `append`, every write goes to its end (`O_APPEND`).
    pub fn open_write(&self, rel: &str, append: bool) -> io::Result<File> {
        self.open_at(rel, libc::O_WRONLY | libc::O_NONBLOCK | if append { libc::O_APPEND } else { 0 }, 0)
    }

    /// Renames `from` to `to`, both in directory `dir`.
    pub fn rename(&self, dir: &str, from: &str, to: &str) -> io::Result<()> {
        let d = self.dir(dir)?;
        let (f, t) = (cstr(from)?, cstr(to)?);
        // SAFETY: valid descriptors and C strings.
        check(unsafe { libc::renameat(d.as_raw_fd(), f.as_ptr(), d.as_raw_fd(), t.as_ptr()) }).map(drop)
    }

    /// Removes file `rel` (a link is removed itself, never followed).
    pub fn unlink(&self, rel: &str) -> io::Result<()> {
        let (parent, name) = split(rel);
        let dir = self.dir(parent)?;
        let c = cstr(name)?;
        // SAFETY: a valid descriptor and C string.
        check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) }).map(drop)
    }

    /// Removes the empty directory `rel`.
    pub fn rmdir(&self, rel: &str) -> io::Result<()> {
        let (parent, name) = split(rel);
        let dir = self.dir(parent)?;
        let c = cstr(name)?;
        // SAFETY: a valid descriptor and C string.
        check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), libc::AT_REMOVEDIR) })?;
        self.dirs.lock().unwrap_or_else(|e| e.into_inner()).retain(|k, _| k != rel && !k.starts_with(&format!("{rel}/")));
        Ok(())
    }

    /// Flushes directory `rel` (its entries) to disk.
    pub fn sync_dir(&self, rel: &str) -> io::Result<()> {
        let dir = self.dir(rel)?;
        // SAFETY: a valid descriptor.
        check(unsafe { libc::fsync(dir.as_raw_fd()) }).map(drop)
    }
}

/// A NUL-terminated copy of `name` in `buf` (reused: no allocation per file).
pub fn c_name<'b>(buf: &'b mut Vec<u8>, name: &str) -> io::Result<&'b std::ffi::CStr> {
    buf.clear();
    buf.extend_from_slice(name.as_bytes());
    buf.push(0);
    std::ffi::CStr::from_bytes_with_nul(buf).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a name"))
}

/// Opens directory `name` in directory `parent` (`O_DIRECTORY | O_NOFOLLOW`: a
/// link there fails with `ELOOP` or `ENOTDIR`).
pub fn open_dir_at(parent: RawFd, name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: a valid descriptor and C string; the result is owned below.
    let fd = check(unsafe { libc::openat(parent, name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) })?;
    // SAFETY: just opened, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates directory `name` in directory `parent`; `AlreadyExists` if anything
/// (a link included, never followed) is there.
pub fn mkdir_at(parent: RawFd, name: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: a valid descriptor and C string.
    check(unsafe { libc::mkdirat(parent, name.as_ptr(), 0o777) }).map(drop)
}

/// Creates file `name` in directory `dir`, which must not exist
/// (`O_EXCL | O_NOFOLLOW`), for writing.
pub fn create_at(dir: RawFd, name: &std::ffi::CStr) -> io::Result<File> {
    open_file_at(dir, name, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o666)
}

/// Opens file `name` in directory `dir` with `flags`, never through a link
/// (`O_NOFOLLOW`), created with `mode` if `flags` create it.
fn open_file_at(dir: RawFd, name: &std::ffi::CStr, flags: libc::c_int, mode: libc::c_uint) -> io::Result<File> {
    // SAFETY: a valid descriptor and C string; the result is owned below.
    let fd = check(unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_NOFOLLOW | libc::O_CLOEXEC, mode) })?;
    // SAFETY: just opened, owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Renames directory `from` to `to`, both in directory `dir`, only if nothing is
/// at `to` (`renameat2(RENAME_NOREPLACE)`). Where the kernel or file system lacks
/// that flag, plain `renameat`: a directory renamed over an existing name can
/// only replace an *empty directory* (anything else fails with `ENOTDIR` or
/// `ENOTEMPTY`), so no file and no link is ever lost either way.
pub fn rename_dir_noreplace(dir: RawFd, from: &std::ffi::CStr, to: &std::ffi::CStr) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: valid descriptors and C strings.
        let r = unsafe { libc::renameat2(dir, from.as_ptr(), dir, to.as_ptr(), libc::RENAME_NOREPLACE) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
            return Err(e);
        }
    }
    // SAFETY: valid descriptors and C strings.
    check(unsafe { libc::renameat(dir, from.as_ptr(), dir, to.as_ptr()) }).map(drop)
}

/// Whether `name` in directory `dir` is a directory (not a link to one).
fn is_dir_at(dir: RawFd, name: &std::ffi::CStr) -> bool {
    // SAFETY: zeroed plain data, filled by fstatat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, C string and buffer.
    let ok = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } == 0;
    ok && (st.st_mode & libc::S_IFMT) == libc::S_IFDIR
}

/// The entries of the open directory `dir` (but `.` and `..`), each with whether
/// it is a directory (links are not).
fn entries(dir: RawFd) -> io::Result<Vec<(CString, bool)>> {
    // fdopendir takes ownership of its descriptor: give it a duplicate.
    // SAFETY: a valid descriptor.
    let dup = check(unsafe { libc::fcntl(dir, libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: `dup` is ours; on success the stream owns it.
    let stream = unsafe { libc::fdopendir(dup) };
    if stream.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: `dup` is still ours.
        unsafe { libc::close(dup) };
        return Err(e);
    }
    // SAFETY: a valid stream.
    unsafe { libc::rewinddir(stream) };
    let mut out = Vec::new();
    loop {
        // SAFETY: a valid stream; the entry is read before the next call.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            break;
        }
        // SAFETY: readdir returned a valid entry with a NUL-terminated name.
        let (name, ty) = unsafe { (std::ffi::CStr::from_ptr((*entry).d_name.as_ptr()), (*entry).d_type) };
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        let is_dir = match ty {
            libc::DT_DIR => true,
            libc::DT_UNKNOWN => is_dir_at(dir, name),
            _ => false,
        };
        out.push((name.to_owned(), is_dir));
    }
    // SAFETY: closes the stream and its descriptor once.
    unsafe { libc::closedir(stream) };
    Ok(out)
}

/// Removes `name` in directory `parent` and everything below it, never following
/// a link (a link is removed itself; each directory is opened `O_NOFOLLOW` from its
/// parent's descriptor). For khc's own temporary directories (`.khc-tmp-…`).
pub fn remove_tree_at(parent: RawFd, name: &std::ffi::CStr) -> io::Result<()> {
    // A file or a link: removed as such.
    // SAFETY: a valid descriptor and C string.
    if unsafe { libc::unlinkat(parent, name.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    let dir = match open_dir_at(parent, name) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for (entry, is_dir) in entries(dir.as_raw_fd())? {
        if is_dir {
            remove_tree_at(dir.as_raw_fd(), &entry)?;
        } else {
            // SAFETY: a valid descriptor and C string.
            check(unsafe { libc::unlinkat(dir.as_raw_fd(), entry.as_ptr(), 0) })?;
        }
    }
    drop(dir);
    // SAFETY: a valid descriptor and C string.
    check(unsafe { libc::unlinkat(parent, name.as_ptr(), libc::AT_REMOVEDIR) }).map(drop)
}

impl Root {
    /// The names directly in directory `rel` that start with `prefix`, each with
    /// whether it is a directory (no link followed).
    pub fn names_with_prefix(&self, rel: &str, prefix: &str) -> io::Result<Vec<(String, bool)>> {
        let dir = self.dir(rel)?;
        Ok(entries(dir.as_raw_fd())?.into_iter().filter_map(|(n, d)| n.into_string().ok().filter(|n| n.starts_with(prefix)).map(|n| (n, d))).collect())
    }

    /// Removes `rel` and everything below it ([`remove_tree_at`]).
    pub fn remove_tree(&self, rel: &str) -> io::Result<()> {
        let (parent, name) = split(rel);
        let dir = self.dir(parent)?;
        remove_tree_at(dir.as_raw_fd(), &cstr(name)?)
    }
}
