//! The documents' bytes in S3: object keys, presigned upload and download URLs, and the check of
//! an uploaded object against what its record declared.
//!
//! Functions never stream file bytes themselves (a 128 MB Lambda behind a 10 MB API payload
//! limit could not); clients PUT and GET them directly with short-lived presigned URLs, and
//! S3 enforces what the URL was signed with.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::types::ChecksumMode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{Duration as ChronoDuration, Utc};
use hub_shared::auth::OrgId;
use hub_shared::domain::Timestamp;
use hub_shared::error::{AppError, AppResult};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The environment variable naming the documents bucket (template.yaml sets it on the document
/// functions only).
pub const BUCKET_VAR: &str = "HUB_DOCUMENTS_BUCKET";

/// How long an upload URL can be used: S3 checks expiry when the request starts, so a large
/// upload started in time finishes; a client that waited longer creates a new version.
pub const UPLOAD_URL_TTL: Duration = Duration::from_secs(5 * 60);

/// How long a download URL can be used: a browser follows it at once.
pub const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(2 * 60);

/// What a client must send with a presigned PUT, besides the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedUrl {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub expires_at: Timestamp,
}

impl PresignedUrl {
    fn from_request(request: &PresignedRequest, ttl: Duration) -> Self {
        let expires_at = Timestamp::from_datetime(Utc::now() + ChronoDuration::seconds(ttl.as_secs() as i64));
        // Only the signed headers: the SDK also attaches unsigned ones (`x-amzn-trace-id`, from
        // Lambda's `_X_AMZN_TRACE_ID`) that the bucket's CORS rules do not allow, so a browser
        // sending them has its upload refused at the preflight. `host` is set by any HTTP client
        // from the URL; browsers refuse to set it at all.
        let signed = signed_headers(request.uri());
        let headers = request
            .headers()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .filter(|(name, _)| signed.as_ref().is_none_or(|list| list.iter().any(|s| s.eq_ignore_ascii_case(name))))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_string()))
            .collect();
        Self { url: request.uri().to_string(), method: request.method().to_string(), headers, expires_at }
    }

    pub fn to_json(&self) -> Value {
        let headers: serde_json::Map<String, Value> =
            self.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        json!({
            "url": self.url,
            "method": self.method,
            "headers": headers,
            "expires_at": self.expires_at,
        })
    }
}

/// The names in a presigned URL's `X-Amz-SignedHeaders` (`None` when it has none).
fn signed_headers(uri: &str) -> Option<Vec<String>> {
    let query = uri.split_once('?')?.1;
    let value = query.split('&').find_map(|pair| pair.strip_prefix("X-Amz-SignedHeaders="))?;
    // `;` is percent-encoded in the query.
    Some(value.replace("%3B", ";").replace("%3b", ";").split(';').map(str::to_owned).collect())
}

/// What an upload must be: the record's declared size, type and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared<'a> {
    pub key: &'a str,
    pub size: u64,
    pub content_type: &'a str,
    /// Lower-case hex, as the API takes it.
    pub sha256_hex: &'a str,
}

/// What S3 says about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: Option<i64>,
    /// Base64, as S3 returns it; `None` when the object was stored without a SHA-256.
    pub sha256_base64: Option<String>,
}

/// The S3 side of the documents functions, built once per container.
#[derive(Debug, Clone)]
pub struct Files {
    client: aws_sdk_s3::Client,
    bucket: String,
}

/// The S3 client every function that touches document files builds. With an endpoint override
/// (the local emulator) addressing is path-style, since `<bucket>.127.0.0.1` does not resolve.
pub fn s3_client(sdk: &aws_types::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .interceptor(hub_shared::aws::Quiet)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

impl Files {
    /// From the environment: the shared SDK configuration (region and credentials from the
    /// environment, TLS deferred to the first request) and `HUB_DOCUMENTS_BUCKET`.
    pub async fn from_env() -> Result<Arc<Self>, lambda_http::Error> {
        let bucket = std::env::var(BUCKET_VAR)
            .ok()
            .filter(|b| !b.trim().is_empty())
            .ok_or_else(|| format!("{BUCKET_VAR} is not set: it names the S3 bucket that holds the documents"))?;
        let sdk = hub_shared::aws::sdk_config()?;
        Ok(Arc::new(Self::new(&sdk, bucket)))
    }

    /// A client on `sdk` (see [`s3_client`]).
    pub fn new(sdk: &aws_types::SdkConfig, bucket: impl Into<String>) -> Self {
        Self { client: s3_client(sdk), bucket: bucket.into() }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// A PUT URL signed with the body's length, type and SHA-256: S3 refuses any other body,
    /// and stores the checksum for `complete` to compare.
    pub async fn upload_url(&self, declared: &Declared<'_>) -> AppResult<PresignedUrl> {
        let sha256 = hex_to_base64(declared.sha256_hex)
            .ok_or_else(|| AppError::internal("a stored checksum is not a SHA-256 in hex"))?;
        let size = i64::try_from(declared.size).map_err(|_| AppError::internal("a stored size exceeds i64"))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(declared.key)
            .content_length(size)
            .content_type(declared.content_type)
            .checksum_sha256(sha256)
            // Tells S3 (and emulators) which algorithm the checksum header carries.
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .presigned(presigning(UPLOAD_URL_TTL)?)
            .await
            .map_err(|e| AppError::internal(DisplayErrorContext(e).to_string()))?;
        Ok(PresignedUrl::from_request(&request, UPLOAD_URL_TTL))
    }

    /// A GET URL whose response carries `Content-Disposition: attachment` with the file's name
    /// (so a browser saves rather than renders it) and the declared content type.
    pub async fn download_url(&self, key: &str, file_name: &str, content_type: &str) -> AppResult<PresignedUrl> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(content_disposition(file_name))
            .response_content_type(content_type)
            .presigned(presigning(DOWNLOAD_URL_TTL)?)
            .await
            .map_err(|e| AppError::internal(DisplayErrorContext(e).to_string()))?;
        Ok(PresignedUrl::from_request(&request, DOWNLOAD_URL_TTL))
    }

    /// The stored object's size and SHA-256, or `None` when nothing was uploaded.
    #[tracing::instrument(name = "s3.head", skip_all)]
    pub async fn stored(&self, key: &str) -> AppResult<Option<Stored>> {
        let result =
            self.client.head_object().bucket(&self.bucket).key(key).checksum_mode(ChecksumMode::Enabled).send().await;
        match result {
            Ok(out) => {
                Ok(Some(Stored { size: out.content_length(), sha256_base64: out.checksum_sha256().map(String::from) }))
            }
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() || e.raw().status().as_u16() == 404 => Ok(None),
            Err(e) => Err(s3_error(e)),
        }
    }
}

fn presigning(ttl: Duration) -> AppResult<PresigningConfig> {
    PresigningConfig::expires_in(ttl).map_err(AppError::internal)
}

/// An S3 failure as the API answers it: throttling and transport failures are a retryable 503,
/// anything else a 500 with the SDK's context logged. Shared with the erasure of files.
pub fn s3_error<E, R>(err: SdkError<E, R>) -> AppError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let retryable = matches!(err, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_))
        || matches!(err.code(), Some("SlowDown" | "ServiceUnavailable" | "InternalError"));
    if retryable {
        tracing::warn!(error = %DisplayErrorContext(&err), "file storage unavailable");
        AppError::unavailable("file storage is temporarily unavailable; retry shortly")
    } else {
        AppError::internal(DisplayErrorContext(err).to_string())
    }
}

/// The object key of one version of a document: the organization first (so an IAM condition or
/// a lifecycle rule can scope by tenant), then the document's id and version. Nothing the
/// client wrote is in it.
pub fn object_key(org: OrgId, document: Uuid, document_version: u32) -> String {
    format!("org/{org}/documents/{document}/v{document_version}")
}

/// `attachment` with the name twice: an ASCII fallback with anything risky replaced (quotes,
/// backslashes, control and non-ASCII characters), and the exact name percent-encoded as
/// RFC 6266 / RFC 8187 `filename*`, which browsers prefer.
pub fn content_disposition(file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::with_capacity(file_name.len() * 3);
    for byte in file_name.bytes() {
        // RFC 8187 attr-char.
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// A 64-digit hex SHA-256 as the base64 S3 uses in `x-amz-checksum-sha256`.
pub fn hex_to_base64(hex: &str) -> Option<String> {
    if hex.len() != 64 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect();
    bytes.map(|b| BASE64.encode(b))
}

#[cfg(test)]
mod tests {
    use super::signed_headers;

    #[test]
    fn the_signed_header_names_are_read_from_the_presigned_urls_query() {
        let url = "http://s3.test/b/k?x-id=PutObject&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&X-Amz-Signature=ab";
        assert_eq!(signed_headers(url), Some(vec!["content-length".into(), "content-type".into(), "host".into()]));
        assert_eq!(signed_headers("http://s3.test/b/k"), None);
    }
}
