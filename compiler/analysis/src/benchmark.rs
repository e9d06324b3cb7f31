//! `khc report --benchmark cis-1.12`: the CIS Kubernetes Benchmark 1.12 checks of
//! the control plane (kube-bench's `master` and `controlplane` targets, and the
//! kubelet checks the drop-in decides), judged from the **generated files** —
//! `kube-apiserver-flags`, `kube-controller-manager-flags`, `kube-scheduler-flags`,
//! `encryption-config.yaml`, `kubelet-config.conf` — the way kube-bench's own tests
//! judge a running component's command line (`cfg/cis-1.12`: a test passes, else a
//! scored check FAILs and an unscored one WARNs; a manual check always WARNs).
//!
//! A check khc's files do not decide is `not khc's`: set by the cluster installer
//! (certificates, authorization mode, etcd), or about files on the nodes.
//! `tests/kube_server.rs` runs kube-bench itself on a control plane started with
//! these files and asserts the same verdict for every check khc owns.

use khc_semantics::model::{Anonymous, Model, Origin};
use serde::Serialize;
use std::collections::BTreeMap;

/// The benchmarks `khc report --benchmark` knows.
pub const BENCHMARKS: &[&str] = &["cis-1.12"];

/// A check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// The generated files satisfy the check.
    #[serde(rename = "PASS")]
    Pass,
    /// A scored check the generated files fail.
    #[serde(rename = "FAIL")]
    Fail,
    /// An unscored (or manual) check the files do not satisfy as the scanner reads it.
    #[serde(rename = "WARN")]
    Warn,
    /// Not decided by khc's files: the installer's flags, or files on the nodes.
    #[serde(rename = "not khc's")]
    NotKhcs,
}

impl Verdict {
    /// `PASS`, `FAIL`, `WARN`, `not khc's` (kube-bench's words for the first three).
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Warn => "WARN",
            Verdict::NotKhcs => "not khc's",
        }
    }
}

/// One check of the benchmark for one cluster.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// The cluster (output folder `clusters/NAME`).
    pub cluster: String,
    /// The benchmark's id (`1.2.5`).
    pub id: &'static str,
    /// The benchmark's text.
    pub text: &'static str,
    /// Whether the benchmark scores it (a failing scored check is FAIL, else WARN).
    pub scored: bool,
    /// The verdict.
    pub verdict: Verdict,
    /// What decides it: the generated file and flag or key, or who owns it.
    pub evidence: String,
    /// The source statement (`FILE:LINE`) behind the setting, when khc sets it.
    pub source: Option<String>,
    /// Why the verdict differs from what the setting means, or what to do.
    pub note: Option<String>,
}

/// What a check reads.
enum Test {
    /// Set by the cluster installer (certificates, authorization, etcd).
    Installer(&'static str),
    /// Files on the nodes (permissions, ownership).
    NodeFiles,
    /// A manual check khc's files address: kube-bench always WARNs.
    Manual(&'static str, &'static str),
    /// A flag of one of the flags files.
    Flag(Component, &'static str, Op),
    /// The first encryption provider (1.2.28).
    Providers,
    /// A key of the kubelet drop-in.
    Kubelet(&'static str, Op),
}

#[derive(Clone, Copy)]
enum Component {
    ApiServer,
    ControllerManager,
    Scheduler,
}

#[derive(Clone, Copy)]
enum Op {
    Set,
    Eq(&'static str),
    Has(&'static str),
    /// Unset, or set without the value.
    NotHasOrUnset(&'static str),
    Gte(u64),
    ValidElements(&'static [&'static str]),
}

const STRONG_CIPHERS: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

const INSTALLER_CERTS: &str = "the installer (kubeadm) generates the certificates and keys and sets their flags";
const INSTALLER_AUTHZ: &str = "the installer sets --authorization-mode (kubeadm: Node,RBAC)";
const INSTALLER_DEFAULT: &str = "khc does not set it; the server's default passes unless the installer changes it";

/// The checks of CIS 1.12 that kube-bench runs for the control plane (`master`,
/// `controlplane`), plus the kubelet checks of `node` the drop-in decides:
/// id, text, scored, test.
fn checks() -> Vec<(&'static str, &'static str, bool, Test)> {
    use Component::*;
    use Op::*;
    use Test::*;
    vec![
        ("1.1", "Control plane node configuration files (permissions and ownership, 1.1.1–1.1.21)", true, NodeFiles),
        ("1.2.1", "Ensure that the --anonymous-auth argument is set to false (Manual)", false, Flag(ApiServer, "--anonymous-auth", Eq("false"))),
        ("1.2.2", "Ensure that the --token-auth-file parameter is not set (Automated)", true, Installer(INSTALLER_DEFAULT)),
        ("1.2.3", "Ensure that the --DenyServiceExternalIPs is set (Manual)", false, Flag(ApiServer, "--enable-admission-plugins", Has("DenyServiceExternalIPs"))),
        (
            "1.2.4",
            "Ensure that the --kubelet-client-certificate and --kubelet-client-key arguments are set as appropriate (Automated)",
            true,
            Installer(INSTALLER_CERTS),
        ),
        (
            "1.2.5",
            "Ensure that the --kubelet-certificate-authority argument is set as appropriate (Automated)",
            true,
            Flag(ApiServer, "--kubelet-certificate-authority", Set),
        ),
        ("1.2.6", "Ensure that the --authorization-mode argument is not set to AlwaysAllow (Automated)", true, Installer(INSTALLER_AUTHZ)),
        ("1.2.7", "Ensure that the --authorization-mode argument includes Node (Automated)", true, Installer(INSTALLER_AUTHZ)),
        ("1.2.8", "Ensure that the --authorization-mode argument includes RBAC (Automated)", true, Installer(INSTALLER_AUTHZ)),
        ("1.2.9", "Ensure that the admission control plugin EventRateLimit is set (Manual)", false, Flag(ApiServer, "--enable-admission-plugins", Has("EventRateLimit"))),
        (
            "1.2.10",
            "Ensure that the admission control plugin AlwaysAdmit is not set (Automated)",
            true,
            Flag(ApiServer, "--enable-admission-plugins", NotHasOrUnset("AlwaysAdmit")),
        ),
        (
            "1.2.11",
            "Ensure that the admission control plugin AlwaysPullImages is set (Manual)",
            false,
            Flag(ApiServer, "--enable-admission-plugins", Has("AlwaysPullImages")),
        ),
        ("1.2.12", "Ensure that the admission control plugin ServiceAccount is set (Automated)", true, Installer(INSTALLER_DEFAULT)),
        ("1.2.13", "Ensure that the admission control plugin NamespaceLifecycle is set (Automated)", true, Installer(INSTALLER_DEFAULT)),
        ("1.2.14", "Ensure that the admission control plugin NodeRestriction is set (Automated)", true, Flag(ApiServer, "--enable-admission-plugins", Has("NodeRestriction"))),
        ("1.2.15", "Ensure that the --profiling argument is set to false (Automated)", true, Flag(ApiServer, "--profiling", Eq("false"))),
        ("1.2.16", "Ensure that the --audit-log-path argument is set (Automated)", true, Flag(ApiServer, "--audit-log-path", Set)),
        ("1.2.17", "Ensure that the --audit-log-maxage argument is set to 30 or as appropriate (Automated)", true, Flag(ApiServer, "--audit-log-maxage", Gte(30))),
        ("1.2.18", "Ensure that the --audit-log-maxbackup argument is set to 10 or as appropriate (Automated)", true, Flag(ApiServer, "--audit-log-maxbackup", Gte(10))),
        ("1.2.19", "Ensure that the --audit-log-maxsize argument is set to 100 or as appropriate (Automated)", true, Flag(ApiServer, "--audit-log-maxsize", Gte(100))),
        ("1.2.20", "Ensure that the --request-timeout argument is set as appropriate (Manual)", false, Installer("a manual check of the server's default (60s); khc does not change it")),
        ("1.2.21", "Ensure that the --service-account-lookup argument is set to true (Automated)", true, Installer(INSTALLER_DEFAULT)),
        ("1.2.22", "Ensure that the --service-account-key-file argument is set as appropriate (Automated)", true, Installer(INSTALLER_CERTS)),
        ("1.2.23", "Ensure that the --etcd-certfile and --etcd-keyfile arguments are set as appropriate (Automated)", true, Installer(INSTALLER_CERTS)),
        ("1.2.24", "Ensure that the --tls-cert-file and --tls-private-key-file arguments are set as appropriate (Automated)", true, Installer(INSTALLER_CERTS)),
        ("1.2.25", "Ensure that the --client-ca-file argument is set as appropriate (Automated)", true, Installer(INSTALLER_CERTS)),
        ("1.2.26", "Ensure that the --etcd-cafile argument is set as appropriate (Automated)", true, Installer(INSTALLER_CERTS)),
        ("1.2.27", "Ensure that the --encryption-provider-config argument is set as appropriate (Manual)", false, Flag(ApiServer, "--encryption-provider-config", Set)),
        ("1.2.28", "Ensure that encryption providers are appropriately configured (Manual)", false, Providers),
        (
            "1.2.29",
            "Ensure that the API Server only makes use of Strong Cryptographic Ciphers (Manual)",
            false,
            Flag(ApiServer, "--tls-cipher-suites", ValidElements(STRONG_CIPHERS)),
        ),
        (
            "1.2.30",
            "Ensure that the --service-account-extend-token-expiration parameter is set to false (Automated)",
            true,
            Flag(ApiServer, "--service-account-extend-token-expiration", Eq("false")),
        ),
        ("1.3.1", "Ensure that the --terminated-pod-gc-threshold argument is set as appropriate (Manual)", false, Flag(ControllerManager, "--terminated-pod-gc-threshold", Set)),
        ("1.3.2", "Ensure that the --profiling argument is set to false (Automated)", true, Flag(ControllerManager, "--profiling", Eq("false"))),
        (
            "1.3.3",
            "Ensure that the --use-service-account-credentials argument is set to true (Automated)",
            true,
            Flag(ControllerManager, "--use-service-account-credentials", Eq("true")),
        ),
        ("1.3.4", "Ensure that the --service-account-private-key-file argument is set as appropriate (Automated)", true, Installer(INSTALLER_CERTS)),
        ("1.3.5", "Ensure that the --root-ca-file argument is set as appropriate (Automated)", true, Installer(INSTALLER_CERTS)),
        ("1.3.6", "Ensure that the RotateKubeletServerCertificate argument is set to true (Automated)", true, Installer(INSTALLER_DEFAULT)),
        ("1.3.7", "Ensure that the --bind-address argument is set to 127.0.0.1 (Automated)", true, Flag(ControllerManager, "--bind-address", Eq("127.0.0.1"))),
        ("1.4.1", "Ensure that the --profiling argument is set to false (Automated)", true, Flag(Scheduler, "--profiling", Eq("false"))),
        ("1.4.2", "Ensure that the --bind-address argument is set to 127.0.0.1 (Automated)", true, Flag(Scheduler, "--bind-address", Eq("127.0.0.1"))),
        ("3.1.1", "Client certificate authentication should not be used for users (Manual)", false, Installer("a manual review of how people sign in (khc's `oidc` issuers are the alternative)")),
        ("3.1.2", "Service account token authentication should not be used for users (Manual)", false, Installer("a manual review of how people sign in")),
        ("3.1.3", "Bootstrap token authentication should not be used for users (Manual)", false, Installer("a manual review of how people sign in")),
        ("3.2.1", "Ensure that a minimal audit policy is created (Manual)", false, Flag(ApiServer, "--audit-policy-file", Set)),
        (
            "3.2.2",
            "Ensure that the audit policy covers key security concerns (Manual)",
            false,
            Manual(
                "audit-policy.yaml",
                "a manual check (kube-bench always WARNs): khc's policy logs Secrets, ConfigMaps and token requests as metadata only, and RBAC and admission changes, exec, attach, port-forward and ephemeral containers with their bodies",
            ),
        ),
        ("4.2.1", "Ensure that the --anonymous-auth argument is set to false (Automated)", true, Kubelet("authentication.anonymous.enabled", Eq("false"))),
        ("4.2.2", "Ensure that the --authorization-mode argument is not set to AlwaysAllow (Automated)", true, Kubelet("authorization.mode", Eq("Webhook"))),
        ("4.2.4", "Verify that if defined, the --read-only-port argument is set to 0 (Manual)", false, Kubelet("readOnlyPort", Eq("0"))),
        ("4.2.6", "Ensure that the --make-iptables-util-chains argument is set to true (Automated)", true, Kubelet("makeIPTablesUtilChains", Eq("true"))),
        ("4.2.10", "Ensure that the --rotate-certificates argument is not set to false (Automated)", true, Kubelet("rotateCertificates", Eq("true"))),
        ("4.2.12", "Ensure that the Kubelet only makes use of Strong Cryptographic Ciphers (Manual)", false, Kubelet("tlsCipherSuites", ValidElements(STRONG_CIPHERS))),
        ("4.2.13", "Ensure that a limit is set on pod PIDs (Manual)", false, Kubelet("podPidsLimit", Set)),
        ("4.2.14", "Ensure that the --seccomp-default parameter is set to true (Manual)", false, Kubelet("seccompDefault", Eq("true"))),
    ]
}

/// The flags of a flags file: `--name` → value (one flag a line, `#` comments).
pub fn parse_flags(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("--"))
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), "true".to_string()),
        })
        .collect()
}

/// The first encryption provider as kube-bench's 1.2.28 audit reads it: the
/// letters of the line after the first `providers:`.
pub fn first_provider(encryption_config: &str) -> Option<String> {
    let mut lines = encryption_config.lines();
    lines.by_ref().find(|l| l.contains("providers:"))?;
    let next = lines.next()?;
    let word: String = next.chars().skip_while(|c| !c.is_ascii_alphabetic()).take_while(|c| c.is_ascii_alphabetic()).collect();
    (!word.is_empty()).then_some(word)
}

fn judge(op: Op, value: Option<&str>) -> bool {
    match (op, value) {
        (Op::NotHasOrUnset(_), None) => true,
        (_, None) => false,
        (Op::Set, Some(_)) => true,
        (Op::Eq(x), Some(v)) => v == x,
        (Op::Has(x), Some(v)) => v.split(',').any(|p| p == x),
        (Op::NotHasOrUnset(x), Some(v)) => !v.split(',').any(|p| p == x),
        (Op::Gte(n), Some(v)) => v.parse::<u64>().is_ok_and(|v| v >= n),
        (Op::ValidElements(list), Some(v)) => v.split(',').all(|p| list.contains(&p)),
    }
}

/// A value of the kubelet drop-in at a dotted path, as its text.
fn kubelet_value(config: &serde_json::Value, path: &str) -> Option<String> {
    let mut v = config;
    for k in path.split('.') {
        v = v.get(k)?;
    }
    Some(match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a.iter().map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string)).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    })
}

/// The benchmark's checks for every cluster of the workspace, judged from the
/// files khc generates for it.
pub fn cis_1_12(models: &[Model]) -> Vec<Check> {
    models.iter().flat_map(cis_1_12_cluster).collect()
}

fn cis_1_12_cluster(model: &Model) -> Vec<Check> {
    let c = &model.cluster;
    let cp = &c.control_plane;
    let files = khc_emit::emit_control_plane(model);
    let file = |name: &str| files.iter().find(|f| f.path.ends_with(&format!("/control-plane/{name}"))).map(|f| f.contents.as_str());
    use khc_emit::control_plane as k;
    let api = parse_flags(file(k::FLAGS).unwrap_or(""));
    let kcm = parse_flags(file(k::CONTROLLER_MANAGER_FLAGS).unwrap_or(""));
    let sched = parse_flags(file(k::SCHEDULER_FLAGS).unwrap_or(""));
    let kubelet: serde_json::Value = file(k::KUBELET_CONFIG).and_then(|t| serde_yaml_ng::from_str(t).ok()).unwrap_or_default();
    let at = |o: &Origin| Some(o.to_string());
    let mut out = Vec::new();
    for (id, text, scored, test) in checks() {
        let fail = if scored { Verdict::Fail } else { Verdict::Warn };
        let mut note = None;
        let (verdict, evidence, source) = match test {
            Test::Installer(why) => (Verdict::NotKhcs, format!("installer: {why}"), None),
            Test::NodeFiles => (Verdict::NotKhcs, "node files: permissions and ownership of files khc does not write".to_string(), None),
            Test::Manual(file, why) => {
                note = Some(why.to_string());
                (Verdict::Warn, file.to_string(), at(&cp.audit.origin))
            }
            Test::Flag(component, flag, op) => {
                let (flags, file) = match component {
                    Component::ApiServer => (&api, k::FLAGS),
                    Component::ControllerManager => (&kcm, k::CONTROLLER_MANAGER_FLAGS),
                    Component::Scheduler => (&sched, k::SCHEDULER_FLAGS),
                };
                let value = flags.get(flag).map(String::as_str);
                let verdict = if judge(op, value) { Verdict::Pass } else { fail };
                let evidence = match value {
                    Some(v) => format!("{file}: {flag}={v}"),
                    None => format!("{file}: no {flag}"),
                };
                let source = match flag {
                    "--audit-log-path" | "--audit-log-maxage" | "--audit-log-maxbackup" | "--audit-log-maxsize" | "--audit-policy-file" => at(&cp.audit.origin),
                    "--anonymous-auth" => at(&cp.authentication.origin),
                    "--kubelet-certificate-authority" => cp.kubelet_ca.as_ref().map(|f| f.origin.to_string()),
                    "--encryption-provider-config" => c.encryption.as_ref().map(|e| e.origin.to_string()),
                    _ => at(&c.origin),
                };
                note = match (id, verdict) {
                    ("1.2.1", Verdict::Warn) if cp.authentication.anonymous == Anonymous::HealthOnly => Some(
                        "the scanner reads only the flag; khc limits anonymous requests to /healthz, /livez and /readyz in authentication-config.yaml (the server refuses --anonymous-auth together with that file's `anonymous`); write `anonymous off` for the flag"
                            .to_string(),
                    ),
                    ("1.2.1", Verdict::Warn) => Some("write `authentication { anonymous off }`".to_string()),
                    ("1.2.5", Verdict::Fail) => Some(
                        "state `kubelet-certificate-authority \"PATH\"` in the cluster (the CA that signs the kubelets' serving certificates), or let the installer set the flag"
                            .to_string(),
                    ),
                    ("1.2.11", Verdict::Warn) => Some(format!(
                        "by design from 1.{}: the kubelet verifies the pull credentials of cached images (imagePullCredentialsVerificationPolicy in kubelet-config.conf), so no tenant runs another's private image and pods still start while the registry is down",
                        k::ENSURE_SECRET_PULLED_IMAGES_MINOR
                    )),
                    ("1.2.27", Verdict::Warn) => Some("add an `encryption { … }` block".to_string()),
                    ("1.2.17" | "1.2.18" | "1.2.19", Verdict::Fail) => Some("raise the `audit { … }` retention to the benchmark's minimum".to_string()),
                    _ => None,
                };
                (verdict, evidence, source)
            }
            Test::Providers => {
                let first = file(k::ENCRYPTION_CONFIG).and_then(first_provider);
                let verdict = match first.as_deref() {
                    Some("aescbc" | "kms" | "secretbox") => Verdict::Pass,
                    _ => fail,
                };
                note = match first.as_deref() {
                    Some("aesgcm") => Some(
                        "AES-GCM with static keys is advised against upstream without automated key rotation; write with `secretbox` or `kms` first"
                            .to_string(),
                    ),
                    Some("identity") => Some("new data is written unencrypted".to_string()),
                    None => Some("add an `encryption { … }` block".to_string()),
                    _ => None,
                };
                let evidence = match &first {
                    Some(p) => format!("{}: first provider {p}", k::ENCRYPTION_CONFIG),
                    None => "no encryption-config.yaml".to_string(),
                };
                (verdict, evidence, c.encryption.as_ref().map(|e| e.origin.to_string()))
            }
            Test::Kubelet(key, op) => {
                let value = kubelet_value(&kubelet, key);
                let verdict = if judge(op, value.as_deref()) { Verdict::Pass } else { fail };
                let evidence = match &value {
                    Some(v) => format!("{}: {key}: {v}", k::KUBELET_CONFIG),
                    None => format!("{}: no {key}", k::KUBELET_CONFIG),
                };
                (verdict, evidence, at(&c.origin))
            }
        };
        out.push(Check { cluster: c.name.clone(), id, text, scored, verdict, evidence, source, note });
    }
    out
}

/// The checks as a Markdown table per cluster, with a summary line.
pub fn markdown(checks: &[Check]) -> String {
    let mut s = String::new();
    let mut clusters: Vec<&str> = checks.iter().map(|c| c.cluster.as_str()).collect();
    clusters.dedup();
    for cluster in clusters {
        let rows: Vec<&Check> = checks.iter().filter(|c| c.cluster == cluster).collect();
        let count = |v: Verdict| rows.iter().filter(|c| c.verdict == v).count();
        s.push_str(&format!("# CIS Kubernetes Benchmark 1.12: cluster `{cluster}`\n\n"));
        s.push_str(&format!(
            "{} PASS, {} FAIL, {} WARN, {} not khc's (judged from the generated control-plane files, as kube-bench judges the running components)\n\n",
            count(Verdict::Pass),
            count(Verdict::Fail),
            count(Verdict::Warn),
            count(Verdict::NotKhcs)
        ));
        s.push_str("| check | verdict | scored | evidence | source | note |\n|---|---|---|---|---|---|\n");
        for c in rows {
            let cell = |t: &str| t.replace('|', "\\|");
            s.push_str(&format!(
                "| {} {} | {} | {} | {} | {} | {} |\n",
                c.id,
                cell(c.text),
                c.verdict.label(),
                if c.scored { "yes" } else { "no" },
                cell(&c.evidence),
                c.source.as_deref().map(cell).unwrap_or_default(),
                c.note.as_deref().map(cell).unwrap_or_default()
            ));
        }
        s.push('\n');
    }
    s
}
