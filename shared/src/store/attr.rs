//! JSON <-> DynamoDB attribute conversion.
//!
//! Records travel as `serde_json` values between the domain and storage, so one small, total
//! conversion serves every entity. Money never passes through here as a float: amounts are
//! strings in the domain, and JSON numbers become DynamoDB `N` from their exact decimal text.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

/// A JSON value as a DynamoDB attribute. `null` becomes `NULL`; callers drop nulls at the top
/// level so optional fields are absent rather than stored as nulls.
pub fn to_attr(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attr).collect()),
        Value::Object(map) => AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect()),
    }
}

/// A DynamoDB attribute as JSON. Only the shapes `to_attr` writes are expected; others (sets,
/// binary) never come from this codebase and read as `null` rather than failing a whole list.
pub fn from_attr(attr: &AttributeValue) -> Value {
    match attr {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => parse_number(n),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(items) => Value::Array(items.iter().map(from_attr).collect()),
        AttributeValue::M(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), from_attr(v))).collect()),
        AttributeValue::Ss(set) => Value::Array(set.iter().cloned().map(Value::String).collect()),
        _ => Value::Null,
    }
}

pub(crate) fn parse_number(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return Value::Number(i.into());
    }
    if let Ok(u) = text.parse::<u64>() {
        return Value::Number(u.into());
    }
    text.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number).unwrap_or(Value::Null)
}

/// A JSON object as a DynamoDB item, without its null members.
pub fn object_to_item(map: &Map<String, Value>) -> Item {
    map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), to_attr(v))).collect()
}

pub fn item_to_object(item: &Item) -> Map<String, Value> {
    item.iter().map(|(k, v)| (k.clone(), from_attr(v))).collect()
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A string attribute of an item, if present and a string.
pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// A number attribute of an item, if present, a number, and one that fits `T`.
pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|raw| raw.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_survives_the_round_trip_without_its_nulls() {
        let original = json!({
            "name": "Zoë", "n": 42, "neg": -7, "ok": true, "tags": ["a", "b"],
            "nested": {"x": 1}, "gone": null
        });
        let Value::Object(map) = &original else { unreachable!() };
        let back = item_to_object(&object_to_item(map));
        let mut expected = map.clone();
        expected.remove("gone");
        assert_eq!(back, expected);
    }

    #[test]
    fn large_integers_keep_every_digit() {
        assert_eq!(parse_number("18446744073709551615"), json!(18446744073709551615u64));
    }
}
