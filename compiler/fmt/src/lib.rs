//! `khc fmt`: the canonical layout of khc sources.
//!
//! [`format()`] parses the text into the lossless tree of `khc-syntax` and prints it
//! back in the canonical layout; [`check()`] tells whether a text already is in it.
//! The formatter only ever changes whitespace, newlines, `;` separators and list
//! commas, so the statements, their values and their nesting stay the same.
//!
//! The layout rules (they are also what SPEC.md says about `khc fmt`):
//!
//! 1. Indentation is 2 spaces per block level; one space separates a statement's
//!    name and values; no line ends in whitespace; newlines are `\n`.
//! 2. `{` ends the statement's line and `}` stands on its own line at the
//!    statement's indentation; an empty block (only blanks or `;` inside) is `{}`.
//! 3. One statement per line: `;` between statements becomes a line break, and a
//!    stray or trailing `;` goes away. Exception: a block written on one line
//!    (`quota { cpu 2; memory 4Gi }`, `admission { use baseline }`) stays on one
//!    line, written `{ a; b }`, when the whole line fits in 100 columns.
//! 4. Lists are `[a, b]` when the statement's line fits in 100 columns and no
//!    comment is inside the list; otherwise every list of the statement is written
//!    one item per line, indented one level, each item followed by `,`, with `]`
//!    back at the statement's indentation.
//! 5. Blank lines between statements (and between items of a wrapped list) are
//!    kept, collapsed to at most one; blank lines at the start or end of a file or
//!    block are removed. The file ends with exactly one newline; a file with no
//!    statements and no comments becomes empty.
//! 6. Comments stay where they are: a comment on its own line stays on its own
//!    line, indented like the statement (or list item) that follows it, or like
//!    the block's statements when it is the last thing in the block; a comment at
//!    the end of a line stays at the end of that line. The comments at the end of
//!    consecutive one-line statements of a block (no blank line, own-line comment
//!    or statement without such a comment between them) are aligned one space
//!    after the longest of those lines; any other comment at the end of a line
//!    (after `{`, after `}`, after a list item) follows a single space.
//!    Trailing spaces inside a comment are removed.
//! 7. Text with syntax errors is left as written. A statement with a syntax error
//!    in its name, values or lists, or with an unclosed block, is copied verbatim
//!    with its whole block, and so is text the parser could not place (a stray
//!    `}`, a block without a name). Everything else on the same source line is
//!    copied with it; when that line holds a block's `{` or `}`, the statement
//!    owning the block is copied whole (so `encryption { … }` stays as written).
//!    A copied region keeps its indentation when it starts a line, and loses only
//!    the blanks and line breaks at its very end. Statements around it are
//!    formatted. A `;` that ends an unclosed `[` is kept, since removing it would
//!    let a later `]` close that list.
//!
//! Strings, numbers, names and comments are never rewritten (a comment only loses
//! trailing spaces).

#![warn(missing_docs)]

pub mod files;

use khc_syntax::ast::Statement;
use khc_syntax::SyntaxKind::{self, *};
use khc_syntax::{FileKey, Parse, SyntaxElement, SyntaxNode};
use rowan::NodeOrToken;
use std::collections::HashSet;

/// Lines are kept within this many columns where the layout allows a choice.
pub const MAX_WIDTH: usize = 100;

/// Spaces per block level.
pub const INDENT: usize = 2;

/// The result of [`format()`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Formatted {
    /// The text in canonical layout.
    pub text: String,
    /// True when `text` differs from the input.
    pub changed: bool,
}

/// Formats `text` (the contents of one `.khc` file) in the canonical layout.
/// Never panics; regions with syntax errors are copied verbatim.
pub fn format(text: &str) -> Formatted {
    format_parsed(text, &khc_syntax::parse(&FileKey::from("<fmt>"), text))
}

/// [`format()`] for a text already parsed (the language server keeps the parse of
/// every open file). `parse` must be the parse of `text`.
pub fn format_parsed(text: &str, parse: &Parse) -> Formatted {
    let root = parse.syntax();
    let offsets: Vec<u32> = parse.errors.iter().map(|d| d.primary.span.start).collect();
    let broken = broken_statements(&root, &offsets);
    let kept_semicolons = load_bearing_semicolons(&root);
    let mut f = Formatter { src: text, broken, kept_semicolons, out: String::with_capacity(text.len() + text.len() / 8 + 1) };
    f.escalate(&root);
    let pieces = f.pieces(&root);
    f.lines(&pieces, 0, false);
    if !f.out.is_empty() {
        f.out.push('\n');
    }
    let changed = f.out != text;
    Formatted { text: f.out, changed }
}

/// True when `text` is already in the canonical layout (`khc fmt --check`).
pub fn check(text: &str) -> bool {
    !format(text).changed
}

/// The start offsets of the statements that must be copied verbatim: those with
/// a malformed header or list, an unclosed block, or a syntax error reported
/// inside them (and not inside one of their nested statements).
fn broken_statements(root: &SyntaxNode, error_offsets: &[u32]) -> HashSet<u32> {
    let mut broken = HashSet::new();
    for node in root.descendants() {
        if node.kind() == STATEMENT && !well_formed(&node) {
            broken.insert(u32::from(node.text_range().start()));
        }
    }
    let len = root.text_range().end();
    for &offset in error_offsets {
        let token = if offset >= u32::from(len) { root.last_token() } else { root.token_at_offset(offset.into()).right_biased() };
        let Some(token) = token else { continue };
        if let Some(item) = token.parent_ancestors().find(is_item) {
            broken.insert(u32::from(item.text_range().start()));
        }
    }
    broken
}

/// The `;` that end an unclosed `[`: without them the parser would close that
/// `[` with a later `]` (it looks for one up to the next `{`, `}` or `;`, across
/// lines), so they are copied with the broken text around them.
fn load_bearing_semicolons(root: &SyntaxNode) -> HashSet<u32> {
    let mut kept = HashSet::new();
    let mut open = 0usize;
    for token in root.descendants_with_tokens().filter_map(|e| e.into_token()) {
        match token.kind() {
            L_BRACKET => open += 1,
            R_BRACKET => open = open.saturating_sub(1),
            L_BRACE | R_BRACE => open = 0,
            SEMICOLON => {
                if open > 0 {
                    kept.insert(u32::from(token.text_range().start()));
                }
                open = 0;
            }
            _ => {}
        }
    }
    kept
}

/// A statement-level node: a statement or unplaceable text in a file or block.
fn is_item(node: &SyntaxNode) -> bool {
    matches!(node.kind(), STATEMENT | ERROR) && node.parent().is_some_and(|p| matches!(p.kind(), SOURCE_FILE | BLOCK))
}

/// True when a statement holds only what the formatter knows how to lay out:
/// a name, values, closed well-formed lists and at most one closed block, last.
fn well_formed(stmt: &SyntaxNode) -> bool {
    let Some(stmt) = Statement::cast(stmt.clone()) else { return false };
    if stmt.has_errors() {
        return false;
    }
    let mut block_seen = false;
    for (i, child) in stmt.syntax().children_with_tokens().enumerate() {
        if block_seen {
            return false;
        }
        match child {
            NodeOrToken::Token(t) => {
                let k = t.kind();
                let ok = if i == 0 { matches!(k, NAME | STRING) } else { k == WHITESPACE || k.is_value_token() };
                if !ok {
                    return false;
                }
            }
            NodeOrToken::Node(n) => match n.kind() {
                LIST if well_formed_list(&n) => {}
                BLOCK => {
                    // The direct children: `last_token` would find a nested block's `}`.
                    let first = n.children_with_tokens().next().map(|t| t.kind());
                    let last = n.children_with_tokens().last().map(|t| t.kind());
                    if first != Some(L_BRACE) || last != Some(R_BRACE) || n.text_range().len() < 2.into() {
                        return false;
                    }
                    block_seen = true;
                }
                _ => return false,
            },
        }
    }
    true
}

fn well_formed_list(list: &SyntaxNode) -> bool {
    let mut items = 0usize;
    let mut commas = 0usize;
    let children: Vec<SyntaxElement> = list.children_with_tokens().collect();
    if children.first().and_then(|c| c.as_token()).map(|t| t.kind()) != Some(L_BRACKET) {
        return false;
    }
    if children.len() < 2 || children.last().and_then(|c| c.as_token()).map(|t| t.kind()) != Some(R_BRACKET) {
        return false;
    }
    for child in &children[1..children.len() - 1] {
        match child {
            NodeOrToken::Token(t) => match t.kind() {
                WHITESPACE | NEWLINE | COMMENT => {}
                COMMA => {
                    commas += 1;
                    if commas != items {
                        return false;
                    }
                }
                k if k.is_value_token() => {
                    if items != commas {
                        return false;
                    }
                    items += 1;
                }
                _ => return false,
            },
            NodeOrToken::Node(n) => {
                if n.kind() != LIST || !well_formed_list(n) || items != commas {
                    return false;
                }
                items += 1;
            }
        }
    }
    true
}

/// A statement, unplaceable text or comment in a file or block (or an item or
/// comment in a list), with the number of line breaks before it.
struct Piece {
    elem: SyntaxElement,
    newlines_before: usize,
}

impl Piece {
    fn is_comment(&self) -> bool {
        self.elem.kind() == COMMENT
    }
}

/// True when a subtree holds a comment.
fn has_comment(node: &SyntaxNode) -> bool {
    node.descendants_with_tokens().any(|e| e.kind() == COMMENT)
}

fn width(s: &str) -> usize {
    s.chars().count()
}

struct Formatter<'a> {
    src: &'a str,
    broken: HashSet<u32>,
    kept_semicolons: HashSet<u32>,
    out: String,
}

/// How a statement's block is laid out.
enum BlockLayout {
    None,
    Empty,
    OneLine(String),
    Lines,
}

impl<'a> Formatter<'a> {
    /// The statements, errors and comments of a file or block; or the items and
    /// comments of a list. Whitespace, `,`, brackets and `;` are left out, except
    /// the load-bearing `;` (which are copied verbatim).
    fn pieces(&self, container: &SyntaxNode) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut newlines = 0;
        for child in container.children_with_tokens() {
            match child.kind() {
                NEWLINE => newlines += 1,
                SEMICOLON if self.kept_semicolons.contains(&u32::from(child.text_range().start())) => {
                    out.push(Piece { elem: child, newlines_before: newlines });
                    newlines = 0;
                }
                WHITESPACE | SEMICOLON | COMMA | L_BRACE | R_BRACE | L_BRACKET | R_BRACKET => {}
                _ => {
                    out.push(Piece { elem: child, newlines_before: newlines });
                    newlines = 0;
                }
            }
        }
        out
    }

    /// A statement whose block has text to copy verbatim on the line of its `{`
    /// or of its `}` is copied verbatim as a whole: `encryption { … }` stays as
    /// written. Innermost statements first, so this climbs as far as needed.
    fn escalate(&mut self, root: &SyntaxNode) {
        let statements: Vec<SyntaxNode> = root.descendants().filter(|n| n.kind() == STATEMENT).collect();
        for stmt in statements.iter().rev() {
            let start = u32::from(stmt.text_range().start());
            if self.broken.contains(&start) {
                continue;
            }
            let Some(block) = stmt.children().find(|n| n.kind() == BLOCK) else { continue };
            let pieces = self.pieces(&block);
            let first_line = pieces.iter().take_while(|p| p.newlines_before == 0).any(|p| self.is_verbatim(p));
            let last_group = pieces.iter().rposition(|p| p.newlines_before > 0).unwrap_or(0);
            let last_line = pieces.last().is_some_and(|last| {
                let after = &self.src[usize::from(last.elem.text_range().end())..usize::from(block.text_range().end())];
                !after.contains(['\n', '\r']) && pieces[last_group..].iter().any(|p| self.is_verbatim(p))
            });
            if first_line || last_line {
                self.broken.insert(start);
            }
        }
    }

    fn is_verbatim(&self, piece: &Piece) -> bool {
        match &piece.elem {
            NodeOrToken::Node(n) => n.kind() != STATEMENT || self.broken.contains(&u32::from(n.text_range().start())),
            NodeOrToken::Token(t) => t.kind() != COMMENT,
        }
    }

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth * INDENT {
            self.out.push(' ');
        }
    }

    /// Ends the current line (with one blank line after it if `blank`), unless
    /// nothing was written yet.
    fn newline(&mut self, blank: bool) {
        if !self.out.is_empty() {
            self.out.push('\n');
            if blank {
                self.out.push('\n');
            }
        }
    }

    fn start_line(&mut self, blank: bool, depth: usize) {
        self.newline(blank);
        self.indent(depth);
    }

    fn comment(&mut self, piece: &Piece) {
        if let NodeOrToken::Token(t) = &piece.elem {
            self.out.push_str(t.text().trim_end());
        }
    }

    /// The whitespace before `offset` back to the start of its line, when only
    /// whitespace precedes it on that line.
    fn line_prefix(&self, offset: usize) -> Option<&'a str> {
        let before = &self.src[..offset];
        let start = before.trim_end_matches(is_inline_space).len();
        let at_line_start = start == 0 || before[..start].ends_with(['\n', '\r']);
        at_line_start.then(|| &before[start..])
    }

    /// Lays out the pieces of a file or block, one statement per line at `depth`.
    /// `in_block`: the current line is the block's `{` line.
    fn lines(&mut self, pieces: &[Piece], depth: usize, in_block: bool) {
        let mut has_line = in_block;
        let mut first = true;
        // Consecutive one-line statements with a trailing comment: where each
        // comment goes in `out` and the width of its line, to align them.
        let mut run: Vec<(usize, usize)> = Vec::new();
        // Where the current line started, when it holds a one-line statement.
        let mut statement_line: Option<usize> = None;
        let mut rest = pieces;
        while !rest.is_empty() {
            // A group: the pieces written on one source line.
            let len = 1 + rest[1..].iter().take_while(|p| p.newlines_before == 0).count();
            let (group, tail) = rest.split_at(len);
            rest = tail;
            let blank = !first && group[0].newlines_before >= 2;
            if group.iter().any(|p| self.is_verbatim(p)) {
                self.align(&mut run);
                statement_line = None;
                let start = usize::from(group[0].elem.text_range().start());
                let end = content_end(&group[len - 1].elem);
                self.newline(blank);
                match self.line_prefix(start) {
                    Some(prefix) => self.out.push_str(prefix),
                    None => self.indent(depth),
                }
                self.out.push_str(&self.src[start..end]);
            } else {
                for (i, piece) in group.iter().enumerate() {
                    if piece.is_comment() && piece.newlines_before == 0 && has_line {
                        match statement_line.take() {
                            Some(line) => run.push((self.out.len(), width(&self.out[line..]))),
                            None => self.align(&mut run),
                        }
                        self.out.push(' ');
                        self.comment(piece);
                    } else {
                        if i == 0 && blank {
                            self.align(&mut run);
                        }
                        self.newline(i == 0 && blank);
                        let line = self.out.len();
                        self.indent(depth);
                        statement_line = None;
                        match &piece.elem {
                            NodeOrToken::Node(n) => {
                                self.statement(n, depth);
                                let trailing_comment = group.get(i + 1).is_some_and(|p| p.is_comment());
                                if !self.out[line..].contains('\n') && trailing_comment {
                                    statement_line = Some(line);
                                } else {
                                    self.align(&mut run);
                                }
                            }
                            NodeOrToken::Token(_) => {
                                self.align(&mut run);
                                self.comment(piece);
                            }
                        }
                    }
                    has_line = true;
                }
            }
            has_line = true;
            first = false;
        }
        self.align(&mut run);
    }

    /// Aligns the trailing comments of a run of consecutive lines one space after
    /// the longest line, and empties the run.
    fn align(&mut self, run: &mut Vec<(usize, usize)>) {
        let longest = run.iter().map(|&(_, w)| w).max().unwrap_or(0);
        for &(at, w) in run.iter().rev() {
            if w < longest {
                self.out.insert_str(at, &" ".repeat(longest - w));
            }
        }
        run.clear();
    }

    /// A well-formed statement at `depth`; the line's indentation is written.
    fn statement(&mut self, stmt: &SyntaxNode, depth: usize) {
        let mut header = String::new();
        let mut lists = false;
        let mut forced = false;
        let mut block = None;
        for child in stmt.children_with_tokens() {
            match child {
                NodeOrToken::Token(t) if t.kind() != WHITESPACE => {
                    if !header.is_empty() {
                        header.push(' ');
                    }
                    header.push_str(t.text());
                }
                NodeOrToken::Token(_) => {}
                NodeOrToken::Node(n) if n.kind() == LIST => {
                    header.push(' ');
                    flat_list(&n, &mut header);
                    lists = true;
                    forced |= has_comment(&n);
                }
                NodeOrToken::Node(n) => block = Some(n),
            }
        }
        let layout = match &block {
            None => BlockLayout::None,
            Some(b) if self.pieces(b).is_empty() => BlockLayout::Empty,
            Some(b) if self.one_line_in_source(b) => {
                let mut s = String::new();
                self.flat_block(b, &mut s);
                BlockLayout::OneLine(s)
            }
            Some(_) => BlockLayout::Lines,
        };
        let used = depth * INDENT + width(&header);
        let opener = match layout {
            BlockLayout::None => 0,
            BlockLayout::Empty => 3,
            _ => 2,
        };
        let flat_header = !lists || (!forced && used + opener <= MAX_WIDTH);
        if flat_header {
            self.out.push_str(&header);
        } else {
            self.wrapped_header(stmt, depth);
        }
        match layout {
            BlockLayout::None => {}
            BlockLayout::Empty => self.out.push_str(" {}"),
            BlockLayout::OneLine(s) if flat_header && used + 1 + width(&s) <= MAX_WIDTH => {
                self.out.push(' ');
                self.out.push_str(&s);
            }
            BlockLayout::OneLine(_) | BlockLayout::Lines => {
                let b = block.expect("a block layout has a block");
                self.out.push_str(" {");
                let pieces = self.pieces(&b);
                self.lines(&pieces, depth + 1, true);
                self.start_line(false, depth);
                self.out.push('}');
            }
        }
    }

    /// The statement's name and values with every list wrapped.
    fn wrapped_header(&mut self, stmt: &SyntaxNode, depth: usize) {
        let mut first = true;
        for child in stmt.children_with_tokens() {
            match child {
                NodeOrToken::Token(t) if t.kind() != WHITESPACE => {
                    if !first {
                        self.out.push(' ');
                    }
                    self.out.push_str(t.text());
                }
                NodeOrToken::Node(n) if n.kind() == LIST => {
                    self.out.push(' ');
                    self.wrapped_list(&n, depth);
                }
                _ => {}
            }
            first = false;
        }
    }

    /// A list, one item per line at `depth + 1`, `]` at `depth`. Empty lists
    /// without comments stay `[]`.
    fn wrapped_list(&mut self, list: &SyntaxNode, depth: usize) {
        let pieces = self.pieces(list);
        if pieces.is_empty() {
            self.out.push_str("[]");
            return;
        }
        self.out.push('[');
        let mut first = true;
        for piece in &pieces {
            if piece.is_comment() && piece.newlines_before == 0 {
                self.out.push(' ');
                self.comment(piece);
                continue;
            }
            self.start_line(!first && piece.newlines_before >= 2, depth + 1);
            first = false;
            match &piece.elem {
                NodeOrToken::Token(t) if t.kind() == COMMENT => self.comment(piece),
                NodeOrToken::Token(t) => {
                    self.out.push_str(t.text());
                    self.out.push(',');
                }
                NodeOrToken::Node(n) => {
                    let mut flat = String::new();
                    flat_list(n, &mut flat);
                    if !has_comment(n) && (depth + 1) * INDENT + width(&flat) < MAX_WIDTH {
                        self.out.push_str(&flat);
                    } else {
                        self.wrapped_list(n, depth + 1);
                    }
                    self.out.push(',');
                }
            }
        }
        self.start_line(false, depth);
        self.out.push(']');
    }

    /// True when a block was written on one line, holds no comment and nothing
    /// to copy verbatim.
    fn one_line_in_source(&self, block: &SyntaxNode) -> bool {
        block.descendants_with_tokens().all(|e| match e {
            NodeOrToken::Token(t) => !matches!(t.kind(), NEWLINE | COMMENT),
            NodeOrToken::Node(n) => n.kind() != ERROR && !(n.kind() == STATEMENT && self.broken.contains(&u32::from(n.text_range().start()))),
        })
    }

    /// `{ a; b { c } }` or `{}`, for a block that is on one line.
    fn flat_block(&self, block: &SyntaxNode, out: &mut String) {
        let mut any = false;
        out.push('{');
        for stmt in block.children().filter(|n| n.kind() == STATEMENT) {
            out.push_str(if any { "; " } else { " " });
            any = true;
            let mut first = true;
            for child in stmt.children_with_tokens() {
                match child {
                    NodeOrToken::Token(t) if t.kind() != WHITESPACE => {
                        if !first {
                            out.push(' ');
                        }
                        out.push_str(t.text());
                    }
                    NodeOrToken::Node(n) if n.kind() == LIST => {
                        out.push(' ');
                        flat_list(&n, out);
                    }
                    NodeOrToken::Node(n) => {
                        out.push(' ');
                        self.flat_block(&n, out);
                    }
                    _ => {}
                }
                first = false;
            }
        }
        out.push_str(if any { " }" } else { "}" });
    }
}

/// `[a, b, [c]]`: a list on one line (its comments, if any, are left out).
fn flat_list(list: &SyntaxNode, out: &mut String) {
    out.push('[');
    let mut first = true;
    for child in list.children_with_tokens() {
        let kind: SyntaxKind = child.kind();
        if !(kind.is_value_token() || kind == LIST) {
            continue;
        }
        if !first {
            out.push_str(", ");
        }
        first = false;
        match child {
            NodeOrToken::Token(t) => out.push_str(t.text()),
            NodeOrToken::Node(n) => flat_list(&n, out),
        }
    }
    out.push(']');
}

/// Where an element ends without the whitespace and newline tokens at its end
/// (an unclosed block runs to the end of the file, newlines included).
fn content_end(elem: &SyntaxElement) -> usize {
    let range = elem.text_range();
    let mut token = match elem {
        NodeOrToken::Node(n) => n.last_token(),
        NodeOrToken::Token(t) => Some(t.clone()),
    };
    while let Some(t) = token {
        if !range.contains_range(t.text_range()) {
            break;
        }
        if !matches!(t.kind(), WHITESPACE | NEWLINE) {
            return usize::from(t.text_range().end());
        }
        token = t.prev_token();
    }
    usize::from(range.end())
}

/// Whitespace that does not end a line (as the lexer sees it).
fn is_inline_space(c: char) -> bool {
    (c.is_whitespace() && c != '\n' && c != '\r') || c == '\u{feff}'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(text: &str) -> String {
        format(text).text
    }

    #[test]
    fn basic_layout() {
        assert_eq!(f("tenant   a{\n\n\n    isolation    strict ;pods 3\n\n\n\n  }  \n\n"), "tenant a {\n  isolation strict\n  pods 3\n}\n");
        assert_eq!(f(""), "");
        assert_eq!(f("\n \n;\n"), "");
        assert_eq!(f("\n\na 1\n"), "a 1\n");
        assert_eq!(f("a {\n}\nb { ; }"), "a {}\nb {}\n");
    }

    #[test]
    fn one_line_blocks_stay() {
        assert_eq!(f("quota {cpu 2;memory 4Gi;}"), "quota { cpu 2; memory 4Gi }\n");
        assert_eq!(f("t { admission { use baseline } }"), "t { admission { use baseline } }\n");
        let long = format!("quota {{ cpu 2; memory 4Gi; {} 1 }}", "x".repeat(90));
        assert_eq!(f(&long), format!("quota {{\n  cpu 2\n  memory 4Gi\n  {} 1\n}}\n", "x".repeat(90)));
    }

    #[test]
    fn comments() {
        assert_eq!(
            f("a { # open   \n  b 1    # one\n\n\n   # own\n c 2 ;  # two\n # end\n} # after\n"),
            "a { # open\n  b 1 # one\n\n  # own\n  c 2 # two\n  # end\n} # after\n"
        );
        assert_eq!(f("# only\n"), "# only\n");
    }

    #[test]
    fn lists() {
        assert_eq!(f("n [a,b ,c,]"), "n [a, b, c]\n");
        assert_eq!(f("n [\n a, # x\n b\n]"), "n [\n  a, # x\n  b,\n]\n");
        let items: Vec<String> = (0..20).map(|i| format!("item{i}")).collect();
        let out = f(&format!("n [{}]", items.join(",")));
        assert!(out.starts_with("n [\n  item0,\n  item1,\n"), "{out}");
        assert!(out.ends_with("  item19,\n]\n"), "{out}");
    }

    #[test]
    fn broken_regions_are_verbatim() {
        assert_eq!(f("tenant a {\n      bad   $x  y\n  good   1\n}\n"), "tenant a {\n      bad   $x  y\n  good 1\n}\n");
        assert_eq!(f("x   [a b]\n"), "x   [a b]\n");
        assert_eq!(f("x [a]b\n"), "x [a]b\n");
        assert_eq!(f("tenant a {\n  x   1\n"), "tenant a {\n  x   1\n");
        assert_eq!(f("}\n  a   1\n"), "}\na 1\n");
        // An unterminated string keeps its trailing space (it is part of the token).
        assert_eq!(f("a[a\t\" \n}"), "a[a\t\" \n}\n");
        // An unclosed block runs to the end of the file: its trailing newlines go.
        assert_eq!(f("a {\n  b   1\n\n\n"), "a {\n  b   1\n");
    }
}
