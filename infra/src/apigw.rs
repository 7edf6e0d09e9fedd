//! What API Gateway's HTTP API does between a client and a function, for the local gateway and
//! the black-box tests: route a request by template.yaml's routes, build the payload 2.0 event
//! the function receives, and turn the function's answer back into an HTTP response.
//!
//! `cargo lambda watch` has an HTTP front of its own, but it is not API Gateway: a body that is
//! not UTF-8 under a JSON content type made it answer `500 text/plain` before any function ran
//! (API Gateway hands such a body over base64-encoded), it routes by its own table rather than
//! the template's, and it reports every caller as `127.0.0.1` / `cargo-lambda`, so the access
//! trail recorded nothing true locally. The gateway builds the event here and invokes the
//! function through the watcher's Lambda invoke endpoint instead.

use base64::Engine;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use uuid::Uuid;

/// One route of template.yaml: `GET /api/business/contacts/{id}` served by a binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Upper case.
    pub method: String,
    /// The template's path, with `{name}` parameters.
    pub path: String,
    pub binary: String,
    segments: Vec<String>,
}

impl Route {
    pub fn new(method: &str, path: &str, binary: &str) -> Self {
        Self {
            method: method.to_uppercase(),
            path: path.to_string(),
            binary: binary.to_string(),
            segments: path.trim_matches('/').split('/').map(String::from).collect(),
        }
    }

    /// `METHOD /path`, as API Gateway names a route (`routeKey`), or `$default`.
    pub fn key(&self) -> String {
        if self.path == crate::template::DEFAULT_ROUTE {
            self.path.clone()
        } else {
            format!("{} {}", self.method, self.path)
        }
    }
}

/// A route's path parameters, percent-decoded.
pub type Params = HashMap<String, String>;

/// The routes of an HTTP API, and its `$default` route if it has one.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: Vec<Route>,
    default: Option<Route>,
}

impl Routes {
    pub fn new(routes: impl IntoIterator<Item = Route>) -> Self {
        Self { routes: routes.into_iter().collect(), default: None }
    }

    /// The template's routes and `$default` route.
    pub fn from_template(template: &crate::template::Template) -> Self {
        let mut routes = Self::new(template.routes().iter().map(|r| Route::new(&r.method, &r.path, &r.binary)));
        routes.default = template.default_route.as_ref().map(|r| Route::new("ANY", &r.path, &r.binary));
        routes
    }

    /// With a `$default` route served by `binary`.
    pub fn with_default(mut self, binary: &str) -> Self {
        self.default = Some(Route::new("ANY", crate::template::DEFAULT_ROUTE, binary));
        self
    }

    /// The route a request takes, with its path parameters (percent-decoded), as API Gateway
    /// matches: same method (or `ANY`), same number of segments, the most literal segments
    /// winning (`/contacts/bulk` over `/contacts/{id}`); else the `$default` route, if any.
    pub fn find(&self, method: &str, path: &str) -> Option<(&Route, HashMap<String, String>)> {
        self.find_route(method, path).or_else(|| self.default.as_ref().map(|route| (route, HashMap::new())))
    }

    fn find_route(&self, method: &str, path: &str) -> Option<(&Route, HashMap<String, String>)> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut best: Option<(&Route, Params, (usize, bool))> = None;
        for route in
            self.routes.iter().filter(|r| (r.method == method || r.method == "ANY") && r.segments.len() == parts.len())
        {
            let mut params = HashMap::new();
            let mut literal = 0;
            let matched = route.segments.iter().zip(&parts).all(|(segment, part)| {
                match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => {
                        params.insert(name.to_string(), percent_decode(part));
                        !part.is_empty()
                    }
                    None => {
                        literal += 1;
                        segment == part
                    }
                }
            });
            // More literal segments win; at equal literals, the route of this very method wins
            // over an `ANY` one.
            let rank = (literal, route.method == method);
            if matched && best.as_ref().is_none_or(|(_, _, r)| rank > *r) {
                best = Some((route, params, rank));
            }
        }
        best.map(|(route, params, _)| (route, params))
    }
}

/// A request as the gateway received it.
#[derive(Debug, Clone, Default)]
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Header names in any case; repeated names appear more than once.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: &'a [u8],
    pub source_ip: &'a str,
}

/// Content types API Gateway passes as text; any other body, and a text body that is not UTF-8,
/// travels base64-encoded with `isBase64Encoded: true`.
fn is_text_type(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else { return true };
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("/json")
        || essence.ends_with("+json")
        || essence.ends_with("/xml")
        || essence.ends_with("+xml")
        || essence == "application/javascript"
        || essence == "application/x-www-form-urlencoded"
}

/// The payload 2.0 event API Gateway sends `route`'s function for `request`.
pub fn event(route: &Route, params: &HashMap<String, String>, request: &Incoming<'_>, now_millis: i64) -> Value {
    let mut headers: Map<String, Value> = Map::new();
    let mut cookies: Vec<Value> = Vec::new();
    for (name, value) in &request.headers {
        let name = name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(value).into_owned();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| Value::String(c.trim().to_string())));
            continue;
        }
        match headers.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name, Value::String(value));
            }
        }
    }
    let content_type = headers.get("content-type").and_then(Value::as_str);
    let (body, base64) = if request.body.is_empty() {
        (Value::Null, false)
    } else {
        match std::str::from_utf8(request.body) {
            Ok(text) if is_text_type(content_type) => (Value::String(text.to_string()), false),
            _ => (Value::String(base64::engine::general_purpose::STANDARD.encode(request.body)), true),
        }
    };
    let user_agent = headers.get("user-agent").cloned().unwrap_or(Value::String(String::new()));
    let host = headers.get("host").and_then(Value::as_str).unwrap_or("localhost").to_string();
    let query = query_parameters(request.query);
    let time = chrono::DateTime::from_timestamp_millis(now_millis)
        .map(|t| t.format("%d/%b/%Y:%H:%M:%S +0000").to_string())
        .unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or("localhost"),
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": user_agent,
            },
            "requestId": Uuid::new_v4().to_string(),
            "routeKey": route.key(),
            "stage": "$default",
            "time": time,
            "timeEpoch": now_millis,
        },
        "isBase64Encoded": base64,
    });
    if !body.is_null() {
        event["body"] = body;
    }
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params);
    }
    event
}

/// `queryStringParameters`: decoded, a repeated name's values joined with commas.
fn query_parameters(raw: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (percent_decode(&name.replace('+', " ")), percent_decode(&value.replace('+', " ")));
        match out.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                out.insert(name, Value::String(value));
            }
        }
    }
    out
}

/// `%XX` decoded; bytes that are not UTF-8 afterwards are replaced, as API Gateway does.
pub fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A function's answer as an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// API Gateway's own answer when it has nothing better: a small JSON message.
    pub fn message(status: u16, message: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: json!({ "message": message }).to_string().into_bytes(),
        }
    }

    /// The answer to an invocation's payload (payload 2.0 response); API Gateway's 500 when the
    /// function failed or answered something that is not a response.
    pub fn from_payload(payload: &[u8]) -> Self {
        let Ok(Value::Object(response)) = serde_json::from_slice::<Value>(payload) else {
            return Self::message(500, "Internal Server Error");
        };
        let Some(status) = response.get("statusCode").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok())
        else {
            return Self::message(500, "Internal Server Error");
        };
        let mut headers = Vec::new();
        if let Some(Value::Object(map)) = response.get("headers") {
            for (name, value) in map {
                if let Some(value) = value.as_str() {
                    headers.push((name.clone(), value.to_string()));
                }
            }
        }
        if let Some(Value::Object(map)) = response.get("multiValueHeaders") {
            for (name, values) in map {
                for value in values.as_array().into_iter().flatten().filter_map(Value::as_str) {
                    if !headers.iter().any(|(n, v)| n == name && v == value) {
                        headers.push((name.clone(), value.to_string()));
                    }
                }
            }
        }
        for cookie in response.get("cookies").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
        {
            headers.push(("set-cookie".into(), cookie.to_string()));
        }
        let text = response.get("body").and_then(Value::as_str).unwrap_or("");
        let body = if response.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false) {
            match base64::engine::general_purpose::STANDARD.decode(text) {
                Ok(bytes) => bytes,
                Err(_) => return Self::message(500, "Internal Server Error"),
            }
        } else {
            text.as_bytes().to_vec()
        };
        Self { status, headers, body }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn routes() -> Routes {
        Routes::new([
            Route::new("GET", "/api/business/contacts/{id}", "contacts-get"),
            Route::new("DELETE", "/api/business/contacts/{id}", "contacts-delete"),
            Route::new("DELETE", "/api/business/contacts/bulk", "contacts-bulk-delete"),
        ])
    }

    #[test]
    fn literal_segments_win_and_parameters_are_decoded() {
        let routes = routes();
        let (route, _) = routes.find("DELETE", "/api/business/contacts/bulk").unwrap();
        assert_eq!(route.binary, "contacts-bulk-delete");
        let (route, params) = routes.find("GET", "/api/business/contacts/a%20b").unwrap();
        assert_eq!((route.binary.as_str(), params["id"].as_str()), ("contacts-get", "a b"));
        assert!(routes.find("POST", "/api/business/contacts/x").is_none());
        assert!(routes.find("GET", "/api/business/contacts").is_none());
        let routes = routes.with_default("fallback");
        let (route, params) = routes.find("TRACE", "/api/business/contacts/x").unwrap();
        assert_eq!((route.binary.as_str(), route.key().as_str(), params.len()), ("fallback", "$default", 0));
    }

    #[test]
    fn a_body_that_is_not_utf8_travels_base64_encoded_as_api_gateway_sends_it() {
        let routes = routes();
        let (route, params) = routes.find("GET", "/api/business/contacts/1").unwrap();
        let body = [0xff, 0xfe, b'{'];
        let request = Incoming {
            method: "GET",
            path: "/api/business/contacts/1",
            query: "a=1&a=2&b=%C3%A9",
            headers: vec![
                ("Content-Type".into(), b"application/json".to_vec()),
                ("X-Many".into(), b"1".to_vec()),
                ("x-many".into(), b"2".to_vec()),
                ("Cookie".into(), b"a=1; b=2".to_vec()),
            ],
            body: &body,
            source_ip: "203.0.113.9",
        };
        let event = event(route, &params, &request, 1_795_510_800_000);
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(event["body"].as_str().unwrap()).unwrap(), body);
        assert_eq!(event["headers"]["x-many"], "1,2");
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(event["queryStringParameters"], json!({"a": "1,2", "b": "é"}));
        assert_eq!(event["routeKey"], "GET /api/business/contacts/{id}");
        assert_eq!(event["requestContext"]["http"]["sourceIp"], "203.0.113.9");
        let parsed = lambda_http::request::from_str(&event.to_string());
        assert!(parsed.is_ok(), "the runtime reads it: {parsed:?}");
    }

    #[test]
    fn a_function_answer_becomes_the_response_and_a_failure_a_500() {
        let payload = json!({"statusCode": 201, "headers": {"etag": "\"1\""}, "body": "{}", "isBase64Encoded": false});
        let answer = Answer::from_payload(payload.to_string().as_bytes());
        assert_eq!((answer.status, answer.body.as_slice()), (201, b"{}".as_slice()));
        assert_eq!(answer.headers, [("etag".to_string(), "\"1\"".to_string())]);
        let failed = Answer::from_payload(br#"{"errorType":"Panic","errorMessage":"boom"}"#);
        assert_eq!(failed.status, 500);
    }
}
