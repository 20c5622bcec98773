//! The store's embedder: claims sent without a vector are embedded in the background (lexically
//! visible at once, densely once embedded), queries without a vector are embedded, the vectors
//! are stored (a reopen does not embed again), a tenant whose vectors come from another model is
//! never embedded by the store, and mixing models in a tenant is refused.
//!
//! The embedder here is a small deterministic one written for the test (word hashing): what is
//! checked is the store's use of the `Embedder` trait; the real model's parity with
//! sentence-transformers is `dash-core/tests/embedder.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dash::embed::{EmbedError, Embedder};
use dash::{Claim, IngestItem, MemStorage, Query, Store, TenantId, ValidationError, WriteError};

/// Bag of words hashed into 16 buckets, L2-normalised; counts the texts it embeds.
#[derive(Debug, Default)]
struct Hashing {
    texts: AtomicUsize,
}

const DIM: usize = 16;

impl Embedder for Hashing {
    fn model(&self) -> &str {
        "test-hashing-16"
    }
    fn dimension(&self) -> usize {
        DIM
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.texts.fetch_add(texts.len(), Ordering::SeqCst);
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = [0.0f32; DIM];
                for w in t.split_whitespace() {
                    let h = w
                        .to_lowercase()
                        .bytes()
                        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
                    v[h as usize % DIM] += 1.0;
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                v.iter().map(|x| x / norm).collect()
            })
            .collect())
    }
}

fn open(storage: &MemStorage, embedder: &Arc<Hashing>) -> Store {
    Store::builder_with_storage(Arc::new(storage.clone()))
        .embedder(embedder.clone())
        .open()
        .unwrap()
}

fn text(tenant: &str, id: &str, text: &str) -> IngestItem {
    IngestItem::new(Claim::new(tenant, id, text))
}

#[test]
fn claims_and_queries_without_vectors_are_embedded_and_the_vectors_kept() {
    let storage = MemStorage::new();
    let embedder = Arc::new(Hashing::default());
    let store = open(&storage, &embedder);
    for (id, t) in [
        ("a", "glaciers retreat in the alps"),
        ("b", "coral reefs bleach in warm water"),
        ("c", "sea ice shrinks every summer"),
    ] {
        store.ingest(text("t", id, t)).unwrap();
    }
    assert!(store.wait_for_detection());
    let stats = store.stats();
    assert_eq!(stats.embedded_vectors, 3, "{stats:?}");
    assert_eq!(
        store.embedding_dimension(&TenantId::new("t")),
        Some(DIM as u32)
    );
    // A text-only query is embedded too: dense scores appear without a query vector.
    let r = store
        .retrieve(&Query::new("t").text("coral reefs bleach in warm water"))
        .unwrap();
    assert_eq!(r.results[0].claim_id.as_str(), "b");
    assert!(
        r.results[0].score_breakdown.dense > 0.99,
        "{:?}",
        r.results[0]
    );
    // What the caller sent is what get_claim returns: no vector was sent.
    let stored = store
        .get_claim(&TenantId::new("t"), &"b".into())
        .unwrap()
        .unwrap();
    assert!(stored.item.claim.embedding.is_none());

    // The vectors are stored: a reopen (WAL replay, then from a segment) embeds nothing again
    // and still answers densely.
    store.close().unwrap();
    for round in 0..2 {
        let before = embedder.texts.load(Ordering::SeqCst);
        let store = open(&storage, &embedder);
        assert!(store.wait_for_detection());
        let r = store
            .retrieve(
                &Query::new("t").embedding(
                    embedder
                        .embed(&["sea ice shrinks every summer"])
                        .unwrap()
                        .remove(0),
                ),
            )
            .unwrap();
        assert_eq!(r.results[0].claim_id.as_str(), "c", "round {round}");
        assert!(r.results[0].score_breakdown.dense > 0.99);
        // One text: the query above; no claim was embedded again.
        assert_eq!(
            embedder.texts.load(Ordering::SeqCst),
            before + 1,
            "round {round}"
        );
        if round == 0 {
            store.checkpoint().unwrap();
        }
        store.close().unwrap();
    }
}

#[test]
fn a_tenant_with_other_vectors_is_not_embedded_and_models_never_mix() {
    let storage = MemStorage::new();
    let embedder = Arc::new(Hashing::default());
    let store = open(&storage, &embedder);
    // Tenant "own" names its model: the store never embeds its text-only claims.
    let mut named = Claim::new("own", "v1", "a claim with its own vector");
    named.embedding = Some(vec![0.6, 0.8]);
    named.embedding_model = Some("caller-model".into());
    store.ingest(IngestItem::new(named)).unwrap();
    store
        .ingest(text("own", "v2", "a claim without a vector"))
        .unwrap();
    // Tenant "store" is embedded by the store; a caller vector of another model is refused.
    store
        .ingest(text("store", "s1", "embedded by the store"))
        .unwrap();
    assert!(store.wait_for_detection());
    let stats = store.stats();
    assert_eq!(stats.embedded_vectors, 1, "{stats:?}");
    assert_eq!(stats.embedding_skipped, 1, "{stats:?}");
    let mut other = Claim::new("store", "s2", "a vector from elsewhere");
    other.embedding = Some(vec![1.0; DIM]);
    other.embedding_model = Some("caller-model".into());
    let err = store.ingest(IngestItem::new(other)).unwrap_err();
    assert!(
        matches!(
            err,
            WriteError::Invalid {
                source: ValidationError::EmbeddingModel { .. },
                ..
            }
        ),
        "{err:?}"
    );
    // An unnamed vector into a tenant whose vectors name their model is refused as well.
    let mut unnamed = Claim::new("own", "v3", "unnamed");
    unnamed.embedding = Some(vec![0.8, 0.6]);
    assert!(store.ingest(IngestItem::new(unnamed)).is_err());
    // Refused writes changed nothing.
    assert!(store
        .get_claim(&TenantId::new("store"), &"s2".into())
        .unwrap()
        .is_none());
    assert!(store
        .get_claim(&TenantId::new("own"), &"v3".into())
        .unwrap()
        .is_none());
    // A text query in "own" is not embedded by the store (its vectors are another model's).
    let before = embedder.texts.load(Ordering::SeqCst);
    store.retrieve(&Query::new("own").text("a claim")).unwrap();
    assert_eq!(embedder.texts.load(Ordering::SeqCst), before);
}

/// An open without the catalog image (as after a crash) whose saved graph no longer fits the
/// documents' numbering (a merge dropped old versions) does not adopt it: the store-made
/// vectors the graph held are read back from the segments' derived sections — nothing is
/// embedded again, and every current claim stays densely searchable.
#[test]
fn store_made_vectors_of_a_graph_that_no_longer_fits_are_read_back_from_the_segments() {
    const N: usize = 240;
    let dir = tempfile::tempdir().unwrap();
    let embedder = Arc::new(Hashing::default());
    let open = || {
        common::sealing_one_version(Store::builder(dir.path()).embedder(embedder.clone()))
            .open()
            .unwrap()
    };
    let words = [
        "ice", "sea", "heat", "storm", "coast", "river", "forest", "glacier",
    ];
    let claim = |i: usize, round: usize| {
        let t = format!(
            "{} {} {} {round}",
            words[i % 8],
            words[(i / 8) % 8],
            words[(i / 64) % 8]
        );
        text("t", &format!("c{i}"), &t)
    };
    {
        let store = open();
        for i in 0..N {
            store.ingest(claim(i, 0)).unwrap();
        }
        assert!(store.wait_for_detection());
        store.checkpoint().unwrap();
        store.wait_for_indexes();
        let stats = store.stats();
        assert!(stats.dense_graph_docs > 0, "a graph was sealed: {stats:?}");
        // New versions of the first claims; the merge keeps one version per claim, so the next
        // open without the image numbers the documents differently from the saved graph.
        for i in 0..20 {
            store.ingest(claim(i, 1)).unwrap();
        }
        assert!(store.wait_for_detection());
        store.checkpoint().unwrap();
        store.compact().unwrap();
        store.close().unwrap();
    }
    std::fs::remove_file(dir.path().join("catalog.image")).unwrap();
    let embedded = embedder.texts.load(Ordering::SeqCst);
    let store = open();
    let probe = vec![0.25; DIM];
    let r = store
        .retrieve(&Query::new("t").embedding(probe.clone()).top_k(N + 50))
        .unwrap();
    store.wait_for_indexes();
    let stats = store.stats();
    assert!(!stats.catalog_image_loaded, "{stats:?}");
    assert!(stats.graphs_discarded >= 1, "{stats:?}");
    assert_eq!(stats.last_index_error, None);
    let mut ids: Vec<&str> = r.results.iter().map(|c| c.claim_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), N, "every claim has its vector");
    assert!(r.results.iter().all(|c| c.score_breakdown.dense > 0.0));
    assert_eq!(
        embedder.texts.load(Ordering::SeqCst),
        embedded,
        "nothing embedded again"
    );
    // A claim's own (stored) vector finds it: the vector read back is the one embedded.
    let own = embedder.embed(&["ice sea ice 1"]).unwrap().remove(0);
    let r = store
        .retrieve(&Query::new("t").embedding(own).top_k(3))
        .unwrap();
    assert!(
        r.results[0].score_breakdown.dense > 0.999,
        "{:?}",
        r.results[0]
    );
    store.close().unwrap();
}
