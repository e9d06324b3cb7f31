//! Diagnostics of one program kept up to date across edits, at the cost of the
//! edited files only: the language server's view of [`crate::diagnostics`].
//!
//! The program's diagnostics are the union of one unit per file
//! ([`unit_diagnostics`]: what checking that file's declarations reports) and the
//! program-wide ones ([`program_diagnostics`]). After an edit, the units of the
//! edited files are re-read; the other files' units are re-read only when what
//! they can see of an edited file ([`file_exports`]) changed, or when the
//! program's file set changed. When only what other files read of an edited
//! file's tenants *by name* changed (a port another tenant's `allow` reads, not
//! a declaration or a namespace), only the files whose text names one of those
//! tenants are re-read, and the cluster's file (issue 24: a cross-tenant edit
//! costs the tenants that read it, not the fleet). Each file's list is then rebuilt from the units
//! that report into it, sorted and capped exactly as [`crate::diagnostics`] does,
//! so both always agree (`tests/incremental.rs` compares them edit by edit).

use crate::checks::{cluster_facts, file_exports, program_diagnostics, unit_diagnostics, FileExports};
use crate::{program, scope, Db, ProgramFile, SourceFile};
use khc_syntax::{Diagnostic, FileKey};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Where a diagnostic comes from: a file's unit, or the program as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Unit {
    Program,
    File(SourceFile),
}

/// The diagnostics of the program rooted at one entry, by file, maintained
/// incrementally.
#[derive(Debug)]
pub struct LiveDiagnostics {
    entry: SourceFile,
    /// The program's files, as last computed (empty before the first update).
    files: Vec<SourceFile>,
    /// The same files with their positions in the program, and their keys.
    members: HashMap<SourceFile, usize>,
    member_keys: HashSet<FileKey>,
    /// What each unit reported, as last read.
    units: HashMap<Unit, Arc<Vec<Diagnostic>>>,
    /// What each file exported, as last read.
    exports: HashMap<SourceFile, Arc<FileExports>>,
    /// The units that report into each file.
    contributors: HashMap<FileKey, HashSet<Unit>>,
    /// Each file's diagnostics (files without any are absent), sorted and capped.
    by_file: BTreeMap<FileKey, Vec<Diagnostic>>,
    /// Whether the last update re-read every unit (for tests).
    last_full: bool,
    /// The program's tenant names that each file's text gives after `tenant`.
    mentions: HashMap<SourceFile, Vec<String>>,
    /// The files that mention each tenant name (the inverse of `mentions`).
    readers: HashMap<String, HashSet<SourceFile>>,
    /// The program's tenant names, as of the last full update.
    tenant_names: HashSet<String>,
    /// Whether `mentions` and `readers` are built (on the first edit that needs
    /// them after a full update, so a full update does not read every text).
    mentions_built: bool,
    /// Whether every tenant name is one [`named_tenants`] can find (otherwise
    /// every cross-tenant edit reads everything again).
    names_findable: bool,
    /// How many units the last update re-read (for tests and benchmarks).
    last_read: usize,
    /// The files whose units the last update re-read, unless it re-read all.
    last_files: Vec<SourceFile>,
}

/// The names a text gives after the keyword `tenant` (bare or quoted): the
/// only places where a check reads another tenant by name (`allow … tenant T`,
/// `grant … tenant T workload W`). `*` when something other than a name follows
/// (a comment, a brace): such a file counts as naming every tenant. A plain
/// substring search (`tenants`, `all-tenants` and comments give extra, harmless
/// names), cheap on every file's text.
fn named_tenants(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices("tenant").map(move |(i, _)| {
        let rest = text[i + "tenant".len()..].trim_start_matches(|c: char| c.is_whitespace() || c == '"');
        let end = rest.find(|c: char| !name_char(c)).unwrap_or(rest.len());
        if end == 0 {
            "*"
        } else {
            &rest[..end]
        }
    })
}

/// What [`named_tenants`] takes as part of a name.
fn name_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '"' | '{' | '}' | ';' | '#'))
}

impl LiveDiagnostics {
    /// Diagnostics for the program rooted at `entry`, empty until the first
    /// [`LiveDiagnostics::update`].
    pub fn new(entry: SourceFile) -> Self {
        LiveDiagnostics {
            entry,
            files: Vec::new(),
            members: HashMap::new(),
            member_keys: HashSet::new(),
            units: HashMap::new(),
            exports: HashMap::new(),
            contributors: HashMap::new(),
            by_file: BTreeMap::new(),
            last_full: false,
            mentions: HashMap::new(),
            readers: HashMap::new(),
            tenant_names: HashSet::new(),
            mentions_built: false,
            names_findable: false,
            last_read: 0,
            last_files: Vec::new(),
        }
    }

    /// The entry file.
    pub fn entry(&self) -> SourceFile {
        self.entry
    }

    /// Whether the program includes the file with this key.
    pub fn contains_key(&self, key: &str) -> bool {
        self.member_keys.contains(key)
    }

    /// The keys of the program's files.
    pub fn file_keys(&self) -> impl Iterator<Item = &FileKey> {
        self.member_keys.iter()
    }

    /// The diagnostics of one file (empty when it has none or is not in the program).
    pub fn get(&self, key: &str) -> &[Diagnostic] {
        self.by_file.get(key).map_or(&[], Vec::as_slice)
    }

    /// Every file with diagnostics, and its diagnostics, by key.
    pub fn by_file(&self) -> &BTreeMap<FileKey, Vec<Diagnostic>> {
        &self.by_file
    }

    /// Whether the last update re-read the units of every file.
    pub fn last_update_was_full(&self) -> bool {
        self.last_full
    }

    /// How many units (the program's and the files') the last update re-read.
    pub fn last_units_read(&self) -> usize {
        self.last_read
    }

    /// The files whose units the last update re-read, or `None` when it
    /// re-read every file's: only the checks of these files' declarations can
    /// have changed (what `khc build --watch` re-emits).
    pub fn last_files_read(&self) -> Option<&[SourceFile]> {
        (!self.last_full).then_some(self.last_files.as_slice())
    }

    /// Records which of the program's tenant names `f`'s text mentions.
    fn mention(&mut self, db: &dyn Db, f: SourceFile) {
        for name in self.mentions.remove(&f).unwrap_or_default() {
            if let Some(set) = self.readers.get_mut(&name) {
                set.remove(&f);
            }
        }
        let mut names: Vec<String> = named_tenants(f.text(db)).filter(|w| *w == "*" || self.tenant_names.contains(*w)).map(str::to_string).collect();
        names.sort();
        names.dedup();
        for name in &names {
            self.readers.entry(name.clone()).or_default().insert(f);
        }
        self.mentions.insert(f, names);
    }

    /// Brings the diagnostics up to date after the files in `changed` changed
    /// (all files on the first call). Returns the keys of the files whose
    /// diagnostics changed, and of those that joined or left the program.
    pub fn update(&mut self, db: &dyn Db, changed: &[SourceFile]) -> BTreeSet<FileKey> {
        let entry = self.entry;
        let files = &program(db, entry).files;
        let mut out = BTreeSet::new();
        let mut full = self.units.is_empty() || *files != self.files;
        if full {
            self.files = files.clone();
            self.members = files.iter().enumerate().map(|(i, f)| (*f, i)).collect();
            let keys: HashSet<FileKey> = files.iter().map(|f| f.key(db).clone()).collect();
            // Files that joined or left the program change, if only in who owns them.
            out.extend(keys.symmetric_difference(&self.member_keys).cloned());
            self.member_keys = keys;
        }
        let edited: Vec<SourceFile> = changed.iter().copied().filter(|f| self.members.contains_key(f)).collect();
        if !full && edited.is_empty() {
            self.last_full = false;
            self.last_files.clear();
            return out;
        }
        // What other files can see of the edited ones: when only what they read
        // of its tenants by name changed, the files that name those tenants (and
        // the cluster's, whose lints read every tenant) are read again, and in
        // turn those that name theirs if what they export changed; when anything
        // else changed, every unit is read again (salsa re-runs only those that
        // read what changed).
        let mut by_name: Vec<String> = Vec::new();
        let changed_exports = |this: &mut Self, f: SourceFile, by_name: &mut Vec<String>| -> bool {
            let new = file_exports(db, ProgramFile::new(db, entry, f)).clone();
            let full = match this.exports.get(&f) {
                Some(old) if Arc::ptr_eq(old, &new) || **old == *new => return false,
                Some(old) => match new.tenants_changed_by_name(old) {
                    Some(names) => {
                        by_name.extend(names);
                        false
                    }
                    None => true,
                },
                None => false,
            };
            this.exports.insert(f, new);
            full
        };
        for &f in &edited {
            full |= changed_exports(self, f, &mut by_name);
        }
        let mut readers: Vec<SourceFile> = Vec::new();
        if !full && self.mentions_built {
            for &f in &edited {
                self.mention(db, f);
            }
        }
        if !full && !by_name.is_empty() {
            // A tenant every tenant reads (an all-tenants allow's target), or a
            // name that text splits apart: read everything.
            full |= !self.names_findable || !cluster_facts(db, entry).all_tenants_allows.is_empty();
            if !full && !self.mentions_built {
                for f in self.files.clone() {
                    self.mention(db, f);
                }
                self.mentions_built = true;
            }
            let mut seen: HashSet<SourceFile> = edited.iter().copied().collect();
            let mut queue: Vec<SourceFile> = scope(db, entry).clusters.first().map(|r| r.file).into_iter().collect();
            while !full {
                for name in by_name.drain(..) {
                    queue.extend(self.readers.get(&name).into_iter().flatten().copied());
                    queue.extend(self.readers.get("*").into_iter().flatten().copied());
                }
                let Some(f) = queue.pop() else { break };
                if !self.members.contains_key(&f) || !seen.insert(f) {
                    continue;
                }
                full |= changed_exports(self, f, &mut by_name);
                readers.push(f);
            }
        }
        self.last_full = full;
        let units: Vec<Unit> = if full {
            // Other files' exports may have changed too (a tenant's lint facts
            // follow what it read of the edited file): read them all again.
            let files = self.files.clone();
            self.exports = files.iter().map(|&f| (f, file_exports(db, ProgramFile::new(db, entry, f)).clone())).collect();
            self.tenant_names = scope(db, entry).tenants.keys().cloned().collect();
            self.names_findable = self.tenant_names.iter().all(|n| n != "*" && n.chars().all(name_char));
            self.mentions.clear();
            self.readers.clear();
            self.mentions_built = false;
            std::iter::once(Unit::Program).chain(files.into_iter().map(Unit::File)).collect()
        } else {
            self.last_files = edited.iter().chain(&readers).copied().collect();
            std::iter::once(Unit::Program).chain(edited.into_iter().chain(readers).map(Unit::File)).collect()
        };
        if full {
            self.last_files.clear();
        }
        self.last_read = units.len();
        let mut touched: BTreeSet<FileKey> = BTreeSet::new();
        if full {
            // Units of files no longer in the program report nothing.
            let gone: Vec<Unit> = self.units.keys().filter(|u| matches!(u, Unit::File(f) if !self.members.contains_key(f))).copied().collect();
            for u in gone {
                if let Some(old) = self.units.remove(&u) {
                    self.retract(u, &old, &mut touched);
                }
            }
        }
        for u in units {
            let new = match u {
                Unit::Program => program_diagnostics(db, entry).clone(),
                Unit::File(f) => unit_diagnostics(db, ProgramFile::new(db, entry, f)).clone(),
            };
            match self.units.get(&u) {
                Some(old) if Arc::ptr_eq(old, &new) || **old == *new => continue,
                Some(old) => {
                    let old = old.clone();
                    self.retract(u, &old, &mut touched);
                }
                None => {}
            }
            for d in new.iter() {
                self.contributors.entry(d.primary.file.clone()).or_default().insert(u);
                touched.insert(d.primary.file.clone());
            }
            self.units.insert(u, new);
        }
        for key in touched {
            let mut diags: Vec<Diagnostic> = Vec::new();
            // In the order `diagnostics` reads them, so equal-ranked ones sort alike.
            let mut units: Vec<Unit> = self.contributors.get(&key).into_iter().flatten().copied().collect();
            units.sort_by_key(|u| match u {
                Unit::Program => 0,
                Unit::File(f) => self.members.get(f).map_or(usize::MAX, |i| i + 1),
            });
            for u in &units {
                if let Some(ds) = self.units.get(u) {
                    diags.extend(ds.iter().filter(|d| d.primary.file == key).cloned());
                }
            }
            crate::sort_diagnostics(&mut diags);
            let diags = crate::cap_per_file(diags, crate::MAX_DIAGNOSTICS_PER_FILE);
            let old = self.by_file.get(&key).map_or(&[][..], Vec::as_slice);
            if old != diags.as_slice() {
                out.insert(key.clone());
            }
            if diags.is_empty() {
                self.by_file.remove(&key);
                self.contributors.remove(&key);
            } else {
                self.by_file.insert(key, diags);
            }
        }
        out
    }

    /// Forgets that `u` reported `old`, noting the files it reported into.
    fn retract(&mut self, u: Unit, old: &[Diagnostic], touched: &mut BTreeSet<FileKey>) {
        for d in old {
            if let Some(set) = self.contributors.get_mut(&d.primary.file) {
                set.remove(&u);
            }
            touched.insert(d.primary.file.clone());
        }
    }

    /// Every diagnostic, sorted by file and position (what [`crate::diagnostics`]
    /// returns for the same program).
    pub fn all(&self) -> Vec<Diagnostic> {
        self.by_file.values().flatten().cloned().collect()
    }
}
