//! Scoped exceptions on real API servers (issue 20, item 2): node-exporter's
//! pod and DaemonSet (hostNetwork, hostPID, hostPort 9100, read-only hostPath
//! `/proc` and `/sys`) are admitted in the namespace whose exception names the
//! workload, and denied there under another ServiceAccount and in the tenant's
//! other namespace — by Pod Security Admission (the other namespace keeps
//! `enforce: restricted`) and by khc's policy (the excepted namespace's label is
//! lowered to `privileged` and khc's CEL enforces `restricted` for every pod the
//! exception does not cover). `khc eval` (the in-process evaluator) gives the
//! same verdicts. A cluster exception lifts cluster rules the same way, for a
//! ServiceAccount in a namespace no tenant declares. On 1.37.2 and 1.30.14.
//!
//! The documented limit, as an attacker meets it (impersonated requests): a
//! tenant user whom the tenant's grants let create pods in the excepted
//! namespace gets a hostPath pod admitted by naming the excepted ServiceAccount
//! (what khc's `exception-scope` warning says), the same user's pod under
//! another ServiceAccount is denied by khc's policy, and a user without
//! pod-create there is refused by RBAC before admission.

use khc_tests::kube::{bin_dirs, version_of, write_output, Cluster, Options, TempDir};
use khc_tests::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn program(minor: &str) -> String {
    format!(
        r#"cluster c {{
  kubernetes {minor}
}}
tenant monitoring {{
  namespaces monitoring node-agents
  workload node-exporter {{ namespace node-agents }}
  workload scraper {{ namespace node-agents }}
  role runner {{ can create on pods }}
  grant runner to group "monitoring-devs"
  admission {{
    no-host-namespaces
    no-host-path
  }}
  exception node-exporter-host {{
    workloads node-exporter
    lifts no-host-namespaces no-host-ports no-host-path no-docker-socket allowed-volume-types
    reason "node-exporter reads the host's /proc and /sys and serves on the host network"
    expires "2099-12-31"
  }}
}}
"#
    )
}

/// node-exporter's pod spec as its Helm chart writes it (restricted in every
/// other respect).
fn spec(service_account: &str) -> Value {
    json!({
        "serviceAccountName": service_account,
        "automountServiceAccountToken": false,
        "hostNetwork": true,
        "hostPID": true,
        "securityContext": { "runAsNonRoot": true, "runAsUser": 65534, "runAsGroup": 65534, "seccompProfile": { "type": "RuntimeDefault" }, "appArmorProfile": { "type": "RuntimeDefault" } },
        "containers": [{
            "name": "node-exporter",
            "image": "quay.io/prometheus/node-exporter:v1.8.2",
            "args": ["--path.procfs=/host/proc", "--path.sysfs=/host/sys"],
            "ports": [{ "name": "metrics", "containerPort": 9100, "hostPort": 9100 }],
            "securityContext": { "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": { "drop": ["ALL"] } },
            "volumeMounts": [
                { "name": "proc", "mountPath": "/host/proc", "readOnly": true },
                { "name": "sys", "mountPath": "/host/sys", "readOnly": true }
            ]
        }],
        "volumes": [
            { "name": "proc", "hostPath": { "path": "/proc" } },
            { "name": "sys", "hostPath": { "path": "/sys" } }
        ]
    })
}

fn pod(namespace: &str, sa: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "node-exporter", "namespace": namespace, "labels": { "app": "node-exporter" } }, "spec": spec(sa) })
}

fn daemonset(namespace: &str, sa: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": { "name": "node-exporter", "namespace": namespace },
        "spec": {
            "selector": { "matchLabels": { "app": "node-exporter" } },
            "template": { "metadata": { "labels": { "app": "node-exporter" } }, "spec": spec(sa) }
        }
    })
}

/// `(object, admitted)`: the verdicts the issue asks for.
fn cases() -> Vec<(&'static str, Value, bool)> {
    vec![
        ("pod node-exporter in node-agents", pod("node-agents", "node-exporter"), true),
        ("daemonset node-exporter in node-agents", daemonset("node-agents", "node-exporter"), true),
        ("pod as scraper in node-agents", pod("node-agents", "scraper"), false),
        ("daemonset as scraper in node-agents", daemonset("node-agents", "scraper"), false),
        ("pod node-exporter in monitoring", pod("monitoring", "node-exporter"), false),
        ("daemonset node-exporter in monitoring", daemonset("monitoring", "node-exporter"), false),
    ]
}

fn path_of(v: &Value) -> String {
    let ns = v["metadata"]["namespace"].as_str().unwrap();
    match v["kind"].as_str().unwrap() {
        "Pod" => format!("/api/v1/namespaces/{ns}/pods?dryRun=All&fieldManager=khc-test"),
        _ => format!("/apis/apps/v1/namespaces/{ns}/daemonsets?dryRun=All&fieldManager=khc-test"),
    }
}

/// What `khc eval` says of `object`: admitted when no finding denies it.
fn eval_admits(ws: &khc_analysis::Workspace, object: &Value) -> (bool, Vec<String>) {
    let text = serde_yaml_ng::to_string(object).unwrap();
    let manifests = khc_analysis::manifest::parse("m.yaml", &text).unwrap();
    let findings = khc_analysis::eval::evaluate_all(ws, &manifests, "default");
    let denials: Vec<String> =
        findings.iter().filter(|f| f.severity == khc_analysis::eval::Severity::Deny).map(|f| format!("{}: {}", f.rule, f.message)).collect();
    (denials.is_empty(), denials)
}

#[test]
fn node_exporter_exception_on_real_api_servers() {
    for bin in bin_dirs("node_exporter_exception_on_real_api_servers") {
        let version = version_of(&bin);
        let minor = version.trim_start_matches('v').split('.').take(2).collect::<Vec<_>>().join(".");
        let source = program(&minor);
        let (out, diags, rendered) = compile_sources(&[("main.khc", &source)]);
        let out = out.unwrap_or_else(|| panic!("{rendered}"));
        assert!(diags.iter().all(|d| d.code != "no-effect"), "{rendered}");
        // khc says the exception is as narrow as the namespace's RBAC, naming who.
        assert!(diags.iter().any(|d| d.code == "exception-scope" && d.message.contains("group monitoring-devs (grant `runner`)")), "{rendered}");
        let tmp = TempDir::new(&format!("exceptions-{version}"));
        std::fs::create_dir_all(tmp.0.join("src")).unwrap();
        std::fs::write(tmp.0.join("src/main.khc"), &source).unwrap();
        let ws = khc_analysis::Workspace::load(&tmp.0.join("src/main.khc")).unwrap_or_else(|e| panic!("{e:?}"));
        write_output(&out, &tmp.0);
        let c = Cluster::start(&bin, Options::default());
        let dir = tmp.0.join("clusters/c/tenants/monitoring");
        c.kubectl_ok(&["apply", "--server-side", "-k", dir.to_str().unwrap()]);
        c.kubectl_ok(&["apply", "--server-side", "-k", dir.join("namespaces/node-agents").to_str().unwrap()]);
        c.kubectl_ok(&["apply", "--server-side", "-k", dir.join("namespaces/monitoring").to_str().unwrap()]);
        // The ServiceAccount admission plugin wants the pod's ServiceAccount to exist.
        c.kubectl_ok(&["create", "serviceaccount", "node-exporter", "-n", "monitoring"]);
        // Wait until the policy judges: the scraper pod is denied by khc's CEL.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = c.request("POST", &path_of(&pod("node-agents", "scraper")), &pod("node-agents", "scraper"));
            if r.status == 403 && r.body["message"].as_str().unwrap_or("").contains("khc rule") {
                break;
            }
            assert!(Instant::now() < deadline, "{version}: the tenant policy never judged: HTTP {} {}", r.status, r.body);
            std::thread::sleep(Duration::from_millis(500));
        }
        for (name, object, admitted) in cases() {
            let r = c.request("POST", &path_of(&object), &object);
            let message = r.body["message"].as_str().unwrap_or("").to_string();
            let server_admits = r.status == 201 || r.status == 200;
            eprintln!("{version} {name}: HTTP {} {message}", r.status);
            assert_eq!(server_admits, admitted, "{version} {name}: HTTP {} {message}", r.status);
            if !admitted {
                assert_eq!(r.status, 403, "{version} {name}: {message}");
            }
            let (eval, denials) = eval_admits(&ws, &object);
            assert_eq!(eval, admitted, "{version} {name}: khc eval says {denials:?}");
            // `khc eval` names the exception where it applies.
            let text = serde_yaml_ng::to_string(&object).unwrap();
            let findings = khc_analysis::eval::evaluate_all(&ws, &khc_analysis::manifest::parse("m.yaml", &text).unwrap(), "default");
            let named = findings.iter().any(|f| f.check == "exception" && f.message.contains("exception `node-exporter-host` lifts"));
            assert_eq!(named, name.contains("node-exporter in node-agents"), "{version} {name}: {findings:#?}");
        }
        // The attacker: a member of `monitoring-devs` (may create pods in the
        // tenant's namespaces) and a stranger, impersonated by the admin.
        let mut attack = pod("node-agents", "node-exporter");
        attack["metadata"]["name"] = json!("not-node-exporter");
        attack["spec"]["containers"][0]["image"] = json!("registry.example.com/attacker/tools:1.0");
        let as_dev = |object: &Value| c.request_impersonating("alice", &["monitoring-devs"], "POST", &path_of(object), object);
        let r = as_dev(&attack);
        eprintln!("{version} alice, hostPath pod as node-exporter: HTTP {} {}", r.status, r.body["message"]);
        assert!(r.status == 201 || r.status == 200, "{version}: the documented limit changed (update SPEC and the warning): HTTP {} {}", r.status, r.body);
        let mut other = attack.clone();
        other["spec"]["serviceAccountName"] = json!("scraper");
        let r = as_dev(&other);
        let message = r.body["message"].as_str().unwrap_or("").to_string();
        eprintln!("{version} alice, hostPath pod as scraper: HTTP {} {message}", r.status);
        assert_eq!(r.status, 403, "{version}: {message}");
        assert!(message.contains("khc rule"), "{version}: denied by khc's policy, not RBAC: {message}");
        let r = c.request_impersonating("mallory", &[], "POST", &path_of(&attack), &attack);
        let message = r.body["message"].as_str().unwrap_or("").to_string();
        eprintln!("{version} mallory, hostPath pod as node-exporter: HTTP {} {message}", r.status);
        assert_eq!(r.status, 403, "{version}: {message}");
        assert!(message.contains("cannot create resource \"pods\""), "{version}: refused by RBAC: {message}");
        // The same three answers from khc's evaluators: RBAC says who may create
        // pods there, admission what it admits.
        let rbac = khc_analysis::rbac::Rbac::new(&khc_analysis::objects(&out));
        let create = khc_analysis::rbac::Request::new("create", "pods", Some("node-agents"), None);
        assert!(rbac.can(&khc_analysis::rbac::Subject::group("monitoring-devs"), &create));
        assert!(!rbac.can(&khc_analysis::rbac::Subject::user("mallory"), &create));
        assert!(eval_admits(&ws, &attack).0 && !eval_admits(&ws, &other).0, "{version}");
    }
}

/// A cluster exception (SPEC section 5, "Cluster exceptions"): the cluster's
/// `no-host-namespaces` and `no-host-path` lifted for ServiceAccount
/// `agents/node-exporter` in a namespace no tenant declares.
fn cluster_program(minor: &str) -> String {
    format!(
        r#"cluster c {{
  kubernetes {minor}
  pod-security {{
    enforce privileged
  }}
  admission {{
    no-host-namespaces
    no-host-path
  }}
  exception node-agents {{
    workloads "agents/node-exporter"
    lifts no-host-namespaces no-host-path
    reason "node-exporter reads the host's /proc and /sys and serves on the host network"
    expires "2099-12-31"
  }}
}}
"#
    )
}

/// The cluster policy with a cluster exception on both real API servers:
/// node-exporter's Pod and DaemonSet are admitted in `agents` under their
/// ServiceAccount and denied (403, by khc's cluster policy) there under another
/// one and in another namespace; `khc eval` agrees. The namespaces are
/// labelled `privileged` (and the cluster's Pod Security default, which `khc
/// eval` reads for unlabelled namespaces, is `privileged`) so that only khc's
/// policy judges.
#[test]
fn cluster_exception_on_real_api_servers() {
    for bin in bin_dirs("cluster_exception_on_real_api_servers") {
        let version = version_of(&bin);
        let minor = version.trim_start_matches('v').split('.').take(2).collect::<Vec<_>>().join(".");
        let source = cluster_program(&minor);
        let (out, _, rendered) = compile_sources(&[("main.khc", &source)]);
        let out = out.unwrap_or_else(|| panic!("{rendered}"));
        let tmp = TempDir::new(&format!("cluster-exceptions-{version}"));
        std::fs::create_dir_all(tmp.0.join("src")).unwrap();
        std::fs::write(tmp.0.join("src/main.khc"), &source).unwrap();
        let ws = khc_analysis::Workspace::load(&tmp.0.join("src/main.khc")).unwrap_or_else(|e| panic!("{e:?}"));
        write_output(&out, &tmp.0);
        let c = Cluster::start(&bin, Options::default());
        c.kubectl_ok(&["apply", "--server-side", "-k", tmp.0.join("clusters/c/cluster").to_str().unwrap()]);
        for ns in ["agents", "apps"] {
            c.kubectl_ok(&["create", "namespace", ns]);
            c.kubectl_ok(&["label", "namespace", ns, "pod-security.kubernetes.io/enforce=privileged"]);
            for sa in ["node-exporter", "scraper"] {
                c.kubectl_ok(&["create", "serviceaccount", sa, "-n", ns]);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = c.request("POST", &path_of(&pod("apps", "node-exporter")), &pod("apps", "node-exporter"));
            if r.status == 403 && r.body["message"].as_str().unwrap_or("").contains("khc rule") {
                break;
            }
            assert!(Instant::now() < deadline, "{version}: the cluster policy never judged: HTTP {} {}", r.status, r.body);
            std::thread::sleep(Duration::from_millis(500));
        }
        let cases = [
            ("pod node-exporter in agents", pod("agents", "node-exporter"), true),
            ("daemonset node-exporter in agents", daemonset("agents", "node-exporter"), true),
            ("pod as scraper in agents", pod("agents", "scraper"), false),
            ("daemonset as scraper in agents", daemonset("agents", "scraper"), false),
            ("pod node-exporter in apps", pod("apps", "node-exporter"), false),
            ("daemonset node-exporter in apps", daemonset("apps", "node-exporter"), false),
        ];
        for (name, object, admitted) in cases {
            let r = c.request("POST", &path_of(&object), &object);
            let message = r.body["message"].as_str().unwrap_or("").to_string();
            eprintln!("{version} {name}: HTTP {} {message}", r.status);
            assert_eq!(r.status == 201 || r.status == 200, admitted, "{version} {name}: HTTP {} {message}", r.status);
            if !admitted {
                assert_eq!(r.status, 403, "{version} {name}: {message}");
                assert!(message.contains("khc-cluster"), "{version} {name}: {message}");
            }
            let (eval, denials) = eval_admits(&ws, &object);
            assert_eq!(eval, admitted, "{version} {name}: khc eval says {denials:?}");
        }
    }
}
