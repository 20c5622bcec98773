//! `GET /v1/events`: a tenant's change feed ([`dash_core::feed`]) as Server-Sent Events.
//!
//! Each change is one SSE event: `id` is its cursor (`LSN:SEQ`, which a reconnecting
//! `EventSource` sends back as `Last-Event-ID`), `event` its type, `data` its JSON. A feed that
//! cannot go on ends with an `error` event carrying the contract's error body (`lagged` with the
//! cursor to resume after, or the store closing). Comments keep idle connections alive.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use dash_core::feed::{ChangeEvent, Cursor, FeedError, FeedStart, Subscription};
use dash_core::Lsn;
use futures_util::Stream;
use warp::http::HeaderMap;
use warp::sse::Event;
use warp::Reply;

use crate::api::AppState;
use crate::error::{ApiError, ErrorCode};

/// Events read from the store per blocking call (history is read from WAL files).
const BATCH: usize = 256;
/// SSE events buffered towards one client; past it the reader waits, and the store's bounded
/// per-subscriber queue decides when a slow client is cut.
///
/// Open streams are bounded by the server's connection limits; history reads by
/// `AppState::feed_readers`.
const CHANNEL: usize = 64;
/// How often an idle stream checks for shutdown and sends a keep-alive comment.
const TICK: Duration = Duration::from_secs(1);
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The tenant and start of a `GET /v1/events` request: `Last-Event-ID` (a reconnect) wins over
/// `after=LSN:SEQ`, which wins over `from_lsn=N|oldest`; none of them means from now on.
pub fn parse(query: &str, headers: &HeaderMap) -> Result<(String, FeedStart), ApiError> {
    let mut tenant = None;
    let mut start = FeedStart::Now;
    let mut after = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "tenant_id" => tenant = Some(value.into_owned()),
            "from_lsn" => {
                start = match value.as_ref() {
                    "oldest" => FeedStart::Oldest,
                    n => FeedStart::AtLsn(Lsn(n.parse().map_err(|_| {
                        ApiError::malformed("from_lsn must be a non-negative integer or `oldest`")
                    })?)),
                };
            }
            "after" => after = Some(cursor(&value)?),
            other => return Err(ApiError::unknown_parameter(other)),
        }
    }
    let last_event_id = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::malformed("Last-Event-ID is not text"))
                .and_then(cursor)
        })
        .transpose()?;
    if let Some(c) = last_event_id.or(after) {
        start = FeedStart::After(c);
    }
    let tenant = tenant.ok_or_else(|| ApiError::malformed("tenant_id is required"))?;
    Ok((tenant, start))
}

fn cursor(text: &str) -> Result<Cursor, ApiError> {
    text.parse().map_err(ApiError::from)
}

/// The SSE answer over `sub`: a task reads the feed and feeds the response body.
pub fn respond(state: Arc<AppState>, sub: Subscription) -> warp::reply::Response {
    let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL);
    tokio::spawn(pump(state, sub, tx));
    let events = warp::sse::keep_alive()
        .interval(KEEP_ALIVE)
        .stream(Events(rx));
    let mut response = warp::sse::reply(events).into_response();
    // Proxies must not buffer the stream.
    response.headers_mut().insert(
        "x-accel-buffering",
        warp::http::HeaderValue::from_static("no"),
    );
    response
}

/// The receiving end as the `Stream` warp's SSE reply wants (Send + Sync).
struct Events(tokio::sync::mpsc::Receiver<Event>);

impl Stream for Events {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(Ok))
    }
}

/// Moves events from the subscription to the client until either side ends (or shutdown).
async fn pump(state: Arc<AppState>, sub: Subscription, tx: tokio::sync::mpsc::Sender<Event>) {
    let wake = Arc::new(tokio::sync::Notify::new());
    let waker = Arc::clone(&wake);
    sub.set_waker(move || waker.notify_one());
    let mut sub = Some(sub);
    loop {
        let Some(mut taken) = sub.take() else { return };
        // Reading history is blocking file I/O (a WAL file at a time): off the runtime, and
        // only as many streams at once as there are read workers.
        let Ok(permit) = Arc::clone(&state.feed_readers).acquire_owned().await else {
            return;
        };
        let read = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut batch = Vec::new();
            let end = loop {
                match taken.try_next() {
                    Ok(Some(event)) => {
                        batch.push(event);
                        if batch.len() == BATCH {
                            break None;
                        }
                    }
                    Ok(None) => break None,
                    Err(err) => break Some(err),
                }
            };
            (taken, batch, end)
        })
        .await;
        let Ok((taken, batch, end)) = read else {
            return;
        };
        let idle = batch.is_empty();
        for change in batch {
            if tx.send(sse_event(&change)).await.is_err() {
                return; // the client went away
            }
        }
        if let Some(err) = end {
            let _ = tx.send(error_event(&err)).await;
            return;
        }
        sub = Some(taken);
        if idle {
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(TICK) => {}
                () = tx.closed() => return,
            }
        }
        if state.shutting_down.load(Ordering::Acquire) {
            let err = ApiError::new(ErrorCode::ShuttingDown, "the server is shutting down");
            let _ = tx.send(body_event(&err)).await;
            return;
        }
    }
}

fn sse_event(change: &ChangeEvent) -> Event {
    let kind = match &change.change {
        dash_core::feed::Change::ClaimVersion { .. } => "claim_version",
        dash_core::feed::Change::Forgotten { .. } => "forgotten",
        dash_core::feed::Change::EdgeDetected { .. } => "edge_detected",
        dash_core::feed::Change::EdgesActivated { .. } => "edges_activated",
        _ => "change",
    };
    let data = serde_json::to_string(change).unwrap_or_else(|_| "{}".to_owned());
    Event::default()
        .id(change.cursor.to_string())
        .event(kind)
        .data(data)
}

/// The `error` event that ends a stream the feed cannot go on with; a cut subscriber's says
/// `lagged` and where to resume.
fn error_event(err: &FeedError) -> Event {
    let mut body = ApiError::from(err.clone()).body();
    if let FeedError::Lagged { resume_after } = err {
        body["error"]["code"] = serde_json::json!("lagged");
        body["error"]["resume_after"] = serde_json::json!(resume_after);
    }
    ended(&body)
}

/// The `error` event of a stream the server ends.
fn body_event(err: &ApiError) -> Event {
    ended(&err.body())
}

fn ended(body: &serde_json::Value) -> Event {
    Event::default().event("error").data(body.to_string())
}
