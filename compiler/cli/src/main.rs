//! `khc`, the Kubernetes hardening compiler: command-line interface.
//!
//! Exit codes: 0 success, 1 the sources have errors, 2 usage or IO problems.

mod commands;
mod write;

use clap::{Parser, Subcommand, ValueEnum};
use commands::diagnostics::DiagFormat;
use khc_db::{build, check, render, ColorChoice, Project};
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
khc can group:payments-devs create deployments.apps -n payments -p examples/multi-tenant\n  \
khc reach monitoring/prometheus payments/api --port 9090 -p examples/multi-tenant\n  \
khc blast-radius monitoring/prometheus -p examples/multi-tenant\n  khc eval manifests/ -p examples/multi-tenant\n  \
khc diff --against origin/main examples/multi-tenant --format markdown\n  khc graph -p examples/multi-tenant --format html -o posture.html\n  \
khc report -p examples/multi-tenant\n\n\
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

#[derive(Subcommand)]
enum Command {
    /// Compile sources and write the GitOps repository.
    #[command(
        long_about = "Compile the sources and write the GitOps repository.\n\n\
PATH is an entry file (one that declares a `cluster`) or a directory; in a directory every \
*.khc file directly inside that declares a `cluster` is compiled. Imports are followed.\n\n\
Output layout under OUT:\n  \
clusters/CLUSTER/kustomization.yaml        apply with `kubectl apply -k`\n  \
clusters/CLUSTER/cluster/                  ClusterRoles, bindings, cluster admission policy\n  \
clusters/CLUSTER/tenants/TENANT/           Namespaces, admission policy, one folder per namespace\n  \
clusters/CLUSTER/control-plane/            EncryptionConfiguration + install script (not for kubectl)\n\n\
khc records what it wrote in OUT/.khc-manifest; a later build removes files it no longer \
generates and never touches files it did not write.",
        after_help = "Examples:\n  khc build examples/multi-tenant -o out\n  khc build prod.khc -o ../gitops --deny-warnings\n  khc build . -o out --format sarif > khc.sarif"
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
        /// Overwrite files in OUT that khc did not write.
        #[arg(long)]
        force: bool,
        /// How to report diagnostics (json and sarif go to stdout).
        #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
        format: DiagFormat,
    },
    /// Report diagnostics without writing anything.
    #[command(after_help = "Examples:\n  khc check examples/multi-tenant\n  khc check tenant.khc --deny-warnings\n  khc check . --format sarif > khc.sarif")]
    Check {
        /// Entry file or directory.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Treat warnings as errors (exit 1).
        #[arg(long)]
        deny_warnings: bool,
        /// How to report diagnostics (json and sarif go to stdout).
        #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
        format: DiagFormat,
    },
    /// Run the language server on stdin/stdout (used by editors).
    Lsp,
    WhoCan(commands::who_can::Args),
    Can(commands::can::Args),
    Reach(commands::reach::Args),
    BlastRadius(commands::blast_radius::Args),
    Eval(commands::eval::Args),
    Diff(commands::diff::Args),
    Graph(commands::graph::Args),
    Report(commands::report::Args),
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
        Command::Build { path, out, deny_warnings, force, format } => run(&path, Some((&out, force)), deny_warnings, color, format),
        Command::Check { path, deny_warnings, format } => run(&path, None, deny_warnings, color, format),
        Command::WhoCan(a) => commands::who_can::run(a),
        Command::Can(a) => commands::can::run(a),
        Command::Reach(a) => commands::reach::run(a),
        Command::BlastRadius(a) => commands::blast_radius::run(a),
        Command::Eval(a) => commands::eval::run(a),
        Command::Diff(a) => commands::diff::run(a),
        Command::Graph(a) => commands::graph::run(a),
        Command::Report(a) => commands::report::run(a),
        Command::Lsp => match khc_lsp::run_stdio() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("khc lsp: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// Checks (and with `out`, builds) the project at `path`.
fn run(path: &std::path::Path, out: Option<(&PathBuf, bool)>, deny_warnings: bool, color: ColorChoice, format: DiagFormat) -> ExitCode {
    let project = match Project::open(path) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    let db = &project.db;
    let mut summary = Summary::default();
    let mut all_diags = Vec::new();
    for &entry in &project.entries {
        all_diags.extend(check(db, entry).diagnostics.iter().cloned());
    }
    khc_db::sort_diagnostics(&mut all_diags);
    for d in &all_diags {
        if d.is_error() {
            summary.errors += 1;
        } else {
            summary.warnings += 1;
        }
    }
    if format == DiagFormat::Text {
        eprint!("{}", render(db, &all_diags, color));
    } else {
        commands::diagnostics::print(db, &all_diags, format);
    }
    let failed = summary.errors > 0 || (deny_warnings && summary.warnings > 0);
    let verdict = format!(
        "{} error{}, {} warning{}",
        summary.errors,
        if summary.errors == 1 { "" } else { "s" },
        summary.warnings,
        if summary.warnings == 1 { "" } else { "s" }
    );
    if failed {
        let why = if summary.errors == 0 { " (warnings denied)" } else { "" };
        eprintln!("khc: {verdict}{why}; nothing written");
        return ExitCode::from(1);
    }
    let Some((out, force)) = out else {
        eprintln!("khc: {verdict}");
        return ExitCode::SUCCESS;
    };
    let mut files = Vec::new();
    let mut clusters: Vec<(String, String)> = Vec::new();
    for &entry in &project.entries {
        let Some(output) = build(db, entry) else { continue };
        let key = entry.key(db).to_string();
        if let Some(model) = check(db, entry).model.as_ref() {
            let name = model.cluster.name.clone();
            if let Some((_, other)) = clusters.iter().find(|(n, _)| *n == name) {
                eprintln!("error: cluster `{name}` is declared by both {other} and {key}; each entry needs its own cluster name");
                return ExitCode::from(1);
            }
            clusters.push((name, key));
        }
        files.extend(output.files.iter().cloned());
    }
    match write::write_tree(out, &files, force) {
        Ok(stats) => {
            let names: Vec<&str> = clusters.iter().map(|(n, _)| n.as_str()).collect();
            eprintln!(
                "khc: {verdict}; wrote {} files ({} changed, {} removed) to {} for cluster{} {}",
                files.len(),
                stats.changed,
                stats.removed,
                out.display(),
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => usage_error(&e),
    }
}
