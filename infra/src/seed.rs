//! A generated practice, written through the API: what `infra/hub seed` fills a running stack
//! with, for demos, and what the soak bench writes. Everything goes through the HTTP API (the
//! gateway, the functions, their validation and audit), never behind it, so the data is what a
//! real practice's frontend would have created.
//!
//! Deterministic from a seed: the same `--seed` gives the same people, appointments, documents
//! and payments (ids and timestamps aside). Per contact, in realistic variety: every field of
//! the model (accents, apostrophes and hyphens in names, dates of birth from 1930, record and
//! insurance numbers, emergency contacts, consent given or withdrawn), about three appointments
//! spread over the year around today (booked with one of a few providers in slots that never
//! overlap), one or two payments (some completed, some refunded in part), and for one contact in
//! four a document whose bytes are really uploaded and checked.

use crate::token::{TokenRequest, mint_hs256};
use base64::Engine;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// splitmix64: a small, fast, well-mixed generator; reproducible across platforms, which is
/// all a demo dataset needs (no external crate).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A reproducible UUID (version 4 layout).
    pub fn uuid(&mut self) -> uuid::Uuid {
        let bytes = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
        uuid::Builder::from_random_bytes(bytes.to_be_bytes()).into_uuid()
    }
}

/// First names with accents, diaereses, hyphens (the tests' generated records use them too).
pub const FIRST_NAMES: &[&str] = &[
    "Zoé",
    "Jean",
    "Éloïse",
    "Hélène",
    "François",
    "Anaïs",
    "Chloé",
    "Noël",
    "Maëlys",
    "Jérôme",
    "Inès",
    "Léa",
    "Gaëlle",
    "Théo",
    "Mathéo",
    "Clémence",
    "Benoît",
    "Aurélie",
    "Loïc",
    "Cécile",
    "Björn",
    "José",
    "Marie-Thérèse",
    "Jean-Baptiste",
    "Ségolène",
    "Raphaël",
    "Maïwenn",
    "Océane",
    "Hugo",
    "Camille",
    "Ægir",
    "Łucja",
    "Søren",
    "Ünal",
    "D'Arcy",
];
/// Last names with particles, apostrophes, hyphens, diacritics of several languages.
pub const LAST_NAMES: &[&str] = &[
    "Durand",
    "Le Gall",
    "N'Diaye",
    "O'Connor",
    "de la Fontaine",
    "Müller",
    "Nguyễn",
    "Dubois-Lefèvre",
    "Öztürk",
    "García Márquez",
    "Lefèvre",
    "Bérénger",
    "Faure",
    "Rousseau",
    "Mercier",
    "Gauthier",
    "Perrin",
    "Chevalier",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Legrand",
    "Garnier",
    "Roux",
    "Fournier",
    "Morel",
    "Girard",
    "Zoë",
    "Ñúñez",
    "Şahin",
    "Ødegård",
    "Van der Berg",
];
const CITIES: &[(&str, &str)] = &[
    ("Lyon", "69003"),
    ("Saint-Étienne", "42000"),
    ("Besançon", "25000"),
    ("Orléans", "45000"),
    ("Clermont-Ferrand", "63000"),
    ("Nîmes", "30000"),
    ("L'Haÿ-les-Roses", "94240"),
    ("Villeurbanne", "69100"),
];
const STREETS: &[&str] = &[
    "rue de l'Église",
    "avenue Jean-Jaurès",
    "boulevard Émile-Zola",
    "place du Marché",
    "chemin des Écoliers",
    "impasse Sainte-Hélène",
];
const RELATIONSHIPS: &[&str] = &["époux", "épouse", "mère", "père", "sœur", "frère", "tuteur légal", "fille"];
const TITLES: &[&str] = &["mr", "mrs", "ms", "dr", "prof", ""];
const APPOINTMENT_TITLES: &[&str] =
    &["Consultation", "Bilan annuel", "Suivi post-opératoire", "Échographie", "Vaccination", "Téléconsultation"];
const DOCUMENT_TITLES: &[(&str, &str, &str)] = &[
    ("Compte rendu de consultation", "medical_record", "compte-rendu.pdf"),
    ("Résultats d'analyses sanguines", "lab_result", "analyses.pdf"),
    ("IRM du genou", "imaging", "irm-genou.jpg"),
    ("Ordonnance", "prescription", "ordonnance.pdf"),
    ("Consentement éclairé", "consent_form", "consentement.pdf"),
];

/// The contact body for person `index` of a run.
pub fn contact(rng: &mut Rng, index: u64, run: &str) -> Value {
    let first = rng.pick(FIRST_NAMES);
    let last = rng.pick(LAST_NAMES);
    let (city, postal) = rng.pick(CITIES);
    let born = chrono::NaiveDate::from_ymd_opt(1930, 1, 1).unwrap_or_default()
        + chrono::Duration::days(i64::try_from(rng.below(34_000)).unwrap_or(0));
    let consent = rng.chance(80);
    let ascii: String = format!("{first}.{last}")
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' => Some(c.to_ascii_lowercase()),
            'é' | 'è' | 'ê' | 'ë' | 'É' => Some('e'),
            'à' | 'â' => Some('a'),
            'ï' | 'î' => Some('i'),
            'ô' | 'ö' | 'Ö' => Some('o'),
            'ü' | 'û' => Some('u'),
            'ç' => Some('c'),
            _ => None,
        })
        .collect();
    let mut body = json!({
        "contact_type": if rng.chance(92) { "patient" } else { *rng.pick(&["provider", "vendor", "staff", "other"]) },
        "title": rng.pick(TITLES),
        "first_name": first,
        "last_name": last,
        "email": format!("{ascii}.{run}{index}@exemple.fr"),
        "phone": format!("+33 1 {:02} {:02} {:02} {:02}", rng.below(100), rng.below(100), rng.below(100), rng.below(100)),
        "mobile": format!("06 {:02} {:02} {:02} {:02}", rng.below(100), rng.below(100), rng.below(100), rng.below(100)),
        "date_of_birth": born.format("%Y-%m-%d").to_string(),
        "address_line1": format!("{} {}", 1 + rng.below(120), rng.pick(STREETS)),
        "address_line2": if rng.chance(30) { format!("Bâtiment {}", ["A", "B", "C"][rng.below(3) as usize]) } else { String::new() },
        "city": city,
        "postal_code": postal,
        "country": "France",
        "medical_record_number": format!("MRN-{run}-{index:07}"),
        "insurance_number": format!("{} {:02} {:02} {:02} {:03} {:03} {:02}", 1 + rng.below(2), rng.below(100), 1 + rng.below(12), rng.below(96), rng.below(1000), rng.below(1000), rng.below(100)),
        "preferred_language": *rng.pick(&["fr", "fr", "fr", "en", "de", "pt-BR"]),
        "communication_preference": *rng.pick(&["email", "phone", "sms", "mail"]),
        "emergency_contact_name": format!("{} {last}", rng.pick(FIRST_NAMES)),
        "emergency_contact_phone": format!("07 {:02} {:02} {:02} {:02}", rng.below(100), rng.below(100), rng.below(100), rng.below(100)),
        "emergency_contact_relationship": rng.pick(RELATIONSHIPS),
        "consent_given": consent,
    });
    if consent {
        body["consent_version"] = json!(*rng.pick(&["2024-06", "2025-01"]));
    }
    if body["contact_type"] != "patient" {
        body["company"] = json!(*rng.pick(&["Clinique du Parc", "Laboratoire Biomérieux", "Pharmacie Centrale"]));
        body["job_title"] = json!(*rng.pick(&["Infirmière", "Kinésithérapeute", "Secrétaire médicale"]));
    }
    body
}

/// A provider's slot `slot` (30 minutes, weekdays 08:00 to 18:00) within the year around `today`:
/// slots are handed out in order per provider, so no two bookings of a provider overlap.
fn slot_start(today: chrono::NaiveDate, slot: u64) -> chrono::DateTime<chrono::Utc> {
    const PER_DAY: u64 = 20;
    let mut day = today - chrono::Duration::days(182);
    let mut remaining = slot;
    loop {
        let weekday = chrono::Datelike::weekday(&day).num_days_from_monday();
        if weekday < 5 {
            if remaining < PER_DAY {
                let minutes = 8 * 60 + 30 * i64::try_from(remaining).unwrap_or(0);
                return day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() + chrono::Duration::minutes(minutes);
            }
            remaining -= PER_DAY;
        }
        day += chrono::Duration::days(1);
    }
}

/// An appointment of `contact_id` with `provider` in its `slot`.
pub fn appointment(rng: &mut Rng, contact_id: &str, provider: &str, slot: u64, today: chrono::NaiveDate) -> Value {
    let start = slot_start(today, slot);
    let end = start + chrono::Duration::minutes(30);
    let past = start.date_naive() < today;
    let status = if past {
        *rng.pick(&["completed", "completed", "completed", "no_show", "cancelled"])
    } else {
        *rng.pick(&["scheduled", "scheduled", "confirmed"])
    };
    json!({
        "title": rng.pick(APPOINTMENT_TITLES),
        "description": "Motif : douleurs lombaires, suivi à 3 mois.",
        "contact_id": contact_id,
        "start_datetime": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "end_datetime": end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "timezone": "Europe/Paris",
        "appointment_type": *rng.pick(&["consultation", "consultation", "follow_up", "procedure"]),
        "status": status,
        "priority": 1 + rng.below(5),
        "assigned_provider": provider,
        "location": format!("Cabinet {}", 1 + rng.below(4)),
        "estimated_duration_minutes": 30,
        "billing_code": *rng.pick(&["GS", "G", "APC", "CCAM-QZJA"]),
        "estimated_cost": *rng.pick(&["25.00", "30.00", "60.00", "120.50"]),
        "insurance_authorized": rng.chance(70),
        "reminder_sent": past,
        "requires_follow_up": rng.chance(20),
    })
}

/// A payment (or charge, fee) of `contact_id`, completed or pending.
pub fn transaction(rng: &mut Rng, contact_id: &str, index: u64, run: &str) -> Value {
    let completed = rng.chance(75);
    let cents = 1_500 + rng.below(30_000);
    let mut body = json!({
        "transaction_id": format!("ch_{run}{index:08}"),
        "transaction_type": *rng.pick(&["payment", "payment", "payment", "charge", "fee"]),
        "status": if completed { "completed" } else { "pending" },
        "amount": format!("{}.{:02}", cents / 100, cents % 100),
        "currency": "EUR",
        "contact_id": contact_id,
        "payment_method": *rng.pick(&["card", "card", "cash", "bank_transfer", "check", "insurance"]),
        "invoice_number": format!("INV-{run}-{index:07}"),
        "description": "Consultation et actes",
    });
    if completed {
        let paid = chrono::Utc::now() - chrono::Duration::days(i64::try_from(rng.below(300)).unwrap_or(0));
        body["payment_date"] = json!(paid.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    body
}

/// The bytes of a generated document (a small PDF-looking file), and their SHA-256 in hex.
pub fn document_bytes(rng: &mut Rng) -> Vec<u8> {
    let size = 2_000 + rng.below(30_000) as usize;
    let mut bytes = b"%PDF-1.7\n% Hub seed document\n".to_vec();
    while bytes.len() < size {
        bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    bytes.truncate(size);
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// One write the seed made: what, how it ended, how long it took.
#[derive(Debug, Clone)]
pub struct Write {
    pub kind: &'static str,
    pub status: u16,
    pub latency: Duration,
}

/// A client of a running stack's API, as one organization's admin.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

#[derive(Debug)]
pub struct SeedError(pub String);

impl std::fmt::Display for SeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SeedError {}

impl Api {
    /// For the stack whose `stack.env` values are `vars`, as an admin of `org`.
    pub fn new(vars: &std::collections::BTreeMap<String, String>, org: uuid::Uuid) -> Result<Self, SeedError> {
        let var = |key: &str| vars.get(key).cloned().ok_or_else(|| SeedError(format!("stack.env has no {key}")));
        let request = TokenRequest {
            organization_id: Some(org.to_string()),
            user_id: uuid::Uuid::new_v4().to_string(),
            email: Some("seed@hub.local".into()),
            roles: vec!["admin".into()],
            ttl_seconds: 24 * 3600,
            issuer: vars.get("JWT_ISSUER").cloned().filter(|v| !v.is_empty()),
            audience: vars.get("JWT_AUDIENCE").cloned().filter(|v| !v.is_empty()),
        };
        let token = mint_hs256(&request, var("JWT_HS256_SECRET")?.as_bytes())
            .map_err(|e| SeedError(format!("cannot sign a token: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| SeedError(format!("HTTP client: {e}")))?;
        Ok(Self { http, base: var("HUB_API_URL")?, token })
    }

    /// POSTs `body` to `path`; the answer's status and body, and how long it took.
    pub async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value, Duration), SeedError> {
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| SeedError(format!("POST {path}: {e}")))?;
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body, started.elapsed()))
    }

    /// GETs `path`; the status and how long it took.
    pub async fn get(&self, path: &str) -> Result<(u16, Duration), SeedError> {
        let started = Instant::now();
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| SeedError(format!("GET {path}: {e}")))?;
        let status = response.status().as_u16();
        let _ = response.bytes().await;
        Ok((status, started.elapsed()))
    }

    /// PUTs a document's bytes to its presigned upload, with the headers it was signed with.
    async fn upload(&self, upload: &Value, bytes: &[u8]) -> Result<(), SeedError> {
        let url = upload["url"].as_str().ok_or_else(|| SeedError("a document without an upload URL".into()))?;
        let mut request = self.http.put(url).body(bytes.to_vec());
        for (name, value) in upload["headers"].as_object().into_iter().flatten() {
            if name != "content-length" {
                request = request.header(name.as_str(), value.as_str().unwrap_or_default());
            }
        }
        let response = request.send().await.map_err(|e| SeedError(format!("upload: {e}")))?;
        if response.status().is_success() { Ok(()) } else { Err(SeedError(format!("upload: {}", response.status()))) }
    }
}

/// Fails on anything but the expected status, naming the request (a seed must not silently
/// skip what it could not write).
fn expect(
    what: &str,
    (status, body, latency): (u16, Value, Duration),
    want: u16,
) -> Result<(Value, Duration), SeedError> {
    if status == want { Ok((body, latency)) } else { Err(SeedError(format!("{what}: {status} {body}"))) }
}

/// The providers of a run: a handful of fixed users.
pub fn providers(rng: &mut Rng, count: usize) -> Vec<String> {
    (0..count).map(|_| rng.uuid().to_string()).collect()
}

/// Writes person `index`: the contact, their appointments, payments (and refunds), and maybe a
/// document; every write reported to `on_write`.
pub async fn person(
    api: &Api,
    seed: u64,
    index: u64,
    run: &str,
    providers: &[String],
    on_write: &(dyn Fn(Write) + Sync),
) -> Result<(), SeedError> {
    // One generator per person, from the run's seed and the person's index: the same person
    // whatever the concurrency.
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9).wrapping_add(index));
    let today = chrono::Utc::now().date_naive();
    let report = |kind: &'static str, status: u16, latency: Duration| on_write(Write { kind, status, latency });

    let (contact, latency) =
        expect("contact", api.post("/api/business/contacts", &contact(&mut rng, index, run)).await?, 201)?;
    report("contact", 201, latency);
    let contact_id = contact["id"].as_str().unwrap_or_default().to_string();

    for k in 0..(2 + rng.below(3)) {
        let provider_index = (index as usize + k as usize) % providers.len().max(1);
        // Slot per provider: each person takes the next slots of its provider in turn.
        let slot = (index / providers.len().max(1) as u64) * 4 + k;
        let body = appointment(&mut rng, &contact_id, &providers[provider_index], slot, today);
        let (status, answer, latency) = api.post("/api/business/appointments", &body).await?;
        report("appointment", status, latency);
        if status != 201 {
            return Err(SeedError(format!("appointment: {status} {answer}")));
        }
    }

    for k in 0..(1 + rng.below(2)) {
        let body = transaction(&mut rng, &contact_id, index * 4 + k, run);
        let completed = body["status"] == "completed";
        let (created, latency) = expect("transaction", api.post("/api/business/transactions", &body).await?, 201)?;
        report("transaction", 201, latency);
        if completed && rng.chance(12) {
            let id = created["id"].as_str().unwrap_or_default();
            let refund = json!({ "amount": "10.00", "description": "Geste commercial" });
            let (_, latency) =
                expect("refund", api.post(&format!("/api/business/transactions/{id}/refund"), &refund).await?, 201)?;
            report("refund", 201, latency);
        }
    }

    if rng.chance(25) {
        let (title, kind, file_name) = *rng.pick(DOCUMENT_TITLES);
        let bytes = document_bytes(&mut rng);
        let body = json!({
            "title": title, "document_type": kind, "file_name": file_name,
            "mime_type": if file_name.ends_with(".jpg") { "image/jpeg" } else { "application/pdf" },
            "file_size_bytes": bytes.len(), "checksum": sha256_hex(&bytes),
            "related_contact_id": contact_id, "privacy_level": *rng.pick(&["internal", "confidential"]),
            "tags": ["seed", kind],
        });
        let (created, latency) = expect("document", api.post("/api/business/documents", &body).await?, 201)?;
        report("document", 201, latency);
        api.upload(&created["upload"], &bytes).await?;
        let id = created["id"].as_str().unwrap_or_default();
        let (checked, latency) =
            expect("complete", api.post(&format!("/api/business/documents/{id}/complete"), &json!({})).await?, 200)?;
        report("complete", 200, latency);
        if checked["upload_status"] != "available" {
            return Err(SeedError(format!("document {id} was not accepted: {checked}")));
        }
    }
    Ok(())
}

/// A short, stable tag of a run's seed, for unique values (e-mails, record numbers, ids).
pub fn run_tag(seed: u64) -> String {
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(seed.to_be_bytes());
    encoded
        .trim_start_matches('A')
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(6)
        .collect::<String>()
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_people() {
        let a = contact(&mut Rng::new(7), 1, "t");
        let b = contact(&mut Rng::new(7), 1, "t");
        let c = contact(&mut Rng::new(8), 1, "t");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn sha256_is_sha256() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let long = vec![0x61u8; 1000];
        assert_eq!(sha256_hex(&long), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
    }

    #[test]
    fn a_providers_slots_never_overlap() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let starts: Vec<_> = (0..500).map(|slot| slot_start(today, slot)).collect();
        assert!(starts.windows(2).all(|w| w[1] >= w[0] + chrono::Duration::minutes(30)));
    }
}
