//! RGPD access and portability (articles 15 and 20): `GET /api/business/contacts/{id}/export`
//! returns everything held about one person as one JSON document, for admins and owners only
//! (it is the whole of a person's data at once).
//!
//! The document holds: the contact record (deleted or not); their appointments, transactions
//! and documents' metadata, each read through its org-leading `CONTACT#<id>` list partition,
//! every page; for each available document, a presigned download link (valid 2 minutes,
//! signed by the documents crate's [`Files`]); the consent history (every recorded change of
//! `consent_given`, `consent_date` or `consent_version`, oldest first); and the whole audit
//! trail of the contact's record, personal values decrypted (or `[erased]`).
//!
//! Soft-deleted related records have left their list partitions and are not exported; the
//! contact itself is, deleted or not. The export is itself an access: the adapter records an
//! `export` (high risk) naming the contact before the document is served, and refuses to serve
//! it (503) if it cannot.

use hub_appointments::Appointment;
use hub_contacts::Contact;
use hub_documents::{Document, Files, UploadStatus};
use hub_shared::audit::query::{self, AuditFilter};
use hub_shared::audit::{Access, Action, api as audit_api};
use hub_shared::auth::{Permission, Tenant};
use hub_shared::error::{AppError, AppResult};
use hub_shared::http::{ApiRequest, Reply, Services};
use hub_shared::ops;
use hub_shared::store::{Entity, ListSpec, Record};
use hub_transactions::Transaction;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// The export document's format, so a consumer can tell later versions apart.
pub const FORMAT: &str = "hub-export/1";

/// The fields whose changes make up the consent history.
pub const CONSENT_FIELDS: &[&str] = &["consent_given", "consent_date", "consent_version"];

/// `GET /api/business/contacts/{id}/export` (admins and owners).
pub async fn export(
    services: Arc<Services>,
    tenant: Tenant,
    request: ApiRequest,
    files: Arc<Files>,
) -> AppResult<Reply> {
    tenant.require(Permission::Administer)?;
    if let Some(other) = request.query.keys().next() {
        return Err(AppError::invalid_param(other, "the export takes no parameter"));
    }
    let id = request.path_id(Contact::NAME)?;
    let contact = services
        .store
        .get::<Contact>(tenant.org, id)
        .await?
        .filter(|r| r.data.visible_to(&tenant))
        .ok_or(AppError::NotFound { resource: Contact::NAME })?;

    let appointments = related::<Appointment>(&services, &tenant, id).await?;
    let transactions = related::<Transaction>(&services, &tenant, id).await?;
    let mut documents = Vec::new();
    for document in related::<Document>(&services, &tenant, id).await? {
        let mut entry = document.to_json();
        let data = &document.data;
        if data.upload_status == UploadStatus::Available {
            entry["download"] = files.download_url(&data.file_path, &data.file_name, &data.mime_type).await?.to_json();
        }
        documents.push(entry);
    }

    let filter = AuditFilter::for_resource(Contact::KIND, &id.to_string());
    let items = query::all(
        services.store.client(),
        services.audit.table(),
        services.store.cursors(),
        tenant.org.as_uuid(),
        &filter,
    )
    .await?;
    let mut trail = audit_api::decode(&services, &items).await?;
    // Oldest first: a document read from top to bottom tells the story in order.
    trail.reverse();
    let consent_history = consent_history(&trail);

    let body = json!({
        "format": FORMAT,
        "exported_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "organization_id": tenant.org.to_string(),
        "subject": {"resource_type": Contact::KIND, "id": id},
        "contact": contact.to_json(),
        "appointments": appointments.iter().map(Record::to_json).collect::<Vec<_>>(),
        "transactions": transactions.iter().map(Record::to_json).collect::<Vec<_>>(),
        "documents": documents,
        "consent_history": consent_history,
        "audit_trail": trail,
    });
    Ok(Reply::ok(body).with_access(Access::new(Action::Export, Contact::KIND, vec![id.to_string()])))
}

/// Every live record of `E` listed under the contact, all pages, oldest first.
async fn related<E: Entity>(services: &Services, tenant: &Tenant, contact: Uuid) -> AppResult<Vec<Record<E>>> {
    let spec = ListSpec::<E>::all(format!("CONTACT#{contact}"), false);
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = services.store.list::<E>(tenant.org, &spec, ops::MAX_PAGE_SIZE, cursor.as_deref()).await?;
        out.extend(page.items.into_iter().filter(|r| r.data.visible_to(tenant)));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// The consent changes of a trail (oldest first): when, by whom, what changed.
pub fn consent_history(trail: &[Value]) -> Vec<Value> {
    trail
        .iter()
        .filter_map(|record| {
            let changes: Vec<Value> = record["changes"]
                .as_array()?
                .iter()
                .filter(|c| c["field"].as_str().is_some_and(|f| CONSENT_FIELDS.contains(&f)))
                .map(|c| json!({"field": c["field"], "from": c["from"], "to": c["to"]}))
                .collect();
            (!changes.is_empty()).then(|| {
                json!({
                    "occurred_at": record["occurred_at"],
                    "action": record["action"],
                    "actor_id": record["actor_id"],
                    "version": record["version"],
                    "changes": changes,
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consent_history_keeps_only_consent_changes_in_order() {
        let trail = vec![
            json!({"occurred_at": "t1", "action": "create", "actor_id": "u", "version": 1, "changes": [
                {"field": "first_name", "from": null, "to": "Jeanne"},
                {"field": "consent_given", "from": null, "to": false}]}),
            json!({"occurred_at": "t2", "action": "view", "actor_id": "u", "changes": []}),
            json!({"occurred_at": "t3", "action": "update", "actor_id": "v", "version": 2, "changes": [
                {"field": "consent_given", "from": false, "to": true},
                {"field": "consent_version", "from": null, "to": "2026-01"}]}),
        ];
        let history = consent_history(&trail);
        assert_eq!(history.len(), 2);
        assert_eq!(history[0]["changes"], json!([{"field": "consent_given", "from": null, "to": false}]));
        assert_eq!(history[1]["actor_id"], "v");
        assert_eq!(history[1]["changes"][1]["to"], "2026-01");
    }
}
