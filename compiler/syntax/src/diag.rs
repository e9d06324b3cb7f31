//! Diagnostics shared by every layer: an error or warning with a code, a message,
//! labelled source spans and help notes. Rendering lives in `khc-db`.

use crate::ast::Span;
use std::sync::Arc;

/// Identifies a source file: its path relative to the project root
/// (`tenants/payments.khc`) or `std/NAME.khc` for standard-library modules.
pub type FileKey = Arc<str>;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Stops the build.
    Error,
    /// Reported, but the build goes on.
    Warning,
}

/// A span in a file with a message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    /// The file the span is in.
    pub file: FileKey,
    /// The bytes pointed at.
    pub span: Span,
    /// What is wrong there (may be empty).
    pub message: String,
}

/// One error or warning.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable kebab-case code (SPEC.md section 12), e.g. `unknown-name`.
    pub code: &'static str,
    /// One-line summary.
    pub message: String,
    /// The main location.
    pub primary: Label,
    /// Related locations (e.g. the first declaration of a duplicate).
    pub secondary: Vec<Label>,
    /// `help:` / `note:` lines.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error at `span` in `file`.
    pub fn error(code: &'static str, file: &FileKey, span: Span, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, file, span, message)
    }

    /// A warning at `span` in `file`.
    pub fn warning(code: &'static str, file: &FileKey, span: Span, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, file, span, message)
    }

    fn new(severity: Severity, code: &'static str, file: &FileKey, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            primary: Label { file: file.clone(), span, message: String::new() },
            secondary: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Sets the message shown under the primary caret.
    pub fn with_label(mut self, message: impl Into<String>) -> Self {
        self.primary.message = message.into();
        self
    }

    /// Adds a related location.
    pub fn with_secondary(mut self, file: &FileKey, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label { file: file.clone(), span, message: message.into() });
        self
    }

    /// Adds a `help:` line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.notes.push(format!("help: {}", help.into()));
        self
    }

    /// Adds a `note:` line.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(format!("note: {}", note.into()));
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}
