//! Appends audit records: one conditional `PutItem` each, never an update or a delete.
//!
//! The item's key is derived from the record (`LOG#<time>#<audit id>`), and the put is
//! conditioned on `attribute_not_exists(pk)`, so writing the same record twice (a redelivered
//! stream batch) adds nothing and reports [`Written::Duplicate`]. Personal values of a change
//! are sealed under their person's data key first (see [`crate::audit::fields`]).

use crate::audit::error::AuditError;
use crate::audit::fields;
use crate::audit::item::{
    GSI_SORT, ITEM_AUDIT, Item, action_partition, log_partition, log_sort, resource_partition, risk_partition, s,
    to_attr, user_partition,
};
use crate::audit::keys::{KeyCache, KeyState, KeyStore};
use crate::audit::model::{AuditRecord, Source};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    /// The record was already there (a redelivery): nothing was added.
    Duplicate,
}

#[derive(Debug, Clone)]
pub struct AuditWriter {
    client: Client,
    table: String,
    keys: KeyStore,
}

/// The associated data a personal value is sealed with: where it is stored and whose it is.
pub(crate) fn seal_context(org: Uuid, audit_id: &str, field: &str, side: &str, subject: Uuid) -> Vec<u8> {
    format!("hub-audit:v1|{org}|{audit_id}|{field}|{side}|{subject}").into_bytes()
}

impl AuditWriter {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self { keys: KeyStore::new(client.clone(), table.clone()), client, table }
    }

    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Appends one record.
    pub async fn write(&self, record: &AuditRecord) -> Result<Written, AuditError> {
        self.write_cached(record, &mut KeyCache::new()).await
    }

    /// Appends one record, reusing the data keys of earlier records of the same batch.
    pub async fn write_cached(&self, record: &AuditRecord, cache: &mut KeyCache) -> Result<Written, AuditError> {
        let item = self.to_item(record, cache).await?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values(ReturnValue::None)
            .send()
            .await;
        match put {
            Ok(_) => Ok(Written::Created),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(Written::Duplicate)
            }
            Err(e) => Err(AuditError::storage("write an audit record", e)),
        }
    }

    async fn seal(
        &self,
        cache: &mut KeyCache,
        record: &AuditRecord,
        field: &str,
        side: &str,
        subject: Option<Uuid>,
        value: &Value,
    ) -> Result<Vec<(String, AttributeValue)>, AuditError> {
        let org = record.organization_id;
        let state = match subject {
            Some(subject) => Some((subject, self.keys.get_or_create_cached(cache, org, subject).await?)),
            None => None,
        };
        match state {
            Some((subject, KeyState::Active(key))) => {
                let plain = serde_json::to_vec(value).map_err(|e| AuditError::Malformed(e.to_string()))?;
                let sealed = key.seal(&seal_context(org, &record.audit_id, field, side, subject), &plain)?;
                Ok(vec![(format!("{side}_enc"), s(sealed)), (format!("{side}_subject"), s(subject.to_string()))])
            }
            // The person was erased (or the value belongs to no one we can name): never store it.
            _ => Ok(vec![(format!("{side}_erased"), AttributeValue::Bool(true))]),
        }
    }

    async fn to_item(&self, record: &AuditRecord, cache: &mut KeyCache) -> Result<Item, AuditError> {
        let org = record.organization_id;
        let time = record.time_key();
        let mut changes = Vec::with_capacity(record.changes.len());
        let mut subjects = BTreeSet::new();
        for change in &record.changes {
            let mut entry = HashMap::from([("field".to_string(), s(&change.field))]);
            if fields::is_personal(&record.resource_type, &change.field) {
                entry.insert("personal".into(), AttributeValue::Bool(true));
                for (side, value, subject) in
                    [("from", &change.from, record.subject_before), ("to", &change.to, record.subject_after)]
                {
                    if let Some(value) = value {
                        entry.extend(self.seal(cache, record, &change.field, side, subject, value).await?);
                        subjects.extend(subject);
                    }
                }
            } else {
                for (side, value) in [("from", &change.from), ("to", &change.to)] {
                    if let Some(value) = value {
                        entry.insert(side.to_string(), to_attr(value));
                    }
                }
            }
            changes.push(AttributeValue::M(entry));
        }

        let actor = record.actor.id();
        let mut item = Item::from([
            ("pk".to_string(), s(log_partition(org))),
            ("sk".to_string(), s(log_sort(&time, &record.audit_id))),
            ("item_type".to_string(), s(ITEM_AUDIT)),
            ("audit_id".to_string(), s(&record.audit_id)),
            ("organization_id".to_string(), s(org.to_string())),
            ("occurred_at".to_string(), s(&time)),
            ("action".to_string(), s(record.action.as_str())),
            ("risk".to_string(), s(record.risk.as_str())),
            ("resource_type".to_string(), s(&record.resource_type)),
            ("actor_id".to_string(), s(&actor)),
            ("outcome".to_string(), s(record.outcome.as_str())),
            ("changes".to_string(), AttributeValue::L(changes)),
            (GSI_SORT.to_string(), s(format!("{time}#{}", record.audit_id))),
            ("gsi2pk".to_string(), s(user_partition(org, &actor))),
            ("gsi3pk".to_string(), s(action_partition(org, record.action.as_str()))),
            ("gsi4pk".to_string(), s(risk_partition(org, record.risk.as_str()))),
        ]);
        if let Some(id) = &record.resource_id {
            item.insert("resource_id".into(), s(id));
            item.insert("gsi1pk".into(), s(resource_partition(org, &record.resource_type, id)));
        }
        if !record.resource_ids.is_empty() {
            item.insert("resource_ids".into(), AttributeValue::L(record.resource_ids.iter().map(s).collect()));
        }
        if !subjects.is_empty() {
            item.insert("subject_ids".into(), AttributeValue::L(subjects.iter().map(|u| s(u.to_string())).collect()));
        }
        if let Some(version) = record.version {
            item.insert("version".into(), AttributeValue::N(version.to_string()));
        }
        match &record.source {
            Source::Stream { event_id, sequence_number } => {
                item.insert("source".into(), s("stream"));
                item.insert("event_id".into(), s(event_id));
                item.insert("sequence_number".into(), s(sequence_number));
            }
            Source::Request(request) => {
                item.insert("source".into(), s("request"));
                item.insert("request_id".into(), s(&request.request_id));
                if let Some(ip) = &request.source_ip {
                    item.insert("source_ip".into(), s(ip));
                }
                if let Some(agent) = &request.user_agent {
                    item.insert("user_agent".into(), s(agent));
                }
                if let Some(status) = request.status {
                    item.insert("status".into(), AttributeValue::N(status.to_string()));
                }
            }
        }
        Ok(item)
    }
}
