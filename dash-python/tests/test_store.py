"""The embedded Store from Python: every method, typed answers, persistence."""

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

import dash_memory as dm
from conftest import item


def test_ingest_a_dict_and_retrieve_it_with_citations(store):
    receipt = store.ingest(item("c1", "The Eiffel Tower is in Paris"))
    assert isinstance(receipt, dm.IngestReceipt)
    assert (receipt.tenant_id, receipt.claim_id, receipt.version) == ("acme", "c1", 1)
    assert receipt.recorded_at.tzinfo is not None
    store.ingest(item("c2", "Mount Fuji is in Japan"))
    assert store.wait_for_detection()

    answer = store.retrieve("acme", "where is the Eiffel Tower")
    assert isinstance(answer, dm.RetrieveResponse)
    top = answer.results[0]
    assert isinstance(top, dm.RetrievedClaim)
    assert top.claim_id == "c1"
    assert top.canonical_text == "The Eiffel Tower is in Paris"
    assert isinstance(top.score_breakdown, dm.ScoreBreakdown)
    assert top.score_breakdown.lexical > 0
    assert [e.evidence_id for e in top.supporting_evidence] == ["c1-e1"]
    assert top.citations == [dm.Citation("c1-e1", "wiki", "p1", 0, 10)]
    assert isinstance(answer.detection, dm.DetectionStatus) and answer.detection.caught_up


def test_typed_items_are_ingested_like_dicts(store):
    claim = dm.Claim("c1", "acme", "Water boils at 100 degrees Celsius at sea level", 0.95,
                     entities=["water"], metadata={"lang": "en"})
    evidence = dm.Evidence("e1", "c1", "textbook", "supports", 0.9, span_start=0, span_end=5)
    store.ingest(dm.IngestItem(claim, [evidence]))
    record = store.get_claim("acme", "c1")
    assert isinstance(record, dm.ClaimRecord)
    assert record.claim == claim
    assert record.evidence == [evidence]
    assert record.forgotten is False
    assert [v.version for v in record.history] == [1]


def test_to_dict_is_the_contract_shape_and_round_trips(store):
    store.ingest(item("c1", "The Eiffel Tower is in Paris"))
    answer = store.retrieve("acme", "Eiffel Tower")
    d = answer.to_dict()
    assert d["results"][0]["claim_id"] == "c1"
    assert isinstance(d["results"][0]["recorded_at"], str)
    assert d["results"][0]["recorded_at"].endswith("Z")
    assert dm.RetrieveResponse.from_dict(d) == answer


def test_answers_convert_a_field_when_it_is_first_read(store):
    store.ingest(item("c1", "The Eiffel Tower is in Paris"))
    store.ingest(item("c2", "The Eiffel Tower is in Rome"))
    answer = store.retrieve("acme", "Eiffel Tower", wait_for_detection_ms=5000)
    assert "results" not in vars(answer)
    top = answer.results[0]
    assert "results" in vars(answer) and "supporting_evidence" not in vars(top)
    assert top.supporting_evidence is top.supporting_evidence  # converted once, then kept
    assert isinstance(top.recorded_at, datetime) and top.recorded_at.tzinfo is not None
    assert len(repr(top.score)) <= 11  # the f32 as its shortest decimal, as over HTTP
    assert repr(top).startswith("RetrievedClaim(claim_id=")
    assert [f.name for f in dataclasses.fields(top)][:2] == ["claim_id", "canonical_text"]
    eager = dm.RetrieveResponse.from_dict(answer.to_dict())
    assert eager == answer and answer == eager
    assert type(eager.results[0]) is dm.RetrievedClaim and isinstance(top, dm.RetrievedClaim)
    # to_dict: straight from Rust when nothing was read, merged with what was read otherwise.
    fresh = store.retrieve("acme", "Eiffel Tower")
    assert fresh.to_dict()["results"] == answer.to_dict()["results"]
    assert fresh.results[1].to_dict() == answer.results[1].to_dict()
    top.canonical_text = "changed"  # the objects stay plain, mutable dataclasses
    assert top.to_dict()["canonical_text"] == "changed"
    assert answer.to_dict()["results"][0]["canonical_text"] == "changed"


def test_a_plain_text_contradiction_is_surfaced_with_its_reason(store):
    store.ingest(item("a", "Arctic sea ice extent is declining"))
    store.ingest(item("b", "Arctic sea ice extent is not declining"))
    assert store.wait_for_detection()
    answer = store.retrieve("acme", "Arctic sea ice", top_k=5)
    by_id = {r.claim_id: r for r in answer.results}
    assert set(by_id) == {"a", "b"}
    conflict = by_id["b"].conflicts[0]
    assert isinstance(conflict, dm.Conflict)
    assert (conflict.claim_id, conflict.relation, conflict.detected) == ("a", "contradicts", True)
    assert "negation" in conflict.reason
    assert answer.detection.caught_up


def test_support_only_drops_contradicting_evidence(store):
    it = item("c1", "Coffee improves memory")
    it["evidence"].append({"evidence_id": "c1-e2", "claim_id": "c1", "source_id": "trial",
                           "stance": "contradicts", "source_quality": 0.6})
    store.ingest(it)
    balanced = store.retrieve("acme", "coffee memory").results[0]
    assert [e.evidence_id for e in balanced.contradicting_evidence] == ["c1-e2"]
    support = store.retrieve("acme", "coffee memory", stance_mode="support_only").results[0]
    assert support.contradicting_evidence == []


def test_batch_is_idempotent_and_a_reused_commit_id_conflicts(store):
    items = [item("c1", "Alpha claim text"), item("c2", "Beta claim text")]
    first = store.ingest_batch("commit-1", items)
    assert isinstance(first, dm.BatchReceipt)
    assert first.status == "committed"
    assert [i.claim_id for i in first.items] == ["c1", "c2"]
    again = store.ingest_batch("commit-1", items)
    assert again.status == "replayed"
    with pytest.raises(dm.CommitConflictError):
        store.ingest_batch("commit-1", [item("c3", "Gamma claim text")])
    assert store.get_claim("acme", "c3") is None


def test_versions_and_forget(store):
    store.ingest(item("c1", "The museum opens at nine"))
    store.ingest(item("c1", "The museum opens at ten"))
    receipt = store.forget("acme", "c1")
    assert isinstance(receipt, dm.ForgetReceipt)
    versions = store.versions("acme", "c1")
    assert [(v.version, v.forgotten) for v in versions] == [(1, False), (2, False), (3, True)]
    assert versions[1].claim.canonical_text == "The museum opens at ten"
    assert versions[2].claim is None
    assert store.get_claim("acme", "c1") is None
    assert store.retrieve("acme", "museum opens").results == []
    with pytest.raises(dm.NotFoundError):
        store.forget("acme", "c1")


def test_valid_time_and_recorded_time(store):
    y2010 = datetime(2010, 1, 1, tzinfo=timezone.utc)
    y2020 = datetime(2020, 1, 1, tzinfo=timezone.utc)
    store.ingest(item("old", "The team is led by Alice", valid_from="2005-01-01T00:00:00Z",
                      valid_to="2015-01-01T00:00:00Z"))
    store.ingest(item("new", "The team is led by Bob", valid_from=y2010 + timedelta(days=5 * 365)))
    at_2010 = store.retrieve("acme", "team led", as_of=y2010)
    assert [r.claim_id for r in at_2010.results] == ["old"]
    at_2020 = store.retrieve("acme", "team led", as_of="2020-01-01T00:00:00Z")
    assert [r.claim_id for r in at_2020.results] == ["new"]
    assert at_2020.results[0].valid_from == datetime(2014, 12, 31, tzinfo=timezone.utc)
    before_any = store.retrieve("acme", "team led", recorded_as_of=y2020)
    assert before_any.results == []


def test_filters_and_graph_and_explain(store):
    a = item("a", "Paris is the capital of France", entities=["France"], metadata={"k": "v"})
    a["edges"] = [{"from_claim_id": "a", "to_claim_id": "b", "relation": "supports",
                   "strength": 0.7}]
    store.ingest(item("b", "France is a country in Europe", entities=["France", "Europe"]))
    store.ingest(a)
    by_entity = store.retrieve("acme", "France", entities=["Europe"])
    assert [r.claim_id for r in by_entity.results] == ["b"]
    by_meta = store.retrieve("acme", "France", metadata={"k": "v"})
    assert [r.claim_id for r in by_meta.results] == ["a"]
    by_source = store.retrieve("acme", "France", sources=["nowhere"])
    assert by_source.results == []
    graphed = store.retrieve("acme", "capital of France", graph_depth=1, explain=True, top_k=1)
    assert {(e.from_claim_id, e.to_claim_id) for e in graphed.graph.edges} == {("a", "b")}
    assert isinstance(graphed.explain, dict) and graphed.explain
    plain = store.retrieve("acme", "capital of France", top_k=1)
    assert plain.explain is None and plain.graph.nodes == []


def test_vectors_from_lists_and_numpy(store):
    np = pytest.importorskip("numpy")
    store.ingest(item("x", "first vector claim", embedding=np.array([1.0, 0.0, 0.0])))
    store.ingest(item("y", "second vector claim", embedding=[0.0, 1.0, 0.0]))
    by_numpy = store.retrieve("acme", embedding=np.array([0.0, 0.9, 0.1], dtype=np.float32),
                              ranking="relevance")
    assert by_numpy.results[0].claim_id == "y"
    by_list = store.retrieve("acme", embedding=[1.0, 0.1, 0.0], ranking="relevance")
    assert by_list.results[0].claim_id == "x"


def test_a_store_on_disk_keeps_its_claims_across_close_and_reopen(tmp_path):
    path = tmp_path / "kept"
    with dm.Store(path) as s:
        s.ingest(item("c1", "Durable claims survive a reopen"))
        report = s.checkpoint()
        assert isinstance(report, dm.CheckpointReport)
        assert report.segments >= 1
        s.ingest(item("c2", "Claims only in the WAL survive too"))
    with dm.Store(path) as s:
        ids = {r.claim_id for r in s.retrieve("acme", "survive").results}
        assert ids == {"c1", "c2"}
        stats = s.stats()
        assert stats["claims"] == 2


def test_in_memory_stores_are_separate():
    with dm.Store() as a, dm.Store() as b:
        a.ingest(item("c1", "Only in store a"))
        assert b.retrieve("acme", "store").results == []
        assert [r.claim_id for r in a.retrieve("acme", "store").results] == ["c1"]


def test_tenants_do_not_see_each_other(store):
    store.ingest(item("c1", "A secret of tenant one", tenant="one"))
    store.ingest(item("c1", "A secret of tenant two", tenant="two"))
    one = store.retrieve("one", "secret")
    assert [r.canonical_text for r in one.results] == ["A secret of tenant one"]
    assert store.get_claim("two", "c1").claim.canonical_text == "A secret of tenant two"


def test_batched_durability_and_flush(tmp_path):
    with dm.Store(tmp_path / "b", durability="batched", batch_max_records=16,
                  batch_max_delay_ms=5) as s:
        s.ingest(item("c1", "Batched writes are flushed"))
        s.flush()
    with dm.Store(tmp_path / "b") as s:
        assert s.get_claim("acme", "c1") is not None


def test_close_is_idempotent_and_later_calls_raise(tmp_path):
    s = dm.Store(tmp_path / "c")
    assert not s.closed
    s.close()
    s.close()
    assert s.closed
    with pytest.raises(dm.StoreUnavailableError, match="closed"):
        s.retrieve("acme", "anything")
