//! The salsa database recomputes only what an edit affects.

use khc_db::{build, check, KhcDatabase};
use khc_syntax::FileKey;

const ENTRY: &str = "import \"shop.khc\"\nimport \"blog.khc\"\ncluster c {\n  kubernetes 1.31\n  encryption { provider secretbox { key k env \"K\" } }\n}\n";

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
