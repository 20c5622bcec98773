"""What both framework adapters hand over: an answer's claims as text plus metadata that keeps
the claim id, the evidence with its stance, the citations, the conflicts and the score
breakdown, so stance and conflicts survive the trip into a framework."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .errors import InvalidInputError
from .store import Store
from .types import RetrievedClaim


def claim_metadata(tenant_id: str, r: RetrievedClaim) -> Dict[str, Any]:
    """The metadata of one retrieved claim (JSON-ready: plain dicts, lists and strings)."""
    d = r.to_dict()
    return {
        "tenant_id": tenant_id,
        "claim_id": r.claim_id,
        "score": r.score,
        "score_breakdown": d["score_breakdown"],
        "confidence": r.confidence,
        "version": r.version,
        "recorded_at": d["recorded_at"],
        "valid_from": d["valid_from"],
        "valid_to": d["valid_to"],
        "entities": list(r.entities),
        "supporting_evidence": d["supporting_evidence"],
        "contradicting_evidence": d["contradicting_evidence"],
        "citations": d["citations"],
        "conflicts": d["conflicts"],
        "contested": bool(r.conflicts or r.contradicting_evidence),
    }


def retrieve_claims(
    store: Store, tenant_id: str, query: str, options: Mapping[str, Any]
) -> List[Tuple[str, Dict[str, Any], float]]:
    """``(text, metadata, score)`` for each claim answering ``query``, best first."""
    answer = store.retrieve(tenant_id, query, **dict(options))
    return [(r.canonical_text, claim_metadata(tenant_id, r), r.score) for r in answer.results]


def items_from_texts(
    tenant_id: str,
    texts: Sequence[str],
    metadatas: Optional[Sequence[Optional[Mapping[str, Any]]]],
    ids: Optional[Sequence[str]],
    source_id: Optional[str],
    confidence: float,
) -> List[Dict[str, Any]]:
    """Ingest items for plain texts: one claim each (id given, or a content hash), string
    metadata kept as the claim's metadata, and with ``source_id`` one supporting evidence whose
    span is the whole text."""
    import hashlib

    if metadatas is not None and len(metadatas) != len(texts):
        raise InvalidInputError("metadatas must be as long as texts")
    if ids is not None and len(ids) != len(texts):
        raise InvalidInputError("ids must be as long as texts")
    items = []
    for i, text in enumerate(texts):
        claim_id = ids[i] if ids is not None else hashlib.blake2b(
            text.encode("utf-8"), digest_size=12).hexdigest()
        meta = dict((metadatas[i] or {}) if metadatas is not None else {})
        claim: Dict[str, Any] = {
            "claim_id": claim_id,
            "tenant_id": tenant_id,
            "canonical_text": text,
            "confidence": confidence,
            "metadata": {str(k): str(v) for k, v in meta.items()},
        }
        item: Dict[str, Any] = {"claim": claim}
        if source_id is not None:
            item["evidence"] = [{
                "evidence_id": f"{claim_id}@{source_id}",
                "claim_id": claim_id,
                "source_id": source_id,
                "stance": "supports",
                "source_quality": 1.0,
                "span_start": 0,
                "span_end": len(text.encode("utf-8")),
            }]
        items.append(item)
    return items


def ingest_texts(store: Store, tenant_id: str, texts: Sequence[str], **kwargs: Any) -> List[str]:
    """Ingests ``texts`` as claims, atomically per 1,000 (``ingest_batch``, whose commit id is
    a hash of the batch: adding the same texts again is a replay, not a second version);
    returns their claim ids."""
    import hashlib
    import json

    items = items_from_texts(tenant_id, texts, kwargs.get("metadatas"), kwargs.get("ids"),
                             kwargs.get("source_id"), kwargs.get("confidence", 1.0))
    for start in range(0, len(items), 1000):
        batch = items[start:start + 1000]
        digest = hashlib.blake2b(json.dumps(batch, sort_keys=True).encode("utf-8"),
                                 digest_size=16).hexdigest()
        store.ingest_batch(f"texts-{digest}", batch)
    return [it["claim"]["claim_id"] for it in items]
