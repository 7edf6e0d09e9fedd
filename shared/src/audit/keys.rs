//! Per-person data keys, kept as items of the audit table (`KEY#<person>` / `ORG#<org>`).
//!
//! A key is created on first use with a conditional put, so two writers that create one for the
//! same person at once agree on the winner's. Erasing a person replaces their key with a
//! tombstone (or deletes it): every audit value sealed under it becomes unreadable, and the
//! tombstone stops a late stream record from creating a new key for them, so values written
//! after the erasure are stored as erased rather than under a fresh key. Key material is never
//! logged.

use crate::audit::crypto::DataKey;
use crate::audit::error::AuditError;
use crate::audit::item::{ITEM_KEY, Item, key_partition, key_sort, s};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{SecondsFormat, Utc};
use std::collections::HashMap;
use uuid::Uuid;

/// A person's key, or the fact that it was destroyed.
#[derive(Debug, Clone)]
pub enum KeyState {
    Active(DataKey),
    Erased,
}

impl KeyState {
    pub fn key(&self) -> Option<&DataKey> {
        match self {
            Self::Active(key) => Some(key),
            Self::Erased => None,
        }
    }
}

/// Keys already read during one batch or one read, by (organization, person).
pub type KeyCache = HashMap<(Uuid, Uuid), Option<KeyState>>;

#[derive(Debug, Clone)]
pub struct KeyStore {
    client: Client,
    table: String,
}

impl KeyStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// The person's key: `None` if none was ever created.
    pub async fn get(&self, org: Uuid, subject: Uuid) -> Result<Option<KeyState>, AuditError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key_partition(subject)))
            .key("sk", s(key_sort(org)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AuditError::storage("read a data key", e))?;
        out.item.map(|item| parse(&item)).transpose()
    }

    /// The person's key, created if there is none yet; `Erased` after an erasure.
    pub async fn get_or_create(&self, org: Uuid, subject: Uuid) -> Result<KeyState, AuditError> {
        if let Some(state) = self.get(org, subject).await? {
            return Ok(state);
        }
        let key = DataKey::generate()?;
        let item = key_item(
            org,
            subject,
            [
                ("key", AttributeValue::B(Blob::new(key.as_bytes()))),
                ("created_at", s(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true))),
            ],
        );
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(KeyState::Active(key)),
            // Another writer created it (or erased the person) first: use theirs.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => self
                .get(org, subject)
                .await?
                .ok_or_else(|| AuditError::Storage("data key vanished after a conflicting create".into())),
            Err(e) => Err(AuditError::storage("create a data key", e)),
        }
    }

    /// [`KeyStore::get_or_create`] through a cache.
    pub async fn get_or_create_cached(
        &self,
        cache: &mut KeyCache,
        org: Uuid,
        subject: Uuid,
    ) -> Result<KeyState, AuditError> {
        if let Some(Some(state)) = cache.get(&(org, subject)) {
            return Ok(state.clone());
        }
        let state = self.get_or_create(org, subject).await?;
        cache.insert((org, subject), Some(state.clone()));
        Ok(state)
    }

    /// [`KeyStore::get`] through a cache.
    pub async fn get_cached(
        &self,
        cache: &mut KeyCache,
        org: Uuid,
        subject: Uuid,
    ) -> Result<Option<KeyState>, AuditError> {
        if let Some(state) = cache.get(&(org, subject)) {
            return Ok(state.clone());
        }
        let state = self.get(org, subject).await?;
        cache.insert((org, subject), state.clone());
        Ok(state)
    }

    /// Destroys the person's key for good, leaving a tombstone: what anonymization calls.
    pub async fn erase(&self, org: Uuid, subject: Uuid) -> Result<(), AuditError> {
        let item = key_item(org, subject, [("erased_at", s(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)))]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| AuditError::storage("erase a data key", e))?;
        Ok(())
    }
}

fn parse(item: &Item) -> Result<KeyState, AuditError> {
    if item.contains_key("erased_at") {
        return Ok(KeyState::Erased);
    }
    let raw = item
        .get("key")
        .and_then(|v| v.as_b().ok())
        .ok_or_else(|| AuditError::Malformed("a data key item without key material".into()))?;
    DataKey::from_bytes(raw.as_ref())
        .map(KeyState::Active)
        .ok_or_else(|| AuditError::Malformed("a data key of the wrong length".into()))
}

/// The item of a person's data key (or of its tombstone): its keys and owners, plus `state`.
fn key_item<const N: usize>(org: Uuid, subject: Uuid, state: [(&str, AttributeValue); N]) -> Item {
    let mut item = Item::from([
        ("pk".to_string(), s(key_partition(subject))),
        ("sk".to_string(), s(key_sort(org))),
        ("item_type".to_string(), s(ITEM_KEY)),
        ("organization_id".to_string(), s(org.to_string())),
        ("subject_id".to_string(), s(subject.to_string())),
    ]);
    item.extend(state.into_iter().map(|(name, value)| (name.to_string(), value)));
    item
}
