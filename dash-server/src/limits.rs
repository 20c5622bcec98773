//! Overload protection: per-principal rate limits (token buckets) and the bounded admission
//! queue in front of the store's worker threads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Semaphore;

use crate::config::RateLimit;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;

/// Principals whose buckets are kept; past this, full (idle) buckets are dropped first.
const MAX_BUCKETS: usize = 100_000;

/// What the `X-RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateInfo {
    /// Bucket size.
    pub limit: u32,
    /// Whole tokens left after this request.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by principal.
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Limiter for `limit`.
    #[must_use]
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `principal`: `Ok` with the header values, or 429 `rate_limited`.
    pub fn check(&self, principal: &str) -> Result<RateInfo, (ApiError, RateInfo)> {
        let now = Instant::now();
        let burst = f64::from(self.limit.burst);
        let rate = self.limit.per_second;
        let Ok(mut buckets) = self.buckets.lock() else {
            return Err((ApiError::internal(), self.info(0.0)));
        };
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(principal) {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(principal.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(self.info(bucket.tokens))
        } else {
            let wait = ((1.0 - bucket.tokens) / rate).ceil() as u64;
            let err = ApiError::new(
                ErrorCode::RateLimited,
                "rate limit exceeded for these credentials",
            )
            .retry_after(wait);
            Err((err, self.info(bucket.tokens)))
        }
    }

    fn info(&self, tokens: f64) -> RateInfo {
        let burst = f64::from(self.limit.burst);
        RateInfo {
            limit: self.limit.burst,
            remaining: tokens.max(0.0).floor() as u32,
            reset_secs: ((burst - tokens).max(0.0) / self.limit.per_second).ceil() as u64,
        }
    }
}

/// Bounded admission to the store's workers: at most `workers` store calls run, at most
/// `queue` more wait; past that a request is refused at once with 429 `queue_full` rather
/// than queueing without bound (which would only turn overload into timeouts for everyone).
pub struct Admission {
    workers: Arc<Semaphore>,
    admitted: AtomicUsize,
    capacity: usize,
    metrics: Arc<Metrics>,
}

/// Holds an admitted slot until dropped.
struct Slot<'a>(&'a Admission);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// `workers` concurrent calls, `queue` waiting.
    #[must_use]
    pub fn new(workers: usize, queue: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            workers: Arc::new(Semaphore::new(workers)),
            admitted: AtomicUsize::new(0),
            capacity: workers + queue,
            metrics,
        }
    }

    /// Runs `work` on a blocking thread once a worker is free, or refuses at once when the
    /// queue is full. The worker permit moves into the blocking task, so a request abandoned
    /// by its timeout keeps its worker counted until the store call really ends.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            self.metrics.reject("queue_full");
            return Err(ApiError::new(
                ErrorCode::QueueFull,
                "the server is at capacity; retry shortly",
            )
            .retry_after(1));
        }
        let _slot = Slot(self);
        self.metrics.queue_depth.inc();
        let permit = Arc::clone(&self.workers).acquire_owned().await;
        self.metrics.queue_depth.dec();
        let permit = permit.map_err(|_| ApiError::unavailable("the server is shutting down"))?;
        let in_flight = self.metrics.in_flight.clone();
        in_flight.inc();
        let joined = tokio::task::spawn_blocking(move || {
            let out = work();
            in_flight.dec();
            drop(permit);
            out
        })
        .await;
        joined.map_err(|err| {
            tracing::error!(error = %err, "store call panicked");
            ApiError::internal()
        })
    }

    /// Requests admitted (running or waiting).
    #[must_use]
    pub fn admitted(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses() {
        let rl = RateLimiter::new(RateLimit {
            per_second: 1.0,
            burst: 3,
        });
        for left in [2, 1, 0] {
            assert_eq!(rl.check("p").unwrap().remaining, left);
        }
        let (err, info) = rl.check("p").unwrap_err();
        assert_eq!(err.status, warp::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.retry_after, Some(1));
        assert_eq!(info.remaining, 0);
        // Another principal has its own bucket.
        assert!(rl.check("q").is_ok());
    }

    #[tokio::test]
    async fn admission_refuses_past_capacity() {
        let metrics = Arc::new(Metrics::new());
        let adm = Arc::new(Admission::new(1, 1, metrics));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let a = Arc::clone(&adm);
        let first = tokio::spawn(async move { a.run(move || rx.recv().is_ok()).await });
        while adm.admitted() < 1 {
            tokio::task::yield_now().await;
        }
        let b = Arc::clone(&adm);
        let second = tokio::spawn(async move { b.run(|| true).await });
        while adm.admitted() < 2 {
            tokio::task::yield_now().await;
        }
        let third = adm.run(|| true).await;
        assert_eq!(third.unwrap_err().code, "queue_full");
        tx.send(()).unwrap();
        assert!(first.await.unwrap().unwrap());
        assert!(second.await.unwrap().unwrap());
        assert_eq!(adm.admitted(), 0);
    }
}
