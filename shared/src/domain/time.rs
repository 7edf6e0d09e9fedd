use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant, always UTC, always written as RFC 3339 with milliseconds and `Z`
/// (`2026-11-24T08:19:58.827Z`). The fixed width makes it sort correctly as a string, which the
/// list indexes rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Now, truncated to the millisecond so what is stored equals what is returned.
    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
    }

    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        let millis = at.timestamp_millis();
        Self(DateTime::from_timestamp_millis(millis).unwrap_or(at))
    }

    /// Any RFC 3339 instant chrono reads: for values the API wrote itself (storage, cursors).
    pub fn parse(raw: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(raw.trim()).ok().map(|d| Self::from_datetime(d.with_timezone(&Utc)))
    }

    /// An instant as a client may write it: exactly [`timestamp_pattern`](super::spec::timestamp_pattern) (uppercase `T` and
    /// `Z`, seconds, at most nine decimals, an offset, a year from 1900 to 2199, nothing around
    /// it) naming a real moment. chrono alone would also take a space for `T`, a lowercase `z`,
    /// a leap second and any year.
    pub fn parse_input(raw: &str) -> Option<Self> {
        is_strict_rfc3339(raw.as_bytes()).then(|| Self::parse(raw)).flatten()
    }

    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    pub fn to_key(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

/// [`timestamp_pattern`](super::spec::timestamp_pattern), by hand (no regex engine in the functions).
fn is_strict_rfc3339(b: &[u8]) -> bool {
    let num = |at: usize, len: usize| -> Option<u32> {
        let digits = b.get(at..at + len)?;
        digits.iter().all(u8::is_ascii_digit).then(|| digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let date_time_ok = num(0, 4).is_some_and(|y| (1900..=2199).contains(&y))
        && at(4, b'-')
        && num(5, 2).is_some_and(|m| (1..=12).contains(&m))
        && at(7, b'-')
        && num(8, 2).is_some_and(|d| (1..=31).contains(&d))
        && at(10, b'T')
        && num(11, 2).is_some_and(|h| h <= 23)
        && at(13, b':')
        && num(14, 2).is_some_and(|m| m <= 59)
        && at(16, b':')
        && num(17, 2).is_some_and(|s| s <= 59);
    if !date_time_ok {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return false;
        }
        i += 1 + digits;
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len()
                && num(i + 1, 2).is_some_and(|h| h <= 23)
                && at(i + 3, b':')
                && num(i + 4, 2).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_key())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_key())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&raw).ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_converted_to_utc_with_millisecond_precision() {
        let t = Timestamp::parse("2025-01-01T10:00:00.123456+01:00").unwrap();
        assert_eq!(t.to_key(), "2025-01-01T09:00:00.123Z");
    }

    #[test]
    fn input_instants_are_exactly_rfc_3339_with_an_offset_in_the_business_years() {
        for ok in [
            "2025-01-01T09:00:00Z",
            "2025-01-01T09:00:00.123456789+01:00",
            "1900-01-01T00:00:00-00:00",
            "2199-12-31T23:59:59Z",
        ] {
            assert!(Timestamp::parse_input(ok).is_some(), "{ok}");
        }
        for bad in [
            "2025-01-01 09:00:00Z",
            "2025-01-01t09:00:00z",
            "2025-01-01T09:00Z",
            "2025-01-01T09:00:60Z",
            "2025-01-01T09:00:00",
            "2025-01-01T09:00:00.Z",
            "2025-01-01T09:00:00.1234567890Z",
            "1899-12-31T23:59:59Z",
            "2200-01-01T00:00:00Z",
            "2025-02-30T09:00:00Z",
            " 2025-01-01T09:00:00Z",
            "2025-01-01T09:00:00+1:00",
            "+2025-01-01T09:00:00Z",
        ] {
            assert!(Timestamp::parse_input(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn keys_sort_in_time_order() {
        let a = Timestamp::parse("2025-01-01T09:00:00Z").unwrap().to_key();
        let b = Timestamp::parse("2025-01-01T09:00:00.5Z").unwrap().to_key();
        assert!(a < b);
    }
}
