//! The typed view over the lossless tree: [`SourceTree`], [`Statement`] and
//! [`Block`] wrap rowan nodes (cheap to clone, no copy of the text), and hand out
//! owned [`Value`]s and [`Ident`]s with byte spans for the semantics layer.
//!
//! A statement whose header holds a syntax error keeps its valid parts; semantics
//! skips it ([`Statement::has_errors`]) while the IDE layer still sees it.

use crate::kind::SyntaxKind::{self, *};
use crate::kind::{SyntaxNode, SyntaxToken};
use crate::lexer::unescape;
use rowan::NodeOrToken;
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
    /// True when `offset` lies inside the span or at its end.
    pub fn touches(self, offset: u32) -> bool {
        self.start <= offset && offset <= self.end
    }
}

impl From<rowan::TextRange> for Span {
    fn from(r: rowan::TextRange) -> Self {
        Span { start: r.start().into(), end: r.end().into() }
    }
}

/// A parsed file: the typed root of the tree.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SourceTree(SyntaxNode);

impl SourceTree {
    /// Wraps a `SOURCE_FILE` node.
    pub fn cast(node: SyntaxNode) -> Option<Self> {
        (node.kind() == SOURCE_FILE).then_some(SourceTree(node))
    }

    /// The top-level statements in source order.
    pub fn statements(&self) -> impl Iterator<Item = Statement> + '_ {
        self.0.children().filter_map(Statement::cast)
    }

    /// The underlying node.
    pub fn syntax(&self) -> &SyntaxNode {
        &self.0
    }
}

/// `name value* [block]` — the only construct of the language.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Statement(SyntaxNode);

impl Statement {
    /// Wraps a `STATEMENT` node.
    pub fn cast(node: SyntaxNode) -> Option<Self> {
        (node.kind() == STATEMENT).then_some(Statement(node))
    }

    /// The underlying node.
    pub fn syntax(&self) -> &SyntaxNode {
        &self.0
    }

    /// The leading name token (a `NAME` or a `STRING`).
    pub fn name_token(&self) -> SyntaxToken {
        self.0.first_token().expect("a statement starts with its name")
    }

    /// The leading name (`tenant`, `allow`, `cpu`, a label key as a string, …).
    pub fn name(&self) -> Ident {
        Ident::from_token(&self.name_token())
    }

    /// The name's text (unescaped for strings).
    pub fn keyword(&self) -> String {
        self.name().text
    }

    /// True when the name is a bare name equal to `kw`.
    pub fn is(&self, kw: &str) -> bool {
        let t = self.name_token();
        t.kind() == NAME && t.text() == kw
    }

    /// The values after the name, in order (lists as one value each); malformed
    /// parts are left out (see [`Statement::has_errors`]).
    pub fn args(&self) -> Vec<Value> {
        self.0
            .children_with_tokens()
            .skip(1)
            .filter_map(|e| match e {
                NodeOrToken::Token(t) if t.kind().is_value_token() => Some(Value::from_token(&t)),
                NodeOrToken::Node(n) if n.kind() == LIST => Some(Value::from_list(&n)),
                _ => None,
            })
            .collect()
    }

    /// The values with lists flattened, so that `a b` and `[a, b]` read the same.
    pub fn flat_args(&self) -> Vec<Value> {
        fn push(v: Value, out: &mut Vec<Value>) {
            match v.kind {
                ValueKind::List(items) => items.into_iter().for_each(|i| push(i, out)),
                _ => out.push(v),
            }
        }
        let mut out = Vec::new();
        self.args().into_iter().for_each(|a| push(a, &mut out));
        out
    }

    /// The `{ … }` block, if any.
    pub fn block(&self) -> Option<Block> {
        self.0.children().find_map(Block::cast)
    }

    /// The statements of the block, or none.
    pub fn children(&self) -> Vec<Statement> {
        self.block().map(|b| b.statements().collect()).unwrap_or_default()
    }

    /// True when the statement's header (name and values, not its block) holds a
    /// syntax error. Semantics skips such statements, as if they were not written.
    pub fn has_errors(&self) -> bool {
        self.0.children().any(|n| n.kind() == ERROR || (n.kind() == LIST && list_has_errors(&n)))
    }

    /// True when the block lost a statement to a syntax error, so checks for
    /// missing statements should stay quiet.
    pub fn block_recovered(&self) -> bool {
        self.block().is_some_and(|b| b.recovered())
    }

    /// From the name to the end of the last value or the closing brace.
    pub fn span(&self) -> Span {
        self.0.text_range().into()
    }
}

/// True when the node's own last child is the token `close` (not a token of a
/// nested node).
fn ends_with(n: &SyntaxNode, close: SyntaxKind) -> bool {
    n.children_with_tokens().last().is_some_and(|e| e.kind() == close)
}

fn list_has_errors(n: &SyntaxNode) -> bool {
    let closed = ends_with(n, R_BRACKET);
    !closed || n.children().any(|c| c.kind() == ERROR || (c.kind() == LIST && list_has_errors(&c)))
}

/// A `{ … }` block of statements.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Block(SyntaxNode);

impl Block {
    /// Wraps a `BLOCK` node.
    pub fn cast(node: SyntaxNode) -> Option<Self> {
        (node.kind() == BLOCK).then_some(Block(node))
    }

    /// The underlying node.
    pub fn syntax(&self) -> &SyntaxNode {
        &self.0
    }

    /// Statements in source order.
    pub fn statements(&self) -> impl Iterator<Item = Statement> + '_ {
        self.0.children().filter_map(Statement::cast)
    }

    /// From `{` to `}` inclusive.
    pub fn span(&self) -> Span {
        self.0.text_range().into()
    }

    /// True when a statement inside has a syntax error or text could not be
    /// placed, or the block is not closed.
    pub fn recovered(&self) -> bool {
        let closed = ends_with(&self.0, R_BRACE);
        !closed || self.0.children().any(|n| n.kind() == ERROR || Statement::cast(n).is_some_and(|s| s.has_errors()))
    }
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

impl Ident {
    fn from_token(t: &SyntaxToken) -> Ident {
        let quoted = t.kind() == STRING;
        let text = if quoted { unescape(t.text()) } else { t.text().to_string() };
        Ident { text, span: t.text_range().into(), quoted }
    }
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
    /// The value of a value token.
    pub fn from_token(t: &SyntaxToken) -> Value {
        let text = t.text();
        let kind = match t.kind() {
            STRING => ValueKind::Str(unescape(text)),
            NUMBER => {
                let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
                ValueKind::Number { digits: text[..split].to_string(), unit: text[split..].to_string() }
            }
            ADDRESS => ValueKind::Address(text.to_string()),
            RANGE => {
                let (lo, hi) = text.split_once('-').unwrap_or((text, ""));
                ValueKind::Range { lo: lo.to_string(), hi: hi.to_string() }
            }
            STAR => ValueKind::Star,
            _ => ValueKind::Name(text.to_string()),
        };
        Value { kind, span: t.text_range().into() }
    }

    fn from_list(n: &SyntaxNode) -> Value {
        let items = n
            .children_with_tokens()
            .filter_map(|e| match e {
                NodeOrToken::Token(t) if t.kind().is_value_token() => Some(Value::from_token(&t)),
                NodeOrToken::Node(c) if c.kind() == LIST => Some(Value::from_list(&c)),
                _ => None,
            })
            .collect();
        Value { kind: ValueKind::List(items), span: n.text_range().into() }
    }

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

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::print::write_value(f, self)
    }
}

/// The token at `offset` (the one to its left when between two tokens and the
/// right one is trivia), for "what is under the cursor".
pub fn token_at(root: &SyntaxNode, offset: u32) -> Option<SyntaxToken> {
    let size: u32 = root.text_range().end().into();
    if offset > size {
        return None;
    }
    match root.token_at_offset(offset.into()) {
        rowan::TokenAtOffset::None => None,
        rowan::TokenAtOffset::Single(t) => Some(t),
        rowan::TokenAtOffset::Between(l, r) => {
            if l.kind().is_trivia() || matches!(l.kind(), NEWLINE) {
                Some(r)
            } else {
                Some(l)
            }
        }
    }
}

/// The kinds of the tokens of `node`, for tests and debugging.
pub fn token_kinds(node: &SyntaxNode) -> Vec<SyntaxKind> {
    node.descendants_with_tokens().filter_map(|e| e.into_token()).map(|t| t.kind()).collect()
}
