//! The real obs-sign C client (`sign`, built unchanged from
//! `../shared/oracles/`) against a spawned `signatrustd`, in each mode OBS
//! uses, every output checked by a verifier that shares no code with
//! Signatrust: `gpg --verify` in a throw-away GNUPGHOME, `rpmkeys --checksig`
//! with a private `--dbpath`, and the `openssl` command line.
//!
//! The server's key is the fixture signd key `defaultkey@localobs` (RSA 2048
//! with an ElGamal encryption subkey), put in the store with
//! `signatrust-admin key import`; project keys are made with `sign -g`.

#[path = "support/client.rs"]
mod client;
#[path = "e2e_common.rs"]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;
use sequoia_openpgp as openpgp;

use openpgp::crypto::mpi;
use openpgp::parse::Parse;

const USER: &str = "defaultkey@localobs";
const TIME: &str = "1700000000";

/// A store holding the fixture signd key, a daemon serving it, a work
/// directory with the client's config, and a gpg home that knows the
/// signd public key.
struct Env {
    _store: tempfile::TempDir,
    daemon: Daemon,
    work: tempfile::TempDir,
    conf: PathBuf,
    gpg: GpgHome,
}

fn public_key_asc() -> PathBuf {
    fixture("obs-sign-t-fixtures/public-key.asc")
}

fn import_signd_key(data: &Path) {
    admin_ok(
        data,
        &[
            "key",
            "import",
            USER,
            fixture("obs-sign-t-fixtures/secret-key.asc")
                .to_str()
                .unwrap(),
        ],
    );
}

impl Env {
    fn new() -> Env {
        let store = short_tempdir();
        let data = store.path().join("store");
        import_signd_key(&data);
        let daemon = Daemon::start(&data, "");
        Env::with_daemon(store, daemon, "")
    }

    fn with_daemon(store: tempfile::TempDir, daemon: Daemon, extra_conf: &str) -> Env {
        let work = short_tempdir();
        let conf = work.path().join("client.conf");
        std::fs::write(
            &conf,
            format!("{}{extra_conf}", client::client_conf(daemon.addr.port())),
        )
        .unwrap();
        let gpg = GpgHome::new();
        gpg.gpg_ok(&["--import", public_key_asc().to_str().unwrap()]);
        Env {
            _store: store,
            daemon,
            work,
            conf,
            gpg,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name))
            .unwrap_or_else(|e| panic!("{name}: {e}\nlog:\n{}", self.daemon.log_text()))
    }

    /// `sign --config client.conf -u USER ARGS` in the work directory.
    fn run(&self, client: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut child = Command::new(client)
            .arg("--config")
            .arg(&self.conf)
            .args(["-u", USER])
            .args(args)
            .current_dir(self.work.path())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the sign client");
        if let Some(data) = stdin {
            child.stdin.take().unwrap().write_all(data).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn sign_with(&self, client: &Path, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
        let out = self.run(client, args, stdin);
        assert!(
            out.status.success(),
            "sign {args:?} failed ({}):\nstderr: {}\ndaemon log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.daemon.log_text()
        );
        out.stdout
    }

    /// The plain client in filter mode as `sign ARGS <>IN 1<>OUT`: stdin
    /// and stdout both files opened read-write, OUT not truncated.
    fn sign_filter_rw(&self, args: &[&str], input: &str, output: &str) {
        let rw = |name: &str| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(self.path(name))
                .unwrap()
        };
        let out = Command::new(client::sign_client())
            .arg("--config")
            .arg(&self.conf)
            .args(["-u", USER])
            .args(args)
            .current_dir(self.work.path())
            .stdin(rw(input))
            .stdout(rw(output))
            .stderr(Stdio::piped())
            .output()
            .expect("run the sign client");
        assert!(
            out.status.success(),
            "sign {args:?} <>{input} 1<>{output} failed ({}):\nstderr: {}\ndaemon log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.daemon.log_text()
        );
    }

    /// Runs the plain client, asserts exit 0, returns stdout.
    fn sign(&self, args: &[&str]) -> Vec<u8> {
        self.sign_with(client::sign_client(), args, None)
    }
}

/// gpg's `--status-fd` output for SIG over DATA (a file path, or none for a
/// clear-signed or inline file); asserts GOODSIG and returns the status.
fn gpg_good(home: &GpgHome, sig: &Path, data: Option<&Path>) -> String {
    let mut args = vec!["--status-fd", "1", "--verify", sig.to_str().unwrap()];
    if let Some(d) = data {
        args.push(d.to_str().unwrap());
    }
    let out = home.gpg(&args);
    let status = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && status.contains("[GNUPG:] GOODSIG"),
        "gpg --verify {} failed:\n{status}\n{}",
        sig.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    status
}

/// The `VALIDSIG` line's fields: (sig creation time, pubkey algo, hash algo).
fn validsig(status: &str) -> (String, String, String) {
    let l = status
        .lines()
        .find(|l| l.starts_with("[GNUPG:] VALIDSIG "))
        .unwrap_or_else(|| panic!("no VALIDSIG in {status}"));
    let f: Vec<&str> = l.split(' ').collect();
    // [GNUPG:] VALIDSIG fpr date ts expire ver reserved pkalgo hashalgo class primary
    (f[4].to_string(), f[8].to_string(), f[9].to_string())
}

/// Asserts the signature packet in `sig` (binary or armored) has version `v`.
fn assert_sig_version(sig: &[u8], v: u8, what: &str) {
    let pp = openpgp::PacketPile::from_bytes(sig).unwrap_or_else(|e| panic!("{what}: {e}"));
    let s = pp
        .descendants()
        .find_map(|p| match p {
            openpgp::Packet::Signature(s) => Some(s.version()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{what}: no signature packet"));
    assert_eq!(s, v, "{what}: signature version");
}

/// Runs a command, asserts success, returns stdout+stderr.
fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

/// The RSA public key of an OpenPGP certificate's primary key as PEM, made
/// from the certificate's MPIs (so openssl can check `-O` signatures).
fn rsa_pem_of(cert_asc: &Path) -> Vec<u8> {
    let cert = openpgp::Cert::from_file(cert_asc).unwrap();
    match cert.primary_key().key().mpis() {
        mpi::PublicKey::RSA { e, n } => {
            let rsa = openssl::rsa::Rsa::from_public_components(
                openssl::bn::BigNum::from_slice(n.value()).unwrap(),
                openssl::bn::BigNum::from_slice(e.value()).unwrap(),
            )
            .unwrap();
            openssl::pkey::PKey::from_rsa(rsa)
                .unwrap()
                .public_key_to_pem()
                .unwrap()
        }
        other => panic!("not an RSA key: {other:?}"),
    }
}

/// `openssl dgst -HASH -verify PUB -signature SIG DATA` says Verified OK.
fn openssl_dgst_ok(hash: &str, pubkey: &Path, sig: &Path, data: &Path) {
    let text = run_ok(
        Command::new("openssl")
            .args(["dgst", &format!("-{hash}"), "-verify"])
            .arg(pubkey)
            .arg("-signature")
            .arg(sig)
            .arg(data),
        "openssl dgst -verify",
    );
    assert!(text.contains("Verified OK"), "{text}");
}

#[test]
fn detached_raw_and_clearsign_v3_and_v4_with_fixed_time() {
    let env = Env::new();
    for hash in ["sha1", "sha256", "sha512"] {
        for (v, flags) in [(3u8, &[][..]), (4u8, &["-4"][..])] {
            let what = format!("{hash} v{v}");
            let data = format!("payload {hash} v{v}\n");
            // -d: armored detached signature in input.asc
            env.write("in.txt", &data);
            let mut args = vec!["-h", hash, "-T", TIME];
            args.extend_from_slice(flags);
            env.sign(&[&args[..], &["-d", "in.txt"]].concat());
            let st = gpg_good(&env.gpg, &env.path("in.txt.asc"), Some(&env.path("in.txt")));
            let (ts, algo, h) = validsig(&st);
            assert_eq!(ts, TIME, "-d {what}: -T time");
            assert_eq!(algo, "1", "-d {what}: RSA");
            let want_h = match hash {
                "sha1" => "2",
                "sha256" => "8",
                _ => "10",
            };
            assert_eq!(h, want_h, "-d {what}: hash");
            assert_sig_version(&env.read("in.txt.asc"), v, &format!("-d {what}"));
            // -D: binary detached signature in input.sig
            env.sign(&[&args[..], &["-D", "in.txt"]].concat());
            let st = gpg_good(&env.gpg, &env.path("in.txt.sig"), Some(&env.path("in.txt")));
            assert_eq!(validsig(&st).0, TIME, "-D {what}");
            assert_sig_version(&env.read("in.txt.sig"), v, &format!("-D {what}"));
            // -c: the file is replaced by its clear-signed form
            env.sign(&[&args[..], &["-c", "in.txt"]].concat());
            let signed = env.read("in.txt");
            assert!(
                signed.starts_with(b"-----BEGIN PGP SIGNED MESSAGE-----"),
                "-c {what}"
            );
            let st = gpg_good(&env.gpg, &env.path("in.txt"), None);
            assert_eq!(validsig(&st).0, TIME, "-c {what}");
            assert_sig_version(&signed, v, &format!("-c {what}"));
        }
    }
    // A tampered file is refused by the same verifier (the check can fail).
    env.write("in.txt", "original\n");
    env.sign(&["-h", "sha256", "-d", "in.txt"]);
    env.write("in.txt", "tampered\n");
    let out = env.gpg.gpg(&[
        "--verify",
        env.path("in.txt.asc").to_str().unwrap(),
        env.path("in.txt").to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "gpg accepted a tampered file");
}

#[test]
fn several_files_per_call_and_stdin_filter() {
    let env = Env::new();
    let names = ["a.txt", "b.txt", "c.txt"];
    for n in names {
        env.write(n, format!("file {n}\n"));
    }
    env.sign(&[&["-h", "sha256", "-d"][..], &names[..]].concat());
    for n in names {
        gpg_good(&env.gpg, &env.path(&format!("{n}.asc")), Some(&env.path(n)));
    }
    // Filter mode: data on stdin, the signature on stdout.
    let data = b"from stdin\n";
    let sig = env.sign_with(
        client::sign_client(),
        &["-h", "sha256", "-T", TIME, "-d"],
        Some(data),
    );
    let sigp = env.write("stdin.asc", &sig);
    let datap = env.write("stdin.txt", data);
    let st = gpg_good(&env.gpg, &sigp, Some(&datap));
    assert_eq!(validsig(&st).0, TIME);
    // Clear-sign filter: signed text on stdout.
    let signed = env.sign_with(client::sign_client(), &["-h", "sha256", "-c"], Some(data));
    let p = env.write("stdin.clear", &signed);
    gpg_good(&env.gpg, &p, None);
}

/// The obs-sign test suite's `empty.rpm` (from the oracle tarball's
/// fixtures, the same bytes as `obs-sign-fixtures/obs-sign-t-fixtures`).
fn empty_rpm() -> Vec<u8> {
    std::fs::read(fixture("obs-sign-t-fixtures/empty.rpm")).unwrap()
}

/// `rpmkeys --checksig -v` with a private rpm database holding `keys`.
fn rpm_checksig(dir: &Path, keys: &[&Path], rpm: &Path) -> String {
    let db = dir.join("rpmdb");
    let _ = std::fs::remove_dir_all(&db);
    std::fs::create_dir_all(&db).unwrap();
    for k in keys {
        run_ok(
            Command::new("rpmkeys")
                .arg("--dbpath")
                .arg(&db)
                .arg("--import")
                .arg(k),
            "rpmkeys --import",
        );
    }
    run_ok(
        Command::new("rpmkeys")
            .arg("--dbpath")
            .arg(&db)
            .args(["--checksig", "-v"])
            .arg(rpm),
        "rpmkeys --checksig",
    )
}

fn assert_line(text: &str, re_start: &str, what: &str) {
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with(re_start) && l.trim_end().ends_with(": OK")),
        "{what}: no line `{re_start} …: OK` in\n{text}"
    );
}

#[test]
fn rpm_v3_v4_header_only_and_noheaderonly() {
    let env = Env::new();
    let key = public_key_asc();
    for (flags, ver) in [(&[][..], "V3"), (&["-4"][..], "V4")] {
        for noheaderonly in [false, true] {
            let what = format!("rpm {ver} noheaderonly={noheaderonly}");
            env.write("empty.rpm", empty_rpm());
            let mut args = vec!["-h", "sha256", "-T", TIME];
            args.extend_from_slice(flags);
            if noheaderonly {
                args.push("--noheaderonly");
            }
            args.extend_from_slice(&["-r", "empty.rpm"]);
            env.sign(&args);
            let text = rpm_checksig(env.work.path(), &[&key], &env.path("empty.rpm"));
            println!("{what}:\n{text}");
            // Default: the header signature and the header+payload one;
            // --noheaderonly: the header+payload signature alone.
            let header = format!("Header {ver} RSA/SHA256 Signature, key ID e40a9a2f");
            assert_line(
                &text,
                &format!("{ver} RSA/SHA256 Signature, key ID e40a9a2f"),
                &what,
            );
            if noheaderonly {
                assert!(!text.contains(&header), "{what}: header signature:\n{text}");
            } else {
                assert_line(&text, &header, &what);
            }
            assert!(
                !text.contains("NOKEY") && !text.contains("BAD"),
                "{what}: {text}"
            );
        }
    }
    // Without the key rpm says NOKEY: the check above can fail.
    let text = {
        let db = env.path("emptydb");
        std::fs::create_dir_all(&db).unwrap();
        let out = Command::new("rpmkeys")
            .arg("--dbpath")
            .arg(&db)
            .args(["--checksig", "-v"])
            .arg(env.path("empty.rpm"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(text.contains("NOKEY"), "{text}");
}

#[test]
fn openssl_raw_sign_with_the_server_key() {
    let env = Env::new();
    let pem = env.write("signd.pem", rsa_pem_of(&public_key_asc()));
    for hash in ["sha256", "sha512"] {
        env.write("blob.bin", format!("raw {hash}\n"));
        env.sign(&["-h", hash, "-O", "blob.bin"]);
        openssl_dgst_ok(hash, &pem, &env.path("blob.bin.sig"), &env.path("blob.bin"));
    }
}

/// A project key from `sign -P P -g rsa@2048`, with its public key
/// (`p.asc`) and its certificate from `sign -C` (`cert.pem`, public key in
/// `cert.pub`).
fn project_key(env: &Env) {
    project_key_of(env, "rsa@2048")
}

/// [`project_key`] of another key type (`rsa@4096`).
fn project_key_of(env: &Env, key_type: &str) {
    let pubkey = env.sign(&[
        "-P",
        "P",
        "-g",
        key_type,
        "800",
        "Test Project",
        "proj@example.org",
    ]);
    assert!(pubkey.starts_with(b"-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    env.write("p.asc", &pubkey);
    env.gpg
        .gpg_ok(&["--import", env.path("p.asc").to_str().unwrap()]);
    let cert = env.sign(&["-P", "P", "-C", "p.asc"]);
    env.write("cert.pem", &cert);
    let c = env.path("cert.pem");
    let text = run_ok(
        Command::new("openssl")
            .args(["verify", "-check_ss_sig", "-CAfile"])
            .arg(&c)
            .arg(&c),
        "openssl verify",
    );
    assert!(text.contains(": OK"), "{text}");
    let pubpem = run_ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(&c),
        "openssl x509 -pubkey",
    );
    env.write("cert.pub", pubpem);
}

/// Expiry of the primary key of `asc` in days from its creation, per gpg.
fn gpg_expiry_days(home: &GpgHome, asc: &Path) -> i64 {
    let out = home.gpg_ok(&[
        "--with-colons",
        "--import-options",
        "show-only",
        "--import",
        asc.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let pubrow: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("pub:"))
        .unwrap_or_else(|| panic!("{text}"))
        .split(':')
        .collect();
    let created: i64 = pubrow[5].parse().unwrap();
    let expires: i64 = pubrow[6].parse().unwrap();
    (expires - created) / 86400
}

#[test]
fn keygen_privsign_extend_and_certificate() {
    let env = Env::new();
    project_key(&env);
    assert_eq!(gpg_expiry_days(&env.gpg, &env.path("p.asc")), 800);
    // privsign in each OpenPGP mode, checked against the project key.
    env.write("f.txt", "project data\n");
    env.sign(&["-P", "P", "-h", "sha256", "-d", "f.txt"]);
    let st = gpg_good(&env.gpg, &env.path("f.txt.asc"), Some(&env.path("f.txt")));
    let keyid = env.sign(&["-P", "P", "-k"]);
    let keyid = String::from_utf8(keyid).unwrap().trim().to_uppercase();
    let goodsig = st
        .lines()
        .find_map(|l| l.strip_prefix("[GNUPG:] GOODSIG "))
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(
        keyid.len() >= 8 && goodsig.ends_with(&keyid),
        "signed by the project key {keyid}:\n{st}"
    );
    env.sign(&["-P", "P", "-4", "-D", "f.txt"]);
    gpg_good(&env.gpg, &env.path("f.txt.sig"), Some(&env.path("f.txt")));
    env.sign(&["-P", "P", "-h", "sha512", "-c", "f.txt"]);
    gpg_good(&env.gpg, &env.path("f.txt"), None);
    // -O with the project key, checked with the certificate's public key.
    env.write("g.bin", "openssl data\n");
    env.sign(&["-P", "P", "-h", "sha256", "-O", "g.bin"]);
    openssl_dgst_ok(
        "sha256",
        &env.path("cert.pub"),
        &env.path("g.bin.sig"),
        &env.path("g.bin"),
    );
    // rpm with the project key: rpm 4.18 imports it and checks both.
    for flags in [&[][..], &["-4"][..]] {
        env.write("empty.rpm", empty_rpm());
        env.sign(
            &[
                &["-P", "P", "-h", "sha256"][..],
                flags,
                &["-r", "empty.rpm"],
            ]
            .concat(),
        );
        let text = rpm_checksig(
            env.work.path(),
            &[&env.path("p.asc")],
            &env.path("empty.rpm"),
        );
        assert!(
            text.contains("Signature, key ID") && !text.contains("NOKEY"),
            "{text}"
        );
        assert!(!text.contains("BAD"), "{text}");
    }
    // -x: extend to 1000 days; gpg sees the new expiry.
    let ext = env.sign(&["-P", "P", "-x", "1000", "p.asc"]);
    let p2 = env.write("p2.asc", &ext);
    let days = gpg_expiry_days(&env.gpg, &p2);
    assert!((999..=1001).contains(&days), "extended to {days} days");
    env.gpg.gpg_ok(&["--import", p2.to_str().unwrap()]);
}

/// A newc cpio archive of `members` (name, data).
fn cpio_newc(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    fn entry(out: &mut Vec<u8>, ino: u32, mode: u32, name: &str, data: &[u8]) {
        let fields = [
            ino,
            mode,
            0,
            0,
            1,
            1_700_000_000,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }
    let mut out = Vec::new();
    for (i, (n, d)) in members.iter().enumerate() {
        entry(&mut out, i as u32 + 1, 0o100644, n, d);
    }
    entry(&mut out, 0, 0, "TRAILER!!!", &[]);
    out
}

/// The (name, data) entries of a newc cpio archive, trailer excluded.
fn cpio_read(mut buf: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = 0usize;
    let hex = |b: &[u8]| usize::from_str_radix(std::str::from_utf8(b).unwrap(), 16).unwrap();
    loop {
        assert_eq!(&buf[..6], b"070701", "newc magic at {off}");
        let size = hex(&buf[54..62]);
        let namesize = hex(&buf[94..102]);
        let name = String::from_utf8(buf[110..110 + namesize - 1].to_vec()).unwrap();
        let mut p = 110 + namesize;
        p = p.div_ceil(4) * 4;
        let data = buf[p..p + size].to_vec();
        p = (p + size).div_ceil(4) * 4;
        if name == "TRAILER!!!" {
            return out;
        }
        out.push((name, data));
        buf = &buf[p..];
        off += p;
    }
}

/// `--bulk-cpio`: one request with up to 100 hashes, each `.sig` checked
/// with `openssl dgst -verify`.
fn bulk_cpio(env: &Env, privsign: bool, pubkey: &Path) {
    let members: Vec<(String, Vec<u8>)> = (0..100)
        .map(|i| {
            (
                format!("lib/modules/m{i:03}.ko"),
                format!("module {i} {}", "x".repeat(i)).into_bytes(),
            )
        })
        .collect();
    env.write("mods.cpio", cpio_newc(&members));
    let mut args = vec![];
    if privsign {
        args.extend_from_slice(&["-P", "P"]);
    }
    args.extend_from_slice(&["-h", "sha256", "-O", "--bulk-cpio", "mods.cpio"]);
    env.sign(&args);
    let sigs = cpio_read(&env.read("mods.cpio.sig"));
    assert_eq!(sigs.len(), members.len(), "one .sig per member");
    for ((name, data), (sname, sig)) in members.iter().zip(&sigs) {
        assert_eq!(sname, &format!("{name}.sig"));
        let d = env.write("member", data);
        let s = env.write("member.sig", sig);
        openssl_dgst_ok("sha256", pubkey, &s, &d);
    }
}

#[test]
fn bulk_cpio_100_members_server_key() {
    let env = Env::new();
    let pem = env.write("signd.pem", rsa_pem_of(&public_key_asc()));
    bulk_cpio(&env, false, &pem);
}

#[test]
fn bulk_cpio_100_members_privsign() {
    let env = Env::new();
    project_key(&env);
    bulk_cpio(&env, true, &env.path("cert.pub"));
}

/// RSA-4096 (a reply of ~56 KB): a server key made by `signatrust-admin
/// key generate`, and a `-g rsa@4096` project key with `-P`.
#[test]
fn bulk_cpio_100_members_rsa4096() {
    let store = short_tempdir();
    let data = store.path().join("store");
    admin_ok(
        &data,
        &[
            "key",
            "generate",
            USER,
            "--type",
            "rsa4096",
            "--uid",
            "Bulk <bulk@example.org>",
            "--encryption-subkey",
        ],
    );
    let asc = admin_ok(&data, &["key", "export", USER]);
    let daemon = Daemon::start(&data, "");
    let env = Env::with_daemon(store, daemon, "");
    let a = env.write("k4096.asc", asc);
    let pem = env.write("k4096.pem", rsa_pem_of(&a));
    bulk_cpio(&env, false, &pem);
    project_key_of(&env, "rsa@4096");
    bulk_cpio(&env, true, &env.path("cert.pub"));
}

/// The bulk path as far as the 8192-byte reply limit of before let it go:
/// 20 RSA-2048 members in one request.
#[test]
fn bulk_cpio_20_members() {
    let env = Env::new();
    let pem = env.write("signd.pem", rsa_pem_of(&public_key_asc()));
    let members: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| (format!("m{i}.ko"), format!("module {i}").into_bytes()))
        .collect();
    env.write("mods.cpio", cpio_newc(&members));
    env.sign(&["-h", "sha256", "-O", "--bulk-cpio", "mods.cpio"]);
    let sigs = cpio_read(&env.read("mods.cpio.sig"));
    assert_eq!(sigs.len(), 20);
    for ((name, data), (sname, sig)) in members.iter().zip(&sigs) {
        assert_eq!(sname, &format!("{name}.sig"));
        let d = env.write("member", data);
        let s = env.write("member.sig", sig);
        openssl_dgst_ok("sha256", &pem, &s, &d);
    }
}

/// A CMS `SignedData` (DER) checked by `openssl cms -verify` against
/// `content`, trusting `cert` as its own CA.
fn cms_verify(dir: &Path, der: &[u8], content: &Path, cert: &Path) -> String {
    let p = dir.join("cms.der");
    std::fs::write(&p, der).unwrap();
    run_ok(
        Command::new("openssl")
            .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
            .arg(&p)
            .arg("-content")
            .arg(content)
            .arg("-certfile")
            .arg(cert)
            .args(["-noverify", "-out", "/dev/null"]),
        "openssl cms -verify",
    )
}

#[test]
fn cmssign_and_kosign() {
    let env = Env::new();
    project_key(&env);
    // --cmssign: detached CMS in f.txt.p7s
    let f = env.write("f.txt", "cms content\n");
    env.sign(&[
        "-P",
        "P",
        "-h",
        "sha256",
        "--cert",
        "cert.pem",
        "--cmssign",
        "f.txt",
    ]);
    let p7s = env.read("f.txt.p7s");
    let der = if p7s.starts_with(b"-----BEGIN") {
        let text = String::from_utf8(p7s).unwrap();
        let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        openssl::base64::decode_block(&b64).unwrap()
    } else {
        p7s
    };
    let text = cms_verify(env.work.path(), &der, &f, &env.path("cert.pem"));
    assert!(text.contains("Verification successful"), "{text}");
    // A different content is refused.
    let other = env.write("other.txt", "other content\n");
    let p = env.write("cms.der", &der);
    let out = Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
        .arg(&p)
        .arg("-content")
        .arg(&other)
        .arg("-certfile")
        .arg(env.path("cert.pem"))
        .args(["-noverify", "-out", "/dev/null"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "openssl accepted other content");

    // --kosign: module || PKCS#7 || module_signature || magic
    let ko = std::fs::read(fixture("inputs/tiny.ko")).unwrap();
    env.write("tiny.ko", &ko);
    env.sign(&[
        "-P", "P", "-h", "sha256", "--cert", "cert.pem", "--kosign", "tiny.ko",
    ]);
    let signed = env.read("tiny.ko");
    let magic = b"~Module signature appended~\n";
    assert!(signed.ends_with(magic), "no module signature magic");
    let body = &signed[..signed.len() - magic.len()];
    let info = &body[body.len() - 12..];
    assert_eq!(info[2], 2, "id_type PKEY_ID_PKCS7");
    let siglen = u32::from_be_bytes(info[8..12].try_into().unwrap()) as usize;
    let module = &body[..body.len() - 12 - siglen];
    let pkcs7 = &body[body.len() - 12 - siglen..body.len() - 12];
    assert_eq!(module, &ko[..], "module bytes unchanged");
    let m = env.write("module.bin", module);
    let text = cms_verify(env.work.path(), pkcs7, &m, &env.path("cert.pem"));
    assert!(text.contains("Verification successful"), "{text}");
}

#[test]
fn appimage_signature_in_its_section() {
    let env = Env::new();
    // An ELF with an empty .sha256_sig section, as appimagetool leaves it.
    let app = env.path("app.AppImage");
    let zeros = env.write("zeros", vec![0u8; 2048]);
    run_ok(
        Command::new("objcopy")
            .arg("--add-section")
            .arg(format!(".sha256_sig={}", zeros.display()))
            .arg("/bin/true")
            .arg(&app),
        "objcopy --add-section",
    );
    // The client signs the 64 hex digits in FILE.digest.
    let digest = "ab".repeat(32);
    let dfile = env.write("app.AppImage.digest", &digest);
    env.sign(&["-h", "sha256", "-T", TIME, "-a", "app.AppImage"]);
    let sect = env.path("sect");
    run_ok(
        Command::new("objcopy")
            .arg("--dump-section")
            .arg(format!(".sha256_sig={}", sect.display()))
            .arg(&app)
            .arg(env.path("dump.elf")),
        "objcopy --dump-section",
    );
    let raw = std::fs::read(&sect).unwrap();
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    assert!(raw[..end].starts_with(b"-----BEGIN PGP SIGNATURE-----"));
    let sig = env.write("app.sig", &raw[..end]);
    let st = gpg_good(&env.gpg, &sig, Some(&dfile));
    assert_eq!(validsig(&st).0, TIME);
}

#[test]
fn over_tls_with_the_ssl_client() {
    use rcgen::{CertificateParams, CertifiedIssuer, DnType, KeyPair};
    let pki = short_tempdir();
    let w = |name: &str, data: String| {
        let p = pki.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    let mut cap = CertificateParams::new(Vec::<String>::new()).unwrap();
    cap.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    cap.distinguished_name.push(DnType::CommonName, "Test CA");
    let ca = CertifiedIssuer::self_signed(cap, KeyPair::generate().unwrap()).unwrap();
    let ca_pem = w("ca.pem", ca.pem());
    let leaf = |cn: &str| {
        let mut p = CertificateParams::new(vec![cn.to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        let k = KeyPair::generate().unwrap();
        let c = p.signed_by(&k, &ca).unwrap();
        (c.pem(), k.serialize_pem())
    };
    let (sc, sk) = leaf("127.0.0.1");
    let (cc, ck) = leaf("obs-backend");
    let (server_cert, server_key) = (w("server.pem", sc), w("server.key", sk));
    let (client_cert, client_key) = (w("client.pem", cc), w("client.key", ck));
    let sign_conf = w(
        "sign.conf",
        format!(
            "allow: 127.0.0.1\nallow-unprivileged-ports: true\nuser: {USER}\n\
             proxyproto: ssl\nssl_certfile: {}\nssl_keyfile: {}\nssl_verifyfile: {}\n",
            server_cert.display(),
            server_key.display(),
            ca_pem.display()
        ),
    );
    let store = short_tempdir();
    let data = store.path().join("store");
    import_signd_key(&data);
    let daemon = Daemon::start_tls(&data, &format!("sign_conf = \"{}\"", sign_conf.display()));
    let client_conf = format!(
        "proto: ssl\nssl_certfile: {}\nssl_keyfile: {}\nssl_verifyfile: {}\n",
        client_cert.display(),
        client_key.display(),
        ca_pem.display()
    );
    let env = Env::with_daemon(store, daemon, &client_conf);
    let ssl = client::sign_client_ssl();
    env.write("t.txt", "over tls\n");
    env.sign_with(ssl, &["-h", "sha256", "-T", TIME, "-d", "t.txt"], None);
    gpg_good(&env.gpg, &env.path("t.txt.asc"), Some(&env.path("t.txt")));
    env.write("empty.rpm", empty_rpm());
    env.sign_with(ssl, &["-h", "sha256", "-r", "empty.rpm"], None);
    let text = rpm_checksig(
        env.work.path(),
        &[&public_key_asc()],
        &env.path("empty.rpm"),
    );
    assert_line(
        &text,
        "Header V3 RSA/SHA256 Signature, key ID e40a9a2f",
        "tls rpm",
    );
    // The plain client cannot talk to the TLS listener.
    let out = env.run(client::sign_client(), &["-d", "t.txt"], None);
    assert!(!out.status.success(), "plain client succeeded against TLS");
}

/// CRC-32 (IEEE) for the zip writer below.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A zip archive of `files`, stored (no compression).
fn zip_stored(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let le16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let le32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    for (name, data) in files {
        let offset = out.len() as u32;
        let crc = crc32(data);
        // local file header
        le32(&mut out, 0x0403_4b50);
        le16(&mut out, 20);
        le16(&mut out, 0);
        le16(&mut out, 0);
        le16(&mut out, 0);
        le16(&mut out, 0x21);
        le32(&mut out, crc);
        le32(&mut out, data.len() as u32);
        le32(&mut out, data.len() as u32);
        le16(&mut out, name.len() as u16);
        le16(&mut out, 0);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        // central directory entry
        le32(&mut central, 0x0201_4b50);
        le16(&mut central, 20);
        le16(&mut central, 20);
        le16(&mut central, 0);
        le16(&mut central, 0);
        le16(&mut central, 0);
        le16(&mut central, 0x21);
        le32(&mut central, crc);
        le32(&mut central, data.len() as u32);
        le32(&mut central, data.len() as u32);
        le16(&mut central, name.len() as u16);
        le16(&mut central, 0);
        le16(&mut central, 0);
        le16(&mut central, 0);
        le16(&mut central, 0);
        le32(&mut central, 0);
        le32(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    // Zip64 end records, as APPX packages have them (the client insists).
    let le64 = |v: &mut Vec<u8>, x: u64| v.extend_from_slice(&x.to_le_bytes());
    let cd_offset = out.len() as u64;
    out.extend_from_slice(&central);
    let eocd64 = out.len() as u64;
    le32(&mut out, 0x0606_4b50);
    le64(&mut out, 44);
    le16(&mut out, 45);
    le16(&mut out, 45);
    le32(&mut out, 0);
    le32(&mut out, 0);
    le64(&mut out, files.len() as u64);
    le64(&mut out, files.len() as u64);
    le64(&mut out, central.len() as u64);
    le64(&mut out, cd_offset);
    le32(&mut out, 0x0706_4b50);
    le32(&mut out, 0);
    le64(&mut out, eocd64);
    le32(&mut out, 1);
    le32(&mut out, 0x0605_4b50);
    le16(&mut out, 0);
    le16(&mut out, 0);
    le16(&mut out, 0xffff);
    le16(&mut out, 0xffff);
    le32(&mut out, 0xffff_ffff);
    le32(&mut out, 0xffff_ffff);
    le16(&mut out, 0);
    out
}

const BLOCKMAP: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n\
<BlockMap xmlns=\"http://schemas.microsoft.com/appx/2010/blockmap\" \
HashMethod=\"http://www.w3.org/2001/04/xmlenc#sha256\"></BlockMap>\n";
const CONTENT_TYPES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
<Default Extension=\"txt\" ContentType=\"text/plain\"/>\
<Override PartName=\"/AppxBlockMap.xml\" ContentType=\"application/vnd.ms-appx.blockmap+xml\"/>\
<Override PartName=\"/AppxSignature.p7x\" ContentType=\"application/vnd.ms-appx.signature\"/>\
</Types>\n";

/// `osslsigncode verify` of FILE with the project certificate as CA: its
/// output and whether it said the file verified.
fn osslsigncode_verify(env: &Env, file: &str) -> (bool, String) {
    let out = Command::new("osslsigncode")
        .args(["verify", "-in"])
        .arg(env.path(file))
        .arg("-CAfile")
        .arg(env.path("cert.pem"))
        .output()
        .expect("run osslsigncode (Debian package osslsigncode)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("osslsigncode verify {file}:\n{text}");
    (out.status.success(), text)
}

/// One DER element at the start of `b`: (tag, header length, value length).
fn der(b: &[u8]) -> (u8, usize, usize) {
    let tag = b[0];
    let l0 = b[1] as usize;
    if l0 < 0x80 {
        return (tag, 2, l0);
    }
    let n = l0 & 0x7f;
    let len = b[2..2 + n].iter().fold(0usize, |a, &x| a << 8 | x as usize);
    (tag, 2 + n, len)
}

/// The elements inside the constructed element at the start of `b`, each
/// as its full encoding.
fn der_children(b: &[u8]) -> Vec<&[u8]> {
    let (_, h, l) = der(b);
    let mut inner = &b[h..h + l];
    let mut out = Vec::new();
    while !inner.is_empty() {
        let (_, h, l) = der(inner);
        out.push(&inner[..h + l]);
        inner = &inner[h + l..];
    }
    out
}

/// Checks an Authenticode SignedData (DER) with openssl: the messageDigest
/// signed attribute against the SHA-256 of the SpcIndirectDataContent's
/// value, and the RSA signature over the DER of the signed attributes with
/// the certificate's public key (`cert.pub`).
fn authenticode_verify(env: &Env, p7: &[u8]) {
    let ci = der_children(p7); // OID, [0]
    let sd = der_children(der_children(ci[1])[0]); // SignedData fields
    let encap = der_children(sd[2]); // OID, [0] { SpcIndirectDataContent }
    let spc = der_children(encap[1])[0];
    let (_, h, _) = der(spc);
    let content = env.write("spc.bin", &spc[h..]);
    let signer_infos = sd.last().unwrap();
    let si = der_children(der_children(signer_infos)[0]);
    let attrs = si.iter().find(|e| e[0] == 0xa0).expect("signed attributes");
    let sig = si.last().unwrap();
    let (_, h, _) = der(sig);
    let sigp = env.write("si.sig", &sig[h..]);
    // The attributes as signed: a SET, not the [0] of the SignerInfo.
    let mut set = attrs.to_vec();
    set[0] = 0x31;
    let attrsp = env.write("attrs.der", &set);
    openssl_dgst_ok("sha256", &env.path("cert.pub"), &sigp, &attrsp);
    // messageDigest (1.2.840.113549.1.9.4) = SHA-256 of the content.
    let digest = Command::new("openssl")
        .args(["dgst", "-sha256", "-binary"])
        .arg(&content)
        .output()
        .unwrap()
        .stdout;
    let oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04,
    ];
    let at = set
        .windows(oid.len())
        .position(|w| w == oid)
        .expect("messageDigest attribute");
    let after = &set[at + oid.len()..]; // SET { OCTET STRING }
    let octets = der_children(after)[0];
    let (_, h, l) = der(octets);
    assert_eq!(&octets[h..h + l], &digest[..], "messageDigest");
}

/// The (current, calculated) digest pairs osslsigncode printed, by heading.
fn osslsigncode_digests(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut current = String::new();
    for l in text.lines() {
        if l.starts_with("Checking ") {
            heading = l.to_string();
        } else if let Some(v) = l.strip_prefix("Current message digest    : ") {
            current = v.trim().to_string();
        } else if let Some(v) = l.strip_prefix("Calculated message digest : ") {
            out.push((heading.clone(), current.clone(), v.trim().to_string()));
        }
    }
    out
}

#[test]
fn appx_package_verified_by_osslsigncode() {
    let env = Env::new();
    project_key(&env);
    let zip = zip_stored(&[
        ("hello.txt", b"hello appx\n"),
        ("AppxBlockMap.xml", BLOCKMAP.as_bytes()),
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
    ]);
    env.write("app.appx", &zip);
    env.sign(&["-P", "P", "--cert", "cert.pem", "--appx", "app.appx"]);
    let signed = env.read("app.appx");
    assert!(signed.len() > zip.len(), "no signature appended");
    // osslsigncode recomputes the package digests the signature covers
    // (block map, content types, data, central directory) and compares
    // them with the signed ones. It then stops at "Code Integrity hash
    // missing": this client version always signs a zero AXCI digest (its
    // appx.c says so), which osslsigncode 2.9 refuses whatever the server.
    let (_, text) = osslsigncode_verify(&env, "app.appx");
    let digests = osslsigncode_digests(&text);
    let headings: Vec<&str> = digests.iter().map(|d| d.0.as_str()).collect();
    for want in [
        "Checking Block Map hashes:",
        "Checking Content Types hashes:",
        "Checking Data hashes:",
        "Checking Central Directory hashes:",
    ] {
        assert!(headings.contains(&want), "{want} missing:\n{text}");
    }
    for (h, cur, calc) in &digests {
        assert_eq!(cur, calc, "{h}\n{text}");
    }
    // The signature over those digests: the Authenticode SignedData in
    // AppxSignature.p7x (after its "PKCX" magic). `openssl cms` cannot take
    // its content type, so the pieces are cut out here and openssl checks
    // them: the messageDigest attribute is the SHA-256 of the
    // SpcIndirectDataContent, and the signature covers the attributes.
    let p7x = Command::new("unzip")
        .args(["-p"])
        .arg(env.path("app.appx"))
        .arg("AppxSignature.p7x")
        .output()
        .expect("run unzip");
    assert!(p7x.status.success() && p7x.stdout.starts_with(b"PKCX"));
    authenticode_verify(&env, &p7x.stdout[4..]);
    // A changed member is caught by osslsigncode's digest check.
    let mut bad = signed.clone();
    let at = bad.windows(10).position(|w| w == b"hello appx").unwrap();
    bad[at] = b'J';
    env.write("bad.appx", &bad);
    let (_, text) = osslsigncode_verify(&env, "bad.appx");
    assert!(
        osslsigncode_digests(&text).iter().any(|(_, a, b)| a != b),
        "osslsigncode saw no changed digest:\n{text}"
    );
}

/// A minimal PE32 image: DOS header, PE header, optional header with 16
/// data directories (no certificate table), one `.text` section of 0x200
/// bytes.
fn tiny_pe() -> Vec<u8> {
    let mut b = vec![0u8; 0x400];
    let put16 =
        |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    b[0..2].copy_from_slice(b"MZ");
    put32(&mut b, 0x3c, 0x40);
    b[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    put16(&mut b, coff, 0x14c); // i386
    put16(&mut b, coff + 2, 1); // sections
    put16(&mut b, coff + 16, 0xe0); // optional header size
    put16(&mut b, coff + 18, 0x0102); // executable, 32-bit
    let opt = coff + 20;
    put16(&mut b, opt, 0x10b); // PE32
    put32(&mut b, opt + 4, 0x200); // SizeOfCode
    put32(&mut b, opt + 16, 0x1000); // AddressOfEntryPoint
    put32(&mut b, opt + 20, 0x1000); // BaseOfCode
    put32(&mut b, opt + 28, 0x40_0000); // ImageBase
    put32(&mut b, opt + 32, 0x1000); // SectionAlignment
    put32(&mut b, opt + 36, 0x200); // FileAlignment
    put16(&mut b, opt + 40, 4); // OS version
    put16(&mut b, opt + 48, 4); // subsystem version
    put32(&mut b, opt + 56, 0x2000); // SizeOfImage
    put32(&mut b, opt + 60, 0x200); // SizeOfHeaders
    put16(&mut b, opt + 68, 3); // console
    put32(&mut b, opt + 72, 0x10_0000); // stack reserve
    put32(&mut b, opt + 76, 0x1000); // stack commit
    put32(&mut b, opt + 80, 0x10_0000); // heap reserve
    put32(&mut b, opt + 84, 0x1000); // heap commit
    put32(&mut b, opt + 92, 16); // NumberOfRvaAndSizes
    let sect = opt + 0xe0;
    b[sect..sect + 5].copy_from_slice(b".text");
    put32(&mut b, sect + 8, 0x200); // VirtualSize
    put32(&mut b, sect + 12, 0x1000); // VirtualAddress
    put32(&mut b, sect + 16, 0x200); // SizeOfRawData
    put32(&mut b, sect + 20, 0x200); // PointerToRawData
    put32(&mut b, sect + 36, 0x6000_0020); // code, execute, read
    b[0x200] = 0xc3; // ret
    b
}

/// `--pesign` in filter mode. This client version's `pe_write` calls
/// `docopy(outfd, fd, …)` with the descriptors swapped (`docopy` takes the
/// input first): it reads the PE body from its *output* and writes it to
/// its *input*. In file mode that fails ("read: Bad file descriptor", as in
/// the fixtures' privsign-pesign-sha256 case). In filter mode it works when
/// both are read-write and the output already holds a copy of the input:
/// `cp in.exe out.exe; sign --pesign <>in.exe 1<>out.exe` rewrites the
/// header of out.exe, copies the body onto itself, and appends the
/// certificate table, which is exactly the signed file.
#[test]
fn pesign_in_filter_mode_verified_by_osslsigncode() {
    let env = Env::new();
    project_key(&env);
    let pe = tiny_pe();
    env.write("in.exe", &pe);
    env.write("out.exe", &pe);
    env.sign_filter_rw(
        &["-P", "P", "--cert", "cert.pem", "--pesign"],
        "in.exe",
        "out.exe",
    );
    assert_eq!(env.read("in.exe"), pe, "input unchanged");
    let signed = env.read("out.exe");
    assert!(signed.len() > pe.len() && signed.starts_with(b"MZ"));
    let (ok, text) = osslsigncode_verify(&env, "out.exe");
    let digests = osslsigncode_digests(&text);
    assert!(!digests.is_empty(), "no digest check:\n{text}");
    for (h, cur, calc) in &digests {
        assert_eq!(cur, calc, "{h}\n{text}");
    }
    assert!(ok && text.contains("Signature verification: ok"), "{text}");
}
