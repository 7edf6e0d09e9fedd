//! Structured JSON logs. One line per request with its id, the function, the organization and
//! user ids, latency and status, plus whatever the code logs inside the request's span.
//!
//! Never log personal data: names, e-mails, phone numbers, medical or insurance numbers, free
//! text. Ids are pseudonymous and allowed. The level comes from `HUB_LOG_LEVEL` (a plain level,
//! not a filter expression: parsing a filter costs a regex compile at every cold start).

use std::sync::atomic::{AtomicBool, Ordering};
use tracing::level_filters::LevelFilter;

static COLD: AtomicBool = AtomicBool::new(true);

pub fn init(function: &'static str) {
    init_with_level(function, &std::env::var("HUB_LOG_LEVEL").unwrap_or_default());
}

/// As [`init`], at `level` (`error` ... `trace`; anything else is `info`).
pub fn init_with_level(function: &'static str, level: &str) {
    let level = level.parse::<LevelFilter>().unwrap_or(LevelFilter::INFO);
    let result = tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .try_init();
    if result.is_err() {
        // Already initialised (tests drive several functions in one process): keep the first.
        return;
    }
    tracing::debug!(function, "telemetry ready");
}

/// The span every log line of one invocation is recorded in.
pub fn request_span(function: &'static str, request_id: &str) -> tracing::Span {
    let cold_start = COLD.swap(false, Ordering::Relaxed);
    tracing::info_span!(
        "request",
        function,
        request_id = %request_id,
        cold_start,
        org_id = tracing::field::Empty,
        user_id = tracing::field::Empty,
    )
}
