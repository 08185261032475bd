//! End-to-end round trip per key type, over the wire.
//!
//! gpg makes a key in a private GNUPGHOME, `signatrust-admin key import`
//! stores it, a real `signatrustd` serves it on loopback, and this test acts
//! as the C `sign` client (spec §9.2): it computes the detached-signature
//! hash itself, sends old- and new-protocol requests, assembles the packet
//! the way the client does (v3 as is, v4 rebuilt after the probe) and lets
//! `gpg --verify` judge the result.

#[path = "e2e_common.rs"]
mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use openssl::hash::{hash, MessageDigest};

const DATA: &[u8] = b"signatrust end-to-end\nsecond line\n";
const HEADER: &[u8] = b"an rpm header, signed on its own\n";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Hash {
    Sha1,
    Sha256,
    Sha512,
}

impl Hash {
    fn md(self) -> MessageDigest {
        match self {
            Hash::Sha1 => MessageDigest::sha1(),
            Hash::Sha256 => MessageDigest::sha256(),
            Hash::Sha512 => MessageDigest::sha512(),
        }
    }
    fn len(self) -> usize {
        self.md().size()
    }
    /// OpenPGP hash algorithm ID.
    fn id(self) -> u8 {
        match self {
            Hash::Sha1 => 2,
            Hash::Sha256 => 8,
            Hash::Sha512 => 10,
        }
    }
    /// The user/arg prefix the client sends (none for SHA1).
    fn prefix(self) -> &'static str {
        match self {
            Hash::Sha1 => "",
            Hash::Sha256 => "SHA256:",
            Hash::Sha512 => "SHA512:",
        }
    }
    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        hash(self.md(), &parts.concat()).unwrap().to_vec()
    }
}

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

/// `H@<class><time>` as the client formats a hash argument.
fn hash_arg(digest: &[u8], class: u8, time: u32) -> String {
    format!("{}@{class:02x}{time:08x}", hex::encode(digest))
}

/// One gpg-made key, imported with the admin CLI and served by signatrustd.
struct Served {
    home: GpgHome,
    _data: tempfile::TempDir,
    daemon: Daemon,
    name: String,
    fpr: Vec<u8>,
    pubalgo: u8,
}

impl Served {
    fn new(algo: &str, pubalgo: u8) -> Served {
        let home = GpgHome::new();
        home.gpg_ok(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            "T <t@example.org>",
            algo,
            "sign",
            "never",
        ]);
        let colons = home.gpg_ok(&["--with-colons", "--list-secret-keys"]);
        let colons = String::from_utf8(colons.stdout).unwrap();
        let fpr_hex = colons
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("fingerprint in --with-colons")
            .to_string();
        let secret = home.gpg_ok(&["--passphrase", "", "--armor", "--export-secret-keys"]);
        let key_file = home.path().join("secret.asc");
        std::fs::write(&key_file, &secret.stdout).unwrap();

        let data = short_tempdir();
        let data_dir = data.path().join("store");
        let name = format!("e2e-{algo}@example.org");
        let out = admin_ok(
            &data_dir,
            &["key", "import", &name, key_file.to_str().unwrap()],
        );
        assert!(
            out.contains(&fpr_hex),
            "{algo}: import output does not name the fingerprint {fpr_hex}: {out}"
        );
        let daemon = Daemon::start(&data_dir, "");
        Served {
            home,
            _data: data,
            daemon,
            name,
            fpr: hex::decode(&fpr_hex).unwrap(),
            pubalgo,
        }
    }

    fn key_id(&self) -> &[u8] {
        &self.fpr[12..]
    }

    /// An old-protocol sign request, as `sign -d` sends it; returns the
    /// decoded reply.
    fn sign_old(&self, h: Hash, arg: &str) -> Reply {
        let req = old_request(&self.name, &format!("{}{arg}", h.prefix()));
        parse_reply(&self.daemon.exchange(&req))
    }

    fn sign_ok(&self, h: Hash, arg: &str, what: &str) -> Vec<u8> {
        let r = self.sign_old(h, arg);
        assert!(
            r.status == 0 && r.err.is_empty() && !r.out.is_empty(),
            "{what}: server refused: {r:?}\nlog:\n{}",
            self.daemon.log_text()
        );
        r.out
    }

    /// Checks the v3 layout of spec §6.2 against the request.
    fn check_v3(&self, pkt: &[u8], h: Hash, digest: &[u8], class: u8, time: u32, what: &str) {
        let b = sig_body(pkt);
        assert_eq!(&b[..3], &[3, 5, class], "{what}: version, length, class");
        assert_eq!(&b[3..7], &time.to_be_bytes(), "{what}: time");
        assert_eq!(&b[7..15], self.key_id(), "{what}: key ID");
        assert_eq!(b[15], self.pubalgo, "{what}: pubkey algo");
        assert_eq!(b[16], h.id(), "{what}: hash algo");
        assert_eq!(&b[17..19], &digest[..2], "{what}: hash prefix");
    }

    /// The client's v3 mode (`-3`, the default).
    fn v3(&self, h: Hash, class: u8, data: &[u8], time: u32) -> Vec<u8> {
        let what = format!("{} v3 {h:?} class {class}", self.name);
        let d = h.digest(&[data, &[class], &time.to_be_bytes()]);
        let pkt = self.sign_ok(h, &hash_arg(&d, class, time), &what);
        self.check_v3(&pkt, h, &d, class, time, &what);
        self.home.assert_verifies(&pkt, data, &what);
        pkt
    }

    /// The client's v4 mode (`-4`): probe, hash over T4, v3 request, rebuild.
    fn v4(&self, h: Hash, data: &[u8], time: u32) -> Vec<u8> {
        let what = format!("{} v4 {h:?}", self.name);
        let class = 0u8;
        let probe = "04".repeat(h.len()) + "@0000000000";
        let reply = self.sign_ok(h, &probe, &format!("{what} probe"));
        let p = sig_body(&reply);
        assert_eq!(p[0], 4, "{what}: the probe gets a v4 packet");
        assert_eq!(p[1], 0, "{what}: probe class");
        let pubalgo = p[2];
        assert_eq!(pubalgo, self.pubalgo, "{what}: probe pubkey algo");
        assert_eq!(p[3], h.id(), "{what}: probe hash algo");
        let fpr = issuer_fingerprint(p).expect("subpacket 33 in the probe reply");
        assert_eq!(fpr, self.fpr, "{what}: probe fingerprint");

        let mut t4 = vec![4, class, pubalgo, h.id(), 0x00, 0x1d, 0x16, 0x21, 0x04];
        t4.extend_from_slice(&fpr);
        t4.extend_from_slice(&[0x05, 0x02]);
        t4.extend_from_slice(&time.to_be_bytes());
        let hashed_len = t4.len();
        assert_eq!(hashed_len, 35);
        t4.extend_from_slice(&[0x04, 0xff, 0x00, 0x00, 0x00, 0x23]);
        let d = h.digest(&[data, &t4]);

        let v3 = self.sign_ok(h, &hash_arg(&d, class, time), &what);
        self.check_v3(&v3, h, &d, class, time, &what);
        let b = sig_body(&v3);
        // The client's rebuild: its own hashed area, the issuer from the v3
        // reply, the reply's hash prefix and MPIs.
        let mut v4 = t4[..hashed_len].to_vec();
        v4.extend_from_slice(&[0x00, 0x0a, 0x09, 0x10]);
        v4.extend_from_slice(&b[7..15]);
        v4.extend_from_slice(&b[17..]);
        let pkt = old_packet(2, &v4);
        self.home.assert_verifies(&pkt, data, &what);
        pkt
    }

    /// rpm style: two hashes with the same trailer in one new-protocol
    /// request; two outputs in order.
    fn two_hashes(&self, h: Hash, time: u32) {
        let what = format!("{} two hashes {h:?}", self.name);
        let trailer = [&[0u8][..], &time.to_be_bytes()].concat();
        let d1 = h.digest(&[DATA, &trailer]);
        let d2 = h.digest(&[HEADER, &trailer]);
        let user = format!("{}{}", h.prefix(), self.name);
        let (a1, a2) = (hash_arg(&d1, 0, time), hash_arg(&d2, 0, time));
        let r = parse_reply(
            &self
                .daemon
                .exchange(&new_request(&["sign", &user, &a1, &a2])),
        );
        assert!(r.status == 0 && r.err.is_empty(), "{what}: {r:?}");
        let outs = new_outputs(&r.out);
        assert_eq!(outs.len(), 2, "{what}: output count");
        self.check_v3(&outs[0], h, &d1, 0, time, &what);
        self.check_v3(&outs[1], h, &d2, 0, time, &what);
        self.home
            .assert_verifies(&outs[0], DATA, &format!("{what}: first"));
        self.home
            .assert_verifies(&outs[1], HEADER, &format!("{what}: second"));
        // In order: swapped, neither verifies.
        self.home
            .assert_rejected(&outs[0], HEADER, &format!("{what}: first over header"));
    }

    /// A digest whose length does not fit the hash algorithm gets status 1
    /// and no output, whatever the length.
    fn wrong_length(&self, h: Hash, time: u32) {
        for len in [h.len() - 1, h.len() + 1, 20, 32, 64] {
            if len == h.len() {
                continue;
            }
            let arg = hash_arg(&vec![0x42; len], 0, time);
            let r = self.sign_old(h, &arg);
            assert_eq!(
                (r.status, r.out.len()),
                (1, 0),
                "{}: {h:?} with a {len}-byte digest was not refused: {r:?}",
                self.name
            );
            assert!(r.err.ends_with('\n') && r.err.len() > 1, "error text {r:?}");
        }
    }

    /// A hash the key cannot sign (shorter than a DSA/ECDSA group order)
    /// is refused with status 1, as gpg-agent refuses it.
    fn refused(&self, h: Hash, time: u32) {
        let d = h.digest(&[DATA]);
        let r = self.sign_old(h, &hash_arg(&d, 0, time));
        assert_eq!(
            (r.status, r.out.len()),
            (1, 0),
            "{}: {h:?} was not refused: {r:?}",
            self.name
        );
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Keep the daemon log when a test fails.
        if std::thread::panicking() {
            eprintln!("signatrustd log:\n{}", self.daemon.log_text());
        }
    }
}

/// The fingerprint of a v4 issuer-fingerprint subpacket (type 33) in the
/// hashed area of a v4 signature body.
fn issuer_fingerprint(body: &[u8]) -> Option<Vec<u8>> {
    let len = u16::from_be_bytes([body[4], body[5]]) as usize;
    let mut area = &body[6..6 + len];
    while !area.is_empty() {
        let (sub_len, skip) = match area[0] {
            n @ 0..=191 => (n as usize, 1),
            n @ 192..=254 => ((((n as usize) - 192) << 8) + area[1] as usize + 192, 2),
            255 => (
                u32::from_be_bytes([area[1], area[2], area[3], area[4]]) as usize,
                5,
            ),
        };
        let sub = &area[skip..skip + sub_len];
        if sub[0] & 0x7f == 33 && sub.len() == 22 && sub[1] == 4 {
            return Some(sub[2..].to_vec());
        }
        area = &area[skip + sub_len..];
    }
    None
}

fn roundtrip(algo: &str, pubalgo: u8, hashes: &[Hash], too_short: &[Hash]) {
    let s = Served::new(algo, pubalgo);
    let time = now();
    for &h in hashes {
        let v3 = s.v3(h, 0, DATA, time);
        // The oracle can say no: a flipped bit in the signature, or other data.
        let mut bad = v3.clone();
        *bad.last_mut().unwrap() ^= 1;
        s.home
            .assert_rejected(&bad, DATA, &format!("{algo} corrupted"));
        s.home
            .assert_rejected(&v3, HEADER, &format!("{algo} other data"));
        s.v4(h, DATA, time);
        s.two_hashes(h, time);
        s.wrong_length(h, time);
    }
    for &h in too_short {
        s.refused(h, time);
    }
}

#[test]
fn rsa2048() {
    roundtrip("rsa2048", 1, &[Hash::Sha1, Hash::Sha256, Hash::Sha512], &[]);
}

#[test]
fn rsa2048_text_class() {
    // Class 01 (`sign -c`): text without line ends is its own canonical form.
    let s = Served::new("rsa2048", 1);
    s.v3(Hash::Sha256, 1, b"canonical text", now());
}

#[test]
fn rsa4096() {
    roundtrip("rsa4096", 1, &[Hash::Sha256], &[]);
}

#[test]
fn dsa2048() {
    roundtrip("dsa2048", 17, &[Hash::Sha256], &[Hash::Sha1]);
}

#[test]
fn nistp256() {
    roundtrip("nistp256", 19, &[Hash::Sha256], &[Hash::Sha1]);
}

#[test]
fn nistp384() {
    roundtrip("nistp384", 19, &[Hash::Sha512], &[Hash::Sha1, Hash::Sha256]);
}

#[test]
fn ed25519() {
    roundtrip("ed25519", 22, &[Hash::Sha256, Hash::Sha512], &[]);
}
