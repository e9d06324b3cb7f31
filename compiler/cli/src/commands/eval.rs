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
* images (`images { … }`): digests, registries and image volumes are admission rules, judged above (`require-digest`, `allowed-registries`, `allowed-image-volumes`); signatures and scan attestations cannot be judged offline and are reported (info) as checked at admission by policy-controller;\n  \
* scoped exceptions: each `exception` that covers the object (its namespace, and its ServiceAccount \
where the exception names workloads), with what it lifts, its reason and expiry (info); the \
namespace's Pod Security level is the one the exception left on its label;\n  \
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

/// The most manifest bytes `khc eval` reads from one file or stdin (a stream of
/// hundreds of megabytes took gigabytes of memory to parse).
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;
/// The deepest flow nesting (`[`/`{`) a manifest may have: the YAML parser scans
/// the whole depth before its own recursion limit, quadratically.
pub const MAX_NESTING: usize = 64;

/// The manifest files below `path`: itself, or the `*.yaml`, `*.yml` and `*.json`
/// files below a directory, by the one walker's policy ([`khc_syntax::walk`]:
/// symbolic links inside the directory are not followed — a checkout can carry
/// links that point anywhere —, only regular files, hidden folders skipped).
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !path.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    out.extend(khc_syntax::walk::walk(path, khc_syntax::walk::Depth::All, &["yaml", "yml", "json"])?.files);
    Ok(())
}

/// Reads at most [`MAX_MANIFEST_BYTES`] from `r`; more is an error.
fn read_capped(r: impl Read, name: &str) -> Result<String, String> {
    let mut bytes = Vec::new();
    r.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read {name}: {e}"))?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(format!("{name} is larger than the {} MiB limit for manifests", MAX_MANIFEST_BYTES / (1024 * 1024)));
    }
    String::from_utf8(bytes).map_err(|e| format!("{name} is not UTF-8 (invalid byte at offset {})", e.utf8_error().valid_up_to()))
}

/// Refuses flow collections nested deeper than [`MAX_NESTING`], before parsing:
/// one linear scan (quoted scalars and comments skipped).
fn check_nesting(name: &str, text: &str) -> Result<(), String> {
    let (mut depth, mut line) = (0usize, 1usize);
    let mut chars = text.chars().peekable();
    let mut prev = '\n';
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(format!("{name}:{line}: collections nested more than {MAX_NESTING} deep; khc eval refuses them"));
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            '#' if prev.is_whitespace() => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '"' | '\'' if depth > 0 || prev.is_whitespace() || prev == ':' || prev == ',' => {
                let mut escaped = false;
                for q in chars.by_ref() {
                    match q {
                        '\n' => line += 1,
                        '\\' if c == '"' && !escaped => {
                            escaped = true;
                            continue;
                        }
                        _ if q == c && !escaped => break,
                        _ => {}
                    }
                    escaped = false;
                }
            }
            _ => {}
        }
        prev = c;
    }
    Ok(())
}

/// Reads every manifest named on the command line.
pub fn read_manifests(paths: &[PathBuf]) -> Result<Vec<Manifest>, String> {
    let mut manifests = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            let text = read_capped(std::io::stdin().lock(), "stdin")?;
            check_nesting("-", &text)?;
            manifests.extend(parse("-", &text)?);
            continue;
        }
        let mut files = Vec::new();
        collect(p, &mut files).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        for f in files {
            let name = f.display().to_string();
            let file = std::fs::File::open(&f).map_err(|e| format!("cannot read {name}: {e}"))?;
            let text = read_capped(file, &name)?;
            check_nesting(&name, &text)?;
            manifests.extend(parse(&name, &text)?);
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
                suppression: None,
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
    khc_analysis::stage("read the manifests");
    let as_subject = match args.as_subject.as_deref().map(|s| (s, Subject::parse(s))) {
        None => None,
        Some((_, Some(s))) => Some(s),
        Some((s, None)) => return usage(&format!("--as {s}: expected user:NAME, group:NAME or sa:NS/NAME")),
    };
    let findings = evaluate_with(ws, &manifests, &Options { namespace: args.namespace.clone(), as_subject });
    khc_analysis::stage("judge the manifests");
    let denied = findings.iter().filter(|f| f.severity == Severity::Deny).map(|f| f.index).collect::<std::collections::BTreeSet<_>>().len();
    match args.format {
        DiagFormat::Json => super::print_json(&serde_json::json!({"objects": manifests.len(), "denied": denied, "findings": findings})),
        DiagFormat::Sarif => super::print_json(&findings_sarif(&findings)),
        DiagFormat::Text => {
            // Buffered (stdout alone writes each line: a write(2) per finding);
            // what a closed or failing stdout cannot take is dropped, as the
            // crate's `println!` drops it.
            use std::io::Write;
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            let mut print = |args: std::fmt::Arguments| {
                let _ = out.write_fmt(args);
            };
            let mut last = None;
            for f in &findings {
                if last != Some(f.index) {
                    let scope = if f.namespace.is_empty() { "cluster-scoped".to_string() } else { format!("in namespace {}", f.namespace) };
                    print(format_args!("{} {} {scope} ({})\n", f.location, f.object, f.position));
                    last = Some(f.index);
                }
                let at = f.field_location.as_ref().filter(|l| **l != f.location).map(|l| format!(" [at {l}]")).unwrap_or_default();
                print(format_args!("  {:<4} {} {} ({}): {}{at}\n", f.severity.as_str(), f.check, f.rule, f.rule_source, f.message));
            }
            let _ = out.flush();
            drop(out);
            let warnings = findings.iter().filter(|f| f.severity == Severity::Warn).count();
            eprintln!(
                "khc eval: {} object{}, {denied} denied, {warnings} warning{}",
                manifests.len(),
                if manifests.len() == 1 { "" } else { "s" },
                if warnings == 1 { "" } else { "s" }
            );
        }
    }
    khc_analysis::stage("print the findings");
    // The process ends here: skip freeing every manifest and finding (as
    // `khc check` skips tearing down its database).
    std::mem::forget((manifests, findings));
    if denied > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
