//! Smoke run of the load generator against an in-process server: every
//! command for a short while, zero errors. No timing assertions.
use std::time::Duration;

use signatrust::config::Config;
use signatrust::daemon;
use signatrust::sign::{generate, HashAlgo, KeyType};
use signatrust_bench::{self as bench, BenchCommand, LoadOptions};

// The in-process server of the main package's integration tests.
#[path = "../../../tests/support/mod.rs"]
mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_generator_runs_clean_against_a_test_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A populated store, as the 100k-key benchmark uses (small here).
    let n = bench::populate(&data, 50, KeyType::Ed25519, "k", 20)
        .await
        .unwrap();
    assert_eq!(n, 50);

    let mut config = Config::load(Some(data), None, None).unwrap();
    config.access.allow_unprivileged_ports = true;
    let service = daemon::build(config).await.unwrap();
    let rsa = generate(KeyType::Rsa2048, "Smoke RSA <rsa@example.org>").unwrap();
    service.ctx.keys.import("rsa", &rsa).await.unwrap();

    let server = support::serve(&service).await;
    let addr = server.addr;

    let runs = [
        ("rsa", BenchCommand::Sign1, HashAlgo::Sha256, 2000),
        ("k000049", BenchCommand::Sign1, HashAlgo::Sha1, 300),
        ("k000000", BenchCommand::Sign2, HashAlgo::Sha512, 300),
        ("k000007", BenchCommand::Pubkey, HashAlgo::Sha256, 200),
        ("k000007", BenchCommand::Ping, HashAlgo::Sha256, 200),
    ];
    for (user, command, hash, ms) in runs {
        let opts = LoadOptions {
            addr,
            user: user.into(),
            hash,
            command,
            concurrency: 8,
            duration: Duration::from_millis(ms),
            reserved_port: false,
            timeout: Duration::from_secs(20),
            spread: 0,
            tls: None,
        };
        let report = bench::run_load(opts.clone()).await.unwrap();
        print!("{}", bench::format_report(&opts, &report));
        assert_eq!(report.errors, 0, "{:?}", report.error_samples);
        assert!(report.ok > 0);
        assert_eq!(report.latencies_us.len() as u64, report.ok);
    }

    // Spread over every key of the populated store (lazy loads).
    let opts = LoadOptions {
        addr,
        user: "k".into(),
        hash: HashAlgo::Sha256,
        command: BenchCommand::Sign2,
        concurrency: 4,
        duration: Duration::from_millis(300),
        reserved_port: false,
        timeout: Duration::from_secs(20),
        spread: 50,
        tls: None,
    };
    let report = bench::run_load(opts.clone()).await.unwrap();
    print!("{}", bench::format_report(&opts, &report));
    assert_eq!(report.errors, 0, "{:?}", report.error_samples);

    // An unknown key is reported as errors, not hidden.
    let opts = LoadOptions {
        addr,
        user: "nosuchkey".into(),
        hash: HashAlgo::Sha256,
        command: BenchCommand::Sign1,
        concurrency: 2,
        duration: Duration::from_millis(100),
        reserved_port: false,
        timeout: Duration::from_secs(5),
        spread: 0,
        tls: None,
    };
    let report = bench::run_load(opts).await.unwrap();
    assert!(report.errors > 0 && report.ok == 0);
    assert!(
        report
            .error_samples
            .iter()
            .any(|e| e.contains("unknown key")),
        "{:?}",
        report.error_samples
    );

    server.stop().await;
}

/// The TLS client and the privsign set-up: a `proto: ssl` server with a
/// client certificate required, the fixture signd key and encryption key
/// imported by `privsign_setup`, and both Perl-made blobs signed with over
/// TLS with zero errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_privsign_run_clean() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Bench Smoke CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(p("ca.pem"), ca.pem()).unwrap();
    for (name, cn) in [("server", "127.0.0.1"), ("client", "obs-backend")] {
        let params = CertificateParams::new(vec![cn.to_string()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        std::fs::write(p(&format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(p(&format!("{name}.key")), key.serialize_pem()).unwrap();
    }
    std::fs::write(
        p("sign.conf"),
        format!(
            "allow: 127.0.0.1\nallow-unprivileged-ports: true\nproto: ssl\n\
             ssl_certfile: {}\nssl_keyfile: {}\nssl_verifyfile: {}\n",
            p("server.pem").display(),
            p("server.key").display(),
            p("ca.pem").display()
        ),
    )
    .unwrap();

    let fixtures = support::fixtures();
    let data = p("data");
    let n = bench::privsign_setup(&data, &fixtures).await.unwrap();
    assert!(n >= 1);
    let config = Config::load(Some(data), None, Some(p("sign.conf"))).unwrap();
    let service = daemon::build(config).await.unwrap();
    let rsa = generate(KeyType::Rsa2048, "Smoke RSA <rsa@example.org>").unwrap();
    service.ctx.keys.import("rsa", &rsa).await.unwrap();
    let server = support::serve(&service).await;
    let addr = server.addr;

    let tls = bench::TlsClient::new(&bench::TlsClientFiles {
        ca: p("ca.pem"),
        cert: Some(p("client.pem")),
        key: Some(p("client.key")),
        server_name: "127.0.0.1".into(),
        resume: false,
    })
    .unwrap();
    let blob = |f: &str| {
        std::fs::read_to_string(fixtures.join("generated").join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    let runs = [
        ("rsa", BenchCommand::Sign1),
        ("ed", BenchCommand::Ping),
        (
            bench::PRIVSIGN_SIGND_USER,
            BenchCommand::Privsign {
                blob_hex: blob("P1-rsa2048-gpgenc.hex"),
            },
        ),
        (
            bench::PRIVSIGN_SIGND_USER,
            BenchCommand::Privsign {
                blob_hex: blob("P2-rsa2048-symenc.hex"),
            },
        ),
    ];
    for (user, command) in runs {
        let opts = LoadOptions {
            addr,
            user: user.into(),
            hash: HashAlgo::Sha256,
            command,
            concurrency: 4,
            duration: Duration::from_millis(300),
            reserved_port: false,
            timeout: Duration::from_secs(20),
            spread: 0,
            tls: Some(tls.clone()),
        };
        let report = bench::run_load(opts.clone()).await.unwrap();
        print!("{}", bench::format_report(&opts, &report));
        if user == "ed" {
            // No such key: the errors come back through TLS, not as
            // handshake failures.
            assert!(report.ok == 0 && report.errors > 0);
            assert!(
                report
                    .error_samples
                    .iter()
                    .all(|e| e.contains("unknown key")),
                "{:?}",
                report.error_samples
            );
        } else {
            assert_eq!(report.errors, 0, "{:?}", report.error_samples);
            assert!(report.ok > 0);
        }
    }

    // Plain TCP to a TLS server is an error, not a hang.
    let opts = LoadOptions {
        addr,
        user: "rsa".into(),
        hash: HashAlgo::Sha256,
        command: BenchCommand::Sign1,
        concurrency: 1,
        duration: Duration::from_millis(100),
        reserved_port: false,
        timeout: Duration::from_secs(5),
        spread: 0,
        tls: None,
    };
    let report = bench::run_load(opts).await.unwrap();
    assert!(report.ok == 0 && report.errors > 0);

    server.stop().await;
}
