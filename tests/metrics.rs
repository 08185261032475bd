//! `/metrics`, `/healthz` and `/readyz` of an in-process server with the
//! fixture keys: scraped during a load run, the request counters equal the
//! requests sent, by command and outcome; `/readyz` is not ready while the
//! key table cannot be read and during the drain after SIGTERM; the queue,
//! cache and database series move with the requests.
mod support;

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyConnectOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use signatrust::config::Config;
use signatrust::daemon;

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body.len(), len, "{head}");
    (status, body.to_owned())
}

/// The value of one sample line, 0 when absent.
fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

fn sign_request(user: &str, n: u32) -> Vec<u8> {
    let digest = hex::encode(openssl::sha::sha256(&n.to_be_bytes()));
    signatrust::protocol::encode_new_request(&[
        "sign".to_owned(),
        format!("SHA256:{user}"),
        format!("{digest}@006553f100"),
    ])
    .unwrap()
}

async fn send(addr: SocketAddr, req: &[u8]) -> bool {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req).await.unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).await.unwrap();
    reply[..2] == [0, 0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_match_the_load_and_readiness_follows_store_and_drain() {
    let fx = support::fixtures();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::load(
        Some(dir.path().join("data")),
        None,
        Some(fx.join("signd-state/server.conf")),
    )
    .unwrap();
    config.access.allow_unprivileged_ports = true;
    config.log.file = None;
    let url = config.store_url.as_str().to_owned();
    let service = daemon::build(config).await.unwrap();
    support::import_fixture_keys(&service.ctx.keys).await;
    let server = support::serve(&service).await;
    let addr = server.addr;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let maddr = listener.local_addr().unwrap();
    let (draining, stop) = (CancellationToken::new(), CancellationToken::new());
    let metrics = tokio::spawn(signatrust::server::serve_metrics(
        listener,
        service.ctx.clone(),
        service.edge.clone(),
        draining.clone(),
        stop.clone(),
    ));
    assert_eq!(get(maddr, "/healthz").await.0, 200);
    let (status, body) = get(maddr, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));

    // The load: per client, signatures, unknown users and public keys.
    let pubkey =
        signatrust::protocol::encode_new_request(&["pubkey", "defaultkey@localobs"]).unwrap();
    let mut clients = Vec::new();
    for c in 0..4u32 {
        let pubkey = pubkey.clone();
        clients.push(tokio::spawn(async move {
            let (mut ok, mut bad, mut pk) = (0u64, 0u64, 0u64);
            for i in 0..25u32 {
                assert!(send(addr, &sign_request("defaultkey@localobs", c * 100 + i)).await);
                ok += 1;
                if i % 3 == 0 {
                    assert!(!send(addr, &sign_request("nobody", i)).await);
                    bad += 1;
                }
                if i % 5 == 0 {
                    assert!(send(addr, &pubkey).await);
                    pk += 1;
                }
            }
            (ok, bad, pk)
        }));
    }
    // Scrapes while the load runs parse and only grow.
    let mut last = 0;
    for _ in 0..5 {
        let (status, text) = get(maddr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(text.ends_with("# EOF\n"), "{text}");
        let now = sample(
            &text,
            "signatrust_requests_total{command=\"sign\",outcome=\"ok\"}",
        );
        assert!(now >= last);
        last = now;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut ok, mut bad, mut pk) = (0, 0, 0);
    for c in clients {
        let (a, b, p) = c.await.unwrap();
        ok += a;
        bad += b;
        pk += p;
    }
    let (_, text) = get(maddr, "/metrics").await;
    let count = |s: &str| sample(&text, s);
    assert_eq!(
        count("signatrust_requests_total{command=\"sign\",outcome=\"ok\"}"),
        ok,
        "{text}"
    );
    assert_eq!(
        count("signatrust_requests_total{command=\"sign\",outcome=\"error\"}"),
        bad,
        "{text}"
    );
    assert_eq!(
        count("signatrust_requests_total{command=\"pubkey\",outcome=\"ok\"}"),
        pk,
        "{text}"
    );
    assert_eq!(
        count("signatrust_request_duration_seconds_count{command=\"sign\"}"),
        ok + bad,
        "{text}"
    );
    assert_eq!(count("signatrust_connections_open"), 0, "{text}");
    assert!(text.contains("signatrust_audit_backlog"), "{text}");
    assert!(text.contains("signatrust_build_info{version=\""), "{text}");

    // The store does not answer as it should: not ready, with the reason;
    // ready again once it does.
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect_with(AnyConnectOptions::from_str(&url).unwrap())
        .await
        .unwrap();
    sqlx::query("ALTER TABLE keys RENAME TO keys_away")
        .execute(&pool)
        .await
        .unwrap();
    let (status, body) = get(maddr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("not ready: "), "{body}");
    sqlx::query("ALTER TABLE keys_away RENAME TO keys")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(get(maddr, "/readyz").await.0, 200);

    // SIGTERM: not ready while draining; metrics still answer.
    draining.cancel();
    let (status, body) = get(maddr, "/readyz").await;
    assert_eq!((status, body.as_str()), (503, "not ready: draining\n"));
    assert_eq!(get(maddr, "/healthz").await.0, 200);
    assert_eq!(get(maddr, "/nothing").await.0, 404);
    server.stop().await;
    service.close().await;
    stop.cancel();
    metrics.await.unwrap();
}

/// The series sampled when scraped move with the requests: a signing key's
/// first use is a key-cache miss read from the database, its second a hit;
/// the crypto queues and the keygen lane are there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_queue_and_database_series_move() {
    let fx = support::fixtures();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::load(
        Some(dir.path().join("data")),
        None,
        Some(fx.join("signd-state/server.conf")),
    )
    .unwrap();
    config.access.allow_unprivileged_ports = true;
    config.log.file = None;
    let service = daemon::build(config).await.unwrap();
    support::import_fixture_keys(&service.ctx.keys).await;
    let server = support::serve(&service).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let maddr = listener.local_addr().unwrap();
    let (draining, stop) = (CancellationToken::new(), CancellationToken::new());
    let metrics = tokio::spawn(signatrust::server::serve_metrics(
        listener,
        service.ctx.clone(),
        service.edge.clone(),
        draining,
        stop.clone(),
    ));
    const HITS: &str = "signatrust_cache_hits_total{cache=\"key\"}";
    const MISSES: &str = "signatrust_cache_misses_total{cache=\"key\"}";
    const READS: &str = "signatrust_db_read_duration_seconds_count";
    const UNWRAPS: &str = "signatrust_kek_duration_seconds_count";
    let (_, before) = get(maddr, "/metrics").await;
    for series in [
        "signatrust_exec_queue_depth{lane=\"sign\"}",
        "signatrust_exec_queue_depth{lane=\"keygen\"}",
        "signatrust_exec_admitted{lane=\"sign\"}",
        "signatrust_keygen_refused_total{reason=\"full\"}",
        "signatrust_cache_hits_total{cache=\"blob\"}",
        "signatrust_db_read_errors_total",
        HITS,
        MISSES,
    ] {
        assert!(
            before.lines().any(|l| l.starts_with(&format!("{series} "))),
            "{series} missing:\n{before}"
        );
    }
    assert!(sample(&before, "signatrust_exec_workers{lane=\"keygen\"}") >= 1);
    assert!(sample(&before, "signatrust_exec_capacity{lane=\"sign\"}") >= 1);

    // First use: a miss, read from the database.
    assert!(send(server.addr, &sign_request("defaultkey@localobs", 1)).await);
    let (_, first) = get(maddr, "/metrics").await;
    assert_eq!(
        sample(&first, MISSES),
        sample(&before, MISSES) + 1,
        "{first}"
    );
    assert_eq!(sample(&first, HITS), sample(&before, HITS), "{first}");
    assert!(sample(&first, READS) > sample(&before, READS), "{first}");
    // The key's DEK was unwrapped by the KEK, once.
    assert_eq!(
        sample(&first, UNWRAPS),
        sample(&before, UNWRAPS) + 1,
        "{first}"
    );
    // Second use of the same key: a hit.
    assert!(send(server.addr, &sign_request("defaultkey@localobs", 2)).await);
    let (_, second) = get(maddr, "/metrics").await;
    assert_eq!(sample(&second, MISSES), sample(&first, MISSES), "{second}");
    assert_eq!(sample(&second, HITS), sample(&first, HITS) + 1, "{second}");
    assert_eq!(sample(&second, "signatrust_db_read_errors_total"), 0);
    assert_eq!(
        sample(&second, UNWRAPS),
        sample(&first, UNWRAPS),
        "{second}"
    );
    assert_eq!(sample(&second, "signatrust_kek_errors_total"), 0);
    // Idle again: nothing queued.
    assert_eq!(
        sample(&second, "signatrust_exec_queue_depth{lane=\"sign\"}"),
        0
    );

    server.stop().await;
    service.close().await;
    stop.cancel();
    metrics.await.unwrap();
}
