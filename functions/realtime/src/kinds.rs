//! The entities a client can hear about, by the name events use (`appointment`), with each
//! entity's own visibility rule ([`Entity::visible_in`]): who may hear of a change is decided by
//! the same code that decides who may read the record.

use hub_shared::auth::{Permission, Tenant};
use hub_shared::store::Entity;
use serde_json::{Map, Value};

const TRASH_FIELD: &str = "is_deleted";

/// One kind of record, as notifications name and filter it.
#[derive(Debug)]
pub struct Kind {
    /// The key segment and the stream image's `entity`, e.g. `APPOINTMENT`.
    pub kind: &'static str,
    /// The event's `entity` and the first half of its `type`, e.g. `appointment`.
    pub entity: &'static str,
    /// The fields [`Kind::visible`] reads: all an event keeps of the record.
    pub fields: &'static [&'static str],
    visible_in: fn(&Map<String, Value>, &Tenant) -> bool,
}

/// A kind is its key segment: two kinds with the same one are the same entity.
impl PartialEq for Kind {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl Kind {
    const fn of<E: Entity>(entity: &'static str) -> Self {
        Self { kind: E::KIND, entity, fields: E::VISIBILITY_FIELDS, visible_in: E::visible_in }
    }

    /// Whether `tenant` may read a record whose visibility fields are `fields`.
    pub fn visible(&self, fields: &Map<String, Value>, tenant: &Tenant) -> bool {
        (self.visible_in)(fields, tenant)
    }

    /// Only what decides who may read an image (nothing personal): the entity's visibility
    /// fields, and `is_deleted` (the trash is for administrators, whatever the entity).
    pub fn reduce(&self, image: &Map<String, Value>) -> Map<String, Value> {
        self.fields
            .iter()
            .chain(std::iter::once(&TRASH_FIELD))
            .filter_map(|f| image.get(*f).map(|v| (f.to_string(), v.clone())))
            .collect()
    }

    /// Whether `tenant` may read an image reduced to those fields: a record in the trash only
    /// an administrator (as `GET ?include_deleted=true` and `?deleted=true` require), any other
    /// by the entity's own rule.
    pub fn readable(&self, fields: &Map<String, Value>, tenant: &Tenant) -> bool {
        let trashed = fields.get(TRASH_FIELD).and_then(Value::as_bool).unwrap_or(false);
        (!trashed || tenant.user.can(Permission::Administer)) && self.visible(fields, tenant)
    }
}

/// Every entity of the business table. A `record` item of another kind is not notified.
pub static KINDS: [Kind; 5] = [
    Kind::of::<hub_contacts::Contact>("contact"),
    Kind::of::<hub_appointments::Appointment>("appointment"),
    Kind::of::<hub_documents::Document>("document"),
    Kind::of::<hub_transactions::Transaction>("transaction"),
    Kind::of::<hub_analytics::AnalyticsRecord>("analytics_record"),
];

/// The kind of a stream image's `entity` (`APPOINTMENT`).
pub fn by_kind(kind: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.kind == kind)
}

/// The kind of an event's `entity` (`appointment`).
pub fn by_entity(entity: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.entity == entity)
}

/// Every entity name, for messages that list what a subscription accepts.
pub fn entity_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.entity).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_name_is_the_snake_case_of_its_key_segment() {
        for kind in &KINDS {
            assert_eq!(kind.entity.to_ascii_uppercase(), kind.kind, "{kind:?}");
            assert_eq!(by_entity(kind.entity).map(|k| k.kind), Some(kind.kind));
            assert_eq!(by_kind(kind.kind).map(|k| k.entity), Some(kind.entity));
        }
    }

    #[test]
    fn an_event_keeps_only_the_fields_visibility_reads() {
        let Some(document) = by_entity("document") else { panic!("documents are notified") };
        let image: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "title": "Bilan de Mme Lefèvre", "privacy_level": "restricted", "file_name": "bilan.pdf"
        }))
        .unwrap_or_default();
        assert_eq!(Value::Object(document.reduce(&image)), serde_json::json!({"privacy_level": "restricted"}));
        let Some(contact) = by_entity("contact") else { panic!("contacts are notified") };
        assert!(contact.reduce(&image).is_empty());
        let trashed: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"last_name": "Roux", "is_deleted": true})).unwrap_or_default();
        assert_eq!(Value::Object(contact.reduce(&trashed)), serde_json::json!({"is_deleted": true}));
    }
}
