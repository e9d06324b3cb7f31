//! A git revision of a project's files, read from the repository itself
//! (`khc diff --against REV`): nothing is extracted to disk, and a file whose
//! blob at the revision equals the working file is never read from git.
//!
//! [`GitTree::open`] lists the revision's tree once (`git ls-tree -r -t -l -z`:
//! every path with its mode, object id and size). Deciding that a file is
//! unchanged ([`VersionFiles::unchanged`]) hashes the text the database
//! already holds as git does (SHA-1 of `blob SIZE\0TEXT`) and compares it with
//! the listed id; only the other files are read, through one long-lived
//! `git cat-file --batch`. Keys resolve as on disk: relative to the project
//! root (a subdirectory of the repository or its top), `..` included,
//! symbolic links followed inside the revision's tree (at most 40 in a row). A
//! path that leaves the repository is not versioned: both versions read it
//! from disk. A submodule's files are not in the tree (missing); a file larger
//! than [`MAX_SOURCE_BYTES`] or not UTF-8 is missing with the reason, as on
//! disk. In a SHA-256 repository the hash is not compared and every file the
//! old version reads is read from git (the same inputs, only slower).

use crate::{read_source, FileContents, VersionFiles, MAX_SOURCE_BYTES};
use khc_syntax::FileKey;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Symbolic links followed in a row before a path is called a loop (Linux's
/// `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// What the revision's tree holds at a path.
#[derive(Clone, Debug)]
struct Entry {
    /// `100644`, `100755`, `120000` (link), `040000` (tree), `160000` (submodule).
    mode: u32,
    oid: String,
    /// Blobs only.
    size: Option<u64>,
}

impl Entry {
    fn is_link(&self) -> bool {
        self.mode == 0o120000
    }
    fn is_file(&self) -> bool {
        self.mode & 0o170000 == 0o100000
    }
    fn is_tree(&self) -> bool {
        self.mode == 0o040000
    }
}

/// Where a key leads in the revision.
enum Found {
    /// A regular file: its blob.
    Blob { oid: String, size: u64, path: String },
    /// Nothing readable, and why (worded for the user).
    Missing(String),
    /// Outside the repository: not versioned, read from disk.
    Outside(PathBuf),
}

/// How much [`GitTree`] read from git, for tests and `KHC_DIFF_STATS=1`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GitStats {
    /// Paths the revision's tree lists (files, links, directories, submodules).
    pub listed: usize,
    /// Blobs read from git: files' contents.
    pub blobs_read: usize,
    /// Blobs read from git: symbolic links' targets.
    pub links_read: usize,
    /// Files found unchanged by their blob id, never read.
    pub unchanged: usize,
}

/// One `git cat-file --batch`, asked one object at a time.
struct CatFile {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl CatFile {
    fn blob(&mut self, oid: &str) -> Result<Vec<u8>, String> {
        let stdin = self.stdin.as_mut().ok_or("git cat-file is closed")?;
        writeln!(stdin, "{oid}").and_then(|()| stdin.flush()).map_err(|e| format!("git cat-file: {e}"))?;
        let mut header = String::new();
        self.stdout.read_line(&mut header).map_err(|e| format!("git cat-file: {e}"))?;
        let mut parts = header.split_whitespace();
        let (_, kind, size) = (parts.next(), parts.next(), parts.next());
        let size: usize = match (kind, size.and_then(|s| s.parse().ok())) {
            (Some("blob"), Some(size)) => size,
            _ => return Err(format!("git cat-file: {}", header.trim())),
        };
        let mut bytes = vec![0; size + 1];
        self.stdout.read_exact(&mut bytes).map_err(|e| format!("git cat-file: {e}"))?;
        bytes.pop();
        Ok(bytes)
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The files of a project at a git revision ([`VersionFiles`]).
pub struct GitTree {
    top: PathBuf,
    rev: String,
    /// The project root, relative to the repository's top (`[]` at the top).
    root: Vec<String>,
    entries: HashMap<Vec<u8>, Entry>,
    /// Whether object ids are SHA-1 (compared with the text's hash).
    sha1: bool,
    /// `*.khc` names directly in the root that are not UTF-8 (not read).
    non_utf8: Vec<Vec<u8>>,
    cat: Mutex<Option<CatFile>>,
    blobs_read: AtomicUsize,
    links_read: AtomicUsize,
    unchanged: AtomicUsize,
}

/// Runs git in `dir`; its stdout, or why it failed.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let o = Command::new("git").arg("-C").arg(dir).args(args).stdin(Stdio::null()).output().map_err(|e| format!("cannot run git: {e}"))?;
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).trim().to_string());
    }
    Ok(o.stdout)
}

fn trimmed(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    &bytes[..end]
}

#[cfg(unix)]
fn path_of(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn path_of(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// The tree object `rev` names in the repository at `top`, as a hexadecimal
/// object id. A revision is data, never an option: one that is empty, starts
/// with `-` or holds a control character is refused, and git reads it after
/// `--end-of-options`.
pub fn tree_of(top: &Path, rev: &str) -> Result<String, String> {
    if rev.is_empty() || rev.starts_with('-') || rev.chars().any(char::is_control) {
        return Err(format!("{rev:?} is not a git revision (a revision may not be empty, start with `-` or hold control characters)"));
    }
    let not_found = || format!("{rev:?} does not name a commit or tree of the git repository {}", top.display());
    let tree = git(top, &["rev-parse", "--verify", "--quiet", "--end-of-options", &format!("{rev}^{{tree}}")]).map_err(|_| not_found())?;
    let tree = String::from_utf8_lossy(trimmed(&tree)).into_owned();
    if tree.is_empty() || !tree.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    Ok(tree)
}

impl GitTree {
    /// The project at `path` (a `.khc` entry file or a directory, in a git work
    /// tree) as it is at `rev`: the tree, the project root on disk (the
    /// directory, or the file's) and the entry file's key when `path` is a
    /// file. `Err` (worded for the user) when `path` cannot be opened, is not
    /// in a git work tree, has a component that is not UTF-8 below the
    /// repository's top, or `rev` names no commit or tree.
    pub fn open(path: &Path, rev: &str) -> Result<(GitTree, PathBuf, Option<FileKey>), String> {
        let canonical = |p: &Path| p.canonicalize().map_err(|e| format!("cannot open {}: {e}", p.display()));
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        // As `Project::open`: a directory is the root; a file's directory is
        // (the file itself may be a link, followed as the working tree's is).
        let (abs, dir, entry) = if meta.is_dir() {
            let dir = canonical(path)?;
            (dir.clone(), dir, None)
        } else {
            let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| format!("{} is not a UTF-8 file name", path.display()))?;
            if !name.ends_with(".khc") {
                return Err(format!("{} is not a .khc file", path.display()));
            }
            let dir = canonical(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
            (dir.join(name), dir, Some(FileKey::from(name)))
        };
        let top = git(&dir, &["rev-parse", "--show-toplevel"]).map_err(|e| format!("{} is not in a git work tree (git: {e})", path.display()))?;
        let top = path_of(trimmed(&top));
        let top = top.canonicalize().map_err(|e| format!("cannot open the git work tree {}: {e}", top.display()))?;
        let rel = dir.strip_prefix(&top).map_err(|_| format!("{} is not inside the git work tree {}", abs.display(), top.display()))?;
        let root = rel.components().map(|c| c.as_os_str().to_str().map(str::to_string)).collect::<Option<Vec<String>>>().ok_or_else(|| {
            format!("{} is not a UTF-8 path below the git work tree {}: khc reads a revision's files by UTF-8 paths", abs.display(), top.display())
        })?;
        let tree = tree_of(&top, rev)?;
        let listing =
            git(&top, &["ls-tree", "-r", "-t", "-l", "-z", "--full-tree", "--end-of-options", &tree]).map_err(|e| format!("git ls-tree {tree}: {e}"))?;
        let mut entries = HashMap::new();
        for record in listing.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            // `MODE TYPE OID SIZE\tPATH` (the size right-aligned, `-` but for blobs).
            let tab = record.iter().position(|b| *b == b'\t').ok_or("git ls-tree: a record without a path")?;
            let meta = String::from_utf8_lossy(&record[..tab]);
            let mut fields = meta.split_whitespace();
            let (Some(mode), Some(_), Some(oid), Some(size)) = (fields.next(), fields.next(), fields.next(), fields.next()) else {
                return Err(format!("git ls-tree: cannot read {meta:?}"));
            };
            let mode = u32::from_str_radix(mode, 8).map_err(|_| format!("git ls-tree: mode {mode:?}"))?;
            entries.insert(record[tab + 1..].to_vec(), Entry { mode, oid: oid.to_string(), size: size.parse().ok() });
        }
        let prefix = if root.is_empty() { Vec::new() } else { format!("{}/", root.join("/")).into_bytes() };
        let non_utf8 = entries
            .keys()
            .filter_map(|p| p.strip_prefix(prefix.as_slice()))
            .filter(|name| !name.contains(&b'/') && name.ends_with(b".khc") && std::str::from_utf8(name).is_err())
            .map(<[u8]>::to_vec)
            .collect();
        let tree = GitTree {
            top,
            rev: rev.to_string(),
            root,
            entries,
            sha1: tree.len() == 40,
            non_utf8,
            cat: Mutex::new(None),
            blobs_read: AtomicUsize::new(0),
            links_read: AtomicUsize::new(0),
            unchanged: AtomicUsize::new(0),
        };
        Ok((tree, dir, entry))
    }

    /// The repository's top directory.
    pub fn top(&self) -> &Path {
        &self.top
    }

    /// What was read so far.
    pub fn stats(&self) -> GitStats {
        GitStats {
            listed: self.entries.len(),
            blobs_read: self.blobs_read.load(Ordering::Relaxed),
            links_read: self.links_read.load(Ordering::Relaxed),
            unchanged: self.unchanged.load(Ordering::Relaxed),
        }
    }

    /// The `*.khc` names directly in the project root at the revision that
    /// are not UTF-8: not read (as `khc check` skips them in a directory), for
    /// the caller to say so.
    pub fn non_utf8_sources(&self) -> Vec<String> {
        self.non_utf8.iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect()
    }

    fn blob(&self, oid: &str) -> Result<Vec<u8>, String> {
        let mut cat = self.cat.lock().unwrap_or_else(|e| e.into_inner());
        if cat.is_none() {
            let mut child = Command::new("git")
                .arg("-C")
                .arg(&self.top)
                .args(["cat-file", "--batch"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot run git cat-file: {e}"))?;
            let (stdin, stdout) = (child.stdin.take(), child.stdout.take().ok_or("cannot read git cat-file's output")?);
            *cat = Some(CatFile { child, stdin, stdout: BufReader::new(stdout) });
        }
        let result = cat.as_mut().map_or(Err("git cat-file is not running".to_string()), |c| c.blob(oid));
        if result.is_err() {
            // Out of step with the process: start a new one next time.
            *cat = None;
        }
        result
    }

    /// Where `key` (relative to the project root) leads in the revision.
    fn find(&self, key: &str) -> Found {
        let mut queue: VecDeque<String> = key.split('/').map(str::to_string).collect();
        let mut cur: Vec<String> = self.root.clone();
        let mut links = 0;
        while let Some(part) = queue.pop_front() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    if cur.pop().is_none() {
                        let mut path = self.top.join("..");
                        path.extend(queue.iter());
                        return Found::Outside(path);
                    }
                    continue;
                }
                name => cur.push(name.to_string()),
            }
            let at = cur.join("/");
            let Some(entry) = self.entries.get(at.as_bytes()) else {
                return Found::Missing(format!("{}: no such file in the revision", self.shown(&at)));
            };
            let last = queue.iter().all(|p| p.is_empty() || p == ".");
            if entry.is_link() {
                links += 1;
                if links > MAX_LINKS {
                    return Found::Missing(format!("{}: too many levels of symbolic links in the revision", self.shown(&at)));
                }
                self.links_read.fetch_add(1, Ordering::Relaxed);
                let target = match self.blob(&entry.oid) {
                    Ok(t) => t,
                    Err(e) => return Found::Missing(format!("{}: {e}", self.shown(&at))),
                };
                let Ok(target) = String::from_utf8(target) else {
                    return Found::Missing(format!("{}: a symbolic link whose target is not UTF-8", self.shown(&at)));
                };
                cur.pop();
                if target.starts_with('/') {
                    let mut path = PathBuf::from(&target);
                    path.extend(queue.iter());
                    return Found::Outside(path);
                }
                for part in target.split('/').rev() {
                    queue.push_front(part.to_string());
                }
            } else if entry.mode == 0o160000 {
                return Found::Missing(format!("{}: a git submodule (its files are not in this repository's tree)", self.shown(&at)));
            } else if entry.is_file() && !last {
                return Found::Missing(format!("{}: not a directory in the revision", self.shown(&at)));
            }
        }
        let at = cur.join("/");
        match self.entries.get(at.as_bytes()) {
            Some(e) if e.is_file() => Found::Blob { oid: e.oid.clone(), size: e.size.unwrap_or(0), path: at },
            _ => Found::Missing(format!("{}: not a regular file in the revision", self.shown(&at))),
        }
    }

    /// `REV:path`, git's own notation for a path at a revision.
    fn shown(&self, path: &str) -> String {
        format!("{}:{path}", self.rev)
    }
}

impl VersionFiles for GitTree {
    fn root_sources(&self) -> Result<Vec<(FileKey, Option<String>)>, String> {
        let dir = self.root.join("/");
        if !dir.is_empty() && !self.entries.get(dir.as_bytes()).is_some_and(Entry::is_tree) {
            return Err(format!("{} is not a directory in the revision", self.shown(&dir)));
        }
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let mut out: Vec<(FileKey, Option<String>)> = self
            .entries
            .iter()
            .filter_map(|(path, e)| {
                let name = std::str::from_utf8(path.strip_prefix(prefix.as_bytes())?).ok()?;
                if name.contains('/') || !name.ends_with(".khc") {
                    return None;
                }
                // The walker's policy: links are listed, not followed; directories skipped.
                let why = if e.is_link() {
                    Some(format!("{}: a symbolic link (not followed inside a directory)", self.shown(&format!("{prefix}{name}"))))
                } else if e.is_file() {
                    None
                } else {
                    return None;
                };
                Some((FileKey::from(name), why))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    fn unchanged(&self, key: &FileKey, current: &FileContents) -> bool {
        let same = match (self.find(key), current) {
            // Not versioned: the working tree's in both versions.
            (Found::Outside(_), _) => true,
            (Found::Blob { oid, size, .. }, FileContents::Text(text)) => self.sha1 && size == text.len() as u64 && blob_id(text.as_bytes()) == oid,
            _ => false,
        };
        if same {
            self.unchanged.fetch_add(1, Ordering::Relaxed);
        }
        same
    }

    fn read(&self, key: &FileKey) -> FileContents {
        match self.find(key) {
            Found::Outside(path) => read_source(&path),
            Found::Missing(why) => FileContents::Missing(why),
            Found::Blob { size, path, .. } if size > MAX_SOURCE_BYTES => FileContents::Missing(format!(
                "{}: {size} bytes is larger than the {} MiB limit for sources",
                self.shown(&path),
                MAX_SOURCE_BYTES / (1024 * 1024)
            )),
            Found::Blob { oid, path, .. } => {
                self.blobs_read.fetch_add(1, Ordering::Relaxed);
                match self.blob(&oid).map(String::from_utf8) {
                    Ok(Ok(text)) => FileContents::Text(text),
                    Ok(Err(e)) => {
                        FileContents::Missing(format!("{}: not UTF-8 text (invalid byte at offset {})", self.shown(&path), e.utf8_error().valid_up_to()))
                    }
                    Err(e) => FileContents::Missing(format!("{}: {e}", self.shown(&path))),
                }
            }
        }
    }

    fn canonical_key(&self, key: &FileKey) -> Option<FileKey> {
        let mut parts: Vec<&str> = Vec::new();
        for part in key.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop()?;
                }
                p => parts.push(p),
            }
        }
        Some(FileKey::from(parts.join("/").as_str()))
    }

    fn display_name(&self, key: &str) -> String {
        let mut parts: Vec<&str> = self.root.iter().map(String::as_str).collect();
        for part in key.split('/') {
            match part {
                "" | "." => {}
                ".." if parts.last().is_some_and(|p| *p != "..") => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        if parts.first() == Some(&"..") {
            // Outside the repository: read from disk, shown as such.
            return self.top.join(parts.join("/")).display().to_string();
        }
        self.shown(&parts.join("/"))
    }
}

/// Git's object id of a blob holding `bytes` (SHA-1 of `blob LEN\0BYTES`).
pub fn blob_id(bytes: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    h.finish().iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-1 (FIPS 180-4), for git's object ids only: not for security.
struct Sha1 {
    state: [u32; 5],
    block: [u8; 64],
    used: usize,
    len: u64,
}

impl Sha1 {
    fn new() -> Sha1 {
        Sha1 { state: [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476, 0xc3d2_e1f0], block: [0; 64], used: 0, len: 0 }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        while !data.is_empty() {
            let n = (64 - self.used).min(data.len());
            self.block[self.used..self.used + n].copy_from_slice(&data[..n]);
            self.used += n;
            data = &data[n..];
            if self.used == 64 {
                let block = self.block;
                self.compress(&block);
                self.used = 0;
            }
        }
    }

    fn finish(mut self) -> [u8; 20] {
        let bits = self.len.wrapping_mul(8);
        self.update(&[0x80]);
        while self.used != 56 {
            self.update(&[0]);
        }
        self.update(&bits.to_be_bytes());
        let mut out = [0; 20];
        for (chunk, word) in out.chunks_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    fn compress(&mut self, block: &[u8; 64]) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = self.state;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5a82_7999),
                20..=39 => (b ^ c ^ d, 0x6ed9_eba1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
                _ => (b ^ c ^ d, 0xca62_c1d6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (s, v) in self.state.iter_mut().zip([a, b, c, d, e]) {
            *s = s.wrapping_add(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_git(dir: &Path, args: &[&str]) -> String {
        let o = Command::new("git")
            .args(["-c", "user.name=khc", "-c", "user.email=khc@example.com", "-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git");
        assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// What SPEC section 13 ("The old version from git") says of links,
    /// submodules, directories, text and `..`, on a real repository.
    #[cfg(unix)]
    #[test]
    fn reads_a_revision_as_the_disk_would() {
        let dir = std::env::temp_dir().join(format!("khc-gittree-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = dir.join("p");
        std::fs::create_dir_all(p.join("sub")).unwrap();
        std::fs::create_dir_all(dir.join("shared")).unwrap();
        std::fs::write(p.join("main.khc"), "cluster c { kubernetes 1.35 }\n").unwrap();
        std::fs::write(p.join("sub/a.khc"), "tenant a {}\n").unwrap();
        std::fs::write(dir.join("shared/s.khc"), "tenant s {}\n").unwrap();
        std::fs::write(p.join("latin1.khc"), b"tenant \xe9 {}\n").unwrap();
        let link = |target: &str, at: &str| std::os::unix::fs::symlink(target, p.join(at)).unwrap();
        link("sub/a.khc", "to-a.khc");
        link("../shared", "shared-dir");
        link("loop.khc", "loop.khc");
        link("/etc/hostname", "abs.khc");
        run_git(&dir, &["init", "-q"]);
        run_git(&dir, &["add", "-A"]);
        run_git(&dir, &["commit", "-qm", "base"]);
        let commit = run_git(&dir, &["rev-parse", "HEAD"]);
        run_git(&dir, &["update-index", "--add", "--cacheinfo", &format!("160000,{commit},p/module")]);
        run_git(&dir, &["commit", "-qm", "a submodule"]);
        let (tree, root, entry) = GitTree::open(&p, "HEAD").unwrap();
        assert_eq!((root, entry), (p.canonicalize().unwrap(), None));
        let read = |key: &str| tree.read(&FileKey::from(key));
        let missing = |key: &str, why: &str| match read(key) {
            FileContents::Missing(m) => assert!(m.contains(why), "{key}: {m}"),
            t => panic!("{key}: {t:?}"),
        };
        assert_eq!(read("sub/a.khc"), FileContents::Text("tenant a {}\n".into()));
        assert_eq!(read("to-a.khc"), FileContents::Text("tenant a {}\n".into()), "a link inside the tree is followed");
        assert_eq!(read("shared-dir/s.khc"), FileContents::Text("tenant s {}\n".into()), "a linked folder too");
        assert_eq!(read("sub/../../shared/s.khc"), FileContents::Text("tenant s {}\n".into()), "`..` above the project");
        missing("loop.khc", "HEAD:p/loop.khc: too many levels of symbolic links");
        missing("module/x.khc", "HEAD:p/module: a git submodule");
        missing("sub", "HEAD:p/sub: not a regular file");
        missing("main.khc/x.khc", "HEAD:p/main.khc: not a directory");
        missing("nope.khc", "HEAD:p/nope.khc: no such file in the revision");
        missing("latin1.khc", "HEAD:p/latin1.khc: not UTF-8 text (invalid byte at offset 7)");
        // Outside the repository: the disk, in both versions (unchanged by definition).
        assert!(tree.unchanged(&FileKey::from("../../x.khc"), &FileContents::Missing(String::new())));
        assert_eq!(tree.read(&FileKey::from("abs.khc")), read_source(Path::new("/etc/hostname")));
        // The folder's sources: links listed as unreadable, not followed.
        let listed: Vec<(String, bool)> = tree.root_sources().unwrap().into_iter().map(|(k, why)| (k.to_string(), why.is_some())).collect();
        let want = [("abs.khc", true), ("latin1.khc", false), ("loop.khc", true), ("main.khc", false), ("to-a.khc", true)];
        assert_eq!(listed, want.map(|(k, w)| (k.to_string(), w)));
        // Unchanged by hash, without reading: only the links above were read.
        let before = tree.stats();
        assert!(tree.unchanged(&FileKey::from("main.khc"), &FileContents::Text("cluster c { kubernetes 1.35 }\n".into())));
        assert!(!tree.unchanged(&FileKey::from("main.khc"), &FileContents::Text("cluster d { kubernetes 1.35 }\n".into())));
        assert_eq!(tree.stats().blobs_read, before.blobs_read);
        assert_eq!(tree.canonical_key(&FileKey::from("sub/../main.khc")), Some(FileKey::from("main.khc")));
        assert_eq!(tree.canonical_key(&FileKey::from("../x.khc")), None);
        assert_eq!(tree.display_name("sub/../main.khc"), "HEAD:p/main.khc");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn sha1_and_blob_ids_are_gits() {
        let hex = |b: &[u8]| {
            let mut h = Sha1::new();
            h.update(b);
            h.finish().iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        assert_eq!(hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex(&[b'a'; 1_000_000]), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
        assert_eq!(hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
        // `git hash-object` of the empty file and of "hello\n".
        assert_eq!(blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        assert_eq!(blob_id(b"hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
        // Every length around a block boundary agrees with git itself, when present.
        if let Ok(o) = Command::new("git").arg("--version").output() {
            if o.status.success() {
                for n in [55, 56, 63, 64, 65, 119, 120, 128] {
                    let text = "x".repeat(n);
                    let mut child =
                        Command::new("git").args(["hash-object", "--stdin"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("git hash-object");
                    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
                    let out = child.wait_with_output().expect("git hash-object");
                    assert_eq!(String::from_utf8_lossy(trimmed(&out.stdout)), blob_id(text.as_bytes()), "{n} bytes");
                }
            }
        }
    }
}
