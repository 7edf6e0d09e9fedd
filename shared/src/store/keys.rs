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
