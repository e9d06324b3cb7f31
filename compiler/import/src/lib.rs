//! `khc import`: existing Kubernetes objects → a formatted khc project, plus a
//! report of every object or field that could not be expressed, with the reason.
//!
//! What is read (SPEC.md section 14): Namespaces (their Pod Security labels),
//! ServiceAccounts, Roles, ClusterRoles and their bindings, NetworkPolicies,
//! ResourceQuotas, LimitRanges, Kyverno `ClusterPolicy`/`Policy` validate rules of
//! the common patterns and Gatekeeper constraints of the common templates. The
//! translation is conservative: what is imported means what the objects meant
//! (the tests run khc's RBAC and NetworkPolicy evaluators on both sides); what
//! would change meaning is left out and reported.

#![warn(missing_docs)]

use khc_analysis::manifest::Manifest;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

mod admission;
mod network;
mod rbac;

/// How namespaces become tenants, and the cluster header.
#[derive(Clone, Debug)]
pub struct Options {
    /// Group namespaces into tenants by this namespace label's value.
    pub tenant_label: Option<String>,
    /// Explicit `NAMESPACE → TENANT` mapping (wins over the label).
    pub tenant_of: BTreeMap<String, String>,
    /// The cluster's name.
    pub cluster: String,
    /// The cluster's Kubernetes minor version (`kubernetes 1.N`).
    pub minor: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options { tenant_label: None, tenant_of: BTreeMap::new(), cluster: "imported".into(), minor: 35 }
    }
}

/// One object or field that could not be expressed (or was expressed with a
/// change the reader must know about).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Item {
    /// `KIND NS/NAME` or `KIND NAME`.
    pub object: String,
    /// `FILE:LINE` of the object.
    pub location: String,
    /// The field concerned (`spec.ingress[0].ports[0]`), if not the whole object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why.
    pub reason: String,
}

/// The result of an import.
#[derive(Clone, Debug, Serialize)]
pub struct Imported {
    /// The project's source (one file, formatted by `khc fmt`'s formatter).
    pub source: String,
    /// What was left out, with the reason.
    pub left_out: Vec<Item>,
    /// What was imported with a change of meaning (a tightening, or an
    /// approximation), with the reason.
    pub changed: Vec<Item>,
    /// The tenants made, with their namespaces.
    pub tenants: BTreeMap<String, Vec<String>>,
    /// The namespaces whose NetworkPolicies were imported in full: `reach`
    /// between their pods means the same on both sides.
    pub network_imported: Vec<String>,
}

impl Imported {
    /// The report as text: one line per item, left out first.
    pub fn report_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "imported {} tenant(s): {}", self.tenants.len(), self.tenants.keys().cloned().collect::<Vec<_>>().join(", "));
        let _ = writeln!(s, "left out ({}):", self.left_out.len());
        for i in &self.left_out {
            let _ = writeln!(s, "  {}", line(i));
        }
        let _ = writeln!(s, "imported with a change ({}):", self.changed.len());
        for i in &self.changed {
            let _ = writeln!(s, "  {}", line(i));
        }
        s
    }
}

fn line(i: &Item) -> String {
    match &i.field {
        Some(f) => format!("{} ({}) {f}: {}", i.object, i.location, i.reason),
        None => format!("{} ({}): {}", i.object, i.location, i.reason),
    }
}

/// Namespaces khc never manages: their objects are left out.
pub const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease", "default"];

/// The Pod Security levels, least strict first.
const LEVELS: &[&str] = &["privileged", "baseline", "restricted"];

fn level_rank(l: &str) -> usize {
    LEVELS.iter().position(|x| *x == l).unwrap_or(0)
}

/// One object being imported.
pub(crate) struct Obj<'a> {
    pub m: &'a Manifest,
}

impl Obj<'_> {
    pub fn v(&self) -> &Value {
        &self.m.value
    }
    pub fn kind(&self) -> &str {
        self.v()["kind"].as_str().unwrap_or("")
    }
    pub fn name(&self) -> &str {
        self.v()["metadata"]["name"].as_str().unwrap_or("")
    }
    pub fn namespace(&self) -> Option<&str> {
        self.v()["metadata"]["namespace"].as_str()
    }
    pub fn describe(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{} {ns}/{}", self.kind(), self.name()),
            None => format!("{} {}", self.kind(), self.name()),
        }
    }
}

/// Statements of one tenant, collected while importing.
#[derive(Default)]
pub(crate) struct TenantOut {
    pub namespaces: Vec<String>,
    pub pod_security: Option<String>,
    pub isolation: &'static str,
    pub quota: Vec<String>,
    pub limits: Vec<String>,
    /// `name → (namespace, selector)`.
    pub workloads: BTreeMap<String, (String, BTreeMap<String, String>)>,
    pub roles: Vec<String>,
    pub grants: Vec<String>,
    pub allows: Vec<String>,
    pub admission: Vec<String>,
}

/// The whole import's state.
pub(crate) struct Ctx<'a> {
    pub opts: &'a Options,
    pub left_out: Vec<Item>,
    pub changed: Vec<Item>,
    /// namespace → tenant.
    pub tenant_of: BTreeMap<String, String>,
    pub tenants: BTreeMap<String, TenantOut>,
    pub cluster_roles: Vec<String>,
    pub cluster_grants: Vec<String>,
    pub cluster_admission: Vec<String>,
    /// ClusterRoles declared in the output (by their khc name), for grants.
    pub declared_cluster_roles: BTreeSet<String>,
    /// Minimum Pod Security enforce/audit level from cluster-wide policies.
    pub pss_floor: Option<(String, bool)>,
    pub stdlib: BTreeSet<&'static str>,
}

impl Ctx<'_> {
    pub fn leave(&mut self, o: &Obj<'_>, field: Option<String>, reason: impl Into<String>) {
        self.left_out.push(Item { object: o.describe(), location: o.m.location(), field, reason: reason.into() });
    }
    pub fn change(&mut self, o: &Obj<'_>, field: Option<String>, reason: impl Into<String>) {
        self.changed.push(Item { object: o.describe(), location: o.m.location(), field, reason: reason.into() });
    }
    /// The tenant of an imported namespace (`None`: not imported).
    pub fn tenant(&self, ns: &str) -> Option<&str> {
        self.tenant_of.get(ns).map(String::as_str)
    }
}

/// A khc string literal.
pub(crate) fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A DNS-1123 label made of `s` (lowercase; other characters become `-`).
pub(crate) fn label_of(s: &str) -> String {
    let mut out: String = s.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-').to_string();
    let out: String = out.chars().take(63).collect();
    if out.is_empty() {
        "x".into()
    } else {
        out.trim_end_matches('-').to_string()
    }
}

/// Imports `manifests` (a dump or a folder of manifests).
pub fn import(manifests: &[Manifest], opts: &Options) -> Imported {
    let objs: Vec<Obj<'_>> = manifests.iter().map(|m| Obj { m }).collect();
    let mut cx = Ctx {
        opts,
        left_out: Vec::new(),
        changed: Vec::new(),
        tenant_of: BTreeMap::new(),
        tenants: BTreeMap::new(),
        cluster_roles: Vec::new(),
        cluster_grants: Vec::new(),
        cluster_admission: Vec::new(),
        declared_cluster_roles: BTreeSet::new(),
        pss_floor: None,
        stdlib: BTreeSet::new(),
    };
    namespaces(&mut cx, &objs);
    let handled = ["Namespace"];
    for o in &objs {
        if handled.contains(&o.kind()) {
            continue;
        }
        if let Some(ns) = o.namespace() {
            if cx.tenant(ns).is_none() {
                let reason = if SYSTEM_NAMESPACES.contains(&ns) {
                    format!("`{ns}` is a system namespace: khc does not manage it")
                } else {
                    format!("namespace `{ns}` is not imported")
                };
                cx.leave(o, None, reason);
                continue;
            }
        }
        match o.kind() {
            "ServiceAccount" => service_account(&mut cx, o),
            "ResourceQuota" | "LimitRange" => {}
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" | "NetworkPolicy" => {}
            "ClusterPolicy" | "Policy" if o.v()["apiVersion"].as_str().unwrap_or("").starts_with("kyverno.io/") => {}
            _ if o.v()["apiVersion"].as_str().unwrap_or("").starts_with("constraints.gatekeeper.sh/") => {}
            "ConstraintTemplate" if o.v()["apiVersion"].as_str().unwrap_or("").starts_with("templates.gatekeeper.sh/") => {}
            k => cx.leave(o, None, format!("khc does not import `{k}` objects")),
        }
    }
    quotas(&mut cx, &objs);
    rbac::import(&mut cx, &objs);
    network::import(&mut cx, &objs);
    admission::import(&mut cx, &objs);
    let network_imported = cx.tenants.iter().filter(|(_, t)| t.isolation != "unimported").flat_map(|(_, t)| t.namespaces.clone()).collect();
    let source = render(&mut cx);
    let formatted = khc_fmt::format(&source).text;
    cx.left_out.sort();
    cx.changed.sort();
    Imported {
        source: formatted,
        left_out: cx.left_out,
        changed: cx.changed,
        tenants: cx.tenants.iter().map(|(k, t)| (k.clone(), t.namespaces.clone())).collect(),
        network_imported,
    }
}

fn namespaces(cx: &mut Ctx<'_>, objs: &[Obj<'_>]) {
    // Every namespace: the Namespace objects, and those other objects name.
    let mut labels: BTreeMap<String, (Option<&Obj<'_>>, BTreeMap<String, String>)> = BTreeMap::new();
    for o in objs {
        if o.kind() == "Namespace" {
            let l = o.v()["metadata"]["labels"]
                .as_object()
                .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
                .unwrap_or_default();
            labels.insert(o.name().to_string(), (Some(o), l));
        }
    }
    for o in objs {
        if let Some(ns) = o.namespace() {
            labels.entry(ns.to_string()).or_insert((None, BTreeMap::new()));
        }
    }
    for (ns, (obj, l)) in &labels {
        if SYSTEM_NAMESPACES.contains(&ns.as_str()) {
            if let Some(o) = obj {
                cx.leave(o, None, format!("`{ns}` is a system namespace: khc does not manage it"));
            }
            continue;
        }
        let tenant = match (cx.opts.tenant_of.get(ns), cx.opts.tenant_label.as_ref().and_then(|k| l.get(k))) {
            (Some(t), _) => t.clone(),
            (None, Some(v)) => label_of(v),
            (None, None) => label_of(ns),
        };
        cx.tenant_of.insert(ns.clone(), tenant.clone());
        let t = cx.tenants.entry(tenant).or_default();
        t.namespaces.push(ns.clone());
        t.isolation = "none";
    }
    // Pod Security: every mode's level and the version, per tenant; namespaces
    // of one tenant that disagree get the least strict (a loosening is never
    // imported silently: reported).
    let tenants: Vec<String> = cx.tenants.keys().cloned().collect();
    for tenant in tenants {
        let nss = cx.tenants[&tenant].namespaces.clone();
        let mut modes: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        let mut versions = BTreeSet::new();
        for ns in &nss {
            let (obj, l) = &labels[ns];
            for mode in ["enforce", "audit", "warn"] {
                // A missing audit or warn label: as strict as enforce, which then
                // denies first, so the added mode never fires (same effect).
                let enforce = l.get("pod-security.kubernetes.io/enforce").cloned().unwrap_or_else(|| "privileged".into());
                let level = l.get(&format!("pod-security.kubernetes.io/{mode}")).cloned().unwrap_or(enforce);
                if !LEVELS.contains(&level.as_str()) {
                    if let Some(o) = obj {
                        cx.leave(o, Some(format!("metadata.labels.pod-security.kubernetes.io/{mode}")), format!("`{level}` is not a Pod Security level"));
                    }
                    continue;
                }
                modes.entry(mode).or_default().insert(level);
            }
            if let Some(v) = l.get("pod-security.kubernetes.io/enforce-version") {
                versions.insert(v.clone());
            }
            if obj.is_some() && !l.contains_key("pod-security.kubernetes.io/enforce") {
                let o = obj.unwrap();
                cx.change(o, None, "no Pod Security `enforce` label: imported as `pod-security privileged` (what the API server's default applies), raise it");
            }
        }
        let pick = |set: Option<&BTreeSet<String>>| set.and_then(|s| s.iter().min_by_key(|l| level_rank(l)).cloned()).unwrap_or_else(|| "privileged".into());
        let enforce = pick(modes.get("enforce"));
        let audit = pick(modes.get("audit"));
        let warn = pick(modes.get("warn"));
        if modes.values().any(|s| s.len() > 1) {
            if let Some((Some(o), _)) = nss.iter().map(|n| &labels[n]).find(|(o, _)| o.is_some()).map(|(o, l)| (o.as_ref(), l)) {
                cx.change(o, Some("metadata.labels".into()), format!("tenant `{tenant}`'s namespaces have different Pod Security levels: imported with the least strict of each mode (per-namespace levels are not in khc yet)"));
            }
        }
        let mut block = Vec::new();
        if audit != enforce {
            block.push(format!("audit {audit}"));
        }
        if warn != enforce {
            block.push(format!("warn {warn}"));
        }
        if versions.len() == 1 {
            let v = versions.into_iter().next().unwrap_or_default();
            if v == "latest" || v.starts_with("v1.") {
                block.push(format!("version {}", v.trim_start_matches('v')));
            }
        }
        let ps = if block.is_empty() { enforce } else { format!("{enforce} {{ {} }}", block.join("; ")) };
        if let Some(t) = cx.tenants.get_mut(&tenant) {
            t.pod_security = Some(ps);
        }
    }
}

fn service_account(cx: &mut Ctx<'_>, o: &Obj<'_>) {
    let ns = o.namespace().unwrap_or_default().to_string();
    let Some(tenant) = cx.tenant(&ns).map(str::to_string) else { return };
    let name = o.name().to_string();
    if name == "default" {
        cx.change(o, None, "khc manages every namespace's `default` ServiceAccount: its token is no longer mounted");
        return;
    }
    if !khc_semantics::values::is_dns_label(&name) {
        cx.leave(o, None, "a workload name must be a DNS-1123 label");
        return;
    }
    let t = cx.tenants.get_mut(&tenant).expect("tenant of an imported namespace");
    if let Some((other, _)) = t.workloads.get(&name) {
        let other = other.clone();
        cx.leave(o, None, format!("tenant `{tenant}` already has a workload `{name}` (ServiceAccount in `{other}`): a tenant's workload names are unique"));
        return;
    }
    t.workloads.insert(name.clone(), (ns, BTreeMap::from([("app.kubernetes.io/name".to_string(), name)])));
    if o.v()["automountServiceAccountToken"] != Value::Bool(false) {
        cx.change(
            o,
            Some("automountServiceAccountToken".into()),
            "a workload's ServiceAccount does not mount its token: write `automount-token true` in the workload if its pods call the API",
        );
    }
}

/// `(tenant, "quota"|"limits") → namespace → (statement lines, object)`.
type PerNamespace<'o, 'm> = BTreeMap<(String, &'static str), BTreeMap<String, (Vec<String>, &'o Obj<'m>)>>;

/// The quota keys khc names (`requests.cpu` → `cpu`).
const QUOTA_KEYS: &[(&str, &str)] = &[
    ("requests.cpu", "cpu"),
    ("cpu", "cpu"),
    ("requests.memory", "memory"),
    ("memory", "memory"),
    ("limits.cpu", "limit-cpu"),
    ("limits.memory", "limit-memory"),
    ("pods", "pods"),
    ("services", "services"),
    ("secrets", "secrets"),
    ("configmaps", "configmaps"),
    ("persistentvolumeclaims", "pvcs"),
    ("requests.storage", "storage"),
    ("requests.ephemeral-storage", "ephemeral-storage"),
    ("ephemeral-storage", "ephemeral-storage"),
    ("services.loadbalancers", "load-balancers"),
    ("services.nodeports", "node-ports"),
];

fn quotas(cx: &mut Ctx<'_>, objs: &[Obj<'_>]) {
    // tenant → namespace → statement lines, per kind.
    let mut per: PerNamespace<'_, '_> = BTreeMap::new();
    for o in objs.iter().filter(|o| matches!(o.kind(), "ResourceQuota" | "LimitRange")) {
        let ns = o.namespace().unwrap_or_default().to_string();
        let Some(tenant) = cx.tenant(&ns).map(str::to_string) else { continue };
        let mut lines = Vec::new();
        if o.kind() == "ResourceQuota" {
            if !o.v()["spec"]["scopes"].is_null() || !o.v()["spec"]["scopeSelector"].is_null() {
                cx.leave(o, Some("spec.scopes".into()), "khc's quota has no scopes");
                continue;
            }
            for (k, v) in o.v()["spec"]["hard"].as_object().cloned().unwrap_or_default() {
                let val = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                match QUOTA_KEYS.iter().find(|(key, _)| *key == k) {
                    Some((_, khc)) => lines.push(format!("{khc} {val}")),
                    None => cx.leave(o, Some(format!("spec.hard.{k}")), format!("khc's quota has no `{k}`")),
                }
            }
        } else {
            for (i, l) in o.v()["spec"]["limits"].as_array().cloned().unwrap_or_default().iter().enumerate() {
                if l["type"] != "Container" {
                    cx.leave(o, Some(format!("spec.limits[{i}]")), format!("khc's limits are per container, not `{}`", l["type"].as_str().unwrap_or("?")));
                    continue;
                }
                for (field, khc) in [("default", "default"), ("defaultRequest", "request"), ("max", "max"), ("min", "min")] {
                    let mut pairs = Vec::new();
                    for (k, v) in l[field].as_object().cloned().unwrap_or_default() {
                        if matches!(k.as_str(), "cpu" | "memory" | "ephemeral-storage") {
                            pairs.push(format!("{k} {}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())));
                        } else {
                            cx.leave(
                                o,
                                Some(format!("spec.limits[{i}].{field}.{k}")),
                                format!("khc's limits name cpu, memory and ephemeral-storage, not `{k}`"),
                            );
                        }
                    }
                    if !pairs.is_empty() {
                        lines.push(format!("{khc} {}", pairs.join(" ")));
                    }
                }
                if !l["maxLimitRequestRatio"].is_null() {
                    cx.leave(o, Some(format!("spec.limits[{i}].maxLimitRequestRatio")), "khc's limits have no limit/request ratio");
                }
            }
        }
        let entry = per.entry((tenant, if o.kind() == "ResourceQuota" { "quota" } else { "limits" })).or_default();
        if entry.contains_key(&ns) {
            cx.leave(o, None, format!("a second {} in `{ns}`: khc has one per namespace", o.kind()));
            continue;
        }
        entry.insert(ns, (lines, o));
    }
    for ((tenant, what), by_ns) in per {
        let t = &cx.tenants[&tenant];
        let all = t.namespaces.len() == by_ns.len();
        let first = by_ns.values().next().map(|(l, _)| l.clone()).unwrap_or_default();
        if !all || by_ns.values().any(|(l, _)| *l != first) {
            let objs: Vec<&Obj<'_>> = by_ns.values().map(|(_, o)| *o).collect();
            for o in objs {
                cx.leave(
                    o,
                    None,
                    format!("tenant `{tenant}`'s namespaces do not all have the same {what}: khc's `{what}` applies to every namespace of the tenant"),
                );
            }
            continue;
        }
        let t = cx.tenants.get_mut(&tenant).expect("tenant");
        if what == "quota" {
            t.quota = first;
        } else {
            t.limits = first;
        }
    }
}

fn render(cx: &mut Ctx<'_>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Imported by `khc import`: review it and its report before building.");
    for m in &cx.stdlib {
        let _ = writeln!(s, "import \"std/{m}\"");
    }
    let _ = writeln!(s, "cluster {} {{\n  kubernetes 1.{}", label_of(&cx.opts.cluster), cx.opts.minor);
    let _ = writeln!(s, "  encryption {{ provider secretbox {{ key k1 env \"KHC_ENCRYPTION_KEY\" }} }}");
    for r in &cx.cluster_roles {
        let _ = writeln!(s, "  {r}");
    }
    for g in &cx.cluster_grants {
        let _ = writeln!(s, "  {g}");
    }
    if !cx.cluster_admission.is_empty() {
        let _ = writeln!(s, "  admission {{\n    {}\n  }}", cx.cluster_admission.join("\n    "));
    }
    let _ = writeln!(s, "}}");
    let floor = cx.pss_floor.clone();
    for (name, t) in &cx.tenants {
        let _ = writeln!(s, "\ntenant {name} {{");
        let _ = writeln!(s, "  namespaces {}", t.namespaces.join(" "));
        if let Some(ps) = &t.pod_security {
            let ps = match &floor {
                Some((level, true)) => {
                    let enforce = ps.split_whitespace().next().unwrap_or("privileged");
                    if level_rank(level) > level_rank(enforce) {
                        ps.replacen(enforce, level, 1)
                    } else {
                        ps.clone()
                    }
                }
                _ => ps.clone(),
            };
            let _ = writeln!(s, "  pod-security {ps}");
        }
        let isolation = if t.isolation == "unimported" { "none" } else { t.isolation };
        let _ = writeln!(s, "  isolation {isolation}");
        if !t.quota.is_empty() {
            let _ = writeln!(s, "  quota {{\n    {}\n  }}", t.quota.join("\n    "));
        }
        if !t.limits.is_empty() {
            let _ = writeln!(s, "  limits {{\n    {}\n  }}", t.limits.join("\n    "));
        }
        for (w, (ns, sel)) in &t.workloads {
            let sel: Vec<String> =
                sel.iter().map(|(k, v)| format!("{} {}", if khc_semantics::values::is_dns_label(k) { k.clone() } else { q(k) }, q(v))).collect();
            let _ = writeln!(s, "  workload {w} {{\n    namespace {ns}\n    selector {{ {} }}\n  }}", sel.join("; "));
        }
        for r in &t.roles {
            let _ = writeln!(s, "  {r}");
        }
        for g in &t.grants {
            let _ = writeln!(s, "  {g}");
        }
        for a in &t.allows {
            let _ = writeln!(s, "  {a}");
        }
        if !t.admission.is_empty() {
            let _ = writeln!(s, "  admission {{\n    {}\n  }}", t.admission.join("\n    "));
        }
        let _ = writeln!(s, "}}");
    }
    s
}
