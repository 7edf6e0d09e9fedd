//! A practice's whole export (README, "Exports").
//!
//! - End to end through the real local stack: the API, `ExportQueue` relayed to
//!   `exports-worker` as the event source mapping would, moto's SQS and S3. Two organizations
//!   with records of every entity (accents, a deleted record, an erased contact, a document
//!   with its file); the export holds every record of its organization exactly once and
//!   nothing of the other, its files parse as NDJSON and match the manifest; the URLs are
//!   short-lived; members are refused, auditors allowed.
//! - The worker in-process against an emulator of its own whose S3 accepts small parts, with
//!   tiny budgets: an export spread over many messages and parts, a unit redone as after a
//!   crash before its commit, and a duplicate message, adds no line and loses none.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_exports::job::Jobs;
use hub_exports::{Limits, Outcome, Queue, State, Worker};
use hub_shared::auth::{OrgId, Tenant, UserContext, UserId};
use hub_shared::config::StoreConfig;
use hub_shared::store::{Entity, Store};
use hub_tests::StackApi;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use uuid::Uuid;

/// How long an export of a few records may take through the stack (the relay polls; the first
/// invocation may start the worker).
const DONE_WITHIN: Duration = Duration::from_secs(60);

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Every line of an NDJSON file as a JSON object, each line checked to be one.
fn parse_ndjson(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).expect("an export file is UTF-8");
    assert!(text.is_empty() || text.ends_with('\n'), "every line ends with a newline");
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line: {e}: {line}"));
            assert!(value.is_object(), "{line}");
            value
        })
        .collect()
}

fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    url.split_once('?')?.1.split('&').find_map(|pair| pair.strip_prefix(&format!("{name}=")))
}

/// The stack and its API client ([`hub_tests::StackApi`]), with this file's own steps.
struct Harness(StackApi);

impl std::ops::Deref for Harness {
    type Target = StackApi;
    fn deref(&self) -> &StackApi {
        &self.0
    }
}

impl Harness {
    async fn start() -> Self {
        Self(StackApi::start().await)
    }

    /// A practice with a record of every entity: accents, a document with its file, a deleted
    /// appointment, an erased contact. Returns each record's id by entity file name.
    async fn practice(&self, org: Uuid) -> BTreeMap<&'static str, BTreeSet<String>> {
        let token = self.token(org, &["admin"]);
        let mut ids: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
        let mut add = |entity: &'static str, record: &Value| {
            ids.entry(entity).or_default().insert(record["id"].as_str().unwrap().to_string());
        };
        let contact = self
            .create(&token, "/api/business/contacts", json!({
                "first_name": "Hélène", "last_name": "L'Haÿ-Crève", "email": format!("helene.{}@example.fr", Uuid::new_v4().simple()),
                "city": "Saint-Étienne", "address_line2": "Bâtiment C — 2ᵉ étage", "consent_given": true,
                "consent_version": "2025-01",
            }))
            .await;
        add("contacts", &contact);
        let erased =
            self.create(&token, "/api/business/contacts", json!({"first_name": "Noé", "last_name": "Dœuf"})).await;
        add("contacts", &erased);
        let contact_id = contact["id"].as_str().unwrap();
        let appointment = json!({
            "title": "Consultation de suivi", "contact_id": contact_id,
            "start_datetime": "2031-05-05T09:00:00+02:00", "end_datetime": "2031-05-05T09:30:00+02:00",
        });
        add("appointments", &self.create(&token, "/api/business/appointments", appointment.clone()).await);
        let mut cancelled = appointment;
        cancelled["start_datetime"] = json!("2031-05-06T09:00:00+02:00");
        cancelled["end_datetime"] = json!("2031-05-06T09:30:00+02:00");
        let deleted = self.create(&token, "/api/business/appointments", cancelled).await;
        add("appointments", &deleted);
        let (status, _, _) = self
            .call_with_headers(
                "DELETE",
                &format!("/api/business/appointments/{}", deleted["id"].as_str().unwrap()),
                &token,
                None,
            )
            .await;
        assert_eq!(status, 200);
        add(
            "transactions",
            &self
                .create(
                    &token,
                    "/api/business/transactions",
                    json!({
                        "transaction_id": format!("ch_{}", Uuid::new_v4().simple()), "transaction_type": "payment",
                        "status": "completed", "amount": "120.50", "contact_id": contact_id, "description": "Séance",
                    }),
                )
                .await,
        );
        let bytes = b"compte rendu";
        let document = self
            .create(&token, "/api/business/documents", json!({
                "title": "Compte rendu opératoire", "file_name": "compte-rendu-é.pdf", "mime_type": "application/pdf",
                "file_size_bytes": bytes.len(), "checksum": sha256_hex(bytes), "related_contact_id": contact_id,
            }))
            .await;
        add("documents", &document);
        let upload = &document["upload"];
        let mut put = self.http.put(upload["url"].as_str().unwrap()).body(bytes.to_vec());
        for (name, value) in upload["headers"].as_object().unwrap() {
            if name != "content-length" {
                put = put.header(name, value.as_str().unwrap());
            }
        }
        assert!(put.send().await.unwrap().status().is_success());
        let (status, completed, _) = self
            .call_with_headers(
                "POST",
                &format!("/api/business/documents/{}/complete", document["id"].as_str().unwrap()),
                &token,
                None,
            )
            .await;
        assert_eq!((status, completed["upload_status"].as_str()), (200, Some("available")), "{completed}");
        add(
            "analytics_records",
            &self
                .create(&token, "/api/analytics/records", json!({"metric_name": "séances", "metric_value": 42.5}))
                .await,
        );
        let (status, body, _) = self
            .call_with_headers(
                "POST",
                &format!("/api/business/contacts/{}/anonymize", erased["id"].as_str().unwrap()),
                &token,
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        ids
    }

    async fn wait_done(&self, token: &str, id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + DONE_WITHIN;
        loop {
            let (status, export, _) =
                self.call_with_headers("GET", &format!("/api/business/exports/{id}"), token, None).await;
            assert_eq!(status, 200, "{export}");
            match export["state"].as_str() {
                Some("done") => return export,
                Some("pending" | "running") => {}
                other => panic!("the export ended {other:?}: {export}"),
            }
            assert!(tokio::time::Instant::now() < deadline, "the export did not finish: {export}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_holds_every_record_of_the_organization_once_and_nothing_of_another() {
    let h = Harness::start().await;
    let (org, other) = (Uuid::new_v4(), Uuid::new_v4());
    let expected = h.practice(org).await;
    let foreign = h.practice(other).await;

    // Members are refused; viewers too; the body is checked.
    for roles in [&["member"][..], &["viewer"][..]] {
        let (status, body, _) = h.call_with_headers("POST", "/api/business/exports", &h.token(org, roles), None).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("FORBIDDEN")), "{roles:?}: {body}");
    }
    let admin = h.token(org, &["admin"]);
    let (status, _, _) =
        h.call_with_headers("POST", "/api/business/exports", &admin, Some(json!({"entities": ["contacts"]}))).await;
    assert_eq!(status, 400);

    let (status, created, headers) = h.call_with_headers("POST", "/api/business/exports", &admin, None).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(headers["location"].to_str().unwrap(), format!("/api/business/exports/{id}"));
    assert!(matches!(created["state"].as_str(), Some("pending")), "{created}");
    // One at a time per organization; another organization is not held up.
    let (status, busy, _) = h.call_with_headers("POST", "/api/business/exports", &admin, None).await;
    assert_eq!((status, busy["code"].as_str()), (409, Some("EXPORT_IN_PROGRESS")), "{busy}");

    // An auditor follows it; another organization cannot see it.
    let auditor = h.token(org, &["auditor"]);
    let export = h.wait_done(&auditor, &id).await;
    // In one invocation: the worker's lease and budget count from a real deadline, though the
    // local runtime reports none (see `hub_exports::worker::invocation_deadline`). The relay logs
    // each batch before it invokes.
    let relay_log = h.stack.state_dir().join("logs/relay-exports-worker-ExportQueue.log");
    let relay_log = std::fs::read_to_string(&relay_log).unwrap();
    assert_eq!(relay_log.matches("sqs-relay: batch of").count(), 1, "{relay_log}");
    let (status, _, _) =
        h.call_with_headers("GET", &format!("/api/business/exports/{id}"), &h.token(other, &["admin"]), None).await;
    assert_eq!(status, 404);
    let (status, _, _) =
        h.call_with_headers("GET", &format!("/api/business/exports/{id}"), &h.token(org, &["member"]), None).await;
    assert_eq!(status, 403);

    // The files: NDJSON, every record of the organization exactly once, none of the other's.
    let foreign_ids: BTreeSet<&String> = foreign.values().flatten().collect();
    let mut manifest_files = BTreeMap::new();
    for file in export["files"].as_array().unwrap() {
        let entity = file["entity"].as_str().unwrap();
        let url = file["download"]["url"].as_str().unwrap();
        // Short-lived: signed for at most 5 minutes, from now (moto does not enforce expiry, so
        // the signature's own lifetime is what is checked).
        let expires: u64 = query_param(url, "X-Amz-Expires").unwrap().parse().unwrap();
        assert!(expires <= 300, "{expires}");
        let left = chrono::DateTime::parse_from_rfc3339(file["download"]["expires_at"].as_str().unwrap())
            .unwrap()
            .signed_duration_since(chrono::Utc::now())
            .num_seconds();
        assert!((0..=300).contains(&left), "{left}");
        let bytes = h.http.get(url).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(sha256_hex(&bytes), file["sha256"].as_str().unwrap(), "{entity}");
        assert_eq!(bytes.len() as u64, file["bytes"].as_u64().unwrap());
        let lines = parse_ndjson(&bytes);
        let got: Vec<String> = lines.iter().map(|l| l["id"].as_str().unwrap().to_string()).collect();
        let unique: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(unique.len(), got.len(), "{entity}: a record twice");
        assert_eq!(&unique, expected.get(entity).unwrap_or(&BTreeSet::new()), "{entity}");
        assert!(unique.iter().all(|id| !foreign_ids.contains(id)), "{entity}: another organization's record");
        assert!(lines.iter().all(|l| l["organization_id"] == org.to_string()));
        assert_eq!(file["records"].as_u64(), Some(lines.len() as u64));
        match entity {
            "contacts" => {
                let erased: Vec<&Value> = lines.iter().filter(|l| !l["anonymized_at"].is_null()).collect();
                assert_eq!(erased.len(), 1, "the erased contact appears as erased");
                assert_eq!(erased[0]["email"], "", "{}", erased[0]);
                assert!(lines.iter().any(|l| l["last_name"] == "L'Haÿ-Crève" && l["city"] == "Saint-Étienne"));
                assert_eq!(file["anonymized"], 1);
            }
            "appointments" => {
                assert_eq!(lines.iter().filter(|l| l["is_deleted"] == true).count(), 1, "the trash is exported");
                assert_eq!(file["deleted"], 1);
            }
            "documents" => {
                let document = &lines[0];
                assert_eq!(document["upload_status"], "available");
                assert!(document["file_path"].as_str().unwrap().starts_with(&format!("org/{org}/documents/")));
                assert_eq!(document["checksum"], sha256_hex(b"compte rendu"));
            }
            _ => {}
        }
        manifest_files.insert(entity.to_string(), (file["sha256"].clone(), file["records"].clone()));
    }
    assert_eq!(
        manifest_files.keys().map(String::as_str).collect::<Vec<_>>(),
        ["analytics_records", "appointments", "contacts", "documents", "transactions"]
    );
    let manifest_url = export["manifest"]["download"]["url"].as_str().unwrap();
    let manifest: Value = h.http.get(manifest_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(manifest["organization_id"], org.to_string());
    assert_eq!(manifest["export_id"], id);
    assert_eq!(manifest["format"], hub_exports::worker::FORMAT);
    for file in manifest["files"].as_array().unwrap() {
        let (sha, records) = &manifest_files[file["entity"].as_str().unwrap()];
        assert_eq!((&file["sha256"], &file["records"]), (sha, records), "{file}");
    }

    // URLs are signed afresh on every GET.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, again, _) = h.call_with_headers("GET", &format!("/api/business/exports/{id}"), &admin, None).await;
    assert_ne!(again["files"][0]["download"]["url"], export["files"][0]["download"]["url"]);

    // Once done, a new export may start.
    let (status, body, _) = h.call_with_headers("POST", "/api/business/exports", &admin, None).await;
    assert_eq!(status, 202, "{body}");

    // The trail: every start, every download listing and every refusal is a high-risk
    // `export` of the organization (the other organization's 404 stays in its own trail).
    let (status, trail) = h.call("GET", "/api/audit/logs?action=export&page_size=100", &auditor, None).await;
    assert_eq!(status, 200, "{trail}");
    let records = trail["items"].as_array().unwrap();
    for record in records {
        assert_eq!(
            (&record["action"], &record["resource_type"], &record["risk"], &record["organization_id"]),
            (&json!("export"), &json!("EXPORT"), &json!("high"), &json!(org.to_string())),
            "{record}"
        );
    }
    let with = |outcome: &str, status: u64| -> Vec<&Value> {
        records.iter().filter(|r| r["outcome"] == outcome && r["status"] == status).collect()
    };
    let starts = with("success", 202);
    assert_eq!(starts.len(), 2, "the two exports started: {trail}");
    assert!(starts.iter().any(|r| r["resource_id"] == id.as_str()), "the start names its export: {trail}");
    assert!(starts.iter().all(|r| r["actor_id"] == starts[0]["actor_id"]), "both by the admin: {trail}");
    let listings = with("success", 200);
    assert!(listings.len() >= 2, "the auditor's and the admin's download URLs: {trail}");
    assert!(listings.iter().all(|r| r["resource_id"] == id.as_str()), "{trail}");
    let refused = with("failure", 403);
    assert_eq!(refused.len(), 3, "the member's and the viewer's starts, the member's read: {trail}");
    assert_eq!(records.len(), starts.len() + listings.len() + refused.len(), "nothing else: {trail}");
}

/// The in-process world of the resume test: an emulator of its own whose S3 takes parts of
/// any size (`S3_UPLOAD_PART_MIN_SIZE`), so a few records make many parts.
struct World {
    _moto: hub_infra::moto::MotoServer,
    store: Store,
    worker: Worker,
}

async fn world(limits: Limits) -> World {
    let moto = hub_infra::moto::MotoServer::start_with(hub_infra::moto::MotoOptions {
        env: vec![("S3_UPLOAD_PART_MIN_SIZE".into(), "1".into())],
        ..Default::default()
    })
    .unwrap();
    let endpoint = moto.endpoint().to_string();
    let env = hub_shared::config::Env::from_pairs([
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", hub_infra::LOCAL_REGION),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ]);
    let sdk = hub_shared::aws::sdk_config_from(&env).unwrap();
    let client = hub_shared::aws::dynamodb(&sdk);
    let template = hub_infra::template::Template::load(hub_tests::workspace_root().join("template.yaml")).unwrap();
    // The worker's stand-in for a deadline the local runtime does not give is the template's.
    let timeout = template.functions.values().find(|f| f.binary == "exports-worker").unwrap().timeout_seconds;
    assert_eq!(u64::from(timeout), hub_exports::worker::FUNCTION_TIMEOUT.as_secs());
    let names: std::collections::HashMap<String, String> =
        template.tables.keys().map(|t| (t.clone(), format!("exp-{}", t.to_lowercase()))).collect();
    hub_infra::provision::provision(&client, &template, &names).await.unwrap();
    let table = names["BusinessTable"].clone();
    let s3 = hub_documents::files::s3_client(&sdk);
    s3.create_bucket().bucket("bulk").send().await.unwrap();
    let sqs = hub_shared::aws::sqs(&sdk);
    let queue = sqs.create_queue().queue_name("exports").send().await.unwrap().queue_url.unwrap();
    let store = Store::new(client.clone(), &StoreConfig { table: table.clone(), cursor_secret: vec![7; 32] });
    let worker = Worker {
        jobs: Jobs::new(client.clone(), &table),
        dynamodb: client,
        table,
        s3,
        bucket: "bulk".into(),
        queue: Queue::new(&sdk, queue),
        documents_bucket: None,
        limits,
    };
    World { _moto: moto, store, worker }
}

fn tenant(org: Uuid) -> Tenant {
    Tenant::new(UserContext {
        user_id: UserId::new(Uuid::new_v4()),
        email: None,
        organization_id: Some(OrgId::new(org)),
        roles: vec!["admin".into()],
        expires_at: None,
    })
    .unwrap()
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

async fn contacts(store: &Store, org: Uuid, count: usize) -> BTreeSet<String> {
    let tenant = tenant(org);
    let mut ids = BTreeSet::new();
    for i in 0..count {
        let data = hub_contacts::Contact::from_json(&object(
            json!({"first_name": format!("Zoé {i}"), "last_name": "Ébrard", "address_line1": "é".repeat(200)}),
        ))
        .unwrap();
        let created = store.create(&tenant, data, None).await.unwrap();
        ids.insert(created.record.meta.id.to_string());
    }
    ids
}

async fn object_bytes(worker: &Worker, key: &str) -> Vec<u8> {
    let out = worker.s3.get_object().bucket("bulk").key(key).send().await.unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

fn deadline() -> i64 {
    chrono::Utc::now().timestamp_millis() + 60_000
}

#[tokio::test]
async fn an_export_over_many_messages_with_a_redone_unit_and_a_duplicate_adds_no_line_and_loses_none() {
    // About 700 bytes a contact: a part of 2 KB holds three; one Query page reads two.
    let limits = Limits { part_bytes: 2048, budget: Duration::ZERO, page_limit: Some(2) };
    let w = world(limits).await;
    let (org, other) = (Uuid::new_v4(), Uuid::new_v4());
    let expected = contacts(&w.store, org, 23).await;
    contacts(&w.store, other, 3).await;

    let job = hub_exports::Job::new(OrgId::new(org), Uuid::new_v4());
    w.worker.jobs.create(&job).await.unwrap();
    let key = |(pk, sk): (&str, String)| {
        std::collections::HashMap::from([
            ("pk".to_string(), aws_sdk_dynamodb::types::AttributeValue::S(pk.to_string())),
            ("sk".to_string(), aws_sdk_dynamodb::types::AttributeValue::S(sk)),
        ])
    };
    let job_key = key((&format!("ORG#{org}"), format!("EXPORT#{}", job.id)));
    let mut messages = 0;
    let mut redone = false;
    loop {
        // Before each message, the item as committed; once, in the middle of the contacts, the
        // unit after it is done and its commit undone: as a crash after the part's upload.
        let before = w
            .worker
            .dynamodb
            .get_item()
            .table_name(&w.worker.table)
            .set_key(Some(job_key.clone()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        let outcome = w.worker.process(OrgId::new(org), job.id, deadline()).await.unwrap();
        messages += 1;
        let stored = w.worker.jobs.get(OrgId::new(org), job.id).await.unwrap().unwrap();
        if !redone && stored.job.cursor.as_ref().is_some_and(|c| c.parts.len() == 3) {
            redone = true;
            w.worker.dynamodb.put_item().table_name(&w.worker.table).set_item(Some(before)).send().await.unwrap();
            continue;
        }
        // A duplicate of the message while a lease is held does nothing.
        if messages == 2 {
            let held = w.worker.jobs.get(OrgId::new(org), job.id).await.unwrap().unwrap();
            let lease_until = chrono::Utc::now().timestamp_millis() + 1500;
            assert!(w.worker.jobs.claim(held, lease_until).await.unwrap().is_some());
            assert_eq!(w.worker.process(OrgId::new(org), job.id, deadline()).await.unwrap(), Outcome::Busy);
            // Its holder "died": the lease runs out at its deadline, then the work goes on.
            tokio::time::sleep(Duration::from_millis(1600)).await;
        }
        if outcome == Outcome::Finished {
            break;
        }
        assert_eq!(outcome, Outcome::Continued);
        assert!(messages < 200, "the export does not end");
    }
    assert!(redone, "the test redid a unit");
    let done = w.worker.jobs.get(OrgId::new(org), job.id).await.unwrap().unwrap().job;
    assert_eq!(done.state, State::Done);
    assert!(messages > 10, "{messages} messages: the budget spread the export");

    let contacts_file = &done.files[0];
    assert_eq!(contacts_file.entity, "contacts");
    let bytes = object_bytes(&w.worker, &contacts_file.key).await;
    let lines = parse_ndjson(&bytes);
    let ids: Vec<String> = lines.iter().map(|l| l["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), expected.len(), "no line twice, none missing");
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(contacts_file.counts.records, 23);
    assert_eq!(contacts_file.sha256, sha256_hex(&bytes), "the carried SHA-256 is the file's");
    assert_eq!(contacts_file.bytes, bytes.len() as u64);
    // Empty entities are empty files.
    for file in &done.files[1..] {
        assert_eq!((file.counts.records, object_bytes(&w.worker, &file.key).await.len()), (0, 0));
    }
    let manifest: Value = serde_json::from_slice(&object_bytes(&w.worker, &done.manifest.unwrap().key).await).unwrap();
    assert_eq!(manifest["files"][0]["sha256"], contacts_file.sha256);
}
