//! The rules that turn a stream record's two images into an action, a diff and a risk level.
//! Pure functions over JSON objects, so each rule is unit-tested on its own.
//!
//! Actions, for a `record` item:
//! - `INSERT` is `create`; `REMOVE` is `purge` (only retention removes records);
//! - `MODIFY` is `anonymize` when `anonymized_at` appears, else `delete` when `is_deleted` goes
//!   false to true, `restore` when it goes true to false, else `update`.
//!
//! The diff lists the record's own fields whose value changed (absent and null are the same),
//! sorted by name; BaseModel bookkeeping (`updated_at`, `version`, ...) is never listed: the
//! record's action, actor, time and `version` say it. A `create` lists every field that has a
//! value (not null, not `""`, not `[]`). A `purge` lists nothing: retention removed the values
//! on purpose, and an audit copy would undo it.
//!
//! Risk levels:
//! - **high**: `purge`, `anonymize`; anything on a document that is or was `restricted`; a
//!   transaction whose `amount`, `tax_amount`, `refunded_amount` or `currency` changed after
//!   creation;
//! - **medium**: `delete`, `restore`; any other change of a transaction; a change of consent
//!   (`consent_given`, `consent_date`, `consent_version`) after creation; a document's
//!   `privacy_level` changing;
//! - **low**: every other create and update.
//!
//! Accesses: a successful `view` is low, `download` medium, `export` and `import` high; any refused or failed
//! access (401, 403) is high, so probing stands out. A by-id 404 is recorded as medium by the
//! adapter (`audit::access`), since it cannot tell another organization's id from a typo.

use crate::audit::fields::{ANONYMIZED_AT, INTERNAL, is_bookkeeping};
use crate::audit::model::{Action, Change, Outcome, Risk};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The stream's `eventName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Insert,
    Modify,
    Remove,
}

impl EventKind {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "INSERT" => Some(Self::Insert),
            "MODIFY" => Some(Self::Modify),
            "REMOVE" => Some(Self::Remove),
            _ => None,
        }
    }
}

type Image = Map<String, Value>;

fn is_set(image: Option<&Image>, field: &str) -> bool {
    image.and_then(|i| i.get(field)).is_some_and(|v| !v.is_null())
}

fn flag(image: Option<&Image>, field: &str) -> bool {
    image.and_then(|i| i.get(field)).and_then(Value::as_bool).unwrap_or(false)
}

/// The action of a change; see the module doc.
pub fn action(kind: EventKind, old: Option<&Image>, new: Option<&Image>) -> Action {
    match kind {
        EventKind::Insert => Action::Create,
        EventKind::Remove => Action::Purge,
        EventKind::Modify => {
            if !is_set(old, ANONYMIZED_AT) && is_set(new, ANONYMIZED_AT) {
                Action::Anonymize
            } else if !flag(old, "is_deleted") && flag(new, "is_deleted") {
                Action::Delete
            } else if flag(old, "is_deleted") && !flag(new, "is_deleted") {
                Action::Restore
            } else {
                Action::Update
            }
        }
    }
}

fn normalized(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

fn has_value(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

fn audited(field: &str) -> bool {
    !is_bookkeeping(field) && !INTERNAL.contains(&field)
}

/// The changed fields; see the module doc.
pub fn diff(action: Action, old: Option<&Image>, new: Option<&Image>) -> Vec<Change> {
    match action {
        Action::Purge => Vec::new(),
        Action::Create => {
            let Some(new) = new else { return Vec::new() };
            let mut fields: Vec<&String> = new.keys().filter(|f| audited(f)).collect();
            fields.sort();
            fields
                .into_iter()
                .filter(|f| has_value(&new[f.as_str()]))
                .map(|f| Change { field: f.clone(), from: None, to: Some(new[f.as_str()].clone()) })
                .collect()
        }
        _ => {
            let empty = Image::new();
            let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
            let fields: BTreeSet<&String> = old.keys().chain(new.keys()).filter(|f| audited(f)).collect();
            fields
                .into_iter()
                .filter_map(|f| {
                    let (before, after) = (normalized(old.get(f)), normalized(new.get(f)));
                    (before != after).then(|| Change { field: f.clone(), from: before.cloned(), to: after.cloned() })
                })
                .collect()
        }
    }
}

fn changed(changes: &[Change], fields: &[&str]) -> bool {
    changes.iter().any(|c| fields.contains(&c.field.as_str()))
}

/// The risk of a change; see the module doc.
pub fn change_risk(kind: &str, action: Action, changes: &[Change], old: Option<&Image>, new: Option<&Image>) -> Risk {
    let restricted = |image: Option<&Image>| {
        image.and_then(|i| i.get("privacy_level")).and_then(Value::as_str) == Some("restricted")
    };
    let after_creation = !matches!(action, Action::Create);
    if matches!(action, Action::Purge | Action::Anonymize)
        || (kind == "DOCUMENT" && (restricted(old) || restricted(new)))
        || (kind == "TRANSACTION"
            && after_creation
            && changed(changes, &["amount", "tax_amount", "refunded_amount", "currency"]))
    {
        return Risk::High;
    }
    if matches!(action, Action::Delete | Action::Restore)
        || kind == "TRANSACTION"
        || (kind == "CONTACT"
            && after_creation
            && changed(changes, &["consent_given", "consent_date", "consent_version"]))
        || (kind == "DOCUMENT" && after_creation && changed(changes, &["privacy_level"]))
    {
        return Risk::Medium;
    }
    Risk::Low
}

/// The risk of an access; see the module doc.
pub fn access_risk(action: Action, outcome: Outcome) -> Risk {
    match (outcome, action) {
        (Outcome::Failure, _) => Risk::High,
        (Outcome::Success, Action::Export | Action::Import) => Risk::High,
        (Outcome::Success, Action::Download) => Risk::Medium,
        _ => Risk::Low,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image(value: Value) -> Image {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn each_stream_event_maps_to_its_action() {
        let live = image(json!({"is_deleted": false, "city": "Lyon"}));
        let deleted = image(json!({"is_deleted": true, "city": "Lyon"}));
        let anonymized = image(json!({"is_deleted": false, "anonymized_at": "2026-01-01T00:00:00.000Z"}));
        assert_eq!(action(EventKind::Insert, None, Some(&live)), Action::Create);
        assert_eq!(action(EventKind::Remove, Some(&live), None), Action::Purge);
        assert_eq!(action(EventKind::Modify, Some(&live), Some(&live)), Action::Update);
        assert_eq!(action(EventKind::Modify, Some(&live), Some(&deleted)), Action::Delete);
        assert_eq!(action(EventKind::Modify, Some(&deleted), Some(&live)), Action::Restore);
        assert_eq!(action(EventKind::Modify, Some(&live), Some(&anonymized)), Action::Anonymize);
        assert_eq!(action(EventKind::Modify, Some(&anonymized), Some(&anonymized)), Action::Update, "only once");
    }

    #[test]
    fn a_diff_lists_only_changed_fields_and_never_bookkeeping() {
        let old = image(json!({"version": 1, "updated_at": "a", "city": "Lyon", "phone": "", "email": "a@x.fr"}));
        let new = image(json!({"version": 2, "updated_at": "b", "city": "Nantes", "phone": null, "mobile": "06"}));
        let changes = diff(Action::Update, Some(&old), Some(&new));
        let summary: Vec<_> = changes.iter().map(|c| (c.field.as_str(), c.from.clone(), c.to.clone())).collect();
        assert_eq!(
            summary,
            vec![
                ("city", Some(json!("Lyon")), Some(json!("Nantes"))),
                ("email", Some(json!("a@x.fr")), None),
                ("mobile", None, Some(json!("06"))),
                ("phone", Some(json!("")), None),
            ]
        );
    }

    #[test]
    fn a_create_lists_set_fields_and_a_purge_lists_nothing() {
        let new = image(
            json!({"id": "x", "pk": "ORG#1", "first_name": "Jean", "phone": "", "tags": [], "consent_given": false}),
        );
        let fields: Vec<_> = diff(Action::Create, None, Some(&new)).into_iter().map(|c| c.field).collect();
        assert_eq!(fields, ["consent_given", "first_name"]);
        assert!(diff(Action::Purge, Some(&new), None).is_empty());
    }

    #[test]
    fn risk_rises_with_deletes_money_consent_and_restricted_documents() {
        let none: &[Change] = &[];
        let change = |f: &str| vec![Change { field: f.into(), from: None, to: Some(json!(1)) }];
        assert_eq!(change_risk("CONTACT", Action::Create, &change("consent_given"), None, None), Risk::Low);
        assert_eq!(change_risk("CONTACT", Action::Update, &change("city"), None, None), Risk::Low);
        assert_eq!(change_risk("CONTACT", Action::Update, &change("consent_given"), None, None), Risk::Medium);
        assert_eq!(change_risk("CONTACT", Action::Delete, none, None, None), Risk::Medium);
        assert_eq!(change_risk("CONTACT", Action::Restore, none, None, None), Risk::Medium);
        assert_eq!(change_risk("CONTACT", Action::Purge, none, None, None), Risk::High);
        assert_eq!(change_risk("CONTACT", Action::Anonymize, none, None, None), Risk::High);
        assert_eq!(change_risk("TRANSACTION", Action::Create, &change("amount"), None, None), Risk::Medium);
        assert_eq!(change_risk("TRANSACTION", Action::Update, &change("notes"), None, None), Risk::Medium);
        assert_eq!(change_risk("TRANSACTION", Action::Update, &change("amount"), None, None), Risk::High);
        let restricted = image(json!({"privacy_level": "restricted"}));
        assert_eq!(change_risk("DOCUMENT", Action::Update, &change("title"), Some(&restricted), None), Risk::High);
        assert_eq!(change_risk("DOCUMENT", Action::Update, &change("privacy_level"), None, None), Risk::Medium);
        assert_eq!(change_risk("DOCUMENT", Action::Update, &change("title"), None, None), Risk::Low);
    }

    #[test]
    fn refused_accesses_and_exports_are_high_risk() {
        assert_eq!(access_risk(Action::View, Outcome::Success), Risk::Low);
        assert_eq!(access_risk(Action::Download, Outcome::Success), Risk::Medium);
        assert_eq!(access_risk(Action::Export, Outcome::Success), Risk::High);
        assert_eq!(access_risk(Action::View, Outcome::Failure), Risk::High);
    }
}
