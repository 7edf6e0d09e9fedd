//! RFC 9457 problem details: the one rendering of an `AppError`.

use crate::error::AppError;
use serde_json::json;

/// The status and `application/problem+json` body for an error a request ended with. Internal
/// causes are logged here, with the request id, and replaced by a generic sentence in the body.
pub fn problem_response(err: &AppError, request_id: &str) -> (http::StatusCode, serde_json::Value) {
    match err {
        AppError::Internal { source } => tracing::error!(error = %source, "internal error"),
        AppError::Unavailable { detail } => tracing::warn!(detail = %detail, "dependency unavailable"),
        _ => {}
    }
    problem_body(err, request_id)
}

/// The body alone, logging nothing: for documentation examples, which are not failures.
pub fn problem_body(err: &AppError, request_id: &str) -> (http::StatusCode, serde_json::Value) {
    let status = http::StatusCode::from_u16(err.status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let detail = match err {
        AppError::Internal { .. } => "an unexpected error occurred; quote the request id to support".to_string(),
        AppError::Unavailable { detail } => detail.clone(),
        other => other.to_string(),
    };
    let body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "code": err.code(),
        "detail": detail,
        "errors": err.field_errors(),
        "request_id": request_id,
    });
    (status, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldError;

    #[test]
    fn a_validation_problem_lists_its_fields_and_the_request_id() {
        let err = AppError::validation(vec![FieldError::new("email", "invalid_format", "must be an e-mail address")]);
        let (status, body) = problem_response(&err, "req-1");
        assert_eq!(status, 422);
        assert_eq!(body["code"], "VALIDATION_FAILED");
        assert_eq!(body["errors"][0]["field"], "email");
        assert_eq!(body["request_id"], "req-1");
    }

    #[test]
    fn an_internal_error_never_leaks_its_cause() {
        let err = AppError::internal("table hub-business: secret detail");
        let (status, body) = problem_response(&err, "req-2");
        assert_eq!(status, 500);
        assert!(!body.to_string().contains("secret detail"));
    }
}
