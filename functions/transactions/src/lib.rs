//! Transactions: payments, charges, fees, subscriptions, adjustments and refunds of a practice.
//! The entity's fields and rules (sign rules, the status state machine, what a completed record
//! may no longer change); the CRUD operations are the shared generic ones (`hub_shared::ops`),
//! wired in `src/bin/`, and the one entity-specific operation, the refund, is in `refund`.
//!
//! Financial records are not rewritten: once `completed`, a transaction's amount, currency, tax,
//! type and contact are frozen, and money given back is a new `refund` transaction referencing
//! the original, written in the same DynamoDB transaction as the original's refunded total.

use hub_shared::auth::Tenant;
use hub_shared::choice_enum;
use hub_shared::domain::spec::MoneyRule;
use hub_shared::domain::{Choice, Currency, Date, Fields, Money, Timestamp, Window, params};
use hub_shared::error::{AppError, AppResult, FieldError};
use hub_shared::store::{Entity, IndexEntry, ListSpec, Meta, Record, Reference, SortRange, Unique};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

mod refund;

pub use refund::{body_spec as refund_body_spec, plan as plan_refund, refund};

choice_enum! {
    pub enum TransactionType {
        Payment = "payment",
        Charge = "charge",
        Refund = "refund",
        Adjustment = "adjustment",
        Fee = "fee",
        Subscription = "subscription",
    }
}

choice_enum! {
    pub enum Status as "TransactionStatus" {
        Pending = "pending",
        Processing = "processing",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
        Refunded = "refunded",
    }
}

choice_enum! {
    pub enum PaymentMethod {
        Cash = "cash",
        Card = "card",
        BankTransfer = "bank_transfer",
        Check = "check",
        Insurance = "insurance",
        Other = "other",
    }
}

impl TransactionType {
    /// Types whose money can be given back with `POST /{id}/refund`. A refund is not refunded
    /// (void it by a new transaction), and an adjustment is corrected by another adjustment.
    pub fn is_refundable(self) -> bool {
        matches!(self, Self::Payment | Self::Charge | Self::Fee | Self::Subscription)
    }
}

impl Status {
    /// The state machine: the statuses an update may move a transaction to from this one
    /// (staying put is always allowed). `failed`, `cancelled` and `refunded` are final;
    /// `completed` only moves to `refunded`, and only when refunds cover the whole amount.
    pub fn successors(self) -> &'static [Status] {
        match self {
            Self::Pending => &[Self::Processing, Self::Completed, Self::Failed, Self::Cancelled],
            Self::Processing => &[Self::Completed, Self::Failed, Self::Cancelled],
            Self::Completed => &[Self::Refunded],
            Self::Failed | Self::Cancelled | Self::Refunded => &[],
        }
    }

    /// Money has moved: the record's financial fields are frozen.
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Completed | Self::Refunded)
    }
}

/// The seed's `Choice` stored as `""` when blank, as the original API returned it.
mod blank_method {
    use super::PaymentMethod;
    use hub_shared::domain::Choice;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<PaymentMethod>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.as_ref().map_or("", Choice::as_str))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PaymentMethod>, D::Error> {
        let raw = Option::<String>::deserialize(d)?.unwrap_or_default();
        if raw.is_empty() {
            return Ok(None);
        }
        PaymentMethod::parse(&raw).map(Some).ok_or_else(|| serde::de::Error::unknown_variant(&raw, PaymentMethod::ALL))
    }
}

/// A transaction, as the seed's model defines it, plus two fields the seed lacked:
/// `refunded_transaction_id` (on a refund: the original it gives money back for) and
/// `refunded_amount` (on an original: the exact total of its refunds so far). Both are kept by
/// the server and ignored when a client sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transaction {
    pub transaction_id: String,
    pub transaction_type: TransactionType,
    pub status: Status,
    pub amount: Money,
    pub currency: Currency,
    pub tax_amount: Money,
    pub contact_id: Uuid,
    pub related_appointment_id: Option<Uuid>,
    #[serde(with = "blank_method")]
    #[cfg_attr(feature = "openapi", schema(schema_with = hub_shared::openapi::blank_choice::<PaymentMethod>))]
    pub payment_method: Option<PaymentMethod>,
    pub payment_reference: String,
    pub payment_date: Option<Timestamp>,
    pub invoice_number: String,
    pub billing_period_start: Option<Date>,
    pub billing_period_end: Option<Date>,
    pub due_date: Option<Date>,
    pub description: String,
    pub notes: String,
    pub requires_receipt: bool,
    pub receipt_sent: bool,
    pub refunded_transaction_id: Option<Uuid>,
    pub refunded_amount: Money,
}

/// The longest invoice number, as the seed's `CharField(max_length=100)`.
pub const MAX_INVOICE_NUMBER: usize = 100;

/// Fields a client may send back (from a GET) but never sets.
const READ_ONLY: &[&str] = &["refunded_transaction_id", "refunded_amount", "refundable_amount"];

/// The seed's `TextField`s have no limit; this one keeps a record (copied into each of its list
/// entries) far below DynamoDB's 400 KB item limit.
pub const MAX_LONG_TEXT: usize = 10_000;

fn locked(field: &str) -> FieldError {
    FieldError::new(field, "locked", "cannot change once the transaction is completed")
}

impl Transaction {
    /// What can still be refunded: the amount less the refunds so far, for a completed
    /// transaction of a refundable type; zero otherwise.
    pub fn refundable(&self) -> Money {
        if self.status != Status::Completed || !self.transaction_type.is_refundable() {
            return Money::ZERO;
        }
        self.amount.checked_sub(self.refunded_amount).unwrap_or(Money::ZERO)
    }

    /// The unique key of `transaction_id`: trimmed, case kept. External ids (a card processor's
    /// `ch_3NxA...`) are case-sensitive, so folding case would make two real ids collide.
    fn transaction_id_key(&self) -> String {
        self.transaction_id.clone()
    }

    /// Invoice numbers are typed by people: the filter matches them case-insensitively.
    fn invoice_key(&self) -> Option<String> {
        (!self.invoice_number.is_empty()).then(|| self.invoice_number.to_lowercase())
    }

    /// Sign rules, which depend only on the fields themselves. A refund's upper bound (the
    /// original's refundable remainder) is checked by the refund operation.
    fn check_amounts(&self, f: &mut Fields<'_>) {
        f.note(
            "amount",
            "invalid_value",
            "Greater than 0, but for an adjustment, which is not 0 and may be negative (in the contact's favour).",
        );
        f.note("billing_period_end", "invalid_value", "On or after billing_period_start.");
        if !f.has_errors_for("amount") && !f.has_errors_for("transaction_type") {
            let kind = self.transaction_type.as_str();
            if self.transaction_type == TransactionType::Adjustment {
                if self.amount.is_zero() {
                    f.error("amount", "invalid_value", "must not be zero for an adjustment");
                }
            } else if !self.amount.is_positive() {
                f.error("amount", "invalid_value", format!("must be greater than 0 for a {kind}"));
            }
        }
        if let (Some(start), Some(end)) = (self.billing_period_start, self.billing_period_end)
            && start > end
        {
            f.error("billing_period_end", "invalid_value", "must be on or after billing_period_start");
        }
    }

    /// A status change an update asks for, against the state machine.
    fn check_transition(&self, previous: &Self) -> AppResult<()> {
        let (from, to) = (previous.status, self.status);
        if from == to {
            return Ok(());
        }
        let allowed = from.successors().contains(&to);
        // `refunded` is reached only by refunds covering the whole amount (`POST /{id}/refund`).
        let fully_refunded = self.transaction_type.is_refundable() && self.refunded_amount == self.amount;
        if allowed && (to != Status::Refunded || fully_refunded) {
            return Ok(());
        }
        let next: Vec<&str> = from.successors().iter().map(Choice::as_str).collect();
        let message = if to == Status::Refunded && allowed {
            "becomes refunded when refunds cover the whole amount: POST /api/business/transactions/{id}/refund"
                .to_string()
        } else if next.is_empty() {
            format!("a {} transaction is final", from.as_str())
        } else {
            format!("a {} transaction may only become: {}", from.as_str(), next.join(", "))
        };
        Err(AppError::Conflict {
            code: "INVALID_STATUS_TRANSITION",
            detail: format!("a transaction cannot go from {} to {}", from.as_str(), to.as_str()),
            errors: vec![FieldError::new("status", "invalid_transition", message)],
        })
    }

    /// Once money has moved, the record of how much, in what, for whom is not rewritten.
    fn check_frozen(&self, previous: &Self) -> AppResult<()> {
        if !previous.status.is_settled() {
            return Ok(());
        }
        let mut errors = Vec::new();
        if self.amount != previous.amount {
            errors.push(locked("amount"));
        }
        if self.currency != previous.currency {
            errors.push(locked("currency"));
        }
        if self.tax_amount != previous.tax_amount {
            errors.push(locked("tax_amount"));
        }
        if self.contact_id != previous.contact_id {
            errors.push(locked("contact_id"));
        }
        if self.transaction_type != previous.transaction_type {
            errors.push(locked("transaction_type"));
        }
        if errors.is_empty() {
            return Ok(());
        }
        Err(AppError::Conflict {
            code: "TRANSACTION_LOCKED",
            detail: format!(
                "a {} transaction's amount, currency, tax, type and contact cannot change; record a refund or an adjustment instead",
                previous.status.as_str()
            ),
            errors,
        })
    }
}

impl Entity for Transaction {
    const KIND: &'static str = "TRANSACTION";
    const NAME: &'static str = "transaction";
    const PATH: &'static str = "/api/business/transactions";
    const FILTERS: &'static [&'static str] =
        &["status", "transaction_type", "contact_id", "payment_date_from", "payment_date_to", "invoice_number"];

    /// Money that moved stays on the books: a completed or refunded transaction is corrected by
    /// a refund or an adjustment, never deleted (not even softly, which would hide it from lists).
    fn check_delete(&self) -> AppResult<()> {
        if matches!(self.status, Status::Completed | Status::Refunded) {
            return Err(AppError::conflict(
                "TRANSACTION_LOCKED",
                format!(
                    "a {} transaction cannot be deleted; record a refund or an adjustment instead",
                    self.status.as_str()
                ),
            ));
        }
        Ok(())
    }

    fn read(f: &mut Fields<'_>) -> Self {
        f.ignore(Meta::FIELDS);
        f.ignore(READ_ONLY);
        let transaction = Transaction {
            transaction_id: f.required_text("transaction_id", 100),
            transaction_type: f.required_choice("transaction_type", TransactionType::Payment),
            status: f.choice("status", Status::Pending),
            amount: f.required_money("amount", MoneyRule::SIGNED),
            currency: f.currency("currency", Currency::EUR),
            tax_amount: f.money("tax_amount", MoneyRule::UNSIGNED).unwrap_or(Money::ZERO),
            contact_id: f.required_uuid("contact_id"),
            related_appointment_id: f.uuid("related_appointment_id"),
            payment_method: f.optional_choice("payment_method"),
            payment_reference: f.text("payment_reference", 200),
            payment_date: f.timestamp("payment_date"),
            invoice_number: f.text("invoice_number", MAX_INVOICE_NUMBER),
            billing_period_start: f.date("billing_period_start", Window::Business),
            billing_period_end: f.date("billing_period_end", Window::Business),
            due_date: f.date("due_date", Window::Business),
            description: f.long_text("description", MAX_LONG_TEXT),
            notes: f.long_text("notes", MAX_LONG_TEXT),
            requires_receipt: f.boolean("requires_receipt", true),
            receipt_sent: f.boolean("receipt_sent", false),
            refunded_transaction_id: None,
            refunded_amount: Money::ZERO,
        };
        f.note("contact_id", "not_found", "Must name a live contact of the organization.");
        f.note("related_appointment_id", "not_found", "Must name a live appointment of the organization.");
        f.note(
            "transaction_type",
            "invalid_value",
            "`refund` only through POST /api/business/transactions/{id}/refund, and a refund stays one.",
        );
        f.note("status", "invalid_value", "Not `refunded` on create: refunds make a transaction refunded.");
        transaction.check_amounts(f);
        transaction
    }

    /// The server-kept fields are carried over (a client's copy is ignored by `from_json`;
    /// only the refund operation, which builds the original's next state itself, raises the
    /// refunded total), then the state machine and the frozen fields are enforced.
    fn reconcile(&mut self, previous: Option<&Self>, _now: Timestamp) -> AppResult<()> {
        if let Some(previous) = previous {
            self.refunded_transaction_id = previous.refunded_transaction_id;
            self.refunded_amount = self.refunded_amount.max(previous.refunded_amount);
        }
        if (self.transaction_type == TransactionType::Refund) != self.refunded_transaction_id.is_some() {
            return Err(AppError::field(
                "transaction_type",
                "invalid_value",
                "a refund is created with POST /api/business/transactions/{id}/refund, and stays a refund",
            ));
        }
        // Only the refund operation raises the total, after checking the remainder.
        if !self.refunded_amount.is_zero()
            && (!self.transaction_type.is_refundable() || self.refunded_amount > self.amount)
        {
            return Err(AppError::internal("a refunded total the refund operation never allows"));
        }
        match previous {
            None if self.status == Status::Refunded => Err(AppError::field(
                "status",
                "invalid_value",
                "a transaction becomes refunded through POST /api/business/transactions/{id}/refund",
            )),
            None => Ok(()),
            Some(previous) => {
                self.check_frozen(previous)?;
                self.check_transition(previous)
            }
        }
    }

    fn references(&self) -> Vec<Reference> {
        let mut references = vec![Reference { field: "contact_id", kind: "CONTACT", id: self.contact_id }];
        if let Some(id) = self.related_appointment_id {
            references.push(Reference { field: "related_appointment_id", kind: "APPOINTMENT", id });
        }
        if let Some(id) = self.refunded_transaction_id {
            references.push(Reference { field: "refunded_transaction_id", kind: Self::KIND, id });
        }
        references
    }

    fn unique_values(&self) -> Vec<Unique> {
        vec![Unique { field: "transaction_id", value: self.transaction_id_key() }]
    }

    /// `ALL`, `STATUS#s`, `TYPE#t`, `CONTACT#id` and `INVOICE#n` by creation time, and, for a
    /// transaction with a `payment_date`, `PAID` and `<filter>#PAID` copies by payment date, so
    /// the date range combines with status, type or contact in one Query.
    fn index_entries(&self, meta: &Meta) -> Vec<IndexEntry> {
        let created = meta.created_at.to_key();
        let filtered = [
            format!("STATUS#{}", self.status.as_str()),
            format!("TYPE#{}", self.transaction_type.as_str()),
            format!("CONTACT#{}", self.contact_id),
        ];
        let mut entries = vec![IndexEntry::new("ALL", created.clone())];
        entries.extend(filtered.iter().map(|index| IndexEntry::new(index.clone(), created.clone())));
        if let Some(invoice) = self.invoice_key() {
            entries.push(IndexEntry::new(format!("INVOICE#{invoice}"), created));
        }
        if let Some(paid) = self.payment_date {
            let paid = paid.to_key();
            entries.push(IndexEntry::new("PAID", paid.clone()));
            entries.extend(filtered.iter().map(|index| IndexEntry::new(format!("{index}#PAID"), paid.clone())));
        }
        entries
    }

    fn anonymized(&self) -> Self {
        Transaction {
            transaction_id: self.transaction_id.clone(),
            transaction_type: self.transaction_type,
            status: self.status,
            amount: self.amount,
            currency: self.currency,
            tax_amount: self.tax_amount,
            contact_id: self.contact_id,
            related_appointment_id: self.related_appointment_id,
            payment_method: self.payment_method,
            payment_reference: String::new(),
            payment_date: self.payment_date,
            invoice_number: self.invoice_number.clone(),
            billing_period_start: self.billing_period_start,
            billing_period_end: self.billing_period_end,
            due_date: self.due_date,
            description: String::new(),
            notes: String::new(),
            requires_receipt: self.requires_receipt,
            receipt_sent: self.receipt_sent,
            refunded_transaction_id: self.refunded_transaction_id,
            refunded_amount: self.refunded_amount,
        }
    }

    fn computed(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("refundable_amount".into(), Value::String(self.refundable().to_string()));
        out
    }

    /// One partition per query, chosen by the most selective filter given (invoice number,
    /// then contact, status, type); the other filters are checked on each entry read. Newest
    /// first: by `payment_date` when a payment-date range is given (transactions without one
    /// are not in it), by `created_at` otherwise.
    fn list_spec(params: &HashMap<String, String>, _tenant: &Tenant) -> AppResult<ListSpec<Self>> {
        let filter = ListFilter::parse(params)?;
        let ranged = filter.from.is_some() || filter.to.is_some();
        let (index, by_payment_date) = if let Some(invoice) = &filter.invoice {
            (format!("INVOICE#{invoice}"), false)
        } else {
            let base = if let Some(contact) = filter.contact {
                Some(format!("CONTACT#{contact}"))
            } else if let Some(status) = filter.status {
                Some(format!("STATUS#{}", status.as_str()))
            } else {
                filter.kind.map(|kind| format!("TYPE#{}", kind.as_str()))
            };
            match (base, ranged) {
                (Some(base), true) => (format!("{base}#PAID"), true),
                (Some(base), false) => (base, false),
                (None, true) => ("PAID".to_string(), true),
                (None, false) => ("ALL".to_string(), false),
            }
        };
        let range = if by_payment_date {
            SortRange::Between { from: filter.from.clone(), to: filter.to.clone() }
        } else {
            SortRange::All
        };
        let fingerprint = filter.fingerprint(&index);
        let accept = Box::new(move |record: &Record<Self>, _sort: &str| filter.accepts(&record.data));
        Ok(ListSpec { index, range, newest_first: true, fingerprint, accept: Some(accept) })
    }
}

/// A list request's filters, parsed.
#[derive(Debug, Clone, Default)]
struct ListFilter {
    status: Option<Status>,
    kind: Option<TransactionType>,
    contact: Option<Uuid>,
    invoice: Option<String>,
    /// Payment-date bounds as sort keys, `[from, to)`.
    from: Option<String>,
    to: Option<String>,
}

impl ListFilter {
    fn parse(params: &HashMap<String, String>) -> AppResult<Self> {
        let filter = Self {
            status: params::choice(params, "status")?,
            kind: params::choice(params, "transaction_type")?,
            contact: params::uuid(params, "contact_id")?,
            invoice: params::text(params, "invoice_number", MAX_INVOICE_NUMBER)?.map(|i| i.to_lowercase()),
            from: params::instant_or_date(params, "payment_date_from")?.map(|t| t.to_key()),
            to: params::instant_or_date(params, "payment_date_to")?.map(|t| t.to_key()),
        };
        if let (Some(from), Some(to)) = (&filter.from, &filter.to)
            && from > to
        {
            return Err(AppError::invalid_param("payment_date_to", "must not be before payment_date_from"));
        }
        Ok(filter)
    }

    fn fingerprint(&self, index: &str) -> String {
        format!(
            "{index}|{}|{}|{}|{}|{}|{}",
            self.status.map_or("", |s| s.as_str()),
            self.kind.map_or("", |k| k.as_str()),
            self.contact.map(|c| c.to_string()).unwrap_or_default(),
            self.invoice.as_deref().unwrap_or(""),
            self.from.as_deref().unwrap_or(""),
            self.to.as_deref().unwrap_or(""),
        )
    }

    /// Every filter, checked on a record (the partition already guarantees one or two of them).
    fn accepts(&self, t: &Transaction) -> bool {
        let paid = t.payment_date.map(|p| p.to_key());
        let ranged = self.from.is_some() || self.to.is_some();
        self.status.is_none_or(|s| t.status == s)
            && self.kind.is_none_or(|k| t.transaction_type == k)
            && self.contact.is_none_or(|c| t.contact_id == c)
            && self.invoice.as_ref().is_none_or(|i| t.invoice_key().as_ref() == Some(i))
            && (!ranged
                || paid.as_ref().is_some_and(|p| {
                    self.from.as_ref().is_none_or(|f| p >= f) && self.to.as_ref().is_none_or(|to| p < to)
                }))
    }
}

#[cfg(test)]
mod tests;
