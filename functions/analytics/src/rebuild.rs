//! The rebuild: recomputes an organization's counters from its records, for repair and tests
//! (Lambda `analytics-rebuild`, invoked on demand; locally `infra/hub analytics-rebuild`).
//!
//! It reads every record of the organization through the store's org-scoped lists (each
//! entity's `ALL` list and its trash, a Query per page of 100), and applies each one's
//! contribution through the same conditional write as the stream ([`crate::table`]), at the
//! version it read. Then it looks for applied states of records that no longer exist (a purge
//! whose stream record was lost) and applies their purge. A healthy organization costs only
//! reads: a record whose counters already hold its contribution is not written.
//!
//! **Safe while `analytics-stream` runs.** Both write each record's applied state conditioned
//! on the one they read, and neither replaces a newer image by an older one: if the stream
//! applied version 5 while the rebuild read version 4, the rebuild's write is stale and skipped;
//! if the rebuild applied version 5 first, the stream's record of it changes nothing. Counters
//! always equal the sum of the applied states, so the rebuild repairs every record whose applied
//! state was wrong or missing, without a pause. What it cannot see is a counter item edited by
//! hand (out of step with the applied states); the repair for that is to delete the
//! organization's analytics items while `analytics-stream` is disabled and rebuild.
//!
//! All organizations: their ids come from a maintenance `Scan` of the business table
//! (`Store::organizations`: record items only, their `organization_id` projected). It is the one
//! read across organizations, never on a request path, and only this on-demand function may do
//! it (template.yaml).

use crate::counters::contribution;
use crate::table::{AnalyticsTable, Outcome, Position};
use hub_appointments::Appointment;
use hub_contacts::Contact;
use hub_documents::Document;
use hub_shared::auth::OrgId;
use hub_shared::error::{AppError, AppResult};
use hub_shared::store::{Entity, ListSpec, Store};
use hub_transactions::Transaction;
use serde::Serialize;
use std::collections::HashSet;
use uuid::Uuid;

/// What a rebuild of one organization did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RebuildReport {
    pub organization_id: Uuid,
    /// Records read (live and in the trash).
    pub records: usize,
    /// Records whose counters were corrected.
    pub changed: usize,
    pub unchanged: usize,
    /// Records the stream had meanwhile applied a newer version of.
    pub stale: usize,
    /// Records gone from the table whose purge had not been applied.
    pub purged: usize,
}

impl RebuildReport {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Changed => self.changed += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Stale => self.stale += 1,
        }
    }
}

const PAGE: usize = 100;

async fn walk<E: Entity>(
    store: &Store,
    table: &AnalyticsTable,
    org: OrgId,
    report: &mut RebuildReport,
    seen: &mut HashSet<(&'static str, Uuid)>,
) -> AppResult<()> {
    for spec in [ListSpec::<E>::all("ALL", true), Store::deleted_spec::<E>()] {
        let mut cursor: Option<String> = None;
        loop {
            let page = store.list::<E>(org, &spec, PAGE, cursor.as_deref()).await?;
            for record in &page.items {
                report.records += 1;
                seen.insert((E::KIND, record.meta.id));
                let image = match record.to_json() {
                    serde_json::Value::Object(map) => map,
                    _ => return Err(AppError::internal("a record did not serialize to an object")),
                };
                let target = contribution(E::KIND, &image).map_err(AppError::internal)?;
                let position = Position { version: record.meta.version, purged: false };
                let outcome = table.apply(org.as_uuid(), E::KIND, record.meta.id, position, &target, None).await?;
                report.count(outcome);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(())
}

async fn exists(store: &Store, org: OrgId, kind: &str, id: Uuid) -> AppResult<bool> {
    Ok(match kind {
        Contact::KIND => store.get::<Contact>(org, id).await?.is_some(),
        Appointment::KIND => store.get::<Appointment>(org, id).await?.is_some(),
        Transaction::KIND => store.get::<Transaction>(org, id).await?.is_some(),
        Document::KIND => store.get::<Document>(org, id).await?.is_some(),
        // A kind no longer counted: its state is left alone.
        _ => true,
    })
}

/// Recomputes one organization's counters; see the module doc.
#[tracing::instrument(name = "analytics.rebuild", skip(store, table), fields(org = %org.as_uuid()))]
pub async fn rebuild_org(store: &Store, table: &AnalyticsTable, org: OrgId) -> AppResult<RebuildReport> {
    let mut report = RebuildReport { organization_id: org.as_uuid(), ..Default::default() };
    let mut seen = HashSet::new();
    walk::<Contact>(store, table, org, &mut report, &mut seen).await?;
    walk::<Appointment>(store, table, org, &mut report, &mut seen).await?;
    walk::<Transaction>(store, table, org, &mut report, &mut seen).await?;
    walk::<Document>(store, table, org, &mut report, &mut seen).await?;
    for state in table.applied_states(org.as_uuid()).await? {
        let listed = seen.contains(&(state.kind.as_str(), state.id));
        if listed || state.position.purged || exists(store, org, &state.kind, state.id).await? {
            continue;
        }
        let position = Position { version: state.position.version, purged: true };
        let outcome = table.apply(org.as_uuid(), &state.kind, state.id, position, &Default::default(), None).await?;
        if outcome == Outcome::Changed {
            report.purged += 1;
        }
    }
    tracing::info!(records = report.records, changed = report.changed, purged = report.purged, "rebuild done");
    Ok(report)
}

/// Rebuilds every organization, one after the other.
pub async fn rebuild_all(store: &Store, table: &AnalyticsTable) -> AppResult<Vec<RebuildReport>> {
    let mut reports = Vec::new();
    for org in store.organizations().await? {
        reports.push(rebuild_org(store, table, OrgId::new(org)).await?);
    }
    Ok(reports)
}

/// One invocation: `{"organization_id": "<uuid>"}` for one organization, `{}` for all; the
/// answer is the reports.
pub async fn invoke(store: &Store, table: &AnalyticsTable, event: &serde_json::Value) -> AppResult<serde_json::Value> {
    let reports = match event.get("organization_id") {
        None | Some(serde_json::Value::Null) => rebuild_all(store, table).await?,
        Some(raw) => {
            let org = raw
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .filter(|u| !u.is_nil())
                .ok_or_else(|| AppError::field("organization_id", "invalid_format", "must be a UUID"))?;
            vec![rebuild_org(store, table, OrgId::new(org)).await?]
        }
    };
    Ok(serde_json::json!({ "organizations": reports }))
}
