//! The API server's configuration files beside the EncryptionConfiguration
//! (`clusters/CLUSTER/control-plane/`): the audit policy, the admission
//! configuration with the cluster-wide Pod Security default, the structured
//! authentication configuration, `kube-apiserver-flags` (every flag these files
//! need, one comment each) and `install-control-plane.sh`, which installs them.
//!
//! Field names follow the Go types of `k8s.io/apiserver` (`pkg/apis/audit/v1`,
//! `pkg/apis/apiserver/v1`, `v1beta1`) and `k8s.io/pod-security-admission`
//! (`admission/api/v1`); `tests/control_plane.rs` checks every emitted key against
//! them.

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

/// The AdmissionConfiguration with the PodSecurity plugin's defaults and exemptions.
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
/// rather than with `--anonymous-auth`.
fn anonymous_in_config(cp: &ControlPlane) -> bool {
    cp.minor_version >= ANONYMOUS_CONFIG_MINOR && cp.authentication.anonymous != Anonymous::Unchanged
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
        v["anonymous"] = match auth.anonymous {
            Anonymous::HealthOnly => json!({ "enabled": true, "conditions": [{ "path": "/healthz" }, { "path": "/livez" }, { "path": "/readyz" }] }),
            _ => json!({ "enabled": false }),
        };
    }
    Some(v)
}

/// One flag with its comment.
struct Flag {
    comment: String,
    flag: String,
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
    if cp.authentication.anonymous == Anonymous::Off && !anonymous_in_config(cp) {
        out.push(Flag {
            comment: format!(
                "no anonymous requests at all (Kubernetes 1.{} cannot allow only the health endpoints); health probes must authenticate",
                cp.minor_version
            ),
            flag: "--anonymous-auth=false".into(),
        });
    }
    if c.encryption.is_some() {
        out.push(Flag {
            comment: format!("encryption at rest ({ENCRYPTION_CONFIG}, keys filled in by install-encryption-config.sh)"),
            flag: format!("--encryption-provider-config={}", path(ENCRYPTION_CONFIG)),
        });
    }
    out.push(Flag { comment: "no /debug/pprof profiling endpoints".into(), flag: "--profiling=false".into() });
    out.push(Flag { comment: "no TLS older than 1.2".into(), flag: "--tls-min-version=VersionTLS12".into() });
    out.push(Flag {
        comment: "kubelets may change only their own Node and the pods bound to it (merge with any --enable-admission-plugins you already pass)".into(),
        flag: "--enable-admission-plugins=NodeRestriction".into(),
    });
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
    let mut s = String::new();
    s.push_str(&format!("# Generated by khc from {}. Do not edit.\n", safe_comment(&c.origin.to_string())));
    s.push_str(&format!(
        "# kube-apiserver flags for the files of this folder, as install-control-plane.sh installs them\n# (into {INSTALL_DIR}). See README.md for where each goes. One flag a line; lines starting with # are comments.\n"
    ));
    for f in flags(c) {
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
    let mut v = vec![AUDIT_POLICY, ADMISSION_CONFIG];
    if authentication_config(&c.control_plane).is_some() {
        v.push(AUTHENTICATION_CONFIG);
    }
    v
}

/// `install-control-plane.sh [DIR]`: installs every file of the folder into DIR
/// (default [`INSTALL_DIR`]): each written to a fresh temporary file in DIR and
/// renamed over the old one (atomic), mode 0600, refusing a DIR or a destination
/// that is a symbolic link; then the EncryptionConfiguration through
/// `install-encryption-config.sh`, which fills in its keys.
pub fn install_script(c: &Cluster) -> String {
    let mut s = String::new();
    s.push_str("#!/bin/sh\n");
    s.push_str(&format!("# Generated by khc from {}. Do not edit.\n", safe_comment(&c.origin.to_string())));
    s.push_str("# Installs the API server configuration of this folder (mode 0600, atomically).\n");
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
