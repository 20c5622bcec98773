//! The change feed (`Store::subscribe`): history then live events in cursor order, resumption
//! after a cursor across a restart with nothing lost or repeated, history that a checkpoint
//! removed reported as lost, forgotten text never replayed, tenant isolation, batches, a slow
//! subscriber cut and resumed, and the end of the feed when the store closes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use dash::feed::{Change, ChangeEvent, Cursor, FeedError, FeedStart, Subscription};
use dash::{Claim, IngestItem, Lsn, Store, StoreBuilder, TenantId};

const WAIT: Duration = Duration::from_secs(10);

fn t(s: &str) -> TenantId {
    TenantId::new(s)
}

fn item(tenant: &str, id: &str, text: &str) -> IngestItem {
    IngestItem::new(Claim::new(tenant, id, text))
}

/// A store without detection, so the feed holds exactly the writes of the test.
fn builder(dir: &std::path::Path) -> StoreBuilder {
    Store::builder(dir).detection(dash::detect::DetectionConfig::disabled())
}

/// Every event already there (stops at the first wait that brings none).
fn drain(sub: &mut Subscription) -> Vec<ChangeEvent> {
    let mut out = Vec::new();
    while let Some(e) = sub.next_timeout(Duration::from_millis(200)).unwrap() {
        out.push(e);
    }
    out
}

fn claim_ids(events: &[ChangeEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.change {
            Change::ClaimVersion { claim_id, .. } | Change::Forgotten { claim_id, .. } => {
                claim_id.as_str().to_owned()
            }
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn resuming_after_a_cursor_across_a_restart_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let seen;
    {
        let store = builder(dir.path()).open().unwrap();
        for i in 0..5 {
            store
                .ingest(item("t", &format!("c{i}"), &format!("claim {i}")))
                .unwrap();
        }
        let mut sub = store.subscribe(&t("t"), FeedStart::Oldest).unwrap();
        let first: Vec<ChangeEvent> = (0..3)
            .map(|_| sub.next_timeout(WAIT).unwrap().unwrap())
            .collect();
        assert_eq!(claim_ids(&first), ["c0", "c1", "c2"]);
        seen = sub.cursor().unwrap();
        assert_eq!(seen, first[2].cursor);
        store.close().unwrap();
    }
    let store = builder(dir.path()).open().unwrap();
    store.ingest(item("t", "c5", "claim 5")).unwrap();
    store.checkpoint().unwrap();
    store.ingest(item("t", "c6", "claim 6")).unwrap();
    let mut sub = store.subscribe(&t("t"), FeedStart::After(seen)).unwrap();
    let rest = drain(&mut sub);
    assert_eq!(claim_ids(&rest), ["c3", "c4", "c5", "c6"]);
    let lsns: Vec<Lsn> = rest.iter().map(|e| e.lsn).collect();
    assert!(lsns.windows(2).all(|w| w[0] < w[1]), "{lsns:?}");
    assert!(rest[0].cursor > seen);
    // Live events follow the history in the same subscription.
    store.ingest(item("t", "c7", "claim 7")).unwrap();
    let live = sub.next_timeout(WAIT).unwrap().unwrap();
    assert_eq!(claim_ids(&[live]), ["c7"]);
    // From now on: only what comes next.
    let mut now = store.subscribe(&t("t"), FeedStart::Now).unwrap();
    assert!(now
        .next_timeout(Duration::from_millis(100))
        .unwrap()
        .is_none());
    store.ingest(item("t", "c8", "claim 8")).unwrap();
    assert_eq!(claim_ids(&drain(&mut now)), ["c8"]);
}

#[test]
fn history_a_checkpoint_removed_is_reported_lost_and_retention_keeps_it() {
    for (retain, lost) in [(0, true), (64 << 20, false)] {
        let dir = tempfile::tempdir().unwrap();
        let store = builder(dir.path())
            .feed_retention_bytes(retain)
            .open()
            .unwrap();
        store.ingest(item("t", "a", "first")).unwrap();
        store.checkpoint().unwrap();
        store.ingest(item("t", "b", "second")).unwrap();
        store.checkpoint().unwrap();
        let result = store.subscribe(&t("t"), FeedStart::AtLsn(Lsn(1)));
        if lost {
            match result {
                Err(FeedError::HistoryLost { requested, oldest }) => {
                    assert_eq!(requested, 1);
                    assert!(oldest > 1);
                }
                other => panic!("expected HistoryLost, got {:?}", other.map(|_| ())),
            }
            // The oldest held start finds neither: both left with their WAL files.
            let mut sub = store.subscribe(&t("t"), FeedStart::Oldest).unwrap();
            assert!(drain(&mut sub).is_empty());
        } else {
            assert_eq!(claim_ids(&drain(&mut result.unwrap())), ["a", "b"]);
        }
        drop(store);
        // Retention holds across a restart too.
        let store = builder(dir.path())
            .feed_retention_bytes(retain)
            .open()
            .unwrap();
        let reopened = store.subscribe(&t("t"), FeedStart::AtLsn(Lsn(1)));
        assert_eq!(reopened.is_err(), lost);
    }
}

#[test]
fn forgotten_text_is_never_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let store = builder(dir.path()).open().unwrap();
    store
        .ingest(item("t", "secret", "The code word is marmalade"))
        .unwrap();
    store.ingest(item("t", "kept", "The sky is blue")).unwrap();
    store.forget(&t("t"), &"secret".into()).unwrap();
    let mut sub = store.subscribe(&t("t"), FeedStart::Oldest).unwrap();
    let events = drain(&mut sub);
    assert_eq!(claim_ids(&events), ["secret", "kept", "secret"]);
    let json = serde_json::to_string(&events).unwrap();
    assert!(!json.contains("marmalade"), "{json}");
    assert!(json.contains("The sky is blue"));
    match &events[0].change {
        Change::ClaimVersion { redacted, item, .. } => assert!(*redacted && item.is_none()),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        events[2].change,
        Change::Forgotten { version: 2, .. }
    ));
    assert!(json.contains(r#""type":"forgotten""#), "{json}");
}

#[test]
fn a_tenant_sees_only_its_own_changes_and_a_batch_numbers_its_items() {
    let dir = tempfile::tempdir().unwrap();
    let store = builder(dir.path()).open().unwrap();
    let mut a = store.subscribe(&t("a"), FeedStart::Now).unwrap();
    store.ingest(item("b", "other", "not yours")).unwrap();
    store
        .ingest_batch(
            "batch-1",
            vec![
                item("a", "x", "one"),
                item("a", "y", "two"),
                item("a", "z", "three"),
            ],
        )
        .unwrap();
    let events = drain(&mut a);
    assert_eq!(claim_ids(&events), ["x", "y", "z"]);
    let cursors: Vec<Cursor> = events.iter().map(|e| e.cursor).collect();
    assert!(cursors.iter().all(|c| c.lsn == cursors[0].lsn));
    assert_eq!(cursors.iter().map(|c| c.seq).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(
        cursors[1].to_string().parse::<Cursor>().unwrap(),
        cursors[1]
    );
    assert!(
        matches!(&events[0].change, Change::ClaimVersion { commit_id: Some(c), .. } if c == "batch-1")
    );
    // Resuming in the middle of a batch gives the rest of it.
    let mut mid = store
        .subscribe(&t("a"), FeedStart::After(cursors[0]))
        .unwrap();
    assert_eq!(claim_ids(&drain(&mut mid)), ["y", "z"]);
    assert!(matches!(
        store.subscribe(&t(""), FeedStart::Now),
        Err(FeedError::InvalidTenant(_))
    ));
    assert!("12".parse::<Cursor>().is_err());
}

#[test]
fn a_slow_subscriber_is_cut_and_resumes_from_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = builder(dir.path()).open().unwrap();
    let mut slow = store.subscribe(&t("t"), FeedStart::Now).unwrap();
    let total = dash::feed::LIVE_QUEUE_CAPACITY + 500;
    for chunk in 0..total.div_ceil(1000) {
        let items = (chunk * 1000..((chunk + 1) * 1000).min(total))
            .map(|i| item("t", &format!("c{i}"), "text"))
            .collect();
        store.ingest_batch(format!("b{chunk}"), items).unwrap();
    }
    let mut got = 0;
    let resume = loop {
        match slow.next_timeout(WAIT) {
            Ok(Some(_)) => got += 1,
            Ok(None) => panic!("the slow subscriber was not cut after {got} events"),
            Err(FeedError::Lagged { resume_after }) => break resume_after,
            Err(e) => panic!("{e}"),
        }
    };
    assert!(got < total);
    let cursor: Cursor = resume.parse().unwrap();
    let mut again = store.subscribe(&t("t"), FeedStart::After(cursor)).unwrap();
    let rest = drain(&mut again);
    assert_eq!(got + rest.len(), total);
}

#[test]
fn the_feed_ends_when_the_store_closes() {
    let dir = tempfile::tempdir().unwrap();
    let store = builder(dir.path()).open().unwrap();
    let mut sub = store.subscribe(&t("t"), FeedStart::Now).unwrap();
    store.ingest(item("t", "a", "last words")).unwrap();
    store.close().unwrap();
    assert!(sub.next_timeout(WAIT).unwrap().is_some());
    assert!(matches!(sub.next_timeout(WAIT), Err(FeedError::Closed)));
}

#[test]
fn batched_durability_shows_a_change_only_once_it_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = builder(dir.path())
        .durability(dash::Durability::Batched {
            max_records: 100_000,
            max_delay: Duration::from_secs(600),
        })
        // A window this wide is refused unless asked for: it keeps the sync under the test's
        // control however slow the machine.
        .allow_unsafe_durability(true)
        .open()
        .unwrap();
    let mut sub = store.subscribe(&t("t"), FeedStart::Now).unwrap();
    store
        .ingest(item("t", "a", "acknowledged, not yet synced"))
        .unwrap();
    // Not synced yet: a crash could lose it (and give its LSN to another record).
    assert!(sub
        .next_timeout(Duration::from_millis(50))
        .unwrap()
        .is_none());
    store.flush().unwrap();
    let event = sub
        .next_timeout(WAIT)
        .unwrap()
        .expect("published by the sync");
    assert_eq!(claim_ids(&[event]), ["a"]);
}

#[test]
fn a_detected_contradiction_is_shown_without_a_later_write() {
    // Under strict durability a derived record alone is not synced — unless the feed is to show
    // it; it must not wait for the next ingest to make it durable.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let mut sub = store.subscribe(&t("t"), FeedStart::Now).unwrap();
    store
        .ingest(item("t", "a", "The museum opened in 1901"))
        .unwrap();
    store
        .ingest(item("t", "b", "The museum did not open in 1901"))
        .unwrap();
    assert!(store.wait_for_detection());
    let mut kinds = Vec::new();
    while let Some(e) = sub.next_timeout(Duration::from_secs(2)).unwrap() {
        kinds.push(match e.change {
            Change::ClaimVersion { .. } => "version",
            Change::EdgeDetected { .. } => "edge",
            _ => "other",
        });
    }
    assert_eq!(kinds, ["version", "version", "edge"]);
}
