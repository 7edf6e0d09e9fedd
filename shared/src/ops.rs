//! The generic operations every entity gets: list, create, get, replace, patch, soft delete,
//! restore, bulk delete, and `action` for a named state change (confirm, cancel, approve...).
//! A function binary names one of these with its entity type, e.g.
//! `run_business("contacts-get", ops::get::<Contact>)`; entities never copy handler bodies.
//! Entity-specific operations (a document's upload URL, a refund) are built from the pieces
//! here (`create_record`, `live_visible`, `action`), not from copies of them.
//!
//! Reads of records (`get`, `list`, and the entity-specific reads built on [`list_reply`])
//! declare what they served with `Reply::with_access`; the HTTP adapter appends the access
//! record (or answers 503 when it cannot), so no operation writes audit records itself.

use crate::audit::Access;
use crate::auth::{Permission, Tenant};
use crate::domain::Timestamp;
use crate::error::{AppError, AppResult};
use crate::http::{ApiRequest, Expected, Reply, Services};
use crate::store::{BulkOutcome, Created, Entity, IdempotencyKey, Meta, Record, Store};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

mod batch;
pub use batch::{BATCH_ALL, BATCH_UPDATES, MAX_BATCH_OPERATIONS, batch};

pub const DEFAULT_PAGE_SIZE: usize = 20;
pub const MAX_PAGE_SIZE: usize = 100;
pub const MAX_BULK_IDS: usize = 100;

/// 200 with the record and its version as `ETag`.
pub fn record_reply<E: Entity>(record: &Record<E>) -> Reply {
    Reply::json_text(record.to_json_text()).with_version(record.meta.version)
}

/// 201 with the record, `Location`, `ETag`, and `Idempotent-Replayed` on a replay. `body` is
/// the record's JSON, possibly with additions (e.g. an upload URL).
pub fn created_reply<E: Entity>(created: &Created<E>, body: Value) -> Reply {
    finish_created(created, Reply::ok(body))
}

/// [`created_reply`] with the record alone as the body.
pub fn created_record_reply<E: Entity>(created: &Created<E>) -> Reply {
    finish_created(created, Reply::json_text(created.record.to_json_text()))
}

fn finish_created<E: Entity>(created: &Created<E>, reply: Reply) -> Reply {
    let reply = reply
        .with_status(http::StatusCode::CREATED)
        .with_header(http::header::LOCATION, &location::<E>(created.record.meta.id))
        .with_version(created.record.meta.version);
    if created.replayed {
        reply.with_header(http::HeaderName::from_static("idempotent-replayed"), "true")
    } else {
        reply
    }
}

fn location<E: Entity>(id: Uuid) -> String {
    format!("{}/{id}", E::PATH)
}

/// A live record the caller may see, or 404 (missing, deleted, foreign and invisible records
/// all look the same).
pub async fn live_visible<E: Entity>(services: &Services, tenant: &Tenant, id: Uuid) -> AppResult<Record<E>> {
    let record = services.store.get_live::<E>(tenant.org, id).await?;
    if record.data.visible_to(tenant) { Ok(record) } else { Err(AppError::NotFound { resource: E::NAME }) }
}

/// `GET /{id}`. Admins may add `include_deleted=true` to read a record in the trash.
pub async fn get<E: Entity>(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    tenant.require(Permission::Read)?;
    request.only_parameters(&["include_deleted"])?;
    let id = request.path_id(E::NAME)?;
    let include_deleted = request.flag("include_deleted")?;
    if include_deleted {
        tenant.require(Permission::Administer)?;
    }
    let record = services
        .store
        .get::<E>(tenant.org, id)
        .await?
        .filter(|r| (include_deleted || !r.meta.is_deleted) && r.data.visible_to(&tenant))
        .ok_or(AppError::NotFound { resource: E::NAME })?;
    Ok(record_reply(&record).with_access(Access::view(E::KIND, vec![id.to_string()])))
}

/// `GET /`: `page_size` (1-100, default 20), `cursor`, the entity's filters, and for admins
/// `deleted=true` (the trash, which takes no other filter).
pub async fn list<E: Entity>(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    tenant.require(Permission::Read)?;
    let page_size = page_size(&request)?;
    let deleted = request.flag("deleted")?;
    let mut accepted = vec!["page_size", "cursor", "deleted"];
    accepted.extend_from_slice(E::FILTERS);
    request.only_parameters(&accepted)?;
    let filters: HashMap<String, String> = request
        .query
        .iter()
        .filter(|(name, _)| E::FILTERS.contains(&name.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let spec = if deleted {
        tenant.require(Permission::Administer)?;
        if !filters.is_empty() {
            return Err(AppError::invalid_param("deleted", "the trash cannot be combined with other filters"));
        }
        Store::deleted_spec::<E>()
    } else {
        E::list_spec(&filters, &tenant)?
    };
    let page = services.store.list::<E>(tenant.org, &spec, page_size, request.query("cursor")).await?;
    Ok(list_reply(&tenant, page))
}

/// A list page's answer: the records the caller may see, and one access record naming them
/// all (an empty page too: the search itself is an access attempt worth keeping).
pub fn list_reply<E: Entity>(tenant: &Tenant, page: crate::store::Page<E>) -> Reply {
    let visible: Vec<&Record<E>> = page.items.iter().filter(|r| r.data.visible_to(tenant)).collect();
    let ids = visible.iter().map(|r| r.meta.id.to_string()).collect();
    let items: Vec<Value> = visible.into_iter().map(Record::to_json).collect();
    Reply::ok(json!({ "items": items, "next_cursor": page.next_cursor })).with_access(Access::view(E::KIND, ids))
}

/// The `page_size` of a list request (1-100, default 20); public for entity-specific lists.
pub fn page_size(request: &ApiRequest) -> AppResult<usize> {
    match request.query("page_size") {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) && raw.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(AppError::invalid_param("page_size", format!("must be an integer from 1 to {MAX_PAGE_SIZE}"))),
        },
    }
}

/// `POST /`: 201 with the full record. A retried request with the same `Idempotency-Key`
/// gets the first one's record instead of a duplicate.
pub async fn create<E: Entity>(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    let created = create_record::<E>(&services, &tenant, &request).await?;
    Ok(created_record_reply(&created))
}

/// The body of `create`: permission, validation, idempotency, the write.
pub async fn create_record<E: Entity>(
    services: &Services,
    tenant: &Tenant,
    request: &ApiRequest,
) -> AppResult<Created<E>> {
    tenant.require(Permission::Write)?;
    let op = Op::Create { body: request.json_object()? };
    let idempotency = request.idempotency_key()?;
    match decide::<E>(services, tenant, op).await? {
        Decided::Create(data) => services.store.create(tenant, data, idempotency.as_ref()).await,
        _ => Err(AppError::internal("a create decided something else")),
    }
}

/// One write of the generic operations, as a request states it. The single-record endpoints
/// and the batch endpoint both describe their writes this way and share [`decide`] and
/// [`apply`]: one implementation of each rule.
#[derive(Debug, Clone)]
pub enum Op {
    Create { body: Map<String, Value> },
    Replace { id: Uuid, expected: Option<Expected>, body: Map<String, Value> },
    Patch { id: Uuid, expected: Option<Expected>, body: Map<String, Value> },
    Delete { id: Uuid, expected: Option<Expected> },
    Restore { id: Uuid },
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::Replace { .. } => "replace",
            Self::Patch { .. } => "patch",
            Self::Delete { .. } => "delete",
            Self::Restore { .. } => "restore",
        }
    }

    pub fn id(&self) -> Option<Uuid> {
        match self {
            Self::Create { .. } => None,
            Self::Replace { id, .. } | Self::Patch { id, .. } | Self::Delete { id, .. } | Self::Restore { id } => {
                Some(*id)
            }
        }
    }
}

/// What an operation will do, decided before anything is written: permission checked, the
/// record read and checked against the expected version, the new fields validated.
#[derive(Debug)]
pub enum Decided<E> {
    Create(E),
    Update(Record<E>, E),
    Delete(Record<E>),
    Restore(Record<E>),
}

/// Decides an operation (see [`Decided`]); writes nothing.
pub async fn decide<E: Entity>(services: &Services, tenant: &Tenant, op: Op) -> AppResult<Decided<E>> {
    match op {
        Op::Create { body } => {
            tenant.require(Permission::Write)?;
            let data = E::from_json(&body)?;
            // A new record has no version to expect, but a malformed `version` is still
            // refused, as the body's schema says.
            crate::http::body_version(&body)?;
            Ok(Decided::Create(data))
        }
        Op::Replace { id, expected, body } => {
            tenant.require(Permission::Write)?;
            let data = E::from_json(&body)?;
            let expected = with_body_version(expected, &body)?;
            let current = current_checked::<E>(services, tenant, id, expected).await?;
            Ok(Decided::Update(current, data))
        }
        Op::Patch { id, expected, body } => {
            tenant.require(Permission::Write)?;
            let expected = with_body_version(expected, &body)?;
            let current = current_checked::<E>(services, tenant, id, expected).await?;
            let data = patched(&current, body)?;
            Ok(Decided::Update(current, data))
        }
        Op::Delete { id, expected } => {
            tenant.require(Permission::Write)?;
            Ok(Decided::Delete(current_checked::<E>(services, tenant, id, expected).await?))
        }
        Op::Restore { id } => {
            tenant.require(Permission::Administer)?;
            let current = services
                .store
                .get::<E>(tenant.org, id)
                .await?
                .filter(|r| r.data.visible_to(tenant))
                .ok_or(AppError::NotFound { resource: E::NAME })?;
            Ok(Decided::Restore(current))
        }
    }
}

/// The versions a write expects once its body's `version` is counted: 400 `VERSION_MISMATCH`
/// when the body names a version the other expectation (`If-Match`, a batch operation's
/// `version`) does not, 422 when the body's is not a positive integer.
fn with_body_version(expected: Option<Expected>, body: &Map<String, Value>) -> AppResult<Option<Expected>> {
    match (crate::http::body_version(body)?, expected) {
        (None, expected) => Ok(expected),
        (Some(v), Some(Expected::Versions(listed))) if !listed.contains(&v) => Err(AppError::bad_request(
            "VERSION_MISMATCH",
            "the expected versions disagree (If-Match, the body's `version`)",
        )),
        (Some(v), _) => Ok(Some(Expected::Versions(vec![v]))),
    }
}

/// Writes a decided operation on its own: the record as it now is. Every write leaves
/// `idempotency`'s marker in its transaction when given (a create then reports whether it was
/// a replay; a keyed batch's retry finds the others' markers).
pub async fn apply<E: Entity>(
    services: &Services,
    tenant: &Tenant,
    decided: Decided<E>,
    idempotency: Option<&IdempotencyKey>,
) -> AppResult<Created<E>> {
    let written = |record| Created { record, replayed: false };
    let store = &services.store;
    match decided {
        Decided::Create(data) => store.create(tenant, data, idempotency).await,
        Decided::Update(current, data) => store.update_keyed(tenant, &current, data, idempotency).await.map(written),
        Decided::Delete(current) => store.soft_delete_keyed(tenant, &current, idempotency).await.map(written),
        Decided::Restore(current) => store.restore_keyed(tenant, &current, idempotency).await.map(written),
    }
}

/// The fields of a JSON merge patch (RFC 7396) over a record's current fields; `null` resets a
/// field to its default. The merged whole is validated exactly as a `PUT`.
fn patched<E: Entity>(current: &Record<E>, body: Map<String, Value>) -> AppResult<E> {
    let mut merged = match serde_json::to_value(&current.data) {
        Ok(Value::Object(map)) => map,
        _ => return Err(AppError::internal("an entity did not serialize to an object")),
    };
    for (name, value) in body {
        if !Meta::FIELDS.contains(&name.as_str()) {
            merged.insert(name, value);
        }
    }
    E::from_json(&merged)
}

/// The live record a write applies to, checked against the version the client expects
/// (`If-Match` or a body `version`). Public for entity-specific writes (a refund's original).
pub async fn current_for_write<E: Entity>(
    services: &Services,
    tenant: &Tenant,
    request: &ApiRequest,
    body: Option<&Map<String, Value>>,
) -> AppResult<Record<E>> {
    let id = request.path_id(E::NAME)?;
    let expected = request.expected_version(body)?;
    current_checked(services, tenant, id, expected).await
}

async fn current_checked<E: Entity>(
    services: &Services,
    tenant: &Tenant,
    id: Uuid,
    expected: Option<Expected>,
) -> AppResult<Record<E>> {
    let current = live_visible::<E>(services, tenant, id).await?;
    match expected {
        Some(expected) if !expected.matches(current.meta.version) => Err(AppError::conflict(
            "VERSION_CONFLICT",
            format!(
                "the {} is at version {}, not the one expected; reload it and retry",
                E::NAME,
                current.meta.version
            ),
        )),
        _ => Ok(current),
    }
}

/// A write of one record named by the request's path, with the versions it expects. The
/// caller has checked the permission first, so a caller without it learns nothing more (403
/// before any 400 or 404).
async fn single<E: Entity>(
    services: &Services,
    tenant: &Tenant,
    request: &ApiRequest,
    op: impl FnOnce(Uuid, Option<Expected>) -> Op,
    body: Option<&Map<String, Value>>,
) -> AppResult<Record<E>> {
    let id = request.path_id(E::NAME)?;
    let expected = request.expected_version(body)?;
    let decided = decide::<E>(services, tenant, op(id, expected)).await?;
    apply(services, tenant, decided, None).await.map(|written| written.record)
}

/// `PUT /{id}`: replaces every writable field; omitted optional fields take their defaults.
pub async fn replace<E: Entity>(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    tenant.require(Permission::Write)?;
    let body = request.json_object()?;
    let op = |id, expected| Op::Replace { id, expected, body: body.clone() };
    let updated = single::<E>(&services, &tenant, &request, op, Some(&body)).await?;
    Ok(record_reply(&updated))
}

/// `PATCH /{id}`: JSON merge patch (RFC 7396) over the current fields; `null` resets a field
/// to its default. The merged whole is validated exactly as a `PUT`.
pub async fn patch<E: Entity>(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    tenant.require(Permission::Write)?;
    let body = request.json_object()?;
    let op = |id, expected| Op::Patch { id, expected, body: body.clone() };
    let updated = single::<E>(&services, &tenant, &request, op, Some(&body)).await?;
    Ok(record_reply(&updated))
}

/// What an action computes: the record's next fields from its current state, the request's
/// body (an empty object when none was sent), the caller and the moment.
pub type Transition<E> = fn(&Record<E>, &Map<String, Value>, &Tenant, Timestamp) -> AppResult<E>;

/// `POST /{id}/<action>`: a named state change (confirm, cancel, approve...). Reads the live,
/// visible record (honouring `If-Match` or a body `version`), applies `transition`, and writes
/// the result through the same versioned update as `PUT`, so every rule of `reconcile` and
/// `before_write` holds for actions too.
pub async fn action<E: Entity>(
    services: Arc<Services>,
    tenant: Tenant,
    request: ApiRequest,
    permission: Permission,
    transition: Transition<E>,
) -> AppResult<Reply> {
    tenant.require(permission)?;
    let body = if request.has_body() { request.json_object()? } else { Map::new() };
    let current = current_for_write::<E>(&services, &tenant, &request, Some(&body)).await?;
    let data = transition(&current, &body, &tenant, Timestamp::now())?;
    let updated = services.store.update(&tenant, &current, data).await?;
    Ok(record_reply(&updated))
}

/// `DELETE /{id}`: soft delete. The record leaves every list and can be restored by an admin.
pub async fn delete<E: Entity>(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    tenant.require(Permission::Write)?;
    let op = |id, expected| Op::Delete { id, expected };
    let deleted = single::<E>(&services, &tenant, &request, op, None).await?;
    let message = format!("{} deleted successfully", capitalized(E::NAME));
    Ok(Reply::ok(json!({
        "success": true,
        "message": message,
        "id": deleted.meta.id,
        "version": deleted.meta.version,
    }))
    .with_version(deleted.meta.version))
}

/// `POST /{id}/restore` (admins): brings a soft-deleted record back, with its list entries and
/// unique values (409 if one was taken meanwhile, or if it is not deleted).
pub async fn restore<E: Entity>(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    tenant.require(Permission::Administer)?;
    let id = request.path_id(E::NAME)?;
    let decided = decide::<E>(&services, &tenant, Op::Restore { id }).await?;
    let restored = apply(&services, &tenant, decided, None).await?.record;
    Ok(record_reply(&restored))
}

/// `DELETE /bulk` (admins) with `{"ids": [...]}`: at most 100 ids, each soft-deleted on its own
/// and reported on its own, in the order given.
pub async fn bulk_delete<E: Entity>(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    tenant.require(Permission::Administer)?;
    let body = request.json_object()?;
    let ids = bulk_ids(&body)?;
    let mut results = Vec::with_capacity(ids.len());
    let mut deleted_count = 0;
    let valid: Vec<Uuid> = ids.iter().filter_map(|(_, id)| *id).collect();
    let mut outcomes = services.store.soft_delete_many::<E>(&tenant, &valid).await.into_iter();
    for (raw, id) in &ids {
        let outcome = match id {
            None => None,
            Some(_) => outcomes.next().map(|(_, outcome)| outcome),
        };
        let entry = match outcome {
            None => json!({"id": raw, "status": "not_found", "code": "NOT_FOUND"}),
            Some(BulkOutcome::Done(record)) => {
                deleted_count += 1;
                json!({"id": raw, "status": "deleted", "version": record.meta.version})
            }
            Some(BulkOutcome::Failed(err)) if err.status() == 404 => {
                json!({"id": raw, "status": "not_found", "code": err.code()})
            }
            Some(BulkOutcome::Failed(err)) if err.status() == 409 => {
                json!({"id": raw, "status": "conflict", "code": err.code()})
            }
            Some(BulkOutcome::Failed(err)) => return Err(err),
        };
        results.push(entry);
    }
    let plural = if deleted_count == 1 { E::NAME.to_string() } else { format!("{}s", E::NAME) };
    Ok(Reply::ok(json!({
        "success": true,
        "deleted_count": deleted_count,
        "message": format!("Successfully deleted {deleted_count} {plural}"),
        "results": results,
    })))
}

/// The ids of a bulk request, deduplicated, each with its parsed UUID (`None` if malformed:
/// reported as not found, since no such record can exist).
fn bulk_ids(body: &Map<String, Value>) -> AppResult<Vec<(String, Option<Uuid>)>> {
    let invalid = |message: String| AppError::field("ids", "invalid_value", message);
    let array = match body.get("ids") {
        Some(Value::Array(items)) => items,
        Some(_) => return Err(AppError::field("ids", "invalid_type", "must be an array of ids")),
        None => return Err(AppError::field("ids", "required", "is required")),
    };
    if let Some(other) = body.keys().find(|k| k.as_str() != "ids") {
        return Err(AppError::field(other, "unknown_field", "is not a field of this request"));
    }
    if array.is_empty() || array.len() > MAX_BULK_IDS {
        return Err(invalid(format!("must hold 1 to {MAX_BULK_IDS} ids")));
    }
    let mut seen = Vec::with_capacity(array.len());
    for item in array {
        let Value::String(raw) = item else {
            return Err(AppError::field("ids", "invalid_type", "every id must be a string"));
        };
        if !seen.iter().any(|(r, _): &(String, Option<Uuid>)| r == raw) {
            seen.push((raw.clone(), Uuid::parse_str(raw).ok()));
        }
    }
    Ok(seen)
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
