//! Smoke run of the load generator against an in-process server: every
//! command for a short while, zero errors. No timing assertions.
use std::time::Duration;

use signatrust::bench::{self, BenchCommand, LoadOptions};
use signatrust::config::Config;
use signatrust::daemon;
use signatrust::sign::{generate, HashAlgo, KeyType};
use tokio::net::TcpListener;

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
    config.server.allow_unprivileged_ports = true;
    let service = daemon::build(config).await.unwrap();
    let rsa = generate(KeyType::Rsa2048, "Smoke RSA <rsa@example.org>").unwrap();
    service.ctx.keys.import("rsa", &rsa).await.unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ctx, edge) = (service.ctx.clone(), service.edge.clone());
    let server = tokio::spawn(async move {
        signatrust::server::run(
            listener,
            async {
                let _ = stop_rx.await;
            },
            ctx,
            edge,
        )
        .await;
    });

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

    let _ = stop_tx.send(());
    server.await.unwrap();
}
