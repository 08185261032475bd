//! The database going away under a running server (PostgreSQL, through a
//! loopback relay the test can cut): keys in use keep signing past their
//! TTL (`[cache] stale_if_error_secs`), a key not cached gets a clear error
//! reply within a bound instead of hanging until the request deadline, and
//! the server recovers by itself when the database returns. Skipped without
//! `$SIGNATRUST_TEST_PG_URL` (CI always sets it).

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

#[test]
fn database_outage_keeps_keys_in_use_and_recovers() {
    let Some(url) = pg::scratch_database_blocking() else {
        return;
    };
    let dir = short_tempdir();
    let data = dir.path().join("data");
    for name in ["warm", "cold"] {
        admin_ok(
            &data,
            &[
                "--database-url",
                &url,
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
    // postgres://USER:PW@HOST:PORT/DB: the server reaches it through the relay.
    let (head, rest) = url.split_once('@').unwrap();
    let (hostport, db) = rest.split_once('/').unwrap();
    let relay = Relay::start(hostport.to_owned());
    let relayed = format!("{head}@127.0.0.1:{}/{db}", relay.port);
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
