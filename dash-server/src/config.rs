//! Server configuration: every setting from a flag or its `DASH_*` environment variable,
//! validated before the server listens.
//!
//! Parsing is two steps on purpose: clap collects the raw strings (a flag wins over its
//! variable), then [`ServeConfig::from_args`] checks each value and each combination and names
//! the variable and the accepted range in its error, so an operator sees exactly what to fix.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use dash_core::Durability;

use crate::connections::ConnectionLimits;

/// The raw settings of `dash serve`, as given on the command line or in the environment.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Directory of the store and the audit log.
    #[arg(long, env = "DASH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (`host:port`). Default: 127.0.0.1:7700.
    #[arg(long, env = "DASH_BIND")]
    pub bind: Option<String>,
    /// `strict` (fsync before acknowledging; group commit) or `batched`. Default: strict.
    #[arg(long, env = "DASH_DURABILITY")]
    pub durability: Option<String>,
    /// Batched mode: most records acknowledged before an fsync. Default: 64.
    #[arg(long, env = "DASH_BATCH_MAX_RECORDS")]
    pub batch_max_records: Option<String>,
    /// Batched mode: longest time a record waits for its fsync, in ms. Default: 10.
    #[arg(long, env = "DASH_BATCH_MAX_DELAY_MS")]
    pub batch_max_delay_ms: Option<String>,
    /// Every tenant's embedding dimension (1..=8192). Unset: each tenant's first embedding fixes
    /// its own.
    #[arg(long, env = "DASH_EMBEDDING_DIM")]
    pub embedding_dim: Option<String>,
    /// The scalar type HNSW graphs store vectors in: `f32` (scores equal the exact scan's),
    /// `f16` (half the graph's vector memory, faster builds; recall@10 0.995 at 1M), `i8`
    /// (needs re-ranking: recall@10 0.74 at 1M). Graphs saved before keep their type. Default:
    /// f32.
    #[arg(long, env = "DASH_HNSW_QUANTIZATION")]
    pub hnsw_quantization: Option<String>,
    /// A model folder (all-MiniLM-L6-v2: config.json, tokenizer.json, model.safetensors;
    /// `scripts/fetch-model.sh` gets one): claims and queries sent without a vector are embedded
    /// by the server. Unset: no embedder.
    #[arg(long, env = "DASH_EMBEDDER")]
    pub embedder: Option<PathBuf>,
    /// Bytes of checkpointed WAL kept as the change feed's history (`GET /v1/events`); a
    /// subscriber starting before it gets 410 `history_lost`. Default: 134217728 (128 MiB).
    #[arg(long, env = "DASH_FEED_RETENTION_BYTES")]
    pub feed_retention_bytes: Option<String>,
    /// Reads (retrieve, get) that run at once, on threads off the async runtime; they are
    /// CPU-bound. Default: the number of CPUs.
    #[arg(long, env = "DASH_WORKERS")]
    pub workers: Option<String>,
    /// Reads that may wait for a worker before the server answers 429. Default: 8 × workers.
    #[arg(long, env = "DASH_QUEUE_CAPACITY")]
    pub queue_capacity: Option<String>,
    /// Writes that run at once; they mostly wait for the WAL's group commit. Default: 16.
    #[arg(long, env = "DASH_WRITE_WORKERS")]
    pub write_workers: Option<String>,
    /// Writes that may wait for a worker before the server answers 429. Default: 64.
    #[arg(long, env = "DASH_WRITE_QUEUE_CAPACITY")]
    pub write_queue_capacity: Option<String>,
    /// Detect contradictions and successions on ingest (`true`/`false`). Default: true.
    #[arg(long, env = "DASH_DETECTION")]
    pub detection: Option<String>,
    /// Predicates that hold several values at once (never contradict), comma-separated.
    #[arg(long, env = "DASH_MULTI_VALUED_PREDICATES")]
    pub multi_valued_predicates: Option<String>,
    /// Lowest detector confidence that makes a detected edge (0..=1). Default: 0.6.
    #[arg(long, env = "DASH_DETECTION_MIN_CONFIDENCE")]
    pub detection_min_confidence: Option<String>,
    /// Longest time a retrieve waits for detection to reach the tenant's commits, in ms
    /// (0..=10000; a request's `wait_for_detection_ms` overrides it). Default: 100.
    #[arg(long, env = "DASH_DETECTION_WAIT_MS")]
    pub detection_wait_ms: Option<String>,
    /// Latest-wins memory in every tenant: a conflict between claims without validity makes
    /// the newer supersede the older (`true`/`false`). Default: false.
    #[arg(long, env = "DASH_NEWER_SUPERSEDES")]
    pub newer_supersedes: Option<String>,
    /// Latest-wins memory for these tenants only, comma-separated.
    #[arg(long, env = "DASH_NEWER_SUPERSEDES_TENANTS")]
    pub newer_supersedes_tenants: Option<String>,
    /// Largest request body in bytes (413 above it). Default: 16777216 (16 MiB).
    #[arg(long, env = "DASH_BODY_LIMIT_BYTES")]
    pub body_limit_bytes: Option<String>,
    /// Per-request time budget in ms (503 `timeout` past it). Default: 30000.
    #[arg(long, env = "DASH_REQUEST_TIMEOUT_MS")]
    pub request_timeout_ms: Option<String>,
    /// Client connections open at once; above it new ones wait in the backlog. Default: 1024.
    #[arg(long, env = "DASH_MAX_CONNECTIONS")]
    pub max_connections: Option<String>,
    /// Connections one peer address may hold open; above it a new one is closed. Default:
    /// DASH_MAX_CONNECTIONS (no separate bound: a proxy or a pooled client is one peer).
    #[arg(long, env = "DASH_MAX_CONNECTIONS_PER_PEER")]
    pub max_connections_per_peer: Option<String>,
    /// Time a client has to send a request's headers, in ms; also the longest a keep-alive
    /// connection waits for its next request. Default: 30000.
    #[arg(long, env = "DASH_HEADER_READ_TIMEOUT_MS")]
    pub header_read_timeout_ms: Option<String>,
    /// Time a connection may go without a byte read or written, in ms; above the request
    /// timeout. Default: 60000, or the request timeout + 1000 if higher.
    #[arg(long, env = "DASH_IDLE_TIMEOUT_MS")]
    pub idle_timeout_ms: Option<String>,
    /// Time in-flight requests get to finish at shutdown, in ms. Default: 10000.
    #[arg(long, env = "DASH_SHUTDOWN_GRACE_MS")]
    pub shutdown_grace_ms: Option<String>,
    /// Active API keys, comma-separated (several during a rotation).
    #[arg(long, env = "DASH_API_KEYS", hide_env_values = true)]
    pub api_keys: Option<String>,
    /// Revoked API keys, comma-separated: denied even if listed elsewhere.
    #[arg(long, env = "DASH_REVOKED_API_KEYS", hide_env_values = true)]
    pub revoked_api_keys: Option<String>,
    /// Key scopes: `key:tenant-a,tenant-b;key2:tenant-c`. An unscoped key reaches every tenant.
    #[arg(long, env = "DASH_API_KEY_SCOPES", hide_env_values = true)]
    pub api_key_scopes: Option<String>,
    /// API keys that may also call the admin and storage-debug endpoints, comma-separated.
    #[arg(long, env = "DASH_ADMIN_API_KEYS", hide_env_values = true)]
    pub admin_api_keys: Option<String>,
    /// Tenants the server serves at all, comma-separated. Default: every tenant.
    #[arg(long, env = "DASH_TENANT_ALLOWLIST")]
    pub tenant_allowlist: Option<String>,
    /// HS256 secret for JWTs without a `kid`.
    #[arg(long, env = "DASH_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// HS256 secrets by `kid`: `kid1:secret1,kid2:secret2` (overlap during rotation).
    #[arg(long, env = "DASH_JWT_SECRETS", hide_env_values = true)]
    pub jwt_secrets: Option<String>,
    /// Required JWT `iss`.
    #[arg(long, env = "DASH_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required JWT `aud`.
    #[arg(long, env = "DASH_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Clock leeway for `exp`/`nbf`, in seconds. Default: 30.
    #[arg(long, env = "DASH_JWT_LEEWAY_SECS")]
    pub jwt_leeway_secs: Option<String>,
    /// The JWT claim naming the tenants a token may touch (a string or an array). Default: tenants.
    #[arg(long, env = "DASH_JWT_TENANT_CLAIM")]
    pub jwt_tenant_claim: Option<String>,
    /// Serve without credentials on a non-loopback address (`true`/`false`). Default: false.
    #[arg(long, env = "DASH_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: Option<String>,
    /// HMAC-SHA256 secret for signed writes.
    #[arg(long, env = "DASH_SIGNING_SECRET", hide_env_values = true)]
    pub signing_secret: Option<String>,
    /// Refuse unsigned writes (`true`/`false`). Default: false.
    #[arg(long, env = "DASH_REQUIRE_SIGNED_WRITES")]
    pub require_signed_writes: Option<String>,
    /// Accepted clock skew of `X-DASH-Timestamp`, in seconds. Default: 300.
    #[arg(long, env = "DASH_SIGNATURE_SKEW_SECS")]
    pub signature_skew_secs: Option<String>,
    /// Nonces remembered against replays. Default: 100000.
    #[arg(long, env = "DASH_NONCE_CACHE_SIZE")]
    pub nonce_cache_size: Option<String>,
    /// Audit log file. Default: `<data-dir>/audit/audit.jsonl`.
    #[arg(long, env = "DASH_AUDIT_PATH")]
    pub audit_path: Option<PathBuf>,
    /// fsync the audit log after every line (`true`/`false`). Default: false.
    #[arg(long, env = "DASH_AUDIT_FSYNC")]
    pub audit_fsync: Option<String>,
    /// Requests per second per principal (0 turns rate limiting off). Default: 1000.
    #[arg(long, env = "DASH_RATE_LIMIT_RPS")]
    pub rate_limit_rps: Option<String>,
    /// Burst above the rate a principal may spend at once. Default: 2 × the rate.
    #[arg(long, env = "DASH_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<String>,
    /// Start with every mutation refused (503 `read_only`). Default: false.
    #[arg(long, env = "DASH_READ_ONLY")]
    pub read_only: Option<String>,
    /// Serve `/metrics` without credentials. Default: false.
    #[arg(long, env = "DASH_METRICS_PUBLIC")]
    pub metrics_public: Option<String>,
}

/// A setting that failed validation: names the variable, the flag and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var} (--{flag}) {problem}; accepted: {accepted}")]
pub struct ConfigError {
    /// The environment variable.
    pub var: &'static str,
    /// The command-line flag (without `--`).
    pub flag: &'static str,
    /// What is wrong with the value given.
    pub problem: String,
    /// What would be accepted.
    pub accepted: String,
}

fn bad(var: &'static str, problem: impl Into<String>, accepted: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        flag: flag_of(var),
        problem: problem.into(),
        accepted: accepted.into(),
    }
}

/// `DASH_BODY_LIMIT_BYTES` → `body-limit-bytes`.
fn flag_of(var: &'static str) -> &'static str {
    FLAGS
        .iter()
        .find(|(v, _)| *v == var)
        .map_or("?", |(_, f)| *f)
}

/// Every setting as `(environment variable, flag)`: the table `docs/http-api.md` is checked
/// against.
pub const FLAGS: &[(&str, &str)] = &[
    ("DASH_DATA_DIR", "data-dir"),
    ("DASH_BIND", "bind"),
    ("DASH_DURABILITY", "durability"),
    ("DASH_BATCH_MAX_RECORDS", "batch-max-records"),
    ("DASH_BATCH_MAX_DELAY_MS", "batch-max-delay-ms"),
    ("DASH_EMBEDDING_DIM", "embedding-dim"),
    ("DASH_EMBEDDER", "embedder"),
    ("DASH_HNSW_QUANTIZATION", "hnsw-quantization"),
    ("DASH_FEED_RETENTION_BYTES", "feed-retention-bytes"),
    ("DASH_DETECTION", "detection"),
    ("DASH_MULTI_VALUED_PREDICATES", "multi-valued-predicates"),
    ("DASH_DETECTION_MIN_CONFIDENCE", "detection-min-confidence"),
    ("DASH_DETECTION_WAIT_MS", "detection-wait-ms"),
    ("DASH_NEWER_SUPERSEDES", "newer-supersedes"),
    ("DASH_NEWER_SUPERSEDES_TENANTS", "newer-supersedes-tenants"),
    ("DASH_WORKERS", "workers"),
    ("DASH_QUEUE_CAPACITY", "queue-capacity"),
    ("DASH_WRITE_WORKERS", "write-workers"),
    ("DASH_WRITE_QUEUE_CAPACITY", "write-queue-capacity"),
    ("DASH_BODY_LIMIT_BYTES", "body-limit-bytes"),
    ("DASH_REQUEST_TIMEOUT_MS", "request-timeout-ms"),
    ("DASH_MAX_CONNECTIONS", "max-connections"),
    ("DASH_MAX_CONNECTIONS_PER_PEER", "max-connections-per-peer"),
    ("DASH_HEADER_READ_TIMEOUT_MS", "header-read-timeout-ms"),
    ("DASH_IDLE_TIMEOUT_MS", "idle-timeout-ms"),
    ("DASH_SHUTDOWN_GRACE_MS", "shutdown-grace-ms"),
    ("DASH_API_KEYS", "api-keys"),
    ("DASH_REVOKED_API_KEYS", "revoked-api-keys"),
    ("DASH_API_KEY_SCOPES", "api-key-scopes"),
    ("DASH_ADMIN_API_KEYS", "admin-api-keys"),
    ("DASH_TENANT_ALLOWLIST", "tenant-allowlist"),
    ("DASH_JWT_SECRET", "jwt-secret"),
    ("DASH_JWT_SECRETS", "jwt-secrets"),
    ("DASH_JWT_ISSUER", "jwt-issuer"),
    ("DASH_JWT_AUDIENCE", "jwt-audience"),
    ("DASH_JWT_LEEWAY_SECS", "jwt-leeway-secs"),
    ("DASH_JWT_TENANT_CLAIM", "jwt-tenant-claim"),
    ("DASH_ALLOW_UNAUTHENTICATED", "allow-unauthenticated"),
    ("DASH_SIGNING_SECRET", "signing-secret"),
    ("DASH_REQUIRE_SIGNED_WRITES", "require-signed-writes"),
    ("DASH_SIGNATURE_SKEW_SECS", "signature-skew-secs"),
    ("DASH_NONCE_CACHE_SIZE", "nonce-cache-size"),
    ("DASH_AUDIT_PATH", "audit-path"),
    ("DASH_AUDIT_FSYNC", "audit-fsync"),
    ("DASH_RATE_LIMIT_RPS", "rate-limit-rps"),
    ("DASH_RATE_LIMIT_BURST", "rate-limit-burst"),
    ("DASH_READ_ONLY", "read-only"),
    ("DASH_METRICS_PUBLIC", "metrics-public"),
];

/// Shortest API key, JWT secret or signing secret accepted (bytes): shorter ones are guessable.
pub const MIN_SECRET_LEN: usize = 16;

/// Authentication settings.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// Active API keys.
    pub api_keys: Vec<String>,
    /// Revoked API keys.
    pub revoked_api_keys: Vec<String>,
    /// Tenants per scoped key (a key absent here reaches every tenant).
    pub key_scopes: BTreeMap<String, BTreeSet<String>>,
    /// Keys allowed on the admin endpoints.
    pub admin_api_keys: Vec<String>,
    /// Tenants served at all (`None`: every tenant).
    pub tenant_allowlist: Option<BTreeSet<String>>,
    /// JWT settings, if JWTs are accepted.
    pub jwt: Option<JwtConfig>,
    /// True when neither keys nor JWT secrets are configured.
    pub open: bool,
}

/// JWT (HS256) settings.
#[derive(Debug, Clone, Default)]
pub struct JwtConfig {
    /// Secret for tokens without `kid`.
    pub default_secret: Option<String>,
    /// Secrets by `kid`.
    pub secrets_by_kid: BTreeMap<String, String>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required `aud`.
    pub audience: Option<String>,
    /// Leeway for `exp`/`nbf`, seconds.
    pub leeway_secs: u64,
    /// Claim naming the token's tenants.
    pub tenant_claim: String,
}

/// Signed-write settings.
#[derive(Debug, Clone)]
pub struct SigningConfig {
    /// The HMAC secret.
    pub secret: String,
    /// Refuse unsigned writes.
    pub required: bool,
    /// Accepted skew between `X-DASH-Timestamp` and the server's clock.
    pub skew: Duration,
    /// Nonces remembered.
    pub nonce_cache_size: usize,
}

/// Per-principal rate limit: a token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket size.
    pub burst: u32,
}

/// The validated configuration of `dash serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Root directory: the store lives in `<data_dir>/store`.
    pub data_dir: PathBuf,
    /// Listen address.
    pub bind: SocketAddr,
    /// Store durability.
    pub durability: Durability,
    /// Embedding dimension, if fixed by the operator.
    pub embedding_dim: Option<u32>,
    /// The scalar type of the HNSW graphs' vectors.
    pub hnsw_quantization: dash_core::index::Quantization,
    /// The embedder's model folder, if any.
    pub embedder: Option<PathBuf>,
    /// Checkpointed WAL kept for the change feed, bytes.
    pub feed_retention_bytes: u64,
    /// Contradiction detection.
    pub detection: dash_core::detect::DetectionConfig,
    /// Concurrent reads.
    pub workers: usize,
    /// Reads that may wait for a worker.
    pub queue_capacity: usize,
    /// Concurrent writes.
    pub write_workers: usize,
    /// Writes that may wait for a worker.
    pub write_queue_capacity: usize,
    /// Largest body, bytes.
    pub body_limit: usize,
    /// Per-request budget.
    pub request_timeout: Duration,
    /// Shutdown budget for in-flight requests.
    pub shutdown_grace: Duration,
    /// Bounds on client connections.
    pub connections: ConnectionLimits,
    /// Authentication.
    pub auth: AuthConfig,
    /// Signed writes, if configured.
    pub signing: Option<SigningConfig>,
    /// Audit log file.
    pub audit_path: PathBuf,
    /// fsync after every audit line.
    pub audit_fsync: bool,
    /// Rate limit per principal (`None`: off).
    pub rate_limit: Option<RateLimit>,
    /// Start read-only.
    pub read_only: bool,
    /// `/metrics` without credentials.
    pub metrics_public: bool,
}

impl ServeConfig {
    /// The store's directory.
    #[must_use]
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    /// A configuration for tests and embedding: everything at its default, listening on
    /// `bind`, open (no credentials) — only valid on loopback.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>, bind: &str) -> Result<Self, ConfigError> {
        Self::from_args(ServeArgs {
            data_dir: Some(data_dir.into()),
            bind: Some(bind.to_owned()),
            ..ServeArgs::default()
        })
    }

    /// Validates every setting and combination.
    pub fn from_args(args: ServeArgs) -> Result<Self, ConfigError> {
        let data_dir = match args.data_dir.clone() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => return Err(bad("DASH_DATA_DIR", "is not set", "a directory path")),
        };
        let bind_text = args.bind.as_deref().unwrap_or("127.0.0.1:7700");
        let bind: SocketAddr = bind_text.parse().map_err(|_| {
            bad(
                "DASH_BIND",
                format!("is {bind_text:?}"),
                "an IP address and port, e.g. 127.0.0.1:7700 or [::1]:7700",
            )
        })?;

        let durability = parse_durability(&args)?;
        let detection = parse_detection(&args)?;
        let embedding_dim = args
            .embedding_dim
            .as_deref()
            .map(|v| {
                int(
                    v,
                    "DASH_EMBEDDING_DIM",
                    1,
                    dash_core::MAX_EMBEDDING_DIM as u64,
                )
            })
            .transpose()?
            .map(|v| v as u32);
        let hnsw_quantization = match args.hnsw_quantization.as_deref() {
            None => dash_core::index::Quantization::default(),
            Some(text) => text.parse().map_err(|_| {
                bad(
                    "DASH_HNSW_QUANTIZATION",
                    format!("is {text:?}"),
                    "f32, f16 or i8",
                )
            })?,
        };
        let feed_retention_bytes = opt_int(
            args.feed_retention_bytes.as_deref(),
            "DASH_FEED_RETENTION_BYTES",
            0,
            u64::MAX / 2,
            dash_core::DEFAULT_FEED_RETENTION_BYTES,
        )?;
        // Reads are CPU-bound: one worker per CPU. The queue is a trade-off (measured:
        // docs/benchmarks.md, overload): 8 per worker holds 16 concurrent clients on 2 CPUs
        // without a 429; 1 per worker keeps admitted latency within 3x of unloaded at twice
        // the sustainable rate, but refuses part of a 16-client load.
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
        let workers = opt_int(args.workers.as_deref(), "DASH_WORKERS", 1, 1024, cpus)? as usize;
        let queue_capacity = opt_int(
            args.queue_capacity.as_deref(),
            "DASH_QUEUE_CAPACITY",
            0,
            1_000_000,
            workers as u64 * 8,
        )? as usize;
        // Writes mostly wait for the group commit's fsync: more of them in flight share it.
        let write_workers = opt_int(
            args.write_workers.as_deref(),
            "DASH_WRITE_WORKERS",
            1,
            1024,
            16,
        )? as usize;
        let write_queue_capacity = opt_int(
            args.write_queue_capacity.as_deref(),
            "DASH_WRITE_QUEUE_CAPACITY",
            0,
            1_000_000,
            64,
        )? as usize;
        let body_limit = opt_int(
            args.body_limit_bytes.as_deref(),
            "DASH_BODY_LIMIT_BYTES",
            1024,
            256 << 20,
            16 << 20,
        )? as usize;
        let request_timeout = Duration::from_millis(opt_int(
            args.request_timeout_ms.as_deref(),
            "DASH_REQUEST_TIMEOUT_MS",
            10,
            600_000,
            30_000,
        )?);
        let connections = parse_connections(&args, request_timeout)?;
        let shutdown_grace = Duration::from_millis(opt_int(
            args.shutdown_grace_ms.as_deref(),
            "DASH_SHUTDOWN_GRACE_MS",
            0,
            600_000,
            10_000,
        )?);

        let auth = parse_auth(&args)?;
        let allow_unauthenticated = opt_bool(
            args.allow_unauthenticated.as_deref(),
            "DASH_ALLOW_UNAUTHENTICATED",
            false,
        )?;
        if auth.open && !bind.ip().is_loopback() && !allow_unauthenticated {
            return Err(bad(
                "DASH_ALLOW_UNAUTHENTICATED",
                format!(
                    "is not true, but no API key or JWT secret is configured and {bind} is not \
                     a loopback address"
                ),
                "configure DASH_API_KEYS or DASH_JWT_SECRET(S), bind to 127.0.0.1/[::1], or set \
                 DASH_ALLOW_UNAUTHENTICATED=true",
            ));
        }

        let signing = parse_signing(&args)?;
        let audit_path = args
            .audit_path
            .clone()
            .unwrap_or_else(|| data_dir.join("audit").join("audit.jsonl"));
        if audit_path.starts_with(data_dir.join("store")) {
            return Err(bad(
                "DASH_AUDIT_PATH",
                "is inside the store directory",
                "a path outside <data-dir>/store",
            ));
        }
        let audit_fsync = opt_bool(args.audit_fsync.as_deref(), "DASH_AUDIT_FSYNC", false)?;

        let rps = opt_int(
            args.rate_limit_rps.as_deref(),
            "DASH_RATE_LIMIT_RPS",
            0,
            1_000_000,
            1000,
        )?;
        let rate_limit = if rps == 0 {
            if args.rate_limit_burst.is_some() {
                return Err(bad(
                    "DASH_RATE_LIMIT_BURST",
                    "is set while DASH_RATE_LIMIT_RPS is 0 (rate limiting off)",
                    "leave it unset, or set DASH_RATE_LIMIT_RPS above 0",
                ));
            }
            None
        } else {
            let burst = opt_int(
                args.rate_limit_burst.as_deref(),
                "DASH_RATE_LIMIT_BURST",
                1,
                10_000_000,
                rps.saturating_mul(2),
            )?;
            Some(RateLimit {
                per_second: rps as f64,
                burst: burst as u32,
            })
        };

        Ok(Self {
            data_dir,
            bind,
            durability,
            embedding_dim,
            hnsw_quantization,
            embedder: args.embedder.clone(),
            feed_retention_bytes,
            detection,
            workers,
            queue_capacity,
            write_workers,
            write_queue_capacity,
            body_limit,
            request_timeout,
            shutdown_grace,
            connections,
            auth,
            signing,
            audit_path,
            audit_fsync,
            rate_limit,
            read_only: opt_bool(args.read_only.as_deref(), "DASH_READ_ONLY", false)?,
            metrics_public: opt_bool(args.metrics_public.as_deref(), "DASH_METRICS_PUBLIC", false)?,
        })
    }
}

fn parse_connections(
    args: &ServeArgs,
    request_timeout: Duration,
) -> Result<ConnectionLimits, ConfigError> {
    let max_connections = opt_int(
        args.max_connections.as_deref(),
        "DASH_MAX_CONNECTIONS",
        1,
        1_000_000,
        1024,
    )?;
    let max_per_peer = opt_int(
        args.max_connections_per_peer.as_deref(),
        "DASH_MAX_CONNECTIONS_PER_PEER",
        1,
        max_connections,
        max_connections,
    )?;
    let header_read_timeout = Duration::from_millis(opt_int(
        args.header_read_timeout_ms.as_deref(),
        "DASH_HEADER_READ_TIMEOUT_MS",
        100,
        600_000,
        30_000,
    )?);
    // An active request may leave its socket silent for as long as it works: the idle timeout
    // must not cut it short.
    let request_ms = request_timeout.as_millis() as u64;
    let idle_timeout = Duration::from_millis(opt_int(
        args.idle_timeout_ms.as_deref(),
        "DASH_IDLE_TIMEOUT_MS",
        request_ms + 1,
        3_600_000,
        60_000.max(request_ms + 1000),
    )?);
    Ok(ConnectionLimits {
        max_connections: max_connections as usize,
        max_per_peer: max_per_peer as usize,
        header_read_timeout,
        idle_timeout,
    })
}

fn parse_durability(args: &ServeArgs) -> Result<Durability, ConfigError> {
    let mode = args.durability.as_deref().unwrap_or("strict");
    match mode {
        "strict" => {
            for (value, var) in [
                (&args.batch_max_records, "DASH_BATCH_MAX_RECORDS"),
                (&args.batch_max_delay_ms, "DASH_BATCH_MAX_DELAY_MS"),
            ] {
                if value.is_some() {
                    return Err(bad(
                        var,
                        "is set while DASH_DURABILITY is strict",
                        "leave it unset, or set DASH_DURABILITY=batched",
                    ));
                }
            }
            Ok(Durability::Strict)
        }
        "batched" => {
            let max_records = opt_int(
                args.batch_max_records.as_deref(),
                "DASH_BATCH_MAX_RECORDS",
                1,
                dash_core::SAFE_BATCH_RECORDS as u64,
                64,
            )? as usize;
            let max_delay = Duration::from_millis(opt_int(
                args.batch_max_delay_ms.as_deref(),
                "DASH_BATCH_MAX_DELAY_MS",
                1,
                dash_core::SAFE_BATCH_DELAY.as_millis() as u64,
                10,
            )?);
            Ok(Durability::Batched {
                max_records,
                max_delay,
            })
        }
        other => Err(bad(
            "DASH_DURABILITY",
            format!("is {other:?}"),
            "strict or batched",
        )),
    }
}

fn parse_detection(args: &ServeArgs) -> Result<dash_core::detect::DetectionConfig, ConfigError> {
    use dash_core::detect::DetectionConfig;
    if !opt_bool(args.detection.as_deref(), "DASH_DETECTION", true)? {
        for (value, var) in [
            (
                &args.multi_valued_predicates,
                "DASH_MULTI_VALUED_PREDICATES",
            ),
            (
                &args.detection_min_confidence,
                "DASH_DETECTION_MIN_CONFIDENCE",
            ),
            (&args.detection_wait_ms, "DASH_DETECTION_WAIT_MS"),
            (&args.newer_supersedes, "DASH_NEWER_SUPERSEDES"),
            (
                &args.newer_supersedes_tenants,
                "DASH_NEWER_SUPERSEDES_TENANTS",
            ),
        ] {
            if value.is_some() {
                return Err(bad(
                    var,
                    "is set while DASH_DETECTION is false",
                    "leave it unset, or set DASH_DETECTION=true",
                ));
            }
        }
        return Ok(DetectionConfig::disabled());
    }
    let mut config = DetectionConfig::default();
    for predicate in list(args.multi_valued_predicates.as_deref(), ',') {
        config = config.multi_valued(&predicate);
    }
    if let Some(v) = args.detection_min_confidence.as_deref() {
        match v.trim().parse::<f32>() {
            Ok(f) if (0.0..=1.0).contains(&f) => config = config.confidence_floor(f),
            _ => {
                return Err(bad(
                    "DASH_DETECTION_MIN_CONFIDENCE",
                    format!("is {v:?}"),
                    "a number in 0..=1",
                ))
            }
        }
    }
    if let Some(v) = args.detection_wait_ms.as_deref() {
        match v.trim().parse::<u64>() {
            Ok(ms) if ms <= 10_000 => {
                config = config.query_wait(std::time::Duration::from_millis(ms));
            }
            _ => {
                return Err(bad(
                    "DASH_DETECTION_WAIT_MS",
                    format!("is {v:?}"),
                    "an integer in 0..=10000",
                ))
            }
        }
    }
    config = config.newer_supersedes(opt_bool(
        args.newer_supersedes.as_deref(),
        "DASH_NEWER_SUPERSEDES",
        false,
    )?);
    for tenant in list(args.newer_supersedes_tenants.as_deref(), ',') {
        if dash_core::validate_tenant_id(&tenant.as_str().into()).is_err() {
            return Err(bad(
                "DASH_NEWER_SUPERSEDES_TENANTS",
                format!("names the invalid tenant id {tenant:?}"),
                "comma-separated tenant ids",
            ));
        }
        config = config.newer_supersedes_for(tenant.as_str());
    }
    Ok(config)
}

fn parse_auth(args: &ServeArgs) -> Result<AuthConfig, ConfigError> {
    let api_keys = secrets(args.api_keys.as_deref(), "DASH_API_KEYS")?;
    let revoked_api_keys = secrets(args.revoked_api_keys.as_deref(), "DASH_REVOKED_API_KEYS")?;
    let admin_api_keys = secrets(args.admin_api_keys.as_deref(), "DASH_ADMIN_API_KEYS")?;

    let mut key_scopes = BTreeMap::new();
    for entry in list(args.api_key_scopes.as_deref(), ';') {
        let Some((key, tenants)) = entry.split_once(':') else {
            return Err(bad(
                "DASH_API_KEY_SCOPES",
                "has an entry without `:`",
                "key:tenant-a,tenant-b;key2:tenant-c",
            ));
        };
        let key = key.trim();
        if !api_keys.iter().chain(&admin_api_keys).any(|k| k == key) {
            return Err(bad(
                "DASH_API_KEY_SCOPES",
                "scopes a key that is in neither DASH_API_KEYS nor DASH_ADMIN_API_KEYS",
                "scopes for configured keys only",
            ));
        }
        let tenants: BTreeSet<String> = list(Some(tenants), ',').collect();
        if tenants.is_empty() {
            return Err(bad(
                "DASH_API_KEY_SCOPES",
                "gives a key an empty tenant list",
                "at least one tenant per scoped key",
            ));
        }
        key_scopes.insert(key.to_owned(), tenants);
    }

    let tenant_allowlist = args
        .tenant_allowlist
        .as_deref()
        .map(|v| list(Some(v), ',').collect::<BTreeSet<String>>());
    if tenant_allowlist.as_ref().is_some_and(BTreeSet::is_empty) {
        return Err(bad(
            "DASH_TENANT_ALLOWLIST",
            "is empty",
            "a comma-separated list of tenant ids, or unset for every tenant",
        ));
    }

    let jwt = parse_jwt(args)?;
    let open = api_keys.is_empty() && admin_api_keys.is_empty() && jwt.is_none();
    Ok(AuthConfig {
        api_keys,
        revoked_api_keys,
        key_scopes,
        admin_api_keys,
        tenant_allowlist,
        jwt,
        open,
    })
}

fn parse_jwt(args: &ServeArgs) -> Result<Option<JwtConfig>, ConfigError> {
    let default_secret = args.jwt_secret.clone().filter(|s| !s.is_empty());
    if let Some(secret) = &default_secret {
        check_secret(secret, "DASH_JWT_SECRET")?;
    }
    let mut secrets_by_kid = BTreeMap::new();
    for entry in list(args.jwt_secrets.as_deref(), ',') {
        let Some((kid, secret)) = entry.split_once(':') else {
            return Err(bad(
                "DASH_JWT_SECRETS",
                "has an entry without `:`",
                "kid1:secret1,kid2:secret2",
            ));
        };
        check_secret(secret, "DASH_JWT_SECRETS")?;
        secrets_by_kid.insert(kid.trim().to_owned(), secret.to_owned());
    }
    if default_secret.is_none() && secrets_by_kid.is_empty() {
        for (value, var) in [
            (&args.jwt_issuer, "DASH_JWT_ISSUER"),
            (&args.jwt_audience, "DASH_JWT_AUDIENCE"),
        ] {
            if value.is_some() {
                return Err(bad(
                    var,
                    "is set but no JWT secret is configured",
                    "set DASH_JWT_SECRET or DASH_JWT_SECRETS too",
                ));
            }
        }
        return Ok(None);
    }
    Ok(Some(JwtConfig {
        default_secret,
        secrets_by_kid,
        issuer: args.jwt_issuer.clone().filter(|s| !s.is_empty()),
        audience: args.jwt_audience.clone().filter(|s| !s.is_empty()),
        leeway_secs: opt_int(
            args.jwt_leeway_secs.as_deref(),
            "DASH_JWT_LEEWAY_SECS",
            0,
            300,
            30,
        )?,
        tenant_claim: args
            .jwt_tenant_claim
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "tenants".to_owned()),
    }))
}

fn parse_signing(args: &ServeArgs) -> Result<Option<SigningConfig>, ConfigError> {
    let required = opt_bool(
        args.require_signed_writes.as_deref(),
        "DASH_REQUIRE_SIGNED_WRITES",
        false,
    )?;
    let Some(secret) = args.signing_secret.clone().filter(|s| !s.is_empty()) else {
        if required {
            return Err(bad(
                "DASH_REQUIRE_SIGNED_WRITES",
                "is true but DASH_SIGNING_SECRET is not set",
                "set DASH_SIGNING_SECRET too",
            ));
        }
        return Ok(None);
    };
    check_secret(&secret, "DASH_SIGNING_SECRET")?;
    Ok(Some(SigningConfig {
        secret,
        required,
        skew: Duration::from_secs(opt_int(
            args.signature_skew_secs.as_deref(),
            "DASH_SIGNATURE_SKEW_SECS",
            1,
            3600,
            300,
        )?),
        nonce_cache_size: opt_int(
            args.nonce_cache_size.as_deref(),
            "DASH_NONCE_CACHE_SIZE",
            16,
            10_000_000,
            100_000,
        )? as usize,
    }))
}

/// Comma- (or `sep`-) separated, trimmed, empty entries dropped.
fn list(value: Option<&str>, sep: char) -> impl Iterator<Item = String> + '_ {
    value
        .unwrap_or("")
        .split(sep)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn secrets(value: Option<&str>, var: &'static str) -> Result<Vec<String>, ConfigError> {
    let keys: Vec<String> = list(value, ',').collect();
    for key in &keys {
        check_secret(key, var)?;
    }
    Ok(keys)
}

fn check_secret(secret: &str, var: &'static str) -> Result<(), ConfigError> {
    // NOTE: the message never includes the secret itself.
    if secret.len() < MIN_SECRET_LEN {
        return Err(bad(
            var,
            format!("holds a value of {} bytes", secret.len()),
            format!("secrets of at least {MIN_SECRET_LEN} bytes"),
        ));
    }
    if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            var,
            "holds a value with whitespace or control characters",
            "printable secrets without spaces",
        ));
    }
    Ok(())
}

fn int(value: &str, var: &'static str, min: u64, max: u64) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(bad(
            var,
            format!("is {value:?}"),
            format!("an integer in {min}..={max}"),
        )),
    }
}

fn opt_int(
    value: Option<&str>,
    var: &'static str,
    min: u64,
    max: u64,
    default: u64,
) -> Result<u64, ConfigError> {
    value.map_or(Ok(default), |v| int(v, var, min, max))
}

fn opt_bool(value: Option<&str>, var: &'static str, default: bool) -> Result<bool, ConfigError> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(bad(var, format!("is {other:?}"), "true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs {
            data_dir: Some("/tmp/x".into()),
            ..ServeArgs::default()
        }
    }

    #[test]
    fn defaults_are_valid_on_loopback() {
        let cfg = ServeConfig::from_args(args()).unwrap();
        assert!(cfg.auth.open);
        assert!(cfg.workers >= 1);
        assert_eq!(cfg.queue_capacity, cfg.workers * 8);
        assert_eq!(cfg.write_workers, 16);
        assert!(matches!(cfg.durability, Durability::Strict));
        assert_eq!(cfg.audit_path, PathBuf::from("/tmp/x/audit/audit.jsonl"));
    }

    #[test]
    fn flags_list_every_setting_of_the_command_line() {
        use clap::Args as _;
        let command = ServeArgs::augment_args(clap::Command::new("serve"));
        let parsed: BTreeSet<(String, String)> = command
            .get_arguments()
            .filter_map(|a| {
                let env = a.get_env()?.to_str()?.to_owned();
                Some((env, a.get_long()?.to_owned()))
            })
            .collect();
        let listed: BTreeSet<(String, String)> = FLAGS
            .iter()
            .map(|(v, f)| ((*v).to_owned(), (*f).to_owned()))
            .collect();
        assert_eq!(parsed, listed);
    }

    #[test]
    fn hnsw_quantization_defaults_to_f32_and_refuses_other_types() {
        use dash_core::index::Quantization;
        let cfg = ServeConfig::from_args(args()).unwrap();
        assert_eq!(cfg.hnsw_quantization, Quantization::F32);
        for (text, want) in [("f16", Quantization::F16), ("i8", Quantization::I8)] {
            let cfg = ServeConfig::from_args(ServeArgs {
                hnsw_quantization: Some(text.into()),
                ..args()
            })
            .unwrap();
            assert_eq!(cfg.hnsw_quantization, want);
        }
        let err = ServeConfig::from_args(ServeArgs {
            hnsw_quantization: Some("f64".into()),
            ..args()
        })
        .unwrap_err();
        assert_eq!(err.var, "DASH_HNSW_QUANTIZATION");
    }

    #[test]
    fn connection_limits_default_and_validate() {
        let cfg = ServeConfig::from_args(args()).unwrap();
        assert_eq!(
            cfg.connections,
            ConnectionLimits {
                max_connections: 1024,
                max_per_peer: 1024,
                header_read_timeout: Duration::from_secs(30),
                idle_timeout: Duration::from_secs(60),
            }
        );
        // Defaults follow the settings they depend on.
        let cfg = ServeConfig::from_args(ServeArgs {
            max_connections: Some("10".into()),
            request_timeout_ms: Some("120000".into()),
            ..args()
        })
        .unwrap();
        assert_eq!(cfg.connections.max_per_peer, 10);
        assert_eq!(cfg.connections.idle_timeout, Duration::from_millis(121_000));
        // A per-peer share above the total, or an idle timeout that would cut a running
        // request, is refused.
        for (bad_args, var) in [
            (
                ServeArgs {
                    max_connections: Some("10".into()),
                    max_connections_per_peer: Some("11".into()),
                    ..args()
                },
                "DASH_MAX_CONNECTIONS_PER_PEER",
            ),
            (
                ServeArgs {
                    idle_timeout_ms: Some("30000".into()),
                    ..args()
                },
                "DASH_IDLE_TIMEOUT_MS",
            ),
            (
                ServeArgs {
                    header_read_timeout_ms: Some("0".into()),
                    ..args()
                },
                "DASH_HEADER_READ_TIMEOUT_MS",
            ),
            (
                ServeArgs {
                    max_connections: Some("0".into()),
                    ..args()
                },
                "DASH_MAX_CONNECTIONS",
            ),
        ] {
            assert_eq!(ServeConfig::from_args(bad_args).unwrap_err().var, var);
        }
    }

    #[test]
    fn errors_name_the_variable_and_range() {
        let err = ServeConfig::from_args(ServeArgs {
            workers: Some("0".into()),
            ..args()
        })
        .unwrap_err();
        assert_eq!(err.var, "DASH_WORKERS");
        assert!(err.to_string().contains("1..=1024"), "{err}");
        assert!(err.to_string().contains("--workers"), "{err}");
    }

    #[test]
    fn open_server_refused_off_loopback() {
        let err = ServeConfig::from_args(ServeArgs {
            bind: Some("0.0.0.0:7700".into()),
            ..args()
        })
        .unwrap_err();
        assert_eq!(err.var, "DASH_ALLOW_UNAUTHENTICATED");
        let ok = ServeConfig::from_args(ServeArgs {
            bind: Some("0.0.0.0:7700".into()),
            allow_unauthenticated: Some("true".into()),
            ..args()
        });
        assert!(ok.is_ok());
    }

    #[test]
    fn bad_combinations_are_refused() {
        let cases = [
            ServeArgs {
                batch_max_records: Some("10".into()),
                ..args()
            },
            ServeArgs {
                require_signed_writes: Some("true".into()),
                ..args()
            },
            ServeArgs {
                api_keys: Some("short".into()),
                ..args()
            },
            ServeArgs {
                api_keys: Some("k1-aaaaaaaaaaaaaaaa".into()),
                api_key_scopes: Some("k2-aaaaaaaaaaaaaaaa:t1".into()),
                ..args()
            },
            ServeArgs {
                jwt_issuer: Some("iss".into()),
                ..args()
            },
            ServeArgs {
                durability: Some("sometimes".into()),
                ..args()
            },
            ServeArgs {
                durability: Some("batched".into()),
                batch_max_delay_ms: Some("100000".into()),
                ..args()
            },
            ServeArgs {
                audit_path: Some("/tmp/x/store/audit.jsonl".into()),
                ..args()
            },
            ServeArgs {
                read_only: Some("maybe".into()),
                ..args()
            },
            ServeArgs {
                detection_min_confidence: Some("1.5".into()),
                ..args()
            },
            ServeArgs {
                detection: Some("false".into()),
                multi_valued_predicates: Some("award received".into()),
                ..args()
            },
        ];
        for case in cases {
            let debug = format!("{case:?}");
            assert!(ServeConfig::from_args(case).is_err(), "accepted {debug}");
        }
    }

    #[test]
    fn scopes_parse() {
        let cfg = ServeConfig::from_args(ServeArgs {
            api_keys: Some("key-aaaaaaaaaaaaaaaa, key-bbbbbbbbbbbbbbbb".into()),
            api_key_scopes: Some("key-aaaaaaaaaaaaaaaa:t1,t2".into()),
            ..args()
        })
        .unwrap();
        assert!(!cfg.auth.open);
        assert_eq!(cfg.auth.api_keys.len(), 2);
        let scope = &cfg.auth.key_scopes["key-aaaaaaaaaaaaaaaa"];
        assert!(scope.contains("t1") && scope.contains("t2") && scope.len() == 2);
    }
}
