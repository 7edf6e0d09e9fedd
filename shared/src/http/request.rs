use crate::error::{AppError, AppResult, FieldError};
use crate::store::IdempotencyKey;
use http::{HeaderMap, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use uuid::Uuid;

/// What a handler knows of its request: already decoded, with the request context that audit
/// and logging need. Built only by the adapter.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub path_params: HashMap<String, String>,
    pub query: HashMap<String, String>,
    pub body: Vec<u8>,
    pub request_id: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    max_body_bytes: usize,
}

impl ApiRequest {
    pub fn from_event(event: Request, max_body_bytes: usize) -> Self {
        let (mut request_id, mut source_ip, mut user_agent) = (None, None, None);
        if let Some(RequestContext::ApiGatewayV2(ctx)) = event.request_context_ref() {
            request_id = ctx.request_id.clone().filter(|id| !id.is_empty());
            source_ip = ctx.http.source_ip.clone();
            user_agent = ctx.http.user_agent.clone();
        }
        let request_id = request_id
            .or_else(|| event.lambda_context_ref().map(|c| c.request_id.clone()).filter(|id| !id.is_empty()))
            .unwrap_or_else(|| Uuid::new_v4().to_string());
        let path_params = event
            .path_parameters_ref()
            .map(|p| p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
            .unwrap_or_default();
        let mut query = HashMap::new();
        if let Some(params) = event.query_string_parameters_ref() {
            for (name, value) in params.iter() {
                // The first value wins; repeats of a single-valued parameter are ignored.
                query.entry(name.to_string()).or_insert_with(|| value.to_string());
            }
        }
        let user_agent = user_agent
            .or_else(|| event.headers().get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(String::from));
        let (parts, body) = event.into_parts();
        let body = match body {
            Body::Empty => Vec::new(),
            Body::Text(text) => text.into_bytes(),
            Body::Binary(bytes) => bytes,
            _ => Vec::new(),
        };
        Self {
            method: parts.method,
            path: parts.uri.path().to_string(),
            headers: parts.headers,
            path_params,
            query,
            body,
            request_id,
            source_ip,
            user_agent,
            max_body_bytes,
        }
    }

    /// A header's value when it is visible ASCII (what `to_str` accepts); `None` when absent.
    /// A header sent with other bytes reads as absent here: headers whose presence matters
    /// (`If-Match`, `Idempotency-Key`) are read with [`ApiRequest::header_bytes`] and refused.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A header's raw bytes, whatever they are.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name).map(|v| v.as_bytes())
    }

    /// The `{id}` of the route. An id that is not a UUID names nothing that can exist: 404.
    pub fn path_id(&self, resource: &'static str) -> AppResult<Uuid> {
        self.path_params.get("id").and_then(|raw| Uuid::parse_str(raw).ok()).ok_or(AppError::NotFound { resource })
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// A boolean query flag: absent is false; anything but `true` or `false` is 400.
    pub fn flag(&self, name: &str) -> AppResult<bool> {
        match self.query(name) {
            None => Ok(false),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(_) => Err(AppError::invalid_param(name, "must be true or false")),
        }
    }

    /// Refuses query parameters other than `accepted` (400 `UNKNOWN_PARAMETER`), so a typo in a
    /// filter is never silently ignored.
    pub fn only_parameters(&self, accepted: &[&str]) -> AppResult<()> {
        let mut names: Vec<&String> = self.query.keys().filter(|k| !accepted.contains(&k.as_str())).collect();
        names.sort();
        match names.first() {
            None => Ok(()),
            Some(other) => Err(AppError::BadRequest {
                code: "UNKNOWN_PARAMETER",
                detail: format!("`{other}` is not a parameter of this operation"),
                errors: vec![FieldError::new(
                    other.as_str(),
                    "unknown_parameter",
                    if accepted.is_empty() {
                        "accepted: none".to_string()
                    } else {
                        format!("accepted: {}", accepted.join(", "))
                    },
                )],
            }),
        }
    }

    /// The body as a JSON object: 413 past the size limit, 415 for another content type,
    /// 400 when it is not JSON or not an object.
    /// Whether a body was sent at all (anything but whitespace): for operations whose body is
    /// optional.
    pub fn has_body(&self) -> bool {
        !self.body.iter().all(u8::is_ascii_whitespace)
    }

    pub fn json_object(&self) -> AppResult<Map<String, Value>> {
        if self.body.len() > self.max_body_bytes {
            return Err(AppError::PayloadTooLarge { limit: self.max_body_bytes });
        }
        if let Some(content_type) = self.header("content-type") {
            let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(AppError::UnsupportedMediaType);
            }
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(AppError::bad_request("MALFORMED_JSON", "a JSON body is required"));
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(AppError::bad_request("MALFORMED_JSON", "the body must be a JSON object")),
            // serde_json's syntax errors name a position, never the content.
            Err(err) => Err(AppError::bad_request("MALFORMED_JSON", format!("cannot parse the body as JSON: {err}"))),
        }
    }

    /// The versions the client expects to overwrite: `If-Match` (RFC 9110: `*`, or a list of
    /// entity tags, compared strongly, so a weak tag matches nothing) and/or `version` in the
    /// body (a positive integer; `3.0` is one). `None`: no expectation. 400 `INVALID_IF_MATCH`
    /// when the header is not entity-tag syntax, 400 `VERSION_MISMATCH` when the body's version
    /// is not among the header's, 422 for a body `version` that is not a positive integer.
    pub fn expected_version(&self, body: Option<&Map<String, Value>>) -> AppResult<Option<Expected>> {
        // An empty field (an empty list of tags) is no precondition, as if it were not sent.
        let from_header = match self.header_bytes("if-match").filter(|raw| !raw.trim_ascii().is_empty()) {
            None => None,
            Some(raw) => Some(parse_if_match(raw).ok_or_else(|| {
                AppError::bad_request(
                    "INVALID_IF_MATCH",
                    "If-Match must be * or a list of entity tags (\"3\", as the ETag this API returned)",
                )
            })?),
        };
        let from_body = match body {
            Some(body) => body_version(body)?,
            None => None,
        };
        match (from_header, from_body) {
            (Some(Expected::Versions(listed)), Some(b)) if !listed.contains(&b) => {
                Err(AppError::bad_request("VERSION_MISMATCH", "If-Match and the body's version disagree"))
            }
            (_, Some(b)) => Ok(Some(Expected::Versions(vec![b]))),
            (header, None) => Ok(header),
        }
    }

    /// The `Idempotency-Key` of a POST, bound to a hash of the request it came with.
    pub fn idempotency_key(&self) -> AppResult<Option<IdempotencyKey>> {
        let Some(raw) = self.header_bytes("idempotency-key") else { return Ok(None) };
        // Raw bytes: a key with other characters must be refused, not read as no key at all
        // (a retry would then create a duplicate).
        let key = raw.trim_ascii();
        if key.is_empty() || key.len() > 255 || !key.iter().all(u8::is_ascii_graphic) {
            return Err(AppError::bad_request(
                "INVALID_IDEMPOTENCY_KEY",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ));
        }
        let key = String::from_utf8_lossy(key);
        let mut hash = Sha256::new();
        hash.update(self.method.as_str().as_bytes());
        hash.update(b" ");
        hash.update(self.path.as_bytes());
        hash.update(b"\n");
        hash.update(&self.body);
        let request_hash = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Some(IdempotencyKey { key: key.into_owned(), request_hash }))
    }
}

/// A body's `version`: a positive integer (`3.0` is one), or absent; 422 otherwise.
pub fn body_version(body: &Map<String, Value>) -> AppResult<Option<u64>> {
    match body.get("version") {
        None => Ok(None),
        Some(Value::Number(n)) => match crate::domain::integral(n) {
            Some(v) if v >= 1 => Ok(Some(v.unsigned_abs())),
            _ => Err(AppError::field("version", "invalid_value", "must be an integer of 1 or more")),
        },
        Some(_) => Err(AppError::field("version", "invalid_type", "must be an integer of 1 or more")),
    }
}

/// What a write expects of the record's current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// `If-Match: *`: any current version (the record must exist).
    Any,
    /// One of these versions; an empty list (only weak or foreign tags) matches nothing.
    Versions(Vec<u64>),
}

impl Expected {
    pub fn matches(&self, version: u64) -> bool {
        match self {
            Self::Any => true,
            Self::Versions(listed) => listed.contains(&version),
        }
    }
}

/// `If-Match` (RFC 9110 §13.1.1): `*` or `#entity-tag`, entity-tag = [`W/`] `"` etagc* `"`,
/// etagc = `!` / `#`-`~` (visible ASCII but the quote). Strong comparison: a weak tag, or a tag
/// that is not one of our versions (`"N"`), matches nothing. `None` when the syntax is wrong.
pub fn parse_if_match(raw: &[u8]) -> Option<Expected> {
    let text = std::str::from_utf8(raw).ok()?.trim_matches([' ', '\t']);
    if text == "*" {
        return Some(Expected::Any);
    }
    let mut versions = Vec::new();
    let mut rest = text;
    loop {
        let (weak, tail) = match rest.strip_prefix("W/") {
            Some(tail) => (true, tail),
            None => (false, rest),
        };
        let inner = tail.strip_prefix('"')?;
        let end = inner.find('"')?;
        let tag = &inner[..end];
        if !tag.bytes().all(|b| b == b'!' || (b'#'..=b'~').contains(&b)) {
            return None;
        }
        if !weak
            && let Ok(version) = tag.parse::<u64>()
            && tag.bytes().all(|b| b.is_ascii_digit())
        {
            versions.push(version);
        }
        rest = inner[end + 1..].trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            return Some(Expected::Versions(versions));
        }
        rest = rest.strip_prefix(',')?.trim_start_matches([' ', '\t']);
    }
}
