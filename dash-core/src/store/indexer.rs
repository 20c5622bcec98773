//! The background indexer thread: at open it builds the segments' retrieval indexes off the
//! state lock and swaps them in; then it seals a tenant's exact dense part into an HNSW graph
//! when the writer asks, and merges a tenant's graphs once writes pause.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Weak};
use std::time::Duration;

use super::state::State;
use super::{lock, Shared};
use crate::model::{Lsn, TenantId, Timestamp};
use crate::retrieve::graph_files::{self, Saved};
use crate::retrieve::image;
use crate::retrieve::{Catalog, Fold, SealPlan};
use crate::segment::Segment;
use crate::storage::Storage;

/// What the indexer reads first at open — the saved graphs and the catalog image, each
/// verified whole (BLAKE3) — read on a thread of its own while the open replays the WAL
/// ([`Prefetch::start`]): on one core, the replay left the other idle, and at 1M claims the
/// two files' verification (~0.4 s) came after the open returned, before the first answer.
pub(super) struct Prefetch(std::thread::JoinHandle<Prefetched>);

/// What a [`Prefetch`] read.
pub(super) struct Prefetched {
    graphs: (Vec<Saved>, graph_files::LoadReport),
    image: Result<Option<image::Verified>, String>,
}

impl Prefetched {
    fn read(storage: &dyn Storage, params: crate::index::HnswParams) -> Self {
        Self {
            graphs: graph_files::read(storage, params),
            image: image::verify(storage),
        }
    }
}

impl Prefetch {
    /// Starts reading; `None` when no thread starts (the indexer reads them itself then).
    /// Only reads: nothing the open does meanwhile writes these files, and a failed open
    /// leaves the thread to finish on its own.
    pub(super) fn start(
        storage: Arc<dyn Storage>,
        params: crate::index::HnswParams,
    ) -> Option<Self> {
        std::thread::Builder::new()
            .name("dash-prefetch".into())
            .spawn(move || Prefetched::read(storage.as_ref(), params))
            .ok()
            .map(Self)
    }
}

/// At most this many queued catalog changes are indexed under the state lock when the indexer
/// swaps in the catalog it built at open.
const ABSORB_UNDER_LOCK: usize = 4096;

/// The background dense indexer: plans a seal under the state lock, builds the HNSW graph with
/// no lock held, installs it under the lock. It holds the store weakly, so closing the store
/// never waits for a build (an unfinished build is dropped).
pub(super) fn run_indexer(
    shared: Weak<Shared>,
    rx: mpsc::Receiver<()>,
    segments: Vec<Arc<Segment>>,
    replayed_through: Lsn,
    prefetch: Option<Prefetch>,
) {
    // First the sealed segments' indexes (queries wait for them), then seals on demand.
    // Should this thread stop before the indexes are in (a bug: a panic), waiting queries get
    // `QueryError::IndexUnavailable` instead of waiting forever.
    let mut guard = ReadyGuard(Some(shared.clone()));
    // A closed store (no strong reference left) cancels the builds.
    let closed = || shared.strong_count() == 0;
    let Some((queueing, detected_through, storage, params)) = shared.upgrade().map(|s| {
        let through = lock(&s.checkpoint).manifest.detected_through;
        let storage = Arc::clone(&s.storage);
        (s.config.stage_queues(), through, storage, s.config.hnsw)
    }) else {
        return;
    };
    // The graphs saved before this open and the image, read and verified off the lock (by the
    // open's prefetch, while the WAL replayed, when it started).
    let Prefetched {
        graphs: (mut saved, mut graphs),
        image: verified,
    } = prefetch
        .and_then(|p| p.0.join().ok())
        .unwrap_or_else(|| Prefetched::read(storage.as_ref(), params));
    // The image the last close wrote, when it fits this open; else the segments, indexed.
    // A tenant of the image that fails to decode later (a defect: the image passed its
    // checksum) makes every query fail from then on rather than answer from an empty index, and
    // removes the image, so the next open indexes the segments.
    let fault: image::Fault = {
        let shared = shared.clone();
        let storage = Arc::clone(&storage);
        Arc::new(move |why: String| {
            let _ = image::remove(storage.as_ref());
            if let Some(s) = shared.upgrade() {
                *lock(&s.last_index_error) = Some(why.clone());
                s.set_index_readiness(Err(format!("{why}; reopen the store to rebuild")));
            }
        })
    };
    let (built, from_image) = match from_image(
        storage.as_ref(),
        verified,
        &segments,
        replayed_through,
        queueing,
        &mut saved,
        fault,
    ) {
        Ok((catalog, attached)) => {
            graphs.loaded += attached;
            (Ok(Some(catalog)), true)
        }
        Err(unused) => {
            if let (Some(why), Some(s)) = (unused, shared.upgrade()) {
                *lock(&s.catalog_image_unused) = Some(why);
            }
            let held = graph_files::held_docs(&saved);
            let mut built =
                Catalog::from_segments(&segments, &closed, queueing, detected_through, held);
            if let Ok(Some(catalog)) = &mut built {
                graph_files::discard_misfits(catalog, &mut saved, &mut graphs, &segments);
            }
            (built, false)
        }
    };
    drop(segments);
    let mut saved = Some(saved);
    let Some(s) = shared.upgrade() else {
        return;
    };
    let readiness = match built {
        Ok(None) => return,
        Ok(Some(mut catalog)) => {
            // Changes queued meanwhile (WAL replay, new writes) are applied in chunks taken under
            // the lock and indexed outside it; only the last small chunk is indexed under it.
            // Graphs an image did not name are checked against the catalog once it holds the
            // WAL's documents too (graphs include them).
            loop {
                let mut st = s.write_state();
                if st.catalog.pending() <= ABSORB_UNDER_LOCK {
                    catalog.absorb(&mut st.catalog);
                    graph_files::adopt(&mut catalog, saved.take().unwrap_or_default(), &mut graphs);
                    catalog.restore_awaited_vectors(&st.segments);
                    st.install_catalog(catalog);
                    break;
                }
                let mut queued = st.take_deferred();
                drop(st);
                catalog.absorb_some(&mut queued);
                if shared.strong_count() == 1 {
                    return; // only this thread still holds the store: it was closed
                }
            }
            if from_image {
                s.catalog_image_loaded.store(true, Ordering::Relaxed);
                let unresolved = s.read_state().catalog.unresolved();
                if unresolved > 0 {
                    *lock(&s.last_index_error) = Some(format!(
                        "catalog image: {unresolved} documents found no content in the WAL replay"
                    ));
                }
            }
            Ok(())
        }
        Err(e) => Err(format!("indexing the segments failed: {e}")),
    };
    s.metrics
        .graphs_loaded
        .fetch_add(graphs.loaded, Ordering::Relaxed);
    let discarded = graphs.discarded.len() as u64;
    s.metrics
        .graphs_discarded
        .fetch_add(discarded, Ordering::Relaxed);
    // Unusable graph files go before the store says it is ready (off the state lock), so that
    // whoever waits for the indexes sees them gone.
    graph_files::remove_discarded(storage.as_ref(), &graphs);
    s.set_index_readiness(readiness);
    guard.0 = None;
    // The image's tenants are decoded when first touched; the rest here, off every lock, so
    // that later queries do not pay for it.
    let cells = if from_image {
        s.read_state().catalog.cells()
    } else {
        Vec::new()
    };
    drop(s);
    decode_all(&cells, &closed);
    drop(cells);
    // Builds run on a thread pool of their own: on rayon's global pool a build of minutes would
    // hold every worker, and the checkpointer's BLAKE3 of a new segment (rayon too) would wait
    // for it whole — checkpoints stalled, memtables and the WAL grew (measured: 2 checkpoints
    // instead of 8 in a 1M load). Should the pool not start, builds use the global one.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(rayon::current_num_threads())
        .thread_name(|i| format!("dash-graph-{i}"))
        .build()
        .ok();
    // Seals when the writer asks; merges of a tenant's graphs once writes have paused.
    let merge_idle = shared.upgrade().and_then(|s| s.config.dense_merge_idle);
    let poll = merge_idle.map(|d| d.clamp(Duration::from_millis(10), Duration::from_secs(1)));
    loop {
        let woken = match poll {
            None => match rx.recv() {
                Ok(()) => true,
                Err(_) => return,
            },
            Some(poll) => match rx.recv_timeout(poll) {
                Ok(()) => true,
                Err(mpsc::RecvTimeoutError::Timeout) => false,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            },
        };
        // Seals first, whenever one is due; merges only on a quiet poll.
        loop {
            let Some(s) = shared.upgrade() else {
                return;
            };
            let params = s.config.hnsw;
            // Changes waiting in inboxes first, so that what is due is seen whole.
            s.apply_inboxes();
            let job = next_build(&mut s.write_state(), if woken { None } else { merge_idle });
            drop(s);
            let Some((tenant, plan)) = job else {
                break;
            };
            // A panic in a build must not end the indexer: it counts as a failed build.
            let build = || plan.build(params, &|| shared.strong_count() == 0);
            let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &pool {
                Some(pool) => pool.install(build),
                None => build(),
            }))
            .unwrap_or_else(|_| Err(crate::index::VectorError::Backend("build panicked".into())));
            let Some(s) = shared.upgrade() else {
                return;
            };
            match built {
                Ok((graph, inserted)) => {
                    s.metrics
                        .graph_inserts
                        .fetch_add(inserted, Ordering::Relaxed);
                    {
                        let mut st = s.write_state();
                        st.catalog.install(&tenant, &plan, Some(graph));
                        // Under the lock: whoever sees the build done sees the save pending.
                        s.graphs_saving.store(true, Ordering::Release);
                    }
                    s.metrics.index_builds.fetch_add(1, Ordering::Relaxed);
                    save_graphs(&s, &tenant);
                    s.graphs_saving.store(false, Ordering::Release);
                }
                Err(crate::index::VectorError::Cancelled) => return,
                Err(e) => {
                    s.write_state().catalog.install(&tenant, &plan, None);
                    *lock(&s.last_index_error) = Some(format!("tenant {tenant}: {e}"));
                }
            }
        }
    }
}

/// Decodes every cell not decoded yet, on plain threads (one per core), until `closed`. Not on
/// rayon's pool: a decode waits for a cell another thread is decoding (`OnceLock`), and that
/// decode runs its parts on the pool (`rayon::join`) — a pool worker waiting there could leave
/// no worker to run them.
fn decode_all(
    cells: &[crate::retrieve::catalog::SharedTenant],
    closed: &(dyn Fn() -> bool + Sync),
) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(cells.len()) {
            scope.spawn(|| {
                while let Some(cell) = cells.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if closed() {
                        return;
                    }
                    cell.decode_now();
                }
            });
        }
    });
}

/// The catalog from the store's image ([`image`]), with the graph files it names taken out of
/// `saved` and attached (and how many); `Err(None)` when there is no image, `Err(Some(why))`
/// when it cannot serve this open (it is removed then: it never will).
fn from_image(
    storage: &dyn Storage,
    verified: Result<Option<image::Verified>, String>,
    segments: &[Arc<Segment>],
    replayed_through: Lsn,
    queueing: bool,
    saved: &mut Vec<Saved>,
    fault: image::Fault,
) -> Result<(Catalog, u64), Option<String>> {
    let unusable = |why: String| {
        let _ = image::remove(storage);
        Some(format!("catalog image not used: {why}"))
    };
    let loaded = match verified
        .map(|v| v.map(|v| image::read(v, segments, replayed_through, queueing, fault)))
    {
        Ok(Some(Ok(loaded))) => loaded,
        Ok(None) => return Err(None),
        Err(why) | Ok(Some(Err(why))) => return Err(unusable(why)),
    };
    let mut catalog = loaded.catalog;
    // Every named graph is checked before any leaves `saved`: should one not fit, the open
    // indexes the segments and adopts all of them as usual.
    let mut wanted = Vec::new();
    for (tenant, names) in &loaded.graphs {
        for name in names {
            let Some(g) = saved.iter().find(|g| g.is(tenant, name)) else {
                return Err(unusable(format!("graph file {name} is missing or damaged")));
            };
            graph_files::check_attach(&catalog, g).map_err(unusable)?;
            wanted.push((tenant, name));
        }
    }
    let attached = wanted.len() as u64;
    for (tenant, name) in wanted {
        if let Some(at) = saved.iter().position(|g| g.is(tenant, name)) {
            graph_files::attach(&mut catalog, saved.swap_remove(at));
        }
    }
    Ok((catalog, attached))
}

/// Saves `tenant`'s graphs to their files. They are a cache (an open rebuilds what it cannot
/// load), so a failure is reported in `last_index_error`, not fatal. Nothing is written once
/// the store is closing: `Store::close` waits for a save in progress, then releases the
/// directory.
fn save_graphs(s: &Shared, tenant: &TenantId) {
    let closing = lock(&s.graph_files_closed);
    if *closing {
        return;
    }
    let graphs = s.with_tenant(tenant, |index| {
        index.map_or_else(Vec::new, |t| t.graphs_to_save())
    });
    match graph_files::save(s.storage.as_ref(), tenant, &graphs) {
        Ok(views) if !views.is_empty() => {
            let mut st = s.write_state();
            for (built, view) in views {
                st.catalog.replace_graph(tenant, &built, view);
            }
        }
        Ok(_) => {}
        Err(e) => {
            *lock(&s.last_index_error) = Some(format!("saving tenant {tenant}'s graphs: {e}"));
        }
    }
}

/// The indexer's next build, planned (the tenant marked building): a due seal first, else, when
/// `merge_idle` is given and no write has been applied for that long, a merge of a tenant's
/// graphs.
fn next_build(st: &mut State, merge_idle: Option<Duration>) -> Option<(TenantId, SealPlan)> {
    st.take_seal_request();
    let threshold = st.seal_threshold;
    let seal = st.catalog.seal_candidates(threshold).into_iter().next();
    // `last_recorded` is `Timestamp::MIN` before the first write.
    let idle_micros = Timestamp::now()
        .as_unix_micros()
        .saturating_sub(st.last_recorded.as_unix_micros());
    let quiet =
        merge_idle.is_some_and(|d| idle_micros >= i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let (tenant, fold) = match seal {
        Some(t) => (t, Fold::Tiered),
        None if quiet => (st.catalog.merge_candidates().into_iter().next()?, Fold::All),
        None => return None,
    };
    let plan = st.catalog.plan_seal(&tenant, fold)?;
    Some((tenant, plan))
}

/// Marks the open-time indexes as unavailable if the indexer stops before they are in.
struct ReadyGuard(Option<Weak<Shared>>);

impl Drop for ReadyGuard {
    fn drop(&mut self) {
        if let Some(s) = self.0.take().and_then(|w| w.upgrade()) {
            let (state, _) = &s.index_ready;
            if lock(state).is_none() {
                s.set_index_readiness(Err(
                    "the indexer stopped before the indexes were built".into()
                ));
            }
        }
    }
}
