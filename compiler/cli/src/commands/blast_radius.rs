//! `khc blast-radius TENANT/WORKLOAD`: what a compromised pod of a workload can
//! reach, what its token can do, which Secrets it can read, which admission
//! rules bind it.

use super::{load_project, print_json, usage, QueryFormat, QueryOpts};
use khc_analysis::posture::blast_radius;
use std::process::ExitCode;

/// Arguments of `khc blast-radius`.
#[derive(clap::Args, Debug)]
#[command(
    about = "What a compromised pod of TENANT/WORKLOAD can reach, do and read",
    long_about = "Summarise what an attacker holding one pod of a workload gets: the workloads and external \
endpoints (namespaces, CIDRs, the API server) its pods can connect to and who can connect to them, \
with the deciding NetworkPolicies; the RBAC permissions of its ServiceAccount when its token is \
mounted, and the Secrets among them, and what the token can become or take in more steps \
(impersonation, tokens, pods as other ServiceAccounts, bind/escalate, CSRs, webhooks, hostPath, \
nodes/proxy; pruned where khc's admission refuses a step); the admission rules that bind its pods. \
Endpoints outside the tenants include CIDRs and the internet (0.0.0.0/0) in both directions: an \
`allow ingress from cidr 0.0.0.0/0` shows the internet under \"can be reached from\". Every reason \
has its FILE:LINE.",
    after_help = "Examples:\n  khc blast-radius monitoring/prometheus -p examples/multi-tenant\n  \
khc blast-radius payments/api -p examples/multi-tenant --format json"
)]
pub struct Args {
    /// TENANT/WORKLOAD.
    pub workload: String,
    #[command(flatten)]
    pub opts: QueryOpts,
}

/// Runs `khc blast-radius`.
pub fn run(args: Args) -> ExitCode {
    let ws = match load_project(&args.opts.project) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let Some((t, w)) = ws.workload(&args.workload) else {
        return usage(&format!("no workload `{}` (write TENANT/WORKLOAD)", args.workload));
    };
    let mut b = blast_radius(ws, t, w);
    if b.token_mounted {
        b.escalations = khc_analysis::escalation::reachable(ws, &khc_analysis::rbac::Subject::sa(&w.namespace, &w.name));
    }
    if args.opts.format == QueryFormat::Json {
        print_json(&b);
        return ExitCode::SUCCESS;
    }
    println!("blast radius of {} (declared at {})", b.workload, b.source);
    println!("\ncan connect to ({}):", b.reaches.len());
    for r in &b.reaches {
        println!("  {}: {}", r.endpoint, r.ports);
        for why in &r.because {
            println!("    {why}");
        }
    }
    println!("\ncan be reached from ({}):", b.reached_by.len());
    for r in &b.reached_by {
        println!("  {}: {}", r.endpoint, r.ports);
        for why in &r.because {
            println!("    {why}");
        }
    }
    if b.token_mounted {
        println!("\nits mounted token may ({} rules):", b.permissions.len());
        for p in &b.permissions {
            println!("  {} in {}\n    {}", p.rule, p.scope, p.because);
        }
        for how in &b.becomes_applier {
            println!("\nbecomes the applier: it may {how}");
        }
        println!("\nSecrets it can read ({}):", b.secrets.len());
        for p in &b.secrets {
            println!("  {} in {}", p.rule, p.scope);
        }
        let paths = &b.escalations.paths;
        println!("\nescalations of its token ({} path{}):", paths.len(), if paths.len() == 1 { "" } else { "s" });
        super::who_can::print_paths(paths, "  ");
        if let Some(bound) = &b.escalations.bound {
            println!("  (search bounded: {bound})");
        }
    } else {
        println!("\nits API token is not mounted: no API access, no Secrets (automount-token false)");
    }
    println!("\nadmission rules binding its pods ({}):", b.admission_rules.len());
    for r in &b.admission_rules {
        println!("  {} ({}) [{}] from {}", r.rule, r.source, r.actions.join(","), r.policy);
    }
    ExitCode::SUCCESS
}
