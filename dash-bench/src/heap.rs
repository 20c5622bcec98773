//! [`Counting`]: a global allocator wrapper that counts the bytes allocated and not yet freed,
//! so a bench can set the heap the program really holds beside the anonymous resident memory
//! the kernel reports (the difference is what the allocator keeps for reuse).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes allocated through [`Counting`] and not freed yet.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Wraps the allocator `A`, counting live bytes (one relaxed atomic add per call).
#[derive(Debug, Default)]
pub struct Counting<A>(pub A);

/// Bytes the program holds on the heap now (0 when [`Counting`] is not the global allocator).
#[must_use]
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

// SAFETY: every call is forwarded unchanged to the wrapped allocator, which upholds
// `GlobalAlloc`'s contract; the wrapper only adds and subtracts the sizes of the layouts it
// passes on (a realloc moves `new_size - old size` only when the wrapped allocator succeeded).
#[allow(unsafe_code)]
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the wrapped one) with `layout`.
        unsafe { self.0.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `dealloc` for `ptr` and `layout`; `new_size` is the caller's.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    #[test]
    #[allow(unsafe_code)]
    fn live_bytes_follow_allocations_reallocations_and_frees() {
        // The test calls the wrapper directly (it is not this test binary's global allocator),
        // so the counter moves by this test's calls alone.
        let a = Counting(System);
        let before = live_bytes();
        let layout = Layout::from_size_align(4096, 8).unwrap();
        // SAFETY: a non-zero layout; the pointer is freed with the layout it has then.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            assert_eq!(live_bytes() - before, 4096);
            p.write_bytes(7, 4096);
            let q = a.realloc(p, layout, 10_000);
            assert!(!q.is_null());
            assert_eq!(live_bytes() - before, 10_000);
            assert_eq!(*q.add(4095), 7, "realloc keeps the contents");
            a.dealloc(q, Layout::from_size_align(10_000, 8).unwrap());
            let z = a.alloc_zeroed(layout);
            assert_eq!(*z.add(100), 0);
            assert_eq!(live_bytes() - before, 4096);
            a.dealloc(z, layout);
        }
        assert_eq!(live_bytes(), before);
    }
}
