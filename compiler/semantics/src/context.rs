//! The checking context shared by every checker: statements read from the typed
//! tree ([`Stmt`], [`At`]), the file they are in ([`ModuleInfo`]), and the helpers
//! that report diagnostics in one style ([`Ctx`]: argument access, unknown
//! statements, duplicates, DNS names).

use crate::model::*;
use crate::schema::{self, BlockKind};
use crate::values;
use khc_syntax::{Diagnostic, FileKey, Ident, Span, Value, ValueKind};

/// A statement together with the file it was written in.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    /// The module the statement is in.
    pub m: &'a ModuleInfo<'a>,
    /// The statement.
    pub s: &'a Stmt,
}

/// A statement read through the typed syntax tree, with its values and the
/// statements of its block, ready for checking. Statements whose header holds a
/// syntax error are left out of their block (and the block marked recovered), so
/// no error cascades from them; a statement with a block keeps its valid values.
pub(crate) struct Stmt {
    /// The statement's name.
    pub name: Ident,
    /// Its values.
    pub args: Vec<Value>,
    /// From the name to the end of the last value or the closing brace.
    pub span: Span,
    /// The block, if any.
    pub block: Option<BlockInfo>,
    /// The statements of the block (without broken ones).
    pub children: Vec<Stmt>,
}

/// What checks need to know of a block.
pub(crate) struct BlockInfo {
    /// From `{` to `}`.
    pub span: Span,
    /// True when a statement inside was left out after a syntax error.
    pub recovered: bool,
}

impl Stmt {
    /// Reads a statement (and its block, recursively) from the typed tree.
    pub fn read(node: &khc_syntax::Statement) -> Stmt {
        let block = node.block();
        let (children, info) = match &block {
            Some(b) => {
                let children = Stmt::read_all(b.statements());
                (children, Some(BlockInfo { span: b.span(), recovered: b.recovered() }))
            }
            None => (Vec::new(), None),
        };
        Stmt { name: node.name(), args: node.args(), span: node.span(), block: info, children }
    }

    /// Reads the statements that semantics sees: broken ones are left out unless
    /// they have a block (whose contents still count).
    pub fn read_all(nodes: impl Iterator<Item = khc_syntax::Statement>) -> Vec<Stmt> {
        nodes.filter(|s| !s.has_errors() || s.block().is_some()).map(|s| Stmt::read(&s)).collect()
    }

    /// The values with lists flattened, so that `a b` and `[a, b]` read the same.
    pub fn flat_args(&self) -> Vec<&Value> {
        fn push<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
            match &v.kind {
                ValueKind::List(items) => items.iter().for_each(|i| push(i, out)),
                _ => out.push(v),
            }
        }
        let mut out = Vec::new();
        self.args.iter().for_each(|a| push(a, &mut out));
        out
    }

    /// True when the block lost a statement to a syntax error.
    pub fn block_recovered(&self) -> bool {
        self.block.as_ref().is_some_and(|b| b.recovered)
    }
}

/// The file a statement is in: its key and line starts (for origins).
#[derive(Clone, Copy)]
pub(crate) struct ModuleInfo<'a> {
    pub file: &'a FileKey,
    pub line_starts: &'a [u32],
}

impl<'a> ModuleInfo<'a> {
    pub fn file(&self) -> &'a FileKey {
        self.file
    }

    /// The origin of a span in this module.
    pub fn origin(&self, span: Span) -> Origin {
        let line = self.line_starts.partition_point(|&s| s <= span.start) as u32;
        Origin { file: self.file.clone(), line }
    }
}

impl<'a> At<'a> {
    /// The block's statements.
    pub fn children(&self) -> impl Iterator<Item = At<'a>> + 'a {
        let m = self.m;
        self.s.children.iter().map(move |s| At { m, s })
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
    pub fn unknown_statement(&mut self, at: &At<'_>, block: BlockKind) {
        let context = schema::block(block).context;
        let allowed = schema::statement_names(block);
        let name = at.name();
        let mut d =
            Diagnostic::error("unknown-statement", at.file(), at.s.name.span, format!("unknown statement `{name}` in {context}")).with_label("not valid here");
        if let Some(s) = values::suggest(name, allowed.iter().copied()) {
            d = d.with_suggestion(s);
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
}
