//! The file side of `khc fmt [PATH…] [--check]`: which files to format, atomic
//! rewrites, `-` for standard input, and the exit code. The command-line crate
//! only parses the arguments and calls [`run`].
//!
//! - A directory stands for every `*.khc` file below it (recursively, in sorted
//!   order, skipping directories whose name starts with `.`); a file is formatted
//!   whatever its extension; `-` reads standard input and writes the formatted text
//!   to standard output. No path means the current directory.
//! - Without `--check`, files that change are rewritten atomically (a temporary
//!   file in the same directory, renamed over the original, keeping its
//!   permissions); files already formatted are not touched.
//! - With `--check`, nothing is written; every file that would change is listed
//!   on standard output (`-` as `<stdin>`).
//! - Exit code: 0 when all is well, 1 when `--check` found a file that would
//!   change, 2 when a file could not be read or written (other files are still
//!   processed; the message goes to standard error).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: `--check` found files that would change.
pub const EXIT_CHANGES: u8 = 1;
/// Exit code: a file could not be read or written.
pub const EXIT_IO: u8 = 2;

/// Formats `paths` (see the module documentation) and returns the exit code.
/// `stdin`/`stdout`/`stderr` are the process's, or buffers in tests.
pub fn run(paths: &[PathBuf], check: bool, stdin: &mut dyn Read, stdout: &mut dyn Write, stderr: &mut dyn Write) -> u8 {
    let default = [PathBuf::from(".")];
    let paths = if paths.is_empty() { &default[..] } else { paths };
    let mut io_error = false;
    let mut would_change = false;
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            if let Err(e) = stdin.read_to_string(&mut text) {
                let _ = writeln!(stderr, "error: cannot read standard input: {e}");
                io_error = true;
                continue;
            }
            let formatted = crate::format(&text);
            if check {
                if formatted.changed {
                    would_change = true;
                    let _ = writeln!(stdout, "<stdin>");
                }
            } else if let Err(e) = stdout.write_all(formatted.text.as_bytes()) {
                let _ = writeln!(stderr, "error: cannot write standard output: {e}");
                io_error = true;
            }
            continue;
        }
        let mut files = Vec::new();
        if let Err(e) = collect(path, &mut files) {
            let _ = writeln!(stderr, "error: cannot read {}: {e}", path.display());
            io_error = true;
        }
        for file in files {
            match format_file(&file, check) {
                Ok(false) => {}
                Ok(true) => {
                    if check {
                        would_change = true;
                        let _ = writeln!(stdout, "{}", file.display());
                    }
                }
                Err(e) => {
                    let _ = writeln!(stderr, "error: {}: {e}", file.display());
                    io_error = true;
                }
            }
        }
    }
    if io_error {
        EXIT_IO
    } else if would_change {
        EXIT_CHANGES
    } else {
        EXIT_OK
    }
}

/// The files `path` stands for: itself, or the `*.khc` files below a directory,
/// by the one walker's policy ([`khc_syntax::walk`]: no link below `path` followed,
/// only regular files, hidden directories skipped).
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    if !fs::metadata(path)?.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    out.extend(khc_syntax::walk::walk(path, khc_syntax::walk::Depth::All, &["khc"])?.files);
    Ok(())
}

/// Formats one file; returns whether it changed (or would change, with `check`).
fn format_file(path: &Path, check: bool) -> io::Result<bool> {
    let bytes = fs::read(path)?;
    let text = String::from_utf8(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not valid UTF-8"))?;
    let formatted = crate::format(&text);
    if formatted.changed && !check {
        write_atomically(path, &formatted.text)?;
    }
    Ok(formatted.changed)
}

/// Writes `text` to a temporary file next to `path`, then renames it over `path`.
fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.khc-fmt-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Ok(meta) = fs::metadata(path) {
            fs::set_permissions(&tmp, meta.permissions())?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
