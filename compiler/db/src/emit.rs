//! Emission queries: each tenant's files are re-emitted only when that tenant's
//! checked model changes; the build joins them with the cluster's files.

use crate::checks::{cluster_facts, model, tenant_check};
use crate::programs::scope;
use crate::{Db, ItemId, SourceFile};
use khc_emit::{Output, OutputFile};

/// The emitted files of one tenant.
#[salsa::tracked(returns(ref))]
pub fn tenant_files<'db>(db: &'db dyn Db, t: ItemId<'db>) -> Vec<OutputFile> {
    let cluster = cluster_facts(db, *t.entry(db));
    match &tenant_check(db, t).0 {
        Some(tenant) => khc_emit::emit_tenant(&cluster.name, tenant),
        None => Vec::new(),
    }
}

/// The emitted files of the program rooted at `entry`, if it has no errors.
#[salsa::tracked(returns(ref))]
pub fn build(db: &dyn Db, entry: SourceFile) -> Option<Output> {
    let model = model(db, entry).as_ref()?;
    let mut files = khc_emit::emit_cluster(model);
    for t in scope(db, entry).live_tenants(db, entry) {
        files.extend(tenant_files(db, t).iter().cloned());
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Some(Output { files })
}

/// The ids of the program's tenants, for tests and tools that look at one tenant.
pub fn tenant_ids<'db>(db: &'db dyn Db, entry: SourceFile) -> Vec<ItemId<'db>> {
    scope(db, entry).live_tenants(db, entry)
}
