//! What bulk imports (`hub-imports`) need of the table beyond the generic writes: the import
//! job item, the once-only write of an upserted row, the owner of a unique value, and a dry
//! run's scratch claims.
//!
//! A created row needs nothing here: its record id is derived from the import and the row
//! (`hub_imports::ids`), so `create_as` retried after a crash fails its `attribute_not_exists`
//! and the caller finds the record already there. An update has no such natural key, so
//! [`Store::update_once`] writes a row marker in the update's own transaction: a retried row
//! finds its marker taken and knows the update was applied, instead of applying it twice.
//!
//! Markers and scratch claims carry `expires_at` (the table's TTL attribute), as idempotency
//! keys do: they are internal bookkeeping, swept a week after the import, never records.

use super::super::attr::{Item, get_n, get_s, n, s};
use super::super::entity::{Entity, Record, Unique};
use super::super::keys::{self, ITEM_IMPORT, ITEM_IMPORT_ROW, ITEM_IMPORT_SCRATCH, ITEM_RECORD};
use super::{Failure, Purpose, Store, Tx, stage_locks, storage_error};
use crate::auth::{OrgId, Tenant};
use crate::domain::Timestamp;
use crate::error::{AppError, AppResult};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use uuid::Uuid;

/// How long row markers and scratch claims outlive their import: longer than any import runs
/// (the bulk bucket keeps its files 7 days).
const MARKER_TTL_SECS: i64 = 8 * 24 * 3600;

/// An import job item as stored: the job (JSON text, owned by `hub-imports`), the revision
/// every save is conditioned on, and the last chunk whose message was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImport {
    pub job: String,
    pub revision: u64,
    pub sent_chunk: Option<u64>,
}

fn expires_at() -> AttributeValue {
    n(Timestamp::now().as_datetime().timestamp() + MARKER_TTL_SECS)
}

fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    matches!(err, SdkError::ServiceError(service) if service.err().code() == Some("ConditionalCheckFailedException"))
}

impl Store {
    fn import_item(&self, org: OrgId, id: Uuid, job: &str, revision: u64) -> Item {
        HashMap::from([
            ("pk".to_string(), s(keys::org_partition(org))),
            ("sk".to_string(), s(keys::import_sort(id))),
            ("item_type".to_string(), s(ITEM_IMPORT)),
            ("job".to_string(), s(job)),
            ("revision".to_string(), n(revision)),
        ])
    }

    /// Stores a new import job (revision 1); an id already taken is an internal error (ids are
    /// fresh v4 UUIDs).
    #[tracing::instrument(name = "store.put_import", skip_all)]
    pub async fn put_import(&self, org: OrgId, id: Uuid, job: &str) -> AppResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.import_item(org, id, job, 1)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    /// The import job `id` of this organization (consistent read).
    #[tracing::instrument(name = "store.get_import", skip_all)]
    pub async fn get_import(&self, org: OrgId, id: Uuid) -> AppResult<Option<StoredImport>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::org_partition(org)))
            .key("sk", s(keys::import_sort(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(storage_error)?;
        let Some(item) = out.item.filter(|i| get_s(i, "item_type") == Some(ITEM_IMPORT)) else {
            return Ok(None);
        };
        let job = get_s(&item, "job").ok_or_else(|| AppError::internal("an import item without its job"))?;
        let revision = get_n(&item, "revision").ok_or_else(|| AppError::internal("an import item without revision"))?;
        Ok(Some(StoredImport { job: job.to_string(), revision, sent_chunk: get_n(&item, "sent_chunk") }))
    }

    /// Replaces the job if it is still at `seen` (then at `seen + 1`): `false` when another
    /// writer (a duplicated chunk message, a second `start`) got there first, which callers
    /// treat as "already done", never as a second application.
    #[tracing::instrument(name = "store.save_import", skip_all)]
    pub async fn save_import(&self, org: OrgId, id: Uuid, job: &str, seen: u64) -> AppResult<bool> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.import_item(org, id, job, seen + 1)))
            .condition_expression("revision = :seen")
            .expression_attribute_values(":seen", n(seen))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(storage_error(err)),
        }
    }

    /// Notes that the message of `chunk` was sent, so a redelivered message of the chunk before
    /// (whose sender may have died between its commit and its send) sends it only if not.
    pub async fn mark_import_sent(&self, org: OrgId, id: Uuid, chunk: u64) -> AppResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::org_partition(org)))
            .key("sk", s(keys::import_sort(id)))
            .update_expression("SET sent_chunk = :chunk")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":chunk", n(chunk))
            .send()
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    /// The record holding a unique value in this organization, if any (its marker's owner).
    pub async fn unique_owner<E: Entity>(&self, org: OrgId, unique: &Unique) -> AppResult<Option<Uuid>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::org_partition(org)))
            .key("sk", s(keys::unique_sort(E::KIND, unique.field, &unique.value)))
            .consistent_read(true)
            .send()
            .await
            .map_err(storage_error)?;
        Ok(out.item.as_ref().and_then(|i| get_s(i, "owner_id")).and_then(|o| Uuid::parse_str(o).ok()))
    }

    /// Whether a live record of `kind` with this id exists in the organization: a dry run's
    /// stand-in for the reference check a write makes in its transaction.
    pub async fn record_live(&self, org: OrgId, kind: &str, id: Uuid) -> AppResult<bool> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::org_partition(org)))
            .key("sk", s(keys::record_sort(kind, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(storage_error)?;
        Ok(out.item.is_some_and(|i| {
            get_s(&i, "item_type") == Some(ITEM_RECORD) && i.get("is_deleted") == Some(&AttributeValue::Bool(false))
        }))
    }

    /// `update` for row `row` of import `import`, applied at most once: the row's marker is
    /// claimed in the update's transaction. `Ok(None)` when the marker was already taken (an
    /// earlier attempt of this row committed; the record holds its fields).
    #[tracing::instrument(name = "store.update_once", skip_all, fields(kind = E::KIND))]
    pub async fn update_once<E: Entity>(
        &self,
        tenant: &Tenant,
        current: &Record<E>,
        data: E,
        import: Uuid,
        row: u64,
    ) -> AppResult<Option<Record<E>>> {
        let (next, locks) = self.prepare_update(tenant, current, data, Timestamp::now()).await?;
        let mut tx = Tx::new(&self.table, tenant.org);
        tx.stage_update(current, &next, &[])?;
        stage_locks(&mut tx, &locks)?;
        let marker: Item = HashMap::from([
            ("pk".to_string(), s(keys::org_partition(tenant.org))),
            ("sk".to_string(), s(keys::import_row_sort(import, row))),
            ("item_type".to_string(), s(ITEM_IMPORT_ROW)),
            ("record_id".to_string(), s(current.meta.id.to_string())),
            ("expires_at".to_string(), expires_at()),
        ]);
        // Purpose::Idempotency: when the row was applied before, its version condition fails
        // too, and `commit` lets the idempotency failure win, exactly as for a retried create.
        let put = tx.put(marker, Some(("attribute_not_exists(pk)", vec![])));
        tx.push(Purpose::Idempotency, put)?;
        match self.commit(tx).await {
            Ok(()) => Ok(Some(next)),
            Err(Failure::Condition(Purpose::Idempotency, ..)) => Ok(None),
            Err(failure) => Err(failure.into_error::<E>()),
        }
    }

    /// Whether row `row` applied its update before (its marker exists).
    pub async fn row_applied(&self, org: OrgId, import: Uuid, row: u64) -> AppResult<bool> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::org_partition(org)))
            .key("sk", s(keys::import_row_sort(import, row)))
            .consistent_read(true)
            .send()
            .await
            .map_err(storage_error)?;
        Ok(out.item.is_some())
    }

    /// A dry run's claim of a unique value for row `row` of import `import` (a scratch item,
    /// not a uniqueness marker: nothing is written that a real write could collide with).
    /// `Ok(None)` when the row holds it (first claim, or this row's retry); `Ok(Some(r))` when
    /// row `r` of the file claimed it first.
    pub async fn claim_scratch<E: Entity>(
        &self,
        org: OrgId,
        import: Uuid,
        unique: &Unique,
        row: u64,
    ) -> AppResult<Option<u64>> {
        let sk = keys::import_scratch_sort(import, E::KIND, unique.field, &unique.value);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::org_partition(org)))
            .item("sk", s(&sk))
            .item("item_type", s(ITEM_IMPORT_SCRATCH))
            .item("row", n(row))
            .item("expires_at", expires_at())
            .condition_expression("attribute_not_exists(pk) OR #row = :row")
            .expression_attribute_names("#row", "row")
            .expression_attribute_values(":row", n(row))
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(err) if is_condition_failure(&err) => {
                let out = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", s(keys::org_partition(org)))
                    .key("sk", s(sk))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(storage_error)?;
                Ok(out.item.as_ref().and_then(|i| get_n(i, "row")))
            }
            Err(err) => Err(storage_error(err)),
        }
    }
}
