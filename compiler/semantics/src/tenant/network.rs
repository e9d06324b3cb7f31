//! `allow ingress …` / `allow egress …`: declared network traffic, its peers and
//! the NetworkPolicy names it gets (SPEC.md section 6).

use crate::context::{word, At, Ctx};
use crate::env::{Env, TenantFacts};
use crate::model::*;
use crate::schema;
use crate::tenant::header::TenantHeader;
use crate::values;
use khc_syntax::{Span, Value, ValueKind};

/// A cursor over the words of an `allow` statement.
struct Cursor<'v> {
    args: Vec<&'v Value>,
    pos: usize,
}

impl<'v> Cursor<'v> {
    fn peek_word(&self) -> Option<&'v str> {
        self.args.get(self.pos).and_then(|v| match &v.kind {
            ValueKind::Name(n) => Some(n.as_str()),
            _ => None,
        })
    }
    fn next(&mut self) -> Option<&'v Value> {
        let v = self.args.get(self.pos).copied();
        self.pos += 1;
        v
    }
    fn eat(&mut self, kw: &str) -> bool {
        if self.peek_word() == Some(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
}

const ALLOW_SHAPE: &str =
    "`allow ingress from PEER [to workload NAME] [ports …] [protocol …]` or `allow egress [from workload NAME] to PEER [ports …] [protocol …]`";

pub(crate) fn allow(cx: &mut Ctx, at: &At<'_>, h: &TenantHeader, env: &dyn Env) -> Option<NetRule> {
    cx.no_block(at);
    let mut c = Cursor { args: at.s.flat_args(), pos: 0 };
    let fail = |cx: &mut Ctx, span: Span, msg: String| {
        cx.error(at, span, "bad-argument", msg).notes.push(format!("help: write {ALLOW_SHAPE}"));
        None
    };
    let direction = match c.peek_word() {
        Some("ingress") => Direction::Ingress,
        Some("egress") => Direction::Egress,
        _ => {
            let span = c.args.first().map_or(at.s.name.span, |v| v.span);
            return fail(cx, span, "`allow` starts with `ingress` or `egress`".into());
        }
    };
    c.pos += 1;
    let mut local = None;
    let peer;
    if direction == Direction::Ingress {
        if !c.eat("from") {
            let span = c.args.get(c.pos).map_or(at.s.span, |v| v.span);
            return fail(cx, span, "expected `from` after `allow ingress`".into());
        }
        peer = parse_peer(cx, at, &mut c, h, env, direction)?;
        if c.eat("to") {
            local = Some(local_workload(cx, at, &mut c, h)?);
        }
    } else {
        if c.eat("from") {
            local = Some(local_workload(cx, at, &mut c, h)?);
        }
        if !c.eat("to") {
            let span = c.args.get(c.pos).map_or(at.s.span, |v| v.span);
            return fail(cx, span, "expected `to` in `allow egress`".into());
        }
        peer = parse_peer(cx, at, &mut c, h, env, direction)?;
    }
    let ports = port_list(cx, at, &mut c, ALLOW_SHAPE)?;
    Some(NetRule {
        origin: at.origin(),
        span: at.s.span,
        name: String::new(),
        direction,
        local,
        peer,
        ports: ports.ports,
        named_ports: ports.named_ports,
        protocol_only: ports.protocol_only,
        protocols: ports.protocols,
    })
}

const CLUSTER_ALLOW_SHAPE: &str = "`allow ingress from tenant NAME [workload NAME] to all-tenants [ports …] [protocol …]` or `allow egress from all-tenants to tenant NAME [workload NAME] [ports …] [protocol …]`";

/// The peer word of the cluster's `allow` (every tenant's pods).
pub const ALL_TENANTS: &str = "all-tenants";

/// `allow ingress from tenant T [workload W] to all-tenants …` (every tenant
/// accepts from T) or `allow egress from all-tenants to tenant T [workload W] …`
/// (every tenant sends to T) in the cluster: parsed here, T and W resolved by
/// the cluster lints (which see every tenant) and by each tenant's check.
pub(crate) fn cluster_allow(cx: &mut Ctx, at: &At<'_>) -> Option<AllTenantsAllow> {
    cx.no_block(at);
    let mut c = Cursor { args: at.s.flat_args(), pos: 0 };
    let fail = |cx: &mut Ctx, span: Span, msg: String| {
        let d = cx.error(at, span, "bad-argument", msg);
        d.notes.push(format!("help: write {CLUSTER_ALLOW_SHAPE}"));
        d.notes.push("note: traffic of one tenant is declared in that tenant's block; the cluster's `allow` is for traffic of every tenant".into());
        None
    };
    let here = |c: &Cursor<'_>| c.args.get(c.pos).map_or(at.s.span, |v| v.span);
    let direction = if c.eat("ingress") {
        Direction::Ingress
    } else if c.eat("egress") {
        Direction::Egress
    } else {
        return fail(cx, here(&c), "the cluster's `allow` starts with `ingress` or `egress`".into());
    };
    if direction == Direction::Egress && !(c.eat("from") && c.eat(ALL_TENANTS)) {
        return fail(cx, here(&c), "expected `from all-tenants` after `allow egress` in the cluster".into());
    }
    let tenant_word = match direction {
        Direction::Ingress => "from",
        Direction::Egress => "to",
    };
    if !c.eat(tenant_word) || !c.eat("tenant") {
        return fail(
            cx,
            here(&c),
            format!(
                "expected `{tenant_word} tenant NAME` after `allow {}`",
                if direction == Direction::Ingress { "ingress" } else { "egress from all-tenants" }
            ),
        );
    }
    let Some(tv) = c.next() else { return fail(cx, at.s.span, "expected a tenant name".into()) };
    let tenant = word(tv).unwrap_or("").to_string();
    if !cx.check_label(at, &tenant, tv.span, "tenant") {
        return None;
    }
    let mut workload = None;
    if c.eat("workload") {
        let Some(wv) = c.next() else { return fail(cx, at.s.span, "expected a workload name".into()) };
        workload = Some((word(wv).unwrap_or("").to_string(), wv.span));
    }
    if direction == Direction::Ingress {
        if !c.eat("to") {
            return fail(cx, here(&c), "expected `to all-tenants`".into());
        }
        if !c.eat(ALL_TENANTS) {
            return fail(cx, here(&c), "in the cluster, the destination is `all-tenants`".into());
        }
    }
    let ports = port_list(cx, at, &mut c, CLUSTER_ALLOW_SHAPE)?;
    Some(AllTenantsAllow {
        origin: at.origin(),
        span: at.s.span,
        direction,
        tenant: (tenant, tv.span),
        workload,
        ports: ports.ports,
        named_ports: ports.named_ports,
        protocols: ports.protocols,
        protocol_only: ports.protocol_only,
    })
}

/// The rules a tenant gets from the cluster's `allow … all-tenants` statements.
/// For `allow ingress from tenant T [workload W] to all-tenants`: an ingress rule
/// from T's pods (unless the tenant has no isolation) and, in T with egress
/// isolation, the egress rule to the namespaces of every tenant. For `allow
/// egress from all-tenants to tenant T [workload W]`: an egress rule to T's pods
/// in every tenant with egress isolation and, in T (unless it has no
/// isolation), the ingress rule from every tenant's namespaces. A T or W that
/// does not resolve gives nothing here (the cluster lints report it).
pub(crate) fn all_tenants_rules(h: &TenantHeader, env: &dyn Env) -> Vec<NetRule> {
    let cluster = env.cluster();
    let me = &h.facts;
    let mut out = Vec::new();
    for a in &cluster.all_tenants_allows {
        let one_name = &a.tenant.0;
        let other;
        let one: &TenantFacts = if *one_name == me.name {
            me
        } else {
            match env.tenant(one_name) {
                Some(t) => {
                    other = t;
                    &other
                }
                None => continue,
            }
        };
        let workload = match &a.workload {
            Some((w, _)) => match one.workloads.get(w) {
                Some(f) => Some((w.clone(), f)),
                None => continue,
            },
            None => None,
        };
        let rule = |direction, local, peer| NetRule {
            origin: a.origin.clone(),
            span: a.span,
            name: String::new(),
            direction,
            local,
            peer,
            ports: a.ports.clone(),
            named_ports: a.named_ports.clone(),
            protocols: a.protocols.clone(),
            protocol_only: a.protocol_only,
        };
        // Every tenant's side: the opposite direction, to or from T's pods.
        let isolates = match a.direction {
            Direction::Ingress => me.isolation != Isolation::None,
            Direction::Egress => matches!(me.isolation, Isolation::Strict | Isolation::Tenant),
        };
        if isolates {
            let peer = Peer::Tenant {
                tenant: one_name.clone(),
                namespaces: one.namespaces.clone(),
                workload: workload.as_ref().map(|(w, f)| (w.clone(), f.selector.clone())),
            };
            out.push(rule(a.direction, None, peer));
        }
        // T's side: the other direction, from or to every tenant's namespaces.
        let (t_direction, t_isolates) = match a.direction {
            Direction::Ingress => (Direction::Egress, matches!(me.isolation, Isolation::Strict | Isolation::Tenant)),
            Direction::Egress => (Direction::Ingress, me.isolation != Isolation::None),
        };
        if *one_name == me.name && t_isolates {
            let mut namespaces: Vec<String> = Vec::new();
            for n in env.tenant_names() {
                match n == me.name {
                    true => namespaces.extend(me.namespaces.iter().cloned()),
                    false => namespaces.extend(env.tenant(&n).map(|t| t.namespaces.clone()).unwrap_or_default()),
                }
            }
            namespaces.sort();
            namespaces.dedup();
            let local = workload.as_ref().map(|(w, f)| (w.clone(), f.namespace.clone(), f.selector.clone()));
            out.push(rule(t_direction, local, Peer::AllTenants { namespaces }));
        }
    }
    out
}

/// The `[ports …] [protocol …]` tail of an `allow` statement.
pub(crate) struct PortList {
    /// Numbers and ranges.
    pub ports: Vec<PortRange>,
    /// Port names.
    pub named_ports: Vec<String>,
    /// Protocols (`TCP` when not written).
    pub protocols: Vec<String>,
    /// `protocol` was written.
    pub protocol_only: bool,
}

/// Parses the rest of an `allow` statement: `[ports PORT…] [protocol PROTO…]`.
fn port_list(cx: &mut Ctx, at: &At<'_>, c: &mut Cursor<'_>, shape: &str) -> Option<PortList> {
    let fail = |cx: &mut Ctx, span: Span, msg: String| {
        cx.error(at, span, "bad-argument", msg).notes.push(format!("help: write {shape}"));
        None
    };
    let mut ports = Vec::new();
    let mut named_ports: Vec<String> = Vec::new();
    let mut seen_ports = false;
    let mut protocol = None;
    while let Some(v) = c.next() {
        match word(v) {
            Some("ports") if !seen_ports => {
                seen_ports = true;
                // Numbers, ranges and names (`ports http 9090`) up to `protocol`.
                while c.pos < c.args.len() && c.peek_word() != Some("protocol") {
                    let pv = c.next().expect("checked bound");
                    if let ValueKind::Name(n) = &pv.kind {
                        if !super::header::is_port_name(n) {
                            cx.error(at, pv.span, "invalid-value", format!("`{n}` is neither a port number nor a port name"))
                                .notes
                                .push("note: a port name (IANA_SVC_NAME) is at most 15 lowercase letters, digits and `-`, with at least one letter, no `-` at either end and no `--`".into());
                        } else if named_ports.contains(n) {
                            cx.error(at, pv.span, "duplicate", format!("port `{n}` is written twice"));
                        } else {
                            named_ports.push(n.clone());
                        }
                    } else if let Some(p) = port(cx, at, pv) {
                        ports.push(p);
                    }
                }
                if ports.is_empty() && named_ports.is_empty() {
                    cx.error(at, v.span, "bad-argument", "`ports` needs at least one port or range");
                }
            }
            Some("protocol") if protocol.is_none() => {
                // One or more protocols: `protocol UDP TCP` (DNS-like services).
                let mut list: Vec<String> = Vec::new();
                while c.pos < c.args.len()
                    && (list.is_empty() || c.peek_word().is_some_and(|w| matches!(w.to_ascii_uppercase().as_str(), "TCP" | "UDP" | "SCTP")))
                {
                    let pv = c.next().expect("checked bound");
                    let p = word(pv).unwrap_or("").to_ascii_uppercase();
                    if !matches!(p.as_str(), "TCP" | "UDP" | "SCTP") {
                        cx.error(at, pv.span, "invalid-value", "protocols are `TCP`, `UDP` and `SCTP`");
                    } else if list.contains(&p) {
                        cx.error(at, pv.span, "duplicate", format!("protocol `{p}` is written twice"));
                        continue;
                    }
                    list.push(p);
                }
                if list.is_empty() {
                    cx.error(at, v.span, "bad-argument", "`protocol` needs `TCP`, `UDP` or `SCTP`");
                    break;
                }
                protocol = Some(list);
            }
            _ => {
                let text = v.as_text().unwrap_or_else(|| "[…]".into());
                return fail(cx, v.span, format!("unexpected `{text}` in `allow`"));
            }
        }
    }
    Some(PortList { ports, named_ports, protocol_only: protocol.is_some(), protocols: protocol.unwrap_or_else(|| vec!["TCP".into()]) })
}

fn local_workload(cx: &mut Ctx, at: &At<'_>, c: &mut Cursor<'_>, h: &TenantHeader) -> Option<(String, String, Selector)> {
    if !c.eat("workload") {
        let span = c.args.get(c.pos).map_or(at.s.span, |v| v.span);
        cx.error(at, span, "bad-argument", "expected `workload NAME`");
        return None;
    }
    let (name, w) = workload_ref(cx, at, c, &h.facts)?;
    Some((name, w.namespace.clone(), w.selector.clone()))
}

fn workload_ref<'h>(cx: &mut Ctx, at: &At<'_>, c: &mut Cursor<'_>, h: &'h TenantFacts) -> Option<(String, &'h crate::env::WorkloadFacts)> {
    let Some(v) = c.next() else {
        cx.error(at, at.s.span, "bad-argument", "expected a workload name");
        return None;
    };
    let name = word(v).unwrap_or("");
    match h.workloads.get(name) {
        Some(w) => Some((name.to_string(), w)),
        None => {
            let s = values::suggest(name, h.workloads.keys().map(String::as_str));
            let tenant = &h.name;
            let d = cx.error(at, v.span, "unknown-name", format!("tenant `{tenant}` has no workload `{name}`"));
            match s {
                Some(s) => d.suggest(s),
                None => d.notes.push(format!("help: declare it with `workload {name} {{ … }}` in tenant `{tenant}`")),
            }
            None
        }
    }
}

fn parse_peer(cx: &mut Ctx, at: &At<'_>, c: &mut Cursor<'_>, h: &TenantHeader, env: &dyn Env, direction: Direction) -> Option<Peer> {
    let Some(kind_v) = c.next() else {
        cx.error(at, at.s.span, "bad-argument", "expected a peer: `tenant NAME`, `workload NAME`, `namespace NAME` or `cidr ADDRESS`");
        return None;
    };
    match word(kind_v).unwrap_or("") {
        "tenant" => {
            let v = c.next()?;
            let name = word(v).unwrap_or("");
            let Some(other) = env.tenant(name) else {
                let s = env.suggest_tenant(name);
                let d = cx.error(at, v.span, "unknown-name", format!("unknown tenant `{name}`"));
                if let Some(s) = s {
                    d.suggest(&s);
                }
                return None;
            };
            let workload = if c.eat("workload") {
                let (w, facts) = workload_ref(cx, at, c, &other)?;
                Some((w, facts.selector.clone()))
            } else {
                None
            };
            Some(Peer::Tenant { tenant: name.to_string(), namespaces: other.namespaces.clone(), workload })
        }
        "workload" => {
            let (w, facts) = workload_ref(cx, at, c, &h.facts)?;
            Some(Peer::Tenant { tenant: h.facts.name.clone(), namespaces: h.facts.namespaces.clone(), workload: Some((w, facts.selector.clone())) })
        }
        "namespace" => {
            let v = c.next()?;
            let name = word(v).unwrap_or("");
            if !cx.check_label(at, name, v.span, "namespace") {
                return None;
            }
            if let Some(tenant) = env.namespace_owners(name).first() {
                cx.error(at, v.span, "conflict", format!("namespace `{name}` belongs to tenant `{tenant}`"))
                    .notes
                    .push(format!("help: write `tenant {tenant}`"));
                return None;
            }
            Some(Peer::Namespace(name.to_string()))
        }
        "cidr" => {
            let mut blocks: Vec<(values::Cidr, IpBlock, Span)> = Vec::new();
            let mut in_except = false;
            let mut invalid = false;
            while let Some(v) = c.args.get(c.pos).copied() {
                let text = match &v.kind {
                    ValueKind::Address(a) | ValueKind::Str(a) => a.clone(),
                    ValueKind::Name(n) if n == "except" && !in_except && !blocks.is_empty() => {
                        c.pos += 1;
                        in_except = true;
                        continue;
                    }
                    _ => break,
                };
                c.pos += 1;
                let cidr = match values::parse_cidr(&text) {
                    Ok(cidr) => cidr,
                    Err(why) => {
                        cx.error(at, v.span, "invalid-value", format!("`{text}` is not a valid CIDR: {why}"));
                        invalid = true;
                        continue;
                    }
                };
                let canonical = values::cidr_text(&cidr);
                if !in_except {
                    blocks.push((cidr, IpBlock { cidr: canonical, except: Vec::new() }, v.span));
                    continue;
                }
                match blocks.iter_mut().find(|(b, _, _)| b.contains(&cidr) && b.prefix < cidr.prefix) {
                    Some((_, block, _)) => block.except.push(canonical),
                    None => {
                        cx.error(at, v.span, "invalid-value", format!("`{text}` is not strictly inside any of the allowed blocks"))
                            .notes
                            .push("note: an `except` range must lie inside a `cidr` block and be smaller than it".into());
                    }
                }
            }
            if blocks.is_empty() {
                if invalid {
                    return None;
                }
                cx.error(at, kind_v.span, "bad-argument", "`cidr` needs at least one address block, e.g. `cidr 10.0.0.0/8`");
                return None;
            }
            if direction == Direction::Egress {
                exclude_metadata(cx, at, &mut blocks);
            }
            let cluster = env.cluster();
            warn_cluster_ranges(cx, at, &blocks, "pod", &cluster.pod_cidr);
            warn_cluster_ranges(cx, at, &blocks, "service", &cluster.service_cidr);
            Some(Peer::Cidr(blocks.into_iter().map(|(_, b, _)| b).collect()))
        }
        "dns" => dns_peer(cx, at, c, kind_v.span, direction, env.cluster().cni, env.cluster().minor_version),
        other => {
            cx.error(at, kind_v.span, "bad-argument", format!("unknown peer `{other}`")).notes.push(
                "help: peers are `tenant NAME [workload NAME]`, `workload NAME`, `namespace NAME`, `cidr ADDRESS… [except ADDRESS…]` and `dns \"NAME\"…`"
                    .into(),
            );
            None
        }
    }
}

/// `dns "api.example.com" "*.example.org"…` (egress only): DNS names, each
/// an exact name or `*.` and a name (one or more leading labels), at most 25
/// (ClusterNetworkPolicy's `domainNames` limit). The CNI must enforce them:
/// NetworkPolicies cannot name hosts, so `generic` and `kube-router` are errors.
fn dns_peer(cx: &mut Ctx, at: &At<'_>, c: &mut Cursor<'_>, kind_span: Span, direction: Direction, cni: Cni, minor: u32) -> Option<Peer> {
    let mut names: Vec<String> = Vec::new();
    let mut spans = Vec::new();
    while let Some(v) = c.args.get(c.pos).copied() {
        let ValueKind::Str(n) = &v.kind else { break };
        c.pos += 1;
        let n = n.trim_end_matches('.').to_ascii_lowercase();
        if !is_dns_name(&n) {
            cx.error(at, v.span, "invalid-value", format!("`{n}` is not a DNS name"))
                .notes
                .push("note: write a fully qualified name (`api.example.com`) or `*.` and one (`*.example.com`: every name under it)".into());
            continue;
        }
        if names.contains(&n) {
            cx.error(at, v.span, "duplicate", format!("`{n}` is written twice"));
            continue;
        }
        names.push(n);
        spans.push(v.span);
    }
    if names.is_empty() {
        cx.error(at, kind_span, "bad-argument", "`dns` needs at least one quoted DNS name, e.g. `dns \"api.example.com\"`");
        return None;
    }
    if names.len() > 25 {
        cx.error(at, spans[25], "invalid-value", "at most 25 DNS names in one rule (ClusterNetworkPolicy's `domainNames` limit): split the rule");
        return None;
    }
    if direction == Direction::Ingress {
        cx.error(at, kind_span, "bad-argument", "DNS names are egress peers only: traffic from a DNS name cannot be recognised")
            .notes
            .push("help: write `allow egress … to dns \"NAME\"`, or a `cidr` peer for ingress".into());
        return None;
    }
    if cni.cluster_network_policy() && !cni.tiers(minor) {
        cx.error(
            at,
            kind_span,
            "cni",
            format!(
                "egress to DNS names with `cni {}` is a ClusterNetworkPolicy, which needs Kubernetes 1.{CLUSTER_NETWORK_POLICY_MIN_MINOR} or later",
                cni.as_str()
            ),
        )
        .notes
        .push("note: the CRD's validation rules call the CEL function `isCIDR`, which a 1.30 API server does not have".into());
        return None;
    }
    if !cni.dns_names(minor) {
        let d = cx.error(
            at,
            kind_span,
            "cni",
            format!("egress to DNS names needs a CNI that enforces it: NetworkPolicies cannot name hosts, and the cluster's CNI is `{}`", cni.as_str()),
        );
        d.notes.push("note: `cni cilium` emits a CiliumNetworkPolicy `toFQDNs` (with the DNS proxy rule); `cni calico` and `cni antrea` a ClusterNetworkPolicy `domainNames`".into());
        d.notes.push("help: state the cluster's CNI (`cni cilium`), or allow the addresses with a `cidr` peer".into());
        return None;
    }
    Some(Peer::Dns(names))
}

/// True for `api.example.com` and `*.example.com` (at least two labels; labels
/// of letters, digits, `-` and `_`, not starting or ending with `-`), as
/// ClusterNetworkPolicy's `domainNames` pattern and Cilium's `toFQDNs` accept.
pub(crate) fn is_dns_name(n: &str) -> bool {
    let rest = n.strip_prefix("*.").unwrap_or(n);
    let labels: Vec<&str> = rest.split('.').collect();
    n.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && l.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                && l.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
        })
}

/// `network-policies khc-only|self-managed`: true for `self-managed` (a `risky`
/// warning: the tenant's admins can then reopen what its intent closes).
pub(crate) fn network_policies(cx: &mut Ctx, at: &At<'_>, isolation: Isolation, managed: bool) -> bool {
    cx.no_block(at);
    let Some((owner, span)) = cx.one_word(at, "`khc-only` or `self-managed`") else { return false };
    match owner.as_str() {
        "khc-only" => {
            if !managed {
                cx.warning(
                    at,
                    span,
                    "conflict",
                    "`network-policies khc-only` needs the cluster's `managed-by`: without an applier to exempt, khc emits no guard",
                )
                .notes
                .push("help: add `managed-by SUBJECT` to the cluster".into());
            }
            false
        }
        "self-managed" => {
            if isolation == Isolation::None {
                cx.warning(at, span, "conflict", "`network-policies self-managed` does nothing with `isolation none` (khc writes no NetworkPolicy there)");
            } else {
                cx.warning(at, span, "risky", "the tenant's admins may add NetworkPolicies: they can reopen egress this tenant's intent closes (the metadata endpoint, kube-system, the API server)")
                    .notes
                    .push("note: other tenants stay isolated: their own default-deny still refuses what they do not allow".into());
            }
            true
        }
        _ => {
            let s = crate::values::suggest(&owner, schema::NETWORK_POLICY_OWNERS.names().iter().copied());
            let d = cx.error(at, span, "invalid-value", format!("unknown NetworkPolicy owner `{owner}`"));
            match s {
                Some(s) => d.suggest(s),
                None => d.notes.push("help: write `khc-only` or `self-managed`".into()),
            }
            false
        }
    }
}

/// The cloud metadata endpoints (AWS, GCP, Azure, OpenStack… on IPv4; AWS's IPv6
/// address): a pod that reaches them can read the node's cloud credentials.
pub const METADATA_ENDPOINTS: &[&str] = &["169.254.169.254/32", "fd00:ec2::254/128"];

/// A broad egress block that covers a metadata endpoint gets it as an `except`,
/// with a warning that says so — unless the statement names the endpoint itself
/// (one of its blocks is exactly that address), or an `except` already covers it.
fn exclude_metadata(cx: &mut Ctx, at: &At<'_>, blocks: &mut [(values::Cidr, IpBlock, Span)]) {
    for m in METADATA_ENDPOINTS {
        let host = values::parse_cidr(m).expect("a valid built-in CIDR");
        if blocks.iter().any(|(b, _, _)| *b == host) {
            continue;
        }
        for (cidr, block, span) in blocks.iter_mut() {
            let excepted = block.except.iter().any(|e| values::parse_cidr(e).is_ok_and(|e| e.contains(&host)));
            if !cidr.contains(&host) || excepted {
                continue;
            }
            block.except.push((*m).to_string());
            let ip = m.split('/').next().unwrap_or(m);
            cx.warning(at, *span, "risky", format!("`{}` covers the cloud metadata endpoint {ip}: khc excludes it (`except {m}`)", block.cidr))
                .notes
                .push(format!("help: a pod that reaches {ip} can read the node's cloud credentials; to allow it anyway, name it: `cidr {m}`"));
        }
    }
}

/// A warning for each block that overlaps one of the cluster's `pod-cidr` (`what`
/// = "pod") or `service-cidr` ranges outside its exceptions: whether an ipBlock
/// matches pod (or Service) addresses is up to the CNI, so such a rule may reach
/// pods of any tenant on one CNI and none on another.
fn warn_cluster_ranges(cx: &mut Ctx, at: &At<'_>, blocks: &[(values::Cidr, IpBlock, Span)], what: &str, ranges: &[String]) {
    for (cidr, block, span) in blocks {
        for r in ranges {
            let Ok(range) = values::parse_cidr(r) else { continue };
            let overlaps = cidr.contains(&range) || range.contains(cidr);
            let excepted = block.except.iter().any(|e| values::parse_cidr(e).is_ok_and(|e| e.contains(&range) || e.contains(cidr)));
            if !overlaps || excepted {
                continue;
            }
            let (why, help) = if what == "pod" {
                (
                    "whether an ipBlock matches pods is CNI-defined: on some CNIs this rule reaches the pods of every tenant",
                    format!("name pods with `tenant`, `workload` or `namespace` peers, and add `except {r}`"),
                )
            } else {
                (
                    "CNIs differ on ipBlocks and Service IPs (most match the translated pod address, some the Service address)",
                    format!("name the backing pods instead, and add `except {r}`"),
                )
            };
            cx.warning(at, *span, "risky", format!("`{}` covers {what} addresses (`{what}-cidr {r}`): {why}", block.cidr)).notes.push(format!("help: {help}"));
        }
    }
}

fn port(cx: &mut Ctx, at: &At<'_>, v: &Value) -> Option<PortRange> {
    let parse = |s: &str| s.parse::<u32>().ok().filter(|p| (1..=65535).contains(p)).map(|p| p as u16);
    let bad = |cx: &mut Ctx| {
        cx.error(at, v.span, "invalid-value", format!("`{}` is not a port (1–65535) or range (`8000-8100`)", v.as_text().unwrap_or_default()));
        None
    };
    match &v.kind {
        ValueKind::Number { digits, unit } if unit.is_empty() => match parse(digits) {
            Some(p) => Some(PortRange { port: p, end: None }),
            None => bad(cx),
        },
        ValueKind::Range { lo, hi } => match (parse(lo), parse(hi)) {
            (Some(a), Some(b)) if a < b => Some(PortRange { port: a, end: Some(b) }),
            (Some(_), Some(_)) => {
                cx.error(at, v.span, "invalid-value", "a port range goes from low to high, e.g. `8000-8100`");
                None
            }
            _ => bad(cx),
        },
        _ => bad(cx),
    }
}

/// Gives each rule a readable, unique NetworkPolicy name.
/// NetworkPolicy names khc gives every isolated namespace (and the API-server
/// egress policies, `allow-egress-from-W-to-api-server`, which never collide with
/// rule names: rule peers are prefixed by their kind).
pub(crate) const FIXED_POLICY_NAMES: &[&str] = &["default-deny", "default-deny-ingress", "allow-dns", "allow-same-tenant"];

/// The name of the NetworkPolicy that lets token-mounting workload `workload`
/// reach the API server.
pub fn api_server_policy_name(workload: &str) -> String {
    format!("allow-egress-from-{workload}-to-api-server")
}

pub(crate) fn name_rules(rules: &mut [NetRule], reserved: impl IntoIterator<Item = String>) {
    let mut used: std::collections::BTreeSet<String> = FIXED_POLICY_NAMES.iter().map(|s| s.to_string()).chain(reserved).collect();
    for r in rules.iter_mut() {
        let peer = match &r.peer {
            Peer::Tenant { tenant, workload: Some((w, _)), .. } => format!("tenant-{tenant}-{w}"),
            Peer::Tenant { tenant, workload: None, .. } => format!("tenant-{tenant}"),
            Peer::Namespace(n) => format!("namespace-{n}"),
            Peer::Cidr(blocks) => format!("cidr-{}", blocks[0].cidr.replace(['.', '/', ':'], "-").trim_matches('-')),
            Peer::Dns(names) => format!("dns-{}", names[0].replace('*', "any").replace('.', "-").to_ascii_lowercase().trim_matches('-')),
            Peer::AllTenants { .. } => ALL_TENANTS.to_string(),
        };
        let base = match (r.direction, &r.local) {
            (Direction::Ingress, Some((w, _, _))) => format!("allow-ingress-to-{w}-from-{peer}"),
            (Direction::Ingress, None) => format!("allow-ingress-from-{peer}"),
            (Direction::Egress, Some((w, _, _))) => format!("allow-egress-from-{w}-to-{peer}"),
            (Direction::Egress, None) => format!("allow-egress-to-{peer}"),
        };
        let base: String = base.chars().take(220).collect::<String>().trim_end_matches('-').replace("--", "-");
        // The first free name of `base`, `base-2`, `base-3`…: a rule for tenant `x`
        // stated twice and one for tenant `x-2` never share a name.
        let mut name = base.clone();
        let mut n = 1;
        while used.contains(&name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        used.insert(name.clone());
        r.name = name;
    }
}

/// True when rule `r` of one tenant and rule `o` of the peer tenant (opposite
/// directions, naming each other) can allow the same connection: compatible
/// workloads on both sides and overlapping ports with the same protocol.
pub(crate) fn compatible(r: &NetRule, o: &NetRule) -> bool {
    let peer_workload = |rule: &NetRule| match &rule.peer {
        Peer::Tenant { workload: Some((w, _)), .. } => Some(w.clone()),
        _ => None,
    };
    let local_workload = |rule: &NetRule| rule.local.as_ref().map(|(w, _, _)| w.clone());
    let same = |a: Option<String>, b: Option<String>| a.is_none() || b.is_none() || a == b;
    let every_port = |x: &NetRule| x.ports.is_empty() && x.named_ports.is_empty() && !x.protocol_only;
    let same_protocol = r.protocols.iter().any(|p| o.protocols.contains(p));
    let ports_overlap = every_port(r)
        || every_port(o)
        || (same_protocol
            && (r.ports.is_empty()
                || o.ports.is_empty()
                || r.ports.iter().any(|a| o.ports.iter().any(|b| a.port <= b.end.unwrap_or(b.port) && b.port <= a.end.unwrap_or(a.port)))))
        || (same_protocol && r.ports.iter().any(|a| o.ports.iter().any(|b| a.port <= b.end.unwrap_or(b.port) && b.port <= a.end.unwrap_or(a.port))));
    same(local_workload(r), peer_workload(o)) && same(peer_workload(r), local_workload(o)) && ports_overlap
}
