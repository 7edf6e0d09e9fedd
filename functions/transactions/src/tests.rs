use super::*;
use crate::refund::plan;
use serde_json::json;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn body(kind: &str, amount: &str) -> Map<String, Value> {
    obj(json!({
        "transaction_id": "TX-1",
        "transaction_type": kind,
        "amount": amount,
        "contact_id": Uuid::new_v4().to_string(),
    }))
}

fn codes(err: &AppError) -> Vec<(String, &'static str)> {
    err.field_errors().iter().map(|e| (e.field.clone(), e.code)).collect()
}

fn money(raw: &str) -> Money {
    Money::parse(raw).unwrap()
}

fn record(data: Transaction) -> Record<Transaction> {
    let now = Timestamp::now();
    let user = Uuid::new_v4();
    let meta = Meta::new(Uuid::new_v4(), Uuid::new_v4(), user, now);
    Record { meta, data }
}

fn completed(kind: &str, amount: &str) -> Record<Transaction> {
    let mut data = Transaction::from_json(&body(kind, amount)).unwrap();
    data.status = Status::Completed;
    record(data)
}

#[test]
fn the_seed_defaults_apply() {
    let t = Transaction::from_json(&body("payment", "120.50")).unwrap();
    assert_eq!(t.status, Status::Pending);
    assert_eq!(t.currency, Currency::EUR);
    assert_eq!(t.tax_amount, Money::ZERO);
    assert_eq!(t.payment_method, None);
    assert!(t.requires_receipt);
    assert!(!t.receipt_sent);
    assert_eq!(t.amount.to_string(), "120.50");
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["payment_method"], "");
    assert_eq!(json["amount"], "120.50");
    assert_eq!(json["refunded_amount"], "0.00");
}

#[test]
fn required_fields_are_reported_together() {
    let err = Transaction::from_json(&obj(json!({}))).unwrap_err();
    let mut got = codes(&err);
    got.sort();
    assert_eq!(
        got,
        [
            ("amount".into(), "required"),
            ("contact_id".into(), "required"),
            ("transaction_id".into(), "required"),
            ("transaction_type".into(), "required"),
        ]
    );
}

#[test]
fn amounts_must_be_strings_never_json_numbers() {
    let mut b = body("payment", "1");
    b.insert("amount".into(), json!(120.5));
    let err = Transaction::from_json(&b).unwrap_err();
    assert_eq!(codes(&err), [("amount".into(), "invalid_type")]);
}

#[test]
fn payments_charges_fees_subscriptions_and_refunds_must_be_positive() {
    for kind in ["payment", "charge", "fee", "subscription", "refund"] {
        for amount in ["0", "-1.00"] {
            let err = Transaction::from_json(&body(kind, amount)).unwrap_err();
            assert_eq!(codes(&err), [("amount".into(), "invalid_value")], "{kind} {amount}");
        }
    }
}

#[test]
fn adjustments_may_be_negative_but_not_zero() {
    assert!(Transaction::from_json(&body("adjustment", "-15.00")).is_ok());
    assert!(Transaction::from_json(&body("adjustment", "15.00")).is_ok());
    let err = Transaction::from_json(&body("adjustment", "0.00")).unwrap_err();
    assert_eq!(codes(&err), [("amount".into(), "invalid_value")]);
}

#[test]
fn tax_and_billing_period_are_checked() {
    let mut b = body("payment", "10");
    b.insert("tax_amount".into(), json!("-0.01"));
    b.insert("billing_period_start".into(), json!("2025-02-01"));
    b.insert("billing_period_end".into(), json!("2025-01-31"));
    let err = Transaction::from_json(&b).unwrap_err();
    assert_eq!(codes(&err), [("tax_amount".into(), "invalid_format"), ("billing_period_end".into(), "invalid_value")]);
    b.insert("tax_amount".into(), json!("0"));
    b.insert("billing_period_end".into(), json!("2025-02-01"));
    assert!(Transaction::from_json(&b).is_ok(), "a one-day period is fine");
}

#[test]
fn server_kept_fields_sent_by_a_client_are_ignored() {
    let mut b = body("payment", "10");
    b.insert("refunded_amount".into(), json!("10.00"));
    b.insert("refunded_transaction_id".into(), json!(Uuid::new_v4().to_string()));
    b.insert("refundable_amount".into(), json!("0.00"));
    let t = Transaction::from_json(&b).unwrap();
    assert_eq!(t.refunded_amount, Money::ZERO);
    assert_eq!(t.refunded_transaction_id, None);
}

#[test]
fn a_refund_cannot_be_created_or_made_by_a_plain_write() {
    let mut t = Transaction::from_json(&body("refund", "5")).unwrap();
    let err = t.reconcile(None, Timestamp::now()).unwrap_err();
    assert_eq!(codes(&err), [("transaction_type".into(), "invalid_value")]);
    let previous = Transaction::from_json(&body("payment", "5")).unwrap();
    let mut changed = Transaction::from_json(&body("refund", "5")).unwrap();
    assert!(changed.reconcile(Some(&previous), Timestamp::now()).is_err());
}

#[test]
fn the_state_machine_allows_exactly_its_transitions() {
    use Status::*;
    let all = [Pending, Processing, Completed, Failed, Cancelled, Refunded];
    let allowed = [
        (Pending, Processing),
        (Pending, Completed),
        (Pending, Failed),
        (Pending, Cancelled),
        (Processing, Completed),
        (Processing, Failed),
        (Processing, Cancelled),
    ];
    for from in all {
        for to in all {
            let mut previous = Transaction::from_json(&body("payment", "10")).unwrap();
            previous.status = from;
            let mut next = previous.clone();
            next.status = to;
            let result = next.reconcile(Some(&previous), Timestamp::now());
            let expected = from == to || allowed.contains(&(from, to));
            assert_eq!(result.is_ok(), expected, "{from} -> {to}");
            if let Err(err) = result {
                assert_eq!(err.code(), "INVALID_STATUS_TRANSITION");
            }
        }
    }
}

#[test]
fn refunded_is_reached_only_when_refunds_cover_the_amount() {
    let previous = completed("payment", "10").data;
    let mut next = previous.clone();
    next.status = Status::Refunded;
    assert_eq!(
        next.clone().reconcile(Some(&previous), Timestamp::now()).unwrap_err().code(),
        "INVALID_STATUS_TRANSITION"
    );
    next.refunded_amount = money("10");
    assert!(next.reconcile(Some(&previous), Timestamp::now()).is_ok());
    let mut created = Transaction::from_json(&body("payment", "10")).unwrap();
    created.status = Status::Refunded;
    assert!(created.reconcile(None, Timestamp::now()).is_err());
}

#[test]
fn a_completed_transaction_keeps_its_amount_currency_tax_type_and_contact() {
    let previous = completed("payment", "10").data;
    let mut next = previous.clone();
    next.amount = money("11");
    next.currency = Currency::parse("USD").unwrap();
    next.tax_amount = money("1");
    next.contact_id = Uuid::new_v4();
    next.transaction_type = TransactionType::Charge;
    next.notes = "a note may change".into();
    let err = next.reconcile(Some(&previous), Timestamp::now()).unwrap_err();
    assert_eq!(err.code(), "TRANSACTION_LOCKED");
    assert_eq!(err.status(), 409);
    let fields: Vec<String> = codes(&err).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["amount", "currency", "tax_amount", "contact_id", "transaction_type"]);
    let mut notes_only = previous.clone();
    notes_only.notes = "a note may change".into();
    notes_only.receipt_sent = true;
    assert!(notes_only.reconcile(Some(&previous), Timestamp::now()).is_ok());
    // Before completion the amount may still be corrected.
    let mut pending = previous.clone();
    pending.status = Status::Pending;
    let mut corrected = pending.clone();
    corrected.amount = money("12");
    assert!(corrected.reconcile(Some(&pending), Timestamp::now()).is_ok());
}

#[test]
fn an_update_cannot_lower_or_forge_the_refunded_total() {
    let mut previous = completed("payment", "10").data;
    previous.refunded_amount = money("4");
    let mut next = Transaction::from_json(&obj(serde_json::to_value(&previous).unwrap())).unwrap();
    assert_eq!(next.refunded_amount, Money::ZERO, "from_json ignores it");
    next.reconcile(Some(&previous), Timestamp::now()).unwrap();
    assert_eq!(next.refunded_amount, money("4"), "reconcile keeps the stored total");
}

#[test]
fn a_partial_refund_keeps_the_original_completed_and_a_full_one_refunds_it() {
    let original = completed("payment", "100.00");
    let (refund, next) = plan(&original, &obj(json!({"amount": "30.00"})), Timestamp::now()).unwrap();
    assert_eq!(refund.transaction_type, TransactionType::Refund);
    assert_eq!(refund.status, Status::Completed);
    assert_eq!(refund.amount, money("30"));
    assert_eq!(refund.contact_id, original.data.contact_id);
    assert_eq!(refund.refunded_transaction_id, Some(original.meta.id));
    assert_eq!(next.status, Status::Completed);
    assert_eq!(next.refunded_amount, money("30"));
    assert_eq!(next.refundable(), money("70"));

    let after = record(next);
    let (rest, last) = plan(&after, &Map::new(), Timestamp::now()).unwrap();
    assert_eq!(rest.amount, money("70"), "no amount: the whole remainder");
    assert_eq!(last.status, Status::Refunded);
    assert_eq!(last.refunded_amount, money("100"));
}

#[test]
fn refunded_totals_are_exact_decimals() {
    let original = completed("payment", "0.30");
    let (_, next) = plan(&original, &obj(json!({"amount": "0.10"})), Timestamp::now()).unwrap();
    let (_, last) = plan(&record(next), &obj(json!({"amount": "0.20"})), Timestamp::now()).unwrap();
    assert_eq!(last.refunded_amount.to_string(), "0.30");
    assert_eq!(last.status, Status::Refunded);
}

#[test]
fn refunds_over_the_remainder_or_of_the_wrong_thing_are_refused() {
    let original = completed("payment", "10.00");
    let err = plan(&original, &obj(json!({"amount": "10.01"})), Timestamp::now()).unwrap_err();
    assert_eq!(err.code(), "REFUND_EXCEEDS_REMAINDER");
    let err = plan(&original, &obj(json!({"amount": "0"})), Timestamp::now()).unwrap_err();
    assert_eq!(codes(&err), [("amount".into(), "invalid_value")]);
    let err = plan(&original, &obj(json!({"currency": "USD", "contact_id": "x"})), Timestamp::now()).unwrap_err();
    assert_eq!(codes(&err), [("contact_id".into(), "unknown_field"), ("currency".into(), "unknown_field")]);

    let mut pending = completed("payment", "10.00");
    pending.data.status = Status::Pending;
    assert_eq!(plan(&pending, &Map::new(), Timestamp::now()).unwrap_err().code(), "NOT_REFUNDABLE");
    let adjustment = completed("adjustment", "-5.00");
    assert_eq!(plan(&adjustment, &Map::new(), Timestamp::now()).unwrap_err().code(), "NOT_REFUNDABLE");
}

#[test]
fn list_entries_cover_every_filter_and_the_payment_date_copies() {
    let mut t = Transaction::from_json(&body("fee", "1")).unwrap();
    t.invoice_number = "INV-9".into();
    let meta = completed("fee", "1").meta;
    let without: Vec<String> = t.index_entries(&meta).into_iter().map(|e| e.index).collect();
    assert_eq!(without.len(), 5);
    assert!(without.contains(&"INVOICE#inv-9".to_string()));
    t.payment_date = Timestamp::parse("2025-03-01T10:00:00Z");
    let with: Vec<IndexEntry> = t.index_entries(&meta);
    assert_eq!(with.len(), 9);
    let paid = with.iter().find(|e| e.index == format!("CONTACT#{}#PAID", t.contact_id)).unwrap();
    assert_eq!(paid.sort, "2025-03-01T10:00:00.000Z");
}

#[test]
fn a_list_reads_the_partition_of_its_most_selective_filter() {
    let tenant = Tenant::new(hub_shared::auth::UserContext {
        user_id: hub_shared::auth::UserId::new(Uuid::new_v4()),
        email: None,
        organization_id: Some(hub_shared::auth::OrgId::new(Uuid::new_v4())),
        roles: vec![],
        expires_at: None,
    })
    .unwrap();
    let contact = Uuid::new_v4();
    let spec = |pairs: &[(&str, &str)]| {
        let params = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Transaction::list_spec(&params, &tenant)
    };
    assert_eq!(spec(&[]).unwrap().index, "ALL");
    assert_eq!(spec(&[("status", "completed"), ("transaction_type", "fee")]).unwrap().index, "STATUS#completed");
    let c = contact.to_string();
    assert_eq!(spec(&[("contact_id", &c), ("status", "failed")]).unwrap().index, format!("CONTACT#{contact}"));
    let ranged = spec(&[("contact_id", &c), ("payment_date_from", "2025-01-01")]).unwrap();
    assert_eq!(ranged.index, format!("CONTACT#{contact}#PAID"));
    assert_eq!(
        ranged.range,
        SortRange::Between { from: Some("2025-01-01T00:00:00.000Z".into()), to: None },
        "a date means its midnight UTC"
    );
    assert_eq!(spec(&[("payment_date_to", "2025-01-01T10:00:00+01:00")]).unwrap().index, "PAID");
    assert_eq!(spec(&[("invoice_number", "INV-1"), ("status", "pending")]).unwrap().index, "INVOICE#inv-1");
    for bad in [
        ("status", "lost"),
        ("transaction_type", "gift"),
        ("contact_id", "nope"),
        ("payment_date_from", "yesterday"),
        ("invoice_number", " "),
    ] {
        assert_eq!(spec(&[bad]).err().map(|e| e.code()), Some("INVALID_PARAMETER"), "{bad:?}");
    }
    let reversed = spec(&[("payment_date_from", "2025-02-01"), ("payment_date_to", "2025-01-01")]);
    assert_eq!(reversed.err().map(|e| e.code()), Some("INVALID_PARAMETER"));
}
