//! Per-cluster overrides of what shared tenant modules declare (SPEC.md section 4):
//! `quota-scale FACTOR` scales every tenant's quota amounts, `admission-mode …`
//! replaces the actions of every admission policy of the cluster. They let one set
//! of tenant files serve a staging and a production cluster.

use crate::context::{word, At, Ctx};
use crate::model::{Action, Quota};
use crate::values;
use khc_syntax::ValueKind;

/// The largest `quota-scale` factor.
pub const MAX_QUOTA_SCALE: u32 = 100;

/// The quota keys `quota-scale` scales: compute and storage amounts and the pod
/// count (capacity). Object counts (`services`, `secrets`, `configmaps`, `pvcs`,
/// `load-balancers`, `node-ports`) describe the shape of the application, which is
/// the same in every cluster, and are kept as written.
pub const SCALED_QUOTA_KEYS: &[&str] =
    &["requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "requests.storage", "requests.ephemeral-storage", "pods"];

/// Parses `quota-scale FACTOR`: a decimal number with at most three decimals,
/// greater than 0 and at most [`MAX_QUOTA_SCALE`]. Returns the factor in
/// thousandths (`0.25` → 250).
pub(crate) fn quota_scale(cx: &mut Ctx, at: &At<'_>) -> Option<u32> {
    cx.no_block(at);
    let args = at.s.flat_args();
    let [v] = args.as_slice() else {
        cx.error(at, at.s.span, "bad-argument", "`quota-scale` takes one factor, e.g. `quota-scale 0.25`");
        return None;
    };
    let text = match &v.kind {
        ValueKind::Number { digits, unit } if unit.is_empty() => digits.clone(),
        ValueKind::Str(s) => s.clone(),
        _ => {
            cx.error(at, v.span, "bad-argument", format!("expected a factor such as `0.5` or `2`, found {}", v.describe()));
            return None;
        }
    };
    match parse_milli(&text) {
        Some(m) if m > 0 && m <= MAX_QUOTA_SCALE * 1000 => Some(m),
        _ => {
            cx.error(at, v.span, "invalid-value", format!("`{text}` is not a quota scale factor"))
                .notes
                .push(format!("help: write a number greater than 0 and at most {MAX_QUOTA_SCALE}, with at most three decimals, e.g. `0.25` or `2`"));
            None
        }
    }
}

/// `1.25` → 1250; `None` for anything but digits with an optional fraction of at
/// most three digits.
fn parse_milli(text: &str) -> Option<u32> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty() || int.len() > 6 || frac.len() > 3 || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit()) || text.ends_with('.') {
        return None;
    }
    let mut m: u32 = int.parse::<u32>().ok()? * 1000;
    if !frac.is_empty() {
        m += frac.parse::<u32>().ok()? * 10u32.pow(3 - frac.len() as u32);
    }
    Some(m)
}

/// Parses `admission-mode deny|warn|audit …` (the same words and rules as `mode`
/// in an `admission` block). The actions come back sorted.
pub(crate) fn admission_mode(cx: &mut Ctx, at: &At<'_>) -> Option<Vec<Action>> {
    cx.no_block(at);
    let mut actions = Vec::new();
    if at.s.args.is_empty() {
        cx.error(at, at.s.name.span, "bad-argument", "`admission-mode` needs `deny`, `warn` or `audit`, e.g. `admission-mode warn audit`");
        return None;
    }
    let mut ok = true;
    for v in at.s.flat_args() {
        let text = word(v).map(str::to_string).or_else(|| v.as_text()).unwrap_or_default();
        match crate::admission::action(cx, at, &text, v.span) {
            Some(a) if !actions.contains(&a) => actions.push(a),
            Some(_) => {}
            None => ok = false,
        }
    }
    ok &= crate::admission::deny_and_warn_apart(cx, at, &actions);
    actions.sort();
    (ok && !actions.is_empty()).then_some(actions)
}

/// Scales the amounts of a quota ([`SCALED_QUOTA_KEYS`]) by `milli`/1000, rounding
/// up: CPU to the millicore, memory and storage to the byte, the pod count to a
/// whole pod, so a non-zero quota never scales to zero. Memory and storage keep
/// their suffix when the result is a whole multiple of it, else the next smaller
/// suffix of the same family (`Gi` → `Mi` → `Ki` → bytes) that is exact.
pub(crate) fn scale_quota(q: &mut Quota, milli: u32) {
    if milli == 1000 {
        return;
    }
    for (key, value) in q.hard.iter_mut() {
        if !SCALED_QUOTA_KEYS.contains(&key.as_str()) {
            continue;
        }
        if let Some(scaled) = scale_quantity(key, value, milli) {
            *value = scaled;
        }
    }
}

/// One scaled quantity, written back as a Kubernetes quantity.
fn scale_quantity(key: &str, value: &str, milli: u32) -> Option<String> {
    let split = value.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let nanos = values::parse_quantity(digits, unit)?;
    let scaled = nanos.checked_mul(i128::from(milli))?;
    const NANO: i128 = 1_000_000_000;
    if key.ends_with(".cpu") {
        // Round up to the millicore.
        return Some(format_amount(key, unit, ceil_div(scaled, 1000 * 1_000_000)));
    }
    // Whole units (bytes, pods).
    Some(format_amount(key, unit, ceil_div(scaled, 1000 * NANO)))
}

/// Writes an exact amount back as a Kubernetes quantity: `amount` is in
/// millicores for CPU keys (`requests.cpu`, `limits.cpu`), else in whole units
/// (bytes, objects). Memory and storage keep `unit` (the suffix the source
/// wrote) when the amount is a whole multiple of it, else the next smaller
/// suffix of the same family (`Gi` → `Mi` → `Ki` → bytes) that is exact.
pub(crate) fn format_amount(key: &str, unit: &str, amount: i128) -> String {
    const NANO: i128 = 1_000_000_000;
    if key.ends_with(".cpu") {
        return if amount % 1000 == 0 { format!("{}", amount / 1000) } else { format!("{amount}m") };
    }
    let units = amount;
    const BINARY: &[(&str, i128)] = &[("Ei", 1 << 60), ("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)];
    const DECIMAL: &[(&str, i128)] = &[("E", NANO * NANO), ("P", NANO * 1_000_000), ("T", NANO * 1000), ("G", NANO), ("M", 1_000_000), ("k", 1000)];
    let family = if unit.ends_with('i') {
        BINARY
    } else if DECIMAL.iter().any(|(s, _)| *s == unit) {
        DECIMAL
    } else {
        &[]
    };
    let start = family.iter().position(|(s, _)| *s == unit).unwrap_or(family.len());
    for (suffix, size) in &family[start..] {
        if units % size == 0 {
            return format!("{}{suffix}", units / size);
        }
    }
    units.to_string()
}

fn ceil_div(a: i128, b: i128) -> i128 {
    (a + b - 1).div_euclid(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_parse_in_thousandths() {
        assert_eq!(parse_milli("0.25"), Some(250));
        assert_eq!(parse_milli("2"), Some(2000));
        assert_eq!(parse_milli("1.5"), Some(1500));
        assert_eq!(parse_milli("0.125"), Some(125));
        assert_eq!(parse_milli("0.1255"), None);
        assert_eq!(parse_milli("1."), None);
        assert_eq!(parse_milli(".5"), None);
        assert_eq!(parse_milli("-1"), None);
        assert_eq!(parse_milli("1e3"), None);
    }

    #[test]
    fn quantities_scale_up_to_their_granularity() {
        let s = |k: &str, v: &str, m: u32| scale_quantity(k, v, m).unwrap();
        assert_eq!(s("requests.cpu", "20", 250), "5");
        assert_eq!(s("requests.cpu", "1", 333), "333m");
        assert_eq!(s("requests.cpu", "500m", 2000), "1");
        assert_eq!(s("requests.cpu", "1m", 1), "1m", "a non-zero quota never scales to zero");
        assert_eq!(s("limits.cpu", "0", 500), "0");
        assert_eq!(s("requests.memory", "64Gi", 250), "16Gi");
        assert_eq!(s("requests.memory", "1Gi", 300), "322122548", "322122547.2 bytes rounded up: no suffix divides it");
        assert_eq!(s("requests.memory", "1Gi", 500), "512Mi");
        assert_eq!(s("requests.storage", "500G", 100), "50G");
        assert_eq!(s("requests.storage", "1G", 333), "333M");
        assert_eq!(s("requests.memory", "1000", 1500), "1500");
        assert_eq!(s("pods", "100", 250), "25");
        assert_eq!(s("pods", "3", 250), "1");
    }
}
