//! Coverage-guided fuzz target: `khc eval`'s manifest reader
//! (`manifest::parse`: its own reader of the block style, `manifest::block_yaml`,
//! and `serde_yaml_ng` for every document it does not follow) gives exactly the
//! answer of `manifest::parse_through_serde` (every document through
//! `serde_yaml_ng`, the oracle) — values, lines, document and item indices,
//! error texts — on any UTF-8 input, as `tests/manifest_yaml.rs` holds on its
//! seeded texts. Inputs nested deeper than `khc eval` accepts are skipped (the
//! command refuses them before parsing).

#![no_main]

use khc_analysis::manifest::{parse, parse_through_serde, Manifest};
use libfuzzer_sys::fuzz_target;

type Answer = Result<Vec<(String, u32, serde_json::Value, u32, Option<u32>, Option<u32>)>, String>;

fn answer(r: Result<Vec<Manifest>, String>) -> Answer {
    r.map(|ms| ms.into_iter().map(|m| (m.file, m.line, m.value, m.document, m.item, m.end_line)).collect())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // `khc eval` refuses flow collections nested deeper than 64 before parsing
    // (`MAX_NESTING`); a cheap over-approximation keeps the fuzzer off them.
    if text.bytes().filter(|b| matches!(b, b'[' | b'{')).count() > 64 {
        return;
    }
    assert_eq!(answer(parse("f.yaml", text)), answer(parse_through_serde("f.yaml", text)), "the block reader and serde_yaml_ng differ on {text:?}");
});
