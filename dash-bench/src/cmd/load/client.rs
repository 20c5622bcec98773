//! Keep-alive HTTP/1.1 connections to `dash serve` (one hyper `client::conn::http1` each) and the
//! requests sent on them.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use dash_bench::{BoxError, Res};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;

/// The API key every server of the run accepts (also as an admin key, for `/debug/storage`).
pub(super) const API_KEY: &str = "loadgen-key-0123456789abcdef";

/// A request still unanswered after this is an error.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A request: method, path and query, JSON body (empty for none).
#[derive(Clone)]
pub(super) struct Req {
    /// `GET` or `POST`.
    method: Method,
    /// Path and query string.
    path: String,
    /// The JSON body; empty for none (then no `content-type` is sent).
    body: Bytes,
}

impl Req {
    /// A `GET` of `path` (with its query string).
    pub(super) fn get(path: &str) -> Self {
        Self {
            method: Method::GET,
            path: path.to_owned(),
            body: Bytes::new(),
        }
    }

    /// A `POST` of the JSON `body` to `path`.
    pub(super) fn post(path: &str, body: Bytes) -> Self {
        Self {
            method: Method::POST,
            path: path.to_owned(),
            body,
        }
    }
}

/// One keep-alive HTTP/1.1 connection.
pub(super) struct Conn {
    /// hyper's sending half; the connection itself is driven by a spawned task.
    tx: SendRequest<Full<Bytes>>,
}

impl Conn {
    /// Connects to `addr` (`TCP_NODELAY` on) and spawns the task that drives the connection.
    pub(super) async fn open(addr: SocketAddr) -> Res<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (tx, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // NOTE: a connection error surfaces as the failure of the request that meets it.
            let _ = connection.await;
        });
        Ok(Self { tx })
    }

    /// Opens a connection, retrying for a few seconds (after a connection failed).
    pub(super) async fn reopen(addr: SocketAddr) -> Res<Self> {
        let mut last = None;
        for _ in 0..100 {
            match Self::open(addr).await {
                Ok(conn) => return Ok(conn),
                Err(err) => last = Some(err),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last.unwrap_or_else(|| "cannot reconnect".into()))
    }

    /// Sends `req` and reads the whole answer; an error after [`REQUEST_TIMEOUT`].
    pub(super) async fn send(&mut self, req: &Req) -> Res<(StatusCode, Bytes)> {
        let exchange = async {
            self.tx.ready().await?;
            let mut builder = hyper::Request::builder()
                .method(req.method.clone())
                .uri(req.path.as_str())
                .header(HOST, "127.0.0.1")
                .header("x-api-key", API_KEY);
            if !req.body.is_empty() {
                builder = builder.header(CONTENT_TYPE, "application/json");
            }
            let answer = self
                .tx
                .send_request(builder.body(Full::new(req.body.clone()))?)
                .await?;
            let status = answer.status();
            let body = answer.into_body().collect().await?.to_bytes();
            Ok::<_, BoxError>((status, body))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| BoxError::from("request timed out"))?
    }
}

/// `n` connections, opened concurrently.
pub(super) async fn open_many(addr: SocketAddr, n: usize) -> Res<Vec<Conn>> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        set.spawn(Conn::open(addr));
    }
    let mut conns = Vec::with_capacity(n);
    while let Some(conn) = set.join_next().await {
        conns.push(conn??);
    }
    Ok(conns)
}

/// The start of an answer's body (at most 300 bytes), for an error message.
pub(super) fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}
