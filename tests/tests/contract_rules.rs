//! The OpenAPI document's body schemas and the validating constructors agree, field by field.
//!
//! Each entity's body schema is what its constructor records in describe mode; this proves the
//! recorded patterns and lengths mean what the constructor does. For every string field with a
//! pattern (and every choice), values are generated both from the published pattern (must be
//! accepted) and from an alphabet of the characters that tend to break validators (controls,
//! spaces of every kind, separators, accents, digits), and the constructor's verdict on the field
//! must equal the schema's (`pattern`, `maxLength`, `minLength`, `enum`), unless the constructor
//! refuses the value for one of the field's declared `x-rules` (a rule beyond the schema).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_analytics::AnalyticsRecord;
use hub_appointments::Appointment;
use hub_contacts::Contact;
use hub_documents::Document;
use hub_shared::domain::spec::object_schema;
use hub_shared::store::Entity;
use hub_transactions::Transaction;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

/// A valid body of each entity, which each case changes one field of.
fn base<E: Entity>() -> Map<String, Value> {
    let body = match E::KIND {
        "CONTACT" => json!({"first_name": "Zoé", "last_name": "Durand"}),
        "APPOINTMENT" => json!({
            "title": "Bilan", "contact_id": "6a1f3c8e-2b4d-4e6f-8a9b-0c1d2e3f4a5b",
            "start_datetime": "2030-03-02T09:30:00Z", "end_datetime": "2030-03-02T10:00:00Z",
        }),
        "TRANSACTION" => json!({
            "transaction_id": "TX-1", "transaction_type": "payment", "amount": "10.00",
            "contact_id": "6a1f3c8e-2b4d-4e6f-8a9b-0c1d2e3f4a5b",
        }),
        "DOCUMENT" => json!({
            "title": "Scan", "file_name": "scan.pdf", "file_size_bytes": 10, "checksum": "a".repeat(64),
        }),
        "ANALYTICS_RECORD" => json!({"metric_name": "visits", "metric_value": 1}),
        other => panic!("no base body for {other}"),
    };
    let body = body.as_object().cloned().unwrap();
    assert!(E::from_json(&body).is_ok(), "{}: the base body is valid", E::KIND);
    body
}

/// The string schema of a property (the first alternative of an `anyOf`), if it is a string
/// with a pattern or an enum.
fn string_schema(property: &Value) -> Option<&Value> {
    let schema = property.get("anyOf").and_then(|a| a.get(0)).unwrap_or(property);
    (schema.get("pattern").is_some() || schema.get("enum").is_some()).then_some(schema)
}

/// Whether the schema allows `value` (for the field's own keywords).
fn schema_allows(property: &Value, value: &str) -> bool {
    if let Some(any_of) = property.get("anyOf").and_then(Value::as_array) {
        return any_of.iter().any(|alt| match alt.get("const") {
            Some(c) => c == value,
            None => alt.get("type").and_then(Value::as_str) == Some("string") && schema_allows(alt, value),
        });
    }
    if let Some(values) = property.get("enum").and_then(Value::as_array) {
        return values.iter().any(|v| v == value);
    }
    let chars = value.chars().count() as u64;
    let max_ok = property.get("maxLength").and_then(Value::as_u64).is_none_or(|m| chars <= m);
    let min_ok = property.get("minLength").and_then(Value::as_u64).is_none_or(|m| chars >= m);
    let pattern_ok = property
        .get("pattern")
        .and_then(Value::as_str)
        .is_none_or(|p| regex::Regex::new(p).unwrap_or_else(|e| panic!("{p}: {e}")).is_match(value));
    max_ok && min_ok && pattern_ok
}

/// The codes of the field's rules beyond the schema.
fn rule_codes(property: &Value) -> Vec<String> {
    property
        .get("x-rules")
        .and_then(Value::as_array)
        .map(|rules| rules.iter().filter_map(|r| r["code"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Characters that tend to break validators, and any character at all.
fn tricky_string(max: usize) -> BoxedStrategy<String> {
    let tricky = prop::sample::select(vec![
        'a', 'Z', 'é', 'ß', '0', '9', ' ', '\u{a0}', '\u{2003}', '\u{3000}', '\t', '\n', '\r', '\u{0}', '\u{1f}',
        '\u{7f}', '\u{85}', '\u{9f}', '@', '.', '-', '+', '(', ')', '/', '\\', '"', '_', ':', 'T', 'Z', 'x',
        '\u{feff}', '\u{2028}', '１',
    ]);
    let any_char = prop::char::any();
    prop::collection::vec(prop_oneof![4 => tricky, 1 => any_char], 0..max + 3)
        .prop_map(|chars| chars.into_iter().collect())
        .boxed()
}

/// Strings the pattern generates (anchors stripped: the generator reads a whole match).
fn from_pattern(pattern: &str) -> Option<BoxedStrategy<String>> {
    let body = pattern.strip_prefix('^')?.strip_suffix('$')?;
    proptest::string::string_regex(body).ok().map(|s| s.boxed())
}

fn check_entity<E: Entity>() {
    let schema = object_schema(&E::body_spec());
    let base = base::<E>();
    let properties = schema["properties"].as_object().unwrap().clone();
    let mut checked = 0;
    for (name, property) in &properties {
        let Some(string) = string_schema(property) else { continue };
        checked += 1;
        let max = string.get("maxLength").and_then(Value::as_u64).unwrap_or(40).min(300) as usize;
        let mut strategies = vec![tricky_string(max)];
        if let Some(pattern) = string.get("pattern").and_then(Value::as_str) {
            strategies.push(from_pattern(pattern).unwrap_or_else(|| panic!("{}.{name}: {pattern}", E::KIND)));
        }
        if let Some(values) = string.get("enum").and_then(Value::as_array) {
            let values: Vec<String> = values.iter().filter_map(|v| v.as_str().map(String::from)).collect();
            strategies.push(prop::sample::select(values).boxed());
        }
        let codes = rule_codes(property);
        let strategy = prop::strategy::Union::new(strategies);
        let mut runner = TestRunner::new(Config { cases: 400, failure_persistence: None, ..Config::default() });
        runner
            .run(&strategy, |value| {
                let mut body = base.clone();
                body.insert(name.clone(), Value::String(value.clone()));
                let refused: Vec<&'static str> = match E::from_json(&body) {
                    Ok(_) => Vec::new(),
                    Err(err) => err.field_errors().iter().filter(|e| &e.field == name).map(|e| e.code).collect(),
                };
                if refused.iter().any(|code| codes.iter().any(|c| c == code)) {
                    return Ok(()); // a declared rule beyond the schema
                }
                let allowed = schema_allows(property, &value);
                prop_assert_eq!(
                    allowed,
                    refused.is_empty(),
                    "{}.{}: {:?}: the schema {} it, the constructor {} ({:?})",
                    E::KIND,
                    name,
                    value,
                    if allowed { "allows" } else { "forbids" },
                    if refused.is_empty() { "accepts it" } else { "refuses it" },
                    refused
                );
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(checked > 0, "{}: no string field was checked", E::KIND);
}

#[test]
fn contact_fields_accept_exactly_what_the_document_allows() {
    check_entity::<Contact>();
}

#[test]
fn appointment_fields_accept_exactly_what_the_document_allows() {
    check_entity::<Appointment>();
}

#[test]
fn transaction_fields_accept_exactly_what_the_document_allows() {
    check_entity::<Transaction>();
}

#[test]
fn document_fields_accept_exactly_what_the_document_allows() {
    check_entity::<Document>();
}

#[test]
fn analytics_record_fields_accept_exactly_what_the_document_allows() {
    check_entity::<AnalyticsRecord>();
}

#[test]
fn every_body_refuses_unknown_members_and_says_so() {
    for schema in [
        object_schema(&Contact::body_spec()),
        object_schema(&Appointment::body_spec()),
        object_schema(&Transaction::body_spec()),
        object_schema(&Document::body_spec()),
        object_schema(&AnalyticsRecord::body_spec()),
    ] {
        assert_eq!(schema["additionalProperties"], json!(false));
    }
    let mut body = base::<Contact>();
    body.insert("nickname".into(), json!("Zozo"));
    let err = Contact::from_json(&body).unwrap_err();
    assert_eq!(err.field_errors()[0].code, "unknown_field");
}
