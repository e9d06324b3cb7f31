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
