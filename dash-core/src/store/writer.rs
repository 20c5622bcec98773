//! The single WAL writer thread: sequences writes (LSN, recorded time, versions, commit-id
//! checks), appends them in groups, fsyncs once per group (group commit), applies them to the
//! in-memory state and completes each request.
//!
//! One thread owns the WAL file, so a write never waits on a lock held across an fsync, and
//! readers take the state lock only for the short apply step after the fsync.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use crate::codec::Encoder;
use crate::detect::record::TenantDerived;
use crate::error::{Corruption, PoisonCause, ValidationError, WriteError};
use crate::model::{micros, ClaimId, IngestItem, Lsn, TenantId, Timestamp};
use crate::wal::{self, RecordBody, WalRecord, WalWriter};

use super::builder::Durability;
use super::dims::Dimensions;
use super::Shared;

/// Most requests one group takes before it is written.
const MAX_GROUP_REQUESTS: usize = 4096;
/// Most bytes one group buffers before it is written.
const MAX_GROUP_BYTES: usize = 32 * 1024 * 1024;

/// The answer to a commit.
#[derive(Debug, Clone)]
pub(crate) struct CommitOutcome {
    pub(crate) lsn: Lsn,
    pub(crate) recorded_at: Timestamp,
    pub(crate) versions: Vec<u32>,
    pub(crate) replayed: bool,
}

/// The answer to a forget: LSN, recorded time and the tombstone's version.
pub(crate) type ForgetOutcome = (Lsn, Timestamp, u32);

/// What the checkpointer learns from a rotation.
#[derive(Debug)]
pub(crate) struct Rotated {
    /// Every record up to here is in the frozen memtables.
    pub(crate) watermark: Lsn,
    pub(crate) live_claims: u64,
    pub(crate) dims: Dimensions,
    pub(crate) last_recorded_at: Timestamp,
    pub(crate) detected_through: Lsn,
}

/// A request to the writer thread.
#[derive(Debug)]
pub(crate) enum Request {
    Commit(CommitRequest),
    Forget {
        tenant: TenantId,
        claim_id: ClaimId,
        reply: SyncSender<Result<ForgetOutcome, WriteError>>,
    },
    /// What the detection stage derived (answered once applied; never waits for an fsync).
    Derived {
        detected_through: Lsn,
        tenants: Vec<TenantDerived>,
        /// The model of the store-made vectors in `tenants`, with their dimension.
        model: Option<(String, usize)>,
        reply: SyncSender<Result<(), WriteError>>,
    },
    /// Sync, start a new WAL file and freeze the active memtable (for a checkpoint).
    Rotate(SyncSender<Result<Rotated, WriteError>>),
    /// Sync whatever is unsynced.
    Flush(SyncSender<Result<(), WriteError>>),
    /// Sync and stop.
    Shutdown(SyncSender<io::Result<()>>),
}

/// A validated, encoded commit.
#[derive(Debug)]
pub(crate) struct CommitRequest {
    pub(crate) tenant: TenantId,
    pub(crate) commit_id: Option<String>,
    pub(crate) items: Vec<Arc<IngestItem>>,
    /// `items` encoded back to back (the record body's tail).
    pub(crate) items_bytes: Vec<u8>,
    /// BLAKE3 of `items_bytes`: what makes a replay "the same content".
    pub(crate) digest: [u8; 32],
    pub(crate) reply: SyncSender<Result<CommitOutcome, WriteError>>,
}

enum Completion {
    Commit(SyncSender<Result<CommitOutcome, WriteError>>, CommitOutcome),
    Forget(SyncSender<Result<ForgetOutcome, WriteError>>, ForgetOutcome),
    Derived(SyncSender<Result<(), WriteError>>),
}

impl Completion {
    fn complete(self) {
        // A requester that gave up waiting is not an error of the write.
        match self {
            Completion::Commit(reply, outcome) => drop(reply.send(Ok(outcome))),
            Completion::Forget(reply, outcome) => drop(reply.send(Ok(outcome))),
            Completion::Derived(reply) => drop(reply.send(Ok(()))),
        }
    }

    fn fail(self, err: &io::Error) {
        let err = || WriteError::Io(io::Error::new(err.kind(), err.to_string()));
        match self {
            Completion::Commit(reply, _) => drop(reply.send(Err(err()))),
            Completion::Forget(reply, _) => drop(reply.send(Err(err()))),
            Completion::Derived(reply) => drop(reply.send(Err(err()))),
        }
    }
}

/// Requests sequenced but not yet written.
#[derive(Default)]
struct Group {
    framed: Vec<u8>,
    records: Vec<WalRecord>,
    completions: Vec<Completion>,
    /// Latest version (and tombstone flag) of keys written in this group.
    versions: HashMap<(TenantId, ClaimId), (u32, bool)>,
    commits: HashMap<(TenantId, String), ([u8; 32], CommitOutcome)>,
    /// Dimensions fixed by commits of this group (not yet applied to the state).
    dims: HashMap<TenantId, u32>,
    /// Embedding models fixed by commits of this group (not yet applied to the state).
    models: HashMap<TenantId, String>,
    /// True when a record of the group must be durable before it is answered (commits and
    /// forgets; derived records can always be derived again).
    must_sync: bool,
    requests: usize,
}

enum Barrier {
    Rotate(SyncSender<Result<Rotated, WriteError>>),
    Flush(SyncSender<Result<(), WriteError>>),
    Shutdown(SyncSender<io::Result<()>>),
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    wal: WalWriter,
    rx: Receiver<Request>,
    checkpoint_tx: Option<Sender<()>>,
    next_lsn: Lsn,
    last_recorded: Timestamp,
    unsynced_records: usize,
    unsynced_since: Option<Instant>,
    /// Applied records not yet synced (batched durability), held back from the change feed
    /// until they are durable: a crash could still lose them and give their LSNs to others.
    unpublished: Vec<WalRecord>,
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        wal: WalWriter,
        rx: Receiver<Request>,
        checkpoint_tx: Option<Sender<()>>,
    ) -> Self {
        let (next_lsn, last_recorded) = {
            let st = shared.read_state();
            (Lsn(st.last_lsn.0 + 1), st.last_recorded)
        };
        Self {
            shared,
            wal,
            rx,
            checkpoint_tx,
            next_lsn,
            last_recorded,
            unsynced_records: 0,
            unsynced_since: None,
            unpublished: Vec::new(),
        }
    }

    /// The thread's body: runs until a `Shutdown` or until every sender is gone.
    pub(crate) fn run(mut self) {
        while let Some(first) = self.next_request() {
            let started = Instant::now();
            let mut group = Group::default();
            let mut barrier = self.sequence(first, &mut group);
            while barrier.is_none()
                && group.requests < MAX_GROUP_REQUESTS
                && group.framed.len() < MAX_GROUP_BYTES
            {
                match self.rx.try_recv() {
                    Ok(request) => barrier = self.sequence(request, &mut group),
                    Err(_) => break,
                }
            }
            self.write_group(group);
            let stop = barrier.is_some_and(|b| self.handle_barrier(b));
            if !stop {
                self.maybe_request_checkpoint();
            }
            self.shared
                .metrics
                .writer_busy_micros
                .fetch_add(micros(started.elapsed()), Ordering::Relaxed);
            if stop {
                return;
            }
        }
        // Every sender is gone (the store was dropped without close): make Batched writes durable.
        let _ = self.sync_or_poison();
    }

    /// Waits for the next request; in `Batched` mode wakes up to honour `max_delay`.
    fn next_request(&mut self) -> Option<Request> {
        loop {
            let deadline = match (self.shared.config.durability, self.unsynced_since) {
                (Durability::Batched { max_delay, .. }, Some(since)) => Some(since + max_delay),
                _ => None,
            };
            let Some(deadline) = deadline else {
                return self.rx.recv().ok();
            };
            match self
                .rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(request) => return Some(request),
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.sync_or_poison();
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Frames one record's payload at `lsn` into the group's bytes and takes the LSN; a payload
    /// over the WAL's limit is refused and takes nothing.
    fn frame(&mut self, group: &mut Group, lsn: Lsn, payload: &[u8]) -> Result<(), WriteError> {
        if payload.len() > wal::MAX_PAYLOAD_LEN {
            return Err(WriteError::TooLarge {
                bytes: payload.len(),
                max: wal::MAX_PAYLOAD_LEN,
            });
        }
        wal::frame(&mut group.framed, lsn, payload);
        self.next_lsn = Lsn(lsn.0 + 1);
        Ok(())
    }

    fn next_recorded_at(&mut self) -> Timestamp {
        // Recorded time strictly increases with the LSN, even if the wall clock steps back.
        let now = Timestamp::now();
        let t = if now > self.last_recorded {
            now
        } else {
            Timestamp::from_unix_micros(self.last_recorded.as_unix_micros().saturating_add(1))
        };
        self.last_recorded = t;
        t
    }

    fn latest(
        &self,
        group: &Group,
        tenant: &TenantId,
        claim: &ClaimId,
    ) -> Result<Option<(u32, bool)>, Corruption> {
        match group.versions.get(&(tenant.clone(), claim.clone())) {
            Some(v) => Ok(Some(*v)),
            None => self.shared.read_state().latest(tenant, claim),
        }
    }

    /// Checks and sequences one request into the group; returns a barrier request.
    fn sequence(&mut self, request: Request, group: &mut Group) -> Option<Barrier> {
        group.requests += 1;
        match request {
            Request::Commit(c) => {
                // On success the group holds the request's completion.
                if let Err(e) = self.sequence_commit(&c, group) {
                    drop(c.reply.send(Err(e)));
                }
                None
            }
            Request::Forget {
                tenant,
                claim_id,
                reply,
            } => {
                match self.sequence_forget(&tenant, &claim_id, group) {
                    Ok(outcome) => group.completions.push(Completion::Forget(reply, outcome)),
                    Err(e) => drop(reply.send(Err(e))),
                }
                None
            }
            Request::Derived {
                detected_through,
                tenants,
                model,
                reply,
            } => {
                match self.sequence_derived(detected_through, tenants, model, group) {
                    Ok(()) => group.completions.push(Completion::Derived(reply)),
                    Err(e) => drop(reply.send(Err(e))),
                }
                None
            }
            Request::Rotate(reply) => Some(Barrier::Rotate(reply)),
            Request::Flush(reply) => Some(Barrier::Flush(reply)),
            Request::Shutdown(reply) => Some(Barrier::Shutdown(reply)),
        }
    }

    fn sequence_commit(&mut self, c: &CommitRequest, group: &mut Group) -> Result<(), WriteError> {
        self.shared.check_poison()?;
        if let Some(id) = &c.commit_id {
            let key = (c.tenant.clone(), id.clone());
            let earlier = match group.commits.get(&key) {
                Some((digest, outcome)) => Some((*digest, outcome.clone())),
                None => self.shared.read_state().commit(&c.tenant, id).map(|m| {
                    let outcome = CommitOutcome {
                        lsn: m.lsn,
                        recorded_at: m.recorded_at,
                        versions: m.versions.clone(),
                        replayed: true,
                    };
                    (m.digest, outcome)
                }),
            };
            if let Some((digest, mut outcome)) = earlier {
                if digest != c.digest {
                    return Err(WriteError::CommitConflict {
                        commit_id: id.clone(),
                    });
                }
                outcome.replayed = true;
                // Answered with the group, so a replay of a commit still in flight is only
                // acknowledged once the original is.
                group
                    .completions
                    .push(Completion::Commit(c.reply.clone(), outcome));
                return Ok(());
            }
        }

        let mut dim = group
            .dims
            .get(&c.tenant)
            .copied()
            .or_else(|| self.shared.read_state().dims.of(&c.tenant));
        for (index, item) in c.items.iter().enumerate() {
            if let Some(e) = &item.claim.embedding {
                match dim {
                    Some(d) if e.len() != d as usize => {
                        return Err(WriteError::Invalid {
                            index,
                            source: ValidationError::EmbeddingDimension {
                                expected: d,
                                found: e.len(),
                            },
                        })
                    }
                    Some(_) => {}
                    None => dim = u32::try_from(e.len()).ok(),
                }
            }
        }

        // Vectors of two models never mix in a tenant: the first named model is the tenant's;
        // after it, vectors must name it.
        let mut model: Option<String> = group.models.get(&c.tenant).cloned().or_else(|| {
            self.shared
                .read_state()
                .dims
                .model(&c.tenant)
                .map(str::to_owned)
        });
        for (index, item) in c.items.iter().enumerate() {
            if item.claim.embedding.is_none() {
                continue;
            }
            let named = item.claim.embedding_model.as_deref();
            match (&model, named) {
                (None, Some(m)) => model = Some(m.to_owned()),
                (Some(expected), found) if found != Some(expected.as_str()) => {
                    return Err(WriteError::Invalid {
                        index,
                        source: ValidationError::EmbeddingModel {
                            expected: Some(expected.clone()),
                            found: found.map(str::to_owned),
                        },
                    })
                }
                _ => {}
            }
        }

        let mut versions = Vec::with_capacity(c.items.len());
        let mut overlay: HashMap<&ClaimId, u32> = HashMap::new();
        for item in &c.items {
            let claim = &item.claim.claim_id;
            let prev = match overlay.get(claim) {
                Some(v) => Some(*v),
                None => self
                    .latest(group, &c.tenant, claim)
                    .map_err(WriteError::Corruption)?
                    .map(|(v, _)| v),
            };
            let v = prev.map_or(1, |p| p.saturating_add(1));
            overlay.insert(claim, v);
            versions.push(v);
        }

        let lsn = self.next_lsn;
        let recorded_at = self.next_recorded_at();
        let mut enc = Encoder::with_capacity(c.items_bytes.len() + 128);
        wal::CommitPayload {
            recorded_at,
            tenant: &c.tenant,
            commit_id: c.commit_id.as_deref(),
            digest: &c.digest,
            versions: &versions,
            items: &c.items_bytes,
        }
        .encode(&mut enc);
        self.frame(group, lsn, &enc.buf)?;

        if let Some(dim) = dim {
            group.dims.insert(c.tenant.clone(), dim);
        }
        if let Some(model) = model {
            group.models.insert(c.tenant.clone(), model);
        }
        group.must_sync = true;
        for (claim, v) in overlay {
            group
                .versions
                .insert((c.tenant.clone(), claim.clone()), (v, false));
        }
        let outcome = CommitOutcome {
            lsn,
            recorded_at,
            versions: versions.clone(),
            replayed: false,
        };
        if let Some(id) = &c.commit_id {
            group
                .commits
                .insert((c.tenant.clone(), id.clone()), (c.digest, outcome.clone()));
        }
        group.records.push(WalRecord {
            lsn,
            recorded_at,
            body: RecordBody::Commit {
                tenant: c.tenant.clone(),
                commit_id: c.commit_id.clone(),
                digest: c.digest,
                versions,
                items: c.items.clone(),
            },
        });
        group
            .completions
            .push(Completion::Commit(c.reply.clone(), outcome));
        Ok(())
    }

    fn sequence_forget(
        &mut self,
        tenant: &TenantId,
        claim_id: &ClaimId,
        group: &mut Group,
    ) -> Result<ForgetOutcome, WriteError> {
        self.shared.check_poison()?;
        let version = match self
            .latest(group, tenant, claim_id)
            .map_err(WriteError::Corruption)?
        {
            Some((v, false)) => v.saturating_add(1),
            _ => {
                return Err(WriteError::NotFound {
                    claim_id: claim_id.clone(),
                })
            }
        };
        let lsn = self.next_lsn;
        let recorded_at = self.next_recorded_at();
        let mut enc = Encoder::default();
        wal::encode_forget(&mut enc, recorded_at, tenant, claim_id, version);
        wal::frame(&mut group.framed, lsn, &enc.buf);
        self.next_lsn = Lsn(lsn.0 + 1);
        group
            .versions
            .insert((tenant.clone(), claim_id.clone()), (version, true));
        group.must_sync = true;
        group.records.push(WalRecord {
            lsn,
            recorded_at,
            body: RecordBody::Forget {
                tenant: tenant.clone(),
                claim_id: claim_id.clone(),
                version,
            },
        });
        Ok((lsn, recorded_at, version))
    }

    /// Sequences a derived record. Store-made vectors a tenant can no longer take (a caller's
    /// write fixed another model or dimension since the stage read it) are dropped here, so the
    /// log never holds mixed vectors.
    fn sequence_derived(
        &mut self,
        detected_through: Lsn,
        mut tenants: Vec<TenantDerived>,
        model: Option<(String, usize)>,
        group: &mut Group,
    ) -> Result<(), WriteError> {
        self.shared.check_poison()?;
        if let Some((model, dim)) = &model {
            for d in tenants.iter_mut().filter(|d| !d.vectors.is_empty()) {
                let (their_model, their_dim) = {
                    let st = self.shared.read_state();
                    (
                        group
                            .models
                            .get(&d.tenant)
                            .cloned()
                            .or_else(|| st.dims.model(&d.tenant).map(str::to_owned)),
                        group
                            .dims
                            .get(&d.tenant)
                            .copied()
                            .or_else(|| st.dims.of(&d.tenant)),
                    )
                };
                let fits = their_model.as_ref().is_none_or(|m| m == model)
                    && their_dim.is_none_or(|x| x as usize == *dim);
                if fits {
                    d.model = Some(model.clone());
                    group.models.insert(d.tenant.clone(), model.clone());
                    if let Ok(dim) = u32::try_from(*dim) {
                        group.dims.insert(d.tenant.clone(), dim);
                    }
                } else {
                    d.vectors.clear();
                    d.model = None;
                }
            }
        }
        tenants.retain(|d| !d.is_empty());
        let lsn = self.next_lsn;
        let recorded_at = self.next_recorded_at();
        let mut enc = Encoder::default();
        wal::encode_derived(&mut enc, recorded_at, detected_through, &tenants);
        self.frame(group, lsn, &enc.buf)?;
        group.records.push(WalRecord {
            lsn,
            recorded_at,
            body: RecordBody::Derived {
                detected_through,
                tenants,
            },
        });
        Ok(())
    }

    /// The state's write lock, counting the time spent waiting for it (behind readers) in
    /// [`StoreStats::writer_lock_wait_micros`](crate::StoreStats::writer_lock_wait_micros).
    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, super::state::State> {
        let asked = Instant::now();
        let guard = self.shared.write_state();
        self.shared
            .metrics
            .writer_lock_wait_micros
            .fetch_add(micros(asked.elapsed()), Ordering::Relaxed);
        guard
    }

    /// Writes the group, syncs as the durability mode says, applies it and answers it.
    fn write_group(&mut self, group: Group) {
        if group.records.is_empty() {
            // Only replays of commits already applied: nothing to wait for.
            group.completions.into_iter().for_each(Completion::complete);
            return;
        }
        let n = group.records.len();
        let result = self
            .wal
            .append(&group.framed)
            .inspect_err(|e| self.shared.poison(PoisonCause::wal_append(e)))
            .and_then(|()| {
                self.unsynced_records += n;
                self.unsynced_since.get_or_insert_with(Instant::now);
                let must_sync = match self.shared.config.durability {
                    // Derived records alone need no sync (detection can redo them), unless
                    // the change feed is to show them: it shows only durable records.
                    Durability::Strict => group.must_sync || self.shared.feed.has_subscribers(),
                    Durability::Batched { max_records, .. } => self.unsynced_records >= max_records,
                };
                if must_sync {
                    self.sync_or_poison()
                } else {
                    Ok(())
                }
            });
        self.shared
            .note_wal_len(self.wal.first_lsn(), self.wal.len());
        if let Err(e) = result {
            group.completions.into_iter().for_each(|c| c.fail(&e));
            return;
        }
        self.shared
            .metrics
            .records_written
            .fetch_add(n as u64, Ordering::Relaxed);
        let (applied, seal_wanted) = {
            let mut st = self.write_state();
            // What other threads waited for tenants' locks is not the writer's wait.
            st.catalog.take_tenant_wait();
            let applied = group.records.iter().try_for_each(|r| st.apply(r));
            // Behind queries of the tenants written: part of the writer's lock wait.
            let waited = st.catalog.take_tenant_wait();
            self.shared
                .metrics
                .writer_lock_wait_micros
                .fetch_add(micros(waited), Ordering::Relaxed);
            (applied, st.seal_wanted)
        };
        if seal_wanted {
            self.shared.wake_indexer();
        }
        let derived = group
            .records
            .iter()
            .any(|r| matches!(r.body, RecordBody::Derived { .. }));
        let commits = group
            .records
            .iter()
            .any(|r| matches!(r.body, RecordBody::Commit { .. }));
        self.shared.after_apply(commits, derived);
        if let Err(corruption) = applied {
            let e = io::Error::other(corruption.to_string());
            self.shared.poison(PoisonCause::Apply(corruption));
            group.completions.into_iter().for_each(|c| c.fail(&e));
            return;
        }
        // Visible to retrieval now. Subscribers get it once it is durable: at once when synced
        // (strict durability: before the writes are acknowledged), else with the next sync.
        if self.unsynced_records == 0 {
            self.publish_unpublished();
            self.shared.feed.publish(&group.records);
        } else if self.shared.feed.has_subscribers() {
            self.unpublished.extend(group.records.iter().cloned());
        }
        group.completions.into_iter().for_each(Completion::complete);
    }

    /// [`Self::sync_unsynced`], poisoning the store when the sync fails (what was written since
    /// the last sync may be lost).
    fn sync_or_poison(&mut self) -> io::Result<()> {
        self.sync_unsynced()
            .inspect_err(|e| self.shared.poison(PoisonCause::wal_sync(e)))
    }

    fn sync_unsynced(&mut self) -> io::Result<()> {
        if self.unsynced_records == 0 {
            return Ok(());
        }
        self.wal.sync()?;
        self.shared
            .metrics
            .wal_syncs
            .fetch_add(1, Ordering::Relaxed);
        self.unsynced_records = 0;
        self.unsynced_since = None;
        self.publish_unpublished();
        Ok(())
    }

    /// Hands the records a sync made durable to the change feed.
    fn publish_unpublished(&mut self) {
        if !self.unpublished.is_empty() {
            let records = std::mem::take(&mut self.unpublished);
            self.shared.feed.publish(&records);
        }
    }

    /// Handles a barrier; returns true when the thread must stop.
    fn handle_barrier(&mut self, barrier: Barrier) -> bool {
        match barrier {
            Barrier::Flush(reply) => {
                let result = self
                    .shared
                    .check_poison()
                    .and_then(|()| self.sync_or_poison().map_err(WriteError::Io));
                drop(reply.send(result));
                false
            }
            Barrier::Rotate(reply) => {
                drop(reply.send(self.rotate()));
                false
            }
            Barrier::Shutdown(reply) => {
                let result = if self.shared.poisoned.get().is_some() {
                    Ok(())
                } else {
                    self.sync_unsynced()
                };
                drop(reply.send(result));
                true
            }
        }
    }

    fn rotate(&mut self) -> Result<Rotated, WriteError> {
        self.shared.check_poison()?;
        self.sync_or_poison().map_err(WriteError::Io)?;
        // A file that holds no record yet already starts at the next LSN: keep it.
        if self.wal.first_lsn() != self.next_lsn {
            self.wal.rotate(self.next_lsn).map_err(|e| {
                self.shared.poison(PoisonCause::wal_rotate(&e));
                WriteError::Io(e)
            })?;
            self.shared
                .note_wal_len(self.wal.first_lsn(), self.wal.len());
        }
        let mut st = self.write_state();
        st.freeze_active();
        Ok(Rotated {
            watermark: Lsn(self.next_lsn.0 - 1),
            live_claims: st.live_claims,
            dims: st.dims.clone(),
            last_recorded_at: st.last_recorded,
            detected_through: st.detected_through,
        })
    }

    fn maybe_request_checkpoint(&mut self) {
        let Some(tx) = &self.checkpoint_tx else {
            return;
        };
        let config = &self.shared.config;
        // Files rotate at every checkpoint, so the current file holds what came since.
        let records = self.next_lsn.0 - self.wal.first_lsn().0;
        let due = self.wal.len() >= config.checkpoint_wal_bytes
            || records >= config.checkpoint_wal_records;
        if due
            && !self
                .shared
                .checkpoint_requested
                .swap(true, Ordering::AcqRel)
        {
            let _ = tx.send(());
        }
    }
}
