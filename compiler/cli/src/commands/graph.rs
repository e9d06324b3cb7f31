//! `khc graph`: the tenant/workload reachability graph as DOT, SVG or a
//! self-contained HTML page (graph + RBAC subject → permission summary).

use super::{load_project, write_out, ProjectArg};
use khc_analysis::posture::{matrix, Reach};
use khc_analysis::{html_escape, Workspace};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

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
edge per pair that can connect (labelled with the ports), and the external namespaces and CIDRs the \
intent names, in both directions, with the internet (0.0.0.0/0) as a node of its own when a rule is that \
wide. DOT is for Graphviz; svg and html need nothing else (html adds the RBAC subject → \
permission summary, each with its FILE:LINE).",
    after_help = "Examples:\n  khc graph -p examples/multi-tenant > reach.dot\n  khc graph -p examples/multi-tenant --format html -o posture.html\n  \
khc graph -p examples/multi-tenant | dot -Tpng > reach.png"
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

/// Nodes (name, tenant or "" for external) and edges of the graph.
fn graph(ws: &Workspace) -> (Vec<(String, String)>, Vec<Reach>) {
    let mut nodes: Vec<(String, String)> = ws.workloads().map(|(t, w)| (format!("{}/{}", t.name, w.name), t.name.clone())).collect();
    let mut edges = matrix(ws);
    for (t, w) in ws.workloads() {
        let me = khc_analysis::posture::blast_radius(ws, t, w);
        for r in me.reaches.iter().filter(|r| {
            !r.endpoint.contains('/') || r.endpoint.starts_with("cidr") || r.endpoint.starts_with("api-server") || r.endpoint == khc_analysis::posture::INTERNET
        }) {
            if !nodes.iter().any(|(n, _)| *n == r.endpoint) {
                nodes.push((r.endpoint.clone(), String::new()));
            }
            edges.push(Reach { from: me.workload.clone(), to: r.endpoint.clone(), ports: r.ports.clone() });
        }
        // Inbound exposure: CIDRs and the internet that may open connections to the workload.
        for r in me.reached_by.iter().filter(|r| r.endpoint.starts_with("cidr") || r.endpoint == khc_analysis::posture::INTERNET) {
            if !nodes.iter().any(|(n, _)| *n == r.endpoint) {
                nodes.push((r.endpoint.clone(), String::new()));
            }
            edges.push(Reach { from: r.endpoint.clone(), to: me.workload.clone(), ports: r.ports.clone() });
        }
    }
    for ns in ws.external_namespaces() {
        let from = format!("namespace {ns}");
        let e = khc_analysis::network::Endpoint::bare_pod(&ns);
        for (t, w) in ws.workloads() {
            let to = khc_analysis::posture::workload_endpoint(t, w);
            let ports = ws.network.ports(&e, &to.endpoint);
            if !ports.is_empty() {
                if !nodes.iter().any(|(n, _)| *n == from) {
                    nodes.push((from.clone(), String::new()));
                }
                edges.push(Reach { from: from.clone(), to: to.name, ports });
            }
        }
    }
    (nodes, edges)
}

fn dot_id(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\\\""))
}

/// The graph as DOT.
pub fn dot(ws: &Workspace) -> String {
    let (nodes, edges) = graph(ws);
    let mut s = String::from(
        "digraph khc {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"sans-serif\"];\n  edge [fontname=\"sans-serif\", fontsize=10];\n",
    );
    for t in ws.tenants() {
        let _ =
            writeln!(s, "  subgraph {} {{\n    label={};\n    style=dashed;", dot_id(&format!("cluster_{}", t.name)), dot_id(&format!("tenant {}", t.name)));
        for (n, _) in nodes.iter().filter(|(_, tn)| *tn == t.name) {
            let _ = writeln!(s, "    {};", dot_id(n));
        }
        s.push_str("  }\n");
    }
    for (n, _) in nodes.iter().filter(|(_, t)| t.is_empty()) {
        let _ = writeln!(s, "  {} [shape=ellipse, style=dashed];", dot_id(n));
    }
    for e in &edges {
        let _ = writeln!(s, "  {} -> {} [label={}];", dot_id(&e.from), dot_id(&e.to), dot_id(&e.ports.to_string()));
    }
    s.push_str("}\n");
    s
}

const PALETTE: &[&str] = &["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

/// The graph as a standalone SVG: workloads on a circle, coloured by tenant.
pub fn svg(ws: &Workspace) -> String {
    let (nodes, edges) = graph(ws);
    let n = nodes.len().max(1);
    let r = (60.0 * n as f64 / std::f64::consts::PI).max(160.0);
    let (w, h) = (2.0 * r + 360.0, 2.0 * r + 160.0);
    let (cx, cy) = (w / 2.0, h / 2.0);
    let pos = |i: usize| {
        let a = 2.0 * std::f64::consts::PI * i as f64 / n as f64 - std::f64::consts::FRAC_PI_2;
        (cx + r * a.cos(), cy + r * a.sin())
    };
    let tenants: Vec<String> = ws.tenants().map(|t| t.name.clone()).collect();
    let colour = |t: &str| tenants.iter().position(|x| x == t).map_or("#999999", |i| PALETTE[i % PALETTE.len()]);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n\
<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n\
<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"12\" y=\"22\" font-size=\"16\" font-weight=\"bold\">khc reachability: {} workloads, {} allowed connections</text>\n",
        ws.workloads().count(),
        edges.len()
    );
    let index = |name: &str| nodes.iter().position(|(x, _)| x == name);
    for e in &edges {
        let (Some(a), Some(b)) = (index(&e.from), index(&e.to)) else { continue };
        let ((x1, y1), (x2, y2)) = (pos(a), pos(b));
        let len = ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt().max(1.0);
        let (ux, uy) = ((x2 - x1) / len, (y2 - y1) / len);
        let (sx, sy, ex, ey) = (x1 + ux * 14.0, y1 + uy * 14.0, x2 - ux * 14.0, y2 - uy * 14.0);
        let _ = writeln!(
            s,
            "<g><title>{} → {}: {}</title><line x1=\"{sx:.1}\" y1=\"{sy:.1}\" x2=\"{ex:.1}\" y2=\"{ey:.1}\" stroke=\"#555\" stroke-width=\"1.4\" marker-end=\"url(#arrow)\"/>\
<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#333\" font-size=\"10\" text-anchor=\"middle\">{}</text></g>",
            html_escape(&e.from),
            html_escape(&e.to),
            html_escape(&e.ports.to_string()),
            (sx + ex) / 2.0,
            (sy + ey) / 2.0 - 3.0,
            html_escape(&e.ports.to_string())
        );
    }
    for (i, (name, tenant)) in nodes.iter().enumerate() {
        let (x, y) = pos(i);
        let fill = if tenant.is_empty() { "#ffffff" } else { colour(tenant) };
        let anchor = if x < cx - 1.0 {
            "end"
        } else if x > cx + 1.0 {
            "start"
        } else {
            "middle"
        };
        let dx = if x < cx - 1.0 {
            -16.0
        } else if x > cx + 1.0 {
            16.0
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "<g><title>{}</title><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"11\" fill=\"{fill}\" stroke=\"#333\" stroke-dasharray=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text></g>",
            html_escape(name),
            if tenant.is_empty() { "3,2" } else { "none" },
            x + dx,
            y + 4.0,
            html_escape(name)
        );
    }
    for (i, t) in tenants.iter().enumerate() {
        let y = 44.0 + 18.0 * i as f64;
        let _ =
            writeln!(s, "<circle cx=\"20\" cy=\"{y:.0}\" r=\"6\" fill=\"{}\"/><text x=\"32\" y=\"{:.0}\">tenant {}</text>", colour(t), y + 4.0, html_escape(t));
    }
    s.push_str("</svg>\n");
    s
}

/// The HTML page: the SVG graph and the RBAC summary.
pub fn html(ws: &Workspace) -> String {
    let mut rows = String::new();
    for subject in ws.rbac.subjects() {
        for (ns, b, role) in ws.rbac.permissions_of(&subject) {
            let scope = ns.clone().unwrap_or_else(|| "cluster-wide".into());
            for r in &role.rules {
                let _ = writeln!(
                    rows,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td><code>{}</code></td></tr>",
                    html_escape(&subject.to_string()),
                    html_escape(&scope),
                    html_escape(&r.describe()),
                    html_escape(&role.kind),
                    html_escape(&role.name),
                    html_escape(&b.source)
                );
            }
        }
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>khc posture</title>\n<style>\
body{{font-family:sans-serif;margin:24px;color:#222}} table{{border-collapse:collapse;font-size:13px}} \
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}} th{{background:#f3f3f3}} svg{{max-width:100%;height:auto;border:1px solid #ddd}}\
</style></head><body>\n<h1>khc posture</h1>\n<h2>Reachability</h2>\n{}\n<h2>RBAC: who may do what</h2>\n\
<table><tr><th>subject</th><th>where</th><th>may</th><th>role</th><th>source</th></tr>\n{rows}</table>\n</body></html>\n",
        svg(ws)
    )
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
