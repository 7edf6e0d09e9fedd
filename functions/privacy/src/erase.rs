//! The erasure of one person (RGPD art. 17), shared by the anonymize endpoint and retention.
//!
//! Order, chosen so that a failure at any step leaves nothing half-readable that a re-run
//! would not finish: the records about the person first (appointments, transactions, then
//! documents with their files), the contact last, then the person's audit data key. Each record
//! is its own versioned transaction (a person may have hundreds), and a record that already
//! carries `anonymized_at` is skipped, so a re-run only does what is left.

use crate::{By, Erasure};
use chrono::Utc;
use hub_appointments::Appointment;
use hub_contacts::Contact;
use hub_documents::{Document, UploadStatus};
use hub_shared::audit::{Action, AuditRecord, Change, Outcome, Risk, Source};
use hub_shared::auth::OrgId;
use hub_shared::error::{AppError, AppResult};
use hub_shared::store::{Entity, ListSpec, Record, Store};
use hub_transactions::Transaction;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// What an erased document's `rejection_reason` says: its file is gone for good.
pub const FILE_ERASED: &str = "file erased (RGPD)";

/// Page size for reading a person's records: the largest a list allows.
const PAGE: usize = 100;

/// What one erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureReport {
    #[serde(skip)]
    pub contact: Record<Contact>,
    /// Nothing was left to do: an earlier erasure had done it all.
    pub already_anonymized: bool,
    /// Records anonymized by this call.
    pub appointments: usize,
    pub documents: usize,
    pub transactions: usize,
    /// S3 object versions (and delete markers) deleted by this call.
    pub file_versions_deleted: usize,
}

impl ErasureReport {
    pub fn to_json(&self) -> Value {
        let mut body = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        body["contact"] = self.contact.to_json();
        body
    }
}

/// Every record of `E` about `contact`, live (its `CONTACT#<id>` list, one Query per page) or in
/// the trash (the entity's trash partition, filtered: deleted records have no per-contact list,
/// so this read grows with the organization's trash, which erasure, a rare admin act, accepts).
async fn related<E: Entity>(
    store: &Store,
    org: OrgId,
    contact: Uuid,
    of: fn(&E) -> Option<Uuid>,
) -> AppResult<Vec<Record<E>>> {
    let mut out = Vec::new();
    let live = ListSpec::<E>::all(format!("CONTACT#{contact}"), true);
    let mut trash = Store::deleted_spec::<E>();
    trash.accept = Some(Box::new(move |record: &Record<E>, _: &str| of(&record.data) == Some(contact)));
    for spec in [live, trash] {
        let mut cursor: Option<String> = None;
        loop {
            let page = store.list::<E>(org, &spec, PAGE, cursor.as_deref()).await?;
            out.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(out)
}

/// Anonymizes each record not anonymized yet; returns how many were.
async fn anonymize_all<E: Entity>(
    store: &Store,
    org: OrgId,
    by: &By,
    records: &[Record<E>],
    adjust: fn(E) -> E,
) -> AppResult<usize> {
    let mut done = 0;
    for record in records.iter().filter(|r| r.meta.anonymized_at.is_none()) {
        let data = adjust(record.data.anonymized());
        store.anonymize(org, by.user_id(), record, data).await?;
        done += 1;
    }
    Ok(done)
}

fn unchanged<E>(data: E) -> E {
    data
}

fn erased_document(mut data: Document) -> Document {
    data.upload_status = UploadStatus::Rejected;
    data.rejection_reason = FILE_ERASED.into();
    data
}

/// Deletes every S3 version of a document's file, after appending an audit record that names
/// the document, the file and the versions (the trail never misses a deletion: if the deletion
/// then fails, a re-run records and deletes what is left). Returns how many were deleted.
pub async fn delete_file(
    erasure: &Erasure,
    org: OrgId,
    by: &By,
    document: &Record<Document>,
    action: Action,
) -> AppResult<usize> {
    let key = document.data.file_path.as_str();
    let versions = erasure.objects.versions(org, key).await?;
    if versions.is_empty() {
        return Ok(0);
    }
    let record = AuditRecord {
        audit_id: Uuid::new_v4().to_string(),
        organization_id: org.as_uuid(),
        occurred_at: Utc::now(),
        action,
        risk: Risk::High,
        resource_type: Document::KIND.into(),
        resource_id: Some(document.meta.id.to_string()),
        // The S3 version ids deleted: opaque, and what an auditor needs to match S3's own logs.
        resource_ids: versions.clone(),
        actor: by.actor,
        outcome: Outcome::Success,
        // `file_path` is not personal (org, document id, version number): kept in clear.
        changes: vec![Change { field: "file_path".into(), from: Some(Value::String(key.into())), to: None }],
        subject_before: None,
        subject_after: None,
        version: Some(document.meta.version),
        source: Source::Request(by.request.clone()),
    };
    erasure.audit.write(&record).await.map_err(|e| AppError::unavailable(format!("audit trail: {e}")))?;
    erasure.objects.delete_versions(key, &versions).await
}

/// Erases the person `contact` is; see the module doc.
#[tracing::instrument(name = "privacy.erase_contact", skip_all, fields(contact = %contact.meta.id))]
pub async fn erase_contact(
    store: &Store,
    erasure: &Erasure,
    org: OrgId,
    by: &By,
    contact: Record<Contact>,
) -> AppResult<ErasureReport> {
    let id = contact.meta.id;
    let appointments = related::<Appointment>(store, org, id, |a| Some(a.contact_id)).await?;
    let appointments = anonymize_all(store, org, by, &appointments, unchanged).await?;
    let transactions = related::<Transaction>(store, org, id, |t| Some(t.contact_id)).await?;
    let transactions = anonymize_all(store, org, by, &transactions, unchanged).await?;

    let documents = related::<Document>(store, org, id, |d| d.related_contact_id).await?;
    let mut file_versions_deleted = 0;
    for document in &documents {
        file_versions_deleted += delete_file(erasure, org, by, document, Action::Anonymize).await?;
    }
    let documents = anonymize_all(store, org, by, &documents, erased_document).await?;

    let already = contact.meta.anonymized_at.is_some();
    let contact = if already {
        contact
    } else {
        let data = contact.data.anonymized();
        store.anonymize(org, by.user_id(), &contact, data).await?
    };
    // Last, so every audit copy written above (the stream seals them under this key) becomes
    // unreadable with the rest; the tombstone makes later ones be stored as erased.
    erasure
        .audit
        .keys()
        .erase(org.as_uuid(), id)
        .await
        .map_err(|e| AppError::unavailable(format!("audit data key: {e}")))?;
    let nothing_left = appointments + transactions + documents + file_versions_deleted == 0;
    tracing::info!(appointments, transactions, documents, file_versions_deleted, "contact erased");
    Ok(ErasureReport {
        contact,
        already_anonymized: already && nothing_left,
        appointments,
        documents,
        transactions,
        file_versions_deleted,
    })
}
