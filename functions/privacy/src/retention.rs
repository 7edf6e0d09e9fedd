//! The daily retention run. Rules (README, "RGPD: consent, erasure, retention"):
//!
//! - a contact whose `data_retention_until` is before today, and not anonymized yet, is erased
//!   exactly as `POST /contacts/{id}/anonymize` would (its records, its documents' files, its
//!   audit data key), by `system`; it stays, anonymized, with its amounts (legal retention of
//!   accounts is a reason to keep those, not the person);
//! - a document whose `retention_until` is before today is purged: every S3 version of its
//!   file deleted (an explicit `purge` audit record), then the record hard-deleted with its list
//!   entries (the stream audits that `purge`);
//! - nothing else is touched: records not yet due, records without a date.
//!
//! What is due comes from the business table's sparse retention index (DATA-DESIGN.md): one
//! Query per shard, across organizations, never a Scan. Each record is re-read (consistently)
//! and re-checked before acting, and acted on in its own organization. A record whose step fails
//! for a passing reason (a concurrent write, a dependency unavailable) is retried up to
//! [`ATTEMPTS`] times; one that still fails is reported and the run goes on, and the invocation
//! then fails so the schedule retries it (what was done is not due any more) and, past its
//! retries, keeps the failed run in its dead-letter queue.

use crate::erase::{delete_file, erase_contact};
use crate::{By, Erasure};
use hub_contacts::Contact;
use hub_documents::Document;
use hub_shared::audit::{Action, Actor, RequestInfo};
use hub_shared::domain::Date;
use hub_shared::error::AppResult;
use hub_shared::store::{Due, Entity, Record, Store};
use serde::Serialize;
use uuid::Uuid;

/// Tries per record when a step fails for a reason that may pass ([`is_transient`](hub_shared::error::AppError::is_transient)).
pub const ATTEMPTS: u32 = 3;

/// One record retention acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acted {
    pub organization_id: Uuid,
    pub id: Uuid,
}

/// One record retention could not act on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    pub organization_id: Uuid,
    pub kind: String,
    pub id: Uuid,
    pub error: String,
}

/// What one run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionReport {
    /// Records before this day were due.
    pub as_of: Option<Date>,
    pub contacts_anonymized: Vec<Acted>,
    pub documents_purged: Vec<Acted>,
    pub file_versions_deleted: usize,
    /// Index items whose record was no longer due when re-read (already handled, or its date
    /// moved): left alone.
    pub skipped: usize,
    pub failures: Vec<Failed>,
}

/// Runs retention for records due before `today`. `run_id` (the invocation's request id) is
/// the request id of the audit records it writes itself.
#[tracing::instrument(name = "privacy.retention", skip_all, fields(%today))]
pub async fn run(store: &Store, erasure: &Erasure, today: Date, run_id: &str) -> AppResult<RetentionReport> {
    let by = By {
        actor: Actor::System,
        request: RequestInfo { request_id: format!("retention:{run_id}"), ..RequestInfo::default() },
    };
    let mut report = RetentionReport { as_of: Some(today), ..RetentionReport::default() };
    for due in store.due_for_retention(today).await? {
        // A concurrent write or a dependency that blinked: the record is re-read and the step
        // retried, so one busy moment does not leave a person unerased for a day.
        let outcome = retry_transient(ATTEMPTS, |attempt| {
            if attempt > 1 {
                tracing::warn!(kind = %due.kind, id = %due.id, attempt, "retention retried for a record");
            }
            act(store, erasure, &by, &due, today)
        })
        .await;
        match outcome {
            Ok(Some(done)) => {
                report.file_versions_deleted += done.file_versions_deleted;
                let list = if due.kind == Contact::KIND {
                    &mut report.contacts_anonymized
                } else {
                    &mut report.documents_purged
                };
                list.push(Acted { organization_id: due.org.as_uuid(), id: due.id });
            }
            Ok(None) => report.skipped += 1,
            Err(error) => {
                tracing::error!(kind = %due.kind, id = %due.id, org = %due.org, error = %error, "retention failed for a record");
                report.failures.push(Failed {
                    organization_id: due.org.as_uuid(),
                    kind: due.kind.clone(),
                    id: due.id,
                    error: error.to_string(),
                });
            }
        }
    }
    tracing::info!(
        contacts = report.contacts_anonymized.len(),
        documents = report.documents_purged.len(),
        files = report.file_versions_deleted,
        skipped = report.skipped,
        failures = report.failures.len(),
        "retention run done"
    );
    Ok(report)
}

/// The record an index item points at, re-read, if it is still due: the index is eventually
/// consistent, and the record may have been handled or had its date moved since.
async fn still_due<E: Entity>(store: &Store, due: &Due, today: Date) -> AppResult<Option<Record<E>>> {
    let record = store.get::<E>(due.org, due.id).await?;
    Ok(record.filter(|r| r.data.retention_date(&r.meta).is_some_and(|date| date < today)))
}

/// What acting on one due record did.
struct Done {
    file_versions_deleted: usize,
}

/// Acts on one due record: erases a contact, purges a document. `None`: no longer due.
async fn act(store: &Store, erasure: &Erasure, by: &By, due: &Due, today: Date) -> AppResult<Option<Done>> {
    match due.kind.as_str() {
        Contact::KIND => {
            let Some(record) = still_due::<Contact>(store, due, today).await? else { return Ok(None) };
            let erased = erase_contact(store, erasure, due.org, by, record).await?;
            Ok(Some(Done { file_versions_deleted: erased.file_versions_deleted }))
        }
        Document::KIND => {
            let Some(record) = still_due::<Document>(store, due, today).await? else { return Ok(None) };
            let file_versions_deleted = delete_file(erasure, due.org, by, &record, Action::Purge).await?;
            store.purge(due.org, &record).await?;
            Ok(Some(Done { file_versions_deleted }))
        }
        _ => Ok(None),
    }
}

/// Runs `step` (given its attempt number, from 1) until it succeeds, fails for good, or has
/// been tried `attempts` times; a failure that may pass ([`is_transient`](hub_shared::error::AppError::is_transient)) is retried
/// after a short pause that grows with each attempt.
pub async fn retry_transient<T, F, Fut>(attempts: u32, mut step: F) -> AppResult<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = AppResult<T>>,
{
    let mut attempt = 1;
    loop {
        match step(attempt).await {
            Err(error) if error.is_transient() && attempt < attempts => {
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_shared::error::AppError;
    use std::cell::Cell;

    fn run<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(future))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_step_that_fails_for_a_passing_reason_is_tried_again_and_others_are_not() {
        let calls = Cell::new(0);
        let flaky = run(retry_transient(ATTEMPTS, |attempt| {
            calls.set(calls.get() + 1);
            async move { if attempt < 3 { Err(AppError::unavailable("blink")) } else { Ok(attempt) } }
        }));
        assert_eq!((flaky.ok(), calls.get()), (Some(3), 3));

        calls.set(0);
        let broken = run(retry_transient(ATTEMPTS, |_| {
            calls.set(calls.get() + 1);
            async { Err::<u32, _>(AppError::internal("bug")) }
        }));
        assert_eq!((broken.map_err(|e| e.status()).err(), calls.get()), (Some(500), 1));

        calls.set(0);
        let down = run(retry_transient(ATTEMPTS, |_| {
            calls.set(calls.get() + 1);
            async { Err::<u32, _>(AppError::conflict("CONCURRENT_MODIFICATION", "moved")) }
        }));
        assert_eq!((down.map_err(|e| e.status()).err(), calls.get()), (Some(409), ATTEMPTS));
    }
}
