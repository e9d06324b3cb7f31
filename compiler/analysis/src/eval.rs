//! Application manifests judged against the intent of the namespace they target:
//! the tenant's Pod Security levels (enforce → deny; audit and warn → warning),
//! every admission policy whose binding selects the namespace (the same CEL,
//! evaluated), and network intent (pods whose labels match no declared workload
//! of the tenant are reached by no workload-specific `allow`).

use crate::manifest::{pod_template, Manifest};
use crate::selector::labels;
use crate::{admission, pss, Workspace};
use khc_semantics::model::{Isolation, Tenant};
use serde::Serialize;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The API server would reject the object (or its pods).
    Deny,
    /// A warning (PSA warn/audit, admission Warn, network intent).
    Warn,
    /// For information (admission Audit, unmanaged namespace).
    Info,
}

impl Severity {
    /// `deny`, `warn`, `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Deny => "deny",
            Severity::Warn => "warn",
            Severity::Info => "info",
        }
    }
}

/// One finding about one manifest object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Severity.
    pub severity: Severity,
    /// `pod-security`, `admission`, `network` or `namespace`.
    pub check: &'static str,
    /// The rule: a khc admission rule, `enforce=restricted: run-as-non-root`, …
    pub rule: String,
    /// `FILE:LINE` of the intent that states the rule.
    pub rule_source: String,
    /// What is wrong.
    pub message: String,
    /// `Kind/name` of the object.
    pub object: String,
    /// The namespace it targets.
    pub namespace: String,
    /// `FILE:LINE` of the object in the manifest.
    pub location: String,
}

/// Evaluates one manifest object; `default_namespace` applies when it names none.
pub fn evaluate(ws: &Workspace, m: &Manifest, default_namespace: &str) -> Vec<Finding> {
    let v = &m.value;
    let namespace = v["metadata"]["namespace"].as_str().unwrap_or(default_namespace).to_string();
    let tenant = ws.tenant_of(&namespace);
    let mut out = Vec::new();
    let mut push = |severity, check, rule: String, rule_source: String, message: String| {
        out.push(Finding { severity, check, rule, rule_source, message, object: m.describe(), namespace: namespace.clone(), location: m.location() });
    };
    if tenant.is_none() && pod_template(v).is_some() {
        push(
            Severity::Info,
            "namespace",
            "unmanaged-namespace".into(),
            "-".into(),
            format!("namespace {namespace} belongs to no tenant; only cluster-wide intent applies"),
        );
    }
    // Pod Security Admission.
    if let (Some(t), Some((meta, spec))) = (tenant, pod_template(v)) {
        let ps = &t.pod_security;
        let minor = pss::minor_of(&ps.version);
        let enforced = pss::check(ps.enforce, minor, meta, spec);
        for x in &enforced {
            push(
                Severity::Deny,
                "pod-security",
                x.control.to_string(),
                t.origin.to_string(),
                format!("{} (pod-security enforce {})", x.message, ps.enforce.as_str()),
            );
        }
        for (mode, level) in [("warn", ps.warn), ("audit", ps.audit)] {
            if level <= ps.enforce {
                continue;
            }
            for x in pss::check(level, minor, meta, spec).into_iter().filter(|x| !enforced.contains(x)) {
                push(
                    Severity::Warn,
                    "pod-security",
                    x.control.to_string(),
                    t.origin.to_string(),
                    format!("{} (pod-security {mode} {})", x.message, level.as_str()),
                );
            }
        }
    }
    // Admission policies.
    let api_version = v["apiVersion"].as_str().unwrap_or("");
    if let Some((group, resource)) = admission::resource_of(api_version, v["kind"].as_str().unwrap_or("")) {
        let ns_labels = ws.network.labels_of(&namespace);
        for (policy, binding) in ws.admission.applicable(&group, &resource, &ns_labels) {
            for x in policy.evaluate(v, &binding.actions) {
                let severity = if x.actions.iter().any(|a| a == "Deny") {
                    Severity::Deny
                } else if x.actions.iter().any(|a| a == "Warn") {
                    Severity::Warn
                } else {
                    Severity::Info
                };
                let message = match &x.error {
                    Some(e) => format!("{} (policy {}; evaluation failed: {e})", x.message, x.policy),
                    None => format!("{} (policy {})", x.message, x.policy),
                };
                push(severity, "admission", x.rule.clone(), x.rule_source.clone(), message);
            }
        }
    }
    // Network intent.
    if let Some(t) = tenant.filter(|t| t.isolation != Isolation::None) {
        if let Some((meta, spec)) = pod_template(v) {
            let pod_labels = labels(&meta["labels"]);
            let matching: Vec<&str> = t
                .workloads
                .iter()
                .filter(|w| w.namespace == namespace && !w.selector.is_empty() && w.selector.iter().all(|(k, val)| pod_labels.get(k) == Some(val)))
                .map(|w| w.name.as_str())
                .collect();
            if matching.is_empty() {
                push(
                    Severity::Warn,
                    "network",
                    "undeclared-workload".into(),
                    t.origin.to_string(),
                    format!(
                        "pod labels {} match no workload of tenant {} in {namespace}; no workload `allow` reaches these pods",
                        describe(&pod_labels),
                        t.name
                    ),
                );
            }
            if let Some(sa) = spec["serviceAccountName"].as_str().filter(|sa| *sa != "default") {
                if !t.workloads.iter().any(|w| w.namespace == namespace && w.name == sa) {
                    push(
                        Severity::Warn,
                        "network",
                        "undeclared-service-account".into(),
                        t.origin.to_string(),
                        format!("ServiceAccount {sa} is not a workload of tenant {} in {namespace}; khc creates no such ServiceAccount", t.name),
                    );
                }
            }
        } else if v["kind"] == "Service" {
            check_service(t, v, &namespace, &mut push);
        }
    }
    out
}

fn check_service(t: &Tenant, v: &serde_json::Value, namespace: &str, push: &mut impl FnMut(Severity, &'static str, String, String, String)) {
    let sel = labels(&v["spec"]["selector"]);
    if sel.is_empty() {
        return;
    }
    let compatible = t.workloads.iter().any(|w| {
        w.namespace == namespace && sel.iter().any(|(k, _)| w.selector.contains_key(k)) && sel.iter().all(|(k, val)| w.selector.get(k).is_none_or(|x| x == val))
    });
    if !compatible {
        push(
            Severity::Warn,
            "network",
            "undeclared-workload".into(),
            t.origin.to_string(),
            format!("Service selector {} matches no workload of tenant {} in {namespace}", describe(&sel), t.name),
        );
    }
}

fn describe(l: &crate::selector::Labels) -> String {
    if l.is_empty() {
        return "{}".into();
    }
    l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// Every finding of every manifest, in manifest order.
pub fn evaluate_all(ws: &Workspace, manifests: &[Manifest], default_namespace: &str) -> Vec<Finding> {
    manifests.iter().flat_map(|m| evaluate(ws, m, default_namespace)).collect()
}
