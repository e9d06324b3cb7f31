//! Fuzz targets, runnable on the stable toolchain (proptest drives them; no
//! nightly-only sanitizer runtime needed):
//!
//! * `parser`: any text parses without panicking, losslessly, with in-bounds spans;
//! * `formatter`: formatting is idempotent, keeps the syntax errors, and the
//!   formatted text parses back losslessly;
//! * `pipeline`: grammar-shaped programs (valid and mutated) go through check and
//!   build; whatever compiles has unique, relative output paths that stay inside
//!   OUT, YAML that parses, and admission CEL that compiles.
//!
//! CI runs a short bounded run (`KHC_FUZZ_CASES`, default 300 per target). For a
//! long run: `KHC_FUZZ_CASES=1000000 cargo test --release -p khc-tests --test fuzz`
//! (failures are shrunk and saved in `tests/fuzz.proptest-regressions`).

use proptest::prelude::*;
use std::collections::BTreeSet;

fn cases() -> u32 {
    std::env::var("KHC_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: cases(), ..ProptestConfig::default() }
}

/// Words of the language, so generated text reaches deep into the checker.
const WORDS: &[&str] = &[
    "cluster",
    "tenant",
    "profile",
    "import",
    "kubernetes",
    "encryption",
    "provider",
    "secretbox",
    "kms",
    "key",
    "env",
    "admission",
    "use",
    "restricted",
    "namespaces",
    "isolation",
    "strict",
    "allow",
    "ingress",
    "egress",
    "from",
    "to",
    "workload",
    "tenant",
    "namespace",
    "cidr",
    "ports",
    "protocol",
    "quota",
    "limits",
    "cpu",
    "memory",
    "default",
    "request",
    "role",
    "can",
    "get",
    "list",
    "on",
    "pods",
    "secrets",
    "grant",
    "group",
    "user",
    "selector",
    "app",
    "automount-token",
    "true",
    "pod-security",
    "baseline",
    "no-privileged",
    "min-uid",
    "require-limits",
    "a",
    "b",
    "api",
];

fn program() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        6 => prop::sample::select(WORDS).prop_map(str::to_string),
        1 => "\"[a-z/.:-]{0,12}\"",
        1 => "[0-9]{1,4}(Mi|m|Gi)?",
        1 => "10\\.[0-9]{1,2}\\.0\\.0/(8|16|24)",
        1 => Just("{".to_string()),
        1 => Just("}".to_string()),
        1 => Just("\n".to_string()),
        1 => Just(";".to_string()),
        1 => "[\\[\\],#$]",
    ];
    prop::collection::vec(token, 0..120).prop_map(|t| {
        let mut text = String::from(
            "cluster fuzz {\n  kubernetes 1.35\n  managed-by group \"khc-appliers\"\n  encryption { provider secretbox { key k env \"K\" } }\n}\ntenant a {\n",
        );
        text.push_str(&t.join(" "));
        text.push_str("\n}\n");
        text
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parser(text in any::<String>()) {
        let parse = khc_syntax::parse(&"fuzz.khc".into(), &text);
        prop_assert_eq!(parse.syntax().to_string(), text.clone());
        for d in &parse.errors {
            prop_assert!(d.primary.span.end as usize <= text.len());
            prop_assert!(text.is_char_boundary(d.primary.span.start as usize) && text.is_char_boundary(d.primary.span.end as usize));
        }
    }

    #[test]
    fn formatter(text in prop_oneof![any::<String>(), program()]) {
        let once = khc_fmt::format(&text).text;
        let twice = khc_fmt::format(&once).text;
        prop_assert_eq!(&twice, &once, "not idempotent");
        let messages = |t: &str| khc_syntax::parse(&"f.khc".into(), t).errors.into_iter().map(|d| d.message).collect::<Vec<_>>();
        prop_assert_eq!(messages(&once), messages(&text), "formatting changed the syntax errors");
        prop_assert_eq!(khc_syntax::parse(&"f.khc".into(), &once).syntax().to_string(), once.clone());
    }

    #[test]
    fn pipeline(text in program()) {
        let (out, _, _) = khc_tests::compile_sources(&[("fuzz.khc", &text)]);
        let Some(out) = out else { return Ok(()) };
        let mut paths = BTreeSet::new();
        for f in &out.files {
            prop_assert!(paths.insert(f.path.clone()), "two files at {}", f.path);
            prop_assert!(!f.path.starts_with('/') && !f.path.split('/').any(|s| s.is_empty() || s == "." || s == ".."), "{} leaves OUT", f.path);
            prop_assert!(!f.path.chars().any(char::is_control), "{:?} has a control character", f.path);
            prop_assert!(f.path.split('/').all(|s| s.len() <= 255), "{} has a component too long for a file name", f.path);
            if f.path.ends_with(".yaml") {
                let doc: Result<serde_json::Value, _> = serde_yaml_ng::from_str(&f.contents);
                prop_assert!(doc.is_ok(), "{} is not YAML", f.path);
                let doc = doc.unwrap();
                if doc["kind"] == "ValidatingAdmissionPolicy" {
                    let exprs = doc["spec"]["validations"].as_array().into_iter().flatten().chain(doc["spec"]["variables"].as_array().into_iter().flatten());
                    for e in exprs {
                        let expr = e["expression"].as_str().unwrap_or_default();
                        prop_assert!(cel::Program::compile(expr).is_ok(), "CEL does not compile: {}", expr);
                    }
                }
            }
        }
    }
}
