//! The server's life: open the store and the audit log, listen, serve, and shut down in order
//! (stop accepting → finish in-flight requests within the budget → flush and close the store).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Buf;
use dash_core::{Store, StoreBuilder};
use futures_util::StreamExt;
use warp::Filter;

use crate::api::{self, AppState, BodyStream, Request};
use crate::audit::{AuditError, AuditLog};
use crate::config::ServeConfig;

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The store did not open.
    #[error("cannot open the store in {}: {source}", path.display())]
    Store {
        /// The store directory.
        path: std::path::PathBuf,
        /// Why.
        source: dash_core::OpenError,
    },
    /// The audit log did not open.
    #[error("cannot open the audit log: {0}")]
    Audit(#[from] AuditError),
    /// The embedder's model folder did not load (the error names the file), or this build has
    /// no embedder.
    #[error("cannot load the embedder: {0}")]
    Embedder(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Closing the store failed (acknowledged writes were already durable or flushed).
    #[error("closing the store failed: {0}")]
    Close(String),
    /// A background task failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Adds the local embedder of `--embedder` (and the judge's use of it) to `builder`.
#[cfg(feature = "embed")]
fn with_embedder(builder: StoreBuilder, dir: &std::path::Path) -> Result<StoreBuilder, ServeError> {
    builder
        .local_embedder(dir)
        .map_err(|e| ServeError::Embedder(e.to_string()))
}

/// Without the `embed` feature there is no embedder to load.
#[cfg(not(feature = "embed"))]
fn with_embedder(_: StoreBuilder, dir: &std::path::Path) -> Result<StoreBuilder, ServeError> {
    Err(ServeError::Embedder(format!(
        "{}: this build of dash has no embedder (build dash-server with the `embed` feature)",
        dir.display()
    )))
}

/// Opens the store of `config` (`<data-dir>/store`) with its durability, detection, graph
/// settings and embedder, on a blocking thread: what `dash serve` and `dash mcp --data-dir`
/// share.
pub async fn open_store(config: &ServeConfig) -> Result<Store, ServeError> {
    let store_dir = config.store_dir();
    let mut builder = Store::builder(&store_dir)
        .durability(config.durability)
        .detection(config.detection.clone())
        .feed_retention_bytes(config.feed_retention_bytes)
        .hnsw_params(dash_core::index::HnswParams {
            quantization: config.hnsw_quantization,
            ..dash_core::index::HnswParams::default()
        });
    if let Some(dim) = config.embedding_dim {
        builder = builder.embedding_dimension(dim);
    }
    if let Some(dir) = config.embedder.clone() {
        builder = tokio::task::spawn_blocking(move || {
            let loaded = with_embedder(builder, &dir);
            if loaded.is_ok() {
                tracing::info!(model = %dir.display(), "embedder loaded");
            }
            loaded
        })
        .await
        .map_err(|e| ServeError::Internal(e.to_string()))??;
    }
    tokio::task::spawn_blocking(move || builder.open())
        .await
        .map_err(|e| ServeError::Internal(e.to_string()))?
        .map_err(|source| ServeError::Store {
            path: store_dir,
            source,
        })
}

/// A bound, ready server: call [`Server::run`] to serve until `shutdown` resolves.
pub struct Server {
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl Server {
    /// Opens the store and the audit log and binds the address; nothing is served yet.
    pub async fn bind(config: ServeConfig) -> Result<Self, ServeError> {
        let store = open_store(&config).await?;
        let audit = AuditLog::open(&config.audit_path, config.audit_fsync)?;
        if let Some(cut) = audit.repaired_tail() {
            tracing::warn!(bytes = cut, path = %config.audit_path.display(),
                "audit log ended in a partial line (crash mid-write); cut it");
        }
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| ServeError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: config.bind,
            source,
        })?;
        if config.auth.open {
            tracing::warn!(%addr, "NO AUTHENTICATION: no API key or JWT secret is configured; \
                every caller may read and write every tenant");
        }
        let report = store.recovery_report();
        tracing::info!(
            %addr,
            store = %config.store_dir().display(),
            manifest_generation = report.manifest_generation,
            records_replayed = report.records_replayed,
            truncations = report.truncations.len(),
            "store open"
        );
        let state = Arc::new(AppState::new(Arc::new(store), config, audit));
        Ok(Self {
            state,
            listener,
            addr,
        })
    }

    /// The bound address (useful with port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then stops accepting, gives in-flight requests the
    /// configured grace, flushes the WAL and closes the store.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Self {
            state, listener, ..
        } = self;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(crate::connections::serve(
            listener,
            Arc::clone(&state),
            stop_rx,
        ));
        shutdown.await;
        let started = Instant::now();
        let grace = state.config.shutdown_grace;
        tracing::info!(grace_ms = grace.as_millis() as u64, "shutting down");
        state.shutting_down.store(true, Ordering::Release);
        let _ = stop_tx.send(());
        if tokio::time::timeout(grace, serving).await.is_err() {
            tracing::warn!("connections still open after the grace period; closing them");
        }
        let left = grace.saturating_sub(started.elapsed());
        if !api::drain(&state, left).await {
            tracing::warn!("store calls still running after the grace period");
        }
        finish(state).await
    }
}

/// Flushes and closes the store. Strict writes were durable when acknowledged; the flush makes
/// batched ones durable; a batch is one WAL record, so none is ever half-applied.
async fn finish(state: Arc<AppState>) -> Result<(), ServeError> {
    let store = Arc::clone(&state.store);
    let flushed = tokio::task::spawn_blocking(move || store.flush())
        .await
        .map_err(|e| ServeError::Internal(e.to_string()))?;
    if let Err(err) = &flushed {
        tracing::error!(error = %err, "final flush failed");
    }
    if let Err(err) = state.audit.sync() {
        tracing::error!(error = %err, "final audit sync failed");
    }
    let store = match Arc::try_unwrap(state) {
        Ok(state) => Arc::try_unwrap(state.store).ok(),
        Err(_) => None,
    };
    match store {
        Some(store) => tokio::task::spawn_blocking(move || store.close())
            .await
            .map_err(|e| ServeError::Internal(e.to_string()))?
            .map_err(|e| ServeError::Close(e.to_string()))?,
        None => tracing::warn!("requests still hold the store; it was flushed but not closed"),
    }
    flushed.map_err(|e| ServeError::Close(e.to_string()))?;
    tracing::info!("stopped");
    Ok(())
}

/// The single catch-all filter of one connection from `remote`: the request goes to
/// [`api::handle`] as it came.
pub(crate) fn routes(
    state: Arc<AppState>,
    remote: SocketAddr,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone + Send + Sync + 'static
{
    let raw_query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(raw_query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |method, path: warp::path::FullPath, query, headers, body| {
                let state = Arc::clone(&state);
                let body = body_stream(body);
                async move {
                    let request = Request {
                        method,
                        path: path.as_str().to_owned(),
                        query,
                        headers,
                        remote: Some(remote),
                        body,
                    };
                    api::handle(state, request).await
                }
            },
        )
        .recover(|_rejection: warp::Rejection| async {
            Ok::<_, Infallible>(api::error_response(&crate::error::ApiError::malformed(
                "the request could not be read",
            )))
        })
        .unify()
}

fn body_stream<S, B>(body: S) -> BodyStream
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf + Send,
{
    Box::pin(body.map(|chunk| chunk.map(|mut b| b.copy_to_bytes(b.remaining()))))
}
