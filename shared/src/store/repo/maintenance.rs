//! Writes the platform makes on its own authority rather than a client's: RGPD erasure
//! (`anonymize`), retention's hard delete (`purge`), and the cross-organization read of what
//! retention must act on (`due_for_retention`), and the list of organizations the analytics
//! rebuild walks (`organizations`). Used by `hub-privacy` and the rebuild only.
//!
//! They keep the repository's rules: one `TransactWriteItems` per record, conditioned on the
//! version read (a concurrent write makes them fail with 409 rather than be overwritten), list
//! entries and uniqueness markers moved with the record. Unlike client updates they also apply
//! to records in the trash, because a person's deleted records hold their data too.

use super::super::attr::{get_s, s};
use super::super::entity::{Entity, Meta, Record};
use super::super::keys::{self, RETENTION_DUE, RETENTION_INDEX, RETENTION_PK, RETENTION_SHARDS};
use super::{Expect, Failure, Purpose, Store, Tx, storage_error, trash_entry};
use crate::auth::OrgId;
use crate::domain::{Date, Timestamp};
use crate::error::{AppError, AppResult};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::BTreeSet;
use uuid::Uuid;

/// A record the retention index says is past its retention date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub org: OrgId,
    /// The entity's `KIND` (`CONTACT`, `DOCUMENT`).
    pub kind: String,
    pub id: Uuid,
}

impl Store {
    /// Replaces a record's fields with `data` (its anonymized form) and stamps `anonymized_at`
    /// (kept from the first time when already set), as `actor` (`Uuid::nil()` for the
    /// platform). Live records get their list entries and uniqueness markers moved, so values
    /// that are gone leave every list and free their markers; a record in the trash gets its
    /// trash entry rewritten (it had no markers left).
    #[tracing::instrument(name = "store.anonymize", skip_all, fields(kind = E::KIND))]
    pub async fn anonymize<E: Entity>(
        &self,
        org: OrgId,
        actor: Uuid,
        current: &Record<E>,
        data: E,
    ) -> AppResult<Record<E>> {
        let now = Timestamp::now();
        let meta = Meta {
            updated_at: now,
            updated_by: actor,
            version: current.meta.version + 1,
            anonymized_at: Some(current.meta.anonymized_at.unwrap_or(now)),
            ..current.meta.clone()
        };
        let next = Record { meta, data };
        let mut tx = Tx::new(&self.table, org);
        tx.put_record(&next, Expect::Version { version: current.meta.version, deleted: current.meta.is_deleted })?;
        if current.meta.is_deleted {
            let deleted_at =
                current.meta.deleted_at.ok_or_else(|| AppError::internal("deleted record without deleted_at"))?;
            tx.put_entry(&next, &trash_entry(deleted_at))?;
        } else {
            tx.replace_entries(
                &next,
                &current.data.index_entries(&current.meta),
                &next.data.index_entries(&next.meta),
            )?;
            tx.move_uniques::<E>(&current.data.unique_values(), &next.data.unique_values(), next.meta.id)?;
        }
        self.commit(tx).await.map_err(Failure::into_error::<E>)?;
        Ok(next)
    }

    /// Removes a record for good (retention only): the record (conditioned on the version
    /// read), its list entries or trash entry, and its uniqueness markers, in one transaction.
    /// The stream records it as a `purge`.
    #[tracing::instrument(name = "store.purge", skip_all, fields(kind = E::KIND))]
    pub async fn purge<E: Entity>(&self, org: OrgId, current: &Record<E>) -> AppResult<()> {
        let id = current.meta.id;
        let mut tx = Tx::new(&self.table, org);
        let record = tx.delete(
            keys::org_partition(org),
            keys::record_sort(E::KIND, id),
            Some(("version = :expected", vec![(":expected", AttributeValue::N(current.meta.version.to_string()))])),
        );
        tx.push(Purpose::Record, record)?;
        if current.meta.is_deleted {
            let deleted_at =
                current.meta.deleted_at.ok_or_else(|| AppError::internal("deleted record without deleted_at"))?;
            tx.delete_entry::<E>(id, &trash_entry(deleted_at))?;
        } else {
            for entry in current.data.index_entries(&current.meta) {
                tx.delete_entry::<E>(id, &entry)?;
            }
            for unique in current.data.unique_values() {
                tx.release_unique::<E>(&unique, id)?;
            }
        }
        self.commit(tx).await.map_err(Failure::into_error::<E>)
    }

    /// Every record, of every organization, whose retention date is before `today`: one Query
    /// per shard of the sparse retention index (paged), never a Scan. The index is eventually
    /// consistent, so callers re-read each record (consistently) before acting on it.
    #[tracing::instrument(name = "store.due_for_retention", skip_all)]
    pub async fn due_for_retention(&self, today: Date) -> AppResult<Vec<Due>> {
        let before = today.to_string();
        let mut due = Vec::new();
        for shard in RETENTION_SHARDS {
            let mut start = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(RETENTION_INDEX)
                    .key_condition_expression("#pk = :pk AND #due < :before")
                    .expression_attribute_names("#pk", RETENTION_PK)
                    .expression_attribute_names("#due", RETENTION_DUE)
                    .expression_attribute_values(":pk", s(format!("RETENTION#{shard}")))
                    .expression_attribute_values(":before", s(&before))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(storage_error)?;
                for item in out.items() {
                    let org =
                        get_s(item, "pk").and_then(|pk| pk.strip_prefix("ORG#")).and_then(|o| Uuid::parse_str(o).ok());
                    let record = get_s(item, "sk").and_then(|sk| sk.split_once('#'));
                    match (org, record.and_then(|(kind, id)| Some((kind, Uuid::parse_str(id).ok()?)))) {
                        (Some(org), Some((kind, id))) => {
                            due.push(Due { org: OrgId::new(org), kind: kind.to_string(), id })
                        }
                        _ => tracing::warn!("a retention index item without a record key; skipped"),
                    }
                }
                start = out.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(due)
    }

    /// The id of every organization that holds records: a maintenance `Scan` of the table
    /// (record items only, `organization_id` projected), the one read across organizations that
    /// is not an index Query. Never on a request path; template.yaml grants `Scan` only to the
    /// on-demand analytics rebuild.
    #[tracing::instrument(name = "store.organizations", skip_all)]
    pub async fn organizations(&self) -> AppResult<BTreeSet<Uuid>> {
        let mut orgs = BTreeSet::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("item_type = :record")
                .expression_attribute_values(":record", s("record"))
                .projection_expression("organization_id")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(storage_error)?;
            orgs.extend(
                page.items().iter().filter_map(|i| get_s(i, "organization_id")).filter_map(|o| Uuid::parse_str(o).ok()),
            );
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(orgs);
            }
        }
    }
}
