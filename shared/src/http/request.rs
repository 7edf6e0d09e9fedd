use crate::error::{AppError, AppResult};
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

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `{id}` of the route. An id that is not a UUID names nothing that can exist: 404.
    pub fn path_id(&self, resource: &'static str) -> AppResult<Uuid> {
        self.path_params.get("id").and_then(|raw| Uuid::parse_str(raw).ok()).ok_or(AppError::NotFound { resource })
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// A boolean query flag: absent is false; anything but true/false is 400.
    pub fn flag(&self, name: &str) -> AppResult<bool> {
        match self.query(name) {
            None => Ok(false),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(_) => Err(AppError::invalid_param(name, "must be true or false")),
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

    /// The version the client expects to overwrite: `If-Match` (an ETag we issued, `"3"`), or
    /// else `version` in the body. 400 when they disagree or are malformed.
    pub fn expected_version(&self, body: Option<&Map<String, Value>>) -> AppResult<Option<u64>> {
        let from_header = match self.header("if-match") {
            None => None,
            Some(raw) => {
                let trimmed = raw.trim().trim_start_matches("W/").trim_matches('"');
                Some(trimmed.parse::<u64>().map_err(|_| {
                    AppError::bad_request("INVALID_IF_MATCH", "If-Match must be an ETag this API returned")
                })?)
            }
        };
        let from_body = match body.and_then(|b| b.get("version")) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(_) => return Err(AppError::field("version", "invalid_type", "must be a positive integer")),
        };
        match (from_header, from_body) {
            (Some(h), Some(b)) if h != b => {
                Err(AppError::bad_request("VERSION_MISMATCH", "If-Match and the body's version disagree"))
            }
            (h, b) => Ok(h.or(b)),
        }
    }

    /// The `Idempotency-Key` of a POST, bound to a hash of the request it came with.
    pub fn idempotency_key(&self) -> AppResult<Option<IdempotencyKey>> {
        let Some(raw) = self.header("idempotency-key") else { return Ok(None) };
        let key = raw.trim();
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AppError::bad_request(
                "INVALID_IDEMPOTENCY_KEY",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ));
        }
        let mut hash = Sha256::new();
        hash.update(self.method.as_str().as_bytes());
        hash.update(b" ");
        hash.update(self.path.as_bytes());
        hash.update(b"\n");
        hash.update(&self.body);
        let request_hash = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Some(IdempotencyKey { key: key.to_string(), request_hash }))
    }
}
