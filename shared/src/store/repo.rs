use super::attr::{Item, get_n, get_s, n, object_to_item, s};
use super::cursor::{CursorSigner, Position};
use super::entity::{Entity, IndexEntry, ListSpec, Lock, Meta, Record, Reference, SortRange, Unique};
use super::keys::{self, DELETED_INDEX, ITEM_IDEMPOTENCY, ITEM_INDEX, ITEM_LOCK, ITEM_RECORD, ITEM_UNIQUE};
use crate::auth::{OrgId, Tenant};
use crate::config::{ConfigError, Env, StoreConfig};
use crate::domain::Timestamp;
use crate::error::{AppError, AppResult, FieldError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem};
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

mod batch;
mod import;
mod maintenance;
pub use batch::{BatchClaim, BatchFailure, BatchKey, MAX_TRANSACTION_ITEMS, Prepared, Staged};
pub use import::StoredImport;
pub use maintenance::Due;

/// How long a POST's `Idempotency-Key` is remembered.
const IDEMPOTENCY_TTL_SECS: i64 = 24 * 3600;
/// Concurrent single-record transactions in a bulk operation: enough to finish 100 ids well
/// inside API Gateway's 30 s, few enough not to throttle an on-demand table's new partition.
const BULK_CONCURRENCY: usize = 10;

/// The org-scoped repository. One per container, shared by every request.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
    cursors: CursorSigner,
}

/// One page of a list.
#[derive(Debug)]
pub struct Page<E> {
    pub items: Vec<Record<E>>,
    pub next_cursor: Option<String>,
    /// Items the Query read: at most page_size + 1, whatever the partition holds.
    pub scanned: usize,
}

/// The result of a create: `replayed` when an earlier request with the same idempotency key
/// had already created it.
#[derive(Debug)]
pub struct Created<E> {
    pub record: Record<E>,
    pub replayed: bool,
}

/// A client's `Idempotency-Key`, with a hash of the request it came with, so a key reused for
/// a different request is refused rather than answered with the wrong record.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
}

/// What happened to one id of a bulk operation.
#[derive(Debug)]
pub enum BulkOutcome<E> {
    Done(Box<Record<E>>),
    Failed(AppError),
}

/// Why a transaction item exists, so a cancellation reason can be mapped to the right answer.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    Record,
    Unique(&'static str),
    Idempotency,
    Entry,
    Reference(&'static str),
    Lock,
}

enum Failure {
    /// A condition failed: why the item was there, and the operation of a batch it belongs to
    /// (always 0 outside a batch).
    Condition(Purpose, usize),
    Contention,
    Storage(AppError),
}

/// The items of one `TransactWriteItems`, each with its purpose and the batch operation it
/// belongs to (`op`, set while that operation is staged), so a failure names its operation.
struct Tx<'a> {
    table: &'a str,
    org: OrgId,
    items: Vec<TransactWriteItem>,
    purposes: Vec<(Purpose, usize)>,
    op: usize,
    /// The records a condition of this transaction already checks: one transaction may not
    /// touch an item twice, so two writes naming the same contact share one check.
    checked: Vec<(&'static str, Uuid)>,
}

/// The condition a record write carries.
enum Expect {
    /// The record must not exist yet.
    New,
    /// The record must be at this version, and deleted or not as said.
    Version { version: u64, deleted: bool },
}

impl<'a> Tx<'a> {
    fn new(table: &'a str, org: OrgId) -> Self {
        Self { table, org, items: Vec::new(), purposes: Vec::new(), op: 0, checked: Vec::new() }
    }

    fn push(&mut self, purpose: Purpose, item: Result<TransactWriteItem, AppError>) -> AppResult<()> {
        self.items.push(item?);
        self.purposes.push((purpose, self.op));
        Ok(())
    }

    fn put(&self, item: Item, condition: Option<(&str, Vec<(&str, AttributeValue)>)>) -> AppResult<TransactWriteItem> {
        let mut put = Put::builder().table_name(self.table).set_item(Some(item));
        if let Some((expression, values)) = condition {
            put = put.condition_expression(expression);
            for (name, value) in values {
                put = put.expression_attribute_values(name, value);
            }
        }
        let put = put.build().map_err(AppError::internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn delete(
        &self,
        pk: String,
        sk: String,
        condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
    ) -> AppResult<TransactWriteItem> {
        let mut delete = Delete::builder().table_name(self.table).key("pk", s(pk)).key("sk", s(sk));
        if let Some((expression, values)) = condition {
            delete = delete.condition_expression(expression);
            for (name, value) in values {
                delete = delete.expression_attribute_values(name, value);
            }
        }
        let delete = delete.build().map_err(AppError::internal)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    fn record_item<E: Entity>(&self, record: &Record<E>) -> Item {
        let mut item = object_to_item(&record.stored_object());
        item.insert("pk".into(), s(keys::org_partition(self.org)));
        item.insert("sk".into(), s(keys::record_sort(E::KIND, record.meta.id)));
        item.insert("item_type".into(), s(ITEM_RECORD));
        item.insert("entity".into(), s(E::KIND));
        item
    }

    fn put_record<E: Entity>(&mut self, record: &Record<E>, expect: Expect) -> AppResult<()> {
        let mut item = self.record_item(record);
        // The sparse retention index: only the record item (never its list entries) carries
        // its key, so the index holds one item per record with a retention date.
        if let Some(due) = record.data.retention_date(&record.meta) {
            item.insert(keys::RETENTION_PK.into(), s(keys::retention_partition(record.meta.id)));
            item.insert(keys::RETENTION_DUE.into(), s(due.to_string()));
        }
        let put = match expect {
            Expect::New => self.put(item, Some(("attribute_not_exists(pk)", vec![]))),
            Expect::Version { version, deleted } => self.put(
                item,
                Some((
                    "attribute_exists(pk) AND version = :expected AND is_deleted = :deleted",
                    vec![(":expected", n(version)), (":deleted", AttributeValue::Bool(deleted))],
                )),
            ),
        };
        self.push(Purpose::Record, put)
    }

    /// A list entry: a full copy of the record under an org-leading list partition, so a page
    /// needs no second read per item.
    fn put_entry<E: Entity>(&mut self, record: &Record<E>, entry: &IndexEntry) -> AppResult<()> {
        let mut item = self.record_item(record);
        item.insert("record_sk".into(), s(keys::record_sort(E::KIND, record.meta.id)));
        item.insert("pk".into(), s(keys::index_partition(self.org, E::KIND, &entry.index)));
        item.insert("sk".into(), s(keys::index_sort(&entry.sort, record.meta.id)));
        item.insert("item_type".into(), s(ITEM_INDEX));
        let put = self.put(item, None);
        self.push(Purpose::Entry, put)
    }

    fn delete_entry<E: Entity>(&mut self, id: Uuid, entry: &IndexEntry) -> AppResult<()> {
        let delete = self.delete(
            keys::index_partition(self.org, E::KIND, &entry.index),
            keys::index_sort(&entry.sort, id),
            None,
        );
        self.push(Purpose::Entry, delete)
    }

    /// Moves a record's list entries from `old` to `new`: entries whose key is unchanged are
    /// overwritten in place (one transaction may not touch an item twice).
    fn replace_entries<E: Entity>(
        &mut self,
        record: &Record<E>,
        old: &[IndexEntry],
        new: &[IndexEntry],
    ) -> AppResult<()> {
        for entry in old.iter().filter(|o| !new.contains(o)) {
            self.delete_entry::<E>(record.meta.id, entry)?;
        }
        for entry in new {
            self.put_entry(record, entry)?;
        }
        Ok(())
    }

    fn claim_unique<E: Entity>(&mut self, unique: &Unique, owner: Uuid) -> AppResult<()> {
        let item: Item = HashMap::from([
            ("pk".to_string(), s(keys::org_partition(self.org))),
            ("sk".to_string(), s(keys::unique_sort(E::KIND, unique.field, &unique.value))),
            ("item_type".to_string(), s(ITEM_UNIQUE)),
            ("owner_id".to_string(), s(owner.to_string())),
        ]);
        let put = self.put(item, Some(("attribute_not_exists(pk)", vec![])));
        self.push(Purpose::Unique(unique.field), put)
    }

    fn release_unique<E: Entity>(&mut self, unique: &Unique, owner: Uuid) -> AppResult<()> {
        // Only the owner's marker is removed; a missing one (never claimed) does not block.
        let delete = self.delete(
            keys::org_partition(self.org),
            keys::unique_sort(E::KIND, unique.field, &unique.value),
            Some(("attribute_not_exists(pk) OR owner_id = :owner", vec![(":owner", s(owner.to_string()))])),
        );
        self.push(Purpose::Unique(unique.field), delete)
    }

    fn move_uniques<E: Entity>(&mut self, old: &[Unique], new: &[Unique], owner: Uuid) -> AppResult<()> {
        for unique in old.iter().filter(|o| !new.contains(o)) {
            self.release_unique::<E>(unique, owner)?;
        }
        for unique in new.iter().filter(|n| !old.contains(n)) {
            self.claim_unique::<E>(unique, owner)?;
        }
        Ok(())
    }

    /// The referenced record must exist in this organization and be live when the transaction
    /// commits.
    fn check_reference(&mut self, reference: &Reference) -> AppResult<()> {
        let check = ConditionCheck::builder()
            .table_name(self.table)
            .key("pk", s(keys::org_partition(self.org)))
            .key("sk", s(keys::record_sort(reference.kind, reference.id)))
            .condition_expression("attribute_exists(pk) AND item_type = :record AND is_deleted = :false")
            .expression_attribute_values(":record", s(ITEM_RECORD))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build()
            .map_err(AppError::internal);
        let item = check.map(|c| TransactWriteItem::builder().condition_check(c).build());
        self.push(Purpose::Reference(reference.field), item)
    }

    fn bump_lock(&mut self, lock: &Lock) -> AppResult<()> {
        let item: Item = HashMap::from([
            ("pk".to_string(), s(keys::org_partition(self.org))),
            ("sk".to_string(), s(keys::lock_sort(&lock.name))),
            ("item_type".to_string(), s(ITEM_LOCK)),
            ("n".to_string(), n(lock.seen + 1)),
        ]);
        let put = if lock.seen == 0 {
            self.put(item, Some(("attribute_not_exists(pk)", vec![])))
        } else {
            self.put(item, Some(("n = :seen", vec![(":seen", n(lock.seen))])))
        };
        self.push(Purpose::Lock, put)
    }

    /// The update of a live record from `current` to `next`: version-checked, list entries and
    /// unique values moved, new references checked (unless `skip` holds their target, written
    /// in this same transaction with its own condition).
    fn stage_update<E: Entity>(&mut self, current: &Record<E>, next: &Record<E>, skip: &[Uuid]) -> AppResult<()> {
        self.put_record(next, Expect::Version { version: current.meta.version, deleted: false })?;
        self.replace_entries(next, &current.data.index_entries(&current.meta), &next.data.index_entries(&next.meta))?;
        self.move_uniques::<E>(&current.data.unique_values(), &next.data.unique_values(), next.meta.id)?;
        let old = current.data.references();
        let new: Vec<Reference> = next.data.references().into_iter().filter(|r| !old.contains(r)).collect();
        self.check_references::<E>(&new, next.meta.id, skip)
    }

    /// A new record: its item (which must not exist yet), list entries, unique values claimed,
    /// references checked (but those in `skip`, written in this same transaction).
    fn stage_create<E: Entity>(&mut self, record: &Record<E>, skip: &[Uuid]) -> AppResult<()> {
        self.put_record(record, Expect::New)?;
        for entry in record.data.index_entries(&record.meta) {
            self.put_entry(record, &entry)?;
        }
        for unique in record.data.unique_values() {
            self.claim_unique::<E>(&unique, record.meta.id)?;
        }
        self.check_references::<E>(&record.data.references(), record.meta.id, skip)
    }

    /// A soft delete from `current` to `next` (see [`deleted_state`]): the record leaves its
    /// lists for the trash and frees its unique values.
    fn stage_soft_delete<E: Entity>(&mut self, current: &Record<E>, next: &Record<E>) -> AppResult<()> {
        self.put_record(next, Expect::Version { version: current.meta.version, deleted: false })?;
        for entry in current.data.index_entries(&current.meta) {
            self.delete_entry::<E>(next.meta.id, &entry)?;
        }
        let deleted_at = next.meta.deleted_at.ok_or_else(|| AppError::internal("deleted record without deleted_at"))?;
        self.put_entry(next, &trash_entry(deleted_at))?;
        for unique in current.data.unique_values() {
            self.release_unique::<E>(&unique, next.meta.id)?;
        }
        Ok(())
    }

    /// A restore from the trash: back in its lists, its unique values claimed again, and only if
    /// what it names is still there (restore the contact first).
    fn stage_restore<E: Entity>(&mut self, current: &Record<E>, next: &Record<E>, skip: &[Uuid]) -> AppResult<()> {
        let deleted_at =
            current.meta.deleted_at.ok_or_else(|| AppError::internal("deleted record without deleted_at"))?;
        self.put_record(next, Expect::Version { version: current.meta.version, deleted: true })?;
        self.delete_entry::<E>(next.meta.id, &trash_entry(deleted_at))?;
        for entry in next.data.index_entries(&next.meta) {
            self.put_entry(next, &entry)?;
        }
        for unique in next.data.unique_values() {
            self.claim_unique::<E>(&unique, next.meta.id)?;
        }
        self.check_references::<E>(&next.data.references(), next.meta.id, skip)
    }

    /// One condition per referenced record in the whole transaction (an atomic batch's writes
    /// may name the same contact): a transaction may not touch an item twice.
    fn check_references<E: Entity>(&mut self, references: &[Reference], own: Uuid, skip: &[Uuid]) -> AppResult<()> {
        for reference in references {
            if reference.kind == E::KIND && reference.id == own {
                return Err(AppError::related_not_found(reference.field, "must not name the record itself"));
            }
            let key = (reference.kind, reference.id);
            if skip.contains(&reference.id) || self.checked.contains(&key) {
                continue;
            }
            self.checked.push(key);
            self.check_reference(reference)?;
        }
        Ok(())
    }

    fn put_idempotency(&mut self, user: Uuid, key: &IdempotencyKey, record_id: Uuid, now: Timestamp) -> AppResult<()> {
        let epoch = now.as_datetime().timestamp();
        let item: Item = HashMap::from([
            ("pk".to_string(), s(keys::org_partition(self.org))),
            ("sk".to_string(), s(keys::idempotency_sort(user, &key.key))),
            ("item_type".to_string(), s(ITEM_IDEMPOTENCY)),
            ("record_id".to_string(), s(record_id.to_string())),
            ("request_hash".to_string(), s(key.request_hash.clone())),
            ("expires_at".to_string(), n(epoch + IDEMPOTENCY_TTL_SECS)),
        ]);
        // An expired key not yet swept by TTL may be reused.
        let put = self.put(item, Some(("attribute_not_exists(pk) OR expires_at < :now", vec![(":now", n(epoch))])));
        self.push(Purpose::Idempotency, put)
    }
}

impl Store {
    pub fn new(client: Client, config: &StoreConfig) -> Self {
        Self { client, table: config.table.clone(), cursors: CursorSigner::new(config.cursor_secret.clone()) }
    }

    /// The business table's store from the environment (`HUB_TABLE`, `HUB_CURSOR_SECRET`), for
    /// the functions without the HTTP adapter's [`crate::http::Services`] (retention, rebuild).
    pub fn from_env(env: &Env, sdk: &aws_types::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(crate::aws::dynamodb(sdk), &StoreConfig::from_env(env)?))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The signer of this store's cursors, for other paginated reads (the audit API) whose
    /// cursors must be just as unforgeable.
    pub fn cursors(&self) -> &CursorSigner {
        &self.cursors
    }

    /// A record by id, deleted or not; `None` when it does not exist in this organization.
    #[tracing::instrument(name = "store.get", skip_all, fields(kind = E::KIND))]
    pub async fn get<E: Entity>(&self, org: OrgId, id: Uuid) -> AppResult<Option<Record<E>>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::org_partition(org)))
            .key("sk", s(keys::record_sort(E::KIND, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(storage_error)?;
        match out.item {
            Some(item) if get_s(&item, "item_type") == Some(ITEM_RECORD) => Record::from_item(&item)
                .map(Some)
                .ok_or_else(|| AppError::internal(format!("stored {} {id} does not decode", E::NAME))),
            _ => Ok(None),
        }
    }

    /// A live record, or 404: missing, deleted and foreign records look the same.
    pub async fn get_live<E: Entity>(&self, org: OrgId, id: Uuid) -> AppResult<Record<E>> {
        match self.get::<E>(org, id).await? {
            Some(record) if !record.meta.is_deleted => Ok(record),
            _ => Err(AppError::NotFound { resource: E::NAME }),
        }
    }

    pub async fn create<E: Entity>(
        &self,
        tenant: &Tenant,
        data: E,
        idempotency: Option<&IdempotencyKey>,
    ) -> AppResult<Created<E>> {
        self.create_with(tenant, data, idempotency, Vec::new()).await
    }

    /// Creates a record and, in the same transaction, applies `also`: updates of other records
    /// of the same entity (e.g. the original of a refund), each from the state the caller read.
    pub async fn create_with<E: Entity>(
        &self,
        tenant: &Tenant,
        data: E,
        idempotency: Option<&IdempotencyKey>,
        also: Vec<(&Record<E>, E)>,
    ) -> AppResult<Created<E>> {
        self.create_as(tenant, Uuid::new_v4(), data, idempotency, also).await
    }

    /// `create_with` under an id the caller chose beforehand (a fresh v4 UUID), for records
    /// whose fields must embed their own id (a document's storage key). An id already taken
    /// fails the write like any other condition.
    #[tracing::instrument(name = "store.create", skip_all, fields(kind = E::KIND))]
    pub async fn create_as<E: Entity>(
        &self,
        tenant: &Tenant,
        id: Uuid,
        mut data: E,
        idempotency: Option<&IdempotencyKey>,
        also: Vec<(&Record<E>, E)>,
    ) -> AppResult<Created<E>> {
        let now = Timestamp::now();
        data.reconcile(None, now)?;
        let user = tenant.user.user_id.as_uuid();
        let meta = Meta::new(id, tenant.org.as_uuid(), user, now);
        let record = Record { meta, data };
        let mut locks = record.data.before_write(self, tenant, None).await?;
        let mut others = Vec::with_capacity(also.len());
        for (current, data) in also {
            let (next, more) = self.prepare_update(tenant, current, data, now).await?;
            locks.extend(more);
            others.push((current, next));
        }
        let written: Vec<Uuid> = others.iter().map(|(c, _)| c.meta.id).collect();
        let mut tx = Tx::new(&self.table, tenant.org);
        tx.stage_create(&record, &written)?;
        for (current, next) in &others {
            tx.stage_update(current, next, &[])?;
        }
        stage_locks(&mut tx, &locks)?;
        if let Some(key) = idempotency {
            tx.put_idempotency(user, key, record.meta.id, now)?;
        }
        match self.commit(tx).await {
            Ok(()) => Ok(Created { record, replayed: false }),
            Err(Failure::Condition(Purpose::Idempotency, _)) => match idempotency {
                Some(key) => self.replay(tenant, key).await,
                None => Err(AppError::internal("idempotency condition without a key")),
            },
            Err(failure) => Err(failure.into_error::<E>()),
        }
    }

    /// The record an earlier request with this `Idempotency-Key` created, if the key is known
    /// and unexpired. For operations whose own checks would refuse a retry once the first
    /// attempt changed the state (a full refund moves its original to `refunded`), so they can
    /// answer the replay before checking.
    pub async fn replayed<E: Entity>(&self, tenant: &Tenant, key: &IdempotencyKey) -> AppResult<Option<Created<E>>> {
        let now = Timestamp::now().as_datetime().timestamp();
        let live = self
            .idempotency_item(tenant, key)
            .await?
            .as_ref()
            .and_then(|item| get_n::<i64>(item, "expires_at"))
            .is_some_and(|expires| expires >= now);
        if live { self.replay(tenant, key).await.map(Some) } else { Ok(None) }
    }

    async fn idempotency_item(&self, tenant: &Tenant, key: &IdempotencyKey) -> AppResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::org_partition(tenant.org)))
            .key("sk", s(keys::idempotency_sort(tenant.user.user_id.as_uuid(), &key.key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(storage_error)?;
        Ok(out.item)
    }

    async fn replay<E: Entity>(&self, tenant: &Tenant, key: &IdempotencyKey) -> AppResult<Created<E>> {
        let item = self
            .idempotency_item(tenant, key)
            .await?
            .ok_or_else(|| AppError::conflict("CONCURRENT_MODIFICATION", "retry the request"))?;
        if get_s(&item, "request_hash") != Some(key.request_hash.as_str()) {
            return Err(AppError::Conflict {
                code: "IDEMPOTENCY_KEY_REUSED",
                detail: "this Idempotency-Key was already used for a different request".into(),
                errors: vec![],
            });
        }
        let id = get_s(&item, "record_id")
            .and_then(|raw| Uuid::parse_str(raw).ok())
            .ok_or_else(|| AppError::internal("idempotency item without a record id"))?;
        match self.get::<E>(tenant.org, id).await? {
            Some(record) if !record.meta.is_deleted => Ok(Created { record, replayed: true }),
            _ => Err(AppError::conflict(
                "IDEMPOTENCY_KEY_REUSED",
                format!("the {} this Idempotency-Key created has since been deleted", E::NAME),
            )),
        }
    }

    /// Replaces a live record's fields. `current` is what the caller read; the write succeeds
    /// only if the record is still at that version, so a concurrent writer gets 409.
    #[tracing::instrument(name = "store.update", skip_all, fields(kind = E::KIND))]
    pub async fn update<E: Entity>(&self, tenant: &Tenant, current: &Record<E>, data: E) -> AppResult<Record<E>> {
        self.update_keyed(tenant, current, data, None).await
    }

    /// [`Store::update`], leaving `key`'s marker in the same transaction when given (a keyed
    /// batch's operation: its retry finds the marker and does not write again).
    pub async fn update_keyed<E: Entity>(
        &self,
        tenant: &Tenant,
        current: &Record<E>,
        data: E,
        key: Option<&IdempotencyKey>,
    ) -> AppResult<Record<E>> {
        let now = Timestamp::now();
        let (next, locks) = self.prepare_update(tenant, current, data, now).await?;
        let mut tx = Tx::new(&self.table, tenant.org);
        tx.stage_update(current, &next, &[])?;
        stage_locks(&mut tx, &locks)?;
        stage_key(&mut tx, tenant, key, next.meta.id, now)?;
        self.commit(tx).await.map_err(Failure::into_error::<E>)?;
        Ok(next)
    }

    /// The next state of a live record and the locks its `before_write` asks for.
    async fn prepare_update<E: Entity>(
        &self,
        tenant: &Tenant,
        current: &Record<E>,
        mut data: E,
        now: Timestamp,
    ) -> AppResult<(Record<E>, Vec<Lock>)> {
        if current.meta.is_deleted {
            return Err(AppError::NotFound { resource: E::NAME });
        }
        data.reconcile(Some(&current.data), now)?;
        if current.meta.anonymized_at.is_some() {
            refuse_reidentification(&current.data, &data)?;
        }
        let meta = Meta {
            updated_at: now,
            updated_by: tenant.user.user_id.as_uuid(),
            version: current.meta.version + 1,
            ..current.meta.clone()
        };
        let next = Record { meta, data };
        let locks = next.data.before_write(self, tenant, Some(current)).await?;
        Ok((next, locks))
    }

    /// The current value of an optimistic lock of this organization (0 if never taken).
    pub async fn lock(&self, org: OrgId, name: &str) -> AppResult<Lock> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::org_partition(org)))
            .key("sk", s(keys::lock_sort(name)))
            .consistent_read(true)
            .send()
            .await
            .map_err(storage_error)?;
        let seen = out.item.as_ref().and_then(|item| get_n::<u64>(item, "n")).unwrap_or(0);
        Ok(Lock { name: name.to_string(), seen })
    }

    /// Soft delete: the record stays (restorable), leaves every list, enters the trash, and
    /// frees its unique values.
    #[tracing::instrument(name = "store.soft_delete", skip_all, fields(kind = E::KIND))]
    pub async fn soft_delete<E: Entity>(&self, tenant: &Tenant, current: &Record<E>) -> AppResult<Record<E>> {
        self.soft_delete_keyed(tenant, current, None).await
    }

    /// [`Store::soft_delete`] with `key`'s marker (see [`Store::update_keyed`]).
    pub async fn soft_delete_keyed<E: Entity>(
        &self,
        tenant: &Tenant,
        current: &Record<E>,
        key: Option<&IdempotencyKey>,
    ) -> AppResult<Record<E>> {
        let now = Timestamp::now();
        let next = deleted_state(tenant, current, now)?;
        let mut tx = Tx::new(&self.table, tenant.org);
        tx.stage_soft_delete(current, &next)?;
        stage_key(&mut tx, tenant, key, next.meta.id, now)?;
        self.commit(tx).await.map_err(Failure::into_error::<E>)?;
        Ok(next)
    }

    /// Undoes a soft delete. Fails with 409 if a unique value was taken meanwhile, and with 422
    /// `RELATED_NOT_FOUND` if a record it references is gone.
    #[tracing::instrument(name = "store.restore", skip_all, fields(kind = E::KIND))]
    pub async fn restore<E: Entity>(&self, tenant: &Tenant, current: &Record<E>) -> AppResult<Record<E>> {
        self.restore_keyed(tenant, current, None).await
    }

    /// [`Store::restore`] with `key`'s marker (see [`Store::update_keyed`]).
    pub async fn restore_keyed<E: Entity>(
        &self,
        tenant: &Tenant,
        current: &Record<E>,
        key: Option<&IdempotencyKey>,
    ) -> AppResult<Record<E>> {
        let now = Timestamp::now();
        let (next, locks) = self.prepare_restore(tenant, current, now).await?;
        let mut tx = Tx::new(&self.table, tenant.org);
        tx.stage_restore(current, &next, &[])?;
        stage_locks(&mut tx, &locks)?;
        stage_key(&mut tx, tenant, key, next.meta.id, now)?;
        self.commit(tx).await.map_err(Failure::into_error::<E>)?;
        Ok(next)
    }

    /// The restored state of a deleted record and the locks its `before_restore` asks for.
    async fn prepare_restore<E: Entity>(
        &self,
        tenant: &Tenant,
        current: &Record<E>,
        now: Timestamp,
    ) -> AppResult<(Record<E>, Vec<Lock>)> {
        if !current.meta.is_deleted {
            return Err(AppError::conflict("NOT_DELETED", format!("the {} is not deleted", E::NAME)));
        }
        let meta = Meta {
            updated_at: now,
            updated_by: tenant.user.user_id.as_uuid(),
            is_deleted: false,
            deleted_at: None,
            deleted_by: None,
            version: current.meta.version + 1,
            ..current.meta.clone()
        };
        let next = Record { meta, data: current.data.clone() };
        let locks = next.data.before_restore(self, tenant).await?;
        Ok((next, locks))
    }

    /// Soft-deletes each id in its own transaction and reports per id, in the order given.
    pub async fn soft_delete_many<E: Entity>(&self, tenant: &Tenant, ids: &[Uuid]) -> Vec<(Uuid, BulkOutcome<E>)> {
        let mut outcomes = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BULK_CONCURRENCY) {
            let results = futures_util::future::join_all(chunk.iter().map(|id| async move {
                let record = self.get_live::<E>(tenant.org, *id).await?;
                self.soft_delete(tenant, &record).await
            }))
            .await;
            for (id, result) in chunk.iter().zip(results) {
                let outcome = match result {
                    Ok(record) => BulkOutcome::Done(Box::new(record)),
                    Err(err) => BulkOutcome::Failed(err),
                };
                outcomes.push((*id, outcome));
            }
        }
        outcomes
    }

    /// One page of a list: a single Query of at most `page_size + 1` items on one org-leading
    /// partition. The extra item only tells whether there is a next page.
    #[tracing::instrument(name = "store.list", skip_all, fields(kind = E::KIND, index = %spec.index))]
    pub async fn list<E: Entity>(
        &self,
        org: OrgId,
        spec: &ListSpec<E>,
        page_size: usize,
        cursor: Option<&str>,
    ) -> AppResult<Page<E>> {
        let partition = keys::index_partition(org, E::KIND, &spec.index);
        let fingerprint = format!("{org}|{}|{}|{}", E::KIND, spec.fingerprint, spec.newest_first);
        let start = match cursor {
            None => None,
            Some(raw) => {
                let position = self.cursors.verify(&fingerprint, raw)?;
                if position.pk != partition || !spec.range.contains_key(&position.sk) {
                    return Err(AppError::bad_request("INVALID_CURSOR", "the cursor is not valid for this query"));
                }
                Some(position)
            }
        };
        let limit = i32::try_from(page_size + 1).unwrap_or(i32::MAX);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", s(&partition))
            .limit(limit)
            .scan_index_forward(!spec.newest_first)
            .consistent_read(true);
        query = match &spec.range {
            SortRange::All => query.key_condition_expression("pk = :pk"),
            SortRange::Prefix(prefix) => query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix)),
            // Stored keys are `<sort>#<id>`, never equal to a bare bound, so an inclusive
            // BETWEEN or `<=` on `to` keeps exactly the sort values below it.
            SortRange::Between { from: Some(from), to: Some(to) } => query
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":from", s(from))
                .expression_attribute_values(":to", s(to)),
            SortRange::Between { from: Some(from), to: None } => {
                query.key_condition_expression("pk = :pk AND sk >= :from").expression_attribute_values(":from", s(from))
            }
            SortRange::Between { from: None, to: Some(to) } => {
                query.key_condition_expression("pk = :pk AND sk <= :to").expression_attribute_values(":to", s(to))
            }
            SortRange::Between { from: None, to: None } => query.key_condition_expression("pk = :pk"),
        };
        if let Some(position) = &start {
            query = query.exclusive_start_key("pk", s(&position.pk)).exclusive_start_key("sk", s(&position.sk));
        }
        let out = query.send().await.map_err(storage_error)?;
        let raw = out.items.unwrap_or_default();
        let more = raw.len() > page_size || out.last_evaluated_key.is_some();
        let consumed = &raw[..raw.len().min(page_size)];
        let next_cursor = match consumed.last() {
            Some(last) if more => {
                let sk = get_s(last, "sk").unwrap_or_default().to_string();
                Some(self.cursors.sign(&fingerprint, &Position { pk: partition.clone(), sk }))
            }
            _ => None,
        };
        let mut items = Vec::with_capacity(consumed.len());
        for item in consumed {
            let record = Record::<E>::from_item(item)
                .ok_or_else(|| AppError::internal(format!("a {} list entry does not decode", E::NAME)))?;
            let sort = get_s(item, "sk").unwrap_or_default();
            if spec.accept.as_ref().is_none_or(|accept| accept(&record, sort)) {
                items.push(record);
            }
        }
        Ok(Page { items, next_cursor, scanned: raw.len() })
    }

    /// The trash: deleted records, most recently deleted first.
    pub fn deleted_spec<E>() -> ListSpec<E> {
        ListSpec::all(DELETED_INDEX, true)
    }

    async fn commit(&self, tx: Tx<'_>) -> Result<(), Failure> {
        let purposes = tx.purposes;
        let result = self.client.transact_write_items().set_transact_items(Some(tx.items)).send().await;
        let err = match result {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        if let SdkError::ServiceError(service) = &err
            && let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err()
        {
            let reasons = cancelled.cancellation_reasons();
            let failed = || {
                reasons
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                    .map(|(index, _)| purposes.get(index).copied().unwrap_or((Purpose::Entry, 0)))
            };
            // A retried create fails its uniqueness claims too (the first attempt made them);
            // the idempotency key's failure must win, so the retry is answered as a replay.
            if let Some((purpose, op)) =
                failed().find(|(p, _)| matches!(p, Purpose::Idempotency)).or_else(|| failed().next())
            {
                return Err(Failure::Condition(purpose, op));
            }
            if reasons.iter().any(|r| r.code() == Some("TransactionConflict")) {
                return Err(Failure::Contention);
            }
        }
        Err(Failure::Storage(storage_error(err)))
    }
}

/// An anonymized record stays anonymous: no write may put a value back in one of its personal
/// fields (the audit trail's list, `crate::audit::fields`). Its other fields may still change.
fn refuse_reidentification<E: Entity>(current: &E, next: &E) -> AppResult<()> {
    let (Ok(Value::Object(before)), Ok(Value::Object(after))) =
        (serde_json::to_value(current), serde_json::to_value(next))
    else {
        return Err(AppError::internal("an entity did not serialize to an object"));
    };
    let changed = after
        .iter()
        .find(|(field, value)| crate::audit::fields::is_personal(E::KIND, field) && before.get(*field) != Some(*value));
    match changed {
        Some((field, _)) => Err(AppError::conflict(
            "ANONYMIZED",
            format!("the {} was anonymized (RGPD erasure): its `{field}` cannot be set again", E::NAME),
        )),
        None => Ok(()),
    }
}

/// A live record's soft-deleted state, by `tenant` at `now`, if its entity allows the delete.
fn deleted_state<E: Entity>(tenant: &Tenant, current: &Record<E>, now: Timestamp) -> AppResult<Record<E>> {
    current.data.check_delete()?;
    let user = tenant.user.user_id.as_uuid();
    let meta = Meta {
        updated_at: now,
        updated_by: user,
        is_deleted: true,
        deleted_at: Some(now),
        deleted_by: Some(user),
        version: current.meta.version + 1,
        ..current.meta.clone()
    };
    Ok(Record { meta, data: current.data.clone() })
}

fn stage_key(
    tx: &mut Tx<'_>,
    tenant: &Tenant,
    key: Option<&IdempotencyKey>,
    id: Uuid,
    now: Timestamp,
) -> AppResult<()> {
    match key {
        Some(key) => tx.put_idempotency(tenant.user.user_id.as_uuid(), key, id, now),
        None => Ok(()),
    }
}

fn stage_locks(tx: &mut Tx<'_>, locks: &[Lock]) -> AppResult<()> {
    for lock in locks {
        tx.bump_lock(lock)?;
    }
    Ok(())
}

fn trash_entry(deleted_at: Timestamp) -> IndexEntry {
    IndexEntry::new(DELETED_INDEX, deleted_at.to_key())
}

impl Failure {
    fn into_error<E: Entity>(self) -> AppError {
        match self {
            Failure::Condition(Purpose::Record, _) => AppError::conflict(
                "VERSION_CONFLICT",
                format!("the {} was changed by someone else; reload it and retry", E::NAME),
            ),
            Failure::Condition(Purpose::Unique(field), _) => AppError::Conflict {
                code: "UNIQUE_CONFLICT",
                detail: format!("another {} of this organization already has this {field}", E::NAME),
                errors: vec![FieldError::new(field, "duplicate", format!("is already used by another {}", E::NAME))],
            },
            Failure::Condition(Purpose::Reference(field), _) => {
                AppError::related_not_found(field, "no live record of this organization has this id")
            }
            Failure::Condition(Purpose::Idempotency | Purpose::Entry | Purpose::Lock, _) | Failure::Contention => {
                AppError::conflict(
                    "CONCURRENT_MODIFICATION",
                    format!("the {} is being changed by another request; retry", E::NAME),
                )
            }
            Failure::Storage(err) => err,
        }
    }
}

/// DynamoDB failures: throttling and unreachability are worth a retry (503); anything else is
/// ours to fix (500, logged by the adapter with its cause, never shown).
pub(crate) fn storage_error<E, R>(err: SdkError<E, R>) -> AppError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let retryable = matches!(err, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_))
        || matches!(
            err.code(),
            Some(
                "ThrottlingException"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
            )
        );
    if retryable {
        tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err), "storage unavailable");
        AppError::unavailable("storage is temporarily unavailable; retry shortly")
    } else {
        AppError::internal(aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string())
    }
}
