//! Failures a client can cause get a specific wire text, never `internal
//! error` (issue 11 item 4). A matrix through `commands::handle`, encoded as
//! the server encodes replies: every key type (stored keys made by
//! `sign::generate`: RSA, DSA-2048, P-256, P-384, Ed25519; project keys made
//! by the `keygen` command and used with `privsign`: RSA, DSA-1024,
//! DSA-2048, P-256, P-384, Ed25519) × every wire hash, with digests of the
//! right length and of the wrong one, and keygen's arguments.
//!
//! The expected outcomes are written out by hand from gpg-agent's rule
//! (agent/pksign.c `do_encode_dsa`: a DSA/ECDSA digest shorter than the
//! group order is refused, "a %zu bit hash is not valid for a %u bit %s
//! key", with p's size for DSA) and signd's keygen checks.

use std::sync::Arc;

use signatrust::commands::{handle, BlobKeyCache, Ctx, Handled};
use signatrust::exec::Exec;
use signatrust::keys::{FileKek, KeyStore};
use signatrust::protocol::{reply_limit, Protocol, Request};
use signatrust::sign::{generate, KeyType};
use signatrust::wire_error::error_reply;

mod support;

const SIGND_KEY: &str = "defaultkey@localobs";
const INTERNAL: &str = "internal error";

/// `(status, outputs, error text)` of an encoded new-protocol reply.
fn parse(reply: &[u8]) -> (u16, Vec<Vec<u8>>, String) {
    let be16 = |b: &[u8], at: usize| usize::from(u16::from_be_bytes([b[at], b[at + 1]]));
    let (outlen, errlen) = (be16(reply, 2), be16(reply, 4));
    assert_eq!(reply.len(), 6 + outlen + errlen);
    let out = &reply[6..6 + outlen];
    let mut outputs = Vec::new();
    if !out.is_empty() {
        let n = be16(out, 0);
        let mut at = 2 + 2 * n;
        for i in 0..n {
            let len = be16(out, 2 + 2 * i);
            outputs.push(out[at..at + len].to_vec());
            at += len;
        }
    }
    let err = String::from_utf8_lossy(&reply[6 + outlen..])
        .trim_end_matches('\n')
        .to_string();
    (be16(reply, 0) as u16, outputs, err)
}

/// Handles `argv` as a new-protocol request and encodes the reply as the
/// server does.
async fn call(ctx: &Ctx, argv: &[String]) -> (u16, Vec<Vec<u8>>, String) {
    let req = Request {
        protocol: Protocol::New,
        argv: argv.to_vec(),
    };
    let bytes = match handle(ctx, &req).await {
        Ok(Handled::Local(r)) => r.encode(req.protocol, reply_limit(&req)).unwrap(),
        Ok(Handled::Forward { user, .. }) => panic!("forwarded for {user}"),
        Err(e) => error_reply(&e, req.protocol),
    };
    parse(&bytes)
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

async fn ctx(dir: &std::path::Path) -> Ctx {
    let kek = FileKek::open_or_create(&dir.join("kek")).unwrap();
    let url = format!("sqlite://{}", dir.join("keys.db").display());
    let keys = KeyStore::open(&url, Arc::new(kek)).await.unwrap();
    support::import_fixture_keys(&keys).await;
    Ctx {
        keys: Arc::new(keys),
        users: Default::default(),
        exec: Exec::new(2, 8).unwrap(),
        blob_keys: BlobKeyCache::new(Default::default()),
    }
}

/// What a SHA1, SHA256 and SHA512 digest of the right length gets.
type Want = [Option<&'static str>; 3];
const ALL_OK: Want = [None, None, None];
const HASHES: [(&str, usize); 3] = [("SHA1", 20), ("SHA256", 32), ("SHA512", 64)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digests_a_key_cannot_sign_get_specific_texts() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path()).await;

    // (label, how to sign: stored key name or project-key blob, want).
    let stored: [(&str, KeyType, Want); 5] = [
        ("rsa2048", KeyType::Rsa2048, ALL_OK),
        (
            "dsa2048",
            KeyType::Dsa2048,
            [
                Some("a 160 bit hash is not valid for a 2048 bit DSA key"),
                None,
                None,
            ],
        ),
        (
            "p256",
            KeyType::NistP256,
            [
                Some("a 160 bit hash is not valid for a 256 bit ECDSA key"),
                None,
                None,
            ],
        ),
        (
            "p384",
            KeyType::NistP384,
            [
                Some("a 160 bit hash is not valid for a 384 bit ECDSA key"),
                Some("a 256 bit hash is not valid for a 384 bit ECDSA key"),
                None,
            ],
        ),
        ("ed25519", KeyType::Ed25519, ALL_OK),
    ];
    let project: [(&str, Want); 6] = [
        ("rsa@2048", ALL_OK),
        // gpg's DSA-1024 has a 160-bit q: SHA-1 fits.
        ("dsa@1024", ALL_OK),
        (
            "dsa@2048",
            [
                Some("a 160 bit hash is not valid for a 2048 bit DSA key"),
                None,
                None,
            ],
        ),
        (
            "nistp256",
            [
                Some("a 160 bit hash is not valid for a 256 bit ECDSA key"),
                None,
                None,
            ],
        ),
        (
            "nistp384",
            [
                Some("a 160 bit hash is not valid for a 384 bit ECDSA key"),
                Some("a 256 bit hash is not valid for a 384 bit ECDSA key"),
                None,
            ],
        ),
        ("ed25519", ALL_OK),
    ];

    // (label, argv before the hashes, want).
    let mut cases: Vec<(String, Vec<String>, Want)> = Vec::new();
    for (name, kind, want) in stored {
        let key = generate(kind, &format!("{name} <{name}@example.org>")).unwrap();
        ctx.keys.import(name, &key).await.unwrap();
        cases.push((format!("sign {name}"), argv(&["sign", name]), want));
    }
    for (kind, want) in project {
        let (status, made, err) = call(
            &ctx,
            &argv(&["keygen", SIGND_KEY, kind, "800", "Project", "p@example.org"]),
        )
        .await;
        assert_eq!((status, err.as_str()), (0, ""), "keygen {kind}");
        let blob = String::from_utf8(made[1].clone()).unwrap();
        cases.push((
            format!("privsign {kind}"),
            vec!["privsign".into(), SIGND_KEY.into(), blob],
            want,
        ));
    }

    let mut failures = Vec::new();
    for (label, head, want) in &cases {
        for ((hash, len), want) in HASHES.iter().zip(want) {
            for (digest_len, want) in [
                (*len, want.map(str::to_string)),
                // A digest of another hash's length: refused before the key
                // is even looked at.
                (
                    if *len == 32 { 20 } else { 32 },
                    Some(format!(
                        "bad hash length: {hash} needs {len} bytes, got {}",
                        if *len == 32 { 20 } else { 32 }
                    )),
                ),
            ] {
                let mut a = head.clone();
                a[1] = format!("{hash}:{}", a[1]);
                a.push(format!("{}@0065432100", "ab".repeat(digest_len)));
                let (status, outputs, err) = call(&ctx, &a).await;
                let got = match status {
                    0 => {
                        assert_eq!(outputs.len(), 1);
                        assert_eq!(outputs[0][0] & 0xfc, 0x88, "a signature packet");
                        None
                    }
                    _ => Some(err),
                };
                if got != want || got.as_deref().is_some_and(|e| e.contains(INTERNAL)) {
                    failures.push(format!(
                        "{label} {hash} ({digest_len} bytes): got {got:?}, want {want:?}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keygen_arguments_a_key_cannot_have_get_specific_texts() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path()).await;
    let keygen = |expire: &str, real: &str, email: &str| {
        argv(&["keygen", SIGND_KEY, "ed25519", expire, real, email])
    };
    let keygen_t = |kind: &str, expire: &str, real: &str, email: &str| {
        argv(&["keygen", SIGND_KEY, kind, expire, real, email])
    };
    // Whole days from now to 2106-02-07 06:28:15 UTC (2^32 - 1 seconds):
    // one day less is accepted, one more refused, whenever the test runs.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let days_left = (u64::from(u32::MAX) - now) / 86400;
    let last_day = days_left - 1;
    let too_far = format!(
        "bad expire: {} days is beyond the OpenPGP time range",
        days_left + 1
    );
    let cases = [
        // gpg (2.2.40, `--batch --gen-key` on signd's parameter file) trims
        // the spaces around a value and refuses an empty one: "params:4:
        // missing argument" (Name-Real), ":5:" (Name-Email), before it
        // looks at Expire-Date.
        (
            keygen("800", "", "e@example.org"),
            "keygen: real name is empty (gpg: missing argument)",
        ),
        (
            keygen("800", "   ", "e@example.org"),
            "keygen: real name is empty (gpg: missing argument)",
        ),
        (
            keygen("800", "Name", ""),
            "keygen: email is empty (gpg: missing argument)",
        ),
        (
            keygen("800", "", ""),
            "keygen: real name is empty (gpg: missing argument)",
        ),
        (
            keygen("99999", "Name", " "),
            "keygen: email is empty (gpg: missing argument)",
        ),
        // Perl signd's order: expiry format, bad characters, type.
        (keygen_t("bogus", "x", "Name", "e@x"), "bad expire format"),
        (
            keygen_t("bogus", "800", "Tab\tName", "e@x"),
            "bad character in real name",
        ),
        (keygen_t("bogus", "800", "", ""), "bad type: bogus"),
        (keygen_t("bogus", "99999", "N", "e@x"), "bad type: bogus"),
        (
            keygen("800", "Tab\tName", "e@example.org"),
            "bad character in real name",
        ),
        (
            keygen("800", "Name", "e@example.org\n"),
            "bad character in email",
        ),
        (
            keygen("800", "\u{1f}", "\u{1}"),
            "bad character in real name",
        ),
        (
            keygen("9999999999", "Name", "e@example.org"),
            "bad expire: 9999999999 days is beyond the OpenPGP time range",
        ),
        // 49711 days is the first beyond 2^32 - 1 seconds.
        (
            keygen("49711", "Name", "e@example.org"),
            "bad expire: 49711 days is beyond the OpenPGP time range",
        ),
        // Below 2^32 seconds but past 2106-02-07 from now: gpg would see
        // the key as expired at once (Perl's gpg wraps the seconds).
        (
            keygen("49710", "Name", "e@example.org"),
            "bad expire: 49710 days is beyond the OpenPGP time range",
        ),
        (
            keygen(&(days_left + 1).to_string(), "Name", "e@example.org"),
            too_far.as_str(),
        ),
    ];
    for (a, want) in cases {
        let (status, _, err) = call(&ctx, &a).await;
        assert_eq!((status, err.as_str()), (1, want), "{a:?}");
    }
    // The boundary and DEL (not a control character for signd) are fine.
    for a in [
        keygen(&last_day.to_string(), "Name", "e@example.org"),
        keygen("0", "Name\u{7f}", "e@example.org"),
    ] {
        let (status, outputs, err) = call(&ctx, &a).await;
        assert_eq!((status, err.as_str(), outputs.len()), (0, "", 2), "{a:?}");
    }
    // The user ID as gpg makes it from `Name-Real:   Some Name  ` and
    // `Name-Email:  e@example.org `: spaces around the values trimmed.
    let (status, outputs, err) = call(&ctx, &keygen("800", "  Some Name  ", " e@x.org ")).await;
    assert_eq!((status, err.as_str()), (0, ""));
    let home = tempfile::tempdir().unwrap();
    let mut gpg = std::process::Command::new("gpg")
        .args(["--homedir"])
        .arg(home.path())
        .args(["--batch", "--with-colons", "--show-keys"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    gpg.stdin.take().unwrap().write_all(&outputs[0]).unwrap();
    let out = gpg.wait_with_output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    let uids: Vec<&str> = listing
        .lines()
        .filter(|l| l.starts_with("uid:"))
        .filter_map(|l| l.split(':').nth(9))
        .collect();
    assert_eq!(uids, ["Some Name <e@x.org>"], "{listing}");
}

/// An OpenPGP MPI of `n`.
fn mpi(n: &openssl::bn::BigNumRef) -> Vec<u8> {
    let mut out = (n.num_bits() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&n.to_vec());
    out
}

/// A project key a client can send (any client can encrypt a blob to the
/// signd key's public key): RSA-512, too small for a SHA-512 DigestInfo.
/// PKCS#1 v1.5 fails inside the crypto library; the reply says why, in
/// gpg-agent's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_key_too_small_for_the_hash_gets_a_specific_text() {
    use openssl::bn::{BigNum, BigNumContext};
    use openssl::rsa::Rsa;

    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path()).await;
    // The v4 secret-key packet, unprotected (RFC 4880 §5.5.3): OpenPGP's
    // p < q and u = p^-1 mod q.
    let rsa = Rsa::generate(512).unwrap();
    let (a, b) = (rsa.p().unwrap(), rsa.q().unwrap());
    let (p, q) = if a < b { (a, b) } else { (b, a) };
    let mut u = BigNum::new().unwrap();
    u.mod_inverse(p, q, &mut BigNumContext::new().unwrap())
        .unwrap();
    let mut body = vec![4, 0x60, 0, 0, 0, 1];
    body.extend(mpi(rsa.n()));
    body.extend(mpi(rsa.e()));
    body.push(0);
    let secret = [mpi(rsa.d()), mpi(p), mpi(q), mpi(&u)].concat();
    let sum = secret
        .iter()
        .fold(0u16, |s, b| s.wrapping_add(u16::from(*b)));
    body.extend(&secret);
    body.extend(sum.to_be_bytes());
    let mut packet = vec![0x95];
    packet.extend((body.len() as u16).to_be_bytes());
    packet.extend(&body);
    let signd_public = ctx.keys.public_key(SIGND_KEY).await.unwrap().unwrap();
    let blob = hex::encode(signatrust::sign::blob::encrypt_gpg(&packet, &signd_public).unwrap());

    let privsign = |hash: &str, len: usize| {
        vec![
            "privsign".to_string(),
            format!("{hash}:{SIGND_KEY}"),
            blob.clone(),
            format!("{}@0065432100", "ab".repeat(len)),
        ]
    };
    let (status, _, err) = call(&ctx, &privsign("SHA512", 64)).await;
    assert_eq!(
        (status, err.as_str()),
        (1, "can't encode a 512 bit MD into a 512 bits frame")
    );
    for (hash, len) in [("SHA256", 32), ("SHA1", 20)] {
        let (status, outputs, err) = call(&ctx, &privsign(hash, len)).await;
        assert_eq!((status, err.as_str(), outputs.len()), (0, "", 1), "{hash}");
    }
}
