//! Sealed HNSW graphs are saved beside the segments and loaded at open instead of rebuilt; a
//! damaged, truncated or stale graph file is never served: it is discarded and its documents
//! are sealed again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dash::{Claim, Durability, IngestItem, MemStorage, Query, Ranking, Store, StoreStats};
use dash_bench::rng::SplitMix;

const DIM: usize = 16;
const N: usize = 600;

fn vector(rng: &mut SplitMix) -> Vec<f32> {
    (0..DIM).map(|_| rng.unit() as f32 - 0.5).collect()
}

fn item(tenant: &str, i: usize, v: Vec<f32>) -> IngestItem {
    let mut claim = Claim::new(tenant, format!("c{i}"), format!("claim number {i}"));
    claim.embedding = Some(v);
    IngestItem::new(claim)
}

fn open(dir: &Path) -> Store {
    common::sealing_one_version(Store::builder(dir))
        .open()
        .unwrap()
}

/// Dense-only answers (ids and scores) for a fixed set of query vectors.
fn answers(store: &Store, tenant: &str) -> Vec<Vec<(String, f32)>> {
    let mut rng = SplitMix::new(99);
    (0..20)
        .map(|_| {
            let q = Query::new(tenant)
                .embedding(vector(&mut rng))
                .ranking(Ranking::Relevance)
                .top_k(5);
            let r = store.retrieve(&q).unwrap();
            r.results
                .iter()
                .map(|c| (c.claim_id.as_str().to_owned(), c.score))
                .collect()
        })
        .collect()
}

/// Dense answers of one tenant.
type Answers = Vec<Vec<(String, f32)>>;

/// A store with `N` vectors in tenants `a` and `b`, sealed into graphs, closed: the answers
/// and how many documents were in graphs.
fn build(dir: &Path) -> (Answers, Answers, u64) {
    let store = open(dir);
    let mut rng = SplitMix::new(7);
    for i in 0..N {
        store.ingest(item("a", i, vector(&mut rng))).unwrap();
        store.ingest(item("b", i, vector(&mut rng))).unwrap();
        if i == N / 2 {
            store.checkpoint().unwrap(); // half in a segment, half in the WAL
        }
    }
    store.wait_for_indexes();
    let stats = store.stats();
    assert!(
        stats.index_builds > 0 && stats.dense_graphs >= 2,
        "{stats:?}"
    );
    assert_eq!(stats.last_index_error, None);
    assert_eq!(
        stats.dense_mapped_docs, stats.dense_graph_docs,
        "a saved graph is swapped for its view from the file: {stats:?}"
    );
    let answers = (
        answers(&store, "a"),
        answers(&store, "b"),
        stats.dense_graph_docs,
    );
    store.close().unwrap();
    answers
}

/// The files in `graphs/` with this extension, sorted.
fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir.join("graphs"))
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    out.sort();
    out
}

fn graph_files(dir: &Path) -> Vec<PathBuf> {
    files(dir, "graph")
}

fn settled(store: &Store) -> StoreStats {
    store.retrieve(&Query::new("a").text("claim")).unwrap(); // waits for the open's indexing
    store.wait_for_indexes();
    store.stats()
}

#[test]
fn a_clean_restart_loads_the_graphs_instead_of_rebuilding_them() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, in_graphs) = build(dir.path());
    let files = graph_files(dir.path());
    assert!(files.len() >= 2, "one list of graphs per tenant: {files:?}");

    let store = open(dir.path());
    let stats = settled(&store);
    assert_eq!(stats.index_builds, 0, "nothing rebuilt: {stats:?}");
    assert_eq!(stats.graphs_loaded as usize, files.len());
    assert_eq!(stats.graphs_discarded, 0);
    assert_eq!(
        stats.dense_graph_docs, in_graphs,
        "every sealed vector is in a loaded graph"
    );
    assert_eq!(
        stats.dense_mapped_docs, in_graphs,
        "loaded graphs are viewed from their mapped files"
    );
    assert_eq!(
        (stats.dense_graph_docs + stats.dense_exact_docs) as usize,
        2 * N
    );
    assert_eq!((answers(&store, "a"), answers(&store, "b")), (a, b));
    store.close().unwrap();
    assert_eq!(graph_files(dir.path()), files, "a restart rewrites nothing");
}

#[test]
fn a_damaged_or_truncated_graph_file_is_discarded_and_rebuilt() {
    for damage in ["flip", "truncate", "remove"] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, _) = build(dir.path());
        let files = graph_files(dir.path());
        let victim = &files[0];
        let mut bytes = std::fs::read(victim).unwrap();
        match damage {
            "flip" => {
                let at = bytes.len() / 2;
                bytes[at] ^= 0x01;
                std::fs::write(victim, &bytes).unwrap();
            }
            "truncate" => std::fs::write(victim, &bytes[..bytes.len() - 100]).unwrap(),
            _ => std::fs::remove_file(victim).unwrap(),
        }
        let store = open(dir.path());
        let stats = settled(&store);
        assert_eq!(stats.graphs_discarded, 1, "{damage}: {stats:?}");
        assert_eq!(stats.graphs_loaded as usize, files.len() - 1, "{damage}");
        // The lost graph's documents are searched exactly, and sealed again once due.
        let dense_docs = stats.dense_graph_docs + stats.dense_exact_docs;
        assert_eq!(dense_docs as usize, 2 * N, "{damage}: {stats:?}");
        // Dense answers are approximate, but the nearest neighbour of each query is stable.
        let firsts = |r: &Vec<Vec<(String, f32)>>| -> Vec<String> {
            r.iter().map(|x| x[0].0.clone()).collect()
        };
        assert_eq!(firsts(&answers(&store, "a")), firsts(&a), "{damage}");
        assert_eq!(firsts(&answers(&store, "b")), firsts(&b), "{damage}");
        assert!(
            !victim.exists() || damage == "remove",
            "{damage}: the bad file was removed"
        );
        store.close().unwrap();
    }
}

#[test]
fn graphs_numbered_before_retention_dropped_versions_are_not_adopted() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    {
        // New versions of the first claims, then a merge that keeps one version per claim: the
        // next open numbers documents without the dropped ones, so saved numbers move.
        let store = open(dir.path());
        let mut rng = SplitMix::new(8);
        for i in 0..10 {
            store.ingest(item("a", i, vector(&mut rng))).unwrap();
        }
        store.checkpoint().unwrap();
        store.compact().unwrap();
        store.close().unwrap();
    }
    // Without the catalog image (as after a crash) the open indexes the segments and numbers
    // their documents afresh. (From the image the numbers stay, and the graphs fit: see
    // `tests/catalog_image.rs`.)
    std::fs::remove_file(dir.path().join("catalog.image")).unwrap();
    let store = open(dir.path());
    let stats = settled(&store);
    assert!(!stats.catalog_image_loaded);
    assert!(stats.graphs_discarded >= 1, "{stats:?}");
    assert!(stats.index_builds >= 1);
    assert_eq!(stats.last_index_error, None);
    // Every current vector is searchable, each claim once, with its newest version.
    let r = store
        .retrieve(&Query::new("a").embedding(vec![0.1; DIM]).top_k(N + 50))
        .unwrap();
    let mut ids: Vec<&str> = r.results.iter().map(|c| c.claim_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), N);
    store.close().unwrap();
}

#[test]
fn graph_files_are_kept_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let lists = files(dir.path(), "list");
    assert_eq!(lists.len(), 2, "one list per tenant");
    // Swapping the two tenants' lists must not hand one tenant's graph to the other: each list
    // names its tenant, which must match its file name.
    let (la, lb) = (&lists[0], &lists[1]);
    let (ba, bb) = (std::fs::read(la).unwrap(), std::fs::read(lb).unwrap());
    std::fs::write(la, bb).unwrap();
    std::fs::write(lb, ba).unwrap();
    let store = open(dir.path());
    let stats = settled(&store);
    assert_eq!(stats.graphs_loaded, 0, "{stats:?}");
    assert_eq!(stats.graphs_discarded, 2);
    let dense_docs = stats.dense_graph_docs + stats.dense_exact_docs;
    assert_eq!(dense_docs as usize, 2 * N, "every vector searchable");
    store.close().unwrap();
}

/// A store whose graphs store f16 vectors saves and reloads them as they are: the reopen
/// rebuilds nothing, answers as before, and each claim's own vector finds it first with the
/// score an f16 copy gives (within 10⁻³ of 1).
#[test]
fn f16_graphs_are_saved_and_viewed_as_they_were_built() {
    use dash::index::{HnswParams, Quantization};
    let dir = tempfile::tempdir().unwrap();
    let open_f16 = || {
        Store::builder(dir.path())
            .dense_seal_threshold(100)
            .dense_merge_after_idle(None)
            .hnsw_params(HnswParams {
                quantization: Quantization::F16,
                ..HnswParams::default()
            })
            .open()
            .unwrap()
    };
    let store = open_f16();
    let mut rng = SplitMix::new(3);
    let vectors: Vec<Vec<f32>> = (0..N).map(|_| vector(&mut rng)).collect();
    for (i, v) in vectors.iter().enumerate() {
        store.ingest(item("a", i, v.clone())).unwrap();
    }
    store.wait_for_indexes();
    let before = answers(&store, "a");
    let in_graphs = store.stats().dense_graph_docs;
    assert!(in_graphs >= 500, "{:?}", store.stats());
    store.close().unwrap();

    let store = open_f16();
    let stats = settled(&store);
    assert_eq!(stats.index_builds, 0, "nothing rebuilt: {stats:?}");
    assert!(
        stats.graphs_loaded >= 1 && stats.graphs_discarded == 0,
        "{stats:?}"
    );
    assert_eq!(stats.dense_graph_docs, in_graphs);
    assert_eq!(answers(&store, "a"), before);
    for i in [0, 99, 250, 599] {
        let q = Query::new("a")
            .embedding(vectors[i].clone())
            .ranking(Ranking::Relevance)
            .top_k(1);
        let top = &store.retrieve(&q).unwrap().results[0];
        assert_eq!(top.claim_id.as_str(), format!("c{i}"));
        assert!((top.score - 1.0).abs() < 1e-3, "{}", top.score);
    }
}

/// A power cut at any sync of a graph's save (graph file, its directory, the tenant's list),
/// clean or with the unsynced bytes torn, loses no acknowledged write and serves no half-saved
/// graph: the next open either adopts the graph (a save that finished) or seals its documents
/// again; every claim stays densely searchable, nothing reports an index error.
#[test]
fn a_power_cut_at_any_sync_of_a_graph_save_loses_nothing() {
    const M: usize = 300;
    fn open_mem(storage: &MemStorage) -> Store {
        Store::builder_with_storage(Arc::new(storage.clone()))
            .durability(Durability::Strict)
            .auto_checkpoint(false)
            .detection(dash::detect::DetectionConfig::disabled())
            .dense_seal_threshold(100)
            .dense_merge_after_idle(None)
            .open()
            .unwrap()
    }
    let items = || {
        let mut rng = SplitMix::new(11);
        (0..M)
            .map(|i| item("a", i, vector(&mut rng)))
            .collect::<Vec<_>>()
    };
    // The syncs after the batch's own: the seal's graph save, nothing else (no checkpoint, no
    // detection, no idle merge).
    let reference = MemStorage::new();
    let store = open_mem(&reference);
    let base = reference.sync_count();
    store.ingest_batch("load", items()).unwrap();
    store.wait_for_indexes();
    let stats = store.stats();
    assert!(
        stats.dense_mapped_docs > 0,
        "the graph was saved and mapped: {stats:?}"
    );
    let save_syncs = reference.sync_count() - base - 1;
    assert!(save_syncs >= 2, "a graph save syncs its file and a list");
    store.close().unwrap();

    let probe = |store: &Store| {
        let r = store
            .retrieve(&Query::new("a").embedding(vec![0.1; DIM]).top_k(M + 10))
            .unwrap();
        let mut ids: Vec<String> = r.results.iter().map(|c| c.claim_id.to_string()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    };
    // Cuts at each of the save's syncs, and one after it (at the close's first sync).
    for k in 1..=save_syncs + 1 {
        for torn in [false, true] {
            let storage = MemStorage::new();
            let store = open_mem(&storage);
            storage.cut_power_at_sync(Some(storage.sync_count() + 1 + k));
            store.ingest_batch("load", items()).unwrap();
            store.wait_for_indexes();
            drop(store); // the power is off: the close's syncs fail
            common::reboot(&storage, k, torn);
            let store = open_mem(&storage);
            let stats = settled(&store);
            let context = format!("cut at save sync {k} (torn: {torn}): {stats:?}");
            assert_eq!(stats.last_index_error, None, "{context}");
            assert!(!stats.catalog_image_loaded, "{context}");
            assert_eq!(probe(&store), M, "{context}");
            if k > save_syncs {
                assert_eq!(stats.graphs_loaded, 1, "a whole save is adopted: {context}");
                assert_eq!(stats.index_builds, 0, "{context}");
            }
            assert_eq!(
                (stats.dense_graph_docs + stats.dense_exact_docs) as usize,
                M,
                "{context}"
            );
            store.close().unwrap();
        }
    }
}
