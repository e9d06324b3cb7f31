//! `exception NAME { namespaces …; workloads …; lifts RULE…; reason "…"; expires "YYYY-MM-DD" }`
//! in a tenant (SPEC.md section 5, "Exceptions"), and what it does to the
//! namespaces' Pod Security labels: where a lifted rule stands for a Pod
//! Security control that the namespace's `enforce` level has, khc lowers the
//! label to `privileged` and enforces the level in CEL itself
//! (`khc_rules::pss_stand_in`) for every pod the exception does not cover.

use crate::context::{word, At, Ctx};
use crate::model::*;
use crate::schema::{self, BlockKind};
use crate::values;
use khc_rules::facts::{self, PssLevel};
use khc_syntax::{Diagnostic, ValueKind};
use std::collections::BTreeMap;

/// The `facts::PssLevel` of a Pod Security level (`None` for privileged).
pub(crate) fn pss_level(l: Level) -> Option<PssLevel> {
    match l {
        Level::Privileged => None,
        Level::Baseline => Some(PssLevel::Baseline),
        Level::Restricted => Some(PssLevel::Restricted),
    }
}

/// Today's date as days since 1970-01-01: `KHC_TODAY` (`YYYY-MM-DD`), else
/// `SOURCE_DATE_EPOCH` (seconds), else the system clock. Builds are
/// reproducible with either variable set.
pub fn today() -> i64 {
    if let Some(d) = std::env::var("KHC_TODAY").ok().and_then(|s| parse_date(&s)) {
        return d;
    }
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64));
    secs.div_euclid(86_400)
}

/// `YYYY-MM-DD` as days since 1970-01-01, `None` when it is not a valid date.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).filter(|x| x.bytes().all(|c| c.is_ascii_digit())).and_then(|x| x.parse::<i64>().ok());
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d < 1 || d > days_in[(m - 1) as usize] {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Checks every `exception` of a tenant (after its admission block was read)
/// and applies their Pod Security effect to `t.pod_security`.
pub(crate) fn check_exceptions(cx: &mut Ctx, stmts: &[At<'_>], t: &mut Tenant, workloads: &BTreeMap<String, Workload>, minor: u32) {
    let mut firsts: BTreeMap<String, At<'_>> = BTreeMap::new();
    let mut parsed = Vec::new();
    for at in stmts {
        let Some((name, span)) = cx.one_word(at, "an exception name") else { continue };
        if !cx.check_label(at, &name, span, "exception") {
            continue;
        }
        if let Some(first) = firsts.get(&name) {
            cx.duplicate(at, span, &format!("exception `{name}`"), (first.file(), first.s.args[0].span));
            continue;
        }
        firsts.insert(name.clone(), *at);
        if let Some(e) = exception(cx, at, &name, t, workloads) {
            parsed.push((e, *at));
        }
    }
    // The Pod Security effect: lower `enforce` where a lifted rule stands for a
    // control of the namespace's level, and keep that level in khc's CEL.
    let admission: Vec<RuleKind> = t.admission.iter().flat_map(|a| a.rules.iter().map(|r| r.kind.clone())).collect();
    for (e, _) in &parsed {
        for ns in &e.namespaces {
            let level = t.pod_security.stand_ins.get(ns).copied().unwrap_or_else(|| t.pod_security.enforce_in(ns));
            let Some(pl) = pss_level(level) else { continue };
            let stand_in = khc_rules::pss_stand_in(pl);
            let lowers = e
                .lifts
                .iter()
                .filter_map(|id| stand_in.iter().find(|k| k.id == *id))
                .any(|kind| kind.pss(minor).iter().any(|c| facts::pss_control(c.control).is_some_and(|ctl| ctl.level <= pl && ctl.since <= minor)));
            if lowers {
                t.pod_security.namespace_enforce.insert(ns.clone(), Level::Privileged);
                t.pod_security.stand_ins.insert(ns.clone(), level);
            }
        }
    }
    // A lifted rule takes effect where the tenant states it, or where khc
    // enforces a lowered namespace's level and the rule is one of its stand-ins.
    for (e, at) in &parsed {
        for id in &e.lifts {
            let stated = admission.iter().any(|k| k.id == *id);
            let stands_in = e.namespaces.iter().any(|ns| {
                t.pod_security.stand_ins.get(ns).and_then(|l| pss_level(*l)).is_some_and(|pl| khc_rules::pss_stand_in(pl).iter().any(|k| k.id == *id))
            });
            if !stated && !stands_in {
                let d = cx.warning(
                    at,
                    e.span,
                    "no-effect",
                    format!(
                        "exception `{}` lifts `{}`, which neither the tenant's `admission` nor the Pod Security level of its namespaces has",
                        e.name,
                        id.keyword()
                    ),
                );
                d.notes.push("note: a tenant's exception lifts the tenant's own rules and Pod Security controls, not the cluster's `admission` rules".into());
                d.notes.push(format!(
                    "help: if `{}` is a rule of the cluster's `admission`, write the exception in the cluster block: `exception {} {{ namespaces …; lifts {}; reason \"…\" }}`",
                    id.keyword(),
                    e.name,
                    id.keyword()
                ));
            }
        }
    }
    t.exceptions = parsed.into_iter().map(|(e, _)| e).collect();
}

/// An exception named `name` at `at`, its statements not read yet (a tenant's
/// and a cluster's exception start alike).
fn unfilled(at: &At<'_>, name: &str) -> Exception {
    Exception {
        name: name.to_string(),
        origin: at.origin(),
        span: at.s.name.span.to(at.s.args[0].span),
        namespaces: Vec::new(),
        workloads: Vec::new(),
        lifts: Vec::new(),
        reason: String::new(),
        expires: None,
    }
}

/// One `exception NAME { … }`.
fn exception(cx: &mut Ctx, at: &At<'_>, name: &str, t: &Tenant, workloads: &BTreeMap<String, Workload>) -> Option<Exception> {
    let mut seen = Vec::new();
    let mut e = unfilled(at, name);
    let mut ok = true;
    let mut explicit_namespaces = None;
    for c in at.children() {
        if c.s.name.quoted || schema::statement(BlockKind::Exception, c.name()).is_none() {
            cx.unknown_statement(&c, BlockKind::Exception);
            continue;
        }
        if !cx.once(&mut seen, c) {
            continue;
        }
        cx.no_block(&c);
        match c.name() {
            "namespaces" => {
                let mut list = Vec::new();
                for (ns, span) in cx.words(&c, "one or more of the tenant's namespaces") {
                    if t.namespaces.contains(&ns) {
                        list.push(ns);
                        continue;
                    }
                    ok = false;
                    let mut d = Diagnostic::error("unknown-name", c.file(), span, format!("`{ns}` is not a namespace of tenant `{}`", t.name));
                    if let Some(s) = values::suggest(&ns, t.namespaces.iter().map(String::as_str)) {
                        d.suggest(s);
                    } else {
                        d.notes.push(format!("note: the tenant's namespaces: {}", t.namespaces.join(", ")));
                    }
                    cx.push(d);
                }
                explicit_namespaces = Some((list, c.s.span));
            }
            "workloads" => {
                for (w, span) in cx.words(&c, "one or more of the tenant's workloads") {
                    match workloads.get(&w) {
                        Some(wl) => e.workloads.push((w, wl.namespace.clone())),
                        None => {
                            ok = false;
                            let mut d = Diagnostic::error("unknown-name", c.file(), span, format!("tenant `{}` declares no workload `{w}`", t.name));
                            if let Some(s) = values::suggest(&w, workloads.keys().map(String::as_str)) {
                                d.suggest(s);
                            }
                            cx.push(d);
                        }
                    }
                }
            }
            "lifts" => {
                for (r, span) in cx.words(&c, "one or more admission rules") {
                    match khc_rules::RuleId::from_name(&r) {
                        Some(id) if !e.lifts.contains(&id) => e.lifts.push(id),
                        Some(_) => {}
                        None => {
                            ok = false;
                            let mut d = Diagnostic::error("unknown-name", c.file(), span, format!("`{r}` is not an admission rule"));
                            if let Some(s) = values::suggest(&r, khc_rules::ALL.iter().map(|r| r.keyword())) {
                                d.suggest(s);
                            } else {
                                d.notes.push("note: `lifts` names admission rules (SPEC section 8), e.g. `no-host-path`".into());
                            }
                            cx.push(d);
                        }
                    }
                }
            }
            "reason" => ok &= reason(cx, &c, &mut e.reason),
            "expires" => ok &= expires(cx, &c, name, &mut e.expires),
            _ => unreachable!("every statement of the exception schema is handled"),
        }
    }
    ok &= required_statements(cx, at, name, &e, &seen, "help: add `lifts RULE…`, e.g. `lifts no-host-namespaces no-host-path`");
    e.namespaces = match explicit_namespaces {
        Some((list, span)) => {
            for (w, ns) in &e.workloads {
                if !list.contains(ns) {
                    ok = false;
                    cx.error(at, span, "conflict", format!("workload `{w}` is in namespace `{ns}`, which the exception's `namespaces` leaves out"));
                }
            }
            list
        }
        None if !e.workloads.is_empty() => {
            let mut l: Vec<String> = e.workloads.iter().map(|(_, ns)| ns.clone()).collect();
            l.sort();
            l.dedup();
            l
        }
        None => t.namespaces.clone(),
    };
    ok.then_some(e)
}

/// An exception's required statements, `reason` and `lifts` (tenant and cluster
/// forms alike): an error for each one that was not written at all (a written but
/// bad one already has its own error). `lifts_help` says what `lifts` may name.
fn required_statements(cx: &mut Ctx, at: &At<'_>, name: &str, e: &Exception, seen: &[At<'_>], lifts_help: &str) -> bool {
    let mut ok = true;
    if e.reason.is_empty() && seen.iter().all(|s| s.name() != "reason") {
        ok = false;
        cx.error(at, e.span, "bad-argument", format!("exception `{name}` needs a `reason`"))
            .notes
            .push("help: add `reason \"…\"`: why the rules must be lifted, for the reviewers and `khc report`".into());
    }
    if e.lifts.is_empty() && seen.iter().all(|s| s.name() != "lifts") {
        ok = false;
        cx.error(at, e.span, "bad-argument", format!("exception `{name}` lifts nothing")).notes.push(lifts_help.into());
    }
    ok
}

/// `reason "…"` of an exception into `out`; false (after an error) when it is
/// not one non-empty string.
fn reason(cx: &mut Ctx, c: &At<'_>, out: &mut String) -> bool {
    match c.s.flat_args().as_slice() {
        [v] if matches!(&v.kind, ValueKind::Str(s) if !s.trim().is_empty()) => {
            if let ValueKind::Str(s) = &v.kind {
                *out = s.trim().to_string();
            }
            true
        }
        _ => {
            cx.error(c, c.s.span, "bad-argument", "`reason` takes one non-empty string, e.g. `reason \"node-exporter reads /proc and /sys of the host\"`");
            false
        }
    }
}

/// `expires "YYYY-MM-DD"` of exception `name` into `out`; false (after an
/// error) when it is not a date or the date is past.
fn expires(cx: &mut Ctx, c: &At<'_>, name: &str, out: &mut Option<String>) -> bool {
    let text = match c.s.flat_args().as_slice() {
        [v] => word(v).map(|s| (s.to_string(), v.span)),
        _ => None,
    };
    let Some((s, span)) = text else {
        cx.error(c, c.s.span, "bad-argument", "`expires` takes one date in quotes, e.g. `expires \"2027-03-31\"`");
        return false;
    };
    let Some(day) = parse_date(&s) else {
        cx.error(c, span, "invalid-value", format!("`{s}` is not a date")).notes.push("help: write `expires \"2027-03-31\"` (YYYY-MM-DD)".into());
        return false;
    };
    *out = Some(s.clone());
    if day < today() {
        cx.error(c, span, "expired", format!("exception `{name}` expired on {s}"))
            .notes
            .push("help: remove the exception once its workloads comply, or review it and set a new `expires` date".into());
        return false;
    }
    true
}

/// Checks every `exception` of the cluster block (SPEC section 5, "Cluster
/// exceptions"): any namespaces, ServiceAccounts `ns/name`, and rules of the
/// cluster's `admission` block (`admission`).
pub(crate) fn check_cluster_exceptions(cx: &mut Ctx, stmts: &[At<'_>], admission: Option<&Admission>) -> Vec<Exception> {
    let mut firsts: BTreeMap<String, At<'_>> = BTreeMap::new();
    let mut out = Vec::new();
    for at in stmts {
        let Some((name, span)) = cx.one_word(at, "an exception name") else { continue };
        if !cx.check_label(at, &name, span, "exception") {
            continue;
        }
        if let Some(first) = firsts.get(&name) {
            cx.duplicate(at, span, &format!("exception `{name}`"), (first.file(), first.s.args[0].span));
            continue;
        }
        firsts.insert(name.clone(), *at);
        if let Some(e) = cluster_exception(cx, at, &name, admission) {
            out.push(e);
        }
    }
    out
}

/// One `exception NAME { … }` in the cluster block.
fn cluster_exception(cx: &mut Ctx, at: &At<'_>, name: &str, admission: Option<&Admission>) -> Option<Exception> {
    let mut seen = Vec::new();
    let mut e = unfilled(at, name);
    let mut ok = true;
    let mut explicit_namespaces = None;
    let stated: Vec<khc_rules::RuleId> = admission.iter().flat_map(|a| a.rules.iter().map(|r| r.kind.id)).collect();
    for c in at.children() {
        if c.s.name.quoted || schema::statement(BlockKind::ClusterException, c.name()).is_none() {
            cx.unknown_statement(&c, BlockKind::ClusterException);
            continue;
        }
        if !cx.once(&mut seen, c) {
            continue;
        }
        cx.no_block(&c);
        match c.name() {
            "namespaces" => {
                let mut list = Vec::new();
                for (ns, span) in cx.words(&c, "one or more namespaces") {
                    if cx.check_label(&c, &ns, span, "namespace") && !list.contains(&ns) {
                        list.push(ns);
                    } else {
                        ok = false;
                    }
                }
                explicit_namespaces = Some((list, c.s.span));
            }
            "workloads" => {
                for (w, span) in cx.words(&c, "one or more ServiceAccounts `\"namespace/name\"`") {
                    match w.split_once('/') {
                        Some((ns, sa)) if cx.check_label(&c, ns, span, "namespace") && cx.check_label(&c, sa, span, "ServiceAccount") => {
                            e.workloads.push((sa.to_string(), ns.to_string()))
                        }
                        Some(_) => ok = false,
                        None => {
                            ok = false;
                            cx.error(&c, span, "bad-argument", format!("`{w}` is not a ServiceAccount `namespace/name`"))
                                .notes
                                .push("help: a cluster exception names pods by their ServiceAccount, e.g. `workloads \"monitoring/node-exporter\"`".into());
                        }
                    }
                }
            }
            "lifts" => {
                for (r, span) in cx.words(&c, "one or more of the cluster's admission rules") {
                    match khc_rules::RuleId::from_name(&r) {
                        Some(id) if !stated.contains(&id) => {
                            ok = false;
                            cx.error(&c, span, "unknown-name", format!("`{r}` is not a rule of the cluster's `admission` block")).notes.push(
                                "note: a cluster exception lifts the cluster's rules; a tenant's own rules are lifted by an exception in the tenant".into(),
                            );
                        }
                        Some(id) if !e.lifts.contains(&id) => e.lifts.push(id),
                        Some(_) => {}
                        None => {
                            ok = false;
                            let mut d = Diagnostic::error("unknown-name", c.file(), span, format!("`{r}` is not an admission rule"));
                            if let Some(s) = values::suggest(&r, stated.iter().map(|r| r.keyword())) {
                                d.suggest(s);
                            }
                            cx.push(d);
                        }
                    }
                }
            }
            "reason" => ok &= reason(cx, &c, &mut e.reason),
            "expires" => ok &= expires(cx, &c, name, &mut e.expires),
            _ => unreachable!("every statement of the cluster exception schema is handled"),
        }
    }
    ok &= required_statements(cx, at, name, &e, &seen, "help: add `lifts RULE…`, one or more rules of the cluster's `admission` block");
    e.namespaces = match explicit_namespaces {
        Some((list, span)) => {
            for (w, ns) in &e.workloads {
                if !list.contains(ns) {
                    ok = false;
                    cx.error(at, span, "conflict", format!("ServiceAccount `{ns}/{w}` is in namespace `{ns}`, which the exception's `namespaces` leaves out"));
                }
            }
            list
        }
        None => {
            let mut l: Vec<String> = e.workloads.iter().map(|(_, ns)| ns.clone()).collect();
            l.sort();
            l.dedup();
            l
        }
    };
    if e.namespaces.is_empty() && ok {
        ok = false;
        cx.error(at, e.span, "bad-argument", format!("exception `{name}` covers no namespace"))
            .notes
            .push("help: add `namespaces NAME…` or `workloads \"NS/NAME\"…`; to lift a rule everywhere, remove it from the cluster's `admission`".into());
    }
    ok.then_some(e)
}

/// Warns, for each exception keyed on workloads (ServiceAccount names), when
/// some subject khc grants may run pods in a namespace it covers (`makers`:
/// `SUBJECT (grant ROLE)`, from [`crate::rbac::pod_makers`]): khc identifies a
/// workload by its pods' `serviceAccountName`, which whoever creates the pod
/// chooses, so those subjects can run a pod under the excepted name and get what
/// the exception lifts (SPEC.md section 5, "Exceptions"). The warning (code
/// `exception-scope`) is on the exception's `workloads`, naming who.
pub(crate) fn check_pod_makers(cx: &mut Ctx, stmts: &[At<'_>], exceptions: &[Exception], makers: &[String]) {
    if makers.is_empty() {
        return;
    }
    for e in exceptions.iter().filter(|e| !e.workloads.is_empty()) {
        let Some(at) = stmts.iter().find(|a| a.s.flat_args().first().and_then(|v| word(v)) == Some(e.name.as_str())) else { continue };
        let Some(w) = at.children().find(|c| c.name() == "workloads" && !c.s.name.quoted) else { continue };
        let accounts: Vec<String> = e.workloads.iter().map(|(name, ns)| format!("`{ns}/{name}`")).collect();
        let mut namespaces: Vec<&str> = e.workloads.iter().map(|(_, ns)| ns.as_str()).collect();
        namespaces.dedup();
        let shown: Vec<&str> = makers.iter().take(3).map(String::as_str).collect();
        let more = if makers.len() > 3 { format!(" and {} more", makers.len() - 3) } else { String::new() };
        let d = cx.warning(
            &w,
            w.s.span,
            "exception-scope",
            format!(
                "exception `{}` is keyed on ServiceAccount names, and {}{more} may create pods in {}: a pod naming {} gets what the exception lifts",
                e.name,
                shown.join(", "),
                namespaces.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                accounts.join(", ")
            ),
        );
        d.notes.push("note: an exception is as narrow as the namespace's RBAC: a pod's `serviceAccountName` is chosen by whoever creates the pod (or the Deployment, DaemonSet… that makes it)".into());
        d.notes.push("help: give the excepted workload a namespace where no one else may create pods (deploy it through the `managed-by` applier), or acknowledge it: `# khc: allow exception-scope — REASON`".into());
    }
}
