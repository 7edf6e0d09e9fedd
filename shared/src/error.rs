//! The one application error type. Every failure a handler can meet becomes an `AppError`, and
//! `http::problem` is the only place that turns one into an HTTP response, so status codes, codes
//! and the problem-body shape cannot drift between functions. Internal causes are logged there and
//! never sent to the client.

use std::fmt;

/// One invalid field of a request, reported back to the client in the problem body's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The JSON field (or query parameter) at fault, as the client named it.
    pub field: String,
    /// Stable machine code: `required`, `invalid_type`, `invalid_choice`, `too_long`, ...
    pub code: &'static str,
    /// A sentence for humans; never echoes the submitted value (it may be personal data).
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request cannot be understood (malformed JSON, bad cursor, bad query parameter).
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String, errors: Vec<FieldError> },
    /// 401: no credentials, or credentials that do not verify.
    #[error("{detail}")]
    Unauthenticated { detail: String },
    /// 403: a verified caller who may not do this.
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    /// 404: missing, or owned by another organization: the two are indistinguishable on purpose.
    #[error("{resource} not found")]
    NotFound { resource: &'static str },
    /// 405: the path exists but not with this method; `allow` lists its methods (the `Allow`
    /// header, RFC 9110 §15.5.6).
    #[error("this path answers only {allow}")]
    MethodNotAllowed { allow: String },
    /// 409: a stale `version`, a uniqueness clash, or a state that forbids the operation.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String, errors: Vec<FieldError> },
    /// 413: body over the configured limit.
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 415: a body that is not JSON.
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// 422: well-formed JSON whose content breaks the domain's rules.
    #[error("validation failed")]
    Validation { errors: Vec<FieldError> },
    /// 422 with its own code: valid fields that the rest of the data refuses, e.g. a reference
    /// to a record that does not exist in the organization (`RELATED_NOT_FOUND`).
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String, errors: Vec<FieldError> },
    /// 503: a dependency we cannot do without is unreachable (Identity Service, audit store).
    #[error("{detail}")]
    Unavailable { detail: String },
    /// 500: a bug or an unexpected storage failure. The source is logged, never returned.
    #[error("internal error")]
    Internal { source: Box<dyn std::error::Error + Send + Sync> },
}

impl AppError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest { code, detail: detail.into(), errors: Vec::new() }
    }

    pub fn invalid_param(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::BadRequest {
            code: "INVALID_PARAMETER",
            detail: format!("query parameter `{field}` is invalid"),
            errors: vec![FieldError::new(field, "invalid", message)],
        }
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::Unauthenticated { detail: detail.into() }
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Forbidden { code, detail: detail.into() }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict { code, detail: detail.into(), errors: Vec::new() }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self::Validation { errors }
    }

    pub fn field(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self::Validation { errors: vec![FieldError::new(field, code, message)] }
    }

    /// 422 `RELATED_NOT_FOUND`: a reference to a record that is missing, deleted, invisible to
    /// the caller or another organization's (the four look the same).
    pub fn related_not_found(field: &str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code: "RELATED_NOT_FOUND",
            detail: format!("`{field}` does not name a record this request can refer to"),
            errors: vec![FieldError::new(field, "not_found", message)],
        }
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::Unavailable { detail: detail.into() }
    }

    pub fn internal<E>(source: E) -> Self
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        Self::Internal { source: source.into() }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthenticated { .. } => 401,
            Self::Forbidden { .. } => 403,
            Self::NotFound { .. } => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Conflict { .. } => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::Validation { .. } | Self::Unprocessable { .. } => 422,
            Self::Unavailable { .. } => 503,
            Self::Internal { .. } => 500,
        }
    }

    /// The stable machine code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. } => code,
            Self::Unauthenticated { .. } => "UNAUTHENTICATED",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::Validation { .. } => "VALIDATION_FAILED",
            Self::Unavailable { .. } => "SERVICE_UNAVAILABLE",
            Self::Internal { .. } => "INTERNAL_ERROR",
        }
    }

    /// Whether the same operation may succeed if simply tried again: a dependency that was
    /// unavailable, or a record that moved on between the read and the write (the retry reads
    /// it again). Other errors would fail the same way.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. } => true,
            Self::Conflict { code, .. } => matches!(*code, "CONCURRENT_MODIFICATION" | "VERSION_CONFLICT"),
            _ => false,
        }
    }

    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::BadRequest { errors, .. }
            | Self::Conflict { errors, .. }
            | Self::Unprocessable { errors, .. }
            | Self::Validation { errors } => errors,
            _ => &[],
        }
    }
}

/// Shorthand for the `Result` every operation returns.
pub type AppResult<T> = Result<T, AppError>;

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}
