//! The import queue (`HUB_IMPORT_QUEUE_URL`): one message per chunk. A chunk is processed by one
//! `imports-worker` invocation (BatchSize 1), which sends the next chunk's message when it has
//! committed its own, so no invocation runs long whatever the file's size.

pub use hub_shared::aws::Queue;
use hub_shared::error::AppResult;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const QUEUE_VAR: &str = "HUB_IMPORT_QUEUE_URL";

/// What a chunk message carries. The job item is the truth (a message that does not name the
/// job's next chunk is stale and changes nothing); the offsets make a message self-describing
/// in logs and in the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkMessage {
    pub org: Uuid,
    pub import: Uuid,
    pub chunk: u64,
    pub offset: u64,
    pub row: u64,
}

/// Where chunk messages go: SQS in a function, anything else in a test that drives the worker
/// itself.
pub trait Sender: Send + Sync {
    fn send(&self, message: &ChunkMessage) -> impl Future<Output = AppResult<()>> + Send;
}

impl Sender for Queue {
    async fn send(&self, message: &ChunkMessage) -> AppResult<()> {
        self.send_json(message, "the import queue is temporarily unavailable; retry shortly").await
    }
}
