//! `khc who-can VERB RESOURCE`: every subject the RBAC objects allow, with the
//! binding, role and source line responsible, and effective escalations.

use super::{load_project, print_json, QueryFormat, QueryOpts};
use khc_analysis::rbac::{Answer, Request};
use std::process::ExitCode;

/// Arguments of `khc who-can`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Who may do VERB on RESOURCE (RBAC, built-in roles expanded, escalations included)",
    long_about = "List every user, group and ServiceAccount that the compiled RBAC allows to do VERB on \
RESOURCE, with the binding, role and rule responsible and their FILE:LINE. The built-in ClusterRoles \
(view, edit, admin, cluster-admin) are expanded as Kubernetes defines them.\n\n\
RESOURCE is RESOURCE[.GROUP][/SUBRESOURCE]: pods, pods/log, deployments.apps, deployments.apps/scale, \
nodes/metrics, widgets.example.com/status; or a non-resource URL starting with `/` (/metrics, /healthz), \
which only ClusterRoleBindings grant (the bootstrap discovery roles give every user /healthz, /livez, \
/readyz, /version and discovery).\n\
Without --namespace the question is about a cluster-wide request (only ClusterRoleBindings apply); \
with --all-namespaces every namespace khc manages is asked.\n\n\
Escalations: a subject that may create pods (or Deployments, Jobs, …) in a namespace may run them as \
any ServiceAccount there, and so borrows the permissions of the ServiceAccounts that are allowed; \
such subjects are listed as escalations with the ServiceAccount and the grants that make it possible. \
Subjects holding an escalation step (impersonate, bind, escalate, serviceaccounts/token, pod \
creation, Secret reads, CSR approval, webhook configurations, PersistentVolumes, nodes/proxy) are \
searched for multi-step paths (at most 4 steps); each path lists its steps with their grants, and \
paths khc's own admission refuses are shown as pruned. With --all-namespaces every namespace khc \
manages is searched, sharing one search (each identity's moves are computed once).",
    after_help = "Examples:\n  khc who-can get secrets -n payments -p examples/multi-tenant\n  \
khc who-can get secrets -n payments --name ledger-db-credentials -p examples/multi-tenant\n  \
khc who-can create pods/exec -A -p examples/multi-tenant --format json"
)]
pub struct Args {
    /// The verb (get, list, watch, create, update, patch, delete, …).
    pub verb: String,
    /// RESOURCE[.GROUP][/SUBRESOURCE].
    pub resource: String,
    /// The namespace of the request.
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Ask for every namespace khc manages.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// The resource name (for rules restricted by resourceNames).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub opts: QueryOpts,
}

/// One namespace's answer.
#[derive(serde::Serialize)]
struct Scoped {
    request: Request,
    answers: Vec<Answer>,
    /// Allowed only for some names (rules with resourceNames).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    only_named: Vec<Answer>,
    /// The bound the escalation search hit, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    bound: Option<String>,
}

/// The most escalation paths `who-can` lists per subject (shortest first).
pub const MAX_PATHS_SHOWN: usize = 3;

/// Prints escalation paths, one step per line with its grants.
pub fn print_paths(paths: &[khc_analysis::escalation::Path], indent: &str) {
    for p in paths {
        match &p.pruned {
            None => println!("{indent}path ({} step{}):", p.steps.len(), if p.steps.len() == 1 { "" } else { "s" }),
            Some(why) => println!("{indent}pruned path (refused: {why}):"),
        }
        for (i, s) in p.steps.iter().enumerate() {
            println!("{indent}  {}. {}", i + 1, s.how);
            for g in &s.grants {
                println!("{indent}     {g}");
            }
        }
    }
}

/// Prints the answers to a request as text.
fn print_answers(req: &Request, answers: &[Answer], only_named: &[Answer]) {
    println!("who can {}:", req.describe());
    if answers.is_empty() {
        println!("  nobody (no binding grants it)");
    }
    for a in answers {
        if a.grants.is_empty() && a.escalations.is_empty() {
            println!("  {} (multi-step escalation)", a.subject);
        } else if a.grants.is_empty() {
            println!("  {} (escalation)", a.subject);
        } else {
            println!("  {}", a.subject);
        }
        for g in &a.grants {
            println!("    {g}");
        }
        for e in &a.escalations {
            println!("    via {}: may {}", e.via, e.how);
            for g in &e.grants {
                println!("      {g}");
            }
        }
        print_paths(&a.paths, "    ");
    }
    if !only_named.is_empty() {
        println!("  only for named objects (pass --name):");
        for a in only_named {
            println!("    {}", a.subject);
            for g in &a.grants {
                println!("      {g}");
            }
        }
    }
}

/// Runs `khc who-can`.
pub fn run(args: Args) -> ExitCode {
    let ws = match load_project(&args.opts.project) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let namespaces: Vec<Option<String>> =
        if args.all_namespaces { ws.tenants().flat_map(|t| t.namespaces.iter().cloned().map(Some)).collect() } else { vec![args.namespace.clone()] };
    let mut out = Vec::new();
    // One search for every namespace: each identity's moves and powers are
    // computed once and shared by the questions.
    let search = khc_analysis::escalation::Search::new(ws);
    for ns in namespaces {
        let req = Request::new(&args.verb, &args.resource, ns.as_deref(), args.name.as_deref());
        // One-step escalations khc's own admission refuses are left out (`khc can`
        // shows them as pruned).
        let mut answers = search.who_can_one_step(&req);
        let mut bound = None;
        let searched = search.who_can(&req);
        for (subject, c) in searched {
            bound = bound.or(c.bound.clone());
            // The shortest few: one subject may bind many roles that all allow the request.
            let paths: Vec<_> = c.paths.into_iter().filter(|p| p.pruned.is_none()).take(MAX_PATHS_SHOWN).collect();
            match answers.iter_mut().find(|a| a.subject == subject) {
                Some(a) if a.escalations.is_empty() => a.paths = paths,
                Some(_) => {}
                None => answers.push(Answer { subject, grants: Vec::new(), escalations: Vec::new(), paths }),
            }
        }
        answers.sort_by(|a, b| a.subject.cmp(&b.subject));
        let only_named = ws.rbac.who_can_for_names(&req);
        out.push(Scoped { request: req, answers, only_named, bound });
    }
    khc_analysis::stage("answer");
    match args.opts.format {
        QueryFormat::Json => print_json(&out),
        QueryFormat::Text => {
            if args.all_namespaces && out.iter().all(|s| s.answers.is_empty() && s.only_named.is_empty()) {
                println!("who can {} {} in any namespace khc manages: nobody", args.verb, args.resource);
            }
            for s in &out {
                // With -A, namespaces where nobody may are left out.
                if !args.all_namespaces || !s.answers.is_empty() || !s.only_named.is_empty() {
                    print_answers(&s.request, &s.answers, &s.only_named);
                    if let Some(b) = &s.bound {
                        println!("  (escalation search bounded: {b})");
                    }
                }
            }
        }
    }
    ExitCode::SUCCESS
}
