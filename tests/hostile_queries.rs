//! Hostile queries: whatever a caller puts in a `Query` — any text, any vector (NaN, infinities,
//! huge or subnormal components, wrong length), any `top_k`, depth, filter strings or instants —
//! `retrieve` answers or refuses with a typed `QueryError`; it never panics, never returns more
//! than `top_k` results, and never returns another tenant's claims.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use dash::{
    Claim, Edge, Evidence, IngestItem, MemStorage, Query, Relation, Stance, StanceMode, Store,
    Timestamp,
};
use proptest::prelude::*;

/// One store shared by every case: two tenants with the same claim ids, texts and vectors, a few
/// versions, a tombstone, edges of every kind and a sealed dense graph.
fn store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = Store::builder_with_storage(Arc::new(MemStorage::new()))
            .dense_seal_threshold(16)
            .open()
            .unwrap();
        for tenant in ["mine", "theirs"] {
            for k in 0..40u32 {
                let id = format!("c{k}");
                let mut claim = Claim::new(
                    tenant,
                    id.as_str(),
                    format!("claim {k} about ice {}", k % 7),
                );
                claim.embedding = Some(vec![k as f32 + 1.0, 1.0, (k % 3) as f32, -1.0]);
                claim.entities = vec![format!("e{}", k % 5)];
                claim.valid_from = Timestamp::from_year(2000 + (k % 10) as i32);
                let mut ev = Evidence::new(
                    format!("{tenant}-{id}"),
                    id.as_str(),
                    tenant,
                    Stance::Supports,
                );
                if k % 4 == 0 {
                    ev.stance = Stance::Contradicts;
                }
                let relation = [
                    Relation::Supports,
                    Relation::Contradicts,
                    Relation::Refines,
                    Relation::Supersedes,
                ][k as usize % 4];
                let item = IngestItem::new(claim)
                    .with_evidence(ev)
                    .with_edge(Edge::new(
                        id.as_str(),
                        format!("c{}", (k + 1) % 40).as_str(),
                        relation,
                    ));
                store.ingest(item).unwrap();
            }
            store.forget(&tenant.into(), &"c3".into()).unwrap();
        }
        store.wait_for_indexes();
        store
    })
}

fn float() -> impl Strategy<Value = f32> {
    prop_oneof![
        -1e3f32..1e3,
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
        Just(f32::MAX),
        Just(f32::MIN_POSITIVE / 2.0),
        Just(0.0),
    ]
}

fn instant() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        any::<i64>().prop_map(Timestamp::from_unix_micros),
        Just(Timestamp::MIN),
        Just(Timestamp::MAX),
        (1990i32..2020).prop_map(|y| Timestamp::from_year(y).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_query_is_answered_or_refused_never_a_panic(
        tenant in prop_oneof![Just("mine".to_string()), Just("nobody".to_string()), ".{0,140}"],
        text in proptest::option::of(".{0,300}"),
        embedding in proptest::option::of(proptest::collection::vec(float(), 0..7)),
        top_k in prop_oneof![0usize..60, Just(1000usize), Just(1001usize), Just(usize::MAX)],
        depth in 0u8..6,
        entities in proptest::collection::vec(".{0,20}", 0..3),
        as_of in proptest::option::of(instant()),
        recorded in proptest::option::of(instant()),
        support_only in any::<bool>(),
    ) {
        let mut q = Query::new(tenant.as_str()).top_k(top_k).include_graph(depth).explain(true);
        if let Some(t) = &text {
            q = q.text(t.as_str());
        }
        if let Some(e) = embedding {
            q = q.embedding(e);
        }
        for e in &entities {
            q = q.entity(e.as_str());
        }
        if let Some(t) = as_of {
            q = q.as_of(t);
        }
        if let Some(t) = recorded {
            q = q.recorded_as_of(t);
        }
        if support_only {
            q = q.stance_mode(StanceMode::SupportOnly);
        }
        match store().retrieve(&q) {
            Ok(answer) => {
                prop_assert!(answer.results.len() <= top_k);
                let prefix = format!("{tenant}-");
                for r in &answer.results {
                    // Evidence ids carry the tenant: only the asked tenant's claims come back.
                    for e in r.supporting_evidence.iter().chain(&r.contradicting_evidence) {
                        prop_assert!(e.evidence_id.starts_with(&prefix));
                    }
                    prop_assert!(r.score.is_finite());
                    if support_only {
                        prop_assert!(r.contradicting_evidence.is_empty());
                    }
                }
                if let Some(g) = &answer.graph {
                    prop_assert!(g.nodes.len() <= dash::retrieve::MAX_GRAPH_NODES);
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
