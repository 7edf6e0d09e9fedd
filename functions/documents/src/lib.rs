//! Documents: metadata in DynamoDB, bytes in S3. The entity's fields and rules live here; the
//! generic operations are `hub_shared::ops`, and the document-specific ones (create with an
//! upload URL, complete, download, versions, approve) are the small functions of [`api`],
//! wired one per binary in `src/bin/`.
//!
//! Who sees what ([`Document::visible_to`]): `restricted` documents only admins and the
//! clinical roles ([`CLINICAL_ROLES`]); `confidential` ones no read-only caller (`viewer`,
//! `auditor`, `read_only`), neither in lists nor by id. An invisible document answers exactly
//! like a missing one.

use hub_shared::auth::{AccessLevel, Tenant};
use hub_shared::choice_enum;
use hub_shared::domain::{Choice, Date, Fields, Timestamp, Window, check_retention_change, params};
use hub_shared::error::{AppError, AppResult, FieldError};
use hub_shared::store::{ANONYMIZED, Entity, IndexEntry, ListSpec, Lock, Meta, Record, Reference, SortRange, Store};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

pub mod api;
pub mod files;

pub use api::{approve, complete, create, download, versions_create, versions_list};
pub use files::Files;

choice_enum! {
    pub enum DocumentType {
        MedicalRecord = "medical_record",
        LabResult = "lab_result",
        Imaging = "imaging",
        Prescription = "prescription",
        Invoice = "invoice",
        Contract = "contract",
        Report = "report",
        ConsentForm = "consent_form",
        Insurance = "insurance",
        Other = "other",
    }
}

choice_enum! {
    pub enum PrivacyLevel { Public = "public", Internal = "internal", Confidential = "confidential", Restricted = "restricted" }
}

choice_enum! {
    /// `pending` until `complete` checked the stored object; then `available` or `rejected`.
    pub enum UploadStatus { Pending = "pending", Available = "available", Rejected = "rejected" }
}

/// Roles that, besides admins, see `restricted` documents and may approve documents.
pub const CLINICAL_ROLES: &[&str] = &["doctor", "practitioner"];

/// Who sees a document of this privacy level: the one rule behind [`Document::visible_to`] and
/// [`Document::visible_in`].
fn privacy_visible(level: PrivacyLevel, tenant: &Tenant) -> bool {
    match level {
        PrivacyLevel::Restricted => Document::is_approver(tenant),
        PrivacyLevel::Confidential => tenant.user.access_level() != AccessLevel::ReadOnly,
        PrivacyLevel::Public | PrivacyLevel::Internal => true,
    }
}

/// The largest file accepted: 1 GiB, well inside S3's 5 GiB single-PUT limit.
pub const MAX_FILE_SIZE_BYTES: u64 = 1 << 30;
/// At most this many tags of at most `MAX_TAG_LEN` characters each.
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_LEN: usize = 50;
/// The seed's `version` is a PositiveSmallInt: at most this many versions per document.
pub const MAX_DOCUMENT_VERSION: u32 = 32_767;
const MAX_DESCRIPTION: usize = 10_000;
const DEFAULT_MIME_TYPE: &str = "application/octet-stream";

/// A document's metadata, as the seed's model defines it, plus the upload state. The seed's
/// `version` (the document's version number) is `document_version` here, because `version` is
/// the record's write version (`If-Match`) on every entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Document {
    pub title: String,
    pub description: String,
    pub document_type: DocumentType,
    pub file_name: String,
    /// The S3 object key; set by the server.
    pub file_path: String,
    pub file_size_bytes: u64,
    pub mime_type: String,
    /// SHA-256 of the file, 64 lower-case hex digits: the integrity check.
    pub checksum: String,
    /// Kept for compatibility with the seed; informative only, never checked.
    pub checksum_md5: String,
    pub related_contact_id: Option<Uuid>,
    pub related_appointment_id: Option<Uuid>,
    pub privacy_level: PrivacyLevel,
    pub tags: Vec<String>,
    pub document_version: u32,
    /// The first version of the document (every later version points at it).
    pub parent_document_id: Option<Uuid>,
    pub retention_until: Option<Date>,
    /// A flag kept from the seed; every object is encrypted at rest by the bucket regardless.
    pub is_encrypted: bool,
    pub access_log_required: bool,
    pub requires_approval: bool,
    pub approved: bool,
    pub approved_by: Option<Uuid>,
    pub approved_at: Option<Timestamp>,
    pub upload_status: UploadStatus,
    pub rejection_reason: String,
    /// Whether these fields came from a request body (`from_json`) rather than from storage or
    /// a server-side transition: only then are server-owned fields taken from the previous state.
    #[serde(skip)]
    from_client: bool,
}

/// Fields only the server sets: accepted and ignored in bodies, so a GET body can be PUT back.
const SERVER_FIELDS: &[&str] =
    &["file_path", "document_version", "approved", "approved_by", "approved_at", "upload_status", "rejection_reason"];

impl Document {
    pub fn is_approver(tenant: &Tenant) -> bool {
        tenant.user.is_admin() || CLINICAL_ROLES.iter().any(|r| tenant.user.has_role(r))
    }

    /// The id of the first version: the partition every version is listed in.
    pub fn root_id(&self, own: Uuid) -> Uuid {
        self.parent_document_id.unwrap_or(own)
    }

    /// Whether the caller may download the bytes now (visibility is checked before).
    pub fn download_refusal(&self, tenant: &Tenant) -> Option<AppError> {
        if self.upload_status != UploadStatus::Available {
            return Some(AppError::conflict(
                "NOT_AVAILABLE",
                format!("the document's file is {}, not available", self.upload_status),
            ));
        }
        if self.requires_approval && !self.approved && !tenant.user.is_admin() {
            return Some(AppError::forbidden("NOT_APPROVED", "this document requires approval before download"));
        }
        None
    }

    /// Marks this value as the server's own (after a transition), not a client's body.
    pub fn server_side(mut self) -> Self {
        self.from_client = false;
        self
    }

    fn file_fields_differ(&self, previous: &Self) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if !self.file_name.is_empty() && self.file_name != previous.file_name {
            changed.push("file_name");
        }
        if self.mime_type_given() && self.mime_type != previous.mime_type {
            changed.push("mime_type");
        }
        if self.file_size_bytes != 0 && self.file_size_bytes != previous.file_size_bytes {
            changed.push("file_size_bytes");
        }
        if !self.checksum.is_empty() && self.checksum != previous.checksum {
            changed.push("checksum");
        }
        if !self.checksum_md5.is_empty() && self.checksum_md5 != previous.checksum_md5 {
            changed.push("checksum_md5");
        }
        if self.parent_document_id.is_some() && self.parent_document_id != previous.parent_document_id {
            changed.push("parent_document_id");
        }
        changed
    }

    fn mime_type_given(&self) -> bool {
        !self.mime_type.is_empty()
    }

    /// Server-owned fields, and file fields the client left out, from the previous state.
    fn keep_from(&mut self, previous: &Self) {
        self.file_path.clone_from(&previous.file_path);
        self.document_version = previous.document_version;
        self.approved = previous.approved;
        self.approved_by = previous.approved_by;
        self.approved_at = previous.approved_at;
        self.upload_status = previous.upload_status;
        self.rejection_reason.clone_from(&previous.rejection_reason);
        self.file_name.clone_from(&previous.file_name);
        self.mime_type.clone_from(&previous.mime_type);
        self.file_size_bytes = previous.file_size_bytes;
        self.checksum.clone_from(&previous.checksum);
        self.checksum_md5.clone_from(&previous.checksum_md5);
        self.parent_document_id = previous.parent_document_id;
    }
}

/// The name of the lock that numbers a document's versions.
pub fn versions_lock(root: Uuid) -> String {
    format!("DOCUMENT-VERSIONS#{root}")
}

fn is_hex(value: &str, len: usize) -> bool {
    value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `type/subtype` of RFC 6838 restricted-name characters, without parameters.
fn is_mime_type(value: &str) -> bool {
    let name_ok = |part: &str| {
        !part.is_empty()
            && part.len() <= 127
            && part.as_bytes()[0].is_ascii_alphanumeric()
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    matches!(value.split_once('/'), Some((t, s)) if name_ok(t) && name_ok(s))
}

/// A file's name, not a path: no separators, not `.` or `..`, no control character.
fn is_file_name(value: &str) -> bool {
    !value.contains(['/', '\\']) && value != "." && value != ".." && !value.chars().any(char::is_control)
}

/// [`is_file_name`], [`is_mime_type`] and [`is_hex`] for the OpenAPI document (each also
/// matching `""`: the field unset).
const FILE_NAME_PATTERN: &str = concat!(
    r"^(?:[^./\\\x00-\x1F\x7F-\x9F][^/\\\x00-\x1F\x7F-\x9F]*",
    r"|\.[^./\\\x00-\x1F\x7F-\x9F][^/\\\x00-\x1F\x7F-\x9F]*",
    r"|\.\.[^/\\\x00-\x1F\x7F-\x9F]+)?$"
);
const MIME_TYPE_PATTERN: &str = r"^(?:[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126})?$";
const SHA256_PATTERN: &str = "^(?:[0-9a-fA-F]{64})?$";
const MD5_PATTERN: &str = "^(?:[0-9a-fA-F]{32})?$";

impl Entity for Document {
    const KIND: &'static str = "DOCUMENT";
    const NAME: &'static str = "document";
    const PATH: &'static str = "/api/business/documents";
    const FILTERS: &'static [&'static str] =
        &["document_type", "related_contact_id", "related_appointment_id", "privacy_level", "tag"];

    /// File fields are optional here: required on create ([`Document::reconcile`] with no
    /// previous state), kept when omitted on update, refused when changed.
    fn read(f: &mut Fields<'_>) -> Self {
        f.ignore(Meta::FIELDS);
        f.ignore(SERVER_FIELDS);
        let file_size_bytes = f.optional_integer("file_size_bytes", 1, MAX_FILE_SIZE_BYTES as i64);
        let mut document = Document {
            title: f.required_text("title", 200),
            description: f.long_text("description", MAX_DESCRIPTION),
            document_type: f.choice("document_type", DocumentType::Other),
            file_name: f.pattern(
                "file_name",
                255,
                None,
                FILE_NAME_PATTERN,
                is_file_name,
                "must be a file name, without / or \\",
            ),
            file_path: String::new(),
            file_size_bytes: file_size_bytes.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
            mime_type: f
                .pattern(
                    "mime_type",
                    100,
                    None,
                    MIME_TYPE_PATTERN,
                    is_mime_type,
                    "must be a media type such as application/pdf",
                )
                .to_ascii_lowercase(),
            checksum: f
                .pattern(
                    "checksum",
                    64,
                    None,
                    SHA256_PATTERN,
                    |v| is_hex(v, 64),
                    "must be the file's SHA-256 as 64 hexadecimal digits",
                )
                .to_ascii_lowercase(),
            checksum_md5: f
                .pattern(
                    "checksum_md5",
                    32,
                    None,
                    MD5_PATTERN,
                    |v| is_hex(v, 32),
                    "must be an MD5 as 32 hexadecimal digits",
                )
                .to_ascii_lowercase(),
            related_contact_id: f.uuid("related_contact_id"),
            related_appointment_id: f.uuid("related_appointment_id"),
            privacy_level: f.choice("privacy_level", PrivacyLevel::Internal),
            tags: f.string_list("tags", MAX_TAGS, MAX_TAG_LEN),
            document_version: 1,
            parent_document_id: f.uuid("parent_document_id"),
            retention_until: f.date("retention_until", Window::Retention),
            is_encrypted: f.boolean("is_encrypted", true),
            access_log_required: f.boolean("access_log_required", true),
            requires_approval: f.boolean("requires_approval", false),
            approved: false,
            approved_by: None,
            approved_at: None,
            upload_status: UploadStatus::Pending,
            rejection_reason: String::new(),
            from_client: true,
        };
        for field in ["file_name", "file_size_bytes", "checksum"] {
            f.note(field, "required", "Required on create: it declares the file to upload.");
        }
        for field in ["file_name", "file_size_bytes", "mime_type", "checksum", "checksum_md5"] {
            f.note(field, "immutable", "Fixed once created: a new file is a new version.");
        }
        f.note("related_contact_id", "not_found", "Must name a live contact of the organization.");
        f.note("related_appointment_id", "not_found", "Must name a live appointment of the organization.");
        f.note("parent_document_id", "not_found", "Must name a live document the caller may see.");
        f.note("parent_document_id", "immutable", "Fixed once created: a version stays a version of its document.");
        document.tags.sort();
        document
    }

    /// On create, the file must be declared; on a client's update, server-owned fields come from
    /// the previous state and file fields cannot change.
    fn reconcile(&mut self, previous: Option<&Self>, _now: Timestamp) -> AppResult<()> {
        if !self.from_client {
            return Ok(());
        }
        check_retention_change("retention_until", self.retention_until, previous.and_then(|p| p.retention_until))?;
        match previous {
            None => {
                let mut errors = Vec::new();
                if self.file_name.is_empty() {
                    errors.push(FieldError::new("file_name", "required", "is required"));
                }
                if self.file_size_bytes == 0 {
                    errors.push(FieldError::new(
                        "file_size_bytes",
                        "required",
                        format!("is required: the file's size in bytes, 1 to {MAX_FILE_SIZE_BYTES}"),
                    ));
                }
                if self.checksum.is_empty() {
                    errors.push(FieldError::new("checksum", "required", "is required: the file's SHA-256 in hex"));
                }
                if !errors.is_empty() {
                    return Err(AppError::validation(errors));
                }
                if self.mime_type.is_empty() {
                    self.mime_type = DEFAULT_MIME_TYPE.to_string();
                }
            }
            Some(previous) => {
                let changed = self.file_fields_differ(previous);
                if !changed.is_empty() {
                    return Err(AppError::validation(
                        changed
                            .into_iter()
                            .map(|field| {
                                FieldError::new(
                                    field,
                                    "immutable",
                                    "describes the uploaded file and cannot change; upload a new version",
                                )
                            })
                            .collect(),
                    ));
                }
                self.keep_from(previous);
            }
        }
        Ok(())
    }

    fn anonymized(&self) -> Self {
        Document {
            title: ANONYMIZED.into(),
            description: String::new(),
            document_type: self.document_type,
            file_name: String::new(),
            file_path: self.file_path.clone(),
            file_size_bytes: self.file_size_bytes,
            mime_type: self.mime_type.clone(),
            checksum: self.checksum.clone(),
            checksum_md5: self.checksum_md5.clone(),
            related_contact_id: self.related_contact_id,
            related_appointment_id: self.related_appointment_id,
            privacy_level: self.privacy_level,
            tags: Vec::new(),
            document_version: self.document_version,
            parent_document_id: self.parent_document_id,
            retention_until: self.retention_until,
            is_encrypted: self.is_encrypted,
            access_log_required: self.access_log_required,
            requires_approval: self.requires_approval,
            approved: self.approved,
            approved_by: self.approved_by,
            approved_at: self.approved_at,
            upload_status: self.upload_status,
            rejection_reason: String::new(),
            from_client: false,
        }
    }

    fn references(&self) -> Vec<Reference> {
        let mut out = Vec::new();
        if let Some(id) = self.related_contact_id {
            out.push(Reference { field: "related_contact_id", kind: "CONTACT", id });
        }
        if let Some(id) = self.related_appointment_id {
            out.push(Reference { field: "related_appointment_id", kind: "APPOINTMENT", id });
        }
        if let Some(id) = self.parent_document_id {
            out.push(Reference { field: "parent_document_id", kind: Self::KIND, id });
        }
        out
    }

    fn visible_to(&self, tenant: &Tenant) -> bool {
        privacy_visible(self.privacy_level, tenant)
    }

    const VISIBILITY_FIELDS: &'static [&'static str] = &["privacy_level"];

    /// A level this code does not know (or none) is treated as `restricted`: a notification
    /// about an unreadable image reaches too few, never too many.
    fn visible_in(fields: &serde_json::Map<String, serde_json::Value>, tenant: &Tenant) -> bool {
        let level = fields
            .get("privacy_level")
            .and_then(serde_json::Value::as_str)
            .and_then(PrivacyLevel::parse)
            .unwrap_or(PrivacyLevel::Restricted);
        privacy_visible(level, tenant)
    }

    /// A caller may not write a document they could not then see, nor lift an approval
    /// requirement they could not satisfy; a new version takes the next number of its
    /// document, under a lock so two concurrent versions cannot get the same one.
    async fn before_write<'a>(
        &'a self,
        store: &'a Store,
        tenant: &'a Tenant,
        current: Option<&'a Record<Self>>,
    ) -> AppResult<Vec<Lock>> {
        if !self.visible_to(tenant) {
            return Err(AppError::forbidden(
                "FORBIDDEN",
                format!("your roles cannot give a document the privacy level {}", self.privacy_level),
            ));
        }
        if let Some(current) = current
            && current.data.requires_approval
            && !current.data.approved
            && !self.requires_approval
            && !Self::is_approver(tenant)
        {
            return Err(AppError::forbidden(
                "FORBIDDEN",
                "only an approver can lift the approval requirement of an unapproved document",
            ));
        }
        match (current, self.parent_document_id) {
            (None, Some(root)) => {
                let lock = store.lock(tenant.org, &versions_lock(root)).await?;
                if u64::from(self.document_version) != lock.seen + 2 {
                    return Err(AppError::conflict(
                        "CONCURRENT_MODIFICATION",
                        "another version of this document was created meanwhile; retry",
                    ));
                }
                Ok(vec![lock])
            }
            _ => Ok(Vec::new()),
        }
    }

    fn index_entries(&self, meta: &Meta) -> Vec<IndexEntry> {
        let created = meta.created_at.to_key();
        let mut entries = vec![
            IndexEntry::new("ALL", created.clone()),
            IndexEntry::new(format!("TYPE#{}", self.document_type), created.clone()),
            IndexEntry::new(format!("PRIVACY#{}", self.privacy_level), created.clone()),
            IndexEntry::new(format!("VERSIONS#{}", self.root_id(meta.id)), format!("{:05}", self.document_version)),
        ];
        if let Some(contact) = self.related_contact_id {
            entries.push(IndexEntry::new(format!("CONTACT#{contact}"), created.clone()));
        }
        if let Some(appointment) = self.related_appointment_id {
            entries.push(IndexEntry::new(format!("APPOINTMENT#{appointment}"), created.clone()));
        }
        for tag in &self.tags {
            entries.push(IndexEntry::new(format!("TAG#{tag}"), created.clone()));
        }
        entries
    }

    /// Newest first. One filter picks the partition Queried (the most selective given: contact,
    /// appointment, tag, type, privacy); the others are checked on the entries it returns.
    /// Retention (the `retention` function in `hub-privacy`) purges the document, with its
    /// file, after `retention_until`.
    fn retention_date(&self, _meta: &Meta) -> Option<Date> {
        self.retention_until
    }

    fn list_spec(params: &HashMap<String, String>, _tenant: &Tenant) -> AppResult<ListSpec<Self>> {
        let document_type = params::choice::<DocumentType>(params, "document_type")?.map(|t| t.as_str());
        let privacy_level = params::choice::<PrivacyLevel>(params, "privacy_level")?.map(|p| p.as_str());
        let contact = params::uuid(params, "related_contact_id")?;
        let appointment = params::uuid(params, "related_appointment_id")?;
        let tag = params::text(params, "tag", MAX_TAG_LEN)?;
        let index = if let Some(c) = contact {
            format!("CONTACT#{c}")
        } else if let Some(a) = appointment {
            format!("APPOINTMENT#{a}")
        } else if let Some(t) = &tag {
            format!("TAG#{t}")
        } else if let Some(t) = document_type {
            format!("TYPE#{t}")
        } else if let Some(p) = privacy_level {
            format!("PRIVACY#{p}")
        } else {
            "ALL".to_string()
        };
        let fingerprint = format!(
            "{index}|{}|{}|{}|{}|{}",
            document_type.unwrap_or(""),
            privacy_level.unwrap_or(""),
            contact.map(|c| c.to_string()).unwrap_or_default(),
            appointment.map(|a| a.to_string()).unwrap_or_default(),
            tag.as_deref().unwrap_or(""),
        );
        let accept = Box::new(move |record: &Record<Document>, _sort: &str| {
            let d = &record.data;
            document_type.is_none_or(|t| d.document_type.as_str() == t)
                && privacy_level.is_none_or(|p| d.privacy_level.as_str() == p)
                && contact.is_none_or(|c| d.related_contact_id == Some(c))
                && appointment.is_none_or(|a| d.related_appointment_id == Some(a))
                && tag.as_ref().is_none_or(|t| d.tags.contains(t))
        });
        Ok(ListSpec { index, range: SortRange::All, newest_first: true, fingerprint, accept: Some(accept) })
    }
}

#[cfg(test)]
mod tests;
