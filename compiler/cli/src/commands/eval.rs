//! `khc eval FILE|DIR|-`: application manifests judged against the intent of the
//! namespace they target.

use super::diagnostics::DiagFormat;
use super::sarif::{self, split_location, SarifResult};
use super::{load_project, usage, ProjectArg};
use khc_analysis::eval::{evaluate_with, Finding, Options, Severity};
use khc_analysis::manifest::{parse, Manifest};
use khc_analysis::rbac::Subject;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `khc eval`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Judge application manifests against the intent of their namespace (exit 1 on any deny)",
    long_about = "Evaluate application manifests (multi-document YAML: Pods, Deployments, StatefulSets, \
DaemonSets, Jobs, CronJobs, ReplicaSets, Services) against the intent of the namespace each targets:\n  \
* Pod Security: the tenant's enforced level (deny) and its audit/warn levels (warning), with the \
Pod Security Standards checks;\n  \
* admission: every admission rule whose binding selects the namespace — the same CEL the API server \
runs, evaluated — with the binding's actions (Deny → deny, Warn → warning, Audit → info);\n  \
* network intent: pods whose labels match no declared workload of the tenant (no workload `allow` \
reaches them), ServiceAccounts and Service selectors that name no workload, hostNetwork pods (no \
NetworkPolicy selects them);\n  \
* namespaces no tenant owns: the cluster's Pod Security default (the generated AdmissionConfiguration), \
unless the namespace is exempt;\n  \
* RBAC objects, NetworkPolicies, ServiceAccounts, Services, webhook configurations and foreign \
admission policies: their effect on the posture (a binding of `cluster-admin`, traffic a policy opens, \
tokens mounted, exposure outside the cluster, requests a webhook sees);\n  \
* `managed-by` collisions: an object that would replace one khc manages;\n  \
* with --as SUBJECT: whether that identity may create every object (RBAC, including the bind/escalate \
check on roles and bindings).\n\n\
Objects of a `kind: List` (what `kubectl get -o yaml` prints) are judged one by one, each with its \
document and item index and its own line; a finding also names the line of the field that causes it. \
An object without a namespace is evaluated in `default` with a warning, unless -n gives one.\n\n\
Each finding names the rule and the FILE:LINE of the intent that states it, and the FILE:LINE of \
the object. A directory is searched recursively for *.yaml, *.yml and *.json; `-` reads stdin.\n\n\
Exit codes: 0 nothing denied, 1 some object would be denied, 2 usage or unreadable manifests.",
    after_help = "Examples:\n  khc eval deploy/ -p examples/multi-tenant\n  \
kubectl kustomize overlays/prod | khc eval - -p platform/ -n payments\n  \
helm template shop ./chart | khc eval - -p examples/multi-tenant -n payments --as sa:ci/deployer\n  \
kubectl get pods,deploy -A -o yaml | khc eval - -p examples/multi-tenant\n  \
khc eval app.yaml -p examples/multi-tenant --format sarif > khc.sarif"
)]
pub struct Args {
    /// Manifest files or directories; `-` for stdin.
    #[arg(required = true)]
    pub manifests: Vec<PathBuf>,
    /// Namespace of objects that name none (without it: `default`, with a warning).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// The identity that applies the manifests (`user:X`, `group:X`, `sa:NS/NAME`):
    /// each object it may not create is denied.
    #[arg(long = "as", value_name = "SUBJECT")]
    pub as_subject: Option<String>,
    #[command(flatten)]
    pub project: ProjectArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
    pub format: DiagFormat,
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            if e.is_dir() || e.extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "json") {
                collect(&e, out)?;
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Reads every manifest named on the command line.
pub fn read_manifests(paths: &[PathBuf]) -> Result<Vec<Manifest>, String> {
    let mut manifests = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| format!("cannot read stdin: {e}"))?;
            manifests.extend(parse("-", &text)?);
            continue;
        }
        let mut files = Vec::new();
        collect(p, &mut files).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            manifests.extend(parse(&f.display().to_string(), &text)?);
        }
    }
    Ok(manifests)
}

/// Findings as SARIF: located at the object, related to the intent's source.
pub fn findings_sarif(findings: &[Finding]) -> serde_json::Value {
    let results: Vec<SarifResult> = findings
        .iter()
        .map(|f| {
            let (file, line) = split_location(f.field_location.as_ref().unwrap_or(&f.location));
            let related = if f.rule_source.contains(':') {
                let (rf, rl) = split_location(&f.rule_source);
                vec![(rf, rl, format!("khc intent: {}", f.rule))]
            } else {
                Vec::new()
            };
            SarifResult {
                rule_id: format!("{}/{}", f.check, f.rule.split(':').next().unwrap_or(&f.rule).trim()),
                level: match f.severity {
                    Severity::Deny => "error",
                    Severity::Warn => "warning",
                    Severity::Info => "note",
                },
                message: format!("{} in {}: {} [{} at {}]", f.object, f.namespace, f.message, f.rule, f.rule_source),
                file,
                line,
                related,
            }
        })
        .collect();
    sarif::log(&results)
}

/// Runs `khc eval`.
pub fn run(args: Args) -> ExitCode {
    if args.project.live.as_ref().is_some_and(|l| l.as_os_str() == "-") && args.manifests.iter().any(|m| m.as_os_str() == "-") {
        return usage("--live - and the manifests - cannot both read stdin");
    }
    let ws = match load_project(&args.project) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let manifests = match read_manifests(&args.manifests) {
        Ok(m) => m,
        Err(e) => return usage(&e),
    };
    let as_subject = match args.as_subject.as_deref().map(|s| (s, Subject::parse(s))) {
        None => None,
        Some((_, Some(s))) => Some(s),
        Some((s, None)) => return usage(&format!("--as {s}: expected user:NAME, group:NAME or sa:NS/NAME")),
    };
    let findings = evaluate_with(&ws, &manifests, &Options { namespace: args.namespace.clone(), as_subject });
    let denied = findings.iter().filter(|f| f.severity == Severity::Deny).map(|f| f.index).collect::<std::collections::BTreeSet<_>>().len();
    match args.format {
        DiagFormat::Json => super::print_json(&serde_json::json!({"objects": manifests.len(), "denied": denied, "findings": findings})),
        DiagFormat::Sarif => super::print_json(&findings_sarif(&findings)),
        DiagFormat::Text => {
            let mut last = None;
            for f in &findings {
                if last != Some(f.index) {
                    let scope = if f.namespace.is_empty() { "cluster-scoped".to_string() } else { format!("in namespace {}", f.namespace) };
                    println!("{} {} {scope} ({})", f.location, f.object, f.position);
                    last = Some(f.index);
                }
                let at = f.field_location.as_ref().filter(|l| **l != f.location).map(|l| format!(" [at {l}]")).unwrap_or_default();
                println!("  {:<4} {} {} ({}): {}{at}", f.severity.as_str(), f.check, f.rule, f.rule_source, f.message);
            }
            let warnings = findings.iter().filter(|f| f.severity == Severity::Warn).count();
            eprintln!(
                "khc eval: {} object{}, {denied} denied, {warnings} warning{}",
                manifests.len(),
                if manifests.len() == 1 { "" } else { "s" },
                if warnings == 1 { "" } else { "s" }
            );
        }
    }
    if denied > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
