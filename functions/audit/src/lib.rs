//! The `audit-stream` function ([`stream`]): it reads the business table's stream
//! (`NEW_AND_OLD_IMAGES`) and appends one audit record per change of a `record` item, exactly
//! once, reporting the first failed record so Lambda retries in order.

// The record types, rules, writer and reader live in `hub_shared::audit`, because every
// business function writes access records with them; they are re-exported here under the
// same paths.
pub use hub_shared::audit::{Action, Actor, AuditRecord, Change, Outcome, RequestInfo, Risk, Source};
pub use hub_shared::audit::{AuditError, KeyState, KeyStore};
pub use hub_shared::audit::{AuditReader, ERASED};
pub use hub_shared::audit::{AuditWriter, Written};
pub use hub_shared::audit::{crypto, error, fields, item, keys, model, reader, rules, writer};

pub mod stream;
