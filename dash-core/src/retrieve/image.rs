//! The catalog image: every tenant's retrieval state (documents, claim table, lexical and facet
//! postings, dense exact part and graph-file names, detected edges, the detection queue)
//! written to one file when the store closes, so the next open reads it back in a fraction of a
//! second instead of decoding and indexing every version in the segments again.
//!
//! ```text
//! catalog.image := frame("DASHCIM\0", 2, body)
//! body    := applied_through u64 | detected_through u64
//!          | segment_count u32 | (id u64 | blake3 [32]) * segment_count
//!          | queue_count u32 | pending * queue_count
//!          | tenant_count u32 | pad | (len u64 | tenant | pad) * tenant_count
//! pending := lsn u64 | tenant str | recorded_at i64 | first u32 | count u32
//! tenant  := id str | undetected u64 | store_vectors u64 | pad
//!          | part(head) | part(lexical) | part(filters) | part(dense) | part(detected)
//! part(x) := len u64 | x | pad
//! pad     := zeros to the next multiple of 8 bytes (of the body; of the tenant inside one)
//! ```
//!
//! The pads put every tenant and every part on an 8-byte boundary of the file (the body
//! starts at byte 16), so a part can hold arrays read in place from the mapped file (the
//! lexical postings: `Bm25Index::decode`). Image format 1 had no pads (and the lexical
//! part's postings inline); it is still read.
//!
//! ```text
//! head    := doc_count u32 | doc * doc_count | claims
//!          | current bitmap | removed bitmap | net_contradicting bitmap | superseded bitmap
//!          | incoming_count u32 | (claim u32 | list<u32>) * incoming_count
//! doc     := claim u32 | version u32 | lsn u64 | recorded_at i64 | superseded_at i64
//!          | valid_from opt<i64> | valid_to opt<i64>
//!          | support f32 | contradiction f32 | net_contradicting u8 | confidence f32
//!          | content u8 (0 dropped, 1 in a segment, 2 in the WAL) [| segment u64 | entry u32]
//! dense   := 0 u8 | 1 u8 dense-part
//! ```
//!
//! (`claims`, `lexical`, `filters`, the dense part and `detected` are written by their own
//! modules; `bitmap` is roaring's portable form behind a length.)
//!
//! **When an image is used.** It describes the catalog after every record up to
//! `applied_through`, over exactly the listed segments. An open uses it only when its segments
//! are those (ids and BLAKE3 alike) and its WAL replay reached `applied_through`; the replayed
//! records up to there are then skipped (their documents are in the image; a commit's items
//! give back the content of documents written after the last checkpoint) and later ones are
//! indexed as usual. Anything else — no file, damage (BLAKE3), another format, other segments,
//! a shorter WAL, a graph file it names that is missing or does not match — and the open builds
//! the catalog from the segments as before. The image is a cache: the segments and the WAL stay
//! the truth.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use super::catalog::{Catalog, Content, Doc, Pending, TenantIndex, ValidTime};
use super::claims::ClaimTable;
use super::deferred::Deferred;
use super::dense::DenseIndex;
use super::rank::EvidenceWeight;
use super::tenant_cell::{Summary, TenantCell};
use crate::codec::{DecodeResult, Decoder, Discard, Encoder};
use crate::detect::edges::DetectedGraph;
use crate::error::CorruptionKind;
use crate::frame::{self, unframe, BODY_OFFSET};
use crate::index::{Analyzer, Bm25Index, FilterIndex};
use crate::model::{Lsn, TenantId};
use crate::segment::Segment;
use crate::storage::{FileBytes, Storage};

/// The image's file, in the store's root directory.
pub(crate) const IMAGE_FILE: &str = "catalog.image";
const TEMP_FILE: &str = "catalog.image.tmp";
const MAGIC: [u8; 8] = *b"DASHCIM\0";
/// The image format this build writes.
pub(crate) const IMAGE_FORMAT: u16 = 2;
/// The oldest image format this build reads (1: no pads, postings inline).
const OLDEST_IMAGE_FORMAT: u16 = 1;

/// Zeros that bring `len` bytes to a multiple of 8.
fn pad(len: usize) -> &'static [u8] {
    &[0; 8][..(8 - len % 8) % 8]
}

/// Writes `catalog` (ready, holding every record up to `applied_through`, over `segments`) as
/// the store's image: a temporary file, fsynced, renamed over the old one, directory synced.
/// Returns the file's size.
///
/// # Errors
/// The first I/O error; the old image (if any) is then left as it was.
pub(crate) fn write(
    storage: &dyn Storage,
    catalog: &Catalog,
    applied_through: Lsn,
    segments: &[Arc<Segment>],
) -> std::io::Result<u64> {
    let temp = Path::new(TEMP_FILE);
    let mut file = frame::Writer::new(storage.create(temp)?, MAGIC, IMAGE_FORMAT)?;
    let prefix = encode_prefix(catalog, applied_through, segments);
    file.put(&prefix)?;
    // Tenants encode in parallel, a few at a time, each into its own buffer, and go to the file
    // in order as they are done: the image is never whole in memory (3.96 GB at 10M claims,
    // which the close held twice over when the body was built first, then framed).
    let tenants: Vec<_> = catalog.tenants().collect();
    file.put(
        &u32::try_from(tenants.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    )?;
    file.put(pad(prefix.len() + 4))?;
    for batch in tenants.chunks(TENANTS_AT_ONCE) {
        // A large tenant is left out of the parallel pass and written part by part below.
        let encoded: Vec<Option<Vec<u8>>> = batch
            .par_iter()
            .map(|(id, cell, t)| {
                (t.docs.len() < STREAM_FROM_DOCS).then(|| encode_tenant(id, cell.undetected(), t))
            })
            .collect();
        for ((id, cell, t), tenant) in batch.iter().zip(encoded) {
            match tenant {
                Some(p) => {
                    file.put(&(p.len() as u64).to_le_bytes())?;
                    file.put(&p)?;
                    file.put(pad(p.len()))?;
                }
                None => write_tenant_by_parts(&mut file, id, cell.undetected(), t)?,
            }
        }
    }
    let (mut file, len) = file.finish()?;
    file.sync_data()?;
    drop(file);
    storage.rename(temp, Path::new(IMAGE_FILE))?;
    storage.sync_dir(Path::new(""))?;
    Ok(len)
}

/// Tenants encoded at once when the image is written: enough to keep the cores busy on many
/// small tenants, few enough that their buffers stay small beside the catalog.
const TENANTS_AT_ONCE: usize = 256;

/// Removes the image (and a temporary file a crash left); a missing file is not an error.
pub(crate) fn remove(storage: &dyn Storage) -> std::io::Result<()> {
    let names = storage.list(Path::new(""))?;
    for name in [IMAGE_FILE, TEMP_FILE] {
        if names.iter().any(|n| n == name) {
            storage.remove(Path::new(name))?;
        }
    }
    storage.sync_dir(Path::new(""))
}

/// Removes the image if it holds records beyond `replayed_through` (the WAL lost them, so new
/// records will take their numbers), or if its header is unreadable. Call it at open before
/// any write; reads a few bytes (the whole file is verified when it is read).
///
/// # Errors
/// The removal's I/O error.
pub(crate) fn discard_if_ahead(
    storage: &dyn Storage,
    replayed_through: Lsn,
) -> std::io::Result<()> {
    let names = storage.list(Path::new(""))?;
    if !names.iter().any(|n| n == IMAGE_FILE) {
        return Ok(());
    }
    let ahead = match storage.map(Path::new(IMAGE_FILE)) {
        Ok(bytes) => match bytes.get(BODY_OFFSET..BODY_OFFSET + 8) {
            Some(b) if bytes.starts_with(&MAGIC) => {
                let mut lsn = [0u8; 8];
                lsn.copy_from_slice(b);
                u64::from_le_bytes(lsn) > replayed_through.0
            }
            _ => true,
        },
        Err(_) => true,
    };
    if ahead {
        remove(storage)?;
    }
    Ok(())
}

/// An image read back: the catalog (ready; its documents written after the last checkpoint
/// wait for the replay's content) and, per tenant, the graph files its dense index needs.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) catalog: Catalog,
    pub(crate) graphs: Vec<(TenantId, Vec<String>)>,
}

/// The image file mapped and verified whole (framing, BLAKE3, a format this build reads), not
/// yet parsed: what the open prepares while the WAL replays ([`verify`]), before it knows
/// whether the image fits ([`read`]).
pub(crate) struct Verified {
    bytes: Arc<FileBytes>,
    version: u16,
}

/// Maps and verifies the store's image: `Ok(None)` without a file, `Err` with the reason it
/// cannot be used.
pub(crate) fn verify(storage: &dyn Storage) -> Result<Option<Verified>, String> {
    let names = storage.list(Path::new("")).map_err(|e| e.to_string())?;
    if !names.iter().any(|n| n == IMAGE_FILE) {
        return Ok(None);
    }
    let bytes = Arc::new(
        storage
            .map(Path::new(IMAGE_FILE))
            .map_err(|e| e.to_string())?,
    );
    let version = unframe(MAGIC, OLDEST_IMAGE_FORMAT, IMAGE_FORMAT, &bytes)
        .map_err(damage)?
        .version;
    Ok(Some(Verified { bytes, version }))
}

fn damage((at, kind): (usize, CorruptionKind)) -> String {
    format!("{kind} at {at}")
}

/// Reads a [`verify`]d image, if it is usable for an open over `segments` whose WAL replay
/// reached `replayed_through`; `Err` with the reason it cannot be used (the caller builds from
/// the segments).
///
/// The image's directory of tenants is read here; each tenant is decoded when it is first
/// touched ([`TenantCell::undecoded`]), from the mapped file. A tenant whose bytes then fail to
/// decode (a defect: they passed the checksum) gets an empty index and `fault` is called with
/// the reason, once per such tenant.
pub(crate) fn read(
    verified: Verified,
    segments: &[Arc<Segment>],
    replayed_through: Lsn,
    queueing: bool,
    fault: Fault,
) -> Result<Loaded, String> {
    let Verified { bytes, version } = verified;
    // Verified already: this re-reads the framing's offsets, not the hash.
    let body = bytes
        .get(BODY_OFFSET..bytes.len().saturating_sub(frame::TRAILER_LEN))
        .ok_or("catalog image: shorter than its framing")?;
    let source = Source {
        image: Arc::clone(&bytes),
        segments: Arc::new(segments.iter().map(|s| (s.id, Arc::clone(s))).collect()),
        fault,
        padded: version >= 2,
    };
    decode(body, segments, source, replayed_through, queueing).map_err(damage)?
}

/// Reports a tenant of the image that failed to decode after the image was verified.
pub(crate) type Fault = Arc<dyn Fn(String) + Send + Sync>;

/// What an undecoded tenant decodes from: the mapped image, the open's segments, and whom to
/// tell should its bytes not decode.
#[derive(Clone)]
struct Source {
    image: Arc<FileBytes>,
    segments: Arc<HashMap<u64, Arc<Segment>>>,
    fault: Fault,
    /// Image format 2 on: tenants and parts padded to 8 bytes, postings last and aligned.
    padded: bool,
}

impl Source {
    /// The undecoded cell of the tenant at `range` of the file, with its header read.
    fn cell(&self, range: std::ops::Range<usize>, header: &Header) -> TenantCell {
        let source = self.clone();
        let id = header.id.clone();
        let decode = move || {
            let bytes = source.image.get(range.clone()).unwrap_or_default();
            decode_tenant(bytes, range.start, &id, &source).unwrap_or_else(|(at, kind)| {
                (source.fault)(format!(
                    "catalog image: tenant {id} does not decode: {kind} at {}",
                    range.start + at
                ));
                TenantIndex::new()
            })
        };
        TenantCell::undecoded(decode, header.doc_count, header.undetected, header.summary)
    }
}

/// The body up to the tenants: record numbers, segments, the detection queue.
fn encode_prefix(catalog: &Catalog, applied_through: Lsn, segments: &[Arc<Segment>]) -> Vec<u8> {
    let mut e = Encoder::default();
    e.u64(applied_through.0);
    e.u64(catalog.detected_through.0);
    e.len(segments.len());
    for s in segments {
        e.u64(s.id);
        e.bytes(&s.hash);
    }
    e.len(catalog.queue.len());
    for p in &catalog.queue {
        e.u64(p.lsn.0);
        e.str(p.tenant.as_str());
        e.i64(p.recorded_at.as_unix_micros());
        e.u32(p.first);
        e.u32(p.count);
    }
    e.buf
}

/// Tenants with at least this many documents are written part by part: each part is encoded
/// twice (once for its length, once to write it) so that the close holds one part at a time,
/// not the tenant (at 10M claims the tenant's 3.96 GB raised the close's peak by as much).
const STREAM_FROM_DOCS: usize = 1_000_000;

/// A tenant's parts, in the image's order.
const PARTS: [fn(&mut Encoder, &TenantIndex); 5] = [
    encode_head,
    |e, t| t.lexical.encode(e),
    |e, t| t.filters.get().encode(e),
    |e, t| match &t.dense {
        None => e.u8(0),
        Some(dense) => {
            e.u8(1);
            dense.encode(e, &t.removed);
        }
    },
    |e, t| t.detected.encode(e),
];

/// `id str | undetected u64 | store_vectors u64`: what precedes a tenant's parts.
fn tenant_header(id: &TenantId, undetected: u64, t: &TenantIndex) -> Encoder<'static> {
    let mut e = Encoder::default();
    e.str(id.as_str());
    e.u64(undetected);
    e.u64(t.store_vectors);
    e
}

fn encode_tenant(id: &TenantId, undetected: u64, t: &TenantIndex) -> Vec<u8> {
    let mut e = tenant_header(id, undetected, t);
    e.align(0, 8);
    for encode in PARTS {
        part(&mut e, |e| encode(e, t));
    }
    e.buf
}

/// Writes `len u64 | tenant | pad` as [`encode_tenant`] would, holding a megabyte at a time:
/// each part is encoded twice, once for its length ([`Discard`]), once into the file
/// ([`Encoder::spilling`]). (Holding a part at a time, as before, raised the close's peak by
/// ~5 GB at 10M claims: the largest part, grown by doubling.)
fn write_tenant_by_parts(
    file: &mut frame::Writer,
    id: &TenantId,
    undetected: u64,
    t: &TenantIndex,
) -> std::io::Result<()> {
    let lens: Vec<usize> = PARTS
        .iter()
        .map(|encode| {
            let mut discard = Discard;
            let mut e = Encoder::spilling(&mut discard);
            encode(&mut e, t);
            e.finish_spill()
        })
        .collect::<std::io::Result<_>>()?;
    let header = tenant_header(id, undetected, t).buf;
    let total = header.len()
        + pad(header.len()).len()
        + lens.iter().map(|l| 8 + l + pad(*l).len()).sum::<usize>();
    file.put(&(total as u64).to_le_bytes())?;
    file.put(&header)?;
    file.put(pad(header.len()))?;
    for (&encode, len) in PARTS.iter().zip(lens) {
        file.put(&(len as u64).to_le_bytes())?;
        let mut e = Encoder::spilling(file);
        encode(&mut e, t);
        if e.finish_spill()? != len {
            // The tenant changed between the passes: the close holds the catalog, so it cannot.
            return Err(std::io::Error::other(
                "a tenant changed while its image was written",
            ));
        }
        file.put(pad(len))?;
    }
    file.put(pad(total))
}

/// `len u64 | what f writes | pad` (`e` starts at the tenant's first byte).
fn part(e: &mut Encoder, f: impl FnOnce(&mut Encoder)) {
    let at = e.buf.len();
    e.u64(0);
    f(e);
    let len = (e.buf.len() - at - 8) as u64;
    e.buf[at..at + 8].copy_from_slice(&len.to_le_bytes());
    e.align(0, 8);
}

fn encode_head(e: &mut Encoder, t: &TenantIndex) {
    e.len(t.docs.len());
    for d in &t.docs {
        e.u32(d.claim);
        e.u32(d.version);
        e.u64(d.lsn.0);
        e.i64(d.recorded_at.as_unix_micros());
        e.i64(d.superseded_at.as_unix_micros());
        e.opt_ts(d.valid.from());
        e.opt_ts(d.valid.to());
        e.f32(d.weight.support);
        e.f32(d.weight.contradiction);
        e.u8(u8::from(d.weight.net_contradicting));
        e.f32(d.confidence);
        match &d.content {
            Content::Dropped => e.u8(0),
            Content::Stored { segment, entry } => {
                e.u8(1);
                e.u64(segment.id);
                e.u32(*entry);
            }
            Content::Held(_) | Content::Logged => e.u8(2),
        }
    }
    t.claims.encode(e);
    e.bitmap(&t.current);
    e.bitmap(&t.removed);
    e.bitmap(&t.net_contradicting);
    e.bitmap(&t.superseded_targets);
    let mut incoming: Vec<(&u32, &Vec<u32>)> = t.incoming.iter().collect();
    incoming.sort_unstable_by_key(|(claim, _)| **claim);
    e.len(incoming.len());
    for (claim, docs) in incoming {
        e.u32(*claim);
        e.u32s(docs);
    }
}

fn malformed<T>(at: usize, what: &'static str) -> DecodeResult<Result<T, String>> {
    Err((at, CorruptionKind::Malformed(what)))
}

/// The body, checked against the open: `Ok(Err(reason))` when it is sound but not for this
/// open.
fn decode(
    body: &[u8],
    segments: &[Arc<Segment>],
    source: Source,
    replayed_through: Lsn,
    queueing: bool,
) -> DecodeResult<Result<Loaded, String>> {
    let mut d = Decoder::new(body);
    let applied_through = Lsn(d.u64()?);
    let detected_through = Lsn(d.u64()?);
    if applied_through > replayed_through {
        return Ok(Err(format!(
            "it holds records up to {}, the WAL only up to {}",
            applied_through.0, replayed_through.0
        )));
    }
    let n = d.count(40)?;
    let mut listed = Vec::with_capacity(n);
    for _ in 0..n {
        listed.push((d.u64()?, d.hash()?));
    }
    let open: Vec<(u64, [u8; 32])> = segments.iter().map(|s| (s.id, s.hash)).collect();
    if listed != open {
        return Ok(Err("it was written over other segments".into()));
    }
    let mut queue = std::collections::VecDeque::new();
    for _ in 0..d.count(28)? {
        queue.push_back(Pending {
            lsn: Lsn(d.u64()?),
            tenant: TenantId::new(d.string()?),
            recorded_at: d.timestamp()?,
            first: d.u32()?,
            count: d.u32()?,
        });
    }
    let n = d.count(8)?;
    skip_pad(&mut d, source.padded)?;
    let mut slices = Vec::with_capacity(n);
    for _ in 0..n {
        let len = usize::try_from(d.u64()?).unwrap_or(usize::MAX);
        let at = d.position();
        slices.push((at, d.take(len)?));
        skip_pad(&mut d, source.padded)?;
    }
    if !d.is_empty() {
        return malformed(d.position(), "bytes after the tenants");
    }
    let mut catalog = Catalog::ready(queueing, detected_through);
    catalog.queue = queue;
    catalog.image_through = applied_through;
    let mut graphs = Vec::new();
    for (at, bytes) in slices {
        let header = Header::read(bytes, source.padded).map_err(|(pos, kind)| (at + pos, kind))?;
        let start = BODY_OFFSET + at;
        let cell = Arc::new(source.cell(start..start + bytes.len(), &header));
        if !header.graphs.is_empty() {
            graphs.push((header.id.clone(), header.graphs));
        }
        if catalog.tenants.insert(header.id, cell).is_some() {
            return malformed(0, "a tenant listed twice");
        }
    }
    Ok(Ok(Loaded { catalog, graphs }))
}

/// What the open reads of a tenant before it is decoded: its id, document count, how many of
/// its documents wait for detection, the graph files its dense part names, and what the
/// statistics count of it.
struct Header {
    id: TenantId,
    doc_count: u32,
    undetected: u64,
    graphs: Vec<String>,
    summary: Summary,
}

impl Header {
    fn read(bytes: &[u8], padded: bool) -> DecodeResult<Self> {
        let (id, undetected, _, parts, offsets) = split_tenant(bytes, padded)?;
        let within = |i: usize| move |(p, k): (usize, CorruptionKind)| (offsets[i] + p, k);
        let doc_count = Decoder::new(parts[0]).u32().map_err(within(0))?;
        let (exact_docs, graphs) = dense_header(parts[3]).map_err(within(3))?;
        // `detected := epoch u32 | list<doc_edge> (the live edges) | ...`
        let mut detected = Decoder::new(parts[4]);
        detected.u32().map_err(within(4))?;
        let live_edges = u64::from(detected.u32().map_err(within(4))?);
        Ok(Self {
            id,
            doc_count,
            undetected,
            graphs,
            summary: Summary {
                exact_docs,
                live_edges,
            },
        })
    }
}

/// The number of exact rows of a dense part and the graph files it names, read past the rows
/// without decoding them (the dense part's grammar: `DenseIndex::encode`).
fn dense_header(dense: &[u8]) -> DecodeResult<(u64, Vec<String>)> {
    let mut d = Decoder::new(dense);
    if !d.flag()? {
        return Ok((0, Vec::new()));
    }
    let dim = d.u32()? as usize;
    let rows = d.u32()? as usize;
    let row_bytes = dim
        .checked_mul(4)
        .and_then(|b| b.checked_add(4))
        .and_then(|b| b.checked_mul(rows))
        .ok_or((d.position(), CorruptionKind::Malformed("dense rows")))?;
    d.take(row_bytes)?;
    let n = d.count(4)?;
    let names = (0..n).map(|_| d.string()).collect::<DecodeResult<_>>()?;
    Ok((rows as u64, names))
}

/// A tenant's id, undetected count, vector count and five parts (with their offsets).
type Split<'a> = (TenantId, u64, u64, [&'a [u8]; 5], [usize; 5]);

/// Skips a `pad` (image format 2 on: `padded`; `d` starts at the body's or the tenant's first
/// byte).
fn skip_pad(d: &mut Decoder<'_>, padded: bool) -> DecodeResult<()> {
    if padded {
        d.align(0, 8)
    } else {
        Ok(())
    }
}

/// `padded`: image format 2 on (see the module docs).
fn split_tenant(bytes: &[u8], padded: bool) -> DecodeResult<Split<'_>> {
    let mut d = Decoder::new(bytes);
    let id = TenantId::new(d.string()?);
    let undetected = d.u64()?;
    let store_vectors = d.u64()?;
    skip_pad(&mut d, padded)?;
    let mut parts = [&[][..]; 5];
    let mut offsets = [0usize; 5];
    for (p, at) in parts.iter_mut().zip(&mut offsets) {
        let len = usize::try_from(d.u64()?).unwrap_or(usize::MAX);
        *at = d.position();
        *p = d.take(len)?;
        skip_pad(&mut d, padded)?;
    }
    if !d.is_empty() {
        return Err((
            d.position(),
            CorruptionKind::Malformed("bytes after a tenant"),
        ));
    }
    Ok((id, undetected, store_vectors, parts, offsets))
}

/// One tenant's parts (`bytes`, a part of `source`'s image), decoded in parallel.
fn decode_tenant(
    bytes: &[u8],
    start: usize,
    id: &TenantId,
    source: &Source,
) -> DecodeResult<TenantIndex> {
    let segments = &source.segments;
    let (_, _, store_vectors, parts, offsets) = split_tenant(bytes, source.padded)?;
    let within = |i: usize| move |(pos, kind): (usize, CorruptionKind)| (offsets[i] + pos, kind);
    let [head, lexical, filters, dense, detected] = parts;
    // The head's first field is the document count the other parts are checked against, so
    // they decode at once; the facet postings when first read (`Deferred`).
    let doc_count = Decoder::new(head).u32().map_err(within(0))? as usize;
    let filters = deferred_filters(source, id, start + offsets[2], filters.len(), doc_count);
    let (head, (lexical, (dense, detected))) = rayon::join(
        || decode_head(head, segments).map_err(within(0)),
        || {
            rayon::join(
                || {
                    let d = &mut Decoder::new(lexical);
                    let read = if source.padded {
                        Bm25Index::decode(d, Analyzer::english(), Some(&source.image))
                    } else {
                        Bm25Index::decode_v1(d, Analyzer::english())
                    };
                    read.map_err(within(1))
                },
                || {
                    rayon::join(
                        || decode_dense(dense, doc_count).map_err(within(3)),
                        || DetectedGraph::decode(&mut Decoder::new(detected)).map_err(within(4)),
                    )
                },
            )
        },
    );
    let head = head?;
    let dense = dense?;
    let mut index = TenantIndex::new();
    index.docs = head.docs;
    index.claims = head.claims;
    index.current = head.current;
    index.removed = head.removed;
    index.net_contradicting = head.net_contradicting;
    index.superseded_targets = head.superseded;
    index.incoming = head.incoming;
    index.lexical = lexical?;
    index.filters = filters;
    index.dense = dense;
    index.detected = detected?;
    index.store_vectors = store_vectors;
    Ok(index)
}

/// A tenant's facet postings (`len` bytes at `at` of the image), decoded when first read: a
/// failure is reported as a tenant's that does not decode (`fault`), with empty postings.
fn deferred_filters(
    source: &Source,
    id: &TenantId,
    at: usize,
    len: usize,
    doc_count: usize,
) -> Deferred<FilterIndex> {
    let (source, id) = (source.clone(), id.clone());
    Deferred::later(move || {
        let bytes = source.image.get(at..at + len).unwrap_or_default();
        FilterIndex::decode(&mut Decoder::new(bytes), doc_count).unwrap_or_else(|(pos, kind)| {
            (source.fault)(format!(
                "catalog image: tenant {id} does not decode: facet postings: {kind} at {}",
                at + pos
            ));
            FilterIndex::default()
        })
    })
}

/// A tenant's dense part (the graph files it names were read at open, by [`Header::read`],
/// and are attached from their files).
fn decode_dense(bytes: &[u8], doc_count: usize) -> DecodeResult<Option<DenseIndex>> {
    let mut d = Decoder::new(bytes);
    if !d.flag()? {
        return Ok(None);
    }
    Ok(Some(DenseIndex::decode(&mut d, doc_count)?.0))
}

/// A tenant's documents, claims, bitmaps and incoming edges.
struct Head {
    docs: Vec<Doc>,
    claims: ClaimTable,
    current: roaring::RoaringBitmap,
    removed: roaring::RoaringBitmap,
    net_contradicting: roaring::RoaringBitmap,
    superseded: roaring::RoaringBitmap,
    incoming: HashMap<u32, Vec<u32>, foldhash::fast::RandomState>,
}

fn decode_head(bytes: &[u8], segments: &HashMap<u64, Arc<Segment>>) -> DecodeResult<Head> {
    let mut d = Decoder::new(bytes);
    let n = d.count(48)?;
    let mut docs = Vec::with_capacity(n);
    for _ in 0..n {
        let (claim, version, lsn) = (d.u32()?, d.u32()?, Lsn(d.u64()?));
        let (recorded_at, superseded_at) = (d.timestamp()?, d.timestamp()?);
        let (valid_from, valid_to) = (d.opt_ts()?, d.opt_ts()?);
        let weight = EvidenceWeight {
            support: d.f32()?,
            contradiction: d.f32()?,
            net_contradicting: d.flag()?,
        };
        let confidence = d.f32()?;
        let at = d.position();
        let content = match d.u8()? {
            0 => Content::Dropped,
            1 => {
                let (id, entry) = (d.u64()?, d.u32()?);
                match segments.get(&id) {
                    Some(seg) if (entry as usize) < seg.entry_count() => Content::Stored {
                        segment: Arc::clone(seg),
                        entry,
                    },
                    _ => return Err((at, CorruptionKind::Malformed("unknown segment entry"))),
                }
            }
            2 => Content::Logged,
            _ => return Err((at, CorruptionKind::Malformed("bad content tag"))),
        };
        docs.push(Doc {
            claim,
            version,
            lsn,
            recorded_at,
            superseded_at,
            valid: ValidTime::new(valid_from, valid_to),
            weight,
            confidence,
            content,
        });
    }
    let claims = ClaimTable::decode(&mut d, n)?;
    if let Some(at) = docs.iter().position(|doc| claims.get(doc.claim).is_none()) {
        return Err((
            at,
            CorruptionKind::Malformed("a document of an unknown claim"),
        ));
    }
    let (current, removed) = (d.bitmap()?, d.bitmap()?);
    let (net_contradicting, superseded) = (d.bitmap()?, d.bitmap()?);
    let mut incoming = HashMap::default();
    for _ in 0..d.count(8)? {
        incoming.insert(d.u32()?, d.u32s()?);
    }
    if !d.is_empty() {
        return Err((
            d.position(),
            CorruptionKind::Malformed("bytes after the head"),
        ));
    }
    Ok(Head {
        docs,
        claims,
        current,
        removed,
        net_contradicting,
        superseded,
        incoming,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Claim, Evidence, IngestItem, Stance, Timestamp};
    use crate::retrieve::tenant_cell::TenantOp;
    use crate::MemStorage;

    #[test]
    fn a_tenant_written_part_by_part_is_the_tenant_encoded_whole() {
        // Enough documents that the larger parts pass through several spills.
        let mut t = TenantIndex::new();
        for commit in 0..40u64 {
            let items = (commit * 500..(commit + 1) * 500)
                .map(|i| {
                    let text = format!("the glacier {i} retreats {} km", i % 97);
                    let mut claim = Claim::new("acme", format!("c{i:05}"), text);
                    claim.entities = vec![format!("e{}", i % 3), format!("n{i}")];
                    claim.embedding = Some(vec![1.0, i as f32, 0.5]);
                    let item = IngestItem::new(claim).with_evidence(Evidence::new(
                        format!("ev{i}"),
                        format!("c{i:05}"),
                        "wiki",
                        Stance::Supports,
                    ));
                    (Arc::new(item), 1)
                })
                .collect();
            t.apply(TenantOp::Commit {
                lsn: Lsn(commit + 1),
                recorded_at: Timestamp::from_unix_micros(commit as i64),
                items,
            });
        }
        let id = TenantId::new("acme");
        let storage = MemStorage::new();
        let mut w =
            frame::Writer::new(storage.create(Path::new("img")).unwrap(), MAGIC, 1).unwrap();
        write_tenant_by_parts(&mut w, &id, 3, &t).unwrap();
        w.finish().unwrap();
        let bytes = storage.read(Path::new("img")).unwrap();
        let body = unframe(MAGIC, 1, 1, &bytes).unwrap().body;
        let whole = encode_tenant(&id, 3, &t);
        let largest = PARTS.iter().map(|encode| {
            let mut e = Encoder::default();
            encode(&mut e, &t);
            e.buf.len()
        });
        assert!(largest.max().unwrap() > 2 << 20, "no part spills");
        assert_eq!(body[..8], (whole.len() as u64).to_le_bytes());
        assert_eq!(&body[8..], &whole[..]);
    }
}
