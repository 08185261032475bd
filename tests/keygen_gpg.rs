//! keygen for every type: gpg accepts the public key with the self-signature
//! and the signd certification, the blob decrypts (our code) to the key
//! whose public part was returned, a signature made with the decrypted key
//! verifies in gpg, and gpg blobs open with `gpg --decrypt` in a home that
//! holds the signd key. "01" blobs carry the 22-byte xdata.
use std::time::{SystemTime, UNIX_EPOCH};

#[path = "e2e_common.rs"]
mod common;

use common::{fixture, GpgHome};
use openssl::hash::{hash, MessageDigest};
use signatrust::secret::SecretBytes;
use signatrust::sign::blob::{self, BlobFormat};
use signatrust::sign::keygen::{generate_project_key, ProjectKeyType};
use signatrust::sign::{armor_public_key, import_tsk, signature_packet, HashAlgo};

const DATA: &[u8] = b"project data\n";

fn enc_line() -> SecretBytes {
    let data = std::fs::read(fixture("signd-state/enckeys/A5E1A4F82E43F0E7")).unwrap();
    SecretBytes::from_slice(data.split(|&b| b == b'\n').next().unwrap())
}

fn check_type(kind: ProjectKeyType, name: &str, symmetric: bool) {
    let signd_asc = std::fs::read(fixture("obs-sign-t-fixtures/secret-key.asc")).unwrap();
    let signd = import_tsk(&signd_asc, None).unwrap();
    let pk = generate_project_key(kind, 800, "Test Project", "p@example.com", &signd.secret)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let fpr = hex::encode_upper(pk.fingerprint);

    let home = GpgHome::new();
    let dir = home.path().to_path_buf();
    std::fs::write(dir.join("signd.pub"), armor_public_key(&signd.public)).unwrap();
    std::fs::write(dir.join("project.pub"), armor_public_key(&pk.public)).unwrap();
    home.gpg_ok(&["--import", dir.join("signd.pub").to_str().unwrap()]);
    home.gpg_ok(&["--import", dir.join("project.pub").to_str().unwrap()]);
    let out = home.gpg_ok(&["--with-colons", "--check-sigs", &fpr]);
    let listing = String::from_utf8_lossy(&out.stdout);
    let sigs: Vec<&str> = listing.lines().filter(|l| l.starts_with("sig:")).collect();
    assert_eq!(sigs.len(), 2, "{name}: {listing}");
    // self-signature first, good ('!'), class 13x
    let own_id = &fpr[24..];
    assert!(
        sigs[0].starts_with("sig:!:") && sigs[0].contains(own_id),
        "{name}: {}",
        sigs[0]
    );
    assert!(sigs[0].contains(":13x:"), "{name}: {}", sigs[0]);
    // then the certification by the signd key (E40A9A2F)
    assert!(
        sigs[1].starts_with("sig:!:") && sigs[1].contains("7581F22BE40A9A2F"),
        "{name}: {}",
        sigs[1]
    );
    assert!(sigs[1].contains(":13x:"), "{name}: {}", sigs[1]);
    // key expiration set
    let pubrec = listing.lines().find(|l| l.starts_with("pub:")).unwrap();
    assert!(
        !pubrec.split(':').nth(6).unwrap_or("").is_empty(),
        "{name}: no expiry: {pubrec}"
    );

    // The blob.
    let b = if symmetric {
        blob::encrypt_symmetric(
            pk.secret_packet.expose(),
            "A5E1A4F82E43F0E7",
            &enc_line(),
            &pk.xdata,
        )
        .unwrap()
    } else {
        blob::encrypt_gpg(pk.secret_packet.expose(), &signd.public).unwrap()
    };
    if symmetric {
        assert!(matches!(
            blob::format(&b).unwrap(),
            BlobFormat::Symmetric { .. }
        ));
        assert_eq!(blob::xdata(&b), &pk.xdata[..]);
        assert_eq!(pk.xdata[1], 4);
        assert_eq!(hex::encode_upper(&pk.xdata[2..]), fpr);
    } else {
        assert_eq!(blob::format(&b).unwrap(), BlobFormat::Gpg);
        // gpg --decrypt with the signd secret key
        let sec = GpgHome::new();
        sec.gpg_ok(&[
            "--import",
            fixture("obs-sign-t-fixtures/secret-key.asc")
                .to_str()
                .unwrap(),
        ]);
        std::fs::write(sec.path().join("blob.gpg"), &b).unwrap();
        let out = sec.gpg_ok(&["--decrypt", sec.path().join("blob.gpg").to_str().unwrap()]);
        assert_eq!(
            out.stdout,
            pk.secret_packet.expose(),
            "{name}: gpg plaintext"
        );
    }
    let enc = |id: &str| (id == "A5E1A4F82E43F0E7").then(enc_line);
    let plain = blob::decrypt(&b, enc, std::slice::from_ref(&signd.secret)).unwrap();
    let key = blob::signing_key(&plain).unwrap();
    assert_eq!(hex::encode_upper(key.fingerprint()), fpr, "{name}");

    // A detached v3 signature with the decrypted key verifies.
    let h = if kind == ProjectKeyType::NistP384 {
        HashAlgo::Sha512
    } else {
        HashAlgo::Sha256
    };
    let md = if h == HashAlgo::Sha512 {
        MessageDigest::sha512()
    } else {
        MessageDigest::sha256()
    };
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let d = hash(md, &[DATA, &[0u8], &t.to_be_bytes()].concat()).unwrap();
    let sig = signature_packet(&key, h, &d, 0, t).unwrap();
    std::fs::write(dir.join("data"), DATA).unwrap();
    std::fs::write(dir.join("data.sig"), &sig).unwrap();
    let out = home.gpg(&[
        "--status-fd",
        "1",
        "--verify",
        dir.join("data.sig").to_str().unwrap(),
        dir.join("data").to_str().unwrap(),
    ]);
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.contains("[GNUPG:] GOODSIG"),
        "{name}: {status}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rsa_all_sizes() {
    check_type(ProjectKeyType::Rsa(1024), "rsa@1024", false);
    check_type(ProjectKeyType::Rsa(2048), "rsa@2048", true);
    check_type(ProjectKeyType::Rsa(4096), "rsa@4096", false);
}

#[test]
fn dsa_all_sizes() {
    check_type(ProjectKeyType::Dsa(1024), "dsa@1024", true);
    check_type(ProjectKeyType::Dsa(2048), "dsa@2048", false);
    check_type(ProjectKeyType::Dsa(4096), "dsa@4096", true);
}

#[test]
fn ecc_types() {
    check_type(ProjectKeyType::Ed25519, "ed25519", false);
    check_type(ProjectKeyType::NistP256, "nistp256", true);
    check_type(ProjectKeyType::NistP384, "nistp384", false);
}
