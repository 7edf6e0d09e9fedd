//! Atomic batches: several writes of one entity in one `TransactWriteItems`, all or nothing.
//!
//! Each operation is prepared exactly as its single write prepares it (`reconcile`,
//! `before_write`, the same next state), then staged with the same staging functions into one
//! transaction. What a single write never meets is checked here before anything is sent: two
//! operations touching the same item (a record, a unique value, a lock), which one transaction
//! cannot hold, and the transaction's own limits (100 items, 4 MB).

use super::{Failure, Purpose, Store, Tx, deleted_state, stage_locks, storage_error};
use crate::auth::Tenant;
use crate::domain::Timestamp;
use crate::error::{AppError, AppResult};
use crate::store::attr::{Item, get_n, get_s, n, s};
use crate::store::entity::{Entity, Lock, Record, Unique};
use crate::store::keys::{self, ITEM_IDEMPOTENCY};
use crate::store::repo::IdempotencyKey;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::collections::HashMap;
use uuid::Uuid;

/// DynamoDB's limits on one transaction.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;

/// How long a batch's `Idempotency-Key` is remembered, as a create's.
const BATCH_KEY_TTL_SECS: i64 = super::IDEMPOTENCY_TTL_SECS;
/// A claim older than this belongs to a batch whose function died (API Gateway gives up at
/// 30 s, the function's timeout): a retry may take it over.
const STALE_CLAIM_SECS: i64 = 60;

/// One prepared write of a batch: the state it moves a record from and to.
#[derive(Debug)]
pub enum Staged<E> {
    Create(Record<E>),
    Update { current: Record<E>, next: Record<E> },
    Delete { current: Record<E>, next: Record<E> },
    Restore { current: Record<E>, next: Record<E> },
}

/// A prepared write and the locks its checks relied on.
#[derive(Debug)]
pub struct Prepared<E> {
    pub staged: Staged<E>,
    locks: Vec<Lock>,
}

impl<E> Prepared<E> {
    /// The record as it will be once the batch commits.
    pub fn next(&self) -> &Record<E> {
        match &self.staged {
            Staged::Create(next)
            | Staged::Update { next, .. }
            | Staged::Delete { next, .. }
            | Staged::Restore { next, .. } => next,
        }
    }

    fn record_id(&self) -> Uuid {
        self.next().meta.id
    }
}

/// Why an atomic batch was not applied.
#[derive(Debug)]
pub enum BatchFailure {
    /// Operation `op` (0-based) cannot be applied, for this reason; nothing was written.
    Operation { op: usize, error: AppError },
    /// The batch needs more than one transaction holds; its first `fit` operations would fit.
    TooLarge { items: usize, bytes: usize, fit: usize },
    /// The batch's `Idempotency-Key` was already used: answer with the first batch's outcome.
    Replay,
    /// The transaction as a whole failed (contention, storage).
    Whole(AppError),
}

/// What claiming a sequential batch's `Idempotency-Key` found ([`Store::claim_batch_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchClaim {
    /// The key had no item: no attempt of this batch ran before, so none left a marker.
    New,
    /// An expired key, or the stale claim of an attempt that died, now this request's: that
    /// attempt's operations may have left markers.
    TakenOver,
    /// Another request holds the key (running, or done): read it with [`Store::batch_key`].
    Held,
}

/// What a batch's `Idempotency-Key` item says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchKey {
    /// Unknown or expired: the batch is new.
    Free,
    /// Used for another request (another body or path).
    Reused,
    /// A batch with this key is running now.
    InProgress,
    /// The batch ran; its outcome as stored (JSON text).
    Done(String),
}

impl Store {
    /// A create prepared as [`Store::create`] prepares it, under a fresh id.
    pub async fn prepare_create<E: Entity>(&self, tenant: &Tenant, data: E, now: Timestamp) -> AppResult<Prepared<E>> {
        self.prepare_create_as(tenant, Uuid::new_v4(), data, now).await
    }

    /// [`Store::prepare_create`] under an id the caller chose (as [`Store::create_as`]): an
    /// import's row ids derive from the row, so a retried row finds its record.
    pub async fn prepare_create_as<E: Entity>(
        &self,
        tenant: &Tenant,
        id: Uuid,
        mut data: E,
        now: Timestamp,
    ) -> AppResult<Prepared<E>> {
        data.reconcile(None, now)?;
        let meta = crate::store::Meta::new(id, tenant.org.as_uuid(), tenant.user.user_id.as_uuid(), now);
        let record = Record { meta, data };
        let locks = record.data.before_write(self, tenant, None).await?;
        Ok(Prepared { staged: Staged::Create(record), locks })
    }

    /// An update prepared as [`Store::update`] prepares it.
    pub async fn prepare_change<E: Entity>(
        &self,
        tenant: &Tenant,
        current: Record<E>,
        data: E,
        now: Timestamp,
    ) -> AppResult<Prepared<E>> {
        let (next, locks) = self.prepare_update(tenant, &current, data, now).await?;
        Ok(Prepared { staged: Staged::Update { current, next }, locks })
    }

    /// A soft delete prepared as [`Store::soft_delete`] prepares it.
    pub fn prepare_delete<E: Entity>(
        &self,
        tenant: &Tenant,
        current: Record<E>,
        now: Timestamp,
    ) -> AppResult<Prepared<E>> {
        let next = deleted_state(tenant, &current, now)?;
        Ok(Prepared { staged: Staged::Delete { current, next }, locks: Vec::new() })
    }

    /// A restore prepared as [`Store::restore`] prepares it.
    pub async fn prepare_undelete<E: Entity>(
        &self,
        tenant: &Tenant,
        current: Record<E>,
        now: Timestamp,
    ) -> AppResult<Prepared<E>> {
        let (next, locks) = self.prepare_restore(tenant, &current, now).await?;
        Ok(Prepared { staged: Staged::Restore { current, next }, locks })
    }

    /// Applies every prepared write in one transaction, or none. With a key, the batch's
    /// `outcome` (JSON text, what a replay answers) is stored in the same transaction, so a
    /// retry can never apply the batch twice.
    #[tracing::instrument(name = "store.commit_atomic", skip_all, fields(kind = E::KIND, ops = ops.len()))]
    pub async fn commit_atomic<E: Entity>(
        &self,
        tenant: &Tenant,
        ops: &[Prepared<E>],
        key: Option<(&IdempotencyKey, &str)>,
    ) -> Result<(), BatchFailure> {
        check_disjoint(ops)?;
        let mut tx = Tx::new(&self.table, tenant.org);
        let mut fit = None;
        let mut bytes = 0;
        let reserved = usize::from(key.is_some());
        for (index, op) in ops.iter().enumerate() {
            tx.op = index;
            let before = tx.items.len();
            stage(&mut tx, op, ops).map_err(|error| BatchFailure::Operation { op: index, error })?;
            bytes += tx.items[before..].iter().map(transact_item_size).sum::<usize>();
            if fit.is_none() && (tx.items.len() + reserved > MAX_TRANSACTION_ITEMS || bytes > MAX_TRANSACTION_BYTES) {
                fit = Some(index);
            }
        }
        if let Some(fit) = fit {
            return Err(BatchFailure::TooLarge { items: tx.items.len() + reserved, bytes, fit });
        }
        if let Some((key, outcome)) = key {
            tx.op = ops.len();
            let now = Timestamp::now().as_datetime().timestamp();
            let mut item = batch_key_item(tenant, key, now);
            item.insert("state".into(), s("done"));
            item.insert("outcome".into(), s(outcome));
            let put = tx.put(item, Some(("attribute_not_exists(pk) OR expires_at < :now", vec![(":now", n(now))])));
            tx.push(Purpose::Idempotency, put).map_err(BatchFailure::Whole)?;
        }
        match self.commit(tx).await {
            Ok(()) => Ok(()),
            Err(Failure::Condition(Purpose::Idempotency, _)) => Err(BatchFailure::Replay),
            Err(failure @ Failure::Condition(_, op)) => {
                Err(BatchFailure::Operation { op, error: failure.into_error::<E>() })
            }
            Err(failure) => Err(BatchFailure::Whole(failure.into_error::<E>())),
        }
    }

    /// What a batch's `Idempotency-Key` says now.
    pub async fn batch_key(&self, tenant: &Tenant, key: &IdempotencyKey) -> AppResult<BatchKey> {
        let item = self.idempotency_item(tenant, key).await?;
        let now = Timestamp::now().as_datetime().timestamp();
        let Some(item) = item.filter(|item| get_n::<i64>(item, "expires_at").is_some_and(|at| at >= now)) else {
            return Ok(BatchKey::Free);
        };
        if get_s(&item, "request_hash") != Some(key.request_hash.as_str()) {
            return Ok(BatchKey::Reused);
        }
        Ok(match (get_s(&item, "state"), get_s(&item, "outcome")) {
            (Some("done"), Some(outcome)) => BatchKey::Done(outcome.to_string()),
            _ if get_n::<i64>(&item, "claimed_at").is_some_and(|at| at < now - STALE_CLAIM_SECS) => BatchKey::Free,
            _ => BatchKey::InProgress,
        })
    }

    /// The record an operation of a keyed batch wrote under `key` before (an earlier attempt
    /// of the same batch), as it is now, deleted or not; `None` when it wrote nothing. A key
    /// from another request is `409 IDEMPOTENCY_KEY_REUSED`.
    pub async fn written_under<E: Entity>(
        &self,
        tenant: &Tenant,
        key: &IdempotencyKey,
    ) -> AppResult<Option<Record<E>>> {
        let now = Timestamp::now().as_datetime().timestamp();
        let Some(item) = self
            .idempotency_item(tenant, key)
            .await?
            .filter(|item| get_n::<i64>(item, "expires_at").is_some_and(|at| at >= now))
        else {
            return Ok(None);
        };
        if get_s(&item, "request_hash") != Some(key.request_hash.as_str()) {
            return Err(AppError::Conflict {
                code: "IDEMPOTENCY_KEY_REUSED",
                detail: "this Idempotency-Key was already used for a different request".into(),
                errors: vec![],
            });
        }
        match get_s(&item, "record_id").and_then(|raw| Uuid::parse_str(raw).ok()) {
            Some(id) => self.get::<E>(tenant.org, id).await,
            None => Ok(None),
        }
    }

    /// Claims a batch's key before its operations run one by one. A claim left by a dead
    /// function can be taken over once stale; the item it replaces (`ALL_OLD`) tells a new key
    /// from a taken-over one.
    pub async fn claim_batch_key(&self, tenant: &Tenant, key: &IdempotencyKey) -> AppResult<BatchClaim> {
        let now = Timestamp::now().as_datetime().timestamp();
        let mut item = batch_key_item(tenant, key, now);
        item.insert("state".into(), s("running"));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now \
                 OR (#state = :running AND claimed_at < :stale AND request_hash = :hash)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":stale", n(now - STALE_CLAIM_SECS))
            .expression_attribute_values(":hash", s(&key.request_hash))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) if out.attributes().is_some_and(|old| !old.is_empty()) => Ok(BatchClaim::TakenOver),
            Ok(_) => Ok(BatchClaim::New),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(BatchClaim::Held)
            }
            Err(err) => Err(storage_error(err)),
        }
    }

    /// Stores the outcome of a batch whose key this request claimed.
    pub async fn finish_batch_key(&self, tenant: &Tenant, key: &IdempotencyKey, outcome: &str) -> AppResult<()> {
        let now = Timestamp::now().as_datetime().timestamp();
        let mut item = batch_key_item(tenant, key, now);
        item.insert("state".into(), s("done"));
        item.insert("outcome".into(), s(outcome));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(storage_error)?;
        Ok(())
    }
}

fn batch_key_item(tenant: &Tenant, key: &IdempotencyKey, now: i64) -> Item {
    HashMap::from([
        ("pk".to_string(), s(keys::org_partition(tenant.org))),
        ("sk".to_string(), s(keys::idempotency_sort(tenant.user.user_id.as_uuid(), &key.key))),
        ("item_type".to_string(), s(ITEM_IDEMPOTENCY)),
        ("request_hash".to_string(), s(&key.request_hash)),
        ("claimed_at".to_string(), n(now)),
        ("expires_at".to_string(), n(now + BATCH_KEY_TTL_SECS)),
    ])
}

/// Stages one operation. References to records this batch writes are not checked against the
/// table (one transaction may not touch an item twice): the batch itself decides them.
fn stage<E: Entity>(tx: &mut Tx<'_>, op: &Prepared<E>, all: &[Prepared<E>]) -> AppResult<()> {
    let own = op.record_id();
    let mut skip = Vec::new();
    for reference in op.next().data.references().iter().filter(|r| r.kind == E::KIND && r.id != own) {
        if let Some(target) = all.iter().find(|other| other.record_id() == reference.id) {
            if matches!(target.staged, Staged::Delete { .. }) {
                return Err(AppError::related_not_found(
                    reference.field,
                    "is deleted by another operation of this batch",
                ));
            }
            skip.push(reference.id);
        }
    }
    match &op.staged {
        Staged::Create(record) => tx.stage_create(record, &skip)?,
        Staged::Update { current, next } => tx.stage_update(current, next, &skip)?,
        Staged::Delete { current, next } => tx.stage_soft_delete(current, next)?,
        Staged::Restore { current, next } => tx.stage_restore(current, next, &skip)?,
    }
    stage_locks(tx, &op.locks)
}

/// The unique values an operation claims and releases.
fn uniques_touched<E: Entity>(op: &Prepared<E>) -> Vec<(Unique, bool)> {
    let claims = |u: Vec<Unique>| u.into_iter().map(|u| (u, true)).collect::<Vec<_>>();
    match &op.staged {
        Staged::Create(record) | Staged::Restore { next: record, .. } => claims(record.data.unique_values()),
        Staged::Delete { current, .. } => current.data.unique_values().into_iter().map(|u| (u, false)).collect(),
        Staged::Update { current, next } => {
            let (old, new) = (current.data.unique_values(), next.data.unique_values());
            let released = old.iter().filter(|o| !new.contains(o)).map(|u| (u.clone(), false));
            let claimed = new.iter().filter(|n| !old.contains(n)).map(|u| (u.clone(), true));
            released.chain(claimed).collect()
        }
    }
}

/// Refuses, naming the later operation, a batch where two operations touch the same item.
fn check_disjoint<E: Entity>(ops: &[Prepared<E>]) -> Result<(), BatchFailure> {
    let fail = |op, error| Err(BatchFailure::Operation { op, error });
    let mut records: HashMap<Uuid, usize> = HashMap::new();
    let mut uniques: HashMap<(&'static str, String), (usize, bool)> = HashMap::new();
    let mut locks: HashMap<&str, usize> = HashMap::new();
    for (index, op) in ops.iter().enumerate() {
        if let Some(first) = records.insert(op.record_id(), index) {
            return fail(index, not_atomic(format!("operation {first} already writes this {} in this batch", E::NAME)));
        }
        for (unique, claimed) in uniques_touched(op) {
            let field = unique.field;
            match uniques.insert((field, unique.value), (index, claimed)) {
                Some((first, true)) if claimed => {
                    let error = AppError::Conflict {
                        code: "UNIQUE_CONFLICT",
                        detail: format!("operation {first} of this batch already uses this {field}"),
                        errors: vec![crate::error::FieldError::new(field, "duplicate", "is used by another operation")],
                    };
                    return fail(index, error);
                }
                Some((first, _)) => {
                    return fail(index, not_atomic(format!("operation {first} also changes who holds this {field}")));
                }
                None => {}
            }
        }
        for lock in &op.locks {
            if let Some(first) = locks.insert(lock.name.as_str(), index) {
                return fail(
                    index,
                    not_atomic(format!(
                        "operation {first} changes the same schedule; one transaction cannot check the two against \
                         each other"
                    )),
                );
            }
        }
    }
    Ok(())
}

fn not_atomic(detail: String) -> AppError {
    AppError::Unprocessable {
        code: "NOT_ATOMIC",
        detail: format!("{detail}: send it in another request or without `atomic`"),
        errors: Vec::new(),
    }
}

/// The size DynamoDB counts for an item of a transaction (names and values, roughly as it
/// bills them), for the 4 MB limit.
fn transact_item_size(item: &aws_sdk_dynamodb::types::TransactWriteItem) -> usize {
    let attributes = item
        .put()
        .map(|p| p.item())
        .or_else(|| item.delete().map(|d| d.key()))
        .or_else(|| item.condition_check().map(|c| c.key()))
        .or_else(|| item.update().map(|u| u.key()));
    attributes.map_or(0, |map| map.iter().map(|(name, value)| name.len() + value_size(value)).sum())
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) | AttributeValue::N(text) => text.len(),
        AttributeValue::B(blob) => blob.as_ref().len(),
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
        AttributeValue::Ss(set) | AttributeValue::Ns(set) => set.iter().map(String::len).sum(),
        _ => 1,
    }
}
