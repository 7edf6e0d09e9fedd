//! The import job: what an admin declared, where the processing stands, and what it counted.
//! Stored as one item of the business table (`IMPORT#<id>`, repo/import.rs), saved only with
//! a condition on the revision read, so two workers (a duplicated message) or two `start`
//! calls can never both apply.

use hub_shared::auth::{OrgId, Tenant, UserContext, UserId};
use hub_shared::domain::Timestamp;
use hub_shared::error::{AppError, AppResult, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The largest file an import takes (413 beyond): 50 MiB, about 250,000 contacts.
pub const MAX_SIZE: u64 = 50 * 1024 * 1024;
/// The most data rows an import takes: the import fails, with what it wrote so far reported,
/// when the file holds more.
pub const MAX_ROWS: u64 = 250_000;

/// An import started and not finished that made no progress for this long reads as failed
/// ([`Job::effective`]): its worker's last receive can die without marking it (a timeout), and
/// then nothing else will. Five receives (the queue's `maxReceiveCount`) of at most one
/// visibility timeout (12 minutes, the worker's 2 minutes' timeout six times) fit well inside.
pub const STALE_AFTER_SECS: i64 = 3 * 3600;

/// The reason a stale import reads with.
pub const STALLED: &str = "the import stopped making progress and was abandoned; declare a new one for the rest";

/// What an import writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Contacts,
    Appointments,
    Transactions,
}

impl Target {
    pub const ALL: &'static [&'static str] = &["contacts", "appointments", "transactions"];

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "contacts" => Some(Self::Contacts),
            "appointments" => Some(Self::Appointments),
            "transactions" => Some(Self::Transactions),
            _ => None,
        }
    }

    /// The modes this entity supports: an upsert needs a unique field to match rows by.
    fn modes(self) -> &'static [Mode] {
        match self {
            Self::Contacts => &[Mode::CreateOnly, Mode::UpsertByEmail, Mode::UpsertByMedicalRecordNumber],
            Self::Appointments | Self::Transactions => &[Mode::CreateOnly],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Ndjson,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv",
            Self::Ndjson => "application/x-ndjson",
        }
    }
}

/// How rows meet existing records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every row is a new record; a row whose unique value is taken is skipped.
    CreateOnly,
    /// A row whose e-mail is a live contact's replaces that contact's fields named in the
    /// file; any other row is created.
    UpsertByEmail,
    UpsertByMedicalRecordNumber,
}

impl Mode {
    pub const ALL: &'static [&'static str] = &["create_only", "upsert_by_email", "upsert_by_medical_record_number"];

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "create_only" => Some(Self::CreateOnly),
            "upsert_by_email" => Some(Self::UpsertByEmail),
            "upsert_by_medical_record_number" => Some(Self::UpsertByMedicalRecordNumber),
            _ => None,
        }
    }

    /// The field rows are matched by, for an upsert.
    pub fn key_field(self) -> Option<&'static str> {
        match self {
            Self::CreateOnly => None,
            Self::UpsertByEmail => Some("email"),
            Self::UpsertByMedicalRecordNumber => Some("medical_record_number"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Declared; waiting for the upload and `start`.
    Pending,
    /// Started: the header is being checked, or (dry run) every row is.
    Validating,
    /// Rows are being written.
    Running,
    Done,
    Failed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.read += other.read;
        self.created += other.created;
        self.updated += other.updated;
        self.skipped += other.skipped;
        self.failed += other.failed;
    }
}

/// One import job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub entity: Target,
    pub format: Format,
    pub mode: Mode,
    pub dry_run: bool,
    /// Header (or NDJSON key) -> field, as declared; a header not named maps to itself.
    pub columns: BTreeMap<String, String>,
    pub file_name: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    pub state: State,
    pub reason: Option<String>,
    pub counts: Counts,
    /// The next chunk to process and where it starts: byte offset and row number.
    pub next_chunk: u64,
    pub next_offset: u64,
    pub next_row: u64,
    /// The CSV header's fields in column order, stored by the first chunk.
    pub header: Option<Vec<String>>,
    /// Where each committed chunk ended (byte offset), in order: with the chunk's number, the
    /// key of its report part ([`Job::part_key`]). A job begun before this field names its first
    /// `next_chunk - part_ends.len()` parts by number only.
    #[serde(default)]
    pub part_ends: Vec<u64>,
    /// The admin who declared it: the worker writes as them (`created_by`, `updated_by`).
    pub created_by: Uuid,
    pub roles: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

impl Job {
    /// The declaration in a `POST /api/business/imports` body, checked field by field.
    pub fn declare(body: &Map<String, Value>, tenant: &Tenant, id: Uuid, now: Timestamp) -> AppResult<Self> {
        let mut errors = Vec::new();
        let known = ["entity", "format", "file_name", "size", "sha256", "mode", "dry_run", "columns"];
        for name in body.keys().filter(|k| !known.contains(&k.as_str())) {
            errors.push(FieldError::new(name, "unknown_field", "is not a field of an import"));
        }
        let text = |name: &str, errors: &mut Vec<FieldError>| match body.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            None | Some(Value::Null) => None,
            Some(_) => {
                errors.push(FieldError::new(name, "invalid_type", "must be a string"));
                None
            }
        };
        let entity = match text("entity", &mut errors) {
            None => {
                errors.push(FieldError::new("entity", "required", "is required"));
                None
            }
            Some(raw) => Target::parse(&raw).or_else(|| {
                errors.push(FieldError::new(
                    "entity",
                    "invalid_choice",
                    format!("must be one of {}", Target::ALL.join(", ")),
                ));
                None
            }),
        };
        let format = match text("format", &mut errors).as_deref() {
            None => {
                errors.push(FieldError::new("format", "required", "is required"));
                None
            }
            Some("csv") => Some(Format::Csv),
            Some("ndjson") => Some(Format::Ndjson),
            Some(_) => {
                errors.push(FieldError::new("format", "invalid_choice", "must be csv or ndjson"));
                None
            }
        };
        let file_name = text("file_name", &mut errors).unwrap_or_else(|| "import".into());
        if file_name.chars().count() > 255 || file_name.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "file_name",
                "invalid_value",
                "must be at most 255 characters, without control characters",
            ));
        }
        let size = match body.get("size") {
            // `1000.0` is an integer, as JSON Schema's `integer` says.
            Some(Value::Number(n)) => match hub_shared::domain::integral(n) {
                Some(size) if size > 0 => Some(size.unsigned_abs()),
                _ => {
                    errors.push(FieldError::new("size", "invalid_value", "must be a positive integer (bytes)"));
                    None
                }
            },
            None | Some(Value::Null) => {
                errors.push(FieldError::new("size", "required", "is required"));
                None
            }
            Some(_) => {
                errors.push(FieldError::new("size", "invalid_type", "must be an integer (bytes)"));
                None
            }
        };
        let sha256 = match text("sha256", &mut errors) {
            Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(hex.to_ascii_lowercase())
            }
            Some(_) => {
                errors.push(FieldError::new(
                    "sha256",
                    "invalid_value",
                    "must be the file's SHA-256 in hex (64 digits)",
                ));
                None
            }
            None => {
                errors.push(FieldError::new("sha256", "required", "is required"));
                None
            }
        };
        let mode = match text("mode", &mut errors) {
            None => Some(Mode::CreateOnly),
            Some(raw) => Mode::parse(&raw).or_else(|| {
                errors.push(FieldError::new(
                    "mode",
                    "invalid_choice",
                    format!("must be one of {}", Mode::ALL.join(", ")),
                ));
                None
            }),
        };
        if let (Some(entity), Some(mode)) = (entity, mode)
            && !entity.modes().contains(&mode)
        {
            errors.push(FieldError::new("mode", "invalid_choice", "this entity can only be imported create_only"));
        }
        let dry_run = match body.get("dry_run") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                errors.push(FieldError::new("dry_run", "invalid_type", "must be a boolean"));
                false
            }
        };
        let columns = match body.get("columns") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => {
                let mut columns = BTreeMap::new();
                for (header, field) in map {
                    match field.as_str() {
                        Some(field) if !field.is_empty() && header.chars().count() <= 200 => {
                            columns.insert(header.clone(), field.to_string());
                        }
                        _ => errors.push(FieldError::new(
                            "columns",
                            "invalid_value",
                            "must map each header (at most 200 characters) to a field name",
                        )),
                    }
                }
                if columns.len() > 100 {
                    errors.push(FieldError::new("columns", "invalid_value", "must hold at most 100 headers"));
                }
                columns
            }
            Some(_) => {
                errors.push(FieldError::new("columns", "invalid_type", "must be an object of header -> field"));
                BTreeMap::new()
            }
        };
        // A field's bound, as the schema states it (`maximum`): 422, like any other field; 413 is
        // for a request body over the API's limit.
        if let Some(size) = size
            && size > MAX_SIZE
        {
            errors.push(FieldError::new("size", "too_large", format!("must be at most {MAX_SIZE} bytes (50 MiB)")));
        }
        match (entity, format, size, sha256, mode) {
            (Some(entity), Some(format), Some(size), Some(sha256), Some(mode)) if errors.is_empty() => Ok(Self {
                id,
                organization_id: tenant.org.as_uuid(),
                entity,
                format,
                mode,
                dry_run,
                columns,
                file_name,
                size,
                sha256,
                state: State::Pending,
                reason: None,
                counts: Counts::default(),
                next_chunk: 0,
                next_offset: 0,
                next_row: 0,
                header: None,
                part_ends: Vec::new(),
                created_by: tenant.user.user_id.as_uuid(),
                roles: tenant.user.roles.clone(),
                created_at: now,
                updated_at: now,
                started_at: None,
                finished_at: None,
            }),
            _ => Err(AppError::validation(errors)),
        }
    }

    /// The job as a reader is told it at `now`: a started, unfinished import that made no
    /// progress for [`STALE_AFTER_SECS`] is failed.
    pub fn effective(&self, now: Timestamp) -> Self {
        let idle = now.as_datetime() - self.updated_at.as_datetime();
        let started = matches!(self.state, State::Validating | State::Running);
        if !started || idle.num_seconds() <= STALE_AFTER_SECS {
            return self.clone();
        }
        Self { state: State::Failed, reason: Some(STALLED.to_string()), ..self.clone() }
    }

    pub fn org(&self) -> OrgId {
        OrgId::new(self.organization_id)
    }

    /// The admin who declared the import, as the tenant its rows are written by.
    pub fn tenant(&self) -> AppResult<Tenant> {
        Tenant::new(UserContext {
            user_id: UserId::new(self.created_by),
            email: None,
            organization_id: Some(self.org()),
            roles: self.roles.clone(),
            expires_at: None,
        })
    }

    /// Where the file is stored in the bulk bucket.
    pub fn source_key(&self) -> String {
        format!("{}source", prefix(self.org(), self.id))
    }

    pub fn report_key(&self) -> String {
        format!("{}report.csv", prefix(self.org(), self.id))
    }

    /// One chunk's part of the report, concatenated into `report.csv` at the end: named by the
    /// chunk and where it ended, so an attempt that covered other rows (a duplicate delivery cut
    /// short by its time budget, which then loses the commit) writes another object and never
    /// replaces the committed attempt's part.
    pub fn part_key(&self, chunk: u64, end: u64) -> String {
        format!("{}report/{chunk:06}-{end}.csv", prefix(self.org(), self.id))
    }

    /// The committed chunks' parts, in order.
    pub fn part_keys(&self) -> Vec<String> {
        let legacy = self.next_chunk.saturating_sub(self.part_ends.len() as u64);
        let before = (0..legacy).map(|chunk| format!("{}report/{chunk:06}.csv", prefix(self.org(), self.id)));
        let after = self.part_ends.iter().enumerate().map(|(i, end)| self.part_key(legacy + i as u64, *end));
        before.chain(after).collect()
    }

    pub fn to_text(&self) -> AppResult<String> {
        serde_json::to_string(self).map_err(AppError::internal)
    }

    pub fn from_text(text: &str) -> AppResult<Self> {
        serde_json::from_str(text).map_err(AppError::internal)
    }

    /// The API's view of the job (without the admin's roles).
    pub fn to_json(&self) -> Value {
        let progress = if self.state == State::Done {
            100.0
        } else if self.size == 0 {
            0.0
        } else {
            ((self.next_offset as f64 / self.size as f64) * 1000.0).floor() / 10.0
        };
        json!({
            "id": self.id,
            "organization_id": self.organization_id,
            "entity": self.entity,
            "format": self.format,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "columns": self.columns,
            "file_name": self.file_name,
            "size": self.size,
            "sha256": self.sha256,
            "state": self.state,
            "reason": self.reason,
            "counts": self.counts,
            "progress": progress,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        })
    }
}

/// Every object of an import lives under its organization's prefix, so a lifecycle rule or an
/// IAM condition can scope by tenant.
pub fn prefix(org: OrgId, id: Uuid) -> String {
    format!("org/{org}/imports/{id}/")
}
