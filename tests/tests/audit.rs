//! The audit trail from the stream, black-box: real writes through the real handlers land in
//! moto's table, its stream is read with the real DynamoDB Streams API (the local relay's
//! reader, which builds Lambda's event shape), and the batches are fed to the `audit-stream`
//! handler against the test's own audit table, with the real SDK.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::types::AttributeValue;
use hub_audit::stream::{self, BatchOutcome};
use hub_audit::{AuditWriter, ERASED};
use hub_infra::relay::sequence_number;
use hub_tests::{TestApp, Who, client_failing_requests_mentioning, contact};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

const REGION: &str = "eu-west-3";

fn event(records: &[Value]) -> Value {
    json!({ "Records": records })
}

async fn audit_items(app: &TestApp) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let out = app.client.scan().table_name(&app.audit_table).send().await.unwrap();
    out.items
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.get("item_type").and_then(|t| t.as_s().ok()).is_some_and(|t| t == "audit"))
        .collect()
}

async fn create_contact(app: &TestApp, token: &str, body: Value) -> String {
    let created = app.send("POST", "/api/business/contacts", Some(token), Some(body)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn each_write_kind_leaves_exactly_one_audit_record_with_its_changes() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = Who::admin(org);
    let token = app.token(&admin);
    let mut body = contact("Jeanne", "Dupont");
    body["city"] = json!("Nantes");
    let id = create_contact(&app, &token, body).await;
    let url = format!("/api/business/contacts/{id}");
    let patched = app
        .send(
            "PATCH",
            &url,
            Some(&token),
            Some(json!({"city": "Lyon", "consent_given": true, "consent_version": "2025-01"})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(app.send("DELETE", &url, Some(&token), None).await.status, 200);
    assert_eq!(app.send("POST", &format!("{url}/restore"), Some(&token), None).await.status, 200);
    // Only retention removes records; do what it will do.
    app.client
        .delete_item()
        .table_name(&app.table)
        .key("pk", AttributeValue::S(format!("ORG#{org}")))
        .key("sk", AttributeValue::S(format!("CONTACT#{id}")))
        .send()
        .await
        .unwrap();

    let records = app.stream_records().await;
    let outcome = stream::handle(&app.audit_writer(), &event(&records)).await.unwrap();
    assert_eq!(outcome.failed_at, None);
    assert_eq!(outcome.written, 5, "one per write of the record: {outcome:?}");
    assert_eq!(outcome.written + outcome.skipped, records.len(), "list entries and markers are not audited");
    assert!(outcome.response().batch_item_failures.is_empty());

    let trail = app.audit_reader().for_resource(org, "CONTACT", &id, 100).await.unwrap();
    let actions: Vec<&str> = trail.iter().rev().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["create", "update", "delete", "restore", "purge"]);
    let by_action = |a: &str| trail.iter().find(|r| r["action"] == a).unwrap();

    let create = by_action("create");
    assert_eq!(create["actor_id"], admin.user.to_string());
    assert_eq!(create["organization_id"], org.to_string());
    assert_eq!(create["resource_type"], "CONTACT");
    assert_eq!(create["risk"], "low");
    assert_eq!(create["version"], 1);
    let created_fields: Vec<&str> =
        create["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert!(created_fields.contains(&"first_name") && created_fields.contains(&"city"), "{created_fields:?}");
    assert!(!created_fields.contains(&"version") && !created_fields.contains(&"updated_at"), "{created_fields:?}");

    let update = by_action("update");
    let changes = update["changes"].as_array().unwrap();
    let fields: Vec<&str> = changes.iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["city", "consent_date", "consent_given", "consent_version"], "only what changed: {update}");
    assert_eq!(changes[0], json!({"field": "city", "personal": true, "from": "Nantes", "to": "Lyon"}));
    assert_eq!(changes[2], json!({"field": "consent_given", "personal": false, "from": false, "to": true}));
    assert_eq!(update["risk"], "medium", "a consent change");

    let delete = by_action("delete");
    assert_eq!(
        (delete["risk"].as_str(), delete["actor_id"].as_str()),
        (Some("medium"), Some(admin.user.to_string().as_str()))
    );
    assert_eq!(delete["changes"], json!([]));
    assert_eq!(by_action("restore")["risk"], "medium");
    let purge = by_action("purge");
    assert_eq!((purge["risk"].as_str(), purge["actor_id"].as_str()), (Some("high"), Some("system")));
    assert_eq!(purge["changes"], json!([]), "a purge keeps no copy of what it removed");
    assert_eq!(purge["source"], "stream");
    assert!(purge["event_id"].as_str().is_some_and(|e| !e.is_empty()));

    // The organization's trail and the indexes agree; another organization sees nothing.
    assert_eq!(app.audit_reader().for_organization(org, 100).await.unwrap().len(), 5);
    assert!(app.audit_reader().for_organization(Uuid::new_v4(), 100).await.unwrap().is_empty());
    assert!(app.audit_reader().for_resource(Uuid::new_v4(), "CONTACT", &id, 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn replaying_a_batch_adds_nothing() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    for name in ["Alice", "Bruno", "Chloé"] {
        create_contact(&app, &token, contact(name, "Martin")).await;
    }
    let batch = event(&app.stream_records().await);
    let first = stream::handle(&app.audit_writer(), &batch).await.unwrap();
    assert_eq!(first.written, 3);
    let again = stream::handle(&app.audit_writer(), &batch).await.unwrap();
    assert_eq!((again.written, again.duplicates, again.failed_at), (0, 3, None));
    assert_eq!(audit_items(&app).await.len(), 3);
}

#[tokio::test]
async fn a_failing_record_is_reported_and_a_retry_from_it_completes_without_duplicates() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    for name in ["Alice", "Bruno", "Chloé"] {
        create_contact(&app, &token, contact(name, "Martin")).await;
    }
    let records: Vec<Value> = app
        .stream_records()
        .await
        .into_iter()
        .filter(|r| r.pointer("/dynamodb/NewImage/item_type/S").and_then(Value::as_str) == Some("record"))
        .collect();
    assert_eq!(records.len(), 3);
    let second = &records[1];
    let armed = Arc::new(Mutex::new(true));
    let failing = {
        let marker = second["eventID"].as_str().unwrap();
        AuditWriter::new(client_failing_requests_mentioning(&app.client, marker, &armed), &app.audit_table)
    };

    let outcome = stream::handle(&failing, &event(&records)).await.unwrap();
    assert_eq!(outcome.written, 1, "the first record is audited: {outcome:?}");
    assert_eq!(outcome.failed_at.as_deref(), sequence_number(second), "the failed record is reported");
    let response = serde_json::to_value(outcome.response()).unwrap();
    assert_eq!(response, json!({"batchItemFailures": [{"itemIdentifier": sequence_number(second).unwrap()}]}));
    assert_eq!(audit_items(&app).await.len(), 1, "nothing after the failed record was audited (order is kept)");

    // Lambda retries from the reported record; the table answers again.
    *armed.lock().unwrap() = false;
    let retry = stream::handle(&failing, &event(&records[1..])).await.unwrap();
    assert_eq!((retry.written, retry.failed_at.clone()), (2, None), "{retry:?}");
    // And a whole-batch redelivery still adds nothing.
    let replay = stream::handle(&failing, &event(&records)).await.unwrap();
    assert_eq!((replay.written, replay.duplicates), (0, 3));
    assert_eq!(audit_items(&app).await.len(), 3);
}

#[tokio::test]
async fn a_malformed_record_is_reported_by_its_sequence_number() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let good = lambda_event_record("INSERT", "100", None, Some(contact_image(org, Uuid::new_v4(), "Zoé", 1)));
    let mut broken_image = contact_image(org, Uuid::new_v4(), "Yann", 1);
    broken_image.as_object_mut().unwrap().remove("entity");
    let broken = lambda_event_record("INSERT", "101", None, Some(broken_image));
    let after = lambda_event_record("INSERT", "102", None, Some(contact_image(org, Uuid::new_v4(), "Xavier", 1)));
    let outcome = stream::handle(&app.audit_writer(), &event(&[good, broken, after])).await.unwrap();
    assert_eq!((outcome.written, outcome.failed_at.as_deref()), (1, Some("101")));

    // A record without even a sequence number fails the invocation: Lambda retries and bisects.
    let nameless = json!({"eventID": "x", "eventName": "INSERT"});
    assert!(stream::handle(&app.audit_writer(), &event(&[nameless])).await.is_err());
}

fn contact_image(org: Uuid, id: Uuid, first_name: &str, version: u64) -> Value {
    let user = Uuid::new_v4().to_string();
    json!({
        "pk": {"S": format!("ORG#{org}")}, "sk": {"S": format!("CONTACT#{id}")},
        "item_type": {"S": "record"}, "entity": {"S": "CONTACT"},
        "id": {"S": id.to_string()}, "organization_id": {"S": org.to_string()},
        "created_by": {"S": user}, "updated_by": {"S": user},
        "created_at": {"S": "2026-11-24T08:00:00.000Z"}, "updated_at": {"S": "2026-11-24T08:00:00.000Z"},
        "is_deleted": {"BOOL": false}, "version": {"N": version.to_string()},
        "first_name": {"S": first_name}, "last_name": {"S": "Leroy"}, "email": {"S": format!("{first_name}@example.fr")},
        "contact_type": {"S": "patient"}
    })
}

/// One stream record as Lambda sends it (the shape of AWS's documented example event).
fn lambda_event_record(name: &str, seq: &str, old: Option<Value>, new: Option<Value>) -> Value {
    let image = new.as_ref().or(old.as_ref()).unwrap();
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": 1_795_510_800,
        "Keys": {"pk": image["pk"], "sk": image["sk"]},
        "SequenceNumber": seq,
        "SizeBytes": 512,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    });
    if let Some(new) = new {
        dynamodb["NewImage"] = new;
    }
    if let Some(old) = old {
        dynamodb["OldImage"] = old;
    }
    json!({
        "eventID": Uuid::new_v4().simple().to_string(),
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": dynamodb,
        "eventSourceARN": "arn:aws:dynamodb:eu-west-3:123456789012:table/hub/stream/2026-11-24T00:00:00.000"
    })
}

#[tokio::test]
async fn personal_values_are_sealed_and_become_unreadable_once_the_key_is_gone() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let token = app.token(&Who::member(org));
    let mut body = contact("Héloïse", "Vasseur");
    body["email"] = json!("heloise.vasseur@example.fr");
    body["medical_record_number"] = json!("MRN-4471");
    let id = create_contact(&app, &token, body).await;
    let outcome = stream::handle(&app.audit_writer(), &event(&app.stream_records().await)).await.unwrap();
    assert_eq!(outcome.written, 1);

    // At rest: no personal value in clear anywhere in the audit record.
    let items = audit_items(&app).await;
    let stored = format!("{:?}", items[0]);
    for secret in ["Héloïse", "Vasseur", "heloise.vasseur", "MRN-4471"] {
        assert!(!stored.contains(secret), "{secret} is readable in the stored audit item");
    }
    assert!(stored.contains("patient"), "non-personal values stay in clear");

    // With the key: readable.
    let trail = app.audit_reader().for_resource(org, "CONTACT", &id, 10).await.unwrap();
    let value = |trail: &[Value], field: &str| {
        trail[0]["changes"].as_array().unwrap().iter().find(|c| c["field"] == field).unwrap()["to"].clone()
    };
    assert_eq!(value(&trail, "last_name"), "Vasseur");
    assert_eq!(value(&trail, "contact_type"), "patient");

    // The key destroyed (what anonymization does): the same record now reads as erased, and
    // nothing else in it changed.
    app.client
        .delete_item()
        .table_name(&app.audit_table)
        .key("pk", AttributeValue::S(format!("KEY#{id}")))
        .key("sk", AttributeValue::S(format!("ORG#{org}")))
        .send()
        .await
        .unwrap();
    let erased = app.audit_reader().for_resource(org, "CONTACT", &id, 10).await.unwrap();
    assert_eq!(value(&erased, "last_name"), ERASED);
    assert_eq!(value(&erased, "email"), ERASED);
    assert_eq!(value(&erased, "contact_type"), "patient");
    assert_eq!(erased[0]["action"], "create");
    assert_eq!(audit_items(&app).await, items, "the audit record itself was not edited");

    // Erased for good: a later change of this person, written after the erasure, stores no
    // value of theirs (the tombstone stops a new key from being created).
    app.audit_writer().keys().erase(org, id.parse().unwrap()).await.unwrap();
    let url = format!("/api/business/contacts/{id}");
    assert_eq!(app.send("PATCH", &url, Some(&token), Some(json!({"city": "Rennes"}))).await.status, 200);
    let late = stream::handle(&app.audit_writer(), &event(&app.stream_records().await)).await.unwrap();
    assert_eq!((late.written, late.duplicates), (1, 1));
    let stored = format!("{:?}", audit_items(&app).await);
    assert!(!stored.contains("Rennes"));
    let trail = app.audit_reader().for_resource(org, "CONTACT", &id, 10).await.unwrap();
    assert_eq!(trail[0]["action"], "update");
    assert_eq!(value(&trail, "city"), ERASED);
}

#[tokio::test]
async fn records_about_a_person_are_sealed_under_that_persons_key_and_money_rates_high() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let (person, id, user) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let transaction = |amount: &str, notes: &str, version: u64| {
        json!({
            "pk": {"S": format!("ORG#{org}")}, "sk": {"S": format!("TRANSACTION#{id}")},
            "item_type": {"S": "record"}, "entity": {"S": "TRANSACTION"},
            "id": {"S": id.to_string()}, "organization_id": {"S": org.to_string()},
            "updated_by": {"S": user.to_string()}, "is_deleted": {"BOOL": false}, "version": {"N": version.to_string()},
            // Each write's own stamp orders the trail (the stream's time is coarse).
            "updated_at": {"S": format!("2026-11-24T10:00:0{version}.000Z")},
            "contact_id": {"S": person.to_string()}, "amount": {"S": amount}, "currency": {"S": "EUR"},
            "notes": {"S": notes}
        })
    };
    let records = [
        lambda_event_record("INSERT", "200", None, Some(transaction("80.00", "paid by card", 1))),
        lambda_event_record(
            "MODIFY",
            "201",
            Some(transaction("80.00", "paid by card", 1)),
            Some(transaction("120.00", "paid by card 4242", 2)),
        ),
    ];
    let outcome = stream::handle(&app.audit_writer(), &event(&records)).await.unwrap();
    assert_eq!(outcome.written, 2);
    let trail = app.audit_reader().for_resource(org, "TRANSACTION", &id.to_string(), 10).await.unwrap();
    assert_eq!(trail[0]["action"], "update");
    assert_eq!(trail[0]["risk"], "high", "an amount changed");
    assert_eq!(trail[1]["risk"], "medium", "any transaction change");
    assert_eq!(trail[0]["actor_id"], user.to_string());
    let changes = trail[0]["changes"].as_array().unwrap();
    assert_eq!(changes[0], json!({"field": "amount", "personal": false, "from": "80.00", "to": "120.00"}));
    assert_eq!(
        changes[1],
        json!({"field": "notes", "personal": true, "from": "paid by card", "to": "paid by card 4242"})
    );
    assert_eq!(trail[0]["subject_ids"], json!([person.to_string()]));
    // The key is the person's: erasing them erases the transaction's notes, not its amounts.
    app.audit_writer().keys().erase(org, person).await.unwrap();
    let erased = app.audit_reader().for_resource(org, "TRANSACTION", &id.to_string(), 10).await.unwrap();
    let changes = erased[0]["changes"].as_array().unwrap();
    assert_eq!(changes[0]["to"], "120.00");
    assert_eq!(changes[1]["to"], ERASED);
    let _: BatchOutcome = outcome;
}
