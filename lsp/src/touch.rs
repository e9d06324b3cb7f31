//! "Who may touch it here": the subjects that may `get`, `create`, `update` or
//! `delete` a resource in a tenant's namespaces, appended to the hover on a
//! resource name in that tenant's file. The answers are `khc who-can VERB
//! RESOURCE -n NS`'s direct grants, one-step escalations and grants on named
//! objects only, from the tenant's cached evaluators
//! ([`khc_analysis::Workspace::of_tenant`], shared with its manifests: the
//! cluster's files and the tenant's, since another tenant's objects never grant
//! in its namespaces);
//! the multi-step search `who-can` adds per namespace is left to the command.

use khc_analysis::rbac::Request;
use khc_analysis::Workspace;
use std::collections::BTreeMap;

/// The verbs the hover asks about, in order.
pub const VERBS: [&str; 4] = ["get", "create", "update", "delete"];

/// The most subjects listed per verb before "… and N more".
pub const MAX_LISTED: usize = 12;

/// How a subject may do a request: by a grant of its own, only by borrowing a
/// ServiceAccount's (one-step escalation), or only on named objects (rules with
/// `resourceNames`, `khc who-can`'s "only for named objects").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum How {
    /// A grant of its own.
    Granted,
    /// Only by a one-step escalation.
    Escalation,
    /// Only on the objects its rules name.
    NamedOnly,
}

/// The subjects (as `khc who-can` prints them: `user:NAME`, `group:NAME`,
/// `sa:NS/NAME`) that may do `verb` on `resource` in some namespace of tenant
/// `tenant`, each with the strongest [`How`] across the namespaces; sorted.
/// `None` when the tenant is unknown.
pub fn subjects(ws: &Workspace, tenant: &str, verb: &str, resource: &str) -> Option<BTreeMap<String, How>> {
    let t = ws.tenants().find(|t| t.name == tenant)?;
    let mut out: BTreeMap<String, How> = BTreeMap::new();
    let mut note = |subject: String, how: How| {
        let e = out.entry(subject).or_insert(how);
        *e = (*e).min(how);
    };
    // As `khc who-can` answers: one-step escalations khc's admission refuses left out.
    let search = khc_analysis::escalation::Search::new(ws);
    for ns in &t.namespaces {
        let req = Request::new(verb, resource, Some(ns), None);
        for a in search.who_can_one_step(&req) {
            note(a.subject.to_string(), if a.grants.is_empty() { How::Escalation } else { How::Granted });
        }
        for a in ws.rbac.who_can_for_names(&req) {
            note(a.subject.to_string(), How::NamedOnly);
        }
    }
    Some(out)
}

/// The hover section for `resource` in tenant `tenant`: one line per verb of
/// [`VERBS`] with its subjects, escalation-only and named-only ones marked.
pub fn who_may_touch(ws: &Workspace, tenant: &str, resource: &str) -> Option<String> {
    let namespaces = ws.tenants().find(|t| t.name == tenant)?.namespaces.join(", ");
    let mut md = format!("**Who may touch it here** (namespaces {namespaces}; as `khc who-can VERB {resource} -n NS` answers):\n");
    for verb in VERBS {
        let subjects = subjects(ws, tenant, verb, resource)?;
        let mut listed: Vec<String> = subjects
            .iter()
            .take(MAX_LISTED)
            .map(|(s, how)| match how {
                How::Granted => format!("`{s}`"),
                How::Escalation => format!("`{s}` (escalation)"),
                How::NamedOnly => format!("`{s}` (named objects only)"),
            })
            .collect();
        if subjects.len() > MAX_LISTED {
            listed.push(format!("… and {} more", subjects.len() - MAX_LISTED));
        }
        if listed.is_empty() {
            listed.push("nobody".into());
        }
        md.push_str(&format!("\n- `{verb}`: {}", listed.join(", ")));
    }
    Some(md)
}
