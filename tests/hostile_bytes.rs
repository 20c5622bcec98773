//! Hostile bytes on disk: whatever a WAL file, a segment or a manifest contains, open either
//! succeeds or fails with a typed error — it never panics, hangs or allocates without bound —
//! and whatever it then serves reads back without panicking. (The in-CI stand-in for fuzzing
//! the decoders; the inputs are valid files with random damage, and random bytes.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dash::{
    Claim, ClaimId, Evidence, IngestItem, MemStorage, OpenError, Stance, Storage, Store, TenantId,
};
use proptest::prelude::*;

/// A small store on `disk`: two checkpointed claims and a WAL tail.
fn build(disk: &MemStorage) {
    let store = Store::builder_with_storage(Arc::new(disk.clone()))
        .auto_checkpoint(false)
        .open()
        .unwrap();
    for k in 0..4 {
        let id = format!("c{k}");
        let mut claim = Claim::new("t", id.as_str(), format!("claim number {k}"));
        claim.embedding = Some(vec![k as f32, 1.0]);
        let item = IngestItem::new(claim).with_evidence(Evidence::new(
            format!("e{k}"),
            id.as_str(),
            "s",
            Stance::Supports,
        ));
        store.ingest(item).unwrap();
        if k == 1 {
            store.checkpoint().unwrap();
        }
    }
    store.close().unwrap();
}

fn file_of(disk: &MemStorage, dir: &str) -> PathBuf {
    disk.files()
        .into_iter()
        .find(|p| p.starts_with(dir) || p.to_string_lossy().starts_with(dir))
        .unwrap()
}

#[derive(Debug, Clone)]
enum Damage {
    Flip { at: usize, mask: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Replace { bytes: Vec<u8> },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Damage::Flip { at, mask }),
        2 => any::<usize>().prop_map(|at| Damage::Truncate { at }),
        2 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(|bytes| Damage::Replace { bytes }),
    ]
}

fn apply(mut data: Vec<u8>, damage: &[Damage]) -> Vec<u8> {
    for d in damage {
        match d {
            Damage::Flip { at, mask } if !data.is_empty() => {
                let i = at % data.len();
                data[i] ^= mask;
            }
            Damage::Truncate { at } => data.truncate(at % (data.len() + 1)),
            Damage::Insert { at, bytes } => {
                let i = at % (data.len() + 1);
                data.splice(i..i, bytes.iter().copied());
            }
            Damage::Replace { bytes } => data.clone_from(bytes),
            Damage::Flip { .. } => {}
        }
    }
    data
}

/// Opens the damaged store; on success reads every claim.
fn open_and_read(disk: &MemStorage) {
    match Store::builder_with_storage(Arc::new(disk.clone())).open() {
        Ok(store) => {
            let t = TenantId::new("t");
            for k in 0..4 {
                let _ = store.get_claim(&t, &ClaimId::new(format!("c{k}"))).unwrap();
            }
            let _ = store.stats();
        }
        Err(OpenError::Corruption(c)) => assert!(!c.file.as_os_str().is_empty()),
        Err(OpenError::Config(_)) => {} // e.g. a damaged manifest with another dimension
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

fn damaged(which: &str, damage: &[Damage]) -> MemStorage {
    let disk = MemStorage::new();
    build(&disk);
    let path = file_of(&disk, which);
    let bytes = disk.read(Path::new(&path)).unwrap();
    disk.overwrite(&path, apply(bytes, damage)).unwrap();
    disk
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn damaged_wal_never_panics(d in prop::collection::vec(damage(), 1..4)) {
        open_and_read(&damaged("wal/", &d));
    }

    #[test]
    fn damaged_segment_never_panics(d in prop::collection::vec(damage(), 1..4)) {
        open_and_read(&damaged("segments/", &d));
    }

    #[test]
    fn damaged_manifest_never_panics(d in prop::collection::vec(damage(), 1..4)) {
        open_and_read(&damaged("MANIFEST-", &d));
    }
}
