//! `khc`, the Kubernetes hardening compiler: command-line interface.
//!
//! Exit codes: 0 success, 1 the sources have errors, 2 usage or IO problems.
//! A closed or failing stderr/stdout never changes the exit code: messages that
//! cannot be written are dropped (no panic).

// The one output helper. These shadow std's `print!`, `println!` and `eprintln!`
// in the whole crate (macros are scoped textually, so every module declared below
// sees them): std's versions panic when stdout or stderr is a closed pipe
// (`khc who-can … | true`); these drop what cannot be written, and the exit code
// stays that of the run. A command never needs to think about it.

/// `print!` that drops output a closed or failing stdout cannot take (never panics).
macro_rules! print {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `println!` that drops output a closed or failing stdout cannot take (never panics).
macro_rules! println {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that drops messages a closed or failing stderr cannot take (never panics).
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// A message on stderr (as [`eprintln!`]): a closed or failing stderr is ignored.
macro_rules! say {
    ($($arg:tt)*) => {
        eprintln!($($arg)*)
    };
}

mod commands;
mod dirfd;
mod kube_client;
mod notify;
mod write;

mod watch;

use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc instead of the system allocator: a build allocates and frees millions
/// of small strings (typed objects, then their YAML), and glibc's `malloc`/`free`
/// were a fifth of a cold build's CPU (README, "Dependency choices").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use commands::diagnostics::DiagFormat;
use khc_db::{build_files, render, ColorChoice, Project};
use khc_emit::gitops::{Engine, GitOps};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Counts reported at the end of a run.
#[derive(Default)]
struct Summary {
    errors: usize,
    warnings: usize,
}

#[derive(Parser)]
#[command(
    name = "khc",
    version,
    about = "khc, the Kubernetes hardening compiler",
    long_about = "khc compiles .khc files — the security intent of a cluster and its tenants — into the \
Kubernetes objects that enforce it: Namespaces with Pod Security labels, ServiceAccounts, RBAC, \
NetworkPolicies, ResourceQuotas, LimitRanges, ValidatingAdmissionPolicies and the API server's \
EncryptionConfiguration, laid out as a GitOps repository with kustomization files.\n\n\
The language is described in SPEC.md.",
    after_help = "Examples:\n  khc check examples/multi-tenant\n  khc build examples/multi-tenant -o out\n  khc build cluster.khc -o gitops/ --deny-warnings\n\n\
Asking questions (see each command's --help):\n  khc who-can get secrets -n payments -p examples/multi-tenant\n  \
khc can group:oidc:payments-devs create deployments.apps -n payments -p examples/multi-tenant\n  \
khc reach monitoring/prometheus payments/api --port 9090 -p examples/multi-tenant\n  \
khc blast-radius monitoring/prometheus -p examples/multi-tenant\n  khc eval manifests/ -p examples/multi-tenant\n  \
khc diff --against origin/main examples/multi-tenant --format markdown\n  khc graph -p examples/multi-tenant --format html -o posture.html\n  \
khc report -p examples/multi-tenant\n  \
kubectl get roles,rolebindings,networkpolicies,namespaces -A -o yaml | khc audit-live --live - -p examples/multi-tenant\n\n\
Exit codes: 0 success, 1 the sources have errors, 2 usage or IO problems."
)]
struct Cli {
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    color: Color,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, ValueEnum)]
enum GitOpsEngine {
    /// Argo CD Applications (sync waves: cluster objects first).
    Argocd,
    /// Flux Kustomizations (tenant units depend on the cluster unit).
    Flux,
}

#[derive(Subcommand)]
enum Command {
    /// Compile sources and write the GitOps repository.
    #[command(
        long_about = "Compile the sources and write the GitOps repository.\n\n\
PATH is an entry file (one that declares a `cluster`) or a directory; in a directory every \
*.khc file directly inside that declares a `cluster` is compiled. Imports are followed.\n\n\
Output layout under OUT (each unit is a small kustomization, applied on its own):\n  \
clusters/CLUSTER/Kustomization             entry point: the cluster unit (with --gitops: the engine objects)\n  \
clusters/CLUSTER/cluster/                  unit: ClusterRoles, bindings, cluster admission policy\n  \
clusters/CLUSTER/tenants/TENANT/           unit: Namespaces, admission policy, namespaces/NS/ objects\n  \
clusters/CLUSTER/gitops/                   with --gitops: Argo CD Applications or Flux Kustomizations\n  \
clusters/CLUSTER/control-plane/            EncryptionConfiguration + install script (not for kubectl)\n\n\
Without --gitops: `kubectl apply -k clusters/CLUSTER` (cluster unit), then `kubectl apply -k` each \
tenant folder; or `kubectl apply --server-side -R -f clusters/CLUSTER/cluster -R -f clusters/CLUSTER/tenants`.\n\n\
khc records what it wrote in OUT/.khc-manifest; a later build removes files it no longer \
generates and never touches files it did not write. Each file is replaced atomically (a new \
folder, e.g. all of clusters/ on a first build, appears whole: it is written under a temporary \
.khc-tmp-dir-N name and renamed into place once), symbolic links below OUT are refused, and OUT/.khc-lock keeps a second build out; a build \
that was interrupted is completed by the next one.",
        after_help = "Examples:\n  khc build examples/multi-tenant -o out\n  khc build prod.khc -o ../gitops --deny-warnings\n  \
khc build . -o out --gitops argocd --gitops-repo https://git.example.com/platform/gitops.git --gitops-path out\n  \
khc build . -o out --gitops flux --gitops-path out\n  khc build . -o out --format sarif > khc.sarif\n  khc build --watch examples/multi-cluster -o out"
    )]
    Build {
        /// Entry file or directory.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Output directory.
        #[arg(short, long, default_value = "out")]
        out: PathBuf,
        /// Treat warnings as errors (exit 1 and write nothing).
        #[arg(long)]
        deny_warnings: bool,
        /// Also list the warnings acknowledged in source (`# khc: allow CODE — REASON`);
        /// they are always counted, and never fail `--deny-warnings`.
        #[arg(long)]
        show_acknowledged: bool,
        /// Overwrite files in OUT that khc did not write.
        #[arg(long)]
        force: bool,
        /// Also emit GitOps engine objects, one per unit (cluster objects, each tenant),
        /// and make them the cluster's entry point.
        #[arg(long, value_enum, value_name = "ENGINE")]
        gitops: Option<GitOpsEngine>,
        /// Git repository URL that holds OUT (required with `--gitops argocd`; with
        /// `--gitops flux`, a GitRepository is emitted for it).
        #[arg(long, value_name = "URL", requires = "gitops")]
        gitops_repo: Option<String>,
        /// Branch, tag or commit to deploy [default: HEAD (argocd), main (flux)].
        #[arg(long, value_name = "REV", requires = "gitops")]
        gitops_revision: Option<String>,
        /// Folder of OUT inside the repository [default: the repository root].
        #[arg(long, value_name = "PREFIX", requires = "gitops", default_value = "")]
        gitops_path: String,
        /// Flush every written file (and each new folder) to disk before renaming it
        /// into place (survives power loss, not only a killed process; slower).
        #[arg(long)]
        fsync: bool,
        /// How to report diagnostics (json and sarif go to stdout).
        #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
        format: DiagFormat,
        /// Keep running: rebuild when a source changes (only what changed is
        /// re-checked and rewritten; a build with errors leaves OUT untouched).
        /// Changes are seen through inotify, or polled every 100 ms on network
        /// and FUSE file systems (KHC_WATCH_POLL=1 polls everything); a rebuild
        /// starts once the sources have been quiet for 150 ms. Ctrl-C stops.
        #[arg(long)]
        watch: bool,
    },
    /// Report diagnostics without writing anything.
    #[command(after_help = "Examples:\n  khc check examples/multi-tenant\n  khc check tenant.khc --deny-warnings\n  khc check . --format sarif > khc.sarif")]
    Check {
        /// Entry file or directory.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Treat warnings as errors (exit 1); warnings acknowledged in source
        /// (`# khc: allow CODE — REASON` on their line) do not count.
        #[arg(long)]
        deny_warnings: bool,
        /// Also list the warnings acknowledged in source; they are always counted.
        #[arg(long)]
        show_acknowledged: bool,
        /// How to report diagnostics (json and sarif go to stdout).
        #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
        format: DiagFormat,
    },
    /// Format sources in the canonical layout (comments kept; broken regions copied as written).
    #[command(
        long_about = "Format .khc sources in the canonical layout: two-space indentation, one statement per \
line (a one-line block written with `;` stays on one line when it fits in 100 columns), lists wrapped \
when they do not fit, at most one blank line, every comment kept where it belongs. Text with syntax \
errors is copied as written. Formatting never changes meaning.\n\n\
PATH is a file, a directory (every *.khc below it) or `-` (standard input to standard output); \
default `.`. Only files that change are rewritten, atomically.",
        after_help = "Examples:\n  khc fmt examples/multi-tenant\n  khc fmt --check .        # CI: exit 1 and list files that would change\n  khc fmt - < tenant.khc\n\n\
Exit codes: 0 success, 1 `--check` found files that would change, 2 usage or IO problems."
    )]
    Fmt {
        /// Files or directories to format (`-` for standard input).
        paths: Vec<PathBuf>,
        /// Write nothing; exit 1 and list the files that would change.
        #[arg(long)]
        check: bool,
    },
    /// Run the language server on stdin/stdout (used by editors).
    Lsp {
        /// Accepted for editors that pass it (vscode-languageclient does); stdio is the only transport.
        #[arg(long)]
        stdio: bool,
    },
    WhoCan(commands::who_can::Args),
    Can(commands::can::Args),
    Reach(commands::reach::Args),
    BlastRadius(commands::blast_radius::Args),
    Eval(commands::eval::Args),
    Diff(commands::diff::Args),
    Graph(commands::graph::Args),
    Report(commands::report::Args),
    AuditLive(commands::audit_live::Args),
    Import(commands::import::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.color {
        Color::Always => ColorChoice::Always,
        Color::Never => ColorChoice::Never,
        Color::Auto => {
            if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
                ColorChoice::Always
            } else {
                ColorChoice::Never
            }
        }
    };
    match cli.command {
        Command::Build { path, out, deny_warnings, show_acknowledged, force, fsync, gitops, gitops_repo, gitops_revision, gitops_path, format, watch } => {
            let gitops = gitops.map(|engine| GitOps {
                engine: match engine {
                    GitOpsEngine::Argocd => Engine::ArgoCd,
                    GitOpsEngine::Flux => Engine::Flux,
                },
                repo: gitops_repo,
                revision: gitops_revision,
                path: gitops_path,
            });
            if let Some(Err(e)) = gitops.as_ref().map(GitOps::validate) {
                return usage_error(&e);
            }
            let opts = write::Options { force, fsync, stop: None };
            if watch {
                let opts = write::Options { stop: Some(&watch::STOP), ..opts };
                // The written tree and the per-file diagnostics, kept between
                // builds: only what changed is re-checked, emitted and rewritten.
                let mut warm = watch::Warm::default();
                let built = watch::run(&path, |project, started, note, changed| {
                    // Exit code 2 here is a failed write (the sources were fine): retried.
                    let watching = Some((started, note, changed, &mut warm));
                    run_project(project, Some((&out, opts, gitops.as_ref())), (deny_warnings, show_acknowledged), color, format, watching) == ExitCode::from(2)
                });
                return match built {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => usage_error(&e),
                };
            }
            run(&path, Some((&out, opts, gitops.as_ref())), (deny_warnings, show_acknowledged), color, format)
        }
        Command::Check { path, deny_warnings, show_acknowledged, format } => run(&path, None, (deny_warnings, show_acknowledged), color, format),
        Command::Fmt { paths, check } => commands::fmt::run(&paths, check),
        Command::WhoCan(a) => commands::who_can::run(a),
        Command::Can(a) => commands::can::run(a),
        Command::Reach(a) => commands::reach::run(a),
        Command::BlastRadius(a) => commands::blast_radius::run(a),
        Command::Eval(a) => commands::eval::run(a),
        Command::Diff(a) => commands::diff::run(a),
        Command::Graph(a) => commands::graph::run(a),
        Command::Report(a) => commands::report::run(a),
        Command::AuditLive(a) => commands::audit_live::run(a),
        Command::Import(a) => commands::import::run(a),
        Command::Lsp { .. } => match khc_lsp::run_stdio() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                say!("khc lsp: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn usage_error(msg: &str) -> ExitCode {
    say!("error: {msg}");
    ExitCode::from(2)
}

/// Checks (and with `out`, builds) the project at `path`.
fn run(
    path: &std::path::Path,
    out: Option<(&PathBuf, write::Options, Option<&GitOps>)>,
    warnings: (bool, bool),
    color: ColorChoice,
    format: DiagFormat,
) -> ExitCode {
    let mut project = match Project::open(path) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    if out.is_some() {
        // One build, then exit: syntax trees and checked tenants are dropped
        // once what they are needed for exists (see `khc_db::emit_releasing`).
        project.db.bound_memos();
    }
    let code = run_project(&mut project, out, warnings, color, format, None);
    // The process ends here: skip tearing down the database (all its memos).
    std::mem::forget(project);
    code
}

/// Checks (and with `out`, writes) an opened project: diagnostics, then one
/// summary line. `watching` (`--watch`): when the build started and what
/// triggered it, appended to the summary line, the files read again, and what
/// the previous builds left (per-file diagnostics, each tenant's fingerprint,
/// the memory of OUT: only changed files are re-checked, compared, checked and
/// written).
fn run_project(
    project: &mut Project,
    out: Option<(&PathBuf, write::Options, Option<&GitOps>)>,
    (deny_warnings, show_acknowledged): (bool, bool),
    color: ColorChoice,
    format: DiagFormat,
    watching: Option<(std::time::Instant, &str, &[khc_syntax::FileKey], &mut watch::Warm)>,
) -> ExitCode {
    let (watching, mut warm, changed) = match watching {
        Some((started, trigger, changed, warm)) => (Some((started, trigger)), Some(warm), changed),
        None => (None, None, &[][..]),
    };
    // `--watch`: OUT's stamps compared with the memory while the build compiles.
    let check = warm.as_mut().zip(out.as_ref()).and_then(|(w, (out, _, _))| w.memory.check(out));
    // `--watch`: " [12 ms after changes to FILE]" at the end of the summary line.
    let note = || match watching {
        Some((started, trigger)) => format!(" [{} ms{}{trigger}]", started.elapsed().as_millis(), if trigger.is_empty() { "" } else { " " }),
        None => String::new(),
    };
    let db = &project.db;
    let mut summary = Summary::default();
    let mut all_diags = Vec::new();
    if let Some(warm) = warm.as_mut() {
        // `--watch`: each entry's diagnostics kept up to date file by file.
        warm.retain(&project.entries);
        for &entry in &project.entries {
            all_diags.extend(warm.diagnostics(db, entry, changed));
        }
    } else {
        for &entry in &project.entries {
            all_diags.extend(khc_db::diagnostics(db, entry).iter().cloned());
        }
    }
    // `*.khc` files of the directory that could not be read: reported, the
    // others still checked.
    for f in &project.unreadable {
        if let khc_db::FileContents::Missing(why) = f.contents(db) {
            all_diags.push(khc_syntax::Diagnostic::error("import", f.key(db), khc_syntax::Span::new(0, 0), "cannot read this file").with_note(why.clone()));
        }
    }
    // Each entry writes clusters/NAME: two entries may not declare one name.
    all_diags.extend(khc_db::checks::duplicate_clusters(db, &project.entries));
    // Warnings acknowledged in source (`# khc: allow CODE — REASON`).
    khc_db::acknowledge::acknowledge(db, &mut all_diags);
    let mut acknowledged = 0;
    for d in &all_diags {
        if d.is_error() {
            summary.errors += 1;
        } else if d.acknowledged.is_some() {
            acknowledged += 1;
        } else {
            summary.warnings += 1;
        }
    }
    if format == DiagFormat::Text {
        use std::io::Write as _;
        let shown: Vec<khc_syntax::Diagnostic> = all_diags
            .iter()
            .filter(|d| show_acknowledged || d.acknowledged.is_none())
            .map(|d| match &d.acknowledged {
                Some(why) => d.clone().with_note(format!("note: acknowledged in source: {why}")),
                None => d.clone(),
            })
            .collect();
        let _ = std::io::stderr().lock().write_all(render(db, &shown, color).as_bytes());
    } else {
        commands::diagnostics::print(db, &all_diags, format);
    }
    let failed = summary.errors > 0 || (deny_warnings && summary.warnings > 0);
    let verdict = format!(
        "{} error{}, {} warning{}{}",
        summary.errors,
        if summary.errors == 1 { "" } else { "s" },
        summary.warnings,
        if summary.warnings == 1 { "" } else { "s" },
        if acknowledged > 0 { format!(" ({acknowledged} acknowledged)") } else { String::new() }
    );
    if failed {
        let why = if summary.errors == 0 { " (warnings denied)" } else { "" };
        say!("khc: {verdict}{why}; nothing written{}", note());
        return ExitCode::from(1);
    }
    let Some((out, opts, gitops)) = out else {
        say!("khc: {verdict}{}", note());
        return ExitCode::SUCCESS;
    };
    // `--watch`: only the tenants re-checked since the last write are asked of
    // the database, the others given by their last fingerprint; should OUT
    // have changed since (the check, still running when OUT is compared by
    // stamps, tells the writer), the writer gathers every file for the full write.
    let partial = gitops.is_none() && warm.as_ref().is_some_and(|w| !w.memory.is_empty());
    // Emit each entry's files, dropping what a bounded database (a one-shot
    // build) no longer needs; engine objects read the whole model, taken first.
    if gitops.is_some() {
        for &entry in &project.entries {
            let _ = khc_db::checks::model(&project.db, entry);
        }
    }
    let entries = project.entries.clone();
    if !partial {
        khc_db::emit_releasing(&mut project.db, &entries);
    }
    let db = &project.db;
    // Files are borrowed from the database (never copied); `--gitops` adds the
    // engine objects and replaces each cluster's entry point.
    let mut borrowed: Vec<&khc_emit::OutputFile> = Vec::new();
    let mut owned: Vec<khc_emit::OutputFile> = Vec::new();
    let mut clusters: Vec<(String, String)> = Vec::new();
    // `--watch`: the same files grouped by the memo that holds them, with its fingerprint.
    let mut groups: Vec<write::Group<'_>> = Vec::new();
    for &entry in &project.entries {
        match warm.as_mut() {
            // `--watch` without `--gitops`: the groups (placeholders for the
            // tenants not re-checked); the files themselves only if needed.
            Some(warm) if gitops.is_none() => {
                let Some(g) = warm.groups(db, entry, partial) else { continue };
                groups.extend(g);
            }
            Some(_) => {
                if build_files(db, entry).is_none() {
                    continue;
                }
                let filtered = gitops.map(|_| khc_db::checks::model(db, entry).as_ref().map(|m| khc_emit::gitops::entry_point(m).path));
                for (i, (fp, g)) in khc_db::emit::build_groups(db, entry).unwrap_or_default().into_iter().enumerate() {
                    match (i, &filtered) {
                        // The cluster's group without the entry point `--gitops` replaces.
                        (0, Some(Some(skip))) => groups.push(write::Group { fingerprint: None, files: g.iter().filter(|f| &f.path != skip).collect() }),
                        _ => groups.push(write::Group { fingerprint: Some(fp), files: g.iter().collect() }),
                    }
                }
            }
            None => {}
        }
        let key = entry.key(db).to_string();
        let name = khc_db::checks::cluster_facts(db, entry).name.clone();
        if let Some((_, other)) = clusters.iter().find(|(n, _)| *n == name) {
            say!("error: cluster `{name}` is declared by both {other} and {key}; each entry needs its own cluster name");
            return ExitCode::from(1);
        }
        clusters.push((name, key));
        if warm.is_some() && gitops.is_none() {
            continue;
        }
        let Some(files) = build_files(db, entry) else { continue };
        // The model (a copy of every tenant's) only when engine objects need it.
        match (gitops, gitops.and_then(|_| khc_db::checks::model(db, entry).as_ref())) {
            (Some(g), Some(model)) => {
                let entry_point = khc_emit::gitops::entry_point(model);
                borrowed.extend(files.into_iter().filter(|f| f.path != entry_point.path));
                owned.push(entry_point);
                owned.extend(khc_emit::gitops::engine_files(model, g));
            }
            _ => borrowed.extend(files),
        }
    }
    // Every file, in the order of a one-shot build (`--watch` without
    // `--gitops`: gathered only when the write or the collision check reads them all).
    let watched_plainly = warm.is_some() && gitops.is_none();
    let entries = &project.entries;
    let all_files = || -> Vec<&khc_emit::OutputFile> {
        if watched_plainly {
            entries.iter().filter_map(|&e| build_files(db, e)).flatten().collect()
        } else {
            borrowed.iter().copied().chain(owned.iter()).collect()
        }
    };
    let all_groups = || -> Vec<write::Group<'_>> {
        entries
            .iter()
            .filter_map(|&e| khc_db::emit::build_groups(db, e))
            .flatten()
            .map(|(fp, g)| write::Group { fingerprint: Some(fp), files: g.iter().collect() })
            .collect()
    };
    let plan = warm.as_ref().map(|warm| {
        groups.push(write::Group { fingerprint: None, files: owned.iter().collect() });
        warm.memory.plan(&groups)
    });
    // The last check: no two files share a path, no two objects an identity
    // (`--watch`: among the changed files, unless one may collide).
    let collisions = match (&warm, &plan) {
        (Some(warm), Some(plan)) => warm.memory.collisions(plan, &all_files),
        _ => khc_emit::collisions::find(&all_files()),
    };
    if !collisions.is_empty() {
        let fallback = project.entries.first().map(|e| e.key(db).clone()).unwrap_or_default();
        let diags = khc_db::collision_diagnostics(db, &collisions, &fallback);
        if format == DiagFormat::Text {
            use std::io::Write as _;
            let _ = std::io::stderr().lock().write_all(render(db, &diags, color).as_bytes());
        } else {
            commands::diagnostics::print(db, &diags, format);
        }
        say!("khc: {} error{} (generated objects collide); nothing written{}", diags.len(), if diags.len() == 1 { "" } else { "s" }, note());
        return ExitCode::from(1);
    }
    let (written, count) = match (&mut warm, &plan) {
        (Some(warm), Some(plan)) => {
            let complete = partial.then_some(&all_groups as &dyn Fn() -> _);
            let r = write::write_watched(out, &all_files, (&groups, plan), check, &opts, &mut warm.memory, complete);
            let count = if watched_plainly && !warm.memory.is_empty() { warm.memory.file_count() } else { all_files().len() };
            if std::env::var_os("KHC_WATCH_TRACE").is_some_and(|v| v == "1") {
                // The work of this build, as counts (tests compare them across fleet sizes).
                let ((units, tenants), (incremental, watched)) = (warm.work(), warm.memory.last_write());
                say!(
                    "khc: trace: {units} units read, {tenants} tenants emitted, {} files hashed, {} write, OUT {}",
                    plan.hashed(),
                    if incremental { "incremental" } else { "full" },
                    if watched { "watched" } else { "stamped" }
                );
            }
            (r, count)
        }
        _ => {
            let files = all_files();
            (write::write_tree(out, &files, &opts), files.len())
        }
    };
    match written {
        Ok(stats) => {
            for why in &stats.kept {
                say!("warning: cannot remove stale file {why}; it stays in {} for the next build", write::MANIFEST);
            }
            let names: Vec<&str> = clusters.iter().map(|(n, _)| n.as_str()).collect();
            say!(
                "khc: {verdict}; wrote {} files ({} changed, {} removed) to {} for cluster{} {}{}",
                count,
                stats.changed,
                stats.removed,
                out.display(),
                if names.len() == 1 { "" } else { "s" },
                names.join(", "),
                note()
            );
            ExitCode::SUCCESS
        }
        Err(e) => usage_error(&e),
    }
}
