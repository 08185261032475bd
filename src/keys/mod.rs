//! Key custody: the database, envelope encryption and the unwrapped-key cache.
//!
//! Every secret (signing keys, the symmetric "encryption keys" of signd's
//! `encryptionkeys:` directory) is stored encrypted under its own random data
//! key (DEK, AES-256-GCM); each DEK is wrapped by a key-encryption key (KEK)
//! from a [`Kek`] provider. No plaintext key material ever reaches the
//! database. This module knows nothing of the wire protocol or sockets.
//!
//! The layer is built bottom-up; each file uses only those below it:
//!
//! ```text
//!   store/      KeyStore: mod.rs (open, import, signing keys, secrets),
//!     │         aliases.rs, enc_keys.rs, maintenance.rs      ── cache.rs
//!   db.rs       the only SQL (sqlx `Any`: SQLite or PostgreSQL)
//!     │         (error.rs: KeyError, used by db and store)
//!   envelope.rs each secret under its own DEK, the DEK under the KEK
//!     │
//!   kek/        the Kek trait and KekError; file.rs, pkcs11.rs
//!     │
//!   aead.rs     AES-256-GCM, random bytes, lengths
//! ```
//!
//! `cache.rs` is the bounded TTL cache with single-flight loading that the
//! store keeps rows, unwrapped keys and aliases in. `db` does not parse
//! OpenPGP (the store hands it the key IDs to index), and `kek` does not
//! know the envelope built on it.
//!
//! Lookups are lazy and by name, and cached for [`CacheConfig::ttl`]; see
//! [`KeyStore`].

mod aead;
mod cache;
mod db;
mod envelope;
mod error;
mod kek;
mod store;
mod url;

pub use aead::AeadError;
pub(crate) use cache::TtlCache;
pub use cache::{
    CacheConfig, CacheStats, DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL, DEFAULT_STALE_IF_ERROR,
    MAX_CACHE_CAPACITY, MAX_CACHE_TTL, MAX_STALE_IF_ERROR,
};
pub use error::{DbError, KeyError};
pub use kek::{
    read_pin, AwsKmsKek, AwsKmsSettings, FileKek, Kek, KekError, Pkcs11Kek, Pkcs11Settings, PIN_ENV,
};
pub use store::{
    validate_name, Custody, DbStats, DeletedKey, EncKeyInfo, KekUsage, KeyInfo, KeyStore, KeyUse,
    LoadedKey, Migration, RestoreOutcome, RewrapSummary, RotationProgress, RotationSummary,
    StoreOptions, SwapOutcome, DEFAULT_RETENTION, MAX_NAME_LEN,
};
pub use url::{redacted_url, BadStoreUrl, StoreBackend, StoreUrl};

/// Log targets binaries cap at warn unless the log filter names their crate
/// (`logging::init_quieting`): PostgreSQL's NOTICEs (`db.rs`), and the AWS
/// SDK of the KMS KEK, whose trace events print whole HTTP requests and
/// responses, KMS `Encrypt` and `Decrypt` bodies with a data key in
/// `Plaintext` among them.
pub const NOISY_LOG_TARGETS: &[&str] = &[
    db::PG_NOTICES,
    "aws_config",
    "aws_runtime",
    "aws_sdk_kms",
    "aws_sdk_sts",
    "aws_sigv4",
    "aws_smithy_http_client",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
];
