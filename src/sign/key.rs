//! Signing keys: import from OpenPGP, generate, and the cached signer.
use secrecy::SecretString;

use super::{HashAlgo, PubkeyAlgo, SignError};
use crate::secret::SecretBytes;

/// Key types `signatrust-admin key generate` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa2048,
    Rsa4096,
    Ed25519,
}

/// A key as imported: the public transferable key (gpg `--export` packet
/// order, old-format headers) and the whole secret key with its secret
/// material unprotected, for envelope encryption by `keys`.
#[derive(Debug)]
pub struct ImportedKey {
    pub fingerprint: [u8; 20],
    pub algo: PubkeyAlgo,
    pub user_ids: Vec<String>,
    /// Binary transferable public key, exactly what `pubkey` armors.
    pub public: Vec<u8>,
    /// Binary transferable secret key, secrets unencrypted (S2K usage 0).
    pub secret: SecretBytes,
}

/// Imports an armored or binary secret key, unlocking it with `passphrase`.
pub fn import_tsk(
    _input: &[u8],
    _passphrase: Option<&SecretString>,
) -> Result<ImportedKey, SignError> {
    unimplemented!()
}

/// Generates a new signing key with one user ID.
pub fn generate(_kind: KeyType, _user_id: &str) -> Result<ImportedKey, SignError> {
    unimplemented!()
}

/// A primary signing key ready for the hot path: secret material converted
/// once at load (RSA into an OpenSSL CRT key, checked), public data cached.
pub struct SigningKey {}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Loads the primary key of an (unprotected) binary secret key as
    /// [`ImportedKey::secret`] holds it.
    pub fn from_secret(_tsk: &SecretBytes) -> Result<SigningKey, SignError> {
        unimplemented!()
    }

    pub fn fingerprint(&self) -> &[u8; 20] {
        unimplemented!()
    }

    /// Low 8 bytes of the v4 fingerprint.
    pub fn key_id(&self) -> [u8; 8] {
        unimplemented!()
    }

    pub fn algo(&self) -> PubkeyAlgo {
        unimplemented!()
    }

    /// Signs `digest` and returns the serialised signature MPIs, each with
    /// its bit count and leading zeros stripped.
    pub fn sign_mpis(&self, _hash: HashAlgo, _digest: &[u8]) -> Result<Vec<u8>, SignError> {
        unimplemented!()
    }
}
