import pytest

import dash_memory as dm


@pytest.fixture
def store(tmp_path):
    with dm.Store(tmp_path / "store") as s:
        yield s


def item(claim_id, text, tenant="acme", **claim):
    """The HTTP contract's dict for one claim with one supporting evidence."""
    return {
        "claim": {"claim_id": claim_id, "tenant_id": tenant, "canonical_text": text,
                  "confidence": 0.9, **claim},
        "evidence": [{"evidence_id": f"{claim_id}-e1", "claim_id": claim_id,
                      "source_id": "wiki", "stance": "supports", "source_quality": 0.8,
                      "chunk_id": "p1", "span_start": 0, "span_end": 10}],
    }
