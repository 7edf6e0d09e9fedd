//! The audit trail.
//!
//! - [`stream`]: the `audit-stream` function. It reads the business table's stream
//!   (`NEW_AND_OLD_IMAGES`) and appends one audit record per change of a `record` item, exactly
//!   once, reporting the first failed record so Lambda retries in order;
//! - [`rules`]: action, diff and risk level of a change, and the risk of an access;
//! - [`fields`]: which fields are personal, and whose;
//! - [`writer`] / [`reader`]: append records (changes and accesses: `view`, `export`,
//!   `download`) and read them back, personal values sealed with AES-256-GCM under a per-person
//!   data key ([`keys`], [`crypto`]) so erasing a person makes their audit copies unreadable
//!   without editing the append-only trail;
//! - [`item`]: the audit table's keys and indexes (DATA-DESIGN.md).
//!
//! The library modules use only the SDK and plain crates, not `hub-shared`, so the handlers
//! that serve reads can write access records with [`AuditWriter`] and [`AuditRecord::access`].

pub mod crypto;
pub mod error;
pub mod fields;
pub mod item;
pub mod keys;
pub mod model;
pub mod reader;
pub mod rules;
pub mod stream;
pub mod writer;

pub use error::AuditError;
pub use keys::{KeyState, KeyStore};
pub use model::{Action, Actor, AuditRecord, Change, Outcome, RequestInfo, Risk, Source};
pub use reader::{AuditReader, ERASED};
pub use writer::{AuditWriter, Written};
