//! A DynamoDB item read straight into a typed value, without the JSON object in between.
//!
//! `Record::from_item` used to turn the item into a `serde_json::Value` (every string copied,
//! every number parsed into a `Number`) and deserialize the metadata and the entity from it.
//! This reads the same shapes `attr::from_attr` does, in the same way (`NULL` is null, `N` an
//! integer when it is one, visited as serde_json visits it, `SS` a list of strings, a binary or
//! another set null), so the records' types deserialize from an item as from
//! `item_to_object(item)`: the unit tests below, and tests/tests/properties.rs on every item of
//! generated full records (the metadata, every entity, and a JSON value). It is not a general
//! replacement for serde_json's `Value`: it is as lenient as `deserialize_any` is for the typed
//! `deserialize_*` calls (a string where a list is expected fails in the type's visitor rather
//! than here), and map keys are plain strings; no record type depends on either.

use super::attr::Item;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::value::{
    BorrowedStrDeserializer, MapAccessDeserializer, MapDeserializer, SeqDeserializer, StrDeserializer,
};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

/// Why an item does not read as the type asked for.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ItemError(String);

impl de::Error for ItemError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

/// `T` from `item`, as `T::deserialize(Value::Object(item_to_object(item)))` would read it.
pub fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, ItemError> {
    T::deserialize(ItemDe(item))
}

struct ItemDe<'a>(&'a Item);

impl<'de> de::Deserializer<'de> for ItemDe<'de> {
    type Error = ItemError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ItemError> {
        visit_attributes(self.0, visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ItemError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ItemError> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// A map of attributes (an item, or an `M`) visited as a JSON object: every entry, none left over.
fn visit_attributes<'de, V: Visitor<'de>>(entries: &'de Item, visitor: V) -> Result<V::Value, ItemError> {
    let mut map = MapDeserializer::new(entries.iter().map(|(k, v)| (k.as_str(), AttrDe(v))));
    let value = visitor.visit_map(&mut map)?;
    map.end()?;
    Ok(value)
}

struct AttrDe<'a>(&'a AttributeValue);

impl<'de> IntoDeserializer<'de, ItemError> for AttrDe<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for AttrDe<'de> {
    type Error = ItemError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ItemError> {
        match self.0 {
            AttributeValue::Null(_) => visitor.visit_unit(),
            AttributeValue::Bool(b) => visitor.visit_bool(*b),
            AttributeValue::N(text) => match number(text) {
                Some(Number::Signed(i)) => visitor.visit_i64(i),
                Some(Number::Unsigned(u)) => visitor.visit_u64(u),
                Some(Number::Float(f)) => visitor.visit_f64(f),
                None => visitor.visit_unit(),
            },
            AttributeValue::S(s) => visitor.visit_borrowed_str(s),
            AttributeValue::L(items) => {
                let mut seq = SeqDeserializer::new(items.iter().map(AttrDe));
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            AttributeValue::M(entries) => visit_attributes(entries, visitor),
            AttributeValue::Ss(set) => {
                let mut seq = SeqDeserializer::new(set.iter().map(|s| BorrowedStrDeserializer::<ItemError>::new(s)));
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            _ => visitor.visit_unit(),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ItemError> {
        match self.0 {
            AttributeValue::Null(_) => visitor.visit_none(),
            AttributeValue::N(text) if number(text).is_none() => visitor.visit_none(),
            AttributeValue::S(_)
            | AttributeValue::Bool(_)
            | AttributeValue::N(_)
            | AttributeValue::L(_)
            | AttributeValue::M(_)
            | AttributeValue::Ss(_) => visitor.visit_some(self),
            _ => visitor.visit_none(),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ItemError> {
        match self.0 {
            // A unit variant, as serde_json's `Value` reads one from a string.
            AttributeValue::S(s) => visitor.visit_enum(StrDeserializer::<ItemError>::new(s)),
            // `{"Variant": value}`, an externally tagged variant with data: one key, as serde_json
            // requires (a map of several would otherwise pick one in hash order).
            AttributeValue::M(entries) if entries.len() == 1 => {
                let map = MapDeserializer::new(entries.iter().map(|(k, v)| (k.as_str(), AttrDe(v))));
                visitor.visit_enum(MapAccessDeserializer::new(map))
            }
            _ => Err(de::Error::invalid_type(
                de::Unexpected::Other("a DynamoDB attribute"),
                &"a string or a map of one key",
            )),
        }
    }

    /// What is ignored is not walked (serde_json's `Value` does not walk it either).
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ItemError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ItemError> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier
    }
}

enum Number {
    Signed(i64),
    Unsigned(u64),
    Float(f64),
}

/// A DynamoDB number as `attr::parse_number` reads it: an `i64`, else a `u64`, else a finite
/// `f64`; anything else (never written by this codebase) reads as null.
fn number(text: &str) -> Option<Number> {
    if let Ok(i) = text.parse::<i64>() {
        // serde_json keeps a non-negative integer as unsigned and visits it with `visit_u64`.
        return Some(if i >= 0 { Number::Unsigned(i.unsigned_abs()) } else { Number::Signed(i) });
    }
    if let Ok(u) = text.parse::<u64>() {
        return Some(Number::Unsigned(u));
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite()).map(Number::Float)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::attr::{item_to_object, object_to_item};
    use aws_sdk_dynamodb::primitives::Blob;
    use serde::Deserialize;
    use serde_json::{Value, json};

    fn item(value: Value) -> Item {
        match value {
            Value::Object(map) => object_to_item(&map),
            _ => Item::new(),
        }
    }

    #[test]
    fn an_item_reads_as_its_json_object_does() {
        let mut item = item(json!({
            "s": "é", "i": -3, "u": u64::MAX, "f": 1.5, "t": true, "n": null,
            "l": [1, "x", [], {"k": false}], "m": {"a": {"b": [2]}}, "e": ""
        }));
        item.insert("ss".into(), AttributeValue::Ss(vec!["a".into(), "b".into()]));
        item.insert("bin".into(), AttributeValue::B(Blob::new(vec![1])));
        item.insert("bad".into(), AttributeValue::N("not a number".into()));
        item.insert("null".into(), AttributeValue::Null(true));
        let direct: Value = from_item(&item).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(direct, Value::Object(item_to_object(&item)));
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Unit,
        Data(u8),
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Typed {
        name: String,
        count: u32,
        missing: Option<String>,
        nulled: Option<i64>,
        present: Option<f64>,
        kind: Kind,
        other: Kind,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[test]
    fn a_typed_value_reads_as_from_its_json_object() {
        let item = item(json!({
            "name": "Zoé", "count": 7, "present": 2.25, "kind": "unit", "other": {"data": 3},
            "tags": ["a"], "ignored": {"x": 1}
        }));
        let mut with_null = item.clone();
        with_null.insert("nulled".into(), AttributeValue::Null(true));
        for item in [item, with_null] {
            let direct: Typed = from_item(&item).unwrap_or_else(|e| panic!("{e}"));
            let through_json =
                Typed::deserialize(Value::Object(item_to_object(&item))).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(direct, through_json);
            assert_eq!(direct.other, Kind::Data(3));
        }
        // A whole item may be read as an option of a record, as a JSON object may.
        let some: Option<Typed> =
            from_item(&self::item(json!({"name": "a", "count": 1, "kind": "unit", "other": "unit"})))
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(some.is_some());
        // And both refuse the same things: a wrong type, a variant map of two keys.
        let two_keys = self::item(json!({"name": "a", "count": 1, "kind": "unit", "other": {"data": 3, "unit": null}}));
        assert!(from_item::<Typed>(&two_keys).is_err());
        assert!(Typed::deserialize(Value::Object(item_to_object(&two_keys))).is_err());
        let wrong = self::item(json!({"name": 1, "count": 7, "kind": "unit", "other": "unit"}));
        assert!(from_item::<Typed>(&wrong).is_err());
        assert!(Typed::deserialize(Value::Object(item_to_object(&wrong))).is_err());
    }
}
