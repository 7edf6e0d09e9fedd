//! What an export holds: every record item of the organization, entity by entity, each as the
//! API returns it (`Record::to_json`), one JSON object per line.
//!
//! Record items are `ORG#<org>` / `<KIND>#<id>` with `item_type = record` (DATA-DESIGN.md): one
//! per record, live, in the trash or erased, whereas list entries are copies in other
//! partitions. So a Query on the organization's partition with `begins_with(sk, "<KIND>#")`,
//! filtered on `item_type`, reads each record exactly once, in id order, page by page, and
//! never another organization's (its partition is not named). No other item family of the
//! partition starts with a `KIND` and `#` (markers are `UNIQUE#`, `IDEMPOTENCY#`, `LOCK#`,
//! exports `EXPORT`...); the filter is there for any that would.

use crate::job::Counts;
use hub_analytics::AnalyticsRecord;
use hub_appointments::Appointment;
use hub_contacts::Contact;
use hub_documents::Document;
use hub_shared::auth::OrgId;
use hub_shared::error::{AppError, AppResult};
use hub_shared::store::attr::{Item, get_s, s};
use hub_shared::store::{Entity, Meta, Record, de};
use hub_transactions::Transaction;

/// One file of an export.
pub struct EntityFile {
    /// The file's name without `.ndjson`, and its key in the manifest's counts.
    pub name: &'static str,
    pub kind: &'static str,
    /// The record item as one NDJSON line (newline included), and its metadata.
    line: fn(&Item) -> Option<(String, Meta)>,
}

fn line<E: Entity>(item: &Item) -> Option<(String, Meta)> {
    let meta = de::from_item::<Meta>(item).ok()?;
    let data = de::from_item::<E>(item).ok()?;
    let record = Record { meta, data };
    let mut text = record.to_json_text();
    text.push('\n');
    Some((text, record.meta))
}

/// Every entity the organization holds, in the order they are written. Analytics records are
/// in: they are the practice's own data entered through the API (named figures it keeps), not
/// derived. The analytics counters (a separate table) are derived from the records and are not.
pub const ENTITIES: &[EntityFile] = &[
    EntityFile { name: "contacts", kind: Contact::KIND, line: line::<Contact> },
    EntityFile { name: "appointments", kind: Appointment::KIND, line: line::<Appointment> },
    EntityFile { name: "documents", kind: Document::KIND, line: line::<Document> },
    EntityFile { name: "transactions", kind: Transaction::KIND, line: line::<Transaction> },
    EntityFile { name: "analytics_records", kind: AnalyticsRecord::KIND, line: line::<AnalyticsRecord> },
];

impl EntityFile {
    pub fn file_name(&self) -> String {
        format!("{}.ndjson", self.name)
    }

    /// Appends `item` to `out` and counts it. A record that does not decode stops the export
    /// (an error, retried, then failed) rather than be left out silently.
    pub fn append(&self, item: &Item, out: &mut Vec<u8>, counts: &mut Counts) -> AppResult<()> {
        let (text, meta) = (self.line)(item).ok_or_else(|| {
            AppError::internal(format!("a stored {} does not decode: {}", self.name, get_s(item, "sk").unwrap_or("?")))
        })?;
        out.extend_from_slice(text.as_bytes());
        counts.records += 1;
        counts.deleted += u64::from(meta.is_deleted);
        counts.anonymized += u64::from(meta.anonymized_at.is_some());
        Ok(())
    }
}

/// One page of an entity's record items after `after` (an `sk`), and the `sk` to continue from
/// (`None`: the last page). `limit` bounds the items a page reads (`None`: DynamoDB's 1 MB).
pub struct Reader<'a> {
    pub client: &'a aws_sdk_dynamodb::Client,
    pub table: &'a str,
    pub limit: Option<i32>,
}

impl Reader<'_> {
    #[tracing::instrument(name = "exports.read_page", skip_all, fields(kind = entity.kind))]
    pub async fn page(
        &self,
        org: OrgId,
        entity: &EntityFile,
        after: Option<&str>,
    ) -> AppResult<(Vec<Item>, Option<String>)> {
        let pk = format!("ORG#{org}");
        let mut query = self
            .client
            .query()
            .table_name(self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .filter_expression("item_type = :record")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":prefix", s(format!("{}#", entity.kind)))
            .expression_attribute_values(":record", s("record"))
            .consistent_read(true)
            .set_limit(self.limit);
        if let Some(after) = after {
            query = query.exclusive_start_key("pk", s(&pk)).exclusive_start_key("sk", s(after));
        }
        // Any failure is the worker's to retry (the message comes back), so its cause is all
        // that matters here.
        let out = query.send().await.map_err(|e| {
            AppError::internal(format!("reading {}: {}", entity.name, aws_sdk_dynamodb::error::DisplayErrorContext(e)))
        })?;
        let next = out.last_evaluated_key.as_ref().and_then(|key| get_s(key, "sk")).map(str::to_owned);
        Ok((out.items.unwrap_or_default(), next))
    }
}
