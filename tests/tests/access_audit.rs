//! Access audit, the audit API and the RGPD export, black-box: real API Gateway events through
//! the real adapter and handlers, moto's DynamoDB and S3, real JWTs. Records are read back
//! through the audit API itself (and, for the platform partition no organization can read,
//! straight from the table).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::types::AttributeValue;
use hub_audit::AuditWriter;
use hub_audit::stream;
use hub_tests::{Answer, TestApp, Who, contact, enc};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

const CONTACTS: &str = "/api/business/contacts";
const LOGS: &str = "/api/audit/logs";

fn auditor(org: Uuid) -> Who {
    Who { user: Uuid::new_v4(), org: Some(org), roles: vec!["auditor".into()] }
}

async fn create_contact(app: &TestApp, token: &str, first: &str, last: &str) -> String {
    let created = app.send("POST", CONTACTS, Some(token), Some(contact(first, last))).await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["id"].as_str().unwrap().to_string()
}

/// The audit API's answer, asserted 200.
async fn logs(app: &TestApp, token: &str, query: &str) -> Value {
    let answer = app.send("GET", &format!("{LOGS}?{query}"), Some(token), None).await;
    assert_eq!(answer.status, 200, "{query}: {}", answer.body);
    answer.body
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().cloned().unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default()
}

/// Every record matching `query`, following cursors.
async fn all_logs(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let q = match &cursor {
            Some(c) => format!("{query}&cursor={}", enc(c)),
            None => query.to_string(),
        };
        let page = logs(app, token, &q).await;
        out.extend(items(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return out,
        }
    }
    panic!("more than 50 pages");
}

/// Items of the audit table's platform partition (nil organization), which no API serves.
async fn platform_records(app: &TestApp) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let out = app
        .client
        .query()
        .table_name(&app.audit_table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("ORG#{}", Uuid::nil())))
        .send()
        .await
        .unwrap();
    out.items.unwrap_or_default()
}

fn s<'a>(item: &'a std::collections::HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

#[tokio::test]
async fn reads_list_pages_and_searches_leave_one_access_record_each_with_the_request_context() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let member = Who::member(org);
    let token = app.token(&member);
    let admin = app.token(&Who::admin(org));
    let ids = [
        create_contact(&app, &token, "Jeanne", "Dupont").await,
        create_contact(&app, &token, "Paul", "Durand").await,
        create_contact(&app, &token, "Anne", "Martin").await,
    ];
    assert!(items(&logs(&app, &admin, "").await).is_empty(), "writes leave no access record");

    // A get.
    let got = app.send("GET", &format!("{CONTACTS}/{}", ids[0]), Some(&token), None).await;
    assert_eq!(got.status, 200);
    let request_id = got.header("x-request-id").unwrap().to_string();
    let trail = items(&logs(&app, &admin, &format!("resource_type=CONTACT&resource_id={}", ids[0])).await);
    assert_eq!(trail.len(), 1, "{trail:?}");
    let view = &trail[0];
    assert_eq!(view["action"], "view");
    assert_eq!(view["outcome"], "success");
    assert_eq!(view["risk"], "low");
    assert_eq!(view["actor_id"], member.user.to_string());
    assert_eq!(view["organization_id"], org.to_string());
    assert_eq!(view["resource_type"], "CONTACT");
    assert_eq!(view["resource_id"], ids[0].as_str());
    assert_eq!(view["request_id"], request_id.as_str(), "the id the caller got in x-request-id");
    assert_eq!(view["source_ip"], "203.0.113.7");
    assert_eq!(view["user_agent"], "hub-tests/1.0");
    assert_eq!(view["status"], 200);
    assert_eq!(view["source"], "request");
    assert!(!view.to_string().contains("Jeanne"), "access records carry ids, never values: {view}");

    // A list page: one record naming exactly the ids it returned.
    let page = app.send("GET", &format!("{CONTACTS}?page_size=2"), Some(&token), None).await;
    assert_eq!(page.status, 200);
    let returned: Vec<String> =
        page.body["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(returned.len(), 2);
    let views = all_logs(&app, &admin, &format!("action=view&user_id={}", member.user)).await;
    assert_eq!(views.len(), 2, "one record for the get, one for the page: {views:?}");
    let listed = views.iter().find(|r| r["resource_id"].is_null()).unwrap();
    assert_eq!(strings(&listed["resource_ids"]), returned);
    assert_eq!(listed["request_id"], page.header("x-request-id").unwrap());

    // A search: the ids it found.
    let found = app.send("GET", &format!("{CONTACTS}?search=mart"), Some(&token), None).await;
    assert_eq!(found.body["items"].as_array().unwrap().len(), 1);
    let views = all_logs(&app, &admin, &format!("action=view&user_id={}", member.user)).await;
    assert_eq!(views.len(), 3);
    let search = views.iter().find(|r| r["request_id"] == found.header("x-request-id").unwrap()).unwrap();
    assert_eq!(search["resource_id"], ids[2].as_str(), "a one-record page names its record");
    assert!(!search.to_string().contains("mart"), "the search term is not kept: {search}");
}

#[tokio::test]
async fn denied_attempts_are_recorded_with_their_risk_and_a_401_only_in_the_platform_partition() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let viewer = Who::viewer(org);
    let id = create_contact(&app, &admin, "Jeanne", "Dupont").await;

    // 401: no trustworthy organization, so the platform partition, which no tenant reads.
    let forged = Who::admin(org);
    let answer = app.send("GET", &format!("{CONTACTS}/{id}"), Some("not-a-token"), None).await;
    answer.problem(401, "UNAUTHENTICATED");
    let mut claims_of_another_secret = app.token(&forged);
    claims_of_another_secret.push('x');
    app.send("GET", CONTACTS, Some(&claims_of_another_secret), None).await.problem(401, "UNAUTHENTICATED");
    let platform = platform_records(&app).await;
    assert_eq!(platform.len(), 2, "{platform:?}");
    let by_id = platform.iter().find(|i| s(i, "resource_id") == Some(id.as_str())).unwrap();
    assert_eq!(s(by_id, "outcome"), Some("failure"));
    assert_eq!(s(by_id, "risk"), Some("high"));
    assert_eq!(s(by_id, "actor_id"), Some("system"), "an unverified caller is nobody");
    assert_eq!(s(by_id, "action"), Some("view"));
    assert_eq!(by_id.get("status").and_then(|v| v.as_n().ok()).map(String::as_str), Some("401"));
    assert_eq!(s(by_id, "request_id"), answer.header("x-request-id"));
    let org_failures = all_logs(&app, &admin, "risk=high").await;
    assert!(org_failures.is_empty(), "a 401 never lands in the organization it claimed: {org_failures:?}");

    // 403: a viewer trying to write, recorded in their (verified) organization.
    app.send("POST", CONTACTS, Some(&app.token(&viewer)), Some(contact("X", "Y"))).await.problem(403, "FORBIDDEN");
    let high = all_logs(&app, &admin, "risk=high").await;
    assert_eq!(high.len(), 1, "{high:?}");
    assert_eq!(high[0]["actor_id"], viewer.user.to_string());
    assert_eq!(high[0]["outcome"], "failure");
    assert_eq!(high[0]["action"], "create");
    assert_eq!(high[0]["resource_type"], "CONTACT");
    assert_eq!(high[0]["status"], 403);

    // A by-id 404 (here: another organization's id): a medium-risk denied access, in the
    // caller's organization (the owner's cannot be known without a cross-organization lookup).
    let other_org = Uuid::new_v4();
    let prober = Who::admin(other_org);
    let prober_token = app.token(&prober);
    app.send("GET", &format!("{CONTACTS}/{id}"), Some(&prober_token), None).await.problem(404, "NOT_FOUND");
    let probes = all_logs(&app, &prober_token, "risk=medium").await;
    assert_eq!(probes.len(), 1, "{probes:?}");
    assert_eq!(probes[0]["resource_id"], id.as_str());
    assert_eq!(probes[0]["resource_type"], "CONTACT");
    assert_eq!(probes[0]["outcome"], "failure");
    assert_eq!(probes[0]["actor_id"], prober.user.to_string());
    assert!(all_logs(&app, &admin, "risk=medium").await.is_empty(), "nothing leaks into the owner's trail");
    // A 404 of a list (no id) is not an attempt on a record.
    assert_eq!(app.send("GET", &format!("{CONTACTS}?page_size=5"), Some(&prober_token), None).await.status, 200);
    assert_eq!(all_logs(&app, &prober_token, "risk=medium").await.len(), 1);
}

#[tokio::test]
async fn an_access_whose_audit_record_cannot_be_written_is_refused_with_503_and_no_data() {
    let mut app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let token = app.token(&Who::member(org));
    let id = create_contact(&app, &token, "Jeanne", "Secretname").await;
    // From here on, the audit table this app writes to does not exist.
    let services = Arc::get_mut(&mut app.services).expect("no other handle yet");
    services.audit = AuditWriter::new(app.client.clone(), format!("missing-{}", Uuid::new_v4().simple()));

    for path in [format!("{CONTACTS}/{id}"), CONTACTS.to_string(), format!("{CONTACTS}?search=secretname")] {
        let answer = app.send("GET", &path, Some(&token), None).await;
        answer.problem(503, "SERVICE_UNAVAILABLE");
        assert!(!answer.body.to_string().to_lowercase().contains("secretname"), "{path}: {}", answer.body);
        assert!(answer.body.get("items").is_none() && answer.body.get("first_name").is_none());
    }
    // A denied attempt that cannot be recorded keeps its own answer.
    app.send("GET", &format!("{CONTACTS}/{id}"), None, None).await.problem(401, "UNAUTHENTICATED");
    app.send("GET", &format!("{CONTACTS}/{}", Uuid::new_v4()), Some(&token), None).await.problem(404, "NOT_FOUND");
}

#[tokio::test]
async fn the_audit_api_is_for_admins_and_auditors_and_scoped_to_their_organization() {
    let app = TestApp::spawn().await;
    let (org, other) = (Uuid::new_v4(), Uuid::new_v4());
    let admin = app.token(&Who::admin(org));
    let id = create_contact(&app, &admin, "Jeanne", "Dupont").await;
    for _ in 0..3 {
        assert_eq!(app.send("GET", &format!("{CONTACTS}/{id}"), Some(&admin), None).await.status, 200);
    }
    let auditor_token = app.token(&auditor(org));
    assert_eq!(items(&logs(&app, &auditor_token, "").await).len(), 3);
    let owner = Who { user: Uuid::new_v4(), org: Some(org), roles: vec!["owner".into()] };
    assert_eq!(items(&logs(&app, &app.token(&owner), "").await).len(), 3);
    for who in [Who::member(org), Who::viewer(org)] {
        app.send("GET", LOGS, Some(&app.token(&who)), None).await.problem(403, "FORBIDDEN");
    }
    app.send("GET", LOGS, None, None).await.problem(401, "UNAUTHENTICATED");

    // Another organization's admin sees none of it, by any filter, nor through a cursor.
    let foreign = app.token(&Who::admin(other));
    assert!(items(&logs(&app, &foreign, "").await).is_empty());
    assert!(items(&logs(&app, &foreign, &format!("resource_type=CONTACT&resource_id={id}")).await).is_empty());
    assert!(items(&logs(&app, &foreign, "action=view").await).is_empty());
    let first = logs(&app, &admin, "page_size=1").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    app.send("GET", &format!("{LOGS}?page_size=1&cursor={}", enc(cursor)), Some(&foreign), None)
        .await
        .problem(400, "INVALID_CURSOR");
    // Nor a contact's history.
    app.send("GET", &format!("{CONTACTS}/{id}/history"), Some(&foreign), None).await.problem(404, "NOT_FOUND");
    // The nil organization is the platform partition: no token may claim it.
    let nil = Who { user: Uuid::new_v4(), org: Some(Uuid::nil()), roles: vec!["admin".into()] };
    app.send("GET", LOGS, Some(&app.token(&nil)), None).await.problem(403, "NO_ORGANIZATION");
}

#[tokio::test]
async fn every_filter_goes_through_its_index_newest_first_and_pages_with_signed_cursors() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin_who = Who::admin(org);
    let admin = app.token(&admin_who);
    let member_who = Who::member(org);
    let member = app.token(&member_who);
    let a = create_contact(&app, &admin, "Jeanne", "Dupont").await;
    let b = create_contact(&app, &admin, "Paul", "Durand").await;
    for _ in 0..5 {
        assert_eq!(app.send("GET", &format!("{CONTACTS}/{a}"), Some(&member), None).await.status, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(app.send("GET", &format!("{CONTACTS}/{b}"), Some(&admin), None).await.status, 200);
    app.send("GET", LOGS, Some(&member), None).await.problem(403, "FORBIDDEN");

    // By resource, paged two at a time, newest first, to the end.
    let query = format!("resource_type=CONTACT&resource_id={a}&page_size=2");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = cursor.as_ref().map(|c| format!("{query}&cursor={}", enc(c))).unwrap_or(query.clone());
        let page = logs(&app, &admin, &q).await;
        pages += 1;
        let page_items = items(&page);
        assert!(page_items.len() <= 2);
        seen.extend(page_items);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(pages >= 3);
    assert!(seen.iter().all(|r| r["resource_id"] == a.as_str()));
    let times: Vec<&str> = seen.iter().map(|r| r["occurred_at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let unique: HashSet<&str> = seen.iter().map(|r| r["audit_id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), 5, "no record twice across pages");

    // By user, action and risk.
    let by_member = all_logs(&app, &admin, &format!("user_id={}", member_who.user)).await;
    assert_eq!(by_member.len(), 6, "five views and one denied attempt");
    let by_admin = all_logs(&app, &admin, &format!("user_id={}&page_size=1", admin_who.user)).await;
    assert_eq!(by_admin.len(), 1);
    assert_eq!(by_admin[0]["resource_id"], b.as_str());
    // The member's refused call to the audit API was an attempted view too.
    assert_eq!(all_logs(&app, &admin, "action=view&page_size=4").await.len(), 7);
    let high = all_logs(&app, &admin, "risk=high").await;
    assert_eq!(high.len(), 1);
    assert_eq!((high[0]["status"].as_u64(), high[0]["resource_type"].as_str()), (Some(403), Some("AUDIT")));
    assert_eq!(all_logs(&app, &admin, "risk=low").await.len(), 6);
    // Combined: the most selective picks the index, the others are checked.
    assert_eq!(all_logs(&app, &admin, &format!("user_id={}&risk=high", member_who.user)).await.len(), 1);
    assert_eq!(all_logs(&app, &admin, &format!("user_id={}&action=view&page_size=2", member_who.user)).await.len(), 6);

    // Time range.
    let from = enc(&between.to_rfc3339());
    let after = all_logs(&app, &admin, &format!("from={from}")).await;
    assert_eq!(after.len(), 2, "the admin's view of b and the member's refused call: {after:?}");
    let before = all_logs(&app, &admin, &format!("to={from}&action=view")).await;
    assert_eq!(before.len(), 5);
    let in_resource = all_logs(&app, &admin, &format!("resource_type=CONTACT&resource_id={a}&from={from}")).await;
    assert!(in_resource.is_empty());

    // Cursors: forged, tampered, or from another query are refused.
    let first = logs(&app, &admin, &format!("resource_type=CONTACT&resource_id={a}&page_size=2")).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    for (query, bad) in [
        (format!("resource_type=CONTACT&resource_id={a}&page_size=2"), "garbage".to_string()),
        (format!("resource_type=CONTACT&resource_id={a}&page_size=2"), format!("{cursor}x")),
        ("page_size=2".to_string(), cursor.clone()),
        (format!("resource_type=CONTACT&resource_id={b}&page_size=2"), cursor.clone()),
    ] {
        app.send("GET", &format!("{LOGS}?{query}&cursor={}", enc(&bad)), Some(&admin), None)
            .await
            .problem(400, "INVALID_CURSOR");
    }
    // Malformed filters.
    for query in ["action=peek", "risk=extreme", "from=yesterday", "resource_type=CONTACT", "user_id=bob", "colour=red"]
    {
        let answer: Answer = app.send("GET", &format!("{LOGS}?{query}"), Some(&admin), None).await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.body);
    }
    let answer = app.send("GET", &format!("{LOGS}?from={from}&to=2000-01-01T00:00:00Z"), Some(&admin), None).await;
    assert_eq!(answer.status, 400);
}

#[tokio::test]
async fn a_contacts_history_is_its_trail_for_auditors_and_reading_it_is_recorded() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let id = create_contact(&app, &admin, "Jeanne", "Dupont").await;
    let other = create_contact(&app, &admin, "Paul", "Durand").await;
    assert_eq!(app.send("GET", &format!("{CONTACTS}/{id}"), Some(&admin), None).await.status, 200);
    assert_eq!(app.send("GET", &format!("{CONTACTS}/{other}"), Some(&admin), None).await.status, 200);
    let auditor_token = app.token(&auditor(org));
    let history = app.send("GET", &format!("{CONTACTS}/{id}/history"), Some(&auditor_token), None).await;
    assert_eq!(history.status, 200, "{}", history.body);
    let trail = items(&history.body);
    assert_eq!(trail.len(), 1, "only this contact's records: {trail:?}");
    assert_eq!(trail[0]["resource_id"], id.as_str());
    // Reading the trail is a view of the contact.
    let again = app.send("GET", &format!("{CONTACTS}/{id}/history?page_size=1"), Some(&auditor_token), None).await;
    assert_eq!(items(&again.body).len(), 1);
    assert!(again.body["next_cursor"].is_string());
    assert_eq!(all_logs(&app, &admin, &format!("resource_type=CONTACT&resource_id={id}")).await.len(), 3);
    // A deleted contact keeps its history.
    assert_eq!(app.send("DELETE", &format!("{CONTACTS}/{id}"), Some(&admin), None).await.status, 200);
    assert_eq!(app.send("GET", &format!("{CONTACTS}/{id}/history"), Some(&admin), None).await.status, 200);
    app.send("GET", &format!("{CONTACTS}/{}/history", Uuid::new_v4()), Some(&admin), None)
        .await
        .problem(404, "NOT_FOUND");
    app.send("GET", &format!("{CONTACTS}/{id}/history"), Some(&app.token(&Who::member(org))), None)
        .await
        .problem(403, "FORBIDDEN");
}

fn sha_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A document about the contact, uploaded and completed (so it can be downloaded).
async fn available_document(app: &TestApp, token: &str, contact_id: &str, bytes: &[u8]) -> String {
    let created = app
        .send(
            "POST",
            "/api/business/documents",
            Some(token),
            Some(json!({
                "title": "Blood test", "file_name": "results.pdf", "mime_type": "application/pdf",
                "file_size_bytes": bytes.len(), "checksum": sha_hex(bytes), "related_contact_id": contact_id,
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let upload = &created.body["upload"];
    let mut request = reqwest::Client::new().put(upload["url"].as_str().unwrap()).body(bytes.to_vec());
    for (name, value) in upload["headers"].as_object().unwrap() {
        if name != "content-length" {
            request = request.header(name.as_str(), value.as_str().unwrap());
        }
    }
    assert!(request.send().await.unwrap().status().is_success());
    let id = created.body["id"].as_str().unwrap().to_string();
    let done = app.send("POST", &format!("/api/business/documents/{id}/complete"), Some(token), None).await;
    assert_eq!(done.body["upload_status"], "available", "{}", done.body);
    id
}

#[tokio::test]
async fn a_download_is_recorded_as_a_medium_risk_access() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let who = Who::member(org);
    let token = app.token(&who);
    let admin = app.token(&Who::admin(org));
    let contact_id = create_contact(&app, &token, "Jeanne", "Dupont").await;
    let document = available_document(&app, &token, &contact_id, b"%PDF-1.7 results").await;
    let answer = app.send("GET", &format!("/api/business/documents/{document}/download"), Some(&token), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let downloads = all_logs(&app, &admin, "action=download").await;
    assert_eq!(downloads.len(), 1, "{downloads:?}");
    let record = &downloads[0];
    assert_eq!(record["resource_type"], "DOCUMENT");
    assert_eq!(record["resource_id"], document.as_str());
    assert_eq!(record["risk"], "medium");
    assert_eq!(record["actor_id"], who.user.to_string());
    assert_eq!(record["request_id"], answer.header("x-request-id").unwrap());
    // And the versions list of the document is a view of what it listed.
    let versions = app.send("GET", &format!("/api/business/documents/{document}/versions"), Some(&token), None).await;
    assert_eq!(versions.status, 200);
    let views = all_logs(&app, &admin, "action=view").await;
    assert_eq!(views.len(), 1);
    assert_eq!(views[0]["resource_type"], "DOCUMENT");
    assert_eq!(strings(&views[0]["resource_ids"]), std::slice::from_ref(&document));
}

#[tokio::test]
async fn the_export_holds_everything_about_the_person_and_is_itself_audited() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin_who = Who::admin(org);
    let admin = app.token(&admin_who);
    let member = app.token(&Who::member(org));
    let mut body = contact("Jeanne", "Dupont");
    body["email"] = json!("jeanne.dupont@example.fr");
    let created = app.send("POST", CONTACTS, Some(&member), Some(body)).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let someone_else = create_contact(&app, &member, "Paul", "Durand").await;
    let url = format!("{CONTACTS}/{id}");
    let consent = app
        .send("PATCH", &url, Some(&member), Some(json!({"consent_given": true, "consent_version": "2026-03"})))
        .await;
    assert_eq!(consent.status, 200, "{}", consent.body);

    // Two appointments (more than one page would need > 100; all pages are read either way).
    let mut appointments = Vec::new();
    for days in [1, 2] {
        let start = chrono::Utc::now() + chrono::Duration::days(days);
        let end = start + chrono::Duration::minutes(30);
        let answer = app
            .send(
                "POST",
                "/api/business/appointments",
                Some(&member),
                Some(json!({
                    "title": "Consultation", "contact_id": id, "timezone": "Europe/Paris",
                    "start_datetime": start.to_rfc3339(), "end_datetime": end.to_rfc3339(),
                    "assigned_provider": Uuid::new_v4().to_string(),
                })),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        appointments.push(answer.body["id"].as_str().unwrap().to_string());
    }
    let transaction = app
        .send(
            "POST",
            "/api/business/transactions",
            Some(&member),
            Some(
                json!({"contact_id": id, "transaction_id": "INV-1", "transaction_type": "payment", "amount": "42.50"}),
            ),
        )
        .await;
    assert_eq!(transaction.status, 201, "{}", transaction.body);
    let unrelated = app
        .send(
            "POST",
            "/api/business/transactions",
            Some(&member),
            Some(json!({"contact_id": someone_else, "transaction_id": "INV-2", "transaction_type": "payment", "amount": "1.00"})),
        )
        .await;
    assert_eq!(unrelated.status, 201);
    let bytes = b"%PDF-1.7 the person's results";
    let document = available_document(&app, &member, &id, bytes).await;
    let pending = app
        .send(
            "POST",
            "/api/business/documents",
            Some(&member),
            Some(json!({"title": "Scan", "file_name": "scan.png", "mime_type": "image/png",
                        "file_size_bytes": 3, "checksum": sha_hex(b"abc"), "related_contact_id": id})),
        )
        .await;
    assert_eq!(pending.status, 201);
    let pending_id = pending.body["id"].as_str().unwrap().to_string();
    // The audit trail of the contact's record: the stream's change records, and a view.
    assert_eq!(app.send("GET", &url, Some(&member), None).await.status, 200);
    let records = app.stream_records().await;
    let outcome = stream::handle(&AuditWriter::new(app.client.clone(), &app.audit_table), &json!({"Records": records}))
        .await
        .unwrap();
    assert_eq!(outcome.failed_at, None);

    let export = app.send("GET", &format!("{url}/export"), Some(&admin), None).await;
    assert_eq!(export.status, 200, "{}", export.body);
    let doc = &export.body;
    assert_eq!(doc["format"], "hub-export/1");
    assert_eq!(doc["contact"]["id"], id.as_str());
    assert_eq!(doc["contact"]["email"], "jeanne.dupont@example.fr");
    assert_eq!(doc["contact"]["consent_given"], true);
    let listed = |field: &str| -> Vec<String> {
        doc[field].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
    };
    let mut got_appointments = listed("appointments");
    got_appointments.sort();
    appointments.sort();
    assert_eq!(got_appointments, appointments);
    assert_eq!(listed("transactions"), [transaction.body["id"].as_str().unwrap().to_string()]);
    assert_eq!(doc["transactions"][0]["amount"], "42.50");
    let mut documents = listed("documents");
    documents.sort();
    let mut expected = vec![document.clone(), pending_id.clone()];
    expected.sort();
    assert_eq!(documents, expected);
    for entry in doc["documents"].as_array().unwrap() {
        if entry["id"] == document.as_str() {
            let link = entry["download"]["url"].as_str().expect("an available document has a link");
            let fetched = reqwest::get(link).await.unwrap();
            assert!(fetched.status().is_success());
            assert_eq!(fetched.bytes().await.unwrap().as_ref(), bytes, "the link serves the person's file");
        } else {
            assert!(entry.get("download").is_none(), "a pending document has no file to link: {entry}");
        }
    }
    // Consent history: when, by whom, what.
    let consent_history = doc["consent_history"].as_array().unwrap();
    let given = consent_history.iter().find(|c| c["action"] == "update").expect("the consent change");
    assert!(given["changes"].as_array().unwrap().iter().any(|c| c["field"] == "consent_given" && c["to"] == true));
    assert!(
        given["changes"].as_array().unwrap().iter().any(|c| c["field"] == "consent_version" && c["to"] == "2026-03")
    );
    assert!(given["actor_id"].is_string() && given["occurred_at"].is_string());
    // The audit trail of the record, oldest first, personal values decrypted.
    let trail = doc["audit_trail"].as_array().unwrap();
    let actions: Vec<&str> = trail.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["create", "update", "view"], "{trail:?}");
    let create = &trail[0];
    assert!(
        create["changes"].as_array().unwrap().iter().any(|c| c["field"] == "first_name" && c["to"] == "Jeanne"),
        "decrypted: {create}"
    );
    assert!(!doc.to_string().contains("Durand") && !doc.to_string().contains("INV-2"), "nobody else's data");

    // The export itself: one high-risk `export` record naming the contact.
    let exports = all_logs(&app, &admin, "action=export").await;
    assert_eq!(exports.len(), 1, "{exports:?}");
    assert_eq!(exports[0]["resource_id"], id.as_str());
    assert_eq!(exports[0]["risk"], "high");
    assert_eq!(exports[0]["actor_id"], admin_who.user.to_string());
    assert_eq!(exports[0]["request_id"], export.header("x-request-id").unwrap());

    // Only admins (and owners) may export; refusals are recorded as failed exports.
    for who in [Who::member(org), auditor(org)] {
        app.send("GET", &format!("{url}/export"), Some(&app.token(&who)), None).await.problem(403, "FORBIDDEN");
    }
    app.send("GET", &format!("{url}/export"), Some(&app.token(&Who::admin(Uuid::new_v4()))), None)
        .await
        .problem(404, "NOT_FOUND");
    let exports = all_logs(&app, &admin, "action=export").await;
    assert_eq!(exports.iter().filter(|r| r["outcome"] == "failure" && r["risk"] == "high").count(), 2);
}
