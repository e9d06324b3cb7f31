//! The Pod Security Standards (Kubernetes 1.30+): the baseline and restricted
//! controls of a given version, checked on a pod spec (and its metadata) as Pod
//! Security Admission does. Containers include init and ephemeral containers. The
//! version-dependent sets (sysctls, SELinux types, volume types) are the ones khc's
//! own CEL uses (`khc_emit::cel::pss_*`).

use khc_semantics::model::Level;
use serde_json::Value;

/// One control of the Pod Security Standards (`khc_rules::facts::PSS_CONTROLS`;
/// which khc rules cover it is each rule's `pss` in the registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Control {
    /// Short identifier (`host-namespaces`).
    pub id: &'static str,
    /// Title as in the Kubernetes documentation.
    pub title: &'static str,
    /// The level that introduces it.
    pub level: Level,
    /// The registry's control (its parts and first version).
    pub facts: &'static khc_rules::facts::PssControl,
}

/// Every control, baseline first.
pub static CONTROLS: std::sync::LazyLock<Vec<Control>> = std::sync::LazyLock::new(|| {
    khc_rules::facts::PSS_CONTROLS
        .iter()
        .map(|c| Control {
            id: c.id,
            title: c.title,
            level: match c.level {
                khc_rules::facts::PssLevel::Baseline => Level::Baseline,
                khc_rules::facts::PssLevel::Restricted => Level::Restricted,
            },
            facts: c,
        })
        .collect()
});

const BASELINE_CAPS: &[&str] = khc_rules::facts::PSS_BASELINE_CAPABILITIES;

/// A violated control.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PssViolation {
    /// The control's id.
    pub control: &'static str,
    /// The level that requires it.
    pub level: &'static str,
    /// What is wrong.
    pub message: String,
}

fn containers(spec: &Value) -> Vec<&Value> {
    ["initContainers", "containers", "ephemeralContainers"].iter().flat_map(|k| spec[*k].as_array().into_iter().flatten()).collect()
}

fn name(c: &Value) -> &str {
    c["name"].as_str().unwrap_or("?")
}

/// The Kubernetes minor version of a Pod Security version label value (`v1.35`,
/// `1.35` or `latest`, which is the newest release khc knows).
pub fn minor_of(version: &str) -> u32 {
    version.trim_start_matches('v').strip_prefix("1.").and_then(|m| m.parse().ok()).unwrap_or(khc_semantics::control_plane::NEWEST_MINOR)
}

/// The controls of `level` (and below), as of Kubernetes `1.minor`, that the pod
/// spec `spec` (with pod `metadata`) violates.
pub fn check(level: Level, minor: u32, metadata: &Value, spec: &Value) -> Vec<PssViolation> {
    if level == Level::Privileged {
        return Vec::new();
    }
    let mut out: Vec<PssViolation> = Vec::new();
    let mut fail = |id: &'static str, message: String| {
        let c = CONTROLS.iter().find(|c| c.id == id).expect("known control");
        if c.level <= level {
            out.push(PssViolation { control: id, level: c.level.as_str(), message });
        }
    };
    let cs = containers(spec);
    let psc = &spec["securityContext"];
    let truthy = |v: &Value| v.as_bool() == Some(true);
    let safe_sysctls = khc_rules::facts::pss_sysctls(minor);
    let selinux_types = khc_rules::facts::pss_selinux_types(minor);
    let restricted_volumes = khc_rules::facts::pss_volume_types(minor);
    // Windows pods skip the Linux-only restricted checks (privilege escalation,
    // seccomp, capabilities), as Pod Security does from 1.25.
    let windows = spec["os"]["name"] == "windows";
    // From 1.35, baseline allows an unmasked /proc in a user namespace
    // (restricted still does not: `check_procMount.go`'s restricted variant).
    let user_namespace =
        level == Level::Baseline && minor >= khc_rules::facts::PSS_PROC_MOUNT_USER_NAMESPACE_MINOR && spec["hostUsers"].as_bool() == Some(false);

    // Baseline.
    if truthy(&psc["windowsOptions"]["hostProcess"]) || cs.iter().any(|c| truthy(&c["securityContext"]["windowsOptions"]["hostProcess"])) {
        fail("host-process", "windowsOptions.hostProcess must not be true".into());
    }
    for k in ["hostNetwork", "hostPID", "hostIPC"] {
        if truthy(&spec[k]) {
            fail("host-namespaces", format!("{k} must not be true"));
        }
    }
    for c in &cs {
        let sc = &c["securityContext"];
        if truthy(&sc["privileged"]) {
            fail("privileged", format!("container {} must not be privileged", name(c)));
        }
        let added: Vec<&str> = sc["capabilities"]["add"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let bad: Vec<&str> = added.iter().copied().filter(|a| !BASELINE_CAPS.contains(a)).collect();
        if !bad.is_empty() {
            fail("capabilities-baseline", format!("container {} adds capabilities beyond the baseline set: {}", name(c), bad.join(", ")));
        }
        for p in c["ports"].as_array().into_iter().flatten() {
            if p["hostPort"].as_u64().is_some_and(|h| h != 0) {
                fail("host-ports", format!("container {} uses hostPort {}", name(c), p["hostPort"]));
            }
        }
        if let Some(t) = sc["appArmorProfile"]["type"].as_str() {
            if t != "RuntimeDefault" && t != "Localhost" {
                fail("apparmor", format!("container {} has AppArmor profile {t}", name(c)));
            }
        }
        if sc["procMount"].as_str().is_some_and(|m| m != "Default") && !user_namespace {
            fail("proc-mount", format!("container {} must use the Default /proc mount", name(c)));
        }
        if sc["seccompProfile"]["type"] == "Unconfined" {
            fail("seccomp-baseline", format!("container {} must not set seccomp Unconfined", name(c)));
        }
    }
    for v in spec["volumes"].as_array().into_iter().flatten() {
        if v.get("hostPath").is_some() {
            fail("host-path", format!("volume {} is a hostPath", name(v)));
        }
    }
    if let Some(t) = psc["appArmorProfile"]["type"].as_str() {
        if t != "RuntimeDefault" && t != "Localhost" {
            fail("apparmor", format!("pod has AppArmor profile {t}"));
        }
    }
    for (k, v) in metadata["annotations"].as_object().into_iter().flatten() {
        if k.starts_with("container.apparmor.security.beta.kubernetes.io/") {
            let v = v.as_str().unwrap_or("");
            if v != "runtime/default" && !v.starts_with("localhost/") {
                fail("apparmor", format!("annotation {k} is {v}"));
            }
        }
    }
    for sc in std::iter::once(psc).chain(cs.iter().map(|c| &c["securityContext"])) {
        let se = &sc["seLinuxOptions"];
        if se.is_object() {
            let t = se["type"].as_str().unwrap_or("");
            if !t.is_empty() && !selinux_types.iter().any(|s| s == t) {
                fail("selinux", format!("SELinux type {} is not allowed", se["type"]));
            }
            if se.get("user").is_some() || se.get("role").is_some() {
                fail("selinux", "SELinux user and role must not be set".into());
            }
        }
    }
    if psc["seccompProfile"]["type"] == "Unconfined" {
        fail("seccomp-baseline", "the pod must not set seccomp Unconfined".into());
    }
    for s in psc["sysctls"].as_array().into_iter().flatten() {
        let n = s["name"].as_str().unwrap_or("");
        if !safe_sysctls.iter().any(|s| s == n) {
            fail("sysctls", format!("sysctl {n} is not in the safe set"));
        }
    }

    if minor >= khc_rules::facts::PSS_PROBE_HOST_MINOR {
        let handlers = |c: &'_ Value| -> Vec<String> {
            let mut hosts = Vec::new();
            for probe in
                ["livenessProbe", "readinessProbe", "startupProbe"].map(|p| &c[p]).into_iter().chain(["postStart", "preStop"].map(|h| &c["lifecycle"][h]))
            {
                for kind in ["httpGet", "tcpSocket"] {
                    if let Some(h) = probe[kind]["host"].as_str().filter(|h| !h.is_empty()) {
                        hosts.push(h.to_string());
                    }
                }
            }
            hosts
        };
        for c in &cs {
            let hosts = handlers(c);
            if !hosts.is_empty() {
                fail("probe-host", format!("container {} uses probe or lifecycle host {}", name(c), hosts.join(", ")));
            }
        }
    }

    // Restricted.
    for v in spec["volumes"].as_array().into_iter().flatten() {
        let ok = v.as_object().is_some_and(|m| m.keys().all(|k| k == "name" || restricted_volumes.iter().any(|t| t == k)));
        if !ok {
            fail("volume-types", format!("volume {} has a type restricted does not allow", name(v)));
        }
    }
    let pod_non_root = truthy(&psc["runAsNonRoot"]);
    let pod_seccomp = psc["seccompProfile"]["type"].as_str();
    for c in &cs {
        let sc = &c["securityContext"];
        if sc["allowPrivilegeEscalation"].as_bool() != Some(false) && !windows {
            fail("privilege-escalation", format!("container {} must set allowPrivilegeEscalation: false", name(c)));
        }
        let non_root = match sc["runAsNonRoot"].as_bool() {
            Some(b) => b,
            None => pod_non_root,
        };
        if !non_root {
            fail("run-as-non-root", format!("container {} must run with runAsNonRoot: true (pod or container)", name(c)));
        }
        if sc["runAsUser"].as_u64() == Some(0) {
            fail("run-as-user", format!("container {} must not set runAsUser: 0", name(c)));
        }
        let seccomp = sc["seccompProfile"]["type"].as_str().or(pod_seccomp);
        if !matches!(seccomp, Some("RuntimeDefault") | Some("Localhost")) && !windows {
            fail("seccomp-restricted", format!("container {} must use seccomp RuntimeDefault or Localhost (pod or container)", name(c)));
        }
        let drops: Vec<&str> = sc["capabilities"]["drop"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let adds: Vec<&str> = sc["capabilities"]["add"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if (!drops.contains(&"ALL") || adds.iter().any(|a| !khc_rules::facts::PSS_RESTRICTED_CAPABILITIES.contains(a))) && !windows {
            fail("capabilities-restricted", format!("container {} must drop ALL capabilities and add only NET_BIND_SERVICE", name(c)));
        }
    }
    if psc["runAsUser"].as_u64() == Some(0) {
        fail("run-as-user", "the pod must not set runAsUser: 0".into());
    }
    out.dedup();
    out
}
