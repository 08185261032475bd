//! Pure crypto: OpenPGP keys in, signature packets out (spec §6).
//!
//! Nothing here touches sockets, the async runtime, the database or the wire
//! framing; `tests/architecture.rs` enforces that. The server never hashes:
//! it signs the client's digest and wraps the MPIs in a v3 packet (v4 only for
//! the all-`04` probe).

mod armor;
pub mod blob;
mod elgamal;
mod key;
pub mod keygen;
mod keyinfo;
mod keysig;
pub mod ocb;
mod packet;
mod rfc6979;
mod signer;
pub mod totp;

pub use armor::{armor_public_key, dearmor};
pub use key::{import_tsk, key_ids, ImportedKey, KeyType, SigningKey};
pub use keygen::{generate, generate_key, generate_with_expiry, GeneratedKey};
pub use keyinfo::{describe, extend_tsk, public_pem, CertDetails, KeyDetails};
pub use packet::{assemble_packet, is_probe, signature_packet};

use sequoia_openpgp as openpgp;
use thiserror::Error;

/// The three digests signd accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgo {
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgo {
    /// The OpenPGP hash algorithm ID: 2, 8 or 10.
    pub fn openpgp_id(self) -> u8 {
        match self {
            HashAlgo::Sha1 => 2,
            HashAlgo::Sha256 => 8,
            HashAlgo::Sha512 => 10,
        }
    }

    /// Digest length in bytes: 20, 32 or 64.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgo::Sha1 => 20,
            HashAlgo::Sha256 => 32,
            HashAlgo::Sha512 => 64,
        }
    }
}

/// OpenPGP public-key algorithms a signing key may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubkeyAlgo {
    Rsa = 1,
    Dsa = 17,
    Ecdsa = 19,
    EdDsa = 22,
}

/// Errors from key handling and signing. Messages never contain secrets.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SignError {
    #[error("digest is {got} bytes, {algo:?} needs {want}")]
    DigestLength {
        algo: HashAlgo,
        got: usize,
        want: usize,
    },
    /// gpg-agent refuses DSA/ECDSA digests shorter than the group order
    /// (e.g. SHA-256 with P-384, SHA-1 with P-256 or a 256-bit-q DSA key);
    /// so do we. `key_bits` is the key size gpg-agent reports: p for DSA,
    /// the curve for ECDSA.
    #[error("a {algo:?} digest is too short for a {key_bits} bit {key:?} key")]
    HashTooShort {
        algo: HashAlgo,
        key: PubkeyAlgo,
        key_bits: usize,
    },
    /// The PKCS#1 v1.5 encoding of the digest (DigestInfo and at least 11
    /// bytes of padding) does not fit the RSA modulus: a SHA-512 digest
    /// and a key under 752 bits.
    #[error("a {algo:?} digest is too long for a {key_bits} bit RSA key")]
    HashTooLong { algo: HashAlgo, key_bits: usize },
    #[error("bad passphrase")]
    BadPassphrase,
    #[error("key is passphrase-protected and no passphrase was given")]
    PassphraseRequired,
    #[error("not an OpenPGP secret key: {0}")]
    NotASecretKey(String),
    #[error("unsupported public key algorithm {0}")]
    UnsupportedAlgorithm(u8),
    #[error("unsupported curve {0}")]
    UnsupportedCurve(String),
    #[error("key material is inconsistent: {0}")]
    BadKey(String),
    #[error("openpgp: {0}")]
    OpenPgp(String),
    #[error("crypto: {0}")]
    Crypto(String),
}

/// Accepts every algorithm and packet: blobs are authenticated by their
/// MDC and the keys are our own (or the operator's, read to find which key
/// signs); legacy algorithms (ElGamal, CAST5, SHA-1 binding signatures) must
/// keep working.
#[derive(Debug)]
pub(crate) struct LegacyPolicy;

impl openpgp::policy::Policy for LegacyPolicy {
    fn signature(
        &self,
        _sig: &openpgp::packet::Signature,
        _sec: openpgp::policy::HashAlgoSecurity,
    ) -> openpgp::Result<()> {
        Ok(())
    }
    fn key(
        &self,
        _ka: &openpgp::cert::amalgamation::key::ValidErasedKeyAmalgamation<
            openpgp::packet::key::PublicParts,
        >,
    ) -> openpgp::Result<()> {
        Ok(())
    }
    fn symmetric_algorithm(
        &self,
        _algo: openpgp::types::SymmetricAlgorithm,
    ) -> openpgp::Result<()> {
        Ok(())
    }
    fn aead_algorithm(&self, _algo: openpgp::types::AEADAlgorithm) -> openpgp::Result<()> {
        Ok(())
    }
    fn packet(&self, _packet: &openpgp::Packet) -> openpgp::Result<()> {
        Ok(())
    }
}
