//! The write-ahead log: file header, record framing, the appending writer and the replaying
//! reader with torn-tail handling.
//!
//! ```text
//! WAL file  := header record*
//! header    := magic "DASHWAL\0" (8) | format_version u16 | reserved u16 (0)
//!            | first_lsn u64 | crc32 u32 (of the 20 bytes before it)          = 24 bytes
//! record    := len u32 | lsn u64 | header_crc u32 | payload_crc u32 | payload (len bytes)
//!              header_crc = crc32 of the 12 bytes of `len` and `lsn`;
//!              payload_crc = crc32 of the payload
//! payload   := kind u8 | recorded_at i64 (µs since epoch) | body
//! body (kind 1, commit) := tenant str | commit_id opt<str> | digest [u8; 32] | count u32
//!                          | versions u32 * count | item * count
//! body (kind 2, forget) := tenant str | claim_id str | version u32
//! body (kind 3, derived) := detected_through u64 | tenant_count u32
//!                         | tenant_derived * tenant_count      (format 2; `detect/record.rs`)
//! ```
//!
//! A derived record holds what the detection stage found for the commits up to
//! `detected_through` (detected edges, store-made vectors). It is written by the same writer but
//! needs no fsync of its own: lost in a crash, it is derived again from the commits.
//! Format 1 files (no kind 3; no `embedding_model` in items) are still read.
//!
//! The header has its own CRC so that recovery can trust a record's length before its payload
//! is complete: a record whose header checks out but whose payload is cut by the end of the file
//! is a torn write, whatever bytes (user data included) the payload holds.
//!
//! One commit (a single ingest or a whole batch) is one record, so a batch is atomic: its CRC
//! either covers all of it or the record is not replayed. Files are named `wal/<first_lsn:020>.wal`
//! and a new one starts at every checkpoint, so whole files can be dropped once a segment holds
//! their records.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codec::{Decoder, Encoder};
use crate::detect::record::{decode_tenant, encode_tenant, TenantDerived};
use crate::error::{Corruption, CorruptionKind};
use crate::model::{ClaimId, IngestItem, Lsn, TenantId, Timestamp};
use crate::storage::{Storage, StorageFile};

/// Directory of the WAL files, relative to the store root.
pub(crate) const WAL_DIR: &str = "wal";

const MAGIC: [u8; 8] = *b"DASHWAL\0";
const MAGIC_OFFSET: usize = 0;
const MAGIC_LEN: usize = MAGIC.len();
const VERSION_OFFSET: usize = MAGIC_OFFSET + MAGIC_LEN;
const VERSION_LEN: usize = 2;
const RESERVED_OFFSET: usize = VERSION_OFFSET + VERSION_LEN;
const RESERVED_LEN: usize = 2;
const FIRST_LSN_OFFSET: usize = RESERVED_OFFSET + RESERVED_LEN;
const FIRST_LSN_LEN: usize = 8;
const HEADER_CRC_OFFSET: usize = FIRST_LSN_OFFSET + FIRST_LSN_LEN;
const HEADER_CRC_LEN: usize = 4;
/// Size of the WAL file header.
pub(crate) const HEADER_LEN: usize = HEADER_CRC_OFFSET + HEADER_CRC_LEN;

/// WAL format versions this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormatVersion {
    /// The first format.
    V1 = 1,
    /// Derived records (kind 3) and items with an `embedding_model`.
    V2 = 2,
}

impl FormatVersion {
    pub(crate) const CURRENT: Self = Self::V2;
    pub(crate) const OLDEST_SUPPORTED: Self = Self::V1;
}

impl TryFrom<u16> for FormatVersion {
    type Error = CorruptionKind;
    fn try_from(v: u16) -> Result<Self, Self::Error> {
        match v {
            1 => Ok(Self::V1),
            2 => Ok(Self::V2),
            found => Err(CorruptionKind::UnsupportedVersion {
                found,
                oldest: Self::OLDEST_SUPPORTED as u16,
                current: Self::CURRENT as u16,
            }),
        }
    }
}

const FRAME_LEN_OFFSET: usize = 0;
const FRAME_LEN_LEN: usize = 4;
const FRAME_LSN_OFFSET: usize = FRAME_LEN_OFFSET + FRAME_LEN_LEN;
const FRAME_LSN_LEN: usize = 8;
const FRAME_HEADER_CRC_OFFSET: usize = FRAME_LSN_OFFSET + FRAME_LSN_LEN;
const FRAME_HEADER_CRC_LEN: usize = 4;
const FRAME_PAYLOAD_CRC_OFFSET: usize = FRAME_HEADER_CRC_OFFSET + FRAME_HEADER_CRC_LEN;
const FRAME_PAYLOAD_CRC_LEN: usize = 4;
/// Bytes of framing before each payload.
pub(crate) const FRAME_HEADER_LEN: usize = FRAME_PAYLOAD_CRC_OFFSET + FRAME_PAYLOAD_CRC_LEN;
const PAYLOAD_KIND_LEN: usize = 1;
const PAYLOAD_RECORDED_LEN: usize = 8;
/// The smallest possible payload: kind and recorded time.
const MIN_PAYLOAD_LEN: usize = PAYLOAD_KIND_LEN + PAYLOAD_RECORDED_LEN;
/// The largest payload a record may hold (a batch bigger than this is refused at ingest).
pub(crate) const MAX_PAYLOAD_LEN: usize = 256 * 1024 * 1024;

const KIND_COMMIT: u8 = 1;
const KIND_FORGET: u8 = 2;
const KIND_DERIVED: u8 = 3;

/// What a record does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RecordBody {
    /// One or more items committed together.
    Commit {
        tenant: TenantId,
        commit_id: Option<String>,
        digest: [u8; 32],
        versions: Vec<u32>,
        items: Vec<Arc<IngestItem>>,
    },
    /// A tombstone.
    Forget {
        tenant: TenantId,
        claim_id: ClaimId,
        version: u32,
    },
    /// What the detection stage derived for the commits up to `detected_through`.
    Derived {
        detected_through: Lsn,
        tenants: Vec<TenantDerived>,
    },
}

/// A decoded WAL record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WalRecord {
    pub(crate) lsn: Lsn,
    pub(crate) recorded_at: Timestamp,
    pub(crate) body: RecordBody,
}

/// The name of the WAL file whose first record has `first_lsn`.
pub(crate) fn file_path(first_lsn: Lsn) -> PathBuf {
    Path::new(WAL_DIR).join(format!("{:020}.wal", first_lsn.0))
}

/// Parses a WAL file name back into its first LSN.
pub(crate) fn parse_file_name(name: &str) -> Option<Lsn> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(Lsn)
}

fn encode_header(first_lsn: Lsn) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[MAGIC_OFFSET..MAGIC_OFFSET + MAGIC_LEN].copy_from_slice(&MAGIC);
    h[VERSION_OFFSET..VERSION_OFFSET + VERSION_LEN]
        .copy_from_slice(&(FormatVersion::CURRENT as u16).to_le_bytes());
    h[FIRST_LSN_OFFSET..FIRST_LSN_OFFSET + FIRST_LSN_LEN]
        .copy_from_slice(&first_lsn.0.to_le_bytes());
    let crc = crc32fast::hash(&h[..HEADER_CRC_OFFSET]);
    h[HEADER_CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
    h
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Checks a file header; returns the file's first LSN.
fn decode_header(bytes: &[u8]) -> Result<Lsn, (usize, CorruptionKind)> {
    if bytes.len() < HEADER_LEN {
        return Err((0, CorruptionKind::Truncated));
    }
    if bytes[MAGIC_OFFSET..MAGIC_OFFSET + MAGIC_LEN] != MAGIC {
        return Err((MAGIC_OFFSET, CorruptionKind::BadMagic));
    }
    let crc = le_u32(bytes, HEADER_CRC_OFFSET);
    if crc32fast::hash(&bytes[..HEADER_CRC_OFFSET]) != crc {
        return Err((0, CorruptionKind::ChecksumMismatch));
    }
    FormatVersion::try_from(le_u16(bytes, VERSION_OFFSET)).map_err(|k| (VERSION_OFFSET, k))?;
    Ok(Lsn(le_u64(bytes, FIRST_LSN_OFFSET)))
}

/// Frames `payload` as the record `lsn` and appends it to `out`.
pub(crate) fn frame(out: &mut Vec<u8>, lsn: Lsn, payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(&lsn.0.to_le_bytes());
    let header_crc = crc32fast::hash(&out[start..start + FRAME_HEADER_CRC_OFFSET]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The fields of a commit record, with its items already encoded.
pub(crate) struct CommitPayload<'a> {
    pub(crate) recorded_at: Timestamp,
    pub(crate) tenant: &'a TenantId,
    pub(crate) commit_id: Option<&'a str>,
    pub(crate) digest: &'a [u8; 32],
    pub(crate) versions: &'a [u32],
    /// `versions.len()` items, encoded back to back.
    pub(crate) items: &'a [u8],
}

impl CommitPayload<'_> {
    /// Encodes the payload (kind 1).
    pub(crate) fn encode(&self, enc: &mut Encoder) {
        enc.u8(KIND_COMMIT);
        enc.i64(self.recorded_at.as_unix_micros());
        enc.str(self.tenant.as_str());
        enc.opt_str(self.commit_id);
        enc.bytes(self.digest);
        enc.len(self.versions.len());
        for v in self.versions {
            enc.u32(*v);
        }
        enc.bytes(self.items);
    }
}

/// Encodes a derived payload (kind 3).
pub(crate) fn encode_derived(
    enc: &mut Encoder,
    recorded_at: Timestamp,
    detected_through: Lsn,
    tenants: &[TenantDerived],
) {
    enc.u8(KIND_DERIVED);
    enc.i64(recorded_at.as_unix_micros());
    enc.u64(detected_through.0);
    enc.len(tenants.len());
    for t in tenants {
        encode_tenant(enc, t);
    }
}

/// Encodes a forget payload.
pub(crate) fn encode_forget(
    enc: &mut Encoder,
    recorded_at: Timestamp,
    tenant: &TenantId,
    claim_id: &ClaimId,
    version: u32,
) {
    enc.u8(KIND_FORGET);
    enc.i64(recorded_at.as_unix_micros());
    enc.str(tenant.as_str());
    enc.str(claim_id.as_str());
    enc.u32(version);
}

fn decode_payload(lsn: Lsn, payload: &[u8]) -> Result<WalRecord, (usize, CorruptionKind)> {
    let mut d = Decoder::new(payload);
    let kind = d.u8()?;
    let recorded_at = Timestamp::from_unix_micros(d.i64()?);
    let body = match kind {
        KIND_COMMIT => {
            let tenant = TenantId::new(d.string()?);
            let commit_id = match d.u8()? {
                0 => None,
                1 => Some(d.string()?),
                _ => {
                    return Err((
                        d.position() - 1,
                        CorruptionKind::Malformed("bad option tag"),
                    ))
                }
            };
            let digest = d.hash()?;
            let n = d.count(4)?;
            let mut versions = Vec::with_capacity(n);
            for _ in 0..n {
                versions.push(d.u32()?);
            }
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(Arc::new(d.item()?));
            }
            RecordBody::Commit {
                tenant,
                commit_id,
                digest,
                versions,
                items,
            }
        }
        KIND_FORGET => RecordBody::Forget {
            tenant: TenantId::new(d.string()?),
            claim_id: ClaimId::new(d.string()?),
            version: d.u32()?,
        },
        KIND_DERIVED => {
            let detected_through = Lsn(d.u64()?);
            let n = d.count(18)?;
            let mut tenants = Vec::with_capacity(n);
            for _ in 0..n {
                tenants.push(decode_tenant(&mut d)?);
            }
            RecordBody::Derived {
                detected_through,
                tenants,
            }
        }
        _ => return Err((0, CorruptionKind::Malformed("unknown record kind"))),
    };
    if !d.is_empty() {
        return Err((
            d.position(),
            CorruptionKind::Malformed("trailing bytes in record"),
        ));
    }
    Ok(WalRecord {
        lsn,
        recorded_at,
        body,
    })
}

/// How open treats a WAL record that fails its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// A bad or incomplete record at the very end of the newest WAL file is a torn write from a
    /// crash: it is truncated (it was never acknowledged) and reported. A bad record with valid
    /// records after it, or in an older file, is corruption: open fails naming file and offset.
    #[default]
    TolerateTornTail,
    /// Any bad or incomplete record, even a torn tail, fails the open.
    AbsoluteConsistency,
    /// Repair: truncate the log at the first bad record wherever it is and drop every later WAL
    /// file. Acknowledged writes after that point are lost; the report lists what was dropped.
    TruncateAtCorruption,
}

/// Where a WAL file was cut during recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The WAL file, relative to the store root.
    pub file: PathBuf,
    /// The offset it was cut at.
    pub offset: u64,
    /// How many bytes were dropped.
    pub dropped_bytes: u64,
}

/// The outcome of scanning one WAL file.
#[derive(Debug)]
pub(crate) struct ScannedFile {
    pub(crate) records: Vec<WalRecord>,
    /// Bytes up to the end of the last good record.
    pub(crate) valid_len: u64,
    /// Set when the file has bad bytes after `valid_len` that recovery must cut.
    pub(crate) cut: bool,
}

/// What the bytes at a record position are.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    /// A whole record with both checksums right: its LSN and payload range.
    Valid(Lsn, std::ops::Range<usize>),
    /// The file ends inside the header, or the header checks out and the file ends inside the
    /// payload: what a crash during the append leaves.
    Incomplete,
    /// The header checks out and the whole payload is there, but its checksum fails.
    BadPayload { end: usize },
    /// The header's own checksum fails (or its length is impossible).
    BadHeader,
}

fn read_frame(bytes: &[u8], at: usize) -> Frame {
    let rest = bytes.len().saturating_sub(at);
    if rest < FRAME_HEADER_LEN {
        return Frame::Incomplete;
    }
    let header_crc = crc32fast::hash(&bytes[at..at + FRAME_HEADER_CRC_OFFSET]);
    let len = le_u32(bytes, at + FRAME_LEN_OFFSET) as usize;
    if header_crc != le_u32(bytes, at + FRAME_HEADER_CRC_OFFSET)
        || !(MIN_PAYLOAD_LEN..=MAX_PAYLOAD_LEN).contains(&len)
    {
        return Frame::BadHeader;
    }
    let start = at + FRAME_HEADER_LEN;
    if rest - FRAME_HEADER_LEN < len {
        return Frame::Incomplete;
    }
    let end = start + len;
    if crc32fast::hash(&bytes[start..end]) != le_u32(bytes, at + FRAME_PAYLOAD_CRC_OFFSET) {
        return Frame::BadPayload { end };
    }
    Frame::Valid(Lsn(le_u64(bytes, at + FRAME_LSN_OFFSET)), start..end)
}

/// True when the record `next` (the one that must follow a bad record) is valid at `at`.
fn continues_at(bytes: &[u8], at: usize, next: Lsn) -> bool {
    matches!(read_frame(bytes, at), Frame::Valid(lsn, _) if lsn == next)
}

/// Decides whether the bad record at `at` (expected LSN `lsn`) is a torn tail: the last thing a
/// crash interrupted, after which the log does not go on.
fn is_torn_tail(bytes: &[u8], at: usize, lsn: Lsn, frame: &Frame) -> bool {
    let next = Lsn(lsn.0 + 1);
    match frame {
        Frame::Incomplete => true,
        // The header gives the record's end: the log goes on only if the next record is there.
        Frame::BadPayload { end } => !continues_at(bytes, *end, next),
        // The length cannot be trusted: the log goes on if the next record starts anywhere
        // after. (User data inside the damaged record could mimic one; that errs on the side of
        // reporting corruption, never of dropping acknowledged data.)
        Frame::BadHeader => !(at + 1..bytes.len()).any(|p| continues_at(bytes, p, next)),
        Frame::Valid(..) => false,
    }
}

/// Scans one WAL file's bytes.
///
/// `expected_lsn` is the LSN the first record must have if the log is contiguous (`None` when
/// unknown, i.e. the first file after a checkpoint). `is_last` says whether this is the newest file:
/// only there can a torn tail be tolerated.
pub(crate) fn scan_file(
    file: &Path,
    bytes: &[u8],
    expected_lsn: Option<Lsn>,
    is_last: bool,
    mode: RecoveryMode,
) -> Result<ScannedFile, Corruption> {
    let corrupt = |offset: usize, kind| Corruption {
        file: file.to_path_buf(),
        offset: offset as u64,
        kind,
    };
    let first_lsn = decode_header(bytes).map_err(|(o, k)| corrupt(o, k))?;
    let mut expected = expected_lsn.unwrap_or(first_lsn);
    if expected != first_lsn {
        return Err(corrupt(
            FIRST_LSN_OFFSET,
            CorruptionKind::LsnGap {
                expected,
                found: first_lsn,
            },
        ));
    }
    let mut records = Vec::new();
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        let range = match read_frame(bytes, at) {
            Frame::Valid(lsn, _) if lsn != expected => {
                return Err(corrupt(
                    at + FRAME_LSN_OFFSET,
                    CorruptionKind::LsnGap {
                        expected,
                        found: lsn,
                    },
                ))
            }
            Frame::Valid(_, range) => range,
            bad => {
                let torn = is_last && is_torn_tail(bytes, at, expected, &bad);
                let cut = match mode {
                    RecoveryMode::TruncateAtCorruption => true,
                    RecoveryMode::TolerateTornTail => torn,
                    RecoveryMode::AbsoluteConsistency => false,
                };
                if cut {
                    return Ok(ScannedFile {
                        records,
                        valid_len: at as u64,
                        cut: true,
                    });
                }
                let kind = match bad {
                    Frame::Incomplete => CorruptionKind::Truncated,
                    _ => CorruptionKind::ChecksumMismatch,
                };
                return Err(corrupt(at, kind));
            }
        };
        let record = decode_payload(expected, &bytes[range.clone()])
            .map_err(|(o, k)| corrupt(range.start + o, k))?;
        expected = Lsn(expected.0 + 1);
        records.push(record);
        at = range.end;
    }
    Ok(ScannedFile {
        records,
        valid_len: at as u64,
        cut: false,
    })
}

/// Appends framed records to the newest WAL file.
#[derive(Debug)]
pub(crate) struct WalWriter {
    storage: Arc<dyn Storage>,
    file: Box<dyn StorageFile>,
    first_lsn: Lsn,
    len: u64,
}

impl WalWriter {
    /// Creates a new WAL file whose first record will be `first_lsn`, and makes the empty file
    /// (header and name) durable before any record goes in.
    pub(crate) fn create(storage: Arc<dyn Storage>, first_lsn: Lsn) -> std::io::Result<Self> {
        let path = file_path(first_lsn);
        let mut file = storage.create(&path)?;
        file.append(&encode_header(first_lsn))?;
        file.sync_data()?;
        storage.sync_dir(Path::new(WAL_DIR))?;
        Ok(Self {
            storage,
            file,
            first_lsn,
            len: HEADER_LEN as u64,
        })
    }

    /// Continues an existing, already verified (and if need be truncated) WAL file of `len` bytes.
    pub(crate) fn reopen(
        storage: Arc<dyn Storage>,
        first_lsn: Lsn,
        len: u64,
    ) -> std::io::Result<Self> {
        let file = storage.open_append(&file_path(first_lsn))?;
        Ok(Self {
            storage,
            file,
            first_lsn,
            len,
        })
    }

    pub(crate) fn first_lsn(&self) -> Lsn {
        self.first_lsn
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Appends framed bytes (not durable until [`Self::sync`]).
    pub(crate) fn append(&mut self, framed: &[u8]) -> std::io::Result<()> {
        self.file.append(framed)?;
        self.len += framed.len() as u64;
        Ok(())
    }

    /// Makes everything appended so far durable.
    pub(crate) fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// Starts a new file at `next_lsn`; the caller has synced this one.
    pub(crate) fn rotate(&mut self, next_lsn: Lsn) -> std::io::Result<()> {
        *self = Self::create(Arc::clone(&self.storage), next_lsn)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Claim;

    fn record_bytes(lsn: u64) -> Vec<u8> {
        let item = IngestItem::new(Claim::new("t", format!("c{lsn}"), "text"));
        let mut items = Encoder::default();
        items.item(&item);
        let mut enc = Encoder::default();
        CommitPayload {
            recorded_at: Timestamp::from_unix_micros(7),
            tenant: &TenantId::new("t"),
            commit_id: None,
            digest: &[0; 32],
            versions: &[1],
            items: &items.buf,
        }
        .encode(&mut enc);
        let mut out = Vec::new();
        frame(&mut out, Lsn(lsn), &enc.buf);
        out
    }

    fn file_with(n: u64) -> Vec<u8> {
        let mut f = encode_header(Lsn(1)).to_vec();
        for lsn in 1..=n {
            f.extend(record_bytes(lsn));
        }
        f
    }

    #[test]
    fn records_round_trip() {
        let f = file_with(3);
        let s = scan_file(Path::new("w"), &f, None, true, RecoveryMode::default()).unwrap();
        assert_eq!(s.records.len(), 3);
        assert_eq!(s.records[2].lsn, Lsn(3));
        assert!(!s.cut);
        assert_eq!(s.valid_len, f.len() as u64);
    }

    #[test]
    fn torn_tail_is_cut_and_mid_log_damage_is_corruption() {
        let f = file_with(3);
        let last_start = f.len() - record_bytes(3).len();
        let torn = &f[..f.len() - 3];
        let s = scan_file(Path::new("w"), torn, None, true, RecoveryMode::default()).unwrap();
        assert_eq!(s.records.len(), 2);
        assert_eq!(s.valid_len, last_start as u64);
        assert!(s.cut);
        assert!(scan_file(
            Path::new("w"),
            torn,
            None,
            true,
            RecoveryMode::AbsoluteConsistency
        )
        .is_err());

        let mut bad = f.clone();
        bad[HEADER_LEN + FRAME_HEADER_LEN + 3] ^= 0x40;
        let err = scan_file(Path::new("w"), &bad, None, true, RecoveryMode::default()).unwrap_err();
        assert_eq!(err.offset, HEADER_LEN as u64);
        assert!(matches!(err.kind, CorruptionKind::ChecksumMismatch));
    }

    #[test]
    fn file_names_round_trip() {
        let p = file_path(Lsn(42));
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_file_name(name), Some(Lsn(42)));
        assert_eq!(parse_file_name("42.wal"), None);
    }
}
