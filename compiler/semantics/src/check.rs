//! The checking context: collects top-level declarations across modules, drives the
//! per-construct checkers and holds the helpers they share (argument access,
//! unknown-statement reporting, origins).

use crate::admission::ProfileTable;
use crate::model::*;
use crate::values;
use crate::Module;
use khc_syntax::{Diagnostic, FileKey, Span, Statement, Value, ValueKind};

/// A statement together with the file it was written in.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    /// The module the statement is in.
    pub m: &'a ModuleInfo<'a>,
    /// The statement.
    pub s: &'a Statement,
}

/// A module with precomputed line starts.
pub(crate) struct ModuleInfo<'a> {
    pub module: Module<'a>,
    line_starts: Vec<u32>,
}

impl<'a> ModuleInfo<'a> {
    pub fn new(module: Module<'a>) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(module.text.match_indices('\n').map(|(i, _)| i as u32 + 1));
        ModuleInfo { module, line_starts }
    }

    pub fn file(&self) -> &'a FileKey {
        self.module.file
    }

    /// The origin of a span in this module.
    pub fn origin(&self, span: Span) -> Origin {
        let line = self.line_starts.partition_point(|&s| s <= span.start) as u32;
        Origin { file: self.module.file.clone(), line }
    }

    /// The statements of this module in `at` form.
    pub fn top(&'a self) -> impl Iterator<Item = At<'a>> {
        self.module.tree.statements.iter().map(move |s| At { m: self, s })
    }
}

impl<'a> At<'a> {
    /// The block's statements.
    pub fn children(&self) -> impl Iterator<Item = At<'a>> + 'a {
        let m = self.m;
        self.s.children().iter().map(move |s| At { m, s })
    }
    pub fn file(&self) -> &'a FileKey {
        self.m.file()
    }
    pub fn origin(&self) -> Origin {
        self.m.origin(self.s.span)
    }
    pub fn name(&self) -> &'a str {
        &self.s.name.text
    }
}

/// The text of a word-like value (name or string).
pub(crate) fn word(v: &Value) -> Option<&str> {
    match &v.kind {
        ValueKind::Name(s) | ValueKind::Str(s) => Some(s),
        _ => None,
    }
}

/// Everything the checkers share: the diagnostics reported so far.
#[derive(Default)]
pub(crate) struct Ctx {
    pub diags: Vec<Diagnostic>,
}

impl Ctx {
    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub fn error(&mut self, at: &At<'_>, span: Span, code: &'static str, msg: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(code, at.file(), span, msg));
        self.diags.last_mut().expect("just pushed")
    }

    pub fn warning(&mut self, at: &At<'_>, span: Span, code: &'static str, msg: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::warning(code, at.file(), span, msg));
        self.diags.last_mut().expect("just pushed")
    }

    /// Reports a statement that is not valid where it stands.
    pub fn unknown_statement(&mut self, at: &At<'_>, context: &str, allowed: &[&str]) {
        let name = at.name();
        let mut d =
            Diagnostic::error("unknown-statement", at.file(), at.s.name.span, format!("unknown statement `{name}` in {context}")).with_label("not valid here");
        if let Some(s) = values::suggest(name, allowed.iter().copied()) {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else {
            d = d.with_note(format!("{context} accepts: {}", allowed.join(", ")));
        }
        self.push(d);
    }

    /// Errors when a statement has a block it should not have.
    pub fn no_block(&mut self, at: &At<'_>) {
        if let Some(b) = &at.s.block {
            let name = at.name().to_string();
            self.error(at, b.span, "bad-argument", format!("`{name}` does not take a block"));
        }
    }

    /// Errors when a statement has arguments it should not have.
    pub fn no_args(&mut self, at: &At<'_>) {
        if let (Some(first), Some(last)) = (at.s.args.first(), at.s.args.last()) {
            let name = at.name().to_string();
            self.error(at, first.span.to(last.span), "bad-argument", format!("`{name}` takes no values"));
        }
    }

    /// Exactly one name-like argument, e.g. `tenant payments`.
    pub fn one_word(&mut self, at: &At<'_>, what: &str) -> Option<(String, Span)> {
        let args = at.s.flat_args();
        match args.as_slice() {
            [v] => match word(v) {
                Some(w) => Some((w.to_string(), v.span)),
                None => {
                    let d = v.describe();
                    self.error(at, v.span, "bad-argument", format!("expected {what}, found {d}"));
                    None
                }
            },
            [] => {
                let name = at.name().to_string();
                self.error(at, at.s.name.span, "bad-argument", format!("`{name}` needs {what}"));
                None
            }
            [_, extra @ ..] => {
                let span = extra[0].span.to(extra[extra.len() - 1].span);
                let name = at.name().to_string();
                let d = self.error(at, span, "bad-argument", format!("`{name}` takes one value; these are extra"));
                if matches!(extra[0].kind, ValueKind::Name(_)) {
                    d.notes.push("help: to write several statements on one line, separate them with `;`".into());
                }
                None
            }
        }
    }

    /// One or more name-like arguments (lists flattened).
    pub fn words(&mut self, at: &At<'_>, what: &str) -> Vec<(String, Span)> {
        let args = at.s.flat_args();
        if args.is_empty() {
            let name = at.name().to_string();
            self.error(at, at.s.name.span, "bad-argument", format!("`{name}` needs {what}"));
        }
        let mut out = Vec::new();
        for v in args {
            match word(v) {
                Some(w) => out.push((w.to_string(), v.span)),
                None => {
                    let d = v.describe();
                    self.error(at, v.span, "bad-argument", format!("expected {what}, found {d}"));
                }
            }
        }
        out
    }

    /// A DNS-1123 label check with a helpful message.
    pub fn check_label(&mut self, at: &At<'_>, name: &str, span: Span, what: &str) -> bool {
        if values::is_dns_label(name) {
            return true;
        }
        let why = values::dns_label_problem(name);
        self.error(at, span, "invalid-name", format!("`{name}` is not a valid {what} name: {why}"))
            .notes
            .push("help: Kubernetes names are DNS-1123 labels: lowercase letters, digits and `-`, at most 63 characters".into());
        false
    }

    /// A boolean argument (`true` / `false`).
    pub fn boolean(&mut self, at: &At<'_>) -> Option<bool> {
        let (w, span) = self.one_word(at, "`true` or `false`")?;
        match w.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.error(at, span, "invalid-value", format!("expected `true` or `false`, found `{w}`"));
                None
            }
        }
    }

    /// Reports a second declaration of something already declared.
    pub fn duplicate(&mut self, at: &At<'_>, span: Span, what: &str, first: (&FileKey, Span)) {
        let d = Diagnostic::error("duplicate", at.file(), span, format!("{what} is declared twice")).with_label("declared again here").with_secondary(
            first.0,
            first.1,
            "first declared here",
        );
        self.push(d);
    }

    /// Records `at` in `seen` when it is the first statement of its name there;
    /// otherwise reports it as a duplicate of the first one and returns false.
    /// For settings a block may state only once.
    pub fn once<'a>(&mut self, seen: &mut Vec<At<'a>>, at: At<'a>) -> bool {
        if let Some(first) = seen.iter().find(|s| s.name() == at.name()) {
            let first = (first.file(), first.s.name.span);
            self.duplicate(&at, at.s.name.span, &format!("`{}`", at.name()), first);
            return false;
        }
        seen.push(at);
        true
    }

    /// Runs the whole check.
    pub fn run<'a>(&mut self, modules: &'a [ModuleInfo<'a>]) -> Option<Model> {
        let mut clusters = Vec::new();
        let mut tenants: Vec<At<'a>> = Vec::new();
        let mut profiles: Vec<At<'a>> = Vec::new();
        for m in modules {
            for at in m.top() {
                if at.s.name.quoted {
                    self.error(&at, at.s.name.span, "unknown-statement", "a statement name cannot be a string");
                    continue;
                }
                match at.name() {
                    "import" => {}
                    "cluster" => clusters.push(at),
                    "tenant" => tenants.push(at),
                    "profile" => profiles.push(at),
                    _ => self.unknown_statement(&at, "a file", &["import", "cluster", "tenant", "profile"]),
                }
            }
        }
        let profiles = ProfileTable::build(self, &profiles);
        let cluster = match clusters.as_slice() {
            [] => {
                if let Some(m) = modules.first() {
                    let d = Diagnostic::error("conflict", m.file(), Span::new(0, 0), "no `cluster` is declared")
                        .with_help("an entry file declares one cluster: `cluster prod { kubernetes 1.31 }`");
                    self.push(d);
                }
                None
            }
            [c, rest @ ..] => {
                for other in rest {
                    self.duplicate(other, other.s.name.span, "a cluster", (c.file(), c.s.name.span));
                }
                Some(crate::cluster::check_cluster(self, c, &profiles))
            }
        };
        let headers = crate::tenant::headers(self, &tenants);
        let cluster_roles: Vec<String> = cluster.as_ref().map(|c| c.roles.iter().map(|r| r.name.clone()).collect()).unwrap_or_default();
        let minor = cluster.as_ref().map_or(30, |c| c.minor_version);
        let api_server: Vec<String> = cluster.as_ref().map(|c| c.api_server.clone()).unwrap_or_default();
        let cluster_at = clusters.first().copied();
        let mut checked: Vec<Tenant> =
            headers.values().map(|h| crate::tenant::check_tenant(self, h, &headers, &cluster_roles, &profiles, minor, &api_server)).collect();
        if let Some(c) = cluster_at {
            crate::tenant::check_api_access(self, &c, &checked);
        }
        crate::tenant::check_reachability(self, &checked, &headers);
        checked.sort_by(|a, b| a.name.cmp(&b.name));
        Some(Model { cluster: cluster?, tenants: checked })
    }
}
