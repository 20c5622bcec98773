//! The `Store` API end to end on a real directory: versions, forget, batches, reopen,
//! checkpoint, merge, tenant isolation and validation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dash::{
    Claim, ClaimId, CommitStatus, Durability, Edge, Evidence, IngestItem, Relation, Retention,
    Stance, Store, TenantId, ValidationError, WriteError,
};

fn item(tenant: &str, id: &str, text: &str) -> IngestItem {
    let mut ev = Evidence::new(format!("{id}-e1"), id, "source-1", Stance::Supports);
    ev.chunk_id = Some("chunk-1".into());
    ev.span_start = Some(0);
    ev.span_end = Some(text.len() as u64);
    IngestItem::new(Claim::new(tenant, id, text)).with_evidence(ev)
}

fn t(s: &str) -> TenantId {
    TenantId::new(s)
}
fn c(s: &str) -> ClaimId {
    ClaimId::new(s)
}

#[test]
fn versions_history_and_forget() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let r1 = store.ingest(item("a", "c1", "first")).unwrap();
    let r2 = store.ingest(item("a", "c1", "second")).unwrap();
    assert_eq!((r1.version, r2.version), (1, 2));
    assert!(r2.lsn > r1.lsn);
    assert!(r2.recorded_at > r1.recorded_at);

    let rec = store.get_claim(&t("a"), &c("c1")).unwrap().unwrap();
    assert_eq!(rec.item.claim.canonical_text, "second");
    assert_eq!(rec.history.len(), 2);
    assert_eq!(store.stats().claims, 1);

    let f = store.forget(&t("a"), &c("c1")).unwrap();
    assert_eq!(f.version, 3);
    assert!(store.get_claim(&t("a"), &c("c1")).unwrap().is_none());
    assert_eq!(store.versions(&t("a"), &c("c1")).unwrap().len(), 3);
    assert_eq!(store.stats().claims, 0);
    assert!(matches!(
        store.forget(&t("a"), &c("c1")),
        Err(WriteError::NotFound { .. })
    ));
    // Re-ingest after forget resurrects as a new version.
    assert_eq!(store.ingest(item("a", "c1", "third")).unwrap().version, 4);
}

#[test]
fn batch_is_idempotent_and_conflicts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let items = vec![item("a", "x", "one"), item("a", "y", "two")];
    let first = store.ingest_batch("b1", items.clone()).unwrap();
    assert_eq!(first.status, CommitStatus::Committed);
    let again = store.ingest_batch("b1", items.clone()).unwrap();
    assert_eq!(again.status, CommitStatus::Replayed);
    assert_eq!(again.lsn, first.lsn);
    assert_eq!(again.items, first.items);
    assert!(matches!(
        store.ingest_batch("b1", vec![item("a", "x", "other")]),
        Err(WriteError::CommitConflict { .. })
    ));
    // Still remembered after a checkpoint and a reopen.
    store.checkpoint().unwrap();
    drop(store);
    let store = Store::builder(dir.path()).open().unwrap();
    assert_eq!(
        store.ingest_batch("b1", items).unwrap().status,
        CommitStatus::Replayed
    );
    assert!(matches!(
        store.ingest_batch("b1", vec![item("a", "x", "other")]),
        Err(WriteError::CommitConflict { .. })
    ));
    // The same commit id in another tenant is another commit.
    assert_eq!(
        store
            .ingest_batch("b1", vec![item("b", "x", "one")])
            .unwrap()
            .status,
        CommitStatus::Committed
    );
}

#[test]
fn invalid_batch_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let mut bad = item("a", "y", "two");
    bad.evidence[0].span_start = Some(5);
    bad.evidence[0].span_end = Some(1);
    let err = store
        .ingest_batch("b", vec![item("a", "x", "one"), bad])
        .unwrap_err();
    assert!(matches!(
        err,
        WriteError::Invalid {
            index: 1,
            source: ValidationError::SpanReversed { .. }
        }
    ));
    assert!(store.get_claim(&t("a"), &c("x")).unwrap().is_none());
    assert_eq!(store.stats().last_lsn.0, 0);
    let mixed = store.ingest_batch("m", vec![item("a", "x", "one"), item("b", "y", "two")]);
    assert!(matches!(
        mixed,
        Err(WriteError::Invalid {
            index: 1,
            source: ValidationError::MixedTenants { .. }
        })
    ));
}

#[test]
fn embedding_dimension_is_fixed_per_tenant_and_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let with_embedding = |tenant: &str, id: &str, e: Vec<f32>| {
        let mut i = item(tenant, id, "text");
        i.claim.embedding = Some(e);
        i
    };
    store
        .ingest(with_embedding("a", "x", vec![0.1, 0.2, 0.3]))
        .unwrap();
    let wrong = store.ingest(with_embedding("a", "y", vec![0.1, 0.2]));
    assert!(matches!(
        wrong,
        Err(WriteError::Invalid {
            source: ValidationError::EmbeddingDimension {
                expected: 3,
                found: 2
            },
            ..
        })
    ));
    // Another tenant is not bound by tenant a's first embedding.
    store
        .ingest(with_embedding("b", "x", vec![0.1, 0.2]))
        .unwrap();
    let query = |tenant: &str, e: Vec<f32>| {
        store.retrieve(&dash::Query::new(tenant).text("text").embedding(e))
    };
    assert!(query("a", vec![1.0, 0.0, 0.0]).is_ok());
    assert!(query("b", vec![1.0, 0.0]).is_ok());
    assert!(query("b", vec![1.0, 0.0, 0.0]).is_err());
    assert_eq!(store.stats().embedding_dimension, None);
    let dims = |store: &Store| ["a", "b", "c"].map(|tenant| store.embedding_dimension(&t(tenant)));
    assert_eq!(dims(&store), [Some(3), Some(2), None]);
    drop(store);

    // Replayed from the WAL, then from a checkpoint's manifest.
    let store = Store::builder(dir.path()).open().unwrap();
    assert_eq!(dims(&store), [Some(3), Some(2), None]);
    store.checkpoint().unwrap();
    drop(store);
    let store = Store::builder(dir.path()).open().unwrap();
    assert_eq!(dims(&store), [Some(3), Some(2), None]);
    assert!(store
        .ingest(with_embedding("b", "z", vec![0.1, 0.2, 0.3]))
        .is_err());
    drop(store);

    // A store-wide dimension must agree with every tenant's.
    let reopened = Store::builder(dir.path()).embedding_dimension(3).open();
    assert!(matches!(reopened, Err(dash::OpenError::Config(_))));
    let fresh = tempfile::tempdir().unwrap();
    let store = Store::builder(fresh.path())
        .embedding_dimension(4)
        .open()
        .unwrap();
    assert!(store
        .ingest(with_embedding("a", "x", vec![0.1; 3]))
        .is_err());
    store
        .ingest(with_embedding("a", "x", vec![0.1; 4]))
        .unwrap();
    assert_eq!(store.embedding_dimension(&t("zzz")), Some(4));
    assert_eq!(store.stats().embedding_dimension, Some(4));
}

#[test]
fn tenants_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    store.ingest(item("a", "same", "tenant a's text")).unwrap();
    store.ingest(item("b", "same", "tenant b's text")).unwrap();
    store.forget(&t("b"), &c("same")).unwrap();
    store.checkpoint().unwrap();
    let a = store.get_claim(&t("a"), &c("same")).unwrap().unwrap();
    assert_eq!(a.item.claim.canonical_text, "tenant a's text");
    assert_eq!(a.version, 1);
    assert!(store.get_claim(&t("b"), &c("same")).unwrap().is_none());
    assert!(store.get_claim(&t("c"), &c("same")).unwrap().is_none());
}

#[test]
fn reopen_after_checkpoints_and_merge_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path())
        .max_segments(2)
        .retention(Retention {
            max_versions: Some(2),
            purge_forgotten: true,
        })
        .open()
        .unwrap();
    for round in 0..4 {
        for k in 0..20 {
            let mut i = item("a", &format!("c{k}"), &format!("round {round}"));
            i.edges
                .push(Edge::new(format!("c{k}"), "hub", Relation::Supports));
            store.ingest(i).unwrap();
        }
        store.checkpoint().unwrap();
    }
    store.forget(&t("a"), &c("c0")).unwrap();
    store.checkpoint().unwrap();
    let report = store.compact().unwrap();
    assert_eq!(report.segments, 1);
    let stats = store.stats();
    assert_eq!(stats.segments, 1);
    assert_eq!(stats.claims, 19);
    drop(store);

    let store = Store::builder(dir.path()).open().unwrap();
    assert_eq!(store.stats().claims, 19);
    assert!(store.get_claim(&t("a"), &c("c0")).unwrap().is_none());
    assert!(
        store.versions(&t("a"), &c("c0")).unwrap().is_empty(),
        "purged"
    );
    let rec = store.get_claim(&t("a"), &c("c7")).unwrap().unwrap();
    assert_eq!(rec.item.claim.canonical_text, "round 3");
    assert_eq!(rec.version, 4);
    assert_eq!(rec.history.len(), 2, "retention keeps the newest two");
    assert_eq!(rec.item.edges.len(), 1);
}

#[test]
fn batched_mode_acknowledges_and_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path())
        .durability(Durability::Batched {
            max_records: 100,
            max_delay: std::time::Duration::from_millis(5),
        })
        .open()
        .unwrap();
    for k in 0..250 {
        store.ingest(item("a", &format!("c{k}"), "text")).unwrap();
    }
    store.flush().unwrap();
    store.close().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    assert_eq!(store.stats().claims, 250);
}

#[test]
fn unsafe_batched_window_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let window = Durability::Batched {
        max_records: 1_000_000,
        max_delay: std::time::Duration::from_secs(60),
    };
    assert!(matches!(
        Store::builder(dir.path()).durability(window).open(),
        Err(dash::OpenError::Config(
            dash::ConfigError::UnsafeDurability { .. }
        ))
    ));
    assert!(Store::builder(dir.path())
        .durability(window)
        .allow_unsafe_durability(true)
        .open()
        .is_ok());
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _store = Store::builder(dir.path()).open().unwrap();
    assert!(matches!(
        Store::builder(dir.path()).open(),
        Err(dash::OpenError::Locked)
    ));
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

/// A store on `disk` holding claim `before`, then `fault` injected and a write of claim `lost`
/// failed by it (and not acknowledged).
fn failed_write(disk: &dash::MemStorage, fault: impl FnOnce(&dash::MemStorage)) -> Store {
    let store = Store::builder_with_storage(std::sync::Arc::new(disk.clone()))
        .open()
        .unwrap();
    store.ingest(item("a", "before", "durable")).unwrap();
    // The detection stage writes a derived record after each commit: let it land first, or it
    // could meet the fault and poison the store before our write does.
    assert!(store.wait_for_detection());
    fault(disk);
    let r = store.ingest(item("a", "lost", "never acknowledged"));
    assert!(matches!(r, Err(WriteError::Io(_))), "{r:?}");
    store
}

#[test]
fn a_failed_append_poisons_the_store_with_its_own_cause() {
    let disk = dash::MemStorage::new();
    let store = failed_write(&disk, dash::MemStorage::power_off);
    assert!(matches!(
        store.stats().poisoned,
        Some(dash::PoisonCause::WalAppend { .. })
    ));
    assert!(store.get_claim(&t("a"), &c("before")).unwrap().is_some());
}

#[test]
fn a_failed_fsync_poisons_the_store() {
    let disk = dash::MemStorage::new();
    let store = failed_write(&disk, |d| d.cut_power_at_sync(Some(d.sync_count() + 1)));
    // The cause is typed: the sync failed, not the append.
    assert!(matches!(
        store.ingest(item("a", "after", "refused")),
        Err(WriteError::Poisoned {
            cause: dash::PoisonCause::WalSync { .. }
        })
    ));
    let cause = store.stats().poisoned.expect("poisoned");
    assert!(cause.io_kind().is_some(), "{cause:?}");
    // Reads keep serving what was acknowledged.
    assert!(store.get_claim(&t("a"), &c("before")).unwrap().is_some());
    assert!(store.get_claim(&t("a"), &c("lost")).unwrap().is_none());
    drop(store);
    disk.crash();
    let store = Store::builder_with_storage(std::sync::Arc::new(disk))
        .open()
        .unwrap();
    assert!(store.get_claim(&t("a"), &c("before")).unwrap().is_some());
    assert!(store.get_claim(&t("a"), &c("after")).unwrap().is_none());
}

#[test]
fn automatic_checkpoints_run_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path())
        .checkpoint_wal_records(50)
        .open()
        .unwrap();
    for k in 0..200 {
        store.ingest(item("a", &format!("c{k}"), "text")).unwrap();
    }
    // Wait for the background thread (bounded: it is an event, not a timing assertion).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while store.stats().checkpoints == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Once the writer's requests are served, none is pending.
    while store.stats().checkpoint_pending && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let stats = store.stats();
    assert!(stats.checkpoints >= 1, "{stats:?}");
    assert!(!stats.checkpoint_pending, "{stats:?}");
    assert!(stats.checkpoint_lsn.0 >= 50);
    assert!(stats.segments >= 1);
    assert_eq!(stats.last_checkpoint_error, None);
    drop(store);
    let store = Store::builder(dir.path()).open().unwrap();
    assert_eq!(store.stats().claims, 200);
    // Without automatic checkpoints the writer asks for none, however long the WAL.
    drop(store);
    let store = Store::builder(dir.path())
        .checkpoint_wal_records(50)
        .auto_checkpoint(false)
        .open()
        .unwrap();
    for k in 200..400 {
        store.ingest(item("a", &format!("c{k}"), "text")).unwrap();
    }
    let stats = store.stats();
    assert!(!stats.checkpoint_pending, "{stats:?}");
    assert_eq!(stats.checkpoints, 0);
}

/// Regression: a merge purged a re-ingested claim's history only when no checkpoint ran between
/// the re-ingest and the merge. Now both orders keep exactly the new life.
#[test]
fn merge_purges_forgotten_history_whatever_the_memtable_holds() {
    for checkpoint_first in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::builder(dir.path())
            .auto_checkpoint(false)
            .open()
            .unwrap();
        store.ingest(item("b", "c1", "old life")).unwrap();
        store.forget(&t("b"), &c("c1")).unwrap();
        store.checkpoint().unwrap();
        store.ingest(item("b", "c1", "new life")).unwrap();
        if checkpoint_first {
            store.checkpoint().unwrap();
        }
        store.compact().unwrap();
        let versions = store.versions(&t("b"), &c("c1")).unwrap();
        let numbers: Vec<u32> = versions.iter().map(|v| v.version).collect();
        assert_eq!(numbers, vec![3], "checkpoint_first = {checkpoint_first}");
        let rec = store.get_claim(&t("b"), &c("c1")).unwrap().unwrap();
        assert_eq!(rec.item.claim.canonical_text, "new life");
    }
}

/// The writer's busy time and its wait for the state lock are counted, the wait a part of the
/// busy time, while queries run beside the writes.
#[test]
fn the_writer_counts_its_busy_time_and_its_lock_wait() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let before = store.stats();
    assert_eq!(
        (before.writer_busy_micros, before.writer_lock_wait_micros),
        (0, 0)
    );
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let (store, done) = (&store, &done);
        s.spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                store
                    .retrieve(&dash::Query::new("a").text("claim number"))
                    .unwrap();
            }
        });
        for i in 0..200 {
            store
                .ingest(item("a", &format!("c{i}"), &format!("claim number {i}")))
                .unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let stats = store.stats();
    assert!(stats.writer_busy_micros > 0, "{stats:?}");
    assert!(
        stats.writer_lock_wait_micros <= stats.writer_busy_micros,
        "{stats:?}"
    );
}
