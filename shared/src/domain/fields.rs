//! `Fields`: the one way a JSON body becomes a domain value.
//!
//! An entity's validating constructor walks its fields through a `Fields`, which collects every
//! problem instead of stopping at the first, so the client gets all of them in one 422. Wrong
//! types, unknown choices, over-long strings and unknown fields are reported by field name;
//! submitted values are never echoed back (they may be personal data).

use super::{Choice, Currency, Email, Money, Timestamp};
use crate::error::{AppError, FieldError};
use chrono::NaiveDate;
use serde_json::{Map, Value};

pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    known: Vec<&'static str>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Self { map, known: Vec::new(), errors: Vec::new() }
    }

    /// Fields a client may send back unchanged (ids, timestamps, computed values): accepted and
    /// ignored, so a GET body can be PUT back, but never used.
    pub fn ignore(&mut self, names: &[&'static str]) {
        self.known.extend_from_slice(names);
    }

    pub fn error(&mut self, field: &str, code: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, code, message));
    }

    pub fn has_errors_for(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }

    /// The value of a field, `None` when absent or `null`.
    fn take(&mut self, name: &'static str) -> Option<&'a Value> {
        self.known.push(name);
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn string(&mut self, name: &'static str) -> Option<&'a str> {
        match self.take(name)? {
            Value::String(s) => Some(s.as_str()),
            _ => {
                self.error(name, "invalid_type", "must be a string");
                None
            }
        }
    }

    fn checked_text(&mut self, name: &'static str, raw: &str, max: usize, multiline: bool) -> Option<String> {
        let value = if multiline { raw.trim_end().to_string() } else { raw.trim().to_string() };
        if value.chars().count() > max {
            self.error(name, "too_long", format!("must be at most {max} characters"));
            return None;
        }
        let bad_control = value.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
        if bad_control {
            self.error(name, "invalid_format", "must not contain control characters");
            return None;
        }
        Some(value)
    }

    /// An optional one-line string: absent, `null` and `""` all mean empty.
    pub fn text(&mut self, name: &'static str, max: usize) -> String {
        self.text_or(name, max, "")
    }

    /// An optional one-line string with a default used only when the field is absent or `null`.
    pub fn text_or(&mut self, name: &'static str, max: usize, default: &str) -> String {
        match self.string(name) {
            None if self.has_errors_for(name) => String::new(),
            None => default.to_string(),
            Some(raw) => self.checked_text(name, raw, max, false).unwrap_or_default(),
        }
    }

    /// Free text (notes, descriptions): line breaks allowed.
    pub fn long_text(&mut self, name: &'static str, max: usize) -> String {
        match self.string(name) {
            None => String::new(),
            Some(raw) => self.checked_text(name, raw, max, true).unwrap_or_default(),
        }
    }

    /// A one-line string that must be present and not blank.
    pub fn required_text(&mut self, name: &'static str, max: usize) -> String {
        let value = self.text(name, max);
        if value.is_empty() && !self.has_errors_for(name) {
            self.error(name, "required", "is required");
        }
        value
    }

    /// A choice with a default when absent or `null`.
    pub fn choice<C: Choice>(&mut self, name: &'static str, default: C) -> C {
        self.optional_choice(name).unwrap_or(default)
    }

    /// A choice that may be absent, `null` or `""`.
    pub fn optional_choice<C: Choice>(&mut self, name: &'static str) -> Option<C> {
        let raw = self.string(name)?.trim();
        if raw.is_empty() {
            return None;
        }
        let parsed = C::parse(raw);
        if parsed.is_none() {
            self.error(name, "invalid_choice", format!("must be one of: {}", C::ALL.join(", ")));
        }
        parsed
    }

    pub fn email(&mut self, name: &'static str) -> Option<Email> {
        let raw = self.string(name)?;
        if raw.trim().is_empty() {
            return None;
        }
        match Email::parse(raw) {
            Ok(email) => Some(email),
            Err(message) => {
                self.error(name, "invalid_format", message);
                None
            }
        }
    }

    /// A telephone number: digits with the usual separators, at most `max` characters.
    pub fn phone(&mut self, name: &'static str, max: usize) -> String {
        let value = self.text(name, max);
        let digits = value.chars().filter(char::is_ascii_digit).count();
        let shape_ok = value.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if !value.is_empty() && (!shape_ok || digits < 3) {
            self.error(name, "invalid_format", "must be a telephone number (digits, spaces, + - ( ) .)");
            return String::new();
        }
        value
    }

    /// A calendar date, `YYYY-MM-DD`.
    pub fn date(&mut self, name: &'static str) -> Option<NaiveDate> {
        let raw = self.string(name)?;
        if raw.trim().is_empty() {
            return None;
        }
        let parsed = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok();
        if parsed.is_none() {
            self.error(name, "invalid_format", "must be a date (YYYY-MM-DD)");
        }
        parsed
    }

    /// An instant, RFC 3339 with an offset; stored in UTC.
    pub fn timestamp(&mut self, name: &'static str) -> Option<Timestamp> {
        let raw = self.string(name)?;
        if raw.trim().is_empty() {
            return None;
        }
        let parsed = Timestamp::parse(raw);
        if parsed.is_none() {
            self.error(name, "invalid_format", "must be an RFC 3339 date-time with offset, e.g. 2025-01-01T09:00:00Z");
        }
        parsed
    }

    pub fn boolean(&mut self, name: &'static str, default: bool) -> bool {
        match self.take(name) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.error(name, "invalid_type", "must be true or false");
                default
            }
        }
    }

    /// An amount as a JSON string with at most two decimals (`"120.50"`); numbers are refused
    /// because they may already have been through a binary float.
    pub fn money(&mut self, name: &'static str) -> Option<Money> {
        match self.take(name)? {
            Value::String(raw) => {
                let parsed = Money::parse(raw.trim());
                if parsed.is_none() {
                    self.error(name, "invalid_format", "must be a decimal string with at most 2 decimals and 10 digits before the point, e.g. \"120.50\"");
                }
                parsed
            }
            Value::Number(_) => {
                self.error(name, "invalid_type", "must be a string such as \"120.50\", not a JSON number");
                None
            }
            _ => {
                self.error(name, "invalid_type", "must be a decimal string such as \"120.50\"");
                None
            }
        }
    }

    /// A required amount: missing is an error.
    pub fn required_money(&mut self, name: &'static str) -> Money {
        let value = self.money(name);
        if value.is_none() && !self.has_errors_for(name) {
            self.error(name, "required", "is required");
        }
        value.unwrap_or_default()
    }

    /// An ISO 4217 code, `default` when absent.
    pub fn currency(&mut self, name: &'static str, default: Currency) -> Currency {
        let Some(raw) = self.string(name) else { return default };
        Currency::parse(raw.trim()).unwrap_or_else(|| {
            self.error(name, "invalid_value", "must be an active ISO 4217 currency code in capitals, e.g. EUR");
            default
        })
    }

    /// A record id (UUID), `None` when absent, null or blank.
    pub fn uuid(&mut self, name: &'static str) -> Option<uuid::Uuid> {
        let raw = self.string(name)?;
        if raw.trim().is_empty() {
            return None;
        }
        let parsed = uuid::Uuid::parse_str(raw.trim()).ok();
        if parsed.is_none() {
            self.error(name, "invalid_format", "must be a UUID");
        }
        parsed
    }

    /// A required record id.
    pub fn required_uuid(&mut self, name: &'static str) -> uuid::Uuid {
        let value = self.uuid(name);
        if value.is_none() && !self.has_errors_for(name) {
            self.error(name, "required", "is required");
        }
        value.unwrap_or_default()
    }

    /// An integer in `min..=max`, `default` when absent.
    pub fn integer(&mut self, name: &'static str, min: i64, max: i64, default: i64) -> i64 {
        match self.take(name) {
            None => default,
            Some(Value::Number(n)) if n.as_i64().is_some_and(|v| (min..=max).contains(&v)) => {
                n.as_i64().unwrap_or(default)
            }
            Some(Value::Number(_)) => {
                self.error(name, "out_of_range", format!("must be an integer from {min} to {max}"));
                default
            }
            Some(_) => {
                self.error(name, "invalid_type", "must be an integer");
                default
            }
        }
    }

    /// A list of short strings (tags), each checked like a one-line text field.
    pub fn string_list(&mut self, name: &'static str, max_items: usize, max_len: usize) -> Vec<String> {
        let items = match self.take(name) {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.error(name, "invalid_type", "must be an array of strings");
                return Vec::new();
            }
        };
        if items.len() > max_items {
            self.error(name, "too_many", format!("must hold at most {max_items} items"));
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        for item in items {
            let Value::String(raw) = item else {
                self.error(name, "invalid_type", "must be an array of strings");
                return Vec::new();
            };
            match self.checked_text(name, raw, max_len, false) {
                Some(value) if !value.is_empty() => {
                    if !out.contains(&value) {
                        out.push(value);
                    }
                }
                Some(_) => {}
                None => return Vec::new(),
            }
        }
        out
    }

    /// Ends validation: any field not claimed by the constructor is an error, so a typo in a
    /// field name is reported instead of silently dropping the value.
    pub fn finish(mut self) -> Result<(), AppError> {
        let mut unknown: Vec<&String> = self.map.keys().filter(|k| !self.known.contains(&k.as_str())).collect();
        unknown.sort();
        for name in unknown {
            self.errors.push(FieldError::new(name.clone(), "unknown_field", "is not a field of this resource"));
        }
        if self.errors.is_empty() { Ok(()) } else { Err(AppError::validation(self.errors)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    crate::choice_enum! { enum Colour { Red = "red", Blue = "blue" } }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let map = obj(json!({"name": 5, "colour": "green", "long": "x".repeat(11), "typo": 1}));
        let mut f = Fields::new(&map);
        f.required_text("name", 10);
        f.choice("colour", Colour::Red);
        f.text("long", 10);
        f.required_text("missing", 10);
        let Err(AppError::Validation { errors }) = f.finish() else { panic!("expected 422") };
        let got: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            got,
            [
                ("name", "invalid_type"),
                ("colour", "invalid_choice"),
                ("long", "too_long"),
                ("missing", "required"),
                ("typo", "unknown_field")
            ]
        );
        assert!(errors[1].message.contains("red, blue"));
    }

    #[test]
    fn defaults_apply_to_absent_and_null_fields() {
        let map = obj(json!({"country": null}));
        let mut f = Fields::new(&map);
        assert_eq!(f.text_or("country", 100, "France"), "France");
        assert_eq!(f.choice("colour", Colour::Blue), Colour::Blue);
        assert!(f.boolean("flag", true));
        assert!(f.finish().is_ok());
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let map = obj(json!({"name": "é".repeat(10)}));
        let mut f = Fields::new(&map);
        assert_eq!(f.text("name", 10).chars().count(), 10);
        assert!(f.finish().is_ok());
    }

    #[test]
    fn control_characters_are_refused_in_one_line_fields_only() {
        let map = obj(json!({"name": "a\u{1f}b", "notes": "line one\nline two"}));
        let mut f = Fields::new(&map);
        f.text("name", 10);
        assert_eq!(f.long_text("notes", 100), "line one\nline two");
        assert!(f.finish().is_err());
    }

    #[test]
    fn dates_and_phones_are_checked() {
        let map = obj(json!({"d": "2025-02-30", "p": "call me"}));
        let mut f = Fields::new(&map);
        assert_eq!(f.date("d"), None);
        assert_eq!(f.phone("p", 20), "");
        let Err(AppError::Validation { errors }) = f.finish() else { panic!() };
        assert_eq!(errors.len(), 2);
    }
}
