//! Sends messages to WebSocket connections through API Gateway's management API
//! (`@connections`), with the functions' own HTTP client and the SDK's retries.

use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::SdkError;
use aws_sdk_apigatewaymanagement::primitives::Blob;

/// How a post ended, when it did not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostError {
    /// 410: the connection is closed. Its item must go, and nothing else is wrong.
    Gone,
    /// Anything else, after the SDK's retries (throttling, a 5xx, a network fault).
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct Poster {
    client: Client,
}

impl Poster {
    /// `endpoint` is the stage's HTTPS URL (`https://<api>.execute-api.<region>.amazonaws.com/<stage>`;
    /// locally the local gateway's).
    pub fn new(sdk: &aws_types::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .interceptor(hub_shared::aws::Quiet)
            .build();
        Self { client: Client::from_conf(config) }
    }

    pub fn from_env(env: &hub_shared::config::Env) -> Result<Self, hub_shared::config::ConfigError> {
        let sdk = hub_shared::aws::sdk_config()?;
        Ok(Self::new(&sdk, env.required("HUB_REALTIME_MANAGEMENT_URL")?))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn post(&self, connection_id: &str, message: &str) -> Result<(), PostError> {
        let result = self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(message.as_bytes().to_vec()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_gone_exception() => Err(PostError::Gone),
            Err(e) => Err(PostError::Failed(format!("{e:?}"))),
        }
    }

    /// Closes a connection (its `$disconnect` follows). Already closed is fine.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn close(&self, connection_id: &str) -> Result<(), PostError> {
        match self.client.delete_connection().connection_id(connection_id).send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_gone_exception() => Ok(()),
            Err(e) => Err(PostError::Failed(format!("{e:?}"))),
        }
    }
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gone => f.write_str("the connection is gone"),
            Self::Failed(why) => write!(f, "post failed: {why}"),
        }
    }
}
