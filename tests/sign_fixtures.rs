//! Byte-identical replay of recorded obs-signd replies through the pure
//! `sign` module: the fixture key, the request's hash arguments, and
//! `signature_packet` must reproduce the reply bytes exactly.

use secrecy::SecretString;
use signatrust::secret::SecretBytes;
use signatrust::sign::{
    armor_public_key, dearmor, import_tsk, signature_packet, HashAlgo, SignError, SigningKey,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/obs-sign-fixtures");

fn read(rel: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{rel}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn key(name: &str, pass: Option<&str>) -> SigningKey {
    let pass = pass.map(|p| SecretString::from(p.to_string()));
    let imported = import_tsk(&read(&format!("obs-sign-t-fixtures/{name}")), pass.as_ref())
        .expect("import fixture key");
    SigningKey::from_secret(&imported.secret).expect("load signing key")
}

fn u16_at(b: &[u8], i: usize) -> usize {
    u16::from_be_bytes([b[i], b[i + 1]]) as usize
}

/// A parsed request: (hash algorithm, [hash arguments]), and whether it
/// used the new protocol.
fn parse_request(req: &[u8]) -> (HashAlgo, Vec<String>, bool) {
    let a = u16_at(req, 0);
    let b = u16_at(req, 2);
    let (user, args, new) = if b == 0 {
        let argc = u16_at(req, 4);
        let mut pos = 6 + 2 * argc;
        let mut argv = Vec::new();
        for i in 0..argc {
            let len = u16_at(req, 6 + 2 * i);
            argv.push(String::from_utf8(req[pos..pos + len].to_vec()).unwrap());
            pos += len;
        }
        // privsign carries the key blob before the hashes.
        let first = match argv[0].as_str() {
            "sign" => 2,
            "privsign" => 3,
            other => panic!("command {other}"),
        };
        (argv[1].clone(), argv[first..].to_vec(), true)
    } else {
        let user = String::from_utf8(req[4..4 + a].to_vec()).unwrap();
        let arg = String::from_utf8(req[4 + a..4 + a + b].to_vec()).unwrap();
        match arg.split_once(':') {
            Some((h, rest)) => (format!("{h}:{user}"), vec![rest.to_string()], false),
            None => (user, vec![arg], false),
        }
    };
    let hash = match user.split_once(':') {
        Some((h, _)) => match h.to_ascii_uppercase().as_str() {
            "SHA1" => HashAlgo::Sha1,
            "SHA256" => HashAlgo::Sha256,
            "SHA512" => HashAlgo::Sha512,
            other => panic!("hash {other}"),
        },
        None => HashAlgo::Sha1,
    };
    (hash, args, new)
}

/// `HEX@CCTTTTTTTT` -> (digest, class, time)
fn parse_hash_arg(arg: &str) -> (Vec<u8>, u8, u32) {
    let (h, trailer) = arg.split_once('@').unwrap();
    let t = hex::decode(trailer).unwrap();
    assert_eq!(t.len(), 5);
    (
        hex::decode(h).unwrap(),
        t[0],
        u32::from_be_bytes([t[1], t[2], t[3], t[4]]),
    )
}

fn reply_outputs(reply: &[u8], new: bool) -> Vec<Vec<u8>> {
    assert_eq!(u16_at(reply, 0), 0, "status");
    let outlen = u16_at(reply, 2);
    let out = &reply[6..6 + outlen];
    if !new {
        return vec![out.to_vec()];
    }
    let n = u16_at(out, 0);
    let mut pos = 2 + 2 * n;
    (0..n)
        .map(|i| {
            let len = u16_at(out, 2 + 2 * i);
            let o = out[pos..pos + len].to_vec();
            pos += len;
            o
        })
        .collect()
}

fn replay(key: &SigningKey, case: &str) {
    let req = read(&format!("cases/{case}/1.request.bin"));
    let reply = read(&format!("cases/{case}/1.reply.bin"));
    let (hash, args, new) = parse_request(&req);
    let outputs = reply_outputs(&reply, new);
    assert_eq!(outputs.len(), args.len(), "{case}: output count");
    for (arg, want) in args.iter().zip(&outputs) {
        let (digest, class, time) = parse_hash_arg(arg);
        let got = signature_packet(key, hash, &digest, class, time).unwrap();
        assert_eq!(hex::encode(&got), hex::encode(want), "{case}: {arg}");
    }
}

#[test]
fn replay_defaultkey_cases() {
    let k = key("secret-key.asc", None);
    assert_eq!(
        hex::encode_upper(k.fingerprint()),
        "2AA0E9F70F186184377807B57581F22BE40A9A2F"
    );
    assert_eq!(hex::encode_upper(k.key_id()), "7581F22BE40A9A2F");
    for case in [
        "detached-sha256-v3",
        "detached-sha1-v3",
        "detached-sha512-v3",
        "keyid",
        "fingerprint",
        "rpm-sha256-v3",
    ] {
        replay(&k, case);
    }
}

#[test]
fn replay_passphrase_key() {
    let k = key("secret-key-passphrase.asc", Some("xxx"));
    replay(&k, "detached-passphrase-key-sha256");
}

#[test]
fn replay_privsign_with_expired_fixture_key() {
    // The blob in this request is secret-key-expired.asc encrypted to the
    // signd key; the plaintext key is a fixture of its own. Expiry does not
    // matter for signing.
    let k = key("secret-key-expired.asc", None);
    replay(&k, "privsign-expired-fixture-key-sha256");
}

#[test]
fn the_probe_is_a_v4_packet_and_hashes_get_v3() {
    let k = key("secret-key.asc", None);
    let probe = signature_packet(&k, HashAlgo::Sha256, &[4; 32], 0, 0).unwrap();
    assert_eq!(probe[0], 0x89);
    assert_eq!(probe[3], 4, "v4 version byte");
    let mut almost = [4u8; 32];
    almost[0] = 5;
    let v3 = signature_packet(&k, HashAlgo::Sha256, &almost, 0, 0).unwrap();
    assert_eq!(&v3[3..5], &[3, 5]);
    assert_eq!(&v3[20..22], &[5, 4], "first two digest bytes");
}

#[test]
fn digest_length_is_checked() {
    let k = key("secret-key.asc", None);
    for (h, len) in [
        (HashAlgo::Sha1, 32),
        (HashAlgo::Sha256, 20),
        (HashAlgo::Sha512, 32),
        (HashAlgo::Sha256, 0),
        (HashAlgo::Sha256, 1),
    ] {
        let d = vec![1u8; len];
        assert!(matches!(
            signature_packet(&k, h, &d, 0, 0),
            Err(SignError::DigestLength { .. })
        ));
        assert!(matches!(
            k.sign_mpis(h, &d),
            Err(SignError::DigestLength { .. })
        ));
    }
}

fn pubkey_reply_armor(case: &str) -> Vec<u8> {
    let reply = read(&format!("cases/{case}/1.reply.bin"));
    assert_eq!(u16_at(&reply, 0), 0);
    reply[6..6 + u16_at(&reply, 2)].to_vec()
}

#[test]
fn public_key_matches_gpg_export() {
    let imported = import_tsk(&read("obs-sign-t-fixtures/secret-key.asc"), None).unwrap();
    assert_eq!(
        hex::encode_upper(imported.fingerprint),
        "2AA0E9F70F186184377807B57581F22BE40A9A2F"
    );
    assert_eq!(
        imported.user_ids,
        ["private OBS (key without passphrase) <defaultkey@localobs>"]
    );
    let armored = armor_public_key(&imported.public);
    assert_eq!(armored.as_bytes(), &pubkey_reply_armor("pubkey")[..]);

    let pass = SecretString::from("xxx".to_string());
    let imported = import_tsk(
        &read("obs-sign-t-fixtures/secret-key-passphrase.asc"),
        Some(&pass),
    )
    .unwrap();
    let armored = armor_public_key(&imported.public);
    assert_eq!(
        armored.as_bytes(),
        &pubkey_reply_armor("pubkey-passphrase-key")[..]
    );
    // dearmor undoes armor_public_key
    assert_eq!(dearmor(armored.as_bytes()).unwrap(), imported.public);
}

#[test]
fn secret_output_is_unprotected_and_reimportable() {
    let pass = SecretString::from("xxx".to_string());
    let first = import_tsk(
        &read("obs-sign-t-fixtures/secret-key-passphrase.asc"),
        Some(&pass),
    )
    .unwrap();
    // The re-serialised secret needs no passphrase any more.
    let again = import_tsk(first.secret.expose(), None).unwrap();
    assert_eq!(again.fingerprint, first.fingerprint);
    assert_eq!(again.public, first.public);
    assert_eq!(again.secret, first.secret);
    let dbg = format!("{first:?}");
    assert!(dbg.contains("REDACTED"), "{dbg}");
}

#[test]
fn import_errors() {
    let enc = read("obs-sign-t-fixtures/secret-key-passphrase.asc");
    let wrong = SecretString::from("yyy".to_string());
    assert!(matches!(
        import_tsk(&enc, Some(&wrong)),
        Err(SignError::BadPassphrase)
    ));
    assert!(matches!(
        import_tsk(&enc, None),
        Err(SignError::PassphraseRequired)
    ));
    assert!(matches!(
        import_tsk(&read("obs-sign-t-fixtures/public-key.asc"), None),
        Err(SignError::NotASecretKey(_))
    ));
    assert!(import_tsk(b"garbage, not a key", None).is_err());
    assert!(import_tsk(&[0x95, 0x03, 0x04, 0x00], None).is_err());
    assert!(import_tsk(b"", None).is_err());
    assert!(SigningKey::from_secret(&SecretBytes::from_slice(b"junk")).is_err());
    // An armored block whose checksum is wrong.
    let mut armored = read("obs-sign-t-fixtures/secret-key.asc");
    let text = String::from_utf8(armored.clone()).unwrap();
    let eq = text.rfind("\n=").unwrap() + 2;
    armored[eq] = if armored[eq] == b'A' { b'B' } else { b'A' };
    assert!(import_tsk(&armored, None).is_err());
}

#[test]
fn signing_is_deterministic() {
    let k = key("secret-key.asc", None);
    let d = [0x5au8; 64];
    assert_eq!(
        k.sign_mpis(HashAlgo::Sha512, &d).unwrap(),
        k.sign_mpis(HashAlgo::Sha512, &d).unwrap()
    );
}
