#!/usr/bin/env bash
# The side-by-side scorecard: DASH (dash-bench ir / scale) and the peer engines (LanceDB, Chroma,
# tantivy, numpy exact search; scripts/peers/run_peers.py) on the same inputs in one run, printed
# as one table of DASH/peer ratios and added to docs/scorecard.md (newest first).
#
#   scripts/scorecard.sh --quick   # Climate-FEVER IR set + synthetic 100k (under 15 minutes after the build)
#   scripts/scorecard.sh --full    # the same, plus synthetic 1M (about an hour on 2 cores)
#
# Options: --no-append (print only), --no-tuned-1m (skip DASH's tuned reopen at 1M).
# Needs: Rust (cargo), python3 with venv, PyPI (the peers and numpy install into target/peers-venv),
# and ../shared (the evaluation data and shared/bench; DASH_SHARED=DIR to point elsewhere).
# Everything it makes goes under target/scorecard (DASH_SCORECARD_DIR=DIR to change).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=quick
APPEND=1
TUNED_1M=1
for arg in "$@"; do
    case "$arg" in
        --quick) MODE=quick ;;
        --full) MODE=full ;;
        --no-append) APPEND=0 ;;
        --no-tuned-1m) TUNED_1M=0 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown option $arg (see --help)" >&2; exit 2 ;;
    esac
done

SHARED=${DASH_SHARED:-../shared}
WORK=${DASH_SCORECARD_DIR:-target/scorecard}
VENV=target/peers-venv
PY=$VENV/bin/python
mkdir -p "$WORK"
[ -d "$SHARED/bench" ] || { echo "no $SHARED/bench (set DASH_SHARED)" >&2; exit 2; }

started=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - started )) s)"; }

step "peers' virtual environment ($VENV)"
if [ ! -x "$PY" ] || ! "$PY" -c "import numpy, lancedb, chromadb, tantivy, pyarrow" 2>/dev/null; then
    python3 -m venv "$VENV"
    # The versions the scorecard was first run with; pip resolves the rest.
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q numpy==2.4.6 lancedb==0.40.0 chromadb==1.5.9 tantivy==0.27.0 pyarrow==26.0.1
fi
"$PY" -m pip list 2>/dev/null | grep -iE '^(numpy|lancedb|chromadb|tantivy|pyarrow) ' || true

step "build dash-bench (release)"
cargo build --release -q -p dash-bench
BENCH=target/release/dash-bench

step "inputs"
IR="$WORK/ir-climate-fever"
[ -f "$IR/queries.ids" ] || "$PY" "$SHARED/bench/peers/make_ir_set.py" "$IR"
corpus() { # N DIR
    [ -f "$2/queries.f32" ] || "$PY" "$SHARED/bench/synthetic.py" "$1" "$2"
}
corpus 100000 "$WORK/synthetic-100000"
[ "$MODE" = full ] && corpus 1000000 "$WORK/synthetic-1000000"

RESULTS="$WORK/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
: > "$RESULTS"
dash_recall() { # SET: DASH's default dense recall@50 against exact search, for matching
    "$PY" - "$RESULTS" "$1" <<'PYEOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if (r["engine"], r["set"], r["mode"], r["setting"]) == ("dash", sys.argv[2], "dense", "default"):
        print(r["recall_vs_exact"])
PYEOF
}

step "Climate-FEVER IR set: DASH"
"$BENCH" ir "$IR" --out "$RESULTS"
step "Climate-FEVER IR set: peers"
"$PY" scripts/peers/run_peers.py ir "$IR" --out "$RESULTS"

scale() { # N [extra dash-bench args]
    local n=$1; shift
    step "synthetic $n: DASH"
    "$BENCH" scale "$WORK/synthetic-$n" --n "$n" --out "$RESULTS" "$@"
    local target
    target=$(dash_recall "synthetic-$n")
    step "synthetic $n: peers (matched to DASH's recall@50 $target)"
    "$PY" scripts/peers/run_peers.py scale "$WORK/synthetic-$n" --n "$n" --out "$RESULTS" ${target:+--target-recall "$target"}
}
scale 100000
if [ "$MODE" = full ]; then
    if [ "$TUNED_1M" = 1 ]; then scale 1000000; else scale 1000000 --no-tuned; fi
fi

step "scorecard"
if [ "$APPEND" = 1 ]; then
    "$BENCH" scorecard "$RESULTS" --title "scorecard --$MODE" --append docs/scorecard.md
else
    "$BENCH" scorecard "$RESULTS" --title "scorecard --$MODE"
fi
echo "results: $RESULTS; took $(( $(date +%s) - started )) s"
