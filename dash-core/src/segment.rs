//! Immutable segment files: the claims of a checkpointed LSN range, sorted by key, with a key
//! index for binary search and the commit table that keeps `commit_id`s idempotent.
//!
//! ```text
//! segment  := frame("DASHSEG\0", version, entry* index commit* derived footer)
//!             (the common framing, `frame.rs`: a 16-byte header, the body, BLAKE3, magic)
//! entry    := tenant str | claim_id str | count u32 | latest_version u32 | latest_forgotten u8
//!           | version * count                     (entries sorted by (tenant, claim_id) bytes)
//! version  := version u32 | lsn u64 | recorded_at i64 | kind u8 (0 live, 1 tombstone)
//!           | item (kind 0 only; see codec)
//! index    := entry_offset u64 * entry_count      (absolute file offsets, in key order)
//! commit   := tenant str | commit_id str | digest [u8; 32] | lsn u64 | recorded_at i64
//!           | versions list<u32>                  (sorted by (tenant, commit_id) bytes)
//! derived  := tenant_count u32 | tenant_derived * tenant_count   (format 2; sorted by tenant;
//!             see `detect/record.rs`: detected edges and store-made vectors of the versions
//!             this segment's LSN range made durable)
//! footer   := entries_offset u64 | index_offset u64 | entry_count u64 | commits_offset u64
//!           | commit_count u64 | min_lsn u64 | max_lsn u64 | version_count u64
//!           | derived_offset u64                  (format 2 only)
//! ```
//!
//! Offsets are absolute (from the file's first byte; entries start at 16).
//!
//! Format 1 (no derived section, eight footer fields) is still read.
//!
//! A segment is written once (temp-free: it is unreferenced until a manifest names it), fsynced,
//! and verified whole against its BLAKE3 hash when loaded.

use std::cmp::Ordering;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codec::{self, Decoder, Encoder};
use crate::detect::record::{decode_tenant, encode_tenant, TenantDerived};
use crate::error::{Corruption, CorruptionKind};
use crate::frame::{self, unframe_file, BODY_OFFSET};
use crate::model::{ClaimId, ClaimVersion, Lsn, TenantId, Timestamp, VersionBody};
use crate::storage::{FileBytes, StorageFile};

/// Directory of segment files, relative to the store root.
pub(crate) const SEGMENT_DIR: &str = "segments";

const MAGIC: [u8; 8] = *b"DASHSEG\0";
/// Footer fields of format 1; format 2 adds `derived_offset`.
const FOOTER_FIELDS_V1_LEN: usize = 8 * 8;
const FOOTER_FIELDS_V2_LEN: usize = FOOTER_FIELDS_V1_LEN + 8;
const INDEX_ENTRY_LEN: usize = 8;

/// The segment format version this build writes.
pub(crate) const FORMAT_VERSION: u16 = 2;
const OLDEST_SUPPORTED: u16 = 1;

/// The footer's field bytes in `version`.
fn footer_fields_len(version: u16) -> usize {
    if version >= 2 {
        FOOTER_FIELDS_V2_LEN
    } else {
        FOOTER_FIELDS_V1_LEN
    }
}

/// The name of segment `id`.
pub(crate) fn file_path(id: u64) -> PathBuf {
    Path::new(SEGMENT_DIR).join(format!("{id:020}.seg"))
}

/// Parses a segment file name back into its id.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// A commit remembered for idempotency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommitMeta {
    pub(crate) digest: [u8; 32],
    pub(crate) lsn: Lsn,
    pub(crate) recorded_at: Timestamp,
    pub(crate) versions: Vec<u32>,
}

/// One row of a segment's commit table: tenant, commit id and what the commit did.
pub(crate) type CommitEntry = (TenantId, String, CommitMeta);

/// The builder's buffer is handed to its file whenever it holds this much.
const SPILL_BYTES: usize = 8 << 20;

/// Writes a segment to its file as it grows; claims and commits must be added in key order. A
/// merge of gigabytes holds [`SPILL_BYTES`] of entries, plus the offset table, commits and
/// derived data.
pub(crate) struct SegmentBuilder {
    enc: Encoder<'static>,
    /// The file the entries go to as they are built.
    file: Box<dyn StorageFile>,
    /// The hash of what `file` holds so far.
    hasher: blake3::Hasher,
    /// Bytes handed to `file` (file offset of `enc.buf[0]`).
    spilled: u64,
    /// Buffer size at which it is handed to `file` ([`SPILL_BYTES`]; smaller in tests).
    spill_at: usize,
    index: Vec<u64>,
    commits: Encoder<'static>,
    commit_count: u64,
    derived: Encoder<'static>,
    derived_count: u32,
    min_lsn: Lsn,
    max_lsn: Lsn,
    version_count: u64,
}

impl SegmentBuilder {
    /// A builder that writes to `file` (new and empty) as it goes ([`Self::finish`]).
    pub(crate) fn new(file: Box<dyn StorageFile>) -> Self {
        let mut enc = Encoder::with_capacity(1 << 20);
        enc.bytes(&frame::header(MAGIC, FORMAT_VERSION));
        Self {
            enc,
            file,
            hasher: blake3::Hasher::new(),
            spilled: 0,
            spill_at: SPILL_BYTES,
            index: Vec::new(),
            commits: Encoder::default(),
            commit_count: 0,
            derived: Encoder::default(),
            derived_count: 0,
            min_lsn: Lsn(u64::MAX),
            max_lsn: Lsn(0),
            version_count: 0,
        }
    }

    /// The file offset of the next byte.
    fn offset(&self) -> u64 {
        self.spilled + self.enc.buf.len() as u64
    }

    /// Hands the buffer to the file once it holds `spill_at` bytes.
    fn maybe_spill(&mut self) -> io::Result<()> {
        if self.enc.buf.len() >= self.spill_at {
            codec::hash_more(&mut self.hasher, &self.enc.buf);
            self.file.append(&self.enc.buf)?;
            self.spilled += self.enc.buf.len() as u64;
            self.enc.buf.clear();
        }
        Ok(())
    }

    /// Adds one key's versions (oldest first, at least one). It may write to the file: the
    /// error is the file's.
    pub(crate) fn add_claim<'a>(
        &mut self,
        tenant: &TenantId,
        claim: &ClaimId,
        versions: impl ExactSizeIterator<Item = &'a ClaimVersion> + Clone,
    ) -> io::Result<()> {
        let Some(latest) = versions.clone().last() else {
            return Ok(());
        };
        self.index.push(self.offset());
        self.enc.str(tenant.as_str());
        self.enc.str(claim.as_str());
        self.enc.len(versions.len());
        self.enc.u32(latest.version);
        self.enc
            .u8(u8::from(matches!(latest.body, VersionBody::Tombstone)));
        for v in versions {
            self.min_lsn = self.min_lsn.min(v.lsn);
            self.max_lsn = self.max_lsn.max(v.lsn);
            self.version_count += 1;
            self.enc.u32(v.version);
            self.enc.u64(v.lsn.0);
            self.enc.i64(v.recorded_at.as_unix_micros());
            match &v.body {
                VersionBody::Live(item) => {
                    self.enc.u8(0);
                    self.enc.item(item);
                }
                VersionBody::Tombstone => self.enc.u8(1),
            }
        }
        self.maybe_spill()
    }

    /// Adds one remembered commit.
    pub(crate) fn add_commit(&mut self, tenant: &TenantId, commit_id: &str, meta: &CommitMeta) {
        self.commit_count += 1;
        let c = &mut self.commits;
        c.str(tenant.as_str());
        c.str(commit_id);
        c.bytes(&meta.digest);
        c.u64(meta.lsn.0);
        c.i64(meta.recorded_at.as_unix_micros());
        c.len(meta.versions.len());
        for v in &meta.versions {
            c.u32(*v);
        }
    }

    /// Adds one tenant's derived data (tenants in order, after the claims and commits).
    pub(crate) fn add_derived(&mut self, derived: &TenantDerived) {
        if derived.is_empty() {
            return;
        }
        self.derived_count += 1;
        encode_tenant(&mut self.derived, derived);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.index.is_empty() && self.commit_count == 0 && self.derived_count == 0
    }

    /// Finishes the file (not synced) and returns it.
    pub(crate) fn finish(mut self) -> io::Result<Box<dyn StorageFile>> {
        self.write_tail();
        codec::hash_more(&mut self.hasher, &self.enc.buf);
        let trailer = frame::trailer(*self.hasher.finalize().as_bytes(), MAGIC);
        self.enc.bytes(&trailer);
        self.file.append(&self.enc.buf)?;
        Ok(self.file)
    }

    /// The offset table, commits, derived data and footer fields (everything but the frame's
    /// trailer).
    fn write_tail(&mut self) {
        let index_offset = self.offset();
        for off in &self.index {
            self.enc.u64(*off);
        }
        let commits_offset = self.offset();
        self.enc.bytes(&self.commits.buf);
        let derived_offset = self.offset();
        self.enc.u32(self.derived_count);
        self.enc.bytes(&self.derived.buf);
        let (min_lsn, max_lsn) = if self.version_count == 0 {
            (0, 0)
        } else {
            (self.min_lsn.0, self.max_lsn.0)
        };
        for field in [
            BODY_OFFSET as u64,
            index_offset,
            self.index.len() as u64,
            commits_offset,
            self.commit_count,
            min_lsn,
            max_lsn,
            self.version_count,
            derived_offset,
        ] {
            self.enc.u64(field);
        }
    }
}

/// A loaded, verified segment.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) id: u64,
    path: PathBuf,
    /// The file, mapped (or, on storages that cannot map, read).
    bytes: FileBytes,
    pub(crate) hash: [u8; 32],
    index_offset: usize,
    entry_count: usize,
    commits_offset: usize,
    commit_count: usize,
    /// Where the derived section starts and ends (empty in format 1).
    derived: (usize, usize),
    pub(crate) min_lsn: Lsn,
    pub(crate) max_lsn: Lsn,
}

impl Segment {
    /// Verifies `bytes` (magic, version, BLAKE3 of the whole file, offsets) and indexes them.
    pub(crate) fn from_bytes(id: u64, bytes: FileBytes) -> Result<Self, Corruption> {
        let path = file_path(id);
        let corrupt = |offset: usize, kind| Corruption {
            file: path.clone(),
            offset: offset as u64,
            kind,
        };
        // Hashed a step at a time, its pages let go behind: answers read a few of them.
        let framed = unframe_file(MAGIC, OLDEST_SUPPORTED, FORMAT_VERSION, &bytes)
            .map_err(|(o, k)| corrupt(o, k))?;
        let (version, hash) = (framed.version, framed.hash);
        // File offsets: the footer's fields end where the hash starts.
        let hash_at = BODY_OFFSET + framed.body.len();
        let Some(footer_at) = hash_at
            .checked_sub(footer_fields_len(version))
            .filter(|&at| at >= BODY_OFFSET)
        else {
            return Err(corrupt(0, CorruptionKind::Truncated));
        };
        let mut d = Decoder::new(&bytes[footer_at..hash_at]);
        let mut field = || d.u64().map_err(|(o, k)| corrupt(footer_at + o, k));
        let entries_offset = field()?;
        let index_offset = field()?;
        let entry_count = field()?;
        let commits_offset = field()?;
        let commit_count = field()?;
        let min_lsn = Lsn(field()?);
        let max_lsn = Lsn(field()?);
        let _version_count = field()?;
        let derived_offset = if version >= 2 {
            field()?
        } else {
            footer_at as u64
        };
        let index_end = entry_count
            .checked_mul(INDEX_ENTRY_LEN as u64)
            .and_then(|n| n.checked_add(index_offset));
        let consistent = entries_offset == BODY_OFFSET as u64
            && entries_offset <= index_offset
            && index_end == Some(commits_offset)
            && commits_offset <= derived_offset
            && derived_offset <= footer_at as u64;
        if !consistent {
            return Err(corrupt(
                footer_at,
                CorruptionKind::Malformed("footer offsets"),
            ));
        }
        let seg = Self {
            id,
            path,
            bytes,
            hash,
            index_offset: index_offset as usize,
            entry_count: entry_count as usize,
            commits_offset: commits_offset as usize,
            commit_count: commit_count as usize,
            derived: (derived_offset as usize, footer_at),
            min_lsn,
            max_lsn,
        };
        for i in 0..seg.entry_count {
            let off = seg.entry_offset(i);
            if off < BODY_OFFSET || off >= seg.index_offset {
                return Err(
                    seg.corrupt(seg.index_offset + i * 8, CorruptionKind::Malformed("index"))
                );
            }
        }
        Ok(seg)
    }

    fn corrupt(&self, offset: usize, kind: CorruptionKind) -> Corruption {
        Corruption {
            file: self.path.clone(),
            offset: offset as u64,
            kind,
        }
    }

    /// The file's size in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Starts reading entry `i`'s bytes from disk, if they are not in memory, without waiting
    /// (see [`FileBytes::will_need`]).
    pub(crate) fn prefetch(&self, i: usize) {
        if i >= self.entry_count {
            return;
        }
        let end = if i + 1 < self.entry_count {
            self.entry_offset(i + 1)
        } else {
            self.index_offset
        };
        self.bytes.will_need(self.entry_offset(i)..end);
    }

    /// Reads ahead while the guard lives: a merge reads the segment through (see
    /// [`FileBytes::read_through`]).
    pub(crate) fn read_through(&self) -> crate::storage::ReadThrough<'_> {
        self.bytes.read_through()
    }

    /// Lets go of the pages readers brought into the mapping ([`FileBytes::release`]): after
    /// a pass in no particular order over much of the file (the open's indexing in commit
    /// order), so that they do not stay counted in the process' resident memory.
    pub(crate) fn release_pages(&self) {
        self.bytes.release();
    }

    /// Lets go of the pages of `entries` and of their slots in the key index
    /// ([`FileBytes::release_range`]): after a walk over their keys, which lie between the
    /// versions, so that every page of the walk would otherwise stay counted in the process'
    /// resident memory.
    pub(crate) fn release_entries(&self, entries: std::ops::Range<usize>) {
        let end = entries.end.min(self.entry_count);
        if entries.start >= end {
            return;
        }
        self.bytes
            .release_range(self.entry_start(entries.start)..self.entry_start(end));
        let slot = |i: usize| self.index_offset + i * INDEX_ENTRY_LEN;
        self.bytes.release_range(slot(entries.start)..slot(end));
    }

    /// Number of keys.
    pub(crate) fn entry_count(&self) -> usize {
        self.entry_count
    }

    /// Where entry `i` starts in the file (the end of the entries for `i` past the last).
    pub(crate) fn entry_start(&self, i: usize) -> usize {
        if i < self.entry_count {
            self.entry_offset(i)
        } else {
            self.index_offset
        }
    }

    fn entry_offset(&self, i: usize) -> usize {
        let at = self.index_offset + i * INDEX_ENTRY_LEN;
        let mut a = [0u8; 8];
        a.copy_from_slice(&self.bytes[at..at + INDEX_ENTRY_LEN]);
        usize::try_from(u64::from_le_bytes(a)).unwrap_or(usize::MAX)
    }

    /// Decoder positioned at entry `i`, bounded by the index.
    fn entry_decoder(&self, i: usize) -> (usize, Decoder<'_>) {
        let off = self.entry_offset(i);
        (off, Decoder::new(&self.bytes[off..self.index_offset]))
    }

    /// The key of entry `i`.
    pub(crate) fn key(&self, i: usize) -> Result<(&str, &str), Corruption> {
        let (off, mut d) = self.entry_decoder(i);
        let tenant = d.str().map_err(|(o, k)| self.corrupt(off + o, k))?;
        let claim = d.str().map_err(|(o, k)| self.corrupt(off + o, k))?;
        Ok((tenant, claim))
    }

    /// The entry index of `(tenant, claim)`, if this segment has the key.
    pub(crate) fn find(&self, tenant: &str, claim: &str) -> Result<Option<usize>, Corruption> {
        let (mut lo, mut hi) = (0, self.entry_count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (t, c) = self.key(mid)?;
            match (t.as_bytes(), c.as_bytes()).cmp(&(tenant.as_bytes(), claim.as_bytes())) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(Some(mid)),
            }
        }
        Ok(None)
    }

    /// The latest version number of entry `i` and whether it is a tombstone.
    pub(crate) fn latest(&self, i: usize) -> Result<(u32, bool), Corruption> {
        let (off, mut d) = self.entry_decoder(i);
        let mut run = || -> Result<(u32, bool), (usize, CorruptionKind)> {
            d.str()?;
            d.str()?;
            d.u32()?;
            Ok((d.u32()?, d.u8()? != 0))
        };
        run().map_err(|(o, k)| self.corrupt(off + o, k))
    }

    /// The LSN of each version of entry `i`, oldest first, without keeping their items: what an
    /// open needs to put every version of the segments in commit order before it reads them.
    /// An entry of one version (the common case) is read up to its first item only.
    pub(crate) fn version_lsns(&self, i: usize) -> Result<Vec<Lsn>, Corruption> {
        let (off, mut d) = self.entry_decoder(i);
        let mut run = || -> Result<Option<Lsn>, (usize, CorruptionKind)> {
            d.str()?;
            d.str()?;
            if d.count(21)? != 1 {
                return Ok(None);
            }
            d.u32()?;
            d.u8()?;
            d.u32()?;
            Ok(Some(Lsn(d.u64()?)))
        };
        match run().map_err(|(o, k)| self.corrupt(off + o, k))? {
            Some(lsn) => Ok(vec![lsn]),
            None => Ok(self.versions(i)?.iter().map(|v| v.lsn).collect()),
        }
    }

    /// All versions of entry `i`, oldest first.
    pub(crate) fn versions(&self, i: usize) -> Result<Vec<ClaimVersion>, Corruption> {
        let (off, mut d) = self.entry_decoder(i);
        let mut run = || -> Result<Vec<ClaimVersion>, (usize, CorruptionKind)> {
            d.str()?;
            d.str()?;
            let n = d.count(21)?;
            d.u32()?;
            d.u8()?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let version = d.u32()?;
                let lsn = Lsn(d.u64()?);
                let recorded_at = Timestamp::from_unix_micros(d.i64()?);
                let at = d.position();
                let body = match d.u8()? {
                    0 => VersionBody::Live(Arc::new(d.item()?)),
                    1 => VersionBody::Tombstone,
                    _ => return Err((at, CorruptionKind::Malformed("version kind"))),
                };
                out.push(ClaimVersion {
                    version,
                    lsn,
                    recorded_at,
                    body,
                });
            }
            Ok(out)
        };
        run().map_err(|(o, k)| self.corrupt(off + o, k))
    }

    /// The derived section: each tenant's detected edges and store-made vectors.
    pub(crate) fn derived(&self) -> Result<Vec<TenantDerived>, Corruption> {
        let (base, end) = self.derived;
        if base == end {
            return Ok(Vec::new()); // format 1
        }
        let mut d = Decoder::new(&self.bytes[base..end]);
        let mut run = || -> Result<Vec<TenantDerived>, (usize, CorruptionKind)> {
            let n = d.count(18)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push(decode_tenant(&mut d)?);
            }
            if !d.is_empty() {
                return Err((
                    d.position(),
                    CorruptionKind::Malformed("trailing derived bytes"),
                ));
            }
            Ok(out)
        };
        run().map_err(|(o, k)| self.corrupt(base + o, k))
    }

    /// The commit table.
    pub(crate) fn commits(&self) -> Result<Vec<CommitEntry>, Corruption> {
        let base = self.commits_offset;
        let end = self.derived.0;
        let mut d = Decoder::new(&self.bytes[base..end]);
        let mut run = || -> Result<Vec<CommitEntry>, (usize, CorruptionKind)> {
            let mut out = Vec::with_capacity(self.commit_count.min(d.remaining() / 60));
            for _ in 0..self.commit_count {
                let tenant = TenantId::new(d.string()?);
                let commit_id = d.string()?;
                let digest = d.hash()?;
                let lsn = Lsn(d.u64()?);
                let recorded_at = Timestamp::from_unix_micros(d.i64()?);
                let n = d.count(4)?;
                let mut versions = Vec::with_capacity(n);
                for _ in 0..n {
                    versions.push(d.u32()?);
                }
                out.push((
                    tenant,
                    commit_id,
                    CommitMeta {
                        digest,
                        lsn,
                        recorded_at,
                        versions,
                    },
                ));
            }
            if !d.is_empty() {
                return Err((
                    d.position(),
                    CorruptionKind::Malformed("trailing commit bytes"),
                ));
            }
            Ok(out)
        };
        run().map_err(|(o, k)| self.corrupt(base + o, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Claim, IngestItem};

    fn live(version: u32, lsn: u64, item: IngestItem) -> ClaimVersion {
        ClaimVersion {
            version,
            lsn: Lsn(lsn),
            recorded_at: Timestamp::from_unix_micros(i64::try_from(lsn).unwrap()),
            body: VersionBody::Live(Arc::new(item)),
        }
    }

    /// The segment of [`fill`], its buffer handed to the file every `spill_at` bytes.
    fn build_spilling_at(spill_at: usize) -> Vec<u8> {
        use crate::storage::{MemStorage, Storage};
        let storage = MemStorage::new();
        let path = Path::new("s.seg");
        let mut b = SegmentBuilder::new(storage.create(path).unwrap());
        b.spill_at = spill_at;
        fill(&mut b);
        b.finish().unwrap();
        storage.read(path).unwrap()
    }

    fn build() -> Vec<u8> {
        build_spilling_at(SPILL_BYTES)
    }

    /// Three keys of two versions each, and a commit.
    fn fill(b: &mut SegmentBuilder) {
        for (t, c) in [("a", "x"), ("a", "y"), ("b", "x")] {
            let item = IngestItem::new(Claim::new(t, c, format!("{t}/{c}")));
            let v1 = live(1, 1, item.clone());
            let v2 = ClaimVersion {
                version: 2,
                lsn: Lsn(2),
                recorded_at: Timestamp::from_unix_micros(2),
                body: VersionBody::Tombstone,
            };
            b.add_claim(&TenantId::new(t), &ClaimId::new(c), [v1, v2].iter())
                .unwrap();
        }
        b.add_commit(
            &TenantId::new("a"),
            "commit-1",
            &CommitMeta {
                digest: [7; 32],
                lsn: Lsn(1),
                recorded_at: Timestamp::from_unix_micros(1),
                versions: vec![1, 1],
            },
        );
    }

    #[test]
    fn the_file_is_the_same_however_often_the_buffer_is_handed_over() {
        let whole = build();
        assert!(Segment::from_bytes(1, whole.clone().into()).is_ok());
        // Handed over after every entry, after some, and never (one write at the end).
        for spill_at in [1, 100, usize::MAX] {
            assert_eq!(build_spilling_at(spill_at), whole, "spill_at {spill_at}");
        }
    }

    #[test]
    fn lookups_and_round_trip() {
        let seg = Segment::from_bytes(1, build().into()).unwrap();
        assert_eq!(seg.entry_count(), 3);
        let i = seg.find("a", "y").unwrap().unwrap();
        assert_eq!(seg.latest(i).unwrap(), (2, true));
        let v = seg.versions(i).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].item().unwrap().claim.canonical_text, "a/y");
        assert_eq!(seg.find("a", "z").unwrap(), None);
        assert_eq!(seg.find("c", "x").unwrap(), None);
        let commits = seg.commits().unwrap();
        assert_eq!(commits.len(), 1);
        assert_eq!(commits[0].2.versions, vec![1, 1]);
    }

    #[test]
    fn any_flipped_byte_is_detected() {
        let bytes = build();
        for at in (0..bytes.len()).step_by(7) {
            let mut bad = bytes.clone();
            bad[at] ^= 0x01;
            assert!(
                Segment::from_bytes(1, bad.into()).is_err(),
                "flip at {at} went unnoticed"
            );
        }
    }
}
