//! Private-key blobs (spec §8): decryption of both formats, and encryption
//! for keygen.
//!
//! * First byte below 0x80: signd's symmetric "01" format. We rebuild the
//!   SKESK v4 and SEIPD v1 packets from the blob fields and let sequoia
//!   decrypt them with the 144-hex-character key line as the passphrase.
//! * Otherwise an OpenPGP message: PKESK v3 to an encryption subkey of one
//!   of the signd keys (RSA and ECDH through sequoia, ElGamal through
//!   [`super::elgamal`]), then SEIPD/MDC, decompression and literal data.
//!
//! Pure: the caller looks up encryption keys and signd keys. Plaintexts are
//! returned in [`SecretBytes`]. Error messages never contain key material.

use std::io::{Read, Write};

use sequoia_openpgp as openpgp;
use thiserror::Error;

use openpgp::cert::amalgamation::key::PrimaryKey;
use openpgp::cert::Cert;
use openpgp::crypto::{Password, SessionKey};
use openpgp::packet::key::{SecretParts, UnspecifiedRole};
use openpgp::packet::{Key, PKESK, SKESK};
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, MessageStructure, VerificationHelper,
};
use openpgp::parse::Parse;
use openpgp::serialize::stream::{Compressor, Encryptor, LiteralWriter, Message};
use openpgp::serialize::Serialize;
use openpgp::types::{
    CompressionAlgorithm, DataFormat, KeyFlags, PublicKeyAlgorithm, SymmetricAlgorithm,
};
use openpgp::{KeyHandle, Packet};

use super::elgamal::{self, ElGamalDecryptor};
use super::ocb::{self, OcbError, OcbMessage};
use super::packet::new_header;
use super::{LegacyPolicy, SignError, SigningKey};
use crate::secret::SecretBytes;

/// Largest plaintext we accept (gpg is run with `--max-output 65536`).
const MAX_PLAINTEXT: u64 = 65536;

/// Why a blob could not be used. The commands layer maps each variant to
/// signd's wire text.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BlobError {
    #[error("bad encoded data")]
    BadEncodedData,
    #[error("truncated encoded data")]
    TruncatedEncodedData,
    #[error("unknown encryption key {0}")]
    UnknownEncryptionKey(String),
    #[error("malformed encryption key {0}")]
    MalformedEncryptionKey(String),
    #[error("bad encryption key {0}")]
    BadEncryptionKey(String),
    /// No signd key holds the secret for any recipient of the message.
    #[error("decryption failed: no secret key")]
    NoSecretKey,
    /// The session key or the encrypted data did not decrypt (wrong key,
    /// MDC mismatch, corrupt ciphertext).
    #[error("decryption failed: bad session key or corrupt data")]
    DecryptionFailed,
    /// Not a valid OpenPGP message.
    #[error("invalid OpenPGP message: {0}")]
    BadMessage(String),
    #[error("decrypted data is larger than {MAX_PLAINTEXT} bytes")]
    TooLarge,
    #[error("not a pgp packet")]
    NotAPgpPacket,
    #[error("unsupported pgp packet length")]
    UnsupportedPacketLength,
    #[error("truncated pgp packet")]
    TruncatedPacket,
    #[error("not a secret key packet")]
    NotASecretKeyPacket,
    #[error("unknown public key version {0}")]
    UnknownPublicKeyVersion(u8),
    #[error("unsupported public key algorithm {0}")]
    UnsupportedPublicKeyAlgorithm(u8),
    /// The secret key packet is well-formed but unusable (protected,
    /// inconsistent MPIs, unsupported curve).
    #[error("{0}")]
    Key(#[from] SignError),
    /// Encryption (keygen) failed.
    #[error("encryption failed: {0}")]
    Encrypt(String),
    /// The recipient has no usable encryption (sub)key.
    #[error("no encryption key for the recipient")]
    NoEncryptionKey,
    /// A GnuPG >= 2.3 OCB-encrypted packet (tag 20) that does not parse or
    /// authenticate.
    #[error(transparent)]
    Ocb(#[from] OcbError),
}

/// The two blob formats, told apart by the first byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobFormat {
    /// Symmetric "01" blob encrypted with encryption key `key_id` (16
    /// uppercase hex digits).
    Symmetric { key_id: String },
    /// OpenPGP message.
    Gpg,
}

/// The header checks signd does before it looks up the encryption key.
pub fn format(blob: &[u8]) -> Result<BlobFormat, BlobError> {
    match blob.first() {
        None => Err(BlobError::BadEncodedData),
        Some(&b) if b >= 0x80 => Ok(BlobFormat::Gpg),
        Some(_) => {
            // 01 | keyid[8] | xdl | xdata | salt[8] | u16 elen | edata
            if blob.len() < 10 {
                return Err(BlobError::BadEncodedData);
            }
            let xdl = blob[9] as usize;
            if blob[0] != 1 || blob.len() < 10 + xdl + 2 + 8 {
                return Err(BlobError::BadEncodedData);
            }
            Ok(BlobFormat::Symmetric {
                key_id: hex::encode_upper(&blob[1..9]),
            })
        }
    }
}

/// The xdata of a symmetric blob (empty for gpg blobs and blobs without).
pub fn xdata(blob: &[u8]) -> &[u8] {
    match format(blob) {
        Ok(BlobFormat::Symmetric { .. }) => &blob[10..10 + blob[9] as usize],
        _ => &[],
    }
}

/// Decrypts a blob of either format. `encryption_key` looks up the key line
/// of a signd encryption key by its ID; `tsks` are the candidate signd
/// secret keys (binary TSKs, secrets unprotected) for gpg blobs.
pub fn decrypt<F>(
    blob: &[u8],
    encryption_key: F,
    tsks: &[SecretBytes],
) -> Result<SecretBytes, BlobError>
where
    F: Fn(&str) -> Option<SecretBytes>,
{
    match format(blob)? {
        BlobFormat::Symmetric { key_id } => {
            let line =
                encryption_key(&key_id).ok_or(BlobError::UnknownEncryptionKey(key_id.clone()))?;
            decrypt_symmetric(blob, &key_id, &line)
        }
        BlobFormat::Gpg => decrypt_gpg(blob, tsks),
    }
}

/// Parsed signd encryption key line.
struct EncParams {
    s2k_hash: u8,
    s2k_count: u8,
    cipher: u8,
}

fn enc_params(key_id: &str, line: &SecretBytes) -> Result<EncParams, BlobError> {
    if key_id.len() != 16
        || !key_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    {
        return Err(BlobError::MalformedEncryptionKey(key_id.to_string()));
    }
    let bad = || BlobError::BadEncryptionKey(key_id.to_string());
    let mut l = line.expose();
    if let Some(s) = l.strip_suffix(b"\n") {
        l = s;
    }
    if l.is_empty()
        || !l.len().is_multiple_of(2)
        || !l
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return Err(bad());
    }
    if l.len() != 144 {
        return Err(bad());
    }
    // 01 | created[4] | s2kalgo | s2kcnt | cipher | keyid[8] | random[56];
    // only the public header bytes are decoded.
    let head = hex::decode(&l[..32]).map_err(|_| bad())?;
    if head[0] != 1 || head[6] == 0 || hex::encode_upper(&head[8..16]) != key_id {
        return Err(bad());
    }
    Ok(EncParams {
        s2k_hash: head[5],
        s2k_count: head[6],
        cipher: head[7],
    })
}

/// Decrypts a symmetric "01" blob with the key line of `key_id`.
pub fn decrypt_symmetric(
    blob: &[u8],
    key_id: &str,
    line: &SecretBytes,
) -> Result<SecretBytes, BlobError> {
    match format(blob)? {
        BlobFormat::Symmetric { key_id: k } if k == key_id => {}
        _ => return Err(BlobError::BadEncodedData),
    }
    let params = enc_params(key_id, line)?;
    let rest = &blob[10 + blob[9] as usize..];
    let salt = &rest[..8];
    let elen = u16::from_be_bytes([rest[8], rest[9]]) as usize;
    let edata = &rest[10..];
    if elen != edata.len() {
        return Err(BlobError::TruncatedEncodedData);
    }
    // SKESK v4: version, cipher, S2K 3 (iterated+salted), hash, salt, count.
    let mut msg = Vec::with_capacity(edata.len() + 32);
    let mut skesk = vec![4, params.cipher, 3, params.s2k_hash];
    skesk.extend_from_slice(salt);
    skesk.push(params.s2k_count);
    new_header(&mut msg, 3, skesk.len());
    msg.extend_from_slice(&skesk);
    new_header(&mut msg, 18, edata.len() + 1);
    msg.push(1);
    msg.extend_from_slice(edata);
    let mut l = line.expose();
    if let Some(s) = l.strip_suffix(b"\n") {
        l = s;
    }
    let helper = Helper {
        password: Some(Password::from(l)),
        keys: Vec::new(),
        tried_key: false,
    };
    run_decryptor(&msg, helper)
}

/// Decrypts a gpg-format blob with whichever of `tsks` holds the secret of
/// a recipient.
pub fn decrypt_gpg(blob: &[u8], tsks: &[SecretBytes]) -> Result<SecretBytes, BlobError> {
    let mut keys = Vec::new();
    for tsk in tsks {
        // A broken signd key must not stop the others from being tried.
        let Ok(cert) = Cert::from_bytes(tsk.expose()) else {
            continue;
        };
        for ka in cert.keys().secret() {
            keys.push(ka.key().clone().role_into_unspecified());
        }
    }
    if let Some(msg) = ocb::split_message(blob)? {
        return decrypt_ocb(&msg, &keys);
    }
    let helper = Helper {
        password: None,
        keys,
        tried_key: false,
    };
    run_decryptor(blob, helper)
}

/// A message whose data is GnuPG's OCB packet (tag 20, see [`ocb`]): each
/// session key any of `keys` opens is tried on it; the plaintext is the
/// literal data inside, as `gpg --decrypt` prints it.
fn decrypt_ocb(
    msg: &OcbMessage,
    keys: &[Key<SecretParts, UnspecifiedRole>],
) -> Result<SecretBytes, BlobError> {
    let mut tried_key = false;
    let mut last_error = None;
    for raw in &msg.session_key_packets {
        let pkesk = match Packet::from_bytes(raw.as_slice()) {
            Ok(Packet::PKESK(p)) => p,
            // Passphrase-encrypted session keys are not signd's.
            Ok(_) => continue,
            Err(e) => return Err(BlobError::BadMessage(e.to_string())),
        };
        for key in keys {
            if !pkesk
                .recipient()
                .is_none_or(|h| h.aliases(key.key_handle()))
            {
                continue;
            }
            tried_key = true;
            let Some((_, session_key)) = pkesk_session_key(&pkesk, key) else {
                continue;
            };
            match msg.packet.decrypt(&session_key) {
                Ok(plain) => return literal_data(&plain),
                Err(e) => last_error = Some(e),
            }
        }
    }
    match (last_error, tried_key) {
        (Some(e), _) => Err(e.into()),
        (None, true) => Err(BlobError::DecryptionFailed),
        (None, false) => Err(BlobError::NoSecretKey),
    }
}

/// The session key `key` recovers from `pkesk`, if it does.
fn pkesk_session_key(
    pkesk: &PKESK,
    key: &Key<SecretParts, UnspecifiedRole>,
) -> Option<(Option<SymmetricAlgorithm>, SessionKey)> {
    if is_elgamal(key.pk_algo()) {
        ElGamalDecryptor::new(key).and_then(|mut d| pkesk.decrypt(&mut d, None))
    } else {
        key.clone()
            .into_keypair()
            .ok()
            .and_then(|mut kp| pkesk.decrypt(&mut kp, None))
    }
}

/// The literal data of a decrypted OpenPGP message (compressed or not),
/// at most [`MAX_PLAINTEXT`] octets.
fn literal_data(plain: &SecretBytes) -> Result<SecretBytes, BlobError> {
    use openpgp::parse::{PacketParserBuilder, PacketParserResult};
    let bad = |e: anyhow::Error| BlobError::BadMessage(e.to_string());
    let mut ppr = PacketParserBuilder::from_bytes(plain.expose())
        .map_err(bad)?
        .build()
        .map_err(bad)?;
    while let PacketParserResult::Some(mut pp) = ppr {
        if let Packet::Literal(_) = pp.packet {
            let mut out = Vec::new();
            let r = (&mut pp).take(MAX_PLAINTEXT + 1).read_to_end(&mut out);
            let out = SecretBytes::new(out);
            r.map_err(|e| BlobError::BadMessage(e.to_string()))?;
            if out.len() as u64 > MAX_PLAINTEXT {
                return Err(BlobError::TooLarge);
            }
            return Ok(out);
        }
        ppr = pp.recurse().map_err(bad)?.1;
    }
    Err(BlobError::BadMessage(
        "no literal data in the decrypted message".into(),
    ))
}

/// Whom a gpg blob is encrypted to: the key ID of each public-key
/// encrypted session key packet before the encrypted data, `None` for a
/// hidden recipient (wildcard key ID, or a PKESK version that names keys
/// differently).
pub fn gpg_recipients(blob: &[u8]) -> Result<Vec<Option<[u8; 8]>>, BlobError> {
    use openpgp::parse::{PacketParser, PacketParserResult};
    let bad = |e: anyhow::Error| BlobError::BadMessage(e.to_string());
    let mut out = Vec::new();
    let mut ppr = PacketParser::from_bytes(blob).map_err(bad)?;
    while let PacketParserResult::Some(pp) = ppr {
        match &pp.packet {
            Packet::PKESK(PKESK::V3(p)) => out.push(
                p.recipient()
                    .and_then(|id| <[u8; 8]>::try_from(id.as_bytes()).ok())
                    .filter(|id| *id != [0; 8]),
            ),
            Packet::PKESK(_) => out.push(None),
            Packet::SKESK(_) => {}
            // The session key packets come first; stop at the data.
            _ => break,
        }
        ppr = pp.next().map_err(bad)?.1;
    }
    Ok(out)
}

fn run_decryptor(msg: &[u8], helper: Helper) -> Result<SecretBytes, BlobError> {
    let policy = LegacyPolicy;
    let builder =
        DecryptorBuilder::from_bytes(msg).map_err(|e| BlobError::BadMessage(e.to_string()))?;
    let mut dec = match builder.with_policy(&policy, None, helper) {
        Ok(d) => d,
        Err(e) => return Err(classify(e)),
    };
    let mut out = Vec::new();
    let r = (&mut dec).take(MAX_PLAINTEXT + 1).read_to_end(&mut out);
    let out = SecretBytes::new(out);
    r.map_err(|e| {
        // MDC failures surface as I/O errors wrapping an openpgp error.
        BlobError::BadMessage(e.to_string())
    })?;
    if out.len() as u64 > MAX_PLAINTEXT {
        return Err(BlobError::TooLarge);
    }
    Ok(out)
}

/// Maps a decryptor setup error to a blob error; the helper's own failures
/// carry a marker.
fn classify(e: anyhow::Error) -> BlobError {
    if let Some(m) = e.downcast_ref::<Marker>() {
        return match m {
            Marker::NoKey => BlobError::NoSecretKey,
            Marker::Failed => BlobError::DecryptionFailed,
        };
    }
    match e.downcast_ref::<openpgp::Error>() {
        Some(openpgp::Error::ManipulatedMessage) => BlobError::DecryptionFailed,
        _ => BlobError::BadMessage(e.to_string()),
    }
}

#[derive(Debug, Error)]
enum Marker {
    #[error("no secret key")]
    NoKey,
    #[error("decryption failed")]
    Failed,
}

struct Helper {
    password: Option<Password>,
    keys: Vec<Key<SecretParts, UnspecifiedRole>>,
    tried_key: bool,
}

impl VerificationHelper for Helper {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(Vec::new())
    }
    fn check(&mut self, _structure: MessageStructure) -> openpgp::Result<()> {
        Ok(())
    }
}

impl DecryptionHelper for Helper {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        if let Some(pw) = &self.password {
            for skesk in skesks {
                self.tried_key = true;
                if let Ok((algo, sk)) = skesk.decrypt(pw) {
                    if decrypt(algo, &sk) {
                        return Ok(None);
                    }
                }
            }
        }
        for pkesk in pkesks {
            let recipient = pkesk.recipient();
            for key in &self.keys {
                let matches = match &recipient {
                    None => true,
                    Some(h) => h.aliases(key.key_handle()),
                };
                if !matches {
                    continue;
                }
                self.tried_key = true;
                let result = if is_elgamal(key.pk_algo()) {
                    ElGamalDecryptor::new(key).and_then(|mut d| pkesk.decrypt(&mut d, sym_algo))
                } else {
                    key.clone()
                        .into_keypair()
                        .ok()
                        .and_then(|mut kp| pkesk.decrypt(&mut kp, sym_algo))
                };
                if let Some((algo, sk)) = result {
                    if decrypt(algo, &sk) {
                        return Ok(None);
                    }
                }
            }
        }
        if self.tried_key {
            Err(Marker::Failed.into())
        } else {
            Err(Marker::NoKey.into())
        }
    }
}

/// ElGamal (16, or the long-deprecated 20), which we do ourselves.
fn is_elgamal(algo: PublicKeyAlgorithm) -> bool {
    matches!(u8::from(algo), 16 | 20)
}

/// The first packet of a decrypted blob (header and body), as signd's
/// `striptofirst`.
pub fn first_packet(plain: &[u8]) -> Result<&[u8], BlobError> {
    let ctb = *plain.first().ok_or(BlobError::NotAPgpPacket)?;
    if ctb & 0x80 == 0 {
        return Err(BlobError::NotAPgpPacket);
    }
    let get = |i: usize| plain.get(i).copied().ok_or(BlobError::TruncatedPacket);
    let (hlen, blen): (usize, usize) = if ctb & 0x40 != 0 {
        match get(1)? {
            b @ 0..=191 => (2, b as usize),
            b @ 192..=223 => (3, ((b as usize - 192) << 8) + get(2)? as usize + 192),
            255 => (
                6,
                u32::from_be_bytes([get(2)?, get(3)?, get(4)?, get(5)?]) as usize,
            ),
            _ => return Err(BlobError::UnsupportedPacketLength),
        }
    } else {
        match ctb & 3 {
            0 => (2, get(1)? as usize),
            1 => (3, u16::from_be_bytes([get(1)?, get(2)?]) as usize),
            2 => (
                5,
                u32::from_be_bytes([get(1)?, get(2)?, get(3)?, get(4)?]) as usize,
            ),
            _ => return Err(BlobError::UnsupportedPacketLength),
        }
    };
    let end = hlen.checked_add(blen).ok_or(BlobError::TruncatedPacket)?;
    plain.get(..end).ok_or(BlobError::TruncatedPacket)
}

fn packet_tag(ctb: u8) -> u8 {
    if ctb & 0x40 != 0 {
        ctb & 0x3f
    } else {
        (ctb >> 2) & 0x0f
    }
}

/// The signing key in the first packet of a decrypted blob (spec §4.4:
/// a secret-key packet, tag 5).
pub fn signing_key(plain: &SecretBytes) -> Result<SigningKey, BlobError> {
    let first = first_packet(plain.expose())?;
    if packet_tag(first[0]) != 5 {
        return Err(BlobError::NotASecretKeyPacket);
    }
    let hlen = first.len() - body_len(first);
    let body = &first[hlen..];
    let version = *body.first().ok_or(BlobError::TruncatedPacket)?;
    let algo = match version {
        4 => *body.get(5).ok_or(BlobError::TruncatedPacket)?,
        // signd parses v3 keys, but no gpg that signd supports can sign
        // with one; neither can we.
        _ => return Err(BlobError::UnknownPublicKeyVersion(version)),
    };
    if !matches!(algo, 1 | 17 | 19 | 22) {
        return Err(BlobError::UnsupportedPublicKeyAlgorithm(algo));
    }
    let packet = SecretBytes::from_slice(first);
    // The consistency check of stored keys (n = p·q, CRT values, one
    // pairwise sign/verify: ~0.7 ms for RSA-2048), not import's full
    // `RSA_check_key` (~30 ms of primality tests). A blob's key belongs to
    // the client that sent it: a bad key can only spoil its own signatures,
    // never touch the server's keys, while the primality tests made every
    // new blob a 30 ms (and a crafted 16k-bit key a far larger) CPU cost
    // that any allowed host could demand at will.
    Ok(SigningKey::load_primary(&packet)?)
}

/// Body length of a packet that [`first_packet`] returned.
fn body_len(packet: &[u8]) -> usize {
    let ctb = packet[0];
    let hlen = if ctb & 0x40 != 0 {
        match packet[1] {
            0..=191 => 2,
            192..=223 => 3,
            _ => 6,
        }
    } else {
        match ctb & 3 {
            0 => 2,
            1 => 3,
            _ => 5,
        }
    };
    packet.len() - hlen
}

/// Writes `plain` as a binary literal data packet, zlib-compressed, in a
/// SEIPD v1 packet under `session_key` (AES-256), after `prefix` (the
/// PKESK packets, if any).
fn seal(plain: &[u8], session_key: SessionKey, prefix: &[Packet]) -> Result<Vec<u8>, BlobError> {
    let enc = |e: anyhow::Error| BlobError::Encrypt(e.to_string());
    let mut out = Vec::new();
    {
        let mut message = Message::new(&mut out);
        for p in prefix {
            p.serialize(&mut message).map_err(enc)?;
        }
        let message = Encryptor::with_session_key(message, SymmetricAlgorithm::AES256, session_key)
            .map_err(enc)?
            .build()
            .map_err(enc)?;
        let message = Compressor::new(message)
            .algo(CompressionAlgorithm::Zlib)
            .build()
            .map_err(enc)?;
        let mut message = LiteralWriter::new(message)
            .format(DataFormat::Binary)
            .build()
            .map_err(enc)?;
        message
            .write_all(plain)
            .map_err(|e| BlobError::Encrypt(e.to_string()))?;
        message.finalize().map_err(enc)?;
    }
    Ok(out)
}

/// Encrypts `plain` (the secret-key packet) in the symmetric "01" format
/// with the encryption key `key_id` (key line `line`), carrying `xdata`.
pub fn encrypt_symmetric(
    plain: &[u8],
    key_id: &str,
    line: &SecretBytes,
    xdata: &[u8],
) -> Result<Vec<u8>, BlobError> {
    let params = enc_params(key_id, line)?;
    if params.cipher != 9 || params.s2k_hash != 10 {
        return Err(BlobError::BadEncryptionKey(key_id.to_string()));
    }
    if xdata.len() > 255 {
        return Err(BlobError::Encrypt("xdata too long".into()));
    }
    let mut salt = [0u8; 8];
    openssl::rand::rand_bytes(&mut salt).map_err(|e| BlobError::Encrypt(e.to_string()))?;
    let mut l = line.expose();
    if let Some(s) = l.strip_suffix(b"\n") {
        l = s;
    }
    let count = (16u32 + (params.s2k_count as u32 & 15)) << ((params.s2k_count as u32 >> 4) + 6);
    #[allow(deprecated)]
    let s2k = openpgp::crypto::S2K::Iterated {
        hash: openpgp::types::HashAlgorithm::SHA512,
        salt,
        hash_bytes: count,
    };
    let key = s2k
        .derive_key(&Password::from(l), 32)
        .map_err(|e| BlobError::Encrypt(e.to_string()))?;
    let sealed = seal(plain, key, &[])?;
    let edata = seipd_body(&sealed)?;
    // Drop the SEIPD version byte.
    let edata = edata
        .split_first()
        .filter(|(v, _)| **v == 1)
        .map(|(_, rest)| rest)
        .ok_or_else(|| BlobError::Encrypt("unexpected SEIPD version".into()))?;
    let elen = u16::try_from(edata.len()).map_err(|_| BlobError::Encrypt("too large".into()))?;
    let id = hex::decode(key_id).map_err(|_| BlobError::MalformedEncryptionKey(key_id.into()))?;
    let mut out = Vec::with_capacity(21 + xdata.len() + edata.len());
    out.push(1);
    out.extend_from_slice(&id);
    out.push(xdata.len() as u8);
    out.extend_from_slice(xdata);
    out.extend_from_slice(&salt);
    out.extend_from_slice(&elen.to_be_bytes());
    out.extend_from_slice(edata);
    Ok(out)
}

/// The body of the single SEIPD packet sequoia wrote (new-format header,
/// partial body lengths joined).
fn seipd_body(data: &[u8]) -> Result<Vec<u8>, BlobError> {
    let bad = || BlobError::Encrypt("unexpected packet framing".into());
    if data.first() != Some(&(0xc0 | 18)) {
        return Err(bad());
    }
    let mut pos = 1;
    let mut body = Vec::with_capacity(data.len());
    loop {
        let b0 = *data.get(pos).ok_or_else(bad)? as usize;
        let (len, hl, last) = match b0 {
            0..=191 => (b0, 1, true),
            192..=223 => (
                ((b0 - 192) << 8) + *data.get(pos + 1).ok_or_else(bad)? as usize + 192,
                2,
                true,
            ),
            224..=254 => (1 << (b0 & 0x1f), 1, false),
            _ => {
                let b = data.get(pos + 1..pos + 5).ok_or_else(bad)?;
                (
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                    5,
                    true,
                )
            }
        };
        pos += hl;
        body.extend_from_slice(data.get(pos..pos + len).ok_or_else(bad)?);
        pos += len;
        if last {
            break;
        }
    }
    if pos != data.len() {
        return Err(bad());
    }
    Ok(body)
}

/// Encrypts `plain` to `recipient` (a binary transferable key, public or
/// secret) as `gpg --encrypt -r` does: one PKESK v3, to the key gpg picks
/// (see [`encrypt_gpg_to`]), then SEIPD v1 with MDC.
pub fn encrypt_gpg(plain: &[u8], recipient: &[u8]) -> Result<Vec<u8>, BlobError> {
    encrypt_gpg_to(plain, recipient, None)
}

/// [`encrypt_gpg`] to the key `exact` (a `KEYID!` recipient, see
/// [`gpg_recipient`]) if given, else to the key gpg's `finish_lookup`
/// picks: the valid (bound, not revoked, not expired) encryption-capable
/// subkey created last, else the primary key if it may encrypt. Errors:
/// [`BlobError::NoEncryptionKey`] when there is none (gpg: "Unusable public
/// key").
pub fn encrypt_gpg_to(
    plain: &[u8],
    recipient: &[u8],
    exact: Option<&[u8; 20]>,
) -> Result<Vec<u8>, BlobError> {
    let cert = Cert::from_bytes(recipient).map_err(|e| BlobError::Encrypt(e.to_string()))?;
    let policy = LegacyPolicy;
    let session_key = SessionKey::new(32).map_err(|e| BlobError::Encrypt(e.to_string()))?;
    let valid = cert
        .with_policy(&policy, None)
        .map_err(|e| BlobError::Encrypt(e.to_string()))?;
    let candidates = || {
        valid.keys().alive().revoked(false).key_flags(
            KeyFlags::empty()
                .set_storage_encryption()
                .set_transport_encryption(),
        )
    };
    let chosen = match exact {
        Some(fpr) => candidates().find(|ka| ka.key().fingerprint().as_bytes() == fpr),
        // Created last; on a tie the first (gpg compares with `>`).
        None => candidates()
            .filter(|ka| !ka.primary())
            .reduce(|best, ka| {
                if ka.key().creation_time() > best.key().creation_time() {
                    ka
                } else {
                    best
                }
            })
            .or_else(|| candidates().find(|ka| ka.primary())),
    };
    let key = chosen.ok_or(BlobError::NoEncryptionKey)?;
    let key = key.key();
    let pkesk = match is_elgamal(key.pk_algo()) {
        true => {
            // cipher octet | session key | checksum (RFC 4880 §5.1)
            let sum = session_key
                .iter()
                .fold(0u16, |a, &b| a.wrapping_add(b as u16));
            let mut m = openpgp::crypto::mem::Protected::from(vec![0u8; 35]);
            m[0] = SymmetricAlgorithm::AES256.into();
            m[1..33].copy_from_slice(&session_key);
            m[33..].copy_from_slice(&sum.to_be_bytes());
            let ct =
                elgamal::encrypt(key.mpis(), &m).map_err(|e| BlobError::Encrypt(e.to_string()))?;
            openpgp::packet::pkesk::PKESK3::new(Some(key.keyid()), key.pk_algo(), ct)
        }
        false => openpgp::packet::pkesk::PKESK3::for_recipient(
            SymmetricAlgorithm::AES256,
            &session_key,
            key,
        ),
    }
    .map_err(|e| BlobError::Encrypt(e.to_string()))?;
    seal(plain, session_key, &[Packet::from(pkesk)])
}

/// How `gpg -r NAME` names a key: gpg's `classify_user_id`, in the forms
/// a signd `:enc` alias or keygen target uses.
enum RecipientSpec {
    /// 8, 16 or 40 hex digits (optionally `0x`): the low octets of the
    /// fingerprint of the primary or a subkey; `!` at the end picks that
    /// very key.
    KeyId { id: Vec<u8>, exact: bool },
    /// `<mail>`: the user ID's address, whole, any case.
    Mail(String),
    /// `@text`: within the user ID's address, any case.
    MailSub(String),
    /// `=text`: the whole user ID.
    Exact(String),
    /// `*text` or plain text: within the user ID, any case.
    Substring(String),
}

impl RecipientSpec {
    fn parse(name: &str) -> Option<RecipientSpec> {
        let name = name.trim_start();
        let lower = |s: &str| s.to_lowercase();
        Some(match name.chars().next()? {
            '<' => RecipientSpec::Mail(
                lower(name.strip_suffix('>').unwrap_or(name))
                    .trim_start_matches('<')
                    .to_owned(),
            ),
            '@' => RecipientSpec::MailSub(lower(&name[1..])),
            '=' => RecipientSpec::Exact(name[1..].to_owned()),
            '*' => RecipientSpec::Substring(lower(&name[1..])),
            // gpg's other prefixes name things no stored key has.
            '.' | '+' | '#' | '&' => return None,
            _ => {
                let (hex, exact) = match name.trim_end().strip_suffix('!') {
                    Some(h) => (h, true),
                    None => (name.trim_end(), false),
                };
                let hex = hex
                    .strip_prefix("0x")
                    .or_else(|| hex.strip_prefix("0X"))
                    .unwrap_or(hex);
                match hex::decode(hex) {
                    Ok(id) if matches!(id.len(), 4 | 8 | 20) => RecipientSpec::KeyId { id, exact },
                    _ => RecipientSpec::Substring(lower(name)),
                }
            }
        })
    }
}

/// Whether `gpg -r name` selects `public` (a binary transferable key):
/// `None` if not, `Some(None)` if it does (gpg then picks the key, see
/// [`encrypt_gpg_to`]), `Some(Some(fingerprint))` for a `KEYID!` that
/// names one key of it exactly.
pub fn gpg_recipient(name: &str, public: &[u8]) -> Result<Option<Option<[u8; 20]>>, BlobError> {
    let Some(spec) = RecipientSpec::parse(name) else {
        return Ok(None);
    };
    let cert = Cert::from_bytes(public).map_err(|e| BlobError::BadMessage(e.to_string()))?;
    let mail_of = |uid: &str| {
        let uid = uid.to_lowercase();
        match (uid.rfind('<'), uid.rfind('>')) {
            (Some(a), Some(b)) if a < b => uid[a + 1..b].to_owned(),
            _ => uid,
        }
    };
    let uids = || {
        cert.userids()
            .map(|u| String::from_utf8_lossy(u.userid().value()).into_owned())
    };
    Ok(match spec {
        RecipientSpec::KeyId { id, exact } => cert
            .keys()
            .find(|ka| ka.key().fingerprint().as_bytes().ends_with(&id))
            .map(|ka| {
                exact.then(|| {
                    let mut f = [0u8; 20];
                    f.copy_from_slice(ka.key().fingerprint().as_bytes());
                    f
                })
            }),
        RecipientSpec::Mail(m) => uids().any(|u| mail_of(&u) == m).then_some(None),
        RecipientSpec::MailSub(m) => uids().any(|u| mail_of(&u).contains(&m)).then_some(None),
        RecipientSpec::Exact(e) => uids().any(|u| u == e).then_some(None),
        RecipientSpec::Substring(t) => uids()
            .any(|u| u.to_lowercase().contains(&t))
            .then_some(None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `gpg -r` forms against the fixture signd key: uid "private OBS (key
    /// without passphrase) <defaultkey@localobs>", primary
    /// 2AA0…7581F22BE40A9A2F, ElGamal subkey …84A9757A0207A14B.
    #[test]
    fn gpg_recipient_forms() {
        let path = format!(
            "{}/obs-sign-fixtures/obs-sign-t-fixtures/public-key.asc",
            env!("CARGO_MANIFEST_DIR")
        );
        let public = crate::sign::dearmor(&std::fs::read(&path).unwrap()).unwrap();
        let sub = hex::decode("ce4948f57f5ca0d6327d989a84a9757a0207a14b").unwrap();
        let mut sub_fpr = [0u8; 20];
        sub_fpr.copy_from_slice(&sub);
        for (name, want) in [
            ("defaultkey@localobs", Some(None)),
            ("DefaultKey@LocalOBS", Some(None)),
            ("key without", Some(None)),
            ("*KEY WITHOUT", Some(None)),
            ("<defaultkey@localobs>", Some(None)),
            ("<defaultkey@local>", None),
            ("@LOCALOBS", Some(None)),
            (
                "=private OBS (key without passphrase) <defaultkey@localobs>",
                Some(None),
            ),
            ("=private OBS", None),
            ("7581F22BE40A9A2F", Some(None)),
            ("0xe40a9a2f", Some(None)),
            ("2AA0E9F70F186184377807B57581F22BE40A9A2F", Some(None)),
            ("84A9757A0207A14B", Some(None)),
            ("84A9757A0207A14B!", Some(Some(sub_fpr))),
            ("0000000000000000", None),
            ("nobody", None),
            ("#1", None),
            ("", None),
        ] {
            assert_eq!(gpg_recipient(name, &public).unwrap(), want, "{name:?}");
        }
        // `KEYID!` encrypts to that key; otherwise gpg's pick, the
        // ElGamal subkey (the primary may encrypt too, but a subkey wins).
        for exact in [None, Some(&sub_fpr)] {
            let msg = encrypt_gpg_to(b"x", &public, exact).unwrap();
            assert_eq!(
                gpg_recipients(&msg).unwrap(),
                [Some(<[u8; 8]>::try_from(&sub[12..]).unwrap())]
            );
        }
    }

    #[test]
    fn symmetric_header_checks() {
        assert!(matches!(format(&[]), Err(BlobError::BadEncodedData)));
        assert!(matches!(format(&[0, 0x11]), Err(BlobError::BadEncodedData)));
        let mut b = vec![1u8, 0xa5, 0xe1, 0xa4, 0xf8, 0x2e, 0x43, 0xf0, 0xe7, 0];
        assert!(matches!(format(&b), Err(BlobError::BadEncodedData)));
        b.extend([0u8; 10]);
        assert_eq!(
            format(&b).unwrap(),
            BlobFormat::Symmetric {
                key_id: "A5E1A4F82E43F0E7".into()
            }
        );
        b[0] = 2;
        assert!(matches!(format(&b), Err(BlobError::BadEncodedData)));
        assert_eq!(format(&[0x85, 0xff]).unwrap(), BlobFormat::Gpg);
    }

    #[test]
    fn first_packet_rules() {
        assert!(matches!(first_packet(b"x"), Err(BlobError::NotAPgpPacket)));
        assert!(matches!(
            first_packet(&[0x95, 0x01]),
            Err(BlobError::TruncatedPacket)
        ));
        assert!(matches!(
            first_packet(&[0x97]),
            Err(BlobError::UnsupportedPacketLength)
        ));
        assert!(matches!(
            first_packet(&[0xc5, 0xe1, 0]),
            Err(BlobError::UnsupportedPacketLength)
        ));
        assert_eq!(
            first_packet(&[0xb4, 1, b'a', 0xb4]).unwrap(),
            &[0xb4, 1, b'a']
        );
        let uid = SecretBytes::from_slice(&[0xb4, 1, b'a']);
        assert!(matches!(
            signing_key(&uid),
            Err(BlobError::NotASecretKeyPacket)
        ));
        let v5 = SecretBytes::from_slice(&[0x94, 2, 5, 0]);
        assert!(matches!(
            signing_key(&v5),
            Err(BlobError::UnknownPublicKeyVersion(5))
        ));
        let elg = SecretBytes::from_slice(&[0x94, 6, 4, 0, 0, 0, 0, 16]);
        assert!(matches!(
            signing_key(&elg),
            Err(BlobError::UnsupportedPublicKeyAlgorithm(16))
        ));
    }

    #[test]
    fn seipd_body_joins_partial_lengths() {
        let mut d = vec![0xd2, 0xe1, 1, 2, 2];
        assert!(seipd_body(&d).is_err());
        d.extend([7, 9]);
        assert_eq!(seipd_body(&d).unwrap(), vec![1, 2, 7, 9]);
    }
}
