//! [`TermLists`]: every document's distinct terms with their frequencies, packed.
//!
//! A list is its length, then each `(term, tf)` as two LEB128 varints, terms ascending and
//! delta-coded: about 3 bytes an entry where a `(u32, u32)` pair took 8 (at 10M claims the
//! lists held 1.2 GB as pairs). Lists are appended to fixed-size chunks, so the arena grows
//! without ever copying what it holds (a `Vec` doubling would copy and, for a while, hold it
//! twice); a list is never split across chunks.

/// Bytes per chunk, at most: a list is written in the last chunk when it fits, else in a new
/// one (a list longer than a chunk gets a chunk of its own).
const CHUNK: usize = 1 << 20;

/// Bytes of the first chunk: chunks then double up to [`CHUNK`], so a small tenant's lists (50
/// claims: about a kilobyte) do not take a megabyte each — 20,000 such tenants touched 20 GB of
/// fresh pages when a reopen decoded them.
const FIRST_CHUNK: usize = 4 << 10;

/// Bits of a position that address a byte in its chunk.
const OFFSET_BITS: u32 = 24;

/// Where a document without a list points.
const NONE: u64 = u64::MAX;

/// Every document's term list, by document number.
#[derive(Debug, Default)]
pub(crate) struct TermLists {
    chunks: Vec<Vec<u8>>,
    /// Per document: `chunk << OFFSET_BITS | offset` of its list, or [`NONE`].
    at: Vec<u64>,
    /// Bytes of lists no document points at any more (replaced or cleared).
    garbage: usize,
}

impl TermLists {
    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> u64 {
        crate::heap::vec(&self.chunks)
            + self.chunks.iter().map(crate::heap::vec).sum::<u64>()
            + crate::heap::vec(&self.at)
    }

    /// Sets `doc`'s list to `terms` (sorted by term, distinct), numbering documents up to it.
    pub(crate) fn set(&mut self, doc: usize, terms: &[(u32, u32)]) {
        let mut buf = Vec::with_capacity(5 + terms.len() * 3);
        put(&mut buf, u32::try_from(terms.len()).unwrap_or(u32::MAX));
        let mut last = 0u32;
        for &(term, tf) in terms {
            put(&mut buf, term.wrapping_sub(last));
            put(&mut buf, tf);
            last = term;
        }
        self.clear(doc);
        let pos = self.append(&buf);
        if self.at.len() <= doc {
            let more = doc + 1 - self.at.len();
            crate::heap::reserve_gently(&mut self.at, more);
            self.at.resize(doc + 1, NONE);
        }
        self.at[doc] = pos;
    }

    /// Forgets `doc`'s list (its bytes stay until [`TermLists::compact`]).
    pub(crate) fn clear(&mut self, doc: usize) {
        if let Some(slot) = self.at.get_mut(doc) {
            if *slot != NONE {
                let old = std::mem::replace(slot, NONE);
                self.garbage += self.list_bytes(old);
            }
        }
    }

    /// `doc`'s terms (empty without a list).
    pub(crate) fn get(&self, doc: usize) -> Terms<'_> {
        let bytes = match self.at.get(doc) {
            Some(&pos) if pos != NONE => self.bytes_at(pos),
            _ => &[],
        };
        let mut t = Terms {
            bytes,
            left: 0,
            last: 0,
        };
        t.left = t.next_u32().unwrap_or(0);
        t
    }

    /// Rewrites the lists into fresh chunks once more than half their bytes are garbage.
    pub(crate) fn compact_if_wasteful(&mut self) {
        let held: usize = self.chunks.iter().map(Vec::len).sum();
        if self.garbage * 2 <= held {
            return;
        }
        let old = std::mem::take(&mut self.chunks);
        let view = TermLists {
            chunks: old,
            at: Vec::new(),
            garbage: 0,
        };
        for i in 0..self.at.len() {
            let pos = self.at[i];
            if pos != NONE {
                let bytes = view.bytes_at(pos);
                let len = Self::encoded_len(bytes);
                self.at[i] = self.append(&bytes[..len]);
            }
        }
        self.garbage = 0;
    }

    /// The bytes from `pos` to the end of its chunk.
    fn bytes_at(&self, pos: u64) -> &[u8] {
        let chunk = (pos >> OFFSET_BITS) as usize;
        let offset = (pos & ((1 << OFFSET_BITS) - 1)) as usize;
        self.chunks
            .get(chunk)
            .and_then(|c| c.get(offset..))
            .unwrap_or_default()
    }

    /// The encoded length of the list at `pos`.
    fn list_bytes(&self, pos: u64) -> usize {
        Self::encoded_len(self.bytes_at(pos))
    }

    /// How many bytes of `bytes` the list at its start takes.
    fn encoded_len(bytes: &[u8]) -> usize {
        let mut t = Terms {
            bytes,
            left: 0,
            last: 0,
        };
        t.left = t.next_u32().unwrap_or(0);
        while t.next().is_some() {}
        bytes.len() - t.bytes.len()
    }

    /// Appends an encoded list; returns its position.
    fn append(&mut self, list: &[u8]) -> u64 {
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= list.len() && c.len() < 1 << OFFSET_BITS);
        if !fits {
            let held: usize = self.chunks.iter().map(Vec::capacity).sum();
            let size = held.clamp(FIRST_CHUNK, CHUNK).max(list.len());
            self.chunks.push(Vec::with_capacity(size));
        }
        let chunk = self.chunks.len() - 1;
        let last = &mut self.chunks[chunk];
        let offset = last.len();
        last.extend_from_slice(list);
        (chunk as u64) << OFFSET_BITS | offset as u64
    }
}

/// LEB128: 7 bits a byte, low first, the high bit set on every byte but the last.
fn put(buf: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A document's `(term, tf)` pairs, by increasing term, decoded as iterated.
#[derive(Debug, Clone)]
pub(crate) struct Terms<'a> {
    bytes: &'a [u8],
    left: u32,
    last: u32,
}

impl Terms<'_> {
    fn next_u32(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for shift in (0..35).step_by(7) {
            let (&b, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            v |= u32::from(b & 0x7F).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None // over five bytes: not written by `put`
    }
}

impl Iterator for Terms<'_> {
    type Item = (u32, u32);

    #[inline]
    fn next(&mut self) -> Option<(u32, u32)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let delta = self.next_u32()?;
        let tf = self.next_u32()?;
        self.last = self.last.wrapping_add(delta);
        Some((self.last, tf))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl ExactSizeIterator for Terms<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_back_as_written_across_chunks_and_compactions() {
        let mut lists = TermLists::default();
        let list = |d: u32| -> Vec<(u32, u32)> {
            (0..(d % 50))
                .map(|i| (i * i * 997 + d, 1 + (i % 3) * 70_000))
                .collect()
        };
        // Enough documents for several chunks, one of them longer than a chunk.
        for d in 0..60_000u32 {
            lists.set(d as usize, &list(d));
        }
        let huge: Vec<(u32, u32)> = (0..400_000u32).map(|i| (i * 3, 1)).collect();
        lists.set(60_000, &huge);
        assert!(lists.chunks.len() > 3);
        for d in (0..60_000u32).step_by(7) {
            assert_eq!(
                lists.get(d as usize).collect::<Vec<_>>(),
                list(d),
                "doc {d}"
            );
            assert_eq!(lists.get(d as usize).len(), list(d).len());
        }
        assert_eq!(lists.get(60_000).collect::<Vec<_>>(), huge);
        assert_eq!(lists.get(70_000).count(), 0, "past the end");
        // Replace or clear most lists: the garbage is compacted away, the rest unchanged.
        for d in 0..50_000u32 {
            if d % 2 == 0 {
                lists.clear(d as usize);
            } else {
                lists.set(d as usize, &[(d, 2)]);
            }
        }
        let before = lists.heap_bytes();
        lists.compact_if_wasteful();
        assert!(lists.heap_bytes() < before, "compacted");
        assert_eq!(lists.garbage, 0);
        for d in 0..60_000u32 {
            let want = match d {
                d if d >= 50_000 => list(d),
                d if d % 2 == 0 => Vec::new(),
                d => vec![(d, 2)],
            };
            assert_eq!(lists.get(d as usize).collect::<Vec<_>>(), want, "doc {d}");
        }
        assert_eq!(lists.get(60_000).collect::<Vec<_>>(), huge);
    }

    #[test]
    fn chunks_start_small_and_double_up_to_a_megabyte() {
        let mut small = TermLists::default();
        for d in 0..50 {
            small.set(d, &[(1, 1), (7, 2), (300, 1)]);
        }
        assert_eq!(small.chunks.len(), 1);
        assert!(small.heap_bytes() < 8 << 10, "{}", small.heap_bytes());
        let mut large = TermLists::default();
        for d in 0..1_000_000 {
            large.set(d, &[(d as u32, 1), (d as u32 + 5, 1)]);
        }
        let sizes: Vec<usize> = large.chunks.iter().map(Vec::capacity).collect();
        assert_eq!(sizes[0], FIRST_CHUNK);
        assert!(sizes
            .windows(2)
            .all(|w| w[1] >= w[0] && w[1] <= 2 * w[0].max(CHUNK / 2)));
        assert!(sizes.iter().all(|&c| c <= CHUNK));
        assert_eq!(*sizes.last().unwrap(), CHUNK);
        assert_eq!(
            large.get(999_999).collect::<Vec<_>>(),
            [(999_999, 1), (1_000_004, 1)]
        );
    }

    #[test]
    fn varints_cover_the_whole_range() {
        for v in [0, 1, 127, 128, 16_383, 16_384, u32::MAX - 1, u32::MAX] {
            let mut buf = vec![1]; // a list of one pair: (v, v)
            put(&mut buf, v);
            put(&mut buf, v);
            let mut t = Terms {
                bytes: &buf,
                left: 0,
                last: 0,
            };
            t.left = t.next_u32().unwrap();
            assert_eq!(t.collect::<Vec<_>>(), [(v, v)]);
        }
        // A truncated list ends early instead of reading garbage.
        let t = Terms {
            bytes: &[0x80],
            left: 1,
            last: 0,
        };
        assert_eq!(t.count(), 0);
    }
}
