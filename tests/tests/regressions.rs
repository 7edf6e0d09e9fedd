//! The defects found by trying the backend as a new user would (full records, typed dates, the
//! OpenAPI document taken at its word), one test each, through the real handlers. Each failed
//! before its fix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_tests::{TestApp, Who};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use uuid::Uuid;

const CONTACTS: &str = "/api/business/contacts";

async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let answer = app.send("POST", path, Some(token), Some(body)).await;
    assert_eq!(answer.status, 201, "{path}: {}", answer.body);
    answer.body
}

/// A contact with every field set, accents and a date of birth among them.
fn full_contact() -> Value {
    json!({
        "contact_type": "patient", "title": "mrs", "first_name": "Zoé", "last_name": "Durand",
        "email": "zoe.durand@exemple.fr", "phone": "+33 1 23 45 67 89", "mobile": "06 12 34 56 78",
        "date_of_birth": "1984-05-17", "address_line1": "12 rue de l'Église", "address_line2": "Bâtiment B",
        "city": "Lyon", "state": "Auvergne-Rhône-Alpes", "postal_code": "69003", "country": "France",
        "medical_record_number": "MRN-2024-0042", "insurance_number": "1 84 05 69 123 456 78",
        "company": "Hôpital Édouard Herriot", "job_title": "Infirmière", "preferred_language": "fr",
        "communication_preference": "sms", "emergency_contact_name": "Léa Durand",
        "emergency_contact_phone": "+33 6 98 76 54 32", "emergency_contact_relationship": "sœur",
        "consent_given": true, "consent_version": "2025-01",
    })
}

#[tokio::test]
async fn erasing_a_contact_with_a_date_of_birth_and_every_field_set_succeeds() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let contact = created(&app, &admin, CONTACTS, full_contact()).await;
    let url = format!("{CONTACTS}/{}/anonymize", contact["id"].as_str().unwrap());
    let answer = app.send("POST", &url, Some(&admin), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let erased = &answer.body["contact"];
    assert_eq!(erased["date_of_birth"], Value::Null);
    assert_eq!(erased["first_name"], "[anonymized]");
    for field in ["email", "phone", "mobile", "city", "medical_record_number", "emergency_contact_name"] {
        assert_eq!(erased[field], "", "{field}");
    }
    assert_eq!(erased["consent_given"], true, "consent is not personal data: it stays");
}

#[tokio::test]
async fn dates_with_short_signed_or_unpadded_years_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let contact = created(&app, &admin, CONTACTS, json!({"first_name": "Jean", "last_name": "Date"})).await;
    let contact_id = contact["id"].as_str().unwrap();
    let appointment = json!({
        "title": "Bilan", "contact_id": contact_id,
        "start_datetime": "2031-05-05T09:00:00Z", "end_datetime": "2031-05-05T09:30:00Z",
    });
    let transaction = json!({
        "transaction_id": format!("TX-{}", Uuid::new_v4().simple()), "transaction_type": "payment",
        "amount": "10.00", "contact_id": contact_id,
    });
    let document = json!({
        "title": "Scan", "file_name": "scan.pdf", "file_size_bytes": 10, "checksum": "a".repeat(64),
    });
    let cases = [
        (CONTACTS, json!({"first_name": "A", "last_name": "B"}), "date_of_birth"),
        (CONTACTS, json!({"first_name": "A", "last_name": "B"}), "data_retention_until"),
        ("/api/business/appointments", appointment, "follow_up_date"),
        ("/api/business/transactions", transaction.clone(), "billing_period_start"),
        ("/api/business/transactions", transaction.clone(), "billing_period_end"),
        ("/api/business/transactions", transaction, "due_date"),
        ("/api/business/documents", document, "retention_until"),
    ];
    for (path, base, field) in cases {
        for typed in ["24-01-01", "0-01-01", "2024-1-1", "+2024-01-01", "0024-01-01", "20240101", " 2030-01-01"] {
            let mut body = base.clone();
            body[field] = json!(typed);
            let answer = app.send("POST", path, Some(&admin), Some(body)).await;
            let problem = answer.problem(422, "VALIDATION_FAILED");
            assert_eq!(problem["errors"][0]["field"], field, "{path} {field}={typed}: {problem}");
        }
    }
    // Windows: a birth in the future, a retention date already past (the next run would erase
    // the record), a retention more than a century away.
    for (field, value) in [
        ("date_of_birth", "2999-01-01"),
        ("date_of_birth", "1899-12-31"),
        ("data_retention_until", "2001-01-01"),
        ("data_retention_until", "2199-01-01"),
    ] {
        let body = json!({"first_name": "A", "last_name": "B", field: value});
        let problem = app.send("POST", CONTACTS, Some(&admin), Some(body)).await;
        let problem = problem.problem(422, "VALIDATION_FAILED");
        assert_eq!(problem["errors"][0]["field"], field, "{field}={value}");
    }
}

/// The committed OpenAPI document, as a frontend generator reads it.
fn document() -> Value {
    let text = std::fs::read_to_string(hub_tests::workspace_root().join("functions/openapi/openapi.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The body schema of an operation, `$ref` followed.
fn body_schema<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let schema = &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
    match schema["$ref"].as_str() {
        Some(reference) => &doc["components"]["schemas"][reference.trim_start_matches("#/components/schemas/")],
        None => schema,
    }
}

/// Whether a 422 names `field`.
fn refuses(answer: &hub_tests::Answer, field: &str) -> bool {
    answer.status == 422 && answer.body["errors"].as_array().unwrap().iter().any(|e| e["field"] == field)
}

#[tokio::test]
async fn the_documents_bounds_required_fields_and_unknown_members_are_the_servers() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let contact = created(&app, &admin, CONTACTS, json!({"first_name": "Borne", "last_name": "Limite"})).await;
    let contact_id = contact["id"].as_str().unwrap().to_string();
    let doc = document();
    let bodies = [
        (CONTACTS, json!({"first_name": "A", "last_name": "B"})),
        (
            "/api/business/appointments",
            json!({"title": "T", "contact_id": contact_id, "start_datetime": "2031-05-05T09:00:00Z",
                   "end_datetime": "2031-05-05T09:30:00Z"}),
        ),
        (
            "/api/business/transactions",
            json!({"transaction_id": "TX", "transaction_type": "payment", "amount": "1.00", "contact_id": contact_id}),
        ),
        (
            "/api/business/documents",
            json!({"title": "D", "file_name": "d.pdf", "file_size_bytes": 1, "checksum": "a".repeat(64)}),
        ),
        ("/api/analytics/records", json!({"metric_name": "m", "metric_value": 1})),
    ];
    let mut checked = 0;
    for (path, base) in bodies {
        let schema = body_schema(&doc, path, "post");
        let properties: &Map<String, Value> = schema["properties"].as_object().unwrap();
        let send = |field: &str, value: Value| {
            let mut body = base.clone();
            body[field] = value;
            // Unique values (transaction ids) must not collide between cases.
            if path.ends_with("transactions") && field != "transaction_id" {
                body["transaction_id"] = json!(format!("TX-{}", Uuid::new_v4().simple()));
            }
            let (app, admin) = (&app, admin.clone());
            async move { app.send("POST", path, Some(&admin), Some(body)).await }
        };
        for (field, property) in properties {
            let types = property["type"].as_array().cloned().unwrap_or_else(|| vec![property["type"].clone()]);
            if types.contains(&json!("integer")) {
                for (bound, outside) in [("minimum", -1), ("maximum", 1)] {
                    let Some(limit) = property[bound].as_i64() else { continue };
                    checked += 1;
                    let at = send(field, json!(limit)).await;
                    assert!(!refuses(&at, field), "{path} {field}={limit} is the documented {bound}: {}", at.body);
                    let past = send(field, json!(limit + outside)).await;
                    assert!(
                        refuses(&past, field),
                        "{path} {field}={} is past the {bound}: {}",
                        limit + outside,
                        past.body
                    );
                }
            }
            let required = schema["required"].as_array().is_some_and(|r| r.contains(&json!(field)));
            if required && types.contains(&json!("string")) {
                checked += 1;
                let empty = send(field, json!("")).await;
                let allows_empty = property["minLength"].as_u64().unwrap_or(0) == 0
                    && property["pattern"].as_str().is_none_or(|p| regex::Regex::new(p).unwrap().is_match(""));
                assert_eq!(!allows_empty, refuses(&empty, field), "{path} {field}=\"\": {}", empty.body);
            }
        }
        checked += 1;
        let unknown = send("nickname", json!("x")).await;
        let closed = schema["additionalProperties"] == json!(false);
        assert_eq!(closed, refuses(&unknown, "nickname"), "{path}: an unknown member: {}", unknown.body);
    }
    assert!(checked > 10, "{checked} boundaries checked");
}

#[tokio::test]
async fn the_versions_list_refuses_unknown_parameters_as_every_list_does() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let body = json!({"title": "D", "file_name": "d.pdf", "file_size_bytes": 1, "checksum": "a".repeat(64)});
    let document = created(&app, &admin, "/api/business/documents", body).await;
    let url = format!("/api/business/documents/{}/versions", document["id"].as_str().unwrap());
    assert_eq!(app.send("GET", &url, Some(&admin), None).await.status, 200);
    app.send("GET", &format!("{url}?unknown=1"), Some(&admin), None).await.problem(400, "UNKNOWN_PARAMETER");
    for path in [
        format!("{CONTACTS}?unknown=1"),
        format!("{CONTACTS}/{}?unknown=1", Uuid::new_v4()),
        "/api/audit/logs?colour=red".to_string(),
        "/api/analytics/summary?colour=red".to_string(),
    ] {
        app.send("GET", &path, Some(&admin), None).await.problem(400, "UNKNOWN_PARAMETER");
    }
}

#[tokio::test]
async fn an_idempotency_key_that_is_not_ascii_is_refused_not_ignored() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let token = app.token(&Who::member(org));
    let headers = HashMap::from([
        ("authorization".to_string(), format!("Bearer {token}")),
        ("content-type".to_string(), "application/json".to_string()),
        ("idempotency-key".to_string(), "clé-de-reprise".to_string()),
    ]);
    let body = json!({"first_name": "Clé", "last_name": "Reprise"}).to_string();
    // Ignored, the key would let a retry create the contact twice.
    let answer = app.send_raw("POST", CONTACTS, headers, Some(body)).await;
    answer.problem(400, "INVALID_IDEMPOTENCY_KEY");
}
