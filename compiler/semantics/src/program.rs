//! The program driver: what the top level of each file declares ([`file_items`]),
//! and one entry point per part of a program — the cluster, the profiles, each
//! tenant, the lints — each taking only what it reads. khc-db calls these from
//! its incremental queries, so an edit inside one tenant re-checks that tenant
//! and the lints that read it, and nothing else.

use crate::admission::ProfileTable;
use crate::context::{At, Ctx, ModuleInfo, Stmt};
use crate::env::{ClusterFacts, Env, LintEnv, TenantFacts, Tenants};
use crate::model::{Cluster, Tenant};
use crate::schema::BlockKind;
use khc_syntax::{Diagnostic, FileKey, SourceTree, Span, Statement, ValueKind};
use std::sync::Arc;

/// What a top-level statement declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKind {
    /// `import "…"`.
    Import,
    /// `cluster NAME { … }`.
    Cluster,
    /// `tenant NAME { … }`.
    Tenant,
    /// `profile NAME { … }`.
    Profile,
}

/// A top-level declaration: its kind, its name (empty when it has none) and the
/// index of its statement among the file's top-level statements. Items carry no
/// positions, so editing inside a declaration leaves its file's items equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Item {
    /// What it declares.
    pub kind: ItemKind,
    /// The declared name (`payments`); empty when missing or malformed.
    pub name: String,
    /// Index among the file's top-level statements ([`statement_spans`]).
    pub index: u32,
}

/// The top-level statements semantics sees: broken ones are left out unless they
/// have a block.
fn top_statements(tree: &SourceTree) -> impl Iterator<Item = Statement> + '_ {
    tree.statements().filter(|s| !s.has_errors() || s.block().is_some())
}

/// The declarations of a file, in order.
pub fn file_items(tree: &SourceTree) -> Vec<Item> {
    top_statements(tree)
        .enumerate()
        .filter_map(|(index, s)| {
            let kind = match (s.name().quoted, s.keyword().as_str()) {
                (false, "import") => ItemKind::Import,
                (false, "cluster") => ItemKind::Cluster,
                (false, "tenant") => ItemKind::Tenant,
                (false, "profile") => ItemKind::Profile,
                _ => return None,
            };
            let args = s.flat_args();
            let name = match args.as_slice() {
                [v] => match &v.kind {
                    ValueKind::Name(n) | ValueKind::Str(n) => n.clone(),
                    _ => String::new(),
                },
                _ => String::new(),
            };
            Some(Item { kind, name, index: index as u32 })
        })
        .collect()
}

/// The spans of the top-level statements [`Item::index`] counts, so a
/// declaration can be found again without walking the file ([`statement_in`]).
pub fn statement_spans(tree: &SourceTree) -> Vec<Span> {
    top_statements(tree).map(|s| s.span()).collect()
}

/// The top-level statement with exactly this span (found by descending the tree,
/// in logarithmic time per level).
pub fn statement_in(tree: &SourceTree, span: Span) -> Option<Statement> {
    let range = rowan::TextRange::new(span.start.into(), span.end.into());
    let element = tree.syntax().covering_element(range);
    let start = match element {
        rowan::NodeOrToken::Node(n) => n,
        rowan::NodeOrToken::Token(t) => t.parent()?,
    };
    start
        .ancestors()
        .filter(|n| n.text_range() == range)
        .filter_map(Statement::cast)
        .find(|s| s.syntax().parent().is_some_and(|p| p.kind() == khc_syntax::SyntaxKind::SOURCE_FILE))
}

/// A statement in its file: what each check reads.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    /// The file's key.
    pub file: &'a FileKey,
    /// The file's line starts ([`crate::line_starts`]).
    pub line_starts: &'a [u32],
    /// The statement.
    pub statement: &'a Statement,
}

impl<'a> Source<'a> {
    fn module(&self) -> ModuleInfo<'a> {
        ModuleInfo { file: self.file, line_starts: self.line_starts }
    }
}

/// Runs `f` on a statement read for checking.
fn with_at<R>(src: Source<'_>, f: impl FnOnce(&At<'_>) -> R) -> R {
    let m = src.module();
    let stmt = Stmt::read(src.statement);
    f(&At { m: &m, s: &stmt })
}

/// Diagnostics about a file's top level: statements that are not `import`,
/// `cluster`, `tenant` or `profile`.
pub fn file_diagnostics(file: &FileKey, line_starts: &[u32], tree: &SourceTree) -> Vec<Diagnostic> {
    let m = ModuleInfo { file, line_starts };
    let mut cx = Ctx::default();
    for s in top_statements(tree) {
        let stmt = Stmt::read(&s);
        let at = At { m: &m, s: &stmt };
        if stmt.name.quoted {
            cx.error(&at, stmt.name.span, "unknown-statement", "a statement name cannot be a string");
        } else if !matches!(at.name(), "import" | "cluster" | "tenant" | "profile") {
            cx.unknown_statement(&at, BlockKind::File);
        }
    }
    cx.diags
}

/// Parses every `profile` of the program (`sources` in program order), reporting
/// errors in their bodies once.
pub fn profile_table(sources: &[Source<'_>]) -> (ProfileTable, Vec<Diagnostic>) {
    let modules: Vec<ModuleInfo<'_>> = sources.iter().map(|s| s.module()).collect();
    let stmts: Vec<Stmt> = sources.iter().map(|s| Stmt::read(s.statement)).collect();
    let ats: Vec<At<'_>> = modules.iter().zip(&stmts).map(|(m, s)| At { m, s }).collect();
    let mut cx = Ctx::default();
    let table = ProfileTable::build(&mut cx, &ats);
    (table, cx.diags)
}

/// Checks the cluster statement; `tenants` answers for the tenants its grants
/// name (`grant ROLE to tenant T workload W`), so the check depends on those only.
pub fn check_cluster(src: Source<'_>, profiles: &ProfileTable, tenants: &dyn Tenants) -> (Cluster, Vec<Diagnostic>) {
    let mut cx = Ctx::default();
    let cluster = with_at(src, |at| crate::cluster::check_cluster(&mut cx, at, profiles, tenants));
    (cluster, cx.diags)
}

/// The cluster settings tenants depend on.
pub fn cluster_facts(c: &Cluster) -> ClusterFacts {
    ClusterFacts {
        name: c.name.clone(),
        minor_version: c.minor_version,
        api_server: c.api_server.clone(),
        pod_cidr: c.pod_cidr.clone(),
        service_cidr: c.service_cidr.clone(),
        cni: c.cni,
        dns: crate::model::DnsTarget { origin: None, ..c.dns.clone() },
        all_tenants_allows: c.all_tenants_allows.clone(),
        roles: c.roles.iter().map(|r| r.name.clone()).collect(),
        quota_scale: c.quota_scale,
        admission_mode: c.admission_mode.clone(),
        managed_by: c.managed_by.clone(),
        exempt_namespaces: c.exempt_namespaces.clone(),
        oidc: crate::cluster::oidc_prefixes(c),
        external_name_restricted: c.admission.as_ref().is_some_and(|a| {
            a.rules.iter().any(|r| r.kind.id == khc_rules::RuleId::AllowedServiceTypes && !r.kind.args.names().iter().any(|x| x == "ExternalName"))
        }),
        pod_maker_roles: crate::rbac::pod_maker_roles(&c.roles),
        pod_makers: crate::rbac::pod_makers(&c.bindings, &[], &crate::rbac::pod_maker_roles(&c.roles)),
        images: c.images.clone(),
    }
}

/// The facts of a program without a cluster (defaults).
pub fn default_cluster_facts() -> ClusterFacts {
    ClusterFacts { name: "cluster".into(), minor_version: crate::cluster::MIN_MINOR, ..Default::default() }
}

/// Checks one tenant against the rest of the program.
pub fn check_tenant(src: Source<'_>, env: &dyn Env) -> (Option<Tenant>, Vec<Diagnostic>) {
    let mut cx = Ctx::default();
    let tenant = with_at(src, |at| crate::tenant::check_tenant(&mut cx, at, env));
    (tenant, cx.diags)
}

/// The position-free facts of a tenant, as other tenants see it.
pub fn tenant_facts(src: Source<'_>) -> Option<TenantFacts> {
    with_at(src, crate::tenant::tenant_facts)
}

/// Where a tenant lists namespace `ns`.
pub fn namespace_span(src: Source<'_>, ns: &str) -> Option<Span> {
    with_at(src, |at| crate::tenant::namespace_span(at, ns))
}

/// Lints of one checked tenant that read other tenants: traffic allowed on one
/// side only.
pub fn tenant_lints(t: &Tenant, env: &dyn LintEnv) -> Vec<Diagnostic> {
    let mut cx = Ctx::default();
    crate::lints::check_reachability(&mut cx, t, env);
    cx.diags
}

/// Lints of the cluster that read every tenant: token-mounting workloads that
/// cannot reach the API server, cluster grants to `"NS/NAME"` ServiceAccounts
/// khc does not write.
pub fn cluster_lints(src: Source<'_>, cluster: &Cluster, tenants: &[Arc<TenantFacts>]) -> Vec<Diagnostic> {
    let mut cx = Ctx::default();
    with_at(src, |at| {
        crate::lints::check_api_access(&mut cx, at, cluster, tenants);
        crate::lints::check_cluster_service_accounts(&mut cx, at, tenants);
    });
    crate::lints::check_all_tenants_sources(&mut cx, &cluster.all_tenants_allows, tenants);
    cx.diags
}

/// A second (third…) declaration of `what` (`tenant `payments``, `a cluster`):
/// one error per extra declaration, pointing at the first. `decls` are the
/// (file, name span, statement span) of each declaration, in program order.
pub fn duplicate_declarations(what: &str, decls: &[(FileKey, Span, Span)]) -> Vec<Diagnostic> {
    let Some((first_file, _, first_stmt)) = decls.first() else { return Vec::new() };
    decls[1..]
        .iter()
        .map(|(file, span, _)| {
            Diagnostic::error("duplicate", file, *span, format!("{what} is declared twice")).with_label("declared again here").with_secondary(
                first_file,
                *first_stmt,
                "first declared here",
            )
        })
        .collect()
}

/// The error for a program without a `cluster`.
pub fn missing_cluster(entry: &FileKey) -> Diagnostic {
    Diagnostic::error("conflict", entry, Span::new(0, 0), "no `cluster` is declared")
        .with_help("an entry file declares one cluster: `cluster prod { kubernetes 1.31 }`")
}

/// The name span of a declaration (its first value), or the keyword's.
pub fn name_span(s: &Statement) -> Span {
    s.args().first().map_or(s.name().span, |v| v.span)
}
