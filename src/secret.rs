//! Secret memory: byte buffers that are wiped when dropped and never printed.
//!
//! Every buffer that holds key material, a data-encryption key, a KEK or a
//! decrypted blob lives in a [`SecretBytes`]. It has no `Display`, no
//! `Serialize`, and its `Debug` prints only the length, so a secret cannot
//! reach a log line, an error message or a panic by accident.
//!
//! Threat model: an attacker who can read what the process writes (logs,
//! error replies, audit records, core files) or what it leaves behind in
//! freed memory must not learn key material, and one who can time
//! comparisons must not learn a secret byte by byte. So: wiped on drop,
//! never formatted, compared in constant time (the length is not secret).
//! Not covered: an attacker who can read the live process's memory (ptrace
//! and core dumps are turned off by `app::harden_process`), and copies made
//! by libraries we hand the bytes to (OpenSSL keeps its own in secure
//! memory where it can).

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// An owned secret byte string, zeroised on drop, redacted in `Debug`.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`; the caller must not keep other copies.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }

    /// Copies `bytes` into a new secret buffer.
    pub fn from_slice(bytes: &[u8]) -> Self {
        SecretBytes(bytes.to_vec())
    }

    /// The secret bytes. Callers must not copy them into unprotected storage.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Constant time in the contents (`CRYPTO_memcmp`); lengths are compared
/// first, in variable time.
impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && openssl::memcmp::eq(&self.0, &other.0)
    }
}

impl Eq for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([REDACTED; {} bytes])", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_is_by_contents_and_length() {
        let a = SecretBytes::from_slice(b"hunter2");
        assert_eq!(a, SecretBytes::from_slice(b"hunter2"));
        assert_ne!(a, SecretBytes::from_slice(b"hunter3"));
        assert_ne!(a, SecretBytes::from_slice(b"hunter"));
        assert_eq!(SecretBytes::default(), SecretBytes::new(Vec::new()));
    }

    #[test]
    fn debug_is_redacted() {
        let s = SecretBytes::from_slice(b"hunter2");
        let d = format!("{s:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains("7 bytes"), "{d}");
    }
}
