#!/usr/bin/env bash
# The Python package's tests: a virtual environment in target/py-venv (kept between runs), the
# package built into it by maturin (the debug profile: it reuses `cargo test`'s build of
# dash-core), then pytest over dash-python/tests and the package's doctests.
# Needs python3 (3.9 or newer) with venv, and PyPI for maturin, pytest, numpy and the real
# frameworks the adapters are tested against (langchain-core, llama-index-core), and the MCP
# client that drives `dash mcp` (mcp).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/py-venv
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.16,<2" "pytest>=8" "numpy>=1.21" \
    "langchain-core>=0.3" "llama-index-core>=0.12" "mcp>=2.3,<3"
# The HTTP client's tests start the real server (`cargo test --workspace` has built it already).
cargo build --quiet -p dash-server --bin dash
export DASH_BIN="$PWD/target/debug/dash"
(cd dash-python && VIRTUAL_ENV="$PWD/../$VENV" PATH="$PWD/../$VENV/bin:$PATH" maturin develop --quiet)
"$VENV/bin/python" -m pytest -q dash-python/tests "$@"
"$VENV/bin/python" -m pytest -q --doctest-modules dash-python/python/dash_memory
