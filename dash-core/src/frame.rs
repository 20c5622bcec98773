//! One framing for DASH's self-checking files (the graph files and their lists; the WAL,
//! segments and manifest predate it and keep their own, of the same shape):
//!
//! ```text
//! file := magic [8] | format_version u16 | reserved u16 (0) | reserved u32 (0)
//!       | body
//!       | blake3 [32] (of every byte before it) | magic [8]
//! ```
//!
//! A file is verified whole (both magics, the version, the hash) before its body is parsed.

use crate::codec::{check_blake3, check_format_version, hash_bytes, DecodeResult};
use crate::error::CorruptionKind;

const MAGIC_LEN: usize = 8;
const HEADER_LEN: usize = MAGIC_LEN + 2 + 2 + 4;
/// Where the body starts in a framed file.
pub(crate) const BODY_OFFSET: usize = HEADER_LEN;
const TRAILER_LEN: usize = 32 + MAGIC_LEN;

/// `body` framed as a file of kind `magic` in format `version`.
pub(crate) fn frame(magic: [u8; 8], version: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + TRAILER_LEN);
    out.extend_from_slice(&magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&[0; 6]);
    out.extend_from_slice(body);
    let hash = hash_bytes(&out);
    out.extend_from_slice(&hash);
    out.extend_from_slice(&magic);
    out
}

/// The format version and body of a framed file of kind `magic`, once both magics, the version
/// (`oldest..=current`) and the BLAKE3 check out; otherwise the offset and kind of the damage.
pub(crate) fn unframe(
    magic: [u8; 8],
    oldest: u16,
    current: u16,
    bytes: &[u8],
) -> DecodeResult<(u16, &[u8])> {
    if bytes.len() < HEADER_LEN + TRAILER_LEN {
        return Err((0, CorruptionKind::Truncated));
    }
    if bytes[..MAGIC_LEN] != magic || bytes[bytes.len() - MAGIC_LEN..] != magic {
        return Err((0, CorruptionKind::BadMagic));
    }
    let hash_at = bytes.len() - TRAILER_LEN;
    check_blake3(bytes, hash_at)?;
    let version = check_format_version(bytes, MAGIC_LEN, oldest, current)?;
    Ok((version, &bytes[HEADER_LEN..hash_at]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: [u8; 8] = *b"DASHTST\0";

    #[test]
    fn a_frame_round_trips_and_every_damage_is_caught() {
        let file = frame(MAGIC, 3, b"the body");
        assert_eq!(unframe(MAGIC, 1, 3, &file), Ok((3, &b"the body"[..])));
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
}
