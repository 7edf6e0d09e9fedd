//! CORS for the local stack and any direct invocation. Deployed, API Gateway's own CORS
//! configuration (template.yaml, same allow-list) answers preflights; these headers keep a
//! browser's view identical locally.

use http::{HeaderMap, HeaderValue};

pub const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
pub const ALLOWED_HEADERS: &str = "authorization, content-type, if-match, idempotency-key, x-request-id";
pub const EXPOSED_HEADERS: &str = "etag, location, x-request-id, idempotent-replayed";

/// The request's `Origin` when it is on the allow-list.
pub fn allowed_origin<'a>(headers: &'a HeaderMap, allow_list: &[String]) -> Option<&'a HeaderValue> {
    let origin = headers.get(http::header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    allow_list.iter().any(|allowed| allowed == text).then_some(origin)
}

pub fn apply(response_headers: &mut HeaderMap, origin: Option<&HeaderValue>) {
    // Vary even when refused, so a cache never serves one origin's answer to another.
    response_headers.insert(http::header::VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = origin {
        response_headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        response_headers.insert(http::header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
    }
}

pub fn apply_preflight(response_headers: &mut HeaderMap, origin: Option<&HeaderValue>) {
    apply(response_headers, origin);
    if origin.is_some() {
        response_headers.insert(http::header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOWED_METHODS));
        response_headers.insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
        response_headers.insert(http::header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
}
