//! The one place where errors become HTTP answers: a status, a stable snake_case `code` and a
//! message, as `{"error": {"code", "message"}}`.

use dash_core::{ErrorKind, QueryError, ReadError, WriteError};
use warp::http::StatusCode;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (documented in `docs/http-api.md`).
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: String,
    /// Seconds for `Retry-After` (429 and some 503s).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with the given code (which decides the status) and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: code.status(),
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds a `Retry-After`.
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// 400 `malformed_request`.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::MalformedRequest, message)
    }

    /// 400 `unknown_field` for a query-string parameter the route does not take.
    pub fn unknown_parameter(name: &str) -> Self {
        Self::new(
            ErrorCode::UnknownField,
            format!(
                "unknown query parameter `{}`",
                name.chars().take(64).collect::<String>()
            ),
        )
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 422 `invalid`: well-formed JSON that the model refuses.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Invalid, message)
    }

    /// 503 `unavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// 500 `internal`: a bug or an unexpected failure; details go to the log, not the client.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error; see the server log")
    }

    /// The JSON body.
    #[must_use]
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code.as_str(), "message": self.message}})
    }
}

/// A body that failed to parse: unknown fields get their own code so clients can tell a typo
/// from broken JSON.
pub fn from_json_error(err: &serde_json::Error) -> ApiError {
    let text = err.to_string();
    if text.starts_with("unknown field") {
        return ApiError::new(ErrorCode::UnknownField, text);
    }
    match err.classify() {
        // Well-formed JSON whose values have the wrong type or range (a string for a number,
        // a bad timestamp, an unknown stance) is still a malformed request: the body does not
        // fit the schema.
        serde_json::error::Category::Data => ApiError::malformed(text),
        _ => ApiError::new(ErrorCode::MalformedJson, text),
    }
}

/// The code of a failure of the given kind.
#[must_use]
pub fn kind_code(kind: ErrorKind) -> ErrorCode {
    match kind {
        ErrorKind::Invalid => ErrorCode::Invalid,
        ErrorKind::CommitConflict => ErrorCode::CommitConflict,
        ErrorKind::NotFound => ErrorCode::NotFound,
        ErrorKind::TooLarge => ErrorCode::PayloadTooLarge,
        ErrorKind::IndexUnavailable => ErrorCode::IndexUnavailable,
        ErrorKind::Unavailable | ErrorKind::Corruption | ErrorKind::Locked => {
            ErrorCode::StoreUnavailable
        }
        // A configuration error is the server's own, never the client's.
        _ => ErrorCode::Internal,
    }
}

/// The code of a write failure (the audit records it without converting the error).
#[must_use]
pub fn write_error_code(err: &WriteError) -> ErrorCode {
    kind_code(err.kind())
}

/// The answer for a store failure of `kind`: the store's side is logged, and the details of
/// an unexpected failure go to the log, not the client.
fn store_error(kind: ErrorKind, err: &dyn std::fmt::Display, what: &str) -> ApiError {
    let code = kind_code(kind);
    if !matches!(
        code,
        ErrorCode::Invalid
            | ErrorCode::CommitConflict
            | ErrorCode::NotFound
            | ErrorCode::PayloadTooLarge
    ) {
        tracing::error!(error = %err, "{what} failed");
    }
    match code {
        ErrorCode::Internal => ApiError::internal(),
        _ => ApiError::new(code, err.to_string()),
    }
}

impl From<dash_core::feed::FeedError> for ApiError {
    fn from(err: dash_core::feed::FeedError) -> Self {
        use dash_core::feed::FeedError;
        let code = match &err {
            FeedError::HistoryLost { .. } => ErrorCode::HistoryLost,
            FeedError::BadCursor(_) => ErrorCode::MalformedRequest,
            other => kind_code(other.kind()),
        };
        ApiError::new(code, err.to_string())
    }
}

impl From<WriteError> for ApiError {
    fn from(err: WriteError) -> Self {
        store_error(err.kind(), &err, "write")
    }
}

impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> Self {
        store_error(err.kind(), &err, "query")
    }
}

impl From<ReadError> for ApiError {
    fn from(err: ReadError) -> Self {
        store_error(err.kind(), &err, "read")
    }
}

/// The stable error codes of the API, each with its one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `malformed_json` (bad request).
    MalformedJson,
    /// `malformed_request` (bad request).
    MalformedRequest,
    /// `unknown_field` (bad request).
    UnknownField,
    /// `unauthorized` (unauthorized).
    Unauthorized,
    /// `signature_required` (unauthorized).
    SignatureRequired,
    /// `bad_signature` (unauthorized).
    BadSignature,
    /// `stale_request` (unauthorized).
    StaleRequest,
    /// `replayed_request` (unauthorized).
    ReplayedRequest,
    /// `forbidden` (forbidden).
    Forbidden,
    /// `tenant_not_allowed` (forbidden).
    TenantNotAllowed,
    /// `not_found` (not found).
    NotFound,
    /// `method_not_allowed` (method not allowed).
    MethodNotAllowed,
    /// `history_lost` (gone): a change-feed start older than the history the store holds.
    HistoryLost,
    /// `commit_conflict` (conflict).
    CommitConflict,
    /// `payload_too_large` (payload too large).
    PayloadTooLarge,
    /// `unsupported_media_type` (unsupported media type).
    UnsupportedMediaType,
    /// `invalid` (unprocessable entity).
    Invalid,
    /// `rate_limited` (too many requests).
    RateLimited,
    /// `queue_full` (too many requests).
    QueueFull,
    /// `read_only` (service unavailable).
    ReadOnly,
    /// `shutting_down` (service unavailable).
    ShuttingDown,
    /// `timeout` (service unavailable).
    Timeout,
    /// `unavailable` (service unavailable).
    Unavailable,
    /// `store_unavailable` (service unavailable).
    StoreUnavailable,
    /// `index_unavailable` (service unavailable).
    IndexUnavailable,
    /// `internal` (internal server error).
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation checks.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::MalformedJson,
        ErrorCode::MalformedRequest,
        ErrorCode::UnknownField,
        ErrorCode::Unauthorized,
        ErrorCode::SignatureRequired,
        ErrorCode::BadSignature,
        ErrorCode::StaleRequest,
        ErrorCode::ReplayedRequest,
        ErrorCode::Forbidden,
        ErrorCode::TenantNotAllowed,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::HistoryLost,
        ErrorCode::CommitConflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Invalid,
        ErrorCode::RateLimited,
        ErrorCode::QueueFull,
        ErrorCode::ReadOnly,
        ErrorCode::ShuttingDown,
        ErrorCode::Timeout,
        ErrorCode::Unavailable,
        ErrorCode::StoreUnavailable,
        ErrorCode::IndexUnavailable,
        ErrorCode::Internal,
    ];

    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::MalformedRequest => "malformed_request",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::SignatureRequired => "signature_required",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::StaleRequest => "stale_request",
            ErrorCode::ReplayedRequest => "replayed_request",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::TenantNotAllowed => "tenant_not_allowed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::HistoryLost => "history_lost",
            ErrorCode::CommitConflict => "commit_conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Invalid => "invalid",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::QueueFull => "queue_full",
            ErrorCode::ReadOnly => "read_only",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::StoreUnavailable => "store_unavailable",
            ErrorCode::IndexUnavailable => "index_unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status that goes with the code.
    #[must_use]
    pub const fn status(self) -> StatusCode {
        match self {
            ErrorCode::MalformedJson => StatusCode::BAD_REQUEST,
            ErrorCode::MalformedRequest => StatusCode::BAD_REQUEST,
            ErrorCode::UnknownField => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::SignatureRequired => StatusCode::UNAUTHORIZED,
            ErrorCode::BadSignature => StatusCode::UNAUTHORIZED,
            ErrorCode::StaleRequest => StatusCode::UNAUTHORIZED,
            ErrorCode::ReplayedRequest => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::TenantNotAllowed => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::HistoryLost => StatusCode::GONE,
            ErrorCode::CommitConflict => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::QueueFull => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::ReadOnly => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::IndexUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
