//! Envelope encryption: each secret under its own random data key (DEK),
//! AES-256-GCM (`aead`), with the DEK wrapped by the [`Kek`] (`kek`).
//!
//! The associated data binds a ciphertext to its row (key name and
//! fingerprint, or encryption-key id), and the same AAD is given to the KEK
//! when wrapping the DEK, so neither the ciphertext nor the wrapped DEK can be
//! moved to another row without failing authentication.
//!
//! Plaintext and DEKs only ever live in [`SecretBytes`]; decryption
//! (`aead::open`) writes into a zeroising buffer so that even unauthenticated plaintext produced
//! before a tag failure is wiped.

use super::aead::{self, KEY_LEN, NONCE_LEN};
use super::kek::{Kek, KekError};
use crate::secret::SecretBytes;

/// A secret sealed for storage. Nothing here is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    /// Ciphertext with the 16-byte GCM tag appended.
    pub ct: Vec<u8>,
    pub nonce: Vec<u8>,
    pub wrapped_dek: Vec<u8>,
    pub kek_id: String,
}

/// Why opening a sealed secret failed.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The KEK could not unwrap the DEK (wrong KEK, tampered wrapped DEK or
    /// AAD mismatch).
    Kek(KekError),
    /// The DEK unwrapped but the secret ciphertext or nonce failed
    /// authentication.
    Data,
}

/// AAD for a signing key row.
pub(crate) fn key_aad(name: &str, fingerprint: &str) -> Vec<u8> {
    let mut aad = b"signatrust:key:v1:".to_vec();
    aad.extend_from_slice(name.as_bytes());
    aad.push(b':');
    aad.extend_from_slice(fingerprint.as_bytes());
    aad
}

/// AAD for an encryption-key row.
pub(crate) fn enckey_aad(id: &str) -> Vec<u8> {
    let mut aad = b"signatrust:enckey:v1:".to_vec();
    aad.extend_from_slice(id.as_bytes());
    aad
}

/// AAD of the KEK canary of `kek_id` (migration 0006).
fn canary_aad(kek_id: &str) -> Vec<u8> {
    let mut aad = b"signatrust:kek-canary:v1:".to_vec();
    aad.extend_from_slice(kek_id.as_bytes());
    aad
}

/// A new KEK canary: 32 random bytes wrapped by `kek`, bound to its id.
/// What the store keeps to recognise the KEK it belongs to.
pub(crate) fn new_canary(kek: &dyn Kek) -> Result<Vec<u8>, KekError> {
    let value = aead::random_secret(KEY_LEN)?;
    kek.wrap(&value, &canary_aad(kek.id()))
}

/// Whether `kek` unwraps the canary `wrapped` recorded for its id: the
/// proof that it is the KEK the store belongs to, not merely one with the
/// same id. `Ok(false)`: it does not authenticate ([`KekError::Unwrap`]);
/// an error: the KEK could not be asked (a KMS or token failure), which
/// proves nothing either way and must not read as a different key.
pub(crate) fn opens_canary(kek: &dyn Kek, wrapped: &[u8]) -> Result<bool, KekError> {
    match kek.unwrap(wrapped, &canary_aad(kek.id())) {
        Ok(_) => Ok(true),
        Err(KekError::Unwrap) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Seals `plaintext` under a fresh DEK, wrapped by `kek`, both bound to `aad`.
pub(crate) fn seal(kek: &dyn Kek, plaintext: &SecretBytes, aad: &[u8]) -> Result<Sealed, KekError> {
    let dek = aead::random_secret(KEY_LEN)?;
    let nonce = aead::random_public(NONCE_LEN)?;
    let ct = aead::seal(&dek, &nonce, aad, plaintext.expose())?;
    let wrapped_dek = kek.wrap(&dek, aad)?;
    Ok(Sealed {
        ct,
        nonce,
        wrapped_dek,
        kek_id: kek.id().to_owned(),
    })
}

/// Opens a sealed secret: unwraps the DEK with `kek`, then decrypts.
pub(crate) fn open(
    kek: &dyn Kek,
    ct: &[u8],
    nonce: &[u8],
    wrapped_dek: &[u8],
    aad: &[u8],
) -> Result<SecretBytes, OpenError> {
    let dek = kek.unwrap(wrapped_dek, aad).map_err(OpenError::Kek)?;
    aead::open(&dek, nonce, aad, ct).ok_or(OpenError::Data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trivial in-memory KEK for envelope tests (FileKek has its own).
    struct TestKek(SecretBytes);

    impl Kek for TestKek {
        fn id(&self) -> &str {
            "test"
        }
        fn wrap(&self, dek: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>, KekError> {
            let nonce = aead::random_public(NONCE_LEN)?;
            let mut out = nonce.clone();
            out.extend(aead::seal(&self.0, &nonce, aad, dek.expose())?);
            Ok(out)
        }
        fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, KekError> {
            if wrapped.len() < NONCE_LEN {
                return Err(KekError::Unwrap);
            }
            let (n, ct) = wrapped.split_at(NONCE_LEN);
            aead::open(&self.0, n, aad, ct).ok_or(KekError::Unwrap)
        }
    }

    fn kek() -> TestKek {
        TestKek(aead::random_secret(32).unwrap())
    }

    fn pattern(len: usize) -> SecretBytes {
        SecretBytes::new((0..len).map(|i| (i * 7 + 3) as u8).collect())
    }

    #[test]
    fn round_trip() {
        let k = kek();
        let pt = pattern(4096);
        let aad = key_aad("k1", "AB");
        let s = seal(&k, &pt, &aad).unwrap();
        assert_eq!(s.kek_id, "test");
        assert_eq!(s.nonce.len(), NONCE_LEN);
        assert_eq!(s.ct.len(), 4096 + aead::TAG_LEN);
        assert_ne!(&s.ct[..4096], pt.expose());
        let back = open(&k, &s.ct, &s.nonce, &s.wrapped_dek, &aad).unwrap();
        assert_eq!(back, pt);
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let k = kek();
        let pt = SecretBytes::default();
        let s = seal(&k, &pt, b"x").unwrap();
        let back = open(&k, &s.ct, &s.nonce, &s.wrapped_dek, b"x").unwrap();
        assert!(back.is_empty());
    }

    #[test]
    fn fresh_dek_and_nonce_each_time() {
        let k = kek();
        let pt = pattern(64);
        let a = seal(&k, &pt, b"x").unwrap();
        let b = seal(&k, &pt, b"x").unwrap();
        assert_ne!(a.ct, b.ct);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.wrapped_dek, b.wrapped_dek);
    }

    #[test]
    fn tampering_is_rejected() {
        let k = kek();
        let pt = pattern(256);
        let aad = key_aad("k1", "AB");
        let s = seal(&k, &pt, &aad).unwrap();

        for i in [0, 100, s.ct.len() - 1] {
            let mut ct = s.ct.clone();
            ct[i] ^= 1;
            assert!(matches!(
                open(&k, &ct, &s.nonce, &s.wrapped_dek, &aad),
                Err(OpenError::Data)
            ));
        }
        let mut nonce = s.nonce.clone();
        nonce[3] ^= 0x80;
        assert!(matches!(
            open(&k, &s.ct, &nonce, &s.wrapped_dek, &aad),
            Err(OpenError::Data)
        ));
        assert!(matches!(
            open(&k, &s.ct, &s.nonce[..11], &s.wrapped_dek, &aad),
            Err(OpenError::Data)
        ));
        for i in 0..s.wrapped_dek.len() {
            let mut w = s.wrapped_dek.clone();
            w[i] ^= 0x10;
            assert!(matches!(
                open(&k, &s.ct, &s.nonce, &w, &aad),
                Err(OpenError::Kek(KekError::Unwrap))
            ));
        }
        // Truncated ciphertext (tag cut off).
        assert!(matches!(
            open(&k, &s.ct[..s.ct.len() - 1], &s.nonce, &s.wrapped_dek, &aad),
            Err(OpenError::Data)
        ));
    }

    #[test]
    fn aad_binds_the_row() {
        let k = kek();
        let pt = pattern(32);
        let s = seal(&k, &pt, &key_aad("k1", "AB")).unwrap();
        // Moving the row to another name or fingerprint fails.
        for aad in [key_aad("k2", "AB"), key_aad("k1", "AC"), enckey_aad("k1")] {
            assert!(open(&k, &s.ct, &s.nonce, &s.wrapped_dek, &aad).is_err());
        }
    }

    #[test]
    fn wrong_kek_is_rejected() {
        let pt = pattern(32);
        let s = seal(&kek(), &pt, b"x").unwrap();
        assert!(matches!(
            open(&kek(), &s.ct, &s.nonce, &s.wrapped_dek, b"x"),
            Err(OpenError::Kek(KekError::Unwrap))
        ));
    }

    #[test]
    fn aad_prefixes_are_distinct() {
        assert_eq!(key_aad("a", "F00"), b"signatrust:key:v1:a:F00".to_vec());
        assert_eq!(enckey_aad("e"), b"signatrust:enckey:v1:e".to_vec());
    }
}
