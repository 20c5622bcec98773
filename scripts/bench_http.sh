#!/usr/bin/env bash
# HTTP benchmark of `dash serve` (the server issue's figures): builds the release binaries,
# creates the synthetic corpus if it is missing, runs `dash-bench load` (which starts and stops
# the servers itself) and prints where the JSON figures are.
#
# Usage: scripts/bench_http.sh [OUT_JSON] [extra `dash-bench load` arguments...]
#   DATA=DIR   corpus directory (default /work/data/synth1010k if present, else /tmp/synth-http,
#              generated with N + 10,000 claims: the load uses N, the write phases the rest)
#   N=COUNT    claims to load (default 100000)
#   SYNTH=PY   the corpus generator (default ../shared/bench/synthetic.py from the repository)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
n="${N:-100000}"
if [[ -n "${DATA:-}" ]]; then
  data="$DATA"
elif [[ -f /work/data/synth1010k/claims.jsonl ]]; then
  data=/work/data/synth1010k
else
  data=/tmp/synth-http
fi
out="${1:-$root/target/bench_http.json}"
shift || true

if [[ ! -f "$data/claims.jsonl" || ! -f "$data/vectors.f32" || ! -f "$data/queries.f32" ]]; then
  synth="${SYNTH:-$root/../shared/bench/synthetic.py}"
  echo "corpus missing in $data: generating $((n + 10000)) claims with $synth"
  python3 -c 'import numpy' 2>/dev/null || pip install numpy
  python3 "$synth" "$((n + 10000))" "$data"
fi

cargo build --release -p dash-server --bins
target_dir="${CARGO_TARGET_DIR:-$root/target}"
echo "machine: $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/Model name: *//')"
cargo run --release -p dash-bench -- load \
  --server "$target_dir/release/dash" --data "$data" --n "$n" --out "$out" "$@"
echo "HTTP benchmark figures: $out"
