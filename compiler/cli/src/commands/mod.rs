//! The query and reporting commands, one module each. Every command answers
//! with the `FILE:LINE` of each reason; `--format json` gives the same answer as
//! JSON on stdout.

pub mod audit_live;
pub mod blast_radius;
pub mod can;
pub mod diagnostics;
pub mod diff;
pub mod eval;
pub mod fmt;
pub mod graph;
pub mod import;
pub mod reach;
pub mod report;
pub mod sarif;
pub mod who_can;

use clap::ValueEnum;
use khc_analysis::{LoadError, Workspace};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The project a query is about.
#[derive(clap::Args, Clone, Debug)]
pub struct ProjectArg {
    /// The khc project: an entry file or a directory.
    #[arg(short = 'p', long = "project", default_value = ".", value_name = "PATH")]
    pub project: PathBuf,
    /// The cluster's live objects (`kubectl get … -A -o yaml`, `kind: List` included;
    /// `-` for stdin): answers are then over khc's intent and what is live, each
    /// reason naming its side (FILE:LINE, or `live KIND NS/NAME`).
    #[arg(long, value_name = "FILE|-", conflicts_with = "kubeconfig")]
    pub live: Option<PathBuf>,
    /// Read the live objects straight from the API server of this kubeconfig
    /// (client certificate, bearer token or token file; the cluster's CA).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current-context).
    #[arg(long, value_name = "NAME", requires = "kubeconfig")]
    pub context: Option<String>,
}

impl ProjectArg {
    /// The live objects of `--live` or `--kubeconfig`, if either is given.
    pub fn live_objects(&self) -> Result<Option<Vec<khc_analysis::manifest::Manifest>>, String> {
        if let Some(p) = &self.live {
            return eval::read_manifests(std::slice::from_ref(p)).map(Some).map_err(|e| format!("--live: {e}"));
        }
        if let Some(k) = &self.kubeconfig {
            return crate::kube_client::fetch(k, self.context.as_deref()).map(Some).map_err(|e| format!("--kubeconfig: {e}"));
        }
        Ok(None)
    }
}

/// The options every query command shares: the project and the output format.
#[derive(clap::Args, Clone, Debug)]
pub struct QueryOpts {
    #[command(flatten)]
    pub project: ProjectArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = QueryFormat::Text)]
    pub format: QueryFormat,
}

/// Output of the query commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// For people.
    Text,
    /// JSON on stdout.
    Json,
}

/// Compiles the project; on failure prints why and returns the exit code (1:
/// the sources have errors, 2: IO or usage). The database is dropped once
/// checked, so the checked tenants move out of it uncopied and the emission
/// reuses its memory (the peak RSS of the load is `khc check`'s; freeing it costs
/// what copying the model did). The process ends after answering, so the
/// workspace is not torn down (leaked).
pub fn load(path: &Path) -> Result<&'static Workspace, ExitCode> {
    load_owned(path).map(|ws| &*Box::leak(Box::new(ws)))
}

/// Compiles the project ([`Workspace::load`]), printing why it cannot.
fn load_owned(path: &Path) -> Result<Workspace, ExitCode> {
    Workspace::load(path).map_err(|e| {
        eprintln!("error: {e}");
        match e {
            LoadError::Io(_) => ExitCode::from(2),
            LoadError::Errors(_) => ExitCode::from(1),
        }
    })
}

/// Compiles the project and merges the live objects of `--live` or
/// `--kubeconfig`, if given (see [`load`]).
pub fn load_project(arg: &ProjectArg) -> Result<&'static Workspace, ExitCode> {
    let ws = load_owned(&arg.project)?;
    let ws = match arg.live_objects() {
        Ok(None) => ws,
        Ok(Some(live)) => ws.with_live(&live),
        Err(e) => return Err(usage(&e)),
    };
    Ok(Box::leak(Box::new(ws)))
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).expect("answers serialize"));
}

/// A usage error (exit 2).
pub fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// Writes `text` to `out`, or prints it.
pub fn write_out(text: &str, out: Option<&Path>) -> ExitCode {
    match out {
        None => print!("{text}"),
        Some(p) => {
            if let Err(e) = std::fs::write(p, text) {
                return usage(&format!("cannot write {}: {e}", p.display()));
            }
        }
    }
    ExitCode::SUCCESS
}
