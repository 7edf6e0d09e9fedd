//! The `audit-stream` function's logic: one batch of business-table stream records in, one
//! audit record per change of a `record` item out, and the batch item failures Lambda needs.
//!
//! Records are processed in order. The first one that fails (storage error, or a `record` item
//! this code cannot read) stops the batch, and its sequence number is the one batch item failure
//! returned: Lambda then retries from it (with `ReportBatchItemFailures`), so nothing after it
//! is audited before it, and what came before it is not redone. A redelivered record maps to the
//! same audit item (its key derives from `eventID`) and adds nothing.

use crate::error::AuditError;
use crate::fields;
use crate::item::image_from_dynamodb_json;
use crate::keys::KeyCache;
use crate::model::{Action, Actor, AuditRecord, Outcome, Source};
use crate::rules::{self, EventKind};
use crate::writer::AuditWriter;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The `item_type` of the items that are audited; list entries, uniqueness markers,
/// idempotency keys and locks are internal.
pub const AUDITED_ITEM_TYPE: &str = "record";

/// One stream record, parsed.
#[derive(Debug, Clone)]
pub struct StreamChange {
    pub event_id: String,
    pub kind: EventKind,
    pub sequence_number: String,
    pub approximate_creation: DateTime<Utc>,
    pub old: Option<Map<String, Value>>,
    pub new: Option<Map<String, Value>>,
}

fn malformed(what: impl Into<String>) -> AuditError {
    AuditError::Malformed(what.into())
}

fn image<T: serde::Serialize>(item: &T) -> Result<Option<Map<String, Value>>, AuditError> {
    let json = serde_json::to_value(item).map_err(|e| malformed(format!("image: {e}")))?;
    Ok(json.as_object().filter(|m| !m.is_empty()).map(image_from_dynamodb_json))
}

/// Parses one record of a DynamoDB stream event, as Lambda delivers it.
pub fn parse(raw: &Value) -> Result<StreamChange, AuditError> {
    let record: EventRecord =
        serde_json::from_value(raw.clone()).map_err(|e| malformed(format!("stream record: {e}")))?;
    let kind = EventKind::parse(&record.event_name)
        .ok_or_else(|| malformed(format!("unknown eventName {}", record.event_name)))?;
    let sequence_number =
        record.change.sequence_number.clone().ok_or_else(|| malformed("a stream record without SequenceNumber"))?;
    if record.event_id.is_empty() {
        return Err(malformed("a stream record without eventID"));
    }
    Ok(StreamChange {
        event_id: record.event_id.clone(),
        kind,
        sequence_number,
        approximate_creation: record.change.approximate_creation_date_time,
        old: image(&record.change.old_image)?,
        new: image(&record.change.new_image)?,
    })
}

fn uuid_of(image: Option<&Map<String, Value>>, field: &str) -> Option<Uuid> {
    image.and_then(|i| i.get(field)).and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
}

/// The audit record of one change; `None` for items that are not audited.
pub fn to_audit(change: &StreamChange) -> Result<Option<AuditRecord>, AuditError> {
    let (old, new) = (change.old.as_ref(), change.new.as_ref());
    let image = new.or(old).ok_or_else(|| malformed("a stream record without images (NEW_AND_OLD_IMAGES needed)"))?;
    if image.get("item_type").and_then(Value::as_str) != Some(AUDITED_ITEM_TYPE) {
        return Ok(None);
    }
    let kind = image.get("entity").and_then(Value::as_str).ok_or_else(|| malformed("a record without entity"))?;
    let id = image.get("id").and_then(Value::as_str).ok_or_else(|| malformed("a record without id"))?;
    let org = uuid_of(Some(image), "organization_id").ok_or_else(|| malformed("a record without organization_id"))?;

    let action = rules::action(change.kind, old, new);
    let changes = rules::diff(action, old, new);
    let risk = rules::change_risk(kind, action, &changes, old, new);
    let actor = match action {
        // Only retention removes records; the last writer did not purge it.
        Action::Purge => None,
        Action::Delete => uuid_of(new, "deleted_by").or_else(|| uuid_of(new, "updated_by")),
        _ => uuid_of(new, "updated_by"),
    };
    let version = image.get("version").and_then(Value::as_u64);
    // The writer's own millisecond stamp orders a record's changes; the stream's approximate
    // time has only second precision. A purge has no new image: the stream's time, but always
    // after the last write (a millisecond after it when the coarse stream time is not later),
    // so a record's trail never shows its purge before its last change.
    let stamped = |image: Option<&Map<String, Value>>| {
        image
            .and_then(|i| i.get("updated_at"))
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let occurred_at = match action {
        Action::Purge => stamped(old).map_or(change.approximate_creation, |last| {
            change.approximate_creation.max(last + chrono::Duration::milliseconds(1))
        }),
        _ => stamped(new).unwrap_or(change.approximate_creation),
    };
    Ok(Some(AuditRecord {
        audit_id: change.event_id.clone(),
        organization_id: org,
        occurred_at,
        action,
        risk,
        resource_type: kind.to_string(),
        resource_id: Some(id.to_string()),
        resource_ids: Vec::new(),
        // The nil id is the platform's own writes (retention's anonymizations): `system`.
        actor: actor.filter(|u| !u.is_nil()).map(Actor::User).unwrap_or(Actor::System),
        outcome: Outcome::Success,
        changes,
        subject_before: old.and_then(|o| fields::subject(kind, o)),
        subject_after: new.and_then(|n| fields::subject(kind, n)),
        version,
        source: Source::Stream { event_id: change.event_id.clone(), sequence_number: change.sequence_number.clone() },
    }))
}

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub written: usize,
    pub duplicates: usize,
    pub skipped: usize,
    /// The sequence number of the record that failed; records after it were not processed.
    pub failed_at: Option<String>,
}

/// What processing one stream record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// It changed the destination (an audit record written, counters moved).
    Written,
    /// It had been applied before (a redelivery): nothing changed.
    Duplicate,
    /// Not a record this consumer handles.
    Skipped,
}

impl BatchOutcome {
    /// Counts one record's result, in order. A failure stops the batch: `Ok(true)` (stop) with
    /// its sequence number kept as the one batch item failure, so Lambda retries from it; or,
    /// when the record has no sequence number to report, the error itself, so Lambda retries
    /// (and bisects) the whole batch. Shared by every stream consumer.
    pub fn count<E: std::fmt::Display>(&mut self, raw: &Value, result: Result<Applied, E>) -> Result<bool, E> {
        match result {
            Ok(Applied::Written) => self.written += 1,
            Ok(Applied::Duplicate) => self.duplicates += 1,
            Ok(Applied::Skipped) => self.skipped += 1,
            Err(error) => {
                let event_id = raw.get("eventID").and_then(Value::as_str).unwrap_or("");
                let Some(seq) = raw.pointer("/dynamodb/SequenceNumber").and_then(Value::as_str) else {
                    tracing::error!(event_id, error = %error, "stream record failed and has no sequence number");
                    return Err(error);
                };
                tracing::error!(event_id, sequence_number = seq, error = %error, "stream record failed; retrying from it");
                self.failed_at = Some(seq.to_string());
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The one log line of a batch.
    pub fn log(&self, records: usize) {
        tracing::info!(
            records,
            written = self.written,
            duplicates = self.duplicates,
            skipped = self.skipped,
            failed = self.failed_at.is_some(),
            "batch done"
        );
    }

    /// The answer Lambda reads (`{"batchItemFailures": [{"itemIdentifier": seq}]}`).
    pub fn response(&self) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        if let Some(seq) = &self.failed_at {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(seq.clone());
            response.batch_item_failures.push(failure);
        }
        response
    }
}

/// Processes one event (`{"Records": [...]}`); see the module doc. An error (rather than a
/// reported failure) only when a failing record has no sequence number to report: Lambda then
/// retries, and bisects, the whole batch.
pub async fn handle(writer: &AuditWriter, event: &Value) -> Result<BatchOutcome, AuditError> {
    let records =
        event.get("Records").and_then(Value::as_array).ok_or_else(|| malformed("an event without Records"))?;
    let mut outcome = BatchOutcome::default();
    let mut keys = KeyCache::new();
    for raw in records {
        // Boxed: the SDK's futures nest deep enough to overflow the compiler's layout limit.
        let result = Box::pin(async {
            let change = parse(raw)?;
            match to_audit(&change)? {
                Some(record) => writer.write_cached(&record, &mut keys).await.map(Some),
                None => Ok(None),
            }
        })
        .await;
        let result = result.map(|written| match written {
            Some(crate::writer::Written::Created) => Applied::Written,
            Some(crate::writer::Written::Duplicate) => Applied::Duplicate,
            None => Applied::Skipped,
        });
        if outcome.count(raw, result)? {
            break;
        }
    }
    outcome.log(records.len());
    Ok(outcome)
}
