//! The AWS SDK configuration every function builds once, at init, without `aws-config`.
//!
//! What `aws_config::load_defaults` does at init that a Lambda function should not:
//! - it builds the web-identity credentials provider, which builds an STS client, which builds
//!   its HTTPS connector to validate it: loading and parsing the system's CA bundle (measured
//!   with callgrind on `contacts-get`: 17.4M of its 20.9M init instructions, BENCHMARKS.md);
//! - it reads the shared config and credentials files;
//! - it links STS, SSO, IMDS and profile parsing into every binary.
//!
//! A function on Lambda gets its region and credentials as environment variables, so they are
//! read from there, and the SDK's own HTTPS client is kept but built on the first request,
//! which needs TLS anyway.

use crate::config::{ConfigError, Env};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::SdkConfig;
use aws_types::region::Region;

/// The shared SDK configuration from `env`: `AWS_REGION` (or `AWS_DEFAULT_REGION`),
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN` (what Lambda
/// sets), and optional `AWS_ENDPOINT_URL` (the local emulator). A missing one fails init.
pub fn sdk_config_from(env: &Env) -> Result<SdkConfig, ConfigError> {
    let region = env
        .get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
        .ok_or(ConfigError::Missing { name: "AWS_REGION" })?;
    // Lambda's credentials are fixed for the life of the execution environment, so reading
    // them once is what the SDK's environment provider would do too.
    let credentials = Credentials::new(
        env.required("AWS_ACCESS_KEY_ID")?,
        env.required("AWS_SECRET_ACCESS_KEY")?,
        env.get("AWS_SESSION_TOKEN").map(String::from),
        None,
        "lambda-environment",
    );
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(deferred_https_client());
    if let Some(endpoint) = env.get("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(endpoint);
    }
    Ok(builder.build())
}

/// [`sdk_config_from`] the process environment, for functions that build extra clients (S3)
/// after `Services::from_env` has already checked the same settings.
pub async fn sdk_config() -> SdkConfig {
    let env = Env::from_process();
    match sdk_config_from(&env) {
        Ok(config) => config,
        Err(err) => {
            // Unreachable after Services::from_env succeeded; a client without credentials
            // then fails each request with the SDK's own error, which names what is missing.
            tracing::error!(error = %err, "AWS configuration incomplete");
            SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .http_client(deferred_https_client())
                .build()
        }
    }
}

/// The client `default-https-client` would install (rustls with aws-lc), wrapped so that it
/// is not built at client construction.
fn deferred_https_client() -> SharedHttpClient {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .build_https();
    Deferred { inner: https }.into_shared()
}

/// An HTTP client that skips the eager connector construction of `validate_base_client_config`
/// and otherwise is the SDK's client: connectors (and their TLS roots) are built on first use
/// and cached by the inner client as before.
#[derive(Debug)]
struct Deferred {
    inner: SharedHttpClient,
}

impl HttpClient for Deferred {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.inner.http_connector(settings, components)
    }

    fn validate_final_config(&self, components: &RuntimeComponents, cfg: &ConfigBag) -> Result<(), BoxError> {
        self.inner.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn region_credentials_and_endpoint_come_from_the_environment() {
        let config = sdk_config_from(&env(&[
            ("AWS_REGION", "eu-west-3"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9100"),
        ]));
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-3"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:9100"));
        assert!(config.credentials_provider().is_some());
    }

    #[test]
    fn a_missing_setting_is_named() {
        let err = sdk_config_from(&env(&[("AWS_REGION", "eu-west-3"), ("AWS_ACCESS_KEY_ID", "AKID")]));
        assert!(matches!(err, Err(ConfigError::Missing { name: "AWS_SECRET_ACCESS_KEY" })), "{err:?}");
        let err = sdk_config_from(&env(&[("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "s")]));
        assert!(matches!(err, Err(ConfigError::Missing { name: "AWS_REGION" })), "{err:?}");
    }
}
