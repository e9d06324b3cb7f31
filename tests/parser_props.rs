//! Property tests of the parser and printer: the parser never panics and keeps
//! spans inside the text on any input; printing a tree and parsing it back gives
//! the same tree with no diagnostics.

use khc_syntax::{parse, print::print_tree, Block, FileKey, Ident, SourceTree, Span, Statement, Value, ValueKind};
use proptest::prelude::*;

fn key() -> FileKey {
    FileKey::from("prop.khc")
}

fn check_spans(text: &str, stmts: &[Statement]) {
    for s in stmts {
        for span in std::iter::once(s.span).chain(std::iter::once(s.name.span)).chain(s.args.iter().map(|a| a.span)) {
            assert!(span.start <= span.end && (span.end as usize) <= text.len(), "span {span:?} outside text of {} bytes", text.len());
            assert!(text.is_char_boundary(span.start as usize) && text.is_char_boundary(span.end as usize));
        }
        if let Some(b) = &s.block {
            check_spans(text, &b.statements);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_text(text in any::<String>()) {
        let (tree, diags) = parse(&key(), &text);
        check_spans(&text, &tree.statements);
        for d in diags {
            prop_assert!((d.primary.span.end as usize) <= text.len());
            prop_assert!(text.is_char_boundary(d.primary.span.start as usize) && text.is_char_boundary(d.primary.span.end as usize));
        }
    }

    #[test]
    fn never_panics_on_syntax_soup(text in "[a-z0-9 \t\n{}\\[\\],;\"#*./:\\-€]{0,300}") {
        let (tree, _) = parse(&key(), &text);
        check_spans(&text, &tree.statements);
        // The whole pipeline must not panic either.
        let (_, _, _) = khc_tests::compile_sources(&[("soup.khc", &text)]);
    }

    #[test]
    fn print_then_parse_is_identity(tree in tree_strategy()) {
        let printed = print_tree(&tree);
        let (reparsed, diags) = parse(&key(), &printed);
        prop_assert!(diags.is_empty(), "diagnostics for printed text:\n{}\n{:?}", printed, diags);
        prop_assert_eq!(print_tree(&reparsed), printed.clone());
        prop_assert_eq!(count(&reparsed.statements), count(&tree.statements));
    }
}

fn count(stmts: &[Statement]) -> usize {
    stmts.iter().map(|s| 1 + s.args.len() + s.block.as_ref().map_or(0, |b| count(&b.statements))).sum()
}

fn name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_.-]{0,10}"
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        name().prop_map(ValueKind::Name),
        any::<String>().prop_map(|s| ValueKind::Str(s.replace('\r', ""))),
        ("[0-9]{1,5}(\\.[0-9]{1,3})?", "[a-zA-Z]{0,2}").prop_map(|(digits, unit)| ValueKind::Number { digits, unit }),
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(/[0-9]{1,2})?".prop_map(ValueKind::Address),
        ("[0-9]{1,5}", "[0-9]{1,5}").prop_map(|(lo, hi)| ValueKind::Range { lo, hi }),
        Just(ValueKind::Star),
    ];
    let leaf = leaf.prop_map(|kind| Value { kind, span: Span::default() });
    leaf.prop_recursive(2, 12, 4, |inner| prop::collection::vec(inner, 0..4).prop_map(|items| Value { kind: ValueKind::List(items), span: Span::default() }))
}

fn statement() -> impl Strategy<Value = Statement> {
    let head = prop_oneof![name().prop_map(|n| (n, false)), "[a-z./-]{1,12}".prop_map(|n| (n, true))];
    let leaf = (head, prop::collection::vec(value(), 0..4)).prop_map(|((text, quoted), args)| Statement {
        name: Ident { text, span: Span::default(), quoted },
        args,
        block: None,
        span: Span::default(),
    });
    leaf.prop_recursive(3, 24, 4, |inner| {
        (inner.clone(), prop::collection::vec(inner, 0..4)).prop_map(|(mut s, children)| {
            s.block = Some(Block { statements: children, span: Span::default(), recovered: false });
            s
        })
    })
}

fn tree_strategy() -> impl Strategy<Value = SourceTree> {
    prop::collection::vec(statement(), 0..6).prop_map(|statements| SourceTree { statements })
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

fn vocab_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => prop::sample::select(VOCABULARY).prop_map(|w| if w == "*" { ValueKind::Star } else { ValueKind::Name(w.to_string()) }),
        1 => prop::sample::select(&["a/b", "x", "", "10.0.0.0/8", "fd00::/8", "std/restricted", "unix:///k.sock", "ns/sa"][..]).prop_map(|s| ValueKind::Str(s.to_string())),
        1 => ("[0-9]{1,6}(\\.[0-9]{1,2})?", prop::sample::select(&["", "m", "Mi", "Gi", "s", "ms", "x"][..])).prop_map(|(digits, unit)| ValueKind::Number { digits, unit: unit.to_string() }),
        1 => "10\\.[0-9]{1,3}\\.0\\.0/[0-9]{1,2}".prop_map(ValueKind::Address),
        1 => ("[0-9]{1,5}", "[0-9]{1,5}").prop_map(|(lo, hi)| ValueKind::Range { lo, hi }),
    ];
    let leaf = leaf.prop_map(|kind| Value { kind, span: Span::default() });
    leaf.prop_recursive(1, 6, 3, |inner| prop::collection::vec(inner, 0..3).prop_map(|items| Value { kind: ValueKind::List(items), span: Span::default() }))
}

fn vocab_statement() -> impl Strategy<Value = Statement> {
    let leaf = (prop::sample::select(VOCABULARY), prop::collection::vec(vocab_value(), 0..6)).prop_map(|(name, args)| Statement {
        name: Ident { text: if name == "*" { "a".into() } else { name.to_string() }, span: Span::default(), quoted: false },
        args,
        block: None,
        span: Span::default(),
    });
    leaf.prop_recursive(4, 40, 6, |inner| {
        (inner.clone(), prop::collection::vec(inner, 0..6)).prop_map(|(mut s, children)| {
            s.block = Some(Block { statements: children, span: Span::default(), recovered: false });
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
        let mut statements = vec![Statement {
            name: Ident { text: "cluster".into(), span: Span::default(), quoted: false },
            args: vec![Value { kind: ValueKind::Name("fuzz".into()), span: Span::default() }],
            block: Some(Block { statements: cluster_body, span: Span::default(), recovered: false }),
            span: Span::default(),
        }];
        for (kind, name, body) in bodies {
            statements.push(Statement {
                name: Ident { text: kind.into(), span: Span::default(), quoted: false },
                args: vec![Value { kind: ValueKind::Name(name.into()), span: Span::default() }],
                block: Some(Block { statements: body, span: Span::default(), recovered: false }),
                span: Span::default(),
            });
        }
        let text = print_tree(&SourceTree { statements });
        let (out, _, _) = khc_tests::compile_sources(&[("fuzz.khc", &text)]);
        if let Some(out) = out {
            for f in out.files.iter().filter(|f| f.path.ends_with(".yaml")) {
                let parsed: Result<serde_json::Value, _> = serde_yaml_ng::from_str(&f.contents);
                prop_assert!(parsed.is_ok(), "{} is not YAML", f.path);
            }
        }
    }
}
