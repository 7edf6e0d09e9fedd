//! The `realtime-fanout` function: a batch of the business table's stream in; each change of a
//! record logged as an event of its organization, then sent to every open connection of that
//! organization whose reader may read the record and whose subscription takes it.
//!
//! - **Reads.** Per organization in the batch: one `GetItem` of the log's head, one
//!   `TransactWriteItems` per 49 events, one `Query` of its connections: per batch, not per
//!   change. Nothing is ever read across organizations.
//! - **Order.** Events are logged in commit order (an organization's records share one partition
//!   key, so its changes come in order from one shard) and each connection gets its events one
//!   after the other; connections are served concurrently, [`CONCURRENT_POSTS`] at a time.
//! - **At least once.** Logging comes before sending: a batch that fails is retried by Lambda
//!   (from the first record not logged) and its events keep their cursors, so a client may get
//!   an event twice, never a different one. A `410 Gone` removes that connection's item; a post
//!   that still fails after the SDK's retries closes the connection, so its client reconnects
//!   and resumes from its cursor instead of missing the event silently.

use crate::event::{Change, Event, pack, read_record, to_change};
use crate::poster::{PostError, Poster};
use crate::table::{Connection, RealtimeTable};
use futures_util::StreamExt;
use hub_shared::auth::OrgId;
use hub_shared::error::AppError;
use serde_json::Value;

/// Connections served at once: enough to hide API Gateway's latency, few enough to stay inside
/// its management API's rate and the function's memory.
pub const CONCURRENT_POSTS: usize = 32;

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FanoutOutcome {
    pub changes: usize,
    pub events_logged: usize,
    /// Events delivered to connections, and the WebSocket messages that carried them.
    pub posted: usize,
    pub messages: usize,
    pub gone: usize,
    pub closed: usize,
    /// DynamoDB requests the batch made (`GetItem` and `Query`; writes and transactions).
    pub dynamodb_reads: u64,
    pub dynamodb_writes: u64,
    /// Lambda retries from this record (`ReportBatchItemFailures`).
    pub failed_at: Option<String>,
}

impl FanoutOutcome {
    pub fn response(&self) -> Value {
        match &self.failed_at {
            Some(seq) => serde_json::json!({ "batchItemFailures": [{ "itemIdentifier": seq }] }),
            None => serde_json::json!({ "batchItemFailures": [] }),
        }
    }
}

/// The changes of an event's records, grouped by organization in order of first appearance.
fn by_organization(changes: Vec<Change>) -> Vec<(OrgId, Vec<Change>)> {
    let mut groups: Vec<(OrgId, Vec<Change>)> = Vec::new();
    for change in changes {
        match groups.iter_mut().find(|(org, _)| *org == change.org) {
            Some((_, group)) => group.push(change),
            None => groups.push((change.org, vec![change])),
        }
    }
    groups
}

/// Processes one event (`{"Records": [...]}`); see the module doc. An error (rather than a
/// reported failure) only when the event itself cannot be read.
pub async fn handle(table: &RealtimeTable, poster: &Poster, event: &Value) -> Result<FanoutOutcome, AppError> {
    let records = event
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| AppError::internal("realtime stream: an event without Records"))?;
    let mut outcome = FanoutOutcome::default();
    let (reads_before, writes_before) = table.requests().snapshot();
    let mut changes = Vec::new();
    for raw in records {
        match read_record(raw).and_then(|record| record.map(|r| to_change(&r)).transpose()) {
            Ok(Some(Some(change))) => changes.push(change),
            Ok(_) => {}
            // Stop at a record this code cannot read: what precedes it goes out, and Lambda
            // retries from it (then bisects, then sends it to the dead-letter queue).
            Err(e) => match raw.pointer("/dynamodb/SequenceNumber").and_then(Value::as_str) {
                Some(seq) => {
                    tracing::error!(error = %e, sequence_number = seq, "unreadable stream record");
                    outcome.failed_at = Some(seq.to_string());
                    break;
                }
                None => return Err(e),
            },
        }
    }
    outcome.changes = changes.len();
    for (org, changes) in by_organization(changes) {
        // Boxed: the SDK's futures nest deeper than the compiler's layout limit otherwise.
        let events = match Box::pin(table.append(org, &changes)).await {
            Ok(events) => events,
            Err(e) => {
                // The earliest record of this organization's changes is retried, with all that
                // follows it (what was logged keeps its cursor).
                tracing::error!(error = %e, org = %org, "logging events failed");
                let first = changes.first().map(|c| c.sequence_number.clone());
                outcome.failed_at = earliest(outcome.failed_at.take(), first);
                continue;
            }
        };
        outcome.events_logged += events.len();
        let connections = match Box::pin(table.connections(org)).await {
            Ok(connections) => connections,
            Err(e) => {
                tracing::error!(error = %e, org = %org, "reading connections failed");
                let first = changes.first().map(|c| c.sequence_number.clone());
                outcome.failed_at = earliest(outcome.failed_at.take(), first);
                continue;
            }
        };
        let sent = Box::pin(deliver(table, poster, org, &connections, &events)).await;
        outcome.posted += sent.posted;
        outcome.messages += sent.messages;
        outcome.gone += sent.gone;
        outcome.closed += sent.closed;
    }
    let (reads, writes) = table.requests().snapshot();
    (outcome.dynamodb_reads, outcome.dynamodb_writes) = (reads - reads_before, writes - writes_before);
    tracing::info!(
        records = records.len(),
        changes = outcome.changes,
        events = outcome.events_logged,
        posted = outcome.posted,
        messages = outcome.messages,
        gone = outcome.gone,
        closed = outcome.closed,
        dynamodb_reads = outcome.dynamodb_reads,
        dynamodb_writes = outcome.dynamodb_writes,
        failed = outcome.failed_at.is_some(),
        "batch done"
    );
    Ok(outcome)
}

/// Stream sequence numbers are decimal strings of varying length: compare them as numbers.
fn earliest(a: Option<String>, b: Option<String>) -> Option<String> {
    let key = |s: &String| (s.len(), s.clone());
    match (a, b) {
        (Some(a), Some(b)) => Some(if key(&a) <= key(&b) { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[derive(Debug, Default)]
struct Sent {
    /// Events delivered, and the WebSocket messages that carried them.
    posted: usize,
    messages: usize,
    gone: usize,
    closed: usize,
}

/// Sends each connection the events it may hear, in order; see the module doc.
async fn deliver(
    table: &RealtimeTable,
    poster: &Poster,
    org: OrgId,
    connections: &[Connection],
    events: &[Event],
) -> Sent {
    let now = chrono::Utc::now().timestamp();
    let work = connections.iter().filter_map(|connection| {
        if connection.expired(now) {
            return Some((connection, Vec::new()));
        }
        let tenant = connection.reader.tenant();
        let mine: Vec<&Event> =
            events.iter().filter(|e| connection.subscription.takes(e) && e.readable_by(&tenant)).collect();
        (!mine.is_empty()).then_some((connection, mine))
    });
    let results: Vec<Sent> = futures_util::stream::iter(work)
        .map(|(connection, mine)| async move {
            let mut sent = Sent::default();
            if connection.expired(now) {
                sent.closed += 1;
                close(table, poster, org, &connection.id).await;
                return sent;
            }
            let messages = pack(mine.iter().map(|e| e.message.as_str()));
            for message in &messages {
                match poster.post(&connection.id, message).await {
                    Ok(()) => {
                        sent.posted += message.lines().count();
                        sent.messages += 1;
                    }
                    Err(PostError::Gone) => {
                        sent.gone += 1;
                        if let Err(e) = table.delete_connection(org, &connection.id).await {
                            tracing::warn!(error = %e, "could not forget a gone connection");
                        }
                        break;
                    }
                    Err(PostError::Failed(why)) => {
                        tracing::warn!(error = %why, "post failed; closing the connection so its client resumes");
                        sent.closed += 1;
                        close(table, poster, org, &connection.id).await;
                        break;
                    }
                }
            }
            sent
        })
        .buffer_unordered(CONCURRENT_POSTS)
        .collect()
        .await;
    results.into_iter().fold(Sent::default(), |mut all, one| {
        all.posted += one.posted;
        all.messages += one.messages;
        all.gone += one.gone;
        all.closed += one.closed;
        all
    })
}

/// Closes a connection at API Gateway (its client reconnects and resumes), then forgets it.
/// A connection that could not be closed stays recorded, so the next batch tries again: an
/// open socket must never be one that no batch reaches.
pub async fn close(table: &RealtimeTable, poster: &Poster, org: OrgId, connection_id: &str) {
    if let Err(e) = poster.close(connection_id).await {
        tracing::warn!(error = %e, "could not close the connection; the next batch will try again");
        return;
    }
    if let Err(e) = table.delete_connection(org, connection_id).await {
        tracing::warn!(error = %e, "could not forget a closed connection");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_sequence_number_is_the_numerically_smallest() {
        assert_eq!(earliest(Some("900".into()), Some("1000".into())), Some("900".into()));
        assert_eq!(earliest(Some("1000".into()), Some("900".into())), Some("900".into()));
        assert_eq!(earliest(None, Some("5".into())), Some("5".into()));
        assert_eq!(earliest(Some("5".into()), None), Some("5".into()));
    }
}
