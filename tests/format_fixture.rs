//! Format compatibility: stores written by earlier versions (checked in under `tests/fixtures/`)
//! must open and read back exactly, so a format change that breaks old stores fails here.
//!
//! - `store-v1/`: the first formats (manifest, segment and WAL 1): a manifest, a segment and a
//!   WAL tail.
//! - `store-v2/`: the formats of 2026-12-06 (manifest 3, segment 2, WAL 2, graph files 2,
//!   catalog image 1): the same history plus vectors sealed into a graph file, a detected
//!   contradiction in the segment's derived section, and the catalog image of a clean close.
//!
//! Each is written once, by the version whose formats it holds, and never regenerated: a new
//! format version adds a fixture (`write_fixture_v2` shows how one is written).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::copy_dir;
use std::path::{Path, PathBuf};

use dash::{
    Claim, ClaimId, CommitStatus, Evidence, IngestItem, Query, Ranking, Relation, Stance, Store,
    TenantId, Timestamp,
};

fn fixture_dir() -> PathBuf {
    fixture("store-v1")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
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

/// The structured claims of the v2 fixture: the same subject and predicate, different objects,
/// overlapping validity (a contradiction the detection stage records in the segment).
fn fact(id: &str, object: &str, from: i32, to: i32) -> IngestItem {
    let mut claim = Claim::new("fx", id, format!("Newton D. Baker position held {object}"));
    claim.subject = Some("Newton D. Baker".into());
    claim.predicate = Some("position held".into());
    claim.object = Some(object.into());
    claim.valid_from = Timestamp::from_year(from);
    claim.valid_to = Timestamp::from_year(to);
    claim.embedding = Some(vec![0.5, 0.25, -1.0]);
    IngestItem::new(claim)
}

/// Opens a store as the v2 fixture was written: a graph sealed from 4 vectors, no idle merges.
fn open_v2(dir: &Path) -> Store {
    Store::builder(dir)
        .auto_checkpoint(false)
        .dense_seal_threshold(4)
        .dense_merge_after_idle(None)
        .open()
        .unwrap()
}

#[test]
#[ignore = "wrote the checked-in v2 fixture with the formats of 2026-12-06; kept to show how"]
fn write_fixture_v2() {
    let dir = fixture("store-v2");
    let _ = std::fs::remove_dir_all(&dir);
    let store = open_v2(&dir);
    store.ingest(item("c1", "first, v1")).unwrap();
    store.ingest(item("c1", "first, v2")).unwrap();
    store.ingest(item("c2", "forgotten")).unwrap();
    store.forget(&"fx".into(), &"c2".into()).unwrap();
    store.ingest_batch("fx-batch-1", batch()).unwrap();
    store
        .ingest(fact("a", "Secretary of War", 1916, 1921))
        .unwrap();
    store
        .ingest(fact("b", "Mayor of Cleveland", 1912, 1917))
        .unwrap();
    assert!(store.wait_for_detection());
    store.wait_for_indexes();
    store.checkpoint().unwrap();
    store.ingest(item("c5", "only in the WAL")).unwrap();
    assert!(store.wait_for_detection());
    store.wait_for_indexes();
    let stats = store.stats();
    assert_eq!(stats.dense_graphs, 1, "{stats:?}");
    assert_eq!(stats.detected_edges, 1, "{stats:?}");
    store.close().unwrap();
    let _ = std::fs::remove_file(dir.join("LOCK"));
}

#[test]
fn version_2_store_opens_from_its_image_and_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture("store-v2"), tmp.path());
    let store = open_v2(tmp.path());
    let report = store.recovery_report();
    assert_eq!(report.segments_loaded, 1);
    // c5 and the detection stage's record of it.
    assert_eq!(report.records_replayed, 2);
    assert!(report.truncations.is_empty());
    store.wait_for_indexes();
    let stats = store.stats();
    // The catalog image and the graph file of the fixture's close were used, not rebuilt.
    assert!(stats.catalog_image_loaded, "{stats:?}");
    assert_eq!(stats.graphs_loaded, 1, "{stats:?}");
    assert_eq!(stats.graphs_discarded, 0, "{stats:?}");
    assert_eq!(stats.claims, 6);

    let t = TenantId::new("fx");
    let c1 = store.get_claim(&t, &ClaimId::new("c1")).unwrap().unwrap();
    assert_eq!(c1.item.as_ref(), &item("c1", "first, v2"));
    assert_eq!(c1.history.len(), 2);
    assert!(store.get_claim(&t, &ClaimId::new("c2")).unwrap().is_none());
    let c5 = store.get_claim(&t, &ClaimId::new("c5")).unwrap().unwrap();
    assert_eq!(c5.item.as_ref(), &item("c5", "only in the WAL"));

    // The detected contradiction came back from the segment's derived section.
    assert!(store.wait_for_detection());
    let r = store
        .retrieve(
            &Query::new("fx")
                .text("Newton Baker position held")
                .top_k(10),
        )
        .unwrap();
    let a = r
        .results
        .iter()
        .find(|c| c.claim_id.as_str() == "a")
        .unwrap();
    assert_eq!(a.conflicts.len(), 1, "{:?}", a.conflicts);
    assert_eq!(a.conflicts[0].claim_id.as_str(), "b");
    assert_eq!(a.conflicts[0].relation, Relation::Contradicts);
    assert!(a.conflicts[0].detected);

    // Dense search answers from the loaded graph: the nearest vector first.
    let r = store
        .retrieve(
            &Query::new("fx")
                .embedding(vec![0.5, 0.25, -1.0])
                .ranking(Ranking::Relevance)
                .top_k(2),
        )
        .unwrap();
    assert!(
        ["a", "b"].contains(&r.results[0].claim_id.as_str()),
        "{:?}",
        r.results
    );

    let replay = store.ingest_batch("fx-batch-1", batch()).unwrap();
    assert_eq!(replay.status, CommitStatus::Replayed);
    let next = store.ingest(item("c1", "first, v3")).unwrap();
    assert_eq!(next.version, 3);
    assert!(next.lsn > c5.lsn);

    // The next checkpoint writes today's manifest format, and the upgraded store reopens.
    store.checkpoint().unwrap();
    store.close().unwrap();
    let newest = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("MANIFEST-")
        })
        .max()
        .unwrap();
    assert!(
        newest.ends_with("MANIFEST-00000000000000000002"),
        "{newest:?}"
    );
    let manifest = std::fs::read(&newest).unwrap();
    assert_ne!(&manifest[8..10], &3u16.to_le_bytes(), "still format 3");
    let store = open_v2(tmp.path());
    let c1 = store.get_claim(&t, &ClaimId::new("c1")).unwrap().unwrap();
    assert_eq!(c1.item.as_ref(), &item("c1", "first, v3"));
    assert_eq!(store.stats().claims, 6);
}
