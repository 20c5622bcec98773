//! Heap sizes of the containers the indexes are built from, for [`crate::IndexMemory`].
//!
//! Each figure is what the container asked the allocator for (capacities, not lengths): the
//! allocator's own rounding and retention come on top and are visible only in the process'
//! resident memory.

use std::collections::HashMap;
use std::mem::size_of;

use roaring::RoaringBitmap;
use smallvec::{Array, SmallVec};

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

/// A roaring bitmap's containers (its serialized size: 2 bytes a value in array containers,
/// 8 KiB a bitmap container, 4 bytes a run).
pub(crate) fn bitmap(b: &RoaringBitmap) -> u64 {
    b.serialized_size() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

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
