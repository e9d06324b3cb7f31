//! The cluster as it is: objects read from a `kubectl get … -A -o yaml` dump
//! (or an API server), merged with khc's intent so that the answers cover what is
//! live too, and compared with it (`khc audit-live`).
//!
//! A live object that khc emits unchanged (same kind, namespace and name, same
//! rules, subjects, role, policy spec and Pod Security labels) is khc's and is not
//! counted twice; every other live object of the kinds the evaluators read joins
//! the workspace with the source `live KIND NS/NAME`, so each reason says which
//! side it comes from.

use crate::manifest::Manifest;
use crate::{Object, Workspace, ANALYSED_KINDS, SOURCE_ANNOTATION};
use serde_json::Value;

/// The prefix of a live object's source (`live RoleBinding payments/legacy-edit`).
pub const LIVE_PREFIX: &str = "live ";

/// `live KIND NS/NAME` (or `live KIND NAME` when cluster-scoped).
pub fn live_source(v: &Value) -> String {
    let kind = v["kind"].as_str().unwrap_or("?");
    let name = v["metadata"]["name"].as_str().unwrap_or("?");
    match v["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() => format!("{LIVE_PREFIX}{kind} {ns}/{name}"),
        _ => format!("{LIVE_PREFIX}{kind} {name}"),
    }
}

fn pod_security_labels(v: &Value) -> Vec<(String, String)> {
    v["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("pod-security.kubernetes.io/"))
        .map(|(k, x)| (k.clone(), x.as_str().unwrap_or("").to_string()))
        .collect()
}

/// How a live object differs from khc's object of the same identity, in the
/// fields that decide the posture (empty: the same). API server defaults
/// (`policyTypes`, `failurePolicy`…) are not differences.
pub fn differences(emitted: &Value, live: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut cmp = |what: &str, a: &Value, b: &Value| {
        if !same(a, b) {
            out.push(what.to_string());
        }
    };
    match emitted["kind"].as_str().unwrap_or("") {
        "Role" | "ClusterRole" => {
            cmp("rules", &normal_rules(&emitted["rules"]), &normal_rules(&live["rules"]));
            cmp("aggregationRule", &emitted["aggregationRule"], &live["aggregationRule"]);
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            cmp("roleRef", &emitted["roleRef"], &live["roleRef"]);
            cmp("subjects", &emitted["subjects"], &live["subjects"]);
        }
        "NetworkPolicy" => {
            for k in ["podSelector", "ingress", "egress"] {
                cmp(k, &emitted["spec"][k], &live["spec"][k]);
            }
        }
        "Namespace" if pod_security_labels(emitted) != pod_security_labels(live) => out.push("Pod Security labels".into()),
        "ServiceAccount" => cmp("automountServiceAccountToken", &emitted["automountServiceAccountToken"], &live["automountServiceAccountToken"]),
        "ValidatingAdmissionPolicy" => {
            cmp("validations", &emitted["spec"]["validations"], &live["spec"]["validations"]);
            cmp("matchConditions", &emitted["spec"]["matchConditions"], &live["spec"]["matchConditions"]);
            cmp("matchConstraints", &emitted["spec"]["matchConstraints"], &live["spec"]["matchConstraints"]);
        }
        "ValidatingAdmissionPolicyBinding" => {
            cmp("policyName", &emitted["spec"]["policyName"], &live["spec"]["policyName"]);
            cmp("validationActions", &emitted["spec"]["validationActions"], &live["spec"]["validationActions"]);
            cmp("matchResources", &emitted["spec"]["matchResources"], &live["spec"]["matchResources"]);
        }
        _ => {}
    }
    out
}

/// Whether a value is absent: null, `""`, `{}` or `[]` (the API server omits
/// empty fields: a ServiceAccount subject's `apiGroup: ""` comes back without it).
fn empty(v: &Value) -> bool {
    v.is_null() || v.as_str() == Some("") || v.as_object().is_some_and(|o| o.is_empty()) || v.as_array().is_some_and(|a| a.is_empty())
}

/// Whether `live` is `emitted` plus what the API server fills in: every field
/// khc wrote has the same value live (lists element by element, same length),
/// and a field khc left empty is empty live. Defaults the server adds (`scope`,
/// `protocol`, `policyTypes`, `failurePolicy`…) are not differences.
fn same(emitted: &Value, live: &Value) -> bool {
    if empty(emitted) {
        return empty(live);
    }
    match (emitted, live) {
        (Value::Object(a), Value::Object(b)) => a.iter().all(|(k, v)| same(v, b.get(k).unwrap_or(&Value::Null))),
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y)),
        _ => emitted == live,
    }
}

/// Rules with empty lists dropped (the API server omits them).
fn normal_rules(v: &Value) -> Value {
    let rules: Vec<Value> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let mut m = serde_json::Map::new();
            for (k, x) in r.as_object().into_iter().flatten() {
                if !(x.is_array() && x.as_array().is_some_and(|a| a.is_empty())) {
                    m.insert(k.clone(), x.clone());
                }
            }
            Value::Object(m)
        })
        .collect();
    Value::Array(rules)
}

impl Workspace {
    /// The workspace over khc's intent ∪ the live objects: every live object of
    /// the [`ANALYSED_KINDS`] that khc does not emit unchanged joins it, with the
    /// source `live KIND NS/NAME`; the evaluators are rebuilt.
    pub fn with_live(self, live: &[Manifest]) -> Workspace {
        let mut objects = self.objects.clone();
        let Workspace { models, mut host_network_pods, objects: source, rbac, network, admission } = self;
        // They share the models: dropped first, the models are not copied.
        drop((source, rbac, network, admission));
        let models = std::sync::Arc::unwrap_or_clone(models);
        for m in live {
            if let Some((meta, _)) = crate::manifest::pod_template(&m.value).filter(|(_, s)| s["hostNetwork"] == true) {
                let ns = m.value["metadata"]["namespace"].as_str().unwrap_or("default").to_string();
                host_network_pods.push((ns, crate::selector::labels(&meta["labels"]), live_source(&m.value)));
            }
        }
        let emitted = objects.len();
        for m in live {
            let kind = m.value["kind"].as_str().unwrap_or("");
            if !ANALYSED_KINDS.contains(&kind) {
                continue;
            }
            let same = objects[..emitted].iter().find(|o| {
                o.kind() == kind && o.name() == m.value["metadata"]["name"].as_str().unwrap_or("") && o.namespace() == m.value["metadata"]["namespace"].as_str()
            });
            if same.is_some_and(|o| differences(&o.value, &m.value).is_empty()) {
                continue;
            }
            let mut v = m.value.clone();
            let source = live_source(&v);
            if !v["metadata"].is_object() {
                v["metadata"] = serde_json::json!({});
            }
            if !v["metadata"]["annotations"].is_object() {
                v["metadata"]["annotations"] = serde_json::json!({});
            }
            v["metadata"]["annotations"][SOURCE_ANNOTATION] = Value::String(source);
            objects.push(Object { path: format!("live:{}", m.location()), value: v });
        }
        Workspace { host_network_pods, ..Workspace::from_objects(models, objects) }
    }
}

/// One difference between the cluster as it is and khc's intent.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditItem {
    /// `extra` (live, not khc's, changes the posture), `missing` (khc's, not
    /// live), `modified` (khc's, changed live) or `pod-security-drift` (a khc
    /// Namespace whose Pod Security labels changed).
    pub category: &'static str,
    /// `Kind NS/NAME` or `Kind NAME`.
    pub object: String,
    /// What it does to the posture.
    pub effect: String,
    /// Where the live object is in the dump (`FILE:LINE`), if it is live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_location: Option<String>,
    /// khc's statement for the object (`FILE:LINE`), if khc emits it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub khc_source: Option<String>,
}

fn describe_object(v: &Value) -> String {
    live_source(v).trim_start_matches(LIVE_PREFIX).to_string()
}

/// Kinds `audit` looks at.
pub const AUDITED_KINDS: &[&str] = &[
    "Namespace",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "NetworkPolicy",
    "ServiceAccount",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
];

/// Whether a live object is part of Kubernetes itself (bootstrap RBAC, the
/// controllers' and system namespaces' objects), not a change to the posture.
fn is_system(v: &Value) -> bool {
    let name = v["metadata"]["name"].as_str().unwrap_or("");
    let ns = v["metadata"]["namespace"].as_str().unwrap_or("");
    name.starts_with("system:")
        || (["cluster-admin", "admin", "edit", "view"].contains(&name) && v["kind"] == "ClusterRole")
        || (name == "cluster-admin" && v["kind"] == "ClusterRoleBinding")
        || v["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
        || ns.starts_with("kube-")
        || (v["kind"] == "Namespace" && (name.starts_with("kube-") || name == "default"))
        || (v["kind"] == "ServiceAccount" && name == "default" && v["automountServiceAccountToken"] == false)
}

/// The inventory a reviewer needs before trusting khc's answers: live objects in
/// khc-managed namespaces and at cluster scope that khc does not emit and that
/// change the posture (each with its effect), and khc's own objects that are
/// missing (for the kinds the dump holds), modified or carry drifted Pod
/// Security labels. `ws` is khc's intent alone.
pub fn audit(ws: &Workspace, live: &[Manifest]) -> Vec<AuditItem> {
    let managed: std::collections::BTreeSet<&str> = ws.tenants().flat_map(|t| t.namespaces.iter().map(String::as_str)).collect();
    let dumped: std::collections::BTreeSet<&str> = live.iter().filter_map(|m| m.value["kind"].as_str()).collect();
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for m in live {
        let v = &m.value;
        let kind = v["kind"].as_str().unwrap_or("");
        if !AUDITED_KINDS.contains(&kind) {
            continue;
        }
        let name = v["metadata"]["name"].as_str().unwrap_or("");
        let ns = v["metadata"]["namespace"].as_str().filter(|n| !n.is_empty());
        seen.insert((kind.to_string(), ns.map(str::to_string), name.to_string()));
        if let Some(e) = ws.emitted(kind, ns, name) {
            let diffs = differences(&e.value, v);
            if diffs.is_empty() {
                continue;
            }
            let category = if kind == "Namespace" { "pod-security-drift" } else { "modified" };
            let effect = if kind == "Namespace" {
                let show = |x: &Value| {
                    pod_security_labels(x)
                        .iter()
                        .map(|(k, l)| format!("{}={l}", k.trim_start_matches("pod-security.kubernetes.io/")))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                format!("Pod Security labels are {} (khc: {})", show(v), show(&e.value))
            } else {
                format!("differs from khc's in {}", diffs.join(", "))
            };
            out.push(AuditItem { category, object: describe_object(v), effect, live_location: Some(m.location()), khc_source: Some(e.source()) });
            continue;
        }
        let in_scope = match ns {
            Some(n) => managed.contains(n),
            None => kind != "Namespace" || managed.contains(name),
        };
        if !in_scope || is_system(v) || (kind == "ServiceAccount" && name == "default") {
            continue;
        }
        let effects = crate::effects::of_object(ws, v, ns.unwrap_or(""), live);
        let effect = if effects.is_empty() {
            match kind {
                "ServiceAccount" => continue,
                _ => format!("{kind} that khc does not emit"),
            }
        } else {
            effects.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; ")
        };
        out.push(AuditItem { category: "extra", object: describe_object(v), effect, live_location: Some(m.location()), khc_source: None });
    }
    for o in ws.objects.iter().filter(|o| !o.path.starts_with("live:")) {
        let key = (o.kind().to_string(), o.namespace().map(str::to_string), o.name().to_string());
        if dumped.contains(o.kind()) && !seen.contains(&key) {
            out.push(AuditItem {
                category: "missing",
                object: describe_object(&o.value),
                effect: format!("khc's {} is not in the cluster: its protection is absent", o.kind()),
                live_location: None,
                khc_source: Some(o.source()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::differences;
    use serde_json::json;

    #[test]
    fn server_defaults_are_not_drift_but_changes_are() {
        let khc = json!({"kind": "NetworkPolicy", "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}], "ports": [{"port": 80}]}]}});
        // The server adds protocol and policyTypes.
        let live = json!({"kind": "NetworkPolicy", "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}], "ports": [{"port": 80, "protocol": "TCP"}]}]}});
        assert!(differences(&khc, &live).is_empty());
        // An added rule, an added egress section or a changed port is drift.
        let mut more = live.clone();
        more["spec"]["ingress"].as_array_mut().unwrap().push(json!({}));
        assert_eq!(differences(&khc, &more), ["ingress"]);
        let mut egress = live.clone();
        egress["spec"]["egress"] = json!([{}]);
        assert_eq!(differences(&khc, &egress), ["egress"]);
        let mut port = live.clone();
        port["spec"]["ingress"][0]["ports"][0]["port"] = json!(81);
        assert_eq!(differences(&khc, &port), ["ingress"]);
        // A ServiceAccount subject's empty apiGroup is omitted by the server.
        let b = json!({"kind": "RoleBinding", "roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "ServiceAccount", "name": "x", "namespace": "n", "apiGroup": ""}]});
        let l =
            json!({"kind": "RoleBinding", "roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "ServiceAccount", "name": "x", "namespace": "n"}]});
        assert!(differences(&b, &l).is_empty());
        // Pod Security labels.
        let ns = json!({"kind": "Namespace", "metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}});
        let relabelled =
            json!({"kind": "Namespace", "metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged", "kubernetes.io/metadata.name": "x"}}});
        assert_eq!(differences(&ns, &relabelled), ["Pod Security labels"]);
    }
}
