//! `khc graph`: the tenant/workload reachability graph as DOT, SVG or a
//! self-contained HTML page (graph + RBAC subject → permission summary).

use super::{load_project, write_out, ProjectArg};
use khc_analysis::network::{Endpoint, Ports};
use khc_analysis::posture::{external_endpoints, workload_endpoint, INTERNET};
use khc_analysis::Workspace;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

mod layout;
mod page;

/// Output of `khc graph`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// A standalone SVG image.
    Svg,
    /// A self-contained HTML page: the SVG graph and the RBAC summary.
    Html,
}

/// Arguments of `khc graph`.
#[derive(clap::Args, Debug)]
#[command(
    about = "The reachability graph (DOT, SVG or an HTML page with the RBAC summary)",
    long_about = "Draw the tenant/workload reachability graph: one node per workload (grouped by tenant), one \
edge per pair that can connect (labelled with the ports), and the peers outside the tenants that the intent \
names, in both directions: external namespaces, CIDRs, the cluster's DNS, the API server, and the internet \
(0.0.0.0/0) as a node of its own when a rule is that wide.\n\n\
DOT (for Graphviz) keeps every edge. svg and html need nothing else and stay readable at fleet size: \
tenants are boxes on a grid (connected tenants side by side), outside peers a band above; the DNS and \
API-server connections, which every isolated workload has, are collapsed into a badge on each workload and \
a count on the peer (as are those of any peer with more than 8, and of every peer above 40 tenants); several \
connections between two tenants are one bundled curve. html adds a filter box (tenant or workload name; an \
exact tenant name shows that tenant alone, its neighbours dimmed; PAGE#filter=NAME opens filtered), pan and \
zoom, each tenant's connections in a collapsible list and the RBAC subject → permission summary, each with \
its FILE:LINE; it loads nothing from the network.",
    after_help = "Examples:\n  khc graph -p examples/multi-tenant > reach.dot\n  khc graph -p examples/multi-tenant --format html -o posture.html\n  \
khc graph -p examples/multi-tenant | dot -Tpng > reach.png\n  \
chromium 'posture.html#filter=payments'   # the page, showing tenant payments and its neighbours"
)]
pub struct Args {
    #[command(flatten)]
    pub project: ProjectArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

/// What a node of the graph stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A workload of a tenant.
    Workload,
    /// The cluster's DNS (pods or addresses): every isolated workload reaches it,
    /// so its edges are always collapsed in the drawing.
    Dns,
    /// The API server (`api-server CIDR…` or Cilium's entity): collapsed too.
    ApiServer,
    /// The whole IPv4 range.
    Internet,
    /// A `cidr` peer.
    Cidr,
    /// A namespace outside the tenants.
    Namespace,
    /// A DNS name the CNI lets out (`dns NAME…`).
    DnsName,
}

impl Kind {
    /// The short name of a node of this kind on a workload's badge.
    pub(crate) fn badge(self) -> &'static str {
        match self {
            Kind::Workload => "workload",
            Kind::Dns => "DNS",
            Kind::ApiServer => "API",
            Kind::Internet => "internet",
            Kind::Cidr => "CIDR",
            Kind::Namespace => "namespace",
            Kind::DnsName => "dns name",
        }
    }
}

/// A node: a workload (with its tenant) or a peer outside the tenants.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// `TENANT/WORKLOAD`, or the peer as `khc reach` names it.
    pub name: String,
    /// The tenant (index into [`Graph::tenants`]) of a workload.
    pub tenant: Option<usize>,
    /// What it is.
    pub kind: Kind,
}

/// One allowed connection.
#[derive(Clone, Debug)]
pub(crate) struct Edge {
    /// Sender (node index).
    pub from: usize,
    /// Receiver (node index).
    pub to: usize,
    /// Allowed ports.
    pub ports: Ports,
}

/// The reachability graph: workloads grouped by tenant, the peers outside the
/// tenants that some workload reaches or is reached by, and the allowed
/// connections. Built in time linear in workloads × (workloads + peers)
/// evaluator steps (the evaluator's pair matrix) and linear in nodes and edges
/// otherwise: no lookup scans a list.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    /// Tenant names, in declaration order.
    pub tenants: Vec<String>,
    /// The workload nodes of each tenant.
    pub members: Vec<Vec<usize>>,
    /// Nodes: the workloads first (in tenant order), then the outside peers in
    /// the order of their first edge.
    pub nodes: Vec<Node>,
    /// Edges: workload pairs, then each workload's outside peers (out, then in).
    pub edges: Vec<Edge>,
}

impl Graph {
    /// The indexes of the peers outside the tenants.
    pub(crate) fn shared(&self) -> impl Iterator<Item = usize> + '_ {
        self.nodes.iter().enumerate().filter(|(_, n)| n.tenant.is_none()).map(|(i, _)| i)
    }
}

/// The graph of a workspace.
pub(crate) fn build(ws: &Workspace) -> Graph {
    let mut g = Graph::default();
    let mut tenant_index: HashMap<&str, usize> = HashMap::new();
    let mut endpoints = Vec::new();
    let mut tenant_of_workload = Vec::new();
    // Every tenant gets its group, in declaration order, even without workloads.
    for t in ws.tenants() {
        tenant_index.entry(t.name.as_str()).or_insert_with(|| {
            g.tenants.push(t.name.clone());
            g.members.push(Vec::new());
            g.tenants.len() - 1
        });
    }
    for (t, w) in ws.workloads() {
        let ti = tenant_index[t.name.as_str()];
        let named = workload_endpoint(t, w);
        g.members[ti].push(g.nodes.len());
        g.nodes.push(Node { name: named.name, tenant: Some(ti), kind: Kind::Workload });
        endpoints.push(named.endpoint);
        tenant_of_workload.push((t, w));
    }
    for (a, b, ports) in ws.network.matrix(&endpoints) {
        g.edges.push(Edge { from: a, to: b, ports });
    }
    // The peers outside the tenants, each once: namespaces and CIDRs the intent
    // names, the cluster's DNS, each tenant's API server addresses, the internet.
    let mut peers: Vec<(String, Endpoint, Kind)> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut add = |peers: &mut Vec<(String, Endpoint, Kind)>, name: String, e: Endpoint, kind: Kind| -> usize {
        *seen.entry(name.clone()).or_insert_with(|| {
            peers.push((name, e, kind));
            peers.len() - 1
        })
    };
    for (name, e) in external_endpoints(ws) {
        let kind = if name == INTERNET {
            Kind::Internet
        } else if name.starts_with("namespace ") {
            Kind::Namespace
        } else {
            Kind::Cidr
        };
        add(&mut peers, name, e, kind);
    }
    for (name, e, _) in ws.dns_endpoints() {
        add(&mut peers, name, e, Kind::Dns);
    }
    // Which tenants declare each API server address (a workload is asked only
    // about its own tenant's, as `khc blast-radius` does).
    let mut api_of: HashMap<usize, Vec<bool>> = HashMap::new();
    for t in ws.tenants() {
        for c in &t.api_server {
            if let Some(e) = Endpoint::parse_net(c) {
                let i = add(&mut peers, format!("api-server {c}"), e, Kind::ApiServer);
                api_of.entry(i).or_insert_with(|| vec![false; g.tenants.len()])[tenant_index[t.name.as_str()]] = true;
            }
        }
    }
    add(&mut peers, INTERNET.into(), Endpoint::Net { lo: 0, hi: u32::MAX }, Kind::Internet);
    let peer_endpoints: Vec<Endpoint> = peers.iter().map(|(_, e, _)| e.clone()).collect();
    let mut node_of_peer: Vec<Option<usize>> = vec![None; peers.len()];
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut peer_node = |g: &mut Graph, name: &str, kind: Kind| -> usize {
        *by_name.entry(name.to_string()).or_insert_with(|| {
            g.nodes.push(Node { name: name.to_string(), tenant: None, kind });
            g.nodes.len() - 1
        })
    };
    let outbound = ws.network.cross(&endpoints, &peer_endpoints);
    // Inbound from outside: CIDRs, the internet and namespaces (not DNS or the API server).
    let inbound_peers: Vec<usize> = (0..peers.len()).filter(|&i| matches!(peers[i].2, Kind::Cidr | Kind::Internet | Kind::Namespace)).collect();
    let inbound_endpoints: Vec<Endpoint> = inbound_peers.iter().map(|&i| peer_endpoints[i].clone()).collect();
    let mut inbound: Vec<Vec<(usize, Ports)>> = vec![Vec::new(); endpoints.len()];
    for (p, w, ports) in ws.network.cross(&inbound_endpoints, &endpoints) {
        inbound[w].push((inbound_peers[p], ports));
    }
    let mut outbound = outbound.into_iter().peekable();
    for (w, (t, wl)) in tenant_of_workload.iter().enumerate() {
        let ti = g.nodes[w].tenant.unwrap_or_default();
        while let Some((_, p, ports)) = outbound.next_if(|(a, _, _)| *a == w) {
            if api_of.get(&p).is_some_and(|declared| !declared[ti]) {
                continue;
            }
            let n = *node_of_peer[p].get_or_insert_with(|| peer_node(&mut g, &peers[p].0, peers[p].2));
            g.edges.push(Edge { from: w, to: n, ports });
        }
        for r in khc_analysis::posture::cni_reaches(t, wl) {
            let kind = if r.endpoint.starts_with("api-server") { Kind::ApiServer } else { Kind::DnsName };
            let n = peer_node(&mut g, &r.endpoint, kind);
            g.edges.push(Edge { from: w, to: n, ports: r.ports });
        }
        for (p, ports) in std::mem::take(&mut inbound[w]) {
            let n = *node_of_peer[p].get_or_insert_with(|| peer_node(&mut g, &peers[p].0, peers[p].2));
            g.edges.push(Edge { from: n, to: w, ports });
        }
    }
    g
}

/// Text escaped for HTML, borrowed when there is nothing to escape (most names:
/// the page writes tens of thousands of them).
pub(crate) fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['&', '<', '>', '"']) {
        std::borrow::Cow::Owned(khc_analysis::html_escape(s))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn dot_id(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\\\""))
}

/// The graph as DOT: every connection (Graphviz lays it out; nothing is
/// collapsed).
pub fn dot(ws: &Workspace) -> String {
    let g = build(ws);
    let mut s = String::from(
        "digraph khc {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"sans-serif\"];\n  edge [fontname=\"sans-serif\", fontsize=10];\n",
    );
    for (t, members) in g.tenants.iter().zip(&g.members) {
        let _ = writeln!(s, "  subgraph {} {{\n    label={};\n    style=dashed;", dot_id(&format!("cluster_{t}")), dot_id(&format!("tenant {t}")));
        for &n in members {
            let _ = writeln!(s, "    {};", dot_id(&g.nodes[n].name));
        }
        s.push_str("  }\n");
    }
    for n in g.shared() {
        let _ = writeln!(s, "  {} [shape=ellipse, style=dashed];", dot_id(&g.nodes[n].name));
    }
    for e in &g.edges {
        let _ = writeln!(s, "  {} -> {} [label={}];", dot_id(&g.nodes[e.from].name), dot_id(&g.nodes[e.to].name), dot_id(&e.ports.to_string()));
    }
    s.push_str("}\n");
    s
}

/// The graph as a standalone SVG (tenants as groups on a grid; see [`layout`]).
pub fn svg(ws: &Workspace) -> String {
    layout::svg(&build(ws), false).0
}

/// The HTML page: the graph (pan, zoom, a tenant/workload filter), the
/// connections of each tenant (collapsible) and the RBAC summary.
pub fn html(ws: &Workspace) -> String {
    page::html(ws, &build(ws))
}

/// Runs `khc graph`.
pub fn run(args: Args) -> ExitCode {
    let ws = match load_project(&args.project) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let text = match args.format {
        GraphFormat::Dot => dot(ws),
        GraphFormat::Svg => svg(ws),
        GraphFormat::Html => html(ws),
    };
    write_out(&text, args.out.as_deref())
}
