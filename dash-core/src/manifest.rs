//! The manifest: which segments make up the store and up to which LSN they hold the log.
//!
//! ```text
//! file     := frame("DASHMAN\0", 4, body)   (the common framing, `frame.rs`: a 16-byte header,
//!             the body, BLAKE3 of every byte before it, magic)
//! legacy   := magic "DASHMAN\0" (8) | format_version u16 (1..=3) | reserved u16 (0)
//!           | body_len u32 | body | blake3 [u8; 32] (of every byte before it)
//!                                               (formats 1–3, read; their bodies as below)
//! body     := generation u64 | watermark u64 | next_segment_id u64 | embedding_dim u32 (0 = unset)
//!           | live_claims u64 | last_recorded_at i64 | segment_count u32 | segment * segment_count
//!           | tenant_dim_count u32 | tenant_dim * tenant_dim_count            (format 2 and later)
//!           | detected_through u64 | tenant_model_count u32 | tenant_model * tenant_model_count
//!                                                                            (format 3 and later)
//! segment  := id u64 | file_len u64 | blake3 [u8; 32] (the segment footer's hash) | min_lsn u64
//!           | max_lsn u64 | entry_count u64
//! tenant_dim := tenant (u32 length + UTF-8) | embedding_dim u32      (sorted by tenant, unique)
//! tenant_model := tenant str | model str                             (sorted by tenant, unique)
//! ```
//!
//! `detected_through`: every commit up to this LSN has been through the detection stage and its
//! derived record is in the segments (a format-2 manifest reads as 0: detection resumes from the
//! start, over the versions its segments hold). `tenant_model`: the embedding model of each
//! tenant's vectors, when one is known.
//!
//! `embedding_dim` is every tenant's dimension when the store has one; otherwise each tenant's
//! first embedding fixes its own, listed in `tenant_dim`. A format-1 manifest has no list: its
//! `embedding_dim`, however it was fixed, applies to every tenant, as it did when written.
//!
//! Published as `MANIFEST-<generation:020>` by writing `MANIFEST.tmp`, fsyncing it, renaming it
//! and fsyncing the directory, so a crash leaves either the old or the new generation whole.

use std::path::{Path, PathBuf};

use crate::codec::{check_blake3, check_format_version, Decoder, Encoder};
use crate::error::{Corruption, CorruptionKind};
use crate::frame::{frame, unframe, BODY_OFFSET};
use crate::model::{Lsn, TenantId, Timestamp};
use crate::storage::Storage;
use crate::store::dims::Dimensions;

const MAGIC: [u8; 8] = *b"DASHMAN\0";
const FORMAT_VERSION: u16 = 4;
/// The first format in the common framing; older ones are read in their own.
const FRAMED_SINCE: u16 = 4;
const OLDEST_SUPPORTED: u16 = 1;
const MAGIC_LEN: usize = MAGIC.len();
const VERSION_OFFSET: usize = MAGIC_LEN;
/// Formats 1–3: the body length sits where the framing has a reserved `u32`.
const LEGACY_BODY_LEN_OFFSET: usize = VERSION_OFFSET + 2 + 2;
const HASH_LEN: usize = 32;
/// The temporary name a manifest is written under before the rename.
pub(crate) const TEMP_NAME: &str = "MANIFEST.tmp";

/// One segment as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentMeta {
    pub(crate) id: u64,
    pub(crate) file_len: u64,
    pub(crate) hash: [u8; 32],
    pub(crate) min_lsn: Lsn,
    pub(crate) max_lsn: Lsn,
    pub(crate) entry_count: u64,
}

/// One generation of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// 0 means "no manifest yet" (a new store).
    pub(crate) generation: u64,
    /// Every record with an LSN up to this one is in the segments.
    pub(crate) watermark: Lsn,
    pub(crate) next_segment_id: u64,
    /// Embedding dimensions: the store's, or each tenant's.
    pub(crate) dims: Dimensions,
    /// Claims whose latest version at the watermark is live.
    pub(crate) live_claims: u64,
    /// The recorded time of the record at the watermark (recorded times keep increasing).
    pub(crate) last_recorded_at: Timestamp,
    /// Every commit up to here has its detection (and embedding) results in the segments.
    pub(crate) detected_through: Lsn,
    /// Oldest first.
    pub(crate) segments: Vec<SegmentMeta>,
}

impl Default for Manifest {
    /// The manifest of a store that has never checkpointed.
    fn default() -> Self {
        Self {
            generation: 0,
            watermark: Lsn(0),
            next_segment_id: 1,
            dims: Dimensions::default(),
            live_claims: 0,
            last_recorded_at: Timestamp::MIN,
            detected_through: Lsn(0),
            segments: Vec::new(),
        }
    }
}

/// The format version and body of a manifest file of formats 1–3 (their own framing), once
/// the magic, BLAKE3, version and body length check out.
fn legacy_unframe(bytes: &[u8]) -> Result<(u16, &[u8]), (usize, CorruptionKind)> {
    if bytes.len() < BODY_OFFSET + HASH_LEN {
        return Err((0, CorruptionKind::Truncated));
    }
    if bytes[..MAGIC_LEN] != MAGIC {
        return Err((0, CorruptionKind::BadMagic));
    }
    let hash_at = bytes.len() - HASH_LEN;
    check_blake3(bytes, hash_at)?;
    let version = check_format_version(bytes, VERSION_OFFSET, OLDEST_SUPPORTED, FRAMED_SINCE - 1)?;
    let body = &bytes[BODY_OFFSET..hash_at];
    let mut d = Decoder::new(&bytes[LEGACY_BODY_LEN_OFFSET..BODY_OFFSET]);
    let body_len = d.u32()? as usize;
    if body_len != body.len() {
        return Err((
            LEGACY_BODY_LEN_OFFSET,
            CorruptionKind::BadLength(body_len as u64),
        ));
    }
    Ok((version, body))
}

/// The format version and body of a manifest file, in whichever framing its version has.
fn unwrap_file(bytes: &[u8]) -> Result<(u16, &[u8]), (usize, CorruptionKind)> {
    // Both framings hash the version field, so a damaged one fails either path's check.
    let version = bytes
        .get(VERSION_OFFSET..VERSION_OFFSET + 2)
        .map(|v| u16::from_le_bytes([v[0], v[1]]));
    match version {
        Some(v) if v < FRAMED_SINCE => legacy_unframe(bytes),
        _ => unframe(MAGIC, FRAMED_SINCE, FORMAT_VERSION, bytes).map(|f| (f.version, f.body)),
    }
}

/// The file name of generation `generation`.
pub(crate) fn file_path(generation: u64) -> PathBuf {
    PathBuf::from(format!("MANIFEST-{generation:020}"))
}

/// Parses a manifest file name back into its generation.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("MANIFEST-")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

impl Manifest {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut body = Encoder::default();
        body.u64(self.generation);
        body.u64(self.watermark.0);
        body.u64(self.next_segment_id);
        body.u32(self.dims.store.unwrap_or(0));
        body.u64(self.live_claims);
        body.i64(self.last_recorded_at.as_unix_micros());
        body.len(self.segments.len());
        for s in &self.segments {
            body.u64(s.id);
            body.u64(s.file_len);
            body.bytes(&s.hash);
            body.u64(s.min_lsn.0);
            body.u64(s.max_lsn.0);
            body.u64(s.entry_count);
        }
        body.len(self.dims.tenants.len());
        for (tenant, dim) in &self.dims.tenants {
            body.str(tenant.as_str());
            body.u32(*dim);
        }
        body.u64(self.detected_through.0);
        body.len(self.dims.models.len());
        for (tenant, model) in &self.dims.models {
            body.str(tenant.as_str());
            body.str(model);
        }
        frame(MAGIC, FORMAT_VERSION, &body.buf)
    }

    pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<Self, Corruption> {
        let corrupt = |offset: usize, kind| Corruption {
            file: path.to_path_buf(),
            offset: offset as u64,
            kind,
        };
        let (version, body) = unwrap_file(bytes).map_err(|(o, k)| corrupt(o, k))?;
        let mut d = Decoder::new(body);
        let run = |d: &mut Decoder<'_>| -> Result<Self, (usize, CorruptionKind)> {
            let generation = d.u64()?;
            let watermark = Lsn(d.u64()?);
            let next_segment_id = d.u64()?;
            let dim = d.u32()?;
            let live_claims = d.u64()?;
            let last_recorded_at = Timestamp::from_unix_micros(d.i64()?);
            let n = d.count(72)?;
            let mut segments = Vec::with_capacity(n);
            for _ in 0..n {
                segments.push(SegmentMeta {
                    id: d.u64()?,
                    file_len: d.u64()?,
                    hash: d.hash()?,
                    min_lsn: Lsn(d.u64()?),
                    max_lsn: Lsn(d.u64()?),
                    entry_count: d.u64()?,
                });
            }
            let mut tenants = std::collections::BTreeMap::new();
            if version >= 2 {
                for _ in 0..d.count(8)? {
                    let at = d.position();
                    let tenant = TenantId::new(d.string()?);
                    let dim = d.u32()?;
                    if dim == 0 || tenants.insert(tenant, dim).is_some() {
                        return Err((at, CorruptionKind::Malformed("bad tenant dimension")));
                    }
                }
            }
            let mut detected_through = Lsn(0);
            let mut models = std::collections::BTreeMap::new();
            if version >= 3 {
                detected_through = Lsn(d.u64()?);
                for _ in 0..d.count(8)? {
                    let at = d.position();
                    let tenant = TenantId::new(d.string()?);
                    let model = d.string()?;
                    if model.is_empty() || models.insert(tenant, model).is_some() {
                        return Err((at, CorruptionKind::Malformed("bad tenant model")));
                    }
                }
            }
            if !d.is_empty() {
                return Err((d.position(), CorruptionKind::Malformed("trailing bytes")));
            }
            Ok(Self {
                generation,
                watermark,
                next_segment_id,
                dims: Dimensions {
                    store: (dim != 0).then_some(dim),
                    tenants,
                    models,
                },
                live_claims,
                last_recorded_at,
                detected_through,
                segments,
            })
        };
        run(&mut d).map_err(|(o, k)| corrupt(BODY_OFFSET + o, k))
    }

    /// Publishes this generation atomically: temp file, fsync, rename, fsync directory.
    ///
    /// The segments it names must already be durable (written, fsynced, directory fsynced).
    pub(crate) fn publish(&self, storage: &dyn Storage) -> std::io::Result<()> {
        let temp = Path::new(TEMP_NAME);
        let mut file = storage.create(temp)?;
        file.append(&self.encode())?;
        file.sync_data()?;
        drop(file);
        storage.rename(temp, &file_path(self.generation))?;
        storage.sync_dir(Path::new(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flipping the bits `mask` of any one byte of `file` makes it undecodable.
    fn every_flip_is_refused(file: &[u8], mask: u8) {
        for at in 0..file.len() {
            let mut bad = file.to_vec();
            bad[at] ^= mask;
            assert!(
                Manifest::decode(Path::new("m"), &bad).is_err(),
                "flip at {at}"
            );
        }
    }

    /// A manifest file of formats 1–3 around `body`.
    fn legacy_frame(version: u16, body: &[u8]) -> Vec<u8> {
        let mut out = Encoder::default();
        out.bytes(&MAGIC);
        out.bytes(&version.to_le_bytes());
        out.bytes(&[0, 0]);
        out.len(body.len());
        out.bytes(body);
        let hash = crate::codec::hash_bytes(&out.buf);
        out.bytes(&hash);
        out.buf
    }

    /// A format-3 manifest (the framing before the common one) reads back as written, and
    /// damage to it is still caught.
    #[test]
    fn a_format_3_manifest_still_reads() {
        let m = Manifest {
            generation: 7,
            watermark: Lsn(12),
            detected_through: Lsn(11),
            ..Manifest::default()
        };
        let v4 = m.encode();
        let v3 = legacy_frame(3, unwrap_file(&v4).unwrap().1);
        assert_eq!(Manifest::decode(Path::new("m"), &v3).unwrap(), m);
        every_flip_is_refused(&v3, 0x08);
        // A body length that does not match is refused even under a valid hash.
        let mut short = v3[..v3.len() - HASH_LEN].to_vec();
        short[LEGACY_BODY_LEN_OFFSET] ^= 1;
        let hash = crate::codec::hash_bytes(&short);
        short.extend_from_slice(&hash);
        assert!(matches!(
            Manifest::decode(Path::new("m"), &short),
            Err(Corruption {
                kind: CorruptionKind::BadLength(_),
                ..
            })
        ));
    }

    #[test]
    fn round_trip_and_flips_detected() {
        let m = Manifest {
            generation: 3,
            watermark: Lsn(99),
            next_segment_id: 4,
            dims: Dimensions {
                store: None,
                tenants: [("acme", 384), ("zeta", 768)]
                    .into_iter()
                    .map(|(t, d)| (TenantId::new(t), d))
                    .collect(),
                models: [(TenantId::new("acme"), "all-MiniLM-L6-v2".to_owned())]
                    .into_iter()
                    .collect(),
            },
            live_claims: 10,
            last_recorded_at: Timestamp::from_unix_micros(5),
            detected_through: Lsn(97),
            segments: vec![SegmentMeta {
                id: 2,
                file_len: 1000,
                hash: [9; 32],
                min_lsn: Lsn(1),
                max_lsn: Lsn(99),
                entry_count: 10,
            }],
        };
        let bytes = m.encode();
        assert_eq!(Manifest::decode(Path::new("m"), &bytes).unwrap(), m);
        every_flip_is_refused(&bytes, 0x80);
        assert_eq!(parse_file_name("MANIFEST-00000000000000000003"), Some(3));
    }

    /// A format-1 manifest (no tenant list) still opens, its dimension the store's.
    #[test]
    fn format_1_dimension_applies_to_every_tenant() {
        let m = Manifest {
            generation: 1,
            dims: Dimensions {
                store: Some(384),
                ..Dimensions::default()
            },
            ..Manifest::default()
        };
        // Format 1's body is format 3's (and 4's) without the trailing tenant count (0 here),
        // detection watermark (0) and model count (0).
        let v4 = m.encode();
        let body = unwrap_file(&v4).unwrap().1;
        let v1 = legacy_frame(1, &body[..body.len() - 4 - 8 - 4]);
        let decoded = Manifest::decode(Path::new("m"), &v1).unwrap();
        assert_eq!(decoded, m);
        assert_eq!(decoded.dims.of(&TenantId::new("any")), Some(384));
    }

    #[test]
    fn duplicate_or_zero_tenant_dimensions_are_corruption() {
        for (tenants, what) in [
            (vec![("a", 0u32)], "zero"),
            (vec![("a", 3), ("a", 4)], "duplicate"),
        ] {
            // Encode by hand: a BTreeMap cannot hold the duplicate.
            let mut body = Encoder::default();
            for v in [1u64, 0, 1] {
                body.u64(v);
            }
            body.u32(0);
            body.u64(0);
            body.i64(0);
            body.len(0);
            body.len(tenants.len());
            for (t, d) in &tenants {
                body.str(t);
                body.u32(*d);
            }
            body.u64(0);
            body.len(0);
            let file = frame(MAGIC, FORMAT_VERSION, &body.buf);
            assert!(
                Manifest::decode(Path::new("m"), &file).is_err(),
                "{what} accepted"
            );
        }
    }
}
