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
    for cmd in ["who-can", "can", "reach", "blast-radius", "eval", "diff", "graph", "report", "check", "build"] {
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
    assert_eq!(reached_by, ["monitoring/prometheus"]);
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
    // Render it with headless Chromium, when there is one, to prove it opens.
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()));
    match chromium {
        None => eprintln!("SKIPPED rendering the graph page: no chromium"),
        Some(c) => {
            let png = dir.join("posture.png");
            let o = Command::new(c)
                .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,900"])
                .arg(format!("--screenshot={}", png.display()))
                .arg(format!("file://{}", page.display()))
                .output()
                .unwrap();
            assert!(png.exists() && std::fs::metadata(&png).unwrap().len() > 10_000, "chromium rendered nothing: {}", String::from_utf8_lossy(&o.stderr));
        }
    }
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
