//! Decoder of the lexicon table, `wordnet.bin`, written by `scripts/gen-lexicon.py`.
//!
//! Layout (little-endian; `varint` is unsigned LEB128 of a `u32`, at most 5 bytes; `zigzag` is
//! a signed difference `d` stored as the varint of `2d` when `d >= 0`, else `-2d - 1`):
//!
//! ```text
//! header   magic       8 bytes   b"DASHLEX\0"
//!          version     u16       FormatVersion (1)
//!          reserved    u16       0
//!          body_len    u32       length of the body in bytes
//! body     source      varint len + UTF-8          "wordnet-3.0"
//!          counts      varint x5                   lemmas; noun, verb, adj, adv synsets
//!          lemmas      per lemma, strictly increasing by bytes, front-coded:
//!                        varint shared prefix length, varint suffix length, suffix bytes
//!          senses      per lemma: u8 POS mask (bit 0 noun .. bit 3 adverb, nothing else),
//!                        per set bit in POS order: varint count >= 1, count x varint synset
//!                        id relative to the POS's first id, in WordNet's sense order
//!          hypernyms   per noun then verb synset s: varint count, count x zigzag (h - s);
//!                        h is a synset of s's POS
//!          similar     per adjective synset s: varint count, count x zigzag (t - s);
//!                        t is an adjective synset
//!          antonyms    varint n, n x (varint from - previous from, varint to), sorted by
//!                        (from, to), both directions present
//!          exceptions  varint n, strictly increasing by (form bytes, POS); per entry:
//!                        front-coded form, u8 POS (0..=3), varint count >= 1,
//!                        count x varint lemma index
//! footer   checksum    32 bytes  BLAKE3 of header and body
//! ```
//!
//! Synset ids are dense: nouns first, then verbs, adjectives (head and satellite synsets) and
//! adverbs, each POS in the order of its byte offsets in WordNet's `data.*` files, so the POS
//! of an id follows from the four counts.
//!
//! The decoder checks the checksum before it reads the body, and then every count, id and
//! order the lookups rely on, so a decoded [`Table`] can be indexed without bounds failures.
//! No length is trusted beyond the bytes that remain.

use super::Pos;

/// Magic bytes that open the table.
pub(super) const MAGIC: [u8; 8] = *b"DASHLEX\0";
/// Where the magic starts.
const MAGIC_OFFSET: usize = 0;
/// Length of the magic.
const MAGIC_LEN: usize = MAGIC.len();
/// Where the format version starts.
const VERSION_OFFSET: usize = MAGIC_OFFSET + MAGIC_LEN;
/// Length of the format version (u16).
const VERSION_LEN: usize = 2;
/// Where the reserved field starts.
const RESERVED_OFFSET: usize = VERSION_OFFSET + VERSION_LEN;
/// Length of the reserved field (u16, zero).
const RESERVED_LEN: usize = 2;
/// Where the body length starts.
const BODY_LEN_OFFSET: usize = RESERVED_OFFSET + RESERVED_LEN;
/// Length of the body length (u32).
const BODY_LEN_LEN: usize = 4;
/// Where the body starts.
pub(super) const BODY_OFFSET: usize = BODY_LEN_OFFSET + BODY_LEN_LEN;
/// Length of the BLAKE3 checksum that closes the table.
const CHECKSUM_LEN: usize = 32;

/// The table format revisions this decoder knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum FormatVersion {
    /// The first format: lemmas, senses, hypernyms, similar-to, antonyms, exceptions.
    V1 = 1,
}

#[cfg(test)]
impl FormatVersion {
    /// The version `scripts/gen-lexicon.py` writes.
    pub(super) const CURRENT: Self = Self::V1;
    /// The oldest version this decoder reads.
    pub(super) const OLDEST_SUPPORTED: Self = Self::V1;
}

impl TryFrom<u16> for FormatVersion {
    type Error = u16;

    fn try_from(v: u16) -> Result<Self, u16> {
        match v {
            1 => Ok(Self::V1),
            other => Err(other),
        }
    }
}

/// What is wrong with a table that does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecodeErrorKind {
    /// The table does not start with [`MAGIC`].
    #[error("bad magic bytes")]
    BadMagic,
    /// The header names a format version this decoder does not read.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u16),
    /// The header's body length does not match the table's size.
    #[error("body length does not match the table size")]
    LengthMismatch,
    /// The BLAKE3 checksum does not match the header and body.
    #[error("checksum mismatch")]
    ChecksumMismatch,
    /// A field runs past the end of the body.
    #[error("truncated field")]
    Truncated,
    /// A varint is longer than 5 bytes or overflows a u32.
    #[error("malformed varint")]
    BadVarint,
    /// A count, id, index, prefix length or POS is out of range.
    #[error("value out of range")]
    OutOfRange,
    /// Lemmas or exceptions are not strictly increasing.
    #[error("entries out of order")]
    Unsorted,
    /// A string is not UTF-8.
    #[error("invalid UTF-8")]
    BadUtf8,
    /// Bytes remain after the last section.
    #[error("trailing bytes after the last section")]
    TrailingBytes,
}

/// Why the table did not decode, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("lexicon table corrupt at byte {offset}: {kind}")]
pub(crate) struct DecodeError {
    /// Byte offset in the table where the problem was found.
    pub(crate) offset: usize,
    /// What is wrong.
    pub(crate) kind: DecodeErrorKind,
}

/// The decoded table: flat arrays indexed by lemma index and synset id.
#[derive(Debug, Default)]
pub(super) struct Table {
    /// The source named in the table, e.g. `wordnet-3.0`.
    pub(super) source: String,
    /// The table's format version number.
    pub(super) format: u16,
    /// All lemmas concatenated, in lemma order.
    pub(super) text: String,
    /// Lemma `i` is `text[lemma_end[i - 1]..lemma_end[i]]` (with `lemma_end[-1] = 0`).
    pub(super) lemma_end: Vec<u32>,
    /// Lemma `i`'s senses are `senses[sense_start[i]..sense_start[i + 1]]`.
    pub(super) sense_start: Vec<u32>,
    /// Synset ids, per lemma grouped by POS (noun, verb, adjective, adverb), each group in
    /// WordNet's sense order.
    pub(super) senses: Vec<u32>,
    /// First synset id of each POS, then the synset count: POS `p` owns
    /// `pos_start[p]..pos_start[p + 1]`.
    pub(super) pos_start: [u32; 5],
    /// Noun or verb synset `s`'s hypernyms are `hypers[hyper_start[s]..hyper_start[s + 1]]`.
    pub(super) hyper_start: Vec<u32>,
    /// Hypernym synset ids (same POS as the hyponym).
    pub(super) hypers: Vec<u32>,
    /// Adjective synset `s`'s similar-to links are
    /// `similar[similar_start[s - adj0]..similar_start[s - adj0 + 1]]`.
    pub(super) similar_start: Vec<u32>,
    /// Similar-to adjective synset ids.
    pub(super) similar: Vec<u32>,
    /// Antonymy, `(from, to)` synset pairs sorted, both directions present.
    pub(super) antonyms: Vec<(u32, u32)>,
    /// All exception forms concatenated, in entry order.
    pub(super) exc_text: String,
    /// Entry `i`'s form is `exc_text[exc_end[i - 1]..exc_end[i]]`.
    pub(super) exc_end: Vec<u32>,
    /// Entry `i`'s POS.
    pub(super) exc_pos: Vec<Pos>,
    /// Entry `i`'s bases are `exc_bases[exc_base_start[i]..exc_base_start[i + 1]]`.
    pub(super) exc_base_start: Vec<u32>,
    /// Lemma indices of exception bases.
    pub(super) exc_bases: Vec<u32>,
}

/// A bounds-checked cursor over the table.
struct Reader<'a> {
    /// The whole table (offsets in errors are table offsets).
    buf: &'a [u8],
    /// The next byte to read.
    pos: usize,
    /// One past the last byte this reader may read.
    end: usize,
}

impl<'a> Reader<'a> {
    /// An error of `kind` at the current position.
    fn err(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            offset: self.pos,
            kind,
        }
    }

    /// Bytes left to read.
    fn remaining(&self) -> usize {
        self.end - self.pos
    }

    /// One byte.
    fn u8(&mut self) -> Result<u8, DecodeError> {
        if self.pos >= self.end {
            return Err(self.err(DecodeErrorKind::Truncated));
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    /// `n` bytes.
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.err(DecodeErrorKind::Truncated));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// An unsigned LEB128 `u32`.
    fn varint(&mut self) -> Result<u32, DecodeError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..5 {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return u32::try_from(v).map_err(|_| DecodeError {
                    offset: start,
                    kind: DecodeErrorKind::BadVarint,
                });
            }
        }
        Err(DecodeError {
            offset: start,
            kind: DecodeErrorKind::BadVarint,
        })
    }

    /// A varint used as a count of elements that take at least one byte each: never more
    /// than the bytes left, so a corrupt count cannot make the decoder over-allocate.
    fn count(&mut self) -> Result<usize, DecodeError> {
        let n = self.varint()? as usize;
        if n > self.remaining() {
            return Err(self.err(DecodeErrorKind::OutOfRange));
        }
        Ok(n)
    }

    /// A varint that must be below `limit`.
    fn below(&mut self, limit: u32) -> Result<u32, DecodeError> {
        let start = self.pos;
        let v = self.varint()?;
        if v >= limit {
            return Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::OutOfRange,
            });
        }
        Ok(v)
    }

    /// A zigzag difference added to `base`, which must land in `range`.
    fn zigzag_in(&mut self, base: u32, range: std::ops::Range<u32>) -> Result<u32, DecodeError> {
        let start = self.pos;
        let z = i64::from(self.varint()?);
        let d = if z & 1 == 0 { z >> 1 } else { -((z + 1) >> 1) };
        let v = i64::from(base) + d;
        match u32::try_from(v) {
            Ok(v) if range.contains(&v) => Ok(v),
            _ => Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::OutOfRange,
            }),
        }
    }

    /// A front-coded string after `prev`, appended to `text`; returns the new string's
    /// range in `text`. Checks that it sorts strictly after `prev`.
    fn front_coded(
        &mut self,
        text: &mut Vec<u8>,
        prev: std::ops::Range<usize>,
    ) -> Result<std::ops::Range<usize>, DecodeError> {
        let start = self.pos;
        let shared = self.varint()? as usize;
        let suffix_len = self.varint()? as usize;
        if shared > prev.len() {
            return Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::OutOfRange,
            });
        }
        let suffix = self.bytes(suffix_len)?;
        let begin = text.len();
        text.extend_from_within(prev.start..prev.start + shared);
        text.extend_from_slice(suffix);
        let range = begin..text.len();
        if std::str::from_utf8(&text[range.clone()]).is_err() {
            return Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::BadUtf8,
            });
        }
        Ok(range)
    }
}

/// A little-endian `u16` at `at` (the caller checked the length).
fn le_u16(table: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([table[at], table[at + 1]])
}

/// A little-endian `u32` at `at` (the caller checked the length).
fn le_u32(table: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([table[at], table[at + 1], table[at + 2], table[at + 3]])
}

/// A `u32` from a `usize` known to fit (a length bounded by the table's size).
fn to_u32(n: usize, at: usize) -> Result<u32, DecodeError> {
    u32::try_from(n).map_err(|_| DecodeError {
        offset: at,
        kind: DecodeErrorKind::OutOfRange,
    })
}

/// Decodes and validates a table.
pub(super) fn decode(table: &[u8]) -> Result<Table, DecodeError> {
    let at = |offset, kind| DecodeError { offset, kind };
    if table.len() < BODY_OFFSET + CHECKSUM_LEN {
        return Err(at(table.len(), DecodeErrorKind::Truncated));
    }
    if table[MAGIC_OFFSET..MAGIC_OFFSET + MAGIC_LEN] != MAGIC {
        return Err(at(MAGIC_OFFSET, DecodeErrorKind::BadMagic));
    }
    let format = le_u16(table, VERSION_OFFSET);
    let version = FormatVersion::try_from(format)
        .map_err(|v| at(VERSION_OFFSET, DecodeErrorKind::UnsupportedVersion(v)))?;
    if le_u16(table, RESERVED_OFFSET) != 0 {
        return Err(at(RESERVED_OFFSET, DecodeErrorKind::OutOfRange));
    }
    let body_len = le_u32(table, BODY_LEN_OFFSET) as usize;
    let body_end = BODY_OFFSET
        .checked_add(body_len)
        .filter(|end| end.checked_add(CHECKSUM_LEN) == Some(table.len()))
        .ok_or_else(|| at(BODY_LEN_OFFSET, DecodeErrorKind::LengthMismatch))?;
    let digest = blake3::hash(&table[..body_end]);
    if digest.as_bytes()[..] != table[body_end..] {
        return Err(at(body_end, DecodeErrorKind::ChecksumMismatch));
    }
    let mut r = Reader {
        buf: table,
        pos: BODY_OFFSET,
        end: body_end,
    };
    let out = match version {
        FormatVersion::V1 => decode_v1(&mut r, format)?,
    };
    if r.pos != r.end {
        return Err(r.err(DecodeErrorKind::TrailingBytes));
    }
    Ok(out)
}

/// Decodes the body of a version-1 table.
fn decode_v1(r: &mut Reader<'_>, format: u16) -> Result<Table, DecodeError> {
    let mut t = Table {
        format,
        ..Table::default()
    };
    let source_len = r.count()?;
    let source_at = r.pos;
    t.source = std::str::from_utf8(r.bytes(source_len)?)
        .map_err(|_| DecodeError {
            offset: source_at,
            kind: DecodeErrorKind::BadUtf8,
        })?
        .to_owned();

    let n_lemmas = r.count()?;
    let mut total: u32 = 0;
    for p in 0..4 {
        t.pos_start[p] = total;
        let n = r.count()?;
        total = total
            .checked_add(to_u32(n, r.pos)?)
            .ok_or_else(|| r.err(DecodeErrorKind::OutOfRange))?;
    }
    t.pos_start[4] = total;
    let [n0, v0, a0, r0, end] = t.pos_start;

    // Lemmas: front-coded, strictly increasing.
    let mut text = Vec::with_capacity(r.remaining().min(n_lemmas * 12));
    t.lemma_end.reserve(n_lemmas);
    let mut prev = 0..0;
    for i in 0..n_lemmas {
        let at = r.pos;
        let cur = r.front_coded(&mut text, prev.clone())?;
        if i > 0 && text[prev.clone()] >= text[cur.clone()] {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::Unsorted,
            });
        }
        t.lemma_end.push(to_u32(cur.end, at)?);
        prev = cur;
    }
    // Each lemma was checked to be UTF-8 on its own, so the concatenation is too.
    t.text = String::from_utf8(text).map_err(|_| r.err(DecodeErrorKind::BadUtf8))?;

    // Senses: per lemma, a POS mask and per POS the synset ids in sense order.
    t.sense_start.reserve(n_lemmas + 1);
    t.sense_start.push(0);
    for _ in 0..n_lemmas {
        let at = r.pos;
        let mask = r.u8()?;
        if mask == 0 || mask & !0x0f != 0 {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::OutOfRange,
            });
        }
        for p in 0..4 {
            if mask & (1 << p) == 0 {
                continue;
            }
            let n = r.count()?;
            if n == 0 {
                return Err(r.err(DecodeErrorKind::OutOfRange));
            }
            let (lo, hi) = (t.pos_start[p], t.pos_start[p + 1]);
            for _ in 0..n {
                t.senses.push(lo + r.below(hi - lo)?);
            }
        }
        t.sense_start.push(to_u32(t.senses.len(), r.pos)?);
    }

    // Hypernyms of every noun and verb synset, within the same POS.
    t.hyper_start.reserve((a0 - n0) as usize + 1);
    t.hyper_start.push(0);
    for s in n0..a0 {
        let range = if s < v0 { n0..v0 } else { v0..a0 };
        let n = r.count()?;
        for _ in 0..n {
            t.hypers.push(r.zigzag_in(s, range.clone())?);
        }
        t.hyper_start.push(to_u32(t.hypers.len(), r.pos)?);
    }

    // Similar-to links of every adjective synset.
    t.similar_start.reserve((r0 - a0) as usize + 1);
    t.similar_start.push(0);
    for s in a0..r0 {
        let n = r.count()?;
        for _ in 0..n {
            t.similar.push(r.zigzag_in(s, a0..r0)?);
        }
        t.similar_start.push(to_u32(t.similar.len(), r.pos)?);
    }

    // Antonymy pairs, sorted.
    let n = r.count()?;
    t.antonyms.reserve(n);
    let mut from = 0u32;
    for _ in 0..n {
        let at = r.pos;
        from = from
            .checked_add(r.varint()?)
            .filter(|f| *f < end)
            .ok_or(DecodeError {
                offset: at,
                kind: DecodeErrorKind::OutOfRange,
            })?;
        let to = r.below(end)?;
        if t.antonyms.last().is_some_and(|last| *last >= (from, to)) {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::Unsorted,
            });
        }
        t.antonyms.push((from, to));
    }

    // Exceptions: front-coded forms, strictly increasing by (form, POS).
    let n = r.count()?;
    let mut text = Vec::new();
    let mut prev = 0..0;
    let mut prev_pos = 0u8;
    t.exc_base_start.push(0);
    for i in 0..n {
        let at = r.pos;
        let cur = r.front_coded(&mut text, prev.clone())?;
        let pos_at = r.pos;
        let pos = r.u8()?;
        let p = Pos::from_index(pos).ok_or(DecodeError {
            offset: pos_at,
            kind: DecodeErrorKind::OutOfRange,
        })?;
        if i > 0 && (&text[prev.clone()], prev_pos) >= (&text[cur.clone()], pos) {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::Unsorted,
            });
        }
        let bases = r.count()?;
        if bases == 0 {
            return Err(r.err(DecodeErrorKind::OutOfRange));
        }
        for _ in 0..bases {
            t.exc_bases.push(r.below(to_u32(n_lemmas, r.pos)?)?);
        }
        t.exc_end.push(to_u32(cur.end, at)?);
        t.exc_pos.push(p);
        t.exc_base_start.push(to_u32(t.exc_bases.len(), r.pos)?);
        prev = cur;
        prev_pos = pos;
    }
    t.exc_text = String::from_utf8(text).map_err(|_| r.err(DecodeErrorKind::BadUtf8))?;
    Ok(t)
}
