//! PostgreSQL itself stopped (`pg_ctl stop -m fast`) and started again
//! under a sign load, on a private throwaway cluster (`support/pg_private`:
//! never the shared server other tests use):
//!
//! - keys in use keep signing while the database is down (`[cache]
//!   stale_if_error_secs`), with no failed request;
//! - a key not cached gets an error reply within a bound far below the
//!   30 s request deadline, and the log names the cause (connection
//!   refused), not "pool timed out";
//! - `/readyz` turns 503 while the database is down and 200 when it is back;
//! - after `pg_ctl start` the server recovers by itself: the uncached key
//!   signs, and a key added with `signatrust-admin` afterwards is served;
//! - the audit trail: with `on_failure = "log"` the records of the requests
//!   served during the outage are written once the database returns; with
//!   the default `"refuse"` requests are refused with `audit trail
//!   unavailable, request refused` while it cannot be written, and every
//!   request answered OK has exactly one record afterwards. `audit verify`
//!   passes;
//! - backup and restore of a PostgreSQL store (`pg_dump`, loaded with
//!   `psql` into a new database): with the KEK, a server whose replies are
//!   byte for byte the live server's; the dump holds no secret MPI of the
//!   fixture key nor the KEK, and without the KEK the copy is refused,
//!   naming the KEK it needs.
//!
//! Skipped (with a message) where no PostgreSQL server binaries are
//! installed; CI installs them.

#[path = "e2e_common.rs"]
mod common;
#[path = "support/pg_private.rs"]
mod pg_private;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use pg_private::PrivateCluster;

/// The bound on an error reply for a key that needs the database while it
/// is down (the request deadline is 30 s).
const ERROR_BOUND: Duration = Duration::from_secs(3);
/// How long the server may take to notice the database is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on the metrics listener: (status, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

/// Polls `f` every 100 ms until it holds; the time it took, or `None`
/// after `bound`.
fn within(bound: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if f() {
            return Some(started.elapsed());
        }
        if started.elapsed() > bound {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One sign request for `user` over `payload`: (digest hex, reply, time).
fn sign_at(addr: SocketAddr, user: &str, payload: &str) -> (String, Option<Reply>, Duration) {
    let digest = hex::encode(openssl::sha::sha256(payload.as_bytes()));
    let request = new_request(&[
        "sign",
        &format!("sha256:{user}"),
        &format!("{digest}@0065000000"),
    ]);
    let started = Instant::now();
    // A connection closed without a whole reply counts as no reply.
    let reply = exchange_at(addr, &request)
        .ok()
        .filter(|r| r.len() >= 6)
        .map(|r| parse_reply(&r));
    (digest, reply, started.elapsed())
}

/// One request's outcome: digest, status (-1: no reply), error text,
/// latency.
type Outcome = (String, i32, String, Duration);

/// Signs with `user` from one thread until stopped, keeping every outcome.
struct Load {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Load {
    fn start(addr: SocketAddr, user: &'static str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let (s, o) = (stop.clone(), outcomes.clone());
        let thread = std::thread::spawn(move || {
            let mut n = 0u64;
            while !s.load(Ordering::SeqCst) {
                let (digest, reply, took) = sign_at(addr, user, &format!("{user} load {n}"));
                let (status, err) = match reply {
                    Some(r) => (i32::from(r.status), r.err),
                    None => (-1, String::new()),
                };
                o.lock()
                    .unwrap()
                    .push((digest, status, err.trim().to_owned(), took));
                n += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Load {
            stop,
            outcomes,
            thread,
        }
    }

    fn len(&self) -> usize {
        self.outcomes.lock().unwrap().len()
    }

    fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        Arc::try_unwrap(self.outcomes)
            .unwrap()
            .into_inner()
            .unwrap()
    }
}

fn admin_pg(data: &Path, url: &str, args: &[&str]) -> String {
    let mut all = vec!["--database-url", url];
    all.extend_from_slice(args);
    admin_ok(data, &all)
}

fn generate(data: &Path, url: &str, name: &str) {
    admin_pg(
        data,
        url,
        &[
            "key",
            "generate",
            name,
            "--type",
            "ed25519",
            "--uid",
            "Restart <restart@example.org>",
        ],
    );
}

/// The audit records of sign requests, by digest: how many, and how many
/// of them with outcome "ok".
fn audited_signs(data: &Path, url: &str) -> HashMap<String, (usize, usize)> {
    let out = admin_pg(data, url, &["audit", "list", "--json"]);
    let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
    for line in out.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["command"] != "sign" {
            continue;
        }
        let ok = v["outcome"] == "ok";
        for d in v["digests"].as_array().unwrap() {
            let e = seen.entry(d.as_str().unwrap().to_owned()).or_default();
            e.0 += 1;
            e.1 += usize::from(ok);
        }
    }
    seen
}

/// Waits until every digest in `digests` has an audit record (the writer
/// retries its backlog once the database is back); returns the records.
fn await_audited(
    data: &Path,
    url: &str,
    digests: &[&String],
    log: impl Fn() -> String,
) -> HashMap<String, (usize, usize)> {
    let mut seen = HashMap::new();
    let found = within(Duration::from_secs(20), || {
        seen = audited_signs(data, url);
        digests.iter().all(|d| seen.contains_key(*d))
    });
    let missing: Vec<_> = digests.iter().filter(|d| !seen.contains_key(**d)).collect();
    assert!(
        found.is_some(),
        "{} of {} requests answered OK have no audit record, e.g. {:?}\n{}",
        missing.len(),
        digests.len(),
        missing.first(),
        log()
    );
    seen
}

#[test]
fn postgres_stopped_and_started_under_sign_load() {
    let Some(pg) = PrivateCluster::start() else {
        return;
    };
    let url = pg.url();
    let dir = short_tempdir();
    let data = dir.path().join("data");
    for name in ["warm", "cold"] {
        generate(&data, &url, name);
    }
    let metrics = free_port();
    // The audit trail shares the database: "log" keeps the keys in use
    // signing through the outage (the "refuse" test is below).
    let daemon = Daemon::start(
        &data,
        &format!(
            "[store]\nurl = \"{url}\"\n[cache]\nttl_secs = 1\nstale_if_error_secs = 600\n\
             [audit]\non_failure = \"log\"\n[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n"
        ),
    );
    let (_, r, _) = sign_at(daemon.addr, "warm", "first");
    assert_eq!(r.unwrap().status, 0);
    assert_eq!(http_get(metrics, "/readyz").0, 200);

    let load = Load::start(daemon.addr, "warm");
    std::thread::sleep(Duration::from_millis(500));
    pg.stop();
    let stopped = Instant::now();
    let at_stop = load.len();

    // Not ready, naming the cause.
    let mut body = String::new();
    let took = within(Duration::from_secs(5), || {
        let (status, b) = http_get(metrics, "/readyz");
        body = b;
        status == 503
    });
    assert!(
        took.is_some(),
        "/readyz still ready with the database down: {body}"
    );
    assert!(body.contains("unreachable"), "{body}");
    println!("/readyz: 503 after {took:?}: {}", body.trim());

    // A key never loaded: an error reply well within the bound, each time.
    for attempt in 0..3 {
        let (_, r, took) = sign_at(daemon.addr, "cold", &format!("cold {attempt}"));
        let r = r.expect("a reply, not a dropped connection");
        assert_ne!(
            r.status, 0,
            "signed with an uncached key without a database"
        );
        assert_eq!(r.err, "key store unavailable, try again later\n", "{r:?}");
        assert!(
            took < ERROR_BOUND,
            "attempt {attempt}: the error took {took:?} (bound {ERROR_BOUND:?})\n{}",
            daemon.log_text()
        );
        println!("uncached key, database down: {:?} after {took:?}", r.err);
    }
    // The log names the cause, not only the pool's timeout.
    let log = daemon.log_text();
    assert!(
        log.contains("key database unreachable") && log.contains("refused"),
        "{log}"
    );

    // Keys in use keep signing past their TTL for a while.
    std::thread::sleep(Duration::from_secs(3).saturating_sub(stopped.elapsed()));
    let during = load.len() - at_stop;
    assert!(
        during >= 10,
        "only {during} requests while the database was down"
    );

    pg.start_again();
    let started = Instant::now();
    let recovered = within(RECOVERY_BOUND, || {
        sign_at(daemon.addr, "cold", "cold after")
            .1
            .is_some_and(|r| r.status == 0)
    });
    assert!(
        recovered.is_some(),
        "the uncached key does not sign {RECOVERY_BOUND:?} after the database returned\n{}",
        daemon.log_text()
    );
    println!("recovered {:?} after pg_ctl start", started.elapsed());
    let ready = within(RECOVERY_BOUND, || http_get(metrics, "/readyz").0 == 200);
    assert!(ready.is_some(), "{:?}", http_get(metrics, "/readyz"));
    // The change feed (LISTEN) is back too.
    let relistened = within(RECOVERY_BOUND, || {
        daemon.log_text().contains("change feed: listening again")
    });
    assert!(
        relistened.is_some(),
        "the change feed did not reconnect\n{}",
        daemon.log_text()
    );
    println!(
        "change feed listening again {:?} after pg_ctl start",
        started.elapsed()
    );

    // A key added now is served by the same server, not restarted.
    generate(&data, &url, "fresh");
    let (_, r, _) = sign_at(daemon.addr, "fresh", "fresh");
    let r = r.unwrap();
    assert_eq!(r.status, 0, "{r:?}\n{}", daemon.log_text());

    let outcomes = load.finish();
    let failed: Vec<_> = outcomes.iter().filter(|o| o.1 != 0).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests for the key in use failed, e.g. {:?}\n{}",
        failed.len(),
        outcomes.len(),
        failed.first(),
        daemon.log_text()
    );
    let slowest = outcomes.iter().map(|o| o.3).max().unwrap();
    assert!(
        slowest < ERROR_BOUND,
        "a request for the key in use took {slowest:?}"
    );
    println!(
        "{} requests for the key in use, {during} while the database was down, slowest {slowest:?}",
        outcomes.len()
    );

    // "log": the records of the requests served during the outage are
    // written once the database is back.
    let digests: Vec<&String> = outcomes.iter().map(|o| &o.0).collect();
    let seen = await_audited(&data, &url, &digests, || daemon.log_text());
    for d in &digests {
        assert_eq!(seen[*d], (1, 1), "audit records of {d}");
    }
    admin_pg(&data, &url, &["audit", "verify"]);
}

#[test]
fn audit_refuse_mode_through_a_postgres_restart() {
    let Some(pg) = PrivateCluster::start() else {
        return;
    };
    let url = pg.url();
    let dir = short_tempdir();
    let data = dir.path().join("data");
    generate(&data, &url, "warm");
    // The default on_failure ("refuse").
    let daemon = Daemon::start(
        &data,
        &format!("[store]\nurl = \"{url}\"\n[cache]\nttl_secs = 1\nstale_if_error_secs = 600\n"),
    );
    let (_, r, _) = sign_at(daemon.addr, "warm", "first");
    assert_eq!(r.unwrap().status, 0);

    let load = Load::start(daemon.addr, "warm");
    std::thread::sleep(Duration::from_millis(500));
    pg.stop();
    // Refused once the writer finds the database gone (its connection
    // wait, 2 s, and a retry).
    let refused = within(Duration::from_secs(8), || {
        let o = load.outcomes.lock().unwrap();
        o.last()
            .is_some_and(|l| l.2 == "audit trail unavailable, request refused")
    });
    assert!(
        refused.is_some(),
        "not refused with the audit database down: {:?}\n{}",
        load.outcomes.lock().unwrap().last(),
        daemon.log_text()
    );
    println!("refusing {refused:?} after pg_ctl stop");
    std::thread::sleep(Duration::from_secs(1));
    pg.start_again();
    let started = Instant::now();
    let back = within(RECOVERY_BOUND, || {
        let o = load.outcomes.lock().unwrap();
        o.last().is_some_and(|l| l.1 == 0)
    });
    assert!(
        back.is_some(),
        "still refusing {RECOVERY_BOUND:?} after the database returned\n{}",
        daemon.log_text()
    );
    println!("serving again {:?} after pg_ctl start", started.elapsed());
    std::thread::sleep(Duration::from_millis(500));
    let outcomes = load.finish();

    // Every request has one of two answers, and every one answered OK its
    // record; none refused has an "ok" record.
    let (ok, refused): (Vec<_>, Vec<_>) = outcomes.iter().partition(|o| o.1 == 0);
    for o in &refused {
        assert_eq!(
            o.2, "audit trail unavailable, request refused",
            "an unexpected failure: {o:?}"
        );
    }
    assert!(!refused.is_empty() && ok.len() > 10, "{outcomes:?}");
    let digests: Vec<&String> = ok.iter().map(|o| &o.0).collect();
    let seen = await_audited(&data, &url, &digests, || daemon.log_text());
    for d in &digests {
        assert_eq!(seen[*d], (1, 1), "audit records of {d}");
    }
    for o in &refused {
        assert_eq!(
            seen.get(&o.0).map_or(0, |s| s.1),
            0,
            "a refused request has an ok record: {o:?}"
        );
    }
    println!(
        "{} requests answered OK (each audited once), {} refused",
        ok.len(),
        refused.len()
    );
    admin_pg(&data, &url, &["audit", "verify"]);
}

/// Hex of `bytes`, as `pg_dump` prints bytea (`\x…`, lower case).
fn dump_hex(bytes: &[u8]) -> Vec<u8> {
    hex::encode(bytes).into_bytes()
}

#[test]
fn pg_dump_restore_with_the_kek_answers_byte_for_byte() {
    let Some(pg) = PrivateCluster::start() else {
        return;
    };
    let url = pg.url();
    let dir = short_tempdir();
    let data = dir.path().join("data");
    let key = fixture("obs-sign-t-fixtures/secret-key.asc");
    admin_pg(
        &data,
        &url,
        &["key", "import", "plain", key.to_str().unwrap()],
    );
    let kek_id = admin_pg(&data, &url, &["kek", "status", "--json"]);
    let kek_id: serde_json::Value = serde_json::from_str(&kek_id).unwrap();
    let kek_id = kek_id["kek_id"].as_str().unwrap().to_owned();
    let live = Daemon::start(&data, &format!("[store]\nurl = \"{url}\"\n"));

    // The backup, taken while the server runs.
    let dump = pg.dump();
    let (secret, public) = key_material("secret-key.asc", None);
    // The control: the dump holds the key's public part (bytea as hex).
    assert!(
        contains(&dump, &dump_hex(&public[0].1[..16])),
        "the dump holds the key rows"
    );
    let kek = std::fs::read(data.join("kek.key")).unwrap();
    let mut needles = secret.clone();
    needles.push(("the KEK".into(), kek));
    for (what, v) in &needles {
        for part in [&v[..], &v[..16], &v[v.len() - 16..]] {
            for rendering in [part.to_vec(), dump_hex(part)] {
                assert!(!contains(&dump, &rendering), "{what} found in the dump");
            }
        }
    }

    let restored_url = pg.restore("restored", &dump);
    // Without the KEK: refused, naming the KEK the copy belongs to.
    let bare = dir.path().join("bare");
    let out = admin(&bare, &["--database-url", &restored_url, "key", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the copy opened without its KEK");
    assert!(err.contains(&kek_id), "{err}");

    // With it: the same bytes.
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::set_permissions(
        &restored,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::copy(data.join("kek.key"), restored.join("kek.key")).unwrap();
    let back = Daemon::start(&restored, &format!("[store]\nurl = \"{restored_url}\"\n"));
    let digest = hex::encode(openssl::sha::sha256(b"restore"));
    for request in [
        new_request(&["pubkey", "plain"]),
        old_request("plain", &format!("SHA256:{digest}@0065000000")),
        new_request(&["sign", "sha256:plain", &format!("{digest}@0065000000")]),
    ] {
        let (a, b) = (live.exchange(&request), back.exchange(&request));
        assert_eq!(parse_reply(&a).status, 0, "{:?}", parse_reply(&a));
        assert_eq!(a, b, "the restored server answers differently");
    }
}
