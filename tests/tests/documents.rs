//! Documents over real API Gateway events, against moto's DynamoDB and S3 with the real SDK.
//! moto checks neither signatures, expiry nor checksums, so these tests check what the code
//! does: what the upload URL signs, and what `complete` accepts and rejects from what is
//! actually stored.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_tests::{Answer, TestApp, Who, contact, enc};
use serde_json::{Value, json};
use uuid::Uuid;

const DOCUMENTS: &str = "/api/business/documents";

fn sha_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn sha_base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

fn body_for(bytes: &[u8]) -> Value {
    json!({
        "title": "Blood test",
        "file_name": "résultats \"mars\".pdf",
        "mime_type": "application/pdf",
        "file_size_bytes": bytes.len(),
        "checksum": sha_hex(bytes),
    })
}

fn with(mut body: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let answer = app.send("POST", DOCUMENTS, Some(token), Some(body)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body
}

fn id(doc: &Value) -> String {
    doc["id"].as_str().unwrap().to_string()
}

/// PUTs `bytes` to the document's upload URL with the headers it lists, as a browser would;
/// `checksum` overrides the checksum header (moto stores whatever it is sent).
async fn put(created: &Value, bytes: &[u8], checksum: Option<String>) {
    let upload = &created["upload"];
    let mut request = reqwest::Client::new().put(upload["url"].as_str().unwrap()).body(bytes.to_vec());
    for (name, value) in upload["headers"].as_object().unwrap() {
        // The HTTP client sets the length of the body it sends.
        if name == "content-length" {
            continue;
        }
        let value = match (&checksum, name.as_str()) {
            (Some(other), "x-amz-checksum-sha256") => other.clone(),
            _ => value.as_str().unwrap().to_string(),
        };
        request = request.header(name.as_str(), value);
    }
    let response = request.send().await.unwrap();
    assert!(response.status().is_success(), "upload: {}", response.text().await.unwrap());
}

async fn complete(app: &TestApp, token: &str, doc: &Value) -> Answer {
    app.send("POST", &format!("{DOCUMENTS}/{}/complete", id(doc)), Some(token), None).await
}

/// Created, uploaded and completed: an available document.
async fn available(app: &TestApp, token: &str, body: Value, bytes: &[u8]) -> Value {
    let created = create(app, token, body).await;
    put(&created, bytes, None).await;
    let done = complete(app, token, &created).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["upload_status"], "available", "{}", done.body);
    done.body
}

fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    url.split_once('?')?.1.split('&').find_map(|pair| pair.strip_prefix(&format!("{name}=")))
}

fn ids(answer: &Answer) -> Vec<String> {
    let Some(items) = answer.body["items"].as_array() else { panic!("not a list: {}", answer.body) };
    items.iter().map(id).collect()
}

// ---------------------------------------------------------------- the bucket

#[tokio::test]
async fn the_documents_bucket_is_created_as_template_yaml_defines_it() {
    let app = TestApp::spawn().await;
    let s3 = hub_infra::moto::s3_client(hub_tests::moto_endpoint());
    // moto's GetBucketVersioning answer has a root element the SDK refuses; moto checks no
    // signature, so ask over plain HTTP.
    let url = format!("{}/{}?versioning", hub_tests::moto_endpoint(), app.bucket);
    let versioning = reqwest::get(url).await.unwrap().text().await.unwrap();
    assert!(versioning.contains("<Status>Enabled</Status>"), "{versioning}");
    let cors = s3.get_bucket_cors().bucket(&app.bucket).send().await.unwrap();
    let rules = cors.cors_rules();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].allowed_methods(), ["PUT", "GET"]);
    // The template's CorsAllowedOrigins default, resolved as the functions' environment is.
    assert_eq!(rules[0].allowed_origins(), [hub_tests::ALLOWED_ORIGIN]);
    for header in ["content-type", "x-amz-checksum-sha256"] {
        assert!(rules[0].allowed_headers().iter().any(|h| h == header), "{header}: {rules:?}");
    }
}

// ---------------------------------------------------------------- upload

#[tokio::test]
async fn create_returns_a_pending_record_and_an_upload_url_signed_with_length_type_and_sha256() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let token = app.token(&Who::member(org));
    let bytes = b"%PDF-1.7 results";
    let answer = app.send("POST", DOCUMENTS, Some(&token), Some(body_for(bytes))).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let doc = &answer.body;
    assert_eq!(doc["upload_status"], "pending");
    assert_eq!(doc["document_version"], 1);
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["checksum"], sha_hex(bytes));
    assert_eq!(doc["privacy_level"], "internal");
    assert_eq!(doc["document_type"], "other");
    assert_eq!(doc["approved"], false);
    let key = format!("org/{org}/documents/{}/v1", id(doc));
    assert_eq!(doc["file_path"], key);

    let upload = &doc["upload"];
    assert_eq!(upload["method"], "PUT");
    let url = upload["url"].as_str().unwrap();
    assert!(url.contains(&format!("/{}/{key}?", app.bucket)), "{url}");
    assert!(!url.contains("sultats"), "the file name leaked into the key: {url}");
    let signed = query_param(url, "X-Amz-SignedHeaders").unwrap().replace("%3B", ";");
    for header in ["content-length", "content-type", "x-amz-checksum-sha256", "host"] {
        assert!(signed.split(';').any(|h| h == header), "{header} is not signed: {signed}");
    }
    assert_eq!(query_param(url, "X-Amz-Expires"), Some("300"));
    assert_eq!(upload["headers"]["content-length"], bytes.len().to_string());
    assert_eq!(upload["headers"]["content-type"], "application/pdf");
    assert_eq!(upload["headers"]["x-amz-checksum-sha256"], sha_base64(bytes));
    let expires = chrono::DateTime::parse_from_rfc3339(upload["expires_at"].as_str().unwrap()).unwrap();
    let left = expires.signed_duration_since(chrono::Utc::now()).num_seconds();
    assert!((280..=300).contains(&left), "{left}");

    let got = app.send("GET", &format!("{DOCUMENTS}/{}", id(doc)), Some(&token), None).await;
    assert_eq!(got.status, 200);
    assert!(got.body.get("upload").is_none());
    assert_eq!(got.body["upload_status"], "pending");
}

#[tokio::test]
async fn an_upload_matching_its_declaration_becomes_available_and_downloads_with_its_name() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let bytes = b"the bytes of a lab result";
    let doc = available(&app, &token, body_for(bytes), bytes).await;
    assert_eq!(doc["version"], 2);
    assert_eq!(doc["rejection_reason"], "");

    let answer = app.send("GET", &format!("{DOCUMENTS}/{}/download", id(&doc)), Some(&token), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["method"], "GET");
    assert_eq!(answer.body["file_name"], "résultats \"mars\".pdf");
    let url = answer.body["url"].as_str().unwrap();
    let expires: u64 = query_param(url, "X-Amz-Expires").unwrap().parse().unwrap();
    assert!(expires <= 300, "{expires}");
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_string();
    assert_eq!(
        disposition,
        "attachment; filename=\"r_sultats _mars_.pdf\"; filename*=UTF-8''r%C3%A9sultats%20%22mars%22.pdf"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes);
}

#[tokio::test]
async fn complete_before_any_upload_is_refused_and_the_document_stays_pending() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let doc = create(&app, &token, body_for(b"never sent")).await;
    complete(&app, &token, &doc).await.problem(409, "UPLOAD_NOT_FOUND");
    let got = app.send("GET", &format!("{DOCUMENTS}/{}", id(&doc)), Some(&token), None).await;
    assert_eq!(got.body["upload_status"], "pending");
    app.send("GET", &format!("{DOCUMENTS}/{}/download", id(&doc)), Some(&token), None)
        .await
        .problem(409, "NOT_AVAILABLE");
}

#[tokio::test]
async fn an_upload_of_another_size_is_rejected_with_the_reason_for_good() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let doc = create(&app, &token, body_for(b"four")).await;
    put(&doc, b"forty-two bytes instead", None).await;
    let answer = complete(&app, &token, &doc).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["upload_status"], "rejected");
    assert!(answer.body["rejection_reason"].as_str().unwrap().contains("4 were declared"), "{}", answer.body);
    complete(&app, &token, &doc).await.problem(409, "NOT_PENDING");
    app.send("GET", &format!("{DOCUMENTS}/{}/download", id(&doc)), Some(&token), None)
        .await
        .problem(409, "NOT_AVAILABLE");
}

#[tokio::test]
async fn an_upload_whose_stored_sha256_differs_from_the_declared_one_is_rejected() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let doc = create(&app, &token, body_for(b"good")).await;
    // Same length, other bytes, stored with their own checksum (S3 would have refused the
    // signed request; moto stores it, which is what `complete` must catch).
    put(&doc, b"evil", Some(sha_base64(b"evil"))).await;
    let answer = complete(&app, &token, &doc).await;
    assert_eq!(answer.body["upload_status"], "rejected", "{}", answer.body);
    assert!(answer.body["rejection_reason"].as_str().unwrap().contains("SHA-256"));
}

// ---------------------------------------------------------------- privacy and approval

#[tokio::test]
async fn restricted_documents_are_seen_and_downloaded_only_by_admins_and_clinical_roles() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let member = app.token(&Who::member(org));
    let doctor = app.token(&Who { user: Uuid::new_v4(), org: Some(org), roles: vec!["doctor".into()] });
    let bytes = b"restricted";
    app.send("POST", DOCUMENTS, Some(&member), Some(with(body_for(bytes), json!({"privacy_level": "restricted"}))))
        .await
        .problem(403, "FORBIDDEN");
    let doc = available(&app, &admin, with(body_for(bytes), json!({"privacy_level": "restricted"})), bytes).await;
    let path = format!("{DOCUMENTS}/{}", id(&doc));
    app.send("GET", &path, Some(&member), None).await.problem(404, "NOT_FOUND");
    app.send("GET", &format!("{path}/download"), Some(&member), None).await.problem(404, "NOT_FOUND");
    app.send("PATCH", &path, Some(&member), Some(json!({"title": "x"}))).await.problem(404, "NOT_FOUND");
    assert!(ids(&app.send("GET", DOCUMENTS, Some(&member), None).await).is_empty());
    assert!(
        ids(&app.send("GET", &format!("{DOCUMENTS}?privacy_level=restricted"), Some(&member), None).await).is_empty()
    );
    assert_eq!(app.send("GET", &path, Some(&doctor), None).await.status, 200);
    assert_eq!(app.send("GET", &format!("{path}/download"), Some(&doctor), None).await.status, 200);
    assert_eq!(ids(&app.send("GET", DOCUMENTS, Some(&doctor), None).await), [id(&doc)]);
}

#[tokio::test]
async fn confidential_documents_are_neither_listed_nor_shown_to_viewers() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let member = app.token(&Who::member(org));
    let viewer = app.token(&Who::viewer(org));
    let bytes = b"confidential";
    let secret = available(&app, &member, with(body_for(bytes), json!({"privacy_level": "confidential"})), bytes).await;
    let open = available(&app, &member, body_for(bytes), bytes).await;
    assert_eq!(ids(&app.send("GET", DOCUMENTS, Some(&viewer), None).await), [id(&open)]);
    assert_eq!(ids(&app.send("GET", DOCUMENTS, Some(&member), None).await), [id(&open), id(&secret)]);
    let path = format!("{DOCUMENTS}/{}", id(&secret));
    app.send("GET", &path, Some(&viewer), None).await.problem(404, "NOT_FOUND");
    app.send("GET", &format!("{path}/download"), Some(&viewer), None).await.problem(404, "NOT_FOUND");
    assert_eq!(app.send("GET", &format!("{DOCUMENTS}/{}/download", id(&open)), Some(&viewer), None).await.status, 200);
}

#[tokio::test]
async fn a_document_requiring_approval_downloads_for_non_admins_only_once_an_approver_approved_it() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let member = app.token(&Who::member(org));
    let practitioner_who = Who { user: Uuid::new_v4(), org: Some(org), roles: vec!["practitioner".into()] };
    let practitioner = app.token(&practitioner_who);
    let bytes = b"needs a signature";
    let pending = create(&app, &member, with(body_for(bytes), json!({"requires_approval": true}))).await;
    app.send("POST", &format!("{DOCUMENTS}/{}/approve", id(&pending)), Some(&admin), None)
        .await
        .problem(409, "NOT_AVAILABLE");
    put(&pending, bytes, None).await;
    assert_eq!(complete(&app, &member, &pending).await.status, 200);
    let path = format!("{DOCUMENTS}/{}", id(&pending));

    app.send("GET", &format!("{path}/download"), Some(&member), None).await.problem(403, "NOT_APPROVED");
    assert_eq!(app.send("GET", &format!("{path}/download"), Some(&admin), None).await.status, 200);
    app.send("PATCH", &path, Some(&member), Some(json!({"requires_approval": false}))).await.problem(403, "FORBIDDEN");
    app.send("POST", &format!("{path}/approve"), Some(&member), None).await.problem(403, "FORBIDDEN");

    let approved = app.send("POST", &format!("{path}/approve"), Some(&practitioner), None).await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.body["approved"], true);
    assert_eq!(approved.body["approved_by"], practitioner_who.user.to_string());
    assert!(approved.body["approved_at"].as_str().unwrap().ends_with('Z'));
    app.send("POST", &format!("{path}/approve"), Some(&admin), None).await.problem(409, "ALREADY_APPROVED");
    assert_eq!(app.send("GET", &format!("{path}/download"), Some(&member), None).await.status, 200);
    // A client cannot approve through the record itself.
    let patched = app.send("PATCH", &path, Some(&member), Some(json!({"approved": false, "approved_by": null}))).await;
    assert_eq!(patched.body["approved"], true, "{}", patched.body);
}

// ---------------------------------------------------------------- versions

#[tokio::test]
async fn new_versions_point_at_the_first_get_their_own_upload_and_keep_earlier_ones() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let token = app.token(&Who::member(org));
    let v1 = available(&app, &token, with(body_for(b"one"), json!({"tags": ["lab"]})), b"one").await;
    let root = id(&v1);

    let two = b"second";
    let answer = app
        .send(
            "POST",
            &format!("{DOCUMENTS}/{root}/versions"),
            Some(&token),
            Some(json!({"file_size_bytes": two.len(), "checksum": sha_hex(two)})),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let v2 = answer.body;
    assert_eq!(v2["document_version"], 2);
    assert_eq!(v2["parent_document_id"], root);
    assert_eq!(v2["title"], "Blood test");
    assert_eq!(v2["tags"], json!(["lab"]));
    assert_eq!(v2["upload_status"], "pending");
    assert_eq!(v2["file_path"], format!("org/{org}/documents/{}/v2", id(&v2)));
    put(&v2, two, None).await;
    assert_eq!(complete(&app, &token, &v2).await.body["upload_status"], "available");

    // From a later version, and through POST / with parent_document_id: still numbered on the first.
    let three = b"third";
    let v3 = app
        .send(
            "POST",
            &format!("{DOCUMENTS}/{}/versions", id(&v2)),
            Some(&token),
            Some(
                json!({"file_size_bytes": three.len(), "checksum": sha_hex(three), "title": "Blood test (corrected)"}),
            ),
        )
        .await
        .body;
    assert_eq!(v3["document_version"], 3, "{v3}");
    assert_eq!(v3["parent_document_id"], root);
    assert_eq!(v3["title"], "Blood test (corrected)");
    let v4 = create(&app, &token, with(body_for(b"four"), json!({"parent_document_id": id(&v3)}))).await;
    assert_eq!(v4["document_version"], 4);
    assert_eq!(v4["parent_document_id"], root);
    assert!(v4["upload"]["url"].as_str().unwrap().contains(&format!("{}/v4?", id(&v4))));

    for named in [&root, &id(&v3)] {
        let list = app.send("GET", &format!("{DOCUMENTS}/{named}/versions"), Some(&token), None).await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert_eq!(ids(&list), [root.clone(), id(&v2), id(&v3), id(&v4)]);
    }
    let page = app.send("GET", &format!("{DOCUMENTS}/{root}/versions?page_size=3"), Some(&token), None).await;
    assert_eq!(ids(&page).len(), 3);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest =
        app.send("GET", &format!("{DOCUMENTS}/{root}/versions?cursor={}", enc(cursor)), Some(&token), None).await;
    assert_eq!(ids(&rest), [id(&v4)]);
    // The first version is still there, bytes included.
    let old = app.send("GET", &format!("{DOCUMENTS}/{root}/download"), Some(&token), None).await;
    assert_eq!(reqwest::get(old.body["url"].as_str().unwrap()).await.unwrap().bytes().await.unwrap().as_ref(), b"one");
}

// ---------------------------------------------------------------- references and tenancy

#[tokio::test]
async fn references_must_name_live_records_of_the_same_organization() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let token = app.token(&Who::member(org));
    let other = app.token(&Who::member(Uuid::new_v4()));
    let foreign_contact = app.send("POST", "/api/business/contacts", Some(&other), Some(contact("A", "B"))).await.body;
    let foreign_doc = create(&app, &other, body_for(b"x")).await;
    let own_contact = app.send("POST", "/api/business/contacts", Some(&token), Some(contact("C", "D"))).await.body;
    for (field, value) in [
        ("related_contact_id", id(&foreign_contact)),
        ("related_contact_id", Uuid::new_v4().to_string()),
        ("related_appointment_id", Uuid::new_v4().to_string()),
        ("parent_document_id", id(&foreign_doc)),
    ] {
        let answer = app.send("POST", DOCUMENTS, Some(&token), Some(with(body_for(b"x"), json!({field: value})))).await;
        let problem = answer.problem(422, "RELATED_NOT_FOUND");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let doc = create(&app, &token, with(body_for(b"x"), json!({"related_contact_id": id(&own_contact)}))).await;
    assert_eq!(doc["related_contact_id"], id(&own_contact));
    app.send(
        "PATCH",
        &format!("{DOCUMENTS}/{}", id(&doc)),
        Some(&token),
        Some(json!({"related_contact_id": id(&foreign_contact)})),
    )
    .await
    .problem(422, "RELATED_NOT_FOUND");
}

#[tokio::test]
async fn another_organizations_document_answers_every_endpoint_like_a_missing_one() {
    let app = TestApp::spawn().await;
    let owner = app.token(&Who::admin(Uuid::new_v4()));
    let intruder = app.token(&Who::admin(Uuid::new_v4()));
    let doc = available(&app, &owner, body_for(b"mine"), b"mine").await;
    let deleted = create(&app, &owner, body_for(b"gone")).await;
    app.send("DELETE", &format!("{DOCUMENTS}/{}", id(&deleted)), Some(&owner), None).await;
    let path = format!("{DOCUMENTS}/{}", id(&doc));
    let file = json!({"file_size_bytes": 1, "checksum": sha_hex(b"1")});
    for (method, target, body) in [
        ("GET", path.clone(), None),
        ("PUT", path.clone(), Some(body_for(b"mine"))),
        ("PATCH", path.clone(), Some(json!({"title": "mine now"}))),
        ("DELETE", path.clone(), None),
        ("POST", format!("{DOCUMENTS}/{}/restore", id(&deleted)), None),
        ("POST", format!("{path}/complete"), None),
        ("GET", format!("{path}/download"), None),
        ("POST", format!("{path}/versions"), Some(file.clone())),
        ("GET", format!("{path}/versions"), None),
        ("POST", format!("{path}/approve"), None),
    ] {
        let answer = app.send(method, &target, Some(&intruder), body.clone()).await;
        answer.problem(404, "NOT_FOUND");
        let missing =
            target.replace(&id(&doc), &Uuid::new_v4().to_string()).replace(&id(&deleted), &Uuid::new_v4().to_string());
        let other = app.send(method, &missing, Some(&intruder), body).await;
        other.problem(404, "NOT_FOUND");
        assert_eq!(other.body["detail"], answer.body["detail"], "{method} {missing}");
    }
    assert!(ids(&app.send("GET", DOCUMENTS, Some(&intruder), None).await).is_empty());
    let still = app.send("GET", &path, Some(&owner), None).await;
    assert_eq!(still.body["version"], doc["version"]);
}

// ---------------------------------------------------------------- validation and writes

#[tokio::test]
async fn every_validation_rule_answers_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let cases = [
        (json!({"document_type": "x-ray"}), "document_type", "invalid_choice"),
        (json!({"privacy_level": "secret"}), "privacy_level", "invalid_choice"),
        (json!({"title": ""}), "title", "required"),
        (json!({"title": "t".repeat(201)}), "title", "too_long"),
        (json!({"file_name": "a".repeat(256)}), "file_name", "too_long"),
        (json!({"file_name": "../../etc/passwd"}), "file_name", "invalid_format"),
        (json!({"file_name": null}), "file_name", "required"),
        (json!({"mime_type": "not a type"}), "mime_type", "invalid_format"),
        (json!({"mime_type": format!("application/{}", "x".repeat(100))}), "mime_type", "too_long"),
        (json!({"file_size_bytes": 0}), "file_size_bytes", "out_of_range"),
        (json!({"file_size_bytes": (1u64 << 30) + 1}), "file_size_bytes", "out_of_range"),
        (json!({"file_size_bytes": "12"}), "file_size_bytes", "invalid_type"),
        (json!({"file_size_bytes": null}), "file_size_bytes", "required"),
        (json!({"checksum": "abc"}), "checksum", "invalid_format"),
        (json!({"checksum": "z".repeat(64)}), "checksum", "invalid_format"),
        (json!({"checksum": null}), "checksum", "required"),
        (json!({"checksum_md5": "123"}), "checksum_md5", "invalid_format"),
        (json!({"tags": "lab"}), "tags", "invalid_type"),
        (json!({"tags": vec!["t"; 21]}), "tags", "too_many"),
        (json!({"tags": ["t".repeat(51)]}), "tags", "too_long"),
        (json!({"related_contact_id": "nope"}), "related_contact_id", "invalid_format"),
        (json!({"retention_until": "2025-02-30"}), "retention_until", "invalid_format"),
        (json!({"requires_approval": "yes"}), "requires_approval", "invalid_type"),
        (json!({"colour": "red"}), "colour", "unknown_field"),
    ];
    for (extra, field, code) in cases {
        let answer = app.send("POST", DOCUMENTS, Some(&token), Some(with(body_for(b"x"), extra.clone()))).await;
        let problem = answer.problem(422, "VALIDATION_FAILED");
        let errors = problem["errors"].as_array().unwrap();
        assert!(
            errors.iter().any(|e| e["field"] == field && e["code"] == code),
            "{extra}: expected {field}/{code}, got {problem}"
        );
    }
    let answer =
        app.send("POST", DOCUMENTS, Some(&token), Some(with(body_for(b"x"), json!({"document_type": "x"})))).await;
    assert!(answer.body["errors"][0]["message"].as_str().unwrap().contains("medical_record, lab_result"));
}

#[tokio::test]
async fn the_file_fields_cannot_change_after_creation_and_server_fields_are_ignored() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let doc = available(&app, &token, body_for(b"abc"), b"abc").await;
    let path = format!("{DOCUMENTS}/{}", id(&doc));
    for (field, value) in [
        ("checksum", json!(sha_hex(b"other"))),
        ("file_size_bytes", json!(9)),
        ("file_name", json!("other.pdf")),
        ("mime_type", json!("image/png")),
        ("parent_document_id", json!(Uuid::new_v4().to_string())),
    ] {
        let answer = app.send("PATCH", &path, Some(&token), Some(json!({field: value}))).await;
        let problem = answer.problem(422, "VALIDATION_FAILED");
        assert_eq!(problem["errors"][0]["field"], field);
        assert_eq!(problem["errors"][0]["code"], "immutable");
    }
    // The GET body PUT back, with a new title and server fields tampered with.
    let mut body = app.send("GET", &path, Some(&token), None).await.body;
    body["title"] = json!("Renamed");
    body["upload_status"] = json!("pending");
    body["file_path"] = json!("org/elsewhere");
    body["document_version"] = json!(7);
    let put = app.send("PUT", &path, Some(&token), Some(body)).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["title"], "Renamed");
    assert_eq!(put.body["upload_status"], "available");
    assert_eq!(put.body["file_path"], doc["file_path"]);
    assert_eq!(put.body["document_version"], 1);
    // A PUT may leave the file fields out: they are kept.
    let put = app.send("PUT", &path, Some(&token), Some(json!({"title": "Only a title"}))).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["checksum"], sha_hex(b"abc"));
    assert_eq!(put.body["privacy_level"], "internal");
}

#[tokio::test]
async fn a_viewer_cannot_write_and_a_stale_version_gets_409() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let member = app.token(&Who::member(org));
    let viewer = app.token(&Who::viewer(org));
    let doc = create(&app, &member, body_for(b"v")).await;
    let path = format!("{DOCUMENTS}/{}", id(&doc));
    app.send("POST", DOCUMENTS, Some(&viewer), Some(body_for(b"v"))).await.problem(403, "FORBIDDEN");
    app.send("PATCH", &path, Some(&viewer), Some(json!({"title": "x"}))).await.problem(403, "FORBIDDEN");
    app.send("POST", &format!("{path}/complete"), Some(&viewer), None).await.problem(403, "FORBIDDEN");
    app.send("POST", &format!("{path}/versions"), Some(&viewer), Some(body_for(b"v"))).await.problem(403, "FORBIDDEN");
    app.send("POST", &format!("{path}/approve"), Some(&viewer), None).await.problem(403, "FORBIDDEN");
    app.send("DELETE", &path, Some(&viewer), None).await.problem(403, "FORBIDDEN");

    assert_eq!(app.send("PATCH", &path, Some(&member), Some(json!({"title": "new", "version": 1}))).await.status, 200);
    app.send("PATCH", &path, Some(&member), Some(json!({"title": "newer", "version": 1})))
        .await
        .problem(409, "VERSION_CONFLICT");
}

#[tokio::test]
async fn a_deleted_document_leaves_lists_and_versions_and_an_admin_restores_it() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let member = app.token(&Who::member(org));
    let admin = app.token(&Who::admin(org));
    let doc = create(&app, &member, body_for(b"d")).await;
    let path = format!("{DOCUMENTS}/{}", id(&doc));
    assert_eq!(app.send("DELETE", &path, Some(&member), None).await.status, 200);
    app.send("GET", &path, Some(&member), None).await.problem(404, "NOT_FOUND");
    assert!(ids(&app.send("GET", DOCUMENTS, Some(&member), None).await).is_empty());
    app.send("POST", &format!("{path}/restore"), Some(&member), None).await.problem(403, "FORBIDDEN");
    let restored = app.send("POST", &format!("{path}/restore"), Some(&admin), None).await;
    assert_eq!(restored.status, 200, "{}", restored.body);
    assert_eq!(ids(&app.send("GET", DOCUMENTS, Some(&member), None).await), [id(&doc)]);
    assert_eq!(ids(&app.send("GET", &format!("{path}/versions"), Some(&member), None).await), [id(&doc)]);
}

// ---------------------------------------------------------------- filters

#[tokio::test]
async fn lists_filter_by_type_contact_privacy_and_tag_newest_first() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let token = app.token(&Who::member(org));
    let patient = app.send("POST", "/api/business/contacts", Some(&token), Some(contact("Ana", "Lima"))).await.body;
    let lab = create(
        &app,
        &token,
        with(
            body_for(b"1"),
            json!({"document_type": "lab_result", "tags": ["urgent", "blood"], "related_contact_id": id(&patient)}),
        ),
    )
    .await;
    let invoice =
        create(&app, &token, with(body_for(b"2"), json!({"document_type": "invoice", "privacy_level": "public"})))
            .await;
    let scan = create(
        &app,
        &token,
        with(
            body_for(b"3"),
            json!({"document_type": "imaging", "tags": ["urgent"], "related_contact_id": id(&patient)}),
        ),
    )
    .await;
    let list = |query: String| {
        let app = &app;
        let token = &token;
        async move {
            let answer = app.send("GET", &format!("{DOCUMENTS}?{query}"), Some(token), None).await;
            assert_eq!(answer.status, 200, "{query}: {}", answer.body);
            ids(&answer)
        }
    };
    assert_eq!(list(String::new()).await, [id(&scan), id(&invoice), id(&lab)]);
    assert_eq!(list("document_type=lab_result".into()).await, [id(&lab)]);
    assert_eq!(list("privacy_level=public".into()).await, [id(&invoice)]);
    assert_eq!(list(format!("related_contact_id={}", id(&patient))).await, [id(&scan), id(&lab)]);
    assert_eq!(list("tag=urgent".into()).await, [id(&scan), id(&lab)]);
    assert_eq!(list("tag=urgent&document_type=imaging".into()).await, [id(&scan)]);
    assert_eq!(list(format!("related_contact_id={}&tag=blood", id(&patient))).await, [id(&lab)]);
    assert!(list(format!("related_appointment_id={}", Uuid::new_v4())).await.is_empty());

    for bad in ["document_type=x-ray", "privacy_level=secret", "related_contact_id=nope", "tag=", "colour=red"] {
        let answer = app.send("GET", &format!("{DOCUMENTS}?{bad}"), Some(&token), None).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
    }
}
