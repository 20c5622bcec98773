//! [`List`]: a term's postings held either in their own allocation or as a range of one shared
//! array — the form an index read back from a catalog image takes, one allocation for every
//! term instead of one each — and [`Base`], that shared array: on the heap, or read in place
//! from the mapped image.

use std::sync::Arc;

use crate::storage::FileBytes;

/// A list: its own (`O`: a `Box<[T]>` for lists that never grow, a `Vec<T>` for those that
/// do), or `base[start..start + len]` of the index's shared array.
#[derive(Debug)]
pub(crate) enum List<O> {
    Own(O),
    Base { start: usize, len: u32 },
}

impl<O: Default> Default for List<O> {
    fn default() -> Self {
        List::Own(O::default())
    }
}

impl<O> List<O> {
    /// The elements, given the index's shared array.
    pub(crate) fn get<'a, T>(&'a self, base: &'a [T]) -> &'a [T]
    where
        O: AsRef<[T]>,
    {
        match self {
            List::Own(t) => t.as_ref(),
            List::Base { start, len } => base
                .get(*start..start.saturating_add(*len as usize))
                .unwrap_or_default(),
        }
    }
}

impl<T: Clone> List<Vec<T>> {
    /// The list to change: a range of the base is copied out first.
    pub(crate) fn own_mut(&mut self, base: &[T]) -> &mut Vec<T> {
        match self {
            List::Own(v) => v,
            List::Base { .. } => {
                *self = List::Own(self.get(base).to_vec());
                self.own_mut(base) // owned now: the first arm
            }
        }
    }
}

/// The shared array of an index's [`List::Base`] lists: `(u32, u32)` pairs on the heap, or
/// in place in a mapped file (little-endian pairs, 4-byte aligned) — the catalog image's
/// postings, read without a copy: at 1M claims a copy was 160 MB of fresh pages, written
/// before a reopen's first answer.
#[derive(Default)]
pub(crate) enum Base {
    #[default]
    Empty,
    Heap(Box<[(u32, u32)]>),
    InPlace {
        file: Arc<FileBytes>,
        start: usize,
        pairs: usize,
    },
}

// What `pairs_in_place` relies on: a `(u32, u32)` is two `u32`s, the first at offset 0, the
// second at 4, nothing else (tuple layout is not promised by the language, so it is checked).
const _: () = assert!(
    std::mem::size_of::<(u32, u32)>() == 8
        && std::mem::align_of::<(u32, u32)>() == 4
        && std::mem::offset_of!((u32, u32), 0) == 0
        && std::mem::offset_of!((u32, u32), 1) == 4
);

impl Base {
    /// `bytes` (a part of `file`) read in place as pairs, when they are aligned for it and
    /// this machine is little-endian; `None` otherwise (the caller copies them).
    pub(crate) fn in_place(file: &Arc<FileBytes>, bytes: &[u8]) -> Option<Self> {
        let start = (bytes.as_ptr() as usize).checked_sub(file.as_ptr() as usize)?;
        let end = start.checked_add(bytes.len())?;
        if end > file.len() {
            return None; // not a part of `file`
        }
        let pairs = pairs_in_place(bytes)?.len();
        Some(Self::InPlace {
            file: Arc::clone(file),
            start,
            pairs,
        })
    }

    /// The pairs.
    pub(crate) fn as_slice(&self) -> &[(u32, u32)] {
        match self {
            Self::Empty => &[],
            Self::Heap(pairs) => pairs,
            Self::InPlace { file, start, pairs } => file
                .get(*start..start + pairs * 8)
                .and_then(pairs_in_place)
                .unwrap_or_default(),
        }
    }

    /// True when the pairs are read from a mapped file (not copied).
    pub(crate) fn is_in_place(&self) -> bool {
        matches!(self, Self::InPlace { .. })
    }

    /// Heap bytes held (none for pairs read in place).
    pub(crate) fn heap_bytes(&self) -> u64 {
        match self {
            Self::Heap(pairs) => crate::heap::slice(pairs),
            Self::Empty | Self::InPlace { .. } => 0,
        }
    }
}

impl std::fmt::Debug for Base {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_in_place() {
            "in place"
        } else {
            "heap"
        };
        write!(f, "Base({} pairs, {kind})", self.as_slice().len())
    }
}

/// `bytes` as `(u32, u32)` pairs without a copy: `None` unless the machine is little-endian,
/// `bytes` starts on a 4-byte boundary and holds whole pairs.
#[allow(unsafe_code)]
fn pairs_in_place(bytes: &[u8]) -> Option<&[(u32, u32)]> {
    let aligned = bytes
        .as_ptr()
        .align_offset(std::mem::align_of::<(u32, u32)>())
        == 0;
    if !cfg!(target_endian = "little") || !aligned || !bytes.len().is_multiple_of(8) {
        return None;
    }
    // SAFETY: the pointer is aligned for `(u32, u32)` (checked above), the `len / 8` pairs
    // cover exactly the bytes of `bytes` (a whole multiple of 8), every bit pattern is a valid
    // `u32`, and the layout of `(u32, u32)` is two `u32`s at offsets 0 and 4 (the `const`
    // assertion above), which on a little-endian machine reads them as the encoder wrote
    // them. The slice borrows `bytes`, so it cannot outlive them; the mapping behind them
    // never changes while mapped (see `FileStorage::map`).
    Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len() / 8) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_reads_its_own_elements_or_its_range_of_the_base() {
        let base = [1u32, 2, 3, 4, 5];
        let mut lists: Vec<List<Vec<u32>>> = vec![
            List::Base { start: 0, len: 2 },
            List::Base { start: 2, len: 0 },
            List::Base { start: 2, len: 3 },
        ];
        let got: Vec<&[u32]> = lists.iter().map(|l| l.get(&base)).collect();
        assert_eq!(got, [&[1, 2][..], &[], &[3, 4, 5]]);
        assert_eq!(List::Own(Box::new([9u32]) as Box<[u32]>).get(&base), [9]);
        // A range past the base (a bug elsewhere) reads as empty, never panics.
        assert!(List::<Vec<u32>>::Base { start: 4, len: 9 }
            .get(&base)
            .is_empty());
        // Changing a list copies its range out; the base and the other lists stay.
        lists[2].own_mut(&base).push(6);
        assert_eq!(lists[2].get(&base), [3, 4, 5, 6]);
        assert_eq!(lists[0].get(&base), [1, 2]);
    }

    #[test]
    fn pairs_of_a_file_are_read_in_place_when_aligned_and_copied_otherwise() {
        let pairs = [(1u32, 10u32), (2, 20), (0xDEAD_BEEF, 7)];
        // A file: a few bytes of something else up to a 4-byte boundary, then the pairs,
        // little-endian, then more bytes (the vector is filled to its capacity, so the file
        // keeps its address).
        let mut bytes: Vec<u8> = Vec::with_capacity(40);
        let lead = bytes.as_ptr().align_offset(4);
        bytes.resize(lead, 9u8);
        for (a, b) in pairs {
            bytes.extend_from_slice(&a.to_le_bytes());
            bytes.extend_from_slice(&b.to_le_bytes());
        }
        bytes.resize(40, 0);
        let file = Arc::new(FileBytes::from(bytes));
        let body = &file[lead..lead + 24];
        assert_eq!(
            body.as_ptr().align_offset(4),
            0,
            "the file kept its address"
        );
        let base = Base::in_place(&file, body).expect("aligned pairs are read in place");
        assert!(base.is_in_place());
        assert_eq!(base.as_slice(), pairs);
        assert_eq!(base.heap_bytes(), 0);
        // Off by one byte: not aligned for `u32`s, so not read in place.
        assert!(Base::in_place(&file, &file[lead + 1..lead + 1 + 8]).is_none());
        // A length that is not whole pairs, and bytes that are not the file's, are refused.
        assert!(Base::in_place(&file, &file[lead..lead + 20]).is_none());
        let other = vec![0u8; 24];
        assert!(Base::in_place(&file, &other).is_none());
        assert!(Base::default().as_slice().is_empty());
    }
}
