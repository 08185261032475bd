//! Key custody: the database, envelope encryption and the unwrapped-key cache.
//!
//! Every secret (signing keys, the symmetric "encryption keys" of signd's
//! `encryptionkeys:` directory) is stored encrypted under its own random data
//! key (DEK, AES-256-GCM); each DEK is wrapped by a key-encryption key (KEK)
//! from a [`Kek`] provider. No plaintext key material ever reaches the
//! database. This module knows nothing of the wire protocol or sockets.

mod cache;
mod db;
mod envelope;
mod kms;

pub use cache::CacheConfig;
pub use kms::{FileKek, Kek, KmsError};

use std::sync::Arc;

use thiserror::Error;

use crate::secret::SecretBytes;
use crate::sign::{ImportedKey, SigningKey};

/// Errors from the key store. Messages name the key, never its material.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("database: {0}")]
    Database(String),
    #[error("key {0} already exists")]
    Exists(String),
    #[error("no key named {0}")]
    NotFound(String),
    #[error("key {name}: {reason}")]
    Corrupt { name: String, reason: String },
    #[error(transparent)]
    Kms(#[from] KmsError),
    #[error("key {name}: {source}")]
    Sign {
        name: String,
        source: crate::sign::SignError,
    },
}

/// A row of `key list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub name: String,
    pub fingerprint: String,
    pub algo: String,
    pub user_ids: Vec<String>,
    pub created: i64,
}

/// An unwrapped key, shared by the cache and requests in flight.
pub struct LoadedKey {
    pub name: String,
    pub signer: SigningKey,
    /// Binary transferable public key.
    pub public: Vec<u8>,
}

/// The key store.
pub struct KeyStore {}

impl KeyStore {
    /// Opens (creating and migrating if needed) the store at `url`:
    /// `sqlite:///path/to/file.db` or `postgres://...`.
    pub async fn open(_url: &str, _kek: Arc<dyn Kek>) -> Result<KeyStore, KeyError> {
        unimplemented!()
    }
    pub async fn import(&self, _name: &str, _key: &ImportedKey) -> Result<(), KeyError> {
        unimplemented!()
    }
    pub async fn signing_key(&self, _name: &str) -> Result<Option<Arc<LoadedKey>>, KeyError> {
        unimplemented!()
    }
    pub async fn exists(&self, _name: &str) -> Result<bool, KeyError> {
        unimplemented!()
    }
    pub async fn public_key(&self, _name: &str) -> Result<Option<Vec<u8>>, KeyError> {
        unimplemented!()
    }
    pub async fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        unimplemented!()
    }
    pub async fn delete(&self, _name: &str) -> Result<bool, KeyError> {
        unimplemented!()
    }
    pub async fn set_alias(&self, _alias: &str, _target: &str) -> Result<(), KeyError> {
        unimplemented!()
    }
    pub async fn remove_alias(&self, _alias: &str) -> Result<bool, KeyError> {
        unimplemented!()
    }
    pub async fn alias(&self, _alias: &str) -> Result<Option<String>, KeyError> {
        unimplemented!()
    }
    pub async fn list_aliases(&self) -> Result<Vec<(String, String)>, KeyError> {
        unimplemented!()
    }
    pub async fn put_encryption_key(
        &self,
        _id: &str,
        _secret: &SecretBytes,
    ) -> Result<(), KeyError> {
        unimplemented!()
    }
    pub async fn encryption_key(&self, _id: &str) -> Result<Option<SecretBytes>, KeyError> {
        unimplemented!()
    }
}
