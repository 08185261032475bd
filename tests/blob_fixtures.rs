//! Perl-made blobs decrypt with our code to the right project keys, and
//! malformed blobs give signd's errors without panicking.
use std::path::PathBuf;

use secrecy::SecretString;
use signatrust::secret::SecretBytes;
use signatrust::sign::blob::{self, BlobError, BlobFormat};
use signatrust::sign::import_tsk;

mod support;

fn fx(path: &str) -> PathBuf {
    support::fixtures().join(path)
}

fn hex_file(path: &str) -> Vec<u8> {
    let s = std::fs::read_to_string(fx(path)).unwrap();
    hex::decode(s.trim()).unwrap()
}

/// Both signd keys, as the key store returns them (secrets unprotected).
fn signd_tsks() -> Vec<SecretBytes> {
    let a = import_tsk(
        &std::fs::read(fx("obs-sign-t-fixtures/secret-key.asc")).unwrap(),
        None,
    )
    .unwrap();
    let b = import_tsk(
        &std::fs::read(fx("obs-sign-t-fixtures/secret-key-passphrase.asc")).unwrap(),
        Some(&SecretString::from("xxx".to_string())),
    )
    .unwrap();
    vec![b.secret, a.secret]
}

fn enc_key(id: &str) -> Option<SecretBytes> {
    let data = std::fs::read(fx("signd-state/enckeys").join(id)).ok()?;
    let line = data.split(|&b| b == b'\n').next()?;
    Some(SecretBytes::from_slice(line))
}

fn fingerprint_of(blob_bytes: &[u8]) -> String {
    let plain = blob::decrypt(blob_bytes, enc_key, &signd_tsks()).unwrap();
    let key = blob::signing_key(&plain).unwrap();
    hex::encode_upper(key.fingerprint())
}

#[test]
fn p1_elgamal_gpg_blob() {
    let b = hex_file("generated/P1-rsa2048-gpgenc.hex");
    assert_eq!(b[0], 0x85);
    assert_eq!(
        fingerprint_of(&b),
        "FD2F84CFC494D734AEA0D569720737E8B2952E13"
    );
}

#[test]
fn p2_symmetric_blob_with_xdata() {
    let b = hex_file("generated/P2-rsa2048-symenc.hex");
    assert_eq!(
        blob::format(&b).unwrap(),
        BlobFormat::Symmetric {
            key_id: "A5E1A4F82E43F0E7".into()
        }
    );
    let x = blob::xdata(&b);
    assert_eq!(x.len(), 22);
    assert_eq!(&x[..2], &[1, 4]);
    assert_eq!(
        hex::encode_upper(&x[2..]),
        "E2CCF54A0D95F262A15917D95E4E03AEA94A0AA4"
    );
    assert_eq!(
        fingerprint_of(&b),
        "E2CCF54A0D95F262A15917D95E4E03AEA94A0AA4"
    );
}

#[test]
fn p3_nistp256_gpg_blob() {
    let b = hex_file("generated/P3-nistp256-gpgenc.hex");
    assert_eq!(
        fingerprint_of(&b),
        "EC16007C679FBDBCF3F598F6D68C42B52E198428"
    );
}

#[test]
fn expired_fixture_key_blob() {
    let b = hex_file("obs-sign-t-fixtures/secret-key-expired-encrypted");
    assert_eq!(
        fingerprint_of(&b),
        "0A114F48A9CEF58E852677910D86D20D7C6E8967"
    );
}

#[test]
fn gpg_blob_needs_a_matching_signd_key() {
    let b = hex_file("generated/P1-rsa2048-gpgenc.hex");
    // Only the passphrase key, which has no encryption subkey.
    let only_b = vec![signd_tsks().remove(0)];
    assert!(matches!(
        blob::decrypt_gpg(&b, &only_b),
        Err(BlobError::NoSecretKey)
    ));
    assert!(matches!(
        blob::decrypt_gpg(&b, &[]),
        Err(BlobError::NoSecretKey)
    ));
}

#[test]
fn malformed_symmetric_blobs() {
    let good = hex_file("generated/P2-rsa2048-symenc.hex");
    let tsks = signd_tsks();
    let dec = |b: &[u8]| blob::decrypt(b, enc_key, &tsks);
    // too short, wrong version byte
    assert!(matches!(dec(&[0x00, 0x11]), Err(BlobError::BadEncodedData)));
    let mut v2 = good.clone();
    v2[0] = 2;
    assert!(matches!(dec(&v2), Err(BlobError::BadEncodedData)));
    // header cut inside the salt
    assert!(matches!(dec(&good[..40]), Err(BlobError::BadEncodedData)));
    // truncated and extended edata
    assert!(matches!(
        dec(&good[..good.len() - 1]),
        Err(BlobError::TruncatedEncodedData)
    ));
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(dec(&longer), Err(BlobError::TruncatedEncodedData)));
    // unknown encryption key
    let mut other = good.clone();
    other[1] ^= 0xff;
    match dec(&other) {
        Err(BlobError::UnknownEncryptionKey(id)) => assert_eq!(id, "5AE1A4F82E43F0E7"),
        r => panic!("{r:?}"),
    }
    // a key line that is not a signd encryption key
    let bad_line = |_: &str| Some(SecretBytes::from_slice(b"zz"));
    assert!(matches!(
        blob::decrypt(&good, bad_line, &tsks),
        Err(BlobError::BadEncryptionKey(_))
    ));
    // a valid key line with another id
    let wrong_id = |_: &str| {
        let mut l = enc_key("A5E1A4F82E43F0E7").unwrap().expose().to_vec();
        l[16] = b'0';
        l[17] = b'0';
        Some(SecretBytes::new(l))
    };
    assert!(matches!(
        blob::decrypt(&good, wrong_id, &tsks),
        Err(BlobError::BadEncryptionKey(_))
    ));
    // corrupt ciphertext: MDC / session key failure, not a panic
    let mut flipped = good.clone();
    let n = flipped.len();
    flipped[n - 5] ^= 1;
    assert!(dec(&flipped).is_err());
}

#[test]
fn malformed_gpg_blobs() {
    let good = hex_file("generated/P1-rsa2048-gpgenc.hex");
    let tsks = signd_tsks();
    // the fixture's raw-privsign-garbage-pgp blob
    assert!(blob::decrypt_gpg(&[0x85, 0xff], &tsks).is_err());
    for cut in [1, 3, 20, 200, good.len() / 2, good.len() - 1] {
        assert!(blob::decrypt_gpg(&good[..cut], &tsks).is_err(), "cut {cut}");
    }
    let mut flipped = good.clone();
    let n = flipped.len();
    flipped[n - 3] ^= 0x80;
    assert!(blob::decrypt_gpg(&flipped, &tsks).is_err());
    // flipping bits in the ElGamal ciphertext gives a failure, not a panic
    for i in [20, 100, 200, 300] {
        let mut f = good.clone();
        f[i] ^= 0x10;
        assert!(blob::decrypt_gpg(&f, &tsks).is_err(), "byte {i}");
    }
}

#[test]
fn wrong_packet_type_in_plaintext() {
    // A "01" blob whose plaintext is a user ID packet, made with our own
    // encryptor.
    let line = enc_key("A5E1A4F82E43F0E7").unwrap();
    let b = blob::encrypt_symmetric(&[0xb4, 1, b'a'], "A5E1A4F82E43F0E7", &line, &[]).unwrap();
    let plain = blob::decrypt(&b, enc_key, &[]).unwrap();
    assert!(matches!(
        blob::signing_key(&plain),
        Err(BlobError::NotASecretKeyPacket)
    ));
    let b = blob::encrypt_symmetric(b"otpauth://", "A5E1A4F82E43F0E7", &line, &[]).unwrap();
    let plain = blob::decrypt(&b, enc_key, &[]).unwrap();
    assert!(matches!(
        blob::signing_key(&plain),
        Err(BlobError::NotAPgpPacket)
    ));
}

#[test]
fn totp_blob_decrypts_to_the_uri() {
    let b = hex_file("inputs/totp.P");
    let plain = blob::decrypt(&b, enc_key, &signd_tsks()).unwrap();
    assert!(plain
        .expose()
        .starts_with(b"otpauth://totp/obs:test?secret="));
}

/// Key IDs are computed from the stored public key as gpg does: the
/// fixture signd key's primary key ID is the end of its fingerprint, and the
/// Perl-made gpg blob P1 is addressed to one of its subkeys.
#[test]
fn key_ids_and_blob_recipients() {
    let signd = import_tsk(
        &std::fs::read(fx("obs-sign-t-fixtures/secret-key.asc")).unwrap(),
        None,
    )
    .unwrap();
    let ids = signatrust::sign::key_ids(&signd.public);
    assert_eq!(
        ids.first(),
        Some(&signd.fingerprint[12..].try_into().unwrap())
    );
    assert!(ids.len() >= 2, "primary key and encryption subkey: {ids:?}");
    let p1 = hex_file("generated/P1-rsa2048-gpgenc.hex");
    let recipients = blob::gpg_recipients(&p1).unwrap();
    assert_eq!(recipients.len(), 1, "{recipients:?}");
    let to = recipients[0].expect("a named recipient");
    assert!(
        ids[1..].contains(&to),
        "{to:02x?} not a subkey of {ids:02x?}"
    );
    assert!(matches!(
        blob::gpg_recipients(b"not a message"),
        Err(BlobError::BadMessage(_))
    ));
}

/// A KEK that counts its unwraps.
struct CountingKek {
    inner: signatrust::keys::FileKek,
    unwraps: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl signatrust::keys::Kek for CountingKek {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn wrap(&self, dek: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>, signatrust::keys::KekError> {
        self.inner.wrap(dek, aad)
    }
    fn unwrap(
        &self,
        wrapped: &[u8],
        aad: &[u8],
    ) -> Result<SecretBytes, signatrust::keys::KekError> {
        self.unwraps
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.unwrap(wrapped, aad)
    }
}

/// A gpg blob addressed to another signd key than the request's user is
/// decrypted with that key (fixture `privsign-wrong-user-for-blob`, reply
/// byte for byte), and only the keys the blob names are unwrapped: a blob
/// for a key the store does not hold costs the user's own key and nothing
/// else, however many keys there are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpg_blob_fallback_unwraps_only_the_addressed_key() {
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::Arc;

    use signatrust::commands::{handle, Ctx, Handled};
    use signatrust::keys::{FileKek, KeyStore};
    use signatrust::protocol::{reply_limit, Request};
    use signatrust::sign::{generate, KeyType};
    use signatrust::wire_error::{error_reply, WireError};

    let dir = tempfile::tempdir().unwrap();
    let unwraps = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let kek = CountingKek {
        inner: FileKek::open_or_create(&dir.path().join("kek")).unwrap(),
        unwraps: unwraps.clone(),
    };
    let url = format!("sqlite://{}", dir.path().join("keys.db").display());
    let keys = KeyStore::open(&url, Arc::new(kek)).await.unwrap();
    support::import_fixture_keys(&keys).await;
    let filler = generate(KeyType::Ed25519, "Filler <filler@example.org>").unwrap();
    let names: Vec<String> = (0..30).map(|i| format!("filler{i:02}")).collect();
    assert_eq!(keys.import_many(&names, &filler).await.unwrap(), 30);
    let ctx = Ctx {
        keys: Arc::new(keys),
        users: Default::default(),
        exec: signatrust::exec::Exec::new(2, 8).unwrap(),
        blob_keys: signatrust::commands::BlobKeyCache::new(Default::default()),
    };
    let case = fx("cases/privsign-wrong-user-for-blob");
    let request = std::fs::read(case.join("1.request.bin")).unwrap();
    let want = std::fs::read(case.join("1.reply.bin")).unwrap();
    let (mut req, _) = signatrust::protocol::decode(&request).unwrap().unwrap();
    // Encoded as the server does.
    let reply = |req: &Request, handled: Result<Handled, WireError>| match handled {
        Ok(Handled::Local(r)) => r.encode(req.protocol, reply_limit(req)).unwrap(),
        Ok(Handled::Forward { .. }) => panic!("forwarded"),
        Err(e) => error_reply(&e, req.protocol),
    };

    unwraps.store(0, SeqCst);
    assert_eq!(reply(&req, handle(&ctx, &req).await), want);
    assert_eq!(
        unwraps.load(SeqCst),
        2,
        "the user's own key, then the signd key the blob names"
    );

    // The same blob addressed to a key ID no stored key has.
    let mut other = hex::decode(&req.argv[2]).unwrap();
    assert_eq!(other[0], 0x85, "PKESK, old format, 2-byte length");
    other[4] ^= 0xff;
    req.argv[2] = hex::encode(other);
    unwraps.store(0, SeqCst);
    let got = reply(&req, handle(&ctx, &req).await);
    assert!(
        String::from_utf8_lossy(&got).ends_with("decryption failed: No secret key\n"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(unwraps.load(SeqCst), 1, "only the user's own key");
}
