//! `khc graph --format html`: one self-contained page (no network): the graph
//! with pan and zoom, a filter box (tenant or workload name; `#filter=TEXT` in
//! the address fills it) that hides the other tenants, their edges, their
//! connection lists and their RBAC rows and zooms to what is left, the
//! connections of each tenant in a collapsible group, and the RBAC summary.

use super::esc;
use super::{layout, Graph};
use khc_analysis::Workspace;
use std::collections::HashMap;
use std::fmt::Write as _;

/// The page's script: filter, fit, pan and zoom (no library).
const SCRIPT: &str = r#"(function () {
  const svg = document.getElementById('graph');
  const input = document.getElementById('filter');
  const shown = document.getElementById('shown');
  const groups = Array.from(svg.querySelectorAll('g.tenant'));
  const names = new Set(groups.map(g => g.dataset.t));
  const full = svg.viewBox.baseVal;
  const home = [full.x, full.y, full.width, full.height];
  let view = home.slice();
  const set = v => { view = v; svg.setAttribute('viewBox', v.map(n => n.toFixed(1)).join(' ')); };
  const edges = Array.from(svg.querySelectorAll('g.edge'));
  const peers = Array.from(svg.querySelectorAll('g.peer')).map(p => [p, p.dataset.ts.split(' ')]);
  function apply() {
    const q = input.value.trim().toLowerCase();
    const exact = names.has(q);
    // The matching tenants, and the tenants at the other end of their edges (shown dimmed).
    const on = new Set(), ctx = new Set();
    for (const g of groups) if (!q || (exact ? g.dataset.t === q : g.dataset.s.toLowerCase().includes(q))) on.add(g.dataset.t);
    if (q) for (const e of edges) {
      const [a, b] = [e.dataset.a, e.dataset.b];
      if (on.has(a) && b !== '' && !on.has(b)) ctx.add(b);
      if (on.has(b) && a !== '' && !on.has(a)) ctx.add(a);
    }
    for (const g of groups) {
      g.classList.toggle('off', !on.has(g.dataset.t) && !ctx.has(g.dataset.t));
      g.classList.toggle('ctx', ctx.has(g.dataset.t));
    }
    const vis = t => t === '' || on.has(t) || ctx.has(t);
    for (const e of edges) {
      const [a, b] = [e.dataset.a, e.dataset.b];
      e.classList.toggle('off', !(vis(a) && vis(b) && (!q || on.has(a) || on.has(b))));
    }
    for (const [p, ts] of peers) p.classList.toggle('off', !!q && !ts.some(t => on.has(t)));
    for (const d of document.querySelectorAll('[data-t]:not(g)')) d.classList.toggle('off', !(d.dataset.t === '' || on.has(d.dataset.t)));
    shown.textContent = on.size + ' of ' + groups.length + ' tenants';
    fit(q ? groups.filter(g => on.has(g.dataset.t) || ctx.has(g.dataset.t)) : null);
    history.replaceState(null, '', q ? '#filter=' + encodeURIComponent(q) : location.pathname);
  }
  function fit(sel) {
    if (!sel || sel.length === 0) return set(home.slice());
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const g of sel) {
      const [x, y, w, h] = g.dataset.box.split(' ').map(Number);
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + w); y1 = Math.max(y1, y + h);
    }
    const pad = 140;
    set([x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad]);
  }
  input.addEventListener('input', apply);
  document.getElementById('fit').addEventListener('click', () => { input.value = ''; apply(); });
  for (const g of groups) g.querySelector('.head').addEventListener('click', () => { input.value = g.dataset.t; apply(); });
  svg.addEventListener('wheel', ev => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    const k = Math.exp(ev.deltaY * 0.0015);
    const s = Math.max(view[2] / r.width, view[3] / r.height);
    const px = view[0] + (ev.clientX - r.left) * s, py = view[1] + (ev.clientY - r.top) * s;
    set([px - (px - view[0]) * k, py - (py - view[1]) * k, view[2] * k, view[3] * k]);
  }, { passive: false });
  let drag = null;
  svg.addEventListener('pointerdown', ev => { drag = [ev.clientX, ev.clientY, view.slice()]; svg.setPointerCapture(ev.pointerId); });
  svg.addEventListener('pointermove', ev => {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    const s = Math.max(drag[2][2] / r.width, drag[2][3] / r.height);
    set([drag[2][0] - (ev.clientX - drag[0]) * s, drag[2][1] - (ev.clientY - drag[1]) * s, drag[2][2], drag[2][3]]);
  });
  svg.addEventListener('pointerup', () => { drag = null; });
  const m = location.hash.match(/^#filter=(.*)$/);
  if (m) input.value = decodeURIComponent(m[1]);
  apply();
  document.body.dataset.ready = 'yes';
})();"#;

/// `1 connection`, `2 connections`.
fn connections(n: usize) -> String {
    format!("{n} connection{}", if n == 1 { "" } else { "s" })
}

/// The page.
pub(crate) fn html(ws: &Workspace, g: &Graph) -> String {
    // The tenant of each namespace, for the RBAC rows' filter.
    let mut tenant_of_ns: HashMap<&str, &str> = HashMap::new();
    for t in ws.tenants() {
        for n in &t.namespaces {
            tenant_of_ns.insert(n.as_str(), t.name.as_str());
        }
    }
    let mut rows = String::new();
    for (subject, permissions) in ws.rbac.all_permissions() {
        for (ns, b, role) in permissions {
            let scope = ns.clone().unwrap_or_else(|| "cluster-wide".into());
            let t = ns.as_deref().and_then(|n| tenant_of_ns.get(n).copied()).unwrap_or("");
            for r in &role.rules {
                let _ = writeln!(
                    rows,
                    "<tr data-t=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td><code>{}</code></td></tr>",
                    esc(t),
                    esc(&subject.to_string()),
                    esc(&scope),
                    esc(&r.describe()),
                    esc(&role.kind),
                    esc(&role.name),
                    esc(&b.source)
                );
            }
        }
    }
    // Each tenant's connections, in and out, in a collapsible group.
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); g.tenants.len()];
    let mut into: Vec<Vec<usize>> = vec![Vec::new(); g.tenants.len()];
    for (i, e) in g.edges.iter().enumerate() {
        if let Some(t) = g.nodes[e.from].tenant {
            out[t].push(i);
        }
        if let Some(t) = g.nodes[e.to].tenant {
            if g.nodes[e.from].tenant != Some(t) {
                into[t].push(i);
            }
        }
    }
    let mut groups = String::new();
    for (t, name) in g.tenants.iter().enumerate() {
        let _ = write!(
            groups,
            "<details class=\"group\" data-t=\"{}\"><summary>tenant {} — {}, {} out, {} in</summary><table>\
<tr><th>from</th><th>to</th><th>ports</th></tr>",
            esc(name),
            esc(name),
            layout::workloads(g.members[t].len()),
            connections(out[t].len()),
            connections(into[t].len())
        );
        for &i in out[t].iter().chain(&into[t]) {
            let e = &g.edges[i];
            let _ =
                write!(groups, "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", esc(&g.nodes[e.from].name), esc(&g.nodes[e.to].name), esc(&e.ports.to_string()));
        }
        groups.push_str("</table></details>\n");
    }
    let (svg, w, h) = layout::svg(g, true);
    let mut options = String::new();
    for name in &g.tenants {
        let _ = write!(options, "<option value=\"{}\">", esc(name));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>khc posture</title>\n<style>\
body{{font-family:sans-serif;margin:24px;color:#222}} table{{border-collapse:collapse;font-size:13px}} \
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}} th{{background:#f3f3f3}} \
#view{{max-height:75vh;min-height:320px;border:1px solid #ddd;overflow:hidden}} #graph{{display:block;cursor:grab;touch-action:none}} \
.bar{{display:flex;gap:12px;align-items:center;margin:8px 0}} #shown{{white-space:nowrap}} #filter{{font-size:15px;padding:4px 8px;width:22em}} \
.off{{display:none}} .ctx{{opacity:.45}} .head{{cursor:pointer}} details.group{{margin:2px 0}} details.group table{{margin:4px 0 8px 18px}}\
</style></head><body>\n<h1>khc posture</h1>\n<h2>Reachability</h2>\n\
<div class=\"bar\"><input id=\"filter\" type=\"search\" list=\"tenant-names\" placeholder=\"filter: tenant or workload\" aria-label=\"filter by tenant or workload\">\
<button id=\"fit\" type=\"button\">show all</button><span id=\"shown\">{n} of {n} tenants</span>\
<span style=\"color:#666\">drag to pan, wheel to zoom, click a tenant's name to show it alone (with its neighbours dimmed); an exact tenant name shows that tenant only</span></div>\n\
<datalist id=\"tenant-names\">{options}</datalist>\n<div id=\"view\" style=\"aspect-ratio: {aspect}\">\n{svg}</div>\n\
<h2>Connections by tenant</h2>\n<div id=\"groups\">\n{groups}</div>\n\
<h2>RBAC: who may do what</h2>\n\
<table id=\"rbac\"><tr><th>subject</th><th>where</th><th>may</th><th>role</th><th>source</th></tr>\n{rows}</table>\n<script>{SCRIPT}</script>\n</body></html>\n",
        n = g.tenants.len(),
        // The view keeps the drawing's shape up to three quarters of the window's height.
        aspect = format_args!("{w:.0} / {h:.0}"),
    )
}
