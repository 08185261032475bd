//! gpg round trip: keys made by gpg, imported with `import_tsk`, signed
//! through `signature_packet` the way the obs `sign` client drives signd
//! (v3, and v4 via probe + v3 + client-side rebuild), verified by
//! `gpg --verify`. Also: keys from `generate`, verified the same way.

use std::time::{SystemTime, UNIX_EPOCH};

#[path = "e2e_common.rs"]
mod common;

use common::{old_packet, sig_body, GpgHome};
use openssl::hash::{hash, MessageDigest};
use signatrust::sign::{
    armor_public_key, generate, import_tsk, signature_packet, HashAlgo, KeyType, PubkeyAlgo,
    SignError, SigningKey,
};

const DATA: &[u8] = b"hello\n";

fn md(h: HashAlgo) -> MessageDigest {
    match h {
        HashAlgo::Sha1 => MessageDigest::sha1(),
        HashAlgo::Sha256 => MessageDigest::sha256(),
        HashAlgo::Sha512 => MessageDigest::sha512(),
    }
}

fn digest(h: HashAlgo, parts: &[&[u8]]) -> Vec<u8> {
    hash(md(h), &parts.concat()).unwrap().to_vec()
}

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

/// The client's v3 mode.
fn v3_signature(key: &SigningKey, h: HashAlgo, time: u32) -> Vec<u8> {
    let class = 0u8;
    let d = digest(h, &[DATA, &[class], &time.to_be_bytes()]);
    let pkt = signature_packet(key, h, &d, class, time).unwrap();
    let b = sig_body(&pkt);
    assert_eq!(&b[..3], &[3, 5, class]);
    assert_eq!(&b[3..7], &time.to_be_bytes());
    assert_eq!(&b[7..15], &key.key_id());
    assert_eq!(b[15], key.algo() as u8);
    assert_eq!(b[16], h.openpgp_id());
    assert_eq!(&b[17..19], &d[..2]);
    pkt
}

/// The client's v4 mode: probe, hash over the v4 trailer, v3 request,
/// rebuild.
fn v4_signature(key: &SigningKey, h: HashAlgo, time: u32) -> Vec<u8> {
    let class = 0u8;
    let probe = signature_packet(key, h, &vec![4u8; h.digest_len()], 0, 0).unwrap();
    let p = sig_body(&probe);
    assert_eq!(p[0], 4);
    assert_eq!(&p[4..9], &[0x00, 0x1d, 0x16, 0x21, 0x04]);
    let pubalgo = p[2];
    assert_eq!(p[3], h.openpgp_id());
    let fpr = &p[9..29];
    assert_eq!(fpr, key.fingerprint());
    assert_eq!(&p[29..35], &[0x05, 0x02, 0, 0, 0, 0]);
    assert_eq!(&p[35..39], &[0x00, 0x0a, 0x09, 0x10]);
    assert_eq!(&p[39..47], &key.key_id());
    assert_eq!(&p[47..49], &[4, 4]);

    let mut t4 = vec![
        4,
        class,
        pubalgo,
        h.openpgp_id(),
        0x00,
        0x1d,
        0x16,
        0x21,
        0x04,
    ];
    t4.extend_from_slice(fpr);
    t4.extend_from_slice(&[0x05, 0x02]);
    t4.extend_from_slice(&time.to_be_bytes());
    let hashed_len = t4.len();
    assert_eq!(hashed_len, 35);
    t4.extend_from_slice(&[0x04, 0xff, 0x00, 0x00, 0x00, 0x23]);
    let d = digest(h, &[DATA, &t4]);

    let v3 = signature_packet(key, h, &d, class, time).unwrap();
    let b = sig_body(&v3);
    assert_eq!(b[0], 3, "real hashes get v3 packets");
    assert_eq!(b[15], pubalgo);
    assert_eq!(b[16], h.openpgp_id());
    let keyid = &b[7..15];

    let mut v4 = t4[..hashed_len].to_vec();
    v4.extend_from_slice(&[0x00, 0x0a, 0x09, 0x10]);
    v4.extend_from_slice(keyid);
    v4.extend_from_slice(&b[17..]);
    old_packet(2, &v4)
}

fn verify(home: &GpgHome, sig: &[u8], what: &str) {
    home.assert_verifies(sig, DATA, what);
}

/// The oracle must be able to say no: a corrupted signature is rejected.
fn reject(home: &GpgHome, sig: &[u8], what: &str) {
    let mut bad = sig.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    home.assert_rejected(&bad, DATA, what);
}

fn gpg_key(home: &GpgHome, algo: &str) -> SigningKey {
    let out = home.gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "T <t@example.org>",
        algo,
        "sign",
        "never",
    ]);
    assert!(
        out.status.success(),
        "keygen {algo}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = home.gpg(&["--passphrase", "", "--export-secret-keys"]);
    assert!(out.status.success() && !out.stdout.is_empty(), "export");
    let imported = import_tsk(&out.stdout, None).expect("import_tsk");
    // Public part equals what gpg exports.
    let export = home.gpg(&["--export"]);
    assert_eq!(
        hex::encode(&imported.public),
        hex::encode(&export.stdout),
        "{algo}: public key differs from gpg --export"
    );
    let key = SigningKey::from_secret(&imported.secret).expect("SigningKey");
    assert_eq!(key.fingerprint(), &imported.fingerprint);
    assert_eq!(key.algo(), imported.algo);
    key
}

/// Strongest oracle for determinism: gpg (gpg-agent, libgcrypt, RFC 6979
/// for DSA/ECDSA) signs the data itself; the MPIs we compute for the same
/// digest must be identical to gpg's.
fn same_mpis_as_gpg(home: &GpgHome, key: &SigningKey, h: HashAlgo, what: &str) {
    let name = match h {
        HashAlgo::Sha1 => "SHA1",
        HashAlgo::Sha256 => "SHA256",
        HashAlgo::Sha512 => "SHA512",
    };
    let data_path = home.path().join("data");
    std::fs::write(&data_path, DATA).unwrap();
    let out = home.gpg(&[
        "--passphrase",
        "",
        "--digest-algo",
        name,
        "--detach-sign",
        "--output",
        "-",
        data_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{what}: gpg --detach-sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pkt = &out.stdout;
    // gpg writes an old-format header for signatures.
    let b = sig_body(pkt);
    assert_eq!(b[0], 4, "gpg made a v4 signature");
    assert_eq!(b[3], h.openpgp_id());
    let hashed_len = u16::from_be_bytes([b[4], b[5]]) as usize;
    let hashed_end = 6 + hashed_len;
    let unhashed_len = u16::from_be_bytes([b[hashed_end], b[hashed_end + 1]]) as usize;
    let prefix_at = hashed_end + 2 + unhashed_len;
    let mut trailer = b[..hashed_end].to_vec();
    trailer.extend_from_slice(&[0x04, 0xff]);
    trailer.extend_from_slice(&(hashed_end as u32).to_be_bytes());
    let d = digest(h, &[DATA, &trailer]);
    assert_eq!(
        &b[prefix_at..prefix_at + 2],
        &d[..2],
        "{what}: digest prefix"
    );
    let ours = key.sign_mpis(h, &d).unwrap();
    assert_eq!(
        hex::encode(ours),
        hex::encode(&b[prefix_at + 2..]),
        "{what}: MPIs differ from gpg-agent's"
    );
}

fn roundtrip(algo: &str, want: PubkeyAlgo, hashes: &[HashAlgo], too_short: &[HashAlgo]) {
    let home = GpgHome::new();
    let key = gpg_key(&home, algo);
    assert_eq!(key.algo(), want);
    let time = now();
    for &h in hashes {
        let v3 = v3_signature(&key, h, time);
        verify(&home, &v3, &format!("{algo} v3 {h:?}"));
        reject(&home, &v3, &format!("{algo} v3 {h:?}"));
        same_mpis_as_gpg(&home, &key, h, &format!("{algo} {h:?}"));
        verify(
            &home,
            &v4_signature(&key, h, time),
            &format!("{algo} v4 {h:?}"),
        );
        // Deterministic: the same request gives the same bytes.
        let d = vec![0x42u8; h.digest_len()];
        assert_eq!(
            signature_packet(&key, h, &d, 0, time).unwrap(),
            signature_packet(&key, h, &d, 0, time).unwrap(),
            "{algo} {h:?} not deterministic"
        );
    }
    // gpg-agent refuses digests shorter than the group order; so do we.
    for &h in too_short {
        let d = vec![0x42u8; h.digest_len()];
        assert!(
            matches!(
                signature_packet(&key, h, &d, 0, time),
                Err(SignError::HashTooShort { .. })
            ),
            "{algo} accepted a {h:?} digest"
        );
    }
}

#[test]
fn gpg_rsa2048() {
    roundtrip(
        "rsa2048",
        PubkeyAlgo::Rsa,
        &[HashAlgo::Sha1, HashAlgo::Sha256, HashAlgo::Sha512],
        &[],
    );
}

#[test]
fn gpg_rsa4096() {
    roundtrip("rsa4096", PubkeyAlgo::Rsa, &[HashAlgo::Sha256], &[]);
}

#[test]
fn gpg_dsa2048() {
    roundtrip(
        "dsa2048",
        PubkeyAlgo::Dsa,
        &[HashAlgo::Sha256, HashAlgo::Sha512],
        &[HashAlgo::Sha1],
    );
}

#[test]
fn gpg_nistp256() {
    roundtrip(
        "nistp256",
        PubkeyAlgo::Ecdsa,
        &[HashAlgo::Sha256, HashAlgo::Sha512],
        &[HashAlgo::Sha1],
    );
}

#[test]
fn gpg_nistp384() {
    roundtrip(
        "nistp384",
        PubkeyAlgo::Ecdsa,
        &[HashAlgo::Sha512],
        &[HashAlgo::Sha1, HashAlgo::Sha256],
    );
}

#[test]
fn gpg_ed25519() {
    roundtrip(
        "ed25519",
        PubkeyAlgo::EdDsa,
        &[HashAlgo::Sha256, HashAlgo::Sha512],
        &[],
    );
}

fn generated(kind: KeyType, want: PubkeyAlgo, h: HashAlgo) {
    let k = generate(kind, "Gen <gen@example.org>").expect("generate");
    assert_eq!(k.algo, want);
    assert_eq!(k.user_ids, ["Gen <gen@example.org>"]);
    let home = GpgHome::new();
    let asc = home.path().join("pub.asc");
    std::fs::write(&asc, armor_public_key(&k.public)).unwrap();
    let out = home.gpg(&["--import", asc.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{kind:?}: gpg --import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = SigningKey::from_secret(&k.secret).unwrap();
    assert_eq!(key.fingerprint(), &k.fingerprint);
    let time = now();
    verify(&home, &v3_signature(&key, h, time), &format!("{kind:?} v3"));
    verify(&home, &v4_signature(&key, h, time), &format!("{kind:?} v4"));
}

#[test]
fn generated_rsa2048() {
    generated(KeyType::Rsa2048, PubkeyAlgo::Rsa, HashAlgo::Sha256);
}

#[test]
fn generated_ed25519() {
    generated(KeyType::Ed25519, PubkeyAlgo::EdDsa, HashAlgo::Sha512);
}

#[test]
fn generated_dsa2048() {
    generated(KeyType::Dsa2048, PubkeyAlgo::Dsa, HashAlgo::Sha256);
}

#[test]
fn generated_nistp256() {
    generated(KeyType::NistP256, PubkeyAlgo::Ecdsa, HashAlgo::Sha256);
}

#[test]
fn generated_nistp384() {
    generated(KeyType::NistP384, PubkeyAlgo::Ecdsa, HashAlgo::Sha512);
}

#[test]
fn generated_rsa4096() {
    generated(KeyType::Rsa4096, PubkeyAlgo::Rsa, HashAlgo::Sha512);
}
