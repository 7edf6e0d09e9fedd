//! What one record contributes to its organization's counters: a pure function of the record's
//! stored image, so the stream consumer and the rebuild compute exactly the same thing.
//!
//! Every counter is a sum over the organization's live records of their contributions, so a
//! change of a record moves the counters by `contribution(new) - contribution(old)`, and
//! contributions of soft-deleted or purged records are empty. Money is counted in integer
//! hundredths (exact; printed back as decimal strings), never as floats.
//!
//! Counter cells are (item, attribute) pairs of the analytics table (DATA-DESIGN.md):
//!
//! | item (`sk`) | attributes |
//! |---|---|
//! | `TOTALS` | `contacts`, `contacts#type#<t>`, `contacts#consent#given`/`not_given`, `appointments`, `appointments#status#<s>`, `documents`, `documents#type#<t>`, `documents#pending_approval`, `documents#storage_bytes` |
//! | `PENDING` | `amount#<CUR>#<due YYYY-MM or none>` (hundredths), `count#<CUR>#<due YYYY-MM or none>` |
//! | `MONTH#<YYYY-MM>` | `appointments#<DD>`, `appointments#<DD>#<status>` (by start day, UTC); `payments#<CUR>`, `refunds#<CUR>` (hundredths, by payment month); `pending#<CUR>#<DD>`, `pending_count#<CUR>#<DD>` (by due day) |

use chrono::{Datelike, NaiveDate};
use hub_appointments::Status as AppointmentStatus;
use hub_contacts::ContactType;
use hub_documents::{DocumentType, UploadStatus};
use hub_shared::domain::{Choice, Currency, Money, Timestamp};
use hub_transactions::{Status as TransactionStatus, TransactionType};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub const TOTALS: &str = "TOTALS";
pub const PENDING: &str = "PENDING";

/// The sort key of a month's item: `MONTH#2025-03`.
pub fn month_item(month: &str) -> String {
    format!("MONTH#{month}")
}

pub fn month_of(date: NaiveDate) -> String {
    format!("{:04}-{:02}", date.year(), date.month())
}

fn day_of(date: NaiveDate) -> String {
    format!("{:02}", date.day())
}

/// The kinds of record that are counted; any other kind (analytics records themselves, a new
/// entity) contributes nothing.
pub const COUNTED_KINDS: &[&str] = &["CONTACT", "APPOINTMENT", "TRANSACTION", "DOCUMENT"];

/// One counter: the analytics item's sort key and the attribute in it.
pub type Cell = (String, String);

/// A record's contribution, or a difference of two: cell -> amount. Zero entries are never kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contribution(BTreeMap<Cell, i64>);

impl Contribution {
    pub fn add(&mut self, item: impl Into<String>, attribute: impl Into<String>, amount: i64) {
        let cell = (item.into(), attribute.into());
        let entry = self.0.entry(cell.clone()).or_insert(0);
        *entry += amount;
        if *entry == 0 {
            self.0.remove(&cell);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn cells(&self) -> impl Iterator<Item = (&Cell, i64)> {
        self.0.iter().map(|(c, v)| (c, *v))
    }

    pub fn get(&self, item: &str, attribute: &str) -> i64 {
        self.0.get(&(item.to_string(), attribute.to_string())).copied().unwrap_or(0)
    }

    /// `self - other`: what moves the counters from `other` to `self`.
    pub fn minus(&self, other: &Contribution) -> Contribution {
        let mut out = self.clone();
        for (cell, amount) in &other.0 {
            out.add(cell.0.clone(), cell.1.clone(), -amount);
        }
        out
    }

    pub fn plus(&mut self, other: &Contribution) {
        for (cell, amount) in &other.0 {
            self.add(cell.0.clone(), cell.1.clone(), *amount);
        }
    }

    /// The items it touches, each with its attributes.
    pub fn by_item(&self) -> BTreeMap<&str, Vec<(&str, i64)>> {
        let mut out: BTreeMap<&str, Vec<(&str, i64)>> = BTreeMap::new();
        for ((item, attribute), amount) in &self.0 {
            out.entry(item.as_str()).or_default().push((attribute.as_str(), *amount));
        }
        out
    }

    /// As stored in a record's applied state: `{"<item>|<attribute>": amount}` (`|` occurs in no
    /// item key or attribute name).
    pub fn to_map(&self) -> BTreeMap<String, i64> {
        self.0.iter().map(|((item, attribute), v)| (format!("{item}|{attribute}"), *v)).collect()
    }

    pub fn from_map(map: impl IntoIterator<Item = (String, i64)>) -> Self {
        let mut out = Self::default();
        for (key, amount) in map {
            if let Some((item, attribute)) = key.split_once('|') {
                out.add(item, attribute, amount);
            }
        }
        out
    }
}

/// A record image that cannot be read as its kind says: the stream consumer stops on it (and
/// Lambda retries, then parks it in the dead-letter queue) rather than miscount.
#[derive(Debug)]
pub struct Unreadable(pub String);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unreadable record image: {}", self.0)
    }
}

impl std::error::Error for Unreadable {}

#[derive(Deserialize)]
struct ContactFacts {
    contact_type: ContactType,
    consent_given: bool,
}

#[derive(Deserialize)]
struct AppointmentFacts {
    status: AppointmentStatus,
    start_datetime: Timestamp,
}

#[derive(Deserialize)]
struct TransactionFacts {
    transaction_type: TransactionType,
    status: TransactionStatus,
    amount: Money,
    currency: Currency,
    payment_date: Option<Timestamp>,
    due_date: Option<NaiveDate>,
    created_at: Timestamp,
}

#[derive(Deserialize)]
struct DocumentFacts {
    document_type: DocumentType,
    upload_status: UploadStatus,
    requires_approval: bool,
    approved: bool,
    file_size_bytes: u64,
}

fn facts<T: DeserializeOwned>(kind: &str, image: &Map<String, Value>) -> Result<T, Unreadable> {
    T::deserialize(Value::Object(image.clone())).map_err(|e| Unreadable(format!("{kind}: {e}")))
}

/// The contribution of one stored record (`kind` is its `KIND`): empty for a deleted record and
/// for kinds that are not counted.
pub fn contribution(kind: &str, image: &Map<String, Value>) -> Result<Contribution, Unreadable> {
    let mut c = Contribution::default();
    if image.get("is_deleted").and_then(Value::as_bool).unwrap_or(false) {
        return Ok(c);
    }
    match kind {
        "CONTACT" => {
            let f: ContactFacts = facts(kind, image)?;
            c.add(TOTALS, "contacts", 1);
            c.add(TOTALS, format!("contacts#type#{}", f.contact_type.as_str()), 1);
            let consent = if f.consent_given { "given" } else { "not_given" };
            c.add(TOTALS, format!("contacts#consent#{consent}"), 1);
        }
        "APPOINTMENT" => {
            let f: AppointmentFacts = facts(kind, image)?;
            let status = f.status.as_str();
            c.add(TOTALS, "appointments", 1);
            c.add(TOTALS, format!("appointments#status#{status}"), 1);
            let day = f.start_datetime.as_datetime().date_naive();
            let month = month_item(&month_of(day));
            c.add(month.clone(), format!("appointments#{}", day_of(day)), 1);
            c.add(month, format!("appointments#{}#{status}", day_of(day)), 1);
        }
        "TRANSACTION" => transaction(&mut c, facts(kind, image)?),
        "DOCUMENT" => {
            let f: DocumentFacts = facts(kind, image)?;
            c.add(TOTALS, "documents", 1);
            c.add(TOTALS, format!("documents#type#{}", f.document_type.as_str()), 1);
            if f.requires_approval && !f.approved && f.upload_status != UploadStatus::Rejected {
                c.add(TOTALS, "documents#pending_approval", 1);
            }
            if f.upload_status == UploadStatus::Available {
                let bytes = i64::try_from(f.file_size_bytes).map_err(|_| Unreadable("file_size_bytes".into()))?;
                c.add(TOTALS, "documents#storage_bytes", bytes);
            }
        }
        _ => {}
    }
    Ok(c)
}

/// Revenue: money in from payments, charges, fees and subscriptions that completed (still
/// counted once `refunded`: the refunds, separate records, take it back out), and money out by
/// completed refunds, both in the month of `payment_date` (of `created_at` when it has none).
/// Pending: what is still owed (`pending`), by due date; overdue is decided at read time.
fn transaction(c: &mut Contribution, f: TransactionFacts) {
    let currency = f.currency.as_str();
    let cents = f.amount.hundredths();
    let settled = matches!(f.status, TransactionStatus::Completed | TransactionStatus::Refunded);
    let paid_month = month_item(&month_of(f.payment_date.unwrap_or(f.created_at).as_datetime().date_naive()));
    if settled && f.transaction_type.is_refundable() {
        c.add(paid_month, format!("payments#{currency}"), cents);
    } else if f.transaction_type == TransactionType::Refund && f.status == TransactionStatus::Completed {
        c.add(paid_month, format!("refunds#{currency}"), cents);
    }
    if f.status == TransactionStatus::Pending {
        let bucket = f.due_date.map_or_else(|| "none".to_string(), month_of);
        c.add(PENDING, format!("amount#{currency}#{bucket}"), cents);
        c.add(PENDING, format!("count#{currency}#{bucket}"), 1);
        if let Some(due) = f.due_date {
            let month = month_item(&month_of(due));
            c.add(month.clone(), format!("pending#{currency}#{}", day_of(due)), cents);
            c.add(month, format!("pending_count#{currency}#{}", day_of(due)), 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn payment(status: &str, kind: &str, amount: &str) -> Map<String, Value> {
        image(json!({
            "is_deleted": false, "transaction_type": kind, "status": status, "amount": amount,
            "currency": "EUR", "payment_date": "2025-03-31T23:30:00.000Z", "due_date": null,
            "created_at": "2025-01-02T00:00:00.000Z", "transaction_id": "x", "notes": "unread"
        }))
    }

    #[test]
    fn a_deleted_record_or_an_uncounted_kind_contributes_nothing() {
        let deleted = image(json!({"is_deleted": true, "contact_type": "patient", "consent_given": true}));
        assert!(contribution("CONTACT", &deleted).map(|c| c.is_empty()).unwrap_or(false));
        let metric = image(json!({"is_deleted": false, "metric_name": "x", "metric_value": 1}));
        assert!(contribution("ANALYTICS_RECORD", &metric).map(|c| c.is_empty()).unwrap_or(false));
    }

    #[test]
    fn a_contact_counts_by_type_and_consent() {
        let c = contribution("CONTACT", &image(json!({"contact_type": "vendor", "consent_given": false}))).unwrap();
        assert_eq!(c.get(TOTALS, "contacts"), 1);
        assert_eq!(c.get(TOTALS, "contacts#type#vendor"), 1);
        assert_eq!(c.get(TOTALS, "contacts#consent#not_given"), 1);
    }

    #[test]
    fn an_appointment_counts_by_status_and_by_its_utc_start_day() {
        let a = image(json!({"status": "no_show", "start_datetime": "2025-03-01T23:30:00.000Z"}));
        let c = contribution("APPOINTMENT", &a).unwrap();
        assert_eq!(c.get(TOTALS, "appointments#status#no_show"), 1);
        assert_eq!(c.get("MONTH#2025-03", "appointments#01"), 1);
        assert_eq!(c.get("MONTH#2025-03", "appointments#01#no_show"), 1);
    }

    #[test]
    fn completed_and_refunded_payments_are_revenue_in_their_payment_month_and_refunds_take_it_back() {
        let completed = contribution("TRANSACTION", &payment("completed", "payment", "120.50")).unwrap();
        assert_eq!(completed.get("MONTH#2025-03", "payments#EUR"), 12050);
        let refunded = contribution("TRANSACTION", &payment("refunded", "fee", "0.10")).unwrap();
        assert_eq!(refunded.get("MONTH#2025-03", "payments#EUR"), 10);
        let refund = contribution("TRANSACTION", &payment("completed", "refund", "20.50")).unwrap();
        assert_eq!(refund.get("MONTH#2025-03", "refunds#EUR"), 2050);
        for (status, kind) in [("failed", "payment"), ("processing", "charge"), ("completed", "adjustment")] {
            assert!(contribution("TRANSACTION", &payment(status, kind, "5")).unwrap().is_empty(), "{status} {kind}");
        }
    }

    #[test]
    fn a_pending_transaction_is_owed_by_due_month_and_due_day() {
        let mut t = payment("pending", "charge", "40");
        t.insert("due_date".into(), json!("2025-02-14"));
        let c = contribution("TRANSACTION", &t).unwrap();
        assert_eq!(c.get(PENDING, "amount#EUR#2025-02"), 4000);
        assert_eq!(c.get(PENDING, "count#EUR#2025-02"), 1);
        assert_eq!(c.get("MONTH#2025-02", "pending#EUR#14"), 4000);
        let c = contribution("TRANSACTION", &payment("pending", "charge", "40")).unwrap();
        assert_eq!(c.get(PENDING, "amount#EUR#none"), 4000);
    }

    #[test]
    fn a_document_counts_its_type_its_pending_approval_and_its_verified_bytes() {
        let doc = |status: &str, approved: bool| {
            image(json!({"document_type": "invoice", "upload_status": status, "requires_approval": true,
                         "approved": approved, "file_size_bytes": 2048}))
        };
        let c = contribution("DOCUMENT", &doc("available", false)).unwrap();
        assert_eq!(c.get(TOTALS, "documents#type#invoice"), 1);
        assert_eq!(c.get(TOTALS, "documents#pending_approval"), 1);
        assert_eq!(c.get(TOTALS, "documents#storage_bytes"), 2048);
        let c = contribution("DOCUMENT", &doc("pending", true)).unwrap();
        assert_eq!((c.get(TOTALS, "documents#pending_approval"), c.get(TOTALS, "documents#storage_bytes")), (0, 0));
        let c = contribution("DOCUMENT", &doc("rejected", false)).unwrap();
        assert_eq!(c.get(TOTALS, "documents#pending_approval"), 0);
    }

    #[test]
    fn a_change_moves_the_counters_by_the_difference_and_zeroes_are_dropped() {
        let before = contribution("TRANSACTION", &payment("completed", "payment", "100")).unwrap();
        let after = contribution("TRANSACTION", &payment("refunded", "payment", "100")).unwrap();
        assert!(after.minus(&before).is_empty(), "refunded keeps the revenue: the refund record takes it out");
        let deleted = Contribution::default();
        let delta = deleted.minus(&before);
        assert_eq!(delta.get("MONTH#2025-03", "payments#EUR"), -10000);
        let mut sum = before.clone();
        sum.plus(&delta);
        assert!(sum.is_empty());
        assert_eq!(Contribution::from_map(before.to_map()), before);
    }

    #[test]
    fn an_image_that_does_not_read_as_its_kind_is_an_error_not_a_silent_zero() {
        let bad = image(json!({"contact_type": "martian", "consent_given": true}));
        assert!(contribution("CONTACT", &bad).is_err());
    }
}
