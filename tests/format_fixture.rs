//! Format compatibility: a store written by format version 1 (checked in under
//! `tests/fixtures/store-v1/`: a manifest, a segment and a WAL tail) must open and read back
//! exactly, so a format change that breaks old stores fails here.
//!
//! Regenerate only when a new format version is introduced (keeping the old fixture):
//! `cargo test --test format_fixture -- --ignored write_fixture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::copy_dir;
use std::path::{Path, PathBuf};

use dash::{
    Claim, ClaimId, CommitStatus, Evidence, IngestItem, Stance, Store, TenantId, Timestamp,
};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1")
}

fn item(id: &str, text: &str) -> IngestItem {
    let mut claim = Claim::new("fx", id, text);
    claim.confidence = 0.5;
    claim.valid_from = Timestamp::from_year(1999);
    claim.entities = vec!["entity".into()];
    claim.embedding = Some(vec![0.25, -0.5, 1.0]);
    let mut ev = Evidence::new(format!("{id}-e"), id, "src", Stance::Contradicts);
    ev.span_start = Some(1);
    ev.span_end = Some(4);
    IngestItem::new(claim).with_evidence(ev)
}

fn batch() -> Vec<IngestItem> {
    vec![item("c3", "third"), item("c4", "fourth")]
}

#[test]
#[ignore = "writes the checked-in fixture; run by hand for a new format version"]
fn write_fixture() {
    let dir = fixture_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::builder(&dir).auto_checkpoint(false).open().unwrap();
    store.ingest(item("c1", "first, v1")).unwrap();
    store.ingest(item("c1", "first, v2")).unwrap();
    store.ingest(item("c2", "forgotten")).unwrap();
    store.forget(&"fx".into(), &"c2".into()).unwrap();
    store.ingest_batch("fx-batch-1", batch()).unwrap();
    store.checkpoint().unwrap();
    store.ingest(item("c5", "only in the WAL")).unwrap();
    store.close().unwrap();
    let _ = std::fs::remove_file(dir.join("LOCK"));
}

#[test]
fn version_1_store_opens_and_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(), tmp.path());
    let store = Store::builder(tmp.path()).open().unwrap();
    let report = store.recovery_report();
    assert_eq!(report.segments_loaded, 1);
    assert_eq!(report.records_replayed, 1);
    assert!(report.truncations.is_empty());

    let t = TenantId::new("fx");
    let c1 = store.get_claim(&t, &ClaimId::new("c1")).unwrap().unwrap();
    assert_eq!(c1.item.as_ref(), &item("c1", "first, v2"));
    assert_eq!(c1.version, 2);
    assert_eq!(c1.history.len(), 2);
    assert!(store.get_claim(&t, &ClaimId::new("c2")).unwrap().is_none());
    assert_eq!(store.versions(&t, &ClaimId::new("c2")).unwrap().len(), 2);
    let c5 = store.get_claim(&t, &ClaimId::new("c5")).unwrap().unwrap();
    assert_eq!(c5.item.as_ref(), &item("c5", "only in the WAL"));
    assert_eq!(store.stats().claims, 4);
    assert_eq!(store.stats().embedding_dimension, Some(3));
    // The commit table survived too.
    let replay = store.ingest_batch("fx-batch-1", batch()).unwrap();
    assert_eq!(replay.status, CommitStatus::Replayed);
    // And the store keeps going from where the fixture left it.
    let next = store.ingest(item("c1", "first, v3")).unwrap();
    assert_eq!(next.version, 3);
    assert!(next.lsn > c5.lsn);
    assert!(next.recorded_at > c5.recorded_at);
}
