//! The HTTP contract end to end: real `dash serve` processes on loopback, real stores in temp
//! dirs. Flow, error codes, strict bodies, idempotent batches, overload, read-only mode,
//! restarts and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn ingest_retrieve_get_forget_flow() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("d"), &[("DASH_API_KEYS", KEY_A)]);
    let auth = Auth::Key(KEY_A);

    let r = post(
        &server.url("/v1/ingest"),
        auth,
        &claim("t1", "c1", "The sky is blue"),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    for field in ["claim_id", "tenant_id", "lsn", "recorded_at", "version"] {
        assert!(
            !r.json[field].is_null(),
            "ingest answer lacks {field}: {}",
            r.text
        );
    }
    assert_eq!(r.json["version"], 1);
    let mut other = claim("t1", "c2", "Grass is green");
    other["edges"] = json!([{"from_claim_id": "c2", "to_claim_id": "c1", "relation": "contradicts", "strength": 0.7}]);
    assert_eq!(post(&server.url("/v1/ingest"), auth, &other).status, 200);

    // GET retrieve, visible at once.
    let r = get(
        &server.url("/v1/retrieve?tenant_id=t1&query=sky&top_k=5"),
        auth,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(result_ids(&r), ["c1"]);
    let top = &r.json["results"][0];
    for field in [
        "claim_id",
        "canonical_text",
        "score",
        "score_breakdown",
        "confidence",
        "valid_from",
        "valid_to",
        "recorded_at",
        "version",
        "supporting_evidence",
        "contradicting_evidence",
        "conflicts",
        "citations",
    ] {
        assert!(top.get(field).is_some(), "result lacks {field}: {top}");
    }
    assert_eq!(top["citations"][0]["evidence_id"], "c1-e1");
    assert_eq!(top["conflicts"][0]["claim_id"], "c2");
    assert!(r.json["took_ms"].as_f64().is_some());

    // POST retrieve with the JSON form and a graph.
    let r = post(
        &server.url("/v1/retrieve"),
        auth,
        &json!({"tenant_id": "t1", "query": "grass green", "entity": ["Earth"], "include_graph": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(result_ids(&r)[0], "c2");
    assert!(
        r.json["graph"]["edges"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "{}",
        r.text
    );

    // GET claim: current version, evidence, edges, history.
    let r = get(&server.url("/v1/claims/c2?tenant_id=t1"), auth);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["claim"]["canonical_text"], "Grass is green");
    assert_eq!(r.json["evidence"][0]["evidence_id"], "c2-e1");
    assert_eq!(r.json["edges"][0]["to_claim_id"], "c1");
    assert_eq!(r.json["history"].as_array().unwrap().len(), 1);

    // Re-ingest makes version 2, history grows.
    let r = post(
        &server.url("/v1/ingest"),
        auth,
        &claim("t1", "c2", "Grass is very green"),
    );
    assert_eq!(r.json["version"], 2);
    let r = get(&server.url("/v1/claims/c2?tenant_id=t1"), auth);
    assert_eq!(r.json["version"], 2);
    assert_eq!(r.json["history"].as_array().unwrap().len(), 2);

    // Versions: every kept version with its content, oldest first.
    let r = get(&server.url("/v1/claims/c2/versions?tenant_id=t1"), auth);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["forgotten"], false);
    let texts: Vec<&str> = r.json["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["claim"]["canonical_text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Grass is green", "Grass is very green"]);
    // The same id in another tenant is another claim, and there is none.
    let r = get(&server.url("/v1/claims/c2/versions?tenant_id=t2"), auth);
    assert_eq!((r.status, r.code()), (404, "not_found"));

    // Forget: gone from get and retrieve.
    let r = delete(&server.url("/v1/claims/c1?tenant_id=t1"), auth);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        get(&server.url("/v1/claims/c1?tenant_id=t1"), auth).status,
        404
    );
    // Its versions say that it was forgotten, and when, but no longer what it said.
    let r = get(&server.url("/v1/claims/c1/versions?tenant_id=t1"), auth);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["forgotten"], true);
    assert_eq!(r.json["versions"].as_array().unwrap().len(), 2);
    assert!(r.json["versions"][0].get("claim").is_none(), "{}", r.text);
    assert!(!r.text.contains("sky"), "{}", r.text);
    let r = get(&server.url("/v1/retrieve?tenant_id=t1&query=sky"), auth);
    assert!(result_ids(&r).is_empty(), "{}", r.text);
    // Forgetting an unknown claim is a 404.
    let r = delete(&server.url("/v1/claims/nope?tenant_id=t1"), auth);
    assert_eq!((r.status, r.code()), (404, "not_found"));

    // Health and metrics.
    let r = get(&server.url("/health"), Auth::None);
    assert_eq!(r.status, 200);
    for field in [
        "status",
        "version",
        "uptime_seconds",
        "claims",
        "wal_bytes",
        "segments",
    ] {
        assert!(r.json.get(field).is_some(), "health lacks {field}");
    }
    assert_eq!(r.json["claims"], 1);
    let m = get(&server.url("/metrics"), auth);
    assert_eq!(m.status, 200);
    assert!(m.text.contains("dash_http_requests_total{"), "{}", m.text);
    assert!(m.text.contains("route=\"/v1/ingest\""));
    assert!(m.text.contains("dash_http_request_duration_seconds_bucket"));
    assert!(m.text.contains("dash_ingest_claims_total 3"), "{}", m.text);
    assert_eq!(get(&server.url("/metrics"), Auth::None).status, 401);
    assert!(server.stop().success());
}

#[test]
fn error_codes_of_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        &dir.path().join("d"),
        &[
            ("DASH_API_KEYS", &format!("{KEY_A},{KEY_B}")),
            ("DASH_API_KEY_SCOPES", &format!("{KEY_B}:t2")),
            ("DASH_BODY_LIMIT_BYTES", "4096"),
        ],
    );
    let auth = Auth::Key(KEY_A);
    let ingest = server.url("/v1/ingest");

    // 400: malformed JSON, unknown fields (named), wrong types, unknown query parameters.
    let r = post_raw(&ingest, auth, "application/json", b"{\"claim\": ", &[]);
    assert_eq!((r.status, r.code()), (400, "malformed_json"), "{}", r.text);
    let mut body = claim("t1", "c1", "x");
    body["claim"]["colour"] = json!("blue");
    let r = post(&ingest, auth, &body);
    assert_eq!((r.status, r.code()), (400, "unknown_field"), "{}", r.text);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("colour"));
    let mut body = claim("t1", "c1", "x");
    body["surprise"] = json!(1);
    let r = post(&ingest, auth, &body);
    assert_eq!((r.status, r.code()), (400, "unknown_field"));
    let mut body = claim("t1", "c1", "x");
    body["claim"]["confidence"] = json!("high");
    assert_eq!(post(&ingest, auth, &body).status, 400);
    let r = get(
        &server.url("/v1/retrieve?tenant_id=t1&query=x&topk=3"),
        auth,
    );
    assert_eq!((r.status, r.code()), (400, "unknown_field"));
    let r = get(&server.url("/v1/retrieve?query=x"), auth);
    assert_eq!(r.status, 400);

    // 401: no or bad credentials; 403: another tenant.
    let r = post(&ingest, Auth::None, &claim("t1", "c1", "x"));
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    assert_eq!(
        post(
            &ingest,
            Auth::Key("wrong-key-0123456789"),
            &claim("t1", "c1", "x")
        )
        .status,
        401
    );
    let r = post(&ingest, Auth::Key(KEY_B), &claim("t1", "c1", "x"));
    assert_eq!((r.status, r.code()), (403, "forbidden"));

    // 404: unknown route and unknown claim; 405: wrong method.
    assert_eq!(get(&server.url("/v2/nothing"), auth).status, 404);
    assert_eq!(
        get(&server.url("/v1/claims/none?tenant_id=t1"), auth).code(),
        "not_found"
    );
    let r = get(&server.url("/v1/ingest"), auth);
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"));

    // 413: body too large (declared and chunked).
    let big = "x".repeat(5000);
    let r = post(&ingest, auth, &claim("t1", "c1", &big));
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    let chunked = format!(
        "POST /v1/ingest HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY_A}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        6000,
        "y".repeat(6000)
    );
    let raw = raw_http(server.addr, chunked.as_bytes());
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");

    // 415: not JSON.
    let r = post_raw(&ingest, auth, "text/plain", b"{}", &[]);
    assert_eq!((r.status, r.code()), (415, "unsupported_media_type"));

    // 422: well-formed but invalid (span reversed, confidence out of range, top_k too big).
    let mut body = claim("t1", "c1", "x");
    body["evidence"][0]["span_start"] = json!(50);
    let r = post(&ingest, auth, &body);
    assert_eq!((r.status, r.code()), (422, "invalid"), "{}", r.text);
    let mut body = claim("t1", "c1", "x");
    body["claim"]["confidence"] = json!(1.5);
    assert_eq!(post(&ingest, auth, &body).status, 422);
    let r = get(
        &server.url("/v1/retrieve?tenant_id=t1&query=x&top_k=1001"),
        auth,
    );
    assert_eq!((r.status, r.code()), (422, "invalid"));
    let r = get(&server.url("/v1/retrieve?tenant_id=t1"), auth);
    assert_eq!(
        r.status, 422,
        "a query needs text or an embedding: {}",
        r.text
    );

    // Nothing of the refused writes landed.
    assert_eq!(
        get(&server.url("/v1/claims/c1?tenant_id=t1"), auth).status,
        404
    );
    let h = get(&server.url("/health"), Auth::None);
    assert_eq!(h.json["claims"], 0);
    server.kill9();
}

#[test]
fn batches_are_atomic_and_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("d"), &[("DASH_API_KEYS", KEY_A)]);
    let auth = Auth::Key(KEY_A);
    let url = server.url("/v1/ingest/batch");
    let batch =
        json!({"commit_id": "b-1", "items": [claim("t1", "a", "alpha"), claim("t1", "b", "beta")]});
    let r = post(&url, auth, &batch);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "committed");
    assert_eq!(r.json["items"].as_array().unwrap().len(), 2);
    let lsn = r.json["lsn"].clone();

    let r = post(&url, auth, &batch);
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (200, Some("replayed"))
    );
    assert_eq!(r.json["lsn"], lsn);

    let other = json!({"commit_id": "b-1", "items": [claim("t1", "a", "ALPHA")]});
    let r = post(&url, auth, &other);
    assert_eq!((r.status, r.code()), (409, "commit_conflict"));

    // One invalid item: nothing of the batch is written.
    let mut bad = claim("t1", "d", "delta");
    bad["claim"]["confidence"] = json!(7);
    let r = post(
        &url,
        auth,
        &json!({"commit_id": "b-2", "items": [claim("t1", "c", "gamma"), bad]}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        get(&server.url("/v1/claims/c?tenant_id=t1"), auth).status,
        404
    );
    // Mixed tenants are refused as a whole.
    let r = post(
        &url,
        auth,
        &json!({"commit_id": "b-3", "items": [claim("t1", "e", "x"), claim("t2", "f", "y")]}),
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        get(&server.url("/v1/claims/e?tenant_id=t1"), auth).status,
        404
    );
    // After a restart the commit id is still remembered.
    assert!(server.stop().success());
    let server = TestServer::start(&dir.path().join("d"), &[("DASH_API_KEYS", KEY_A)]);
    let r = post(&server.url("/v1/ingest/batch"), auth, &batch);
    assert_eq!(r.json["status"], "replayed", "{}", r.text);
    let r = post(&server.url("/v1/ingest/batch"), auth, &other);
    assert_eq!(r.status, 409);
}

#[test]
fn restart_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    for (round, durability) in ["strict", "batched"].iter().enumerate() {
        let env = [("DASH_API_KEYS", KEY_A), ("DASH_DURABILITY", durability)];
        let server = TestServer::start(&data, &env);
        let auth = Auth::Key(KEY_A);
        let mut acked = Vec::new();
        for i in 0..40 {
            let id = format!("r{round}-{i}");
            let r = post(
                &server.url("/v1/ingest"),
                auth,
                &claim("t1", &id, &format!("claim number {i}")),
            );
            assert_eq!(r.status, 200);
            acked.push(id);
        }
        // Strict: acknowledged means durable even across SIGKILL. Batched: acknowledged
        // writes are flushed by a graceful SIGTERM.
        if *durability == "strict" {
            server.kill9();
        } else {
            assert!(server.stop().success());
        }
        let server = TestServer::start(&data, &env);
        for id in &acked {
            let r = get(&server.url(&format!("/v1/claims/{id}?tenant_id=t1")), auth);
            assert_eq!(r.status, 200, "{durability}: lost {id}");
        }
        assert!(server.stop().success());
    }
}

#[test]
fn read_only_switch_refuses_mutations_and_keeps_serving_reads() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("DASH_API_KEYS", KEY_A), ("DASH_ADMIN_API_KEYS", KEY_ADMIN)];
    let server = TestServer::start(&dir.path().join("d"), &env);
    let (auth, admin) = (Auth::Key(KEY_A), Auth::Key(KEY_ADMIN));
    assert_eq!(
        post(
            &server.url("/v1/ingest"),
            auth,
            &claim("t1", "c1", "blue sky")
        )
        .status,
        200
    );

    // A non-admin may not flip the switch.
    let r = post(
        &server.url("/v1/admin/read_only"),
        auth,
        &json!({"read_only": true}),
    );
    assert_eq!(r.status, 403);
    let r = post(
        &server.url("/v1/admin/read_only"),
        admin,
        &json!({"read_only": true}),
    );
    assert_eq!((r.status, &r.json["read_only"]), (200, &Value::Bool(true)));

    let r = post(&server.url("/v1/ingest"), auth, &claim("t1", "c2", "x"));
    assert_eq!((r.status, r.code()), (503, "read_only"));
    let r = post(
        &server.url("/v1/ingest/batch"),
        auth,
        &json!({"commit_id": "x", "items": [claim("t1", "c3", "x")]}),
    );
    assert_eq!(r.code(), "read_only");
    assert_eq!(
        delete(&server.url("/v1/claims/c1?tenant_id=t1"), auth).code(),
        "read_only"
    );
    assert_eq!(
        result_ids(&get(
            &server.url("/v1/retrieve?tenant_id=t1&query=sky"),
            auth
        )),
        ["c1"]
    );
    assert_eq!(
        get(&server.url("/v1/claims/c1?tenant_id=t1"), auth).status,
        200
    );
    assert_eq!(
        get(&server.url("/v1/admin/read_only"), auth).json["read_only"],
        true
    );

    let r = post(
        &server.url("/v1/admin/read_only"),
        admin,
        &json!({"read_only": false}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        post(&server.url("/v1/ingest"), auth, &claim("t1", "c2", "x")).status,
        200
    );
    drop(server);

    // The environment switch starts the server read-only.
    let env = [("DASH_API_KEYS", KEY_A), ("DASH_READ_ONLY", "true")];
    let server = TestServer::start(&dir.path().join("d"), &env);
    assert_eq!(
        post(&server.url("/v1/ingest"), auth, &claim("t1", "c4", "x")).code(),
        "read_only"
    );
    assert_eq!(
        get(&server.url("/v1/claims/c2?tenant_id=t1"), auth).status,
        200
    );
}

#[test]
fn a_full_queue_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    // One write worker, no write queue: while one slow batch holds it, other writes are
    // refused — and reads, a separate class, are still served.
    let env = [
        ("DASH_API_KEYS", KEY_A),
        ("DASH_WRITE_WORKERS", "1"),
        ("DASH_WRITE_QUEUE_CAPACITY", "0"),
        ("DASH_RATE_LIMIT_RPS", "0"),
    ];
    let server = TestServer::start(&dir.path().join("d"), &env);
    let auth = Auth::Key(KEY_A);
    // A batch of many items keeps the single worker busy for a while. The probe is sent
    // only once `/metrics` shows the batch running (nothing else is written meanwhile), so
    // the probe can never take the worker first; if the batch ends before the probe lands,
    // the round is repeated with a new batch.
    let items: Vec<Value> = (0..20_000)
        .map(|i| claim("t1", &format!("c{i}"), &format!("claim {i} about things")))
        .collect();
    let mut refused = None;
    for round in 0..10 {
        let body = json!({"commit_id": format!("big{round}"), "items": items});
        let url = server.url("/v1/ingest/batch");
        let slow = std::thread::spawn(move || post(&url, Auth::Key(KEY_A), &body));
        while !slow.is_finished() && store_calls_running(&server, auth) == 0 {}
        if !slow.is_finished() {
            let probe = post(
                &server.url("/v1/ingest"),
                auth,
                &claim("t1", &format!("x{round}"), "x"),
            );
            if probe.status == 429 {
                let read = get(&server.url("/v1/claims/none?tenant_id=t1"), auth);
                refused = Some((probe, read.status));
            }
        }
        let batch = slow.join().unwrap();
        assert_eq!(batch.status, 200, "{}", batch.text);
        if refused.is_some() {
            break;
        }
    }
    let (r, read_status) = refused.expect("no 429 while the only worker was busy");
    assert_eq!(r.code(), "queue_full");
    assert_eq!(
        read_status, 404,
        "a read was refused while only the write class was full"
    );
    assert!(r.header("retry-after").is_some());
    let m = get(&server.url("/metrics"), auth);
    assert!(
        m.text.contains("dash_rejects_total{reason=\"queue_full\"}"),
        "{}",
        m.text
    );
}

#[test]
fn slow_and_excess_connections_are_closed_before_any_request() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DASH_API_KEYS", KEY_A),
        ("DASH_HEADER_READ_TIMEOUT_MS", "300"),
        ("DASH_MAX_CONNECTIONS_PER_PEER", "2"),
    ];
    let server = TestServer::start(&dir.path().join("d"), &env);
    // Connections from other loopback addresses are other peers: each part of the test has
    // its own, so a close the server has not finished counting cannot leak into the next.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let connect_from = |source: &str| -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        let stream = runtime.block_on(socket.connect(server.addr)).unwrap();
        let stream = stream.into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
    };
    // Whether the server closed `conn` (EOF or reset) within 20 s; false if it is still open.
    let closed_by_server = |conn: &mut TcpStream| {
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut buf = [0u8; 512];
        loop {
            match conn.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) => {
                    return !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    )
                }
            }
        }
    };
    let health = |conn: &mut TcpStream| {
        conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut answer = [0u8; 12];
        conn.read_exact(&mut answer).unwrap();
        answer
    };

    // Slow loris: headers that never end are cut off after the header-read timeout.
    let started = Instant::now();
    let mut slow = connect_from("127.0.0.3");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    assert!(
        closed_by_server(&mut slow),
        "slow headers were never cut off"
    );
    assert!(started.elapsed() < Duration::from_secs(20));

    // Two connections fill a peer's share; its third is closed at once while the two keep
    // serving, and another peer is not affected.
    let mut held: Vec<TcpStream> = (0..2).map(|_| connect_from("127.0.0.2")).collect();
    let mut third = connect_from("127.0.0.2");
    assert!(closed_by_server(&mut third), "a third connection was kept");
    for conn in &mut held {
        assert_eq!(&health(conn), b"HTTP/1.1 200", "a held connection stopped");
    }
    assert_eq!(&health(&mut connect_from("127.0.0.4")), b"HTTP/1.1 200");

    let metrics = get(&server.url("/metrics"), Auth::Key(KEY_A));
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .text
            .contains("dash_rejects_total{reason=\"peer_connection_limit\"} 1\n"),
        "{}",
        metrics.text
    );
    assert!(
        metrics.text.contains("dash_connection_timeouts_total 1\n"),
        "{}",
        metrics.text
    );
}

#[test]
fn oversized_request_heads_are_refused_and_bodies_still_stream() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("d"), &[("DASH_API_KEYS", KEY_A)]);
    let mut conn = std::net::TcpStream::connect(server.addr).unwrap();
    let big = "a".repeat(100 * 1024);
    write!(
        conn,
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n"
    )
    .unwrap();
    let mut answer = [0u8; 12];
    conn.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 431");
    // A body far larger than the head limit is not affected by it.
    let items: Vec<Value> = (0..2000)
        .map(|i| {
            claim(
                "t1",
                &format!("c{i}"),
                &format!("claim {i} {}", "x".repeat(100)),
            )
        })
        .collect();
    let body = json!({"commit_id": "big", "items": items});
    assert!(body.to_string().len() > 4 * 64 * 1024);
    let r = post(&server.url("/v1/ingest/batch"), Auth::Key(KEY_A), &body);
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn each_tenant_fixes_its_own_embedding_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("d"), &[("DASH_API_KEYS", KEY_A)]);
    let auth = Auth::Key(KEY_A);
    let with_embedding = |tenant: &str, id: &str, dim: usize| {
        let mut item = claim(tenant, id, "text about Earth");
        item["claim"]["embedding"] = json!(vec![0.5f32; dim]);
        item
    };
    let ingest = |item: &Value| post(&server.url("/v1/ingest"), auth, item);
    assert_eq!(ingest(&with_embedding("t1", "a", 2)).status, 200);
    // Tenant t1's first embedding does not decide what t2 may write.
    assert_eq!(ingest(&with_embedding("t2", "a", 3)).status, 200);
    let wrong = ingest(&with_embedding("t1", "b", 3));
    assert_eq!((wrong.status, wrong.code()), (422, "invalid"));
    let query = |tenant: &str, dim: usize| {
        let body = json!({"tenant_id": tenant, "query_embedding": vec![0.5f32; dim]});
        post(&server.url("/v1/retrieve"), auth, &body)
    };
    assert_eq!(query("t1", 2).status, 200);
    assert_eq!(query("t2", 3).status, 200);
    assert_eq!(query("t2", 2).code(), "invalid");
}

/// Sets or clears the immutable attribute of `path` (`chattr`); false where unsupported.
fn set_immutable(path: &std::path::Path, on: bool) -> bool {
    std::process::Command::new("chattr")
        .arg(if on { "+i" } else { "-i" })
        .arg(path)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Clears the immutable attribute on drop, so a failing test still leaves a removable tree.
struct Mutable(std::path::PathBuf);

impl Drop for Mutable {
    fn drop(&mut self) {
        set_immutable(&self.0, false);
    }
}

#[test]
fn a_store_poisoned_by_an_io_failure_answers_503_and_recovers_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let env = [("DASH_API_KEYS", KEY_A), ("DASH_ADMIN_API_KEYS", KEY_ADMIN)];
    let server = TestServer::start(&data, &env);
    let auth = Auth::Key(KEY_A);
    let ingest = |id: &str| post(&server.url("/v1/ingest"), auth, &claim("t1", id, "x"));
    assert_eq!(ingest("c1").status, 200);
    assert_eq!(get(&server.url("/health"), Auth::None).status, 200);

    // The WAL file refuses writes from now on: the next write fails its I/O, which poisons the
    // store. (An immutable file needs `chattr` and a file system with the attribute, as ext4.)
    let wal_dir = data.join("store").join("wal");
    let wal = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wal"))
        .unwrap();
    let _restore = Mutable(wal.clone());
    if !set_immutable(&wal, true) {
        eprintln!("SKIPPED: `chattr +i` is not available here, so no I/O failure can be caused");
        return;
    }
    let refused = ingest("c2");
    assert_eq!((refused.status, refused.code()), (503, "store_unavailable"));
    let health = get(&server.url("/health"), Auth::None);
    assert_eq!(health.status, 503);
    assert_eq!(health.json["status"], "unavailable");
    assert!(health.json["reason"].is_string(), "{}", health.text);
    // Every later write is refused the same way, without touching the disk again.
    assert_eq!(ingest("c3").code(), "store_unavailable");
    // Reads of what was acknowledged keep being served, and the storage report says why.
    assert_eq!(
        get(&server.url("/v1/claims/c1?tenant_id=t1"), auth).status,
        200
    );
    let storage = get(&server.url("/debug/storage"), Auth::Key(KEY_ADMIN));
    let warnings = storage.json["warnings"].to_string();
    assert!(warnings.contains("poison"), "{}", storage.text);
    drop(server);

    // Once the disk is writable again a restart recovers: what was acknowledged is there, what
    // was refused is not.
    set_immutable(&wal, false);
    let server = TestServer::start(&data, &env);
    assert_eq!(get(&server.url("/health"), Auth::None).status, 200);
    let url = |id: &str| server.url(&format!("/v1/claims/{id}?tenant_id=t1"));
    assert_eq!(get(&url("c1"), auth).status, 200);
    assert_eq!(get(&url("c2"), auth).status, 404);
    assert_eq!(get(&url("c3"), auth).status, 404);
    assert_eq!(
        post(&server.url("/v1/ingest"), auth, &claim("t1", "c4", "x")).status,
        200
    );
}

/// The `dash_in_flight` gauge: store calls running now.
fn store_calls_running(server: &TestServer, auth: Auth<'_>) -> u64 {
    let m = get(&server.url("/metrics"), auth);
    m.text
        .lines()
        .find_map(|line| line.strip_prefix("dash_in_flight "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn rate_limits_send_headers_and_429() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DASH_API_KEYS", &*format!("{KEY_A},{KEY_B}")),
        ("DASH_RATE_LIMIT_RPS", "1"),
        ("DASH_RATE_LIMIT_BURST", "3"),
    ];
    let server = TestServer::start(&dir.path().join("d"), &env);
    let url = server.url("/v1/retrieve?tenant_id=t1&query=x");
    let first = get(&url, Auth::Key(KEY_A));
    assert_eq!(first.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("2"));
    assert!(first.header("x-ratelimit-reset").is_some());
    get(&url, Auth::Key(KEY_A));
    get(&url, Auth::Key(KEY_A));
    let r = get(&url, Auth::Key(KEY_A));
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    assert!(r.header("retry-after").is_some());
    // Per principal: the other key still has its burst.
    assert_eq!(get(&url, Auth::Key(KEY_B)).status, 200);
}

#[test]
fn invalid_configuration_stops_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    for (env, var) in [
        (vec![("DASH_WORKERS", "0")], "DASH_WORKERS"),
        (
            vec![("DASH_BIND", "0.0.0.0:0")],
            "DASH_ALLOW_UNAUTHENTICATED",
        ),
        (vec![("DASH_DURABILITY", "eventually")], "DASH_DURABILITY"),
        (vec![("DASH_API_KEYS", "short")], "DASH_API_KEYS"),
        (
            vec![("DASH_REQUIRE_SIGNED_WRITES", "true")],
            "DASH_REQUIRE_SIGNED_WRITES",
        ),
        (
            vec![("DASH_BODY_LIMIT_BYTES", "lots")],
            "DASH_BODY_LIMIT_BYTES",
        ),
    ] {
        let err = match TestServer::try_start(&data, &env) {
            Ok(_) => panic!("started with {env:?}"),
            Err(stderr) => stderr,
        };
        assert!(err.contains(var), "{env:?}: {err}");
        assert!(err.contains("accepted"), "{env:?}: {err}");
    }
    // Off loopback, the explicit override lets an open server start.
    let server = TestServer::try_start(
        &data,
        &[
            ("DASH_BIND", "0.0.0.0:0"),
            ("DASH_ALLOW_UNAUTHENTICATED", "true"),
        ],
    );
    assert!(server.is_ok());
}

#[test]
fn open_mode_on_loopback_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("d"), &[]);
    assert_eq!(
        post(
            &server.url("/v1/ingest"),
            Auth::None,
            &claim("t1", "c1", "x")
        )
        .status,
        200
    );
    assert!(
        server.stderr().contains("NO AUTHENTICATION"),
        "{}",
        server.stderr()
    );
}

#[test]
fn debug_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("DASH_API_KEYS", KEY_A), ("DASH_ADMIN_API_KEYS", KEY_ADMIN)];
    let server = TestServer::start(&dir.path().join("d"), &env);
    post(
        &server.url("/v1/ingest"),
        Auth::Key(KEY_A),
        &claim("t1", "c1", "blue sky"),
    );
    let r = get(
        &server.url("/debug/planner?tenant_id=t1&query=sky"),
        Auth::Key(KEY_A),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let stages: Vec<&str> = r.json["explain"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(stages.contains(&"lexical"), "{}", r.text);
    assert_eq!(r.json["results"], 1);
    assert_eq!(
        get(&server.url("/debug/storage"), Auth::Key(KEY_A)).status,
        403
    );
    let r = get(&server.url("/debug/storage"), Auth::Key(KEY_ADMIN));
    assert_eq!(r.status, 200);
    // One commit, and the detection stage's derived record may follow it.
    let last_lsn = r.json["wal"]["last_lsn"].as_u64().unwrap();
    assert!((1..=2).contains(&last_lsn), "{}", r.text);
    assert!(r.json["warnings"].as_array().unwrap().is_empty());
    assert!(r.json.get("manifest_generation").is_some());
    // The catalog's heap by component: one tenant, one document, its postings counted.
    let memory = &r.json["indexes"]["memory"];
    assert_eq!(
        (memory["tenants"].as_u64(), memory["documents"].as_u64()),
        (Some(1), Some(1)),
        "{}",
        r.text
    );
    assert!(
        memory["lexical_postings"].as_u64().unwrap() > 0,
        "{}",
        r.text
    );
}

#[test]
fn sigterm_during_writes_loses_no_acknowledged_write_and_half_applies_no_batch() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let env = [("DASH_API_KEYS", KEY_A), ("DASH_RATE_LIMIT_RPS", "0")];
    let server = TestServer::start(&data, &env);
    let base = server.url("");
    // Four writers: two single ingests, two batches of 50; each records what was acknowledged.
    let acks = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let base = base.clone();
            let acks = Arc::clone(&acks);
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0.. {
                    let r = if w < 2 {
                        let id = format!("w{w}-{i}");
                        let r = try_post(
                            &format!("{base}/v1/ingest"),
                            Auth::Key(KEY_A),
                            &claim("t1", &id, "x"),
                        );
                        (r, vec![id])
                    } else {
                        let ids: Vec<String> = (0..50).map(|k| format!("w{w}-{i}-{k}")).collect();
                        let items: Vec<Value> = ids.iter().map(|id| claim("t1", id, "y")).collect();
                        let body = json!({"commit_id": format!("w{w}-{i}"), "items": items});
                        (
                            try_post(&format!("{base}/v1/ingest/batch"), Auth::Key(KEY_A), &body),
                            ids,
                        )
                    };
                    match r {
                        (Some(answer), ids) if answer.status == 200 => {
                            acked.push(ids);
                            acks.fetch_add(1, Ordering::Relaxed);
                        }
                        // Refused during shutdown (503) or the connection went away: stop.
                        _ => break,
                    }
                    if i > 5000 {
                        break;
                    }
                }
                acked
            })
        })
        .collect();
    // Signal once writes are flowing (however slow the machine), while they still are.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acks.load(Ordering::Relaxed) < 40 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(server.stop().success(), "graceful shutdown failed");
    let acked: Vec<Vec<String>> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        acked.len() > 10,
        "too few writes before the signal: {}",
        acked.len()
    );

    let server = TestServer::start(&data, &env);
    let auth = Auth::Key(KEY_A);
    for ids in &acked {
        for id in ids {
            let r = get(&server.url(&format!("/v1/claims/{id}?tenant_id=t1")), auth);
            assert_eq!(r.status, 200, "acknowledged {id} lost");
        }
    }
    let total = get(&server.url("/health"), Auth::None).json["claims"]
        .as_u64()
        .unwrap();
    let acked_claims: u64 = acked.iter().map(|ids| ids.len() as u64).sum();
    // At most the in-flight writes at the signal (2 singles + 2 batches) may have committed
    // without their answer reaching the client.
    assert!(
        total >= acked_claims && total <= acked_claims + 2 + 2 * 50,
        "{total} vs {acked_claims}"
    );
    for w in 2..4 {
        // The batch after the last acknowledged one is either whole or absent.
        let next = acked
            .iter()
            .filter(|ids| ids[0].starts_with(&format!("w{w}-")))
            .count();
        let present = (0..50)
            .filter(|k| {
                get(
                    &server.url(&format!("/v1/claims/w{w}-{next}-{k}?tenant_id=t1")),
                    auth,
                )
                .status
                    == 200
            })
            .count();
        assert!(
            present == 0 || present == 50,
            "batch w{w}-{next} half applied: {present}/50"
        );
    }
}

#[test]
fn failed_authentication_is_rate_limited_per_peer_so_the_audit_log_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DASH_API_KEYS", KEY_A),
        ("DASH_RATE_LIMIT_RPS", "1"),
        ("DASH_RATE_LIMIT_BURST", "2"),
    ];
    let server = TestServer::start(&dir.path().join("d"), &env);
    let url = server.url("/v1/retrieve?tenant_id=t1&query=x");
    let statuses: Vec<u16> = (0..6)
        .map(|_| get(&url, Auth::Key("guess-0123456789abcdef")).status)
        .collect();
    assert_eq!(&statuses[..2], &[401, 401]);
    assert!(statuses[2..].iter().all(|s| *s == 429), "{statuses:?}");
    // A valid key has its own bucket.
    assert_eq!(get(&url, Auth::Key(KEY_A)).status, 200);
    assert!(server.stop().success());
    let audit = std::fs::read_to_string(dir.path().join("d/audit/audit.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 2, "{audit}");
}

fn fact(tenant: &str, id: &str, predicate: &str, object: &str) -> Value {
    json!({"claim": {
        "claim_id": id, "tenant_id": tenant, "confidence": 0.9,
        "canonical_text": format!("Acme {predicate} {object}"),
        "subject": "Acme", "predicate": predicate, "object": object,
        "valid_from": "2020-01-01T00:00:00Z"
    }})
}

#[test]
fn detected_conflicts_surface_over_http_and_multi_valued_predicates_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DASH_API_KEYS", KEY_A),
        ("DASH_MULTI_VALUED_PREDICATES", "award received"),
    ];
    let server = TestServer::start(&dir.path().join("d"), &env);
    let auth = Auth::Key(KEY_A);
    for body in [
        fact("t1", "ceo-a", "chief executive", "Alice"),
        fact("t1", "ceo-b", "chief executive", "Bob"),
        fact("t1", "award-a", "award received", "Gold"),
        fact("t1", "award-b", "award received", "Silver"),
    ] {
        assert_eq!(post(&server.url("/v1/ingest"), auth, &body).status, 200);
    }
    let r = get(
        &server.url("/v1/retrieve?tenant_id=t1&query=Acme%20chief%20executive"),
        auth,
    );
    let ceo = r.json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["claim_id"] == "ceo-a")
        .unwrap();
    assert_eq!(ceo["conflicts"][0]["claim_id"], "ceo-b", "{}", r.text);
    assert_eq!(ceo["conflicts"][0]["detected"], true);
    assert!(ceo["conflicts"][0]["reason"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let m = get(&server.url("/metrics"), auth);
    assert!(m.text.contains("dash_detected_edges 1"), "{}", m.text);
    let r = get(
        &server.url("/v1/retrieve?tenant_id=t1&query=Acme%20award"),
        auth,
    );
    let awards: Vec<&Value> = r.json["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["claim_id"].as_str().unwrap().starts_with("award"))
        .collect();
    assert_eq!(awards.len(), 2, "{}", r.text);
    for c in awards {
        assert!(c["conflicts"].as_array().unwrap().is_empty(), "{}", r.text);
    }
}

/// The plain input a user sends: text only, no entities, no triple. Ingest, then retrieve at
/// once: the query waits for detection and the conflict is there, with its reason and the
/// detection status; claims of another tenant are never compared; latest-wins tenants get a
/// succession instead; a vector from another model than the tenant's is refused.
#[test]
fn plain_text_conflicts_are_seen_by_the_next_retrieve() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DASH_API_KEYS", KEY_A),
        ("DASH_NEWER_SUPERSEDES_TENANTS", "memo"),
    ];
    let server = TestServer::start(&dir.path().join("d"), &env);
    let auth = Auth::Key(KEY_A);
    let ingest = |tenant: &str, id: &str, text: &str| {
        let r = post(&server.url("/v1/ingest"), auth, &claim(tenant, id, text));
        assert_eq!(r.status, 200, "{}", r.text);
    };
    ingest("t1", "a", "Alice works at Google as an engineer");
    ingest("t2", "b", "Alice works at Meta as an engineer");
    ingest("t1", "c", "Alice works at Meta as an engineer");
    let r = get(
        &server.url("/v1/retrieve?tenant_id=t1&query=Alice%20works&wait_for_detection_ms=2000"),
        auth,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["detection"]["caught_up"], true, "{}", r.text);
    let results = r.json["results"].as_array().unwrap();
    let a = results.iter().find(|c| c["claim_id"] == "a").unwrap();
    assert_eq!(a["conflicts"].as_array().unwrap().len(), 1, "{}", r.text);
    assert_eq!(a["conflicts"][0]["claim_id"], "c");
    assert_eq!(a["conflicts"][0]["relation"], "contradicts");
    assert_eq!(a["conflicts"][0]["detected"], true);
    assert_eq!(
        a["conflicts"][0]["reason"], "name: Meta ↔ Google",
        "{}",
        r.text
    );
    // t2's identical claim was never a candidate of t1's, nor t1's of t2's.
    let r = get(&server.url("/v1/retrieve?tenant_id=t2&query=Alice"), auth);
    assert!(r.json["results"][0]["conflicts"]
        .as_array()
        .unwrap()
        .is_empty());

    // Latest-wins tenant: the newer claim supersedes the older, which an as_of query hides.
    ingest("memo", "old", "The meeting room is on floor 3");
    ingest("memo", "new", "The meeting room is on floor 5");
    let r = get(
        &server.url("/v1/retrieve?tenant_id=memo&query=meeting%20room&include_graph=true&wait_for_detection_ms=2000"),
        auth,
    );
    let edges = r.json["graph"]["edges"].as_array().unwrap();
    assert!(
        edges.iter().any(|e| e["from_claim_id"] == "new"
            && e["to_claim_id"] == "old"
            && e["relation"] == "supersedes"
            && e["detected"] == true),
        "{}",
        r.text
    );

    // Vectors of two models never mix in one tenant.
    let mut first = claim("v", "v1", "vectors from model A");
    first["claim"]["embedding"] = json!([0.6, 0.8]);
    first["claim"]["embedding_model"] = json!("model-a");
    assert_eq!(post(&server.url("/v1/ingest"), auth, &first).status, 200);
    let mut other = claim("v", "v2", "vectors from model B");
    other["claim"]["embedding"] = json!([0.8, 0.6]);
    other["claim"]["embedding_model"] = json!("model-b");
    let r = post(&server.url("/v1/ingest"), auth, &other);
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.code(), "invalid");
    assert!(r.text.contains("model-a"), "{}", r.text);
    let r = get(&server.url("/v1/claims/v2?tenant_id=v"), auth);
    assert_eq!(r.status, 404, "the refused write changed nothing");
}

/// `--embedder` with a model folder that does not load stops the server before it listens,
/// naming the file at fault.
#[test]
fn a_model_folder_that_does_not_load_stops_the_server_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    let folder = model.to_str().unwrap().to_owned();
    let err = match TestServer::try_start(&dir.path().join("d"), &[("DASH_EMBEDDER", &folder)]) {
        Ok(_) => panic!("started with an empty model folder"),
        Err(stderr) => stderr,
    };
    assert!(err.contains("config.json"), "{err}");
    std::fs::write(model.join("config.json"), b"{ not json").unwrap();
    let err = match TestServer::try_start(&dir.path().join("d"), &[("DASH_EMBEDDER", &folder)]) {
        Ok(_) => panic!("started with a broken config.json"),
        Err(stderr) => stderr,
    };
    assert!(err.contains("config.json"), "{err}");
}

/// The model folder the CI fetches (`scripts/fetch-model.sh`), if it is there.
fn model_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("DASH_MODEL_DIR").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/models/all-MiniLM-L6-v2")
        },
        std::path::PathBuf::from,
    );
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("DASH_REQUIRE_MODEL").is_none(),
        "DASH_REQUIRE_MODEL is set but there is no model in {}",
        dir.display()
    );
    eprintln!(
        "SKIPPED: no model in {}; run scripts/fetch-model.sh",
        dir.display()
    );
    None
}

/// With `--embedder`, text-only claims and queries meet in vector space: a paraphrase that
/// shares no word with the query is found densely once the server has embedded it.
#[test]
fn the_embedder_makes_text_only_claims_dense_searchable() {
    let Some(model) = model_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DASH_API_KEYS", KEY_A),
        ("DASH_EMBEDDER", model.to_str().unwrap()),
    ];
    let server = TestServer::start(&dir.path().join("d"), &env);
    let auth = Auth::Key(KEY_A);
    for (id, text) in [
        (
            "bridge",
            "The Golden Gate Bridge spans the strait at San Francisco",
        ),
        ("reef", "Coral reefs bleach when the ocean warms"),
        ("ice", "Arctic sea ice melts faster every summer"),
    ] {
        let r = post(&server.url("/v1/ingest"), auth, &claim("t1", id, text));
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = post(
        &server.url("/v1/retrieve"),
        auth,
        &json!({"tenant_id": "t1", "query": "a suspension span in California", "wait_for_detection_ms": 5000}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["detection"]["caught_up"], true, "{}", r.text);
    assert_eq!(r.json["results"][0]["claim_id"], "bridge", "{}", r.text);
    assert!(
        r.json["results"][0]["score_breakdown"]["dense"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let m = get(&server.url("/metrics"), auth);
    assert!(m.text.contains("dash_embedded_vectors 3"), "{}", m.text);
}
