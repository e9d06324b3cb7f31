//! Admission rules: `admission { … }` blocks and reusable `profile NAME { … }`
//! bundles (SPEC.md section 8).

use crate::context::{word, At, Ctx};
use crate::model::*;
use crate::schema::BlockKind;
use khc_syntax::{Diagnostic, FileKey, Span, ValueKind};
use std::collections::BTreeMap;

use khc_rules::facts::RISKY_CAPABILITIES;
use khc_rules::{ArgSpec, Args as RuleArgs};

use khc_rules::facts::LINUX_CAPABILITIES;

/// A parsed statement of a profile or admission block.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    Rule(AdmissionRule),
    Use { name: String, span: Span, file: FileKey },
}

/// Every profile of the program, parsed once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileTable {
    profiles: BTreeMap<String, (FileKey, Span, Vec<Item>)>,
}

impl ProfileTable {
    /// Parses every `profile` statement, reporting errors in their bodies once.
    pub(crate) fn build(cx: &mut Ctx, profiles: &[At<'_>]) -> ProfileTable {
        let mut table = ProfileTable { profiles: BTreeMap::new() };
        for at in profiles {
            let Some((name, span)) = cx.one_word(at, "a profile name") else { continue };
            if at.s.block.is_none() {
                cx.error(at, at.s.span, "bad-argument", format!("profile `{name}` needs a block of rules"));
            }
            if let Some((file, first, _)) = table.profiles.get(&name) {
                let first = (file.clone(), *first);
                cx.duplicate(at, span, &format!("profile `{name}`"), (&first.0, first.1));
                continue;
            }
            let items = at.children().filter_map(|c| parse_item(cx, &c, BlockKind::Profile)).collect();
            table.profiles.insert(name, (at.file().clone(), span, items));
        }
        table
    }

    /// The profile names, for suggestions.
    fn names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }

    /// Appends the rules of profile `name` (used at `span` in `file`) to `out`.
    fn expand(&self, cx: &mut Ctx, name: &str, file: &FileKey, span: Span, stack: &mut Vec<String>, out: &mut Vec<AdmissionRule>) {
        let Some((_, _, items)) = self.profiles.get(name) else {
            let mut d = Diagnostic::error("unknown-name", file, span, format!("unknown profile `{name}`")).with_label("no profile has this name");
            d = match crate::values::suggest(name, self.names()) {
                Some(s) => d.with_suggestion(s),
                None => d.with_help("profiles come from `profile NAME { … }` or an import such as `import \"std/restricted\"`"),
            };
            cx.push(d);
            return;
        };
        if stack.iter().any(|n| n == name) {
            let cycle = format!("{} → {name}", stack.join(" → "));
            cx.push(Diagnostic::error("conflict", file, span, format!("profile `{name}` uses itself: {cycle}")));
            return;
        }
        stack.push(name.to_string());
        for item in items {
            match item {
                Item::Rule(r) => out.push(r.clone()),
                Item::Use { name, span, file } => self.expand(cx, name, file, *span, stack, out),
            }
        }
        stack.pop();
    }
}

/// One word of `mode` (or the cluster's `admission-mode`): `deny`, `warn` or
/// `audit`, or an error at `span`.
pub(crate) fn action(cx: &mut Ctx, at: &At<'_>, w: &str, span: Span) -> Option<Action> {
    match w {
        "deny" => Some(Action::Deny),
        "warn" => Some(Action::Warn),
        "audit" => Some(Action::Audit),
        _ => {
            cx.error(at, span, "invalid-value", format!("unknown mode `{w}`")).notes.push("help: modes are `deny`, `warn` and `audit`".into());
            None
        }
    }
}

/// `deny` and `warn` together are an error (the API server rejects such a
/// binding); true when they are apart.
pub(crate) fn deny_and_warn_apart(cx: &mut Ctx, at: &At<'_>, actions: &[Action]) -> bool {
    if actions.contains(&Action::Deny) && actions.contains(&Action::Warn) {
        cx.error(at, at.s.span, "conflict", "`deny` and `warn` cannot be combined")
            .notes
            .push("note: the API server rejects a binding with both Deny and Warn; use `deny audit` or `warn audit`".into());
        return false;
    }
    true
}

/// Checks an `admission { … }` block.
pub(crate) fn check_admission(cx: &mut Ctx, at: &At<'_>, profiles: &ProfileTable) -> Admission {
    cx.no_args(at);
    let mut actions: Vec<Action> = Vec::new();
    let mut rules = Vec::new();
    let mut custom: Vec<CustomRule> = Vec::new();
    for c in at.children() {
        if c.name() == "rule" && !c.s.name.quoted {
            if let Some(r) = check_custom_rule(cx, &c, &custom) {
                custom.push(r);
            }
            continue;
        }
        if c.name() == "mode" && !c.s.name.quoted {
            cx.no_block(&c);
            for (w, span) in cx.words(&c, "`deny`, `warn` or `audit`") {
                if let Some(a) = action(cx, &c, &w, span) {
                    if !actions.contains(&a) {
                        actions.push(a);
                    }
                }
            }
            deny_and_warn_apart(cx, &c, &actions);
            continue;
        }
        match parse_item(cx, &c, BlockKind::Admission) {
            Some(Item::Rule(r)) => rules.push(r),
            Some(Item::Use { name, span, file }) => profiles.expand(cx, &name, &file, span, &mut Vec::new(), &mut rules),
            None => {}
        }
    }
    if actions.is_empty() {
        actions.push(Action::Deny);
    }
    actions.sort();
    let rules = dedupe(cx, rules);
    useless_host_paths(cx, &rules);
    Admission { origin: at.origin(), actions, rules, custom, minor_version: crate::cluster::MIN_MINOR }
}

/// Checks `rule NAME { kinds RESOURCE…; cel "EXPR"; message "TEXT" }`: a name
/// (unique in the block, not a built-in rule's), one or more resources
/// (`pods`, `deployments.apps`, `widgets.example.com`), a CEL expression that
/// parses, and a message.
fn check_custom_rule(cx: &mut Ctx, at: &At<'_>, seen: &[CustomRule]) -> Option<CustomRule> {
    let (name, span) = cx.one_word(at, "a rule name")?;
    if !cx.check_label(at, &name, span, "rule") {
        return None;
    }
    if khc_rules::RuleId::from_name(&name).is_some() {
        cx.error(at, span, "conflict", format!("`{name}` is a built-in rule; a custom rule needs its own name"));
        return None;
    }
    if let Some(first) = seen.iter().find(|r| r.name == name) {
        let first = (first.origin.file.clone(), first.span);
        cx.duplicate(at, span, &format!("rule `{name}`"), (&first.0, first.1));
        return None;
    }
    if at.s.block.is_none() {
        cx.error(at, at.s.span, "bad-argument", format!("rule `{name}` needs a block: `rule {name} {{ kinds pods; cel \"…\"; message \"…\" }}`"));
        return None;
    }
    let mut kinds: Vec<(String, String)> = Vec::new();
    let mut expression = None;
    let mut message = None;
    let mut once = Vec::new();
    for c in at.children() {
        if !c.s.name.quoted && !cx.once(&mut once, c) {
            continue;
        }
        match (c.name(), c.s.name.quoted) {
            ("kinds", false) => {
                cx.no_block(&c);
                for (w, wspan) in cx.words(&c, "one or more resources, e.g. `pods deployments.apps`") {
                    let (resource, group) = w.split_once('.').unwrap_or((w.as_str(), ""));
                    let dns_label = |s: &str| !s.is_empty() && s.len() <= 63 && s.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
                    if !dns_label(resource) || (!group.is_empty() && !group.split('.').all(dns_label)) || w.contains('/') {
                        cx.error(&c, wspan, "invalid-value", format!("`{w}` is not a resource: write its plural, and its API group after a dot (`deployments.apps`; core resources without one: `pods`)"));
                        continue;
                    }
                    if !kinds.iter().any(|(g, r)| g == group && r == resource) {
                        kinds.push((group.to_string(), resource.to_string()));
                    }
                }
            }
            ("cel", false) => {
                cx.no_block(&c);
                let args = c.s.flat_args();
                match args.as_slice() {
                    [v] if matches!(v.kind, ValueKind::Str(_)) => {
                        let text = word(v).unwrap_or_default().to_string();
                        match khc_rules::cel::parse_check(&text) {
                            Ok(()) => expression = Some(text),
                            Err(e) => {
                                cx.error(&c, v.span, "invalid-value", format!("the expression is not CEL: {e}"));
                            }
                        }
                    }
                    _ => {
                        cx.error(&c, c.s.span, "bad-argument", "`cel` needs one quoted expression, true when the object complies");
                    }
                }
            }
            ("message", false) => {
                cx.no_block(&c);
                let args = c.s.flat_args();
                match args.as_slice() {
                    [v] if matches!(v.kind, ValueKind::Str(_)) && !word(v).unwrap_or_default().trim().is_empty() => {
                        message = Some(word(v).unwrap_or_default().to_string())
                    }
                    _ => {
                        cx.error(&c, c.s.span, "bad-argument", "`message` needs one quoted, non-empty text");
                    }
                }
            }
            _ => cx.unknown_statement(&c, BlockKind::CustomRule),
        }
    }
    let missing: Vec<&str> =
        [("kinds", kinds.is_empty()), ("cel", expression.is_none()), ("message", message.is_none())].iter().filter(|(_, m)| *m).map(|(n, _)| *n).collect();
    if !missing.is_empty() {
        // An invalid statement was reported where it is; say what is absent.
        if at.children().all(|c| !missing.contains(&c.name())) {
            cx.error(at, at.s.span, "bad-argument", format!("rule `{name}` needs {}", missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")));
        }
        return None;
    }
    Some(CustomRule { name, origin: at.origin(), span: at.s.span, kinds, expression: expression?, message: message? })
}

/// Where and when each rule can be met: a rule that needs a newer Kubernetes
/// than the scope's `kubernetes` (`Rule::requires`), or a cluster rule in a
/// tenant's block (`Rule::cluster_only`), is an error at the rule; a cluster
/// rule whose namespace is exempt is a `no-effect` warning. `cluster`: the
/// cluster's `exempt-namespaces` when `admission` is the cluster's, `None` for a
/// tenant's.
pub(crate) fn check_rule_scope(cx: &mut Ctx, admission: &Admission, minor: u32, cluster: Option<&[String]>) {
    for r in &admission.rules {
        let def = r.kind.id.def();
        let kw = def.name;
        if let Some((since, why)) = def.requires.filter(|(since, _)| minor < *since) {
            cx.push(
                Diagnostic::error("conflict", &r.origin.file, r.span, format!("`{kw}` needs Kubernetes 1.{since} or later; this cluster targets 1.{minor}"))
                    .with_label(format!("cannot be met on 1.{minor}"))
                    .with_note(why)
                    .with_help(format!("raise the cluster's `kubernetes` to 1.{since} or later, or remove `{kw}`")),
            );
        }
        if def.cluster_only {
            match cluster {
                None => cx.push(
                    Diagnostic::error(
                        "conflict",
                        &r.origin.file,
                        r.span,
                        format!("`{kw}` is a cluster rule: a tenant's policy judges only the tenant's namespaces"),
                    )
                    .with_label("has no effect in a tenant")
                    .with_help(format!("state `{kw}` in the cluster's `admission` block")),
                ),
                Some(exempt) if exempt.iter().any(|n| n == "default") => cx.push(
                    Diagnostic::warning("no-effect", &r.origin.file, r.span, format!("`{kw}` has no effect: `default` is in `exempt-namespaces`"))
                        .with_label("the cluster's policy is not bound to `default`")
                        .with_help("remove `default` from `exempt-namespaces`"),
                ),
                Some(_) => {}
            }
        }
    }
}

/// `allowed-host-paths` next to a rule that denies every hostPath volume
/// (`no-host-path`, or `allowed-volume-types` without `hostPath`) admits nothing.
fn useless_host_paths(cx: &mut Ctx, rules: &[AdmissionRule]) {
    let Some(paths) = rules.iter().find(|r| r.kind.id == RuleId::AllowedHostPaths) else { return };
    let blocker = rules.iter().find(|r| match r.kind.id {
        RuleId::NoHostPath => true,
        RuleId::AllowedVolumeTypes => !matches!(&r.kind.args, RuleArgs::NamesOrDefault(Some(t)) if t.iter().any(|t| t == "hostPath")),
        _ => false,
    });
    if let Some(b) = blocker {
        let kw = b.kind.keyword();
        cx.push(
            Diagnostic::warning(
                "conflict",
                &paths.origin.file,
                paths.span,
                format!("`allowed-host-paths` admits nothing here: `{kw}` denies every hostPath volume"),
            )
            .with_label("no hostPath volume can pass")
            .with_secondary(&b.origin.file, b.span, format!("`{kw}` stated here"))
            .with_help("drop `no-host-path`, or name `hostPath` in `allowed-volume-types`"),
        );
    }
}

/// Removes rules stated twice with the same values; reports ones stated with
/// different values.
fn dedupe(cx: &mut Ctx, rules: Vec<AdmissionRule>) -> Vec<AdmissionRule> {
    let mut out: Vec<AdmissionRule> = Vec::new();
    for r in rules {
        match out.iter().find(|o| o.kind.keyword() == r.kind.keyword()) {
            Some(o) if o.kind == r.kind => {}
            Some(o) => {
                let kw = r.kind.keyword();
                cx.push(
                    Diagnostic::error("conflict", &r.origin.file, r.span, format!("`{kw}` is stated twice with different values"))
                        .with_label("stated again here")
                        .with_secondary(&o.origin.file, o.span, "first stated here")
                        .with_help("keep one of them; a profile's rule can be replaced by not using the profile"),
                );
            }
            None => out.push(r),
        }
    }
    out
}

/// Parses one rule or `use` statement.
fn parse_item(cx: &mut Ctx, at: &At<'_>, context: BlockKind) -> Option<Item> {
    let name = at.name();
    if at.s.name.quoted {
        cx.error(at, at.s.name.span, "unknown-statement", "a rule name cannot be a string");
        return None;
    }
    cx.no_block(at);
    if name == "use" {
        let (p, span) = cx.one_word(at, "a profile name")?;
        return Some(Item::Use { name: p, span, file: at.file().clone() });
    }
    let Some(id) = RuleId::from_name(name) else {
        cx.unknown_statement(at, context);
        return None;
    };
    let kind = RuleKind { id, args: parse_args(cx, at, &id.def().args)? };
    Some(Item::Rule(AdmissionRule { kind, origin: at.origin(), span: at.s.span }))
}

/// A rule's arguments, parsed by their shape (the same code for every rule of a
/// shape).
fn parse_args(cx: &mut Ctx, at: &At<'_>, spec: &ArgSpec) -> Option<RuleArgs> {
    Some(match *spec {
        ArgSpec::None => {
            cx.no_args(at);
            RuleArgs::None
        }
        ArgSpec::SubsetOrAll { set } => RuleArgs::Names(subset_or_all(cx, at, set)?),
        ArgSpec::RegistryPrefixes => RuleArgs::Names(registries(cx, at)?),
        ArgSpec::ImageDigests => RuleArgs::Names(image_digests(cx, at)?),
        ArgSpec::Capabilities => RuleArgs::Names(capabilities(cx, at)?),
        ArgSpec::Id => RuleArgs::Number(min_id(cx, at)?),
        ArgSpec::NamesOrDefault { what, valid } => RuleArgs::NamesOrDefault(optional_names(cx, at, what, valid)?),
        ArgSpec::ValuesOrDefault { what, set, risky, plural } => RuleArgs::NamesOrDefault(values_or_default(cx, at, what, set, risky, plural)?),
        ArgSpec::Values { what, set } => RuleArgs::Names(from_set(cx, at, what, set)?),
        ArgSpec::HostPaths => host_paths(cx, at)?,
        ArgSpec::ObjectNames { what } => RuleArgs::Names(object_names(cx, at, what)?),
    })
}

/// Words from `set` (`cpu`, `memory`); none means all of them.
fn subset_or_all(cx: &mut Ctx, at: &At<'_>, set: &[&str]) -> Option<Vec<String>> {
    if at.s.args.is_empty() {
        let mut all: Vec<String> = set.iter().map(|w| w.to_string()).collect();
        all.sort();
        return Some(all);
    }
    let what = set.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(" or ");
    let mut out = Vec::new();
    for (w, span) in cx.words(at, &what) {
        if !set.contains(&w.as_str()) {
            cx.error(at, span, "invalid-value", format!("`{w}` is not {what}"));
            return None;
        }
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out.sort();
    Some(out)
}

/// True for an image reference pinned by digest: `NAME[:TAG]@sha256:` and 64
/// lowercase hex digits (what the `require-digest` CEL accepts).
pub fn is_digest_reference(r: &str) -> bool {
    match r.rsplit_once("@sha256:") {
        Some((name, hex)) => {
            !name.is_empty() && !name.contains(char::is_whitespace) && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        None => false,
    }
}

/// Image references pinned by digest, zero or more, sorted and deduplicated.
pub(crate) fn image_digests(cx: &mut Ctx, at: &At<'_>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut ok = true;
    for v in at.s.flat_args() {
        let Some(w) = word(v) else {
            let d = v.describe();
            cx.error(at, v.span, "bad-argument", format!("expected an image reference pinned by digest, found {d}"));
            ok = false;
            continue;
        };
        if is_digest_reference(w) {
            out.push(w.to_string());
        } else {
            cx.error(at, v.span, "invalid-value", format!("`{w}` is not pinned by digest"))
                .notes
                .push("help: write the reference with its digest, \"registry.example.com/data@sha256:<64 hex digits>\" (`crane digest REF` prints it)".into());
            ok = false;
        }
    }
    out.sort();
    out.dedup();
    ok.then_some(out)
}

pub(crate) fn registries(cx: &mut Ctx, at: &At<'_>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (w, span) in cx.words(at, "a registry prefix such as \"registry.example.com/team/\"") {
        if w.contains("://") {
            cx.error(at, span, "invalid-value", format!("`{w}` has a URL scheme"))
                .notes
                .push("help: image references have no scheme: write \"registry.example.com/team/\"".into());
            ok = false;
        } else if w.is_empty() || w.contains(char::is_whitespace) || w == "/" {
            cx.error(at, span, "invalid-value", format!("`{w}` is not a registry prefix"));
            ok = false;
        } else {
            out.push(if w.ends_with('/') { w } else { format!("{w}/") });
        }
    }
    (ok && !out.is_empty()).then_some(out)
}

fn capabilities(cx: &mut Ctx, at: &At<'_>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for v in at.s.flat_args() {
        let Some(w) = word(v) else {
            let d = v.describe();
            cx.error(at, v.span, "bad-argument", format!("expected a capability name, found {d}"));
            return None;
        };
        // `CAP_CHOWN` and `CHOWN` are the same capability to every runtime.
        let w = w.strip_prefix("CAP_").unwrap_or(w);
        if !LINUX_CAPABILITIES.contains(&w) {
            let mut d = Diagnostic::error("invalid-value", at.file(), v.span, format!("`{w}` is not a Linux capability (e.g. NET_BIND_SERVICE)"));
            if let Some(s) = crate::values::suggest(&w.to_ascii_uppercase(), LINUX_CAPABILITIES.iter().copied()) {
                d = d.with_suggestion(s);
            }
            cx.push(d);
            return None;
        }
        if RISKY_CAPABILITIES.contains(&w) {
            cx.warning(at, v.span, "risky", format!("allowing capability `{w}` lets containers escape most isolation"));
        }
        out.push(w.to_string());
    }
    out.sort();
    out.dedup();
    Some(out)
}

/// One whole number from 1 to 2147483647 (`min-uid`, `min-gid`, `min-fs-group`).
fn min_id(cx: &mut Ctx, at: &At<'_>) -> Option<u64> {
    let name = at.name();
    let args = at.s.flat_args();
    let v = match args.as_slice() {
        [v] => *v,
        _ => {
            cx.error(at, at.s.span, "bad-argument", format!("`{name}` takes one number, e.g. `{name} 10000`"));
            return None;
        }
    };
    let n = match &v.kind {
        ValueKind::Number { digits, unit } if unit.is_empty() && !digits.contains('.') => digits.parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (1..=2_147_483_647).contains(&n) => Some(n),
        _ => {
            cx.error(at, v.span, "invalid-value", format!("`{name}` needs a whole number from 1 to 2147483647"));
            None
        }
    }
}

/// Names checked by `valid`; none means the rule's default (`None`).
fn optional_names(cx: &mut Ctx, at: &At<'_>, what: &str, valid: fn(&str) -> bool) -> Option<Option<Vec<String>>> {
    if at.s.args.is_empty() {
        return Some(None);
    }
    let mut out = Vec::new();
    for (w, span) in cx.words(at, what) {
        if !valid(&w) {
            cx.error(at, span, "invalid-value", format!("`{w}` is not {what}"));
            return None;
        }
        out.push(w);
    }
    out.sort();
    out.dedup();
    Some(Some(out))
}

/// One or more names from `set`, with "did you mean" for near misses.
fn from_set(cx: &mut Ctx, at: &At<'_>, what: &str, set: &[&str]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (w, span) in cx.words(at, &format!("{what} ({})", set.join(", "))) {
        if set.contains(&w.as_str()) {
            out.push(w);
            continue;
        }
        ok = false;
        let d = Diagnostic::error("invalid-value", at.file(), span, format!("`{w}` is not {what}"));
        let near = set.iter().find(|c| c.eq_ignore_ascii_case(&w)).copied().or_else(|| crate::values::suggest(&w, set.iter().copied()));
        let d = match near {
            Some(s) => d.with_suggestion(s),
            None => d.with_help(format!("one of: {}", set.join(", "))),
        };
        cx.push(d);
    }
    out.sort();
    out.dedup();
    (ok && !out.is_empty()).then_some(out)
}

/// Values from `set`, none meaning the rule's default (`allowed-volume-types`:
/// the Pod Security Standards restricted set); a `risky` value is a warning.
fn values_or_default(cx: &mut Ctx, at: &At<'_>, what: &str, set: &[&str], risky: &[(&str, &str)], plural: &str) -> Option<Option<Vec<String>>> {
    if at.s.args.is_empty() {
        return Some(None);
    }
    let values = from_set(cx, at, what, set)?;
    for v in at.s.flat_args() {
        if let Some((w, why)) = word(v).and_then(|w| risky.iter().find(|(r, _)| *r == w)) {
            cx.warning(at, v.span, "risky", format!("allowing `{w}` {plural} is risky")).notes.push(format!("note: {why}"));
        }
    }
    Some(Some(values))
}

/// `allowed-host-paths "PATH"… [readonly]`.
fn host_paths(cx: &mut Ctx, at: &At<'_>) -> Option<RuleArgs> {
    let mut args = at.s.flat_args();
    let readonly = args.last().is_some_and(|v| matches!(&v.kind, ValueKind::Name(n) if n == "readonly"));
    if readonly {
        args.pop();
    }
    if args.is_empty() {
        cx.error(at, at.s.span, "bad-argument", "`allowed-host-paths` needs one or more absolute paths, e.g. `allowed-host-paths \"/var/log\" readonly`");
        return None;
    }
    let mut prefixes = Vec::new();
    for v in args {
        let Some(w) = word(v) else {
            let d = v.describe();
            cx.error(at, v.span, "bad-argument", format!("expected a path such as \"/var/log\", found {d}"));
            return None;
        };
        if !w.starts_with('/') {
            cx.error(at, v.span, "invalid-value", format!("`{w}` is not an absolute path")).notes.push("help: write the path as a string: \"/var/log\"".into());
            return None;
        }
        let segments: Vec<&str> = w.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
        if segments.contains(&"..") {
            cx.error(at, v.span, "invalid-value", format!("`{w}` contains `..`"));
            return None;
        }
        let normal = format!("/{}", segments.join("/"));
        if normal == "/" {
            cx.warning(at, v.span, "risky", "`/` allows every hostPath: the node's whole filesystem");
        }
        prefixes.push(normal);
    }
    prefixes.sort();
    prefixes.dedup();
    Some(RuleArgs::HostPaths { prefixes, readonly })
}

/// One or more Kubernetes object names (DNS-1123 subdomains).
fn object_names(cx: &mut Ctx, at: &At<'_>, what: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for (w, span) in cx.words(at, what) {
        if !crate::values::is_dns_subdomain(&w) {
            cx.error(at, span, "invalid-name", format!("`{w}` is not {what} (a DNS-1123 subdomain)"));
            return None;
        }
        out.push(w);
    }
    out.sort();
    out.dedup();
    (!out.is_empty()).then_some(out)
}
