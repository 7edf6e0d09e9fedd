//! Money: exact decimal amounts with two decimals, and ISO 4217 currency codes.
//!
//! An amount is held as an integer number of hundredths, so sums are exact (`"0.10" + "0.20"`
//! is `"0.30"`). It travels as a JSON string (`"120.50"`): a JSON number would be parsed into a
//! binary float by most clients and by serde_json, which is exactly the loss this type exists
//! to prevent. It is stored in DynamoDB as the same string.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The seed's `DecimalField(max_digits=12, decimal_places=2)`: at most 10 digits before the point.
const MAX_HUNDREDTHS: i64 = 999_999_999_999;
/// Digits before the point of the widest amount.
pub const MAX_WHOLE_DIGITS: u8 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    /// `"120.50"`, `"120.5"`, `"120"`, `"-3.00"`: at most two decimals and 12 digits in all.
    /// No exponent, no thousands separator, no leading `+`.
    pub fn parse(raw: &str) -> Option<Self> {
        let (negative, digits) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 10 || fraction.len() > 2 || !all_digits(whole) || !all_digits(fraction) {
            return None;
        }
        if digits.contains('.') && fraction.is_empty() {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let cents: i64 = match fraction.len() {
            0 => 0,
            1 => fraction.parse::<i64>().ok()? * 10,
            _ => fraction.parse().ok()?,
        };
        let value = whole.checked_mul(100)?.checked_add(cents)?;
        (value <= MAX_HUNDREDTHS).then_some(Self(if negative { -value } else { value }))
    }

    pub fn from_hundredths(hundredths: i64) -> Option<Self> {
        (hundredths.abs() <= MAX_HUNDREDTHS).then_some(Self(hundredths))
    }

    pub fn hundredths(self) -> i64 {
        self.0
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn abs(self) -> Self {
        Self(self.0.abs())
    }

    /// `None` past the field's range; sums of many amounts (analytics) use `Total`.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        Self::from_hundredths(self.0.checked_add(other.0)?)
    }

    pub fn checked_sub(self, other: Self) -> Option<Self> {
        Self::from_hundredths(self.0.checked_sub(other.0)?)
    }

    pub fn negated(self) -> Self {
        Self(-self.0)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Money::parse(&raw).ok_or_else(|| serde::de::Error::custom("not a decimal amount with two decimals"))
    }
}

/// An exact sum of any number of amounts (an organization's revenue), beyond one field's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Total(i128);

impl Total {
    pub fn add(&mut self, amount: Money) {
        self.0 += i128::from(amount.0);
    }

    pub fn hundredths(self) -> i128 {
        self.0
    }
}

impl fmt::Display for Total {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl Serialize for Total {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An ISO 4217 currency code in use (`EUR`, `USD`, `CHF`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

/// Active ISO 4217 codes (list one of the standard, 2024), funds and precious metals excluded.
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN \
BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD \
GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR \
LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP \
PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP \
TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";

impl Currency {
    pub const EUR: Currency = Currency(*b"EUR");

    /// Every code [`Currency::parse`] accepts.
    pub fn codes() -> impl Iterator<Item = &'static str> {
        ISO_4217.split_ascii_whitespace()
    }

    /// An upper-case active code; `eur` is refused rather than guessed.
    pub fn parse(raw: &str) -> Option<Self> {
        let bytes: [u8; 3] = raw.as_bytes().try_into().ok()?;
        (bytes.iter().all(u8::is_ascii_uppercase) && ISO_4217.split_ascii_whitespace().any(|c| c == raw))
            .then_some(Self(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters ever get in.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Currency::parse(&raw).ok_or_else(|| serde::de::Error::custom("not an ISO 4217 currency code"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_to_exact_hundredths_and_print_with_two_decimals() {
        for (raw, printed) in
            [("120.50", "120.50"), ("120.5", "120.50"), ("120", "120.00"), ("0.01", "0.01"), ("-3", "-3.00")]
        {
            assert_eq!(Money::parse(raw).map(|m| m.to_string()).as_deref(), Some(printed), "{raw}");
        }
        assert_eq!(Money::parse("9999999999.99").map(Money::hundredths), Some(MAX_HUNDREDTHS));
    }

    #[test]
    fn malformed_or_out_of_range_amounts_are_refused() {
        for raw in ["", "-", ".5", "1.", "1.234", "1e3", "+1", "1,00", " 1", "NaN", "10000000000.00", "١٢"] {
            assert_eq!(Money::parse(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn sums_are_exact() {
        let (a, b) = (Money::parse("0.10"), Money::parse("0.20"));
        let sum = a.zip(b).and_then(|(a, b)| a.checked_add(b));
        assert_eq!(sum.map(|m| m.to_string()).as_deref(), Some("0.30"));
        let mut total = Total::default();
        for _ in 0..1000 {
            total.add(Money::parse("0.10").unwrap_or_default());
        }
        assert_eq!(total.to_string(), "100.00");
    }

    #[test]
    fn money_round_trips_through_json_as_a_string() {
        let m = Money::parse("-0.05").unwrap_or_default();
        let json = serde_json::to_string(&m).unwrap_or_default();
        assert_eq!(json, "\"-0.05\"");
        assert_eq!(serde_json::from_str::<Money>(&json).ok(), Some(m));
        assert!(serde_json::from_str::<Money>("0.05").is_err(), "a JSON number is not accepted");
    }

    #[test]
    fn currencies_are_active_upper_case_iso_codes() {
        assert_eq!(Currency::parse("EUR"), Some(Currency::EUR));
        assert!(Currency::parse("CHF").is_some());
        for raw in ["eur", "EURO", "XYZ", "XAU", "", "€"] {
            assert_eq!(Currency::parse(raw), None, "{raw:?}");
        }
    }
}
