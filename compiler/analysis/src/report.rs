//! The per-tenant compliance matrix: each Pod Security control and each
//! recommendation → enforced by Pod Security Admission, by khc's admission
//! policy, by both, or by neither, with the source lines.

use crate::pss::CONTROLS;
use crate::Workspace;
use khc_rules::facts::PssLevel;
use khc_rules::Covers;
use khc_semantics::model::{Isolation, RuleKind, Tenant};
use serde::Serialize;
use std::collections::BTreeMap;

/// Who enforces a control.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcer {
    /// Pod Security Admission and khc's admission policy.
    Both,
    /// Pod Security Admission only.
    Psa,
    /// khc only (admission policy or emitted objects).
    Khc,
    /// khc's admission policy covers part of the control (for example
    /// `drop-all-capabilities` without `allowed-capabilities NET_BIND_SERVICE`),
    /// Pod Security Admission does not enforce it.
    Partial,
    /// Nothing.
    Neither,
}

impl Enforcer {
    /// `both`, `PSA`, `khc`, `partial`, `neither`.
    pub fn label(self) -> &'static str {
        match self {
            Enforcer::Both => "both",
            Enforcer::Psa => "PSA",
            Enforcer::Khc => "khc",
            Enforcer::Partial => "partial",
            Enforcer::Neither => "neither",
        }
    }
}

/// One cell of the matrix.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// Who enforces it.
    pub enforcer: Enforcer,
    /// The sources (`FILE:LINE`) of what enforces it.
    pub sources: Vec<String>,
}

/// One row: a control or recommendation.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `pss/host-namespaces`, `recommended/require-limits`, …
    pub id: String,
    /// Title.
    pub title: String,
    /// Per tenant.
    pub tenants: BTreeMap<String, Cell>,
}

/// The khc admission rules that deny for a tenant's pods, with their sources
/// (`FILE:LINE`, in the order the admission evaluator finds them), by rule name.
pub type DenyingRules = BTreeMap<String, Vec<String>>;

/// The denying rules of every tenant ([`Workspace::tenants`] order): read from
/// the checked models when the workspace was loaded from them ([`ModelJudges`]:
/// which rules each policy khc emits holds, where it binds, whether it denies —
/// no policy built, converted or compiled), else judged by the whole fleet's
/// admission evaluator (parsed YAML, live objects).
pub fn denying_rules_of(ws: &Workspace) -> Vec<DenyingRules> {
    if !ws.objects.0.typed {
        return denying_rules_through_views(ws);
    }
    let judges = ModelJudges::new(ws);
    ws.tenants().map(|t| judges.denying_rules(t)).collect()
}

/// [`denying_rules_of`] the long way, the test oracle of the model path: each
/// tenant's pods judged by its tenant view's evaluators
/// ([`Workspace::tenant_view`]: its Namespaces and the cluster's and its
/// own admission policies, emitted, converted and compiled), or the whole
/// fleet's when the workspace's objects were given.
pub fn denying_rules_through_views(ws: &Workspace) -> Vec<DenyingRules> {
    let mut programs = crate::admission::Programs::default();
    ws.tenants()
        .map(|t| match ws.tenant_view(&t.name, &mut programs) {
            Some(view) => denying_rules_by(&view.network, &view.admission, t),
            None => denying_rules_by(&ws.network, &ws.admission, t),
        })
        .collect()
}

/// [`denying_rules_through_views`] by these evaluators. A check without a
/// `[khc rule …]` tag (the `managed-by` applier policy's) names no rule and
/// is left out.
fn denying_rules_by(network: &crate::network::Network, admission: &crate::admission::Admission, t: &Tenant) -> DenyingRules {
    let mut out: DenyingRules = BTreeMap::new();
    for ns in &t.namespaces {
        let labels = network.labels_of(ns);
        for (p, b) in admission.applicable("", "pods", &labels) {
            if !b.actions.iter().any(|a| a == "Deny") {
                continue;
            }
            for c in p.checks.iter().filter(|c| !c.rule.is_empty()) {
                let v = out.entry(c.rule.clone()).or_default();
                if !v.contains(&c.rule_source) {
                    v.push(c.rule_source.clone());
                }
            }
        }
    }
    out
}

/// Where a policy's binding binds, by the `kubernetes.io/metadata.name` label
/// (the only one khc's admission bindings select on).
enum Binds {
    /// Namespaces named one of these.
    In(Vec<String>),
    /// Namespaces named none of these.
    NotIn(Vec<String>),
}

impl Binds {
    fn matches(&self, ns: &str) -> bool {
        match self {
            Binds::In(names) => names.iter().any(|n| n == ns),
            Binds::NotIn(names) => !names.iter().any(|n| n == ns),
        }
    }
}

/// One ValidatingAdmissionPolicy khc emits, with its binding (of the same
/// name), as the report reads it: its file name, whether it matches pods, its
/// checks' `(rule, source)` tags, where it binds and whether it denies.
struct Judge {
    file: String,
    pods: bool,
    checks: Vec<(String, String)>,
    binds: Binds,
    deny: bool,
}

/// The admission policies of a scope (`khc_emit::objects`'s
/// `admission_policy_with`), as [`Judge`]s: the pod policy `name` (the pod rules,
/// then `extra`'s tags) and one per custom rule; the `….resources` policy
/// matches no pod and is left out.
fn scope_judges(name: &str, a: &khc_semantics::model::Admission, binds: &dyn Fn() -> Binds, extra: Vec<(String, String)>, deny: bool, out: &mut Vec<Judge>) {
    let mut checks: Vec<(String, String)> =
        a.rules.iter().filter(|r| r.kind.id.def().pods.is_some()).map(|r| (r.kind.keyword().to_string(), r.origin.to_string())).collect();
    checks.extend(extra);
    if !checks.is_empty() {
        out.push(Judge { file: format!("{name}.yaml"), pods: true, checks, binds: binds(), deny });
    }
    for r in &a.custom {
        let pods = r.kinds.iter().any(|(g, k)| (g == "*" || g.is_empty()) && (k == "*" || k == "pods"));
        out.push(Judge { file: format!("{name}.rule-{}.yaml", r.name), pods, checks: vec![(r.name.clone(), r.origin.to_string())], binds: binds(), deny });
    }
}

/// The pod policies of a cluster unit, in file order.
fn cluster_judges(c: &khc_semantics::model::Cluster) -> Vec<Judge> {
    let mut out = Vec::new();
    if let Some(a) = &c.admission {
        let deny = a.actions.contains(&khc_semantics::model::Action::Deny);
        scope_judges("khc-cluster", a, &|| Binds::NotIn(c.exempt_namespaces.clone()), Vec::new(), deny, &mut out);
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// The pod policies of a tenant (`khc_emit::objects`'s `tenant_policies`), in
/// file order.
fn tenant_judges(t: &Tenant) -> Vec<Judge> {
    use khc_semantics::model::Level;
    let mut out = Vec::new();
    // No `admission` block, or one without actions: denies.
    let deny = tenant_denies(t);
    let origin = t.origin.to_string();
    let mut extra = vec![("automount-token".to_string(), origin.clone())];
    if let Some(n) = &t.nodes {
        extra.push(("nodes".to_string(), n.origin.to_string()));
    }
    out.extend(nodes_judge(t));
    let stated: &[khc_semantics::model::AdmissionRule] = t.admission.as_ref().map_or(&[], |a| &a.rules);
    let levels: std::collections::BTreeSet<Level> = t.pod_security.stand_ins.values().copied().collect();
    for level in levels {
        let pl = match level {
            Level::Baseline => PssLevel::Baseline,
            Level::Restricted => PssLevel::Restricted,
            Level::Privileged => continue,
        };
        for kind in STAND_INS[pl as usize].iter().filter(|k| k.id.def().pods.is_some()) {
            if !stated.iter().any(|r| r.kind == *kind) {
                extra.push((kind.keyword().to_string(), origin.clone()));
            }
        }
    }
    let binds = || Binds::In(t.namespaces.clone());
    match &t.admission {
        Some(a) => scope_judges(&format!("khc-tenant-{}", t.name), a, &binds, extra, deny, &mut out),
        None => out.push(Judge { file: format!("khc-tenant-{}.yaml", t.name), pods: true, checks: extra, binds: binds(), deny }),
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// Whether tenant `t`'s policies deny: no `admission` block, or one without
/// actions, denies.
fn tenant_denies(t: &Tenant) -> bool {
    use khc_semantics::model::Action;
    t.admission.as_ref().is_none_or(|a| a.actions.is_empty() || a.actions.contains(&Action::Deny))
}

/// The `khc-nodes-T` policy of a tenant with `nodes`: it binds every namespace
/// but the tenant's own and the exempt ones, so it judges every other
/// tenant's pods too.
fn nodes_judge(t: &Tenant) -> Option<Judge> {
    let n = t.nodes.as_ref()?;
    let mut others: Vec<String> = t.namespaces.iter().chain(&t.exempt_namespaces).cloned().collect();
    others.sort();
    others.dedup();
    Some(Judge {
        file: format!("khc-nodes-{}.yaml", t.name),
        pods: true,
        checks: vec![("nodes".to_string(), n.origin.to_string())],
        binds: Binds::NotIn(others),
        deny: tenant_denies(t),
    })
}

/// What the report reads of the admission policies khc emits for the
/// workspace's models, without emitting them: each cluster unit's pod policies
/// (once), and each tenant's on demand. In the order the admission evaluator
/// holds them (each model's objects by path: its cluster unit, then the
/// tenant's folder), each binding given to the first policy of its name, as
/// [`crate::admission::AdmissionBuilder`] does; `tests/typed_model.rs` holds
/// the answers equal to [`denying_rules_through_views`]'.
pub struct ModelJudges<'w> {
    ws: &'w Workspace,
    clusters: Vec<Vec<Judge>>,
    /// Each model's `khc-nodes-T` policies, with T's folder (`DIR/`: the
    /// evaluator's order is by path) and T.
    nodes: Vec<Vec<(String, &'w str, Judge)>>,
}

impl<'w> ModelJudges<'w> {
    /// The cluster units' policies of `ws`'s models.
    pub fn new(ws: &'w Workspace) -> ModelJudges<'w> {
        let clusters = ws.models.iter().map(|m| cluster_judges(&m.cluster)).collect();
        let nodes = ws
            .models
            .iter()
            .map(|m| {
                m.tenants
                    .iter()
                    .filter_map(|t| nodes_judge(t).map(|j| (format!("{}/", khc_emit::tenant_dir(&m.cluster.name, &t.name)), t.name.as_str(), j)))
                    .collect()
            })
            .collect();
        ModelJudges { ws, clusters, nodes }
    }

    /// The rules that deny for tenant `t`'s pods (see [`denying_rules_of`]).
    pub fn denying_rules(&self, t: &Tenant) -> DenyingRules {
        let mut own: Vec<Vec<(String, Judge)>> = self.ws.models.iter().map(|_| Vec::new()).collect();
        for &(i, j) in self.ws.objects.0.by_name().get(t.name.as_str()).into_iter().flatten() {
            let m = &self.ws.models[i];
            let dir = format!("{}/", khc_emit::tenant_dir(&m.cluster.name, &m.tenants[j].name));
            own[i].extend(tenant_judges(&m.tenants[j]).into_iter().map(|p| (dir.clone(), p)));
        }
        // Each model's cluster unit, then its tenants' folders by path: the
        // tenant's own policies and every other tenant's `khc-nodes-*`.
        let mut all: Vec<&Judge> = Vec::new();
        for ((cluster, own), nodes) in self.clusters.iter().zip(&own).zip(&self.nodes) {
            all.extend(cluster);
            let others = nodes.iter().filter(|(_, n, _)| *n != t.name).map(|(d, _, p)| (d, p));
            let mut part: Vec<(&String, &Judge)> = own.iter().map(|(d, p)| (d, p)).chain(others).collect();
            part.sort_by(|a, b| (a.0, &a.1.file).cmp(&(b.0, &b.1.file)));
            all.extend(part.into_iter().map(|(_, p)| p));
        }
        let mut out: DenyingRules = BTreeMap::new();
        for ns in &t.namespaces {
            let mut seen: Vec<&str> = Vec::new();
            for (k, p) in all.iter().enumerate() {
                let name = p.file.as_str();
                if seen.contains(&name) {
                    continue;
                }
                seen.push(name);
                // Every binding of this name belongs to the first policy of it.
                if !p.pods || !all[k..].iter().any(|b| b.file == p.file && b.deny && b.binds.matches(ns)) {
                    continue;
                }
                for (rule, source) in &p.checks {
                    let v = out.entry(rule.clone()).or_default();
                    if !v.contains(source) {
                        v.push(source.clone());
                    }
                }
            }
        }
        out
    }
}

/// Every stated rule of the workspace's models with its arguments and the
/// Kubernetes version it was compiled for, by `(name, FILE:LINE)`.
fn stated_rules(ws: &Workspace) -> BTreeMap<(String, String), (&RuleKind, u32)> {
    let mut out = BTreeMap::new();
    for m in ws.models.iter() {
        for a in m.cluster.admission.iter().chain(m.tenants.iter().filter_map(|t| t.admission.as_ref())) {
            for r in &a.rules {
                out.insert((r.kind.keyword().to_string(), r.origin.to_string()), (&r.kind, a.minor_version));
            }
        }
        // The rules khc enforces in place of a Pod Security level an exception
        // lowered (their messages name the tenant's declaration).
        for t in m.tenants.iter().filter(|t| !t.pod_security.stand_ins.is_empty()) {
            for level in t.pod_security.stand_ins.values() {
                let pl = if *level == khc_semantics::model::Level::Baseline { PssLevel::Baseline } else { PssLevel::Restricted };
                for kind in STAND_INS[pl as usize].iter() {
                    out.insert((kind.keyword().to_string(), t.origin.to_string()), (kind, m.cluster.minor_version));
                }
            }
        }
    }
    out
}

/// `khc_rules::pss_stand_in` of baseline and restricted, kept for the report's borrows.
static STAND_INS: std::sync::LazyLock<[Vec<RuleKind>; 2]> =
    std::sync::LazyLock::new(|| [khc_rules::pss_stand_in(PssLevel::Baseline), khc_rules::pss_stand_in(PssLevel::Restricted)]);

/// The report's section on exceptions (SPEC section 5): one line per
/// exception with its tenant, scope, lifted rules, reason and expiry, and the
/// namespaces whose Pod Security label khc lowered; empty without exceptions.
pub fn exceptions_markdown(ws: &Workspace) -> String {
    let mut s = String::new();
    let clusters = ws.models.iter().map(|m| (format!("cluster {}", m.cluster.name), &m.cluster.exceptions, None));
    let tenants = ws.tenants().map(|t| (t.name.clone(), &t.exceptions, Some(t)));
    for (owner, exceptions, tenant) in clusters.chain(tenants) {
        for e in exceptions {
            let scope = if e.workloads.is_empty() {
                format!("namespaces {}", e.namespaces.join(", "))
            } else {
                format!("workloads {}", e.workloads.iter().map(|(w, ns)| format!("{ns}/{w}")).collect::<Vec<_>>().join(", "))
            };
            let lifts: Vec<&str> = e.lifts.iter().map(|r| r.keyword()).collect();
            let expires = e.expires.as_deref().map_or("no expiry".to_string(), |d| format!("expires {d}"));
            s.push_str(&format!("* {owner} / `{}` ({}): lifts {} for {scope}; {expires}. Reason: {}\n", e.name, e.origin, lifts.join(", "), e.reason));
        }
        let Some(t) = tenant else { continue };
        for (ns, level) in &t.pod_security.stand_ins {
            s.push_str(&format!(
                "* {} / namespace {ns}: Pod Security enforce label lowered to privileged; khc enforces {} in its policy for every pod no exception covers\n",
                t.name,
                level.as_str()
            ));
        }
    }
    if s.is_empty() {
        return s;
    }
    format!("\n## Exceptions\n\n{s}")
}

/// The report's section on custom rules (`rule NAME { … }`, SPEC section 8): one
/// line per rule with its scope, resources, actions, message and expression;
/// empty without custom rules. They cover no Pod Security control: the matrix
/// above does not count them.
pub fn custom_rules_markdown(ws: &Workspace) -> String {
    let mut s = String::new();
    let line = |s: &mut String, scope: &str, a: &khc_semantics::model::Admission| {
        for r in &a.custom {
            let kinds: Vec<String> = r.kinds.iter().map(|(g, k)| if g.is_empty() { k.clone() } else { format!("{k}.{g}") }).collect();
            let actions: Vec<&str> = a
                .actions
                .iter()
                .map(|x| match x {
                    khc_semantics::model::Action::Deny => "deny",
                    khc_semantics::model::Action::Warn => "warn",
                    khc_semantics::model::Action::Audit => "audit",
                })
                .collect();
            s.push_str(&format!(
                "* {scope} / `{}` ({}): {} judges {}: \"{}\" — `{}`\n",
                r.name,
                r.origin,
                actions.join(" "),
                kinds.join(", "),
                r.message,
                r.expression
            ));
        }
    };
    for m in ws.models.iter() {
        if let Some(a) = &m.cluster.admission {
            line(&mut s, &format!("cluster {}", m.cluster.name), a);
        }
    }
    for t in ws.tenants() {
        if let Some(a) = &t.admission {
            line(&mut s, &t.name, a);
        }
    }
    if s.is_empty() {
        return s;
    }
    format!("\n## Custom rules\n\n{s}")
}

/// The Pod Security control parts the denying `rules` cover (the registry's
/// `pss` of each rule, with its arguments), with the sources of each control.
fn covered(stated: &BTreeMap<(String, String), (&RuleKind, u32)>, rules: &BTreeMap<String, Vec<String>>) -> BTreeMap<Covers, Vec<String>> {
    let mut out: BTreeMap<Covers, Vec<String>> = BTreeMap::new();
    for (name, sources) in rules {
        for source in sources {
            let covers = match stated.get(&(name.clone(), source.clone())) {
                Some((kind, minor)) => kind.pss(*minor),
                None => Vec::new(),
            };
            for c in covers {
                let v = out.entry(c).or_default();
                if !v.contains(source) {
                    v.push(source.clone());
                }
            }
        }
    }
    out
}

/// The matrix for every tenant (its admission rules by [`denying_rules_of`]).
pub fn compliance(ws: &Workspace) -> Vec<Row> {
    compliance_by(ws, denying_rules_of(ws))
}

/// The matrix for every tenant, its admission rules read through the tenant
/// views ([`denying_rules_through_views`]): the test oracle of [`compliance`].
pub fn compliance_through_views(ws: &Workspace) -> Vec<Row> {
    compliance_by(ws, denying_rules_through_views(ws))
}

/// The matrix, given each tenant's denying rules.
fn compliance_by(ws: &Workspace, rules: Vec<DenyingRules>) -> Vec<Row> {
    let tenants: Vec<&Tenant> = ws.tenants().collect();
    crate::stage("the admission rules of every tenant");
    let stated = stated_rules(ws);
    let covers: Vec<BTreeMap<Covers, Vec<String>>> = rules.iter().map(|r| covered(&stated, r)).collect();
    let mut rows = Vec::new();
    for c in CONTROLS.iter() {
        let mut cells = BTreeMap::new();
        for (t, cov) in tenants.iter().zip(&covers) {
            // The weakest namespace decides (a namespace an exception lowered is
            // covered by khc's stand-in rules, counted below).
            let enforce = t.namespaces.iter().map(|ns| t.pod_security.enforce_in(ns)).min().unwrap_or(t.pod_security.enforce);
            let psa = enforce >= c.level;
            let parts: Vec<&Covers> = cov.keys().filter(|k| k.control == c.id).collect();
            let all = c.facts.parts.iter().all(|p| parts.iter().any(|k| k.part == *p));
            let mut khc: Vec<String> = Vec::new();
            for k in &parts {
                for s in &cov[*k] {
                    if !khc.contains(s) {
                        khc.push(s.clone());
                    }
                }
            }
            let enforcer = match (psa, parts.is_empty(), all) {
                (true, false, true) => Enforcer::Both,
                (true, _, _) => Enforcer::Psa,
                (false, false, true) => Enforcer::Khc,
                (false, false, false) => Enforcer::Partial,
                (false, true, _) => Enforcer::Neither,
            };
            let mut sources = khc;
            if psa {
                sources.insert(0, format!("{} (pod-security enforce {})", t.origin, enforce.as_str()));
            }
            cells.insert(t.name.clone(), Cell { enforcer, sources });
        }
        rows.push(Row { id: format!("pss/{}", c.id), title: format!("{} ({})", c.title, c.level.as_str()), tenants: cells });
    }
    // The recommendations that are not Pod Security controls: the registry's
    // rules with a report title. A cluster-only rule judges namespaces outside
    // every tenant, so it is no tenant's coverage and has no row here.
    for (rule, title) in khc_rules::ALL.iter().filter(|r| !r.def().cluster_only).filter_map(|r| r.def().report.map(|t| (r.keyword(), t))) {
        let mut cells = BTreeMap::new();
        for (t, r) in tenants.iter().zip(&rules) {
            let sources = r.get(rule).cloned().unwrap_or_default();
            let enforcer = if sources.is_empty() { Enforcer::Neither } else { Enforcer::Khc };
            cells.insert(t.name.clone(), Cell { enforcer, sources });
        }
        rows.push(Row { id: format!("recommended/{rule}"), title: title.to_string(), tenants: cells });
    }
    let mut objects = |id: &str, title: &str, f: &dyn Fn(&Tenant) -> Option<String>| {
        let cells = tenants
            .iter()
            .map(|t| {
                let s = f(t);
                (t.name.clone(), Cell { enforcer: if s.is_some() { Enforcer::Khc } else { Enforcer::Neither }, sources: s.into_iter().collect() })
            })
            .collect();
        rows.push(Row { id: format!("recommended/{id}"), title: title.into(), tenants: cells });
    };
    objects("network-isolation", "Default-deny network isolation", &|t| (t.isolation != Isolation::None).then(|| t.origin.to_string()));
    objects("no-token-automount", "API tokens not mounted", &|t| t.workloads.iter().all(|w| !w.automount_token).then(|| t.origin.to_string()));
    objects("quota", "ResourceQuota", &|t| t.quota.as_ref().map(|q| q.origin.to_string()));
    objects("limits", "LimitRange defaults", &|t| t.limits.as_ref().map(|l| l.origin.to_string()));
    // `images { … }`: signatures and scans are enforced by the verifier
    // (policy-controller) through khc's ClusterImagePolicy, one row each.
    objects("image-signatures", "Image signatures (checked at admission by policy-controller)", &|t| {
        let i = t.images.as_ref().filter(|i| !i.policy.signers.is_empty())?;
        let who: Vec<String> = i.policy.signers.iter().map(|s| s.identity.describe()).collect();
        Some(format!("{} ({})", i.origin, who.join("; ")))
    });
    objects("image-scans", "Image vulnerability scans (checked at admission by policy-controller)", &|t| {
        let i = t.images.as_ref().filter(|i| !i.policy.scans.is_empty())?;
        let each: Vec<String> = i
            .policy
            .scans
            .iter()
            .map(|s| {
                let allowed = if s.allow.is_empty() {
                    String::new()
                } else {
                    format!(", accepting {}", s.allow.iter().map(|a| a.id.as_str()).collect::<Vec<_>>().join(" "))
                };
                format!("key \"{}\", deny at {} and above, max age {}h{allowed}", s.key_path, s.deny_at.as_str(), s.max_age_hours)
            })
            .collect();
        Some(format!("{} ({})", i.origin, each.join("; ")))
    });
    rows
}

/// The matrix as Markdown.
pub fn markdown(ws: &Workspace, rows: &[Row]) -> String {
    let names: Vec<String> = ws.tenants().map(|t| t.name.clone()).collect();
    let mut s = String::from(
        "# khc compliance report\n\nWho enforces each Pod Security control and recommendation, per tenant: \
Pod Security Admission (PSA), khc's admission policy or objects (khc), both, or neither.\n\n",
    );
    s.push_str(&format!("| control | {} |\n|---|{}\n", names.join(" | "), "---|".repeat(names.len())));
    for r in rows {
        let cells: Vec<String> = names
            .iter()
            .map(|n| {
                r.tenants.get(n).map_or("".into(), |c| if c.enforcer == Enforcer::Neither { "**neither**".into() } else { c.enforcer.label().to_string() })
            })
            .collect();
        s.push_str(&format!("| {} | {} |\n", r.title, cells.join(" | ")));
    }
    s.push_str("\n## Sources\n\n");
    for r in rows {
        for n in &names {
            if let Some(c) = r.tenants.get(n).filter(|c| !c.sources.is_empty()) {
                s.push_str(&format!("* {} / {n}: {}\n", r.id, c.sources.join(", ")));
            }
        }
    }
    s.push_str(&exceptions_markdown(ws));
    s.push_str(&custom_rules_markdown(ws));
    s
}

/// The matrix as a self-contained HTML page.
pub fn html(ws: &Workspace, rows: &[Row]) -> String {
    use crate::html_escape as e;
    let names: Vec<String> = ws.tenants().map(|t| t.name.clone()).collect();
    let mut s = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>khc compliance report</title><style>\
body{font-family:sans-serif;margin:24px} table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #ccc;padding:4px 8px} \
.both{background:#c8e6c9} .PSA{background:#e3f2fd} .khc{background:#fff9c4} .partial{background:#ffe0b2} .neither{background:#ffcdd2;font-weight:bold}\
</style></head><body><h1>khc compliance report</h1><table><tr><th>control</th>",
    );
    for n in &names {
        s.push_str(&format!("<th>{}</th>", e(n)));
    }
    s.push_str("</tr>\n");
    for r in rows {
        s.push_str(&format!("<tr><td>{}</td>", e(&r.title)));
        for n in &names {
            match r.tenants.get(n) {
                Some(c) => s.push_str(&format!("<td class=\"{0}\" title=\"{1}\">{0}</td>", c.enforcer.label(), e(&c.sources.join(", ")))),
                None => s.push_str("<td></td>"),
            }
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>");
    let exceptions = exceptions_markdown(ws);
    if !exceptions.is_empty() {
        s.push_str("<h2>Exceptions</h2><ul>");
        for line in exceptions.lines().filter_map(|l| l.strip_prefix("* ")) {
            s.push_str(&format!("<li>{}</li>", e(line)));
        }
        s.push_str("</ul>");
    }
    let custom = custom_rules_markdown(ws);
    if !custom.is_empty() {
        s.push_str("<h2>Custom rules</h2><ul>");
        for line in custom.lines().filter_map(|l| l.strip_prefix("* ")) {
            s.push_str(&format!("<li>{}</li>", e(line)));
        }
        s.push_str("</ul>");
    }
    s.push_str("</body></html>\n");
    s
}
