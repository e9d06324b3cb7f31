//! Property tests of `khc fmt`: over random programs written in random layouts,
//! over the same programs with random characters inserted and deleted, and over
//! arbitrary text, formatting
//! - never panics and gives text the parser reads back losslessly;
//! - is idempotent: `format(format(x)) == format(x)`;
//! - keeps the meaning: the statements (names, values, nesting, which ones are
//!   broken) and the text the parser could not place are the same before and after;
//! - neither adds nor removes syntax errors.

use khc_fmt::{check, format};
use khc_syntax::ast::Statement;
use khc_syntax::{parse, FileKey, SyntaxKind, SyntaxNode};
use proptest::prelude::*;

fn key() -> FileKey {
    FileKey::from("prop.khc")
}

/// What a file means, as far as formatting is concerned.
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    Statement { name: String, quoted: bool, values: Vec<String>, block: Option<Vec<Shape>> },
    Error(String),
}

fn shape(container: &SyntaxNode) -> Vec<Shape> {
    container
        .children()
        .filter_map(|n| match n.kind() {
            SyntaxKind::STATEMENT => {
                let s = Statement::cast(n).expect("a statement");
                let name = s.name();
                Some(Shape::Statement {
                    name: name.text,
                    quoted: name.quoted,
                    values: s.args().iter().map(|v| format!("{} {v}", v.describe())).collect(),
                    block: s.block().map(|b| shape(b.syntax())),
                })
            }
            SyntaxKind::ERROR => Some(Shape::Error(n.to_string().trim_end().to_string())),
            _ => None,
        })
        .collect()
}

/// Checks every property for one input; returns the formatted text.
fn check_all(text: &str) -> Result<String, TestCaseError> {
    let once = format(text);
    prop_assert_eq!(once.changed, once.text != text);
    let before = parse(&key(), text);
    let after = parse(&key(), &once.text);
    prop_assert_eq!(after.syntax().to_string(), once.text.clone());
    let twice = format(&once.text);
    prop_assert!(!twice.changed, "not idempotent:\n--- input\n{}\n--- once\n{}\n--- twice\n{}", text, once.text, twice.text);
    prop_assert!(check(&once.text));
    let messages = |p: &khc_syntax::Parse| p.errors.iter().map(|d| d.message.clone()).collect::<Vec<_>>();
    prop_assert_eq!(messages(&before), messages(&after), "errors changed:\n--- input\n{}\n--- formatted\n{}", text, once.text);
    prop_assert_eq!(shape(&before.syntax()), shape(&after.syntax()), "meaning changed:\n--- input\n{}\n--- formatted\n{}", text, once.text);
    if before.errors.is_empty() {
        // Fully canonical output: no trailing whitespace, one final newline.
        for line in once.text.lines() {
            prop_assert!(!line.ends_with([' ', '\t']), "trailing whitespace in {:?}", line);
        }
        prop_assert!(once.text.is_empty() || (once.text.ends_with('\n') && !once.text.ends_with("\n\n")));
        prop_assert!(!once.text.starts_with('\n'));
        prop_assert!(!once.text.contains("\n\n\n"));
        // Lines over the width hold no list or one-line block that could be split.
        for line in once.text.lines().filter(|l| l.chars().count() > khc_fmt::MAX_WIDTH && !l.contains('#')) {
            let splittable = line.contains("{ ") || line.match_indices('[').any(|(i, _)| !matches!(line[i + 1..].chars().next(), None | Some(']')));
            prop_assert!(!splittable, "line could be split:\n{}\n--- input\n{}", line, text);
        }
    }
    Ok(once.text)
}

// ---- Random programs in random layouts ------------------------------------

const NAMES: &[&str] = &[
    "cluster",
    "tenant",
    "profile",
    "import",
    "kubernetes",
    "api-server",
    "encryption",
    "admission",
    "role",
    "grant",
    "resources",
    "provider",
    "kms",
    "key",
    "namespaces",
    "pod-security",
    "isolation",
    "allow",
    "ingress",
    "egress",
    "from",
    "to",
    "workload",
    "cidr",
    "ports",
    "quota",
    "limits",
    "cpu",
    "memory",
    "can",
    "on",
    "get",
    "list",
    "secrets",
    "deployments.apps",
    "group",
    "selector",
    "use",
    "require-limits",
    "\"app.kubernetes.io/name\"",
    "no-latest-tag",
];

const WORDS: &[&str] = &[
    "payments",
    "strict",
    "restricted",
    "baseline",
    "true",
    "false",
    "*",
    "\"std/restricted\"",
    "\"a\\\"b\"",
    "\"\"",
    "\"fd00::/8\"",
    "\"x # not a comment\"",
    "500m",
    "1.31",
    "256Mi",
    "3s",
    "50",
    "10.0.0.0/8",
    "192.168.1.7",
    "8000-8100",
    "v1.31",
    "_x",
    "\"registry.example.com/some-team/a-rather-long-image-name\"",
    "endpointslices.discovery.k8s.io",
];

const COMMENTS: &[&str] = &["# note", "#", "# a [list] { block }; x", "#   spaced   ", "# é unicode"];

#[derive(Clone, Debug)]
enum Val {
    Word(&'static str),
    List { items: Vec<Val>, multiline: bool, trailing_comma: bool, comment: Option<&'static str> },
}

#[derive(Clone, Debug)]
struct Stmt {
    name: &'static str,
    values: Vec<Val>,
    block: Option<Block>,
    /// Blank lines before it.
    blank: usize,
    /// Joined to the previous statement with `;` on the same line.
    joined: bool,
    comment_before: Option<&'static str>,
    comment_after: Option<&'static str>,
    /// Extra indentation noise.
    indent: &'static str,
    /// Spaces between words.
    gap: &'static str,
}

#[derive(Clone, Debug)]
struct Block {
    items: Vec<Stmt>,
    one_line: bool,
    trailing_semicolon: bool,
    end_comment: Option<&'static str>,
}

fn val() -> impl Strategy<Value = Val> {
    let leaf = prop::sample::select(WORDS).prop_map(Val::Word);
    leaf.prop_recursive(2, 10, 5, |inner| {
        (prop::collection::vec(inner, 0..5), any::<bool>(), any::<bool>(), prop::option::weighted(0.3, prop::sample::select(COMMENTS)))
            .prop_map(|(items, multiline, trailing_comma, comment)| Val::List { items, multiline, trailing_comma, comment })
    })
}

fn stmt() -> impl Strategy<Value = Stmt> {
    let base = (
        prop::sample::select(NAMES),
        prop::collection::vec(val(), 0..4),
        (0usize..3, prop::bool::weighted(0.2)),
        prop::option::weighted(0.2, prop::sample::select(COMMENTS)),
        prop::option::weighted(0.2, prop::sample::select(COMMENTS)),
        prop::sample::select(&["", " ", "\t", "     "][..]),
        prop::sample::select(&[" ", " ", "  ", "\t"][..]),
    )
        .prop_map(|(name, values, (blank, joined), comment_before, comment_after, indent, gap)| Stmt {
            name,
            values,
            block: None,
            blank,
            joined,
            comment_before,
            comment_after,
            indent,
            gap,
        });
    base.prop_recursive(4, 40, 5, |inner| {
        (
            inner.clone(),
            prop::collection::vec(inner, 0..5),
            prop::bool::weighted(0.3),
            any::<bool>(),
            prop::option::weighted(0.2, prop::sample::select(COMMENTS)),
        )
            .prop_map(|(mut s, items, one_line, trailing_semicolon, end_comment)| {
                s.block = Some(Block { items, one_line, trailing_semicolon, end_comment });
                s
            })
    })
}

fn write_val(v: &Val, one_line: bool, nl: &str, out: &mut String) {
    match v {
        Val::Word(w) => out.push_str(w),
        Val::List { items, multiline, trailing_comma, comment } => {
            let multiline = *multiline && !one_line;
            out.push('[');
            if multiline {
                if let Some(c) = comment {
                    out.push(' ');
                    out.push_str(c);
                }
                out.push_str(nl);
            }
            for (i, item) in items.iter().enumerate() {
                if multiline {
                    out.push_str("    ");
                }
                write_val(item, one_line || !multiline, nl, out);
                if i + 1 < items.len() || *trailing_comma {
                    out.push(',');
                }
                if multiline {
                    if i == 0 && comment.is_some() {
                        out.push_str(" # item");
                    }
                    out.push_str(nl);
                } else if i + 1 < items.len() {
                    out.push(' ');
                }
            }
            out.push(']');
        }
    }
}

fn write_stmt(s: &Stmt, depth: usize, one_line: bool, nl: &str, out: &mut String) {
    out.push_str(s.name);
    for v in &s.values {
        out.push_str(s.gap);
        write_val(v, one_line, nl, out);
    }
    if let Some(b) = &s.block {
        out.push_str(s.gap);
        write_block(b, depth + 1, one_line, nl, out);
    }
}

fn write_block(b: &Block, depth: usize, one_line: bool, nl: &str, out: &mut String) {
    let one_line = one_line || b.one_line;
    out.push('{');
    if one_line {
        for (i, s) in b.items.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { "; " });
            write_stmt(s, depth, true, nl, out);
        }
        if b.trailing_semicolon {
            out.push(';');
        }
        out.push_str(" }");
        return;
    }
    write_items(&b.items, depth, nl, out);
    if let Some(c) = b.end_comment {
        out.push_str(nl);
        out.push_str(&"  ".repeat(depth));
        out.push_str(c);
    }
    out.push_str(nl);
    out.push_str(&"  ".repeat(depth.saturating_sub(1)));
    out.push('}');
}

fn write_items(items: &[Stmt], depth: usize, nl: &str, out: &mut String) {
    let mut can_join = false;
    for s in items {
        if s.joined && can_join && s.comment_before.is_none() {
            out.push_str("; ");
        } else {
            for _ in 0..s.blank {
                out.push_str(nl);
            }
            out.push_str(nl);
            if let Some(c) = s.comment_before {
                out.push_str(&"  ".repeat(depth));
                out.push_str(c);
                out.push_str(nl);
            }
            out.push_str(&"  ".repeat(depth));
            out.push_str(s.indent);
        }
        write_stmt(s, depth, false, nl, out);
        can_join = true;
        if let Some(c) = s.comment_after {
            out.push_str(s.gap);
            out.push_str(c);
            can_join = false;
        }
    }
}

fn program() -> impl Strategy<Value = String> {
    (prop::collection::vec(stmt(), 0..6), prop::sample::select(&["\n", "\n", "\r\n"][..]), any::<bool>()).prop_map(|(items, nl, final_nl)| {
        let mut out = String::new();
        write_items(&items, 0, nl, &mut out);
        if final_nl {
            out.push_str(nl);
        }
        out
    })
}

/// A program with random characters inserted and deleted.
fn mutated() -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        prop::option::of(prop::sample::select(&['{', '}', '[', ']', ',', ';', '"', '#', '$', '\n', ' ', 'x', '1', '.', '\\'][..])),
    );
    (program(), prop::collection::vec(edit, 1..6)).prop_map(|(mut text, edits)| {
        for (at, insert) in edits {
            let boundaries: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
            let pos = boundaries[at.index(boundaries.len())];
            match insert {
                Some(c) => text.insert(pos, c),
                None => {
                    if pos < text.len() {
                        text.remove(pos);
                    }
                }
            }
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_programs(text in program()) {
        let out = check_all(&text)?;
        prop_assert!(parse(&key(), &text).errors.is_empty(), "generator wrote a broken program:\n{}", text);
        prop_assert!(parse(&key(), &out).errors.is_empty());
    }

    #[test]
    fn mutated_programs(text in mutated()) {
        check_all(&text)?;
    }

    #[test]
    fn syntax_soup(text in "[a-z0-9 \t\n{}\\[\\],;\"#*./\\-$\r]{0,200}") {
        check_all(&text)?;
    }

    #[test]
    fn arbitrary_text(text in any::<String>()) {
        check_all(&text)?;
    }
}

#[test]
fn deep_nesting_does_not_overflow() {
    for (open, tail) in [("{", ""), ("a { b [", "\n x 1")] {
        let src = format!("x {}{tail}", open.repeat(100_000));
        let out = format(&src);
        assert_eq!(format(&out.text).text, out.text);
        assert_eq!(out.text.trim_end(), src.trim_end(), "deep nesting is copied verbatim");
    }
    // Nesting within the limit is formatted.
    let depth = khc_syntax::MAX_DEPTH - 1;
    let src = format!("{}{}", "a {\n".repeat(depth), "}\n".repeat(depth));
    let out = format(&src).text;
    assert!(out.contains(&format!("{}a {{}}\n", "  ".repeat(depth - 1))), "{out}");
    assert_eq!(format(&out).text, out);
}
