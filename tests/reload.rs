//! SIGHUP reloads what can change without a restart, on the real
//! `signatrustd` process: the TLS server certificate (the file replaced
//! under the same name), the `allow:` list and the default user. New
//! connections see the new ones, a request in flight (a slow client that
//! sent half its request before the signal) finishes with the old ones, and
//! a reload that fails (a TOML parse error; a valid TOML next to an
//! unreadable certificate) keeps every old setting and logs why, naming
//! the file; a later good reload applies (here `allow_subject:`). Each
//! reload, failed or not, is an admin record in the audit trail (`server
//! reload`), read back with `signatrust-admin audit list`, as are the
//! connections refused on the way (hosts before the TLS handshake, the
//! subject after it).
//!
//! Sources: loopback addresses 127.0.0.1 and 127.0.0.2 stand for two
//! hosts; which certificate the server presented is compared byte for byte
//! with the PEM files the test wrote (rcgen).
#[path = "e2e_common.rs"]
mod e2e_common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use e2e_common::*;

fn ca() -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "Reload Test CA");
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

/// A certificate for `cn` (and the SAN 127.0.0.1) signed by `ca`: (PEM
/// certificate, PEM key).
fn leaf(ca: &CertifiedIssuer<'static, KeyPair>, cn: &str) -> (String, String) {
    let mut p = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The TOML: listen, allow `allow`, the sign.conf (TLS), a long read
/// timeout (the slow client waits for a reload), `extra` last.
fn toml(port: u16, sign_conf: &Path, allow: &str, extra: &str) -> String {
    format!(
        "sign_conf = {sign_conf:?}\n[server]\nlisten = [\"127.0.0.1:{port}\"]\n\
         allow = [\"{allow}\"]\nallow_unprivileged_ports = true\nread_timeout_ms = 60000\n{extra}"
    )
}

/// A TLS connection from `source` that has completed its handshake: the
/// stream and the server certificate it was shown.
async fn connect(
    addr: SocketAddr,
    source: &str,
    cfg: &Arc<rustls::ClientConfig>,
) -> std::io::Result<(
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    CertificateDer<'static>,
)> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(format!("{source}:0").parse().unwrap())?;
    let tcp = sock.connect(addr).await?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let s = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_rustls::TlsConnector::from(cfg.clone()).connect(name, tcp),
    )
    .await
    .map_err(|_| std::io::Error::other("handshake timed out"))??;
    let cert = s.get_ref().1.peer_certificates().unwrap()[0].clone();
    Ok((s, cert.into_owned()))
}

/// One request over TLS from `source`: (the server certificate, the reply).
async fn tls_exchange(
    addr: SocketAddr,
    source: &str,
    cfg: &Arc<rustls::ClientConfig>,
    request: &[u8],
) -> std::io::Result<(CertificateDer<'static>, Vec<u8>)> {
    let (mut s, cert) = connect(addr, source, cfg).await?;
    s.write_all(request).await?;
    s.flush().await?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .map_err(|_| std::io::Error::other("reply timed out"))??;
    Ok((cert, out))
}

/// A plain TCP exchange from `source`: a refused peer gets signd's error in
/// plaintext, before any handshake.
async fn plain_exchange(addr: SocketAddr, source: &str, request: &[u8]) -> Vec<u8> {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut s = sock.connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    out
}

fn count(log: &Path, what: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches(what)
        .count()
}

/// Waits until the daemon's log holds `n` lines containing `what`.
fn wait_log(log: &Path, what: &str, n: usize) {
    let end = Instant::now() + Duration::from_secs(20);
    while count(log, what) < n {
        assert!(
            Instant::now() < end,
            "no {n}th {what:?} in the log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_swaps_certificate_allow_list_and_users_for_new_connections_only() {
    let dir = short_tempdir();
    let data = dir.path().join("store");
    let key = fixture("obs-sign-t-fixtures/secret-key.asc");
    admin_ok(&data, &["key", "import", "k", key.to_str().unwrap()]);

    let ca = ca();
    let ca_pem = dir.path().join("ca.pem");
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    let (one_pem, one_key) = leaf(&ca, "server-one");
    let (two_pem, two_key) = leaf(&ca, "server-two");
    let (client_pem, client_key) = leaf(&ca, "obs-backend");
    let (cert_file, key_file) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    std::fs::write(&cert_file, &one_pem).unwrap();
    std::fs::write(&key_file, &one_key).unwrap();
    let sign_conf = dir.path().join("sign.conf");
    std::fs::write(
        &sign_conf,
        format!(
            "proxyproto: ssl\nssl_certfile: {}\nssl_keyfile: {}\nssl_verifyfile: {}\n",
            cert_file.display(),
            key_file.display(),
            ca_pem.display()
        ),
    )
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der(&ca.pem())).unwrap();
    let client = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![der(&client_pem)],
            PrivateKeyDer::from_pem_slice(client_key.as_bytes()).unwrap(),
        )
        .unwrap(),
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let conf = dir.path().join("signatrust.toml");
    std::fs::write(&conf, toml(port, &sign_conf, "127.0.0.1", "")).unwrap();
    let log = dir.path().join("daemon.log");
    let child = Command::new(DAEMON)
        .env_remove("RUST_LOG")
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let mut child = KillOnDrop(child);
    let hup = || {
        assert!(Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success());
    };

    let hash = format!("{}@00656d0f00", "ab".repeat(20));
    let sign_k = old_request("k", &hash);
    let sign_default = old_request("", &hash);
    // Up once it serves a request from 127.0.0.1 with the first certificate.
    let end = Instant::now() + Duration::from_secs(20);
    let (cert, reply) = loop {
        match tls_exchange(addr, "127.0.0.1", &client, &sign_k).await {
            Ok(r) => break r,
            Err(e) if Instant::now() < end => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!(
                "signatrustd did not come up: {e}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
        }
    };
    assert_eq!(cert, der(&one_pem));
    assert_eq!(parse_reply(&reply).status, 0, "{:?}", parse_reply(&reply));
    // No default user yet; 127.0.0.2 is not allowed.
    let (_, reply) = tls_exchange(addr, "127.0.0.1", &client, &sign_default)
        .await
        .unwrap();
    assert_ne!(parse_reply(&reply).status, 0);
    let refused = parse_reply(&plain_exchange(addr, "127.0.0.2", &sign_k).await);
    assert_eq!(refused.err.trim_end(), "illegal host 127.0.0.2");

    // A slow client: handshake done, half of its request sent.
    let (mut slow, slow_cert) = connect(addr, "127.0.0.1", &client).await.unwrap();
    assert_eq!(slow_cert, der(&one_pem));
    let half = sign_k.len() / 2;
    slow.write_all(&sign_k[..half]).await.unwrap();
    slow.flush().await.unwrap();

    // New certificate under the same file names, a new allow list and a
    // default user; SIGHUP.
    std::fs::write(&cert_file, &two_pem).unwrap();
    std::fs::write(&key_file, &two_key).unwrap();
    std::fs::write(
        &conf,
        toml(
            port,
            &sign_conf,
            "127.0.0.2",
            // Read at start-up only: logged, not applied.
            "max_connections = 100\n[users]\ndefault_user = \"k\"\n",
        ),
    )
    .unwrap();
    hup();
    wait_log(&log, "configuration reloaded", 1);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("needs a restart") && l.contains("[server] limits and timeouts")),
        "{text}"
    );

    // New connections: the new certificate, the new allow list, the new
    // default user.
    let (cert, reply) = tls_exchange(addr, "127.0.0.2", &client, &sign_default)
        .await
        .unwrap();
    assert_eq!(
        cert,
        der(&two_pem),
        "new connection shown the old certificate"
    );
    assert_eq!(parse_reply(&reply).status, 0, "{:?}", parse_reply(&reply));
    let refused = parse_reply(&plain_exchange(addr, "127.0.0.1", &sign_k).await);
    assert_eq!(refused.err.trim_end(), "illegal host 127.0.0.1");

    // The request in flight finishes, with the settings it started with
    // (its source, 127.0.0.1, is no longer allowed).
    slow.write_all(&sign_k[half..]).await.unwrap();
    slow.flush().await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parse_reply(&out).status, 0, "{:?}", parse_reply(&out));

    // A TOML that does not parse: nothing changes, the error names the file
    // and line.
    std::fs::write(&conf, "[server\nlisten = 1\n").unwrap();
    hup();
    wait_log(&log, "reload failed, keeping the old settings", 1);
    let text = std::fs::read_to_string(&log).unwrap();
    let failed = text.lines().find(|l| l.contains("reload failed")).unwrap();
    assert!(
        failed.contains(&format!("{}:1", conf.display())),
        "{failed}"
    );
    // A valid TOML (allow 127.0.0.1 again, no default user) next to a
    // certificate that cannot be read: nothing changes either.
    std::fs::write(&conf, toml(port, &sign_conf, "127.0.0.1", "")).unwrap();
    std::fs::write(&cert_file, "not a certificate\n").unwrap();
    hup();
    wait_log(&log, "reload failed, keeping the old settings", 2);
    let text = std::fs::read_to_string(&log).unwrap();
    let failed = text.lines().rfind(|l| l.contains("reload failed")).unwrap();
    assert!(
        failed.contains(&cert_file.display().to_string()),
        "{failed}"
    );
    let (cert, reply) = tls_exchange(addr, "127.0.0.2", &client, &sign_default)
        .await
        .unwrap();
    assert_eq!(cert, der(&two_pem));
    assert_eq!(parse_reply(&reply).status, 0, "{:?}", parse_reply(&reply));
    let refused = parse_reply(&plain_exchange(addr, "127.0.0.1", &sign_k).await);
    assert_eq!(refused.err.trim_end(), "illegal host 127.0.0.1");

    // Files fixed, and the sign.conf now admits another subject only: the
    // next reload applies, and the client's certificate is refused by
    // subject on new connections.
    std::fs::write(&cert_file, &two_pem).unwrap();
    std::fs::write(
        &sign_conf,
        format!(
            "proxyproto: ssl\nssl_certfile: {}\nssl_keyfile: {}\nssl_verifyfile: {}\n\
             allow_subject: CN=someone-else\n",
            cert_file.display(),
            key_file.display(),
            ca_pem.display()
        ),
    )
    .unwrap();
    hup();
    wait_log(&log, "configuration reloaded", 2);
    let (_, reply) = tls_exchange(addr, "127.0.0.1", &client, &sign_k)
        .await
        .unwrap();
    assert_eq!(
        parse_reply(&reply).err.trim_end(),
        "certificate denied: CN=obs-backend"
    );

    // A clean stop writes the audit trail: each reload is an admin record.
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(child.0.wait().unwrap().success());
    let list = admin_ok(&data, &["audit", "list", "--json"]);
    let reloads: Vec<serde_json::Value> = list
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["command"] == "server reload")
        .collect();
    assert_eq!(reloads.len(), 4, "{list}");
    assert_eq!(reloads[0]["kind"], "admin", "{list}");
    assert_eq!(reloads[0]["outcome"], "ok", "{list}");
    let detail = reloads[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("allow") && detail.contains("tls"),
        "{detail}"
    );
    assert_eq!(reloads[3]["outcome"], "ok", "{list}");
    for failed in &reloads[1..3] {
        assert_eq!(failed["outcome"], "error", "{list}");
    }
    // The refusals went into the trail too: hosts refused before the TLS
    // handshake, and the subject refused after it.
    let refusals: Vec<(String, String)> = list
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["kind"] == "refused")
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (text("error"), text("tls_subject"))
        })
        .collect();
    for want in [
        ("illegal host 127.0.0.2", ""),
        ("illegal host 127.0.0.1", ""),
        ("certificate denied: CN=obs-backend", "CN=obs-backend"),
    ] {
        assert!(
            refusals.iter().any(|(e, s)| e == want.0 && s == want.1),
            "{want:?} not in {refusals:?}"
        );
    }
    assert!(reloads[2]["error"]
        .as_str()
        .unwrap()
        .contains(&cert_file.display().to_string()));
}
