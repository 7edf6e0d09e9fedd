//! The `analytics-stream` function's logic: one batch of business-table stream records in, each
//! change of a counted `record` item applied to its organization's counters exactly once
//! ([`crate::table`]), and the batch item failure Lambda needs.
//!
//! As `audit-stream` does: records are processed in order; the first that fails stops the
//! batch and its sequence number is the one failure reported, so Lambda retries from it
//! (`ReportBatchItemFailures`), bisects a batch that keeps failing, and after bounded retries
//! sends the records' coordinates to the dead-letter queue. What came before it is not redone,
//! and were it redone (a redelivered batch), it would add nothing.

use crate::counters::{COUNTED_KINDS, Contribution, contribution};
use crate::table::{AnalyticsTable, Outcome, Position};
use hub_audit::stream::{Applied, BatchOutcome, StreamChange, parse};
use hub_shared::error::AppError;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The `item_type` of the items counted; list entries, markers, idempotency keys and locks are
/// copies or internals of records and are skipped, as `audit-stream` skips them.
pub const COUNTED_ITEM_TYPE: &str = "record";

/// What one stream record asks of the counters: apply `target` for this record at `position`.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub org: Uuid,
    pub kind: String,
    pub id: Uuid,
    pub position: Position,
    pub target: Contribution,
}

fn malformed(what: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("analytics stream: {what}"))
}

fn version(image: &Map<String, Value>) -> Result<u64, AppError> {
    image.get("version").and_then(Value::as_u64).ok_or_else(|| malformed("a record without version"))
}

/// The counter change of one stream record; `None` for items that are not counted.
pub fn to_change(change: &StreamChange) -> Result<Option<Change>, AppError> {
    let (old, new) = (change.old.as_ref(), change.new.as_ref());
    let image = new.or(old).ok_or_else(|| malformed("a stream record without images (NEW_AND_OLD_IMAGES needed)"))?;
    if image.get("item_type").and_then(Value::as_str) != Some(COUNTED_ITEM_TYPE) {
        return Ok(None);
    }
    let kind = image.get("entity").and_then(Value::as_str).ok_or_else(|| malformed("a record without entity"))?;
    if !COUNTED_KINDS.contains(&kind) {
        return Ok(None);
    }
    let uuid = |field: &str| {
        image
            .get(field)
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| malformed(format!("a record without {field}")))
    };
    let (org, id) = (uuid("organization_id")?, uuid("id")?);
    let (position, target) = match new {
        Some(new) => (Position { version: version(new)?, purged: false }, contribution(kind, new).map_err(malformed)?),
        // Removed (a purge): after its last version, contributing nothing.
        None => (Position { version: version(image)?, purged: true }, Contribution::default()),
    };
    Ok(Some(Change { org, kind: kind.to_string(), id, position, target }))
}

/// Processes one event (`{"Records": [...]}`); see the module doc. An error (rather than a
/// reported failure) only when a failing record has no sequence number to report: Lambda then
/// retries, and bisects, the whole batch.
pub async fn handle(table: &AnalyticsTable, event: &Value) -> Result<BatchOutcome, AppError> {
    let records =
        event.get("Records").and_then(Value::as_array).ok_or_else(|| malformed("an event without Records"))?;
    let mut outcome = BatchOutcome::default();
    for raw in records {
        // Boxed: the SDK's futures nest deep enough to overflow the compiler's layout limit.
        let result = Box::pin(async {
            let parsed = parse(raw).map_err(malformed)?;
            match to_change(&parsed)? {
                Some(c) => {
                    table.apply(c.org, &c.kind, c.id, c.position, &c.target, Some(&parsed.event_id)).await.map(Some)
                }
                None => Ok(None),
            }
        })
        .await;
        let result = result.map(|applied| match applied {
            Some(Outcome::Changed) => Applied::Written,
            Some(Outcome::Unchanged | Outcome::Stale) => Applied::Duplicate,
            None => Applied::Skipped,
        });
        if outcome.count(raw, result)? {
            break;
        }
    }
    outcome.log(records.len());
    Ok(outcome)
}
