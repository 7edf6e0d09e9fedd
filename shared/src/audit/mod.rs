//! The audit trail's records, shared by the functions that write them (every business function
//! writes access records; `audit-stream` writes change records) and those that read them.
//!
//! - [`rules`]: action, diff and risk level of a change, and the risk of an access;
//! - [`fields`]: which fields are personal, and whose;
//! - [`writer`] / [`reader`]: append records (changes and accesses: `view`, `export`,
//!   `download`) and read them back, personal values sealed with AES-256-GCM under a per-person
//!   data key ([`keys`], [`crypto`]) so erasing a person makes their audit copies unreadable
//!   without editing the append-only trail;
//! - [`item`]: the audit table's keys and indexes (DATA-DESIGN.md);
//! - [`access`]: the access records the HTTP adapter writes (reads served, denied attempts);
//! - [`query`] / [`api`]: the audit API (filtered, signed-cursor pages) and a record's history.

pub mod access;
pub mod api;
pub mod crypto;
pub mod error;
pub mod fields;
pub mod item;
pub mod keys;
pub mod model;
pub mod query;
pub mod reader;
pub mod rules;
pub mod writer;

pub use access::{Access, PLATFORM_ORG};
pub use error::AuditError;
pub use keys::{KeyState, KeyStore};
pub use model::{Action, Actor, AuditRecord, Change, Outcome, RequestInfo, Risk, Source};
pub use reader::{AuditReader, ERASED};
pub use writer::{AuditWriter, Written};
