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
];

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
            "!has(variables.podSpec.automountServiceAccountToken) || variables.podSpec.automountServiceAccountToken == false || (has(variables.podSpec.serviceAccountName) && variables.podSpec.serviceAccountName in {})",
            list(mounting)
        ),
        format!("automountServiceAccountToken: true is not allowed here: {who} mount the API token (declare `automount-token true` on the workload)"),
    )
}

/// The resources a policy matches: `(API group, resources)`.
pub const MATCHED_RESOURCES: &[(&str, &[&str])] = &[
    ("", &["pods", "pods/ephemeralcontainers", "replicationcontrollers", "podtemplates"]),
    ("apps", &["deployments", "replicasets", "statefulsets", "daemonsets"]),
    ("batch", &["jobs", "cronjobs"]),
];

/// Quotes a string as a CEL single-quoted literal.
fn lit(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| lit(s)).collect();
    format!("[{}]", inner.join(", "))
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

/// The CEL expression and message for a rule.
pub fn validation(rule: &RuleKind) -> (String, String) {
    match rule {
        RuleKind::RequireLimits(res) | RuleKind::RequireRequests(res) => {
            let key = if matches!(rule, RuleKind::RequireLimits(_)) { "limits" } else { "requests" };
            let checks: Vec<String> = res.iter().map(|r| format!("{} in c.resources.{key}", lit(r))).collect();
            (
                format!("variables.resourcedContainers.all(c, has(c.resources) && has(c.resources.{key}) && {})", checks.join(" && ")),
                format!("every container must set resources.{key} for {}", res.join(" and ")),
            )
        }
        RuleKind::NoLatestTag => (
            "variables.containers.all(c, c.image.matches('@sha256:[a-f0-9]{64}$') || (c.image.matches(':[^:/]+$') && !c.image.endsWith(':latest')))".into(),
            "images must be pinned to a tag other than 'latest' or to a digest".into(),
        ),
        RuleKind::AllowedRegistries(prefixes) => (
            format!("variables.containers.all(c, {}.exists(r, c.image.startsWith(r)))", list(prefixes)),
            format!("images must come from: {}", prefixes.join(", ")),
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
            "!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, !has(v.hostPath) || !(v.hostPath.path.matches('^/*(var/*)?(run/*)?$') || v.hostPath.path.matches('/(docker|containerd|crio)(\\\\.sock)?/*$')))".into(),
            "mounting the container runtime socket (docker, containerd, CRI-O) or /var/run is not allowed".into(),
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
                    list(caps)
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
    }
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
        let (e, _) = validation(&RuleKind::MinUid(1000));
        assert!(e.contains("c.securityContext.runAsUser >= 1000"));
        assert!(e.contains("variables.podSpec.securityContext.runAsUser >= 1000"));
    }
}
