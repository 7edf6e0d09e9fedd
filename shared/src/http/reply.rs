use crate::audit::Access;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::Value;

/// A successful answer: status, JSON body, extra headers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The personal data this answer serves, if any: the adapter records the access in the
    /// audit trail before answering, and answers 503 instead when it cannot.
    pub access: Option<Access>,
    /// A body that is not JSON (a CSV export), with its content type; when set, it is sent
    /// as is instead of `body`.
    pub text: Option<(String, &'static str)>,
    /// Writes this answer reports as refused that the single endpoints would have answered with
    /// a denied attempt (a batch's operations): the adapter records each as that endpoint would.
    pub denied: Vec<Denied>,
}

/// A refused write inside an answer, as the request its single endpoint would have received.
#[derive(Debug, Clone)]
pub struct Denied {
    pub method: http::Method,
    pub path: String,
    pub id: Option<uuid::Uuid>,
    pub error: std::sync::Arc<crate::error::AppError>,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body: Some(body),
            headers: Vec::new(),
            access: None,
            text: None,
            denied: Vec::new(),
        }
    }

    /// 200 with a body already serialized as JSON (see `Record::to_json_text`).
    pub fn json_text(body: String) -> Self {
        Self::text(body, "application/json")
    }

    /// 200 with a text body of the given content type (e.g. `text/csv; charset=utf-8`).
    pub fn text(body: String, content_type: &'static str) -> Self {
        Self {
            status: StatusCode::OK,
            body: None,
            headers: Vec::new(),
            access: None,
            text: Some((body, content_type)),
            denied: Vec::new(),
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a header; a value that is not a valid header value is dropped rather than failing
    /// the response (values come from our own ids and versions).
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    /// Declares the personal data served (see [`Reply::access`]).
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = Some(access);
        self
    }

    /// Declares refused writes to record as denied attempts (see [`Reply::denied`]).
    pub fn with_denied(mut self, denied: Vec<Denied>) -> Self {
        self.denied = denied;
        self
    }

    /// `ETag` carrying the record version, for `If-Match` on the next write.
    pub fn with_version(self, version: u64) -> Self {
        self.with_header(http::header::ETAG, &format!("\"{version}\""))
    }
}
