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
//! read from there, and the HTTPS client (`https.rs`: HTTP/1.1, rustls on aws-lc) is built on the
//! first request, which needs TLS anyway.
//!
//! That client trusts the five Amazon Trust Services roots (`shared/certs/amazon-trust-services.pem`)
//! and nothing else: every AWS endpoint the functions call (DynamoDB, S3) chains to one of them, and
//! parsing the system's ~146 roots on the first request cost 17.4M instructions for nothing (the
//! Identity Service client, reqwest, keeps the system's roots: its host is not AWS's). The local stack
//! and the bench, which front the emulator with a CA of their own, name it in `HUB_AWS_EXTRA_CA_FILE`;
//! nothing is trusted beyond these by default.

use crate::config::{ConfigError, Env};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::{Intercept, disable_interceptor};
use std::sync::Arc;

mod https;
mod queue;
mod requests;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::SdkConfig;
use aws_types::region::Region;
pub use https::{Https, Roots};
pub use queue::Queue;
pub use requests::{RequestLog, Sent};

/// The roots the AWS client trusts by default: Amazon Root CA 1 to 4 and Starfield Services Root
/// Certificate Authority - G2 (see the file's header, and the tests below).
pub const AWS_ROOTS_PEM: &str = include_str!("../certs/amazon-trust-services.pem");

/// The roots the AWS client trusts with no extra CA configured: [`AWS_ROOTS_PEM`].
pub fn aws_roots() -> Roots {
    Roots::from_pems(vec![aws_roots_pem()])
}

fn aws_roots_pem() -> Arc<[u8]> {
    Arc::from(AWS_ROOTS_PEM.as_bytes())
}

/// Names a PEM file of extra roots for the AWS client (a local emulator's TLS front).
pub const EXTRA_CA_VAR: &str = "HUB_AWS_EXTRA_CA_FILE";

/// What the AWS client trusts: [`AWS_ROOTS_PEM`], plus the certificates of `extra_pem` when given.
/// `extra_pem` is checked here (every block a certificate that can be a root, at least one), so that
/// a bad file fails init rather than the first request, when the client is built.
pub fn aws_trust_store(extra_pem: Option<&[u8]>) -> Result<Roots, ConfigError> {
    let mut pems: Vec<Arc<[u8]>> = vec![aws_roots_pem()];
    if let Some(pem) = extra_pem {
        let invalid = |reason: String| ConfigError::Invalid { name: EXTRA_CA_VAR, reason };
        let certs = pem_certificates(pem).map_err(invalid)?;
        if certs == 0 {
            return Err(invalid("the file holds no PEM certificate".into()));
        }
        pems.push(Arc::from(pem));
    }
    Ok(Roots::from_pems(pems))
}

/// The number of `CERTIFICATE` blocks of a PEM text, or why it is not one.
fn pem_certificates(pem: &[u8]) -> Result<usize, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let der = cert.map_err(|e| format!("not a PEM certificate list: {e}"))?;
        webpki::anchor_from_trusted_cert(&der)
            .map_err(|e| format!("certificate {} cannot be a root: {e}", count + 1))?;
        count += 1;
    }
    Ok(count)
}

/// The shared SDK configuration from `env`: `AWS_REGION` (or `AWS_DEFAULT_REGION`),
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN` (what Lambda
/// sets), optional `AWS_ENDPOINT_URL` (the local emulator) and optional `HUB_AWS_EXTRA_CA_FILE`
/// (its CA, read here: the only file read at init, and only where it is set). A missing or
/// invalid one fails init.
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
    let extra = match env.get(EXTRA_CA_VAR) {
        None => None,
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| ConfigError::Invalid { name: EXTRA_CA_VAR, reason: format!("cannot read {path}: {e}") })?,
        ),
    };
    let trust = aws_trust_store(extra.as_deref())?;
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(https_client(trust));
    if let Some(endpoint) = env.get("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(endpoint);
    }
    Ok(builder.build())
}

/// [`sdk_config_from`] the process environment, built once per process: every client of a
/// function (DynamoDB, S3) then shares one HTTPS client, so the roots are parsed once.
pub fn sdk_config() -> Result<SdkConfig, ConfigError> {
    static CONFIG: std::sync::OnceLock<Result<SdkConfig, ConfigError>> = std::sync::OnceLock::new();
    CONFIG.get_or_init(|| sdk_config_from(&Env::from_process())).clone()
}

/// The HTTP client of every SDK client ([`Https`]): HTTP/1.1 over TLS trusting `roots`, built on
/// the first request.
pub fn https_client(roots: Roots) -> SharedHttpClient {
    SharedHttpClient::new(Https::new(roots))
}

/// A DynamoDB client on `sdk`, as every function builds it (see [`Quiet`]).
pub fn dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(Quiet).build())
}

/// An SQS client on `sdk`, as every function that sends or receives messages builds it (see
/// [`Quiet`]). Locally, `AWS_ENDPOINT_URL` in `sdk` points it at the emulator, as every client.
pub fn sqs(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(sdk).interceptor(Quiet).build())
}

/// Turns off, per request, four interceptors that only add informational headers, and costs
/// instructions on every call of a function whose budget is counted in them (BENCHMARKS.md):
/// - `User-Agent` / `x-amz-user-agent` (SDK, OS and feature metrics for AWS; no service needs them);
/// - `amz-sdk-invocation-id` and `amz-sdk-request` (attempt numbers, for AWS's server-side
///   correlation of retries: retries themselves are unchanged, they are the orchestrator's);
/// - recursion detection, which copies `_X_AMZN_TRACE_ID` into `X-Amzn-Trace-Id` for X-Ray: the
///   functions do not enable X-Ray tracing (template.yaml), so there is nothing to propagate.
///
/// Signing, retries, timeouts, checksums and endpoint resolution are untouched.
#[derive(Debug, Clone, Copy)]
pub struct Quiet;

impl Intercept for Quiet {
    fn name(&self) -> &'static str {
        "HubQuiet"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_runtime::{invocation_id, recursion_detection, request_info, user_agent};
        const WHY: &str = "informational header (hub_shared::aws::Quiet)";
        let layer = cfg.interceptor_state();
        layer.store_put(disable_interceptor::<user_agent::UserAgentInterceptor>(WHY));
        layer.store_put(disable_interceptor::<invocation_id::InvocationIdInterceptor>(WHY));
        layer.store_put(disable_interceptor::<request_info::RequestInfoInterceptor>(WHY));
        layer.store_put(disable_interceptor::<recursion_detection::RecursionDetectionInterceptor>(WHY));
        Ok(())
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

    /// SHA-256 of each root's DER, as published at https://www.amazontrust.com/repository/.
    const AWS_ROOT_FINGERPRINTS: [&str; 5] = [
        "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e", // Amazon Root CA 1
        "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4", // Amazon Root CA 2
        "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4", // Amazon Root CA 3
        "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092", // Amazon Root CA 4
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5", // Starfield Services Root G2
    ];

    fn ders(pem: &[u8]) -> Vec<rustls_pki_types::CertificateDer<'static>> {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_default_roots_are_exactly_the_five_amazon_trust_services_roots() {
        use sha2::Digest;
        let roots = ders(AWS_ROOTS_PEM.as_bytes());
        let fingerprints: Vec<String> = roots
            .iter()
            .map(|der| sha2::Sha256::digest(der.as_ref()).iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        assert_eq!(fingerprints, AWS_ROOT_FINGERPRINTS);
        // And each is, byte for byte, the one in Mozilla's list (not merely a certificate that
        // hashes to a value written beside it in this file).
        for der in &roots {
            assert!(webpki_root_certs::TLS_SERVER_ROOT_CERTS.contains(der), "a root absent from Mozilla's list");
            assert!(webpki::anchor_from_trusted_cert(der).is_ok());
        }
        assert_eq!(pem_certificates(AWS_ROOTS_PEM.as_bytes()), Ok(5));
    }

    #[test]
    fn an_extra_ca_must_be_certificates() {
        assert!(aws_trust_store(None).is_ok());
        assert!(aws_trust_store(Some(AWS_ROOTS_PEM.as_bytes())).is_ok());
        for bad in [&b""[..], b"not a certificate", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] {
            let err = aws_trust_store(Some(bad)).err();
            assert!(matches!(err, Some(ConfigError::Invalid { name: EXTRA_CA_VAR, .. })), "{bad:?}: {err:?}");
        }
        let missing = sdk_config_from(&env(&[
            ("AWS_REGION", "eu-west-3"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            (EXTRA_CA_VAR, "/nonexistent/ca.pem"),
        ]));
        assert!(matches!(missing, Err(ConfigError::Invalid { name: EXTRA_CA_VAR, .. })), "{missing:?}");
    }

    #[test]
    fn a_missing_setting_is_named() {
        let err = sdk_config_from(&env(&[("AWS_REGION", "eu-west-3"), ("AWS_ACCESS_KEY_ID", "AKID")]));
        assert!(matches!(err, Err(ConfigError::Missing { name: "AWS_SECRET_ACCESS_KEY" })), "{err:?}");
        let err = sdk_config_from(&env(&[("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "s")]));
        assert!(matches!(err, Err(ConfigError::Missing { name: "AWS_REGION" })), "{err:?}");
    }
}
