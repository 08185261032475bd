//! GnuPG >= 2.3 blobs (issue 16 item 5; spec §13 "Blobs"): `_signkey` and
//! TOTP blobs whose data is the OCB-encrypted packet (tag 20) of
//! draft-ietf-openpgp-rfc4880bis-10 §5.16, written by an independent
//! implementation, Debian's `rnp` (`rnp --encrypt --aead=ocb`), to the
//! signd key `defaultkey@localobs` (its RSA primary and its ElGamal
//! subkey), with AES-256 and AES-128, small and large chunks, compressed
//! and not. `signatrustd` serves the key; the real C client's `sign -P`
//! signs with the decrypted project key and gpg verifies the signature
//! with the project's public key; `privtotp` answers RFC 6238's published
//! code. A flipped tag byte is refused with a clear error.
#[path = "support/client.rs"]
mod client;
#[path = "e2e_common.rs"]
mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const USER: &str = "defaultkey@localobs";
/// The fixture key's ElGamal encryption subkey.
const ELGAMAL_SUBKEY: &str = "84A9757A0207A14B";

/// `rnp --encrypt --aead=ocb` of `plain` to `recipient`, with `extra`
/// options; asserts the result is a tag-20 OCB message (`gpg
/// --list-packets`: `aead=2`).
fn rnp_ocb(
    rnp_home: &Path,
    gpg: &GpgHome,
    plain: &[u8],
    recipient: &str,
    extra: &[&str],
) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("plain");
    let output = dir.path().join("blob.gpg");
    std::fs::write(&input, plain).unwrap();
    let out = Command::new("rnp")
        .arg("--homedir")
        .arg(rnp_home)
        .args(["--encrypt", "--aead=ocb", "-r", recipient])
        .args(extra)
        .arg("--output")
        .arg(&output)
        .arg(&input)
        .output()
        .expect("run rnp (scripts/install-deps installs it)");
    assert!(
        out.status.success(),
        "rnp {extra:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = gpg.gpg(&["--list-packets", output.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(
        text.contains(":aead encrypted packet:") && text.contains("aead=2"),
        "{extra:?}: not OCB:\n{text}"
    );
    // Encrypted to the key asked for: RSA (1) to the primary, ElGamal (16)
    // to the subkey.
    let want = if recipient == ELGAMAL_SUBKEY {
        format!("algo 16, keyid {ELGAMAL_SUBKEY}")
    } else {
        "algo 1, keyid 7581F22BE40A9A2F".to_owned()
    };
    assert!(text.contains(&want), "{recipient} {extra:?}: {text}");
    std::fs::read(&output).unwrap()
}

fn hex_file(dir: &Path, name: &str, blob: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, hex::encode(blob)).unwrap();
    p
}

#[test]
fn rnp_ocb_blobs_open_for_privsign_and_privtotp() {
    // The signd side: the fixture key in a store, served.
    let data = short_tempdir();
    admin_ok(
        data.path(),
        &[
            "key",
            "import",
            USER,
            fixture("obs-sign-t-fixtures/secret-key.asc")
                .to_str()
                .unwrap(),
        ],
    );
    let daemon = Daemon::start(data.path(), "");

    // The project key, made by gpg; its secret is the blob's plaintext.
    let project = GpgHome::new();
    project.gpg_ok(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "Project <project@ocb.test>",
        "rsa2048",
        "sign",
        "never",
    ]);
    let secret = project
        .gpg_ok(&["--export-secret-keys", "project@ocb.test"])
        .stdout;

    // rnp knows only signd's public key.
    let rnp_home = tempfile::tempdir().unwrap();
    let out = Command::new("rnpkeys")
        .arg("--homedir")
        .arg(rnp_home.path())
        .arg("--import")
        .arg(fixture("obs-sign-t-fixtures/public-key.asc"))
        .output()
        .expect("run rnpkeys");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("client.conf");
    std::fs::write(&conf, client::client_conf(daemon.addr.port())).unwrap();
    let payload = work.path().join("payload.txt");
    std::fs::write(&payload, "signed with an ocb blob\n").unwrap();

    let variants: [(&str, &[&str]); 5] = [
        (USER, &[]),
        (ELGAMAL_SUBKEY, &[]),
        (USER, &["--cipher", "AES128"]),
        (USER, &["--aead-chunk-bits", "0"]),
        (USER, &["-z", "0"]),
    ];
    for (recipient, extra) in variants {
        let blob = rnp_ocb(rnp_home.path(), &project, &secret, recipient, extra);
        let blob_file = hex_file(work.path(), "signkey", &blob);
        let out = Command::new(client::sign_client())
            .arg("--config")
            .arg(&conf)
            .args(["-u", USER, "-P"])
            .arg(&blob_file)
            .arg("-d")
            .arg(&payload)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "privsign {recipient} {extra:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            daemon.log_text()
        );
        let sig = std::fs::read(work.path().join("payload.txt.asc")).unwrap();
        project.assert_verifies(
            &sig,
            &std::fs::read(&payload).unwrap(),
            &format!("privsign with an rnp OCB blob to {recipient} {extra:?}"),
        );
    }

    // privtotp: RFC 6238's SHA-1 vector, 8 digits at T = 59 s: 94287082.
    // (`skew` lets the fixed time through signd's range check.)
    let uri = b"otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=8&period=30&skew=4000000000\n";
    let blob = rnp_ocb(rnp_home.path(), &project, uri, USER, &[]);
    let reply = parse_reply(&daemon.exchange(&new_request(&[
        "privtotp",
        USER,
        &hex::encode(&blob),
        "0000003b",
    ])));
    assert_eq!((reply.status, reply.err.as_str()), (0, ""), "privtotp");
    assert_eq!(new_outputs(&reply.out), [b"94287082".to_vec()]);

    // A flipped tag byte: the final tag, then the first chunk's.
    let blob = rnp_ocb(
        rnp_home.path(),
        &project,
        &secret,
        USER,
        &["--aead-chunk-bits", "0"],
    );
    let mut last = blob.clone();
    *last.last_mut().unwrap() ^= 1;
    let mut first_chunk_tag = blob.clone();
    // Tag 20's body: 4 octets, 15 of IV, 64 of chunk 0, then its tag.
    let at = tag20_body_start(&blob) + 4 + 15 + 64;
    first_chunk_tag[at] ^= 1;
    for (bad, want) in [
        (&last, "ocb encrypted data: final authentication tag does not match (truncated or tampered data)"),
        (&first_chunk_tag, "ocb encrypted data: authentication tag of chunk 0 does not match (corrupt or tampered data)"),
    ] {
        let reply = parse_reply(&daemon.exchange(&new_request(&[
            "privsign",
            &format!("SHA256:{USER}"),
            &hex::encode(bad),
            &format!("{}@0000000000", "00".repeat(32)),
        ])));
        assert_eq!((reply.status, reply.err.trim_end()), (1, want));
    }
}

/// Where the body of the tag-20 packet starts (after the PKESKs and its
/// own header), read with the same framing rules gpg uses.
fn tag20_body_start(blob: &[u8]) -> usize {
    let mut at = 0;
    loop {
        let tag = blob[at] & 0x3f;
        let (hlen, len) = match blob[at + 1] {
            o @ 0..=191 => (2, usize::from(o)),
            o @ 192..=223 => (
                3,
                (usize::from(o - 192) << 8) + usize::from(blob[at + 2]) + 192,
            ),
            255 => (
                6,
                u32::from_be_bytes(blob[at + 2..at + 6].try_into().unwrap()) as usize,
            ),
            _ => (2, 0), // partial: the body starts right after the first length
        };
        if tag == 20 {
            return at + hlen;
        }
        at += hlen + len;
    }
}
