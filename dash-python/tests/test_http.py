"""The HTTP client against a real `dash serve`: the Store's methods and answers over the wire,
the server's error codes as the package's exceptions, API keys and signed writes."""

import pytest

import dash_memory as dm
from conftest import KEY, item
from dash_memory.http import Client

SECRET = "py-signing-secret-0123456789abcdef"


def test_the_store_methods_over_http(serve):
    with Client(serve(), api_key=KEY) as c:
        receipt = c.ingest(item("a", "Arctic sea ice extent is declining", tenant="t"))
        assert isinstance(receipt, dm.IngestReceipt) and receipt.version == 1
        batch = c.ingest_batch("b1", [item("b", "Arctic sea ice extent is not declining",
                                           tenant="t")])
        assert batch.status == "committed"
        assert c.ingest_batch("b1", [item("b", "Arctic sea ice extent is not declining",
                                          tenant="t")]).status == "replayed"
        answer = c.retrieve("t", "Arctic sea ice", top_k=5, wait_for_detection_ms=5000)
        assert isinstance(answer, dm.RetrieveResponse)
        by_id = {r.claim_id: r for r in answer.results}
        assert set(by_id) == {"a", "b"}
        assert [x.claim_id for x in by_id["a"].conflicts] == ["b"]
        assert by_id["a"].citations[0].source_id == "wiki"
        record = c.get_claim("t", "a")
        assert isinstance(record, dm.ClaimRecord) and record.claim.canonical_text.startswith("Arctic")
        assert [v.version for v in c.versions("t", "a")] == [1]
        assert c.versions("t", "a")[0].claim.canonical_text.startswith("Arctic")
        assert c.versions("t", "nothing") == []
        assert c.forget("t", "a").version == 2
        assert c.get_claim("t", "a") is None
        gone = c.versions("t", "a")
        assert [(v.version, v.forgotten, v.claim) for v in gone] == [(1, False, None),
                                                                   (2, True, None)]
        # An id with a slash is one path segment.
        c.ingest(item("x/y", "Slashes in ids are fine", tenant="t"))
        assert c.get_claim("t", "x/y").claim.claim_id == "x/y"
        assert len(c.versions("t", "x/y")) == 1
        assert c.health()["status"] == "ok"


def test_server_errors_become_the_package_exceptions(serve):
    url = serve()
    c = Client(url, api_key=KEY)
    with pytest.raises(dm.InvalidInputError) as bad:
        c.ingest(item("x", "text", tenant="t", confidence=3.0))
    assert (bad.value.status, bad.value.code) == (422, "invalid")
    with pytest.raises(dm.InvalidInputError) as unknown:
        c.retrieve("t", "q", metadata={"k": "v"}, top_k=0)
    assert unknown.value.status == 422
    with pytest.raises(dm.NotFoundError):
        c.forget("t", "never-was")
    c.ingest_batch("c1", [item("x", "first", tenant="t")])
    with pytest.raises(dm.CommitConflictError):
        c.ingest_batch("c1", [item("y", "second", tenant="t")])
    with pytest.raises(dm.AuthenticationError) as denied:
        Client(url, api_key="wrong-key-0123456789").retrieve("t", "q")
    assert denied.value.status == 401
    with pytest.raises(dm.StoreUnavailableError):
        Client("http://127.0.0.1:9", api_key=KEY, timeout=2).retrieve("t", "q")


def test_signed_writes(serve):
    url = serve(DASH_SIGNING_SECRET=SECRET, DASH_REQUIRE_SIGNED_WRITES="true")
    with pytest.raises(dm.AuthenticationError) as unsigned:
        Client(url, api_key=KEY).ingest(item("a", "unsigned", tenant="t"))
    assert unsigned.value.code == "signature_required"
    with pytest.raises(dm.AuthenticationError) as wrong:
        Client(url, api_key=KEY, signing_secret="another-secret-0123456789abcdef").ingest(
            item("a", "wrongly signed", tenant="t"))
    assert wrong.value.code == "bad_signature"
    signed = Client(url, api_key=KEY, signing_secret=SECRET)
    signed.ingest(item("a", "signed writes arrive", tenant="t"))
    assert signed.forget("t", "a").version == 2
    assert signed.get_claim("t", "a") is None
