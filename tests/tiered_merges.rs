//! Size-tiered merges end to end: a checkpoint merges a run of similar segments and leaves the
//! larger, older ones alone; retention inside such a run keeps what older segments still need
//! (a tombstone shadowing their versions); answers, history and retrieval are the same before
//! and after, and after a reopen; the write amplification of many checkpoints stays about one
//! rewrite per tier.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dash::{Claim, ClaimId, IngestItem, MergePolicy, Query, Store, TenantId};

fn t() -> TenantId {
    TenantId::new("a")
}

fn c(s: &str) -> ClaimId {
    ClaimId::new(s)
}

fn item(id: &str, text: &str) -> IngestItem {
    IngestItem::new(Claim::new("a", id, text))
}

/// Small segments (under 64 KiB) are all alike; the first, bulky one is not.
fn builder(dir: &std::path::Path) -> dash::StoreBuilder {
    Store::builder(dir)
        .auto_checkpoint(false)
        .detection(dash::detect::DetectionConfig::disabled())
        .merge_policy(MergePolicy {
            width: 2,
            size_ratio: 1,
            floor_bytes: 64 * 1024,
        })
}

fn texts_of(store: &Store, text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = store
        .retrieve(&Query::new("a").text(text).top_k(50))
        .unwrap()
        .results
        .into_iter()
        .map(|r| (r.claim_id.to_string(), r.canonical_text))
        .collect();
    out.sort();
    out
}

fn versions(store: &Store, id: &str) -> Vec<(u32, bool)> {
    store
        .versions(&t(), &c(id))
        .unwrap()
        .iter()
        .map(|v| (v.version, v.item().is_some()))
        .collect()
}

#[test]
fn a_run_of_small_segments_merges_and_keeps_the_tombstone_older_segments_need() {
    let dir = tempfile::tempdir().unwrap();
    let store = builder(dir.path()).open().unwrap();
    let bulk: Vec<IngestItem> = (0..600)
        .map(|k| item(&format!("bulk{k}"), &format!("bulk claim number {k} about glaciers and sea ice in the arctic ocean, measured by satellites over decades")))
        .collect();
    for (n, chunk) in bulk.chunks(200).enumerate() {
        store
            .ingest_batch(format!("bulk-{n}"), chunk.to_vec())
            .unwrap();
    }
    store.ingest(item("x", "the secret version of x")).unwrap();
    let first = store.checkpoint().unwrap();
    assert!(first.segment_bytes > 64 * 1024, "{first:?}");
    let big = first.segment_written.unwrap();

    store.forget(&t(), &c("x")).unwrap();
    let second = store.checkpoint().unwrap();
    assert!(!second.merged, "a big and a small segment are not alike");
    assert_eq!(second.segments, 2);

    store
        .ingest(item("y", "y lives in a small segment"))
        .unwrap();
    let third = store.checkpoint().unwrap();
    assert_eq!(
        third.merged_from,
        vec![
            second.segment_written.unwrap(),
            third.segment_written.unwrap()
        ],
        "the two small segments merge, the big one stays"
    );
    assert_eq!(third.segments, 2);
    // x's first version is in the big segment, unmerged: its tombstone must survive.
    assert_eq!(versions(&store, "x"), vec![(1, true), (2, false)]);
    assert!(store.get_claim(&t(), &c("x")).unwrap().is_none());
    assert!(texts_of(&store, "secret").is_empty());

    store.ingest(item("x", "x begins a new life")).unwrap();
    let fourth = store.checkpoint().unwrap();
    assert_eq!(fourth.merged_from.len(), 2);
    assert!(!fourth.merged_from.contains(&big));
    assert_eq!(
        versions(&store, "x"),
        vec![(1, true), (2, false), (3, true)]
    );
    let expect_x = vec![("x".to_string(), "x begins a new life".to_string())];
    assert_eq!(texts_of(&store, "new life"), expect_x);
    assert_eq!(store.stats().claims, 602);
    store.close().unwrap();

    // The same after a reopen; then a full merge forgets x's first life for good.
    let store = builder(dir.path()).open().unwrap();
    assert_eq!(
        versions(&store, "x"),
        vec![(1, true), (2, false), (3, true)]
    );
    assert_eq!(texts_of(&store, "new life"), expect_x);
    assert!(texts_of(&store, "secret").is_empty());
    let bulk7 = store.get_claim(&t(), &c("bulk7")).unwrap().unwrap();
    assert!(bulk7.item.claim.canonical_text.contains("number 7 "));
    let all = store.compact().unwrap();
    assert_eq!(all.merged_from.len(), 2);
    assert_eq!(all.segments, 1);
    assert_eq!(versions(&store, "x"), vec![(3, true)]);
    assert_eq!(texts_of(&store, "new life"), expect_x);
    assert_eq!(
        texts_of(&store, "y small segment"),
        vec![("y".to_string(), "y lives in a small segment".to_string())]
    );
}

/// 48 checkpoints of similar size: the store never holds many segments and rewrites each byte
/// about once per tier (a merge of everything at every checkpoint over the cap would rewrite
/// each byte ~20 times here), and every claim is still there after a reopen.
#[test]
fn many_checkpoints_rewrite_each_byte_about_once_per_tier() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Store::builder(dir.path())
            .auto_checkpoint(false)
            .detection(dash::detect::DetectionConfig::disabled())
            .max_segments(8)
            .merge_policy(MergePolicy {
                floor_bytes: 1,
                ..MergePolicy::default()
            })
            .open()
            .unwrap()
    };
    let store = open();
    let mut most = 0;
    for round in 0..48 {
        let items = (0..50)
            .map(|k| {
                item(
                    &format!("r{round}-{k}"),
                    &format!("claim {k} of round {round}"),
                )
            })
            .collect();
        store.ingest_batch(format!("round-{round}"), items).unwrap();
        let report = store.checkpoint().unwrap();
        most = most.max(report.segments);
    }
    let stats = store.stats();
    assert!(most <= 8, "at most {most} segments");
    assert!(stats.merges >= 10, "{} merges", stats.merges);
    let amplification = stats.merge_bytes as f64 / stats.checkpoint_bytes as f64;
    assert!(
        (1.0..=3.5).contains(&amplification),
        "merges rewrote {amplification:.2} times what checkpoints wrote"
    );
    store.close().unwrap();
    let store = open();
    assert_eq!(store.stats().claims, 48 * 50);
    for round in [0, 17, 47] {
        let rec = store
            .get_claim(&t(), &c(&format!("r{round}-3")))
            .unwrap()
            .unwrap();
        assert_eq!(
            rec.item.claim.canonical_text,
            format!("claim 3 of round {round}")
        );
    }
}
