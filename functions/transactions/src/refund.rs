//! `POST /{id}/refund`: gives money back for a completed transaction.
//!
//! A refund is a new `refund` transaction naming the original (`refunded_transaction_id`), for
//! the original's contact and currency. In the same DynamoDB transaction the original's
//! `refunded_amount` grows by the refund, and the original becomes `refunded` once refunds cover
//! its whole amount. The original's write is conditioned on the version the refund was computed
//! from, so two concurrent refunds cannot both spend the same remainder: the second gets
//! `409 VERSION_CONFLICT` and, retried, is checked against the new remainder.

use crate::{Status, Transaction, TransactionType};
use hub_shared::auth::{Permission, Tenant};
use hub_shared::domain::spec::{FieldSpec, Note};
use hub_shared::domain::{Choice, Money, Timestamp};
use hub_shared::error::{AppError, AppResult, FieldError};
use hub_shared::http::{ApiRequest, Reply, Services};
use hub_shared::ops;
use hub_shared::store::{Entity, Record};
use serde_json::{Map, Value};
use std::sync::Arc;
use uuid::Uuid;

/// What a refund request may say. The contact, currency, type and status are not among them:
/// they are the original's, `refund` and `completed`.
const REFUND_FIELDS: &[&str] = &[
    "amount",
    "transaction_id",
    "tax_amount",
    "payment_method",
    "payment_reference",
    "payment_date",
    "invoice_number",
    "description",
    "notes",
    "requires_receipt",
    "receipt_sent",
];

/// What a refund body accepts: the refund's fields as a transaction reads them, none required
/// (each has a default from the original), and the limit a schema cannot state.
pub fn body_spec() -> Vec<FieldSpec> {
    Transaction::body_spec()
        .into_iter()
        .filter(|field| REFUND_FIELDS.contains(&field.name))
        .map(|field| {
            let mut field = field.optional();
            if field.name == "amount" {
                field.notes.push(Note {
                    code: "exceeds_remainder",
                    rule: "At most what remains to refund of the original (the default).".into(),
                });
            }
            field
        })
        .collect()
}

/// The handler. The body is optional: `{}` or none refunds the whole remainder. `If-Match` or
/// a body `version` guards the original's version; `Idempotency-Key` makes a retry safe even
/// after the first attempt moved the original to `refunded`.
pub async fn refund(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    tenant.require(Permission::Write)?;
    let body = if request.has_body() { request.json_object()? } else { Map::new() };
    let idempotency = request.idempotency_key()?;
    if let Some(key) = &idempotency
        && let Some(created) = services.store.replayed::<Transaction>(&tenant, key).await?
    {
        return Ok(ops::created_record_reply(&created));
    }
    let original = ops::current_for_write::<Transaction>(&services, &tenant, &request, Some(&body)).await?;
    let (refund, next) = plan(&original, &body, Timestamp::now())?;
    let created = services.store.create_with(&tenant, refund, idempotency.as_ref(), vec![(&original, next)]).await?;
    Ok(ops::created_record_reply(&created))
}

/// The refund a request asks for and the original's next state, from the original as read.
pub fn plan(
    original: &Record<Transaction>,
    body: &Map<String, Value>,
    now: Timestamp,
) -> AppResult<(Transaction, Transaction)> {
    let current = &original.data;
    if !current.transaction_type.is_refundable() {
        return Err(not_refundable(format!("a {} cannot be refunded", current.transaction_type.as_str())));
    }
    if current.status != Status::Completed {
        return Err(not_refundable(format!(
            "only a completed transaction can be refunded; this one is {}",
            current.status.as_str()
        )));
    }
    let remainder = current.refundable();
    let fields = refund_fields(current, body, remainder, now)?;
    let mut refund = Transaction::from_json(&fields)?;
    refund.refunded_transaction_id = Some(original.meta.id);
    if refund.amount > remainder {
        return Err(AppError::Unprocessable {
            code: "REFUND_EXCEEDS_REMAINDER",
            detail: "the refund is larger than what remains to refund".into(),
            errors: vec![FieldError::new("amount", "exceeds_remainder", format!("must be at most {remainder}"))],
        });
    }
    let total = current
        .refunded_amount
        .checked_add(refund.amount)
        .ok_or_else(|| AppError::internal("a refunded total past the amount's range"))?;
    let mut next = current.clone();
    next.refunded_amount = total;
    if total == current.amount {
        next.status = Status::Refunded;
    }
    Ok((refund, next))
}

/// The refund as a transaction body: the request's fields, the original's defaults under them,
/// and the fixed ones over them, so it is validated exactly like any other transaction.
fn refund_fields(
    original: &Transaction,
    body: &Map<String, Value>,
    remainder: Money,
    now: Timestamp,
) -> AppResult<Map<String, Value>> {
    let mut unknown: Vec<FieldError> = body
        .keys()
        .filter(|k| !REFUND_FIELDS.contains(&k.as_str()) && k.as_str() != "version")
        .map(|k| {
            FieldError::new(
                k.clone(),
                "unknown_field",
                "is not a field of a refund (its contact, currency, type and status come from the original)",
            )
        })
        .collect();
    if !unknown.is_empty() {
        unknown.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(AppError::validation(unknown));
    }
    let mut fields: Map<String, Value> = body
        .iter()
        .filter(|(k, v)| k.as_str() != "version" && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let defaults = [
        ("amount", remainder.to_string()),
        ("transaction_id", format!("RF-{}", Uuid::new_v4().simple())),
        ("payment_method", original.payment_method.map(|m| m.as_str().to_string()).unwrap_or_default()),
        ("payment_date", now.to_key()),
        ("invoice_number", original.invoice_number.clone()),
        ("description", format!("Refund of {}", original.transaction_id)),
    ];
    for (name, value) in defaults {
        fields.entry(name).or_insert(Value::String(value));
    }
    let fixed = [
        ("transaction_type", TransactionType::Refund.as_str().to_string()),
        ("status", Status::Completed.as_str().to_string()),
        ("currency", original.currency.as_str().to_string()),
        ("contact_id", original.contact_id.to_string()),
    ];
    for (name, value) in fixed {
        fields.insert(name.to_string(), Value::String(value));
    }
    Ok(fields)
}

fn not_refundable(detail: String) -> AppError {
    AppError::conflict("NOT_REFUNDABLE", detail)
}
