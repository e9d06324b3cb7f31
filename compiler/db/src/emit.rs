//! Emission queries: each tenant's files are re-emitted only when that tenant's
//! checked model changes; the build joins them with the cluster's files.

use crate::checks::{cluster_check, cluster_facts, diagnostics, tenant_check};
use crate::programs::scope;
use crate::{Db, ItemId, SourceFile};
use khc_emit::{Output, OutputFile};

/// The emitted files of one tenant.
#[salsa::tracked(returns(ref))]
pub fn tenant_files<'db>(db: &'db dyn Db, t: ItemId<'db>) -> Vec<OutputFile> {
    let cluster = cluster_facts(db, *t.entry(db));
    match &tenant_check(db, t).0 {
        Some(tenant) => khc_emit::emit_tenant(&cluster.name, tenant),
        None => Vec::new(),
    }
}

/// The emitted files of the program rooted at `entry`, if it has no errors.
#[salsa::tracked(returns(ref))]
pub fn build(db: &dyn Db, entry: SourceFile) -> Option<Output> {
    let mut files: Vec<OutputFile> = build_files(db, entry)?.into_iter().cloned().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Some(Output { files })
}

/// The files of the cluster (its unit, entry point and control plane), if the
/// program has no errors. They depend on the cluster alone, not on the tenants.
#[salsa::tracked(returns(ref))]
pub fn cluster_files(db: &dyn Db, entry: SourceFile) -> Option<Vec<OutputFile>> {
    if diagnostics(db, entry).iter().any(khc_syntax::Diagnostic::is_error) {
        return None;
    }
    let (cluster, _) = cluster_check(db, entry).as_ref()?;
    Some(khc_emit::emit_cluster(&khc_semantics::model::Model { cluster: (**cluster).clone(), tenants: Vec::new() }))
}

/// The emitted files of the program rooted at `entry` (if it has no errors),
/// borrowed from the database in no particular order: what `khc build` writes,
/// without the copy [`build`] makes (or the model's) — at 1,000 tenants that is
/// tens of megabytes and a noticeable share of a cold build.
pub fn build_files(db: &dyn Db, entry: SourceFile) -> Option<Vec<&OutputFile>> {
    let mut files: Vec<&OutputFile> = cluster_files(db, entry).as_ref()?.iter().collect();
    for t in scope(db, entry).live_tenants(db, entry) {
        tenant_check(db, t).0.as_ref()?;
        files.extend(tenant_files(db, t).iter());
    }
    Some(files)
}

/// The ids of the program's tenants, for tests and tools that look at one tenant.
pub fn tenant_ids<'db>(db: &'db dyn Db, entry: SourceFile) -> Vec<ItemId<'db>> {
    scope(db, entry).live_tenants(db, entry)
}

/// The span of the statement on 1-based `line` of `key` (from its first
/// non-blank character to the end of the line), if the file is known.
fn line_span(db: &dyn Db, key: &str, line: u32) -> Option<(khc_syntax::FileKey, khc_syntax::Span)> {
    let file = *db.workspace().files(db).get(key)?;
    let text = file.text(db);
    let starts = crate::line_starts(db, file);
    let start = *starts.get(line.checked_sub(1)? as usize)? as usize;
    let end = starts.get(line as usize).map_or(text.len(), |&e| e as usize);
    let line_text = text.get(start..end)?;
    let code = line_text.trim_end();
    let indent = code.len() - code.trim_start().len();
    Some((file.key(db).clone(), khc_syntax::Span::new(start + indent, start + code.len())))
}

/// Errors for generated files that would overwrite each other
/// ([`khc_emit::collisions::find`]): the second producer is the primary label, the
/// first a secondary one. A producer whose source cannot be located is named by its
/// output path; `fallback` is the file reported when neither can be located.
pub fn collision_diagnostics(db: &dyn Db, found: &[khc_emit::collisions::Collision], fallback: &khc_syntax::FileKey) -> Vec<khc_syntax::Diagnostic> {
    let locate = |p: &khc_emit::collisions::Producer| p.source.as_ref().and_then(|(k, l)| line_span(db, k, *l));
    found
        .iter()
        .map(|c| {
            let (first, second) = (locate(&c.first), locate(&c.second));
            let same_path = c.first.path == c.second.path;
            let message = if same_path {
                format!("two generated files would be written to `{}`", c.first.path)
            } else {
                format!("two generated objects are both {}: `{}` and `{}`", c.what, c.first.path, c.second.path)
            };
            let produces = |path: &str| if same_path { "produces this file".to_string() } else { format!("produces `{path}`") };
            let (file, span, label) = match (&second, &first) {
                (Some((f, s)), _) => (f.clone(), *s, produces(&c.second.path)),
                (None, Some((f, s))) => (f.clone(), *s, produces(&c.first.path)),
                (None, None) => (fallback.clone(), khc_syntax::Span::new(0, 0), "in this program".to_string()),
            };
            let mut d = khc_syntax::Diagnostic::error("duplicate", &file, span, message).with_label(label);
            if let (Some(_), Some((f, s))) = (&second, &first) {
                d = d.with_secondary(f, *s, if same_path { "and so does this".to_string() } else { format!("produces `{}`", c.first.path) });
            }
            d.with_note("the API server and kustomize would keep only one of them; this is a bug in khc — please report it with both statements")
                .with_help("rename one of the declarations so their generated names differ")
        })
        .collect()
}
