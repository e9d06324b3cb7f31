//! Property tests of the lossless parser: it never panics, keeps every byte of any
//! input (printing the tree gives the input back), keeps spans on character
//! boundaries, and reads back exactly the structure a generated program was
//! printed from. Grammar-aware random programs also run through the whole pipeline.

use khc_syntax::{parse, print::write_string, FileKey, Statement, ValueKind};
use proptest::prelude::*;

fn key() -> FileKey {
    FileKey::from("prop.khc")
}

/// A generated statement: name (and whether quoted), values, optional block.
#[derive(Clone, Debug, PartialEq)]
struct T {
    name: String,
    quoted: bool,
    args: Vec<V>,
    block: Option<Vec<T>>,
}

/// A generated value.
#[derive(Clone, Debug, PartialEq)]
enum V {
    Name(String),
    Str(String),
    Number(String, String),
    Address(String),
    Range(String, String),
    Star,
    List(Vec<V>),
}

fn print_value(out: &mut String, v: &V) {
    match v {
        V::Name(s) | V::Address(s) => out.push_str(s),
        V::Str(s) => write_string(out, s).unwrap(),
        V::Number(d, u) => out.push_str(&format!("{d}{u}")),
        V::Range(lo, hi) => out.push_str(&format!("{lo}-{hi}")),
        V::Star => out.push('*'),
        V::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                print_value(out, item);
            }
            out.push(']');
        }
    }
}

fn print(out: &mut String, stmts: &[T], depth: usize) {
    for s in stmts {
        out.push_str(&"  ".repeat(depth));
        if s.quoted {
            write_string(out, &s.name).unwrap();
        } else {
            out.push_str(&s.name);
        }
        for a in &s.args {
            out.push(' ');
            print_value(out, a);
        }
        if let Some(b) = &s.block {
            out.push_str(" {\n");
            print(out, b, depth + 1);
            out.push_str(&"  ".repeat(depth));
            out.push('}');
        }
        out.push('\n');
    }
}

fn text_of(stmts: &[T]) -> String {
    let mut out = String::new();
    print(&mut out, stmts, 0);
    out
}

/// Reads the typed tree back into the generated form.
fn read(stmts: impl Iterator<Item = Statement>) -> Vec<T> {
    fn value(v: &khc_syntax::Value) -> V {
        match &v.kind {
            ValueKind::Name(s) => V::Name(s.clone()),
            ValueKind::Str(s) => V::Str(s.clone()),
            ValueKind::Number { digits, unit } => V::Number(digits.clone(), unit.clone()),
            ValueKind::Address(s) => V::Address(s.clone()),
            ValueKind::Range { lo, hi } => V::Range(lo.clone(), hi.clone()),
            ValueKind::Star => V::Star,
            ValueKind::List(items) => V::List(items.iter().map(value).collect()),
        }
    }
    stmts
        .map(|s| {
            let name = s.name();
            T { name: name.text, quoted: name.quoted, args: s.args().iter().map(value).collect(), block: s.block().map(|b| read(b.statements())) }
        })
        .collect()
}

/// Parses `text` and checks the invariants that hold for every input.
fn check_invariants(text: &str) -> Result<(), TestCaseError> {
    let parsed = parse(&key(), text);
    prop_assert_eq!(parsed.syntax().to_string(), text, "the tree is not lossless");
    for d in &parsed.errors {
        let (start, end) = (d.primary.span.start as usize, d.primary.span.end as usize);
        prop_assert!(start <= end && end <= text.len());
        prop_assert!(text.is_char_boundary(start) && text.is_char_boundary(end));
    }
    for node in parsed.syntax().descendants() {
        if let Some(s) = Statement::cast(node) {
            for span in std::iter::once(s.span()).chain(std::iter::once(s.name().span)).chain(s.args().iter().map(|a| a.span)) {
                prop_assert!(span.start <= span.end && (span.end as usize) <= text.len());
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn lossless_on_arbitrary_text(text in any::<String>()) {
        check_invariants(&text)?;
    }

    #[test]
    fn lossless_on_syntax_soup(text in "[a-z0-9 \t\r\n{}\\[\\],;\"#*./:\\-€]{0,300}") {
        check_invariants(&text)?;
        // The whole pipeline must not panic either.
        let (_, _, _) = khc_tests::compile_sources(&[("soup.khc", &text)]);
    }

    #[test]
    fn printed_programs_read_back_identically(tree in tree_strategy()) {
        let text = text_of(&tree);
        let parsed = parse(&key(), &text);
        prop_assert!(parsed.errors.is_empty(), "diagnostics for printed text:\n{}\n{:?}", text, parsed.errors);
        prop_assert_eq!(read(parsed.tree().statements()), tree);
    }

    #[test]
    fn mutated_programs_stay_lossless(tree in tree_strategy(), edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(&["", "{", "}", "[", "]", "\"", ",", ";", "\n", "#", "$", "é", " "][..]), 0usize..3), 1..6)) {
        let mut text = text_of(&tree);
        for (at, insert, delete) in edits {
            let mut pos = at.index(text.len() + 1);
            while !text.is_char_boundary(pos) {
                pos -= 1;
            }
            let mut end = (pos + delete).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            text.replace_range(pos..end, insert);
        }
        check_invariants(&text)?;
        let (_, _, _) = khc_tests::compile_sources(&[("mutated.khc", &text)]);
    }
}

fn name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_.-]{0,10}"
}

fn value() -> impl Strategy<Value = V> {
    let leaf = prop_oneof![
        name().prop_map(V::Name),
        any::<String>().prop_map(|s| V::Str(s.replace(['\r'], ""))),
        ("[0-9]{1,5}(\\.[0-9]{1,3})?", "[a-zA-Z]{0,2}").prop_map(|(d, u)| V::Number(d, u)),
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(/[0-9]{1,2})?".prop_map(V::Address),
        ("[0-9]{1,5}", "[0-9]{1,5}").prop_map(|(lo, hi)| V::Range(lo, hi)),
        Just(V::Star),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| prop::collection::vec(inner, 0..4).prop_map(V::List))
}

fn statement() -> impl Strategy<Value = T> {
    let head = prop_oneof![name().prop_map(|n| (n, false)), "[a-z./-]{1,12}".prop_map(|n| (n, true))];
    let leaf = (head, prop::collection::vec(value(), 0..4)).prop_map(|((name, quoted), args)| T { name, quoted, args, block: None });
    leaf.prop_recursive(3, 24, 4, |inner| {
        (inner.clone(), prop::collection::vec(inner, 0..4)).prop_map(|(mut s, children)| {
            s.block = Some(children);
            s
        })
    })
}

fn tree_strategy() -> impl Strategy<Value = Vec<T>> {
    prop::collection::vec(statement(), 0..6)
}

/// Names the checker knows, so random trees reach deep into the semantic layer.
const VOCABULARY: &[&str] = &[
    "cluster",
    "tenant",
    "profile",
    "import",
    "kubernetes",
    "exempt-namespaces",
    "api-server",
    "encryption",
    "admission",
    "role",
    "grant",
    "resources",
    "provider",
    "aesgcm",
    "aescbc",
    "secretbox",
    "kms",
    "identity",
    "key",
    "env",
    "file",
    "name",
    "endpoint",
    "timeout",
    "namespaces",
    "pod-security",
    "enforce",
    "audit",
    "warn",
    "version",
    "latest",
    "restricted",
    "baseline",
    "privileged",
    "isolation",
    "strict",
    "none",
    "allow",
    "ingress",
    "egress",
    "from",
    "to",
    "workload",
    "namespace",
    "cidr",
    "except",
    "ports",
    "protocol",
    "quota",
    "limits",
    "default",
    "request",
    "max",
    "min",
    "cpu",
    "memory",
    "pods",
    "can",
    "on",
    "names",
    "get",
    "list",
    "*",
    "secrets",
    "deployments.apps",
    "user",
    "group",
    "serviceaccount",
    "selector",
    "automount-token",
    "true",
    "false",
    "use",
    "mode",
    "deny",
    "require-limits",
    "allowed-registries",
    "allowed-capabilities",
    "min-uid",
    "no-latest-tag",
    "view",
    "admin",
    "a",
    "b",
    "web",
];

fn vocab_value() -> impl Strategy<Value = V> {
    let leaf = prop_oneof![
        4 => prop::sample::select(VOCABULARY).prop_map(|w| if w == "*" { V::Star } else { V::Name(w.to_string()) }),
        1 => prop::sample::select(&["a/b", "x", "", "10.0.0.0/8", "fd00::/8", "std/restricted", "unix:///k.sock", "ns/sa"][..]).prop_map(|s| V::Str(s.to_string())),
        1 => ("[0-9]{1,6}(\\.[0-9]{1,2})?", prop::sample::select(&["", "m", "Mi", "Gi", "s", "ms", "x"][..])).prop_map(|(d, u)| V::Number(d, u.to_string())),
        1 => "10\\.[0-9]{1,3}\\.0\\.0/[0-9]{1,2}".prop_map(V::Address),
        1 => ("[0-9]{1,5}", "[0-9]{1,5}").prop_map(|(lo, hi)| V::Range(lo, hi)),
    ];
    leaf.prop_recursive(1, 6, 3, |inner| prop::collection::vec(inner, 0..3).prop_map(V::List))
}

fn vocab_statement() -> impl Strategy<Value = T> {
    let leaf = (prop::sample::select(VOCABULARY), prop::collection::vec(vocab_value(), 0..6)).prop_map(|(name, args)| T {
        name: if name == "*" { "a".into() } else { name.to_string() },
        quoted: false,
        args,
        block: None,
    });
    leaf.prop_recursive(4, 40, 6, |inner| {
        (inner.clone(), prop::collection::vec(inner, 0..6)).prop_map(|(mut s, children)| {
            s.block = Some(children);
            s
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Random programs built from the language's own words never make any layer
    /// panic, and whatever compiles emits YAML that parses.
    #[test]
    fn checker_and_emitter_never_panic(
        bodies in prop::collection::vec((prop::sample::select(&["tenant", "profile", "tenant"][..]), prop::sample::select(&["a", "b", "web"][..]), prop::collection::vec(vocab_statement(), 0..8)), 0..4),
        cluster_body in prop::collection::vec(vocab_statement(), 0..4),
    ) {
        let mut statements = vec![T { name: "cluster".into(), quoted: false, args: vec![V::Name("fuzz".into())], block: Some(cluster_body) }];
        for (kind, name, body) in bodies {
            statements.push(T { name: kind.into(), quoted: false, args: vec![V::Name(name.into())], block: Some(body) });
        }
        let text = text_of(&statements);
        let (out, _, _) = khc_tests::compile_sources(&[("fuzz.khc", &text)]);
        if let Some(out) = out {
            for f in out.files.iter().filter(|f| f.path.ends_with(".yaml")) {
                let parsed: Result<serde_json::Value, _> = serde_yaml_ng::from_str(&f.contents);
                prop_assert!(parsed.is_ok(), "{} is not YAML", f.path);
            }
        }
    }
}
