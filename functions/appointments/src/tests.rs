use super::*;
use crate::schedule::Slot;
use serde_json::{Map, Value, json};

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn minimal() -> Map<String, Value> {
    obj(json!({
        "title": "Check-up",
        "contact_id": Uuid::new_v4().to_string(),
        "start_datetime": "2026-03-02T09:00:00+01:00",
        "end_datetime": "2026-03-02T09:30:00+01:00",
    }))
}

fn with(field: &str, value: Value) -> Map<String, Value> {
    let mut body = minimal();
    body.insert(field.into(), value);
    body
}

fn codes(err: &AppError) -> Vec<(String, &'static str)> {
    err.field_errors().iter().map(|e| (e.field.clone(), e.code)).collect()
}

fn ts(raw: &str) -> Timestamp {
    Timestamp::parse(raw).unwrap()
}

#[test]
fn the_seed_defaults_apply_and_times_are_kept_in_utc() {
    let a = Appointment::from_json(&minimal()).unwrap();
    assert_eq!(a.timezone, "Europe/Paris");
    assert_eq!(a.appointment_type, AppointmentType::Consultation);
    assert_eq!(a.status, Status::Scheduled);
    assert_eq!(a.priority, 3);
    assert!(a.confirmation_required);
    assert!(!a.reminder_sent && !a.requires_follow_up && !a.insurance_authorized);
    assert_eq!(a.estimated_cost, None);
    assert_eq!(a.start_datetime.to_key(), "2026-03-02T08:00:00.000Z");
    assert_eq!(a.end_datetime.to_key(), "2026-03-02T08:30:00.000Z");
}

#[test]
fn required_fields_are_reported_together() {
    let err = Appointment::from_json(&obj(json!({}))).unwrap_err();
    assert_eq!(
        codes(&err),
        [
            ("title".into(), "required"),
            ("contact_id".into(), "required"),
            ("start_datetime".into(), "required"),
            ("end_datetime".into(), "required"),
        ]
    );
}

#[test]
fn the_end_must_follow_the_start_within_a_day() {
    for (end, code) in [
        ("2026-03-02T09:00:00+01:00", "invalid_value"),
        ("2026-03-02T08:59:00+01:00", "invalid_value"),
        ("2026-03-03T09:00:01+01:00", "out_of_range"),
    ] {
        let err = Appointment::from_json(&with("end_datetime", json!(end))).unwrap_err();
        assert_eq!(codes(&err), [("end_datetime".into(), code)], "{end}");
    }
    assert!(Appointment::from_json(&with("end_datetime", json!("2026-03-03T09:00:00+01:00"))).is_ok());
}

#[test]
fn priority_cost_duration_and_timezone_are_range_checked() {
    for (field, value, code) in [
        ("priority", json!(0), "out_of_range"),
        ("priority", json!(6), "out_of_range"),
        ("priority", json!("1"), "invalid_type"),
        ("estimated_cost", json!("-0.01"), "invalid_format"),
        ("estimated_cost", json!("100000000.00"), "invalid_format"),
        ("estimated_cost", json!(12.5), "invalid_type"),
        ("estimated_cost", json!("12.345"), "invalid_format"),
        ("estimated_duration_minutes", json!(0), "out_of_range"),
        ("estimated_duration_minutes", json!(1441), "out_of_range"),
        ("timezone", json!("Mars/Olympus"), "invalid_value"),
        ("timezone", json!("+01:00"), "invalid_value"),
        ("timezone", json!(""), "invalid_value"),
        ("timezone", json!("x".repeat(51)), "invalid_value"),
        ("start_datetime", json!("1899-12-31T23:00:00Z"), "invalid_format"),
        ("start_datetime", json!("2026-03-02 09:00"), "invalid_format"),
        ("status", json!("done"), "invalid_choice"),
        ("appointment_type", json!("party"), "invalid_choice"),
        ("assigned_provider", json!("dr-house"), "invalid_format"),
        ("follow_up_date", json!("2026-02-30"), "invalid_format"),
        ("reminder_sent", json!("yes"), "invalid_type"),
        ("title", json!("t".repeat(201)), "too_long"),
        ("billing_code", json!("b".repeat(51)), "too_long"),
    ] {
        let err = Appointment::from_json(&with(field, value.clone())).unwrap_err();
        assert!(codes(&err).contains(&(field.to_string(), code)), "{field}={value}: {:?}", codes(&err));
    }
    let ok = Appointment::from_json(&with("estimated_cost", json!("99999999.99"))).unwrap();
    assert_eq!(ok.estimated_cost.map(|m| m.to_string()).as_deref(), Some("99999999.99"));
    let zero = Appointment::from_json(&with("estimated_cost", json!("0"))).unwrap();
    assert_eq!(serde_json::to_value(&zero).unwrap()["estimated_cost"], "0.00");
}

#[test]
fn confirmed_at_is_set_by_the_server_never_by_the_client() {
    let a = Appointment::from_json(&with("confirmed_at", json!("2020-01-01T00:00:00Z"))).unwrap();
    assert_eq!(a.confirmed_at, None);
    let now = ts("2026-01-01T10:00:00Z");
    let mut confirmed = Appointment { status: Status::Confirmed, ..a.clone() };
    confirmed.reconcile(Some(&a), now).unwrap();
    assert_eq!(confirmed.confirmed_at, Some(now));
    // Later edits keep the first confirmation's moment.
    let mut started = Appointment { status: Status::InProgress, confirmed_at: None, ..confirmed.clone() };
    started.reconcile(Some(&confirmed), ts("2026-01-02T10:00:00Z")).unwrap();
    assert_eq!(started.confirmed_at, Some(now));
}

#[test]
fn the_state_machine_allows_forward_moves_only() {
    use Status::*;
    let all = [Scheduled, Confirmed, InProgress, Completed, Cancelled, NoShow, Rescheduled];
    for from in all {
        for to in all {
            let allowed = workflow::check_transition(from, to).is_ok();
            assert_eq!(allowed, from == to || from.successors().contains(&to), "{from} -> {to}");
        }
    }
    for (from, to) in [(Completed, Scheduled), (Cancelled, Scheduled), (Confirmed, Scheduled), (InProgress, NoShow)] {
        let err = workflow::check_transition(from, to).unwrap_err();
        assert_eq!((err.status(), err.code()), (409, "INVALID_TRANSITION"), "{from} -> {to}");
    }
    for terminal in [Completed, Cancelled, NoShow, Rescheduled] {
        assert!(terminal.successors().is_empty());
    }
}

#[test]
fn only_cancelled_no_show_and_rescheduled_appointments_free_their_slot() {
    use Status::*;
    let held: Vec<Status> = [Scheduled, Confirmed, InProgress, Completed, Cancelled, NoShow, Rescheduled]
        .into_iter()
        .filter(|s| s.holds_slot())
        .collect();
    assert_eq!(held, [Scheduled, Confirmed, InProgress, Completed]);
}

#[test]
fn slots_overlap_when_they_share_time_but_not_when_back_to_back() {
    let p = Uuid::new_v4();
    let slot = |s: &str, e: &str| Slot { provider: p, start: ts(s), end: ts(e) };
    let base = slot("2026-01-01T09:00:00Z", "2026-01-01T10:00:00Z");
    assert!(base.overlaps(&slot("2026-01-01T09:59:00Z", "2026-01-01T11:00:00Z")));
    assert!(base.overlaps(&slot("2026-01-01T08:00:00Z", "2026-01-01T09:01:00Z")));
    assert!(base.overlaps(&slot("2026-01-01T09:15:00Z", "2026-01-01T09:45:00Z")));
    assert!(base.overlaps(&slot("2026-01-01T08:00:00Z", "2026-01-01T12:00:00Z")));
    assert!(!base.overlaps(&slot("2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z")));
    assert!(!base.overlaps(&slot("2026-01-01T08:00:00Z", "2026-01-01T09:00:00Z")));
    let other_provider = Slot { provider: Uuid::new_v4(), ..base };
    assert!(!base.overlaps(&other_provider));
}

#[test]
fn every_list_partition_is_ordered_by_start_time() {
    let provider = Uuid::new_v4();
    let a = Appointment { assigned_provider: Some(provider), ..Appointment::from_json(&minimal()).unwrap() };
    let meta_json = json!({
        "id": Uuid::new_v4(), "organization_id": Uuid::new_v4(),
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "created_by": Uuid::new_v4(), "updated_by": Uuid::new_v4(), "is_deleted": false,
        "deleted_at": null, "deleted_by": null, "version": 1
    });
    let meta: Meta = serde_json::from_value(meta_json).unwrap();
    let entries = a.index_entries(&meta);
    let names: Vec<&str> = entries.iter().map(|e| e.index.as_str()).collect();
    let contact = format!("CONTACT#{}", a.contact_id);
    let by_provider = format!("PROVIDER#{provider}");
    assert_eq!(names, ["ALL", "STATUS#scheduled", "TYPE#consultation", contact.as_str(), by_provider.as_str()]);
    assert!(entries.iter().all(|e| e.sort == "2026-03-02T08:00:00.000Z"));
}

fn tenant() -> Tenant {
    Tenant::new(hub_shared::auth::UserContext {
        user_id: hub_shared::auth::UserId::new(Uuid::new_v4()),
        email: None,
        organization_id: Some(hub_shared::auth::OrgId::new(Uuid::new_v4())),
        roles: vec![],
        expires_at: None,
    })
    .unwrap()
}

fn spec(pairs: &[(&str, &str)]) -> AppResult<ListSpec<Appointment>> {
    let params: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Appointment::list_spec(&params, &tenant())
}

#[test]
fn the_most_selective_filter_picks_the_partition_and_the_range_applies_to_it() {
    let contact = Uuid::new_v4();
    let provider = Uuid::new_v4();
    let s = spec(&[]).unwrap();
    assert_eq!((s.index.as_str(), s.newest_first), ("ALL", false));
    let s = spec(&[("status", "confirmed"), ("start_from", "2026-01-01T00:00:00+01:00")]).unwrap();
    assert_eq!(s.index, "STATUS#confirmed");
    assert_eq!(
        s.range,
        hub_shared::store::SortRange::Between { from: Some("2025-12-31T23:00:00.000Z".into()), to: None }
    );
    assert!(s.accept.is_none());
    let s = spec(&[("status", "confirmed"), ("assigned_provider", &provider.to_string())]).unwrap();
    assert_eq!(s.index, format!("PROVIDER#{provider}"));
    assert!(s.accept.is_some());
    let s = spec(&[("contact_id", &contact.to_string()), ("assigned_provider", &provider.to_string())]).unwrap();
    assert_eq!(s.index, format!("CONTACT#{contact}"));
    let s = spec(&[("appointment_type", "surgery"), ("status", "scheduled")]).unwrap();
    assert_eq!(s.index, "TYPE#surgery");
}

#[test]
fn combined_filters_are_bound_into_the_cursor_fingerprint() {
    let provider = Uuid::new_v4().to_string();
    let a = spec(&[("status", "confirmed"), ("assigned_provider", &provider)]).unwrap();
    let b = spec(&[("status", "cancelled"), ("assigned_provider", &provider)]).unwrap();
    assert_eq!(a.index, b.index);
    assert_ne!(a.fingerprint, b.fingerprint);
}

#[test]
fn malformed_filters_are_400s() {
    for pairs in [
        vec![("status", "done")],
        vec![("appointment_type", "party")],
        vec![("contact_id", "42")],
        vec![("assigned_provider", "dr")],
        vec![("start_from", "yesterday")],
        vec![("start_to", "2026-01-01")],
        vec![("start_from", "2026-01-02T00:00:00Z"), ("start_to", "2026-01-01T00:00:00Z")],
        vec![("start_from", "2026-01-01T00:00:00Z"), ("start_to", "2026-01-01T00:00:00Z")],
    ] {
        let err = spec(&pairs).err().unwrap_or_else(|| panic!("{pairs:?} accepted"));
        assert_eq!((err.status(), err.code()), (400, "INVALID_PARAMETER"), "{pairs:?}");
    }
}
