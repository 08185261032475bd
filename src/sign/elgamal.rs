//! ElGamal (OpenPGP algorithm 16) session-key decryption and encryption.
//!
//! The legacy signd encryption subkey is ElGamal, which neither OpenSSL nor
//! sequoia's OpenSSL backend implements. The arithmetic is small: decrypt is
//! `m = c2 · (c1^x)^-1 mod p`, encrypt is `c1 = g^k`, `c2 = m · y^k mod p`,
//! with EME-PKCS1-v1_5 padding of the session key (RFC 4880 §13.1). Secret
//! values live in OpenSSL secure, constant-time bignums; sequoia does the
//! rest (checksum, cipher octet, SEIPD).

use openssl::bn::{BigNum, BigNumContext};
use sequoia_openpgp as openpgp;

use openpgp::crypto::mem::Protected;
use openpgp::crypto::mpi::{Ciphertext, PublicKey, SecretKeyMaterial, MPI};
use openpgp::crypto::SessionKey;
use openpgp::packet::key::{PublicParts, SecretParts, UnspecifiedRole};
use openpgp::packet::Key;

fn err(what: &str) -> anyhow::Error {
    openpgp::Error::InvalidOperation(format!("elgamal: {what}")).into()
}

fn ossl(e: openssl::error::ErrorStack) -> anyhow::Error {
    err(&format!("openssl: {e}"))
}

fn secure_ctx() -> anyhow::Result<BigNumContext> {
    BigNumContext::new_secure().map_err(ossl)
}

fn secure_bn(bytes: &[u8]) -> anyhow::Result<BigNum> {
    let mut n = BigNum::new_secure().map_err(ossl)?;
    n.copy_from_slice(bytes).map_err(ossl)?;
    n.set_const_time();
    Ok(n)
}

/// An ElGamal secret (sub)key usable as a sequoia [`Decryptor`].
///
/// [`Decryptor`]: openpgp::crypto::Decryptor
pub(crate) struct ElGamalDecryptor {
    public: Key<PublicParts, UnspecifiedRole>,
    p: BigNum,
    x: BigNum,
}

impl ElGamalDecryptor {
    /// `None` if the key is not an unencrypted ElGamal key.
    pub(crate) fn new(key: &Key<SecretParts, UnspecifiedRole>) -> Option<ElGamalDecryptor> {
        let PublicKey::ElGamal { p, .. } = key.mpis() else {
            return None;
        };
        let p = BigNum::from_slice(p.value()).ok()?;
        let x = match key.optional_secret()? {
            openpgp::packet::key::SecretKeyMaterial::Unencrypted(u) => u.map(|s| match s {
                SecretKeyMaterial::ElGamal { x } => secure_bn(x.value()).ok(),
                _ => None,
            })?,
            _ => return None,
        };
        Some(ElGamalDecryptor {
            public: key.parts_as_public().clone(),
            p,
            x,
        })
    }
}

impl openpgp::crypto::Decryptor for ElGamalDecryptor {
    fn public(&self) -> &Key<PublicParts, UnspecifiedRole> {
        &self.public
    }

    fn decrypt(
        &mut self,
        ciphertext: &Ciphertext,
        _plaintext_len: Option<usize>,
    ) -> anyhow::Result<SessionKey> {
        let Ciphertext::ElGamal { e, c } = ciphertext else {
            return Err(err("not an ElGamal ciphertext"));
        };
        let mut ctx = secure_ctx()?;
        let c1 = BigNum::from_slice(e.value()).map_err(ossl)?;
        let c2 = BigNum::from_slice(c.value()).map_err(ossl)?;
        let one = BigNum::from_u32(1).map_err(ossl)?;
        // c1, c2 must lie in [1, p-1].
        if c1 < one || c2 < one || c1 >= self.p || c2 >= self.p {
            return Err(err("ciphertext out of range"));
        }
        let mut s = BigNum::new_secure().map_err(ossl)?;
        s.set_const_time();
        s.mod_exp(&c1, &self.x, &self.p, &mut ctx).map_err(ossl)?;
        let mut s_inv = BigNum::new_secure().map_err(ossl)?;
        s_inv.mod_inverse(&s, &self.p, &mut ctx).map_err(ossl)?;
        let mut m = BigNum::new_secure().map_err(ossl)?;
        m.mod_mul(&c2, &s_inv, &self.p, &mut ctx).map_err(ossl)?;
        let k = self.p.num_bytes() as usize;
        let em = Protected::from(m.to_vec_padded(k as i32).map_err(ossl)?);
        eme_pkcs1_decode(&em).map(|m| SessionKey::from(m.to_vec()))
    }
}

/// Strips EME-PKCS1-v1_5 padding: `00 02 PS(>= 8 non-zero) 00 M`.
fn eme_pkcs1_decode(em: &[u8]) -> anyhow::Result<&[u8]> {
    if em.len() < 11 || em[0] != 0 || em[1] != 2 {
        return Err(err("bad padding"));
    }
    let zero = em[2..]
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| err("bad padding"))?;
    if zero < 8 {
        return Err(err("bad padding"));
    }
    Ok(&em[2 + zero + 1..])
}

/// Random bytes from OpenSSL, none of them zero.
fn nonzero_random(len: usize) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        openssl::rand::rand_bytes(&mut buf).map_err(ossl)?;
        out.extend(
            buf.iter()
                .copied()
                .filter(|&b| b != 0)
                .take(len - out.len()),
        );
    }
    Ok(out)
}

/// Encrypts `m` (cipher octet, session key, checksum) to the ElGamal public
/// key `(p, g, y)`.
pub(crate) fn encrypt(public: &PublicKey, m: &[u8]) -> anyhow::Result<Ciphertext> {
    let PublicKey::ElGamal { p, g, y } = public else {
        return Err(err("not an ElGamal key"));
    };
    let p = BigNum::from_slice(p.value()).map_err(ossl)?;
    let g = BigNum::from_slice(g.value()).map_err(ossl)?;
    let y = BigNum::from_slice(y.value()).map_err(ossl)?;
    let k_len = p.num_bytes() as usize;
    if p.num_bits() < 1024 || m.len() + 11 > k_len {
        return Err(err("key too small"));
    }
    // EME-PKCS1-v1_5
    let mut em = Protected::from(vec![0u8; k_len]);
    em[1] = 2;
    let ps_len = k_len - 3 - m.len();
    em[2..2 + ps_len].copy_from_slice(&nonzero_random(ps_len)?);
    em[3 + ps_len..].copy_from_slice(m);
    let mut ctx = secure_ctx()?;
    let mv = secure_bn(&em)?;
    // k uniformly in [1, p-2].
    let two = BigNum::from_u32(2).map_err(ossl)?;
    let mut pm2 = BigNum::new().map_err(ossl)?;
    pm2.checked_sub(&p, &two).map_err(ossl)?;
    let mut k = BigNum::new_secure().map_err(ossl)?;
    pm2.rand_range(&mut k).map_err(ossl)?;
    k.add_word(1).map_err(ossl)?;
    k.set_const_time();
    let mut c1 = BigNum::new().map_err(ossl)?;
    c1.mod_exp(&g, &k, &p, &mut ctx).map_err(ossl)?;
    let mut s = BigNum::new_secure().map_err(ossl)?;
    s.mod_exp(&y, &k, &p, &mut ctx).map_err(ossl)?;
    let mut c2 = BigNum::new().map_err(ossl)?;
    c2.mod_mul(&mv, &s, &p, &mut ctx).map_err(ossl)?;
    Ok(Ciphertext::ElGamal {
        e: MPI::new(&c1.to_vec()),
        c: MPI::new(&c2.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs1_padding_rules() {
        let mut em = vec![0u8, 2];
        em.extend([7u8; 8]);
        em.push(0);
        em.extend([1, 2, 3]);
        assert_eq!(eme_pkcs1_decode(&em).unwrap(), &[1, 2, 3]);
        // short padding string
        let bad = [0u8, 2, 7, 7, 7, 0, 1, 2, 3, 4, 5, 6];
        assert!(eme_pkcs1_decode(&bad).is_err());
        // wrong block type
        let mut bt1 = em.clone();
        bt1[1] = 1;
        assert!(eme_pkcs1_decode(&bt1).is_err());
        // no separator
        assert!(eme_pkcs1_decode(&[0, 2, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]).is_err());
        assert!(eme_pkcs1_decode(&[]).is_err());
    }
}
