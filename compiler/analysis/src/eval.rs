//! Application manifests judged against the intent of the namespace they target:
//! the tenant's Pod Security levels (enforce → deny; audit and warn → warning),
//! every admission policy whose binding selects the namespace (the same CEL,
//! evaluated), and network intent (pods whose labels match no declared workload
//! of the tenant are reached by no workload-specific `allow`; hostNetwork pods,
//! which no NetworkPolicy selects). Namespaces no tenant owns get the cluster's
//! Pod Security default (the generated AdmissionConfiguration). RBAC objects,
//! NetworkPolicies, ServiceAccounts, Services and webhook configurations are
//! judged by their effect on the posture ([`crate::effects`]), and objects that
//! would replace one khc manages are reported as `managed-by` collisions. With
//! [`Options::as_subject`], each object is also checked against what that
//! identity may create.

use crate::manifest::{pod_template, Manifest};
use crate::rbac::{Request, Subject};
use crate::selector::labels;
use crate::{admission, effects, pss, TenantView, Workspace};
use khc_semantics::model::{Isolation, Peer, Tenant};
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
    /// `pod-security`, `admission`, `exception`, `network`, `namespace` or
    /// `images` (signatures and scans, checked at admission by the verifier).
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
    /// `FILE:LINE` of the field that causes the finding, when it can be found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_location: Option<String>,
    /// `document D` or `document D, item I` (an item of a `kind: List`).
    pub position: String,
    /// 0-based index of the object among the evaluated manifests (items of a
    /// `List` are objects of their own).
    pub index: usize,
}

/// How `eval` reads the manifests.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The namespace of namespaced objects that name none (`-n`); without it
    /// such objects are evaluated in `default` with a warning (`kubectl apply`
    /// would use the current context's namespace).
    pub namespace: Option<String>,
    /// The identity that applies the manifests (`--as`): each object it may not
    /// create is denied.
    pub as_subject: Option<Subject>,
}

/// Kinds that have no namespace.
pub const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
    "PriorityClass",
    "RuntimeClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "APIService",
    "CertificateSigningRequest",
    "VolumeAttachment",
    "CSIDriver",
    "FlowSchema",
    "PriorityLevelConfiguration",
];

/// The field (YAML key) a finding is about, to point at its line.
fn field_of(check: &str, rule: &str) -> &'static [&'static str] {
    let has = |w: &str| rule.contains(w);
    match check {
        "pod-security" | "admission" => {
            if has("host-process") {
                &["hostProcess"]
            } else if has("host-namespaces") || has("host-network") {
                &["hostNetwork", "hostPID", "hostIPC"]
            } else if has("privileged") {
                &["privileged"]
            } else if has("capabilit") {
                &["capabilities"]
            } else if has("host-path") {
                &["hostPath"]
            } else if has("host-port") {
                &["hostPort"]
            } else if has("apparmor") {
                &["appArmorProfile"]
            } else if has("selinux") {
                &["seLinuxOptions"]
            } else if has("proc-mount") {
                &["procMount"]
            } else if has("seccomp") {
                &["seccompProfile"]
            } else if has("sysctl") {
                &["sysctls"]
            } else if has("volume") {
                &["volumes"]
            } else if has("privilege-escalation") {
                &["allowPrivilegeEscalation"]
            } else if has("non-root") || has("uid") || has("run-as-user") {
                &["runAsNonRoot", "runAsUser"]
            } else if has("tag") || has("registr") || has("image") || has("digest") {
                &["image"]
            } else if has("read-only") {
                &["readOnlyRootFilesystem"]
            } else if has("external-ip") {
                &["externalIPs"]
            } else {
                &[]
            }
        }
        "network" if has("host-network") => &["hostNetwork"],
        "network" if has("service-account") => &["serviceAccountName"],
        "rbac" => &["roleRef"],
        "service-account" => &["automountServiceAccountToken"],
        _ => &[],
    }
}

/// The kind's resource (plural) and group, as RBAC names it.
pub fn resource_of_kind(api_version: &str, kind: &str) -> (String, String) {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g).to_string();
    let lower = kind.to_ascii_lowercase();
    let plural = if lower.ends_with('y') && !lower.ends_with("ey") {
        format!("{}ies", &lower[..lower.len() - 1])
    } else if lower.ends_with("ss") || lower.ends_with('x') || lower.ends_with("ch") {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    };
    (group, plural)
}

/// Evaluates one manifest object; `default_namespace` applies when it names none.
pub fn evaluate(ws: &Workspace, m: &Manifest, default_namespace: &str) -> Vec<Finding> {
    let opts = Options { namespace: Some(default_namespace.to_string()), as_subject: None };
    evaluate_one(ws, m, 0, &[], &opts, &mut Views::default())
}

/// The evaluators each tenant's objects are judged with: the tenant's
/// [`TenantView`], built on the first object in its namespaces (`khc eval` of
/// a few manifests converts and compiles the policies of their tenants only,
/// not the fleet's), its CEL shared with the other views'.
/// How many tenants' views [`Views`] keeps at most.
const KEPT_VIEWS: usize = 16;

#[derive(Default)]
struct Views {
    programs: admission::Programs,
    of_tenant: std::collections::HashMap<String, Option<TenantView>>,
    /// The line starts of each manifest file's text (by its address).
    line_starts: std::collections::HashMap<*const u8, Vec<usize>>,
    /// [`field_of`] each check and rule, found once (every object of a fleet
    /// gets the same findings).
    fields: std::collections::HashMap<&'static str, std::collections::HashMap<String, &'static [&'static str]>>,
}

impl Views {
    /// The admission policies that may bind an object in `namespace` of
    /// `tenant` (if a tenant owns it), and the namespace's labels.
    fn admission<'a>(&'a mut self, ws: &'a Workspace, tenant: Option<&Tenant>, namespace: &str) -> (&'a admission::Admission, crate::selector::Labels) {
        let Views { programs, of_tenant, .. } = self;
        // Manifests come mostly grouped by namespace: the last views are kept,
        // not every tenant's (their policies would add up to the fleet's).
        if tenant.is_some_and(|t| !of_tenant.contains_key(&t.name)) && of_tenant.len() >= KEPT_VIEWS {
            of_tenant.clear();
            programs.forget_unshared();
        }
        let view = tenant.and_then(|t| of_tenant.entry(t.name.clone()).or_insert_with(|| ws.tenant_view(&t.name, programs)).as_ref());
        match view {
            Some(v) => (&v.admission, v.network.labels_of(namespace)),
            None => (&ws.admission, ws.network.labels_of(namespace)),
        }
    }
}

/// Evaluates object `index` of `all` (the other objects of the same input: a
/// RoleBinding's Role may be among them).
fn evaluate_one(ws: &Workspace, m: &Manifest, index: usize, all: &[Manifest], opts: &Options, views: &mut Views) -> Vec<Finding> {
    let v = &m.value;
    let kind = v["kind"].as_str().unwrap_or("");
    let cluster_scoped = CLUSTER_SCOPED_KINDS.contains(&kind);
    let named = v["metadata"]["namespace"].as_str().filter(|n| !n.is_empty());
    let namespace = if cluster_scoped { String::new() } else { named.or(opts.namespace.as_deref()).unwrap_or("default").to_string() };
    let tenant = if cluster_scoped { None } else { ws.tenant_of(&namespace) };
    let mut out = Vec::new();
    let (object, location, position) = (m.describe(), m.location(), m.position());
    let mut push = |severity, check, rule: String, rule_source: String, message: String| {
        out.push(Finding {
            severity,
            check,
            rule,
            rule_source,
            message,
            object: object.clone(),
            namespace: namespace.clone(),
            location: location.clone(),
            field_location: None,
            position: position.clone(),
            index,
        });
    };
    if !cluster_scoped && named.is_none() && opts.namespace.is_none() {
        push(
            Severity::Warn,
            "namespace",
            "namespace-missing".into(),
            "-".into(),
            "the object names no namespace: evaluated in `default`, but `kubectl apply` puts it in the current context's namespace and Helm in its release namespace; pass -n NS".into(),
        );
    }
    if tenant.is_none() && !cluster_scoped && pod_template(v).is_some() {
        let exempt = ws.models.iter().all(|md| md.cluster.control_plane.pod_security.exempt_namespaces.contains(&namespace));
        push(
            Severity::Info,
            "namespace",
            "unmanaged-namespace".into(),
            "-".into(),
            if exempt && !ws.models.is_empty() {
                format!("namespace {namespace} belongs to no tenant and is exempt from Pod Security; only cluster-wide admission rules apply")
            } else {
                format!("namespace {namespace} belongs to no tenant; the cluster's Pod Security default and cluster-wide admission rules apply")
            },
        );
    }
    // The cluster-wide Pod Security default (AdmissionConfiguration) for
    // namespaces no tenant labels.
    if let (None, false, Some((meta, spec))) = (tenant, cluster_scoped, pod_template(v)) {
        let mut seen = std::collections::BTreeSet::new();
        for md in ws.models.iter() {
            let ps = &md.cluster.control_plane.pod_security;
            if ps.exempt_namespaces.contains(&namespace) {
                continue;
            }
            let minor = pss::minor_of(&ps.version);
            let enforced = pss::check(ps.enforce, minor, meta, spec);
            let cluster = if ws.models.len() > 1 { format!("cluster {} ", md.cluster.name) } else { String::new() };
            for x in &enforced {
                if seen.insert((Severity::Deny, x.control, x.message.clone())) {
                    push(
                        Severity::Deny,
                        "pod-security",
                        x.control.to_string(),
                        ps.origin.to_string(),
                        format!("{} ({cluster}default pod-security enforce {} for namespaces without Pod Security labels)", x.message, ps.enforce.as_str()),
                    );
                }
            }
            for (mode, level) in [("warn", ps.warn), ("audit", ps.audit)] {
                if level <= ps.enforce {
                    continue;
                }
                for x in pss::check(level, minor, meta, spec).into_iter().filter(|x| !enforced.contains(x)) {
                    if seen.insert((Severity::Warn, x.control, x.message.clone())) {
                        push(
                            Severity::Warn,
                            "pod-security",
                            x.control.to_string(),
                            ps.origin.to_string(),
                            format!("{} ({cluster}default pod-security {mode} {} for namespaces without Pod Security labels)", x.message, level.as_str()),
                        );
                    }
                }
            }
        }
    }
    // Image signatures and scans (`images { signed-by … scanned-by … }`): not
    // judged offline — the verifier checks them at admission; digests,
    // registries and image volumes are admission rules, judged below.
    if let (Some(t), Some((_, spec))) = (tenant, pod_template(v)) {
        if let Some(i) = t.images.as_ref().filter(|i| i.policy.needs_verifier()) {
            let mut images: Vec<&str> = Vec::new();
            for field in ["initContainers", "containers", "ephemeralContainers"] {
                images.extend(spec[field].as_array().into_iter().flatten().filter_map(|c| c["image"].as_str()));
            }
            let mut needs: Vec<String> = i.policy.signers.iter().map(|s| format!("signed by {}", s.identity.describe())).collect();
            needs.extend(i.policy.scans.iter().map(|s| {
                format!("a scan attested by key \"{}\" no older than {}h with no finding at or above {}", s.key_path, s.max_age_hours, s.deny_at.as_str())
            }));
            if !images.is_empty() {
                push(
                    Severity::Info,
                    "images",
                    "signed-by".into(),
                    i.origin.to_string(),
                    format!(
                        "{}: {} — checked at admission by policy-controller (ClusterImagePolicy khc-{}), not offline; its mutating webhook resolves a tag to a digest before khc's rules run",
                        images.join(", "),
                        needs.join("; "),
                        t.name
                    ),
                );
            }
        }
    }
    // Pod Security Admission.
    if let (Some(t), Some((meta, spec))) = (tenant, pod_template(v)) {
        let ps = &t.pod_security;
        let minor = pss::minor_of(&ps.version);
        let enforce = ps.enforce_in(&namespace);
        let enforced = pss::check(enforce, minor, meta, spec);
        for x in &enforced {
            push(
                Severity::Deny,
                "pod-security",
                x.control.to_string(),
                t.origin.to_string(),
                format!("{} (pod-security enforce {})", x.message, enforce.as_str()),
            );
        }
        for (mode, level) in [("warn", ps.warn), ("audit", ps.audit)] {
            if level <= enforce {
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
        let (admission, ns_labels) = views.admission(ws, tenant, &namespace);
        // Converted to CEL once for every policy that judges it.
        let mut judged = None;
        for (policy, binding) in admission.applicable(&group, &resource, &ns_labels) {
            let judged = judged.get_or_insert_with(|| admission::Judged::create(v));
            for x in policy.evaluate_judged(judged, &binding.actions) {
                let severity = if x.actions.iter().any(|a| a == "Deny") {
                    Severity::Deny
                } else if x.actions.iter().any(|a| a == "Warn") {
                    Severity::Warn
                } else {
                    Severity::Info
                };
                // The violation is this loop's own: its strings are moved
                // into the finding, the message extended in place.
                let message = match &x.error {
                    Some(e) => format!("{} (policy {}; evaluation failed: {e})", x.message, x.policy),
                    None => {
                        let mut m = x.message;
                        for part in [" (policy ", x.policy.as_str(), ")"] {
                            m.push_str(part);
                        }
                        m
                    }
                };
                push(severity, "admission", x.rule, x.rule_source, message);
            }
        }
    }
    // Scoped exceptions that cover the object (SPEC.md section 5): for
    // information, so that what the policies admit under an exception is seen.
    if let Some((_, spec)) = pod_template(v) {
        let sa = spec["serviceAccountName"].as_str().or(spec["serviceAccount"].as_str()).unwrap_or("default");
        // The tenant's exceptions, then the clusters' (which may name any namespace).
        let clusters = ws.models.iter().flat_map(|m| m.cluster.exceptions.iter());
        for e in tenant.into_iter().flat_map(|t| t.exceptions.iter()).chain(clusters) {
            let covered = e.namespaces.contains(&namespace) && (e.workloads.is_empty() || e.workloads.iter().any(|(w, ns)| *ns == namespace && w == sa));
            if covered {
                let lifts: Vec<&str> = e.lifts.iter().map(|r| r.keyword()).collect();
                let expiry = e.expires.as_deref().map_or(String::new(), |d| format!("; expires {d}"));
                push(
                    Severity::Info,
                    "exception",
                    format!("exception {}", e.name),
                    e.origin.to_string(),
                    format!("exception `{}` lifts {} here: {}{expiry}", e.name, lifts.join(", "), e.reason),
                );
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
            if spec["hostNetwork"] == true {
                let with_allows: Vec<&str> = matching.iter().copied().filter(|w| t.allows.iter().any(|a| allow_mentions(a, &t.name, w))).collect();
                let what = if with_allows.is_empty() {
                    format!("the tenant's default deny (isolation {}) does not apply to them", isolation_word(t.isolation))
                } else {
                    format!("the `allow` rules of workload {} and the default deny do not apply to them", with_allows.join(", "))
                };
                push(
                    Severity::Warn,
                    "network",
                    "host-network".into(),
                    t.origin.to_string(),
                    format!("pods use hostNetwork: NetworkPolicies never select hostNetwork pods, so {what}; they reach and are reached as their node"),
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
    // Posture effect of RBAC, NetworkPolicies, ServiceAccounts, Services,
    // webhook configurations and admission policies.
    for e in effects::of_object(ws, v, &namespace, all) {
        push(e.severity, e.check, e.rule, e.rule_source, e.message);
    }
    // Objects that would replace one khc manages.
    if let Some(theirs) = ws.emitted(kind, if cluster_scoped { None } else { Some(&namespace) }, v["metadata"]["name"].as_str().unwrap_or("")) {
        let appliers: Vec<&khc_semantics::model::Subject> = ws.models.iter().flat_map(|md| md.cluster.managed_by.iter()).collect();
        let is_applier = opts.as_subject.as_ref().is_some_and(|s| appliers.iter().any(|a| effects::model_subject(a) == *s));
        let (severity, why) = if appliers.is_empty() {
            (Severity::Warn, "the next khc sync overwrites it (or it overwrites khc's)".to_string())
        } else if is_applier {
            (Severity::Warn, "the applier may change it, and the next khc sync reverts it".to_string())
        } else {
            (Severity::Deny, "khc's protection policy (managed-by) refuses changes by anyone but the applier".to_string())
        };
        push(severity, "managed-by", "collision".into(), theirs.source(), format!("{} is khc's object ({}); {why}", m.describe(), theirs.path));
    }
    // What the applying identity may do.
    if let Some(who) = &opts.as_subject {
        let (group, resource) = resource_of_kind(v["apiVersion"].as_str().unwrap_or(""), kind);
        let res = if group.is_empty() { resource.clone() } else { format!("{resource}.{group}") };
        let ns = (!cluster_scoped).then_some(namespace.as_str());
        let req = Request::new("create", &res, ns, v["metadata"]["name"].as_str());
        if !ws.rbac.can(who, &req) {
            push(Severity::Deny, "rbac", "as".into(), "-".into(), format!("{who} may not {}", req.describe()));
        } else if let Some(msg) = effects::binding_escalation_check(ws, who, v, ns, all) {
            push(Severity::Deny, "rbac", "as".into(), "-".into(), msg);
        }
    }
    // Point each finding at its field where the object's text is at hand.
    if let Some(text) = &m.text {
        // The object's lines read once for the keys of all its findings.
        let starts = views.line_starts.entry(text.as_ptr()).or_insert_with(|| crate::manifest::line_starts(text));
        let lines = if out.is_empty() { Default::default() } else { m.key_lines(text, starts, m.end_line) };
        for f in &mut out {
            let of_check = views.fields.entry(f.check).or_default();
            let keys = match of_check.get(f.rule.as_str()) {
                Some(keys) => *keys,
                None => *of_check.entry(f.rule.clone()).or_insert_with(|| field_of(f.check, &f.rule)),
            };
            f.field_location = keys
                .iter()
                // `field_of`'s keys are plain names (no `:` or `"`).
                .find_map(|k| lines.get(k).copied())
                .map(|l| format!("{}:{l}", m.file));
        }
    }
    out
}

fn isolation_word(i: Isolation) -> &'static str {
    match i {
        Isolation::Strict => "strict",
        Isolation::Tenant => "tenant",
        Isolation::Ingress => "ingress",
        Isolation::None => "none",
    }
}

/// Whether an `allow` of tenant `tenant` applies to, or names, workload `w`.
fn allow_mentions(a: &khc_semantics::model::NetRule, tenant: &str, w: &str) -> bool {
    a.local.as_ref().is_some_and(|(n, _, _)| n == w) || matches!(&a.peer, Peer::Tenant { tenant: t, workload: Some((n, _)), .. } if t == tenant && n == w)
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

/// Every finding of every manifest, in manifest order; `default_namespace`
/// applies to objects that name none.
pub fn evaluate_all(ws: &Workspace, manifests: &[Manifest], default_namespace: &str) -> Vec<Finding> {
    evaluate_with(ws, manifests, &Options { namespace: Some(default_namespace.to_string()), as_subject: None })
}

/// Every finding of every manifest, in manifest order.
pub fn evaluate_with(ws: &Workspace, manifests: &[Manifest], opts: &Options) -> Vec<Finding> {
    let mut views = Views::default();
    manifests.iter().enumerate().flat_map(|(i, m)| evaluate_one(ws, m, i, manifests, opts, &mut views)).collect()
}
