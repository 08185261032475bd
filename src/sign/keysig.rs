//! v4 key signatures shaped like gpg 2.2's (RFC 4880 §5.2.3, §5.2.4).
//!
//! The self-signature (class 0x13), subkey binding (0x18) and certification
//! (0x13 by another key) of the keys Signatrust generates, written
//! subpacket by subpacket as `gpg --gen-key` and `gpg --edit-key sign`
//! write them, so that every verifier that accepts gpg's keys accepts ours:
//!
//! * hashed: issuer fingerprint (33), creation time (2), then for a
//!   self-signature key flags (27), key expiration (9, only if the key
//!   expires) and the preferences (11, 21, 22), features (30) and key server
//!   preferences (23); for a binding key flags and expiration; nothing else
//!   for a certification;
//! * unhashed: the issuer key ID (16);
//! * **no subpacket is critical**. gpg marks none, and rpm's built-in
//!   OpenPGP parser (rpm 4.18 on Debian 12) refuses a key whose signatures
//!   carry a critical subpacket it does not implement, such as a critical
//!   key expiration time ("key 1 import failed");
//! * hash: as gpg picks it for the signing key ([`SigningKey::cert_hash`]).
//!
//! sequoia's `SignatureBuilder` is not used: it marks key flags, expiry and
//! primary-user-ID critical and adds a salt notation, neither of which gpg
//! does.

use openssl::hash::Hasher;

use super::rfc6979::crypto_err;
use super::{SignError, SigningKey};

/// Signature type of a positive certification of a user ID.
pub(crate) const POSITIVE_CERTIFICATION: u8 = 0x13;
/// Signature type of a key revocation signature.
pub(crate) const KEY_REVOCATION: u8 = 0x20;
/// Signature type of a subkey binding signature.
pub(crate) const SUBKEY_BINDING: u8 = 0x18;

/// Key flags: certify and sign (the primary key).
pub(crate) const FLAGS_CERTIFY_SIGN: u8 = 0x03;
/// Key flags: encrypt communications and storage (the encryption subkey).
pub(crate) const FLAGS_ENCRYPT: u8 = 0x0c;

/// gpg 2.2's default preferences, as (subpacket type, body): symmetric
/// AES256 AES192 AES CAST5; hash SHA512 SHA384 SHA256 SHA224 SHA1;
/// compression ZLIB BZIP2 ZIP; features MDC; key server no-modify.
const GPG_PREFERENCES: [(u8, &[u8]); 5] = [
    (11, &[9, 8, 7, 2]),
    (21, &[10, 9, 8, 11, 2]),
    (22, &[2, 3, 1]),
    (30, &[0x01]),
    (23, &[0x80]),
];

/// What a signature covers (RFC 4880 §5.2.4), as public key packet bodies.
pub(crate) enum Target<'a> {
    /// A user ID of the primary key `key`.
    UserId { key: &'a [u8], uid: &'a [u8] },
    /// The subkey `subkey` of the primary key `primary`.
    Subkey { primary: &'a [u8], subkey: &'a [u8] },
    /// The primary key itself (a key revocation).
    Key { key: &'a [u8] },
}

impl Target<'_> {
    fn hash_into(&self, h: &mut Hasher) -> Result<(), SignError> {
        let key = |h: &mut Hasher, body: &[u8]| -> Result<(), SignError> {
            let len = u16::try_from(body.len())
                .map_err(|_| SignError::BadKey("public key packet too long".into()))?;
            h.update(&[0x99]).map_err(crypto_err)?;
            h.update(&len.to_be_bytes()).map_err(crypto_err)?;
            h.update(body).map_err(crypto_err)
        };
        match self {
            Target::UserId { key: k, uid } => {
                key(h, k)?;
                h.update(&[0xb4]).map_err(crypto_err)?;
                h.update(&(uid.len() as u32).to_be_bytes())
                    .map_err(crypto_err)?;
                h.update(uid).map_err(crypto_err)
            }
            Target::Subkey { primary, subkey } => {
                key(h, primary)?;
                key(h, subkey)
            }
            Target::Key { key: k } => key(h, k),
        }
    }
}

/// Appends one non-critical subpacket (bodies here are always short).
fn subpacket(out: &mut Vec<u8>, typ: u8, body: &[u8]) {
    debug_assert!(body.len() < 191);
    out.push(body.len() as u8 + 1);
    out.push(typ);
    out.extend_from_slice(body);
}

/// The hashed subpackets every signature starts with: issuer fingerprint,
/// then creation time (seconds since the epoch).
fn start(issuer: &[u8; 20], created: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let mut fpr = [0u8; 21];
    fpr[0] = 4;
    fpr[1..].copy_from_slice(issuer);
    subpacket(&mut out, 33, &fpr);
    subpacket(&mut out, 2, &created.to_be_bytes());
    out
}

/// Hashed subpackets of a self-signature: flags, expiry (seconds after
/// the key's creation, 0 for none), preferences.
pub(crate) fn self_sig_subpackets(
    issuer: &[u8; 20],
    created: u32,
    flags: u8,
    expire_secs: u32,
) -> Vec<u8> {
    // A binding's subpackets, then gpg's preferences.
    let mut out = binding_subpackets(issuer, created, flags, expire_secs);
    for (typ, body) in GPG_PREFERENCES {
        subpacket(&mut out, typ, body);
    }
    out
}

/// Hashed subpackets of a subkey binding: flags and expiry.
pub(crate) fn binding_subpackets(
    issuer: &[u8; 20],
    created: u32,
    flags: u8,
    expire_secs: u32,
) -> Vec<u8> {
    let mut out = start(issuer, created);
    subpacket(&mut out, 27, &[flags]);
    if expire_secs > 0 {
        subpacket(&mut out, 9, &expire_secs.to_be_bytes());
    }
    out
}

/// Hashed subpackets of a key revocation as gpg's pre-made revocation
/// certificate: reason 0 (no reason specified), empty text.
pub(crate) fn revocation_subpackets(issuer: &[u8; 20], created: u32) -> Vec<u8> {
    let mut out = start(issuer, created);
    subpacket(&mut out, 29, &[0]);
    out
}

/// Hashed subpackets of a certification by another key.
pub(crate) fn certification_subpackets(issuer: &[u8; 20], created: u32) -> Vec<u8> {
    start(issuer, created)
}

/// Makes a v4 signature of type `typ` by `signer` over `target`, with the
/// hashed subpackets `hashed` and the issuer key ID unhashed. Returns the
/// signature packet body (no header).
pub(crate) fn sign(
    signer: &SigningKey,
    typ: u8,
    hashed: &[u8],
    target: &Target<'_>,
) -> Result<Vec<u8>, SignError> {
    let hash = signer.cert_hash();
    let hashed_len = u16::try_from(hashed.len())
        .map_err(|_| SignError::BadKey("hashed subpackets too long".into()))?;
    let mut head = Vec::with_capacity(6 + hashed.len());
    head.extend_from_slice(&[4, typ, signer.algo() as u8, hash.openpgp_id()]);
    head.extend_from_slice(&hashed_len.to_be_bytes());
    head.extend_from_slice(hashed);

    let mut h = Hasher::new(hash.message_digest()).map_err(crypto_err)?;
    target.hash_into(&mut h)?;
    h.update(&head).map_err(crypto_err)?;
    h.update(&[0x04, 0xff]).map_err(crypto_err)?;
    h.update(&(head.len() as u32).to_be_bytes())
        .map_err(crypto_err)?;
    let digest = h.finish().map_err(crypto_err)?;
    let mpis = signer.sign_cert(hash, &digest)?;

    let mut body = head;
    body.reserve(2 + 10 + 2 + mpis.len());
    body.extend_from_slice(&10u16.to_be_bytes());
    subpacket(&mut body, 16, &signer.key_id());
    body.extend_from_slice(&digest[..2]);
    body.extend_from_slice(&mpis);
    Ok(body)
}
