//! Generated records: every field of every entity, each optional one set or unset, with the
//! values real practices hold (accents, apostrophes, hyphenated names, edge lengths, edge dates,
//! leap days), as request bodies. The property tests drive them through every operation; the
//! seed command (`infra/hub seed`) fills a stack with the same kind of data.

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use serde_json::{Map, Value, json};

/// The seed's names (`hub_infra::seed`), and a few from further away.
const FIRST_NAMES: &[&str] = hub_infra::seed::FIRST_NAMES;
const LAST_NAMES: &[&str] = hub_infra::seed::LAST_NAMES;
const CITIES: &[&str] = &["Lyon", "Saint-Étienne", "Besançon", "Orléans", "Montréal", "Genève", "L'Haÿ-les-Roses"];

/// A name: a real one, or letters of any script at the field's edge lengths.
fn name(pool: &'static [&'static str], max: usize) -> BoxedStrategy<String> {
    prop_oneof![
        6 => prop::sample::select(pool).prop_map(String::from),
        1 => "[A-Za-zÀ-ÿ' -]{1,30}".prop_map(|s: String| s.trim().to_string()).prop_filter("not blank", |s| !s.is_empty()),
        1 => Just("É".repeat(max)),
        1 => Just("x".to_string()),
    ]
    .boxed()
}

fn text(max: usize) -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-zA-Z0-9éèàçôüœ' ,.-]{1,40}",
        1 => Just("é".repeat(max)),
        1 => Just(format!("{} ", "a".repeat(max - 1))),
    ]
    .boxed()
}

fn free_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-zA-Zéèàç0-9 ,.;:'()\n-]{0,200}",
        1 => Just("Première ligne\r\nDeuxième ligne\n\tindentée — fin.".to_string()),
        1 => Just("ü".repeat(10_000)),
    ]
    .boxed()
}

/// `None` (the field omitted), `Some(null)`, or a value.
fn maybe(value: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![2 => Just(None), 1 => Just(Some(Value::Null)), 4 => value.prop_map(Some)].boxed()
}

fn string(s: BoxedStrategy<String>) -> BoxedStrategy<Value> {
    s.prop_map(Value::String).boxed()
}

/// A day written `YYYY-MM-DD` between two days (inclusive), edges and leap days favoured.
pub fn date_between(from: chrono::NaiveDate, to: chrono::NaiveDate) -> BoxedStrategy<String> {
    let span = (to - from).num_days().max(0);
    let leap = chrono::NaiveDate::from_ymd_opt(2000, 2, 29).filter(|d| *d >= from && *d <= to);
    let mut choices = vec![
        Just(from).boxed(),
        Just(to).boxed(),
        (0..=span).prop_map(move |d| from + chrono::Duration::days(d)).boxed(),
    ];
    if let Some(leap) = leap {
        choices.push(Just(leap).boxed());
    }
    prop::strategy::Union::new(choices).prop_map(|d| d.format("%Y-%m-%d").to_string()).boxed()
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn day(year: i32, month: u32, dom: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(year, month, dom).unwrap_or_default()
}

fn phone() -> BoxedStrategy<String> {
    prop_oneof![
        Just("+33 1 23 45 67 89".to_string()),
        Just("06.12.34.56.78".to_string()),
        Just("(514) 555-0199".to_string()),
        "\\+?[0-9]{3,15}",
    ]
    .boxed()
}

fn email(unique: u64) -> BoxedStrategy<String> {
    prop_oneof![
        Just(format!("zoe.durand+{unique}@exemple.fr")),
        Just(format!("Élodie.{unique}@clinique-saint-luc.be")),
        "[a-z]{1,10}".prop_map(move |l| format!("{l}.{unique}@hopital.example.org")),
    ]
    .boxed()
}

/// Sets each generated field that is `Some`.
fn object(fields: Vec<(&'static str, Option<Value>)>) -> Value {
    let mut map = Map::new();
    for (name, value) in fields {
        if let Some(value) = value {
            map.insert(name.to_string(), value);
        }
    }
    Value::Object(map)
}

/// A contact body with every field possibly set; `unique` keeps e-mails and record numbers
/// unique across the records of one run.
pub fn contact(unique: u64) -> BoxedStrategy<Value> {
    let choices = |values: &'static [&'static str]| string(prop::sample::select(values).prop_map(String::from).boxed());
    (
        (name(FIRST_NAMES, 100), name(LAST_NAMES, 100)),
        (
            maybe(choices(&["patient", "provider", "vendor", "staff", "other"])),
            maybe(choices(&["mr", "mrs", "ms", "dr", "prof", ""])),
            maybe(string(email(unique))),
            maybe(string(phone())),
            maybe(string(phone())),
            maybe(string(date_between(day(1900, 1, 1), today()))),
        ),
        (
            maybe(string(text(255))),
            maybe(string(text(255))),
            maybe(string(prop::sample::select(CITIES).prop_map(String::from).boxed())),
            maybe(string(text(100))),
            maybe(string("[0-9]{5}|[A-Z][0-9][A-Z] [0-9][A-Z][0-9]".boxed())),
            maybe(string(
                prop::sample::select(&["France", "Belgique", "Suisse", "Canada"][..]).prop_map(String::from).boxed(),
            )),
        ),
        (
            maybe(string(Just(format!("MRN-{unique:08}")).boxed())),
            maybe(string("[0-9 ]{13,21}".prop_map(|s: String| s.trim().to_string()).boxed())),
            maybe(string(text(200))),
            maybe(string(text(100))),
            maybe(choices(&["fr", "en", "fr-CA", "de", "pt-BR"])),
            maybe(choices(&["email", "phone", "sms", "mail"])),
        ),
        (
            maybe(string(name(FIRST_NAMES, 200))),
            maybe(string(phone())),
            maybe(string(
                prop::sample::select(&["sœur", "époux", "mère", "tuteur légal"][..]).prop_map(String::from).boxed(),
            )),
            prop::bool::ANY,
            maybe(string(date_between(today(), today() + chrono::Duration::days(365 * 99)))),
        ),
    )
        .prop_map(|((first, last), a, b, c, (ecn, ecp, ecr, consent, retention))| {
            let (contact_type, title, email, phone, mobile, born) = a;
            let (line1, line2, city, state, postal, country) = b;
            let (mrn, insurance, company, job, language, preference) = c;
            object(vec![
                ("first_name", Some(json!(first))),
                ("last_name", Some(json!(last))),
                ("contact_type", contact_type),
                ("title", title),
                ("email", email),
                ("phone", phone),
                ("mobile", mobile),
                ("date_of_birth", born),
                ("address_line1", line1),
                ("address_line2", line2),
                ("city", city),
                ("state", state),
                ("postal_code", postal),
                ("country", country),
                ("medical_record_number", mrn),
                ("insurance_number", insurance),
                ("company", company),
                ("job_title", job),
                ("preferred_language", language),
                ("communication_preference", preference),
                ("emergency_contact_name", ecn),
                ("emergency_contact_phone", ecp),
                ("emergency_contact_relationship", ecr),
                ("consent_given", Some(json!(consent))),
                ("consent_version", consent.then(|| json!("2025-01"))),
                ("data_retention_until", retention),
            ])
        })
        .boxed()
}

/// An instant in the business years, with an offset, written as a client may.
fn instant() -> BoxedStrategy<String> {
    (2020i32..2040, 1u32..=12, 1u32..=28, 0u32..24, prop::sample::select(&["Z", "+01:00", "-05:00", "+05:30"][..]))
        .prop_map(|(y, m, d, h, offset)| format!("{y:04}-{m:02}-{d:02}T{h:02}:00:00{offset}"))
        .boxed()
}

/// An appointment body for `contact_id`, every optional field possibly set. Providers are left
/// unset unless `provider` is given (a provider's overlapping bookings are a 409 by design).
pub fn appointment(contact_id: String, provider: Option<String>) -> BoxedStrategy<Value> {
    let choices = |values: &'static [&'static str]| string(prop::sample::select(values).prop_map(String::from).boxed());
    (
        (
            name(&["Consultation", "Bilan annuel", "Suivi post-opératoire", "Échographie"], 200),
            instant(),
            1i64..=24 * 60,
        ),
        (
            maybe(string(free_text())),
            maybe(choices(&["Europe/Paris", "America/Montreal", "UTC", "Asia/Kolkata"])),
            maybe(choices(&["consultation", "follow_up", "procedure", "surgery", "meeting", "other"])),
            maybe(choices(&["scheduled", "confirmed", "in_progress", "completed", "cancelled", "no_show"])),
            maybe((1i64..=5).prop_map(|p| json!(p)).boxed()),
            maybe(string(text(200))),
        ),
        (
            maybe(string(free_text())),
            maybe((1i64..=1440).prop_map(|m| json!(m)).boxed()),
            maybe(string(text(50))),
            maybe(string("[0-9]{1,8}(\\.[0-9]{2})?".boxed())),
            maybe(prop::bool::ANY.prop_map(Value::Bool).boxed()),
            maybe(string(free_text())),
        ),
        (
            maybe(string(free_text())),
            maybe(prop::bool::ANY.prop_map(Value::Bool).boxed()),
            maybe(string(date_between(day(1900, 1, 1), day(2199, 12, 31)))),
            maybe(prop::bool::ANY.prop_map(Value::Bool).boxed()),
            maybe(prop::bool::ANY.prop_map(Value::Bool).boxed()),
        ),
    )
        .prop_map(move |((title, start, minutes), a, b, c)| {
            let start_at = chrono::DateTime::parse_from_rfc3339(&start).map(|t| t.to_utc()).unwrap_or_default();
            let end =
                (start_at + chrono::Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let (description, timezone, kind, status, priority, location) = a;
            let (equipment, duration, billing, cost, insured, preparation) = b;
            let (post, follow_up, follow_date, reminder, confirmation) = c;
            object(vec![
                ("title", Some(json!(title))),
                ("contact_id", Some(json!(contact_id))),
                ("start_datetime", Some(json!(start))),
                ("end_datetime", Some(json!(end))),
                ("assigned_provider", provider.clone().map(Value::String)),
                ("description", description),
                ("timezone", timezone),
                ("appointment_type", kind),
                ("status", status),
                ("priority", priority),
                ("location", location),
                ("required_equipment", equipment),
                ("estimated_duration_minutes", duration),
                ("billing_code", billing),
                ("estimated_cost", cost),
                ("insurance_authorized", insured),
                ("preparation_notes", preparation),
                ("post_appointment_notes", post),
                ("requires_follow_up", follow_up),
                ("follow_up_date", follow_date),
                ("reminder_sent", reminder),
                ("confirmation_required", confirmation),
            ])
        })
        .boxed()
}

/// A transaction body for `contact_id` (and possibly an appointment), every optional field
/// possibly set; `unique` keeps `transaction_id` unique.
pub fn transaction(contact_id: String, appointment_id: Option<String>, unique: u64) -> BoxedStrategy<Value> {
    let choices = |values: &'static [&'static str]| string(prop::sample::select(values).prop_map(String::from).boxed());
    (
        (
            prop::sample::select(&["payment", "charge", "fee", "subscription", "adjustment"][..]),
            "[1-9][0-9]{0,6}\\.[0-9]{2}",
            maybe(choices(&["pending", "processing", "completed", "failed", "cancelled"])),
            maybe(choices(&["EUR", "USD", "CHF", "CAD"])),
            maybe(string("[0-9]{1,3}\\.[0-9]{2}".boxed())),
        ),
        (
            maybe(choices(&["cash", "card", "bank_transfer", "check", "insurance", "other", ""])),
            maybe(string(text(200))),
            maybe(string(instant())),
            maybe(string(Just(format!("INV-{unique:06}")).boxed())),
            maybe(string(date_between(day(2024, 1, 1), day(2024, 12, 31)))),
        ),
        (
            maybe(string(date_between(day(2025, 1, 1), day(2025, 12, 31)))),
            maybe(string(date_between(day(1900, 1, 1), day(2199, 12, 31)))),
            maybe(string(free_text())),
            maybe(string(free_text())),
            maybe(prop::bool::ANY.prop_map(Value::Bool).boxed()),
            maybe(prop::bool::ANY.prop_map(Value::Bool).boxed()),
        ),
        prop::bool::ANY,
    )
        .prop_map(move |(a, b, c, negative)| {
            let (kind, amount, status, currency, tax) = a;
            let (method, reference, paid, invoice, period_start) = b;
            let (period_end, due, description, notes, receipt, sent) = c;
            let amount = if kind == "adjustment" && negative { format!("-{amount}") } else { amount };
            object(vec![
                ("transaction_id", Some(json!(format!("TX-{unique}-ch_3NxA")))),
                ("transaction_type", Some(json!(kind))),
                ("amount", Some(json!(amount))),
                ("contact_id", Some(json!(contact_id))),
                ("related_appointment_id", appointment_id.clone().map(Value::String)),
                ("status", status),
                ("currency", currency),
                ("tax_amount", tax),
                ("payment_method", method),
                ("payment_reference", reference),
                ("payment_date", paid),
                ("invoice_number", invoice),
                ("billing_period_start", period_start),
                ("billing_period_end", period_end),
                ("due_date", due),
                ("description", description),
                ("notes", notes),
                ("requires_receipt", receipt),
                ("receipt_sent", sent),
            ])
        })
        .boxed()
}

/// A document body declaring `bytes` (size and SHA-256), about `contact_id` when given, every
/// optional field possibly set. The privacy level is one every admin may see.
pub fn document(bytes: &[u8], contact_id: Option<String>) -> BoxedStrategy<Value> {
    use sha2::Digest;
    let (size, checksum) = (bytes.len(), format!("{:x}", sha2::Sha256::digest(bytes)));
    let choices = |values: &'static [&'static str]| string(prop::sample::select(values).prop_map(String::from).boxed());
    (
        (
            name(&["Compte rendu opératoire", "Ordonnance", "Résultats d'analyses", "IRM genou"], 200),
            "[a-zA-Z0-9éè_ -]{1,60}\\.(pdf|jpg|txt)",
        ),
        (
            maybe(string(free_text())),
            maybe(choices(&[
                "medical_record",
                "lab_result",
                "imaging",
                "prescription",
                "invoice",
                "consent_form",
                "other",
            ])),
            maybe(choices(&["application/pdf", "image/jpeg", "text/plain"])),
            maybe(choices(&["public", "internal", "confidential", "restricted"])),
            maybe(prop::collection::vec("[a-zà-ü]{1,12}", 0..6).prop_map(|t| json!(t)).boxed()),
        ),
        (
            maybe(string(date_between(today(), today() + chrono::Duration::days(365 * 30)))),
            maybe(prop::bool::ANY.prop_map(Value::Bool).boxed()),
            maybe(prop::bool::ANY.prop_map(Value::Bool).boxed()),
            maybe(prop::bool::ANY.prop_map(Value::Bool).boxed()),
        ),
    )
        .prop_map(move |((title, file_name), a, b)| {
            let (description, kind, mime, privacy, tags) = a;
            let (retention, encrypted, logged, approval) = b;
            object(vec![
                ("title", Some(json!(title))),
                ("file_name", Some(json!(file_name))),
                ("file_size_bytes", Some(json!(size))),
                ("checksum", Some(json!(checksum))),
                ("related_contact_id", contact_id.clone().map(Value::String)),
                ("description", description),
                ("document_type", kind),
                ("mime_type", mime),
                ("privacy_level", privacy),
                ("tags", tags),
                ("retention_until", retention),
                ("is_encrypted", encrypted),
                ("access_log_required", logged),
                ("requires_approval", approval),
            ])
        })
        .boxed()
}
