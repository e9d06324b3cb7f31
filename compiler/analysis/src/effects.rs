//! The posture effect of objects that are not pods: RBAC (what a binding gives to
//! whom, which rules of a role are risky), NetworkPolicies (which traffic they
//! open — NetworkPolicies are additive, so any policy beside khc's widens what
//! khc's intent allows), ServiceAccounts (token automount), Services (exposure
//! outside the cluster), webhook configurations and foreign admission policies,
//! and Namespaces' Pod Security labels. Used by `eval` (objects of application
//! manifests) and by the escalation search (which rules are escalation steps).

use crate::eval::Severity;
use crate::manifest::Manifest;
use crate::rbac::{Request, Rule, Subject, POD_MAKERS};
use crate::selector::labels;
use crate::Workspace;
use serde_json::Value;

/// One effect of an object on the posture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effect {
    /// How much it matters.
    pub severity: Severity,
    /// `rbac`, `network`, `service-account`, `service`, `webhook`, `admission`, `namespace`.
    pub check: &'static str,
    /// Short identifier of the effect.
    pub rule: String,
    /// `FILE:LINE` of the khc intent it relates to, or `-`.
    pub rule_source: String,
    /// The effect, in words.
    pub message: String,
}

/// What makes a rule dangerous: each entry is a request the rule allows and
/// what it means. Requests are made without a namespace name check (a Role's
/// rules apply in its namespace).
const RISKS: &[(&str, &str, &str)] = &[
    ("get", "secrets", "reads Secrets (and the ServiceAccount tokens some hold)"),
    ("list", "secrets", "lists Secrets with their values"),
    ("bind", "clusterroles.rbac.authorization.k8s.io", "binds any ClusterRole (escalation: `bind`)"),
    ("bind", "roles.rbac.authorization.k8s.io", "binds any Role (escalation: `bind`)"),
    ("escalate", "clusterroles.rbac.authorization.k8s.io", "writes ClusterRoles with permissions it lacks (escalation: `escalate`)"),
    ("escalate", "roles.rbac.authorization.k8s.io", "writes Roles with permissions it lacks (escalation: `escalate`)"),
    ("impersonate", "users", "impersonates users"),
    ("impersonate", "groups", "impersonates groups (system:masters included)"),
    ("impersonate", "serviceaccounts", "impersonates ServiceAccounts"),
    ("impersonate", "uids", "impersonates uids"),
    ("create", "serviceaccounts/token", "mints ServiceAccount tokens"),
    ("get", "nodes/proxy", "reaches the kubelet API (nodes/proxy: exec in any pod of the node)"),
    ("create", "nodes/proxy", "reaches the kubelet API (nodes/proxy: exec in any pod of the node)"),
    ("create", "mutatingwebhookconfigurations.admissionregistration.k8s.io", "writes mutating webhook configurations (sees and changes every request)"),
    ("create", "validatingwebhookconfigurations.admissionregistration.k8s.io", "writes validating webhook configurations (sees every request)"),
    ("delete", "validatingadmissionpolicies.admissionregistration.k8s.io", "deletes admission policies"),
    ("update", "certificatesigningrequests.certificates.k8s.io/approval", "approves certificate signing requests"),
    ("approve", "signers.certificates.k8s.io", "approves certificates for signers (e.g. client certificates of any user)"),
    ("create", "persistentvolumes", "creates PersistentVolumes (hostPath: the node's file system)"),
    ("update", "namespaces", "relabels Namespaces (their Pod Security level)"),
];

/// The dangerous things `rule` allows (empty: none), wildcards first.
pub fn risks(rule: &Rule) -> Vec<&'static str> {
    let mut out = Vec::new();
    if rule.verbs.iter().any(|v| v == "*") && rule.resources.iter().any(|r| r == "*") && rule.api_groups.iter().any(|g| g == "*") {
        // Everything below is implied.
        return vec!["every verb on every resource"];
    }
    for (verb, res, what) in RISKS {
        let req = Request::new(verb, res, None, rule.resource_names.first().map(String::as_str));
        if rule.allows(&req) && !out.contains(what) {
            out.push(*what);
        }
    }
    for res in POD_MAKERS {
        if rule.allows(&Request::new("create", res, None, None)) {
            out.push("creates pods (that run as any ServiceAccount of the namespace)");
            break;
        }
    }
    out
}

/// A khc model subject as the authorizer names it.
pub fn model_subject(s: &khc_semantics::model::Subject) -> Subject {
    match s {
        khc_semantics::model::Subject::User(n) => Subject::user(n),
        khc_semantics::model::Subject::Group(n) => Subject::group(n),
        khc_semantics::model::Subject::ServiceAccount { namespace, name } => Subject::sa(namespace, name),
    }
}

fn subjects_of(v: &Value, ns: Option<&str>) -> Vec<String> {
    v["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| match s["kind"].as_str() {
            Some("ServiceAccount") => format!("sa:{}/{}", s["namespace"].as_str().or(ns).unwrap_or("?"), s["name"].as_str().unwrap_or("?")),
            Some(k) => format!("{}:{}", k.to_ascii_lowercase(), s["name"].as_str().unwrap_or("?")),
            None => "?".into(),
        })
        .collect()
}

/// The rules of the role a binding refers to: from the other objects of the same
/// input, else from the workspace (khc's roles and the built-in ones); the role's
/// description and its source.
fn role_rules(ws: &Workspace, v: &Value, ns: Option<&str>, all: &[Manifest]) -> Option<(Vec<Rule>, String, String)> {
    let kind = v["roleRef"]["kind"].as_str()?;
    let name = v["roleRef"]["name"].as_str()?;
    let role_ns = (kind == "Role").then_some(ns).flatten();
    for m in all {
        let r = &m.value;
        if r["kind"] == kind && r["metadata"]["name"] == name && (kind != "Role" || r["metadata"]["namespace"].as_str().or(ns) == role_ns) {
            let rules = r["rules"].as_array().map(|a| a.iter().map(Rule::from_json).collect()).unwrap_or_default();
            return Some((rules, format!("{kind} {name}"), m.location()));
        }
    }
    let def = ws.rbac.roles.get(&(kind.to_string(), role_ns.map(str::to_string), name.to_string()))?;
    Some((def.rules.clone(), format!("{kind} {name}"), def.source.clone()))
}

/// Why `who` may not create the RBAC object `v` although it may create its kind:
/// the API server's escalation check (a binding needs `bind` on its role or
/// every permission the role grants; a role needs `escalate` or every
/// permission it lists). `None`: allowed (or not an RBAC object).
pub fn binding_escalation_check(ws: &Workspace, who: &Subject, v: &Value, ns: Option<&str>, all: &[Manifest]) -> Option<String> {
    let kind = v["kind"].as_str()?;
    let (rules, what, verb) = match kind {
        "RoleBinding" | "ClusterRoleBinding" => {
            let (rules, what, _) = role_rules(ws, v, ns, all)?;
            (rules, what, "bind")
        }
        "Role" | "ClusterRole" => {
            let rules: Vec<Rule> = v["rules"].as_array().map(|a| a.iter().map(Rule::from_json).collect()).unwrap_or_default();
            (rules, format!("{kind} {}", v["metadata"]["name"].as_str().unwrap_or("?")), "escalate")
        }
        _ => return None,
    };
    let target = match what.split_once(' ') {
        Some(("Role", n)) => ("roles.rbac.authorization.k8s.io", n.to_string()),
        Some((_, n)) => ("clusterroles.rbac.authorization.k8s.io", n.to_string()),
        None => return None,
    };
    if ws.rbac.can(who, &Request::new(verb, target.0, ns, Some(&target.1))) {
        return None;
    }
    // A ClusterRoleBinding's (or ClusterRole's) permissions apply everywhere.
    let scope = if kind.starts_with("Cluster") { None } else { ns };
    let missing = rules.iter().find_map(|r| {
        for verb in &r.verbs {
            for g in &r.api_groups {
                for res in &r.resources {
                    let names: Vec<Option<&str>> =
                        if r.resource_names.is_empty() { vec![None] } else { r.resource_names.iter().map(|n| Some(n.as_str())).collect() };
                    for name in names {
                        let req = Request {
                            verb: verb.clone(),
                            group: g.clone(),
                            resource: res.clone(),
                            namespace: scope.map(str::to_string),
                            name: name.map(str::to_string),
                        };
                        if !ws.rbac.can(who, &req) {
                            return Some(req.describe());
                        }
                    }
                }
            }
        }
        None
    })?;
    Some(format!(
        "{who} may not create {kind} {}: it has no `{verb}` on {what} and lacks a permission it grants ({missing})",
        v["metadata"]["name"].as_str().unwrap_or("?")
    ))
}

fn describe_labels(v: &Value) -> String {
    let l = labels(&v["matchLabels"]);
    let exprs = v["matchExpressions"].as_array().map_or(0, |a| a.len());
    if l.is_empty() && exprs == 0 {
        return "*".into();
    }
    let mut s: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if exprs > 0 {
        s.push(format!("{exprs} expression(s)"));
    }
    format!("{{{}}}", s.join(","))
}

/// One NetworkPolicy peer in words, and whether it is wide open (any source, every
/// namespace, or the internet).
fn peer(p: &Value, ns: &str) -> (String, bool) {
    if let Some(cidr) = p["ipBlock"]["cidr"].as_str() {
        let except = p["ipBlock"]["except"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")).unwrap_or_default();
        let open = cidr == "0.0.0.0/0" || cidr == "::/0";
        let text = if except.is_empty() { format!("cidr {cidr}") } else { format!("cidr {cidr} except {except}") };
        return (if open { format!("{text} (the internet)") } else { text }, open);
    }
    let pods = if p["podSelector"].is_object() { describe_labels(&p["podSelector"]) } else { "*".into() };
    match &p["namespaceSelector"] {
        Value::Object(_) => {
            let nss = describe_labels(&p["namespaceSelector"]);
            (format!("{}/{pods}", if nss == "*" { "every namespace".to_string() } else { format!("namespaces {nss}") }), nss == "*")
        }
        _ => (format!("{ns}/{pods}"), false),
    }
}

fn ports(rule: &Value) -> String {
    match rule["ports"].as_array().filter(|a| !a.is_empty()) {
        None => "every port".into(),
        Some(a) => a
            .iter()
            .map(|p| {
                let port = match &p["port"] {
                    Value::Null => "*".to_string(),
                    Value::String(s) => s.clone(),
                    x => x.to_string(),
                };
                let end = p["endPort"].as_u64().map(|e| format!("-{e}")).unwrap_or_default();
                format!("{port}{end}/{}", p["protocol"].as_str().unwrap_or("TCP"))
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The traffic a NetworkPolicy opens, one line per rule, and whether any rule is
/// wide open.
pub fn network_policy_effect(v: &Value, ns: &str) -> (Vec<String>, bool) {
    let spec = &v["spec"];
    let target = format!("{ns}/{}", describe_labels(&spec["podSelector"]));
    let mut lines = Vec::new();
    let mut open = false;
    let types: Vec<&str> = spec["policyTypes"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_else(|| {
        let mut t = vec!["Ingress"];
        if spec["egress"].is_array() {
            t.push("Egress");
        }
        t
    });
    for (dir, key, arrow, peers_key) in [("Ingress", "ingress", "←", "from"), ("Egress", "egress", "→", "to")] {
        if !types.contains(&dir) {
            continue;
        }
        let rules = spec[key].as_array().cloned().unwrap_or_default();
        if rules.is_empty() {
            lines.push(format!("isolates {target} for {} (allows nothing by itself)", key));
            continue;
        }
        for r in &rules {
            let peers: Vec<(String, bool)> = match r[peers_key].as_array().filter(|a| !a.is_empty()) {
                None => vec![("anywhere".into(), true)],
                Some(a) => a.iter().map(|p| peer(p, ns)).collect(),
            };
            for (p, o) in peers {
                open |= o;
                lines.push(format!("opens {target} {arrow} {p} on {}", ports(r)));
            }
        }
    }
    (lines, open)
}

/// The posture effects of object `v` (targeting `namespace`, empty when cluster
/// scoped); `all` is the whole input (a binding's role may be in it).
pub fn of_object(ws: &Workspace, v: &Value, namespace: &str, all: &[Manifest]) -> Vec<Effect> {
    let kind = v["kind"].as_str().unwrap_or("");
    let name = v["metadata"]["name"].as_str().unwrap_or("?");
    let tenant = ws.tenant_of(namespace);
    let source = tenant.map_or("-".to_string(), |t| t.origin.to_string());
    let ns = (!namespace.is_empty()).then_some(namespace);
    let mut out = Vec::new();
    let mut push = |severity, check, rule: &str, message: String| {
        out.push(Effect { severity, check, rule: rule.into(), rule_source: source.clone(), message });
    };
    match kind {
        "RoleBinding" | "ClusterRoleBinding" => {
            let who = subjects_of(v, ns);
            let scope = if kind == "ClusterRoleBinding" { "in every namespace".to_string() } else { format!("in namespace {namespace}") };
            let role = format!("{} {}", v["roleRef"]["kind"].as_str().unwrap_or("?"), v["roleRef"]["name"].as_str().unwrap_or("?"));
            match role_rules(ws, v, ns, all) {
                Some((rules, _, role_source)) => {
                    let mut r: Vec<&str> = rules.iter().flat_map(risks).collect();
                    r.dedup();
                    let mut seen = std::collections::BTreeSet::new();
                    r.retain(|x| seen.insert(*x));
                    let severity = if r.is_empty() { Severity::Info } else { Severity::Warn };
                    let what = if r.is_empty() { String::new() } else { format!(": {}", r.join("; ")) };
                    push(
                        severity,
                        "rbac",
                        if r.is_empty() { "grant" } else { "risky-grant" },
                        format!("gives {} the permissions of {role} ({role_source}) {scope}{what}", who.join(", ")),
                    );
                }
                None => push(
                    Severity::Warn,
                    "rbac",
                    "unknown-role",
                    format!("gives {} {role} {scope}, which is neither in the input nor khc's nor built in", who.join(", ")),
                ),
            }
        }
        "Role" | "ClusterRole" => {
            let rules: Vec<Rule> = v["rules"].as_array().map(|a| a.iter().map(Rule::from_json).collect()).unwrap_or_default();
            for r in &rules {
                let x = risks(r);
                if !x.is_empty() {
                    push(Severity::Warn, "rbac", "risky-rule", format!("rule `{}` {}", r.describe(), x.join("; ")));
                }
            }
            if v["aggregationRule"].is_object() {
                push(
                    Severity::Warn,
                    "rbac",
                    "aggregated-role",
                    format!("{kind} {name} aggregates the rules of every ClusterRole its selectors match, now and later"),
                );
            }
        }
        "NetworkPolicy" => {
            let (lines, open) = network_policy_effect(v, namespace);
            let managed = tenant.is_some_and(|t| t.isolation != khc_semantics::model::Isolation::None);
            let severity = if open || managed { Severity::Warn } else { Severity::Info };
            let why = if managed { " (NetworkPolicies add up: this widens what khc's intent allows)" } else { "" };
            push(severity, "network", if open { "opens-wide" } else { "extra-policy" }, format!("NetworkPolicy {namespace}/{name} {}{why}", lines.join("; ")));
        }
        "ServiceAccount" if v["automountServiceAccountToken"] != false => {
            push(
                Severity::Warn,
                "service-account",
                "token-automount",
                format!("pods of ServiceAccount {namespace}/{name} mount its API token unless they opt out (set automountServiceAccountToken: false)"),
            );
        }
        "Service" => {
            let ty = v["spec"]["type"].as_str().unwrap_or("ClusterIP");
            if ty == "LoadBalancer" || ty == "NodePort" {
                push(Severity::Warn, "service", "exposed", format!("type {ty}: reachable from outside the cluster through every node (and a load balancer); the pods' NetworkPolicies see node or load-balancer addresses"));
            }
        }
        "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => {
            let mutating = kind.starts_with("Mutating");
            for w in v["webhooks"].as_array().into_iter().flatten() {
                let mut res: Vec<String> = Vec::new();
                let mut ops: Vec<String> = Vec::new();
                for r in w["rules"].as_array().into_iter().flatten() {
                    res.extend(r["resources"].as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)));
                    ops.extend(r["operations"].as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)));
                }
                res.sort();
                res.dedup();
                ops.sort();
                ops.dedup();
                let secrets = res.iter().any(|r| r == "*" || r == "secrets");
                let target = w["clientConfig"]["url"].as_str().map(str::to_string).unwrap_or_else(|| {
                    format!(
                        "service {}/{}",
                        w["clientConfig"]["service"]["namespace"].as_str().unwrap_or("?"),
                        w["clientConfig"]["service"]["name"].as_str().unwrap_or("?")
                    )
                });
                let scope = if w["namespaceSelector"].is_object() && describe_labels(&w["namespaceSelector"]) != "*" {
                    "selected namespaces"
                } else {
                    "every namespace"
                };
                push(
                    Severity::Warn,
                    "webhook",
                    if mutating { "mutating-webhook" } else { "validating-webhook" },
                    format!(
                        "webhook {} ({target}) {} {} on {} in {scope}; failurePolicy {}{}",
                        w["name"].as_str().unwrap_or("?"),
                        if mutating { "sees and may change" } else { "sees" },
                        ops.join(" "),
                        res.join(" "),
                        w["failurePolicy"].as_str().unwrap_or("Fail"),
                        if secrets { "; it receives Secret values" } else { "" }
                    ),
                );
            }
        }
        "ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding" | "MutatingAdmissionPolicy" | "MutatingAdmissionPolicyBinding" => {
            push(Severity::Info, "admission", "foreign-policy", format!("{kind} {name} is not khc's: it adds admission rules khc does not state"));
        }
        "Namespace" => {
            let l = labels(&v["metadata"]["labels"]);
            if let Some(level) = l.get("pod-security.kubernetes.io/enforce") {
                let sev = if level == "privileged" { Severity::Warn } else { Severity::Info };
                push(sev, "namespace", "pod-security-label", format!("Namespace {name} enforces Pod Security {level}"));
            } else if ws.tenant_of(name).is_none() {
                push(Severity::Info, "namespace", "pod-security-default", format!("Namespace {name} has no Pod Security labels: the cluster default applies"));
            }
        }
        _ => {}
    }
    out
}
