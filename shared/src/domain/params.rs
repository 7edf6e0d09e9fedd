//! Query parameters, read as strictly as bodies: each reader takes a value exactly as its
//! schema in the OpenAPI document says ([`schema`] below gives that schema), or answers
//! `400 INVALID_PARAMETER` naming the parameter. The contract tests check each list's
//! parameters against these schemas.

use super::spec::{UUID_PATTERN, date_pattern, line_pattern, required_line_pattern, timestamp_pattern};
use super::{Choice, Date, FIRST_YEAR, LAST_YEAR, Timestamp, parse_uuid};
use crate::error::{AppError, AppResult};
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

pub type Query = HashMap<String, String>;

/// One of a choice's values, exactly.
pub fn choice<C: Choice>(query: &Query, name: &str) -> AppResult<Option<C>> {
    query
        .get(name)
        .map(|raw| {
            C::parse(raw).ok_or_else(|| AppError::invalid_param(name, format!("must be one of: {}", C::ALL.join(", "))))
        })
        .transpose()
}

/// A hyphenated UUID.
pub fn uuid(query: &Query, name: &str) -> AppResult<Option<Uuid>> {
    query
        .get(name)
        .map(|raw| parse_uuid(raw).ok_or_else(|| AppError::invalid_param(name, "must be a UUID")))
        .transpose()
}

/// An RFC 3339 instant with an offset ([`Timestamp::parse_input`]).
pub fn instant(query: &Query, name: &str) -> AppResult<Option<Timestamp>> {
    query
        .get(name)
        .map(|raw| {
            Timestamp::parse_input(raw).ok_or_else(|| {
                AppError::invalid_param(
                    name,
                    "must be an RFC 3339 date-time with offset in the years 1900 to 2199, e.g. 2026-01-01T00:00:00Z",
                )
            })
        })
        .transpose()
}

/// A date `YYYY-MM-DD` in the business years.
pub fn date(query: &Query, name: &str) -> AppResult<Option<Date>> {
    query.get(name).map(|raw| parse_date(raw).ok_or_else(|| invalid_date(name))).transpose()
}

/// An instant, or a date meaning its midnight UTC.
pub fn instant_or_date(query: &Query, name: &str) -> AppResult<Option<Timestamp>> {
    query
        .get(name)
        .map(|raw| {
            Timestamp::parse_input(raw)
                .or_else(|| {
                    parse_date(raw)
                        .map(|d| Timestamp::from_datetime(d.as_naive().and_time(chrono::NaiveTime::MIN).and_utc()))
                })
                .ok_or_else(|| AppError::invalid_param(name, "must be a date (YYYY-MM-DD) or an RFC 3339 date-time"))
        })
        .transpose()
}

fn parse_date(raw: &str) -> Option<Date> {
    Date::parse(raw).filter(|d| (FIRST_YEAR..=LAST_YEAR).contains(&d.year()))
}

fn invalid_date(name: &str) -> AppError {
    AppError::invalid_param(name, format!("must be a date written YYYY-MM-DD in the years {FIRST_YEAR} to {LAST_YEAR}"))
}

/// One line of 1 to `max` characters as sent, not blank, no control character; trimmed.
pub fn text(query: &Query, name: &str, max: usize) -> AppResult<Option<String>> {
    query
        .get(name)
        .map(|raw| {
            let trimmed = raw.trim();
            if raw.chars().count() > max || trimmed.is_empty() || raw.chars().any(char::is_control) {
                Err(AppError::invalid_param(name, format!("must be 1 to {max} characters, not blank")))
            } else {
                Ok(trimmed.to_string())
            }
        })
        .transpose()
}

/// The schemas of these readers, for the OpenAPI document.
pub mod schema {
    use super::*;

    pub fn choice<C: Choice>() -> Value {
        json!({ "type": "string", "enum": C::ALL })
    }

    pub fn uuid() -> Value {
        json!({ "type": "string", "format": "uuid", "pattern": UUID_PATTERN })
    }

    pub fn instant() -> Value {
        json!({ "type": "string", "format": "date-time", "pattern": timestamp_pattern() })
    }

    pub fn date() -> Value {
        json!({ "type": "string", "format": "date", "pattern": date_pattern() })
    }

    pub fn instant_or_date() -> Value {
        json!({ "anyOf": [instant(), date()] })
    }

    pub fn text(max: usize) -> Value {
        json!({ "type": "string", "minLength": 1, "maxLength": max, "pattern": required_line_pattern() })
    }

    /// Any one line (a search term, whose own rule is in `x-rules`).
    pub fn line(max: usize) -> Value {
        json!({ "type": "string", "maxLength": max, "pattern": line_pattern() })
    }
}
