//! The change feed: a tenant's changes in commit order — new claim versions, forgets, and the
//! contradictions and supersessions detection found — each with a [`Cursor`] to resume from.
//!
//! The feed *is* the WAL, decoded: history comes from the WAL files the store still holds
//! (the live ones plus the newest checkpointed ones kept by
//! [`StoreBuilder::feed_retention_bytes`](crate::StoreBuilder::feed_retention_bytes)), and new
//! records reach subscribers from the writer. A subscriber that starts
//! before the oldest kept record gets [`FeedError::HistoryLost`] (as a change stream whose
//! resume token has left the oplog), never a silent gap.
//!
//! A record's events share its LSN and are numbered from 0 (`seq`): a batch's items in order,
//! then a derived record's edges, so a cursor names one event exactly, across restarts too.
//! Text a `forget` removed is never replayed: a version followed by a tombstone comes without
//! its content (`redacted`), and so does a detected edge's reason that touches it.
//!
//! Live records reach subscribers once durable: at once under strict durability, with the next
//! sync under batched durability (a record a crash could still lose is not pushed, so its LSN,
//! which a crash would give to another record, does not reach a cursor that way; a subscriber
//! that starts inside the batch window reads the WAL as written, as acknowledgements do).
//!
//! Live events wait in a bounded queue per subscriber; one that falls more than
//! [`LIVE_QUEUE_CAPACITY`] events behind is cut ([`FeedError::Lagged`], with the cursor to
//! resubscribe after) and never slows the writer.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};

use crate::detect::record::TenantDerived;
use crate::model::{ClaimId, IngestItem, Lsn, Relation, TenantId, Timestamp, VersionBody};
use crate::store::Shared;
use crate::wal::{self, RecordBody, RecoveryMode, WalRecord};

/// Live events one subscriber may have waiting before it is cut.
pub const LIVE_QUEUE_CAPACITY: usize = 10_000;

/// The position of one event: its record's LSN and its number within the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// The WAL record.
    pub lsn: Lsn,
    /// The event's number within the record's events for the tenant.
    pub seq: u32,
}

impl std::fmt::Display for Cursor {
    /// As `LSN:SEQ` (what SSE's `id` field carries).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.lsn.0, self.seq)
    }
}

impl std::str::FromStr for Cursor {
    type Err = FeedError;

    /// Parses `LSN:SEQ`.
    fn from_str(s: &str) -> Result<Self, FeedError> {
        let bad = || FeedError::BadCursor(s.chars().take(64).collect());
        let (lsn, seq) = s.split_once(':').ok_or_else(bad)?;
        Ok(Self {
            lsn: Lsn(lsn.parse().map_err(|_| bad())?),
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for Cursor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where a subscription starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedStart {
    /// Only changes committed from now on.
    Now,
    /// From the oldest change the store still holds.
    Oldest,
    /// From the record at this LSN on (inclusive).
    AtLsn(Lsn),
    /// After this event (exclusive): how a client resumes.
    After(Cursor),
}

/// One change of a tenant.
#[derive(Clone, Debug, Serialize)]
pub struct ChangeEvent {
    /// Where it is; resume after it with [`FeedStart::After`].
    pub cursor: Cursor,
    /// The record's LSN (the cursor's, for clients that order by LSN).
    pub lsn: Lsn,
    /// When the store committed the record.
    pub recorded_at: Timestamp,
    /// The tenant.
    pub tenant_id: TenantId,
    /// What changed.
    #[serde(flatten)]
    pub change: Change,
}

/// What changed.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// A claim version was committed (an ingest; `commit_id` for a batch).
    ClaimVersion {
        /// The claim.
        claim_id: ClaimId,
        /// Its version number.
        version: u32,
        /// The batch's idempotency key, if it came in one.
        commit_id: Option<String>,
        /// True when the version was forgotten since: its content is withheld.
        redacted: bool,
        /// The claim, evidence and edges (absent when redacted).
        #[serde(skip_serializing_if = "Option::is_none", flatten)]
        item: Option<ItemView>,
    },
    /// A claim was forgotten (a tombstone).
    Forgotten {
        /// The claim.
        claim_id: ClaimId,
        /// The tombstone's version number.
        version: u32,
    },
    /// Detection found that one claim version contradicts or supersedes another.
    EdgeDetected {
        /// The claim the edge starts at.
        from_claim_id: ClaimId,
        /// Its version.
        from_version: u32,
        /// The claim the edge points to.
        to_claim_id: ClaimId,
        /// Its version.
        to_version: u32,
        /// `contradicts` or `supersedes`.
        relation: Relation,
        /// The detector's confidence.
        strength: f32,
        /// Why (absent when it touches forgotten text).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The edge epoch (see `EdgesActivated`).
        epoch: u32,
    },
    /// A rebuild of the tenant's detected edges finished: edges of earlier epochs no longer
    /// hold, those of `epoch` do.
    EdgesActivated {
        /// The epoch now live.
        epoch: u32,
    },
}

/// A committed item as the feed shows it (the HTTP ingest item's fields).
#[derive(Clone, Debug)]
pub struct ItemView(pub Arc<IngestItem>);

impl Serialize for ItemView {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Why a subscription cannot start or go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// The start is older than the oldest change the store still holds.
    #[error("the feed's history starts at LSN {oldest}; LSN {requested} is no longer held (raise feed_retention_bytes to keep more)")]
    HistoryLost {
        /// The first LSN asked for.
        requested: u64,
        /// The oldest LSN still held.
        oldest: u64,
    },
    /// The subscriber fell too far behind and was cut; resubscribe after `resume_after`.
    #[error("the subscriber fell more than {LIVE_QUEUE_CAPACITY} events behind and was cut; resume after {resume_after}")]
    Lagged {
        /// The last event delivered before the cut (resubscribe with `FeedStart::After`).
        resume_after: String,
    },
    /// Not a cursor (`LSN:SEQ`).
    #[error("{0:?} is not a feed cursor (LSN:SEQ)")]
    BadCursor(String),
    /// The tenant id is invalid.
    #[error("invalid tenant: {0}")]
    InvalidTenant(String),
    /// The store closed.
    #[error("the store is closed")]
    Closed,
    /// A WAL file could not be read, or is damaged.
    #[error("cannot read the feed's history: {0}")]
    Io(String),
}

impl FeedError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self {
            FeedError::HistoryLost { .. } => ErrorKind::NotFound,
            FeedError::BadCursor(_) | FeedError::InvalidTenant(_) => ErrorKind::Invalid,
            FeedError::Lagged { .. } | FeedError::Closed => ErrorKind::Unavailable,
            FeedError::Io(_) => ErrorKind::Corruption,
        }
    }
}

/// The live half of a subscription: what the writer pushes to.
struct LiveQueue {
    tenant: TenantId,
    inner: Mutex<LiveInner>,
    ready: Condvar,
    waker: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
}

#[derive(Default)]
struct LiveInner {
    events: VecDeque<ChangeEvent>,
    lagged: bool,
    closed: bool,
}

impl LiveQueue {
    fn wake(&self) {
        self.ready.notify_all();
        let waker = lock(&self.waker).clone();
        if let Some(w) = waker {
            w();
        }
    }
}

/// The store's subscribers; the writer publishes every applied record to them.
#[derive(Default)]
pub(crate) struct Hub {
    subscribers: Mutex<Vec<Weak<LiveQueue>>>,
    count: AtomicUsize,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("subscribers", &self.count.load(Ordering::Relaxed))
            .finish()
    }
}

impl Hub {
    fn register(&self, queue: &Arc<LiveQueue>) {
        let mut subs = lock(&self.subscribers);
        subs.push(Arc::downgrade(queue));
        Self::prune(&mut subs, &self.count);
    }

    /// Drops the subscriptions that are gone and records how many are left.
    fn prune(subs: &mut Vec<Weak<LiveQueue>>, count: &AtomicUsize) {
        subs.retain(|w| w.strong_count() > 0);
        count.store(subs.len(), Ordering::Release);
    }

    /// True while anyone subscribes.
    pub(crate) fn has_subscribers(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    /// Hands applied records to the subscribers of their tenants (nothing to do, and no lock
    /// taken, when there are none).
    pub(crate) fn publish(&self, records: &[WalRecord]) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let subs: Vec<Arc<LiveQueue>> = {
            let mut subs = lock(&self.subscribers);
            Self::prune(&mut subs, &self.count);
            subs.iter().filter_map(Weak::upgrade).collect()
        };
        // Each tenant's events are made once, however many subscribe to it.
        let mut made: Vec<(&TenantId, Vec<ChangeEvent>)> = Vec::new();
        for queue in &subs {
            let events = match made.iter().position(|(t, _)| **t == queue.tenant) {
                Some(i) => &made[i].1,
                None => {
                    // Live events are never redacted: a forget comes later, as its own event.
                    let events = records
                        .iter()
                        .flat_map(|r| events_of(r, &queue.tenant, None))
                        .collect();
                    made.push((&queue.tenant, events));
                    &made[made.len() - 1].1
                }
            };
            if events.is_empty() {
                continue;
            }
            {
                let mut inner = lock(&queue.inner);
                if inner.lagged || inner.closed {
                    continue;
                }
                if inner.events.len() + events.len() > LIVE_QUEUE_CAPACITY {
                    inner.lagged = true;
                } else {
                    inner.events.extend(events.iter().cloned());
                }
            }
            queue.wake();
        }
    }

    /// The store closes: every subscription ends once drained.
    pub(crate) fn close(&self) {
        let subs: Vec<Arc<LiveQueue>> = lock(&self.subscribers)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for queue in subs {
            lock(&queue.inner).closed = true;
            queue.wake();
        }
    }
}

/// Decides whether a claim version's content is withheld: a later tombstone forgot it.
type Redactor<'a> = &'a dyn Fn(&ClaimId, u32) -> bool;

/// The events of one record for `tenant`, numbered as the feed numbers them.
fn events_of(
    record: &WalRecord,
    tenant: &TenantId,
    redact: Option<Redactor<'_>>,
) -> Vec<ChangeEvent> {
    let event = |seq: u32, change: Change| ChangeEvent {
        cursor: Cursor {
            lsn: record.lsn,
            seq,
        },
        lsn: record.lsn,
        recorded_at: record.recorded_at,
        tenant_id: tenant.clone(),
        change,
    };
    let forgotten = |claim: &ClaimId, version: u32| redact.is_some_and(|r| r(claim, version));
    match &record.body {
        RecordBody::Commit {
            tenant: t,
            commit_id,
            versions,
            items,
            ..
        } if t == tenant => items
            .iter()
            .zip(versions)
            .enumerate()
            .map(|(i, (item, &version))| {
                let redacted = forgotten(&item.claim.claim_id, version);
                event(
                    i as u32,
                    Change::ClaimVersion {
                        claim_id: item.claim.claim_id.clone(),
                        version,
                        commit_id: commit_id.clone(),
                        redacted,
                        item: (!redacted).then(|| ItemView(Arc::clone(item))),
                    },
                )
            })
            .collect(),
        RecordBody::Forget {
            tenant: t,
            claim_id,
            version,
        } if t == tenant => vec![event(
            0,
            Change::Forgotten {
                claim_id: claim_id.clone(),
                version: *version,
            },
        )],
        RecordBody::Derived { tenants, .. } => {
            let mut out = Vec::new();
            for d in tenants.iter().filter(|d| &d.tenant == tenant) {
                derived_events(d, &mut out, &forgotten, &event);
            }
            out
        }
        _ => Vec::new(),
    }
}

fn derived_events(
    d: &TenantDerived,
    out: &mut Vec<ChangeEvent>,
    forgotten: &dyn Fn(&ClaimId, u32) -> bool,
    event: &dyn Fn(u32, Change) -> ChangeEvent,
) {
    for e in &d.edges {
        let touches_forgotten =
            forgotten(&e.from, e.from_version) || forgotten(&e.to, e.to_version);
        let seq = out.len() as u32;
        out.push(event(
            seq,
            Change::EdgeDetected {
                from_claim_id: e.from.clone(),
                from_version: e.from_version,
                to_claim_id: e.to.clone(),
                to_version: e.to_version,
                relation: e.relation,
                strength: e.strength,
                reason: (!touches_forgotten).then(|| e.reason.clone()),
                epoch: e.epoch,
            },
        ));
    }
    if let Some(epoch) = d.activate {
        let seq = out.len() as u32;
        out.push(event(seq, Change::EdgesActivated { epoch }));
    }
}

/// A tenant's change feed (from [`Store::subscribe`](crate::Store::subscribe)).
///
/// Events come in cursor order, history first (read from the WAL files), then live ones.
/// [`Subscription::next_timeout`] blocks; [`Subscription::try_next`] with
/// [`Subscription::set_waker`] suits an async runtime. Dropping it unsubscribes.
pub struct Subscription {
    shared: Arc<Shared>,
    tenant: TenantId,
    live: Arc<LiveQueue>,
    /// The last event delivered (or the position before the first wanted one).
    after: Option<Cursor>,
    /// History to read from the WAL: records up to this LSN (those after it come live).
    history_through: Lsn,
    /// The next WAL record to read while catching up.
    next_history: Lsn,
    pending: VecDeque<ChangeEvent>,
}

impl Subscription {
    pub(crate) fn start(
        shared: Arc<Shared>,
        tenant: TenantId,
        from: FeedStart,
    ) -> Result<Self, FeedError> {
        let live = Arc::new(LiveQueue {
            tenant: tenant.clone(),
            inner: Mutex::new(LiveInner::default()),
            ready: Condvar::new(),
            waker: Mutex::new(None),
        });
        // Registered before the applied LSN is read: every record after it is published to
        // this queue; the ones at or before it are read from the WAL (duplicates dropped by
        // cursor).
        shared.feed.register(&live);
        let applied = shared.read_state().last_lsn;
        let oldest = oldest_held(&shared);
        let first_wanted = match from {
            FeedStart::Now => Lsn(applied.0 + 1),
            FeedStart::Oldest => oldest,
            FeedStart::AtLsn(lsn) => Lsn(lsn.0.max(1)),
            FeedStart::After(c) => c.lsn,
        };
        if first_wanted < oldest && first_wanted <= applied {
            return Err(FeedError::HistoryLost {
                requested: first_wanted.0,
                oldest: oldest.0,
            });
        }
        let after = match from {
            FeedStart::After(c) => Some(c),
            _ => None,
        };
        Ok(Self {
            shared,
            tenant,
            live,
            after,
            history_through: applied,
            next_history: first_wanted,
            pending: VecDeque::new(),
        })
    }

    /// The tenant.
    #[must_use]
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The cursor of the last event delivered (resume after it).
    #[must_use]
    pub fn cursor(&self) -> Option<Cursor> {
        self.after
    }

    /// Called (from the writer's thread) whenever live events arrive; for async callers that
    /// then call [`Subscription::try_next`]. Keep it cheap: wake a task, nothing more.
    pub fn set_waker(&self, waker: impl Fn() + Send + Sync + 'static) {
        *lock(&self.live.waker) = Some(Arc::new(waker));
    }

    /// The next event if one is ready (history reads WAL files: blocking I/O).
    ///
    /// # Errors
    /// [`FeedError::Lagged`] when the subscriber was cut, [`FeedError::Closed`] when the store
    /// closed (after every event before it), [`FeedError::HistoryLost`] when a checkpoint
    /// removed history not read yet, [`FeedError::Io`].
    pub fn try_next(&mut self) -> Result<Option<ChangeEvent>, FeedError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                if self.after.is_some_and(|a| event.cursor <= a) {
                    continue;
                }
                self.after = Some(event.cursor);
                return Ok(Some(event));
            }
            if self.next_history <= self.history_through {
                self.read_history()?;
                continue;
            }
            let mut inner = lock(&self.live.inner);
            if let Some(event) = inner.events.pop_front() {
                drop(inner);
                self.pending.push_back(event);
                continue;
            }
            if inner.lagged {
                return Err(FeedError::Lagged {
                    resume_after: self.after.map_or_else(
                        || format!("{}:0", self.history_through.0),
                        |c| c.to_string(),
                    ),
                });
            }
            if inner.closed {
                return Err(FeedError::Closed);
            }
            return Ok(None);
        }
    }

    /// The next event, waiting up to `timeout` for one (`None` when none came).
    ///
    /// # Errors
    /// As [`Subscription::try_next`].
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<ChangeEvent>, FeedError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.try_next()? {
                return Ok(Some(event));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let inner = lock(&self.live.inner);
            if inner.events.is_empty() && !inner.lagged && !inner.closed {
                let _ = self
                    .live
                    .ready
                    .wait_timeout(inner, deadline - now)
                    .map_err(|_| FeedError::Closed)?;
            }
        }
    }

    /// Reads the next WAL file's worth of history into `pending`.
    fn read_history(&mut self) -> Result<(), FeedError> {
        let files: Vec<(Lsn, u64)> = self
            .shared
            .wal_files()
            .iter()
            .map(|(f, l)| (*f, *l))
            .collect();
        let oldest = files.first().map_or(Lsn(u64::MAX), |(f, _)| *f);
        if self.next_history < oldest {
            return Err(FeedError::HistoryLost {
                requested: self.next_history.0,
                oldest: oldest.0,
            });
        }
        let Some(&(first, _)) = files.iter().rev().find(|(f, _)| *f <= self.next_history) else {
            return Err(FeedError::Io(
                "no WAL file holds the next record".to_owned(),
            ));
        };
        let path = wal::file_path(first);
        // Mapped, not copied: a WAL file is up to a checkpoint's worth of records.
        let bytes = match self.shared.storage.map(&path) {
            Ok(bytes) => bytes,
            // A checkpoint removed it meanwhile: history lost, unless it was fully read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(FeedError::HistoryLost {
                    requested: self.next_history.0,
                    oldest: oldest_held(&self.shared).0,
                })
            }
            Err(e) => return Err(FeedError::Io(format!("{}: {e}", path.display()))),
        };
        // The newest file may end in a record being written: that is not history yet.
        let scanned = wal::scan_file(
            Path::new(&path),
            &bytes,
            None,
            true,
            RecoveryMode::TolerateTornTail,
        )
        .map_err(|c| FeedError::Io(c.to_string()))?;
        let through = self.history_through;
        let wanted: Vec<&WalRecord> = scanned
            .records
            .iter()
            .filter(|r| r.lsn >= self.next_history && r.lsn <= through)
            .collect();
        let read_to = scanned.records.last().map_or(first, |r| r.lsn);
        let state = self.shared.read_state();
        let tenant = &self.tenant;
        let redact = |claim: &ClaimId, version: u32| {
            state.versions(tenant, claim).is_ok_and(|vs| {
                vs.iter()
                    .any(|v| v.version > version && matches!(v.body, VersionBody::Tombstone))
            })
        };
        for record in wanted {
            self.pending
                .extend(events_of(record, &self.tenant, Some(&redact)));
        }
        drop(state);
        if read_to < self.next_history && read_to < through {
            return Err(FeedError::Io(format!(
                "{} ends before LSN {}",
                path.display(),
                self.next_history.0
            )));
        }
        self.next_history = self.next_history.max(Lsn(read_to.0 + 1));
        Ok(())
    }
}

/// The oldest LSN the WAL files still hold.
fn oldest_held(shared: &Shared) -> Lsn {
    shared
        .wal_files()
        .keys()
        .next()
        .copied()
        .unwrap_or(Lsn(u64::MAX))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
