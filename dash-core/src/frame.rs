//! One framing for DASH's self-checking files — segments, the manifest (format 4 on), the
//! graph files and their lists, the catalog image:
//!
//! ```text
//! file := magic [8] | format_version u16 | reserved u16 (0) | reserved u32 (0)
//!       | body
//!       | blake3 [32] (of every byte before it) | magic [8]
//! ```
//!
//! A file is verified whole (both magics, the hash, the version) before its body is parsed; a
//! body's offsets may be absolute (the body starts at [`BODY_OFFSET`]).
//!
//! The write-ahead log is the one file not framed this way: it is appended and synced record
//! by record and has no end to hash until it is retired, so each record carries its own CRCs
//! (`wal.rs`). Manifests of formats 1–3 predate this framing (their reserved `u32` is the body
//! length, and no magic follows the hash) and are still read by `manifest.rs`.

use std::io;

use crate::codec::{check_blake3_with, check_format_version, hash_bytes, hash_more, DecodeResult};
use crate::error::CorruptionKind;
use crate::storage::{FileBytes, StorageFile};

const MAGIC_LEN: usize = 8;
const HEADER_LEN: usize = MAGIC_LEN + 2 + 2 + 4;
/// Where the body starts in a framed file.
pub(crate) const BODY_OFFSET: usize = HEADER_LEN;
pub(crate) const TRAILER_LEN: usize = 32 + MAGIC_LEN;

/// A verified frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unframed<'a> {
    /// The file's format version (within the range the reader asked for).
    pub(crate) version: u16,
    /// The bytes between header and hash; file offset of `body[0]` is [`BODY_OFFSET`].
    pub(crate) body: &'a [u8],
    /// The file's BLAKE3 (of every byte before the hash), as stored and checked.
    pub(crate) hash: [u8; 32],
}

/// The header of a file of kind `magic` in format `version`; the body follows it.
pub(crate) fn header(magic: [u8; 8], version: u16) -> [u8; HEADER_LEN] {
    let mut out = [0; HEADER_LEN];
    out[..MAGIC_LEN].copy_from_slice(&magic);
    out[MAGIC_LEN..MAGIC_LEN + 2].copy_from_slice(&version.to_le_bytes());
    out
}

/// Ends a file built in place (a [`header`], then its body): appends the BLAKE3 of every byte
/// so far and the closing magic.
pub(crate) fn seal(file: &mut Vec<u8>, magic: [u8; 8]) {
    let hash = hash_bytes(file);
    file.extend_from_slice(&trailer(hash, magic));
}

/// What ends a file of kind `magic` whose bytes so far hash to `hash` (a file written in parts
/// hashes them as it goes, then appends this).
pub(crate) fn trailer(hash: [u8; 32], magic: [u8; 8]) -> [u8; TRAILER_LEN] {
    let mut out = [0; TRAILER_LEN];
    out[..32].copy_from_slice(&hash);
    out[32..].copy_from_slice(&magic);
    out
}

/// A framed file written as its body is produced: the header at once, then the body's parts as
/// they come, hashed as they go, then the trailer — the body is never whole in memory.
pub(crate) struct Writer {
    file: Box<dyn StorageFile>,
    hasher: blake3::Hasher,
    magic: [u8; 8],
    len: u64,
}

/// A spilling encoder writes its bytes straight into the file ([`crate::codec::Encoder::spilling`]).
impl crate::codec::Spill for Writer {
    fn take(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.put(bytes)
    }
}

impl Writer {
    /// Starts a file of kind `magic` in format `version` in `file` (empty).
    ///
    /// # Errors
    /// The file's.
    pub(crate) fn new(
        file: Box<dyn StorageFile>,
        magic: [u8; 8],
        version: u16,
    ) -> io::Result<Self> {
        let mut w = Self {
            file,
            hasher: blake3::Hasher::new(),
            magic,
            len: 0,
        };
        w.put(&header(magic, version))?;
        Ok(w)
    }

    /// Appends `bytes` to the body.
    ///
    /// # Errors
    /// The file's.
    pub(crate) fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        hash_more(&mut self.hasher, bytes);
        self.file.append(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Appends the trailer; returns the file (not synced) and its length.
    ///
    /// # Errors
    /// The file's.
    pub(crate) fn finish(mut self) -> io::Result<(Box<dyn StorageFile>, u64)> {
        let trailer = trailer(*self.hasher.finalize().as_bytes(), self.magic);
        self.file.append(&trailer)?;
        Ok((self.file, self.len + trailer.len() as u64))
    }
}

/// `body` framed as a file of kind `magic` in format `version`.
pub(crate) fn frame(magic: [u8; 8], version: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + TRAILER_LEN);
    out.extend_from_slice(&header(magic, version));
    out.extend_from_slice(body);
    seal(&mut out, magic);
    out
}

/// The format version, body and hash of a framed file of kind `magic`, once both magics, the
/// BLAKE3 and the version (`oldest..=current`) check out; otherwise the offset and kind of the
/// damage.
pub(crate) fn unframe(
    magic: [u8; 8],
    oldest: u16,
    current: u16,
    bytes: &[u8],
) -> DecodeResult<Unframed<'_>> {
    unframe_with(magic, oldest, current, bytes, hash_bytes)
}

/// [`unframe`] over a file's bytes, hashed a step at a time: a mapping lets go of each step's
/// pages once they are hashed ([`FileBytes::hash_prefix`]), so checking a file of gigabytes
/// (a merged segment of a 10M-claim store: 9 GB) does not bring all of it into the process'
/// resident set at once. Every page the hash read is let go; reading the header afterwards
/// maps its page again (a large folio of the page cache may come with it: a few MB).
///
/// # Errors
/// As [`unframe`].
pub(crate) fn unframe_file(
    magic: [u8; 8],
    oldest: u16,
    current: u16,
    bytes: &FileBytes,
) -> DecodeResult<Unframed<'_>> {
    unframe_with(magic, oldest, current, bytes, |prefix| {
        bytes.hash_prefix(prefix.len())
    })
}

fn unframe_with<'a>(
    magic: [u8; 8],
    oldest: u16,
    current: u16,
    bytes: &'a [u8],
    hash: impl FnOnce(&[u8]) -> [u8; 32],
) -> DecodeResult<Unframed<'a>> {
    if bytes.len() < HEADER_LEN + TRAILER_LEN {
        return Err((0, CorruptionKind::Truncated));
    }
    if bytes[..MAGIC_LEN] != magic || bytes[bytes.len() - MAGIC_LEN..] != magic {
        return Err((0, CorruptionKind::BadMagic));
    }
    let hash_at = bytes.len() - TRAILER_LEN;
    let hash = check_blake3_with(bytes, hash_at, hash)?;
    let version = check_format_version(bytes, MAGIC_LEN, oldest, current)?;
    Ok(Unframed {
        version,
        body: &bytes[HEADER_LEN..hash_at],
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: [u8; 8] = *b"DASHTST\0";

    #[test]
    fn a_frame_round_trips_and_every_damage_is_caught() {
        let file = frame(MAGIC, 3, b"the body");
        let read = unframe(MAGIC, 1, 3, &file).unwrap();
        assert_eq!((read.version, read.body), (3, &b"the body"[..]));
        assert_eq!(read.hash, hash_bytes(&file[..file.len() - TRAILER_LEN]));
        for at in 0..file.len() {
            let mut bad = file.clone();
            bad[at] ^= 0x40;
            assert!(
                unframe(MAGIC, 1, 3, &bad).is_err(),
                "a flipped byte at {at}"
            );
        }
        for len in 0..file.len() {
            assert!(unframe(MAGIC, 1, 3, &file[..len]).is_err(), "cut at {len}");
        }
        assert!(
            unframe(*b"DASHOTH\0", 1, 3, &file).is_err(),
            "another kind of file"
        );
        assert!(matches!(
            unframe(MAGIC, 4, 5, &file),
            Err((_, CorruptionKind::UnsupportedVersion { found: 3, .. }))
        ));
    }

    #[test]
    fn a_file_built_in_place_is_the_framed_body() {
        let mut file = header(MAGIC, 2).to_vec();
        file.extend_from_slice(b"the body");
        seal(&mut file, MAGIC);
        assert_eq!(file, frame(MAGIC, 2, b"the body"));
        assert_eq!(&file[..8], &MAGIC);
        assert_eq!(&file[8..16], &[2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&file[BODY_OFFSET..BODY_OFFSET + 8], b"the body");
    }
}
