//! `POST /api/business/{entity}/batch`: per-operation results, atomic all-or-nothing, idempotent
//! retries, tenancy and permissions per operation, and one audit record per write, through the
//! real handlers on the emulated table.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use hub_tests::{TestApp, Who, contact};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

async fn batch(app: &TestApp, entity: &str, token: &str, body: Value) -> hub_tests::Answer {
    app.send("POST", &format!("/api/business/{entity}/batch"), Some(token), Some(body)).await
}

async fn batch_with_key(app: &TestApp, entity: &str, token: &str, key: &str, body: &Value) -> hub_tests::Answer {
    let headers = HashMap::from([
        ("authorization".to_string(), format!("Bearer {token}")),
        ("content-type".to_string(), "application/json".to_string()),
        ("idempotency-key".to_string(), key.to_string()),
    ]);
    app.send_raw("POST", &format!("/api/business/{entity}/batch"), headers, Some(body.to_string())).await
}

fn statuses(answer: &hub_tests::Answer) -> Vec<u64> {
    answer.body["results"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect()
}

/// An atomic batch that wrote nothing: 200, the failing operation's problem, every other
/// operation 424 `NOT_APPLIED`. Returns the failing operation's index and problem.
#[track_caller]
fn atomic_failure(answer: &hub_tests::Answer) -> (usize, Value) {
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["atomic"], true);
    assert_eq!(answer.body["succeeded"], 0, "{}", answer.body);
    let results = answer.body["results"].as_array().unwrap();
    let failing: Vec<usize> = (0..results.len()).filter(|i| results[*i]["status"] != 424).collect();
    assert_eq!(failing.len(), 1, "{}", answer.body);
    let index = failing[0];
    for (i, result) in results.iter().enumerate().filter(|(i, _)| *i != index) {
        assert_eq!(result["problem"]["code"], "NOT_APPLIED", "{i}: {result}");
        assert!(result["problem"]["detail"].as_str().unwrap().contains(&format!("operation {index}")));
        assert!(result.get("record").is_none());
    }
    assert!(results[index].get("record").is_none());
    (index, results[index]["problem"].clone())
}

async fn count_contacts(app: &TestApp, token: &str) -> usize {
    let answer = app.send("GET", "/api/business/contacts?page_size=100", Some(token), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn each_operation_is_answered_on_its_own_in_order() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let member = app.token(&Who::member(org));
    let other_org = app.token(&Who::admin(Uuid::new_v4()));
    let kept = app.create(&admin, "/api/business/contacts", contact("Zoé", "Lefèvre")).await;
    let deleted = app.create(&admin, "/api/business/contacts", contact("Anaïs", "Dubois")).await;
    let deleted_id = deleted["id"].as_str().unwrap();
    assert_eq!(
        app.send("DELETE", &format!("/api/business/contacts/{deleted_id}"), Some(&admin), None).await.status,
        200
    );
    let foreign = app.create(&other_org, "/api/business/contacts", contact("Hélène", "Martin")).await;
    let kept_id = kept["id"].as_str().unwrap();

    let answer = batch(
        &app,
        "contacts",
        &member,
        json!({"operations": [
            {"op": "create", "body": {"first_name": "Élodie", "last_name": "Béranger", "email": "elodie@exemple.fr"}},
            {"op": "create", "body": {"first_name": "Jean", "last_name": "Dupont", "email": "not-an-email"}},
            {"op": "patch", "id": kept_id, "version": 1, "body": {"job_title": "Infirmière"}},
            {"op": "patch", "id": kept_id, "version": 1, "body": {"city": "Lyon"}},
            {"op": "delete", "id": Uuid::new_v4().to_string()},
            {"op": "restore", "id": deleted_id},
            {"op": "replace", "id": foreign["id"], "body": contact("Pierre", "Volé")},
        ]}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(statuses(&answer), [201, 422, 200, 409, 404, 403, 404], "{}", answer.body);
    assert_eq!(answer.body["succeeded"], 2);
    assert_eq!(answer.body["failed"], 5);
    assert_eq!(answer.body["atomic"], false);
    let results = answer.body["results"].as_array().unwrap();
    for (index, result) in results.iter().enumerate() {
        assert_eq!(result["index"], index);
    }
    // Successes carry the record as the single endpoint answers it; failures an RFC 9457 problem.
    let created = &results[0]["record"];
    assert_eq!(created["first_name"], "Élodie");
    assert_eq!(created["version"], 1);
    assert_eq!(results[0]["id"], created["id"]);
    let fetched = app
        .send("GET", &format!("/api/business/contacts/{}", created["id"].as_str().unwrap()), Some(&admin), None)
        .await;
    assert_eq!(&fetched.body, created);
    assert_eq!(results[1]["problem"]["code"], "VALIDATION_FAILED");
    assert_eq!(results[1]["problem"]["errors"][0]["field"], "email");
    assert_eq!(results[2]["record"]["job_title"], "Infirmière");
    assert_eq!(results[2]["record"]["version"], 2);
    // The second patch expected version 1, which the first one moved past.
    assert_eq!(results[3]["problem"]["code"], "VERSION_CONFLICT");
    assert_eq!(results[5]["problem"]["code"], "FORBIDDEN", "{}", results[5]);
    assert_eq!(results[6]["problem"]["code"], "NOT_FOUND");
    for result in results.iter().filter(|r| r["status"].as_u64().unwrap() >= 400) {
        assert!(result.get("record").is_none(), "{result}");
        assert!(result["problem"]["request_id"].as_str().is_some());
    }
    // The other organization's contact is untouched.
    let theirs = app
        .send("GET", &format!("/api/business/contacts/{}", foreign["id"].as_str().unwrap()), Some(&other_org), None)
        .await;
    assert_eq!(theirs.body["first_name"], "Hélène");
    assert_eq!(theirs.body["version"], 1);
    // Each refused operation leaves the denied attempt its single endpoint would have left: the
    // member's restore (403, high risk), and the unknown and the foreign ids (404, medium).
    let denied = app.audit_reader().for_resource(org, "CONTACT", deleted_id, 10).await.unwrap();
    let restore = denied.iter().find(|r| r["action"] == "restore").unwrap_or_else(|| panic!("{denied:?}"));
    assert_eq!((restore["outcome"].as_str(), restore["risk"].as_str()), (Some("failure"), Some("high")), "{restore}");
    let unknown = results[4]["id"].as_str().unwrap();
    let trail = app.audit_reader().for_resource(org, "CONTACT", unknown, 10).await.unwrap();
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!((trail[0]["action"].as_str(), trail[0]["risk"].as_str()), (Some("delete"), Some("medium")));
    let trail = app.audit_reader().for_resource(org, "CONTACT", foreign["id"].as_str().unwrap(), 10).await.unwrap();
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0]["action"], "update");
    // The deleted one is still deleted (a member may not restore).
    assert_eq!(app.send("GET", &format!("/api/business/contacts/{deleted_id}"), Some(&admin), None).await.status, 404);
}

#[tokio::test]
async fn the_request_as_a_whole_is_checked_first() {
    let app = TestApp::spawn().await;
    let admin = app.token(&Who::admin(Uuid::new_v4()));
    let too_many: Vec<Value> =
        (0..101).map(|i| json!({"op": "create", "body": contact("A", &i.to_string())})).collect();
    for (body, field) in [
        (json!({"operations": too_many}), "operations"),
        (json!({"operations": []}), "operations"),
        (json!({"operations": {}}), "operations"),
        (json!({}), "operations"),
        (json!({"operations": [{"op": "create", "body": {}}], "atomic": "yes"}), "atomic"),
        (json!({"operations": [{"op": "create", "body": {}}], "mode": 1}), "mode"),
        (json!({"operations": [{"op": "create", "body": {}}], "atomic": null}), "atomic"),
        // A malformed operation is a client's bug: the whole batch is refused, naming it.
        (
            json!({"operations": [{"op": "create", "body": {}}, {"op": "erase", "id": Uuid::new_v4()}]}),
            "operations[1].op",
        ),
        (json!({"operations": [{"op": "create", "id": Uuid::new_v4(), "body": {}}]}), "operations[0].id"),
        (json!({"operations": [{"op": "patch", "id": "not-a-uuid", "body": {}}]}), "operations[0].id"),
        (json!({"operations": [{"op": "patch", "id": Uuid::new_v4()}]}), "operations[0].body"),
        (json!({"operations": [{"op": "delete", "id": Uuid::new_v4(), "body": {}}]}), "operations[0].body"),
        (json!({"operations": [{"op": "delete", "id": Uuid::new_v4(), "version": 0}]}), "operations[0].version"),
        (json!({"operations": [{"op": "restore", "id": Uuid::new_v4(), "version": 2}]}), "operations[0].version"),
        (json!({"operations": [{"op": "create", "body": {}, "extra": true}]}), "operations[0].extra"),
        (json!({"operations": ["create"]}), "operations[0]"),
    ] {
        let answer = batch(&app, "contacts", &admin, body).await;
        assert_eq!(answer.status, 422, "{}", answer.body);
        assert_eq!(answer.body["errors"][0]["field"], field, "{}", answer.body);
    }
    // A viewer may send a batch, and every write in it is refused on its own.
    let viewer = app.token(&Who::viewer(Uuid::new_v4()));
    let answer =
        batch(&app, "contacts", &viewer, json!({"operations": [{"op": "create", "body": contact("A", "B")}]})).await;
    assert_eq!(statuses(&answer), [403]);
    // Documents are created one by one (each answers its upload URL).
    let answer =
        batch(&app, "documents", &admin, json!({"operations": [{"op": "create", "body": {"title": "x"}}]})).await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(answer.body["errors"][0]["field"], "operations[0].op");
    // Nothing of a refused batch ran.
    assert_eq!(count_contacts(&app, &admin).await, 0);
}

#[tokio::test]
async fn an_atomic_batch_writes_everything_or_nothing() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let kept = app.create(&admin, "/api/business/contacts", contact("Zoé", "Lefèvre")).await;
    let kept_id = kept["id"].as_str().unwrap();
    let operations = |version: u64| {
        json!([
            {"op": "create", "body": {"first_name": "Élodie", "last_name": "Béranger", "email": "elodie@exemple.fr"}},
            {"op": "create", "body": {"first_name": "Marc", "last_name": "Noël", "medical_record_number": "MRN-77"}},
            {"op": "patch", "id": kept_id, "version": version, "body": {"city": "Nantes"}},
        ])
    };
    let failed = batch(&app, "contacts", &admin, json!({"atomic": true, "operations": operations(7)})).await;
    let (index, problem) = atomic_failure(&failed);
    assert_eq!((index, problem["code"].as_str().unwrap()), (2, "VERSION_CONFLICT"));
    assert_eq!(failed.body["results"][2]["status"], 409);
    assert_eq!(count_contacts(&app, &admin).await, 1, "nothing of a failed atomic batch is written");

    // A condition that fails only inside the transaction: the e-mail is taken after the batch
    // was checked... here, before it, by a record the batch's check does not read.
    let taken = app
        .create(
            &admin,
            "/api/business/contacts",
            json!({"first_name": "A", "last_name": "B", "email": "elodie@exemple.fr"}),
        )
        .await;
    let failed = batch(&app, "contacts", &admin, json!({"atomic": true, "operations": operations(1)})).await;
    let (index, problem) = atomic_failure(&failed);
    assert_eq!((index, problem["code"].as_str().unwrap()), (0, "UNIQUE_CONFLICT"));
    assert_eq!(count_contacts(&app, &admin).await, 2);
    let kept_now = app.send("GET", &format!("/api/business/contacts/{kept_id}"), Some(&admin), None).await;
    assert_eq!(kept_now.body["version"], 1, "the patch of the failed batch was not applied");

    let taken_id = taken["id"].as_str().unwrap();
    assert_eq!(app.send("DELETE", &format!("/api/business/contacts/{taken_id}"), Some(&admin), None).await.status, 200);
    let done = batch(&app, "contacts", &admin, json!({"atomic": true, "operations": operations(1)})).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(statuses(&done), [201, 201, 200]);
    assert_eq!(done.body["atomic"], true);
    assert_eq!(count_contacts(&app, &admin).await, 3);
    for result in done.body["results"].as_array().unwrap() {
        let id = result["record"]["id"].as_str().unwrap();
        let now = app.send("GET", &format!("/api/business/contacts/{id}"), Some(&admin), None).await;
        assert_eq!(now.body, result["record"]);
    }
}

#[tokio::test]
async fn an_atomic_batch_refuses_what_one_transaction_cannot_hold() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    // Two operations claiming one e-mail: the second is named.
    let same = batch(
        &app,
        "contacts",
        &admin,
        json!({"atomic": true, "operations": [
            {"op": "create", "body": {"first_name": "A", "last_name": "B", "email": "same@exemple.fr"}},
            {"op": "create", "body": {"first_name": "C", "last_name": "D", "email": "SAME@exemple.fr"}},
        ]}),
    )
    .await;
    let (index, problem) = atomic_failure(&same);
    assert_eq!((index, problem["code"].as_str().unwrap()), (1, "UNIQUE_CONFLICT"));
    // Two writes of one record.
    let kept = app.create(&admin, "/api/business/contacts", contact("Zoé", "Lefèvre")).await;
    let twice = batch(
        &app,
        "contacts",
        &admin,
        json!({"atomic": true, "operations": [
            {"op": "patch", "id": kept["id"], "body": {"city": "Lyon"}},
            {"op": "delete", "id": kept["id"]},
        ]}),
    )
    .await;
    let (index, problem) = atomic_failure(&twice);
    assert_eq!((index, problem["code"].as_str().unwrap()), (1, "NOT_ATOMIC"));
    // More items than a transaction holds: each contact with an e-mail, a record number and a
    // name is its record, its list entries and two unique values.
    let many: Vec<Value> = (0..40)
        .map(|i| {
            json!({"op": "create", "body": {
                "first_name": format!("Prénom{i}"), "last_name": "Durand",
                "email": format!("p{i}@exemple.fr"), "medical_record_number": format!("M{i}"),
            }})
        })
        .collect();
    let large = batch(&app, "contacts", &admin, json!({"atomic": true, "operations": many})).await;
    assert_eq!(large.status, 422, "{}", large.body);
    assert_eq!(large.body["code"], "BATCH_TOO_LARGE");
    let detail = large.body["detail"].as_str().unwrap();
    assert!(detail.contains("the first "), "{detail}");
    assert_eq!(count_contacts(&app, &admin).await, 1);
    // The number it names fits.
    let fit: usize = detail.split("the first ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!((10..40).contains(&fit), "{fit}");
    let some: Vec<Value> = large_ops(fit);
    let ok = batch(&app, "contacts", &admin, json!({"atomic": true, "operations": some})).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(count_contacts(&app, &admin).await, 1 + fit);
}

fn large_ops(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"op": "create", "body": {
                "first_name": format!("Prénom{i}"), "last_name": "Durand",
                "email": format!("p{i}@exemple.fr"), "medical_record_number": format!("M{i}"),
            }})
        })
        .collect()
}

#[tokio::test]
async fn a_retried_batch_is_a_replay() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let kept = app.create(&admin, "/api/business/contacts", contact("Zoé", "Lefèvre")).await;
    for atomic in [false, true] {
        let body = json!({"atomic": atomic, "operations": [
            {"op": "create", "body": contact("Élise", &format!("Roux{atomic}"))},
            {"op": "patch", "id": kept["id"], "body": {"city": format!("Brest{atomic}")}},
        ]});
        let key = format!("batch-key-{atomic}");
        let first = batch_with_key(&app, "contacts", &admin, &key, &body).await;
        assert_eq!(first.status, 200, "{}", first.body);
        assert_eq!(first.header("idempotent-replayed"), None);
        let before = count_contacts(&app, &admin).await;
        let again = batch_with_key(&app, "contacts", &admin, &key, &body).await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.body, first.body, "the replay answers the first outcome");
        assert_eq!(count_contacts(&app, &admin).await, before, "nothing written twice");
        let patched = app
            .send("GET", &format!("/api/business/contacts/{}", kept["id"].as_str().unwrap()), Some(&admin), None)
            .await;
        assert_eq!(patched.body["version"], if atomic { 3 } else { 2 });
        // The same key with another request is refused.
        let other = json!({"atomic": atomic, "operations": [{"op": "create", "body": contact("Autre", "Chose")}]});
        let reused = batch_with_key(&app, "contacts", &admin, &key, &other).await;
        reused.problem(409, "IDEMPOTENCY_KEY_REUSED");
    }
}

#[tokio::test]
async fn a_failed_operation_of_a_keyed_batch_is_replayed_as_failed() {
    let app = TestApp::spawn().await;
    let admin = app.token(&Who::admin(Uuid::new_v4()));
    let body = json!({"operations": [
        {"op": "create", "body": {"first_name": "A", "last_name": "B", "email": "faux"}},
        {"op": "create", "body": contact("Ok", "Fine")},
    ]});
    let first = batch_with_key(&app, "contacts", &admin, "k-1", &body).await;
    assert_eq!(statuses(&first), [422, 201]);
    let again = batch_with_key(&app, "contacts", &admin, "k-1", &body).await;
    assert_eq!(statuses(&again), [422, 201]);
    assert_eq!(again.body["results"][0]["problem"]["code"], "VALIDATION_FAILED");
    assert_eq!(again.body["results"][1]["record"], first.body["results"][1]["record"]);
    assert_eq!(count_contacts(&app, &admin).await, 1);
}

#[tokio::test]
async fn appointments_of_one_schedule_are_checked_against_each_other() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let patient = app.create(&admin, "/api/business/contacts", contact("Zoé", "Lefèvre")).await;
    let provider = Uuid::new_v4().to_string();
    let slot = |start: &str, end: &str| {
        json!({"op": "create", "body": {
            "title": "Consultation", "contact_id": patient["id"], "assigned_provider": provider,
            "start_datetime": start, "end_datetime": end,
        }})
    };
    // One after another, the second overlapping booking sees the first.
    let answer = batch(
        &app,
        "appointments",
        &admin,
        json!({"operations": [
            slot("2031-03-04T09:00:00Z", "2031-03-04T09:30:00Z"),
            slot("2031-03-04T09:15:00Z", "2031-03-04T09:45:00Z"),
            slot("2031-03-04T10:00:00Z", "2031-03-04T10:30:00Z"),
        ]}),
    )
    .await;
    assert_eq!(statuses(&answer), [201, 409, 201], "{}", answer.body);
    // Atomically, two changes of one schedule cannot be checked against each other: refused.
    let answer = batch(
        &app,
        "appointments",
        &admin,
        json!({"atomic": true, "operations": [
            slot("2031-03-05T09:00:00Z", "2031-03-05T09:30:00Z"),
            slot("2031-03-05T10:00:00Z", "2031-03-05T10:30:00Z"),
        ]}),
    )
    .await;
    let (index, problem) = atomic_failure(&answer);
    assert_eq!((index, problem["code"].as_str().unwrap()), (1, "NOT_ATOMIC"));
    // A reference to a contact the batch deletes is refused; to a live one, accepted.
    let other = app.create(&admin, "/api/business/contacts", contact("Marc", "Noël")).await;
    let answer =
        batch(&app, "contacts", &admin, json!({"atomic": true, "operations": [{"op": "delete", "id": other["id"]}]}))
            .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut booking = slot("2031-03-06T09:00:00Z", "2031-03-06T09:30:00Z");
    booking["body"]["contact_id"] = other["id"].clone();
    let answer = batch(&app, "appointments", &admin, json!({"atomic": true, "operations": [booking]})).await;
    let (index, problem) = atomic_failure(&answer);
    assert_eq!((index, problem["code"].as_str().unwrap()), (0, "RELATED_NOT_FOUND"));
    // Versions: one the body and the operation disagree on is refused as by the single endpoint.
    let kept = app.create(&admin, "/api/business/contacts", contact("Léa", "Petit")).await;
    let answer = batch(
        &app,
        "contacts",
        &admin,
        json!({"operations": [
            {"op": "patch", "id": kept["id"], "version": 1, "body": {"version": 2, "city": "Caen"}},
            {"op": "patch", "id": kept["id"], "body": {"version": 0}},
            {"op": "patch", "id": kept["id"], "body": {"version": 1, "city": "Caen"}},
        ]}),
    )
    .await;
    assert_eq!(statuses(&answer), [400, 422, 200], "{}", answer.body);
    assert_eq!(answer.body["results"][0]["problem"]["code"], "VERSION_MISMATCH");
    assert_eq!(answer.body["results"][1]["problem"]["errors"][0]["field"], "version");
}

#[tokio::test]
async fn every_write_of_a_batch_is_audited_once_and_nothing_else() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let mut runner = TestRunner::deterministic();
    // Full generated contacts: every field set or unset, accents, edge lengths and dates.
    let bodies: Vec<Value> =
        (0..12).map(|i| hub_tests::records::contact(9000 + i).new_tree(&mut runner).unwrap().current()).collect();
    let mut operations: Vec<Value> = bodies.iter().map(|b| json!({"op": "create", "body": b})).collect();
    operations.push(json!({"op": "create", "body": {"first_name": "", "last_name": "Vide"}}));
    let answer = batch(&app, "contacts", &admin, json!({"operations": operations})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let results = answer.body["results"].as_array().unwrap();
    assert_eq!(statuses(&answer)[..12], [201; 12], "{}", answer.body);
    assert_eq!(results[12]["status"], 422);
    // Each created record is what the single create makes of the same body (in another
    // organization: e-mails and record numbers are unique per organization).
    let elsewhere = app.token(&Who::admin(Uuid::new_v4()));
    for (body, result) in bodies.iter().zip(results) {
        let single = app.create(&elsewhere, "/api/business/contacts", body.clone()).await;
        let mut from_batch = result["record"].as_object().unwrap().clone();
        let mut alone = single.as_object().unwrap().clone();
        // Stamped by the server: who, where and when (consent is dated when it is given).
        for meta in ["id", "organization_id", "created_at", "updated_at", "created_by", "updated_by", "consent_date"] {
            from_batch.remove(meta);
            alone.remove(meta);
        }
        assert_eq!(from_batch, alone, "{body}");
    }
    let ids: Vec<String> = results[..12].iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    let patch: Vec<Value> =
        ids[..6].iter().map(|id| json!({"op": "patch", "id": id, "body": {"job_title": "Relu"}})).collect();
    let atomic = batch(&app, "contacts", &admin, json!({"atomic": true, "operations": patch})).await;
    assert_eq!(atomic.status, 200, "{}", atomic.body);
    let deletes: Vec<Value> = ids[6..].iter().map(|id| json!({"op": "delete", "id": id})).collect();
    assert_eq!(statuses(&batch(&app, "contacts", &admin, json!({"operations": deletes})).await), [200; 6]);
    app.run_audit_stream().await;
    for (index, id) in ids.iter().enumerate() {
        let trail = app.audit_reader().for_resource(org, "CONTACT", id, 100).await.unwrap();
        let mut actions: Vec<&str> = trail.iter().map(|r| r["action"].as_str().unwrap()).collect();
        actions.sort_unstable();
        let expected = if index < 6 { ["create", "update"] } else { ["create", "delete"] };
        assert_eq!(actions, expected, "{id}");
    }
}

#[tokio::test]
async fn a_keyed_batch_cut_off_mid_way_is_finished_by_its_retry_without_a_duplicate() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let who = Who::admin(org);
    let admin = app.token(&who);
    // 10 contacts to patch (without a version: a second application would go through), 5 to
    // delete (a second attempt would be a 404), then 25 to create.
    let mut existing = Vec::new();
    for i in 0..15 {
        existing.push(app.create(&admin, "/api/business/contacts", contact("Déjà", &format!("Là{i}"))).await);
    }
    let mut operations: Vec<Value> = existing[..10]
        .iter()
        .map(|c| json!({"op": "patch", "id": c["id"], "body": {"job_title": "Infirmière"}}))
        .collect();
    operations.extend(existing[10..].iter().map(|c| json!({"op": "delete", "id": c["id"]})));
    operations.extend((0..25).map(|i| json!({"op": "create", "body": contact("Prénom", &format!("Coupé{i}"))})));
    let body = json!({"operations": operations});
    // The function dies mid-batch, once 5 contacts are created (its future dropped at an await,
    // as a killed process stops): the key stays claimed.
    let watcher = async {
        while count_all_contacts(&app, &admin).await < 10 + 5 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        answer = batch_with_key(&app, "contacts", &admin, "cut-key", &body) => {
            panic!("the batch was meant to be cut off, it finished: {}", answer.body)
        }
        () = watcher => {}
    }
    let created = count_all_contacts(&app, &admin).await - 10;
    assert!((5..25).contains(&created), "{created} of 25 created before the cut");
    // A retry while the claim is fresh is told to wait.
    let early = batch_with_key(&app, "contacts", &admin, "cut-key", &body).await;
    early.problem(409, "BATCH_IN_PROGRESS");
    // A minute later (the claim aged in the table, as time would), the retry takes over: what
    // the first attempt applied is answered from its markers, the rest is applied, nothing twice.
    app.client
        .update_item()
        .table_name(&app.table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("ORG#{org}")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("IDEMPOTENCY#{}#cut-key", who.user)))
        .update_expression("SET claimed_at = claimed_at - :minute")
        .expression_attribute_values(":minute", aws_sdk_dynamodb::types::AttributeValue::N("120".into()))
        .send()
        .await
        .unwrap();
    let retry = batch_with_key(&app, "contacts", &admin, "cut-key", &body).await;
    let mut expected = vec![200; 15];
    expected.extend([201; 25]);
    assert_eq!(statuses(&retry), expected, "{}", retry.body);
    assert_eq!(count_all_contacts(&app, &admin).await, 10 + 25);
    for (c, result) in existing[..10].iter().zip(retry.body["results"].as_array().unwrap()) {
        let now =
            app.send("GET", &format!("/api/business/contacts/{}", c["id"].as_str().unwrap()), Some(&admin), None).await;
        assert_eq!(now.body["version"], 2, "patched once: {}", now.body);
        assert_eq!(result["record"], now.body);
    }
    for result in &retry.body["results"].as_array().unwrap()[10..15] {
        assert_eq!(result["record"]["is_deleted"], true, "{result}");
    }
    let again = batch_with_key(&app, "contacts", &admin, "cut-key", &body).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, retry.body);
}

/// A new key has no earlier attempt, so its operations are decided without reading a marker
/// each; a retry that takes a dead attempt's claim over reads every one, and applies nothing
/// twice (the test above shows what it does with them mid-way).
#[tokio::test]
async fn a_new_keys_batch_reads_no_marker_and_a_taken_over_one_reads_each() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let who = Who::admin(org);
    let admin = app.token(&who);
    let mut existing = Vec::new();
    for i in 0..5 {
        existing.push(app.create(&admin, "/api/business/contacts", contact("Zoé", &format!("Lefèvre{i}"))).await);
    }
    let operations: Vec<Value> =
        existing.iter().map(|c| json!({"op": "patch", "id": c["id"], "body": {"job_title": "Sage-femme"}})).collect();
    let body = json!({"operations": operations});
    let count = |log: &[hub_shared::aws::Sent], operation: &str| {
        log.iter().filter(|r| r.operation == operation && r.body.contains("IDEMPOTENCY#")).count()
    };

    app.requests.start();
    let first = batch_with_key(&app, "contacts", &admin, "new-key", &body).await;
    let log = app.requests.stop();
    assert_eq!(statuses(&first), vec![200; 5], "{}", first.body);
    let sent: Vec<&str> = log.iter().map(|r| r.operation.as_str()).collect();
    assert_eq!(count(&log, "GetItem"), 0, "a new key's batch read markers: {sent:?}");
    assert_eq!(count(&log, "TransactWriteItems"), 5, "each patch leaves its marker");

    // The attempt "died" after its operations (its claim left running, a minute old).
    app.client
        .update_item()
        .table_name(&app.table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("ORG#{org}")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("IDEMPOTENCY#{}#new-key", who.user)))
        .update_expression("SET #state = :running, claimed_at = claimed_at - :minute REMOVE outcome")
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":running", aws_sdk_dynamodb::types::AttributeValue::S("running".into()))
        .expression_attribute_values(":minute", aws_sdk_dynamodb::types::AttributeValue::N("120".into()))
        .send()
        .await
        .unwrap();
    app.requests.start();
    let retry = batch_with_key(&app, "contacts", &admin, "new-key", &body).await;
    let log = app.requests.stop();
    assert_eq!(statuses(&retry), vec![200; 5], "{}", retry.body);
    assert_eq!(count(&log, "GetItem"), 5, "the retry reads each operation's marker");
    assert_eq!(count(&log, "TransactWriteItems"), 0, "the retry applies nothing again");
    for (c, result) in existing.iter().zip(retry.body["results"].as_array().unwrap()) {
        assert_eq!(result["record"]["version"], 2, "patched once: {result}");
        assert_eq!(result["record"]["id"], c["id"]);
    }
}

/// Every live contact of the caller's organization, following the cursor.
async fn count_all_contacts(app: &TestApp, token: &str) -> usize {
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/business/contacts?page_size=100&cursor={}", hub_tests::enc(c)),
            None => "/api/business/contacts?page_size=100".to_string(),
        };
        let page = app.send("GET", &path, Some(token), None).await;
        count += page.body["items"].as_array().unwrap().len();
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return count,
        }
    }
}

#[tokio::test]
async fn each_entity_keeps_its_own_rules_in_a_batch() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let payer = app.create(&admin, "/api/business/contacts", contact("Pay", "Eur")).await;
    let tx = |id: &str, status: &str| {
        json!({"op": "create", "body": {
            "contact_id": payer["id"], "transaction_id": id, "transaction_type": "payment",
            "amount": "120.50", "status": status,
        }})
    };
    let created =
        batch(&app, "transactions", &admin, json!({"operations": [tx("PAY-1", "completed"), tx("PAY-2", "pending")]}))
            .await;
    assert_eq!(statuses(&created), [201, 201], "{}", created.body);
    let results = created.body["results"].as_array().unwrap();
    let (completed, pending) = (&results[0]["record"], &results[1]["record"]);
    assert_eq!(completed["amount"], "120.50");
    let answer = batch(
        &app,
        "transactions",
        &admin,
        json!({"operations": [
            {"op": "delete", "id": completed["id"]},
            {"op": "patch", "id": completed["id"], "body": {"amount": "99.00"}},
            {"op": "delete", "id": pending["id"]},
        ]}),
    )
    .await;
    assert_eq!(statuses(&answer), [409, 409, 200], "{}", answer.body);
    assert_eq!(answer.body["results"][0]["problem"]["code"], "TRANSACTION_LOCKED");
    assert_eq!(answer.body["results"][1]["problem"]["code"], "TRANSACTION_LOCKED");
    // A reference to another organization's contact is not found, as on the single endpoint.
    let foreign =
        app.create(&app.token(&Who::admin(Uuid::new_v4())), "/api/business/contacts", contact("Autre", "Org")).await;
    let mut theirs = tx("PAY-3", "pending");
    theirs["body"]["contact_id"] = foreign["id"].clone();
    let answer = batch(&app, "transactions", &admin, json!({"operations": [theirs]})).await;
    assert_eq!(statuses(&answer), [422]);
    assert_eq!(answer.body["results"][0]["problem"]["code"], "RELATED_NOT_FOUND");
    // Atomically, two payments of one contact: one check of the contact in the transaction.
    let two = batch(
        &app,
        "transactions",
        &admin,
        json!({"atomic": true, "operations": [tx("PAY-4", "pending"), tx("PAY-5", "pending")]}),
    )
    .await;
    assert_eq!(statuses(&two), [201, 201], "{}", two.body);
}
