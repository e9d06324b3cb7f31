//! Hover: statement and value docs, what a name is and produces, the CEL an
//! admission rule compiles to, resources and profiles.

use super::*;

impl<'a> Analysis<'a> {
    /// Hover: statement docs, value docs, or what a name is, where it is defined
    /// and what it produces; for an admission rule, the CEL it compiles to.
    pub fn hover(&self, offset: u32) -> Option<Hover> {
        if let Some((id, span)) = self.symbol_at(offset) {
            let mut h = markdown(self.describe_symbol(&id));
            h.range = Some(self.ix.range(span));
            return Some(h);
        }
        if let Some((stmt, tok)) = self.statement_name_at(offset) {
            let kind = block_kind_at(&self.root, u32::from(tok.text_range().start()))?;
            let st = schema::statement(kind, tok.text())?;
            let mut md = format!("```khc\n{} {}\n```\n{}", st.name, st.shape, st.doc);
            if matches!(kind, BlockKind::Admission | BlockKind::Profile) && schema::RULES.iter().any(|r| r.name == st.name) {
                if let Some(cel) = self.cel_of(stmt.span()) {
                    md.push_str(&format!("\n\nCompiles to the ValidatingAdmissionPolicy validation:\n```cel\n{cel}\n```"));
                }
                for e in self.exceptions_here(offset).iter().filter(|e| e.lifts.iter().any(|r| r.keyword() == st.name)) {
                    md.push_str(&format!("\n\nLifted by exception `{}` ({}): {}", e.name, exception_scope(e), e.reason));
                }
            }
            if kind == BlockKind::Tenant && st.name == "images" {
                if let Some(i) = self.tenant_model_at(offset).and_then(|t| t.images.clone().map(|i| (t.name.clone(), i))) {
                    md.push_str(&images_summary(&i.0, &i.1.policy));
                }
            }
            if matches!(kind, BlockKind::Tenant | BlockKind::Cluster) && st.name == "exception" {
                let start = u32::from(tok.text_range().start());
                if let Some(e) = self.exceptions_here(offset).into_iter().find(|e| e.span.start == start) {
                    md.push_str(&format!(
                        "\n\n**Exception `{}`** lifts {} for {}; {}.\n\nReason: {}",
                        e.name,
                        e.lifts.iter().map(|r| format!("`{}`", r.keyword())).collect::<Vec<_>>().join(", "),
                        exception_scope(&e),
                        e.expires.as_deref().map_or("no expiry".to_string(), |d| format!("expires {d}")),
                        e.reason
                    ));
                    if let Some(t) = self.tenant_model_at(offset) {
                        for ns in e.namespaces.iter().filter(|ns| t.pod_security.stand_ins.contains_key(*ns)) {
                            md.push_str(&format!(
                                "\n\nNamespace `{ns}`: Pod Security `enforce` lowered to `privileged`; khc enforces `{}` in the tenant's policy for every other pod.",
                                t.pod_security.stand_ins[ns].as_str()
                            ));
                        }
                    }
                }
            }
            let mut h = markdown(md);
            h.range = Some(self.ix.range(tok.text_range().into()));
            return Some(h);
        }
        let tok = ast::token_at(&self.root, offset)?;
        // A rule named in an exception's `lifts`.
        if tok.kind() == SyntaxKind::NAME && tok.parent_ancestors().find_map(ast::Statement::cast).is_some_and(|s| s.is("lifts")) {
            if let Some(r) = khc_rules::RuleId::from_name(tok.text()) {
                let d = r.def();
                let mut h = markdown(format!("```khc\n{} {}\n```\n{}", d.name, d.shape, d.doc));
                h.range = Some(self.ix.range(tok.text_range().into()));
                return Some(h);
            }
        }
        if let Some(md) = self.resource_hover(&tok) {
            let mut h = markdown(md);
            h.range = Some(self.ix.range(tok.text_range().into()));
            return Some(h);
        }
        if tok.kind() == SyntaxKind::NAME {
            // A word of several value sets (`tenant`, `workload`) reads as the
            // statement it stands in: a subject kind in `grant`, a peer in `allow`.
            let stmt = tok.parent_ancestors().find_map(ast::Statement::cast);
            let preferred: Option<&ValueSet> = match stmt.as_ref().map(|s| s.keyword()).as_deref() {
                Some("grant" | "managed-by") => Some(&schema::SUBJECT_KINDS),
                Some("allow") => Some(&schema::PEER_KINDS),
                _ => None,
            };
            let (set, doc) = preferred.and_then(|s| s.doc(tok.text()).map(|d| (s, d))).or_else(|| value_set_of(tok.text()))?;
            let mut h = markdown(format!("`{}` — {}: {doc}", tok.text(), set.what));
            h.range = Some(self.ix.range(tok.text_range().into()));
            return Some(h);
        }
        None
    }

    /// The resource named at `offset` in a `can … on` statement of a tenant's
    /// declaration, as the language writes it, with that tenant's name: what
    /// the server answers "who may touch it here" about.
    pub fn resource_in_tenant_at(&self, offset: u32) -> Option<(String, String)> {
        let tok = ast::token_at(&self.root, offset)?;
        self.resource_hover(&tok)?;
        let tenant = self.enclosing_tenant(offset)?;
        Some((tok.text().trim_matches('"').to_string(), tenant))
    }

    /// Hover on a resource of a `can … on` statement: its API group, whether it
    /// is namespaced (a tenant role may grant it) and its subresources, spelled as
    /// the language writes them.
    fn resource_hover(&self, tok: &SyntaxToken) -> Option<String> {
        let stmt = tok.parent_ancestors().find_map(ast::Statement::cast)?;
        if !stmt.is("can") {
            return None;
        }
        let on = stmt.syntax().children_with_tokens().filter_map(|e| e.into_token()).position(|t| t.kind() == SyntaxKind::NAME && t.text() == "on")?;
        let at = stmt.syntax().children_with_tokens().filter_map(|e| e.into_token()).position(|t| &t == tok)?;
        if at <= on {
            return None;
        }
        match tok.kind() {
            SyntaxKind::NAME => resource_doc(tok.text()),
            SyntaxKind::STRING => resource_doc(tok.text().trim_matches('"')),
            _ => None,
        }
    }

    /// The statements of a profile, each with its line, for hover on a profile
    /// name (`use restricted`): what the profile brings, the rules of profiles it
    /// `use`s listed under them.
    fn profile_rules(&self, def: &Definition) -> Option<String> {
        let mut out = Vec::new();
        let mut seen = vec![def.id.clone()];
        self.profile_lines(def, 0, &mut seen, &mut out)?;
        let rules = out.iter().filter(|l| !l.trim_start().starts_with("- `use ")).count();
        Some(if out.is_empty() { "It brings no rules.".to_string() } else { format!("It brings {rules} rule(s):\n{}", out.join("\n")) })
    }

    fn profile_lines(&self, def: &Definition, depth: usize, seen: &mut Vec<SymbolId>, out: &mut Vec<String>) -> Option<()> {
        let file = self.db.file(&def.file)?;
        let text = file.text(self.db);
        let lines = LineIndex::new(text);
        let tree = parse(self.db, file).tree();
        let profile = tree.statements().find(|s| s.span() == def.full_span)?;
        let short = def.file.rsplit('/').next().unwrap_or(&def.file).to_string();
        for r in profile.children() {
            let span = r.span();
            let src = text[span.range()].lines().next().unwrap_or("").trim();
            out.push(format!("{}- `{src}` ({short}:{})", "  ".repeat(depth), lines.position(span.start as usize).line + 1));
            if r.is("use") && depth < 8 {
                for v in r.flat_args() {
                    let khc_syntax::ast::ValueKind::Name(name) = v.kind else { continue };
                    let id = SymbolId { kind: SymbolKind::Profile, name, tenant: None };
                    if seen.contains(&id) {
                        continue;
                    }
                    seen.push(id.clone());
                    if let Some(d) = self.definition_of(&id) {
                        let d = d.clone();
                        self.profile_lines(&d, depth + 1, seen, out);
                    }
                }
            }
        }
        Some(())
    }

    /// The checked tenant whose declaration in this file encloses `offset`.
    fn tenant_model_at(&self, offset: u32) -> Option<khc_semantics::model::Tenant> {
        let name = self.enclosing_tenant(offset)?;
        for e in &self.entries {
            let scope = khc_db::scope(self.db, *e);
            for t in scope.live_tenants(self.db, *e) {
                if let Some(t) = &khc_db::tenant_check(self.db, t).0 {
                    if t.name == name && t.origin.file == self.key {
                        return Some((**t).clone());
                    }
                }
            }
        }
        None
    }

    /// The exceptions of the tenant that encloses `offset`, else those of the
    /// cluster declared in this file (its `exception`s lift cluster rules).
    fn exceptions_here(&self, offset: u32) -> Vec<khc_semantics::model::Exception> {
        if let Some(t) = self.tenant_model_at(offset) {
            return t.exceptions;
        }
        for e in &self.entries {
            if let Some((c, _)) = khc_db::checks::cluster_check(self.db, *e) {
                if c.origin.file == self.key {
                    return c.exceptions.clone();
                }
            }
        }
        Vec::new()
    }

    fn cel_of(&self, span: Span) -> Option<String> {
        for e in &self.entries {
            let scope = khc_db::scope(self.db, *e);
            let mut admissions = Vec::new();
            if let Some((c, _)) = khc_db::checks::cluster_check(self.db, *e) {
                admissions.extend(c.admission.clone());
            }
            for t in scope.live_tenants(self.db, *e) {
                if let Some(t) = &khc_db::tenant_check(self.db, t).0 {
                    admissions.extend(t.admission.clone());
                }
            }
            for a in admissions {
                for r in a.rules {
                    if r.origin.file == self.key && r.span == span {
                        let parts = [khc_emit::cel::validation(&r.kind, a.minor_version), khc_emit::cel::resource_validation(&r.kind)];
                        let text: Vec<String> = parts.into_iter().flatten().map(|(expr, message)| format!("{expr}\n// message: {message}")).collect();
                        return Some(text.join("\n"));
                    }
                }
            }
        }
        None
    }

    fn describe_symbol(&self, id: &SymbolId) -> String {
        let mut md = format!("**{} `{}`**", id.kind.describe(), id.name);
        if let Some(t) = id.tenant.as_deref().filter(|t| !t.is_empty()) {
            md.push_str(&format!(" of tenant `{t}`"));
        }
        match self.definition_of(id) {
            Some(def) => {
                let line = self.db.file(&def.file).map(|f| LineIndex::new(f.text(self.db)).position(def.span.start as usize).line + 1).unwrap_or(0);
                md.push_str(&format!("\n\nDefined in `{}` line {line}.", def.file.rsplit('/').next().unwrap_or(&def.file)));
            }
            None => md.push_str("\n\nNot defined in this program."),
        }
        let produces = match id.kind {
            SymbolKind::Tenant => self.tenant_objects(&id.name),
            SymbolKind::Workload => {
                Some("Produces a ServiceAccount in its namespace; network rules select its pods by its selector (NetworkPolicy peers).".to_string())
            }
            SymbolKind::Role => Some("Produces a Role in each of the tenant's namespaces (bound by RoleBindings from `grant`).".into()),
            SymbolKind::ClusterRole => Some("Produces a ClusterRole (bound by ClusterRoleBindings from `grant`).".into()),
            SymbolKind::Namespace => Some("Produces a Namespace with Pod Security labels, its NetworkPolicies, quota and limits.".into()),
            SymbolKind::Profile => Some("A bundle of admission rules; each `use` adds them to a ValidatingAdmissionPolicy.".into()),
            SymbolKind::Cluster => Some("Produces the cluster-wide objects: encryption config, admission policies, ClusterRoles.".into()),
        };
        if let Some(p) = produces {
            md.push_str("\n\n");
            md.push_str(&p);
        }
        if id.kind == SymbolKind::Profile {
            if let Some(rules) = self.definition_of(id).and_then(|d| self.profile_rules(d)) {
                md.push_str("\n\n");
                md.push_str(&rules);
            }
        }
        md
    }

    fn tenant_objects(&self, name: &str) -> Option<String> {
        let e = *self.entries.first()?;
        let t = khc_db::scope(self.db, e).tenant(self.db, e, name)?;
        let files = khc_db::tenant_files(self.db, t);
        if files.is_empty() {
            return Some("Produces no objects until its errors are fixed.".into());
        }
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for f in files {
            for line in f.contents.lines() {
                if let Some(k) = line.strip_prefix("kind: ") {
                    *kinds.entry(k.trim().to_string()).or_default() += 1;
                }
            }
        }
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} × {k}")).collect();
        Some(format!("Produces {} file(s): {}.", files.len(), list.join(", ")))
    }
}

/// Whom an exception covers, in words.
fn exception_scope(e: &khc_semantics::model::Exception) -> String {
    if e.workloads.is_empty() {
        format!("namespaces {}", e.namespaces.join(", "))
    } else {
        format!("workloads {}", e.workloads.iter().map(|(w, ns)| format!("{ns}/{w}")).collect::<Vec<_>>().join(", "))
    }
}

/// How the language writes a built-in resource: `pods`, `deployments.apps`,
/// `deployments.apps/scale` (the group between the resource and its subresource).
pub fn resource_spelling(group: &str, resource: &str) -> String {
    match (group, resource.split_once('/')) {
        ("", _) => resource.to_string(),
        (g, Some((base, sub))) => format!("{base}.{g}/{sub}"),
        (g, None) => format!("{resource}.{g}"),
    }
}

/// Hover text of a resource as the language writes it (`deployments.apps`,
/// `pods/exec`), or `None` when it is not a built-in resource.
pub fn resource_doc(word: &str) -> Option<String> {
    let (group, resource) = khc_semantics::builtin_resources().find(|(g, r)| resource_spelling(g, r) == word)?;
    let (base, sub) = match resource.split_once('/') {
        Some((b, s)) => (b, Some(s)),
        None => (resource, None),
    };
    let group_text = if group.is_empty() { "the core API group".to_string() } else { format!("API group `{group}`") };
    let mut md = match sub {
        Some(sub) => format!("**`{word}`** — subresource `{sub}` of `{base}`, {group_text}."),
        None => format!("**`{word}`** — resource `{base}`, {group_text}."),
    };
    if khc_semantics::is_cluster_scoped(group, base) {
        md.push_str("\n\nCluster-scoped: only a cluster `role` may grant it (a tenant role's RoleBinding cannot).");
    } else {
        md.push_str("\n\nNamespaced: a tenant `role` grants it in each of the tenant's namespaces.");
    }
    if sub.is_none() {
        let subs: Vec<String> = khc_semantics::builtin_resources()
            .filter(|(g, r)| *g == group && r.split_once('/').is_some_and(|(b, _)| b == base))
            .map(|(g, r)| format!("`{}`", resource_spelling(g, r)))
            .collect();
        if !subs.is_empty() {
            md.push_str(&format!("\n\nSubresources (granted separately): {}.", subs.join(", ")));
        }
    }
    Some(md)
}

/// What a tenant's `images` block compiles to, joined with the cluster's (hover).
fn images_summary(tenant: &str, p: &khc_semantics::model::ImagePolicy) -> String {
    let mut md = String::from("\n\n**With the cluster's `images`:**");
    for r in khc_semantics::images::rules(p) {
        let args = r.args.names();
        let args = if args.is_empty() { String::new() } else { format!(" {}", args.join(" ")) };
        md.push_str(&format!("\n* rule `{}{args}` in the tenant's admission policy (judged by `khc eval`)", r.keyword()));
    }
    for s in &p.signers {
        md.push_str(&format!("\n* signed by {}{}", s.identity.describe(), if s.from_cluster { " (the cluster's)" } else { "" }));
    }
    for s in &p.scans {
        md.push_str(&format!(
            "\n* scan attested by key \"{}\": nothing at or above `{}`, at most {}h old{}",
            s.key_path,
            s.deny_at.as_str(),
            s.max_age_hours,
            if s.allow.is_empty() {
                String::new()
            } else {
                format!(", accepting {}", s.allow.iter().map(|a| format!("{} ({})", a.id, a.reason)).collect::<Vec<_>>().join(", "))
            }
        ));
    }
    if p.needs_verifier() {
        md.push_str(&format!(
            "\n\nSignatures and scans are checked at admission by sigstore policy-controller: ClusterImagePolicy `khc-{tenant}`, namespaces labelled `policy.sigstore.dev/include: \"true\"`."
        ));
    }
    md
}
