//! Helpers shared by the integration tests: the WAL layout as `docs/design.md` §3 states it (one
//! place to change with the format), lookups in retrieve answers, and copying a store's directory. The tests' deterministic
//! generator is the benches' one, `dash_bench::rng::SplitMix`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

/// WAL file header length (magic, version, reserved, first LSN, CRC).
pub const WAL_HEADER_LEN: usize = 24;
/// Record framing before each payload: `len u32 | lsn u64 | header_crc u32 | payload_crc u32`.
pub const FRAME_HEADER_LEN: usize = 20;

/// `(start, end)` of every record of a whole WAL file, parsed from its framing.
pub fn record_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    assert!(
        bytes.len() >= WAL_HEADER_LEN,
        "WAL file shorter than its header"
    );
    let mut spans = Vec::new();
    let mut at = WAL_HEADER_LEN;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let end = at + FRAME_HEADER_LEN + len;
        assert!(
            end <= bytes.len(),
            "record at {at} runs past the end of the file"
        );
        spans.push((at, end));
        at = end;
    }
    spans
}

/// The claim ids of an answer, in rank order.
pub fn ids(r: &dash::RetrieveResponse) -> Vec<&str> {
    r.results.iter().map(|x| x.claim_id.as_str()).collect()
}

/// The claim ids of an answer, as a set.
pub fn id_set(r: &dash::RetrieveResponse) -> std::collections::BTreeSet<&str> {
    r.results.iter().map(|x| x.claim_id.as_str()).collect()
}

/// The result for `id`, if returned.
pub fn find<'a>(r: &'a dash::RetrieveResponse, id: &str) -> Option<&'a dash::RetrievedClaim> {
    r.results.iter().find(|x| x.claim_id.as_str() == id)
}

/// The result for `id`; panics (naming what was returned) if it is missing.
pub fn get<'a>(r: &'a dash::RetrieveResponse, id: &str) -> &'a dash::RetrievedClaim {
    find(r, id).unwrap_or_else(|| panic!("{id} missing from {:?}", ids(r)))
}

/// Copies a directory tree, leaving out `LOCK`: what a power cut leaves of a store whose writes
/// were acknowledged (or a fixture, opened from a scratch copy).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Reboots `storage` after a power cut: unsynced bytes are lost (`torn` false), or each durable
/// file keeps a pseudo-random part of them (seeded by `seed`: a torn write); the scheduled cut
/// is cancelled.
pub fn reboot(storage: &dash::MemStorage, seed: u64, torn: bool) {
    let mut rng = dash_bench::rng::SplitMix::new(seed);
    storage.crash_keeping(|_, unsynced| {
        if torn {
            (rng.next_u64() % (unsynced as u64 + 1)) as usize
        } else {
            0
        }
    });
    storage.cut_power_at_sync(None);
}

/// The settings of the graph-file tests: graphs sealed every 100 vectors, no idle merges (which
/// graphs exist must not depend on how long a test takes), one version kept per claim (a merge
/// drops older ones, so a rebuild numbers documents differently from saved graphs).
pub fn sealing_one_version(builder: dash::StoreBuilder) -> dash::StoreBuilder {
    builder
        .dense_seal_threshold(100)
        .dense_merge_after_idle(None)
        .retention(dash::Retention {
            max_versions: Some(1),
            purge_forgotten: true,
        })
}
