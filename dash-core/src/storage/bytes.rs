//! [`FileBytes`]: a whole file's bytes, read into the heap or memory-mapped.

use std::fmt;
use std::ops::Deref;

/// The bytes of a whole file, read-only: on the heap, or mapped from the file
/// ([`Storage::map`](super::Storage::map)).
///
/// A mapping reads from the page cache: pages are loaded on first touch and the kernel may drop
/// clean pages under memory pressure, so an open store's segments cost no heap memory.
///
/// ```
/// use dash_core::FileBytes;
///
/// let bytes = FileBytes::from(b"segment".to_vec());
/// assert_eq!(&bytes[..3], b"seg");
/// assert!(!bytes.is_mapped());
/// ```
pub struct FileBytes(Repr);

enum Repr {
    Heap(Box<[u8]>),
    Mapped(memmap2::Mmap),
}

impl FileBytes {
    pub(crate) fn mapped(map: memmap2::Mmap) -> Self {
        Self(Repr::Mapped(map))
    }

    /// True when the bytes are a mapping of the file (not a copy on the heap).
    #[must_use]
    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Repr::Mapped(_))
    }

    /// Settles a mapping for the scattered reads of searches and answers, after a whole-file
    /// pass (a BLAKE3 check, a merge reading it through):
    ///
    /// - lets go of the pages the pass brought into this process' mapping: they leave its
    ///   resident set (they stay in the page cache, for the kernel to keep or reclaim) and the
    ///   next read of a page maps it again. Without it, verifying a 10M-claim store left its
    ///   11 GB of segments counted in the process' memory until reclaimed;
    /// - asks for no read-ahead (`MADV_RANDOM`): a page missed later is read alone. A graph
    ///   walk or an answer reads a few scattered records, and the default read-ahead of a
    ///   mapping (128 KiB or more around each miss) filled the page cache with neighbours never
    ///   read: at 10M claims the queries read 800 MB/s from disk and evicted each other's pages.
    ///
    /// Nothing for heap bytes; advice the kernel refuses changes nothing.
    pub(crate) fn release(&self) {
        self.release_range(0..self.len());
        if let Repr::Mapped(map) = &self.0 {
            let _ = map.advise(memmap2::Advice::Random);
        }
    }

    /// Asks the kernel to start reading `range` now (`MADV_WILLNEED`), without waiting: an
    /// answer of 50 claims scattered over segments not in the page cache then waits for one
    /// round of reads issued together, not for 50 in turn. Nothing for heap bytes or a range
    /// outside the bytes.
    pub(crate) fn will_need(&self, range: std::ops::Range<usize>) {
        if let Repr::Mapped(map) = &self.0 {
            if range.start < range.end && range.end <= map.len() {
                let _ = map.advise_range(memmap2::Advice::WillNeed, range.start, range.len());
            }
        }
    }

    /// Asks for read-ahead while the returned guard lives (`MADV_SEQUENTIAL`: a merge reads a
    /// segment from its first record to its last), then [releases](Self::release) the mapping
    /// again. Readers meanwhile read the same bytes; only the kernel's paging changes.
    pub(crate) fn read_through(&self) -> ReadThrough<'_> {
        self.read_through_in_steps(RELEASE_STEP)
    }

    /// [`Self::read_through`], letting go of the pages passed every `step` bytes.
    pub(crate) fn read_through_in_steps(&self, step: usize) -> ReadThrough<'_> {
        if let Repr::Mapped(map) = &self.0 {
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        ReadThrough {
            bytes: self,
            released: std::cell::Cell::new(0),
            step: step.max(1),
        }
    }

    /// BLAKE3 of the first `len` bytes (all of them if fewer), read as a pass
    /// ([`Self::read_through`]) that lets go of each 64 MiB once it is hashed; the mapping is
    /// left with no page resident.
    pub(crate) fn hash_prefix(&self, len: usize) -> [u8; 32] {
        let len = len.min(self.len());
        let pass = self.read_through();
        let mut hasher = blake3::Hasher::new();
        let mut at = 0;
        while at < len {
            let end = len.min(at.saturating_add(RELEASE_STEP));
            crate::codec::hash_more(&mut hasher, &self[at..end]);
            pass.passed(end);
            at = end;
        }
        *hasher.finalize().as_bytes()
    }

    /// Lets go of the mapped pages of `range` (as [`Self::release`] does for all of them).
    #[allow(unsafe_code)]
    pub(crate) fn release_range(&self, range: std::ops::Range<usize>) {
        if let Repr::Mapped(map) = &self.0 {
            if range.start < range.end && range.end <= map.len() {
                // SAFETY: `MADV_DONTNEED` on a shared, read-only file mapping drops page-table
                // entries only: the next access reads the same bytes from the file (madvise(2)),
                // so what any live borrow of the mapping sees does not change. It would change
                // only if the file changed under the mapping, which the mapping itself already
                // rules out (see `FileStorage::map`).
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        range.start,
                        range.len(),
                    )
                };
            }
        }
    }
}

/// How far a pass reads before it lets go of the pages behind it
/// ([`ReadThrough::passed`]).
const RELEASE_STEP: usize = 64 << 20;

/// A whole-file pass over a mapping ([`FileBytes::read_through`]); released when dropped.
///
/// A pass that says how far it has read ([`ReadThrough::passed`]) also lets go of the pages
/// behind it as it goes: a merge of a 10M-claim store read 11 GB of segments through their
/// mappings, all of it counted in the process' resident memory until the merge ended.
pub(crate) struct ReadThrough<'a> {
    bytes: &'a FileBytes,
    /// Pages before this offset were let go.
    released: std::cell::Cell<usize>,
    step: usize,
}

impl ReadThrough<'_> {
    /// The pass will not read before `offset` again: the pages up to there are let go once a
    /// step's worth has gathered. (A later read there maps them again: correct, only slower.)
    pub(crate) fn passed(&self, offset: usize) {
        let from = self.released.get();
        if offset >= from.saturating_add(self.step) {
            self.bytes.release_range(from..offset);
            self.released.set(offset);
        }
    }
}

impl Drop for ReadThrough<'_> {
    fn drop(&mut self) {
        self.bytes.release();
    }
}

impl From<Vec<u8>> for FileBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(Repr::Heap(bytes.into_boxed_slice()))
    }
}

impl Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Heap(b) => b,
            Repr::Mapped(m) => m,
        }
    }
}

impl fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileBytes")
            .field("len", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}
