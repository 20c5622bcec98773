#!/usr/bin/env python3
"""kill -9 drill for `dash serve`: ingest corpus claims (with vectors) in batches over HTTP,
SIGKILL the server at random moments (graph seals / extensions / merges / detection running),
restart, and check that every acknowledged claim is still there and findable by its own
vector and by its text, and that the store reports no warnings.

usage: crash_drill.py DASH_BIN CORPUS_DIR DATA_DIR [--total N] [--kills K] [--seed S]
  e.g. cargo build --release -p dash-server
       target/peers-venv/bin/python scripts/crash_drill.py target/release/dash \
           target/scorecard/synthetic-1000000 /tmp/drill/data --total 60000 --kills 4
Needs numpy; the corpus from ../shared/bench/synthetic.py; port 7711 free. "Found by its own
vector" means in the top 50 of a vector-only query: with the default evidence-aware ranking a
claim's exact vector match can rank below its neighbours with stronger evidence.
"""
import argparse, json, os, random, signal, subprocess, sys, threading, time, urllib.request, urllib.error
import numpy as np

KEY = "change-me-0123456789"
PORT = 7711
BASE = f"http://127.0.0.1:{PORT}"


def req(method, path, body=None, timeout=120):
    data = None if body is None else json.dumps(body).encode()
    r = urllib.request.Request(BASE + path, data=data, method=method)
    r.add_header("X-API-Key", KEY)
    if data is not None:
        r.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def start(bin_, data_dir, log):
    env = dict(os.environ, DASH_API_KEYS=KEY)
    p = subprocess.Popen([bin_, "serve", "--data-dir", data_dir, "--bind", f"127.0.0.1:{PORT}"],
                         env=env, stdout=log, stderr=log)
    t0 = time.time()
    while time.time() - t0 < 120:
        try:
            s, h = req("GET", "/health", timeout=2)
            if s == 200:
                time.sleep(0.05)
                if p.poll() is not None:
                    sys.exit(f"another server answers on {PORT}; ours exited with {p.returncode}")
                return p, time.time() - t0
        except Exception:
            pass
        if p.poll() is not None:
            sys.exit(f"server exited with {p.returncode} at start")
        time.sleep(0.05)
    sys.exit("server did not answer /health within 120 s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin"); ap.add_argument("corpus"); ap.add_argument("data")
    ap.add_argument("--total", type=int, default=120_000)
    ap.add_argument("--kills", type=int, default=6)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    vecs = np.memmap(os.path.join(a.corpus, "vectors.f32"), dtype=np.float32, mode="r").reshape(-1, 128)
    lines = []
    with open(os.path.join(a.corpus, "claims.jsonl")) as f:
        for i, line in enumerate(f):
            if i >= a.total:
                break
            lines.append(line)
    os.makedirs(a.data, exist_ok=True)
    log = open(os.path.join(a.data, "..", "server.log"), "ab")
    acked = []          # line numbers acknowledged
    next_line = 0
    # kill points: after random numbers of batches, at random delays inside a batch send
    kill_at = sorted(rng.sample(range(1, a.total // a.batch), a.kills))
    proc, t = start(a.bin, a.data, log)
    print(f"started in {t:.2f} s; kills after batches {kill_at}", flush=True)
    batch_no = 0
    while next_line < len(lines):
        items = []
        for i in range(next_line, min(next_line + a.batch, len(lines))):
            it = json.loads(lines[i])
            it["claim"]["embedding"] = [float(x) for x in vecs[i]]
            items.append(it)
        body = {"commit_id": f"drill-{next_line}", "items": items}
        if kill_at and batch_no >= kill_at[0]:
            kill_at.pop(0)
            # kill while this batch is in flight, or just after, or during background work
            delay = rng.choice([0.0, 0.005, 0.02, 0.2, 1.0, 3.0])
            threading.Timer(delay, lambda: os.kill(proc.pid, signal.SIGKILL)).start()
            try:
                s, ans = req("POST", "/v1/ingest/batch", body)
                if s == 200:
                    acked.extend(range(next_line, next_line + len(items)))
                    next_line += len(items)
            except Exception as e:
                print(f"  batch at {next_line} interrupted: {type(e).__name__}", flush=True)
            time.sleep(delay + 0.1)
            proc.wait()
            proc, t = start(a.bin, a.data, log)
            s, h = req("GET", "/health")
            print(f"killed (delay {delay}s) at line {next_line}; restarted in {t:.2f} s; "
                  f"health claims={h.get('claims')} indexing={h.get('indexing')}", flush=True)
            check(acked, lines, vecs, rng, sample=300)
            batch_no += 1
            continue
        s, ans = req("POST", "/v1/ingest/batch", body)
        if s != 200:
            sys.exit(f"batch at {next_line}: {s} {ans}")
        acked.extend(range(next_line, next_line + len(items)))
        next_line += len(items)
        batch_no += 1
    print(f"all {len(acked)} claims acknowledged; final checks", flush=True)
    # clean restart at the end too
    proc.send_signal(signal.SIGTERM); proc.wait()
    proc, t = start(a.bin, a.data, log)
    print(f"clean restart in {t:.2f} s", flush=True)
    check(acked, lines, vecs, rng, sample=2000)
    s, st = req("GET", "/debug/storage")
    print("warnings:", st.get("warnings"), flush=True)
    proc.send_signal(signal.SIGTERM); proc.wait()


def check(acked, lines, vecs, rng, sample):
    picks = rng.sample(acked, min(sample, len(acked))) if acked else []
    missing = dense_miss = text_miss = 0
    t0 = time.time()
    for i in picks:
        it = json.loads(lines[i])
        cid = it["claim"]["claim_id"]; ten = it["claim"]["tenant_id"]
        s, got = req("GET", f"/v1/claims/{cid}?tenant_id={ten}")
        if s != 200 or got["claim"]["canonical_text"] != it["claim"]["canonical_text"]:
            missing += 1
            print(f"  MISSING {cid}: {s} {str(got)[:200]}", flush=True)
            continue
        s, ans = req("POST", "/v1/retrieve", {"tenant_id": ten, "query_embedding": [float(x) for x in vecs[i]],
                                             "top_k": 50, "wait_for_detection_ms": 0})
        ids = [r["claim_id"] for r in ans.get("results", [])] if s == 200 else []
        if cid not in ids:
            dense_miss += 1
            print(f"  DENSE MISS {cid}: {s} {ids}", flush=True)
        s, ans = req("POST", "/v1/retrieve", {"tenant_id": ten, "query": it["claim"]["canonical_text"],
                                             "top_k": 10, "wait_for_detection_ms": 0})
        ids = [r["claim_id"] for r in ans.get("results", [])] if s == 200 else []
        if cid not in ids:
            text_miss += 1
    s, st = req("GET", "/debug/storage")
    print(f"  checked {len(picks)} of {len(acked)} acknowledged in {time.time()-t0:.1f} s: missing {missing}, "
          f"not found by own vector {dense_miss}, not in text top-10 {text_miss}; warnings {st.get('warnings')}",
          flush=True)
    if missing or dense_miss:
        raise SystemExit("FAILED")


if __name__ == "__main__":
    main()
