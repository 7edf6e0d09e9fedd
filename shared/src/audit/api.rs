//! The audit API's handlers, shared by the binaries that serve them:
//!
//! - `GET /api/audit/logs` ([`logs`], binary `audit-logs`): an organization's audit records,
//!   filtered through the audit table's indexes (see [`crate::audit::query`]);
//! - `GET /api/business/<entity>/{id}/history` ([`history`], e.g. `contacts-history`): one
//!   record's trail.
//!
//! Both need [`Permission::ReadAudit`] (admins, owners and the `auditor` role), answer newest
//! first with `page_size` (1-100, default 20) and a signed `cursor`, and show personal values
//! decrypted while their person's key exists, `[erased]` after (see [`AuditReader`]).

use crate::audit::access::Access;
use crate::audit::query::{self, AuditFilter};
use crate::audit::reader::AuditReader;
use crate::auth::{Permission, Tenant};
use crate::error::{AppError, AppResult};
use crate::http::{ApiRequest, Reply, Services};
use crate::ops;
use crate::store::Entity;
use serde_json::{Value, json};
use std::sync::Arc;

/// Reads one page of `org`'s records and decodes them for the API.
async fn page_json(
    services: &Services,
    tenant: &Tenant,
    filter: &AuditFilter,
    request: &ApiRequest,
) -> AppResult<Value> {
    let page_size = ops::page_size(request)?;
    let client = services.store.client();
    let table = services.audit.table();
    let page = query::page(
        client,
        table,
        services.store.cursors(),
        tenant.org.as_uuid(),
        filter,
        page_size,
        request.query("cursor"),
    )
    .await?;
    let items = decode(services, &page.items).await?;
    Ok(json!({ "items": items, "next_cursor": page.next_cursor }))
}

/// Stored audit items as the API shows them, personal values opened with their person's key.
pub async fn decode(services: &Services, items: &[crate::audit::item::Item]) -> AppResult<Vec<Value>> {
    AuditReader::new(services.store.client().clone(), services.audit.table()).decode(items).await.map_err(|e| {
        tracing::error!(error = %e, "audit records could not be decoded");
        AppError::unavailable("the audit trail cannot be read right now; retry shortly")
    })
}

/// `GET /api/audit/logs`: `resource_type` + `resource_id`, `user_id` (or `system`), `action`,
/// `risk` (`low`, `medium`, `high`), `from` and `to` (RFC 3339, inclusive), `page_size`, `cursor`.
pub async fn logs(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    tenant.require(Permission::ReadAudit)?;
    request.only_parameters(crate::audit::query::PARAMETERS)?;
    let filter = AuditFilter::from_query(&request.query)?;
    Ok(Reply::ok(page_json(&services, &tenant, &filter, &request).await?))
}

/// `GET /{id}/history`: the audit trail of one record of `E`, deleted or not; 404 when the
/// organization has no such record or the caller may not see it. Only `page_size` and `cursor`
/// are accepted. Reading it is itself recorded as a `view` of the record (the trail holds its
/// personal values).
pub async fn history<E: Entity>(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    tenant.require(Permission::ReadAudit)?;
    request.only_parameters(&["page_size", "cursor"])?;
    let id = request.path_id(E::NAME)?;
    services
        .store
        .get::<E>(tenant.org, id)
        .await?
        .filter(|r| r.data.visible_to(&tenant))
        .ok_or(AppError::NotFound { resource: E::NAME })?;
    let filter = AuditFilter::for_resource(E::KIND, &id.to_string());
    let body = page_json(&services, &tenant, &filter, &request).await?;
    Ok(Reply::ok(body).with_access(Access::view(E::KIND, vec![id.to_string()])))
}
