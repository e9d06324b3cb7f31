//! A small YAML writer: a serde [`Serializer`](serde::Serializer) that writes block-style
//! YAML directly into a `String`.
//!
//! It replaces `serde_yaml_ng::to_string` for khc's output, which spent most of a build's
//! instructions in libyaml's emitter and in a trial parse of every string. It writes the
//! same text as serde_yaml_ng 0.10 (libyaml with unlimited width, unicode on, indent 2)
//! for everything khc emits — the golden tree is byte-identical — and is tested against
//! it: every object of the test corpus is parsed back from both outputs and compared
//! (tests/yaml_equivalence.rs), and arbitrary strings round-trip through
//! serde_yaml_ng's parser (unit tests below).
//!
//! Style rules, as libyaml applies them:
//! * mappings in block style (`key: value`, nested mappings indented by 2), sequences
//!   in block style with the `- ` at the indentation of their key; empty ones as `{}`/`[]`;
//! * a string is written plain unless it would read back as something else (null, bool,
//!   int, float — then single-quoted) or plain style cannot hold it (indicators, leading
//!   or trailing spaces, `: `, ` #` … — then single-quoted); strings that single quotes
//!   cannot hold (control characters) are double-quoted with escapes; strings with line
//!   breaks are written as literal blocks (`|-`) when libyaml would, double-quoted otherwise.
//!
//! One deliberate difference: a string containing a line break that libyaml would write
//! single-quoted across several lines (a break next to a space, or a `\r`/U+2028 break)
//! is written double-quoted with escapes here. Both read back as the same string.

use serde::ser::{self, Serialize};
use std::fmt::{self, Display};

/// Serializes `value` as a YAML document (no `---`), like `serde_yaml_ng::to_string`.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = String::with_capacity(1024);
    append(&mut out, value)?;
    Ok(out)
}

/// [`to_string`] appended to `out` (e.g. after a header, into a buffer reused from
/// one file to the next). On an error `out` holds what was written before it.
pub fn append<T: Serialize + ?Sized>(out: &mut String, value: &T) -> Result<(), Error> {
    let mut w = Writer { out: std::mem::take(out), stack: Vec::new(), pending_key: None, key_written: false, key_buf: String::new() };
    let done = value.serialize(&mut w);
    *out = w.out;
    done
}

/// A serialization error (only for values YAML cannot represent here, e.g. bytes or
/// non-string map keys).
#[derive(Debug)]
pub struct Error(String);

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Where a value is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// The document root.
    Top,
    /// After `key:` of a block mapping whose entries are at `indent`.
    AfterKey,
    /// After `- ` of a block sequence whose items are at `indent`.
    AfterDash,
}

struct Frame {
    is_map: bool,
    /// Column of this collection's entries.
    indent: usize,
    /// No entry written yet.
    first: bool,
    /// Where the collection itself sits.
    ctx: Ctx,
}

/// The serializer state.
pub struct Writer {
    out: String,
    stack: Vec<Frame>,
    /// A struct field's name (or a variant's), written when its value starts.
    pending_key: Option<&'static str>,
    /// A map key given to `serialize_key` has been written: its value starts
    /// without an entry of its own.
    key_written: bool,
    /// The text of the last map key (reused: no allocation per key).
    key_buf: String,
}

impl Writer {
    /// Where the next value goes and the column its children's content starts at
    /// (for literal blocks: the parent's entry column + 2).
    fn ctx(&self) -> (Ctx, usize) {
        match self.stack.last() {
            None => (Ctx::Top, 0),
            Some(f) if f.is_map => (Ctx::AfterKey, f.indent),
            Some(f) => (Ctx::AfterDash, f.indent),
        }
    }

    fn spaces(&mut self, n: usize) {
        const SPACES: &str = "                                ";
        let mut n = n;
        while n > SPACES.len() {
            self.out.push_str(SPACES);
            n -= SPACES.len();
        }
        self.out.push_str(&SPACES[..n]);
    }

    /// Starts an entry of the innermost collection: the indentation (or nothing, when
    /// the entry continues the line of a `- ` or follows `key:` of the first entry),
    /// then `key:` or `-`.
    fn begin_entry(&mut self, key: Option<&str>) {
        let f = self.stack.last_mut().expect("inside a collection");
        let (first, ctx, indent) = (f.first, f.ctx, f.indent);
        f.first = false;
        if first {
            match ctx {
                Ctx::AfterKey => {
                    self.out.push('\n');
                    self.spaces(indent);
                }
                Ctx::AfterDash | Ctx::Top => {}
            }
        } else {
            self.spaces(indent);
        }
        match key {
            Some(k) => {
                write_scalar(&mut self.out, k, Requested::Any, true, indent + 2);
                self.out.push(':');
            }
            None => self.out.push_str("- "),
        }
    }

    /// Before a value: writes the pending key (map) or the dash (sequence).
    fn value_start(&mut self) {
        match self.stack.last() {
            None => {}
            Some(f) if f.is_map => {
                if std::mem::take(&mut self.key_written) {
                    return;
                }
                let key = self.pending_key.take().expect("map value after a key");
                self.begin_entry(Some(key));
            }
            Some(_) => self.begin_entry(None),
        }
    }

    fn scalar(&mut self, text: &str, requested: Requested) {
        self.value_start();
        let (ctx, indent) = self.ctx();
        if ctx == Ctx::AfterKey {
            self.out.push(' ');
        }
        if text.len() >= CACHED_MIN_LEN {
            write_scalar_cached(&mut self.out, text, requested, indent + 2);
        } else {
            write_scalar(&mut self.out, text, requested, false, indent + 2);
        }
        self.out.push('\n');
    }

    /// A plain scalar known to need no quoting (numbers, bools, null).
    fn plain(&mut self, text: &str) {
        self.value_start();
        if self.ctx().0 == Ctx::AfterKey {
            self.out.push(' ');
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn begin_collection(&mut self, is_map: bool) {
        self.value_start();
        let (ctx, parent) = self.ctx();
        let indent = match ctx {
            Ctx::Top => 0,
            // Block mappings under a key are indented; sequences are not ("indentless").
            Ctx::AfterKey if is_map => parent + 2,
            Ctx::AfterKey => parent,
            Ctx::AfterDash => parent + 2,
        };
        self.stack.push(Frame { is_map, indent, first: true, ctx });
    }

    fn end_collection(&mut self) {
        let f = self.stack.pop().expect("balanced collections");
        if f.first {
            let empty = if f.is_map { "{}" } else { "[]" };
            if f.ctx == Ctx::AfterKey {
                self.out.push(' ');
            }
            self.out.push_str(empty);
            self.out.push('\n');
        }
    }
}

/// The style serde_yaml_ng asks libyaml for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Requested {
    /// Plain if possible.
    Any,
    /// The string would read back as another type.
    SingleQuoted,
    /// The string has a `\n`.
    Literal,
}

/// The style serde_yaml_ng requests for a string value: literal for line breaks,
/// single quotes for strings that would parse as null, bool, int or float.
fn requested_style(v: &str) -> Requested {
    if v.contains('\n') {
        Requested::Literal
    } else if resolves_to_non_string(v) {
        Requested::SingleQuoted
    } else {
        Requested::Any
    }
}

/// serde_yaml_ng's resolution of an untagged plain scalar, widened to YAML 1.1:
/// true when `v` would not be read back as a string by serde_yaml_ng or by a YAML
/// 1.1 reader (kubectl's `sigs.k8s.io/yaml`, the API server's config loaders).
fn resolves_to_non_string(v: &str) -> bool {
    // Fast path: a string that starts with a letter is typed only if it is one of
    // the words below (`y`, `n`, `yes`, `no`, `on`, `off`, `true`, `false`,
    // `null`, in any case), at most 5 letters starting with one of these.
    if let [first, ..] = v.as_bytes() {
        if first.is_ascii_alphabetic() && (v.len() > 5 || !matches!(first.to_ascii_lowercase(), b'y' | b'n' | b'o' | b't' | b'f')) {
            #[cfg(test)]
            debug_assert!(!yaml11_typed(v) && !resolves_to_non_string_slow(v), "{v}");
            return false;
        }
    }
    resolves_to_non_string_slow(v)
}

/// [`resolves_to_non_string`] without its fast path.
fn resolves_to_non_string_slow(v: &str) -> bool {
    if yaml11_typed(v) {
        return true;
    }
    if v.is_empty() || matches!(v, "null" | "Null" | "NULL" | "~") {
        return true;
    }
    if matches!(v, "true" | "True" | "TRUE" | "false" | "False" | "FALSE") {
        return true;
    }
    // Fast path: most strings start with a letter other than those that begin
    // special floats, and cannot be numbers.
    let first = v.as_bytes()[0];
    if first.is_ascii_alphabetic() {
        return false;
    }
    if digits_but_not_number(v) {
        // Leading zeros: a string in YAML 1.2, but serde_yaml_ng quotes it.
        return true;
    }
    is_int(v) || is_float(v)
}

/// Whether a YAML 1.1 reader could type the plain scalar `v` as something other
/// than a string (<https://yaml.org/type/>): the booleans `y|n|yes|no|on|off|true|false`
/// (in any case), null (`~`, `null`, empty), the merge key `<<` and value `=`,
/// `.inf`/`.nan`, and anything that starts like a number (after an optional sign,
/// a digit or `.`) made only of characters that YAML 1.1 integers (any base,
/// `_` separators, sexagesimal `1:30`), floats and timestamps (`2001-12-14`,
/// `2001-12-14t21:59:43.10-05:00`) use. Deliberately wider than the exact
/// grammar: quoting a string that did not need it changes no value.
fn yaml11_typed(v: &str) -> bool {
    #[cfg(test)]
    if tests::SERDE_YAML_NG_ONLY.with(std::cell::Cell::get) {
        return false;
    }
    const WORDS: [&str; 13] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "", "=", "<<"];
    if v.len() <= 5 && WORDS.iter().any(|w| w.eq_ignore_ascii_case(v)) {
        return true;
    }
    let s = v.strip_prefix(['-', '+']).unwrap_or(v);
    if s.eq_ignore_ascii_case(".inf") || s.eq_ignore_ascii_case(".nan") {
        return true;
    }
    s.as_bytes().first().is_some_and(|b| b.is_ascii_digit() || *b == b'.')
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b'_' | b'.' | b':' | b'-' | b'+' | b'x' | b'X' | b'o' | b'O' | b' ' | b't' | b'T' | b'z' | b'Z'))
}

fn digits_but_not_number(v: &str) -> bool {
    let s = v.strip_prefix(['-', '+']).unwrap_or(v);
    s.len() > 1 && s.starts_with('0') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

fn radix_int(s: &str) -> bool {
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = s.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return false;
            }
            if u128::from_str_radix(rest, radix).is_ok() {
                return true;
            }
        }
    }
    false
}

/// serde_yaml_ng's integer forms: decimal, `0x`/`0o`/`0b`, optional sign.
fn is_int(v: &str) -> bool {
    // Unsigned: optional '+', radix prefixes or decimal.
    let unpositive = v.strip_prefix('+').unwrap_or(v);
    if radix_int(unpositive) {
        return true;
    }
    if !digits_but_not_number(v) && unpositive.parse::<u128>().is_ok() && !unpositive.starts_with(['+', '-']) {
        return true;
    }
    // Negative.
    if let Some(rest) = v.strip_prefix('-') {
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
            if let Some(digits) = rest.strip_prefix(prefix) {
                if i128::from_str_radix(&format!("-{digits}"), radix).is_ok() {
                    return true;
                }
            }
        }
        if !digits_but_not_number(v) && v.parse::<i128>().is_ok() {
            return true;
        }
    }
    false
}

/// serde_yaml_ng's float forms (Rust's `f64` syntax, finite, plus `.inf`/`.nan`).
fn is_float(v: &str) -> bool {
    let unpositive = match v.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return false,
        Some(u) => u,
        None => v,
    };
    if matches!(unpositive, ".inf" | ".Inf" | ".INF") || matches!(v, "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    unpositive.parse::<f64>().is_ok_and(f64::is_finite)
}

fn is_printable(c: char) -> bool {
    matches!(c, '\n' | '\u{20}'..='\u{7E}' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}') && c != '\u{FEFF}'
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank_or_end(c: Option<char>) -> bool {
    matches!(c, None | Some(' ' | '\t')) || c.is_some_and(is_break)
}

/// What libyaml's scalar analysis allows for a string.
#[derive(Debug, PartialEq, Eq)]
struct Analysis {
    block_plain: bool,
    single_quoted: bool,
    block: bool,
    /// Any line break other than `\n`, or a break next to a space: written
    /// double-quoted here (see the module docs).
    awkward_breaks: bool,
}

/// libyaml's analysis for the common case, a non-empty string of printable ASCII
/// (no line breaks, tabs or control characters); `None` for any other string.
fn analyze_printable_ascii(v: &str) -> Option<Analysis> {
    let b = v.as_bytes();
    if b.is_empty() || !b.iter().all(|c| (0x20..=0x7E).contains(c)) {
        return None;
    }
    let n = b.len();
    let blank_at = |i: usize| i >= n || b[i] == b' ';
    let mut block_indicators = b.starts_with(b"---") || b.starts_with(b"...");
    match b[0] {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`' => block_indicators = true,
        b'?' | b':' | b'-' if blank_at(1) => block_indicators = true,
        _ => {}
    }
    if !block_indicators {
        block_indicators = (1..n).any(|i| (b[i] == b':' && blank_at(i + 1)) || (b[i] == b'#' && b[i - 1] == b' '));
    }
    let (leading_space, trailing_space) = (b[0] == b' ', b[n - 1] == b' ');
    Some(Analysis { block_plain: !(leading_space || trailing_space || block_indicators), single_quoted: true, block: !trailing_space, awkward_breaks: false })
}

/// libyaml's `yaml_emitter_analyze_scalar`.
fn analyze(v: &str) -> Analysis {
    analyze_printable_ascii(v).unwrap_or_else(|| analyze_chars(v))
}

/// libyaml's `yaml_emitter_analyze_scalar`, character by character.
fn analyze_chars(v: &str) -> Analysis {
    if v.is_empty() {
        return Analysis { block_plain: true, single_quoted: true, block: false, awkward_breaks: false };
    }
    let mut block_indicators = v.starts_with("---") || v.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break, mut previous_space, mut previous_break) = (false, false, false, false);
    let mut other_breaks = false;
    let mut preceded_by_whitespace = true;
    let mut chars = v.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let followed_by_whitespace = is_blank_or_end(next);
        let last = next.is_none();
        if first {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_indicators = true;
                }
                '?' | ':' if followed_by_whitespace => block_indicators = true,
                '-' if followed_by_whitespace => {
                    block_indicators = true;
                }
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => {
                    block_indicators = true;
                }
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
            if c != '\n' {
                other_breaks = true;
            }
        }
        if c == ' ' {
            if first {
                leading_space = true;
            }
            if last {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            if first {
                leading_break = true;
            }
            if last {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_break = true;
            previous_space = false;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c);
        first = false;
    }
    let mut a = Analysis { block_plain: true, single_quoted: true, block: true, awkward_breaks: false };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single_quoted = false;
    }
    if space_break || special {
        a = Analysis { block_plain: false, single_quoted: false, block: false, awkward_breaks: false };
    }
    if line_breaks {
        a.block_plain = false;
    }
    if block_indicators {
        a.block_plain = false;
    }
    a.awkward_breaks = other_breaks || leading_break;
    a
}

/// Values this long or longer go through [`write_scalar_cached`]: mostly the CEL
/// expressions and messages of the admission policies, the same text in every
/// tenant's policy. Shorter ones (names, labels) cost less to write than to look up.
const CACHED_MIN_LEN: usize = 48;

/// The cache of [`write_scalar_cached`], one per thread (emission runs on the
/// calling thread; the language server's threads each keep their own).
struct ScalarCache {
    /// Rendered scalars by [`scalar_hash`]: the style, the block indentation and
    /// the text they were rendered from (compared on a hit, so a hash collision is a
    /// miss), and the rendering.
    rendered: std::collections::HashMap<u64, Rendered, ByHash>,
    /// Hashes of the scalars met once: a scalar is cached the second time it is met,
    /// so the many that occur once (a tenant's own names) cost only their hash.
    seen: std::collections::HashSet<u64, ByHash>,
    /// Bytes held by `rendered` (texts and renderings).
    bytes: usize,
}

/// One entry of [`ScalarCache`]: the requested style, the block indentation and
/// the text a rendering was made from, and the rendering.
type Rendered = (Requested, usize, Box<str>, Box<str>);

/// Maps keyed by a hash already computed.
type ByHash = std::hash::BuildHasherDefault<Identity>;

/// Bounds of [`ScalarCache`]: past them it starts again empty (a cache, not a leak,
/// in a language server that runs for days).
const CACHE_MAX_BYTES: usize = 8 << 20;
const CACHE_MAX_SEEN: usize = 1 << 17;

thread_local! {
    static SCALARS: std::cell::RefCell<ScalarCache> = std::cell::RefCell::new(ScalarCache {
        rendered: Default::default(),
        seen: Default::default(),
        bytes: 0,
    });
}

thread_local! {
    static UNCACHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static HITS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Runs `f` with this thread's cache of long scalars bypassed, every scalar
/// written anew: for the tests that hold the cached rendering byte-identical to
/// the uncached one (`tests/yaml_equivalence.rs`).
#[doc(hidden)]
pub fn uncached<R>(f: impl FnOnce() -> R) -> R {
    let before = UNCACHED.replace(true);
    let r = f();
    UNCACHED.set(before);
    r
}

/// How many scalars this thread has copied from its cache so far (for tests).
#[doc(hidden)]
pub fn scalar_cache_hits() -> u64 {
    HITS.get()
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct Identity(u64);

impl std::hash::Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A fast non-cryptographic hash of what a scalar's rendering depends on (word at
/// a time, FxHash's multiply): collisions only cost a miss, never a wrong rendering.
fn scalar_hash(v: &str, requested: Requested, block_indent: usize) -> u64 {
    const K: u64 = 0xf135_7aea_2e62_a9c5;
    let mix = |h: u64, w: u64| (h.rotate_left(26) ^ w).wrapping_mul(K);
    let mut h = mix(requested as u64, block_indent as u64);
    let mut words = v.as_bytes().chunks_exact(8);
    for w in &mut words {
        h = mix(h, u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    mix(mix(h, u64::from_le_bytes(tail)), v.len() as u64)
}

/// [`write_scalar`] of a value, remembering the rendering of a value met before:
/// the output is the same bytes, written by [`write_scalar`] the first times.
fn write_scalar_cached(out: &mut String, v: &str, requested: Requested, block_indent: usize) {
    #[cfg(test)]
    if tests::SERDE_YAML_NG_ONLY.with(std::cell::Cell::get) {
        return write_scalar(out, v, requested, false, block_indent);
    }
    if UNCACHED.get() {
        return write_scalar(out, v, requested, false, block_indent);
    }
    let h = scalar_hash(v, requested, block_indent);
    SCALARS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((r, indent, text, rendered)) = cache.rendered.get(&h) {
            if *r == requested && *indent == block_indent && **text == *v {
                out.push_str(rendered);
                HITS.set(HITS.get() + 1);
                return;
            }
        }
        let start = out.len();
        write_scalar(out, v, requested, false, block_indent);
        if cache.seen.len() >= CACHE_MAX_SEEN {
            cache.seen.clear();
        }
        if !cache.seen.insert(h) && !cache.rendered.contains_key(&h) {
            let rendered: Box<str> = out[start..].into();
            if cache.bytes + v.len() + rendered.len() > CACHE_MAX_BYTES {
                cache.rendered.clear();
                cache.bytes = 0;
            }
            cache.bytes += v.len() + rendered.len();
            cache.rendered.insert(h, (requested, block_indent, v.into(), rendered));
        }
    });
}

/// Writes a string scalar in the style libyaml would choose. `key`: a simple mapping
/// key (flow rules apply); `block_indent`: the column of a literal block's lines.
fn write_scalar(out: &mut String, v: &str, requested: Requested, key: bool, block_indent: usize) {
    // Fast path: ordinary names and words are plain unless they read as null or bool.
    if requested == Requested::Any
        && v.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'_' | b'-'))
        && !resolves_to_non_string(v)
    {
        out.push_str(v);
        return;
    }
    let requested = if requested == Requested::Any { requested_style(v) } else { requested };
    let a = analyze(v);
    let line_breaks = !v.is_ascii() && v.chars().any(is_break) || v.bytes().any(|b| b == b'\n' || b == b'\r');
    enum Style {
        Plain,
        Single,
        Double,
        Literal,
    }
    let mut style = match requested {
        Requested::Any => Style::Plain,
        Requested::SingleQuoted => Style::Single,
        Requested::Literal => Style::Literal,
    };
    if let Style::Plain = style {
        // Block context: libyaml applies the block rules to simple keys too.
        if !a.block_plain || (v.is_empty() && key) {
            style = Style::Single;
        }
    }
    if let Style::Single = style {
        if !a.single_quoted || line_breaks {
            style = Style::Double;
        }
    }
    if let Style::Literal = style {
        if !a.block || key || a.awkward_breaks {
            style = Style::Double;
        }
    }
    match style {
        Style::Plain => out.push_str(v),
        Style::Single => {
            out.push('\'');
            let mut parts = v.split('\'');
            out.push_str(parts.next().unwrap_or_default());
            for part in parts {
                out.push_str("''");
                out.push_str(part);
            }
            out.push('\'');
        }
        Style::Double => write_double_quoted(out, v),
        Style::Literal => write_literal(out, v, block_indent),
    }
}

/// libyaml's literal block: `|` plus chomping indicator, then the lines at `indent`
/// (empty lines unindented).
fn write_literal(out: &mut String, v: &str, indent: usize) {
    out.push('|');
    if v.starts_with(' ') {
        out.push('2');
    }
    if !v.ends_with('\n') {
        out.push('-');
    } else if v == "\n" || v.ends_with("\n\n") {
        out.push('+');
    }
    out.push('\n');
    let body = v.strip_suffix('\n').unwrap_or(v);
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if !line.is_empty() {
            for _ in 0..indent {
                out.push(' ');
            }
            out.push_str(line);
        }
    }
    // The caller writes the final newline; a trailing '\n' in the value is the
    // line break already implied by the block ("keep" adds the rest).
    if v.ends_with("\n\n") {
        let extra = v.len() - v.trim_end_matches('\n').len() - 1;
        for _ in 0..extra {
            out.push('\n');
        }
        // The last of these is the caller's newline.
        out.pop();
    }
}

/// libyaml's double-quoted style with its escapes (unicode on, no line folding).
fn write_double_quoted(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{B}' => out.push_str("\\v"),
            '\u{C}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1B}' => out.push_str("\\e"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{85}' => out.push_str("\\N"),
            '\u{A0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !is_printable(c) || c == '\u{FEFF}' => {
                let n = c as u32;
                if n <= 0xFF {
                    out.push_str(&format!("\\x{n:02X}"));
                } else if n <= 0xFFFF {
                    out.push_str(&format!("\\u{n:04X}"));
                } else {
                    out.push_str(&format!("\\U{n:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

type Res = Result<(), Error>;

impl ser::Serializer for &mut Writer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Res {
        self.plain(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Res {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Res {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Res {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Res {
        self.plain(itoa::Buffer::new().format(v));
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Res {
        self.plain(itoa::Buffer::new().format(v));
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Res {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Res {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Res {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Res {
        self.plain(itoa::Buffer::new().format(v));
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Res {
        self.plain(itoa::Buffer::new().format(v));
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Res {
        let text = match v.classify() {
            std::num::FpCategory::Infinite if v.is_sign_positive() => ".inf".to_string(),
            std::num::FpCategory::Infinite => "-.inf".to_string(),
            std::num::FpCategory::Nan => ".nan".to_string(),
            _ => ryu::Buffer::new().format_finite(v).to_string(),
        };
        self.plain(&text);
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Res {
        let text = match v.classify() {
            std::num::FpCategory::Infinite if v.is_sign_positive() => ".inf".to_string(),
            std::num::FpCategory::Infinite => "-.inf".to_string(),
            std::num::FpCategory::Nan => ".nan".to_string(),
            _ => ryu::Buffer::new().format_finite(v).to_string(),
        };
        self.plain(&text);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Res {
        // serde_yaml_ng asks for single quotes for chars.
        self.scalar(v.encode_utf8(&mut [0u8; 4]), Requested::SingleQuoted);
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Res {
        self.scalar(v, Requested::Any);
        Ok(())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Res {
        Err(Error("serialization of bytes is not supported".into()))
    }
    fn serialize_none(self) -> Res {
        self.plain("null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Res {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Res {
        self.plain("null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Res {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Res {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Res {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(self, _name: &'static str, _index: u32, variant: &'static str, value: &T) -> Res {
        self.begin_collection(true);
        self.pending_key = Some(variant);
        value.serialize(&mut *self)?;
        self.end_collection();
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self, Error> {
        self.begin_collection(false);
        Ok(self)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Self, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(self, _name: &'static str, _index: u32, variant: &'static str, _len: usize) -> Result<Self, Error> {
        self.begin_collection(true);
        self.pending_key = Some(variant);
        self.begin_collection(false);
        Ok(self)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self, Error> {
        self.begin_collection(true);
        Ok(self)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, Error> {
        self.begin_collection(true);
        Ok(self)
    }
    fn serialize_struct_variant(self, _name: &'static str, _index: u32, variant: &'static str, _len: usize) -> Result<Self, Error> {
        self.begin_collection(true);
        self.pending_key = Some(variant);
        self.begin_collection(true);
        Ok(self)
    }
}

impl ser::SerializeSeq for &mut Writer {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        value.serialize(&mut **self)
    }
    fn end(self) -> Res {
        self.end_collection();
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Writer {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        value.serialize(&mut **self)
    }
    fn end(self) -> Res {
        self.end_collection();
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Writer {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        value.serialize(&mut **self)
    }
    fn end(self) -> Res {
        self.end_collection();
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut Writer {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        value.serialize(&mut **self)
    }
    fn end(self) -> Res {
        self.end_collection();
        self.end_collection();
        Ok(())
    }
}

impl ser::SerializeMap for &mut Writer {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Res {
        // Written at once (nothing else is written before its value starts),
        // from a buffer reused for every key.
        let mut k = std::mem::take(&mut self.key_buf);
        k.clear();
        let done = key.serialize(KeySerializer(&mut k));
        if done.is_ok() {
            self.begin_entry(Some(&k));
            self.key_written = true;
        }
        self.key_buf = k;
        done
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        value.serialize(&mut **self)
    }
    fn end(self) -> Res {
        self.end_collection();
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Writer {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Res {
        self.pending_key = Some(key);
        value.serialize(&mut **self)
    }
    fn end(self) -> Res {
        self.end_collection();
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Writer {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Res {
        self.pending_key = Some(key);
        value.serialize(&mut **self)
    }
    fn end(self) -> Res {
        self.end_collection();
        self.end_collection();
        Ok(())
    }
}

/// Map keys: strings (and numbers or bools, written as their text).
struct KeySerializer<'a>(&'a mut String);

fn key_error() -> Error {
    Error("map keys must be strings, numbers or bools".into())
}

impl ser::Serializer for KeySerializer<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.0.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.0.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.0.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.0.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.0.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.0.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.0.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.0.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.0.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.0.push(v);
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.0.push_str(v);
        Ok(())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), Error> {
        self.0.push_str(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(self, _n: &'static str, _i: u32, _v: &'static str, _value: &T) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_error())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_error())
    }
    fn serialize_tuple_struct(self, _n: &'static str, _len: usize) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_error())
    }
    fn serialize_tuple_variant(self, _n: &'static str, _i: u32, _v: &'static str, _len: usize) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_error())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_error())
    }
    fn serialize_struct(self, _n: &'static str, _len: usize) -> Result<Self::SerializeStruct, Error> {
        Err(key_error())
    }
    fn serialize_struct_variant(self, _n: &'static str, _i: u32, _v: &'static str, _len: usize) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    thread_local! {
        /// Test-only: leave out the YAML 1.1 quoting, to compare the style rules
        /// byte for byte with serde_yaml_ng (which does not quote `yes`, `on`, `y`…).
        pub(super) static SERDE_YAML_NG_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Byte-identical to serde_yaml_ng without the YAML 1.1 quoting; with it, the
    /// same value when read back.
    fn same_as_serde_yaml_ng<T: Serialize>(v: &T) {
        SERDE_YAML_NG_ONLY.with(|c| c.set(true));
        let ours = to_string(v);
        SERDE_YAML_NG_ONLY.with(|c| c.set(false));
        let theirs = serde_yaml_ng::to_string(v).unwrap();
        assert_eq!(ours.unwrap(), theirs);
        let quoted = to_string(v).unwrap();
        let (a, b): (serde_json::Value, serde_json::Value) = (serde_yaml_ng::from_str(&quoted).unwrap(), serde_yaml_ng::from_str(&theirs).unwrap());
        assert_eq!(a, b, "{quoted}");
    }

    #[test]
    fn shapes_match_serde_yaml_ng() {
        let mut m: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        m.insert("a".into(), serde_json::json!({"b": [1, "two", {"c": [], "d": {}}, [3, [4]], [], {}], "e": null, "f": true, "g": 1.5}));
        m.insert("list".into(), serde_json::json!([{"x": 1, "y": [{"z": "w"}]}, "v"]));
        m.insert("empty".into(), serde_json::json!({}));
        m.insert(
            "nums".into(),
            serde_json::json!([
                "1", "0x1f", "1e3", "1.", ".5", "0755", "-0", "+1", "12abc", "1_000", ".inf", "-.inf", ".nan", "NaN", "inf", "infinity", "-1", "+-1"
            ]),
        );
        m.insert(
            "words".into(),
            serde_json::json!([
                "true",
                "yes",
                "no",
                "on",
                "null",
                "~",
                "",
                " lead",
                "trail ",
                "a: b",
                "a:b",
                "a #b",
                "a#b",
                "#c",
                "- x",
                "-x",
                "--- x",
                "...",
                "? x",
                "x?",
                "[x]",
                "x,y",
                "it's",
                "\"q\"",
                "tab\there",
                "é ü 日本",
                "\u{7f}",
                "\u{feff}x",
                "back\\slash",
                "@x",
                "`x",
                "%x",
                "!x",
                "&x",
                "*x",
                "|x",
                ">x",
                "x|",
                "{x"
            ]),
        );
        m.insert(
            "lines".into(),
            serde_json::json!(["a\nb", "a\nb\n", "a\n\nb", "a\n\n", "\n", " a\nb", "a \nb", "a\n b", "a\r\nb", "a\tb\nc", "trail\n ", "x\u{2028}y"]),
        );
        m.insert("weird: key".into(), serde_json::json!({"": 1, "true": 2, "1": 3, "a b": 4, "[k]": 5, "k,": 6, "-": 7, "- k": 8, "#": 9}));
        for (k, v) in &m {
            let one = BTreeMap::from([(k.clone(), v.clone())]);
            let ours = to_string(&one).unwrap();
            let back: serde_json::Value = serde_yaml_ng::from_str(&ours).unwrap_or_else(|e| panic!("{ours}: {e}"));
            assert_eq!(back, serde_json::to_value(&one).unwrap(), "{ours}");
        }
        // Byte-identical except the documented multi-line cases.
        for k in ["a", "list", "empty", "nums", "words", "weird: key"] {
            same_as_serde_yaml_ng(&BTreeMap::from([(k, &m[k])]));
        }
        let plain_lines: Vec<&str> = vec!["a\nb", "a\nb\n", "a\n\nb", "a\n\n", " a\nb", "a\n b", "a\tb\nc", "a \nb", "trail\n "];
        same_as_serde_yaml_ng(&BTreeMap::from([("lines", plain_lines.clone())]));
        same_as_serde_yaml_ng(&BTreeMap::from([("lines", BTreeMap::from([("k", plain_lines)]))]));
    }

    #[test]
    fn cached_scalars_are_the_bytes_written_uncached() {
        // Long values met several times, in every style and at several
        // indentations (a literal block's lines are indented by where it sits).
        let long = [
            "a plain value that is long enough to be cached by the writer, twice over".to_string(),
            "it's a single-quoted value: it has a colon and a space, and a ' quote".to_string(),
            "!has(object.spec) || object.spec.all(c, c.name.matches('^[a-z]+$'))".to_string(),
            "a literal block\nwith two lines that is long enough to be cached\n".to_string(),
            " a literal block with a leading space\nand a second line long enough".to_string(),
            "a value with a tab\tand a control \u{1} character, double-quoted, long".to_string(),
            "a value with a break next to a space \n and so double-quoted, long too".to_string(),
            "1234567890123456789012345678901234567890123456789012".to_string(),
        ];
        let nested = serde_json::json!({
            "a": long,
            "b": {"c": long, "d": [{"e": long}, long]},
            "f": [[long]],
        });
        let docs = serde_json::json!([nested, nested, {"again": nested}]);
        let hits = scalar_cache_hits();
        let cached = to_string(&docs).unwrap();
        assert!(scalar_cache_hits() > hits + 20, "the cache was used");
        let plain = uncached(|| to_string(&docs).unwrap());
        assert_eq!(cached, plain);
        // And the cache is keyed by indentation: a literal block read back at each place.
        let back: serde_json::Value = serde_yaml_ng::from_str(&cached).unwrap();
        assert_eq!(back, docs);
        // Distinct long strings met in turn each keep their own rendering.
        let (x, y) = ("x".repeat(60), "y".repeat(60));
        assert_eq!(to_string(&[&x, &y, &x, &y]).unwrap(), uncached(|| to_string(&[&x, &y, &x, &y]).unwrap()));
    }

    #[test]
    fn arbitrary_strings_read_back() {
        // A deterministic sweep of short strings over an alphabet of YAML-significant
        // characters: each must read back unchanged, as a value and as a key.
        let alphabet = [' ', 'a', '0', '1', '.', '-', ':', '#', '\'', '"', '\n', '\t', ',', '[', '{', '?', '!', '*', '&', '\\', 'e', '+', '~', 'x', '|', '>'];
        let n = alphabet.len();
        let mut count = 0;
        for len in 1..=3 {
            let total = n.pow(len);
            for mut i in 0..total {
                let mut s = String::new();
                for _ in 0..len {
                    s.push(alphabet[i % n]);
                    i /= n;
                }
                if let Some(fast) = analyze_printable_ascii(&s) {
                    assert_eq!(fast, analyze_chars(&s), "{s:?}");
                }
                let doc = BTreeMap::from([(s.clone(), vec![s.clone()])]);
                let text = to_string(&doc).unwrap();
                let back: BTreeMap<String, Vec<String>> = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{s:?} -> {text}: {e}"));
                assert_eq!(back, doc, "{s:?} -> {text}");
                count += 1;
            }
        }
        assert!(count > 10_000);
    }
}
