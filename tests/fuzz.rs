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

use khc_semantics::schema::{self, BlockKind, BLOCKS};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn cases() -> u32 {
    std::env::var("KHC_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: cases(), ..ProptestConfig::default() }
}

/// Words of the language, read from the schema and the rule registry at run
/// time (every statement of every block, every keyword value, every rule's
/// argument values), plus a few names, so generated text reaches every checker.
fn words() -> Vec<String> {
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
    out.extend(["a", "b", "api", "app", "secretbox", "kms", "1.35", "10000"].map(str::to_string));
    out.into_iter().collect()
}

/// The statements of a block kind, and the blocks nested in it.
fn names_in(kind: BlockKind) -> Vec<String> {
    schema::statements(kind).map(|s| s.name.to_string()).collect()
}

/// One statement of block `kind`: its name and up to three argument tokens.
fn statement(kind: BlockKind) -> impl Strategy<Value = String> {
    let arg = prop_oneof![
        4 => prop::sample::select(words()),
        1 => "\"[a-z/.:-]{0,12}\"".prop_map(|s| s),
        1 => "[0-9]{1,5}(Mi|m|Gi)?",
    ];
    (prop::sample::select(names_in(kind)), prop::collection::vec(arg, 0..4)).prop_map(|(n, a)| format!("{n} {}", a.join(" ")))
}

/// A grammar-shaped program: every block filled with statements of its own
/// schema, so every statement and every admission rule can be reached.
fn shaped_program() -> impl Strategy<Value = String> {
    let many = |k: BlockKind, n: usize| prop::collection::vec(statement(k), 0..n).prop_map(|v| v.join("\n    "));
    (
        many(BlockKind::Cluster, 6),
        many(BlockKind::Audit, 3),
        many(BlockKind::ClusterPodSecurity, 3),
        many(BlockKind::Oidc, 3),
        many(BlockKind::Admission, 8),
        many(BlockKind::Tenant, 6),
        many(BlockKind::Admission, 8),
        many(BlockKind::Quota, 3),
        many(BlockKind::Nodes, 2),
        many(BlockKind::PodSecurity, 2),
        many(BlockKind::Workload, 3),
        many(BlockKind::Limits, 3),
    )
        .prop_map(|(cluster, audit, cps, oidc, cadm, tenant, tadm, quota, nodes, ps, workload, limits)| {
            format!(
                "cluster fuzz {{\n  kubernetes 1.35\n  managed-by group \"khc-appliers\"\n  encryption {{ provider secretbox {{ key k env \"K\" }} }}\n  {cluster}\n  audit {{\n    {audit}\n  }}\n  pod-security {{\n    {cps}\n  }}\n  authentication {{\n    oidc \"https://issuer.example.com\" {{\n      audience \"khc\"\n      {oidc}\n    }}\n  }}\n  admission {{\n    {cadm}\n  }}\n}}\ntenant a {{\n  {tenant}\n  pod-security restricted {{\n    {ps}\n  }}\n  quota {{\n    {quota}\n  }}\n  nodes {{\n    {nodes}\n  }}\n  workload w {{\n    {workload}\n  }}\n  limits {{\n    {limits}\n  }}\n  admission {{\n    {tadm}\n  }}\n}}\n"
            )
        })
}

fn program() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        6 => prop::sample::select(words()),
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
    fn pipeline(text in prop_oneof![program(), shaped_program()]) {
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

/// The pipeline fuzzer's vocabulary comes from the schema and the registry, so
/// it names every statement of every block and every admission rule.
#[test]
fn fuzz_words_reach_every_statement_and_rule() {
    let words: BTreeSet<String> = words().into_iter().collect();
    for b in BLOCKS {
        for st in schema::statements(b.kind) {
            assert!(words.contains(st.name), "{} is not a fuzz word", st.name);
            assert!(names_in(b.kind).iter().any(|n| n == st.name));
        }
    }
    for r in khc_rules::ALL {
        assert!(words.contains(r.keyword()), "{} is not a fuzz word", r.keyword());
        assert!(names_in(BlockKind::Admission).iter().any(|n| n == r.keyword()));
    }
}
