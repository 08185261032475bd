//! Helpers shared by the end-to-end tests (`tests/e2e_*.rs`): the real
//! binaries, throw-away gpg homes, the signd wire format and the packet
//! surgery the `sign` client does.
//!
//! Everything here drives the project from the outside: `signatrust-admin`
//! and `signatrustd` are the built binaries, the server is reached over TCP.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sequoia_openpgp as openpgp;

use openpgp::crypto::{mpi, Password};
use openpgp::packet::key::SecretKeyMaterial;
use openpgp::parse::Parse;

pub const GPG: &str = "/usr/bin/gpg";
pub const ADMIN: &str = env!("CARGO_BIN_EXE_signatrust-admin");
pub const DAEMON: &str = env!("CARGO_BIN_EXE_signatrustd");

#[path = "support/mod.rs"]
mod support;
pub use support::fixtures as fixtures_dir;

pub fn fixture(rel: &str) -> PathBuf {
    fixtures_dir().join(rel)
}

/// A temp dir under /tmp with a short name (gpg-agent's socket path must
/// stay short).
pub fn short_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("e2e")
        .tempdir_in("/tmp")
        .unwrap()
}

/// A private GNUPGHOME; its agent is killed on drop.
pub struct GpgHome {
    dir: tempfile::TempDir,
}

impl GpgHome {
    pub fn new() -> GpgHome {
        let dir = short_tempdir();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        GpgHome { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `gpg --homedir H --batch --no-tty --pinentry-mode loopback ARGS`.
    pub fn gpg(&self, args: &[&str]) -> Output {
        Command::new(GPG)
            .arg("--homedir")
            .arg(self.path())
            .args(["--batch", "--no-tty", "--pinentry-mode", "loopback"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run gpg")
    }

    /// Like [`gpg`](Self::gpg) but asserts success.
    pub fn gpg_ok(&self, args: &[&str]) -> Output {
        let out = self.gpg(args);
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `gpg --verify SIG DATA` with status on fd 1: (success && GOODSIG).
    pub fn verifies(&self, sig: &[u8], data: &[u8]) -> (bool, String) {
        let sig_path = self.path().join("check.sig");
        let data_path = self.path().join("check.data");
        std::fs::write(&sig_path, sig).unwrap();
        std::fs::write(&data_path, data).unwrap();
        let out = self.gpg(&[
            "--status-fd",
            "1",
            "--verify",
            sig_path.to_str().unwrap(),
            data_path.to_str().unwrap(),
        ]);
        let status = String::from_utf8_lossy(&out.stdout).into_owned();
        let ok = out.status.success() && status.contains("[GNUPG:] GOODSIG");
        (
            ok,
            format!("{status}\n{}", String::from_utf8_lossy(&out.stderr)),
        )
    }

    /// Asserts that gpg accepts `sig` over `data` as a good signature.
    pub fn assert_verifies(&self, sig: &[u8], data: &[u8], what: &str) {
        let (ok, log) = self.verifies(sig, data);
        assert!(ok, "{what}: gpg --verify failed:\n{log}");
    }

    /// Asserts that gpg rejects `sig` over `data`.
    pub fn assert_rejected(&self, sig: &[u8], data: &[u8], what: &str) {
        let (ok, log) = self.verifies(sig, data);
        assert!(!ok, "{what}: gpg accepted a bad signature:\n{log}");
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Runs `signatrust-admin --data-dir DATA ARGS`.
/// A `[kms]` section for the file KEK `key_file` (a second configuration
/// for `kek create|rewrap|rotate --to-config`).
pub fn file_kms_toml(key_file: &Path) -> String {
    format!(
        "[kms]\nprovider = \"file\"\nkey_file = \"{}\"\n",
        key_file.display()
    )
}

pub fn admin(data: &Path, args: &[&str]) -> Output {
    Command::new(ADMIN)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run signatrust-admin")
}

/// Like [`admin`] but asserts exit 0 and returns stdout.
pub fn admin_ok(data: &Path, args: &[&str]) -> String {
    let out = admin(data, args);
    assert!(
        out.status.success(),
        "signatrust-admin {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A `signatrustd` process on a loopback port, killed on drop.
pub struct Daemon {
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `signatrustd --data-dir DATA --config T.toml` listening on a
    /// free loopback port, allowing 127.0.0.1 from unprivileged ports.
    /// `extra_toml` is appended to the config (e.g. a `[users]` table).
    pub fn start(data: &Path, extra_toml: &str) -> Daemon {
        Daemon::start_with(data, "", extra_toml)
    }

    /// Like [`start`](Self::start), with `top_toml` written before the
    /// `[server]` table (e.g. `sign_conf = "…"`).
    pub fn start_with(data: &Path, top_toml: &str, extra_toml: &str) -> Daemon {
        Daemon::spawn(data, top_toml, extra_toml, false)
    }

    /// Like [`start_with`](Self::start_with) for a TLS listener (a
    /// sign.conf with `proxyproto: ssl`): ready once it accepts TCP.
    pub fn start_tls(data: &Path, top_toml: &str) -> Daemon {
        Daemon::spawn(data, top_toml, "", true)
    }

    fn spawn(data: &Path, top_toml: &str, extra_toml: &str, tls: bool) -> Daemon {
        let dir = short_tempdir();
        let mut logs = String::new();
        for attempt in 0..5 {
            // A free port; another process could take it before the daemon
            // binds, in which case the daemon exits and we try again.
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let conf = dir.path().join("signatrust.toml");
            std::fs::write(
                &conf,
                format!(
                    "{top_toml}\n[server]\nlisten = [\"{addr}\"]\nallow = [\"127.0.0.1\"]\n\
                     allow_unprivileged_ports = true\n{extra_toml}"
                ),
            )
            .unwrap();
            let log = dir.path().join(format!("daemon-{attempt}.log"));
            let logfile = std::fs::File::create(&log).unwrap();
            let mut child = Command::new(DAEMON)
                // `[log] level` in the file is what the tests mean.
                .env_remove("RUST_LOG")
                .arg("--data-dir")
                .arg(data)
                .arg("--config")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(logfile.try_clone().unwrap())
                .stderr(logfile)
                .spawn()
                .expect("spawn signatrustd");
            if wait_ready(&mut child, addr, tls) {
                return Daemon {
                    addr,
                    child,
                    log,
                    _dir: dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            logs.push_str(&std::fs::read_to_string(&log).unwrap_or_default());
        }
        panic!("signatrustd did not come up after 5 attempts:\n{logs}");
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits up to `within` for the process to exit:
    /// its exit status, or `None` if it is still running then (it is
    /// killed on drop).
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends one request on a new connection and reads the reply to EOF.
    pub fn exchange(&self, request: &[u8]) -> Vec<u8> {
        try_exchange(self.addr, request).unwrap_or_else(|e| {
            panic!(
                "exchange with signatrustd failed: {e}\nlog:\n{}",
                self.log_text()
            )
        })
    }
}

/// Waits until the daemon answers an old-protocol ping, or exits.
/// (With `tls`: until it accepts a TCP connection.)
fn wait_ready(child: &mut Child, addr: SocketAddr, tls: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if tls {
            if TcpStream::connect_timeout(&addr, Duration::from_secs(5)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        if let Ok(reply) = try_exchange(addr, &[0, 0, 0, 0]) {
            return reply == [0, 0, 0, 0, 0, 0];
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request to the server at `addr` (from any thread), reply to EOF.
pub fn exchange_at(addr: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    try_exchange(addr, request)
}

fn try_exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(request)?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)?;
    Ok(reply)
}

/// Old protocol: `u16 userlen | u16 arglen | user | arg`.
pub fn old_request(user: &str, arg: &str) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&(user.len() as u16).to_be_bytes());
    r.extend_from_slice(&(arg.len() as u16).to_be_bytes());
    r.extend_from_slice(user.as_bytes());
    r.extend_from_slice(arg.as_bytes());
    r
}

/// New protocol: `u16 bodylen | u16 0 | u16 argc | u16 len[argc] | args`.
pub fn new_request(args: &[&str]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(args.len() as u16).to_be_bytes());
    for a in args {
        body.extend_from_slice(&(a.len() as u16).to_be_bytes());
    }
    for a in args {
        body.extend_from_slice(a.as_bytes());
    }
    let mut r = Vec::new();
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0]);
    r.extend_from_slice(&body);
    r
}

/// A decoded reply: status, raw `out` and the error text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub out: Vec<u8>,
    pub err: String,
}

pub fn parse_reply(reply: &[u8]) -> Reply {
    assert!(reply.len() >= 6, "short reply {reply:02x?}");
    let status = u16::from_be_bytes([reply[0], reply[1]]);
    let outlen = u16::from_be_bytes([reply[2], reply[3]]) as usize;
    let errlen = u16::from_be_bytes([reply[4], reply[5]]) as usize;
    assert_eq!(reply.len(), 6 + outlen + errlen, "reply length fields");
    Reply {
        status,
        out: reply[6..6 + outlen].to_vec(),
        err: String::from_utf8_lossy(&reply[6 + outlen..]).into_owned(),
    }
}

/// The outputs of a new-protocol `out`: `u16 n | u16 len[n] | data...`.
pub fn new_outputs(out: &[u8]) -> Vec<Vec<u8>> {
    let n = u16::from_be_bytes([out[0], out[1]]) as usize;
    let mut at = 2 + 2 * n;
    let mut v = Vec::new();
    for i in 0..n {
        let len = u16::from_be_bytes([out[2 + 2 * i], out[3 + 2 * i]]) as usize;
        v.push(out[at..at + len].to_vec());
        at += len;
    }
    assert_eq!(at, out.len(), "output lengths add up");
    v
}

/// Body of an old-format tag-2 packet (the only kind signd emits).
pub fn sig_body(pkt: &[u8]) -> &[u8] {
    assert_eq!(pkt[0] & 0xc0, 0x80, "old-format CTB");
    assert_eq!((pkt[0] >> 2) & 0x0f, 2, "tag 2");
    let (hl, len) = match pkt[0] & 3 {
        0 => (2, pkt[1] as usize),
        1 => (3, u16::from_be_bytes([pkt[1], pkt[2]]) as usize),
        2 => (
            5,
            u32::from_be_bytes([pkt[1], pkt[2], pkt[3], pkt[4]]) as usize,
        ),
        _ => panic!("indeterminate length"),
    };
    assert_eq!(pkt.len(), hl + len, "packet length");
    &pkt[hl..]
}

/// An old-format packet with the shortest length encoding.
pub fn old_packet(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let ctb = 0x80 | (tag << 2);
    if body.len() < 256 {
        out.extend_from_slice(&[ctb, body.len() as u8]);
    } else {
        out.push(ctb | 1);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// Named byte strings to look for.
pub type Needles = Vec<(String, Vec<u8>)>;

/// The secret MPIs (and, as a control, the public ones) of a fixture key,
/// parsed independently of the project's code.
pub fn key_material(file: &str, passphrase: Option<&str>) -> (Needles, Needles) {
    let cert = openpgp::Cert::from_file(fixture(&format!("obs-sign-t-fixtures/{file}")))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let (mut secret, mut public) = (Vec::new(), Vec::new());
    for ka in cert.keys().secret() {
        let mut key = ka.key().clone();
        if key.secret().is_encrypted() {
            let pw = Password::from(passphrase.expect("passphrase for an encrypted key"));
            key = key.decrypt_secret(&pw).expect("decrypting the fixture key");
        }
        let id = key.keyid().to_hex();
        match key.mpis() {
            mpi::PublicKey::RSA { n, .. } => public.push((format!("{id} n"), n.value().to_vec())),
            mpi::PublicKey::ElGamal { p, .. } => {
                public.push((format!("{id} p"), p.value().to_vec()))
            }
            other => panic!("{file}: unexpected key type {other:?}"),
        }
        let SecretKeyMaterial::Unencrypted(u) = key.secret() else {
            panic!("{file}: {id} still encrypted");
        };
        u.map(|m| match m {
            mpi::SecretKeyMaterial::RSA { d, p, q, u } => {
                for (n, v) in [("d", d), ("p", p), ("q", q), ("u", u)] {
                    secret.push((format!("{file} {id} RSA {n}"), v.value().to_vec()));
                }
            }
            mpi::SecretKeyMaterial::ElGamal { x } => {
                secret.push((format!("{file} {id} ElGamal x"), x.value().to_vec()));
            }
            _ => panic!("{file}: unexpected secret key type"),
        });
    }
    (secret, public)
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir`, recursively, as (path, bytes).
pub fn read_all(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(read_all(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

/// The plaintext scan over `files` (from [`read_all`]): every `public`
/// value is found (the control: the scan sees the data), and no `secret`
/// value, whole or its 16-byte prefix or suffix, appears in any file.
pub fn assert_scan(files: &[(PathBuf, Vec<u8>)], secret: &Needles, public: &Needles) {
    let names: Vec<String> = files
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let all: Vec<u8> = files.iter().flat_map(|(_, b)| b.clone()).collect();
    for (what, v) in public {
        assert!(
            contains(&all, v),
            "control failed: public {what} not found in {names:?}; the scan sees nothing"
        );
    }
    for (what, v) in secret {
        assert!(v.len() >= 32, "{what} is suspiciously short");
        for (part, bytes) in [
            ("whole", &v[..]),
            ("prefix", &v[..16]),
            ("suffix", &v[v.len() - 16..]),
        ] {
            for (path, hay) in files {
                assert!(
                    !contains(hay, bytes),
                    "{what} ({part}) found in plaintext in {}",
                    path.display()
                );
            }
        }
    }
}
