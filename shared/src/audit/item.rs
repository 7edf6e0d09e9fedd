//! The audit table's keys and item layout, built in one place (see DATA-DESIGN.md).
//!
//! | item | `pk` | `sk` |
//! |---|---|---|
//! | audit record | `ORG#<org>` | `LOG#<time>#<audit id>` |
//! | data key of a person | `KEY#<person id>` | `ORG#<org>` |
//!
//! Records carry the attributes of four indexes, each sorted by `gsi_sk` (`<time>#<audit id>`):
//! `gsi1pk` by resource (`ORG#<org>#RES#<type>#<id>`, when the record names one resource),
//! `gsi2pk` by actor (`ORG#<org>#USER#<user id or system>`), `gsi3pk` by action
//! (`ORG#<org>#ACTION#<action>`), `gsi4pk` by risk (`ORG#<org>#RISK#<risk>`). Key items carry
//! none, so no index ever holds key material.

use serde_json::{Map, Value};
use uuid::Uuid;

// One JSON <-> attribute conversion for the whole backend: the business table's.
pub(crate) use crate::store::attr::parse_number as number;
pub use crate::store::attr::{Item, from_attr, get_s, s, to_attr};

pub const ITEM_AUDIT: &str = "audit";
pub const ITEM_KEY: &str = "key";
/// The prefix of every audit record's sort key.
pub const LOG_PREFIX: &str = "LOG#";

pub const GSI_RESOURCE: &str = "gsi1";
pub const GSI_USER: &str = "gsi2";
pub const GSI_ACTION: &str = "gsi3";
pub const GSI_RISK: &str = "gsi4";
pub const GSI_SORT: &str = "gsi_sk";

pub fn log_partition(org: Uuid) -> String {
    format!("ORG#{org}")
}

pub fn log_sort(time_key: &str, audit_id: &str) -> String {
    format!("{LOG_PREFIX}{time_key}#{audit_id}")
}

pub fn key_partition(subject: Uuid) -> String {
    format!("KEY#{subject}")
}

pub fn key_sort(org: Uuid) -> String {
    format!("ORG#{org}")
}

pub fn resource_partition(org: Uuid, resource_type: &str, resource_id: &str) -> String {
    format!("ORG#{org}#RES#{resource_type}#{resource_id}")
}

pub fn user_partition(org: Uuid, actor_id: &str) -> String {
    format!("ORG#{org}#USER#{actor_id}")
}

pub fn action_partition(org: Uuid, action: &str) -> String {
    format!("ORG#{org}#ACTION#{action}")
}

pub fn risk_partition(org: Uuid, risk: &str) -> String {
    format!("ORG#{org}#RISK#{risk}")
}

/// A DynamoDB-JSON value (`{"S": "x"}`, the stream event's image format) as plain JSON. Binary
/// values stay base64 text; unknown shapes read as `null`.
pub fn from_dynamodb_json(value: &Value) -> Value {
    let Some((tag, inner)) = value.as_object().filter(|m| m.len() == 1).and_then(|m| m.iter().next()) else {
        return Value::Null;
    };
    match (tag.as_str(), inner) {
        ("S" | "B", Value::String(s)) => Value::String(s.clone()),
        ("N", Value::String(n)) => number(n),
        ("N", Value::Number(n)) => Value::Number(n.clone()),
        ("BOOL", Value::Bool(b)) => Value::Bool(*b),
        ("NULL", _) => Value::Null,
        ("M", Value::Object(map)) => Value::Object(image_from_dynamodb_json(map)),
        ("L", Value::Array(items)) => Value::Array(items.iter().map(from_dynamodb_json).collect()),
        ("SS" | "BS", Value::Array(items)) => Value::Array(items.clone()),
        ("NS", Value::Array(items)) => {
            Value::Array(items.iter().map(|n| n.as_str().map(number).unwrap_or(Value::Null)).collect())
        }
        _ => Value::Null,
    }
}

/// A whole DynamoDB-JSON item as a plain JSON object.
pub fn image_from_dynamodb_json(item: &Map<String, Value>) -> Map<String, Value> {
    item.iter().map(|(k, v)| (k.clone(), from_dynamodb_json(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dynamodb_json_images_become_plain_objects() {
        let image = json!({
            "name": {"S": "Zoë"}, "n": {"N": "42"}, "big": {"N": "18446744073709551615"},
            "ok": {"BOOL": true}, "nothing": {"NULL": true}, "tags": {"L": [{"S": "a"}]},
            "nested": {"M": {"x": {"N": "1.5"}}}, "set": {"SS": ["a", "b"]}
        });
        let plain = image_from_dynamodb_json(image.as_object().unwrap_or(&Map::new()));
        assert_eq!(
            Value::Object(plain),
            json!({"name": "Zoë", "n": 42, "big": 18446744073709551615u64, "ok": true, "nothing": null,
                   "tags": ["a"], "nested": {"x": 1.5}, "set": ["a", "b"]})
        );
    }

    #[test]
    fn attributes_round_trip() {
        let value = json!({"a": [1, "x", null, true], "b": {"c": -7}});
        assert_eq!(from_attr(&to_attr(&value)), value);
    }
}
