//! The control plane's configuration files beside the EncryptionConfiguration
//! (`clusters/CLUSTER/control-plane/`): the audit policy, the admission
//! configuration with the cluster-wide Pod Security default and EventRateLimit's
//! limits, the structured authentication configuration, `kube-apiserver-flags`
//! (every flag these files need and the CIS hardening flags, one comment each),
//! `kube-controller-manager-flags`, `kube-scheduler-flags`, a kubelet
//! configuration drop-in (`kubelet-config.conf`, for the kubelet's `--config-dir`)
//! and `install-control-plane.sh`, which installs them.
//!
//! Field names follow the Go types of `k8s.io/apiserver` (`pkg/apis/audit/v1`,
//! `pkg/apis/apiserver/v1`, `v1beta1`), `k8s.io/pod-security-admission`
//! (`admission/api/v1`), `k8s.io/kubelet` (`config/v1beta1`) and the EventRateLimit
//! plugin (`plugin/pkg/admission/eventratelimit/apis/eventratelimit/v1alpha1`);
//! `tests/control_plane.rs` checks every emitted key against them.

use crate::safe_comment;
use khc_semantics::control_plane::ANONYMOUS_CONFIG_MINOR;
use khc_semantics::model::{Anonymous, Cluster, ControlPlane};
use serde_json::{json, Value};

/// Where `install-control-plane.sh` installs the files by default, and where
/// `kube-apiserver-flags` expects them.
pub const INSTALL_DIR: &str = "/etc/kubernetes/khc";

/// The file names of the control-plane folder khc writes (always, or when the
/// model asks for them).
pub const AUDIT_POLICY: &str = "audit-policy.yaml";
/// The AdmissionConfiguration (Pod Security defaults).
pub const ADMISSION_CONFIG: &str = "admission-config.yaml";
/// The AuthenticationConfiguration.
pub const AUTHENTICATION_CONFIG: &str = "authentication-config.yaml";
/// The EncryptionConfiguration (written by `crate::encryption`).
pub const ENCRYPTION_CONFIG: &str = "encryption-config.yaml";
/// The flags file.
pub const FLAGS: &str = "kube-apiserver-flags";
/// The installer.
pub const INSTALL_SCRIPT: &str = "install-control-plane.sh";
/// kube-controller-manager's flags.
pub const CONTROLLER_MANAGER_FLAGS: &str = "kube-controller-manager-flags";
/// kube-scheduler's flags.
pub const SCHEDULER_FLAGS: &str = "kube-scheduler-flags";
/// The kubelet configuration drop-in (the kubelet reads `*.conf` files of its
/// `--config-dir`).
pub const KUBELET_CONFIG: &str = "kubelet-config.conf";

/// The TLS 1.2 cipher suites every component offers (`--tls-cipher-suites`, the
/// kubelet's `tlsCipherSuites`): ECDHE key exchange and AEAD ciphers only, each in
/// the CIS benchmark's list of strong ciphers (1.2.29). TLS 1.3's suites are not
/// configurable in Go and are all strong.
pub const TLS_CIPHER_SUITES: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// `--terminated-pod-gc-threshold`: finished pods kept before the controller
/// manager deletes the oldest (its default, 12,500, lets them fill etcd).
pub const TERMINATED_POD_GC_THRESHOLD: u32 = 1000;

/// The kubelet's `podPidsLimit`: processes a pod may run (a fork bomb stays inside it).
pub const POD_PIDS_LIMIT: u32 = 4096;

/// The first minor whose kubelet verifies the pull credentials of cached images by
/// default (`KubeletEnsureSecretPulledImages`, beta and on from 1.35): from then on
/// khc states `imagePullCredentialsVerificationPolicy` in the kubelet drop-in
/// instead of enabling the AlwaysPullImages admission plugin.
pub const ENSURE_SECRET_PULLED_IMAGES_MINOR: u32 = 35;

/// The admission plugins khc enables, for the target version: NodeRestriction,
/// DenyServiceExternalIPs (CVE-2020-8554), EventRateLimit (configured in the
/// AdmissionConfiguration) and, before [`ENSURE_SECRET_PULLED_IMAGES_MINOR`],
/// AlwaysPullImages.
pub fn admission_plugins(minor: u32) -> Vec<&'static str> {
    let mut v = vec!["NodeRestriction", "DenyServiceExternalIPs", "EventRateLimit"];
    if minor < ENSURE_SECRET_PULLED_IMAGES_MINOR {
        v.push("AlwaysPullImages");
    }
    v
}

/// The audit policy: `None` for health checks and read-only system noise,
/// `Metadata` (never a body) for Secrets, ConfigMaps and token reviews and
/// requests, `RequestResponse` for changes to RBAC and admission configuration and
/// for `pods/exec|attach|portforward|ephemeralcontainers`, `Metadata` for the
/// rest. The first matching rule decides, so the order matters.
pub fn audit_policy() -> Value {
    let writes = json!(["create", "update", "patch", "delete", "deletecollection"]);
    json!({
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            { "level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version", "/version/*"] },
            { "level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"],
              "resources": [{ "group": "", "resources": ["endpoints", "services", "services/status"] },
                            { "group": "discovery.k8s.io", "resources": ["endpointslices"] }] },
            { "level": "None", "userGroups": ["system:nodes"], "verbs": ["get"], "resources": [{ "group": "", "resources": ["nodes", "nodes/status"] }] },
            { "level": "None", "userGroups": ["system:nodes"], "verbs": ["get", "update"], "namespaces": ["kube-node-lease"],
              "resources": [{ "group": "coordination.k8s.io", "resources": ["leases"] }] },
            { "level": "None", "users": ["system:kube-controller-manager", "system:kube-scheduler"], "verbs": ["get", "update"], "namespaces": ["kube-system"],
              "resources": [{ "group": "coordination.k8s.io", "resources": ["leases"] }] },
            { "level": "None", "resources": [{ "group": "", "resources": ["events"] }, { "group": "events.k8s.io", "resources": ["events"] }] },
            { "level": "Metadata",
              "resources": [{ "group": "", "resources": ["secrets", "configmaps", "serviceaccounts/token"] },
                            { "group": "authentication.k8s.io", "resources": ["tokenreviews"] }] },
            { "level": "RequestResponse", "resources": [{ "group": "", "resources": ["pods/exec", "pods/attach", "pods/portforward", "pods/ephemeralcontainers"] }] },
            { "level": "RequestResponse", "verbs": writes,
              "resources": [{ "group": "rbac.authorization.k8s.io" }, { "group": "admissionregistration.k8s.io" }] },
            { "level": "Metadata" },
        ],
    })
}

/// EventRateLimit's limits (`eventratelimit.admission.k8s.io/v1alpha1`), the
/// values of the upstream documentation's example: a flood of events from one
/// namespace or one user cannot starve the others or the server.
pub fn event_rate_limit() -> Value {
    json!({
        "apiVersion": "eventratelimit.admission.k8s.io/v1alpha1",
        "kind": "Configuration",
        "limits": [
            { "type": "Server", "qps": 5000, "burst": 20000 },
            { "type": "Namespace", "qps": 50, "burst": 100, "cacheSize": 2000 },
            { "type": "User", "qps": 10, "burst": 50 },
        ],
    })
}

/// The AdmissionConfiguration with the PodSecurity plugin's defaults and
/// exemptions, and EventRateLimit's limits.
pub fn admission_config(cp: &ControlPlane) -> Value {
    let ps = &cp.pod_security;
    json!({
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [{
            "name": "PodSecurity",
            "configuration": {
                "apiVersion": "pod-security.admission.config.k8s.io/v1",
                "kind": "PodSecurityConfiguration",
                "defaults": {
                    "enforce": ps.enforce.as_str(), "enforce-version": ps.version,
                    "audit": ps.audit.as_str(), "audit-version": ps.version,
                    "warn": ps.warn.as_str(), "warn-version": ps.version,
                },
                "exemptions": {
                    "usernames": ps.exempt_usernames,
                    "runtimeClasses": ps.exempt_runtime_classes,
                    "namespaces": ps.exempt_namespaces,
                },
            },
        }, {
            "name": "EventRateLimit",
            "configuration": event_rate_limit(),
        }],
    })
}

/// The AuthenticationConfiguration API version for a minor: `v1` from 1.34
/// (StructuredAuthenticationConfiguration GA), `v1beta1` from 1.30.
pub fn authentication_api_version(minor: u32) -> &'static str {
    if minor >= 34 {
        "apiserver.config.k8s.io/v1"
    } else {
        "apiserver.config.k8s.io/v1beta1"
    }
}

/// True when anonymous access is configured in the AuthenticationConfiguration
/// rather than with `--anonymous-auth`: only `health-only` needs the file. `off` is
/// `--anonymous-auth=false` on every version (the server refuses the flag together
/// with the file's `anonymous`, so the file then leaves it out), which is also what
/// flag-reading scanners (CIS 1.2.1) look for.
fn anonymous_in_config(cp: &ControlPlane) -> bool {
    cp.minor_version >= ANONYMOUS_CONFIG_MINOR && cp.authentication.anonymous == Anonymous::HealthOnly
}

/// The AuthenticationConfiguration, when there is something to configure
/// structurally (an OIDC issuer, or anonymous access on 1.32 or later).
pub fn authentication_config(cp: &ControlPlane) -> Option<Value> {
    let auth = &cp.authentication;
    let anonymous = anonymous_in_config(cp);
    if auth.oidc.is_empty() && !anonymous {
        return None;
    }
    let mut v = json!({ "apiVersion": authentication_api_version(cp.minor_version), "kind": "AuthenticationConfiguration" });
    if !auth.oidc.is_empty() {
        let jwt: Vec<Value> = auth
            .oidc
            .iter()
            .map(|o| {
                let mut issuer = json!({ "url": o.issuer, "audiences": o.audiences });
                if o.audiences.len() > 1 {
                    issuer["audienceMatchPolicy"] = json!("MatchAny");
                }
                let mut mappings = json!({ "username": { "claim": o.username_claim, "prefix": o.username_prefix } });
                if let Some(g) = &o.groups_claim {
                    mappings["groups"] = json!({ "claim": g, "prefix": o.groups_prefix });
                }
                json!({ "issuer": issuer, "claimMappings": mappings })
            })
            .collect();
        v["jwt"] = json!(jwt);
    }
    if anonymous {
        v["anonymous"] = json!({ "enabled": true, "conditions": [{ "path": "/healthz" }, { "path": "/livez" }, { "path": "/readyz" }] });
    }
    Some(v)
}

/// One flag with its comment (its one-line reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    /// Why the flag is set.
    pub comment: String,
    /// `--name=value`.
    pub flag: String,
}

fn flag(comment: impl Into<String>, flag: impl Into<String>) -> Flag {
    Flag { comment: comment.into(), flag: flag.into() }
}

/// The TLS flags every component gets.
fn tls_flags() -> Vec<Flag> {
    vec![
        flag("no TLS older than 1.2", "--tls-min-version=VersionTLS12"),
        flag("only ECDHE key exchange with AEAD ciphers (CIS strong ciphers)", format!("--tls-cipher-suites={}", TLS_CIPHER_SUITES.join(","))),
    ]
}

/// kube-controller-manager's flags: profiling off, serving on loopback only, one
/// ServiceAccount per controller, a bound on finished pods.
pub fn controller_manager_flags(_c: &Cluster) -> Vec<Flag> {
    let mut v = vec![
        flag("no /debug/pprof profiling endpoints", "--profiling=false"),
        flag("serve /healthz and /metrics on loopback only (probes run on the node)", "--bind-address=127.0.0.1"),
        flag(
            "each controller acts as its own ServiceAccount in kube-system, so RBAC grants it only what it needs (not the manager's broad identity)",
            "--use-service-account-credentials=true",
        ),
        flag(
            format!("delete the oldest finished pods beyond {TERMINATED_POD_GC_THRESHOLD} (the default, 12500, lets them fill etcd)"),
            format!("--terminated-pod-gc-threshold={TERMINATED_POD_GC_THRESHOLD}"),
        ),
    ];
    v.extend(tls_flags());
    v
}

/// kube-scheduler's flags: profiling off, serving on loopback only.
pub fn scheduler_flags(_c: &Cluster) -> Vec<Flag> {
    let mut v = vec![
        flag("no /debug/pprof profiling endpoints", "--profiling=false"),
        flag("serve /healthz and /metrics on loopback only (probes run on the node)", "--bind-address=127.0.0.1"),
    ];
    v.extend(tls_flags());
    v
}

/// The kubelet configuration drop-in (`kubelet.config.k8s.io/v1beta1`
/// KubeletConfiguration, merged over the kubelet's `--config` by `--config-dir`):
/// no anonymous requests, every request authorized by the API server (Webhook),
/// no read-only port, rotated client certificates, RuntimeDefault seccomp for
/// every container, a PID limit per pod, strong TLS, kernel settings checked
/// rather than changed, and (from 1.35) pull credentials verified for cached
/// images, so that one tenant's pod cannot run another tenant's private image
/// from the node's cache.
pub fn kubelet_config(c: &Cluster) -> Value {
    let mut v = json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": { "anonymous": { "enabled": false }, "webhook": { "enabled": true } },
        "authorization": { "mode": "Webhook" },
        "readOnlyPort": 0,
        "rotateCertificates": true,
        "seccompDefault": true,
        "podPidsLimit": POD_PIDS_LIMIT,
        "protectKernelDefaults": true,
        "makeIPTablesUtilChains": true,
        "tlsMinVersion": "VersionTLS12",
        "tlsCipherSuites": TLS_CIPHER_SUITES,
    });
    if c.control_plane.minor_version >= ENSURE_SECRET_PULLED_IMAGES_MINOR {
        v["imagePullCredentialsVerificationPolicy"] = json!("NeverVerifyPreloadedImages");
    }
    v
}

/// kube-apiserver's flags, in file order.
pub fn apiserver_flags(c: &Cluster) -> Vec<Flag> {
    flags(c)
}

fn flags(c: &Cluster) -> Vec<Flag> {
    let cp = &c.control_plane;
    let a = &cp.audit;
    let path = |f: &str| format!("{INSTALL_DIR}/{f}");
    let mut out = vec![
        Flag {
            comment: format!("khc's audit policy ({AUDIT_POLICY}): no Secret or token in the log, full bodies for RBAC and admission changes and exec/attach"),
            flag: format!("--audit-policy-file={}", path(AUDIT_POLICY)),
        },
        Flag {
            comment: "where audit events are written (`audit { log-path }`); mount its folder into the API server's pod".into(),
            flag: format!("--audit-log-path={}", a.log_path),
        },
        Flag { comment: "days to keep rotated audit logs (`max-age`)".into(), flag: format!("--audit-log-maxage={}", a.max_age) },
        Flag { comment: "rotated audit logs to keep (`max-backups`)".into(), flag: format!("--audit-log-maxbackup={}", a.max_backups) },
        Flag { comment: "megabytes at which the audit log is rotated (`max-size`)".into(), flag: format!("--audit-log-maxsize={}", a.max_size) },
        Flag {
            comment: format!("the Pod Security default for namespaces khc does not label, and its exemptions ({ADMISSION_CONFIG})"),
            flag: format!("--admission-control-config-file={}", path(ADMISSION_CONFIG)),
        },
    ];
    if authentication_config(cp).is_some() {
        out.push(Flag {
            comment: format!(
                "structured authentication ({AUTHENTICATION_CONFIG}): {}; replaces every --oidc-* flag{}",
                describe_authentication(cp),
                if anonymous_in_config(cp) { " and --anonymous-auth" } else { "" }
            ),
            flag: format!("--authentication-config={}", path(AUTHENTICATION_CONFIG)),
        });
    }
    if cp.authentication.anonymous == Anonymous::Off {
        let why = if cp.minor_version >= ANONYMOUS_CONFIG_MINOR {
            "`anonymous off`".to_string()
        } else {
            format!("Kubernetes 1.{} cannot allow only the health endpoints", cp.minor_version)
        };
        out.push(flag(format!("no anonymous requests at all ({why}); health probes must authenticate"), "--anonymous-auth=false"));
    }
    if let Some(ca) = &cp.kubelet_ca {
        out.push(flag(
            "verify the kubelets' serving certificates against this CA (`kubelet-certificate-authority`): no man in the middle on exec, logs and port-forward",
            format!("--kubelet-certificate-authority={}", ca.path),
        ));
    }
    if c.encryption.is_some() {
        out.push(Flag {
            comment: format!("encryption at rest ({ENCRYPTION_CONFIG}, keys filled in by install-encryption-config.sh)"),
            flag: format!("--encryption-provider-config={}", path(ENCRYPTION_CONFIG)),
        });
    }
    out.push(flag("no /debug/pprof profiling endpoints", "--profiling=false"));
    out.push(flag(
        "ServiceAccount tokens live only as long as requested (the default stretches them to a year for old clients)",
        "--service-account-extend-token-expiration=false",
    ));
    out.extend(tls_flags());
    let plugins = admission_plugins(cp.minor_version);
    let pulled = if plugins.contains(&"AlwaysPullImages") {
        format!("AlwaysPullImages: every pod start checks its pull credentials, so no tenant runs another's cached private image (Kubernetes 1.{} kubelets do not verify them)", cp.minor_version)
    } else {
        "cached private images are guarded by the kubelet instead (imagePullCredentialsVerificationPolicy in kubelet-config.conf)".to_string()
    };
    out.push(flag(
        format!(
            "NodeRestriction: kubelets change only their own Node and pods; DenyServiceExternalIPs: no Service externalIPs (CVE-2020-8554); EventRateLimit: event floods are throttled ({ADMISSION_CONFIG}); {pulled}. Merge with any --enable-admission-plugins you already pass"
        ),
        format!("--enable-admission-plugins={}", plugins.join(",")),
    ));
    out
}

fn describe_authentication(cp: &ControlPlane) -> String {
    let mut parts = Vec::new();
    if !cp.authentication.oidc.is_empty() {
        parts.push(format!("OIDC issuers {}", cp.authentication.oidc.iter().map(|o| o.issuer.as_str()).collect::<Vec<_>>().join(", ")));
    }
    if anonymous_in_config(cp) {
        parts.push(match cp.authentication.anonymous {
            Anonymous::HealthOnly => "anonymous requests only to /healthz, /livez and /readyz".to_string(),
            _ => "no anonymous requests".to_string(),
        });
    }
    parts.join("; ")
}

/// The flags, for tools and tests: `(flag, value)` pairs in file order.
pub fn flag_pairs(c: &Cluster) -> Vec<(String, String)> {
    flags(c)
        .into_iter()
        .map(|f| match f.flag.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (f.flag, String::new()),
        })
        .collect()
}

/// `kube-apiserver-flags`: one flag a line, each after a comment line.
pub fn flags_file(c: &Cluster) -> String {
    let intro = format!(
        "# kube-apiserver flags for the files of this folder, as install-control-plane.sh installs them\n# (into {INSTALL_DIR}). See README.md for where each goes. One flag a line; lines starting with # are comments.\n"
    );
    render_flags(c, &intro, &flags(c))
}

/// `kube-controller-manager-flags`.
pub fn controller_manager_flags_file(c: &Cluster) -> String {
    let intro = "# kube-controller-manager flags (CIS 1.3). See README.md for where they go. One flag a line; lines starting with # are comments.\n";
    render_flags(c, intro, &controller_manager_flags(c))
}

/// `kube-scheduler-flags`.
pub fn scheduler_flags_file(c: &Cluster) -> String {
    let intro = "# kube-scheduler flags (CIS 1.4). See README.md for where they go. One flag a line; lines starting with # are comments.\n";
    render_flags(c, intro, &scheduler_flags(c))
}

fn render_flags(c: &Cluster, intro: &str, flags: &[Flag]) -> String {
    let mut s = String::new();
    s.push_str(&format!("# Generated by khc from {}. Do not edit.\n", safe_comment(&c.origin.to_string())));
    s.push_str(intro);
    for f in flags {
        // khc's own text; the only source values in it (issuer URLs, paths) hold no
        // whitespace or control characters, which are dropped anyway.
        let comment: String = f.comment.chars().filter(|c| !c.is_control()).collect();
        s.push_str(&format!("\n# {comment}\n{}\n", f.flag));
    }
    s
}

/// The header of a configuration file.
pub fn header(origin: &str, what: &str) -> String {
    format!("# Generated by khc from {}. Do not edit.\n# Not for kubectl: {what} (see README.md).\n", safe_comment(origin))
}

/// The files installed as they are (no secret in them).
pub fn static_files(c: &Cluster) -> Vec<&'static str> {
    let mut v = vec![AUDIT_POLICY, ADMISSION_CONFIG, KUBELET_CONFIG];
    if authentication_config(&c.control_plane).is_some() {
        v.push(AUTHENTICATION_CONFIG);
    }
    v
}

/// `install-control-plane.sh [DIR]`: installs every file of the folder (the API
/// server's files and the kubelet drop-in) into DIR
/// (default [`INSTALL_DIR`]): each written to a fresh temporary file in DIR and
/// renamed over the old one (atomic), mode 0600, refusing a DIR or a destination
/// that is a symbolic link; then the EncryptionConfiguration through
/// `install-encryption-config.sh`, which fills in its keys.
pub fn install_script(c: &Cluster) -> String {
    let mut s = String::new();
    s.push_str("#!/bin/sh\n");
    s.push_str(&format!("# Generated by khc from {}. Do not edit.\n", safe_comment(&c.origin.to_string())));
    s.push_str("# Installs the control-plane configuration of this folder (mode 0600, atomically): the API server's\n# files and the kubelet drop-in (kubelet-config.conf, for a kubelet whose --config-dir is DIR).\n");
    s.push_str(&format!("# Usage: sh {INSTALL_SCRIPT} [DIR]   (default {INSTALL_DIR}, the folder kube-apiserver-flags names)\n"));
    s.push_str("set -eu\n");
    s.push_str("src=\"$(dirname \"$0\")\"\n");
    s.push_str(&format!("dir=\"${{1:-{INSTALL_DIR}}}\"\n"));
    s.push_str("fail() { echo \"khc: $*\" >&2; exit 1; }\n");
    s.push_str("umask 077\n");
    s.push_str("[ -L \"$dir\" ] && fail \"$dir is a symbolic link\"\n");
    s.push_str("mkdir -p \"$dir\"\n");
    s.push_str("install_file() {\n");
    s.push_str("  [ -L \"$dir/$1\" ] && fail \"$dir/$1 is a symbolic link\"\n");
    s.push_str("  tmp=$(mktemp \"$dir/.$1.XXXXXX\") || fail \"cannot create a temporary file in $dir\"\n");
    s.push_str("  cat \"$src/$1\" > \"$tmp\" || { rm -f \"$tmp\"; fail \"cannot write $tmp\"; }\n");
    s.push_str("  chmod 600 \"$tmp\"\n");
    s.push_str("  mv -f \"$tmp\" \"$dir/$1\"\n");
    s.push_str("  echo \"khc: wrote $dir/$1\"\n");
    s.push_str("}\n");
    for f in static_files(c) {
        s.push_str(&format!("install_file {f}\n"));
    }
    if c.encryption.is_some() {
        s.push_str(&format!("sh \"$src/install-encryption-config.sh\" \"$dir/{ENCRYPTION_CONFIG}\"\n"));
    }
    // The checker allows only `[A-Za-z0-9._/-]` in the log path: safe unquoted.
    s.push_str(&format!("mkdir -p \"$(dirname {})\"\n", c.control_plane.audit.log_path));
    s
}

/// A configuration document with `apiVersion` and `kind` first, then the rest.
#[derive(serde::Serialize)]
struct Ordered<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'a Value,
    kind: &'a Value,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

/// The YAML of a configuration document, `apiVersion` and `kind` first.
pub fn to_yaml(v: &Value) -> String {
    let mut rest = v.as_object().cloned().unwrap_or_default();
    rest.remove("apiVersion");
    rest.remove("kind");
    let doc = Ordered { api_version: &v["apiVersion"], kind: &v["kind"], rest };
    crate::yaml::to_string(&doc).expect("control-plane configuration serializes")
}
