//! Every DynamoDB key the backend uses, built in one place. Each starts with the organization.

use crate::auth::OrgId;
use uuid::Uuid;

/// Marks what an item is; stream consumers audit only `record` items.
pub const ITEM_RECORD: &str = "record";
pub const ITEM_INDEX: &str = "index";
pub const ITEM_UNIQUE: &str = "unique";
pub const ITEM_IDEMPOTENCY: &str = "idempotency";
pub const ITEM_LOCK: &str = "lock";

/// The list partition of soft-deleted records (the trash), kept by the repository for any entity.
pub const DELETED_INDEX: &str = "DELETED";

pub fn org_partition(org: OrgId) -> String {
    format!("ORG#{org}")
}

pub fn record_sort(kind: &str, id: Uuid) -> String {
    format!("{kind}#{id}")
}

pub fn index_partition(org: OrgId, kind: &str, index: &str) -> String {
    format!("ORG#{org}#{kind}#{index}")
}

/// The id suffix keeps entries unique when two records share a sort value.
pub fn index_sort(sort: &str, id: Uuid) -> String {
    format!("{sort}#{id}")
}

pub fn unique_sort(kind: &str, field: &str, value: &str) -> String {
    format!("UNIQUE#{kind}#{field}#{value}")
}

pub fn idempotency_sort(user: Uuid, key: &str) -> String {
    format!("IDEMPOTENCY#{user}#{key}")
}

pub fn lock_sort(name: &str) -> String {
    format!("LOCK#{name}")
}

/// The business table's sparse retention index (a GSI, template.yaml): `retention_pk` is one of
/// [`RETENTION_SHARDS`] partitions, `retention_due` the retention date (`YYYY-MM-DD`). Only
/// record items with a retention date carry them. The one key family that does not start with
/// the organization: the daily `retention` job reads across organizations, and the items it
/// finds (`pk`/`sk`, projected) name their organization. No request-serving function may Query it.
pub const RETENTION_INDEX: &str = "retention";
pub const RETENTION_PK: &str = "retention_pk";
pub const RETENTION_DUE: &str = "retention_due";
/// Shards spread the index's writes over 16 partitions (by the record id's first hex digit);
/// the job reads each.
pub const RETENTION_SHARDS: &[char] = &['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'];

pub fn retention_partition(id: Uuid) -> String {
    let shard = id.simple().to_string().chars().next().unwrap_or('0');
    format!("RETENTION#{shard}")
}

/// Bulk imports (`hub-imports`, repo/import.rs): the job item, each upserted row's once-only
/// marker, and a dry run's scratch claim of a unique value. None is a `record`, so no stream
/// consumer acts on them.
pub const ITEM_IMPORT: &str = "import";
pub const ITEM_IMPORT_ROW: &str = "import_row";
pub const ITEM_IMPORT_SCRATCH: &str = "import_scratch";

pub fn import_sort(id: Uuid) -> String {
    format!("IMPORT#{id}")
}

pub fn import_row_sort(id: Uuid, row: u64) -> String {
    format!("IMPORT#{id}#ROW#{row:09}")
}

/// A dry run's claim of `value`: keyed by a SHA-256 of the value salted with the import's id,
/// never the value itself (an e-mail, a record number: personal data that would otherwise sit
/// in a key for the claim's 8 days, out of reach of an erasure).
pub fn import_scratch_sort(id: Uuid, kind: &str, field: &str, value: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(id.as_bytes());
    hash.update(field.as_bytes());
    hash.update([0u8]);
    hash.update(value.as_bytes());
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("IMPORT#{id}#SCRATCH#{kind}#{field}#{hex}")
}
