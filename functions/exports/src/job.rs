//! The export job: its state, where its worker stands, and the items that hold it in the
//! business table.
//!
//! Items (DATA-DESIGN.md, "Exports"), in the organization's partition like every key:
//!
//! | `sk` | `item_type` | holds |
//! |---|---|---|
//! | `EXPORT#<id>` | `export` | `state`, `step` (commits so far), the lease (`lease_id`, `lease_until`), `data`: the [`Job`] as JSON |
//! | `EXPORT-CURRENT` | `export` | `export_id`: the organization's latest export, which a new one may not overlap |
//!
//! No entity's `KIND` starts with `EXPORT`, so the worker's `begins_with(sk, "<KIND>#")` reads
//! never meet these items, and stream consumers skip them (`item_type` is not `record`).
//!
//! **Exactly one worker at a time.** An invocation first takes the job's lease (a conditional
//! update: no lease, or one past its `lease_until`, which is the holder's Lambda deadline: a
//! holder cannot outlive it). Every commit of progress is conditioned on holding the lease at
//! the step read, so a duplicate message (SQS delivers at least once; a retried `SendMessage`
//! may send twice) finds the lease taken and does nothing, and a redelivery after a crash
//! starts again from the last commit: the part it redoes replaces the one uploaded before the
//! crash under the same part number, never adds to it.

use crate::sha::RunningSha256;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use hub_shared::auth::OrgId;
use hub_shared::domain::Timestamp;
use hub_shared::error::{AppError, AppResult};
use hub_shared::store::attr::{Item, get_n, get_s, n, s};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

pub const ITEM_EXPORT: &str = "export";
const CURRENT_SK: &str = "EXPORT-CURRENT";

/// An export that made no progress for this long is failed, whatever its item says: its
/// worker's last receive can die without marking it (a Lambda timeout), and then nothing else
/// will. Five receives (the queue's `maxReceiveCount`) of at most one visibility timeout (30
/// minutes) each fit well inside.
pub const STALE_AFTER_SECS: i64 = 3 * 3600;

/// How long the files stay in the bulk bucket: its lifecycle rule deletes objects 7 days after
/// they were written (template.yaml, `BulkBucket`). Counted from the export's start, when its
/// first file may be written, so no URL is ever signed for a file already gone.
pub const FILES_KEPT_DAYS: i64 = 7;

fn org_partition(org: OrgId) -> String {
    format!("ORG#{org}")
}

fn job_sort(id: Uuid) -> String {
    format!("EXPORT#{id}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Running,
    Done,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed)
    }
}

/// An uploaded part of the file in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub number: i32,
    pub etag: String,
}

/// How many records a file holds, and of which kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Every record in the file, deleted and erased ones included.
    pub records: u64,
    /// Records in the trash (`is_deleted`).
    pub deleted: u64,
    /// Records erased under RGPD (`anonymized_at` set).
    pub anonymized: u64,
}

/// Where the worker stands in the entity it is writing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The `sk` of the last record item already in an uploaded part; `None` at the start.
    pub after: Option<String>,
    /// Every record is in an uploaded part; what is left is completing the upload.
    pub read_all: bool,
    /// The multipart upload, once the file outgrew one part.
    pub upload_id: Option<String>,
    pub parts: Vec<Part>,
    pub counts: Counts,
    pub bytes: u64,
    pub sha256: RunningSha256,
}

/// A finished file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// `contacts`, `appointments`... or `manifest`.
    pub entity: String,
    pub key: String,
    pub counts: Counts,
    pub bytes: u64,
    pub sha256: String,
}

/// An export, as its item's `data` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub requested_by: Uuid,
    pub state: State,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub error: Option<String>,
    /// The entity files finished, in `crate::ENTITIES` order: the next one to write is
    /// `ENTITIES[files.len()]`.
    pub files: Vec<File>,
    pub cursor: Option<Cursor>,
    pub manifest: Option<File>,
}

impl Job {
    pub fn new(org: OrgId, requested_by: Uuid) -> Self {
        let now = Timestamp::now();
        Self {
            id: Uuid::new_v4(),
            organization_id: org.as_uuid(),
            requested_by,
            state: State::Pending,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            error: None,
            files: Vec::new(),
            cursor: None,
            manifest: None,
        }
    }

    pub fn org(&self) -> OrgId {
        OrgId::new(self.organization_id)
    }

    /// The state a reader is told at `now`: an unfinished export that stopped making progress
    /// is failed (see [`STALE_AFTER_SECS`]).
    pub fn effective_state(&self, now: Timestamp) -> State {
        let idle = now.as_datetime() - self.updated_at.as_datetime();
        if !self.state.is_final() && idle.num_seconds() > STALE_AFTER_SECS { State::Failed } else { self.state }
    }

    /// When the files are deleted by the bucket's lifecycle (see [`FILES_KEPT_DAYS`]).
    pub fn files_expire_at(&self) -> Option<Timestamp> {
        self.started_at.map(|at| Timestamp::from_datetime(at.as_datetime() + chrono::Duration::days(FILES_KEPT_DAYS)))
    }

    /// The S3 key of one of this export's files, under the organization's prefix.
    pub fn object_key(&self, file_name: &str) -> String {
        format!("org/{}/exports/{}/{file_name}", self.organization_id, self.id)
    }
}

/// A job as stored, with what its conditional writes compare.
#[derive(Debug, Clone)]
pub struct Stored {
    pub job: Job,
    pub step: u64,
}

/// A job whose lease this invocation holds.
#[derive(Debug)]
pub struct Held {
    pub job: Job,
    pub step: u64,
    lease: String,
}

/// The job items of the business table.
#[derive(Debug, Clone)]
pub struct Jobs {
    client: Client,
    table: String,
}

/// DynamoDB failures: throttling and unreachability are worth a retry (503, or the message's
/// redelivery); anything else is a 500 with its cause logged by the adapter.
fn storage<E, R>(what: &'static str) -> impl FnOnce(SdkError<E, R>) -> AppError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |err| {
        let retryable = matches!(err, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_))
            || matches!(err.code(), Some("ThrottlingException" | "ProvisionedThroughputExceededException"));
        if retryable {
            tracing::warn!(error = %DisplayErrorContext(&err), "export jobs: {what}");
            AppError::unavailable("storage is temporarily unavailable; retry shortly")
        } else {
            AppError::internal(format!("export jobs, {what}: {}", DisplayErrorContext(err)))
        }
    }
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err.code(), Some("ConditionalCheckFailedException" | "TransactionCanceledException"))
}

fn in_progress(id: Uuid) -> AppError {
    AppError::conflict(
        "EXPORT_IN_PROGRESS",
        format!("export {id} of this organization is still running; follow it, or wait until it ends"),
    )
}

impl Jobs {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn job_item(&self, job: &Job, step: u64) -> AppResult<Item> {
        let data = serde_json::to_string(job).map_err(AppError::internal)?;
        Ok(HashMap::from([
            ("pk".to_string(), s(org_partition(job.org()))),
            ("sk".to_string(), s(job_sort(job.id))),
            ("item_type".to_string(), s(ITEM_EXPORT)),
            ("state".to_string(), s(job.state.as_str())),
            ("step".to_string(), n(step)),
            ("data".to_string(), s(data)),
        ]))
    }

    /// A job by id, or `None` when this organization has none by that id.
    #[tracing::instrument(name = "exports.get", skip_all)]
    pub async fn get(&self, org: OrgId, id: Uuid) -> AppResult<Option<Stored>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(org_partition(org)))
            .key("sk", s(job_sort(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(storage("get"))?;
        let Some(item) = out.item.filter(|i| get_s(i, "item_type") == Some(ITEM_EXPORT)) else { return Ok(None) };
        let job: Job = get_s(&item, "data")
            .and_then(|d| serde_json::from_str(d).ok())
            .ok_or_else(|| AppError::internal(format!("export {id} does not decode")))?;
        let step = get_n(&item, "step").unwrap_or(0);
        Ok(Some(Stored { job, step }))
    }

    /// Stores a new pending job, unless another export of the organization is still running
    /// (409 `EXPORT_IN_PROGRESS`): the job and the organization's `EXPORT-CURRENT` pointer are
    /// written in one transaction, the pointer conditioned on the export it named when read, so
    /// two concurrent requests cannot both start one.
    #[tracing::instrument(name = "exports.create", skip_all)]
    pub async fn create(&self, job: &Job) -> AppResult<()> {
        let org = job.org();
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(org_partition(org)))
            .key("sk", s(CURRENT_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(storage("get current"))?;
        let current = out.item.as_ref().and_then(|i| get_s(i, "export_id")).and_then(|raw| Uuid::parse_str(raw).ok());
        if let Some(current) = current
            && let Some(stored) = self.get(org, current).await?
            && !stored.job.effective_state(Timestamp::now()).is_final()
        {
            return Err(in_progress(current));
        }
        let pointer: Item = HashMap::from([
            ("pk".to_string(), s(org_partition(org))),
            ("sk".to_string(), s(CURRENT_SK)),
            ("item_type".to_string(), s(ITEM_EXPORT)),
            ("export_id".to_string(), s(job.id.to_string())),
        ]);
        let pointer = match current {
            None => Put::builder().condition_expression("attribute_not_exists(pk)"),
            Some(seen) => Put::builder()
                .condition_expression("export_id = :seen")
                .expression_attribute_values(":seen", s(seen.to_string())),
        }
        .table_name(&self.table)
        .set_item(Some(pointer))
        .build()
        .map_err(AppError::internal)?;
        let record = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.job_item(job, 0)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(AppError::internal)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(record).build())
            .transact_items(TransactWriteItem::builder().put(pointer).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Another request started one between our read and our write.
            Err(err) if is_condition_failure(&err) => Err(AppError::conflict(
                "EXPORT_IN_PROGRESS",
                "another export of this organization was started at the same moment; follow it",
            )),
            Err(err) => Err(storage("create")(err)),
        }
    }

    /// Takes the job's lease until `lease_until` (epoch milliseconds; the invocation's
    /// deadline) and marks it running. `None` when it is finished, or another invocation holds
    /// an unexpired lease or committed since `stored` was read: this one has nothing to do.
    #[tracing::instrument(name = "exports.claim", skip_all)]
    pub async fn claim(&self, stored: Stored, lease_until: i64) -> AppResult<Option<Held>> {
        if stored.job.state.is_final() {
            return Ok(None);
        }
        let mut job = stored.job;
        let now = Timestamp::now();
        job.state = State::Running;
        job.started_at.get_or_insert(now);
        job.updated_at = now;
        let lease = Uuid::new_v4().to_string();
        let data = serde_json::to_string(&job).map_err(AppError::internal)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(org_partition(job.org())))
            .key("sk", s(job_sort(job.id)))
            .update_expression("SET #state = :running, lease_id = :lease, lease_until = :until, #data = :data")
            .condition_expression(
                "step = :step AND #state IN (:pending, :running) \
                 AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#data", "data")
            .expression_attribute_values(":running", s(State::Running.as_str()))
            .expression_attribute_values(":pending", s(State::Pending.as_str()))
            .expression_attribute_values(":lease", s(&lease))
            .expression_attribute_values(":until", n(lease_until))
            .expression_attribute_values(":data", s(data))
            .expression_attribute_values(":step", n(stored.step))
            .expression_attribute_values(":now", n(now.as_datetime().timestamp_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(Held { job, step: stored.step, lease })),
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(storage("claim")(err)),
        }
    }

    /// Commits the held job's progress (one step more), and gives the lease back when `release`.
    /// Fails (500) if the lease was lost, which a holder within its deadline cannot see.
    #[tracing::instrument(name = "exports.commit", skip_all, fields(step = held.step))]
    pub async fn commit(&self, held: &mut Held, release: bool) -> AppResult<()> {
        held.job.updated_at = Timestamp::now();
        let data = serde_json::to_string(&held.job).map_err(AppError::internal)?;
        let update = if release {
            "SET #state = :state, #data = :data, step = :next REMOVE lease_id, lease_until"
        } else {
            "SET #state = :state, #data = :data, step = :next"
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(org_partition(held.job.org())))
            .key("sk", s(job_sort(held.job.id)))
            .update_expression(update)
            .condition_expression("step = :step AND lease_id = :lease")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#data", "data")
            .expression_attribute_values(":state", s(held.job.state.as_str()))
            .expression_attribute_values(":data", s(data))
            .expression_attribute_values(":next", n(held.step + 1))
            .expression_attribute_values(":step", n(held.step))
            .expression_attribute_values(":lease", s(&held.lease))
            .send()
            .await
            .map_err(storage("commit"))?;
        held.step += 1;
        Ok(())
    }

    /// Marks an unfinished job failed with `reason` (its worker gave up, or it could not be
    /// queued). Does nothing if it finished, or moved on since it was read: then it is alive.
    #[tracing::instrument(name = "exports.fail", skip_all)]
    pub async fn fail(&self, org: OrgId, id: Uuid, reason: &str) -> AppResult<()> {
        let Some(stored) = self.get(org, id).await? else { return Ok(()) };
        if stored.job.state.is_final() {
            return Ok(());
        }
        let mut job = stored.job;
        let now = Timestamp::now();
        job.state = State::Failed;
        job.error = Some(reason.to_string());
        job.finished_at = Some(now);
        job.updated_at = now;
        let data = serde_json::to_string(&job).map_err(AppError::internal)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(org_partition(org)))
            .key("sk", s(job_sort(id)))
            .update_expression("SET #state = :failed, #data = :data, step = :next REMOVE lease_id, lease_until")
            .condition_expression("step = :step")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#data", "data")
            .expression_attribute_values(":failed", s(State::Failed.as_str()))
            .expression_attribute_values(":data", s(data))
            .expression_attribute_values(":next", n(stored.step + 1))
            .expression_attribute_values(":step", n(stored.step))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(storage("fail")(err)),
        }
    }
}
