//! `khc report`: the per-tenant compliance matrix.

use super::{load_project, print_json, write_out, ProjectArg};
use khc_analysis::report::{compliance, html, markdown};
use std::path::PathBuf;
use std::process::ExitCode;

/// Output of `khc report`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Markdown.
    Markdown,
    /// A self-contained HTML page.
    Html,
    /// JSON.
    Json,
}

/// Arguments of `khc report`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Per-tenant compliance matrix: each Pod Security control and recommendation → PSA, khc, both or neither",
    long_about = "For every tenant, say who enforces each Pod Security Standards control (baseline and \
restricted) and each recommendation (limits, requests, pinned images, allowed registries, read-only \
root filesystem, no runtime socket, network isolation, no token mounting, quota, limits): Pod Security \
Admission (the tenant's enforced level), khc's admission policy (rules whose binding denies) or \
objects, both, or neither — with the FILE:LINE of each.",
    after_help = "Examples:\n  khc report -p examples/multi-tenant\n  khc report -p examples/multi-tenant --format html -o compliance.html\n  \
khc report -p examples/multi-tenant --format json"
)]
pub struct Args {
    #[command(flatten)]
    pub project: ProjectArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
    pub format: ReportFormat,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

/// Runs `khc report`.
pub fn run(args: Args) -> ExitCode {
    let ws = match load_project(&args.project) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let rows = compliance(&ws);
    let text = match args.format {
        ReportFormat::Markdown => markdown(&ws, &rows),
        ReportFormat::Html => html(&ws, &rows),
        ReportFormat::Json => {
            if args.out.is_none() {
                print_json(&rows);
                return ExitCode::SUCCESS;
            }
            serde_json::to_string_pretty(&rows).expect("rows serialize")
        }
    };
    write_out(&text, args.out.as_deref())
}
