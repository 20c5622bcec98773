"""The LangChain and LlamaIndex retrievers against the real frameworks: stance, citations and
conflicts reach the framework's documents."""

import asyncio

import pytest
from langchain_core.documents import Document
from llama_index.core.schema import MetadataMode, QueryBundle, TextNode

import dash_memory as dm
from dash_memory.langchain import DashRetriever
from dash_memory.llama_index import DashLlamaRetriever


@pytest.fixture
def disputed(store):
    """Two contradicting plain-text claims and one with evidence against it."""
    store.ingest({"claim": {"claim_id": "a", "tenant_id": "t", "confidence": 0.9,
                            "canonical_text": "Arctic sea ice extent is declining"},
                  "evidence": [{"evidence_id": "e1", "claim_id": "a", "source_id": "nsidc",
                                "stance": "supports", "source_quality": 0.9, "chunk_id": "p3",
                                "span_start": 10, "span_end": 44},
                               {"evidence_id": "e2", "claim_id": "a", "source_id": "blog",
                                "stance": "contradicts", "source_quality": 0.2}]})
    store.ingest({"claim": {"claim_id": "b", "tenant_id": "t", "confidence": 0.3,
                            "canonical_text": "Arctic sea ice extent is not declining"}})
    assert store.wait_for_detection()
    return store


def test_langchain_documents_keep_evidence_citations_and_conflicts(disputed):
    retriever = DashRetriever(store=disputed, tenant_id="t", top_k=5)
    docs = retriever.invoke("Arctic sea ice")
    assert all(isinstance(d, Document) for d in docs)
    by_id = {d.id: d for d in docs}
    assert set(by_id) == {"a", "b"}
    a = by_id["a"].metadata
    assert by_id["a"].page_content == "Arctic sea ice extent is declining"
    assert [e["stance"] for e in a["supporting_evidence"]] == ["supports"]
    assert [e["evidence_id"] for e in a["contradicting_evidence"]] == ["e2"]
    assert {"evidence_id": "e1", "source_id": "nsidc", "chunk_id": "p3", "span_start": 10,
            "span_end": 44} in a["citations"]
    assert [(c["claim_id"], c["relation"]) for c in a["conflicts"]] == [("b", "contradicts")]
    assert a["contested"] is True
    assert set(a["score_breakdown"]) >= {"relevance", "support", "contradiction"}


def test_langchain_async_and_options(disputed):
    retriever = DashRetriever(store=disputed, tenant_id="t",
                              search_options={"stance_mode": "support_only"})
    docs = asyncio.run(retriever.ainvoke("Arctic sea ice"))
    a = next(d for d in docs if d.id == "a")
    assert a.metadata["contradicting_evidence"] == []


def test_langchain_add_texts_and_documents(store):
    retriever = DashRetriever(store=store, tenant_id="t")
    ids = retriever.add_texts(["Rivers flow to the sea"], [{"topic": "water"}], source_id="atlas")
    ids += retriever.add_documents([Document(page_content="Mountains are tall", id="m1")])
    assert ids[1] == "m1"
    again = retriever.add_texts(["Rivers flow to the sea"], [{"topic": "water"}],
                                source_id="atlas")
    assert again == ids[:1]
    assert [v.version for v in store.versions("t", ids[0])] == [1]  # a replay, not a version
    doc = retriever.invoke("rivers sea")[0]
    assert doc.id == ids[0]
    assert doc.metadata["citations"][0]["source_id"] == "atlas"
    assert store.get_claim("t", ids[0]).claim.metadata == {"topic": "water"}


def test_llama_index_nodes_keep_evidence_and_conflicts(disputed):
    retriever = DashLlamaRetriever(disputed, "t", top_k=5)
    hits = retriever.retrieve("Arctic sea ice")
    by_id = {h.node.node_id: h for h in hits}
    assert set(by_id) == {"a", "b"}
    b = by_id["b"]
    assert isinstance(b.node, TextNode)
    assert b.score == pytest.approx(b.node.metadata["score"])
    assert [(c["claim_id"], c["relation"]) for c in b.node.metadata["conflicts"]] == [
        ("a", "contradicts")]
    # what the LLM reads is the claim, not the metadata
    assert b.node.get_content(metadata_mode=MetadataMode.LLM) == (
        "Arctic sea ice extent is not declining")
    async_hits = asyncio.run(retriever.aretrieve(QueryBundle("Arctic sea ice")))
    assert [h.node.node_id for h in async_hits] == [h.node.node_id for h in hits]


def test_llama_index_add_nodes(store):
    retriever = DashLlamaRetriever(store, "t", entities=[])
    ids = retriever.add_nodes([TextNode(id_="n1", text="Glaciers are retreating")])
    assert ids == ["n1"]
    assert retriever.retrieve("glaciers")[0].node.node_id == "n1"


def test_adapters_stay_in_their_tenant(store):
    store.ingest({"claim": {"claim_id": "x", "tenant_id": "other", "confidence": 1.0,
                            "canonical_text": "A secret about rivers"}})
    assert DashRetriever(store=store, tenant_id="t").invoke("rivers") == []
    assert DashLlamaRetriever(store, "t").retrieve("rivers") == []


def test_add_texts_refuses_lists_of_other_lengths(store):
    retriever = DashRetriever(store=store, tenant_id="t")
    with pytest.raises(dm.InvalidInputError, match="metadatas"):
        retriever.add_texts(["a", "b"], [{"k": "v"}])
    with pytest.raises(dm.InvalidInputError, match="ids"):
        retriever.add_texts(["a"], ids=["x", "y"])
    assert store.stats()["claims"] == 0
