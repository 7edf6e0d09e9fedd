//! Appointments over real API Gateway events, against moto with the real SDK: the whole life of
//! an appointment, references to contacts, validation, filters on start-time ranges, the
//! provider's schedule (including concurrent bookings), the status workflow, tenancy and roles.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use hub_tests::{Answer, TestApp, Who, contact, enc};
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

const APPOINTMENTS: &str = "/api/business/appointments";
const CONTACTS: &str = "/api/business/contacts";

/// Minutes after a fixed Monday morning, as RFC 3339 UTC.
fn at(minutes: i64) -> String {
    let base = DateTime::<Utc>::from_timestamp(1_935_734_400, 0).unwrap_or_else(|| panic!("a valid instant"));
    (base + Duration::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn body(contact_id: &str, start: i64, end: i64) -> Value {
    json!({"title": "Consultation", "contact_id": contact_id, "start_datetime": at(start), "end_datetime": at(end)})
}

fn booked(contact_id: &str, provider: Uuid, start: i64, end: i64) -> Value {
    let mut b = body(contact_id, start, end);
    b["assigned_provider"] = json!(provider.to_string());
    b
}

struct Practice {
    org: Uuid,
    member: String,
    admin: String,
    patient: String,
}

async fn practice(app: &TestApp) -> Practice {
    let org = Uuid::new_v4();
    let member = app.token(&Who::member(org));
    let admin = app.token(&Who::admin(org));
    let patient = new_contact(app, &member, "Pat").await;
    Practice { org, member, admin, patient }
}

async fn new_contact(app: &TestApp, token: &str, name: &str) -> String {
    let answer = app.send("POST", CONTACTS, Some(token), Some(contact(name, "Ient"))).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    id(&answer.body)
}

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let answer = app.send("POST", APPOINTMENTS, Some(token), Some(body)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body
}

fn id(record: &Value) -> String {
    record["id"].as_str().unwrap_or_else(|| panic!("no id: {record}")).to_string()
}

fn url(record: &Value) -> String {
    format!("{APPOINTMENTS}/{}", id(record))
}

fn ids(answer: &Answer) -> Vec<String> {
    let Some(items) = answer.body["items"].as_array() else { panic!("not a list: {}", answer.body) };
    items.iter().map(id).collect()
}

/// Every item of a list, following cursors.
async fn list_all(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let mut path = if query.is_empty() {
            format!("{APPOINTMENTS}?page_size=2")
        } else {
            format!("{APPOINTMENTS}?{query}&page_size=2")
        };
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", enc(c)));
        }
        let page = app.send("GET", &path, Some(token), None).await;
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        seen.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return seen,
        }
    }
    panic!("{query}: the cursor never ended");
}

// ---------------------------------------------------------------- the happy path

#[tokio::test]
async fn a_created_appointment_comes_back_whole_with_defaults_and_times_in_utc() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let provider = Uuid::new_v4();
    let answer = app
        .send(
            "POST",
            APPOINTMENTS,
            Some(&p.member),
            Some(json!({
                "title": "Annual check-up",
                "contact_id": p.patient,
                "start_datetime": "2031-05-05T09:00:00+02:00",
                "end_datetime": "2031-05-05T09:45:00+02:00",
                "timezone": "America/New_York",
                "assigned_provider": provider.to_string(),
                "estimated_cost": "0.10",
                "estimated_duration_minutes": 45,
            })),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let a = &answer.body;
    assert_eq!(answer.header("location"), Some(url(a).as_str()));
    assert_eq!(answer.header("etag"), Some("\"1\""));
    assert_eq!(a["organization_id"], p.org.to_string());
    assert_eq!(a["start_datetime"], "2031-05-05T07:00:00.000Z");
    assert_eq!(a["end_datetime"], "2031-05-05T07:45:00.000Z");
    assert_eq!(a["timezone"], "America/New_York");
    assert_eq!(a["estimated_cost"], "0.10");
    assert_eq!(a["estimated_duration_minutes"], 45);
    assert_eq!(a["assigned_provider"], provider.to_string());
    assert_eq!(a["contact_id"], p.patient);
    for (field, default) in [
        ("description", json!("")),
        ("appointment_type", json!("consultation")),
        ("status", json!("scheduled")),
        ("priority", json!(3)),
        ("assigned_staff", Value::Null),
        ("location", json!("")),
        ("billing_code", json!("")),
        ("insurance_authorized", json!(false)),
        ("requires_follow_up", json!(false)),
        ("follow_up_date", Value::Null),
        ("reminder_sent", json!(false)),
        ("confirmation_required", json!(true)),
        ("confirmed_at", Value::Null),
    ] {
        assert_eq!(a[field], default, "{field}");
    }
    let defaults = create(&app, &p.member, body(&p.patient, 600, 630)).await;
    assert_eq!(defaults["timezone"], "Europe/Paris");
    assert_eq!(defaults["estimated_cost"], Value::Null);

    let got = app.send("GET", &url(a), Some(&p.member), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(&got.body, a);
}

#[tokio::test]
async fn an_appointments_whole_life_put_patch_delete_restore() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let mut first = body(&p.patient, 0, 30);
    first["location"] = json!("Room 2");
    let a = create(&app, &p.member, first).await;
    let path = url(&a);

    // PUT replaces: omitted optional fields fall back to their defaults.
    let mut put = body(&p.patient, 60, 90);
    put["title"] = json!("Moved check-up");
    put["version"] = json!(1);
    let replaced = app.send("PUT", &path, Some(&p.member), Some(put)).await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.body["title"], "Moved check-up");
    assert_eq!(replaced.body["location"], "");
    assert_eq!(replaced.body["start_datetime"], at(60));
    assert_eq!(replaced.body["version"], 2);

    // Reminders and follow-up are ordinary updatable fields.
    let patched = app
        .send(
            "PATCH",
            &path,
            Some(&p.member),
            Some(json!({
                "reminder_sent": true,
                "requires_follow_up": true,
                "follow_up_date": "2031-06-01",
                "post_appointment_notes": "Review results.\nCall back.",
            })),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["reminder_sent"], true);
    assert_eq!(patched.body["requires_follow_up"], true);
    assert_eq!(patched.body["follow_up_date"], "2031-06-01");
    assert_eq!(patched.body["post_appointment_notes"], "Review results.\nCall back.");
    assert_eq!(patched.body["title"], "Moved check-up");
    assert_eq!(patched.body["version"], 3);

    // Soft delete: gone from reads and every list.
    let deleted = app.send("DELETE", &path, Some(&p.member), None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    app.send("GET", &path, Some(&p.member), None).await.problem(404, "NOT_FOUND");
    for query in ["", "status=scheduled", &format!("contact_id={}", p.patient)] {
        assert!(list_all(&app, &p.member, query).await.is_empty(), "{query}");
    }
    app.send("POST", &format!("{path}/confirm"), Some(&p.member), None).await.problem(404, "NOT_FOUND");

    // Admins see it in the trash and restore it whole.
    let trash = app.send("GET", &format!("{APPOINTMENTS}?deleted=true"), Some(&p.admin), None).await;
    assert_eq!(ids(&trash), [id(&a)]);
    app.send("POST", &format!("{path}/restore"), Some(&p.member), None).await.problem(403, "FORBIDDEN");
    let restored = app.send("POST", &format!("{path}/restore"), Some(&p.admin), None).await;
    assert_eq!(restored.status, 200, "{}", restored.body);
    assert_eq!(restored.body["is_deleted"], false);
    assert_eq!(restored.body["follow_up_date"], "2031-06-01");
    assert_eq!(list_all(&app, &p.member, "status=scheduled").await, [id(&a)]);
    app.send("POST", &format!("{path}/restore"), Some(&p.admin), None).await.problem(409, "NOT_DELETED");
}

// ---------------------------------------------------------------- references

#[tokio::test]
async fn the_contact_must_be_a_live_contact_of_the_same_organization() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let other_org = app.token(&Who::member(Uuid::new_v4()));
    let foreign = new_contact(&app, &other_org, "Foreign").await;
    let missing = Uuid::new_v4().to_string();

    let to_missing = app.send("POST", APPOINTMENTS, Some(&p.member), Some(body(&missing, 0, 30))).await;
    let to_foreign = app.send("POST", APPOINTMENTS, Some(&p.member), Some(body(&foreign, 0, 30))).await;
    assert_eq!(to_missing.problem(422, "RELATED_NOT_FOUND")["errors"][0]["field"], "contact_id");
    to_foreign.problem(422, "RELATED_NOT_FOUND");
    assert_eq!(to_foreign.body["detail"], to_missing.body["detail"], "a foreign contact looks missing");
    assert_eq!(to_foreign.body["errors"], to_missing.body["errors"]);

    // A deleted contact cannot be booked, and an update cannot move to a foreign one.
    let gone = new_contact(&app, &p.member, "Gone").await;
    app.send("DELETE", &format!("{CONTACTS}/{gone}"), Some(&p.member), None).await;
    app.send("POST", APPOINTMENTS, Some(&p.member), Some(body(&gone, 0, 30))).await.problem(422, "RELATED_NOT_FOUND");
    let a = create(&app, &p.member, body(&p.patient, 0, 30)).await;
    app.send("PATCH", &url(&a), Some(&p.member), Some(json!({"contact_id": foreign})))
        .await
        .problem(422, "RELATED_NOT_FOUND");
    assert_eq!(app.send("GET", &url(&a), Some(&p.member), None).await.body["contact_id"], p.patient);
    assert!(list_all(&app, &p.member, "").await.len() == 1, "nothing else was created");
}

// ---------------------------------------------------------------- tenant isolation

#[tokio::test]
async fn another_organizations_appointment_is_indistinguishable_from_a_missing_one() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let provider = Uuid::new_v4();
    let victim = create(&app, &p.member, booked(&p.patient, provider, 0, 30)).await;
    let id = id(&victim);
    let path = url(&victim);
    let missing = Uuid::new_v4().to_string();

    let attacker_org = Uuid::new_v4();
    let attacker = app.token(&Who::member(attacker_org));
    let attacker_admin = app.token(&Who::admin(attacker_org));
    let their_contact = new_contact(&app, &attacker, "Mallory").await;
    for (method, target, token, body) in [
        ("GET", path.clone(), &attacker, None),
        ("PUT", path.clone(), &attacker, Some(body(&their_contact, 0, 30))),
        ("PATCH", path.clone(), &attacker, Some(json!({"title": "Hacked"}))),
        ("DELETE", path.clone(), &attacker, None),
        ("POST", format!("{path}/confirm"), &attacker, None),
        ("POST", format!("{path}/cancel"), &attacker, None),
        ("POST", format!("{path}/restore"), &attacker_admin, None),
        ("GET", format!("{path}?include_deleted=true"), &attacker_admin, None),
    ] {
        let foreign = app.send(method, &target, Some(token), body.clone()).await;
        let absent = app.send(method, &target.replace(&id, &missing), Some(token), body).await;
        foreign.problem(404, "NOT_FOUND");
        assert_eq!(foreign.status, absent.status, "{method} {target}");
        assert_eq!(foreign.body["detail"], absent.body["detail"], "{method} {target}");
    }

    // Every list and filter comes back empty for the attacker, even naming the victim's ids.
    for query in [
        String::new(),
        "status=scheduled".into(),
        "appointment_type=consultation".into(),
        format!("contact_id={}", p.patient),
        format!("assigned_provider={provider}"),
        format!("start_from={}&start_to={}", enc(&at(-60)), enc(&at(60))),
    ] {
        assert!(list_all(&app, &attacker_admin, &query).await.is_empty(), "{query}");
    }

    // The attacker booking the same provider at the same time in their organization neither
    // conflicts nor learns anything.
    create(&app, &attacker, booked(&their_contact, provider, 0, 30)).await;

    let still = app.send("GET", &path, Some(&p.member), None).await;
    assert_eq!(still.body["title"], "Consultation");
    assert_eq!(still.body["status"], "scheduled");
    assert_eq!(still.body["version"], 1);
}

// ---------------------------------------------------------------- validation

#[tokio::test]
async fn every_validation_rule_answers_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let c = p.patient.as_str();
    let with = |field: &str, value: Value| {
        let mut b = body(c, 0, 30);
        b[field] = value;
        b
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"contact_id": c, "start_datetime": at(0), "end_datetime": at(30)}), "title", "required"),
        (json!({"title": "T", "start_datetime": at(0), "end_datetime": at(30)}), "contact_id", "required"),
        (json!({"title": "T", "contact_id": c, "end_datetime": at(30)}), "start_datetime", "required"),
        (json!({"title": "T", "contact_id": c, "start_datetime": at(0)}), "end_datetime", "required"),
        (with("title", json!("t".repeat(201))), "title", "too_long"),
        (with("contact_id", json!("not-a-uuid")), "contact_id", "invalid_format"),
        (with("start_datetime", json!("2031-05-05 09:00")), "start_datetime", "invalid_format"),
        (with("start_datetime", json!("1850-01-01T09:00:00Z")), "start_datetime", "invalid_format"),
        (with("end_datetime", json!(at(0))), "end_datetime", "invalid_value"),
        (with("end_datetime", json!(at(-30))), "end_datetime", "invalid_value"),
        (with("end_datetime", json!(at(24 * 60 + 1))), "end_datetime", "out_of_range"),
        (with("timezone", json!("Europe/Pariss")), "timezone", "invalid_value"),
        (with("timezone", json!("+02:00")), "timezone", "invalid_value"),
        (with("timezone", json!("z".repeat(51))), "timezone", "invalid_value"),
        (with("appointment_type", json!("party")), "appointment_type", "invalid_choice"),
        (with("status", json!("done")), "status", "invalid_choice"),
        (with("priority", json!(0)), "priority", "out_of_range"),
        (with("priority", json!(6)), "priority", "out_of_range"),
        (with("priority", json!("high")), "priority", "invalid_type"),
        (with("assigned_provider", json!("dr-house")), "assigned_provider", "invalid_format"),
        (with("assigned_staff", json!(42)), "assigned_staff", "invalid_type"),
        (with("location", json!("l".repeat(201))), "location", "too_long"),
        (with("estimated_duration_minutes", json!(-5)), "estimated_duration_minutes", "out_of_range"),
        (with("billing_code", json!("b".repeat(51))), "billing_code", "too_long"),
        (with("estimated_cost", json!("-1.00")), "estimated_cost", "invalid_format"),
        (with("estimated_cost", json!("100000000.00")), "estimated_cost", "invalid_format"),
        (with("estimated_cost", json!(120.5)), "estimated_cost", "invalid_type"),
        (with("estimated_cost", json!("1.005")), "estimated_cost", "invalid_format"),
        (with("insurance_authorized", json!("yes")), "insurance_authorized", "invalid_type"),
        (with("follow_up_date", json!("01/06/2031")), "follow_up_date", "invalid_format"),
        (with("reminder_sent", json!(1)), "reminder_sent", "invalid_type"),
        (with("title", json!("a\u{7}b")), "title", "invalid_format"),
        (with("colour", json!("blue")), "colour", "unknown_field"),
    ];
    for (body, field, code) in cases {
        let answer = app.send("POST", APPOINTMENTS, Some(&p.member), Some(body.clone())).await;
        let problem = answer.problem(422, "VALIDATION_FAILED");
        let errors = problem["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["field"] == field && e["code"] == code), "{body}: {problem}");
    }
    // An appointment of exactly the longest duration is fine; nothing else was created.
    create(&app, &p.member, body(c, 0, 24 * 60)).await;
    assert_eq!(list_all(&app, &p.member, "").await.len(), 1);
}

// ---------------------------------------------------------------- lists and filters

#[tokio::test]
async fn lists_are_in_start_time_order_and_page_through_every_appointment_once() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let mut created = Vec::new();
    // Created out of order; listed by start time.
    for start in [300, 0, 120, 60, 240, 180, 30] {
        created.push((start, id(&create(&app, &p.member, body(&p.patient, start, start + 15)).await)));
    }
    created.sort();
    let expected: Vec<String> = created.into_iter().map(|(_, id)| id).collect();
    assert_eq!(list_all(&app, &p.member, "").await, expected);
}

#[tokio::test]
async fn each_filter_combines_with_the_start_time_range() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let other = new_contact(&app, &p.member, "Other").await;
    let (dr_a, dr_b) = (Uuid::new_v4(), Uuid::new_v4());
    let make = |contact: &str, provider: Uuid, start: i64, kind: &str| {
        let mut b = booked(contact, provider, start, start + 30);
        b["appointment_type"] = json!(kind);
        b
    };
    let early = id(&create(&app, &p.member, make(&p.patient, dr_a, 0, "consultation")).await);
    let mid = id(&create(&app, &p.member, make(&other, dr_b, 60, "surgery")).await);
    let late = id(&create(&app, &p.member, make(&p.patient, dr_a, 120, "surgery")).await);
    let later = id(&create(&app, &p.member, make(&other, dr_a, 180, "consultation")).await);
    app.send("POST", &format!("{APPOINTMENTS}/{late}/confirm"), Some(&p.member), None).await;

    // [from, to): the start of `late` is excluded by to = its start.
    let range = format!("start_from={}&start_to={}", enc(&at(60)), enc(&at(120)));
    let from_mid = format!("start_from={}", enc(&at(60)));
    let until_late = format!("start_to={}", enc(&at(121)));
    let cases: Vec<(String, Vec<&String>)> = vec![
        (String::new(), vec![&early, &mid, &late, &later]),
        (range.clone(), vec![&mid]),
        (from_mid.clone(), vec![&mid, &late, &later]),
        (until_late.clone(), vec![&early, &mid, &late]),
        ("status=confirmed".into(), vec![&late]),
        (format!("status=scheduled&{from_mid}"), vec![&mid, &later]),
        ("appointment_type=surgery".into(), vec![&mid, &late]),
        (format!("appointment_type=consultation&{from_mid}"), vec![&later]),
        (format!("contact_id={}", p.patient), vec![&early, &late]),
        (format!("contact_id={other}&{until_late}"), vec![&mid]),
        (format!("assigned_provider={dr_a}"), vec![&early, &late, &later]),
        (format!("assigned_provider={dr_a}&{from_mid}"), vec![&late, &later]),
        (format!("assigned_provider={dr_b}&{range}"), vec![&mid]),
        // Two of status/type/contact/provider: both apply.
        (format!("assigned_provider={dr_a}&appointment_type=consultation"), vec![&early, &later]),
        (format!("contact_id={}&status=scheduled", p.patient), vec![&early]),
        (format!("status=scheduled&appointment_type=surgery&assigned_provider={dr_b}"), vec![&mid]),
    ];
    for (query, expected) in cases {
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(list_all(&app, &p.member, &query).await, expected, "{query}");
    }

    // Changing the status, type, contact, provider or time moves it between lists.
    let path = format!("{APPOINTMENTS}/{early}");
    let moved = app
        .send(
            "PATCH",
            &path,
            Some(&p.member),
            Some(json!({"assigned_provider": dr_b.to_string(), "contact_id": other, "appointment_type": "procedure", "start_datetime": at(600), "end_datetime": at(630)})),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(list_all(&app, &p.member, &format!("assigned_provider={dr_a}")).await, [late.clone(), later.clone()]);
    assert_eq!(list_all(&app, &p.member, &format!("contact_id={}", p.patient)).await, std::slice::from_ref(&late));
    assert_eq!(list_all(&app, &p.member, "appointment_type=procedure").await, std::slice::from_ref(&early));
    assert_eq!(list_all(&app, &p.member, "").await, [mid, late, later, early]);
}

#[tokio::test]
async fn malformed_filters_and_cursors_are_400s() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    for bad in [
        "status=done",
        "appointment_type=party",
        "contact_id=42",
        "assigned_provider=dr",
        "start_from=yesterday",
        "start_to=2031-05-05",
        "start_from=2031-05-06T00:00:00Z&start_to=2031-05-05T00:00:00Z",
        "page_size=0",
        "provider=x",
    ] {
        let answer = app.send("GET", &format!("{APPOINTMENTS}?{bad}"), Some(&p.member), None).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
    }
    for start in [0, 30, 60] {
        create(&app, &p.member, body(&p.patient, start, start + 15)).await;
    }
    let page = app.send("GET", &format!("{APPOINTMENTS}?page_size=2"), Some(&p.member), None).await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_string();
    app.send("GET", &format!("{APPOINTMENTS}?status=scheduled&cursor={}", enc(&cursor)), Some(&p.member), None)
        .await
        .problem(400, "INVALID_CURSOR");
    let other_range = format!("start_from={}&cursor={}", enc(&at(0)), enc(&cursor));
    app.send("GET", &format!("{APPOINTMENTS}?{other_range}"), Some(&p.member), None)
        .await
        .problem(400, "INVALID_CURSOR");
    let foreign = app.token(&Who::member(Uuid::new_v4()));
    app.send("GET", &format!("{APPOINTMENTS}?page_size=2&cursor={}", enc(&cursor)), Some(&foreign), None)
        .await
        .problem(400, "INVALID_CURSOR");
}

#[tokio::test]
async fn a_filtered_range_page_reads_at_most_one_item_more_than_it_returns() {
    use hub_shared::store::Entity;
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let provider = Uuid::new_v4();
    for i in 0..12 {
        create(&app, &p.member, booked(&p.patient, provider, i * 30, i * 30 + 30)).await;
    }
    let tenant = hub_shared::auth::Tenant::new(hub_shared::auth::UserContext {
        user_id: hub_shared::auth::UserId::new(Uuid::new_v4()),
        email: None,
        organization_id: Some(hub_shared::auth::OrgId::new(p.org)),
        roles: vec![],
        expires_at: None,
    })
    .unwrap();
    let params =
        HashMap::from([("assigned_provider".to_string(), provider.to_string()), ("start_from".to_string(), at(60))]);
    let spec = hub_appointments::Appointment::list_spec(&params, &tenant).unwrap();
    let page = app.services.store.list::<hub_appointments::Appointment>(tenant.org, &spec, 4, None).await.unwrap();
    assert_eq!(page.items.len(), 4);
    assert_eq!(page.scanned, 5, "a page of 4 reads 5 items whatever the partition holds");
    assert_eq!(page.items[0].data.start_datetime.to_key(), at(60));
}

// ---------------------------------------------------------------- the provider's schedule

#[tokio::test]
async fn a_provider_cannot_hold_two_overlapping_appointments() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let dr = Uuid::new_v4();
    let first = create(&app, &p.member, booked(&p.patient, dr, 60, 120)).await;
    let first_id = id(&first);

    for (start, end) in [(90, 150), (30, 61), (70, 80), (0, 240), (119, 200)] {
        let clash = app.send("POST", APPOINTMENTS, Some(&p.member), Some(booked(&p.patient, dr, start, end))).await;
        let problem = clash.problem(409, "SCHEDULE_CONFLICT");
        assert!(problem["detail"].as_str().unwrap().contains(&first_id), "{problem}");
        assert_eq!(problem["errors"][0]["field"], "assigned_provider");
        assert!(problem["errors"][0]["message"].as_str().unwrap().contains(&first_id));
    }
    // Back to back on either side, another provider, or no provider at all: fine.
    create(&app, &p.member, booked(&p.patient, dr, 120, 180)).await;
    create(&app, &p.member, booked(&p.patient, dr, 0, 60)).await;
    create(&app, &p.member, booked(&p.patient, Uuid::new_v4(), 60, 120)).await;
    create(&app, &p.member, body(&p.patient, 60, 120)).await;
    assert_eq!(list_all(&app, &p.member, &format!("assigned_provider={dr}")).await.len(), 3);
}

#[tokio::test]
async fn a_long_appointment_that_started_the_day_before_still_blocks_its_time() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let dr = Uuid::new_v4();
    // 23 hours from the previous morning to this morning's 10:00.
    let night = create(&app, &p.member, booked(&p.patient, dr, -21 * 60, 2 * 60)).await;
    let clash = app.send("POST", APPOINTMENTS, Some(&p.member), Some(booked(&p.patient, dr, 60, 90))).await;
    assert!(clash.problem(409, "SCHEDULE_CONFLICT")["detail"].as_str().unwrap().contains(&id(&night)));
    create(&app, &p.member, booked(&p.patient, dr, 120, 150)).await;
}

#[tokio::test]
async fn cancelled_no_show_and_rescheduled_appointments_free_their_time() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let dr = Uuid::new_v4();
    for freeing in ["cancel", "no_show", "rescheduled"] {
        let a = create(&app, &p.member, booked(&p.patient, dr, 0, 30)).await;
        let again = app.send("POST", APPOINTMENTS, Some(&p.member), Some(booked(&p.patient, dr, 0, 30))).await;
        again.problem(409, "SCHEDULE_CONFLICT");
        let answer = if freeing == "cancel" {
            app.send("POST", &format!("{}/cancel", url(&a)), Some(&p.member), None).await
        } else {
            app.send("PATCH", &url(&a), Some(&p.member), Some(json!({"status": freeing}))).await
        };
        assert_eq!(answer.status, 200, "{freeing}: {}", answer.body);
        // The slot is free again; the freed appointment stays listed under the provider.
        let b = create(&app, &p.member, booked(&p.patient, dr, 0, 30)).await;
        app.send("POST", &format!("{}/cancel", url(&b)), Some(&p.member), None).await;
    }
    assert_eq!(list_all(&app, &p.member, &format!("assigned_provider={dr}")).await.len(), 6);
    // Completed appointments keep holding their time.
    let done = create(&app, &p.member, booked(&p.patient, dr, 100, 130)).await;
    app.send("PATCH", &url(&done), Some(&p.member), Some(json!({"status": "completed"}))).await;
    app.send("POST", APPOINTMENTS, Some(&p.member), Some(booked(&p.patient, dr, 110, 120)))
        .await
        .problem(409, "SCHEDULE_CONFLICT");
}

#[tokio::test]
async fn moving_an_appointment_is_checked_against_others_but_never_against_itself() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let (dr_a, dr_b) = (Uuid::new_v4(), Uuid::new_v4());
    let a = create(&app, &p.member, booked(&p.patient, dr_a, 0, 60)).await;
    let b = create(&app, &p.member, booked(&p.patient, dr_a, 120, 180)).await;
    let busy_b = create(&app, &p.member, booked(&p.patient, dr_b, 0, 60)).await;

    // Stretching over its own old time is fine; over b's is not.
    let stretched = app.send("PATCH", &url(&a), Some(&p.member), Some(json!({"end_datetime": at(90)}))).await;
    assert_eq!(stretched.status, 200, "{}", stretched.body);
    let onto_b = app.send("PATCH", &url(&a), Some(&p.member), Some(json!({"end_datetime": at(150)}))).await;
    assert!(onto_b.problem(409, "SCHEDULE_CONFLICT")["detail"].as_str().unwrap().contains(&id(&b)));
    let mut put = booked(&p.patient, dr_a, 100, 130);
    put["title"] = json!("Moved");
    app.send("PUT", &url(&a), Some(&p.member), Some(put)).await.problem(409, "SCHEDULE_CONFLICT");

    // Handing it to a provider who is busy then is refused; to a free moment of theirs, allowed.
    let to_busy =
        app.send("PATCH", &url(&a), Some(&p.member), Some(json!({"assigned_provider": dr_b.to_string()}))).await;
    assert!(to_busy.problem(409, "SCHEDULE_CONFLICT")["detail"].as_str().unwrap().contains(&id(&busy_b)));
    let handed = app
        .send(
            "PATCH",
            &url(&a),
            Some(&p.member),
            Some(json!({"assigned_provider": dr_b.to_string(), "start_datetime": at(60), "end_datetime": at(90)})),
        )
        .await;
    assert_eq!(handed.status, 200, "{}", handed.body);
    // Dr A's old time is free again.
    create(&app, &p.member, booked(&p.patient, dr_a, 0, 60)).await;
    // Editing notes of a booked appointment never trips the check.
    let notes = app.send("PATCH", &url(&b), Some(&p.member), Some(json!({"preparation_notes": "Fast"}))).await;
    assert_eq!(notes.status, 200, "{}", notes.body);
}

#[tokio::test]
async fn restoring_an_appointment_whose_time_was_taken_meanwhile_is_refused() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let dr = Uuid::new_v4();
    let a = create(&app, &p.member, booked(&p.patient, dr, 0, 30)).await;
    app.send("DELETE", &url(&a), Some(&p.member), None).await;
    let taker = create(&app, &p.member, booked(&p.patient, dr, 15, 45)).await;
    let refused = app.send("POST", &format!("{}/restore", url(&a)), Some(&p.admin), None).await;
    assert!(refused.problem(409, "SCHEDULE_CONFLICT")["detail"].as_str().unwrap().contains(&id(&taker)));
    app.send("GET", &url(&a), Some(&p.member), None).await.problem(404, "NOT_FOUND");
    app.send("POST", &format!("{}/cancel", url(&taker)), Some(&p.member), None).await;
    let restored = app.send("POST", &format!("{}/restore", url(&a)), Some(&p.admin), None).await;
    assert_eq!(restored.status, 200, "{}", restored.body);
}

#[tokio::test]
async fn concurrent_bookings_of_overlapping_slots_for_one_provider_let_exactly_one_win() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let dr = Uuid::new_v4();
    let attempts = (0..6)
        .map(|i| app.send("POST", APPOINTMENTS, Some(&p.member), Some(booked(&p.patient, dr, i * 5, i * 5 + 40))));
    let answers = futures_util::future::join_all(attempts).await;
    assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 1, "{answers:?}");
    for answer in answers.iter().filter(|a| a.status != 201) {
        assert_eq!(answer.status, 409, "{}", answer.body);
        let code = answer.body["code"].as_str().unwrap();
        assert!(["SCHEDULE_CONFLICT", "CONCURRENT_MODIFICATION"].contains(&code), "{code}");
    }
    assert_eq!(list_all(&app, &p.member, &format!("assigned_provider={dr}")).await.len(), 1);
}

#[tokio::test]
async fn concurrent_moves_into_the_same_free_slot_let_exactly_one_win() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let dr = Uuid::new_v4();
    let mut movers = Vec::new();
    for i in 0..4 {
        movers.push(create(&app, &p.member, booked(&p.patient, dr, 1000 + i * 100, 1030 + i * 100)).await);
    }
    let paths: Vec<String> = movers.iter().map(url).collect();
    let moves = paths.iter().map(|path| {
        app.send("PATCH", path, Some(&p.member), Some(json!({"start_datetime": at(0), "end_datetime": at(30)})))
    });
    let answers = futures_util::future::join_all(moves).await;
    assert_eq!(answers.iter().filter(|a| a.status == 200).count(), 1, "{answers:?}");
    assert!(answers.iter().all(|a| a.status == 200 || a.status == 409));
    let window = format!("assigned_provider={dr}&start_to={}", enc(&at(500)));
    assert_eq!(list_all(&app, &p.member, &window).await.len(), 1);
}

// ---------------------------------------------------------------- workflow

#[tokio::test]
async fn confirm_sets_the_status_and_confirmed_at_once() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let a = create(&app, &p.member, body(&p.patient, 0, 30)).await;
    let path = format!("{}/confirm", url(&a));
    let before = chrono::Utc::now();
    let confirmed = app.send("POST", &path, Some(&p.member), None).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert_eq!(confirmed.body["status"], "confirmed");
    assert_eq!(confirmed.body["version"], 2);
    assert_eq!(confirmed.header("etag"), Some("\"2\""));
    let stamped: DateTime<Utc> = confirmed.body["confirmed_at"].as_str().unwrap().parse().unwrap();
    assert!(stamped >= before - Duration::seconds(1) && stamped <= chrono::Utc::now() + Duration::seconds(1));

    // Once only; the stamp survives later changes and is never taken from a client.
    app.send("POST", &path, Some(&p.member), None).await.problem(409, "INVALID_TRANSITION");
    let started = app
        .send(
            "PATCH",
            &url(&a),
            Some(&p.member),
            Some(json!({"status": "in_progress", "confirmed_at": "2000-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    assert_eq!(started.body["confirmed_at"], confirmed.body["confirmed_at"]);

    // A body may carry the expected version, and nothing else.
    let b = create(&app, &p.member, body(&p.patient, 60, 90)).await;
    let b_confirm = format!("{}/confirm", url(&b));
    app.send("POST", &b_confirm, Some(&p.member), Some(json!({"version": 7}))).await.problem(409, "VERSION_CONFLICT");
    app.send("POST", &b_confirm, Some(&p.member), Some(json!({"status": "completed"})))
        .await
        .problem(422, "VALIDATION_FAILED");
    let ok = app.send("POST", &b_confirm, Some(&p.member), Some(json!({"version": 1}))).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // A PATCH to confirmed stamps it too.
    let c = create(&app, &p.member, body(&p.patient, 120, 150)).await;
    let patched = app.send("PATCH", &url(&c), Some(&p.member), Some(json!({"status": "confirmed"}))).await;
    assert!(patched.body["confirmed_at"].is_string(), "{}", patched.body);
}

#[tokio::test]
async fn cancel_ends_an_open_appointment_and_nothing_else() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    for from in ["scheduled", "confirmed", "in_progress"] {
        let mut b = body(&p.patient, 0, 30);
        b["status"] = json!(from);
        let a = create(&app, &p.member, b).await;
        let cancelled = app.send("POST", &format!("{}/cancel", url(&a)), Some(&p.member), None).await;
        assert_eq!(cancelled.status, 200, "{from}: {}", cancelled.body);
        assert_eq!(cancelled.body["status"], "cancelled");
        // Cancelled is final: not again, not confirmed, not rescheduled by PATCH.
        app.send("POST", &format!("{}/cancel", url(&a)), Some(&p.member), None)
            .await
            .problem(409, "INVALID_TRANSITION");
        app.send("POST", &format!("{}/confirm", url(&a)), Some(&p.member), None)
            .await
            .problem(409, "INVALID_TRANSITION");
        app.send("PATCH", &url(&a), Some(&p.member), Some(json!({"status": "scheduled"})))
            .await
            .problem(409, "INVALID_TRANSITION");
    }
    for from in ["completed", "no_show", "rescheduled"] {
        let mut b = body(&p.patient, 60, 90);
        b["status"] = json!(from);
        let a = create(&app, &p.member, b).await;
        let refused = app.send("POST", &format!("{}/cancel", url(&a)), Some(&p.member), None).await;
        assert_eq!(refused.problem(409, "INVALID_TRANSITION")["errors"][0]["field"], "status");
        assert_eq!(app.send("GET", &url(&a), Some(&p.member), None).await.body["status"], from);
    }
}

#[tokio::test]
async fn status_changes_follow_the_documented_state_machine_on_put_and_patch() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let a = create(&app, &p.member, body(&p.patient, 0, 30)).await;
    let path = url(&a);
    for step in ["confirmed", "in_progress", "completed"] {
        let answer = app.send("PATCH", &path, Some(&p.member), Some(json!({"status": step}))).await;
        assert_eq!(answer.status, 200, "{step}: {}", answer.body);
    }
    // Completed never goes back, by PATCH or by PUT.
    for back in ["scheduled", "confirmed", "in_progress", "cancelled", "no_show"] {
        let answer = app.send("PATCH", &path, Some(&p.member), Some(json!({"status": back}))).await;
        let problem = answer.problem(409, "INVALID_TRANSITION");
        assert!(problem["errors"][0]["message"].as_str().unwrap().contains("final"), "{problem}");
    }
    let put = app.send("PUT", &path, Some(&p.member), Some(body(&p.patient, 0, 30))).await;
    put.problem(409, "INVALID_TRANSITION");
    // But its follow-up and notes stay editable.
    let follow = app
        .send(
            "PATCH",
            &path,
            Some(&p.member),
            Some(json!({"requires_follow_up": true, "follow_up_date": "2031-06-02", "reminder_sent": true})),
        )
        .await;
    assert_eq!(follow.status, 200, "{}", follow.body);
    assert_eq!(follow.body["status"], "completed");

    // No going back from confirmed to scheduled, nor from in progress to no-show.
    let b = create(&app, &p.member, body(&p.patient, 60, 90)).await;
    app.send("POST", &format!("{}/confirm", url(&b)), Some(&p.member), None).await;
    app.send("PATCH", &url(&b), Some(&p.member), Some(json!({"status": "scheduled"})))
        .await
        .problem(409, "INVALID_TRANSITION");
    app.send("PATCH", &url(&b), Some(&p.member), Some(json!({"status": "in_progress"}))).await;
    app.send("PATCH", &url(&b), Some(&p.member), Some(json!({"status": "no_show"})))
        .await
        .problem(409, "INVALID_TRANSITION");
}

// ---------------------------------------------------------------- roles and versions

#[tokio::test]
async fn a_viewer_reads_but_cannot_write_confirm_or_cancel() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let viewer = app.token(&Who::viewer(p.org));
    let a = create(&app, &p.member, body(&p.patient, 0, 30)).await;
    let path = url(&a);
    assert_eq!(app.send("GET", &path, Some(&viewer), None).await.status, 200);
    assert_eq!(list_all(&app, &viewer, "").await.len(), 1);
    app.send("POST", APPOINTMENTS, Some(&viewer), Some(body(&p.patient, 60, 90))).await.problem(403, "FORBIDDEN");
    app.send("PUT", &path, Some(&viewer), Some(body(&p.patient, 0, 30))).await.problem(403, "FORBIDDEN");
    app.send("PATCH", &path, Some(&viewer), Some(json!({"title": "X"}))).await.problem(403, "FORBIDDEN");
    app.send("POST", &format!("{path}/confirm"), Some(&viewer), None).await.problem(403, "FORBIDDEN");
    app.send("POST", &format!("{path}/cancel"), Some(&viewer), None).await.problem(403, "FORBIDDEN");
    app.send("DELETE", &path, Some(&viewer), None).await.problem(403, "FORBIDDEN");
    app.send("GET", &format!("{APPOINTMENTS}?deleted=true"), Some(&viewer), None).await.problem(403, "FORBIDDEN");
    let untouched = app.send("GET", &path, Some(&p.member), None).await;
    assert_eq!((untouched.body["version"].clone(), untouched.body["status"].clone()), (json!(1), json!("scheduled")));

    let no_org = app.token(&Who { user: Uuid::new_v4(), org: None, roles: vec!["admin".into()] });
    for (method, target) in
        [("GET", APPOINTMENTS.to_string()), ("POST", format!("{path}/confirm")), ("POST", format!("{path}/cancel"))]
    {
        app.send(method, &target, Some(&no_org), None).await.problem(403, "NO_ORGANIZATION");
    }
    app.send("GET", APPOINTMENTS, None, None).await.problem(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_stale_version_gets_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let a = create(&app, &p.member, body(&p.patient, 0, 30)).await;
    let path = url(&a);
    let ok = app.send("PATCH", &path, Some(&p.member), Some(json!({"location": "Room 1", "version": 1}))).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    app.send("PATCH", &path, Some(&p.member), Some(json!({"location": "Lost", "version": 1})))
        .await
        .problem(409, "VERSION_CONFLICT");
    let mut put = body(&p.patient, 0, 30);
    put["version"] = json!(1);
    app.send("PUT", &path, Some(&p.member), Some(put)).await.problem(409, "VERSION_CONFLICT");
    let headers = HashMap::from([
        ("authorization".to_string(), format!("Bearer {}", p.member)),
        ("if-match".to_string(), "\"1\"".to_string()),
    ]);
    app.send_raw("POST", &format!("{path}/cancel"), headers.clone(), None).await.problem(409, "VERSION_CONFLICT");
    app.send_raw("DELETE", &path, headers, None).await.problem(409, "VERSION_CONFLICT");
    let now = app.send("GET", &path, Some(&p.member), None).await;
    assert_eq!(now.body["location"], "Room 1");
    assert_eq!(now.body["status"], "scheduled");
    assert_eq!(now.body["version"], 2);
}

#[tokio::test]
async fn an_appointment_is_not_restored_while_its_contact_is_deleted() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let appointment = create(&app, &p.member, body(&p.patient, 60, 90)).await;
    let deleted = app.send("DELETE", &url(&appointment), Some(&p.member), None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let contact_url = format!("{CONTACTS}/{}", p.patient);
    assert_eq!(app.send("DELETE", &contact_url, Some(&p.member), None).await.status, 200);

    let refused = app.send("POST", &format!("{}/restore", url(&appointment)), Some(&p.admin), None).await;
    assert_eq!(refused.problem(422, "RELATED_NOT_FOUND")["errors"][0]["field"], "contact_id");

    assert_eq!(app.send("POST", &format!("{contact_url}/restore"), Some(&p.admin), None).await.status, 200);
    let restored = app.send("POST", &format!("{}/restore", url(&appointment)), Some(&p.admin), None).await;
    assert_eq!(restored.status, 200, "{}", restored.body);
    assert_eq!(restored.body["is_deleted"], false);
}
