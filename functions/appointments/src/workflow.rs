//! The appointment's status state machine, and the two named actions built on it.
//!
//! | from          | may become                                                       |
//! |---------------|------------------------------------------------------------------|
//! | `scheduled`   | confirmed, in_progress, completed, cancelled, no_show, rescheduled |
//! | `confirmed`   | in_progress, completed, cancelled, no_show, rescheduled          |
//! | `in_progress` | completed, cancelled                                             |
//! | `completed`, `cancelled`, `no_show`, `rescheduled` | nothing: final               |
//!
//! Keeping the same status is always allowed (an edit of other fields). A rescheduled
//! appointment is one that was moved: the new time is a new appointment, so the old one is final
//! like a cancellation. README.md carries the same table.

use crate::{Appointment, Status};
use hub_shared::auth::Tenant;
use hub_shared::domain::{Choice, Fields, Timestamp};
use hub_shared::error::{AppError, AppResult, FieldError};
use hub_shared::store::Record;
use serde_json::{Map, Value};

impl Status {
    /// The statuses this one may move to (besides itself).
    pub fn successors(self) -> &'static [Status] {
        use Status::*;
        match self {
            Scheduled => &[Confirmed, InProgress, Completed, Cancelled, NoShow, Rescheduled],
            Confirmed => &[InProgress, Completed, Cancelled, NoShow, Rescheduled],
            InProgress => &[Completed, Cancelled],
            Completed | Cancelled | NoShow | Rescheduled => &[],
        }
    }

    /// Whether the appointment still occupies its provider's time. Cancelled, no-show and
    /// rescheduled appointments free the slot for another booking.
    pub fn holds_slot(self) -> bool {
        !matches!(self, Status::Cancelled | Status::NoShow | Status::Rescheduled)
    }
}

/// `409 INVALID_TRANSITION` unless `from` may become `to`.
pub fn check_transition(from: Status, to: Status) -> AppResult<()> {
    if from == to || from.successors().contains(&to) {
        return Ok(());
    }
    Err(invalid_transition(from, to))
}

fn invalid_transition(from: Status, to: Status) -> AppError {
    let allowed: Vec<&str> = from.successors().iter().map(Choice::as_str).collect();
    let message = if allowed.is_empty() {
        format!("`{from}` is final")
    } else {
        format!("`{from}` may only become: {}", allowed.join(", "))
    };
    AppError::Conflict {
        code: "INVALID_TRANSITION",
        detail: format!("an appointment cannot go from `{from}` to `{to}`"),
        errors: vec![FieldError::new("status", "invalid_transition", message)],
    }
}

/// An action's body may only carry the `version` the client expects (or be absent).
fn check_action_body(body: &Map<String, Value>) -> AppResult<()> {
    let mut fields = Fields::new(body);
    fields.ignore(&["version"]);
    fields.finish()
}

/// `POST /{id}/confirm`: a scheduled appointment becomes confirmed, stamped `confirmed_at`.
pub fn confirm(
    current: &Record<Appointment>,
    body: &Map<String, Value>,
    _: &Tenant,
    now: Timestamp,
) -> AppResult<Appointment> {
    check_action_body(body)?;
    if current.data.status != Status::Scheduled {
        return Err(AppError::Conflict {
            code: "INVALID_TRANSITION",
            detail: format!("only a scheduled appointment can be confirmed; this one is `{}`", current.data.status),
            errors: vec![FieldError::new("status", "invalid_transition", "must be `scheduled` to confirm")],
        });
    }
    Ok(Appointment { status: Status::Confirmed, confirmed_at: Some(now), ..current.data.clone() })
}

/// `POST /{id}/cancel`: a scheduled, confirmed or in-progress appointment becomes cancelled and
/// frees its provider's time.
pub fn cancel(
    current: &Record<Appointment>,
    body: &Map<String, Value>,
    _: &Tenant,
    _: Timestamp,
) -> AppResult<Appointment> {
    check_action_body(body)?;
    // Keeping a status is allowed for edits, but cancelling twice is a mistake worth reporting.
    if current.data.status == Status::Cancelled {
        return Err(AppError::Conflict {
            code: "INVALID_TRANSITION",
            detail: "the appointment is already cancelled".into(),
            errors: vec![FieldError::new("status", "invalid_transition", "`cancelled` is final")],
        });
    }
    check_transition(current.data.status, Status::Cancelled)?;
    Ok(Appointment { status: Status::Cancelled, ..current.data.clone() })
}
