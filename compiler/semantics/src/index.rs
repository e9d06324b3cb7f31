//! Name resolution apart from validation: every definition (cluster, tenant,
//! profile, workload, namespace, role, cluster role) and every reference to one,
//! with byte spans. [`index_file`] reads one file syntactically (broken statements
//! included, so the IDE sees what is being typed); [`ProgramIndex`] joins a
//! program's files and answers "what is at offset N", "where is X defined" and
//! "all references of X".

use crate::context::word;
use khc_syntax::{FileKey, SourceTree, Span, Statement, Value};
use std::collections::HashMap;

/// What a name denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SymbolKind {
    /// `cluster NAME`.
    Cluster,
    /// `tenant NAME`.
    Tenant,
    /// `profile NAME`.
    Profile,
    /// `workload NAME` (scoped to its tenant).
    Workload,
    /// A namespace listed by a tenant (scoped to its tenant).
    Namespace,
    /// `role NAME` in a tenant (scoped to its tenant).
    Role,
    /// `role NAME` in the cluster.
    ClusterRole,
}

impl SymbolKind {
    /// How messages and hovers name the kind.
    pub fn describe(self) -> &'static str {
        match self {
            SymbolKind::Cluster => "cluster",
            SymbolKind::Tenant => "tenant",
            SymbolKind::Profile => "profile",
            SymbolKind::Workload => "workload",
            SymbolKind::Namespace => "namespace",
            SymbolKind::Role => "role",
            SymbolKind::ClusterRole => "cluster role",
        }
    }
}

/// The identity of a definition: kind, name and the tenant it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SymbolId {
    /// What it is.
    pub kind: SymbolKind,
    /// Its name.
    pub name: String,
    /// The owning tenant, for workloads, namespaces and tenant roles.
    pub tenant: Option<String>,
}

/// A definition.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Definition {
    /// What is defined.
    pub id: SymbolId,
    /// The file it is in.
    pub file: FileKey,
    /// The span of the name.
    pub span: Span,
    /// The span of the whole defining statement.
    pub full_span: Span,
}

/// A reference to a definition.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// What it refers to. For a `grant` role, [`SymbolKind::Role`] (which also
    /// resolves to a cluster role of that name).
    pub target: SymbolId,
    /// The file it is in.
    pub file: FileKey,
    /// The span of the name.
    pub span: Span,
}

/// The definitions and references of one file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FileIndex {
    /// Definitions in source order.
    pub definitions: Vec<Definition>,
    /// References in source order.
    pub references: Vec<Reference>,
}

struct Indexer<'a> {
    file: &'a FileKey,
    out: FileIndex,
}

impl Indexer<'_> {
    fn def(&mut self, kind: SymbolKind, v: &Value, tenant: Option<&str>, full: Span) {
        if let Some(name) = word(v) {
            let id = SymbolId { kind, name: name.to_string(), tenant: tenant.map(str::to_string) };
            self.out.definitions.push(Definition { id, file: self.file.clone(), span: v.span, full_span: full });
        }
    }

    fn reference(&mut self, kind: SymbolKind, v: &Value, tenant: Option<&str>) {
        if let Some(name) = word(v) {
            let target = SymbolId { kind, name: name.to_string(), tenant: tenant.map(str::to_string) };
            self.out.references.push(Reference { target, file: self.file.clone(), span: v.span });
        }
    }

    /// Indexes the statements of a block; `tenant` is the enclosing tenant.
    fn block(&mut self, stmts: impl Iterator<Item = Statement>, tenant: Option<&str>, in_cluster: bool) {
        for s in stmts {
            let args = s.flat_args();
            let first = args.first();
            let name = s.name();
            if name.quoted {
                continue;
            }
            match name.text.as_str() {
                "workload" if tenant.is_some() => {
                    if let Some(v) = first {
                        self.def(SymbolKind::Workload, v, tenant, s.span());
                    }
                    for c in s.children() {
                        if c.is("namespace") {
                            if let Some(v) = c.flat_args().first() {
                                self.reference(SymbolKind::Namespace, v, tenant);
                            }
                        }
                    }
                }
                "namespaces" if tenant.is_some() => {
                    for v in &args {
                        self.def(SymbolKind::Namespace, v, tenant, s.span());
                    }
                }
                "role" => {
                    if let Some(v) = first {
                        let kind = if in_cluster { SymbolKind::ClusterRole } else { SymbolKind::Role };
                        self.def(kind, v, tenant, s.span());
                    }
                }
                "grant" => self.grant(&args, tenant, in_cluster),
                "allow" if tenant.is_some() => self.allow(&args, tenant),
                "use" => {
                    if let Some(v) = first {
                        self.reference(SymbolKind::Profile, v, None);
                    }
                }
                "admission" => self.block(s.children().into_iter(), tenant, in_cluster),
                _ => {}
            }
        }
    }

    fn grant(&mut self, args: &[Value], tenant: Option<&str>, in_cluster: bool) {
        let Some(role) = args.first() else { return };
        let kind = if in_cluster { SymbolKind::ClusterRole } else { SymbolKind::Role };
        self.reference(kind, role, tenant);
        let mut i = 1;
        while i + 1 < args.len() {
            match word(&args[i]) {
                Some("workload") => {
                    self.reference(SymbolKind::Workload, &args[i + 1], tenant);
                    i += 2;
                }
                // `tenant T workload W`: another tenant's workload.
                Some("tenant") => {
                    let other = word(&args[i + 1]).map(str::to_string);
                    self.reference(SymbolKind::Tenant, &args[i + 1], None);
                    match (args.get(i + 2).and_then(word), args.get(i + 3)) {
                        (Some("workload"), Some(w)) => {
                            self.reference(SymbolKind::Workload, w, other.as_deref());
                            i += 4;
                        }
                        _ => i += 2,
                    }
                }
                _ => i += 1,
            }
        }
    }

    fn allow(&mut self, args: &[Value], tenant: Option<&str>) {
        let mut i = 0;
        while i < args.len() {
            match word(&args[i]) {
                Some("tenant") if i + 1 < args.len() => {
                    let other = word(&args[i + 1]).map(str::to_string);
                    self.reference(SymbolKind::Tenant, &args[i + 1], None);
                    if args.get(i + 2).and_then(word) == Some("workload") {
                        if let Some(w) = args.get(i + 3) {
                            self.reference(SymbolKind::Workload, w, other.as_deref());
                        }
                        i += 4;
                    } else {
                        i += 2;
                    }
                }
                Some("workload") if i + 1 < args.len() => {
                    self.reference(SymbolKind::Workload, &args[i + 1], tenant);
                    i += 2;
                }
                Some("namespace") if i + 1 < args.len() => {
                    self.reference(SymbolKind::Namespace, &args[i + 1], None);
                    i += 2;
                }
                _ => i += 1,
            }
        }
    }
}

/// Indexes one file syntactically (statements with syntax errors included).
pub fn index_file(file: &FileKey, tree: &SourceTree) -> FileIndex {
    let mut ix = Indexer { file, out: FileIndex::default() };
    for s in tree.statements() {
        let args = s.flat_args();
        let name = s.name();
        if name.quoted {
            continue;
        }
        let first = args.first();
        match name.text.as_str() {
            "cluster" => {
                if let Some(v) = first {
                    ix.def(SymbolKind::Cluster, v, None, s.span());
                }
                ix.block(s.children().into_iter(), None, true);
            }
            "tenant" => {
                let tenant = first.and_then(word).map(str::to_string);
                if let Some(v) = first {
                    ix.def(SymbolKind::Tenant, v, None, s.span());
                    // A tenant without `namespaces` owns one namespace named after it.
                    if !s.children().iter().any(|c| c.is("namespaces")) {
                        ix.def(SymbolKind::Namespace, v, tenant.as_deref(), s.span());
                    }
                }
                ix.block(s.children().into_iter(), tenant.as_deref().or(Some("")), false);
            }
            "profile" => {
                if let Some(v) = first {
                    ix.def(SymbolKind::Profile, v, None, s.span());
                }
                ix.block(s.children().into_iter(), None, false);
            }
            _ => {}
        }
    }
    ix.out
}

/// What is at an offset: a definition or a reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Occurrence<'a> {
    /// The name of a definition.
    Definition(&'a Definition),
    /// A reference.
    Reference(&'a Reference),
}

impl Occurrence<'_> {
    /// The symbol it names.
    pub fn symbol(&self) -> &SymbolId {
        match self {
            Occurrence::Definition(d) => &d.id,
            Occurrence::Reference(r) => &r.target,
        }
    }

    /// The span of the name.
    pub fn span(&self) -> Span {
        match self {
            Occurrence::Definition(d) => d.span,
            Occurrence::Reference(r) => r.span,
        }
    }
}

/// The joined index of a program's files.
///
/// Lookups go through maps built once per index, on the first lookup (the index
/// is a salsa value, so once per revision of the program's names): a definition
/// by its identity, the references by their target, the occurrences of a file.
/// Finding the references of a name costs what it returns, not the program's
/// size (issue 24: the language server at 5,000 tenants).
#[derive(Clone, Debug, Default)]
pub struct ProgramIndex {
    /// Every file's index.
    pub files: Vec<FileIndex>,
    lookup: std::sync::OnceLock<Lookup>,
}

impl PartialEq for ProgramIndex {
    fn eq(&self, other: &Self) -> bool {
        self.files == other.files
    }
}

impl Eq for ProgramIndex {}

/// A position in [`ProgramIndex::files`]: file, then item in that file.
type At = (u32, u32);

/// The maps behind [`ProgramIndex`]'s lookups.
#[derive(Clone, Debug, Default)]
struct Lookup {
    /// The first definition of each symbol.
    definitions: HashMap<SymbolId, At>,
    /// The first cluster role of each name.
    cluster_roles: HashMap<String, At>,
    /// The references to each symbol, in program order.
    references: HashMap<SymbolId, Vec<At>>,
    /// The references of kind [`SymbolKind::Role`] of each name, in program
    /// order (those that fall back to a cluster role).
    role_references: HashMap<String, Vec<At>>,
    /// The positions of each file key in `files`.
    files: HashMap<FileKey, Vec<u32>>,
}

impl ProgramIndex {
    /// The index of `files`, in program order.
    pub fn new(files: Vec<FileIndex>) -> Self {
        ProgramIndex { files, lookup: Default::default() }
    }

    fn lookup(&self) -> &Lookup {
        self.lookup.get_or_init(|| {
            let mut l = Lookup::default();
            for (fi, f) in self.files.iter().enumerate() {
                let fi = fi as u32;
                if let Some(first) = f.definitions.first().map(|d| &d.file).or(f.references.first().map(|r| &r.file)) {
                    l.files.entry(first.clone()).or_default().push(fi);
                }
                for (i, d) in f.definitions.iter().enumerate() {
                    l.definitions.entry(d.id.clone()).or_insert((fi, i as u32));
                    if d.id.kind == SymbolKind::ClusterRole {
                        l.cluster_roles.entry(d.id.name.clone()).or_insert((fi, i as u32));
                    }
                }
                for (i, r) in f.references.iter().enumerate() {
                    l.references.entry(r.target.clone()).or_default().push((fi, i as u32));
                    if r.target.kind == SymbolKind::Role {
                        l.role_references.entry(r.target.name.clone()).or_default().push((fi, i as u32));
                    }
                }
            }
            l
        })
    }

    fn def_at(&self, (f, i): At) -> &Definition {
        &self.files[f as usize].definitions[i as usize]
    }

    fn ref_at(&self, (f, i): At) -> &Reference {
        &self.files[f as usize].references[i as usize]
    }

    /// Every definition.
    pub fn definitions(&self) -> impl Iterator<Item = &Definition> {
        self.files.iter().flat_map(|f| f.definitions.iter())
    }

    /// Every reference.
    pub fn references(&self) -> impl Iterator<Item = &Reference> {
        self.files.iter().flat_map(|f| f.references.iter())
    }

    /// The definition or reference whose name touches `offset` in `file` (only
    /// that file's occurrences are looked at).
    pub fn at(&self, file: &str, offset: u32) -> Option<Occurrence<'_>> {
        let own: &[u32] = self.lookup().files.get(file).map_or(&[], Vec::as_slice);
        let files = || own.iter().map(|&f| &self.files[f as usize]);
        let def = files().flat_map(|f| f.definitions.iter()).find(|d| &*d.file == file && d.span.touches(offset)).map(Occurrence::Definition);
        def.or_else(|| files().flat_map(|f| f.references.iter()).find(|r| &*r.file == file && r.span.touches(offset)).map(Occurrence::Reference))
    }

    /// Whether a definition with exactly this identity exists.
    pub fn is_defined(&self, symbol: &SymbolId) -> bool {
        self.lookup().definitions.contains_key(symbol)
    }

    /// The first cluster role named `name`.
    pub fn cluster_role(&self, name: &str) -> Option<&Definition> {
        self.lookup().cluster_roles.get(name).map(|&at| self.def_at(at))
    }

    /// Whether renaming `symbol` to `new` would collide: a definition of the same
    /// kind (roles and cluster roles share one scope) in the same tenant, or any
    /// cluster role, is named `new`. Looked up, not scanned.
    pub fn name_taken(&self, symbol: &SymbolId, new: &str) -> bool {
        let named = |kind: SymbolKind| self.is_defined(&SymbolId { kind, name: new.to_string(), tenant: symbol.tenant.clone() });
        match symbol.kind {
            SymbolKind::Role | SymbolKind::ClusterRole => named(SymbolKind::Role) || named(SymbolKind::ClusterRole) || self.cluster_role(new).is_some(),
            kind => named(kind),
        }
    }

    /// Where `symbol` is defined (the first definition). A role reference also
    /// finds a cluster role of that name.
    pub fn definition(&self, symbol: &SymbolId) -> Option<&Definition> {
        let l = self.lookup();
        l.definitions.get(symbol).map(|&at| self.def_at(at)).or_else(|| (symbol.kind == SymbolKind::Role).then(|| self.cluster_role(&symbol.name)).flatten())
    }

    /// Every reference that resolves to `def`, in program order.
    ///
    /// Through the maps: the references whose target is `def`'s identity (when
    /// `def` is what that identity resolves to), and, for a cluster role, the role
    /// references of its name for which no role with their identity exists. The
    /// cost is that of the answer (and of a cluster role's same-named role
    /// references), not of the program.
    pub fn references_of<'a>(&'a self, def: &'a Definition) -> impl Iterator<Item = &'a Reference> + 'a {
        let l = self.lookup();
        let mut found: Vec<At> = Vec::new();
        if self.definition(&def.id).is_some_and(|d| d == def) {
            found.extend(l.references.get(&def.id).into_iter().flatten().copied());
        }
        if def.id.kind == SymbolKind::ClusterRole && self.cluster_role(&def.id.name).is_some_and(|d| d == def) {
            let before = found.len();
            found.extend(l.role_references.get(&def.id.name).into_iter().flatten().copied().filter(|&at| !l.definitions.contains_key(&self.ref_at(at).target)));
            if before > 0 && found.len() > before {
                found.sort_unstable();
            }
        }
        found.into_iter().map(move |at| self.ref_at(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &str) -> ProgramIndex {
        let key = FileKey::from("a.khc");
        let parse = khc_syntax::parse(&key, text);
        ProgramIndex::new(vec![index_file(&key, &parse.tree())])
    }

    #[test]
    fn resolves_definitions_and_references() {
        let text = "cluster c {\n  role reader { can get on pods }\n  admission { use strict }\n}\nprofile strict { no-privileged }\n\
tenant a {\n  namespaces a a-jobs\n  workload api { namespace a-jobs }\n  role dev { can get on pods }\n  grant dev to workload api\n  grant reader to group \"g\"\n}\n\
tenant b {\n  workload web {}\n  allow egress from workload web to tenant a workload api ports 80\n}\n";
        let ix = index(text);
        let offset = |needle: &str, nth: usize| text.match_indices(needle).nth(nth).unwrap().0 as u32 + 1;
        // `api` in b's allow → a's workload api.
        let occ = ix.at("a.khc", offset("api ports", 0)).unwrap();
        let def = ix.definition(occ.symbol()).unwrap();
        assert_eq!(&text[def.span.range()], "api");
        assert_eq!(def.id.tenant.as_deref(), Some("a"));
        assert_eq!(ix.references_of(def).count(), 2, "grant … workload api and the allow");
        // `strict` in `use` → the profile; `reader` in a tenant grant → the cluster role.
        let strict = ix.definition(ix.at("a.khc", offset("use strict", 0) + 4).unwrap().symbol()).unwrap();
        assert_eq!(strict.id.kind, SymbolKind::Profile);
        let reader = ix.definition(ix.at("a.khc", offset("reader to", 0)).unwrap().symbol()).unwrap();
        assert_eq!(reader.id.kind, SymbolKind::ClusterRole);
        // `a-jobs` in the workload → a's namespace.
        let ns = ix.definition(ix.at("a.khc", offset("a-jobs }", 0)).unwrap().symbol()).unwrap();
        assert_eq!(ns.id.kind, SymbolKind::Namespace);
        // b owns a namespace named after it.
        assert!(ix.definitions().any(|d| d.id.kind == SymbolKind::Namespace && d.id.name == "b"));
    }

    #[test]
    fn role_references_fall_back_to_cluster_roles_only_when_no_role_shadows_them() {
        let text = "cluster c {\n  role reader { can get on pods }\n}\n\
tenant a {\n  grant reader to group \"g\"\n}\n\
tenant b {\n  role reader { can list on pods }\n  grant reader to group \"h\"\n}\n\
tenant d {\n  grant reader to group \"i\"\n}\n";
        let ix = index(text);
        let cluster_role = ix.definitions().find(|d| d.id.kind == SymbolKind::ClusterRole).unwrap();
        let tenants: Vec<_> = ix.references_of(cluster_role).map(|r| r.target.tenant.clone()).collect();
        assert_eq!(tenants, [Some("a".to_string()), Some("d".to_string())], "b's grant names b's own role");
        let b_role = ix.definitions().find(|d| d.id.kind == SymbolKind::Role).unwrap();
        assert_eq!(ix.references_of(b_role).count(), 1);
        // The same answers as resolving every reference.
        for def in ix.definitions() {
            let slow: Vec<_> = ix.references().filter(|r| ix.definition(&r.target).is_some_and(|d| d == def)).collect();
            assert_eq!(ix.references_of(def).collect::<Vec<_>>(), slow, "{def:?}");
        }
    }

    #[test]
    fn broken_statements_are_indexed() {
        let ix = index("tenant a {\n  workload api {}\n  grant dev to workload api $oops\n}\n");
        assert!(ix.references().any(|r| r.target.kind == SymbolKind::Workload && r.target.name == "api"));
    }
}
