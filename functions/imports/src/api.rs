//! The import endpoints, admins only: declare (with an upload URL), start (the upload checked
//! against the declaration, then the first chunk queued), and read the state (with the report's
//! download URL once done). Declaring and starting are recorded in the audit trail as `import`
//! (high risk): declaring by the HTTP adapter, through `Reply::with_access`; starting before its
//! first chunk is queued (`record_access_first`), so no import runs without its record.

use crate::bulk::Bulk;
use crate::job::{Job, State};
use crate::queue::{ChunkMessage, Sender};
use hub_documents::api::upload_problem_of;
use hub_documents::files::Declared;
use hub_shared::audit::{Access, Action};
use hub_shared::auth::{Permission, Tenant};
use hub_shared::domain::Timestamp;
use hub_shared::error::{AppError, AppResult};
use hub_shared::http::{ApiRequest, Reply, Services, record_access_first};
use hub_shared::store::StoredImport;
use std::sync::Arc;
use uuid::Uuid;

/// The audit trail's resource type of imports.
pub const KIND: &str = "IMPORT";
pub const NAME: &str = "import";

fn audited(reply: Reply, id: Uuid) -> Reply {
    reply.with_access(Access::new(Action::Import, KIND, vec![id.to_string()]))
}

/// The job `{id}` of the caller's organization, as stored (its revision, the last chunk whose
/// message was sent), or 404.
async fn current(services: &Services, tenant: &Tenant, request: &ApiRequest) -> AppResult<(Job, StoredImport)> {
    let id = request.path_id(NAME)?;
    let stored = services.store.get_import(tenant.org, id).await?.ok_or(AppError::NotFound { resource: NAME })?;
    Ok((Job::from_text(&stored.job)?, stored))
}

async fn upload_url(bulk: &Bulk, job: &Job) -> AppResult<serde_json::Value> {
    let url = bulk
        .upload_url(&Declared {
            key: &job.source_key(),
            size: job.size,
            content_type: job.format.content_type(),
            sha256_hex: &job.sha256,
        })
        .await?;
    Ok(url.to_json())
}

/// `POST /api/business/imports`: 201 with the job (`pending`) and `upload`, the presigned PUT
/// the file is sent with (signed with its size and SHA-256).
pub async fn create(services: Arc<Services>, tenant: Tenant, request: ApiRequest, bulk: Arc<Bulk>) -> AppResult<Reply> {
    tenant.require(Permission::Administer)?;
    let body = request.json_object()?;
    let id = Uuid::new_v4();
    let job = Job::declare(&body, &tenant, id, Timestamp::now())?;
    services.store.put_import(tenant.org, id, &job.to_text()?).await?;
    let mut answer = job.to_json();
    answer["upload"] = upload_url(&bulk, &job).await?;
    let reply = Reply::ok(answer)
        .with_status(http::StatusCode::CREATED)
        .with_header(http::header::LOCATION, &format!("/api/business/imports/{id}"));
    Ok(audited(reply, id))
}

/// `POST /api/business/imports/{id}/start`: the stored file must be the declared one (409
/// `UPLOAD_NOT_FOUND` or `UPLOAD_MISMATCH` otherwise, as a document's `complete`: the import's
/// state, not the request, is what is wrong; the job stays pending); the job becomes
/// `validating` and its first chunk is queued. 409 `NOT_PENDING` once started.
///
/// The job is saved `validating` before the first message is sent: a send that fails (503)
/// leaves it `validating` at chunk 0 with no message recorded as sent, and a retried `start`
/// sends it then (202 again) instead of answering `NOT_PENDING` for an import nothing will ever
/// run. A message sent twice (the first send went through, its record did not) is harmless: the
/// worker commits a chunk once.
pub async fn start<S: Sender>(
    services: Arc<Services>,
    tenant: Tenant,
    request: ApiRequest,
    bulk: Arc<Bulk>,
    queue: Arc<S>,
) -> AppResult<Reply> {
    tenant.require(Permission::Administer)?;
    let (mut job, stored) = current(&services, &tenant, &request).await?;
    if job.state == State::Validating && job.next_chunk == 0 && stored.sent_chunk.is_none() {
        send_first(&services, &tenant, &request, &job, &*queue).await?;
        return Ok(Reply::ok(job.to_json()).with_status(http::StatusCode::ACCEPTED));
    }
    if job.state != State::Pending {
        return Err(not_pending(&job));
    }
    let revision = stored.revision;
    let stored = bulk.stored(&job.source_key()).await?.ok_or_else(|| {
        AppError::conflict(
            "UPLOAD_NOT_FOUND",
            "no file has been uploaded for this import yet; PUT it to the upload URL",
        )
    })?;
    if let Some(reason) = upload_problem_of(job.size, &job.sha256, &stored) {
        return Err(AppError::conflict("UPLOAD_MISMATCH", reason));
    }
    job.state = State::Validating;
    job.updated_at = Timestamp::now();
    if !services.store.save_import(tenant.org, job.id, &job.to_text()?, revision).await? {
        return Err(not_pending(&job));
    }
    send_first(&services, &tenant, &request, &job, &*queue).await?;
    Ok(Reply::ok(job.to_json()).with_status(http::StatusCode::ACCEPTED))
}

/// Records the start in the audit trail, then queues the first chunk and records that it was
/// sent. Without the record nothing is queued (503): the job stays `validating` with nothing
/// sent, and a retried start records and queues it.
async fn send_first<S: Sender>(
    services: &Services,
    tenant: &Tenant,
    request: &ApiRequest,
    job: &Job,
    queue: &S,
) -> AppResult<()> {
    let access = Access::new(Action::Import, KIND, vec![job.id.to_string()]);
    record_access_first(services, tenant, request, &access, http::StatusCode::ACCEPTED).await?;
    let first = ChunkMessage { org: job.organization_id, import: job.id, chunk: 0, offset: 0, row: 0 };
    queue.send(&first).await?;
    services.store.mark_import_sent(tenant.org, job.id, 0).await
}

fn not_pending(job: &Job) -> AppError {
    let state = serde_json::to_value(job.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    AppError::conflict("NOT_PENDING", format!("the import is already {state}; declare a new one to import again"))
}

/// `GET /api/business/imports/{id}`: state, counts and progress; `report` (a presigned GET of
/// the row report, 2 minutes) once done or failed. (No fresh upload URL while pending: this function may
/// only read the bucket; an expired upload URL means declaring again.)
pub async fn get(services: Arc<Services>, tenant: Tenant, request: ApiRequest, bulk: Arc<Bulk>) -> AppResult<Reply> {
    tenant.require(Permission::Administer)?;
    request.only_parameters(&[])?;
    let (job, _) = current(&services, &tenant, &request).await?;
    // A failed import's report holds the rows its committed chunks wrote; one read as failed
    // because it stalled (`effective`) has none assembled.
    let reported = matches!(job.state, State::Done | State::Failed);
    let job = job.effective(Timestamp::now());
    let mut answer = job.to_json();
    if reported {
        let name = format!("import-{}-report.csv", job.id);
        answer["report"] = bulk.download_url(&job.report_key(), &name).await?.to_json();
    }
    Ok(Reply::ok(answer))
}
