//! Real-time notifications end to end, through the real local stack: tickets over the HTTP API,
//! WebSockets through the local WebSocket API (authorizer, `$connect`, `$default`,
//! `$disconnect`, `@connections`), the business table's stream relayed to `realtime-fanout`,
//! and the realtime table in the emulator. What is checked is the README's promise: ids only,
//! each organization's permitted connections and nothing else, one-time tickets, stale
//! connections forgotten, and no gap nor duplicate across a reconnect.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use futures_util::{SinkExt, StreamExt};
use hub_realtime::event::Reader;
use hub_realtime::{Poster, RealtimeTable};
use hub_shared::auth::OrgId;
use hub_tests::StackApi;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

/// How long an event may take from a committed write to a client: the stream relay polls
/// every 250 ms; a first invocation may start a function.
const EVENT_WITHIN: Duration = Duration::from_secs(20);
/// How long a connection that must hear nothing is watched.
const QUIET_FOR: Duration = Duration::from_millis(2500);

/// The stack and its API client ([`hub_tests::StackApi`]), with this file's own steps.
struct Harness(StackApi);

impl std::ops::Deref for Harness {
    type Target = StackApi;
    fn deref(&self) -> &StackApi {
        &self.0
    }
}

impl Harness {
    async fn start() -> Self {
        Self(StackApi::start().await)
    }

    async fn ticket(&self, token: &str) -> String {
        let (status, body) = self.call("POST", "/api/realtime/tickets", token, None).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["url"], self.stack.var("HUB_REALTIME_URL"), "the ticket says where to connect");
        body["ticket"].as_str().unwrap().to_string()
    }

    /// Opens a socket with `query` (e.g. `ticket=...`): the socket, or the refusal's status.
    async fn open(&self, query: &str) -> Result<Socket, u16> {
        let url = format!("{}?{query}", self.stack.var("HUB_REALTIME_URL"));
        match tokio_tungstenite::connect_async(url).await {
            Ok((ws, _)) => Ok(Socket { ws, pending: Default::default() }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("connecting: {e}"),
        }
    }

    /// A connected socket of a new user of `org` with `roles`, resumed (live from now).
    async fn connect(&self, org: Uuid, roles: &[&str]) -> (Socket, u64) {
        let ticket = self.ticket(&self.token(org, roles)).await;
        let mut socket = self.open(&format!("ticket={ticket}")).await.unwrap_or_else(|s| panic!("refused: {s}"));
        let cursor = socket.resume(None).await;
        (socket, cursor)
    }

    async fn create_contact(&self, token: &str, last_name: &str) -> String {
        let (status, body) = self
            .call("POST", "/api/business/contacts", token, Some(json!({"first_name": "Élise", "last_name": last_name})))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    async fn create_document(&self, token: &str, privacy_level: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/api/business/documents",
                token,
                Some(json!({
                    "title": "Compte rendu", "document_type": "report", "file_name": "cr.pdf",
                    "mime_type": "application/pdf", "file_size_bytes": 3,
                    "checksum": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                    "privacy_level": privacy_level,
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    fn realtime_table(&self) -> RealtimeTable {
        let endpoint = format!("http://127.0.0.1:{}", self.stack.var("HUB_MOTO_PORT"));
        RealtimeTable::new(hub_infra::moto::dynamodb_client(&endpoint), self.stack.var("HUB_REALTIME_TABLE"))
    }

    fn poster(&self) -> Poster {
        let env = hub_shared::config::Env::from_pairs([
            ("AWS_REGION", hub_infra::LOCAL_REGION),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ]);
        let sdk = hub_shared::aws::sdk_config_from(&env).unwrap();
        Poster::new(&sdk, self.stack.var("HUB_REALTIME_MANAGEMENT_URL"))
    }

    /// Waits until the organization's log holds `cursor`.
    async fn wait_for_head(&self, org: Uuid, cursor: u64) {
        let table = self.realtime_table();
        let deadline = tokio::time::Instant::now() + EVENT_WITHIN;
        while table.head(OrgId::new(org)).await.unwrap() < cursor {
            assert!(tokio::time::Instant::now() < deadline, "the log did not reach {cursor}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Messages of a WebSocket message already read (it carries one JSON object per line).
    pending: std::collections::VecDeque<Value>,
}

impl Socket {
    async fn send(&mut self, message: Value) {
        self.ws.send(Message::text(message.to_string())).await.unwrap();
    }

    /// The next JSON message, or `None` when none comes within `within` (or the socket closed).
    async fn next_within(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(message) = self.pending.pop_front() {
                return Some(message);
            }
            let frame = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()??;
            match frame {
                Ok(Message::Text(text)) => {
                    self.pending.extend(text.lines().map(|line| serde_json::from_str::<Value>(line).unwrap()))
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    async fn next(&mut self) -> Value {
        self.next_within(EVENT_WITHIN).await.unwrap_or_else(|| panic!("no message within {EVENT_WITHIN:?}"))
    }

    /// The next event (messages with a dotted `type`), skipping nothing else silently.
    async fn event(&mut self) -> Value {
        let message = self.next().await;
        assert!(message["type"].as_str().unwrap().contains('.'), "an event, not {message}");
        message
    }

    /// Sends `resume` and reads up to its answer; the events replayed before it, and its cursor.
    async fn resume_collect(&mut self, since: Option<u64>) -> (Vec<Value>, Value) {
        let mut message = json!({"action": "resume"});
        if let Some(since) = since {
            message["since"] = json!(since.to_string());
        }
        self.send(message).await;
        let mut replayed = Vec::new();
        loop {
            let message = self.next().await;
            match message["type"].as_str().unwrap() {
                "resumed" | "refetch" => return (replayed, message),
                t if t.contains('.') => replayed.push(message),
                other => panic!("unexpected {other}: {message}"),
            }
        }
    }

    async fn resume(&mut self, since: Option<u64>) -> u64 {
        let (replayed, answer) = self.resume_collect(since).await;
        assert!(replayed.is_empty() || since.is_some());
        assert_eq!(answer["type"], "resumed", "{answer}");
        cursor(&answer)
    }

    async fn assert_quiet(&mut self, what: &str) {
        if let Some(message) = self.next_within(QUIET_FOR).await {
            panic!("{what} heard {message}");
        }
    }
}

fn cursor(message: &Value) -> u64 {
    message["cursor"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_reaches_exactly_its_organizations_connections_that_may_read_it_as_ids_only() {
    let h = Harness::start().await;
    let (org, other_org) = (Uuid::new_v4(), Uuid::new_v4());
    let admin = h.token(org, &["admin"]);
    let (mut admin_socket, _) = h.connect(org, &["admin"]).await;
    let (mut viewer, _) = h.connect(org, &["viewer"]).await;
    let (mut member, _) = h.connect(org, &["member"]).await;
    let (mut doctor, _) = h.connect(org, &["doctor"]).await;
    let (mut stranger, _) = h.connect(other_org, &["admin"]).await;

    // A contact: every reader of the organization hears of it, with its id and nothing of it.
    let contact = h.create_contact(&admin, "Lefèvre").await;
    let mut cursors = Vec::new();
    for (who, socket) in
        [("admin", &mut admin_socket), ("viewer", &mut viewer), ("member", &mut member), ("doctor", &mut doctor)]
    {
        let event = socket.event().await;
        assert_eq!(
            (event["type"].as_str(), event["id"].as_str()),
            (Some("contact.created"), Some(contact.as_str())),
            "{who}"
        );
        assert_eq!(event["entity"], "contact");
        assert_eq!(event["version"], 1);
        let keys: Vec<&String> = event.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["actor_id", "at", "cursor", "entity", "event_id", "id", "type", "version"], "{who}");
        assert!(!event.to_string().contains("Lefèvre"), "no personal data: {event}");
        cursors.push(event["cursor"].clone());
    }
    assert!(cursors.windows(2).all(|w| w[0] == w[1]), "one event, one cursor: {cursors:?}");

    // A restricted document: admins and clinical roles only. A confidential one: no viewer.
    let restricted = h.create_document(&admin, "restricted").await;
    for socket in [&mut admin_socket, &mut doctor] {
        let event = socket.event().await;
        assert_eq!(
            (event["type"].as_str(), event["id"].as_str()),
            (Some("document.created"), Some(restricted.as_str()))
        );
    }
    let confidential = h.create_document(&admin, "confidential").await;
    for socket in [&mut admin_socket, &mut doctor, &mut member] {
        let event = socket.event().await;
        assert_eq!(event["id"].as_str(), Some(confidential.as_str()));
    }
    viewer.assert_quiet("a viewer, of restricted and confidential documents").await;
    stranger.assert_quiet("another organization").await;

    // A subscription narrows what a connection hears; `{}` widens it again.
    member.send(json!({"action": "subscribe", "entities": ["appointment"]})).await;
    let answer = member.next().await;
    assert_eq!(answer, json!({"type": "subscribed", "entities": ["appointment"], "ids": []}));
    doctor.send(json!({"action": "subscribe", "ids": [contact]})).await;
    assert_eq!(doctor.next().await["type"], "subscribed");
    let (status, _) =
        h.call("PATCH", &format!("/api/business/contacts/{contact}"), &admin, Some(json!({"city": "Lyon"}))).await;
    assert_eq!(status, 200);
    assert_eq!(doctor.event().await["type"], "contact.updated", "the record it follows");
    assert_eq!(viewer.event().await["type"], "contact.updated");
    h.create_contact(&admin, "Other").await;
    assert_eq!(viewer.event().await["type"], "contact.created");
    member.assert_quiet("a subscription to appointments only").await;
    doctor.assert_quiet("a subscription to one contact").await;
    stranger.assert_quiet("another organization").await;

    // Bad messages are answered, and the connection stays usable.
    for (message, code) in [
        (json!({"action": "dance"}), "UNKNOWN_ACTION"),
        (json!({"action": "subscribe", "entities": ["patients"]}), "BAD_SUBSCRIPTION"),
        (json!({"action": "resume", "since": "-1"}), "BAD_CURSOR"),
        (json!({"since": "1"}), "BAD_MESSAGE"),
    ] {
        member.send(message.clone()).await;
        let answer = member.next().await;
        assert_eq!((answer["type"].as_str(), answer["code"].as_str()), (Some("error"), Some(code)), "{message}");
    }
    member.send(json!({"action": "ping"})).await;
    assert_eq!(member.next().await, json!({"type": "pong"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ticket_opens_one_connection_once_before_it_expires_and_nothing_else_opens_any() {
    let h = Harness::start().await;
    let (org, other_org) = (Uuid::new_v4(), Uuid::new_v4());
    let token = h.token(org, &["member"]);

    assert_eq!(h.open("").await.err(), Some(401), "no ticket");
    assert_eq!(h.open(&format!("ticket={token}")).await.err(), Some(401), "a JWT is not a ticket");
    assert_eq!(h.open(&format!("token={token}")).await.err(), Some(401), "nor is it accepted under another name");
    let forged = format!("{}.{}", org.simple(), "A".repeat(43));
    assert_eq!(h.open(&format!("ticket={forged}")).await.err(), Some(401), "forged");

    // Another organization's prefix on a real ticket finds nothing, and does not spend it.
    let ticket = h.ticket(&token).await;
    let (_, secret) = ticket.split_once('.').unwrap();
    let moved = format!("{}.{secret}", other_org.simple());
    assert_eq!(h.open(&format!("ticket={moved}")).await.err(), Some(401), "another organization's");
    let mut socket = h.open(&format!("ticket={ticket}")).await.expect("the ticket itself still works");
    socket.resume(None).await;
    assert_eq!(h.open(&format!("ticket={ticket}")).await.err(), Some(401), "spent");

    // An expired ticket (written as the issuer would, with a past expiry).
    let table = h.realtime_table();
    let in_an_hour = chrono::Utc::now().timestamp() + 3600;
    let reader =
        Reader { org: OrgId::new(org), user_id: Uuid::new_v4(), roles: vec!["member".into()], expires_at: in_an_hour };
    let expired = hub_realtime::ticket::Ticket::mint(reader.org).unwrap();
    table.put_ticket(&reader, &expired.hash(), chrono::Utc::now().timestamp() - 1).await.unwrap();
    assert_eq!(h.open(&format!("ticket={}", expired.as_text())).await.err(), Some(401), "expired");

    // A connection ends with the token that opened it: past its `exp`, the next message or
    // change closes it (the client reconnects with a fresh token), and it hears nothing more.
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": Uuid::new_v4().to_string(), "organization_id": org.to_string(), "roles": ["member"],
        "iss": h.stack.var("JWT_ISSUER"), "aud": h.stack.var("JWT_AUDIENCE"), "iat": now, "exp": now + 4,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(h.stack.var("JWT_HS256_SECRET").as_bytes());
    let short = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap();
    let mut brief = h.open(&format!("ticket={}", h.ticket(&short).await)).await.unwrap();
    brief.resume(None).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    brief.send(json!({"action": "ping"})).await;
    assert_eq!(brief.next_within(QUIET_FOR).await, None, "closed, not answered");

    // A ticket is only for a caller of an organization.
    let (status, problem) = h.call("POST", "/api/realtime/tickets", "not-a-token", None).await;
    assert_eq!(status, 401, "{problem}");
    let (status, problem) = h.call("POST", "/api/realtime/tickets", &token, Some(json!({"org": "x"}))).await;
    assert_eq!(status, 400, "{problem}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gone_connection_is_forgotten_others_still_hear_and_a_redelivered_batch_keeps_its_cursor() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let admin = h.token(org, &["admin"]);
    let (mut socket, _) = h.connect(org, &["member"]).await;

    // A connection whose $disconnect never came: API Gateway answers 410 to it.
    let table = h.realtime_table();
    let in_an_hour = chrono::Utc::now().timestamp() + 3600;
    let reader = Reader { org: OrgId::new(org), user_id: Uuid::new_v4(), roles: vec![], expires_at: in_an_hour };
    table.put_connection("Z29uZUNvbm4xMjM=", &reader).await.unwrap();
    assert_eq!(table.connections(OrgId::new(org)).await.unwrap().len(), 2);

    let contact = h.create_contact(&admin, "Durand").await;
    let event = socket.event().await;
    assert_eq!(event["id"].as_str(), Some(contact.as_str()));
    let deadline = tokio::time::Instant::now() + EVENT_WITHIN;
    while table.connections(OrgId::new(org)).await.unwrap().len() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the gone connection was not forgotten");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The same stream records delivered again (Lambda's retry): the log keeps one event with
    // its cursor, and the connection hears it again, identical (delivery is at least once;
    // clients drop an event_id they handled).
    let head = table.head(OrgId::new(org)).await.unwrap();
    let records = stream_records_of(&h, &contact).await;
    assert!(!records.is_empty());
    let poster = h.poster();
    for _ in 0..2 {
        let outcome = hub_realtime::fanout::handle(&table, &poster, &json!({"Records": records})).await.unwrap();
        assert_eq!(outcome.failed_at, None);
        let again = socket.event().await;
        assert_eq!((&again["event_id"], &again["cursor"]), (&event["event_id"], &event["cursor"]));
    }
    assert_eq!(table.head(OrgId::new(org)).await.unwrap(), head, "nothing logged twice");
}

/// The business table's stream records of one record, as Lambda delivers them.
async fn stream_records_of(h: &Harness, id: &str) -> Vec<Value> {
    let endpoint = format!("http://127.0.0.1:{}", h.stack.var("HUB_MOTO_PORT"));
    let dynamodb = hub_infra::moto::dynamodb_client(&endpoint);
    let table = dynamodb.describe_table().table_name(h.stack.var("HUB_TABLE")).send().await.unwrap();
    let arn = table.table.unwrap().latest_stream_arn.unwrap();
    let streams = hub_infra::relay::streams_client(&endpoint, hub_infra::LOCAL_REGION);
    let mut records = Vec::new();
    for mut reader in hub_infra::relay::ShardReader::all(&streams, &arn).await.unwrap() {
        loop {
            let batch = reader.next_batch(1000).await.unwrap();
            if batch.is_empty() {
                break;
            }
            records.extend(batch.into_iter().filter(|r| {
                let image = r.pointer("/dynamodb/NewImage").or_else(|| r.pointer("/dynamodb/OldImage"));
                image.and_then(|i| i.pointer("/id/S")).and_then(Value::as_str) == Some(id)
                    && image.and_then(|i| i.pointer("/item_type/S")).and_then(Value::as_str) == Some("record")
            }));
        }
    }
    records
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_reconnects_with_its_cursor_gets_exactly_what_it_missed_in_order_then_the_live_stream() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let admin = h.token(org, &["admin"]);
    let contact = h.create_contact(&admin, "Martin").await;
    let (mut socket, _) = h.connect(org, &["member"]).await;
    h.call("PATCH", &format!("/api/business/contacts/{contact}"), &admin, Some(json!({"city": "Lille"}))).await;
    let last = cursor(&socket.event().await);
    socket.ws.close(None).await.unwrap();

    // 50 changes while disconnected, all logged before the client comes back.
    for n in 0..50 {
        let (status, body) = h
            .call(
                "PATCH",
                &format!("/api/business/contacts/{contact}"),
                &admin,
                Some(json!({"city": format!("Ville {n}")})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    h.wait_for_head(org, last + 50).await;

    let ticket = h.ticket(&h.token(org, &["member"])).await;
    let mut back = h.open(&format!("ticket={ticket}")).await.unwrap();
    let (replayed, answer) = back.resume_collect(Some(last)).await;
    let cursors: Vec<u64> = replayed.iter().map(cursor).collect();
    assert_eq!(cursors, (last + 1..=last + 50).collect::<Vec<_>>(), "exactly the missed events, in order");
    let versions: Vec<u64> = replayed.iter().map(|e| e["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, (3..=52).collect::<Vec<_>>());
    assert_eq!(answer, json!({"type": "resumed", "cursor": (last + 50).to_string(), "replayed": 50}));

    // Then live, from the next cursor: no gap, no duplicate.
    h.call("PATCH", &format!("/api/business/contacts/{contact}"), &admin, Some(json!({"city": "Nancy"}))).await;
    assert_eq!(cursor(&back.event().await), last + 51);
    back.assert_quiet("after the live event").await;

    // Too far behind, or a cursor this log never gave: refetch, with where to go on from.
    let (replayed, answer) = back.resume_collect(Some(last + 52)).await;
    assert!(replayed.is_empty());
    assert_eq!(answer, json!({"type": "refetch", "cursor": (last + 51).to_string(), "reason": "unknown_cursor"}));
}

/// Changes as the fan-out makes them from stream records: new contacts of `org`.
fn contact_changes(org: Uuid, count: usize) -> Vec<hub_realtime::event::Change> {
    let kind = hub_realtime::kinds::by_entity("contact").unwrap();
    (0..count)
        .map(|n| hub_realtime::event::Change {
            org: OrgId::new(org),
            kind,
            id: Uuid::new_v4(),
            version: 1,
            event_type: "contact.created".into(),
            at: "2026-12-06T10:00:00.000Z".into(),
            actor_id: None,
            event_id: Uuid::new_v4(),
            guard: hub_realtime::event::Guard { old: None, new: json!({"is_deleted": false}).as_object().cloned() },
            sequence_number: n.to_string(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_gives_each_change_one_dense_cursor_under_contention_and_bounds_what_a_resume_replays() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let (first, second) = (contact_changes(org, 120), contact_changes(org, 120));

    // Two fan-outs logging one organization at once (a split partition), each more than one
    // transaction's worth: every change gets one cursor, 1 to 240, none twice, none skipped.
    let (a, b) = (h.realtime_table(), h.realtime_table());
    let (logged_a, logged_b) = tokio::join!(a.append(OrgId::new(org), &first), b.append(OrgId::new(org), &second));
    let (logged_a, logged_b) = (logged_a.unwrap(), logged_b.unwrap());
    let mut cursors: Vec<u64> = logged_a.iter().chain(&logged_b).map(|e| e.cursor).collect();
    assert!(logged_a.windows(2).all(|w| w[0].cursor < w[1].cursor), "each writer's changes in their order");
    cursors.sort_unstable();
    assert_eq!(cursors, (1..=240).collect::<Vec<_>>());

    // Redelivered, they keep their cursors and the head does not move.
    let again = h.realtime_table().append(OrgId::new(org), &first).await.unwrap();
    assert_eq!(
        again.iter().map(|e| e.cursor).collect::<Vec<_>>(),
        logged_a.iter().map(|e| e.cursor).collect::<Vec<_>>()
    );
    let table = h.realtime_table();
    table.append(OrgId::new(org), &contact_changes(org, 800)).await.unwrap();
    assert_eq!(table.head(OrgId::new(org)).await.unwrap(), 1040);

    // A resume replays at most 1,000 events; further behind, the client reloads.
    let ticket = h.ticket(&h.token(org, &["member"])).await;
    let mut socket = h.open(&format!("ticket={ticket}")).await.unwrap();
    let (replayed, answer) = socket.resume_collect(Some(39)).await;
    assert!(replayed.is_empty());
    assert_eq!(answer, json!({"type": "refetch", "cursor": "1040", "reason": "too_far_behind"}));
    let (replayed, answer) = socket.resume_collect(Some(1000)).await;
    assert_eq!(replayed.iter().map(cursor).collect::<Vec<_>>(), (1001..=1040).collect::<Vec<_>>());
    assert_eq!(answer["type"], "resumed");

    // A resume may carry the subscription, applied before its replay (API Gateway does not
    // order a separate `subscribe` before it).
    socket.send(json!({"action": "resume", "since": "1000", "entities": ["appointment"]})).await;
    assert_eq!(socket.next().await, json!({"type": "resumed", "cursor": "1040", "replayed": 0}));
    socket.send(json!({"action": "resume", "since": "1030", "entities": ["contact"], "ids": []})).await;
    let (replayed, _) = {
        let mut replayed = Vec::new();
        loop {
            let message = socket.next().await;
            if message["type"] == "resumed" {
                break (replayed, message);
            }
            replayed.push(message);
        }
    };
    assert_eq!(replayed.len(), 10);
    let (_, answer) = socket.resume_collect(Some(u64::MAX)).await;
    assert_eq!(answer["reason"], "unknown_cursor");
    socket.send(json!({"action": "resume", "since": "99999999999999999999999"})).await;
    assert_eq!(socket.next().await["code"], "BAD_CURSOR");
}
