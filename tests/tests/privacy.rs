//! RGPD, black-box: consent history in the audit trail, erasure (`POST .../anonymize`) and the
//! retention run, through the real handlers against moto's DynamoDB, DynamoDB Streams and S3
//! with the real SDK. The stream is fed to the real `audit-stream` handler, as in audit.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_audit::ERASED;
use hub_privacy::{Erasure, Objects};
use hub_shared::domain::Date;
use hub_tests::{TestApp, Who, contact, enc, moto_sdk_config};
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

const CONTACTS: &str = "/api/business/contacts";

async fn audit_stream(app: &TestApp) {
    app.run_audit_stream().await;
}

/// The change records of a trail, newest first (reads leave access records there too).
fn changes_only(trail: &[Value]) -> Vec<&Value> {
    trail.iter().filter(|r| !["view", "export", "download"].contains(&r["action"].as_str().unwrap_or(""))).collect()
}

async fn erasure(app: &TestApp) -> Erasure {
    Erasure::new(app.audit_writer(), Objects::new(&moto_sdk_config(), &app.bucket))
}

/// Stores `n` versions of a document's file straight into the (versioned) bucket.
async fn store_file_versions(app: &TestApp, key: &str, n: usize) {
    let client = app.s3();
    for i in 0..n {
        let body = aws_sdk_s3::primitives::ByteStream::from(format!("scan of Vasseur, version {i}").into_bytes());
        client.put_object().bucket(&app.bucket).key(key).body(body).send().await.unwrap();
    }
}

/// Every version and delete marker still stored under `key`.
async fn file_versions(app: &TestApp, key: &str) -> usize {
    let out = app.s3().list_object_versions().bucket(&app.bucket).prefix(key).send().await.unwrap();
    out.versions().iter().filter(|v| v.key() == Some(key)).count()
        + out.delete_markers().iter().filter(|m| m.key() == Some(key)).count()
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let answer = app.send("POST", path, Some(token), Some(body)).await;
    assert_eq!(answer.status, 201, "{path}: {}", answer.body);
    answer.body
}

/// The date `days` from today, as the API writes it.
fn days_from_today(days: i64) -> String {
    Date::from_naive(chrono::Utc::now().date_naive() + chrono::Duration::days(days)).to_string()
}

fn id(record: &Value) -> String {
    record["id"].as_str().unwrap().to_string()
}

fn document_body(title: &str, contact_id: Option<&str>) -> Value {
    json!({
        "title": title,
        "description": "MRI of Héloïse Vasseur's knee",
        "file_name": "vasseur-irm.pdf",
        "mime_type": "application/pdf",
        "file_size_bytes": 1024,
        "checksum": "a".repeat(64),
        "tags": ["vasseur", "knee"],
        "related_contact_id": contact_id,
    })
}

#[tokio::test]
async fn giving_then_withdrawing_consent_leaves_two_audit_records_naming_who_when_and_which_version() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let (giver, withdrawer) = (Who::member(org), Who::admin(org));
    let created = post(&app, &app.token(&giver), CONTACTS, contact("Con", "Sent")).await;
    let url = format!("{CONTACTS}/{}", id(&created));
    let given = app
        .send(
            "PATCH",
            &url,
            Some(&app.token(&giver)),
            Some(json!({"consent_given": true, "consent_version": "2025-01"})),
        )
        .await;
    assert_eq!(given.status, 200, "{}", given.body);
    let withdrawn = app.send("PATCH", &url, Some(&app.token(&withdrawer)), Some(json!({"consent_given": false}))).await;
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.body);
    audit_stream(&app).await;

    let trail = app.audit_reader().for_resource(org, "CONTACT", &id(&created), 10).await.unwrap();
    let changes = |record: &Value| -> HashMap<String, (Value, Value)> {
        record["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["field"].as_str().unwrap().to_string(), (c["from"].clone(), c["to"].clone())))
            .collect()
    };
    let consent: Vec<&Value> =
        trail.iter().rev().filter(|r| r["action"] == "update" && changes(r).contains_key("consent_given")).collect();
    assert_eq!(consent.len(), 2, "{trail:?}");
    let (give, withdraw) = (consent[0], consent[1]);
    assert_eq!(give["actor_id"], giver.user.to_string());
    // Text fields are `""` when empty (the original's CharField convention), never null.
    assert_eq!(changes(give)["consent_version"], (json!(""), json!("2025-01")));
    assert_eq!(changes(give)["consent_date"], (Value::Null, given.body["consent_date"].clone()));
    assert_eq!(withdraw["actor_id"], withdrawer.user.to_string());
    assert_eq!(changes(withdraw)["consent_version"], (json!("2025-01"), json!("")));
    assert_eq!(changes(withdraw)["consent_given"], (json!(true), json!(false)));
    assert!(give["occurred_at"].as_str().unwrap() < withdraw["occurred_at"].as_str().unwrap());
    assert_eq!(give["risk"], "medium", "consent changes rate medium");
}

#[tokio::test]
async fn anonymize_leaves_no_readable_identifying_value_anywhere_while_amounts_and_the_audit_chain_remain() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = Who::admin(org);
    let token = app.token(&admin);
    let mut person = contact("Héloïse", "Vasseur");
    for (field, value) in [
        ("email", "heloise.vasseur@example.fr"),
        ("medical_record_number", "MRN-9931"),
        ("insurance_number", "INS-5521"),
        ("phone", "+33612345678"),
        ("address_line1", "12 rue des Lilas"),
        ("emergency_contact_name", "Paul Vasseur"),
    ] {
        person[field] = json!(value);
    }
    let person = post(&app, &token, CONTACTS, person).await;
    let pid = id(&person);
    let appointment = |title: &str| {
        json!({"title": title, "contact_id": pid, "description": "knee pain, Héloïse",
               "location": "Vasseur home", "start_datetime": "2030-03-04T09:00:00.000Z",
               "end_datetime": "2030-03-04T09:30:00.000Z"})
    };
    let visit = post(&app, &token, "/api/business/appointments", appointment("Vasseur follow-up")).await;
    let old_visit = post(&app, &token, "/api/business/appointments", appointment("Vasseur first visit")).await;
    let old_url = format!("/api/business/appointments/{}", id(&old_visit));
    assert_eq!(app.send("DELETE", &old_url, Some(&token), None).await.status, 200, "one record in the trash");
    let payment = post(
        &app,
        &token,
        "/api/business/transactions",
        json!({"contact_id": pid, "transaction_id": "TX-1", "transaction_type": "payment", "amount": "120.50",
               "description": "Consultation Vasseur", "notes": "paid by Héloïse", "payment_reference": "REF-VASSEUR"}),
    )
    .await;
    let scan_doc = post(&app, &token, "/api/business/documents", document_body("Vasseur MRI", Some(&pid))).await;
    let key = scan_doc["file_path"].as_str().unwrap().to_string();
    store_file_versions(&app, &key, 2).await;
    assert_eq!(file_versions(&app, &key).await, 2);
    // Audited while the person's key exists: these copies are sealed, and readable.
    audit_stream(&app).await;
    let before = app.audit_reader().for_resource(org, "CONTACT", &pid, 10).await.unwrap();
    let created = before.iter().find(|r| r["action"] == "create").unwrap();
    assert!(created["changes"].to_string().contains("Vasseur"), "readable before erasure");

    let url = format!("{CONTACTS}/{pid}/anonymize");
    let done = app.send("POST", &url, Some(&token), None).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let report = &done.body;
    assert_eq!(
        (&report["appointments"], &report["transactions"], &report["documents"], &report["file_versions_deleted"]),
        (&json!(2), &json!(1), &json!(1), &json!(2)),
        "{report}"
    );
    assert_eq!(report["already_anonymized"], false);
    assert!(report["contact"]["anonymized_at"].is_string());

    // The records, read back: nothing identifying; amounts and the rest kept.
    let get = |path: String| {
        let (app, token) = (&app, &token);
        async move {
            let answer = app.send("GET", &path, Some(token), None).await;
            assert_eq!(answer.status, 200, "{path}: {}", answer.body);
            answer.body
        }
    };
    let c = get(format!("{CONTACTS}/{pid}")).await;
    assert_eq!((c["first_name"].as_str(), c["last_name"].as_str()), (Some("[anonymized]"), Some("[anonymized]")));
    for field in
        ["email", "medical_record_number", "insurance_number", "phone", "address_line1", "emergency_contact_name"]
    {
        assert_eq!(c[field], "", "{field}");
    }
    assert_eq!(c["contact_type"], "patient");
    let v = get(format!("/api/business/appointments/{}", id(&visit))).await;
    assert_eq!(
        (v["title"].as_str(), v["description"].as_str(), v["location"].as_str()),
        (Some("[anonymized]"), Some(""), Some(""))
    );
    assert_eq!(v["start_datetime"], visit["start_datetime"], "dates are not identifying");
    let old = get(format!("{old_url}?include_deleted=true")).await;
    assert_eq!(old["title"], "[anonymized]", "records in the trash are erased too");
    let t = get(format!("/api/business/transactions/{}", id(&payment))).await;
    assert_eq!((t["amount"].as_str(), t["transaction_id"].as_str()), (Some("120.50"), Some("TX-1")), "amounts stay");
    assert_eq!(
        (t["description"].as_str(), t["notes"].as_str(), t["payment_reference"].as_str()),
        (Some(""), Some(""), Some(""))
    );
    let d = get(format!("/api/business/documents/{}", id(&scan_doc))).await;
    assert_eq!(
        (d["title"].as_str(), d["file_name"].as_str(), d["tags"].clone()),
        (Some("[anonymized]"), Some(""), json!([]))
    );
    assert_eq!(d["upload_status"], "rejected", "its file is gone: it cannot be downloaded");

    // Lists and search: the person cannot be found by what identified them.
    for query in ["vasseur", "heloise", "heloise.vasseur@example.fr", "MRN-9931"] {
        let found = app.send("GET", &format!("{CONTACTS}?search={}", enc(query)), Some(&token), None).await;
        assert_eq!(found.body["items"], json!([]), "search {query}");
    }
    let by_contact = app.send("GET", &format!("/api/business/transactions?contact_id={pid}"), Some(&token), None).await;
    assert_eq!(by_contact.body["items"][0]["amount"], "120.50", "their transactions stay listed");

    // S3: no version of the file left (nor a delete marker hiding one).
    assert_eq!(file_versions(&app, &key).await, 0);

    // Nowhere in the business table is an identifying value left (records, entries, markers).
    audit_stream(&app).await;
    let secrets = [
        "Héloïse",
        "Vasseur",
        "vasseur",
        "heloise",
        "MRN-9931",
        "mrn-9931",
        "INS-5521",
        "+33612345678",
        "Lilas",
        "REF-VASSEUR",
    ];
    let business = format!("{:?}", app.scan(&app.table).await);
    let audit = format!("{:?}", app.scan(&app.audit_table).await);
    for secret in secrets {
        assert!(!business.contains(secret), "{secret} is still in the business table");
        assert!(!audit.contains(secret), "{secret} is readable in the stored audit items");
    }

    // The audit trail: every personal value of this person reads [erased]; actors, actions,
    // times and clear values (amounts) remain.
    let trail = app.audit_reader().for_organization(org, 1000).await.unwrap();
    for record in &trail {
        for change in record["changes"].as_array().unwrap() {
            if change["personal"] == true {
                for side in ["from", "to"] {
                    assert!(change[side] == ERASED || change[side].is_null(), "{record}");
                }
            }
        }
        assert!(record["actor_id"].is_string() && record["occurred_at"].is_string() && record["action"].is_string());
    }
    let contact_trail = app.audit_reader().for_resource(org, "CONTACT", &pid, 100).await.unwrap();
    let contact_trail = changes_only(&contact_trail);
    let actions: Vec<&str> = contact_trail.iter().rev().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["create", "anonymize"]);
    assert_eq!(contact_trail[0]["actor_id"], admin.user.to_string(), "who erased, kept");
    assert_eq!(contact_trail[0]["risk"], "high");
    let tx_trail = app.audit_reader().for_resource(org, "TRANSACTION", &id(&payment), 100).await.unwrap();
    let created = tx_trail.iter().find(|r| r["action"] == "create").unwrap();
    let amount = created["changes"].as_array().unwrap().iter().find(|c| c["field"] == "amount").unwrap();
    assert_eq!(amount["to"], "120.50", "amounts stay readable in the trail");
    let doc_trail = app.audit_reader().for_resource(org, "DOCUMENT", &id(&scan_doc), 100).await.unwrap();
    let deletion = doc_trail.iter().find(|r| r["action"] == "anonymize" && r["source"] == "request").unwrap();
    assert_eq!(deletion["resource_ids"].as_array().unwrap().len(), 2, "the S3 versions deleted: {deletion}");
    assert_eq!(deletion["actor_id"], admin.user.to_string());
    assert!(doc_trail.iter().any(|r| r["action"] == "anonymize" && r["source"] == "stream"));

    // Again: safe, nothing left to do.
    let again = app.send("POST", &url, Some(&token), None).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["already_anonymized"], true, "{}", again.body);
    assert_eq!(again.body["file_versions_deleted"], 0);

    // Never identifiable again: identifying fields are refused, others may change.
    let contact_url = format!("{CONTACTS}/{pid}");
    let refused = app.send("PATCH", &contact_url, Some(&token), Some(json!({"last_name": "Vasseur"}))).await;
    refused.problem(409, "ANONYMIZED");
    let clear = app.send("PATCH", &contact_url, Some(&token), Some(json!({"preferred_language": "en"}))).await;
    assert_eq!(clear.status, 200, "{}", clear.body);

    // The uniqueness markers were freed: a new contact may use the same e-mail and number.
    let mut newcomer = contact("Other", "Person");
    newcomer["email"] = json!("heloise.vasseur@example.fr");
    newcomer["medical_record_number"] = json!("MRN-9931");
    post(&app, &token, CONTACTS, newcomer).await;
}

#[tokio::test]
async fn only_admins_may_anonymize_and_another_organizations_contact_is_404() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let person = post(&app, &app.token(&Who::admin(org)), CONTACTS, contact("Jeanne", "Martin")).await;
    let url = format!("{CONTACTS}/{}/anonymize", id(&person));
    for who in [Who::member(org), Who::viewer(org)] {
        app.send("POST", &url, Some(&app.token(&who)), None).await.problem(403, "FORBIDDEN");
    }
    let stranger = app.token(&Who::admin(Uuid::new_v4()));
    app.send("POST", &url, Some(&stranger), None).await.problem(404, "NOT_FOUND");
    let missing = format!("{CONTACTS}/{}/anonymize", Uuid::new_v4());
    app.send("POST", &missing, Some(&app.token(&Who::admin(org))), None).await.problem(404, "NOT_FOUND");
    let still = app.send("GET", &format!("{CONTACTS}/{}", id(&person)), Some(&app.token(&Who::admin(org))), None).await;
    assert_eq!(still.body["last_name"], "Martin", "refused attempts changed nothing");
    assert!(still.body["anonymized_at"].is_null());
}

#[tokio::test]
async fn the_retention_run_anonymizes_and_purges_what_is_due_in_each_organization_and_audits_it() {
    let app = TestApp::spawn().await;
    let (org_a, org_b) = (Uuid::new_v4(), Uuid::new_v4());
    let (token_a, token_b) = (app.token(&Who::admin(org_a)), app.token(&Who::admin(org_b)));
    let with = |mut body: Value, field: &str, date: String| {
        body[field] = json!(date);
        body
    };
    // A retention date can only be set from today on (a past one would be erased at once), so
    // the records are dated soon and the run is made as of a later day.
    let (soon, later) = (days_from_today(10), days_from_today(365 * 50));
    let due_a =
        post(&app, &token_a, CONTACTS, with(contact("Due", "Vasseur"), "data_retention_until", soon.clone())).await;
    let later_a =
        post(&app, &token_a, CONTACTS, with(contact("Later", "Keep"), "data_retention_until", later.clone())).await;
    let undated_a = post(&app, &token_a, CONTACTS, contact("No", "Date")).await;
    let due_b =
        post(&app, &token_b, CONTACTS, with(contact("Due", "Elsewhere"), "data_retention_until", soon.clone())).await;
    let old_doc =
        post(&app, &token_a, "/api/business/documents", with(document_body("Old scan", None), "retention_until", soon))
            .await;
    let new_doc = post(
        &app,
        &token_a,
        "/api/business/documents",
        with(document_body("New scan", None), "retention_until", later),
    )
    .await;
    let (old_key, new_key) = (old_doc["file_path"].as_str().unwrap(), new_doc["file_path"].as_str().unwrap());
    store_file_versions(&app, old_key, 2).await;
    store_file_versions(&app, new_key, 1).await;
    // Soft-deleted records are not forgotten by retention.
    let deleted_url = format!("/api/business/documents/{}", id(&old_doc));
    assert_eq!(app.send("DELETE", &deleted_url, Some(&token_a), None).await.status, 200);

    let today = Date::parse(&days_from_today(30)).unwrap();
    let report =
        hub_privacy::retention::run(&app.services.store, &erasure(&app).await, today, "test-run").await.unwrap();
    assert!(report.failures.is_empty(), "{report:?}");
    let mut anonymized: Vec<(Uuid, String)> =
        report.contacts_anonymized.iter().map(|a| (a.organization_id, a.id.to_string())).collect();
    anonymized.sort();
    let mut expected = vec![(org_a, id(&due_a)), (org_b, id(&due_b))];
    expected.sort();
    assert_eq!(anonymized, expected, "each due contact, in its own organization");
    let purged: Vec<(Uuid, String)> =
        report.documents_purged.iter().map(|a| (a.organization_id, a.id.to_string())).collect();
    assert_eq!(purged, [(org_a, id(&old_doc))]);
    assert_eq!(report.file_versions_deleted, 2);

    let get = |token: &str, path: String| {
        let (app, token) = (&app, token.to_string());
        async move { app.send("GET", &path, Some(&token), None).await }
    };
    let due = get(&token_a, format!("{CONTACTS}/{}", id(&due_a))).await.body;
    assert!(due["anonymized_at"].is_string() && due["last_name"] == "[anonymized]", "{due}");
    let elsewhere = get(&token_b, format!("{CONTACTS}/{}", id(&due_b))).await.body;
    assert!(elsewhere["anonymized_at"].is_string(), "{elsewhere}");
    for (record, name) in [(&later_a, "Keep"), (&undated_a, "Date")] {
        let kept = get(&token_a, format!("{CONTACTS}/{}", id(record))).await.body;
        assert_eq!(
            (kept["last_name"].as_str(), kept["anonymized_at"].is_null()),
            (Some(name), true),
            "not due: untouched"
        );
    }
    get(&token_a, format!("{deleted_url}?include_deleted=true")).await.problem(404, "NOT_FOUND");
    assert_eq!(file_versions(&app, old_key).await, 0, "the purged document's file is gone");
    assert_eq!(get(&token_a, format!("/api/business/documents/{}", id(&new_doc))).await.status, 200);
    assert_eq!(file_versions(&app, new_key).await, 1, "a document not due keeps its file");
    let trash = app.send("GET", "/api/business/documents?deleted=true", Some(&token_a), None).await;
    assert_eq!(trash.body["items"], json!([]), "the purge removed its trash entry");

    // Each action is audited: the anonymization and the purge by `system` (from the stream),
    // the file deletion explicitly.
    audit_stream(&app).await;
    let trail = app.audit_reader().for_resource(org_a, "CONTACT", &id(&due_a), 100).await.unwrap();
    let trail = changes_only(&trail);
    assert_eq!((trail[0]["action"].as_str(), trail[0]["actor_id"].as_str()), (Some("anonymize"), Some("system")));
    let doc_trail = app.audit_reader().for_resource(org_a, "DOCUMENT", &id(&old_doc), 100).await.unwrap();
    let purge = doc_trail.iter().find(|r| r["action"] == "purge" && r["source"] == "stream").expect("record purge");
    assert_eq!(purge["actor_id"], "system");
    let files = doc_trail.iter().find(|r| r["action"] == "purge" && r["source"] == "request").expect("file purge");
    assert_eq!(files["request_id"], "retention:test-run");
    assert_eq!(files["resource_ids"].as_array().unwrap().len(), 2);
    let b_trail = app.audit_reader().for_resource(org_b, "CONTACT", &id(&due_b), 100).await.unwrap();
    assert_eq!(changes_only(&b_trail)[0]["action"], "anonymize", "B's contact is audited in B");

    // Running again finds nothing due.
    let again = hub_privacy::retention::run(&app.services.store, &erasure(&app).await, today, "again").await.unwrap();
    assert!(
        again.contacts_anonymized.is_empty() && again.documents_purged.is_empty() && again.failures.is_empty(),
        "{again:?}"
    );
}
