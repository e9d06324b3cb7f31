//! Coverage-guided fuzz target for the whole pipeline: parse → check → emit.
//!
//! Input that is UTF-8 is a program as written (the seeds are every `*.khc` of
//! the repository and SPEC's examples). Other input is read as tokens: each byte
//! picks a word of the language — read from the schema and the rule registry at
//! run time, like `tests/fuzz.rs` — or a brace, newline or literal, appended to
//! a cluster and a tenant, so libFuzzer's byte mutations reach every statement
//! and admission rule. Whatever compiles must have unique, relative output
//! paths that stay inside OUT, YAML that parses, and admission CEL that compiles.

#![no_main]

use khc_db::{build, check, KhcDatabase};
use khc_semantics::schema::{self, BLOCKS};
use khc_syntax::FileKey;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// The language's words (schema statements, value sets, rule argument values)
/// and punctuation and literals.
fn words() -> &'static [String] {
    static WORDS: OnceLock<Vec<String>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let mut out: BTreeSet<String> = BTreeSet::new();
        for b in BLOCKS {
            out.extend(schema::statements(b.kind).map(|s| s.name.to_string()));
        }
        for set in schema::VALUE_SETS {
            out.extend(set.names().into_iter().map(str::to_string));
        }
        for r in khc_rules::ALL {
            out.extend(r.def().args.values().iter().map(|v| v.to_string()));
        }
        let extra = [
            "a",
            "b",
            "api",
            "app",
            "default",
            "secretbox",
            "kms",
            "1.30",
            "1.33",
            "1.35",
            "1.37",
            "10000",
            "0",
            "64Mi",
            "500m",
            "\"a/b\"",
            "\"/data\"",
            "\"registry.example.com\"",
            "\"https://issuer.example.com\"",
            "10.0.0.0/8",
            "tcp",
            "443",
            "{",
            "}",
            "\n",
            ";",
            "#",
            "\"",
        ];
        out.extend(extra.map(str::to_string));
        out.into_iter().collect()
    })
}

fn program(data: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(data) {
        return text.to_string();
    }
    let w = words();
    let tokens: Vec<&str> = data.iter().map(|b| w[*b as usize % w.len()].as_str()).collect();
    format!(
        "cluster fuzz {{\n  kubernetes 1.35\n  managed-by group \"khc-appliers\"\n  encryption {{ provider secretbox {{ key k env \"K\" }} }}\n}}\ntenant a {{\n{}\n}}\n",
        tokens.join(" ")
    )
}

fuzz_target!(|data: &[u8]| {
    let text = program(data);
    let mut db = KhcDatabase::new("");
    let entry = db.set_text(&FileKey::from("fuzz.khc"), text);
    db.load_program(entry);
    let _ = check(&db, entry);
    let Some(out) = build(&db, entry).clone() else { return };
    let mut paths = BTreeSet::new();
    for f in &out.files {
        assert!(paths.insert(f.path.clone()), "two files at {}", f.path);
        assert!(!f.path.starts_with('/') && !f.path.split('/').any(|s| s.is_empty() || s == "." || s == ".."), "{} leaves OUT", f.path);
        assert!(!f.path.chars().any(char::is_control), "{:?} has a control character", f.path);
        assert!(f.path.split('/').all(|s| s.len() <= 255), "{} has a component too long for a file name", f.path);
        if f.path.ends_with(".yaml") {
            let doc: serde_json::Value = serde_yaml_ng::from_str(&f.contents).unwrap_or_else(|e| panic!("{} is not YAML: {e}", f.path));
            if doc["kind"] == "ValidatingAdmissionPolicy" {
                let exprs = doc["spec"]["validations"].as_array().into_iter().flatten().chain(doc["spec"]["variables"].as_array().into_iter().flatten());
                for e in exprs {
                    let expr = e["expression"].as_str().unwrap_or_default();
                    assert!(cel::Program::compile(expr).is_ok(), "CEL does not compile: {expr}");
                }
            }
        }
    }
});
