//! The Pod Security Standards (Kubernetes 1.30+): the baseline and restricted
//! controls, checked on a pod spec (and its metadata) as Pod Security Admission
//! does. Containers include init and ephemeral containers.

use khc_semantics::model::Level;
use serde_json::Value;

/// One control of the Pod Security Standards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Control {
    /// Short identifier (`host-namespaces`).
    pub id: &'static str,
    /// Title as in the Kubernetes documentation.
    pub title: &'static str,
    /// The level that introduces it.
    pub level: Level,
    /// The khc admission rules that enforce the same thing (any one suffices).
    pub khc_rules: &'static [&'static str],
}

/// Every control, baseline first.
pub const CONTROLS: &[Control] = &[
    Control { id: "host-process", title: "HostProcess", level: Level::Baseline, khc_rules: &["no-host-process"] },
    Control { id: "host-namespaces", title: "Host Namespaces", level: Level::Baseline, khc_rules: &["no-host-namespaces"] },
    Control { id: "privileged", title: "Privileged Containers", level: Level::Baseline, khc_rules: &["no-privileged"] },
    Control { id: "capabilities-baseline", title: "Capabilities", level: Level::Baseline, khc_rules: &["allowed-capabilities"] },
    Control { id: "host-path", title: "HostPath Volumes", level: Level::Baseline, khc_rules: &["no-host-path"] },
    Control { id: "host-ports", title: "Host Ports", level: Level::Baseline, khc_rules: &["no-host-ports"] },
    Control { id: "apparmor", title: "AppArmor", level: Level::Baseline, khc_rules: &["apparmor-runtime-default"] },
    Control { id: "selinux", title: "SELinux", level: Level::Baseline, khc_rules: &[] },
    Control { id: "proc-mount", title: "/proc Mount Type", level: Level::Baseline, khc_rules: &["no-unmasked-proc-mount"] },
    Control { id: "seccomp-baseline", title: "Seccomp", level: Level::Baseline, khc_rules: &["seccomp-runtime-default"] },
    Control { id: "sysctls", title: "Sysctls", level: Level::Baseline, khc_rules: &["allowed-sysctls"] },
    Control { id: "volume-types", title: "Volume Types", level: Level::Restricted, khc_rules: &["allowed-volume-types"] },
    Control { id: "privilege-escalation", title: "Privilege Escalation", level: Level::Restricted, khc_rules: &["no-privilege-escalation"] },
    Control { id: "run-as-non-root", title: "Running as Non-root", level: Level::Restricted, khc_rules: &["run-as-non-root"] },
    Control { id: "run-as-user", title: "Running as Non-root user", level: Level::Restricted, khc_rules: &["min-uid", "run-as-non-root"] },
    Control { id: "seccomp-restricted", title: "Seccomp", level: Level::Restricted, khc_rules: &["seccomp-runtime-default"] },
    Control { id: "capabilities-restricted", title: "Capabilities", level: Level::Restricted, khc_rules: &["drop-all-capabilities"] },
];

const BASELINE_CAPS: &[&str] =
    &["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"];
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
const SELINUX_TYPES: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"];
const RESTRICTED_VOLUMES: &[&str] = &["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];

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

/// The controls of `level` (and below) that the pod spec `spec` (with pod
/// `metadata`) violates.
pub fn check(level: Level, metadata: &Value, spec: &Value) -> Vec<PssViolation> {
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
        if sc["procMount"].as_str().is_some_and(|m| m != "Default") {
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
            if !SELINUX_TYPES.contains(&se["type"].as_str().unwrap_or("")) {
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
        if !SAFE_SYSCTLS.contains(&n) {
            fail("sysctls", format!("sysctl {n} is not in the safe set"));
        }
    }

    // Restricted.
    for v in spec["volumes"].as_array().into_iter().flatten() {
        let ok = v.as_object().is_some_and(|m| m.keys().all(|k| k == "name" || RESTRICTED_VOLUMES.contains(&k.as_str())));
        if !ok {
            fail("volume-types", format!("volume {} has a type restricted does not allow", name(v)));
        }
    }
    let pod_non_root = truthy(&psc["runAsNonRoot"]);
    let pod_seccomp = psc["seccompProfile"]["type"].as_str();
    for c in &cs {
        let sc = &c["securityContext"];
        if sc["allowPrivilegeEscalation"].as_bool() != Some(false) {
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
        if !matches!(seccomp, Some("RuntimeDefault") | Some("Localhost")) {
            fail("seccomp-restricted", format!("container {} must use seccomp RuntimeDefault or Localhost (pod or container)", name(c)));
        }
        let drops: Vec<&str> = sc["capabilities"]["drop"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let adds: Vec<&str> = sc["capabilities"]["add"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if !drops.contains(&"ALL") || adds.iter().any(|a| *a != "NET_BIND_SERVICE") {
            fail("capabilities-restricted", format!("container {} must drop ALL capabilities and add only NET_BIND_SERVICE", name(c)));
        }
    }
    if psc["runAsUser"].as_u64() == Some(0) {
        fail("run-as-user", "the pod must not set runAsUser: 0".into());
    }
    out.dedup();
    out
}
