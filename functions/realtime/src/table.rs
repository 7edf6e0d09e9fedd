//! The realtime table (`HUB_REALTIME_TABLE`): tickets, connections and each organization's event
//! log, every key under `ORG#<org>` (DATA-DESIGN.md, "The realtime table"). `expires_at` (epoch
//! seconds) is the table's TTL attribute; since TTL deletes late (within days), every read also
//! treats an expired item as absent.
//!
//! **The log.** An organization's events have dense cursors 1, 2, 3, ...: the head item holds
//! the last one given, and a batch of events is logged in one transaction that writes the
//! events, one id marker per event and the new head, conditioned on the head read. Two writers
//! that read the same head cannot both commit, so a cursor is never given twice, and an event
//! is visible exactly when the head that counts it is: a reader who sees head `h` finds every
//! event up to `h` (unless it expired). A marker (`EVTID#<event id>`) keeps a redelivered change
//! out of the log: its transaction fails on the marker, and the change keeps the cursor it got.

use crate::event::{Change, Event, Guard, Reader, Subscription};
use crate::kinds;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use hub_shared::auth::OrgId;
use hub_shared::error::{AppError, AppResult};
use hub_shared::store::attr::{Item, get_n, get_s, n, s};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

/// How long every event stays in the log for clients that reconnect.
pub const EVENT_RETENTION_SECS: i64 = 24 * 3600;
/// A marker outlives its event by an hour: Lambda stops redelivering a stream record 24 hours
/// after it was written (`MaximumRecordAgeInSeconds`), so a marker is there for every redelivery.
const MARKER_RETENTION_SECS: i64 = EVENT_RETENTION_SECS + 3600;
/// API Gateway closes every WebSocket connection after 2 hours; a connection item whose
/// `$disconnect` never came is ignored after that (and swept by TTL).
pub const CONNECTION_LIFETIME_SECS: i64 = 2 * 3600;
/// Events per log transaction: each takes two items (event, marker), the head one more, within
/// DynamoDB's 100 items.
const EVENTS_PER_TRANSACTION: usize = 49;
/// Attempts to log a batch that keeps losing the head to another writer.
const ATTEMPTS: u32 = 8;

const HEAD: &str = "HEAD";

fn pk(org: OrgId) -> String {
    format!("ORG#{org}")
}

fn event_sk(cursor: u64) -> String {
    // Fixed width, so the sort order of the keys is the order of the cursors.
    format!("EVT#{cursor:020}")
}

fn marker_sk(event_id: Uuid) -> String {
    format!("EVTID#{event_id}")
}

fn connection_sk(connection_id: &str) -> String {
    format!("CONN#{connection_id}")
}

const CONNECTION_PREFIX: &str = "CONN#";

fn ticket_sk(hash: &str) -> String {
    format!("TICKET#{hash}")
}

fn storage<E: std::fmt::Debug>(what: &'static str) -> impl FnOnce(E) -> AppError {
    move |e| AppError::internal(format!("realtime table, {what}: {e:?}"))
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn get_list(item: &Item, name: &str) -> Vec<String> {
    match item.get(name) {
        Some(AttributeValue::L(values)) => values.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
        _ => Vec::new(),
    }
}

fn list(values: impl IntoIterator<Item = String>) -> AttributeValue {
    AttributeValue::L(values.into_iter().map(AttributeValue::S).collect())
}

fn expired(item: &Item, now: i64) -> bool {
    get_n::<i64>(item, "expires_at").is_some_and(|at| at <= now)
}

/// A connection as recorded at `$connect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub reader: Reader,
    pub subscription: Subscription,
}

impl Connection {
    /// Past API Gateway's two hours, or past the token that opened it: it must hear nothing
    /// more, and is closed so its client reconnects with a fresh token.
    pub fn expired(&self, now: i64) -> bool {
        self.reader.expires_at <= now
    }
}

/// What a spent ticket held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub reader: Reader,
}

/// The table, for the realtime functions.
#[derive(Clone, Debug)]
pub struct RealtimeTable {
    client: Client,
    table: String,
    requests: std::sync::Arc<Requests>,
}

/// DynamoDB requests made through one [`RealtimeTable`] (its clones included), for the
/// fan-out's log line and the bench: the cost of a batch is counted, not assumed.
#[derive(Debug, Default)]
pub struct Requests {
    pub reads: AtomicU64,
    pub writes: AtomicU64,
}

impl Requests {
    /// `(reads, writes)` so far.
    pub fn snapshot(&self) -> (u64, u64) {
        (self.reads.load(Ordering::Relaxed), self.writes.load(Ordering::Relaxed))
    }
}

impl RealtimeTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), requests: Default::default() }
    }

    pub fn from_env(env: &hub_shared::config::Env) -> Result<Self, hub_shared::config::ConfigError> {
        let sdk = hub_shared::aws::sdk_config()?;
        Ok(Self::new(hub_shared::aws::dynamodb(&sdk), env.required("HUB_REALTIME_TABLE")?))
    }

    pub fn requests(&self) -> &Requests {
        &self.requests
    }

    fn read(&self) {
        self.requests.reads.fetch_add(1, Ordering::Relaxed);
    }

    fn wrote(&self) {
        self.requests.writes.fetch_add(1, Ordering::Relaxed);
    }

    fn key(org: OrgId, sk: String) -> Item {
        HashMap::from([("pk".to_string(), s(pk(org))), ("sk".to_string(), s(sk))])
    }

    // ---- tickets -------------------------------------------------------------------------

    /// Stores a ticket's hash with who it admits, until `expires_at`.
    #[tracing::instrument(skip_all, err)]
    pub async fn put_ticket(&self, reader: &Reader, hash: &str, expires_at: i64) -> AppResult<()> {
        let mut item = Self::key(reader.org, ticket_sk(hash));
        item.insert("item_type".into(), s("ticket"));
        item.insert("user_id".into(), s(reader.user_id.to_string()));
        item.insert("roles".into(), list(reader.roles.iter().cloned()));
        item.insert("token_expires_at".into(), n(reader.expires_at));
        item.insert("expires_at".into(), n(expires_at));
        self.wrote();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(sk)")
            .send()
            .await
            .map_err(storage("put ticket"))?;
        Ok(())
    }

    /// Spends a ticket: one conditional delete, so two connections racing with one ticket
    /// cannot both get it. `None`: no such ticket, already spent, or expired.
    #[tracing::instrument(skip_all, err)]
    pub async fn spend_ticket(&self, org: OrgId, hash: &str) -> AppResult<Option<Grant>> {
        self.wrote();
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(org, ticket_sk(hash))))
            .condition_expression("attribute_exists(sk) AND expires_at > :now")
            .expression_attribute_values(":now", n(now_secs()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => return Ok(None),
            Err(e) => return Err(storage("spend ticket")(e)),
        };
        let user_id = get_s(&old, "user_id").and_then(|u| Uuid::parse_str(u).ok());
        let expires_at = get_n(&old, "token_expires_at");
        Ok(user_id.zip(expires_at).map(|(user_id, expires_at)| Grant {
            reader: Reader { org, user_id, roles: get_list(&old, "roles"), expires_at },
        }))
    }

    // ---- connections ---------------------------------------------------------------------

    #[tracing::instrument(skip_all, err)]
    pub async fn put_connection(&self, connection_id: &str, reader: &Reader) -> AppResult<()> {
        let mut item = Self::key(reader.org, connection_sk(connection_id));
        item.insert("item_type".into(), s("connection"));
        item.insert("user_id".into(), s(reader.user_id.to_string()));
        item.insert("roles".into(), list(reader.roles.iter().cloned()));
        item.insert("connected_at".into(), s(hub_shared::domain::Timestamp::now().to_string()));
        item.insert("expires_at".into(), n((now_secs() + CONNECTION_LIFETIME_SECS).min(reader.expires_at)));
        self.wrote();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(storage("put connection"))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, err)]
    pub async fn delete_connection(&self, org: OrgId, connection_id: &str) -> AppResult<()> {
        self.wrote();
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(org, connection_sk(connection_id))))
            .send()
            .await
            .map_err(storage("delete connection"))?;
        Ok(())
    }

    /// Replaces a live connection's subscription; `false` when the connection is gone.
    #[tracing::instrument(skip_all, err)]
    pub async fn set_subscription(
        &self,
        org: OrgId,
        connection_id: &str,
        subscription: &Subscription,
    ) -> AppResult<bool> {
        self.wrote();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(org, connection_sk(connection_id))))
            .update_expression("SET entities = :entities, ids = :ids")
            .condition_expression("attribute_exists(sk)")
            .expression_attribute_values(":entities", list(subscription.entities.iter().cloned()))
            .expression_attribute_values(":ids", list(subscription.ids.iter().map(Uuid::to_string)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(storage("set subscription")(e)),
        }
    }

    fn connection_from(org: OrgId, item: &Item) -> Option<Connection> {
        let id = get_s(item, "sk")?.strip_prefix(CONNECTION_PREFIX)?.to_string();
        let user_id = get_s(item, "user_id").and_then(|u| Uuid::parse_str(u).ok())?;
        let ids = get_list(item, "ids").iter().filter_map(|i| Uuid::parse_str(i).ok()).collect();
        Some(Connection {
            id,
            reader: Reader { org, user_id, roles: get_list(item, "roles"), expires_at: get_n(item, "expires_at")? },
            subscription: Subscription { entities: get_list(item, "entities"), ids },
        })
    }

    /// One item of the organization, read consistently.
    async fn get(&self, org: OrgId, sk: String, what: &'static str) -> AppResult<Option<Item>> {
        self.read();
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(org, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(storage(what))?;
        Ok(out.item)
    }

    /// One connection as recorded (expired or not), if it is.
    #[tracing::instrument(skip_all, err)]
    pub async fn connection(&self, org: OrgId, connection_id: &str) -> AppResult<Option<Connection>> {
        let item = self.get(org, connection_sk(connection_id), "get connection").await?;
        Ok(item.and_then(|i| Self::connection_from(org, &i)))
    }

    /// Every connection of the organization, expired ones included (see
    /// [`Connection::expired`]): one Query of its partition (pages of 1 MB, about 5,000
    /// connections each), never a Scan.
    #[tracing::instrument(skip_all, err)]
    pub async fn connections(&self, org: OrgId) -> AppResult<Vec<Connection>> {
        let items = self
            .query(org, "pk = :pk AND begins_with(sk, :from)", CONNECTION_PREFIX.to_string(), None, "query connections")
            .await?;
        Ok(items.iter().filter_map(|i| Self::connection_from(org, i)).collect())
    }

    /// Every item of the organization's partition whose key starts with `from` (`to`: none) or
    /// lies between `from` and `to`, following the Query's pages.
    async fn query(
        &self,
        org: OrgId,
        condition: &str,
        from: String,
        to: Option<String>,
        what: &'static str,
    ) -> AppResult<Vec<Item>> {
        let mut values = HashMap::from([(":pk".to_string(), s(pk(org))), (":from".to_string(), s(from))]);
        if let Some(to) = to {
            values.insert(":to".to_string(), s(to));
        }
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            self.read();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .set_expression_attribute_values(Some(values.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(storage(what))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    // ---- the event log -------------------------------------------------------------------

    /// The last cursor given in the organization (0: none yet).
    #[tracing::instrument(skip_all, err)]
    pub async fn head(&self, org: OrgId) -> AppResult<u64> {
        let item = self.get(org, HEAD.to_string(), "get head").await?;
        Ok(item.as_ref().and_then(|i| get_n(i, "seq")).unwrap_or(0))
    }

    /// Logs `changes` (all of `org`, in commit order) and returns their events in the same
    /// order: new changes get the next cursors; a change logged before (a redelivery) gets
    /// back the cursor it was given then.
    #[tracing::instrument(skip_all, fields(org = %org, changes = changes.len()), err)]
    pub async fn append(&self, org: OrgId, changes: &[Change]) -> AppResult<Vec<Event>> {
        let mut events: Vec<Option<Event>> = vec![None; changes.len()];
        let mut attempts = 0;
        loop {
            let pending: Vec<usize> = (0..changes.len()).filter(|i| events[*i].is_none()).collect();
            let Some(chunk) = pending.chunks(EVENTS_PER_TRANSACTION).next() else {
                return Ok(events.into_iter().flatten().collect());
            };
            let head = self.head(org).await?;
            match self.log_chunk(org, head, chunk.iter().map(|&i| &changes[i])).await? {
                Logged::Done => {
                    for (offset, &i) in chunk.iter().enumerate() {
                        events[i] = Some(Event::logged(&changes[i], head + 1 + offset as u64));
                    }
                }
                Logged::Seen(seen) => {
                    // Redelivered changes: take their logged cursors, then log the rest.
                    for offset in seen {
                        let i = chunk[offset];
                        let cursor = self.marker_cursor(org, changes[i].event_id).await?;
                        events[i] = Some(Event::logged(&changes[i], cursor));
                    }
                }
                Logged::Lost => {
                    attempts += 1;
                    if attempts >= ATTEMPTS {
                        return Err(AppError::unavailable("the event log stayed contended; the stream will retry"));
                    }
                    tokio::time::sleep(Duration::from_millis(10 << attempts.min(6))).await;
                }
            }
        }
    }

    async fn marker_cursor(&self, org: OrgId, event_id: Uuid) -> AppResult<u64> {
        self.get(org, marker_sk(event_id), "get event marker")
            .await?
            .as_ref()
            .and_then(|i| get_n(i, "cursor"))
            .ok_or_else(|| AppError::internal("an event marker failed its condition but cannot be read"))
    }

    async fn log_chunk<'a>(&self, org: OrgId, head: u64, chunk: impl Iterator<Item = &'a Change>) -> AppResult<Logged> {
        let now = now_secs();
        let put = |item: Item, condition: &str| -> AppResult<TransactWriteItem> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition)
                .build()
                .map_err(storage("build put"))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let mut items = Vec::new();
        let mut count = 0u64;
        for change in chunk {
            count += 1;
            let cursor = head + count;
            let event = Event::logged(change, cursor);
            let mut item = Self::key(org, event_sk(cursor));
            item.insert("item_type".into(), s("event"));
            item.insert("message".into(), s(event.message));
            item.insert("entity".into(), s(change.kind.entity));
            item.insert("record_id".into(), s(change.id.to_string()));
            item.insert("guard".into(), s(change.guard.to_json().to_string()));
            item.insert("expires_at".into(), n(now + EVENT_RETENTION_SECS));
            items.push(put(item, "attribute_not_exists(sk)")?);
            let mut marker = Self::key(org, marker_sk(change.event_id));
            marker.insert("item_type".into(), s("event_marker"));
            marker.insert("cursor".into(), n(cursor));
            marker.insert("expires_at".into(), n(now + MARKER_RETENTION_SECS));
            items.push(put(marker, "attribute_not_exists(sk)")?);
        }
        let mut head_item = Self::key(org, HEAD.to_string());
        head_item.insert("item_type".into(), s("event_head"));
        head_item.insert("seq".into(), n(head + count));
        let head_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(head_item))
            .condition_expression(if head == 0 { "attribute_not_exists(seq) OR seq = :head" } else { "seq = :head" })
            .expression_attribute_values(":head", n(head))
            .build()
            .map_err(storage("build head put"))?;
        items.push(TransactWriteItem::builder().put(head_put).build());

        self.wrote();
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        let err = match result {
            Ok(_) => return Ok(Logged::Done),
            Err(err) => err,
        };
        if let SdkError::ServiceError(service) = &err
            && let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err()
        {
            let reasons = cancelled.cancellation_reasons();
            let failed = |index: usize| reasons.get(index).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
            // Items are [event, marker] per change, then the head.
            let seen: Vec<usize> = (0..count as usize).filter(|c| failed(2 * c + 1)).collect();
            if !seen.is_empty() {
                return Ok(Logged::Seen(seen));
            }
            // The head moved, or (the same race seen first on another item) an event key at a
            // cursor another writer just took: read the head again.
            let event_taken = (0..count as usize).any(|c| failed(2 * c));
            if failed(2 * count as usize)
                || event_taken
                || reasons.iter().any(|r| r.code() == Some("TransactionConflict"))
            {
                return Ok(Logged::Lost);
            }
        }
        Err(storage("log events")(err))
    }

    /// The events after `since` up to `head`, in order; `None` when one of them is no longer
    /// kept (expired, or swept), so the reader must refetch.
    #[tracing::instrument(skip_all, fields(org = %org, since, head), err)]
    pub async fn events_between(&self, org: OrgId, since: u64, head: u64) -> AppResult<Option<Vec<Event>>> {
        let now = now_secs();
        let (from, to) = (event_sk(since + 1), Some(event_sk(head)));
        let items = self.query(org, "pk = :pk AND sk BETWEEN :from AND :to", from, to, "query events").await?;
        let mut events = Vec::with_capacity(items.len());
        for item in &items {
            let expected = since + 1 + events.len() as u64;
            let Some(event) = Self::event_from(item).filter(|e| e.cursor == expected && !expired(item, now)) else {
                return Ok(None);
            };
            events.push(event);
        }
        Ok((events.len() as u64 == head - since).then_some(events))
    }

    fn event_from(item: &Item) -> Option<Event> {
        let cursor = get_s(item, "sk")?.strip_prefix("EVT#")?.parse().ok()?;
        let kind = kinds::by_entity(get_s(item, "entity")?)?;
        let id = Uuid::parse_str(get_s(item, "record_id")?).ok()?;
        let guard = get_s(item, "guard")
            .and_then(|g| serde_json::from_str(g).ok())
            .map(|g| Guard::from_json(&g))
            .unwrap_or_default();
        Some(Event { cursor, kind, id, guard, message: get_s(item, "message")?.to_string() })
    }
}

enum Logged {
    Done,
    /// These offsets of the chunk were logged before.
    Seen(Vec<usize>),
    /// Another writer moved the head first.
    Lost,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_sort_as_their_cursors() {
        let mut keys: Vec<String> = [10u64, 9, 100, 1, u64::MAX].iter().map(|c| event_sk(*c)).collect();
        keys.sort();
        assert_eq!(keys, [1u64, 9, 10, 100, u64::MAX].iter().map(|c| event_sk(*c)).collect::<Vec<_>>());
    }
}
