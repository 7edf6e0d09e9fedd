use super::Store;
use super::attr::Item;
use crate::auth::Tenant;
use crate::domain::{Date, Fields, Timestamp};
use crate::error::AppResult;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// The seed's BaseModel, plus the `version` that guards concurrent writes. Stamped by the
/// repository from the `Tenant`, never taken from a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Meta {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub created_by: Uuid,
    pub updated_by: Uuid,
    pub is_deleted: bool,
    pub deleted_at: Option<Timestamp>,
    pub deleted_by: Option<Uuid>,
    pub version: u64,
    /// RGPD erasure: when the record's identifying fields were irreversibly replaced (see
    /// `hub-privacy`). Set only by `Store::anonymize`, kept by every later write; its
    /// appearance is what the audit stream records as `anonymize`. Absent on most records.
    #[serde(default)]
    pub anonymized_at: Option<Timestamp>,
}

impl Meta {
    /// A new record's metadata: created and last updated by `user` at `now`, version 1, live.
    pub fn new(id: Uuid, organization_id: Uuid, user: Uuid, now: Timestamp) -> Self {
        Self {
            id,
            organization_id,
            created_at: now,
            updated_at: now,
            created_by: user,
            updated_by: user,
            is_deleted: false,
            deleted_at: None,
            deleted_by: None,
            version: 1,
            anonymized_at: None,
        }
    }

    /// The BaseModel and version fields: what a client may echo back but never set.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "organization_id",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "is_deleted",
        "deleted_at",
        "deleted_by",
        "version",
        "anonymized_at",
    ];
}

/// A stored record: its metadata and the entity's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<E> {
    pub meta: Meta,
    pub data: E,
}

impl<E: Entity> Record<E> {
    /// The response body: metadata, fields and computed fields in one flat object.
    pub fn to_json(&self) -> Value {
        let mut out = to_object(&self.meta);
        out.extend(to_object(&self.data));
        out.extend(self.data.computed());
        Value::Object(out)
    }

    /// [`Record::to_json`] as text, written straight from the typed record: the same object
    /// (tests/tests/properties.rs compares the two on generated records of every entity)
    /// without building its `Value` first, which a GET paid for on every request.
    pub fn to_json_text(&self) -> String {
        #[derive(Serialize)]
        struct Flat<'a, E> {
            #[serde(flatten)]
            meta: &'a Meta,
            #[serde(flatten)]
            data: &'a E,
            #[serde(flatten)]
            computed: Map<String, Value>,
        }
        let flat = Flat { meta: &self.meta, data: &self.data, computed: self.data.computed() };
        // Cannot fail (string keys only); the `Value` path stays the reference if it ever did.
        serde_json::to_string(&flat).unwrap_or_else(|_| self.to_json().to_string())
    }

    /// Metadata and fields as one flat object, the shape stored in DynamoDB.
    pub(crate) fn stored_object(&self) -> Map<String, Value> {
        let mut out = to_object(&self.meta);
        out.extend(to_object(&self.data));
        out
    }

    /// Straight from the item (store/de.rs), which reads it exactly as its JSON object would be
    /// read (checked on every item of generated full records, tests/tests/properties.rs).
    pub(crate) fn from_item(item: &Item) -> Option<Self> {
        let meta = super::de::from_item::<Meta>(item).ok()?;
        let data = super::de::from_item::<E>(item).ok()?;
        Some(Self { meta, data })
    }
}

fn to_object<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// What a required personal text reads after erasure: not `""`, so an anonymized record still
/// validates when an admin later edits one of its clear fields.
pub const ANONYMIZED: &str = "[anonymized]";

/// A value that must be unique per organization (and entity), already normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unique {
    pub field: &'static str,
    pub value: String,
}

/// One list entry a record appears under: `index` names the list partition (`ALL`,
/// `TYPE#patient`, `SEARCH`...), `sort` orders entries within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub index: String,
    pub sort: String,
}

impl IndexEntry {
    pub fn new(index: impl Into<String>, sort: impl Into<String>) -> Self {
        Self { index: index.into(), sort: sort.into() }
    }
}

/// A record's predicate over one list entry (the record and the entry's sort key): entries a
/// partition prefix cannot exclude, such as a second name entry of a record already matched.
pub type Accept<E> = Box<dyn Fn(&Record<E>, &str) -> bool + Send + Sync>;

/// Which entries of a list partition a Query reads, on their sort value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortRange {
    All,
    /// Entries whose sort value starts with this.
    Prefix(String),
    /// Entries whose sort value is in `[from, to)`. Sort values are compared as strings, so
    /// bounds must have the same fixed-width form as the values (e.g. `Timestamp::to_key`).
    /// Either bound may be open.
    Between {
        from: Option<String>,
        to: Option<String>,
    },
}

impl SortRange {
    /// Whether a stored sort key (`<sort value>#<id>`) is inside the range.
    pub(crate) fn contains_key(&self, sk: &str) -> bool {
        match self {
            Self::All => true,
            Self::Prefix(prefix) => sk.starts_with(prefix.as_str()),
            Self::Between { from, to } => {
                from.as_deref().is_none_or(|f| sk >= f) && to.as_deref().is_none_or(|t| sk < t)
            }
        }
    }
}

/// What a list request asks the repository for.
pub struct ListSpec<E> {
    /// The list partition to Query.
    pub index: String,
    /// Which of its entries.
    pub range: SortRange,
    pub newest_first: bool,
    /// A canonical description of the query (filters and their values), bound into the cursor
    /// so a cursor cannot be replayed against another query.
    pub fingerprint: String,
    /// Entries read but not returned still count against the page (reads stay at most
    /// page_size + 1), so a page may hold fewer items than asked while `next_cursor` is set.
    pub accept: Option<Accept<E>>,
}

impl<E> ListSpec<E> {
    pub fn all(index: impl Into<String>, newest_first: bool) -> Self {
        let index = index.into();
        Self { fingerprint: index.clone(), index, range: SortRange::All, newest_first, accept: None }
    }

    /// Entries of `index` whose sort value is in `[from, to)`, bounds included in the fingerprint.
    pub fn between(index: impl Into<String>, from: Option<String>, to: Option<String>, newest_first: bool) -> Self {
        let index = index.into();
        let fingerprint = format!("{index}|{}|{}", from.as_deref().unwrap_or(""), to.as_deref().unwrap_or(""));
        Self { index, range: SortRange::Between { from, to }, newest_first, fingerprint, accept: None }
    }
}

/// A field naming another record of the same organization, which must exist and be live when
/// the field is set or changed (`422 RELATED_NOT_FOUND` otherwise). Checked inside the write's
/// transaction, so a record deleted at the same moment cannot slip through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub field: &'static str,
    /// The referenced entity's `KIND`.
    pub kind: &'static str,
    pub id: Uuid,
}

/// An optimistic lock: a counter item that a write bumps in its transaction, conditioned on the
/// value read before deciding the write was allowed. Two writes that decided on the same state
/// of what the lock protects (e.g. a provider's schedule) cannot both commit; the loser gets
/// `409 CONCURRENT_MODIFICATION` and a retry decides again on the new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub name: String,
    pub seen: u64,
}

/// A kind of record the repository can store. Implementing it (a type, its validating
/// constructor, its unique values and its list entries) is all a new entity needs.
pub trait Entity: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// Key segment and audit resource type, e.g. `CONTACT`.
    const KIND: &'static str;
    /// For messages, e.g. `contact`.
    const NAME: &'static str;
    /// Collection path, for `Location` headers, e.g. `/api/business/contacts`.
    const PATH: &'static str;
    /// Query parameters the list operation accepts besides `page_size`, `cursor`, `deleted`.
    const FILTERS: &'static [&'static str];

    /// The entity's fields read from a body: every field through one `Fields` reader (which
    /// checks it, or in describe mode records what it accepts), read-only fields
    /// (`Meta::FIELDS`, computed ones) accepted and ignored, and rules beyond one field checked
    /// with `f.error` and stated with `f.note`. The value returned when `f` holds errors is
    /// never used.
    fn read(f: &mut Fields<'_>) -> Self;

    /// The validating constructor: the only way a request body becomes an entity.
    fn from_json(input: &Map<String, Value>) -> AppResult<Self> {
        let mut f = Fields::new(input);
        let value = Self::read(&mut f);
        f.finish()?;
        Ok(value)
    }

    /// What a body of this entity accepts, field by field (the OpenAPI document's input schema).
    fn body_spec() -> Vec<crate::domain::spec::FieldSpec> {
        let mut f = Fields::describe();
        Self::read(&mut f);
        f.into_spec()
    }

    /// Rules that depend on the previous state (when consent was given, which status may follow
    /// which), applied after validation on every create and update. `previous` is `None` on
    /// create. An error refuses the write.
    fn reconcile(&mut self, _previous: Option<&Self>, _now: Timestamp) -> AppResult<()> {
        Ok(())
    }

    /// Other records this one names; see [`Reference`].
    fn references(&self) -> Vec<Reference> {
        Vec::new()
    }

    /// Whether the caller may see this record at all. An invisible record is reported exactly
    /// like a missing one (404) and left out of lists.
    fn visible_to(&self, _tenant: &Tenant) -> bool {
        true
    }

    /// The record fields [`Entity::visible_to`] depends on. A change notification keeps only
    /// these of the record (never personal data), so who may hear of a change can still be
    /// decided when a client asks for it a day later (`hub-realtime`'s event log).
    const VISIBILITY_FIELDS: &'static [&'static str] = &[];

    /// [`Entity::visible_to`], decided from [`Entity::VISIBILITY_FIELDS`] alone (a record's JSON,
    /// or only those fields of it). An entity overriding one overrides the other, and its tests
    /// show the two agree.
    fn visible_in(_fields: &Map<String, Value>, _tenant: &Tenant) -> bool {
        true
    }

    /// Checks that need other records (e.g. a provider's overlapping appointments), run after
    /// `reconcile` on every create and update, with the locks that make them hold until the
    /// write commits. `current` is `None` on create.
    fn before_write<'a>(
        &'a self,
        _store: &'a Store,
        _tenant: &'a Tenant,
        _current: Option<&'a Record<Self>>,
    ) -> impl Future<Output = AppResult<Vec<Lock>>> + Send + 'a {
        std::future::ready(Ok(Vec::new()))
    }

    /// Checks a restore needs because the record comes back into the world (e.g. a restored
    /// appointment takes its provider's time again), with the locks that make them hold until
    /// the restore commits. Nothing by default.
    fn before_restore<'a>(
        &'a self,
        _store: &'a Store,
        _tenant: &'a Tenant,
    ) -> impl Future<Output = AppResult<Vec<Lock>>> + Send + 'a {
        std::future::ready(Ok(Vec::new()))
    }

    /// Whether the record may be soft-deleted now (a completed financial record may not: it is
    /// corrected by a new record, not removed). An error refuses the delete.
    fn check_delete(&self) -> AppResult<()> {
        Ok(())
    }

    /// Values unique per organization, normalised; empty values are not listed.
    fn unique_values(&self) -> Vec<Unique> {
        Vec::new()
    }

    /// The list entries of a live record.
    fn index_entries(&self, meta: &Meta) -> Vec<IndexEntry>;

    /// The day after which retention applies to the record (a contact's
    /// `data_retention_until`, a document's `retention_until`), if any. The repository writes
    /// it on the record item as the sparse retention index's key, live or deleted, so the
    /// `retention` function finds what is due without scanning (DATA-DESIGN.md). `None` once
    /// nothing is left to do (e.g. after anonymization).
    fn retention_date(&self, _meta: &Meta) -> Option<Date> {
        None
    }

    /// The record as it reads once the person it is about is erased (RGPD art. 17): every
    /// personal field (anything [`crate::audit::fields`] does not list as clear) emptied: texts
    /// `""` (a required one [`ANONYMIZED`]), lists `[]`, other values `None`; every clear field
    /// kept. Written out field by field, without `..self`, so that a field added later does not
    /// compile until someone decides what erasure does to it; the privacy tests prove the
    /// decisions agree with the audit trail's list on fully populated records.
    fn anonymized(&self) -> Self;

    /// Derived read-only fields added to responses (e.g. `full_name`).
    fn computed(&self) -> Map<String, Value> {
        Map::new()
    }

    /// Turns the list request's filters into a `ListSpec`. `params` holds only names from
    /// `FILTERS`; the tenant allows role-dependent visibility.
    fn list_spec(params: &HashMap<String, String>, tenant: &Tenant) -> AppResult<ListSpec<Self>>;
}
