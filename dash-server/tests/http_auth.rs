//! Who may do what, over real HTTP: real `dash serve` processes on loopback, real stores in temp
//! dirs.
//!
//! - API keys: rotation overlap, revocation, unknown keys, tenant scopes on every route, the
//!   server's tenant allowlist, and tenant isolation between scoped keys.
//! - JWTs (HS256): expiry and `nbf` against the leeway, issuer and audience, algorithm
//!   confusion (`none`, HS384/HS512, other secrets), required claims, `kid` rotation, and error
//!   bodies that never echo the token.
//! - Signed writes: HMAC headers, replays, stale timestamps, tampered bodies, signed `DELETE`s,
//!   unsigned reads, and optional signing.
//! - The audit log: exactly one hash-chained line per mutation and per denial, checked with
//!   `dash audit verify`, broken by a one-byte edit, continued across a restart.
//! - Secrets (keys, JWT and signing secrets, tokens) never reach the logs, the audit log, the
//!   metrics or configuration errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// A key that is configured and then revoked.
const KEY_OLD: &str = "key-old-0123456789abcdef";
/// A well-formed key the server does not know.
const KEY_UNKNOWN: &str = "key-unknown-0123456789ab";
/// JWT secrets by `kid`.
const KID1_SECRET: &str = "kid1-secret-0123456789abcdef";
const KID2_SECRET: &str = "kid2-secret-0123456789abcdef";
/// A secret the server does not know.
const OTHER_SECRET: &str = "other-secret-0123456789abcdef";
const ISSUER: &str = "dash-tests-issuer";
const AUDIENCE: &str = "dash-tests-audience";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Unix seconds now.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `(status, code)` of an answer, for one-line assertions.
fn sc(r: &Answer) -> (u16, &str) {
    (r.status, r.code())
}

/// A batch body of `tenant` claims.
fn batch(commit_id: &str, tenant: &str, ids: &[&str]) -> Value {
    let items: Vec<Value> = ids
        .iter()
        .map(|id| claim(tenant, id, &format!("batch claim {id} about the sky")))
        .collect();
    json!({"commit_id": commit_id, "items": items})
}

/// Runs the `dash` binary with `args` and no inherited `DASH_*` variables.
fn dash(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dash"));
    cmd.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("DASH_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

/// `dash audit verify <file>`: exit code and stdout.
fn audit_verify(file: &Path) -> (Option<i32>, String) {
    let out = dash(&["audit", "verify", file.to_str().unwrap()], &[]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Everything the servers on `data_dir` wrote to stderr, shutdown included (the harness puts
/// it next to the data dir; `TestServer::stderr` is gone once `stop` consumed the server).
fn server_stderr_after_stop(data_dir: &Path) -> String {
    let parent = data_dir.parent().unwrap();
    let stem = data_dir.file_name().unwrap().to_str().unwrap();
    let mut all = String::new();
    for entry in std::fs::read_dir(parent).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{stem}.stderr.")) {
            all.push_str(&std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    all
}

/// Minimal unpadded base64url (RFC 4648 §5), for hand-built tokens.
fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Claims of a token valid for ten minutes, for `tenants`, with the server's `iss` and `aud`.
fn jwt_claims(tenants: Value) -> Value {
    json!({
        "sub": "alice",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now() + 600,
        "tenants": tenants,
    })
}

/// Signs `claims` with `alg` (an HMAC algorithm), `secret` and an optional `kid`.
fn jwt(alg: Algorithm, kid: Option<&str>, secret: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// HS256 with the default secret and no `kid`.
fn hs256(claims: &Value) -> String {
    jwt(Algorithm::HS256, None, JWT_SECRET, claims)
}

/// Asserts a 401 `unauthorized` whose body does not echo `token` or any part of it.
fn assert_refused_token(r: &Answer, token: &str, what: &str) {
    assert_eq!(sc(r), (401, "unauthorized"), "{what}: {}", r.text);
    assert!(
        !r.text.contains(token),
        "{what}: the error echoes the token"
    );
    for part in token.split('.').filter(|p| p.len() > 8) {
        assert!(
            !r.text.contains(part),
            "{what}: the error echoes a token part"
        );
    }
}

/// A fresh nonce, unique within the test process.
fn nonce() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("nonce-{:012}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The three signing headers of one request.
struct Signed {
    timestamp: String,
    nonce: String,
    signature: String,
}

impl Signed {
    /// Signs `method path body` at `timestamp` with a fresh nonce.
    fn new(secret: &str, method: &str, path: &str, timestamp: i64, body: &[u8]) -> Self {
        let timestamp = timestamp.to_string();
        let nonce = nonce();
        let signature =
            dash_server::signing::sign(secret.as_bytes(), method, path, &timestamp, &nonce, body);
        Self {
            timestamp,
            nonce,
            signature,
        }
    }

    /// Signed now with `SIGNING_SECRET`.
    fn now(method: &str, path: &str, body: &[u8]) -> Self {
        Self::new(SIGNING_SECRET, method, path, now(), body)
    }

    fn headers(&self) -> [(&str, &str); 3] {
        [
            ("X-DASH-Timestamp", &self.timestamp),
            ("X-DASH-Nonce", &self.nonce),
            ("X-DASH-Signature", &self.signature),
        ]
    }
}

/// POSTs JSON bytes with extra headers.
fn post_bytes(url: &str, auth: Auth<'_>, body: &[u8], headers: &[(&str, &str)]) -> Answer {
    post_raw(url, auth, "application/json", body, headers)
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

#[test]
fn api_keys_rotate_with_overlap_and_revocation_wins() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        &dir.path().join("d"),
        &[
            ("DASH_API_KEYS", &format!("{KEY_A},{KEY_B},{KEY_OLD}")),
            ("DASH_ADMIN_API_KEYS", KEY_ADMIN),
            // Revoked while still listed as active: revocation wins.
            ("DASH_REVOKED_API_KEYS", KEY_OLD),
        ],
    );
    let ingest = server.url("/v1/ingest");

    // Rotation overlap: the old and the new key both work, for writes and reads.
    for (i, key) in [KEY_A, KEY_B, KEY_ADMIN].into_iter().enumerate() {
        let r = post(
            &ingest,
            Auth::Key(key),
            &claim("t1", &format!("c{i}"), "blue sky"),
        );
        assert_eq!(r.status, 200, "{key}: {}", r.text);
        let r = get(&server.url("/v1/claims/c0?tenant_id=t1"), Auth::Key(key));
        assert_eq!(r.status, 200, "{key}: {}", r.text);
    }

    // Revoked: denied everywhere, though also in DASH_API_KEYS.
    let r = post(&ingest, Auth::Key(KEY_OLD), &claim("t1", "old", "x"));
    assert_eq!(sc(&r), (401, "unauthorized"), "{}", r.text);
    assert!(r.header("www-authenticate").is_some());
    let r = get(
        &server.url("/v1/retrieve?tenant_id=t1&query=sky"),
        Auth::Key(KEY_OLD),
    );
    assert_eq!(sc(&r), (401, "unauthorized"));
    assert_eq!(
        get(&server.url("/v1/claims/old?tenant_id=t1"), Auth::Key(KEY_A)).status,
        404
    );

    // Unknown key, empty key, a key with one character changed, a key of another case.
    let mut flipped = KEY_A.to_owned();
    flipped.replace_range(0..1, "K");
    for key in [KEY_UNKNOWN, "", &flipped, &KEY_A.to_uppercase()] {
        let r = post(&ingest, Auth::Key(key), &claim("t1", "x", "x"));
        assert_eq!(sc(&r), (401, "unauthorized"), "{key:?}: {}", r.text);
        assert!(
            !r.text.contains(key) || key.is_empty(),
            "the error echoes the key"
        );
        let r = get(
            &server.url("/v1/retrieve?tenant_id=t1&query=sky"),
            Auth::Key(key),
        );
        assert_eq!(sc(&r), (401, "unauthorized"), "{key:?}");
    }
    // A server without JWT secrets refuses bearer tokens; other schemes are refused too.
    let r = get(
        &server.url("/v1/retrieve?tenant_id=t1&query=sky"),
        Auth::Bearer(KEY_A),
    );
    assert_eq!(sc(&r), (401, "unauthorized"));
    let r = post_raw(
        &ingest,
        Auth::None,
        "application/json",
        claim("t1", "x", "x").to_string().as_bytes(),
        &[("Authorization", &format!("Basic {KEY_A}"))],
    );
    assert_eq!(sc(&r), (401, "unauthorized"));
    assert_eq!(
        get(&server.url("/v1/claims/x?tenant_id=t1"), Auth::Key(KEY_A)).status,
        404
    );

    // A restart with the old key only revoked (no longer listed) keeps refusing it and serving
    // the new one.
    drop(server);
    let server = TestServer::start(
        &dir.path().join("d"),
        &[
            ("DASH_API_KEYS", KEY_B),
            ("DASH_ADMIN_API_KEYS", KEY_ADMIN),
            (
                "DASH_REVOKED_API_KEYS",
                &format!("{KEY_OLD},{KEY_A},{KEY_ADMIN}"),
            ),
        ],
    );
    let url = server.url("/v1/claims/c0?tenant_id=t1");
    assert_eq!(get(&url, Auth::Key(KEY_B)).status, 200);
    for key in [KEY_A, KEY_OLD, KEY_ADMIN] {
        assert_eq!(sc(&get(&url, Auth::Key(key))), (401, "unauthorized"));
    }
    // A revoked admin key loses the admin routes too.
    let r = get(&server.url("/debug/storage"), Auth::Key(KEY_ADMIN));
    assert_eq!(sc(&r), (401, "unauthorized"));
    let r = post(
        &server.url("/v1/admin/read_only"),
        Auth::Key(KEY_ADMIN),
        &json!({"read_only": true}),
    );
    assert_eq!(sc(&r), (401, "unauthorized"));
    assert_eq!(
        get(&server.url("/v1/admin/read_only"), Auth::Key(KEY_B)).json["read_only"],
        false
    );
}

#[test]
fn scoped_keys_are_confined_to_their_tenants_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        &dir.path().join("d"),
        &[
            ("DASH_API_KEYS", &format!("{KEY_A},{KEY_B}")),
            ("DASH_API_KEY_SCOPES", &format!("{KEY_B}:t2")),
        ],
    );
    let (a, b) = (Auth::Key(KEY_A), Auth::Key(KEY_B));
    // The unscoped key seeds both tenants.
    for tenant in ["t1", "t2"] {
        let r = post(
            &server.url("/v1/ingest"),
            a,
            &claim(tenant, "c1", "blue sky"),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }

    // Every route, on t1 (refused) and t2 (served).
    for (tenant, expected) in [("t1", 403), ("t2", 200)] {
        let check = |what: &str, r: Answer| {
            assert_eq!(r.status, expected, "{what} on {tenant}: {}", r.text);
            if expected == 403 {
                assert_eq!(r.code(), "forbidden", "{what} on {tenant}");
            }
        };
        let r = post(
            &server.url("/v1/ingest"),
            b,
            &claim(tenant, "c2", "green grass"),
        );
        check("ingest", r);
        let r = post(
            &server.url("/v1/ingest/batch"),
            b,
            &batch(&format!("b-{tenant}"), tenant, &["c3", "c4"]),
        );
        check("batch", r);
        let r = get(
            &server.url(&format!("/v1/retrieve?tenant_id={tenant}&query=sky")),
            b,
        );
        check("GET retrieve", r);
        let r = post(
            &server.url("/v1/retrieve"),
            b,
            &json!({"tenant_id": tenant, "query": "sky"}),
        );
        check("POST retrieve", r);
        let r = get(&server.url(&format!("/v1/claims/c1?tenant_id={tenant}")), b);
        check("GET claim", r);
        let r = get(
            &server.url(&format!("/v1/claims/c1/versions?tenant_id={tenant}")),
            b,
        );
        check("GET versions", r);
        let r = get_stream(
            &server.url(&format!("/v1/events?tenant_id={tenant}&from_lsn=oldest")),
            b,
        );
        check("GET events", r);
        let r = get(
            &server.url(&format!("/debug/planner?tenant_id={tenant}&query=sky")),
            b,
        );
        check("planner", r);
        let r = delete(&server.url(&format!("/v1/claims/c1?tenant_id={tenant}")), b);
        check("DELETE claim", r);
    }

    // Nothing of the refused calls landed in t1; everything of the served ones did in t2.
    let claim_status = |tenant: &str, id: &str| {
        get(
            &server.url(&format!("/v1/claims/{id}?tenant_id={tenant}")),
            a,
        )
        .status
    };
    assert_eq!(
        claim_status("t1", "c1"),
        200,
        "the refused DELETE removed the claim"
    );
    for id in ["c2", "c3", "c4"] {
        assert_eq!(
            claim_status("t1", id),
            404,
            "a refused write of {id} landed"
        );
        assert_eq!(
            claim_status("t2", id),
            200,
            "a served write of {id} is missing"
        );
    }
    assert_eq!(
        claim_status("t2", "c1"),
        404,
        "the served DELETE did not remove the claim"
    );

    // A batch naming t2 and t1 is refused for the scoped key as a whole (before validation).
    let mut mixed = batch("b-mixed", "t2", &["m1"]);
    mixed["items"]
        .as_array_mut()
        .unwrap()
        .push(claim("t1", "m2", "x"));
    let r = post(&server.url("/v1/ingest/batch"), b, &mixed);
    assert_eq!(sc(&r), (403, "forbidden"), "{}", r.text);
    assert_eq!(claim_status("t2", "m1"), 404);
}

#[test]
fn tenant_allowlist_bounds_every_principal() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        &dir.path().join("d"),
        &[
            ("DASH_API_KEYS", KEY_A),
            ("DASH_ADMIN_API_KEYS", KEY_ADMIN),
            ("DASH_JWT_SECRET", JWT_SECRET),
            ("DASH_TENANT_ALLOWLIST", "t1"),
        ],
    );
    let token = hs256(&json!({"sub": "bob", "exp": now() + 600, "tenants": ["t1", "t2"]}));
    for auth in [Auth::Key(KEY_A), Auth::Key(KEY_ADMIN), Auth::Bearer(&token)] {
        let r = post(
            &server.url("/v1/ingest"),
            auth,
            &claim("t1", "c1", "blue sky"),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let r = post(
            &server.url("/v1/ingest"),
            auth,
            &claim("t2", "c1", "blue sky"),
        );
        assert_eq!(sc(&r), (403, "tenant_not_allowed"), "{}", r.text);
        let r = get(&server.url("/v1/retrieve?tenant_id=t2&query=sky"), auth);
        assert_eq!(sc(&r), (403, "tenant_not_allowed"));
        let r = get(&server.url("/v1/claims/c1?tenant_id=t2"), auth);
        assert_eq!(sc(&r), (403, "tenant_not_allowed"));
        let r = delete(&server.url("/v1/claims/c1?tenant_id=t2"), auth);
        assert_eq!(sc(&r), (403, "tenant_not_allowed"));
        let r = post(
            &server.url("/v1/ingest/batch"),
            auth,
            &batch("b", "t2", &["c9"]),
        );
        assert_eq!(sc(&r), (403, "tenant_not_allowed"));
        let r = get(&server.url("/v1/retrieve?tenant_id=t1&query=sky"), auth);
        assert_eq!(result_ids(&r), ["c1"], "{}", r.text);
    }
    // Nothing reached t2 (checked with the allowlist lifted).
    drop(server);
    let server = TestServer::start(&dir.path().join("d"), &[("DASH_API_KEYS", KEY_A)]);
    let r = get(&server.url("/v1/claims/c1?tenant_id=t2"), Auth::Key(KEY_A));
    assert_eq!(r.status, 404, "{}", r.text);
}

#[test]
fn tenants_are_isolated_between_scoped_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        &dir.path().join("d"),
        &[
            ("DASH_API_KEYS", &format!("{KEY_A},{KEY_B}")),
            ("DASH_API_KEY_SCOPES", &format!("{KEY_A}:t1;{KEY_B}:t2")),
        ],
    );
    let (a, b) = (Auth::Key(KEY_A), Auth::Key(KEY_B));
    let text = |tenant: &str| format!("the sky seen from {tenant}");
    // Same claim id in both tenants with different text, and same id and same text.
    for (auth, tenant) in [(a, "t1"), (b, "t2")] {
        let r = post(
            &server.url("/v1/ingest"),
            auth,
            &claim(tenant, "c1", &text(tenant)),
        );
        assert_eq!(
            (r.status, &r.json["version"]),
            (200, &json!(1)),
            "{}",
            r.text
        );
        let r = post(
            &server.url("/v1/ingest"),
            auth,
            &claim(tenant, "same", "identical sky"),
        );
        assert_eq!(
            (r.status, &r.json["version"]),
            (200, &json!(1)),
            "{}",
            r.text
        );
    }
    for (auth, mine, theirs) in [(a, "t1", "t2"), (b, "t2", "t1")] {
        let r = get(
            &server.url(&format!("/v1/retrieve?tenant_id={mine}&query=sky&top_k=10")),
            auth,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let mut ids = result_ids(&r);
        ids.sort();
        assert_eq!(ids, ["c1", "same"], "{}", r.text);
        let results = r.json["results"].as_array().unwrap();
        let c1 = results.iter().find(|c| c["claim_id"] == "c1").unwrap();
        assert_eq!(
            c1["canonical_text"],
            text(mine),
            "{mine} sees another tenant's claim"
        );
        let r = post(
            &server.url("/v1/retrieve"),
            auth,
            &json!({"tenant_id": mine, "query": "seen from"}),
        );
        assert_eq!(result_ids(&r), ["c1"]);
        assert_eq!(r.json["results"][0]["canonical_text"], text(mine));

        let r = get(
            &server.url(&format!("/v1/claims/c1?tenant_id={mine}")),
            auth,
        );
        assert_eq!(r.json["claim"]["canonical_text"], text(mine));
        assert_eq!(
            (
                r.json["version"].clone(),
                r.json["history"].as_array().map(Vec::len)
            ),
            (json!(1), Some(1))
        );

        let r = get(
            &server.url(&format!("/v1/claims/c1?tenant_id={theirs}")),
            auth,
        );
        assert_eq!(sc(&r), (403, "forbidden"), "{}", r.text);
        assert!(!r.text.contains(&text(theirs)));
        let r = get(
            &server.url(&format!("/v1/retrieve?tenant_id={theirs}&query=sky")),
            auth,
        );
        assert_eq!(sc(&r), (403, "forbidden"));
    }
    // Batch commit ids are per tenant: the same id in both is two commits, not a replay or a
    // conflict.
    for (auth, tenant) in [(a, "t1"), (b, "t2")] {
        let r = post(
            &server.url("/v1/ingest/batch"),
            auth,
            &batch("shared-commit", tenant, &[&format!("only-{tenant}")]),
        );
        assert_eq!(r.json["status"], "committed", "{tenant}: {}", r.text);
    }
    // Each tenant holds only its own batch's claim.
    let r = get(&server.url("/v1/claims/only-t1?tenant_id=t2"), b);
    assert_eq!(sc(&r), (404, "not_found"), "{}", r.text);
    let r = get(&server.url("/v1/claims/only-t2?tenant_id=t1"), a);
    assert_eq!(sc(&r), (404, "not_found"), "{}", r.text);
    let r = get(&server.url("/v1/claims/only-t2?tenant_id=t2"), b);
    assert_eq!(r.status, 200, "{}", r.text);
    // Forgetting in one tenant leaves the other's claim of the same id.
    assert_eq!(
        delete(&server.url("/v1/claims/c1?tenant_id=t1"), a).status,
        200
    );
    assert_eq!(
        get(&server.url("/v1/claims/c1?tenant_id=t1"), a).status,
        404
    );
    let r = get(&server.url("/v1/claims/c1?tenant_id=t2"), b);
    assert_eq!(
        (r.status, &r.json["claim"]["canonical_text"]),
        (200, &json!(text("t2")))
    );
}

// ---------------------------------------------------------------------------------------------
// JWT
// ---------------------------------------------------------------------------------------------

/// A JWT-only server with a default secret, two `kid` secrets, issuer, audience, 30 s leeway.
fn jwt_server(dir: &Path) -> TestServer {
    TestServer::start(
        &dir.join("d"),
        &[
            ("DASH_JWT_SECRET", JWT_SECRET),
            (
                "DASH_JWT_SECRETS",
                &format!("kid1:{KID1_SECRET},kid2:{KID2_SECRET}"),
            ),
            ("DASH_JWT_ISSUER", ISSUER),
            ("DASH_JWT_AUDIENCE", AUDIENCE),
            ("DASH_JWT_LEEWAY_SECS", "30"),
        ],
    )
}

#[test]
fn jwt_tokens_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let server = jwt_server(dir.path());
    let ingest = server.url("/v1/ingest");
    let retrieve_t1 = server.url("/v1/retrieve?tenant_id=t1&query=sky");

    // The hand-built tokens below are only meaningful if the encoder is right (RFC 4648 §10,
    // and the url-safe alphabet), and matches what `jsonwebtoken` produces.
    for (raw, encoded) in [
        (&b"f"[..], "Zg"),
        (b"fo", "Zm8"),
        (b"foo", "Zm9v"),
        (b"\xfb\xff", "-_8"),
    ] {
        assert_eq!(b64url(raw), encoded);
    }
    let good_claims = jwt_claims(json!(["t1"]));
    let good = hs256(&good_claims);
    assert_eq!(
        good.split('.').nth(1),
        Some(b64url(good_claims.to_string().as_bytes()).as_str())
    );

    // A valid token works for its tenant, for writes and reads, and nowhere else.
    let r = post(&ingest, Auth::Bearer(&good), &claim("t1", "c1", "blue sky"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(result_ids(&get(&retrieve_t1, Auth::Bearer(&good))), ["c1"]);
    let r = post(&ingest, Auth::Bearer(&good), &claim("t2", "c1", "blue sky"));
    assert_eq!(sc(&r), (403, "forbidden"), "{}", r.text);
    let r = get(
        &server.url("/v1/claims/c1?tenant_id=t2"),
        Auth::Bearer(&good),
    );
    assert_eq!(sc(&r), (403, "forbidden"));
    // JWT principals are never admins.
    let r = post(
        &server.url("/v1/admin/read_only"),
        Auth::Bearer(&good),
        &json!({"read_only": true}),
    );
    assert_eq!(sc(&r), (403, "forbidden"));
    // The tenant claim may be a string or an array of several.
    let single = hs256(&jwt_claims(json!("t2")));
    let r = post(
        &ingest,
        Auth::Bearer(&single),
        &claim("t2", "c1", "blue sky"),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let both = hs256(&jwt_claims(json!(["t1", "t2"])));
    for t in ["t1", "t2"] {
        let r = get(
            &server.url(&format!("/v1/claims/c1?tenant_id={t}")),
            Auth::Bearer(&both),
        );
        assert_eq!(r.status, 200, "{t}: {}", r.text);
    }
    // "bearer" in lower case is accepted too.
    let r = post_raw(
        &server.url("/v1/retrieve"),
        Auth::None,
        "application/json",
        json!({"tenant_id": "t1", "query": "sky"})
            .to_string()
            .as_bytes(),
        &[("Authorization", &format!("bearer {good}"))],
    );
    assert_eq!(r.status, 200, "{}", r.text);

    // Leeway: 30 s either side is accepted, beyond it is not.
    let mut within = jwt_claims(json!(["t1"]));
    within["exp"] = json!(now() - 10);
    within["nbf"] = json!(now() + 10);
    assert_eq!(
        get(&retrieve_t1, Auth::Bearer(&hs256(&within))).status,
        200,
        "leeway not honoured"
    );

    let mut refused: Vec<(&str, String)> = Vec::new();
    let mut c = jwt_claims(json!(["t1"]));
    c["exp"] = json!(now() - 3600);
    refused.push(("expired", hs256(&c)));
    let mut c = jwt_claims(json!(["t1"]));
    c["exp"] = json!(now() - 60);
    refused.push(("expired just past the leeway", hs256(&c)));
    let mut c = jwt_claims(json!(["t1"]));
    c["nbf"] = json!(now() + 3600);
    refused.push(("not valid yet", hs256(&c)));
    let mut c = jwt_claims(json!(["t1"]));
    c["aud"] = json!("another-audience");
    refused.push(("wrong audience", hs256(&c)));
    let mut c = jwt_claims(json!(["t1"]));
    c["aud"] = json!(["another-audience", "a-third"]);
    refused.push(("wrong audiences", hs256(&c)));
    let mut c = jwt_claims(json!(["t1"]));
    c["iss"] = json!("someone-else");
    refused.push(("wrong issuer", hs256(&c)));
    let mut c = jwt_claims(json!(["t1"]));
    c.as_object_mut().unwrap().remove("exp");
    refused.push(("missing exp", hs256(&c)));
    let mut c = jwt_claims(json!(["t1"]));
    c["exp"] = json!("tomorrow");
    refused.push(("exp not a number", hs256(&c)));
    let mut c = jwt_claims(json!(["t1"]));
    c.as_object_mut().unwrap().remove("tenants");
    refused.push(("no tenant claim", hs256(&c)));
    refused.push(("tenant claim of numbers", hs256(&jwt_claims(json!([1, 2])))));
    refused.push((
        "tenant claim an object",
        hs256(&jwt_claims(json!({"t1": true}))),
    ));
    let claims = jwt_claims(json!(["t1"]));
    refused.push((
        "signed with another secret",
        jwt(Algorithm::HS256, None, OTHER_SECRET, &claims),
    ));
    refused.push(("HS384", jwt(Algorithm::HS384, None, JWT_SECRET, &claims)));
    refused.push(("HS512", jwt(Algorithm::HS512, None, JWT_SECRET, &claims)));
    let none_token = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(claims.to_string().as_bytes())
    );
    refused.push(("alg none", none_token.clone()));
    let none_upper = format!(
        "{}.{}.",
        b64url(br#"{"alg":"NONE","typ":"JWT"}"#),
        b64url(claims.to_string().as_bytes())
    );
    refused.push(("alg NONE", none_upper));
    // The good token's header and claims with the signature dropped or altered.
    let (unsigned, sig) = good.rsplit_once('.').unwrap();
    refused.push(("signature stripped", format!("{unsigned}.")));
    let mut bad_sig = sig.to_owned();
    let first = if bad_sig.starts_with('A') { "B" } else { "A" };
    bad_sig.replace_range(0..1, first);
    refused.push(("signature altered", format!("{unsigned}.{bad_sig}")));
    // The good signature over claims widened to t2.
    let (header, _) = unsigned.split_once('.').unwrap();
    let widened = b64url(jwt_claims(json!(["t1", "t2"])).to_string().as_bytes());
    refused.push(("claims swapped", format!("{header}.{widened}.{sig}")));
    refused.push(("not a JWT", "not-a-jwt-at-all".to_owned()));

    for (what, token) in &refused {
        let r = post(&ingest, Auth::Bearer(token), &claim("t1", "forged", "x"));
        assert_refused_token(&r, token, what);
        let r = get(&retrieve_t1, Auth::Bearer(token));
        assert_refused_token(&r, token, what);
    }
    assert_eq!(
        get(
            &server.url("/v1/claims/forged?tenant_id=t1"),
            Auth::Bearer(&good)
        )
        .status,
        404
    );
}

#[test]
fn jwt_kid_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let server = jwt_server(dir.path());
    let url = server.url("/v1/retrieve?tenant_id=t1&query=sky");
    let claims = jwt_claims(json!(["t1"]));
    // Both kids of the overlap, and the default secret without a kid, are accepted.
    for (kid, secret) in [
        (Some("kid1"), KID1_SECRET),
        (Some("kid2"), KID2_SECRET),
        (None, JWT_SECRET),
    ] {
        let token = jwt(Algorithm::HS256, kid, secret, &claims);
        let r = get(&url, Auth::Bearer(&token));
        assert_eq!(r.status, 200, "{kid:?}: {}", r.text);
    }
    for (what, kid, secret) in [
        ("unknown kid", Some("kid3"), KID1_SECRET),
        (
            "unknown kid with the default secret",
            Some("kid3"),
            JWT_SECRET,
        ),
        ("kid1 signed with kid2's secret", Some("kid1"), KID2_SECRET),
        (
            "kid2 signed with the default secret",
            Some("kid2"),
            JWT_SECRET,
        ),
        ("no kid signed with kid1's secret", None, KID1_SECRET),
    ] {
        let token = jwt(Algorithm::HS256, kid, secret, &claims);
        assert_refused_token(&get(&url, Auth::Bearer(&token)), &token, what);
    }
    drop(server);

    // After the rotation completes (kid1 retired, no default secret), kid1 and kid-less tokens
    // are refused and kid2 still works.
    let server = TestServer::start(
        &dir.path().join("d"),
        &[("DASH_JWT_SECRETS", &format!("kid2:{KID2_SECRET}"))],
    );
    let url = server.url("/v1/retrieve?tenant_id=t1&query=sky");
    let token = jwt(Algorithm::HS256, Some("kid2"), KID2_SECRET, &claims);
    assert_eq!(get(&url, Auth::Bearer(&token)).status, 200);
    for (kid, secret) in [(Some("kid1"), KID1_SECRET), (None, JWT_SECRET)] {
        let token = jwt(Algorithm::HS256, kid, secret, &claims);
        assert_refused_token(&get(&url, Auth::Bearer(&token)), &token, "retired");
    }
}

#[test]
/// Regression: a configured issuer or audience must be required, not only checked when
/// present (jsonwebtoken checks `iss`/`aud` only when the token carries them).
fn jwt_without_configured_issuer_or_audience_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = jwt_server(dir.path());
    let url = server.url("/v1/retrieve?tenant_id=t1&query=sky");
    // Both fields are checked before asserting, so a failure names every field let through.
    let answers: Vec<(&str, String, Answer)> = ["iss", "aud"]
        .into_iter()
        .map(|field| {
            let mut c = jwt_claims(json!(["t1"]));
            c.as_object_mut().unwrap().remove(field);
            let token = hs256(&c);
            let r = get(&url, Auth::Bearer(&token));
            (field, token, r)
        })
        .collect();
    let accepted: Vec<&str> = answers
        .iter()
        .filter(|(_, _, r)| r.status != 401)
        .map(|(f, _, _)| *f)
        .collect();
    assert!(
        accepted.is_empty(),
        "tokens without {accepted:?} were accepted"
    );
    for (field, token, r) in &answers {
        assert_refused_token(r, token, &format!("no {field}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Signed writes
// ---------------------------------------------------------------------------------------------

#[test]
fn signed_writes_when_required() {
    let dir = tempfile::tempdir().unwrap();
    let skew = 60;
    let server = TestServer::start(
        &dir.path().join("d"),
        &[
            ("DASH_API_KEYS", KEY_A),
            ("DASH_SIGNING_SECRET", SIGNING_SECRET),
            ("DASH_REQUIRE_SIGNED_WRITES", "true"),
            ("DASH_SIGNATURE_SKEW_SECS", &skew.to_string()),
        ],
    );
    let auth = Auth::Key(KEY_A);
    let ingest = server.url("/v1/ingest");
    let body = claim("t1", "c1", "blue sky").to_string().into_bytes();

    // Correctly signed: accepted.
    let signed = Signed::now("POST", "/v1/ingest", &body);
    let r = post_bytes(&ingest, auth, &body, &signed.headers());
    assert_eq!(
        (r.status, &r.json["version"]),
        (200, &json!(1)),
        "{}",
        r.text
    );

    // The same request again: a replay, refused, and the claim written once.
    let r = post_bytes(&ingest, auth, &body, &signed.headers());
    assert_eq!(sc(&r), (401, "replayed_request"), "{}", r.text);
    let r = get(&server.url("/v1/claims/c1?tenant_id=t1"), auth);
    assert_eq!(
        (r.status, &r.json["version"]),
        (200, &json!(1)),
        "{}",
        r.text
    );
    assert_eq!(r.json["history"].as_array().unwrap().len(), 1);

    // Unsigned, or only partly signed.
    let r = post_bytes(&ingest, auth, &body, &[]);
    assert_eq!(sc(&r), (401, "signature_required"), "{}", r.text);
    let s = Signed::now("POST", "/v1/ingest", &body);
    for keep in [
        [true, true, false],
        [true, false, true],
        [false, true, true],
    ] {
        let headers: Vec<(&str, &str)> = s
            .headers()
            .into_iter()
            .zip(keep)
            .filter_map(|(h, k)| k.then_some(h))
            .collect();
        let r = post_bytes(&ingest, auth, &body, &headers);
        assert_eq!(
            sc(&r),
            (401, "signature_required"),
            "{headers:?}: {}",
            r.text
        );
    }

    // Stale (too old or too far ahead), checked before the signature.
    for ts in [now() - 2 * skew, now() + 2 * skew] {
        let s = Signed::new(SIGNING_SECRET, "POST", "/v1/ingest", ts, &body);
        let r = post_bytes(&ingest, auth, &body, &s.headers());
        assert_eq!(sc(&r), (401, "stale_request"), "ts {ts}: {}", r.text);
    }
    let mut s = Signed::now("POST", "/v1/ingest", &body);
    s.timestamp = "yesterday".to_owned();
    assert_eq!(
        sc(&post_bytes(&ingest, auth, &body, &s.headers())),
        (401, "stale_request")
    );

    // Tampered after signing: body, path, method, nonce, timestamp; wrong secret; bad nonce.
    let mut tampered = claim("t1", "c1", "blue sky").to_string().into_bytes();
    let at = tampered.iter().position(|&b| b == b'b').unwrap();
    tampered[at] = b'B';
    let s = Signed::now("POST", "/v1/ingest", &body);
    let r = post_bytes(&ingest, auth, &tampered, &s.headers());
    assert_eq!(sc(&r), (401, "bad_signature"), "tampered body: {}", r.text);
    let mut bad = Vec::new();
    bad.push(("other path", Signed::now("POST", "/v1/ingest/batch", &body)));
    bad.push(("other method", Signed::now("PUT", "/v1/ingest", &body)));
    bad.push((
        "other secret",
        Signed::new(OTHER_SECRET, "POST", "/v1/ingest", now(), &body),
    ));
    let mut s = Signed::now("POST", "/v1/ingest", &body);
    s.nonce = nonce();
    bad.push(("nonce swapped", s));
    let mut s = Signed::now("POST", "/v1/ingest", &body);
    s.timestamp = (s.timestamp.parse::<i64>().unwrap() - 1).to_string();
    bad.push(("timestamp changed", s));
    let mut s = Signed::now("POST", "/v1/ingest", &body);
    s.nonce = "short".to_owned();
    bad.push(("nonce too short", s));
    let mut s = Signed::now("POST", "/v1/ingest", &body);
    s.nonce = "nonce with spaces".to_owned();
    bad.push(("nonce with spaces", s));
    let mut s = Signed::now("POST", "/v1/ingest", &body);
    s.signature = "0".repeat(64);
    bad.push(("zero signature", s));
    for (what, s) in &bad {
        let r = post_bytes(&ingest, auth, &body, &s.headers());
        assert_eq!(sc(&r), (401, "bad_signature"), "{what}: {}", r.text);
    }
    // A bad signature does not burn its nonce: the correctly signed request with the same
    // nonce still goes through (version 2 now).
    let (_, s) = &bad[0];
    let fixed = Signed {
        signature: dash_server::signing::sign(
            SIGNING_SECRET.as_bytes(),
            "POST",
            "/v1/ingest",
            &s.timestamp,
            &s.nonce,
            &body,
        ),
        timestamp: s.timestamp.clone(),
        nonce: s.nonce.clone(),
    };
    let r = post_bytes(&ingest, auth, &body, &fixed.headers());
    assert_eq!(
        (r.status, &r.json["version"]),
        (200, &json!(2)),
        "{}",
        r.text
    );
    // Upper-case hex is the same signature.
    let mut s = Signed::now("POST", "/v1/ingest", &body);
    s.signature = s.signature.to_uppercase();
    assert_eq!(post_bytes(&ingest, auth, &body, &s.headers()).status, 200);

    // Signed batch.
    let batch_body = batch("b-1", "t1", &["b1", "b2"]).to_string().into_bytes();
    let s = Signed::now("POST", "/v1/ingest/batch", &batch_body);
    let r = post_bytes(
        &server.url("/v1/ingest/batch"),
        auth,
        &batch_body,
        &s.headers(),
    );
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (200, Some("committed")),
        "{}",
        r.text
    );
    let r = post_bytes(&server.url("/v1/ingest/batch"), auth, &batch_body, &[]);
    assert_eq!(sc(&r), (401, "signature_required"));

    // Signed DELETE: empty body, the signed path includes the query.
    let del = server.url("/v1/claims/b1?tenant_id=t1");
    let r = delete_with(&del, auth, &[]);
    assert_eq!(sc(&r), (401, "signature_required"), "{}", r.text);
    let s = Signed::now("DELETE", "/v1/claims/b1", b"");
    let r = delete_with(&del, auth, &s.headers());
    assert_eq!(
        sc(&r),
        (401, "bad_signature"),
        "the query is not covered: {}",
        r.text
    );
    let s = Signed::now("DELETE", "/v1/claims/b1?tenant_id=t2", b"");
    assert_eq!(
        sc(&delete_with(&del, auth, &s.headers())),
        (401, "bad_signature")
    );
    let s = Signed::now("DELETE", "/v1/claims/b1?tenant_id=t1", b"");
    let r = delete_with(&del, auth, &s.headers());
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        sc(&delete_with(&del, auth, &s.headers())),
        (401, "replayed_request")
    );
    assert_eq!(
        get(&server.url("/v1/claims/b1?tenant_id=t1"), auth).status,
        404
    );
    assert_eq!(
        get(&server.url("/v1/claims/b2?tenant_id=t1"), auth).status,
        200
    );

    // Reads need no signature, POST retrieve included.
    let r = get(&server.url("/v1/retrieve?tenant_id=t1&query=sky"), auth);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(result_ids(&r).contains(&"c1".to_owned()));
    let r = post(
        &server.url("/v1/retrieve"),
        auth,
        &json!({"tenant_id": "t1", "query": "sky"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        get(&server.url("/debug/planner?tenant_id=t1&query=sky"), auth).status,
        200
    );

    // Credentials are still checked first: a perfectly signed request without a key is 401
    // `unauthorized`, and does not spend its nonce.
    let s = Signed::now("POST", "/v1/ingest", &body);
    let r = post_bytes(&ingest, Auth::None, &body, &s.headers());
    assert_eq!(sc(&r), (401, "unauthorized"));
    assert_eq!(post_bytes(&ingest, auth, &body, &s.headers()).status, 200);
}

#[test]
fn signed_writes_when_optional() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        &dir.path().join("d"),
        &[
            ("DASH_API_KEYS", KEY_A),
            ("DASH_SIGNING_SECRET", SIGNING_SECRET),
            ("DASH_NONCE_CACHE_SIZE", "16"),
        ],
    );
    let auth = Auth::Key(KEY_A);
    let ingest = server.url("/v1/ingest");
    let body = claim("t1", "c1", "blue sky").to_string().into_bytes();

    // Unsigned writes pass.
    assert_eq!(post_bytes(&ingest, auth, &body, &[]).status, 200);
    assert_eq!(
        post(&ingest, auth, &claim("t1", "c2", "green grass")).status,
        200
    );
    assert_eq!(
        delete_with(&server.url("/v1/claims/c2?tenant_id=t1"), auth, &[]).status,
        200
    );
    // Signed ones too, and replays of them are still refused.
    let s = Signed::now("POST", "/v1/ingest", &body);
    assert_eq!(post_bytes(&ingest, auth, &body, &s.headers()).status, 200);
    assert_eq!(
        sc(&post_bytes(&ingest, auth, &body, &s.headers())),
        (401, "replayed_request")
    );
    // A request carrying a bad or partial signature is refused, never treated as unsigned.
    let s = Signed::new(OTHER_SECRET, "POST", "/v1/ingest", now(), &body);
    let r = post_bytes(&ingest, auth, &body, &s.headers());
    assert_eq!(sc(&r), (401, "bad_signature"), "{}", r.text);
    let s = Signed::now("POST", "/v1/ingest", b"{}");
    assert_eq!(
        sc(&post_bytes(&ingest, auth, &body, &s.headers())),
        (401, "bad_signature")
    );
    let s = Signed::now("POST", "/v1/ingest", &body);
    let r = post_bytes(&ingest, auth, &body, &[("X-DASH-Signature", &s.signature)]);
    assert_eq!(sc(&r), (401, "signature_required"), "{}", r.text);
    let s = Signed::new(SIGNING_SECRET, "POST", "/v1/ingest", now() - 3600, &body);
    assert_eq!(
        sc(&post_bytes(&ingest, auth, &body, &s.headers())),
        (401, "stale_request")
    );
    let s = Signed::new(
        OTHER_SECRET,
        "DELETE",
        "/v1/claims/c1?tenant_id=t1",
        now(),
        b"",
    );
    let r = delete_with(
        &server.url("/v1/claims/c1?tenant_id=t1"),
        auth,
        &s.headers(),
    );
    assert_eq!(sc(&r), (401, "bad_signature"));
    // Two accepted ingests of c1 (unsigned, signed); the refused ones wrote nothing.
    let r = get(&server.url("/v1/claims/c1?tenant_id=t1"), auth);
    assert_eq!(
        (r.status, &r.json["version"]),
        (200, &json!(2)),
        "{}",
        r.text
    );

    // The replay cache is bounded (16 here): pushing the first request out of it does not make
    // it replayable; its timestamp is now below the cache's floor.
    let body = claim("t1", "n", "nonce churn").to_string().into_bytes();
    let base = now() - 40;
    let first = Signed::new(SIGNING_SECRET, "POST", "/v1/ingest", base, &body);
    assert_eq!(
        post_bytes(&ingest, auth, &body, &first.headers()).status,
        200
    );
    for i in 1..=20 {
        let s = Signed::new(SIGNING_SECRET, "POST", "/v1/ingest", base + i, &body);
        let r = post_bytes(&ingest, auth, &body, &s.headers());
        assert_eq!(r.status, 200, "request {i}: {}", r.text);
    }
    let r = post_bytes(&ingest, auth, &body, &first.headers());
    assert_eq!(sc(&r), (401, "stale_request"), "{}", r.text);
    let r = get(&server.url("/v1/claims/n?tenant_id=t1"), auth);
    assert_eq!(r.json["version"], 21, "{}", r.text);
}

// ---------------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------------

/// One expected audit line: principal placeholder (`A`, `B`, `ADMIN`, or literal), tenant,
/// action, outcome.
type Expected = (
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
);

fn audit_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn audit_log_records_every_mutation_and_denial_and_detects_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let keys = format!("{KEY_A},{KEY_B}");
    let scopes = format!("{KEY_B}:t2");
    let env = [
        ("DASH_API_KEYS", keys.as_str()),
        ("DASH_API_KEY_SCOPES", &scopes),
        ("DASH_ADMIN_API_KEYS", KEY_ADMIN),
        ("DASH_JWT_SECRET", JWT_SECRET),
        ("DASH_SIGNING_SECRET", SIGNING_SECRET),
    ];
    let server = TestServer::start(&data, &env);
    let (a, b, admin) = (Auth::Key(KEY_A), Auth::Key(KEY_B), Auth::Key(KEY_ADMIN));
    let token = hs256(&json!({"sub": "alice", "exp": now() + 600, "tenants": ["t1"]}));
    let expired = hs256(&json!({"sub": "mallory", "exp": now() - 3600, "tenants": ["t1"]}));
    let url = |p: &str| server.url(p);
    let mut expected: Vec<Expected> = Vec::new();

    // Mutations.
    assert_eq!(
        post(&url("/v1/ingest"), a, &claim("t1", "c1", "blue sky")).status,
        200
    );
    expected.push(("A", Some("t1"), "ingest", "ok"));
    assert_eq!(
        post(
            &url("/v1/ingest"),
            Auth::Bearer(&token),
            &claim("t1", "c2", "grass")
        )
        .status,
        200
    );
    expected.push(("jwt:alice", Some("t1"), "ingest", "ok"));
    let b1 = batch("b-1", "t1", &["c3", "c4"]);
    assert_eq!(
        post(&url("/v1/ingest/batch"), a, &b1).json["status"],
        "committed"
    );
    expected.push(("A", Some("t1"), "ingest_batch", "ok"));
    assert_eq!(
        post(&url("/v1/ingest/batch"), a, &b1).json["status"],
        "replayed"
    );
    expected.push(("A", Some("t1"), "ingest_batch", "replayed"));
    let r = post(&url("/v1/ingest/batch"), a, &batch("b-1", "t1", &["c5"]));
    assert_eq!(sc(&r), (409, "commit_conflict"));
    expected.push(("A", Some("t1"), "ingest_batch", "error:commit_conflict"));
    assert_eq!(delete(&url("/v1/claims/c1?tenant_id=t1"), a).status, 200);
    expected.push(("A", Some("t1"), "forget", "ok"));
    assert_eq!(
        sc(&delete(&url("/v1/claims/nope?tenant_id=t1"), a)),
        (404, "not_found")
    );
    expected.push(("A", Some("t1"), "forget", "error:not_found"));
    for on in [true, false] {
        let r = post(
            &url("/v1/admin/read_only"),
            admin,
            &json!({"read_only": on}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        expected.push(("ADMIN", None, "set_read_only", "ok"));
    }

    // Denials.
    let r = post(&url("/v1/admin/read_only"), a, &json!({"read_only": true}));
    assert_eq!(sc(&r), (403, "forbidden"));
    expected.push(("A", None, "set_read_only", "denied:forbidden"));
    assert_eq!(
        sc(&post(
            &url("/v1/ingest"),
            Auth::None,
            &claim("t1", "x", "x")
        )),
        (401, "unauthorized")
    );
    expected.push(("-", None, "ingest", "denied:unauthorized"));
    let r = post(
        &url("/v1/ingest"),
        Auth::Key(KEY_UNKNOWN),
        &claim("t1", "x", "x"),
    );
    assert_eq!(sc(&r), (401, "unauthorized"));
    expected.push(("-", None, "ingest", "denied:unauthorized"));
    let r = post(
        &url("/v1/ingest/batch"),
        Auth::Bearer(&expired),
        &batch("b-2", "t1", &["x"]),
    );
    assert_eq!(sc(&r), (401, "unauthorized"));
    expected.push(("-", None, "ingest_batch", "denied:unauthorized"));
    assert_eq!(
        sc(&post(&url("/v1/ingest"), b, &claim("t1", "x", "x"))),
        (403, "forbidden")
    );
    expected.push(("B", Some("t1"), "ingest", "denied:forbidden"));
    // A denied read is a denial, so it is audited (under the action `read`).
    assert_eq!(
        sc(&get(&url("/v1/retrieve?tenant_id=t1&query=sky"), b)),
        (403, "forbidden")
    );
    expected.push(("B", Some("t1"), "read", "denied:forbidden"));
    let body = claim("t1", "x", "x").to_string().into_bytes();
    let s = Signed::new(OTHER_SECRET, "POST", "/v1/ingest", now(), &body);
    assert_eq!(
        sc(&post_bytes(&url("/v1/ingest"), a, &body, &s.headers())),
        (401, "bad_signature")
    );
    expected.push(("A", None, "ingest", "denied:bad_signature"));

    // Successful reads are not audited.
    assert_eq!(
        get(&url("/v1/retrieve?tenant_id=t1&query=sky"), a).status,
        200
    );
    assert_eq!(
        post(
            &url("/v1/retrieve"),
            a,
            &json!({"tenant_id": "t1", "query": "x"})
        )
        .status,
        200
    );
    assert_eq!(
        get(&url("/v1/claims/c2?tenant_id=t1"), Auth::Bearer(&token)).status,
        200
    );
    assert_eq!(
        get(&url("/debug/planner?tenant_id=t1&query=sky"), a).status,
        200
    );
    assert_eq!(get(&url("/v1/admin/read_only"), a).status, 200);
    assert_eq!(get(&url("/health"), Auth::None).status, 200);
    assert_eq!(get(&url("/metrics"), a).status, 200);
    assert!(server.stop().success());

    let log = data.join("audit").join("audit.jsonl");
    let n = expected.len();
    assert_eq!(audit_verify(&log), (Some(0), format!("ok {n} records\n")));

    // Line by line: who, which tenant, what, how it ended.
    let lines = audit_lines(&log);
    assert_eq!(lines.len(), n);
    let mut names = std::collections::BTreeMap::new();
    for (i, (line, (who, tenant, action, outcome))) in lines.iter().zip(&expected).enumerate() {
        let at = format!("line {}: {line}", i + 1);
        assert_eq!(line["seq"], i + 1, "{at}");
        assert_eq!(line["action"], *action, "{at}");
        assert_eq!(line["outcome"], *outcome, "{at}");
        assert_eq!(line["tenant"], json!(tenant), "{at}");
        let principal = line["principal"].as_str().unwrap();
        if ["A", "B", "ADMIN"].contains(who) {
            assert!(
                principal.starts_with("key:") && principal.len() == 16,
                "{at}"
            );
            let first = names.entry(*who).or_insert_with(|| principal.to_owned());
            assert_eq!(first, principal, "{at}: one key, one name");
        } else {
            assert_eq!(principal, *who, "{at}");
        }
    }
    assert_eq!(names.len(), 3);
    assert_eq!(
        names
            .values()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        3,
        "{names:?}"
    );
    assert_eq!(lines[2]["ids"], json!(["commit:b-1", "c3", "c4"]));
    assert_eq!(lines[5]["ids"], json!(["c1"]));
    assert_eq!(lines[7]["ids"], json!(["read_only=true"]));

    // No secret and no token in it.
    let original = std::fs::read(&log).unwrap();
    let text = String::from_utf8(original.clone()).unwrap();
    for secret in [
        KEY_A,
        KEY_B,
        KEY_ADMIN,
        KEY_UNKNOWN,
        JWT_SECRET,
        SIGNING_SECRET,
        &token,
        &expired,
    ] {
        assert!(!text.contains(secret), "the audit log contains {secret}");
    }
    for part in token.split('.').chain(expired.split('.')) {
        assert!(!text.contains(part), "the audit log contains a token part");
    }

    // One byte flipped inside line 3's action: verify names line 3 and fails.
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            original
                .iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    let line3 = &text[starts[2]..starts[3]];
    let at = starts[2] + line3.find("\"action\":\"ingest_batch\"").unwrap() + 17;
    assert_eq!(original[at], b'b');
    let mut edited = original.clone();
    edited[at] = b'c';
    std::fs::write(&log, &edited).unwrap();
    let (code, out) = audit_verify(&log);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.starts_with("broken at line 3"), "{out}");
    // A line deleted (line 5): the chain breaks there.
    let without5: Vec<u8> = [&original[..starts[4]], &original[starts[5]..]].concat();
    std::fs::write(&log, &without5).unwrap();
    let (code, out) = audit_verify(&log);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.starts_with("broken at line 5"), "{out}");
    // A tampered last line: the server refuses to continue the chain and does not start.
    let mut edited = original.clone();
    let last = starts[n - 1] + text[starts[n - 1]..].find("denied").unwrap() + 1;
    edited[last] ^= 0x01;
    std::fs::write(&log, &edited).unwrap();
    let err = match TestServer::try_start(&data, &env) {
        Ok(_) => panic!("started on an audit log with a tampered last line"),
        Err(stderr) => stderr,
    };
    assert!(err.contains("audit"), "{err}");
    assert!(err.contains(&format!("line {n}")), "{err}");
    assert_eq!(
        std::fs::read(&log).unwrap(),
        edited,
        "the server changed the tampered log"
    );

    // Restored, restarted: the chain continues.
    std::fs::write(&log, &original).unwrap();
    let server = TestServer::start(&data, &env);
    assert_eq!(
        post(
            &server.url("/v1/ingest"),
            a,
            &claim("t1", "c9", "after restart")
        )
        .status,
        200
    );
    assert!(server.stop().success());
    assert_eq!(
        audit_verify(&log),
        (Some(0), format!("ok {} records\n", n + 1))
    );
    let lines = audit_lines(&log);
    assert!(std::fs::read(&log).unwrap().starts_with(&original));
    assert_eq!(lines[n]["prev_hash"], lines[n - 1]["hash"]);
    assert_eq!(
        (&lines[n]["action"], &lines[n]["outcome"]),
        (&json!("ingest"), &json!("ok"))
    );
    assert_eq!(lines[n]["principal"], lines[0]["principal"]);
}

// ---------------------------------------------------------------------------------------------
// Secrets stay secret
// ---------------------------------------------------------------------------------------------

#[test]
fn secrets_never_reach_logs_metrics_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    let keys = format!("{KEY_A},{KEY_B}");
    let env = [
        ("DASH_API_KEYS", keys.as_str()),
        ("DASH_ADMIN_API_KEYS", KEY_ADMIN),
        ("DASH_REVOKED_API_KEYS", KEY_OLD),
        ("DASH_JWT_SECRET", JWT_SECRET),
        ("DASH_JWT_SECRETS", &format!("kid1:{KID1_SECRET}")),
        ("DASH_SIGNING_SECRET", SIGNING_SECRET),
        ("DASH_LOG", "debug"),
    ];
    let server = TestServer::start(&dir.path().join("d"), &env);
    let token = hs256(&json!({"sub": "alice", "exp": now() + 600, "tenants": ["t1"]}));
    let kid_token = jwt(
        Algorithm::HS256,
        Some("kid1"),
        KID1_SECRET,
        &jwt_claims(json!("t1")),
    );
    let forged = jwt(
        Algorithm::HS256,
        None,
        OTHER_SECRET,
        &jwt_claims(json!("t1")),
    );
    let expired = hs256(&json!({"sub": "alice", "exp": now() - 3600, "tenants": ["t1"]}));
    let mut bodies = Vec::new();

    for auth in [
        Auth::Key(KEY_A),
        Auth::Key(KEY_B),
        Auth::Key(KEY_ADMIN),
        Auth::Key(KEY_OLD),
        Auth::Key(KEY_UNKNOWN),
        Auth::Bearer(&token),
        Auth::Bearer(&kid_token),
        Auth::Bearer(&forged),
        Auth::Bearer(&expired),
    ] {
        bodies.push(
            post(
                &server.url("/v1/ingest"),
                auth,
                &claim("t1", "c1", "blue sky"),
            )
            .text,
        );
        bodies.push(get(&server.url("/v1/retrieve?tenant_id=t1&query=sky"), auth).text);
        bodies.push(get(&server.url("/v1/retrieve?tenant_id=t2&query=sky"), auth).text);
        bodies.push(delete(&server.url("/v1/claims/zz?tenant_id=t1"), auth).text);
        bodies.push(get(&server.url("/debug/storage"), auth).text);
    }
    let body = claim("t1", "s1", "x").to_string().into_bytes();
    let s = Signed::now("POST", "/v1/ingest", &body);
    let r = post_bytes(
        &server.url("/v1/ingest"),
        Auth::Key(KEY_A),
        &body,
        &s.headers(),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    bodies.push(
        post_bytes(
            &server.url("/v1/ingest"),
            Auth::Key(KEY_A),
            &body,
            &s.headers(),
        )
        .text,
    );
    let s = Signed::new(OTHER_SECRET, "POST", "/v1/ingest", now(), &body);
    bodies.push(
        post_bytes(
            &server.url("/v1/ingest"),
            Auth::Key(KEY_A),
            &body,
            &s.headers(),
        )
        .text,
    );
    let metrics = get(&server.url("/metrics"), Auth::Key(KEY_A));
    assert_eq!(metrics.status, 200);
    bodies.push(metrics.text);
    let audit_path = server.data_dir.join("audit").join("audit.jsonl");
    assert!(server.stop().success());

    let logs = server_stderr_after_stop(&dir.path().join("d"));
    // The logs are there and name principals (so the check below is not vacuous).
    assert!(
        logs.contains("/v1/ingest") && logs.contains("key:"),
        "{logs}"
    );
    assert!(logs.contains("jwt:alice"), "{logs}");
    let audit = std::fs::read_to_string(audit_path).unwrap();
    let secrets = [
        KEY_A,
        KEY_B,
        KEY_ADMIN,
        KEY_OLD,
        KEY_UNKNOWN,
        JWT_SECRET,
        KID1_SECRET,
        SIGNING_SECRET,
        &token,
        &kid_token,
        &forged,
        &expired,
    ];
    let signatures: Vec<&str> = [&token, &kid_token, &forged, &expired]
        .iter()
        .map(|t| t.rsplit('.').next().unwrap())
        .collect();
    for secret in secrets.iter().chain(&signatures) {
        assert!(!logs.contains(secret), "the server log contains {secret}");
        assert!(!audit.contains(secret), "the audit log contains {secret}");
        for body in &bodies {
            assert!(
                !body.contains(secret),
                "an answer contains {secret}: {body}"
            );
        }
    }

    // Configuration errors name the variable, never the value.
    for (var, value) in [
        ("DASH_API_KEYS", "short-key-1"),
        ("DASH_API_KEYS", "a key with spaces 0123456789"),
        ("DASH_JWT_SECRET", "short-jwt-1"),
        ("DASH_JWT_SECRETS", "kid1:short-jwt-2"),
        ("DASH_JWT_SECRETS", "no-colon-secret-0123456789"),
        ("DASH_SIGNING_SECRET", "short-sign-1"),
        ("DASH_REVOKED_API_KEYS", "short-rev-1"),
        ("DASH_ADMIN_API_KEYS", "short-admin-1"),
    ] {
        let out = dash(
            &[
                "serve",
                "--data-dir",
                dir.path().join("e").to_str().unwrap(),
            ],
            &[(var, value)],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {stderr}");
        assert!(stderr.contains(var), "{var}: {stderr}");
        assert!(
            !stderr.contains(value),
            "{var}: the error echoes the value: {stderr}"
        );
    }
    let scopes = format!("{KEY_UNKNOWN}:t1");
    let out = dash(
        &[
            "serve",
            "--data-dir",
            dir.path().join("e").to_str().unwrap(),
        ],
        &[("DASH_API_KEYS", KEY_A), ("DASH_API_KEY_SCOPES", &scopes)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DASH_API_KEY_SCOPES") && !stderr.contains(KEY_UNKNOWN),
        "{stderr}"
    );
    // `--help` does not show the secret variables' values.
    let out = dash(&["serve", "--help"], &env);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("DASH_API_KEYS"), "{help}");
    for secret in [
        KEY_A,
        KEY_ADMIN,
        KEY_OLD,
        JWT_SECRET,
        KID1_SECRET,
        SIGNING_SECRET,
    ] {
        assert!(!help.contains(secret), "--help shows {secret}");
    }
}
