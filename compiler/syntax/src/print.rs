//! Printing values back in source form (for messages), and a debug dump of the
//! lossless tree (for tests).

use crate::ast::*;
use crate::kind::SyntaxNode;
use std::fmt::{self, Write};

/// Writes a string literal with its quotes and escapes.
pub fn write_string(out: &mut impl Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\t' => out.write_str("\\t")?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

/// Writes one value in source form.
pub fn write_value(out: &mut impl Write, v: &Value) -> fmt::Result {
    match &v.kind {
        ValueKind::Name(s) | ValueKind::Address(s) => out.write_str(s),
        ValueKind::Str(s) => write_string(out, s),
        ValueKind::Number { digits, unit } => write!(out, "{digits}{unit}"),
        ValueKind::Range { lo, hi } => write!(out, "{lo}-{hi}"),
        ValueKind::Star => out.write_str("*"),
        ValueKind::List(items) => {
            out.write_char('[')?;
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.write_str(", ")?;
                }
                write_value(out, item)?;
            }
            out.write_char(']')
        }
    }
}

/// An indented dump of the tree: one line per node and token with its kind,
/// range and (for tokens) text.
pub fn debug_tree(node: &SyntaxNode) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for event in node.preorder_with_tokens() {
        match event {
            rowan::WalkEvent::Enter(e) => {
                let indent = "  ".repeat(depth);
                match &e {
                    rowan::NodeOrToken::Node(n) => {
                        let _ = writeln!(out, "{indent}{:?}@{:?}", n.kind(), n.text_range());
                        depth += 1;
                    }
                    rowan::NodeOrToken::Token(t) => {
                        let _ = writeln!(out, "{indent}{:?}@{:?} {:?}", t.kind(), t.text_range(), t.text());
                    }
                }
            }
            rowan::WalkEvent::Leave(rowan::NodeOrToken::Node(_)) => depth -= 1,
            rowan::WalkEvent::Leave(_) => {}
        }
    }
    out
}
