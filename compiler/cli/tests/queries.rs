//! The query commands (`who-can`, `can`, `reach`, `blast-radius`, `eval`, `diff`,
//! `graph`, `report`) and machine-readable diagnostics, on the example and on
//! generated programs; answers cross-checked against the evaluators of
//! `khc-analysis`; SARIF validated against the SARIF 2.1.0 schema.

use khc_analysis::rbac::{Request, Subject};
use khc_analysis::Workspace;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn khc(args: &[&str]) -> Output {
    khc_in(args, &repo(), None)
}

fn khc_in(args: &[&str], cwd: &Path, stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_khc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run khc");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), String::from_utf8_lossy(&o.stderr)))
}

const EX: &str = "examples/multi-tenant";

fn example() -> Workspace {
    Workspace::load(&repo().join(EX)).unwrap()
}

/// A fresh folder of its own: tests run in parallel threads of one process, so the
/// name carries a per-call counter besides the process id.
fn temp(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("khc-q-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The benchmark's generated program of `n` tenants (`khc_tests::fleet_tenant`:
/// each tenant's api sends to the next tenant's api, which accepts it), written to a folder.
fn generated(n: usize) -> PathBuf {
    let dir = temp(&format!("gen{n}"));
    for i in 0..n {
        std::fs::write(dir.join(format!("t{i}.khc")), khc_tests::fleet_tenant(i, n, 0)).unwrap();
    }
    std::fs::write(dir.join("main.khc"), khc_tests::fleet_entry(n)).unwrap();
    dir
}

#[test]
fn every_command_has_help_with_examples() {
    for cmd in ["who-can", "can", "reach", "blast-radius", "eval", "diff", "graph", "report", "audit-live", "check", "build"] {
        let o = khc(&[cmd, "--help"]);
        assert_eq!(o.status.code(), Some(0), "{cmd}");
        assert!(stdout(&o).contains("Examples:"), "{cmd} --help has examples:\n{}", stdout(&o));
    }
}

#[test]
fn who_can_names_bindings_roles_and_lines() {
    let o = khc(&["who-can", "get", "secrets", "-n", "payments", "--name", "ledger-db-credentials", "-p", EX]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(text.contains("group:oidc:payments-devs"), "{text}");
    assert!(text.contains("RoleBinding payments/deployer (tenants/payments.khc:48) → Role payments/deployer (tenants/payments.khc:43)"), "{text}");
    // Without a name, the resourceNames rule does not apply, but is shown.
    let text = stdout(&khc(&["who-can", "get", "secrets", "-n", "payments", "-p", EX]));
    assert!(text.contains("nobody") && text.contains("only for named objects"), "{text}");
    // Built-in roles are expanded: view grants pods/log.
    let text = stdout(&khc(&["who-can", "get", "pods/log", "-n", "payments", "-p", EX]));
    assert!(text.contains("group:oidc:payments-auditors") && text.contains("ClusterRole view (<kubernetes bootstrap policy>)"), "{text}");
    // -A asks every namespace khc manages and leaves out those where nobody may.
    let text = stdout(&khc(&["who-can", "get", "pods/log", "-A", "-p", EX]));
    assert!(
        text.contains("in namespace legacy-billing:") && text.contains("in namespace payments-jobs:") && !text.contains("in namespace monitoring"),
        "{text}"
    );
    assert_eq!(stdout(&khc(&["who-can", "create", "pods/exec", "-A", "-p", EX])), "who can create pods/exec in any namespace khc manages: nobody\n");
}

#[test]
fn who_can_json_matches_the_authorizer() {
    let ws = example();
    for (verb, res, ns) in [
        ("get", "pods", Some("payments")),
        ("list", "pods", None),
        ("create", "jobs.batch", Some("payments-jobs")),
        ("update", "deployments.apps", Some("legacy-billing")),
    ] {
        let mut args = vec!["who-can", verb, res, "-p", EX, "--format", "json"];
        if let Some(n) = ns {
            args.extend(["-n", n]);
        }
        let v = json(&khc(&args));
        let got: Vec<String> =
            v[0]["answers"].as_array().unwrap().iter().map(|a| serde_json::from_value::<Subject>(a["subject"].clone()).unwrap().to_string()).collect();
        let want: Vec<String> = ws.rbac.who_can(&Request::new(verb, res, ns, None)).iter().map(|a| a.subject.to_string()).collect();
        assert_eq!(got, want, "{verb} {res} {ns:?}");
        assert!(!want.is_empty());
        // And every answer is one the authorizer allows directly (or via an escalation).
        for a in v[0]["answers"].as_array().unwrap() {
            let s: Subject = serde_json::from_value(a["subject"].clone()).unwrap();
            let direct = ws.rbac.can(&s, &Request::new(verb, res, ns, None));
            assert_eq!(direct, !a["grants"].as_array().unwrap().is_empty(), "{s}");
        }
    }
}

#[test]
fn can_answers_yes_and_no_with_exit_codes() {
    let o = khc(&["can", "group:oidc:payments-devs", "create", "deployments.apps", "-n", "payments", "-p", EX]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("yes:") && stdout(&o).contains("tenants/payments.khc:48"), "{}", stdout(&o));
    let o = khc(&["can", "payments/api", "get", "pods", "-n", "payments", "-p", EX]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).starts_with("no:"));
    let o = khc(&["can", "payments/worker", "create", "jobs.batch", "-n", "payments-jobs", "-p", EX, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json(&o)["allowed"], true);
    assert_eq!(khc(&["can", "nobody-at-all", "get", "pods", "-p", EX]).status.code(), Some(2));
    // Every direct answer of the authorizer agrees with `can`.
    let o = khc(&["can", "group:oidc:platform-oncall", "get", "nodes", "-p", EX]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

/// `grant … to tenant ci workload deployer` (SPEC section 9): `can` and `who-can`
/// answer for the workload's ServiceAccount in its own namespace, with the
/// grant's line, whether the question names it `TENANT/WORKLOAD` or `sa:NS/NAME`.
#[test]
fn can_and_who_can_answer_for_a_cross_tenant_workload_subject() {
    let dir = temp("cross-tenant");
    std::fs::write(
        dir.join("main.khc"),
        "cluster c {\n  encryption { provider secretbox { key k env \"K\" } }\n  role node-reader { can get list watch on nodes }\n  grant node-reader to tenant ci workload deployer\n}\n\
         tenant ci {\n  namespaces ci ci-jobs\n  workload deployer { namespace ci-jobs }\n}\n\
         tenant shop {\n  role deployer { can get list create update patch on deployments.apps }\n  grant deployer to tenant ci workload deployer\n}\n",
    )
    .unwrap();
    let p = dir.to_str().unwrap();
    for who in ["ci/deployer", "sa:ci-jobs/deployer"] {
        let o = khc(&["can", who, "create", "deployments.apps", "-n", "shop", "-p", p]);
        assert_eq!(o.status.code(), Some(0), "{who}: {}", stdout(&o));
        assert!(stdout(&o).starts_with("yes: sa:ci-jobs/deployer") && stdout(&o).contains("RoleBinding shop/deployer (main.khc:12)"), "{}", stdout(&o));
        let o = khc(&["can", who, "create", "deployments.apps", "-n", "ci", "-p", p]);
        assert_eq!(o.status.code(), Some(1), "{who}: {}", stdout(&o));
    }
    let o = khc(&["who-can", "list", "nodes", "-p", p]);
    assert!(stdout(&o).contains("sa:ci-jobs/deployer") && stdout(&o).contains("ClusterRoleBinding node-reader (main.khc:4)"), "{}", stdout(&o));
}

#[test]
fn reach_names_the_deciding_allow_statements() {
    let o = khc(&["reach", "monitoring/prometheus", "payments/api", "--port", "9090", "-p", EX]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(text.starts_with("allowed"), "{text}");
    assert!(text.contains("(tenants/monitoring.khc:14)") && text.contains("(tenants/payments.khc:26)"), "{text}");
    let o = khc(&["reach", "monitoring/prometheus", "payments/api", "--port", "8443", "-p", EX]);
    assert_eq!(o.status.code(), Some(1));
    let o = khc(&["reach", "ingress-nginx", "payments/api", "-p", EX]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("on 8443/TCP"), "{}", stdout(&o));
    let o = khc(&["reach", "payments/api", "203.0.113.10", "--port", "443", "-p", EX, "--format", "json"]);
    assert_eq!(json(&o)["allowed"], true);
    let o = khc(&["reach", "legacy/billing", "10.20.99.0/24", "--port", "1521", "-p", EX]);
    assert_eq!(o.status.code(), Some(1), "the excepted range");
    let o = khc(&["reach", "payments/api", "kube-system", "--port", "53", "--protocol", "udp", "-p", EX]);
    assert_eq!(o.status.code(), Some(1), "DNS needs the kube-dns label; a bare kube-system pod is not allowed: {}", stdout(&o));
    assert_eq!(khc(&["reach", "payments/nope", "payments/api", "-p", EX]).status.code(), Some(2));
    // `@dns`: the cluster's DNS target (default: kube-dns in kube-system).
    let o = khc(&["reach", "payments/api", "@dns", "--port", "53", "--protocol", "UDP", "-p", EX]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("allowed: payments/api → DNS (pods k8s-app=kube-dns in kube-system) on 53/UDP"), "{}", stdout(&o));
    assert!(stdout(&o).contains("allow-dns"), "{}", stdout(&o));
    // A cluster that serves DNS from NodeLocal DNSCache's address only.
    let dir = temp("reach-dns");
    std::fs::write(
        dir.join("main.khc"),
        "cluster c {\n  managed-by serviceaccount \"argocd/argocd-application-controller\"\n  dns cidr 169.254.20.10/32\n}\ntenant a {\n  workload w {}\n}\n",
    )
    .unwrap();
    let p = dir.to_str().unwrap();
    let o = khc(&["reach", "a/w", "@dns", "--port", "53", "--protocol", "TCP", "-p", p]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("allowed: a/w → DNS (169.254.20.10/32) on 53/TCP"), "{}", stdout(&o));
    let o = khc(&["reach", "a/w", "kube-system", "--port", "53", "--protocol", "UDP", "-p", p]);
    assert_eq!(o.status.code(), Some(1), "kube-system is no longer the DNS target: {}", stdout(&o));
}

#[test]
fn reach_matrix_matches_the_evaluator() {
    let ws = example();
    let v = json(&khc(&["reach", "--matrix", "-p", EX, "--format", "json"]));
    let want = serde_json::to_value(khc_analysis::posture::matrix(&ws)).unwrap();
    assert_eq!(v, want);
    // Cross-check every pair with the evaluator directly.
    for (t1, w1) in ws.workloads() {
        for (t2, w2) in ws.workloads() {
            let a = khc_analysis::posture::workload_endpoint(t1, w1);
            let b = khc_analysis::posture::workload_endpoint(t2, w2);
            if a.name == b.name {
                continue;
            }
            let listed = v.as_array().unwrap().iter().any(|r| r["from"] == a.name.as_str() && r["to"] == b.name.as_str());
            let ports = ws.network.decide(&a.endpoint, &b.endpoint).ports();
            assert_eq!(listed, !ports.is_empty(), "{} → {}", a.name, b.name);
        }
    }
    assert!(stdout(&khc(&["reach", "--matrix", "-p", EX])).contains("monitoring/prometheus → payments/api: 9090/TCP"));
}

#[test]
fn queries_on_a_generated_program() {
    let dir = generated(12);
    let p = dir.to_str().unwrap();
    let v = json(&khc(&["reach", "--matrix", "-p", p, "--format", "json"]));
    // Each api reaches its peer's api (both sides allow it); nothing else.
    let pairs: Vec<(String, String)> =
        v.as_array().unwrap().iter().map(|r| (r["from"].as_str().unwrap().to_string(), r["to"].as_str().unwrap().to_string())).collect();
    assert_eq!(pairs.len(), 12, "{pairs:?}");
    assert!(pairs.contains(&("t3/api".to_string(), "t4/api".to_string())));
    let o = khc(&["who-can", "create", "deployments.apps", "-n", "t5-jobs", "-p", p, "--format", "json"]);
    let subjects: Vec<String> =
        json(&o)[0]["answers"].as_array().unwrap().iter().map(|a| serde_json::from_value::<Subject>(a["subject"].clone()).unwrap().to_string()).collect();
    assert_eq!(subjects, ["group:t5-devs", "sa:t5-jobs/worker"]);
    assert_eq!(khc(&["reach", "t1/worker", "10.1.2.3", "--port", "5432", "-p", p]).status.code(), Some(0));
    assert_eq!(khc(&["reach", "t1/worker", "10.1.1.3", "--port", "5432", "-p", p]).status.code(), Some(1));
    let o = khc(&["blast-radius", "t2/api", "-p", p, "--format", "json"]);
    let b = json(&o);
    let reaches: Vec<&str> = b["reaches"].as_array().unwrap().iter().map(|r| r["endpoint"].as_str().unwrap()).collect();
    assert!(reaches.contains(&"t3/api"), "{reaches:?}");
    assert!(!reaches.contains(&"t4/api"), "{reaches:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn blast_radius_lists_reach_permissions_secrets_and_rules() {
    let o = khc(&["blast-radius", "monitoring/prometheus", "-p", EX]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for want in [
        "payments/api: 9090/TCP",
        "legacy/billing: 8080-8089/TCP",
        "api-server 10.0.0.10/32",
        "get list watch on pods services endpoints",
        "tenants/monitoring.khc:27",
        "no-host-namespaces",
    ] {
        assert!(text.contains(want), "missing {want}:\n{text}");
    }
    let v = json(&khc(&["blast-radius", "payments/api", "-p", EX, "--format", "json"]));
    assert_eq!(v["token_mounted"], false);
    assert!(v["permissions"].as_array().unwrap().is_empty());
    let reached_by: Vec<&str> = v["reached_by"].as_array().unwrap().iter().map(|r| r["endpoint"].as_str().unwrap()).collect();
    // Inbound from outside the tenants too: the ingress controller's namespace (payments.khc:20).
    assert_eq!(reached_by, ["monitoring/prometheus", "namespace ingress-nginx"]);
}

const GOOD: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: payments}
spec:
  selector: {matchLabels: {app: payments-api}}
  template:
    metadata: {labels: {app: payments-api}}
    spec:
      serviceAccountName: api
      securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}, appArmorProfile: {type: RuntimeDefault}}
      containers:
      - name: api
        image: registry.example.com/payments/api:1.2.3
        resources: {limits: {cpu: 500m, memory: 256Mi}, requests: {cpu: 100m, memory: 128Mi}}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: payments}
spec:
  selector: {app: payments-api}
  ports: [{port: 443, targetPort: 8443}]
"#;

const BAD: &str = r#"# a debugging pod
apiVersion: v1
kind: Pod
metadata:
  name: debug
  namespace: payments
  labels: {app: debug}
spec:
  hostNetwork: true
  containers:
  - name: sh
    image: busybox:latest
    securityContext: {privileged: true}
"#;

#[test]
fn eval_passes_compliant_manifests() {
    let o = khc_in(&["eval", "-", "-p", EX], &repo(), Some(GOOD));
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).is_empty(), "no findings: {}", stdout(&o));
}

#[test]
fn eval_denies_with_rule_and_lines() {
    let dir = temp("eval");
    std::fs::write(dir.join("good.yaml"), GOOD).unwrap();
    std::fs::write(dir.join("bad.yaml"), BAD).unwrap();
    let o = khc(&["eval", dir.to_str().unwrap(), "-p", EX]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    let bad = format!("{}:2 Pod/debug in namespace payments", dir.join("bad.yaml").display());
    assert!(text.contains(&bad), "{text}");
    for want in [
        "deny pod-security host-namespaces (tenants/payments.khc:2)",
        "deny admission no-privileged (std/restricted.khc:18)",
        "deny admission no-latest-tag (cluster.khc:36)",
        "deny admission allowed-registries (tenants/payments.khc:53)",
        "warn network undeclared-workload",
    ] {
        assert!(text.contains(want), "missing {want}:\n{text}");
    }
    // JSON: every finding has a rule, its source and the object's location.
    let v = json(&khc(&["eval", dir.to_str().unwrap(), "-p", EX, "--format", "json"]));
    assert_eq!(v["objects"], 3);
    assert_eq!(v["denied"], 1);
    for f in v["findings"].as_array().unwrap() {
        assert!(f["location"].as_str().unwrap().ends_with("bad.yaml:2"), "{f}");
        assert!(f["rule_source"].as_str().unwrap().contains(".khc:"), "{f}");
    }
    // Legacy enforces baseline: a root pod is only warned (audit/warn restricted), not denied by PSA.
    let legacy = BAD.replace("namespace: payments", "namespace: legacy-billing").replace("  hostNetwork: true\n", "").replace("{privileged: true}", "{}");
    let o = khc_in(&["eval", "-", "-p", EX], &repo(), Some(&legacy));
    let text = stdout(&o);
    assert!(text.contains("warn pod-security run-as-non-root") && !text.contains("deny pod-security"), "{text}");
    assert_eq!(o.status.code(), Some(1), "the cluster's no-latest-tag still denies:\n{text}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Validates a SARIF log against the SARIF 2.1.0 JSON schema (Python
/// jsonschema; `scripts/setup/20-sarif-schema.sh`). Without them prints SKIPPED
/// (fails under CI=true).
fn validate_sarif(log: &Value) {
    assert_eq!(log["version"], "2.1.0");
    assert!(log["runs"][0]["tool"]["driver"]["name"] == "khc");
    for r in log["runs"][0]["results"].as_array().unwrap() {
        let line = &r["locations"][0]["physicalLocation"]["region"]["startLine"];
        assert!(line.as_u64().is_some_and(|l| l >= 1), "{r}");
    }
    let (Some(schema), Some(python)) = (std::env::var_os("KHC_SARIF_SCHEMA"), std::env::var_os("KHC_SARIF_PYTHON")) else {
        assert!(std::env::var_os("CI").is_none(), "KHC_SARIF_SCHEMA is not set (scripts/setup/20-sarif-schema.sh)");
        eprintln!("SKIPPED SARIF schema validation: KHC_SARIF_SCHEMA / KHC_SARIF_PYTHON not set (run scripts/test-all)");
        return;
    };
    let dir = temp("sarif");
    let file = dir.join("log.sarif");
    std::fs::write(&file, serde_json::to_string(log).unwrap()).unwrap();
    let o = Command::new(python)
        .args(["-c", "import json,sys,jsonschema; s=json.load(open(sys.argv[1])); jsonschema.validators.validator_for(s)(s).validate(json.load(open(sys.argv[2]))); print('valid')"])
        .arg(&schema)
        .arg(&file)
        .output()
        .expect("run python");
    assert!(o.status.success(), "SARIF log is not valid:\n{}\n{}", String::from_utf8_lossy(&o.stderr), serde_json::to_string_pretty(log).unwrap());
}

#[test]
fn check_reports_json_and_valid_sarif() {
    let errors = repo().join("tests/errors");
    let o = khc(&["check", errors.join("conflicts.khc").to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    let d = v["diagnostics"].as_array().unwrap().iter().find(|d| d["severity"] == "error").expect("an error");
    assert!(d["file"].as_str().unwrap().ends_with("conflicts.khc") && d["line"].as_u64().unwrap() >= 1, "{d}");
    for case in ["conflicts", "duplicates", "warn-risky", "unknown-names", "syntax"] {
        let o = khc(&["check", errors.join(format!("{case}.khc")).to_str().unwrap(), "--format", "sarif"]);
        let log = json(&o);
        assert!(!log["runs"][0]["results"].as_array().unwrap().is_empty(), "{case}");
        validate_sarif(&log);
    }
    // A clean build reports an empty log and still writes.
    let out = temp("sarif-build");
    let o = khc(&["build", EX, "-o", out.to_str().unwrap(), "--format", "sarif"]);
    assert_eq!(o.status.code(), Some(0));
    validate_sarif(&json(&o));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn eval_sarif_is_valid() {
    let o = khc_in(&["eval", "-", "-p", EX, "--format", "sarif"], &repo(), Some(BAD));
    assert_eq!(o.status.code(), Some(1));
    let log = json(&o);
    assert_eq!(log["runs"][0]["results"][0]["level"], "error");
    validate_sarif(&log);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "generated" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

/// The example with looser payments intent: baseline PSA, a new allow, a rule and a role grant more.
fn loosen(dir: &Path) {
    let f = dir.join("tenants/payments.khc");
    let src = std::fs::read_to_string(&f).unwrap();
    let src = src
        .replace("  pod-security restricted\n", "  pod-security baseline\n")
        .replace("    allowed-registries \"registry.example.com/payments/\" \"registry.example.com/base/\"\n", "")
        .replace("  allow egress from workload api to cidr 203.0.113.0/24 ports 443\n", "  allow egress from workload api to cidr 0.0.0.0/0 ports 443\n")
        .replace(
            "  grant view to group \"oidc:payments-auditors\"\n",
            "  grant view to group \"oidc:payments-auditors\"\n  grant edit to group \"contractors\"\n",
        );
    std::fs::write(&f, src).unwrap();
}

#[test]
fn diff_reports_loosening_with_sources() {
    let dir = temp("diff");
    let new = dir.join("new");
    copy_dir(&repo().join(EX), &new);
    loosen(&new);
    let o = khc(&["diff", EX, new.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for want in [
        "[pod-security] ~ tenant payments enforce: restricted → baseline  (tenants/payments.khc:",
        "[reachability] + payments/api → cidr 0.0.0.0/0 except 169.254.169.254/32: 443/TCP",
        "[rbac] + group:contractors may",
        "[admission] - khc-tenant-payments: allowed-registries",
    ] {
        assert!(text.contains(want), "missing {want}:\n{text}");
    }
    assert!(text.starts_with("loosened ("), "{text}");
    let o = khc(&["diff", EX, new.to_str().unwrap(), "--deny-loosening", "--format", "markdown"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("| 🔓 loosened | pod-security | tenant payments enforce | restricted | baseline |"), "{}", stdout(&o));
    let v = json(&khc(&["diff", EX, new.to_str().unwrap(), "--format", "json"]));
    assert!(v["changes"].as_array().unwrap().iter().all(|c| c["effect"] != "tightened" || c["category"] == "reachability"), "{v}");
    validate_sarif(&json(&khc(&["diff", EX, new.to_str().unwrap(), "--format", "sarif"])));
    // The same tree is no change.
    assert_eq!(stdout(&khc(&["diff", EX, EX])), "no change in security posture\n");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn diff_against_a_git_revision() {
    let dir = temp("diff-git");
    copy_dir(&repo().join(EX), &dir.join("platform"));
    let git = |args: &[&str]| {
        let o = Command::new("git").args(["-c", "user.name=khc", "-c", "user.email=khc@example.com"]).args(args).current_dir(&dir).output().unwrap();
        assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "base"]);
    loosen(&dir.join("platform"));
    let o = khc_in(&["diff", "--against", "HEAD", "platform"], &dir, None);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("tenant payments enforce: restricted → baseline"), "{}", stdout(&o));
    assert_eq!(khc_in(&["diff", "--against", "no-such-rev", "platform"], &dir, None).status.code(), Some(2));

    // #25 item 2: a revision is never an option (`git archive --output=FILE` truncated FILE).
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    for rev in [format!("--output={}", victim.display()), format!("--output={}^{{tree}}", victim.display()), "-o".into(), "HEAD\n--output=x".into()] {
        let o = khc_in(&["diff", &format!("--against={rev}"), "platform"], &dir, None);
        assert_eq!(o.status.code(), Some(2), "{rev}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious", "{rev}");
    }

    // #25 item 3: the temporary folder is fresh and private: the old predictable
    // name, planted with a link to another file, is neither followed nor reused.
    let tmpdir = temp("diff-tmp");
    let planted = tmpdir.join("planted.txt");
    std::fs::write(&planted, "someone else's").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_khc"))
        .args(["diff", "--against", "HEAD", "platform"])
        .current_dir(&dir)
        .env("TMPDIR", &tmpdir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&planted).unwrap(), "someone else's");
    // Nothing is left behind, and nothing named after the process or the revision was used.
    let left: Vec<_> = std::fs::read_dir(&tmpdir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("planted.txt")], "{left:?}");
    std::fs::remove_dir_all(&tmpdir).ok();
    std::fs::remove_dir_all(&dir).ok();
}

/// #25 item 3: the old scheme's folder `khc-diff-PID-REV` with `old.tar` planted as a
/// link: khc must not write through it. The pid is that of the spawned process, so
/// the test plants the link for a range of likely pids before starting khc.
#[test]
fn diff_against_never_writes_through_a_planted_link() {
    let dir = temp("diff-plant");
    copy_dir(&repo().join(EX), &dir.join("platform"));
    let git = |args: &[&str]| {
        let o = Command::new("git").args(["-c", "user.name=khc", "-c", "user.email=khc@example.com"]).args(args).current_dir(&dir).output().unwrap();
        assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "base"]);
    let tmpdir = temp("diff-plant-tmp");
    let victim = tmpdir.join("victim.txt");
    std::fs::write(&victim, "someone else's").unwrap();
    // The next pids: this process forks khc soon; plant for a window of them.
    let next = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid").ok().and_then(|s| s.trim().parse::<u32>().ok());
    if let Some(last) = next {
        for pid in last + 1..last + 200 {
            let d = tmpdir.join(format!("khc-diff-{pid}-HEAD"));
            std::fs::create_dir_all(&d).unwrap();
            std::os::unix::fs::symlink(&victim, d.join("old.tar")).unwrap();
        }
    }
    let o = Command::new(env!("CARGO_BIN_EXE_khc"))
        .args(["diff", "--against", "HEAD", "platform"])
        .current_dir(&dir)
        .env("TMPDIR", &tmpdir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "someone else's");
    std::fs::remove_dir_all(&tmpdir).ok();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn graph_draws_dot_svg_and_html() {
    let dot = stdout(&khc(&["graph", "-p", EX]));
    assert!(dot.starts_with("digraph khc {"), "{dot}");
    assert!(dot.contains("\"monitoring/prometheus\" -> \"payments/api\" [label=\"9090/TCP\"];"), "{dot}");
    assert!(dot.contains("\"namespace ingress-nginx\" -> \"payments/api\" [label=\"8443/TCP\"];"), "{dot}");
    assert!(dot.contains("\"legacy/billing\" -> \"cidr 10.20.0.0/16 except 10.20.99.0/24\" [label=\"1521/TCP\"];"), "{dot}");
    let svg = stdout(&khc(&["graph", "-p", EX, "--format", "svg"]));
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    let dir = temp("graph");
    let page = dir.join("posture.html");
    assert_eq!(khc(&["graph", "-p", EX, "--format", "html", "-o", page.to_str().unwrap()]).status.code(), Some(0));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<svg") && html.contains("group:oidc:payments-devs") && html.contains("tenants/payments.khc:48"));
    assert!(!html.contains("http://") || !html.contains("<script src"), "self-contained");
    // The page's structure: a group and a connection list per tenant, the filter,
    // no network; the same bytes each time, equal to the golden page.
    assert_eq!(html.matches("<g class=\"tenant\"").count(), 3, "{html}");
    for t in ["legacy", "monitoring", "payments"] {
        assert!(html.contains(&format!("<details class=\"group\" data-t=\"{t}\">")), "{t}");
    }
    assert!(html.contains("<input id=\"filter\"") && html.contains("<script>") && !html.contains("<script src") && !html.contains("<link"));
    // DNS and the API server: one node each, their connections badges, no line.
    assert!(html.contains("reached by 5 workloads (collapsed)") && !html.contains("data-b=\"\"><title>payments/api → DNS"), "{html}");
    assert_eq!(stdout(&khc(&["graph", "-p", EX, "--format", "html"])), html, "deterministic");
    khc_tests::assert_golden(&repo().join("compiler/cli/tests/golden/graph-multi-tenant.html"), &html);
    // Render it with headless Chromium (required under CI=true) to prove it opens.
    if let Some(c) = chromium() {
        let png = artifacts().join("graph-multi-tenant.png");
        let (_, o) = chromium_run(&c, &["--window-size=1100,900", &format!("--screenshot={}", png.display())], &page, "", 120);
        assert!(png.exists() && std::fs::metadata(&png).unwrap().len() > 10_000, "chromium rendered nothing: {}", String::from_utf8_lossy(&o.stderr));
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The graph page's RBAC table reads every subject's permissions through an
/// index (`Rbac::all_permissions`); they equal `permissions_of`'s scan of every
/// binding, on the example (ServiceAccounts, groups, users, cluster-wide
/// bindings) and a generated fleet.
#[test]
fn indexed_permissions_equal_the_scan() {
    for ws in [example(), Workspace::load(&generated(30)).unwrap()] {
        let all = ws.rbac.all_permissions();
        assert_eq!(all.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(), ws.rbac.subjects().into_iter().collect::<Vec<_>>());
        for (who, perms) in &all {
            let scan = ws.rbac.permissions_of(who);
            let key = |v: &[(Option<String>, &khc_analysis::rbac::BindingDef, &khc_analysis::rbac::RoleDef)]| -> Vec<(Option<String>, String, String)> {
                v.iter().map(|(ns, b, r)| (ns.clone(), b.name.clone(), r.name.clone())).collect()
            };
            assert_eq!(key(perms), key(&scan), "{who}");
        }
    }
}

/// The pair matrix (and `cross`) asks only the receivers in the namespaces a
/// sender's egress rules pin by name (issue 24: `graph` and `reach --matrix` at
/// fleet size); its answers equal asking every pair, on the example (namespace
/// peers, CIDRs, unpinned selectors) and a generated fleet, with the external
/// peers as receivers too.
#[test]
fn pruned_matrix_equals_every_pair() {
    for ws in [example(), Workspace::load(&generated(25)).unwrap()] {
        let mut eps: Vec<khc_analysis::network::Endpoint> = ws.workloads().map(|(t, w)| khc_analysis::posture::workload_endpoint(t, w).endpoint).collect();
        let workloads = eps.len();
        eps.extend(khc_analysis::posture::external_endpoints(&ws).into_iter().map(|(_, e)| e));
        eps.extend(ws.dns_endpoints().into_iter().map(|(_, e, _)| e));
        let mut scan = Vec::new();
        for (a, ea) in eps.iter().enumerate() {
            for (b, eb) in eps.iter().enumerate() {
                let p = ws.network.ports(ea, eb);
                if a != b && !p.is_empty() {
                    scan.push((a, b, p));
                }
            }
        }
        assert_eq!(ws.network.matrix(&eps), scan);
        let cross: Vec<_> = scan.iter().filter(|(a, b, _)| *a < workloads && *b >= workloads).map(|(a, b, p)| (*a, b - workloads, p.clone())).collect();
        assert_eq!(ws.network.cross(&eps[..workloads], &eps[workloads..]), cross);
        assert!(!cross.is_empty() && scan.len() > cross.len());
    }
}

/// Headless Chromium, if installed; under `CI=true` it must be (the graph tests
/// do not skip there).
fn chromium() -> Option<String> {
    let found = ["chromium", "chromium-browser"].into_iter().find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but no chromium: the graph page must be rendered");
        eprintln!("SKIPPED rendering the graph page: no chromium");
    }
    found.map(String::from)
}

/// Where the graph tests leave their screenshots (`KHC_ARTIFACTS`, or
/// `target/test-artifacts`).
fn artifacts() -> PathBuf {
    let d = std::env::var_os("KHC_ARTIFACTS").map(PathBuf::from).unwrap_or_else(|| repo().join("target/test-artifacts"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs headless Chromium on `page` (with `fragment`, e.g. `#filter=t5`), its
/// scripts given up to 10 s of virtual time; killed and failed after
/// `limit_s` seconds of wall time. Returns the wall time and the output.
fn chromium_run(chromium: &str, args: &[&str], page: &Path, fragment: &str, limit_s: u64) -> (std::time::Duration, Output) {
    let profile = temp("chromium-profile");
    let start = std::time::Instant::now();
    let mut child = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=10000"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}{fragment}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the pipes on threads: a full pipe would stall chromium.
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out_pipe, &mut v).ok();
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err_pipe, &mut v).ok();
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed().as_secs() > limit_s {
            child.kill().ok();
            child.wait().ok();
            panic!("chromium took more than {limit_s} s on {}{fragment}", page.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let took = start.elapsed();
    let o = Output { status, stdout: out_t.join().unwrap(), stderr: err_t.join().unwrap() };
    std::fs::remove_dir_all(&profile).ok();
    (took, o)
}

/// Issue 24 item 3: the page of 1,000 generated tenants opens in headless
/// Chromium within a bounded time and is usable: one group per tenant, the DNS
/// collapsed to one node, the filter (from `#filter=t5`) leaving tenant t5
/// alone with its two ring neighbours dimmed and their edges; screenshots of
/// the whole page and of the filtered one are kept as test artifacts.
#[test]
fn graph_page_of_1000_tenants_is_usable_in_chromium() {
    let dir = generated(1000);
    let page = dir.join("posture.html");
    let t = std::time::Instant::now();
    let o = khc(&["graph", "-p", dir.to_str().unwrap(), "--format", "html", "-o", page.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let took = t.elapsed();
    let html = std::fs::read_to_string(&page).unwrap();
    eprintln!("graph --format html of 1,000 tenants: {took:.2?}, {} bytes", html.len());
    assert_eq!(html.matches("<g class=\"tenant\"").count(), 1000);
    assert_eq!(html.matches("<details class=\"group\"").count(), 1000);
    // The DNS: one node, 2,000 collapsed edges, no line; the ring: one line per edge.
    assert!(html.contains("reached by 2000 workloads (collapsed)"), "DNS not collapsed");
    assert_eq!(html.matches("<g class=\"peer\"").count(), 251, "the DNS and the 250 CIDRs, each once");
    assert_eq!(html.matches("<g class=\"edge\"").count(), 1000, "one line per ring edge, none to peers");
    assert!(html.len() < 8_000_000, "{} bytes", html.len());
    let Some(c) = chromium() else { return };
    let art = artifacts();
    let (whole, filtered) = (art.join("graph-1000.png"), art.join("graph-1000-t5.png"));
    let (took, o) = chromium_run(&c, &["--window-size=1400,1000", &format!("--screenshot={}", whole.display())], &page, "", 180);
    eprintln!("chromium screenshot of the 1,000-tenant page: {took:.2?}");
    assert!(whole.exists() && std::fs::metadata(&whole).unwrap().len() > 50_000, "blank screenshot: {}", String::from_utf8_lossy(&o.stderr));
    let (_, o) = chromium_run(&c, &["--window-size=1400,1000", &format!("--screenshot={}", filtered.display())], &page, "#filter=t5", 180);
    assert!(filtered.exists() && std::fs::metadata(&filtered).unwrap().len() > 10_000, "blank screenshot: {}", String::from_utf8_lossy(&o.stderr));
    // The DOM after the script ran with the filter: t5 alone, t4 and t6 dimmed.
    let (_, o) = chromium_run(&c, &["--dump-dom"], &page, "#filter=t5", 180);
    let dom = stdout(&o);
    assert!(dom.contains("data-ready=\"yes\""), "the script did not finish: {}", String::from_utf8_lossy(&o.stderr));
    assert!(dom.contains("id=\"shown\">1 of 1000 tenants<"), "filter did not narrow");
    assert_eq!(dom.matches("<g class=\"tenant\"").count(), 1, "one tenant shown");
    assert!(dom.contains("<g class=\"tenant\" data-t=\"t5\""));
    assert_eq!(dom.matches("<g class=\"tenant ctx\"").count(), 2, "its two neighbours dimmed");
    assert_eq!(dom.matches("<g class=\"tenant off\"").count(), 997);
    assert_eq!(dom.matches("<g class=\"edge\"").count(), 2, "t4 → t5 and t5 → t6");
    assert_eq!(dom.matches("<details class=\"group\"").count(), 1, "t5's connections alone");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn report_is_a_compliance_matrix() {
    let md = stdout(&khc(&["report", "-p", EX]));
    assert!(md.contains("| control | legacy | monitoring | payments |"), "{md}");
    assert!(md.contains("| Host Namespaces (baseline) | both | both | both |"), "{md}");
    assert!(md.contains("| Privilege Escalation (restricted) | **neither** | **neither** | both |"), "{md}");
    assert!(md.contains("| Images from allowed registries | **neither** | **neither** | khc |"), "{md}");
    let v = json(&khc(&["report", "-p", EX, "--format", "json"]));
    let row = v.as_array().unwrap().iter().find(|r| r["id"] == "pss/run-as-non-root").unwrap();
    assert_eq!(row["tenants"]["payments"]["enforcer"], "both");
    assert!(row["tenants"]["payments"]["sources"].as_array().unwrap().iter().any(|s| s == "std/restricted.khc:39"), "{row}");
    let html = stdout(&khc(&["report", "-p", EX, "--format", "html"]));
    assert!(html.contains("<td class=\"neither\""));
}

/// #16 item 7 / #25 item 6: no command panics when stdout or stderr is a closed
/// pipe (`khc who-can … | true`): every command, in every output format, with the
/// read end of its stdout (then of its stderr) dropped before it writes. The exit
/// code is the run's own (never 101) and nothing says "panicked".
#[test]
fn no_command_panics_on_a_closed_stdout_or_stderr() {
    let dir = temp("closed");
    std::fs::write(dir.join("bad.yaml"), BAD).unwrap();
    std::fs::write(dir.join("broken.khc"), "cluster c {\n  kubernetes 1.2\n}\n").unwrap();
    std::fs::write(dir.join("t.khc"), "tenant  a {\n}\n").unwrap();
    let out = dir.join("out");
    let (bad, broken, fmt_file, out) = (
        dir.join("bad.yaml").display().to_string(),
        dir.join("broken.khc").display().to_string(),
        dir.join("t.khc").display().to_string(),
        out.display().to_string(),
    );
    let mut runs: Vec<Vec<&str>> = vec![
        vec!["who-can", "get", "secrets", "-A", "-p", EX],
        vec!["who-can", "get", "secrets", "-A", "-p", EX, "--format", "json"],
        vec!["can", "group:payments-devs", "create", "deployments.apps", "-n", "payments", "-p", EX],
        vec!["can", "group:payments-devs", "create", "deployments.apps", "-n", "payments", "-p", EX, "--format", "json"],
        vec!["reach", "monitoring/prometheus", "payments/api", "--port", "9090", "-p", EX],
        vec!["reach", "--matrix", "-p", EX],
        vec!["reach", "--matrix", "-p", EX, "--format", "json"],
        vec!["blast-radius", "monitoring/prometheus", "-p", EX],
        vec!["blast-radius", "monitoring/prometheus", "-p", EX, "--format", "json"],
        vec!["eval", &bad, "-p", EX],
        vec!["eval", &bad, "-p", EX, "--format", "json"],
        vec!["eval", &bad, "-p", EX, "--format", "sarif"],
        vec!["diff", EX, EX],
        vec!["diff", EX, EX, "--format", "json"],
        vec!["diff", EX, EX, "--format", "markdown"],
        vec!["graph", "-p", EX],
        vec!["graph", "-p", EX, "--format", "html"],
        vec!["report", "-p", EX],
        vec!["report", "-p", EX, "--format", "json"],
        vec!["fmt", "--check", &fmt_file],
        vec!["fmt", "-"],
        vec!["check", EX],
        vec!["check", &broken],
        vec!["--help"],
        vec!["--version"],
        vec!["who-can", "--help"],
        vec!["check", "no-such-path"],
        vec!["who-can", "get", "secrets", "-A", "-p", "no-such-path"],
    ];
    for format in ["json", "sarif"] {
        runs.push(vec!["check", EX, "--format", format]);
        runs.push(vec!["check", &broken, "--format", format]);
        runs.push(vec!["build", EX, "-o", &out, "--format", format]);
    }
    runs.push(vec!["build", EX, "-o", &out]);
    let closed = || {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        writer
    };
    for args in &runs {
        for stdout_closed in [true, false] {
            // The other stream is captured: it must not mention a panic.
            let mut c = Command::new(env!("CARGO_BIN_EXE_khc"));
            c.args(args).current_dir(repo()).env("NO_COLOR", "1").env("RUST_BACKTRACE", "0").stdin(Stdio::piped());
            if stdout_closed {
                c.stdout(closed()).stderr(Stdio::piped());
            } else {
                c.stderr(closed()).stdout(Stdio::piped());
            }
            let mut child = c.spawn().unwrap();
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(b"tenant  a {\n}\n");
            }
            let o = child.wait_with_output().unwrap();
            let other = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            let which = if stdout_closed { "stdout" } else { "stderr" };
            assert_ne!(o.status.code(), Some(101), "khc {args:?} with a closed {which}: {other}");
            assert!(o.status.code().is_some(), "khc {args:?} with a closed {which} died of a signal");
            assert!(!other.contains("panicked"), "khc {args:?} with a closed {which}: {other}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// #25 items 8, 9 and 16: `khc eval` on hostile input. Flow collections nested
/// 50,000 deep are refused at once with a clear error (the parser was quadratic
/// before its recursion limit); a directory's symbolic links are not followed; a
/// stream larger than the cap is refused without reading it all.
#[test]
fn eval_refuses_deep_nesting_huge_input_and_links() {
    let deep = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: x}}\nspec: {}\n", "[".repeat(50_000));
    let t = std::time::Instant::now();
    let o = khc_in(&["eval", "-", "-p", EX], &repo(), Some(&deep));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("nested more than 64 deep"), "{err}");
    assert!(t.elapsed() < std::time::Duration::from_secs(20), "took {:?}", t.elapsed());

    // A link inside the directory (to a file and to a directory) is not followed.
    let dir = temp("eval-links");
    let elsewhere = temp("eval-elsewhere");
    std::fs::write(elsewhere.join("bad.yaml"), BAD).unwrap();
    std::fs::create_dir_all(dir.join("m")).unwrap();
    std::fs::write(dir.join("m/good.yaml"), GOOD).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("bad.yaml"), dir.join("m/link.yaml")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.join("m/linked-dir")).unwrap();
    let o = khc(&["eval", dir.join("m").to_str().unwrap(), "-p", EX]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));

    // More than 64 MiB on stdin: refused, exit 2.
    let mut child = Command::new(env!("CARGO_BIN_EXE_khc"))
        .args(["eval", "-", "-p", EX])
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'#'; 1 << 20];
        for _ in 0..80 {
            if stdin.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("larger than the 64 MiB limit"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&elsewhere).ok();
}

#[test]
fn report_benchmark_judges_the_control_plane() {
    let out = khc(&["report", "-p", EX, "--benchmark", "cis-1.12"]);
    assert_eq!(out.status.code(), Some(0), "no check khc owns fails for the example");
    let md = stdout(&out);
    assert!(md.contains("# CIS Kubernetes Benchmark 1.12: cluster `prod-eu`"), "{md}");
    assert!(md.contains("| 1.2.5 Ensure that the --kubelet-certificate-authority argument is set as appropriate (Automated) | PASS | yes | kube-apiserver-flags: --kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt | cluster.khc:73 |"), "{md}");
    assert!(md.contains("| 1.2.7 Ensure that the --authorization-mode argument includes Node (Automated) | not khc's |"), "{md}");
    let v = json(&khc(&["report", "-p", EX, "--benchmark", "cis-1.12", "--format", "json"]));
    let c = v.as_array().unwrap().iter().find(|c| c["id"] == "1.2.1").unwrap();
    assert_eq!(c["verdict"], "WARN");
    assert!(c["note"].as_str().unwrap().contains("the scanner reads only the flag"), "{c}");
    assert!(v.as_array().unwrap().iter().all(|c| c["verdict"] != "FAIL"), "{v}");
    // A cluster whose audit retention is below the benchmark's: FAIL, exit 1.
    let dir = std::env::temp_dir().join(format!("khc-bench-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("c.khc"), "cluster c {\n  kubernetes 1.35\n  audit { max-age 7 }\n}\n").unwrap();
    let out = khc(&["report", "-p", dir.to_str().unwrap(), "--benchmark", "cis-1.12"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("| 1.2.17 Ensure that the --audit-log-maxage argument is set to 30 or as appropriate (Automated) | FAIL | yes | kube-apiserver-flags: --audit-log-maxage=7 | c.khc:3 |"));
    std::fs::remove_dir_all(&dir).ok();
}

/// A program for the escalation tests: bob may bind any ClusterRole, carol may
/// impersonate bob, mallory any user and group (a group is impersonated along
/// with a user: groups alone, as `oscar` may, reach nothing), dave may mint the
/// token of `a/ci` (which reads Secrets), frank may create pods in restricted
/// `b` (hostPath refused), erin only reads pods.
const ESCALATION: &str = r#"
tenant a {
  pod-security restricted
  isolation strict
  workload ci { selector { app "ci" } }
  role reader { can get list on secrets }
  grant reader to workload ci
  role minter { can create on "serviceaccounts/token" }
  grant minter to user "dave"
}
tenant b {
  pod-security restricted
  isolation strict
  role podmaker { can create on pods }
  grant podmaker to user "frank"
}
cluster esc {
  kubernetes 1.35
  role binder {
    can bind on clusterroles.rbac.authorization.k8s.io
    can create on rolebindings.rbac.authorization.k8s.io
  }
  grant binder to user "bob"
  role imp { can impersonate on users names "bob" }
  grant imp to user "carol"
  role masters { can impersonate on users groups uids }
  grant masters to user "mallory"
  role groups-only { can impersonate on groups uids }
  grant groups-only to user "oscar"
  role pods-only { can get on pods }
  grant pods-only to user "erin"
  role csr {
    can create on certificatesigningrequests.certificates.k8s.io
    can update on "certificatesigningrequests.certificates.k8s.io/approval"
    can approve on signers.certificates.k8s.io names "kubernetes.io/kube-apiserver-client"
  }
  grant csr to user "cert-clerk"
  role hooks { can create on mutatingwebhookconfigurations.admissionregistration.k8s.io }
  grant hooks to user "hooker"
  role kubelet-proxy { can get on "nodes/proxy" }
  grant kubelet-proxy to user "prober"
}
"#;

fn escalation_project() -> PathBuf {
    let dir = temp("esc");
    std::fs::write(dir.join("main.khc"), ESCALATION).unwrap();
    dir
}

#[test]
fn can_follows_multi_step_escalations() {
    let dir = escalation_project();
    let p = dir.to_str().unwrap();
    // bind: bob binds ClusterRole admin to himself in a.
    let o = khc(&["can", "user:bob", "get", "secrets", "-n", "a", "-p", p]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.starts_with("yes, by escalation:"), "{text}");
    assert!(text.contains("bind ClusterRole admin to itself in namespace a"), "{text}");
    assert!(text.contains("ClusterRoleBinding binder (main.khc:"), "each step names its grants: {text}");
    // Two steps: carol impersonates bob, who binds.
    let v = json(&khc(&["can", "user:carol", "get", "secrets", "-n", "a", "-p", p, "--format", "json"]));
    assert_eq!(v["allowed"], false);
    assert_eq!(v["allowed_by_escalation"], true);
    let first = &v["paths"][0]["steps"];
    assert_eq!(first[0]["how"], "impersonate user:bob", "{v}");
    assert!(first[1]["how"].as_str().unwrap().starts_with("bind ClusterRole"), "{v}");
    // Impersonating system:masters is every permission.
    let text = stdout(&khc(&["can", "user:mallory", "delete", "nodes", "-p", p]));
    assert!(text.starts_with("yes, by escalation") && text.contains("impersonate group:system:masters"), "{text}");
    // A ServiceAccount token: dave → sa:a/ci → get secrets.
    let text = stdout(&khc(&["can", "user:dave", "list", "secrets", "-n", "a", "-p", p]));
    assert!(text.contains("create a token for sa:a/ci") && text.contains("as sa:a/ci: list secrets in namespace a"), "{text}");
    // A client certificate for system:masters, a mutating webhook, the kubelet API.
    // A client certificate of a subject that may (never system:masters: the
    // CertificateSubjectRestriction admission plugin refuses that group).
    let text = stdout(&khc(&["can", "user:cert-clerk", "list", "secrets", "-n", "a", "-p", p]));
    assert!(text.starts_with("yes, by escalation") && text.contains("CertificateSigningRequest for a kube-apiserver-client certificate of sa:a/ci"), "{text}");
    let o = khc(&["can", "user:cert-clerk", "delete", "nodes", "-p", p]);
    assert_eq!(o.status.code(), Some(1), "only system:masters may: {}", stdout(&o));
    // Groups alone cannot be impersonated: the API server wants a user with them.
    let o = khc(&["can", "user:oscar", "delete", "nodes", "-p", p]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let text = stdout(&khc(&["can", "user:hooker", "delete", "nodes", "-p", p]));
    assert!(text.starts_with("yes, by escalation") && text.contains("MutatingWebhookConfiguration"), "{text}");
    let text = stdout(&khc(&["can", "user:prober", "list", "secrets", "-n", "a", "-p", p]));
    assert!(text.contains("get nodes/proxy: exec in any pod") && text.contains("as a ServiceAccount that may: list secrets in namespace a"), "{text}");
    // blast-radius lists what a token can take in more steps (none for a pod of b).
    let v = json(&khc(&["blast-radius", "a/ci", "-p", p, "--format", "json"]));
    assert!(v["escalations"].is_object(), "{v}");
    // No: erin only reads pods.
    let o = khc(&["can", "user:erin", "get", "secrets", "-n", "a", "-p", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).starts_with("no:"), "{}", stdout(&o));
    // Pruned: frank's hostPath pod in b is refused by Pod Security restricted there.
    let o = khc(&["can", "user:frank", "get", "secrets", "-n", "a", "-p", p]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("pruned path (refused: Pod Security enforce restricted in b refuses hostPath volumes"), "{text}");
    // who-can lists the multi-step subjects with their paths.
    let text = stdout(&khc(&["who-can", "get", "secrets", "-n", "a", "-p", p]));
    // dave's token step is the one-step escalation who-can always showed.
    for want in ["user:bob (multi-step escalation)", "user:carol (multi-step escalation)", "user:mallory (multi-step escalation)", "user:dave (escalation)"] {
        assert!(text.contains(want), "missing {want}:\n{text}");
    }
    assert!(!text.contains("user:erin") && !text.contains("user:frank"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

/// What khc's own admission refuses is pruned, in the multi-step paths and in
/// the one-step escalations: pods running as `a/default` where
/// `no-default-service-account` refuses them (a workload's pod is admitted), a
/// hostPath pod under Pod Security `restricted`; a hostPath PersistentVolume
/// needs a claim to be mounted (`live_server.rs` executes the same on real
/// servers).
#[test]
fn escalations_khc_refuses_are_pruned() {
    let dir = temp("pruned");
    let src = r#"
import "std/restricted"
tenant a {
  pod-security restricted
  workload api { selector { app "api" } }
  role podmaker { can create on pods }
  grant podmaker to user "pam" user "petra" user "claire"
  role claims { can create on persistentvolumeclaims }
  grant claims to user "claire"
  grant edit to serviceaccount "a/default"
  admission {
    use restricted
    no-default-service-account
  }
}
cluster c {
  kubernetes 1.35
  role pv { can create on persistentvolumes }
  grant pv to user "petra" user "claire"
}
"#;
    std::fs::write(dir.join("main.khc"), src).unwrap();
    let p = dir.to_str().unwrap();
    // pam may create pods in a, and a/default may create configmaps: refused.
    let o = khc(&["can", "user:pam", "create", "configmaps", "-n", "a", "-p", p, "--format", "json"]);
    let v = json(&o);
    assert_eq!(o.status.code(), Some(1), "{v}");
    assert_eq!(v["allowed_by_escalation"], false, "{v}");
    let pruned = v["pruned_escalations"].as_array().unwrap();
    assert!(pruned.iter().any(|e| e["pruned"].as_str().unwrap().contains("no-default-service-account")), "{v}");
    assert!(v["paths"].as_array().unwrap().iter().all(|p| !p["pruned"].is_null()), "{v}");
    let text = stdout(&khc(&["can", "user:pam", "create", "configmaps", "-n", "a", "-p", p]));
    assert!(text.starts_with("no:") && text.contains("pruned escalation (refused: khc admission rule no-default-service-account"), "{text}");
    // who-can leaves the refused one-step escalation out.
    let text = stdout(&khc(&["who-can", "create", "configmaps", "-n", "a", "-p", p]));
    assert!(!text.contains("user:pam"), "{text}");
    // A hostPath PersistentVolume is mounted through a claim: petra cannot, claire can.
    let v = json(&khc(&["can", "user:petra", "create", "configmaps", "-n", "a", "-p", p, "--format", "json"]));
    let acts = |v: &serde_json::Value| -> Vec<String> {
        v["paths"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["pruned"].is_null())
            .flat_map(|p| p["steps"].as_array().unwrap().iter().map(|s| s["act"]["act"].as_str().unwrap().to_string()))
            .collect()
    };
    assert!(!acts(&v).contains(&"host-path-volume".to_string()), "{v}");
    let v = json(&khc(&["can", "user:claire", "create", "configmaps", "-n", "a", "-p", p, "--format", "json"]));
    assert!(acts(&v).contains(&"host-path-volume".to_string()), "{v}");
    assert!(acts(&v).contains(&"as-service-account".to_string()), "{v}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn impersonate_on_users_groups_uids_serviceaccounts_compiles() {
    let dir = escalation_project();
    let out = dir.join("out");
    let o = khc(&["build", dir.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let role = std::fs::read_to_string(out.join("clusters/esc/cluster/clusterrole-masters.yaml")).unwrap();
    // uids are authorized in authentication.k8s.io, groups in the core group.
    assert!(role.contains("authentication.k8s.io") && role.contains("uids") && role.contains("groups"), "{role}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Items of a `kind: List`, as `kubectl get -o yaml` prints them.
const LIST: &str = r#"apiVersion: v1
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: one
    namespace: payments
    labels: {app: payments-api}
  spec:
    serviceAccountName: api
    containers:
    - name: c
      image: registry.example.com/payments/api:1
- apiVersion: v1
  kind: Pod
  metadata:
    name: two
    namespace: payments
  spec:
    containers:
    - name: c
      image: registry.example.com/payments/api:1
      securityContext:
        privileged: true
kind: List
metadata: {resourceVersion: ""}
"#;

#[test]
fn eval_judges_list_items_one_by_one() {
    let o = khc_in(&["eval", "-", "-p", EX], &repo(), Some(LIST));
    let text = stdout(&o);
    assert!(text.contains("-:3 Pod/one in namespace payments (document 1, item 1)"), "{text}");
    assert!(text.contains("-:14 Pod/two in namespace payments (document 1, item 2)"), "{text}");
    // The privileged finding points at the field's line.
    assert!(text.contains("deny pod-security privileged") && text.contains("[at -:24]"), "{text}");
    let v = json(&khc_in(&["eval", "-", "-p", EX, "--format", "json"], &repo(), Some(LIST)));
    assert_eq!(v["objects"], 2);
    assert_eq!(v["denied"], 2, "both items are denied on their own: {v}");
    for f in v["findings"].as_array().unwrap() {
        let want = if f["object"] == "Pod/one" { "-:3" } else { "-:14" };
        assert_eq!(f["location"], want, "{f}");
    }
}

#[test]
fn eval_applies_the_cluster_pod_security_default_to_unmanaged_namespaces() {
    let pod = |ns: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: edge, namespace: {ns}}}\nspec:\n  containers:\n  - name: c\n    image: registry.example.com/x:1\n    ports: [{{containerPort: 80, hostPort: 80}}]\n    securityContext: {{capabilities: {{add: [SYS_ADMIN]}}}}\n  volumes:\n  - name: h\n    hostPath: {{path: /}}\n"
        )
    };
    let o = khc_in(&["eval", "-", "-p", EX], &repo(), Some(&pod("ingress-nginx")));
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    for want in [
        "deny pod-security host-ports (cluster.khc:",
        "deny pod-security capabilities-baseline",
        "deny pod-security host-path",
        "default pod-security enforce baseline",
    ] {
        assert!(text.contains(want), "missing {want}:\n{text}");
    }
    // Exempt namespaces get no Pod Security findings.
    let text = stdout(&khc_in(&["eval", "-", "-p", EX], &repo(), Some(&pod("kube-system"))));
    assert!(!text.contains("pod-security") && text.contains("exempt from Pod Security"), "{text}");
}

/// A chart's output: no namespaces, a cluster-admin RoleBinding, a wide-open
/// NetworkPolicy, a ServiceAccount, a LoadBalancer Service, a webhook.
const CHART: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: chart-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: chart}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-same-namespace}
spec:
  podSelector: {}
  ingress:
  - from: [{podSelector: {}}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: chart}
---
apiVersion: v1
kind: Service
metadata: {name: chart}
spec: {type: LoadBalancer, selector: {app: payments-api}, ports: [{port: 443}]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: chart-injector}
webhooks:
- name: inject.chart.example.com
  clientConfig: {service: {namespace: chart, name: injector}}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
  sideEffects: None
  admissionReviewVersions: [v1]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: Group, name: devs}]
"#;

#[test]
fn eval_judges_rbac_network_policies_service_accounts_services_and_webhooks() {
    let o = khc_in(&["eval", "-", "-p", EX], &repo(), Some(CHART));
    let text = stdout(&o);
    // Without -n: a warning for each namespaced object that names none.
    assert_eq!(text.matches("warn namespace namespace-missing").count(), 4, "{text}");
    let o = khc_in(&["eval", "-", "-p", EX, "-n", "payments"], &repo(), Some(CHART));
    let text = stdout(&o);
    assert!(!text.contains("namespace-missing"), "{text}");
    for want in [
        "warn rbac risky-grant",
        "gives sa:payments/chart the permissions of ClusterRole cluster-admin",
        "every verb on every resource",
        "NetworkPolicy payments/allow-same-namespace opens payments/* ← payments/* on every port",
        "warn service-account token-automount",
        "warn service exposed (tenants/payments.khc:2): type LoadBalancer",
        "warn webhook mutating-webhook",
        "sees and may change CREATE on pods in every namespace",
        // khc's own RoleBinding payments/deployer: its protection refuses the replacement.
        "deny managed-by collision",
    ] {
        assert!(text.contains(want), "missing {want}:\n{text}");
    }
    // The webhook configuration is cluster-scoped: no namespace warning even without -n.
    assert!(text.contains("MutatingWebhookConfiguration/chart-injector cluster-scoped"), "{text}");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn eval_as_checks_that_the_applier_may_create_every_object() {
    let deploy = GOOD.split("---").next().unwrap();
    // payments-devs may create Deployments in payments.
    let o = khc_in(&["eval", "-", "-p", EX, "--as", "group:oidc:payments-devs"], &repo(), Some(deploy));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // …but not RoleBindings, and a stranger may create nothing.
    let o = khc_in(&["eval", "-", "-p", EX, "-n", "payments", "--as", "user:stranger"], &repo(), Some(CHART));
    let text = stdout(&o);
    assert!(
        text.contains("deny rbac as (-): user:stranger may not create rolebindings.rbac.authorization.k8s.io named chart-admin in namespace payments"),
        "{text}"
    );
    assert!(text.contains("may not create mutatingwebhookconfigurations.admissionregistration.k8s.io named chart-injector cluster-wide"), "{text}");
    assert_eq!(khc_in(&["eval", "-", "-p", EX, "--as", "nonsense"], &repo(), Some(deploy)).status.code(), Some(2));
}

#[test]
fn eval_warns_about_host_network_pods_of_workloads_with_allows() {
    let pod = GOOD.split("---").next().unwrap().replace("      serviceAccountName: api\n", "      serviceAccountName: api\n      hostNetwork: true\n");
    let o = khc_in(&["eval", "-", "-p", EX], &repo(), Some(&pod));
    let text = stdout(&o);
    assert!(text.contains("warn network host-network") && text.contains("the `allow` rules of workload api"), "{text}");
}

#[test]
fn blast_radius_and_graph_show_internet_exposure() {
    let dir = temp("internet");
    std::fs::write(
        dir.join("main.khc"),
        "tenant web {\n  pod-security restricted\n  isolation strict\n  workload front { selector { app \"front\" } }\n  allow ingress from cidr 0.0.0.0/0 to workload front ports 443\n}\ncluster c {\n  kubernetes 1.35\n}\n",
    )
    .unwrap();
    let p = dir.to_str().unwrap();
    let text = stdout(&khc(&["blast-radius", "web/front", "-p", p]));
    let reached = text.split("can be reached from").nth(1).unwrap_or_default();
    assert!(reached.contains("the internet (0.0.0.0/0): 443/TCP"), "{text}");
    let v = json(&khc(&["blast-radius", "web/front", "-p", p, "--format", "json"]));
    assert!(v["reached_by"].as_array().unwrap().iter().any(|r| r["endpoint"] == "the internet (0.0.0.0/0)"), "{v}");
    let dot = stdout(&khc(&["graph", "-p", p]));
    assert!(dot.contains("\"the internet (0.0.0.0/0)\" -> \"web/front\""), "{dot}");
    std::fs::remove_dir_all(&dir).ok();
}

/// What `kubectl get networkpolicies,rolebindings -A -o yaml` prints for a cluster
/// with a legacy allow-all-in-namespace policy and a Helm-era `edit` binding.
const LIVE: &str = r#"apiVersion: v1
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: allow-same-namespace, namespace: payments, resourceVersion: "12"}
  spec:
    podSelector: {}
    policyTypes: [Ingress, Egress]
    ingress: [{from: [{podSelector: {}}]}]
    egress: [{to: [{podSelector: {}}]}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: legacy-edit, namespace: payments}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: devs}]
kind: List
metadata: {resourceVersion: ""}
"#;

#[test]
fn questions_answer_over_intent_and_live_objects() {
    let dir = temp("live");
    let live = dir.join("live.yaml");
    std::fs::write(&live, LIVE).unwrap();
    let l = live.to_str().unwrap();
    // Intent alone: denied; with the live policy: allowed, the reason on the live side.
    let o = khc(&["reach", "payments/ledger-db", "payments/api", "--port", "8080", "-p", EX]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let o = khc(&["reach", "payments/ledger-db", "payments/api", "--port", "8080", "-p", EX, "--live", l]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("NetworkPolicy payments/allow-same-namespace (live NetworkPolicy payments/allow-same-namespace)"), "{text}");
    // who-can: the Helm-era binding counts, named as live.
    let text = stdout(&khc(&["who-can", "create", "deployments.apps", "-n", "payments", "-p", EX, "--live", l]));
    assert!(text.contains("group:devs") && text.contains("RoleBinding payments/legacy-edit (live RoleBinding payments/legacy-edit)"), "{text}");
    assert!(text.contains("group:oidc:payments-devs") && text.contains("(tenants/payments.khc:48)"), "the intent's answers stay: {text}");
    // A live hostNetwork pod of payments/api: reach says the answer does not hold for it.
    let pod = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: api-host, namespace: payments, labels: {app: payments-api}}\nspec: {hostNetwork: true, containers: [{name: c, image: x}]}\n";
    std::fs::write(&live, format!("{LIVE}{pod}")).unwrap();
    let text = stdout(&khc(&["reach", "monitoring/prometheus", "payments/api", "--port", "9090", "-p", EX, "--live", l]));
    assert!(text.contains("note: live Pod payments/api-host (receiver payments/api) uses hostNetwork: no NetworkPolicy selects it"), "{text}");
    // From stdin too.
    let o = khc_in(&["can", "group:devs", "create", "deployments.apps", "-n", "payments", "-p", EX, "--live", "-"], &repo(), Some(LIVE));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn audit_live_reports_extras_with_their_effect_and_drift() {
    let gen = repo().join(EX).join("generated/clusters/prod-eu/tenants/payments");
    let read = |p: &str| std::fs::read_to_string(gen.join(p)).unwrap();
    // khc's own objects as the server returns them: the deployer binding unchanged,
    // the payments Namespace relabelled privileged.
    let ns = read("namespace-payments.yaml").replace("pod-security.kubernetes.io/enforce: restricted", "pod-security.kubernetes.io/enforce: privileged");
    let binding = read("namespaces/payments/rolebinding-deployer.yaml");
    let extras = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: legacy-edit}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: devs}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: spy}
webhooks:
- name: spy.example.com
  clientConfig: {url: "https://spy.example.com/"}
  rules: [{apiGroups: ["*"], apiVersions: ["*"], operations: [CREATE, UPDATE], resources: ["*"]}]
  failurePolicy: Ignore
  sideEffects: None
  admissionReviewVersions: [v1]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: system:basic-user}
rules: [{apiGroups: [authorization.k8s.io], resources: [selfsubjectaccessreviews], verbs: [create]}]
"#;
    let dump = format!("{LIVE}---\n{ns}---\n{binding}---\n{extras}");
    let o = khc_in(&["audit-live", "--live", "-", "-p", EX], &repo(), Some(&dump));
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    for want in [
        "extra: NetworkPolicy payments/allow-same-namespace opens payments/* ← payments/* on every port",
        "extra RoleBinding payments/legacy-edit: gives group:devs the permissions of ClusterRole edit",
        "extra ClusterRoleBinding legacy-edit: gives group:devs the permissions of ClusterRole edit (<kubernetes bootstrap policy>) in every namespace",
        "extra ValidatingWebhookConfiguration spy: webhook spy.example.com (https://spy.example.com/) sees CREATE UPDATE on * in every namespace; failurePolicy Ignore; it receives Secret values",
        "pod-security-drift Namespace payments: Pod Security labels are audit=restricted",
        "enforce=privileged",
        "missing Namespace payments-jobs",
        "missing RoleBinding payments/view",
    ] {
        assert!(text.contains(want), "missing {want}:\n{text}");
    }
    // khc's unchanged binding and Kubernetes' own objects are not differences.
    assert!(!text.contains("RoleBinding payments/deployer") && !text.contains("system:basic-user"), "{text}");
    let v = json(&khc_in(&["audit-live", "--live", "-", "-p", EX, "--format", "json"], &repo(), Some(&dump)));
    assert!(v["differences"].as_array().unwrap().iter().all(|d| d["effect"].as_str().is_some_and(|e| !e.is_empty())), "{v}");
    let md = stdout(&khc_in(&["audit-live", "--live", "-", "-p", EX, "--format", "markdown"], &repo(), Some(&dump)));
    assert!(md.contains("| extra | `ClusterRoleBinding legacy-edit` |"), "{md}");
    let sarif = json(&khc_in(&["audit-live", "--live", "-", "-p", EX, "--format", "sarif"], &repo(), Some(&dump)));
    validate_sarif(&sarif);
    // Nothing live but khc's own binding: nothing to report for the kinds dumped… except khc's other RoleBindings.
    let o = khc(&["audit-live", "-p", EX]);
    assert_eq!(o.status.code(), Some(2), "--live is required");
}
