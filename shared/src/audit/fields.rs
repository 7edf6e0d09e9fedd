//! Which fields of which entity hold personal data: the one list the audit trail encrypts by.
//!
//! A personal field's previous and new values are stored in an audit record only encrypted
//! under the data key of the person they are about (see [`crate::audit::crypto`]), so destroying that
//! key makes every audit copy of them unreadable without editing a single audit record. Other
//! fields (statuses, amounts, dates of appointments, ids, flags) stay in clear: they are what an
//! auditor reads, and they identify no one on their own.
//!
//! Fail-safe: a field this file does not list as clear, of any entity, is treated as personal.
//! A field added to an entity later is therefore encrypted until someone decides otherwise here.

use serde_json::{Map, Value};
use uuid::Uuid;

/// The BaseModel fields and the write version the repository stamps on every record
/// ([`Meta::FIELDS`](crate::store::Meta::FIELDS)) are bookkeeping: an audit record states them
/// through its action, actor, time and `version`, and never lists them as changed fields. The
/// anonymization marker is the exception: its appearance is listed (see [`ANONYMIZED_AT`]).
pub fn is_bookkeeping(field: &str) -> bool {
    field != ANONYMIZED_AT && crate::store::Meta::FIELDS.contains(&field)
}

/// Storage attributes that are not fields of the record at all (`retention_pk`/`retention_due`:
/// the sparse retention index's keys, derived from the record's retention date).
pub const INTERNAL: &[&str] =
    &["pk", "sk", "item_type", "entity", "record_sk", "expires_at", "retention_pk", "retention_due"];

/// The anonymization marker: set (from absent or null to a time) by the operation that
/// irreversibly replaces a person's identifying fields. Its appearance makes a change an
/// `anonymize`, whatever else changed with it.
pub const ANONYMIZED_AT: &str = "anonymized_at";

/// The personal and clear fields of one entity, and which field names the person its personal
/// values are about.
#[derive(Debug)]
pub struct EntityFields {
    /// The entity's `KIND` (`CONTACT`, ...).
    pub kind: &'static str,
    /// The field holding the person's (contact's) id; `None` when the record is the person.
    pub subject_field: Option<&'static str>,
    pub personal: &'static [&'static str],
    pub clear: &'static [&'static str],
}

/// Every entity's fields. Keep in step with the entity crates' structs.
pub const ENTITIES: &[EntityFields] = &[
    EntityFields {
        kind: "CONTACT",
        subject_field: None,
        personal: &[
            "first_name",
            "last_name",
            "email",
            "phone",
            "mobile",
            "date_of_birth",
            "address_line1",
            "address_line2",
            "city",
            "state",
            "postal_code",
            "medical_record_number",
            "insurance_number",
            "company",
            "job_title",
            "emergency_contact_name",
            "emergency_contact_phone",
            "emergency_contact_relationship",
        ],
        clear: &[
            "contact_type",
            "title",
            "country",
            "preferred_language",
            "communication_preference",
            "consent_given",
            "consent_date",
            "consent_version",
            "data_retention_until",
        ],
    },
    EntityFields {
        kind: "APPOINTMENT",
        subject_field: Some("contact_id"),
        personal: &[
            "title",
            "description",
            "location",
            "required_equipment",
            "billing_code",
            "preparation_notes",
            "post_appointment_notes",
            "cancellation_reason",
        ],
        clear: &[
            "contact_id",
            "start_datetime",
            "end_datetime",
            "timezone",
            "appointment_type",
            "status",
            "priority",
            "assigned_provider",
            "assigned_staff",
            "estimated_duration_minutes",
            "estimated_cost",
            "insurance_authorized",
            "requires_follow_up",
            "follow_up_date",
            "reminder_sent",
            "confirmation_required",
            "confirmed_at",
            "cancelled_at",
        ],
    },
    EntityFields {
        kind: "TRANSACTION",
        subject_field: Some("contact_id"),
        personal: &["description", "notes", "payment_reference"],
        clear: &[
            "transaction_id",
            "transaction_type",
            "status",
            "amount",
            "currency",
            "tax_amount",
            "contact_id",
            "related_appointment_id",
            "payment_method",
            "payment_date",
            "invoice_number",
            "billing_period_start",
            "billing_period_end",
            "due_date",
            "requires_receipt",
            "receipt_sent",
            "refunded_transaction_id",
            "refunded_amount",
        ],
    },
    EntityFields {
        kind: "DOCUMENT",
        subject_field: Some("related_contact_id"),
        personal: &["title", "description", "file_name", "tags", "rejection_reason"],
        clear: &[
            "document_type",
            "file_path",
            "file_size_bytes",
            "mime_type",
            "checksum",
            "checksum_md5",
            "related_contact_id",
            "related_appointment_id",
            "privacy_level",
            "document_version",
            "parent_document_id",
            "retention_until",
            "is_encrypted",
            "access_log_required",
            "requires_approval",
            "approved",
            "approved_by",
            "approved_at",
            "upload_status",
        ],
    },
    // A metric of the practice (`hub-analytics`), about no one: nothing to seal.
    EntityFields {
        kind: "ANALYTICS_RECORD",
        subject_field: None,
        personal: &[],
        clear: &["metric_name", "metric_value"],
    },
];

pub fn entity(kind: &str) -> Option<&'static EntityFields> {
    ENTITIES.iter().find(|e| e.kind == kind)
}

/// Whether a field's values are encrypted in audit diffs: anything not listed as clear.
pub fn is_personal(kind: &str, field: &str) -> bool {
    if field == ANONYMIZED_AT {
        return false;
    }
    entity(kind).is_none_or(|e| !e.clear.contains(&field))
}

/// The person an image's personal values are about: the contact itself for contacts, the
/// contact a record names for other entities, and, for a record naming no one (a document of no
/// contact), the record itself, so its values can still be erased with it.
pub fn subject(kind: &str, image: &Map<String, Value>) -> Option<Uuid> {
    let own = || image.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok());
    match entity(kind).and_then(|e| e.subject_field) {
        Some(field) => image.get(field).and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()).or_else(own),
        None => own(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn no_field_is_both_personal_and_clear_and_no_list_names_bookkeeping() {
        for e in ENTITIES {
            for f in e.personal {
                assert!(!e.clear.contains(f), "{}.{f} is in both lists", e.kind);
                assert!(!is_bookkeeping(f) && !INTERNAL.contains(f), "{}.{f}", e.kind);
            }
            if let Some(subject) = e.subject_field {
                assert!(e.clear.contains(&subject), "{}: the subject field is an id, kept clear", e.kind);
            }
        }
    }

    #[test]
    fn unlisted_fields_and_unknown_entities_are_personal() {
        assert!(is_personal("CONTACT", "email"));
        assert!(!is_personal("CONTACT", "consent_given"));
        assert!(is_personal("CONTACT", "nickname_added_later"));
        assert!(is_personal("PRESCRIPTION", "status"));
        assert!(!is_personal("TRANSACTION", "amount"));
        assert!(!is_personal("ANALYTICS_RECORD", "metric_name") && !is_personal("ANALYTICS_RECORD", "metric_value"));
        assert!(!is_personal("CONTACT", ANONYMIZED_AT));
    }

    #[test]
    fn the_subject_is_the_contact_the_record_is_about() {
        let contact = Uuid::new_v4();
        let own = Uuid::new_v4();
        let image = |extra: Value| {
            let mut map = json!({"id": own.to_string()}).as_object().cloned().unwrap_or_default();
            map.extend(extra.as_object().cloned().unwrap_or_default());
            map
        };
        assert_eq!(subject("CONTACT", &image(json!({}))), Some(own));
        assert_eq!(subject("APPOINTMENT", &image(json!({"contact_id": contact.to_string()}))), Some(contact));
        assert_eq!(subject("DOCUMENT", &image(json!({"related_contact_id": contact.to_string()}))), Some(contact));
        assert_eq!(subject("DOCUMENT", &image(json!({"related_contact_id": null}))), Some(own));
    }
}
