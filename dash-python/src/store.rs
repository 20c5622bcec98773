//! `Store`: the embedded store, its calls made without the GIL.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use dash_core::{ClaimId, IngestItem, MemStorage, Store, TenantId};
use pyo3::prelude::*;
use pyo3::types::PyAny;
use pythonize::{depythonize, pythonize};
use serde::Serialize;

use crate::errors::{invalid, raise, IntoPyErr};
use crate::options::{OpenOptions, QueryOptions, Refused};

/// An open DASH store (in a directory, or in memory with `path=None`).
#[pyclass(name = "Store", module = "dash_memory._native", frozen)]
pub(crate) struct PyStore {
    /// `None` once closed. Calls clone the `Arc` and let the lock go before they run, so a
    /// long call never holds it.
    inner: RwLock<Option<Arc<Store>>>,
}

impl PyStore {
    /// The open store, or `StoreUnavailableError` once closed.
    fn store(&self, py: Python<'_>) -> PyResult<Arc<Store>> {
        let guard = self
            .inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard
            .clone()
            .ok_or_else(|| raise(py, dash_core::ErrorKind::Unavailable, "the store is closed"))
    }
}

impl PyStore {
    /// Runs `call` on the store and one claim's ids, without the GIL.
    fn on_claim<T: Send, E: Send>(
        &self,
        py: Python<'_>,
        tenant_id: String,
        claim_id: String,
        call: impl FnOnce(&Store, &TenantId, &ClaimId) -> Result<T, E> + Send,
    ) -> PyResult<Result<T, E>> {
        let store = self.store(py)?;
        let (tenant, claim) = (TenantId::new(tenant_id), ClaimId::new(claim_id));
        Ok(py.detach(move || call(&store, &tenant, &claim)))
    }
}

/// An answer as the JSON value the HTTP API would send, made without the GIL. Through JSON text
/// on purpose: `f32` fields (scores, confidences) are written as their shortest decimal (0.95,
/// not 0.949999988079071), as the server writes them, and read back as the `f64` a Python user
/// would have typed.
pub(crate) fn plain<T: Serialize>(value: &T) -> Result<serde_json::Value, String> {
    serde_json::to_vec(value)
        .and_then(|bytes| serde_json::from_slice(&bytes))
        .map_err(|e| format!("encoding the answer failed: {e}"))
}

/// A JSON value as a Python object (dicts, lists, str, int, float, bool, None).
pub(crate) fn to_py(
    py: Python<'_>,
    value: Result<serde_json::Value, String>,
) -> PyResult<Bound<'_, PyAny>> {
    let value = value.map_err(|e| raise(py, dash_core::ErrorKind::Unavailable, e))?;
    pythonize(py, &value).map_err(PyErr::from)
}

/// A store call's result as a Python object: the answer, or the error's exception.
fn answer<'py, E: IntoPyErr>(
    py: Python<'py>,
    result: Result<Result<serde_json::Value, String>, E>,
) -> PyResult<Bound<'py, PyAny>> {
    to_py(py, result.map_err(|e| e.into_py_err(py))?)
}

/// An ingest item from the HTTP contract's dict (`{"claim": {...}, "evidence": [...],
/// "edges": [...]}`); a refusal names the field.
fn item(py: Python<'_>, value: &Bound<'_, PyAny>, at: Option<usize>) -> PyResult<IngestItem> {
    depythonize::<IngestItem>(value).map_err(|e| {
        let place = at.map_or_else(String::new, |i| format!("item {i}: "));
        invalid(py, format!("{place}{e}"))
    })
}

#[pymethods]
impl PyStore {
    /// Opens (or creates) the store at `path`; `path=None` opens one in memory.
    #[new]
    #[pyo3(signature = (
        path=None, *, durability=None, batch_max_records=None, batch_max_delay_ms=None,
        allow_unsafe_durability=false, recovery_mode=None, embedding_dimension=None,
        auto_checkpoint=None, checkpoint_wal_bytes=None, checkpoint_wal_records=None,
        feed_retention_bytes=None, max_segments=None, dense_seal_threshold=None, detection=true, embedder_dir=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: Option<std::path::PathBuf>,
        durability: Option<String>,
        batch_max_records: Option<usize>,
        batch_max_delay_ms: Option<u64>,
        allow_unsafe_durability: bool,
        recovery_mode: Option<String>,
        embedding_dimension: Option<u32>,
        auto_checkpoint: Option<bool>,
        checkpoint_wal_bytes: Option<u64>,
        checkpoint_wal_records: Option<u64>,
        feed_retention_bytes: Option<u64>,
        max_segments: Option<usize>,
        dense_seal_threshold: Option<usize>,
        detection: bool,
        embedder_dir: Option<String>,
    ) -> PyResult<Self> {
        let options = OpenOptions {
            durability,
            batch_max_records,
            batch_max_delay_ms,
            allow_unsafe_durability,
            recovery_mode,
            embedding_dimension,
            auto_checkpoint,
            checkpoint_wal_bytes,
            checkpoint_wal_records,
            feed_retention_bytes,
            max_segments,
            dense_seal_threshold,
            detection,
            embedder_dir,
        };
        let opened = py.detach(move || {
            let builder = match path {
                Some(dir) => Store::builder(dir),
                None => Store::builder_with_storage(Arc::new(MemStorage::new())),
            };
            options
                .apply(builder)
                .map(|b| b.open().map_err(Opened::Failed))
                .unwrap_or_else(|refused| Err(Opened::Refused(refused)))
        });
        match opened {
            Ok(store) => Ok(Self {
                inner: RwLock::new(Some(Arc::new(store))),
            }),
            Err(Opened::Refused(r)) => Err(r.into_py_err(py)),
            Err(Opened::Failed(e)) => Err(e.into_py_err(py)),
        }
    }

    /// Ingests one item (the HTTP contract's dict); returns the receipt as a dict.
    fn ingest<'py>(
        &self,
        py: Python<'py>,
        item_: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let item = item(py, item_, None)?;
        let store = self.store(py)?;
        answer(py, py.detach(move || store.ingest(item).map(|r| plain(&r))))
    }

    /// Ingests `items` of one tenant atomically under the idempotency key `commit_id`.
    fn ingest_batch<'py>(
        &self,
        py: Python<'py>,
        commit_id: String,
        items: Vec<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let items = items
            .iter()
            .enumerate()
            .map(|(i, v)| item(py, v, Some(i)))
            .collect::<PyResult<Vec<_>>>()?;
        let store = self.store(py)?;
        answer(
            py,
            py.detach(move || store.ingest_batch(commit_id, items).map(|r| plain(&r))),
        )
    }

    /// The current version of a claim with its evidence, edges and history; `None` when it
    /// does not exist or is forgotten.
    fn get_claim<'py>(
        &self,
        py: Python<'py>,
        tenant_id: String,
        claim_id: String,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let record = self.on_claim(py, tenant_id, claim_id, |store, t, c| {
            store.get_claim(t, c).map(|r| r.map(|r| plain(&r)))
        })?;
        match record.map_err(|e| e.into_py_err(py))? {
            Some(r) => to_py(py, r).map(Some),
            None => Ok(None),
        }
    }

    /// Every kept version of a claim, oldest first (a forget's tombstone included).
    fn versions<'py>(
        &self,
        py: Python<'py>,
        tenant_id: String,
        claim_id: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let versions = self.on_claim(py, tenant_id, claim_id, |store, t, c| {
            store.versions(t, c).map(|v| plain(&v))
        })?;
        answer(py, versions)
    }

    /// Forgets a claim: a tombstone version; its text leaves retrieval at once.
    fn forget<'py>(
        &self,
        py: Python<'py>,
        tenant_id: String,
        claim_id: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let receipt = self.on_claim(py, tenant_id, claim_id, |store, t, c| {
            store.forget(t, c).map(|r| plain(&r))
        })?;
        answer(py, receipt)
    }

    /// Subscribes to `tenant_id`'s change feed: from `after` (a cursor, exclusive), else
    /// `from_lsn` (an LSN, inclusive, or "oldest"), else from now on.
    #[pyo3(signature = (tenant_id, from_lsn=None, after=None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        tenant_id: String,
        from_lsn: Option<&Bound<'_, PyAny>>,
        after: Option<String>,
    ) -> PyResult<crate::feed::PySubscription> {
        use dash_core::feed::{Cursor, FeedStart};
        let start = match (after, from_lsn) {
            (Some(cursor), _) => FeedStart::After(
                cursor
                    .parse::<Cursor>()
                    .map_err(|e| invalid(py, format!("after: {e}")))?,
            ),
            (None, Some(v)) if v.extract::<String>().is_ok_and(|s| s == "oldest") => {
                FeedStart::Oldest
            }
            (None, Some(v)) => {
                FeedStart::AtLsn(dash_core::Lsn(v.extract::<u64>().map_err(|_| {
                    invalid(py, "from_lsn must be a non-negative integer or \"oldest\"")
                })?))
            }
            (None, None) => FeedStart::Now,
        };
        let store = self.store(py)?;
        let tenant = TenantId::new(tenant_id);
        let sub = py
            .detach(move || store.subscribe(&tenant, start))
            .map_err(|e| e.into_py_err(py))?;
        Ok(crate::feed::PySubscription::new(sub))
    }

    /// Retrieves the claims that answer a query in `tenant_id`; the answer unconverted (its
    /// fields become Python values when read).
    #[pyo3(signature = (
        tenant_id, text=None, *, embedding=None, top_k=None, stance_mode=None, as_of=None,
        recorded_as_of=None, entities=Vec::new(), sources=Vec::new(), metadata=BTreeMap::new(),
        graph_depth=None, explain=false, wait_for_detection_ms=None, ranking=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn retrieve(
        &self,
        py: Python<'_>,
        tenant_id: String,
        text: Option<String>,
        embedding: Option<Vec<f32>>,
        top_k: Option<usize>,
        stance_mode: Option<String>,
        as_of: Option<String>,
        recorded_as_of: Option<String>,
        entities: Vec<String>,
        sources: Vec<String>,
        metadata: BTreeMap<String, String>,
        graph_depth: Option<u8>,
        explain: bool,
        wait_for_detection_ms: Option<u64>,
        ranking: Option<String>,
    ) -> PyResult<crate::answer::PyAnswer> {
        let options = QueryOptions {
            text,
            embedding,
            top_k,
            stance_mode,
            as_of,
            recorded_as_of,
            entities,
            sources,
            metadata,
            graph_depth,
            explain,
            wait_for_detection_ms,
            ranking,
        };
        let query = options
            .into_query(&tenant_id)
            .map_err(|r| r.into_py_err(py))?;
        let store = self.store(py)?;
        let found = py
            .detach(move || store.retrieve(&query))
            .map_err(|e| e.into_py_err(py))?;
        Ok(crate::answer::PyAnswer::new(found))
    }

    /// Sizes, LSNs and counters, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let store = self.store(py)?;
        to_py(py, py.detach(move || plain(&store.stats())))
    }

    /// Writes the WAL's records into a segment now (and merges if due); the report as a dict.
    fn checkpoint<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let store = self.store(py)?;
        answer(py, py.detach(move || store.checkpoint().map(|r| plain(&r))))
    }

    /// Makes every acknowledged write durable now (the `batched` mode's window).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let store = self.store(py)?;
        py.detach(move || store.flush())
            .map_err(|e| e.into_py_err(py))
    }

    /// Waits until contradiction detection has caught up with every commit; False if it
    /// stopped.
    fn wait_for_detection(&self, py: Python<'_>) -> PyResult<bool> {
        let store = self.store(py)?;
        Ok(py.detach(move || store.wait_for_detection()))
    }

    /// Waits until every write is in the indexes and due graphs are built.
    fn wait_for_indexes(&self, py: Python<'_>) -> PyResult<()> {
        let store = self.store(py)?;
        py.detach(move || store.wait_for_indexes());
        Ok(())
    }

    /// True once `close` has run.
    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none()
    }

    /// Stops the background work, makes every acknowledged write durable and releases the
    /// directory. Waits for calls still running in other threads; a second close does
    /// nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(mut store) = taken else {
            return Ok(());
        };
        let closed = py.detach(move || loop {
            match Arc::try_unwrap(store) {
                Ok(owned) => break owned.close(),
                // Another thread's call still holds it: it ends soon (new calls see it closed).
                Err(shared) => {
                    store = shared;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        });
        closed.map_err(|e| e.into_py_err(py))
    }
}

/// Why an open did not give a store (said without the GIL).
enum Opened {
    Refused(Refused),
    Failed(dash_core::OpenError),
}
