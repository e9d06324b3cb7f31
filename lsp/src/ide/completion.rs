//! Completion: statements valid in the cursor's block, argument values, and the
//! keywords that may follow a complete peer.

use super::*;

impl<'a> Analysis<'a> {
    /// Completion: statements valid in the cursor's block at the start of a
    /// statement; argument values after it (from the schema and the index).
    pub fn completion(&self, offset: u32) -> Vec<CompletionItem> {
        let offset = (offset as usize).min(self.text.len());
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let prefix = &self.text[line_start..offset];
        // After the last `{` or `;` on the line a new statement starts.
        let stmt_part = prefix.rsplit(['{', ';']).next().unwrap_or(prefix);
        // Inside an import string: stdlib modules.
        if stmt_part.trim_start().starts_with("import") && stmt_part.matches('"').count() % 2 == 1 {
            return khc_db::STDLIB
                .iter()
                .map(|(k, _)| {
                    let label = k.trim_end_matches(".khc").to_string();
                    item(&label, CompletionItemKind::MODULE, Some("standard-library module"))
                })
                .collect();
        }
        let words: Vec<&str> = stmt_part.split_whitespace().collect();
        let typing = !stmt_part.ends_with(|c: char| c.is_whitespace()) && !words.is_empty();
        let complete: &[&str] = if typing { &words[..words.len() - 1] } else { &words };
        let kind = block_kind_at(&self.root, (line_start + (prefix.len() - stmt_part.len())) as u32).unwrap_or(BlockKind::File);
        if complete.is_empty() {
            // A tenant's `admission` cannot hold the cluster-only rules (an error there).
            let in_tenant = kind == BlockKind::Admission && self.enclosing_tenant(offset as u32).is_some();
            return schema::statements(kind)
                .filter(|s| !(in_tenant && khc_rules::RuleId::from_name(s.name).is_some_and(|r| r.def().cluster_only)))
                .map(|s| {
                    let mut it = item(s.name, CompletionItemKind::KEYWORD, Some(s.shape));
                    it.documentation = Some(Documentation::String(s.doc.to_string()));
                    it
                })
                .collect();
        }
        let stmt = complete[0];
        let prev = *complete.last().expect("not empty");
        let set = |s: &ValueSet| -> Vec<CompletionItem> {
            s.values
                .iter()
                .map(|(v, d)| {
                    let mut it = item(v, CompletionItemKind::ENUM_MEMBER, Some(s.what));
                    it.documentation = Some(Documentation::String(d.to_string()));
                    it
                })
                .collect()
        };
        let tenant_here = self.enclosing_tenant(offset as u32);
        let defs = |k: SymbolKind, tenant: Option<&str>| -> Vec<CompletionItem> {
            let mut names: Vec<String> = self
                .index()
                .definitions()
                .filter(|d| d.id.kind == k && (tenant.is_none() || d.id.tenant.as_deref() == tenant))
                .map(|d| d.id.name.clone())
                .collect();
            names.sort();
            names.dedup();
            names.iter().map(|n| item(n, CompletionItemKind::REFERENCE, Some(k.describe()))).collect()
        };
        let kw = |k: &str| {
            let mut it = item(k, CompletionItemKind::KEYWORD, Some("keyword"));
            it.documentation = schema::KEYWORDS.doc(k).map(|d| Documentation::String(d.to_string()));
            it
        };
        match (stmt, prev) {
            // `images { signed-by key "P" | keyless issuer "U" subject[-regex] "S";
            // scanned-by key "P" max-age D deny-at SEVERITY { allow "ID" because "…" } }`.
            ("signed-by", "signed-by") if kind == BlockKind::Images => vec![kw("key"), kw("keyless")],
            ("signed-by", "keyless") if kind == BlockKind::Images => vec![kw("issuer")],
            ("signed-by", _) if kind == BlockKind::Images && complete.len() == 4 && complete[1] == "keyless" => vec![kw("subject"), kw("subject-regex")],
            ("scanned-by", "scanned-by") if kind == BlockKind::Images => vec![kw("key")],
            ("scanned-by", _) if kind == BlockKind::Images && complete.len() == 3 => vec![kw("max-age")],
            ("scanned-by", _) if kind == BlockKind::Images && complete.len() == 5 => vec![kw("deny-at")],
            ("scanned-by", "deny-at") if kind == BlockKind::Images => set(&schema::SEVERITIES),
            ("allow", _) if kind == BlockKind::ScannedBy && complete.len() == 2 => vec![kw("because")],
            ("allow", _) if kind == BlockKind::ScannedBy => Vec::new(),
            // `exception NAME { lifts RULE…; workloads W…; namespaces NS… }`.
            ("lifts", _) if matches!(kind, BlockKind::Exception | BlockKind::ClusterException) => khc_rules::ALL
                .iter()
                .filter(|r| !complete.contains(&r.keyword()))
                .map(|r| {
                    let d = r.def();
                    let mut it = item(d.name, CompletionItemKind::ENUM_MEMBER, Some("admission rule"));
                    it.documentation = Some(Documentation::String(d.doc.to_string()));
                    it
                })
                .collect(),
            ("workloads", _) if kind == BlockKind::Exception => defs(SymbolKind::Workload, tenant_here.as_deref()),
            ("namespaces", _) if kind == BlockKind::Exception => defs(SymbolKind::Namespace, tenant_here.as_deref()),
            ("namespaces", _) if kind == BlockKind::ClusterException => defs(SymbolKind::Namespace, None),
            ("deletable-namespaces", _) if kind == BlockKind::Tenant => defs(SymbolKind::Namespace, tenant_here.as_deref()),
            ("namespace", _) if kind == BlockKind::PodSecurity && complete.len() == 2 => set(&schema::LEVELS),
            // `quota { budget tenant; share NS N; namespace NS KEY Q … }`.
            ("budget", _) if kind == BlockKind::Quota => {
                vec![item("tenant", CompletionItemKind::ENUM_MEMBER, Some("the amounts are the tenant's total, split across its namespaces"))]
            }
            ("share" | "namespace", _) if kind == BlockKind::Quota && complete.len() == 1 => defs(SymbolKind::Namespace, tenant_here.as_deref()),
            ("namespace", _) if kind == BlockKind::Quota && complete.len().is_multiple_of(2) => {
                schema::QUOTA_KEYS.iter().map(|k| item(k.0, CompletionItemKind::PROPERTY, Some(k.1))).collect()
            }
            (_, "tenant") if stmt != "tenant" => defs(SymbolKind::Tenant, None),
            (_, "workload") => {
                let other = complete.windows(3).rev().find(|w| w[0] == "tenant" && w[2] == "workload").map(|w| w[1].to_string());
                defs(SymbolKind::Workload, other.as_deref().or(tenant_here.as_deref()))
            }
            ("use", "use") => defs(SymbolKind::Profile, None),
            // `grant ROLE to tenant T ▮` / `managed-by tenant T ▮`: the subject goes on with `workload`.
            ("grant" | "managed-by", _) if complete.len() >= 2 && complete[complete.len() - 2] == "tenant" => {
                vec![item("workload", CompletionItemKind::KEYWORD, Some("the tenant's workload whose ServiceAccount gets the grant"))]
            }
            ("grant", "grant") => {
                let mut v = defs(SymbolKind::Role, tenant_here.as_deref());
                v.extend(defs(SymbolKind::ClusterRole, None));
                v.extend(set(&schema::BUILTIN_ROLES));
                v
            }
            ("grant", "to") | ("managed-by", "managed-by") => set(&schema::SUBJECT_KINDS),
            ("anonymous", _) => set(&schema::ANONYMOUS_MODES),
            ("pod-security" | "enforce" | "audit" | "warn", _) => set(&schema::LEVELS),
            ("isolation", _) => set(&schema::ISOLATION_MODES),
            ("cni", _) if kind == BlockKind::Cluster => set(&schema::CNIS),
            ("network-policies", _) => set(&schema::NETWORK_POLICY_OWNERS),
            ("mode", _) => set(&schema::MODES),
            ("provider", _) => set(&schema::PROVIDERS),
            ("can", "on") | (_, "on") => khc_semantics::builtin_resources()
                .map(|(g, r)| {
                    let mut it = item(&resource_spelling(g, r), CompletionItemKind::VALUE, Some(if g.is_empty() { "core" } else { g }));
                    // `/` is not a name character: a subresource is written as a string.
                    if r.contains('/') {
                        it.insert_text = Some(format!("\"{}\"", resource_spelling(g, r)));
                    }
                    it.documentation =
                        resource_doc(&resource_spelling(g, r)).map(|d| Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value: d }));
                    it
                })
                .collect(),
            ("can", _) => set(&schema::VERBS),
            (rule, _) if matches!(kind, BlockKind::Admission | BlockKind::Profile) && khc_rules::RuleId::from_name(rule).is_some() => {
                let def = khc_rules::RuleId::from_name(rule).expect("checked").def();
                def.args.values().iter().map(|v| item(v, CompletionItemKind::ENUM_MEMBER, Some(def.name))).collect()
            }
            (_, "protocol") => set(&schema::PROTOCOLS),
            // The cluster's `allow ingress from tenant T [workload W] to all-tenants …`.
            // The cluster's `allow ingress from tenant T [workload W] to all-tenants …`
            // and `allow egress from all-tenants to tenant T [workload W] …`.
            ("allow", "from" | "to") if kind == BlockKind::Cluster => {
                let ingress = complete.get(1) == Some(&"ingress");
                let all = item(khc_semantics::ALL_TENANTS, CompletionItemKind::KEYWORD, schema::KEYWORDS.doc(khc_semantics::ALL_TENANTS));
                let tenant = item("tenant", CompletionItemKind::KEYWORD, schema::PEER_KINDS.doc("tenant"));
                match (ingress, prev == "from") {
                    (true, true) | (false, false) => vec![tenant],
                    _ => vec![all],
                }
            }
            ("allow", "allow") => ["ingress", "egress"].iter().map(|k| item(k, CompletionItemKind::KEYWORD, schema::KEYWORDS.doc(k))).collect(),
            ("allow", "from" | "to") => set(&schema::PEER_KINDS),
            ("namespace", "namespace") | (_, "namespace") if tenant_here.is_some() && stmt == "namespace" => {
                defs(SymbolKind::Namespace, tenant_here.as_deref())
            }
            ("allow", _) => after_peer(complete),
            _ => Vec::new(),
        }
    }

    pub(super) fn enclosing_tenant(&self, offset: u32) -> Option<String> {
        let fi = khc_db::syntax::file_index(self.db, self.file);
        fi.definitions.iter().find(|d| d.id.kind == SymbolKind::Tenant && d.full_span.start <= offset && offset <= d.full_span.end).map(|d| d.id.name.clone())
    }
}

/// The keywords that may come next in an `allow` statement whose last word is a
/// complete value or a direction (`allow ingress from tenant billing workload
/// api ▮` → `to`, `ports`, `protocol`), following SPEC section 6:
/// `allow ingress from PEER [to workload NAME] [ports PORT…] [protocol PROTO]` and
/// `allow egress [from workload NAME] to PEER [ports PORT…] [protocol PROTO]`.
fn after_peer(words: &[&str]) -> Vec<CompletionItem> {
    let prev = *words.last().expect("not empty");
    let direction = words.get(1).copied().unwrap_or("");
    let has = |w: &str| words.contains(&w);
    let mut next: Vec<&str> = Vec::new();
    if words.len() == 2 {
        next = if direction == "egress" {
            vec!["from", "to"]
        } else if direction == "ingress" {
            vec!["from"]
        } else {
            vec![]
        };
    } else if words.len() >= 4 && !schema::KEYWORDS.values.iter().chain(schema::PEER_KINDS.values).any(|(k, _)| *k == prev) {
        let before = words[words.len() - 2];
        if has("protocol") {
            return Vec::new();
        }
        if !has("ports") {
            if before == "tenant" {
                next.push("workload");
            }
            let peer_written = if direction == "ingress" { has("from") } else { has("to") };
            if direction == "ingress" && !has("to") {
                next.push("to");
            }
            if direction == "egress" && !has("to") && before == "workload" {
                next.push("to");
            }
            if peer_written {
                next.push("ports");
            }
        }
        if (direction == "ingress" && has("from")) || has("to") {
            next.push("protocol");
        }
    }
    next.into_iter().map(|k| item(k, CompletionItemKind::KEYWORD, schema::KEYWORDS.doc(k))).collect()
}
