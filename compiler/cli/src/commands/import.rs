//! `khc import FILE|DIR|-`: existing Kubernetes objects to a formatted khc
//! project and a report of what could not be expressed (`khc-import`).

use super::{eval::read_manifests, print_json, usage};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// The report's format.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ReportFormat {
    /// One line per item.
    Text,
    /// `{left_out: [...], changed: [...], tenants: {...}}`.
    Json,
}

/// Arguments of `khc import`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Turn existing Kubernetes objects into a khc project, reporting what could not be expressed",
    long_about = "Read existing objects — a `kubectl get … -A -o yaml` dump (a `kind: List` or multi-document \
YAML), a folder of manifests, or `-` for stdin — and write a formatted khc project: Namespaces \
(their Pod Security labels become `pod-security`), ServiceAccounts (workloads), Roles, ClusterRoles \
and their bindings (`role`, `grant`), NetworkPolicies (`isolation` and `allow`), ResourceQuotas and \
LimitRanges (`quota`, `limits`), Kyverno ClusterPolicies/Policies of the common validate patterns \
(require limits/requests, disallow `latest`, restrict registries, `podSecurity`) and Gatekeeper \
constraints (K8sRequiredResources, K8sAllowedRepos, K8sDisallowedTags, K8sPSP*) as admission rules.\n\n\
Namespaces become tenants: by --tenant-of NS=TENANT, else by the value of the label --tenant-label KEY, \
else one tenant per namespace. kube-system, kube-public, kube-node-lease and default stay out.\n\n\
Nothing is imported with a different meaning unless the report says so: a Role must be alike in \
every namespace of its tenant, a namespace's NetworkPolicies are imported only all together \
(default deny of ingress and egress plus rules khc can name), and whatever cannot be expressed \
is left out. The report lists every object or field left out and every change (a tightening \
such as unmounted tokens, or a renamed role), each with the object's FILE:LINE and the reason.\n\n\
The project goes to OUTPUT (default: stdout); the report to --report FILE (default: stderr) as \
text or JSON. Then `khc check` the project and read the report before building.\n\n\
Exit codes: 0 imported (even with items left out), 2 usage or unreadable input.",
    after_help = "Examples:\n  kubectl get namespaces,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings,networkpolicies,resourcequotas,limitranges -A -o yaml | khc import - -o cluster.khc\n  \
khc import manifests/ --tenant-label team -o cluster.khc --report import-report.json --format json\n  \
khc import dump.yaml --tenant-of shop=shop --tenant-of shop-jobs=shop --cluster prod --kubernetes 1.35"
)]
pub struct Args {
    /// Files or directories of manifests, `-` for stdin.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write the project here (default: stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Group namespaces into tenants by this label's value.
    #[arg(long, value_name = "KEY")]
    pub tenant_label: Option<String>,
    /// Put namespace NS in tenant TENANT (repeatable; wins over --tenant-label).
    #[arg(long, value_name = "NS=TENANT")]
    pub tenant_of: Vec<String>,
    /// The cluster's name.
    #[arg(long, default_value = "imported")]
    pub cluster: String,
    /// The cluster's Kubernetes version (`1.N`).
    #[arg(long, default_value = "1.35")]
    pub kubernetes: String,
    /// Write the report here (default: stderr).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// The report's format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
}

/// Runs `khc import`.
pub fn run(args: Args) -> ExitCode {
    let mut tenant_of = BTreeMap::new();
    for m in &args.tenant_of {
        let Some((ns, t)) = m.split_once('=').filter(|(ns, t)| !ns.is_empty() && khc_semantics_label(t)) else {
            return usage(&format!("--tenant-of `{m}`: write NS=TENANT, TENANT a DNS-1123 label"));
        };
        tenant_of.insert(ns.to_string(), t.to_string());
    }
    let Some(minor) = args.kubernetes.strip_prefix("1.").and_then(|m| m.parse::<u32>().ok()) else {
        return usage(&format!("--kubernetes `{}`: write 1.N", args.kubernetes));
    };
    let manifests = match read_manifests(&args.inputs) {
        Ok(m) => m,
        Err(e) => return usage(&e),
    };
    let opts = khc_import::Options { tenant_label: args.tenant_label, tenant_of, cluster: args.cluster, minor };
    let imported = khc_import::import(&manifests, &opts);
    match &args.output {
        Some(p) => {
            if let Err(e) = std::fs::write(p, &imported.source) {
                return usage(&format!("cannot write {}: {e}", p.display()));
            }
        }
        None => print!("{}", imported.source),
    }
    let report = match args.format {
        ReportFormat::Text => imported.report_text(),
        ReportFormat::Json => serde_json::to_string_pretty(&imported).expect("the report serializes") + "\n",
    };
    match &args.report {
        Some(p) => {
            if let Err(e) = std::fs::write(p, report) {
                return usage(&format!("cannot write {}: {e}", p.display()));
            }
        }
        None => eprint!("{report}"),
    }
    let _ = print_json::<()>;
    ExitCode::SUCCESS
}

fn khc_semantics_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') && !s.starts_with('-') && !s.ends_with('-')
}
