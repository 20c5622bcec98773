//! Claims whose versions are in segments are read from the mapped segment files when an answer
//! is assembled (the catalog keeps no decoded copy): answers are the same before a checkpoint,
//! after it, after a reopen and after a merge that drops versions; and a merge leaves no
//! merged-away segment file mapped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dash::{
    Claim, Edge, Evidence, IngestItem, Query, Relation, Retention, RetrieveResponse, Stance, Store,
    Timestamp,
};

const TENANT: &str = "acme";

/// Claim `i`, version `v`: text, two pieces of evidence (one contradicting), a valid-time
/// interval, and (for odd `i`) a caller's `contradicts` edge to the previous claim.
fn item(i: usize, v: u32) -> IngestItem {
    let id = format!("c{i}");
    let mut claim = Claim::new(
        TENANT,
        id.as_str(),
        format!("glacier {i} retreat measured in revision {v} of the survey"),
    );
    claim.entities = vec![format!("glacier-{i}")];
    claim.valid_from = Some(Timestamp::from_year(1990 + (i % 20) as i32).unwrap());
    let mut support = Evidence::new(
        format!("{id}-s{v}"),
        id.as_str(),
        "survey",
        Stance::Supports,
    );
    support.excerpt = Some(format!("the survey of glacier {i}"));
    support.span_start = Some(0);
    support.span_end = Some(10);
    let against = Evidence::new(
        format!("{id}-x{v}"),
        id.as_str(),
        "blog",
        Stance::Contradicts,
    );
    let mut it = IngestItem::new(claim)
        .with_evidence(support)
        .with_evidence(against);
    if i % 2 == 1 {
        it = it.with_edge(Edge::new(
            id.as_str(),
            format!("c{}", i - 1),
            Relation::Contradicts,
        ));
    }
    it
}

/// What a user sees of an answer: ids, versions, texts, evidence, citations and conflicts.
fn seen(r: &RetrieveResponse) -> String {
    let mut out = String::new();
    for c in &r.results {
        out.push_str(&format!(
            "{} v{} {} | {:?} | {:?} | {:?} | {:?} | {:?}\n",
            c.claim_id,
            c.version,
            c.canonical_text,
            c.valid_from,
            c.supporting_evidence,
            c.contradicting_evidence,
            c.citations,
            c.conflicts
                .iter()
                .map(|x| (x.claim_id.as_str().to_owned(), x.canonical_text.clone()))
                .collect::<Vec<_>>(),
        ));
    }
    out
}

fn answers(store: &Store) -> Vec<String> {
    // Conflicts include the detection stage's edges: compare answers once it has caught up
    // (a query waits only 100 ms for it, which a loaded machine may exceed).
    assert!(store.wait_for_detection());
    [
        "glacier retreat",
        "survey revision 2",
        "glacier 7",
        "glacier 12 survey",
    ]
    .iter()
    .map(|q| {
        seen(
            &store
                .retrieve(&Query::new(TENANT).text(*q).top_k(10))
                .unwrap(),
        )
    })
    .collect()
}

#[test]
fn answers_read_from_mapped_segments_equal_the_ingested_content() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Store::builder(dir.path())
            .retention(Retention {
                max_versions: Some(1),
                purge_forgotten: true,
            })
            .open()
            .unwrap()
    };
    let store = open();
    for i in 0..40 {
        store.ingest(item(i, 1)).unwrap();
    }
    let in_memory = answers(&store);
    assert!(in_memory.iter().all(|a| !a.is_empty()));
    assert!(in_memory[0].contains("c1 v1") && in_memory[0].contains("survey of glacier"));

    store.checkpoint().unwrap();
    assert_eq!(
        answers(&store),
        in_memory,
        "after the checkpoint (read from the segment)"
    );
    drop(store);
    let store = open();
    assert_eq!(answers(&store), in_memory, "after a reopen");

    // New versions of half the claims, then a merge that keeps one version per claim.
    for i in 0..20 {
        store.ingest(item(i, 2)).unwrap();
    }
    store.checkpoint().unwrap();
    let before_merge = answers(&store);
    assert!(before_merge[1].contains("v2"));
    store.compact().unwrap();
    assert_eq!(
        answers(&store),
        before_merge,
        "after a merge that dropped versions"
    );
    let history = store
        .versions(&TENANT.into(), &"c3".into())
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect::<Vec<_>>();
    assert_eq!(history, [2], "retention kept one version");
    drop(store);
    let store = open();
    assert_eq!(
        answers(&store),
        before_merge,
        "after a reopen of the merged store"
    );
}

/// Mapped files of `dir` that have been unlinked (Linux shows them as "(deleted)").
#[cfg(target_os = "linux")]
fn deleted_mappings(dir: &std::path::Path) -> Vec<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let dir = dir.canonicalize().unwrap();
    maps.lines()
        .filter(|l| l.contains(dir.to_str().unwrap()) && l.ends_with("(deleted)"))
        .map(str::to_owned)
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn a_merge_leaves_no_merged_away_segment_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    for round in 0..3u32 {
        for i in 0..30 {
            store.ingest(item(i, round + 1)).unwrap();
        }
        store.checkpoint().unwrap();
    }
    let before = answers(&store);
    assert!(store.stats().segments >= 3);
    store.compact().unwrap();
    assert_eq!(store.stats().segments, 1);
    assert_eq!(answers(&store), before);
    // The previous manifest generation keeps its files until the next one is published.
    store.ingest(item(99, 1)).unwrap();
    store.checkpoint().unwrap();
    let files = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .count();
    assert_eq!(files, 2, "the merged segment and the new checkpoint's");
    // The merged-away files are gone from the directory and from the address space: the
    // catalog moved every document to the merged segment.
    assert_eq!(deleted_mappings(dir.path()), Vec::<String>::new());
    assert_eq!(answers(&store), before);
}
