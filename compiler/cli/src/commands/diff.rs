//! `khc diff OLD NEW` and `khc diff --against REV [PATH]`: the security posture
//! change between two versions of the intent.

use super::sarif::{self, split_location, SarifResult};
use super::usage;
use khc_analysis::diff::{compare_programs_then, load_against, load_versions, markdown, text, Change, Effect, Program};
use khc_analysis::{LoadError, Workspace};
use khc_db::git::GitTree;
use khc_db::{KhcDatabase, Project};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

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
old version is that revision of the same path, read from git without extracting anything. The \
revision's tree is listed once; a file whose blob there equals the working file is not read \
again (nor checked again), only changed, added and deleted files' old texts are read. The old \
version resolves imports and key files in the revision's tree (`..` too; symbolic links committed \
there are followed inside it; paths outside the repository are read from disk in both versions). \
Files not in the revision (new, untracked, ignored) are missing there; staged and unstaged \
changes alike are the new version. The old version's files are named REV:path in its diagnostics \
(SPEC section 13, \"The old version from git\").\n\n\
Both versions are compiled in one database (a file with the same text in both is checked once) and \
compared tenant by tenant: only what a changed tenant can affect is evaluated again, across tenants \
too (its peers' network policies, the subjects its bindings cover, the admission policies it \
binds); the changes are those of two full compiles (SPEC section 13, \"The posture change\").\n\n\
Exit codes: 0 (with --deny-loosening: nothing loosened or destroyed), 1 something loosened or \
destroyed with --deny-loosening or the sources have errors, 2 usage or IO (also: PATH not in a git \
work tree or not UTF-8 below its top, GIT_REV naming no commit, the project absent at GIT_REV).\n\n\
Environment: KHC_DIFF_STATS=1 prints what --against read from git (paths listed, blobs read, files \
unchanged, files parsed and tenants checked for the old version) to stderr.",
    after_help = "Examples:\n  khc diff old/ examples/multi-tenant\n  khc diff --against origin/main examples/multi-tenant --format markdown > comment.md\n  \
khc diff --against HEAD~1 . --deny-loosening\n  khc diff --against HEAD examples/multi-tenant/cluster.khc   # the uncommitted changes of one program"
)]
pub struct Args {
    /// OLD and NEW (or, with --against, the one PATH).
    #[arg(num_args = 0..=2)]
    pub paths: Vec<PathBuf>,
    /// Compare PATH with its version at this git revision (read from git, nothing extracted).
    #[arg(long, value_name = "GIT_REV")]
    pub against: Option<String>,
    /// Exit 1 when anything is loosened or destroyed.
    #[arg(long)]
    pub deny_loosening: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
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
    let (old, new) = match (&args.against, args.paths.as_slice()) {
        (Some(rev), paths) if paths.len() <= 1 => {
            let path = paths.first().cloned().unwrap_or_else(|| PathBuf::from("."));
            return against(&args, &path, rev);
        }
        (None, [old, new]) => (old.clone(), new.clone()),
        _ => return usage("give OLD and NEW, or --against GIT_REV [PATH]"),
    };
    // `KHC_DIFF_FULL=1`: the old path, two full compiles and the whole posture
    // of each (the oracle of `tests/incremental_diff.rs`, kept for the bench).
    if full() {
        let changes = match (super::load(&old), super::load(&new)) {
            (Ok(a), Ok(b)) => khc_analysis::diff::compare(a, b),
            (Err(code), _) | (_, Err(code)) => return code,
        };
        return report(&args, &changes);
    }
    // Both versions in one database; the posture compared unit by unit
    // (`compare_programs`; `compare` over two whole workspaces is its test oracle).
    let versions = load_versions(&old, &new, drop);
    compare(&args, versions)
}

fn full() -> bool {
    std::env::var_os("KHC_DIFF_FULL").is_some_and(|v| v == "1")
}

/// `khc diff --against REV PATH`: the working tree's project at `path` against
/// its files at `rev`, read from git (`khc_db::git::GitTree`: the revision's
/// tree listed once, only the files whose blob differs from the working file
/// read, nothing extracted), both in one database.
fn against(args: &Args, path: &Path, rev: &str) -> ExitCode {
    let (tree, root, entry) = match GitTree::open(path, rev) {
        Ok(t) => t,
        Err(e) => return usage(&e),
    };
    for name in tree.non_utf8_sources() {
        let dir = khc_db::VersionFiles::display_name(&tree, "");
        let sep = if dir.ends_with(':') { "" } else { "/" };
        eprintln!("warning: {dir}{sep}{name} is not read: its name is not UTF-8 (khc reads only UTF-8 file names, as in the working tree)");
    }
    let tree = Arc::new(tree);
    let stats = std::env::var_os("KHC_DIFF_STATS").is_some_and(|v| v == "1");
    let print_stats = |checked: Option<(usize, usize)>| {
        if stats {
            let s = tree.stats();
            eprintln!(
                "khc diff --against: {} paths listed at {rev}; {} blobs read from git ({} link targets); {} files unchanged (not read){}",
                s.listed,
                s.blobs_read,
                s.links_read,
                s.unchanged,
                checked.map(|(parsed, checked)| format!("; {parsed} files parsed and {checked} tenants checked for the old version")).unwrap_or_default()
            );
        }
    };
    if full() {
        // Two full compiles: the working tree from disk, the revision in a fresh database.
        let new = match super::load(path) {
            Ok(w) => w,
            Err(code) => return code,
        };
        let old = match Project::open_version(&root, tree.clone(), entry.as_ref()) {
            Ok(p) => Workspace::models_of(p, std::mem::forget).map(Workspace::from_models),
            Err(e) => Err(LoadError::Io(e)),
        };
        let old = match old {
            Ok(w) => w,
            Err(e) => return load_error(&[e]),
        };
        print_stats(None);
        return report(args, &khc_analysis::diff::compare(&old, new));
    }
    let db = if stats { KhcDatabase::with_log(&root) } else { KhcDatabase::new(&root) };
    let mut checked = None;
    let versions = load_against(path, tree.clone(), entry.as_ref(), db, |p| {
        if stats {
            let log = p.db.take_log();
            let count = |query: &str| log.iter().filter(|q| q.starts_with(query)).count();
            checked = Some((count("parse("), count("tenant_check(")));
        }
        // Freed before the evaluators are built: the peak is one of them, not both.
        drop(p);
    });
    print_stats(checked);
    compare(args, versions)
}

/// Prints each side's load error; the exit code (2 for IO, else 1).
fn load_error(errors: &[LoadError]) -> ExitCode {
    let mut code = None;
    for e in errors {
        eprintln!("error: {e}");
        code.get_or_insert(match e {
            LoadError::Io(_) => ExitCode::from(2),
            LoadError::Errors(_) => ExitCode::from(1),
        });
    }
    code.unwrap_or(ExitCode::from(1))
}

/// Compares the two versions' programs unit by unit and reports.
fn compare(args: &Args, versions: (Result<Vec<Program>, LoadError>, Result<Vec<Program>, LoadError>)) -> ExitCode {
    let (old_programs, new_programs) = match versions {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => return load_error(&[a.err(), b.err()].into_iter().flatten().collect::<Vec<_>>()),
    };
    let changes = compare_programs_then(&old_programs, &new_programs, std::mem::forget);
    report(args, &changes)
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
