//! `khc report`: the per-tenant compliance matrix, or (`--benchmark cis-1.12`)
//! the CIS Kubernetes Benchmark checks of the control plane.

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

/// The benchmarks of `khc report --benchmark`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Benchmark {
    /// CIS Kubernetes Benchmark 1.12 (Kubernetes 1.32–1.34; kube-bench's `cis-1.12`).
    #[value(name = "cis-1.12")]
    Cis112,
}

/// Arguments of `khc report`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Per-tenant compliance matrix: each Pod Security control and recommendation → PSA, khc, both or neither",
    long_about = "For every tenant, say who enforces each Pod Security Standards control (baseline and \
restricted) and each recommendation (limits, requests, pinned images, allowed registries, read-only \
root filesystem, no runtime socket, network isolation, no token mounting, quota, limits): Pod Security \
Admission (the tenant's enforced level), khc's admission policy (rules whose binding denies) or \
objects, both, or neither — with the FILE:LINE of each.\n\n\
With --benchmark cis-1.12: each CIS Kubernetes Benchmark 1.12 check of the control plane (kube-bench's \
master and controlplane targets, and the kubelet checks of the drop-in) → PASS, FAIL, WARN or not khc's \
(installer-owned flags, node files), judged from the generated control-plane files as kube-bench judges \
the running components, with the source line behind each setting and a note where the scanner's \
heuristic disagrees with the intent. Exits 1 when a check khc owns FAILs.",
    after_help = "Examples:\n  khc report -p examples/multi-tenant\n  khc report -p examples/multi-tenant --format html -o compliance.html\n  \
khc report -p examples/multi-tenant --format json\n  khc report -p examples/multi-tenant --benchmark cis-1.12"
)]
pub struct Args {
    #[command(flatten)]
    pub project: ProjectArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
    pub format: ReportFormat,
    /// Judge the control plane by a benchmark instead (`cis-1.12`); markdown or json.
    #[arg(long, value_enum)]
    pub benchmark: Option<Benchmark>,
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
    if let Some(Benchmark::Cis112) = args.benchmark {
        let checks = khc_analysis::benchmark::cis_1_12(&ws.models);
        let failed = checks.iter().any(|c| c.verdict == khc_analysis::benchmark::Verdict::Fail);
        let code = match args.format {
            ReportFormat::Json if args.out.is_none() => {
                print_json(&checks);
                ExitCode::SUCCESS
            }
            ReportFormat::Json => write_out(&serde_json::to_string_pretty(&checks).expect("checks serialize"), args.out.as_deref()),
            _ => write_out(&khc_analysis::benchmark::markdown(&checks), args.out.as_deref()),
        };
        return if failed && code == ExitCode::SUCCESS { ExitCode::from(1) } else { code };
    }
    let rows = compliance(ws);
    let text = match args.format {
        ReportFormat::Markdown => markdown(ws, &rows),
        ReportFormat::Html => html(ws, &rows),
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
