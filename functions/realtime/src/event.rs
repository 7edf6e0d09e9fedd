//! What a client hears: one event per committed change of a record, carrying ids and never
//! personal data, and what decides which connection hears it (the reader's visibility, the
//! connection's subscription).

use crate::kinds::{self, Kind};
use hub_audit::Action;
use hub_audit::rules::EventKind;
use hub_audit::stream::StreamChange;
use hub_shared::auth::{OrgId, Tenant, UserContext, UserId};
use hub_shared::error::{AppError, AppResult};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The `item_type` of the items notified; list entries, markers, idempotency keys and locks are
/// internal copies of records.
pub const NOTIFIED_ITEM_TYPE: &str = "record";

/// The past tense an event's `type` uses for an audit action.
fn verb(action: Action) -> Option<&'static str> {
    Some(match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Delete => "deleted",
        Action::Restore => "restored",
        Action::Anonymize => "anonymized",
        Action::Purge => "purged",
        Action::View | Action::Export | Action::Download | Action::Import => return None,
    })
}

/// The visibility fields of a record before and after the change. A reader hears of a change
/// when it may read either: the record it had on screen changed, or one it may now see appeared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Guard {
    pub old: Option<Map<String, Value>>,
    pub new: Option<Map<String, Value>>,
}

impl Guard {
    pub fn to_json(&self) -> Value {
        json!({ "old": self.old, "new": self.new })
    }

    pub fn from_json(value: &Value) -> Self {
        let image = |name: &str| value.get(name).and_then(Value::as_object).cloned();
        Self { old: image("old"), new: image("new") }
    }
}

/// A committed change, before the log gives it its cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub org: OrgId,
    pub kind: &'static Kind,
    pub id: Uuid,
    pub version: u64,
    /// `<entity>.<verb>`, e.g. `appointment.updated`.
    pub event_type: String,
    /// When the change was committed (the record's `updated_at`; a purge's stream time).
    pub at: String,
    pub actor_id: Option<Uuid>,
    /// Derived from the organization and the stream record's `eventID`: a redelivered record
    /// has the same id, which is what keeps it out of the log twice.
    pub event_id: Uuid,
    pub guard: Guard,
    /// The stream record's, to report it when it fails.
    pub sequence_number: String,
}

fn malformed(what: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("realtime stream: {what}"))
}

/// The event id of a stream record of `org`: stable across redeliveries, and not the stream's
/// own id (which says nothing useful to a client).
pub fn event_id(org: OrgId, stream_event_id: &str) -> Uuid {
    let digest =
        Sha256::new().chain_update(org.as_uuid().as_bytes()).chain_update(stream_event_id.as_bytes()).finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The fields of an image an event is made from, besides the entity's visibility fields:
/// what identifies the record and its version, who changed it when, and what the action rules
/// read (`is_deleted`, `anonymized_at`).
const READ_FIELDS: &[&str] = &[
    "item_type",
    "entity",
    "organization_id",
    "id",
    "version",
    "updated_at",
    "updated_by",
    "is_deleted",
    "anonymized_at",
];

/// One stream record as Lambda delivers it, read for notifications only: its images keep only
/// [`READ_FIELDS`] and the entity's visibility fields, converted from DynamoDB JSON one value at
/// a time. A batch of 100 records with full images cost the fan-out as many instructions in
/// conversions as everything else together (BENCHMARKS.md, "Real-time notifications"); what an
/// event is made from is the same (a test compares it with the audit's whole-image reader).
pub fn read_record(raw: &Value) -> AppResult<Option<StreamChange>> {
    let text = |pointer: &str| raw.pointer(pointer).and_then(Value::as_str);
    let event_id = text("/eventID").filter(|id| !id.is_empty()).ok_or_else(|| malformed("a record without eventID"))?;
    let kind =
        text("/eventName").and_then(EventKind::parse).ok_or_else(|| malformed("a record without a known eventName"))?;
    let sequence_number =
        text("/dynamodb/SequenceNumber").ok_or_else(|| malformed("a record without SequenceNumber"))?;
    let image =
        |name: &str| raw.pointer(&format!("/dynamodb/{name}")).and_then(Value::as_object).filter(|i| !i.is_empty());
    let (old, new) = (image("OldImage"), image("NewImage"));
    let either = new.or(old).ok_or_else(|| malformed("a stream record without images (NEW_AND_OLD_IMAGES needed)"))?;
    let attribute = |name: &str| either.get(name).and_then(|v| v.get("S")).and_then(Value::as_str);
    if attribute("item_type") != Some(NOTIFIED_ITEM_TYPE) {
        return Ok(None);
    }
    let Some(entity) = attribute("entity").and_then(kinds::by_kind) else {
        return Ok(None);
    };
    let reduce = |image: &Map<String, Value>| -> Map<String, Value> {
        READ_FIELDS
            .iter()
            .chain(entity.fields)
            .filter_map(|f| image.get(*f).map(|v| (f.to_string(), hub_audit::item::from_dynamodb_json(v))))
            .collect()
    };
    let seconds = raw.pointer("/dynamodb/ApproximateCreationDateTime").and_then(Value::as_f64).unwrap_or(0.0);
    // Whole seconds, as the audit trail reads the same field: a purge's time agrees in both.
    let approximate_creation = chrono::DateTime::from_timestamp(seconds.trunc() as i64, 0).unwrap_or_default();
    Ok(Some(StreamChange {
        event_id: event_id.to_string(),
        kind,
        sequence_number: sequence_number.to_string(),
        approximate_creation,
        old: old.map(reduce),
        new: new.map(reduce),
    }))
}

/// The change of one stream record; `None` for items that are not notified.
pub fn to_change(change: &StreamChange) -> AppResult<Option<Change>> {
    let (old, new) = (change.old.as_ref(), change.new.as_ref());
    let image = new.or(old).ok_or_else(|| malformed("a stream record without images (NEW_AND_OLD_IMAGES needed)"))?;
    if image.get("item_type").and_then(Value::as_str) != Some(NOTIFIED_ITEM_TYPE) {
        return Ok(None);
    }
    let raw_kind = image.get("entity").and_then(Value::as_str).ok_or_else(|| malformed("a record without entity"))?;
    let Some(kind) = kinds::by_kind(raw_kind) else {
        return Ok(None);
    };
    let uuid = |image: &Map<String, Value>, field: &str| {
        image.get(field).and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
    };
    let org = uuid(image, "organization_id").ok_or_else(|| malformed("a record without organization_id"))?;
    let org = OrgId::new(org);
    let id = uuid(image, "id").ok_or_else(|| malformed("a record without id"))?;
    let version = image.get("version").and_then(Value::as_u64).ok_or_else(|| malformed("a record without version"))?;
    let action = hub_audit::rules::action(change.kind, old, new);
    let verb = verb(action).ok_or_else(|| malformed(format!("a change with no event: {action:?}")))?;
    let (at, actor_id) = match (change.kind, new) {
        (EventKind::Remove, _) | (_, None) => {
            (hub_shared::domain::Timestamp::from_datetime(change.approximate_creation).to_string(), None)
        }
        (_, Some(new)) => {
            let at = new
                .get("updated_at")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("a record without updated_at"))?;
            (at.to_string(), uuid(new, "updated_by"))
        }
    };
    Ok(Some(Change {
        org,
        kind,
        id,
        version,
        event_type: format!("{}.{verb}", kind.entity),
        at,
        actor_id,
        event_id: event_id(org, &change.event_id),
        guard: Guard { old: old.map(|i| kind.reduce(i)), new: new.map(|i| kind.reduce(i)) },
        sequence_number: change.sequence_number.clone(),
    }))
}

/// A logged change: its place in the organization's log, and what decides who hears it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub cursor: u64,
    pub kind: &'static Kind,
    pub id: Uuid,
    pub guard: Guard,
    /// The message a client receives, exactly (JSON text).
    pub message: String,
}

impl Event {
    /// The event of `change` at `cursor`.
    pub fn logged(change: &Change, cursor: u64) -> Self {
        let message = json!({
            "event_id": change.event_id,
            "cursor": cursor.to_string(),
            "type": change.event_type,
            "entity": change.kind.entity,
            "id": change.id,
            "version": change.version,
            "at": change.at,
            "actor_id": change.actor_id,
        })
        .to_string();
        Self { cursor, kind: change.kind, id: change.id, guard: change.guard.clone(), message }
    }

    /// Whether `reader` may read the record before or after the change (see [`Kind::readable`]).
    pub fn readable_by(&self, reader: &Tenant) -> bool {
        let visible =
            |image: &Option<Map<String, Value>>| image.as_ref().is_some_and(|i| self.kind.readable(i, reader));
        visible(&self.guard.old) || visible(&self.guard.new)
    }
}

/// The most one WebSocket message carries: API Gateway bills messages by 32 KB and sends a
/// larger one as several frames (and refuses more than 128 KB).
pub const MESSAGE_BYTES: usize = 32 * 1024;

/// Packs messages (JSON objects, each on one line) into as few WebSocket messages as fit
/// [`MESSAGE_BYTES`], one per line, in order: a connection that hears 20 changes of a batch gets
/// one message, not 20 (API Gateway charges, and the fan-out spends, per message). A message
/// larger than the limit alone goes alone.
pub fn pack<'a>(messages: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut packed: Vec<String> = Vec::new();
    for message in messages {
        match packed.last_mut() {
            Some(current) if current.len() + 1 + message.len() <= MESSAGE_BYTES => {
                current.push('\n');
                current.push_str(message);
            }
            _ => packed.push(message.to_string()),
        }
    }
    packed
}

/// What a connection asked to hear: some entities, some records, or (both empty) everything
/// its reader may read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    pub entities: Vec<String>,
    pub ids: Vec<Uuid>,
}

/// More ids than this in one subscription is refused: a screen shows a page of records, and
/// the connection item must stay small.
pub const MAX_SUBSCRIBED_IDS: usize = 100;

impl Subscription {
    /// From a `subscribe` message's `entities` and `ids` (both optional).
    pub fn parse(message: &Map<String, Value>) -> Result<Self, String> {
        let mut subscription = Self::default();
        if let Some(entities) = message.get("entities").filter(|v| !v.is_null()) {
            let list = entities.as_array().ok_or("`entities` must be an array of entity names")?;
            for entity in list {
                let name = entity.as_str().ok_or("`entities` must be an array of entity names")?;
                if kinds::by_entity(name).is_none() {
                    return Err(format!(
                        "unknown entity `{name}`; expected one of {}",
                        kinds::entity_names().join(", ")
                    ));
                }
                if !subscription.entities.iter().any(|e| e == name) {
                    subscription.entities.push(name.to_string());
                }
            }
        }
        if let Some(ids) = message.get("ids").filter(|v| !v.is_null()) {
            let list = ids.as_array().ok_or("`ids` must be an array of record ids")?;
            if list.len() > MAX_SUBSCRIBED_IDS {
                return Err(format!("at most {MAX_SUBSCRIBED_IDS} ids"));
            }
            for id in list {
                let id = id.as_str().and_then(|s| Uuid::parse_str(s).ok()).ok_or("`ids` must hold UUIDs")?;
                if !subscription.ids.contains(&id) {
                    subscription.ids.push(id);
                }
            }
        }
        Ok(subscription)
    }

    pub fn takes(&self, event: &Event) -> bool {
        (self.entities.is_empty() || self.entities.iter().any(|e| e == event.kind.entity))
            && (self.ids.is_empty() || self.ids.contains(&event.id))
    }

    pub fn to_json(&self) -> Value {
        json!({ "entities": self.entities, "ids": self.ids })
    }
}

/// Who is on the other end of a connection, as its ticket said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    pub org: OrgId,
    pub user_id: Uuid,
    pub roles: Vec<String>,
    /// When the token behind the ticket expires (epoch seconds): the connection ends then, so
    /// a revoked or demoted user hears nothing past their token's life.
    pub expires_at: i64,
}

impl Reader {
    /// The reader as the business rules see a caller.
    pub fn tenant(&self) -> Tenant {
        Tenant {
            user: UserContext {
                user_id: UserId::new(self.user_id),
                email: None,
                organization_id: Some(self.org),
                roles: self.roles.clone(),
                expires_at: u64::try_from(self.expires_at).ok(),
            },
            org: self.org,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_change(kind: EventKind, old: Option<Value>, new: Option<Value>) -> StreamChange {
        StreamChange {
            event_id: "e1".into(),
            kind,
            sequence_number: "100".into(),
            approximate_creation: chrono::DateTime::from_timestamp(1_765_000_000, 0).unwrap_or_default(),
            old: old.and_then(|v| v.as_object().cloned()),
            new: new.and_then(|v| v.as_object().cloned()),
        }
    }

    fn document(org: Uuid, id: Uuid, version: u64, level: &str, deleted: bool) -> Value {
        json!({
            "item_type": "record", "entity": "DOCUMENT", "organization_id": org.to_string(), "id": id.to_string(),
            "version": version, "updated_at": "2026-12-06T10:00:00.000Z", "updated_by": Uuid::nil().to_string(),
            "is_deleted": deleted, "privacy_level": level, "title": "Compte rendu de M. Dupré",
        })
    }

    fn reader(org: Uuid, roles: &[&str]) -> Tenant {
        Reader {
            org: OrgId::new(org),
            user_id: Uuid::new_v4(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            expires_at: i64::MAX,
        }
        .tenant()
    }

    /// A stream record as Lambda delivers it, with whole images in DynamoDB JSON.
    fn raw_record(kind: &str, old: Option<&Value>, new: Option<&Value>) -> Value {
        let dynamo = |image: &Value| -> Value {
            let item: Map<String, Value> = image
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    let attribute = match v {
                        Value::String(s) => json!({"S": s}),
                        Value::Number(n) => json!({"N": n.to_string()}),
                        Value::Bool(b) => json!({"BOOL": b}),
                        Value::Null => json!({"NULL": true}),
                        other => json!({"S": other.to_string()}),
                    };
                    (k.clone(), attribute)
                })
                .collect();
            Value::Object(item)
        };
        let mut dynamodb = json!({"SequenceNumber": "4200000000000000000001", "ApproximateCreationDateTime": 1765000000.5, "SizeBytes": 512,
                                  "StreamViewType": "NEW_AND_OLD_IMAGES", "Keys": {"pk": {"S": "ORG#x"}, "sk": {"S": "X#y"}}});
        if let Some(old) = old {
            dynamodb["OldImage"] = dynamo(old);
        }
        if let Some(new) = new {
            dynamodb["NewImage"] = dynamo(new);
        }
        json!({"eventID": "3f1c0e", "eventName": kind, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
               "awsRegion": "eu-west-3", "dynamodb": dynamodb, "eventSourceARN": "arn:aws:dynamodb:x"})
    }

    #[test]
    fn the_lean_reader_makes_the_same_changes_as_the_audits_whole_image_reader() {
        let (org, id) = (Uuid::new_v4(), Uuid::new_v4());
        let live = document(org, id, 1, "restricted", false);
        let mut changed = document(org, id, 2, "confidential", false);
        changed["updated_by"] = json!(Uuid::new_v4().to_string());
        let trashed = document(org, id, 3, "confidential", true);
        let mut anonymized = document(org, id, 4, "confidential", true);
        anonymized["anonymized_at"] = json!("2026-12-06T10:00:00.000Z");
        let index = json!({"item_type": "index", "entity": "DOCUMENT", "organization_id": org.to_string()});
        let cases = [
            ("INSERT", None, Some(&live)),
            ("MODIFY", Some(&live), Some(&changed)),
            ("MODIFY", Some(&changed), Some(&trashed)),
            ("MODIFY", Some(&trashed), Some(&changed)),
            ("MODIFY", Some(&trashed), Some(&anonymized)),
            ("REMOVE", Some(&anonymized), None),
            ("INSERT", None, Some(&index)),
        ];
        for (kind, old, new) in cases {
            let raw = raw_record(kind, old, new);
            let whole = to_change(&hub_audit::stream::parse(&raw).unwrap()).unwrap();
            let lean = read_record(&raw).unwrap().map(|c| to_change(&c).unwrap()).unwrap_or(None);
            assert_eq!(lean, whole, "{kind} {old:?} -> {new:?}");
        }
        assert!(read_record(&json!({"eventName": "INSERT"})).is_err(), "no eventID");
    }

    #[test]
    fn a_change_becomes_an_event_of_ids_only() {
        let (org, id) = (Uuid::new_v4(), Uuid::new_v4());
        let change = to_change(&stream_change(
            EventKind::Modify,
            Some(document(org, id, 1, "internal", false)),
            Some(document(org, id, 2, "internal", false)),
        ))
        .unwrap()
        .unwrap();
        let event = Event::logged(&change, 42);
        let message: Value = serde_json::from_str(&event.message).unwrap();
        assert_eq!(message["type"], "document.updated");
        assert_eq!(message["cursor"], "42");
        assert_eq!(message["version"], 2);
        assert_eq!(message["actor_id"], Uuid::nil().to_string());
        let keys: Vec<&String> = message.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["actor_id", "at", "cursor", "entity", "event_id", "id", "type", "version"]);
        assert!(!event.message.contains("Dupré"), "no field of the record travels");
        assert_eq!(change.guard.new, json!({"privacy_level": "internal", "is_deleted": false}).as_object().cloned());
    }

    #[test]
    fn each_action_has_its_event_type_and_a_purge_has_no_actor() {
        let (org, id) = (Uuid::new_v4(), Uuid::new_v4());
        let live = document(org, id, 1, "public", false);
        let deleted = document(org, id, 2, "public", true);
        let cases = [
            (EventKind::Insert, None, Some(live.clone()), "document.created"),
            (EventKind::Modify, Some(live.clone()), Some(deleted.clone()), "document.deleted"),
            (EventKind::Modify, Some(deleted.clone()), Some(live.clone()), "document.restored"),
            (EventKind::Remove, Some(deleted.clone()), None, "document.purged"),
        ];
        for (kind, old, new, expected) in cases {
            let change = to_change(&stream_change(kind, old, new)).unwrap().unwrap();
            assert_eq!(change.event_type, expected);
            if expected == "document.purged" {
                assert_eq!(change.actor_id, None);
                assert_eq!(change.version, 2);
            }
        }
    }

    #[test]
    fn list_entries_markers_and_unknown_kinds_are_not_notified() {
        let org = Uuid::new_v4();
        let entry = json!({"item_type": "index", "entity": "CONTACT", "organization_id": org.to_string()});
        assert_eq!(to_change(&stream_change(EventKind::Insert, None, Some(entry))).unwrap(), None);
        let other = json!({"item_type": "record", "entity": "INVOICE", "organization_id": org.to_string()});
        assert_eq!(to_change(&stream_change(EventKind::Insert, None, Some(other))).unwrap(), None);
    }

    #[test]
    fn the_same_stream_record_always_gets_the_same_event_id_and_organizations_never_share_one() {
        let (a, b) = (OrgId::new(Uuid::new_v4()), OrgId::new(Uuid::new_v4()));
        assert_eq!(event_id(a, "x"), event_id(a, "x"));
        assert_ne!(event_id(a, "x"), event_id(b, "x"));
        assert_ne!(event_id(a, "x"), event_id(a, "y"));
    }

    #[test]
    fn a_restricted_document_is_heard_of_by_admins_and_clinical_roles_only_and_a_change_of_level_by_both_sides() {
        let (org, id) = (Uuid::new_v4(), Uuid::new_v4());
        let restricted =
            to_change(&stream_change(EventKind::Insert, None, Some(document(org, id, 1, "restricted", false))))
                .unwrap()
                .unwrap();
        let event = Event::logged(&restricted, 1);
        assert!(event.readable_by(&reader(org, &["admin"])));
        assert!(event.readable_by(&reader(org, &["doctor"])));
        assert!(!event.readable_by(&reader(org, &["member"])));
        assert!(!event.readable_by(&reader(org, &["viewer"])));
        let lowered = to_change(&stream_change(
            EventKind::Modify,
            Some(document(org, id, 1, "restricted", false)),
            Some(document(org, id, 2, "confidential", false)),
        ))
        .unwrap()
        .unwrap();
        let event = Event::logged(&lowered, 2);
        assert!(event.readable_by(&reader(org, &["member"])), "it may now read it");
        assert!(!event.readable_by(&reader(org, &["viewer"])));
        let contact = json!({
            "item_type": "record", "entity": "CONTACT", "organization_id": org.to_string(), "id": id.to_string(),
            "version": 1, "updated_at": "2026-12-06T10:00:00.000Z", "updated_by": Uuid::nil().to_string(),
        });
        let change = to_change(&stream_change(EventKind::Insert, None, Some(contact))).unwrap().unwrap();
        assert!(Event::logged(&change, 3).readable_by(&reader(org, &["viewer"])), "a viewer reads contacts");
    }

    #[test]
    fn a_change_to_a_record_in_the_trash_is_heard_by_administrators_only() {
        let (org, id) = (Uuid::new_v4(), Uuid::new_v4());
        let live = document(org, id, 1, "public", false);
        let trashed = document(org, id, 2, "public", true);
        let deletion =
            to_change(&stream_change(EventKind::Modify, Some(live.clone()), Some(trashed.clone()))).unwrap().unwrap();
        let event = Event::logged(&deletion, 1);
        assert!(event.readable_by(&reader(org, &["viewer"])), "it had the record on screen: it hears of its deletion");
        let mut anonymized = document(org, id, 3, "public", true);
        anonymized["anonymized_at"] = json!("2026-12-06T10:00:00.000Z");
        for (kind, old, new) in [
            (EventKind::Modify, Some(trashed.clone()), Some(anonymized.clone())),
            (EventKind::Remove, Some(anonymized.clone()), None),
        ] {
            let change = to_change(&stream_change(kind, old, new)).unwrap().unwrap();
            let event = Event::logged(&change, 2);
            assert!(!event.readable_by(&reader(org, &["viewer"])), "{}", change.event_type);
            assert!(!event.readable_by(&reader(org, &["member"])), "{}", change.event_type);
            assert!(event.readable_by(&reader(org, &["admin"])), "{}", change.event_type);
        }
    }

    #[test]
    fn events_are_packed_one_per_line_in_order_within_the_message_limit() {
        let small: Vec<String> = (0..5).map(|n| json!({"cursor": n.to_string()}).to_string()).collect();
        let packed = pack(small.iter().map(String::as_str));
        assert_eq!(packed, [small.join("\n")]);
        let big = "x".repeat(MESSAGE_BYTES / 3 + 1);
        let many = [big.as_str(); 7];
        let packed = pack(many.iter().copied());
        assert_eq!(packed.iter().map(|m| m.lines().count()).collect::<Vec<_>>(), [2, 2, 2, 1]);
        assert!(packed.iter().all(|m| m.len() <= MESSAGE_BYTES));
        let huge = "y".repeat(MESSAGE_BYTES + 1);
        assert_eq!(pack([huge.as_str(), "z"]), [huge.clone(), "z".to_string()]);
        assert!(pack(std::iter::empty()).is_empty());
    }

    #[test]
    fn a_subscription_narrows_by_entity_and_by_record() {
        let (org, id) = (Uuid::new_v4(), Uuid::new_v4());
        let change = to_change(&stream_change(EventKind::Insert, None, Some(document(org, id, 1, "public", false))))
            .unwrap()
            .unwrap();
        let event = Event::logged(&change, 1);
        let parse = |v: Value| Subscription::parse(v.as_object().unwrap());
        assert!(parse(json!({})).unwrap().takes(&event));
        assert!(parse(json!({"entities": ["document"]})).unwrap().takes(&event));
        assert!(!parse(json!({"entities": ["contact"]})).unwrap().takes(&event));
        assert!(parse(json!({"ids": [id.to_string()]})).unwrap().takes(&event));
        assert!(!parse(json!({"ids": [Uuid::new_v4().to_string()]})).unwrap().takes(&event));
        assert!(parse(json!({"entities": ["patients"]})).unwrap_err().contains("unknown entity"));
        assert!(parse(json!({"ids": ["42"]})).is_err());
        let many: Vec<String> = (0..=MAX_SUBSCRIBED_IDS).map(|_| Uuid::new_v4().to_string()).collect();
        assert!(parse(json!({"ids": many})).is_err());
    }
}
