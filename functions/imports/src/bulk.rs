//! The bulk bucket (`HUB_BULK_BUCKET`): an import's uploaded file, its report parts and its
//! report. Uploads and report downloads are presigned URLs (the documents' `Files`, same rules);
//! the worker reads the file by ranges, so no function ever holds a whole file.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use hub_documents::files::{Declared, Files, PresignedUrl, Stored, s3_client, s3_error};
use hub_shared::error::{AppError, AppResult};

pub const BUCKET_VAR: &str = "HUB_BULK_BUCKET";

/// S3's smallest multipart part (but the last): the report is assembled in parts this large,
/// so concatenating it holds at most one part in memory, whatever the file's size.
const PART_SIZE: usize = 5 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Bulk {
    files: Files,
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl Bulk {
    pub fn new(sdk: &aws_types::SdkConfig, bucket: impl Into<String>) -> Self {
        let bucket = bucket.into();
        Self { files: Files::new(sdk, bucket.clone()), client: s3_client(sdk), bucket }
    }

    /// From the environment: the shared SDK configuration and `HUB_BULK_BUCKET`.
    pub fn from_env() -> Result<Self, lambda_http::Error> {
        let bucket = std::env::var(BUCKET_VAR)
            .ok()
            .filter(|b| !b.trim().is_empty())
            .ok_or_else(|| format!("{BUCKET_VAR} is not set: it names the S3 bucket of imports and exports"))?;
        Ok(Self::new(&hub_shared::aws::sdk_config()?, bucket))
    }

    pub fn upload_url(&self, declared: &Declared<'_>) -> impl Future<Output = AppResult<PresignedUrl>> {
        self.files.upload_url(declared)
    }

    pub fn download_url(&self, key: &str, name: &str) -> impl Future<Output = AppResult<PresignedUrl>> {
        self.files.download_url(key, name, "text/csv; charset=utf-8")
    }

    pub fn stored(&self, key: &str) -> impl Future<Output = AppResult<Option<Stored>>> {
        self.files.stored(key)
    }

    /// Bytes `[from, from + len)` of an object (fewer at its end).
    #[tracing::instrument(name = "s3.get_range", skip(self, key))]
    pub async fn range(&self, key: &str, from: u64, len: u64) -> AppResult<Vec<u8>> {
        let last = from + len.max(1) - 1;
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={from}-{last}"))
            .send()
            .await
            .map_err(s3_error)?;
        let bytes = out.body.collect().await.map_err(AppError::internal)?;
        Ok(bytes.into_bytes().to_vec())
    }

    pub async fn put(&self, key: &str, body: Vec<u8>) -> AppResult<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("text/csv; charset=utf-8")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(s3_error)?;
        Ok(())
    }

    /// Writes `key` as the concatenation of `parts`, in order, streaming: parts are read one at
    /// a time and uploaded in 5 MiB pieces of a multipart upload.
    #[tracing::instrument(name = "s3.concatenate", skip_all, fields(parts = parts.len()))]
    pub async fn concatenate(&self, key: &str, parts: &[String]) -> AppResult<()> {
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type("text/csv; charset=utf-8")
            .send()
            .await
            .map_err(s3_error)?;
        let upload_id = upload.upload_id().ok_or_else(|| AppError::internal("S3 gave no multipart upload id"))?;
        let mut done = Vec::new();
        let mut buffer = Vec::with_capacity(PART_SIZE);
        for (i, part) in parts.iter().enumerate() {
            let out = self.client.get_object().bucket(&self.bucket).key(part).send().await.map_err(s3_error)?;
            let bytes = out.body.collect().await.map_err(AppError::internal)?;
            buffer.extend_from_slice(&bytes.into_bytes());
            if buffer.len() >= PART_SIZE || i + 1 == parts.len() {
                let number = i32::try_from(done.len() + 1).map_err(AppError::internal)?;
                let body = std::mem::replace(&mut buffer, Vec::with_capacity(PART_SIZE));
                let sent = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .map_err(s3_error)?;
                done.push(CompletedPart::builder().part_number(number).set_e_tag(sent.e_tag).build());
            }
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
            .send()
            .await
            .map_err(s3_error)?;
        Ok(())
    }

    /// A whole object (tests and small reports).
    pub async fn read(&self, key: &str) -> AppResult<Vec<u8>> {
        let out = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(s3_error)?;
        Ok(out.body.collect().await.map_err(AppError::internal)?.into_bytes().to_vec())
    }
}
