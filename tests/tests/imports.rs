//! Bulk imports over real API Gateway events, against moto's DynamoDB, S3 and SQS with the real
//! SDK: declaration, presigned upload, the upload's check, the chunked processing (driven here
//! by the test, message by message, as the SQS event source would, or through a real queue),
//! the row report, and resuming after a crash mid-chunk.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_imports::queue::{ChunkMessage, Sender};
use hub_imports::{Bulk, Limits, Outcome, Queue, Worker};
use hub_shared::error::AppResult;
use hub_tests::{Answer, TestApp, Who};
use proptest::strategy::{Strategy, ValueTree};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

const IMPORTS: &str = "/api/business/imports";

/// The queue as a list the test pops from: each message handed to the worker in order.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<VecDeque<ChunkMessage>>>);

impl Memory {
    fn pop(&self) -> Option<ChunkMessage> {
        self.0.lock().unwrap().pop_front()
    }
}

impl Sender for Memory {
    async fn send(&self, message: &ChunkMessage) -> AppResult<()> {
        self.0.lock().unwrap().push_back(message.clone());
        Ok(())
    }
}

struct Harness {
    app: TestApp,
    bulk: Arc<Bulk>,
    queue: Arc<Memory>,
    worker: Worker<Memory>,
    bucket: String,
}

impl Harness {
    async fn start() -> Self {
        Self::with_limits(Limits::default()).await
    }

    async fn with_limits(limits: Limits) -> Self {
        let app = TestApp::spawn().await;
        let bucket = format!("hub-bulk-{}", Uuid::new_v4().simple());
        let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from("eu-west-3"))
            .build();
        app.s3().create_bucket().bucket(&bucket).create_bucket_configuration(location).send().await.unwrap();
        let bulk = Arc::new(Bulk::new(&hub_tests::moto_sdk_config(), bucket.clone()));
        let queue = Arc::new(Memory::default());
        let worker =
            Worker { store: app.services.store.clone(), bulk: (*bulk).clone(), sender: (*queue).clone(), limits };
        Self { app, bulk, queue, worker, bucket }
    }

    async fn send(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Answer {
        if !path.starts_with(IMPORTS) {
            return self.app.send(method, path, Some(token), body).await;
        }
        let headers = vec![
            ("authorization".to_string(), format!("Bearer {token}").into_bytes()),
            ("content-type".to_string(), b"application/json".to_vec()),
        ];
        let raw = body.map(|b| b.to_string()).unwrap_or_default();
        let (binary, event) = hub_tests::event(method, path, &headers, raw.as_bytes());
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        let services = &self.app.services;
        let (bulk, queue) = (Arc::clone(&self.bulk), Arc::clone(&self.queue));
        use hub_shared::http::handle;
        let response = match binary.as_str() {
            "imports-create" => {
                Box::pin(handle(
                    services,
                    "imports-create",
                    &|s, t, r| hub_imports::create(s, t, r, bulk.clone()),
                    request,
                ))
                .await
            }
            "imports-get" => {
                Box::pin(handle(services, "imports-get", &|s, t, r| hub_imports::get(s, t, r, bulk.clone()), request))
                    .await
            }
            "imports-start" => {
                let start = |s, t, r| hub_imports::start(s, t, r, bulk.clone(), queue.clone());
                Box::pin(handle(services, "imports-start", &start, request)).await
            }
            other => panic!("not an import binary: {other}"),
        };
        Answer::from_response(&response)
    }

    /// `POST /api/business/imports/{id}/start` with the chunk messages sent to `queue`.
    async fn start_with<S: Sender + 'static>(&self, id: &str, token: &str, queue: Arc<S>) -> Answer {
        let path = format!("{IMPORTS}/{id}/start");
        let headers = vec![("authorization".to_string(), format!("Bearer {token}").into_bytes())];
        let (_, event) = hub_tests::event("POST", &path, &headers, b"");
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        let bulk = Arc::clone(&self.bulk);
        let start = |s, t, r| hub_imports::start(s, t, r, bulk.clone(), queue.clone());
        let response = Box::pin(hub_shared::http::handle(&self.app.services, "imports-start", &start, request)).await;
        Answer::from_response(&response)
    }

    /// Declares and uploads an import of `bytes`; its id.
    async fn declare(&self, token: &str, declaration: Value, bytes: &[u8]) -> String {
        let mut declaration = declaration;
        declaration["size"] = json!(bytes.len());
        declaration["sha256"] = json!(sha_hex(bytes));
        let created = self.send("POST", IMPORTS, token, Some(declaration)).await;
        assert_eq!(created.status, 201, "{}", created.body);
        hub_tests::upload(&created.body, bytes).await;
        created.body["id"].as_str().unwrap().to_string()
    }

    /// Declares, uploads and starts an import of `bytes`; the job as `start` answered it.
    async fn begin(&self, token: &str, declaration: Value, bytes: &[u8]) -> Value {
        let mut declaration = declaration;
        declaration["size"] = json!(bytes.len());
        declaration["sha256"] = json!(sha_hex(bytes));
        let created = self.send("POST", IMPORTS, token, Some(declaration)).await;
        assert_eq!(created.status, 201, "{}", created.body);
        hub_tests::upload(&created.body, bytes).await;
        let started =
            self.send("POST", &format!("{IMPORTS}/{}/start", created.body["id"].as_str().unwrap()), token, None).await;
        assert_eq!(started.status, 202, "{}", started.body);
        started.body
    }

    /// Hands every queued message to the worker until none is left.
    async fn drain(&self) {
        while let Some(message) = self.queue.pop() {
            Box::pin(self.worker.handle(&message)).await.unwrap();
        }
    }

    async fn job(&self, token: &str, id: &str) -> Value {
        let answer = self.send("GET", &format!("{IMPORTS}/{id}"), token, None).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body
    }

    /// The whole import: begun, drained, done; the job and its report's rows (`row` -> line).
    async fn run(&self, token: &str, declaration: Value, bytes: &[u8]) -> (Value, BTreeMap<u64, Vec<String>>) {
        let started = self.begin(token, declaration, bytes).await;
        self.drain().await;
        let job = self.job(token, started["id"].as_str().unwrap()).await;
        let report = if job["report"].is_object() { report(&job).await } else { BTreeMap::new() };
        (job, report)
    }

    /// Every live contact of `org`, by id (its `ALL` list, read directly: faster than pages).
    async fn contacts(&self, org: Uuid) -> HashMap<String, Value> {
        let mut out = HashMap::new();
        let mut start = None;
        loop {
            let page = self
                .app
                .client
                .query()
                .table_name(&self.app.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(format!("ORG#{org}#CONTACT#ALL")),
                )
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for item in page.items() {
                let object = hub_shared::store::attr::item_to_object(item);
                out.insert(object["id"].as_str().unwrap().to_string(), Value::Object(object));
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return out;
            }
        }
    }
}

fn sha_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The report behind a done job's presigned URL, by row.
async fn report(job: &Value) -> BTreeMap<u64, Vec<String>> {
    let url = job["report"]["url"].as_str().unwrap_or_else(|| panic!("a done import has a report: {job}"));
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), ["row", "status", "id", "problem"]);
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].parse().unwrap(), r.iter().map(String::from).collect())
        })
        .collect()
}

fn csv_line(cells: &[&str]) -> String {
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
    writer.write_record(cells).unwrap();
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

fn contacts_declaration() -> Value {
    json!({"entity": "contacts", "format": "csv", "file_name": "patients.csv"})
}

#[tokio::test]
async fn a_declaration_is_checked_field_by_field_and_the_size_is_capped() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let admin = h.app.token(&Who::admin(org));
    let answer = h
        .send(
            "POST",
            IMPORTS,
            &admin,
            Some(json!({"entity": "invoices", "format": "xls", "size": -1, "mode": "merge", "extra": 1})),
        )
        .await;
    let problem = answer.problem(422, "VALIDATION_FAILED");
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for field in ["entity", "format", "size", "sha256", "mode", "extra"] {
        assert!(fields.contains(&field), "{field} not reported: {problem}");
    }
    let upsert_appointments = json!({"entity": "appointments", "format": "csv", "size": 10, "sha256": sha_hex(b"x"), "mode": "upsert_by_email"});
    h.send("POST", IMPORTS, &admin, Some(upsert_appointments)).await.problem(422, "VALIDATION_FAILED");
    let huge = json!({"entity": "contacts", "format": "csv", "size": 50u64 * 1024 * 1024 + 1, "sha256": sha_hex(b"x")});
    h.send("POST", IMPORTS, &admin, Some(huge)).await.problem(422, "VALIDATION_FAILED");
}

#[tokio::test]
async fn only_admins_import_and_another_organization_sees_nothing() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let admin = h.app.token(&Who::admin(org));
    let bytes = b"first_name,last_name\nAda,Lovelace\n";
    let declaration = json!({"entity": "contacts", "format": "csv", "size": bytes.len(), "sha256": sha_hex(bytes)});
    let member = h.app.token(&Who::member(org));
    h.send("POST", IMPORTS, &member, Some(declaration.clone())).await.problem(403, "FORBIDDEN");
    let created = h.send("POST", IMPORTS, &admin, Some(declaration)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    h.send("GET", &format!("{IMPORTS}/{id}"), &member, None).await.problem(403, "FORBIDDEN");
    let stranger = h.app.token(&Who::admin(Uuid::new_v4()));
    h.send("GET", &format!("{IMPORTS}/{id}"), &stranger, None).await.problem(404, "NOT_FOUND");
    h.send("POST", &format!("{IMPORTS}/{id}/start"), &stranger, None).await.problem(404, "NOT_FOUND");
    assert!(
        created.body["upload"]["url"].as_str().unwrap().contains(&format!("org/{org}/imports/{id}/source")),
        "the file goes under the organization's prefix"
    );
    // Declaring was recorded as a high-risk `import` by the adapter.
    let records = h.app.audit_reader().for_organization(org, 100).await.unwrap();
    assert!(records.iter().any(|r| r["action"] == "import" && r["risk"] == "high"), "{records:?}");
}

#[tokio::test]
async fn an_upload_that_is_missing_or_differs_is_refused_and_the_import_stays_pending() {
    let h = Harness::start().await;
    let admin = h.app.token(&Who::admin(Uuid::new_v4()));
    let bytes = b"first_name,last_name\nAda,Lovelace\n";
    let declaration = json!({"entity": "contacts", "format": "csv", "size": bytes.len(), "sha256": sha_hex(bytes)});
    let created = h.send("POST", IMPORTS, &admin, Some(declaration)).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let start = format!("{IMPORTS}/{id}/start");
    h.send("POST", &start, &admin, None).await.problem(409, "UPLOAD_NOT_FOUND");
    // Same length, other bytes (moto stores whatever checksum header it is sent).
    let other = b"first_name,last_name\nAda,Lovelacf\n";
    let mut request = reqwest::Client::new().put(created.body["upload"]["url"].as_str().unwrap()).body(other.to_vec());
    for (name, value) in created.body["upload"]["headers"].as_object().unwrap() {
        let value = if name == "x-amz-checksum-sha256" {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, other))
        } else {
            value.as_str().unwrap().to_string()
        };
        if name != "content-length" {
            request = request.header(name.as_str(), value);
        }
    }
    assert!(request.send().await.unwrap().status().is_success());
    let refused = h.send("POST", &start, &admin, None).await;
    assert!(refused.problem(409, "UPLOAD_MISMATCH")["detail"].as_str().unwrap().contains("SHA-256"));
    assert_eq!(h.job(&admin, &id).await["state"], "pending");
    assert!(h.queue.pop().is_none(), "nothing was queued");
    hub_tests::upload(&created.body, bytes).await;
    assert_eq!(h.send("POST", &start, &admin, None).await.status, 202);
    h.send("POST", &start, &admin, None).await.problem(409, "NOT_PENDING");
}

/// The 10,000-row file: good rows with accents, and every kind of bad row planted across chunks.
fn big_file(existing_mrn: &str) -> (Vec<u8>, BTreeMap<u64, &'static str>) {
    let header = "contact_type,first_name,last_name,email,phone,date_of_birth,medical_record_number,consent_given,consent_version,city\n";
    let mut bytes = header.as_bytes().to_vec();
    let mut bad = BTreeMap::new();
    let future = (chrono::Utc::now() + chrono::Duration::days(30)).format("%Y-%m-%d").to_string();
    let firsts = ["Élodie", "Zoë", "Jean-Loïc", "Anaïs", "O'Brien", "Ñuño"];
    for i in 0..10_000u64 {
        let row = i + 2;
        let first = firsts[(i % 6) as usize];
        let mut cells: Vec<String> = vec![
            "patient".into(),
            first.into(),
            format!("Dupré-{i}"),
            format!("patient.{i}@exemple.fr"),
            "+33 6 12 34 56 78".into(),
            format!("19{:02}-0{}-1{}", 30 + i % 70, 1 + i % 9, i % 10),
            format!("MRN-{i:06}"),
            if i % 2 == 0 { "true".into() } else { "".into() },
            if i % 2 == 0 { "2025-01".into() } else { "".into() },
            "Saint-Étienne".into(),
        ];
        let kind = match i {
            17 | 5_017 => "invalid e-mail",
            1_234 | 8_001 => "future date of birth",
            2_500 | 7_777 => "duplicate MRN in the file",
            3_000 => "duplicate MRN of an existing contact",
            4_321 | 9_998 => "unknown choice",
            6_000 => "wrong column count",
            6_500 | 9_999 => "bad encoding",
            _ => "",
        };
        match kind {
            "invalid e-mail" => cells[3] = "patient.at.exemple.fr".into(),
            "future date of birth" => cells[5] = future.clone(),
            // Row 2500 repeats row 1500's (another chunk); 7777 repeats 7700's (the same one).
            "duplicate MRN in the file" => cells[6] = format!("MRN-{:06}", if i == 2_500 { 1_498 } else { 7_698 }),
            "duplicate MRN of an existing contact" => cells[6] = existing_mrn.into(),
            "unknown choice" => cells[0] = "alien".into(),
            "wrong column count" => cells.push("extra".into()),
            _ => {}
        }
        if !kind.is_empty() {
            bad.insert(row, kind);
        }
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        let mut line = csv_line(&refs).into_bytes();
        if kind == "bad encoding" {
            // Latin-1 "é" in the last name: not UTF-8.
            let at = line.iter().position(|b| *b == b'D').unwrap();
            line.splice(at..at + 1, [0xE9]);
        }
        bytes.extend(line);
    }
    (bytes, bad)
}

#[tokio::test]
async fn ten_thousand_rows_import_every_good_row_once_and_report_every_bad_one_with_its_reason() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let admin = h.app.token(&Who::admin(org));
    let existing = h
        .app
        .create(
            &admin,
            "/api/business/contacts",
            json!({"first_name": "Déjà", "last_name": "Là", "medical_record_number": "EXIST-1"}),
        )
        .await;
    let existing_id = existing["id"].as_str().unwrap().to_string();
    let (bytes, bad) = big_file("EXIST-1");
    let started = Instant::now();
    let (job, report) = h.run(&admin, contacts_declaration(), &bytes).await;
    let elapsed = started.elapsed();
    println!(
        "10,000 rows ({} bytes) imported in {:.1} s: {:.0} rows/s",
        bytes.len(),
        elapsed.as_secs_f64(),
        10_000.0 / elapsed.as_secs_f64()
    );
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["progress"], 100.0);
    assert_eq!(
        job["counts"],
        json!({"read": 10_000, "created": 9_988, "updated": 0, "skipped": 3, "failed": 9}),
        "{job}"
    );
    assert_eq!(report.len(), 10_000, "one report line per row");
    for (row, kind) in &bad {
        let line = &report[row];
        let (status, problem) = (line[1].as_str(), line[3].as_str());
        let expected = match *kind {
            "invalid e-mail" => ("failed", "`email`"),
            "future date of birth" => ("failed", "`date_of_birth`"),
            "duplicate MRN in the file" if *row == 2_502 => {
                ("skipped", "duplicate of row 1500 (`medical_record_number`)")
            }
            "duplicate MRN in the file" => ("skipped", "duplicate of row 7700 (`medical_record_number`)"),
            "duplicate MRN of an existing contact" => ("skipped", existing_id.as_str()),
            "unknown choice" => ("failed", "`contact_type`"),
            "wrong column count" => ("failed", "wrong column count"),
            _ => ("failed", "bad encoding"),
        };
        assert_eq!(status, expected.0, "row {row} ({kind}): {line:?}");
        assert!(problem.contains(expected.1), "row {row} ({kind}): {line:?}");
    }
    let contacts = h.contacts(org).await;
    assert_eq!(contacts.len(), 9_988 + 1, "every good row once, and the existing contact");
    for (row, line) in &report {
        if line[1] == "created" {
            let record = contacts.get(&line[2]).unwrap_or_else(|| panic!("row {row}'s record {}", line[2]));
            assert_eq!(record["last_name"], format!("Dupré-{}", row - 2));
            assert_eq!(record["city"], "Saint-Étienne");
        } else {
            assert!(bad.contains_key(row), "row {row} was good: {line:?}");
        }
    }
}

#[tokio::test]
async fn the_import_writes_as_the_admin_and_its_records_reach_the_audit_trail() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let who = Who::admin(org);
    let admin = h.app.token(&who);
    let (job, report) = h.run(&admin, contacts_declaration(), "first_name,last_name\nAda,Lovelace\n".as_bytes()).await;
    assert_eq!(job["counts"]["created"], 1, "{job}");
    let id = report[&2][2].clone();
    let record = h.send("GET", &format!("/api/business/contacts/{id}"), &admin, None).await;
    assert_eq!(record.body["created_by"], who.user.to_string());
    h.app.run_audit_stream().await;
    let trail = h.app.audit_reader().for_organization(org, 100).await.unwrap();
    assert!(trail.iter().any(|r| r["action"] == "create" && r["resource_id"] == id.as_str()), "{trail:?}");
}

#[tokio::test]
async fn unknown_headers_fail_the_import_at_validation_with_a_clear_reason() {
    let h = Harness::start().await;
    let admin = h.app.token(&Who::admin(Uuid::new_v4()));
    let (job, _) = h.run(&admin, contacts_declaration(), b"first_name,last_name,shoe_size\nAda,Lovelace,38\n").await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(job["reason"].as_str().unwrap().contains("`shoe_size`"), "{job}");
    assert_eq!(job["counts"]["read"], 0);
    // A declared mapping makes the same file importable.
    let mut declaration = contacts_declaration();
    declaration["columns"] = json!({"shoe_size": "job_title", "first_name": "first_name"});
    let (job, _) = h.run(&admin, declaration, b"first_name,last_name,shoe_size\nAda,Lovelace,38\n").await;
    assert_eq!(job["counts"]["created"], 1, "{job}");
}

#[tokio::test]
async fn upserts_update_the_matching_contact_once_and_create_the_others() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let admin = h.app.token(&Who::admin(org));
    let first = h.send("POST", "/api/business/contacts", &admin, Some(json!({"first_name": "Old", "last_name": "Name", "email": "Known@Exemple.fr", "city": "Lyon", "medical_record_number": "M-1"}))).await;
    let first_id = first.body["id"].as_str().unwrap().to_string();
    let file = "first_name,last_name,email,city\nNew,Name,known@exemple.fr,\nFresh,Face,fresh@exemple.fr,Nice\nAgain,Name,KNOWN@exemple.fr,Paris\n,NoFirst,x@exemple.fr,\nNo,Email,,\n";
    let mut declaration = contacts_declaration();
    declaration["mode"] = json!("upsert_by_email");
    let (job, report) = h.run(&admin, declaration, file.as_bytes()).await;
    assert_eq!(job["counts"], json!({"read": 5, "created": 1, "updated": 1, "skipped": 1, "failed": 2}), "{job}");
    assert_eq!(report[&2][1..3], ["updated".to_string(), first_id.clone()]);
    assert_eq!(report[&4][1], "skipped");
    assert!(report[&4][3].contains("duplicate of row 2"), "{:?}", report[&4]);
    assert!(report[&6][3].contains("`email` is required"), "{:?}", report[&6]);
    let updated = h.send("GET", &format!("/api/business/contacts/{first_id}"), &admin, None).await.body;
    assert_eq!(
        (updated["first_name"].as_str(), updated["city"].as_str()),
        (Some("New"), Some("")),
        "the file's columns replace, a blank cell resets"
    );
    assert_eq!(updated["medical_record_number"], "M-1", "a column not in the file is kept");
    assert_eq!(updated["version"], 2, "updated once");

    let mut by_mrn = contacts_declaration();
    by_mrn["mode"] = json!("upsert_by_medical_record_number");
    let (job, report) = h.run(&admin, by_mrn, b"first_name,last_name,medical_record_number\nBy,Number, m-1 \n").await;
    assert_eq!(job["counts"]["updated"], 1, "{job}");
    assert_eq!(report[&2][2], first_id);
}

#[tokio::test]
async fn an_upsert_matching_a_record_an_earlier_chunk_updated_is_a_duplicate_of_that_row() {
    // Two rows a chunk: the third data row is in the second chunk, which `plan` does not see
    // with the first.
    let h = Harness::with_limits(Limits { rows_per_chunk: 2, ..Limits::default() }).await;
    let org = Uuid::new_v4();
    let admin = h.app.token(&Who::admin(org));
    let known = h
        .app
        .create(
            &admin,
            "/api/business/contacts",
            json!({"first_name": "Old", "last_name": "Name", "email": "known@exemple.fr"}),
        )
        .await;
    let known_id = known["id"].as_str().unwrap().to_string();
    let file = "first_name,last_name,email\nNew,Name,known@exemple.fr\nFresh,Face,fresh@exemple.fr\nAgain,Name,KNOWN@exemple.fr\n";
    let mut declaration = contacts_declaration();
    declaration["mode"] = json!("upsert_by_email");
    let mut dry = declaration.clone();
    dry["dry_run"] = json!(true);
    let (_, dry_report) = h.run(&admin, dry, file.as_bytes()).await;
    let (job, report) = h.run(&admin, declaration, file.as_bytes()).await;
    assert_eq!(job["counts"], json!({"read": 3, "created": 1, "updated": 1, "skipped": 1, "failed": 0}), "{job}");
    assert_eq!(report[&2][1..3], ["updated".to_string(), known_id.clone()]);
    assert_eq!(report[&4][1], "skipped");
    assert!(report[&4][3].contains("duplicate of row 2"), "{:?}", report[&4]);
    assert_eq!(dry_report[&4][1..], report[&4][1..], "the dry run said the same");
    let updated = h.send("GET", &format!("/api/business/contacts/{known_id}"), &admin, None).await.body;
    assert_eq!((updated["first_name"].as_str(), updated["version"].as_u64()), (Some("New"), Some(2)), "updated once");
}

#[tokio::test]
async fn ndjson_imports_appointments_and_transactions_that_name_existing_contacts() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let admin = h.app.token(&Who::admin(org));
    let contact =
        h.app.create(&admin, "/api/business/contacts", hub_tests::contact("Ana", "Ïbañez")).await["id"].clone();
    let missing = Uuid::new_v4();
    let lines = [
        json!({"contact_id": contact, "title": "Consultation", "start_datetime": "2030-03-02T09:30:00+01:00", "end_datetime": "2030-03-02T10:00:00+01:00"}).to_string(),
        String::new(),
        json!({"contact_id": missing, "title": "Nobody", "start_datetime": "2030-03-02T09:30:00Z", "end_datetime": "2030-03-02T10:00:00Z"}).to_string(),
        "{not json".to_string(),
    ];
    let (job, report) =
        h.run(&admin, json!({"entity": "appointments", "format": "ndjson"}), lines.join("\n").as_bytes()).await;
    assert_eq!(job["counts"], json!({"read": 3, "created": 1, "updated": 0, "skipped": 0, "failed": 2}), "{job}");
    assert_eq!(report[&1][1], "created");
    assert!(report[&3][3].contains("contact_id"), "{:?}", report[&3]);
    assert!(report[&4][3].contains("not valid JSON"), "{:?}", report[&4]);

    let payment = json!({"contact_id": contact, "transaction_type": "payment", "amount": "80.00", "currency": "EUR", "transaction_id": "PSP-1"});
    let lines = format!("{payment}\n{payment}\n");
    let (job, report) = h.run(&admin, json!({"entity": "transactions", "format": "ndjson"}), lines.as_bytes()).await;
    assert_eq!(job["counts"]["created"], 1, "{job} {report:?}");
    assert!(report[&2][3].contains("duplicate of row 1"), "{:?}", report[&2]);
}

#[tokio::test]
async fn a_dry_run_reports_every_row_and_writes_no_record() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let admin = h.app.token(&Who::admin(org));
    // Its e-mail is taken by the file's third row.
    h.app
        .create(
            &admin,
            "/api/business/contacts",
            json!({"first_name": "A", "last_name": "B", "email": "taken@exemple.fr"}),
        )
        .await;
    h.app.run_audit_stream().await;
    let before = h.app.stream_records().await.len();
    let file = "first_name,last_name,email\nAda,Lovelace,ada@exemple.fr\nAda,Again,ada@exemple.fr\nTaken,Value,taken@exemple.fr\nBad,Mail,nope\n";
    let mut declaration = contacts_declaration();
    declaration["dry_run"] = json!(true);
    let (job, report) = h.run(&admin, declaration, file.as_bytes()).await;
    assert_eq!(job["counts"], json!({"read": 4, "created": 1, "updated": 0, "skipped": 2, "failed": 1}), "{job}");
    assert_eq!(report[&2][1], "would_create");
    assert!(report[&3][3].contains("duplicate of row 2"));
    assert!(report[&4][3].contains("already used"));
    assert_eq!(h.contacts(org).await.len(), 1, "no record written");
    let records: Vec<Value> = h.app.stream_records().await.into_iter().skip(before).collect();
    assert!(
        records.iter().all(|r| r["dynamodb"]["NewImage"]["item_type"]["S"] != "record"),
        "no record item reached the stream, so no audit record nor analytics count can"
    );
    h.app.run_audit_stream().await;
    let trail = h.app.audit_reader().for_organization(org, 100).await.unwrap();
    assert_eq!(trail.iter().filter(|r| r["action"] == "create").count(), 1, "only the existing contact's");
}

/// A file of generated contacts (every field set or not, accents, edge lengths and dates), as
/// the seed's field names: each row's record reads back exactly as the API would have stored
/// the same object.
#[tokio::test]
async fn generated_contacts_import_exactly_as_the_api_stores_them() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let admin = h.app.token(&Who::admin(org));
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let objects: Vec<Value> =
        (0..40).map(|i| hub_tests::records::contact(i).new_tree(&mut runner).unwrap().current()).collect();
    let spec = <hub_contacts::Contact as hub_shared::store::Entity>::body_spec();
    let names: Vec<&str> =
        spec.iter().filter(|f| f.rule != hub_shared::domain::spec::Rule::Ignored).map(|f| f.name).collect();
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
    writer.write_record(&names).unwrap();
    for object in &objects {
        let cells: Vec<String> = names
            .iter()
            .map(|name| match &object[*name] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        writer.write_record(&cells).unwrap();
    }
    let bytes = writer.into_inner().unwrap();
    let (job, report) = h.run(&admin, contacts_declaration(), &bytes).await;
    assert_eq!(job["counts"]["created"], 40, "{job} {report:?}");
    let contacts = h.contacts(org).await;
    for (i, object) in objects.iter().enumerate() {
        let id = &report[&(i as u64 + 2)][2];
        let mut expected = object.as_object().unwrap().clone();
        // A blank cell is an absent field: the object's "" and null read the same.
        expected.retain(|_, v| !(v.is_null() || v == ""));
        let expected = <hub_contacts::Contact as hub_shared::store::Entity>::from_json(&expected).unwrap();
        let stored: hub_contacts::Contact = serde_json::from_value(contacts[id].clone()).unwrap();
        let mut expected = expected;
        // Consent given without a date is stamped at the write (`reconcile`), as the API does.
        if expected.consent_given && expected.consent_date.is_none() {
            expected.consent_date = stored.consent_date;
        }
        assert_eq!(stored, expected, "row {}", i + 2);
    }
}

/// The run the resumed one is compared with: statuses, problems and records' fields, by row
/// (ids differ between two imports: they derive from the import).
fn comparable(
    report: &BTreeMap<u64, Vec<String>>,
    contacts: &HashMap<String, Value>,
) -> Vec<(u64, String, String, Value)> {
    report
        .iter()
        .map(|(row, line)| {
            let mut record = contacts.get(&line[2]).cloned().unwrap_or(Value::Null);
            if let Some(object) = record.as_object_mut() {
                object.retain(|k, _| {
                    !hub_shared::store::Meta::FIELDS.contains(&k.as_str())
                        && !["pk", "sk", "item_type", "entity", "record_sk"].contains(&k.as_str())
                });
            }
            (*row, line[1].clone(), line[3].clone(), record)
        })
        .collect()
}

#[tokio::test]
async fn killing_the_processing_mid_chunk_and_resuming_yields_the_same_records_and_report() {
    let limits = Limits { rows_per_chunk: 150, ..Limits::default() };
    let h = Harness::with_limits(limits).await;
    let mut file = String::from("first_name,last_name,email,medical_record_number\n");
    for i in 0..400 {
        let mrn = if i % 97 == 5 { "DUP".to_string() } else { format!("K-{i}") };
        file.push_str(&format!("Élise,Nom-{i},p{i}@exemple.fr,{mrn}\n"));
    }
    let mut declaration = contacts_declaration();
    declaration["mode"] = json!("upsert_by_email");
    let seed = |org: Uuid| {
        let h = &h;
        async move {
            let admin = h.app.token(&Who::admin(org));
            for i in [3, 160, 390] {
                let body = json!({"first_name": "Avant", "last_name": format!("Nom-{i}"), "email": format!("p{i}@exemple.fr")});
                assert_eq!(h.send("POST", "/api/business/contacts", &admin, Some(body)).await.status, 201);
            }
            admin
        }
    };

    // Uninterrupted.
    let calm = Uuid::new_v4();
    let calm_admin = seed(calm).await;
    let (calm_job, calm_report) = h.run(&calm_admin, declaration.clone(), file.as_bytes()).await;
    assert_eq!(calm_job["state"], "done");
    let expected = comparable(&calm_report, &h.contacts(calm).await);

    // Killed twice mid-chunk (the first chunk, and the one holding the second upsert), resumed.
    let org = Uuid::new_v4();
    let admin = seed(org).await;
    let started = h.begin(&admin, declaration, file.as_bytes()).await;
    let mut kills = 0;
    while let Some(message) = h.queue.pop() {
        if message.chunk < 2 {
            let written_before = h.contacts(org).await.len();
            // The crash: the chunk's work dropped as soon as its first writes are seen (rows
            // are committed in groups, so a fixed delay could fall before any or after all).
            let crashed = tokio::select! {
                _ = Box::pin(h.worker.handle(&message)) => false,
                () = async {
                    while h.contacts(org).await.len() == written_before {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                } => true,
            };
            assert!(crashed, "the chunk finished before any of its writes was seen");
            let written = h.contacts(org).await.len();
            assert!(written > written_before, "the crash came after some rows were written");
            kills += 1;
        }
        // The redelivered message.
        let outcome = Box::pin(h.worker.handle(&message)).await.unwrap();
        assert!(matches!(outcome, Outcome::Chunk { .. } | Outcome::Finished), "{outcome:?}");
        // A duplicate delivery of a committed chunk changes nothing.
        assert_eq!(Box::pin(h.worker.handle(&message)).await.unwrap(), Outcome::Stale);
    }
    assert_eq!(kills, 2);
    let job = h.job(&admin, started["id"].as_str().unwrap()).await;
    assert_eq!(job["counts"], calm_job["counts"], "{job}");
    let resumed = comparable(&report(&job).await, &h.contacts(org).await);
    assert_eq!(resumed, expected);
    assert_eq!(h.contacts(org).await.len(), h.contacts(calm).await.len(), "no row written twice");
    let upserted = h.contacts(org).await.into_values().find(|c| c["email"] == "p160@exemple.fr").unwrap();
    assert_eq!(upserted["version"], 2, "an upserted row is applied once, crash or not");
}

#[tokio::test]
async fn chunk_messages_travel_through_a_real_sqs_queue() {
    let h = Harness::start().await;
    let sdk = hub_tests::moto_sdk_config();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs
        .create_queue()
        .queue_name(format!("imports-{}", Uuid::new_v4().simple()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue = Queue::new(&sdk, url.clone());
    let worker = Worker {
        store: h.app.services.store.clone(),
        bulk: (*h.bulk).clone(),
        sender: queue.clone(),
        limits: Limits { rows_per_chunk: 2, ..Limits::default() },
    };
    let admin = h.app.token(&Who::admin(Uuid::new_v4()));
    let started = h.begin(&admin, contacts_declaration(), b"first_name,last_name\nA,B\nC,D\nE,F\n").await;
    // `start` queued in memory: hand its message to the real queue, then let SQS carry the rest.
    let first = h.queue.pop().unwrap();
    queue.send(&first).await.unwrap();
    for _ in 0..20 {
        let received = sqs.receive_message().queue_url(&url).max_number_of_messages(1).send().await.unwrap();
        let Some(message) = received.messages().first().cloned() else { break };
        let event =
            json!({"Records": [{"messageId": message.message_id(), "body": message.body(), "eventSource": "aws:sqs"}]});
        let answer = Box::pin(hub_imports::worker::handle_batch(&worker, &event)).await;
        assert_eq!(answer, json!({"batchItemFailures": []}));
        sqs.delete_message().queue_url(&url).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();
    }
    let job = h.job(&admin, started["id"].as_str().unwrap()).await;
    assert_eq!((job["state"].as_str(), job["counts"]["created"].as_u64()), (Some("done"), Some(3)), "{job}");
    // A message that does not parse is reported for retry (and, after 5, the dead-letter queue).
    let poison = json!({"Records": [{"messageId": "m-1", "body": "{}"}]});
    assert_eq!(
        Box::pin(hub_imports::worker::handle_batch(&worker, &poison)).await,
        json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]})
    );
}

/// The local stack, for the end-to-end test: the API, `ImportQueue` relayed to `imports-worker`
/// under `cargo lambda watch` by `sqs-relay`, moto's DynamoDB, S3 and SQS.
struct Stack(hub_tests::StackApi);

impl std::ops::Deref for Stack {
    type Target = hub_tests::StackApi;
    fn deref(&self) -> &hub_tests::StackApi {
        &self.0
    }
}

/// How long an import of a few hundred rows may take through the stack: the relay polls every
/// second, and the first invocation may build and start the worker.
const STACK_DONE_WITHIN: Duration = Duration::from_secs(180);

impl Stack {
    async fn start() -> Self {
        Self(hub_tests::StackApi::start().await)
    }

    /// Declares (201, `pending`), uploads, starts (202, `validating`); the import's id.
    async fn begin(&self, token: &str, mut declaration: Value, bytes: &[u8]) -> String {
        declaration["size"] = json!(bytes.len());
        declaration["sha256"] = json!(sha_hex(bytes));
        let (status, created) = self.call("POST", IMPORTS, token, Some(declaration)).await;
        assert_eq!((status, created["state"].as_str()), (201, Some("pending")), "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        // Not uploaded yet: refused, and the import stays pending.
        let (status, refused) = self.call("POST", &format!("{IMPORTS}/{id}/start"), token, None).await;
        assert_eq!((status, refused["code"].as_str()), (409, Some("UPLOAD_NOT_FOUND")), "{refused}");
        hub_tests::upload(&created, bytes).await;
        let (status, started) = self.call("POST", &format!("{IMPORTS}/{id}/start"), token, None).await;
        assert_eq!((status, started["state"].as_str()), (202, Some("validating")), "{started}");
        id
    }

    /// Follows the import until it ends; every state it was seen in, in order, and the last job.
    async fn follow(&self, token: &str, id: &str) -> (Vec<String>, Value) {
        let deadline = tokio::time::Instant::now() + STACK_DONE_WITHIN;
        let mut seen: Vec<String> = Vec::new();
        loop {
            let (status, job) = self.call("GET", &format!("{IMPORTS}/{id}"), token, None).await;
            assert_eq!(status, 200, "{job}");
            let state = job["state"].as_str().unwrap().to_string();
            if seen.last() != Some(&state) {
                seen.push(state.clone());
            }
            if state == "done" || state == "failed" {
                return (seen, job);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the import did not end within {STACK_DONE_WITHIN:?}: {job}\nrelay log:\n{}",
                self.relay_log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The relay's log of `ImportQueue` (README, "Queues").
    fn relay_log(&self) -> String {
        let path = self.stack.state_dir().join("logs/relay-imports-worker-ImportQueue.log");
        std::fs::read_to_string(&path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
    }
}

/// A few hundred patients, as a practice's export would give them, with bad rows of every kind
/// spread over two chunks of the stack's worker (its default: 1,000 rows, so a single chunk
/// here; the point is the path, not the chunking, which the tests above cover).
fn stack_file(existing_mrn: &str) -> (Vec<u8>, BTreeMap<u64, (&'static str, &'static str)>) {
    let mut bytes = b"contact_type,first_name,last_name,email,medical_record_number,city\n".to_vec();
    let mut bad = BTreeMap::new();
    for i in 0..300u64 {
        let row = i + 2;
        let mut cells = vec![
            "patient".to_string(),
            "Zoë".to_string(),
            format!("Dupré-{i}"),
            format!("stack.{i}@exemple.fr"),
            format!("S-{i:04}"),
            "Saint-Étienne".to_string(),
        ];
        let expected = match i {
            10 => {
                cells[3] = "not-an-address".into();
                Some(("failed", "`email`"))
            }
            50 => {
                cells[4] = "S-0040".into();
                Some(("skipped", "duplicate of row 42 (`medical_record_number`)"))
            }
            120 => {
                cells[4] = existing_mrn.into();
                Some(("skipped", "already used by the contact"))
            }
            200 => {
                cells[0] = "alien".into();
                Some(("failed", "`contact_type`"))
            }
            250 => {
                cells.push("extra".into());
                Some(("failed", "wrong column count"))
            }
            _ => None,
        };
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        let mut line = csv_line(&refs).into_bytes();
        if i == 299 {
            // Latin-1 "é" in the last name: not UTF-8.
            let at = line.iter().position(|b| *b == b'D').unwrap();
            line.splice(at..at + 1, [0xE9]);
            bad.insert(row, ("failed", "bad encoding"));
        }
        if let Some(expected) = expected {
            bad.insert(row, expected);
        }
        bytes.extend(line);
    }
    (bytes, bad)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_runs_end_to_end_through_the_local_stack_queue_relay_and_worker() {
    let h = Stack::start().await;
    let org = Uuid::new_v4();
    let admin = h.token(org, &["admin"]);
    let existing = h
        .create(
            &admin,
            "/api/business/contacts",
            json!({"first_name": "Déjà", "last_name": "Là", "medical_record_number": "EXIST-S"}),
        )
        .await;
    let existing_id = existing["id"].as_str().unwrap().to_string();

    // A CSV of contacts: the good rows created once, each bad one reported with its reason.
    let (bytes, bad) = stack_file("EXIST-S");
    let started = Instant::now();
    let id = h.begin(&admin, contacts_declaration(), &bytes).await;
    let (states, job) = h.follow(&admin, &id).await;
    println!("300 rows through the stack in {:.1} s, states {states:?}", started.elapsed().as_secs_f64());
    assert_eq!(job["state"], "done", "{job}\nrelay log:\n{}", h.relay_log());
    assert_eq!(states.first().map(String::as_str), Some("validating"), "{states:?}");
    assert!(
        states.iter().all(|s| ["validating", "running", "done"].contains(&s.as_str())),
        "states only move forward: {states:?}"
    );
    assert_eq!(job["progress"], 100.0, "{job}");
    assert_eq!(job["counts"], json!({"read": 300, "created": 294, "updated": 0, "skipped": 2, "failed": 4}), "{job}");
    let rows = report(&job).await;
    assert_eq!(rows.len(), 300, "one report line per row");
    for (row, line) in &rows {
        match bad.get(row) {
            Some((status, problem)) => {
                assert_eq!(line[1], *status, "row {row}: {line:?}");
                assert!(line[3].contains(problem), "row {row}: {line:?}");
            }
            None => assert_eq!(line[1], "created", "row {row}: {line:?}"),
        }
    }
    assert!(rows[&122][3].contains(&existing_id), "{:?}", rows[&122]);
    // The records are the API's: read back over the API, with the file's accents.
    for row in [2u64, 151, 300] {
        let (status, contact) = h.call("GET", &format!("/api/business/contacts/{}", rows[&row][2]), &admin, None).await;
        assert_eq!(status, 200, "{contact}");
        assert_eq!((contact["first_name"].as_str(), contact["city"].as_str()), (Some("Zoë"), Some("Saint-Étienne")));
        assert_eq!(contact["last_name"], format!("Dupré-{}", row - 2));
    }
    // The worker was invoked by the relay, and every batch it got was deleted.
    let log = h.relay_log();
    assert!(log.contains("deleted"), "the relay delivered and deleted the chunk messages:\n{log}");

    // NDJSON: appointments naming an imported contact; a missing one and a broken line fail.
    let contact = rows[&2][2].clone();
    let lines = [
        json!({"contact_id": contact, "title": "Consultation", "start_datetime": "2030-03-02T09:30:00+01:00", "end_datetime": "2030-03-02T10:00:00+01:00"}).to_string(),
        json!({"contact_id": contact, "title": "Suivi", "start_datetime": "2030-03-09T09:30:00+01:00", "end_datetime": "2030-03-09T10:00:00+01:00"}).to_string(),
        String::new(),
        json!({"contact_id": Uuid::new_v4(), "title": "Personne", "start_datetime": "2030-03-02T09:30:00Z", "end_datetime": "2030-03-02T10:00:00Z"}).to_string(),
        "{not json".to_string(),
    ];
    let id = h.begin(&admin, json!({"entity": "appointments", "format": "ndjson"}), lines.join("\n").as_bytes()).await;
    let (_, job) = h.follow(&admin, &id).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["counts"], json!({"read": 4, "created": 2, "updated": 0, "skipped": 0, "failed": 2}), "{job}");
    let report = report(&job).await;
    assert_eq!((report[&1][1].as_str(), report[&2][1].as_str()), ("created", "created"));
    assert!(report[&4][3].contains("contact_id"), "{:?}", report[&4]);
    assert!(report[&5][3].contains("not valid JSON"), "{:?}", report[&5]);
    let (status, appointment) =
        h.call("GET", &format!("/api/business/appointments/{}", report[&1][2]), &admin, None).await;
    assert_eq!((status, appointment["title"].as_str()), (200, Some("Consultation")), "{appointment}");

    // Another organization's admin cannot follow it; a member cannot either.
    let (status, _) = h.call("GET", &format!("{IMPORTS}/{id}"), &h.token(Uuid::new_v4(), &["admin"]), None).await;
    assert_eq!(status, 404);
    let (status, _) = h.call("GET", &format!("{IMPORTS}/{id}"), &h.token(org, &["member"]), None).await;
    assert_eq!(status, 403);
}

/// Appointments of one provider: every row bumps the provider's schedule lock, so rows written
/// side by side would lose their optimistic lock to each other. A lost lock is contention, never
/// the row's failure; and rows are written in file order, so of two overlapping rows the later
/// one is refused, every time.
#[tokio::test]
async fn appointments_of_one_provider_are_written_in_file_order_and_contention_is_never_a_row_failure() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let admin = h.app.token(&Who::admin(org));
    let contact =
        h.app.create(&admin, "/api/business/contacts", hub_tests::contact("Ana", "Ïbañez")).await["id"].clone();
    let provider = Uuid::new_v4();
    let slot = |i: u64| {
        let start =
            chrono::DateTime::parse_from_rfc3339("2031-01-06T08:00:00Z").unwrap() + chrono::Duration::hours(i as i64);
        (start.to_rfc3339(), (start + chrono::Duration::minutes(30)).to_rfc3339())
    };
    let mut lines = Vec::new();
    for i in 0..60u64 {
        // Row 45 takes row 5's slot: the later row is the one refused.
        let (start, end) = slot(if i == 44 { 4 } else { i });
        lines.push(json!({"contact_id": contact, "assigned_provider": provider, "title": format!("Visite {i}"), "start_datetime": start, "end_datetime": end}).to_string());
    }
    let (job, report) =
        h.run(&admin, json!({"entity": "appointments", "format": "ndjson"}), lines.join("\n").as_bytes()).await;
    assert_eq!(
        job["counts"],
        json!({"read": 60, "created": 59, "updated": 0, "skipped": 0, "failed": 1}),
        "{job} {report:?}"
    );
    assert_eq!(report[&5][1], "created", "{:?}", report[&5]);
    assert_eq!(report[&45][1], "failed", "{:?}", report[&45]);
    assert!(report.values().all(|line| !line[3].contains("retry")), "{report:?}");
}

/// `start` saves the job `validating`, then sends the first chunk's message: when the send
/// fails, a retried `start` sends it (instead of `NOT_PENDING` for an import nothing would run).
#[tokio::test]
async fn a_start_whose_first_message_could_not_be_sent_is_retried_and_the_import_runs() {
    let h = Harness::start().await;
    let admin = h.app.token(&Who::admin(Uuid::new_v4()));
    let id = h.declare(&admin, contacts_declaration(), b"first_name,last_name\nAda,Lovelace\n").await;
    // A queue that existed and is gone: moto's SQS refuses the send.
    let sdk = hub_tests::moto_sdk_config();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = format!("imports-gone-{}", Uuid::new_v4().simple());
    let url = sqs.create_queue().queue_name(name).send().await.unwrap().queue_url.unwrap();
    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let failed = h.start_with(&id, &admin, Arc::new(Queue::new(&sdk, url))).await;
    assert_eq!(failed.status, 503, "{}", failed.body);
    assert_eq!(h.job(&admin, &id).await["state"], "validating");
    assert!(h.queue.pop().is_none());
    // The retry sends it; once sent, a start is `NOT_PENDING` again.
    let retried = h.start_with(&id, &admin, Arc::clone(&h.queue)).await;
    assert_eq!((retried.status, retried.body["state"].as_str()), (202, Some("validating")), "{}", retried.body);
    h.send("POST", &format!("{IMPORTS}/{id}/start"), &admin, None).await.problem(409, "NOT_PENDING");
    h.drain().await;
    let job = h.job(&admin, &id).await;
    assert_eq!((job["state"].as_str(), job["counts"]["created"].as_u64()), (Some("done"), Some(1)), "{job}");
}

/// Starting an import is recorded in the audit trail before its first chunk is queued: when the
/// trail cannot take the record, nothing is queued (503), so no import runs unrecorded.
#[tokio::test]
async fn a_start_the_audit_trail_cannot_record_queues_nothing() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let admin = h.app.token(&Who::admin(org));
    let id = h.declare(&admin, contacts_declaration(), b"first_name,last_name\nAda,Lovelace\n").await;
    h.app.client.delete_table().table_name(&h.app.audit_table).send().await.unwrap();
    let refused = h.send("POST", &format!("{IMPORTS}/{id}/start"), &admin, None).await;
    refused.problem(503, "SERVICE_UNAVAILABLE");
    assert!(h.queue.pop().is_none(), "nothing queued without its record");
    let stored =
        h.app.services.store.get_import(hub_shared::auth::OrgId::new(org), id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.sent_chunk, None);
}

/// A chunk that fails on its last allowed receive goes to the dead-letter queue: its import is
/// marked failed first, with a reason. An import whose worker died without a word reads as
/// failed once it made no progress for hours.
#[tokio::test]
async fn an_import_whose_chunk_keeps_failing_or_that_stalls_ends_failed() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let admin = h.app.token(&Who::admin(org));
    let started = h.begin(&admin, contacts_declaration(), b"first_name,last_name\nAda,Lovelace\n").await;
    let id = started["id"].as_str().unwrap().to_string();
    let message = h.queue.pop().unwrap();
    // The file is gone: the chunk cannot be read, whatever the retries.
    let source = format!("org/{org}/imports/{id}/source");
    h.app.s3().delete_object().bucket(&h.bucket).key(&source).send().await.unwrap();
    let event = |receives: u64| {
        json!({"Records": [{"messageId": "m-1", "body": serde_json::to_string(&message).unwrap(),
            "attributes": {"ApproximateReceiveCount": receives.to_string()}}]})
    };
    let retried = json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]});
    assert_eq!(Box::pin(hub_imports::worker::handle_batch(&h.worker, &event(1))).await, retried);
    assert_eq!(h.job(&admin, &id).await["state"], "validating", "retried: not failed yet");
    assert_eq!(Box::pin(hub_imports::worker::handle_batch(&h.worker, &event(5))).await, retried);
    let job = h.job(&admin, &id).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(job["reason"].as_str().unwrap().contains("abandoned"), "{job}");

    // Stalled: started, then nothing for 4 hours.
    let started = h.begin(&admin, contacts_declaration(), b"first_name,last_name\nAda,Lovelace\n").await;
    let id: Uuid = started["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(h.job(&admin, &id.to_string()).await["state"], "validating");
    let store = &h.app.services.store;
    let stored = store.get_import(hub_shared::auth::OrgId::new(org), id).await.unwrap().unwrap();
    let mut job: Value = serde_json::from_str(&stored.job).unwrap();
    let hours_ago = chrono::Utc::now() - chrono::Duration::hours(4);
    job["updated_at"] = json!(hours_ago.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    let org_id = hub_shared::auth::OrgId::new(org);
    assert!(store.save_import(org_id, id, &job.to_string(), stored.revision).await.unwrap());
    let job = h.job(&admin, &id.to_string()).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(job["reason"].as_str().unwrap().contains("stopped making progress"), "{job}");
}

/// A failed import reports the rows it wrote before failing, as a done one does.
#[tokio::test]
async fn a_failed_import_has_the_report_of_the_rows_written_before() {
    let h = Harness::with_limits(Limits { rows_per_chunk: 2, ..Limits::default() }).await;
    let org = Uuid::new_v4();
    let admin = h.app.token(&Who::admin(org));
    // Failed at validation: a report of no row.
    let (job, nothing) =
        h.run(&admin, contacts_declaration(), b"first_name,last_name,shoe_size\nAda,Lovelace,38\n").await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(job["report"]["url"].is_string(), "{job}");
    assert!(nothing.is_empty(), "{nothing:?}");
    // Failed after its first chunk: rows 2 and 3 reported.
    let bytes = b"first_name,last_name\nA,B\nC,D\nE,F\nG,H\n";
    let started = h.begin(&admin, contacts_declaration(), bytes).await;
    let id = started["id"].as_str().unwrap().to_string();
    let first = h.queue.pop().unwrap();
    assert!(matches!(Box::pin(h.worker.handle(&first)).await.unwrap(), Outcome::Chunk { rows: 2, .. }));
    let second = h.queue.pop().unwrap();
    let source = format!("org/{org}/imports/{id}/source");
    h.app.s3().delete_object().bucket(&h.bucket).key(&source).send().await.unwrap();
    let event = json!({"Records": [{"messageId": "m-2", "body": serde_json::to_string(&second).unwrap(),
        "attributes": {"ApproximateReceiveCount": "5"}}]});
    Box::pin(hub_imports::worker::handle_batch(&h.worker, &event)).await;
    let job = h.job(&admin, &id).await;
    assert_eq!(job["state"], "failed", "{job}");
    let report = report(&job).await;
    assert_eq!(report.keys().copied().collect::<Vec<_>>(), [2, 3], "{report:?}");
    assert!(report.values().all(|line| line[1] == "created"), "{report:?}");
}

/// Two deliveries of one chunk at once: one commits all its rows; the other, cut short (fewer
/// rows), writes its part and then loses the commit. Its part never replaces the committed one.
#[tokio::test]
async fn a_losing_duplicate_cut_short_never_replaces_the_committed_part_of_the_report() {
    let h = Harness::with_limits(Limits { rows_per_chunk: 200, ..Limits::default() }).await;
    let admin = h.app.token(&Who::admin(Uuid::new_v4()));
    let mut file = String::from("first_name,last_name\n");
    for i in 0..300 {
        file.push_str(&format!("P{i},Dup\n"));
    }
    let started = h.begin(&admin, contacts_declaration(), file.as_bytes()).await;
    let message = h.queue.pop().unwrap();
    // The duplicate: 100 rows, one at a time (too many for one transaction), so it is slower.
    let short = Worker {
        store: h.app.services.store.clone(),
        bulk: (*h.bulk).clone(),
        sender: (*h.queue).clone(),
        limits: Limits { rows_per_chunk: 100, rows_per_transaction: 1000, budget: Duration::ZERO, ..Limits::default() },
    };
    let (winner, loser) = tokio::join!(Box::pin(h.worker.handle(&message)), Box::pin(short.handle(&message)));
    assert_eq!(
        (winner.unwrap(), loser.unwrap()),
        (Outcome::Chunk { chunk: 0, rows: 200 }, Outcome::Stale),
        "the full delivery commits first"
    );
    h.drain().await;
    let job = h.job(&admin, started["id"].as_str().unwrap()).await;
    assert_eq!(job["counts"]["created"], 300, "{job}");
    let report = report(&job).await;
    assert_eq!(report.keys().copied().collect::<Vec<_>>(), (2..302).collect::<Vec<u64>>());
}

/// A dry run's scratch claims hold no personal data: their keys name a hash of the value.
#[tokio::test]
async fn a_dry_runs_scratch_claims_keep_no_email_or_record_number_in_their_keys() {
    let h = Harness::start().await;
    let org = Uuid::new_v4();
    let admin = h.app.token(&Who::admin(org));
    let file = "first_name,last_name,email,medical_record_number\nAda,Lovelace,ada@exemple.fr,MRN-77\nAda,Again,ada@exemple.fr,MRN-78\n";
    let mut declaration = contacts_declaration();
    declaration["dry_run"] = json!(true);
    let (job, report) = h.run(&admin, declaration, file.as_bytes()).await;
    assert_eq!(job["counts"]["skipped"], 1, "{job}");
    assert!(report[&3][3].contains("duplicate of row 2"), "{:?}", report[&3]);
    let items = h
        .app
        .client
        .query()
        .table_name(&h.app.table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("ORG#{org}")))
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = items.items().iter().filter_map(|i| i.get("sk")?.as_s().ok().cloned()).collect();
    let scratch: Vec<&String> = keys.iter().filter(|k| k.contains("#SCRATCH#")).collect();
    assert!(!scratch.is_empty(), "{keys:?}");
    for key in scratch {
        let lower = key.to_lowercase();
        assert!(!lower.contains("ada@exemple.fr") && !lower.contains("mrn-7"), "{key}");
    }
}
