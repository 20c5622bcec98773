//! The catalog image: a clean close writes every tenant's retrieval state to `catalog.image`,    assert_eq!(store.detected_edges(&"a".into()).unwrap(), edges);
//! and the next open starts from it instead of indexing the segments again — with the same
//! answers as a rebuild, WAL records after the image applied on top, and an image that does not
//! fit (damaged, over other segments, ahead of the WAL, naming a missing graph file) never used.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::copy_dir;
use std::path::Path;
use std::sync::Arc;

use dash::{
    Claim, Durability, Evidence, IngestItem, MemStorage, Query, Ranking, RetrievedClaim, Stance,
    Store, StoreStats, Timestamp,
};
use dash_bench::rng::SplitMix;

const DIM: usize = 16;
const IMAGE: &str = "catalog.image";
const WORDS: &[&str] = &[
    "arctic", "ice", "sea", "level", "rising", "carbon", "warming", "glacier", "melting", "ocean",
    "heat", "storm", "drought", "forest", "river", "coast",
];

fn open(dir: &Path) -> Store {
    // No idle merges: which graphs exist must not depend on how long a test takes.
    Store::builder(dir)
        .dense_seal_threshold(64)
        .dense_merge_after_idle(None)
        .open()
        .unwrap()
}

fn vector(rng: &mut SplitMix) -> Vec<f32> {
    (0..DIM).map(|_| rng.unit() as f32 - 0.5).collect()
}

fn text(rng: &mut SplitMix) -> String {
    let n = 3 + (rng.next_u64() % 5) as usize;
    (0..n)
        .map(|_| WORDS[(rng.next_u64() % WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

/// Claim `i` of `tenant`: text, an entity, metadata, evidence both ways, a vector.
fn item(tenant: &str, i: usize, rng: &mut SplitMix) -> IngestItem {
    let id = format!("c{i}");
    let mut claim = Claim::new(tenant, id.as_str(), text(rng));
    claim.entities = vec![format!("E{}", i % 7)];
    claim
        .metadata
        .insert("lang".into(), ["en", "de"][i % 2].into());
    claim.embedding = Some(vector(rng));
    if i.is_multiple_of(5) {
        claim.valid_from = Timestamp::from_year(2000 + (i % 20) as i32);
    }
    let mut support = Evidence::new(
        format!("{id}-s"),
        id.as_str(),
        format!("src-{}", i % 11),
        Stance::Supports,
    );
    support.excerpt = Some(text(rng));
    let mut item = IngestItem::new(claim).with_evidence(support);
    if i.is_multiple_of(3) {
        let against = Evidence::new(
            format!("{id}-x"),
            id.as_str(),
            "critic",
            Stance::Contradicts,
        );
        item = item.with_evidence(against);
    }
    item
}

/// Two tenants: 300 claims each, plain-text contradictions for detection, new versions, a
/// forgotten claim, a checkpoint in the middle (so part is in segments, part in the WAL).
fn fill(store: &Store) {
    let mut rng = SplitMix::new(7);
    for i in 0..300 {
        for tenant in ["a", "b"] {
            store.ingest(item(tenant, i, &mut rng)).unwrap();
        }
        if i == 150 {
            store.checkpoint().unwrap();
        }
    }
    for i in (0..40).step_by(4) {
        store.ingest(item("a", i, &mut rng)).unwrap(); // a second version
    }
    store
        .ingest(IngestItem::new(Claim::new(
            "a",
            "bridge-1",
            "The bridge opened in 1932",
        )))
        .unwrap();
    store
        .ingest(IngestItem::new(Claim::new(
            "a",
            "bridge-2",
            "The bridge collapsed in 1932",
        )))
        .unwrap();
    store.forget(&"a".into(), &"c9".into()).unwrap();
    assert!(store.wait_for_detection());
    store.wait_for_indexes();
}

/// What a user sees: for a fixed set of queries, each result's id, version, score,
/// evidence, citations and conflicts (timings left out).
fn answers(store: &Store) -> Vec<Vec<RetrievedClaim>> {
    let mut rng = SplitMix::new(99);
    let mut out = Vec::new();
    for tenant in ["a", "b"] {
        for k in 0..12usize {
            let mut q = Query::new(tenant).text(text(&mut rng)).top_k(10);
            if k.is_multiple_of(2) {
                q = q.embedding(vector(&mut rng));
            }
            if k.is_multiple_of(3) {
                q = q.entity(format!("E{}", k % 7));
            }
            if k.is_multiple_of(4) {
                q = q.as_of(Timestamp::from_year(2010).unwrap());
            }
            if k.is_multiple_of(5) {
                q = q.ranking(Ranking::Relevance);
            }
            out.push(store.retrieve(&q).unwrap().results);
        }
    }
    out.push(
        store
            .retrieve(&Query::new("a").text("bridge 1932"))
            .unwrap()
            .results,
    );
    out
}

fn settled(store: &Store) -> StoreStats {
    store.retrieve(&Query::new("a").text("ice")).unwrap(); // waits for the open's indexing
    store.wait_for_detection();
    store.wait_for_indexes();
    store.stats()
}

fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

/// Which count of a tenant's image record [`break_tenant_and_reseal`] breaks: the lexical
/// part's term count (decoded with the tenant), or the facet postings' key count (decoded when
/// first read).
#[derive(Clone, Copy)]
enum Broken {
    Terms,
    FacetKeys,
}

/// Sets a count of `tenant`'s record in the image to `u32::MAX` and seals the file again (its
/// BLAKE3): bytes that pass the checksum and still do not decode, which only a defect of the
/// writer could make.
fn break_tenant_and_reseal(path: &Path, tenant: &str, broken: Broken) {
    let mut bytes = std::fs::read(path).unwrap();
    let mut needle = (tenant.len() as u32).to_le_bytes().to_vec();
    needle.extend_from_slice(tenant.as_bytes());
    let start = bytes
        .windows(needle.len())
        .rposition(|w| w == needle.as_slice())
        .expect("the tenant's record");
    // id | undetected u64 | store_vectors u64 | pad | (len u64 | part | pad) for head,
    // lexical, filters; pads to 8 bytes from the tenant's start (image format 2).
    let pad = |at: usize| at + (8 - (at - start) % 8) % 8;
    let mut at = pad(start + needle.len() + 16);
    let (skip, within) = match broken {
        Broken::Terms => (1, 8), // past k1 f32 | b f32
        Broken::FacetKeys => (2, 0),
    };
    for _ in 0..skip {
        let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        at = pad(at + 8 + len);
    }
    at += 8 + within;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let hash_at = bytes.len() - 40;
    let hash = blake3::hash(&bytes[..hash_at]);
    bytes[hash_at..hash_at + 32].copy_from_slice(hash.as_bytes());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_tenant_of_the_image_is_decoded_when_first_read_and_one_that_does_not_decode_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SplitMix::new(11);
    let odd = "zz-undecodable";
    let before = {
        let store = open(dir.path());
        fill(&store);
        for i in 0..20 {
            store.ingest(item(odd, i, &mut rng)).unwrap();
        }
        let answers = answers(&store);
        store.close().unwrap();
        answers
    };
    // Intact, the image serves every tenant (each decoded on first touch).
    let store = open(dir.path());
    assert_eq!(answers(&store), before);
    let hits = store.retrieve(&Query::new(odd).text("ice sea")).unwrap();
    assert!(!hits.results.is_empty());
    store.close().unwrap();

    break_tenant_and_reseal(&dir.path().join(IMAGE), odd, Broken::Terms);
    let store = open(dir.path());
    let refused = store.retrieve(&Query::new(odd).text("ice sea"));
    assert!(
        matches!(refused, Err(dash::QueryError::IndexUnavailable(_))),
        "{refused:?}"
    );
    // Every query is refused from then on (none is answered from an empty index).
    assert!(store.retrieve(&Query::new("a").text("ice")).is_err());
    let why = store.stats().last_index_error.unwrap_or_default();
    assert!(
        why.contains(odd) && why.contains("does not decode"),
        "{why}"
    );
    assert!(!dir.path().join(IMAGE).exists(), "the image is removed");
    store.close().unwrap();
    assert!(!dir.path().join(IMAGE).exists(), "the close writes none");

    // The next open indexes the segments: every tenant answers again.
    let store = open(dir.path());
    assert_eq!(answers(&store), before);
    assert!(!store.stats().catalog_image_loaded);
    let hits = store.retrieve(&Query::new(odd).text("ice sea")).unwrap();
    assert!(!hits.results.is_empty());
}

/// The facet postings decode when first read (a filtered query), not with the tenant: a
/// defect found then refuses that query and every later one, as one found with the tenant.
#[test]
fn facet_postings_that_do_not_decode_refuse_the_query_that_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SplitMix::new(12);
    let odd = "zz-facets";
    {
        let store = open(dir.path());
        fill(&store);
        for i in 0..20 {
            store.ingest(item(odd, i, &mut rng)).unwrap();
        }
        store.close().unwrap();
    }
    break_tenant_and_reseal(&dir.path().join(IMAGE), odd, Broken::FacetKeys);
    let store = open(dir.path());
    let filtered = store.retrieve(&Query::new(odd).text("ice sea").entity("E1"));
    assert!(
        matches!(filtered, Err(dash::QueryError::IndexUnavailable(_))),
        "{filtered:?}"
    );
    assert!(store.retrieve(&Query::new("a").text("ice")).is_err());
    let why = store.stats().last_index_error.unwrap_or_default();
    assert!(why.contains(odd) && why.contains("facet postings"), "{why}");
    store.close().unwrap();
    assert!(
        !dir.path().join(IMAGE).exists(),
        "the image is removed, the close writes none"
    );
    let store = open(dir.path());
    assert!(store
        .retrieve(&Query::new(odd).text("ice sea").entity("E1"))
        .is_ok());
}

#[test]
fn a_clean_restart_starts_from_the_image_with_the_answers_of_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let (before, edges) = {
        let store = open(dir.path());
        fill(&store);
        let edges = store.detected_edges(&"a".into()).unwrap();
        assert!(!edges.is_empty());
        let answers = answers(&store);
        store.close().unwrap();
        (answers, edges)
    };

    assert!(
        dir.path().join(IMAGE).exists(),
        "a clean close writes the image"
    );

    let store = open(dir.path());
    let stats = settled(&store);
    assert!(stats.catalog_image_loaded, "{stats:?}");
    assert_eq!(stats.catalog_image_unused, None);
    assert_eq!(stats.index_builds, 0, "nothing rebuilt: {stats:?}");
    assert_eq!(stats.last_index_error, None);
    assert!(stats.dense_graph_docs > 0, "graphs came back: {stats:?}");
    assert_eq!(
        answers(&store),
        before,
        "the image answers as the store did"
    );
    assert_eq!(store.detected_edges(&"a".into()).unwrap(), edges);
    store.close().unwrap();

    // The same directory without the image: the catalog is indexed from the segments again,
    // and answers the same.
    std::fs::remove_file(dir.path().join(IMAGE)).unwrap();
    let store = open(dir.path());
    let stats = settled(&store);
    assert!(!stats.catalog_image_loaded);
    assert_eq!(
        answers(&store),
        before,
        "a rebuild answers as the image did"
    );
}

/// The open's rebuild from the segments alone reads versions a chunk at a time in commit order:
/// with every kind of version in segments (second versions in the entries of a merged segment,
/// a tombstone, detected edges in the derived sections) it numbers and answers as the live
/// store did, and its documents read their content from the segments.
#[test]
fn a_rebuild_from_segments_alone_answers_as_the_store_did() {
    let dir = tempfile::tempdir().unwrap();
    let (before, edges) = {
        let store = open(dir.path());
        fill(&store);
        store.checkpoint().unwrap();
        let merged = store.compact().unwrap();
        assert!(merged.merged && merged.segments == 1, "{merged:?}");
        let answers = answers(&store);
        let edges = store.detected_edges(&"a".into()).unwrap();
        assert!(!edges.is_empty());
        store.close().unwrap();
        (answers, edges)
    };
    for round in 0..2 {
        std::fs::remove_file(dir.path().join(IMAGE)).unwrap();
        let store = open(dir.path());
        let stats = settled(&store);
        assert!(!stats.catalog_image_loaded, "round {round}: {stats:?}");
        assert_eq!(stats.last_index_error, None, "round {round}");
        assert_eq!(answers(&store), before, "round {round}");
        assert_eq!(store.detected_edges(&"a".into()).unwrap(), edges);
        store.close().unwrap();
    }
}

#[test]
fn writes_after_a_restart_from_the_image_survive_a_power_cut() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        fill(&store);
        store.close().unwrap();
    }
    // Between the restart and the cut no checkpoint may run and no graph may be sealed: the
    // image names the segments and graph files of the close, and one that a checkpoint or a
    // seal replaced is rightly refused (the open then indexes the segments).
    let store = Store::builder(dir.path())
        .dense_seal_threshold(usize::MAX)
        .dense_merge_after_idle(None)
        .auto_checkpoint(false)
        .open()
        .unwrap();
    settled(&store);
    let mut rng = SplitMix::new(11);
    for i in 300..340 {
        store.ingest(item("a", i, &mut rng)).unwrap();
    }
    store.forget(&"a".into(), &"c3".into()).unwrap();
    store.wait_for_detection();
    store.wait_for_indexes();
    let expected = answers(&store);
    // A power cut now: the image of the last close, and a WAL with records past it.
    let cut = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), cut.path());
    drop(store);

    let store = open(cut.path());
    let stats = settled(&store);
    assert!(stats.catalog_image_loaded, "{stats:?}");
    assert_eq!(answers(&store), expected);
    assert!(store
        .get_claim(&"a".into(), &"c3".into())
        .unwrap()
        .is_none());
    assert!(store
        .get_claim(&"a".into(), &"c339".into())
        .unwrap()
        .is_some());
}

#[test]
fn an_image_that_does_not_fit_is_never_used() {
    for case in [
        "damaged",
        "other segments",
        "graph file missing",
        "ahead of the WAL",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let expected = {
            let store = open(dir.path());
            fill(&store);
            let answers = answers(&store);
            store.close().unwrap();
            answers
        };
        let target = tempfile::tempdir().unwrap();
        match case {
            "damaged" => {
                copy_dir(dir.path(), target.path());
                flip_byte(&target.path().join(IMAGE));
            }
            "other segments" => {
                // A checkpoint after the image, then a power cut: the image's segments are gone.
                let store = open(dir.path());
                settled(&store);
                store.checkpoint().unwrap();
                copy_dir(dir.path(), target.path());
            }
            "graph file missing" => {
                copy_dir(dir.path(), target.path());
                let graphs = target.path().join("graphs");
                let victim = std::fs::read_dir(&graphs)
                    .unwrap()
                    .map(|f| f.unwrap().path())
                    .find(|p| p.extension().is_some_and(|e| e == "graph"))
                    .unwrap();
                std::fs::remove_file(victim).unwrap();
            }
            _ => {
                // The image of a later close beside the WAL of an earlier power cut: it holds
                // records the WAL does not, so it is removed before anything is written.
                let early = tempfile::tempdir().unwrap();
                {
                    let store = open(dir.path());
                    settled(&store);
                    copy_dir(dir.path(), early.path());
                    let mut rng = SplitMix::new(5);
                    store.ingest(item("b", 999, &mut rng)).unwrap();
                    store.close().unwrap();
                }
                copy_dir(early.path(), target.path());
                std::fs::copy(dir.path().join(IMAGE), target.path().join(IMAGE)).unwrap();
            }
        }
        let store = open(target.path());
        let stats = settled(&store);
        assert!(!stats.catalog_image_loaded, "{case}: {stats:?}");
        if case != "ahead of the WAL" {
            let why = stats.catalog_image_unused.clone().unwrap_or_default();
            assert!(why.contains("not used"), "{case}: {why}");
        }
        assert!(
            !target.path().join(IMAGE).exists(),
            "{case}: an unusable image is removed"
        );
        assert_eq!(answers(&store), expected, "{case}");
        store.close().unwrap();
        assert!(
            target.path().join(IMAGE).exists(),
            "{case}: the close writes a new one"
        );
    }
}

#[test]
fn a_power_cut_at_any_sync_of_the_image_write_loses_nothing() {
    fn open_mem(storage: &MemStorage) -> Store {
        // Strict: every acknowledged write is on disk before the close, so nothing the close
        // does may lose one (in Batched mode the close's own WAL sync makes them durable).
        Store::builder_with_storage(Arc::new(storage.clone()))
            .durability(Durability::Strict)
            .dense_seal_threshold(64)
            .dense_merge_after_idle(None)
            .open()
            .unwrap()
    }
    // How many syncs a close takes (the image is written last).
    let reference = MemStorage::new();
    let store = open_mem(&reference);
    fill(&store);
    let before = reference.sync_count();
    store.close().unwrap();
    let close_syncs = reference.sync_count() - before;
    assert!(close_syncs >= 2, "the image is fsynced, then its directory");

    for k in 1..=close_syncs {
        for torn in [false, true] {
            let storage = MemStorage::new();
            let store = open_mem(&storage);
            fill(&store);
            let expected = answers(&store);
            storage.cut_power_at_sync(Some(storage.sync_count() + k));
            let _ = store.close(); // the cut may fall on the WAL's final sync, or the image's
            common::reboot(&storage, k, torn);
            let store = open_mem(&storage);
            let stats = settled(&store);
            assert_eq!(stats.last_index_error, None, "cut at close sync {k}");
            // (A compact comparison: the full answers would flood the report.)
            let digest = |a: &[Vec<RetrievedClaim>]| format!("{a:?}").len();
            let got = answers(&store);
            assert!(
                got == expected,
                "cut at close sync {k} (torn: {torn}; image loaded: {}): answers differ ({} vs {} bytes)",
                stats.catalog_image_loaded,
                digest(&got),
                digest(&expected)
            );
        }
    }
}

/// Forgetting claims whose vectors are in a saved graph, then a compaction that purges their
/// versions, leaves graph and image fitting: the next open reads both, rebuilds nothing, and
/// never answers with a forgotten claim.
#[test]
fn a_purge_of_forgotten_claims_inside_a_saved_graph_keeps_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SplitMix::new(11);
    let forgotten: Vec<String> = (0..100).step_by(10).map(|i| format!("c{i}")).collect();
    let probe = vector(&mut rng);
    {
        let store = open(dir.path());
        for i in 0..100 {
            store.ingest(item("a", i, &mut rng)).unwrap();
        }
        store.wait_for_indexes();
        assert!(store.stats().dense_graph_docs > 0, "a graph was sealed");
        for id in &forgotten {
            store.forget(&"a".into(), &id.as_str().into()).unwrap();
        }
        // Versions and tombstones into a segment, then the merge that purges them.
        store.checkpoint().unwrap();
        store.compact().unwrap();
        store.wait_for_indexes();
        store.close().unwrap();
    }
    let store = open(dir.path());
    let stats = settled(&store);
    assert!(stats.catalog_image_loaded, "{stats:?}");
    assert_eq!(stats.index_builds, 0, "nothing rebuilt: {stats:?}");
    assert!(stats.dense_graph_docs > 0, "the graph came back: {stats:?}");
    let found = store
        .retrieve(&Query::new("a").embedding(probe).top_k(100))
        .unwrap()
        .results;
    assert_eq!(found.len(), 90, "every claim not forgotten");
    assert!(found
        .iter()
        .all(|r| !forgotten.contains(&r.claim_id.as_str().to_owned())));
}

#[test]
fn an_image_of_more_tenants_than_one_write_batch_reads_back_each_in_its_place() {
    // The image goes to its file 256 tenants at a time: 600 tenants span three batches, and
    // each must come back with its own claims (and no other tenant's).
    let dir = tempfile::tempdir().unwrap();
    let tenants: Vec<String> = (0..600).map(|t| format!("t{t:03}")).collect();
    {
        let store = open(dir.path());
        let mut rng = SplitMix::new(11);
        for (t, tenant) in tenants.iter().enumerate() {
            for i in 0..(1 + t % 3) {
                let mut item = item(tenant, i, &mut rng);
                item.claim.canonical_text = format!("{} marker{t}", item.claim.canonical_text);
                store.ingest(item).unwrap();
            }
        }
        store.close().unwrap();
    }
    let store = open(dir.path());
    let stats = settled(&store);
    assert!(stats.catalog_image_loaded, "{stats:?}");
    assert_eq!(stats.catalog_image_unused, None);
    for (t, tenant) in tenants.iter().enumerate() {
        let results = store
            .retrieve(
                &Query::new(tenant.as_str())
                    .text(format!("marker{t}"))
                    .top_k(10),
            )
            .unwrap()
            .results;
        assert_eq!(results.len(), 1 + t % 3, "{tenant}");
        let other = (t + 1) % tenants.len();
        let foreign = store
            .retrieve(&Query::new(tenant.as_str()).text(format!("marker{other}")))
            .unwrap()
            .results;
        assert!(foreign.is_empty(), "{tenant} sees {}", tenants[other]);
    }
}
