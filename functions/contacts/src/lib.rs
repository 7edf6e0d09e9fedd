//! Contacts: patients, providers, vendors, staff. The entity's fields and rules; the
//! operations are the shared generic ones (`hub_shared::ops`), wired in `src/bin/`.

use chrono::Utc;
use hub_shared::auth::Tenant;
use hub_shared::choice_enum;
use hub_shared::domain::{Choice, Date, Fields, Timestamp, Window, check_retention_change, text};
use hub_shared::error::{AppError, AppResult};
use hub_shared::store::{ANONYMIZED, Entity, IndexEntry, ListSpec, Meta, Record, SortRange, Unique};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

mod blank;

choice_enum! {
    pub enum ContactType {
        Patient = "patient",
        Provider = "provider",
        Vendor = "vendor",
        Staff = "staff",
        Other = "other",
    }
}

choice_enum! {
    pub enum Title { Mr = "mr", Mrs = "mrs", Ms = "ms", Dr = "dr", Prof = "prof" }
}

choice_enum! {
    pub enum CommunicationPreference { Email = "email", Phone = "phone", Sms = "sms", Mail = "mail" }
}

/// A contact, as the seed's model defines it. Blank strings are `""`, as the original API
/// returned them; nullable values are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contact {
    pub contact_type: ContactType,
    #[serde(with = "blank")]
    #[cfg_attr(feature = "openapi", schema(schema_with = hub_shared::openapi::blank_choice::<Title>))]
    pub title: Option<Title>,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub mobile: String,
    pub date_of_birth: Option<Date>,
    pub address_line1: String,
    pub address_line2: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub country: String,
    pub medical_record_number: String,
    pub insurance_number: String,
    pub company: String,
    pub job_title: String,
    pub preferred_language: String,
    pub communication_preference: CommunicationPreference,
    pub emergency_contact_name: String,
    pub emergency_contact_phone: String,
    pub emergency_contact_relationship: String,
    pub consent_given: bool,
    pub consent_date: Option<Timestamp>,
    /// The version of the privacy policy consent was given to (`2025-01`): required when
    /// consent is given, cleared with it. Records stored before it existed read `""`.
    #[serde(default)]
    pub consent_version: String,
    pub data_retention_until: Option<Date>,
}

/// The longest `consent_version`: a short policy version label.
pub const MAX_CONSENT_VERSION: usize = 32;

/// Computed fields: returned, never stored, ignored when sent back.
const COMPUTED: &[&str] = &["full_name", "display_name"];

/// The longest search term (an e-mail's longest).
pub const MAX_SEARCH: usize = 254;

/// The separator between a search term and its kind; control characters are refused in every
/// one-line field, so it can never occur inside a term.
const SEP: char = '\u{1f}';

/// What a search entry indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SearchKind {
    /// "last first": a last-name prefix.
    LastFirst,
    /// "first last": a first-name prefix.
    FirstLast,
    /// The e-mail, matched exactly.
    Email,
    /// The medical record number, matched exactly.
    RecordNumber,
}

impl SearchKind {
    fn code(self) -> char {
        match self {
            Self::LastFirst => 'L',
            Self::FirstLast => 'F',
            Self::Email => 'E',
            Self::RecordNumber => 'M',
        }
    }

    fn from_code(code: char) -> Option<Self> {
        match code {
            'L' => Some(Self::LastFirst),
            'F' => Some(Self::FirstLast),
            'E' => Some(Self::Email),
            'M' => Some(Self::RecordNumber),
            _ => None,
        }
    }
}

fn search_sort(term: &str, kind: SearchKind) -> String {
    format!("{term}{SEP}{}", kind.code())
}

impl Contact {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }

    /// As the original: the stored title code (`dr`), not its label.
    pub fn display_name(&self) -> String {
        match self.title {
            Some(title) => format!("{} {}", title.as_str(), self.full_name()),
            None => self.full_name(),
        }
    }

    fn email_key(&self) -> Option<String> {
        (!self.email.is_empty()).then(|| self.email.to_lowercase())
    }

    fn record_number_key(&self) -> Option<String> {
        (!self.medical_record_number.is_empty()).then(|| self.medical_record_number.to_lowercase())
    }

    fn last_first(&self) -> String {
        text::fold(&format!("{} {}", self.last_name, self.first_name))
    }

    fn first_last(&self) -> String {
        text::fold(&format!("{} {}", self.first_name, self.last_name))
    }

    /// Whether `query` (folded) names this contact's e-mail or record number exactly.
    fn exact_hit(&self, query: &str) -> bool {
        self.email_key().as_deref() == Some(query) || self.record_number_key().as_deref() == Some(query)
    }

    /// Whether the search entry `sort` is the one entry this contact is listed under for
    /// `query`. Each contact can have several entries matching one prefix (a first and a last
    /// name both starting with it, or a record number equal to it); exactly one is accepted,
    /// by precedence exact match > last name > first name, so no contact is listed twice.
    fn accepts_search_entry(&self, sort: &str, query: &str) -> bool {
        let Some((term, rest)) = sort.split_once(SEP) else { return false };
        match rest.chars().next().and_then(SearchKind::from_code) {
            Some(SearchKind::Email | SearchKind::RecordNumber) => term == query,
            Some(SearchKind::LastFirst) => !self.exact_hit(query),
            Some(SearchKind::FirstLast) => !self.exact_hit(query) && !self.last_first().starts_with(query),
            None => false,
        }
    }
}

impl Entity for Contact {
    const KIND: &'static str = "CONTACT";
    const NAME: &'static str = "contact";
    const PATH: &'static str = "/api/business/contacts";
    const FILTERS: &'static [&'static str] = &["contact_type", "search"];

    fn read(f: &mut Fields<'_>) -> Self {
        f.ignore(Meta::FIELDS);
        f.ignore(COMPUTED);
        let contact = Contact {
            contact_type: f.choice("contact_type", ContactType::Patient),
            title: f.optional_choice("title"),
            first_name: f.required_text("first_name", 100),
            last_name: f.required_text("last_name", 100),
            email: f.email("email").map(|e| e.as_str().to_string()).unwrap_or_default(),
            phone: f.phone("phone", 20),
            mobile: f.phone("mobile", 20),
            date_of_birth: f.date("date_of_birth", Window::Birth),
            address_line1: f.text("address_line1", 255),
            address_line2: f.text("address_line2", 255),
            city: f.text("city", 100),
            state: f.text("state", 100),
            postal_code: f.text("postal_code", 20),
            country: f.text_or("country", 100, "France"),
            medical_record_number: f.text("medical_record_number", 50),
            insurance_number: f.text("insurance_number", 50),
            company: f.text("company", 200),
            job_title: f.text("job_title", 100),
            preferred_language: f.pattern(
                "preferred_language",
                10,
                Some(DEFAULT_LANGUAGE),
                LANGUAGE_PATTERN,
                is_language_tag,
                "must be a language code such as fr, en, de or fr-CA",
            ),
            communication_preference: f.choice("communication_preference", CommunicationPreference::Email),
            emergency_contact_name: f.text("emergency_contact_name", 200),
            emergency_contact_phone: f.phone("emergency_contact_phone", 20),
            emergency_contact_relationship: f.text("emergency_contact_relationship", 100),
            consent_given: f.boolean("consent_given", false),
            consent_date: f.timestamp("consent_date"),
            consent_version: f.pattern(
                "consent_version",
                MAX_CONSENT_VERSION,
                None,
                CONSENT_VERSION_PATTERN,
                is_consent_version,
                "must be a policy version label such as 2025-01 or v3.1",
            ),
            data_retention_until: f.date("data_retention_until", Window::Retention),
        };
        f.note("consent_date", "invalid_value", "Not in the future (5 minutes of clock skew allowed).");
        if let Some(given) = contact.consent_date
            && given.as_datetime() > Utc::now() + chrono::Duration::minutes(5)
        {
            f.error("consent_date", "invalid_value", "must not be in the future");
        }
        f.note(
            "consent_version",
            "required",
            "Required when consent is given (from not given, or with a new policy version).",
        );
        contact
    }

    /// RGPD: consent carries the moment it was given and the policy version it was given to.
    /// - Giving consent (on create, or from not given) requires `consent_version`; the moment
    ///   is stamped now unless the client states when consent was collected.
    /// - While consent stays given, an omitted version keeps the previous one; a new version
    ///   is a new consent, stamped now unless a new moment is stated.
    /// - Withdrawing clears the moment and the version.
    ///
    /// The history (who, when, which version) is the audit trail of these three fields.
    fn reconcile(&mut self, previous: Option<&Self>, now: Timestamp) -> AppResult<()> {
        check_retention_change(
            "data_retention_until",
            self.data_retention_until,
            previous.and_then(|p| p.data_retention_until),
        )?;
        if !self.consent_given {
            self.consent_date = None;
            self.consent_version.clear();
            return Ok(());
        }
        let Some(previous) = previous.filter(|p| p.consent_given) else {
            if self.consent_version.is_empty() {
                return Err(AppError::field(
                    "consent_version",
                    "required",
                    "is required when consent is given: the version of the privacy policy agreed to",
                ));
            }
            if self.consent_date.is_none() {
                self.consent_date = Some(now);
            }
            return Ok(());
        };
        if self.consent_version.is_empty() {
            self.consent_version = previous.consent_version.clone();
        }
        let renewed = self.consent_version != previous.consent_version;
        if self.consent_date.is_none() || (renewed && self.consent_date == previous.consent_date) {
            self.consent_date = Some(if renewed { now } else { previous.consent_date.unwrap_or(now) });
        }
        Ok(())
    }

    fn unique_values(&self) -> Vec<Unique> {
        let mut values = Vec::new();
        if let Some(email) = self.email_key() {
            values.push(Unique { field: "email", value: email });
        }
        if let Some(number) = self.record_number_key() {
            values.push(Unique { field: "medical_record_number", value: number });
        }
        values
    }

    /// An anonymized contact keeps its `ALL` and `TYPE` entries (its records and amounts stay)
    /// but has no search entries: there is no name left to find it by.
    fn index_entries(&self, meta: &Meta) -> Vec<IndexEntry> {
        let created = meta.created_at.to_key();
        let mut entries = vec![
            IndexEntry::new("ALL", created.clone()),
            IndexEntry::new(format!("TYPE#{}", self.contact_type.as_str()), created),
        ];
        if meta.anonymized_at.is_some() {
            return entries;
        }
        entries.extend([
            IndexEntry::new("SEARCH", search_sort(&self.last_first(), SearchKind::LastFirst)),
            IndexEntry::new("SEARCH", search_sort(&self.first_last(), SearchKind::FirstLast)),
        ]);
        if let Some(email) = self.email_key() {
            entries.push(IndexEntry::new("SEARCH", search_sort(&email, SearchKind::Email)));
        }
        if let Some(number) = self.record_number_key() {
            entries.push(IndexEntry::new("SEARCH", search_sort(&number, SearchKind::RecordNumber)));
        }
        // Identical names ("Jean Jean") give one entry, not two writes of the same item.
        entries.dedup();
        entries
    }

    /// Retention applies after `data_retention_until`, until the contact is anonymized.
    fn retention_date(&self, meta: &Meta) -> Option<Date> {
        self.data_retention_until.filter(|_| meta.anonymized_at.is_none())
    }

    fn anonymized(&self) -> Self {
        Contact {
            contact_type: self.contact_type,
            title: self.title,
            first_name: ANONYMIZED.into(),
            last_name: ANONYMIZED.into(),
            email: String::new(),
            phone: String::new(),
            mobile: String::new(),
            date_of_birth: None,
            address_line1: String::new(),
            address_line2: String::new(),
            city: String::new(),
            state: String::new(),
            postal_code: String::new(),
            country: self.country.clone(),
            medical_record_number: String::new(),
            insurance_number: String::new(),
            company: String::new(),
            job_title: String::new(),
            preferred_language: self.preferred_language.clone(),
            communication_preference: self.communication_preference,
            emergency_contact_name: String::new(),
            emergency_contact_phone: String::new(),
            emergency_contact_relationship: String::new(),
            consent_given: self.consent_given,
            consent_date: self.consent_date,
            consent_version: self.consent_version.clone(),
            data_retention_until: self.data_retention_until,
        }
    }

    fn computed(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("full_name".into(), Value::String(self.full_name()));
        out.insert("display_name".into(), Value::String(self.display_name()));
        out
    }

    /// Lists: newest first by default and by `contact_type`; `search` lists matches in
    /// alphabetical order of the matched name (exact e-mail or record number hits first among
    /// equals), and combines with `contact_type`.
    fn list_spec(params: &HashMap<String, String>, _tenant: &Tenant) -> AppResult<ListSpec<Self>> {
        let contact_type = hub_shared::domain::params::choice::<ContactType>(params, "contact_type")?;
        let Some(raw_query) = params.get("search") else {
            return Ok(match contact_type {
                Some(t) => ListSpec::all(format!("TYPE#{}", t.as_str()), true),
                None => ListSpec::all("ALL", true),
            });
        };
        if raw_query.chars().count() > MAX_SEARCH || raw_query.chars().any(char::is_control) {
            return Err(AppError::invalid_param(
                "search",
                format!("must be at most {MAX_SEARCH} characters, without control characters"),
            ));
        }
        let query = if raw_query.contains('@') { raw_query.trim().to_lowercase() } else { text::fold(raw_query) };
        if query.is_empty() || query.contains(SEP) || query.chars().any(char::is_control) {
            return Err(AppError::invalid_param("search", "must be a name prefix, an e-mail or a record number"));
        }
        // An address can only be an e-mail entry: its exact key is the whole prefix.
        let sort_prefix =
            if query.contains('@') { format!("{}#", search_sort(&query, SearchKind::Email)) } else { query.clone() };
        let fingerprint = format!("SEARCH|{query}|{}", contact_type.map(|t| t.as_str()).unwrap_or(""));
        let accept = Box::new(move |record: &Record<Contact>, sort: &str| {
            contact_type.is_none_or(|t| record.data.contact_type == t) && record.data.accepts_search_entry(sort, &query)
        });
        Ok(ListSpec {
            index: "SEARCH".into(),
            range: SortRange::Prefix(sort_prefix),
            newest_first: false,
            fingerprint,
            accept: Some(accept),
        })
    }
}

/// The language a contact gets when none is given.
const DEFAULT_LANGUAGE: &str = "fr";

/// [`is_language_tag`], for the OpenAPI document.
const LANGUAGE_PATTERN: &str = "^(?:[A-Za-z]{2,3}(?:-[A-Za-z]{2})?)?$";

/// [`is_consent_version`], for the OpenAPI document.
const CONSENT_VERSION_PATTERN: &str = "^[A-Za-z0-9._-]*$";

fn is_consent_version(value: &str) -> bool {
    value.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// `fr`, `en`, `de`, `fr-CA`, `pt-BR`: a primary language subtag with an optional region.
fn is_language_tag(value: &str) -> bool {
    let mut parts = value.split('-');
    let primary_ok =
        parts.next().is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    let region_ok = match parts.next() {
        None => true,
        Some(r) => r.len() == 2 && r.chars().all(|c| c.is_ascii_alphabetic()),
    };
    primary_ok && region_ok && parts.next().is_none()
}

#[cfg(test)]
mod tests;
