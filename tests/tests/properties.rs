//! Generated full records (every field of every entity, each optional one set or unset, see
//! `hub_tests::records`) driven through every operation: create, get, list, search, patch,
//! replace, delete, restore, export, anonymize and retention. Every answer must be defined (2xx
//! or a 4xx problem, never a 5xx), and once a person is erased none of their personal values may
//! remain anywhere: records, list entries, search entries, S3 objects, readable audit copies.
//!
//! Cases: `PROPTEST_CASES` (default 10), each in an organization of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_shared::audit::fields;
use hub_shared::domain::{Date, text};
use hub_tests::records;
use hub_tests::{Answer, TestApp, Who, upload};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

const CONTACTS: &str = "/api/business/contacts";

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(10)
}

/// Keeps e-mails, record numbers and transaction ids unique across cases.
static UNIQUE: AtomicU64 = AtomicU64::new(1);

fn unique() -> u64 {
    UNIQUE.fetch_add(1, Ordering::Relaxed)
}

/// Sends and insists on a defined answer: 2xx, or a problem with a 4xx status and a code.
async fn call(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> Answer {
    let answer = app.send(method, path, Some(token), body.clone()).await;
    assert!(answer.status < 500, "{method} {path} {body:?}: {} {}", answer.status, answer.body);
    if answer.status >= 400 {
        assert_eq!(answer.header("content-type"), Some("application/problem+json"), "{}", answer.body);
        assert!(answer.body["code"].is_string(), "{}", answer.body);
    }
    answer
}

async fn created(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let answer = call(app, "POST", path, token, Some(body.clone())).await;
    assert_eq!(answer.status, 201, "a generated body is valid: POST {path} {body}: {}", answer.body);
    answer.body
}

/// The personal values of a body (the audit trail's list), long enough to be found only where
/// they were put, with the folded forms search entries hold.
fn personal_values(kind: &str, body: &Value, into: &mut Vec<String>) {
    for (field, value) in body.as_object().into_iter().flatten() {
        if !fields::is_personal(kind, field) {
            continue;
        }
        let strings: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for s in strings {
            let trimmed = s.trim();
            // A date of birth may equal a clear date elsewhere (a due date): it is checked on the
            // contact itself instead.
            let is_date = Date::parse(trimmed).is_some();
            if trimmed.chars().count() >= 4 && trimmed != "[anonymized]" && !is_date {
                into.push(trimmed.to_string());
                // Search entries hold names and addresses folded (case and accents away).
                if kind == "CONTACT"
                    && matches!(field.as_str(), "first_name" | "last_name" | "email" | "medical_record_number")
                {
                    into.push(trimmed.to_lowercase());
                    into.push(text::fold(trimmed));
                }
            }
        }
    }
}

/// Every string anywhere in a stored item or a JSON answer.
fn strings_of(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::String(s) => into.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings_of(v, into)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            into.push(k.clone());
            strings_of(v, into);
        }),
        _ => {}
    }
}

fn assert_nothing_left(place: &str, haystack: &[String], personal: &[String]) {
    for value in personal.iter().filter(|v| v.chars().count() >= 4) {
        if let Some(found) = haystack.iter().find(|s| s.contains(value.as_str())) {
            panic!("{place} still holds the personal value {value:?} (in {found:?})");
        }
    }
}

/// The items of one organization in a table, as JSON strings.
async fn organization_items(app: &TestApp, table: &str, org: Uuid) -> Vec<String> {
    let prefix = format!("ORG#{org}");
    let mut out = Vec::new();
    for item in app.scan(table).await {
        let text = format!("{item:?}");
        if text.contains(&prefix) {
            out.push(text);
        }
    }
    out
}

/// Every item of `org` reads the same straight from DynamoDB's attributes (`store::de`, what
/// `Record::from_item` does first) as through the JSON object it used to build: as a JSON value,
/// and as each entity and the metadata (both fail, or both give the same value).
async fn items_read_alike(app: &TestApp, org: Uuid) {
    use hub_shared::store::attr::item_to_object;
    use hub_shared::store::de::from_item;
    use serde::de::DeserializeOwned;
    fn alike<T: DeserializeOwned + PartialEq + std::fmt::Debug>(item: &hub_shared::store::attr::Item) -> bool {
        let object = Value::Object(item_to_object(item));
        let direct = from_item::<T>(item).ok();
        let through_json = T::deserialize(object).ok();
        assert_eq!(direct, through_json, "{} from {item:?}", std::any::type_name::<T>());
        direct.is_some()
    }
    let prefix = format!("ORG#{org}");
    let mut records = 0;
    for item in app.scan(&app.table).await {
        if !format!("{item:?}").contains(&prefix) {
            continue;
        }
        assert_eq!(from_item::<Value>(&item).ok(), Some(Value::Object(item_to_object(&item))));
        alike::<hub_shared::store::Meta>(&item);
        for read in [
            alike::<hub_contacts::Contact>(&item),
            alike::<hub_appointments::Appointment>(&item),
            alike::<hub_transactions::Transaction>(&item),
            alike::<hub_documents::Document>(&item),
        ] {
            records += usize::from(read);
        }
    }
    assert!(records >= 4, "only {records} records read from {prefix}'s items");
}

/// The realtime fan-out reads only the fields of a stream record it needs
/// (`hub_realtime::event::read_record`); over the whole life of generated full records (create,
/// patches, delete, restore, erasure, every field set or not), it must make the same change as
/// the audit's reader of whole images.
async fn stream_changes_read_alike(app: &TestApp, org: Uuid) {
    use hub_realtime::event::{read_record, to_change};
    let mut changes = 0;
    for raw in app.stream_records().await {
        let whole = to_change(&hub_audit::stream::parse(&raw).unwrap()).unwrap();
        let lean = read_record(&raw).unwrap().map(|r| to_change(&r).unwrap()).unwrap_or(None);
        assert_eq!(lean, whole, "{raw}");
        changes += usize::from(whole.is_some_and(|c| c.org.as_uuid() == org));
    }
    assert!(changes >= 4, "only {changes} changes of {org} in the stream");
}

/// Anything besides the fields themselves that a patch of `body` should contain.
fn subset(body: &Value, keep: &[bool]) -> Value {
    let map = body.as_object().unwrap();
    Value::Object(
        map.iter().zip(keep.iter().cycle()).filter(|(_, k)| **k).map(|((k, v), _)| (k.clone(), v.clone())).collect(),
    )
}

#[derive(Debug, Clone)]
struct Case {
    contact: Value,
    patch: Value,
    replace: Value,
    appointment: Value,
    transaction: Value,
    document: Value,
    bytes: Vec<u8>,
    keep: Vec<bool>,
}

fn case() -> impl Strategy<Value = Case> {
    let placeholder = "00000000-0000-4000-8000-000000000000".to_string();
    (
        records::contact(unique()),
        records::contact(unique()),
        records::contact(unique()),
        records::appointment(placeholder.clone(), None),
        records::transaction(placeholder.clone(), None, unique()),
        prop::collection::vec(any::<u8>(), 1..2048),
        prop::collection::vec(any::<bool>(), 1..30),
    )
        .prop_flat_map(move |(contact, patch, replace, appointment, transaction, bytes, keep)| {
            records::document(&bytes, Some(placeholder.clone())).prop_map(move |document| Case {
                contact: contact.clone(),
                patch: patch.clone(),
                replace: replace.clone(),
                appointment: appointment.clone(),
                transaction: transaction.clone(),
                document,
                bytes: bytes.clone(),
                keep: keep.clone(),
            })
        })
}

fn with_contact(mut body: Value, field: &str, contact_id: &str) -> Value {
    body[field] = json!(contact_id);
    body
}

async fn one_case(app: &TestApp, case: Case) {
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let mut personal = Vec::new();

    // Create and read back every entity about one person.
    let contact = created(app, CONTACTS, &admin, case.contact.clone()).await;
    personal_values("CONTACT", &case.contact, &mut personal);
    let id = contact["id"].as_str().unwrap().to_string();
    let url = format!("{CONTACTS}/{id}");
    let got = call(app, "GET", &url, &admin, None).await;
    assert_eq!(got.status, 200);
    for field in ["date_of_birth", "data_retention_until", "medical_record_number", "email"] {
        if let Some(sent) = case.contact.get(field).filter(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
            assert_eq!(&got.body[field], sent, "{field} reads back as sent");
        }
    }
    let last = case.contact["last_name"].as_str().unwrap();
    let prefix: String = text::fold(last).chars().take(3).collect();
    let search = call(app, "GET", &format!("{CONTACTS}?search={}", hub_tests::enc(&prefix)), &admin, None).await;
    let found = search.body["items"].as_array().is_some_and(|items| items.iter().any(|c| c["id"] == id.as_str()));
    assert!(prefix.trim().is_empty() || found, "{last:?} is found by {prefix:?}: {}", search.body);
    call(app, "GET", &format!("{CONTACTS}?contact_type={}", contact["contact_type"].as_str().unwrap()), &admin, None)
        .await;

    let appointment_body = with_contact(case.appointment.clone(), "contact_id", &id);
    let appointment = created(app, "/api/business/appointments", &admin, appointment_body.clone()).await;
    personal_values("APPOINTMENT", &appointment_body, &mut personal);
    let appointment_url = format!("/api/business/appointments/{}", appointment["id"].as_str().unwrap());
    let transaction_body = with_contact(case.transaction.clone(), "contact_id", &id);
    let transaction = created(app, "/api/business/transactions", &admin, transaction_body.clone()).await;
    personal_values("TRANSACTION", &transaction_body, &mut personal);
    let document_body = with_contact(case.document.clone(), "related_contact_id", &id);
    let document = created(app, "/api/business/documents", &admin, document_body.clone()).await;
    personal_values("DOCUMENT", &document_body, &mut personal);
    upload(&document, &case.bytes).await;
    let document_url = format!("/api/business/documents/{}", document["id"].as_str().unwrap());
    let completed = call(app, "POST", &format!("{document_url}/complete"), &admin, None).await;
    assert_eq!(completed.body["upload_status"], "available", "{}", completed.body);
    // A record reads the same alone (its body written straight from the typed record) and in a
    // list (built as a JSON value): every field of a full record, both ways.
    for (path, record) in [
        (CONTACTS, &contact),
        ("/api/business/appointments", &appointment),
        ("/api/business/transactions", &transaction),
        ("/api/business/documents", &document),
    ] {
        let record_id = record["id"].as_str().unwrap();
        let alone = call(app, "GET", &format!("{path}/{record_id}"), &admin, None).await;
        let listed = call(app, "GET", &format!("{path}?page_size=100"), &admin, None).await;
        let item = listed.body["items"].as_array().and_then(|items| items.iter().find(|i| i["id"] == record_id));
        assert_eq!(Some(&alone.body), item, "{path}/{record_id} alone and in its list");
    }

    items_read_alike(app, org).await;

    // Change it every way a client can: a merge patch of some fields, a whole replacement.
    let patch = subset(&case.patch, &case.keep);
    personal_values("CONTACT", &patch, &mut personal);
    let patched = call(app, "PATCH", &url, &admin, Some(patch)).await;
    let replaced = call(app, "PUT", &url, &admin, Some(case.replace.clone())).await;
    if replaced.status == 200 || patched.status == 200 {
        personal_values("CONTACT", &case.replace, &mut personal);
    }
    call(app, "PATCH", &appointment_url, &admin, Some(json!({"location": "Salle 3", "priority": 1}))).await;
    let transaction_url = format!("/api/business/transactions/{}", transaction["id"].as_str().unwrap());
    call(app, "PUT", &transaction_url, &admin, Some(transaction_body)).await;
    // A document's metadata changes; its file's fields may not (422 `immutable`).
    let mut document_change = subset(&case.document, &case.keep);
    document_change["tags"] = json!(["relu", "à-classer"]);
    personal_values("DOCUMENT", &document_change, &mut personal);
    call(app, "PATCH", &document_url, &admin, Some(document_change)).await;
    call(app, "PUT", &document_url, &admin, Some(document_body.clone())).await;

    // The trash and back, for every entity (a completed payment may not be deleted: 409).
    for path in [&appointment_url, &transaction_url, &document_url] {
        let deleted = call(app, "DELETE", path, &admin, None).await;
        let collection = path.rsplit_once('/').map(|(c, _)| c).unwrap_or_default();
        call(app, "GET", &format!("{collection}?deleted=true"), &admin, None).await;
        if deleted.status == 200 {
            assert_eq!(call(app, "GET", path, &admin, None).await.status, 404, "deleted: {path}");
            assert_eq!(call(app, "POST", &format!("{path}/restore"), &admin, None).await.status, 200, "{path}");
        }
        call(app, "GET", &format!("{path}?include_deleted=true"), &admin, None).await;
    }

    // The RGPD export holds the person's records.
    let export = call(app, "GET", &format!("{url}/export"), &admin, None).await;
    assert_eq!(export.status, 200, "{}", export.body);
    assert_eq!(export.body["contact"]["id"], id.as_str());

    // Erasure: nothing personal left anywhere.
    let erased = call(app, "POST", &format!("{url}/anonymize"), &admin, None).await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_eq!(erased.body["contact"]["date_of_birth"], Value::Null);
    stream_changes_read_alike(app, org).await;
    app.run_audit_stream().await;
    let business = organization_items(app, &app.table, org).await;
    assert_nothing_left("the business table", &business, &personal);
    let mut answers = Vec::new();
    for path in [
        url.clone(),
        appointment_url.clone(),
        document_url.clone(),
        format!("{url}/export"),
        "/api/audit/logs?page_size=100".to_string(),
        format!("{url}/history?page_size=100"),
        format!("{CONTACTS}?page_size=100"),
    ] {
        strings_of(&call(app, "GET", &path, &admin, None).await.body, &mut answers);
    }
    assert_nothing_left("what the API answers", &answers, &personal);
    let audit = organization_items(app, &app.audit_table, org).await;
    assert_nothing_left("the audit table (in clear)", &audit, &personal);
    let objects =
        app.s3().list_object_versions().bucket(&app.bucket).prefix(format!("org/{org}/")).send().await.unwrap();
    assert!(objects.versions().is_empty() && objects.delete_markers().is_empty(), "the person's files are gone");
}

/// One test's runtime, app (its own tables) and case runner: a few cases, each expensive, with
/// a short shrink.
fn world() -> (tokio::runtime::Runtime, TestApp, TestRunner) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(TestApp::spawn());
    let config = Config { cases: cases(), failure_persistence: None, max_shrink_iters: 16, ..Config::default() };
    (runtime, app, TestRunner::new(config))
}

#[test]
fn generated_full_records_go_through_every_operation_and_leave_nothing_personal_once_erased() {
    let (runtime, app, mut runner) = world();
    runner
        .run(&case(), |case| {
            runtime.block_on(one_case(&app, case));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn retention_erases_generated_contacts_once_due_and_reports_nothing_failed() {
    let (runtime, app, mut runner) = world();
    runner
        .run(&(records::contact(unique()), 0i64..30), |(mut body, days)| {
            runtime.block_on(async {
                let org = Uuid::new_v4();
                let admin = app.token(&Who::admin(org));
                let due = chrono::Utc::now().date_naive() + chrono::Duration::days(days);
                body["data_retention_until"] = json!(due.format("%Y-%m-%d").to_string());
                let contact = created(&app, CONTACTS, &admin, body.clone()).await;
                let erasure = hub_privacy::Erasure::new(
                    app.audit_writer(),
                    hub_privacy::Objects::new(&hub_tests::moto_sdk_config(), &app.bucket),
                );
                let run_on = Date::from_naive(due + chrono::Duration::days(1));
                let report =
                    hub_privacy::retention::run(&app.services.store, &erasure, run_on, "properties").await.unwrap();
                assert!(report.failures.is_empty(), "{report:?}");
                let id = contact["id"].as_str().unwrap();
                assert!(report.contacts_anonymized.iter().any(|a| a.id.to_string() == id), "{report:?}");
                let mut personal = Vec::new();
                personal_values("CONTACT", &body, &mut personal);
                let items = organization_items(&app, &app.table, org).await;
                assert_nothing_left("the business table after retention", &items, &personal);
            });
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
