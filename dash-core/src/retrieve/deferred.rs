//! [`Deferred`]: what is read back from the catalog image only when it is first needed — a
//! tenant's whole index (its `TenantCell`: a query needs one tenant, not all), and inside it the
//! facet postings, which only filtered queries and writes read, so a reopen's first (unfiltered)
//! answer does not wait for them to decode into fresh pages (~0.45 s of CPU at 1M claims on the
//! reference machine; docs/decisions.md D38).

use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};

/// How a deferred value is made: decoded from the image (a failure is reported by the closure
/// itself, which then gives an empty value).
type Make<T> = Box<dyn FnOnce() -> T + Send>;

/// A value made when first read; concurrent first readers wait for the one making it.
pub(crate) struct Deferred<T> {
    value: OnceLock<T>,
    make: Mutex<Option<Make<T>>>,
}

impl<T: Default> Deferred<T> {
    /// A value there already.
    pub(crate) fn ready(value: T) -> Self {
        Self {
            value: OnceLock::from(value),
            make: Mutex::new(None),
        }
    }

    /// A value `make` gives when it is first read.
    pub(crate) fn later(make: impl FnOnce() -> T + Send + 'static) -> Self {
        Self {
            value: OnceLock::new(),
            make: Mutex::new(Some(Box::new(make))),
        }
    }

    /// The value, made first if it was not yet.
    pub(crate) fn get(&self) -> &T {
        self.value.get_or_init(|| self.make())
    }

    /// The value if it was made; never makes it (for memory figures).
    pub(crate) fn peek(&self) -> Option<&T> {
        self.value.get()
    }

    /// Runs `f` on the value, made first if it was not yet.
    pub(crate) fn with_mut<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut value = match self.value.take() {
            Some(value) => value,
            None => self.make(),
        };
        let out = f(&mut value);
        self.value = OnceLock::from(value);
        out
    }

    fn make(&self) -> T {
        let make = self
            .make
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        make.map_or_else(T::default, |make| make())
    }
}

impl<T: Default> Default for Deferred<T> {
    fn default() -> Self {
        Self::ready(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Deferred<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value.get() {
            Some(value) => value.fmt(f),
            None => f.write_str("Deferred(not read yet)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_deferred_value_is_made_once_when_first_read_and_never_by_a_peek() {
        let made = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&made);
        let deferred = Deferred::later(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            vec![1u32, 2, 3]
        });
        assert!(deferred.peek().is_none());
        assert_eq!(made.load(Ordering::SeqCst), 0, "a peek makes nothing");
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| assert_eq!(deferred.get(), &[1, 2, 3]));
            }
        });
        assert_eq!(
            made.load(Ordering::SeqCst),
            1,
            "made once for concurrent readers"
        );
        assert_eq!(deferred.peek(), Some(&vec![1, 2, 3]));
    }

    #[test]
    fn a_change_makes_the_value_first_and_keeps_it() {
        let mut deferred = Deferred::later(|| vec![7u32]);
        assert_eq!(
            deferred.with_mut(|v| {
                v.push(8);
                v.len()
            }),
            2
        );
        assert_eq!(deferred.get(), &[7, 8]);
        let mut ready = Deferred::ready(vec![1u32]);
        ready.with_mut(|v| v.clear());
        assert!(ready.get().is_empty());
    }
}
