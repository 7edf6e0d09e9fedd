//! Resumable bulk imports (README "Imports"): an admin declares a CSV or NDJSON file of
//! contacts, appointments or transactions, uploads it with a presigned URL, and starts it; the
//! file is then read in chunks through an SQS queue (`imports-worker`), each row validated by
//! the entity's own constructor and written through the store's generic writes, and every row
//! reported.
//!
//! - [`job`]: the declaration and the job item (state, counts, where the next chunk starts);
//! - [`rows`]: bytes to rows, cells to the JSON each field expects;
//! - [`worker`]: one chunk per message, committed once, resumable;
//! - [`ids`]: the record id a created row gets, derived from the import and the row;
//! - [`api`]: the HTTP endpoints; [`bulk`] and [`queue`]: S3 and SQS.

pub mod api;
pub mod bulk;
pub mod ids;
pub mod job;
pub mod queue;
pub mod rows;
pub mod worker;

pub use api::{create, get, start};
pub use bulk::Bulk;
pub use job::{Job, State};
pub use queue::{ChunkMessage, Queue, Sender};
pub use worker::{Limits, Outcome, Worker};
