import os
import pathlib
import subprocess

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


KEY = "py-client-key-0123456789"
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
        start.last = proc  # the newest server, for tests that stop and restart it
        line = proc.stdout.readline().strip()
        assert line.startswith("dash listening on "), line
        return "http://" + line.removeprefix("dash listening on ")

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=30)
