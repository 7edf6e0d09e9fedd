use super::*;
use serde_json::json;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn minimal() -> Map<String, Value> {
    obj(json!({"first_name": "Jean", "last_name": "Dupont"}))
}

fn codes(err: AppError) -> Vec<(String, &'static str)> {
    err.field_errors().iter().map(|e| (e.field.clone(), e.code)).collect()
}

#[test]
fn only_the_names_are_required_and_the_seed_defaults_apply() {
    let c = Contact::from_json(&minimal()).unwrap();
    assert_eq!(c.contact_type, ContactType::Patient);
    assert_eq!(c.country, "France");
    assert_eq!(c.preferred_language, "fr");
    assert_eq!(c.communication_preference, CommunicationPreference::Email);
    assert!(!c.consent_given);
    assert_eq!(c.title, None);
}

#[test]
fn missing_names_are_reported_together() {
    let err = Contact::from_json(&obj(json!({}))).unwrap_err();
    assert_eq!(err.status(), 422);
    assert_eq!(codes(err), [("first_name".into(), "required"), ("last_name".into(), "required")]);
}

#[test]
fn unknown_choices_name_the_field_and_the_allowed_values() {
    let mut body = minimal();
    body.insert("contact_type".into(), json!("alien"));
    let err = Contact::from_json(&body).unwrap_err();
    assert_eq!(err.field_errors()[0].field, "contact_type");
    assert!(err.field_errors()[0].message.contains("patient, provider, vendor, staff, other"));
}

#[test]
fn every_length_limit_is_enforced() {
    for (field, max) in [
        ("first_name", 100),
        ("email", 254),
        ("phone", 20),
        ("postal_code", 20),
        ("medical_record_number", 50),
        ("company", 200),
    ] {
        let mut body = minimal();
        let value = if field == "phone" { "1".repeat(max + 1) } else { "a".repeat(max + 1) };
        body.insert(field.into(), json!(value));
        let err = Contact::from_json(&body).unwrap_err();
        assert_eq!(err.field_errors()[0].field, field, "{field}");
    }
}

#[test]
fn a_birth_date_in_the_future_is_refused() {
    let mut body = minimal();
    let tomorrow = Utc::now().date_naive() + chrono::Duration::days(1);
    body.insert("date_of_birth".into(), json!(tomorrow.to_string()));
    assert_eq!(codes(Contact::from_json(&body).unwrap_err()), [("date_of_birth".into(), "invalid_value")]);
}

#[test]
fn read_only_and_computed_fields_sent_back_are_ignored() {
    let mut body = minimal();
    body.insert("organization_id".into(), json!("00000000-0000-0000-0000-000000000000"));
    body.insert("full_name".into(), json!("Someone Else"));
    assert!(Contact::from_json(&body).is_ok());
}

#[test]
fn display_name_uses_the_title_code() {
    let mut body = minimal();
    body.insert("title".into(), json!("dr"));
    let c = Contact::from_json(&body).unwrap();
    assert_eq!(c.display_name(), "dr Jean Dupont");
    assert_eq!(c.full_name(), "Jean Dupont");
}

#[test]
fn consent_is_dated_and_versioned_when_given_and_cleared_when_withdrawn() {
    let now = Timestamp::now();
    let mut body = minimal();
    body.insert("consent_given".into(), json!(true));
    let err = Contact::from_json(&body).unwrap().reconcile(None, now).unwrap_err();
    assert_eq!(codes(err), [("consent_version".into(), "required")], "consent names its policy version");
    body.insert("consent_version".into(), json!("2025-01"));
    let mut given = Contact::from_json(&body).unwrap();
    given.reconcile(None, now).unwrap();
    assert_eq!((given.consent_date, given.consent_version.as_str()), (Some(now), "2025-01"));

    body.remove("consent_version");
    let mut still = Contact::from_json(&body).unwrap();
    still.reconcile(Some(&given), Timestamp::now()).unwrap();
    assert_eq!(still.consent_date, Some(now), "re-saving keeps the original moment");
    assert_eq!(still.consent_version, "2025-01", "and the version");

    let later = Timestamp::from_datetime(now.as_datetime() + chrono::Duration::seconds(5));
    let mut renewed = given.clone();
    renewed.consent_version = "2026-01".into();
    renewed.reconcile(Some(&given), later).unwrap();
    assert_eq!(renewed.consent_date, Some(later), "a new policy version is a new consent");

    let mut withdrawn = Contact::from_json(&minimal()).unwrap();
    withdrawn.consent_date = Some(now);
    withdrawn.consent_version = "2025-01".into();
    withdrawn.reconcile(Some(&given), Timestamp::now()).unwrap();
    assert_eq!((withdrawn.consent_date, withdrawn.consent_version.as_str()), (None, ""));
}

#[test]
fn consent_versions_are_short_labels() {
    let mut body = minimal();
    body.insert("consent_version".into(), json!("2025 01"));
    assert_eq!(codes(Contact::from_json(&body).unwrap_err()), [("consent_version".into(), "invalid_format")]);
    body.insert("consent_version".into(), json!("v".repeat(MAX_CONSENT_VERSION + 1)));
    assert_eq!(Contact::from_json(&body).unwrap_err().field_errors()[0].field, "consent_version");
}

#[test]
fn an_anonymized_contact_has_no_search_entries_and_no_retention_date() {
    let mut body = minimal();
    body.insert("email".into(), json!("jean@example.fr"));
    body.insert("data_retention_until".into(), json!("2020-01-01"));
    let c = Contact::from_json(&body).unwrap();
    let mut meta = sample_meta();
    assert!(c.index_entries(&meta).iter().any(|e| e.index == "SEARCH"));
    assert!(c.retention_date(&meta).is_some());
    meta.anonymized_at = Some(Timestamp::now());
    let indexes: Vec<String> = c.index_entries(&meta).into_iter().map(|e| e.index).collect();
    assert_eq!(indexes, ["ALL", "TYPE#patient"]);
    assert_eq!(c.retention_date(&meta), None);
}

#[test]
fn uniqueness_is_case_insensitive_and_ignores_blanks() {
    let mut body = minimal();
    body.insert("email".into(), json!("Jean.Dupont@Example.FR"));
    let c = Contact::from_json(&body).unwrap();
    assert_eq!(c.unique_values(), [Unique { field: "email", value: "jean.dupont@example.fr".into() }]);
    assert!(Contact::from_json(&minimal()).unwrap().unique_values().is_empty());
}

#[test]
fn a_contact_is_listed_once_per_search_even_when_several_entries_match() {
    let mut body = minimal();
    body.insert("first_name".into(), json!("Dan"));
    body.insert("medical_record_number".into(), json!("DU-1"));
    let c = Contact::from_json(&body).unwrap();
    let meta_entries: Vec<String> =
        c.index_entries(&sample_meta()).into_iter().filter(|e| e.index == "SEARCH").map(|e| e.sort).collect();
    for query in ["d", "du", "dupont", "dan", "du-1"] {
        let accepted = meta_entries.iter().filter(|s| s.starts_with(query) && c.accepts_search_entry(s, query)).count();
        assert_eq!(accepted, 1, "query {query}");
    }
}

#[test]
fn search_is_accent_and_case_insensitive() {
    let mut body = minimal();
    body.insert("last_name".into(), json!("Lefèvre"));
    let c = Contact::from_json(&body).unwrap();
    let entries = c.index_entries(&sample_meta());
    assert!(entries.iter().any(|e| e.sort.starts_with(&text::fold("LEFEVRE"))));
}

#[test]
fn language_tags_are_checked() {
    assert!(is_language_tag("fr") && is_language_tag("fr-CA") && is_language_tag("deu"));
    assert!(!is_language_tag("french") && !is_language_tag("f") && !is_language_tag("fr_FR"));
}

fn sample_meta() -> Meta {
    Meta::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), Timestamp::now())
}
