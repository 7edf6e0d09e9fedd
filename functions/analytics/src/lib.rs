//! Analytics: the seed's analytics records (a named number an organization keeps, CRUD through
//! the generic operations), and the organization's summary (`GET /api/analytics/summary`).
//!
//! The summary is never computed from the records at request time: it reads a handful of
//! counter items that the `analytics-stream` function keeps up to date from the business
//! table's stream, so its cost does not grow with the organization.
//!
//! - [`counters`]: the pure part: what one record contributes to the counters.
//! - [`table`]: the analytics table: counter items, and each record's applied contribution,
//!   written together in one transaction (exactly once, see its doc).
//! - [`stream`]: the `analytics-stream` function.
//! - [`rebuild`]: recomputes an organization's counters from its records (repair, tests).
//! - [`summary`]: the summary endpoint, JSON or CSV.

use hub_shared::auth::Tenant;
use hub_shared::domain::Fields;
use hub_shared::error::AppResult;
use hub_shared::store::{Entity, IndexEntry, ListSpec, Meta};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub mod counters;
pub mod rebuild;
pub mod stream;
pub mod summary;
pub mod table;

pub use rebuild::{RebuildReport, rebuild_all, rebuild_org};
pub use summary::summary;
pub use table::AnalyticsTable;

/// The longest `metric_name`, as the seed's `CharField(max_length=100)`.
pub const MAX_METRIC_NAME: usize = 100;
/// DynamoDB numbers hold magnitudes up to 10^126 and down to 10^-130; a larger value could be
/// validated but not stored, so it is refused up front (a smaller one is stored as 0).
const MAX_MAGNITUDE: f64 = 1e125;

/// The seed's `AnalyticsRecord`: a named measurement. Not personal data: a metric's name and
/// value describe the practice, not a person (`shared/src/audit/fields.rs` lists both as clear).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsRecord {
    pub metric_name: String,
    /// The seed's `FloatField`: a JSON number, finite.
    pub metric_value: f64,
}

impl Entity for AnalyticsRecord {
    const KIND: &'static str = "ANALYTICS_RECORD";
    const NAME: &'static str = "analytics record";
    const PATH: &'static str = "/api/analytics/records";
    const FILTERS: &'static [&'static str] = &["metric_name"];

    fn read(f: &mut Fields<'_>) -> Self {
        f.ignore(Meta::FIELDS);
        let metric_name = f.required_text("metric_name", MAX_METRIC_NAME);
        let metric_value = f.required_number("metric_value", MAX_MAGNITUDE);
        Self { metric_name, metric_value }
    }

    /// About no one: nothing to erase.
    fn anonymized(&self) -> Self {
        Self { metric_name: self.metric_name.clone(), metric_value: self.metric_value }
    }

    /// `ALL` and `NAME#<metric_name>`, newest first: a metric's series is one Query.
    fn index_entries(&self, meta: &Meta) -> Vec<IndexEntry> {
        let created = meta.created_at.to_key();
        vec![IndexEntry::new("ALL", created.clone()), IndexEntry::new(format!("NAME#{}", self.metric_name), created)]
    }

    fn list_spec(params: &HashMap<String, String>, _tenant: &Tenant) -> AppResult<ListSpec<Self>> {
        Ok(match hub_shared::domain::params::text(params, "metric_name", MAX_METRIC_NAME)? {
            None => ListSpec::all("ALL", true),
            Some(name) => ListSpec::all(format!("NAME#{name}"), true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value, json};

    fn parse(body: Value) -> AppResult<AnalyticsRecord> {
        AnalyticsRecord::from_json(body.as_object().unwrap_or(&Map::new()))
    }

    #[test]
    fn a_named_finite_number_is_a_record() {
        let record = parse(json!({"metric_name": " visits ", "metric_value": 12.5, "id": "ignored"}));
        assert_eq!(record.ok(), Some(AnalyticsRecord { metric_name: "visits".into(), metric_value: 12.5 }));
    }

    #[test]
    fn magnitudes_too_small_to_store_become_zero() {
        let record = parse(json!({"metric_name": "x", "metric_value": 1e-200}));
        assert_eq!(record.ok().map(|r| r.metric_value), Some(0.0));
    }

    #[test]
    fn missing_wrong_typed_and_unstorable_values_are_refused_together() {
        let err = parse(json!({"metric_value": "12"})).err().map(|e| e.field_errors().to_vec()).unwrap_or_default();
        let fields: Vec<(&str, &str)> = err.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(fields, [("metric_name", "required"), ("metric_value", "invalid_type")]);
        for value in [json!(1e200), json!(-1e125), json!(null)] {
            assert!(parse(json!({"metric_name": "x", "metric_value": value})).is_err(), "{value}");
        }
        let long = "x".repeat(MAX_METRIC_NAME + 1);
        assert!(parse(json!({"metric_name": long, "metric_value": 1})).is_err());
        assert!(parse(json!({"metric_name": "x", "metric_value": 1, "extra": 1})).is_err());
    }
}
