//! Semantics layer of khc: gives the uniform syntax tree its meaning.
//!
//! [`imports`] lists a file's imports (the database follows them); [`analyze`]
//! takes every module of a program, resolves names, validates values and settings,
//! and lowers the program into a checked [`model::Model`] plus diagnostics.

#![warn(missing_docs)]

mod admission;
mod check;
mod cluster;
pub mod model;
mod rbac;
mod tenant;
pub mod values;

use khc_syntax::{Diagnostic, FileKey, SourceTree, Span, Statement, ValueKind};

/// One parsed file of a program.
#[derive(Clone, Copy)]
pub struct Module<'a> {
    /// The file's key (path relative to the project root, or `std/NAME.khc`).
    pub file: &'a FileKey,
    /// Its text (for line numbers).
    pub text: &'a str,
    /// Its syntax tree.
    pub tree: &'a SourceTree,
}

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
    for s in tree.statements.iter().filter(|s| s.name.text == "import" && !s.name.quoted) {
        let target = match (s.args.as_slice(), &s.block) {
            ([v], None) => match &v.kind {
                ValueKind::Str(t) => Some((t.clone(), v.span)),
                _ => None,
            },
            _ => None,
        };
        let Some((raw, span)) = target else {
            diags.push(
                Diagnostic::error("bad-argument", file, s.span, "`import` takes one string")
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
    Ok(parts.join("/").into())
}

/// True when a file declares a `cluster`, i.e. it is an entry file.
pub fn is_entry(tree: &SourceTree) -> bool {
    tree.statements.iter().any(|s: &Statement| s.name.text == "cluster" && !s.name.quoted)
}

/// Checks a whole program and lowers it into a model. `modules[0]` is the entry
/// file; the others are its transitive imports. The model is `None` when the
/// program has no cluster or has errors.
pub fn analyze(modules: &[Module<'_>]) -> (Option<model::Model>, Vec<Diagnostic>) {
    let infos: Vec<check::ModuleInfo<'_>> = modules.iter().map(|m| check::ModuleInfo::new(*m)).collect();
    let mut cx = check::Ctx::default();
    let model = cx.run(&infos);
    let diags = cx.diags;
    let failed = diags.iter().any(Diagnostic::is_error);
    (if failed { None } else { model }, diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement, rule, provider, quota key and verb the checker accepts is
    /// named in SPEC.md, so the reference cannot silently fall behind.
    #[test]
    fn spec_documents_every_keyword() {
        let spec = include_str!("../../../SPEC.md");
        let mut words: Vec<&str> = Vec::new();
        words.extend(crate::tenant::STATEMENTS);
        words.extend(crate::cluster::STATEMENTS);
        words.extend(crate::cluster::PROVIDERS);
        words.extend(crate::admission::RULES);
        words.extend(crate::tenant::QUOTA_KEYS.iter().map(|k| k.0));
        words.extend(crate::rbac::VERBS);
        words.extend([
            "import",
            "profile",
            "use",
            "mode",
            "key",
            "env",
            "file",
            "name",
            "endpoint",
            "timeout",
            "selector",
            "namespace",
            "automount-token",
            "can",
            "on",
            "names",
            "to",
            "from",
            "ports",
            "protocol",
            "except",
            "cidr",
            "enforce",
            "audit",
            "warn",
            "version",
            "default",
            "request",
            "max",
            "min",
            "strict",
            "tenant",
            "none",
        ]);
        let missing: Vec<&str> = words.into_iter().filter(|w| !spec.contains(&format!("`{w}")) && !spec.contains(&format!(" {w} "))).collect();
        assert!(missing.is_empty(), "SPEC.md does not mention: {missing:?}");
    }

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
