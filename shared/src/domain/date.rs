//! `Date`: the one calendar-date type of the API, and the windows each date field accepts.
//!
//! chrono's `%Y-%m-%d` parser takes any number of year digits and a sign: `"24-01-01"` was the
//! year 24 and `"+2024-1-1"` a valid date, so a typo in a retention date could make the next
//! retention run erase a patient. A date here is exactly `YYYY-MM-DD`, ten ASCII characters,
//! four-digit year, no sign and no surrounding space; and each field states the window of days
//! that makes sense for it ([`Window`]), checked where the field is read.

use crate::error::{AppError, AppResult};
use chrono::{Datelike, Months, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A calendar date written `YYYY-MM-DD` (year 0000 to 9999, so every stored date has the same
/// width and sorts as a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(NaiveDate);

/// The JSON Schema `pattern` of [`Date::parse`]'s syntax (the calendar check is `format: date`).
pub const DATE_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$";

impl Date {
    /// Exactly `YYYY-MM-DD` naming a real day; anything else (`24-01-01`, `2024-1-1`,
    /// `+2024-01-01`, `2024-02-30`, surrounding spaces) is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let b = raw.as_bytes();
        let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) || !digits(8..10) {
            return None;
        }
        let number = |range: std::ops::Range<usize>| raw[range].parse::<u32>().ok();
        let year = i32::try_from(number(0..4)?).ok()?;
        NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?).map(Self)
    }

    pub fn from_naive(date: NaiveDate) -> Self {
        Self(date)
    }

    pub fn as_naive(&self) -> NaiveDate {
        self.0
    }

    /// Today in UTC, the day every window is measured from.
    pub fn today() -> Self {
        Self(Utc::now().date_naive())
    }

    pub fn ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, day).map(Self)
    }

    pub fn year(&self) -> i32 {
        self.0.year()
    }

    /// This date `years` later (29 February becomes 28 February when needed).
    pub fn plus_years(&self, years: u32) -> Self {
        Self(self.0.checked_add_months(Months::new(years.saturating_mul(12))).unwrap_or(NaiveDate::MAX))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.0.year(), self.0.month(), self.0.day())
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&raw).ok_or_else(|| serde::de::Error::custom("expected a date written YYYY-MM-DD"))
    }
}

/// The first year any date or instant of the API may fall in, and the last: no practice
/// records a birth, an invoice or a visit outside them, and inside them every stored date and
/// instant has the same width, which the sort keys rely on.
pub const FIRST_YEAR: i32 = 1900;
pub const LAST_YEAR: i32 = 2199;

/// The longest retention a date may set: records kept longer than a century are a typo.
pub const MAX_RETENTION_YEARS: u32 = 100;

/// Which days a date field accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// A date in the business years [`FIRST_YEAR`] to [`LAST_YEAR`] (follow-ups, billing
    /// periods, due dates).
    Business,
    /// A date of birth: from 1900-01-01 to today.
    Birth,
    /// A retention date: at most [`MAX_RETENTION_YEARS`] from today; when it is set or changed
    /// it must also not be before today (checked by the entity, which knows the previous
    /// value): a date already past would have the next retention run erase the record.
    Retention,
}

impl Window {
    /// The first and last day accepted, as of `today`.
    pub fn bounds(self, today: Date) -> (Date, Date) {
        let first = Date(NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).unwrap_or(NaiveDate::MIN));
        let last = Date(NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31).unwrap_or(NaiveDate::MAX));
        match self {
            Self::Business => (first, last),
            Self::Birth => (first, today),
            Self::Retention => (first, today.plus_years(MAX_RETENTION_YEARS).min(last)),
        }
    }

    /// The problem with `date` in this window as of `today`, as a field error message.
    pub fn check(self, date: Date, today: Date) -> Result<(), String> {
        let (first, last) = self.bounds(today);
        match self {
            Self::Birth if date > today => Err("must not be in the future".into()),
            Self::Retention if date > last => {
                Err(format!("must be at most {MAX_RETENTION_YEARS} years from today (until {last})"))
            }
            _ if date < first || date > last => Err(format!("must be from {first} to {last}")),
            _ => Ok(()),
        }
    }

    /// What the OpenAPI document says of the window (JSON Schema cannot compare dates).
    pub fn describe(self) -> String {
        match self {
            Self::Business => format!("A date from {FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31."),
            Self::Birth => format!("A date from {FIRST_YEAR}-01-01 to today (not in the future)."),
            Self::Retention => format!(
                "A date at most {MAX_RETENTION_YEARS} years from today; when set or changed, not before today \
                 (a past date would have the next retention run erase the record)."
            ),
        }
    }
}

/// A retention date that is set or changed must not be before today: the next retention run
/// would erase the record, so a typo in it must never get that far. A date left as it was may
/// have passed since (retention then acts on it).
pub fn check_retention_change(field: &'static str, new: Option<Date>, previous: Option<Date>) -> AppResult<()> {
    match new {
        Some(date) if Some(date) != previous && date < Date::today() => Err(AppError::field(
            field,
            "invalid_value",
            "must not be before today when set or changed (a past date would have the next retention run erase the record)",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_ten_character_dates_with_a_four_digit_year_parse() {
        for ok in ["2024-01-01", "1900-01-01", "0024-01-01", "2024-02-29", "9999-12-31"] {
            assert_eq!(Date::parse(ok).map(|d| d.to_string()).as_deref(), Some(ok), "{ok}");
        }
        for bad in [
            "24-01-01",
            "0-01-01",
            "2024-1-1",
            "+2024-01-01",
            "-2024-01-01",
            "02024-01-01",
            " 2024-01-01",
            "2024-01-01 ",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024/01/01",
            "2024-01-01T00:00:00Z",
            "２０２４-01-01",
            "",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_round_trip_through_serde_in_the_strict_form() {
        let date = Date::parse("1984-05-17").unwrap();
        assert_eq!(serde_json::to_string(&date).unwrap(), "\"1984-05-17\"");
        assert_eq!(serde_json::from_str::<Date>("\"1984-05-17\"").unwrap(), date);
        assert!(serde_json::from_str::<Date>("\"84-05-17\"").is_err());
    }

    #[test]
    fn windows_refuse_what_no_record_can_mean() {
        let today = Date::parse("2026-12-06").unwrap();
        let d = |raw| Date::parse(raw).unwrap();
        assert!(Window::Birth.check(d("1984-05-17"), today).is_ok());
        assert!(Window::Birth.check(today, today).is_ok());
        assert!(Window::Birth.check(d("2026-12-07"), today).is_err());
        assert!(Window::Birth.check(d("1899-12-31"), today).is_err());
        assert!(Window::Business.check(d("2199-12-31"), today).is_ok());
        assert!(Window::Business.check(d("2200-01-01"), today).is_err());
        assert!(Window::Business.check(d("0024-01-01"), today).is_err());
        assert!(Window::Retention.check(d("2126-12-06"), today).is_ok());
        assert!(Window::Retention.check(d("2126-12-07"), today).is_err());
        assert!(Window::Retention.check(d("0024-01-01"), today).is_err());
    }

    #[test]
    fn the_pattern_matches_what_parse_accepts_syntactically() {
        // The pattern leaves the calendar to `format: date`; its syntax is parse's.
        assert_eq!(DATE_PATTERN, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$");
        assert!(Date::parse("2024-02-30").is_none());
    }
}
