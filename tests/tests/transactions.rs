//! Transactions over real API Gateway events, against moto with the real SDK: exact money,
//! references, per-organization uniqueness, the status state machine, frozen completed records,
//! refunds (partial, full, concurrent, idempotent), filters, tenant isolation and roles.

use hub_tests::{Answer, TestApp, Who, contact, enc};
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

const TRANSACTIONS: &str = "/api/business/transactions";

async fn create_contact(app: &TestApp, token: &str) -> String {
    let answer = app.send("POST", "/api/business/contacts", Some(token), Some(contact("Pay", "Er"))).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    id(&answer.body)
}

fn tx(contact_id: &str, transaction_id: &str, kind: &str, amount: &str) -> Value {
    json!({"contact_id": contact_id, "transaction_id": transaction_id, "transaction_type": kind, "amount": amount})
}

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let answer = app.send("POST", TRANSACTIONS, Some(token), Some(body)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body
}

fn url(t: &Value) -> String {
    format!("{TRANSACTIONS}/{}", id(t))
}

/// A completed payment of `amount` for a new contact.
async fn completed_payment(app: &TestApp, token: &str, amount: &str) -> Value {
    let contact_id = create_contact(app, token).await;
    let mut body = tx(&contact_id, &format!("PAY-{}", Uuid::new_v4().simple()), "payment", amount);
    body["status"] = json!("completed");
    create(app, token, body).await
}

async fn refund(app: &TestApp, token: &str, original: &Value, body: Option<Value>) -> Answer {
    app.send("POST", &format!("{}/refund", url(original)), Some(token), body).await
}

async fn get(app: &TestApp, token: &str, t: &Value) -> Value {
    let answer = app.send("GET", &url(t), Some(token), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

fn ids(answer: &Answer) -> Vec<String> {
    let Some(items) = answer.body["items"].as_array() else { panic!("not a list: {}", answer.body) };
    items.iter().map(|c| c["id"].as_str().map(String::from).unwrap_or_default()).collect()
}

fn id(t: &Value) -> String {
    t["id"].as_str().map(String::from).unwrap_or_else(|| panic!("no id: {t}"))
}

fn tenant(org: Uuid) -> hub_shared::auth::Tenant {
    hub_shared::auth::Tenant::new(hub_shared::auth::UserContext {
        user_id: hub_shared::auth::UserId::new(Uuid::new_v4()),
        email: None,
        organization_id: Some(hub_shared::auth::OrgId::new(org)),
        roles: vec![],
        expires_at: None,
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------- the happy path

#[tokio::test]
async fn a_created_transaction_comes_back_whole_with_the_seed_defaults_and_exact_money() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let who = Who::member(org);
    let token = app.token(&who);
    let contact_id = create_contact(&app, &token).await;
    let answer = app.send("POST", TRANSACTIONS, Some(&token), Some(tx(&contact_id, "TX-1", "payment", "120.5"))).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let t = &answer.body;
    assert_eq!(answer.header("location"), Some(url(t).as_str()));
    assert_eq!(answer.header("etag"), Some("\"1\""));
    assert_eq!(t["organization_id"], org.to_string());
    assert_eq!(t["created_by"], who.user.to_string());
    assert_eq!(t["amount"], "120.50", "a string with two decimals");
    assert_eq!(t["currency"], "EUR");
    assert_eq!(t["tax_amount"], "0.00");
    assert_eq!(t["status"], "pending");
    assert_eq!(t["payment_method"], "");
    assert_eq!(t["payment_reference"], "");
    assert_eq!(t["invoice_number"], "");
    assert_eq!(t["payment_date"], Value::Null);
    assert_eq!(t["related_appointment_id"], Value::Null);
    assert_eq!(t["requires_receipt"], true);
    assert_eq!(t["receipt_sent"], false);
    assert_eq!(t["refunded_transaction_id"], Value::Null);
    assert_eq!(t["refunded_amount"], "0.00");
    assert_eq!(t["refundable_amount"], "0.00", "nothing is refundable before completion");
    assert_eq!(&get(&app, &token, t).await, t);
}

#[tokio::test]
async fn decimals_round_trip_exactly_and_are_stored_as_strings_never_floats() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let token = app.token(&Who::member(org));
    let contact_id = create_contact(&app, &token).await;
    for (i, (sent, back)) in
        [("0.10", "0.10"), ("0.1", "0.10"), ("9999999999.99", "9999999999.99"), ("1234567.05", "1234567.05")]
            .into_iter()
            .enumerate()
    {
        let mut body = tx(&contact_id, &format!("DEC-{i}"), "charge", sent);
        body["tax_amount"] = json!("0.07");
        let t = create(&app, &token, body).await;
        assert_eq!(t["amount"], back);
        assert_eq!(t["tax_amount"], "0.07");
        assert_eq!(get(&app, &token, &t).await["amount"], back);
        let item = app
            .client
            .get_item()
            .table_name(&app.table)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("ORG#{org}")))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("TRANSACTION#{}", id(&t))))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        assert_eq!(item["amount"].as_s().map(String::as_str), Ok(back), "stored as the exact string");
    }
    let negative = create(&app, &token, tx(&contact_id, "ADJ-1", "adjustment", "-0.05")).await;
    assert_eq!(negative["amount"], "-0.05");
}

#[tokio::test]
async fn a_transactions_whole_life_update_patch_delete_restore() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let member = app.token(&Who::member(org));
    let admin = app.token(&Who::admin(org));
    let contact_id = create_contact(&app, &member).await;
    let mut body = tx(&contact_id, "LIFE-1", "charge", "80.00");
    body["notes"] = json!("first visit");
    body["invoice_number"] = json!("INV-1");
    let t = create(&app, &member, body).await;
    let u = url(&t);

    // PUT replaces: omitted optional fields fall back to their defaults.
    let mut put = tx(&contact_id, "LIFE-1", "charge", "85.00");
    put["version"] = json!(1);
    put["payment_method"] = json!("card");
    let replaced = app.send("PUT", &u, Some(&member), Some(put)).await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.body["amount"], "85.00");
    assert_eq!(replaced.body["payment_method"], "card");
    assert_eq!(replaced.body["notes"], "");
    assert_eq!(replaced.body["invoice_number"], "");
    assert_eq!(replaced.body["version"], 2);

    // PATCH merges.
    let patched =
        app.send("PATCH", &u, Some(&member), Some(json!({"status": "processing", "due_date": "2025-06-30"}))).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["status"], "processing");
    assert_eq!(patched.body["amount"], "85.00");
    assert_eq!(patched.body["due_date"], "2025-06-30");
    assert_eq!(patched.body["version"], 3);

    // Soft delete, then an admin restores it whole.
    let deleted = app.send("DELETE", &u, Some(&member), None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    app.send("GET", &u, Some(&member), None).await.problem(404, "NOT_FOUND");
    assert!(ids(&app.send("GET", TRANSACTIONS, Some(&member), None).await).is_empty());
    let trash = app.send("GET", &format!("{TRANSACTIONS}?deleted=true"), Some(&admin), None).await;
    assert_eq!(ids(&trash), [id(&t)]);
    app.send("POST", &format!("{u}/restore"), Some(&member), None).await.problem(403, "FORBIDDEN");
    let restored = app.send("POST", &format!("{u}/restore"), Some(&admin), None).await;
    assert_eq!(restored.status, 200, "{}", restored.body);
    assert_eq!(restored.body["is_deleted"], false);
    assert_eq!(restored.body["status"], "processing");
    assert_eq!(
        ids(&app.send("GET", &format!("{TRANSACTIONS}?status=processing"), Some(&member), None).await),
        [id(&t)]
    );
    app.send("POST", &format!("{u}/restore"), Some(&admin), None).await.problem(409, "NOT_DELETED");
}

// ---------------------------------------------------------------- tenant isolation

#[tokio::test]
async fn another_organizations_transaction_is_indistinguishable_from_a_missing_one() {
    let app = TestApp::spawn().await;
    let (org_a, org_b) = (Uuid::new_v4(), Uuid::new_v4());
    let owner = app.token(&Who::member(org_a));
    let mut victim_body = tx(&create_contact(&app, &owner).await, "SECRET-1", "payment", "50.00");
    victim_body["status"] = json!("completed");
    victim_body["invoice_number"] = json!("INV-SECRET");
    victim_body["payment_date"] = json!("2025-03-01T10:00:00Z");
    let victim = create(&app, &owner, victim_body.clone()).await;
    let victim_id = id(&victim);
    let u = url(&victim);
    let missing = Uuid::new_v4().to_string();

    let attacker = app.token(&Who::member(org_b));
    let attacker_admin = app.token(&Who::admin(org_b));
    let attacker_contact = create_contact(&app, &attacker).await;
    let mut put = tx(&attacker_contact, "HACK", "payment", "1.00");
    put["status"] = json!("completed");
    for (method, path, token, body) in [
        ("GET", u.clone(), &attacker, None),
        ("PUT", u.clone(), &attacker, Some(put.clone())),
        ("PATCH", u.clone(), &attacker, Some(json!({"notes": "hacked"}))),
        ("DELETE", u.clone(), &attacker, None),
        ("POST", format!("{u}/refund"), &attacker, None),
        ("POST", format!("{u}/refund"), &attacker, Some(json!({"amount": "1.00"}))),
        ("POST", format!("{u}/restore"), &attacker_admin, None),
        ("GET", format!("{u}?include_deleted=true"), &attacker_admin, None),
    ] {
        let foreign = app.send(method, &path, Some(token), body.clone()).await;
        let missing_answer = app.send(method, &path.replace(&victim_id, &missing), Some(token), body).await;
        foreign.problem(404, "NOT_FOUND");
        assert_eq!(foreign.status, missing_answer.status, "{method} {path}");
        assert_eq!(foreign.body["detail"], missing_answer.body["detail"], "{method} {path}");
    }

    // Every list and filter is empty for the attacker, even naming the victim's contact.
    let victim_contact = victim["contact_id"].as_str().unwrap();
    for query in [
        String::new(),
        "?status=completed".into(),
        "?transaction_type=payment".into(),
        format!("?contact_id={victim_contact}"),
        "?invoice_number=INV-SECRET".into(),
        "?payment_date_from=2025-01-01&payment_date_to=2026-01-01".into(),
        format!("?contact_id={victim_contact}&payment_date_from=2025-01-01"),
    ] {
        let list = app.send("GET", &format!("{TRANSACTIONS}{query}"), Some(&attacker_admin), None).await;
        assert_eq!(list.status, 200, "{query}: {}", list.body);
        assert!(ids(&list).is_empty(), "{query}: {}", list.body);
    }
    // Its transaction_id does not collide in the attacker's organization.
    let mut same_id = victim_body.clone();
    same_id["contact_id"] = json!(attacker_contact);
    create(&app, &attacker, same_id).await;

    let still = get(&app, &owner, &victim).await;
    assert_eq!(still["version"], 1);
    assert_eq!(still["status"], "completed");
    assert_eq!(still["refunded_amount"], "0.00");
}

#[tokio::test]
async fn references_must_name_a_live_record_of_the_callers_organization() {
    let app = TestApp::spawn().await;
    let (org_a, org_b) = (Uuid::new_v4(), Uuid::new_v4());
    let a = app.token(&Who::member(org_a));
    let b = app.token(&Who::member(org_b));
    let own_contact = create_contact(&app, &a).await;
    let foreign_contact = create_contact(&app, &b).await;

    let related = |answer: Answer, field: &str| {
        let problem = answer.problem(422, "RELATED_NOT_FOUND").clone();
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    };
    related(
        app.send("POST", TRANSACTIONS, Some(&a), Some(tx(&Uuid::new_v4().to_string(), "R1", "payment", "1"))).await,
        "contact_id",
    );
    related(
        app.send("POST", TRANSACTIONS, Some(&a), Some(tx(&foreign_contact, "R2", "payment", "1"))).await,
        "contact_id",
    );

    // Appointments: a random id, another organization's, and a live one of ours.
    let appointment = |contact_id: &str| {
        json!({"title": "Visit", "contact_id": contact_id,
               "start_datetime": "2030-01-01T09:00:00Z", "end_datetime": "2030-01-01T09:30:00Z"})
    };
    let foreign_appt =
        app.send("POST", "/api/business/appointments", Some(&b), Some(appointment(&foreign_contact))).await;
    assert_eq!(foreign_appt.status, 201, "{}", foreign_appt.body);
    let own_appt = app.send("POST", "/api/business/appointments", Some(&a), Some(appointment(&own_contact))).await;
    assert_eq!(own_appt.status, 201, "{}", own_appt.body);
    for (appt, field) in
        [(Uuid::new_v4().to_string(), "related_appointment_id"), (id(&foreign_appt.body), "related_appointment_id")]
    {
        let mut body = tx(&own_contact, "R3", "payment", "1");
        body["related_appointment_id"] = json!(appt);
        related(app.send("POST", TRANSACTIONS, Some(&a), Some(body)).await, field);
    }
    let mut body = tx(&own_contact, "R4", "payment", "1");
    body["related_appointment_id"] = json!(id(&own_appt.body));
    let linked = create(&app, &a, body).await;
    assert_eq!(linked["related_appointment_id"], id(&own_appt.body));

    // Changing a reference to a foreign or deleted record is refused too.
    related(
        app.send("PATCH", &url(&linked), Some(&a), Some(json!({"contact_id": foreign_contact}))).await,
        "contact_id",
    );
    let doomed = create_contact(&app, &a).await;
    app.send("DELETE", &format!("/api/business/contacts/{doomed}"), Some(&a), None).await;
    related(app.send("PATCH", &url(&linked), Some(&a), Some(json!({"contact_id": doomed}))).await, "contact_id");
    related(app.send("POST", TRANSACTIONS, Some(&a), Some(tx(&doomed, "R5", "payment", "1"))).await, "contact_id");
    assert_eq!(get(&app, &a, &linked).await["version"], 1);
    // Nothing but `linked` was created.
    assert_eq!(ids(&app.send("GET", TRANSACTIONS, Some(&a), None).await), [id(&linked)]);
}

// ---------------------------------------------------------------- uniqueness

#[tokio::test]
async fn transaction_id_is_unique_per_organization_trimmed_and_case_sensitive() {
    let app = TestApp::spawn().await;
    let (org_a, org_b) = (Uuid::new_v4(), Uuid::new_v4());
    let a = app.token(&Who::member(org_a));
    let b = app.token(&Who::member(org_b));
    let ca = create_contact(&app, &a).await;
    let first = create(&app, &a, tx(&ca, "ch_3NxA", "payment", "10")).await;

    for dup in ["ch_3NxA", "  ch_3NxA "] {
        let answer = app.send("POST", TRANSACTIONS, Some(&a), Some(tx(&ca, dup, "payment", "10"))).await;
        assert_eq!(answer.problem(409, "UNIQUE_CONFLICT")["errors"][0]["field"], "transaction_id");
    }
    // Processor ids are case-sensitive: another case is another id.
    create(&app, &a, tx(&ca, "ch_3nxa", "payment", "10")).await;
    // Another organization may use the same id.
    create(&app, &b, tx(&create_contact(&app, &b).await, "ch_3NxA", "payment", "10")).await;
    // Deleting frees it.
    app.send("DELETE", &url(&first), Some(&a), None).await;
    create(&app, &a, tx(&ca, "ch_3NxA", "payment", "10")).await;
}

// ---------------------------------------------------------------- validation

#[tokio::test]
async fn every_validation_rule_answers_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let c = create_contact(&app, &token).await;
    let with = |extra: Value| {
        let mut body = tx(&c, "V-1", "payment", "10.00");
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"contact_id": c, "transaction_type": "payment", "amount": "1"}), "transaction_id", "required"),
        (json!({"contact_id": c, "transaction_id": "X", "amount": "1"}), "transaction_type", "required"),
        (json!({"contact_id": c, "transaction_id": "X", "transaction_type": "payment"}), "amount", "required"),
        (json!({"transaction_id": "X", "transaction_type": "payment", "amount": "1"}), "contact_id", "required"),
        (with(json!({"transaction_id": "x".repeat(101)})), "transaction_id", "too_long"),
        (with(json!({"transaction_type": "gift"})), "transaction_type", "invalid_choice"),
        (with(json!({"status": "lost"})), "status", "invalid_choice"),
        (with(json!({"payment_method": "bitcoin"})), "payment_method", "invalid_choice"),
        (with(json!({"amount": 10.5})), "amount", "invalid_type"),
        (with(json!({"amount": "10.555"})), "amount", "invalid_format"),
        (with(json!({"amount": "1e3"})), "amount", "invalid_format"),
        (with(json!({"amount": "10000000000.00"})), "amount", "invalid_format"),
        (with(json!({"amount": "0.00"})), "amount", "invalid_value"),
        (with(json!({"amount": "-5.00"})), "amount", "invalid_value"),
        (with(json!({"transaction_type": "charge", "amount": "-5.00"})), "amount", "invalid_value"),
        (with(json!({"transaction_type": "fee", "amount": "0"})), "amount", "invalid_value"),
        (with(json!({"transaction_type": "subscription", "amount": "-1"})), "amount", "invalid_value"),
        (with(json!({"transaction_type": "adjustment", "amount": "0.00"})), "amount", "invalid_value"),
        (with(json!({"transaction_type": "refund"})), "transaction_type", "invalid_value"),
        (with(json!({"status": "refunded"})), "status", "invalid_value"),
        (with(json!({"tax_amount": "-0.01"})), "tax_amount", "invalid_format"),
        (with(json!({"tax_amount": 1})), "tax_amount", "invalid_type"),
        (with(json!({"currency": "eur"})), "currency", "invalid_value"),
        (with(json!({"currency": "EURO"})), "currency", "invalid_value"),
        (with(json!({"currency": "XYZ"})), "currency", "invalid_value"),
        (with(json!({"contact_id": "not-a-uuid"})), "contact_id", "invalid_format"),
        (with(json!({"related_appointment_id": "nope"})), "related_appointment_id", "invalid_format"),
        (with(json!({"payment_date": "2025-01-01"})), "payment_date", "invalid_format"),
        (with(json!({"due_date": "01/02/2025"})), "due_date", "invalid_format"),
        (
            with(json!({"billing_period_start": "2025-02-01", "billing_period_end": "2025-01-31"})),
            "billing_period_end",
            "invalid_value",
        ),
        (with(json!({"payment_reference": "r".repeat(201)})), "payment_reference", "too_long"),
        (with(json!({"invoice_number": "i".repeat(101)})), "invoice_number", "too_long"),
        (with(json!({"notes": "n".repeat(10_001)})), "notes", "too_long"),
        (with(json!({"invoice_number": "INV\u{1}"})), "invoice_number", "invalid_format"),
        (with(json!({"requires_receipt": "yes"})), "requires_receipt", "invalid_type"),
        (with(json!({"colour": "red"})), "colour", "unknown_field"),
    ];
    for (body, field, code) in cases {
        let answer = app.send("POST", TRANSACTIONS, Some(&token), Some(body.clone())).await;
        assert_eq!(answer.status, 422, "{body}: {}", answer.body);
        let errors = answer.body["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["field"] == field && e["code"] == code), "{field} {code}: {}", answer.body);
    }
    // The edges that are allowed.
    let ok = [
        with(json!({"transaction_type": "adjustment", "amount": "-25.00"})),
        with(
            json!({"transaction_id": "V-2", "billing_period_start": "2025-01-01", "billing_period_end": "2025-01-01", "currency": "CHF", "tax_amount": "0"}),
        ),
        with(
            json!({"transaction_id": "V-3", "amount": "0.01", "payment_date": "2025-01-01T10:00:00+01:00", "payment_method": "bank_transfer"}),
        ),
    ];
    for body in ok {
        let t = create(&app, &token, body).await;
        if t["transaction_id"] == "V-3" {
            assert_eq!(t["payment_date"], "2025-01-01T09:00:00.000Z", "stored in UTC");
        }
    }
    assert_eq!(ids(&app.send("GET", TRANSACTIONS, Some(&token), None).await).len(), 3);
}

// ---------------------------------------------------------------- the state machine

#[tokio::test]
async fn the_status_state_machine_allows_its_transitions_and_refuses_the_others() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let c = create_contact(&app, &token).await;
    let transition = |t: &Value, status: &str| {
        let (app, token, u) = (&app, token.clone(), url(t));
        let status = status.to_string();
        async move { app.send("PATCH", &u, Some(&token), Some(json!({"status": status}))).await }
    };
    let refused = |answer: Answer| {
        let problem = answer.problem(409, "INVALID_STATUS_TRANSITION").clone();
        assert_eq!(problem["errors"][0]["field"], "status");
    };

    // pending -> processing -> completed, and nothing back.
    let t = create(&app, &token, tx(&c, "SM-1", "payment", "10")).await;
    assert_eq!(transition(&t, "processing").await.status, 200);
    refused(transition(&t, "pending").await);
    assert_eq!(transition(&t, "completed").await.status, 200);
    for status in ["pending", "processing", "failed", "cancelled"] {
        refused(transition(&t, status).await);
    }
    // refunded is reached by refunds only.
    let by_hand = transition(&t, "refunded").await;
    assert!(
        by_hand.problem(409, "INVALID_STATUS_TRANSITION")["errors"][0]["message"].as_str().unwrap().contains("/refund")
    );
    assert_eq!(transition(&t, "completed").await.status, 200, "staying put is allowed");

    // failed and cancelled are final.
    for (n, end) in ["failed", "cancelled"].into_iter().enumerate() {
        let t = create(&app, &token, tx(&c, &format!("SM-END-{n}"), "fee", "5")).await;
        assert_eq!(transition(&t, end).await.status, 200);
        for status in ["pending", "processing", "completed", "refunded"] {
            refused(transition(&t, status).await);
        }
        assert_eq!(get(&app, &token, &t).await["status"], end);
    }
    // pending -> completed directly, processing -> failed, pending -> cancelled.
    let direct = create(&app, &token, tx(&c, "SM-2", "charge", "5")).await;
    assert_eq!(transition(&direct, "completed").await.status, 200);
    let failing = create(&app, &token, tx(&c, "SM-3", "charge", "5")).await;
    assert_eq!(transition(&failing, "processing").await.status, 200);
    assert_eq!(transition(&failing, "failed").await.status, 200);
}

#[tokio::test]
async fn a_completed_transaction_cannot_change_its_amount_currency_tax_type_or_contact() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let t = completed_payment(&app, &token, "100.00").await;
    let other_contact = create_contact(&app, &token).await;
    for (field, value) in [
        ("amount", json!("99.99")),
        ("currency", json!("USD")),
        ("tax_amount", json!("1.00")),
        ("contact_id", json!(other_contact)),
        ("transaction_type", json!("charge")),
    ] {
        let answer = app.send("PATCH", &url(&t), Some(&token), Some(json!({ field: value }))).await;
        let problem = answer.problem(409, "TRANSACTION_LOCKED");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        assert_eq!(problem["errors"][0]["code"], "locked");
    }
    // A PUT that changes the amount is refused the same way.
    let mut put = tx(t["contact_id"].as_str().unwrap(), t["transaction_id"].as_str().unwrap(), "payment", "1.00");
    put["status"] = json!("completed");
    app.send("PUT", &url(&t), Some(&token), Some(put)).await.problem(409, "TRANSACTION_LOCKED");
    // Paperwork may still be updated.
    let receipt =
        app.send("PATCH", &url(&t), Some(&token), Some(json!({"receipt_sent": true, "notes": "sent by mail"}))).await;
    assert_eq!(receipt.status, 200, "{}", receipt.body);
    let now = get(&app, &token, &t).await;
    assert_eq!(now["amount"], "100.00");
    assert_eq!(now["currency"], "EUR");
    assert_eq!(now["receipt_sent"], true);
    assert_eq!(now["version"], 2);
    // Before completion, the amount could still be corrected.
    let pending = create(&app, &token, tx(&other_contact, "FIX-1", "charge", "10")).await;
    assert_eq!(app.send("PATCH", &url(&pending), Some(&token), Some(json!({"amount": "12.00"}))).await.status, 200);
}

// ---------------------------------------------------------------- refunds

#[tokio::test]
async fn a_full_refund_is_a_new_transaction_and_moves_the_original_to_refunded() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let contact_id = create_contact(&app, &token).await;
    let mut body = tx(&contact_id, "ORIG-1", "payment", "120.50");
    body["status"] = json!("completed");
    body["currency"] = json!("CHF");
    body["payment_method"] = json!("card");
    body["invoice_number"] = json!("INV-77");
    let original = create(&app, &token, body).await;
    assert_eq!(original["refundable_amount"], "120.50");

    let answer = refund(&app, &token, &original, None).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let r = &answer.body;
    assert_eq!(answer.header("location"), Some(url(r).as_str()));
    assert_ne!(r["id"], original["id"]);
    assert_eq!(r["transaction_type"], "refund");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["amount"], "120.50", "no amount: the whole remainder");
    assert_eq!(r["currency"], "CHF");
    assert_eq!(r["contact_id"], contact_id);
    assert_eq!(r["refunded_transaction_id"], original["id"]);
    assert_eq!(r["payment_method"], "card");
    assert_eq!(r["invoice_number"], "INV-77");
    assert!(r["payment_date"].is_string());
    assert!(r["transaction_id"].as_str().unwrap().starts_with("RF-"));
    assert_eq!(r["refundable_amount"], "0.00");

    let after = get(&app, &token, &original).await;
    assert_eq!(after["status"], "refunded");
    assert_eq!(after["refunded_amount"], "120.50");
    assert_eq!(after["refundable_amount"], "0.00");
    assert_eq!(after["version"], 2);
    assert_eq!(after["amount"], "120.50");

    // A refunded transaction cannot be refunded again, nor moved anywhere.
    refund(&app, &token, &original, Some(json!({"amount": "1.00"}))).await.problem(409, "NOT_REFUNDABLE");
    app.send("PATCH", &url(&original), Some(&token), Some(json!({"status": "completed"})))
        .await
        .problem(409, "INVALID_STATUS_TRANSITION");
    // Its refunded total cannot be forged by a write.
    let forged =
        app.send("PATCH", &url(&original), Some(&token), Some(json!({"refunded_amount": "0.00", "notes": "x"}))).await;
    assert_eq!(forged.status, 200, "{}", forged.body);
    assert_eq!(forged.body["refunded_amount"], "120.50");
    // Both are listed: the refund under its type, both under the invoice.
    let refunds = app.send("GET", &format!("{TRANSACTIONS}?transaction_type=refund"), Some(&token), None).await;
    assert_eq!(ids(&refunds), [id(r)]);
    let invoice = app.send("GET", &format!("{TRANSACTIONS}?invoice_number=inv-77"), Some(&token), None).await;
    assert_eq!(ids(&invoice), [id(r), id(&original)]);
    let refunded = app.send("GET", &format!("{TRANSACTIONS}?status=refunded"), Some(&token), None).await;
    assert_eq!(ids(&refunded), [id(&original)]);
}

#[tokio::test]
async fn partial_refunds_add_up_exactly_and_never_exceed_the_amount() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let original = completed_payment(&app, &token, "0.30").await;

    let first = refund(&app, &token, &original, Some(json!({"amount": "0.10", "description": "overcharge"}))).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["description"], "overcharge");
    let mid = get(&app, &token, &original).await;
    assert_eq!(mid["status"], "completed", "partly refunded stays completed");
    assert_eq!(mid["refunded_amount"], "0.10");
    assert_eq!(mid["refundable_amount"], "0.20");

    let over = refund(&app, &token, &original, Some(json!({"amount": "0.21"}))).await;
    let problem = over.problem(422, "REFUND_EXCEEDS_REMAINDER");
    assert_eq!(problem["errors"][0]["field"], "amount");
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("0.20"));
    for bad in [json!({"amount": "0"}), json!({"amount": "-0.10"}), json!({"amount": 0.1})] {
        refund(&app, &token, &original, Some(bad)).await.problem(422, "VALIDATION_FAILED");
    }
    let unknown = refund(&app, &token, &original, Some(json!({"currency": "USD", "status": "pending"}))).await;
    assert_eq!(unknown.problem(422, "VALIDATION_FAILED")["errors"][0]["code"], "unknown_field");

    let second = refund(&app, &token, &original, Some(json!({"amount": "0.20", "transaction_id": "RF-MINE"}))).await;
    assert_eq!(second.status, 201, "{}", second.body);
    assert_eq!(second.body["transaction_id"], "RF-MINE");
    let done = get(&app, &token, &original).await;
    assert_eq!(done["refunded_amount"], "0.30", "0.10 + 0.20 is exactly 0.30");
    assert_eq!(done["status"], "refunded");
    assert_eq!(done["version"], 3);
    // A refund's transaction_id is unique like any other.
    let again = completed_payment(&app, &token, "5.00").await;
    let dup = refund(&app, &token, &again, Some(json!({"transaction_id": "RF-MINE"}))).await;
    assert_eq!(dup.problem(409, "UNIQUE_CONFLICT")["errors"][0]["field"], "transaction_id");
    assert_eq!(get(&app, &token, &again).await["refunded_amount"], "0.00", "nothing half-written");
}

#[tokio::test]
async fn only_a_completed_payment_charge_fee_or_subscription_can_be_refunded() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let c = create_contact(&app, &token).await;
    for (n, status) in ["pending", "processing", "failed", "cancelled"].into_iter().enumerate() {
        let mut body = tx(&c, &format!("NR-{n}"), "payment", "10");
        body["status"] = json!(status);
        let t = create(&app, &token, body).await;
        refund(&app, &token, &t, None).await.problem(409, "NOT_REFUNDABLE");
    }
    let mut adjustment = tx(&c, "NR-ADJ", "adjustment", "-10");
    adjustment["status"] = json!("completed");
    let adjustment = create(&app, &token, adjustment).await;
    refund(&app, &token, &adjustment, None).await.problem(409, "NOT_REFUNDABLE");
    for (n, kind) in ["charge", "fee", "subscription"].into_iter().enumerate() {
        let mut body = tx(&c, &format!("OK-{n}"), kind, "10");
        body["status"] = json!("completed");
        let t = create(&app, &token, body).await;
        let r = refund(&app, &token, &t, None).await;
        assert_eq!(r.status, 201, "{kind}: {}", r.body);
        // A refund itself is not refundable, and stays completed.
        refund(&app, &token, &r.body, None).await.problem(409, "NOT_REFUNDABLE");
        app.send("PATCH", &url(&r.body), Some(&token), Some(json!({"status": "refunded"})))
            .await
            .problem(409, "INVALID_STATUS_TRANSITION");
        app.send("PATCH", &url(&r.body), Some(&token), Some(json!({"amount": "1.00"})))
            .await
            .problem(409, "TRANSACTION_LOCKED");
    }
}

#[tokio::test]
async fn concurrent_refunds_cannot_refund_more_than_the_amount() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let original = completed_payment(&app, &token, "100.00").await;
    // Each alone fits; any two together would not.
    let attempts = (0..5).map(|_| refund(&app, &token, &original, Some(json!({"amount": "60.00"}))));
    let answers = futures_util::future::join_all(attempts).await;
    let winners: Vec<&Answer> = answers.iter().filter(|a| a.status == 201).collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    // A loser that read the original before the winner committed is refused by the version
    // check; one that read it after is refused by the remainder check.
    for loser in answers.iter().filter(|a| a.status != 201) {
        let code = loser.body["code"].as_str().unwrap();
        assert!(
            ["VERSION_CONFLICT", "CONCURRENT_MODIFICATION", "REFUND_EXCEEDS_REMAINDER"].contains(&code),
            "{}",
            loser.body
        );
    }
    let after = get(&app, &token, &original).await;
    assert_eq!(after["refunded_amount"], "60.00");
    assert_eq!(after["status"], "completed");
    let refunds = app.send("GET", &format!("{TRANSACTIONS}?transaction_type=refund"), Some(&token), None).await;
    assert_eq!(ids(&refunds).len(), 1, "no refund record without its original's update");

    // Smaller concurrent refunds: whatever wins, the total is exactly the sum of the winners.
    let attempts = (0..4).map(|_| refund(&app, &token, &original, Some(json!({"amount": "10.00"}))));
    let answers = futures_util::future::join_all(attempts).await;
    let won = answers.iter().filter(|a| a.status == 201).count();
    assert!(won >= 1, "{answers:?}");
    assert!(answers.iter().all(|a| a.status == 201 || a.status == 409));
    let after = get(&app, &token, &original).await;
    assert_eq!(after["refunded_amount"], format!("{}.00", 60 + 10 * won));
    let refunds = app.send("GET", &format!("{TRANSACTIONS}?transaction_type=refund"), Some(&token), None).await;
    assert_eq!(ids(&refunds).len(), 1 + won);
}

#[tokio::test]
async fn a_refund_computed_from_a_stale_original_is_refused_by_the_originals_version_check() {
    use hub_transactions::Transaction;
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let token = app.token(&Who::member(org));
    let original = completed_payment(&app, &token, "100.00").await;
    let tenant = tenant(org);
    let original_id = Uuid::parse_str(&id(&original)).unwrap();
    // One refund reads the original, another commits meanwhile...
    let stale = app.services.store.get_live::<Transaction>(tenant.org, original_id).await.unwrap();
    assert_eq!(refund(&app, &token, &original, Some(json!({"amount": "60.00"}))).await.status, 201);
    // ...so the first, which still sees 100.00 refundable, cannot commit.
    let body = json!({"amount": "60.00"}).as_object().cloned().unwrap();
    let (late, next) = hub_transactions::plan_refund(&stale, &body, hub_shared::domain::Timestamp::now()).unwrap();
    let err = app.services.store.create_with(&tenant, late, None, vec![(&stale, next)]).await.unwrap_err();
    assert_eq!(err.code(), "VERSION_CONFLICT");
    let after = get(&app, &token, &original).await;
    assert_eq!(after["refunded_amount"], "60.00");
    let refunds = app.send("GET", &format!("{TRANSACTIONS}?transaction_type=refund"), Some(&token), None).await;
    assert_eq!(ids(&refunds).len(), 1, "the refused refund left no record");
}

#[tokio::test]
async fn a_retried_refund_with_the_same_idempotency_key_returns_the_first_refund() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let original = completed_payment(&app, &token, "40.00").await;
    let path = format!("{}/refund", url(&original));
    let headers = HashMap::from([
        ("authorization".to_string(), format!("Bearer {token}")),
        ("content-type".to_string(), "application/json".to_string()),
        ("idempotency-key".to_string(), "refund-once".to_string()),
    ]);
    // The whole remainder: after the first, the original is refunded, and the retry must
    // still get the first refund rather than NOT_REFUNDABLE.
    let first = app.send_raw("POST", &path, headers.clone(), Some("{}".into())).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let second = app.send_raw("POST", &path, headers.clone(), Some("{}".into())).await;
    assert_eq!(second.status, 201, "{}", second.body);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.body["id"], first.body["id"]);
    let after = get(&app, &token, &original).await;
    assert_eq!(after["refunded_amount"], "40.00");
    assert_eq!(after["version"], 2);
    let other = app.send_raw("POST", &path, headers, Some(json!({"amount": "1.00"}).to_string())).await;
    other.problem(409, "IDEMPOTENCY_KEY_REUSED");

    // A partial refund retried while the original is still refundable is not applied twice.
    let partial = completed_payment(&app, &token, "40.00").await;
    let path = format!("{}/refund", url(&partial));
    let headers = HashMap::from([
        ("authorization".to_string(), format!("Bearer {token}")),
        ("content-type".to_string(), "application/json".to_string()),
        ("idempotency-key".to_string(), "refund-part".to_string()),
    ]);
    let body = json!({"amount": "15.00"}).to_string();
    let a = app.send_raw("POST", &path, headers.clone(), Some(body.clone())).await;
    let b = app.send_raw("POST", &path, headers, Some(body)).await;
    assert_eq!((a.status, b.status), (201, 201));
    assert_eq!(a.body["id"], b.body["id"]);
    assert_eq!(get(&app, &token, &partial).await["refunded_amount"], "15.00");
}

#[tokio::test]
async fn a_refund_against_a_stale_version_of_the_original_gets_409() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let original = completed_payment(&app, &token, "10.00").await;
    app.send("PATCH", &url(&original), Some(&token), Some(json!({"notes": "edited"}))).await;
    refund(&app, &token, &original, Some(json!({"version": 1}))).await.problem(409, "VERSION_CONFLICT");
    let headers = HashMap::from([
        ("authorization".to_string(), format!("Bearer {token}")),
        ("if-match".to_string(), "\"1\"".to_string()),
    ]);
    app.send_raw("POST", &format!("{}/refund", url(&original)), headers, None).await.problem(409, "VERSION_CONFLICT");
    assert_eq!(get(&app, &token, &original).await["refunded_amount"], "0.00");
    let fresh = refund(&app, &token, &original, Some(json!({"version": 2, "amount": "1.00"}))).await;
    assert_eq!(fresh.status, 201, "{}", fresh.body);
}

// ---------------------------------------------------------------- stale versions

#[tokio::test]
async fn a_stale_version_gets_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let c = create_contact(&app, &token).await;
    let t = create(&app, &token, tx(&c, "VER-1", "charge", "10")).await;
    assert_eq!(app.send("PATCH", &url(&t), Some(&token), Some(json!({"notes": "a", "version": 1}))).await.status, 200);
    app.send("PATCH", &url(&t), Some(&token), Some(json!({"notes": "lost", "version": 1})))
        .await
        .problem(409, "VERSION_CONFLICT");
    let mut put = tx(&c, "VER-1", "charge", "11");
    put["version"] = json!(1);
    app.send("PUT", &url(&t), Some(&token), Some(put)).await.problem(409, "VERSION_CONFLICT");
    let headers = HashMap::from([
        ("authorization".to_string(), format!("Bearer {token}")),
        ("if-match".to_string(), "\"1\"".to_string()),
    ]);
    app.send_raw("DELETE", &url(&t), headers, None).await.problem(409, "VERSION_CONFLICT");
    let now = get(&app, &token, &t).await;
    assert_eq!(now["notes"], "a");
    assert_eq!(now["amount"], "10.00");
    assert_eq!(now["version"], 2);
}

// ---------------------------------------------------------------- filters

#[tokio::test]
async fn filters_list_by_status_type_contact_invoice_and_payment_date_range() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let (alice, bob) = (create_contact(&app, &token).await, create_contact(&app, &token).await);
    let make = |contact: &str, tid: &str, kind: &str, status: &str, paid: Option<&str>, invoice: &str| {
        let mut body = tx(contact, tid, kind, "10.00");
        body["status"] = json!(status);
        body["invoice_number"] = json!(invoice);
        if let Some(paid) = paid {
            body["payment_date"] = json!(paid);
        }
        body
    };
    let jan =
        create(&app, &token, make(&alice, "F1", "payment", "completed", Some("2025-01-15T10:00:00Z"), "INV-A")).await;
    let feb_start =
        create(&app, &token, make(&alice, "F2", "charge", "completed", Some("2025-02-01T00:00:00Z"), "")).await;
    let feb = create(&app, &token, make(&bob, "F3", "payment", "pending", Some("2025-02-10T10:00:00Z"), "inv-a")).await;
    let march = create(&app, &token, make(&alice, "F4", "fee", "failed", Some("2025-03-01T00:00:00Z"), "")).await;
    let unpaid = create(&app, &token, make(&alice, "F5", "payment", "pending", None, "")).await;
    let list = |query: &str| {
        let (app, token) = (&app, token.clone());
        let path = format!("{TRANSACTIONS}?{query}");
        async move {
            let answer = app.send("GET", &path, Some(&token), None).await;
            assert_eq!(answer.status, 200, "{path}: {}", answer.body);
            ids(&answer)
        }
    };
    // Without a range: newest created first.
    assert_eq!(list("").await, [id(&unpaid), id(&march), id(&feb), id(&feb_start), id(&jan)]);
    assert_eq!(list("status=completed").await, [id(&feb_start), id(&jan)]);
    assert_eq!(list("status=pending").await, [id(&unpaid), id(&feb)]);
    assert_eq!(list("transaction_type=payment").await, [id(&unpaid), id(&feb), id(&jan)]);
    assert_eq!(list(&format!("contact_id={bob}")).await, [id(&feb)]);
    assert_eq!(list("invoice_number=INV-A").await, [id(&feb), id(&jan)], "invoice numbers match case-insensitively");
    assert_eq!(list(&format!("contact_id={alice}&transaction_type=payment")).await, [id(&unpaid), id(&jan)]);
    assert_eq!(list("status=pending&transaction_type=payment&invoice_number=inv-a").await, [id(&feb)]);
    // The range is [from, to), newest payment first; unpaid transactions are not in it.
    assert_eq!(list("payment_date_from=2025-01-01").await, [id(&march), id(&feb), id(&feb_start), id(&jan)]);
    assert_eq!(list("payment_date_from=2025-02-01&payment_date_to=2025-03-01").await, [id(&feb), id(&feb_start)]);
    assert_eq!(list("payment_date_to=2025-02-01T00:00:00Z").await, [id(&jan)]);
    assert_eq!(
        list("payment_date_from=2025-02-01T01:00:00%2B01:00&payment_date_to=2025-02-01").await,
        Vec::<String>::new()
    );
    // It combines with status, type, contact and invoice.
    assert_eq!(list(&format!("contact_id={alice}&payment_date_from=2025-02-01")).await, [id(&march), id(&feb_start)]);
    assert_eq!(list("status=completed&payment_date_from=2025-01-20").await, [id(&feb_start)]);
    assert_eq!(list("transaction_type=payment&payment_date_to=2025-12-31").await, [id(&feb), id(&jan)]);
    assert_eq!(list("invoice_number=inv-a&payment_date_from=2025-02-01").await, [id(&feb)]);

    // A status change moves the transaction between lists.
    app.send("PATCH", &url(&feb), Some(&token), Some(json!({"status": "completed"}))).await;
    assert_eq!(list("status=pending").await, [id(&unpaid)]);
    assert_eq!(list("status=completed&payment_date_from=2025-02-01").await, [id(&feb), id(&feb_start)]);

    // Pages of a ranged list follow their cursor, each transaction once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("payment_date_from=2025-01-01&page_size=2&cursor={}", enc(c)),
            None => "payment_date_from=2025-01-01&page_size=2".to_string(),
        };
        let page = app.send("GET", &format!("{TRANSACTIONS}?{query}"), Some(&token), None).await;
        assert_eq!(page.status, 200, "{}", page.body);
        seen.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, [id(&march), id(&feb), id(&feb_start), id(&jan)]);
    // A cursor of one range does not work for another.
    let page =
        app.send("GET", &format!("{TRANSACTIONS}?payment_date_from=2025-01-01&page_size=1"), Some(&token), None).await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    app.send(
        "GET",
        &format!("{TRANSACTIONS}?payment_date_from=2024-01-01&page_size=1&cursor={}", enc(cursor)),
        Some(&token),
        None,
    )
    .await
    .problem(400, "INVALID_CURSOR");
}

#[tokio::test]
async fn bad_filters_are_400_problems() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    for bad in [
        "status=lost",
        "transaction_type=gift",
        "contact_id=nope",
        "payment_date_from=yesterday",
        "payment_date_to=2025-13-01",
        "payment_date_from=2025-02-01&payment_date_to=2025-01-01",
        "invoice_number=",
        "amount=10",
        "page_size=0",
    ] {
        let answer = app.send("GET", &format!("{TRANSACTIONS}?{bad}"), Some(&token), None).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert_eq!(answer.header("content-type"), Some("application/problem+json"));
    }
}

#[tokio::test]
async fn a_filtered_page_reads_at_most_one_item_more_than_it_returns() {
    use hub_shared::store::Entity;
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let token = app.token(&Who::member(org));
    let c = create_contact(&app, &token).await;
    for i in 0..12 {
        let mut body = tx(&c, &format!("P-{i:02}"), "payment", "1.00");
        body["payment_date"] = json!(format!("2025-01-{:02}T10:00:00Z", i + 1));
        create(&app, &token, body).await;
    }
    let tenant = tenant(org);
    for params in [
        vec![("contact_id", c.clone()), ("payment_date_from", "2025-01-01".to_string())],
        vec![("status", "pending".to_string())],
        vec![("payment_date_to", "2026-01-01".to_string())],
    ] {
        let params: HashMap<String, String> = params.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let spec = hub_transactions::Transaction::list_spec(&params, &tenant).unwrap();
        let page = app.services.store.list::<hub_transactions::Transaction>(tenant.org, &spec, 5, None).await.unwrap();
        assert_eq!(page.items.len(), 5, "{params:?}");
        assert_eq!(page.scanned, 6, "{params:?}: a page of 5 reads 6 items");
    }
}

// ---------------------------------------------------------------- roles

#[tokio::test]
async fn a_viewer_reads_but_cannot_write_or_refund() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let member = app.token(&Who::member(org));
    let viewer = app.token(&Who::viewer(org));
    let t = completed_payment(&app, &member, "10.00").await;
    assert_eq!(app.send("GET", &url(&t), Some(&viewer), None).await.status, 200);
    assert_eq!(ids(&app.send("GET", TRANSACTIONS, Some(&viewer), None).await).len(), 1);
    let c = t["contact_id"].as_str().unwrap();
    app.send("POST", TRANSACTIONS, Some(&viewer), Some(tx(c, "V", "payment", "1"))).await.problem(403, "FORBIDDEN");
    app.send("PUT", &url(&t), Some(&viewer), Some(tx(c, "V", "payment", "1"))).await.problem(403, "FORBIDDEN");
    app.send("PATCH", &url(&t), Some(&viewer), Some(json!({"notes": "x"}))).await.problem(403, "FORBIDDEN");
    app.send("DELETE", &url(&t), Some(&viewer), None).await.problem(403, "FORBIDDEN");
    refund(&app, &viewer, &t, None).await.problem(403, "FORBIDDEN");
    app.send("GET", &format!("{TRANSACTIONS}?deleted=true"), Some(&member), None).await.problem(403, "FORBIDDEN");
    let now = get(&app, &member, &t).await;
    assert_eq!(now["version"], 1);
    assert_eq!(now["refunded_amount"], "0.00");
}

#[tokio::test]
async fn a_token_without_an_organization_gets_403_on_every_transaction_endpoint() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who { user: Uuid::new_v4(), org: None, roles: vec!["admin".into()] });
    let id = Uuid::new_v4();
    let body = tx(&Uuid::new_v4().to_string(), "X", "payment", "1");
    for (method, path, body) in [
        ("GET", TRANSACTIONS.to_string(), None),
        ("POST", TRANSACTIONS.to_string(), Some(body.clone())),
        ("GET", format!("{TRANSACTIONS}/{id}"), None),
        ("PUT", format!("{TRANSACTIONS}/{id}"), Some(body)),
        ("PATCH", format!("{TRANSACTIONS}/{id}"), Some(json!({}))),
        ("DELETE", format!("{TRANSACTIONS}/{id}"), None),
        ("POST", format!("{TRANSACTIONS}/{id}/restore"), None),
        ("POST", format!("{TRANSACTIONS}/{id}/refund"), None),
    ] {
        app.send(method, &path, Some(&token), body).await.problem(403, "NO_ORGANIZATION");
    }
    app.send("GET", TRANSACTIONS, None, None).await.problem(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn completed_and_refunded_transactions_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let contact_id = create_contact(&app, &admin).await;
    let mut body = tx(&contact_id, "BOOKED-1", "payment", "40.00");
    body["status"] = json!("completed");
    let t = create(&app, &admin, body).await;
    app.send("DELETE", &url(&t), Some(&admin), None).await.problem(409, "TRANSACTION_LOCKED");
    let refund = app.send("POST", &format!("{}/refund", url(&t)), Some(&admin), Some(json!({}))).await;
    assert_eq!(refund.status, 201, "{}", refund.body);
    app.send("DELETE", &url(&t), Some(&admin), None).await.problem(409, "TRANSACTION_LOCKED");
    app.send("DELETE", &url(&refund.body), Some(&admin), None).await.problem(409, "TRANSACTION_LOCKED");
    assert_eq!(get(&app, &admin, &t).await["is_deleted"], false);
}
