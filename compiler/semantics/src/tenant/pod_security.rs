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
pub(crate) fn pod_security(cx: &mut Ctx, at: &At<'_>, minor: u32) -> PodSecurity {
    let mut ps = PodSecurity { enforce: Level::Restricted, audit: Level::Restricted, warn: Level::Restricted, version: format!("v1.{minor}") };
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
