//! The salsa database recomputes only what an edit affects.

use khc_db::{build, check, diagnostics, Durability, FileContents, KhcDatabase, LiveDiagnostics, SourceFile};
use khc_syntax::FileKey;
use khc_tests::workspace_gen::{digit_after, Workspace, COMMENT_MARKER, QUOTA_CPU_MARKER};

const ENTRY: &str = "import \"shop.khc\"\nimport \"blog.khc\"\ncluster c {\n  kubernetes 1.35\n  managed-by group \"khc-appliers\"\n  encryption { provider secretbox { key k env \"K\" } }\n}\n";

fn parses(log: &[String]) -> usize {
    log.iter().filter(|l| l.starts_with("parse(")).count()
}

fn emissions(log: &[String]) -> usize {
    log.iter().filter(|l| l.starts_with("tenant_files(")).count()
}

#[test]
fn editing_one_file_reparses_only_that_file() {
    let mut db = KhcDatabase::with_log("");
    let entry = db.set_text(&FileKey::from("main.khc"), ENTRY.into());
    db.set_text(&FileKey::from("shop.khc"), "tenant shop { isolation strict }\n".into());
    db.set_text(&FileKey::from("blog.khc"), "tenant blog { isolation strict }\n".into());
    let first = build(&db, entry).clone().expect("builds");
    let log = db.take_log();
    assert_eq!(parses(&log), 3, "{log:?}");
    assert_eq!(emissions(&log), 2, "{log:?}");

    // Nothing changed: nothing re-executes.
    let again = build(&db, entry).clone().expect("builds");
    assert_eq!(first, again);
    assert!(db.take_log().is_empty());

    // Edit one tenant: only its file is parsed again, and the output follows.
    db.set_text(&FileKey::from("blog.khc"), "tenant blog { isolation tenant }\n".into());
    let after = build(&db, entry).clone().expect("builds");
    let log = db.take_log();
    assert_eq!(parses(&log), 1, "{log:?}");
    assert_eq!(emissions(&log), 1, "only the edited tenant is re-emitted: {log:?}");
    assert_ne!(first, after);
    assert!(after.files.iter().any(|f| f.path.ends_with("blog/networkpolicy-allow-same-tenant.yaml")));

    // An edit that introduces an error removes the output and reports it.
    db.set_text(&FileKey::from("blog.khc"), "tenant blog { isolation sometimes }\n".into());
    assert!(build(&db, entry).is_none());
    assert!(check(&db, entry).diagnostics.iter().any(|d| d.message.contains("unknown isolation mode")));
}

const PROGRAM: &str =
    "import \"a.khc\"\nimport \"b.khc\"\nimport \"c.khc\"\ncluster c {\n  kubernetes 1.35\n  managed-by group \"khc-appliers\"\n  encryption { provider secretbox { key k env \"K\" } }\n}\n";
const A: &str = "tenant a {\n  workload api {}\n  allow ingress from tenant b to workload api ports 80\n  quota { pods 10 }\n}\n";
const B: &str = "tenant b {\n  workload web {}\n  allow egress from workload web to tenant a workload api ports 80\n}\n";
const C: &str = "tenant c {\n  quota { pods 10 }\n}\n";

fn count(log: &[String], query: &str) -> usize {
    log.iter().filter(|l| l.starts_with(&format!("{query}("))).count()
}

/// The grain of checking: an edit inside one tenant re-checks that tenant only,
/// and re-runs only the cross-tenant lints that read it.
#[test]
fn editing_inside_a_tenant_rechecks_only_that_tenant_and_its_readers() {
    let mut db = KhcDatabase::with_log("");
    let entry = db.set_text(&FileKey::from("main.khc"), PROGRAM.into());
    db.set_text(&FileKey::from("a.khc"), A.into());
    db.set_text(&FileKey::from("b.khc"), B.into());
    db.set_text(&FileKey::from("c.khc"), C.into());
    let first = build(&db, entry).clone().expect("builds");
    assert!(check(&db, entry).diagnostics.is_empty(), "{:?}", check(&db, entry).diagnostics);
    let log = db.take_log();
    assert_eq!(count(&log, "tenant_check"), 3, "{log:?}");

    // c is read by nobody: only c is re-checked, re-linted and re-emitted; the
    // scope and every other tenant's facts stay as they were.
    db.set_text(&FileKey::from("c.khc"), C.replace("pods 10", "pods 20"));
    let after = build(&db, entry).clone().expect("builds");
    let log = db.take_log();
    assert_eq!(count(&log, "parse"), 1, "{log:?}");
    assert_eq!(count(&log, "tenant_check"), 1, "{log:?}");
    assert_eq!(count(&log, "tenant_lints"), 1, "{log:?}");
    assert_eq!(count(&log, "tenant_files"), 1, "{log:?}");
    assert_eq!(count(&log, "scope"), 0, "declarations did not change: {log:?}");
    assert_eq!(count(&log, "namespace_owners"), 0, "no tenant's facts changed: {log:?}");
    assert_ne!(first, after);

    // a is read by b's lints (b sends traffic to a), but they read only a's
    // isolation and traffic rules: a quota edit re-checks and re-lints a alone.
    db.set_text(&FileKey::from("a.khc"), A.replace("pods 10", "pods 30"));
    assert!(build(&db, entry).is_some());
    let log = db.take_log();
    assert_eq!(count(&log, "tenant_check"), 1, "{log:?}");
    assert_eq!(count(&log, "tenant_lint_facts"), 1, "{log:?}");
    assert_eq!(count(&log, "tenant_lints"), 1, "b's lints read nothing that changed: {log:?}");

    // A change to a's traffic rules re-runs b's lints too.
    db.set_text(&FileKey::from("a.khc"), A.replace("pods 10", "pods 30").replace("ports 80", "ports 81"));
    let diags = check(&db, entry).diagnostics.clone();
    let log = db.take_log();
    assert_eq!(count(&log, "tenant_lints"), 2, "{log:?}");
    assert!(diags.iter().any(|d| d.code == "unreachable" && &*d.primary.file == "b.khc"), "{diags:?}");
    db.set_text(&FileKey::from("a.khc"), A.replace("pods 10", "pods 30"));
    assert!(check(&db, entry).diagnostics.is_empty());
    db.take_log();

    // Changing what other tenants read (a's workloads) re-checks b, which names
    // a's workload, and reports the broken reference there.
    db.set_text(&FileKey::from("a.khc"), A.replace("workload api {}", "workload app {}").replace("to workload api", "to workload app"));
    let diags = check(&db, entry).diagnostics.clone();
    let log = db.take_log();
    assert_eq!(count(&log, "tenant_check"), 2, "a and b: {log:?}");
    assert!(diags.iter().any(|d| d.message.contains("tenant `a` has no workload `api`") && &*d.primary.file == "b.khc"), "{diags:?}");
    assert!(diags.iter().find(|d| d.message.contains("has no workload")).is_some_and(|d| d.fixes.iter().any(|f| f.replacement == "app")), "a did-you-mean fix");
}

/// Loads the files of a program as the language server does: files from disk at
/// medium durability, the edited ones at low durability.
fn load(db: &mut KhcDatabase, files: &[(&str, &str)], open: &[&str]) -> SourceFile {
    for (key, text) in files {
        let durability = if open.contains(key) { Durability::LOW } else { Durability::MEDIUM };
        db.set_contents_durable(&FileKey::from(*key), FileContents::Text(text.to_string()), durability);
    }
    db.file(files[0].0).expect("entry loaded")
}

/// The language server's grain ([`LiveDiagnostics`]): an edit inside a tenant
/// body re-reads that file's diagnostics only — the program's file set, its scope
/// and every other file's diagnostics are not re-executed — and the result always
/// equals the whole program's `diagnostics`, including a diagnostic that appears
/// and disappears in another file when a tenant it names is removed and restored.
#[test]
fn live_diagnostics_rerun_only_the_edited_file() {
    let mut db = KhcDatabase::with_log("");
    let entry = load(&mut db, &[("main.khc", PROGRAM), ("a.khc", A), ("b.khc", B), ("c.khc", C)], &["a.khc"]);
    let mut live = LiveDiagnostics::new(entry);
    live.update(&db, &[]);
    assert!(live.last_update_was_full());
    assert!(live.all().is_empty(), "{:?}", live.all());
    assert!(live.contains_key("b.khc"));
    db.take_log();
    let a = db.file("a.khc").unwrap();

    // A quota edit in a: a's unit alone.
    db.set_text(&FileKey::from("a.khc"), A.replace("pods 10", "pods 11"));
    assert!(live.update(&db, &[a]).is_empty());
    let log = db.take_log();
    assert!(!live.last_update_was_full());
    assert_eq!(count(&log, "unit_diagnostics"), 1, "{log:?}");
    assert_eq!(count(&log, "tenant_check"), 1, "{log:?}");
    for q in ["program", "scope", "namespace_owners", "tenant_lints", "tenant_facts"] {
        assert_eq!(count(&log, q), if q == "tenant_lints" || q == "tenant_facts" { 1 } else { 0 }, "{q}: {log:?}");
    }
    assert_eq!(live.all(), *diagnostics(&db, entry));

    // An error typed into a is reported in a, and only a changes.
    db.set_text(&FileKey::from("a.khc"), A.replace("pods 10", "pods ten"));
    let changed = live.update(&db, &[a]);
    assert_eq!(changed.into_iter().map(|k| k.to_string()).collect::<Vec<_>>(), ["a.khc"]);
    assert!(live.get("a.khc").iter().any(|d| d.is_error()));
    assert_eq!(live.all(), *diagnostics(&db, entry));

    // Removing tenant a (b's allow names it) reports the broken reference in b;
    // restoring it takes the report away.
    db.set_text(&FileKey::from("a.khc"), "# nothing here yet\n".into());
    let changed = live.update(&db, &[a]);
    assert!(live.last_update_was_full());
    assert!(changed.iter().any(|k| &**k == "b.khc"), "{changed:?}");
    assert!(live.get("b.khc").iter().any(|d| d.message.contains("`a`")), "{:?}", live.get("b.khc"));
    assert_eq!(live.all(), *diagnostics(&db, entry));
    db.set_text(&FileKey::from("a.khc"), A.into());
    let changed = live.update(&db, &[a]);
    assert!(changed.iter().any(|k| &**k == "b.khc"), "{changed:?}");
    assert!(live.get("b.khc").is_empty(), "{:?}", live.get("b.khc"));
    assert!(live.all().is_empty(), "{:?}", live.all());
    assert_eq!(live.all(), *diagnostics(&db, entry));
}

/// Edit after edit on a generated workspace — comment and value edits, broken
/// text, renamed and removed tenants, changed traffic and namespaces, a
/// namespace shared with another tenant and then moved along its line (the other
/// tenant's error points at it; nothing else moves), another
/// file edited, an import dropped — the language server's diagnostics equal the
/// whole program's.
#[test]
fn live_diagnostics_agree_with_the_whole_program() {
    let ws = Workspace::new(12);
    let files = ws.files();
    let mut db = KhcDatabase::new("");
    let refs: Vec<(&str, &str)> = files.iter().map(|(k, t)| (k.as_str(), t.as_str())).collect();
    let entry = load(&mut db, &refs, &[files[3].0.as_str()]);
    let mut live = LiveDiagnostics::new(entry);
    live.update(&db, &[]);
    assert!(live.all().is_empty(), "{:?}", live.all());
    let t2 = files[3].1.clone();
    let (name2, name3) = (Workspace::tenant_name(2), Workspace::tenant_name(3));
    let comment = digit_after(&t2, COMMENT_MARKER).unwrap();
    let cpu = digit_after(&t2, QUOTA_CPU_MARKER).unwrap();
    let with = |at: usize, c: &str| format!("{}{c}{}", &t2[..at], &t2[at + 1..]);
    let edits: Vec<(usize, String)> = vec![
        (3, with(comment, "1")),
        (3, with(cpu, "5")),
        (3, with(cpu, "x")),
        (3, t2.replace(&format!("tenant {name2} {{"), "tenant zz {")),
        (3, t2.replace(&format!("tenant {name2} {{"), &format!("tenant {name3} {{"))),
        (3, t2.replace("isolation strict", "isolation none").replace("isolation tenant", "isolation none")),
        (3, t2.replace("workload api {", "workload app {")),
        (3, t2.replace("namespaces ", &format!("namespaces {name3} "))),
        (3, t2.replacen("namespaces ", &format!("namespaces {}  ", Workspace::tenant_name(5)), 1)),
        (3, t2.replacen("namespaces ", &format!("namespaces  {} ", Workspace::tenant_name(5)), 1)),
        (3, t2[..t2.len() / 2].to_string()),
        (3, String::new()),
        (3, t2.clone()),
        (4, files[4].1.replace("workload api {", "workload apx {")),
        (0, files[0].1.replacen("import \"tenants/", "# import \"tenants/", 1)),
        (0, files[0].1.clone()),
        (4, files[4].1.clone()),
        (3, with(comment, "1")),
    ];
    for (step, (i, text)) in edits.into_iter().enumerate() {
        let f = db.set_text(&FileKey::from(files[i].0.as_str()), text);
        live.update(&db, &[f]);
        let whole = diagnostics(&db, entry).clone();
        assert_eq!(live.all(), whole, "step {step}");
        if step == 3 {
            assert!(!whole.is_empty(), "renaming a tenant breaks its neighbours' allows");
        }
    }
    assert!(live.all().is_empty(), "{:?}", live.all());
}

/// Opening files in an editor lowers their durability (disk files are medium,
/// buffers low). Salsa cannot backdate a value whose durability dropped, so the
/// whole-program queries are low from the start: after the cluster file and a
/// tenant file are opened, an edit that changes what other files read re-runs
/// the edited tenant's check only, not every tenant's — also after many edits.
#[test]
fn opening_files_does_not_recheck_every_tenant_later() {
    let ws = Workspace::new(12);
    let files = ws.files();
    let mut db = KhcDatabase::with_log("");
    let refs: Vec<(&str, &str)> = files.iter().map(|(k, t)| (k.as_str(), t.as_str())).collect();
    let entry = load(&mut db, &refs, &[]);
    let mut live = LiveDiagnostics::new(entry);
    live.update(&db, &[]);
    let opened: Vec<SourceFile> =
        [0, 3].iter().map(|&i| db.set_contents_durable(&FileKey::from(files[i].0.as_str()), FileContents::Text(files[i].1.clone()), Durability::LOW)).collect();
    live.update(&db, &opened);
    // Edits for a while (the item keys of the other files are not read meanwhile
    // and must not be collected, or their checks would be lost).
    let t2 = &files[3].1;
    let comment = digit_after(t2, COMMENT_MARKER).unwrap();
    for k in 0..10 {
        let f = db.set_text(&FileKey::from(files[3].0.as_str()), format!("{}{}{}", &t2[..comment], k % 2, &t2[comment + 1..]));
        live.update(&db, &[f]);
    }
    db.take_log();
    let at = t2.find("to tenant ").unwrap() + "to tenant ".len();
    let f = db.set_text(&FileKey::from(files[3].0.as_str()), format!("{}q{}", &t2[..at], &t2[at + 1..]));
    live.update(&db, &[f]);
    let log = db.take_log();
    // An unknown tenant changes what the tenant's readers see of it (its lint
    // facts), not what the fleet reads: the files naming it are read again, not
    // every file (issue 24).
    assert!(!live.last_update_was_full(), "only the files that name the edited tenant");
    assert!(live.last_units_read() < files.len(), "{}", live.last_units_read());
    assert_eq!(count(&log, "tenant_check"), 1, "{log:?}");
    assert!(live.get(files[3].0.as_str()).iter().any(|d| d.is_error()));
    assert_eq!(live.all(), *diagnostics(&db, entry));
}

/// Random edits (deterministic generator): lines deleted, duplicated or swapped
/// between files, tenant names exchanged, namespaces shared with another tenant,
/// text shifted down a line, files restored, in any file including
/// the entry — after every edit the language server's diagnostics equal the
/// whole program's.
#[test]
fn live_diagnostics_agree_under_random_edits() {
    let ws = Workspace::new(12);
    let files = ws.files();
    let mut db = KhcDatabase::new("");
    let refs: Vec<(&str, &str)> = files.iter().map(|(k, t)| (k.as_str(), t.as_str())).collect();
    let entry = load(&mut db, &refs, &[files[1].0.as_str(), files[2].0.as_str()]);
    let mut live = LiveDiagnostics::new(entry);
    live.update(&db, &[]);
    let mut texts: Vec<String> = files.iter().map(|(_, t)| t.clone()).collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut nonempty = 0;
    for step in 0..300 {
        let i = if next(4) == 0 { next(texts.len()) } else { 1 + next(3) };
        let lines: Vec<String> = texts[i].lines().map(str::to_string).collect();
        let text = match next(7) {
            0 if !lines.is_empty() => {
                let k = next(lines.len());
                lines.iter().enumerate().filter(|(j, _)| *j != k).map(|(_, l)| format!("{l}\n")).collect()
            }
            1 if !lines.is_empty() => {
                let k = next(lines.len());
                let mut v = lines.clone();
                v.insert(k, lines[k].clone());
                v.join("\n") + "\n"
            }
            2 => {
                let other = &texts[next(texts.len())];
                let ol: Vec<&str> = other.lines().collect();
                let mut v = lines.clone();
                if !ol.is_empty() {
                    v.insert(next(v.len() + 1), ol[next(ol.len())].to_string());
                }
                v.join("\n") + "\n"
            }
            3 => {
                let (a, b) = (Workspace::tenant_name(next(12)), Workspace::tenant_name(next(12)));
                texts[i].replace(&a, &b)
            }
            4 => texts[i].replacen("namespaces ", &format!("namespaces {} ", Workspace::tenant_name(next(12))), 1),
            5 if next(2) == 0 => format!("\n{}", texts[i]),
            _ => files[i].1.clone(),
        };
        texts[i] = text.clone();
        let f = db.set_text(&FileKey::from(files[i].0.as_str()), text);
        live.update(&db, &[f]);
        let whole = diagnostics(&db, entry).clone();
        nonempty += usize::from(!whole.is_empty());
        assert_eq!(live.all(), whole, "step {step}, file {}", files[i].0);
    }
    assert!(nonempty > 100, "the edits produce diagnostics: {nonempty}");
}

fn executed(log: &[String], query: &str) -> usize {
    log.iter().filter(|l| l.starts_with(&format!("{query}("))).count()
}

/// A fleet of `n` tenants loaded into `db`: its entry and its files.
fn load_fleet(db: &mut KhcDatabase, n: usize) -> (SourceFile, Vec<SourceFile>) {
    let files: Vec<SourceFile> = khc_tests::fleet_sources(n).into_iter().map(|(k, text)| db.set_text(&FileKey::from(k.as_str()), text)).collect();
    (files[0], files)
}

#[test]
fn a_batch_build_drops_trees_and_checked_tenants_without_computing_anything_twice() {
    // 200 tenants: emitted in several chunks (at least 64 tenants each).
    let n = 200;
    let mut plain = KhcDatabase::new("");
    let (entry, _) = load_fleet(&mut plain, n);
    let expected = build(&plain, entry).clone().expect("the fleet builds");

    let mut db = KhcDatabase::with_log("");
    let (entry, files) = load_fleet(&mut db, n);
    db.bound_memos();
    assert!(!diagnostics(&db, entry).iter().any(khc_syntax::Diagnostic::is_error));
    db.take_log();
    khc_db::emit_releasing(&mut db, &[entry]);
    let log = db.take_log();
    assert_eq!(emissions(&log), n, "{log:?}");
    for query in ["parse", "tenant_check", "tenant_facts", "tenant_lint_facts", "diagnostics"] {
        assert_eq!(executed(&log, query), 0, "emission must not recompute {query}: {log:?}");
    }
    let mut got: Vec<khc_emit::OutputFile> = khc_db::build_files(&db, entry).expect("builds").into_iter().cloned().collect();
    got.sort_by(|a, b| a.path.cmp(&b.path));
    assert!(db.take_log().is_empty(), "the files are borrowed from the memos");
    assert_eq!(got, expected.files);

    // The trees and the checked tenants were dropped: asking again recomputes them
    // (checking a tenant again also reads its peers' facts, hence their trees).
    let _ = khc_db::parse(&db, files[1]);
    assert_eq!(parses(&db.take_log()), 1);
    let first = khc_db::emit::tenant_ids(&db, entry)[0];
    let _ = khc_db::tenant_check(&db, first);
    assert_eq!(executed(&db.take_log(), "tenant_check"), 1);
}

#[test]
fn an_unbounded_database_keeps_every_memo_through_emission() {
    let mut db = KhcDatabase::with_log("");
    let (entry, files) = load_fleet(&mut db, 80);
    assert!(!diagnostics(&db, entry).iter().any(khc_syntax::Diagnostic::is_error));
    khc_db::emit_releasing(&mut db, &[entry]);
    db.take_log();
    let _ = khc_db::parse(&db, files[1]);
    let first = khc_db::emit::tenant_ids(&db, entry)[0];
    let _ = khc_db::tenant_check(&db, first);
    assert!(db.take_log().is_empty());
}

/// A cluster grant to `tenant a workload api` makes the cluster's check read
/// tenant `a`'s facts and no other tenant's: a new workload in `c` leaves the
/// cluster unchecked, one in `a` re-checks it (and, the cluster's facts
/// unchanged, no tenant that reads only those).
#[test]
fn the_cluster_check_reads_only_the_tenants_its_grants_name() {
    let mut db = KhcDatabase::with_log("");
    let program = PROGRAM.replace("  kubernetes 1.35\n", "  kubernetes 1.35\n  role r { can get on nodes }\n  grant r to tenant a workload api\n");
    let entry = db.set_text(&FileKey::from("main.khc"), program);
    db.set_text(&FileKey::from("a.khc"), A.into());
    db.set_text(&FileKey::from("b.khc"), B.into());
    db.set_text(&FileKey::from("c.khc"), C.into());
    build(&db, entry).clone().expect("builds");
    db.take_log();

    db.set_text(&FileKey::from("c.khc"), C.replace("quota", "workload w {}\n  quota"));
    build(&db, entry).clone().expect("builds");
    let log = db.take_log();
    assert_eq!(count(&log, "cluster_check"), 0, "{log:?}");

    db.set_text(&FileKey::from("a.khc"), A.replace("workload api {}", "workload api {}\n  workload w {}"));
    build(&db, entry).clone().expect("builds");
    let log = db.take_log();
    assert_eq!(count(&log, "cluster_check"), 1, "{log:?}");
    // a, and b whose `allow` reads a's facts; not c (the cluster's facts are unchanged).
    assert_eq!(count(&log, "tenant_check"), 2, "{log:?}");
}

/// A cross-tenant edit (issue 24): the port of an `allow` another tenant's
/// `allow` reads, a tenant's isolation, a workload's selector. Only what other
/// files read of the edited tenant *by name* changes, so the language server
/// re-reads the edited file, the files that name that tenant and the cluster's
/// (not the fleet), and its diagnostics still equal the whole program's after
/// every edit, including the one-sided-traffic warning that appears in the
/// other tenant's file and goes away when the port is restored.
#[test]
fn a_cross_tenant_edit_rereads_only_the_files_that_name_its_tenant() {
    let n = 40;
    let ws = Workspace::new(n);
    let files = ws.files();
    let mut db = KhcDatabase::new("");
    let refs: Vec<(&str, &str)> = files.iter().map(|(k, t)| (k.as_str(), t.as_str())).collect();
    let entry = load(&mut db, &refs, &[]);
    let mut live = LiveDiagnostics::new(entry);
    live.update(&db, &[]);
    assert!(live.last_update_was_full());
    assert_eq!(live.all(), *diagnostics(&db, entry));
    let mut texts: Vec<String> = files.iter().map(|(_, t)| t.clone()).collect();

    // The port of t20's ingress from t19: t19's egress to t20 is now one-sided.
    let i = 1 + 20;
    let text = texts[i].replacen("to workload api ports 8080", "to workload api ports 8081", 1);
    assert_ne!(text, texts[i]);
    let f = db.set_text(&FileKey::from(files[i].0.as_str()), text.clone());
    let changed = live.update(&db, &[f]);
    assert!(!live.last_update_was_full());
    assert!(live.last_units_read() <= 8, "the program, t20, the files naming t20 and the cluster's: {}", live.last_units_read());
    assert_eq!(live.all(), *diagnostics(&db, entry));
    let other = ws.tenant_path(19);
    assert!(changed.iter().any(|k| **k == *other) && !live.get(&other).is_empty(), "t19's one-sided egress: {changed:?}");
    let f = db.set_text(&FileKey::from(files[i].0.as_str()), texts[i].clone());
    live.update(&db, &[f]);
    assert!(!live.last_update_was_full());
    assert!(live.get(&other).is_empty(), "{:?}", live.get(&other));
    assert_eq!(live.all(), *diagnostics(&db, entry));

    // Random edits of that kind in random tenants, and now and then one that is
    // not (a namespace added), which reads everything again.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let (mut partial, mut nonempty) = (0, 0);
    for step in 0..120 {
        let i = 1 + next(n);
        let t = &texts[i];
        let text = match next(8) {
            0 => t.replacen("ports 8080", "ports 8081", 1),
            1 => t.replacen("ports 8081", "ports 8080", 1),
            2 => t.replacen("ports 9090", "ports 9091", 1),
            3 => t.replacen("isolation strict", "isolation none", 1),
            4 => t.replacen("isolation none", "isolation tenant", 1).replacen("isolation tenant", "isolation strict", 1),
            5 => t.replacen("-api\"", "-gateway\"", 1),
            6 if next(4) == 0 => t.replacen("namespaces ", "namespaces extra-ns ", 1),
            _ => files[i].1.clone(),
        };
        texts[i] = text.clone();
        let f = db.set_text(&FileKey::from(files[i].0.as_str()), text);
        live.update(&db, &[f]);
        partial += usize::from(!live.last_update_was_full());
        let whole = diagnostics(&db, entry).clone();
        nonempty += usize::from(!whole.is_empty());
        assert_eq!(live.all(), whole, "step {step}, file {}", files[i].0);
    }
    assert!(partial > 60 && nonempty > 30, "partial updates {partial}, with diagnostics {nonempty}");

    // With an all-tenants allow every tenant reads its target: a port edit there
    // reads everything again, and still agrees.
    let at = texts[0].find("cluster ").and_then(|c| texts[0][c..].find("{\n").map(|b| c + b + 2)).expect("the cluster block");
    texts[0].insert_str(at, "  allow egress from all-tenants to tenant t3 workload api ports 8080\n");
    let f = db.set_text(&FileKey::from(files[0].0.as_str()), texts[0].clone());
    live.update(&db, &[f]);
    assert_eq!(live.all(), *diagnostics(&db, entry));
    for port in ["8081", "8080"] {
        let i = 1 + 3;
        texts[i] = files[i].1.replacen("ports 8080", &format!("ports {port}"), 1);
        let f = db.set_text(&FileKey::from(files[i].0.as_str()), texts[i].clone());
        live.update(&db, &[f]);
        assert!(live.last_update_was_full());
        assert_eq!(live.all(), *diagnostics(&db, entry));
    }
}

/// What an edit of the middle tenant's file costs in a fleet of `n` tenants
/// loaded as the language server loads it (files from disk medium, the entry
/// and the edited file open, low): for a body edit (the quota's `cpu`) and a
/// cross-tenant edit (the port of the `allow ingress from tenant PREV …` that
/// PREV's egress reads), each made and undone, the memos salsa verified and the
/// queries it executed, summed over both directions; the live diagnostics equal
/// the whole program's afterwards.
struct EditCost {
    body_validated: usize,
    body_log: Vec<String>,
    cross_validated: usize,
    cross_log: Vec<String>,
}

fn edit_cost(n: usize) -> EditCost {
    let ws = Workspace::new(n);
    let files = ws.files();
    let edited = 1 + n / 2;
    let mut db = KhcDatabase::with_log("");
    let refs: Vec<(&str, &str)> = files.iter().map(|(k, t)| (k.as_str(), t.as_str())).collect();
    let entry = load(&mut db, &refs, &[files[0].0.as_str(), files[edited].0.as_str()]);
    let mut live = LiveDiagnostics::new(entry);
    live.update(&db, &[]);
    assert!(live.all().is_empty(), "{:?}", live.all());
    let key = FileKey::from(files[edited].0.as_str());
    let text = &files[edited].1;
    let cpu = digit_after(text, QUOTA_CPU_MARKER).expect("a quota");
    let port = text.find("allow ingress from tenant ").and_then(|i| text[i..].find("ports 8080").map(|j| i + j + "ports 808".len())).expect("an ingress");
    let mut measure = |at: usize, digit: &str| -> (usize, Vec<String>) {
        db.take_log();
        db.take_validated();
        let mut log = Vec::new();
        for t in [format!("{}{digit}{}", &text[..at], &text[at + 1..]), text.clone()] {
            let f = db.set_text(&key, t);
            live.update(&db, &[f]);
            assert!(!live.last_update_was_full());
            log.extend(db.take_log());
        }
        (db.take_validated(), log)
    };
    let (body_validated, body_log) = measure(cpu, "5");
    let (cross_validated, cross_log) = measure(port, "1");
    assert_eq!(live.all(), *diagnostics(&db, entry));
    EditCost { body_validated, body_log, cross_validated, cross_log }
}

/// Issue 24 item 4: an edit costs the same in a fleet of 100 and of 800
/// tenants. The whole-program queries (`program`, `scope`, `namespace_owners`,
/// `cluster_lints`) read the files and tenants through chunks of
/// `khc_db::programs::CHUNK`, so salsa verifies the chunks without the edited
/// file in O(1) instead of one dependency per file: the memos verified per edit
/// grow by the number of chunks only (before: ~4 per tenant, linear). A body
/// edit re-runs nothing whole-program and checks the edited tenant alone; a
/// cross-tenant edit re-checks the edited tenant and re-runs the lints of the
/// tenants that name it (its neighbours `i±1` and `i±7`), no other tenant's.
#[test]
fn an_edit_costs_the_same_in_a_small_and_a_large_fleet() {
    let small = edit_cost(100);
    let large = edit_cost(800);
    for cost in [&small, &large] {
        for log in [&cost.body_log, &cost.cross_log] {
            // Not even the edited file's chunks: what they read of it (its
            // imports, declarations, facts) is backdated.
            for q in
                ["program", "scope", "namespace_owners", "cluster_lints", "tenant_chunks", "chunk_imports", "chunk_scope", "chunk_facts", "chunk_namespaces"]
            {
                assert_eq!(count(log, q), 0, "{q}: {log:?}");
            }
            assert_eq!(count(log, "tenant_check"), 2, "the edited tenant, twice: {log:?}");
        }
        assert_eq!(count(&cost.body_log, "tenant_lints"), 2, "{:?}", cost.body_log);
        assert_eq!(count(&cost.body_log, "unit_diagnostics"), 2, "{:?}", cost.body_log);
        assert!(count(&cost.cross_log, "tenant_lints") <= 2 * 5, "the edited tenant and four readers: {:?}", cost.cross_log);
    }
    eprintln!(
        "memos verified per edit and undo: body {} → {}, cross-tenant {} → {}",
        small.body_validated, large.body_validated, small.cross_validated, large.cross_validated
    );
    for (s, l) in [(small.body_validated, large.body_validated), (small.cross_validated, large.cross_validated)] {
        assert!(l * 2 <= s * 3, "8× the tenants, {s} → {l} memos verified: more than 1.5×");
    }
}
