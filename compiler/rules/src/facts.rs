//! Kubernetes facts, written once: the kinds that carry a pod (and where), the
//! kinds khc emits (and how `managed-by` protects them), the Pod Security
//! Standards' controls and version tables, Linux capabilities, volume and
//! Service types, and the label and annotation keys khc reads. The emitted CEL
//! (`khc_emit::cel`), the evaluators (`khc-analysis`) and the checker
//! (`khc-semantics`) read these tables; nothing else lists them.

use crate::cel::strs;

/// A kind whose objects carry a pod spec: a Pod, or a controller with a pod
/// template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodKind {
    /// `Deployment`.
    pub kind: &'static str,
    /// API group (`""` for core).
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Resource (plural) name.
    pub plural: &'static str,
    /// Subresources that admission judges like the resource itself
    /// (`pods/ephemeralcontainers`, which `kubectl debug` writes).
    pub subresources: &'static [&'static str],
    /// The path (field names) of the pod template; empty for a Pod, whose own
    /// `metadata` and `spec` are the pod's.
    pub template: &'static [&'static str],
}

const fn pod_kind(kind: &'static str, group: &'static str, plural: &'static str, template: &'static [&'static str]) -> PodKind {
    PodKind { kind, group, version: "v1", plural, subresources: &[], template }
}

/// Every kind that carries a pod, in the order admission policies list them.
pub const POD_KINDS: &[PodKind] = &[
    PodKind { kind: "Pod", group: "", version: "v1", plural: "pods", subresources: &["ephemeralcontainers"], template: &[] },
    pod_kind("ReplicationController", "", "replicationcontrollers", &["spec", "template"]),
    pod_kind("PodTemplate", "", "podtemplates", &["template"]),
    pod_kind("Deployment", "apps", "deployments", &["spec", "template"]),
    pod_kind("ReplicaSet", "apps", "replicasets", &["spec", "template"]),
    pod_kind("StatefulSet", "apps", "statefulsets", &["spec", "template"]),
    pod_kind("DaemonSet", "apps", "daemonsets", &["spec", "template"]),
    pod_kind("Job", "batch", "jobs", &["spec", "template"]),
    pod_kind("CronJob", "batch", "cronjobs", &["spec", "jobTemplate", "spec", "template"]),
];

/// The kinds, besides those of [`POD_KINDS`], that admission rules judge
/// (the `….resources` policy): `(kind, group, plural)`.
pub const RESOURCE_KINDS: &[(&str, &str, &str)] = &[("Service", "", "services"), ("PersistentVolumeClaim", "", "persistentvolumeclaims")];

/// The pod kind named `kind`.
pub fn pod_kind_of(kind: &str) -> Option<&'static PodKind> {
    POD_KINDS.iter().find(|k| k.kind == kind)
}

/// The `(group, plural)` of a kind admission rules judge (a pod kind, a
/// Service or a PersistentVolumeClaim).
pub fn judged_resource(kind: &str) -> Option<(&'static str, &'static str)> {
    pod_kind_of(kind).map(|k| (k.group, k.plural)).or_else(|| RESOURCE_KINDS.iter().find(|r| r.0 == kind).map(|r| (r.1, r.2)))
}

/// The `(metadata, spec)` of the pod that a JSON object of a pod kind carries.
pub fn pod_of<'a, V>(kind: &PodKind, object: &'a V, field: impl Fn(&'a V, &str) -> &'a V) -> (&'a V, &'a V) {
    let t = kind.template.iter().fold(object, |v, f| field(v, f));
    (field(t, "metadata"), field(t, "spec"))
}

/// The API groups and resources of [`POD_KINDS`], grouped by group in
/// first-seen order, subresources after their resource.
pub fn pod_resources() -> Vec<(&'static str, Vec<String>)> {
    let mut out: Vec<(&'static str, Vec<String>)> = Vec::new();
    for k in POD_KINDS {
        let i = match out.iter().position(|(g, _)| *g == k.group) {
            Some(i) => i,
            None => {
                out.push((k.group, Vec::new()));
                out.len() - 1
            }
        };
        out[i].1.push(k.plural.to_string());
        out[i].1.extend(k.subresources.iter().map(|s| format!("{}/{s}", k.plural)));
    }
    out
}

/// A CEL expression choosing, by `OBJ.kind`, between the Pod's value `pod` and
/// each pod template's `template(PATH)` (PATH the template's CEL path, e.g.
/// `object.spec.template`). Kinds sharing a template path share a branch; the
/// path most kinds share is the last, unguarded one; the others are tested in
/// order of their kind names.
pub fn by_pod_kind(obj: &str, pod: &str, template: impl Fn(&str) -> String) -> String {
    let mut paths: Vec<(String, Vec<&str>)> = Vec::new();
    for k in POD_KINDS.iter().filter(|k| !k.template.is_empty()) {
        let path = format!("{obj}.{}", k.template.join("."));
        match paths.iter_mut().find(|(p, _)| *p == path) {
            Some((_, kinds)) => kinds.push(k.kind),
            None => paths.push((path, vec![k.kind])),
        }
    }
    let default = paths.iter().enumerate().max_by_key(|(i, (_, kinds))| (kinds.len(), usize::MAX - i)).map(|(i, _)| i).expect("templates");
    let (default_path, _) = paths.remove(default);
    paths.sort_by(|a, b| a.1.cmp(&b.1));
    let guard = |kinds: &[&str]| match kinds {
        [k] => format!("{obj}.kind == '{k}'"),
        _ => format!("{obj}.kind in {}", strs(kinds)),
    };
    let mut acc = template(&default_path);
    for (i, (path, kinds)) in paths.iter().enumerate().rev() {
        acc = if i == paths.len() - 1 {
            format!("{} ? {} : {acc}", guard(kinds), template(path))
        } else {
            format!("{} ? {} : ({acc})", guard(kinds), template(path))
        };
    }
    if paths.is_empty() {
        format!("{obj}.kind == 'Pod' ? {pod} : {acc}")
    } else {
        format!("{obj}.kind == 'Pod' ? {pod} : ({acc})")
    }
}

/// How `managed-by` protects an emitted kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Protected by the `khc-managed-…` policies, matched by resource and name.
    ByName,
    /// The tenant's namespaces: protected by the namespace rules of the policy.
    Namespace,
    /// Not protectable by an admission policy; the reason.
    Unprotectable(&'static str),
    /// Deliberately left outside `managed-by`'s protection; the reason.
    Unprotected(&'static str),
}

/// A kind khc emits into a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmittedKind {
    /// `NetworkPolicy`.
    pub kind: &'static str,
    /// API group (`""` for core).
    pub group: &'static str,
    /// Resource (plural) name.
    pub plural: &'static str,
    /// How `managed-by` protects it.
    pub protection: Protection,
}

const fn emitted(kind: &'static str, group: &'static str, plural: &'static str) -> EmittedKind {
    EmittedKind { kind, group, plural, protection: Protection::ByName }
}

/// Every kind khc emits into a cluster. A kind missing here gets no
/// `managed-by` protection silently; `tests/registry.rs` fails on one.
pub const EMITTED_KINDS: &[EmittedKind] = &[
    EmittedKind { kind: "Namespace", group: "", plural: "namespaces", protection: Protection::Namespace },
    emitted("ServiceAccount", "", "serviceaccounts"),
    emitted("NetworkPolicy", "networking.k8s.io", "networkpolicies"),
    emitted("ResourceQuota", "", "resourcequotas"),
    emitted("LimitRange", "", "limitranges"),
    emitted("Role", "rbac.authorization.k8s.io", "roles"),
    emitted("RoleBinding", "rbac.authorization.k8s.io", "rolebindings"),
    emitted("ClusterRole", "rbac.authorization.k8s.io", "clusterroles"),
    emitted("ClusterRoleBinding", "rbac.authorization.k8s.io", "clusterrolebindings"),
    EmittedKind {
        kind: "ValidatingAdmissionPolicy",
        group: "admissionregistration.k8s.io",
        plural: "validatingadmissionpolicies",
        protection: Protection::Unprotectable("the API server never runs admission policies on admission policies"),
    },
    EmittedKind {
        kind: "ValidatingAdmissionPolicyBinding",
        group: "admissionregistration.k8s.io",
        plural: "validatingadmissionpolicybindings",
        protection: Protection::Unprotectable("the API server never runs admission policies on admission policy bindings"),
    },
    EmittedKind {
        kind: "FlowSchema",
        group: "flowcontrol.apiserver.k8s.io",
        plural: "flowschemas",
        protection: Protection::Unprotected(
            "API Priority and Fairness only orders requests: changing it cannot grant or widen access (protecting it is future work)",
        ),
    },
    EmittedKind {
        kind: "PriorityLevelConfiguration",
        group: "flowcontrol.apiserver.k8s.io",
        plural: "prioritylevelconfigurations",
        protection: Protection::Unprotected(
            "API Priority and Fairness only orders requests: changing it cannot grant or widen access (protecting it is future work)",
        ),
    },
    EmittedKind {
        kind: "CiliumNetworkPolicy",
        group: "cilium.io",
        plural: "ciliumnetworkpolicies",
        protection: Protection::Unprotected(
            "a custom resource that exists only with `cni cilium`: the `managed-by` policies match built-in kinds (protecting it by name is future work)",
        ),
    },
    // sigstore policy-controller's policy (`images { signed-by … }`): protected by
    // name in the tenant's `khc-managed-TENANT` policy.
    emitted("ClusterImagePolicy", "policy.sigstore.dev", "clusterimagepolicies"),
    EmittedKind {
        kind: "ClusterNetworkPolicy",
        group: "policy.networking.k8s.io",
        plural: "clusternetworkpolicies",
        protection: Protection::Unprotected("cluster-scoped: only cluster administrators may write it (protecting it by name is future work)"),
    },
];

/// The emitted kind named `kind`.
pub fn emitted_kind(kind: &str) -> Option<&'static EmittedKind> {
    EMITTED_KINDS.iter().find(|k| k.kind == kind)
}

/// The label every namespace carries with its own name (immutable).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The delete guards of the GitOps engines, set on every Namespace khc emits
/// unless the tenant lists it in `deletable-namespaces` (SPEC section 13):
/// Argo CD's resource sync options — `Delete=false` keeps the namespace when its
/// Application is deleted, `Prune=false` when it leaves the repository (the
/// Application then shows OutOfSync) — and Flux's
/// `kustomize.toolkit.fluxcd.io/prune: disabled`, which keeps it out of the
/// Kustomization's garbage collection.
pub const NAMESPACE_DELETE_GUARDS: &[(&str, &str)] =
    &[("argocd.argoproj.io/sync-options", "Delete=false,Prune=false"), ("kustomize.toolkit.fluxcd.io/prune", "disabled")];

/// The Pod Security Admission label prefix.
pub const PSA_LABEL_PREFIX: &str = "pod-security.kubernetes.io/";

/// The legacy per-container AppArmor annotation prefix (then the container name).
pub const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// Every Linux capability (without `CAP_`), and `ALL`.
pub const LINUX_CAPABILITIES: &[&str] = &[
    "ALL",
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYSLOG",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "WAKE_ALARM",
];

/// Capabilities that effectively give up container isolation.
pub const RISKY_CAPABILITIES: &[&str] = &["ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "DAC_READ_SEARCH", "BPF", "SYS_RAWIO"];

/// The capabilities Pod Security baseline lets a container add
/// (`check_capabilities_baseline.go`).
pub const PSS_BASELINE_CAPABILITIES: &[&str] =
    &["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"];

/// The only capability Pod Security restricted lets a container add.
pub const PSS_RESTRICTED_CAPABILITIES: &[&str] = &["NET_BIND_SERVICE"];

/// Every volume type of the Pod API (the fields of `Volume` besides `name`).
pub const VOLUME_TYPES: &[&str] = &[
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "gitRepo",
    "glusterfs",
    "hostPath",
    "image",
    "iscsi",
    "nfs",
    "persistentVolumeClaim",
    "photonPersistentDisk",
    "portworxVolume",
    "projected",
    "quobyte",
    "rbd",
    "scaleIO",
    "secret",
    "storageos",
    "vsphereVolume",
];

/// Volume types with known node-compromising flaws, and why: naming one is a
/// warning.
pub const RISKY_VOLUME_TYPES: &[(&str, &str)] = &[
    ("gitRepo", "gitRepo volumes run git on the node and let pods execute code there (CVE-2024-10220); clone in an init container instead"),
    ("glusterfs", CVE_2020_8555),
    ("quobyte", CVE_2020_8555),
    ("scaleIO", CVE_2020_8555),
    ("storageos", CVE_2020_8555),
    ("hostPath", "hostPath volumes expose the node's files; prefer `allowed-host-paths`"),
];

const CVE_2020_8555: &str = "this in-tree volume plugin lets pods make the node reach arbitrary addresses (CVE-2020-8555); use its CSI driver";

/// Service types.
pub const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

/// Container resources that `require-limits` and `require-requests` name.
pub const RESOURCES: &[&str] = &["cpu", "memory"];

/// The Pod Security Standards baseline's safe sysctls for Kubernetes `1.minor`
/// (`check_sysctls.go`).
pub fn pss_sysctls(minor: u32) -> Vec<String> {
    let mut out = vec![
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ping_group_range",
        "net.ipv4.tcp_syncookies",
    ];
    out.push("net.ipv4.ip_local_reserved_ports"); // 1.27
    out.extend(["net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"]); // 1.29
    if minor >= 32 {
        out.extend(["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]);
    }
    if minor >= 37 {
        out.extend(["net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"]);
    }
    let mut out: Vec<String> = out.into_iter().map(str::to_string).collect();
    out.sort();
    out
}

/// The Pod Security Standards restricted volume types for Kubernetes `1.minor`
/// (`check_restrictedVolumes.go`; `image` volumes exist from 1.31).
pub fn pss_volume_types(minor: u32) -> Vec<String> {
    let mut out = vec!["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];
    if minor >= 31 {
        out.push("image");
    }
    let mut out: Vec<String> = out.into_iter().map(str::to_string).collect();
    out.sort();
    out
}

/// The Pod Security Standards baseline SELinux types for Kubernetes `1.minor`
/// (`check_seLinuxOptions.go`; `container_engine_t` from 1.31). The empty type
/// is always allowed.
pub fn pss_selinux_types(minor: u32) -> Vec<String> {
    let mut out = vec!["container_init_t", "container_kvm_t", "container_t"];
    if minor >= 31 {
        out.push("container_engine_t");
    }
    let mut out: Vec<String> = out.into_iter().map(str::to_string).collect();
    out.sort();
    out
}

/// The first Kubernetes minor version whose API server keeps a pod's
/// `hostUsers` by default: the `UserNamespacesSupport` feature gate is alpha
/// from 1.25, beta but off in 1.30–1.32, beta and on from 1.33 and GA in 1.36
/// (`pkg/features/versioned_kube_features.go`); while it is off the field is
/// dropped before admission (`dropDisabledPodFields`).
pub const USER_NAMESPACES_DEFAULT_MINOR: u32 = 33;

/// From this minor version, Pod Security baseline allows `procMount: Unmasked`
/// in a pod with `hostUsers: false` (`check_procMount.go`, 1.35).
pub const PSS_PROC_MOUNT_USER_NAMESPACE_MINOR: u32 = 35;

/// From this minor version, Pod Security baseline forbids a `host` in probes and
/// lifecycle handlers (`check_probe_host.go`, 1.34).
pub const PSS_PROBE_HOST_MINOR: u32 = 34;

/// A Pod Security Standards level with controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PssLevel {
    /// `baseline`.
    Baseline,
    /// `restricted`.
    Restricted,
}

impl PssLevel {
    /// `baseline` or `restricted`.
    pub fn as_str(self) -> &'static str {
        match self {
            PssLevel::Baseline => "baseline",
            PssLevel::Restricted => "restricted",
        }
    }
}

/// One control of the Pod Security Standards and the parts a khc rule may
/// cover (a control is covered when every part is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PssControl {
    /// Short identifier (`host-namespaces`).
    pub id: &'static str,
    /// Title as in the Kubernetes documentation.
    pub title: &'static str,
    /// The level that introduces it.
    pub level: PssLevel,
    /// The first minor version that has it.
    pub since: u32,
    /// Its parts; one (`"all"`) for most controls.
    pub parts: &'static [&'static str],
}

const ALL: &[&str] = &["all"];

const fn control(id: &'static str, title: &'static str, level: PssLevel) -> PssControl {
    PssControl { id, title, level, since: 30, parts: ALL }
}

/// Every control, baseline first.
pub const PSS_CONTROLS: &[PssControl] = &[
    control("host-process", "HostProcess", PssLevel::Baseline),
    control("host-namespaces", "Host Namespaces", PssLevel::Baseline),
    control("privileged", "Privileged Containers", PssLevel::Baseline),
    control("capabilities-baseline", "Capabilities", PssLevel::Baseline),
    control("host-path", "HostPath Volumes", PssLevel::Baseline),
    control("host-ports", "Host Ports", PssLevel::Baseline),
    control("apparmor", "AppArmor", PssLevel::Baseline),
    PssControl { id: "selinux", title: "SELinux", level: PssLevel::Baseline, since: 30, parts: &["type", "user-role"] },
    control("proc-mount", "/proc Mount Type", PssLevel::Baseline),
    control("seccomp-baseline", "Seccomp", PssLevel::Baseline),
    control("sysctls", "Sysctls", PssLevel::Baseline),
    PssControl { id: "probe-host", title: "Probe or Lifecycle Host (1.34+)", level: PssLevel::Baseline, since: PSS_PROBE_HOST_MINOR, parts: ALL },
    control("volume-types", "Volume Types", PssLevel::Restricted),
    control("privilege-escalation", "Privilege Escalation", PssLevel::Restricted),
    control("run-as-non-root", "Running as Non-root", PssLevel::Restricted),
    control("run-as-user", "Running as Non-root user", PssLevel::Restricted),
    control("seccomp-restricted", "Seccomp", PssLevel::Restricted),
    PssControl { id: "capabilities-restricted", title: "Capabilities", level: PssLevel::Restricted, since: 30, parts: &["drop-all", "add"] },
];

/// The control named `id`.
pub fn pss_control(id: &str) -> Option<&'static PssControl> {
    PSS_CONTROLS.iter().find(|c| c.id == id)
}

/// The built-in API groups whose resources are all served at `v1` (custom rules
/// match them at `v1`, so that the API server type-checks the expression against
/// their schema; it does not for a wildcard version). Other groups (CRDs) are
/// matched at every version (`*`).
pub const V1_API_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "node.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "admissionregistration.k8s.io",
    "certificates.k8s.io",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated expressions are the ones khc has always emitted (the golden
    /// trees depend on them byte for byte).
    #[test]
    fn pod_kind_dispatch_is_stable() {
        assert_eq!(
            by_pod_kind("object", "object.spec", |p| format!("{p}.spec")),
            "object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : (object.kind == 'PodTemplate' ? object.template.spec : object.spec.template.spec))"
        );
        let r = pod_resources();
        assert_eq!(r[0], ("", vec!["pods".to_string(), "pods/ephemeralcontainers".into(), "replicationcontrollers".into(), "podtemplates".into()]));
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn controls_have_known_parts() {
        for c in PSS_CONTROLS {
            assert!(!c.parts.is_empty(), "{}", c.id);
            assert_eq!(PSS_CONTROLS.iter().filter(|o| o.id == c.id).count(), 1);
        }
    }
}
