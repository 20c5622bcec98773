//! A query holds its tenant's indexes, not the store: writes to other tenants go on beside it,
//! writes to its tenant wait for it and are visible once `ingest` returns.

use std::sync::mpsc::{self, Receiver};
use std::thread::Scope;
use std::time::Duration;

use super::Store;
use crate::model::{Claim, IngestItem, TenantId};
use crate::retrieve::catalog::SharedTenant;
use crate::retrieve::Query;

/// Long enough that only a write blocked for good misses it.
const PATIENCE: Duration = Duration::from_secs(60);

fn item(tenant: &str, id: &str, text: &str) -> IngestItem {
    IngestItem::new(Claim::new(tenant, id, text))
}

/// A store holding `claims` (tenant, id, text), with the detection stage caught up (its records
/// write to their tenants too).
fn store_with(dir: &std::path::Path, claims: &[(&str, &str, &str)]) -> Store {
    let store = Store::builder(dir).open().unwrap();
    for (tenant, id, text) in claims {
        store.ingest(item(tenant, id, text)).unwrap();
    }
    assert!(store.wait_for_detection());
    store
}

fn tenant(store: &Store, id: &str) -> SharedTenant {
    store
        .shared
        .read_state()
        .catalog
        .shared_tenant(&TenantId::new(id))
        .unwrap()
}

/// Ingests `write` on another thread, then queries its tenant for `text`: whether the write
/// succeeded and the claim ids found, sorted.
fn write_then_query<'s>(
    s: &'s Scope<'s, '_>,
    store: &'s Store,
    write: IngestItem,
    text: &'static str,
) -> Receiver<(bool, Vec<String>)> {
    let (tx, rx) = mpsc::channel();
    s.spawn(move || {
        let tenant = write.claim.tenant_id.clone();
        let written = store.ingest(write).is_ok();
        let mut found: Vec<String> = store
            .retrieve(&Query::new(tenant.as_str()).text(text))
            .unwrap()
            .results
            .into_iter()
            .map(|r| r.claim_id.as_str().to_owned())
            .collect();
        found.sort();
        let _ = tx.send((written, found));
    });
    rx
}

#[test]
fn a_write_to_another_tenant_goes_on_while_a_query_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(
        dir.path(),
        &[
            ("a", "a1", "the reef is bleaching"),
            ("b", "b1", "glaciers retreat"),
        ],
    );
    let cell = tenant(&store, "a");
    // A query of tenant `a` in progress: it holds `a`'s read lock.
    let reading = cell.read();
    std::thread::scope(|s| {
        let done = write_then_query(
            s,
            &store,
            item("b", "b2", "glaciers retreat faster"),
            "glaciers",
        );
        let answer = done.recv_timeout(PATIENCE);
        assert_eq!(reading.docs.len(), 1, "tenant a's indexes did not change");
        drop(reading);
        let (written, found) = answer.expect("a write to tenant b waited for a query of tenant a");
        assert!(written);
        assert_eq!(found, ["b1", "b2"]);
    });
}

#[test]
fn a_write_to_the_queried_tenant_waits_for_the_query_and_is_then_visible() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &[("a", "a1", "the reef is bleaching")]);
    let cell = tenant(&store, "a");
    let reading = cell.read();
    std::thread::scope(|s| {
        let done = write_then_query(s, &store, item("a", "a2", "the reef recovers"), "reef");
        // The query sees the tenant as it was while it runs.
        assert_eq!(reading.docs.len(), 1);
        drop(reading);
        let (written, found) = done
            .recv_timeout(PATIENCE)
            .expect("the write did not finish after the query ended");
        assert!(written);
        assert_eq!(found, ["a1", "a2"]);
    });
}
