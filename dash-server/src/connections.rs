//! Accepting client connections, bounded before any request is read.
//!
//! What a hostile or broken client can hold without sending a valid request is bounded here:
//! - open connections in all (`DASH_MAX_CONNECTIONS`): at the cap the server stops accepting
//!   and new connections wait in the kernel's backlog until one closes;
//! - open connections per peer address (`DASH_MAX_CONNECTIONS_PER_PEER`, off unless set): above
//!   it a new connection is closed at once, so one host cannot take every slot;
//! - time to send a request's headers (`DASH_HEADER_READ_TIMEOUT_MS`, slow-loris), and their
//!   size ([`MAX_HEAD_BYTES`]; 431 above it, and 400/414 for malformed heads, answered by
//!   hyper with an empty body before the API sees the request);
//! - time without a byte read or written (`DASH_IDLE_TIMEOUT_MS`): idle keep-alive
//!   connections and clients that stop reading their answer are closed.
//!
//! A request's body and its work are bounded by the per-request timeout in [`crate::api`].
//! Connection errors (a peer that went away, a timeout) are logged at debug level: they are
//! the client's business, not the server's health.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};
use tokio_io_timeout::TimeoutStream;

use crate::api::AppState;

/// Largest request head (request line and headers) read: hyper answers 431 above it. A JWT is
/// about 1 KiB; hyper's own default (~400 KiB) lets one request hold far more memory than needed.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The connection bounds of one server (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections from one peer IP address.
    pub max_per_peer: usize,
    /// Longest time a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// Longest time a connection may go without reading or writing a byte.
    pub idle_timeout: Duration,
}

/// Accepts and serves connections until `stop` fires, then stops accepting and waits for the
/// open connections to finish their current request and close (the caller bounds the wait).
pub async fn serve(listener: TcpListener, state: Arc<AppState>, mut stop: oneshot::Receiver<()>) {
    let limits = state.config.connections;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let peers = Arc::new(PeerCounts::default());
    let graceful = GracefulShutdown::new();
    loop {
        // A slot first: at the cap, connections wait in the backlog rather than being accepted
        // and starved.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            _ = &mut stop => break,
        };
        let Ok(slot) = slot else { break };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    accept_failed(&err).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let Some(peer_slot) = PeerSlot::enter(&peers, peer.ip(), limits.max_per_peer) else {
            state.metrics.reject("peer_connection_limit");
            tracing::debug!(%peer, "connection refused: too many from this peer");
            continue;
        };
        let mut io = TimeoutStream::new(stream);
        io.set_read_timeout(Some(limits.idle_timeout));
        io.set_write_timeout(Some(limits.idle_timeout));
        let service = TowerToHyperService::new(warp::service(crate::server::routes(
            Arc::clone(&state),
            peer,
        )));
        let watcher = graceful.watcher();
        let metrics = Arc::clone(&state.metrics);
        tokio::spawn(async move {
            metrics.connections.inc();
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(MAX_HEAD_BYTES);
            let connection = builder.serve_connection(TokioIo::new(Box::pin(io)), service);
            if let Err(err) = watcher.watch(connection).await {
                if is_timeout(err.as_ref()) {
                    metrics.connection_timeouts.inc();
                }
                tracing::debug!(%peer, error = %err, "connection closed with an error");
            }
            // Slots first: once the gauge drops, the connection no longer counts anywhere.
            drop((peer_slot, slot));
            metrics.connections.dec();
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Accept failures are the process's (file descriptors) or a peer's that reset before the
/// accept; neither stops the server. Back off briefly so an exhausted descriptor table is
/// not spun on.
async fn accept_failed(err: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "accept failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Whether a connection ended because one of its timeouts fired.
fn is_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(err) = err.downcast_ref::<hyper::Error>() {
            if err.is_timeout() {
                return true;
            }
        }
        if let Some(err) = err.downcast_ref::<std::io::Error>() {
            if err.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        next = err.source();
    }
    false
}

/// Open connections per peer address.
#[derive(Default)]
struct PeerCounts(Mutex<HashMap<IpAddr, usize>>);

/// One open connection of a peer; counted until dropped.
struct PeerSlot {
    counts: Arc<PeerCounts>,
    ip: IpAddr,
}

impl PeerSlot {
    /// Counts a new connection from `ip`, or refuses it when `ip` already holds `max`.
    fn enter(counts: &Arc<PeerCounts>, ip: IpAddr, max: usize) -> Option<Self> {
        let mut map = counts.0.lock().unwrap_or_else(PoisonError::into_inner);
        let open = map.entry(ip).or_insert(0);
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(Self {
            counts: Arc::clone(counts),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut map = self.counts.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = map.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_slots_count_per_address_and_free_on_drop() {
        let counts = Arc::new(PeerCounts::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = PeerSlot::enter(&counts, a, 2).unwrap();
        let second = PeerSlot::enter(&counts, a, 2).unwrap();
        assert!(PeerSlot::enter(&counts, a, 2).is_none(), "a third from a");
        let other = PeerSlot::enter(&counts, b, 2).unwrap();
        drop(first);
        let third = PeerSlot::enter(&counts, a, 2).unwrap();
        drop((second, third, other));
        assert!(counts.0.lock().unwrap().is_empty(), "entries left behind");
    }

    #[test]
    fn timeouts_are_recognised_through_the_error_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("wrapped")]
        struct Wrapped(#[source] std::io::Error);
        let timed_out = Wrapped(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(is_timeout(&timed_out));
        let reset = Wrapped(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(!is_timeout(&reset));
    }
}
