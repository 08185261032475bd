//! AES-256-GCM and random bytes: the bottom of the `keys` layer.
//!
//! Glue over OpenSSL's `Crypter` and CSPRNG, not home-made cryptography.
//! The data keys of the envelope and the file KEK both use it, and the
//! PKCS#11 KEK takes its IVs from it. It names nothing else from `keys`.
//!
//! Ciphertexts are `ct || tag`: the 16-byte GCM tag is appended. Opening
//! decrypts into a zeroising buffer, so that plaintext produced before a tag
//! failure is wiped as well.

use openssl::error::ErrorStack;
use openssl::symm::{Cipher, Crypter, Mode};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::secret::SecretBytes;

/// AES-256 key length, in bytes.
pub(crate) const KEY_LEN: usize = 32;
/// GCM nonce length, in bytes.
pub(crate) const NONCE_LEN: usize = 12;
/// GCM tag length, in bytes; the tag is appended to the ciphertext.
pub(crate) const TAG_LEN: usize = 16;

/// Why encrypting, or drawing random bytes, failed. (Opening gives no
/// reason: see `open`.)
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AeadError {
    /// OpenSSL's AES-256-GCM failed.
    #[error("aes-256-gcm")]
    Cipher(#[source] ErrorStack),
    /// The key is not 32 bytes or the nonce not 12.
    #[error("aes-256-gcm: bad key or nonce length")]
    Length,
    /// OpenSSL's random generator failed.
    #[error("rng")]
    Random(#[source] ErrorStack),
}

/// `len` fresh random bytes from OpenSSL's CSPRNG, as a secret (data keys).
pub(crate) fn random_secret(len: usize) -> Result<SecretBytes, AeadError> {
    let mut buf = vec![0u8; len];
    openssl::rand::rand_bytes(&mut buf).map_err(AeadError::Random)?;
    Ok(SecretBytes::new(buf))
}

/// `len` random bytes that are not secret (nonces, IVs, `CKA_ID`s).
pub(crate) fn random_public(len: usize) -> Result<Vec<u8>, AeadError> {
    let mut buf = vec![0u8; len];
    openssl::rand::rand_bytes(&mut buf).map_err(AeadError::Random)?;
    Ok(buf)
}

/// AES-256-GCM encryption of `plaintext` under `key` (32 bytes) and `nonce`
/// (12 bytes), authenticating `aad`: returns `ct || tag`.
pub(crate) fn seal(
    key: &SecretBytes,
    nonce: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, AeadError> {
    if key.len() != KEY_LEN || nonce.len() != NONCE_LEN {
        return Err(AeadError::Length);
    }
    let cipher = Cipher::aes_256_gcm();
    let mut c = Crypter::new(cipher, Mode::Encrypt, key.expose(), Some(nonce))
        .map_err(AeadError::Cipher)?;
    c.aad_update(aad).map_err(AeadError::Cipher)?;
    let mut out = vec![0u8; plaintext.len() + cipher.block_size() + TAG_LEN];
    let mut n = c.update(plaintext, &mut out).map_err(AeadError::Cipher)?;
    n += c.finalize(&mut out[n..]).map_err(AeadError::Cipher)?;
    let mut tag = [0u8; TAG_LEN];
    c.get_tag(&mut tag).map_err(AeadError::Cipher)?;
    out.truncate(n);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// AES-256-GCM decryption of `ct || tag`. `None` on any failure (wrong
/// key, nonce, AAD or lengths, or a tampered ciphertext): the callers
/// only need to know that it does not authenticate. The (possibly
/// unauthenticated) output buffer is wiped in every case.
pub(crate) fn open(
    key: &SecretBytes,
    nonce: &[u8],
    aad: &[u8],
    ct_and_tag: &[u8],
) -> Option<SecretBytes> {
    if key.len() != KEY_LEN || nonce.len() != NONCE_LEN || ct_and_tag.len() < TAG_LEN {
        return None;
    }
    let (ct, tag) = ct_and_tag.split_at(ct_and_tag.len() - TAG_LEN);
    let cipher = Cipher::aes_256_gcm();
    let mut c = Crypter::new(cipher, Mode::Decrypt, key.expose(), Some(nonce)).ok()?;
    c.aad_update(aad).ok()?;
    let mut out = Zeroizing::new(vec![0u8; ct.len() + cipher.block_size()]);
    let mut n = c.update(ct, &mut out).ok()?;
    c.set_tag(tag).ok()?;
    n += c.finalize(&mut out[n..]).ok()?;
    Some(SecretBytes::from_slice(&out[..n]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = random_secret(KEY_LEN).unwrap();
        let nonce = random_public(NONCE_LEN).unwrap();
        let ct = seal(&key, &nonce, b"aad", b"plaintext").unwrap();
        assert_eq!(ct.len(), 9 + TAG_LEN);
        assert_eq!(
            open(&key, &nonce, b"aad", &ct).unwrap().expose(),
            b"plaintext"
        );
        assert!(open(&key, &nonce, b"other", &ct).is_none());
        for i in 0..ct.len() {
            let mut t = ct.clone();
            t[i] ^= 1;
            assert!(open(&key, &nonce, b"aad", &t).is_none(), "flip at byte {i}");
        }
        assert!(open(&key, &nonce, b"aad", &ct[..TAG_LEN - 1]).is_none());
    }

    #[test]
    fn wrong_lengths_are_refused() {
        let key = random_secret(KEY_LEN).unwrap();
        let short = random_secret(KEY_LEN - 1).unwrap();
        let nonce = random_public(NONCE_LEN).unwrap();
        assert!(matches!(
            seal(&short, &nonce, b"", b"x"),
            Err(AeadError::Length)
        ));
        assert!(matches!(
            seal(&key, &nonce[1..], b"", b"x"),
            Err(AeadError::Length)
        ));
        let ct = seal(&key, &nonce, b"", b"x").unwrap();
        assert!(open(&short, &nonce, b"", &ct).is_none());
        assert!(open(&key, &nonce[1..], b"", &ct).is_none());
    }
}
