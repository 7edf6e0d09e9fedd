//! The analytics table (`HUB_ANALYTICS_TABLE`): counter items and applied states, every key
//! starting with the organization (DATA-DESIGN.md, "The analytics table").
//!
//! **Exactly once.** Each counted record has an applied state, `ORG#<org>` /
//! `APPLIED#<KIND>#<id>`: the contribution its counters currently hold for it, and the position
//! of the image that contribution came from (the record's `version`; a purge comes after the
//! last version). Applying an image of a record is one `TransactWriteItems`: the counters `ADD`
//! `contribution(image) - held`, and the applied state is replaced, conditioned on its `rev`
//! being the one read (`attribute_not_exists` the first time). An image older than the held
//! position is ignored. Hence, for every organization, at every commit:
//!
//! ```text
//! counter cell = sum over its records of held(record)[cell]
//! ```
//!
//! and each record's held contribution is that of the newest image applied. A redelivered
//! stream record is older than or equal to what is held: equal gives a difference of zero and
//! nothing is written; older is ignored. Records replayed from the dead-letter queue, out of
//! order, or a rebuild applying what it read while the stream runs, converge to the same state,
//! because only the newest image of each record counts and every write is conditioned on what
//! it read (a lost race re-reads and retries). The stream's `eventID` is kept on the applied
//! state for tracing.

use crate::counters::Contribution;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use hub_shared::auth::OrgId;
use hub_shared::error::{AppError, AppResult};
use hub_shared::store::attr::{Item, get_n, get_s, n, s};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use uuid::Uuid;

/// How often a write that lost a race (another write of the same record's state, or a
/// transaction conflict on a hot counter item) is re-read and retried before giving up; the
/// stream then retries the record later.
const ATTEMPTS: u32 = 8;

/// Where an image sits in its record's history: its `version`, and whether it is the purge
/// (the record removed), which comes after the last version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub version: u64,
    pub purged: bool,
}

/// A record's applied state, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub kind: String,
    pub id: Uuid,
    pub position: Position,
    pub held: Contribution,
    rev: u64,
}

/// What applying one image did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The counters moved.
    Changed,
    /// The counters already held exactly this (a redelivery, or a rebuild of a healthy record).
    Unchanged,
    /// A newer image of the record was already applied.
    Stale,
}

pub fn org_partition(org: Uuid) -> String {
    format!("ORG#{org}")
}

fn applied_sort(kind: &str, id: Uuid) -> String {
    format!("APPLIED#{kind}#{id}")
}

const APPLIED_PREFIX: &str = "APPLIED#";

fn storage<E: std::fmt::Debug>(what: &'static str) -> impl FnOnce(E) -> AppError {
    move |e| {
        tracing::error!(error = ?e, "analytics table: {what}");
        AppError::unavailable("the analytics store is unavailable; retry")
    }
}

#[derive(Debug, Clone)]
pub struct AnalyticsTable {
    client: Client,
    table: String,
}

impl AnalyticsTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The `HUB_ANALYTICS_TABLE` of the environment, with the SDK configuration every function uses.
    pub fn from_env(env: &hub_shared::config::Env) -> Result<Self, lambda_http::Error> {
        let table = env.required("HUB_ANALYTICS_TABLE")?.to_string();
        let sdk = hub_shared::aws::sdk_config_from(env)?;
        Ok(Self::new(hub_shared::aws::dynamodb(&sdk), table))
    }

    /// A record's applied state (consistent read).
    #[tracing::instrument(name = "analytics.applied", skip(self))]
    pub async fn applied(&self, org: Uuid, kind: &str, id: Uuid) -> AppResult<Option<Applied>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(org_partition(org)))
            .key("sk", s(applied_sort(kind, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(storage("get applied state"))?;
        Ok(out.item.as_ref().and_then(parse_applied))
    }

    /// Applies one image of a record (`target`: its contribution, empty when deleted or
    /// purged) at `position`; see the module doc. `event_id` names the stream record, if any.
    #[tracing::instrument(name = "analytics.apply", skip(self, target))]
    pub async fn apply(
        &self,
        org: Uuid,
        kind: &str,
        id: Uuid,
        position: Position,
        target: &Contribution,
        event_id: Option<&str>,
    ) -> AppResult<Outcome> {
        for attempt in 0..ATTEMPTS {
            let held = self.applied(org, kind, id).await?;
            if let Some(held) = &held {
                if held.position > position {
                    return Ok(Outcome::Stale);
                }
                if held.position == position && held.held == *target {
                    return Ok(Outcome::Unchanged);
                }
            }
            let delta = target.minus(held.as_ref().map_or(&Contribution::default(), |h| &h.held));
            match self.commit(org, kind, id, position, target, &delta, held.as_ref(), event_id).await? {
                true => return Ok(Outcome::Changed),
                false => tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt + 1))).await,
            }
        }
        Err(AppError::unavailable("the analytics counters are contended; retry"))
    }

    /// One transaction: the applied state (conditioned on what was read) and the counters.
    /// `Ok(false)` when it lost a race and must be re-read.
    #[allow(clippy::too_many_arguments)]
    async fn commit(
        &self,
        org: Uuid,
        kind: &str,
        id: Uuid,
        position: Position,
        target: &Contribution,
        delta: &Contribution,
        held: Option<&Applied>,
        event_id: Option<&str>,
    ) -> AppResult<bool> {
        let pk = org_partition(org);
        let rev = held.map_or(1, |h| h.rev + 1);
        let held_map: HashMap<String, AttributeValue> = target.to_map().into_iter().map(|(k, v)| (k, n(v))).collect();
        let mut put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s(applied_sort(kind, id)))
            .item("item_type", s("applied"))
            .item("kind", s(kind))
            .item("id", s(id.to_string()))
            .item("version", n(position.version))
            .item("purged", AttributeValue::Bool(position.purged))
            .item("rev", n(rev))
            .item("held", AttributeValue::M(held_map));
        if let Some(event_id) = event_id {
            put = put.item("event_id", s(event_id));
        }
        put = match held {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(h) => put.condition_expression("rev = :rev").expression_attribute_values(":rev", n(h.rev)),
        };
        let mut items = vec![TransactWriteItem::builder().put(put.build().map_err(AppError::internal)?).build()];
        for (item, cells) in delta.by_item() {
            let mut update = Update::builder().table_name(&self.table).key("pk", s(&pk)).key("sk", s(item));
            let mut clauses = Vec::with_capacity(cells.len());
            for (i, (attribute, amount)) in cells.iter().enumerate() {
                clauses.push(format!("#a{i} :v{i}"));
                update = update
                    .expression_attribute_names(format!("#a{i}"), *attribute)
                    .expression_attribute_values(format!(":v{i}"), n(amount));
            }
            let update = update.update_expression(format!("ADD {}", clauses.join(", ")));
            items.push(TransactWriteItem::builder().update(update.build().map_err(AppError::internal)?).build());
        }
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if lost_race(e.err()) => Ok(false),
            Err(e) => Err(storage("apply")(e)),
        }
    }

    /// Every applied state of an organization (a Query on its partition, paged): the rebuild
    /// finds there the records whose purge it must still apply.
    pub async fn applied_states(&self, org: Uuid) -> AppResult<Vec<Applied>> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(org_partition(org)))
                .expression_attribute_values(":prefix", s(APPLIED_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(storage("query applied states"))?;
            out.extend(page.items().iter().filter_map(parse_applied));
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// The counter items named by `items` (sort keys) of one organization, in one
    /// `BatchGetItem` (at most 100 keys; the summary asks for at most 16), and how many items
    /// were read. Missing items read as empty.
    #[tracing::instrument(name = "analytics.load", skip(self, items))]
    pub async fn load(&self, org: OrgId, items: &[String]) -> AppResult<(Counters, usize)> {
        let pk = org_partition(org.as_uuid());
        let mut keys = KeysAndAttributes::builder().consistent_read(true);
        for sk in items {
            keys = keys.keys(HashMap::from([("pk".to_string(), s(&pk)), ("sk".to_string(), s(sk))]));
        }
        let mut request = Some(HashMap::from([(self.table.clone(), keys.build().map_err(AppError::internal)?)]));
        let mut counters = Counters::default();
        let mut read = 0;
        // Unprocessed keys (throttling) are asked again, a bounded number of times.
        for _ in 0..5 {
            let Some(pending) = request.take().filter(|r| !r.is_empty()) else { break };
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .map_err(storage("batch get counters"))?;
            for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                read += 1;
                counters.insert(&item);
            }
            request = out.unprocessed_keys;
        }
        if request.is_some_and(|r| !r.is_empty()) {
            return Err(AppError::unavailable("the analytics store is throttled; retry"));
        }
        Ok((counters, read))
    }
}

/// A transaction cancelled because the applied state changed since it was read, or a
/// transaction conflict: re-read and retry.
fn lost_race(err: &TransactWriteItemsError) -> bool {
    match err {
        TransactWriteItemsError::TransactionCanceledException(e) => e
            .cancellation_reasons()
            .iter()
            .any(|r| matches!(r.code(), Some("ConditionalCheckFailed" | "TransactionConflict"))),
        _ => false,
    }
}

fn parse_applied(item: &Item) -> Option<Applied> {
    let kind = get_s(item, "kind")?.to_string();
    let id = Uuid::parse_str(get_s(item, "id")?).ok()?;
    let number = |name: &str| get_n::<u64>(item, name);
    let purged = item.get("purged").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
    let held = item
        .get("held")
        .and_then(|v| v.as_m().ok())
        .map(|m| {
            m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse::<i64>().ok()?))).collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Some(Applied {
        kind,
        id,
        position: Position { version: number("version")?, purged },
        held: Contribution::from_map(held),
        rev: number("rev")?,
    })
}

/// Counter values as read: item sort key -> attribute -> value. Absent reads as zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters(BTreeMap<String, BTreeMap<String, i128>>);

impl Counters {
    fn insert(&mut self, item: &Item) {
        let Some(sk) = get_s(item, "sk") else { return };
        let values = item
            .iter()
            .filter_map(|(name, value)| Some((name.clone(), value.as_n().ok()?.parse::<i128>().ok()?)))
            .collect();
        self.0.insert(sk.to_string(), values);
    }

    pub fn get(&self, item: &str, attribute: &str) -> i128 {
        self.0.get(item).and_then(|m| m.get(attribute)).copied().unwrap_or(0)
    }

    /// The attributes of one item, for the figures keyed by a value (currencies, months).
    pub fn item(&self, item: &str) -> impl Iterator<Item = (&str, i128)> {
        self.0.get(item).into_iter().flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), *v)))
    }

    /// The counters a set of contributions adds up to (the rebuild's expected values, and
    /// tests).
    pub fn from_contribution(c: &Contribution) -> Self {
        let mut out = Self::default();
        for ((item, attribute), amount) in c.cells() {
            *out.0.entry(item.clone()).or_default().entry(attribute.clone()).or_default() += i128::from(amount);
        }
        out
    }

    /// Only the non-zero values (a counter that went back to zero stays stored as 0).
    pub fn non_zero(&self) -> BTreeMap<(String, String), i128> {
        self.0
            .iter()
            .flat_map(|(item, m)| m.iter().filter(|(_, v)| **v != 0).map(move |(a, v)| ((item.clone(), a.clone()), *v)))
            .collect()
    }
}
