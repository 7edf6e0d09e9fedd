//! `exports-worker`: writes an export's files, a part at a time, across as many invocations as
//! it takes.
//!
//! The queue (`ExportQueue`, BatchSize 1) carries `{"organization_id", "export_id"}`. An
//! invocation takes the job's lease ([`crate::job`]), then repeats one unit of work and commits
//! it, until the job is done or its time budget is spent; then it gives the lease back and
//! sends the queue the export's next message (a continuation), which the next invocation picks
//! up. A unit is one of:
//!
//! - reading an entity's record items from where the last part ended until the buffer holds
//!   `part_bytes` (whole lines, whole Query pages), then uploading it as the next part of the
//!   file's multipart upload (a file smaller than one part is one `PutObject`); the part's
//!   number, ETag, the `sk` it ended after, the counts, the size and the running SHA-256 are
//!   committed together;
//! - completing the file's multipart upload, once everything is in a part;
//! - writing `manifest.json` and marking the export done.
//!
//! The budget is checked between units (a unit takes seconds, the budget minutes), and every
//! invocation does at least one, so an export always progresses. A unit redone after a crash
//! re-reads from the committed position and re-uploads the same part number: the file never
//! holds a line twice or misses one. A message that keeps failing comes back until its last
//! allowed receive, on which the job is marked `failed` (it would otherwise go to the
//! dead-letter queue with the export still `running`).

use crate::job::{Cursor, File, Held, Jobs, State};
use crate::records::{ENTITIES, Reader};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use hub_documents::files::s3_error;
use hub_shared::auth::OrgId;
use hub_shared::config::{ConfigError, Env};
use hub_shared::domain::Timestamp;
use hub_shared::error::{AppError, AppResult};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The queue's `maxReceiveCount` (template.yaml, `ExportQueue`'s RedrivePolicy): the receive
/// on which a failing export is marked failed instead of being retried.
pub const MAX_RECEIVES: u32 = 5;

/// S3's smallest part but the last is 5 MiB; 8 MiB keeps a part a few seconds of work and
/// the job item small (about 60 bytes a part: 6,000 parts, 48 GB, fit in its 400 KB).
pub const PART_BYTES: usize = 8 * 1024 * 1024;

/// An invocation's time budget: well under the worker's 300 s timeout, since the unit in
/// progress when it runs out is finished (a part: seconds).
pub const BUDGET: Duration = Duration::from_secs(120);

/// The worker's `Timeout` (template.yaml, `ExportsWorkerFunction`), for [`invocation_deadline`].
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(300);

/// The invocation's deadline (epoch milliseconds) that the lease and the budget count from.
///
/// Lambda's `Lambda-Runtime-Deadline-Ms` is an epoch time in the future. `cargo lambda watch`
/// (the local stack) sends the constant `600000` instead, which reads as 1970: the budget would
/// be nil (one unit of work per message) and the lease expired as soon as taken (a duplicate
/// message would work beside its holder). A deadline already past when the invocation starts
/// cannot be Lambda's, so the deadline Lambda would have given stands in for it: now plus the
/// function's timeout.
pub fn invocation_deadline(reported_ms: i64, now_ms: i64) -> i64 {
    if reported_ms > now_ms {
        reported_ms
    } else {
        now_ms.saturating_add(i64::try_from(FUNCTION_TIMEOUT.as_millis()).unwrap_or(i64::MAX))
    }
}

/// The manifest's `format`, so a consumer can tell later versions apart.
pub const FORMAT: &str = "hub-organization-export/1";

pub const NDJSON: &str = "application/x-ndjson";

/// The queue's message: which export to work on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub organization_id: Uuid,
    pub export_id: Uuid,
}

/// How the worker cuts its work; the defaults are production's, tests shrink them.
#[derive(Debug, Clone)]
pub struct Limits {
    pub part_bytes: usize,
    pub budget: Duration,
    /// Items per Query page (`None`: DynamoDB's 1 MB pages).
    pub page_limit: Option<i32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self { part_bytes: PART_BYTES, budget: BUDGET, page_limit: None }
    }
}

/// The queue of export messages (the create handler's first, the worker's continuations).
pub use hub_shared::aws::Queue;
pub const QUEUE_VAR: &str = "HUB_EXPORT_QUEUE_URL";

/// Queues one step of export `id`.
#[tracing::instrument(name = "exports.enqueue", skip_all)]
pub async fn enqueue(queue: &Queue, org: OrgId, id: Uuid) -> AppResult<()> {
    let message = Message { organization_id: org.as_uuid(), export_id: id };
    queue.send_json(&message, "the export could not be queued; retry shortly").await
}

/// What one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The export is done (now or before), failed, or gone: nothing more to send.
    Finished,
    /// Another invocation holds the lease or moved on: this message was a duplicate.
    Busy,
    /// The budget ran out: the next message is queued.
    Continued,
}

/// The worker's dependencies, built once per container.
pub struct Worker {
    pub jobs: Jobs,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub queue: Queue,
    /// The documents bucket, named in the manifest so that the documents' `file_path` keys can
    /// be resolved; `None` when unset.
    pub documents_bucket: Option<String>,
    pub limits: Limits,
}

impl Worker {
    pub fn from_env(env: &Env, sdk: &aws_types::SdkConfig) -> Result<Self, ConfigError> {
        let dynamodb = hub_shared::aws::dynamodb(sdk);
        let table = env.required("HUB_TABLE")?.to_string();
        Ok(Self {
            jobs: Jobs::new(dynamodb.clone(), &table),
            dynamodb,
            table,
            s3: hub_documents::files::s3_client(sdk),
            bucket: env.required(crate::BUCKET_VAR)?.to_string(),
            queue: Queue::from_env(env, QUEUE_VAR, sdk)?,
            documents_bucket: env.get(hub_documents::files::BUCKET_VAR).map(str::to_owned),
            limits: Limits::default(),
        })
    }

    /// One SQS batch (of one message, BatchSize 1): the messages to retry, for
    /// `ReportBatchItemFailures`. `deadline_ms` is the invocation's deadline (epoch ms).
    pub async fn handle(&self, event: SqsEvent, deadline_ms: i64) -> SqsBatchResponse {
        let deadline_ms = invocation_deadline(deadline_ms, chrono::Utc::now().timestamp_millis());
        let mut response = SqsBatchResponse::default();
        for record in event.records {
            let message_id = record.message_id.clone().unwrap_or_default();
            let receives: u32 =
                record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
            let Some(message) = record.body.as_deref().and_then(|b| serde_json::from_str::<Message>(b).ok()) else {
                // Nothing can ever process it: retrying would only delay the dead-letter queue.
                tracing::error!(message_id, "an export message that does not parse; dropped");
                continue;
            };
            let org = OrgId::new(message.organization_id);
            // Boxed: the whole unit of work inlined in the runtime's future overflows the compiler's
            // layout depth.
            match Box::pin(self.process(org, message.export_id, deadline_ms)).await {
                Ok(outcome) => tracing::info!(export_id = %message.export_id, ?outcome, "export message handled"),
                Err(err) if receives >= MAX_RECEIVES => {
                    tracing::error!(export_id = %message.export_id, error = %err, receives, "export failed for good");
                    let reason = "the export failed repeatedly and was abandoned; start a new one";
                    if let Err(err) = self.jobs.fail(org, message.export_id, reason).await {
                        tracing::error!(error = %err, "the failed export could not be marked failed");
                        response.add_failure(message_id);
                    }
                }
                Err(err) => {
                    tracing::warn!(export_id = %message.export_id, error = %err, receives, "export step failed; retried");
                    response.add_failure(message_id);
                }
            }
        }
        response
    }

    /// Works on one export until it is done or the budget is spent.
    #[tracing::instrument(name = "exports.process", skip_all, fields(export_id = %id))]
    pub async fn process(&self, org: OrgId, id: Uuid, deadline_ms: i64) -> AppResult<Outcome> {
        let Some(stored) = self.jobs.get(org, id).await? else {
            tracing::warn!("a message for an export that does not exist");
            return Ok(Outcome::Finished);
        };
        if stored.job.state.is_final() {
            return Ok(Outcome::Finished);
        }
        if stored.job.effective_state(Timestamp::now()) == State::Failed {
            self.jobs.fail(org, id, "the export stopped making progress; start a new one").await?;
            return Ok(Outcome::Finished);
        }
        let Some(mut held) = self.jobs.claim(stored, deadline_ms).await? else { return Ok(Outcome::Busy) };
        let started = Instant::now();
        // Half of what is left before the deadline at most, whatever the configured budget.
        let left = deadline_ms.saturating_sub(chrono::Utc::now().timestamp_millis()).max(0) as u64;
        let budget = self.limits.budget.min(Duration::from_millis(left / 2));
        loop {
            if Box::pin(self.advance(&mut held)).await? {
                return Ok(Outcome::Finished);
            }
            if started.elapsed() >= budget {
                self.jobs.commit(&mut held, true).await?;
                enqueue(&self.queue, org, id).await?;
                return Ok(Outcome::Continued);
            }
        }
    }

    /// One unit of work, committed. `true` when the export is done.
    async fn advance(&self, held: &mut Held) -> AppResult<bool> {
        let Some(entity) = ENTITIES.get(held.job.files.len()) else {
            self.write_manifest(held).await?;
            self.jobs.commit(held, true).await?;
            return Ok(true);
        };
        let org = held.job.org();
        let key = held.job.object_key(&entity.file_name());
        let mut cursor = held.job.cursor.clone().unwrap_or_default();
        if cursor.read_all {
            self.complete(&key, &cursor).await?;
            finish_file(held, entity.name, key, cursor);
            self.jobs.commit(held, false).await?;
            return Ok(false);
        }

        let reader = Reader { client: &self.dynamodb, table: &self.table, limit: self.limits.page_limit };
        let mut part = Vec::new();
        let mut read_all = false;
        while part.len() < self.limits.part_bytes {
            let (items, next) = reader.page(org, entity, cursor.after.as_deref()).await?;
            for item in &items {
                entity.append(item, &mut part, &mut cursor.counts)?;
            }
            match next {
                Some(sk) => cursor.after = Some(sk),
                None => {
                    read_all = true;
                    break;
                }
            }
        }
        cursor.bytes += part.len() as u64;
        cursor.sha256.update(&part);

        if read_all && cursor.upload_id.is_none() {
            // The whole file in one part's worth: one PutObject, no multipart upload.
            self.s3
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .content_type(NDJSON)
                .body(ByteStream::from(part))
                .send()
                .await
                .map_err(s3_error)?;
            finish_file(held, entity.name, key, cursor);
            self.jobs.commit(held, false).await?;
            return Ok(false);
        }
        let upload_id = match cursor.upload_id.clone() {
            Some(id) => id,
            // A redone unit that started the upload makes a new one; the abandoned upload is
            // aborted by the bucket's lifecycle rule after a day.
            None => self
                .s3
                .create_multipart_upload()
                .bucket(&self.bucket)
                .key(&key)
                .content_type(NDJSON)
                .send()
                .await
                .map_err(s3_error)?
                .upload_id
                .ok_or_else(|| AppError::internal("S3 started a multipart upload without an id"))?,
        };
        // A file that ends exactly on a part boundary has nothing left for a last part.
        if !part.is_empty() || cursor.parts.is_empty() {
            let number = i32::try_from(cursor.parts.len() + 1).map_err(AppError::internal)?;
            let out = self
                .s3
                .upload_part()
                .bucket(&self.bucket)
                .key(&key)
                .upload_id(&upload_id)
                .part_number(number)
                .body(ByteStream::from(part))
                .send()
                .await
                .map_err(s3_error)?;
            let etag = out.e_tag.ok_or_else(|| AppError::internal("S3 stored a part without an ETag"))?;
            cursor.parts.push(crate::job::Part { number, etag });
        }
        cursor.upload_id = Some(upload_id);
        cursor.read_all = read_all;
        held.job.cursor = Some(cursor);
        self.jobs.commit(held, false).await?;
        Ok(false)
    }

    /// Completes a file's multipart upload with exactly the committed parts. Idempotent: an
    /// upload completed by a unit that crashed before its commit is found as the object.
    async fn complete(&self, key: &str, cursor: &Cursor) -> AppResult<()> {
        let upload_id = cursor.upload_id.as_deref().ok_or_else(|| AppError::internal("no upload to complete"))?;
        let parts = cursor
            .parts
            .iter()
            .map(|p| CompletedPart::builder().part_number(p.number).e_tag(&p.etag).build())
            .collect();
        let result = self
            .s3
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                let head = self.s3.head_object().bucket(&self.bucket).key(key).send().await;
                match head {
                    Ok(object) if object.content_length().and_then(|l| u64::try_from(l).ok()) == Some(cursor.bytes) => {
                        Ok(())
                    }
                    _ => Err(s3_error(err)),
                }
            }
        }
    }

    /// `manifest.json`: what the export holds, file by file, with each file's SHA-256.
    async fn write_manifest(&self, held: &mut Held) -> AppResult<()> {
        let job = &held.job;
        let finished_at = Timestamp::now();
        let files: Vec<_> = job
            .files
            .iter()
            .map(|f| {
                json!({
                    "entity": f.entity,
                    "file": format!("{}.ndjson", f.entity),
                    "records": f.counts.records,
                    "deleted": f.counts.deleted,
                    "anonymized": f.counts.anonymized,
                    "bytes": f.bytes,
                    "sha256": f.sha256,
                })
            })
            .collect();
        let manifest = json!({
            "format": FORMAT,
            "export_id": job.id,
            "organization_id": job.organization_id,
            "requested_by": job.requested_by,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": finished_at,
            "documents_bucket": self.documents_bucket,
            "files": files,
        });
        let body = serde_json::to_vec_pretty(&manifest).map_err(AppError::internal)?;
        let mut sha256 = crate::sha::RunningSha256::default();
        sha256.update(&body);
        let key = job.object_key("manifest.json");
        let bytes = body.len() as u64;
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(s3_error)?;
        held.job.manifest = Some(File {
            entity: "manifest".into(),
            key,
            counts: Default::default(),
            bytes,
            sha256: sha256.finish_hex(),
        });
        held.job.finished_at = Some(finished_at);
        held.job.state = State::Done;
        Ok(())
    }
}

fn finish_file(held: &mut Held, entity: &str, key: String, cursor: Cursor) {
    held.job.files.push(File {
        entity: entity.to_string(),
        key,
        sha256: cursor.sha256.finish_hex(),
        counts: cursor.counts,
        bytes: cursor.bytes,
    });
    held.job.cursor = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_in_the_past_is_replaced_by_the_one_lambda_would_give() {
        let now = 1_796_569_855_021;
        assert_eq!(invocation_deadline(now + 280_000, now), now + 280_000, "Lambda's own is kept");
        // What `cargo lambda watch` sends.
        assert_eq!(invocation_deadline(600_000, now), now + 300_000);
        assert_eq!(invocation_deadline(now, now), now + 300_000);
    }
}
