//! Secret memory: byte buffers that are wiped when dropped and never printed.
//!
//! Every buffer that holds key material, a data-encryption key, a KEK or a
//! decrypted blob lives in a [`SecretBytes`]. It has no `Display`, no
//! `Serialize`, and its `Debug` prints only the length, so a secret cannot
//! reach a log line, an error message or a panic by accident.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// An owned secret byte string, zeroised on drop, redacted in `Debug`.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
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

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([REDACTED; {} bytes])", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretBytes::from_slice(b"hunter2");
        let d = format!("{s:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains("7 bytes"), "{d}");
    }
}
