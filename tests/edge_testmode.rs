//! The real `signatrustd` binary: obs-signd's test hooks (`--test-sign` with
//! `SIGN_CONF`, `-t CMD USER ARGS…`) serving the keys of a gpg home from a
//! scratch store that leaves nothing behind, and a graceful SIGTERM.
mod edge_common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use edge_common::{case, fixtures};

const BIN: &str = env!("CARGO_BIN_EXE_signatrustd");
const ADMIN: &str = env!("CARGO_BIN_EXE_signatrust-admin");

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A signd state directory as the fixtures' server ran in: phrases,
/// aliases, enckeys, a gpg home holding both fixture keys, and sign.conf.
fn signd_state(dir: &Path) -> std::path::PathBuf {
    let fx = fixtures();
    for d in ["phrases", "aliases", "enckeys"] {
        copy_dir(&fx.join("signd-state").join(d), &dir.join(d));
    }
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    for key in ["secret-key.asc", "secret-key-passphrase.asc"] {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args([
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "xxx",
                "--import",
            ])
            .arg(fx.join("obs-sign-t-fixtures").join(key))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let conf = std::fs::read_to_string(fx.join("signd-state/server.conf"))
        .unwrap()
        .replace("@STATE@", &dir.display().to_string());
    let path = dir.join("sign.conf");
    std::fs::write(&path, conf).unwrap();
    path
}

fn run(args: &[&str], sign_conf: &Path, tmp: &Path, stdin: &[u8]) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("SIGN_CONF", sign_conf)
        .env("TMPDIR", tmp)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn test_sign_replays_fixtures_from_a_gpg_home_and_writes_nothing() {
    let state = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let conf = signd_state(state.path());
    let before: Vec<_> = walk(state.path());
    let cases = [
        "detached-sha256-v3",
        "detached-sha1-v3",
        "detached-passphrase-key-sha256",
        "detached-alias-sha256",
        "detached-map-hashprefixed-sha512",
        "pubkey",
        "rpm-sha256-v3",
        "unknown-user-detached",
        "ping",
    ];
    let mut ran = 0;
    for name in cases {
        if !fixtures().join("cases").join(name).exists() {
            continue;
        }
        let (req, want) = case(name);
        let out = run(&["--test-sign"], &conf, tmp.path(), &req);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.stdout,
            want,
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 7, "only {ran} cases found");
    // -t runs one command and prints the raw reply.
    let out = run(&["-t", "ping", ""], &conf, tmp.path(), b"");
    assert_eq!(out.stdout, [0, 0, 0, 0, 0, 0]);
    let (_, want) = case("pubkey");
    let out = run(
        &["-t", "pubkey", "defaultkey@localobs"],
        &conf,
        tmp.path(),
        b"",
    );
    // Same armored key as the old-protocol fixture, in new-protocol framing.
    let armored = &want[6..];
    assert_eq!(&out.stdout[..2], &[0, 0]);
    assert!(out.stdout.ends_with(armored));
    // Nothing written but the configured signd log file: not in the state
    // directory, not in TMPDIR.
    let log = state.path().join("signd.log");
    let mut after = walk(state.path());
    after.retain(|p| Path::new(p) != log);
    assert_eq!(after, before);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains(": -: sign defaultkey@localobs "), "{log}");
    assert_eq!(walk(tmp.path()), Vec::<String>::new());
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        // gpg-agent's sockets and the trustdb are gpg's business.
        if p.file_name().is_some_and(|n| n == "gnupg") {
            continue;
        }
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_and_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = fixtures().join("obs-sign-t-fixtures/secret-key.asc");
    let out = Command::new(ADMIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["key", "import", "defaultkey@localobs"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = dir.path().join("signatrust.toml");
    std::fs::write(
        &toml,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\nallow = [\"127.0.0.1\"]\n\
             allow_unprivileged_ports = true\n"
        ),
    )
    .unwrap();
    let mut daemon = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&toml)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let t = Instant::now();
    let mut inflight = loop {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => break s,
            Err(_) if t.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("daemon did not start: {e}"),
        }
    };
    let (req, want) = case("detached-sha256-v3");
    inflight.write_all(&req[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let kill = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "new connection accepted after SIGTERM"
    );
    inflight.write_all(&req[10..]).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), inflight.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, want);
    let t = Instant::now();
    loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "daemon did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}
