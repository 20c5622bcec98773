//! Routing and handlers: each request is authenticated, rate-limited, checked and handed to the
//! store on a worker thread; every mutation and every denial is audited.
//!
//! One catch-all warp filter hands the request to [`handle`], which decides the order of the
//! checks explicitly (route → credentials → rate limit → read-only → body → signature → JSON →
//! tenant → store), so every failure has one well-defined status and code.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use dash_core::{ClaimId, IngestItem, Store, TenantId};
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode};
use warp::Reply;

use crate::answers::{ClaimAnswer, VersionsAnswer};
use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Authenticator, Principal};
use crate::config::ServeConfig;
use crate::error::{from_json_error, ApiError, ErrorCode};
use crate::limits::{Admission, RateInfo, RateLimiter};
use crate::metrics::Metrics;
use crate::signing::Verifier;
use crate::wire::{BatchBody, ReadOnlyBody, RetrieveRequest};

/// A request body as warp streams it.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, warp::Error>> + Send>>;

/// Everything a handler needs; shared by all requests.
pub struct AppState {
    /// The store.
    pub store: Arc<Store>,
    /// The validated configuration.
    pub config: ServeConfig,
    /// Credentials and tenant access.
    pub auth: Authenticator,
    /// Signed-write verification, when configured.
    pub signing: Option<Verifier>,
    /// The audit log.
    pub audit: AuditLog,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Admission of reads to their workers.
    pub admission: Admission,
    /// Admission of writes to theirs (separate: writes wait on fsync, reads on CPU).
    pub write_admission: Admission,
    /// Change-feed streams reading history (whole WAL files) at once: one per read worker, so
    /// however many streams are open, memory and disk reads stay bounded.
    pub feed_readers: Arc<tokio::sync::Semaphore>,
    /// Per-principal rate limits, when on.
    pub rate: Option<RateLimiter>,
    /// The operators' kill switch for mutations.
    pub read_only: AtomicBool,
    /// Set at shutdown: mutations are refused from then on.
    pub shutting_down: AtomicBool,
    /// When the server started.
    pub started: Instant,
    next_request_id: AtomicU64,
}

impl AppState {
    /// Shared state for a running server.
    #[must_use]
    pub fn new(store: Arc<Store>, config: ServeConfig, audit: AuditLog) -> Self {
        let metrics = Arc::new(Metrics::new());
        Self {
            auth: Authenticator::new(&config.auth),
            signing: config.signing.as_ref().map(Verifier::new),
            admission: Admission::new(config.workers, config.queue_capacity, Arc::clone(&metrics)),
            write_admission: Admission::new(
                config.write_workers,
                config.write_queue_capacity,
                Arc::clone(&metrics),
            ),
            feed_readers: Arc::new(tokio::sync::Semaphore::new(config.workers)),
            rate: config.rate_limit.map(RateLimiter::new),
            read_only: AtomicBool::new(config.read_only),
            shutting_down: AtomicBool::new(false),
            started: Instant::now(),
            next_request_id: AtomicU64::new(1),
            store,
            config,
            audit,
            metrics,
        }
    }
}

/// One HTTP request, as the catch-all filter extracts it.
pub struct Request {
    /// Method.
    pub method: Method,
    /// Path, still percent-encoded.
    pub path: String,
    /// Raw query string (empty when absent).
    pub query: String,
    /// Headers.
    pub headers: HeaderMap,
    /// The peer's address, when known.
    pub remote: Option<std::net::SocketAddr>,
    /// Body, read only once the request has passed authentication.
    pub body: BodyStream,
}

/// Every route as `(method, template)`: the table `docs/http-api.md` is checked against.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("POST", "/v1/ingest"),
    ("POST", "/v1/ingest/batch"),
    ("GET", "/v1/retrieve"),
    ("POST", "/v1/retrieve"),
    ("GET", "/v1/claims/{claim_id}"),
    ("DELETE", "/v1/claims/{claim_id}"),
    ("GET", "/v1/claims/{claim_id}/versions"),
    ("GET", "/v1/events"),
    ("GET", "/debug/planner"),
    ("GET", "/debug/storage"),
    ("GET", "/v1/admin/read_only"),
    ("POST", "/v1/admin/read_only"),
];

/// The routes of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Health,
    Metrics,
    Ingest,
    IngestBatch,
    Retrieve,
    GetClaim(String),
    DeleteClaim(String),
    ClaimVersions(String),
    Events,
    DebugPlanner,
    DebugStorage,
    ReadOnlyGet,
    ReadOnlySet,
}

impl Route {
    /// The route template: the metrics label (bounded cardinality).
    fn template(&self) -> &'static str {
        match self {
            Route::Health => "/health",
            Route::Metrics => "/metrics",
            Route::Ingest => "/v1/ingest",
            Route::IngestBatch => "/v1/ingest/batch",
            Route::Retrieve => "/v1/retrieve",
            Route::GetClaim(_) | Route::DeleteClaim(_) => "/v1/claims/{claim_id}",
            Route::ClaimVersions(_) => "/v1/claims/{claim_id}/versions",
            Route::Events => "/v1/events",
            Route::DebugPlanner => "/debug/planner",
            Route::DebugStorage => "/debug/storage",
            Route::ReadOnlyGet | Route::ReadOnlySet => "/v1/admin/read_only",
        }
    }

    /// The audit action of a route that mutates (or gates mutation).
    fn action(&self) -> &'static str {
        match self {
            Route::Ingest => "ingest",
            Route::IngestBatch => "ingest_batch",
            Route::DeleteClaim(_) => "forget",
            Route::ReadOnlySet => "set_read_only",
            _ => "read",
        }
    }
}

/// Matches method and path; 404 for an unknown path, 405 for a known path with another method.
fn route(method: &Method, path: &str) -> Result<Route, ApiError> {
    let allowed: &[Method] = match path {
        "/health" => &[Method::GET],
        "/metrics" => &[Method::GET],
        "/v1/ingest" => &[Method::POST],
        "/v1/ingest/batch" => &[Method::POST],
        "/v1/retrieve" => &[Method::GET, Method::POST],
        "/v1/events" => &[Method::GET],
        "/debug/planner" => &[Method::GET],
        "/debug/storage" => &[Method::GET],
        "/v1/admin/read_only" => &[Method::GET, Method::POST],
        _ => return claim_route(method, path),
    };
    if !allowed.contains(method) {
        let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        return Err(method_not_allowed(&names.join(", ")));
    }
    Ok(match (path, method.as_str()) {
        ("/health", _) => Route::Health,
        ("/metrics", _) => Route::Metrics,
        ("/v1/ingest", _) => Route::Ingest,
        ("/v1/ingest/batch", _) => Route::IngestBatch,
        ("/v1/retrieve", _) => Route::Retrieve,
        ("/v1/events", _) => Route::Events,
        ("/debug/planner", _) => Route::DebugPlanner,
        ("/debug/storage", _) => Route::DebugStorage,
        (_, "GET") => Route::ReadOnlyGet,
        _ => Route::ReadOnlySet,
    })
}

/// `/v1/claims/{claim_id}` and `/v1/claims/{claim_id}/versions` (the id percent-encoded: a
/// raw `/` never belongs to it).
fn claim_route(method: &Method, path: &str) -> Result<Route, ApiError> {
    let no_route = || ApiError::not_found("no such route");
    let rest = path.strip_prefix("/v1/claims/").ok_or_else(no_route)?;
    let (raw, versions) = match rest.strip_suffix("/versions") {
        Some(raw) => (raw, true),
        None => (rest, false),
    };
    if raw.is_empty() || raw.contains('/') {
        return Err(no_route());
    }
    let id = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::malformed("claim id is not valid UTF-8"))?
        .into_owned();
    match (versions, method) {
        (true, &Method::GET) => Ok(Route::ClaimVersions(id)),
        (true, _) => Err(method_not_allowed("GET")),
        (false, &Method::GET) => Ok(Route::GetClaim(id)),
        (false, &Method::DELETE) => Ok(Route::DeleteClaim(id)),
        (false, _) => Err(method_not_allowed("GET, DELETE")),
    }
}

fn method_not_allowed(allow: &str) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("allowed methods: {allow}"),
    )
}

/// A successful answer.
struct Answer {
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
    /// A streaming answer (the change feed), sent as it is.
    stream: Option<warp::reply::Response>,
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Answer, ApiError> {
    let body = serde_json::to_vec(value).map_err(|err| {
        tracing::error!(error = %err, "answer serialisation failed");
        ApiError::internal()
    })?;
    Ok(Answer {
        status,
        content_type: "application/json",
        body,
        stream: None,
    })
}

/// What the log line and headers of a request need besides its answer.
#[derive(Default)]
struct Context {
    principal: Option<String>,
    tenant: Option<String>,
    rate: Option<RateInfo>,
}

/// Answers one request. Never fails: every error becomes its JSON answer here.
pub async fn handle(state: Arc<AppState>, request: Request) -> warp::reply::Response {
    let started = Instant::now();
    let request_id = state.next_request_id.fetch_add(1, Ordering::Relaxed);
    let method = request.method.clone();
    let mut ctx = Context::default();
    let (template, result) =
        match route(&request.method, &request.path) {
            Err(err) => ("unmatched", Err(err)),
            Ok(route) => {
                let template = route.template();
                let budget = state.config.request_timeout;
                let result =
                    match tokio::time::timeout(budget, dispatch(&state, route, request, &mut ctx))
                        .await
                    {
                        Ok(result) => result,
                        Err(_) => {
                            state.metrics.reject("timeout");
                            Err(ApiError::new(
                                ErrorCode::Timeout,
                                format!("the request took longer than {} ms", budget.as_millis()),
                            )
                            .retry_after(1))
                        }
                    };
                (template, result)
            }
        };
    let mut response = match result {
        Ok(Answer {
            stream: Some(stream),
            ..
        }) => stream,
        Ok(answer) => {
            let mut r = warp::reply::with_status(answer.body, answer.status).into_response();
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static(answer.content_type),
            );
            r
        }
        Err(err) => error_response(&err),
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id.to_string()) {
        headers.insert("x-request-id", v);
    }
    if let Some(rate) = ctx.rate {
        for (name, value) in [
            ("x-ratelimit-limit", u64::from(rate.limit)),
            ("x-ratelimit-remaining", u64::from(rate.remaining)),
            ("x-ratelimit-reset", rate.reset_secs),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }
    let status = response.status();
    let took = started.elapsed();
    state
        .metrics
        .observe_request(template, method.as_str(), status.as_u16(), took);
    tracing::info!(
        target: "dash::http",
        request_id,
        method = %method,
        route = template,
        status = status.as_u16(),
        took_ms = took.as_secs_f64() * 1e3,
        principal = ctx.principal.as_deref().unwrap_or("-"),
        tenant = ctx.tenant.as_deref().unwrap_or("-"),
    );
    response
}

/// The JSON error answer, with `Retry-After` when set.
pub fn error_response(err: &ApiError) -> warp::reply::Response {
    let mut r =
        warp::reply::with_status(warp::reply::json(&err.body()), err.status).into_response();
    if let Some(secs) = err.retry_after {
        r.headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    if err.status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static("Bearer, ApiKey"),
        );
    }
    r
}

async fn dispatch(
    state: &Arc<AppState>,
    route: Route,
    mut req: Request,
    ctx: &mut Context,
) -> Result<Answer, ApiError> {
    match route {
        Route::Health => return health(state),
        Route::Metrics if state.config.metrics_public => return metrics(state),
        _ => {}
    }
    let principal = match state.auth.authenticate(&req.headers) {
        Ok(p) => p,
        Err(err) => {
            state.metrics.auth_failure("unauthenticated");
            // Failed authentications spend the peer address's bucket, so a client without
            // credentials cannot grow the audit log (or burn CPU on JWT checks) without bound.
            if let (Some(limiter), Some(addr)) = (&state.rate, req.remote) {
                if let Err((limited, info)) = limiter.check(&format!("ip:{}", addr.ip())) {
                    ctx.rate = Some(info);
                    state.metrics.reject("rate_limited");
                    return Err(limited);
                }
            }
            audit(state, "-", None, route.action(), &[], &denied(&err));
            return Err(err);
        }
    };
    ctx.principal = Some(principal.id.clone());
    if let Some(limiter) = &state.rate {
        match limiter.check(&principal.id) {
            Ok(info) => ctx.rate = Some(info),
            Err((err, info)) => {
                ctx.rate = Some(info);
                state.metrics.reject("rate_limited");
                return Err(err);
            }
        }
    }
    match route {
        Route::Health => health(state),
        Route::Metrics => metrics(state),
        Route::Retrieve => {
            let request = if req.method == Method::POST {
                let body = read_body(state, &mut req).await?;
                serde_json::from_slice::<RetrieveRequest>(&body).map_err(|e| from_json_error(&e))?
            } else {
                RetrieveRequest::from_query_string(&req.query)?
            };
            retrieve(state, &principal, ctx, request, false).await
        }
        Route::DebugPlanner => {
            let request = RetrieveRequest::from_query_string(&req.query)?;
            retrieve(state, &principal, ctx, request, true).await
        }
        Route::GetClaim(claim_id) => {
            let tenant = tenant_param(&req.query)?;
            authorize(state, &principal, &tenant, "read", ctx)?;
            let store = Arc::clone(&state.store);
            let (t, c) = (TenantId::new(tenant), ClaimId::new(claim_id));
            let record = state
                .admission
                .run(move || store.get_claim(&t, &c).map(|r| (t, c, r)))
                .await??;
            match record {
                (t, c, Some(record)) => json(
                    StatusCode::OK,
                    &ClaimAnswer {
                        tenant_id: &t,
                        claim_id: &c,
                        record: &record,
                    },
                ),
                (_, c, None) => Err(ApiError::not_found(format!("claim `{c}` not found"))),
            }
        }
        Route::Events => {
            let (tenant, from) = crate::events::parse(&req.query, &req.headers)?;
            authorize(state, &principal, &tenant, "read", ctx)?;
            let store = Arc::clone(&state.store);
            let t = TenantId::new(tenant);
            let sub = state
                .admission
                .run(move || store.subscribe(&t, from))
                .await??;
            Ok(Answer {
                status: StatusCode::OK,
                content_type: "text/event-stream",
                body: Vec::new(),
                stream: Some(crate::events::respond(Arc::clone(state), sub)),
            })
        }
        Route::ClaimVersions(claim_id) => {
            let tenant = tenant_param(&req.query)?;
            authorize(state, &principal, &tenant, "read", ctx)?;
            let store = Arc::clone(&state.store);
            let (t, c) = (TenantId::new(tenant), ClaimId::new(claim_id));
            let (t, c, versions) = state
                .admission
                .run(move || store.versions(&t, &c).map(|v| (t, c, v)))
                .await??;
            match VersionsAnswer::new(&t, &c, &versions) {
                Some(answer) => json(StatusCode::OK, &answer),
                None => Err(ApiError::not_found(format!("claim `{c}` not found"))),
            }
        }
        Route::DebugStorage => {
            state.auth.authorize_admin(&principal).inspect_err(|_| {
                state.metrics.auth_failure("forbidden");
            })?;
            debug_storage(state)
        }
        Route::ReadOnlyGet => json(
            StatusCode::OK,
            &serde_json::json!({"read_only": state.read_only.load(Ordering::Acquire)}),
        ),
        Route::Ingest | Route::IngestBatch | Route::DeleteClaim(_) | Route::ReadOnlySet => {
            mutate(state, &principal, route, req, ctx).await
        }
    }
}

fn denied(err: &ApiError) -> String {
    format!("denied:{}", err.code)
}

/// Writes an audit line; a failure to audit turns the server read-only (fail closed: no
/// unaudited mutation follows it).
fn audit(
    state: &AppState,
    principal: &str,
    tenant: Option<&str>,
    action: &str,
    ids: &[String],
    outcome: &str,
) {
    let event = AuditEvent {
        principal,
        tenant,
        action,
        ids,
        outcome,
    };
    match state.audit.append(&event) {
        Ok(_) => {
            state.metrics.audit_records.inc();
        }
        Err(err) => {
            state.metrics.audit_errors.inc();
            state.read_only.store(true, Ordering::Release);
            tracing::error!(error = %err, "audit write failed; the server is now read-only");
        }
    };
}

fn authorize(
    state: &AppState,
    principal: &Principal,
    tenant: &str,
    action: &str,
    ctx: &mut Context,
) -> Result<(), ApiError> {
    ctx.tenant = Some(tenant.chars().take(128).collect());
    state.auth.authorize(principal, tenant).inspect_err(|err| {
        state.metrics.auth_failure("forbidden");
        audit(
            state,
            &principal.id,
            Some(tenant),
            action,
            &[],
            &denied(err),
        );
    })
}

fn tenant_param(query: &str) -> Result<String, ApiError> {
    let mut tenant = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "tenant_id" => tenant = Some(value.into_owned()),
            other => return Err(ApiError::unknown_parameter(other)),
        }
    }
    tenant.ok_or_else(|| ApiError::malformed("tenant_id is required"))
}

/// Reads a JSON body: 415 unless `Content-Type: application/json`, 413 past the limit.
async fn read_body(state: &AppState, req: &mut Request) -> Result<Bytes, ApiError> {
    let content_type = req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    let limit = state.config.body_limit;
    let too_large = || {
        state.metrics.reject("body_too_large");
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body exceeds {limit} bytes"),
        )
    };
    let declared = req
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let mut buf = BytesMut::with_capacity(declared.map_or(8192, |l| l as usize));
    while let Some(chunk) = req.body.next().await {
        let chunk = chunk.map_err(|_| ApiError::malformed("the body could not be read"))?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

async fn mutate(
    state: &Arc<AppState>,
    principal: &Principal,
    route: Route,
    mut req: Request,
    ctx: &mut Context,
) -> Result<Answer, ApiError> {
    let action = route.action();
    if route == Route::ReadOnlySet {
        state.auth.authorize_admin(principal).inspect_err(|err| {
            state.metrics.auth_failure("forbidden");
            audit(state, &principal.id, None, action, &[], &denied(err));
        })?;
    } else {
        if state.shutting_down.load(Ordering::Acquire) {
            return Err(
                ApiError::new(ErrorCode::ShuttingDown, "the server is shutting down")
                    .retry_after(1),
            );
        }
        if state.read_only.load(Ordering::Acquire) {
            state.metrics.reject("read_only");
            return Err(ApiError::new(
                ErrorCode::ReadOnly,
                "the server is read-only; mutations are refused",
            ));
        }
    }
    let body = if matches!(route, Route::DeleteClaim(_)) {
        Bytes::new()
    } else {
        read_body(state, &mut req).await?
    };
    if let Some(verifier) = &state.signing {
        let path = if req.query.is_empty() {
            req.path.clone()
        } else {
            format!("{}?{}", req.path, req.query)
        };
        verifier
            .check(req.method.as_str(), &path, &req.headers, &body)
            .inspect_err(|err| {
                state.metrics.auth_failure("signature");
                audit(state, &principal.id, None, action, &[], &denied(err));
            })?;
    }
    let parse_error = |e: serde_json::Error| from_json_error(&e);
    let state2 = Arc::clone(state);
    let who = principal.id.clone();
    match route {
        Route::Ingest => {
            let item: IngestItem = serde_json::from_slice(&body).map_err(parse_error)?;
            let tenant = item.claim.tenant_id.as_str().to_owned();
            authorize(state, principal, &tenant, action, ctx)?;
            let receipt = state
                .write_admission
                .run(move || {
                    let ids = vec![item.claim.claim_id.as_str().to_owned()];
                    let result = state2.store.ingest(item);
                    audit_result(&state2, &who, &tenant, action, &ids, &result, |_| "ok");
                    result
                })
                .await??;
            state.metrics.ingest_claims.inc();
            json(StatusCode::OK, &receipt)
        }
        Route::IngestBatch => {
            let batch: BatchBody = serde_json::from_slice(&body).map_err(parse_error)?;
            let tenants: BTreeSet<&str> = batch
                .items
                .iter()
                .map(|i| i.claim.tenant_id.as_str())
                .collect();
            for tenant in &tenants {
                authorize(state, principal, tenant, action, ctx)?;
            }
            let tenant = tenants.first().map(|t| (*t).to_owned()).unwrap_or_default();
            let receipt = state
                .write_admission
                .run(move || {
                    let mut ids = Vec::with_capacity(batch.items.len() + 1);
                    ids.push(format!("commit:{}", batch.commit_id));
                    ids.extend(
                        batch
                            .items
                            .iter()
                            .map(|i| i.claim.claim_id.as_str().to_owned()),
                    );
                    let result = state2.store.ingest_batch(&batch.commit_id, batch.items);
                    audit_result(&state2, &who, &tenant, action, &ids, &result, |r| {
                        match r.status {
                            dash_core::CommitStatus::Committed => "ok",
                            dash_core::CommitStatus::Replayed => "replayed",
                        }
                    });
                    result
                })
                .await??;
            match receipt.status {
                dash_core::CommitStatus::Committed => {
                    state.metrics.ingest_batches.inc();
                    state
                        .metrics
                        .ingest_claims
                        .inc_by(receipt.items.len() as u64);
                }
                dash_core::CommitStatus::Replayed => {
                    state.metrics.ingest_replayed.inc();
                }
            }
            json(StatusCode::OK, &receipt)
        }
        Route::DeleteClaim(claim_id) => {
            let tenant = tenant_param(&req.query)?;
            authorize(state, principal, &tenant, action, ctx)?;
            let receipt = state
                .write_admission
                .run(move || {
                    let ids = vec![claim_id.clone()];
                    let result = state2
                        .store
                        .forget(&TenantId::new(tenant.as_str()), &ClaimId::new(claim_id));
                    audit_result(&state2, &who, &tenant, action, &ids, &result, |_| "ok");
                    result
                })
                .await??;
            state.metrics.forgets.inc();
            json(StatusCode::OK, &receipt)
        }
        Route::ReadOnlySet => {
            let wanted: ReadOnlyBody = serde_json::from_slice(&body).map_err(parse_error)?;
            state.read_only.store(wanted.read_only, Ordering::Release);
            tracing::warn!(read_only = wanted.read_only, principal = %principal.id, "read-only switched");
            audit(
                state,
                &principal.id,
                None,
                action,
                &[format!("read_only={}", wanted.read_only)],
                "ok",
            );
            json(
                StatusCode::OK,
                &serde_json::json!({"read_only": wanted.read_only}),
            )
        }
        _ => Err(ApiError::internal()),
    }
}

/// Audits the outcome of a store write (called on the worker thread, so the line is written
/// even when the request's timeout has already answered the client).
fn audit_result<T>(
    state: &AppState,
    principal: &str,
    tenant: &str,
    action: &str,
    ids: &[String],
    result: &Result<T, dash_core::WriteError>,
    ok: impl Fn(&T) -> &'static str,
) {
    let outcome = match result {
        Ok(value) => ok(value).to_owned(),
        Err(err) => format!("error:{}", crate::error::write_error_code(err)),
    };
    audit(state, principal, Some(tenant), action, ids, &outcome);
}

async fn retrieve(
    state: &Arc<AppState>,
    principal: &Principal,
    ctx: &mut Context,
    request: RetrieveRequest,
    planner: bool,
) -> Result<Answer, ApiError> {
    authorize(state, principal, &request.tenant_id, "read", ctx)?;
    let mut query = request.to_query();
    if planner {
        query = query.explain(true);
    }
    let store = Arc::clone(&state.store);
    let answer = state
        .admission
        .run(move || store.retrieve(&query))
        .await??;
    state.metrics.retrieve_queries.inc();
    state
        .metrics
        .retrieve_results
        .inc_by(answer.results.len() as u64);
    if planner {
        return json(
            StatusCode::OK,
            &serde_json::json!({
                "tenant_id": answer.tenant_id,
                "query": answer.query,
                "took_ms": answer.took_ms,
                "results": answer.results.len(),
                "explain": answer.explain,
            }),
        );
    }
    json(StatusCode::OK, &answer)
}

fn health(state: &AppState) -> Result<Answer, ApiError> {
    let stats = state.store.stats();
    let shutting_down = state.shutting_down.load(Ordering::Acquire);
    let serving = stats.poisoned.is_none() && !shutting_down;
    let status = if serving {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(
        status,
        &serde_json::json!({
            "status": if serving { "ok" } else { "unavailable" },
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": state.started.elapsed().as_secs(),
            "claims": stats.claims,
            "wal_bytes": stats.wal_bytes,
            "segments": stats.segments,
            "read_only": state.read_only.load(Ordering::Acquire),
            "indexing": stats.index_building,
            "reason": stats
                .poisoned
                .map(|cause| cause.to_string())
                .or(shutting_down.then(|| "shutting down".to_owned())),
        }),
    )
}

fn metrics(state: &AppState) -> Result<Answer, ApiError> {
    let text = state.metrics.render(
        &state.store.stats(),
        state.read_only.load(Ordering::Acquire),
    );
    Ok(Answer {
        status: StatusCode::OK,
        content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
        body: text.into_bytes(),
        stream: None,
    })
}

fn debug_storage(state: &AppState) -> Result<Answer, ApiError> {
    let stats = state.store.stats();
    let report = state.store.recovery_report();
    let mut warnings = Vec::new();
    if let Some(cause) = &stats.poisoned {
        warnings.push(format!("store poisoned: {cause}"));
    }
    if let Some(err) = &stats.last_checkpoint_error {
        warnings.push(format!("last background checkpoint failed: {err}"));
    }
    if let Some(err) = &stats.last_index_error {
        warnings.push(format!("last background index build failed: {err}"));
    }
    for t in &report.truncations {
        warnings.push(format!(
            "at open, {} was cut at byte {} ({} bytes dropped)",
            t.file.display(),
            t.offset,
            t.dropped_bytes
        ));
    }
    if stats.checkpoint_lsn > stats.last_lsn {
        warnings.push("checkpoint LSN is ahead of the WAL's last LSN".to_owned());
    }
    json(
        StatusCode::OK,
        &serde_json::json!({
            "wal": {
                "files": stats.wal_files,
                "bytes": stats.wal_bytes,
                "last_lsn": stats.last_lsn,
                "checkpoint_lsn": stats.checkpoint_lsn,
                "records_written": stats.records_written,
                "syncs": stats.wal_syncs,
            },
            "manifest_generation": stats.manifest_generation,
            "segments": {
                "count": stats.segments,
                "bytes": stats.segment_bytes,
                "checkpoint_bytes": stats.checkpoint_bytes,
                "merge_bytes": stats.merge_bytes,
            },
            "memtable_versions": stats.memtable_versions,
            "checkpoints": stats.checkpoints,
            "merges": stats.merges,
            "indexes": {
                "building": stats.index_building,
                "builds": stats.index_builds,
                "graph_inserts": stats.graph_inserts,
                "dense_graph_docs": stats.dense_graph_docs,
                "dense_mapped_docs": stats.dense_mapped_docs,
                "dense_exact_docs": stats.dense_exact_docs,
                "dense_graphs": stats.dense_graphs,
                "catalog_image_loaded": stats.catalog_image_loaded,
                "catalog_image_unused": stats.catalog_image_unused,
                // Walks every tenant's dictionaries (milliseconds at a million claims): fine for
                // an admin's look, not for a scrape.
                "memory": state.store.index_memory(),
            },
            "recovery": {
                "manifest_generation": report.manifest_generation,
                "segments_loaded": report.segments_loaded,
                "wal_files_read": report.wal_files_read,
                "records_replayed": report.records_replayed,
                "removed_files": report.removed_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            },
            "audit": {
                "path": state.audit.path().display().to_string(),
                "records": state.audit.records(),
            },
            "warnings": warnings,
        }),
    )
}

/// Waits until no admitted request is left or `budget` runs out; true when drained.
pub async fn drain(state: &AppState, budget: Duration) -> bool {
    let deadline = Instant::now() + budget;
    while state.admission.admitted() + state.write_admission.admitted() > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_route_resolves_to_its_template() {
        for (method, template) in ROUTES {
            let method: Method = method.parse().unwrap();
            let path = template.replace("{claim_id}", "c%201");
            let route = route(&method, &path).unwrap();
            assert_eq!(route.template(), *template);
            if let Route::GetClaim(id) | Route::DeleteClaim(id) | Route::ClaimVersions(id) = route {
                assert_eq!(id, "c 1");
            }
        }
        assert_eq!(
            route(&Method::GET, "/v1/nothing").unwrap_err().code,
            "not_found"
        );
        assert_eq!(
            route(&Method::GET, "/v1/claims/").unwrap_err().code,
            "not_found"
        );
        assert_eq!(
            route(&Method::GET, "/v1/claims/a/b").unwrap_err().code,
            "not_found"
        );
        assert_eq!(
            route(&Method::PUT, "/v1/ingest").unwrap_err().code,
            "method_not_allowed"
        );
        assert_eq!(
            route(&Method::PUT, "/v1/claims/x").unwrap_err().code,
            "method_not_allowed"
        );
        assert_eq!(
            route(&Method::DELETE, "/v1/claims/x/versions")
                .unwrap_err()
                .code,
            "method_not_allowed"
        );
        assert_eq!(
            route(&Method::GET, "/v1/claims//versions")
                .unwrap_err()
                .code,
            "not_found"
        );
        assert_eq!(
            route(&Method::GET, "/v1/claims/a%2Fversions").unwrap(),
            Route::GetClaim("a/versions".into())
        );
    }
}
