//! Syntax layer of khc: the lexer ([`lexer`]), the error-recovering parser
//! ([`parse`]) that builds a lossless rowan tree ([`kind`]), the typed view over
//! that tree ([`ast`]), and the diagnostic type shared by every layer ([`diag`]).
//!
//! The tree keeps every byte of the input — comments, whitespace, `;`, brackets,
//! malformed text — so `parse(text).syntax().to_string() == text` for every input.
//! The grammar is deliberately uniform (SPEC.md section 2): every construct is a
//! [`ast::Statement`] made of a name, values and an optional block. Meaning is given
//! by the semantics layer, which keeps this crate small and its recovery robust.

#![warn(missing_docs)]

pub mod ast;
pub mod diag;
pub mod kind;
pub mod lexer;
mod parser;
pub mod print;
pub mod walk;

pub use ast::{Block, Ident, SourceTree, Span, Statement, Value, ValueKind};
pub use diag::{Diagnostic, FileKey, Fix, Label, Severity, CODES};
pub use kind::{KhcLanguage, SyntaxElement, SyntaxKind, SyntaxNode, SyntaxToken};
pub use parser::{parse, Parse, MAX_DEPTH, MAX_SYNTAX_ERRORS};

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Parse {
        parse(&FileKey::from("t.khc"), text)
    }

    #[test]
    fn parses_nested_blocks_and_values() {
        let parse = p("tenant payments {\n  namespaces [payments, \"payments-jobs\"]\n  quota { cpu 500m; memory 2Gi }\n  allow egress to cidr 10.0.0.0/8 ports 8000-8100 *\n}\n");
        assert!(parse.errors.is_empty(), "{:?}", parse.errors);
        let tree = parse.tree();
        let t = tree.statements().next().unwrap();
        assert_eq!(t.name().text, "tenant");
        let children = t.children();
        assert_eq!(children.len(), 3);
        let quota = &children[1];
        assert_eq!(quota.children()[0].args()[0].kind, ValueKind::Number { digits: "500".into(), unit: "m".into() });
        let allow = &children[2];
        assert_eq!(allow.args()[3].kind, ValueKind::Address("10.0.0.0/8".into()));
        assert_eq!(allow.args()[5].kind, ValueKind::Range { lo: "8000".into(), hi: "8100".into() });
        assert_eq!(allow.args()[6].kind, ValueKind::Star);
        assert_eq!(children[0].flat_args().len(), 2);
    }

    #[test]
    fn spans_point_at_source() {
        let src = "cluster prod {\n  kubernetes 1.31\n}";
        let tree = p(src).tree();
        let c = tree.statements().next().unwrap();
        let k = &c.children()[0];
        assert_eq!(&src[k.span().range()], "kubernetes 1.31");
        assert_eq!(&src[k.args()[0].span.range()], "1.31");
        assert_eq!(&src[c.span().range()], src);
    }

    #[test]
    fn lossless_for_broken_input() {
        for src in ["tenant a {\n  namespaces 1.2.3 # c\n  isolation \"open\n}\n} \ntenant b {}\n", "x [a, b\n y ]] ,,, {{ \r\n\"", "\u{feff}a \u{3000} b;;\r"]
        {
            let parse = p(src);
            assert_eq!(parse.syntax().to_string(), src);
        }
    }

    #[test]
    fn reports_several_errors_and_keeps_going() {
        let parse = p("tenant a {\n  namespaces 1.2.3\n  isolation \"open\n  pod-security restricted\n}\n} \ntenant b {}\n");
        let diags = &parse.errors;
        assert_eq!(diags.len(), 3, "{diags:?}");
        assert!(diags[0].message.contains("malformed number"));
        assert!(diags[1].message.contains("unterminated string"));
        assert!(diags[2].message.contains("unexpected `}`"));
        let tree = parse.tree();
        assert_eq!(tree.statements().count(), 2);
        let a = tree.statements().next().unwrap();
        assert_eq!(a.children().len(), 3, "broken statements stay in the tree");
        assert!(a.children()[0].has_errors() && a.children()[1].has_errors() && !a.children()[2].has_errors());
        assert!(a.block_recovered());
    }

    #[test]
    fn broken_statement_keeps_valid_parts() {
        let tree = p("grant deployer to group $x user \"a\"\n").tree();
        let g = tree.statements().next().unwrap();
        assert!(g.has_errors());
        let words: Vec<String> = g.args().iter().filter_map(|v| v.as_text()).collect();
        assert_eq!(words, ["deployer", "to", "group", "user", "a"]);
    }

    #[test]
    fn unclosed_block_and_list() {
        let parse = p("tenant a {\n  namespaces [a, b\n");
        assert!(parse.errors.iter().any(|d| d.message.contains("unclosed `[`")), "{:?}", parse.errors);
        assert!(parse.errors.iter().any(|d| d.message.contains("unclosed `{`")), "{:?}", parse.errors);
    }

    #[test]
    fn lists_span_lines_with_comments_and_trailing_commas() {
        let parse = p("resources [\n  secrets,   # the important one\n  configmaps,\n]\n");
        assert!(parse.errors.is_empty(), "{:?}", parse.errors);
        assert_eq!(parse.tree().statements().next().unwrap().flat_args().len(), 2);
    }

    #[test]
    fn broken_header_still_parses_block() {
        let parse = p("tenant pay$ments {\n  isolation strict\n}\n");
        assert_eq!(parse.errors.len(), 1);
        assert_eq!(parse.tree().statements().next().unwrap().children().len(), 1);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        for open in ["{", "[", "a {", "a ["] {
            let src = format!("x {}", open.repeat(100_000));
            let parse = p(&src);
            assert_eq!(parse.syntax().to_string(), src);
            assert!(parse.errors.iter().any(|d| d.message.contains("nested more than")), "{open}");
        }
    }

    #[test]
    fn syntax_errors_are_capped_and_parsing_is_linear() {
        let src = "$\n".repeat(200_000);
        let parse = p(&src);
        assert_eq!(parse.errors.len(), MAX_SYNTAX_ERRORS + 1);
        assert!(parse.errors.last().unwrap().message.contains("more syntax errors"));
        assert_eq!(parse.syntax().to_string(), src);
    }

    #[test]
    fn block_without_name_and_stray_tokens() {
        let parse = p("{ a 1 }\n, b\n");
        assert!(parse.errors.iter().any(|d| d.message.contains("block needs a statement name")));
        assert!(parse.errors.iter().any(|d| d.message.contains("expected a statement")));
        assert_eq!(parse.syntax().to_string(), "{ a 1 }\n, b\n");
    }
}
