//! The import queue (`HUB_IMPORT_QUEUE_URL`): one message per chunk. A chunk is processed by one
//! `imports-worker` invocation (BatchSize 1), which sends the next chunk's message when it has
//! committed its own, so no invocation runs long whatever the file's size.

use hub_shared::error::{AppError, AppResult};
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

#[derive(Debug, Clone)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    pub fn new(sdk: &aws_types::SdkConfig, url: impl Into<String>) -> Self {
        Self { client: hub_shared::aws::sqs(sdk), url: url.into() }
    }

    pub fn from_env() -> Result<Self, lambda_http::Error> {
        let url = std::env::var(QUEUE_VAR)
            .ok()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| format!("{QUEUE_VAR} is not set: it names the SQS queue of import chunks"))?;
        Ok(Self::new(&hub_shared::aws::sdk_config()?, url))
    }

    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Sender for Queue {
    async fn send(&self, message: &ChunkMessage) -> AppResult<()> {
        let body = serde_json::to_string(message).map_err(AppError::internal)?;
        self.client.send_message().queue_url(&self.url).message_body(body).send().await.map_err(|e| {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "chunk message not sent");
            AppError::unavailable("the import queue is temporarily unavailable; retry shortly")
        })?;
        Ok(())
    }
}
