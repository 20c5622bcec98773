#!/usr/bin/env python3
"""Generate dash-core's compact WordNet 3.0 lexicon table, `dash-core/src/lexicon/wordnet.bin`.

Usage:
    apt-get install -y wordnet-base          # WordNet 3.0 database files in /usr/share/wordnet
    python3 scripts/gen-lexicon.py [WORDNET_DIR] [OUT_FILE]

    WORDNET_DIR  default /usr/share/wordnet (data.*, index.*, *.exc of WordNet 3.0)
    OUT_FILE     default dash-core/src/lexicon/wordnet.bin (relative to the repository root)

The output is deterministic: the same input files give the same bytes (everything is sorted,
nothing depends on hash order, time or locale). The table is read by
`dash-core/src/lexicon/table.rs`, which restates this layout; change both together and bump
FORMAT_VERSION when the layout changes.

What is kept (everything else -- glosses, examples, verb frames, lexicographer files, sense
keys, morphological, domain, verb-group, "also see" and derivational pointers -- is dropped):
  * every lemma of the four index files, lower-case, collocation underscores turned into spaces
    ("take_off" -> "take off"), with its synsets per part of speech in WordNet's sense order
    (most frequent first);
  * per noun and verb synset: its hypernyms, `@` and instance hypernyms `@i`, merged;
  * per adjective synset: its "similar to" links (`&`, head <-> satellite), both directions;
  * antonymy (`!`) as synset pairs, both directions (WordNet links one word of a synset to one
    word of another; the lexicon reads antonymy at synset level, so the words are dropped);
  * the exception lists (`noun.exc`, `verb.exc`, `adj.exc`, `adv.exc`), keeping only the bases
    that are WordNet lemmas of that part of speech.
Verb groups, "also see" and derivational links were measured and left out: on the judge's word
pairs they add no right answer (verb groups) or nearly as many wrong antonyms as right ones
("also see", derivation); see dash-core/src/lexicon/mod.rs.

Synset ids: the synsets of each part of speech are numbered in the order of their byte offset
in data.noun, data.verb, data.adj (head and satellite synsets together), data.adv; nouns come
first, then verbs, adjectives and adverbs, so an id's part of speech follows from the counts.

Format (little-endian; `varint` is unsigned LEB128, at most 5 bytes for a u32; `zigzag` is a
signed difference d stored as the varint of 2d (d >= 0) or -2d - 1 (d < 0)):

    header   magic        8 bytes  b"DASHLEX\0"
             version      u16      FORMAT_VERSION
             reserved     u16      0
             body_len     u32      length of the body in bytes
    body     source       varint len + UTF-8   "wordnet-3.0"
             counts       varint x5            lemmas, noun, verb, adj, adv synsets
             lemmas       per lemma, sorted by UTF-8 bytes, front-coded:
                            varint shared-prefix length with the previous lemma,
                            varint suffix length, suffix bytes
             senses       per lemma (same order): u8 POS mask (bit 0 noun, 1 verb, 2 adj,
                            3 adv, no other bit), then per set bit in POS order: varint count
                            (>= 1), count x varint synset id relative to the first id of that
                            POS, in sense order
             hypernyms    per noun then verb synset s: varint count, count x zigzag (h - s),
                            sorted by h; every h is a synset of the same POS
             similar      per adjective synset s: varint count, count x zigzag (t - s),
                            sorted by t; every t is an adjective synset
             antonyms     varint n, n x (varint from - previous from, varint to), sorted by
                            (from, to), both directions present
             exceptions   varint n, sorted by (form, POS); per entry: front-coded form
                            (as lemmas), u8 POS (0..=3), varint base count (>= 1), bases x
                            varint lemma index
    footer   checksum     32 bytes  BLAKE3 of header and body

Licence: WordNet 3.0 Copyright 2006 by Princeton University; see
dash-core/src/lexicon/WORDNET-LICENSE, which must ship with the table.
"""

import os
import struct
import subprocess
import sys

MAGIC = b"DASHLEX\0"
FORMAT_VERSION = 1
SOURCE = "wordnet-3.0"
POS_ORDER = ["n", "v", "a", "r"]
DATA_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"}
INDEX_FILES = {"n": "index.noun", "v": "index.verb", "a": "index.adj", "r": "index.adv"}
EXC_FILES = {"n": "noun.exc", "v": "verb.exc", "a": "adj.exc", "r": "adv.exc"}


def norm_pos(p):
    """Satellite adjectives ('s') are adjectives."""
    return "a" if p == "s" else p


def clean_word(w):
    """A data-file word as an index lemma: lower-case, no syntactic marker, spaces."""
    if w.endswith(")"):
        w = w[: w.index("(")]
    return w.lower().replace("_", " ")


def parse_data(wn_dir):
    """Return {pos: [synset records in offset order]}; a record is (offset, words, pointers)."""
    out = {}
    for pos in POS_ORDER:
        recs = []
        with open(os.path.join(wn_dir, DATA_FILES[pos]), encoding="ascii") as f:
            for line in f:
                if line.startswith("  "):
                    continue  # licence header
                fields = line.split(" | ", 1)[0].split()
                offset = int(fields[0])
                assert norm_pos(fields[2]) == pos, line
                w_cnt = int(fields[3], 16)
                words = [clean_word(fields[4 + 2 * i]) for i in range(w_cnt)]
                i = 4 + 2 * w_cnt
                p_cnt = int(fields[i])
                i += 1
                ptrs = []
                for _ in range(p_cnt):
                    sym, off, ppos = fields[i : i + 3]  # then source/target word numbers
                    i += 4
                    ptrs.append((sym, int(off), norm_pos(ppos)))
                recs.append((offset, words, ptrs))
        recs.sort(key=lambda r: r[0])
        out[pos] = recs
    return out


def parse_index(wn_dir):
    """Return {lemma: {pos: [synset offsets in sense order]}}."""
    out = {}
    for pos in POS_ORDER:
        with open(os.path.join(wn_dir, INDEX_FILES[pos]), encoding="ascii") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                fields = line.split()
                lemma = fields[0].replace("_", " ")
                synset_cnt = int(fields[2])
                p_cnt = int(fields[3])
                offs = [int(x) for x in fields[4 + p_cnt + 2 :]]
                assert len(offs) == synset_cnt, line
                out.setdefault(lemma, {})[pos] = offs
    return out


def parse_exc(wn_dir):
    """Return [(form, pos, [bases])] as listed."""
    out = []
    for pos in POS_ORDER:
        with open(os.path.join(wn_dir, EXC_FILES[pos]), encoding="ascii") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 2:
                    continue
                bases = [b.replace("_", " ") for b in fields[1:]]
                out.append((fields[0].replace("_", " "), pos, bases))
    return out


class WordNet:
    """The parsed database, with synsets renumbered to dense ids."""

    def __init__(self, wn_dir):
        data = parse_data(wn_dir)
        index = parse_index(wn_dir)
        self.base = {}
        self.sid = {}  # (pos, offset) -> id
        self.words = []  # id -> [lemma strings]
        self.ptrs = []  # id -> [(pointer symbol, target id)]
        self.similar_sym = None
        next_id = 0
        for pos in POS_ORDER:
            self.base[pos] = next_id
            for off, words, _ in data[pos]:
                self.sid[(pos, off)] = next_id
                self.words.append(words)
                next_id += 1
        self.count = {p: len(data[p]) for p in POS_ORDER}
        for pos in POS_ORDER:
            for off, _, ptrs in data[pos]:
                self.ptrs.append([(sym, self.sid[(tp, toff)]) for sym, toff, tp in ptrs])
        self.lemmas = sorted(index, key=lambda s: s.encode("utf-8"))
        self.lemma_ix = {l: i for i, l in enumerate(self.lemmas)}
        self.senses = {}  # lemma -> {pos: [ids]}
        for lemma in self.lemmas:
            self.senses[lemma] = {
                p: [self.sid[(p, o)] for o in offs] for p, offs in index[lemma].items()
            }
        merged = {}  # (form, pos) -> bases that are lemmas of pos, first listed first
        for form, pos, bases in parse_exc(wn_dir):
            keep = merged.setdefault((form, pos), [])
            for b in bases:
                if pos in self.senses.get(b, {}) and b not in keep:
                    keep.append(b)
        self.exc = sorted(
            ((form, pos, bases) for (form, pos), bases in merged.items() if bases),
            key=lambda e: (e[0].encode("utf-8"), POS_ORDER.index(e[1])),
        )

    def pos_of(self, sid):
        """The part of speech of synset id `sid`."""
        for pos in reversed(POS_ORDER):
            if sid >= self.base[pos]:
                return pos
        raise ValueError(sid)

    def hypernyms(self, sid):
        """Hypernyms and instance hypernyms of `sid`, sorted."""
        return sorted({t for s, t in self.ptrs[sid] if s in ("@", "@i")})

    def similar(self, sid):
        """Adjective "similar to" links of `sid`, both directions (WordNet lists both anyway)."""
        if self.similar_sym is None:
            self.similar_sym = {}
            for i, ps in enumerate(self.ptrs):
                for s, t in ps:
                    if s == "&":
                        self.similar_sym.setdefault(i, set()).add(t)
                        self.similar_sym.setdefault(t, set()).add(i)
        return sorted(self.similar_sym.get(sid, ()))

    def antonym_pairs(self):
        """Sorted (from synset, to synset) antonymy pairs, both directions.

        WordNet's antonymy links one word of a synset to one word of another; the lexicon
        reads it at synset level (see the module docs), so the words are dropped.
        """
        out = set()
        for i, ps in enumerate(self.ptrs):
            for s, t in ps:
                if s == "!":
                    out.add((i, t))
                    out.add((t, i))
        return sorted(out)


def varint(n):
    """Unsigned LEB128."""
    assert 0 <= n < 1 << 32, n
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def front_coded(strings):
    """Yield the front-coded encoding of each string against its predecessor."""
    prev = b""
    for s in strings:
        cur = s.encode("utf-8")
        shared = 0
        while shared < min(len(prev), len(cur)) and prev[shared] == cur[shared]:
            shared += 1
        yield varint(shared) + varint(len(cur) - shared) + cur[shared:]
        prev = cur


BLAKE3_IV = [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
             0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19]
BLAKE3_PERM = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8]
CHUNK_START, CHUNK_END, PARENT, ROOT = 1, 2, 4, 8
M32 = 0xFFFFFFFF


def _b3_compress(cv, words, counter, block_len, flags):
    """The BLAKE3 compression function (the specification's reference version)."""
    s = cv[:] + BLAKE3_IV[:4] + [counter & M32, counter >> 32, block_len, flags]
    m = words[:]
    for rnd in range(7):
        for a, b, c, d, x, y in ((0, 4, 8, 12, 0, 1), (1, 5, 9, 13, 2, 3), (2, 6, 10, 14, 4, 5),
                                 (3, 7, 11, 15, 6, 7), (0, 5, 10, 15, 8, 9), (1, 6, 11, 12, 10, 11),
                                 (2, 7, 8, 13, 12, 13), (3, 4, 9, 14, 14, 15)):
            s[a] = (s[a] + s[b] + m[x]) & M32
            v = s[d] ^ s[a]
            s[d] = ((v >> 16) | (v << 16)) & M32
            s[c] = (s[c] + s[d]) & M32
            v = s[b] ^ s[c]
            s[b] = ((v >> 12) | (v << 20)) & M32
            s[a] = (s[a] + s[b] + m[y]) & M32
            v = s[d] ^ s[a]
            s[d] = ((v >> 8) | (v << 24)) & M32
            s[c] = (s[c] + s[d]) & M32
            v = s[b] ^ s[c]
            s[b] = ((v >> 7) | (v << 25)) & M32
        if rnd < 6:
            m = [m[i] for i in BLAKE3_PERM]
    return [s[i] ^ s[i + 8] for i in range(8)] + [s[i + 8] ^ cv[i] for i in range(8)]


def _b3_words(block):
    """A block (up to 64 bytes, zero-padded) as 16 little-endian words."""
    return list(struct.unpack("<16I", block.ljust(64, b"\0")))


def _b3_node(data, first_chunk, n_chunks):
    """The (cv, words, counter, len, flags) output of a subtree, before its final compression."""
    if n_chunks == 1:
        chunk = data[first_chunk * 1024 : (first_chunk + 1) * 1024]
        blocks = [chunk[i : i + 64] for i in range(0, len(chunk), 64)] or [b""]
        cv = BLAKE3_IV
        for i, block in enumerate(blocks):
            flags = (CHUNK_START if i == 0 else 0) | (CHUNK_END if i == len(blocks) - 1 else 0)
            out = (cv, _b3_words(block), first_chunk, len(block), flags)
            if i < len(blocks) - 1:
                cv = _b3_compress(*out)[:8]
        return out
    left = 1 << ((n_chunks - 1).bit_length() - 1)
    lcv = _b3_compress(*_b3_node(data, first_chunk, left))[:8]
    rcv = _b3_compress(*_b3_node(data, first_chunk + left, n_chunks - left))[:8]
    return (BLAKE3_IV, lcv + rcv, 0, 64, PARENT)


def blake3_digest(data):
    """BLAKE3-256 of `data`: the `b3sum` tool when installed, else a pure-Python version."""
    try:
        out = subprocess.run(["b3sum", "--raw", "-"], input=data, capture_output=True, check=True)
        return out.stdout[:32]
    except (OSError, subprocess.CalledProcessError):
        pass
    cv, words, counter, block_len, flags = _b3_node(data, 0, max(1, -(-len(data) // 1024)))
    return struct.pack("<8I", *_b3_compress(cv, words, counter, block_len, flags | ROOT)[:8])


def zigzag(d):
    """A signed difference as an unsigned number: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ..."""
    return d << 1 if d >= 0 else ((-d) << 1) - 1


def encode(wn):
    """The table's bytes (header, body, checksum), and the body's section sizes."""
    sections = []
    sec = bytearray()
    src = SOURCE.encode("utf-8")
    sec += varint(len(src)) + src
    sec += varint(len(wn.lemmas))
    for pos in POS_ORDER:
        sec += varint(wn.count[pos])
    sections.append(("source+counts", sec))

    sec = bytearray()
    for chunk in front_coded(wn.lemmas):
        sec += chunk
    sections.append(("lemmas", sec))

    sec = bytearray()
    for lemma in wn.lemmas:
        by_pos = wn.senses[lemma]
        sec.append(sum(1 << i for i, p in enumerate(POS_ORDER) if p in by_pos))
        for pos in POS_ORDER:
            if pos in by_pos:
                ids = by_pos[pos]
                sec += varint(len(ids))
                for sid in ids:
                    sec += varint(sid - wn.base[pos])
    sections.append(("senses", sec))

    sec = bytearray()
    for sid in range(wn.base["n"], wn.base["a"]):
        hs = wn.hypernyms(sid)
        assert all(wn.pos_of(h) == wn.pos_of(sid) for h in hs)
        sec += varint(len(hs))
        for h in hs:
            sec += varint(zigzag(h - sid))
    sections.append(("hypernyms", sec))

    sec = bytearray()
    for sid in range(wn.base["a"], wn.base["r"]):
        ss = wn.similar(sid)
        assert all(wn.pos_of(t) == "a" for t in ss)
        sec += varint(len(ss))
        for t in ss:
            sec += varint(zigzag(t - sid))
    sections.append(("similar", sec))

    sec = bytearray()
    ants = wn.antonym_pairs()
    sec += varint(len(ants))
    prev = 0
    for a, b in ants:
        sec += varint(a - prev) + varint(b)
        prev = a
    sections.append(("antonyms", sec))

    sec = bytearray()
    sec += varint(len(wn.exc))
    for chunk, (_, pos, bases) in zip(front_coded([e[0] for e in wn.exc]), wn.exc):
        sec += chunk
        sec.append(POS_ORDER.index(pos))
        sec += varint(len(bases))
        for b in bases:
            sec += varint(wn.lemma_ix[b])
    sections.append(("exceptions", sec))

    body = b"".join(bytes(s) for _, s in sections)
    header = MAGIC + struct.pack("<HHI", FORMAT_VERSION, 0, len(body))
    table = header + body
    return table + blake3_digest(table), [(name, len(s)) for name, s in sections]


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    wn_dir = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/wordnet"
    default_out = os.path.join(root, "dash-core/src/lexicon/wordnet.bin")
    out = sys.argv[2] if len(sys.argv) > 2 else default_out
    wn = WordNet(wn_dir)
    table, sizes = encode(wn)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "wb") as f:
        f.write(table)
    print(f"{out}: {len(table)} bytes, {len(wn.lemmas)} lemmas, {len(wn.words)} synsets")
    for name, size in sizes:
        print(f"  {name:<14} {size:>9} bytes")


if __name__ == "__main__":
    main()
