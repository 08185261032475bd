//! Key-encryption keys (KEKs): the [`Kek`] trait, its error, and the
//! providers: [`FileKek`] (a key file, for development), [`Pkcs11Kek`] (an
//! AES key on a token that never leaves it) and [`AwsKmsKek`] (a KMS key in
//! AWS KMS or an API-compatible service).
//!
//! A KEK wraps the random data key (DEK) of each stored secret. Sealing
//! secrets under those DEKs is the layer above; nothing here reaches up to
//! it. The providers build on `aead` alone.

mod aws_kms;
mod file;
mod pkcs11;

pub use aws_kms::{AwsKmsKek, AwsKmsSettings};
pub use file::FileKek;
pub use pkcs11::{read_pin, Pkcs11Kek, Pkcs11Settings, PIN_ENV};

use thiserror::Error;

use super::aead::AeadError;
use crate::secret::SecretBytes;

/// Errors of a KEK provider. Texts name the key file, module, token or key,
/// never key material or a PIN.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KekError {
    /// AES-256-GCM or the random generator failed.
    #[error("kms")]
    Aead(#[from] AeadError),
    /// The file KEK's key file cannot be created, read or trusted.
    #[error("{path}: {reason}")]
    KeyFile { path: String, reason: String },
    /// An AWS KMS failure (unreachable, timed out, refused, key not
    /// found); the text names the key, region and endpoint.
    #[error("{0}")]
    AwsKms(String),
    /// Any other failure, described by the text.
    #[error("kms: {0}")]
    Other(String),
    /// A PKCS#11 failure; the text names the module, token or key.
    #[error("{0}")]
    Pkcs11(String),
    /// The wrapped DEK does not authenticate under this KEK and AAD.
    #[error("unwrap failed: wrong KEK or corrupted data")]
    Unwrap,
}

/// A key-encryption key: wraps and unwraps data keys. Implementations must
/// bind `aad` into the wrapping so a wrapped DEK cannot be moved to another
/// row.
pub trait Kek: Send + Sync {
    /// Stable identifier stored next to each wrapped DEK. It must not reveal
    /// the key.
    fn id(&self) -> &str;
    /// Wraps `dek`, bound to `aad`; the result is what the row stores.
    fn wrap(&self, dek: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>, KekError>;
    /// Fails with [`KekError::Unwrap`] when the wrapped DEK does not
    /// authenticate under this KEK and `aad`.
    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, KekError>;
}
