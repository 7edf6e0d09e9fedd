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
use hub_shared::auth::OrgId;
use hub_shared::domain::Date;
use hub_shared::error::AppResult;
use hub_shared::store::{Due, Entity, Record, Store};
use serde::Serialize;
use uuid::Uuid;

/// Tries per record when a step fails for a reason that may pass ([`AppError::is_transient`]).
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
        let mut attempt = 1;
        let acted = loop {
            let acted = match due.kind.as_str() {
                Contact::KIND => contact(store, erasure, &by, &due, today, &mut report).await,
                Document::KIND => document(store, erasure, &by, &due, today, &mut report).await,
                _ => Ok(false),
            };
            // A concurrent write or a dependency that blinked: the record is re-read and the
            // step retried, so one busy moment does not leave a person unerased for a day.
            match acted {
                Err(error) if error.is_transient() && attempt < ATTEMPTS => {
                    tracing::warn!(kind = %due.kind, id = %due.id, attempt, error = %error, "retention retried for a record");
                    tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
                    attempt += 1;
                }
                other => break other,
            }
        };
        match acted {
            Ok(true) => {}
            Ok(false) => report.skipped += 1,
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

fn acted(org: OrgId, id: Uuid) -> Acted {
    Acted { organization_id: org.as_uuid(), id }
}

async fn contact(
    store: &Store,
    erasure: &Erasure,
    by: &By,
    due: &Due,
    today: Date,
    report: &mut RetentionReport,
) -> AppResult<bool> {
    let Some(record) = still_due::<Contact>(store, due, today).await? else { return Ok(false) };
    let erased = erase_contact(store, erasure, due.org, by, record).await?;
    report.file_versions_deleted += erased.file_versions_deleted;
    report.contacts_anonymized.push(acted(due.org, due.id));
    Ok(true)
}

async fn document(
    store: &Store,
    erasure: &Erasure,
    by: &By,
    due: &Due,
    today: Date,
    report: &mut RetentionReport,
) -> AppResult<bool> {
    let Some(record) = still_due::<Document>(store, due, today).await? else { return Ok(false) };
    report.file_versions_deleted += delete_file(erasure, due.org, by, &record, Action::Purge).await?;
    store.purge(due.org, &record).await?;
    report.documents_purged.push(acted(due.org, due.id));
    Ok(true)
}
