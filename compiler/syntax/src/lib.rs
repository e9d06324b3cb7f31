//! Syntax layer of khc: the syntax tree ([`ast`]), the error-recovering parser
//! ([`parse`]), the canonical printer ([`print`]) and the diagnostic type shared by
//! every layer ([`diag`]).
//!
//! The grammar is deliberately uniform (see SPEC.md section 2): every construct is a
//! [`ast::Statement`] made of a name, values and an optional block. Meaning is given
//! by the semantics layer, which keeps this crate small and its recovery robust.

#![warn(missing_docs)]

pub mod ast;
pub mod diag;
mod parser;
pub mod print;

pub use ast::{Block, Ident, SourceTree, Span, Statement, Value, ValueKind};
pub use diag::{Diagnostic, FileKey, Label, Severity};
pub use parser::parse;
