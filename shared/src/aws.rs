//! The AWS SDK configuration every function builds once, at init.
//!
//! Two things the SDK's defaults do at client construction that a Lambda's init should not:
//! - `aws_config::load_defaults` builds the web-identity credentials provider, which builds an STS
//!   client, which builds its HTTPS connector to validate it;
//! - building an HTTPS connector loads and parses the system's CA bundle.
//!
//! Measured with callgrind on `contacts-get` (see BENCHMARKS.md): that was 17.4M of the 20.9M
//! instructions of init. A function on Lambda gets its credentials and region from the
//! environment, so those are read from there; and the SDK's own HTTPS client is kept, but only
//! built when the first request needs it, which that request would pay anyway.

use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::config_bag::ConfigBag;

/// The shared SDK configuration: region and credentials from the environment (what Lambda
/// provides), endpoint overrides (`AWS_ENDPOINT_URL`, for the local emulator) the standard way.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let loaded = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(EnvironmentVariableRegionProvider::new())
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .load()
        .await;
    match loaded.http_client() {
        Some(client) => loaded.into_builder().http_client(Deferred::shared(client)).build(),
        None => loaded,
    }
}

/// An HTTP client that skips the eager connector construction of `validate_base_client_config`
/// and otherwise is the SDK's client: connectors (and their TLS roots) are built on first use
/// and cached by the inner client as before.
#[derive(Debug)]
struct Deferred {
    inner: SharedHttpClient,
}

impl Deferred {
    fn shared(inner: SharedHttpClient) -> SharedHttpClient {
        Self { inner }.into_shared()
    }
}

impl HttpClient for Deferred {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.inner.http_connector(settings, components)
    }

    fn validate_final_config(&self, components: &RuntimeComponents, cfg: &ConfigBag) -> Result<(), BoxError> {
        self.inner.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}
