//! `quota { … }` and `limits { … }`: a ResourceQuota and a LimitRange in each of a
//! tenant's namespaces (SPEC.md section 10).

use crate::context::{word, At, Ctx};
use crate::model::*;
use crate::schema::{BlockKind, QUOTA_KEYS};
use crate::values;
use khc_syntax::{Diagnostic, Span, Value, ValueKind};
use std::collections::BTreeMap;

/// Reads a quantity value: a number with a Kubernetes suffix.
fn quantity(cx: &mut Ctx, at: &At<'_>, v: &Value) -> Option<(String, i128)> {
    let (digits, unit) = match &v.kind {
        ValueKind::Number { digits, unit } => (digits.clone(), unit.clone()),
        ValueKind::Str(s) => {
            let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
            (s[..split].to_string(), s[split..].to_string())
        }
        _ => (String::new(), String::new()),
    };
    match values::parse_quantity(&digits, &unit) {
        Some(n) => Some((format!("{digits}{unit}"), n)),
        None => {
            let text = v.as_text().unwrap_or_default();
            let d = cx.error(at, v.span, "invalid-value", format!("`{text}` is not a quantity"));
            d.notes.push("help: quantities look like `500m`, `2`, `256Mi`, `1Gi` (suffixes m, k, M, G, T, Ki, Mi, Gi, Ti)".into());
            if matches!(unit.as_str(), "GB" | "MB" | "Gb" | "Mb" | "gi" | "mi" | "KB") {
                d.notes.push("note: Kubernetes writes `Gi`/`Mi` (binary) or `G`/`M` (decimal)".into());
            }
            None
        }
    }
}

pub(crate) fn quota(cx: &mut Ctx, at: &At<'_>) -> Option<Quota> {
    cx.no_args(at);
    let mut hard = BTreeMap::new();
    for c in at.children() {
        cx.no_block(&c);
        let Some((_, k8s, is_quantity)) = QUOTA_KEYS.iter().find(|k| k.0 == c.name() && !c.s.name.quoted) else {
            cx.unknown_statement(&c, BlockKind::Quota);
            continue;
        };
        let args = c.s.flat_args();
        let [v] = args.as_slice() else {
            let d = cx.error(&c, c.s.span, "bad-argument", format!("`{}` takes one value", c.name()));
            if args.get(1).is_some_and(|a| matches!(a.kind, ValueKind::Name(_))) {
                d.notes.push("help: to write several statements on one line, separate them with `;`".into());
            }
            continue;
        };
        let value = if *is_quantity {
            quantity(cx, &c, v).map(|(s, _)| s)
        } else {
            match &v.kind {
                ValueKind::Number { digits, unit } if unit.is_empty() && !digits.contains('.') => Some(digits.clone()),
                _ => {
                    cx.error(&c, v.span, "invalid-value", format!("`{}` is a count: write a whole number", c.name()));
                    None
                }
            }
        };
        if let Some(value) = value {
            if hard.insert(k8s.to_string(), value).is_some() {
                cx.error(&c, c.s.name.span, "duplicate", format!("`{}` is set twice", c.name()));
            }
        }
    }
    Some(Quota { origin: at.origin(), hard })
}

pub(crate) fn limits(cx: &mut Ctx, at: &At<'_>) -> Option<Limits> {
    cx.no_args(at);
    let mut l = Limits { origin: at.origin(), default: BTreeMap::new(), request: BTreeMap::new(), max: BTreeMap::new(), min: BTreeMap::new() };
    let mut numeric: BTreeMap<(&str, String), (i128, Span)> = BTreeMap::new();
    let mut kind_ats = Vec::new();
    for c in at.children() {
        cx.no_block(&c);
        let kind = match (c.name(), c.s.name.quoted) {
            ("default", false) => "default",
            ("request", false) => "request",
            ("max", false) => "max",
            ("min", false) => "min",
            _ => {
                cx.unknown_statement(&c, BlockKind::Limits);
                continue;
            }
        };
        kind_ats.push(c);
        let args = c.s.flat_args();
        if args.is_empty() || args.len() % 2 != 0 {
            cx.error(&c, c.s.span, "bad-argument", format!("`{kind}` takes pairs: `{kind} cpu 500m memory 256Mi`"));
            continue;
        }
        for pair in args.chunks(2) {
            let res = word(pair[0]).unwrap_or("");
            if res != "cpu" && res != "memory" && res != "ephemeral-storage" {
                cx.error(&c, pair[0].span, "invalid-value", format!("`{res}` is not `cpu`, `memory` or `ephemeral-storage`"));
                continue;
            }
            let Some((text, n)) = quantity(cx, &c, pair[1]) else { continue };
            let map = match kind {
                "default" => &mut l.default,
                "request" => &mut l.request,
                "max" => &mut l.max,
                _ => &mut l.min,
            };
            if map.insert(res.to_string(), text).is_some() {
                cx.error(&c, pair[0].span, "duplicate", format!("`{kind} {res}` is set twice"));
            }
            numeric.insert((kind, res.to_string()), (n, pair[1].span));
        }
    }
    // min ≤ request ≤ default ≤ max, per resource.
    let order = ["min", "request", "default", "max"];
    for res in ["cpu", "memory", "ephemeral-storage"] {
        let present: Vec<(&str, i128, Span)> = order.iter().filter_map(|k| numeric.get(&(*k, res.to_string())).map(|(n, s)| (*k, *n, *s))).collect();
        for w in present.windows(2) {
            let ((ka, a, sa), (kb, b, sb)) = (w[0], w[1]);
            if a > b {
                let d = Diagnostic::error("conflict", at.file(), sb, format!("{kb} {res} is below the {ka} {res}"))
                    .with_label(format!("{kb} {res} is here"))
                    .with_secondary(at.file(), sa, format!("{ka} {res} is here"))
                    .with_note("limits must satisfy min ≤ request ≤ default ≤ max");
                cx.push(d);
            }
        }
    }
    Some(l)
}
