//! Torn WAL tails on a real directory: a crash in the middle of writing the last WAL record leaves
//! a prefix of it on disk. For every possible cut inside the last record, open must succeed,
//! lose exactly that (never acknowledged) record — a whole batch, never part of one — keep every
//! earlier record, report the cut (file, offset, dropped bytes) in the recovery report, leave the
//! file cut so the next open is clean, and keep the store writable. With
//! `RecoveryMode::AbsoluteConsistency` the same open must instead fail with a typed `Corruption`
//! naming the WAL file and the record's offset, without touching the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

mod common;

use common::{record_spans, FRAME_HEADER_LEN};
use dash::{
    Claim, ClaimId, CommitStatus, CorruptionKind, Edge, Evidence, IngestItem, OpenError,
    RecoveryMode, Relation, Stance, Store, TenantId, Truncation,
};

const TENANT: &str = "t";

/// Detection is off: its derived records would follow the commits at times the fixtures
/// cannot predict (they share the commits' framing, so what is shown here holds for them).
fn builder(path: &Path) -> dash::StoreBuilder {
    Store::builder(path).detection(dash::detect::DetectionConfig::disabled())
}
fn item(id: &str, text: &str) -> IngestItem {
    let mut ev = Evidence::new(format!("{id}-ev"), id, "doc-1", Stance::Supports);
    ev.excerpt = Some(format!("excerpt for {text}"));
    IngestItem::new(Claim::new(TENANT, id, text))
        .with_evidence(ev)
        .with_edge(Edge::new(id, "hub", Relation::Refines))
}

fn t() -> TenantId {
    TenantId::new(TENANT)
}

fn c(id: &str) -> ClaimId {
    ClaimId::new(id)
}

/// The only WAL file of the store in `root`, relative to the root.
fn only_wal_file(root: &Path) -> PathBuf {
    let names: Vec<String> = std::fs::read_dir(root.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".wal"))
        .collect();
    assert_eq!(
        names.len(),
        1,
        "expected exactly one WAL file, found {names:?}"
    );
    Path::new("wal").join(&names[0])
}

/// Writes four records, then a batch as the fifth and last record; returns the closed store's
/// directory.
fn write_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = builder(dir.path()).auto_checkpoint(false).open().unwrap();
    assert_eq!(store.ingest(item("c0", "zero v1")).unwrap().lsn.0, 1);
    assert_eq!(store.ingest(item("c1", "one v1")).unwrap().lsn.0, 2);
    assert_eq!(store.ingest(item("c0", "zero v2")).unwrap().version, 2);
    assert_eq!(store.forget(&t(), &c("c1")).unwrap().lsn.0, 4);
    let last = store.ingest_batch("last", last_batch()).unwrap();
    assert_eq!(last.lsn.0, 5);
    assert_eq!(
        last.items.iter().map(|i| i.version).collect::<Vec<_>>(),
        vec![3, 3, 1]
    );
    store.close().unwrap();
    dir
}

fn last_batch() -> Vec<IngestItem> {
    vec![
        item("c0", "zero v3"),
        item("c1", "one v3"),
        item("c2", "two v1"),
    ]
}

/// The state after the first four records, i.e. with the last record (the batch) lost whole.
fn assert_state_without_last_record(store: &Store, context: &str) {
    let c0 = store
        .get_claim(&t(), &c("c0"))
        .unwrap()
        .unwrap_or_else(|| panic!("{context}: c0 lost"));
    assert_eq!(c0.version, 2, "{context}: c0 version");
    assert_eq!(c0.lsn.0, 3, "{context}: c0 lsn");
    assert_eq!(*c0.item, item("c0", "zero v2"), "{context}: c0 content");
    assert_eq!(c0.history.len(), 2, "{context}: c0 history");

    assert!(
        store.get_claim(&t(), &c("c1")).unwrap().is_none(),
        "{context}: c1 must stay forgotten (batch item c1 v3 must not survive)"
    );
    let c1: Vec<(u32, bool)> = store
        .versions(&t(), &c("c1"))
        .unwrap()
        .iter()
        .map(|v| (v.version, v.item().is_none()))
        .collect();
    assert_eq!(c1, vec![(1, false), (2, true)], "{context}: c1 versions");

    assert!(
        store.versions(&t(), &c("c2")).unwrap().is_empty(),
        "{context}: c2 exists only in the torn batch and must not appear"
    );
    let stats = store.stats();
    assert_eq!(stats.claims, 1, "{context}: live claims");
    assert_eq!(stats.last_lsn.0, 4, "{context}: last LSN");
}

#[test]
fn every_cut_inside_the_last_record_loses_only_that_record() {
    let dir = write_fixture();
    let wal_rel = only_wal_file(dir.path());
    let wal_abs = dir.path().join(&wal_rel);
    let full = std::fs::read(&wal_abs).unwrap();
    let spans = record_spans(&full);
    assert_eq!(spans.len(), 5, "one record per write");
    let (last_start, last_end) = *spans.last().unwrap();
    assert_eq!(last_end, full.len());

    // The intact file first: everything is there and nothing is reported.
    {
        let store = builder(dir.path()).open().unwrap();
        assert!(store.recovery_report().truncations.is_empty());
        assert_eq!(store.recovery_report().records_replayed, 5);
        assert_eq!(store.stats().claims, 3);
    }

    // Cut exactly at the record boundary: a shorter, valid log. Nothing to repair.
    std::fs::write(&wal_abs, &full[..last_start]).unwrap();
    {
        let store = builder(dir.path()).open().unwrap();
        assert!(store.recovery_report().truncations.is_empty());
        assert_eq!(store.recovery_report().records_replayed, 4);
        assert_state_without_last_record(&store, "cut at the record boundary");
    }

    for cut in last_start + 1..last_end {
        let context = format!("cut at byte {cut} (last record spans {last_start}..{last_end})");
        let torn = &full[..cut];

        // Strict: the torn tail is refused, typed, and the file is left untouched.
        std::fs::write(&wal_abs, torn).unwrap();
        let err = builder(dir.path())
            .recovery_mode(RecoveryMode::AbsoluteConsistency)
            .open()
            .expect_err(&format!(
                "{context}: AbsoluteConsistency must refuse a torn tail"
            ));
        match err {
            OpenError::Corruption(corruption) => {
                assert_eq!(corruption.file, wal_rel, "{context}: corrupt file");
                assert_eq!(corruption.offset, last_start as u64, "{context}: offset");
                assert!(
                    matches!(
                        corruption.kind,
                        CorruptionKind::Truncated | CorruptionKind::ChecksumMismatch
                    ),
                    "{context}: kind {:?}",
                    corruption.kind
                );
            }
            other => panic!("{context}: expected Corruption, got {other:?}"),
        }
        assert_eq!(
            std::fs::read(&wal_abs).unwrap(),
            torn,
            "{context}: a refused open must not modify the WAL"
        );

        // Default mode: the torn record is cut and reported; everything before it survives.
        let store = builder(dir.path())
            .open()
            .unwrap_or_else(|e| panic!("{context}: open failed: {e}"));
        let report = store.recovery_report();
        assert_eq!(
            report.truncations,
            vec![Truncation {
                file: wal_rel.clone(),
                offset: last_start as u64,
                dropped_bytes: (cut - last_start) as u64,
            }],
            "{context}: recovery report"
        );
        assert_eq!(report.records_replayed, 4, "{context}: records replayed");
        assert_state_without_last_record(&store, &context);
        drop(store);
        assert_eq!(
            std::fs::metadata(&wal_abs).unwrap().len(),
            last_start as u64,
            "{context}: the WAL file must be cut on disk"
        );
    }
}

#[test]
fn after_a_cut_the_store_continues_cleanly() {
    let dir = write_fixture();
    let wal_rel = only_wal_file(dir.path());
    let wal_abs = dir.path().join(&wal_rel);
    let full = std::fs::read(&wal_abs).unwrap();
    let (last_start, last_end) = *record_spans(&full).last().unwrap();
    let cut = last_start + (last_end - last_start) / 2;
    std::fs::write(&wal_abs, &full[..cut]).unwrap();

    let store = builder(dir.path()).open().unwrap();
    assert_eq!(store.recovery_report().truncations.len(), 1);
    // The lost batch was never acknowledged, so its commit id is free: it commits anew, at the
    // LSN the torn record had, with the versions it would have had.
    let again = store.ingest_batch("last", last_batch()).unwrap();
    assert_eq!(again.status, CommitStatus::Committed);
    assert_eq!(again.lsn.0, 5);
    assert_eq!(
        again.items.iter().map(|i| i.version).collect::<Vec<_>>(),
        vec![3, 3, 1]
    );
    let after = store.ingest(item("c3", "three v1")).unwrap();
    assert_eq!(after.lsn.0, 6);
    store.close().unwrap();

    // The appended records sit right after the cut: the next open is clean.
    let store = builder(dir.path()).open().unwrap();
    assert!(store.recovery_report().truncations.is_empty());
    assert_eq!(store.recovery_report().records_replayed, 6);
    assert_eq!(
        record_spans(&std::fs::read(&wal_abs).unwrap()).len(),
        6,
        "WAL holds the four old and the two new records"
    );
    let c2 = store.get_claim(&t(), &c("c2")).unwrap().unwrap();
    assert_eq!(*c2.item, item("c2", "two v1"));
    let c3 = store.get_claim(&t(), &c("c3")).unwrap().unwrap();
    assert_eq!((c3.version, c3.lsn.0), (1, 6));
    assert_eq!(
        store.ingest_batch("last", last_batch()).unwrap().status,
        CommitStatus::Replayed
    );
    assert_eq!(store.stats().claims, 4);
}

#[test]
fn a_zero_filled_tail_is_cut_and_reported() {
    // File systems may leave a zeroed extent after the last write (preallocation, a torn
    // append whose data never arrived): it holds no record and is cut.
    let dir = write_fixture();
    let wal_rel = only_wal_file(dir.path());
    let wal_abs = dir.path().join(&wal_rel);
    let full = std::fs::read(&wal_abs).unwrap();
    let mut padded = full.clone();
    padded.extend(std::iter::repeat_n(0u8, 4096));

    std::fs::write(&wal_abs, &padded).unwrap();
    let err = builder(dir.path())
        .recovery_mode(RecoveryMode::AbsoluteConsistency)
        .open()
        .expect_err("AbsoluteConsistency must refuse trailing garbage");
    assert!(
        matches!(
            &err,
            OpenError::Corruption(c) if c.file == wal_rel && c.offset == full.len() as u64
        ),
        "got {err:?}"
    );

    let store = builder(dir.path()).open().unwrap();
    assert_eq!(
        store.recovery_report().truncations,
        vec![Truncation {
            file: wal_rel.clone(),
            offset: full.len() as u64,
            dropped_bytes: 4096,
        }]
    );
    assert_eq!(store.recovery_report().records_replayed, 5);
    assert_eq!(store.stats().claims, 3);
    let c2 = store.get_claim(&t(), &c("c2")).unwrap().unwrap();
    assert_eq!(*c2.item, item("c2", "two v1"));
    drop(store);
    assert_eq!(std::fs::read(&wal_abs).unwrap(), full);
}

/// CRC-32 (IEEE), as the WAL frames use.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A byte string that is a well-formed WAL frame (a minimal commit payload with LSN `lsn`, both
/// CRCs correct) and, every byte being ASCII, also valid UTF-8 claim text.
fn frame_lookalike(lsn: u64) -> String {
    for len in 9u32..4096 {
        let mut header = len.to_le_bytes().to_vec();
        header.extend_from_slice(&lsn.to_le_bytes());
        let header_crc = crc32(&header).to_le_bytes();
        if !(header.iter().all(u8::is_ascii) && header_crc.iter().all(u8::is_ascii)) {
            continue;
        }
        for salt in 0u64..1 << 20 {
            // kind 1 (commit), then ASCII letters varied until the payload CRC is ASCII too.
            let mut payload = vec![1u8];
            payload
                .extend((0..len as usize - 1).map(|i| b'a' + ((salt >> ((i % 8) * 3)) % 26) as u8));
            let payload_crc = crc32(&payload).to_le_bytes();
            if payload_crc.iter().all(u8::is_ascii) {
                let mut frame = header.clone();
                frame.extend_from_slice(&header_crc);
                frame.extend_from_slice(&payload_crc);
                frame.extend_from_slice(&payload);
                return String::from_utf8(frame).unwrap();
            }
        }
    }
    unreachable!()
}

/// A torn last record is a torn tail whatever its content. Claim text is user data (control
/// characters are allowed in it), so it may contain bytes that look like a valid WAL record; a
/// crash that tears the record after those bytes must still be recovered as a torn tail, not
/// refused as "damage with valid records after it".
#[test]
fn a_torn_record_is_a_torn_tail_even_if_its_text_looks_like_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = builder(dir.path()).auto_checkpoint(false).open().unwrap();
    for k in 0..4 {
        store.ingest(item(&format!("c{k}"), "plain text")).unwrap();
    }
    // The fifth record's text carries a lookalike of a record with LSN 5.
    let lookalike = frame_lookalike(5);
    let text = format!("quoted bytes: {lookalike} and some more text after them");
    assert_eq!(store.ingest(item("c4", &text)).unwrap().lsn.0, 5);
    store.close().unwrap();

    let wal_rel = only_wal_file(dir.path());
    let wal_abs = dir.path().join(&wal_rel);
    let full = std::fs::read(&wal_abs).unwrap();
    let spans = record_spans(&full);
    // The real records' CRCs check out with this CRC function, so the lookalike's is right too.
    for &(start, end) in &spans {
        let header_crc = u32::from_le_bytes(full[start + 12..start + 16].try_into().unwrap());
        let payload_crc = u32::from_le_bytes(full[start + 16..start + 20].try_into().unwrap());
        assert_eq!(
            crc32(&full[start..start + 12]),
            header_crc,
            "header CRC at {start}"
        );
        let payload = &full[start + FRAME_HEADER_LEN..end];
        assert_eq!(crc32(payload), payload_crc, "payload CRC at {start}");
    }
    let (last_start, last_end) = *spans.last().unwrap();
    let at = full
        .windows(lookalike.len())
        .position(|w| w == lookalike.as_bytes())
        .expect("the lookalike is in the WAL verbatim");
    assert!(at > last_start && at + lookalike.len() < last_end);

    let mut refused = Vec::new();
    for cut in last_start + 1..last_end {
        std::fs::write(&wal_abs, &full[..cut]).unwrap();
        match builder(dir.path()).open() {
            Ok(store) => {
                assert_eq!(
                    store.recovery_report().truncations,
                    vec![Truncation {
                        file: wal_rel.clone(),
                        offset: last_start as u64,
                        dropped_bytes: (cut - last_start) as u64,
                    }],
                    "cut at {cut}"
                );
                assert_eq!(store.stats().last_lsn.0, 4, "cut at {cut}");
                assert!(store.get_claim(&t(), &c("c4")).unwrap().is_none());
            }
            Err(e) => refused.push((cut, e.to_string())),
        }
    }
    assert!(
        refused.is_empty(),
        "{} of {} torn cuts of the last record (lookalike at bytes {at}..{}) were refused \
         instead of cut, e.g. {:?}",
        refused.len(),
        last_end - last_start - 1,
        at + lookalike.len(),
        refused.first()
    );
}
