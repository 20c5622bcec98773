//! Contradiction and succession detection end to end on a real directory: structured triples
//! (contradiction on overlapping validity, succession on disjoint validity, object
//! normalisation, multi-valued predicates), free-text claims (the built-in rules, custom
//! detectors, confidence floor, NaN), versioned edges (re-ingest, `forget`, `recorded_as_of`),
//! `rebuild_edges` and reopen, the degree cap, tenant isolation, `SupportOnly`, hostile
//! configuration and a TimeQA-like corpus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{get, id_set, ids};
use dash::detect::{ContradictionDetector, DetectionConfig, Judgement};
use dash::retrieve::Conflict;
use dash::{
    Claim, ClaimId, Edge, IngestItem, OpenError, Query, Relation, RetrieveResponse, StanceMode,
    Store, TenantId, Timestamp,
};

fn t(s: &str) -> TenantId {
    TenantId::new(s)
}

fn c(s: &str) -> ClaimId {
    ClaimId::new(s)
}

fn year(y: i32) -> Timestamp {
    Timestamp::from_year(y).unwrap()
}

/// A structured claim `subject / predicate / object`, valid over `[from, to)` (years; `None`
/// is open). Its text is `"{subject} {predicate} {object}"`.
fn fact(
    tenant: &str,
    id: &str,
    (subject, predicate, object): (&str, &str, &str),
    from: Option<i32>,
    to: Option<i32>,
) -> IngestItem {
    let mut claim = Claim::new(tenant, id, format!("{subject} {predicate} {object}"));
    claim.subject = Some(subject.into());
    claim.predicate = Some(predicate.into());
    claim.object = Some(object.into());
    claim.valid_from = from.map(year);
    claim.valid_to = to.map(year);
    IngestItem::new(claim)
}

/// A free-text claim about `entities`.
fn said(tenant: &str, id: &str, text: &str, entities: &[&str]) -> IngestItem {
    let mut claim = Claim::new(tenant, id, text);
    claim.entities = entities.iter().map(|e| (*e).to_owned()).collect();
    IngestItem::new(claim)
}

/// The claim ids `id` lists as conflicts, sorted.
fn conflict_ids(r: &RetrieveResponse, id: &str) -> Vec<String> {
    let mut v: Vec<String> = get(r, id)
        .conflicts
        .iter()
        .map(|c| c.claim_id.to_string())
        .collect();
    v.sort();
    v
}

/// The single conflict of `id`, checked to be a detected `contradicts` with a reason.
fn only_detected_conflict<'a>(r: &'a RetrieveResponse, id: &str) -> &'a Conflict {
    let conflicts = &get(r, id).conflicts;
    assert_eq!(conflicts.len(), 1, "{id}: {conflicts:?}");
    let conflict = &conflicts[0];
    assert_eq!(conflict.relation, Relation::Contradicts, "{conflict:?}");
    assert!(conflict.detected, "{conflict:?}");
    assert!(
        conflict.strength > 0.0 && conflict.strength <= 1.0,
        "{conflict:?}"
    );
    let reason = conflict
        .reason
        .as_deref()
        .expect("a detected edge has a reason");
    assert!(!reason.trim().is_empty(), "{conflict:?}");
    conflict
}

/// Every claim matching `text` in `tenant` (current recorded time, no `as_of`).
/// The tenant's claims matching `text`, once detection has caught up (detection runs in the
/// background; a query alone waits only briefly for it).
fn all(store: &Store, tenant: &str, text: &str) -> RetrieveResponse {
    assert!(store.wait_for_detection());
    let r = store
        .retrieve(&Query::new(tenant).text(text).top_k(200))
        .unwrap();
    assert!(r.detection.caught_up, "{:?}", r.detection);
    r
}

fn open(dir: &tempfile::TempDir, config: DetectionConfig) -> Store {
    Store::builder(dir.path()).detection(config).open().unwrap()
}

// 1 ------------------------------------------------------------------------------------------

#[test]
fn structured_claims_with_overlapping_validity_and_different_objects_contradict() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let baker = |o| ("Newton D. Baker", "position held", o);
    store
        .ingest(fact(
            "t",
            "a",
            baker("Secretary of War"),
            Some(1916),
            Some(1921),
        ))
        .unwrap();
    store
        .ingest(fact(
            "t",
            "b",
            baker("Mayor of Cleveland"),
            Some(1912),
            Some(1917),
        ))
        .unwrap();

    let r = all(&store, "t", "Baker");
    assert_eq!(id_set(&r), BTreeSet::from(["a", "b"]));
    for (me, other, other_text) in [
        ("a", "b", "Newton D. Baker position held Mayor of Cleveland"),
        ("b", "a", "Newton D. Baker position held Secretary of War"),
    ] {
        let conflict = only_detected_conflict(&r, me);
        assert_eq!(conflict.claim_id.as_str(), other);
        assert_eq!(conflict.canonical_text, other_text);
        let reason = conflict.reason.as_deref().unwrap();
        assert!(reason.contains("overlapping"), "{reason}");
        assert!(reason.contains("Secretary of War"), "{reason}");
        assert!(reason.contains("Mayor of Cleveland"), "{reason}");
    }
    let stats = store.stats();
    assert_eq!(stats.detected_edges, 1);
    assert_eq!(stats.detected_edges_built, 1);
    assert_eq!(stats.detected_edges_dropped_degree, 0);
    // The structured rule needs no detector.
    assert_eq!(stats.detection_pairs_judged, 0);

    // The conflict is also an edge of the graph payload, with its reason.
    let g = store
        .retrieve(&Query::new("t").text("Baker").top_k(10).include_graph(1))
        .unwrap()
        .graph
        .unwrap();
    assert_eq!(g.edges.len(), 1, "{g:?}");
    let e = &g.edges[0];
    assert_eq!(e.relation, Relation::Contradicts);
    assert!(e.detected);
    assert!(e.reason.is_some());
    let ends = BTreeSet::from([e.from_claim_id.as_str(), e.to_claim_id.as_str()]);
    assert_eq!(ends, BTreeSet::from(["a", "b"]));
}

#[test]
fn objects_that_differ_only_in_case_spacing_width_or_accent_form_do_not_contradict() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    // Per tenant: `x` and `y` name the same object in two spellings (and the subject and
    // predicate in two spellings too); `z` names another object under a third spelling of the
    // subject. So `z` contradicts both (the spellings group together) and `x`/`y` do not.
    let cases = [
        (
            "case",
            ("Newton D . Baker", "position held", "Newton D . Baker"),
            ("newton d. baker", "Position  Held", "newton d. baker"),
        ),
        (
            "width",
            (
                "Ｎｅｗｔｏｎ Ｄ. Ｂａｋｅｒ",
                "position held",
                "ＳＥＣＲＥＴＡＲＹ ｏｆ ＷＡＲ",
            ),
            ("Newton D. Baker", "POSITION HELD", "Secretary of War"),
        ),
        (
            "accent",
            ("Cafe\u{301} Society", "founded in", "Saint-E\u{301}tienne"),
            ("Café Society", "founded in", "saint-étienne"),
        ),
        (
            "spaces",
            ("  Paris ", "capital of", "  France  "),
            ("Paris", "capital   of", "FRANCE"),
        ),
    ];
    for (tenant, x, y) in cases {
        store.ingest(fact(tenant, "x", x, None, None)).unwrap();
        store.ingest(fact(tenant, "y", y, None, None)).unwrap();
        let z_subject = format!("  {}  ", x.0.to_uppercase());
        store
            .ingest(fact(
                tenant,
                "z",
                (&z_subject, y.1, "Someone Else Entirely"),
                None,
                None,
            ))
            .unwrap();
        // The predicate's words are in every text, whatever the spelling of the rest.
        let r = store
            .retrieve(
                &Query::new(tenant)
                    .text(format!("{} {} someone else entirely", x.1, y.1))
                    .top_k(10),
            )
            .unwrap();
        assert_eq!(id_set(&r), BTreeSet::from(["x", "y", "z"]), "{tenant}");
        assert_eq!(conflict_ids(&r, "z"), ["x", "y"], "{tenant}: z");
        assert_eq!(conflict_ids(&r, "x"), ["z"], "{tenant}: x");
        assert_eq!(conflict_ids(&r, "y"), ["z"], "{tenant}: y");
        assert!(get(&r, "x").conflicts.iter().all(|c| c.detected));
    }
    assert_eq!(store.stats().detected_edges, 2 * cases.len() as u64);
}

#[test]
fn the_same_object_twice_is_no_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let p = ("Acme", "headquartered in", "Berlin");
    store.ingest(fact("t", "a", p, Some(2000), None)).unwrap();
    store
        .ingest(fact("t", "b", p, Some(2003), Some(2010)))
        .unwrap();
    let r = all(&store, "t", "Acme Berlin");
    assert_eq!(id_set(&r), BTreeSet::from(["a", "b"]));
    assert!(get(&r, "a").conflicts.is_empty());
    assert!(get(&r, "b").conflicts.is_empty());
    assert_eq!(store.stats().detected_edges, 0);
}

// 2 ------------------------------------------------------------------------------------------

fn ceo(o: &str) -> (&str, &str, &str) {
    ("Acme Corp", "chief executive", o)
}

#[test]
fn disjoint_validity_is_a_succession_from_the_later_to_the_earlier() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    // Tenant `fwd` learns the old fact first, `rev` the new one first, `adj` has intervals that
    // touch (ends are exclusive, so 2005 belongs to the successor only).
    for (tenant, old_to, new_from, new_first) in [
        ("fwd", 2005, 2006, false),
        ("rev", 2005, 2006, true),
        ("adj", 2005, 2005, false),
    ] {
        let old = fact(tenant, "old", ceo("Alice Smith"), Some(2000), Some(old_to));
        let new = fact(tenant, "new", ceo("Bob Jones"), Some(new_from), None);
        if new_first {
            store.ingest(new).unwrap();
            store.ingest(old).unwrap();
        } else {
            store.ingest(old).unwrap();
            store.ingest(new).unwrap();
        }

        // Without `as_of`: both, the successor first, and a succession is no conflict.
        let r = store
            .retrieve(
                &Query::new(tenant)
                    .text("Acme chief executive")
                    .top_k(10)
                    .include_graph(1),
            )
            .unwrap();
        assert_eq!(ids(&r), ["new", "old"], "{tenant}");
        assert!(get(&r, "new").conflicts.is_empty(), "{tenant}");
        assert!(get(&r, "old").conflicts.is_empty(), "{tenant}");
        let g = r.graph.as_ref().unwrap();
        assert_eq!(g.edges.len(), 1, "{tenant}: {g:?}");
        let e = &g.edges[0];
        assert_eq!(
            (
                e.from_claim_id.as_str(),
                e.to_claim_id.as_str(),
                e.relation.as_str()
            ),
            ("new", "old", "supersedes"),
            "{tenant}"
        );
        assert!(e.detected, "{tenant}");
        let reason = e.reason.as_deref().expect("reason");
        assert!(reason.contains("succession"), "{tenant}: {reason}");
        assert!(
            reason.contains("Bob Jones") && reason.contains("Alice Smith"),
            "{tenant}: {reason}"
        );

        // At a valid time: only the claim that held then.
        let at = |y: i32| {
            store
                .retrieve(
                    &Query::new(tenant)
                        .text("Acme chief executive")
                        .top_k(10)
                        .as_of(year(y)),
                )
                .unwrap()
        };
        assert_eq!(ids(&at(2003)), ["old"], "{tenant}");
        assert_eq!(ids(&at(2010)), ["new"], "{tenant}");
        assert_eq!(ids(&at(1990)), Vec::<&str>::new(), "{tenant}");
    }
    assert_eq!(store.stats().detected_edges, 3);
}

#[test]
fn overlapping_validity_is_a_conflict_not_a_succession() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    store
        .ingest(fact("t", "old", ceo("Alice Smith"), Some(2000), Some(2007)))
        .unwrap();
    store
        .ingest(fact("t", "new", ceo("Bob Jones"), Some(2006), None))
        .unwrap();
    let r = store
        .retrieve(
            &Query::new("t")
                .text("Acme chief executive")
                .top_k(10)
                .include_graph(1),
        )
        .unwrap();
    let g = r.graph.as_ref().unwrap();
    assert!(
        g.edges
            .iter()
            .all(|e| e.relation == Relation::Contradicts && e.detected),
        "{g:?}"
    );
    assert_eq!(g.edges.len(), 1, "{g:?}");
    assert_eq!(only_detected_conflict(&r, "old").claim_id.as_str(), "new");
    assert_eq!(only_detected_conflict(&r, "new").claim_id.as_str(), "old");
    // In the overlap both hold, and neither hides the other.
    let r = store
        .retrieve(
            &Query::new("t")
                .text("Acme chief executive")
                .top_k(10)
                .as_of(year(2006)),
        )
        .unwrap();
    assert_eq!(id_set(&r), BTreeSet::from(["new", "old"]));
    assert_eq!(conflict_ids(&r, "old"), ["new"]);
}

// 3 ------------------------------------------------------------------------------------------

#[test]
fn multi_valued_predicates_make_no_edges_globally_or_per_tenant() {
    let awards = |store: &Store, tenant: &str| {
        let p = |o| ("Marie Curie", "award received", o);
        store
            .ingest(fact(
                tenant,
                "a1",
                p("Nobel Prize in Physics"),
                Some(1903),
                None,
            ))
            .unwrap();
        store
            .ingest(fact(
                tenant,
                "a2",
                p("Nobel Prize in Chemistry"),
                Some(1911),
                None,
            ))
            .unwrap();
    };
    let members = |store: &Store, tenant: &str| {
        let p = |o| ("Marie Curie", "member of", o);
        store
            .ingest(fact(
                tenant,
                "m1",
                p("French Academy of Medicine"),
                None,
                None,
            ))
            .unwrap();
        store
            .ingest(fact(
                tenant,
                "m2",
                p("Polish Academy of Learning"),
                None,
                None,
            ))
            .unwrap();
    };

    // Control: by default every predicate is single-valued.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    awards(&store, "t");
    assert_eq!(conflict_ids(&all(&store, "t", "Nobel"), "a1"), ["a2"]);
    assert_eq!(store.stats().detected_edges, 1);
    drop(store);

    // Declared for every tenant (in another spelling: compared after normalisation).
    let dir = tempfile::tempdir().unwrap();
    let store = open(
        &dir,
        DetectionConfig::default().multi_valued("  Award   RECEIVED "),
    );
    awards(&store, "t");
    awards(&store, "u");
    for tenant in ["t", "u"] {
        let r = all(&store, tenant, "Nobel");
        assert_eq!(id_set(&r), BTreeSet::from(["a1", "a2"]));
        assert!(r.results.iter().all(|x| x.conflicts.is_empty()), "{tenant}");
    }
    assert_eq!(store.stats().detected_edges, 0);
    drop(store);

    // Declared for one tenant: the same facts elsewhere still conflict, and other predicates
    // of that tenant stay single-valued.
    let dir = tempfile::tempdir().unwrap();
    let store = open(
        &dir,
        DetectionConfig::default().multi_valued_for("t1", "member of"),
    );
    for tenant in ["t1", "t2"] {
        members(&store, tenant);
        awards(&store, tenant);
    }
    let r = all(&store, "t1", "Academy");
    assert_eq!(id_set(&r), BTreeSet::from(["m1", "m2"]));
    assert!(r.results.iter().all(|x| x.conflicts.is_empty()));
    assert_eq!(conflict_ids(&all(&store, "t1", "Nobel"), "a1"), ["a2"]);
    let r = all(&store, "t2", "Academy");
    assert_eq!(only_detected_conflict(&r, "m1").claim_id.as_str(), "m2");
    assert_eq!(only_detected_conflict(&r, "m2").claim_id.as_str(), "m1");
    assert_eq!(conflict_ids(&all(&store, "t2", "Nobel"), "a1"), ["a2"]);
    assert_eq!(store.stats().detected_edges, 3);
}

// 4 ------------------------------------------------------------------------------------------

const DECLINING: &str = "Arctic sea ice extent is declining";
const NOT_DECLINING: &str = "Arctic sea ice extent is not declining";

#[test]
fn free_text_negation_with_a_shared_entity_is_a_detected_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    store
        .ingest(said("t", "a", DECLINING, &["Arctic"]))
        .unwrap();
    store
        .ingest(said("t", "b", NOT_DECLINING, &["Arctic", "Sea ice"]))
        .unwrap();
    let r = all(&store, "t", "Arctic sea ice");
    let ab = only_detected_conflict(&r, "a");
    assert_eq!(ab.claim_id.as_str(), "b");
    assert_eq!(ab.canonical_text, NOT_DECLINING);
    assert!(ab.reason.as_deref().unwrap().contains("negation"), "{ab:?}");
    let ba = only_detected_conflict(&r, "b");
    assert_eq!(ba.claim_id.as_str(), "a");
    assert!(ba.reason.as_deref().unwrap().contains("negation"), "{ba:?}");
    let stats = store.stats();
    assert_eq!(stats.detected_edges, 1);
    assert_eq!(stats.detection_pairs_judged, 1);
}

/// Plain text needs no entities: claims are compared when they are lexically close, whatever
/// entities they name (or none).
#[test]
fn free_text_is_judged_with_or_without_shared_entities() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    // Different entities.
    store
        .ingest(said("u", "a", DECLINING, &["Arctic"]))
        .unwrap();
    store
        .ingest(said("u", "b", NOT_DECLINING, &["Greenland"]))
        .unwrap();
    // No entities on either side (or on one side only, both orders).
    store.ingest(said("v", "a", DECLINING, &[])).unwrap();
    store.ingest(said("v", "b", NOT_DECLINING, &[])).unwrap();
    store
        .ingest(said("w", "a", DECLINING, &["Arctic"]))
        .unwrap();
    store.ingest(said("w", "b", NOT_DECLINING, &[])).unwrap();
    store.ingest(said("x", "a", DECLINING, &[])).unwrap();
    store
        .ingest(said("x", "b", NOT_DECLINING, &["Arctic"]))
        .unwrap();
    for tenant in ["u", "v", "w", "x"] {
        let r = all(&store, tenant, "Arctic sea ice");
        assert_eq!(id_set(&r), BTreeSet::from(["a", "b"]), "{tenant}");
        let conflict = only_detected_conflict(&r, "b");
        assert_eq!(conflict.claim_id.as_str(), "a", "{tenant}");
        assert!(
            conflict
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("negation")),
            "{tenant}: {conflict:?}"
        );
    }
    let stats = store.stats();
    assert_eq!(stats.detected_edges, 4);
    assert_eq!(stats.detection_pairs_judged, 4);
}

#[test]
fn free_text_numeric_and_antonym_mismatches_with_a_shared_entity_are_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    store
        .ingest(said(
            "t",
            "h1",
            "The Eiffel Tower is 330 m tall",
            &["Eiffel Tower"],
        ))
        .unwrap();
    store
        .ingest(said(
            "t",
            "h2",
            "The Eiffel Tower is 300 m tall",
            &["Eiffel Tower"],
        ))
        .unwrap();
    // Rounding is no conflict.
    store
        .ingest(said(
            "t",
            "h3",
            "The Eiffel Tower is 330.4 m tall",
            &["Eiffel Tower"],
        ))
        .unwrap();
    let r = all(&store, "t", "Eiffel Tower tall");
    assert_eq!(conflict_ids(&r, "h1"), ["h2"]);
    assert_eq!(conflict_ids(&r, "h2"), ["h1", "h3"]);
    assert_eq!(conflict_ids(&r, "h3"), ["h2"]);
    let reason = get(&r, "h1").conflicts[0].reason.clone().unwrap();
    assert!(reason.contains("number: 300 ↔ 330 m"), "{reason}");
    assert!(get(&r, "h1").conflicts[0].detected);

    store
        .ingest(said(
            "o",
            "up",
            "Global sea levels increased last century",
            &["Ocean"],
        ))
        .unwrap();
    store
        .ingest(said(
            "o",
            "down",
            "Global sea levels decreased last century",
            &["Ocean"],
        ))
        .unwrap();
    let r = all(&store, "o", "sea levels");
    let conflict = only_detected_conflict(&r, "down");
    assert_eq!(conflict.claim_id.as_str(), "up");
    assert!(
        conflict
            .reason
            .as_deref()
            .unwrap()
            .contains("antonym: decreased ↔ increased"),
        "{conflict:?}"
    );
}

#[test]
fn with_detection_disabled_only_caller_edges_exist() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, DetectionConfig::disabled());
    assert!(!DetectionConfig::disabled().is_enabled());
    store
        .ingest(said("t", "a", DECLINING, &["Arctic"]))
        .unwrap();
    store
        .ingest(said("t", "b", NOT_DECLINING, &["Arctic"]))
        .unwrap();
    store
        .ingest(fact(
            "t",
            "s1",
            ("Paris", "capital of", "France"),
            None,
            None,
        ))
        .unwrap();
    store
        .ingest(fact(
            "t",
            "s2",
            ("Paris", "capital of", "Italy"),
            None,
            None,
        ))
        .unwrap();
    let mut edge = Edge::new("c", "a", Relation::Contradicts);
    edge.reason = Some("caller says so".into());
    store
        .ingest(said("t", "c", "Arctic sea ice is stable", &["Arctic"]).with_edge(edge))
        .unwrap();

    let r = all(&store, "t", "Arctic sea ice Paris");
    assert_eq!(id_set(&r), BTreeSet::from(["a", "b", "c", "s1", "s2"]));
    assert!(get(&r, "b").conflicts.is_empty());
    assert!(get(&r, "s1").conflicts.is_empty());
    assert!(get(&r, "s2").conflicts.is_empty());
    for (me, other) in [("a", "c"), ("c", "a")] {
        let conflicts = &get(&r, me).conflicts;
        assert_eq!(conflicts.len(), 1, "{me}: {conflicts:?}");
        assert_eq!(conflicts[0].claim_id.as_str(), other);
        assert!(!conflicts[0].detected);
        assert_eq!(conflicts[0].reason.as_deref(), Some("caller says so"));
    }
    let stats = store.stats();
    assert_eq!(stats.detected_edges, 0);
    assert_eq!(stats.detected_edges_built, 0);
    assert_eq!(stats.detection_pairs_judged, 0);
    assert_eq!(store.rebuild_edges(&t("t")).unwrap(), 0);
    assert_eq!(store.stats().detected_edges, 0);
}

// 5 ------------------------------------------------------------------------------------------

#[test]
fn a_new_version_or_a_forget_retires_detected_edges_but_history_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let paris = |o| ("Paris", "capital of", o);
    store
        .ingest(fact("t", "a", paris("France"), None, None))
        .unwrap();
    let before = store
        .ingest(fact("t", "b", paris("Italy"), None, None))
        .unwrap()
        .recorded_at;
    assert_eq!(conflict_ids(&all(&store, "t", "Paris"), "a"), ["b"]);

    // `b` now agrees with `a`.
    let v2 = store
        .ingest(fact("t", "b", paris("FRANCE"), None, None))
        .unwrap();
    assert_eq!(v2.version, 2);
    let r = all(&store, "t", "Paris");
    assert_eq!(id_set(&r), BTreeSet::from(["a", "b"]));
    assert_eq!(get(&r, "b").version, 2);
    assert!(get(&r, "a").conflicts.is_empty(), "{:?}", get(&r, "a"));
    assert!(get(&r, "b").conflicts.is_empty(), "{:?}", get(&r, "b"));

    // What the store knew before the re-ingest: the conflict, between `a` and `b` v1.
    let r = store
        .retrieve(
            &Query::new("t")
                .text("Paris")
                .top_k(10)
                .recorded_as_of(before),
        )
        .unwrap();
    assert_eq!(get(&r, "b").version, 1);
    assert_eq!(only_detected_conflict(&r, "a").claim_id.as_str(), "b");
    let back = only_detected_conflict(&r, "b");
    assert_eq!(back.claim_id.as_str(), "a");
    assert_eq!(back.canonical_text, "Paris capital of France");

    // `forget` of one side retires a conflict too (tenant u, free text).
    store
        .ingest(said("u", "a", DECLINING, &["Arctic"]))
        .unwrap();
    let before = store
        .ingest(said("u", "b", NOT_DECLINING, &["Arctic"]))
        .unwrap()
        .recorded_at;
    assert_eq!(conflict_ids(&all(&store, "u", "Arctic"), "a"), ["b"]);
    store.forget(&t("u"), &c("b")).unwrap();
    let r = all(&store, "u", "Arctic");
    assert_eq!(ids(&r), ["a"]);
    assert!(get(&r, "a").conflicts.is_empty());
    let r = store
        .retrieve(
            &Query::new("u")
                .text("Arctic")
                .top_k(10)
                .recorded_as_of(before),
        )
        .unwrap();
    assert_eq!(only_detected_conflict(&r, "a").claim_id.as_str(), "b");
    assert_eq!(only_detected_conflict(&r, "b").claim_id.as_str(), "a");

    // And the free-text side of a re-ingest: `a` rewritten to agree with nothing in conflict.
    store
        .ingest(said("v", "a", DECLINING, &["Arctic"]))
        .unwrap();
    store
        .ingest(said("v", "b", NOT_DECLINING, &["Arctic"]))
        .unwrap();
    store
        .ingest(said("v", "b", DECLINING, &["Arctic"]))
        .unwrap();
    let r = all(&store, "v", "Arctic");
    assert!(get(&r, "a").conflicts.is_empty());
    assert!(get(&r, "b").conflicts.is_empty());
}

#[test]
fn reingesting_an_unchanged_claim_keeps_its_conflict() {
    // max_degree(1): the first re-ingest is enough.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, DetectionConfig::default().max_degree(1));
    let paris = |o| ("Paris", "capital of", o);
    store
        .ingest(fact("t", "a", paris("France"), None, None))
        .unwrap();
    store
        .ingest(fact("t", "b", paris("Italy"), None, None))
        .unwrap();
    assert_eq!(conflict_ids(&all(&store, "t", "Paris"), "a"), ["b"]);
    // The same content again (a caller refreshing a claim).
    store
        .ingest(fact("t", "b", paris("Italy"), None, None))
        .unwrap();
    let r = all(&store, "t", "Paris");
    assert_eq!(get(&r, "b").version, 2);
    assert_eq!(conflict_ids(&r, "a"), ["b"], "a after b's re-ingest");
    assert_eq!(conflict_ids(&r, "b"), ["a"], "b after its re-ingest");
    drop(store);

    // The default cap (16): seventeen refreshes of one side.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    store
        .ingest(fact("t", "a", paris("France"), None, None))
        .unwrap();
    for _ in 0..17 {
        store
            .ingest(fact("t", "b", paris("Italy"), None, None))
            .unwrap();
    }
    let r = all(&store, "t", "Paris");
    assert_eq!(get(&r, "b").version, 17);
    assert_eq!(conflict_ids(&r, "a"), ["b"], "a after 17 versions of b");
    // A new contradicting claim can still attach to `a`.
    store
        .ingest(fact("t", "c", paris("Spain"), None, None))
        .unwrap();
    assert_eq!(conflict_ids(&all(&store, "t", "Paris"), "a"), ["b", "c"]);
}

// 6 ------------------------------------------------------------------------------------------

/// What answers show about detected edges, in a comparable form: per result (claim, version,
/// sorted conflicts), and the graph's edges, sorted.
type Snapshot = (
    Vec<(String, u32, Vec<(String, bool, Option<String>)>)>,
    Vec<(String, String, String, bool, Option<String>)>,
);

fn snapshot_of(store: &Store, q: Query) -> Snapshot {
    assert!(store.wait_for_detection());
    let r = store.retrieve(&q.include_graph(1)).unwrap();
    let mut results: Vec<_> = r
        .results
        .iter()
        .map(|x| {
            let mut conflicts: Vec<_> = x
                .conflicts
                .iter()
                .map(|c| (c.claim_id.to_string(), c.detected, c.reason.clone()))
                .collect();
            conflicts.sort();
            (x.claim_id.to_string(), x.version, conflicts)
        })
        .collect();
    results.sort();
    let mut edges: Vec<_> = r
        .graph
        .unwrap()
        .edges
        .iter()
        .map(|e| {
            (
                e.from_claim_id.to_string(),
                e.to_claim_id.to_string(),
                e.relation.as_str().to_owned(),
                e.detected,
                e.reason.clone(),
            )
        })
        .collect();
    edges.sort();
    (results, edges)
}

/// A mixed corpus in tenant `t`, every text holding "dossier": structured contradictions and
/// successions, free-text conflicts of each rule, a claim without entities, a caller edge,
/// re-ingests (one retiring a conflict, one unchanged) and forgets. Returns a recorded time in
/// the middle.
fn mixed_corpus(store: &Store) -> Timestamp {
    let s = |id: &str, spo: (&str, &str, &str), from: Option<i32>, to: Option<i32>| {
        let mut it = fact("t", id, spo, from, to);
        it.claim.canonical_text.push_str(" dossier");
        store.ingest(it).unwrap();
    };
    let f = |id: &str, text: &str, entities: &[&str]| {
        store
            .ingest(said("t", id, &format!("Dossier: {text}"), entities))
            .unwrap();
    };
    let baker = |o| ("Newton D. Baker", "position held", o);
    let weeks = |o| ("John W. Weeks", "position held", o);
    let acme = |o| ("Acme", "chief executive", o);
    let paris = |o| ("Paris", "capital of", o);
    let curie = |o| ("Marie Curie", "award received", o);
    s("s1", baker("Secretary of War"), Some(1916), Some(1921));
    s("s2", baker("Mayor of Cleveland"), Some(1912), Some(1916));
    s("s3", baker("Lawyer"), Some(1915), Some(1920));
    s("s4", weeks("Secretary of War"), Some(1921), Some(1925));
    s("s5", weeks("Senator"), Some(1913), Some(1919));
    s("s6", acme("Alice"), Some(2000), Some(2005));
    s("s7", acme("Bob"), Some(2006), None);
    s("s8", acme("Carol"), Some(2004), Some(2008));
    s("s9", paris("France"), None, None);
    s("s10", paris("Italy"), None, None);
    s("s11", paris("FRANCE "), None, None);
    s("s12", curie("Nobel Prize in Physics"), Some(1903), None);
    s("s13", curie("Nobel Prize in Chemistry"), Some(1911), None);
    f("f1", "Arctic sea ice extent is declining", &["Arctic"]);
    f("f2", "Arctic sea ice extent is not declining", &["Arctic"]);
    f("f3", "The Eiffel Tower is 330 m tall", &["Eiffel Tower"]);
    f("f4", "The Eiffel Tower is 300 m tall", &["Eiffel Tower"]);
    f("f5", "Global sea levels increased last century", &["Ocean"]);
    f("f6", "Global sea levels decreased last century", &["Ocean"]);
    f("f7", "The capital of Australia is Canberra", &["Australia"]);
    f("f8", "The capital of Australia is Sydney", &["Australia"]);
    f("f9", "Coral reefs are bleaching", &["Coral"]);
    f("f10", "Glaciers are retreating worldwide", &["Glacier"]);
    f("f11", "Most glaciers are retreating", &["Glacier"]);
    f("n1", "Arctic sea ice extent is growing", &[]);
    let middle = store
        .ingest(
            said("t", "f12", "Dossier: Sea ice is stable", &["Arctic"]).with_edge(Edge::new(
                "f12",
                "f1",
                Relation::Contradicts,
            )),
        )
        .unwrap()
        .recorded_at;
    s("s10", paris("France"), None, None); // retires s9/s10 and s10/s11
    f("f4", "The Eiffel Tower is 330 m tall", &["Eiffel Tower"]); // agrees now
    s("s8", acme("Carol"), Some(2004), Some(2008)); // unchanged
    f("f2", "Arctic sea ice extent is not declining", &["Arctic"]); // unchanged
    store.forget(&t("t"), &c("f6")).unwrap();
    store.forget(&t("t"), &c("s3")).unwrap();
    f(
        "f13",
        "Arctic sea ice extent is declining fast",
        &["Arctic"],
    );
    s("s14", baker("Secretary of State"), Some(1930), None);
    middle
}

fn mixed_snapshots(store: &Store, middle: Timestamp) -> Vec<Snapshot> {
    let q = || Query::new("t").text("dossier").top_k(200);
    vec![
        snapshot_of(store, q()),
        snapshot_of(store, q().as_of(year(1917))),
        snapshot_of(store, q().as_of(year(2007))),
        snapshot_of(store, q().recorded_as_of(middle)),
    ]
}

#[test]
fn rebuild_edges_is_idempotent_and_equals_what_ingest_and_reopen_build() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    let middle = mixed_corpus(&store);
    let ingested = mixed_snapshots(&store, middle);

    // The corpus says what it should: spot checks.
    let (now, edges) = &ingested[0];
    let conflicts_of = |id: &str| -> Vec<&str> {
        now.iter()
            .find(|x| x.0 == id)
            .unwrap_or_else(|| panic!("{id} missing"))
            .2
            .iter()
            .map(|c| c.0.as_str())
            .collect()
    };
    assert_eq!(now.len(), 26, "28 claims, two forgotten");
    assert_eq!(conflicts_of("s1"), Vec::<&str>::new()); // s3 is forgotten
    assert_eq!(conflicts_of("s8"), ["s6", "s7"]);
    assert_eq!(conflicts_of("s9"), Vec::<&str>::new());
    assert_eq!(conflicts_of("s12"), ["s13"]);
    // n1 names no entity and is compared all the same: "declining" / "growing".
    assert_eq!(conflicts_of("f1"), ["f12", "f2", "n1"]);
    assert_eq!(conflicts_of("f2"), ["f1", "f13"]);
    assert_eq!(conflicts_of("f3"), Vec::<&str>::new());
    assert_eq!(conflicts_of("f7"), ["f8"]);
    // "declining (fast)" / "growing" conflict; "not declining" / "growing" agree.
    assert_eq!(conflicts_of("n1"), ["f1", "f13"]);
    assert!(edges
        .iter()
        .any(|e| e.0 == "s1" && e.1 == "s2" && e.2 == "supersedes"));
    assert!(edges
        .iter()
        .any(|e| e.0 == "s4" && e.1 == "s5" && e.2 == "supersedes"));
    let recorded_then = &ingested[3].0;
    let then_of = |id: &str| -> Vec<&str> {
        recorded_then
            .iter()
            .find(|x| x.0 == id)
            .unwrap()
            .2
            .iter()
            .map(|c| c.0.as_str())
            .collect()
    };
    assert_eq!(then_of("s9"), ["s10"]);
    assert_eq!(then_of("f3"), ["f4"]);
    assert_eq!(then_of("s1"), ["s3"]);

    let stats = store.stats();
    let live = stats.detected_edges;
    assert!(live > 0);
    assert_eq!(
        stats.detected_edges_built, live,
        "nothing was retention-dropped"
    );
    assert_eq!(stats.detected_edges_dropped_degree, 0);
    for round in 1..=2u64 {
        assert_eq!(store.rebuild_edges(&t("t")).unwrap(), live, "round {round}");
        assert_eq!(mixed_snapshots(&store, middle), ingested, "round {round}");
        let after = store.stats();
        assert_eq!(after.detected_edges, live);
        assert_eq!(after.detected_edges_built, live * (round + 1));
        assert_eq!(after.detected_edges_dropped_degree, 0);
    }
    // A tenant with nothing is fine.
    assert_eq!(store.rebuild_edges(&t("nobody")).unwrap(), 0);
    assert!(store.rebuild_edges(&t("")).is_err());

    // Reopened from the WAL, then from a checkpointed segment.
    store.close().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    assert_eq!(mixed_snapshots(&store, middle), ingested, "WAL replay");
    assert_eq!(store.stats().detected_edges, live, "WAL replay");
    store.checkpoint().unwrap();
    assert_eq!(mixed_snapshots(&store, middle), ingested, "checkpoint");
    store.close().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    assert!(store.recovery_report().segments_loaded >= 1);
    assert_eq!(mixed_snapshots(&store, middle), ingested, "segment reopen");
    let stats = store.stats();
    assert_eq!(stats.detected_edges, live, "segment reopen");
    // Edges are persisted: an open loads them and judges nothing again.
    assert_eq!(stats.detected_edges_built, 0, "built at open");
    assert_eq!(stats.detection_claims_processed, 0, "judged at open");
    assert_eq!(store.rebuild_edges(&t("t")).unwrap(), live);
    assert_eq!(
        mixed_snapshots(&store, middle),
        ingested,
        "rebuild after reopen"
    );
}

/// Unrelated claims about `entity`: each shares only the entity's name with the others.
fn filler(store: &Store, tenant: &str, entity: &str, n: usize) {
    const LETTERS: &[u8] = b"bcdfghjklmnpqrstvwxz";
    for k in 0..n {
        let tag: String = [k / LETTERS.len(), k % LETTERS.len()]
            .iter()
            .map(|&i| char::from(LETTERS[i]))
            .collect();
        store
            .ingest(said(
                tenant,
                &format!("fill{k}"),
                &format!("{entity} {tag}a {tag}e {tag}o {tag}u"),
                &[entity],
            ))
            .unwrap();
    }
}

#[test]
fn rebuild_finds_free_text_conflicts_ingest_found_when_the_entity_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    store
        .ingest(said("t", "a", DECLINING, &["Arctic"]))
        .unwrap();
    store
        .ingest(said("t", "b", NOT_DECLINING, &["Arctic"]))
        .unwrap();
    filler(&store, "t", "Arctic", 70);
    let r = all(&store, "t", "sea ice declining");
    assert_eq!(conflict_ids(&r, "a"), ["b"], "on ingest");
    let live = store.stats().detected_edges;
    assert_eq!(live, 1, "the filler makes no edges");

    assert_eq!(store.rebuild_edges(&t("t")).unwrap(), live, "rebuild");
    assert_eq!(
        conflict_ids(&all(&store, "t", "sea ice declining"), "a"),
        ["b"],
        "after rebuild"
    );
    store.close().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    assert_eq!(
        conflict_ids(&all(&store, "t", "sea ice declining"), "a"),
        ["b"],
        "after reopen"
    );
}

#[test]
fn retired_versions_do_not_crowd_out_free_text_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    store
        .ingest(said("t", "a", DECLINING, &["Arctic"]))
        .unwrap();
    // One other claim about the entity, refreshed many times (its old versions are history).
    for k in 0..70 {
        store
            .ingest(said(
                "t",
                "log",
                &format!("Arctic expedition visited camp number {k}"),
                &["Arctic"],
            ))
            .unwrap();
    }
    store
        .ingest(said("t", "b", NOT_DECLINING, &["Arctic"]))
        .unwrap();
    // Two live claims share the entity with `b`: well within max_candidates (32).
    assert_eq!(
        conflict_ids(&all(&store, "t", "sea ice declining"), "b"),
        ["a"]
    );
}

#[test]
fn a_batch_gets_the_same_edges_after_checkpoint_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = || DetectionConfig::default().max_degree(1);
    let store = open(&dir, config());
    let paris = |o| ("Paris", "capital of", o);
    // Claim ids in the reverse of the batch order.
    store
        .ingest_batch(
            "b1",
            vec![
                fact("t", "c", paris("France"), None, None),
                fact("t", "b", paris("Italy"), None, None),
                fact("t", "a", paris("Spain"), None, None),
            ],
        )
        .unwrap();
    let q = || Query::new("t").text("Paris").top_k(10);
    let ingested = snapshot_of(&store, q());
    assert_eq!(store.stats().detected_edges, 1);
    assert_eq!(store.rebuild_edges(&t("t")).unwrap(), 1);
    assert_eq!(snapshot_of(&store, q()), ingested, "rebuild");
    store.checkpoint().unwrap();
    store.close().unwrap();
    let store = open(&dir, config());
    assert_eq!(store.recovery_report().segments_loaded, 1);
    assert_eq!(snapshot_of(&store, q()), ingested, "checkpoint + reopen");
}

// 7 ------------------------------------------------------------------------------------------

#[test]
fn the_degree_cap_bounds_every_claims_detected_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, DetectionConfig::default().max_degree(5));
    let n = 40u64;
    for k in 0..n {
        store
            .ingest(fact(
                "t",
                &format!("m{k:02}"),
                ("Mount Erebus", "elevation", &format!("{} m", 3700 + k)),
                Some(2000),
                None,
            ))
            .unwrap();
    }
    let r = all(&store, "t", "Erebus elevation");
    assert_eq!(r.results.len(), 40);
    let mut degree_sum = 0;
    for x in &r.results {
        assert!(
            x.conflicts.len() <= 5,
            "{}: {}",
            x.claim_id,
            x.conflicts.len()
        );
        assert!(x.conflicts.iter().all(|c| c.detected && c.reason.is_some()));
        degree_sum += x.conflicts.len() as u64;
    }
    let stats = store.stats();
    assert!(stats.detected_edges_dropped_degree > 0);
    // Every pair proposes exactly one edge: built or dropped.
    assert_eq!(
        stats.detected_edges_built + stats.detected_edges_dropped_degree,
        n * (n - 1) / 2
    );
    assert_eq!(stats.detected_edges, stats.detected_edges_built);
    assert_eq!(degree_sum, 2 * stats.detected_edges);
    assert!(stats.detected_edges <= n * 5 / 2);
    assert!(stats.detected_edges >= 5, "the first claims fill up");
}

/// A detector that calls every pair a contradiction, with a fixed confidence.
#[derive(Debug)]
struct Fixed {
    confidence: f32,
    reason: &'static str,
}

impl ContradictionDetector for Fixed {
    fn judge(&self, _a: &str, _b: &str) -> Option<Judgement> {
        Some(Judgement {
            confidence: self.confidence,
            reason: self.reason.into(),
        })
    }
}

fn with_detector(confidence: f32, floor: f32) -> DetectionConfig {
    DetectionConfig::default()
        .detector(Arc::new(Fixed {
            confidence,
            reason: "fixed: model says contradiction",
        }))
        .confidence_floor(floor)
}

/// Two lexically close free-text claims about one entity, and a structured pair.
fn judged_pair(store: &Store) {
    store
        .ingest(said(
            "t",
            "a",
            "Glacier mass balance report alpha",
            &["Glacier"],
        ))
        .unwrap();
    store
        .ingest(said(
            "t",
            "b",
            "Glacier mass balance report beta",
            &["Glacier"],
        ))
        .unwrap();
}

#[test]
fn a_custom_detector_below_the_floor_or_nan_makes_no_edge() {
    for (confidence, label) in [(0.3, "0.3"), (f32::NAN, "NaN"), (-1.0, "negative")] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, with_detector(confidence, 0.6));
        judged_pair(&store);
        let r = all(&store, "t", "Glacier mass balance");
        assert_eq!(id_set(&r), BTreeSet::from(["a", "b"]), "{label}");
        assert!(r.results.iter().all(|x| x.conflicts.is_empty()), "{label}");
        let stats = store.stats();
        assert_eq!(stats.detected_edges, 0, "{label}");
        assert_eq!(stats.detection_pairs_judged, 1, "{label}");
        assert_eq!(stats.detected_edges_dropped_floor, 1, "{label}");
    }
    // A floor of 0 still refuses NaN.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, with_detector(f32::NAN, 0.0));
    judged_pair(&store);
    assert!(store.wait_for_detection());
    assert_eq!(store.stats().detected_edges, 0);
    assert_eq!(store.stats().detected_edges_dropped_floor, 1);
}

#[test]
fn a_custom_detector_at_or_above_the_floor_makes_edges_with_its_reason() {
    for (confidence, floor, strength) in [(0.9, 0.6, 0.9), (0.6, 0.6, 0.6), (7.0, 0.6, 1.0)] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, with_detector(confidence, floor));
        judged_pair(&store);
        let r = all(&store, "t", "Glacier mass balance");
        for (me, other) in [("a", "b"), ("b", "a")] {
            let conflict = only_detected_conflict(&r, me);
            assert_eq!(conflict.claim_id.as_str(), other);
            assert_eq!(
                conflict.reason.as_deref(),
                Some("fixed: model says contradiction")
            );
            assert_eq!(conflict.strength, strength, "{confidence}");
        }
        let stats = store.stats();
        assert_eq!(stats.detected_edges, 1);
        assert_eq!(stats.detected_edges_dropped_floor, 0);
        assert_eq!(stats.detection_pairs_judged, 1);
    }
    // The custom detector is only asked about free text: structured claims keep their rule.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, with_detector(0.9, 0.6));
    store
        .ingest(fact(
            "t",
            "s1",
            ("Paris", "capital of", "France"),
            None,
            None,
        ))
        .unwrap();
    store
        .ingest(fact(
            "t",
            "s2",
            ("Paris", "capital of", "France"),
            None,
            None,
        ))
        .unwrap();
    assert!(all(&store, "t", "Paris")
        .results
        .iter()
        .all(|x| x.conflicts.is_empty()));
    assert_eq!(store.stats().detection_pairs_judged, 0);
}

#[test]
fn the_term_overlap_gate_keeps_unrelated_texts_from_the_detector() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, with_detector(0.9, 0.6));
    store
        .ingest(said(
            "t",
            "a",
            "Glacier mass balance report alpha",
            &["Glacier"],
        ))
        .unwrap();
    store
        .ingest(said(
            "t",
            "b",
            "Glacier tourism grew in the valleys",
            &["Glacier"],
        ))
        .unwrap();
    let r = all(&store, "t", "Glacier");
    assert!(r.results.iter().all(|x| x.conflicts.is_empty()));
    assert_eq!(store.stats().detection_pairs_judged, 0);
}

// 8 ------------------------------------------------------------------------------------------

#[test]
fn detection_never_crosses_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    for tenant in ["a", "b"] {
        let mut x = fact(tenant, "x", ("Paris", "capital of", "France"), None, None);
        x.claim.canonical_text = format!("[{tenant}] Paris is the capital of France");
        let mut y = fact(tenant, "y", ("Paris", "capital of", "Italy"), None, None);
        y.claim.canonical_text = format!("[{tenant}] Paris is the capital of Italy");
        store.ingest(x).unwrap();
        store.ingest(y).unwrap();
        store
            .ingest(said(
                tenant,
                "f",
                &format!("[{tenant}] Arctic sea ice extent is declining"),
                &["Arctic"],
            ))
            .unwrap();
    }
    // Tenant c holds only one side of each conflict: nothing of a or b may pair with it.
    store
        .ingest(fact("c", "z", ("Paris", "capital of", "Spain"), None, None))
        .unwrap();
    store
        .ingest(said("c", "g", NOT_DECLINING, &["Arctic"]))
        .unwrap();
    for tenant in ["a", "b"] {
        let r = all(&store, tenant, "Paris capital Arctic");
        assert_eq!(id_set(&r), BTreeSet::from(["f", "x", "y"]));
        let marker = format!("[{tenant}]");
        assert!(get(&r, "f").conflicts.is_empty(), "{tenant}");
        for (me, other) in [("x", "y"), ("y", "x")] {
            let conflict = only_detected_conflict(&r, me);
            assert_eq!(conflict.claim_id.as_str(), other);
            assert!(
                conflict.canonical_text.starts_with(&marker),
                "{tenant}/{me} points at {:?}",
                conflict.canonical_text
            );
        }
        let g = store
            .retrieve(
                &Query::new(tenant)
                    .text("Paris capital")
                    .top_k(10)
                    .include_graph(2),
            )
            .unwrap()
            .graph
            .unwrap();
        assert!(g
            .nodes
            .iter()
            .all(|n| n.canonical_text.starts_with(&marker)));
        assert_eq!(g.edges.len(), 1, "{g:?}");
    }
    let r = all(&store, "c", "Paris Arctic");
    assert!(r.results.iter().all(|x| x.conflicts.is_empty()));
    assert_eq!(store.stats().detected_edges, 2);
}

// 9 ------------------------------------------------------------------------------------------

#[test]
fn support_only_queries_list_no_conflicts_even_detected_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    store
        .ingest(fact(
            "t",
            "x",
            ("Paris", "capital of", "France"),
            None,
            None,
        ))
        .unwrap();
    store
        .ingest(fact("t", "y", ("Paris", "capital of", "Italy"), None, None))
        .unwrap();
    store
        .ingest(said("t", "a", DECLINING, &["Arctic"]))
        .unwrap();
    store
        .ingest(said("t", "b", NOT_DECLINING, &["Arctic"]))
        .unwrap();
    let q = Query::new("t").text("Paris capital Arctic").top_k(10);
    assert!(store.wait_for_detection());
    let balanced = store.retrieve(&q.clone()).unwrap();
    assert_eq!(conflict_ids(&balanced, "x"), ["y"]);
    assert_eq!(conflict_ids(&balanced, "a"), ["b"]);
    let support = store
        .retrieve(&q.stance_mode(StanceMode::SupportOnly))
        .unwrap();
    assert_eq!(id_set(&support), BTreeSet::from(["a", "b", "x", "y"]));
    for x in &support.results {
        assert!(x.conflicts.is_empty(), "{}: {:?}", x.claim_id, x.conflicts);
    }
}

// 10 -----------------------------------------------------------------------------------------

#[test]
fn hostile_detection_settings_are_refused_at_open() {
    let hostile = [
        (
            "floor 1.5",
            DetectionConfig::default().confidence_floor(1.5),
        ),
        (
            "floor -0.1",
            DetectionConfig::default().confidence_floor(-0.1),
        ),
        (
            "floor NaN",
            DetectionConfig::default().confidence_floor(f32::NAN),
        ),
        (
            "floor inf",
            DetectionConfig::default().confidence_floor(f32::INFINITY),
        ),
        ("degree 0", DetectionConfig::default().max_degree(0)),
        ("degree huge", DetectionConfig::default().max_degree(1025)),
        (
            "degree max",
            DetectionConfig::default().max_degree(usize::MAX),
        ),
        ("candidates 0", DetectionConfig::default().max_candidates(0)),
        (
            "candidates huge",
            DetectionConfig::default().max_candidates(4097),
        ),
        ("judged 0", DetectionConfig::default().max_judged(0)),
        ("judged huge", DetectionConfig::default().max_judged(1025)),
        ("overlap 2", DetectionConfig::default().min_shared(2.0)),
        (
            "overlap NaN",
            DetectionConfig::default().min_shared(f32::NAN),
        ),
        // Disabled detection does not excuse an invalid setting.
        (
            "disabled, degree 0",
            DetectionConfig::disabled().max_degree(0),
        ),
    ];
    for (label, config) in hostile {
        let dir = tempfile::tempdir().unwrap();
        match Store::builder(dir.path()).detection(config).open() {
            Err(OpenError::Config(e)) => {
                assert!(e.to_string().contains("detection."), "{label}: {e}");
            }
            Err(e) => panic!("{label}: wrong error {e:?}"),
            Ok(_) => panic!("{label}: opened"),
        }
    }
    // The edges of the accepted ranges open.
    for config in [
        DetectionConfig::default()
            .confidence_floor(0.0)
            .max_degree(1)
            .max_candidates(1)
            .max_judged(1)
            .min_shared(0.0),
        DetectionConfig::default()
            .confidence_floor(1.0)
            .max_degree(1024)
            .max_candidates(4096)
            .max_judged(1024)
            .min_shared(1.0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, config);
        store
            .ingest(fact(
                "t",
                "x",
                ("Paris", "capital of", "France"),
                None,
                None,
            ))
            .unwrap();
        store.close().unwrap();
    }
}

// TimeQA-like --------------------------------------------------------------------------------

#[test]
fn timeqa_like_facts_of_different_subjects_never_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).open().unwrap();
    // Several people hold the same office one after the other, and each holds several offices
    // over time; some subjects are near-homonyms.
    let held = [
        (
            "q1",
            "Newton D. Baker",
            "Mayor of Cleveland",
            1912,
            Some(1916),
        ),
        (
            "q2",
            "Newton D. Baker",
            "Secretary of War",
            1916,
            Some(1921),
        ),
        (
            "q3",
            "Lindley M. Garrison",
            "Secretary of War",
            1913,
            Some(1916),
        ),
        ("q4", "John W. Weeks", "Secretary of War", 1921, Some(1925)),
        ("q5", "John W. Weeks", "Senator", 1913, Some(1919)),
        (
            "q6",
            "George Bush",
            "President of the United States",
            1989,
            Some(1993),
        ),
        (
            "q7",
            "George W. Bush",
            "President of the United States",
            2001,
            Some(2009),
        ),
        (
            "q8",
            "George W. Bush",
            "Governor of Texas",
            1995,
            Some(2000),
        ),
        (
            "q9",
            "Bill Clinton",
            "President of the United States",
            1993,
            Some(2001),
        ),
        (
            "q10",
            "Bill Clinton",
            "Governor of Arkansas",
            1983,
            Some(1992),
        ),
    ];
    for (id, subject, office, from, to) in held {
        let mut it = fact("t", id, (subject, "position held", office), Some(from), to);
        it.claim.canonical_text = format!("{subject} held the position of {office} from {from}");
        it.claim.entities = vec![subject.to_owned(), office.to_owned()];
        store.ingest(it).unwrap();
    }
    // Structured claims are never judged as free text, even when their texts look opposed.
    let mut a = fact(
        "t",
        "p1",
        ("Pluto", "classified as", "dwarf planet"),
        Some(2006),
        None,
    );
    a.claim.canonical_text = "Pluto is a planet".into();
    a.claim.entities = vec!["Pluto".into()];
    let mut b = fact(
        "t",
        "p2",
        ("pluto", "Classified As", "Dwarf  Planet"),
        Some(2006),
        None,
    );
    b.claim.canonical_text = "Pluto is not a planet".into();
    b.claim.entities = vec!["Pluto".into()];
    store.ingest(a).unwrap();
    store.ingest(b).unwrap();

    let r = store
        .retrieve(
            &Query::new("t")
                .text("position Secretary President Senator Governor Mayor Pluto")
                .top_k(50)
                .include_graph(1),
        )
        .unwrap();
    assert_eq!(r.results.len(), 12);
    for x in &r.results {
        assert!(
            x.conflicts.is_empty(),
            "{}: false conflicts {:?}",
            x.claim_id,
            x.conflicts
        );
    }
    // Only each person's own successions.
    let g = r.graph.unwrap();
    let mut edges: Vec<(&str, &str, &str)> = g
        .edges
        .iter()
        .map(|e| {
            assert!(e.detected && e.reason.is_some(), "{e:?}");
            (
                e.from_claim_id.as_str(),
                e.to_claim_id.as_str(),
                e.relation.as_str(),
            )
        })
        .collect();
    edges.sort();
    assert_eq!(
        edges,
        [
            ("q2", "q1", "supersedes"),
            ("q4", "q5", "supersedes"),
            ("q7", "q8", "supersedes"),
            ("q9", "q10", "supersedes"),
        ]
    );
    let stats = store.stats();
    assert_eq!(stats.detected_edges, 4);
    assert_eq!(stats.detection_pairs_judged, 0);
    // At a year, each office has the holder of that year.
    let r = store
        .retrieve(
            &Query::new("t")
                .text("Secretary of War")
                .entity("Secretary of War")
                .top_k(10)
                .as_of(year(1918)),
        )
        .unwrap();
    assert_eq!(ids(&r), ["q2"]);
}
