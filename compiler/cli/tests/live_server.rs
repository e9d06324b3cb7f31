//! `khc audit-live --kubeconfig`, `khc can --kubeconfig` and `khc eval` against a
//! real API server (issue 18): the example's tree is applied, hostile extras are
//! applied as other identities; `audit-live` reports every extra with its effect
//! and nothing else; a `bind` escalation and a ServiceAccount-token escalation that
//! `can` reports are executed step by step as the impersonated subject and give the
//! permission, and a "no" fails; `eval` verdicts on a `kind: List` equal the
//! server's `--dry-run=server` answers. Needs `KHC_KUBE_BIN_DIRS` (see README,
//! "Real API server tests"); prints SKIPPED without it.

#[path = "live_server/chains.rs"]
mod chains;

use khc_tests::kube::{bin_dirs, Cluster, Options, TempDir};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn khc(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_khc"))
        .args(args)
        .current_dir(repo())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let o = child.wait_with_output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

const EX: &str = "examples/multi-tenant";

/// The hostile extras, each applied as another identity.
fn extras() -> Vec<(&'static str, Value)> {
    let rbac = "rbac.authorization.k8s.io";
    vec![
        (
            "helm",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "legacy-edit", "namespace": "payments"},
                   "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "edit"}, "subjects": [{"apiGroup": rbac, "kind": "Group", "name": "devs"}]}),
        ),
        (
            "tenant-admin",
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "allow-all", "namespace": "payments"},
                   "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}}),
        ),
        (
            "ops",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "legacy-edit"},
                   "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "edit"}, "subjects": [{"apiGroup": rbac, "kind": "Group", "name": "devs"}]}),
        ),
        (
            "vendor",
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "spy"},
                   "webhooks": [{"name": "spy.example.com", "clientConfig": {"url": "https://spy.example.com/"},
                                 "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}],
                                 "failurePolicy": "Ignore", "sideEffects": "None", "admissionReviewVersions": ["v1"]}]}),
        ),
        // Escalation material: bob may bind any ClusterRole and create RoleBindings; dave may mint tokens in payments.
        (
            "ops",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "binder"},
                   "rules": [{"apiGroups": [rbac], "resources": ["clusterroles"], "verbs": ["bind"]},
                             {"apiGroups": [rbac], "resources": ["rolebindings"], "verbs": ["create"]}]}),
        ),
        (
            "ops",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "binder"},
                   "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "binder"}, "subjects": [{"apiGroup": rbac, "kind": "User", "name": "bob"}]}),
        ),
        (
            "helm",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "minter", "namespace": "monitoring"},
                   "rules": [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}]}),
        ),
        (
            "helm",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "minter", "namespace": "monitoring"},
                   "roleRef": {"apiGroup": rbac, "kind": "Role", "name": "minter"}, "subjects": [{"apiGroup": rbac, "kind": "User", "name": "dave"}]}),
        ),
    ]
}

fn apply_as(c: &Cluster, who: &str, obj: &Value) {
    // system:masters is the break-glass group the managed-by protection lets through.
    let o = c.kubectl_stdin(&["--as", who, "--as-group", "system:masters", "apply", "-f", "-"], &obj.to_string());
    assert!(o.status.success(), "{who}: {}", String::from_utf8_lossy(&o.stderr));
}

fn can_i(c: &Cluster, as_user: &str, args: &[&str]) -> bool {
    let mut a = vec!["auth", "can-i"];
    a.extend_from_slice(args);
    a.extend(["--as", as_user]);
    c.kubectl(&a).status.success()
}

#[test]
fn live_answers_on_a_real_api_server() {
    for bin in bin_dirs("live_answers_on_a_real_api_server") {
        live_answers_on(&bin);
    }
}

/// Copies the example (not its golden tree) into `dir`, its `kubernetes` line
/// lowered to the server's minor when the server is older (as
/// `tests/kube_server.rs` does), so every object is one that server knows.
fn example_for(dir: &Path, version: &str) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                if e.file_name() != "generated" {
                    copy(&p, &to.join(e.file_name()));
                }
            } else {
                std::fs::copy(&p, to.join(e.file_name())).unwrap();
            }
        }
    }
    let src = dir.join("src");
    copy(&repo().join(EX), &src);
    let cluster = std::fs::read_to_string(src.join("cluster.khc")).unwrap();
    let server_minor: u32 = version.trim_start_matches("v1.").split('.').next().unwrap().parse().unwrap();
    let line = cluster.lines().find(|l| l.trim_start().starts_with("kubernetes ")).expect("the example states `kubernetes`").to_string();
    let minor: u32 = line.trim().trim_start_matches("kubernetes 1.").parse().unwrap();
    if server_minor < minor {
        std::fs::write(src.join("cluster.khc"), cluster.replace(&line, &format!("  kubernetes 1.{server_minor}"))).unwrap();
    }
    src
}

fn live_answers_on(bin: &Path) {
    let version = khc_tests::kube::version_of(bin);
    eprintln!("== {version}");
    let tmp = TempDir::new(&format!("live-{version}"));
    let src = example_for(&tmp.0, &version);
    let ex = src.to_str().unwrap().to_string();
    let out = tmp.0.join("out");
    let (code, _, err) = khc(&["build", &ex, "-o", out.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let c = Cluster::start(bin, Options { token_and_csr_controllers: true, ..Default::default() });
    let tree = out.join("clusters/prod-eu");
    let o = c.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager=khc",
        "-R",
        "-f",
        tree.join("cluster").to_str().unwrap(),
        "-R",
        "-f",
        tree.join("tenants").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let kubeconfig = c.kubeconfig.to_str().unwrap().to_string();

    // Nothing but khc's tree: no difference at all.
    let (code, text, err) = khc(&["audit-live", "--kubeconfig", &kubeconfig, "-p", &ex], None);
    assert_eq!(code, 0, "the applied tree is khc's intent:\n{text}{err}");

    for (who, obj) in extras() {
        apply_as(&c, who, &obj);
    }
    // A Pod Security label changed by the break-glass group (the protection lets it through).
    c.kubectl_ok(&[
        "--as",
        "oncall",
        "--as-group",
        "system:masters",
        "label",
        "namespace",
        "legacy-billing",
        "pod-security.kubernetes.io/warn=baseline",
        "--overwrite",
    ]);

    let (code, text, err) = khc(&["audit-live", "--kubeconfig", &kubeconfig, "-p", &ex, "--format", "json"], None);
    assert_eq!(code, 1, "{text}{err}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut got: Vec<String> =
        v["differences"].as_array().unwrap().iter().map(|d| format!("{} {}", d["category"].as_str().unwrap(), d["object"].as_str().unwrap())).collect();
    got.sort();
    let mut want = vec![
        "extra RoleBinding payments/legacy-edit",
        "extra NetworkPolicy payments/allow-all",
        "extra ClusterRoleBinding legacy-edit",
        "extra ValidatingWebhookConfiguration spy",
        "extra ClusterRole binder",
        "extra ClusterRoleBinding binder",
        "extra Role monitoring/minter",
        "extra RoleBinding monitoring/minter",
        "pod-security-drift Namespace legacy-billing",
    ];
    want.sort();
    assert_eq!(got, want, "every extra and nothing else:\n{text}");
    for d in v["differences"].as_array().unwrap() {
        assert!(!d["effect"].as_str().unwrap().is_empty(), "{d}");
    }
    let effects = text.clone();
    assert!(effects.contains("opens payments/* ← anywhere on every port"), "{effects}");
    assert!(effects.contains("gives group:devs the permissions of ClusterRole edit"), "{effects}");

    // bind: khc says bob may get secrets in payments by binding a ClusterRole; do it as bob.
    let (code, text, _) = khc(&["can", "user:bob", "get", "secrets", "-n", "payments", "-p", &ex, "--kubeconfig", &kubeconfig], None);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("bind ClusterRole admin to itself in namespace payments") && text.contains("live ClusterRoleBinding binder"), "{text}");
    assert!(!can_i(&c, "bob", &["get", "secrets", "-n", "payments"]), "bob cannot yet");
    let o = c.kubectl(&["--as", "bob", "create", "rolebinding", "bob-admin", "--clusterrole=admin", "--user=bob", "-n", "payments"]);
    assert!(o.status.success(), "step 1 as bob: {}", String::from_utf8_lossy(&o.stderr));
    assert!(can_i(&c, "bob", &["get", "secrets", "-n", "payments"]), "the chain gives bob the permission");

    // A ServiceAccount token: dave mints prometheus's token and acts with it.
    let (code, text, _) = khc(&["can", "user:dave", "list", "pods", "-n", "monitoring", "-p", &ex, "--kubeconfig", &kubeconfig], None);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("create a token for sa:monitoring/prometheus"), "{text}");
    let token = c.kubectl_ok(&["--as", "dave", "create", "token", "prometheus", "-n", "monitoring"]);
    let o = c.kubectl(&["--token", token.trim(), "auth", "can-i", "list", "pods", "-n", "monitoring"]);
    assert!(o.status.success(), "the token lists pods: {}", String::from_utf8_lossy(&o.stdout));

    // A "no": erin has nothing; the first step of any chain fails.
    let (code, text, _) = khc(&["can", "user:erin", "get", "secrets", "-n", "payments", "-p", &ex, "--kubeconfig", &kubeconfig], None);
    assert_eq!(code, 1, "{text}");
    assert!(!c.kubectl(&["--as", "erin", "create", "rolebinding", "erin-admin", "--clusterrole=admin", "--user=erin", "-n", "payments"]).status.success());
    assert!(!c.kubectl(&["--as", "erin", "create", "token", "prometheus", "-n", "monitoring"]).status.success());

    // eval's verdicts on a `kind: List` equal the server's admission (dry run).
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "payments"},
         "spec": {"selector": {"matchLabels": {"app": "payments-api"}}, "template": {"metadata": {"labels": {"app": "payments-api"}}, "spec": {
            "serviceAccountName": "api", "automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}, "appArmorProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "api", "image": "registry.example.com/payments/api:1.2.3",
               "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
               "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}}]}}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug", "namespace": "payments", "labels": {"app": "payments-api"}},
         "spec": {"serviceAccountName": "api", "hostNetwork": true, "containers": [{"name": "sh", "image": "registry.example.com/payments/sh:1", "securityContext": {"privileged": true}}]}},
        {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "tpl", "namespace": "payments"},
         "template": {"metadata": {"labels": {"app": "payments-api"}}, "spec": {"containers": [{"name": "c", "image": "docker.io/library/busybox:latest"}]}}}
    ]});
    let dump = serde_yaml_ng::to_string(&list).unwrap();
    let (_, text, err) = khc(&["eval", "-", "-p", &ex, "--format", "json"], Some(&dump));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}{err}"));
    for (i, item) in list["items"].as_array().unwrap().iter().enumerate() {
        let khc_denies = v["findings"].as_array().unwrap().iter().any(|f| f["index"] == i && f["severity"] == "deny");
        let o = c.kubectl_stdin(&["apply", "--dry-run=server", "-f", "-"], &item.to_string());
        assert_eq!(khc_denies, !o.status.success(), "item {i} ({}): khc {khc_denies}, server: {}", item["kind"], String::from_utf8_lossy(&o.stderr));
    }

    // Every kind of chain, executed step by step as the subject; then the same on
    // generated programs, on the same server.
    chains::every_kind_of_chain(&c, &ex, &kubeconfig);
    let minor: u32 = version.trim_start_matches("v1.").split('.').next().unwrap().parse().unwrap();
    chains::on_generated_programs(&c, &tmp.0, minor);
}
