//! Heap sizes of the containers the indexes are built from, for [`crate::IndexMemory`].
//!
//! Each figure is what the container asked the allocator for (capacities, not lengths): the
//! allocator's own rounding and retention come on top and are visible only in the process'
//! resident memory.

use std::collections::HashMap;
use std::mem::size_of;

use roaring::RoaringBitmap;
use smallvec::{Array, SmallVec};

/// Makes room in `v` for `more` elements, growing it by a sixteenth at least instead of
/// doubling: the tables that grow one entry a document (the catalog's documents, claims, term
/// list positions) hold gigabytes at 10M claims, and a doubling left up to half of that unused
/// (a few more copies, each of the whole table, are the price: one per 1/16 of growth).
pub(crate) fn reserve_gently<T>(v: &mut Vec<T>, more: usize) {
    if v.capacity() - v.len() < more {
        v.reserve_exact(more.max(v.len() / 16).max(16));
    }
}

/// A vector's buffer.
pub(crate) fn vec<T>(v: &Vec<T>) -> u64 {
    (v.capacity() * size_of::<T>()) as u64
}

/// A boxed slice's buffer.
pub(crate) fn slice<T>(v: &[T]) -> u64 {
    std::mem::size_of_val(v) as u64
}

/// A small vector's buffer once it spilled to the heap (0 while inline).
pub(crate) fn small<A: Array>(v: &SmallVec<A>) -> u64 {
    if v.spilled() {
        (v.capacity() * size_of::<A::Item>()) as u64
    } else {
        0
    }
}

/// A hash map's table: a slot and a control byte per bucket (hashbrown allocates
/// `capacity / 0.875` buckets, rounded up to a power of two; `capacity` is a lower bound).
pub(crate) fn map<K, V, S>(m: &HashMap<K, V, S>) -> u64 {
    (m.capacity() * (size_of::<(K, V)>() + 1)) as u64
}

/// A roaring bitmap's containers: a container record each (its key and its store's handle,
/// 32 bytes) and the stores (2 bytes a value in an array, 8 KiB a bitset, 4 bytes a run).
pub(crate) fn bitmap(b: &RoaringBitmap) -> u64 {
    let st = b.statistics();
    u64::from(st.n_containers) * CONTAINER_BYTES
        + st.n_bytes_array_containers
        + st.n_bytes_bitset_containers
        + st.n_bytes_run_containers
}

/// What a roaring container costs beside its values: its record in the bitmap's vector.
pub(crate) const CONTAINER_BYTES: u64 = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gentle_growth_leaves_little_unused() {
        let mut v: Vec<u32> = Vec::new();
        for i in 0..100_000 {
            reserve_gently(&mut v, 1);
            v.push(i);
            assert!(v.capacity() <= v.len() + v.len() / 16 + 16, "at {i}");
        }
        reserve_gently(&mut v, 50_000);
        assert!(v.capacity() >= 150_000);
    }

    #[test]
    fn sizes_follow_capacities_and_spills() {
        let v: Vec<u64> = Vec::with_capacity(10);
        assert_eq!(vec(&v), 80);
        assert_eq!(slice(&[1u32, 2, 3][..]), 12);
        let mut s: SmallVec<[u32; 2]> = SmallVec::new();
        s.push(1);
        s.push(2);
        assert_eq!(small(&s), 0, "inline");
        s.push(3);
        assert!(small(&s) >= 12, "spilled");
        let mut m: HashMap<u32, u32> = HashMap::new();
        assert_eq!(map(&m), 0);
        m.insert(1, 2);
        assert!(map(&m) >= 9);
        let b: RoaringBitmap = (0..1000).collect();
        assert!(bitmap(&b) >= 2000);
    }
}
