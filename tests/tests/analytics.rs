//! Analytics: the records' CRUD and tenancy, and the summary kept by `analytics-stream` from the
//! real stream (read from moto), checked against hand-computed figures and against a rebuild
//! from the records, through a redelivered batch and a partial failure.

#![allow(clippy::unwrap_used)]

use hub_analytics::AnalyticsTable;
use hub_analytics::stream;
use hub_analytics::summary::{Range, items_to_read};
use hub_infra::relay::sequence_number;
use hub_shared::auth::OrgId;
use hub_tests::{TestApp, Who, client_failing_requests_mentioning, contact};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

const RECORDS: &str = "/api/analytics/records";
const SUMMARY: &str = "/api/analytics/summary";

fn event(records: &[Value]) -> Value {
    json!({ "Records": records })
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let answer = app.send("POST", path, Some(token), Some(body)).await;
    assert!(answer.status == 201 || answer.status == 200, "POST {path}: {}", answer.body);
    answer.body
}

async fn patch(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let answer = app.send("PATCH", path, Some(token), Some(body)).await;
    assert_eq!(answer.status, 200, "PATCH {path}: {}", answer.body);
    answer.body
}

async fn delete(app: &TestApp, token: &str, path: &str) {
    let answer = app.send("DELETE", path, Some(token), None).await;
    assert_eq!(answer.status, 200, "DELETE {path}: {}", answer.body);
}

fn id(record: &Value) -> String {
    record["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn analytics_records_have_crud_with_201_on_create_and_are_scoped_to_the_organization() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let member = app.token(&Who::member(org));
    let created =
        app.send("POST", RECORDS, Some(&member), Some(json!({"metric_name": "visits", "metric_value": 12.5}))).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        (created.body["metric_name"].clone(), created.body["metric_value"].clone()),
        (json!("visits"), json!(12.5))
    );
    let path = format!("{RECORDS}/{}", id(&created.body));
    assert_eq!(created.header("location"), Some(path.as_str()));
    post(&app, &member, RECORDS, json!({"metric_name": "no_shows", "metric_value": -3})).await;

    let got = app.send("GET", &path, Some(&member), None).await;
    assert_eq!((got.status, got.body["metric_value"].clone()), (200, json!(12.5)));
    let all = app.send("GET", RECORDS, Some(&member), None).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
    let visits = app.send("GET", &format!("{RECORDS}?metric_name=visits"), Some(&member), None).await;
    assert_eq!(visits.body["items"].as_array().unwrap().len(), 1);

    let patched = patch(&app, &member, &path, json!({"metric_value": 13})).await;
    // A float, as the seed's `FloatField`: 13 comes back as 13.0.
    assert_eq!((patched["metric_value"].as_f64(), patched["version"].clone()), (Some(13.0), json!(2)));
    let replaced =
        app.send("PUT", &path, Some(&member), Some(json!({"metric_name": "visits", "metric_value": 14}))).await;
    assert_eq!((replaced.status, replaced.body["version"].clone()), (200, json!(3)));

    let invalid = app.send("POST", RECORDS, Some(&member), Some(json!({"metric_name": "", "metric_value": "1"}))).await;
    let problem = invalid.problem(422, "VALIDATION_FAILED");
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2, "{problem}");

    // Read-only roles read, and only read.
    let viewer = app.token(&Who::viewer(org));
    assert_eq!(app.send("GET", &path, Some(&viewer), None).await.status, 200);
    app.send("POST", RECORDS, Some(&viewer), Some(json!({"metric_name": "x", "metric_value": 1})))
        .await
        .problem(403, "FORBIDDEN");

    // Another organization's record is a missing one.
    let stranger = app.token(&Who::admin(Uuid::new_v4()));
    app.send("GET", &path, Some(&stranger), None).await.problem(404, "NOT_FOUND");
    app.send("DELETE", &path, Some(&stranger), None).await.problem(404, "NOT_FOUND");
    assert_eq!(app.send("GET", RECORDS, Some(&stranger), None).await.body["items"], json!([]));

    // Soft delete, restore by an admin only.
    delete(&app, &member, &path).await;
    app.send("GET", &path, Some(&member), None).await.problem(404, "NOT_FOUND");
    app.send("POST", &format!("{path}/restore"), Some(&member), None).await.problem(403, "FORBIDDEN");
    let admin = app.token(&Who::admin(org));
    let restored = app.send("POST", &format!("{path}/restore"), Some(&admin), None).await;
    assert_eq!((restored.status, restored.body["is_deleted"].clone()), (200, json!(false)));
}

fn sha_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Uploads `bytes` to a created document's presigned URL, as a browser would.
async fn upload(created: &Value, bytes: &[u8]) {
    let upload = &created["upload"];
    let mut request = reqwest::Client::new().put(upload["url"].as_str().unwrap()).body(bytes.to_vec());
    for (name, value) in upload["headers"].as_object().unwrap() {
        if name != "content-length" {
            request = request.header(name.as_str(), value.as_str().unwrap());
        }
    }
    assert!(request.send().await.unwrap().status().is_success());
}

fn document(title: &str, kind: &str, bytes: &[u8], requires_approval: bool) -> Value {
    json!({"title": title, "file_name": "f.pdf", "document_type": kind, "file_size_bytes": bytes.len(),
           "checksum": sha_hex(bytes), "requires_approval": requires_approval})
}

fn appointment(contact: &str, start: &str, end: &str) -> Value {
    json!({"title": "Visit", "contact_id": contact, "start_datetime": start, "end_datetime": end})
}

fn transaction(contact: &str, tid: &str, kind: &str, status: &str, amount: &str, extra: Value) -> Value {
    let mut body = json!({"transaction_id": tid, "transaction_type": kind, "status": status, "amount": amount,
                          "contact_id": contact});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// The scripted workload; returns the id of a transaction whose records the partial failure
/// will hit, and the size of the one available document.
async fn workload(app: &TestApp, admin: &str) -> (String, usize) {
    const C: &str = "/api/business/contacts";
    const A: &str = "/api/business/appointments";
    const T: &str = "/api/business/transactions";
    const D: &str = "/api/business/documents";
    // Contacts: patient/given, provider/not (deleted then restored), patient -> vendor, staff deleted.
    let mut given = contact("Anna", "Bauer");
    given["consent_given"] = json!(true);
    given["consent_version"] = json!("2025-01");
    let c1 = id(&post(app, admin, C, given).await);
    let mut provider = contact("Paul", "Roux");
    provider["contact_type"] = json!("provider");
    let c2 = id(&post(app, admin, C, provider).await);
    let c3 = id(&post(app, admin, C, contact("Vera", "Nolan")).await);
    patch(app, admin, &format!("{C}/{c3}"), json!({"contact_type": "vendor"})).await;
    delete(app, admin, &format!("{C}/{c2}")).await;
    post(app, admin, &format!("{C}/{c2}/restore"), json!({})).await;
    let mut staff = contact("Sam", "Stone");
    staff["contact_type"] = json!("staff");
    let c4 = id(&post(app, admin, C, staff).await);
    delete(app, admin, &format!("{C}/{c4}")).await;

    // Appointments of March 2025 (UTC): completed, no-show, cancelled, deleted, scheduled, moved out.
    let a1 = id(&post(app, admin, A, appointment(&c1, "2025-03-03T09:00:00Z", "2025-03-03T09:30:00Z")).await);
    patch(app, admin, &format!("{A}/{a1}"), json!({"status": "completed"})).await;
    let a2 = id(&post(app, admin, A, appointment(&c1, "2025-03-03T11:00:00Z", "2025-03-03T11:30:00Z")).await);
    patch(app, admin, &format!("{A}/{a2}"), json!({"status": "no_show"})).await;
    let a3 = id(&post(app, admin, A, appointment(&c1, "2025-03-05T09:00:00Z", "2025-03-05T09:30:00Z")).await);
    post(app, admin, &format!("{A}/{a3}/cancel"), json!({})).await;
    let a4 = id(&post(app, admin, A, appointment(&c1, "2025-03-07T09:00:00Z", "2025-03-07T09:30:00Z")).await);
    delete(app, admin, &format!("{A}/{a4}")).await;
    post(app, admin, A, appointment(&c1, "2025-03-10T09:00:00Z", "2025-03-10T09:30:00Z")).await;
    let a6 = id(&post(app, admin, A, appointment(&c1, "2025-03-10T10:00:00Z", "2025-03-10T10:30:00Z")).await);
    patch(
        app,
        admin,
        &format!("{A}/{a6}"),
        json!({"start_datetime": "2025-04-02T10:00:00Z", "end_datetime": "2025-04-02T10:30:00Z"}),
    )
    .await;

    // Transactions: two completed EUR payments refunded in part and in whole, one USD payment,
    // pending ones (one overdue), one pending deleted, one deleted, restored and then completed.
    let t1 = id(&post(
        app,
        admin,
        T,
        transaction(&c1, "t1", "payment", "completed", "120.50", json!({"payment_date": "2025-03-01T10:00:00Z"})),
    )
    .await);
    post(app, admin, &format!("{T}/{t1}/refund"), json!({"amount": "20.50", "payment_date": "2025-03-15T10:00:00Z"}))
        .await;
    let t2 = id(&post(
        app,
        admin,
        T,
        transaction(&c1, "t2", "payment", "completed", "50", json!({"payment_date": "2025-03-20T10:00:00Z"})),
    )
    .await);
    post(app, admin, &format!("{T}/{t2}/refund"), json!({"payment_date": "2025-03-21T10:00:00Z"})).await;
    post(app, admin, T, transaction(&c1, "t3", "charge", "pending", "40", json!({"due_date": "2025-02-14"}))).await;
    post(app, admin, T, transaction(&c1, "t4", "fee", "pending", "10", json!({"due_date": "2099-01-01"}))).await;
    let t5 =
        id(&post(app, admin, T, transaction(&c1, "t5", "charge", "pending", "30", json!({"due_date": "2025-02-01"})))
            .await);
    delete(app, admin, &format!("{T}/{t5}")).await;
    post(app, admin, &format!("{T}/{t5}/restore"), json!({})).await;
    patch(app, admin, &format!("{T}/{t5}"), json!({"status": "completed", "payment_date": "2025-03-25T10:00:00Z"}))
        .await;
    post(
        app,
        admin,
        T,
        transaction(
            &c1,
            "t6",
            "payment",
            "completed",
            "99.99",
            json!({"currency": "USD", "payment_date": "2025-03-02T10:00:00Z"}),
        ),
    )
    .await;
    let t7 = id(&post(app, admin, T, transaction(&c1, "t7", "payment", "pending", "5", json!({}))).await);
    delete(app, admin, &format!("{T}/{t7}")).await;

    // Documents: an available invoice awaiting approval, a pending lab result, a deleted one.
    let bytes = b"%PDF-1.7 analytics test".to_vec();
    let d1 = post(app, admin, D, document("Invoice", "invoice", &bytes, true)).await;
    upload(&d1, &bytes).await;
    post(app, admin, &format!("{D}/{}/complete", id(&d1)), json!({})).await;
    post(app, admin, D, document("Lab", "lab_result", b"lab", false)).await;
    let d3 = id(&post(app, admin, D, document("Other", "other", b"x", false)).await);
    delete(app, admin, &format!("{D}/{d3}")).await;
    (t1, bytes.len())
}

fn counts(pairs: &[(&str, i64)], all: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for name in all {
        out.insert((*name).to_string(), json!(pairs.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v)));
    }
    Value::Object(out)
}

#[tokio::test]
async fn the_summary_kept_by_the_stream_equals_hand_computed_figures_and_a_rebuild_through_redelivery_and_retry() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let (t1, stored_bytes) = workload(&app, &admin).await;
    // Another organization's activity, on the same stream.
    let other = Uuid::new_v4();
    let other_admin = app.token(&Who::admin(other));
    post(&app, &other_admin, "/api/business/contacts", contact("Olga", "Other")).await;

    let records = app.stream_records().await;
    // A partial failure: the analytics table is unreachable for the first record of t1.
    let armed = Arc::new(Mutex::new(true));
    let failing =
        { AnalyticsTable::new(client_failing_requests_mentioning(&app.client, &t1, &armed), app.analytics.table()) };
    let first_of_t1 = records
        .iter()
        .position(|r| {
            r.pointer("/dynamodb/NewImage/item_type/S").and_then(Value::as_str) == Some("record")
                && r.pointer("/dynamodb/NewImage/id/S").and_then(Value::as_str) == Some(t1.as_str())
        })
        .unwrap();
    let outcome = stream::handle(&failing, &event(&records)).await.unwrap();
    assert_eq!(outcome.failed_at.as_deref(), sequence_number(&records[first_of_t1]), "{outcome:?}");
    assert!(outcome.written > 0, "the records before it were applied: {outcome:?}");
    // Lambda retries from the reported record; the table answers again.
    *armed.lock().unwrap() = false;
    let retry = stream::handle(&failing, &event(&records[first_of_t1..])).await.unwrap();
    assert_eq!(retry.failed_at, None, "{retry:?}");
    // The same batch, redelivered whole: nothing moves.
    let replay = stream::handle(&app.analytics, &event(&records)).await.unwrap();
    assert_eq!((replay.written, replay.failed_at.clone()), (0, None), "{replay:?}");

    let answer = app.send("GET", &format!("{SUMMARY}?from=2025-03-01&to=2025-03-31"), Some(&admin), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let s = &answer.body;
    assert_eq!(s["contacts"]["total"], 3);
    assert_eq!(
        s["contacts"]["by_type"],
        counts(&[("patient", 1), ("provider", 1), ("vendor", 1)], &["patient", "provider", "vendor", "staff", "other"])
    );
    assert_eq!(s["contacts"]["by_consent"], json!({"given": 1, "not_given": 2}));
    let statuses = ["scheduled", "confirmed", "in_progress", "completed", "cancelled", "no_show", "rescheduled"];
    assert_eq!(s["appointments"]["total"], 5);
    assert_eq!(
        s["appointments"]["by_status"],
        counts(&[("scheduled", 2), ("completed", 1), ("no_show", 1), ("cancelled", 1)], &statuses)
    );
    let in_range = &s["appointments"]["in_range"];
    assert_eq!(in_range["total"], 4);
    assert_eq!(
        in_range["by_status"],
        counts(&[("scheduled", 1), ("completed", 1), ("no_show", 1), ("cancelled", 1)], &statuses)
    );
    assert_eq!(in_range["no_show_rate"], "0.5000");
    let per_day = s["appointments"]["per_day"].as_array().unwrap();
    assert_eq!(per_day.len(), 31);
    let busy: Vec<(String, i64)> = per_day
        .iter()
        .filter(|d| d["total"] != 0)
        .map(|d| (d["date"].as_str().unwrap().to_string(), d["total"].as_i64().unwrap()))
        .collect();
    assert_eq!(busy, [("2025-03-03".to_string(), 2), ("2025-03-05".to_string(), 1), ("2025-03-10".to_string(), 1)]);
    assert_eq!(
        s["revenue"],
        json!([
            {"month": "2025-03", "currency": "EUR", "payments": "200.50", "refunds": "70.50", "net": "130.00"},
            {"month": "2025-03", "currency": "USD", "payments": "99.99", "refunds": "0.00", "net": "99.99"},
        ])
    );
    assert_eq!(
        s["receivables"],
        json!([{"currency": "EUR", "pending_amount": "50.00", "pending_count": 2, "overdue_amount": "40.00", "overdue_count": 1}])
    );
    assert_eq!(s["documents"]["total"], 2);
    assert_eq!(
        (s["documents"]["by_type"]["invoice"].clone(), s["documents"]["by_type"]["lab_result"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(s["documents"]["pending_approval"], 1);
    assert_eq!(s["documents"]["storage_bytes"], json!(stored_bytes));

    // A rebuild from the records into an empty analytics table computes the same summary, and a
    // rebuild over the stream's counters finds nothing to correct.
    let template = hub_infra::template::Template::load_workspace().unwrap();
    let fresh_name = format!("hub-test-analytics-rebuilt-{}", Uuid::new_v4().simple());
    hub_infra::provision::create_table(&app.client, &template.tables["AnalyticsTable"], &fresh_name).await.unwrap();
    let fresh = AnalyticsTable::new(app.client.clone(), fresh_name);
    let rebuilt = hub_analytics::rebuild_org(&app.services.store, &fresh, OrgId::new(org)).await.unwrap();
    assert!(rebuilt.changed > 0, "{rebuilt:?}");
    let range = Range::parse(Some("2025-03-01"), Some("2025-03-31"), chrono::Utc::now().date_naive()).unwrap();
    let today = chrono::Utc::now().date_naive();
    let keys = items_to_read(&range, today);
    let (from_stream, read) = app.analytics.load(OrgId::new(org), &keys).await.unwrap();
    let (from_records, _) = fresh.load(OrgId::new(org), &keys).await.unwrap();
    assert_eq!(from_stream.non_zero(), from_records.non_zero());
    let again = hub_analytics::rebuild_org(&app.services.store, &app.analytics, OrgId::new(org)).await.unwrap();
    assert_eq!((again.changed, again.purged, again.records), (0, 0, rebuilt.records), "{again:?}");

    // The other organization sees only its own figures.
    let theirs = app.send("GET", SUMMARY, Some(&other_admin), None).await;
    assert_eq!(
        (theirs.body["contacts"]["total"].clone(), theirs.body["documents"]["total"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(theirs.body["receivables"], json!([]));

    // The cost of a summary is the items it names, not the records: more records, same reads.
    assert!(read <= keys.len() && keys.len() <= 16, "{read} of {keys:?}");
    for i in 0..15 {
        post(&app, &admin, "/api/business/contacts", contact(&format!("Extra{i}"), "Patient")).await;
    }
    let all = app.stream_records().await;
    stream::handle(&app.analytics, &event(&all)).await.unwrap();
    let (after, read_after) = app.analytics.load(OrgId::new(org), &keys).await.unwrap();
    assert_eq!(read_after, read);
    assert_eq!(after.get("TOTALS", "contacts"), 18);
}

#[tokio::test]
async fn the_summary_is_csv_for_spreadsheets_and_refuses_bad_ranges_with_422() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let viewer = app.token(&Who::viewer(org));
    let admin = app.token(&Who::admin(org));
    post(&app, &admin, "/api/business/contacts", contact("Anna", "Bauer")).await;
    stream::handle(&app.analytics, &event(&app.stream_records().await)).await.unwrap();

    let csv =
        app.send("GET", &format!("{SUMMARY}?from=2025-03-01&to=2025-03-02&format=csv"), Some(&viewer), None).await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = csv.body.as_str().unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines[0], "section,metric,period,currency,value");
    assert!(lines.contains(&"contacts,total,,,1"), "{text}");
    assert!(lines.contains(&"contacts,type:patient,,,1"), "{text}");
    assert!(lines.contains(&"appointments,per_day,2025-03-02,,0"), "{text}");

    for (query, field) in
        [("from=2025-03-02&to=2025-03-01", "to"), ("from=2024-01-01&to=2025-01-01", "to"), ("from=03/01/2025", "from")]
    {
        let answer = app.send("GET", &format!("{SUMMARY}?{query}"), Some(&viewer), None).await;
        let problem = answer.problem(422, "VALIDATION_FAILED");
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    app.send("GET", &format!("{SUMMARY}?format=xlsx"), Some(&viewer), None).await.problem(400, "INVALID_PARAMETER");
    app.send("GET", &format!("{SUMMARY}?org=x"), Some(&viewer), None).await.problem(400, "UNKNOWN_PARAMETER");
    app.send("GET", SUMMARY, None, None).await.problem(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_rebuild_of_every_organization_finds_each_one_and_applies_a_purge_the_stream_lost() {
    use hub_analytics::counters::contribution;
    use hub_analytics::table::{Outcome, Position};
    use hub_shared::store::Entity;

    let app = TestApp::spawn().await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut image = Value::Null;
    for org in [a, b] {
        image = post(&app, &app.token(&Who::admin(org)), "/api/business/contacts", contact("Ana", "Kept")).await;
    }
    let orgs = app.services.store.organizations().await.unwrap();
    assert_eq!(orgs, std::collections::BTreeSet::from([a, b]));

    // A contact of `a` purged while its stream record was lost: the counters still hold it.
    let kind = hub_contacts::Contact::KIND;
    let ghost = contribution(kind, image.as_object().unwrap()).unwrap();
    let position = Position { version: 1, purged: false };
    let applied = app.analytics.apply(a, kind, Uuid::new_v4(), position, &ghost, None).await.unwrap();
    assert_eq!(applied, Outcome::Changed);

    let reports = hub_analytics::rebuild_all(&app.services.store, &app.analytics).await.unwrap();
    let report = |org: Uuid| reports.iter().find(|r| r.organization_id == org).unwrap_or_else(|| panic!("{reports:?}"));
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert_eq!((report(a).records, report(a).changed, report(a).purged), (1, 1, 1), "{reports:?}");
    assert_eq!((report(b).records, report(b).changed, report(b).purged), (1, 1, 0), "{reports:?}");

    // Repaired: a second rebuild of every organization corrects nothing.
    let again = hub_analytics::rebuild_all(&app.services.store, &app.analytics).await.unwrap();
    assert!(again.iter().all(|r| (r.changed, r.purged, r.records) == (0, 0, 1)), "{again:?}");
    let summary = app.send("GET", SUMMARY, Some(&app.token(&Who::admin(a))), None).await;
    assert_eq!(summary.body["contacts"]["total"], 1, "{}", summary.body);
}
