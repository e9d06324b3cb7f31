//! `pod-security LEVEL [{ … }]`: the Pod Security Admission labels of a tenant's
//! namespaces (SPEC.md section 5).

use crate::context::{At, Ctx};
use crate::model::*;
use crate::schema::BlockKind;
use crate::values;
use khc_syntax::{Span, ValueKind};

/// A Pod Security level word (`privileged`, `baseline`, `restricted`), or an error.
pub(crate) fn level(cx: &mut Ctx, at: &At<'_>, v: &str, span: Span) -> Option<Level> {
    match v {
        "privileged" => Some(Level::Privileged),
        "baseline" => Some(Level::Baseline),
        "restricted" => Some(Level::Restricted),
        _ => {
            let d = cx.error(at, span, "invalid-value", format!("unknown Pod Security level `{v}`"));
            d.notes.push("help: levels are `privileged`, `baseline` and `restricted`".into());
            None
        }
    }
}

/// `pod-security LEVEL [{ enforce … audit … warn … version … }]`.
pub(crate) fn pod_security(cx: &mut Ctx, at: &At<'_>, minor: u32, namespaces: &[String]) -> PodSecurity {
    let mut ps = PodSecurity {
        enforce: Level::Restricted,
        audit: Level::Restricted,
        warn: Level::Restricted,
        version: format!("v1.{minor}"),
        namespace_enforce: std::collections::BTreeMap::new(),
        stand_ins: std::collections::BTreeMap::new(),
    };
    if !at.s.args.is_empty() || at.s.block.is_none() {
        if let Some((l, span)) = cx.one_word(at, "a level (`privileged`, `baseline` or `restricted`)") {
            if let Some(l) = level(cx, at, &l, span) {
                ps.enforce = l;
                ps.audit = l;
                ps.warn = l;
            }
        }
    }
    let mut enforce_span = at.s.span;
    for c in at.children() {
        cx.no_block(&c);
        match (c.name(), c.s.name.quoted) {
            (mode @ ("enforce" | "audit" | "warn"), false) => {
                let Some((l, span)) = cx.one_word(&c, "a level") else { continue };
                let Some(l) = level(cx, &c, &l, span) else { continue };
                match mode {
                    "enforce" => {
                        ps.enforce = l;
                        enforce_span = c.s.span;
                    }
                    "audit" => ps.audit = l,
                    _ => ps.warn = l,
                }
            }
            ("version", false) => ps.version = version(cx, &c).unwrap_or(ps.version),
            ("namespace", false) => namespace_level(cx, &c, namespaces, &mut ps),
            _ => cx.unknown_statement(&c, BlockKind::PodSecurity),
        }
    }
    if ps.enforce == Level::Privileged {
        cx.warning(at, enforce_span, "risky", "enforcing `privileged` allows host access and privileged containers")
            .notes
            .push("help: enforce `baseline` at least, and audit/warn `restricted`".into());
    }
    warn_weaker_modes(cx, at, ps.enforce, ps.audit, ps.warn);
    ps
}

/// `namespace NS LEVEL`: the level enforced in one of the tenant's namespaces.
fn namespace_level(cx: &mut Ctx, c: &At<'_>, namespaces: &[String], ps: &mut PodSecurity) {
    let args = c.s.flat_args();
    let words: Vec<(String, Span)> = args.iter().filter_map(|v| crate::context::word(v).map(|w| (w.to_string(), v.span))).collect();
    let [(ns, ns_span), (l, l_span)] = words.as_slice() else {
        cx.error(c, c.s.span, "bad-argument", "`namespace` takes one of the tenant's namespaces and a level, e.g. `namespace payments-legacy baseline`");
        return;
    };
    if args.len() != 2 {
        cx.error(c, c.s.span, "bad-argument", "`namespace` takes one of the tenant's namespaces and a level, e.g. `namespace payments-legacy baseline`");
        return;
    }
    if !namespaces.contains(ns) {
        let d = cx.error(c, *ns_span, "unknown-name", format!("`{ns}` is not a namespace of this tenant"));
        match values::suggest(ns, namespaces.iter().map(String::as_str)) {
            Some(s) => d.suggest(s),
            None => d.notes.push(format!("note: the tenant's namespaces: {}", namespaces.join(", "))),
        }
        return;
    }
    let Some(level) = level(cx, c, l, *l_span) else { return };
    if ps.namespace_enforce.insert(ns.clone(), level).is_some() {
        cx.error(c, *ns_span, "duplicate", format!("the level of namespace `{ns}` is set twice"));
    }
    if level == Level::Privileged {
        cx.warning(c, *l_span, "risky", format!("enforcing `privileged` in namespace `{ns}` allows host access and privileged containers"))
            .notes
            .push("help: prefer an `exception` that names the workloads and rules that need it: khc then keeps the level for every other pod".into());
    }
}

/// `version 1.31` or `version latest` in a `pod-security` block: the label value
/// (`v1.31`, `latest`), or an error.
pub(crate) fn version(cx: &mut Ctx, c: &At<'_>) -> Option<String> {
    let text = match c.s.flat_args().as_slice() {
        [v] => match &v.kind {
            ValueKind::Number { digits, unit } if unit.is_empty() => Some((digits.clone(), v.span)),
            ValueKind::Name(s) | ValueKind::Str(s) => Some((s.clone(), v.span)),
            _ => None,
        },
        _ => None,
    };
    match text {
        Some((s, _)) if s == "latest" => Some(s),
        Some((s, span)) => match values::parse_version(&s) {
            Some(m) => Some(format!("v1.{m}")),
            None => {
                cx.error(c, span, "invalid-value", format!("`{s}` is not a version")).notes.push("help: write `1.31` or `latest`".into());
                None
            }
        },
        None => {
            cx.error(c, c.s.span, "bad-argument", "`version` takes one version, e.g. `version 1.31` or `version latest`");
            None
        }
    }
}

/// Auditing or warning at a level weaker than the enforced one can never fire: a warning.
pub(crate) fn warn_weaker_modes(cx: &mut Ctx, at: &At<'_>, enforce: Level, audit: Level, warn: Level) {
    for (mode, l) in [("audit", audit), ("warn", warn)] {
        if l < enforce {
            let msg = format!("`{mode} {}` is weaker than `enforce {}` and will never fire", l.as_str(), enforce.as_str());
            cx.warning(at, at.s.span, "conflict", msg);
        }
    }
}
