//! Emission queries: each tenant's files are re-emitted only when that tenant's
//! checked model changes; the build joins them with the cluster's files.

use crate::checks::{cluster_check, cluster_facts, diagnostics, tenant_check};
use crate::programs::{scope, ItemRef};
use crate::{Db, ItemId, KhcDatabase, SourceFile};
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
    cluster_emitted(db, entry).clone()
}

/// The files of the checked cluster, whether or not the program has errors
/// (`None` without a cluster): [`cluster_files`] without reading the program's
/// diagnostics, for a caller that knows them already (`khc build --watch`,
/// whose diagnostics are kept up to date per file: reading [`diagnostics`]
/// would verify every tenant's memos).
#[salsa::tracked(returns(ref))]
pub fn cluster_emitted(db: &dyn Db, entry: SourceFile) -> Option<Vec<OutputFile>> {
    let (cluster, _) = cluster_check(db, entry).as_ref()?;
    Some(khc_emit::emit_cluster(&khc_semantics::model::Model { cluster: (**cluster).clone(), tenants: Vec::new() }))
}

/// [`files_fingerprint`] of [`cluster_emitted`] (`0` when there are none).
#[salsa::tracked]
pub fn cluster_emitted_fingerprint(db: &dyn Db, entry: SourceFile) -> u64 {
    cluster_emitted(db, entry).as_ref().map_or(0, |f| files_fingerprint(f))
}

/// The emitted files of the program rooted at `entry` (if it has no errors),
/// borrowed from the database in no particular order: what `khc build` writes,
/// without the copy [`build`] makes (or the model's) — at 1,000 tenants that is
/// tens of megabytes and a noticeable share of a cold build.
pub fn build_files(db: &dyn Db, entry: SourceFile) -> Option<Vec<&OutputFile>> {
    let mut files: Vec<&OutputFile> = cluster_files(db, entry).as_ref()?.iter().collect();
    for t in scope(db, entry).live_tenants(db, entry) {
        if !*tenant_checks(db, t) {
            return None;
        }
        files.extend(tenant_files(db, t).iter());
    }
    Some(files)
}

/// A hash of a list of emitted files (paths and contents): equal lists hash
/// equal; different ones differ but for a 2^-64 chance.
pub fn files_fingerprint(files: &[OutputFile]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    files.hash(&mut h);
    h.finish()
}

/// [`files_fingerprint`] of tenant `t`'s files. Salsa re-runs it only when
/// [`tenant_files`] produced a different value (an equal re-emission is
/// backdated), so after a one-tenant edit `khc build --watch` hashes that
/// tenant's files and reads the others' fingerprints from their memos.
#[salsa::tracked]
pub fn tenant_files_fingerprint<'db>(db: &'db dyn Db, t: ItemId<'db>) -> u64 {
    files_fingerprint(tenant_files(db, t))
}

/// [`files_fingerprint`] of the cluster's files (`0` when there are none).
#[salsa::tracked]
pub fn cluster_files_fingerprint(db: &dyn Db, entry: SourceFile) -> u64 {
    cluster_files(db, entry).as_ref().map_or(0, |f| files_fingerprint(f))
}

/// [`build_files`] grouped by the memo that holds them — the cluster's files
/// first, then each tenant's — with each group's fingerprint
/// ([`cluster_files_fingerprint`], [`tenant_files_fingerprint`]): what
/// `khc build --watch` needs to find the files that changed without reading the
/// others.
pub fn build_groups(db: &dyn Db, entry: SourceFile) -> Option<Vec<(u64, &[OutputFile])>> {
    let mut groups: Vec<(u64, &[OutputFile])> = vec![(*cluster_files_fingerprint(db, entry), cluster_files(db, entry).as_ref()?.as_slice())];
    for t in scope(db, entry).live_tenants(db, entry) {
        if !*tenant_checks(db, t) {
            return None;
        }
        groups.push((*tenant_files_fingerprint(db, t), tenant_files(db, t).as_slice()));
    }
    Some(groups)
}

/// Whether tenant `t` could be read into a model (what [`build_files`] needs to
/// know of it, kept when its checked model is dropped).
#[salsa::tracked]
pub fn tenant_checks<'db>(db: &'db dyn Db, t: ItemId<'db>) -> bool {
    tenant_check(db, t).0.is_some()
}

/// Emits the files of the programs rooted at `entries` (what [`build_files`] then
/// borrows). In a database whose memos are bounded ([`KhcDatabase::bound_memos`]),
/// it first drops the syntax trees and the tenants' facts, then emits the tenants
/// in chunks and drops each chunk's checked models once its files exist: a cold
/// build then holds its output and little else. The diagnostics must have been
/// computed (they read every tree and fact); nothing is emitted for an entry with
/// errors, and nothing is dropped that emission reads again.
pub fn emit_releasing(db: &mut KhcDatabase, entries: &[SourceFile]) {
    db.release_memos();
    let mut todo: Vec<(SourceFile, ItemRef)> = Vec::new();
    for &entry in entries {
        if cluster_files(db, entry).is_some() {
            todo.extend(scope(db, entry).live_tenant_refs().map(|r| (entry, r)));
        }
    }
    if !db.bounded {
        for &(entry, r) in &todo {
            let t = ItemId::new(db, entry, r.file, r.index);
            if *tenant_checks(db, t) {
                tenant_files(db, t);
            }
        }
        return;
    }
    // Checked models are kept least-recently-used first: after each chunk, those
    // still to emit are used again, so that keeping as many as remain drops the
    // emitted ones (a chunk of N/16 bounds those uses to 16 N).
    let every = (todo.len() / 16).max(64);
    let mut done = 0;
    while done < todo.len() {
        let end = (done + every).min(todo.len());
        for &(entry, r) in &todo[done..end] {
            let t = ItemId::new(db, entry, r.file, r.index);
            if *tenant_checks(db, t) {
                tenant_files(db, t);
            }
        }
        done = end;
        for &(entry, r) in &todo[done..] {
            let _ = tenant_check(db, ItemId::new(db, entry, r.file, r.index));
        }
        crate::checks::keep_checked_tenants(db, (todo.len() - done).max(1));
        db.release_memos();
    }
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
