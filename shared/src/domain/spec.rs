//! What a body's fields accept, as data: the rules [`Fields`](super::Fields) enforces, recorded
//! by the same calls that enforce them, and rendered as the body's JSON Schema for the OpenAPI
//! document. A validating constructor run in describe mode (`Fields::describe`) yields its
//! body's schema, so what the document allows and what the server accepts cannot drift apart.
//!
//! Where JSON Schema cannot say a rule (a date not in the future, an end after its start, a
//! reference to a live record), the field carries it in `x-rules`: the error `code` the server
//! answers with and the rule in words. The contract check (`infra/contract`) accepts a 422 to a
//! schema-valid request only when every error it names is one of those.
//!
//! The patterns are written for both regex dialects that read them: ECMA-262 (browsers,
//! generated clients) and Python's `re` (the contract check); they avoid `\s`, `\d` and `\w`,
//! whose meanings differ between the two.

use super::money::{Currency, MAX_WHOLE_DIGITS};
use super::{Choice, Window};
use serde_json::{Map, Value, json};

/// Control characters (Unicode `Cc`): refused in every text field, but for line breaks and tabs
/// in free text.
const CONTROL: &str = r"\x00-\x1F\x7F-\x9F";
/// What `str::trim` removes besides control characters (Unicode `White_Space`, `Cc` excluded).
const SPACE: &str = r" \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// One line of text, no control character.
pub fn line_pattern() -> String {
    format!("^[^{CONTROL}]*$")
}

/// One line of text holding at least one character that is not a space.
pub fn required_line_pattern() -> String {
    format!("^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$")
}

/// Free text: line breaks and tabs allowed, no other control character.
pub fn text_pattern() -> String {
    r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$".to_string()
}

/// An e-mail address ([`super::Email::parse`]), or empty.
pub fn email_pattern() -> String {
    let label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    format!(r#"^(?:[^@"{CONTROL}{SPACE}]{{1,64}}@{label}(?:\.{label})+)?$"#)
}

/// A telephone number: digits and `+ - ( ) .` and spaces, at least three digits; or blank.
pub const PHONE_PATTERN: &str = r"^(?: *|[ +().-]*(?:[0-9][ +().-]*){3,})$";

/// A real calendar day of the years [`super::FIRST_YEAR`] to [`super::LAST_YEAR`], leap years
/// included (1900 and 2100 are not, 2000 is): exact, so a generated value is always a day.
const DATE_BODY: &str = concat!(
    "(?:(?:19|2[01])[0-9]{2}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)",
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))",
    "|(?:19(?:0[48]|[2468][048]|[13579][26])|20(?:[02468][048]|[13579][26])|21(?:0[48]|[2468][048]|[13579][26]))-02-29)"
);
/// A time of day with seconds, up to nine decimals, and `Z` or an offset.
const TIME_BODY: &str =
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])";

/// A date the API accepts ([`super::Date::parse`] in the business years).
pub fn date_pattern() -> String {
    format!("^{DATE_BODY}$")
}

/// An RFC 3339 instant the API accepts ([`super::Timestamp::parse_input`]).
pub fn timestamp_pattern() -> String {
    format!("^{DATE_BODY}{TIME_BODY}$")
}

/// A UUID in its hyphenated form (the only one the API writes and reads).
pub const UUID_PATTERN: &str = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// The same, or empty (an optional reference a form left blank).
pub const OPTIONAL_UUID_PATTERN: &str =
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$";

/// A decimal amount with at most two decimals and `whole` digits before the point.
pub fn money_pattern(signed: bool, whole: u8) -> String {
    format!(r"^{}[0-9]{{1,{whole}}}(?:\.[0-9]{{1,2}})?$", if signed { "-?" } else { "" })
}

/// How an amount is written: with or without a sign, and how many digits before the point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoneyRule {
    pub signed: bool,
    pub whole_digits: u8,
}

impl MoneyRule {
    /// Any amount of the model's `DecimalField(max_digits=12, decimal_places=2)`.
    pub const SIGNED: MoneyRule = MoneyRule { signed: true, whole_digits: MAX_WHOLE_DIGITS };
    /// The same, never negative.
    pub const UNSIGNED: MoneyRule = MoneyRule { signed: false, whole_digits: MAX_WHOLE_DIGITS };
}

/// What one field accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// One line (or, `multiline`, free text) of at most `max` characters as sent; surrounding
    /// spaces are removed. `required`: present and not blank.
    Text {
        max: usize,
        multiline: bool,
        required: bool,
    },
    /// Text that must also match a pattern (a label, a code), or be empty unless required.
    Pattern {
        max: usize,
        pattern: &'static str,
        required: bool,
    },
    /// One of `values`; `blank`: `""` means unset; `required`: present (not null).
    Choice {
        values: &'static [&'static str],
        blank: bool,
        required: bool,
    },
    Email,
    Phone {
        max: usize,
    },
    Date {
        window: Window,
    },
    Timestamp {
        required: bool,
    },
    Boolean,
    Money {
        rule: MoneyRule,
        required: bool,
    },
    Currency,
    Uuid {
        required: bool,
    },
    Integer {
        min: i64,
        max: i64,
    },
    /// A finite JSON number of magnitude below `max_magnitude`.
    Number {
        max_magnitude: f64,
        required: bool,
    },
    StringList {
        max_items: usize,
        max_len: usize,
    },
    /// Read-only fields of a record: accepted back and ignored.
    Ignored,
}

/// A rule JSON Schema cannot state, with the error code the server answers when it is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub code: &'static str,
    pub rule: String,
}

/// One field of a body: its rule, default, and the rules beyond the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub rule: Rule,
    pub default: Option<Value>,
    pub notes: Vec<Note>,
}

impl FieldSpec {
    /// The same field, not required (a body whose fields all have defaults elsewhere).
    pub fn optional(mut self) -> Self {
        match &mut self.rule {
            Rule::Text { required, .. }
            | Rule::Pattern { required, .. }
            | Rule::Choice { required, .. }
            | Rule::Timestamp { required }
            | Rule::Money { required, .. }
            | Rule::Uuid { required }
            | Rule::Number { required, .. } => *required = false,
            _ => {}
        }
        self
    }

    pub fn is_required(&self) -> bool {
        match self.rule {
            Rule::Text { required, .. }
            | Rule::Pattern { required, .. }
            | Rule::Choice { required, .. }
            | Rule::Timestamp { required }
            | Rule::Money { required, .. }
            | Rule::Uuid { required }
            | Rule::Number { required, .. } => required,
            _ => false,
        }
    }

    /// The field's JSON Schema.
    pub fn schema(&self) -> Value {
        let nullable = !self.is_required();
        let string_type = || if nullable { json!(["string", "null"]) } else { json!("string") };
        let mut schema = match &self.rule {
            Rule::Text { max, multiline, required } => {
                let pattern = match (multiline, required) {
                    (true, _) => text_pattern(),
                    (false, true) => required_line_pattern(),
                    (false, false) => line_pattern(),
                };
                let mut s = json!({ "type": string_type(), "maxLength": max, "pattern": pattern });
                if *required {
                    s["minLength"] = json!(1);
                }
                describe(&mut s, &format!("At most {max} characters; surrounding spaces are removed."));
                s
            }
            Rule::Pattern { max, pattern, .. } => {
                json!({ "type": string_type(), "maxLength": max, "pattern": pattern })
            }
            Rule::Choice { values, blank, required } => {
                let mut all: Vec<Value> = values.iter().map(|v| json!(v)).collect();
                if *blank {
                    all.push(json!(""));
                }
                if !required {
                    all.push(Value::Null);
                }
                json!({ "enum": all })
            }
            Rule::Email => json!({
                "type": ["string", "null"], "maxLength": 254, "pattern": email_pattern(),
                "description": "An e-mail address (its domain in ASCII: an international domain in its xn-- form), or empty.",
            }),
            Rule::Phone { max } => json!({
                "type": ["string", "null"], "maxLength": max, "pattern": PHONE_PATTERN,
                "description": "A telephone number: digits, spaces and + - ( ) ., at least three digits; or empty.",
            }),
            Rule::Date { window } => json!({
                "anyOf": [
                    { "type": "string", "format": "date", "pattern": date_pattern() },
                    { "type": "string", "const": "" },
                    { "type": "null" },
                ],
                "description": format!("{} `YYYY-MM-DD`; `\"\"` or null when unset.", window.describe()),
            }),
            Rule::Timestamp { required } => {
                let instant = json!({ "type": "string", "format": "date-time", "pattern": timestamp_pattern() });
                let mut s = if *required {
                    instant
                } else {
                    json!({ "anyOf": [instant, { "type": "string", "const": "" }, { "type": "null" }] })
                };
                describe(
                    &mut s,
                    &format!(
                        "An RFC 3339 instant with an offset (`2026-03-02T09:30:00+01:00`), in the years {} to {}; \
                         returned in UTC.{}",
                        super::FIRST_YEAR,
                        super::LAST_YEAR,
                        if *required { "" } else { " `\"\"` or null when unset." }
                    ),
                );
                s
            }
            Rule::Boolean => json!({ "type": ["boolean", "null"] }),
            Rule::Money { rule, .. } => json!({
                "type": string_type(),
                "pattern": money_pattern(rule.signed, rule.whole_digits),
                "description": "An exact decimal amount as a string, at most two decimals (never a JSON number).",
            }),
            Rule::Currency => json!({
                "enum": Currency::codes().map(Value::from).chain([Value::Null]).collect::<Vec<_>>(),
                "description": "An active ISO 4217 code in capitals.",
            }),
            Rule::Uuid { required: true } => json!({ "type": "string", "format": "uuid", "pattern": UUID_PATTERN }),
            Rule::Uuid { required: false } => json!({
                "type": ["string", "null"], "pattern": OPTIONAL_UUID_PATTERN,
                "description": "A UUID; `\"\"` or null when unset.",
            }),
            Rule::Integer { min, max } => json!({ "type": ["integer", "null"], "minimum": min, "maximum": max }),
            Rule::Number { max_magnitude, .. } => json!({
                "type": if nullable { json!(["number", "null"]) } else { json!("number") },
                "exclusiveMinimum": -max_magnitude, "exclusiveMaximum": max_magnitude,
                "description": "A finite number; magnitudes below 1e-130 are stored as 0 (DynamoDB's smallest).",
            }),
            Rule::StringList { max_items, max_len } => json!({
                "type": ["array", "null"], "maxItems": max_items,
                "items": { "type": "string", "maxLength": max_len, "pattern": line_pattern() },
                "description": "Blank items are dropped and repeats kept once.",
            }),
            Rule::Ignored => {
                json!({ "readOnly": true, "description": "Set by the server: accepted back and ignored." })
            }
        };
        if let Some(default) = &self.default {
            schema["default"] = default.clone();
        }
        if !self.notes.is_empty() {
            let rules: Vec<Value> = self.notes.iter().map(|n| json!({ "code": n.code, "rule": n.rule })).collect();
            let words: Vec<&str> = self.notes.iter().map(|n| n.rule.as_str()).collect();
            describe(&mut schema, &words.join(" "));
            schema["x-rules"] = Value::Array(rules);
        }
        schema
    }
}

fn describe(schema: &mut Value, more: &str) {
    let text = match schema.get("description").and_then(Value::as_str) {
        Some(existing) => format!("{existing} {more}"),
        None => more.to_string(),
    };
    schema["description"] = Value::String(text);
}

/// The JSON Schema of a body made of `fields`: every field a property, the required ones
/// listed, any other member refused.
pub fn object_schema(fields: &[FieldSpec]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields {
        properties.insert(field.name.to_string(), field.schema());
        if field.is_required() {
            required.push(json!(field.name));
        }
    }
    json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
}

/// A choice's values, for [`Rule::Choice`].
pub fn values<C: Choice>() -> &'static [&'static str] {
    C::ALL
}
