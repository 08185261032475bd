//! The database going away under a running server (PostgreSQL, through a
//! loopback relay the test can cut): keys in use keep signing past their
//! TTL (`[cache] stale_if_error_secs`), a key not cached gets a clear error
//! reply within a bound instead of hanging until the request deadline, and
//! the server recovers by itself when the database returns; and a database
//! that stops answering in the middle of an audit transaction costs a
//! bounded wait, not a writer (and a shutdown) that waits forever. Skipped
//! without `$SIGNATRUST_TEST_PG_URL` (CI always sets it).

#[path = "e2e_common.rs"]
mod common;
#[path = "support/pg.rs"]
mod pg;
#[path = "support/relay.rs"]
mod relay;

use std::time::{Duration, Instant};

use common::*;
use relay::Relay;

fn sign(d: &Daemon, user: &str) -> Reply {
    let digest = hex::encode(openssl::sha::sha256(user.as_bytes()));
    parse_reply(&d.exchange(&new_request(&[
        "sign",
        &format!("sha256:{user}"),
        &format!("{digest}@0065000000"),
    ])))
}

/// Generates Ed25519 key `name` in the store at `url`.
fn generate(data: &std::path::Path, url: &str, name: &str) {
    admin_ok(
        data,
        &[
            "--database-url",
            url,
            "key",
            "generate",
            name,
            "--type",
            "ed25519",
            "--uid",
            "Outage <outage@example.org>",
        ],
    );
}

/// A relay to the database of `url` (`postgres://USER:PW@HOST:PORT/DB`)
/// and the URL that reaches the database through it.
fn through_relay(url: &str) -> (Relay, String) {
    let (head, rest) = url.split_once('@').unwrap();
    let (hostport, db) = rest.split_once('/').unwrap();
    let relay = Relay::start(hostport.to_owned());
    let through = format!("{head}@127.0.0.1:{}/{db}", relay.port);
    (relay, through)
}

#[test]
fn database_outage_keeps_keys_in_use_and_recovers() {
    let Some(url) = pg::scratch_database_blocking() else {
        return;
    };
    let dir = short_tempdir();
    let data = dir.path().join("data");
    for name in ["warm", "cold"] {
        generate(&data, &url, name);
    }
    // The server reaches the database through the relay.
    let (relay, relayed) = through_relay(&url);
    let daemon = Daemon::start(
        &data,
        // The audit trail lives in the same database: with the default
        // `on_failure = "refuse"` every audited request is refused while it
        // cannot be written (README, "Audit trail"); "log" keeps the keys
        // in use signing, their records queued until the database returns.
        &format!(
            "[store]\nurl = \"{relayed}\"\n[cache]\nttl_secs = 1\nstale_if_error_secs = 600\n\
             [audit]\non_failure = \"log\"\n"
        ),
    );
    assert_eq!(sign(&daemon, "warm").status, 0);

    relay.cut();
    // Past the TTL: the key in use still signs.
    std::thread::sleep(Duration::from_millis(1500));
    for _ in 0..3 {
        let r = sign(&daemon, "warm");
        assert_eq!(r.status, 0, "a cached key during the outage: {r:?}");
    }
    // A key never loaded: an error reply, well before the request deadline.
    let started = Instant::now();
    let r = sign(&daemon, "cold");
    let took = started.elapsed();
    assert_ne!(
        r.status, 0,
        "signed with an uncached key without a database"
    );
    assert_eq!(r.err, "key store unavailable, try again later\n", "{r:?}");
    assert!(
        took < Duration::from_secs(15),
        "the error took {took:?} (request deadline 30 s)"
    );
    println!("uncached key during the outage: {:?} after {took:?}", r.err);

    relay.restore();
    let started = Instant::now();
    loop {
        let r = sign(&daemon, "cold");
        if r.status == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not recovered 30 s after the database returned: {r:?}\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "recovered {:?} after the database returned",
        started.elapsed()
    );
    assert!(
        daemon
            .log_text()
            .contains("serving the cached entry past its TTL"),
        "the stale serve is logged"
    );
}

/// Waits up to `limit` for `done`, polling every 100 ms.
fn within(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// PostgreSQL stops answering right after the audit writer's `BEGIN` (the
/// relay passes it, then holds every byte): with the default `on_failure =
/// "refuse"`, the writer gives the transaction up after its bound, says so
/// in the log and requests are refused; once the database answers again
/// the held records are written and requests are served; and SIGTERM
/// during such a hang ends the server within a bound, saying which records
/// it could not write. Afterwards the chain verifies.
#[test]
fn a_database_that_hangs_mid_transaction_costs_a_bounded_wait() {
    let Some(url) = pg::scratch_database_blocking() else {
        return;
    };
    let dir = short_tempdir();
    let data = dir.path().join("data");
    let db = ["--database-url", url.as_str()];
    generate(&data, &url, "k");
    // The server reaches the database through the relay.
    let (relay, relayed) = through_relay(&url);
    // A backlog of up to 16 batches, so that a shutdown that gave each
    // batch its own attempts would take minutes.
    let mut daemon = Daemon::start(
        &data,
        &format!("[store]\nurl = \"{relayed}\"\n[cache]\nttl_secs = 600\n[audit]\nqueue = 16384\n"),
    );
    assert_eq!(sign(&daemon, "k").status, 0);

    // The next transaction hangs after its BEGIN (the audit writer's, or
    // a key read's: the freeze holds every connection either way).
    relay.freeze_after(b"BEGIN");
    assert_eq!(sign(&daemon, "k").status, 0, "the record is only queued");
    assert!(
        within(Duration::from_secs(5), || relay.is_frozen()),
        "no BEGIN came"
    );
    assert!(
        within(Duration::from_secs(20), || daemon
            .log_text()
            .contains("no answer within")),
        "the hung transaction was never given up:\n{}",
        daemon.log_text()
    );
    let refused = sign(&daemon, "k");
    assert_eq!(
        (refused.status, refused.err.as_str()),
        (1, "audit trail unavailable, request refused\n"),
        "{refused:?}"
    );

    // The database answers again: the records held are written, and
    // requests are served.
    relay.restore();
    assert!(
        within(Duration::from_secs(30), || sign(&daemon, "k").status == 0),
        "not serving 30 s after the database returned:\n{}",
        daemon.log_text()
    );
    assert!(
        within(Duration::from_secs(5), || daemon
            .log_text()
            .contains("audit database writable again")),
        "{}",
        daemon.log_text()
    );

    // SIGTERM during a hang, with a backlog of several batches: a bounded
    // shutdown that names the loss.
    relay.freeze_after(b"BEGIN");
    assert_eq!(sign(&daemon, "k").status, 0);
    assert!(
        within(Duration::from_secs(5), || relay.is_frozen()),
        "no BEGIN came"
    );
    let addr = daemon.addr;
    let load: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let until = Instant::now() + Duration::from_secs(12);
                let mut n = 0;
                while Instant::now() < until {
                    let digest = hex::encode(openssl::sha::sha256(format!("{t}.{n}").as_bytes()));
                    let request =
                        new_request(&["sign", "sha256:k", &format!("{digest}@0065000000")]);
                    let _ = exchange_at(addr, &request);
                    n += 1;
                }
            })
        })
        .collect();
    for t in load {
        t.join().unwrap();
    }
    let status = daemon.terminate(Duration::from_secs(60));
    assert!(
        status.is_some(),
        "signatrustd still running 60 s after SIGTERM, its audit writer hung:\n{}",
        daemon.log_text()
    );
    let log = daemon.log_text();
    let lost: usize = log
        .lines()
        .filter(|l| l.contains("audit records lost at shutdown"))
        .filter_map(|l| {
            l.split("lost=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert!(
        lost > 5 * 1024,
        "{lost} records lost: the backlog was not several batches\n{log}"
    );
    relay.restore();
    admin_ok(&data, &[&db[..], &["audit", "verify"]].concat());
}

/// The answer to the audit writer's `COMMIT` is lost (the relay passes the
/// `COMMIT`, then holds every answer): the records are in the database,
/// the writer only times out. Once the database answers again the writer
/// finds them at the chain's end and does not write them a second time:
/// every signature has exactly one record, and the chain verifies.
#[test]
fn a_commit_whose_answer_is_lost_is_not_written_twice() {
    let Some(url) = pg::scratch_database_blocking() else {
        return;
    };
    let dir = short_tempdir();
    let data = dir.path().join("data");
    let db = ["--database-url", url.as_str()];
    generate(&data, &url, "k");
    let signs = || {
        admin_ok(&data, &[&db[..], &["audit", "list", "--json"]].concat())
            .lines()
            .filter(|l| l.contains("\"command\":\"sign\""))
            .count()
    };
    // The server reaches the database through the relay.
    let (relay, relayed) = through_relay(&url);
    let daemon = Daemon::start(
        &data,
        &format!("[store]\nurl = \"{relayed}\"\n[cache]\nttl_secs = 600\n"),
    );
    assert_eq!(sign(&daemon, "k").status, 0);
    assert!(
        within(Duration::from_secs(10), || signs() == 1),
        "the first record"
    );

    relay.freeze_replies_at(b"COMMIT");
    assert_eq!(sign(&daemon, "k").status, 0);
    assert!(
        within(Duration::from_secs(5), || relay.is_frozen()),
        "no COMMIT came"
    );
    // The commit is made: the record is there while the writer waits.
    assert!(
        within(Duration::from_secs(5), || signs() == 2),
        "the commit was not made"
    );
    assert!(
        within(Duration::from_secs(20), || daemon
            .log_text()
            .contains("no answer within")),
        "the writer never gave the transaction up:\n{}",
        daemon.log_text()
    );
    relay.restore();
    assert!(
        within(Duration::from_secs(30), || sign(&daemon, "k").status == 0),
        "not serving 30 s after the database returned:\n{}",
        daemon.log_text()
    );
    assert!(
        within(Duration::from_secs(10), || signs() == 3),
        "{} sign records for 3 signatures:\n{}",
        signs(),
        daemon.log_text()
    );
    assert!(daemon.log_text().contains("committed after all"));
    admin_ok(&data, &[&db[..], &["audit", "verify"]].concat());
}
