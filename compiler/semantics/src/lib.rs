//! Semantics layer of khc: gives the uniform syntax tree its meaning.
//!
//! * [`schema`]: the language schema (blocks, statements, keyword values, docs).
//! * [`imports`] lists a file's imports (the database follows them).
//! * [`program`]: per-file declarations and one entry point per part of a program
//!   (cluster, profiles, each tenant, cross-tenant lints), each checked against an
//!   [`env::Env`] that gives only what it reads.
//! * [`index`]: name resolution apart from validation — every definition and
//!   reference with its span.
//! * [`model`]: the checked, lowered result; [`values`]: Kubernetes value formats.
//!
//! Internally: `context` (statements read for checking, diagnostic helpers),
//! `cluster`, `tenant` (header, network, pod security, resources), `rbac`,
//! `admission`, `lints`.

#![warn(missing_docs)]

mod admission;
mod cluster;
mod context;
pub mod control_plane;
pub mod env;
pub mod images;
pub mod index;
mod lints;
pub mod model;
pub mod overrides;
pub mod program;
mod rbac;
pub mod schema;
mod tenant;
pub mod values;

pub use admission::ProfileTable;
pub use cluster::MIN_MINOR;
pub use rbac::{builtin_resources, is_cluster_scoped};
pub use tenant::network::{api_server_policy_name, ALL_TENANTS, METADATA_ENDPOINTS};

use khc_syntax::{Diagnostic, FileKey, SourceTree, Span, ValueKind};

/// An `import` statement, resolved to the file it names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImportRef {
    /// The imported file's key.
    pub target: FileKey,
    /// The span of the import string.
    pub span: Span,
}

/// The prefix of standard-library module keys.
pub const STD_PREFIX: &str = "std/";

/// Lists the imports of one file, with diagnostics for malformed ones.
pub fn imports(file: &FileKey, tree: &SourceTree) -> (Vec<ImportRef>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut diags = Vec::new();
    for s in tree.statements().filter(|s| s.is("import") && !s.has_errors()) {
        let args = s.args();
        let target = match (args.as_slice(), s.block()) {
            ([v], None) => match &v.kind {
                ValueKind::Str(t) => Some((t.clone(), v.span)),
                _ => None,
            },
            _ => None,
        };
        let Some((raw, span)) = target else {
            diags.push(
                Diagnostic::error("bad-argument", file, s.span(), "`import` takes one string")
                    .with_help("write `import \"std/restricted\"` or `import \"tenants/payments.khc\"`"),
            );
            continue;
        };
        match resolve_import(file, &raw) {
            Ok(target) => out.push(ImportRef { target, span }),
            Err(why) => diags.push(Diagnostic::error("import", file, span, format!("cannot import `{raw}`: {why}"))),
        }
    }
    (out, diags)
}

/// Resolves an import string written in `from` to a file key: `std/NAME` names a
/// standard-library module, anything else is relative to `from`'s directory.
pub fn resolve_import(from: &FileKey, raw: &str) -> Result<FileKey, String> {
    if raw.is_empty() {
        return Err("the path is empty".into());
    }
    if let Some(name) = raw.strip_prefix(STD_PREFIX) {
        let name = name.strip_suffix(".khc").unwrap_or(name);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err("standard-library modules are named `std/NAME`".into());
        }
        return Ok(format!("{STD_PREFIX}{name}.khc").into());
    }
    if raw.starts_with('/') {
        return Err("absolute paths are not allowed; import relative to this file".into());
    }
    if !raw.ends_with(".khc") {
        return Err("imported files end in `.khc`".into());
    }
    if from.starts_with(STD_PREFIX) {
        return Err("standard-library modules can only import `std/…` modules".into());
    }
    Ok(join_relative(from, raw).key.into())
}

/// A path written in a file, joined to that file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The `/`-separated key, `.` and `..` folded (leading `..` kept).
    pub key: String,
    /// True when the path climbs above the workspace root (the key starts with `..`).
    pub leaves_workspace: bool,
}

/// Joins `raw`, a `/`-separated path written in file `from`, to `from`'s
/// directory, folding `.` and `..`: how both `import` and the key files of
/// `images` resolve, so the two can never disagree. Whether leaving the
/// workspace is allowed is the caller's decision.
pub fn join_relative(from: &FileKey, raw: &str) -> Joined {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for seg in raw.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    Joined { leaves_workspace: parts.first() == Some(&".."), key: parts.join("/") }
}

/// True when a file declares a `cluster`, i.e. it is an entry file.
pub fn is_entry(tree: &SourceTree) -> bool {
    tree.statements().any(|s| s.is("cluster"))
}

/// The byte offsets at which lines start: 0, then after every `\n`, `\r\n` or
/// lone `\r` (the line endings the lexer knows).
pub fn line_starts(text: &str) -> Vec<u32> {
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'\n' => starts.push(i as u32 + 1),
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => starts.push(i as u32 + 1),
            _ => {}
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_resolution() {
        let from: FileKey = "tenants/a.khc".into();
        assert_eq!(&*resolve_import(&from, "b.khc").unwrap(), "tenants/b.khc");
        assert_eq!(&*resolve_import(&from, "../common.khc").unwrap(), "common.khc");
        assert_eq!(&*resolve_import(&"a.khc".into(), "../x/y.khc").unwrap(), "../x/y.khc");
        assert_eq!(&*resolve_import(&from, "std/restricted").unwrap(), "std/restricted.khc");
        assert!(resolve_import(&from, "/etc/passwd.khc").is_err());
        assert!(resolve_import(&from, "b.yaml").is_err());
        assert!(resolve_import(&"std/x.khc".into(), "y.khc").is_err());
    }
}
