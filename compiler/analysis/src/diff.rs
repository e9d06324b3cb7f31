//! The security posture of a program in intent terms, and the change between two
//! programs: reachability, RBAC permissions, admission rules, Pod Security
//! levels, isolation and encryption — each change marked as loosening or
//! tightening, with the source line responsible where there is one.

use crate::network::Endpoint;
use crate::posture::workload_endpoint;
use crate::Workspace;
use serde::Serialize;
use std::collections::BTreeMap;

/// One fact of the posture: a key (what), a value (how much) and a source.
pub type Facts = BTreeMap<(String, String), (String, String)>;

/// The posture of a program: category → facts keyed by subject.
#[derive(Clone, Debug, Default)]
pub struct Posture {
    /// `(category, key)` → `(value, FILE:LINE)`.
    pub facts: Facts,
}

/// Whether a change loosens or tightens security.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Destroys something on the cluster when applied: a namespace (and
    /// everything in it) that leaves the source.
    Destructive,
    /// Less secure: new reachability, new permissions, fewer rules, lower levels.
    Loosened,
    /// More secure.
    Tightened,
    /// Neither clearly (e.g. encryption provider order).
    Changed,
}

/// One change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `reachability`, `rbac`, `admission`, `pod-security`, `isolation`, `encryption`.
    pub category: String,
    /// What changed.
    pub what: String,
    /// Before (empty when added).
    pub before: String,
    /// After (empty when removed).
    pub after: String,
    /// Its effect.
    pub effect: Effect,
    /// `FILE:LINE` responsible (in the new program; in the old one for removals).
    pub source: String,
}

/// The ports of a DNS-name rule as the matrix writes ports (`443/TCP`, `all ports`).
fn dns_ports(r: &khc_semantics::model::NetRule) -> String {
    if r.ports.is_empty() && r.named_ports.is_empty() {
        return if r.protocol_only { r.protocols.iter().map(|p| format!("all/{p}")).collect::<Vec<_>>().join(", ") } else { "all ports".into() };
    }
    let mut each = Vec::new();
    for p in &r.protocols {
        for range in &r.ports {
            each.push(match range.end {
                Some(e) => format!("{}-{e}/{p}", range.port),
                None => format!("{}/{p}", range.port),
            });
        }
        each.extend(r.named_ports.iter().map(|n| format!("{n}/{p}")));
    }
    each.join(", ")
}

/// The weakest level a value names (`restricted`, or `restricted (node-agents
/// privileged)` for a tenant with per-namespace levels).
fn level_rank(l: &str) -> u8 {
    l.split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
        .filter_map(|w| match w {
            "privileged" => Some(0),
            "baseline" => Some(1),
            "restricted" => Some(2),
            _ => None,
        })
        .min()
        .unwrap_or(2)
}

impl Posture {
    /// The posture of a workspace, with reachability to and from the external
    /// peers its intent names.
    pub fn of(ws: &Workspace) -> Posture {
        Posture::with_peers(ws, &crate::posture::external_endpoints(ws))
    }

    /// The posture of a workspace, with reachability to and from `externals`.
    pub fn with_peers(ws: &Workspace, externals: &[(String, Endpoint)]) -> Posture {
        let mut f = Facts::new();
        let mut put = |cat: &str, key: String, value: String, source: String| {
            f.insert((cat.to_string(), key), (value, source));
        };
        // Reachability between workloads, and to/from the external peers the intent names.
        let named: Vec<_> = ws.workloads().map(|(t, w)| workload_endpoint(t, w)).collect();
        let reasons = |d: &crate::network::Decision| -> String {
            let mut s: Vec<String> = d.egress.allowing.iter().chain(d.ingress.allowing.iter()).map(|(r, _)| r.source.clone()).collect();
            s.sort();
            s.dedup();
            s.join(", ")
        };
        // One matrix over workloads and external peers; reasons only for the allowed pairs.
        let mut names: Vec<String> = named.iter().map(|n| n.name.clone()).collect();
        let mut endpoints: Vec<Endpoint> = named.iter().map(|n| n.endpoint.clone()).collect();
        names.extend(externals.iter().map(|(n, _)| n.clone()));
        endpoints.extend(externals.iter().map(|(_, e)| e.clone()));
        for (i, j, _) in ws.network.matrix(&endpoints) {
            if i >= named.len() && j >= named.len() {
                continue;
            }
            let d = ws.network.decide(&endpoints[i], &endpoints[j]);
            put("reachability", format!("{} → {}", names[i], names[j]), d.ports().to_string(), reasons(&d));
        }
        // RBAC: every subject's rules per scope.
        for s in ws.rbac.subjects() {
            for (ns, b, role) in ws.rbac.permissions_of(&s) {
                let scope = ns.clone().map_or("cluster-wide".to_string(), |n| format!("in {n}"));
                for r in &role.rules {
                    put("rbac", format!("{s} may {} {scope}", r.describe()), format!("via {} {}", role.kind, role.name), b.source.clone());
                }
            }
        }
        // Admission: every rule of every policy, with its actions.
        for p in &ws.admission.policies {
            let actions: Vec<String> = p.bindings.iter().flat_map(|b| b.actions.iter().cloned()).collect();
            for c in &p.checks {
                let msg = c.message.rsplit_once(" [khc rule ").map_or(c.message.as_str(), |(m, _)| m);
                // A custom rule's expression is the source's own text: a changed
                // `cel` is a change (built-in rules' expressions follow the
                // version and the exceptions, shown as facts of their own).
                let mut value = actions.join(",");
                if p.name.ends_with(&format!(".rule-{}", c.rule)) {
                    value = format!("{value}{CEL_SEPARATOR}{}", c.expression);
                }
                put("admission", format!("{}: {} ({msg})", p.name, c.rule), value, c.rule_source.clone());
            }
        }
        for t in ws.tenants() {
            // DNS-name egress (`allow egress … to dns`, SPEC section 6, "The CNI"): no
            // NetworkPolicy carries it, so it is a reachability fact of its own.
            for r in &t.dns_egress {
                let khc_semantics::model::Peer::Dns(names) = &r.peer else { continue };
                let from = r.local.as_ref().map_or(format!("tenant {}", t.name), |(w, _, _)| format!("{}/{w}", t.name));
                put("reachability", format!("{from} → dns {}", names.join(" ")), dns_ports(r), r.origin.to_string());
            }
            let ps = &t.pod_security;
            for (mode, level) in [("enforce", ps.enforce), ("audit", ps.audit), ("warn", ps.warn)] {
                let mut value = level.as_str().to_string();
                if mode == "enforce" && !ps.namespace_enforce.is_empty() {
                    let each: Vec<String> = ps.namespace_enforce.iter().map(|(ns, l)| format!("{ns} {}", l.as_str())).collect();
                    value = format!("{value} ({})", each.join(", "));
                }
                put("pod-security", format!("tenant {} {mode}", t.name), value, t.origin.to_string());
            }
            // Every namespace khc creates: one leaving the source is deleted by a
            // pruning GitOps engine unless the guards of section 13 stop it.
            for ns in &t.namespaces {
                let guard = if t.deletable_namespaces.contains(ns) { "deletable" } else { "delete-guarded" };
                put("namespace", format!("namespace {ns}"), format!("tenant {}, {guard}", t.name), t.origin.to_string());
            }
            // Exceptions: one fact per lifted rule and covered scope, so a new
            // or widened exception is a new fact (a loosening).
            for e in &t.exceptions {
                exception_facts(&mut put, &format!("tenant {}", t.name), e);
            }
            if let Some(i) = &t.images {
                image_facts(&mut put, &t.name, i);
            }
            put("isolation", format!("tenant {}", t.name), format!("{:?}", t.isolation).to_lowercase(), t.origin.to_string());
            for w in &t.workloads {
                put("token", format!("{}/{} mounts its API token", t.name, w.name), w.automount_token.to_string(), w.origin.to_string());
            }
        }
        for m in ws.models.iter() {
            // The cluster's exceptions, as the tenants' above.
            for e in &m.cluster.exceptions {
                exception_facts(&mut put, &format!("cluster {}", m.cluster.name), e);
            }
            if let Some(e) = &m.cluster.encryption {
                let providers: Vec<&str> = e.providers.iter().map(|p| p.kind()).collect();
                for r in &e.resources {
                    put("encryption", format!("cluster {} encrypts {r}", m.cluster.name), providers.join(" → "), e.origin.to_string());
                }
            }
        }
        Posture { facts: f }
    }
}

/// The facts of one exception of `owner` (`tenant T`, `cluster C`): one per
/// lifted rule and covered scope, so a new or widened exception is a new fact
/// (a loosening).
fn exception_facts(put: &mut impl FnMut(&str, String, String, String), owner: &str, e: &khc_semantics::model::Exception) {
    let scopes: Vec<String> = if e.workloads.is_empty() {
        e.namespaces.iter().map(|n| format!("namespace {n}")).collect()
    } else {
        e.workloads.iter().map(|(w, n)| format!("workload {n}/{w}")).collect()
    };
    let expiry = e.expires.as_deref().map_or("no expiry".to_string(), |d| format!("until {d}"));
    for r in &e.lifts {
        for scope in &scopes {
            put(
                "exception",
                format!("{owner}: `{}` lifted for {scope}", r.keyword()),
                format!("exception {}, {expiry}: {}", e.name, e.reason),
                e.origin.to_string(),
            );
        }
    }
}

/// The facts of a tenant's image policy (`images { … }`, joined with the
/// cluster's), category `images`: each value starts with what it is, so that
/// [`effect`] can tell a loosening (a signer or scan removed, `deny-at`
/// raised, a longer `max-age`, a new accepted finding, registry or volume
/// image, `pinned` dropped) from a tightening.
fn image_facts(put: &mut impl FnMut(&str, String, String, String), tenant: &str, i: &khc_semantics::model::Images) {
    let p = &i.policy;
    let src = i.origin.to_string();
    let owner = format!("tenant {tenant} images");
    if !p.registries.is_empty() {
        put("images", format!("{owner} from registries"), format!("registries: {}", p.registries.join(" ")), src.clone());
    }
    if p.pinned {
        put("images", format!("{owner} pinned by digest"), "required".into(), src.clone());
    }
    for s in &p.signers {
        put("images", format!("{owner} signed by {}", s.identity.describe()), "required".into(), src.clone());
    }
    for s in &p.scans {
        let k = format!("{owner} scanned (attestation signed by key \"{}\")", s.key_path);
        put("images", k.clone(), "required".into(), src.clone());
        put("images", format!("{k}: deny-at"), format!("deny-at: {}", s.deny_at.as_str()), src.clone());
        put("images", format!("{k}: max-age"), format!("max-age: {}h", s.max_age_hours), src.clone());
        for a in &s.allow {
            put("images", format!("{k}: accepts {}", a.id), format!("accepted: {}", a.reason), src.clone());
        }
    }
    if let Some(v) = p.allowed_volume_images() {
        let list = if v.is_empty() { "none".to_string() } else { v.join(" ") };
        put("images", format!("{owner} volume images"), format!("volume-images: {list}"), src);
    }
}

/// The effect of a changed `images` fact (values written by [`image_facts`]).
fn image_effect(before: &str, after: &str) -> Effect {
    let loosened = match (before.split_once(": "), after.split_once(": ")) {
        (Some(("registries", b)), Some(("registries", a))) => {
            let b: Vec<&str> = b.split(' ').collect();
            a.split(' ').any(|r| !b.iter().any(|x| r.starts_with(x)))
        }
        (Some(("volume-images", b)), Some(("volume-images", a))) => {
            let b: Vec<&str> = b.split(' ').collect();
            a != "none" && a.split(' ').any(|r| !b.contains(&r))
        }
        (Some(("deny-at", b)), Some(("deny-at", a))) => {
            let rank = |x: &str| khc_semantics::model::Severity::parse(x).map_or(0, |s| s as u8);
            rank(a) > rank(b)
        }
        (Some(("max-age", b)), Some(("max-age", a))) => {
            let hours = |x: &str| x.trim_end_matches('h').parse::<u32>().unwrap_or(0);
            hours(a) > hours(b)
        }
        _ => return Effect::Changed,
    };
    if loosened {
        Effect::Loosened
    } else {
        Effect::Tightened
    }
}

/// Between a custom rule's actions and its expression in an `admission` fact.
const CEL_SEPARATOR: &str = "; cel: ";

fn effect(category: &str, before: Option<&str>, after: Option<&str>) -> Effect {
    match (category, before, after) {
        ("namespace", Some(_), None) => Effect::Destructive,
        ("namespace", None, Some(_)) => Effect::Changed,
        ("namespace", Some(b), Some(a)) if !b.ends_with("deletable") && a.ends_with("deletable") => Effect::Loosened,
        ("exception", None, Some(_)) => Effect::Loosened,
        ("exception", Some(_), None) => Effect::Tightened,
        ("reachability" | "rbac", None, Some(_)) => Effect::Loosened,
        ("reachability" | "rbac", Some(_), None) => Effect::Tightened,
        ("reachability", Some(b), Some(a)) => {
            if a.len() >= b.len() || a == "all ports" {
                Effect::Loosened
            } else {
                Effect::Tightened
            }
        }
        ("admission", None, Some(_)) => Effect::Tightened,
        ("admission", Some(_), None) => Effect::Loosened,
        ("admission", Some(b), Some(a)) => {
            // The actions only: a custom rule's expression may say `Deny`.
            let actions = |v: &str| v.split_once(CEL_SEPARATOR).map_or(v, |(x, _)| x).to_string();
            let (b, a) = (actions(b), actions(a));
            if b.contains("Deny") && !a.contains("Deny") {
                Effect::Loosened
            } else if !b.contains("Deny") && a.contains("Deny") {
                Effect::Tightened
            } else {
                Effect::Changed
            }
        }
        ("pod-security", Some(b), Some(a)) => {
            if level_rank(a) < level_rank(b) {
                Effect::Loosened
            } else {
                Effect::Tightened
            }
        }
        ("isolation", Some(b), Some(a)) => {
            let rank = |x: &str| ["none", "tenant", "strict"].iter().position(|y| *y == x).unwrap_or(0);
            if rank(a) < rank(b) {
                Effect::Loosened
            } else {
                Effect::Tightened
            }
        }
        // A newly accepted finding widens what may run; other new image facts
        // (a signer, a scan, registries where there were none) are requirements.
        ("images", None, Some(a)) if a.starts_with("accepted: ") => Effect::Loosened,
        ("images", Some(b), None) if b.starts_with("accepted: ") => Effect::Tightened,
        ("images", Some(b), Some(a)) => image_effect(b, a),
        ("token", _, Some("true")) => Effect::Loosened,
        ("token", _, _) => Effect::Tightened,
        ("encryption", Some(_), None) => Effect::Loosened,
        ("encryption", None, Some(_)) => Effect::Tightened,
        ("encryption", Some(b), Some(a)) => {
            if a.starts_with("identity") && !b.starts_with("identity") {
                Effect::Loosened
            } else if b.starts_with("identity") && !a.starts_with("identity") {
                Effect::Tightened
            } else {
                Effect::Changed
            }
        }
        (_, None, Some(_)) => Effect::Tightened,
        (_, Some(_), None) => Effect::Loosened,
        _ => Effect::Changed,
    }
}

/// The posture change between two workspaces: reachability is compared for the
/// external peers either names (so a widened CIDR still covers the old one).
pub fn compare(old: &Workspace, new: &Workspace) -> Vec<Change> {
    let mut peers = crate::posture::external_endpoints(old);
    peers.extend(crate::posture::external_endpoints(new));
    peers.sort_by(|a, b| a.0.cmp(&b.0));
    peers.dedup_by(|a, b| a.0 == b.0);
    diff(&Posture::with_peers(old, &peers), &Posture::with_peers(new, &peers))
}

/// The changes from `old` to `new`, loosenings first.
pub fn diff(old: &Posture, new: &Posture) -> Vec<Change> {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&(String, String)> = old.facts.keys().chain(new.facts.keys()).collect();
    for k in keys {
        let (b, a) = (old.facts.get(k), new.facts.get(k));
        if b.map(|x| &x.0) == a.map(|x| &x.0) {
            continue;
        }
        let source = a.or(b).map(|x| x.1.clone()).unwrap_or_default();
        out.push(Change {
            category: k.0.clone(),
            what: k.1.clone(),
            before: b.map(|x| x.0.clone()).unwrap_or_default(),
            after: a.map(|x| x.0.clone()).unwrap_or_default(),
            effect: effect(&k.0, b.map(|x| x.0.as_str()), a.map(|x| x.0.as_str())),
            source,
        });
    }
    out.sort_by(|x, y| (x.effect, &x.category, &x.what).cmp(&(y.effect, &y.category, &y.what)));
    out
}

fn describe(c: &Change) -> String {
    match (c.before.is_empty(), c.after.is_empty()) {
        (true, _) => format!("+ {}: {}", c.what, c.after),
        (_, true) => format!("- {} (was {})", c.what, c.before),
        _ => format!("~ {}: {} → {}", c.what, c.before, c.after),
    }
}

/// The changes as text.
pub fn text(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no change in security posture\n".into();
    }
    let mut s = String::new();
    for effect in [Effect::Destructive, Effect::Loosened, Effect::Tightened, Effect::Changed] {
        let these: Vec<&Change> = changes.iter().filter(|c| c.effect == effect).collect();
        if these.is_empty() {
            continue;
        }
        s.push_str(&format!("{} ({}):\n", format!("{effect:?}").to_lowercase(), these.len()));
        for c in these {
            s.push_str(&format!("  [{}] {}  ({})\n", c.category, describe(c), if c.source.is_empty() { "-" } else { &c.source }));
        }
    }
    s
}

/// The changes as Markdown, fit for a pull-request comment.
pub fn markdown(changes: &[Change]) -> String {
    let loosened = changes.iter().filter(|c| c.effect == Effect::Loosened).count();
    let tightened = changes.iter().filter(|c| c.effect == Effect::Tightened).count();
    let mut s = String::from("### khc: security posture change\n\n");
    if changes.is_empty() {
        s.push_str("No change in security posture.\n");
        return s;
    }
    let destructive = changes.iter().filter(|c| c.effect == Effect::Destructive).count();
    if destructive > 0 {
        s.push_str(&format!("**{destructive} destructive** (a namespace leaves the source: see the delete guards in the README), "));
    }
    s.push_str(&format!("**{loosened} loosened**, {tightened} tightened, {} other.\n\n", changes.len() - loosened - tightened - destructive));
    s.push_str("| effect | area | change | before | after | source |\n|---|---|---|---|---|---|\n");
    let cell = |x: &str| if x.is_empty() { "—".to_string() } else { x.replace('|', "\\|") };
    for c in changes {
        let icon = match c.effect {
            Effect::Destructive => "💥 destructive",
            Effect::Loosened => "🔓 loosened",
            Effect::Tightened => "🔒 tightened",
            Effect::Changed => "changed",
        };
        s.push_str(&format!("| {icon} | {} | {} | {} | {} | `{}` |\n", c.category, cell(&c.what), cell(&c.before), cell(&c.after), cell(&c.source)));
    }
    s
}
