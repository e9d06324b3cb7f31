//! Checking queries, at the grain of one declaration: the profiles, the cluster,
//! each tenant on its own (against an [`Env`] backed by queries, so it depends
//! only on the facts it reads), the cross-tenant lints, and the program's
//! diagnostics and model.

use crate::programs::{chunk_missing, file_chunks, program, scope, ItemRef};
use crate::syntax::{file_diagnostics, file_imports, file_items, import_targets, item_spans, line_starts, parse};
use crate::{Db, FileContents, ItemId, ProgramFile, SourceFile, TenantChunk};
use khc_semantics::env::{ClusterFacts, Env, LintEnv, TenantFacts, TenantLintFacts, Tenants};
use khc_semantics::model::{Cluster, Model, Tenant};
use khc_semantics::program::{self as sp, ItemKind, Source};
use khc_semantics::ProfileTable;
use khc_syntax::{Diagnostic, FileKey, Span, Statement};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Runs `f` on the statement of a declaration.
fn with_source<R>(db: &dyn Db, file: SourceFile, index: u32, f: impl FnOnce(Source<'_>) -> R) -> Option<R> {
    let tree = parse(db, file).tree();
    let span = *item_spans(db, file).get(index as usize)?;
    let statement: Statement = sp::statement_in(&tree, span)?;
    Some(f(Source { file: file.key(db), line_starts: line_starts(db, file), statement: &statement }))
}

/// Every profile of the program, and the diagnostics of their bodies.
#[salsa::tracked(returns(ref))]
pub fn profiles(db: &dyn Db, entry: SourceFile) -> (Arc<ProfileTable>, Vec<Diagnostic>) {
    let refs = &scope(db, entry).profiles;
    let trees: Vec<_> = refs.iter().map(|r| (r.file, parse(db, r.file).tree())).collect();
    let statements: Vec<(SourceFile, Statement)> =
        refs.iter().zip(&trees).filter_map(|(r, (f, t))| Some((*f, sp::statement_in(t, *item_spans(db, *f).get(r.index as usize)?)?))).collect();
    let sources: Vec<Source<'_>> = statements.iter().map(|(f, s)| Source { file: f.key(db), line_starts: line_starts(db, *f), statement: s }).collect();
    let (table, diags) = sp::profile_table(&sources);
    (Arc::new(table), diags)
}

/// The checked cluster (the first `cluster` of the program) and its diagnostics.
#[salsa::tracked(returns(ref))]
pub fn cluster_check(db: &dyn Db, entry: SourceFile) -> Option<(Arc<Cluster>, Vec<Diagnostic>)> {
    let r = *scope(db, entry).clusters.first()?;
    let table = profiles(db, entry).0.clone();
    let tenants = QueryEnv { db, entry };
    with_source(db, r.file, r.index, |src| {
        let (c, d) = sp::check_cluster(src, &table, &tenants);
        (Arc::new(c), d)
    })
}

/// The cluster settings tenants read (defaults without a cluster).
#[salsa::tracked]
pub fn cluster_facts(db: &dyn Db, entry: SourceFile) -> Arc<ClusterFacts> {
    Arc::new(match cluster_check(db, entry) {
        Some((c, _)) => sp::cluster_facts(c),
        None => sp::default_cluster_facts(),
    })
}

/// The position-free facts of a tenant, as other tenants see it. (A batch build
/// drops them once every tenant is checked: [`crate::KhcDatabase::bound_memos`].)
#[salsa::tracked(lru = 0)]
pub fn tenant_facts<'db>(db: &'db dyn Db, t: ItemId<'db>) -> Option<Arc<TenantFacts>> {
    with_source(db, *t.file(db), *t.index(db), sp::tenant_facts).flatten().map(Arc::new)
}

/// The live tenants of the program rooted at `entry`, in chunks.
#[salsa::tracked(returns(ref))]
pub fn tenant_chunks<'db>(db: &'db dyn Db, entry: SourceFile) -> Vec<TenantChunk<'db>> {
    let tenants = scope(db, entry).live_tenants(db, entry);
    tenants.chunks(crate::programs::CHUNK).map(|c| TenantChunk::new(db, c.to_vec())).collect()
}

/// The facts of a chunk's tenants (those that could be read), in order. (A
/// batch build drops them with the tenants' facts.)
#[salsa::tracked(returns(ref), lru = 0)]
pub fn chunk_facts<'db>(db: &'db dyn Db, chunk: TenantChunk<'db>) -> Vec<Arc<TenantFacts>> {
    chunk.tenants(db).iter().filter_map(|&t| tenant_facts(db, t).clone()).collect()
}

/// The (namespace, tenant) pairs of a chunk's tenants: equal after an edit
/// that changes a tenant's workloads but not its namespaces.
#[salsa::tracked(returns(ref))]
pub fn chunk_namespaces<'db>(db: &'db dyn Db, chunk: TenantChunk<'db>) -> Vec<(String, String)> {
    chunk_facts(db, chunk).iter().flat_map(|f| f.namespaces.iter().map(|ns| (ns.clone(), f.name.clone()))).collect()
}

/// Namespace → the tenants that list it (sorted by tenant name).
#[salsa::tracked(returns(ref))]
pub fn namespace_owners(db: &dyn Db, entry: SourceFile) -> BTreeMap<String, Vec<String>> {
    let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for &chunk in tenant_chunks(db, entry) {
        for (ns, tenant) in chunk_namespaces(db, chunk) {
            owners.entry(ns.clone()).or_default().push(tenant.clone());
        }
    }
    for v in owners.values_mut() {
        v.sort();
        v.dedup();
    }
    owners
}

/// Every tenant name of the program, indexed once for "did you mean" (not once
/// per unknown reference).
#[salsa::tracked(returns(ref))]
pub fn tenant_name_index(db: &dyn Db, entry: SourceFile) -> khc_semantics::values::NameIndex {
    khc_semantics::values::NameIndex::new(scope(db, entry).tenants.keys().map(String::as_str))
}

/// The rest of the program as one tenant's check sees it, backed by queries.
struct QueryEnv<'db> {
    db: &'db dyn Db,
    entry: SourceFile,
}

impl Env for QueryEnv<'_> {
    fn cluster(&self) -> Arc<ClusterFacts> {
        cluster_facts(self.db, self.entry).clone()
    }

    fn profiles(&self) -> Arc<ProfileTable> {
        profiles(self.db, self.entry).0.clone()
    }

    fn tenant(&self, name: &str) -> Option<Arc<TenantFacts>> {
        tenant_facts(self.db, scope(self.db, self.entry).tenant(self.db, self.entry, name)?).clone()
    }

    fn suggest_tenant(&self, name: &str) -> Option<String> {
        tenant_name_index(self.db, self.entry).suggest(name).map(str::to_string)
    }

    fn tenant_names(&self) -> Vec<String> {
        scope(self.db, self.entry).tenants.keys().cloned().collect()
    }

    fn namespace_owners(&self, ns: &str) -> Vec<String> {
        namespace_owners(self.db, self.entry).get(ns).cloned().unwrap_or_default()
    }

    fn namespace_declaration(&self, tenant: &str, ns: &str) -> Option<(FileKey, Span)> {
        let t = scope(self.db, self.entry).tenant(self.db, self.entry, tenant)?;
        let file = *t.file(self.db);
        let span = with_source(self.db, file, *t.index(self.db), |src| sp::namespace_span(src, ns)).flatten()?;
        Some((file.key(self.db).clone(), span))
    }

    fn aux_file(&self, key: &str) -> khc_semantics::env::AuxFile {
        aux_file(self.db, key)
    }
}

/// A file an `images` block names (a public key), as the workspace holds it:
/// [`crate::KhcDatabase::load_program`] reads the ones the program names.
fn aux_file(db: &dyn Db, key: &str) -> khc_semantics::env::AuxFile {
    use khc_semantics::env::AuxFile;
    match db.workspace().files(db).get(key) {
        Some(f) => match f.contents(db) {
            FileContents::Text(t) => AuxFile::Text(t.clone()),
            FileContents::Missing(why) => AuxFile::Missing(why.clone()),
        },
        None => AuxFile::NotLoaded,
    }
}

/// The cluster's check reads the tenants its grants name through this view
/// only (never [`Env::cluster`], which depends on the cluster's check).
impl Tenants for QueryEnv<'_> {
    fn tenant_facts(&self, name: &str) -> Option<Arc<TenantFacts>> {
        tenant_facts(self.db, scope(self.db, self.entry).tenant(self.db, self.entry, name)?).clone()
    }

    fn closest_tenant(&self, name: &str) -> Option<String> {
        tenant_name_index(self.db, self.entry).suggest(name).map(str::to_string)
    }

    fn aux_file(&self, key: &str) -> khc_semantics::env::AuxFile {
        aux_file(self.db, key)
    }
}

impl LintEnv for QueryEnv<'_> {
    fn lint_facts(&self, name: &str) -> Option<Arc<TenantLintFacts>> {
        tenant_lint_facts(self.db, scope(self.db, self.entry).tenant(self.db, self.entry, name)?).clone()
    }
}

/// What the cross-tenant lints read of a checked tenant: equal across edits of
/// its quota, roles or admission, so other tenants' lints are not re-run.
#[salsa::tracked(lru = 0)]
pub fn tenant_lint_facts<'db>(db: &'db dyn Db, t: ItemId<'db>) -> Option<Arc<TenantLintFacts>> {
    tenant_check(db, t).0.clone().map(|t| Arc::new(TenantLintFacts::of(t)))
}

/// One tenant checked on its own: its model (when it could be read) and its
/// diagnostics. Kept for as long as the database lives, unless a batch build
/// bounds it ([`crate::KhcDatabase::bound_memos`]): it is then dropped once the
/// tenant's files are emitted ([`crate::emit_releasing`]).
#[salsa::tracked(returns(ref), lru = 0)]
pub fn tenant_check<'db>(db: &'db dyn Db, t: ItemId<'db>) -> (Option<Arc<Tenant>>, Vec<Diagnostic>) {
    let env = QueryEnv { db, entry: *t.entry(db) };
    match with_source(db, *t.file(db), *t.index(db), |src| sp::check_tenant(src, &env)) {
        Some((tenant, diags)) => (tenant.map(Arc::new), diags),
        None => (None, Vec::new()),
    }
}

/// Keeps at most `n` of the tenants' facts past [`crate::KhcDatabase::release_memos`] (0: all).
pub(crate) fn keep_tenant_facts(db: &mut dyn Db, n: usize) {
    tenant_facts::set_lru_capacity(db, n);
    tenant_lint_facts::set_lru_capacity(db, n);
    chunk_facts::set_lru_capacity(db, n);
}

/// Keeps at most `n` checked tenants, the most recently used, past
/// [`crate::KhcDatabase::release_memos`] (0: all).
pub(crate) fn keep_checked_tenants(db: &mut dyn Db, n: usize) {
    tenant_check::set_lru_capacity(db, n);
}

/// The lints of one tenant that read other tenants (traffic allowed on one
/// side only): re-run when this tenant or a tenant it names changes. Warnings
/// only ([`has_errors`] relies on it).
#[salsa::tracked(returns(ref))]
pub fn tenant_lints<'db>(db: &'db dyn Db, t: ItemId<'db>) -> Vec<Diagnostic> {
    let env = QueryEnv { db, entry: *t.entry(db) };
    let lints = match &tenant_check(db, t).0 {
        Some(tenant) => sp::tenant_lints(tenant, &env),
        None => Vec::new(),
    };
    // [`has_errors`] skips these: they may only warn.
    debug_assert!(!lints.iter().any(Diagnostic::is_error), "a cross-tenant lint is an error: {:?}", lints.iter().find(|d| d.is_error()));
    lints
}

/// The cluster's lints over every tenant (token-mounting workloads without a
/// declared API server).
#[salsa::tracked(returns(ref))]
pub fn cluster_lints(db: &dyn Db, entry: SourceFile) -> Vec<Diagnostic> {
    let Some((cluster, _)) = cluster_check(db, entry) else { return Vec::new() };
    let Some(r) = scope(db, entry).clusters.first().copied() else { return Vec::new() };
    let tenants: Vec<Arc<TenantFacts>> = tenant_chunks(db, entry).iter().flat_map(|&c| chunk_facts(db, c).iter().cloned()).collect();
    with_source(db, r.file, r.index, |src| sp::cluster_lints(src, cluster, &tenants)).unwrap_or_default()
}

/// The program's cluster name and where it is declared (file, span of `cluster NAME`).
pub fn cluster_declaration(db: &dyn Db, entry: SourceFile) -> Option<(String, FileKey, Span)> {
    let r = *scope(db, entry).clusters.first()?;
    let name = cluster_facts(db, entry).name.clone();
    with_source(db, r.file, r.index, |src| (name, src.file.clone(), src.statement.name().span.to(sp::name_span(src.statement))))
}

/// Program checks across entry files: each entry file of one directory compiles
/// into `clusters/NAME`, so two of them may not declare the same cluster. Every
/// front end (`khc check`/`build`, `khc lsp`) runs it over the entries of one
/// directory.
pub fn duplicate_clusters(db: &dyn Db, entries: &[SourceFile]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut names: Vec<(String, String)> = Vec::new();
    for &entry in entries {
        let Some((name, file, span)) = cluster_declaration(db, entry) else { continue };
        if let Some((_, first)) = names.iter().find(|(n, _)| *n == name) {
            out.push(
                Diagnostic::error("duplicate", &file, span, format!("cluster `{name}` is declared by both {first} and {file}"))
                    .with_help("each entry file compiles into clusters/NAME: give each cluster its own name"),
            );
        } else {
            names.push((name, file.to_string()));
        }
    }
    out
}

/// Diagnostics about the program's declarations: a missing or second cluster,
/// tenants declared twice.
#[salsa::tracked(returns(ref))]
pub fn scope_diagnostics(db: &dyn Db, entry: SourceFile) -> Vec<Diagnostic> {
    let scope = scope(db, entry);
    let mut out = Vec::new();
    let decl = |r: &ItemRef, keyword_only: bool| -> Option<(FileKey, Span, Span)> {
        with_source(db, r.file, r.index, |src| {
            let s = src.statement;
            let name_span = if keyword_only { s.name().span } else { sp::name_span(s) };
            let first_span = if keyword_only { s.name().span } else { s.span() };
            (src.file.clone(), name_span, first_span)
        })
    };
    if scope.clusters.is_empty() {
        out.push(sp::missing_cluster(entry.key(db)));
    } else {
        let decls: Vec<_> = scope.clusters.iter().filter_map(|r| decl(r, true)).collect();
        out.extend(sp::duplicate_declarations("a cluster", &decls));
    }
    for (name, refs) in scope.tenants.iter().filter(|(_, v)| v.len() > 1) {
        let decls: Vec<_> = refs.iter().filter_map(|r| decl(r, false)).collect();
        out.extend(sp::duplicate_declarations(&format!("tenant `{name}`"), &decls));
    }
    out
}

/// Syntax, import and file-reading diagnostics of one file.
fn file_level(db: &dyn Db, f: SourceFile) -> Vec<Diagnostic> {
    let known = db.workspace().files(db);
    let mut out = parse(db, f).errors.clone();
    let (refs, import_diags) = file_imports(db, f);
    out.extend(import_diags.iter().cloned());
    // Whether each imported file exists, read through chunks (the entry may
    // import thousands of files; their text does not matter here).
    let targets: Vec<SourceFile> = refs.iter().filter_map(|r| known.get(&r.target).copied()).collect();
    let mut missing: HashMap<SourceFile, &String> = HashMap::new();
    for chunk in file_chunks(db, &targets) {
        missing.extend(chunk.files(db).iter().zip(chunk_missing(db, chunk)).filter_map(|(f, why)| Some((*f, why.as_ref()?))));
    }
    for r in refs {
        let why = match known.get(&r.target) {
            Some(t) => match missing.get(t) {
                Some(why) => (*why).clone(),
                None => continue,
            },
            None => "not loaded".to_string(),
        };
        out.push(Diagnostic::error("import", f.key(db), r.span, format!("cannot read `{}`", r.target)).with_note(why));
    }
    out.extend(file_diagnostics(db, f).iter().cloned());
    out
}

/// Syntax, import and file-reading diagnostics of every file of the program.
#[salsa::tracked(returns(ref))]
pub fn file_level_diagnostics(db: &dyn Db, entry: SourceFile) -> Vec<Diagnostic> {
    program(db, entry).files.iter().flat_map(|&f| file_level(db, f)).collect()
}

/// The tenants of `file` that count in the program rooted at `entry` (the first
/// declaration of each name, and unnamed ones).
pub fn live_tenants_in<'db>(db: &'db dyn Db, entry: SourceFile, file: SourceFile) -> Vec<ItemId<'db>> {
    let scope = scope(db, entry);
    file_items(db, file)
        .iter()
        .filter(|item| item.kind == ItemKind::Tenant)
        .filter(|item| item.name.is_empty() || scope.tenants.get(&item.name).and_then(|v| v.first()) == Some(&ItemRef { file, index: item.index }))
        .map(|item| ItemId::new(db, entry, file, item.index))
        .collect()
}

/// The diagnostics that checking the declarations of one file of the program
/// rooted at `entry` produces (the file's syntax and imports, its tenants'
/// checks and lints, and the cluster's when it declares the program's cluster).
/// They are almost always in `file` itself; [`diagnostics`] and the language
/// server sort them by the file they point at. An edit of one file re-runs its
/// own unit, and another file's only when what it reads changed
/// ([`file_exports`]).
#[salsa::tracked]
pub fn unit_diagnostics<'db>(db: &'db dyn Db, pf: ProgramFile<'db>) -> Arc<Vec<Diagnostic>> {
    let (entry, file) = (*pf.entry(db), *pf.file(db));
    let mut out = file_level(db, file);
    if scope(db, entry).clusters.first().is_some_and(|r| r.file == file) {
        if let Some((_, d)) = cluster_check(db, entry) {
            out.extend(d.iter().cloned());
        }
        out.extend(cluster_lints(db, entry).iter().cloned());
    }
    for t in live_tenants_in(db, entry, file) {
        out.extend(tenant_check(db, t).1.iter().cloned());
        out.extend(tenant_lints(db, t).iter().cloned());
    }
    Arc::new(out)
}

/// The diagnostics of the program as a whole: a missing or second cluster,
/// tenants declared twice, and the profiles' bodies.
#[salsa::tracked]
pub fn program_diagnostics(db: &dyn Db, entry: SourceFile) -> Arc<Vec<Diagnostic>> {
    let mut out = scope_diagnostics(db, entry).clone();
    out.extend(profiles(db, entry).1.iter().cloned());
    Arc::new(out)
}

/// Everything the checks of *other* files can read of one file: its
/// declarations and imports, whether it exists, the facts and lint facts of its
/// tenants, where its tenants list a namespace that another tenant lists too,
/// and the cluster settings or profiles it declares. When an edit leaves this
/// equal, no other file's [`unit_diagnostics`] can change, and the language
/// server re-checks the edited file only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileExports {
    items: Vec<sp::Item>,
    imports: Vec<FileKey>,
    missing: Option<String>,
    tenants: Vec<TenantExports>,
    cluster: Option<Arc<ClusterFacts>>,
    profiles: Option<Arc<ProfileTable>>,
}

impl FileExports {
    /// When `self` differs from `old` only in what other files can read of this
    /// file's tenants by naming them (their facts and lint facts, with the same
    /// names, namespaces and shared-namespace locations), the names of the
    /// tenants that changed; `None` when anything else changed (declarations,
    /// imports, namespaces, the cluster or the profiles), which any file may read.
    pub fn tenants_changed_by_name(&self, old: &FileExports) -> Option<Vec<String>> {
        if self.items != old.items
            || self.imports != old.imports
            || self.missing != old.missing
            || self.cluster != old.cluster
            || self.profiles != old.profiles
            || self.tenants.len() != old.tenants.len()
        {
            return None;
        }
        let mut names = Vec::new();
        for (new, old) in self.tenants.iter().zip(&old.tenants) {
            if new == old {
                continue;
            }
            let (Some(nf), Some(of)) = (&new.facts, &old.facts) else { return None };
            if new.shared_namespaces != old.shared_namespaces || nf.name != of.name || nf.namespaces != of.namespaces {
                return None;
            }
            names.push(nf.name.clone());
        }
        Some(names)
    }
}

/// What other files read of one tenant: its facts, its lint facts, and where it
/// lists each namespace that another tenant lists too (a conflict's related
/// location).
#[derive(Clone, Debug, PartialEq, Eq)]
struct TenantExports {
    facts: Option<Arc<TenantFacts>>,
    lint_facts: Option<Arc<TenantLintFacts>>,
    shared_namespaces: Vec<(String, Option<Span>)>,
}

/// What other files of the program rooted at `entry` read of `file`
/// ([`FileExports`]).
#[salsa::tracked]
pub fn file_exports<'db>(db: &'db dyn Db, pf: ProgramFile<'db>) -> Arc<FileExports> {
    let (entry, file) = (*pf.entry(db), *pf.file(db));
    let items = file_items(db, file).clone();
    let owners = namespace_owners(db, entry);
    let tenants = live_tenants_in(db, entry, file)
        .into_iter()
        .map(|t| {
            let facts = tenant_facts(db, t);
            let shared: Vec<(String, Option<Span>)> = facts
                .iter()
                .flat_map(|f| f.namespaces.iter())
                .filter(|ns| owners.get(*ns).is_some_and(|o| o.len() > 1))
                .map(|ns| (ns.clone(), with_source(db, file, *t.index(db), |src| sp::namespace_span(src, ns)).flatten()))
                .collect();
            TenantExports { facts: facts.clone(), lint_facts: tenant_lint_facts(db, t).clone(), shared_namespaces: shared }
        })
        .collect();
    let scope = scope(db, entry);
    let cluster = scope.clusters.first().is_some_and(|r| r.file == file).then(|| cluster_facts(db, entry).clone());
    let profiles = scope.profiles.iter().any(|r| r.file == file).then(|| profiles(db, entry).0.clone());
    let missing = match file.contents(db) {
        FileContents::Missing(why) => Some(why.clone()),
        FileContents::Text(_) => None,
    };
    Arc::new(FileExports { items, imports: import_targets(db, file).clone(), missing, tenants, cluster, profiles })
}

/// Every diagnostic of the program rooted at `entry`, sorted by file and position.
/// (The same as [`program_diagnostics`] and every file's [`unit_diagnostics`],
/// which the language server reads; gathered here without a memo per file, so a
/// cold `khc check` pays for no more than it needs.)
#[salsa::tracked(returns(ref))]
pub fn diagnostics(db: &dyn Db, entry: SourceFile) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    each_part(db, entry, true, |d| {
        out.extend_from_slice(d);
        true
    });
    crate::sort_diagnostics(&mut out);
    crate::cap_per_file(out, crate::MAX_DIAGNOSTICS_PER_FILE)
}

/// Whether the program rooted at `entry` has an error: whether [`diagnostics`]
/// holds one, found without running the lints that read other tenants
/// ([`tenant_lints`] only warns). The query commands, which print no warning,
/// ask this instead of gathering every diagnostic (the lints are about a fifth
/// of checking a fleet).
pub fn has_errors(db: &dyn Db, entry: SourceFile) -> bool {
    !each_part(db, entry, false, |d| !d.iter().any(Diagnostic::is_error))
}

/// Hands the diagnostics of each part of the program rooted at `entry` to
/// `visit`, in order (files, declarations, profiles, the cluster and its
/// lints, each tenant and, with `tenant_lints`, its cross-tenant lints), while
/// it returns true; whether every part was visited. The one list of parts
/// [`diagnostics`] and [`has_errors`] read.
fn each_part(db: &dyn Db, entry: SourceFile, with_tenant_lints: bool, mut visit: impl FnMut(&[Diagnostic]) -> bool) -> bool {
    let cluster: &[Diagnostic] = cluster_check(db, entry).as_ref().map_or(&[], |(_, d)| d);
    let parts = [file_level_diagnostics(db, entry).as_slice(), scope_diagnostics(db, entry), &profiles(db, entry).1, cluster, cluster_lints(db, entry)];
    if !parts.into_iter().all(&mut visit) {
        return false;
    }
    scope(db, entry).live_tenants(db, entry).into_iter().all(|t| visit(&tenant_check(db, t).1) && (!with_tenant_lints || visit(tenant_lints(db, t))))
}

/// The result of checking a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The model, when there are no errors.
    pub model: Option<Model>,
    /// Every diagnostic of the program, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

/// The checked model of the program rooted at `entry`, when it has no errors:
/// the cluster and the tenants sorted by name.
#[salsa::tracked(returns(ref))]
pub fn model(db: &dyn Db, entry: SourceFile) -> Option<Model> {
    model_copy(db, entry)
}

/// [`model`] without its memo: the caller owns the one copy of every checked
/// tenant (the query commands, which keep the model and drop the database).
pub fn model_copy(db: &dyn Db, entry: SourceFile) -> Option<Model> {
    if diagnostics(db, entry).iter().any(Diagnostic::is_error) {
        return None;
    }
    let (cluster, _) = cluster_check(db, entry).as_ref()?;
    let mut tenants = Vec::new();
    for t in scope(db, entry).live_tenants(db, entry) {
        tenants.push(tenant_check(db, t).0.as_deref()?.clone());
    }
    tenants.sort_by(|a, b| a.name.cmp(&b.name));
    Some(Model { cluster: (**cluster).clone(), tenants })
}

/// The checked cluster and tenants (sorted by name) of the program rooted at
/// `entry` as the database memoizes them, shared rather than copied (what
/// [`model_copy`] copies), or `None` when it has errors. `khc diff` holds both
/// versions in one database: a tenant salsa did not re-check is the same `Arc`
/// in both.
pub fn model_parts(db: &dyn Db, entry: SourceFile) -> Option<(Arc<Cluster>, Vec<Arc<Tenant>>)> {
    let errors = has_errors(db, entry);
    // The oracle, in debug builds (every test that loads a question's model):
    // the same answer as gathering every diagnostic.
    debug_assert_eq!(errors, diagnostics(db, entry).iter().any(Diagnostic::is_error), "has_errors disagrees with diagnostics");
    if errors {
        return None;
    }
    let (cluster, _) = cluster_check(db, entry).as_ref()?;
    let mut tenants = Vec::new();
    for t in scope(db, entry).live_tenants(db, entry) {
        tenants.push(tenant_check(db, t).0.clone()?);
    }
    tenants.sort_by(|a, b| a.name.cmp(&b.name));
    Some((cluster.clone(), tenants))
}

/// Checks the program rooted at `entry`: its diagnostics and, without errors,
/// its model.
#[salsa::tracked(returns(ref))]
pub fn check(db: &dyn Db, entry: SourceFile) -> Checked {
    Checked { model: model(db, entry).clone(), diagnostics: diagnostics(db, entry).clone() }
}
