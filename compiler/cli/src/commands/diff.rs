//! `khc diff OLD NEW` and `khc diff --against REV [PATH]`: the security posture
//! change between two versions of the intent.

use super::sarif::{self, split_location, SarifResult};
use super::usage;
use khc_analysis::diff::{compare_programs_then, load_versions, markdown, text, Change, Effect};
use khc_analysis::LoadError;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

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
their actions, Pod Security levels, isolation modes, token mounting, encryption at rest, image \
policies (`images`: a removed `signed-by` or `scanned-by`, a raised `deny-at`, a longer `max-age`, a newly \
accepted finding, registry or volume image, a dropped `pinned` are loosenings), scoped \
exceptions (a new or widened one is a loosening) and the namespaces khc creates. Each change is \
marked destructive (a namespace leaves the source: a pruning GitOps engine deletes it and \
everything in it unless its delete guards stop it), loosened, tightened or changed and names the \
FILE:LINE responsible.\n\n\
Give two paths (entry files or directories), or --against GIT_REV and one path (default .): the \
old version is that revision of the same path, extracted with `git archive` into a temporary folder.\n\n\
Both versions are compiled in one database (a file with the same text in both is checked once) and \
compared tenant by tenant: only what a changed tenant can affect is evaluated again, across tenants \
too (its peers' network policies, the subjects its bindings cover, the admission policies it \
binds); the changes are those of two full compiles (SPEC section 13, \"The posture change\").\n\n\
Exit codes: 0 (with --deny-loosening: nothing loosened or destroyed), 1 something loosened or \
destroyed with --deny-loosening or the sources have errors, 2 usage or IO.",
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
    /// Exit 1 when anything is loosened or destroyed.
    #[arg(long)]
    pub deny_loosening: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let o = Command::new("git").arg("-C").arg(dir).args(args).output().map_err(|e| format!("cannot run git: {e}"))?;
    if !o.status.success() {
        return Err(format!("git {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// The tree object `rev` names, as a hexadecimal object id. A revision is data,
/// never an option: one starting with `-` or holding a control character is
/// refused, and git reads it after `--end-of-options`.
fn tree_of(top: &Path, rev: &str) -> Result<String, String> {
    if rev.is_empty() || rev.starts_with('-') || rev.chars().any(char::is_control) {
        return Err(format!("{rev:?} is not a git revision (a revision may not be empty, start with `-` or hold control characters)"));
    }
    let tree = git(top, &["rev-parse", "--verify", "--quiet", "--end-of-options", &format!("{rev}^{{tree}}")])
        .map_err(|_| format!("{rev:?} does not name a commit or tree of {}", top.display()))?;
    if tree.is_empty() || !tree.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{rev:?} does not name a commit or tree of {}", top.display()));
    }
    Ok(tree)
}

/// Extracts `path` at `rev` into a fresh private temporary folder (random name,
/// created exclusively, mode 0700; removed on drop): the folder and the path in it.
/// `git archive` streams into `tar` (no archive file to plant a link at).
fn checkout(path: &Path, rev: &str) -> Result<(tempfile::TempDir, PathBuf), String> {
    let abs = path.canonicalize().map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let dir = if abs.is_dir() { abs.clone() } else { abs.parent().unwrap_or(Path::new("/")).to_path_buf() };
    let top = PathBuf::from(git(&dir, &["rev-parse", "--show-toplevel"])?);
    let rel = abs.strip_prefix(&top).map_err(|_| format!("{} is not inside the git work tree {}", abs.display(), top.display()))?.to_path_buf();
    let tree = tree_of(&top, rev)?;
    let tmp = tempfile::Builder::new().prefix("khc-diff-").tempdir().map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    let mut archive = Command::new("git")
        .arg("-C")
        .arg(&top)
        .args(["archive", "--format=tar", "--end-of-options", &tree])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let stdout = archive.stdout.take().ok_or("cannot read git archive's output")?;
    let untar = Command::new("tar").arg("-xf").arg("-").arg("-C").arg(tmp.path()).stdin(stdout).output().map_err(|e| format!("cannot run tar: {e}"))?;
    let archived = archive.wait_with_output().map_err(|e| format!("git archive: {e}"))?;
    if !archived.status.success() {
        return Err(format!("git archive {tree}: {}", String::from_utf8_lossy(&archived.stderr).trim()));
    }
    if !untar.status.success() {
        return Err(format!("tar: {}", String::from_utf8_lossy(&untar.stderr).trim()));
    }
    let old = tmp.path().join(rel);
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
                suppression: None,
                rule_id: format!("posture/{}", c.category),
                level: if matches!(c.effect, Effect::Loosened | Effect::Destructive) { "warning" } else { "note" },
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
    // `KHC_DIFF_FULL=1`: the old path, two full compiles and the whole posture
    // of each (the oracle of `tests/incremental_diff.rs`, kept for the bench).
    if std::env::var_os("KHC_DIFF_FULL").is_some_and(|v| v == "1") {
        let changes = match (super::load(&old), super::load(&new)) {
            (Ok(a), Ok(b)) => khc_analysis::diff::compare(a, b),
            (Err(code), _) | (_, Err(code)) => return code,
        };
        return report(&args, &changes);
    }
    // Both versions in one database; the posture compared unit by unit
    // (`compare_programs`; `compare` over two whole workspaces is its test oracle).
    let (old_programs, new_programs) = match load_versions(&old, &new, drop) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            let mut code = None;
            for e in [a.err(), b.err()].into_iter().flatten() {
                eprintln!("error: {e}");
                code.get_or_insert(match e {
                    LoadError::Io(_) => ExitCode::from(2),
                    LoadError::Errors(_) => ExitCode::from(1),
                });
            }
            return code.unwrap_or(ExitCode::from(1));
        }
    };
    let changes = compare_programs_then(&old_programs, &new_programs, std::mem::forget);
    report(&args, &changes)
}

/// Prints the changes in the asked format; the exit code.
fn report(args: &Args, changes: &[Change]) -> ExitCode {
    match args.format {
        DiffFormat::Text => print!("{}", text(changes)),
        DiffFormat::Markdown => print!("{}", markdown(changes)),
        DiffFormat::Json => super::print_json(&serde_json::json!({"changes": changes})),
        DiffFormat::Sarif => super::print_json(&changes_sarif(changes)),
    }
    if args.deny_loosening && changes.iter().any(|c| matches!(c.effect, Effect::Loosened | Effect::Destructive)) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
