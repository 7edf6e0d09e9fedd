//! The WebSocket API's side: the `$connect` authorizer, `$connect`, `$disconnect` and the
//! client's messages (`$default`), as API Gateway invokes them.
//!
//! API Gateway carries what the authorizer answered (`requestContext.authorizer`) on every later
//! event of the connection, so the organization, user and roles a ticket admitted are known to
//! each of them without a lookup, and cannot be set by the client.

use crate::event::{Event, Reader, Subscription, pack};
use crate::poster::{PostError, Poster};
use crate::table::RealtimeTable;
use crate::ticket::Ticket;
use hub_shared::auth::OrgId;
use hub_shared::error::{AppError, AppResult};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use uuid::Uuid;

/// A resume further behind than this is told to refetch: replaying more would take longer
/// than reloading the screens, and one message handler must finish well within its timeout.
pub const MAX_REPLAY: u64 = 1000;
/// API Gateway's limit for a client message; a larger one never reaches here.
const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// The part of a WebSocket event the functions read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SocketEvent {
    pub request_context: SocketContext,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub is_base64_encoded: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SocketContext {
    pub connection_id: String,
    #[serde(default)]
    pub route_key: String,
    /// The authorizer's `context`, plus `principalId`; values as API Gateway passes them.
    #[serde(default)]
    pub authorizer: HashMap<String, Value>,
}

impl SocketContext {
    /// The reader the authorizer admitted; `None` when the event carries no such context (a
    /// route deployed without the authorizer: refused, never guessed).
    pub fn reader(&self) -> Option<Reader> {
        let text = |key: &str| self.authorizer.get(key).and_then(Value::as_str);
        let org = text("organization_id").and_then(|o| Uuid::parse_str(o).ok()).filter(|o| !o.is_nil())?;
        let user_id = text("user_id").and_then(|u| Uuid::parse_str(u).ok())?;
        let roles: Vec<String> = serde_json::from_str(text("roles")?).ok()?;
        let expires_at = text("expires_at").and_then(|e| e.parse().ok())?;
        Some(Reader { org: OrgId::new(org), user_id, roles, expires_at })
    }
}

// ---- the authorizer --------------------------------------------------------------------------

/// A WebSocket REQUEST authorizer's input, the part read here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerRequest {
    pub method_arn: String,
    #[serde(default)]
    pub query_string_parameters: Option<HashMap<String, String>>,
}

/// The authorizer's answer: an `Allow` policy on the `$connect` route with the reader as its
/// context, or `Err("Unauthorized")`, which API Gateway turns into 401 without saying why.
pub async fn authorize(table: &RealtimeTable, request: &AuthorizerRequest) -> Result<Value, AuthorizeError> {
    let raw = request.query_string_parameters.as_ref().and_then(|q| q.get("ticket")).map(String::as_str);
    let Some(ticket) = raw.and_then(Ticket::parse) else {
        tracing::info!(present = raw.is_some(), "refused: no well-formed ticket");
        return Err(AuthorizeError::Unauthorized);
    };
    let Some(grant) = table.spend_ticket(ticket.org, &ticket.hash()).await.map_err(AuthorizeError::Storage)? else {
        tracing::info!(org = %ticket.org, "refused: unknown, spent or expired ticket");
        return Err(AuthorizeError::Unauthorized);
    };
    let reader = grant.reader;
    tracing::info!(org = %reader.org, user = %reader.user_id, "ticket spent");
    Ok(json!({
        "principalId": reader.user_id.to_string(),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{ "Action": "execute-api:Invoke", "Effect": "Allow", "Resource": request.method_arn }],
        },
        // Context values must be strings, numbers or booleans: the roles travel as JSON text.
        "context": {
            "organization_id": reader.org.to_string(),
            "user_id": reader.user_id.to_string(),
            "roles": serde_json::to_string(&reader.roles).unwrap_or_else(|_| "[]".into()),
            "expires_at": reader.expires_at.to_string(),
        },
    }))
}

#[derive(Debug)]
pub enum AuthorizeError {
    /// API Gateway answers 401 when an authorizer fails with exactly this message.
    Unauthorized,
    Storage(AppError),
}

impl std::fmt::Display for AuthorizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unauthorized => f.write_str("Unauthorized"),
            Self::Storage(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AuthorizeError {}

// ---- $connect, $disconnect -------------------------------------------------------------------

fn status(code: u16) -> Value {
    json!({ "statusCode": code })
}

/// `$connect`: records the connection under its organization. 403 without an authorizer's
/// reader (the route must not be reachable without one).
pub async fn connect(table: &RealtimeTable, event: &SocketEvent) -> AppResult<Value> {
    let Some(reader) = event.request_context.reader() else {
        tracing::warn!("a $connect without the authorizer's context");
        return Ok(status(403));
    };
    table.put_connection(&event.request_context.connection_id, &reader).await?;
    tracing::info!(org = %reader.org, user = %reader.user_id, "connected");
    Ok(status(200))
}

/// `$disconnect`: forgets the connection (API Gateway calls it once, best effort; a missed one
/// is swept by the item's expiry and by the first post that gets 410).
pub async fn disconnect(table: &RealtimeTable, event: &SocketEvent) -> AppResult<Value> {
    if let Some(reader) = event.request_context.reader() {
        table.delete_connection(reader.org, &event.request_context.connection_id).await?;
    }
    Ok(status(200))
}

// ---- messages --------------------------------------------------------------------------------

fn error_message(code: &str, detail: impl Into<String>) -> String {
    json!({ "type": "error", "code": code, "detail": detail.into() }).to_string()
}

/// A client's message: `resume`, `subscribe` or `ping` (README, "Real-time notifications").
/// Every answer is posted back on the connection; a bad message gets an `error` message and the
/// connection stays open.
pub async fn message(table: &RealtimeTable, poster: &Poster, event: &SocketEvent) -> AppResult<Value> {
    let context = &event.request_context;
    let Some(reader) = context.reader() else {
        tracing::warn!("a message without the authorizer's context");
        return Ok(status(403));
    };
    if reader.expires_at <= chrono::Utc::now().timestamp() {
        tracing::info!(org = %reader.org, "the token behind the connection expired; closing it");
        crate::fanout::close(table, poster, reader.org, &context.connection_id).await;
        return Ok(status(200));
    }
    let reader = &reader;
    let reply = |text: String| async move { post_or_close(table, poster, reader, &context.connection_id, &text).await };
    let parsed = parse_message(event);
    let (action, body) = match parsed {
        Ok(parsed) => parsed,
        Err(detail) => {
            reply(error_message("BAD_MESSAGE", detail)).await?;
            return Ok(status(200));
        }
    };
    match action.as_str() {
        "ping" => reply(json!({ "type": "pong" }).to_string()).await?,
        "subscribe" => match Subscription::parse(&body) {
            Err(detail) => reply(error_message("BAD_SUBSCRIPTION", detail)).await?,
            Ok(subscription) => {
                if table.set_subscription(reader.org, &context.connection_id, &subscription).await? {
                    let mut answer = subscription.to_json();
                    answer["type"] = json!("subscribed");
                    reply(answer.to_string()).await?;
                } else {
                    forgotten(table, poster, reader, &context.connection_id).await;
                }
            }
        },
        "resume" => resume(table, poster, reader, &context.connection_id, &body).await?,
        other => {
            reply(error_message(
                "UNKNOWN_ACTION",
                format!("unknown action `{other}`; expected resume, subscribe or ping"),
            ))
            .await?
        }
    }
    Ok(status(200))
}

fn parse_message(event: &SocketEvent) -> Result<(String, Map<String, Value>), String> {
    let body = event.body.as_deref().unwrap_or("");
    if event.is_base64_encoded {
        return Err("messages are JSON text, not binary".into());
    }
    if body.len() > MAX_MESSAGE_BYTES {
        return Err("message too large".into());
    }
    let value: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err("a message is a JSON object with an `action`".into());
    };
    let action = object.get("action").and_then(Value::as_str).ok_or("a message needs an `action` string")?;
    let allowed: &[&str] = match action {
        "ping" => &["action"],
        "subscribe" => &["action", "entities", "ids"],
        "resume" => &["action", "since", "entities", "ids"],
        _ => return Ok((action.to_string(), object)),
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("`{action}` takes no `{unknown}`"));
    }
    Ok((action.to_string(), object))
}

/// Where a resume starts, and what it finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumePlan {
    /// Nothing to replay: go live from `head`.
    Live,
    /// Replay the events after `since` up to the head.
    Replay { since: u64 },
    /// Too far behind, or a cursor this log never gave: reload over REST.
    Refetch(&'static str),
}

/// What a resume from `since` does when the log's head is `head`.
pub fn plan(since: Option<u64>, head: u64) -> ResumePlan {
    match since {
        None => ResumePlan::Live,
        Some(since) if since > head => ResumePlan::Refetch("unknown_cursor"),
        Some(since) if since == head => ResumePlan::Live,
        Some(since) if head - since > MAX_REPLAY => ResumePlan::Refetch("too_far_behind"),
        Some(since) => ResumePlan::Replay { since },
    }
}

/// How long a replay may post before it gives up and tells the client to refetch: well
/// within the message function's 60 s, SDK retries included.
const REPLAY_BUDGET: std::time::Duration = std::time::Duration::from_secs(40);

/// A connection whose item is gone (swept, or forgotten after a failed delivery) hears no
/// change any more: it is closed, so its client reconnects and resumes, rather than left open
/// and deaf.
async fn forgotten(table: &RealtimeTable, poster: &Poster, reader: &Reader, connection_id: &str) {
    tracing::info!(org = %reader.org, "a message on a connection no longer recorded; closing it");
    crate::fanout::close(table, poster, reader.org, connection_id).await;
}

/// `resume`: the events after `since` this connection may hear, in order, then `resumed`; or
/// `refetch`. `entities`/`ids`, when given, replace the subscription first, in the same
/// message: API Gateway does not order two messages of one connection, so a `subscribe` sent
/// before a `resume` may be handled after it. The connection was recorded before this message
/// could be sent, so every event logged after the head read here is sent live, and every event
/// before it is in the log: nothing falls between.
async fn resume(
    table: &RealtimeTable,
    poster: &Poster,
    reader: &Reader,
    connection_id: &str,
    body: &Map<String, Value>,
) -> AppResult<()> {
    let since = match body.get("since") {
        None | Some(Value::Null) => None,
        Some(Value::String(raw)) if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) => {
            match raw.parse::<u64>() {
                Ok(since) => Some(since),
                Err(_) => return post_or_close(table, poster, reader, connection_id, &bad_cursor()).await,
            }
        }
        Some(_) => return post_or_close(table, poster, reader, connection_id, &bad_cursor()).await,
    };
    let subscription = if body.contains_key("entities") || body.contains_key("ids") {
        match Subscription::parse(body) {
            Ok(subscription) => {
                if !table.set_subscription(reader.org, connection_id, &subscription).await? {
                    forgotten(table, poster, reader, connection_id).await;
                    return Ok(());
                }
                subscription
            }
            Err(detail) => {
                let text = error_message("BAD_SUBSCRIPTION", detail);
                return post_or_close(table, poster, reader, connection_id, &text).await;
            }
        }
    } else {
        match table.connection(reader.org, connection_id).await? {
            Some(connection) => connection.subscription,
            None => {
                forgotten(table, poster, reader, connection_id).await;
                return Ok(());
            }
        }
    };
    let head = table.head(reader.org).await?;
    let refetch = |reason: &str| json!({ "type": "refetch", "cursor": head.to_string(), "reason": reason }).to_string();
    let events: Vec<Event> = match plan(since, head) {
        ResumePlan::Refetch(reason) => {
            return post_or_close(table, poster, reader, connection_id, &refetch(reason)).await;
        }
        ResumePlan::Live => Vec::new(),
        ResumePlan::Replay { since } => match table.events_between(reader.org, since, head).await? {
            Some(events) => events,
            None => return post_or_close(table, poster, reader, connection_id, &refetch("expired")).await,
        },
    };
    let tenant = reader.tenant();
    let started = std::time::Instant::now();
    let mut replayed = 0;
    let wanted = events.iter().filter(|e| subscription.takes(e) && e.readable_by(&tenant));
    for message in pack(wanted.map(|e| e.message.as_str())) {
        if started.elapsed() > REPLAY_BUDGET {
            tracing::warn!(replayed, "the replay ran out of time; the client refetches");
            return post_or_close(table, poster, reader, connection_id, &refetch("too_far_behind")).await;
        }
        match poster.post(connection_id, &message).await {
            Ok(()) => replayed += message.lines().count(),
            Err(PostError::Gone) => return Ok(()),
            Err(PostError::Failed(why)) => {
                tracing::warn!(error = %why, "a replayed event could not be sent; closing the connection so it resumes");
                crate::fanout::close(table, poster, reader.org, connection_id).await;
                return Ok(());
            }
        }
    }
    let done = json!({ "type": "resumed", "cursor": head.to_string(), "replayed": replayed }).to_string();
    post_or_close(table, poster, reader, connection_id, &done).await
}

fn bad_cursor() -> String {
    error_message("BAD_CURSOR", "`since` is a cursor: the decimal string of an event's `cursor`")
}

/// Posts an answer; a connection that cannot be answered is closed (its client, waiting for the
/// answer, reconnects) rather than left waiting.
async fn post_or_close(
    table: &RealtimeTable,
    poster: &Poster,
    reader: &Reader,
    connection_id: &str,
    text: &str,
) -> AppResult<()> {
    match poster.post(connection_id, text).await {
        Ok(()) | Err(PostError::Gone) => Ok(()),
        Err(PostError::Failed(why)) => {
            tracing::warn!(error = %why, "an answer could not be sent; closing the connection");
            crate::fanout::close(table, poster, reader.org, connection_id).await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(body: &str) -> SocketEvent {
        serde_json::from_value(json!({
            "requestContext": {"connectionId": "abc=", "routeKey": "$default"},
            "body": body, "isBase64Encoded": false,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_resume_replays_only_within_the_log_and_the_bound() {
        assert_eq!(plan(None, 0), ResumePlan::Live);
        assert_eq!(plan(None, 50), ResumePlan::Live);
        assert_eq!(plan(Some(50), 50), ResumePlan::Live);
        assert_eq!(plan(Some(0), 50), ResumePlan::Replay { since: 0 });
        assert_eq!(plan(Some(10), 1010), ResumePlan::Replay { since: 10 });
        assert_eq!(plan(Some(9), 1010), ResumePlan::Refetch("too_far_behind"));
        assert_eq!(plan(Some(51), 50), ResumePlan::Refetch("unknown_cursor"));
    }

    #[test]
    fn messages_are_json_objects_with_a_known_action_and_its_fields_only() {
        assert_eq!(parse_message(&event(r#"{"action":"ping"}"#)).map(|(a, _)| a), Ok("ping".to_string()));
        assert!(parse_message(&event(r#"{"action":"resume","since":"4"}"#)).is_ok());
        assert!(parse_message(&event("not json")).unwrap_err().contains("not JSON"));
        assert!(parse_message(&event("[1]")).is_err());
        assert!(parse_message(&event(r#"{"since":"4"}"#)).is_err());
        assert!(parse_message(&event(r#"{"action":"resume","from":"4"}"#)).unwrap_err().contains("from"));
        assert_eq!(parse_message(&event(r#"{"action":"dance"}"#)).map(|(a, _)| a), Ok("dance".to_string()));
    }

    #[test]
    fn the_reader_comes_only_from_the_authorizers_context() {
        let mut e = event("{}");
        assert_eq!(e.request_context.reader(), None);
        let (org, user) = (Uuid::new_v4(), Uuid::new_v4());
        e.request_context.authorizer = HashMap::from([
            ("organization_id".to_string(), json!(org.to_string())),
            ("user_id".to_string(), json!(user.to_string())),
            ("roles".to_string(), json!(r#"["doctor","viewer"]"#)),
            ("expires_at".to_string(), json!("1800000000")),
            ("principalId".to_string(), json!(user.to_string())),
        ]);
        let reader = e.request_context.reader().unwrap_or_else(|| panic!("a reader"));
        assert_eq!(reader.org, OrgId::new(org));
        assert_eq!(reader.roles, ["doctor", "viewer"]);
        e.request_context.authorizer.insert("organization_id".into(), json!(Uuid::nil().to_string()));
        assert_eq!(e.request_context.reader(), None, "the nil organization is nobody's");
    }
}
