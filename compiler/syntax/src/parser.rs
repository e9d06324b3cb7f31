//! The parser: builds the lossless rowan tree from the lexer's tokens. It never
//! panics and never gives up: every byte of the input ends up in the tree, a
//! malformed part of a statement becomes an `ERROR` node inside that statement
//! (its valid parts stay), and parsing goes on. Nesting deeper than
//! [`MAX_DEPTH`] is reported once and kept flat, so no input can exhaust the stack.

use crate::ast::Span;
use crate::diag::{Diagnostic, FileKey};
use crate::kind::SyntaxKind::{self, *};
use crate::lexer::{tokenize, Token};
use rowan::{GreenNode, GreenNodeBuilder};

/// Blocks and lists nested deeper than this are an error.
pub const MAX_DEPTH: usize = 64;

/// At most this many syntax errors are reported per file; one more diagnostic
/// then says how many were left out (parsing itself goes on, in linear time).
pub const MAX_SYNTAX_ERRORS: usize = 200;

/// The result of parsing one file: the lossless green tree and the syntax errors.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Parse {
    /// The immutable, thread-safe tree; [`Parse::syntax`] gives a cursor over it.
    pub green: GreenNode,
    /// One diagnostic per syntax error, in source order.
    pub errors: Vec<Diagnostic>,
}

impl Parse {
    /// The root node (cheap: a new cursor over the shared green tree).
    pub fn syntax(&self) -> crate::SyntaxNode {
        crate::SyntaxNode::new_root(self.green.clone())
    }

    /// The typed view of the root.
    pub fn tree(&self) -> crate::ast::SourceTree {
        crate::ast::SourceTree::cast(self.syntax()).expect("the root is a SOURCE_FILE")
    }
}

/// Parses `text`, the contents of `file`.
pub fn parse(file: &FileKey, text: &str) -> Parse {
    let tokens = tokenize(text);
    let closed = closed_brackets(&tokens);
    let mut offsets = Vec::with_capacity(tokens.len() + 1);
    let mut pos = 0u32;
    for t in &tokens {
        offsets.push(pos);
        pos += t.len;
    }
    offsets.push(pos);
    let mut p = Parser {
        text,
        file: file.clone(),
        tokens,
        offsets,
        closed,
        pos: 0,
        builder: GreenNodeBuilder::new(),
        errors: Vec::new(),
        dropped_errors: 0,
        depth: 0,
        deep_reported: false,
    };
    p.builder.start_node(SOURCE_FILE.into());
    p.statements(None);
    p.builder.finish_node();
    let mut errors = p.errors;
    if p.dropped_errors > 0 {
        let last = errors.last().map(|d| d.primary.span).unwrap_or_default();
        errors.push(
            Diagnostic::error("syntax", file, last, format!("{} more syntax errors in this file", p.dropped_errors))
                .with_label("and more after this one")
                .with_note(format!("khc reports the first {MAX_SYNTAX_ERRORS} syntax errors of a file")),
        );
    }
    Parse { green: p.builder.finish(), errors }
}

/// For each `[` token, whether a matching `]` closes it before the statement ends
/// (before a `{`, `}` or `;`). One linear pass, so unclosed lists cost nothing extra.
fn closed_brackets(tokens: &[Token]) -> Vec<bool> {
    let mut closed = vec![false; tokens.len()];
    let mut open: Vec<usize> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match t.kind {
            L_BRACKET => open.push(i),
            R_BRACKET => {
                if let Some(o) = open.pop() {
                    closed[o] = true;
                }
            }
            L_BRACE | R_BRACE | SEMICOLON => open.clear(),
            _ => {}
        }
    }
    closed
}

struct Parser<'t> {
    text: &'t str,
    file: FileKey,
    tokens: Vec<Token>,
    offsets: Vec<u32>,
    closed: Vec<bool>,
    pos: usize,
    builder: GreenNodeBuilder<'static>,
    errors: Vec<Diagnostic>,
    dropped_errors: usize,
    depth: usize,
    deep_reported: bool,
}

impl<'t> Parser<'t> {
    fn kind_at(&self, i: usize) -> Option<SyntaxKind> {
        self.tokens.get(i).map(|t| t.kind)
    }

    fn current(&self) -> Option<SyntaxKind> {
        self.kind_at(self.pos)
    }

    fn text_at(&self, i: usize) -> &'t str {
        let start = self.offsets[i] as usize;
        let end = self.offsets[i + 1] as usize;
        &self.text[start..end]
    }

    fn span_at(&self, i: usize) -> Span {
        Span { start: self.offsets[i], end: self.offsets[(i + 1).min(self.tokens.len())] }
    }

    /// The index of the next token that is not whitespace.
    fn next_non_space(&self) -> usize {
        let mut i = self.pos;
        while self.kind_at(i) == Some(WHITESPACE) {
            i += 1;
        }
        i
    }

    fn bump(&mut self) {
        let kind = self.tokens[self.pos].kind;
        let text = self.text_at(self.pos);
        self.builder.token(kind.into(), text);
        self.pos += 1;
    }

    fn bump_spaces(&mut self) {
        while self.current() == Some(WHITESPACE) {
            self.bump();
        }
    }

    fn error(&mut self, span: Span, message: impl Into<String>, label: &str, help: Option<&str>) {
        if self.errors.len() >= MAX_SYNTAX_ERRORS {
            self.dropped_errors += 1;
            return;
        }
        let mut d = Diagnostic::error("syntax", &self.file, span, message).with_label(label);
        if let Some(h) = help {
            d = d.with_help(h);
        }
        self.errors.push(d);
    }

    /// Wraps the current token in an `ERROR` node.
    fn bump_error(&mut self) {
        self.builder.start_node(ERROR.into());
        self.bump();
        self.builder.finish_node();
    }

    /// Describes the current token for "found …" messages.
    fn describe(&self, i: usize) -> String {
        match self.kind_at(i) {
            None => "end of file".into(),
            Some(NEWLINE) => "end of line".into(),
            Some(_) => {
                let t = self.text_at(i);
                let first: String = t.chars().take(20).collect();
                format!("`{first}`")
            }
        }
    }

    /// Statements until end of input (`open` is None) or the `}` closing the block
    /// whose `{` is token `open`.
    fn statements(&mut self, open: Option<usize>) {
        loop {
            match self.current() {
                None => {
                    if let Some(o) = open {
                        self.error(self.span_at(o), "unclosed `{`", "this block is never closed", Some("add a matching `}`"));
                    }
                    return;
                }
                Some(WHITESPACE | NEWLINE | COMMENT | SEMICOLON) => self.bump(),
                Some(R_BRACE) => {
                    if open.is_some() {
                        return;
                    }
                    self.error(self.span_at(self.pos), "unexpected `}`", "no block is open here", Some("remove it, or check the braces above"));
                    self.bump_error();
                }
                Some(NAME | STRING) => self.statement(),
                Some(L_BRACE) => {
                    self.error(self.span_at(self.pos), "a block needs a statement name before it", "block without a name", Some("write `NAME { … }`"));
                    self.builder.start_node(ERROR.into());
                    self.block();
                    self.builder.finish_node();
                }
                Some(ERROR_TOKEN) => {
                    self.explain_error_token(self.pos);
                    self.error_until_line_end();
                }
                Some(_) => {
                    let found = self.describe(self.pos);
                    self.error(self.span_at(self.pos), format!("expected a statement, found {found}"), "statements start with a name", None);
                    self.error_until_line_end();
                }
            }
        }
    }

    /// Wraps tokens up to the end of the line, a `;` or a `}` in an `ERROR` node,
    /// keeping `[ … ]` balanced.
    fn error_until_line_end(&mut self) {
        self.builder.start_node(ERROR.into());
        self.bump();
        while let Some(k) = self.current() {
            if matches!(k, NEWLINE | SEMICOLON | R_BRACE | L_BRACE) {
                break;
            }
            self.bump();
        }
        self.builder.finish_node();
    }

    /// `name value… [block]`. The statement node spans from the name to its last
    /// value or its block's `}`; whitespace before a terminator stays outside.
    fn statement(&mut self) {
        self.builder.start_node(STATEMENT.into());
        self.bump();
        let name_end = self.pos;
        loop {
            let next = self.next_non_space();
            match self.kind_at(next) {
                None | Some(NEWLINE | SEMICOLON | R_BRACE | COMMENT) => break,
                Some(L_BRACE) => {
                    self.bump_spaces();
                    self.block();
                    break;
                }
                Some(k) if k.is_value_token() => {
                    self.bump_spaces();
                    self.bump();
                }
                Some(L_BRACKET) => {
                    self.bump_spaces();
                    self.list();
                }
                Some(ERROR_TOKEN) => {
                    self.bump_spaces();
                    self.explain_error_token(self.pos);
                    self.bump_error();
                }
                Some(_) => {
                    // `]` or `,` outside a list.
                    self.bump_spaces();
                    let found = self.describe(self.pos);
                    let help = if self.current() == Some(COMMA) { Some("separate values with spaces, or write a list: `[a, b]`") } else { None };
                    self.error(self.span_at(self.pos), format!("unexpected {found}"), "not a valid value", help);
                    self.bump_error();
                }
            }
            // A value directly followed by another (e.g. `[a]b`) needs a space.
            if self.pos > name_end && self.current().is_some_and(|k| k.is_value_token() || k == L_BRACKET) {
                let prev = self.kind_at(self.pos - 1);
                if prev == Some(R_BRACKET) {
                    self.error(self.span_at(self.pos), "unexpected text after list", "a list must be followed by a space", None);
                }
            }
        }
        self.builder.finish_node();
    }

    /// `{ statement… }`; the current token is `{`.
    fn block(&mut self) {
        let open = self.pos;
        if self.depth >= MAX_DEPTH {
            self.too_deep(open);
            return;
        }
        self.depth += 1;
        self.builder.start_node(BLOCK.into());
        self.bump();
        self.statements(Some(open));
        if self.current() == Some(R_BRACE) {
            self.bump();
        }
        self.builder.finish_node();
        self.depth -= 1;
    }

    /// `[ value, … ]`; the current token is `[`. A list without a matching `]`
    /// ends at the end of its line.
    fn list(&mut self) {
        let open = self.pos;
        if self.depth >= MAX_DEPTH {
            self.too_deep(open);
            return;
        }
        self.depth += 1;
        let closed = self.closed[open];
        self.builder.start_node(LIST.into());
        self.bump();
        // Whether the next item needs a comma first.
        let mut need_comma = false;
        loop {
            match self.current() {
                Some(WHITESPACE | COMMENT) => self.bump(),
                Some(NEWLINE) if closed => self.bump(),
                Some(R_BRACKET) => {
                    self.bump();
                    break;
                }
                None | Some(NEWLINE | L_BRACE | R_BRACE | SEMICOLON) => {
                    self.error(self.span_at(open), "unclosed `[`", "this list is never closed", Some("add a matching `]`"));
                    break;
                }
                Some(COMMA) => {
                    if !need_comma {
                        self.error(self.span_at(self.pos), "unexpected `,` in list", "expected a value here", None);
                        self.bump_error();
                    } else {
                        self.bump();
                    }
                    need_comma = false;
                }
                Some(k) => {
                    if need_comma {
                        let found = self.describe(self.pos);
                        self.error(self.span_at(self.pos), format!("expected `,` or `]` in list, found {found}"), "list items are separated by commas", None);
                    }
                    match k {
                        L_BRACKET => self.list(),
                        ERROR_TOKEN => {
                            self.explain_error_token(self.pos);
                            self.bump_error();
                        }
                        _ => self.bump(),
                    }
                    need_comma = true;
                }
            }
        }
        self.builder.finish_node();
        self.depth -= 1;
    }

    /// Reports nesting beyond [`MAX_DEPTH`] and keeps the whole nested region, up
    /// to its matching close, as one flat `ERROR` node (no recursion).
    fn too_deep(&mut self, open: usize) {
        if !self.deep_reported {
            self.deep_reported = true;
            self.error(
                self.span_at(open),
                format!("blocks and lists are nested more than {MAX_DEPTH} deep"),
                "nested too deeply",
                Some("khc sources need a few levels; check for unbalanced braces"),
            );
        }
        self.builder.start_node(ERROR.into());
        let mut depth = 0usize;
        while let Some(k) = self.current() {
            match k {
                L_BRACE | L_BRACKET => depth += 1,
                R_BRACE | R_BRACKET => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        self.bump();
                        break;
                    }
                }
                _ => {}
            }
            self.bump();
        }
        self.builder.finish_node();
    }

    /// Explains why an `ERROR_TOKEN` is not a value.
    fn explain_error_token(&mut self, i: usize) {
        let word = self.text_at(i).to_string();
        let span = self.span_at(i);
        let first = word.chars().next().unwrap_or(' ');
        if first == '"' {
            if word.len() >= 2 && word.ends_with('"') && !word.ends_with("\\\"") {
                self.error(span, "invalid escape in string", "unknown escape sequence", Some("strings accept the escapes \\\" \\\\ \\n \\t"));
            } else if let Some(close) = word[1..].find('"').filter(|c| c + 2 < word.len()) {
                let _ = close;
                self.error(span, format!("unexpected text after string in `{word}`"), "a string must be followed by a space", None);
            } else {
                self.error(span, "unterminated string", "this string has no closing `\"`", Some("strings end on the line they start on"));
            }
            return;
        }
        let (message, help) = explain_word(&word);
        self.error(span, message, "not a valid value", help);
    }
}

/// Explains why a word is not a value.
fn explain_word(word: &str) -> (String, Option<&'static str>) {
    let first = word.chars().next().unwrap_or(' ');
    if first.is_ascii_digit() && word.contains(':') {
        return (format!("`{word}` is not a valid value"), Some("write IPv6 addresses and CIDRs as strings, e.g. \"fd00::/8\""));
    }
    if first.is_ascii_digit() {
        return (
            format!("malformed number or address `{word}`"),
            Some("numbers look like `50`, `1.31`, `500m`, `256Mi`; addresses like `10.0.0.0/8`; ranges like `8000-8100`"),
        );
    }
    if word.contains(|c: char| !c.is_ascii()) {
        return (format!("unexpected character in `{word}`"), Some("names use ASCII letters, digits, `-`, `_` and `.`; put other text in a string"));
    }
    (format!("unexpected `{word}`"), Some("names use letters, digits, `-`, `_` and `.`; put other text in a string"))
}
