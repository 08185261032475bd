//! Key custody. See [`store`] for the key store; this file only declares
//! the layer's modules and re-exports its public names.

mod aead;
mod cache;
mod db;
mod envelope;
mod error;
mod kek;
mod store;

pub use aead::AeadError;
pub use cache::CacheConfig;
pub(crate) use cache::TtlCache;
pub use db::redacted_url;
pub use error::{DbError, KeyError};
pub use kek::{read_pin, FileKek, Kek, KekError, Pkcs11Kek, Pkcs11Settings, PIN_ENV};
pub use store::{
    validate_name, KekUsage, KeyInfo, KeyStore, LoadedKey, RewrapSummary, StoreOptions,
    MAX_NAME_LEN,
};
