//! The little-endian binary codec shared by WAL records, segments and manifests.
//!
//! Primitives (all little-endian):
//!
//! ```text
//! u8 / u16 / u32 / u64 / i64 / f32   fixed width
//! str       := len: u32 | len bytes of UTF-8
//! opt<T>    := tag: u8 (0 = none, 1 = some) | T if some
//! list<T>   := count: u32 | T * count
//! ```
//!
//! An ingest item (format version 1, see `docs/design.md` §Item):
//!
//! ```text
//! item     := claim | list<evidence> | list<edge>
//! claim    := claim_id str | tenant_id str | canonical_text str | confidence f32
//!           | entities list<str> | valid_from opt<i64> | valid_to opt<i64> | event_time opt<i64>
//!           | embedding opt<list<f32>> | metadata list<(str, str)>
//!           | subject opt<str> | predicate opt<str> | object opt<str>
//! evidence := evidence_id str | claim_id str | source_id str | stance u8 | source_quality f32
//!           | chunk_id opt<str> | span opt<(u64, u64)> | excerpt opt<str>
//! edge     := from str | to str | relation u8 | strength f32 | detected u8 | reason opt<str>
//! ```
//!
//! Decoding is bounds-checked and never trusts a length further than the bytes that remain, so a
//! hostile or corrupt length cannot make it allocate more than the input's size.

use std::collections::BTreeMap;

use crate::error::CorruptionKind;
use crate::model::{
    Claim, ClaimId, Edge, Evidence, IngestItem, Relation, Stance, TenantId, Timestamp,
};

/// Where a spilling [`Encoder`] hands its bytes ([`Encoder::spilling`]).
pub(crate) trait Spill {
    /// Takes the next bytes of the encoding.
    ///
    /// # Errors
    /// The destination's; the encoder hands nothing more after one.
    fn take(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

/// A [`Spill`] that drops what it is handed: an encoding's length without its bytes.
pub(crate) struct Discard;

impl Spill for Discard {
    fn take(&mut self, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
}

/// Bytes a spilling encoder gathers before it hands them on.
const SPILL_AT: usize = 1 << 20;

/// Appends little-endian primitives to a buffer — or, spilling, to a buffer handed on to a
/// [`Spill`] a megabyte at a time, so that an encoding of gigabytes (a 10M-claim tenant's
/// postings in the catalog image) is never whole in memory.
pub(crate) struct Encoder<'s> {
    pub(crate) buf: Vec<u8>,
    /// Bytes handed on before `buf`'s first.
    spilled: usize,
    spill: Option<&'s mut dyn Spill>,
    /// The first error a hand-over met.
    failed: Option<std::io::Error>,
}

impl Default for Encoder<'_> {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl std::fmt::Debug for Encoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("position", &self.position())
            .field("spilling", &self.spill.is_some())
            .finish_non_exhaustive()
    }
}

impl<'s> Encoder<'s> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
            spilled: 0,
            spill: None,
            failed: None,
        }
    }

    /// An encoder that hands its bytes to `spill` whenever a megabyte has gathered; hand it
    /// the rest with [`Encoder::finish_spill`].
    pub(crate) fn spilling(spill: &'s mut dyn Spill) -> Self {
        Self {
            buf: Vec::with_capacity(SPILL_AT + 64),
            spill: Some(spill),
            ..Self::default()
        }
    }

    /// Hands the buffered bytes to the spill (if any); returns the encoding's length, or the
    /// first error a hand-over met.
    ///
    /// # Errors
    /// The spill's first error.
    pub(crate) fn finish_spill(mut self) -> std::io::Result<usize> {
        self.hand_over();
        match self.failed {
            Some(e) => Err(e),
            None => Ok(self.position()),
        }
    }

    /// Bytes encoded so far, handed on or not.
    pub(crate) fn position(&self) -> usize {
        self.spilled + self.buf.len()
    }

    /// Hands the buffer on once a megabyte has gathered (nothing without a spill).
    #[inline]
    fn spill_if_full(&mut self) {
        if self.buf.len() >= SPILL_AT && self.spill.is_some() {
            self.hand_over();
        }
    }

    #[cold]
    fn hand_over(&mut self) {
        let Some(spill) = self.spill.as_mut() else {
            return;
        };
        if self.failed.is_none() {
            if let Err(e) = spill.take(&self.buf) {
                self.failed = Some(e);
            }
        }
        self.spilled += self.buf.len();
        self.buf.clear();
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
        self.spill_if_full();
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self.spill_if_full();
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self.spill_if_full();
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self.spill_if_full();
    }
    pub(crate) fn f32(&mut self, v: f32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self.spill_if_full();
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
        self.spill_if_full();
    }

    /// A length or count. Validation bounds every list and string far below `u32::MAX`.
    pub(crate) fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.len(s.len());
        self.bytes(s.as_bytes());
    }

    pub(crate) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }

    pub(crate) fn opt_ts(&mut self, t: Option<Timestamp>) {
        match t {
            None => self.u8(0),
            Some(t) => {
                self.u8(1);
                self.i64(t.as_unix_micros());
            }
        }
    }

    /// `list<u32>`, in one copy.
    pub(crate) fn u32s(&mut self, v: &[u32]) {
        self.len(v.len());
        for chunk in v.chunks(SPILL_AT / 4) {
            self.buf.reserve(chunk.len() * 4);
            for x in chunk {
                self.buf.extend_from_slice(&x.to_le_bytes());
            }
            self.spill_if_full();
        }
    }

    /// Zero bytes until the length counted from `origin` (a [position](Self::position)) is a
    /// multiple of `to`: what follows can be read in place, aligned, once the buffer's
    /// position `origin` lands on a multiple of `to` in its file.
    pub(crate) fn align(&mut self, origin: usize, to: usize) {
        let over = self.position().saturating_sub(origin) % to.max(1);
        if over != 0 {
            self.buf.resize(self.buf.len() + to - over, 0);
        }
    }

    /// `list<(u32, u32)>`.
    pub(crate) fn pairs(&mut self, v: &[(u32, u32)]) {
        self.len(v.len());
        for chunk in v.chunks(SPILL_AT / 8) {
            self.buf.reserve(chunk.len() * 8);
            for (a, b) in chunk {
                self.buf.extend_from_slice(&a.to_le_bytes());
                self.buf.extend_from_slice(&b.to_le_bytes());
            }
            self.spill_if_full();
        }
    }

    /// `bitmap := len u32 | roaring's portable serialization`.
    pub(crate) fn bitmap(&mut self, b: &roaring::RoaringBitmap) {
        self.len(b.serialized_size());
        // Writing into a Vec cannot fail.
        let _ = b.serialize_into(&mut self.buf);
        self.spill_if_full();
    }

    pub(crate) fn item(&mut self, item: &IngestItem) {
        let c = &item.claim;
        self.str(c.claim_id.as_str());
        self.str(c.tenant_id.as_str());
        self.str(&c.canonical_text);
        self.f32(c.confidence);
        self.len(c.entities.len());
        for e in &c.entities {
            self.str(e);
        }
        self.opt_ts(c.valid_from);
        self.opt_ts(c.valid_to);
        self.opt_ts(c.event_time);
        // Tag 2 (format 2) carries the model after the vector; an item without a model encodes
        // exactly as in format 1, so its batch digest is unchanged.
        match &c.embedding {
            None => self.u8(0),
            Some(v) => {
                self.u8(if c.embedding_model.is_some() { 2 } else { 1 });
                self.len(v.len());
                for x in v {
                    self.f32(*x);
                }
                if let Some(model) = &c.embedding_model {
                    self.str(model);
                }
            }
        }
        self.len(c.metadata.len());
        for (k, v) in &c.metadata {
            self.str(k);
            self.str(v);
        }
        self.opt_str(c.subject.as_deref());
        self.opt_str(c.predicate.as_deref());
        self.opt_str(c.object.as_deref());

        self.len(item.evidence.len());
        for e in &item.evidence {
            self.str(&e.evidence_id);
            self.str(e.claim_id.as_str());
            self.str(&e.source_id);
            self.u8(stance_code(e.stance));
            self.f32(e.source_quality);
            self.opt_str(e.chunk_id.as_deref());
            match (e.span_start, e.span_end) {
                (Some(s), Some(t)) => {
                    self.u8(1);
                    self.u64(s);
                    self.u64(t);
                }
                _ => self.u8(0),
            }
            self.opt_str(e.excerpt.as_deref());
        }

        self.len(item.edges.len());
        for e in &item.edges {
            self.edge(e);
        }
    }

    /// An `edge` (the item format's).
    pub(crate) fn edge(&mut self, e: &Edge) {
        self.str(e.from_claim_id.as_str());
        self.str(e.to_claim_id.as_str());
        self.u8(relation_code(e.relation));
        self.f32(e.strength);
        self.u8(u8::from(e.detected));
        self.opt_str(e.reason.as_deref());
    }
}

const fn stance_code(s: Stance) -> u8 {
    match s {
        Stance::Supports => 0,
        Stance::Contradicts => 1,
        Stance::Neutral => 2,
    }
}

const fn relation_code(r: Relation) -> u8 {
    match r {
        Relation::Supports => 0,
        Relation::Contradicts => 1,
        Relation::Refines => 2,
        Relation::Supersedes => 3,
    }
}

/// Checks the `u16` format version at `at` against the versions this build reads.
pub(crate) fn check_format_version(
    bytes: &[u8],
    at: usize,
    oldest: u16,
    current: u16,
) -> DecodeResult<u16> {
    let found = match bytes.get(at..at + 2) {
        Some(b) => u16::from_le_bytes([b[0], b[1]]),
        None => return Err((at, CorruptionKind::Truncated)),
    };
    if (oldest..=current).contains(&found) {
        Ok(found)
    } else {
        Err((
            at,
            CorruptionKind::UnsupportedVersion {
                found,
                oldest,
                current,
            },
        ))
    }
}

/// Checks that `bytes[hash_at..hash_at + 32]` is the BLAKE3 of `bytes[..hash_at]`.
pub(crate) fn check_blake3(bytes: &[u8], hash_at: usize) -> DecodeResult<[u8; 32]> {
    check_blake3_with(bytes, hash_at, hash_bytes)
}

/// [`check_blake3`], the hash of `bytes[..hash_at]` computed by `hash`.
pub(crate) fn check_blake3_with(
    bytes: &[u8],
    hash_at: usize,
    hash: impl FnOnce(&[u8]) -> [u8; 32],
) -> DecodeResult<[u8; 32]> {
    let stored = bytes
        .get(hash_at..hash_at + 32)
        .ok_or((hash_at, CorruptionKind::Truncated))?;
    let mut stored_hash = [0u8; 32];
    stored_hash.copy_from_slice(stored);
    if hash(&bytes[..hash_at]) == stored_hash {
        Ok(stored_hash)
    } else {
        Err((hash_at, CorruptionKind::ChecksumMismatch))
    }
}

/// BLAKE3 of `bytes`, on all cores for large inputs.
pub(crate) fn hash_bytes(bytes: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hash_more(&mut hasher, bytes);
    *hasher.finalize().as_bytes()
}

/// Feeds `bytes` to `hasher`, over rayon's pool from 1 MiB on (the same hash either way).
pub(crate) fn hash_more(hasher: &mut blake3::Hasher, bytes: &[u8]) {
    if bytes.len() >= 1 << 20 {
        hasher.update_rayon(bytes);
    } else {
        hasher.update(bytes);
    }
}

/// Two little-endian `u32`s from an 8-byte chunk.
pub(crate) fn pair(c: &[u8]) -> (u32, u32) {
    (
        u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
        u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
    )
}

/// Reads little-endian primitives from a slice, tracking the position for error reports.
/// A clone reads on from the same position independently (a first pass that sizes what a
/// second one decodes).
#[derive(Debug, Clone)]
pub(crate) struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
}

/// A decode failure and the offset (within the decoded slice) where it happened.
pub(crate) type DecodeResult<T> = Result<T, (usize, CorruptionKind)>;

impl<'a> Decoder<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn fail<T>(&self, kind: CorruptionKind) -> DecodeResult<T> {
        Err((self.pos, kind))
    }

    /// Skips the zero bytes [`Encoder::align`] wrote for the same `origin` and `to`.
    pub(crate) fn align(&mut self, origin: usize, to: usize) -> DecodeResult<()> {
        let over = self.pos.saturating_sub(origin) % to.max(1);
        if over != 0 {
            let at = self.pos;
            if self.take(to - over)?.iter().any(|&b| b != 0) {
                return Err((at, CorruptionKind::Malformed("padding")));
            }
        }
        Ok(())
    }

    pub(crate) fn take(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        if n > self.remaining() {
            return self.fail(CorruptionKind::Truncated);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> DecodeResult<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> DecodeResult<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u32(&mut self) -> DecodeResult<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> DecodeResult<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> DecodeResult<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    pub(crate) fn f32(&mut self) -> DecodeResult<f32> {
        Ok(f32::from_le_bytes(self.array()?))
    }
    pub(crate) fn hash(&mut self) -> DecodeResult<[u8; 32]> {
        self.array()
    }

    /// A count of elements each at least `min_elem_bytes` long: refused when the remaining input
    /// could not hold that many, so a corrupt count never drives a huge allocation.
    pub(crate) fn count(&mut self, min_elem_bytes: usize) -> DecodeResult<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_elem_bytes.max(1)) > self.remaining() {
            return self.fail(CorruptionKind::BadLength(n as u64));
        }
        Ok(n)
    }

    /// `list<u32>`.
    pub(crate) fn u32s(&mut self) -> DecodeResult<Vec<u32>> {
        let n = self.count(4)?;
        let bytes = self.take(n * 4)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// `list<(u32, u32)>` appended to `out`; returns how many.
    pub(crate) fn pairs_into(&mut self, out: &mut Vec<(u32, u32)>) -> DecodeResult<u32> {
        let n = self.count(8)?;
        out.extend(self.take(n * 8)?.chunks_exact(8).map(pair));
        // `n` came from a u32.
        Ok(n as u32)
    }

    /// `list<(u32, u32)>`, read as it is iterated.
    pub(crate) fn pairs_iter(&mut self) -> DecodeResult<impl Iterator<Item = (u32, u32)> + 'a> {
        let n = self.count(8)?;
        Ok(self.take(n * 8)?.chunks_exact(8).map(pair))
    }

    /// A [`Encoder::bitmap`]: refused unless roaring reads it whole and exactly.
    pub(crate) fn bitmap(&mut self) -> DecodeResult<roaring::RoaringBitmap> {
        let n = self.count(1)?;
        let at = self.pos;
        let bytes = self.take(n)?;
        match roaring::RoaringBitmap::deserialize_from(bytes) {
            Ok(b) if b.serialized_size() == n => Ok(b),
            _ => Err((at, CorruptionKind::Malformed("bad bitmap"))),
        }
    }

    /// An `i64` timestamp (microseconds since the Unix epoch).
    pub(crate) fn timestamp(&mut self) -> DecodeResult<Timestamp> {
        Ok(Timestamp::from_unix_micros(self.i64()?))
    }

    pub(crate) fn str(&mut self) -> DecodeResult<&'a str> {
        let n = self.u32()? as usize;
        let start = self.pos;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes).map_err(|_| (start, CorruptionKind::Malformed("invalid UTF-8")))
    }

    pub(crate) fn string(&mut self) -> DecodeResult<String> {
        self.str().map(str::to_owned)
    }

    pub(crate) fn flag(&mut self) -> DecodeResult<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err((self.pos - 1, CorruptionKind::Malformed("bad option tag"))),
        }
    }

    pub(crate) fn opt_string(&mut self) -> DecodeResult<Option<String>> {
        Ok(if self.flag()? {
            Some(self.string()?)
        } else {
            None
        })
    }

    pub(crate) fn opt_ts(&mut self) -> DecodeResult<Option<Timestamp>> {
        Ok(if self.flag()? {
            Some(Timestamp::from_unix_micros(self.i64()?))
        } else {
            None
        })
    }

    pub(crate) fn item(&mut self) -> DecodeResult<IngestItem> {
        let claim_id = ClaimId::new(self.string()?);
        let tenant_id = TenantId::new(self.string()?);
        let canonical_text = self.string()?;
        let confidence = self.f32()?;
        let n = self.count(4)?;
        let mut entities = Vec::with_capacity(n);
        for _ in 0..n {
            entities.push(self.string()?);
        }
        let valid_from = self.opt_ts()?;
        let valid_to = self.opt_ts()?;
        let event_time = self.opt_ts()?;
        let at = self.pos;
        let tag = self.u8()?;
        let (embedding, embedding_model) = match tag {
            0 => (None, None),
            1 | 2 => {
                let n = self.count(4)?;
                let raw = self.take(n * 4)?;
                let vector: Vec<f32> = raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let model = if tag == 2 { Some(self.string()?) } else { None };
                (Some(vector), model)
            }
            _ => return Err((at, CorruptionKind::Malformed("bad embedding tag"))),
        };
        let n = self.count(8)?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n {
            let k = self.string()?;
            let v = self.string()?;
            metadata.insert(k, v);
        }
        let subject = self.opt_string()?;
        let predicate = self.opt_string()?;
        let object = self.opt_string()?;
        let claim = Claim {
            claim_id,
            tenant_id,
            canonical_text,
            confidence,
            entities,
            valid_from,
            valid_to,
            event_time,
            embedding,
            embedding_model,
            metadata,
            subject,
            predicate,
            object,
        };

        let n = self.count(22)?;
        let mut evidence = Vec::with_capacity(n);
        for _ in 0..n {
            let evidence_id = self.string()?;
            let claim_id = ClaimId::new(self.string()?);
            let source_id = self.string()?;
            let at = self.pos;
            let stance = match self.u8()? {
                0 => Stance::Supports,
                1 => Stance::Contradicts,
                2 => Stance::Neutral,
                _ => return Err((at, CorruptionKind::Malformed("unknown stance code"))),
            };
            let source_quality = self.f32()?;
            let chunk_id = self.opt_string()?;
            let (span_start, span_end) = if self.flag()? {
                (Some(self.u64()?), Some(self.u64()?))
            } else {
                (None, None)
            };
            let excerpt = self.opt_string()?;
            evidence.push(Evidence {
                evidence_id,
                claim_id,
                source_id,
                stance,
                source_quality,
                chunk_id,
                span_start,
                span_end,
                excerpt,
            });
        }

        let n = self.count(15)?;
        let mut edges = Vec::with_capacity(n);
        for _ in 0..n {
            edges.push(self.edge()?);
        }
        Ok(IngestItem {
            claim,
            evidence,
            edges,
        })
    }

    /// An `edge` (the item format's).
    pub(crate) fn edge(&mut self) -> DecodeResult<Edge> {
        let from_claim_id = ClaimId::new(self.string()?);
        let to_claim_id = ClaimId::new(self.string()?);
        let at = self.pos;
        let relation = match self.u8()? {
            0 => Relation::Supports,
            1 => Relation::Contradicts,
            2 => Relation::Refines,
            3 => Relation::Supersedes,
            _ => return Err((at, CorruptionKind::Malformed("unknown relation code"))),
        };
        Ok(Edge {
            from_claim_id,
            to_claim_id,
            relation,
            strength: self.f32()?,
            detected: self.flag()?,
            reason: self.opt_string()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gathers what a spilling encoder hands over; fails the hand-over numbered `fail_at`.
    #[derive(Default)]
    struct Gather {
        bytes: Vec<u8>,
        takes: usize,
        largest: usize,
        fail_at: Option<usize>,
    }

    impl Spill for Gather {
        fn take(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            self.takes += 1;
            if self.fail_at == Some(self.takes) {
                return Err(std::io::Error::other("disk full"));
            }
            self.largest = self.largest.max(bytes.len());
            self.bytes.extend_from_slice(bytes);
            Ok(())
        }
    }

    /// Every kind of write, ~12 MB of them, aligned twice.
    fn write_much(e: &mut Encoder<'_>) {
        e.u8(1);
        e.str("postings");
        for i in 0..300_000u32 {
            e.u32(i);
            e.f32(i as f32);
            e.opt_str((i % 1000 == 0).then_some("every thousandth"));
        }
        e.align(0, 8);
        e.u32s(&(0..700_000).collect::<Vec<u32>>());
        e.pairs(&(0..300_000).map(|i| (i, i * 2)).collect::<Vec<_>>());
        e.bitmap(&(0..3_000_000).step_by(3).collect());
        e.bytes(&[9; 5000]);
        e.i64(-7);
        e.u64(7);
        e.align(3, 8);
    }

    #[test]
    fn a_spilling_encoder_hands_over_what_a_buffer_would_hold_a_megabyte_at_a_time() {
        let mut whole = Encoder::default();
        write_much(&mut whole);
        let mut gather = Gather::default();
        let mut e = Encoder::spilling(&mut gather);
        write_much(&mut e);
        assert_eq!(e.position(), whole.position());
        assert!(e.buf.len() < 2 * SPILL_AT, "{} bytes held", e.buf.len());
        assert_eq!(e.finish_spill().unwrap(), whole.buf.len());
        assert!(gather.bytes == whole.buf, "the same bytes");
        assert!(
            gather.takes >= whole.buf.len() / (2 * SPILL_AT),
            "{} takes",
            gather.takes
        );
        assert!(
            gather.largest < 2 * SPILL_AT,
            "{} bytes at once",
            gather.largest
        );
        // Discarded: the length alone.
        let mut discard = Discard;
        let mut e = Encoder::spilling(&mut discard);
        write_much(&mut e);
        assert_eq!(e.finish_spill().unwrap(), whole.buf.len());
    }

    #[test]
    fn a_spill_that_fails_is_reported_and_handed_nothing_more() {
        let mut gather = Gather {
            fail_at: Some(2),
            ..Gather::default()
        };
        let mut e = Encoder::spilling(&mut gather);
        write_much(&mut e);
        let err = e.finish_spill().unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(gather.takes, 2, "nothing handed over after the failure");
        assert!(gather.bytes.len() <= 2 * SPILL_AT);
    }

    fn full_item() -> IngestItem {
        let mut claim = Claim::new("tenant-a", "c1", "The Eiffel Tower is 330 m tall");
        claim.confidence = 0.75;
        claim.entities = vec!["Eiffel Tower".into(), "Paris".into()];
        claim.valid_from = Timestamp::from_year(2022);
        claim.valid_to = None;
        claim.event_time = Some(Timestamp::from_unix_micros(-5));
        claim.embedding = Some(vec![0.5, -1.25, 3.0]);
        claim.metadata.insert("lang".into(), "en".into());
        claim.subject = Some("Eiffel Tower".into());
        claim.predicate = Some("height".into());
        claim.object = Some("330 m".into());
        let mut ev = Evidence::new("e1", "c1", "wiki/Eiffel", Stance::Contradicts);
        ev.source_quality = 0.5;
        ev.chunk_id = Some("k3".into());
        ev.span_start = Some(4);
        ev.span_end = Some(40);
        ev.excerpt = Some("330 metres".into());
        let mut edge = Edge::new("c1", "c0", Relation::Supersedes);
        edge.detected = true;
        edge.reason = Some("same subject, later interval".into());
        IngestItem::new(claim).with_evidence(ev).with_edge(edge)
    }

    #[test]
    fn item_round_trips() {
        let item = full_item();
        let mut enc = Encoder::default();
        enc.item(&item);
        let mut dec = Decoder::new(&enc.buf);
        assert_eq!(dec.item().ok(), Some(item));
        assert!(dec.is_empty());
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let mut enc = Encoder::default();
        enc.item(&full_item());
        for cut in 0..enc.buf.len() {
            assert!(
                Decoder::new(&enc.buf[..cut]).item().is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn huge_count_is_refused_without_allocating() {
        let mut enc = Encoder::default();
        enc.u32(u32::MAX);
        let mut dec = Decoder::new(&enc.buf);
        assert!(matches!(
            dec.count(4),
            Err((_, CorruptionKind::BadLength(_)))
        ));
    }
}
