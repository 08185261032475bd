//! Key custody. See [`store`] for the key store; this file only declares
//! the layer's modules and re-exports its public names.

mod aead;
mod cache;
mod db;
mod envelope;
mod kek;
mod store;

pub use aead::AeadError;
pub use cache::CacheConfig;
pub(crate) use cache::TtlCache;
pub use kek::{read_pin, FileKek, Kek, KekError, Pkcs11Kek, Pkcs11Settings, PIN_ENV};
pub use store::{
    redacted_url, validate_name, KekUsage, KeyError, KeyInfo, KeyStore, LoadedKey, RewrapSummary,
    StoreOptions, MAX_NAME_LEN,
};
