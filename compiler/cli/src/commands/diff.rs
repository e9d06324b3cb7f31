//! `khc diff OLD NEW` and `khc diff --against REV [PATH]`: the security posture
//! change between two versions of the intent.

use super::sarif::{self, split_location, SarifResult};
use super::{load, usage};
use khc_analysis::diff::{compare, markdown, text, Change, Effect};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// How `khc diff` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// For people.
    Text,
    /// Markdown, for a pull-request comment.
    Markdown,
    /// JSON on stdout.
    Json,
    /// SARIF 2.1.0 (loosenings as warnings at their source line).
    Sarif,
}

/// Arguments of `khc diff`.
#[derive(clap::Args, Debug)]
#[command(
    about = "The security posture change between two versions of the intent",
    long_about = "Compare two versions of a khc program in intent terms: reachability between workloads and \
to/from the namespaces and CIDRs the intent names, RBAC permissions per subject, admission rules and \
their actions, Pod Security levels, isolation modes, token mounting and encryption at rest. Each \
change is marked loosened, tightened or changed and names the FILE:LINE responsible.\n\n\
Give two paths (entry files or directories), or --against GIT_REV and one path (default .): the \
old version is that revision of the same path, extracted with `git archive` into a temporary folder.\n\n\
Exit codes: 0 (with --deny-loosening: nothing loosened), 1 something loosened with \
--deny-loosening or the sources have errors, 2 usage or IO.",
    after_help = "Examples:\n  khc diff old/ examples/multi-tenant\n  khc diff --against origin/main examples/multi-tenant --format markdown > comment.md\n  \
khc diff --against HEAD~1 . --deny-loosening"
)]
pub struct Args {
    /// OLD and NEW (or, with --against, the one PATH).
    #[arg(num_args = 0..=2)]
    pub paths: Vec<PathBuf>,
    /// Compare PATH with its version at this git revision.
    #[arg(long, value_name = "GIT_REV")]
    pub against: Option<String>,
    /// Exit 1 when anything is loosened.
    #[arg(long)]
    pub deny_loosening: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
}

/// A temporary folder removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let o = Command::new("git").arg("-C").arg(dir).args(args).output().map_err(|e| format!("cannot run git: {e}"))?;
    if !o.status.success() {
        return Err(format!("git {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Extracts `path` at `rev` into a temporary folder: the folder and the path in it.
fn checkout(path: &Path, rev: &str) -> Result<(TempDir, PathBuf), String> {
    let abs = path.canonicalize().map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let dir = if abs.is_dir() { abs.clone() } else { abs.parent().unwrap_or(Path::new("/")).to_path_buf() };
    let top = PathBuf::from(git(&dir, &["rev-parse", "--show-toplevel"])?);
    let rel = abs.strip_prefix(&top).map_err(|_| format!("{} is not inside the git work tree {}", abs.display(), top.display()))?.to_path_buf();
    let tmp = TempDir(std::env::temp_dir().join(format!("khc-diff-{}-{}", std::process::id(), rev.replace(['/', '~', '^', ':'], "_"))));
    std::fs::create_dir_all(&tmp.0).map_err(|e| format!("cannot create {}: {e}", tmp.0.display()))?;
    let archive = tmp.0.join("old.tar");
    git(&top, &["archive", "--format=tar", "-o", &archive.display().to_string(), rev])?;
    let o = Command::new("tar").arg("-xf").arg(&archive).arg("-C").arg(&tmp.0).output().map_err(|e| format!("cannot run tar: {e}"))?;
    if !o.status.success() {
        return Err(format!("tar: {}", String::from_utf8_lossy(&o.stderr)));
    }
    let old = tmp.0.join(rel);
    Ok((tmp, old))
}

fn changes_sarif(changes: &[Change]) -> serde_json::Value {
    let results: Vec<SarifResult> = changes
        .iter()
        .filter(|c| c.source.contains(':'))
        .map(|c| {
            let first = c.source.split(", ").next().unwrap_or(&c.source);
            let (file, line) = split_location(first);
            SarifResult {
                rule_id: format!("posture/{}", c.category),
                level: if c.effect == Effect::Loosened { "warning" } else { "note" },
                message: format!(
                    "{:?}: {} ({} → {})",
                    c.effect,
                    c.what,
                    if c.before.is_empty() { "none" } else { &c.before },
                    if c.after.is_empty() { "none" } else { &c.after }
                ),
                file,
                line,
                related: Vec::new(),
            }
        })
        .collect();
    sarif::log(&results)
}

/// Runs `khc diff`.
pub fn run(args: Args) -> ExitCode {
    let (_tmp, old, new) = match (&args.against, args.paths.as_slice()) {
        (Some(rev), paths) if paths.len() <= 1 => {
            let path = paths.first().cloned().unwrap_or_else(|| PathBuf::from("."));
            match checkout(&path, rev) {
                Ok((tmp, old)) => (Some(tmp), old, path),
                Err(e) => return usage(&e),
            }
        }
        (None, [old, new]) => (None, old.clone(), new.clone()),
        _ => return usage("give OLD and NEW, or --against GIT_REV [PATH]"),
    };
    let (old_ws, new_ws) = match (load(&old), load(&new)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let changes = compare(&old_ws, &new_ws);
    match args.format {
        DiffFormat::Text => print!("{}", text(&changes)),
        DiffFormat::Markdown => print!("{}", markdown(&changes)),
        DiffFormat::Json => super::print_json(&serde_json::json!({"changes": changes})),
        DiffFormat::Sarif => super::print_json(&changes_sarif(&changes)),
    }
    if args.deny_loosening && changes.iter().any(|c| c.effect == Effect::Loosened) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
