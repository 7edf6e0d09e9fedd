//! A practice's whole export (README, "Exports"): everything the organization holds, every
//! entity, live, in the trash and erased, as NDJSON files in S3, built in the background.
//!
//! - [`api`]: `POST /api/business/exports` (start) and `GET /api/business/exports/{id}`
//!   (state, then fresh download URLs);
//! - [`worker`]: `exports-worker`, fed by `ExportQueue`, which writes the files a part at a
//!   time, resumable across invocations;
//! - [`job`]: the export job's item in the business table, its lease and conditional commits;
//! - [`records`]: which items an export reads and how each becomes a line;
//! - [`sha`]: the files' SHA-256, computed as they are written and carried across invocations.
//!
//! Files: `org/<org>/exports/<export id>/<entity>.ndjson` (`contacts`, `appointments`,
//! `documents`, `transactions`, `analytics_records`) and `manifest.json`, in the bulk bucket
//! (`HUB_BULK_BUCKET`), deleted by its lifecycle 7 days after they were written.

pub mod api;
pub mod job;
pub mod records;
pub mod sha;
pub mod worker;

pub use job::{Job, Jobs, State};
pub use records::ENTITIES;
pub use worker::{Limits, Message, Outcome, Queue, Worker};

/// The environment variable naming the bulk bucket (exports' and imports' files).
pub const BUCKET_VAR: &str = "HUB_BULK_BUCKET";

/// The bulk bucket's [`hub_documents::Files`] (its S3 client and presigned GET URLs), for the
/// download URLs of `exports-get`.
pub fn files_from_env() -> Result<std::sync::Arc<hub_documents::Files>, lambda_http::Error> {
    let env = hub_shared::config::Env::from_process();
    let bucket = env.required(BUCKET_VAR)?.to_string();
    let sdk = hub_shared::aws::sdk_config()?;
    Ok(std::sync::Arc::new(hub_documents::Files::new(&sdk, bucket)))
}
