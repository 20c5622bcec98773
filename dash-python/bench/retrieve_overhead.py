"""The Python package's retrieve overhead on the Climate-FEVER corpus: the same queries timed
from Python (wall time around `Store.retrieve`, typed answer included) against the time Rust
spent answering them inside `Store::retrieve` (the answer's `took_ms`), in one process.

Usage: python dash-python/bench/retrieve_overhead.py [--data ../shared/data/climate-fever]
       [--passes 5] [--top-k 10]
Prints p50 / p95 of both and of the difference, per use of the answer: the call alone (fields
are converted when first read), the common reads (id, text, score of every result), and every
field converted.
"""

import argparse
import json
import os
import statistics
import tempfile
import time

import dash_memory as dm

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--data", default=os.path.join(here, "..", "..", "..", "shared", "data",
                                               "climate-fever"))
ap.add_argument("--passes", type=int, default=5)
ap.add_argument("--top-k", type=int, default=10)
a = ap.parse_args()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


with tempfile.TemporaryDirectory() as tmp, dm.Store(os.path.join(tmp, "s")) as store:
    items, queries = [], []
    for line in open(os.path.join(a.data, "evidence_corpus.jsonl"), encoding="utf-8"):
        e = json.loads(line)
        cid = f"ev{len(items)}"
        items.append({"claim": {"claim_id": cid, "tenant_id": "cf", "confidence": 0.9,
                                "canonical_text": e["text"][:4000]},
                      "evidence": [{"evidence_id": f"{cid}-e", "claim_id": cid,
                                    "source_id": e["source_id"], "stance": "supports",
                                    "source_quality": 0.8}]})
    for line in open(os.path.join(a.data, "claims.jsonl"), encoding="utf-8"):
        queries.append(json.loads(line)["text"])
    for start in range(0, len(items), 5000):
        store.ingest_batch(f"cf-{start}", items[start:start + 5000])
    store.wait_for_detection()
    store.wait_for_indexes()
    for q in queries[:100]:  # warm
        store.retrieve("cf", q, top_k=a.top_k)

    def read_top(q):
        """The answer as most callers use it: every result's id, text and score."""
        answer = store.retrieve("cf", q, top_k=a.top_k)
        for r in answer.results:
            r.claim_id, r.canonical_text, r.score
        return answer.took_ms

    def read_all(q):
        """Every field of every result converted (what the framework adapters do)."""
        answer = store.retrieve("cf", q, top_k=a.top_k)
        answer.to_dict()
        return answer.took_ms

    for shape, call in (("typed answer (Store.retrieve)", lambda q: store.retrieve("cf", q, top_k=a.top_k).took_ms),
                        ("typed, id/text/score of every result read", read_top),
                        ("typed, every field converted (to_dict)", read_all)):
        wall, rust = [], []
        for _ in range(a.passes):
            for q in queries:
                t0 = time.perf_counter()
                took_ms = call(q)
                wall.append((time.perf_counter() - t0) * 1e6)
                rust.append(took_ms * 1e3)
        diff = [w - r for w, r in zip(wall, rust)]
        print(f"{shape}: {len(wall)} queries over {len(items)} claims, top_k {a.top_k}")
        print(f"  Python wall  p50 {pct(wall, 50):8.1f} us  p95 {pct(wall, 95):8.1f} us")
        print(f"  Rust inside  p50 {pct(rust, 50):8.1f} us  p95 {pct(rust, 95):8.1f} us")
        print(f"  overhead     p50 {pct(diff, 50):8.1f} us  p95 {pct(diff, 95):8.1f} us"
              f"  ({statistics.median(diff) / statistics.median(rust) * 100:.1f} % of the median)")
