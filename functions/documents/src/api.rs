//! The document-specific operations, built on `hub_shared::ops` and the `Store`: create (with an
//! upload URL), new versions, their list, complete (the upload check), download and approve.
//! Each is the handler of one binary; the S3 context comes from the binary's `main`.

use crate::files::{Declared, Files, Stored, hex_to_base64, object_key};
use crate::{Document, MAX_DOCUMENT_VERSION, UploadStatus, versions_lock};
use hub_shared::audit::{Access, Action};
use hub_shared::auth::{Permission, Tenant};
use hub_shared::domain::Timestamp;
use hub_shared::error::{AppError, AppResult};
use hub_shared::http::{ApiRequest, Reply, Services};
use hub_shared::ops;
use hub_shared::store::{Created, Entity, ListSpec, Meta, Record};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// Fields describing the previous file, which a new version never inherits.
const NOT_INHERITED: &[&str] = &["file_size_bytes", "checksum", "checksum_md5", "parent_document_id"];

/// `POST /`: 201 with the record (`upload_status` pending) and `upload`, the presigned PUT the
/// client sends the file with. A body with `parent_document_id` creates a new version of that
/// document, as `POST /{id}/versions` does.
pub async fn create(
    services: Arc<Services>,
    tenant: Tenant,
    request: ApiRequest,
    files: Arc<Files>,
) -> AppResult<Reply> {
    tenant.require(Permission::Write)?;
    let body = request.json_object()?;
    let mut data = Document::from_json(&body)?;
    request.expected_version(Some(&body))?;
    if let Some(parent) = data.parent_document_id {
        let base = ops::live_visible::<Document>(&services, &tenant, parent).await.map_err(|e| match e {
            AppError::NotFound { .. } => {
                AppError::related_not_found("parent_document_id", "no live record of this organization has this id")
            }
            other => other,
        })?;
        return new_version(&services, &tenant, &request, &files, &base, &body).await;
    }
    let id = Uuid::new_v4();
    data.file_path = object_key(tenant.org, id, 1);
    store_and_reply(&services, &tenant, &request, &files, id, data).await
}

/// `POST /{id}/versions`: version n+1 of the document `{id}` belongs to, with a new upload
/// URL. Metadata not in the body is inherited from `{id}`; the file (`file_size_bytes`,
/// `checksum`) must be declared anew. Earlier versions stay as they are.
pub async fn versions_create(
    services: Arc<Services>,
    tenant: Tenant,
    request: ApiRequest,
    files: Arc<Files>,
) -> AppResult<Reply> {
    tenant.require(Permission::Write)?;
    let body = request.json_object()?;
    request.expected_version(Some(&body))?;
    let base = ops::live_visible::<Document>(&services, &tenant, request.path_id(Document::NAME)?).await?;
    new_version(&services, &tenant, &request, &files, &base, &body).await
}

async fn new_version(
    services: &Services,
    tenant: &Tenant,
    request: &ApiRequest,
    files: &Files,
    base: &Record<Document>,
    body: &Map<String, Value>,
) -> AppResult<Reply> {
    let mut merged = match serde_json::to_value(&base.data) {
        Ok(Value::Object(map)) => map,
        _ => return Err(AppError::internal("a document did not serialize to an object")),
    };
    merged.retain(|name, _| !NOT_INHERITED.contains(&name.as_str()));
    for (name, value) in body {
        if !Meta::FIELDS.contains(&name.as_str()) && name != "parent_document_id" {
            merged.insert(name.clone(), value.clone());
        }
    }
    let mut data = Document::from_json(&merged)?;
    let root = base.data.root_id(base.meta.id);
    let seen = services.store.lock(tenant.org, &versions_lock(root)).await?.seen;
    let next = u32::try_from(seen + 2).ok().filter(|v| *v <= MAX_DOCUMENT_VERSION).ok_or_else(|| {
        AppError::conflict("TOO_MANY_VERSIONS", format!("a document has at most {MAX_DOCUMENT_VERSION} versions"))
    })?;
    let id = Uuid::new_v4();
    data.parent_document_id = Some(root);
    data.document_version = next;
    data.file_path = object_key(tenant.org, id, next);
    store_and_reply(services, tenant, request, files, id, data).await
}

async fn store_and_reply(
    services: &Services,
    tenant: &Tenant,
    request: &ApiRequest,
    files: &Files,
    id: Uuid,
    data: Document,
) -> AppResult<Reply> {
    let idempotency = request.idempotency_key()?;
    let created: Created<Document> =
        services.store.create_as(tenant, id, data, idempotency.as_ref(), Vec::new()).await?;
    let mut body = created.record.to_json();
    let document = &created.record.data;
    // A replayed request whose upload already completed gets the record alone.
    if document.upload_status == UploadStatus::Pending {
        let upload = files
            .upload_url(&Declared {
                key: &document.file_path,
                size: document.file_size_bytes,
                content_type: &document.mime_type,
                sha256_hex: &document.checksum,
            })
            .await?;
        body["upload"] = upload.to_json();
    }
    Ok(ops::created_reply(&created, body))
}

/// `GET /{id}/versions`: every live version of the document `{id}` belongs to (any of its
/// versions may be named), oldest first, paginated like any list.
pub async fn versions_list(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    tenant.require(Permission::Read)?;
    request.only_parameters(&["page_size", "cursor"])?;
    let page_size = ops::page_size(&request)?;
    let base = ops::live_visible::<Document>(&services, &tenant, request.path_id(Document::NAME)?).await?;
    let root = base.data.root_id(base.meta.id);
    let spec = ListSpec::<Document>::all(format!("VERSIONS#{root}"), false);
    let page = services.store.list::<Document>(tenant.org, &spec, page_size, request.query("cursor")).await?;
    Ok(ops::list_reply(&tenant, page))
}

/// `POST /{id}/complete`: compares the stored object with the record. Nothing stored yet is
/// 409 `UPLOAD_NOT_FOUND` (the document stays pending, the client may still upload); a size or
/// SHA-256 that differs from the declared one makes the document `rejected` for good, with the
/// reason (200: the check ran and its outcome is the record's state).
pub async fn complete(
    services: Arc<Services>,
    tenant: Tenant,
    request: ApiRequest,
    files: Arc<Files>,
) -> AppResult<Reply> {
    tenant.require(Permission::Write)?;
    let current = ops::live_visible::<Document>(&services, &tenant, request.path_id(Document::NAME)?).await?;
    if current.data.upload_status != UploadStatus::Pending {
        return Err(AppError::conflict(
            "NOT_PENDING",
            format!("the document's upload is already {}", current.data.upload_status),
        ));
    }
    let stored = files.stored(&current.data.file_path).await?.ok_or_else(|| {
        AppError::conflict(
            "UPLOAD_NOT_FOUND",
            "no file has been uploaded for this document yet; PUT it to the upload URL",
        )
    })?;
    let mut next = current.data.clone().server_side();
    match upload_problem(&current.data, &stored) {
        None => next.upload_status = UploadStatus::Available,
        Some(reason) => {
            tracing::info!(document = %current.meta.id, reason, "upload rejected");
            next.upload_status = UploadStatus::Rejected;
            next.rejection_reason = reason;
        }
    }
    let updated = services.store.update(&tenant, &current, next).await?;
    Ok(ops::record_reply(&updated))
}

/// Why a stored object is not the declared file, if it is not.
pub fn upload_problem(declared: &Document, stored: &Stored) -> Option<String> {
    upload_problem_of(declared.file_size_bytes, &declared.checksum, stored)
}

/// Why a stored object is not the declared `size` bytes with this SHA-256 (hex), if it is not.
/// Shared with imports' uploads.
pub fn upload_problem_of(declared_size: u64, sha256_hex: &str, stored: &Stored) -> Option<String> {
    let size = stored.size.and_then(|s| u64::try_from(s).ok());
    if size != Some(declared_size) {
        return Some(format!(
            "the uploaded file has {} bytes, but {} were declared",
            size.map(|s| s.to_string()).unwrap_or_else(|| "an unknown number of".into()),
            declared_size
        ));
    }
    let expected = hex_to_base64(sha256_hex);
    match &stored.sha256_base64 {
        None => Some("the uploaded file was stored without a SHA-256 checksum".into()),
        Some(actual) if Some(actual) != expected.as_ref() => {
            Some("the uploaded file's SHA-256 differs from the declared checksum".into())
        }
        Some(_) => None,
    }
}

/// `GET /{id}/download`: a presigned GET (valid 2 minutes) for an available document the
/// caller may see; documents requiring approval only once approved, except for admins.
pub async fn download(
    services: Arc<Services>,
    tenant: Tenant,
    request: ApiRequest,
    files: Arc<Files>,
) -> AppResult<Reply> {
    tenant.require(Permission::Read)?;
    let record = ops::live_visible::<Document>(&services, &tenant, request.path_id(Document::NAME)?).await?;
    if let Some(refusal) = record.data.download_refusal(&tenant) {
        return Err(refusal);
    }
    let document = &record.data;
    let url = files.download_url(&document.file_path, &document.file_name, &document.mime_type).await?;
    let mut body = url.to_json();
    body["file_name"] = json!(document.file_name);
    body["mime_type"] = json!(document.mime_type);
    body["file_size_bytes"] = json!(document.file_size_bytes);
    body["checksum"] = json!(document.checksum);
    Ok(Reply::ok(body).with_access(Access::new(Action::Download, Document::KIND, vec![record.meta.id.to_string()])))
}

/// `POST /{id}/approve`: admins and the clinical roles approve an available document.
pub async fn approve(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    ops::action::<Document>(services, tenant, request, Permission::Write, approval).await
}

fn approval(
    current: &Record<Document>,
    body: &Map<String, Value>,
    tenant: &Tenant,
    now: Timestamp,
) -> AppResult<Document> {
    if let Some(field) = body.keys().find(|k| k.as_str() != "version") {
        return Err(AppError::field(field, "unknown_field", "is not a field of this request"));
    }
    if !Document::is_approver(tenant) {
        return Err(AppError::forbidden(
            "FORBIDDEN",
            format!("only admins and the roles {} may approve documents", crate::CLINICAL_ROLES.join(", ")),
        ));
    }
    if current.data.upload_status != UploadStatus::Available {
        return Err(AppError::conflict(
            "NOT_AVAILABLE",
            format!("the document's file is {}; only an available file can be approved", current.data.upload_status),
        ));
    }
    if current.data.approved {
        return Err(AppError::conflict("ALREADY_APPROVED", "the document is already approved"));
    }
    let mut next = current.data.clone().server_side();
    next.approved = true;
    next.approved_by = Some(tenant.user.user_id.as_uuid());
    next.approved_at = Some(now);
    Ok(next)
}
