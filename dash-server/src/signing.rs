//! Optional request signing for writes: `X-DASH-Timestamp` (Unix seconds), `X-DASH-Nonce` and
//! `X-DASH-Signature` = hex HMAC-SHA256 over
//!
//! ```text
//! METHOD \n PATH[?QUERY] \n TIMESTAMP \n NONCE \n hex(SHA-256(body))
//! ```
//!
//! A request outside the clock-skew window is stale; a nonce seen inside the window is a
//! replay. The nonce cache is bounded: when it is full the oldest nonce is dropped and its
//! timestamp becomes a floor below which every request is refused as stale, so evicting never
//! re-opens a replay.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use warp::http::HeaderMap;

use crate::config::SigningConfig;
use crate::error::{ApiError, ErrorCode};

type HmacSha256 = Hmac<Sha256>;

/// Longest nonce accepted.
pub const MAX_NONCE_LEN: usize = 128;
/// Shortest nonce accepted.
pub const MIN_NONCE_LEN: usize = 8;

/// Checks signatures and remembers nonces.
pub struct Verifier {
    secret: Vec<u8>,
    required: bool,
    skew: Duration,
    nonces: Mutex<NonceCache>,
}

/// The message the signature covers.
#[must_use]
pub fn canonical(method: &str, path: &str, timestamp: &str, nonce: &str, body: &[u8]) -> String {
    let body_digest = hex::encode(Sha256::digest(body));
    format!("{method}\n{path}\n{timestamp}\n{nonce}\n{body_digest}")
}

/// Signs a request (clients and tests use this; the server only verifies).
#[must_use]
pub fn sign(
    secret: &[u8],
    method: &str,
    path: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm is unreachable.
        Err(_) => return String::new(),
    };
    mac.update(canonical(method, path, timestamp, nonce, body).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn stale(message: &str) -> ApiError {
    ApiError::new(ErrorCode::StaleRequest, message)
}

impl Verifier {
    /// A verifier for the configured secret.
    #[must_use]
    pub fn new(config: &SigningConfig) -> Self {
        Self {
            secret: config.secret.as_bytes().to_vec(),
            required: config.required,
            skew: config.skew,
            nonces: Mutex::new(NonceCache::new(config.nonce_cache_size)),
        }
    }

    /// Checks a write. Unsigned writes pass unless signing is required; a request that carries
    /// any signing header must carry all three and verify.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), ApiError> {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (ts, nonce, sig) = (
            get("x-dash-timestamp"),
            get("x-dash-nonce"),
            get("x-dash-signature"),
        );
        if ts.is_none() && nonce.is_none() && sig.is_none() && !self.required {
            return Ok(());
        }
        let (Some(ts), Some(nonce), Some(sig)) = (ts, nonce, sig) else {
            return Err(ApiError::new(
                ErrorCode::SignatureRequired,
                "signed writes need X-DASH-Timestamp, X-DASH-Nonce and X-DASH-Signature",
            ));
        };
        if !(MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&nonce.len())
            || !nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ApiError::new(
                ErrorCode::BadSignature,
                format!("X-DASH-Nonce must be {MIN_NONCE_LEN}..={MAX_NONCE_LEN} of [A-Za-z0-9_-]"),
            ));
        }
        let timestamp: i64 = ts
            .parse()
            .map_err(|_| stale("X-DASH-Timestamp must be Unix seconds"))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if (now - timestamp).unsigned_abs() > self.skew.as_secs() {
            return Err(stale("X-DASH-Timestamp is outside the accepted clock skew"));
        }
        let expected = sign(&self.secret, method, path, ts, nonce, body);
        let given = sig.trim().to_ascii_lowercase();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            given.as_bytes(),
        )) {
            return Err(ApiError::new(
                ErrorCode::BadSignature,
                "X-DASH-Signature does not verify",
            ));
        }
        // Only a verified request may take a nonce: forged ones cannot flood the cache.
        let mut cache = self.nonces.lock().map_err(|_| ApiError::internal())?;
        cache.admit(nonce, timestamp, now - self.skew.as_secs() as i64)
    }
}

/// Nonces seen inside the window, evicted oldest first.
struct NonceCache {
    capacity: usize,
    by_nonce: HashMap<String, i64>,
    by_time: BTreeSet<(i64, String)>,
    /// Requests at or below this timestamp are refused (set when an unexpired nonce is evicted).
    floor: i64,
}

impl NonceCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            by_nonce: HashMap::new(),
            by_time: BTreeSet::new(),
            floor: i64::MIN,
        }
    }

    fn admit(&mut self, nonce: &str, timestamp: i64, oldest_valid: i64) -> Result<(), ApiError> {
        // Forget what the skew window already refuses.
        while let Some((ts, _)) = self.by_time.first() {
            if *ts >= oldest_valid {
                break;
            }
            if let Some((_, old)) = self.by_time.pop_first() {
                self.by_nonce.remove(&old);
            }
        }
        if timestamp <= self.floor {
            return Err(stale(
                "request is older than the replay cache remembers; sign it again",
            ));
        }
        if self.by_nonce.contains_key(nonce) {
            return Err(ApiError::new(
                ErrorCode::ReplayedRequest,
                "X-DASH-Nonce was already used",
            ));
        }
        while self.by_nonce.len() >= self.capacity {
            match self.by_time.pop_first() {
                Some((ts, old)) => {
                    self.by_nonce.remove(&old);
                    self.floor = self.floor.max(ts);
                }
                None => break,
            }
        }
        if timestamp <= self.floor {
            return Err(stale(
                "request is older than the replay cache remembers; sign it again",
            ));
        }
        self.by_nonce.insert(nonce.to_owned(), timestamp);
        self.by_time.insert((timestamp, nonce.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_refuses_replays_and_never_reopens_them() {
        let mut cache = NonceCache::new(2);
        assert!(cache.admit("nonce-aaaa", 100, 0).is_ok());
        assert_eq!(
            cache.admit("nonce-aaaa", 100, 0).unwrap_err().code,
            "replayed_request"
        );
        assert!(cache.admit("nonce-bbbb", 101, 0).is_ok());
        // Full: admitting evicts nonce-aaaa (ts 100) and raises the floor to 100.
        assert!(cache.admit("nonce-cccc", 102, 0).is_ok());
        // The evicted nonce cannot come back: its timestamp is at the floor.
        assert_eq!(
            cache.admit("nonce-aaaa", 100, 0).unwrap_err().code,
            "stale_request"
        );
        assert_eq!(cache.by_nonce.len(), 2);
    }

    #[test]
    fn expired_entries_leave() {
        let mut cache = NonceCache::new(10);
        assert!(cache.admit("nonce-aaaa", 100, 0).is_ok());
        assert!(cache.admit("nonce-bbbb", 500, 400).is_ok());
        assert_eq!(cache.by_nonce.len(), 1);
    }

    #[test]
    fn signature_covers_every_part() {
        let base = sign(b"secret", "POST", "/v1/ingest", "1", "nonce-1234", b"{}");
        for other in [
            sign(b"secreT", "POST", "/v1/ingest", "1", "nonce-1234", b"{}"),
            sign(b"secret", "PUT", "/v1/ingest", "1", "nonce-1234", b"{}"),
            sign(b"secret", "POST", "/v1/ingesT", "1", "nonce-1234", b"{}"),
            sign(b"secret", "POST", "/v1/ingest", "2", "nonce-1234", b"{}"),
            sign(b"secret", "POST", "/v1/ingest", "1", "nonce-1235", b"{}"),
            sign(b"secret", "POST", "/v1/ingest", "1", "nonce-1234", b"{ }"),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(base.len(), 64);
    }
}
