//! `khc can SUBJECT VERB RESOURCE`: whether the RBAC objects allow one request,
//! and why.

use super::{load_project, print_json, usage, QueryFormat, QueryOpts};
use khc_analysis::rbac::{Request, Subject};
use khc_analysis::Workspace;
use std::process::ExitCode;

/// Arguments of `khc can`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Whether SUBJECT may do VERB on RESOURCE, and why (exit 0 yes, 1 no)",
    long_about = "Answer one RBAC question as the API server's authorizer would, with the binding, role and \
rule that allow it and their FILE:LINE, or the ServiceAccount it can be borrowed from (escalation).\n\n\
Without a direct grant, multi-step escalation paths are searched: impersonation (users, groups, \
ServiceAccounts), ServiceAccount tokens, pods or pod-creating controllers run as a ServiceAccount, \
Secrets that hold tokens, `bind` and `escalate` on roles, certificate signing requests approved for a \
subject that may (never system:masters: the API server refuses that group in a client-certificate \
request), webhook configurations, hostPath pods and PersistentVolumes (with a claim), nodes/proxy. A \
group is impersonated along with a user, as the API server requires. Each step \
names the grants that allow it; paths khc's own admission refuses are shown as pruned. The search is \
bounded (4 steps, 400 identities) and says so when a bound is hit.\n\n\
SUBJECT is user:NAME, group:NAME, sa:NAMESPACE/NAME, system:serviceaccount:NAMESPACE:NAME or \
TENANT/WORKLOAD (the workload's ServiceAccount). RESOURCE is RESOURCE[.GROUP][/SUBRESOURCE] \
(nodes/metrics, deployments.apps/scale) or a non-resource URL (/metrics).\n\n\
Exit codes: 0 allowed (directly, or by an escalation khc's admission does not refuse), 1 not allowed \
(pruned paths are still shown), 2 usage.",
    after_help = "Examples:\n  khc can group:oidc:payments-devs get secrets -n payments --name ledger-db-credentials -p examples/multi-tenant\n  \
khc can payments/worker create jobs.batch -n payments-jobs -p examples/multi-tenant\n  \
khc can group:oidc:platform-oncall get nodes -p examples/multi-tenant --format json\n  \
khc can sa:monitoring/prometheus get /metrics -p cluster.khc\n  \
khc can user:bob get secrets -n payments -p platform/   # shows each escalation step"
)]
pub struct Args {
    /// Who asks.
    pub subject: String,
    /// The verb.
    pub verb: String,
    /// RESOURCE[.GROUP][/SUBRESOURCE].
    pub resource: String,
    /// The namespace of the request (none: cluster-wide).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// The resource name.
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub opts: QueryOpts,
}

/// The most escalation paths printed as text (shortest and followable first).
const MAX_PATHS_SHOWN: usize = 6;

/// Parses a subject, `TENANT/WORKLOAD` included.
pub fn subject(ws: &Workspace, s: &str) -> Result<Subject, String> {
    if let Some(x) = Subject::parse(s) {
        return Ok(x);
    }
    match ws.workload(s) {
        Some((_, w)) => Ok(Subject::sa(&w.namespace, &w.name)),
        None => Err(format!("`{s}` is not a subject: write user:NAME, group:NAME, sa:NAMESPACE/NAME or TENANT/WORKLOAD")),
    }
}

/// Runs `khc can`.
pub fn run(args: Args) -> ExitCode {
    let ws = match load_project(&args.opts.project) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let who = match subject(ws, &args.subject) {
        Ok(s) => s,
        Err(e) => return usage(&e),
    };
    let req = Request::new(&args.verb, &args.resource, args.namespace.as_deref(), args.name.as_deref());
    let mut answer = ws.rbac.explain(&who, &req);
    let allowed = !answer.grants.is_empty();
    let search = khc_analysis::escalation::Search::new(ws);
    let closure = if allowed { Default::default() } else { search.paths_to(&who, &req) };
    // One-step escalations khc's own admission refuses (a pod as a ServiceAccount
    // a rule forbids there, the applier's pods and tokens) are shown, not counted.
    let (escalations, refused): (Vec<_>, Vec<_>) =
        std::mem::take(&mut answer.escalations).into_iter().map(|e| (search.escalation_refused(&who, &e), e)).partition(|(why, _)| why.is_none());
    answer.escalations = escalations.into_iter().map(|(_, e)| e).collect();
    let refused: Vec<serde_json::Value> =
        refused.into_iter().map(|(why, e)| serde_json::json!({"via": e.via, "how": e.how, "grants": e.grants, "pruned": why})).collect();
    let by_escalation = !allowed && (!answer.escalations.is_empty() || closure.paths.iter().any(|p| p.pruned.is_none()));
    match args.opts.format {
        QueryFormat::Json => print_json(&serde_json::json!({
            "subject": who, "request": req, "allowed": allowed, "allowed_by_escalation": by_escalation,
            "grants": answer.grants, "escalations": answer.escalations, "pruned_escalations": refused, "paths": closure.paths, "bound": closure.bound
        })),
        QueryFormat::Text => {
            if allowed {
                println!("yes: {who} may {}", req.describe());
                for g in &answer.grants {
                    println!("  {g}");
                }
            } else if by_escalation {
                println!("yes, by escalation: no binding lets {who} {}, but it can obtain it", req.describe());
            } else {
                println!("no: no binding lets {who} {}", req.describe());
            }
            for e in &answer.escalations {
                println!("  escalation: {} is allowed, and {who} may {}:", e.via, e.how);
                for g in &e.grants {
                    println!("    {g}");
                }
            }
            for e in &refused {
                println!(
                    "  pruned escalation (refused: {}): via {}, {who} may {}",
                    e["pruned"].as_str().unwrap_or_default(),
                    e["via"],
                    e["how"].as_str().unwrap_or_default()
                );
            }
            let shown = closure.paths.len().min(MAX_PATHS_SHOWN);
            super::who_can::print_paths(&closure.paths[..shown], "  ");
            if closure.paths.len() > shown {
                println!(
                    "  … {} more path{} (--format json lists every one)",
                    closure.paths.len() - shown,
                    if closure.paths.len() - shown == 1 { "" } else { "s" }
                );
            }
            if let Some(b) = &closure.bound {
                println!("  (search bounded: {b})");
            }
        }
    }
    if allowed || by_escalation {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
