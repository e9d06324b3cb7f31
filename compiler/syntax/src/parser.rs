//! The parser: nom combinators for values (names, strings, numbers, addresses,
//! ranges, lists) and a recovering driver for statements and blocks. It never
//! panics and never gives up: a malformed statement is reported and skipped up to the
//! next line, `;` or `}`, and parsing goes on.

use crate::ast::*;
use crate::diag::{Diagnostic, FileKey};
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit1, none_of, satisfy};
use nom::combinator::{map, not, opt, recognize, value as nom_value};
use nom::multi::{many0, separated_list0};
use nom::sequence::{delimited, pair, preceded, terminated};
use nom::{IResult, Parser};

/// Parses `text` (the contents of `file`) into a syntax tree. Returns the tree of
/// everything that could be parsed and one diagnostic per syntax error.
pub fn parse(file: &FileKey, text: &str) -> (SourceTree, Vec<Diagnostic>) {
    let mut p = Driver { src: text, file: file.clone(), diags: Vec::new() };
    let (statements, _, _) = p.statements(text, None);
    (SourceTree { statements }, p.diags)
}

// ---------------------------------------------------------------------------
// Lexical level (pure nom).

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Characters that may directly follow a value.
fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, ';' | ',' | ']' | '[' | '}' | '{' | '#')
}

/// Whitespace other than newlines.
fn inline_space(i: &str) -> IResult<&str, &str> {
    take_while(|c: char| c.is_whitespace() && c != '\n').parse(i)
}

/// A `#` comment up to (not including) the newline.
fn comment(i: &str) -> IResult<&str, &str> {
    recognize(pair(char('#'), take_while(|c| c != '\n'))).parse(i)
}

/// Any run of whitespace, newlines and comments (used inside lists).
fn trivia(i: &str) -> IResult<&str, ()> {
    nom_value((), many0(alt((take_while1(|c: char| c.is_whitespace()), comment)))).parse(i)
}

/// A value must end at a delimiter or the end of input.
fn boundary(i: &str) -> IResult<&str, ()> {
    not(satisfy(|c| !is_delimiter(c))).parse(i)
}

fn name(i: &str) -> IResult<&str, &str> {
    recognize(pair(satisfy(is_name_start), take_while(is_name_char))).parse(i)
}

fn string_lit(i: &str) -> IResult<&str, String> {
    let escape = preceded(char('\\'), alt((nom_value('"', char('"')), nom_value('\\', char('\\')), nom_value('\n', char('n')), nom_value('\t', char('t')))));
    map(delimited(char('"'), many0(alt((escape, none_of("\"\\\n")))), char('"')), |cs| cs.into_iter().collect()).parse(i)
}

fn address(i: &str) -> IResult<&str, &str> {
    recognize((digit1, char('.'), digit1, char('.'), digit1, char('.'), digit1, opt(pair(char('/'), digit1)))).parse(i)
}

fn range(i: &str) -> IResult<&str, (&str, &str)> {
    pair(digit1, preceded(char('-'), digit1)).parse(i)
}

fn number(i: &str) -> IResult<&str, (&str, &str)> {
    pair(recognize(pair(digit1, opt(pair(char('.'), digit1)))), take_while(|c: char| c.is_ascii_alphabetic())).parse(i)
}

// ---------------------------------------------------------------------------
// Values (nom, with spans computed against the whole source).

/// Parser for values that knows the source, to compute spans.
#[derive(Clone, Copy)]
struct Values<'s> {
    src: &'s str,
}

impl<'s> Values<'s> {
    fn offset(&self, rest: &str) -> usize {
        self.src.len() - rest.len()
    }

    fn spanned<'a>(&self, start: &'a str, rest: &'a str, kind: ValueKind) -> Value {
        Value { kind, span: Span::new(self.offset(start), self.offset(rest)) }
    }

    fn value<'a>(&self, i: &'a str) -> IResult<&'a str, Value> {
        let start = i;
        let (rest, kind) = alt((
            map(|i| self.list(i), ValueKind::List),
            map(terminated(string_lit, boundary), ValueKind::Str),
            map(terminated(tag("*"), boundary), |_| ValueKind::Star),
            map(terminated(address, boundary), |a: &str| ValueKind::Address(a.to_string())),
            map(terminated(range, boundary), |(lo, hi): (&str, &str)| ValueKind::Range { lo: lo.into(), hi: hi.into() }),
            map(terminated(number, boundary), |(d, u): (&str, &str)| ValueKind::Number { digits: d.into(), unit: u.into() }),
            map(terminated(name, boundary), |n: &str| ValueKind::Name(n.to_string())),
        ))
        .parse(i)?;
        Ok((rest, self.spanned(start, rest, kind)))
    }

    fn list<'a>(&self, i: &'a str) -> IResult<&'a str, Vec<Value>> {
        delimited(
            pair(char('['), trivia),
            terminated(separated_list0((trivia, char(','), trivia), |i| self.value(i)), opt((trivia, char(',')))),
            pair(trivia, char(']')),
        )
        .parse(i)
    }
}

// ---------------------------------------------------------------------------
// Statements and blocks (recovering driver).

struct Driver<'s> {
    src: &'s str,
    file: FileKey,
    diags: Vec<Diagnostic>,
}

/// How a statement's argument list ended.
enum ArgsEnd {
    /// Newline, `;`, `}` or end of input: no block.
    Plain,
    /// A `{` follows.
    Block,
}

impl<'s> Driver<'s> {
    fn offset(&self, rest: &str) -> usize {
        self.src.len() - rest.len()
    }

    fn error(&mut self, at: usize, len: usize, message: impl Into<String>, label: &str, help: Option<&str>) {
        let end = (at + len).min(self.src.len());
        let mut d = Diagnostic::error("syntax", &self.file, Span::new(at, end), message).with_label(label);
        if let Some(h) = help {
            d = d.with_help(h);
        }
        self.diags.push(d);
    }

    /// Statements until end of input (`open` is None) or the `}` closing the block
    /// opened at `open`. Returns the statements, whether any was dropped after a
    /// syntax error, and the input after the block.
    fn statements<'a>(&mut self, mut i: &'a str, open: Option<usize>) -> (Vec<Statement>, bool, &'a str) {
        let mut out = Vec::new();
        let mut dropped = false;
        loop {
            i = skip_separators(i);
            let Some(c) = i.chars().next() else {
                if let Some(at) = open {
                    self.error(at, 1, "unclosed `{`", "this block is never closed", Some("add a matching `}`"));
                }
                return (out, dropped, i);
            };
            if c == '}' {
                if open.is_some() {
                    return (out, dropped, &i[1..]);
                }
                let at = self.offset(i);
                self.error(at, 1, "unexpected `}`", "no block is open here", Some("remove it, or check the braces above"));
                i = &i[1..];
                continue;
            }
            match self.statement(i) {
                Some((rest, stmt)) => {
                    match stmt {
                        Some(stmt) => out.push(stmt),
                        None => dropped = true,
                    }
                    i = rest;
                }
                None => {
                    let at = self.offset(i);
                    let len = i.chars().next().map_or(1, char::len_utf8);
                    self.error(at, len, format!("expected a statement, found {}", describe_char(i)), "statements start with a name", None);
                    dropped = true;
                    i = sync(i);
                }
            }
        }
    }

    /// One statement. `None` when the input does not start with a name; otherwise
    /// the rest and the statement (`None` if it had to be dropped after an error).
    fn statement<'a>(&mut self, i: &'a str) -> Option<(&'a str, Option<Statement>)> {
        let start = self.offset(i);
        let (mut i, head) =
            match alt((map(terminated(name, boundary), |n: &str| (n.to_string(), false)), map(terminated(string_lit, boundary), |s| (s, true)))).parse(i) {
                Ok(ok) => ok,
                Err(_) => return None,
            };
        let head = Ident { text: head.0, span: Span::new(start, self.offset(i)), quoted: head.1 };
        let values = Values { src: self.src };
        let mut args = Vec::new();
        let mut broken = false;
        let end = loop {
            i = inline_space(i).map(|(r, _)| r).unwrap_or(i);
            match i.chars().next() {
                None | Some('\n') | Some(';') | Some('}') | Some('#') => break ArgsEnd::Plain,
                Some('{') => break ArgsEnd::Block,
                _ => {}
            }
            match values.value(i) {
                Ok((rest, v)) => {
                    args.push(v);
                    i = rest;
                }
                Err(_) => {
                    self.value_error(i);
                    broken = true;
                    i = sync_in_statement(i);
                    if i.starts_with('{') {
                        break ArgsEnd::Block;
                    }
                    break ArgsEnd::Plain;
                }
            }
        };
        let last_end = args.last().map_or(head.span.end, |a: &Value| a.span.end);
        match end {
            ArgsEnd::Plain => {
                let stmt = Statement { name: head, args, block: None, span: Span::new(start, last_end as usize) };
                Some((i, (!broken).then_some(stmt)))
            }
            ArgsEnd::Block => {
                let open = self.offset(i);
                let (statements, recovered, rest) = self.statements(&i[1..], Some(open));
                let close = self.offset(rest);
                let block = Block { statements, span: Span::new(open, close), recovered };
                let stmt = Statement { name: head, args, block: Some(block), span: Span::new(start, close) };
                Some((rest, Some(stmt)))
            }
        }
    }

    /// Reports why no value could be parsed at `i`.
    fn value_error(&mut self, i: &str) {
        let at = self.offset(i);
        let line_len = i.find('\n').unwrap_or(i.len());
        if i.starts_with('"') {
            self.error(at, line_len, "unterminated string", "this string has no closing `\"`", Some("strings end on the line they start on"));
        } else if let Some(rest) = i.strip_prefix('[') {
            let inner = Values { src: self.src };
            // Find the first element that fails to give a precise location.
            let mut j = rest;
            loop {
                j = trivia(j).map(|(r, _)| r).unwrap_or(j);
                if j.is_empty() || j.starts_with(']') {
                    self.error(at, 1, "unclosed `[`", "this list is never closed", Some("add a matching `]`"));
                    return;
                }
                match inner.value(j) {
                    Ok((r, _)) => {
                        j = trivia(r).map(|(r, _)| r).unwrap_or(r);
                        if let Some(r) = j.strip_prefix(',') {
                            j = r;
                        } else if j.starts_with(']') {
                            let pos = self.offset(j);
                            self.error(pos, 1, "unexpected text after list", "a list must be followed by a space", None);
                            return;
                        } else if j.is_empty() {
                            self.error(at, 1, "unclosed `[`", "this list is never closed", Some("add a matching `]`"));
                            return;
                        } else {
                            let pos = self.offset(j);
                            let len = j.chars().next().map_or(1, char::len_utf8);
                            self.error(
                                pos,
                                len,
                                format!("expected `,` or `]` in list, found {}", describe_char(j)),
                                "list items are separated by commas",
                                None,
                            );
                            return;
                        }
                    }
                    Err(_) => {
                        self.value_error(j);
                        return;
                    }
                }
            }
        } else {
            // Point at the whole malformed word.
            let first_len = i.chars().next().map_or(0, char::len_utf8);
            let word_len = i.find(|c: char| c.is_whitespace() || matches!(c, ';' | '{' | '}' | ']' | ',')).unwrap_or(i.len()).max(first_len);
            let word = &i[..word_len];
            let (message, help) = explain_word(word);
            self.error(at, word_len, message, "not a valid value", help);
        }
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

fn describe_char(i: &str) -> String {
    match i.chars().next() {
        None => "end of file".into(),
        Some(c) => format!("`{c}`"),
    }
}

/// Skips newlines, `;`, whitespace and comments between statements.
fn skip_separators(mut i: &str) -> &str {
    loop {
        let before = i.len();
        i = i.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        if let Ok((rest, _)) = comment(i) {
            i = rest;
        }
        if i.len() == before {
            return i;
        }
    }
}

/// Skips to the next statement boundary (newline, `;`, `}`) without consuming
/// a `}`, honouring strings.
fn sync(i: &str) -> &str {
    let mut in_string = false;
    let mut escaped = false;
    for (pos, c) in i.char_indices() {
        if in_string {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => in_string = false,
                '\n' => return &i[pos..],
                _ => escaped = false,
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '\n' | ';' => return &i[pos..],
            '}' if pos > 0 => return &i[pos..],
            _ => {}
        }
    }
    &i[i.len()..]
}

/// Like [`sync`], but also stops at a `{` so the statement's block is still parsed.
/// Brackets are balanced so a broken multi-line list is skipped whole.
fn sync_in_statement(i: &str) -> &str {
    // An unterminated string runs to the end of its line; braces on that line most
    // likely close blocks, so resume at the first `}` after the quote.
    if i.starts_with('"') {
        let line = &i[..i.find('\n').unwrap_or(i.len())];
        if !line[1..].contains('"') {
            return match line.find('}') {
                Some(pos) => &i[pos..],
                None => &i[line.len()..],
            };
        }
    }
    let mut depth = 0i32;
    let mut in_string = false;
    let mut first_newline = None;
    for (pos, c) in i.char_indices() {
        if in_string {
            match c {
                '"' | '\n' => in_string = false,
                _ => {}
            }
            if c != '\n' {
                continue;
            }
        }
        match c {
            '"' => in_string = true,
            '[' => depth += 1,
            ']' => depth -= 1,
            '\n' => {
                first_newline.get_or_insert(pos);
                if depth <= 0 {
                    return &i[pos..];
                }
            }
            ';' | '}' if depth <= 0 => return &i[pos..],
            '{' if depth <= 0 => return &i[pos..],
            _ => {}
        }
    }
    // An unclosed list: give up on it at the first line end.
    match first_newline {
        Some(pos) => &i[pos..],
        None => &i[i.len()..],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> (SourceTree, Vec<Diagnostic>) {
        parse(&FileKey::from("t.khc"), text)
    }

    #[test]
    fn parses_nested_blocks_and_values() {
        let (tree, diags) = p("tenant payments {\n  namespaces [payments, \"payments-jobs\"]\n  quota { cpu 500m; memory 2Gi }\n  allow egress to cidr 10.0.0.0/8 ports 8000-8100 *\n}\n");
        assert!(diags.is_empty(), "{diags:?}");
        let t = &tree.statements[0];
        assert_eq!(t.name.text, "tenant");
        assert_eq!(t.children().len(), 3);
        let quota = &t.children()[1];
        assert_eq!(quota.children()[0].args[0].kind, ValueKind::Number { digits: "500".into(), unit: "m".into() });
        let allow = &t.children()[2];
        assert_eq!(allow.args[3].kind, ValueKind::Address("10.0.0.0/8".into()));
        assert_eq!(allow.args[5].kind, ValueKind::Range { lo: "8000".into(), hi: "8100".into() });
        assert_eq!(allow.args[6].kind, ValueKind::Star);
    }

    #[test]
    fn spans_point_at_source() {
        let src = "cluster prod {\n  kubernetes 1.31\n}";
        let (tree, _) = p(src);
        let k = &tree.statements[0].children()[0];
        assert_eq!(&src[k.span.range()], "kubernetes 1.31");
        assert_eq!(&src[k.args[0].span.range()], "1.31");
        assert_eq!(&src[tree.statements[0].span.range()], src);
    }

    #[test]
    fn reports_several_errors_and_keeps_going() {
        let (tree, diags) = p("tenant a {\n  namespaces 1.2.3\n  isolation \"open\n  pod-security restricted\n}\n} \ntenant b {}\n");
        assert_eq!(diags.len(), 3, "{diags:?}");
        assert!(diags[0].message.contains("malformed number"));
        assert!(diags[1].message.contains("unterminated string"));
        assert!(diags[2].message.contains("unexpected `}`"));
        assert_eq!(tree.statements.len(), 2);
        assert_eq!(tree.statements[0].children().len(), 1, "the good statement survives");
    }

    #[test]
    fn unclosed_block_and_list() {
        let (_, diags) = p("tenant a {\n  namespaces [a, b\n");
        assert!(diags.iter().any(|d| d.message.contains("unclosed `[`")), "{diags:?}");
        assert!(diags.iter().any(|d| d.message.contains("unclosed `{`")), "{diags:?}");
    }

    #[test]
    fn lists_span_lines_with_comments_and_trailing_commas() {
        let (tree, diags) = p("resources [\n  secrets,   # the important one\n  configmaps,\n]\n");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(tree.statements[0].flat_args().len(), 2);
    }

    #[test]
    fn blocks_remember_dropped_statements() {
        let (tree, _) = p("a {\n  key k1 env \"open\n}\nb {\n  key k2\n}\n");
        assert!(tree.statements[0].block_recovered());
        assert!(!tree.statements[1].block_recovered());
    }

    #[test]
    fn broken_header_still_parses_block() {
        let (tree, diags) = p("tenant pay$ments {\n  isolation strict\n}\n");
        assert_eq!(diags.len(), 1);
        assert_eq!(tree.statements[0].children().len(), 1);
    }
}
