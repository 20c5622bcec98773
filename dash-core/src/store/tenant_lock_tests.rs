//! A query holds its tenant's indexes, not the store: writes to other tenants go on beside it;
//! writes to its tenant do not wait for it either (they wait in the tenant's inbox), and are
//! visible to every read that starts once `ingest` returns.

use std::sync::mpsc::{self, Receiver};
use std::thread::Scope;
use std::time::Duration;

use super::Store;
use crate::model::{Claim, IngestItem, TenantId};
use crate::retrieve::catalog::SharedTenant;
use crate::retrieve::{read_tenant, Query};

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
    let reading = read_tenant(&cell);
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
fn a_write_to_the_queried_tenant_does_not_wait_for_the_query_and_is_then_visible() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &[("a", "a1", "the reef is bleaching")]);
    let cell = tenant(&store, "a");
    let reading = read_tenant(&cell);
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        let store = &store;
        s.spawn(move || {
            let written = store.ingest(item("a", "a2", "the reef recovers")).is_ok();
            let _ = tx.send(written);
        });
        let written = rx
            .recv_timeout(PATIENCE)
            .expect("the write waited for the query of its tenant");
        assert!(written);
        // The query sees the tenant as it was while it runs; the change waits in the inbox.
        assert_eq!(reading.docs.len(), 1);
        assert_eq!(cell.inbox_stats().waiting, 1);
        drop(reading);
    });
    // The next read applies the inbox first.
    let found: Vec<String> = store
        .retrieve(&Query::new("a").text("reef"))
        .unwrap()
        .results
        .into_iter()
        .map(|r| r.claim_id.as_str().to_owned())
        .collect();
    assert_eq!(found.len(), 2, "{found:?}");
    let stats = store.stats();
    assert_eq!(stats.tenant_changes_waiting, 0);
    assert!(stats.tenant_changes_deferred >= 1);
}

/// One result as [`answers`] compares it: claim id, version, score, conflicts, evidence.
type Answer = (String, u32, String, usize, usize);

/// What a store answers about tenant `a`: for each query text, the claim ids, versions and
/// scores, conflicts and evidence counts, in rank order.
fn answers(store: &Store) -> Vec<Vec<Answer>> {
    ["reef", "bleaching", "coral reef recovers", "glaciers"]
        .iter()
        .map(|text| {
            store
                .retrieve(&Query::new("a").text(*text))
                .unwrap()
                .results
                .into_iter()
                .map(|r| {
                    (
                        r.claim_id.as_str().to_owned(),
                        r.version,
                        format!("{:.5}", r.score),
                        r.conflicts.len(),
                        r.supporting_evidence.len() + r.contradicting_evidence.len(),
                    )
                })
                .collect()
        })
        .collect()
}

#[test]
fn changes_applied_from_the_inbox_answer_as_changes_applied_at_once() {
    let seed = [
        ("a", "a1", "the reef is bleaching"),
        ("a", "a3", "glaciers retreat in the alps"),
    ];
    // The same writes to two stores: in one, a query of tenant `a` holds it throughout, so
    // every change (commits, a new version, a forget, a checkpoint's relocation, the detection
    // stage's derived record) goes through the inbox.
    let run = |hold: bool| {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &seed);
        let cell = tenant(&store, "a");
        let reading = hold.then(|| read_tenant(&cell));
        store
            .ingest(item("a", "a2", "the coral reef recovers"))
            .unwrap();
        store
            .ingest(item("a", "a1", "the reef is not bleaching"))
            .unwrap();
        store.forget(&TenantId::new("a"), &"a3".into()).unwrap();
        store.checkpoint().unwrap();
        if let Some(reading) = &reading {
            assert_eq!(reading.docs.len(), 2, "the held query saw a change");
            assert!(cell.inbox_stats().waiting >= 4);
        }
        drop(reading);
        assert!(store.wait_for_detection());
        let got = (
            answers(&store),
            store.get_claim(&TenantId::new("a"), &"a1".into()),
        );
        (got.0, got.1.unwrap().map(|c| c.version))
    };
    let direct = run(false);
    let deferred = run(true);
    assert_eq!(deferred, direct);
    assert_eq!(direct.1, Some(2));
    assert!(direct.0[3].is_empty(), "a3 is forgotten: {:?}", direct.0);
}

#[test]
fn every_acknowledged_write_is_visible_to_the_next_query_while_others_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &[("a", "seed", "the reef is bleaching")]);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        // Two readers keep tenant `a` read almost all the time, so most changes take the inbox.
        for _ in 0..2 {
            s.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    store.retrieve(&Query::new("a").text("reef")).unwrap();
                }
            });
        }
        for k in 0..150 {
            let text = format!("marker{k} the reef");
            store.ingest(item("a", &format!("c{k}"), &text)).unwrap();
            let found = store
                .retrieve(&Query::new("a").text(format!("marker{k}")))
                .unwrap();
            assert!(
                found
                    .results
                    .iter()
                    .any(|r| r.claim_id.as_str() == format!("c{k}")),
                "claim c{k} acknowledged but not found"
            );
            if k % 50 == 49 {
                store.checkpoint().unwrap();
            }
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert!(store.wait_for_detection());
    assert_eq!(store.stats().claims, 151);
}
