//! The local stand-in for API Gateway's WebSocket API, in front of `cargo lambda watch`.
//!
//! Deployed, API Gateway holds the clients' sockets and the functions never see one: it runs the
//! `$connect` route's authorizer and integration during the upgrade, hands each message to the
//! route its `RouteSelectionExpression` selects (or `$default`), tells `$disconnect` when a
//! socket ends, and lets the functions write to, inspect and close sockets through the
//! `@connections` management API. A function written against that contract needs the same
//! contract locally, or it is first tried against the real thing once deployed. This module is
//! that contract on one port, for the template's WebSocket API ([`crate::template::WebSocketApi`]):
//!
//! - `GET /<stage>` with an upgrade: identity sources checked (401 when one is missing, no
//!   invocation), the `REQUEST` authorizer invoked with API Gateway's event and its IAM policy
//!   applied (`Allow` on the method ARN goes on, `Deny` is 403, an `Unauthorized` error 401, any
//!   other failure 500), then `$connect`'s function, whose 2xx `statusCode` completes the upgrade
//!   and any other refuses it with that status;
//! - each data message of a connection, in order and one at a time, to its route's function
//!   (binary frames base64-encoded, `isBase64Encoded: true`, as API Gateway sends them); the
//!   authorizer's context travels on every event of the connection;
//! - `$disconnect` once per connection, whatever ended it: the client, the idle timeout (counted
//!   on client data messages only), the maximum connection duration, `DeleteConnection`, a
//!   message over 128 KB (closed with 1009), or a dropped TCP connection;
//! - `POST|GET|DELETE /<stage>/@connections/{id}`, answered as the SDK's
//!   `aws-sdk-apigatewaymanagement` expects (410 `GoneException` for a connection that is not
//!   open, 413 `PayloadTooLargeException`), signatures ignored.
//!
//! Each connection is one task (no thread): an idle connection costs its socket, a 4 KiB read
//! buffer and a few timers. Its messages are invoked from that task while it keeps serving the
//! socket, so a function that posts to its own connection during its invocation is answered.

use crate::apigw::percent_decode;
use crate::template::WebSocketApi;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

/// API Gateway's limit on a message, either way (128 KB).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
/// API Gateway's idle connection timeout.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// API Gateway's maximum connection duration.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(7200);

/// The limits of a connection, shortened by tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { idle_timeout: DEFAULT_IDLE_TIMEOUT, max_lifetime: DEFAULT_MAX_LIFETIME }
    }
}

/// A random id in API Gateway's shape (16 characters of standard base64 from 11 bytes, e.g.
/// `L0SM9cOFvHcCIhw=`), for connection, request and message ids alike. Ids may hold `+` and `/`,
/// which clients percent-encode in `@connections` paths: a gateway that only ever made
/// alphanumeric ids would hide a missing encoding.
pub fn random_id() -> String {
    let (a, b) = (uuid::Uuid::new_v4().into_bytes(), uuid::Uuid::new_v4().into_bytes());
    // A v4 UUID's bytes 6 and 8 carry its version and variant: only the other 14 are random.
    let random = a[..6].iter().chain(&a[9..]).chain(&b[..6]);
    let bytes: Vec<u8> = random.take(11).copied().collect();
    STANDARD.encode(bytes)
}

/// What the upgrade request carried, for the `$connect` events.
#[derive(Debug, Clone, Default)]
pub struct UpgradeRequest {
    /// Names as received (hyper gives them in lower case); repeated names appear more than once.
    pub headers: Vec<(String, String)>,
    /// The raw query string, without `?`.
    pub query: String,
}

impl UpgradeRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Decoded query parameters, in order, repeated names kept.
    fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(&name.replace('+', " ")), percent_decode(&value.replace('+', " ")))
            })
            .collect()
    }

    /// Whether an identity source (`route.request.querystring.X`, `route.request.header.X`) is
    /// present and not empty. Sources of other kinds (stage variables, context) are not checked.
    pub fn has_identity(&self, source: &str) -> bool {
        if let Some(name) = source.strip_prefix("route.request.querystring.") {
            self.query_pairs().iter().any(|(n, v)| n == name && !v.is_empty())
        } else if let Some(name) = source.strip_prefix("route.request.header.") {
            self.header(name).is_some_and(|v| !v.trim().is_empty())
        } else {
            true
        }
    }
}

/// What API Gateway knows of a connection: carried on every event of it.
#[derive(Debug, Clone)]
pub struct Connection {
    pub connection_id: String,
    /// Epoch milliseconds.
    pub connected_at: i64,
    pub source_ip: String,
    pub user_agent: Option<String>,
    /// The `Host` of the upgrade request.
    pub domain_name: String,
    /// `requestContext.authorizer`: the authorizer's context (stringified), `principalId` and
    /// `integrationLatency`; `None` without an authorizer.
    pub authorizer: Option<Map<String, Value>>,
}

/// Builds the events API Gateway sends the functions of one WebSocket API.
#[derive(Debug, Clone)]
pub struct Events {
    pub api_id: String,
    pub stage: String,
}

impl Events {
    /// `arn:aws:execute-api:<region>:<account>:<api>/<stage>/$connect`: what the authorizer's
    /// policy must allow.
    pub fn connect_method_arn(&self) -> String {
        format!(
            "arn:aws:execute-api:{}:{}:{}/{}/$connect",
            crate::LOCAL_REGION,
            crate::LOCAL_ACCOUNT_ID,
            self.api_id,
            self.stage
        )
    }

    fn request_context(
        &self,
        connection: &Connection,
        route_key: &str,
        event_type: &str,
        now: i64,
    ) -> Map<String, Value> {
        let request_id = random_id();
        let mut identity = Map::new();
        identity.insert("sourceIp".into(), json!(connection.source_ip));
        if let Some(agent) = &connection.user_agent {
            identity.insert("userAgent".into(), json!(agent));
        }
        let mut context = Map::new();
        for (key, value) in [
            ("routeKey", json!(route_key)),
            ("eventType", json!(event_type)),
            ("extendedRequestId", json!(request_id)),
            ("requestTime", json!(request_time(now))),
            ("messageDirection", json!("IN")),
            ("stage", json!(self.stage)),
            ("connectedAt", json!(connection.connected_at)),
            ("requestTimeEpoch", json!(now)),
            ("identity", Value::Object(identity)),
            ("requestId", json!(request_id)),
            ("domainName", json!(connection.domain_name)),
            ("connectionId", json!(connection.connection_id)),
            ("apiId", json!(self.api_id)),
        ] {
            context.insert(key.into(), value);
        }
        if let Some(authorizer) = &connection.authorizer {
            context.insert("authorizer".into(), Value::Object(authorizer.clone()));
        }
        context
    }

    /// The `REQUEST` authorizer's event for an upgrade request.
    pub fn authorizer_event(&self, connection: &Connection, request: &UpgradeRequest, now: i64) -> Value {
        let mut event = Map::new();
        event.insert("type".into(), json!("REQUEST"));
        event.insert("methodArn".into(), json!(self.connect_method_arn()));
        insert_request(&mut event, connection, request);
        event.insert("stageVariables".into(), json!({}));
        let context = self.request_context(connection, "$connect", "CONNECT", now);
        event.insert("requestContext".into(), Value::Object(context));
        Value::Object(event)
    }

    /// The `$connect` route's event.
    pub fn connect_event(&self, connection: &Connection, request: &UpgradeRequest, now: i64) -> Value {
        let mut event = Map::new();
        insert_request(&mut event, connection, request);
        let context = self.request_context(connection, "$connect", "CONNECT", now);
        event.insert("requestContext".into(), Value::Object(context));
        event.insert("isBase64Encoded".into(), json!(false));
        Value::Object(event)
    }

    /// A message's event, for the route `route_key` selected; a binary message travels
    /// base64-encoded.
    pub fn message_event(&self, connection: &Connection, route_key: &str, message: &Inbound, now: i64) -> Value {
        let mut context = self.request_context(connection, route_key, "MESSAGE", now);
        context.insert("messageId".into(), json!(random_id()));
        let (body, base64) = match message {
            Inbound::Text(text) => (text.clone(), false),
            Inbound::Binary(bytes) => (STANDARD.encode(bytes), true),
        };
        json!({ "requestContext": context, "body": body, "isBase64Encoded": base64 })
    }

    /// The `$disconnect` route's event. API Gateway sends it the headers below, not the
    /// upgrade request's.
    pub fn disconnect_event(&self, connection: &Connection, end: &End, now: i64) -> Value {
        let mut context = self.request_context(connection, "$disconnect", "DISCONNECT", now);
        context.insert("disconnectStatusCode".into(), json!(end.code));
        context.insert("disconnectReason".into(), json!(end.reason));
        let headers =
            [("Host", connection.domain_name.as_str()), ("x-api-key", ""), ("X-Forwarded-For", ""), ("x-restapi", "")];
        json!({
            "headers": headers.iter().map(|(n, v)| (n.to_string(), json!(v))).collect::<Map<_, _>>(),
            "multiValueHeaders": headers.iter().map(|(n, v)| (n.to_string(), json!([v]))).collect::<Map<_, _>>(),
            "requestContext": context,
            "isBase64Encoded": false,
        })
    }
}

/// `headers`/`multiValueHeaders` (a repeated header's last value, and all of them) with the
/// `X-Forwarded-*` headers API Gateway adds, and the query parameters likewise.
fn insert_request(event: &mut Map<String, Value>, connection: &Connection, request: &UpgradeRequest) {
    let mut headers = request.headers.clone();
    let port = connection.domain_name.rsplit_once(':').map(|(_, port)| port).unwrap_or("80");
    for (name, value) in
        [("X-Forwarded-For", connection.source_ip.as_str()), ("X-Forwarded-Port", port), ("X-Forwarded-Proto", "http")]
    {
        if request.header(name).is_none() {
            headers.push((name.to_string(), value.to_string()));
        }
    }
    let (single, multi) = single_and_multi(headers);
    event.insert("headers".into(), Value::Object(single));
    event.insert("multiValueHeaders".into(), Value::Object(multi));
    let query = request.query_pairs();
    if !query.is_empty() {
        let (single, multi) = single_and_multi(query);
        event.insert("queryStringParameters".into(), Value::Object(single));
        event.insert("multiValueQueryStringParameters".into(), Value::Object(multi));
    }
}

fn single_and_multi(pairs: Vec<(String, String)>) -> (Map<String, Value>, Map<String, Value>) {
    let (mut single, mut multi) = (Map::new(), Map::new());
    for (name, value) in pairs {
        if let Value::Array(values) = multi.entry(name.clone()).or_insert_with(|| Value::Array(Vec::new())) {
            values.push(json!(value));
        }
        single.insert(name, json!(value));
    }
    (single, multi)
}

/// API Gateway's `requestTime` (`09/Feb/2024:18:11:43 +0000`).
fn request_time(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.format("%d/%b/%Y:%H:%M:%S +0000").to_string())
        .unwrap_or_default()
}

/// ISO 8601 with milliseconds, as the management API answers times.
fn iso8601(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A client's data message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Text(String),
    Binary(Vec<u8>),
}

/// The route key a message selects: the value at the `RouteSelectionExpression`'s path in its
/// JSON body (`$request.body.action` reads `action`) when a route has that key; else
/// `$default`, if the API has one. `None`: no route takes it.
pub fn select_route(api: &WebSocketApi, message: &Inbound) -> Option<String> {
    let selected = match (message, api.route_selection_expression.strip_prefix("$request.body.")) {
        (Inbound::Text(text), Some(path)) => serde_json::from_str::<Value>(text).ok().and_then(|body| {
            let value = path.split('.').try_fold(&body, |value, key| value.get(key))?;
            match value {
                Value::String(s) => Some(s.clone()),
                Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
                _ => None,
            }
        }),
        _ => None,
    };
    let special = |key: &str| matches!(key, "$connect" | "$disconnect" | "$default");
    selected
        .filter(|key| !special(key) && api.route(key).is_some())
        .or_else(|| api.route("$default").map(|r| r.route_key.clone()))
}

/// How an invocation through the watcher ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function's answer.
    Answer(Value),
    /// The function failed: its `errorMessage` (a Lambda error), or what went wrong.
    Failed(String),
    /// The watcher could not be reached.
    Unreachable(String),
}

impl Outcome {
    /// Reads the watcher's answer: a Lambda error body (`errorType`/`errorMessage`) or a
    /// failing status is a failure, whatever the other.
    pub fn from_answer(status: u16, body: &[u8]) -> Self {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if let Some(error) = value.as_object().filter(|o| o.contains_key("errorMessage") || o.contains_key("errorType"))
        {
            let message = error.get("errorMessage").and_then(Value::as_str).unwrap_or_default();
            return Self::Failed(message.to_string());
        }
        if !(200..300).contains(&status) {
            return Self::Failed(format!("the watcher answered {status}"));
        }
        Self::Answer(value)
    }
}

/// What the authorizer's outcome makes of the upgrade.
#[derive(Debug, Clone, PartialEq)]
pub enum Authorization {
    /// Go on; the map becomes `requestContext.authorizer` (without `integrationLatency`).
    Allow(Map<String, Value>),
    /// Refuse the upgrade with this status.
    Refuse(u16),
}

/// Applies a `REQUEST` authorizer's answer to `method_arn`, as API Gateway does: an error whose
/// message is `Unauthorized` is 401; any other failure, or an answer without a policy, or a
/// context value that is not a string, number or boolean, 500; a `Deny` statement on the ARN,
/// or no `Allow` statement on it, 403. Context values reach the functions stringified.
pub fn authorize(outcome: &Outcome, method_arn: &str) -> Authorization {
    let answer = match outcome {
        Outcome::Failed(message) if message == "Unauthorized" => return Authorization::Refuse(401),
        Outcome::Failed(_) | Outcome::Unreachable(_) => return Authorization::Refuse(500),
        Outcome::Answer(answer) => answer,
    };
    let Some(statements) = answer.pointer("/policyDocument/Statement") else {
        return Authorization::Refuse(500);
    };
    let statements = match statements {
        Value::Array(list) => list.iter().collect::<Vec<_>>(),
        Value::Object(_) => vec![statements],
        _ => return Authorization::Refuse(500),
    };
    let applies = |statement: &Value| {
        let any = |key: &str, text: &str, fold: bool| {
            strings(statement.get(key)).iter().any(|pattern| {
                if fold { glob(&pattern.to_ascii_lowercase(), &text.to_ascii_lowercase()) } else { glob(pattern, text) }
            })
        };
        any("Action", "execute-api:Invoke", true) && any("Resource", method_arn, false)
    };
    let effect = |statement: &Value, wanted: &str| {
        statement.get("Effect").and_then(Value::as_str).is_some_and(|e| e.eq_ignore_ascii_case(wanted))
    };
    if statements.iter().any(|s| effect(s, "Deny") && applies(s))
        || !statements.iter().any(|s| effect(s, "Allow") && applies(s))
    {
        return Authorization::Refuse(403);
    }
    let mut context = Map::new();
    match answer.get("context") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(_) | Value::Bool(_) => value.to_string(),
                    _ => return Authorization::Refuse(500),
                };
                context.insert(key.clone(), Value::String(text));
            }
        }
        Some(_) => return Authorization::Refuse(500),
    }
    match answer.get("principalId") {
        Some(Value::String(id)) => {
            context.insert("principalId".into(), json!(id));
        }
        Some(id @ (Value::Number(_) | Value::Bool(_))) => {
            context.insert("principalId".into(), json!(id.to_string()));
        }
        _ => {}
    }
    Authorization::Allow(context)
}

/// A string or a list of strings of a policy statement.
fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// IAM's wildcards: `*` any run of characters, `?` any one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// What a request to the port is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The stage's URL: a WebSocket upgrade.
    Connect,
    /// `@connections/{id}` of the management API, the id decoded.
    Manage(String),
    Other,
}

/// Where a request path goes, for the API's `stage`. The SDK sends `/@connections/...`, some
/// clients `/%40connections/...`; a connection id's `+`, `/` and `=` arrive percent-encoded.
pub fn target(stage: &str, path: &str) -> Target {
    let Some(rest) = path.strip_prefix('/').and_then(|p| p.strip_prefix(stage)) else {
        return Target::Other;
    };
    if rest.is_empty() || rest == "/" {
        return Target::Connect;
    }
    ["/@connections/", "/%40connections/"]
        .iter()
        .find_map(|prefix| rest.strip_prefix(prefix))
        .filter(|id| !id.is_empty())
        .map(|id| Target::Manage(percent_decode(id)))
        .unwrap_or(Target::Other)
}

/// How a connection ended, as `$disconnect` is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    pub code: u16,
    pub reason: String,
}

impl End {
    fn new(code: u16, reason: &str) -> Self {
        Self { code, reason: reason.to_string() }
    }

    /// The client's close frame, or API Gateway's words for a close without a status.
    fn by_client(frame: Option<CloseFrame>) -> Self {
        match frame {
            Some(frame) => Self { code: frame.code.into(), reason: frame.reason.to_string() },
            None => Self::new(1005, "Client-side close frame status not set"),
        }
    }

    fn dropped() -> Self {
        Self::new(1006, "Connection Closed Abnormally")
    }

    fn deleted() -> Self {
        Self::new(1000, "Connection Closed Normally")
    }

    fn going_away() -> Self {
        Self::new(1001, "Going away")
    }

    fn too_big() -> Self {
        Self::new(1009, "Message too big")
    }
}

/// A management call to an open connection's task.
enum Command {
    /// Send a frame; answered whether it was written.
    Send(Message, oneshot::Sender<bool>),
    /// Close the connection; answered once it is no longer open.
    Delete(oneshot::Sender<()>),
}

/// An open connection, as the management API sees it.
struct Open {
    commands: mpsc::Sender<Command>,
    connected_at: i64,
    last_active: Arc<AtomicI64>,
    source_ip: String,
    user_agent: Option<String>,
}

struct Gateway {
    api: WebSocketApi,
    events: Events,
    upstream: String,
    limits: Limits,
    client: reqwest::Client,
    open: Mutex<HashMap<String, Open>>,
    /// Bounds the invocations in flight: `cargo lambda watch` serves each function with one
    /// instance, and 500 sockets closing at once (500 `$disconnect`s sent together) stalled it,
    /// and every function with it, for minutes (BENCHMARKS.md, "Real-time notifications").
    /// Deployed, Lambda scales out instead; locally they wait their turn here.
    in_flight: tokio::sync::Semaphore,
}

/// Invocations the gateway sends the watcher at once.
const MAX_IN_FLIGHT: usize = 8;

/// The stage of `api` if this gateway can serve it as deployed; else why not. A route served
/// without the authorization it declares would accept what deployed refuses.
pub fn servable(api: &WebSocketApi) -> Result<String, String> {
    let stage = api.stage.clone().ok_or_else(|| format!("WebSocket API {} has no stage", api.logical_id))?;
    for route in &api.routes {
        let (key, kind) = (&route.route_key, &route.authorization_type);
        match kind.as_str() {
            "NONE" => {}
            "CUSTOM" if route.authorizer.is_some() => {}
            "CUSTOM" => {
                return Err(format!("WebSocket API {}: route {key} is CUSTOM without an authorizer", api.logical_id));
            }
            _ => {
                return Err(format!(
                    "WebSocket API {}: route {key}'s AuthorizationType {kind} is not emulated locally",
                    api.logical_id
                ));
            }
        }
    }
    Ok(stage)
}

/// The WebSocket API `api` served on `listener`, its functions invoked through `upstream`
/// (`http://127.0.0.1:<watch port>`) under the API id `api_id`. Runs until the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    api: WebSocketApi,
    api_id: String,
    upstream: String,
    limits: Limits,
) -> std::io::Error {
    let stage = match servable(&api) {
        Ok(stage) => stage,
        Err(why) => return std::io::Error::other(why),
    };
    let client = match reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build() {
        Ok(client) => client,
        Err(e) => return std::io::Error::other(format!("cannot build the WebSocket gateway's HTTP client: {e}")),
    };
    let events = Events { api_id, stage };
    let gateway = Arc::new(Gateway {
        api,
        events,
        upstream,
        limits,
        client,
        open: Mutex::new(HashMap::new()),
        in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
    });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => return e,
        };
        let gateway = Arc::clone(&gateway);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let gateway = Arc::clone(&gateway);
                async move { Ok::<_, Infallible>(gateway.handle(request, peer).await) }
            });
            // A client that hangs up mid-request is its own business.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

type Body = Full<Bytes>;

fn message_response(status: u16, message: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(json!({ "message": message }).to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A management API error, in the shape the SDK reads (`x-amzn-ErrorType` names the exception).
fn management_error(status: u16, error_type: &'static str, message: &str) -> Response<Body> {
    let mut response = message_response(status, message);
    let headers = response.headers_mut();
    headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    set_request_id(headers);
    response
}

fn set_request_id(headers: &mut hyper::HeaderMap) {
    if let Ok(id) = HeaderValue::from_str(&random_id()) {
        headers.insert("x-amzn-requestid", id);
    }
}

fn gone(id: &str) -> Response<Body> {
    management_error(410, "GoneException", &format!("connection {id} is not open"))
}

fn header_str(request: &Request<Incoming>, name: HeaderName) -> Option<&str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

fn has_token(request: &Request<Incoming>, name: HeaderName, token: &str) -> bool {
    request
        .headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl Gateway {
    async fn handle(self: Arc<Self>, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        match target(&self.events.stage, request.uri().path()) {
            Target::Connect if request.method() == Method::GET => self.upgrade(request, peer).await,
            Target::Manage(id) => self.manage(request, &id).await,
            _ => message_response(403, "Forbidden"),
        }
    }

    async fn invoke(&self, binary: &str, event: &Value) -> Outcome {
        // No invocation waits on another while holding its permit (a function's own
        // `@connections` calls are served without one), so the bound cannot deadlock.
        let Ok(_permit) = self.in_flight.acquire().await else {
            return Outcome::Unreachable("the gateway is shutting down".into());
        };
        let url = format!("{}/2015-03-31/functions/{binary}/invocations", self.upstream);
        let response = match self.client.post(&url).body(event.to_string()).send().await {
            Ok(response) => response,
            Err(e) => return Outcome::Unreachable(e.to_string()),
        };
        let status = response.status().as_u16();
        match response.bytes().await {
            Ok(body) => Outcome::from_answer(status, &body),
            Err(e) => Outcome::Unreachable(e.to_string()),
        }
    }

    async fn upgrade(self: Arc<Self>, mut request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        if !has_token(&request, header::UPGRADE, "websocket") {
            return message_response(426, "Upgrade Required");
        }
        let key = header_str(&request, header::SEC_WEBSOCKET_KEY).map(str::to_owned);
        let (Some(key), true, true) = (
            key,
            has_token(&request, header::CONNECTION, "upgrade"),
            header_str(&request, header::SEC_WEBSOCKET_VERSION) == Some("13"),
        ) else {
            return message_response(400, "Bad Request");
        };
        let upgrade = UpgradeRequest {
            headers: request
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            query: request.uri().query().unwrap_or_default().to_string(),
        };
        let now = now_millis();
        let mut connection = Connection {
            connection_id: random_id(),
            connected_at: now,
            source_ip: peer.ip().to_string(),
            user_agent: upgrade.header("user-agent").map(str::to_owned),
            domain_name: upgrade.header("host").unwrap_or("localhost").to_string(),
            authorizer: None,
        };
        let route = self.api.route("$connect");
        if let Some(authorizer) = route.filter(|r| r.authorization_type == "CUSTOM").and_then(|r| r.authorizer.as_ref())
        {
            if !authorizer.identity_sources.iter().all(|source| upgrade.has_identity(source)) {
                return message_response(401, "Unauthorized");
            }
            let started = std::time::Instant::now();
            let outcome = self
                .invoke(&authorizer.function.binary, &self.events.authorizer_event(&connection, &upgrade, now))
                .await;
            let latency = started.elapsed().as_millis();
            match &outcome {
                Outcome::Failed(why) if why == "Unauthorized" => {}
                Outcome::Failed(why) | Outcome::Unreachable(why) => {
                    eprintln!("wsgateway: {} failed: {why}", authorizer.function.binary)
                }
                Outcome::Answer(_) => {}
            }
            match authorize(&outcome, &self.events.connect_method_arn()) {
                Authorization::Allow(mut context) => {
                    context.insert("integrationLatency".into(), json!(latency));
                    connection.authorizer = Some(context);
                }
                Authorization::Refuse(401) => return message_response(401, "Unauthorized"),
                Authorization::Refuse(403) => return message_response(403, "Forbidden"),
                Authorization::Refuse(status) => return message_response(status, "Internal Server Error"),
            }
        }

        let mut accepted = Response::new(Full::new(Bytes::new()));
        if let Some(target) = route.and_then(|r| r.integration.as_ref()) {
            let event = self.events.connect_event(&connection, &upgrade, now_millis());
            match self.invoke(&target.binary, &event).await {
                Outcome::Answer(answer) => match answer.get("statusCode").and_then(Value::as_u64) {
                    Some(200..=299) => copy_headers(&answer, accepted.headers_mut()),
                    Some(status) => return refusal(status, &answer),
                    None => {
                        eprintln!("wsgateway: {}'s answer has no statusCode: {answer}", target.binary);
                        return message_response(502, "Internal server error");
                    }
                },
                Outcome::Failed(why) => {
                    eprintln!("wsgateway: {} failed: {why}", target.binary);
                    return message_response(502, "Internal server error");
                }
                Outcome::Unreachable(why) => {
                    eprintln!("wsgateway: {} unreachable: {why}", self.upstream);
                    return message_response(503, "Service Unavailable");
                }
            }
        }

        let on_upgrade = hyper::upgrade::on(&mut request);
        let gateway = Arc::clone(&self);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let config = WebSocketConfig::default()
                        .read_buffer_size(4096)
                        .write_buffer_size(0)
                        .max_message_size(Some(MAX_MESSAGE_BYTES))
                        .max_frame_size(Some(MAX_MESSAGE_BYTES));
                    let io = hyper_util::rt::TokioIo::new(upgraded);
                    let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                    gateway.run(socket, connection).await;
                }
                Err(e) => {
                    // `$connect` already accepted (and recorded) the connection: it must hear
                    // that it ended, as it would of any other that never sent a close frame.
                    eprintln!("wsgateway: the upgrade of {} failed: {e}", connection.connection_id);
                    gateway.disconnected(&connection, &End::dropped()).await;
                }
            }
        });
        *accepted.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = accepted.headers_mut();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(accept) = HeaderValue::from_str(&tungstenite::handshake::derive_accept_key(key.as_bytes())) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        accepted
    }

    /// One open connection, until it ends: its frames, its management calls, its limits, its
    /// messages' invocations; then `$disconnect`.
    async fn run<S>(self: Arc<Self>, mut socket: WebSocketStream<S>, connection: Connection)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let connection = Arc::new(connection);
        let id = connection.connection_id.clone();
        let (commands, mut inbox) = mpsc::channel(16);
        let last_active = Arc::new(AtomicI64::new(connection.connected_at));
        let open = Open {
            commands,
            connected_at: connection.connected_at,
            last_active: Arc::clone(&last_active),
            source_ip: connection.source_ip.clone(),
            user_agent: connection.user_agent.clone(),
        };
        if let Ok(mut registry) = self.open.lock() {
            registry.insert(id.clone(), open);
        }

        let idle = tokio::time::sleep(self.limits.idle_timeout);
        let lifetime = tokio::time::sleep(self.limits.max_lifetime);
        tokio::pin!(idle, lifetime);
        let mut queue: VecDeque<(String, Value)> = VecDeque::new();
        let mut in_flight: Option<Pin<Box<dyn Future<Output = Option<String>> + Send>>> = None;
        let mut deleted: Option<oneshot::Sender<()>> = None;
        let end = loop {
            if in_flight.is_none()
                && let Some((binary, event)) = queue.pop_front()
            {
                in_flight = Some(Box::pin(Arc::clone(&self).invoke_message(binary, event, Arc::clone(&connection))));
            }
            tokio::select! {
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let message = Inbound::Text(text.to_string());
                        idle.as_mut().reset(tokio::time::Instant::now() + self.limits.idle_timeout);
                        last_active.store(now_millis(), Ordering::Relaxed);
                        match self.dispatch(&connection, &message) {
                            Ok(invocation) => queue.push_back(invocation),
                            Err(reply) => { let _ = socket.send(Message::text(reply)).await; }
                        }
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        let message = Inbound::Binary(bytes.to_vec());
                        idle.as_mut().reset(tokio::time::Instant::now() + self.limits.idle_timeout);
                        last_active.store(now_millis(), Ordering::Relaxed);
                        match self.dispatch(&connection, &message) {
                            Ok(invocation) => queue.push_back(invocation),
                            Err(reply) => { let _ = socket.send(Message::text(reply)).await; }
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        // tungstenite queued the echo of the client's close frame: send it.
                        let _ = socket.flush().await;
                        break End::by_client(frame);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(tungstenite::Error::Capacity(_))) => {
                        close(&mut socket, CloseCode::Size, "Message too big").await;
                        break End::too_big();
                    }
                    Some(Err(_)) | None => break End::dropped(),
                },
                command = inbox.recv() => match command {
                    Some(Command::Send(message, written)) => {
                        let ok = socket.send(message).await.is_ok();
                        let _ = written.send(ok);
                        if !ok {
                            break End::dropped();
                        }
                    }
                    Some(Command::Delete(closed)) => {
                        close(&mut socket, CloseCode::Normal, "").await;
                        deleted = Some(closed);
                        break End::deleted();
                    }
                    None => break End::dropped(),
                },
                reply = async {
                    match in_flight.as_mut() {
                        Some(invocation) => invocation.await,
                        None => std::future::pending().await,
                    }
                }, if in_flight.is_some() => {
                    in_flight = None;
                    if let Some(reply) = reply {
                        let _ = socket.send(Message::text(reply)).await;
                    }
                }
                () = &mut idle => {
                    close(&mut socket, CloseCode::Away, "Going away").await;
                    break End::going_away();
                }
                () = &mut lifetime => {
                    close(&mut socket, CloseCode::Away, "Going away").await;
                    break End::going_away();
                }
            }
        };
        // From here on the connection is gone for the management API (410), as deployed.
        if let Ok(mut registry) = self.open.lock() {
            registry.remove(&id);
        }
        if let Some(closed) = deleted {
            let _ = closed.send(());
        }
        drop(socket);
        // Messages received before the end still reach their function, then `$disconnect`.
        if let Some(invocation) = in_flight {
            invocation.await;
        }
        for (binary, event) in queue {
            Arc::clone(&self).invoke_message(binary, event, Arc::clone(&connection)).await;
        }
        self.disconnected(&connection, &end).await;
    }

    /// Tells `$disconnect`; its answer is of no use to anyone, a failure is only logged.
    async fn disconnected(&self, connection: &Connection, end: &End) {
        if let Some(target) = self.api.route("$disconnect").and_then(|r| r.integration.as_ref()) {
            let event = self.events.disconnect_event(connection, end, now_millis());
            match self.invoke(&target.binary, &event).await {
                Outcome::Answer(_) => {}
                Outcome::Failed(why) | Outcome::Unreachable(why) => {
                    eprintln!("wsgateway: {} failed: {why}", target.binary)
                }
            }
        }
    }

    /// The invocation a message makes, or the frame API Gateway answers when no route takes it.
    fn dispatch(&self, connection: &Connection, message: &Inbound) -> Result<(String, Value), String> {
        let route = select_route(&self.api, message).and_then(|key| self.api.route(&key));
        match route.and_then(|r| Some((r, r.integration.as_ref()?))) {
            Some((route, target)) => Ok((
                target.binary.clone(),
                self.events.message_event(connection, &route.route_key, message, now_millis()),
            )),
            None => Err(error_frame("Forbidden", connection)),
        }
    }

    /// Invokes a message's function; its answer is ignored (no route response is configured),
    /// and a failure is told to the client as API Gateway tells it.
    async fn invoke_message(
        self: Arc<Self>,
        binary: String,
        event: Value,
        connection: Arc<Connection>,
    ) -> Option<String> {
        match self.invoke(&binary, &event).await {
            Outcome::Answer(_) => None,
            Outcome::Failed(why) | Outcome::Unreachable(why) => {
                eprintln!("wsgateway: {binary} failed: {why}");
                Some(error_frame("Internal server error", &connection))
            }
        }
    }

    async fn manage(&self, request: Request<Incoming>, id: &str) -> Response<Body> {
        let method = request.method().clone();
        match method {
            Method::POST => {
                let body = match Limited::new(request.into_body(), MAX_MESSAGE_BYTES).collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(_) => return management_error(413, "PayloadTooLargeException", "Message too long"),
                };
                // API Gateway sends the data as it came; a text frame must be UTF-8.
                let message = match String::from_utf8(body.to_vec()) {
                    Ok(text) => Message::text(text),
                    Err(_) => Message::Binary(body),
                };
                let Some(commands) = self.commands(id) else {
                    return gone(id);
                };
                let (written, ack) = oneshot::channel();
                if commands.send(Command::Send(message, written)).await.is_err() || !matches!(ack.await, Ok(true)) {
                    return gone(id);
                }
                let mut response = Response::new(Full::new(Bytes::new()));
                set_request_id(response.headers_mut());
                response
            }
            Method::GET => {
                let described = self.open.lock().ok().and_then(|registry| {
                    let open = registry.get(id)?;
                    let mut identity = json!({ "sourceIp": open.source_ip });
                    if let Some(agent) = &open.user_agent {
                        identity["userAgent"] = json!(agent);
                    }
                    Some(json!({
                        "connectedAt": iso8601(open.connected_at),
                        "identity": identity,
                        "lastActiveAt": iso8601(open.last_active.load(Ordering::Relaxed)),
                    }))
                });
                let Some(described) = described else {
                    return gone(id);
                };
                let mut response = Response::new(Full::new(Bytes::from(described.to_string())));
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                set_request_id(response.headers_mut());
                response
            }
            Method::DELETE => {
                let Some(commands) = self.commands(id) else {
                    return gone(id);
                };
                let (closed, ack) = oneshot::channel();
                if commands.send(Command::Delete(closed)).await.is_err() || ack.await.is_err() {
                    return gone(id);
                }
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = StatusCode::NO_CONTENT;
                set_request_id(response.headers_mut());
                response
            }
            _ => management_error(403, "ForbiddenException", "Forbidden"),
        }
    }

    fn commands(&self, id: &str) -> Option<mpsc::Sender<Command>> {
        self.open.lock().ok()?.get(id).map(|open| open.commands.clone())
    }
}

/// What API Gateway sends a client whose message failed or found no route.
fn error_frame(message: &str, connection: &Connection) -> String {
    json!({ "message": message, "connectionId": connection.connection_id, "requestId": random_id() }).to_string()
}

/// Sends a close frame and waits briefly for the client's, so that the client reads a clean
/// close rather than a reset.
async fn close<S>(socket: &mut WebSocketStream<S>, code: CloseCode, reason: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let frame = CloseFrame { code, reason: reason.to_string().into() };
    if socket.close(Some(frame)).await.is_err() {
        return;
    }
    let drain = async { while let Some(Ok(_)) = socket.next().await {} };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}

/// A refused upgrade: the `$connect` function's status, and its body if it gave one.
fn refusal(status: u64, answer: &Value) -> Response<Body> {
    let body = answer.get("body").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        u16::try_from(status).ok().and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::BAD_GATEWAY);
    copy_headers(answer, response.headers_mut());
    response
}

/// The `$connect` function's headers onto the handshake's answer (a chosen
/// `Sec-WebSocket-Protocol`, say), except those of the handshake itself.
fn copy_headers(answer: &Value, headers: &mut hyper::HeaderMap) {
    let Some(Value::Object(theirs)) = answer.get("headers") else {
        return;
    };
    for (name, value) in theirs {
        let (Ok(name), Some(Ok(value))) =
            (HeaderName::from_bytes(name.as_bytes()), value.as_str().map(HeaderValue::from_str))
        else {
            continue;
        };
        let reserved = [
            header::CONNECTION,
            header::UPGRADE,
            header::SEC_WEBSOCKET_ACCEPT,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
        ];
        if !reserved.contains(&name) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests;
