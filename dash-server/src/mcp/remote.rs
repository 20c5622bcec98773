//! The HTTP client of `dash mcp --url`: the contract's routes on a running `dash serve`, with
//! its credentials (API key or JWT) and, when a signing secret is given, signed writes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::backend::Failure;
use crate::signing;

/// Longest answer body read from the server (a retrieve of 1,000 claims with their evidence
/// stays well below it).
const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// How a request authenticates.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Sent as `X-API-Key`.
    pub api_key: Option<String>,
    /// Sent as `Authorization: Bearer`.
    pub token: Option<String>,
    /// HMAC secret for `X-DASH-Signature` on writes.
    pub signing_secret: Option<String>,
}

/// A client of one server.
pub struct Remote {
    base: String,
    credentials: Credentials,
    agent: ureq::Agent,
    nonces: AtomicU64,
}

impl Remote {
    /// A client of the server at `url` (`http://host:port`, no path).
    pub fn new(url: &str, credentials: Credentials, timeout: Duration) -> Result<Self, String> {
        let base = url.trim_end_matches('/');
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: the URL must start with http:// (`dash serve` speaks plain HTTP; put TLS in a proxy in front of both)"))?;
        if rest.is_empty() || rest.contains('/') {
            return Err(format!(
                "{url:?}: give the server's address only, e.g. http://127.0.0.1:7700"
            ));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self {
            base: base.to_owned(),
            credentials,
            agent,
            nonces: AtomicU64::new(0),
        })
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| Failure::new("malformed_json", e.to_string()))?;
        self.send("POST", path.to_owned(), bytes).await
    }

    /// `GET path?query`.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, Failure> {
        self.send("GET", with_query(path, query), Vec::new()).await
    }

    /// `DELETE path?query`.
    pub async fn delete(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, Failure> {
        self.send("DELETE", with_query(path, query), Vec::new())
            .await
    }

    /// Up to `max` events of `GET /v1/events?query`, reading the stream for at most `wait`
    /// after the history it starts with (at least a second, so history is not cut short).
    pub async fn events(
        &self,
        query: &[(&str, String)],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Value>, Failure> {
        let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let url = format!("{}{}", self.base, with_query("/v1/events", &pairs));
        let headers = self.auth_headers();
        let agent = self.agent.clone();
        let budget = wait.max(Duration::from_secs(1));
        tokio::task::spawn_blocking(move || read_events(&agent, &url, &headers, max, budget))
            .await
            .map_err(|e| Failure::new("internal", e.to_string()))?
    }

    /// The credentials' headers.
    fn auth_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        if let Some(key) = &self.credentials.api_key {
            headers.push(("x-api-key", key.clone()));
        }
        if let Some(token) = &self.credentials.token {
            headers.push(("authorization", format!("Bearer {token}")));
        }
        headers
    }

    async fn send(
        &self,
        method: &'static str,
        path_and_query: String,
        body: Vec<u8>,
    ) -> Result<Value, Failure> {
        let url = format!("{}{path_and_query}", self.base);
        let mut headers = self.auth_headers();
        if let (Some(secret), true) = (&self.credentials.signing_secret, method != "GET") {
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                .to_string();
            let nonce = self.nonce();
            let signature = signing::sign(
                secret.as_bytes(),
                method,
                &path_and_query,
                &timestamp,
                &nonce,
                &body,
            );
            headers.push(("x-dash-timestamp", timestamp));
            headers.push(("x-dash-nonce", nonce));
            headers.push(("x-dash-signature", signature));
        }
        let agent = self.agent.clone();
        tokio::task::spawn_blocking(move || call(&agent, method, &url, &headers, body))
            .await
            .map_err(|e| Failure::new("internal", e.to_string()))?
    }

    /// A nonce never used by this process: its id, the time and a counter, hashed.
    fn nonce(&self) -> String {
        let n = self.nonces.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut hasher = blake3::Hasher::new();
        hasher.update(&std::process::id().to_le_bytes());
        hasher.update(&nanos.to_le_bytes());
        hasher.update(&n.to_le_bytes());
        hasher.finalize().to_hex()[..32].to_owned()
    }
}

fn with_query(path: &str, query: &[(&str, &str)]) -> String {
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (k, v) in query {
        encoded.append_pair(k, v);
    }
    format!("{path}?{}", encoded.finish())
}

/// Reads Server-Sent Events until `max` events, the stream's end, or `budget` has passed.
fn read_events(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&'static str, String)],
    max: usize,
    budget: Duration,
) -> Result<Vec<Value>, Failure> {
    use std::io::BufRead;
    let unreachable = |e: ureq::Error| Failure::new("unavailable", format!("{url}: {e}"));
    let mut request = agent.get(url).config().timeout_global(Some(budget)).build();
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.call().map_err(unreachable)?;
    let status = response.status().as_u16();
    if status != 200 {
        let text = response.into_body().read_to_string().unwrap_or_default();
        return Err(error_of(url, status, &text));
    }
    let reader = std::io::BufReader::new(response.into_body().into_reader());
    let (mut events, mut kind, mut data) = (Vec::new(), String::new(), String::new());
    for line in reader.lines() {
        // The budget ending mid-stream is how a wait ends: keep what came.
        let Ok(line) = line else { break };
        if line.is_empty() {
            if !data.is_empty() {
                let value: Value = serde_json::from_str(&data).map_err(|_| {
                    Failure::new(
                        "unavailable",
                        format!("{url} sent an event that is not JSON"),
                    )
                })?;
                if kind == "error" {
                    return Err(error_of(url, status, &data));
                }
                events.push(value);
                if events.len() >= max {
                    break;
                }
            }
            kind.clear();
            data.clear();
        } else if let Some(v) = line.strip_prefix("event:") {
            kind = v.trim_start().to_owned();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    Ok(events)
}

/// The contract's error body (`{"error": {"code", "message"}}`) as a [`Failure`].
fn error_of(url: &str, status: u16, text: &str) -> Failure {
    let answer: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let field = |name: &str| {
        answer
            .pointer(&format!("/error/{name}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Failure {
        code: field("code").unwrap_or_else(|| format!("http_{status}")),
        message: field("message").unwrap_or_else(|| format!("{url} answered {status}")),
    }
}

/// One blocking HTTP exchange: the JSON answer, or the contract's error as a [`Failure`].
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> Result<Value, Failure> {
    let unreachable = |e: ureq::Error| Failure::new("unavailable", format!("{url}: {e}"));
    let response = match method {
        "POST" => {
            let mut request = agent.post(url).content_type("application/json");
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            request.send(&body[..]).map_err(unreachable)?
        }
        _ => {
            let mut request = if method == "DELETE" {
                agent.delete(url)
            } else {
                agent.get(url)
            };
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            request.call().map_err(unreachable)?
        }
    };
    let status = response.status().as_u16();
    let text = response
        .into_body()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_string()
        .map_err(unreachable)?;
    let answer: Value = serde_json::from_str(&text).map_err(|_| {
        Failure::new(
            "unavailable",
            format!("{url} answered {status} with a body that is not JSON"),
        )
    })?;
    if (200..300).contains(&status) {
        return Ok(answer);
    }
    Err(error_of(url, status, &text))
}
