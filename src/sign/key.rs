//! Signing keys: import from OpenPGP, generate, and the cached signer.
use secrecy::{ExposeSecret, SecretString};
use sequoia_openpgp as openpgp;
use zeroize::Zeroizing;

use openpgp::crypto::Password;
use openpgp::crypto::S2K;
use openpgp::packet::key::{SecretKeyMaterial, SecretParts, UnspecifiedRole};
use openpgp::packet::Key;
use openpgp::parse::Parse;
use openpgp::serialize::MarshalInto;
use openpgp::{Fingerprint, Packet};

use super::armor::dearmor;
use super::packet::{gpg_header, gpg_header_len};
use super::signer::{check_digest, CertHash, Check, Signer};
use super::{HashAlgo, PubkeyAlgo, SignError};
use crate::secret::SecretBytes;

/// Key types `signatrust-admin key generate` offers. Each gets the
/// encryption subkey gpg pairs with it: RSA of the same size for RSA, ECDH
/// Curve25519 for Ed25519, ElGamal for DSA, ECDH on the same curve for
/// ECDSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    /// EdDSA (legacy OpenPGP algorithm 22) on Ed25519.
    Ed25519,
    /// DSA with a 2048-bit p and a 256-bit q (as gpg 2.2 makes it), with
    /// an ElGamal encryption subkey.
    Dsa2048,
    /// ECDSA over NIST P-256.
    NistP256,
    /// ECDSA over NIST P-384. Clients must sign with SHA-512 (of the three
    /// wire hashes): gpg does not verify P-384 signatures over shorter
    /// digests.
    NistP384,
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

/// One packet of a binary OpenPGP stream, as found on the wire.
pub(crate) struct RawPacket<'a> {
    pub(crate) tag: u8,
    /// Header and body.
    pub(crate) whole: &'a [u8],
    pub(crate) body: &'a [u8],
}

/// The v4 key IDs of the primary key and every subkey in a binary
/// transferable public key (as stored), without parsing the whole
/// certificate: the key packets are hashed as RFC 4880 §12.2 says. Packets
/// that are not v4 keys, and anything unparsable, are skipped. Used to find
/// which stored key a gpg blob is addressed to.
pub fn key_ids(public: &[u8]) -> Vec<[u8; 8]> {
    let Ok(packets) = split_packets(public) else {
        return Vec::new();
    };
    packets
        .iter()
        .filter(|p| matches!(p.tag, 6 | 14) && p.body.first() == Some(&4))
        .filter_map(|p| {
            let len = u16::try_from(p.body.len()).ok()?;
            let mut h = openssl::sha::Sha1::new();
            h.update(&[0x99]);
            h.update(&len.to_be_bytes());
            h.update(p.body);
            let fpr = h.finish();
            fpr[12..].try_into().ok()
        })
        .collect()
}

fn not_secret(what: &str) -> SignError {
    SignError::NotASecretKey(what.to_string())
}

/// Splits a binary packet stream at packet boundaries (old and new format
/// headers; partial body lengths are rejected, keys never use them).
pub(crate) fn split_packets(data: &[u8]) -> Result<Vec<RawPacket<'_>>, SignError> {
    let trunc = || not_secret("truncated OpenPGP packet");
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let ctb = data[pos];
        if ctb & 0x80 == 0 {
            return Err(not_secret("not OpenPGP data"));
        }
        let (tag, hlen, blen) = if ctb & 0x40 == 0 {
            let tag = (ctb >> 2) & 0x0f;
            let rest = &data[pos + 1..];
            match ctb & 3 {
                0 => (tag, 2, *rest.first().ok_or_else(trunc)? as usize),
                1 => {
                    let b = rest.get(..2).ok_or_else(trunc)?;
                    (tag, 3, u16::from_be_bytes([b[0], b[1]]) as usize)
                }
                2 => {
                    let b = rest.get(..4).ok_or_else(trunc)?;
                    (
                        tag,
                        5,
                        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                    )
                }
                _ => (tag, 1, rest.len()),
            }
        } else {
            let tag = ctb & 0x3f;
            let rest = &data[pos + 1..];
            let b0 = *rest.first().ok_or_else(trunc)?;
            match b0 {
                0..=191 => (tag, 2, b0 as usize),
                192..=223 => {
                    let b1 = *rest.get(1).ok_or_else(trunc)?;
                    (tag, 3, ((b0 as usize - 192) << 8) + b1 as usize + 192)
                }
                255 => {
                    let b = rest.get(1..5).ok_or_else(trunc)?;
                    (
                        tag,
                        6,
                        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                    )
                }
                _ => return Err(not_secret("partial body length in a key")),
            }
        };
        let end = pos
            .checked_add(hlen)
            .and_then(|x| x.checked_add(blen))
            .filter(|&e| e <= data.len())
            .ok_or_else(trunc)?;
        out.push(RawPacket {
            tag,
            whole: &data[pos..end],
            body: &data[pos + hlen..end],
        });
        pos = end;
    }
    Ok(out)
}

fn pgp_err(e: anyhow::Error) -> SignError {
    SignError::OpenPgp(e.to_string())
}

/// Parses one secret (sub)key packet.
fn parse_secret_key(raw: &RawPacket<'_>) -> Result<Key<SecretParts, UnspecifiedRole>, SignError> {
    match Packet::from_bytes(raw.whole) {
        Ok(Packet::SecretKey(k)) => Ok(k.role_into_unspecified()),
        Ok(Packet::SecretSubkey(k)) => Ok(k.role_into_unspecified()),
        Ok(_) => Err(not_secret("malformed secret key packet")),
        Err(e) => Err(SignError::NotASecretKey(format!(
            "cannot parse secret key packet: {e}"
        ))),
    }
}

fn v4_fingerprint<P, R>(k: &Key<P, R>) -> Result<[u8; 20], SignError>
where
    P: openpgp::packet::key::KeyParts,
    R: openpgp::packet::key::KeyRole,
{
    match k.fingerprint() {
        Fingerprint::V4(b) => Ok(b),
        _ => Err(SignError::BadKey(
            "only version 4 keys are supported".into(),
        )),
    }
}

/// Whether the secret is a gpg stub (`gnu-dummy` and friends): there is no
/// secret to unlock.
fn is_stub(e: &openpgp::packet::key::Encrypted) -> bool {
    #[allow(deprecated)]
    let stub = matches!(e.s2k(), S2K::Private { .. } | S2K::Unknown { .. });
    stub
}

/// A packet body for the secret output: either copied from the input or a
/// re-serialised (unlocked) secret key.
enum Body<'a> {
    Raw(&'a [u8]),
    Secret(SecretBytes),
}

impl Body<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Body::Raw(b) => b,
            Body::Secret(s) => s.expose(),
        }
    }
}

/// Imports an armored or binary secret key, unlocking it with `passphrase`.
///
/// The packet sequence is kept as given (no canonicalisation); trust packets
/// are dropped. `public` is what `gpg --export` would print for the key,
/// `secret` the same sequence with every secret (sub)key unencrypted.
pub fn import_tsk(
    input: &[u8],
    passphrase: Option<&SecretString>,
) -> Result<ImportedKey, SignError> {
    // The dearmored TSK may hold unencrypted secrets.
    let binary = Zeroizing::new(dearmor(input)?);
    let packets = split_packets(&binary)?;
    match packets.first().map(|p| p.tag) {
        Some(5) => {}
        Some(6) => return Err(not_secret("input is a public key, not a secret key")),
        Some(t) => {
            return Err(SignError::NotASecretKey(format!(
                "input starts with packet tag {t}, not a secret key"
            )))
        }
        None => return Err(not_secret("empty input")),
    }
    if packets.iter().skip(1).any(|p| p.tag == 5) {
        return Err(not_secret("more than one secret key in the input"));
    }

    let password = passphrase.map(|p| Password::from(p.expose_secret().as_bytes()));
    let mut fingerprint = None;
    let mut user_ids = Vec::new();
    // (tag, public body, secret body)
    let mut parts: Vec<(u8, Vec<u8>, Body<'_>)> = Vec::with_capacity(packets.len());

    for (i, raw) in packets.iter().enumerate() {
        match raw.tag {
            5 | 7 => {
                let mut key = parse_secret_key(raw)?;
                if i == 0 {
                    fingerprint = Some(v4_fingerprint(&key)?);
                }
                let public = key.parts_as_public().to_vec().map_err(pgp_err)?;
                let secret = match key.optional_secret() {
                    Some(SecretKeyMaterial::Unencrypted(_)) => None,
                    Some(SecretKeyMaterial::Encrypted(e)) if is_stub(e) => {
                        if i == 0 {
                            return Err(not_secret("the primary key has no secret (gpg stub)"));
                        }
                        Some(Body::Raw(raw.body))
                    }
                    Some(SecretKeyMaterial::Encrypted(_)) => {
                        let pw = password.as_ref().ok_or(SignError::PassphraseRequired)?;
                        key = key
                            .decrypt_secret(pw)
                            .map_err(|_| SignError::BadPassphrase)?;
                        None
                    }
                    None => return Err(not_secret("key packet without secret")),
                };
                let secret = match secret {
                    Some(s) => s,
                    None => {
                        let mut buf = vec![0u8; key.serialized_len()];
                        let n = key.serialize_into(&mut buf);
                        let buf = SecretBytes::new(buf);
                        let n = n.map_err(pgp_err)?;
                        if n != buf.len() {
                            return Err(SignError::OpenPgp("secret key length".into()));
                        }
                        Body::Secret(buf)
                    }
                };
                let public_tag = if raw.tag == 5 { 6 } else { 14 };
                parts.push((public_tag, public, secret));
            }
            12 => {} // trust packets are local to a keyring
            13 => {
                user_ids.push(String::from_utf8_lossy(raw.body).into_owned());
                parts.push((13, raw.body.to_vec(), Body::Raw(raw.body)));
            }
            t => parts.push((t, raw.body.to_vec(), Body::Raw(raw.body))),
        }
    }

    // Public: tags 5 -> 6 and 7 -> 14 were mapped above.
    let mut public = Vec::new();
    for (tag, body, _) in &parts {
        gpg_header(&mut public, *tag, body.len());
        public.extend_from_slice(body);
    }
    // Secret: the original tags, assembled without reallocation.
    let secret_tag = |t: u8| match t {
        6 => 5,
        14 => 7,
        t => t,
    };
    let total: usize = parts
        .iter()
        .map(|(t, _, b)| gpg_header_len(secret_tag(*t), b.bytes().len()) + b.bytes().len())
        .sum();
    let mut secret = Vec::with_capacity(total);
    for (tag, _, body) in &parts {
        gpg_header(&mut secret, secret_tag(*tag), body.bytes().len());
        secret.extend_from_slice(body.bytes());
    }
    let secret = SecretBytes::new(secret);

    let fingerprint = fingerprint.ok_or_else(|| not_secret("no primary key"))?;
    // Validate: the key signd signs with (the primary, or the last signing
    // subkey) must be usable.
    let signer = SigningKey::from_secret(&secret)?;
    Ok(ImportedKey {
        fingerprint,
        algo: signer.algo(),
        user_ids,
        public,
        secret,
    })
}

/// The last key packet of `packets` (a parsed `tsk`) whose own usage
/// includes signing; see [`SigningKey::load`].
fn signing_packet<'a>(
    tsk: &SecretBytes,
    packets: &'a [RawPacket<'a>],
) -> Result<&'a RawPacket<'a>, SignError> {
    use openpgp::cert::Cert;
    let cert = Cert::from_bytes(tsk.expose()).map_err(pgp_err)?;
    let policy = super::LegacyPolicy;
    let valid = cert.with_policy(&policy, None).map_err(pgp_err)?;
    let mut signers = std::collections::HashSet::new();
    for ka in valid.keys() {
        let can_sign = match ka.key_flags() {
            Some(flags) => flags.for_signing(),
            None => ka.key().pk_algo().for_signing(),
        };
        if can_sign {
            signers.insert(ka.key().fingerprint());
        }
    }
    let mut chosen = None;
    for p in packets.iter().filter(|p| matches!(p.tag, 5 | 7)) {
        let key = parse_secret_key(p)?;
        if signers.contains(&key.fingerprint()) {
            chosen = Some(p);
        }
    }
    chosen.ok_or_else(|| not_secret("neither the primary key nor a subkey may sign"))
}

/// A signing key ready for the hot path: secret material converted once at
/// load (RSA into an OpenSSL CRT key, checked), public data cached. It is
/// the key or subkey signd signs data with (see [`SigningKey::load`]), or
/// the primary ([`SigningKey::load_primary`]).
pub struct SigningKey {
    /// Of the key that signs: its low 8 bytes are the issuer.
    fingerprint: [u8; 20],
    /// Of the primary key (the stored key's identity).
    primary: [u8; 20],
    algo: PubkeyAlgo,
    signer: Signer,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("fingerprint", &hex::encode_upper(self.fingerprint))
            .field("primary", &hex::encode_upper(self.primary))
            .field("algo", &self.algo)
            .finish_non_exhaustive()
    }
}

/// Which key of a transferable secret key signs.
#[derive(Clone, Copy)]
enum Which {
    /// signd's choice for data signatures (spec §13).
    DataSigner,
    /// The primary: certifications, and privsign blobs (one key packet).
    Primary,
}

impl SigningKey {
    /// Loads the key signd signs data with from an (unprotected) binary
    /// secret key as [`ImportedKey::secret`] holds it, with every check
    /// (RSA: primality of p and q, tens of milliseconds). Import uses this.
    /// See [`SigningKey::load`] for which key that is.
    pub fn from_secret(tsk: &SecretBytes) -> Result<SigningKey, SignError> {
        Self::build(tsk, Check::Full, Which::DataSigner)
    }

    /// Loads a key that was checked with [`SigningKey::from_secret`] when it
    /// was imported, or a privsign blob's key (the client's own): RSA keys
    /// get n = p*q, the CRT values and a pairwise sign/verify instead of
    /// primality tests (about one signature instead of ~100), so a store
    /// with many keys loads them cheaply on first use.
    ///
    /// The key that signs is signd's (spec §13, Perl's `find_key`): the
    /// *last* key or subkey, in packet order (gpg's listing order), whose
    /// own usage includes signing: key flags of its valid binding
    /// (self-signature for the primary), or, without key flags, what its
    /// algorithm can do. Validity and expiry do not matter, as in gpg's
    /// `--with-colons` capability letters. Errors: no such key, or the
    /// chosen one is a gpg stub or still protected.
    pub fn load(tsk: &SecretBytes) -> Result<SigningKey, SignError> {
        Self::build(tsk, Check::Pairwise, Which::DataSigner)
    }

    /// The primary key, with the [`SigningKey::load`] checks: what gpg
    /// certifies with, and the only key of a privsign blob.
    pub fn load_primary(tsk: &SecretBytes) -> Result<SigningKey, SignError> {
        Self::build(tsk, Check::Pairwise, Which::Primary)
    }

    fn build(tsk: &SecretBytes, check: Check, which: Which) -> Result<SigningKey, SignError> {
        let packets = split_packets(tsk.expose())?;
        let first = packets
            .first()
            .filter(|p| p.tag == 5)
            .ok_or_else(|| not_secret("does not start with a secret key packet"))?;
        let primary = parse_secret_key(first)?;
        let primary_fpr = v4_fingerprint(&primary)?;
        let has_subkeys = packets.iter().any(|p| p.tag == 7);
        let chosen = match which {
            Which::DataSigner if has_subkeys => signing_packet(tsk, &packets)?,
            _ => first,
        };
        let mut key = if std::ptr::eq(chosen, first) {
            Self::from_parsed(&primary, check)?
        } else {
            let sub = parse_secret_key(chosen)?;
            if let Some(SecretKeyMaterial::Encrypted(e)) = sub.optional_secret() {
                let id = hex::encode_upper(&v4_fingerprint(&sub)?[12..]);
                return Err(not_secret(
                    if is_stub(e) {
                        format!("the signing subkey {id} has no secret (gpg stub)")
                    } else {
                        format!("the signing subkey {id} is protected")
                    }
                    .as_str(),
                ));
            }
            Self::from_parsed(&sub, check)?
        };
        key.primary = primary_fpr;
        Ok(key)
    }

    /// Builds the signer of a freshly generated (unprotected) key, with the
    /// cheap [`SigningKey::load`] checks.
    pub(crate) fn from_key<R: openpgp::packet::key::KeyRole>(
        key: &Key<SecretParts, R>,
    ) -> Result<SigningKey, SignError> {
        Self::from_parsed(key, Check::Pairwise)
    }

    fn from_parsed<R: openpgp::packet::key::KeyRole>(
        key: &Key<SecretParts, R>,
        check: Check,
    ) -> Result<SigningKey, SignError> {
        let fingerprint = v4_fingerprint(key)?;
        let (algo, signer) = match key.optional_secret() {
            Some(SecretKeyMaterial::Unencrypted(u)) => {
                u.map(|secret| Signer::new(key.mpis(), secret, check))?
            }
            _ => return Err(not_secret("secret key material is protected")),
        };
        Ok(SigningKey {
            fingerprint,
            primary: fingerprint,
            algo,
            signer,
        })
    }

    /// The hash gpg 2.2 would use for key signatures by this key.
    pub(crate) fn cert_hash(&self) -> CertHash {
        self.signer.cert_hash()
    }

    /// Signs the digest of a key signature (any [`CertHash`]).
    pub(crate) fn sign_cert(&self, hash: CertHash, digest: &[u8]) -> Result<Vec<u8>, SignError> {
        self.signer.sign_cert(hash, digest)
    }

    /// The fingerprint of the key that signs (a subkey's, if one does).
    pub fn fingerprint(&self) -> &[u8; 20] {
        &self.fingerprint
    }

    /// The fingerprint of the primary key: the stored key's identity.
    pub fn primary_fingerprint(&self) -> &[u8; 20] {
        &self.primary
    }

    /// Low 8 bytes of the v4 fingerprint.
    pub fn key_id(&self) -> [u8; 8] {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.fingerprint[12..]);
        id
    }

    pub fn algo(&self) -> PubkeyAlgo {
        self.algo
    }

    /// True when a signature costs tens of microseconds (Ed25519, P-256),
    /// so that a caller may sign inline instead of on a worker pool.
    pub fn is_fast(&self) -> bool {
        self.signer.is_fast()
    }

    /// Signs `digest` and returns the serialised signature MPIs, each with
    /// its bit count and leading zeros stripped.
    pub fn sign_mpis(&self, hash: HashAlgo, digest: &[u8]) -> Result<Vec<u8>, SignError> {
        check_digest(hash, digest)?;
        self.signer.sign(hash, digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn signing_key_is_send_sync() {
        assert_send_sync::<SigningKey>();
    }

    #[test]
    fn split_both_header_formats() {
        // old format tag 13 len 2, new format tag 13 len 1, new 2-byte len
        let mut data = vec![0xb4, 2, b'a', b'b', 0xcd, 1, b'c', 0xd1, 0xc0, 0x00];
        data.extend(std::iter::repeat_n(7u8, 192));
        let p = split_packets(&data).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].tag, p[0].body), (13, &b"ab"[..]));
        assert_eq!((p[1].tag, p[1].body), (13, &b"c"[..]));
        assert_eq!((p[2].tag, p[2].body.len()), (17, 192));
        assert!(split_packets(&data[..data.len() - 1]).is_err());
        assert!(split_packets(b"hello").is_err());
    }
}
