//! Test harness: runs the real `dash` binary on a loopback port with a store in a temp dir and
//! talks to it over real HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// An API key long enough for the server's minimum.
pub const KEY_A: &str = "key-a-0123456789abcdef";
/// A second key.
pub const KEY_B: &str = "key-b-0123456789abcdef";
/// An admin key.
pub const KEY_ADMIN: &str = "key-admin-0123456789ab";
/// A JWT secret.
pub const JWT_SECRET: &str = "jwt-secret-0123456789abcdef";
/// A signing secret.
pub const SIGNING_SECRET: &str = "sign-secret-0123456789abcdef";

/// A running `dash serve`.
pub struct TestServer {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    stderr_path: PathBuf,
}

impl TestServer {
    /// Starts `dash serve` on `127.0.0.1:0` with the given `DASH_*` variables (the test
    /// process's own `DASH_*` variables are not inherited).
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::try_start(data_dir, env)
            .unwrap_or_else(|stderr| panic!("server did not start:\n{stderr}"))
    }

    /// Like [`start`](Self::start), but returns the server's stderr if it exits instead.
    pub fn try_start(data_dir: &Path, env: &[(&str, &str)]) -> Result<Self, String> {
        let stderr_path = data_dir.with_extension(format!(
            "stderr.{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dash"));
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (key, _) in std::env::vars() {
            if key.starts_with("DASH_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("DASH_BIND", "127.0.0.1:0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let Some(addr) = line.trim().strip_prefix("dash listening on ") else {
            let _ = child.wait();
            return Err(std::fs::read_to_string(&stderr_path).unwrap_or_default());
        };
        Ok(Self {
            addr: addr.parse().unwrap(),
            child: Some(child),
            data_dir: data_dir.to_owned(),
            stderr_path,
        })
    }

    /// `http://addr/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The server's log so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        signal(&child, "-TERM");
        wait_timeout(&mut child, Duration::from_secs(30))
    }

    /// SIGKILL: no shutdown at all.
    pub fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        signal(&child, "-KILL");
        let _ = child.wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .arg(sig)
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("server did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An answer: status, headers (lower-case names), body as JSON (`Value::Null` if not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub json: Value,
}

impl Answer {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent()
}

fn answer(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    try_answer(resp).expect("request failed")
}

fn try_answer(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Option<Answer> {
    let mut resp = resp.ok()?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Some(Answer {
        status,
        headers,
        text,
        json,
    })
}

/// Credentials for a request.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    /// None.
    None,
    /// `X-API-Key`.
    Key(&'a str),
    /// `Authorization: Bearer`.
    Bearer(&'a str),
}

fn with_auth<B>(req: ureq::RequestBuilder<B>, auth: Auth<'_>) -> ureq::RequestBuilder<B> {
    match auth {
        Auth::None => req,
        Auth::Key(k) => req.header("X-API-Key", k),
        Auth::Bearer(t) => req.header("Authorization", format!("Bearer {t}")),
    }
}

/// GET of a stream (`/v1/events`): the status and content type, the body left unread (it does
/// not end); an error answer's body is read.
pub fn get_stream(url: &str, auth: Auth<'_>) -> Answer {
    let resp = with_auth(agent().get(url), auth)
        .call()
        .expect("request failed");
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if content_type.starts_with("text/event-stream") {
        return Answer {
            status: resp.status().as_u16(),
            headers: vec![("content-type".to_owned(), content_type)],
            text: String::new(),
            json: Value::Null,
        };
    }
    answer(Ok(resp))
}

/// GET.
pub fn get(url: &str, auth: Auth<'_>) -> Answer {
    answer(with_auth(agent().get(url), auth).call())
}

/// DELETE.
pub fn delete(url: &str, auth: Auth<'_>) -> Answer {
    delete_with(url, auth, &[])
}

/// DELETE with extra headers.
pub fn delete_with(url: &str, auth: Auth<'_>, headers: &[(&str, &str)]) -> Answer {
    let mut req = with_auth(agent().delete(url), auth);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    answer(req.call())
}

/// POST a JSON value.
pub fn post(url: &str, auth: Auth<'_>, body: &Value) -> Answer {
    post_raw(
        url,
        auth,
        "application/json",
        body.to_string().as_bytes(),
        &[],
    )
}

/// POST a JSON value; `None` when the connection fails (server gone).
pub fn try_post(url: &str, auth: Auth<'_>, body: &Value) -> Option<Answer> {
    let req = with_auth(agent().post(url), auth).header("Content-Type", "application/json");
    try_answer(req.send(body.to_string().as_bytes()))
}

/// POST raw bytes with a content type and extra headers.
pub fn post_raw(
    url: &str,
    auth: Auth<'_>,
    content_type: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = with_auth(agent().post(url), auth).header("Content-Type", content_type);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    answer(req.send(body))
}

/// Writes raw bytes to the server and returns what it answers (for requests no client
/// library would send).
pub fn raw_http(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// An ingest body for `claim_id` in `tenant`, with one supporting evidence.
pub fn claim(tenant: &str, claim_id: &str, text: &str) -> Value {
    serde_json::json!({
        "claim": {
            "claim_id": claim_id,
            "tenant_id": tenant,
            "canonical_text": text,
            "confidence": 0.9,
            "entities": ["Earth"],
        },
        "evidence": [{
            "evidence_id": format!("{claim_id}-e1"),
            "claim_id": claim_id,
            "source_id": "source-1",
            "stance": "supports",
            "source_quality": 0.8,
            "chunk_id": "chunk-1",
            "span_start": 0,
            "span_end": 12
        }],
        "edges": []
    })
}

/// Claim ids of a retrieve answer, in order.
pub fn result_ids(answer: &Answer) -> Vec<String> {
    answer.json["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|c| c["claim_id"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-encodes a query-string value.
pub fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
