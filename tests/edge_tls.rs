//! TLS on the listening side (`proxyproto: ssl`): client certificates from
//! our CA over TLS 1.2 and 1.3, `allow_subject:` (exact and /regex/),
//! another CA and a missing certificate refused, certless mode, and the
//! sign-client fixtures replayed byte for byte inside TLS; certificates
//! made by the `openssl` command as obs-signd installations make them
//! (self-signed CA:TRUE and v1 client certificates, subjects with
//! emailAddress, UID and non-ASCII text judged against `openssl x509
//! -nameopt RFC2253`), through the real C client built with OpenSSL; and
//! forwarding to a TLS upstream verified by its chain only.
#[path = "support/client.rs"]
mod client;
mod edge_common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use edge_common::{case, err_text, start, start_keyless, write, Server};

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for 127.0.0.1, client certificates
    /// `good` (CN=obs-backend, O=OBS) and `other` (CN=intruder, O=OBS), and
    /// `stranger` from a second CA (`ca2.pem`).
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca1 = ca("Signatrust Test CA");
        let ca2 = ca("Another CA");
        write(dir.path(), "ca.pem", ca1.pem());
        write(dir.path(), "ca2.pem", ca2.pem());
        leaf(dir.path(), "server", &ca1, "127.0.0.1", &[]);
        leaf(
            dir.path(),
            "good",
            &ca1,
            "obs-backend",
            &[(DnType::OrganizationName, "OBS")],
        );
        leaf(
            dir.path(),
            "other",
            &ca1,
            "intruder",
            &[(DnType::OrganizationName, "OBS")],
        );
        leaf(
            dir.path(),
            "stranger",
            &ca2,
            "obs-backend",
            &[(DnType::OrganizationName, "OBS")],
        );
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn sign_conf(&self, extra: &str) -> String {
        format!(
            "allow: 127.0.0.1\nallow-unprivileged-ports: true\nuser: defaultkey@localobs\n\
             proxyproto: ssl\nssl_certfile: {}\nssl_keyfile: {}\nssl_verifyfile: {}\n{extra}",
            self.path("server.pem"),
            self.path("server.key"),
            self.path("ca.pem")
        )
    }

    fn client(
        &self,
        cert: Option<&str>,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(self.path("ca.pem")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let b = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots);
        let cfg = match cert {
            Some(name) => b
                .with_client_auth_cert(
                    CertificateDer::pem_file_iter(self.path(&format!("{name}.pem")))
                        .unwrap()
                        .map(Result::unwrap)
                        .collect(),
                    PrivateKeyDer::from_pem_file(self.path(&format!("{name}.key"))).unwrap(),
                )
                .unwrap(),
            None => b.with_no_client_auth(),
        };
        Arc::new(cfg)
    }
}

fn ca(cn: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, cn);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    dir: &Path,
    name: &str,
    ca: &CertifiedIssuer<'static, KeyPair>,
    cn: &str,
    extra: &[(DnType, &str)],
) {
    // Most significant RDN first in the certificate (O, then CN), so that
    // the RFC 2253 form, which reverses the order, reads "CN=…,O=…".
    let mut p = CertificateParams::new(vec![cn.to_string()]).unwrap();
    p.distinguished_name = DistinguishedName::new();
    for (t, v) in extra {
        p.distinguished_name.push(t.clone(), *v);
    }
    p.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, ca).unwrap();
    write(dir, &format!("{name}.pem"), cert.pem());
    write(dir, &format!("{name}.key"), key.serialize_pem());
}

/// One request over TLS; `Err` if the handshake or the read failed.
async fn tls_exchange(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    request: &[u8],
) -> std::io::Result<Vec<u8>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let io = async {
        let mut s = tokio_rustls::TlsConnector::from(cfg)
            .connect(name, tcp)
            .await?;
        s.write_all(request).await?;
        s.flush().await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok(out)
    };
    tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .expect("TLS exchange within 10 s")
}

async fn server(pki: &Pki, extra: &str) -> Server {
    start(&pki.sign_conf(extra), |c| c.log.file = None).await
}

const REPLAYED: &[&str] = &[
    "detached-sha1-v3",
    "detached-sha256-v3",
    "detached-sha512-v3",
    "detached-default-user-sha256",
    "pubkey",
    "pubkey-sha256",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_replay_over_tls_12_and_13_with_a_good_certificate() {
    let pki = Pki::new();
    let s = server(&pki, "allow_subject: CN=obs-backend,O=OBS\n").await;
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let cfg = pki.client(Some("good"), version);
        for name in REPLAYED {
            let (req, want) = case(name);
            let got = tls_exchange(s.addr, cfg.clone(), &req).await.unwrap();
            assert_eq!(got, want, "{name} over {version:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_subject_is_denied_with_its_subject() {
    let pki = Pki::new();
    let (req, _) = case("detached-sha256-v3");
    let s = server(&pki, "allow_subject: CN=obs-backend,O=OBS\n").await;
    let got = tls_exchange(
        s.addr,
        pki.client(Some("other"), &rustls::version::TLS13),
        &req,
    )
    .await
    .unwrap();
    assert_eq!(&got[..2], &[0, 1]);
    assert_eq!(err_text(&got), "certificate denied: CN=intruder,O=OBS");
    // A regex admits both.
    let s = server(&pki, "allow_subject: /^CN=(obs-backend|intruder),O=OBS$/\n").await;
    for who in ["good", "other"] {
        let got = tls_exchange(s.addr, pki.client(Some(who), &rustls::version::TLS12), &req)
            .await
            .unwrap();
        assert_eq!(&got[..2], &[0, 0], "{who}: {}", err_text(&got));
    }
}

/// A refused handshake: an error, or a connection closed without a reply.
fn refused(r: std::io::Result<Vec<u8>>) -> bool {
    match r {
        Err(_) => true,
        Ok(bytes) => bytes.is_empty(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_ca_and_missing_certificate_are_refused() {
    let pki = Pki::new();
    let (req, _) = case("detached-sha256-v3");
    let s = server(&pki, "").await;
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let r = tls_exchange(s.addr, pki.client(Some("stranger"), version), &req).await;
        assert!(refused(r), "certificate of another CA accepted");
        let r = tls_exchange(s.addr, pki.client(None, version), &req).await;
        assert!(refused(r), "missing certificate accepted");
    }
    // A plaintext client gets nothing useful either.
    let plain = edge_common::exchange(s.addr, &req).await;
    assert!(plain.len() < 6 || plain[..2] != [0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certless_mode_accepts_clients_without_a_certificate() {
    let pki = Pki::new();
    let s = server(&pki, "ssl_allow_certless: true\n").await;
    let (req, want) = case("detached-sha256-v3");
    for cert in [None, Some("good")] {
        let got = tls_exchange(s.addr, pki.client(cert, &rustls::version::TLS13), &req)
            .await
            .unwrap();
        assert_eq!(got, want, "{cert:?}");
    }
    // Still a verified certificate if one is presented.
    let r = tls_exchange(
        s.addr,
        pki.client(Some("stranger"), &rustls::version::TLS13),
        &req,
    )
    .await;
    assert!(refused(r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disallowed_host_gets_a_plaintext_error_before_tls() {
    let pki = Pki::new();
    let s = start(
        &pki.sign_conf("").replace("allow: 127.0.0.1", "allow: 10/8"),
        |c| c.log.file = None,
    )
    .await;
    let r = tls_exchange(
        s.addr,
        pki.client(Some("good"), &rustls::version::TLS13),
        b"",
    )
    .await;
    assert!(refused(r));
    let plain = edge_common::exchange(s.addr, &[0, 0, 0, 0]).await;
    assert_eq!(err_text(&plain), "illegal host 127.0.0.1");
}

/// Behind a load balancer (`[server] proxy_protocol_from`), the PROXY v2
/// header comes before the TLS handshake, and `allow:` judges the client
/// it carries: 10.1.2.3 is served inside TLS, 192.0.2.8 gets signd's
/// plaintext refusal before any handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_protocol_header_comes_before_tls() {
    let pki = Pki::new();
    let s = start(
        &pki.sign_conf("").replace("allow: 127.0.0.1", "allow: 10/8"),
        |c| {
            c.log.file = None;
            c.edge.proxy_protocol_from = vec!["127.0.0.1/32".parse().unwrap()];
        },
    )
    .await;
    // HAProxy's send-proxy-v2 bytes for a TCP4 client (spec §2.2).
    let header = |client: [u8; 4]| {
        let mut h = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
        h.extend_from_slice(&client);
        h.extend_from_slice(&[127, 0, 0, 1, 0x9c, 0x40, 0x14, 0x2f]);
        h
    };
    let (req, want) = case("pubkey");
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(&header([10, 1, 2, 3])).await.unwrap();
    let cfg = pki.client(Some("good"), &rustls::version::TLS13);
    let io = async {
        let mut t = tokio_rustls::TlsConnector::from(cfg)
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await?;
        t.write_all(&req).await?;
        t.flush().await?;
        let mut out = Vec::new();
        t.read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    let got = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, want, "{}", err_text(&got));
    let refused =
        edge_common::exchange(s.addr, &[header([192, 0, 2, 8]), vec![0; 4]].concat()).await;
    assert_eq!(err_text(&refused), "illegal host 192.0.2.8");
}

/// A pure proxy (no keys, no `phrases:`) that listens in plaintext and
/// forwards over TLS (`proto: ssl`, `proxyproto: plain`) to `upstream`,
/// presenting `cert` and trusting `ca` for the upstream's certificate.
async fn tls_forwarding_proxy(pki: &Pki, upstream: SocketAddr, cert: &str, ca: &str) -> Server {
    tls_forwarding_proxy_to(pki, "127.0.0.1", upstream, cert, Some(ca)).await
}

/// [`tls_forwarding_proxy`] with `server: HOST`, and without any
/// `ssl_verifyfile` when `ca` is `None`.
async fn tls_forwarding_proxy_to(
    pki: &Pki,
    host: &str,
    upstream: SocketAddr,
    cert: &str,
    ca: Option<&str>,
) -> Server {
    let verify = ca
        .map(|ca| format!("ssl_verifyfile: {}\n", pki.path(ca)))
        .unwrap_or_default();
    let conf = format!(
        "server: {host}\nport: {}\nproxyport: 5168\nallow: 127.0.0.1\n\
         allow-unprivileged-ports: true\nproto: ssl\nproxyproto: plain\n\
         ssl_certfile: {}\nssl_keyfile: {}\n{verify}",
        upstream.port(),
        pki.path(&format!("{cert}.pem")),
        pki.path(&format!("{cert}.key")),
    );
    start_keyless(&conf, |c| {
        c.log.file = None;
        c.edge.read_timeout = Duration::from_secs(3);
    })
    .await
}

const SIGNPROXY_CASES: &[&str] = &[
    "signproxy-ping",
    "signproxy-pubkey-sha256",
    "signproxy-detached-sha256-v3",
    "signproxy-detached-default-user-sha1",
    "signproxy-rpm-sha256-v3",
    "signproxy-unknown-user",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_to_a_tls_upstream_with_a_client_certificate() {
    let pki = Pki::new();
    // The upstream: TLS with client certificates required, one subject.
    let up = server(&pki, "allow_subject: CN=obs-backend,O=OBS\n").await;
    let proxy = tls_forwarding_proxy(&pki, up.addr, "good", "ca.pem").await;
    let mut ran = 0;
    for name in SIGNPROXY_CASES {
        let (req, want) = case(name);
        let got = edge_common::exchange(proxy.addr, &req).await;
        assert_eq!(got, want, "{name}: {}", err_text(&got));
        ran += 1;
    }
    assert_eq!(ran, SIGNPROXY_CASES.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_upstream_is_verified_and_failures_are_clear_errors() {
    let pki = Pki::new();
    let up = server(&pki, "allow_subject: CN=obs-backend,O=OBS\n").await;
    let (req, _) = case("signproxy-detached-sha256-v3");
    let name = format!("127.0.0.1:{}", up.addr.port());
    // The upstream's certificate is not from the CA we trust.
    let proxy = tls_forwarding_proxy(&pki, up.addr, "good", "ca2.pem").await;
    let t = std::time::Instant::now();
    let got = edge_common::exchange(proxy.addr, &req).await;
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(&got[..2], &[0, 1]);
    assert_eq!(
        err_text(&got),
        format!("upstream signd {name}: server certificate not trusted")
    );
    // The upstream does not trust our client certificate.
    let proxy = tls_forwarding_proxy(&pki, up.addr, "stranger", "ca.pem").await;
    let t = std::time::Instant::now();
    let got = edge_common::exchange(proxy.addr, &req).await;
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(
        err_text(&got),
        format!("upstream signd {name} refused our client certificate")
    );
    // A certificate the upstream trusts but whose subject it does not
    // allow: the upstream's own error is relayed.
    let proxy = tls_forwarding_proxy(&pki, up.addr, "other", "ca.pem").await;
    let got = edge_common::exchange(proxy.addr, &req).await;
    assert_eq!(err_text(&got), "certificate denied: CN=intruder,O=OBS");
    // An upstream that speaks plaintext: no hang, a clear error.
    let plain = start(
        "allow: 127.0.0.1\nallow-unprivileged-ports: true\nuser: defaultkey@localobs\n",
        |c| c.log.file = None,
    )
    .await;
    let proxy = tls_forwarding_proxy(&pki, plain.addr, "good", "ca.pem").await;
    let t = std::time::Instant::now();
    let got = edge_common::exchange(proxy.addr, &req).await;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(
        err_text(&got),
        format!(
            "upstream signd 127.0.0.1:{} is not available",
            plain.addr.port()
        )
    );
}

/// Issue 16 item 3: the upstream's host name is not checked (Perl and the
/// C client verify the chain only). `server: localhost` with a certificate
/// valid for `IP:127.0.0.1` only signs through the proxy. On the old code
/// this answered `server certificate not trusted`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_certificate_is_judged_by_its_chain_not_its_name() {
    let pki = Pki::new();
    let up = server(&pki, "allow_subject: CN=obs-backend,O=OBS\n").await;
    let san = openssl_out(
        pki.dir.path(),
        &[
            "x509",
            "-in",
            "server.pem",
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    );
    assert!(san.contains("IP Address:127.0.0.1"), "{san}");
    assert!(!san.contains("DNS:localhost"), "{san}");
    let proxy = tls_forwarding_proxy_to(&pki, "localhost", up.addr, "good", Some("ca.pem")).await;
    for name in SIGNPROXY_CASES {
        let (req, want) = case(name);
        let got = edge_common::exchange(proxy.addr, &req).await;
        assert_eq!(got, want, "{name}: {}", err_text(&got));
    }
}

/// Issue 16 item 3: without `ssl_verifyfile`/`ssl_verifydir` the proxy
/// starts and verifies the upstream against the system's CA locations
/// (which do not hold our test CA). The old code refused to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_without_a_configured_ca_is_verified_against_the_system_cas() {
    let pki = Pki::new();
    let up = server(&pki, "").await;
    let proxy = tls_forwarding_proxy_to(&pki, "127.0.0.1", up.addr, "good", None).await;
    let (req, _) = case("signproxy-detached-sha256-v3");
    let got = edge_common::exchange(proxy.addr, &req).await;
    assert_eq!(
        err_text(&got),
        format!(
            "upstream signd 127.0.0.1:{}: server certificate not trusted",
            up.addr.port()
        )
    );
}

/// Runs `openssl ARGS` in `dir`; its stdout.
fn openssl_out(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What `openssl x509 -noout -subject -nameopt RFC2253` prints, without
/// `subject=` and the newline: obs-signd's subject text.
fn openssl_subject(dir: &Path, pem: &str) -> String {
    let out = openssl_out(
        dir,
        &[
            "x509", "-in", pem, "-noout", "-subject", "-nameopt", "RFC2253",
        ],
    );
    out.trim_end_matches('\n')
        .strip_prefix("subject=")
        .unwrap()
        .to_string()
}

/// A self-signed certificate as `openssl req -x509` makes it (CA:TRUE
/// with the default configuration): NAME.pem, NAME.key.
fn openssl_self_signed(dir: &Path, name: &str, subj: &str) {
    openssl_out(
        dir,
        &[
            "req",
            "-x509",
            "-utf8",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            subj,
        ],
    );
}

/// A v1 certificate as `openssl x509 -req` makes it without an extensions
/// file, issued by `ca` (CA.pem, CA.key): NAME.pem, NAME.key.
fn openssl_v1(dir: &Path, name: &str, ca: &str, subj: &str) {
    openssl_out(
        dir,
        &[
            "req",
            "-new",
            "-utf8",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            subj,
        ],
    );
    openssl_out(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// A rustls client trusting our test CA and presenting NAME.pem/NAME.key.
fn client_with(
    pki: &Pki,
    name: &str,
    version: &'static rustls::SupportedProtocolVersion,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[version])
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(
        CertificateDer::pem_file_iter(pki.path(&format!("{name}.pem")))
            .unwrap()
            .map(Result::unwrap)
            .collect(),
        PrivateKeyDer::from_pem_file(pki.path(&format!("{name}.key"))).unwrap(),
    )
    .unwrap();
    Arc::new(cfg)
}

/// One request through `openssl s_client FLAG` presenting NAME.pem and
/// NAME.key; the bytes the server sent back.
fn s_client(pki: &Pki, addr: SocketAddr, flag: &str, name: &str, request: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-no_ign_eof", flag, "-connect"])
        .arg(addr.to_string())
        .arg("-CAfile")
        .arg(pki.path("ca.pem"))
        .arg("-cert")
        .arg(pki.path(&format!("{name}.pem")))
        .arg("-key")
        .arg(pki.path(&format!("{name}.key")))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(request).unwrap();
    // Keep stdin open: the client must not close before the reply.
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    out.stdout
}

/// `sign -t` (ping) with the C client built with OpenSSL, presenting
/// NAME.pem/NAME.key and trusting our test CA for the server.
fn ssl_client_ping(pki: &Pki, addr: SocketAddr, name: &str) -> std::process::Output {
    let conf = format!(
        "{}proto: ssl\nssl_certfile: {}\nssl_keyfile: {}\nssl_verifyfile: {}\n",
        client::client_conf(addr.port()),
        pki.path(&format!("{name}.pem")),
        pki.path(&format!("{name}.key")),
        pki.path("ca.pem"),
    );
    let conf_path = write(pki.dir.path(), &format!("client-{name}.conf"), conf);
    std::process::Command::new(client::sign_client_ssl())
        .arg("--config")
        .arg(&conf_path)
        .arg("-t")
        .output()
        .expect("run the sign client")
}

/// Issue 16 item 1: a self-signed client certificate listed in
/// `ssl_verifyfile` (CA:TRUE, from `openssl req -x509`) and a v1
/// certificate (`openssl x509 -req` without extensions) complete the
/// handshake, through the C client and over TLS 1.2 and 1.3; an unlisted
/// self-signed one still does not. The old code (webpki) refused both with
/// `empty reply from server`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_openssl_accepts_are_accepted() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    openssl_self_signed(dir, "self", "/CN=self-signed client/O=OBS");
    openssl_self_signed(dir, "unlisted", "/CN=unlisted client/O=OBS");
    openssl_self_signed(dir, "oca", "/CN=OpenSSL CA");
    openssl_v1(dir, "v1", "oca", "/CN=v1 client/O=OBS");
    let text = openssl_out(dir, &["x509", "-in", "self.pem", "-noout", "-text"]);
    assert!(text.contains("CA:TRUE"), "{text}");
    let text = openssl_out(dir, &["x509", "-in", "v1.pem", "-noout", "-text"]);
    assert!(text.contains("Version: 1 (0x0)"), "{text}");
    let listed = format!(
        "{}{}",
        std::fs::read_to_string(pki.path("self.pem")).unwrap(),
        std::fs::read_to_string(pki.path("oca.pem")).unwrap()
    );
    write(dir, "listed.pem", listed);
    let s = server(
        &pki,
        &format!("proxyssl_verifyfile: {}\n", pki.path("listed.pem")),
    )
    .await;
    for name in ["self", "v1"] {
        let out = ssl_client_ping(&pki, s.addr, name);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (req, want) = case("detached-sha256-v3");
    // rustls refuses to present a v1 certificate; OpenSSL's client does,
    // over either version (the handshake signature path differs).
    for flag in ["-tls1_2", "-tls1_3"] {
        for name in ["self", "v1"] {
            let got = s_client(&pki, s.addr, flag, name, &req);
            assert_eq!(got, want, "{name} {flag}: {}", err_text(&got));
        }
    }
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let got = tls_exchange(s.addr, client_with(&pki, "self", version), &req)
            .await
            .unwrap();
        assert_eq!(got, want, "self over {version:?}: {}", err_text(&got));
        let r = tls_exchange(s.addr, client_with(&pki, "unlisted", version), &req).await;
        assert!(
            refused(r),
            "an unlisted self-signed certificate was accepted"
        );
    }
    let out = ssl_client_ping(&pki, s.addr, "unlisted");
    assert!(!out.status.success());
}

/// Issue 16 item 2: our subject text is OpenSSL's RFC 2253 text, for
/// certificates made by `openssl req` with emailAddress, UID, DC, non-ASCII
/// text, multi-valued RDNs and characters that need escaping.
#[test]
fn subject_text_is_what_openssl_prints() {
    let dir = tempfile::tempdir().unwrap();
    let subjects = [
        "/C=DE/L=N\u{fc}rnberg/O=SUSE/CN=obs-backend/emailAddress=obs@example.org",
        "/DC=org/DC=example/UID=worker1/CN=Worker One",
        "/CN=a\\,b+OU=x\\+y/O=\\#hash/OU=trailing ",
        "/CN=\u{65e5}\u{672c}/O=caf\u{e9} \"quoted\" <x>;y",
        "/serialNumber=42/title=Dr/GN=Ann/SN=Smith/street=Main 1/postalCode=90402",
        "/CN=plain",
    ];
    for (i, subj) in subjects.iter().enumerate() {
        let name = format!("c{i}");
        openssl_out(
            dir.path(),
            &[
                "req",
                "-x509",
                "-utf8",
                "-multivalue-rdn",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-subj",
                subj,
            ],
        );
        let want = openssl_subject(dir.path(), &format!("{name}.pem"));
        let der = CertificateDer::from_pem_file(dir.path().join(format!("{name}.pem"))).unwrap();
        let got = signatrust::server::tls::rfc2253_subject(&der).unwrap();
        assert_eq!(got, want, "{subj}");
    }
}

/// Issue 16 item 2, string types `openssl req` does not choose: BMP, T61,
/// IA5, Printable, Universal, and an attribute OpenSSL has no name for.
#[test]
fn subject_text_of_other_string_types_is_what_openssl_prints() {
    use openssl::asn1::{Asn1Object, Asn1Type};
    use openssl::nid::Nid;
    let dir = tempfile::tempdir().unwrap();
    let key = openssl::pkey::PKey::from_ec_key(
        openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let cases: &[(&str, &str, Asn1Type)] = &[
        ("CN", "bmp \u{fc}", Asn1Type::BMPSTRING),
        ("CN", "t61 x", Asn1Type::T61STRING),
        ("emailAddress", "a@b.c", Asn1Type::IA5STRING),
        ("C", "DE", Asn1Type::PRINTABLESTRING),
        ("1.2.3.4.5", "unknown", Asn1Type::UTF8STRING),
        ("O", "ctl\x01x", Asn1Type::UTF8STRING),
    ];
    for (i, (field, value, ty)) in cases.iter().enumerate() {
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        let obj = Asn1Object::from_str(field).unwrap();
        let nid = obj.nid();
        if nid == Nid::UNDEF {
            name.append_entry_by_text_with_type(field, value, *ty)
                .unwrap();
        } else {
            name.append_entry_by_nid_with_type(nid, value, *ty).unwrap();
        }
        name.append_entry_by_text("OU", "unit").unwrap();
        let name = name.build();
        let mut b = openssl::x509::X509Builder::new().unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(2).unwrap())
            .unwrap();
        b.sign(&key, openssl::hash::MessageDigest::sha256())
            .unwrap();
        let cert = b.build();
        let pem = format!("t{i}.pem");
        write(dir.path(), &pem, cert.to_pem().unwrap());
        let want = openssl_subject(dir.path(), &pem);
        let got = signatrust::server::tls::rfc2253_subject(&cert.to_der().unwrap()).unwrap();
        assert_eq!(got, want, "{field} {ty:?}");
    }
}

/// Issue 16 item 2 through the C client: an `allow_subject:` line copied
/// from `openssl x509 -noout -subject -nameopt RFC2253` admits the
/// certificate (emailAddress, UID, a city `Nürnberg`); another line denies
/// it with OpenSSL's text. On the old code (`Email=`, `uid=`, unescaped
/// UTF-8) it was denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_subject_copied_from_openssl_admits_through_the_ssl_client() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    openssl_out(
        dir,
        &[
            "req",
            "-new",
            "-utf8",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "alice.key",
            "-out",
            "alice.csr",
            "-subj",
            "/C=DE/L=N\u{fc}rnberg/O=OBS/UID=alice/CN=obs-backend/emailAddress=obs@example.org",
        ],
    );
    // Issued by a CA openssl makes, as a v3 end-entity certificate (an
    // extensions file), so that only the subject text is under test here.
    openssl_self_signed(dir, "oca", "/CN=OpenSSL CA");
    write(
        dir,
        "alice.ext",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    );
    openssl_out(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "alice.csr",
            "-CA",
            "oca.pem",
            "-CAkey",
            "oca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "alice.ext",
            "-out",
            "alice.pem",
        ],
    );
    let subject = openssl_subject(dir, "alice.pem");
    assert!(
        subject.contains("emailAddress=obs@example.org"),
        "{subject}"
    );
    assert!(subject.contains("UID=alice"), "{subject}");
    assert!(subject.contains("L=N\\C3\\BCrnberg"), "{subject}");
    let verify = format!("proxyssl_verifyfile: {}\n", pki.path("oca.pem"));
    let s = server(&pki, &format!("{verify}allow_subject: {subject}\n")).await;
    let out = ssl_client_ping(&pki, s.addr, "alice");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = server(&pki, &format!("{verify}allow_subject: CN=someone-else\n")).await;
    let out = ssl_client_ping(&pki, s.addr, "alice");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("certificate denied: {subject}")),
        "{err}"
    );
}

/// v1 certificates on our own side too (issue 16 item 1's kind): a
/// listener whose server certificate is v1 (`openssl x509 -req`, no
/// extensions) serves the C client, and a proxy presenting a v1 client
/// certificate forwards to it. rustls's own constructors refuse to load
/// such a certificate at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_certificates_as_our_own_server_and_client_certificates() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    openssl_self_signed(dir, "oca", "/CN=OpenSSL CA");
    openssl_v1(dir, "v1srv", "oca", "/CN=127.0.0.1");
    openssl_v1(dir, "v1cli", "oca", "/O=OBS/CN=obs-backend");
    let text = openssl_out(dir, &["x509", "-in", "v1srv.pem", "-noout", "-text"]);
    assert!(text.contains("Version: 1 (0x0)"), "{text}");
    let up = start(
        &format!(
            "allow: 127.0.0.1\nallow-unprivileged-ports: true\nuser: defaultkey@localobs\n\
             proxyproto: ssl\nssl_certfile: {}\nssl_keyfile: {}\nssl_verifyfile: {}\n\
             allow_subject: CN=obs-backend,O=OBS\n",
            pki.path("v1srv.pem"),
            pki.path("v1srv.key"),
            pki.path("oca.pem"),
        ),
        |c| c.log.file = None,
    )
    .await;
    // The C client, trusting oca.pem for the server.
    let conf = format!(
        "{}proto: ssl\nssl_certfile: {}\nssl_keyfile: {}\nssl_verifyfile: {}\n",
        client::client_conf(up.addr.port()),
        pki.path("v1cli.pem"),
        pki.path("v1cli.key"),
        pki.path("oca.pem"),
    );
    let conf_path = write(dir, "client-v1.conf", conf);
    let out = std::process::Command::new(client::sign_client_ssl())
        .arg("--config")
        .arg(&conf_path)
        .arg("-t")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let proxy = tls_forwarding_proxy_to(&pki, "127.0.0.1", up.addr, "v1cli", Some("oca.pem")).await;
    for name in SIGNPROXY_CASES {
        let (req, want) = case(name);
        let got = edge_common::exchange(proxy.addr, &req).await;
        assert_eq!(got, want, "{name}: {}", err_text(&got));
    }
}
