//! An SQS queue a function sends JSON messages to: the import chunks, the export steps.

use crate::config::{ConfigError, Env};
use crate::error::{AppError, AppResult};
use aws_types::SdkConfig;
use serde::Serialize;

/// A queue's URL and the client that sends to it, both built once per container.
#[derive(Debug, Clone)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    pub fn new(sdk: &SdkConfig, url: impl Into<String>) -> Self {
        Self { client: super::sqs(sdk), url: url.into() }
    }

    /// The queue whose URL the variable `var` holds (`!Ref` of the template's queue).
    pub fn from_env(env: &Env, var: &'static str, sdk: &SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(sdk, env.required(var)?))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `message` as JSON. A refusal or an unreachable queue is logged with its cause and
    /// answered as 503 `unavailable` (what the caller may be told: retry later).
    pub async fn send_json(&self, message: &impl Serialize, unavailable: &'static str) -> AppResult<()> {
        let body = serde_json::to_string(message).map_err(AppError::internal)?;
        self.client.send_message().queue_url(&self.url).message_body(body).send().await.map_err(|e| {
            tracing::warn!(queue = %self.url, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "message not sent");
            AppError::unavailable(unavailable)
        })?;
        Ok(())
    }
}
