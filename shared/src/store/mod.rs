//! Org-scoped storage: the one repository every entity goes through.
//!
//! Single-table design (see DATA-DESIGN.md). Every key this module builds starts with the
//! caller's organization, taken from the `Tenant` the HTTP adapter verified, so no request can
//! name another organization's partition. Lists read index items that the repository writes in
//! the same transaction as the record, so a list is a Query on one org-leading partition and a
//! page reads at most what it returns plus one.

pub mod attr;
pub mod cursor;
pub mod de;
mod entity;
pub(crate) mod keys;
mod repo;

pub use entity::{ANONYMIZED, Entity, IndexEntry, ListSpec, Lock, Meta, Record, Reference, SortRange, Unique};
pub use repo::{
    BatchClaim, BatchFailure, BatchKey, BulkOutcome, Created, Due, IdempotencyKey, MAX_TRANSACTION_ITEMS, Page,
    Prepared, Staged, Store, StoredImport,
};
