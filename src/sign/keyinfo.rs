//! What a stored key is, read from its packets (RFC 4880 §5.2.3, §5.5.2),
//! and `key extend`: new self-signatures with a later expiry.
//!
//! [`describe`] reads a binary transferable public key: the primary key's
//! algorithm and size (`rsa4096`, `ed25519`, ...), creation time, the
//! expiry of its newest self-signature, the user IDs and the subkeys with
//! their binding's expiry. It parses packets itself, without a policy: a
//! DSA-1024 key self-signed with SHA-1 is described, not hidden.
//!
//! [`extend_tsk`] re-signs every self-signature of a transferable secret
//! key (the user IDs' certifications by the key itself and, for subkeys
//! that expire, their bindings) with a new key expiration, shaped as
//! [`super::keysig`] writes gpg 2.2's: the old hashed subpackets are kept
//! (flags, preferences, an embedded back-signature), creation time and
//! expiration are new, nothing is critical that was not. Older
//! self-signatures of the same user ID or subkey are dropped, as
//! `gpg --export-options export-minimal` would, so that verifiers that
//! read the first self-signature (rpm) see the new date; certifications by
//! other keys are kept. Signatures the key made before stay valid: they
//! do not cover self-signatures.

use super::key::split_packets;
use super::keysig::{self, Target};
use super::packet::gpg_header;
use super::{SignError, SigningKey};
use crate::secret::SecretBytes;

/// One key (primary or subkey) of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDetails {
    /// 40 upper-case hex digits (v4).
    pub fingerprint: String,
    /// Algorithm and size as operators write it: `rsa4096`, `dsa2048`,
    /// `elg2048`, `ed25519`, `cv25519`, `nistp256`, `nistp384`,
    /// `nistp521`, or `algoN` / `ecc-<oid>` for anything else.
    pub algo: String,
    /// Creation time, seconds since the epoch.
    pub created: u32,
    /// Expiry from the newest self-signature or binding, seconds since the
    /// epoch; `None`: does not expire.
    pub expires: Option<u64>,
}

/// A certificate as [`describe`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertDetails {
    pub primary: KeyDetails,
    pub user_ids: Vec<String>,
    pub subkeys: Vec<KeyDetails>,
}

/// A v4 signature packet's parts.
struct Sig<'a> {
    typ: u8,
    hashed: &'a [u8],
    unhashed: &'a [u8],
}

fn bad(what: &str) -> SignError {
    SignError::BadKey(what.to_owned())
}

fn parse_sig(body: &[u8]) -> Option<Sig<'_>> {
    if body.first() != Some(&4) || body.len() < 6 {
        return None;
    }
    let hl = u16::from_be_bytes([body[4], body[5]]) as usize;
    let hashed = body.get(6..6 + hl)?;
    let rest = body.get(6 + hl..)?;
    let ul = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
    let unhashed = rest.get(2..2 + ul)?;
    Some(Sig {
        typ: body[1],
        hashed,
        unhashed,
    })
}

/// A subpacket: type without the critical bit, the whole subpacket
/// (length, type, body), the body.
type Subpacket<'a> = (u8, &'a [u8], &'a [u8]);

/// The subpackets of an area; `None` if malformed.
fn subpackets(area: &[u8]) -> Option<Vec<Subpacket<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < area.len() {
        let b0 = area[pos] as usize;
        let (hlen, len) = match b0 {
            0..=191 => (1, b0),
            192..=254 => (2, ((b0 - 192) << 8) + *area.get(pos + 1)? as usize + 192),
            _ => {
                let b = area.get(pos + 1..pos + 5)?;
                (5, u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            }
        };
        if len == 0 {
            return None;
        }
        let start = pos + hlen;
        let end = start.checked_add(len).filter(|&e| e <= area.len())?;
        out.push((area[start] & 0x7f, &area[pos..end], &area[start + 1..end]));
        pos = end;
    }
    Some(out)
}

fn u32_of(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

impl Sig<'_> {
    fn hashed_u32(&self, typ: u8) -> Option<u32> {
        subpackets(self.hashed)?
            .into_iter()
            .find(|s| s.0 == typ)
            .and_then(|s| u32_of(s.2))
    }

    fn created(&self) -> u32 {
        self.hashed_u32(2).unwrap_or(0)
    }

    /// Key expiration in seconds after the key's creation (0: never).
    fn expire_secs(&self) -> u32 {
        self.hashed_u32(9).unwrap_or(0)
    }

    /// Whether the issuer (fingerprint subpacket, else key ID) is `fpr`.
    fn issued_by(&self, fpr: &[u8; 20]) -> bool {
        let areas = [self.hashed, self.unhashed];
        let subs = areas.iter().filter_map(|a| subpackets(a)).flatten();
        let mut any = false;
        for (typ, _, body) in subs {
            match typ {
                33 if body.len() == 21 => {
                    any = true;
                    if &body[1..] == fpr {
                        return true;
                    }
                }
                16 if body.len() == 8 => {
                    any = true;
                    if body == &fpr[12..] {
                        return true;
                    }
                }
                _ => {}
            }
        }
        // No issuer at all: assume self (gpg does for self-signatures).
        !any
    }
}

fn is_uid_cert(typ: u8) -> bool {
    (0x10..=0x13).contains(&typ)
}

/// The fingerprint of a v4 public key packet body.
fn fingerprint(body: &[u8]) -> Result<[u8; 20], SignError> {
    let len = u16::try_from(body.len()).map_err(|_| bad("key packet too long"))?;
    let mut h = openssl::sha::Sha1::new();
    h.update(&[0x99]);
    h.update(&len.to_be_bytes());
    h.update(body);
    Ok(h.finish())
}

/// Bits of the MPI at the start of `b`.
fn mpi_bits(b: &[u8]) -> Option<usize> {
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]) as usize)
}

fn curve_name(oid: &[u8]) -> String {
    match oid {
        [0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01] => "ed25519".into(),
        [0x2b, 0x06, 0x01, 0x04, 0x01, 0x97, 0x55, 0x01, 0x05, 0x01] => "cv25519".into(),
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] => "nistp256".into(),
        [0x2b, 0x81, 0x04, 0x00, 0x22] => "nistp384".into(),
        [0x2b, 0x81, 0x04, 0x00, 0x23] => "nistp521".into(),
        _ => format!("ecc-{}", hex::encode(oid)),
    }
}

/// Creation time and algorithm name of a v4 key packet body.
fn key_details(body: &[u8]) -> Result<(u32, String), SignError> {
    if body.first() != Some(&4) || body.len() < 7 {
        return Err(bad("not a version 4 key"));
    }
    let created = u32_of(&body[1..]).ok_or_else(|| bad("truncated key packet"))?;
    let algo = body[5];
    let rest = &body[6..];
    let sized = |prefix: &str| match mpi_bits(rest) {
        Some(bits) => format!("{prefix}{bits}"),
        None => prefix.to_owned(),
    };
    let name = match algo {
        1..=3 => sized("rsa"),
        16 | 20 => sized("elg"),
        17 => sized("dsa"),
        18 | 19 | 22 => {
            let n = *rest.first().unwrap_or(&0) as usize;
            match rest.get(1..1 + n) {
                Some(oid) => curve_name(oid),
                None => format!("algo{algo}"),
            }
        }
        n => format!("algo{n}"),
    };
    Ok((created, name))
}

/// Reads a binary transferable public (or secret) key: see the module doc.
///
/// Errors: [`SignError::NotASecretKey`] for data that is not OpenPGP,
/// [`SignError::BadKey`] if it does not start with a v4 key.
pub fn describe(key: &[u8]) -> Result<CertDetails, SignError> {
    let packets = split_packets(key)?;
    let first = packets.first().ok_or_else(|| bad("empty key"))?;
    if !matches!(first.tag, 5 | 6) {
        return Err(bad("does not start with a primary key"));
    }
    let primary_body = public_part(first.tag, first.body)?;
    let fpr = fingerprint(&primary_body)?;
    let (created, algo) = key_details(&primary_body)?;
    let mut primary = KeyDetails {
        fingerprint: hex::encode_upper(fpr),
        algo,
        created,
        expires: None,
    };
    let mut user_ids = Vec::new();
    let mut subkeys: Vec<KeyDetails> = Vec::new();
    // Newest self-signature time seen for the primary and each subkey.
    let mut primary_sig_time = None;
    let mut sub_sig_time = None;
    enum At {
        Primary,
        Uid,
        Subkey,
        Other,
    }
    let mut at = At::Primary;
    for p in &packets[1..] {
        match p.tag {
            13 => {
                user_ids.push(String::from_utf8_lossy(p.body).into_owned());
                at = At::Uid;
            }
            7 | 14 => {
                let body = public_part(p.tag, p.body)?;
                let (created, algo) = key_details(&body)?;
                subkeys.push(KeyDetails {
                    fingerprint: hex::encode_upper(fingerprint(&body)?),
                    algo,
                    created,
                    expires: None,
                });
                sub_sig_time = None;
                at = At::Subkey;
            }
            2 => {
                let Some(sig) = parse_sig(p.body) else {
                    continue;
                };
                if !sig.issued_by(&fpr) {
                    continue;
                }
                let t = sig.created();
                match at {
                    At::Uid | At::Primary
                        if (is_uid_cert(sig.typ) || sig.typ == 0x1f)
                            && primary_sig_time.is_none_or(|old| t >= old) =>
                    {
                        primary_sig_time = Some(t);
                        primary.expires = expiry(primary.created, sig.expire_secs());
                    }
                    At::Subkey if sig.typ == 0x18 => {
                        if let Some(sub) = subkeys.last_mut() {
                            if sub_sig_time.is_none_or(|old| t >= old) {
                                sub_sig_time = Some(t);
                                sub.expires = expiry(sub.created, sig.expire_secs());
                            }
                        }
                    }
                    _ => {}
                }
            }
            12 => {}
            _ => at = At::Other,
        }
    }
    Ok(CertDetails {
        primary,
        user_ids,
        subkeys,
    })
}

fn expiry(created: u32, secs: u32) -> Option<u64> {
    (secs > 0).then(|| u64::from(created) + u64::from(secs))
}

/// The public part of a key packet body: itself for a public key packet,
/// the public fields of a secret one.
fn public_part(tag: u8, body: &[u8]) -> Result<Vec<u8>, SignError> {
    if matches!(tag, 6 | 14) {
        return Ok(body.to_vec());
    }
    use sequoia_openpgp::parse::Parse;
    use sequoia_openpgp::serialize::MarshalInto;
    let mut whole = Vec::with_capacity(body.len() + 6);
    gpg_header(&mut whole, tag, body.len());
    whole.extend_from_slice(body);
    let key = match sequoia_openpgp::Packet::from_bytes(&whole) {
        Ok(sequoia_openpgp::Packet::SecretKey(k)) => k.parts_into_public().role_into_unspecified(),
        Ok(sequoia_openpgp::Packet::SecretSubkey(k)) => {
            k.parts_into_public().role_into_unspecified()
        }
        _ => return Err(bad("malformed secret key packet")),
    };
    // `whole` held secret material.
    zeroize::Zeroize::zeroize(&mut whole);
    key.to_vec().map_err(|e| SignError::OpenPgp(e.to_string()))
}

/// The hashed subpackets of a re-made self-signature: issuer fingerprint
/// and creation time `now` first (as [`keysig`] writes them), then the old
/// signature's subpackets in order without its issuer, creation time and
/// expiration, with the new expiration (`expire_secs` after the key's
/// creation, 0: none) after the key flags.
fn resigned_subpackets(old: &[u8], issuer: &[u8; 20], now: u32, expire_secs: u32) -> Vec<u8> {
    let mut out = keysig::certification_subpackets(issuer, now);
    let expiration = |out: &mut Vec<u8>| {
        if expire_secs > 0 {
            out.extend_from_slice(&[5, 9]);
            out.extend_from_slice(&expire_secs.to_be_bytes());
        }
    };
    let mut placed = false;
    for (typ, whole, _) in subpackets(old).unwrap_or_default() {
        if matches!(typ, 2 | 9 | 33) {
            continue;
        }
        out.extend_from_slice(whole);
        if typ == 27 && !placed {
            expiration(&mut out);
            placed = true;
        }
    }
    if !placed {
        expiration(&mut out);
    }
    out
}

/// Re-signs the self-signatures of the transferable secret key `tsk` (as
/// stored: secrets unprotected) so that the key, and each subkey that
/// expires, expires at `expires_at` (seconds since the epoch); signatures
/// are dated `now`. See the module doc. Returns the new transferable secret
/// key.
///
/// Errors: [`SignError::BadKey`] if `expires_at` is not after `now` and
/// the key's creation or is more than 2^32 s after it, or the key has no
/// self-signed user ID; errors of [`SigningKey::load`].
pub fn extend_tsk(tsk: &SecretBytes, expires_at: u64, now: u32) -> Result<SecretBytes, SignError> {
    let signer = SigningKey::load(tsk)?;
    let fpr = *signer.fingerprint();
    let packets = split_packets(tsk.expose())?;
    let first = packets.first().ok_or_else(|| bad("empty key"))?;
    let primary = public_part(first.tag, first.body)?;
    let (primary_created, _) = key_details(&primary)?;
    if expires_at <= u64::from(now) {
        return Err(bad("the new expiry is not in the future"));
    }
    let secs_after = |created: u32| {
        expires_at
            .checked_sub(u64::from(created))
            .and_then(|s| u32::try_from(s).ok())
            .filter(|&s| s > 0)
            .ok_or_else(|| bad("expiry too far in the future"))
    };
    let primary_secs = secs_after(primary_created)?;

    // Which packets are the self-signatures of each user ID and subkey
    // ("group": the packets after one user ID or subkey packet), and
    // which of them is the newest: its subpackets are the template.
    let mut group = 0usize;
    let mut kind_of_group = vec![0u8];
    let mut groups = Vec::with_capacity(packets.len());
    let mut newest: std::collections::HashMap<usize, (usize, u32)> = Default::default();
    for (i, p) in packets.iter().enumerate() {
        match p.tag {
            13 | 7 | 14 => {
                group += 1;
                kind_of_group.push(p.tag);
            }
            2 | 12 => {}
            _ => {
                group += 1;
                kind_of_group.push(0);
            }
        }
        groups.push(group);
        if p.tag != 2 {
            continue;
        }
        let Some(sig) = parse_sig(p.body).filter(|s| s.issued_by(&fpr)) else {
            continue;
        };
        let own = match kind_of_group[group] {
            13 => is_uid_cert(sig.typ),
            7 | 14 => sig.typ == 0x18,
            _ => false,
        };
        if own && newest.get(&group).is_none_or(|&(_, t)| sig.created() >= t) {
            newest.insert(group, (i, sig.created()));
        }
    }

    let mut target: Option<(u8, Vec<u8>, u32)> = None;
    let mut resigned_uids = 0;
    let mut out: Vec<(u8, Vec<u8>)> = Vec::with_capacity(packets.len());
    for (i, p) in packets.iter().enumerate() {
        let mut body = p.body.to_vec();
        match p.tag {
            13 => target = Some((13, p.body.to_vec(), primary_created)),
            7 | 14 => {
                let public = public_part(p.tag, p.body)?;
                let (created, _) = key_details(&public)?;
                target = Some((p.tag, public, created));
            }
            12 => continue,
            2 => {
                let g = groups[i];
                let Some(&(keep, _)) = newest.get(&g) else {
                    out.push((p.tag, body));
                    continue;
                };
                let Some(sig) = parse_sig(p.body).filter(|s| s.issued_by(&fpr)) else {
                    out.push((p.tag, body));
                    continue;
                };
                let own = match kind_of_group[g] {
                    13 => is_uid_cert(sig.typ),
                    7 | 14 => sig.typ == 0x18,
                    _ => false,
                };
                if !own {
                    out.push((p.tag, body));
                    continue;
                }
                let Some((kind, what, created)) = &target else {
                    out.push((p.tag, body));
                    continue;
                };
                if *kind == 13 {
                    if i != keep {
                        continue; // an older self-signature of this user ID
                    }
                    let hashed = resigned_subpackets(sig.hashed, &fpr, now, primary_secs);
                    body = keysig::sign(
                        &signer,
                        sig.typ,
                        &hashed,
                        &Target::UserId {
                            key: &primary,
                            uid: what,
                        },
                    )?;
                    resigned_uids += 1;
                } else {
                    let newest_sig = parse_sig(packets[keep].body);
                    if newest_sig.is_none_or(|n| n.expire_secs() == 0) {
                        // A subkey that does not expire keeps its bindings.
                        out.push((p.tag, body));
                        continue;
                    }
                    if i != keep {
                        continue;
                    }
                    let hashed = resigned_subpackets(sig.hashed, &fpr, now, secs_after(*created)?);
                    body = keysig::sign(
                        &signer,
                        0x18,
                        &hashed,
                        &Target::Subkey {
                            primary: &primary,
                            subkey: what,
                        },
                    )?;
                }
            }
            _ => {}
        }
        out.push((p.tag, body));
    }
    if resigned_uids == 0 {
        return Err(bad("the key has no self-signed user ID to extend"));
    }
    let total = out.iter().map(|(_, b)| b.len() + 6).sum();
    let mut tsk = Vec::with_capacity(total);
    for (tag, body) in &out {
        gpg_header(&mut tsk, *tag, body.len());
        tsk.extend_from_slice(body);
    }
    for (_, body) in &mut out {
        zeroize::Zeroize::zeroize(body);
    }
    Ok(SecretBytes::new(tsk))
}

/// Reads `n` MPIs from `b`; returns them and the rest.
fn mpis(mut b: &[u8], n: usize) -> Option<(Vec<&[u8]>, &[u8])> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let bits = mpi_bits(b)?;
        let len = bits.div_ceil(8);
        out.push(b.get(2..2 + len)?);
        b = &b[2 + len..];
    }
    Some((out, b))
}

/// The primary key of a binary transferable public key as a PEM
/// SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`): RSA, DSA, ECDSA on
/// P-256/P-384/P-521 and Ed25519.
///
/// Errors: [`SignError::BadKey`] for other algorithms or malformed keys.
pub fn public_pem(public: &[u8]) -> Result<String, SignError> {
    use openssl::bn::BigNum;
    use openssl::pkey::PKey;
    let packets = split_packets(public)?;
    let first = packets.first().ok_or_else(|| bad("empty key"))?;
    let body = public_part(first.tag, first.body)?;
    if body.first() != Some(&4) || body.len() < 7 {
        return Err(bad("not a version 4 key"));
    }
    let algo = body[5];
    let rest = &body[6..];
    let malformed = || bad("malformed public key");
    let bn = |b: &[u8]| BigNum::from_slice(b).map_err(super::rfc6979::crypto_err);
    let pkey = match algo {
        1..=3 => {
            let (m, _) = mpis(rest, 2).ok_or_else(malformed)?;
            let rsa = openssl::rsa::Rsa::from_public_components(bn(m[0])?, bn(m[1])?)
                .map_err(super::rfc6979::crypto_err)?;
            PKey::from_rsa(rsa)
        }
        17 => {
            let (m, _) = mpis(rest, 4).ok_or_else(malformed)?;
            let dsa = openssl::dsa::Dsa::from_public_components(
                bn(m[0])?,
                bn(m[1])?,
                bn(m[2])?,
                bn(m[3])?,
            )
            .map_err(super::rfc6979::crypto_err)?;
            PKey::from_dsa(dsa)
        }
        19 | 22 => {
            let n = *rest.first().ok_or_else(malformed)? as usize;
            let oid = rest.get(1..1 + n).ok_or_else(malformed)?;
            let (m, _) = mpis(&rest[1 + n..], 1).ok_or_else(malformed)?;
            let point = m[0];
            match (algo, curve_name(oid).as_str()) {
                (22, "ed25519") => {
                    let raw = point.strip_prefix(&[0x40]).ok_or_else(malformed)?;
                    PKey::public_key_from_raw_bytes(raw, openssl::pkey::Id::ED25519)
                }
                (19, c @ ("nistp256" | "nistp384" | "nistp521")) => {
                    use openssl::nid::Nid;
                    let nid = match c {
                        "nistp256" => Nid::X9_62_PRIME256V1,
                        "nistp384" => Nid::SECP384R1,
                        _ => Nid::SECP521R1,
                    };
                    let group = openssl::ec::EcGroup::from_curve_name(nid)
                        .map_err(super::rfc6979::crypto_err)?;
                    let mut ctx =
                        openssl::bn::BigNumContext::new().map_err(super::rfc6979::crypto_err)?;
                    let pt = openssl::ec::EcPoint::from_bytes(&group, point, &mut ctx)
                        .map_err(|_| malformed())?;
                    let ec = openssl::ec::EcKey::from_public_key(&group, &pt)
                        .map_err(super::rfc6979::crypto_err)?;
                    PKey::from_ec_key(ec)
                }
                (_, c) => return Err(bad(&format!("no PEM form for a {c} key"))),
            }
        }
        n => return Err(bad(&format!("no PEM form for OpenPGP algorithm {n}"))),
    }
    .map_err(super::rfc6979::crypto_err)?;
    let pem = pkey
        .public_key_to_pem()
        .map_err(super::rfc6979::crypto_err)?;
    String::from_utf8(pem).map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{generate_with_expiry, KeyType};

    #[test]
    fn describes_generated_keys() {
        let key = generate_with_expiry(KeyType::Ed25519, "A <a@example.org>", 10).unwrap();
        let d = describe(&key.public).unwrap();
        assert_eq!(d.primary.algo, "ed25519");
        assert_eq!(d.primary.fingerprint, hex::encode_upper(key.fingerprint));
        assert_eq!(d.user_ids, ["A <a@example.org>"]);
        assert_eq!(
            d.primary.expires,
            Some(u64::from(d.primary.created) + 10 * 86400)
        );
        assert_eq!(d.subkeys.len(), 1);
        assert_eq!(d.subkeys[0].algo, "cv25519");
        assert_eq!(d.subkeys[0].expires, d.primary.expires);
        // The secret key describes the same.
        assert_eq!(describe(key.secret.expose()).unwrap(), d);
    }

    #[test]
    fn extend_moves_the_expiry_of_key_and_subkey() {
        let key = generate_with_expiry(KeyType::Ed25519, "A <a@example.org>", 10).unwrap();
        let before = describe(&key.public).unwrap();
        // Now, not later: a self-signature from the future does not bind yet.
        let now = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32)
            .max(before.primary.created);
        let at = u64::from(now) + 400 * 86400;
        let tsk = extend_tsk(&key.secret, at, now).unwrap();
        let after = crate::sign::import_tsk(tsk.expose(), None).unwrap();
        assert_eq!(after.fingerprint, key.fingerprint);
        let d = describe(&after.public).unwrap();
        assert_eq!(d.primary.expires, Some(at));
        assert_eq!(d.subkeys[0].expires, Some(at));
        assert_eq!(d.user_ids, before.user_ids);
        // Same packet count: each self-signature replaced, none added.
        assert_eq!(
            split_packets(&after.public).unwrap().len(),
            split_packets(&key.public).unwrap().len()
        );
        assert!(extend_tsk(&key.secret, u64::from(now), now).is_err());
    }

    #[test]
    fn pem_matches_openssl_for_each_type() {
        for kind in [KeyType::Rsa2048, KeyType::Ed25519, KeyType::NistP256] {
            let key = generate_with_expiry(kind, "A <a@example.org>", 0).unwrap();
            let pem = public_pem(&key.public).unwrap();
            let pkey = openssl::pkey::PKey::public_key_from_pem(pem.as_bytes()).unwrap();
            assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
            assert!(pkey.bits() >= 255, "{kind:?}");
        }
    }

    #[test]
    fn a_key_that_never_expired_gets_an_expiry_on_the_primary_only() {
        let key = generate_with_expiry(KeyType::Ed25519, "A <a@example.org>", 0).unwrap();
        let d0 = describe(&key.public).unwrap();
        let now = d0.primary.created + 1;
        let at = u64::from(now) + 86400;
        let tsk = extend_tsk(&key.secret, at, now).unwrap();
        let d = describe(&crate::sign::import_tsk(tsk.expose(), None).unwrap().public).unwrap();
        assert_eq!(d.primary.expires, Some(at));
        assert_eq!(d.subkeys[0].expires, None);
    }
}
