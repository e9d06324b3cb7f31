//! The salsa database recomputes only what an edit affects.

use khc_db::{build, check, KhcDatabase};
use khc_syntax::FileKey;

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

    // a is read by b's lints (b sends traffic to a): a is re-checked, and the
    // lints of a and of b re-run; b itself is not re-checked.
    db.set_text(&FileKey::from("a.khc"), A.replace("pods 10", "pods 30"));
    assert!(build(&db, entry).is_some());
    let log = db.take_log();
    assert_eq!(count(&log, "tenant_check"), 1, "{log:?}");
    assert_eq!(count(&log, "tenant_lints"), 2, "{log:?}");

    // Changing what other tenants read (a's workloads) re-checks b, which names
    // a's workload, and reports the broken reference there.
    db.set_text(&FileKey::from("a.khc"), A.replace("workload api {}", "workload app {}").replace("to workload api", "to workload app"));
    let diags = check(&db, entry).diagnostics.clone();
    let log = db.take_log();
    assert_eq!(count(&log, "tenant_check"), 2, "a and b: {log:?}");
    assert!(diags.iter().any(|d| d.message.contains("tenant `a` has no workload `api`") && &*d.primary.file == "b.khc"), "{diags:?}");
    assert!(diags.iter().find(|d| d.message.contains("has no workload")).is_some_and(|d| d.fixes.iter().any(|f| f.replacement == "app")), "a did-you-mean fix");
}
