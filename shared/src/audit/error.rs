use crate::audit::crypto::CryptoError;

/// Why an audit record could not be written or read. Messages never hold personal values.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The audit table (or the network) failed; retrying may succeed.
    #[error("audit storage: {0}")]
    Storage(String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A stream record or stored item does not have the shape this code writes.
    #[error("malformed: {0}")]
    Malformed(String),
}

impl AuditError {
    pub(crate) fn storage<E: std::error::Error>(what: &str, error: E) -> Self {
        Self::Storage(format!("{what}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(error)))
    }
}
