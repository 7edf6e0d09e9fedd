//! Deleting a document's file for good. The bucket is versioned (an overwritten or deleted
//! object stays recoverable), so a plain DeleteObject would only add a delete marker and leave
//! every byte in place: erasure lists the object's versions and delete markers and deletes each
//! one by version id.

use hub_documents::files::s3_error;
use hub_shared::auth::OrgId;
use hub_shared::error::{AppError, AppResult};

#[derive(Debug, Clone)]
pub struct Objects {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl Objects {
    /// A client on `sdk`, built as the documents functions build theirs.
    pub fn new(sdk: &aws_types::SdkConfig, bucket: impl Into<String>) -> Self {
        Self { client: hub_documents::files::s3_client(sdk), bucket: bucket.into() }
    }

    /// The version ids of every version and delete marker of the object `key` (empty when
    /// nothing is left: a repeated erasure). Only keys under the organization's own prefix are
    /// read, whatever a record says.
    #[tracing::instrument(name = "s3.list_versions", skip_all)]
    pub async fn versions(&self, org: OrgId, key: &str) -> AppResult<Vec<String>> {
        if key.is_empty() {
            return Ok(Vec::new());
        }
        if !key.starts_with(&format!("org/{org}/")) {
            return Err(AppError::internal(format!("a document of {org} names a file outside its prefix")));
        }
        let mut found = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(key)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker)
                .send()
                .await
                .map_err(s3_error)?;
            // The prefix `.../v1` also matches `.../v10`: only the exact key is this file.
            let versions = page.versions().iter().filter_map(|v| Some((v.key()?, v.version_id()?)));
            let markers = page.delete_markers().iter().filter_map(|m| Some((m.key()?, m.version_id()?)));
            found.extend(versions.chain(markers).filter(|(k, _)| *k == key).map(|(_, v)| v.to_string()));
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(String::from);
            version_marker = page.next_version_id_marker().map(String::from);
        }
        Ok(found)
    }

    /// Deletes these versions of `key` (a delete with a version id removes that version for
    /// good, rather than adding a delete marker); returns how many.
    #[tracing::instrument(name = "s3.delete_versions", skip_all)]
    pub async fn delete_versions(&self, key: &str, versions: &[String]) -> AppResult<usize> {
        for version in versions {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .version_id(version)
                .send()
                .await
                .map_err(s3_error)?;
        }
        Ok(versions.len())
    }
}
