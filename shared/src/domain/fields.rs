//! `Fields`: the one way a JSON body becomes a domain value.
//!
//! An entity's validating constructor walks its fields through a `Fields`, which collects every
//! problem instead of stopping at the first, so the client gets all of them in one 422. Wrong
//! types, unknown choices, over-long strings and unknown fields are reported by field name;
//! submitted values are never echoed back (they may be personal data).
//!
//! The same walk describes the body: [`Fields::describe`] runs a constructor over nothing and
//! records what each read accepts ([`super::spec`]), which is how the OpenAPI document gets
//! every body's schema. A rule checked outside these readers is stated with [`Fields::note`]
//! beside its check, so the document carries it too.
//!
//! Every reader takes a value exactly as its schema says: formatted values (dates, instants,
//! amounts, ids, choices, addresses) are not trimmed or case-folded into shape; only free text
//! loses its surrounding spaces, and its length is counted as sent.

use super::spec::{FieldSpec, MoneyRule, Note, Rule};
use super::{Choice, Currency, Date, Email, Money, Timestamp, Window};
use crate::error::{AppError, FieldError};
use serde_json::{Map, Value};
use uuid::Uuid;

pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    known: Vec<&'static str>,
    errors: Vec<FieldError>,
    /// Describe mode: what each read accepts, in order.
    spec: Option<Vec<FieldSpec>>,
    today: Date,
}

fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Self { map, known: Vec::new(), errors: Vec::new(), spec: None, today: Date::today() }
    }

    /// Describe mode: reads see an empty body and record their rules instead of checking one.
    pub fn describe() -> Fields<'static> {
        Fields { map: empty_map(), known: Vec::new(), errors: Vec::new(), spec: Some(Vec::new()), today: Date::today() }
    }

    /// Whether this is describe mode (a constructor may skip work that only checks a body).
    pub fn describing(&self) -> bool {
        self.spec.is_some()
    }

    /// The rules recorded in describe mode, in reading order.
    pub fn into_spec(self) -> Vec<FieldSpec> {
        self.spec.unwrap_or_default()
    }

    /// Today, as the date windows see it (fixed for one body).
    pub fn today(&self) -> Date {
        self.today
    }

    fn record(&mut self, name: &'static str, rule: Rule, default: Option<Value>) {
        if let Some(spec) = &mut self.spec
            && !spec.iter().any(|f| f.name == name)
        {
            spec.push(FieldSpec { name, rule, default, notes: Vec::new() });
        }
    }

    /// States a rule on `field` that its schema cannot express, answered with `code` when broken
    /// (a cross-field rule, a check against the clock or another record). Only describe mode
    /// keeps it; the check itself stays where the rule is enforced.
    pub fn note(&mut self, field: &'static str, code: &'static str, rule: impl Into<String>) {
        if let Some(spec) = &mut self.spec
            && let Some(entry) = spec.iter_mut().find(|f| f.name == field)
        {
            entry.notes.push(Note { code, rule: rule.into() });
        }
    }

    /// Fields a client may send back unchanged (ids, timestamps, computed values): accepted and
    /// ignored, so a GET body can be PUT back, but never used.
    pub fn ignore(&mut self, names: &[&'static str]) {
        for name in names {
            self.record(name, Rule::Ignored, None);
        }
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

    /// A string that must be absent, null, `""`, or one value in its exact form.
    fn formatted(&mut self, name: &'static str) -> Option<&'a str> {
        self.string(name).filter(|raw| !raw.is_empty())
    }

    /// Length as sent (so the schema's `maxLength` says it), then the checks, then the trim.
    fn checked_text(&mut self, name: &'static str, raw: &str, max: usize, multiline: bool) -> Option<String> {
        if raw.chars().count() > max {
            self.error(name, "too_long", format!("must be at most {max} characters"));
            return None;
        }
        let bad_control = raw.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
        if bad_control {
            self.error(name, "invalid_format", "must not contain control characters");
            return None;
        }
        Some(if multiline { raw.trim_end().to_string() } else { raw.trim().to_string() })
    }

    /// An optional one-line string: absent, `null` and `""` all mean empty.
    pub fn text(&mut self, name: &'static str, max: usize) -> String {
        self.record(name, Rule::Text { max, multiline: false, required: false }, None);
        self.read_text(name, max, "")
    }

    /// An optional one-line string with a default used only when the field is absent or `null`.
    pub fn text_or(&mut self, name: &'static str, max: usize, default: &str) -> String {
        self.record(name, Rule::Text { max, multiline: false, required: false }, Some(Value::from(default)));
        self.read_text(name, max, default)
    }

    fn read_text(&mut self, name: &'static str, max: usize, default: &str) -> String {
        match self.string(name) {
            None if self.has_errors_for(name) => String::new(),
            None => default.to_string(),
            Some(raw) => self.checked_text(name, raw, max, false).unwrap_or_default(),
        }
    }

    /// Free text (notes, descriptions): line breaks allowed.
    pub fn long_text(&mut self, name: &'static str, max: usize) -> String {
        self.record(name, Rule::Text { max, multiline: true, required: false }, None);
        match self.string(name) {
            None => String::new(),
            Some(raw) => self.checked_text(name, raw, max, true).unwrap_or_default(),
        }
    }

    /// A one-line string that must be present and not blank.
    pub fn required_text(&mut self, name: &'static str, max: usize) -> String {
        self.record(name, Rule::Text { max, multiline: false, required: true }, None);
        let value = self.read_text(name, max, "");
        if value.is_empty() && !self.has_errors_for(name) {
            self.error(name, "required", "is required");
        }
        value
    }

    /// A one-line string matching `pattern` (its JSON Schema form, which must also match `""`)
    /// as checked by `matches`; absent, `null` or `""` is `default`, or empty. Taken as sent:
    /// nothing trimmed.
    pub fn pattern(
        &mut self,
        name: &'static str,
        max: usize,
        default: Option<&'static str>,
        pattern: &'static str,
        matches: fn(&str) -> bool,
        message: &'static str,
    ) -> String {
        self.record(name, Rule::Pattern { max, pattern, required: false }, default.map(Value::from));
        let Some(raw) = self.formatted(name) else { return default.unwrap_or("").to_string() };
        if raw.chars().count() > max {
            self.error(name, "too_long", format!("must be at most {max} characters"));
            String::new()
        } else if !matches(raw) {
            self.error(name, "invalid_format", message);
            String::new()
        } else {
            raw.to_string()
        }
    }

    /// A choice with a default when absent or `null`. `""` is not a value of it.
    pub fn choice<C: Choice>(&mut self, name: &'static str, default: C) -> C {
        self.record(
            name,
            Rule::Choice { values: C::ALL, blank: false, required: false },
            Some(Value::from(default.as_str())),
        );
        let Some(raw) = self.string(name) else { return default };
        C::parse(raw).unwrap_or_else(|| {
            self.error(name, "invalid_choice", format!("must be one of: {}", C::ALL.join(", ")));
            default
        })
    }

    /// One of a long list of names (`values`, e.g. time zones), `default` when absent or `null`.
    pub fn listed(&mut self, name: &'static str, values: &'static [&'static str], default: &'static str) -> String {
        self.record(name, Rule::Choice { values, blank: false, required: false }, Some(Value::from(default)));
        let Some(raw) = self.string(name) else { return default.to_string() };
        if values.contains(&raw) {
            raw.to_string()
        } else {
            self.error(name, "invalid_value", "is not one of the accepted names");
            default.to_string()
        }
    }

    /// A choice that may be absent, `null` or `""` (unset).
    pub fn optional_choice<C: Choice>(&mut self, name: &'static str) -> Option<C> {
        self.record(name, Rule::Choice { values: C::ALL, blank: true, required: false }, None);
        self.read_choice(name)
    }

    /// A choice that must be given.
    pub fn required_choice<C: Choice>(&mut self, name: &'static str, fallback: C) -> C {
        self.record(name, Rule::Choice { values: C::ALL, blank: false, required: true }, None);
        let value = self.read_choice(name);
        if value.is_none() && !self.has_errors_for(name) {
            self.error(name, "required", "is required");
        }
        value.unwrap_or(fallback)
    }

    fn read_choice<C: Choice>(&mut self, name: &'static str) -> Option<C> {
        let raw = self.formatted(name)?;
        let parsed = C::parse(raw);
        if parsed.is_none() {
            self.error(name, "invalid_choice", format!("must be one of: {}", C::ALL.join(", ")));
        }
        parsed
    }

    pub fn email(&mut self, name: &'static str) -> Option<Email> {
        self.record(name, Rule::Email, None);
        let raw = self.formatted(name)?;
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
        self.record(name, Rule::Phone { max }, None);
        let Some(raw) = self.string(name) else { return String::new() };
        if raw.chars().count() > max {
            self.error(name, "too_long", format!("must be at most {max} characters"));
            return String::new();
        }
        let shape_ok = raw.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
        let value = raw.trim();
        let digits = value.chars().filter(char::is_ascii_digit).count();
        if !shape_ok || (!value.is_empty() && digits < 3) {
            self.error(name, "invalid_format", "must be a telephone number (digits, spaces, + - ( ) .)");
            return String::new();
        }
        value.to_string()
    }

    /// A calendar date, exactly `YYYY-MM-DD`, in `window` (see [`Window`]); `""` is unset.
    pub fn date(&mut self, name: &'static str, window: Window) -> Option<Date> {
        self.record(name, Rule::Date { window }, None);
        match window {
            Window::Business => {}
            Window::Birth => self.note(name, "invalid_value", "Not in the future."),
            Window::Retention => self.note(
                name,
                "invalid_value",
                format!(
                    "At most {} years from today; not before today when set or changed.",
                    super::MAX_RETENTION_YEARS
                ),
            ),
        }
        let raw = self.formatted(name)?;
        let Some(date) = Date::parse(raw) else {
            self.error(name, "invalid_format", "must be a date written YYYY-MM-DD");
            return None;
        };
        match window.check(date, self.today) {
            Ok(()) => Some(date),
            Err(message) => {
                self.error(name, "invalid_value", message);
                None
            }
        }
    }

    /// An instant, RFC 3339 with an offset ([`Timestamp::parse_input`]); stored in UTC.
    pub fn timestamp(&mut self, name: &'static str) -> Option<Timestamp> {
        self.record(name, Rule::Timestamp { required: false }, None);
        self.read_timestamp(name)
    }

    pub fn required_timestamp(&mut self, name: &'static str) -> Option<Timestamp> {
        self.record(name, Rule::Timestamp { required: true }, None);
        let value = self.read_timestamp(name);
        if value.is_none() && !self.has_errors_for(name) {
            self.error(name, "required", "is required");
        }
        value
    }

    fn read_timestamp(&mut self, name: &'static str) -> Option<Timestamp> {
        let raw = self.formatted(name)?;
        let parsed = Timestamp::parse_input(raw);
        if parsed.is_none() {
            self.error(
                name,
                "invalid_format",
                "must be an RFC 3339 date-time with offset in the years 1900 to 2199, e.g. 2025-01-01T09:00:00Z",
            );
        }
        parsed
    }

    pub fn boolean(&mut self, name: &'static str, default: bool) -> bool {
        self.record(name, Rule::Boolean, Some(Value::Bool(default)));
        match self.take(name) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.error(name, "invalid_type", "must be true or false");
                default
            }
        }
    }

    /// An amount as a JSON string written as `rule` says (`"120.50"`); numbers are refused
    /// because they may already have been through a binary float.
    pub fn money(&mut self, name: &'static str, rule: MoneyRule) -> Option<Money> {
        self.record(name, Rule::Money { rule, required: false }, None);
        self.read_money(name, rule)
    }

    /// A required amount: missing is an error.
    pub fn required_money(&mut self, name: &'static str, rule: MoneyRule) -> Money {
        self.record(name, Rule::Money { rule, required: true }, None);
        let value = self.read_money(name, rule);
        if value.is_none() && !self.has_errors_for(name) {
            self.error(name, "required", "is required");
        }
        value.unwrap_or_default()
    }

    fn read_money(&mut self, name: &'static str, rule: MoneyRule) -> Option<Money> {
        match self.take(name)? {
            Value::String(raw) => {
                let unsigned = raw.strip_prefix('-').unwrap_or(raw);
                let whole = unsigned.split('.').next().unwrap_or("").len();
                let parsed = Money::parse(raw)
                    .filter(|_| (rule.signed || !raw.starts_with('-')) && whole <= usize::from(rule.whole_digits));
                if parsed.is_none() {
                    let sign = if rule.signed { "" } else { "not negative, " };
                    self.error(
                        name,
                        "invalid_format",
                        format!(
                            "must be a decimal string, {sign}with at most 2 decimals and {} digits before the point, e.g. \"120.50\"",
                            rule.whole_digits
                        ),
                    );
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

    /// An ISO 4217 code, `default` when absent.
    pub fn currency(&mut self, name: &'static str, default: Currency) -> Currency {
        self.record(name, Rule::Currency, Some(Value::from(default.as_str())));
        let Some(raw) = self.string(name) else { return default };
        Currency::parse(raw).unwrap_or_else(|| {
            self.error(name, "invalid_value", "must be an active ISO 4217 currency code in capitals, e.g. EUR");
            default
        })
    }

    /// A record id (a hyphenated UUID), `None` when absent, null or `""`.
    pub fn uuid(&mut self, name: &'static str) -> Option<Uuid> {
        self.record(name, Rule::Uuid { required: false }, None);
        self.read_uuid(name)
    }

    /// A required record id.
    pub fn required_uuid(&mut self, name: &'static str) -> Uuid {
        self.record(name, Rule::Uuid { required: true }, None);
        let value = self.read_uuid(name);
        if value.is_none() && !self.has_errors_for(name) {
            self.error(name, "required", "is required");
        }
        value.unwrap_or_default()
    }

    fn read_uuid(&mut self, name: &'static str) -> Option<Uuid> {
        let raw = self.formatted(name)?;
        let parsed = parse_uuid(raw);
        if parsed.is_none() {
            self.error(name, "invalid_format", "must be a UUID (8-4-4-4-12 hexadecimal digits)");
        }
        parsed
    }

    /// An integer in `min..=max`, `default` when absent or `null`. A number with a zero
    /// fraction (`3.0`) is an integer, as JSON Schema says.
    pub fn integer(&mut self, name: &'static str, min: i64, max: i64, default: i64) -> i64 {
        self.record(name, Rule::Integer { min, max }, Some(Value::from(default)));
        self.read_integer(name, min, max).unwrap_or(default)
    }

    /// An integer in `min..=max`, `None` when absent or `null`.
    pub fn optional_integer(&mut self, name: &'static str, min: i64, max: i64) -> Option<i64> {
        self.record(name, Rule::Integer { min, max }, None);
        self.read_integer(name, min, max)
    }

    fn read_integer(&mut self, name: &'static str, min: i64, max: i64) -> Option<i64> {
        match self.take(name)? {
            Value::Number(n) => match integral(n) {
                Some(v) if (min..=max).contains(&v) => Some(v),
                Some(_) => {
                    self.error(name, "out_of_range", format!("must be an integer from {min} to {max}"));
                    None
                }
                None => {
                    self.error(name, "invalid_type", "must be an integer");
                    None
                }
            },
            _ => {
                self.error(name, "invalid_type", "must be an integer");
                None
            }
        }
    }

    /// A finite number of magnitude below `max_magnitude`; magnitudes below DynamoDB's smallest
    /// (1e-130) become 0, since they cannot be stored and differ from 0 by less than any
    /// float's precision at that scale.
    pub fn required_number(&mut self, name: &'static str, max_magnitude: f64) -> f64 {
        self.record(name, Rule::Number { max_magnitude, required: true }, None);
        match self.take(name) {
            None => {
                self.error(name, "required", "is required");
                0.0
            }
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) if v.is_finite() && v.abs() < max_magnitude => {
                    if v.abs() < 1e-130 {
                        0.0
                    } else {
                        v
                    }
                }
                _ => {
                    self.error(
                        name,
                        "invalid_value",
                        format!("must be a finite number between -{max_magnitude:e} and {max_magnitude:e}"),
                    );
                    0.0
                }
            },
            Some(_) => {
                self.error(name, "invalid_type", "must be a number");
                0.0
            }
        }
    }

    /// A list of short strings (tags), each checked like a one-line text field.
    pub fn string_list(&mut self, name: &'static str, max_items: usize, max_len: usize) -> Vec<String> {
        self.record(name, Rule::StringList { max_items, max_len }, None);
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

/// A JSON number as an integer, as JSON Schema reads one: an integer literal, or a number with
/// no fraction (`3.0`, `1e3`). Past `i64`'s range it saturates (a bound check then refuses it
/// as out of range, which it is); `None` only for a number with a fraction.
pub fn integral(n: &serde_json::Number) -> Option<i64> {
    if let Some(v) = n.as_i64() {
        return Some(v);
    }
    if n.is_u64() {
        return Some(i64::MAX);
    }
    let f = n.as_f64()?;
    // `as` saturates at i64's bounds.
    (f.is_finite() && f.fract() == 0.0).then_some(f as i64)
}

/// A UUID in its hyphenated form only (`uuid` alone would also take the braced, URN and
/// 32-digit forms, which the API never writes and the document does not allow).
pub fn parse_uuid(raw: &str) -> Option<Uuid> {
    (raw.len() == 36).then(|| Uuid::try_parse(raw).ok()).flatten()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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
    fn length_counts_characters_as_sent_not_bytes() {
        let map = obj(json!({"name": "é".repeat(10), "padded": format!(" {} ", "x".repeat(9))}));
        let mut f = Fields::new(&map);
        assert_eq!(f.text("name", 10).chars().count(), 10);
        f.text("padded", 10);
        let Err(AppError::Validation { errors }) = f.finish() else { panic!("11 characters as sent") };
        assert_eq!(errors[0].field, "padded");
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
        let map = obj(json!({"d": "2025-02-30", "p": "call me", "short": "24-01-01", "future": "2999-01-01"}));
        let mut f = Fields::new(&map);
        assert_eq!(f.date("d", Window::Business), None);
        assert_eq!(f.phone("p", 20), "");
        assert_eq!(f.date("short", Window::Business), None);
        assert_eq!(f.date("future", Window::Birth), None);
        let Err(AppError::Validation { errors }) = f.finish() else { panic!() };
        let got: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            got,
            [
                ("d", "invalid_format"),
                ("p", "invalid_format"),
                ("short", "invalid_format"),
                ("future", "invalid_value")
            ]
        );
    }

    #[test]
    fn formatted_values_are_taken_exactly_as_written() {
        let id = Uuid::new_v4();
        let map = obj(json!({
            "padded_choice": " red ",
            "braced": format!("{{{id}}}"),
            "simple": id.simple().to_string(),
            "spaced_money": " 1.00",
            "good": id.to_string().to_uppercase(),
        }));
        let mut f = Fields::new(&map);
        assert_eq!(f.optional_choice::<Colour>("padded_choice"), None);
        assert_eq!(f.uuid("braced"), None);
        assert_eq!(f.uuid("simple"), None);
        assert_eq!(f.money("spaced_money", MoneyRule::SIGNED), None);
        assert_eq!(f.uuid("good"), Some(id));
        let Err(AppError::Validation { errors }) = f.finish() else { panic!() };
        assert_eq!(errors.len(), 4);
    }

    #[test]
    fn integers_may_be_written_with_a_zero_fraction_as_json_schema_allows() {
        let map = obj(json!({"a": 3.0, "b": 3.5, "c": 7, "d": 1e300}));
        let mut f = Fields::new(&map);
        assert_eq!(f.integer("a", 1, 5, 1), 3);
        assert_eq!(f.optional_integer("b", 1, 5), None);
        assert_eq!(f.optional_integer("c", 1, 5), None);
        assert_eq!(f.optional_integer("d", 1, 5), None);
        let Err(AppError::Validation { errors }) = f.finish() else { panic!() };
        let got: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(got, [("b", "invalid_type"), ("c", "out_of_range"), ("d", "out_of_range")]);
    }

    #[test]
    fn unsigned_amounts_refuse_a_sign_and_digit_counts_are_syntactic() {
        let narrow = MoneyRule { signed: false, whole_digits: 8 };
        let map = obj(json!({"neg": "-0.00", "wide": "000000001.00", "ok": "99999999.99"}));
        let mut f = Fields::new(&map);
        assert_eq!(f.money("neg", MoneyRule::UNSIGNED), None);
        assert_eq!(f.money("wide", narrow), None);
        assert_eq!(f.money("ok", narrow).map(|m| m.to_string()).as_deref(), Some("99999999.99"));
        assert_eq!(f.finish().err().map(|e| e.field_errors().len()), Some(2));
    }

    #[test]
    fn describe_mode_records_every_read_with_its_rule_and_notes() {
        let mut f = Fields::describe();
        f.ignore(&["id"]);
        f.required_text("name", 10);
        f.choice("colour", Colour::Red);
        f.date("born", Window::Birth);
        f.note("name", "invalid_value", "Not Bob.");
        assert!(f.describing());
        let spec = f.into_spec();
        let names: Vec<&str> = spec.iter().map(|s| s.name).collect();
        assert_eq!(names, ["id", "name", "colour", "born"]);
        assert!(spec[1].is_required());
        assert_eq!(spec[2].default, Some(json!("red")));
        assert_eq!(spec[1].notes[0].code, "invalid_value");
        assert_eq!(spec[3].notes.len(), 1);
        let schema = crate::domain::spec::object_schema(&spec);
        assert_eq!(schema["required"], json!(["name"]));
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(schema["properties"]["name"]["maxLength"], json!(10));
    }
}
