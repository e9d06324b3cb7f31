//! The graph's layout and its SVG, in time linear in nodes and edges: tenants
//! are boxes on a grid (declaration order, row by row), their workloads rows
//! inside; the peers outside the tenants are a band of boxes above. An edge is
//! one curve between its ends' sides; the connections between two tenants are
//! bundled into one curve when there are several; the edges of the DNS, the
//! API server and any peer with more than [`COLLAPSE_OVER`] edges are collapsed
//! (no line: a badge on each workload and a count on the peer). Nothing is
//! placed by search or iteration, so a page of 1,000 tenants costs what
//! writing its elements costs.

use super::esc;
use super::{Edge, Graph, Kind};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Width of a tenant box and of a peer box.
const BOX_W: f64 = 280.0;
/// Horizontal room between boxes (for curves and their labels).
const GAP_X: f64 = 110.0;
/// Vertical room between boxes.
const GAP_Y: f64 = 46.0;
/// Height of a tenant's header.
const HEAD: f64 = 28.0;
/// Height of a workload row.
const ROW: f64 = 24.0;
/// Height of a peer box.
const PEER_H: f64 = 36.0;
/// Top margin (title) and side margins.
const TOP: f64 = 56.0;
const MARGIN: f64 = 24.0;
/// A peer with more edges than this has them collapsed (DNS and the API server always).
pub(crate) const COLLAPSE_OVER: usize = 8;

const PALETTE: &[&str] = &["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

/// A rectangle: x, y, width, height.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// Where everything is.
pub(crate) struct Layout {
    /// Each node's rectangle (a workload's row; a peer's box).
    pub node: Vec<Rect>,
    /// Each tenant's box.
    pub tenant: Vec<Rect>,
    /// Whether a node's edges are collapsed (peers only).
    pub collapsed: Vec<bool>,
    /// The whole drawing's size.
    pub width: f64,
    pub height: f64,
}

/// Grid columns for `n` boxes of `cell_w` by `cell_h` (on average): about a
/// 16:10 screen's shape, at least three across when there are three.
fn columns(n: usize, cell_w: f64, cell_h: f64) -> usize {
    ((1.6 * n as f64 * cell_h / cell_w).sqrt().ceil() as usize).max(n.min(3)).clamp(1, n.max(1))
}

/// `a` before `b` with the digits compared as numbers (`t2` before `t10`).
pub(crate) fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |s: &str| -> Vec<(String, u128)> {
        let mut out = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            let text_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
            let (text, tail) = rest.split_at(text_len);
            let digits_len = tail.find(|c: char| !c.is_ascii_digit()).unwrap_or(tail.len()).min(38);
            let (digits, tail) = tail.split_at(digits_len);
            out.push((text.to_string(), digits.parse().unwrap_or(0)));
            rest = tail;
        }
        out
    };
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}

/// The order of the tenants on the grid: a depth-first walk of the tenants
/// connected by some edge (either way), neighbours and roots in natural name
/// order, so that connected tenants sit side by side. Linear in tenants and
/// edges (plus sorting each neighbour list).
pub(crate) fn tenant_order(g: &Graph) -> Vec<usize> {
    let n = g.tenants.len();
    let mut by_name: Vec<usize> = (0..n).collect();
    by_name.sort_by(|&a, &b| natural(&g.tenants[a], &g.tenants[b]));
    let mut rank = vec![0; n];
    for (r, &t) in by_name.iter().enumerate() {
        rank[t] = r;
    }
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in &g.edges {
        if let (Some(a), Some(b)) = (g.nodes[e.from].tenant, g.nodes[e.to].tenant) {
            if a != b {
                next[a].push(b);
                next[b].push(a);
            }
        }
    }
    for v in &mut next {
        v.sort_by_key(|&t| std::cmp::Reverse(rank[t]));
        v.dedup();
    }
    let mut seen = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut stack = Vec::new();
    for &root in &by_name {
        stack.push(root);
        while let Some(t) = stack.pop() {
            if std::mem::replace(&mut seen[t], true) {
                continue;
            }
            order.push(t);
            // Reversed rank: the first neighbour by name is popped first.
            stack.extend(next[t].iter().copied().filter(|&u| !seen[u]));
        }
    }
    order
}

/// Above this many tenants every peer's edges are collapsed: lines from the
/// band of peers across a grid that large would only hide the tenants.
pub(crate) const LARGE: usize = 40;

/// Places every box: one pass over tenants and peers.
pub(crate) fn place(g: &Graph) -> Layout {
    let mut degree = vec![0usize; g.nodes.len()];
    for e in &g.edges {
        degree[e.from] += 1;
        degree[e.to] += 1;
    }
    let large = g.tenants.len() > LARGE;
    let collapsed: Vec<bool> = g
        .nodes
        .iter()
        .zip(&degree)
        .map(|(n, d)| n.tenant.is_none() && (large || matches!(n.kind, Kind::Dns | Kind::ApiServer) || *d > COLLAPSE_OVER))
        .collect();
    let mut node = vec![Rect::default(); g.nodes.len()];
    let height_of = |t: usize| HEAD + ROW * g.members[t].len().max(1) as f64 + 6.0;
    let avg_h = (0..g.tenants.len()).map(height_of).sum::<f64>() / g.tenants.len().max(1) as f64;
    let cols = columns(g.tenants.len(), BOX_W + GAP_X, avg_h + GAP_Y);
    let peers: Vec<usize> = g.shared().collect();
    let mut y = TOP;
    for (i, &p) in peers.iter().enumerate() {
        let (c, r) = (i % cols, i / cols);
        node[p] = Rect { x: MARGIN + c as f64 * (BOX_W + GAP_X), y: TOP + r as f64 * (PEER_H + GAP_Y / 2.0), w: BOX_W, h: PEER_H };
        y = y.max(node[p].y + PEER_H + GAP_Y);
    }
    let mut tenant = vec![Rect::default(); g.tenants.len()];
    let mut width = MARGIN + cols.min(peers.len().max(1)) as f64 * (BOX_W + GAP_X);
    let order = tenant_order(g);
    for (r, row) in order.chunks(cols).enumerate() {
        let tallest = row.iter().map(|&t| height_of(t)).fold(0.0, f64::max);
        for (c, &t) in row.iter().enumerate() {
            // Every other row right to left: the walk continues under its end.
            let c = if r % 2 == 1 { cols - 1 - c } else { c };
            let x = MARGIN + c as f64 * (BOX_W + GAP_X);
            tenant[t] = Rect { x, y, w: BOX_W, h: height_of(t) };
            for (k, &n) in g.members[t].iter().enumerate() {
                node[n] = Rect { x, y: y + HEAD + ROW * k as f64, w: BOX_W, h: ROW };
            }
        }
        width = width.max(MARGIN + cols.min(g.tenants.len()) as f64 * (BOX_W + GAP_X));
        y += tallest + GAP_Y;
    }
    // Room on the right for the curves out of and back into the last column.
    Layout { node, tenant, collapsed, width: width - GAP_X + MARGIN + 60.0, height: y }
}

/// A cubic curve from `a`'s side facing `b` to `b`'s side facing `a` (both
/// right sides when they share a column), with its midpoint for a label.
fn curve(a: Rect, b: Rect) -> (String, f64, f64) {
    let (ay, by) = (a.y + a.h / 2.0, b.y + b.h / 2.0);
    let (x1, x2, k1, k2) = if b.x >= a.x + a.w {
        let k = ((b.x - a.x - a.w) / 2.0).max(30.0);
        (a.x + a.w, b.x, k, -k)
    } else if b.x + b.w <= a.x {
        let k = ((a.x - b.x - b.w) / 2.0).max(30.0);
        (a.x, b.x + b.w, -k, k)
    } else {
        // Same column: out of the right side and back in.
        let k = 36.0 + ((by - ay).abs() / 8.0).min(40.0);
        (a.x + a.w, b.x + b.w, k, k)
    };
    let (c1x, c2x) = (x1 + k1, x2 + k2);
    let mx = (x1 + 3.0 * c1x + 3.0 * c2x + x2) / 8.0;
    let my = (ay + by) / 2.0;
    (format!("M{x1:.0},{ay:.0} C{c1x:.0},{ay:.0} {c2x:.0},{by:.0} {x2:.0},{by:.0}"), mx, my)
}

/// `s` cut to `max` characters (with an ellipsis).
fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max.saturating_sub(1)).collect::<String>() + "…"
    }
}

/// `1 workload`, `2 workloads`.
pub(crate) fn workloads(n: usize) -> String {
    format!("{n} workload{}", if n == 1 { "" } else { "s" })
}

/// The tenant name of a node for the page's filter (`""` outside the tenants).
fn tenant_of(g: &Graph, n: usize) -> &str {
    g.nodes[n].tenant.map_or("", |t| g.tenants[t].as_str())
}

/// The SVG of a laid-out graph and its width and height. `page`: for the
/// HTML page (sized by its container, which its script pans and zooms).
pub(crate) fn svg(g: &Graph, page: bool) -> (String, f64, f64) {
    let l = place(g);
    let (w, h) = (l.width, l.height);
    let mut s = String::with_capacity(512 * (g.nodes.len() + g.edges.len()) + 4096);
    let size = if page { "id=\"graph\" width=\"100%\" height=\"100%\"".to_string() } else { format!("width=\"{w:.0}\" height=\"{h:.0}\"") };
    let collapsed_edges = g.edges.iter().filter(|e| l.collapsed[e.from] || l.collapsed[e.to]).count();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" {size} viewBox=\"0 0 {w:.0} {h:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n\
<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n\
<rect width=\"{w:.0}\" height=\"{h:.0}\" fill=\"white\"/>\n<text x=\"{MARGIN:.0}\" y=\"30\" font-size=\"16\" font-weight=\"bold\">khc reachability: {} tenants, {} workloads, {} allowed connections ({} to DNS, the API server and busy peers collapsed)</text>",
        g.tenants.len(),
        g.members.iter().map(Vec::len).sum::<usize>(),
        g.edges.len(),
        collapsed_edges
    );
    // Edges first (under the boxes): single edges between nodes, bundles between tenants.
    let mut bundles: BTreeMap<(usize, usize), Vec<&Edge>> = BTreeMap::new();
    let mut singles: Vec<&Edge> = Vec::new();
    let mut counts: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for e in &g.edges {
        if let (Some(a), Some(b)) = (g.nodes[e.from].tenant, g.nodes[e.to].tenant) {
            if a != b {
                *counts.entry((a, b)).or_default() += 1;
            }
        }
    }
    for e in g.edges.iter().filter(|e| !l.collapsed[e.from] && !l.collapsed[e.to]) {
        match (g.nodes[e.from].tenant, g.nodes[e.to].tenant) {
            (Some(a), Some(b)) if a != b && counts[&(a, b)] > 1 => bundles.entry((a, b)).or_default().push(e),
            _ => singles.push(e),
        }
    }
    s.push_str("<g id=\"edges\" fill=\"none\">\n");
    for e in singles {
        let (d, mx, my) = curve(l.node[e.from], l.node[e.to]);
        let ports = e.ports.to_string();
        let ports = esc(&ports);
        let _ = writeln!(
            s,
            "<g class=\"edge\" data-a=\"{}\" data-b=\"{}\"><title>{} → {}: {ports}</title><path d=\"{d}\" stroke=\"#555\" stroke-width=\"1.4\" marker-end=\"url(#arrow)\"/>\
<text x=\"{mx:.0}\" y=\"{:.0}\" fill=\"#333\" stroke=\"none\" font-size=\"10\" text-anchor=\"middle\">{}</text></g>",
            esc(tenant_of(g, e.from)),
            esc(tenant_of(g, e.to)),
            esc(&g.nodes[e.from].name),
            esc(&g.nodes[e.to].name),
            my - 4.0,
            esc(&fit(&e.ports.to_string(), 28)),
        );
    }
    for ((a, b), es) in &bundles {
        let (d, mx, my) = curve(l.tenant[*a], l.tenant[*b]);
        let mut title = format!("{} connections from tenant {} to tenant {}:", es.len(), g.tenants[*a], g.tenants[*b]);
        for e in es {
            let _ = write!(title, "\n{} → {}: {}", g.nodes[e.from].name, g.nodes[e.to].name, e.ports);
        }
        let _ = writeln!(
            s,
            "<g class=\"edge bundle\" data-a=\"{}\" data-b=\"{}\"><title>{}</title><path d=\"{d}\" stroke=\"#555\" stroke-width=\"3\" marker-end=\"url(#arrow)\"/>\
<text x=\"{mx:.0}\" y=\"{:.0}\" fill=\"#333\" stroke=\"none\" font-size=\"10\" text-anchor=\"middle\">{} connections</text></g>",
            esc(&g.tenants[*a]),
            esc(&g.tenants[*b]),
            esc(&title),
            my - 4.0,
            es.len()
        );
    }
    s.push_str("</g>\n");
    // Collapsed edges: a badge per workload, a count per peer.
    let mut badges: Vec<Vec<(&'static str, String)>> = vec![Vec::new(); g.nodes.len()];
    let mut peer_in = vec![0usize; g.nodes.len()];
    let mut peer_out = vec![0usize; g.nodes.len()];
    for e in &g.edges {
        if l.collapsed[e.to] {
            badges[e.from].push((g.nodes[e.to].kind.badge(), format!("→ {}: {}", g.nodes[e.to].name, e.ports)));
            peer_in[e.to] += 1;
        } else if l.collapsed[e.from] {
            badges[e.to].push((g.nodes[e.from].kind.badge(), format!("← {}: {}", g.nodes[e.from].name, e.ports)));
            peer_out[e.from] += 1;
        }
    }
    // Peers, with the tenants they are connected to (for the page's filter).
    let mut peer_tenants: Vec<Vec<usize>> = vec![Vec::new(); g.nodes.len()];
    for e in &g.edges {
        match (g.nodes[e.from].tenant, g.nodes[e.to].tenant) {
            (None, Some(t)) => peer_tenants[e.from].push(t),
            (Some(t), None) => peer_tenants[e.to].push(t),
            _ => {}
        }
    }
    s.push_str("<g id=\"peers\">\n");
    for p in g.shared() {
        let r = l.node[p];
        let n = &g.nodes[p];
        let what = if l.collapsed[p] {
            let mut parts = Vec::new();
            if peer_in[p] > 0 {
                parts.push(format!("reached by {}", workloads(peer_in[p])));
            }
            if peer_out[p] > 0 {
                parts.push(format!("reaches {}", workloads(peer_out[p])));
            }
            format!("{} (collapsed)", parts.join(", "))
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "<g class=\"peer\" data-ts=\"{}\"><title>{}{}</title><rect x=\"{:.0}\" y=\"{:.0}\" width=\"{:.0}\" height=\"{:.0}\" rx=\"{:.0}\" fill=\"#fafafa\" stroke=\"#777\" stroke-dasharray=\"4,3\"/>\
<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\">{}</text><text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555\">{}</text></g>",
            {
                let mut ts = std::mem::take(&mut peer_tenants[p]);
                ts.dedup();
                esc(&ts.iter().map(|&t| g.tenants[t].as_str()).collect::<Vec<_>>().join(" "))
            },
            esc(&n.name),
            if what.is_empty() { String::new() } else { format!(": {what}") },
            r.x,
            r.y,
            r.w,
            r.h,
            r.h / 2.0,
            r.x + r.w / 2.0,
            r.y + if what.is_empty() { 22.0 } else { 15.0 },
            esc(&fit(&n.name, 40)),
            r.x + r.w / 2.0,
            r.y + 29.0,
            esc(&what)
        );
    }
    s.push_str("</g>\n<g id=\"tenants\">\n");
    // Tenants and their workloads.
    for (t, (name, members)) in g.tenants.iter().zip(&g.members).enumerate() {
        let r = l.tenant[t];
        let colour = PALETTE[t % PALETTE.len()];
        let search: Vec<&str> = members.iter().map(|&n| g.nodes[n].name.as_str()).collect();
        let _ = writeln!(
            s,
            "<g class=\"tenant\" data-t=\"{}\" data-s=\"{} {}\" data-box=\"{:.0} {:.0} {:.0} {:.0}\"><title>tenant {}: {}</title>\
<rect x=\"{:.0}\" y=\"{:.0}\" width=\"{:.0}\" height=\"{:.0}\" rx=\"6\" fill=\"white\" stroke=\"{colour}\" stroke-width=\"1.5\"/>\
<path d=\"M{:.0},{:.0} h{:.0} v{HEAD:.0} h-{:.0} z\" fill=\"{colour}\"/>\
<text class=\"head\" x=\"{:.0}\" y=\"{:.0}\" fill=\"white\" font-weight=\"bold\">tenant {}</text>",
            esc(name),
            esc(name),
            esc(&search.join(" ")),
            r.x,
            r.y,
            r.w,
            r.h,
            esc(name),
            workloads(members.len()),
            r.x,
            r.y,
            r.w,
            r.h,
            r.x,
            r.y,
            r.w,
            r.w,
            r.x + 10.0,
            r.y + 19.0,
            esc(&fit(name, 36))
        );
        for &n in members {
            let nr = l.node[n];
            let short = g.nodes[n].name.split_once('/').map_or(g.nodes[n].name.as_str(), |(_, w)| w);
            let cy = nr.y + nr.h / 2.0;
            let _ = write!(
                s,
                "<g class=\"workload\"><title>{}</title><circle cx=\"{:.0}\" cy=\"{cy:.0}\" r=\"5\" fill=\"{colour}\"/><text x=\"{:.0}\" y=\"{:.0}\">{}</text>",
                esc(&g.nodes[n].name),
                nr.x + 14.0,
                nr.x + 26.0,
                cy + 4.0,
                esc(&fit(short, 22))
            );
            if !badges[n].is_empty() {
                let mut kinds: Vec<&str> = badges[n].iter().map(|(k, _)| *k).collect();
                kinds.sort_unstable();
                kinds.dedup();
                let detail: Vec<&str> = badges[n].iter().map(|(_, d)| d.as_str()).collect();
                let _ = write!(
                    s,
                    "<g class=\"badge\"><title>{}</title><text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\" font-size=\"10\" fill=\"#666\">↔ {}</text></g>",
                    esc(&detail.join("\n")),
                    nr.x + nr.w - 8.0,
                    cy + 4.0,
                    esc(&fit(&kinds.join(" · "), 22))
                );
            }
            s.push_str("</g>\n");
        }
        s.push_str("</g>\n");
    }
    s.push_str("</g>\n</svg>\n");
    (s, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::graph::Node;
    use khc_analysis::network::Ports;

    /// A ring of `n` tenants with two workloads each, every workload reaching
    /// the DNS, and each tenant's first workload the next tenant's.
    fn ring(n: usize) -> Graph {
        let mut g = Graph::default();
        for t in 0..n {
            g.tenants.push(format!("t{t}"));
            g.members.push(vec![g.nodes.len(), g.nodes.len() + 1]);
            for w in ["api", "worker"] {
                g.nodes.push(Node { name: format!("t{t}/{w}"), tenant: Some(t), kind: Kind::Workload });
            }
        }
        let dns = g.nodes.len();
        g.nodes.push(Node { name: "DNS".into(), tenant: None, kind: Kind::Dns });
        for t in 0..n {
            g.edges.push(Edge { from: 2 * t, to: 2 * ((t + 1) % n), ports: Ports::all() });
            g.edges.push(Edge { from: 2 * t, to: dns, ports: Ports::all() });
            g.edges.push(Edge { from: 2 * t + 1, to: dns, ports: Ports::all() });
        }
        g
    }

    #[test]
    fn boxes_do_not_overlap_and_dns_is_collapsed() {
        let g = ring(50);
        let l = place(&g);
        for (i, a) in l.tenant.iter().enumerate() {
            for b in &l.tenant[i + 1..] {
                assert!(a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y, "{a:?} overlaps {b:?}");
            }
            assert!(a.x + a.w <= l.width && a.y + a.h <= l.height);
        }
        assert!(l.collapsed[100] && !l.collapsed[0]);
        // The ring is walked in order, every other row backwards: neighbours touch.
        assert_eq!(tenant_order(&g), (0..50).collect::<Vec<_>>());
        for t in 0..49 {
            let (a, b) = (l.tenant[t], l.tenant[t + 1]);
            assert!((a.x - b.x).abs() <= BOX_W + GAP_X + 0.5 && (a.x == b.x || a.y == b.y), "t{t} and t{} apart", t + 1);
        }
        let (svg, _, _) = svg(&g, false);
        // One line per ring edge, none to the DNS: its 100 edges are badges.
        assert_eq!(svg.matches("<g class=\"edge\"").count(), 50);
        assert_eq!(svg.matches("<g class=\"badge\"").count(), 100);
        assert!(svg.contains("reached by 100 workloads (collapsed)"));
    }

    #[test]
    fn names_sort_naturally() {
        let mut v = vec!["t10", "t2", "b", "t1", "a10b", "a9b"];
        v.sort_by(|a, b| natural(a, b));
        assert_eq!(v, ["a9b", "a10b", "b", "t1", "t2", "t10"]);
    }

    #[test]
    fn the_svg_grows_linearly() {
        // Bytes per tenant stay the same from 100 to 2,000 tenants (no pairwise term).
        let small = svg(&ring(100), false).0.len() as f64 / 100.0;
        let large = svg(&ring(2000), false).0.len() as f64 / 2000.0;
        assert!(large < small * 1.15, "{small} → {large} bytes per tenant");
    }
}
