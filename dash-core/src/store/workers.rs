//! The store's background threads — the checkpointer, the indexer, the detection stage and the
//! WAL writer — started in one place, in one order, and stopped in the reverse dependency order.
//!
//! Each worker is a named thread that ends when its channel closes (or, for the writer, on a
//! `Shutdown` request), so stopping one is: close its channel, join it. The indexer is the one
//! exception: it is not joined (a graph build in progress may take minutes); it holds only a
//! weak handle on the store, ends when its channel closes, and writes no graph file after
//! close (`Shared::graph_files_closed`).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::writer::{self, Request};
use super::{checkpoint, indexer, lock, Shared};
use crate::detect::stage::{Stage, StageMsg};
use crate::error::{CloseError, OpenError};
use crate::retrieve::image;
use crate::wal::WalWriter;

/// The joined workers' handles.
#[derive(Debug, Default)]
pub(super) struct Workers {
    writer: Option<JoinHandle<()>>,
    checkpointer: Option<JoinHandle<()>>,
    checkpoint_tx: Option<Sender<()>>,
    stage: Option<JoinHandle<()>>,
}

/// Starts a named worker thread.
fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, OpenError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map_err(|source| OpenError::Io {
            path: PathBuf::new(),
            source,
        })
}

impl Workers {
    /// Starts every worker of a just-recovered store (the indexer with what the open
    /// prefetched); `tx`/`rx` are the writer's request channel.
    pub(super) fn start(
        shared: &Arc<Shared>,
        wal: WalWriter,
        prefetch: Option<indexer::Prefetch>,
        tx: &Sender<Request>,
        rx: Receiver<Request>,
    ) -> Result<Self, OpenError> {
        let mut workers = Self::default();
        if shared.config.auto_checkpoint {
            let (ck_tx, ck_rx) = mpsc::channel::<()>();
            let (ck_shared, ck_writer) = (Arc::clone(shared), tx.clone());
            workers.checkpointer = Some(spawn("dash-checkpoint", move || {
                run_checkpointer(&ck_shared, &ck_writer, &ck_rx);
            })?);
            workers.checkpoint_tx = Some(ck_tx);
        }
        let (ix_tx, ix_rx) = mpsc::channel::<()>();
        let weak = Arc::downgrade(shared);
        let (segments, replayed) = {
            let st = shared.read_state();
            (st.segments.clone(), st.last_lsn)
        };
        // Before any write: an image holding records the WAL no longer has would otherwise fit
        // a later open whose new records reuse their numbers.
        image::discard_if_ahead(shared.storage.as_ref(), replayed).map_err(|source| {
            OpenError::Io {
                path: PathBuf::from(image::IMAGE_FILE),
                source,
            }
        })?;
        // Not joined (see the module's note).
        spawn("dash-indexer", move || {
            indexer::run_indexer(weak, ix_rx, segments, replayed, prefetch);
        })?;
        *lock(&shared.indexer) = Some(ix_tx);
        // Segments indexed at open may already be due for sealing.
        shared.wake_indexer();
        let (stage_tx, stage_rx) = mpsc::channel::<StageMsg>();
        let stage = Stage::new(Arc::downgrade(shared), tx.clone());
        workers.stage = Some(spawn("dash-detect", move || stage.run(&stage_rx))?);
        *lock(&shared.stage) = Some(stage_tx);
        let writer =
            writer::Writer::new(Arc::clone(shared), wal, rx, workers.checkpoint_tx.clone());
        workers.writer = Some(spawn("dash-wal-writer", move || writer.run())?);
        Ok(workers)
    }

    /// Stops and joins the workers. Returns whether the writer was still running (so this is
    /// the close that ended it).
    ///
    /// # Errors
    /// [`CloseError::ThreadPanicked`] if a worker panicked; else [`CloseError::Io`] if the
    /// writer's final sync failed.
    pub(super) fn stop(
        &mut self,
        shared: &Shared,
        tx: &Sender<Request>,
    ) -> Result<bool, CloseError> {
        let mut panicked = false;
        let mut synced = Ok(());
        // The writer first: a checkpoint waiting on it gets `Closed`, and the writer's handle on
        // the checkpoint channel goes away with it, so the checkpointer can then stop.
        let closing = self.writer.is_some();
        if let Some(h) = self.writer.take() {
            let (reply, answer) = mpsc::sync_channel(1);
            if tx.send(Request::Shutdown(reply)).is_ok() {
                if let Ok(Err(e)) = answer.recv() {
                    synced = Err(CloseError::Io(e));
                }
            }
            panicked |= h.join().is_err();
        }
        self.checkpoint_tx = None;
        if let Some(h) = self.checkpointer.take() {
            panicked |= h.join().is_err();
        }
        // The stage stops once its channel closes (work in flight is derived again at open).
        *lock(&shared.stage) = None;
        if let Some(h) = self.stage.take() {
            panicked |= h.join().is_err();
        }
        if panicked {
            return Err(CloseError::ThreadPanicked);
        }
        synced.map(|()| closing)
    }
}

/// The checkpointer: one checkpoint per wake-up (the writer asks when the WAL has grown), until
/// its channel closes.
fn run_checkpointer(shared: &Shared, writer: &Sender<Request>, wake: &Receiver<()>) {
    while wake.recv().is_ok() {
        let result = checkpoint::checkpoint(shared, writer);
        *lock(&shared.last_checkpoint_error) = result.err().map(|e| e.to_string());
        shared.checkpoint_requested.store(false, Ordering::Release);
    }
}
