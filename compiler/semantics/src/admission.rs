//! Admission rules: `admission { … }` blocks and reusable `profile NAME { … }`
//! bundles (SPEC.md section 8).

use crate::context::{word, At, Ctx};
use crate::model::*;
use crate::schema::BlockKind;
use khc_syntax::{Diagnostic, FileKey, Span, ValueKind};
use std::collections::BTreeMap;

/// Capabilities that effectively give up container isolation.
const RISKY_CAPABILITIES: &[&str] = &["ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "DAC_READ_SEARCH", "BPF", "SYS_RAWIO"];

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

/// Checks an `admission { … }` block.
pub(crate) fn check_admission(cx: &mut Ctx, at: &At<'_>, profiles: &ProfileTable) -> Admission {
    cx.no_args(at);
    let mut actions: Vec<Action> = Vec::new();
    let mut rules = Vec::new();
    for c in at.children() {
        if c.name() == "mode" && !c.s.name.quoted {
            cx.no_block(&c);
            for (w, span) in cx.words(&c, "`deny`, `warn` or `audit`") {
                let a = match w.as_str() {
                    "deny" => Action::Deny,
                    "warn" => Action::Warn,
                    "audit" => Action::Audit,
                    _ => {
                        cx.error(&c, span, "invalid-value", format!("unknown mode `{w}`")).notes.push("help: modes are `deny`, `warn` and `audit`".into());
                        continue;
                    }
                };
                if !actions.contains(&a) {
                    actions.push(a);
                }
            }
            if actions.contains(&Action::Deny) && actions.contains(&Action::Warn) {
                cx.error(&c, c.s.span, "conflict", "`deny` and `warn` cannot be combined")
                    .notes
                    .push("note: the API server rejects a binding with both Deny and Warn; use `deny audit` or `warn audit`".into());
            }
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
    Admission { origin: at.origin(), actions, rules: dedupe(cx, rules) }
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
    let kind = match name {
        "require-limits" => RuleKind::RequireLimits(resources(cx, at)?),
        "require-requests" => RuleKind::RequireRequests(resources(cx, at)?),
        "allowed-registries" => RuleKind::AllowedRegistries(registries(cx, at)?),
        "allowed-capabilities" => RuleKind::AllowedCapabilities(capabilities(cx, at)?),
        "min-uid" => RuleKind::MinUid(min_uid(cx, at)?),
        "no-latest-tag"
        | "read-only-root-fs"
        | "seccomp-runtime-default"
        | "no-host-namespaces"
        | "no-host-ports"
        | "no-host-path"
        | "no-docker-socket"
        | "no-privileged"
        | "no-privilege-escalation"
        | "run-as-non-root" => {
            cx.no_args(at);
            match name {
                "no-latest-tag" => RuleKind::NoLatestTag,
                "read-only-root-fs" => RuleKind::ReadOnlyRootFs,
                "seccomp-runtime-default" => RuleKind::SeccompRuntimeDefault,
                "no-host-namespaces" => RuleKind::NoHostNamespaces,
                "no-host-ports" => RuleKind::NoHostPorts,
                "no-host-path" => RuleKind::NoHostPath,
                "no-docker-socket" => RuleKind::NoDockerSocket,
                "no-privileged" => RuleKind::NoPrivileged,
                "no-privilege-escalation" => RuleKind::NoPrivilegeEscalation,
                _ => RuleKind::RunAsNonRoot,
            }
        }
        _ => {
            cx.unknown_statement(at, context);
            return None;
        }
    };
    Some(Item::Rule(AdmissionRule { kind, origin: at.origin(), span: at.s.span }))
}

fn resources(cx: &mut Ctx, at: &At<'_>) -> Option<Vec<String>> {
    if at.s.args.is_empty() {
        return Some(vec!["cpu".into(), "memory".into()]);
    }
    let mut out = Vec::new();
    for (w, span) in cx.words(at, "`cpu` or `memory`") {
        if w != "cpu" && w != "memory" {
            cx.error(at, span, "invalid-value", format!("`{w}` is not `cpu` or `memory`"));
            return None;
        }
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out.sort();
    Some(out)
}

fn registries(cx: &mut Ctx, at: &At<'_>) -> Option<Vec<String>> {
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
        if let Some(rest) = w.strip_prefix("CAP_") {
            cx.error(at, v.span, "invalid-value", format!("write `{rest}`, without `CAP_`"))
                .notes
                .push("note: Kubernetes names capabilities without the CAP_ prefix".into());
            return None;
        }
        if w.is_empty() || !w.chars().all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()) {
            cx.error(at, v.span, "invalid-value", format!("`{w}` is not a capability name (e.g. NET_BIND_SERVICE)"));
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

fn min_uid(cx: &mut Ctx, at: &At<'_>) -> Option<u64> {
    let args = at.s.flat_args();
    let v = match args.as_slice() {
        [v] => *v,
        _ => {
            cx.error(at, at.s.span, "bad-argument", "`min-uid` takes one number, e.g. `min-uid 10000`");
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
            cx.error(at, v.span, "invalid-value", "`min-uid` needs a whole number from 1 to 2147483647");
            None
        }
    }
}
