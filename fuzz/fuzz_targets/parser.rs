//! Coverage-guided fuzz target: any bytes that are UTF-8 parse without
//! panicking, losslessly, with diagnostics on character boundaries inside the
//! text; formatting is idempotent, keeps the syntax errors, and parses back
//! losslessly (the invariants of `tests/fuzz.rs`'s `parser` and `formatter`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parse = khc_syntax::parse(&"fuzz.khc".into(), text);
    assert_eq!(parse.syntax().to_string(), text, "the tree is not lossless");
    for d in &parse.errors {
        let (start, end) = (d.primary.span.start as usize, d.primary.span.end as usize);
        assert!(start <= end && end <= text.len(), "span {start}..{end} outside the text");
        assert!(text.is_char_boundary(start) && text.is_char_boundary(end), "span {start}..{end} splits a character");
    }
    let once = khc_fmt::format(text).text;
    let twice = khc_fmt::format(&once).text;
    assert_eq!(twice, once, "formatting is not idempotent");
    let messages = |t: &str| khc_syntax::parse(&"f.khc".into(), t).errors.into_iter().map(|d| d.message).collect::<Vec<_>>();
    assert_eq!(messages(&once), messages(text), "formatting changed the syntax errors");
    assert_eq!(khc_syntax::parse(&"f.khc".into(), &once).syntax().to_string(), once);
});
