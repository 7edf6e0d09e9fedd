//! What an audit record says, before it is stored: the same shape for changes (from the stream)
//! and accesses (written by the handlers that serve reads).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use uuid::Uuid;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A record was created (stream `INSERT`).
    Create,
    /// A live record's fields changed.
    Update,
    /// A soft delete: `is_deleted` went from false to true.
    Delete,
    /// `is_deleted` went from true to false.
    Restore,
    /// The record was removed from the table (stream `REMOVE`): only retention does that.
    Purge,
    /// The record's identifying fields were irreversibly replaced (the `anonymized_at` marker appeared).
    Anonymize,
    /// Personal data was read (get, list, search).
    View,
    /// Personal data left the system as a whole (RGPD export).
    Export,
    /// A document's file was downloaded.
    Download,
    /// An admin declared or started a bulk import (`hub-imports`): recorded by the handler, high
    /// risk. The records it writes are audited one by one like any create or update.
    Import,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::Restore,
        Action::Purge,
        Action::Anonymize,
        Action::View,
        Action::Export,
        Action::Download,
        Action::Import,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Restore => "restore",
            Self::Purge => "purge",
            Self::Anonymize => "anonymize",
            Self::View => "view",
            Self::Export => "export",
            Self::Download => "download",
            Self::Import => "import",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == raw)
    }

    /// Whether this action is an access (a read), not a change.
    pub fn is_access(self) -> bool {
        matches!(self, Self::View | Self::Export | Self::Download)
    }
}

/// How much an auditor should care; see [`crate::audit::rules`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    pub const ALL: &'static [Risk] = &[Risk::Low, Risk::Medium, Risk::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.as_str() == raw)
    }
}

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    User(Uuid),
    /// The platform itself (retention purges, or a record whose writer is unknown).
    System,
}

impl Actor {
    /// `<user id>` or `system`: the value the by-user index is keyed on.
    pub fn id(&self) -> String {
        match self {
            Self::User(id) => id.to_string(),
            Self::System => "system".into(),
        }
    }

    pub fn parse(raw: &str) -> Self {
        Uuid::parse_str(raw).map(Self::User).unwrap_or(Self::System)
    }
}

/// One changed field, in clear: values are sealed when the record is written, if the field is
/// personal. `None` means absent (or null).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub field: String,
    pub from: Option<Value>,
    pub to: Option<Value>,
}

/// Whether an access succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// Where a record comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A change, from one stream record of the business table.
    Stream { event_id: String, sequence_number: String },
    /// An access, from one API request.
    Request(RequestInfo),
}

/// The request context of an access record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestInfo {
    pub request_id: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The HTTP status the caller got.
    pub status: Option<u16>,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Unique, and stable for one event: the stream record's `eventID` for changes (so a
    /// redelivered record maps to the same item), a fresh UUID for accesses.
    pub audit_id: String,
    pub organization_id: Uuid,
    /// When it happened, to the millisecond. For a change, the record's `updated_at` (stamped
    /// by its writer), or for a purge the stream record's approximate creation time: both are
    /// in the stream record, so a redelivery repeats them and maps to the same item.
    pub occurred_at: DateTime<Utc>,
    pub action: Action,
    pub risk: Risk,
    /// The entity's `KIND` (`CONTACT`, ...).
    pub resource_type: String,
    /// The one record concerned, if there is one.
    pub resource_id: Option<String>,
    /// For an access to several records (a list page): every id it returned.
    pub resource_ids: Vec<String>,
    pub actor: Actor,
    pub outcome: Outcome,
    /// Changed fields (changes only), values in clear until written.
    pub changes: Vec<Change>,
    /// The person personal values of the previous image are about (their data key seals them).
    pub subject_before: Option<Uuid>,
    /// The person personal values of the new image are about.
    pub subject_after: Option<Uuid>,
    /// The record's write version after the change (before it, for a purge).
    pub version: Option<u64>,
    pub source: Source,
}

impl AuditRecord {
    /// An access record: `action` is `View`, `Export` or `Download`; `resource_ids` the records
    /// served (one for a get or a download, a page's ids for a list). The risk follows
    /// [`crate::audit::rules::access_risk`].
    pub fn access(
        organization_id: Uuid,
        actor: Actor,
        action: Action,
        resource_type: impl Into<String>,
        resource_ids: Vec<String>,
        outcome: Outcome,
        request: RequestInfo,
    ) -> Self {
        let resource_id = (resource_ids.len() == 1).then(|| resource_ids[0].clone());
        Self {
            audit_id: Uuid::new_v4().to_string(),
            organization_id,
            occurred_at: Utc::now(),
            action,
            risk: crate::audit::rules::access_risk(action, outcome),
            resource_type: resource_type.into(),
            resource_id,
            resource_ids,
            actor,
            outcome,
            changes: Vec::new(),
            subject_before: None,
            subject_after: None,
            version: None,
            source: Source::Request(request),
        }
    }

    /// `2026-11-24T08:19:58.827Z`: fixed width, so it sorts as a string.
    pub fn time_key(&self) -> String {
        self.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}
