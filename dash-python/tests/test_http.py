"""The HTTP client against a real `dash serve`: the Store's methods and answers over the wire,
the server's error codes as the package's exceptions, API keys and signed writes."""

import os
import pathlib
import subprocess

import pytest

import dash_memory as dm
from conftest import item
from dash_memory.http import Client

KEY = "py-client-key-0123456789"
SECRET = "py-signing-secret-0123456789abcdef"
ROOT = pathlib.Path(__file__).resolve().parents[2]


def dash_binary():
    for candidate in (os.environ.get("DASH_BIN"), ROOT / "target/debug/dash",
                      ROOT / "target/release/dash"):
        if candidate and pathlib.Path(candidate).is_file():
            return str(candidate)
    pytest.fail("no dash binary: build it (cargo build -p dash-server) or set DASH_BIN")


@pytest.fixture
def serve(tmp_path):
    """Starts `dash serve` on a free loopback port with `env`; yields its URL."""
    started = []

    def start(**env):
        clean = {k: v for k, v in os.environ.items() if not k.startswith("DASH_")}
        clean.update({"DASH_BIND": "127.0.0.1:0", "DASH_API_KEYS": KEY, **env})
        proc = subprocess.Popen([dash_binary(), "serve", "--data-dir", str(tmp_path / "d")],
                                env=clean, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, text=True)
        started.append(proc)
        line = proc.stdout.readline().strip()
        assert line.startswith("dash listening on "), line
        return "http://" + line.removeprefix("dash listening on ")

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=30)


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
        assert c.forget("t", "a").version == 2
        assert c.get_claim("t", "a") is None
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
