//! The hot-path signers, built once from OpenPGP secret MPIs.
//!
//! * RSA: an OpenSSL CRT key, PKCS#1 v1.5 with DigestInfo.
//! * DSA / ECDSA: RFC 6979 nonces (see [`super::rfc6979`]) and the signature
//!   equation on OpenSSL bignums, as gpg-agent/libgcrypt computes it.
//! * EdDSA (legacy, Ed25519): the digest is the Ed25519 message.

use std::cmp::Ordering;

use openssl::bn::{BigNum, BigNumContextRef, BigNumRef};
use openssl::ec::{EcGroup, EcPoint};
use openssl::md::Md;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa};
use sequoia_openpgp as openpgp;

use openpgp::crypto::mpi;
use openpgp::types::Curve;

use openssl::hash::MessageDigest;

use super::rfc6979::{bits2int, crypto_err, ctx, md_for_len, NonceGen};
use super::{HashAlgo, PubkeyAlgo, SignError};

pub(crate) enum Signer {
    Rsa(RsaKey),
    Dsa(DsaKey),
    Ecdsa(EcdsaKey),
    Ed25519(PKey<Private>),
}

/// An OpenSSL CRT key and a small pool of signing contexts for it, one
/// pool per hash algorithm: creating and initialising an `EVP_PKEY_CTX`
/// (provider fetch, padding, digest) costs a few microseconds per
/// signature, so contexts are made once and reused, as `openssl speed`
/// does. The pool belongs to the key and is freed with it; it never holds
/// more than [`RSA_CTX_POOL`] contexts per hash.
pub(crate) struct RsaKey {
    pkey: PKey<Private>,
    ctxs: [std::sync::Mutex<Vec<PkeyCtx<Private>>>; 3],
}

/// Contexts kept per key and hash: one per concurrent signer is enough
/// (the crypto pool has one thread per core).
const RSA_CTX_POOL: usize = 8;

impl RsaKey {
    fn new(pkey: PKey<Private>) -> RsaKey {
        RsaKey {
            pkey,
            ctxs: Default::default(),
        }
    }

    fn slot(&self, hash: HashAlgo) -> std::sync::MutexGuard<'_, Vec<PkeyCtx<Private>>> {
        let i = match hash {
            HashAlgo::Sha1 => 0,
            HashAlgo::Sha256 => 1,
            HashAlgo::Sha512 => 2,
        };
        self.ctxs[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// PKCS#1 v1.5 over the DigestInfo of `digest`.
    fn sign(&self, hash: HashAlgo, digest: &[u8]) -> Result<Vec<u8>, SignError> {
        // DigestInfo: a 15-byte (SHA-1) or 19-byte prefix; PKCS#1 v1.5
        // adds at least 11 bytes.
        let prefix = if hash == HashAlgo::Sha1 { 15 } else { 19 };
        if prefix + hash.digest_len() + 11 > self.pkey.size() {
            return Err(SignError::HashTooLong {
                algo: hash,
                key_bits: self.pkey.bits() as usize,
            });
        }
        let pooled = self.slot(hash).pop();
        let mut c = match pooled {
            Some(c) => c,
            None => {
                let md = match hash {
                    HashAlgo::Sha1 => Md::sha1(),
                    HashAlgo::Sha256 => Md::sha256(),
                    HashAlgo::Sha512 => Md::sha512(),
                };
                let mut c = PkeyCtx::new(&self.pkey).map_err(crypto_err)?;
                c.sign_init().map_err(crypto_err)?;
                c.set_rsa_padding(Padding::PKCS1).map_err(crypto_err)?;
                c.set_signature_md(md).map_err(crypto_err)?;
                c
            }
        };
        let mut sig = Vec::with_capacity(self.pkey.size());
        // A context whose signature failed is dropped, not pooled.
        c.sign_to_vec(digest, &mut sig).map_err(crypto_err)?;
        let mut slot = self.slot(hash);
        if slot.len() < RSA_CTX_POOL {
            slot.push(c);
        }
        Ok(sig)
    }

    #[cfg(test)]
    fn pooled(&self, hash: HashAlgo) -> usize {
        self.slot(hash).len()
    }
}

pub(crate) struct DsaKey {
    p: BigNum,
    q: BigNum,
    g: BigNum,
    x: BigNum,
}

pub(crate) struct EcdsaKey {
    group: EcGroup,
    n: BigNum,
    d: BigNum,
}

/// A secure bignum from big-endian bytes.
fn secure_bn(bytes: &[u8]) -> Result<BigNum, SignError> {
    let mut n = BigNum::new_secure().map_err(crypto_err)?;
    n.copy_from_slice(bytes).map_err(crypto_err)?;
    n.set_const_time();
    Ok(n)
}

fn public_bn(bytes: &[u8]) -> Result<BigNum, SignError> {
    BigNum::from_slice(bytes).map_err(crypto_err)
}

fn bad(what: &str) -> SignError {
    SignError::BadKey(what.to_string())
}

impl Signer {
    /// Builds the signer from the public and (unencrypted) secret MPIs and
    /// checks that they belong together.
    pub(crate) fn new(
        public: &mpi::PublicKey,
        secret: &mpi::SecretKeyMaterial,
        check: Check,
    ) -> Result<(PubkeyAlgo, Signer), SignError> {
        match (public, secret) {
            (mpi::PublicKey::RSA { e, n }, mpi::SecretKeyMaterial::RSA { d, p, q, u }) => Ok((
                PubkeyAlgo::Rsa,
                Signer::Rsa(RsaKey::new(rsa_key(check, e, n, d, p, q, u)?)),
            )),
            (mpi::PublicKey::DSA { p, q, g, y }, mpi::SecretKeyMaterial::DSA { x }) => {
                let k = DsaKey {
                    p: public_bn(p.value())?,
                    q: public_bn(q.value())?,
                    g: public_bn(g.value())?,
                    x: secure_bn(x.value())?,
                };
                let y = public_bn(y.value())?;
                let mut c = ctx()?;
                let mut t = BigNum::new().map_err(crypto_err)?;
                t.mod_exp(&k.g, &k.x, &k.p, &mut c).map_err(crypto_err)?;
                if t != y || k.x.ucmp(&k.q) != Ordering::Less || k.q.num_bits() < 160 {
                    return Err(bad("DSA secret does not match the public key"));
                }
                // Refused when loaded, not at each signature: gpg-agent
                // cannot sign with such a key either.
                if k.q.num_bits() % 8 != 0 {
                    return Err(bad("DSA q is not a multiple of 8 bits"));
                }
                Ok((PubkeyAlgo::Dsa, Signer::Dsa(k)))
            }
            (mpi::PublicKey::ECDSA { curve, q }, mpi::SecretKeyMaterial::ECDSA { scalar }) => {
                let nid = match curve {
                    Curve::NistP256 => Nid::X9_62_PRIME256V1,
                    Curve::NistP384 => Nid::SECP384R1,
                    Curve::NistP521 => Nid::SECP521R1,
                    other => return Err(SignError::UnsupportedCurve(other.to_string())),
                };
                let group = EcGroup::from_curve_name(nid).map_err(crypto_err)?;
                let mut c = ctx()?;
                let mut n = BigNum::new().map_err(crypto_err)?;
                group.order(&mut n, &mut c).map_err(crypto_err)?;
                let d = secure_bn(scalar.value())?;
                if d.num_bits() == 0 || d.ucmp(&n) != Ordering::Less {
                    return Err(bad("ECDSA scalar out of range"));
                }
                let pubpt = EcPoint::from_bytes(&group, q.value(), &mut c)
                    .map_err(|_| bad("ECDSA public point"))?;
                let mut derived = EcPoint::new(&group).map_err(crypto_err)?;
                derived
                    .mul_generator2(&group, &d, &mut c)
                    .map_err(crypto_err)?;
                if !derived.eq(&group, &pubpt, &mut c).map_err(crypto_err)? {
                    return Err(bad("ECDSA secret does not match the public key"));
                }
                Ok((PubkeyAlgo::Ecdsa, Signer::Ecdsa(EcdsaKey { group, n, d })))
            }
            (mpi::PublicKey::EdDSA { curve, q }, mpi::SecretKeyMaterial::EdDSA { scalar }) => {
                if *curve != Curve::Ed25519 {
                    return Err(SignError::UnsupportedCurve(curve.to_string()));
                }
                if scalar.value().len() > 32 {
                    return Err(bad("Ed25519 secret too long"));
                }
                let raw = scalar.value_padded(32);
                let pkey =
                    PKey::private_key_from_raw_bytes(&raw, Id::ED25519).map_err(crypto_err)?;
                let pubraw = pkey.raw_public_key().map_err(crypto_err)?;
                let q = q.value();
                if q.len() != 33 || q[0] != 0x40 || q[1..] != pubraw[..] {
                    return Err(bad("Ed25519 secret does not match the public key"));
                }
                Ok((PubkeyAlgo::EdDsa, Signer::Ed25519(pkey)))
            }
            (public, _) => match public.algo() {
                Some(a) => {
                    let id: u8 = a.into();
                    // A known signing algorithm with mismatched secret MPIs
                    // is a broken key, anything else is unsupported.
                    if matches!(id, 1 | 17 | 19 | 22) {
                        Err(bad("secret MPIs do not match the algorithm"))
                    } else {
                        Err(SignError::UnsupportedAlgorithm(id))
                    }
                }
                None => Err(SignError::UnsupportedAlgorithm(0)),
            },
        }
    }

    /// True when one signature costs tens of microseconds (Ed25519, ECDSA
    /// on curves up to 256 bits), cheap enough to make on the async reactor
    /// rather than pay for a hand-off to the crypto pool.
    pub(crate) fn is_fast(&self) -> bool {
        match self {
            Signer::Ed25519(_) => true,
            Signer::Ecdsa(k) => k.n.num_bits() <= 256,
            Signer::Rsa(_) | Signer::Dsa(_) => false,
        }
    }

    /// Signs `digest`; returns the serialised MPIs.
    pub(crate) fn sign(&self, hash: HashAlgo, digest: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut out = Vec::new();
        match self {
            Signer::Rsa(k) => {
                let sig = k.sign(hash, digest)?;
                write_mpi(&mut out, &sig);
            }
            Signer::Dsa(k) => {
                let qbits = k.q.num_bits() as usize;
                if !qbits.is_multiple_of(8) {
                    return Err(bad("DSA q is not a multiple of 8 bits"));
                }
                let pbits = k.p.num_bits() as usize;
                let (h1, md) = agent_dsa_input(hash, digest, qbits, PubkeyAlgo::Dsa, pbits)?;
                let (r, s) = dsa_sign(k, h1, md)?;
                write_mpi(&mut out, &r.to_vec());
                write_mpi(&mut out, &s.to_vec());
            }
            Signer::Ecdsa(k) => {
                let nbits = k.n.num_bits() as usize;
                let (h1, md) =
                    agent_dsa_input(hash, digest, nbits.min(512), PubkeyAlgo::Ecdsa, nbits)?;
                let (r, s) = ecdsa_sign(k, h1, md)?;
                write_mpi(&mut out, &r.to_vec());
                write_mpi(&mut out, &s.to_vec());
            }
            Signer::Ed25519(pkey) => ed25519_sign(pkey, digest, &mut out)?,
        }
        Ok(out)
    }
}

/// Ed25519 over `msg` (the digest itself is the message), appended as the
/// two 32-byte MPIs R and S.
fn ed25519_sign(pkey: &PKey<Private>, msg: &[u8], out: &mut Vec<u8>) -> Result<(), SignError> {
    let mut s = openssl::sign::Signer::new_without_digest(pkey).map_err(crypto_err)?;
    let sig = s.sign_oneshot_to_vec(msg).map_err(crypto_err)?;
    if sig.len() != 64 {
        return Err(SignError::Crypto("Ed25519 signature length".into()));
    }
    write_mpi(out, &sig[..32]);
    write_mpi(out, &sig[32..]);
    Ok(())
}

/// The hash algorithms of the key signatures Signatrust makes (self- and
/// binding signatures, certifications): wider than the three signd accepts
/// on the wire, because gpg 2.2 matches DSA and ECDSA hashes to the group
/// order (SHA-224 for a 224-bit q, SHA-384 for P-384).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CertHash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl CertHash {
    /// The OpenPGP hash algorithm ID (RFC 4880 §9.4).
    pub(crate) fn openpgp_id(self) -> u8 {
        match self {
            CertHash::Sha1 => 2,
            CertHash::Sha224 => 11,
            CertHash::Sha256 => 8,
            CertHash::Sha384 => 9,
            CertHash::Sha512 => 10,
        }
    }

    pub(crate) fn message_digest(self) -> MessageDigest {
        match self {
            CertHash::Sha1 => MessageDigest::sha1(),
            CertHash::Sha224 => MessageDigest::sha224(),
            CertHash::Sha256 => MessageDigest::sha256(),
            CertHash::Sha384 => MessageDigest::sha384(),
            CertHash::Sha512 => MessageDigest::sha512(),
        }
    }

    fn md(self) -> &'static openssl::md::MdRef {
        match self {
            CertHash::Sha1 => Md::sha1(),
            CertHash::Sha224 => Md::sha224(),
            CertHash::Sha256 => Md::sha256(),
            CertHash::Sha384 => Md::sha384(),
            CertHash::Sha512 => Md::sha512(),
        }
    }

    /// gpg's `match_dsa_hash`: the smallest hash at least as long as a
    /// group order of `qbytes` bytes.
    fn matching(qbytes: usize) -> CertHash {
        match qbytes {
            0..=20 => CertHash::Sha1,
            21..=28 => CertHash::Sha224,
            29..=32 => CertHash::Sha256,
            33..=48 => CertHash::Sha384,
            _ => CertHash::Sha512,
        }
    }
}

impl Signer {
    /// The hash gpg 2.2 (`make_keysig_packet`, no `--cert-digest-algo`)
    /// uses for key signatures this key makes: SHA-512 for RSA, the hash
    /// matching q for DSA (SHA-1 for a 160-bit q) and the curve size for
    /// ECDSA, SHA-256 for Ed25519.
    pub(crate) fn cert_hash(&self) -> CertHash {
        match self {
            Signer::Rsa(_) => CertHash::Sha512,
            Signer::Dsa(k) => CertHash::matching(k.q.num_bits() as usize / 8),
            Signer::Ecdsa(k) => CertHash::matching((k.n.num_bits() as usize).div_ceil(8)),
            Signer::Ed25519(_) => CertHash::Sha256,
        }
    }

    /// Signs the `hash` digest of a key signature; returns the serialised
    /// MPIs. RSA uses a fresh context (key generation is not the hot
    /// path); DSA and ECDSA truncate and derive nonces as [`Signer::sign`].
    pub(crate) fn sign_cert(&self, hash: CertHash, digest: &[u8]) -> Result<Vec<u8>, SignError> {
        let want = hash.message_digest().size();
        if digest.len() != want {
            return Err(SignError::Crypto(format!(
                "key signature digest is {} bytes, {hash:?} has {want}",
                digest.len()
            )));
        }
        let short = || SignError::Crypto(format!("{hash:?} is too short for the key"));
        let mut out = Vec::new();
        match self {
            Signer::Rsa(k) => {
                let mut c = PkeyCtx::new(&k.pkey).map_err(crypto_err)?;
                c.sign_init().map_err(crypto_err)?;
                c.set_rsa_padding(Padding::PKCS1).map_err(crypto_err)?;
                c.set_signature_md(hash.md()).map_err(crypto_err)?;
                let mut sig = Vec::with_capacity(k.pkey.size());
                c.sign_to_vec(digest, &mut sig).map_err(crypto_err)?;
                write_mpi(&mut out, &sig);
            }
            Signer::Dsa(k) => {
                let h1 = digest
                    .get(..k.q.num_bits() as usize / 8)
                    .ok_or_else(short)?;
                let (r, s) = dsa_sign(k, h1, md_for_len(h1.len()))?;
                write_mpi(&mut out, &r.to_vec());
                write_mpi(&mut out, &s.to_vec());
            }
            Signer::Ecdsa(k) => {
                let h1 = digest
                    .get(..(k.n.num_bits() as usize).min(512) / 8)
                    .ok_or_else(short)?;
                let (r, s) = ecdsa_sign(k, h1, md_for_len(h1.len()))?;
                write_mpi(&mut out, &r.to_vec());
                write_mpi(&mut out, &s.to_vec());
            }
            Signer::Ed25519(pkey) => ed25519_sign(pkey, digest, &mut out)?,
        }
        Ok(out)
    }
}

/// Appends an OpenPGP MPI: exact bit count, then the magnitude with leading
/// zero bytes stripped.
pub(crate) fn write_mpi(out: &mut Vec<u8>, mag: &[u8]) {
    let start = mag.iter().position(|&b| b != 0).unwrap_or(mag.len());
    let v = &mag[start..];
    let bits = match v.first() {
        Some(&b) => (v.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
        None => 0,
    };
    out.extend_from_slice(&(bits as u16).to_be_bytes());
    out.extend_from_slice(v);
}

/// How thoroughly a secret key is checked when it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// At import: everything OpenSSL's `RSA_check_key` tests, primality of
    /// p and q included (tens of milliseconds for RSA-2048).
    Full,
    /// At load of a key that passed `Full` at import: n = p*q and a
    /// pairwise sign/verify. This catches every inconsistent CRT
    /// parameter (a faulty CRT signature would not verify, and would leak
    /// a factor if sent), at the cost of one signature.
    Pairwise,
}

fn rsa_key(
    check: Check,
    e: &mpi::MPI,
    n: &mpi::MPI,
    d: &mpi::ProtectedMPI,
    p: &mpi::ProtectedMPI,
    q: &mpi::ProtectedMPI,
    u: &mpi::ProtectedMPI,
) -> Result<PKey<Private>, SignError> {
    // OpenPGP: p < q, u = p^-1 mod q.  OpenSSL: iqmp = q^-1 mod p.  So
    // OpenPGP's q becomes OpenSSL's p and vice versa; then iqmp = u.
    let mut c = ctx()?;
    let ssl_p = secure_bn(q.value())?;
    let ssl_q = secure_bn(p.value())?;
    let d_bn = secure_bn(d.value())?;
    let one = BigNum::from_u32(1).map_err(crypto_err)?;
    let mut pm1 = BigNum::new_secure().map_err(crypto_err)?;
    pm1.checked_sub(&ssl_p, &one).map_err(crypto_err)?;
    let mut qm1 = BigNum::new_secure().map_err(crypto_err)?;
    qm1.checked_sub(&ssl_q, &one).map_err(crypto_err)?;
    let mut dmp1 = BigNum::new_secure().map_err(crypto_err)?;
    dmp1.nnmod(&d_bn, &pm1, &mut c).map_err(crypto_err)?;
    let mut dmq1 = BigNum::new_secure().map_err(crypto_err)?;
    dmq1.nnmod(&d_bn, &qm1, &mut c).map_err(crypto_err)?;
    let rsa = Rsa::from_private_components(
        public_bn(n.value())?,
        public_bn(e.value())?,
        d_bn,
        ssl_p,
        ssl_q,
        dmp1,
        dmq1,
        secure_bn(u.value())?,
    )
    .map_err(crypto_err)?;
    finish_rsa(rsa, check)
}

/// Checks a CRT key as `check` says and wraps it.
fn finish_rsa(rsa: Rsa<Private>, check: Check) -> Result<PKey<Private>, SignError> {
    let mut c = ctx()?;
    match check {
        Check::Full => {
            if !rsa.check_key().unwrap_or(false) {
                return Err(bad("RSA key check failed"));
            }
            PKey::from_rsa(rsa).map_err(crypto_err)
        }
        Check::Pairwise => {
            let mut pq = BigNum::new().map_err(crypto_err)?;
            let (Some(p), Some(q)) = (rsa.p(), rsa.q()) else {
                return Err(bad("RSA key without primes"));
            };
            pq.checked_mul(p, q, &mut c).map_err(crypto_err)?;
            // iqmp = q^-1 mod p. (dmp1 and dmq1 are derived from d above; a
            // wrong d fails the pairwise signature.) OpenSSL would silently
            // fall back to the slow non-CRT path on a bad iqmp.
            let iqmp = rsa.iqmp().ok_or_else(|| bad("RSA key without iqmp"))?;
            let mut t = BigNum::new_secure().map_err(crypto_err)?;
            t.mod_mul(iqmp, q, p, &mut c).map_err(crypto_err)?;
            if pq != *rsa.n() || t != BigNum::from_u32(1).map_err(crypto_err)? {
                return Err(bad("RSA key check failed"));
            }
            let pkey = PKey::from_rsa(rsa).map_err(crypto_err)?;
            if !pairwise_ok(&pkey).unwrap_or(false) {
                return Err(bad("RSA key check failed"));
            }
            Ok(pkey)
        }
    }
}

/// Signs a fixed SHA-256 digest with the CRT key and verifies it with the
/// public half.
fn pairwise_ok(pkey: &PKey<Private>) -> Result<bool, openssl::error::ErrorStack> {
    let digest = [0x5au8; 32];
    let mut c = PkeyCtx::new(pkey)?;
    c.sign_init()?;
    c.set_rsa_padding(Padding::PKCS1)?;
    c.set_signature_md(Md::sha256())?;
    let mut sig = Vec::new();
    c.sign_to_vec(&digest, &mut sig)?;
    let mut v = PkeyCtx::new(pkey)?;
    v.verify_init()?;
    v.set_rsa_padding(Padding::PKCS1)?;
    v.set_signature_md(Md::sha256())?;
    v.verify(&digest, &sig)
}

fn check_len(hash: HashAlgo, digest: &[u8]) -> Result<(), SignError> {
    if digest.len() != hash.digest_len() {
        return Err(SignError::DigestLength {
            algo: hash,
            got: digest.len(),
            want: hash.digest_len(),
        });
    }
    Ok(())
}

/// s = k^-1 (z + x r) mod q, computed with a random blinding factor b as
/// OpenSSL does: s = (b z + b x r) * (b k)^-1 mod q. `None` if s = 0.
fn dsa_s(
    q: &BigNumRef,
    k: &BigNumRef,
    x: &BigNumRef,
    z: &BigNumRef,
    r: &BigNumRef,
    c: &mut BigNumContextRef,
) -> Result<Option<BigNum>, SignError> {
    let e = crypto_err;
    let mut b = BigNum::new_secure().map_err(e)?;
    loop {
        q.rand_range(&mut b).map_err(e)?;
        if b.num_bits() > 0 {
            break;
        }
    }
    let mut zr = BigNum::new_secure().map_err(e)?;
    zr.nnmod(z, q, c).map_err(e)?;
    let mut bz = BigNum::new_secure().map_err(e)?;
    bz.mod_mul(&b, &zr, q, c).map_err(e)?;
    let mut bx = BigNum::new_secure().map_err(e)?;
    bx.mod_mul(&b, x, q, c).map_err(e)?;
    let mut bxr = BigNum::new_secure().map_err(e)?;
    bxr.mod_mul(&bx, r, q, c).map_err(e)?;
    let mut sum = BigNum::new_secure().map_err(e)?;
    sum.mod_add(&bz, &bxr, q, c).map_err(e)?;
    let mut bk = BigNum::new_secure().map_err(e)?;
    bk.mod_mul(&b, k, q, c).map_err(e)?;
    bk.set_const_time();
    let mut inv = BigNum::new_secure().map_err(e)?;
    inv.mod_inverse(&bk, q, c).map_err(e)?;
    let mut s = BigNum::new().map_err(e)?;
    s.mod_mul(&sum, &inv, q, c).map_err(e)?;
    Ok(if s.num_bits() == 0 { None } else { Some(s) })
}

/// What gpg-agent hands libgcrypt for a DSA/ECDSA signature
/// (`do_encode_dsa` in gnupg's agent/pksign.c): the digest truncated to
/// `trunc_bits / 8` bytes, with the RFC 6979 HMAC hash named after the
/// truncated length. A digest shorter than that is refused, as gpg-agent
/// refuses it. (ECDSA: `trunc_bits` is the curve size capped at 512.)
/// `key` and `key_bits` name the key in the error, as gpg-agent does.
pub(crate) fn agent_dsa_input(
    hash: HashAlgo,
    digest: &[u8],
    trunc_bits: usize,
    key: PubkeyAlgo,
    key_bits: usize,
) -> Result<(&[u8], MessageDigest), SignError> {
    check_len(hash, digest)?;
    let want = trunc_bits / 8;
    if digest.len() < want {
        return Err(SignError::HashTooShort {
            algo: hash,
            key,
            key_bits,
        });
    }
    let h1 = &digest[..want];
    Ok((h1, md_for_len(h1.len())))
}

/// Plain RFC 6979 DSA over `h1` with HMAC hash `md`.
fn dsa_sign(k: &DsaKey, h1: &[u8], md: MessageDigest) -> Result<(BigNum, BigNum), SignError> {
    let e = crypto_err;
    let qbits = k.q.num_bits() as usize;
    let z = bits2int(h1, qbits)?;
    let mut gen = NonceGen::new(&k.q, &k.x, h1, md)?;
    let mut c = ctx()?;
    loop {
        let nonce = gen.next_k()?;
        // Fixed-length exponent k + q (+ q) as OpenSSL does, constant time.
        let mut kq = BigNum::new_secure().map_err(e)?;
        kq.checked_add(&nonce, &k.q).map_err(e)?;
        if kq.num_bits() as usize <= qbits {
            let mut t = BigNum::new_secure().map_err(e)?;
            t.checked_add(&kq, &k.q).map_err(e)?;
            kq = t;
        }
        kq.set_const_time();
        let mut gk = BigNum::new().map_err(e)?;
        gk.mod_exp(&k.g, &kq, &k.p, &mut c).map_err(e)?;
        let mut r = BigNum::new().map_err(e)?;
        r.nnmod(&gk, &k.q, &mut c).map_err(e)?;
        if r.num_bits() == 0 {
            continue;
        }
        if let Some(s) = dsa_s(&k.q, &nonce, &k.x, &z, &r, &mut c)? {
            return Ok((r, s));
        }
    }
}

/// Plain RFC 6979 ECDSA over `h1` with HMAC hash `md`.
fn ecdsa_sign(k: &EcdsaKey, h1: &[u8], md: MessageDigest) -> Result<(BigNum, BigNum), SignError> {
    let e = crypto_err;
    let nbits = k.n.num_bits() as usize;
    let z = bits2int(h1, nbits)?;
    let mut gen = NonceGen::new(&k.n, &k.d, h1, md)?;
    let mut c = ctx()?;
    loop {
        let nonce = gen.next_k()?;
        let mut pt = EcPoint::new(&k.group).map_err(e)?;
        pt.mul_generator2(&k.group, &nonce, &mut c).map_err(e)?;
        let mut x = BigNum::new().map_err(e)?;
        let mut y = BigNum::new().map_err(e)?;
        pt.affine_coordinates(&k.group, &mut x, &mut y, &mut c)
            .map_err(e)?;
        let mut r = BigNum::new().map_err(e)?;
        r.nnmod(&x, &k.n, &mut c).map_err(e)?;
        if r.num_bits() == 0 {
            continue;
        }
        if let Some(s) = dsa_s(&k.n, &nonce, &k.d, &z, &r, &mut c)? {
            return Ok((r, s));
        }
    }
}

/// Checks the digest length for every algorithm (RSA and EdDSA included).
pub(crate) fn check_digest(hash: HashAlgo, digest: &[u8]) -> Result<(), SignError> {
    check_len(hash, digest)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Raw (plain RFC 6979) DSA/ECDSA signing from test-vector parameters.
    use super::*;

    fn md(hash: HashAlgo) -> MessageDigest {
        super::super::rfc6979::message_digest(hash)
    }

    pub(crate) fn dsa(
        p: &str,
        q: &str,
        g: &str,
        x: &str,
        hash: HashAlgo,
        digest: &[u8],
    ) -> (BigNum, BigNum) {
        let key = DsaKey {
            p: BigNum::from_hex_str(p).unwrap(),
            q: BigNum::from_hex_str(q).unwrap(),
            g: BigNum::from_hex_str(g).unwrap(),
            x: BigNum::from_hex_str(x).unwrap(),
        };
        dsa_sign(&key, digest, md(hash)).unwrap()
    }

    pub(crate) fn ecdsa(nid: Nid, x: &str, hash: HashAlgo, digest: &[u8]) -> (BigNum, BigNum) {
        let group = EcGroup::from_curve_name(nid).unwrap();
        let mut c = ctx().unwrap();
        let mut n = BigNum::new().unwrap();
        group.order(&mut n, &mut c).unwrap();
        let key = EcdsaKey {
            group,
            n,
            d: BigNum::from_hex_str(x).unwrap(),
        };
        ecdsa_sign(&key, digest, md(hash)).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pooled contexts are reused across hashes and threads without mixing
    /// up the digest algorithm, and the pool stays bounded.
    /// The smallest modulus each hash fits, as PKCS#1 v1.5 needs it: SHA-512
    /// (83 + 11 bytes) needs 752 bits, SHA-256 (51 + 11) 496 bits.
    #[test]
    fn rsa_refuses_a_digest_too_long_for_the_modulus() {
        let small = RsaKey::new(PKey::from_rsa(Rsa::generate(512).unwrap()).unwrap());
        assert!(matches!(
            small.sign(HashAlgo::Sha512, &[1; 64]),
            Err(SignError::HashTooLong {
                algo: HashAlgo::Sha512,
                key_bits: 512
            })
        ));
        assert_eq!(small.sign(HashAlgo::Sha256, &[1; 32]).unwrap().len(), 64);
        assert_eq!(small.sign(HashAlgo::Sha1, &[1; 20]).unwrap().len(), 64);
        let fits = RsaKey::new(PKey::from_rsa(Rsa::generate(752).unwrap()).unwrap());
        assert_eq!(fits.sign(HashAlgo::Sha512, &[1; 64]).unwrap().len(), 94);
    }

    #[test]
    fn rsa_context_pool_signs_correctly_and_is_bounded() {
        use openssl::sign::Verifier;
        let pkey = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let key = std::sync::Arc::new(RsaKey::new(pkey.clone()));
        let hashes = [
            (HashAlgo::Sha1, MessageDigest::sha1()),
            (HashAlgo::Sha256, MessageDigest::sha256()),
            (HashAlgo::Sha512, MessageDigest::sha512()),
        ];
        let threads: Vec<_> = (0..12u8)
            .map(|t| {
                let key = key.clone();
                std::thread::spawn(move || {
                    let mut out = Vec::new();
                    for i in 0..6u8 {
                        let (h, _) = hashes[usize::from((t + i) % 3)];
                        let msg = [t, i, 7];
                        let digest =
                            openssl::hash::hash(super::super::rfc6979::message_digest(h), &msg)
                                .unwrap();
                        out.push((h, msg, key.sign(h, &digest).unwrap()));
                    }
                    out
                })
            })
            .collect();
        for t in threads {
            for (h, msg, sig) in t.join().unwrap() {
                let md = hashes.iter().find(|(x, _)| *x == h).unwrap().1;
                let mut v = Verifier::new(md, &pkey).unwrap();
                v.set_rsa_padding(Padding::PKCS1).unwrap();
                v.update(&msg).unwrap();
                assert!(v.verify(&sig).unwrap(), "{h:?}");
            }
        }
        for (h, _) in hashes {
            let n = key.pooled(h);
            assert!((1..=RSA_CTX_POOL).contains(&n), "{h:?}: {n}");
        }
    }

    #[test]
    fn pairwise_check_catches_a_bad_crt_parameter() {
        let good = Rsa::generate(2048).unwrap();
        let rebuild = |iqmp: BigNum| {
            Rsa::from_private_components(
                good.n().to_owned().unwrap(),
                good.e().to_owned().unwrap(),
                good.d().to_owned().unwrap(),
                good.p().unwrap().to_owned().unwrap(),
                good.q().unwrap().to_owned().unwrap(),
                good.dmp1().unwrap().to_owned().unwrap(),
                good.dmq1().unwrap().to_owned().unwrap(),
                iqmp,
            )
            .unwrap()
        };
        let iqmp = good.iqmp().unwrap().to_owned().unwrap();
        assert!(finish_rsa(rebuild(iqmp), Check::Pairwise).is_ok());
        let mut bad = good.iqmp().unwrap().to_owned().unwrap();
        bad.add_word(1).unwrap();
        assert!(finish_rsa(rebuild(bad), Check::Pairwise).is_err());
        let mut bad = good.iqmp().unwrap().to_owned().unwrap();
        bad.add_word(1).unwrap();
        assert!(finish_rsa(rebuild(bad), Check::Full).is_err());
    }

    #[test]
    fn mpi_encoding() {
        let mut v = Vec::new();
        write_mpi(&mut v, &[0x00, 0x00, 0x01, 0xff]);
        assert_eq!(v, [0x00, 0x09, 0x01, 0xff]);
        v.clear();
        write_mpi(&mut v, &[0x80]);
        assert_eq!(v, [0x00, 0x08, 0x80]);
        v.clear();
        write_mpi(&mut v, &[0x7f, 0x00]);
        assert_eq!(v, [0x00, 0x0f, 0x7f, 0x00]);
        v.clear();
        write_mpi(&mut v, &[0, 0]);
        assert_eq!(v, [0x00, 0x00]);
    }

    #[test]
    fn cert_hash_as_gpg_match_dsa_hash() {
        // DSA q of 160, 224, 256 bits; P-256, P-384, P-521 orders.
        for (bytes, want, id) in [
            (20, CertHash::Sha1, 2),
            (28, CertHash::Sha224, 11),
            (32, CertHash::Sha256, 8),
            (48, CertHash::Sha384, 9),
            (66, CertHash::Sha512, 10),
        ] {
            assert_eq!(CertHash::matching(bytes), want);
            assert_eq!(want.openpgp_id(), id);
            assert!(want.message_digest().size() >= bytes.min(64));
        }
    }
}
