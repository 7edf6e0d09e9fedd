//! OpenAPI schemas of the shared wire types, for the document `functions/openapi` generates.
//! Compiled only with the `openapi` feature: the schemas describe the types' serde output
//! (a `Timestamp` is an RFC 3339 string, `Money` a decimal string), which derives cannot see
//! through hand-written `Serialize` impls, so they are stated here, beside nothing else.

use crate::domain::{Choice, Currency, Date, Money, Timestamp};
use serde_json::json;
use std::borrow::Cow;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

pub use utoipa;

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        string()
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("An instant in UTC, RFC 3339 with milliseconds (any offset is accepted on input)."))
            .examples([json!("2026-03-02T09:30:00.000Z")])
            .into()
    }
}

impl ToSchema for Timestamp {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Timestamp")
    }
}

impl PartialSchema for Date {
    fn schema() -> RefOr<Schema> {
        string()
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .pattern(Some(crate::domain::DATE_PATTERN))
            .description(Some("A calendar date, `YYYY-MM-DD` (four-digit year, no sign)."))
            .examples([json!("1984-05-17")])
            .into()
    }
}

impl ToSchema for Date {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Date")
    }
}

impl PartialSchema for Money {
    fn schema() -> RefOr<Schema> {
        string()
            .pattern(Some(r"^-?[0-9]{1,10}(\.[0-9]{1,2})?$"))
            .description(Some(
                "An exact decimal amount with at most two decimals, as a string (never a JSON number, \
                 which clients would parse into a binary float). Returned with two decimals.",
            ))
            .examples([json!("120.50")])
            .into()
    }
}

impl ToSchema for Money {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Money")
    }
}

impl PartialSchema for Currency {
    fn schema() -> RefOr<Schema> {
        string()
            .pattern(Some("^[A-Z]{3}$"))
            .description(Some("An active ISO 4217 currency code, upper case."))
            .examples([json!("EUR")])
            .into()
    }
}

impl ToSchema for Currency {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Currency")
    }
}

/// The schema of a `choice_enum!`: its wire values.
pub fn choice<C: Choice>() -> Schema {
    string().enum_values(Some(C::ALL.iter().copied())).into()
}

/// An optional choice that travels as `""` when unset (the seed's blank `CharField` choices).
pub fn blank_choice<C: Choice>() -> Schema {
    string()
        .enum_values(Some(std::iter::once("").chain(C::ALL.iter().copied())))
        .description(Some("One of the values, or \"\" when unset."))
        .into()
}
