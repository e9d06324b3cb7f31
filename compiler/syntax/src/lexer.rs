//! The lexer: splits text into tokens that cover every byte (SPEC.md section 1).
//! Lexemes are recognised with nom combinators; text that is no lexeme becomes one
//! `ERROR_TOKEN` per malformed word, so the parser can report it precisely and go on.

use crate::kind::SyntaxKind::{self, *};
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while};
use nom::character::complete::{char, digit1, none_of, satisfy};
use nom::combinator::{opt, recognize};
use nom::multi::many0;
use nom::sequence::{delimited, pair, preceded};
use nom::{IResult, Parser};

/// One token: its kind and its length in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: SyntaxKind,
    /// Its length in bytes.
    pub len: u32,
}

/// Splits `text` into tokens whose lengths add up to `text.len()`.
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (kind, len) = next_token(rest);
        debug_assert!(len > 0 && rest.is_char_boundary(len));
        out.push(Token { kind, len: len as u32 });
        rest = &rest[len..];
    }
    out
}

/// Characters that may directly follow a value.
pub fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, ';' | ',' | ']' | '[' | '}' | '{' | '#')
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Whitespace that does not end a line. A byte-order mark counts as whitespace.
fn is_inline_space(c: char) -> bool {
    (c.is_whitespace() && c != '\n' && c != '\r') || c == '\u{feff}'
}

fn name(i: &str) -> IResult<&str, &str> {
    recognize(pair(satisfy(is_name_start), take_while(is_name_char))).parse(i)
}

/// A complete string literal with valid escapes.
fn string_lit(i: &str) -> IResult<&str, &str> {
    let escape = preceded(char('\\'), alt((char('"'), char('\\'), char('n'), char('t'))));
    recognize(delimited(char('"'), many0(alt((escape, none_of("\"\\\n\r")))), char('"'))).parse(i)
}

fn address(i: &str) -> IResult<&str, &str> {
    recognize((digit1, char('.'), digit1, char('.'), digit1, char('.'), digit1, opt(pair(char('/'), digit1)))).parse(i)
}

fn range(i: &str) -> IResult<&str, &str> {
    recognize((digit1, char('-'), digit1)).parse(i)
}

fn number(i: &str) -> IResult<&str, &str> {
    recognize((digit1, opt(pair(char('.'), digit1)), take_while(|c: char| c.is_ascii_alphabetic()))).parse(i)
}

fn star(i: &str) -> IResult<&str, &str> {
    tag("*").parse(i)
}

/// The length of a lexeme recognised by `p` when it ends at a delimiter.
fn word_at<'a>(i: &'a str, mut p: impl Parser<&'a str, Output = &'a str, Error = nom::error::Error<&'a str>>) -> Option<usize> {
    let (rest, lexeme) = p.parse(i).ok()?;
    rest.chars().next().is_none_or(is_delimiter).then_some(lexeme.len())
}

/// The length of a malformed word: up to the next delimiter (at least one char).
fn malformed_word(i: &str) -> usize {
    let first = i.chars().next().map_or(0, char::len_utf8);
    let end = i.find(is_delimiter).unwrap_or(i.len());
    end.max(first)
}

fn next_token(i: &str) -> (SyntaxKind, usize) {
    let c = i.chars().next().expect("next_token on empty input");
    match c {
        '\n' => return (NEWLINE, 1),
        '\r' => return (NEWLINE, if i.starts_with("\r\n") { 2 } else { 1 }),
        '#' => return (COMMENT, i.find(['\n', '\r']).unwrap_or(i.len())),
        '{' => return (L_BRACE, 1),
        '}' => return (R_BRACE, 1),
        '[' => return (L_BRACKET, 1),
        ']' => return (R_BRACKET, 1),
        ',' => return (COMMA, 1),
        ';' => return (SEMICOLON, 1),
        _ => {}
    }
    if is_inline_space(c) {
        return (WHITESPACE, i.find(|c: char| !is_inline_space(c)).unwrap_or(i.len()));
    }
    if c == '"' {
        if let Some(len) = word_at(i, string_lit) {
            return (STRING, len);
        }
        if string_lit(i).is_ok() {
            // A string directly followed by more text.
            let after = string_lit(i).map(|(r, _)| i.len() - r.len()).unwrap_or(1);
            return (ERROR_TOKEN, after + malformed_word(&i[after..]).min(i.len() - after));
        }
        // Unterminated, or closed after a bad escape: runs to the closing quote, or
        // to the end of the line but stopping before a `}` there, which most likely
        // closes a block.
        let mut chars = i.char_indices().skip(1);
        while let Some((pos, ch)) = chars.next() {
            match ch {
                '\\' => {
                    if let Some((next, '\n' | '\r')) = chars.next() {
                        return (ERROR_TOKEN, next);
                    }
                }
                '"' => return (ERROR_TOKEN, pos + 1),
                '}' | '\n' | '\r' => return (ERROR_TOKEN, pos.max(1)),
                _ => {}
            }
        }
        return (ERROR_TOKEN, i.len());
    }
    if c == '*' {
        if let Some(len) = word_at(i, star) {
            return (STAR, len);
        }
    } else if c.is_ascii_digit() {
        if let Some(len) = word_at(i, address) {
            return (ADDRESS, len);
        }
        if let Some(len) = word_at(i, range) {
            return (RANGE, len);
        }
        if let Some(len) = word_at(i, number) {
            return (NUMBER, len);
        }
    } else if is_name_start(c) {
        if let Some(len) = word_at(i, name) {
            return (NAME, len);
        }
    }
    (ERROR_TOKEN, malformed_word(i))
}

/// Unescapes the contents of a complete string literal (quotes included).
pub fn unescape(literal: &str) -> String {
    let inner = literal.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(literal);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(SyntaxKind, &str)> {
        let mut pos = 0;
        tokenize(text)
            .into_iter()
            .map(|t| {
                let s = &text[pos..pos + t.len as usize];
                pos += t.len as usize;
                (t.kind, s)
            })
            .collect()
    }

    #[test]
    fn lexes_every_kind() {
        let toks = kinds("a 1.31 500m 10.0.0.0/8 8000-8100 * \"x\\\"y\" [b,c]; {} # hi\r\nz");
        let ks: Vec<SyntaxKind> = toks.iter().map(|t| t.0).filter(|k| *k != WHITESPACE).collect();
        assert_eq!(
            ks,
            vec![
                NAME, NUMBER, NUMBER, ADDRESS, RANGE, STAR, STRING, L_BRACKET, NAME, COMMA, NAME, R_BRACKET, SEMICOLON, L_BRACE, R_BRACE, COMMENT, NEWLINE,
                NAME
            ]
        );
    }

    #[test]
    fn malformed_words_are_one_token() {
        assert_eq!(kinds("1.2.3 x"), vec![(ERROR_TOKEN, "1.2.3"), (WHITESPACE, " "), (NAME, "x")]);
        assert_eq!(kinds("pay$ments{"), vec![(ERROR_TOKEN, "pay$ments"), (L_BRACE, "{")]);
        assert_eq!(kinds("\"abc } }"), vec![(ERROR_TOKEN, "\"abc "), (R_BRACE, "}"), (WHITESPACE, " "), (R_BRACE, "}")]);
        assert_eq!(kinds("a\u{3000}b"), vec![(NAME, "a"), (WHITESPACE, "\u{3000}"), (NAME, "b")]);
        assert_eq!(kinds("\r\r\n"), vec![(NEWLINE, "\r"), (NEWLINE, "\r\n")]);
    }

    #[test]
    fn unescapes() {
        assert_eq!(unescape("\"a\\\"b\\\\c\\nd\""), "a\"b\\c\nd");
    }
}
