//! TLS on the listening side (`proxyproto: ssl`): client certificates from
//! our CA over TLS 1.2 and 1.3, `allow_subject:` (exact and /regex/),
//! another CA and a missing certificate refused, certless mode, and the
//! sign-client fixtures replayed byte for byte inside TLS.
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

/// A pure proxy (no keys, no `phrases:`) that listens in plaintext and
/// forwards over TLS (`proto: ssl`, `proxyproto: plain`) to `upstream`,
/// presenting `cert` and trusting `ca` for the upstream's certificate.
async fn tls_forwarding_proxy(pki: &Pki, upstream: SocketAddr, cert: &str, ca: &str) -> Server {
    let conf = format!(
        "server: 127.0.0.1\nport: {}\nproxyport: 5168\nallow: 127.0.0.1\n\
         allow-unprivileged-ports: true\nproto: ssl\nproxyproto: plain\n\
         ssl_certfile: {}\nssl_keyfile: {}\nssl_verifyfile: {}\n",
        upstream.port(),
        pki.path(&format!("{cert}.pem")),
        pki.path(&format!("{cert}.key")),
        pki.path(ca),
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
