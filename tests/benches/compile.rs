//! Compile-time benchmark: `cargo bench -p khc-tests`.
//!
//! Generates programs of 10, 100 and 500 tenants with `khc_tests::workspace_gen`
//! (one file each under `tenants/`, every tenant with namespaces, workloads,
//! cross-tenant allows, RBAC, quota, limits and admission) and measures, with the
//! real salsa database:
//! * cold: parse, check and emit everything in a fresh database;
//! * edit: change one tenant file and rebuild (incremental);
//! * noop: rebuild with nothing changed.
//!
//! Prints medians and the ratios cold/edit and per-tenant cost.

use khc_db::{build, KhcDatabase};
use khc_syntax::FileKey;
use khc_tests::workspace_gen::Workspace;
use std::time::{Duration, Instant};

fn program(n: usize) -> (KhcDatabase, khc_db::SourceFile) {
    let mut db = KhcDatabase::new("");
    let mut entry = None;
    for (path, text) in Workspace::new(n).files() {
        let f = db.set_text(&FileKey::from(path.as_str()), text);
        entry.get_or_insert(f);
    }
    (db, entry.expect("the entry file comes first"))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    println!("{:>8} {:>12} {:>12} {:>12} {:>12} {:>10} {:>14} {:>8}", "tenants", "cold", "edit", "(check)", "noop", "cold/edit", "cold/tenant", "files");
    for n in [10, 100, 500] {
        let runs = if n >= 500 { 3 } else { 7 };
        let mut cold = Vec::new();
        let mut edit = Vec::new();
        let mut noop = Vec::new();
        let mut edit_check = Vec::new();
        let mut files = 0;
        for r in 0..runs {
            let (mut db, entry) = program(n);
            let t = Instant::now();
            let out = build(&db, entry).as_ref().expect("benchmark program compiles").files.len();
            cold.push(t.elapsed());
            files = out;
            let ws = Workspace::new(n);
            db.set_text(&FileKey::from(ws.tenant_path(0).as_str()), ws.tenant_source(0, r + 1));
            let t = Instant::now();
            assert!(khc_db::check(&db, entry).model.is_some());
            edit_check.push(t.elapsed());
            assert!(build(&db, entry).is_some());
            edit.push(t.elapsed());
            let t = Instant::now();
            assert!(build(&db, entry).is_some());
            noop.push(t.elapsed());
        }
        let (c, e, o, ec) = (median(cold), median(edit), median(noop), median(edit_check));
        println!(
            "{n:>8} {:>12.2?} {:>12.2?} {:>12.2?} {:>12.2?} {:>10.1} {:>14.2?} {files:>8}",
            c,
            e,
            ec,
            o,
            c.as_secs_f64() / e.as_secs_f64().max(1e-9),
            c / n as u32
        );
    }
}
