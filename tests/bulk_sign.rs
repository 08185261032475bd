//! `sign -O --bulk-cpio`'s request shape over the wire: one `sign` or
//! `privsign` request carrying 100 hashes (obs-sign's `BULK_MAX_ARGC`),
//! answered by an in-process signatrustd with 100 signature packets in one
//! reply, which must fit the client's 65536-byte buffer (spec §1 "Client
//! buffer sizes", §11.7). Keys: RSA-2048 and RSA-4096 stored keys made by
//! `sign::generate`, and an RSA-2048 project key made by the `keygen`
//! command (its blob then used with `privsign`). Every signature is
//! checked by `openssl pkeyutl -verify` against the public key exported as
//! PEM, over the digest at its position: order and content both count.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use openssl::bn::BigNum;
use openssl::hash::{hash, MessageDigest};
use openssl::rsa::Rsa;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use signatrust::config::Config;
use signatrust::daemon::{self, Service};
use signatrust::sign::{dearmor, generate, KeyType};

mod support;

const CONF: &str = "allow: 127.0.0.1\nallow-unprivileged-ports: true\n";
/// The certifier and encryption target of `keygen` (a fixture signd key).
const SIGND_KEY: &str = "defaultkey@localobs";
const MEMBERS: usize = 100;

/// A new-protocol request, encoded as the `sign` client does (the
/// library's client-side encoder, checked against the fixtures).
fn new_request(args: &[String]) -> Vec<u8> {
    signatrust::protocol::encode_new_request(args).unwrap()
}

async fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut out))
        .await
        .expect("reply within 60 s")
        .unwrap();
    out
}

/// The outputs of a status-0 new-protocol reply, read as sock.c's
/// `doreq` reads them; panics with the error text otherwise.
fn outputs(reply: &[u8]) -> Vec<Vec<u8>> {
    let be16 = |at: usize| usize::from(u16::from_be_bytes([reply[at], reply[at + 1]]));
    assert!(reply.len() >= 6, "short reply");
    let (outlen, errlen) = (be16(2), be16(4));
    assert_eq!(reply.len(), 6 + outlen + errlen, "packet size mismatch");
    let err = String::from_utf8_lossy(&reply[6 + outlen..]);
    assert_eq!(be16(0), 0, "status, error text: {err}");
    assert!(
        reply.len() < 65536,
        "--bulk-cpio reads into 65536 bytes: {}",
        reply.len()
    );
    let out = &reply[6..6 + outlen];
    let n = usize::from(u16::from_be_bytes([out[0], out[1]]));
    let mut at = 2 + 2 * n;
    let mut v = Vec::new();
    for i in 0..n {
        let len = usize::from(u16::from_be_bytes([out[2 + 2 * i], out[3 + 2 * i]]));
        v.push(out[at..at + len].to_vec());
        at += len;
    }
    assert_eq!(at, out.len(), "answer size mismatch");
    v
}

/// `(tag, body, rest)` of the first OpenPGP packet (old or new format).
fn first_packet(data: &[u8]) -> (u8, &[u8], &[u8]) {
    let ctb = data[0];
    assert!(ctb & 0x80 != 0, "not a packet");
    let (tag, hl, len) = if ctb & 0x40 == 0 {
        let tag = (ctb >> 2) & 0x0f;
        match ctb & 3 {
            0 => (tag, 2, usize::from(data[1])),
            1 => (tag, 3, usize::from(u16::from_be_bytes([data[1], data[2]]))),
            2 => (
                tag,
                5,
                u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize,
            ),
            _ => panic!("indeterminate length"),
        }
    } else {
        let tag = ctb & 0x3f;
        match data[1] {
            l @ 0..=191 => (tag, 2, usize::from(l)),
            l @ 192..=223 => (
                tag,
                3,
                (usize::from(l) - 192) * 256 + usize::from(data[2]) + 192,
            ),
            255 => (
                tag,
                6,
                u32::from_be_bytes([data[2], data[3], data[4], data[5]]) as usize,
            ),
            _ => panic!("partial length"),
        }
    };
    (tag, &data[hl..hl + len], &data[hl + len..])
}

/// An MPI at the start of `data`: `(value, rest)`.
fn mpi(data: &[u8]) -> (&[u8], &[u8]) {
    let bits = usize::from(u16::from_be_bytes([data[0], data[1]]));
    let len = bits.div_ceil(8);
    (&data[2..2 + len], &data[2 + len..])
}

/// The RSA public key of a binary transferable public key, as PEM, and
/// its modulus length in bytes.
fn rsa_pem(public: &[u8]) -> (Vec<u8>, usize) {
    let (tag, body, _) = first_packet(public);
    assert_eq!(tag, 6, "public key packet first");
    assert_eq!((body[0], body[5]), (4, 1), "v4 RSA key");
    let (n, rest) = mpi(&body[6..]);
    let (e, _) = mpi(rest);
    let rsa = Rsa::from_public_components(
        BigNum::from_slice(n).unwrap(),
        BigNum::from_slice(e).unwrap(),
    )
    .unwrap();
    (rsa.public_key_to_pem().unwrap(), n.len())
}

/// The digests of the members and their hash arguments (`HEX@00TIME`).
fn members(time: u32) -> (Vec<Vec<u8>>, Vec<String>) {
    let digests: Vec<Vec<u8>> = (0..MEMBERS)
        .map(|i| {
            hash(
                MessageDigest::sha256(),
                format!("kernel/module{i}.ko").as_bytes(),
            )
            .unwrap()
            .to_vec()
        })
        .collect();
    let args = digests
        .iter()
        .map(|d| format!("{}@00{time:08x}", hex::encode(d)))
        .collect();
    (digests, args)
}

/// Checks the v3 signature packets: one per digest, in order, each
/// verified by `openssl pkeyutl -verify` with the key in `pem`.
fn verify_all(
    dir: &Path,
    what: &str,
    pem: &[u8],
    modlen: usize,
    sigs: &[Vec<u8>],
    digests: &[Vec<u8>],
    time: u32,
) {
    assert_eq!(sigs.len(), digests.len(), "{what}: one signature per hash");
    let key = dir.join(format!("{what}.pem"));
    std::fs::write(&key, pem).unwrap();
    for (i, (pkt, digest)) in sigs.iter().zip(digests).enumerate() {
        let (tag, body, rest) = first_packet(pkt);
        assert!(
            rest.is_empty() && tag == 2,
            "{what} #{i}: one signature packet"
        );
        assert_eq!(&body[..3], &[3, 5, 0], "{what} #{i}: v3, class 0");
        assert_eq!(&body[3..7], &time.to_be_bytes(), "{what} #{i}: time");
        assert_eq!((body[15], body[16]), (1, 8), "{what} #{i}: RSA, SHA256");
        assert_eq!(&body[17..19], &digest[..2], "{what} #{i}: left 16 bits");
        let (sig, rest) = mpi(&body[19..]);
        assert!(rest.is_empty());
        let mut padded = vec![0; modlen - sig.len()];
        padded.extend_from_slice(sig);
        let (d, s) = (dir.join("digest.bin"), dir.join("sig.bin"));
        std::fs::write(&d, digest).unwrap();
        std::fs::write(&s, &padded).unwrap();
        let out = Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
            .arg(&key)
            .args(["-pkeyopt", "digest:sha256", "-in"])
            .arg(&d)
            .arg("-sigfile")
            .arg(&s)
            .output()
            .expect("running openssl");
        assert!(
            out.status.success(),
            "{what} #{i}: openssl: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

async fn service(dir: &Path) -> Service {
    let conf = dir.join("sign.conf");
    std::fs::write(&conf, CONF).unwrap();
    let mut config = Config::load(Some(dir.join("data")), None, Some(conf)).unwrap();
    config.log.file = None;
    config.exec.workers = 2;
    daemon::build(config).await.expect("building the service")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_cpio_requests_of_100_hashes_are_answered_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path()).await;
    support::import_fixture_keys(&service.ctx.keys).await;
    let mut stored = Vec::new();
    for (name, kind) in [("rsa2048", KeyType::Rsa2048), ("rsa4096", KeyType::Rsa4096)] {
        let key = generate(kind, &format!("{name} <{name}@example.org>")).unwrap();
        service.ctx.keys.import(name, &key).await.unwrap();
        stored.push((name, key.public));
    }
    let server = support::serve(&service).await;
    let time = 0x6543_2100;
    let (digests, hashes) = members(time);

    for (name, public) in &stored {
        let mut argv = vec!["sign".to_string(), format!("SHA256:{name}")];
        argv.extend(hashes.iter().cloned());
        let sigs = outputs(&exchange(server.addr, &new_request(&argv)).await);
        let (pem, modlen) = rsa_pem(public);
        verify_all(dir.path(), name, &pem, modlen, &sigs, &digests, time);
    }

    // privsign with a project key the keygen command made.
    let keygen: Vec<String> = [
        "keygen",
        SIGND_KEY,
        "rsa@2048",
        "800",
        "Bulk Test",
        "bulk@example.org",
    ]
    .map(String::from)
    .to_vec();
    let made = outputs(&exchange(server.addr, &new_request(&keygen)).await);
    assert_eq!(made.len(), 2, "public key and blob");
    let public = dearmor(&made[0]).unwrap();
    let blob = String::from_utf8(made[1].clone()).unwrap();
    let mut argv = vec!["privsign".to_string(), format!("SHA256:{SIGND_KEY}"), blob];
    argv.extend(hashes.iter().cloned());
    let sigs = outputs(&exchange(server.addr, &new_request(&argv)).await);
    let (pem, modlen) = rsa_pem(&public);
    verify_all(dir.path(), "project", &pem, modlen, &sigs, &digests, time);
    server.stop().await;
}

/// Splitting a bulk request across the workers changes nothing in the
/// reply: 100 SHA-512 hashes (one digest every key type takes) signed by
/// a server with one worker and by one with four give the same bytes,
/// for every key type `generate` makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_replies_do_not_depend_on_the_worker_count() {
    let kinds = [
        ("rsa2048", KeyType::Rsa2048),
        ("dsa2048", KeyType::Dsa2048),
        ("p256", KeyType::NistP256),
        ("p384", KeyType::NistP384),
        ("ed25519", KeyType::Ed25519),
    ];
    let keys: Vec<_> = kinds
        .iter()
        .map(|(name, kind)| {
            (
                *name,
                generate(*kind, &format!("{name} <k@example.org>")).unwrap(),
            )
        })
        .collect();
    let mut servers = Vec::new();
    let mut dirs = Vec::new();
    for workers in [1, 4] {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("sign.conf");
        std::fs::write(&conf, CONF).unwrap();
        let mut config = Config::load(Some(dir.path().join("data")), None, Some(conf)).unwrap();
        config.log.file = None;
        config.exec.workers = workers;
        let service = daemon::build(config).await.unwrap();
        assert_eq!(service.ctx.exec.workers(), workers);
        for (name, key) in &keys {
            service.ctx.keys.import(name, key).await.unwrap();
        }
        servers.push(support::serve(&service).await);
        dirs.push(dir);
    }
    let hashes: Vec<String> = (0..MEMBERS)
        .map(|i| {
            let d = hash(MessageDigest::sha512(), &[i as u8]).unwrap();
            format!("{}@00{:08x}", hex::encode(d), 0x6543_2100 + i)
        })
        .collect();
    for (name, _) in &kinds {
        let mut argv = vec!["sign".to_string(), format!("SHA512:{name}")];
        argv.extend(hashes.iter().cloned());
        let request = new_request(&argv);
        let one = exchange(servers[0].addr, &request).await;
        let four = exchange(servers[1].addr, &request).await;
        assert_eq!(outputs(&one).len(), MEMBERS, "{name}");
        assert!(one == four, "{name}: the reply depends on the worker count");
    }
    for server in servers {
        server.stop().await;
    }
}
