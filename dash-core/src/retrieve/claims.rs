//! [`ClaimTable`]: a tenant's claims, numbered in the order first seen, each with its documents.
//!
//! The id → number index is a hash table of numbers alone (hashbrown's `HashTable`): the id is
//! kept once, in its slot, and the table hashes and compares through the slots. A map keyed by
//! the id would hold every id twice — about 50 bytes a claim at a million claims.

use hashbrown::HashTable;
use smallvec::SmallVec;

use crate::codec::{DecodeResult, Decoder, Encoder};
use crate::error::CorruptionKind;
use crate::index::DocId;
use crate::model::ClaimId;

/// A claim id and its documents, oldest version first (most claims have one or two: they are
/// kept inline).
#[derive(Debug)]
pub(crate) struct ClaimSlot {
    /// The claim's id (a boxed `str`: 16 bytes where a `ClaimId`'s `String` takes 24).
    pub(crate) id: Box<str>,
    pub(crate) docs: SmallVec<[DocId; 2]>,
}

/// A tenant's claims: slots by number, and numbers by id.
#[derive(Debug, Default)]
pub(crate) struct ClaimTable {
    slots: Vec<ClaimSlot>,
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl ClaimTable {
    /// Heap bytes held: the slots with their ids and document lists, and the id index (a
    /// number and a control byte per bucket).
    pub(crate) fn heap_bytes(&self) -> u64 {
        use crate::heap;
        heap::vec(&self.slots)
            + self
                .slots
                .iter()
                .map(|s| s.id.len() as u64 + heap::small(&s.docs))
                .sum::<u64>()
            + (self.index.capacity() * (std::mem::size_of::<u32>() + 1)) as u64
    }

    fn hash(&self, id: &str) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, id)
    }

    /// The number of `id`, if seen.
    pub(crate) fn find(&self, id: &str) -> Option<u32> {
        self.find_hashed(self.hash(id), id)
    }

    /// The number of `id`, whose hash is `hash`, if seen.
    fn find_hashed(&self, hash: u64, id: &str) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(hash, |&ix| {
                slots.get(ix as usize).is_some_and(|s| &*s.id == id)
            })
            .copied()
    }

    /// The number of `id`, adding a slot for it if new; `None` past `u32::MAX` claims.
    pub(crate) fn find_or_add(&mut self, id: &ClaimId) -> Option<u32> {
        let hash = self.hash(id.as_str());
        if let Some(ix) = self.find_hashed(hash, id.as_str()) {
            return Some(ix);
        }
        let ix = u32::try_from(self.slots.len()).ok()?;
        crate::heap::reserve_gently(&mut self.slots, 1);
        self.slots.push(ClaimSlot {
            id: id.as_str().into(),
            docs: SmallVec::new(),
        });
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, ix, |&i| {
            slots
                .get(i as usize)
                .map_or(0, |s| std::hash::BuildHasher::hash_one(hasher, &*s.id))
        });
        Some(ix)
    }

    /// The slot of claim number `ix`.
    pub(crate) fn get(&self, ix: u32) -> Option<&ClaimSlot> {
        self.slots.get(ix as usize)
    }

    /// The slot of claim number `ix`, to change its documents.
    pub(crate) fn get_mut(&mut self, ix: u32) -> Option<&mut ClaimSlot> {
        self.slots.get_mut(ix as usize)
    }
}

/// The catalog image's part (`retrieve/image.rs`; format in `docs/design.md` §4b):
///
/// ```text
/// claims := claim_count u32 | (id str | docs list<u32>) * claim_count   (by claim number)
/// ```
impl ClaimTable {
    pub(crate) fn encode(&self, e: &mut Encoder) {
        e.len(self.slots.len());
        for slot in &self.slots {
            e.str(&slot.id);
            e.u32s(&slot.docs);
        }
    }

    /// A table as [`ClaimTable::encode`] wrote it, its documents numbered below `doc_count`.
    pub(crate) fn decode(d: &mut Decoder<'_>, doc_count: usize) -> DecodeResult<Self> {
        let n = d.count(8)?;
        let mut table = Self::default();
        table.slots.reserve(n);
        table.index.reserve(n, |_| 0);
        for _ in 0..n {
            let at = d.position();
            let id = ClaimId::new(d.string()?);
            let docs = d.u32s()?;
            if docs.iter().any(|&doc| doc as usize >= doc_count) {
                return Err((at, CorruptionKind::Malformed("unknown document")));
            }
            let new = table.slots.len();
            match table.find_or_add(&id) {
                Some(ix) if ix as usize == new => {
                    table.slots[ix as usize].docs = SmallVec::from_vec(docs);
                }
                _ => return Err((at, CorruptionKind::Malformed("a claim listed twice"))),
            }
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_their_numbers_and_are_found_by_str() {
        let mut table = ClaimTable::default();
        let ids: Vec<ClaimId> = (0..5_000).map(|i| ClaimId::new(format!("c-{i}"))).collect();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(table.find_or_add(id), Some(i as u32));
        }
        // Growth rehashed the table through the slots: every id still finds its number.
        for (i, id) in ids.iter().enumerate().rev() {
            assert_eq!(table.find_or_add(id), Some(i as u32), "no second slot");
            assert_eq!(table.find(id.as_str()), Some(i as u32));
            assert_eq!(table.get(i as u32).map(|s| &*s.id), Some(id.as_str()));
        }
        assert_eq!(table.find("c-5000"), None);
        assert_eq!(table.get(5_000).map(|s| &*s.id), None);
        table.get_mut(3).unwrap().docs.extend([7, 9, 11]);
        assert_eq!(&table.get(3).unwrap().docs[..], &[7, 9, 11]);
    }
}
