//! Key-encryption-key providers: the file KEK and the PKCS#11 KEK.

mod file;
mod pkcs11;

pub use file::{FileKek, Kek, KekError};
pub use pkcs11::{read_pin, Pkcs11Kek, Pkcs11Settings, PIN_ENV};
