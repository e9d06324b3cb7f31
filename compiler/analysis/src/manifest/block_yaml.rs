//! A reader for the plain block style of YAML that helm, kustomize and
//! `kubectl get -o yaml` print, giving the same `serde_json::Value` as
//! `serde_yaml_ng` (the oracle: [`super::parse_through_serde`]) at a fraction of
//! its cost (no event list, no owned copy of each document).
//!
//! It accepts one document (its lines, as `str::lines` gives them) whose top
//! node is a block mapping made of:
//! - block mappings and block sequences (compact `- key: value` entries,
//!   `- - x`, sequences at their key's indentation), nested to depth 64;
//! - keys that are plain, single- or double-quoted scalars on one line,
//!   followed by `:` and a space or the end of the line, at most 1000 bytes
//!   from their start to their `:` (libyaml forgets a longer simple key);
//! - values that are plain scalars on one line (resolved as `serde_yaml_ng`
//!   resolves an untagged plain scalar: `null`/`~`/empty, `true`/`false` in
//!   three casings, integers in decimal, `0x`, `0o`, `0b` with a sign, floats,
//!   `.inf`/`.nan`, else a string), single-quoted scalars, double-quoted
//!   scalars with the escapes `\\ \" \/ \n \t \r \0`, and flow `{…}`/`[…]` on
//!   one line of those scalars (flow plain scalars without `:` or `#` in
//!   them, no trailing `,`);
//! - comments, blank lines, and any character `libyaml` reads as printable
//!   except tabs.
//!
//! Anything else — anchors and aliases, tags, block scalars `|`/`>`, scalars
//! on several lines, `?` keys, tabs, directives, `...`, duplicate keys,
//! integers beyond 64 bits, a top node that is not a mapping, any indentation
//! it cannot follow — makes [`read`] answer `None`, and the document is handed
//! to `serde_yaml_ng` unchanged (so every error text is `serde_yaml_ng`'s).

use serde_json::{Map, Number, Value};

/// Deepest nesting read here; deeper documents go to `serde_yaml_ng` (its
/// own limit is 128).
const MAX_DEPTH: usize = 64;
/// Longest simple key read here (`libyaml` refuses keys over 1024 characters).
const MAX_KEY: usize = 1000;

/// The value of one YAML document (its text; its lines are read as
/// `str::lines` reads them), or `None` when the document is not in the subset
/// this reader follows (see the module's doc): `Some(Value::Null)` for a
/// document of blank lines and comments only.
pub fn read(doc: &str) -> Option<Value> {
    let mut r = Reader { lines: doc.lines(), peeked: None, bad: false };
    let value = match r.peek() {
        Some((col, text)) => {
            r.peeked = None;
            r.mapping(col, text, 0)?
        }
        None => Value::Null,
    };
    (r.peek().is_none() && !r.bad).then_some(value)
}

/// Whether every character of `line` is one `libyaml` reads as printable,
/// not a tab and not a line break (`\r`, U+2028, U+2029), nor a byte order mark.
fn printable(line: &str) -> bool {
    if line.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return true;
    }
    line.chars().all(|c| matches!(c, ' '..='~') || (c >= '\u{a0}' && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}')))
}

struct Reader<'a> {
    lines: std::str::Lines<'a>,
    /// The next line with content, read but not yet taken.
    peeked: Option<(usize, &'a str)>,
    /// A line this reader does not follow was met (a directive, `...`, a tab
    /// or a character `libyaml` reads otherwise): the document goes to `serde_yaml_ng`.
    bad: bool,
}

impl<'a> Reader<'a> {
    /// The next line with content (not blank, not a comment): its
    /// indentation and its text from there; `None` at the end and after a
    /// line this reader does not follow.
    fn peek(&mut self) -> Option<(usize, &'a str)> {
        if self.peeked.is_none() && !self.bad {
            for l in self.lines.by_ref() {
                if !printable(l) || l.starts_with("...") || l.starts_with('%') {
                    self.bad = true;
                    return None;
                }
                let t = l.trim_start_matches(' ');
                if !(t.is_empty() || t.starts_with('#')) {
                    self.peeked = Some((l.len() - t.len(), t));
                    break;
                }
            }
        }
        self.peeked
    }

    /// A block mapping whose keys are at column `col`, its first entry `text`
    /// (a line already read, from the key on).
    fn mapping(&mut self, col: usize, mut text: &'a str, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut map = Map::new();
        loop {
            let (key, rest) = key_of(text)?;
            let rest = rest.trim_start_matches(' ');
            let value = if rest.is_empty() || rest.starts_with('#') {
                match self.peek() {
                    Some((c, t)) if c > col => {
                        self.peeked = None;
                        self.block(c, t, depth + 1)?
                    }
                    Some((c, t)) if c == col && is_entry(t) => {
                        self.peeked = None;
                        self.sequence(c, t, true, depth + 1)?
                    }
                    _ => Value::Null,
                }
            } else {
                inline(rest, depth + 1)?
            };
            if map.insert(key, value).is_some() {
                return None;
            }
            match self.peek() {
                None => break,
                Some((c, _)) if c < col => break,
                Some((c, t)) if c == col => {
                    self.peeked = None;
                    text = t;
                }
                Some(_) => return None,
            }
        }
        Some(Value::Object(map))
    }

    /// A block sequence whose dashes are at column `col`, its first entry
    /// `text`; `indentless` when it is a mapping's value at the key's column
    /// (a key at `col` then ends it).
    fn sequence(&mut self, col: usize, mut text: &'a str, indentless: bool, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut items = Vec::new();
        loop {
            let after = &text[1..];
            let rest = after.trim_start_matches(' ');
            let item = if rest.is_empty() || rest.starts_with('#') {
                match self.peek() {
                    Some((c, t)) if c > col => {
                        self.peeked = None;
                        self.block(c, t, depth + 1)?
                    }
                    _ => Value::Null,
                }
            } else {
                let inner = col + 1 + (after.len() - rest.len());
                if is_entry(rest) {
                    self.sequence(inner, rest, false, depth + 1)?
                } else if key_of(rest).is_some() {
                    self.mapping(inner, rest, depth + 1)?
                } else {
                    inline(rest, depth + 1)?
                }
            };
            items.push(item);
            match self.peek() {
                None => break,
                Some((c, _)) if c < col => break,
                Some((c, t)) if c == col && is_entry(t) => {
                    self.peeked = None;
                    text = t;
                }
                Some((c, _)) if c == col && indentless => break,
                Some(_) => return None,
            }
        }
        Some(Value::Array(items))
    }

    /// A collection that starts a line of its own at column `col`.
    fn block(&mut self, col: usize, text: &'a str, depth: usize) -> Option<Value> {
        if is_entry(text) {
            self.sequence(col, text, false, depth)
        } else if key_of(text).is_some() {
            self.mapping(col, text, depth)
        } else {
            None
        }
    }
}

/// Whether `text` starts a block sequence entry (`-` then a space or the end).
fn is_entry(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Whether a plain scalar may start with `text`'s first characters: not an
/// indicator, `-` only before a character that is not a space.
fn plain_start(text: &str) -> bool {
    let b = text.as_bytes();
    match b.first() {
        None => false,
        Some(b'-') => b.get(1).is_some_and(|&c| c != b' '),
        Some(c) => !b"?:,[]{}#&*!|>'\"%@`".contains(c) && *c != b' ',
    }
}

/// The key of a mapping entry written on `text` (from the key on) and the
/// text after its `:`; `None` when `text` is not one.
fn key_of(text: &str) -> Option<(String, &str)> {
    let (key, rest) = match text.as_bytes().first()? {
        b'"' => double_quoted(&text[1..])?,
        b'\'' => single_quoted(&text[1..])?,
        _ => {
            if !plain_start(text) {
                return None;
            }
            let b = text.as_bytes();
            let mut i = 0;
            loop {
                match b.get(i)? {
                    b':' if b.get(i + 1).is_none_or(|&c| c == b' ') => break,
                    b'#' if b[i - 1] == b' ' => return None,
                    _ => i += 1,
                }
            }
            (text[..i].trim_end_matches(' ').to_string(), &text[i..])
        }
    };
    let rest = rest.trim_start_matches(' ');
    if text.len() - rest.len() > MAX_KEY {
        return None;
    }
    let after = rest.strip_prefix(':')?;
    (after.is_empty() || after.starts_with(' ')).then_some((key, after))
}

/// Whether `rest`, what follows a value on its line, is nothing or a comment.
fn line_end(rest: &str) -> bool {
    let t = rest.trim_start_matches(' ');
    t.is_empty() || (t.starts_with('#') && t.len() < rest.len())
}

/// A value written after `key: ` or `- `, to the end of its line.
fn inline(text: &str, depth: usize) -> Option<Value> {
    match text.as_bytes()[0] {
        b'"' | b'\'' | b'{' | b'[' => {
            let (value, rest) = flow_node(text, depth)?;
            line_end(rest).then_some(value)
        }
        _ => {
            if !plain_start(text) {
                return None;
            }
            let b = text.as_bytes();
            let mut end = b.len();
            for i in 0..b.len() {
                match b[i] {
                    b':' if b.get(i + 1).is_none_or(|&c| c == b' ') => return None,
                    b'#' if b[i - 1] == b' ' => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            resolve(text[..end].trim_end_matches(' '))
        }
    }
}

/// A node in flow style (a quoted scalar, `{…}`, `[…]` or a plain scalar
/// ended by a flow indicator) at the start of `text`, and the text after it.
fn flow_node(text: &str, depth: usize) -> Option<(Value, &str)> {
    if depth > MAX_DEPTH {
        return None;
    }
    match text.as_bytes().first()? {
        b'"' => double_quoted(&text[1..]).map(|(s, r)| (Value::String(s), r)),
        b'\'' => single_quoted(&text[1..]).map(|(s, r)| (Value::String(s), r)),
        b'[' => {
            let mut items = Vec::new();
            let mut rest = text[1..].trim_start_matches(' ');
            if let Some(r) = rest.strip_prefix(']') {
                return Some((Value::Array(items), r));
            }
            loop {
                let (item, r) = flow_node(rest, depth + 1)?;
                items.push(item);
                let r = r.trim_start_matches(' ');
                if let Some(r) = r.strip_prefix(']') {
                    return Some((Value::Array(items), r));
                }
                rest = r.strip_prefix(',')?.trim_start_matches(' ');
                if rest.starts_with(']') {
                    return None;
                }
            }
        }
        b'{' => {
            let mut map = Map::new();
            let mut rest = text[1..].trim_start_matches(' ');
            if let Some(r) = rest.strip_prefix('}') {
                return Some((Value::Object(map), r));
            }
            loop {
                let (key, r) = match rest.as_bytes().first()? {
                    b'"' => double_quoted(&rest[1..])?,
                    b'\'' => single_quoted(&rest[1..])?,
                    _ => {
                        let (k, r) = flow_plain(rest, true)?;
                        (k.to_string(), r)
                    }
                };
                let r = r.trim_start_matches(' ');
                // libyaml forgets a key whose `:` comes more than 1024 characters after its start.
                if rest.len() - r.len() > MAX_KEY {
                    return None;
                }
                let r = r.strip_prefix(": ")?.trim_start_matches(' ');
                let (value, r) = flow_node(r, depth + 1)?;
                if map.insert(key, value).is_some() {
                    return None;
                }
                let r = r.trim_start_matches(' ');
                if let Some(r) = r.strip_prefix('}') {
                    return Some((Value::Object(map), r));
                }
                rest = r.strip_prefix(',')?.trim_start_matches(' ');
                if rest.starts_with('}') {
                    return None;
                }
            }
        }
        _ => {
            let (s, r) = flow_plain(text, false)?;
            Some((resolve(s)?, r))
        }
    }
}

/// A plain scalar in flow style at the start of `text` and the text after it:
/// ended by a flow indicator, or for a `key` by `:` and a space; `None` when
/// it holds `#` or another `:`, or the line ends first.
fn flow_plain(text: &str, key: bool) -> Option<(&str, &str)> {
    if !plain_start(text) {
        return None;
    }
    let end = text.find([',', '[', ']', '{', '}', ':', '#'])?;
    let rest = &text[end..];
    if rest.starts_with('#') || (rest.starts_with(':') && !(key && rest[1..].starts_with(' '))) {
        return None;
    }
    Some((text[..end].trim_end_matches(' '), rest))
}

/// A single-quoted scalar's value (`text` from after its opening quote) and the
/// text after its closing quote; `None` when it does not end on this line.
fn single_quoted(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut rest = text;
    loop {
        let i = rest.find('\'')?;
        out.push_str(&rest[..i]);
        if rest[i + 1..].starts_with('\'') {
            out.push('\'');
            rest = &rest[i + 2..];
        } else {
            return Some((out, &rest[i + 1..]));
        }
    }
}

/// A double-quoted scalar's value (`text` from after its opening quote) and the
/// text after its closing quote; `None` when it does not end on this line or
/// holds an escape other than `\\ \" \/ \n \t \r \0`.
fn double_quoted(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut rest = text;
    loop {
        let i = rest.find(['"', '\\'])?;
        out.push_str(&rest[..i]);
        if rest.as_bytes()[i] == b'"' {
            return Some((out, &rest[i + 1..]));
        }
        out.push(match rest.as_bytes().get(i + 1)? {
            b'\\' => '\\',
            b'"' => '"',
            b'/' => '/',
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'0' => '\0',
            _ => return None,
        });
        rest = &rest[i + 2..];
    }
}

/// An untagged plain scalar's value as `serde_yaml_ng` gives it to
/// `serde_json::Value` (its `visit_untagged_scalar`, with its number parsers
/// below); `None` for integers beyond 64 bits (`serde_json` refuses them).
pub fn resolve(v: &str) -> Option<Value> {
    if v.is_empty() || matches!(v, "null" | "Null" | "NULL" | "~") {
        return Some(Value::Null);
    }
    match v {
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    // Only text that starts like a number can be one (`.inf`, `+1`, `-0x1`,
    // `1e3`; Rust's `inf` and `nan` are not finite, so strings here too).
    if !v.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.')) {
        return Some(Value::String(v.to_string()));
    }
    if let Some(int) = parse_unsigned_int(v, u64::from_str_radix) {
        return Some(Value::from(int));
    }
    if let Some(int) = parse_negative_int(v, i64::from_str_radix) {
        return Some(Value::from(int));
    }
    if parse_unsigned_int(v, u128::from_str_radix).is_some() || parse_negative_int(v, i128::from_str_radix).is_some() {
        return None;
    }
    if !digits_but_not_number(v) {
        if let Some(float) = parse_f64(v) {
            return Some(Number::from_f64(float).map_or(Value::Null, Value::Number));
        }
    }
    Some(Value::String(v.to_string()))
}

// The number parsers below are serde_yaml_ng 0.10's (`de.rs`), unchanged.

fn parse_unsigned_int<T>(scalar: &str, from_str_radix: fn(&str, u32) -> Result<T, std::num::ParseIntError>) -> Option<T> {
    let unpositive = scalar.strip_prefix('+').unwrap_or(scalar);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(int) = from_str_radix(rest, radix) {
                return Some(int);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) {
        return None;
    }
    if digits_but_not_number(scalar) {
        return None;
    }
    from_str_radix(unpositive, 10).ok()
}

fn parse_negative_int<T>(scalar: &str, from_str_radix: fn(&str, u32) -> Result<T, std::num::ParseIntError>) -> Option<T> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = scalar.strip_prefix(prefix) {
            let negative = format!("-{rest}");
            if let Ok(int) = from_str_radix(&negative, radix) {
                return Some(int);
            }
        }
    }
    if digits_but_not_number(scalar) {
        return None;
    }
    from_str_radix(scalar, 10).ok()
}

fn parse_f64(scalar: &str) -> Option<f64> {
    let unpositive = if let Some(unpositive) = scalar.strip_prefix('+') {
        if unpositive.starts_with(['+', '-']) {
            return None;
        }
        unpositive
    } else {
        scalar
    };
    if let ".inf" | ".Inf" | ".INF" = unpositive {
        return Some(f64::INFINITY);
    }
    if let "-.inf" | "-.Inf" | "-.INF" = scalar {
        return Some(f64::NEG_INFINITY);
    }
    if let ".nan" | ".NaN" | ".NAN" = scalar {
        return Some(f64::NAN.copysign(1.0));
    }
    if let Ok(float) = unpositive.parse::<f64>() {
        if float.is_finite() {
            return Some(float);
        }
    }
    None
}

fn digits_but_not_number(scalar: &str) -> bool {
    let scalar = scalar.strip_prefix(['-', '+']).unwrap_or(scalar);
    scalar.len() > 1 && scalar.starts_with('0') && scalar[1..].bytes().all(|b| b.is_ascii_digit())
}
