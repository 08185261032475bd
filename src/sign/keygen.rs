//! Project key generation for `keygen` (spec §4.5).
//!
//! Like signd's `gpg --gen-key` with `Key-Usage: sign`: a v4 primary key
//! (sign + certify), one user ID `realname <email>`, its self-signature
//! (class 0x13, hashed creation time, key expiration when expire > 0)
//! directly after the user ID, then a class 0x13 certification by the
//! request user's signd key.

use std::time::{Duration, SystemTime};

use sequoia_openpgp as openpgp;

use openpgp::cert::Cert;
use openpgp::packet::key::{Key4, PrimaryRole, SecretParts};
use openpgp::packet::signature::SignatureBuilder;
use openpgp::packet::{Key, UserID};
use openpgp::parse::Parse;
use openpgp::serialize::MarshalInto;
use openpgp::types::{Curve, HashAlgorithm, KeyFlags, SignatureType};
use openpgp::Packet;

use super::packet::gpg_header;
use super::SignError;
use crate::secret::SecretBytes;

/// The key types of spec §4.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectKeyType {
    Rsa(usize),
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

/// Generates a project key and certifies it with `certifier` (a binary TSK
/// whose primary key has an unprotected secret).
pub fn generate_project_key(
    kind: ProjectKeyType,
    expire_days: u64,
    realname: &str,
    email: &str,
    certifier: &SecretBytes,
) -> Result<ProjectKey, SignError> {
    let validity = match expire_days {
        0 => None,
        d => {
            let secs = d
                .checked_mul(86400)
                .filter(|&s| s <= u32::MAX as u64)
                .ok_or_else(|| SignError::BadKey("expiry too far in the future".into()))?;
            Some(Duration::from_secs(secs))
        }
    };
    // Backdated so that signatures dated "now" are not older than the key.
    let created = SystemTime::now() - Duration::from_secs(60);
    let mut key: Key<SecretParts, PrimaryRole> = match kind {
        ProjectKeyType::Rsa(bits) => Key4::generate_rsa(bits).map_err(pgp)?.into(),
        ProjectKeyType::Dsa(bits) => Key4::generate_dsa(bits).map_err(pgp)?.into(),
        ProjectKeyType::Ed25519 => Key4::generate_ecc(true, Curve::Ed25519)
            .map_err(pgp)?
            .into(),
        ProjectKeyType::NistP256 => Key4::generate_ecc(true, Curve::NistP256)
            .map_err(pgp)?
            .into(),
        ProjectKeyType::NistP384 => Key4::generate_ecc(true, Curve::NistP384)
            .map_err(pgp)?
            .into(),
    };
    key.set_creation_time(created).map_err(pgp)?;
    // gpg does not verify P-384 signatures over digests shorter than SHA-384.
    let hash = match kind {
        ProjectKeyType::NistP384 => HashAlgorithm::SHA512,
        _ => HashAlgorithm::SHA256,
    };

    let mut signer = key.clone().into_keypair().map_err(pgp)?;
    let cert = Cert::try_from(vec![Packet::SecretKey(key.clone())]).map_err(pgp)?;
    let uid = UserID::from(format!("{realname} <{email}>"));
    let mut builder = SignatureBuilder::new(SignatureType::PositiveCertification)
        .set_hash_algo(hash)
        .set_signature_creation_time(created)
        .map_err(pgp)?
        .set_key_flags(KeyFlags::empty().set_signing().set_certification())
        .map_err(pgp)?;
    if let Some(v) = validity {
        builder = builder.set_key_validity_period(v).map_err(pgp)?;
    }
    let selfsig = uid.bind(&mut signer, &cert, builder).map_err(pgp)?;

    // Certification level 3 (positive) by the signd key.
    let signd = Cert::from_bytes(certifier.expose()).map_err(pgp)?;
    let mut signd_signer = signd
        .primary_key()
        .key()
        .clone()
        .parts_into_secret()
        .map_err(pgp)?
        .into_keypair()
        .map_err(|_| SignError::NotASecretKey("signd key has no usable secret".into()))?;
    let certification = uid
        .certify(
            &mut signd_signer,
            &cert,
            SignatureType::PositiveCertification,
            None,
            SystemTime::now(),
        )
        .map_err(pgp)?;

    let fingerprint = match key.fingerprint() {
        openpgp::Fingerprint::V4(f) => f,
        _ => return Err(SignError::BadKey("not a v4 key".into())),
    };
    let algo: u8 = key.pk_algo().into();

    let mut public = Vec::new();
    let key_body = key.parts_as_public().to_vec().map_err(pgp)?;
    gpg_header(&mut public, 6, key_body.len());
    public.extend_from_slice(&key_body);
    gpg_header(&mut public, 13, uid.value().len());
    public.extend_from_slice(uid.value());
    for sig in [&selfsig, &certification] {
        let body = sig.to_vec().map_err(pgp)?;
        gpg_header(&mut public, 2, body.len());
        public.extend_from_slice(&body);
    }

    let body = {
        let mut buf = vec![0u8; key.serialized_len()];
        let n = key.serialize_into(&mut buf);
        let buf = SecretBytes::new(buf);
        let n = n.map_err(pgp)?;
        if n != buf.len() {
            return Err(SignError::OpenPgp("secret key length".into()));
        }
        buf
    };
    let mut packet = Vec::with_capacity(body.len() + 5);
    gpg_header(&mut packet, 5, body.len());
    packet.extend_from_slice(body.expose());
    let secret_packet = SecretBytes::new(packet);

    let mut xdata = [0u8; 22];
    xdata[0] = algo;
    xdata[1] = 4;
    xdata[2..].copy_from_slice(&fingerprint);
    Ok(ProjectKey {
        public,
        secret_packet,
        xdata,
        fingerprint,
    })
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
}
