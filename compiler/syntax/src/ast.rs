//! The syntax tree. Every node keeps the byte span it was parsed from.

use std::fmt;

/// A half-open byte range `start..end` into a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// First byte of the node.
    pub start: u32,
    /// One past the last byte of the node.
    pub end: u32,
}

impl Span {
    /// A span covering `start..end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start: start as u32, end: end as u32 }
    }
    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
    /// The span as a `usize` range, for slicing and for codespan.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A parsed file: its top-level statements.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SourceTree {
    /// Statements in source order.
    pub statements: Vec<Statement>,
}

/// `name value* [block]` — the only construct of the language.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Statement {
    /// The leading name (`tenant`, `allow`, `cpu`, a label key as a string, …).
    pub name: Ident,
    /// The values after the name, in order.
    pub args: Vec<Value>,
    /// The `{ … }` block, if any.
    pub block: Option<Block>,
    /// From the name to the end of the last value or the closing brace.
    pub span: Span,
}

/// A `{ … }` block of statements.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    /// Statements in source order.
    pub statements: Vec<Statement>,
    /// From `{` to `}` inclusive.
    pub span: Span,
    /// True when a statement inside was dropped because of a syntax error, so
    /// checks for missing statements should stay quiet.
    pub recovered: bool,
}

/// A name, or a string used in name position (e.g. a label key).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    /// The text (for a string: its unescaped contents).
    pub text: String,
    /// Where it was written.
    pub span: Span,
    /// True when it was written as a quoted string.
    pub quoted: bool,
}

/// A value with its span.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Value {
    /// What kind of value, with its contents.
    pub kind: ValueKind,
    /// Where it was written.
    pub span: Span,
}

/// The kinds of values (SPEC.md section 1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// A bare name: `payments`, `deployments.apps`, `true`.
    Name(String),
    /// A string literal, unescaped.
    Str(String),
    /// A number with its unit suffix kept apart: `500m` is `("500", "m")`.
    Number {
        /// Digits, with an optional fraction: `500`, `1.31`.
        digits: String,
        /// Letters directly after the digits, possibly empty.
        unit: String,
    },
    /// An IPv4 address or CIDR, verbatim.
    Address(String),
    /// `lo-hi`, verbatim digits.
    Range {
        /// The lower bound's digits.
        lo: String,
        /// The upper bound's digits.
        hi: String,
    },
    /// `*`.
    Star,
    /// `[a, b, …]`.
    List(Vec<Value>),
}

impl Value {
    /// The value as text when it is a single word-like value (name, string, number,
    /// address, range or `*`); `None` for lists.
    pub fn as_text(&self) -> Option<String> {
        match &self.kind {
            ValueKind::Name(s) | ValueKind::Str(s) | ValueKind::Address(s) => Some(s.clone()),
            ValueKind::Number { digits, unit } => Some(format!("{digits}{unit}")),
            ValueKind::Range { lo, hi } => Some(format!("{lo}-{hi}")),
            ValueKind::Star => Some("*".into()),
            ValueKind::List(_) => None,
        }
    }

    /// A short description of the kind of value, for error messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            ValueKind::Name(_) => "a name",
            ValueKind::Str(_) => "a string",
            ValueKind::Number { .. } => "a number",
            ValueKind::Address(_) => "an address",
            ValueKind::Range { .. } => "a range",
            ValueKind::Star => "`*`",
            ValueKind::List(_) => "a list",
        }
    }
}

impl Statement {
    /// The statement's arguments with lists flattened, so that `a b` and `[a, b]`
    /// read the same.
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

    /// The statements of the block, or none.
    pub fn children(&self) -> &[Statement] {
        self.block.as_ref().map(|b| b.statements.as_slice()).unwrap_or(&[])
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::print::write_value(f, self)
    }
}
