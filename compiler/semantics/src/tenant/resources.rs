//! `quota { … }` and `limits { … }`: a ResourceQuota and a LimitRange in each of a
//! tenant's namespaces (SPEC.md section 10).

use crate::context::{word, At, Ctx};
use crate::model::*;
use crate::schema::{BlockKind, QUOTA_BUDGET_STATEMENTS, QUOTA_KEYS};
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

/// The ResourceQuota key of a quota statement name (`cpu` → `requests.cpu`)
/// and whether it is a quantity.
fn quota_key(name: &str) -> Option<(&'static str, bool)> {
    QUOTA_KEYS.iter().find(|k| k.0 == name).map(|k| (k.1, k.2))
}

pub(crate) fn quota(cx: &mut Ctx, at: &At<'_>) -> Option<Quota> {
    cx.no_args(at);
    let mut hard = BTreeMap::new();
    let mut budget: Option<Budget> = None;
    // `share` (Err: the weight) and `namespace` (Ok: the amounts) statements,
    // attached to the budget once the whole block is read.
    let mut budget_parts = Vec::new();
    for c in at.children() {
        cx.no_block(&c);
        if !c.s.name.quoted && QUOTA_BUDGET_STATEMENTS.contains(&c.name()) {
            let args = c.s.flat_args();
            match c.name() {
                "budget" => {
                    if args.len() != 1 || word(args[0]) != Some("tenant") {
                        let span = args.first().map_or(c.s.span, |a| a.span);
                        cx.error(&c, span, "bad-argument", "`budget` takes `tenant`: `budget tenant`");
                    } else if budget.replace(Budget::default()).is_some() {
                        cx.error(&c, c.s.name.span, "duplicate", "`budget` is set twice");
                    }
                }
                "share" => {
                    let weight = match args.as_slice() {
                        [ns, w] => match (word(ns), &w.kind) {
                            (Some(ns), ValueKind::Number { digits, unit }) if unit.is_empty() => {
                                digits.parse::<u32>().ok().filter(|n| (1..=1_000_000).contains(n)).map(|n| (ns.to_string(), n))
                            }
                            _ => None,
                        },
                        _ => None,
                    };
                    match weight {
                        Some((ns, n)) => budget_parts.push((c.s.span, ns, Err(n))),
                        None => {
                            cx.error(&c, c.s.span, "bad-argument", "`share` takes a namespace and a whole weight from 1 to 1000000: `share shop-prod 3`");
                        }
                    }
                }
                _ => {
                    let Some(ns) = args.first().and_then(|a| word(a)) else {
                        cx.error(&c, c.s.span, "bad-argument", "`namespace` takes a namespace and amounts: `namespace shop-batch cpu 1 memory 2Gi`");
                        continue;
                    };
                    let pairs = &args[1..];
                    if pairs.is_empty() || pairs.len() % 2 != 0 {
                        cx.error(&c, c.s.span, "bad-argument", "`namespace` takes a namespace and amounts: `namespace shop-batch cpu 1 memory 2Gi`");
                        continue;
                    }
                    let mut amounts = BTreeMap::new();
                    for pair in pairs.chunks(2) {
                        let key = word(pair[0]).and_then(quota_key);
                        let Some((k8s, is_quantity)) = key else {
                            let name = pair[0].as_text().unwrap_or_default();
                            cx.error(&c, pair[0].span, "invalid-value", format!("`{name}` is not a quota amount (`cpu`, `memory`, `pods`, …)"));
                            continue;
                        };
                        let value = if is_quantity { quantity(cx, &c, pair[1]).map(|(s, _)| s) } else { count(cx, &c, word(pair[0]).unwrap_or(""), pair[1]) };
                        if let Some(v) = value {
                            if amounts.insert(k8s.to_string(), v).is_some() {
                                cx.error(&c, pair[0].span, "duplicate", format!("`{}` is set twice for `{ns}`", word(pair[0]).unwrap_or("")));
                            }
                        }
                    }
                    budget_parts.push((c.s.span, ns.to_string(), Ok(amounts)));
                }
            }
            continue;
        }
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
        let value = if *is_quantity { quantity(cx, &c, v).map(|(s, _)| s) } else { count(cx, &c, c.name(), v) };
        if let Some(value) = value {
            if hard.insert(k8s.to_string(), value).is_some() {
                cx.error(&c, c.s.name.span, "duplicate", format!("`{}` is set twice", c.name()));
            }
        }
    }
    for (span, ns, part) in budget_parts {
        let Some(b) = budget.as_mut() else {
            cx.error(at, span, "conflict", "`share` and `namespace` split a tenant budget: add `budget tenant`")
                .notes
                .push("note: without `budget tenant`, each namespace gets the quota's amounts".into());
            continue;
        };
        let dup = match part {
            Err(weight) => b.shares.insert(ns.clone(), (weight, span)).is_some(),
            Ok(amounts) => b.explicit.insert(ns.clone(), (amounts, span)).is_some(),
        };
        if dup {
            cx.error(at, span, "duplicate", format!("namespace `{ns}` has two shares of the budget"));
        }
    }
    Some(Quota { origin: at.origin(), hard, budget, per_namespace: BTreeMap::new() })
}

/// Reads a count value (`pods 10`): a whole number.
fn count(cx: &mut Ctx, at: &At<'_>, name: &str, v: &Value) -> Option<String> {
    match &v.kind {
        ValueKind::Number { digits, unit } if unit.is_empty() && !digits.contains('.') => Some(digits.clone()),
        _ => {
            cx.error(at, v.span, "invalid-value", format!("`{name}` is a count: write a whole number"));
            None
        }
    }
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

/// A quota amount in exact integer units: millicores for CPU keys, else whole
/// units (bytes, objects), rounded down; with the suffix the source wrote.
fn amount(key: &str, value: &str) -> Option<(i128, String)> {
    let split = value.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let nanos = values::parse_quantity(digits, unit)?;
    let per = if key.ends_with(".cpu") { 1_000_000 } else { 1_000_000_000 };
    Some((nanos / per, unit.to_string()))
}

/// Splits a tenant budget (`budget tenant`) across the tenant's namespaces
/// into [`Quota::per_namespace`] (SPEC.md section 10). `unscaled` is the
/// budget as written; `q.hard` the budget after `quota-scale`. Explicit
/// amounts (`namespace NS …`) must add up to at most the written budget (an
/// error otherwise); under `quota-scale` each is scaled in proportion to the
/// budget, rounding down. What remains of each amount is split among the
/// namespaces without an explicit value for it by weight (`share`, 1 when not written), rounding each namespace's amount down
/// to the millicore, byte or object, so the namespaces never hold more than the
/// budget. All arithmetic is exact (integers, no floats).
pub(crate) fn split_budget(cx: &mut Ctx, q: &mut Quota, namespaces: &[String], unscaled: &BTreeMap<String, String>) {
    let Some(b) = q.budget.clone() else { return };
    let file = q.origin.file.clone();
    let mut ok = true;
    for (ns, span) in b.shares.iter().map(|(ns, (_, s))| (ns, *s)).chain(b.explicit.iter().map(|(ns, (_, s))| (ns, *s))) {
        if !namespaces.contains(ns) {
            let d = Diagnostic::error("unknown-name", &file, span, format!("`{ns}` is not a namespace of this tenant"))
                .with_label("the budget is split across the tenant's namespaces")
                .with_note(format!("the tenant's namespaces are {}", namespaces.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")));
            cx.push(d);
            ok = false;
        }
    }
    for (ns, (amounts, span)) in &b.explicit {
        for key in amounts.keys() {
            if !q.hard.contains_key(key) {
                cx.push(
                    Diagnostic::error("conflict", &file, *span, format!("namespace `{ns}` sets `{key}` but the tenant budget has no `{key}`"))
                        .with_label("explicit amounts are shares of the budget")
                        .with_help("add the amount to the quota, or remove it here"),
                );
                ok = false;
            }
        }
    }
    let weight = |ns: &str| i128::from(b.shares.get(ns).map_or(1, |(w, _)| *w));
    let mut per: BTreeMap<String, BTreeMap<String, String>> = namespaces.iter().map(|ns| (ns.clone(), BTreeMap::new())).collect();
    for (key, value) in &q.hard {
        let (Some((budget, unit)), Some((written, _))) = (amount(key, value), unscaled.get(key).and_then(|v| amount(key, v))) else { continue };
        // Explicit amounts, checked against the budget as written.
        let mut explicit_sum = 0i128;
        let mut explicit = Vec::new();
        let mut reported = false;
        // In source order, so the error points at the statement that passes the budget.
        let mut in_order: Vec<_> = b.explicit.iter().collect();
        in_order.sort_by_key(|(_, (_, span))| span.start);
        for (ns, (amounts, span)) in in_order {
            if let Some((n, _)) = amounts.get(key).and_then(|v| amount(key, v)) {
                explicit_sum += n;
                explicit.push((ns, n));
                if explicit_sum > written && !reported {
                    reported = true;
                    let shown = |n: i128| crate::overrides::format_amount(key, &unit, n);
                    cx.push(
                        Diagnostic::error("conflict", &file, *span, format!("the namespaces' `{key}` add up to more than the tenant budget"))
                            .with_label(format!("the explicit amounts reach {} here; the budget is {}", shown(explicit_sum), shown(written)))
                            .with_help("lower the explicit amounts or raise the budget"),
                    );
                    ok = false;
                }
            }
        }
        // Under `quota-scale`, explicit amounts scale with the budget (rounding down).
        let scaled = |n: i128| if written == 0 { 0 } else { n * budget / written };
        let mut left = budget;
        for (ns, n) in explicit {
            let n = scaled(n);
            left -= n;
            if let Some(m) = per.get_mut(ns.as_str()) {
                m.insert(key.clone(), crate::overrides::format_amount(key, &unit, n));
            }
        }
        let left = left.max(0);
        // The namespaces without an explicit amount of this key share the rest.
        let others: Vec<&String> = namespaces.iter().filter(|ns| !b.explicit.get(*ns).is_some_and(|(a, _)| a.contains_key(key))).collect();
        let total_weight: i128 = others.iter().map(|ns| weight(ns)).sum();
        for ns in &others {
            let n = if total_weight == 0 { 0 } else { left * weight(ns) / total_weight };
            per.get_mut(ns.as_str()).expect("a tenant namespace").insert(key.clone(), crate::overrides::format_amount(key, &unit, n));
        }
    }
    if ok {
        q.per_namespace = per;
    }
}
