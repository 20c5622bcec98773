//! One tenant's indexes behind their own lock, with an inbox for the changes the writer could
//! not apply without waiting for the tenant's readers.
//!
//! A query holds its tenant's read lock for its whole run (a few milliseconds at 1M claims). The
//! writer, which serialises every tenant's commits, never waits for it: when the lock is taken
//! it leaves the change in the tenant's inbox and goes on. Whoever takes the lock next applies
//! the inbox first, in order — the writer's next change, or the next reader, which takes the
//! write lock for that and then reads ([`read_tenant`]). So a write is visible to every read
//! that starts after `ingest` returns, and a query never sees half a change.
//!
//! Invariant: changes leave the inbox only under the write lock and are applied before it is
//! let go, so a reader that finds the inbox empty and then takes the read lock sees every change
//! that was in it.
//!
//! A tenant read back from the catalog image starts *undecoded*: its cell holds the decoding
//! of its part of the image, run by whoever touches the tenant first (a query, the writer, the
//! open's background pass over every tenant). A store of 20,000 tenants answers its first query
//! after decoding one, not all. Hints asked under the store's state lock (is a seal due? is a
//! build running?) never decode: an undecoded tenant has nothing due.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::catalog::TenantIndex;
use super::deferred::Deferred;
use crate::detect::record::TenantDerived;
use crate::index::DocId;
use crate::model::{micros, ClaimId, IngestItem, Lsn, Timestamp};
use crate::segment::Segment;

/// A change to one tenant's indexes, as the writer (or the checkpointer) made it.
#[derive(Debug)]
pub(crate) enum TenantOp {
    /// A commit's versions in claim-id order, numbered from the tenant's next document on.
    Commit {
        lsn: Lsn,
        recorded_at: Timestamp,
        items: Vec<(Arc<IngestItem>, u32)>,
    },
    /// A tombstone closing the claim's current version.
    Tombstone { claim: ClaimId, at: Timestamp },
    /// Versions retention dropped.
    Drop { claim: ClaimId, versions: Vec<u32> },
    /// The tenant's part of a derived record.
    Derived(TenantDerived),
    /// The tenant's entries of a published segment: their documents read from it from now on.
    Relocate {
        segment: Arc<Segment>,
        entries: Range<usize>,
    },
}

/// One tenant's indexes, their inbox and its counters (see the module docs).
#[derive(Debug)]
pub(crate) struct TenantCell {
    /// The indexes: decoded from the image when first touched (see the module docs), there at
    /// once for a cell made from an index.
    index: Deferred<RwLock<TenantIndex>>,
    inbox: Mutex<Vec<TenantOp>>,
    /// Documents the tenant holds once its inbox is applied: the next commit's first number.
    /// Only the catalog's owner (under the store's state lock) changes it.
    numbered: AtomicU32,
    /// Documents waiting for the detection stage (a count the catalog keeps beside the
    /// indexes, so that asking it never waits for the inbox).
    undetected: AtomicU64,
    /// Changes that went through the inbox (the writer found the tenant being read).
    deferred: AtomicU64,
    /// Time readers spent waiting for the write lock to apply the inbox, in microseconds.
    reader_wait_micros: AtomicU64,
    /// What the statistics count of the tenant while it is not decoded (read from the image's
    /// header of it; zero for a cell made from an index).
    summary: Summary,
}

/// What the store's statistics count of a tenant not decoded yet, so that asking them does not
/// decode every tenant of an image.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Dense documents in the exact part.
    pub(crate) exact_docs: u64,
    /// Live detected edges.
    pub(crate) live_edges: u64,
}

/// What the inboxes of a set of tenants did, for the store's statistics.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct InboxStats {
    /// Changes the writer left in an inbox instead of waiting for readers.
    pub(crate) deferred: u64,
    /// Changes waiting in inboxes now.
    pub(crate) waiting: u64,
    /// Time readers waited to apply inboxes, in microseconds.
    pub(crate) reader_wait_micros: u64,
}

impl TenantCell {
    /// A cell holding `index`, `undetected` of whose documents wait for the detection stage,
    /// its inbox empty.
    pub(crate) fn new(index: TenantIndex, undetected: u64) -> Self {
        let numbered = u32::try_from(index.docs.len()).unwrap_or(u32::MAX);
        Self::with(
            Deferred::ready(RwLock::new(index)),
            numbered,
            undetected,
            Summary::default(),
        )
    }

    /// A cell whose indexes (`documents` of them) `decode` gives when the tenant is first
    /// touched; `summary` is what the statistics count of it until then. `decode` reports a
    /// failure itself (the image is checksummed, so only a defect reaches it) and then gives
    /// an empty index.
    pub(crate) fn undecoded(
        decode: impl FnOnce() -> TenantIndex + Send + 'static,
        documents: u32,
        undetected: u64,
        summary: Summary,
    ) -> Self {
        Self::with(
            Deferred::later(move || RwLock::new(decode())),
            documents,
            undetected,
            summary,
        )
    }

    fn with(
        index: Deferred<RwLock<TenantIndex>>,
        numbered: u32,
        undetected: u64,
        summary: Summary,
    ) -> Self {
        Self {
            index,
            inbox: Mutex::new(Vec::new()),
            numbered: AtomicU32::new(numbered),
            undetected: AtomicU64::new(undetected),
            deferred: AtomicU64::new(0),
            reader_wait_micros: AtomicU64::new(0),
            summary,
        }
    }

    /// What the statistics count of the tenant while it is not decoded.
    pub(crate) fn summary(&self) -> Summary {
        self.summary
    }

    /// Documents the tenant holds once its inbox is applied.
    pub(crate) fn documents(&self) -> u32 {
        self.numbered.load(Ordering::Relaxed)
    }

    /// The indexes, decoded first if they were not yet (concurrent callers wait for the one
    /// decoding).
    fn index(&self) -> &RwLock<TenantIndex> {
        self.index.get()
    }

    /// Decodes the indexes now if they were not yet, the parts decoded when first read
    /// (facet postings) too: the open's background pass.
    pub(crate) fn decode_now(&self) {
        self.index().read().filters.get();
    }

    /// True once the indexes are decoded.
    pub(crate) fn is_decoded(&self) -> bool {
        self.index.peek().is_some()
    }

    /// Numbers `count` new documents: the first one's number, or `None` when the tenant's
    /// document numbers would run out (`u32`).
    pub(crate) fn number(&self, count: u32) -> Option<DocId> {
        let first = self.numbered.load(Ordering::Relaxed);
        let next = first.checked_add(count)?;
        self.numbered.store(next, Ordering::Relaxed);
        Some(first)
    }

    /// Documents waiting for the detection stage.
    pub(crate) fn undetected(&self) -> u64 {
        self.undetected.load(Ordering::Relaxed)
    }

    /// Counts `added` more documents waiting for the detection stage and `detected` fewer.
    /// Only the catalog's owner (under the store's state lock) changes it.
    pub(crate) fn count_undetected(&self, added: u64, detected: u64) {
        let n = self
            .undetected()
            .saturating_add(added)
            .saturating_sub(detected);
        self.undetected.store(n, Ordering::Relaxed);
    }

    /// Applies `op` now when no one reads the tenant, else leaves it in the inbox; never waits
    /// for readers.
    pub(crate) fn change(&self, op: TenantOp) {
        match self.index().try_write() {
            Some(mut index) => {
                self.drain(&mut index);
                index.apply(op);
            }
            None => {
                self.inbox.lock().push(op);
                self.deferred.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The write lock, waiting for readers (the time added to `waited`), with the inbox applied.
    pub(crate) fn write(&self, waited: &mut Duration) -> RwLockWriteGuard<'_, TenantIndex> {
        let mut index = match self.index().try_write() {
            Some(guard) => guard,
            None => {
                let asked = Instant::now();
                let guard = self.index().write();
                *waited += asked.elapsed();
                guard
            }
        };
        self.drain(&mut index);
        index
    }

    /// The indexes as they are, without applying the inbox, without waiting and without
    /// decoding: `None` while the lock is held for writing or the tenant is not decoded yet.
    /// For hints (is a seal due?) that the next change refreshes.
    pub(crate) fn peek(&self) -> Option<RwLockReadGuard<'_, TenantIndex>> {
        self.index.peek()?.try_read()
    }

    /// The indexes as they are, without applying the inbox, for a decoded tenant; `None` for
    /// one not decoded yet (whose image holds no build running or due; the statistics count it
    /// from its [`Summary`]). For statistics and hints, which a later read brings up to date,
    /// and which are asked under the store's state lock — a thread holding it must neither
    /// decode a tenant nor wait for its queries. A recursive read: it goes past a reader
    /// waiting to apply the inbox (which waits for the running queries) and waits only while
    /// an inbox is being applied.
    pub(crate) fn read_if_decoded(&self) -> Option<RwLockReadGuard<'_, TenantIndex>> {
        Some(self.index.peek()?.read_recursive())
    }

    /// True when changes wait in the inbox.
    pub(crate) fn has_changes(&self) -> bool {
        !self.inbox.lock().is_empty()
    }

    /// The inbox's counters.
    pub(crate) fn inbox_stats(&self) -> InboxStats {
        InboxStats {
            deferred: self.deferred.load(Ordering::Relaxed),
            waiting: self.inbox.lock().len() as u64,
            reader_wait_micros: self.reader_wait_micros.load(Ordering::Relaxed),
        }
    }

    fn drain(&self, index: &mut TenantIndex) {
        let ops = std::mem::take(&mut *self.inbox.lock());
        for op in ops {
            index.apply(op);
        }
    }
}

impl InboxStats {
    /// The sum of two tenants' counters.
    pub(crate) fn add(self, other: Self) -> Self {
        Self {
            deferred: self.deferred + other.deferred,
            waiting: self.waiting + other.waiting,
            reader_wait_micros: self.reader_wait_micros + other.reader_wait_micros,
        }
    }
}

/// Reads a tenant's indexes with every change made so far applied (a fair lock: a waiting
/// writer goes before new readers). When the inbox holds changes, takes the write lock to
/// apply them, then reads under the same lock.
pub(crate) fn read_tenant(cell: &TenantCell) -> RwLockReadGuard<'_, TenantIndex> {
    if !cell.has_changes() {
        return cell.index().read();
    }
    let asked = Instant::now();
    let mut index = cell.index().write();
    let waited = asked.elapsed();
    cell.drain(&mut index);
    cell.reader_wait_micros
        .fetch_add(micros(waited), Ordering::Relaxed);
    RwLockWriteGuard::downgrade(index)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// Long enough that only a thread blocked for good misses it.
    const PATIENCE: Duration = Duration::from_secs(30);

    fn cell() -> Arc<TenantCell> {
        Arc::new(TenantCell::new(TenantIndex::new(), 0))
    }

    fn tombstone() -> TenantOp {
        TenantOp::Tombstone {
            claim: ClaimId::new("c"),
            at: Timestamp::now(),
        }
    }

    #[test]
    fn a_change_to_a_tenant_being_read_waits_in_the_inbox() {
        let cell = cell();
        let query = read_tenant(&cell);
        cell.change(tombstone());
        assert_eq!(cell.inbox_stats().waiting, 1);
        assert_eq!(cell.inbox_stats().deferred, 1);
        drop(query);
        // The next reader applies it.
        drop(read_tenant(&cell));
        assert_eq!(cell.inbox_stats().waiting, 0);
        // Unread, a change applies at once.
        cell.change(tombstone());
        assert_eq!(cell.inbox_stats().deferred, 1);
    }

    #[test]
    fn reading_as_is_goes_past_a_reader_waiting_to_apply_the_inbox() {
        let cell = cell();
        let query = read_tenant(&cell);
        cell.change(tombstone());
        // A second reader finds the change and waits for `query` to apply it.
        let (applied_tx, applied) = mpsc::channel();
        let drainer = Arc::clone(&cell);
        std::thread::spawn(move || {
            drop(read_tenant(&drainer));
            let _ = applied_tx.send(());
        });
        assert!(applied.recv_timeout(Duration::from_millis(200)).is_err());
        // A statistics read neither waits for `query` nor for the waiting reader.
        let (read_tx, read) = mpsc::channel();
        let peeker = Arc::clone(&cell);
        std::thread::spawn(move || {
            let docs = peeker.read_if_decoded().map(|t| t.docs.len());
            let _ = read_tx.send(docs);
        });
        assert_eq!(read.recv_timeout(PATIENCE), Ok(Some(0)));
        drop(query);
        assert!(applied.recv_timeout(PATIENCE).is_ok());
        assert_eq!(cell.inbox_stats().waiting, 0);
    }

    #[test]
    fn an_undecoded_tenant_decodes_once_on_first_touch_and_never_for_a_hint() {
        let calls = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&calls);
        let cell = Arc::new(TenantCell::undecoded(
            move || {
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20)); // let the readers meet
                TenantIndex::new()
            },
            7,
            2,
            Summary {
                exact_docs: 3,
                live_edges: 1,
            },
        ));
        // Hints asked under the store's lock do not decode.
        assert!(cell.peek().is_none());
        assert!(cell.read_if_decoded().is_none());
        assert!(!cell.is_decoded());
        assert_eq!((cell.number(1), cell.undetected()), (Some(7), 2));
        // Nor do the statistics: they count the header's summary of it.
        let shared = [Arc::clone(&cell)];
        let totals = super::super::catalog::totals(&shared);
        assert_eq!((totals.exact_docs, totals.detected_edges), (3, 1));
        let memory = super::super::memory::of_tenants(&shared);
        assert_eq!(
            (memory.tenants, memory.documents, memory.total()),
            (1, 8, 0)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        // Readers arriving together: one decodes, the others wait for it.
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let cell = Arc::clone(&cell);
                std::thread::spawn(move || read_tenant(&cell).docs.len())
            })
            .collect();
        for r in readers {
            assert_eq!(r.join().unwrap(), 0);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(cell.is_decoded() && cell.peek().is_some());
        cell.decode_now();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn documents_are_numbered_before_they_are_indexed() {
        let cell = cell();
        assert_eq!(cell.number(3), Some(0));
        assert_eq!(cell.number(2), Some(3));
        assert_eq!(cell.number(u32::MAX), None, "numbers ran out");
        assert_eq!(cell.number(1), Some(5));
    }
}
