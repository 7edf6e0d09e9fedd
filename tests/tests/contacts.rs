//! Contacts over real API Gateway events, against moto with the real SDK: the whole life of a
//! contact, tenant isolation against a hostile caller, validation, roles, concurrency.

use hub_tests::{Answer, TestApp, Who, contact, enc};
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

const CONTACTS: &str = "/api/business/contacts";

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let answer = app.send("POST", CONTACTS, Some(token), Some(body)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body
}

fn ids(answer: &Answer) -> Vec<String> {
    let Some(items) = answer.body["items"].as_array() else { panic!("not a list: {}", answer.body) };
    items.iter().map(|c| c["id"].as_str().map(String::from).unwrap_or_default()).collect()
}

// ---------------------------------------------------------------- the happy path

#[tokio::test]
async fn a_created_contact_comes_back_whole_with_defaults_and_computed_names() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let who = Who::member(org);
    let token = app.token(&who);
    let answer = app
        .send("POST", CONTACTS, Some(&token), Some(json!({"first_name": "Jean", "last_name": "Dupont", "title": "dr"})))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let c = &answer.body;
    assert_eq!(answer.header("location"), Some(format!("{CONTACTS}/{}", c["id"].as_str().unwrap()).as_str()));
    assert_eq!(answer.header("etag"), Some("\"1\""));
    assert_eq!(c["organization_id"], org.to_string());
    assert_eq!(c["created_by"], who.user.to_string());
    assert_eq!(c["updated_by"], who.user.to_string());
    assert_eq!(c["version"], 1);
    assert_eq!(c["is_deleted"], false);
    assert_eq!(c["contact_type"], "patient");
    assert_eq!(c["country"], "France");
    assert_eq!(c["preferred_language"], "fr");
    assert_eq!(c["communication_preference"], "email");
    assert_eq!(c["email"], "");
    assert_eq!(c["date_of_birth"], Value::Null);
    assert_eq!(c["full_name"], "Jean Dupont");
    assert_eq!(c["display_name"], "dr Jean Dupont");
    assert!(c["created_at"].as_str().unwrap().ends_with('Z'));

    let got = app.send("GET", &format!("{CONTACTS}/{}", c["id"].as_str().unwrap()), Some(&token), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(&got.body, c);
}

#[tokio::test]
async fn the_organization_and_audit_fields_come_from_the_token_never_the_body() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let who = Who::member(org);
    let token = app.token(&who);
    let mut body = contact("Eve", "Intruder");
    body["organization_id"] = json!(Uuid::new_v4().to_string());
    body["created_by"] = json!(Uuid::new_v4().to_string());
    body["id"] = json!(Uuid::new_v4().to_string());
    body["is_deleted"] = json!(true);
    let c = create(&app, &token, body.clone()).await;
    assert_eq!(c["organization_id"], org.to_string());
    assert_eq!(c["created_by"], who.user.to_string());
    assert_ne!(c["id"], body["id"]);
    assert_eq!(c["is_deleted"], false);
}

#[tokio::test]
async fn a_contacts_whole_life_update_patch_delete_restore() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let member = app.token(&Who::member(org));
    let admin = app.token(&Who::admin(org));
    let c = create(
        &app,
        &member,
        json!({"first_name": "Ana", "last_name": "Silva", "city": "Lyon", "phone": "+33 4 00 00 00 00"}),
    )
    .await;
    let url = format!("{CONTACTS}/{}", c["id"].as_str().unwrap());

    // PUT replaces: omitted optional fields fall back to their defaults.
    let put = app
        .send("PUT", &url, Some(&member), Some(json!({"first_name": "Ana", "last_name": "Silva-Costa", "version": 1})))
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["last_name"], "Silva-Costa");
    assert_eq!(put.body["city"], "");
    assert_eq!(put.body["phone"], "");
    assert_eq!(put.body["version"], 2);
    assert_eq!(put.body["created_at"], c["created_at"]);

    // PATCH merges.
    let patch = app.send("PATCH", &url, Some(&member), Some(json!({"city": "Porto"}))).await;
    assert_eq!(patch.status, 200, "{}", patch.body);
    assert_eq!(patch.body["city"], "Porto");
    assert_eq!(patch.body["last_name"], "Silva-Costa");
    assert_eq!(patch.body["version"], 3);

    // Soft delete: gone for everyone's reads and lists.
    let deleted = app.send("DELETE", &url, Some(&member), None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["success"], true);
    app.send("GET", &url, Some(&member), None).await.problem(404, "NOT_FOUND");
    assert!(ids(&app.send("GET", CONTACTS, Some(&member), None).await).is_empty());
    app.send("PATCH", &url, Some(&member), Some(json!({"city": "X"}))).await.problem(404, "NOT_FOUND");

    // An admin sees it in the trash and restores it, whole.
    let trash = app.send("GET", &format!("{CONTACTS}?deleted=true"), Some(&admin), None).await;
    assert_eq!(ids(&trash), [c["id"].as_str().unwrap()]);
    assert_eq!(trash.body["items"][0]["is_deleted"], true);
    let in_trash = app.send("GET", &format!("{url}?include_deleted=true"), Some(&admin), None).await;
    assert_eq!(in_trash.status, 200, "{}", in_trash.body);
    assert_eq!(in_trash.body["is_deleted"], true);
    assert!(in_trash.body["deleted_at"].is_string());
    let restored = app.send("POST", &format!("{url}/restore"), Some(&admin), None).await;
    assert_eq!(restored.status, 200, "{}", restored.body);
    assert_eq!(restored.body["is_deleted"], false);
    assert_eq!(restored.body["deleted_at"], Value::Null);
    assert_eq!(restored.body["city"], "Porto");
    assert_eq!(restored.body["last_name"], "Silva-Costa");
    assert_eq!(app.send("GET", &url, Some(&member), None).await.status, 200);
    assert_eq!(ids(&app.send("GET", CONTACTS, Some(&member), None).await).len(), 1);
    assert!(ids(&app.send("GET", &format!("{CONTACTS}?deleted=true"), Some(&admin), None).await).is_empty());
    app.send("POST", &format!("{url}/restore"), Some(&admin), None).await.problem(409, "NOT_DELETED");
}

#[tokio::test]
async fn health_answers_without_a_token() {
    let app = TestApp::spawn().await;
    let _ = &app;
    let (_, event) = hub_tests::event("GET", "/api/health", &[], b"");
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let http = hub_shared::config::HttpConfig::from_env(&hub_shared::config::Env::default()).unwrap();
    let response = hub_shared::http::handle_public(&http, "health", &hub_health::health, request).await;
    assert_eq!(response.status(), 200);
}

// ---------------------------------------------------------------- tenant isolation

#[tokio::test]
async fn another_organizations_contact_is_indistinguishable_from_a_missing_one() {
    let app = TestApp::spawn().await;
    let (org_a, org_b) = (Uuid::new_v4(), Uuid::new_v4());
    let owner = app.token(&Who::member(org_a));
    let victim = create(&app, &owner, json!({"first_name": "Secret", "last_name": "Patient", "email": "secret@patient.fr", "medical_record_number": "MRN-1"})).await;
    let id = victim["id"].as_str().unwrap();
    let url = format!("{CONTACTS}/{id}");
    let missing_url = format!("{CONTACTS}/{}", Uuid::new_v4());

    let attacker = app.token(&Who::member(org_b));
    let attacker_admin = app.token(&Who::admin(org_b));
    for (method, path, token, body) in [
        ("GET", url.clone(), &attacker, None),
        ("PUT", url.clone(), &attacker, Some(contact("Hacked", "Hacked"))),
        ("PATCH", url.clone(), &attacker, Some(json!({"first_name": "Hacked"}))),
        ("DELETE", url.clone(), &attacker, None),
        ("POST", format!("{url}/restore"), &attacker_admin, None),
        ("GET", format!("{url}?include_deleted=true"), &attacker_admin, None),
    ] {
        let foreign = app.send(method, &path, Some(token), body.clone()).await;
        let missing_path = path.replace(id, missing_url.rsplit('/').next().unwrap());
        let missing = app.send(method, &missing_path, Some(token), body).await;
        foreign.problem(404, "NOT_FOUND");
        assert_eq!(foreign.status, missing.status, "{method} {path}");
        assert_eq!(foreign.body["detail"], missing.body["detail"], "{method} {path}");
    }

    // Bulk delete reports it as not found and leaves it alone.
    let bulk = app.send("DELETE", &format!("{CONTACTS}/bulk"), Some(&attacker_admin), Some(json!({"ids": [id]}))).await;
    assert_eq!(bulk.status, 200, "{}", bulk.body);
    assert_eq!(bulk.body["deleted_count"], 0);
    assert_eq!(bulk.body["results"][0]["status"], "not_found");

    // Lists and every search path come back empty for the attacker.
    for query in [
        "",
        "?search=secret",
        "?search=patient",
        "?search=secret%40patient.fr",
        "?search=MRN-1",
        "?contact_type=patient",
    ] {
        let list = app.send("GET", &format!("{CONTACTS}{query}"), Some(&attacker_admin), None).await;
        assert_eq!(list.status, 200);
        assert!(ids(&list).is_empty(), "{query}: {}", list.body);
    }

    // And the owner still has it, untouched.
    let still = app.send("GET", &url, Some(&owner), None).await;
    assert_eq!(still.status, 200);
    assert_eq!(still.body["first_name"], "Secret");
    assert_eq!(still.body["version"], 1);
}

#[tokio::test]
async fn a_cursor_from_another_organization_or_query_is_refused() {
    let app = TestApp::spawn().await;
    let (org_a, org_b) = (Uuid::new_v4(), Uuid::new_v4());
    let a = app.token(&Who::member(org_a));
    let b = app.token(&Who::member(org_b));
    for i in 0..3 {
        create(&app, &a, contact("A", &format!("Person{i}"))).await;
        create(&app, &b, contact("B", &format!("Person{i}"))).await;
    }
    let page = app.send("GET", &format!("{CONTACTS}?page_size=2"), Some(&a), None).await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_string();

    // Foreign organization, other query, tampered, forged.
    app.send("GET", &format!("{CONTACTS}?page_size=2&cursor={}", enc(&cursor)), Some(&b), None)
        .await
        .problem(400, "INVALID_CURSOR");
    app.send("GET", &format!("{CONTACTS}?contact_type=patient&cursor={}", enc(&cursor)), Some(&a), None)
        .await
        .problem(400, "INVALID_CURSOR");
    let mut tampered = cursor.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    app.send("GET", &format!("{CONTACTS}?cursor={}", enc(&tampered)), Some(&a), None)
        .await
        .problem(400, "INVALID_CURSOR");
    let forged = format!("{}.{}", "eyJwayI6Ik9SRyMiLCJzayI6IiJ9", "AAAA");
    app.send("GET", &format!("{CONTACTS}?cursor={forged}"), Some(&a), None).await.problem(400, "INVALID_CURSOR");

    // The genuine cursor still works for its own query.
    let next = app.send("GET", &format!("{CONTACTS}?page_size=2&cursor={}", enc(&cursor)), Some(&a), None).await;
    assert_eq!(next.status, 200);
    assert_eq!(ids(&next).len(), 1);
}

// ---------------------------------------------------------------- lists and search

#[tokio::test]
async fn lists_page_through_every_contact_once_newest_first() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(create(&app, &token, contact("P", &format!("N{i}"))).await["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{CONTACTS}?page_size=3&cursor={}", enc(c)),
            None => format!("{CONTACTS}?page_size=3"),
        };
        let page = app.send("GET", &url, Some(&token), None).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(ids(&page).len() <= 3);
        seen.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    created.reverse();
    assert_eq!(seen, created);
}

#[tokio::test]
async fn page_size_and_unknown_parameters_are_checked() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    for bad in ["page_size=0", "page_size=101", "page_size=ten", "contact_type=alien", "colour=red", "deleted=maybe"] {
        let answer = app.send("GET", &format!("{CONTACTS}?{bad}"), Some(&token), None).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
    }
    let default = app.send("GET", CONTACTS, Some(&token), None).await;
    assert_eq!(default.status, 200);
    assert_eq!(default.body, json!({"items": [], "next_cursor": null}));
}

#[tokio::test]
async fn contact_type_filters_the_list() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let patient = create(&app, &token, contact("Pat", "Ient")).await;
    let mut body = contact("Pro", "Vider");
    body["contact_type"] = json!("provider");
    let provider = create(&app, &token, body).await;
    assert_eq!(
        ids(&app.send("GET", &format!("{CONTACTS}?contact_type=provider"), Some(&token), None).await),
        [provider["id"].as_str().unwrap()]
    );
    assert_eq!(
        ids(&app.send("GET", &format!("{CONTACTS}?contact_type=patient"), Some(&token), None).await),
        [patient["id"].as_str().unwrap()]
    );
    // Changing the type moves the contact between filtered lists.
    let url = format!("{CONTACTS}/{}", patient["id"].as_str().unwrap());
    app.send("PATCH", &url, Some(&token), Some(json!({"contact_type": "staff"}))).await;
    assert!(ids(&app.send("GET", &format!("{CONTACTS}?contact_type=patient"), Some(&token), None).await).is_empty());
    assert_eq!(ids(&app.send("GET", &format!("{CONTACTS}?contact_type=staff"), Some(&token), None).await).len(), 1);
}

#[tokio::test]
async fn search_finds_by_exact_email_exact_record_number_and_name_prefix() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let eloise = create(&app, &token, json!({"first_name": "Éloïse", "last_name": "Lefèvre", "email": "Eloise.L@Example.fr", "medical_record_number": "MRN-0042"})).await;
    let daniel =
        create(&app, &token, json!({"first_name": "Daniel", "last_name": "Durand", "email": "dd@example.fr"})).await;
    let e = eloise["id"].as_str().unwrap();
    let d = daniel["id"].as_str().unwrap();
    let search = |q: &str| {
        let url = format!("{CONTACTS}?search={}", enc(q));
        let app = &app;
        let token = token.clone();
        async move { ids(&app.send("GET", &url, Some(&token), None).await) }
    };
    assert_eq!(search("eloise.l@example.fr").await, [e], "exact e-mail, case-insensitive");
    assert!(search("eloise.l@example").await.is_empty(), "e-mail is exact, not a prefix");
    assert_eq!(search("mrn-0042").await, [e], "exact record number");
    assert!(search("mrn-004").await.is_empty(), "record number is exact");
    assert_eq!(search("LEFE").await, [e], "last-name prefix, accent-insensitive");
    assert_eq!(search("éloi").await, [e], "first-name prefix");
    assert_eq!(search("lefevre eloise").await, [e], "last then first");
    assert_eq!(search("d").await, [d], "a contact whose names both match is listed once");
    assert!(search("zz").await.is_empty());
    let bad = app.send("GET", &format!("{CONTACTS}?search="), Some(&token), None).await;
    bad.problem(400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn search_pages_never_repeat_a_contact() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let mut expected = Vec::new();
    for name in ["Dan", "Dora", "Denis", "Dalia", "Dimitri"] {
        expected
            .push(create(&app, &token, contact(name, &format!("D{name}"))).await["id"].as_str().unwrap().to_string());
    }
    create(&app, &token, contact("Zoe", "Zola")).await;
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let url = match &cursor {
            Some(c) => format!("{CONTACTS}?search=d&page_size=2&cursor={}", enc(c)),
            None => format!("{CONTACTS}?search=d&page_size=2"),
        };
        let page = app.send("GET", &url, Some(&token), None).await;
        assert_eq!(page.status, 200, "{}", page.body);
        seen.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    sorted_seen.dedup();
    assert_eq!(sorted_seen.len(), seen.len(), "no repeats: {seen:?}");
    expected.sort();
    assert_eq!(sorted_seen, expected);
}

#[tokio::test]
async fn a_list_page_reads_at_most_one_item_more_than_it_returns() {
    use hub_shared::store::Entity;
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let token = app.token(&Who::member(org));
    for i in 0..25 {
        create(&app, &token, contact("Bulk", &format!("Org{i:02}"))).await;
    }
    // The partition a default list reads holds 25 entries; one page of 5 must read 6.
    let partition = format!("ORG#{org}#CONTACT#ALL");
    let out = app
        .client
        .query()
        .table_name(&app.table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(partition))
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!(out.count, 25);
    let tenant = hub_shared::auth::Tenant::new(hub_shared::auth::UserContext {
        user_id: hub_shared::auth::UserId::new(Uuid::new_v4()),
        email: None,
        organization_id: Some(hub_shared::auth::OrgId::new(org)),
        roles: vec![],
        expires_at: None,
    })
    .unwrap();
    let spec = hub_contacts::Contact::list_spec(&HashMap::new(), &tenant).unwrap();
    let page = app.services.store.list::<hub_contacts::Contact>(tenant.org, &spec, 5, None).await.unwrap();
    assert_eq!(page.items.len(), 5);
    assert_eq!(page.scanned, 6, "a page of 5 reads 6 items whatever the organization holds");
}

// ---------------------------------------------------------------- uniqueness

#[tokio::test]
async fn email_and_record_number_are_unique_per_organization_only() {
    let app = TestApp::spawn().await;
    let (org_a, org_b) = (Uuid::new_v4(), Uuid::new_v4());
    let a = app.token(&Who::member(org_a));
    let b = app.token(&Who::member(org_b));
    let first = create(
        &app,
        &a,
        json!({"first_name": "A", "last_name": "One", "email": "same@x.fr", "medical_record_number": "M1"}),
    )
    .await;

    let dup_email = app
        .send("POST", CONTACTS, Some(&a), Some(json!({"first_name": "A", "last_name": "Two", "email": "SAME@x.fr"})))
        .await;
    let body = dup_email.problem(409, "UNIQUE_CONFLICT");
    assert_eq!(body["errors"][0]["field"], "email");
    let dup_mrn = app
        .send(
            "POST",
            CONTACTS,
            Some(&a),
            Some(json!({"first_name": "A", "last_name": "Three", "medical_record_number": "m1"})),
        )
        .await;
    assert_eq!(dup_mrn.problem(409, "UNIQUE_CONFLICT")["errors"][0]["field"], "medical_record_number");

    // Another organization may use both.
    create(
        &app,
        &b,
        json!({"first_name": "B", "last_name": "One", "email": "same@x.fr", "medical_record_number": "M1"}),
    )
    .await;
    // Blank values never collide.
    create(&app, &a, contact("No", "Email1")).await;
    create(&app, &a, contact("No", "Email2")).await;

    // Moving the e-mail frees the old one; deleting frees both; restoring re-claims them.
    let url = format!("{CONTACTS}/{}", first["id"].as_str().unwrap());
    assert_eq!(app.send("PATCH", &url, Some(&a), Some(json!({"email": "moved@x.fr"}))).await.status, 200);
    create(&app, &a, json!({"first_name": "Took", "last_name": "Old", "email": "same@x.fr"})).await;
    app.send("POST", CONTACTS, Some(&a), Some(json!({"first_name": "A", "last_name": "Four", "email": "moved@x.fr"})))
        .await
        .problem(409, "UNIQUE_CONFLICT");
    assert_eq!(app.send("DELETE", &url, Some(&a), None).await.status, 200);
    let taker = create(&app, &a, json!({"first_name": "Took", "last_name": "Moved", "email": "moved@x.fr"})).await;
    let admin = app.token(&Who::admin(org_a));
    let restore = app.send("POST", &format!("{url}/restore"), Some(&admin), None).await;
    assert_eq!(restore.problem(409, "UNIQUE_CONFLICT")["errors"][0]["field"], "email");
    // Once the taker lets go, the restore succeeds.
    app.send("DELETE", &format!("{CONTACTS}/{}", taker["id"].as_str().unwrap()), Some(&a), None).await;
    assert_eq!(app.send("POST", &format!("{url}/restore"), Some(&admin), None).await.status, 200);
}

#[tokio::test]
async fn concurrent_creates_with_the_same_email_let_exactly_one_win() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let attempts = (0..6).map(|i| {
        app.send(
            "POST",
            CONTACTS,
            Some(&token),
            Some(json!({"first_name": "Race", "last_name": format!("R{i}"), "email": "race@x.fr"})),
        )
    });
    let answers = futures_util::future::join_all(attempts).await;
    assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 1);
    assert!(answers.iter().all(|a| a.status == 201 || a.status == 409));
}

// ---------------------------------------------------------------- concurrency

#[tokio::test]
async fn a_stale_version_gets_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let c = create(&app, &token, contact("Ver", "Sion")).await;
    let url = format!("{CONTACTS}/{}", c["id"].as_str().unwrap());
    assert_eq!(app.send("PATCH", &url, Some(&token), Some(json!({"city": "Nice", "version": 1}))).await.status, 200);

    app.send("PATCH", &url, Some(&token), Some(json!({"city": "Lost", "version": 1})))
        .await
        .problem(409, "VERSION_CONFLICT");
    let mut put = contact("Ver", "Lost");
    put["version"] = json!(1);
    app.send("PUT", &url, Some(&token), Some(put)).await.problem(409, "VERSION_CONFLICT");
    let mut headers = HashMap::from([("authorization".to_string(), format!("Bearer {token}"))]);
    headers.insert("if-match".into(), "\"1\"".into());
    let stale_delete = app.send_raw("DELETE", &url, headers.clone(), None).await;
    stale_delete.problem(409, "VERSION_CONFLICT");
    headers.insert("content-type".into(), "application/json".into());
    let stale_patch = app.send_raw("PATCH", &url, headers, Some(json!({"city": "Lost"}).to_string())).await;
    stale_patch.problem(409, "VERSION_CONFLICT");

    let now = app.send("GET", &url, Some(&token), None).await;
    assert_eq!(now.body["city"], "Nice");
    assert_eq!(now.body["version"], 2);
    assert_eq!(now.header("etag"), Some("\"2\""));
}

#[tokio::test]
async fn concurrent_updates_never_overwrite_each_other_silently() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let c = create(&app, &token, contact("Con", "Current")).await;
    let url = format!("{CONTACTS}/{}", c["id"].as_str().unwrap());
    let writes = (0..6).map(|i| app.send("PATCH", &url, Some(&token), Some(json!({"city": format!("City{i}")}))));
    let answers = futures_util::future::join_all(writes).await;
    let winners = answers.iter().filter(|a| a.status == 200).count();
    assert!(answers.iter().all(|a| a.status == 200 || a.status == 409), "{answers:?}");
    let last = app.send("GET", &url, Some(&token), None).await;
    assert_eq!(last.body["version"], 1 + winners as u64, "every success is one version; no lost update");
}

#[tokio::test]
async fn a_retried_create_with_the_same_idempotency_key_returns_the_first_record() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let headers = HashMap::from([
        ("authorization".to_string(), format!("Bearer {token}")),
        ("content-type".to_string(), "application/json".to_string()),
        ("idempotency-key".to_string(), "retry-1".to_string()),
    ]);
    // With an e-mail and a record number: the retry's uniqueness claims fail too (the first
    // attempt made them), and must not hide that it is a replay.
    let mut body = contact("Idem", "Potent");
    body["email"] = json!("idem.potent@example.fr");
    body["medical_record_number"] = json!("MRN-IDEM-1");
    let body = body.to_string();
    let first = app.send_raw("POST", CONTACTS, headers.clone(), Some(body.clone())).await;
    let second = app.send_raw("POST", CONTACTS, headers.clone(), Some(body)).await;
    assert_eq!(first.status, 201);
    assert_eq!(second.status, 201);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.body["id"], second.body["id"]);
    assert_eq!(ids(&app.send("GET", CONTACTS, Some(&token), None).await).len(), 1);
    let other = app.send_raw("POST", CONTACTS, headers, Some(contact("Other", "Body").to_string())).await;
    other.problem(409, "IDEMPOTENCY_KEY_REUSED");
}

// ---------------------------------------------------------------- validation

#[tokio::test]
async fn every_validation_rule_answers_4xx_with_a_problem_body() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Duration::days(1)).to_string();
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"last_name": "X"}), "first_name", "required"),
        (json!({"first_name": "  ", "last_name": "X"}), "first_name", "required"),
        (json!({"first_name": 42, "last_name": "X"}), "first_name", "invalid_type"),
        (json!({"first_name": "a".repeat(101), "last_name": "X"}), "first_name", "too_long"),
        (json!({"first_name": "A", "last_name": "X", "contact_type": "alien"}), "contact_type", "invalid_choice"),
        (json!({"first_name": "A", "last_name": "X", "title": "sir"}), "title", "invalid_choice"),
        (
            json!({"first_name": "A", "last_name": "X", "communication_preference": "pigeon"}),
            "communication_preference",
            "invalid_choice",
        ),
        (json!({"first_name": "A", "last_name": "X", "email": "not-an-email"}), "email", "invalid_format"),
        (json!({"first_name": "A", "last_name": "X", "phone": "call me"}), "phone", "invalid_format"),
        (json!({"first_name": "A", "last_name": "X", "date_of_birth": tomorrow}), "date_of_birth", "invalid_value"),
        (
            json!({"first_name": "A", "last_name": "X", "date_of_birth": "31/12/1990"}),
            "date_of_birth",
            "invalid_format",
        ),
        (json!({"first_name": "A", "last_name": "X", "consent_given": "yes"}), "consent_given", "invalid_type"),
        (json!({"first_name": "A", "last_name": "X", "consent_date": "yesterday"}), "consent_date", "invalid_format"),
        (
            json!({"first_name": "A", "last_name": "X", "preferred_language": "french"}),
            "preferred_language",
            "invalid_format",
        ),
        (
            json!({"first_name": "A", "last_name": "X", "medical_record_number": "m".repeat(51)}),
            "medical_record_number",
            "too_long",
        ),
        (json!({"first_name": "A", "last_name": "X", "nickname": "Jo"}), "nickname", "unknown_field"),
    ];
    for (body, field, code) in cases {
        let answer = app.send("POST", CONTACTS, Some(&token), Some(body.clone())).await;
        let problem = answer.problem(422, "VALIDATION_FAILED");
        let errors = problem["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["field"] == field && e["code"] == code), "{body}: {problem}");
    }
    // Nothing was created by any of them.
    assert!(ids(&app.send("GET", CONTACTS, Some(&token), None).await).is_empty());
}

#[tokio::test]
async fn malformed_bodies_and_ids_get_problems_not_500s() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let auth = format!("Bearer {token}");
    let json_headers = HashMap::from([
        ("authorization".to_string(), auth.clone()),
        ("content-type".to_string(), "application/json".to_string()),
    ]);
    app.send_raw("POST", CONTACTS, json_headers.clone(), Some("{\"first_name\": ".into()))
        .await
        .problem(400, "MALFORMED_JSON");
    app.send_raw("POST", CONTACTS, json_headers.clone(), Some("[1, 2]".into())).await.problem(400, "MALFORMED_JSON");
    app.send_raw("POST", CONTACTS, json_headers.clone(), None).await.problem(400, "MALFORMED_JSON");
    let huge = json!({"first_name": "A", "last_name": "B", "company": "x".repeat(70_000)}).to_string();
    app.send_raw("POST", CONTACTS, json_headers.clone(), Some(huge)).await.problem(413, "PAYLOAD_TOO_LARGE");
    let form = HashMap::from([
        ("authorization".to_string(), auth.clone()),
        ("content-type".to_string(), "application/x-www-form-urlencoded".to_string()),
    ]);
    app.send_raw("POST", CONTACTS, form, Some("first_name=A".into())).await.problem(415, "UNSUPPORTED_MEDIA_TYPE");
    app.send("GET", &format!("{CONTACTS}/not-a-uuid"), Some(&token), None).await.problem(404, "NOT_FOUND");
    app.send("PATCH", &format!("{CONTACTS}/123"), Some(&token), Some(json!({}))).await.problem(404, "NOT_FOUND");
    let bulk = app
        .send(
            "DELETE",
            &format!("{CONTACTS}/bulk"),
            Some(&app.token(&Who::admin(Uuid::new_v4()))),
            Some(json!({"ids": ["nope"]})),
        )
        .await;
    assert_eq!(bulk.status, 200);
    assert_eq!(bulk.body["results"][0]["status"], "not_found");
}

// ---------------------------------------------------------------- authentication and roles

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let app = TestApp::spawn().await;
    let anonymous = app.send("GET", CONTACTS, None, None).await;
    anonymous.problem(401, "UNAUTHENTICATED");
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer realm=\"hub\""));
    app.send("GET", CONTACTS, Some("not.a.jwt"), None).await.problem(401, "UNAUTHENTICATED");
    let now = chrono::Utc::now().timestamp();
    let expired = app.sign(&json!({"sub": Uuid::new_v4().to_string(), "organization_id": Uuid::new_v4().to_string(), "iss": hub_tests::ISSUER, "aud": hub_tests::AUDIENCE, "exp": now - 3600}));
    app.send("GET", CONTACTS, Some(&expired), None).await.problem(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_token_without_an_organization_gets_403_everywhere() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who { user: Uuid::new_v4(), org: None, roles: vec!["admin".into()] });
    let id = Uuid::new_v4();
    for (method, path, body) in [
        ("GET", CONTACTS.to_string(), None),
        ("POST", CONTACTS.to_string(), Some(contact("A", "B"))),
        ("GET", format!("{CONTACTS}/{id}"), None),
        ("PUT", format!("{CONTACTS}/{id}"), Some(contact("A", "B"))),
        ("PATCH", format!("{CONTACTS}/{id}"), Some(json!({}))),
        ("DELETE", format!("{CONTACTS}/{id}"), None),
        ("POST", format!("{CONTACTS}/{id}/restore"), None),
        ("DELETE", format!("{CONTACTS}/bulk"), Some(json!({"ids": [id]}))),
    ] {
        app.send(method, &path, Some(&token), body).await.problem(403, "NO_ORGANIZATION");
    }
}

#[tokio::test]
async fn a_viewer_reads_but_cannot_write() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let member = app.token(&Who::member(org));
    let viewer = app.token(&Who::viewer(org));
    let c = create(&app, &member, contact("View", "Only")).await;
    let url = format!("{CONTACTS}/{}", c["id"].as_str().unwrap());
    assert_eq!(app.send("GET", &url, Some(&viewer), None).await.status, 200);
    assert_eq!(ids(&app.send("GET", CONTACTS, Some(&viewer), None).await).len(), 1);
    app.send("POST", CONTACTS, Some(&viewer), Some(contact("No", "Way"))).await.problem(403, "FORBIDDEN");
    app.send("PUT", &url, Some(&viewer), Some(contact("No", "Way"))).await.problem(403, "FORBIDDEN");
    app.send("PATCH", &url, Some(&viewer), Some(json!({"city": "X"}))).await.problem(403, "FORBIDDEN");
    app.send("DELETE", &url, Some(&viewer), None).await.problem(403, "FORBIDDEN");
    assert_eq!(app.send("GET", &url, Some(&member), None).await.body["version"], 1);
}

#[tokio::test]
async fn only_admins_restore_bulk_delete_and_see_deleted_records() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let member = app.token(&Who::member(org));
    let owner = app.token(&Who { user: Uuid::new_v4(), org: Some(org), roles: vec!["owner".into()] });
    let c = create(&app, &member, contact("Adm", "In")).await;
    let id = c["id"].as_str().unwrap();
    let url = format!("{CONTACTS}/{id}");
    app.send("DELETE", &url, Some(&member), None).await;
    app.send("POST", &format!("{url}/restore"), Some(&member), None).await.problem(403, "FORBIDDEN");
    app.send("GET", &format!("{CONTACTS}?deleted=true"), Some(&member), None).await.problem(403, "FORBIDDEN");
    app.send("GET", &format!("{url}?include_deleted=true"), Some(&member), None).await.problem(403, "FORBIDDEN");
    app.send("DELETE", &format!("{CONTACTS}/bulk"), Some(&member), Some(json!({"ids": [id]})))
        .await
        .problem(403, "FORBIDDEN");
    // `owner` counts as admin.
    assert_eq!(app.send("POST", &format!("{url}/restore"), Some(&owner), None).await.status, 200);
}

#[tokio::test]
async fn bulk_delete_reports_each_id_and_caps_at_one_hundred() {
    let app = TestApp::spawn().await;
    let org = Uuid::new_v4();
    let admin = app.token(&Who::admin(org));
    let a = create(&app, &admin, contact("Bulk", "A")).await["id"].as_str().unwrap().to_string();
    let b = create(&app, &admin, contact("Bulk", "B")).await["id"].as_str().unwrap().to_string();
    let keep = create(&app, &admin, contact("Bulk", "Keep")).await["id"].as_str().unwrap().to_string();
    let missing = Uuid::new_v4().to_string();
    let answer =
        app.send("DELETE", &format!("{CONTACTS}/bulk"), Some(&admin), Some(json!({"ids": [a, missing, b, a]}))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["deleted_count"], 2);
    let statuses: Vec<&str> =
        answer.body["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["deleted", "not_found", "deleted"]);
    assert_eq!(ids(&app.send("GET", CONTACTS, Some(&admin), None).await), [keep]);

    let too_many: Vec<String> = (0..101).map(|_| Uuid::new_v4().to_string()).collect();
    app.send("DELETE", &format!("{CONTACTS}/bulk"), Some(&admin), Some(json!({"ids": too_many})))
        .await
        .problem(422, "VALIDATION_FAILED");
    app.send("DELETE", &format!("{CONTACTS}/bulk"), Some(&admin), Some(json!({"ids": []})))
        .await
        .problem(422, "VALIDATION_FAILED");
    app.send("DELETE", &format!("{CONTACTS}/bulk"), Some(&admin), Some(json!({"ids": "all"})))
        .await
        .problem(422, "VALIDATION_FAILED");
}

#[tokio::test]
async fn consent_is_dated_and_versioned_when_given_and_cleared_when_withdrawn_over_http() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let unversioned = json!({"first_name": "Con", "last_name": "Sent", "consent_given": true});
    let refused = app.send("POST", CONTACTS, Some(&token), Some(unversioned)).await;
    assert_eq!(refused.problem(422, "VALIDATION_FAILED")["errors"][0]["field"], "consent_version", "{}", refused.body);
    let body = json!({"first_name": "Con", "last_name": "Sent", "consent_given": true, "consent_version": "2025-01"});
    let c = create(&app, &token, body).await;
    let given_at = c["consent_date"].as_str().unwrap().to_string();
    assert_eq!(c["consent_version"], "2025-01");
    let url = format!("{CONTACTS}/{}", c["id"].as_str().unwrap());
    let edited = app.send("PATCH", &url, Some(&token), Some(json!({"city": "Lille"}))).await;
    assert_eq!((&edited.body["consent_date"], &edited.body["consent_version"]), (&json!(given_at), &json!("2025-01")));
    let withdrawn = app.send("PATCH", &url, Some(&token), Some(json!({"consent_given": false}))).await;
    assert_eq!((&withdrawn.body["consent_date"], &withdrawn.body["consent_version"]), (&Value::Null, &json!("")));
}

#[tokio::test]
async fn cors_headers_are_sent_to_allowed_origins_only() {
    let app = TestApp::spawn().await;
    let token = app.token(&Who::member(Uuid::new_v4()));
    let mut headers = HashMap::from([("authorization".to_string(), format!("Bearer {token}"))]);
    headers.insert("origin".into(), hub_tests::ALLOWED_ORIGIN.into());
    let allowed = app.send_raw("GET", CONTACTS, headers.clone(), None).await;
    assert_eq!(allowed.header("access-control-allow-origin"), Some(hub_tests::ALLOWED_ORIGIN));
    headers.insert("origin".into(), "https://evil.example".into());
    let refused = app.send_raw("GET", CONTACTS, headers, None).await;
    assert_eq!(refused.header("access-control-allow-origin"), None);
}
