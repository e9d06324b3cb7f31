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

use khc_rules::facts::{by_pod_kind, pod_resources};
use khc_semantics::model::RuleKind;
use std::sync::LazyLock;

pub use khc_rules::cel::{list, lit};
pub use khc_rules::facts::{pss_selinux_types, pss_sysctls, pss_volume_types};

/// The policy's variables, in evaluation order: `(name, expression)`.
pub static VARIABLES: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    vec![
        ("podSpec", POD_SPEC.clone()),
        (
            "containers",
            "variables.podSpec.containers + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : []) + (has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers : [])".into(),
        ),
        ("resourcedContainers", "variables.podSpec.containers + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])".into()),
        ("podAnnotations", POD_ANNOTATIONS.clone()),
    ]
});

/// The annotations of the pod (or of the pod template), `{}` when there are
/// none; generated from `khc_rules::facts::POD_KINDS`.
static POD_ANNOTATIONS: LazyLock<String> = LazyLock::new(|| {
    by_pod_kind("object", "(has(object.metadata.annotations) ? object.metadata.annotations : {})", |t| {
        format!("(has({t}.metadata) && has({t}.metadata.annotations) ? {t}.metadata.annotations : {{}})")
    })
});

/// The pod spec of `object`, whatever its kind (`khc_rules::facts::POD_KINDS`).
static POD_SPEC: LazyLock<String> = LazyLock::new(|| by_pod_kind("object", "object.spec", |t| format!("{t}.spec")));

/// The policy's match condition: not an UPDATE, or an UPDATE that changes the pod
/// spec (metadata-only updates, scaling and finalizer removal are not judged).
pub static SPEC_CHANGED: LazyLock<String> = LazyLock::new(|| {
    let pod = |obj: &str| by_pod_kind(obj, &format!("{obj}.spec"), str::to_string);
    format!("request.operation != 'UPDATE' || oldObject == null || ({}) != ({})", pod("object"), pod("oldObject"))
});

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

/// The resources a policy matches: `(API group, resources)`, from
/// `khc_rules::facts::POD_KINDS`.
pub static MATCHED_RESOURCES: LazyLock<Vec<(&'static str, Vec<String>)>> = LazyLock::new(pod_resources);

/// The resources of a scope's second policy (`….resources`), for the rules that
/// judge Services and PersistentVolumeClaims rather than pods.
pub static RESOURCE_MATCHED: LazyLock<Vec<(&'static str, Vec<String>)>> = LazyLock::new(|| {
    let mut out: Vec<(&'static str, Vec<String>)> = Vec::new();
    for (_, group, plural) in khc_rules::facts::RESOURCE_KINDS {
        match out.iter_mut().find(|(g, _)| g == group) {
            Some((_, r)) => r.push(plural.to_string()),
            None => out.push((group, vec![plural.to_string()])),
        }
    }
    out
});

/// The second policy's match condition: an UPDATE is judged only when it
/// changes the object's spec.
pub const RESOURCE_SPEC_CHANGED: &str =
    "request.operation != 'UPDATE' || oldObject == null || !has(object.spec) || !has(oldObject.spec) || object.spec != oldObject.spec";

/// The rules' CEL for the scope's pod policy, `None` for rules that judge only
/// Services (see [`resource_validation`]). `minor` is the cluster's Kubernetes
/// minor version, for version-dependent defaults. Each rule's CEL is in its file
/// of `khc-rules` (`compiler/rules/src/rules/`).
pub fn validation(rule: &RuleKind, minor: u32) -> Option<(String, String)> {
    rule.pod_validation(minor)
}

/// The rules' CEL for the scope's second policy (Services and
/// PersistentVolumeClaims), `None` for rules that judge only pods. The policy
/// matches both kinds and the API server type-checks every expression against
/// each, so a field of one kind is read through `dyn(…)` behind its kind guard.
pub fn resource_validation(rule: &RuleKind) -> Option<(String, String)> {
    rule.resource_validation()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated pod-kind expressions are the ones khc has always emitted.
    #[test]
    fn pod_kind_expressions_are_stable() {
        assert_eq!(
            *SPEC_CHANGED,
            "request.operation != 'UPDATE' || oldObject == null || (object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template : (object.kind == 'PodTemplate' ? object.template : object.spec.template))) != (oldObject.kind == 'Pod' ? oldObject.spec : (oldObject.kind == 'CronJob' ? oldObject.spec.jobTemplate.spec.template : (oldObject.kind == 'PodTemplate' ? oldObject.template : oldObject.spec.template)))"
        );
        assert_eq!(
            *POD_ANNOTATIONS,
            "object.kind == 'Pod' ? (has(object.metadata.annotations) ? object.metadata.annotations : {}) : (object.kind == 'CronJob' ? (has(object.spec.jobTemplate.spec.template.metadata) && has(object.spec.jobTemplate.spec.template.metadata.annotations) ? object.spec.jobTemplate.spec.template.metadata.annotations : {}) : (object.kind == 'PodTemplate' ? (has(object.template.metadata) && has(object.template.metadata.annotations) ? object.template.metadata.annotations : {}) : (has(object.spec.template.metadata) && has(object.spec.template.metadata.annotations) ? object.spec.template.metadata.annotations : {})))"
        );
    }
}
