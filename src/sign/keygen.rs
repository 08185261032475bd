//! Key generation shaped like gpg 2.2's: the project keys of `keygen`
//! (spec §4.5) and the keys of `signatrust-admin key generate`.
//!
//! Perl signd runs `gpg --gen-key` with `Key-Usage: sign` and then
//! `gpg --edit-key sign` with the signd key. We write the same packets:
//!
//! * a v4 primary key (certify, sign) with gpg's parameter sizes: RSA of
//!   the requested size; DSA with gpg's (p, q) pairs 1024/160, 2048/256 and
//!   3072/256 (gpg caps DSA at 3072 bits, so `dsa@4096` is 3072 bits as
//!   with Perl signd); Ed25519 (EdDSA), NIST P-256 and P-384 (ECDSA);
//! * the user ID `realname <email>`, directly after the key;
//! * its self-signature (class 0x13) as [`super::keysig`] describes:
//!   gpg's subpackets, none critical, key expiration only when the key
//!   expires, gpg's hash for the key (SHA-512 for RSA, SHA-1 for DSA-1024,
//!   SHA-256 for DSA with a 256-bit q, Ed25519 and P-256, SHA-384 for
//!   P-384);
//! * for a project key, the signd key's certification of the user ID
//!   (class 0x13, level 3), after the self-signature: `sign -x` and
//!   `sign -C` read the first three packets;
//! * for an admin key, an encryption subkey and its binding signature
//!   (gpg's pairing: RSA with RSA, Ed25519 with ECDH Curve25519, ECDSA with
//!   ECDH on its curve, DSA with ElGamal), so the key can be a signd key.
//!
//! No direct-key signature, no salt notation. [`generate_key`] also makes
//! a revocation certificate (class 0x20, as gpg's pre-made one).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openssl::bn::{BigNum, BigNumContext};
use sequoia_openpgp as openpgp;

use openpgp::crypto::mpi;
use openpgp::packet::key::{Key4, KeyRole, PrimaryRole, SecretParts, SubordinateRole};
use openpgp::packet::Key;
use openpgp::serialize::MarshalInto;
use openpgp::types::{Curve, PublicKeyAlgorithm};

use super::key::{import_tsk, ImportedKey, KeyType};
use super::keysig::{self, Target};
use super::packet::{gpg_header, gpg_header_len};
use super::rfc6979::crypto_err;
use super::{SignError, SigningKey};
use crate::secret::SecretBytes;

/// The key types of spec §4.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectKeyType {
    /// RSA with a 1024, 2048 or 4096-bit modulus.
    Rsa(usize),
    /// DSA; 1024 (q 160 bits), 2048 (q 256 bits) or 4096, which gpg, and so
    /// Perl signd, makes as a 3072-bit key with a 256-bit q.
    Dsa(usize),
    Ed25519,
    NistP256,
    NistP384,
}

impl ProjectKeyType {
    /// Parses a wire type name; `None` for anything signd rejects.
    pub fn parse(s: &str) -> Option<ProjectKeyType> {
        Some(match s {
            "rsa@1024" => ProjectKeyType::Rsa(1024),
            "rsa@2048" => ProjectKeyType::Rsa(2048),
            "rsa@4096" => ProjectKeyType::Rsa(4096),
            "dsa@1024" => ProjectKeyType::Dsa(1024),
            "dsa@2048" => ProjectKeyType::Dsa(2048),
            "dsa@4096" => ProjectKeyType::Dsa(4096),
            "ed25519" | "eddsa@ed25519" => ProjectKeyType::Ed25519,
            "nistp256" | "ecdsa@nistp256" => ProjectKeyType::NistP256,
            "nistp384" | "ecdsa@nistp384" => ProjectKeyType::NistP384,
            _ => return None,
        })
    }
}

/// A generated project key.
pub struct ProjectKey {
    /// Binary transferable public key: key, user ID, self-signature, signd
    /// certification (old-format headers, as gpg exports).
    pub public: Vec<u8>,
    /// The unprotected secret-key packet alone (S2K usage 0, checksum):
    /// the blob plaintext.
    pub secret_packet: SecretBytes,
    /// `pubalgo | 4 | fingerprint`, the xdata of "01" blobs.
    pub xdata: [u8; 22],
    pub fingerprint: [u8; 20],
}

impl std::fmt::Debug for ProjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectKey")
            .field("fingerprint", &hex::encode_upper(self.fingerprint))
            .finish_non_exhaustive()
    }
}

fn pgp(e: anyhow::Error) -> SignError {
    SignError::OpenPgp(e.to_string())
}

/// How far in the past keys are created, so that signatures dated "now"
/// (by the client's clock, or the server's a moment later) are not older
/// than the key.
const BACKDATE: Duration = Duration::from_secs(60);

/// The primary key algorithm and size.
#[derive(Debug, Clone)]
enum Primary {
    Rsa(usize),
    /// DSA with a p of this many bits (q as gpg picks it).
    Dsa(usize),
    Ed25519,
    Ecdsa(Curve),
}

/// The encryption subkey gpg pairs with a primary key.
#[derive(Debug, Clone)]
enum Subkey {
    Rsa(usize),
    /// ECDH on this curve, with gpg's (and RFC 6637's) KDF parameters.
    Ecdh(Curve),
    /// ElGamal in the 2048-bit MODP group of RFC 3526.
    ElGamal,
}

impl From<ProjectKeyType> for Primary {
    fn from(k: ProjectKeyType) -> Primary {
        match k {
            ProjectKeyType::Rsa(bits) => Primary::Rsa(bits),
            ProjectKeyType::Dsa(bits) => Primary::Dsa(bits),
            ProjectKeyType::Ed25519 => Primary::Ed25519,
            ProjectKeyType::NistP256 => Primary::Ecdsa(Curve::NistP256),
            ProjectKeyType::NistP384 => Primary::Ecdsa(Curve::NistP384),
        }
    }
}

/// The admin key types: primary and gpg's encryption subkey for it.
fn admin_shape(kind: KeyType) -> (Primary, Subkey) {
    match kind {
        KeyType::Rsa2048 => (Primary::Rsa(2048), Subkey::Rsa(2048)),
        KeyType::Rsa3072 => (Primary::Rsa(3072), Subkey::Rsa(3072)),
        KeyType::Rsa4096 => (Primary::Rsa(4096), Subkey::Rsa(4096)),
        KeyType::Ed25519 => (Primary::Ed25519, Subkey::Ecdh(Curve::Cv25519)),
        KeyType::Dsa2048 => (Primary::Dsa(2048), Subkey::ElGamal),
        KeyType::NistP256 => (
            Primary::Ecdsa(Curve::NistP256),
            Subkey::Ecdh(Curve::NistP256),
        ),
        KeyType::NistP384 => (
            Primary::Ecdsa(Curve::NistP384),
            Subkey::Ecdh(Curve::NistP384),
        ),
    }
}

/// gpg 2.2's DSA sizes for a requested length (`gen_dsa` in keygen.c):
/// p capped at 3072 bits and rounded up to a multiple of 1024 above 1024;
/// q 160 bits up to 1024, 224 below 2048, 256 from 2048.
fn gpg_dsa_sizes(bits: usize) -> (usize, usize) {
    let mut p = bits.clamp(768, 3072).div_ceil(64) * 64;
    if p > 1024 {
        p = p.div_ceil(1024) * 1024;
    }
    let q = match p {
        2048.. => 256,
        1025.. => 224,
        _ => 160,
    };
    (p, q)
}

fn mpi_of(n: &BigNum) -> mpi::MPI {
    mpi::MPI::new(&n.to_vec())
}

fn protected_of(n: &BigNum) -> mpi::ProtectedMPI {
    let bytes = zeroize::Zeroizing::new(n.to_vec());
    mpi::ProtectedMPI::from(bytes.as_slice())
}

/// A random x in [1, q).
fn random_exponent(q: &BigNum) -> Result<BigNum, SignError> {
    let mut x = BigNum::new_secure().map_err(crypto_err)?;
    loop {
        q.rand_range(&mut x).map_err(crypto_err)?;
        if x.num_bits() > 0 {
            x.set_const_time();
            return Ok(x);
        }
    }
}

/// A DSA key with a `pbits` p and a `qbits` q: q a random prime, p a random
/// prime of exactly `pbits` bits with p = 1 mod 2q (OpenSSL's
/// `BN_generate_prime_ex` with `add`), g = h^((p-1)/q) for the first h from
/// 2 that does not give 1, x uniform in [1, q). Not FIPS 186-4's seeded
/// generation: OpenPGP carries no seed, and no verifier checks one.
fn dsa_key<R: KeyRole>(
    pbits: usize,
    qbits: usize,
    created: SystemTime,
) -> Result<Key<SecretParts, R>, SignError> {
    let e = crypto_err;
    let mut c = BigNumContext::new().map_err(e)?;
    let mut q = BigNum::new().map_err(e)?;
    q.generate_prime(qbits as i32, false, None, None)
        .map_err(e)?;
    if q.num_bits() as usize != qbits {
        return Err(SignError::Crypto("DSA q of the wrong size".into()));
    }
    let mut two_q = BigNum::new().map_err(e)?;
    two_q.lshift1(&q).map_err(e)?;
    let one = BigNum::from_u32(1).map_err(e)?;
    let mut p = BigNum::new().map_err(e)?;
    loop {
        p.generate_prime(pbits as i32, false, Some(&two_q), Some(&one))
            .map_err(e)?;
        // p - (p mod 2q) + 1 may fall one bit short; draw again then.
        if p.num_bits() as usize == pbits {
            break;
        }
    }
    let mut pm1 = BigNum::new().map_err(e)?;
    pm1.checked_sub(&p, &one).map_err(e)?;
    let mut cofactor = BigNum::new().map_err(e)?;
    cofactor.checked_div(&pm1, &q, &mut c).map_err(e)?;
    let mut g = BigNum::new().map_err(e)?;
    for h in 2u32.. {
        let h = BigNum::from_u32(h).map_err(e)?;
        g.mod_exp(&h, &cofactor, &p, &mut c).map_err(e)?;
        if g.num_bits() > 1 {
            break;
        }
    }
    let x = random_exponent(&q)?;
    let mut y = BigNum::new().map_err(e)?;
    y.mod_exp(&g, &x, &p, &mut c).map_err(e)?;
    #[allow(deprecated)]
    let algo = PublicKeyAlgorithm::DSA;
    let public = mpi::PublicKey::DSA {
        p: mpi_of(&p),
        q: mpi_of(&q),
        g: mpi_of(&g),
        y: mpi_of(&y),
    };
    let secret = mpi::SecretKeyMaterial::DSA {
        x: protected_of(&x),
    };
    Ok(Key4::with_secret(created, algo, public, secret.into())
        .map_err(pgp)?
        .into())
}

/// An ElGamal encryption key in the 2048-bit MODP group of RFC 3526
/// (a safe prime, generator 2), x uniform in [1, (p-1)/2).
fn elgamal_key<R: KeyRole>(created: SystemTime) -> Result<Key<SecretParts, R>, SignError> {
    let e = crypto_err;
    let mut c = BigNumContext::new().map_err(e)?;
    let p = BigNum::get_rfc3526_prime_2048().map_err(e)?;
    let g = BigNum::from_u32(2).map_err(e)?;
    let mut q = BigNum::new().map_err(e)?;
    q.rshift1(&p).map_err(e)?;
    let x = random_exponent(&q)?;
    let mut y = BigNum::new().map_err(e)?;
    y.mod_exp(&g, &x, &p, &mut c).map_err(e)?;
    #[allow(deprecated)]
    let algo = PublicKeyAlgorithm::ElGamalEncrypt;
    let public = mpi::PublicKey::ElGamal {
        p: mpi_of(&p),
        g: mpi_of(&g),
        y: mpi_of(&y),
    };
    let secret = mpi::SecretKeyMaterial::ElGamal {
        x: protected_of(&x),
    };
    Ok(Key4::with_secret(created, algo, public, secret.into())
        .map_err(pgp)?
        .into())
}

fn primary_key(
    kind: Primary,
    created: SystemTime,
) -> Result<Key<SecretParts, PrimaryRole>, SignError> {
    let mut key: Key<SecretParts, PrimaryRole> = match kind {
        Primary::Rsa(bits) => Key4::generate_rsa(bits).map_err(pgp)?.into(),
        Primary::Dsa(bits) => {
            let (p, q) = gpg_dsa_sizes(bits);
            return dsa_key(p, q, created);
        }
        Primary::Ed25519 => Key4::generate_ecc(true, Curve::Ed25519)
            .map_err(pgp)?
            .into(),
        Primary::Ecdsa(curve) => Key4::generate_ecc(true, curve).map_err(pgp)?.into(),
    };
    key.set_creation_time(created).map_err(pgp)?;
    Ok(key)
}

fn subkey(
    kind: Subkey,
    created: SystemTime,
) -> Result<Key<SecretParts, SubordinateRole>, SignError> {
    let mut key: Key<SecretParts, SubordinateRole> = match kind {
        Subkey::Rsa(bits) => Key4::generate_rsa(bits).map_err(pgp)?.into(),
        Subkey::Ecdh(curve) => Key4::generate_ecc(false, curve).map_err(pgp)?.into(),
        Subkey::ElGamal => return elgamal_key(created),
    };
    key.set_creation_time(created).map_err(pgp)?;
    Ok(key)
}

/// A key packet body with its (unprotected) secret.
fn secret_body<R: KeyRole>(key: &Key<SecretParts, R>) -> Result<SecretBytes, SignError> {
    let mut buf = vec![0u8; key.serialized_len()];
    let n = key.serialize_into(&mut buf);
    let buf = SecretBytes::new(buf);
    if n.map_err(pgp)? != buf.len() {
        return Err(SignError::OpenPgp("secret key length".into()));
    }
    Ok(buf)
}

/// The public key packet body.
fn public_body<R: KeyRole>(key: &Key<SecretParts, R>) -> Result<Vec<u8>, SignError> {
    key.parts_as_public().to_vec().map_err(pgp)
}

/// Seconds since the epoch of a generated key's time.
fn unix(t: SystemTime) -> Result<u32, SignError> {
    t.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u32::try_from(d.as_secs()).ok())
        .ok_or_else(|| SignError::BadKey("time outside the OpenPGP range".into()))
}

/// Whether a key made now may expire `expire_days` days after its creation:
/// the expiration is 32-bit seconds after creation (RFC 4880 §5.2.3.6), and
/// gpg adds it to the creation time in 32 bits, so a key whose expiry lies
/// past 2106-02-07 (`u32::MAX` seconds) is expired to gpg at once. gpg's own
/// `Expire-Date: Nd` wraps modulo 2^32 seconds instead (49711 days becomes
/// 17.5 hours), which Perl signd passes through.
pub fn expiry_fits(expire_days: u64) -> bool {
    expire_secs(expire_days).is_ok()
}

/// `expire_days` as OpenPGP key expiration seconds (0: never); see
/// [`expiry_fits`].
fn expire_secs(expire_days: u64) -> Result<u32, SignError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    expire_days
        .checked_mul(86400)
        .filter(|s| now.saturating_add(*s) <= u64::from(u32::MAX))
        .and_then(|s| u32::try_from(s).ok())
        .ok_or_else(|| SignError::BadKey("expiry past 2106-02-07, beyond OpenPGP's time".into()))
}

/// A primary key with its user ID and self-signature.
struct Certified {
    key: Key<SecretParts, PrimaryRole>,
    signer: SigningKey,
    /// Public key packet body.
    public: Vec<u8>,
    uid: Vec<u8>,
    /// Self-signature packet body.
    selfsig: Vec<u8>,
    created: SystemTime,
}

fn certified(kind: Primary, uid: &str, expire: u32) -> Result<Certified, SignError> {
    let created = SystemTime::now() - BACKDATE;
    let key = primary_key(kind, created)?;
    let signer = SigningKey::from_key(&key)?;
    let public = public_body(&key)?;
    let uid = uid.as_bytes().to_vec();
    let hashed = keysig::self_sig_subpackets(
        signer.fingerprint(),
        unix(created)?,
        keysig::FLAGS_CERTIFY_SIGN,
        expire,
    );
    let selfsig = keysig::sign(
        &signer,
        keysig::POSITIVE_CERTIFICATION,
        &hashed,
        &Target::UserId {
            key: &public,
            uid: &uid,
        },
    )?;
    Ok(Certified {
        key,
        signer,
        public,
        uid,
        selfsig,
        created,
    })
}

/// Generates a project key and certifies it with `certifier` (a binary TSK
/// whose primary key has an unprotected secret). `expire_days` 0: the key
/// does not expire.
///
/// Errors: [`SignError::NotASecretKey`] if the certifier has no usable
/// secret, [`SignError::BadKey`] for an expiry longer than 2^32 seconds
/// (about 136 years), otherwise generation failures.
pub fn generate_project_key(
    kind: ProjectKeyType,
    expire_days: u64,
    realname: &str,
    email: &str,
    certifier: &SecretBytes,
) -> Result<ProjectKey, SignError> {
    let expire = expire_secs(expire_days)?;
    let signd = SigningKey::load_primary(certifier)
        .map_err(|_| SignError::NotASecretKey("signd key has no usable secret".into()))?;
    let made = certified(kind.into(), &format!("{realname} <{email}>"), expire)?;

    // Certification level 3 (positive) by the signd key, dated now.
    let now = unix(SystemTime::now())?;
    let certification = keysig::sign(
        &signd,
        keysig::POSITIVE_CERTIFICATION,
        &keysig::certification_subpackets(signd.fingerprint(), now),
        &Target::UserId {
            key: &made.public,
            uid: &made.uid,
        },
    )?;

    let mut public = Vec::new();
    for (tag, body) in [
        (6, &made.public),
        (13, &made.uid),
        (2, &made.selfsig),
        (2, &certification),
    ] {
        gpg_header(&mut public, tag, body.len());
        public.extend_from_slice(body);
    }

    let body = secret_body(&made.key)?;
    let mut packet = Vec::with_capacity(gpg_header_len(5, body.len()) + body.len());
    gpg_header(&mut packet, 5, body.len());
    packet.extend_from_slice(body.expose());
    let secret_packet = SecretBytes::new(packet);

    let fingerprint = *made.signer.fingerprint();
    let mut xdata = [0u8; 22];
    xdata[0] = made.signer.algo() as u8;
    xdata[1] = 4;
    xdata[2..].copy_from_slice(&fingerprint);
    Ok(ProjectKey {
        public,
        secret_packet,
        xdata,
        fingerprint,
    })
}

/// Generates an admin key of `kind`: the binary transferable secret key
/// (old-format headers, secrets unprotected) with the primary key, the user
/// ID `uid`, its self-signature, the encryption subkey and its binding
/// signature; key and subkey expire `expire_days` after creation (0:
/// never).
pub(crate) fn generate_tsk(
    kind: KeyType,
    uid: &str,
    expire_days: u64,
) -> Result<SecretBytes, SignError> {
    Ok(generate_parts(kind, uid, expire_days, true)?.0)
}

/// Makes the TSK of [`generate_tsk`] (the encryption subkey only if
/// `encryption_subkey`) and a revocation signature for its primary key
/// (class 0x20, reason "no reason specified", as gpg's pre-made
/// revocation certificate), as a signature packet body.
fn generate_parts(
    kind: KeyType,
    uid: &str,
    expire_days: u64,
    encryption_subkey: bool,
) -> Result<(SecretBytes, Vec<u8>), SignError> {
    let expire = expire_secs(expire_days)?;
    let (primary, sub) = admin_shape(kind);
    let made = certified(primary, uid, expire)?;
    let revocation = keysig::sign(
        &made.signer,
        keysig::KEY_REVOCATION,
        &keysig::revocation_subpackets(made.signer.fingerprint(), unix(SystemTime::now())?),
        &Target::Key { key: &made.public },
    )?;
    let primary_secret = secret_body(&made.key)?;
    if !encryption_subkey {
        let parts: [(u8, &[u8]); 3] = [
            (5, primary_secret.expose()),
            (13, &made.uid),
            (2, &made.selfsig),
        ];
        return Ok((assemble(&parts), revocation));
    }
    let sub = subkey(sub, made.created)?;
    let sub_public = public_body(&sub)?;
    let binding = keysig::sign(
        &made.signer,
        keysig::SUBKEY_BINDING,
        &keysig::binding_subpackets(
            made.signer.fingerprint(),
            unix(made.created)?,
            keysig::FLAGS_ENCRYPT,
            expire,
        ),
        &Target::Subkey {
            primary: &made.public,
            subkey: &sub_public,
        },
    )?;
    let sub_secret = secret_body(&sub)?;
    let parts: [(u8, &[u8]); 5] = [
        (5, primary_secret.expose()),
        (13, &made.uid),
        (2, &made.selfsig),
        (7, sub_secret.expose()),
        (2, &binding),
    ];
    Ok((assemble(&parts), revocation))
}

/// Packets into one buffer, sized up front: it holds secrets and must not
/// reallocate.
fn assemble(parts: &[(u8, &[u8])]) -> SecretBytes {
    let total = parts
        .iter()
        .map(|(t, b)| gpg_header_len(*t, b.len()) + b.len())
        .sum();
    let mut tsk = Vec::with_capacity(total);
    for (tag, body) in parts {
        gpg_header(&mut tsk, *tag, body.len());
        tsk.extend_from_slice(body);
    }
    SecretBytes::new(tsk)
}

/// A key made by [`generate_key`], with its revocation certificate.
#[derive(Debug)]
pub struct GeneratedKey {
    pub key: ImportedKey,
    /// A revocation signature packet for the primary key (binary, with
    /// header): `gpg --import` it to revoke the key.
    pub revocation: Vec<u8>,
}

/// [`generate_with_expiry`] with the encryption subkey optional and the
/// revocation certificate kept.
///
/// Errors: as [`generate_with_expiry`].
pub fn generate_key(
    kind: KeyType,
    user_id: &str,
    expire_days: u64,
    encryption_subkey: bool,
) -> Result<GeneratedKey, SignError> {
    let (tsk, sig) = generate_parts(kind, user_id, expire_days, encryption_subkey)?;
    let mut revocation = Vec::with_capacity(sig.len() + 6);
    gpg_header(&mut revocation, 2, sig.len());
    revocation.extend_from_slice(&sig);
    Ok(GeneratedKey {
        key: import_tsk(tsk.expose(), None)?,
        revocation,
    })
}

/// Generates a new signing key with one user ID, shaped as gpg 2.2 makes
/// it (see this module's doc): the primary key (certify, sign), the user ID
/// and its self-signature, then an encryption subkey with its binding
/// signature, so that the key can serve as a signd key (`keygen` blobs
/// encrypted to it, `privsign` blobs decrypted with it). No expiry; the key
/// is created 60 s in the past so that signatures dated "now" are valid.
///
/// Errors: [`SignError::OpenPgp`] or [`SignError::Crypto`] if generation
/// fails.
pub fn generate(kind: KeyType, user_id: &str) -> Result<ImportedKey, SignError> {
    generate_with_expiry(kind, user_id, 0)
}

/// [`generate`] with a key expiration `expire_days` days after creation on
/// the self-signature and the binding (0: never), as gpg's
/// `Expire-Date: Nd`. An expiring key can be extended with `sign -x` and
/// used with `sign -C`.
///
/// Errors: as [`generate`]; [`SignError::BadKey`] if the expiry does not
/// fit the 32-bit seconds of OpenPGP.
pub fn generate_with_expiry(
    kind: KeyType,
    user_id: &str,
    expire_days: u64,
) -> Result<ImportedKey, SignError> {
    let tsk = generate_tsk(kind, user_id, expire_days)?;
    import_tsk(tsk.expose(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names() {
        assert_eq!(
            ProjectKeyType::parse("rsa@2048"),
            Some(ProjectKeyType::Rsa(2048))
        );
        assert_eq!(
            ProjectKeyType::parse("eddsa@ed25519"),
            Some(ProjectKeyType::Ed25519)
        );
        assert_eq!(
            ProjectKeyType::parse("ecdsa@nistp384"),
            Some(ProjectKeyType::NistP384)
        );
        for bad in ["rsa@3072", "dsa", "RSA@2048", "ed448", ""] {
            assert_eq!(ProjectKeyType::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn dsa_parameters_are_consistent() {
        let key: Key<SecretParts, PrimaryRole> = dsa_key(1024, 160, SystemTime::now()).unwrap();
        let mpi::PublicKey::DSA { p, q, g, y } = key.mpis() else {
            panic!("not DSA");
        };
        let bn = |m: &mpi::MPI| BigNum::from_slice(m.value()).unwrap();
        let (p, q, g, y) = (bn(p), bn(q), bn(g), bn(y));
        assert_eq!((p.num_bits(), q.num_bits()), (1024, 160));
        let mut c = BigNumContext::new().unwrap();
        let one = BigNum::from_u32(1).unwrap();
        let mut pm1 = BigNum::new().unwrap();
        pm1.checked_sub(&p, &one).unwrap();
        let mut r = BigNum::new().unwrap();
        r.nnmod(&pm1, &q, &mut c).unwrap();
        assert_eq!(r.num_bits(), 0, "q divides p - 1");
        let mut t = BigNum::new().unwrap();
        t.mod_exp(&g, &q, &p, &mut c).unwrap();
        assert_eq!(t, one, "g has order q");
        assert!(g.num_bits() > 1);
        t.mod_exp(&y, &q, &p, &mut c).unwrap();
        assert_eq!(t, one, "y is in the subgroup");
        // And the signer accepts it (it checks y = g^x and x < q).
        SigningKey::from_key(&key).unwrap();
    }

    #[test]
    fn dsa_sizes_as_gpg() {
        assert_eq!(gpg_dsa_sizes(1024), (1024, 160));
        assert_eq!(gpg_dsa_sizes(1536), (2048, 256));
        assert_eq!(gpg_dsa_sizes(2048), (2048, 256));
        assert_eq!(gpg_dsa_sizes(3072), (3072, 256));
        assert_eq!(gpg_dsa_sizes(4096), (3072, 256));
    }
}
