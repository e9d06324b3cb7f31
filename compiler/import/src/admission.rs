//! Kyverno validate rules and Gatekeeper constraints of the common patterns →
//! admission rules; Kyverno's `podSecurity` → a floor on every tenant's
//! `pod-security` level (the same Pod Security Standards, enforced by PSA).

use crate::{q, Ctx, Obj};
use serde_json::Value;

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// The containers' pattern of a Kyverno validate rule (`spec.containers[]`, or a
/// pod template's, through Kyverno's autogen the pod's is enough).
fn containers_pattern(pattern: &Value) -> Option<&Value> {
    let c = &pattern["spec"]["containers"];
    c.as_array().and_then(|a| a.first())
}

/// The resource (`deployments.apps`, `pods`) of a Kubernetes kind khc knows.
fn resource_of_kind(kind: &str) -> Option<String> {
    let kind = kind.rsplit('/').next().unwrap_or(kind);
    let (group, plural) = khc_rules::facts::POD_KINDS
        .iter()
        .map(|k| (k.group, k.plural))
        .chain(khc_rules::facts::RESOURCE_KINDS.iter().map(|(_, g, p)| (*g, *p)))
        .zip(khc_rules::facts::POD_KINDS.iter().map(|k| k.kind).chain(khc_rules::facts::RESOURCE_KINDS.iter().map(|(k, _, _)| *k)))
        .find(|(_, k)| *k == kind)
        .map(|(gp, _)| gp)
        .or(match kind {
            "ConfigMap" => Some(("", "configmaps")),
            "Secret" => Some(("", "secrets")),
            "Namespace" => Some(("", "namespaces")),
            "ServiceAccount" => Some(("", "serviceaccounts")),
            "Ingress" => Some(("networking.k8s.io", "ingresses")),
            _ => None,
        })?;
    Some(if group.is_empty() { plural.to_string() } else { format!("{plural}.{group}") })
}

/// A Kyverno `validate.cel` rule → khc custom rules (`rule NAME { … }`), one per
/// expression.
fn kyverno_cel(rule: &Value, kinds: &[String]) -> Result<Vec<String>, String> {
    let cel = &rule["validate"]["cel"];
    if !cel["paramKind"].is_null() || !cel["paramRef"].is_null() || !cel["variables"].is_null() || !cel["auditAnnotations"].is_null() {
        return Err("a CEL validation with parameters, variables or audit annotations (khc's custom rules have none)".into());
    }
    let mut resources = Vec::new();
    for k in kinds {
        let r = resource_of_kind(k).ok_or_else(|| format!("the kind `{k}` (khc's import knows the resource of built-in kinds only)"))?;
        if !resources.contains(&r) {
            resources.push(r);
        }
    }
    if resources.is_empty() {
        return Err("a CEL validation that matches no kind".into());
    }
    let exprs = cel["expressions"].as_array().filter(|a| !a.is_empty()).ok_or("a CEL validation without expressions")?;
    let base = crate::label_of(rule["name"].as_str().unwrap_or("cel"));
    let base = if khc_rules::RuleId::from_name(&base).is_some() { format!("kyverno-{base}") } else { base };
    let fallback = rule["validate"]["message"].as_str().unwrap_or("denied by an imported Kyverno CEL rule");
    let mut out = Vec::new();
    for (i, e) in exprs.iter().enumerate() {
        let expression = e["expression"].as_str().ok_or("a CEL expression that is not a string")?;
        khc_rules::cel::parse_check(expression).map_err(|err| format!("a CEL expression that does not parse: {err}"))?;
        let message = e["message"].as_str().unwrap_or(fallback);
        let name = if exprs.len() == 1 { base.clone() } else { format!("{base}-{}", i + 1) };
        out.push(format!("rule {name} {{\n  kinds {}\n  cel {}\n  message {}\n}}", resources.join(" "), q(expression), q(message)));
    }
    Ok(out)
}

/// One Kyverno validate rule → khc statements.
fn kyverno_rule(rule: &Value) -> Result<Vec<String>, String> {
    let v = &rule["validate"];
    if let Some(ps) = v.get("podSecurity") {
        let level = ps["level"].as_str().unwrap_or("");
        if !ps["exclude"].as_array().is_none_or(|a| a.is_empty()) {
            return Err("podSecurity with `exclude` (khc's exceptions are not in this import)".into());
        }
        return match level {
            "baseline" | "restricted" | "privileged" => Ok(vec![format!("pod-security {level}")]),
            _ => Err(format!("podSecurity level `{level}`")),
        };
    }
    if !v["deny"].is_null() || !v["foreach"].is_null() || !v["anyPattern"].is_null() {
        return Err("a `deny`, `foreach` or `anyPattern` validation".into());
    }
    let Some(c) = containers_pattern(&v["pattern"]) else { return Err("a pattern other than on `spec.containers`".into()) };
    let obj = c.as_object().ok_or("an unreadable pattern")?;
    let mut out = Vec::new();
    for (k, val) in obj {
        match k.as_str() {
            "name" if val == "*" => {}
            "resources" => {
                for (part, stmt) in [("limits", "require-limits"), ("requests", "require-requests")] {
                    if let Some(m) = val[part].as_object() {
                        let mut which = Vec::new();
                        for (res, p) in m {
                            if !matches!(p.as_str(), Some("?*") | Some("*?")) || !matches!(res.as_str(), "cpu" | "memory") {
                                return Err(format!("`resources.{part}.{res}: {p}` (khc requires the value to be set)"));
                            }
                            which.push(res.clone());
                        }
                        which.sort();
                        out.push(format!("{stmt} {}", which.join(" ")));
                    }
                }
                if val.as_object().is_some_and(|m| m.keys().any(|k| k != "limits" && k != "requests")) {
                    return Err("a `resources` pattern other than limits/requests".into());
                }
            }
            "image" => {
                let p = val.as_str().ok_or("an image pattern that is not a string")?;
                if p == "!*:latest" {
                    out.push("no-latest-tag".into());
                } else if p == "*:*" {
                    // Kyverno's "require a tag": with `!*:latest`, khc's no-latest-tag.
                } else if p.split('|').map(str::trim).all(|alt| alt.ends_with("/*") && !alt[..alt.len() - 1].contains('*') && !alt.starts_with('!')) {
                    let prefixes: Vec<String> = p.split('|').map(|alt| q(alt.trim().trim_end_matches('*'))).collect();
                    out.push(format!("allowed-registries {}", prefixes.join(" ")));
                } else {
                    return Err(format!("the image pattern `{p}`"));
                }
            }
            "securityContext" => {
                for (sk, sv) in val.as_object().cloned().unwrap_or_default() {
                    match (sk.as_str(), &sv) {
                        ("privileged", Value::Bool(false)) | ("=(privileged)", Value::Bool(false)) => out.push("no-privileged".into()),
                        ("allowPrivilegeEscalation", Value::Bool(false)) => out.push("no-privilege-escalation".into()),
                        ("readOnlyRootFilesystem", Value::Bool(true)) => out.push("read-only-root-fs".into()),
                        ("runAsNonRoot", Value::Bool(true)) => out.push("run-as-non-root".into()),
                        _ => return Err(format!("the securityContext pattern `{sk}: {sv}`")),
                    }
                }
            }
            _ => return Err(format!("the container pattern `{k}`")),
        }
    }
    if out.is_empty() {
        return Err("a pattern that requires nothing khc names".into());
    }
    Ok(out)
}

/// One Gatekeeper constraint → khc statements.
fn gatekeeper(kind: &str, params: &Value) -> Result<Vec<String>, String> {
    let empty = |k: &str| params[k].as_array().is_none_or(|a| a.is_empty());
    Ok(match kind {
        "K8sRequiredResources" => {
            let mut out = Vec::new();
            for (k, stmt) in [("limits", "require-limits"), ("requests", "require-requests")] {
                let l = strings(&params[k]);
                if l.iter().any(|x| x != "cpu" && x != "memory") {
                    return Err(format!("`{k}` other than cpu and memory"));
                }
                if !l.is_empty() {
                    out.push(format!("{stmt} {}", l.join(" ")));
                }
            }
            out
        }
        "K8sAllowedRepos" => {
            let repos = strings(&params["repos"]);
            if repos.is_empty() {
                return Err("no `repos`".into());
            }
            if repos.iter().any(|r| !r.ends_with('/')) {
                return Err("a repo prefix that does not end in `/` (Gatekeeper compares prefixes; khc appends `/`, which is narrower)".into());
            }
            vec![format!("allowed-registries {}", repos.iter().map(|r| q(r)).collect::<Vec<_>>().join(" "))]
        }
        "K8sDisallowedTags" => {
            let tags = strings(&params["tags"]);
            if tags != ["latest"] {
                return Err(format!("tags {tags:?} (khc's no-latest-tag refuses `latest` only)"));
            }
            vec!["no-latest-tag".into()]
        }
        "K8sPSPPrivilegedContainer" => vec!["no-privileged".into()],
        "K8sPSPHostNamespace" => vec!["no-host-namespaces".into()],
        "K8sPSPAllowPrivilegeEscalationContainer" => vec!["no-privilege-escalation".into()],
        "K8sPSPReadOnlyRootFilesystem" => vec!["read-only-root-fs".into()],
        "K8sPSPHostFilesystem" if empty("allowedHostPaths") => vec!["no-host-path".into()],
        "K8sPSPHostNetworkingPorts" if params["hostNetwork"] != Value::Bool(true) && params["min"].is_null() && params["max"].is_null() => {
            vec!["no-host-namespaces".into(), "no-host-ports".into()]
        }
        "K8sPSPCapabilities" => {
            let mut out = Vec::new();
            if strings(&params["requiredDropCapabilities"]).iter().any(|c| c == "ALL") {
                out.push("drop-all-capabilities".into());
            }
            if !params["allowedCapabilities"].is_null() {
                let caps = strings(&params["allowedCapabilities"]);
                if caps.iter().any(|c| c == "*") {
                    return Err("`allowedCapabilities: [*]`".into());
                }
                out.push(format!("allowed-capabilities {}", caps.join(" ")).trim_end().to_string());
            }
            out
        }
        _ => return Err(format!("the constraint template `{kind}`")),
    })
}

/// Replaces every occurrence of the identifier path `path` (`variables.params`)
/// in a CEL expression by `with`: only whole paths (not `variables.paramsX`, not
/// `x.variables.params`). String literals are not told apart (Gatekeeper's
/// expressions do not quote these names).
fn replace_path(expr: &str, path: &str, with: &str) -> String {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(i) = rest.find(path) {
        let before = rest[..i].chars().next_back().or_else(|| out.chars().next_back());
        let after = rest[i + path.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(|c| ident(c) || c == '.') || after.is_some_and(ident) {
            out.push_str(path);
        } else {
            out.push_str(with);
        }
        rest = &rest[i + path.len()..];
    }
    out.push_str(rest);
    out
}

/// The parameter names an expression reads as `variables.params.NAME`, each
/// with whether it only reads it under `has(variables.params.NAME)` somewhere
/// (a guard: a missing parameter is then no error).
fn params_read(expr: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let path = "variables.params.";
    for (i, _) in expr.match_indices(path) {
        let name: String = expr[i + path.len()..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if name.is_empty() || out.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let guarded = expr.contains(&format!("has({path}{name})"));
        out.push((name, guarded));
    }
    out
}

/// The ConstraintTemplate among `objs` that defines constraint kind `kind`, and
/// its K8sNativeValidation source, if it has one.
fn cel_template<'o>(objs: &'o [Obj<'o>], kind: &str) -> Option<(&'o Obj<'o>, Option<&'o Value>)> {
    let t = objs.iter().find(|o| {
        o.kind() == "ConstraintTemplate"
            && o.v()["apiVersion"].as_str().unwrap_or("").starts_with("templates.gatekeeper.sh/")
            && o.v()["spec"]["crd"]["spec"]["names"]["kind"].as_str() == Some(kind)
    })?;
    let source = t.v()["spec"]["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["target"].as_str() == Some("admission.k8s.gatekeeper.sh"))
        .flat_map(|t| t["code"].as_array().into_iter().flatten())
        .find(|c| c["engine"].as_str() == Some("K8sNativeValidation"))
        .map(|c| &c["source"]);
    Some((t, source))
}

/// A Gatekeeper constraint whose template has a K8sNativeValidation source →
/// khc custom rules, one per validation: the template's `variables` inlined in
/// order, `variables.anyObject` as `object` (khc's custom rules judge CREATE and
/// UPDATE, where Gatekeeper's `anyObject` is `object`), `variables.params` as
/// the constraint's `parameters` written as a CEL literal. Returns the rules and
/// the changes to report, or why the constraint cannot be imported.
fn gatekeeper_cel(constraint: &Obj<'_>, source: &Value, kinds: &[String]) -> Result<(Vec<String>, Vec<String>), String> {
    let mut resources = Vec::new();
    for k in kinds {
        let r = resource_of_kind(k).ok_or_else(|| format!("the kind `{k}` (khc's import knows the resource of built-in kinds only)"))?;
        if !resources.contains(&r) {
            resources.push(r);
        }
    }
    if resources.is_empty() {
        return Err("a constraint that matches no kind (Gatekeeper then judges every kind; khc's custom rules name theirs)".into());
    }
    let params = constraint.v()["spec"]["parameters"].clone();
    let params = if params.is_null() { Value::Object(Default::default()) } else { params };
    let literal = format!("({})", serde_json::to_string(&params).map_err(|e| format!("parameters that do not convert: {e}"))?);
    let mut changes = Vec::new();
    // The template's variables, each inlined into the later ones.
    let mut vars: Vec<(String, String)> = Vec::new();
    for v in source["variables"].as_array().into_iter().flatten() {
        let (Some(name), Some(expr)) = (v["name"].as_str(), v["expression"].as_str()) else { return Err("a variable without a name or expression".into()) };
        let mut e = expr.to_string();
        for (n, body) in &vars {
            e = replace_path(&e, &format!("variables.{n}"), &format!("({body})"));
        }
        vars.push((name.to_string(), e));
    }
    if !vars.is_empty() {
        changes.push(format!(
            "the template's variables ({}) are inlined into each expression (a custom rule has no variables)",
            vars.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    let validations = source["validations"].as_array().filter(|a| !a.is_empty()).ok_or("a K8sNativeValidation source without validations")?;
    let base = crate::label_of(constraint.name());
    let base = if khc_rules::RuleId::from_name(&base).is_some() { format!("gatekeeper-{base}") } else { base };
    let fallback = format!("denied by Gatekeeper constraint {} ({})", constraint.name(), constraint.kind());
    let mut out = Vec::new();
    for (i, v) in validations.iter().enumerate() {
        let expr = v["expression"].as_str().ok_or("a validation whose expression is not a string")?;
        let mut e = expr.to_string();
        for (n, body) in vars.iter().rev() {
            e = replace_path(&e, &format!("variables.{n}"), &format!("({body})"));
        }
        for (name, guarded) in params_read(&e) {
            if !guarded && params.get(&name).is_none() {
                return Err(format!(
                    "the template reads `params.{name}`, which the constraint does not give (the expression would fail and reject every object)"
                ));
            }
        }
        let e = replace_path(&e, "variables.anyObject", "object");
        // Checked before the parameters are written in (their strings are data).
        let probe = replace_path(&e, "variables.params", "");
        if let Some(rest) = probe.split("variables.").nth(1) {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            return Err(format!("the expression reads `variables.{name}`, which the template does not define"));
        }
        if replace_path(&probe, "params", "").len() != probe.len() {
            return Err("the expression reads `params` directly (khc's custom rules bind no parameter object)".into());
        }
        let e = replace_path(&e, "variables.params", &literal);
        khc_rules::cel::parse_check(&e).map_err(|err| format!("a CEL expression that does not parse: {err}"))?;
        let message = match (v["message"].as_str(), v["messageExpression"].as_str()) {
            (Some(m), _) => m.to_string(),
            (None, Some(_)) => {
                changes
                    .push(format!("validations[{i}]: `messageExpression` is replaced by the fixed message \"{fallback}\" (a custom rule's message is text)"));
                fallback.clone()
            }
            (None, None) => fallback.clone(),
        };
        let name = if validations.len() == 1 { base.clone() } else { format!("{base}-{}", i + 1) };
        out.push(format!("rule {name} {{\n  kinds {}\n  cel {}\n  message {}\n}}", resources.join(" "), q(&e), q(&message)));
    }
    Ok((out, changes))
}

/// The mode statement for a scope (deny unless every imported rule only audits).
fn push(cx: &mut Ctx<'_>, o: &Obj<'_>, tenants: &[String], stmts: Vec<String>, audit: bool) {
    if audit {
        cx.change(
            o,
            None,
            "an Audit/dryrun/warn policy imported as a denying rule (khc's `mode` is per scope): write `mode warn audit` in the `admission` block to pilot it",
        );
    }
    if tenants.is_empty() {
        for s in stmts {
            if !cx.cluster_admission.contains(&s) {
                cx.cluster_admission.push(s);
            }
        }
    } else {
        for t in tenants {
            let t = cx.tenants.get_mut(t).expect("tenant");
            for s in &stmts {
                if !t.admission.contains(s) {
                    t.admission.push(s.clone());
                }
            }
        }
    }
}

/// The tenants of a constraint's `match.namespaces` (none: the cluster), when
/// each is the only namespace of an imported tenant.
fn constraint_tenants(cx: &Ctx<'_>, nss: &[String]) -> Option<Vec<String>> {
    let mut tenants = Vec::new();
    for ns in nss {
        match cx.tenant(ns) {
            Some(t) if cx.tenants[t].namespaces.len() == 1 => tenants.push(t.to_string()),
            _ => return None,
        }
    }
    Some(tenants)
}

/// Kyverno ClusterPolicies/Policies and Gatekeeper constraints.
pub(crate) fn import<'o>(cx: &mut Ctx<'_>, objs: &'o [Obj<'o>]) {
    for o in objs {
        let api = o.v()["apiVersion"].as_str().unwrap_or("");
        if api.starts_with("kyverno.io/") && matches!(o.kind(), "ClusterPolicy" | "Policy") {
            let spec = &o.v()["spec"];
            let policy_audit = spec["validationFailureAction"].as_str().is_some_and(|a| a.eq_ignore_ascii_case("audit"));
            let tenants: Vec<String> = match o.namespace() {
                Some(ns) => cx.tenant(ns).map(|t| vec![t.to_string()]).unwrap_or_default(),
                None => Vec::new(),
            };
            for (i, rule) in spec["rules"].as_array().cloned().unwrap_or_default().iter().enumerate() {
                let field = Some(format!("spec.rules[{i}]"));
                if rule["validate"].is_null() {
                    cx.leave(o, field, "not a validate rule (mutate, generate and verifyImages are not khc's)");
                    continue;
                }
                let kinds: Vec<String> = rule["match"]["any"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(rule["match"]["all"].as_array().into_iter().flatten())
                    .flat_map(|m| strings(&m["resources"]["kinds"]))
                    .chain(strings(&rule["match"]["resources"]["kinds"]))
                    .collect();
                // Rules selecting namespaces (or excluding) cannot be expressed: khc
                // scopes rules by tenant. Each path below says so in its own order.
                let matched_ns = rule["match"]["any"].as_array().into_iter().flatten().any(|m| !m["resources"]["namespaces"].is_null())
                    || !rule["match"]["resources"]["namespaces"].is_null()
                    || !rule["exclude"].is_null();
                let audit = policy_audit || rule["validate"]["failureAction"].as_str().is_some_and(|a| a.eq_ignore_ascii_case("audit"));
                if !rule["validate"]["cel"].is_null() {
                    // A CEL validation → khc custom rules (same `object`, `oldObject`,
                    // `request` variables as a ValidatingAdmissionPolicy).
                    if matched_ns {
                        cx.leave(o, field, "namespace selection or `exclude` (khc scopes rules by tenant)");
                        continue;
                    }
                    match kyverno_cel(rule, &kinds) {
                        Ok(stmts) => {
                            if kinds.iter().any(|k| k == "Pod") {
                                cx.change(o, field.clone(), "a CEL rule on Pods imported as a custom rule on `pods`: Kyverno's autogen rules for the controllers' templates are not imported");
                            }
                            push(cx, o, &tenants, stmts, audit)
                        }
                        Err(reason) => cx.leave(o, field, reason),
                    }
                    continue;
                }
                if kinds.iter().any(|k| k != "Pod") {
                    cx.leave(o, field, format!("matches {kinds:?}: khc's rules judge Pods (and their controllers' templates)"));
                    continue;
                }
                if matched_ns {
                    cx.leave(o, field, "namespace selection or `exclude` (khc scopes rules by tenant)");
                    continue;
                }
                match kyverno_rule(rule) {
                    Ok(stmts) if stmts.len() == 1 && stmts[0].starts_with("pod-security ") => {
                        let level = stmts[0].trim_start_matches("pod-security ").to_string();
                        if tenants.is_empty() {
                            cx.pss_floor = Some((level.clone(), !audit));
                            if audit {
                                cx.leave(o, field, "an Audit podSecurity rule: raise the tenants' `pod-security … { audit LEVEL }` by hand");
                            } else {
                                cx.change(o, field, format!("imported as `pod-security {level}` (at least) on every tenant: the same Pod Security Standards, enforced by Pod Security Admission"));
                            }
                        } else {
                            cx.leave(o, field, "a namespaced podSecurity rule: set the tenant's `pod-security` level");
                        }
                    }
                    Ok(stmts) => push(cx, o, &tenants, stmts, audit),
                    Err(reason) => cx.leave(o, field, reason),
                }
            }
        } else if api.starts_with("templates.gatekeeper.sh/") && o.kind() == "ConstraintTemplate" {
            // A template is imported through its constraints (their parameters
            // complete its CEL); one without any is reported.
            let kind = o.v()["spec"]["crd"]["spec"]["names"]["kind"].as_str().unwrap_or("");
            let used = objs.iter().any(|c| c.kind() == kind && c.v()["apiVersion"].as_str().unwrap_or("").starts_with("constraints.gatekeeper.sh/"));
            if !used {
                cx.leave(o, None, format!("no constraint of kind `{kind}` is in the input (a template alone enforces nothing)"));
            }
        } else if api.starts_with("constraints.gatekeeper.sh/") {
            let spec = &o.v()["spec"];
            let action = spec["enforcementAction"].as_str().unwrap_or("deny");
            let kinds: Vec<String> = spec["match"]["kinds"].as_array().into_iter().flatten().flat_map(|k| strings(&k["kinds"])).collect();
            // A template with a CEL source, unless the constraint is one of the
            // common Pod patterns khc has a built-in rule for.
            let builtin = kinds.iter().all(|k| k == "Pod") && gatekeeper(o.kind(), &spec["parameters"]).is_ok_and(|s| !s.is_empty());
            if let Some((_, Some(source))) = cel_template(objs, o.kind()).filter(|_| !builtin) {
                if !spec["match"]["excludedNamespaces"].is_null()
                    || !spec["match"]["namespaceSelector"].is_null()
                    || !spec["match"]["labelSelector"].is_null()
                    || spec["match"]["scope"].as_str().is_some_and(|s| s != "*" && s != "Namespaced")
                {
                    cx.leave(o, Some("spec.match".into()), "excluded namespaces, selectors or a cluster scope (khc scopes rules by tenant)");
                    continue;
                }
                let Some(tenants) = constraint_tenants(cx, &strings(&spec["match"]["namespaces"])) else {
                    cx.leave(o, Some("spec.match.namespaces".into()), "a namespace that is not the only namespace of an imported tenant");
                    continue;
                };
                match gatekeeper_cel(o, source, &kinds) {
                    Ok((stmts, changes)) => {
                        for c in changes {
                            cx.change(o, None, c);
                        }
                        push(cx, o, &tenants, stmts, action != "deny");
                    }
                    Err(reason) => cx.leave(o, None, reason),
                }
                continue;
            }
            if kinds.iter().any(|k| k != "Pod") {
                cx.leave(o, Some("spec.match.kinds".into()), format!("matches {kinds:?}: khc's rules judge Pods (and their controllers' templates)"));
                continue;
            }
            let nss = strings(&spec["match"]["namespaces"]);
            if !spec["match"]["excludedNamespaces"].is_null() || !spec["match"]["namespaceSelector"].is_null() || !spec["match"]["labelSelector"].is_null() {
                cx.leave(o, Some("spec.match".into()), "excluded namespaces or selectors (khc scopes rules by tenant)");
                continue;
            }
            let Some(tenants) = constraint_tenants(cx, &nss) else {
                cx.leave(o, Some("spec.match.namespaces".into()), "a namespace that is not the only namespace of an imported tenant");
                continue;
            };
            match gatekeeper(o.kind(), &spec["parameters"]) {
                Ok(stmts) if !stmts.is_empty() => push(cx, o, &tenants, stmts, action != "deny"),
                Ok(_) => cx.leave(o, Some("spec.parameters".into()), "parameters that require nothing"),
                Err(reason) => cx.leave(o, Some("spec.parameters".into()), reason),
            }
        }
    }
}
