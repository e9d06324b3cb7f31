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

/// Every diagnostic code and what it means (SPEC.md section 12 lists them all).
/// A diagnostic with a code not listed here is a bug (debug builds assert it).
pub const CODES: &[(&str, &str)] = &[
    ("syntax", "the text does not follow the grammar"),
    ("unknown-statement", "a statement name that is not valid in that block"),
    ("bad-argument", "missing, extra or malformed values"),
    ("unknown-name", "a tenant, workload, role, profile or namespace that is not declared"),
    ("duplicate", "a name or setting declared twice"),
    ("invalid-name", "not a valid Kubernetes name or label"),
    ("invalid-value", "a bad CIDR, port, quantity, duration, version or verb"),
    ("conflict", "settings that contradict each other"),
    ("import", "an import or source file that cannot be read"),
    ("risky", "intent that weakens security; review it"),
    ("unreachable", "traffic allowed on one side only"),
    ("applier", "a grant whose holder can become the `managed-by` applier, which khc's protection exempts"),
    ("no-effect", "a grant, rule or part of one that can never apply; an exception that lifts nothing in force"),
    ("manifest", "an application manifest (YAML) that the namespace's intent denies or warns about: `khc eval`'s finding, in the editor"),
    ("expired", "an exception past its `expires` date"),
    ("cni", "intent the cluster's CNI (`cni`) does not enforce as written: a DNS-name egress it cannot express (error), an `api-server` egress Cilium would not match (warning)"),
    ("image-key", "a public key of `images` (`signed-by key`, `scanned-by key`) that is outside the workspace, cannot be read, or is not a PEM public key"),
    ("exception-scope", "an exception keyed on ServiceAccount names in a namespace where subjects khc grants may create pods (and so choose that name)"),
];

/// A suggested edit that fixes a diagnostic: replace `span` (in the primary
/// label's file) with `replacement`. Editors offer it as a quick fix.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fix {
    /// What the fix does, e.g. "replace with `tenant`".
    pub title: String,
    /// The bytes to replace.
    pub span: Span,
    /// The new text.
    pub replacement: String,
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
    /// Suggested edits (e.g. the "did you mean" replacement).
    pub fixes: Vec<Fix>,
    /// For a warning acknowledged in source (`# khc: allow CODE — REASON`), the
    /// reason: it no longer counts for `--deny-warnings` and is shown only on
    /// request (SPEC.md section 12).
    pub acknowledged: Option<String>,
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
        debug_assert!(CODES.iter().any(|(c, _)| *c == code), "unregistered diagnostic code `{code}`");
        Diagnostic {
            severity,
            code,
            message: message.into(),
            primary: Label { file: file.clone(), span, message: String::new() },
            secondary: Vec::new(),
            notes: Vec::new(),
            fixes: Vec::new(),
            acknowledged: None,
        }
    }

    /// Suggests replacing the primary span with `replacement`: a "did you mean"
    /// help line and a [`Fix`].
    pub fn with_suggestion(mut self, replacement: &str) -> Self {
        self.suggest(replacement);
        self
    }

    /// In-place form of [`Diagnostic::with_suggestion`].
    pub fn suggest(&mut self, replacement: &str) {
        self.notes.push(format!("help: did you mean `{replacement}`?"));
        self.fixes.push(Fix { title: format!("replace with `{replacement}`"), span: self.primary.span, replacement: replacement.to_string() });
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
