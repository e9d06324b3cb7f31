//! The canonical printer: writes a syntax tree back as khc source with two-space
//! indentation. Parsing the printed text gives the same tree (up to spans), which
//! the property tests check.

use crate::ast::*;
use std::fmt::{self, Write};

/// Prints a whole tree in canonical form.
pub fn print_tree(tree: &SourceTree) -> String {
    let mut out = String::new();
    for s in &tree.statements {
        write_statement(&mut out, s, 0).expect("writing to a String cannot fail");
    }
    out
}

fn write_statement(out: &mut String, s: &Statement, depth: usize) -> fmt::Result {
    let indent = "  ".repeat(depth);
    write!(out, "{indent}")?;
    write_name(out, &s.name)?;
    for a in &s.args {
        write!(out, " {a}")?;
    }
    match &s.block {
        None => writeln!(out),
        Some(b) if b.statements.is_empty() => writeln!(out, " {{}}"),
        Some(b) => {
            writeln!(out, " {{")?;
            for c in &b.statements {
                write_statement(out, c, depth + 1)?;
            }
            writeln!(out, "{indent}}}")
        }
    }
}

fn write_name(out: &mut impl Write, n: &Ident) -> fmt::Result {
    if n.quoted {
        write_string(out, &n.text)
    } else {
        write!(out, "{}", n.text)
    }
}

fn write_string(out: &mut impl Write, s: &str) -> fmt::Result {
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
