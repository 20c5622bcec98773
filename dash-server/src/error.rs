//! The one place where errors become HTTP answers: a status, a stable snake_case `code` and a
//! message, as `{"error": {"code", "message"}}`.

use dash_core::{QueryError, ReadError, WriteError};
use warp::http::StatusCode;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (documented in `docs/http-api.md`).
    pub code: &'static str,
    /// Human-readable detail.
    pub message: String,
    /// Seconds for `Retry-After` (429 and some 503s).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
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
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 422 `invalid`: well-formed JSON that the model refuses.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// 503 `unavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 500 `internal`: a bug or an unexpected failure; details go to the log, not the client.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }

    /// The JSON body.
    #[must_use]
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code, "message": self.message}})
    }
}

/// A body that failed to parse: unknown fields get their own code so clients can tell a typo
/// from broken JSON.
pub fn from_json_error(err: &serde_json::Error) -> ApiError {
    let text = err.to_string();
    if text.starts_with("unknown field") {
        return ApiError::new(StatusCode::BAD_REQUEST, "unknown_field", text);
    }
    match err.classify() {
        // Well-formed JSON whose values have the wrong type or range (a string for a number,
        // a bad timestamp, an unknown stance) is still a malformed request: the body does not
        // fit the schema.
        serde_json::error::Category::Data => ApiError::malformed(text),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", text),
    }
}

impl From<WriteError> for ApiError {
    fn from(err: WriteError) -> Self {
        match &err {
            WriteError::Invalid { .. } => ApiError::invalid(err.to_string()),
            WriteError::CommitConflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "commit_conflict", err.to_string())
            }
            WriteError::NotFound { .. } => ApiError::not_found(err.to_string()),
            WriteError::TooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                err.to_string(),
            ),
            WriteError::Poisoned { .. } | WriteError::Closed => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                err.to_string(),
            ),
            WriteError::Io(_) | WriteError::Corruption(_) => {
                tracing::error!(error = %err, "write failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    err.to_string(),
                )
            }
            _ => {
                tracing::error!(error = %err, "write failed");
                ApiError::internal()
            }
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> Self {
        match &err {
            QueryError::IndexUnavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "index_unavailable",
                err.to_string(),
            ),
            _ => ApiError::invalid(err.to_string()),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(err: ReadError) -> Self {
        match &err {
            ReadError::Invalid(_) => ApiError::invalid(err.to_string()),
            _ => {
                tracing::error!(error = %err, "read failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    err.to_string(),
                )
            }
        }
    }
}
