//! Damage to any durable file is detected at open and reported as a typed
//! `OpenError::Corruption` naming the damaged file (and, for the WAL, the damaged record's
//! offset) — never skipped silently, never a panic, never a wrong answer:
//! - a flipped byte anywhere in a WAL record that has valid records after it, or in the WAL
//!   header, or at the end of an older WAL file; a WAL file missing from the middle of the log;
//! - a flipped byte anywhere in a segment (header, entries, index, commit table, footer), a
//!   truncated, extended or swapped segment, and a missing segment (`CorruptionKind::Missing`);
//! - a flipped byte anywhere in the manifest, or a truncated manifest.
//!
//! `RecoveryMode::TruncateAtCorruption` instead repairs the log by cutting it at the damage and
//! reports what it dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod common;

use common::{record_spans, FRAME_HEADER_LEN, WAL_HEADER_LEN};
use dash::{
    Claim, ClaimId, Corruption, CorruptionKind, Evidence, IngestItem, MemStorage, OpenError,
    RecoveryMode, Stance, Storage, Store, TenantId, Truncation,
};

const TENANT: &str = "t";

fn item(id: &str, text: &str) -> IngestItem {
    let mut ev = Evidence::new(format!("{id}-ev"), id, "doc-1", Stance::Contradicts);
    ev.chunk_id = Some("chunk-9".into());
    ev.span_start = Some(3);
    ev.span_end = Some(11);
    IngestItem::new(Claim::new(TENANT, id, text)).with_evidence(ev)
}

fn t() -> TenantId {
    TenantId::new(TENANT)
}

fn c(id: &str) -> ClaimId {
    ClaimId::new(id)
}

/// Detection is off: its derived records would make the WAL's record count depend on timing
/// (they share the commits' framing, so the damage found here applies to them alike).
fn builder(storage: &MemStorage) -> dash::StoreBuilder {
    Store::builder_with_storage(Arc::new(storage.clone()))
        .auto_checkpoint(false)
        .detection(dash::detect::DetectionConfig::disabled())
}

/// Opens, turning a panic into a test failure that says which damage caused it.
fn try_open(storage: &MemStorage, mode: RecoveryMode, context: &str) -> Result<Store, OpenError> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        builder(storage).recovery_mode(mode).open()
    }))
    .unwrap_or_else(|_| panic!("{context}: open panicked instead of reporting corruption"))
}

/// Opens and expects a `Corruption`; returns it.
fn expect_corruption(storage: &MemStorage, mode: RecoveryMode, context: &str) -> Corruption {
    match try_open(storage, mode, context) {
        Err(OpenError::Corruption(c)) => c,
        Err(other) => panic!("{context}: expected Corruption, got {other:?}"),
        Ok(store) => panic!(
            "{context}: damage went unnoticed; open succeeded with report {:?}",
            store.recovery_report()
        ),
    }
}

fn files_under(storage: &MemStorage, dir: &str) -> Vec<PathBuf> {
    storage
        .files()
        .into_iter()
        .filter(|p| p.parent() == Some(Path::new(dir)))
        .collect()
}

fn only_file_under(storage: &MemStorage, dir: &str) -> PathBuf {
    let files = files_under(storage, dir);
    assert_eq!(files.len(), 1, "expected one file under {dir:?}: {files:?}");
    files[0].clone()
}

fn flipped(bytes: &[u8], at: usize, mask: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= mask;
    out
}

/// Five single ingests in one WAL file, no checkpoint.
fn wal_fixture() -> (MemStorage, PathBuf, Vec<u8>) {
    let storage = MemStorage::new();
    let store = builder(&storage).open().unwrap();
    for k in 0..5 {
        store
            .ingest(item(&format!("c{k}"), &format!("text {k}")))
            .unwrap();
    }
    store.close().unwrap();
    let wal = only_file_under(&storage, "wal");
    let bytes = storage.read(&wal).unwrap();
    assert_eq!(record_spans(&bytes).len(), 5);
    (storage, wal, bytes)
}

#[test]
fn a_flipped_byte_in_a_wal_record_before_the_tail_is_corruption_at_that_record() {
    let (storage, wal, good) = wal_fixture();
    let spans = record_spans(&good);
    // Every byte of a record in the middle (frame header and payload), and the first byte of
    // every other non-final record.
    let mut targets: Vec<(usize, usize)> = (spans[2].0..spans[2].1)
        .map(|at| (at, spans[2].0))
        .collect();
    targets.extend(spans[..4].iter().map(|&(start, _)| (start + 5, start)));
    for (at, record_start) in targets {
        for mask in [0x01, 0x80] {
            let context = format!("flip {mask:#04x} at byte {at} of {}", wal.display());
            storage.overwrite(&wal, flipped(&good, at, mask)).unwrap();
            for mode in [
                RecoveryMode::TolerateTornTail,
                RecoveryMode::AbsoluteConsistency,
            ] {
                let corruption =
                    expect_corruption(&storage, mode, &format!("{context} ({mode:?})"));
                assert_eq!(corruption.file, wal, "{context}");
                assert_eq!(corruption.offset, record_start as u64, "{context}");
                assert!(
                    matches!(corruption.kind, CorruptionKind::ChecksumMismatch),
                    "{context}: kind {:?}",
                    corruption.kind
                );
            }
            // A refused open changes nothing on disk.
            assert_eq!(
                storage.read(&wal).unwrap(),
                flipped(&good, at, mask),
                "{context}"
            );
        }
    }
    // Restored, the same store opens with everything in it.
    storage.overwrite(&wal, good).unwrap();
    let store = builder(&storage).open().unwrap();
    assert_eq!(store.stats().claims, 5);
    assert!(store.recovery_report().truncations.is_empty());
}

#[test]
fn a_flipped_byte_in_the_wal_header_is_corruption() {
    let (storage, wal, good) = wal_fixture();
    for at in 0..WAL_HEADER_LEN {
        let context = format!("flip at header byte {at}");
        storage.overwrite(&wal, flipped(&good, at, 0x10)).unwrap();
        let corruption = expect_corruption(&storage, RecoveryMode::TolerateTornTail, &context);
        assert_eq!(corruption.file, wal, "{context}");
        assert_eq!(corruption.offset, 0, "{context}");
        assert!(
            matches!(
                corruption.kind,
                CorruptionKind::BadMagic | CorruptionKind::ChecksumMismatch
            ),
            "{context}: kind {:?}",
            corruption.kind
        );
    }
}

#[test]
fn truncate_at_corruption_mode_cuts_at_the_damage_and_reports_it() {
    let (storage, wal, good) = wal_fixture();
    let spans = record_spans(&good);
    let (start, _) = spans[2];
    storage
        .overwrite(&wal, flipped(&good, start + FRAME_HEADER_LEN + 3, 0x04))
        .unwrap();
    let store = builder(&storage)
        .recovery_mode(RecoveryMode::TruncateAtCorruption)
        .open()
        .unwrap();
    assert_eq!(
        store.recovery_report().truncations,
        vec![Truncation {
            file: wal.clone(),
            offset: start as u64,
            dropped_bytes: (good.len() - start) as u64,
        }]
    );
    assert_eq!(store.recovery_report().records_replayed, 2);
    for k in 0..5 {
        let found = store.get_claim(&t(), &c(&format!("c{k}"))).unwrap();
        if k < 2 {
            assert_eq!(
                *found.unwrap().item,
                item(&format!("c{k}"), &format!("text {k}"))
            );
        } else {
            assert!(
                found.is_none(),
                "c{k} is after the damage and must be dropped"
            );
        }
    }
    assert_eq!(store.stats().last_lsn.0, 2);
    drop(store);
    assert_eq!(storage.read(&wal).unwrap(), &good[..start]);
}

/// Two WAL files: a checkpoint rotated the log and then lost power while writing its segment.
/// Records 1..=3 are in the older file, 4..=5 in the newer one. Returns the two paths.
fn two_wal_files() -> (MemStorage, PathBuf, PathBuf) {
    let storage = MemStorage::new();
    let store = builder(&storage).open().unwrap();
    for k in 0..3 {
        store.ingest(item(&format!("c{k}"), "old file")).unwrap();
    }
    // The rotation syncs the new file's header and the WAL directory; the next sync is the
    // segment's.
    storage.cut_power_at_sync(Some(storage.sync_count() + 3));
    assert!(
        store.checkpoint().is_err(),
        "the checkpoint must hit the power cut"
    );
    drop(store);
    storage.crash();
    let store = builder(&storage).open().unwrap();
    for k in 3..5 {
        store.ingest(item(&format!("c{k}"), "new file")).unwrap();
    }
    store.close().unwrap();
    let wal = files_under(&storage, "wal");
    assert_eq!(wal.len(), 2, "fixture needs two WAL files: {wal:?}");
    assert!(files_under(&storage, "segments").is_empty());
    assert_eq!(record_spans(&storage.read(&wal[0]).unwrap()).len(), 3);
    assert_eq!(record_spans(&storage.read(&wal[1]).unwrap()).len(), 2);
    (storage, wal[0].clone(), wal[1].clone())
}

#[test]
fn damage_at_the_end_of_an_older_wal_file_is_corruption_not_a_torn_tail() {
    let (storage, older, newer) = two_wal_files();
    let good = storage.read(&older).unwrap();
    let (last_start, last_end) = *record_spans(&good).last().unwrap();

    for at in [
        last_start,
        last_start + 6,
        last_start + FRAME_HEADER_LEN + 1,
        last_end - 1,
    ] {
        let context = format!("flip at byte {at} of the older WAL file");
        storage.overwrite(&older, flipped(&good, at, 0x02)).unwrap();
        let corruption = expect_corruption(&storage, RecoveryMode::TolerateTornTail, &context);
        assert_eq!(corruption.file, older, "{context}");
        assert_eq!(corruption.offset, last_start as u64, "{context}");
        assert!(
            matches!(corruption.kind, CorruptionKind::ChecksumMismatch),
            "{context}"
        );
    }
    for cut in [
        last_start + 3,
        last_start + FRAME_HEADER_LEN + 2,
        last_end - 1,
    ] {
        let context = format!("older WAL file cut at {cut}");
        storage.overwrite(&older, good[..cut].to_vec()).unwrap();
        let corruption = expect_corruption(&storage, RecoveryMode::TolerateTornTail, &context);
        assert_eq!(corruption.file, older, "{context}");
        assert_eq!(corruption.offset, last_start as u64, "{context}");
        assert!(
            matches!(
                corruption.kind,
                CorruptionKind::Truncated | CorruptionKind::ChecksumMismatch
            ),
            "{context}: kind {:?}",
            corruption.kind
        );
    }
    // The older file lost its whole last record: the newer one then starts after a gap.
    storage
        .overwrite(&older, good[..last_start].to_vec())
        .unwrap();
    let corruption = expect_corruption(&storage, RecoveryMode::TolerateTornTail, "lost record");
    assert!(
        matches!(
            &corruption,
            Corruption {
                kind: CorruptionKind::LsnGap { expected, found },
                ..
            } if expected.0 == 3 && found.0 == 4
        ),
        "got {corruption:?}"
    );
    assert_eq!(corruption.file, newer);

    storage.overwrite(&older, good).unwrap();
    let store = builder(&storage).open().unwrap();
    assert_eq!(store.stats().claims, 5);
}

#[test]
fn a_missing_older_wal_file_is_an_lsn_gap() {
    let (storage, older, newer) = two_wal_files();
    storage.remove(&older).unwrap();
    let corruption = expect_corruption(&storage, RecoveryMode::TolerateTornTail, "missing WAL");
    assert_eq!(corruption.file, newer);
    assert!(
        matches!(
            corruption.kind,
            CorruptionKind::LsnGap { expected, found } if expected.0 == 1 && found.0 == 4
        ),
        "got {corruption:?}"
    );
}

/// A store with two checkpoints (two segments, manifests 1 and 2) and more records in the WAL.
fn segment_fixture() -> MemStorage {
    let storage = MemStorage::new();
    let store = builder(&storage).open().unwrap();
    store
        .ingest_batch(
            "batch-1",
            (0..4)
                .map(|k| item(&format!("c{k}"), &format!("v1 {k}")))
                .collect(),
        )
        .unwrap();
    store.forget(&t(), &c("c3")).unwrap();
    store.checkpoint().unwrap();
    store.ingest(item("c0", "v2 0")).unwrap();
    store.ingest(item("c9", "v1 9")).unwrap();
    store.checkpoint().unwrap();
    store.ingest(item("c1", "v2 1")).unwrap();
    store.close().unwrap();
    storage
}

fn assert_fixture_intact(storage: &MemStorage) {
    let store = builder(storage).open().unwrap();
    assert_eq!(store.stats().claims, 4);
    assert_eq!(store.stats().segments, 2);
    assert_eq!(
        store
            .get_claim(&t(), &c("c1"))
            .unwrap()
            .unwrap()
            .item
            .claim
            .canonical_text,
        "v2 1"
    );
    assert!(store.get_claim(&t(), &c("c3")).unwrap().is_none());
}

#[test]
fn a_flipped_byte_anywhere_in_a_segment_is_corruption_naming_it() {
    let storage = segment_fixture();
    let segments = files_under(&storage, "segments");
    assert_eq!(segments.len(), 2, "{segments:?}");
    for seg in &segments {
        let good = storage.read(seg).unwrap();
        let len = good.len();
        for at in 0..len {
            let region = match at {
                _ if at < 16 => "header",
                _ if at >= len - 8 => "trailing magic",
                _ if at >= len - 8 - 32 => "footer hash",
                _ if at >= len - 8 - 32 - 64 => "footer fields",
                _ => "body",
            };
            let context = format!("flip at byte {at} ({region}) of {}", seg.display());
            storage.overwrite(seg, flipped(&good, at, 0x08)).unwrap();
            let corruption = expect_corruption(&storage, RecoveryMode::TolerateTornTail, &context);
            assert_eq!(&corruption.file, seg, "{context}");
            assert!(
                matches!(
                    corruption.kind,
                    CorruptionKind::BadMagic | CorruptionKind::ChecksumMismatch
                ),
                "{context}: kind {:?}",
                corruption.kind
            );
        }
        storage.overwrite(seg, good).unwrap();
    }
    assert_fixture_intact(&storage);
}

#[test]
fn a_truncated_extended_or_swapped_segment_is_corruption_naming_it() {
    let storage = segment_fixture();
    let segments = files_under(&storage, "segments");
    let (first, second) = (&segments[0], &segments[1]);
    let good = storage.read(first).unwrap();
    let other = storage.read(second).unwrap();

    let mut extended = good.clone();
    extended.push(0);
    let cases = [
        ("truncated by one byte", good[..good.len() - 1].to_vec()),
        ("cut in half", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("one byte appended", extended),
        ("replaced by another valid segment", other),
    ];
    for (what, bytes) in cases {
        storage.overwrite(first, bytes).unwrap();
        let corruption = expect_corruption(&storage, RecoveryMode::TolerateTornTail, what);
        assert_eq!(&corruption.file, first, "{what}");
        assert!(
            matches!(
                corruption.kind,
                CorruptionKind::BadLength(_)
                    | CorruptionKind::ChecksumMismatch
                    | CorruptionKind::Truncated
                    | CorruptionKind::BadMagic
            ),
            "{what}: kind {:?}",
            corruption.kind
        );
    }
    storage.overwrite(first, good).unwrap();
    assert_fixture_intact(&storage);
}

#[test]
fn a_missing_segment_is_corruption_of_kind_missing() {
    let storage = segment_fixture();
    let segments = files_under(&storage, "segments");
    for seg in &segments {
        let good = storage.read(seg).unwrap();
        storage.remove(seg).unwrap();
        let corruption =
            expect_corruption(&storage, RecoveryMode::TolerateTornTail, "missing segment");
        assert!(
            matches!(
                &corruption,
                Corruption {
                    file,
                    offset: 0,
                    kind: CorruptionKind::Missing,
                } if file == seg
            ),
            "got {corruption:?}"
        );
        // Put it back as it was (a new file with the same bytes, made durable).
        let mut f = storage.create(seg).unwrap();
        f.append(&good).unwrap();
        f.sync_data().unwrap();
        storage.sync_dir(Path::new("segments")).unwrap();
    }
    assert_fixture_intact(&storage);
}

#[test]
fn a_flipped_byte_anywhere_in_the_manifest_is_corruption_naming_it() {
    let storage = segment_fixture();
    let mut manifests: Vec<PathBuf> = storage
        .files()
        .into_iter()
        .filter(|p| p.to_str().is_some_and(|s| s.starts_with("MANIFEST-")))
        .collect();
    manifests.sort();
    assert_eq!(
        manifests,
        vec![
            PathBuf::from("MANIFEST-00000000000000000001"),
            PathBuf::from("MANIFEST-00000000000000000002")
        ]
    );
    // The newest generation is the one open reads; damage to it is never papered over by
    // falling back to the older one.
    let newest = &manifests[1];
    let good = storage.read(newest).unwrap();
    for at in 0..good.len() {
        for mask in [0x01, 0x40] {
            let context = format!("flip {mask:#04x} at byte {at} of {}", newest.display());
            storage.overwrite(newest, flipped(&good, at, mask)).unwrap();
            let corruption = expect_corruption(&storage, RecoveryMode::TolerateTornTail, &context);
            assert_eq!(&corruption.file, newest, "{context}");
        }
    }
    for cut in [0, 10, good.len() / 2, good.len() - 1] {
        let context = format!("manifest cut at {cut}");
        storage.overwrite(newest, good[..cut].to_vec()).unwrap();
        let corruption = expect_corruption(&storage, RecoveryMode::TolerateTornTail, &context);
        assert_eq!(&corruption.file, newest, "{context}");
    }
    storage.overwrite(newest, good).unwrap();
    assert_fixture_intact(&storage);
}
