//! Roles, ClusterRoles and their bindings → `role` and `grant`.

use crate::{q, Ctx, Obj};
use serde_json::Value;
use std::collections::BTreeMap;

/// `(tenant, name) → namespace → (statements, index of the object)`.
type PerTenant = BTreeMap<(String, String), BTreeMap<String, (Vec<String>, usize)>>;

/// The built-in ClusterRoles a khc `grant` names without declaring them.
const BUILTIN_CLUSTER_ROLES: &[&str] = &["view", "edit", "admin", "cluster-admin"];

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

fn is_bootstrap(o: &Obj<'_>) -> bool {
    o.name().starts_with("system:") || o.v()["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
}

/// The `can` statements of a role's rules (`None` and a report item when a rule
/// cannot be expressed). `tenant`: a Role (no URLs, no cluster-scoped resources).
fn cans(cx: &mut Ctx<'_>, o: &Obj<'_>, tenant: bool) -> Option<Vec<String>> {
    let verbs_known = khc_semantics::schema::VERBS.names();
    let mut out = Vec::new();
    for (i, r) in o.v()["rules"].as_array().cloned().unwrap_or_default().iter().enumerate() {
        let field = Some(format!("rules[{i}]"));
        let mut verbs = strings(&r["verbs"]);
        if let Some(v) = verbs.iter().find(|v| !verbs_known.contains(&v.as_str())) {
            cx.leave(o, field, format!("verb `{v}` is not in khc's verb list"));
            return None;
        }
        let names = strings(&r["resourceNames"]);
        if !names.is_empty() && verbs.iter().any(|v| v == "create" || v == "deletecollection") {
            if strings(&r["resources"]).iter().any(|r| r.contains('/')) {
                // A create on a subresource (`pods/eviction`) names its object.
                cx.leave(o, field, "`create`/`deletecollection` with resourceNames on a subresource (khc's `names` refuses `create`)");
                return None;
            }
            // Top-level create and deletecollection requests carry no name, so
            // resourceNames never authorize them: dropping them keeps the meaning.
            verbs.retain(|v| v != "create" && v != "deletecollection");
            cx.change(o, field.clone(), "`create`/`deletecollection` with resourceNames never apply: left out of the rule (same permissions)");
            if verbs.is_empty() {
                continue;
            }
        }
        let urls = strings(&r["nonResourceURLs"]);
        let mut resources = Vec::new();
        for g in strings(&r["apiGroups"]) {
            for res in strings(&r["resources"]) {
                let text = match (g.as_str(), res.as_str()) {
                    ("*", "*") => "*".to_string(),
                    ("*", _) | (_, "*") => {
                        cx.leave(o, field, format!("`{res}` in API group `{g}`: khc writes `*` only for every resource of every group"));
                        return None;
                    }
                    ("", _) => res.clone(),
                    (g, r) => match r.split_once('/') {
                        Some((base, sub)) => format!("{base}.{g}/{sub}"),
                        None => format!("{r}.{g}"),
                    },
                };
                if res.starts_with("*/") {
                    cx.leave(o, field, format!("`{res}`: khc has no `*/SUBRESOURCE`"));
                    return None;
                }
                let known_group = khc_semantics::builtin_resources().any(|(bg, _)| bg == g);
                if known_group && !khc_semantics::builtin_resources().any(|(bg, br)| bg == g && br == res) && res != "*" {
                    cx.leave(o, field, format!("`{res}` is not a resource khc knows in API group `{}`", if g.is_empty() { "core" } else { &g }));
                    return None;
                }
                let base = res.split('/').next().unwrap_or_default();
                if tenant && khc_semantics::is_cluster_scoped(&g, base) {
                    cx.leave(o, field, format!("`{res}` is cluster-scoped: a Role granting it does nothing"));
                    return None;
                }
                resources.push(if text.contains('/') || text.contains('*') && text != "*" { q(&text) } else { text });
            }
        }
        if !urls.is_empty() {
            if tenant {
                cx.leave(o, field, "a Role cannot grant non-resource URLs");
                return None;
            }
            if !names.is_empty() {
                cx.leave(o, field, "non-resource URLs with resourceNames");
                return None;
            }
            resources.extend(urls.iter().map(|u| q(u)));
        }
        if resources.is_empty() || verbs.is_empty() {
            continue;
        }
        let mut s = format!("can {} on {}", verbs.join(" "), resources.join(" "));
        if !names.is_empty() {
            s.push_str(&format!(" names {}", names.iter().map(|n| q(n)).collect::<Vec<_>>().join(" ")));
        }
        out.push(s);
    }
    Some(out)
}

/// A role name khc accepts (a DNS-1123 subdomain), reporting a rename.
fn role_name(cx: &mut Ctx<'_>, o: &Obj<'_>, name: &str) -> String {
    if khc_semantics::values::is_dns_subdomain(name) && !["view", "edit", "admin", "cluster-admin"].contains(&name) {
        return name.to_string();
    }
    let new = format!("imported-{}", crate::label_of(name));
    cx.change(o, Some("metadata.name".into()), format!("`{name}` is not a name khc accepts for a role: imported as `{new}`"));
    new
}

fn subjects(cx: &mut Ctx<'_>, o: &Obj<'_>) -> Option<Vec<String>> {
    let ns = o.namespace();
    let mut out = Vec::new();
    for (i, s) in o.v()["subjects"].as_array().cloned().unwrap_or_default().iter().enumerate() {
        let name = s["name"].as_str().unwrap_or_default();
        match s["kind"].as_str() {
            Some("User") if !name.is_empty() => out.push(format!("user {}", q(name))),
            Some("Group") if !name.is_empty() => out.push(format!("group {}", q(name))),
            Some("ServiceAccount") => {
                let sns = s["namespace"].as_str().or(ns).unwrap_or_default();
                out.push(format!("serviceaccount {}", q(&format!("{sns}/{name}"))));
            }
            _ => cx.leave(o, Some(format!("subjects[{i}]")), "not a User, Group or ServiceAccount with a name"),
        }
    }
    if out.is_empty() {
        cx.leave(o, None, "no subject khc can name");
        return None;
    }
    Some(out)
}

/// Roles and bindings.
pub(crate) fn import(cx: &mut Ctx<'_>, objs: &[Obj<'_>]) {
    // ClusterRoles first: grants need to know which exist.
    let mut cluster_names: BTreeMap<String, String> = BTreeMap::new();
    for o in objs.iter().filter(|o| o.kind() == "ClusterRole") {
        if is_bootstrap(o) {
            if !BUILTIN_CLUSTER_ROLES.contains(&o.name()) {
                cx.leave(o, None, "a Kubernetes bootstrap role: the API server keeps it");
            }
            continue;
        }
        if !o.v()["aggregationRule"].is_null() {
            cx.leave(o, Some("aggregationRule".into()), "khc roles do not aggregate others");
            continue;
        }
        let Some(cans) = cans(cx, o, false) else { continue };
        let name = role_name(cx, o, o.name());
        if cans.is_empty() {
            cx.leave(o, None, "no rule khc can express");
            continue;
        }
        cluster_names.insert(o.name().to_string(), name.clone());
        cx.declared_cluster_roles.insert(name.clone());
        cx.cluster_roles.push(format!("role {name} {{\n    {}\n  }}", cans.join("\n    ")));
    }
    let cluster_role = |n: &str| cluster_names.get(n).cloned().or_else(|| BUILTIN_CLUSTER_ROLES.contains(&n).then(|| n.to_string()));
    // Roles: per tenant, a role must exist alike in every namespace of the tenant.
    let mut roles: PerTenant = BTreeMap::new();
    for (idx, o) in objs.iter().enumerate().filter(|(_, o)| o.kind() == "Role") {
        let ns = o.namespace().unwrap_or_default().to_string();
        let Some(tenant) = cx.tenant(&ns).map(str::to_string) else { continue };
        let Some(cans) = cans(cx, o, true) else { continue };
        roles.entry((tenant, o.name().to_string())).or_default().insert(ns, (cans, idx));
    }
    let mut tenant_roles: BTreeMap<(String, String), String> = BTreeMap::new();
    for ((tenant, name), by_ns) in roles {
        let first = by_ns.values().next().map(|(c, _)| c.clone()).unwrap_or_default();
        let all = by_ns.len() == cx.tenants[&tenant].namespaces.len() && by_ns.values().all(|(c, _)| *c == first);
        if !all || first.is_empty() {
            for (_, idx) in by_ns.values() {
                let reason = if first.is_empty() {
                    "no rule khc can express".to_string()
                } else {
                    format!("Role `{name}` is not the same in every namespace of tenant `{tenant}`: a khc role is in all of them")
                };
                cx.leave(&objs[*idx], None, reason);
            }
            continue;
        }
        let o = &objs[by_ns.values().next().map(|(_, i)| *i).unwrap_or(0)];
        let khc_name = role_name(cx, o, &name);
        tenant_roles.insert((tenant.clone(), name.clone()), khc_name.clone());
        cx.tenants.get_mut(&tenant).expect("tenant").roles.push(format!("role {khc_name} {{\n    {}\n  }}", first.join("\n    ")));
    }
    // ClusterRoleBindings.
    let mut cluster_grants: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in objs.iter().filter(|o| o.kind() == "ClusterRoleBinding") {
        if is_bootstrap(o) {
            cx.leave(o, None, "a Kubernetes bootstrap binding: the API server keeps it");
            continue;
        }
        let role = o.v()["roleRef"]["name"].as_str().unwrap_or_default();
        let Some(r) = cluster_role(role) else {
            cx.leave(o, Some("roleRef".into()), format!("ClusterRole `{role}` is not imported"));
            continue;
        };
        let Some(subjects) = subjects(cx, o) else { continue };
        cluster_grants.entry(r).or_default().extend(subjects);
    }
    for (r, s) in cluster_grants {
        cx.cluster_grants.push(format!("grant {r} to {}", dedup(s).join(" ")));
    }
    // RoleBindings: per tenant, alike in every namespace.
    let mut bindings: PerTenant = BTreeMap::new();
    for (idx, o) in objs.iter().enumerate().filter(|(_, o)| o.kind() == "RoleBinding") {
        let ns = o.namespace().unwrap_or_default().to_string();
        let Some(tenant) = cx.tenant(&ns).map(str::to_string) else { continue };
        let role = o.v()["roleRef"]["name"].as_str().unwrap_or_default();
        let target = match o.v()["roleRef"]["kind"].as_str() {
            Some("Role") => tenant_roles.get(&(tenant.clone(), role.to_string())).cloned(),
            _ if role == "cluster-admin" => {
                cx.leave(o, Some("roleRef".into()), "a tenant cannot grant `cluster-admin` in khc (it would be every permission in its namespaces)");
                continue;
            }
            _ => cluster_role(role),
        };
        let Some(target) = target else {
            cx.leave(o, Some("roleRef".into()), format!("{} `{role}` is not imported", o.v()["roleRef"]["kind"].as_str().unwrap_or("role")));
            continue;
        };
        let Some(subjects) = subjects(cx, o) else { continue };
        let e = bindings.entry((tenant, target)).or_default().entry(ns).or_insert((Vec::new(), idx));
        e.0.extend(subjects);
    }
    for ((tenant, role), by_ns) in bindings {
        let mut sets: Vec<Vec<String>> = by_ns.values().map(|(s, _)| dedup(s.clone())).collect();
        sets.iter_mut().for_each(|s| s.sort());
        let all = by_ns.len() == cx.tenants[&tenant].namespaces.len() && sets.iter().all(|s| *s == sets[0]);
        if !all {
            for (_, idx) in by_ns.values() {
                cx.leave(
                    &objs[*idx],
                    None,
                    format!("the grants of `{role}` are not the same in every namespace of tenant `{tenant}`: a khc grant is in all of them"),
                );
            }
            continue;
        }
        let subjects = dedup(by_ns.values().next().map(|(s, _)| s.clone()).unwrap_or_default());
        cx.tenants.get_mut(&tenant).expect("tenant").grants.push(format!("grant {role} to {}", subjects.join(" ")));
    }
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}
