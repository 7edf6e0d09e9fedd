//! Reads audit records back as JSON for the audit API, opening personal values with their
//! person's key when it still exists, and showing [`ERASED`] when it does not.

use crate::audit::error::AuditError;
use crate::audit::item::{GSI_RESOURCE, Item, LOG_PREFIX, from_attr, get_s, log_partition, resource_partition, s};
use crate::audit::keys::{KeyCache, KeyState, KeyStore};
use crate::audit::writer::seal_context;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// What a personal value reads as once its person's key is gone.
pub const ERASED: &str = "[erased]";

/// Attributes of an audit item that are storage details, not part of the record.
const HIDDEN: &[&str] = &["pk", "sk", "item_type", "gsi1pk", "gsi2pk", "gsi3pk", "gsi4pk", "gsi_sk", "changes"];

#[derive(Debug, Clone)]
pub struct AuditReader {
    client: Client,
    table: String,
    keys: KeyStore,
}

impl AuditReader {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self { keys: KeyStore::new(client.clone(), table.clone()), client, table }
    }

    /// The stored items as the API shows them: one flat object per record with its `changes`
    /// as `[{"field", "from", "to", "personal"}]`, personal values decrypted or [`ERASED`].
    pub async fn decode(&self, items: &[Item]) -> Result<Vec<Value>, AuditError> {
        let mut cache = KeyCache::new();
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.decode_one(item, &mut cache).await?);
        }
        Ok(out)
    }

    async fn decode_one(&self, item: &Item, cache: &mut KeyCache) -> Result<Value, AuditError> {
        let mut record: Map<String, Value> = item
            .iter()
            .filter(|(k, _)| !HIDDEN.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), from_attr(v)))
            .collect();
        let org = get_s(item, "organization_id").and_then(|o| Uuid::parse_str(o).ok());
        let audit_id = get_s(item, "audit_id").unwrap_or_default();
        let mut changes = Vec::new();
        for change in item.get("changes").and_then(|c| c.as_l().ok()).map(Vec::as_slice).unwrap_or_default() {
            let Ok(change) = change.as_m() else { continue };
            let field = change.get("field").and_then(|f| f.as_s().ok()).cloned().unwrap_or_default();
            let personal = change.get("personal").and_then(|p| p.as_bool().ok()).copied().unwrap_or(false);
            let mut entry = json!({"field": field, "personal": personal});
            for side in ["from", "to"] {
                let value = if !personal {
                    change.get(side).map(from_attr).unwrap_or(Value::Null)
                } else if change.contains_key(&format!("{side}_erased")) {
                    Value::String(ERASED.into())
                } else {
                    match (org, self.open(cache, change, side, audit_id, &field, org).await?) {
                        (_, Some(v)) => v,
                        (_, None) if change.contains_key(&format!("{side}_enc")) => Value::String(ERASED.into()),
                        _ => Value::Null,
                    }
                };
                entry[side] = value;
            }
            changes.push(entry);
        }
        record.insert("changes".into(), Value::Array(changes));
        Ok(Value::Object(record))
    }

    /// The value sealed on `side` of a change, if it is there and its key still opens it.
    async fn open(
        &self,
        cache: &mut KeyCache,
        change: &std::collections::HashMap<String, AttributeValue>,
        side: &str,
        audit_id: &str,
        field: &str,
        org: Option<Uuid>,
    ) -> Result<Option<Value>, AuditError> {
        let sealed = change.get(&format!("{side}_enc")).and_then(|v| v.as_s().ok());
        let subject =
            change.get(&format!("{side}_subject")).and_then(|v| v.as_s().ok()).and_then(|v| Uuid::parse_str(v).ok());
        let (Some(sealed), Some(subject), Some(org)) = (sealed, subject, org) else {
            return Ok(None);
        };
        let Some(KeyState::Active(key)) = self.keys.get_cached(cache, org, subject).await? else {
            return Ok(None);
        };
        Ok(key
            .open(&seal_context(org, audit_id, field, side, subject), sealed)
            .and_then(|plain| serde_json::from_slice(&plain).ok()))
    }

    /// Every audit record of an organization, newest first (at most `limit`; no paging: the
    /// audit API pages with its own signed cursors).
    pub async fn for_organization(&self, org: Uuid, limit: i32) -> Result<Vec<Value>, AuditError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(log_partition(org)))
            .expression_attribute_values(":prefix", s(LOG_PREFIX))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(|e| AuditError::storage("query audit records", e))?;
        self.decode(out.items()).await
    }

    /// The audit trail of one record, newest first (at most `limit`), through the by-resource index.
    pub async fn for_resource(
        &self,
        org: Uuid,
        resource_type: &str,
        resource_id: &str,
        limit: i32,
    ) -> Result<Vec<Value>, AuditError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI_RESOURCE)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(resource_partition(org, resource_type, resource_id)))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(|e| AuditError::storage("query a resource's audit records", e))?;
        self.decode(out.items()).await
    }
}
