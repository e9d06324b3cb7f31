//! Code lenses: the answers of the query commands above the declarations they
//! are about. Over a `workload`: how many workloads and outside peers reach it
//! and it reaches (`khc blast-radius`'s `reached by` and `reaches`); over a
//! `tenant`: how many subjects may exec into pods of its namespaces (`khc
//! who-can create pods/exec -n NS`); and the workload hover's list of who
//! reaches it ([`reached_by`]). Computed with the project's evaluators
//! ([`khc_analysis::Workspace`]), as the commands compute them.

use crate::text::LineIndex;
use khc_analysis::posture::blast_radius;
use khc_analysis::rbac::Request;
use khc_analysis::Workspace;
use khc_semantics::index::{Definition, SymbolKind};
use lsp_types::{CodeLens, Command};
use std::collections::BTreeSet;

/// The lens title of workload `workload` of tenant `tenant`.
pub fn workload_title(ws: &Workspace, tenant: &str, workload: &str) -> Option<String> {
    let (t, w) = ws.workloads().find(|(t, w)| t.name == tenant && w.name == workload)?;
    let br = blast_radius(ws, t, w);
    Some(format!("reached by {} · can reach {}", br.reached_by.len(), br.reaches.len()))
}

/// The most peers the workload hover lists before "… and N more".
pub const MAX_REACHED_BY: usize = 12;

/// The hover section of workload `workload` of tenant `tenant`: who can open
/// connections to it, on which ports (`khc blast-radius TENANT/WORKLOAD`'s
/// "can be reached from"), and how many endpoints it can reach.
pub fn reached_by(ws: &Workspace, tenant: &str, workload: &str) -> Option<String> {
    let (t, w) = ws.workloads().find(|(t, w)| t.name == tenant && w.name == workload)?;
    let br = blast_radius(ws, t, w);
    let mut md = format!(
        "**Reached by** {} (as `khc blast-radius {tenant}/{workload}` lists under \"can be reached from\"; it can reach {}):\n",
        br.reached_by.len(),
        br.reaches.len()
    );
    for r in br.reached_by.iter().take(MAX_REACHED_BY) {
        md.push_str(&format!("\n- `{}`: {}", r.endpoint, r.ports));
    }
    if br.reached_by.len() > MAX_REACHED_BY {
        md.push_str(&format!("\n- … and {} more", br.reached_by.len() - MAX_REACHED_BY));
    }
    if br.reached_by.is_empty() {
        md.push_str("\n- nobody");
    }
    Some(md)
}

/// The lens title of tenant `tenant`.
pub fn tenant_title(ws: &Workspace, tenant: &str) -> Option<String> {
    let t = ws.tenants().find(|t| t.name == tenant)?;
    let mut subjects = BTreeSet::new();
    let search = khc_analysis::escalation::Search::new(ws);
    for ns in &t.namespaces {
        for a in search.who_can_one_step(&Request::new("create", "pods/exec", Some(ns), None)) {
            subjects.insert(a.subject.to_string());
        }
    }
    let n = subjects.len();
    Some(format!("{n} subject{} may exec into its pods", if n == 1 { "" } else { "s" }))
}

/// The lenses of the declarations `defs` of one file (text `text`).
pub fn code_lenses(ws: &Workspace, defs: &[Definition], text: &str) -> Vec<CodeLens> {
    let ix = LineIndex::new(text);
    defs.iter()
        .filter_map(|d| {
            let title = match d.id.kind {
                SymbolKind::Workload => workload_title(ws, d.id.tenant.as_deref()?, &d.id.name)?,
                SymbolKind::Tenant => tenant_title(ws, &d.id.name)?,
                _ => return None,
            };
            Some(CodeLens { range: ix.range(d.span), command: Some(Command { title, command: String::new(), arguments: None }), data: None })
        })
        .collect()
}
