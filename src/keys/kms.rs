//! Key-encryption-key providers.
use std::path::Path;

use thiserror::Error;

use crate::secret::SecretBytes;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KmsError {
    #[error("{path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("unwrap failed: wrong KEK or corrupted data")]
    Unwrap,
    #[error("kms: {0}")]
    Other(String),
}

/// A key-encryption key: wraps and unwraps data keys. Implementations must
/// bind `aad` into the wrapping so a wrapped DEK cannot be moved to another
/// row.
pub trait Kek: Send + Sync {
    /// Stable identifier stored next to each wrapped DEK.
    fn id(&self) -> &str;
    fn wrap(&self, dek: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>, KmsError>;
    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, KmsError>;
}

/// Development KEK: 32 random bytes in a 0600 file, created on first use.
pub struct FileKek {}

impl FileKek {
    pub fn open_or_create(_path: &Path) -> Result<FileKek, KmsError> {
        unimplemented!()
    }
}
