//! Schedule conflicts: a provider cannot hold two overlapping appointments that still occupy
//! their time (see `Status::holds_slot`).
//!
//! Two bookings racing for the same free slot would each read the provider's appointments, see
//! nothing in the way, and both write. So every write that changes a provider's booked time
//! first reads the provider's schedule lock (a counter item, `LOCK#SCHEDULE#<provider>`), then
//! reads the appointments, and returns the lock to the repository, which bumps it in the write's
//! own transaction on the condition that it still holds the value read. Of two bookings that
//! decided on the same state, one commits and the other's transaction is cancelled
//! (`409 CONCURRENT_MODIFICATION`); a retry reads the new state and gets `409 SCHEDULE_CONFLICT`.
//! The lock is read before the appointments so that anything committed after the read
//! necessarily bumped it.

use crate::{Appointment, provider_index};
use chrono::Duration;
use hub_shared::auth::Tenant;
use hub_shared::domain::Timestamp;
use hub_shared::error::{AppError, AppResult, FieldError};
use hub_shared::ops::MAX_PAGE_SIZE;
use hub_shared::store::{ListSpec, Lock, Record, Store};
use uuid::Uuid;

/// The longest an appointment may last. It bounds the window an overlap check reads: anything
/// overlapping `[start, end)` starts in `[start - MAX_DURATION, end)`.
pub const MAX_DURATION_HOURS: i64 = 24;

/// A provider's booked time: who, from, to (half-open, so back-to-back bookings do not clash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub provider: Uuid,
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Slot {
    /// The time an appointment occupies, if it has a provider and still holds its slot.
    pub fn of(appointment: &Appointment) -> Option<Slot> {
        let provider = appointment.assigned_provider?;
        appointment.status.holds_slot().then_some(Slot {
            provider,
            start: appointment.start_datetime,
            end: appointment.end_datetime,
        })
    }

    pub fn overlaps(&self, other: &Slot) -> bool {
        self.provider == other.provider && self.start < other.end && other.start < self.end
    }
}

pub fn lock_name(provider: Uuid) -> String {
    format!("SCHEDULE#{provider}")
}

/// The locks a write of `next` must bump, after checking that its slot is free. `current` is
/// the stored state on update (`None` on create and restore). A write that leaves the slot as it
/// was (an edit of notes, a confirmation) takes no lock, so it never contends with bookings.
pub async fn check(
    next: &Appointment,
    store: &Store,
    tenant: &Tenant,
    current: Option<&Record<Appointment>>,
) -> AppResult<Vec<Lock>> {
    let before = current.and_then(|c| Slot::of(&c.data));
    let after = Slot::of(next);
    if before == after {
        return Ok(Vec::new());
    }
    let mut providers: Vec<Uuid> = before.iter().chain(after.iter()).map(|s| s.provider).collect();
    providers.sort_unstable();
    providers.dedup();
    // Locks first: a booking committed after these reads must have bumped them.
    let mut locks = Vec::with_capacity(providers.len());
    for provider in providers {
        locks.push(store.lock(tenant.org, &lock_name(provider)).await?);
    }
    if let Some(slot) = after
        && let Some(other) = find_overlap(store, tenant, &slot, current.map(|c| c.meta.id)).await?
    {
        return Err(conflict(&other));
    }
    Ok(locks)
}

/// The first appointment of the provider, other than `own`, whose slot overlaps `slot`. Reads
/// the provider's list partition for starts in `[slot.start - MAX_DURATION, slot.end)`, page by
/// page (a window of at most a day and a half of one provider's bookings).
async fn find_overlap(
    store: &Store,
    tenant: &Tenant,
    slot: &Slot,
    own: Option<Uuid>,
) -> AppResult<Option<Record<Appointment>>> {
    let earliest = Timestamp::from_datetime(slot.start.as_datetime() - Duration::hours(MAX_DURATION_HOURS));
    let spec: ListSpec<Appointment> =
        ListSpec::between(provider_index(slot.provider), Some(earliest.to_key()), Some(slot.end.to_key()), false);
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list::<Appointment>(tenant.org, &spec, MAX_PAGE_SIZE, cursor.as_deref()).await?;
        let hit = page.items.into_iter().find(|other| {
            Some(other.meta.id) != own && Slot::of(&other.data).is_some_and(|theirs| theirs.overlaps(slot))
        });
        if hit.is_some() {
            return Ok(hit);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(None),
        }
    }
}

fn conflict(other: &Record<Appointment>) -> AppError {
    let id = other.meta.id;
    AppError::Conflict {
        code: "SCHEDULE_CONFLICT",
        detail: format!(
            "the assigned provider already has appointment {id} from {} to {}",
            other.data.start_datetime, other.data.end_datetime
        ),
        errors: vec![FieldError::new("assigned_provider", "schedule_conflict", format!("overlaps appointment {id}"))],
    }
}
