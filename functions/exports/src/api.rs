//! The two HTTP operations: `POST /api/business/exports` starts an export, `GET
//! /api/business/exports/{id}` follows it and, once done, hands out its files.
//!
//! Both need `Permission::ExportAll`: exactly the roles an organization-wide export is for,
//! `admin`, `owner` and `auditor` (members and viewers get 403), the same roles that read the
//! audit trail. An export holds every record, restricted documents' metadata included, as the
//! audit trail those roles read already does.
//!
//! Audit: starting an export and every issue of its download URLs are `export` accesses (high
//! risk) naming the export: the start recorded before it is queued (`record_access_first`), the
//! URLs by the adapter before the answer leaves (503 instead when the trail cannot take them,
//! and then the export is not started, or the URLs not given). A GET of an unfinished export serves no data and records
//! nothing. URLs are signed afresh on each GET and live 2 minutes (`DOWNLOAD_URL_TTL`, as a
//! document's): a link pasted somewhere is dead almost at once, and getting a new one leaves a
//! new access record.

use crate::job::{Job, Jobs, State};
use crate::records::ENTITIES;
use crate::worker::{NDJSON, Queue, enqueue};
use hub_documents::Files;
use hub_shared::audit::{Access, Action};
use hub_shared::auth::{Permission, Tenant};
use hub_shared::domain::Timestamp;
use hub_shared::error::{AppError, AppResult};
use hub_shared::http::{ApiRequest, Reply, Services, record_access_first};
use serde_json::{Value, json};
use std::sync::Arc;

/// The audit trail's resource type of exports.
pub const RESOURCE_TYPE: &str = "EXPORT";
pub const PATH: &str = "/api/business/exports";

fn jobs(services: &Services) -> Jobs {
    Jobs::new(services.store.client().clone(), services.store.table())
}

/// `POST /api/business/exports`: 202 with the pending export and its `Location`; 409
/// `EXPORT_IN_PROGRESS` while another export of the organization is unfinished.
pub async fn create(
    services: Arc<Services>,
    tenant: Tenant,
    request: ApiRequest,
    queue: Arc<Queue>,
) -> AppResult<Reply> {
    tenant.require(Permission::ExportAll)?;
    request.only_parameters(&[])?;
    if request.has_body() && !request.json_object()?.is_empty() {
        return Err(AppError::bad_request("UNEXPECTED_BODY", "an export request takes no body (or `{}`)"));
    }
    let jobs = jobs(&services);
    let job = Job::new(tenant.org, tenant.user.user_id.as_uuid());
    jobs.create(&job).await?;
    // Recorded before it is queued: no export runs without its record in the audit trail.
    let access = Access::new(Action::Export, RESOURCE_TYPE, vec![job.id.to_string()]);
    let started = match record_access_first(&services, &tenant, &request, &access, http::StatusCode::ACCEPTED).await {
        Ok(()) => enqueue(&queue, tenant.org, job.id).await,
        Err(err) => Err(err),
    };
    if let Err(err) = started {
        // Never left pending with no message to run it (it would block the next export).
        if let Err(cause) = jobs.fail(tenant.org, job.id, "the export could not be started; start a new one").await {
            tracing::error!(error = %cause, "an unstarted export could not be marked failed");
        }
        return Err(err);
    }
    Ok(Reply::ok(view(&job, Timestamp::now(), None))
        .with_status(http::StatusCode::ACCEPTED)
        .with_header(http::header::LOCATION, &format!("{PATH}/{}", job.id)))
}

/// `GET /api/business/exports/{id}`: the export's state, and when it is done (and its files
/// not yet deleted), a fresh download URL for each file and the manifest.
pub async fn get(services: Arc<Services>, tenant: Tenant, request: ApiRequest, files: Arc<Files>) -> AppResult<Reply> {
    tenant.require(Permission::ExportAll)?;
    request.only_parameters(&[])?;
    let id = request.path_id("export")?;
    let job = jobs(&services).get(tenant.org, id).await?.ok_or(AppError::NotFound { resource: "export" })?.job;
    let now = Timestamp::now();
    let expired = job.files_expire_at().is_some_and(|at| at <= now);
    if job.effective_state(now) != State::Done || expired {
        return Ok(Reply::ok(view(&job, now, None)));
    }
    let mut urls = Vec::with_capacity(job.files.len() + 1);
    for file in job.files.iter().chain(job.manifest.iter()) {
        let (name, content_type) = match file.entity.as_str() {
            "manifest" => ("manifest.json".to_string(), "application/json"),
            entity => (format!("{entity}.ndjson"), NDJSON),
        };
        urls.push(files.download_url(&file.key, &name, content_type).await?.to_json());
    }
    Ok(Reply::ok(view(&job, now, Some(urls))).with_access(Access::new(
        Action::Export,
        RESOURCE_TYPE,
        vec![id.to_string()],
    )))
}

/// What the API says of an export. `urls`: the download of each file then of the manifest,
/// in that order, for a done export.
pub fn view(job: &Job, now: Timestamp, urls: Option<Vec<Value>>) -> Value {
    let expires_at = job.files_expire_at();
    let state = match job.effective_state(now) {
        State::Done if expires_at.is_some_and(|at| at <= now) => "expired",
        state => state.as_str(),
    };
    let mut urls = urls.unwrap_or_default().into_iter();
    let files: Vec<Value> = job
        .files
        .iter()
        .map(|f| {
            json!({
                "entity": f.entity,
                "records": f.counts.records,
                "deleted": f.counts.deleted,
                "anonymized": f.counts.anonymized,
                "bytes": f.bytes,
                "sha256": f.sha256,
                "download": urls.next(),
            })
        })
        .collect();
    let manifest =
        job.manifest.as_ref().map(|m| json!({ "bytes": m.bytes, "sha256": m.sha256, "download": urls.next() }));
    let records_written =
        job.files.iter().map(|f| f.counts.records).sum::<u64>() + job.cursor.as_ref().map_or(0, |c| c.counts.records);
    let error = match (state, &job.error) {
        ("failed", Some(reason)) => Some(reason.clone()),
        ("failed", None) => Some("the export stopped making progress; start a new one".to_string()),
        _ => None,
    };
    json!({
        "id": job.id,
        "state": state,
        "requested_by": job.requested_by,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "expires_at": expires_at,
        "error": error,
        "progress": {
            "entities_done": job.files.len(),
            "entities_total": ENTITIES.len(),
            "current_entity": ENTITIES.get(job.files.len()).filter(|_| !job.state.is_final()).map(|e| e.name),
            "records_written": records_written,
        },
        "files": files,
        "manifest": manifest,
    })
}
