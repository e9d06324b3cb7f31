//! `khc audit-live --live FILE|-`: what is live in the cluster that khc's answers
//! do not know about (posture-changing extras, with their effect) and what of
//! khc's own objects is missing, modified or carries drifted Pod Security labels.

use super::sarif::{self, split_location, SarifResult};
use super::{load, print_json, usage, ProjectArg};
use khc_analysis::live::{audit, AuditItem};
use std::process::ExitCode;

/// Output of `khc audit-live`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    /// For people.
    Text,
    /// JSON on stdout.
    Json,
    /// SARIF 2.1.0 (GitHub code scanning).
    Sarif,
    /// A markdown table (a pull-request or issue comment).
    Markdown,
}

/// Arguments of `khc audit-live`.
#[derive(clap::Args, Debug)]
#[command(
    about = "What is live but not khc's, and what of khc's is missing or changed (exit 1 on any)",
    long_about = "Compare the cluster as it is (a `kubectl get … -A -o yaml` dump given with --live, \
`kind: List` included, or read from the API server of --kubeconfig [--context]) with khc's intent. Reported:\n  \
* extra: objects in khc-managed namespaces and at cluster scope that khc does not emit and that \
change the posture, each with its effect (a NetworkPolicy and the traffic it opens, a binding and \
what it gives to whom, a webhook configuration and the requests it sees, a foreign admission \
policy);\n  \
* missing: khc's objects of the kinds the dump holds that are not live;\n  \
* modified: khc's objects whose rules, subjects, role, policy or token setting differ live;\n  \
* pod-security-drift: khc's Namespaces whose Pod Security labels differ live.\n\n\
Objects of Kubernetes itself (bootstrap RBAC, kube-* namespaces) are not reported. The kinds read \
are Namespaces, Roles, ClusterRoles, their bindings, NetworkPolicies, ServiceAccounts, admission \
policies and their bindings, and webhook configurations: dump them with\n  \
kubectl get namespaces,roles,clusterroles,rolebindings,clusterrolebindings,networkpolicies,serviceaccounts,\
validatingadmissionpolicies,validatingadmissionpolicybindings,validatingwebhookconfigurations,\
mutatingwebhookconfigurations -A -o yaml\n\n\
Exit codes: 0 the cluster is khc's intent, 1 some posture-changing difference, 2 usage.",
    after_help = "Examples:\n  kubectl get roles,rolebindings,clusterroles,clusterrolebindings,networkpolicies,namespaces -A -o yaml | khc audit-live --live - -p examples/multi-tenant\n  \
khc audit-live --live cluster-dump.yaml -p platform/ --format markdown > audit.md\n  \
khc audit-live --kubeconfig ~/.kube/config --context prod -p platform/ --format json\n  \
khc audit-live --live cluster-dump.yaml -p platform/ --format sarif > audit.sarif"
)]
pub struct Args {
    #[command(flatten)]
    pub project: ProjectArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    pub format: AuditFormat,
}

fn sarif_log(items: &[AuditItem]) -> serde_json::Value {
    let results: Vec<SarifResult> = items
        .iter()
        .map(|i| {
            let at = i.live_location.clone().or_else(|| i.khc_source.clone()).unwrap_or_else(|| "-".into());
            let (file, line) = split_location(&at);
            let related = match (&i.live_location, &i.khc_source) {
                (Some(_), Some(k)) => {
                    let (f, l) = split_location(k);
                    vec![(f, l, "khc intent".to_string())]
                }
                _ => Vec::new(),
            };
            SarifResult {
                suppression: None,
                rule_id: format!("audit-live/{}", i.category),
                level: "error",
                message: format!("{}: {}", i.object, i.effect),
                file,
                line,
                related,
            }
        })
        .collect();
    sarif::log(&results)
}

/// Runs `khc audit-live`.
pub fn run(args: Args) -> ExitCode {
    if args.project.live.is_none() && args.project.kubeconfig.is_none() {
        return usage("khc audit-live needs --live FILE|- (a `kubectl get … -A -o yaml` dump) or --kubeconfig PATH");
    }
    let ws = match load(&args.project.project) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let live = match args.project.live_objects() {
        Ok(l) => l.unwrap_or_default(),
        Err(e) => return usage(&e),
    };
    let items = audit(ws, &live);
    match args.format {
        AuditFormat::Json => print_json(&serde_json::json!({"live_objects": live.len(), "differences": items})),
        AuditFormat::Sarif => print_json(&sarif_log(&items)),
        AuditFormat::Markdown => {
            println!("### khc audit-live: {} difference{}\n", items.len(), if items.len() == 1 { "" } else { "s" });
            if !items.is_empty() {
                println!("| | object | effect | where |\n|---|---|---|---|");
                for i in &items {
                    let at = [i.live_location.as_deref(), i.khc_source.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" / ");
                    println!("| {} | `{}` | {} | {} |", i.category, i.object, i.effect.replace('|', "\\|"), at);
                }
            }
        }
        AuditFormat::Text => {
            for i in &items {
                if i.effect.starts_with(&format!("{} ", i.object)) {
                    println!("{}: {}", i.category, i.effect);
                } else {
                    println!("{} {}: {}", i.category, i.object, i.effect);
                }
                if let Some(l) = &i.live_location {
                    println!("  live at {l}");
                }
                if let Some(k) = &i.khc_source {
                    println!("  khc intent at {k}");
                }
            }
            eprintln!(
                "khc audit-live: {} live object{}, {} difference{}",
                live.len(),
                if live.len() == 1 { "" } else { "s" },
                items.len(),
                if items.len() == 1 { "" } else { "s" }
            );
        }
    }
    if items.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
