//! Appointments: a contact's booking with a provider. The entity's fields and rules; the
//! operations are the shared generic ones (`hub_shared::ops`), wired in `src/bin/`, plus two
//! named actions (`confirm`, `cancel`) built on `ops::action`.
//!
//! - `workflow`: the status state machine (enforced in `reconcile`) and the actions.
//! - `schedule`: no provider holds two overlapping live appointments (checked in `before_write`
//!   under an optimistic lock, so concurrent bookings cannot both succeed).
//! - `timezone`: the IANA zone names `timezone` is checked against.

use chrono::{DateTime, Duration, Utc};
use hub_shared::auth::{Permission, Tenant};
use hub_shared::choice_enum;
use hub_shared::domain::spec::MoneyRule;
use hub_shared::domain::{Choice, Date, Fields, Money, Timestamp, Window, params};
use hub_shared::error::{AppError, AppResult};
use hub_shared::http::{ApiRequest, Reply, Services};
use hub_shared::ops;
use hub_shared::store::{ANONYMIZED, Entity, IndexEntry, ListSpec, Lock, Meta, Record, Reference, Store};
use serde::{Deserialize, Serialize};

use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

pub mod schedule;
pub mod timezone;
pub mod workflow;

pub use schedule::MAX_DURATION_HOURS;

choice_enum! {
    pub enum AppointmentType {
        Consultation = "consultation",
        FollowUp = "follow_up",
        Procedure = "procedure",
        Surgery = "surgery",
        Meeting = "meeting",
        Other = "other",
    }
}

choice_enum! {
    pub enum Status as "AppointmentStatus" {
        Scheduled = "scheduled",
        Confirmed = "confirmed",
        InProgress = "in_progress",
        Completed = "completed",
        Cancelled = "cancelled",
        NoShow = "no_show",
        Rescheduled = "rescheduled",
    }
}

/// Free-text fields (the original's unbounded `TextField`s) are capped well inside the body
/// limit so one field cannot take the whole item.
const LONG_TEXT: usize = 10_000;
/// `estimated_cost` is `DecimalField(max_digits=10, decimal_places=2)`: 8 digits before the
/// point, never negative.
const COST: MoneyRule = MoneyRule { signed: false, whole_digits: 8 };
/// The longest `estimated_duration_minutes`: the longest an appointment may last.
const MAX_DURATION_MINUTES: i64 = MAX_DURATION_HOURS * 60;

/// An appointment, as the seed's model defines it. Times are UTC instants; `timezone` is the
/// zone the practice displays them in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Appointment {
    pub title: String,
    pub description: String,
    pub contact_id: Uuid,
    pub start_datetime: Timestamp,
    pub end_datetime: Timestamp,
    pub timezone: String,
    pub appointment_type: AppointmentType,
    pub status: Status,
    pub priority: u8,
    pub assigned_provider: Option<Uuid>,
    pub assigned_staff: Option<Uuid>,
    pub location: String,
    pub required_equipment: String,
    pub estimated_duration_minutes: Option<u32>,
    pub billing_code: String,
    pub estimated_cost: Option<Money>,
    pub insurance_authorized: bool,
    pub preparation_notes: String,
    pub post_appointment_notes: String,
    pub requires_follow_up: bool,
    pub follow_up_date: Option<Date>,
    pub reminder_sent: bool,
    pub confirmation_required: bool,
    pub confirmed_at: Option<Timestamp>,
}

/// Fields the server sets: returned, accepted back unchanged, never taken from a request.
const SERVER_SET: &[&str] = &["confirmed_at"];

pub fn provider_index(provider: Uuid) -> String {
    format!("PROVIDER#{provider}")
}

impl Entity for Appointment {
    const KIND: &'static str = "APPOINTMENT";
    const NAME: &'static str = "appointment";
    const PATH: &'static str = "/api/business/appointments";
    const FILTERS: &'static [&'static str] =
        &["start_from", "start_to", "status", "appointment_type", "contact_id", "assigned_provider"];

    fn read(f: &mut Fields<'_>) -> Self {
        f.ignore(Meta::FIELDS);
        f.ignore(SERVER_SET);
        let title = f.required_text("title", 200);
        let description = f.long_text("description", LONG_TEXT);
        let contact_id = f.required_uuid("contact_id");
        f.note("contact_id", "not_found", "Must name a live contact of the organization.");
        let start = f.required_timestamp("start_datetime");
        let end = f.required_timestamp("end_datetime");
        let timezone = f.listed("timezone", timezone::names(), "Europe/Paris");
        let appointment_type = f.choice("appointment_type", AppointmentType::Consultation);
        let status = f.choice("status", Status::Scheduled);
        let priority = f.integer("priority", 1, 5, 3);
        let assigned_provider = f.uuid("assigned_provider");
        let assigned_staff = f.uuid("assigned_staff");
        let location = f.text("location", 200);
        let required_equipment = f.long_text("required_equipment", LONG_TEXT);
        let estimated_duration_minutes = f.optional_integer("estimated_duration_minutes", 1, MAX_DURATION_MINUTES);
        let billing_code = f.text("billing_code", 50);
        let estimated_cost = f.money("estimated_cost", COST);
        let insurance_authorized = f.boolean("insurance_authorized", false);
        let preparation_notes = f.long_text("preparation_notes", LONG_TEXT);
        let post_appointment_notes = f.long_text("post_appointment_notes", LONG_TEXT);
        let requires_follow_up = f.boolean("requires_follow_up", false);
        let follow_up_date = f.date("follow_up_date", Window::Business);
        let reminder_sent = f.boolean("reminder_sent", false);
        let confirmation_required = f.boolean("confirmation_required", true);

        f.note("end_datetime", "invalid_value", "After start_datetime.");
        f.note("end_datetime", "out_of_range", format!("At most {MAX_DURATION_HOURS} hours after start_datetime."));
        if let (Some(start), Some(end)) = (start, end) {
            if end <= start {
                f.error("end_datetime", "invalid_value", "must be after start_datetime");
            } else if end.as_datetime() - start.as_datetime() > Duration::hours(MAX_DURATION_HOURS) {
                f.error(
                    "end_datetime",
                    "out_of_range",
                    format!("an appointment lasts at most {MAX_DURATION_HOURS} hours"),
                );
            }
        }
        let epoch = Timestamp::from_datetime(DateTime::<Utc>::UNIX_EPOCH);
        Appointment {
            title,
            description,
            contact_id,
            start_datetime: start.unwrap_or(epoch),
            end_datetime: end.unwrap_or(epoch),
            timezone,
            appointment_type,
            status,
            // In range: the readers checked 1..=5 and MAX_DURATION_MINUTES.
            priority: u8::try_from(priority).unwrap_or(3),
            assigned_provider,
            assigned_staff,
            location,
            required_equipment,
            estimated_duration_minutes: estimated_duration_minutes.and_then(|m| u32::try_from(m).ok()),
            billing_code,
            estimated_cost,
            insurance_authorized,
            preparation_notes,
            post_appointment_notes,
            requires_follow_up,
            follow_up_date,
            reminder_sent,
            confirmation_required,
            confirmed_at: None,
        }
    }

    /// The status state machine (see `workflow`), and `confirmed_at`: stamped the first time the
    /// appointment is confirmed, kept afterwards whatever the status becomes.
    fn reconcile(&mut self, previous: Option<&Self>, now: Timestamp) -> AppResult<()> {
        if let Some(previous) = previous {
            workflow::check_transition(previous.status, self.status)?;
        }
        self.confirmed_at = previous.and_then(|p| p.confirmed_at).or(self.confirmed_at);
        if self.status == Status::Confirmed && self.confirmed_at.is_none() {
            self.confirmed_at = Some(now);
        }
        Ok(())
    }

    fn references(&self) -> Vec<Reference> {
        vec![Reference { field: "contact_id", kind: "CONTACT", id: self.contact_id }]
    }

    fn before_write<'a>(
        &'a self,
        store: &'a Store,
        tenant: &'a Tenant,
        current: Option<&'a Record<Self>>,
    ) -> impl Future<Output = AppResult<Vec<Lock>>> + Send + 'a {
        schedule::check(self, store, tenant, current)
    }

    /// A restored appointment takes its time back: it must still be free.
    fn before_restore<'a>(
        &'a self,
        store: &'a Store,
        tenant: &'a Tenant,
    ) -> impl Future<Output = AppResult<Vec<Lock>>> + Send + 'a {
        schedule::check(self, store, tenant, None)
    }

    fn anonymized(&self) -> Self {
        Appointment {
            title: ANONYMIZED.into(),
            description: String::new(),
            contact_id: self.contact_id,
            start_datetime: self.start_datetime,
            end_datetime: self.end_datetime,
            timezone: self.timezone.clone(),
            appointment_type: self.appointment_type,
            status: self.status,
            priority: self.priority,
            assigned_provider: self.assigned_provider,
            assigned_staff: self.assigned_staff,
            location: String::new(),
            required_equipment: String::new(),
            estimated_duration_minutes: self.estimated_duration_minutes,
            billing_code: String::new(),
            estimated_cost: self.estimated_cost,
            insurance_authorized: self.insurance_authorized,
            preparation_notes: String::new(),
            post_appointment_notes: String::new(),
            requires_follow_up: self.requires_follow_up,
            follow_up_date: self.follow_up_date,
            reminder_sent: self.reminder_sent,
            confirmation_required: self.confirmation_required,
            confirmed_at: self.confirmed_at,
        }
    }

    /// Every list partition is ordered by start time, so the `start_from`/`start_to` range
    /// combines with each filter.
    fn index_entries(&self, _meta: &Meta) -> Vec<IndexEntry> {
        let start = self.start_datetime.to_key();
        let mut entries = vec![
            IndexEntry::new("ALL", start.clone()),
            IndexEntry::new(format!("STATUS#{}", self.status.as_str()), start.clone()),
            IndexEntry::new(format!("TYPE#{}", self.appointment_type.as_str()), start.clone()),
            IndexEntry::new(format!("CONTACT#{}", self.contact_id), start.clone()),
        ];
        if let Some(provider) = self.assigned_provider {
            entries.push(IndexEntry::new(provider_index(provider), start));
        }
        entries
    }

    /// Lists in start-time order (earliest first). `start_from`/`start_to` read the range
    /// `[from, to)` of the chosen partition. One of contact, provider, type, status (in that
    /// order of precedence, the most selective first) picks the partition; any other of them
    /// given too is checked per entry, so such a page may hold fewer items than `page_size`
    /// while `next_cursor` is set.
    fn list_spec(params: &HashMap<String, String>, _tenant: &Tenant) -> AppResult<ListSpec<Self>> {
        let filters = ListFilters::parse(params)?;
        Ok(filters.spec())
    }
}

/// The list request's filters, parsed.
#[derive(Debug, Clone, Default)]
struct ListFilters {
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    status: Option<Status>,
    appointment_type: Option<AppointmentType>,
    contact: Option<Uuid>,
    provider: Option<Uuid>,
}

impl ListFilters {
    fn parse(params: &HashMap<String, String>) -> AppResult<Self> {
        let filters = Self {
            from: params::instant(params, "start_from")?,
            to: params::instant(params, "start_to")?,
            status: params::choice(params, "status")?,
            appointment_type: params::choice(params, "appointment_type")?,
            contact: params::uuid(params, "contact_id")?,
            provider: params::uuid(params, "assigned_provider")?,
        };
        if let (Some(from), Some(to)) = (filters.from, filters.to)
            && to <= from
        {
            return Err(AppError::invalid_param("start_to", "must be after start_from"));
        }
        Ok(filters)
    }

    /// The partition to read: the most selective filter given.
    fn index(&self) -> String {
        if let Some(contact) = self.contact {
            format!("CONTACT#{contact}")
        } else if let Some(provider) = self.provider {
            provider_index(provider)
        } else if let Some(kind) = self.appointment_type {
            format!("TYPE#{kind}")
        } else if let Some(status) = self.status {
            format!("STATUS#{status}")
        } else {
            "ALL".to_string()
        }
    }

    fn spec(self) -> ListSpec<Appointment> {
        let index = self.index();
        let mut spec =
            ListSpec::between(index.clone(), self.from.map(|t| t.to_key()), self.to.map(|t| t.to_key()), false);
        // Filters not answered by the partition, checked per entry. The partition already
        // answers its own filter, so checking it again is harmless.
        let Self { status, appointment_type, contact, provider, .. } = self;
        if [status.is_some(), appointment_type.is_some(), contact.is_some(), provider.is_some()]
            .iter()
            .filter(|given| **given)
            .count()
            > 1
        {
            spec.fingerprint = format!(
                "{}|status={}|type={}|contact={}|provider={}",
                spec.fingerprint,
                status.map(|s| s.as_str()).unwrap_or(""),
                appointment_type.map(|t| t.as_str()).unwrap_or(""),
                contact.map(|c| c.to_string()).unwrap_or_default(),
                provider.map(|p| p.to_string()).unwrap_or_default(),
            );
            spec.accept = Some(Box::new(move |record: &Record<Appointment>, _sort: &str| {
                let a = &record.data;
                status.is_none_or(|s| a.status == s)
                    && appointment_type.is_none_or(|t| a.appointment_type == t)
                    && contact.is_none_or(|c| a.contact_id == c)
                    && provider.is_none_or(|p| a.assigned_provider == Some(p))
            }));
        }
        spec
    }
}

/// `POST /{id}/confirm` (members): see `workflow::confirm`.
pub async fn confirm(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    ops::action::<Appointment>(services, tenant, request, Permission::Write, workflow::confirm).await
}

/// `POST /{id}/cancel` (members): see `workflow::cancel`.
pub async fn cancel(services: Arc<Services>, tenant: Tenant, request: ApiRequest) -> AppResult<Reply> {
    ops::action::<Appointment>(services, tenant, request, Permission::Write, workflow::cancel).await
}

#[cfg(test)]
mod tests;
