//! `Store::retrieve` end to end on a real directory: read-your-writes, tenant isolation,
//! bi-temporal visibility, stance modes, conflicts, citations, filters, `supersedes`, reopen,
//! the sealed dense graph path, retention, query validation, the claim graph, `explain` and the
//! JSON contract.
//!
//! Tests marked `Regression` guard bugs this suite found (each comment says which).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{find, get, id_set, ids};
use dash::index::HnswParams;
use dash::{
    Claim, ClaimId, Edge, Evidence, IngestItem, Query, QueryError, Relation, Retention,
    RetrieveResponse, RetrievedClaim, Stance, StanceMode, Store, TenantId, Timestamp,
    ValidationError,
};
use dash_bench::rng::SplitMix;

const DIM: usize = 16;

const WORDS: &[&str] = &[
    "arctic", "ice", "sea", "level", "rising", "carbon", "warming", "glacier", "melting", "ocean",
    "heat", "storm", "drought", "forest", "river", "coast",
];

fn t(s: &str) -> TenantId {
    TenantId::new(s)
}

fn c(s: &str) -> ClaimId {
    ClaimId::new(s)
}

fn year(y: i32) -> Timestamp {
    Timestamp::from_year(y).unwrap()
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

/// A claim with one supporting piece of evidence (with chunk and span) from `{tenant}-source`;
/// the evidence id is `{tenant}-{id}-e1`, so answers show which tenant a result came from.
fn item(tenant: &str, id: &str, text: &str) -> IngestItem {
    let mut ev = Evidence::new(
        format!("{tenant}-{id}-e1"),
        id,
        format!("{tenant}-source"),
        Stance::Supports,
    );
    ev.chunk_id = Some(format!("{id}-chunk"));
    ev.span_start = Some(0);
    ev.span_end = Some(text.len() as u64);
    IngestItem::new(Claim::new(tenant, id, text)).with_evidence(ev)
}

fn with_embedding(mut it: IngestItem, v: &[f32]) -> IngestItem {
    it.claim.embedding = Some(v.to_vec());
    it
}

fn evidence(claim: &str, id: &str, source: &str, stance: Stance, quality: f32) -> Evidence {
    let mut e = Evidence::new(id, claim, source, stance);
    e.source_quality = quality;
    e
}

/// A deterministic vector with components in `-1..1`.
fn vector(rng: &mut SplitMix) -> Vec<f32> {
    (0..DIM)
        .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0)
        .collect()
}

/// 3..=8 words of [`WORDS`].
fn text(rng: &mut SplitMix) -> String {
    let n = 3 + (rng.next_u64() % 6) as usize;
    (0..n)
        .map(|_| WORDS[(rng.next_u64() % WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

/// What identifies an answer across reopens: claim ids and versions, in order.
fn ranking(r: &RetrieveResponse) -> Vec<(String, u32)> {
    r.results
        .iter()
        .map(|x| (x.claim_id.to_string(), x.version))
        .collect()
}

// 1 ------------------------------------------------------------------------------------------

#[test]
fn a_write_is_visible_to_lexical_and_dense_retrieval_as_soon_as_ingest_returns() {
    let dir = tempfile::tempdir().unwrap();
    // A tiny seal threshold, so background graph builds run while we write and query.
    let store = Store::builder(dir.path())
        .dense_seal_threshold(8)
        .open()
        .unwrap();
    let mut rng = SplitMix::new(1);
    for k in 0..40 {
        let id = format!("c{k}");
        let marker = format!("zq{k}marker");
        let v = vector(&mut rng);
        let it = item("a", &id, &format!("{} {marker}", text(&mut rng)));
        store.ingest(with_embedding(it, &v)).unwrap();

        let lexical = store
            .retrieve(&Query::new("a").text(marker.as_str()).top_k(5))
            .unwrap();
        assert_eq!(
            ids(&lexical),
            [id.as_str()],
            "text query right after ingest"
        );
        assert_eq!(lexical.results[0].version, 1);

        let dense = store
            .retrieve(&Query::new("a").embedding(v.clone()).top_k(1))
            .unwrap();
        assert_eq!(
            ids(&dense),
            [id.as_str()],
            "embedding query right after ingest"
        );
        assert!(dense.results[0].score_breakdown.dense > 0.999);
        assert_eq!(dense.results[0].score_breakdown.lexical, 0.0);
    }
    // A new version replaces the old one for both paths at once.
    let v = vector(&mut rng);
    store
        .ingest(with_embedding(
            item("a", "c3", "completely new wording zqnew"),
            &v,
        ))
        .unwrap();
    let lexical = store
        .retrieve(&Query::new("a").text("zqnew").top_k(5))
        .unwrap();
    assert_eq!(ranking(&lexical), [("c3".to_string(), 2)]);
    assert!(store
        .retrieve(&Query::new("a").text("zq3marker"))
        .unwrap()
        .results
        .is_empty());
    let dense = store
        .retrieve(&Query::new("a").embedding(v).top_k(1))
        .unwrap();
    assert_eq!(ranking(&dense), [("c3".to_string(), 2)]);
}

// 2 ------------------------------------------------------------------------------------------

/// `n` claims `c0..` of `tenant`, the same texts and embeddings for every tenant.
fn corpus(tenant: &str, n: usize) -> Vec<IngestItem> {
    let mut rng = SplitMix::new(42);
    (0..n)
        .map(|k| {
            let text = text(&mut rng);
            let v = vector(&mut rng);
            with_embedding(item(tenant, &format!("c{k}"), &text), &v)
        })
        .collect()
}

fn extra(tenant: &str, n: usize, seed: u64) -> Vec<IngestItem> {
    let mut rng = SplitMix::new(seed);
    (0..n)
        .map(|k| {
            let text = format!("{} arctic sea ice", text(&mut rng));
            let v = vector(&mut rng);
            with_embedding(item(tenant, &format!("x{seed}-{k}"), &text), &v)
        })
        .collect()
}

fn query_vector() -> Vec<f32> {
    vector(&mut SplitMix::new(7))
}

/// The tenant's text, embedding and hybrid answers.
fn probe(store: &Store, tenant: &str) -> [RetrieveResponse; 3] {
    // Conflicts are part of the answers compared: detection must have caught up.
    assert!(store.wait_for_detection());
    let q = Query::new(tenant).top_k(10);
    [
        store.retrieve(&q.clone().text("arctic sea ice")).unwrap(),
        store
            .retrieve(&q.clone().embedding(query_vector()))
            .unwrap(),
        store
            .retrieve(&q.text("glacier melting ocean").embedding(query_vector()))
            .unwrap(),
    ]
}

fn assert_only_own(answers: &[RetrieveResponse], tenant: &str) {
    for a in answers {
        assert_eq!(a.tenant_id.as_str(), tenant);
        assert!(!a.results.is_empty(), "{tenant}: no results");
        for r in &a.results {
            for e in r
                .supporting_evidence
                .iter()
                .chain(&r.contradicting_evidence)
            {
                assert_eq!(e.source_id, format!("{tenant}-source"), "{r:?}");
                assert!(e.evidence_id.starts_with(&format!("{tenant}-")), "{r:?}");
            }
            assert!(!r.citations.is_empty());
            for cit in &r.citations {
                assert_eq!(cit.source_id, format!("{tenant}-source"), "{r:?}");
            }
        }
    }
}

/// Bit-for-bit equality of two answers' results (ids, versions, scores and breakdowns).
fn assert_same_bits(before: &[RetrieveResponse], after: &[RetrieveResponse]) {
    for (b, a) in before.iter().zip(after) {
        assert_eq!(ranking(b), ranking(a));
        for (x, y) in b.results.iter().zip(&a.results) {
            let bits = |r: &RetrievedClaim| {
                let s = r.score_breakdown;
                [
                    r.score,
                    s.relevance,
                    s.lexical,
                    s.dense,
                    s.support,
                    s.contradiction,
                    s.confidence,
                    s.temporal,
                ]
                .map(f32::to_bits)
            };
            assert_eq!(bits(x), bits(y), "{} changed", x.claim_id);
        }
        assert_eq!(b.results, a.results);
    }
}

/// Same ids and scores in both tenants' answers (identical data, separate statistics).
fn assert_mirror(a: &[RetrieveResponse], b: &[RetrieveResponse]) {
    for (x, y) in a.iter().zip(b) {
        assert_eq!(ranking(x), ranking(y));
        let scores = |r: &RetrieveResponse| -> Vec<u32> {
            r.results.iter().map(|c| c.score.to_bits()).collect()
        };
        assert_eq!(scores(x), scores(y));
    }
}

#[test]
fn tenants_are_isolated_in_candidates_and_statistics() {
    // Exact dense search only (default seal threshold).
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    store.ingest_batch("a", corpus("ta", 30)).unwrap();
    store.ingest_batch("b", corpus("tb", 30)).unwrap();
    let a0 = probe(&store, "ta");
    let b0 = probe(&store, "tb");
    assert_only_own(&a0, "ta");
    assert_only_own(&b0, "tb");
    assert_mirror(&a0, &b0);
    // A tenant without data sees nothing, not the others' claims.
    assert!(probe_empty(&store, "tc"));

    // Many more claims in tb, with ta's vocabulary: ta's answers must not move by one bit.
    store.ingest_batch("more", extra("tb", 200, 9)).unwrap();
    let a1 = probe(&store, "ta");
    let b1 = probe(&store, "tb");
    assert_same_bits(&a0, &a1);
    assert_only_own(&b1, "tb");
    assert_ne!(
        ranking(&b0[0]),
        ranking(&b1[0]),
        "tb's own answer should change (the test data must overlap)"
    );
}

fn probe_empty(store: &Store, tenant: &str) -> bool {
    let q = Query::new(tenant)
        .text("arctic sea ice")
        .embedding(query_vector());
    store.retrieve(&q).unwrap().results.is_empty()
}

#[test]
fn tenants_are_isolated_with_sealed_dense_graphs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path())
        .dense_seal_threshold(16)
        .open()
        .unwrap();
    // 150 each: above the graph's candidate list (ef 100), so searches walk the graph.
    store.ingest_batch("a", corpus("ta", 150)).unwrap();
    store.ingest_batch("b", corpus("tb", 150)).unwrap();
    store.wait_for_indexes();
    let stats = store.stats();
    assert_eq!(stats.last_index_error, None);
    assert_eq!(
        (stats.dense_graph_docs, stats.dense_exact_docs),
        (300, 0),
        "both tenants sealed: {stats:?}"
    );
    let a0 = probe(&store, "ta");
    let b0 = probe(&store, "tb");
    let explained = store
        .retrieve(&Query::new("ta").embedding(query_vector()).explain(true))
        .unwrap();
    assert_eq!(
        explained.explain.unwrap().dense_graph_docs,
        150,
        "a tenant searches only its own graph"
    );
    assert_only_own(&a0, "ta");
    assert_only_own(&b0, "tb");
    assert_mirror(&a0, &b0);

    store.ingest_batch("more", extra("tb", 200, 9)).unwrap();
    store.wait_for_indexes();
    assert!(store.stats().dense_graph_docs >= 300 + 200 - 16);
    let a1 = probe(&store, "ta");
    let b1 = probe(&store, "tb");
    assert_same_bits(&a0, &a1);
    assert_only_own(&b1, "tb");
    assert_ne!(ranking(&b0[1]), ranking(&b1[1]));
}

// 3 ------------------------------------------------------------------------------------------

#[test]
fn versions_recorded_time_and_forget() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    store
        .ingest(item("a", "other", "unrelated claim about forests"))
        .unwrap();
    let r1 = store
        .ingest(item("a", "c1", "the glacier is melting slowly"))
        .unwrap();
    let r2 = store
        .ingest(item("a", "c1", "the glacier is melting rapidly"))
        .unwrap();
    assert_eq!((r1.version, r2.version), (1, 2));
    let q = Query::new("a").text("glacier melting slowly rapidly");

    let now = store.retrieve(&q).unwrap();
    assert_eq!(ranking(&now), [("c1".to_string(), 2)]);
    assert_eq!(
        now.results[0].canonical_text,
        "the glacier is melting rapidly"
    );
    assert_eq!(now.results[0].recorded_at, r2.recorded_at);
    // The old text alone finds nothing: version 1 is not current.
    assert!(store
        .retrieve(&Query::new("a").text("slowly"))
        .unwrap()
        .results
        .is_empty());

    let then = store
        .retrieve(&q.clone().recorded_as_of(r1.recorded_at))
        .unwrap();
    assert_eq!(ranking(&then), [("c1".to_string(), 1)]);
    assert_eq!(
        then.results[0].canonical_text,
        "the glacier is melting slowly"
    );
    assert_eq!(then.results[0].recorded_at, r1.recorded_at);
    // Just before version 1 was recorded, the claim did not exist.
    let before = Timestamp::from_unix_micros(r1.recorded_at.as_unix_micros() - 1);
    assert!(store
        .retrieve(&q.clone().recorded_as_of(before))
        .unwrap()
        .results
        .is_empty());

    let f = store.forget(&t("a"), &c("c1")).unwrap();
    assert!(store.retrieve(&q).unwrap().results.is_empty());
    assert!(store
        .retrieve(&q.clone().recorded_as_of(f.recorded_at))
        .unwrap()
        .results
        .is_empty());
    let just_before_forget = Timestamp::from_unix_micros(f.recorded_at.as_unix_micros() - 1);
    let then = store
        .retrieve(&q.clone().recorded_as_of(just_before_forget))
        .unwrap();
    assert_eq!(ranking(&then), [("c1".to_string(), 2)]);
    let then = store
        .retrieve(&q.clone().recorded_as_of(r2.recorded_at))
        .unwrap();
    assert_eq!(
        then.results[0].canonical_text,
        "the glacier is melting rapidly"
    );
}

// 4 ------------------------------------------------------------------------------------------

#[test]
fn valid_time_bounds_are_inclusive_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let mut closed = item("a", "closed", "the harbour master is Ann");
    closed.claim.valid_from = Some(year(2000));
    closed.claim.valid_to = Some(year(2005));
    let mut open_end = item("a", "open_end", "the harbour master is Ben");
    open_end.claim.valid_from = Some(year(2005));
    let mut open_start = item("a", "open_start", "the harbour master is Cid");
    open_start.claim.valid_to = Some(year(2000));
    for it in [closed, open_end, open_start] {
        store.ingest(it).unwrap();
    }
    let q = Query::new("a").text("harbour master");
    let at = |s: &str| -> BTreeSet<String> {
        let r = store.retrieve(&q.clone().as_of(ts(s))).unwrap();
        for x in &r.results {
            assert_eq!(x.score_breakdown.temporal, 1.0);
        }
        r.results.iter().map(|x| x.claim_id.to_string()).collect()
    };
    let set = |v: &[&str]| -> BTreeSet<String> { v.iter().map(|s| (*s).to_string()).collect() };
    assert_eq!(at("2004-12-31T00:00:00Z"), set(&["closed"]));
    assert_eq!(at("2004-12-31T23:59:59.999999Z"), set(&["closed"]));
    assert_eq!(at("2005-01-01T00:00:00Z"), set(&["open_end"]));
    assert_eq!(at("2000-01-01T00:00:00Z"), set(&["closed"]));
    assert_eq!(at("1999-12-31T23:59:59Z"), set(&["open_start"]));
    assert_eq!(at("1999-01-01T00:00:00Z"), set(&["open_start"]));
    assert_eq!(at("2030-01-01T00:00:00Z"), set(&["open_end"]));

    let all = store.retrieve(&q).unwrap();
    assert_eq!(id_set(&all), ["closed", "open_end", "open_start"].into());
    // Without as_of, claims not valid now are history: returned, ranked lower.
    assert_eq!(get(&all, "open_end").score_breakdown.temporal, 1.0);
    assert!(get(&all, "closed").score_breakdown.temporal < 1.0);
    assert!(get(&all, "open_start").score_breakdown.temporal < 1.0);
    assert_eq!(all.results[0].claim_id.as_str(), "open_end");
    assert_eq!(get(&all, "closed").valid_to, Some(year(2005)));
}

// 5 ------------------------------------------------------------------------------------------

fn stance_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let disputed = IngestItem::new(Claim::new("a", "disputed", "the glacier retreats fast"))
        .with_evidence(evidence("disputed", "d-s1", "s1", Stance::Supports, 0.9))
        .with_evidence(evidence("disputed", "d-s2", "s2", Stance::Supports, 0.8))
        .with_evidence(evidence("disputed", "d-c1", "s3", Stance::Contradicts, 0.5));
    let refuted = IngestItem::new(Claim::new("a", "refuted", "the glacier advances fast"))
        .with_evidence(evidence("refuted", "r-c1", "s4", Stance::Contradicts, 0.9));
    let rival = IngestItem::new(Claim::new("a", "rival", "the glacier is stable"))
        .with_evidence(evidence("rival", "v-s1", "s5", Stance::Supports, 0.6))
        .with_edge(Edge::new("rival", "disputed", Relation::Contradicts));
    store
        .ingest_batch("all", vec![disputed, refuted, rival])
        .unwrap();
    (dir, store)
}

#[test]
fn stance_modes_balanced_and_support_only() {
    let (_dir, store) = stance_store();
    let q = Query::new("a").text("glacier fast stable").top_k(10);

    assert!(store.wait_for_detection());
    let balanced = store.retrieve(&q).unwrap();
    assert_eq!(id_set(&balanced), ["disputed", "refuted", "rival"].into());
    let d = get(&balanced, "disputed");
    assert_eq!(d.supporting_evidence.len(), 2);
    assert_eq!(
        d.supporting_evidence[0].evidence_id, "d-s1",
        "best source first"
    );
    assert_eq!(d.contradicting_evidence.len(), 1);
    assert_eq!(d.contradicting_evidence[0].source_id, "s3");
    assert!(d.score_breakdown.contradiction > 0.0 && d.score_breakdown.contradiction < 0.5);
    // The caller's edge first, then what detection found: "retreats" / "advances".
    assert_eq!(d.conflicts.len(), 2, "{:?}", d.conflicts);
    assert_eq!(d.conflicts[0].claim_id.as_str(), "rival");
    assert!(!d.conflicts[0].detected);
    assert_eq!(d.conflicts[1].claim_id.as_str(), "refuted");
    assert!(d.conflicts[1].detected);
    let r = get(&balanced, "refuted");
    assert!(r.supporting_evidence.is_empty());
    assert_eq!(r.contradicting_evidence.len(), 1);
    assert_eq!(r.score_breakdown.support, 0.0);
    assert!((r.score_breakdown.contradiction - 1.0).abs() < 1e-6);

    let support_only = store
        .retrieve(&q.clone().stance_mode(StanceMode::SupportOnly))
        .unwrap();
    assert_eq!(id_set(&support_only), ["disputed", "rival"].into());
    for x in &support_only.results {
        assert!(x.contradicting_evidence.is_empty(), "{x:?}");
        assert!(x.conflicts.is_empty(), "{x:?}");
        assert!(
            x.citations.iter().all(|c| c.source_id != "s3"),
            "no citation of contradicting evidence: {x:?}"
        );
    }
    assert_eq!(get(&support_only, "disputed").supporting_evidence.len(), 2);
    assert_eq!(get(&support_only, "disputed").citations.len(), 2);
}

/// Regression: `SupportOnly` used to drop net-contradicting claims *after* candidate generation,
/// from a pool of `max(100, 2·top_k)` candidates per index, so when more than that many
/// net-contradicting claims outranked a supported one lexically the answer was empty. The
/// condition is now checked inside the index searches, like filters and time.
#[test]
fn support_only_does_not_starve_on_many_refuted_claims() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let refuted: Vec<IngestItem> = (0..150)
        .map(|k| {
            let id = format!("r{k}");
            IngestItem::new(Claim::new("a", id.as_str(), "volcano volcano eruption"))
                .with_evidence(evidence(&id, "e", "s", Stance::Contradicts, 1.0))
        })
        .collect();
    store.ingest_batch("refuted", refuted).unwrap();
    store
        .ingest(item(
            "a",
            "supported",
            "a volcano report with many other words about lava fields and ash clouds",
        ))
        .unwrap();
    let q = Query::new("a")
        .text("volcano eruption")
        .top_k(5)
        .stance_mode(StanceMode::SupportOnly);
    let answer = store.retrieve(&q).unwrap();
    assert_eq!(
        ids(&answer),
        ["supported"],
        "the only net-supported matching claim must be returned"
    );
}

// 6 ------------------------------------------------------------------------------------------

#[test]
fn conflicts_are_listed_both_ways_and_follow_forget() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    store
        .ingest(item("a", "c1", "Paris is the capital of France"))
        .unwrap();
    let mut edge = Edge::new("c2", "c1", Relation::Contradicts);
    edge.strength = 0.7;
    store
        .ingest(item("a", "c2", "Lyon is the capital of France").with_edge(edge))
        .unwrap();
    store
        .ingest(item("a", "c3", "Marseille has a big harbour"))
        .unwrap();

    let r = store
        .retrieve(&Query::new("a").text("Paris capital"))
        .unwrap();
    let c1 = get(&r, "c1");
    assert_eq!(r.results[0].claim_id.as_str(), "c1");
    assert_eq!(c1.conflicts.len(), 1, "{:?}", c1.conflicts);
    let k = &c1.conflicts[0];
    assert_eq!(k.claim_id.as_str(), "c2");
    assert_eq!(k.canonical_text, "Lyon is the capital of France");
    assert_eq!(k.relation, Relation::Contradicts);
    assert!((k.strength - 0.7).abs() < 1e-6);
    assert!(!k.detected);

    let r = store.retrieve(&Query::new("a").text("Lyon")).unwrap();
    let c2 = get(&r, "c2");
    assert_eq!(c2.conflicts.len(), 1);
    assert_eq!(c2.conflicts[0].claim_id.as_str(), "c1");
    assert_eq!(
        c2.conflicts[0].canonical_text,
        "Paris is the capital of France"
    );
    let r = store.retrieve(&Query::new("a").text("harbour")).unwrap();
    assert!(get(&r, "c3").conflicts.is_empty());

    store.forget(&t("a"), &c("c2")).unwrap();
    let r = store
        .retrieve(&Query::new("a").text("Paris capital France"))
        .unwrap();
    assert_eq!(id_set(&r), ["c1"].into());
    assert!(get(&r, "c1").conflicts.is_empty(), "{:?}", r.results[0]);
}

/// Regression: conflicts are "as visible to this query". Outgoing `contradicts` edges used to be
/// followed to any claim with a version visible in time, skipping the `supersedes` check, so a
/// superseded (hidden) claim was still listed as a conflict of a claim pointing at it.
#[test]
fn conflicts_do_not_list_superseded_claims_in_either_direction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    // Mirror case (passes): old2 -> contradicts -> c2; new2 -> supersedes -> old2.
    store
        .ingest(item("a", "c2", "the ferry runs daily"))
        .unwrap();
    store
        .ingest(
            item("a", "old2", "the ferry never runs").with_edge(Edge::new(
                "old2",
                "c2",
                Relation::Contradicts,
            )),
        )
        .unwrap();
    store
        .ingest(
            item("a", "new2", "the ferry timetable changed").with_edge(Edge::new(
                "new2",
                "old2",
                Relation::Supersedes,
            )),
        )
        .unwrap();
    // Without `as_of` a superseded claim is history: listed, below its successor.
    let r = store.retrieve(&Query::new("a").text("ferry runs")).unwrap();
    let pos = |id: &str| r.results.iter().position(|x| x.claim_id.as_str() == id);
    assert!(
        pos("old2") > pos("new2") && pos("new2").is_some(),
        "{:?}",
        ids(&r)
    );
    // At an instant after the successor took over, it is hidden — and so not a conflict.
    let r = store
        .retrieve(&Query::new("a").text("ferry runs").as_of(Timestamp::now()))
        .unwrap();
    assert!(find(&r, "old2").is_none(), "superseded claims are hidden");
    assert!(
        get(&r, "c2").conflicts.is_empty(),
        "{:?}",
        get(&r, "c2").conflicts
    );

    // The bug: c1 -> contradicts -> old; new -> supersedes -> old.
    store
        .ingest(item("a", "old", "the bridge is closed to traffic"))
        .unwrap();
    store
        .ingest(
            item("a", "c1", "the bridge is open to traffic").with_edge(Edge::new(
                "c1",
                "old",
                Relation::Contradicts,
            )),
        )
        .unwrap();
    store
        .ingest(
            item("a", "new", "the bridge reopened in spring").with_edge(Edge::new(
                "new",
                "old",
                Relation::Supersedes,
            )),
        )
        .unwrap();
    let r = store
        .retrieve(
            &Query::new("a")
                .text("bridge traffic")
                .as_of(Timestamp::now()),
        )
        .unwrap();
    assert!(find(&r, "old").is_none(), "superseded claims are hidden");
    let c1 = get(&r, "c1");
    assert!(
        c1.conflicts.is_empty(),
        "a hidden (superseded) claim is listed as a conflict: {:?}",
        c1.conflicts
    );
}

// 7 ------------------------------------------------------------------------------------------

#[test]
fn citations_carry_chunk_and_span_and_cover_neutral_only_claims() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let mut spanned = evidence("c1", "c1-s", "doc-1", Stance::Supports, 0.9);
    spanned.chunk_id = Some("chunk-7".into());
    spanned.span_start = Some(3);
    spanned.span_end = Some(10);
    let bare = evidence("c1", "c1-c", "doc-2", Stance::Contradicts, 0.4);
    store
        .ingest(
            IngestItem::new(Claim::new("a", "c1", "copper prices rose in May"))
                .with_evidence(spanned)
                .with_evidence(bare),
        )
        .unwrap();
    let mut n1 = evidence("c2", "c2-n1", "doc-3", Stance::Neutral, 0.5);
    n1.chunk_id = Some("chunk-1".into());
    n1.span_start = Some(0);
    n1.span_end = Some(4);
    let n2 = evidence("c2", "c2-n2", "doc-4", Stance::Neutral, 0.8);
    store
        .ingest(
            IngestItem::new(Claim::new("a", "c2", "copper prices were discussed"))
                .with_evidence(n1)
                .with_evidence(n2),
        )
        .unwrap();
    store
        .ingest(IngestItem::new(Claim::new(
            "a",
            "c3",
            "copper prices, no source",
        )))
        .unwrap();

    let r = store
        .retrieve(&Query::new("a").text("copper prices"))
        .unwrap();
    assert_eq!(id_set(&r), ["c1", "c2", "c3"].into());
    for x in &r.results {
        let rec = store.get_claim(&t("a"), &x.claim_id).unwrap().unwrap();
        if !rec.item.evidence.is_empty() {
            assert!(
                !x.citations.is_empty(),
                "{} has evidence but no citation",
                x.claim_id
            );
        }
        for cit in &x.citations {
            let e = rec
                .item
                .evidence
                .iter()
                .find(|e| e.evidence_id == cit.evidence_id)
                .unwrap_or_else(|| panic!("citation of unknown evidence {cit:?}"));
            assert_eq!(
                (&cit.source_id, &cit.chunk_id, cit.span_start, cit.span_end),
                (&e.source_id, &e.chunk_id, e.span_start, e.span_end)
            );
        }
    }
    let c1 = get(&r, "c1");
    assert_eq!(c1.citations.len(), 2);
    let spanned = c1
        .citations
        .iter()
        .find(|c| c.evidence_id == "c1-s")
        .unwrap();
    assert_eq!(spanned.chunk_id.as_deref(), Some("chunk-7"));
    assert_eq!((spanned.span_start, spanned.span_end), (Some(3), Some(10)));
    let bare = c1
        .citations
        .iter()
        .find(|c| c.evidence_id == "c1-c")
        .unwrap();
    assert_eq!((bare.chunk_id.as_deref(), bare.span_start), (None, None));

    let c2 = get(&r, "c2");
    assert!(c2.supporting_evidence.is_empty() && c2.contradicting_evidence.is_empty());
    let cited: BTreeSet<&str> = c2
        .citations
        .iter()
        .map(|c| c.evidence_id.as_str())
        .collect();
    assert_eq!(cited, ["c2-n1", "c2-n2"].into());
    let n1 = c2
        .citations
        .iter()
        .find(|c| c.evidence_id == "c2-n1")
        .unwrap();
    assert_eq!(n1.chunk_id.as_deref(), Some("chunk-1"));
    assert_eq!((n1.span_start, n1.span_end), (Some(0), Some(4)));

    assert!(get(&r, "c3").citations.is_empty());

    // SupportOnly cites only what it returns.
    let r = store
        .retrieve(
            &Query::new("a")
                .text("copper prices")
                .stance_mode(StanceMode::SupportOnly),
        )
        .unwrap();
    let c1 = get(&r, "c1");
    assert_eq!(c1.citations.len(), 1);
    assert_eq!(c1.citations[0].evidence_id, "c1-s");
}

// 8 ------------------------------------------------------------------------------------------

fn faceted(
    id: &str,
    text: &str,
    entities: &[&str],
    meta: &[(&str, &str)],
    source: &str,
) -> IngestItem {
    let mut claim = Claim::new("a", id, text);
    claim.entities = entities.iter().map(|e| (*e).to_string()).collect();
    claim.metadata = meta
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    IngestItem::new(claim).with_evidence(evidence(
        id,
        &format!("{id}-e"),
        source,
        Stance::Supports,
        1.0,
    ))
}

#[test]
fn filters_on_entities_metadata_and_sources() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let mut items = vec![faceted(
        "weak",
        "a river delta report: sediment transport, winter floods, farming and fishing",
        &["Alice", "Bob"],
        &[("lang", "en"), ("region", "north")],
        "s1",
    )];
    for k in 0..10 {
        items.push(faceted(
            &format!("strong{k}"),
            "river river",
            &["Alice"],
            &[("lang", "fr")],
            "s2",
        ));
    }
    items.push(faceted(
        "other",
        "river bank river",
        &["Bob"],
        &[("lang", "en")],
        "s3",
    ));
    store.ingest_batch("all", items).unwrap();
    let q = Query::new("a").text("river").top_k(3);
    assert!(
        find(&store.retrieve(&q).unwrap(), "weak").is_none(),
        "without filters the weak match is outranked"
    );

    let r = store
        .retrieve(&q.clone().entity("Alice").entity("Bob"))
        .unwrap();
    assert_eq!(ids(&r), ["weak"]);
    for x in &r.results {
        assert!(x.entities.iter().any(|e| e == "Alice") && x.entities.iter().any(|e| e == "Bob"));
    }
    let r = store.retrieve(&q.clone().entity("Alice")).unwrap();
    assert_eq!(r.results.len(), 3);
    assert!(r
        .results
        .iter()
        .all(|x| x.entities.iter().any(|e| e == "Alice")));

    let r = store.retrieve(&q.clone().metadata("lang", "en")).unwrap();
    assert_eq!(id_set(&r), ["other", "weak"].into());
    let r = store
        .retrieve(&q.clone().metadata("lang", "en").metadata("region", "north"))
        .unwrap();
    assert_eq!(ids(&r), ["weak"]);
    let r = store.retrieve(&q.clone().metadata("lang", "de")).unwrap();
    assert!(r.results.is_empty());

    let r = store
        .retrieve(&q.clone().source("s1").source("s3"))
        .unwrap();
    assert_eq!(id_set(&r), ["other", "weak"].into());
    for x in &r.results {
        assert!(x
            .supporting_evidence
            .iter()
            .any(|e| e.source_id == "s1" || e.source_id == "s3"));
    }
    let r = store
        .retrieve(&q.clone().entity("Bob").source("s2"))
        .unwrap();
    assert!(r.results.is_empty());

    // Filters look at the version the query sees, not at older ones.
    let before = store.stats();
    let v2 = store
        .ingest(faceted(
            "other",
            "river bank river",
            &["Carol"],
            &[("lang", "en")],
            "s3",
        ))
        .unwrap();
    assert!(v2.lsn > before.last_lsn);
    let r = store.retrieve(&q.clone().entity("Bob")).unwrap();
    assert_eq!(ids(&r), ["weak"]);
    let r = store.retrieve(&q.clone().entity("Carol")).unwrap();
    assert_eq!(ranking(&r), [("other".to_string(), 2)]);
    let then = Timestamp::from_unix_micros(v2.recorded_at.as_unix_micros() - 1);
    let r = store
        .retrieve(&q.clone().entity("Bob").recorded_as_of(then))
        .unwrap();
    assert_eq!(id_set(&r), ["other", "weak"].into());
    assert_eq!(get(&r, "other").version, 1);
}

// 9 ------------------------------------------------------------------------------------------

#[test]
fn supersedes_ranks_the_old_claim_below_and_hides_it_once_the_new_one_took_over() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let mut old = item("a", "c_old", "Alice is the CEO of Acme");
    old.claim.valid_from = Some(year(2000));
    old.claim.valid_to = Some(year(2010));
    let r_old = store.ingest(old).unwrap();
    let mut new = item("a", "c_new", "Bob is the CEO of Acme").with_edge(Edge::new(
        "c_new",
        "c_old",
        Relation::Supersedes,
    ));
    new.claim.valid_from = Some(year(2010));
    store.ingest(new).unwrap();

    let q = Query::new("a").text("CEO of Acme");
    // No instant asked: both, the successor first.
    assert_eq!(ids(&store.retrieve(&q).unwrap()), ["c_new", "c_old"]);
    assert_eq!(
        ids(&store.retrieve(&q.clone().as_of(year(2005))).unwrap()),
        ["c_old"]
    );
    assert_eq!(
        ids(&store.retrieve(&q.clone().as_of(year(2015))).unwrap()),
        ["c_new"]
    );
    // Before the successor was recorded, the old claim was the answer.
    assert_eq!(
        ids(&store
            .retrieve(&q.clone().recorded_as_of(r_old.recorded_at))
            .unwrap()),
        ["c_old"]
    );
    // Once the successor is forgotten, the old claim is visible again.
    store.forget(&t("a"), &c("c_new")).unwrap();
    assert_eq!(ids(&store.retrieve(&q).unwrap()), ["c_old"]);
}

// 10 -----------------------------------------------------------------------------------------

/// All components positive: cosines between such vectors are positive and (for random ones)
/// distinct, so a dense answer has no ties (negative cosines all clamp to a dense score of 0).
fn positive(mut rng: SplitMix) -> Vec<f32> {
    vector(&mut rng).iter().map(|x| x.abs() + 0.01).collect()
}

/// A tenant whose answers have no ties: claim `gK` holds "glacier" K+1 times, and the
/// embeddings are [`positive`].
fn reopen_corpus(store: &Store) {
    let mut rng = SplitMix::new(5);
    let items: Vec<IngestItem> = (0..25)
        .map(|k| {
            // Filler without "glacier", so no two claims share a (tf, length) pair.
            let filler = text(&mut rng).replace("glacier", "fjord");
            let text = format!("{}{filler}", "glacier ".repeat(k + 1));
            with_embedding(
                item("a", &format!("g{k}"), &text),
                &positive(SplitMix::new(100 + k as u64)),
            )
        })
        .collect();
    store.ingest_batch("corpus", items).unwrap();
    store
        .ingest(with_embedding(
            item("a", "g3", &format!("{}extra", "glacier ".repeat(27))),
            &positive(SplitMix::new(6)),
        ))
        .unwrap();
    store.forget(&t("a"), &c("g7")).unwrap();
}

fn reopen_probes(store: &Store) -> Vec<Vec<(String, u32)>> {
    let qv = positive(SplitMix::new(7));
    let queries = [
        Query::new("a").text("glacier").top_k(30),
        Query::new("a").embedding(qv.clone()).top_k(30),
        Query::new("a")
            .text("glacier ocean heat")
            .embedding(qv)
            .top_k(30),
    ];
    queries
        .iter()
        .map(|q| ranking(&store.retrieve(q).unwrap()))
        .collect()
}

#[test]
fn answers_are_the_same_after_checkpoint_and_reopen_and_after_wal_replay() {
    // Checkpointed, then reopened from the segment.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    reopen_corpus(&store);
    let before = reopen_probes(&store);
    assert_eq!(before[0].len(), 24, "g7 is forgotten");
    assert!(before.iter().all(|r| !r.is_empty()));
    assert!(before[0].contains(&("g3".to_string(), 2)));
    store.checkpoint().unwrap();
    assert_eq!(reopen_probes(&store), before, "after checkpoint");
    store.close().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    assert_eq!(store.recovery_report().segments_loaded, 1);
    assert_eq!(reopen_probes(&store), before, "after checkpoint + reopen");

    // Writes after the checkpoint, replayed from the WAL on top of the segment.
    store
        .ingest(with_embedding(
            item("a", "late", "glacier late arrival"),
            &positive(SplitMix::new(77)),
        ))
        .unwrap();
    let before = reopen_probes(&store);
    store.close().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    assert!(store.recovery_report().records_replayed >= 1);
    assert_eq!(reopen_probes(&store), before, "segment + WAL replay");
    drop(store);

    // WAL only: no checkpoint ever.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path())
        .auto_checkpoint(false)
        .open()
        .unwrap();
    reopen_corpus(&store);
    let before = reopen_probes(&store);
    store.close().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    assert_eq!(store.recovery_report().segments_loaded, 0);
    assert!(store.recovery_report().records_replayed >= 3);
    assert_eq!(reopen_probes(&store), before, "WAL replay");
}

/// Regression: ties used to be broken by the internal document id, which is assigned in commit
/// order while the store runs but in segment key order at open, so claims with equal scores
/// (duplicate texts, a common case) came back in another order after checkpoint + reopen. Ties
/// now go to (recorded time, claim id), which are stored.
#[test]
fn tied_results_keep_their_order_across_checkpoint_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    // Ingested in reverse key order with identical texts and embeddings: every score ties.
    let away: Vec<f32> = positive(SplitMix::new(7)).iter().map(|x| -x).collect();
    for k in (0..6).rev() {
        let it = item("a", &format!("dup{k}"), "the reservoir is full");
        store.ingest(with_embedding(it, &away)).unwrap();
    }
    let text = Query::new("a").text("reservoir full");
    let dense = Query::new("a").embedding(positive(SplitMix::new(7)));
    let answer = |store: &Store| {
        (
            ranking(&store.retrieve(&text).unwrap()),
            ranking(&store.retrieve(&dense).unwrap()),
        )
    };
    let before = answer(&store);
    assert_eq!((before.0.len(), before.1.len()), (6, 6));
    store.checkpoint().unwrap();
    assert_eq!(answer(&store), before, "a checkpoint alone changes nothing");
    store.close().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    assert_eq!(
        answer(&store),
        before,
        "the same query answers in the same order after a reopen"
    );
}

// 11 -----------------------------------------------------------------------------------------

#[test]
fn sealed_dense_graphs_answer_and_filter_old_versions_inside_the_search() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path())
        .dense_seal_threshold(64)
        .hnsw_params(HnswParams {
            max_nb_connection: 16,
            ef_construction: 100,
            ef_search: 100,
            ..HnswParams::default()
        })
        .open()
        .unwrap();
    let mut rng = SplitMix::new(11);
    let vectors: Vec<Vec<f32>> = (0..300).map(|_| vector(&mut rng)).collect();
    let mut receipts = Vec::new();
    for chunk in 0..6 {
        let items: Vec<IngestItem> = (chunk * 50..(chunk + 1) * 50)
            .map(|k| {
                with_embedding(
                    item("a", &format!("c{k}"), &format!("claim number {k}")),
                    &vectors[k],
                )
            })
            .collect();
        receipts.extend(
            store
                .ingest_batch(format!("b{chunk}"), items)
                .unwrap()
                .items,
        );
    }
    // The detection stage's records reach the tenant's inbox too (and ask for a look at its
    // seals): let it finish first, or `index_building` may be set again after the wait.
    assert!(store.wait_for_detection());
    store.wait_for_indexes();
    let stats = store.stats();
    assert_eq!(stats.last_index_error, None);
    assert!(stats.index_builds >= 1, "{stats:?}");
    assert!(stats.dense_graph_docs > 0, "{stats:?}");
    assert!(stats.dense_exact_docs < 64, "{stats:?}");
    assert!(!stats.index_building, "{stats:?}");
    assert_eq!(stats.dense_graph_docs + stats.dense_exact_docs, 300);

    for k in [0usize, 17, 42, 123, 250, 299] {
        let r = store
            .retrieve(
                &Query::new("a")
                    .embedding(vectors[k].clone())
                    .top_k(3)
                    .explain(true),
            )
            .unwrap();
        assert_eq!(r.results[0].claim_id.as_str(), format!("c{k}"));
        assert!(r.results[0].score_breakdown.dense > 0.999);
        assert!(r.explain.unwrap().dense_graph_docs > 0);
    }

    // A new version of c42 with another embedding. c42 v1 is sealed in a graph (it was in the
    // first batch), which cannot delete: the search must skip it.
    let r1 = receipts[42].recorded_at;
    let replacement = vector(&mut rng);
    store
        .ingest(with_embedding(
            item("a", "c42", "claim number 42, revised"),
            &replacement,
        ))
        .unwrap();
    let old = Query::new("a").embedding(vectors[42].clone()).top_k(5);
    let r = store.retrieve(&old).unwrap();
    assert_eq!(
        r.results.len(),
        5,
        "filtered inside the search: still top_k results"
    );
    for x in &r.results {
        assert!(
            !(x.claim_id.as_str() == "c42" && x.version == 1),
            "superseded version returned: {x:?}"
        );
        if x.claim_id.as_str() == "c42" {
            assert_eq!(x.version, 2);
        }
    }
    assert!(
        r.results[0].score_breakdown.dense < 0.999,
        "{:?}",
        r.results[0]
    );
    let then = store.retrieve(&old.clone().recorded_as_of(r1)).unwrap();
    assert_eq!(ranking(&then)[0], ("c42".to_string(), 1));
    assert!(then.results[0].score_breakdown.dense > 0.999);
    let now = store
        .retrieve(&Query::new("a").embedding(replacement).top_k(1))
        .unwrap();
    assert_eq!(ranking(&now), [("c42".to_string(), 2)]);

    // A forgotten claim in a graph is skipped as well.
    store.forget(&t("a"), &c("c123")).unwrap();
    let r = store
        .retrieve(&Query::new("a").embedding(vectors[123].clone()).top_k(5))
        .unwrap();
    assert_eq!(r.results.len(), 5);
    assert!(find(&r, "c123").is_none());
}

#[test]
fn graphs_merge_into_one_once_writes_pause() {
    let open = |dir: &std::path::Path, idle: Option<std::time::Duration>| {
        Store::builder(dir)
            .dense_seal_threshold(64)
            .dense_merge_after_idle(idle)
            .open()
            .unwrap()
    };
    let load = |store: &Store| -> Vec<Vec<f32>> {
        let mut rng = SplitMix::new(5);
        let vectors: Vec<Vec<f32>> = (0..300).map(|_| vector(&mut rng)).collect();
        for chunk in 0..6 {
            let items = (chunk * 50..(chunk + 1) * 50)
                .map(|k| {
                    with_embedding(
                        item("a", &format!("c{k}"), &format!("claim {k}")),
                        &vectors[k],
                    )
                })
                .collect();
            store.ingest_batch(format!("b{chunk}"), items).unwrap();
            // Each seal finishes before the next batch: the load leaves graphs of 200 and 100.
            store.wait_for_indexes();
        }
        vectors
    };

    // Never merging: the load's graphs stay.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), None);
    load(&store);
    std::thread::sleep(std::time::Duration::from_millis(300));
    store.wait_for_indexes();
    let stats = store.stats();
    assert_eq!(stats.dense_graphs, 2, "{stats:?}");

    // Merging after 50 ms without writes: one graph holds every document, and it answers.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Some(std::time::Duration::from_millis(50)));
    let vectors = load(&store);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let stats = loop {
        store.wait_for_indexes();
        let stats = store.stats();
        if stats.dense_graphs == 1 || std::time::Instant::now() > deadline {
            break stats;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(stats.dense_graphs, 1, "{stats:?}");
    assert_eq!(stats.dense_graph_docs + stats.dense_exact_docs, 300);
    assert_eq!(stats.last_index_error, None);
    for k in [0usize, 77, 199, 263, 299] {
        let r = store
            .retrieve(&Query::new("a").embedding(vectors[k].clone()).top_k(1))
            .unwrap();
        assert_eq!(r.results[0].claim_id.as_str(), format!("c{k}"));
    }
}

// 12 -----------------------------------------------------------------------------------------

#[test]
fn retention_drops_old_versions_from_recorded_time_queries() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Store::builder(dir.path())
            .auto_checkpoint(false)
            .retention(Retention {
                max_versions: Some(1),
                purge_forgotten: true,
            })
            .open()
            .unwrap()
    };
    let store = open();
    let v1 = vector(&mut SplitMix::new(3));
    let v2 = vector(&mut SplitMix::new(4));
    let r1 = store
        .ingest(with_embedding(item("a", "c1", "alpha tidal energy"), &v1))
        .unwrap();
    store
        .ingest(with_embedding(item("a", "c1", "beta tidal energy"), &v2))
        .unwrap();
    let old_text = Query::new("a")
        .text("alpha tidal")
        .recorded_as_of(r1.recorded_at);
    let old_vec = Query::new("a")
        .embedding(v1.clone())
        .recorded_as_of(r1.recorded_at);
    assert_eq!(
        ranking(&store.retrieve(&old_text).unwrap()),
        [("c1".to_string(), 1)]
    );
    assert_eq!(
        ranking(&store.retrieve(&old_vec).unwrap()),
        [("c1".to_string(), 1)]
    );

    store.checkpoint().unwrap();
    store.compact().unwrap();
    assert_eq!(store.versions(&t("a"), &c("c1")).unwrap().len(), 1);
    let check = |store: &Store| {
        assert!(store.retrieve(&old_text).unwrap().results.is_empty());
        assert!(store.retrieve(&old_vec).unwrap().results.is_empty());
        let now = store
            .retrieve(&Query::new("a").text("tidal energy"))
            .unwrap();
        assert_eq!(ranking(&now), [("c1".to_string(), 2)]);
        assert_eq!(now.results[0].canonical_text, "beta tidal energy");
    };
    check(&store);
    store.close().unwrap();
    check(&open());
}

// 13 -----------------------------------------------------------------------------------------

#[test]
fn invalid_queries_are_refused_with_the_right_error_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    store
        .ingest(with_embedding(
            item("a", "c1", "solar panels"),
            &[0.1, 0.2, 0.3, 0.4],
        ))
        .unwrap();
    let good = Query::new("a").text("solar");
    let reference = store.retrieve(&good).unwrap();
    let stats = store.stats();
    let cases: Vec<(Query, QueryError)> = vec![
        (Query::new("a"), QueryError::Empty),
        (Query::new("a").text("   \t "), QueryError::Empty),
        (
            good.clone().top_k(0),
            QueryError::TopK {
                value: 0,
                max: 1000,
            },
        ),
        (
            good.clone().top_k(1001),
            QueryError::TopK {
                value: 1001,
                max: 1000,
            },
        ),
        (
            good.clone().include_graph(4),
            QueryError::GraphDepth { value: 4, max: 3 },
        ),
        (
            Query::new("a").embedding(vec![1.0, 2.0]),
            QueryError::EmbeddingDimension {
                expected: 4,
                actual: 2,
            },
        ),
        (
            Query::new("a").embedding(vec![1.0, f32::NAN, 0.0, 0.0]),
            QueryError::BadEmbedding("a component is NaN or infinite"),
        ),
        (
            Query::new("a").embedding(vec![0.0; 4]),
            QueryError::BadEmbedding("the vector is all zeros"),
        ),
        (
            Query::new("a/b").text("solar"),
            QueryError::Tenant(ValidationError::BadCharacter {
                field: "tenant_id",
                ch: '/',
            }),
        ),
    ];
    for (q, expected) in cases {
        assert_eq!(store.retrieve(&q).unwrap_err(), expected, "{q:?}");
    }
    assert!(matches!(
        store.retrieve(&Query::new("").text("solar")),
        Err(QueryError::Tenant(_))
    ));
    assert!(matches!(
        store.retrieve(&good.clone().embedding(vec![f32::INFINITY, 0.0, 0.0, 1.0])),
        Err(QueryError::BadEmbedding(_))
    ));
    // The limits themselves are accepted; blank text with an embedding is an embedding query.
    assert!(store
        .retrieve(&good.clone().top_k(1000).include_graph(3))
        .is_ok());
    let blank = store
        .retrieve(
            &Query::new("a")
                .text("  ")
                .embedding(vec![0.1, 0.2, 0.3, 0.4]),
        )
        .unwrap();
    assert_eq!(ids(&blank), ["c1"]);

    assert_eq!(store.stats(), stats, "refused queries change nothing");
    let again = store.retrieve(&good).unwrap();
    assert_eq!(again.results, reference.results);
}

// 14 -----------------------------------------------------------------------------------------

#[test]
fn graph_expansion_stops_at_the_requested_depth() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let texts = [
        ("c1", "kestrel nests on the tower"),
        ("c2", "the tower is made of granite"),
        ("c3", "granite comes from the quarry"),
        ("c4", "the quarry closed in winter"),
    ];
    for (i, (id, text)) in texts.iter().enumerate() {
        let mut it = item("a", id, text);
        if let Some((next, _)) = texts.get(i + 1) {
            it = it.with_edge(Edge::new(*id, *next, Relation::Supports));
        }
        store.ingest(it).unwrap();
    }
    let q = Query::new("a").text("kestrel").top_k(1);

    let r = store.retrieve(&q.clone().include_graph(2)).unwrap();
    assert_eq!(ids(&r), ["c1"]);
    let g = r.graph.expect("graph asked for");
    let nodes: Vec<(&str, u8)> = g
        .nodes
        .iter()
        .map(|n| (n.claim_id.as_str(), n.depth))
        .collect();
    assert_eq!(nodes, [("c1", 0), ("c2", 1), ("c3", 2)]);
    assert_eq!(g.nodes[2].canonical_text, "granite comes from the quarry");
    let edges: BTreeSet<(&str, &str, &str)> = g
        .edges
        .iter()
        .map(|e| {
            (
                e.from_claim_id.as_str(),
                e.to_claim_id.as_str(),
                e.relation.as_str(),
            )
        })
        .collect();
    assert_eq!(
        edges,
        [("c1", "c2", "supports"), ("c2", "c3", "supports")].into()
    );
    assert!(!g.truncated);

    let r = store.retrieve(&q.clone().include_graph(3)).unwrap();
    assert_eq!(r.graph.unwrap().nodes.len(), 4);
    let r = store.retrieve(&q.clone().include_graph(1)).unwrap();
    let g = r.graph.unwrap();
    assert_eq!(g.nodes.len(), 2);
    assert_eq!(g.edges.len(), 1);

    assert!(store
        .retrieve(&q.clone().include_graph(0))
        .unwrap()
        .graph
        .is_none());
    assert!(store.retrieve(&q).unwrap().graph.is_none());

    // Forgotten claims leave the graph.
    store.forget(&t("a"), &c("c2")).unwrap();
    let r = store
        .retrieve(&Query::new("a").text("kestrel").top_k(1).include_graph(3))
        .unwrap();
    let g = r.graph.unwrap();
    let nodes: Vec<&str> = g.nodes.iter().map(|n| n.claim_id.as_str()).collect();
    assert_eq!(nodes, ["c1"]);
    assert!(g.edges.is_empty());
}

// 15 -----------------------------------------------------------------------------------------

#[test]
fn explain_reports_each_stage_with_candidate_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let mut rng = SplitMix::new(15);
    let texts = [
        "wind turbines offshore",
        "wind farms onshore",
        "wind speed record",
        "solar cells",
        "tidal power",
    ];
    for (k, text) in texts.iter().enumerate() {
        let mut it = with_embedding(item("a", &format!("c{k}"), text), &vector(&mut rng));
        it.claim.entities = vec![if k % 2 == 0 { "even" } else { "odd" }.to_string()];
        store.ingest(it).unwrap();
    }
    let q = Query::new("a")
        .text("wind")
        .embedding(query_vector())
        .top_k(2);

    let r = store.retrieve(&q.clone().explain(true)).unwrap();
    let e = r.explain.expect("explain asked for");
    let stages: Vec<(&str, usize)> = e.stages.iter().map(|s| (s.name, s.candidates)).collect();
    assert_eq!(
        stages,
        [
            ("lexical", 3),
            ("dense", 5),
            ("fuse", 5),
            ("rank", 2),
            ("assemble", 2)
        ]
    );
    assert!(!e.prefiltered);
    assert_eq!(e.filter_matches, None);
    assert_eq!((e.dense_graph_docs, e.dense_exact_docs), (0, 5));
    assert_eq!(r.results.len(), 2);

    let r = store
        .retrieve(&q.clone().entity("even").explain(true))
        .unwrap();
    let e = r.explain.unwrap();
    let stages: Vec<(&str, usize)> = e.stages.iter().map(|s| (s.name, s.candidates)).collect();
    assert_eq!(
        stages,
        [
            ("filter", 3),
            ("lexical", 2),
            ("dense", 3),
            ("fuse", 3),
            ("rank", 2),
            ("assemble", 2)
        ]
    );
    assert!(e.prefiltered);
    assert_eq!(e.filter_matches, Some(3));

    let off = store.retrieve(&q).unwrap();
    assert!(off.explain.is_none());
    let json = serde_json::to_value(&off).unwrap();
    assert!(json.get("explain").is_none());
}

// 16 -----------------------------------------------------------------------------------------

#[test]
fn responses_serialise_with_the_contract_field_names() {
    let (_dir, store) = stance_store();
    let mut it = item("a", "spanned", "the glacier has a visitor centre");
    it.claim.valid_from = Some(year(2001));
    store.ingest(it).unwrap();
    let r = store
        .retrieve(
            &Query::new("a")
                .text("glacier")
                .include_graph(1)
                .explain(true),
        )
        .unwrap();
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["tenant_id"], "a");
    assert_eq!(json["query"], "glacier");
    assert!(json["took_ms"].is_number());
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for x in results {
        for key in [
            "claim_id",
            "canonical_text",
            "score",
            "score_breakdown",
            "confidence",
            "valid_from",
            "valid_to",
            "recorded_at",
            "version",
            "entities",
            "supporting_evidence",
            "contradicting_evidence",
            "conflicts",
            "citations",
        ] {
            assert!(x.get(key).is_some(), "result lacks {key}: {x}");
        }
        assert!(x["claim_id"].is_string() && x["score"].is_number());
        for key in [
            "relevance",
            "lexical",
            "dense",
            "support",
            "contradiction",
            "confidence",
            "temporal",
        ] {
            assert!(
                x["score_breakdown"][key].is_number(),
                "breakdown lacks {key}: {x}"
            );
        }
        for cit in x["citations"].as_array().unwrap() {
            for key in [
                "evidence_id",
                "source_id",
                "chunk_id",
                "span_start",
                "span_end",
            ] {
                assert!(cit.get(key).is_some(), "citation lacks {key}: {cit}");
            }
        }
    }
    let by_id = |id: &str| {
        results
            .iter()
            .find(|x| x["claim_id"] == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    let disputed = by_id("disputed");
    assert_eq!(
        disputed["contradicting_evidence"][0]["stance"],
        "contradicts"
    );
    assert_eq!(disputed["supporting_evidence"][0]["stance"], "supports");
    assert_eq!(disputed["conflicts"][0]["claim_id"], "rival");
    assert_eq!(disputed["conflicts"][0]["relation"], "contradicts");
    assert!(disputed["conflicts"][0]["canonical_text"].is_string());
    let spanned = by_id("spanned");
    assert_eq!(spanned["valid_from"], "2001-01-01T00:00:00Z");
    assert!(spanned["valid_to"].is_null());
    assert_eq!(spanned["citations"][0]["chunk_id"], "spanned-chunk");
    assert_eq!(spanned["citations"][0]["span_start"], 0);
    assert!(spanned["recorded_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(spanned["version"], 1);

    let graph = &json["graph"];
    assert!(graph["nodes"][0]["claim_id"].is_string());
    assert!(graph["nodes"][0]["depth"].is_number());
    let edge = &graph["edges"][0];
    for key in [
        "from_claim_id",
        "to_claim_id",
        "relation",
        "strength",
        "detected",
    ] {
        assert!(edge.get(key).is_some(), "graph edge lacks {key}: {edge}");
    }
    assert!(graph["truncated"].is_boolean());
    let stage = &json["explain"]["stages"][0];
    assert!(stage["name"].is_string() && stage["candidates"].is_number());
    assert!(stage["micros"].is_number());

    // No graph or explain asked: the graph is empty (the contract's answer always has one),
    // explain is absent, neither is null.
    let plain =
        serde_json::to_value(store.retrieve(&Query::new("a").text("glacier")).unwrap()).unwrap();
    assert_eq!(
        plain["graph"],
        serde_json::json!({"nodes": [], "edges": [], "truncated": false})
    );
    assert!(plain.get("explain").is_none());
}

/// After open the segments' indexes are built in the background while writes go on: changes
/// committed meanwhile are queued and applied on top, and queries wait for the result.
#[test]
fn writes_during_the_background_index_build_after_open_are_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::builder(dir.path()).open().unwrap();
        let items: Vec<IngestItem> = (0..3000)
            .map(|i| {
                item(
                    "t",
                    &format!("c{i}"),
                    &format!("harbour crane number {i} moved cargo"),
                )
            })
            .collect();
        store.ingest_batch("load", items).unwrap();
        store.checkpoint().unwrap();
        store.close().unwrap();
    }
    let store = Store::builder(dir.path()).open().unwrap();
    // Most likely before the background build finished: queued, then applied on top.
    store
        .ingest(item("t", "c0", "the lighthouse keeper retired"))
        .unwrap();
    store.forget(&t("t"), &c("c1")).unwrap();
    let q = |text: &str| Query::new("t").text(text).top_k(1000);
    let lighthouse = store.retrieve(&q("lighthouse keeper")).unwrap();
    assert_eq!(ids(&lighthouse), ["c0"]);
    assert_eq!(get(&lighthouse, "c0").version, 2);
    let cranes = store.retrieve(&q("harbour crane cargo")).unwrap();
    assert_eq!(cranes.results.len(), 1000);
    let all = store
        .retrieve(
            &Query::new("t")
                .text("harbour crane cargo")
                .top_k(1000)
                .entity("none"),
        )
        .unwrap();
    assert!(all.results.is_empty());
    let seen: BTreeSet<&str> = id_set(&cranes);
    assert!(!seen.contains("c0") && !seen.contains("c1"));
    assert!(store.wait_for_detection());
    store.wait_for_indexes();
    assert!(!store.stats().index_building);
}

/// Regression: the directory lock lived in state the background indexer holds for a moment, so
/// a store reopened right after being dropped could be refused as `Locked`. The lock now belongs
/// to the `Store` itself, and a closed store's background builds stop.
#[test]
fn a_store_reopens_at_once_while_its_indexer_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SplitMix::new(11);
    {
        let store = Store::builder(dir.path())
            .dense_seal_threshold(64)
            .open()
            .unwrap();
        let items: Vec<IngestItem> = (0..2000)
            .map(|i| {
                with_embedding(
                    item("t", &format!("c{i}"), &text(&mut rng)),
                    &vector(&mut rng),
                )
            })
            .collect();
        store.ingest_batch("load", items).unwrap();
        store.checkpoint().unwrap();
    }
    for round in 0..5 {
        let store = Store::builder(dir.path())
            .dense_seal_threshold(64)
            .open()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        if round % 2 == 1 {
            let answer = store.retrieve(&Query::new("t").text("arctic ice")).unwrap();
            assert!(!answer.results.is_empty());
        }
        drop(store);
    }
}

/// A filter admitting under 2 % of the dense documents is answered by scoring exactly those
/// documents (sealed or not): the result is the brute-force top-k of the admitted set.
#[test]
fn selective_dense_filters_score_exactly_the_admitted_documents() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path())
        .dense_seal_threshold(128)
        .open()
        .unwrap();
    let mut rng = SplitMix::new(5);
    let mut vectors = Vec::new();
    for i in 0..600 {
        let v = vector(&mut rng);
        let mut it = with_embedding(item("t", &format!("c{i}"), &text(&mut rng)), &v);
        it.claim
            .metadata
            .insert("bucket".into(), (i % 100).to_string());
        store.ingest(it).unwrap();
        vectors.push(v);
    }
    store.wait_for_indexes();
    assert!(
        store.stats().dense_graph_docs > 0,
        "part of the set is in graphs"
    );
    let q = vector(&mut rng);
    let cos = |v: &[f32]| {
        let dot: f32 = v.iter().zip(&q).map(|(a, b)| a * b).sum();
        let n = |x: &[f32]| x.iter().map(|a| a * a).sum::<f32>().sqrt();
        dot / (n(v) * n(&q))
    };
    let mut expected: Vec<(String, f32)> = (0..600)
        .filter(|i| i % 100 == 7)
        .map(|i| (format!("c{i}"), cos(&vectors[i])))
        .collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1));
    let answer = store
        .retrieve(
            &Query::new("t")
                .embedding(q.clone())
                .metadata("bucket", "7")
                .top_k(10)
                .ranking(dash::Ranking::Relevance),
        )
        .unwrap();
    let got: Vec<&str> = ids(&answer);
    let want: Vec<&str> = expected.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(got, want);
    for (r, (_, c)) in answer.results.iter().zip(&expected) {
        assert!((r.score_breakdown.dense - c.max(0.0)).abs() < 1e-4);
    }
}

#[test]
fn searches_run_at_once_or_split_answer_as_run_in_turn() {
    // The same store, opened to run every hybrid query's two searches at once and every
    // lexical search as two over the halves of the ids (thresholds 0), and then in turn
    // (u32::MAX): the same answers and scores, hybrid and text-only.
    const WORDS: &[&str] = &[
        "ice", "sea", "heat", "storm", "river", "coast", "carbon", "melt",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SplitMix::new(5);
    let vector =
        |rng: &mut SplitMix| -> Vec<f32> { (0..8).map(|_| rng.unit() as f32 - 0.5).collect() };
    let open = |docs: u32| {
        Store::builder(dir.path())
            .concurrent_search_min_docs(docs)
            .split_lexical_min_docs(docs)
            .dense_seal_threshold(64)
            .dense_merge_after_idle(None)
            .open()
            .unwrap()
    };
    let store = open(0);
    for i in 0..400usize {
        let text: Vec<&str> = (0..4)
            .map(|j| WORDS[(i * 7 + j * 3) % WORDS.len()])
            .collect();
        let mut claim = Claim::new("a", format!("c{i}"), text.join(" "));
        claim.embedding = Some(vector(&mut rng));
        store.ingest(IngestItem::new(claim)).unwrap();
    }
    store.wait_for_indexes();
    let queries: Vec<Query> = (0..40usize)
        .map(|k| {
            let q = Query::new("a")
                .text(format!("{} {}", WORDS[k % 8], WORDS[(k * 3 + 1) % 8]))
                .top_k(10);
            if k < 20 {
                q.embedding(vector(&mut rng))
            } else {
                q
            }
        })
        .collect();
    let answers = |store: &Store| -> Vec<Vec<(String, f32)>> {
        queries
            .iter()
            .map(|q| {
                let r = store.retrieve(q).unwrap().results;
                assert!(!r.is_empty());
                r.iter()
                    .map(|c| (c.claim_id.to_string(), c.score))
                    .collect()
            })
            .collect()
    };
    let at_once = answers(&store);
    store.close().unwrap();
    let store = open(u32::MAX);
    store.wait_for_indexes();
    assert_eq!(answers(&store), at_once);
}
