//! `khc fmt [PATH…] [--check]`: formats khc sources in the canonical layout
//! (rules in `khc_fmt`; paths, `-`, atomic writes and exit codes in
//! `khc_fmt::files`).

use std::path::PathBuf;
use std::process::ExitCode;

/// Runs `khc fmt`. Exit code 0 when all is well, 1 when `--check` found files
/// that would change (listed on standard output), 2 when a file could not be
/// read or written.
pub fn run(paths: &[PathBuf], check: bool) -> ExitCode {
    let code = khc_fmt::files::run(paths, check, &mut std::io::stdin().lock(), &mut std::io::stdout().lock(), &mut std::io::stderr().lock());
    ExitCode::from(code)
}
