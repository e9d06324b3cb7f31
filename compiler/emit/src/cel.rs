//! CEL for ValidatingAdmissionPolicies: one expression per admission rule.
//!
//! Every expression reads the pod spec through variables, so the same rule judges
//! Pods (including the `pods/ephemeralcontainers` subresource that `kubectl debug`
//! uses) and the pod templates of Deployments, ReplicaSets, StatefulSets,
//! DaemonSets, Jobs, CronJobs, ReplicationControllers and PodTemplates:
//! * `variables.podSpec` — the pod spec of the object;
//! * `variables.containers` — its containers, init containers and ephemeral
//!   containers (every container that runs);
//! * `variables.resourcedContainers` — containers and init containers, the ones
//!   that may declare resources and ports (ephemeral containers may not).
//!
//! Expressions are true when the object complies.

use khc_semantics::model::RuleKind;

/// The policy's variables, in evaluation order: `(name, expression)`.
pub const VARIABLES: &[(&str, &str)] = &[
    ("podSpec", POD_SPEC),
    (
        "containers",
        "variables.podSpec.containers + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : []) + (has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers : [])",
    ),
    ("resourcedContainers", "variables.podSpec.containers + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])"),
    ("podAnnotations", POD_ANNOTATIONS),
];

/// The annotations of the pod (or of the pod template), `{}` when there are none.
const POD_ANNOTATIONS: &str = "object.kind == 'Pod' ? (has(object.metadata.annotations) ? object.metadata.annotations : {}) : (object.kind == 'CronJob' ? (has(object.spec.jobTemplate.spec.template.metadata) && has(object.spec.jobTemplate.spec.template.metadata.annotations) ? object.spec.jobTemplate.spec.template.metadata.annotations : {}) : (object.kind == 'PodTemplate' ? (has(object.template.metadata) && has(object.template.metadata.annotations) ? object.template.metadata.annotations : {}) : (has(object.spec.template.metadata) && has(object.spec.template.metadata.annotations) ? object.spec.template.metadata.annotations : {})))";

/// The pod spec of `object`, whatever its kind.
const POD_SPEC: &str = "object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : (object.kind == 'PodTemplate' ? object.template.spec : object.spec.template.spec))";

/// The policy's match condition: not an UPDATE, or an UPDATE that changes the pod
/// spec (metadata-only updates, scaling and finalizer removal are not judged).
pub const SPEC_CHANGED: &str = "request.operation != 'UPDATE' || oldObject == null || (object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template : (object.kind == 'PodTemplate' ? object.template : object.spec.template))) != (oldObject.kind == 'Pod' ? oldObject.spec : (oldObject.kind == 'CronJob' ? oldObject.spec.jobTemplate.spec.template : (oldObject.kind == 'PodTemplate' ? oldObject.template : oldObject.spec.template)))";

/// The rule every tenant policy has: a pod mounts its API token only as one of
/// the workloads declared with `automount-token true` (`mounting`).
pub fn token_validation(mounting: &[String]) -> (String, String) {
    let who = if mounting.is_empty() { "no workload of this tenant may".to_string() } else { format!("only workloads {} may", mounting.join(", ")) };
    (
        format!(
            "(has(variables.podSpec.serviceAccountName) && variables.podSpec.serviceAccountName in {}) || ((!has(variables.podSpec.automountServiceAccountToken) || variables.podSpec.automountServiceAccountToken == false) && (!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, !has(v.projected) || !has(v.projected.sources) || v.projected.sources.all(p, !has(p.serviceAccountToken)))))",
            list(mounting)
        ),
        format!("automountServiceAccountToken: true and projected serviceAccountToken volumes are not allowed here: {who} mount the API token (declare `automount-token true` on the workload)"),
    )
}

/// The taints Kubernetes itself tolerates on every pod: the DefaultTolerationSeconds
/// admission plugin adds `node.kubernetes.io/not-ready` and
/// `node.kubernetes.io/unreachable` with effect NoExecute.
pub const DEFAULT_TOLERATIONS: &[&str] = &["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"];

/// The node-condition taints the DaemonSet controller tolerates (effect
/// NoSchedule) on the pods it creates (`AddOrUpdateDaemonPodTolerations`): they
/// say nothing about which tenant a node belongs to.
pub const DAEMONSET_TOLERATIONS: &[&str] = &[
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/network-unavailable",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/unschedulable",
];

/// The tenant's node isolation: every nodeSelector pair of `selector` present,
/// and every toleration one of `tolerations` (key and value; `None` = any value),
/// a default NoExecute toleration or a DaemonSet pod's NoSchedule one.
pub fn nodes_validation(selector: &std::collections::BTreeMap<String, String>, tolerations: &[(String, Option<String>)]) -> (String, String) {
    let mut checks: Vec<String> = selector
        .iter()
        .map(|(k, v)| {
            format!(
                "(has(variables.podSpec.nodeSelector) && {k} in variables.podSpec.nodeSelector && variables.podSpec.nodeSelector[{k}] == {v})",
                k = lit(k),
                v = lit(v)
            )
        })
        .collect();
    let strings = |keys: &[&str]| list(&keys.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let mut allowed: Vec<String> = vec![
        format!("(has(t.key) && t.key in {} && has(t.effect) && t.effect == 'NoExecute')", strings(DEFAULT_TOLERATIONS)),
        format!("(has(t.key) && t.key in {} && has(t.effect) && t.effect == 'NoSchedule')", strings(DAEMONSET_TOLERATIONS)),
    ];
    for (k, v) in tolerations {
        allowed.push(match v {
            None => format!("(has(t.key) && t.key == {})", lit(k)),
            Some(v) => format!("(has(t.key) && t.key == {} && (!has(t.operator) || t.operator == 'Equal') && has(t.value) && t.value == {})", lit(k), lit(v)),
        });
    }
    checks.push(format!("(!has(variables.podSpec.tolerations) || variables.podSpec.tolerations.all(t, {}))", allowed.join(" || ")));
    let pairs: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let taints: Vec<String> = tolerations.iter().map(|(k, v)| v.as_ref().map_or(k.clone(), |v| format!("{k}={v}"))).collect();
    let mut message = String::from("pods of this tenant");
    if !pairs.is_empty() {
        message.push_str(&format!(" must set nodeSelector {}", pairs.join(", ")));
        message.push_str(" and");
    }
    if taints.is_empty() {
        message.push_str(" may tolerate no taints");
    } else {
        message.push_str(&format!(" may tolerate only {}", taints.join(", ")));
    }
    (checks.join(" && "), message)
}

/// Whether a node label key is one every node carries (`kubernetes.io/…`,
/// `topology.kubernetes.io/zone`, …): selecting it says nothing about a tenant's nodes.
pub fn shared_node_label(key: &str) -> bool {
    let domain = key.split_once('/').map_or("", |(d, _)| d);
    domain == "kubernetes.io" || domain.ends_with(".kubernetes.io") || domain == "k8s.io" || domain.ends_with(".k8s.io")
}

/// What every other namespace (other tenants', unmanaged ones; not the system
/// namespaces) is refused once a tenant declares `nodes` (`khc-nodes-TENANT`):
/// `(expression, message)` pairs — tolerating the tenant's taints or every taint
/// (a keyless `Exists`), selecting its node labels (nodeSelector or a required
/// node affinity term), and naming a node (`nodeName`, which skips the scheduler;
/// the kubelet then checks only NoExecute taints) except on pods the kubelets
/// create (mirror pods) and on UPDATEs of a pod (the scheduler binds through
/// `pods/binding`).
pub fn nodes_outside_validations(
    tenant: &str,
    selector: &std::collections::BTreeMap<String, String>,
    tolerations: &[(String, Option<String>)],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut tolerated = vec!["((!has(t.key) || t.key == '') && has(t.operator) && t.operator == 'Exists')".to_string()];
    for (k, v) in tolerations {
        tolerated.push(match v {
            None => format!("(has(t.key) && t.key == {})", lit(k)),
            Some(v) => {
                format!("(has(t.key) && t.key == {} && ((has(t.operator) && t.operator == 'Exists') || (has(t.value) && t.value == {})))", lit(k), lit(v))
            }
        });
    }
    let taints: Vec<String> = tolerations.iter().map(|(k, v)| v.as_ref().map_or(k.clone(), |v| format!("{k}={v}"))).collect();
    out.push((
        format!("!has(variables.podSpec.tolerations) || variables.podSpec.tolerations.all(t, !({}))", tolerated.join(" || ")),
        if taints.is_empty() {
            "a toleration without a key tolerates every taint, tenants' dedicated nodes included".to_string()
        } else {
            format!("tolerating tenant {tenant}'s taints ({}) or every taint (a toleration without a key) is not allowed outside the tenant", taints.join(", "))
        },
    ));
    let own: Vec<(&String, &String)> = selector.iter().filter(|(k, _)| !shared_node_label(k)).collect();
    if !own.is_empty() {
        let in_selector: Vec<String> = own
            .iter()
            .map(|(k, v)| format!("({k} in variables.podSpec.nodeSelector && variables.podSpec.nodeSelector[{k}] == {v})", k = lit(k), v = lit(v)))
            .collect();
        let in_term: Vec<String> =
            own.iter().map(|(k, v)| format!("(e.key == {} && e.operator == 'In' && has(e.values) && {} in e.values)", lit(k), lit(v))).collect();
        let pairs: Vec<String> = own.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push((
            format!(
                "!(has(variables.podSpec.nodeSelector) && ({})) && !(has(variables.podSpec.affinity) && has(variables.podSpec.affinity.nodeAffinity) && has(variables.podSpec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution) && variables.podSpec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.exists(term, has(term.matchExpressions) && term.matchExpressions.exists(e, {})))",
                in_selector.join(" || "),
                in_term.join(" || ")
            ),
            format!("selecting tenant {tenant}'s nodes ({}) is not allowed outside the tenant", pairs.join(", ")),
        ));
    }
    out.push((
        "!has(variables.podSpec.nodeName) || variables.podSpec.nodeName == '' || (object.kind == 'Pod' && request.operation != 'CREATE') || (has(request.userInfo.groups) && 'system:nodes' in request.userInfo.groups)".to_string(),
        "pods may not name their node (nodeName): it skips the scheduler and, on a tenant's dedicated node, every taint but NoExecute".to_string(),
    ));
    out
}

/// The resources a policy matches: `(API group, resources)`.
pub const MATCHED_RESOURCES: &[(&str, &[&str])] = &[
    ("", &["pods", "pods/ephemeralcontainers", "replicationcontrollers", "podtemplates"]),
    ("apps", &["deployments", "replicasets", "statefulsets", "daemonsets"]),
    ("batch", &["jobs", "cronjobs"]),
];

/// The resources of a scope's second policy (`….resources`), for the rules that
/// judge Services and PersistentVolumeClaims rather than pods.
pub const RESOURCE_MATCHED: &[(&str, &[&str])] = &[("", &["services", "persistentvolumeclaims"])];

/// The second policy's match condition: an UPDATE is judged only when it
/// changes the object's spec.
pub const RESOURCE_SPEC_CHANGED: &str =
    "request.operation != 'UPDATE' || oldObject == null || !has(object.spec) || !has(oldObject.spec) || object.spec != oldObject.spec";

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

/// The hostPath `v`'s path, normalised: `//` collapsed, `.` segments and the
/// trailing `/` removed (`/` stays `/`). A `..` segment is rejected separately.
const NORMALISED_PATH: &str = "('/' + v.hostPath.path.split('/').filter(s, s != '' && s != '.').join('/'))";

/// The hostPath `v`'s path has no `..` segment (the API server rejects one too).
const NO_BACKSTEPS: &str = "!v.hostPath.path.split('/').exists(s, s == '..')";

/// Normalised paths that are a parent of every runtime socket: `/`, `/var`,
/// `/run`, `/var/run`, `/run/user[/UID]` — and anything under `/proc`, whose
/// `/proc/PID/root` and `/proc/PID/cwd` reach the host's root from any depth.
/// Also the runtime directories of distributions whose socket files need no
/// runtime name in their path's parents: MicroK8s (`/var/snap/microk8s/common/run`),
/// k0s (`/run/k0s`), and the image and container storage of CRI-O and Podman
/// (`/var/lib/containers`, and below it).
const RUNTIME_ANCESTORS: &str =
    "^(/|/var|/run|/var/run|(/var)?/run/user(/[^/]+)?|/proc(/.*)?|/var/snap(/microk8s(/common(/run)?)?)?|/run/k0s(/.*)?|/var/lib/containers(/.*)?)$";

/// The named pipes of the Windows runtimes (`\\.\pipe\docker_engine`,
/// `\\.\pipe\containerd-containerd`), in either separator, any case.
const WINDOWS_PIPES: &str = "(?i)^[/\\\\\\\\]{2}[.?][/\\\\\\\\]pipe[/\\\\\\\\](docker_engine|containerd-containerd)$";

/// Normalised paths naming a container runtime's socket or directory anywhere.
const RUNTIME_PATHS: &str = "(^|/)(docker|dockerd|cri-dockerd|dockershim|containerd|crio|cri-o|podman|k3s)(\\\\.sock)?(/|$)";

/// The annotation Kubernetes reads before `storageClassName` (the PersistentVolume
/// controller's `GetPersistentVolumeClaimClass`).
pub const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// The storage class of the claim (or claim template) `c` is in the CEL list `l`:
/// the beta annotation when present, else `spec.storageClassName` (unset is
/// denied). `template`: the claim's `metadata` may be absent.
fn claim_class_in(c: &str, template: bool, l: &str) -> String {
    let meta = if template { format!("has({c}.metadata) && has({c}.metadata.annotations)") } else { format!("has({c}.metadata.annotations)") };
    format!(
        "(({meta} && '{BETA_STORAGE_CLASS}' in {c}.metadata.annotations) ? {c}.metadata.annotations['{BETA_STORAGE_CLASS}'] in {l} : (has({c}.spec.storageClassName) && {c}.spec.storageClassName in {l}))"
    )
}

/// Every image volume (`volumes[].image.reference`, Kubernetes 1.31+) satisfies
/// `test` (written against `@REF@`, the reference); read through `dyn` so that the
/// expression type-checks on servers whose schema has no image volumes.
fn image_volumes(test: &str) -> String {
    let test = test.replace("@REF@", "dyn(v).image.reference");
    format!("(!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, !has(dyn(v).image) || !has(dyn(v).image.reference) || ({test})))")
}

/// Quotes a string as a CEL single-quoted literal (quotes, backslashes and
/// control characters escaped; the value is unchanged).
pub(crate) fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A CEL list of string literals.
pub(crate) fn list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| lit(s)).collect::<Vec<_>>().join(", "))
}

/// Each capability in both spellings the runtimes accept (`CHOWN`, `CAP_CHOWN`).
fn with_cap_prefix(caps: &[String]) -> Vec<String> {
    let mut out: Vec<String> = caps.iter().flat_map(|c| [c.clone(), format!("CAP_{c}")]).collect();
    out.sort();
    out
}

/// `has(c.securityContext) && has(c.securityContext.FIELD)` — the container sets FIELD.
fn sets(field: &str) -> String {
    format!("has(c.securityContext) && has(c.securityContext.{field})")
}

/// The pod-level security context sets FIELD.
fn pod_sets(field: &str) -> String {
    format!("has(variables.podSpec.securityContext) && has(variables.podSpec.securityContext.{field})")
}

/// The effective value of a security-context field (container overrides pod)
/// satisfies `test` (written against `X`).
fn effective(field: &str, test: &str) -> String {
    let container = test.replace('X', &format!("c.securityContext.{field}"));
    let pod = test.replace('X', &format!("variables.podSpec.securityContext.{field}"));
    format!("variables.containers.all(c, ({}) ? {container} : ({} && {pod}))", sets(field), pod_sets(field))
}

/// `X` (a security context) sets `FIELD` to something other than `""`.
fn set_nonempty(x: &str, field: &str) -> String {
    format!("has({x}.{field}) && {x}.{field} != ''")
}

/// The pod-level security context and every container's satisfy `test`
/// (written against `X`, the security context); unset contexts pass.
fn pod_and_containers(test: &str) -> String {
    let pod = test.replace('X', "variables.podSpec.securityContext");
    let container = test.replace('X', "c.securityContext");
    format!("(!has(variables.podSpec.securityContext) || ({pod})) && variables.containers.all(c, !has(c.securityContext) || ({container}))")
}

/// A probe or lifecycle handler at `h` names no host.
fn no_host(h: &str) -> String {
    format!("(!has({h}.httpGet) || !has({h}.httpGet.host) || {h}.httpGet.host == '') && (!has({h}.tcpSocket) || !has({h}.tcpSocket.host) || {h}.tcpSocket.host == '')")
}

/// The rules' CEL for the scope's pod policy, `None` for rules that judge only
/// Services or PersistentVolumeClaims (see [`resource_validation`]). `minor` is
/// the cluster's Kubernetes minor version, for version-dependent defaults.
pub fn validation(rule: &RuleKind, minor: u32) -> Option<(String, String)> {
    Some(match rule {
        RuleKind::NoExternalIps | RuleKind::AllowedServiceTypes(_) => return None,
        RuleKind::DropAllCapabilities => (
            format!("variables.containers.all(c, {} && has(c.securityContext.capabilities.drop) && 'ALL' in c.securityContext.capabilities.drop)", sets("capabilities")),
            "every container must drop all capabilities (securityContext.capabilities.drop: [ALL])".into(),
        ),
        RuleKind::AppArmorRuntimeDefault => {
            let ok = "X.type in ['RuntimeDefault', 'Localhost']";
            let pod_ok = format!("(!({}) || {})", pod_sets("appArmorProfile"), ok.replace('X', "variables.podSpec.securityContext.appArmorProfile"));
            let annotations = "variables.podAnnotations.all(k, !k.startsWith('container.apparmor.security.beta.kubernetes.io/') || variables.podAnnotations[k] == 'runtime/default' || variables.podAnnotations[k].startsWith('localhost/'))";
            let containers = format!(
                "variables.containers.all(c, ({}) ? {} : (({}) || ('container.apparmor.security.beta.kubernetes.io/' + c.name) in variables.podAnnotations))",
                sets("appArmorProfile"),
                ok.replace('X', "c.securityContext.appArmorProfile"),
                pod_sets("appArmorProfile")
            );
            (
                format!("{pod_ok} && {annotations} && {containers}"),
                "the AppArmor profile must be RuntimeDefault or Localhost (set securityContext.appArmorProfile)".into(),
            )
        }
        RuleKind::AllowedSysctls(names) => {
            let names = names.clone().unwrap_or_else(|| pss_sysctls(minor));
            (
                format!("!({}) || variables.podSpec.securityContext.sysctls.all(s, s.name in {})", pod_sets("sysctls"), list(&names)),
                if names.is_empty() { "sysctls are not allowed".into() } else { format!("only these sysctls may be set: {}", names.join(", ")) },
            )
        }
        RuleKind::NoUnmaskedProcMount => (
            format!("variables.containers.all(c, !({}) || c.securityContext.procMount == 'Default')", sets("procMount")),
            "securityContext.procMount must be unset or Default".into(),
        ),
        RuleKind::AllowedSelinuxTypes(types) => {
            let types = types.clone().unwrap_or_else(|| pss_selinux_types(minor));
            let mut allowed = vec![String::new()];
            allowed.extend(types.iter().cloned());
            (
                pod_and_containers(&format!("!has(X.seLinuxOptions) || !has(X.seLinuxOptions.type) || X.seLinuxOptions.type in {}", list(&allowed))),
                format!("seLinuxOptions.type must be unset or one of: {}", types.join(", ")),
            )
        }
        RuleKind::NoSelinuxOverrides => (
            pod_and_containers(&format!(
                "!has(X.seLinuxOptions) || (!({}) && !({}))",
                set_nonempty("X.seLinuxOptions", "user"),
                set_nonempty("X.seLinuxOptions", "role")
            )),
            "seLinuxOptions.user and seLinuxOptions.role must not be set".into(),
        ),
        RuleKind::NoHostProcess => (
            pod_and_containers("!has(X.windowsOptions) || !has(X.windowsOptions.hostProcess) || X.windowsOptions.hostProcess == false"),
            "Windows hostProcess containers are not allowed".into(),
        ),
        RuleKind::NoHostProbes => {
            let probes: Vec<String> = ["livenessProbe", "readinessProbe", "startupProbe"].iter().map(|p| format!("(!has(c.{p}) || ({}))", no_host(&format!("c.{p}")))).collect();
            let hooks: Vec<String> =
                ["postStart", "preStop"].iter().map(|p| format!("(!has(c.lifecycle.{p}) || ({}))", no_host(&format!("c.lifecycle.{p}")))).collect();
            (
                format!("variables.containers.all(c, {} && (!has(c.lifecycle) || ({})))", probes.join(" && "), hooks.join(" && ")),
                "probes and lifecycle handlers must not set httpGet.host or tcpSocket.host".into(),
            )
        }
        RuleKind::AllowedVolumeTypes(types) => {
            let types = types.clone().unwrap_or_else(|| pss_volume_types(minor));
            let any: Vec<String> = types.iter().map(|t| format!("has(v.{t})")).collect();
            let any = if any.is_empty() { "false".to_string() } else { any.join(" || ") };
            (
                format!("!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, {any})"),
                if types.is_empty() { "volumes are not allowed".into() } else { format!("only these volume types are allowed: {}", types.join(", ")) },
            )
        }
        RuleKind::AllowedHostPaths { prefixes, readonly } => {
            let under = if prefixes.iter().any(|p| p == "/") {
                "true".to_string()
            } else {
                format!("{}.exists(p, {NORMALISED_PATH} == p || {NORMALISED_PATH}.startsWith(p + '/'))", list(prefixes))
            };
            let ro = if *readonly {
                " && variables.containers.all(c, !has(c.volumeMounts) || c.volumeMounts.all(m, m.name != v.name || (has(m.readOnly) && m.readOnly == true)))"
            } else {
                ""
            };
            (
                format!("!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, !has(v.hostPath) || ({NO_BACKSTEPS} && {under}{ro}))"),
                format!("hostPath volumes must lie under {}{}", prefixes.join(", "), if *readonly { " and be mounted readOnly: true" } else { "" }),
            )
        }
        RuleKind::RunAsGroup => (effective("runAsGroup", "X != 0"), "containers must run with a non-zero securityContext.runAsGroup".into()),
        RuleKind::MinGid(n) => (effective("runAsGroup", &format!("X >= {n}")), format!("containers must run with securityContext.runAsGroup >= {n}")),
        RuleKind::RequireFsGroup => (pod_sets("fsGroup"), "the pod must set securityContext.fsGroup".into()),
        RuleKind::MinFsGroup(n) => (
            format!("{} && variables.podSpec.securityContext.fsGroup >= {n}", pod_sets("fsGroup")),
            format!("the pod must set securityContext.fsGroup >= {n}"),
        ),
        RuleKind::NoRootGroups => (
            format!(
                "(!({}) || variables.podSpec.securityContext.runAsGroup != 0) && (!({}) || variables.podSpec.securityContext.fsGroup != 0) && (!({}) || variables.podSpec.securityContext.supplementalGroups.all(g, g != 0)) && variables.containers.all(c, !({}) || c.securityContext.runAsGroup != 0)",
                pod_sets("runAsGroup"),
                pod_sets("fsGroup"),
                pod_sets("supplementalGroups"),
                sets("runAsGroup")
            ),
            "runAsGroup, fsGroup and supplementalGroups must not be 0 (root)".into(),
        ),
        RuleKind::NoDefaultServiceAccount => (
            "has(variables.podSpec.serviceAccountName) && variables.podSpec.serviceAccountName != '' && variables.podSpec.serviceAccountName != 'default'".into(),
            "pods must run as their own ServiceAccount, not `default` (set serviceAccountName)".into(),
        ),
        RuleKind::AllowedRuntimeClasses(names) => (
            format!("has(variables.podSpec.runtimeClassName) && variables.podSpec.runtimeClassName in {}", list(names)),
            format!("runtimeClassName must be one of: {}", names.join(", ")),
        ),
        RuleKind::AllowedStorageClasses(names) => (
            format!(
                "(!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, !has(v.ephemeral) || (has(v.ephemeral.volumeClaimTemplate) && {e}))) && (object.kind != 'StatefulSet' || !has(dyn(object).spec.volumeClaimTemplates) || dyn(object).spec.volumeClaimTemplates.all(t, {t}))",
                e = claim_class_in("v.ephemeral.volumeClaimTemplate", true, &list(names)),
                t = claim_class_in("t", true, &list(names)),
            ),
            format!("volume claims must name a storage class: {}", names.join(", ")),
        ),
        RuleKind::RequireLimits(res) | RuleKind::RequireRequests(res) => {
            let key = if matches!(rule, RuleKind::RequireLimits(_)) { "limits" } else { "requests" };
            let checks: Vec<String> = res.iter().map(|r| format!("{} in c.resources.{key}", lit(r))).collect();
            (
                format!("variables.resourcedContainers.all(c, has(c.resources) && has(c.resources.{key}) && {})", checks.join(" && ")),
                format!("every container must set resources.{key} for {}", res.join(" and ")),
            )
        }
        RuleKind::NoLatestTag => (
            format!(
                "variables.containers.all(c, c.image.matches('@sha256:[a-f0-9]{{64}}$') || (c.image.matches(':[^:/]+$') && !c.image.endsWith(':latest'))) && {}",
                image_volumes("@REF@.matches('@sha256:[a-f0-9]{64}$') || (@REF@.matches(':[^:/]+$') && !@REF@.endsWith(':latest'))")
            ),
            "images (of containers and image volumes) must be pinned to a tag other than 'latest' or to a digest".into(),
        ),
        RuleKind::AllowedRegistries(prefixes) => (
            format!(
                "variables.containers.all(c, {l}.exists(r, c.image.startsWith(r))) && {}",
                image_volumes(&format!("{l}.exists(p, @REF@.startsWith(p))", l = list(prefixes))),
                l = list(prefixes)
            ),
            format!("images (of containers and image volumes) must come from: {}", prefixes.join(", ")),
        ),
        RuleKind::ReadOnlyRootFs => (
            format!("variables.containers.all(c, {} && c.securityContext.readOnlyRootFilesystem == true)", sets("readOnlyRootFilesystem")),
            "every container must set securityContext.readOnlyRootFilesystem: true".into(),
        ),
        RuleKind::SeccompRuntimeDefault => (
            effective("seccompProfile", "X.type in ['RuntimeDefault', 'Localhost']"),
            "the seccomp profile must be RuntimeDefault or Localhost (set securityContext.seccompProfile)".into(),
        ),
        RuleKind::NoHostNamespaces => (
            "!(has(variables.podSpec.hostNetwork) && variables.podSpec.hostNetwork) && !(has(variables.podSpec.hostPID) && variables.podSpec.hostPID) && !(has(variables.podSpec.hostIPC) && variables.podSpec.hostIPC)".into(),
            "hostNetwork, hostPID and hostIPC are not allowed".into(),
        ),
        RuleKind::NoHostPorts => (
            "variables.containers.all(c, !has(c.ports) || c.ports.all(p, !has(p.hostPort) || p.hostPort == 0))".into(),
            "hostPort is not allowed".into(),
        ),
        RuleKind::NoHostPath => (
            "!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, !has(v.hostPath))".into(),
            "hostPath volumes are not allowed".into(),
        ),
        RuleKind::NoDockerSocket => (
            format!(
                "!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, !has(v.hostPath) || ({NO_BACKSTEPS} && !{NORMALISED_PATH}.matches('{RUNTIME_ANCESTORS}') && !{NORMALISED_PATH}.matches('{RUNTIME_PATHS}') && !v.hostPath.path.matches('{WINDOWS_PIPES}')))"
            ),
            "mounting a container runtime socket or directory (docker, cri-dockerd, containerd, CRI-O, Podman, /run, /var/run) or a parent of one is not allowed".into(),
        ),
        RuleKind::NoPrivileged => (
            format!("variables.containers.all(c, !({}) || c.securityContext.privileged == false)", sets("privileged")),
            "privileged containers are not allowed".into(),
        ),
        RuleKind::NoPrivilegeEscalation => (
            format!("variables.containers.all(c, {} && c.securityContext.allowPrivilegeEscalation == false)", sets("allowPrivilegeEscalation")),
            "every container must set securityContext.allowPrivilegeEscalation: false".into(),
        ),
        RuleKind::AllowedCapabilities(caps) => {
            let message = if caps.is_empty() {
                "adding capabilities is not allowed".to_string()
            } else {
                format!("only these capabilities may be added: {}", caps.join(", "))
            };
            (
                format!(
                    "variables.containers.all(c, !({} && has(c.securityContext.capabilities.add)) || c.securityContext.capabilities.add.all(cap, cap in {}))",
                    sets("capabilities"),
                    list(&with_cap_prefix(caps))
                ),
                message,
            )
        }
        RuleKind::RunAsNonRoot => (
            effective("runAsNonRoot", "X == true"),
            "containers must run as non-root (securityContext.runAsNonRoot: true)".into(),
        ),
        RuleKind::MinUid(n) => (
            effective("runAsUser", &format!("X >= {n}")),
            format!("containers must run with securityContext.runAsUser >= {n}"),
        ),
    })
}

/// The rules' CEL for the scope's second policy (Services and
/// PersistentVolumeClaims), `None` for rules that judge only pods. The policy
/// matches both kinds and the API server type-checks every expression against
/// each, so a field of one kind is read through `dyn(…)` behind its kind guard.
pub fn resource_validation(rule: &RuleKind) -> Option<(String, String)> {
    Some(match rule {
        RuleKind::NoExternalIps => (
            "object.kind != 'Service' || !has(dyn(object.spec).externalIPs) || size(dyn(object.spec).externalIPs) == 0".into(),
            "Services must not set externalIPs (CVE-2020-8554)".into(),
        ),
        RuleKind::AllowedServiceTypes(types) => (
            format!("object.kind != 'Service' || (has(dyn(object.spec).type) ? dyn(object.spec).type : 'ClusterIP') in {}", list(types)),
            format!("Service type must be one of: {}", types.join(", ")),
        ),
        RuleKind::AllowedStorageClasses(names) => (
            format!("object.kind != 'PersistentVolumeClaim' || {}", claim_class_in("dyn(object)", false, &list(names))),
            format!("PersistentVolumeClaims must name a storage class: {}", names.join(", ")),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped() {
        assert_eq!(lit("a'b\\c"), "'a\\'b\\\\c'");
    }

    #[test]
    fn effective_prefers_container_then_pod() {
        let (e, _) = validation(&RuleKind::MinUid(1000), 31).unwrap();
        assert!(e.contains("c.securityContext.runAsUser >= 1000"));
        assert!(e.contains("variables.podSpec.securityContext.runAsUser >= 1000"));
    }
}
