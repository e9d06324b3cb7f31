//! A NetworkPolicy evaluator with Kubernetes' semantics: a pod is isolated for a
//! direction when some policy of that type selects it; an isolated pod accepts
//! (sends) only what some selecting policy's rule allows; a connection between
//! pods needs both the sender's egress and the receiver's ingress. IPv4 blocks
//! with exceptions; a CIDR endpoint is matched as a whole range.

use crate::selector::{labels, Labels, Selector};
use crate::{source_of, Object};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

/// The label every namespace carries with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// One end of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A pod with labels in a namespace.
    Pod {
        /// Its namespace.
        namespace: String,
        /// Its labels.
        labels: Labels,
        /// Its containers' named ports, `(name, protocol, number)`: what a
        /// NetworkPolicy's named port (`port: http`) resolves to when this pod is
        /// the destination.
        ports: Vec<NamedPort>,
    },
    /// An IPv4 address range `[lo, hi]` outside the cluster.
    Net {
        /// First address.
        lo: u32,
        /// Last address.
        hi: u32,
    },
}

/// A container port with a name: `(name, protocol, number)`.
pub type NamedPort = (String, String, u16);

impl Endpoint {
    /// A pod without named container ports.
    pub fn pod(namespace: &str, l: &[(&str, &str)]) -> Endpoint {
        Endpoint::Pod { namespace: namespace.into(), labels: l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ports: Vec::new() }
    }

    /// A pod without labels or named container ports in `namespace`.
    pub fn bare_pod(namespace: &str) -> Endpoint {
        Endpoint::Pod { namespace: namespace.into(), labels: Labels::new(), ports: Vec::new() }
    }

    /// The container port named `name` for `proto`, if this is a pod that has one.
    pub fn named_port(&self, name: &str, proto: &str) -> Option<u16> {
        match self {
            Endpoint::Pod { ports, .. } => ports.iter().find(|(n, p, _)| n == name && p == proto).map(|(_, _, n)| *n),
            Endpoint::Net { .. } => None,
        }
    }

    /// An address.
    pub fn ip(ip: Ipv4Addr) -> Endpoint {
        Endpoint::Net { lo: u32::from(ip), hi: u32::from(ip) }
    }

    /// An address (`10.0.0.1`) or a CIDR (`10.0.0.0/8`).
    pub fn parse_net(s: &str) -> Option<Endpoint> {
        let (lo, hi) = cidr_range(s).or_else(|| s.parse::<Ipv4Addr>().ok().map(|ip| (u32::from(ip), u32::from(ip))))?;
        Some(Endpoint::Net { lo, hi })
    }
}

/// An address of an IP block outside its exceptions (the whole block when it
/// has none), for asking about the block as the intent names it.
pub fn block_endpoint(cidr: &str, except: &[String]) -> Option<Endpoint> {
    let (lo, hi) = cidr_range(cidr)?;
    if except.is_empty() {
        return Some(Endpoint::Net { lo, hi });
    }
    let ex: Vec<(u32, u32)> = except.iter().filter_map(|e| cidr_range(e)).collect();
    let mut a = lo;
    while let Some((_, h)) = ex.iter().find(|(l, h)| *l <= a && a <= *h) {
        a = h.checked_add(1)?;
        if a > hi {
            return None;
        }
    }
    Some(Endpoint::Net { lo: a, hi: a })
}

/// `[first, last]` of an IPv4 CIDR.
pub fn cidr_range(cidr: &str) -> Option<(u32, u32)> {
    let (net, prefix) = cidr.split_once('/')?;
    let net: Ipv4Addr = net.parse().ok()?;
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32)?;
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    let lo = u32::from(net) & mask;
    Some((lo, lo | !mask))
}

/// A transport protocol.
pub const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];

/// A set of `(protocol, first port, last port)` ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ports(pub Vec<(String, u16, u16)>);

impl Ports {
    /// Every port of every protocol.
    pub fn all() -> Ports {
        Ports(PROTOCOLS.iter().map(|p| (p.to_string(), 1, 65535)).collect())
    }
    /// Whether `port`/`proto` is in the set.
    pub fn contains(&self, port: u16, proto: &str) -> bool {
        self.0.iter().any(|(p, lo, hi)| p == proto && (*lo..=*hi).contains(&port))
    }
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The ports in both sets.
    pub fn intersect(&self, other: &Ports) -> Ports {
        let mut out = Ports::default();
        for (p, lo, hi) in &self.0 {
            for (q, lo2, hi2) in &other.0 {
                if p == q && lo.max(lo2) <= hi.min(hi2) {
                    out.add(p, *lo.max(lo2), *hi.min(hi2));
                }
            }
        }
        out
    }
    /// Adds a range, merging overlaps.
    pub fn add(&mut self, proto: &str, lo: u16, hi: u16) {
        self.0.push((proto.to_string(), lo, hi));
        self.0.sort();
        let mut merged: Vec<(String, u16, u16)> = Vec::new();
        for (p, lo, hi) in std::mem::take(&mut self.0) {
            match merged.last_mut() {
                Some((q, _, h)) if *q == p && lo as u32 <= *h as u32 + 1 => *h = (*h).max(hi),
                _ => merged.push((p, lo, hi)),
            }
        }
        self.0 = merged;
    }
    /// Adds every range of another set.
    pub fn union(&mut self, other: &Ports) {
        for (p, lo, hi) in &other.0 {
            self.add(p, *lo, *hi);
        }
    }
}

impl std::fmt::Display for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if *self == Ports::all() {
            return write!(f, "all ports");
        }
        let parts: Vec<String> = self.0.iter().map(|(p, lo, hi)| if lo == hi { format!("{lo}/{p}") } else { format!("{lo}-{hi}/{p}") }).collect();
        write!(f, "{}", parts.join(", "))
    }
}

#[derive(Clone, Debug)]
enum Peer {
    Block { range: (u32, u32), except: Vec<(u32, u32)> },
    Pods { namespaces: Option<Selector>, pods: Option<Selector> },
}

#[derive(Clone, Debug)]
struct NetRule {
    /// `None`: every peer.
    peers: Option<Vec<Peer>>,
    /// The numeric ports.
    ports: Ports,
    /// Named ports `(protocol, name)`: resolved against the destination pod's
    /// container ports (the selected pod for ingress, the peer for egress); a
    /// name no container of the destination declares allows nothing, and an
    /// address outside the cluster has no named ports.
    named: Vec<(String, String)>,
}

/// A parsed NetworkPolicy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// `FILE:LINE` of the `allow` statement (or tenant) it implements.
    pub source: String,
    /// Pods it selects.
    pub pod_selector: Selector,
    ingress: Option<Vec<NetRule>>,
    egress: Option<Vec<NetRule>>,
}

/// A policy that takes part in a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyRef {
    /// `NAMESPACE/NAME`.
    pub policy: String,
    /// `FILE:LINE`.
    pub source: String,
}

impl std::fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NetworkPolicy {} ({})", self.policy, self.source)
    }
}

/// One direction of a connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Side {
    /// Whether some policy isolates the pod for this direction (an IP endpoint
    /// is never isolated).
    pub isolated: bool,
    /// The policies that isolate it.
    pub isolating: Vec<PolicyRef>,
    /// The policies whose rules let the traffic through, with the ports each allows.
    pub allowing: Vec<(PolicyRef, Ports)>,
}

impl Side {
    /// The ports this side lets through.
    pub fn ports(&self) -> Ports {
        if !self.isolated {
            return Ports::all();
        }
        let mut p = Ports::default();
        for (_, ports) in &self.allowing {
            p.union(ports);
        }
        p
    }

    /// The policies allowing `port`/`proto`.
    pub fn allowing_port(&self, port: u16, proto: &str) -> Vec<&PolicyRef> {
        self.allowing.iter().filter(|(_, p)| p.contains(port, proto)).map(|(r, _)| r).collect()
    }
}

/// The evaluation of a connection between two endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The sender's egress.
    pub egress: Side,
    /// The receiver's ingress.
    pub ingress: Side,
}

impl Decision {
    /// The ports on which the connection is allowed.
    pub fn ports(&self) -> Ports {
        self.egress.ports().intersect(&self.ingress.ports())
    }
    /// Whether `port`/`proto` is allowed.
    pub fn allows(&self, port: u16, proto: &str) -> bool {
        let ok = |s: &Side| !s.isolated || !s.allowing_port(port, proto).is_empty();
        ok(&self.egress) && ok(&self.ingress)
    }
}

/// The evaluator: every NetworkPolicy and the labels of every namespace.
#[derive(Clone, Debug, Default)]
pub struct Network {
    /// Policies.
    pub policies: Vec<Policy>,
    by_namespace: HashMap<String, Vec<usize>>,
    /// Labels of the namespaces khc manages (including `kubernetes.io/metadata.name`).
    pub namespace_labels: BTreeMap<String, Labels>,
}

fn parse_rules(v: &Value, peers_key: &str) -> Vec<NetRule> {
    v.as_array()
        .map(|rules| {
            rules
                .iter()
                .map(|r| {
                    let peers = r[peers_key].as_array().map(|a| {
                        a.iter()
                            .map(|p| {
                                if let Some(b) = p.get("ipBlock") {
                                    let range = cidr_range(b["cidr"].as_str().unwrap_or("")).unwrap_or((1, 0));
                                    let except = b["except"].as_array().map(|e| e.iter().filter_map(|x| cidr_range(x.as_str()?)).collect()).unwrap_or_default();
                                    Peer::Block { range, except }
                                } else {
                                    Peer::Pods { namespaces: p.get("namespaceSelector").map(Selector::parse), pods: p.get("podSelector").map(Selector::parse) }
                                }
                            })
                            .collect()
                    });
                    let mut named = Vec::new();
                    let ports = match r["ports"].as_array() {
                        None => Ports::all(),
                        Some(ps) => {
                            let mut out = Ports::default();
                            for p in ps {
                                let proto = p["protocol"].as_str().unwrap_or("TCP");
                                match (&p["port"], p["port"].as_u64()) {
                                    (Value::String(name), _) => named.push((proto.to_string(), name.clone())),
                                    (_, None) => out.add(proto, 1, 65535),
                                    (_, Some(lo)) => out.add(proto, lo as u16, p["endPort"].as_u64().unwrap_or(lo) as u16),
                                }
                            }
                            out
                        }
                    };
                    NetRule { peers, ports, named }
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Network {
    /// The evaluator over the NetworkPolicies and Namespaces among `objects`.
    pub fn new(objects: &[Object]) -> Network {
        let mut n = Network::default();
        n.add_all(objects);
        n
    }

    /// Adds the NetworkPolicies and Namespaces among `objects`, as if they had
    /// followed the earlier ones in [`Network::new`]'s list (`khc diff` adds one
    /// unit's objects at a time, converted once for both versions).
    pub fn add_all(&mut self, objects: &[Object]) {
        for o in objects {
            self.add(o);
        }
    }

    /// Adds one object: a NetworkPolicy or a Namespace (other kinds are ignored).
    pub fn add(&mut self, o: &Object) {
        let n = self;
        {
            match o.kind() {
                "NetworkPolicy" => {
                    let spec = &o.value["spec"];
                    // Without `policyTypes` (a manifest not yet defaulted by the API
                    // server): Ingress, and Egress when there are egress rules.
                    let types: Vec<&str> = match spec["policyTypes"].as_array() {
                        Some(a) => a.iter().filter_map(Value::as_str).collect(),
                        None if spec["egress"].is_null() => vec!["Ingress"],
                        None => vec!["Ingress", "Egress"],
                    };
                    let p = Policy {
                        name: o.name().into(),
                        namespace: o.namespace().unwrap_or("default").into(),
                        source: source_of(&o.value),
                        pod_selector: Selector::parse(&spec["podSelector"]),
                        ingress: types.contains(&"Ingress").then(|| parse_rules(&spec["ingress"], "from")),
                        egress: types.contains(&"Egress").then(|| parse_rules(&spec["egress"], "to")),
                    };
                    n.by_namespace.entry(p.namespace.clone()).or_default().push(n.policies.len());
                    n.policies.push(p);
                }
                "Namespace" => {
                    let mut l = labels(&o.value["metadata"]["labels"]);
                    l.insert(NAMESPACE_NAME_LABEL.into(), o.name().into());
                    n.namespace_labels.insert(o.name().into(), l);
                }
                _ => {}
            }
        }
    }

    /// The labels of a namespace: as emitted, or just its name for one khc does
    /// not manage.
    pub fn labels_of(&self, namespace: &str) -> Labels {
        self.namespace_labels.get(namespace).cloned().unwrap_or_else(|| Labels::from([(NAMESPACE_NAME_LABEL.to_string(), namespace.to_string())]))
    }

    fn peer_matches(&self, peer: &Peer, policy_ns: &str, other: &Endpoint, other_ns_labels: Option<&Labels>) -> bool {
        match (peer, other) {
            (Peer::Block { range, except }, Endpoint::Net { lo, hi }) => range.0 <= *lo && *hi <= range.1 && !except.iter().any(|(a, b)| a <= hi && lo <= b),
            (Peer::Pods { namespaces, pods }, Endpoint::Pod { namespace, labels, .. }) => {
                let ns_ok = match namespaces {
                    Some(sel) => other_ns_labels.is_some_and(|l| sel.matches(l)),
                    None => namespace == policy_ns,
                };
                ns_ok && pods.as_ref().is_none_or(|sel| sel.matches(labels))
            }
            _ => false,
        }
    }

    /// The labels of `other`'s namespace (for namespace selectors), if a pod.
    fn ns_labels_of<'a>(&'a self, other: &Endpoint, fallback: &'a mut Option<Labels>) -> Option<&'a Labels> {
        match other {
            Endpoint::Pod { namespace, .. } => match self.namespace_labels.get(namespace) {
                Some(l) => Some(l),
                None => Some(fallback.insert(self.labels_of(namespace))),
            },
            Endpoint::Net { .. } => None,
        }
    }

    /// The policies of one direction that select `pod` (indexes).
    fn selecting(&self, pod: &Endpoint, ingress: bool) -> Vec<usize> {
        let Endpoint::Pod { namespace, labels, .. } = pod else { return Vec::new() };
        self.by_namespace
            .get(namespace)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&i| {
                let p = &self.policies[i];
                (if ingress { p.ingress.is_some() } else { p.egress.is_some() }) && p.pod_selector.matches(labels)
            })
            .collect()
    }

    /// The ports policy `i`'s rules of one direction allow to `other`; `dst` is
    /// the connection's destination, whose container ports named ports resolve
    /// against (the selected pod for ingress, `other` for egress).
    fn policy_ports(&self, i: usize, ingress: bool, other: &Endpoint, other_ns_labels: Option<&Labels>, dst: &Endpoint) -> Ports {
        let p = &self.policies[i];
        let rules = if ingress { &p.ingress } else { &p.egress };
        let mut ports = Ports::default();
        for rule in rules.iter().flatten() {
            let peers_ok = match &rule.peers {
                None => true,
                Some(peers) => peers.iter().any(|peer| self.peer_matches(peer, &p.namespace, other, other_ns_labels)),
            };
            if peers_ok {
                ports.union(&rule.ports);
                for (proto, name) in &rule.named {
                    if let Some(n) = dst.named_port(name, proto) {
                        ports.add(proto, n, n);
                    }
                }
            }
        }
        ports
    }

    /// Calls `f` with every policy of one direction that selects `pod` and the
    /// ports its rules allow to `other` (empty: it only isolates).
    fn for_each_selecting(&self, pod: &Endpoint, other: &Endpoint, ingress: bool, mut f: impl FnMut(&Policy, Ports)) {
        let mut fallback = None;
        let other_ns_labels = self.ns_labels_of(other, &mut fallback);
        for i in self.selecting(pod, ingress) {
            let dst = if ingress { pod } else { other };
            f(&self.policies[i], self.policy_ports(i, ingress, other, other_ns_labels, dst));
        }
    }

    /// The ports each `(i, j)` pair of `endpoints` (i ≠ j) may connect on, for
    /// the pairs that may connect at all: [`Network::ports`] for many pairs,
    /// with the selecting policies of each endpoint found once.
    pub fn matrix(&self, endpoints: &[Endpoint]) -> Vec<(usize, usize, Ports)> {
        self.pairs(endpoints, endpoints, true)
    }

    /// The ports each `(i, j)` pair (`from[i]` → `to[j]`) may connect on, for
    /// the pairs that may connect at all: [`Network::matrix`] between two lists
    /// (e.g. workloads and the external peers, for `khc graph`).
    pub fn cross(&self, from: &[Endpoint], to: &[Endpoint]) -> Vec<(usize, usize, Ports)> {
        self.pairs(from, to, false)
    }

    fn pairs(&self, from: &[Endpoint], to: &[Endpoint], skip_diagonal: bool) -> Vec<(usize, usize, Ports)> {
        let egress: Vec<Vec<usize>> = from.iter().map(|e| self.selecting(e, false)).collect();
        let ingress: Vec<Vec<usize>> = to.iter().map(|e| self.selecting(e, true)).collect();
        let labels = |endpoints: &[Endpoint]| -> Vec<Option<Labels>> {
            endpoints
                .iter()
                .map(|e| match e {
                    Endpoint::Pod { namespace, .. } => Some(self.labels_of(namespace)),
                    Endpoint::Net { .. } => None,
                })
                .collect()
        };
        let (from_labels, to_labels) = (labels(from), labels(to));
        // `dst`: the connection's destination (named ports resolve against it).
        let side = |pols: &[usize], is_ingress: bool, other: &Endpoint, other_labels: &Option<Labels>, dst: &Endpoint| -> Ports {
            if pols.is_empty() {
                return Ports::all();
            }
            let mut all = Ports::default();
            for &i in pols {
                all.union(&self.policy_ports(i, is_ingress, other, other_labels.as_ref(), dst));
            }
            all
        };
        // Only the pods of the namespaces a sender's egress rules pin by name can
        // pass its egress (every other pair's egress side is empty): those
        // receivers are found through an index by namespace, so a fleet whose
        // rules name their peers' namespaces costs pairs that can connect, not
        // all pairs. Addresses are always asked; so is everyone when some rule
        // does not pin its namespaces.
        let mut by_ns: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut nets = Vec::new();
        for (b, e) in to.iter().enumerate() {
            match e {
                Endpoint::Pod { namespace, .. } => by_ns.entry(namespace.as_str()).or_default().push(b),
                Endpoint::Net { .. } => nets.push(b),
            }
        }
        let all: Vec<usize> = (0..to.len()).collect();
        let mut out = Vec::new();
        for (a, egress_a) in egress.iter().enumerate() {
            let pinned = if egress_a.is_empty() {
                None
            } else {
                egress_a.iter().try_fold(Vec::new(), |mut acc, &i| {
                    acc.extend(self.peer_namespaces(i, false)?);
                    Some(acc)
                })
            };
            let candidates: std::borrow::Cow<[usize]> = match pinned {
                None => std::borrow::Cow::Borrowed(&all),
                Some(namespaces) => {
                    let mut c: Vec<usize> = namespaces.iter().filter_map(|n| by_ns.get(n)).flatten().chain(&nets).copied().collect();
                    c.sort_unstable();
                    c.dedup();
                    std::borrow::Cow::Owned(c)
                }
            };
            for &b in candidates.iter() {
                let ingress_b = &ingress[b];
                if skip_diagonal && a == b {
                    continue;
                }
                let e = side(egress_a, false, &to[b], &to_labels[b], &to[b]);
                if e.is_empty() {
                    continue;
                }
                let ports = e.intersect(&side(ingress_b, true, &from[a], &from_labels[a], &to[b]));
                if !ports.is_empty() {
                    out.push((a, b, ports));
                }
            }
        }
        out
    }

    /// The namespaces whose pods policy `i`'s rules of one direction can match,
    /// when every rule pins them by name (`kubernetes.io/metadata.name`, which
    /// every namespace carries, as a label or an `In` expression; no namespace
    /// selector: the policy's own); `None` when some rule may match pods
    /// anywhere. `ipBlock` peers match no pod.
    fn peer_namespaces(&self, i: usize, ingress: bool) -> Option<Vec<&str>> {
        let p = &self.policies[i];
        let rules = if ingress { &p.ingress } else { &p.egress };
        let mut out = Vec::new();
        for rule in rules.iter().flatten() {
            for peer in rule.peers.as_ref()? {
                match peer {
                    Peer::Block { .. } => {}
                    Peer::Pods { namespaces: None, .. } => out.push(p.namespace.as_str()),
                    Peer::Pods { namespaces: Some(sel), .. } => {
                        if let Some(v) = sel.labels.get(NAMESPACE_NAME_LABEL) {
                            out.push(v.as_str());
                        } else {
                            let (_, _, values) = sel.expressions.iter().find(|(k, op, _)| k == NAMESPACE_NAME_LABEL && op == "In")?;
                            out.extend(values.iter().map(String::as_str));
                        }
                    }
                }
            }
        }
        Some(out)
    }

    /// One direction: `pod`'s policies of that direction judged against `other`.
    fn side(&self, pod: &Endpoint, other: &Endpoint, ingress: bool) -> Side {
        let mut side = Side::default();
        self.for_each_selecting(pod, other, ingress, |p, ports| {
            side.isolated = true;
            let r = PolicyRef { policy: format!("{}/{}", p.namespace, p.name), source: p.source.clone() };
            if ports.is_empty() {
                side.isolating.push(r);
            } else {
                side.allowing.push((r, ports));
            }
        });
        side
    }

    /// The ports one direction lets through (no reasons; for matrices).
    fn side_ports(&self, pod: &Endpoint, other: &Endpoint, ingress: bool) -> Ports {
        let mut isolated = false;
        let mut all = Ports::default();
        self.for_each_selecting(pod, other, ingress, |_, ports| {
            isolated = true;
            all.union(&ports);
        });
        if isolated {
            all
        } else {
            Ports::all()
        }
    }

    /// The ports on which `src` may connect to `dst` (as [`Decision::ports`],
    /// without collecting reasons).
    pub fn ports(&self, src: &Endpoint, dst: &Endpoint) -> Ports {
        let egress = self.side_ports(src, dst, false);
        if egress.is_empty() {
            return egress;
        }
        egress.intersect(&self.side_ports(dst, src, true))
    }

    /// The decision for a connection from `src` to `dst`.
    pub fn decide(&self, src: &Endpoint, dst: &Endpoint) -> Decision {
        Decision { egress: self.side(src, dst, false), ingress: self.side(dst, src, true) }
    }

    /// Whether `src` may open a connection to `dst` on `port`/`proto`.
    pub fn allowed(&self, src: &Endpoint, dst: &Endpoint, port: u16, proto: &str) -> bool {
        self.decide(src, dst).allows(port, proto)
    }
}
