//! The audit trail end to end: the obs-sign fixtures replayed against an
//! in-process server, then the records read back and checked against the
//! requests sent and the fixture manifest (the key fingerprints Perl signd's
//! keys have); `signatrust-admin audit verify` (the real binary) passes, and
//! fails after a row is edited, inserted or removed directly with SQL;
//! prune keeps the chain verifiable; no record or log line holds the
//! fixture keys' secret MPIs or a blob; a clean shutdown under load loses
//! no record; `on_failure = "refuse"` refuses while the audit table cannot
//! be written; requests refused before handling (host, port, malformed)
//! leave `refused` records, rate-limited; batches of every size store every
//! field, awkward text included, and rows from before SQLite's packed
//! layout (migration 0009) carry over unchanged. SQLite always,
//! PostgreSQL when `SIGNATRUST_TEST_PG_URL` is set.
#[path = "support/pg.rs"]
mod pg;
mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sequoia_openpgp as openpgp;
use serde_json::Value;
use sqlx::any::AnyConnectOptions;
use sqlx::AnyPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use openpgp::crypto::mpi;
use openpgp::parse::Parse;
use signatrust::audit::{AuditDb, Chained, Filter, OnFailure};
use signatrust::config::Config;
use signatrust::daemon::{self, Service};
use signatrust::keys::StoreUrl;

const ADMIN: &str = env!("CARGO_BIN_EXE_signatrust-admin");

/// Log lines of this test binary, captured for the secret scan.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buf
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A server as the fixtures' signd, its store in a temporary directory (or
/// at `pg`), auditing on.
struct Env {
    dir: tempfile::TempDir,
    service: Service,
    server: Option<support::Running>,
    url: String,
}

impl Env {
    async fn start(pg: Option<&str>, tweak: impl FnOnce(&mut Config)) -> Env {
        captured_logs();
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
        if let Some(url) = pg {
            config.store_url = StoreUrl::parse(url).unwrap();
        }
        tweak(&mut config);
        let url = config.store_url.as_str().to_owned();
        let service = daemon::build(config).await.unwrap();
        let keys = &service.ctx.keys;
        support::import_fixture_keys(keys).await;
        support::import_fixture_encryption_keys(keys).await;
        support::import_fixture_aliases(keys).await;
        let server = Some(support::serve(&service).await);
        Env {
            dir,
            service,
            server,
            url,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().addr
    }

    /// Stops the listener as SIGTERM does, then flushes the audit writer.
    async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
        self.service.close().await;
    }

    /// `signatrust-admin audit ARGS` on this store: (success, stdout+stderr).
    fn admin(&self, args: &[&str]) -> (bool, String) {
        let (ok, out, err) = self.admin_split(args);
        (ok, out + &err)
    }

    /// [`Env::admin`] with stdout and stderr apart.
    fn admin_split(&self, args: &[&str]) -> (bool, String, String) {
        let cfg = self.dir.path().join("admin.toml");
        std::fs::write(&cfg, format!("[store]\nurl = {:?}\n", self.url)).unwrap();
        let out = Command::new(ADMIN)
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .arg("--config")
            .arg(&cfg)
            .arg("audit")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn pool(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        let opts = AnyConnectOptions::from_str(&self.url).unwrap();
        sqlx::pool::PoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .unwrap()
    }
}

/// Every audit row after `after`, by seq.
async fn rows(url: &str, after: i64) -> Vec<Chained> {
    let db = AuditDb::open(url).await.unwrap();
    let mut out = Vec::new();
    let mut at = after;
    loop {
        let page = db.page(at, 500, &Filter::default()).await.unwrap();
        let Some(last) = page.last() else { break };
        at = last.seq;
        out.extend(page);
    }
    db.close().await;
    out
}

async fn send(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    // An incomplete request (a truncated fixture case) is answered at
    // EOF; the server no longer gives up on a silent client after 10 s.
    if matches!(signatrust::protocol::decode(request), Ok(None)) {
        s.shutdown().await.unwrap();
    }
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut reply))
        .await
        .expect("a reply within 60 s")
        .unwrap();
    reply
}

/// What the test expects of one audited request.
#[derive(Debug)]
struct Expected {
    case: String,
    command: String,
    user: String,
    digests: String,
    ok: bool,
    reply: Vec<u8>,
    blob: String,
}

fn manifest() -> Value {
    serde_json::from_slice(&std::fs::read(support::fixtures().join("manifest.json")).unwrap())
        .unwrap()
}

/// Cases that need a proxy, a strict source or another address are
/// replayed elsewhere (compat-tests); the rest go to one server.
fn replayable(case: &Value) -> bool {
    let name = case["name"].as_str().unwrap_or("");
    let kind = case["kind"].as_str().unwrap_or("");
    (kind == "sign-client" || kind == "raw-request")
        && case["reply_determinism"] != "n/a"
        && !name.starts_with("signproxy")
        && ![
            "raw-split-request",
            "raw-unprivileged-source-port",
            "unprivileged-port-ping",
            "raw-disallowed-host",
        ]
        .contains(&name)
}

/// The digests of hash arguments as the test computes them: the hex before
/// `@`, lower case.
fn digests(args: &[String]) -> String {
    args.iter()
        .map(|a| a.split('@').next().unwrap().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

/// Replays every replayable fixture connection; returns what the audited
/// ones must have left, and the malformed ones (case, reply): refused
/// before handling, each recorded as `kind = refused`.
async fn replay(addr: SocketAddr) -> (Vec<Expected>, Vec<(String, Vec<u8>)>) {
    let fx = support::fixtures();
    let m = manifest();
    let mut out = Vec::new();
    let mut refused = Vec::new();
    for case in m["cases"].as_array().unwrap() {
        if !replayable(case) {
            continue;
        }
        for conn in case["connections"].as_array().unwrap() {
            let req = std::fs::read(fx.join(conn["request"].as_str().unwrap())).unwrap();
            let reply = send(addr, &req).await;
            let decoded = match signatrust::protocol::decode(&req) {
                Ok(Some((decoded, used))) if used == req.len() => decoded,
                // Malformed (does not decode, is cut short, or has bytes
                // past its frame): refused before handling.
                _ => {
                    if !req.is_empty() {
                        let name = case["name"].as_str().unwrap().to_owned();
                        refused.push((name, reply));
                    }
                    continue;
                }
            };
            let command = decoded.command().unwrap_or("").to_owned();
            if !["sign", "privsign", "keygen", "privtotp", "pubkey"].contains(&command.as_str()) {
                continue;
            }
            let args = decoded.args();
            let hashes = match command.as_str() {
                "sign" => args,
                "privsign" => args.get(1..).unwrap_or(&[]),
                _ => &[],
            };
            out.push(Expected {
                case: case["name"].as_str().unwrap().to_owned(),
                user: decoded.user().unwrap_or("").to_owned(),
                digests: digests(hashes),
                ok: reply.len() >= 2 && reply[..2] == [0, 0],
                blob: if matches!(command.as_str(), "privsign" | "privtotp") {
                    args.first().cloned().unwrap_or_default()
                } else {
                    String::new()
                },
                command,
                reply,
            });
        }
    }
    assert!(
        out.len() > 40,
        "only {} audited requests replayed",
        out.len()
    );
    (out, refused)
}

/// Each malformed request left one `refused` record, in order, with the
/// error text its client got.
fn check_refusals(rows: &[Chained], want: &[(String, Vec<u8>)]) {
    assert_eq!(
        rows.len(),
        want.len(),
        "one refused row per malformed request: got {:#?}, want {:?}",
        rows.iter().map(|r| &r.record.error).collect::<Vec<_>>(),
        want.iter().map(|w| &w.0).collect::<Vec<_>>()
    );
    for (row, (case, reply)) in rows.iter().zip(want) {
        let r = &row.record;
        let what = format!("{case} (row {}): {r:?}", row.seq);
        assert_eq!(r.outcome, "refused", "{what}");
        assert!(r.peer.starts_with("127.0.0.1:"), "{what}");
        assert!(!r.error.is_empty(), "{what}");
        let text = String::from_utf8_lossy(reply);
        assert!(text.contains(&r.error), "{what}: reply {text:?}");
        assert!(r.fingerprint.is_empty() && r.digests.is_empty(), "{what}");
    }
}

/// Each request appears once, in order, with its command, user, digests,
/// outcome, and the fingerprint of the key that signed: the manifest's
/// fingerprint for a signd key, and for privsign a fingerprint whose key
/// ID is the issuer in the signature packet that came back.
fn check_records(rows: &[Chained], want: &[Expected]) {
    let m = manifest();
    let fprs: BTreeMap<String, String> = m["signd_keys"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v["fingerprint"].as_str()?.to_owned())))
        .collect();
    assert_eq!(
        rows.len(),
        want.len(),
        "one audit row per audited request: got {:#?}",
        rows.iter()
            .map(|r| (&r.record.command, &r.record.user))
            .collect::<Vec<_>>()
    );
    let mut signed = 0;
    for (row, w) in rows.iter().zip(want) {
        let r = &row.record;
        let what = format!("{} (row {}): {r:?}", w.case, row.seq);
        assert_eq!(r.kind, "request", "{what}");
        assert_eq!(r.command, w.command, "{what}");
        assert_eq!(r.user, w.user, "{what}");
        assert_eq!(r.digests, w.digests, "{what}");
        assert_eq!(r.outcome, if w.ok { "ok" } else { "error" }, "{what}");
        assert_eq!(r.error.is_empty(), w.ok, "{what}");
        assert!(r.peer.starts_with("127.0.0.1:"), "{what}");
        assert!(r.latency_us > 0, "{what}");
        if !w.ok {
            // The error text the client got is the one recorded.
            let text = String::from_utf8_lossy(&w.reply);
            assert!(text.contains(&r.error), "{what}: reply {text:?}");
            continue;
        }
        match r.command.as_str() {
            "sign" | "pubkey" | "keygen" => {
                assert_eq!(Some(&r.fingerprint), fprs.get(&r.key), "{what}");
            }
            "privsign" => assert_eq!(r.fingerprint.len(), 40, "{what}"),
            _ => {}
        }
        if matches!(r.command.as_str(), "sign" | "privsign") {
            assert!(!r.hash_algo.is_empty(), "{what}");
            let key_id = hex::decode(&r.fingerprint[24..]).unwrap();
            assert!(
                w.reply.windows(8).any(|x| x == key_id),
                "{what}: key ID of the recorded fingerprint not in the signature"
            );
            signed += 1;
        }
        if !w.blob.is_empty() {
            assert!(r.detail.starts_with("blob sha256 "), "{what}");
        }
    }
    assert!(signed > 20, "only {signed} signatures checked");
}

/// The secret MPIs of the fixture keys (RSA d, p, q, u; ElGamal x).
fn secret_mpis() -> Vec<Vec<u8>> {
    let fx = support::fixtures().join("obs-sign-t-fixtures");
    let mut out = Vec::new();
    for (file, pass) in [
        ("secret-key.asc", None),
        ("secret-key-passphrase.asc", Some("xxx")),
    ] {
        let cert = openpgp::Cert::from_file(fx.join(file)).unwrap();
        for ka in cert.keys().secret() {
            let mut key = ka.key().clone();
            if let Some(p) = pass {
                if key.secret().is_encrypted() {
                    key = key.decrypt_secret(&p.into()).unwrap();
                }
            }
            let openpgp::packet::key::SecretKeyMaterial::Unencrypted(u) = key.secret() else {
                panic!("{file}: still encrypted");
            };
            u.map(|m| match m {
                mpi::SecretKeyMaterial::RSA { d, p, q, u } => {
                    for v in [d, p, q, u] {
                        out.push(v.value().to_vec());
                    }
                }
                mpi::SecretKeyMaterial::ElGamal { x } => out.push(x.value().to_vec()),
                other => panic!("{file}: unexpected key material {other:?}"),
            });
        }
    }
    assert!(out.len() >= 5);
    out
}

/// Whether `hay` holds a 16-byte window of any secret, raw or in hex.
fn leaks(hay: &[u8], secrets: &[Vec<u8>]) -> Option<String> {
    let lower = String::from_utf8_lossy(hay).to_ascii_lowercase();
    for s in secrets {
        for w in s.windows(16).step_by(8) {
            if hay.windows(16).any(|x| x == w) {
                return Some(format!("raw {}", hex::encode(w)));
            }
            if lower.contains(&hex::encode(w)) {
                return Some(format!("hex {}", hex::encode(w)));
            }
        }
    }
    None
}

fn row_text(r: &Chained) -> String {
    format!("{:?} {} {}", r.record, r.prev_hash, r.hash)
}

/// Edits, insertions and removals made with SQL are found by `audit
/// verify`; each is undone afterwards and verify passes again.
async fn tamper_and_verify(env: &Env) {
    let (ok, out) = env.admin(&["verify"]);
    assert!(ok, "{out}");
    assert!(out.contains("audit trail ok"), "{out}");
    let pool = env.pool().await;
    let all = rows(&env.url, i64::MIN).await;
    let mid = all[all.len() / 2].clone();

    // Edit one field.
    sqlx::query(set_digests(&env.url))
        .bind("00")
        .bind(mid.seq)
        .execute(&pool)
        .await
        .unwrap();
    let (ok, out) = env.admin(&["verify"]);
    assert!(!ok, "an edited row passed: {out}");
    assert!(
        out.contains(&format!("audit row {}", mid.seq)) && out.contains("edited"),
        "{out}"
    );
    sqlx::query(set_digests(&env.url))
        .bind(&mid.record.digests)
        .bind(mid.seq)
        .execute(&pool)
        .await
        .unwrap();
    assert!(env.admin(&["verify"]).0, "restored");

    // Remove one row.
    sqlx::query("DELETE FROM audit_log WHERE seq = $1")
        .bind(mid.seq)
        .execute(&pool)
        .await
        .unwrap();
    let (ok, out) = env.admin(&["verify"]);
    assert!(!ok, "a removed row passed: {out}");
    assert!(out.contains(&format!("audit row {}", mid.seq + 1)), "{out}");
    insert_row(&pool, &mid).await;
    assert!(env.admin(&["verify"]).0, "restored");

    // Insert a row with a correct hash of its own, the later rows moved
    // up by one: the next row's link breaks.
    let later: Vec<_> = all.iter().filter(|r| r.seq > mid.seq).collect();
    for r in later.iter().rev() {
        sqlx::query("UPDATE audit_log SET seq = $1 WHERE seq = $2")
            .bind(r.seq + 1)
            .bind(r.seq)
            .execute(&pool)
            .await
            .unwrap();
    }
    let mut forged = mid.record.clone();
    forged.digests = "ab".repeat(32);
    let forged = forged.chain(mid.seq + 1, mid.hash.clone());
    insert_row(&pool, &forged).await;
    let (ok, out) = env.admin(&["verify"]);
    assert!(!ok, "an inserted row passed: {out}");
    assert!(out.contains(&format!("audit row {}", mid.seq + 2)), "{out}");
    sqlx::query("DELETE FROM audit_log WHERE seq = $1")
        .bind(forged.seq)
        .execute(&pool)
        .await
        .unwrap();
    for r in &later {
        sqlx::query("UPDATE audit_log SET seq = $1 WHERE seq = $2")
            .bind(r.seq)
            .bind(r.seq + 1)
            .execute(&pool)
            .await
            .unwrap();
    }
    assert!(env.admin(&["verify"]).0, "restored");
    pool.close().await;
}

/// SQL that sets row `$2`'s digests to `$1`, as a tamperer would: on
/// SQLite the field is an element of the packed `fields` array
/// (`migrations/sqlite/0009_audit_fields.sql`).
fn set_digests(url: &str) -> &'static str {
    match url.starts_with("sqlite:") {
        true => "UPDATE audit_log SET fields = json_replace(fields, '$[7]', $1) WHERE seq = $2",
        false => "UPDATE audit_log SET digests = $1 WHERE seq = $2",
    }
}

/// Inserts `c` with SQL, as a tamperer would. On SQLite the fields are
/// packed by SQLite's own `json_array`, not by the writer's encoder, so
/// the `audit_records` view is checked against both.
async fn insert_row(pool: &AnyPool, c: &Chained) {
    let sqlite = pool.connect_options().database_url.scheme() == "sqlite";
    let sql = match sqlite {
        true => {
            "INSERT INTO audit_log (seq, time_us, key_name, fields, prev_hash, hash) \
             VALUES ($1, $2, $8, json_array($3, $4, $5, $6, $7, $9, $10, $11, $12, $13, $14, \
             $15, $16), $17, $18)"
        }
        false => INSERT_A_COLUMN_PER_FIELD,
    };
    insert_row_with(pool, sql, c).await;
}

/// An `audit_log` row on PostgreSQL, and on SQLite before
/// `migrations/sqlite/0009_audit_fields.sql`.
const INSERT_A_COLUMN_PER_FIELD: &str =
    "INSERT INTO audit_log (seq, time_us, kind, peer, tls_subject, command, user_name, \
     key_name, fingerprint, hash_algo, digests, outcome, error, latency_us, os_user, detail, \
     prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
     $15, $16, $17, $18)";

/// `sql` (placeholders in [`INSERT_A_COLUMN_PER_FIELD`]'s order) with
/// `c`'s values bound.
async fn insert_row_with(pool: &AnyPool, sql: &str, c: &Chained) {
    let r = &c.record;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(c.seq)
        .bind(r.time_us)
        .bind(&r.kind)
        .bind(&r.peer)
        .bind(&r.tls_subject)
        .bind(&r.command)
        .bind(&r.user)
        .bind(&r.key)
        .bind(&r.fingerprint)
        .bind(&r.hash_algo)
        .bind(&r.digests)
        .bind(&r.outcome)
        .bind(&r.error)
        .bind(r.latency_us)
        .bind(&r.os_user)
        .bind(&r.detail)
        .bind(&c.prev_hash)
        .bind(&c.hash)
        .execute(pool)
        .await
        .unwrap();
}

/// Prune at the middle row's time: verify passes from the anchor, the
/// listing starts there, and removing the first remaining row is found.
async fn prune_keeps_the_chain(env: &Env) {
    let all = rows(&env.url, i64::MIN).await;
    let mid = &all[all.len() / 2];
    let t = chrono::DateTime::from_timestamp_micros(mid.record.time_us)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let (ok, out) = env.admin(&["prune", "--before", &t]);
    assert!(ok, "{out}");
    let left = rows(&env.url, i64::MIN).await;
    assert!(left.first().unwrap().seq > all.first().unwrap().seq);
    assert!(left.first().unwrap().record.time_us >= mid.record.time_us);
    // The prune itself is the newest record.
    let last = left.last().unwrap();
    assert_eq!(
        (last.record.kind.as_str(), last.record.command.as_str()),
        ("admin", "audit prune")
    );
    assert!(!last.record.os_user.is_empty());
    let (ok, out) = env.admin(&["verify"]);
    assert!(ok && out.contains("anchored after row"), "{out}");
    let (ok, out, err) = env.admin_split(&["list", "--json"]);
    assert!(ok, "{out}{err}");
    let listed: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(listed.len(), left.len());
    assert_eq!(listed[0]["seq"], left[0].seq);
    // The first remaining row removed: found (its seq no longer follows
    // the anchor).
    let pool = env.pool().await;
    sqlx::query("DELETE FROM audit_log WHERE seq = $1")
        .bind(left[0].seq)
        .execute(&pool)
        .await
        .unwrap();
    let (ok, out) = env.admin(&["verify"]);
    assert!(!ok, "{out}");
    insert_row(&pool, &left[0]).await;
    assert!(env.admin(&["verify"]).0);
    pool.close().await;
}

async fn replay_and_check(pg: Option<&str>) {
    let mut env = Env::start(pg, |_| {}).await;
    let start = rows(&env.url, i64::MIN).await.last().map_or(0, |r| r.seq);
    let (want, refused) = replay(env.addr()).await;
    assert!(!refused.is_empty(), "no malformed fixture request replayed");
    env.stop().await;
    let got = rows(&env.url, start).await;
    let (refusals, requests): (Vec<Chained>, Vec<Chained>) = got
        .iter()
        .cloned()
        .partition(|r| r.record.kind == "refused");
    check_records(&requests, &want);
    check_refusals(&refusals, &refused);

    // No secret MPI and no blob in any record, the database file or a log
    // line.
    let secrets = secret_mpis();
    let mut blobs: Vec<Vec<u8>> = want
        .iter()
        .filter(|w| w.blob.len() > 64)
        .map(|w| w.blob.as_bytes()[20..60].to_vec())
        .collect();
    blobs.dedup();
    assert!(!blobs.is_empty());
    for r in &got {
        let text = row_text(r);
        assert_eq!(leaks(text.as_bytes(), &secrets), None, "row {}", r.seq);
        for b in &blobs {
            assert!(!text.as_bytes().windows(b.len()).any(|w| w == &b[..]));
        }
    }
    let logs = captured_logs().lock().unwrap().clone();
    assert!(
        String::from_utf8_lossy(&logs).contains("fingerprint="),
        "request lines were captured"
    );
    assert_eq!(leaks(&logs, &secrets), None, "log lines");
    for b in &blobs {
        assert!(
            !logs.windows(b.len()).any(|w| w == &b[..]),
            "a blob in the logs"
        );
    }
    if pg.is_none() {
        let db = env.dir.path().join("data/signatrust.db");
        let mut bytes = std::fs::read(&db).unwrap();
        bytes.extend(
            std::fs::read(PathBuf::from(format!("{}-wal", db.display()))).unwrap_or_default(),
        );
        assert_eq!(leaks(&bytes, &secrets), None, "database file");
    }

    tamper_and_verify(&env).await;
    prune_keeps_the_chain(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_request_is_audited_once_and_the_chain_verifies_sqlite() {
    replay_and_check(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_request_is_audited_once_and_the_chain_verifies_postgres() {
    // A scratch database: the fixture keys are imported afresh.
    let Some(url) = pg::scratch_database().await else {
        return;
    };
    replay_and_check(Some(&url)).await;
}

/// A sign request of the fixture key with a digest of its own.
fn sign_request(n: u32) -> Vec<u8> {
    let digest = hex::encode(openssl::sha::sha256(&n.to_be_bytes()));
    let argv = [
        "sign".to_owned(),
        "SHA256:defaultkey@localobs".to_owned(),
        format!("{digest}@006553f100"),
    ];
    signatrust::protocol::encode_new_request(&argv).unwrap()
}

/// SIGTERM (the shutdown future) in the middle of a load: every signature
/// a client received has its record, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_under_load_loses_no_record() {
    let mut env = Env::start(None, |c| {
        // Small batches: many transactions in flight when the stop comes.
        c.audit.batch = 4;
    })
    .await;
    let addr = env.addr();
    let signed = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for c in 0..8u32 {
        let signed = signed.clone();
        clients.push(tokio::spawn(async move {
            for i in 0.. {
                let n = c * 1_000_000 + i;
                let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
                    return;
                };
                if s.write_all(&sign_request(n)).await.is_err() {
                    return;
                }
                let mut reply = Vec::new();
                let _ = s.read_to_end(&mut reply).await;
                if reply.len() > 2 && reply[..2] == [0, 0] {
                    signed.lock().unwrap().push(n);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    env.stop().await;
    for c in clients {
        c.await.unwrap();
    }
    let signed = signed.lock().unwrap().clone();
    assert!(signed.len() > 20, "only {} signed", signed.len());
    let got = rows(&env.url, i64::MIN).await;
    let recorded: std::collections::BTreeSet<String> = got
        .iter()
        .filter(|r| r.record.outcome == "ok")
        .map(|r| r.record.digests.clone())
        .collect();
    for n in &signed {
        let d = hex::encode(openssl::sha::sha256(&n.to_be_bytes()));
        assert!(recorded.contains(&d), "signature {n} has no audit record");
    }
    let (ok, out) = env.admin(&["verify"]);
    assert!(ok, "{out}");
}

/// `on_failure = "refuse"`: while the audit table cannot be written,
/// signing requests are refused with a clear error; once it can again,
/// the record held back is written and requests are served. `"log"`
/// keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_audit_table_refuses_or_logs_as_configured() {
    for mode in [OnFailure::Refuse, OnFailure::Log] {
        let mut env = Env::start(None, |c| c.audit.on_failure = mode).await;
        let addr = env.addr();
        assert_eq!(&send(addr, &sign_request(1)).await[..2], [0, 0]);
        // Its record is written before the table goes away (on a loaded
        // machine the writer may not have run yet: it would then find the
        // table gone, and the next request be refused).
        let written = env.service.edge.audit.clone().unwrap();
        for _ in 0..250 {
            if written.written() >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(written.written(), 1);
        let pool = env.pool().await;
        sqlx::query("ALTER TABLE audit_log RENAME TO audit_log_away")
            .execute(&pool)
            .await
            .unwrap();
        // The first request after the failure is served (its record was
        // taken before the writer knew) and held back.
        assert_eq!(&send(addr, &sign_request(2)).await[..2], [0, 0]);
        let auditor = env.service.edge.audit.clone().unwrap();
        for _ in 0..100 {
            if auditor.failing() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(auditor.failing());
        let reply = send(addr, &sign_request(3)).await;
        match mode {
            OnFailure::Refuse => {
                assert_ne!(&reply[..2], [0, 0]);
                assert!(
                    String::from_utf8_lossy(&reply)
                        .contains("audit trail unavailable, request refused"),
                    "{reply:?}"
                );
            }
            OnFailure::Log => assert_eq!(&reply[..2], [0, 0]),
        }
        sqlx::query("ALTER TABLE audit_log_away RENAME TO audit_log")
            .execute(&pool)
            .await
            .unwrap();
        for _ in 0..200 {
            if !auditor.failing() && auditor.backlog() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!auditor.failing());
        assert_eq!(&send(addr, &sign_request(4)).await[..2], [0, 0]);
        env.stop().await;
        pool.close().await;
        let got = rows(&env.url, i64::MIN).await;
        let ok: Vec<_> = got
            .iter()
            .filter(|r| r.record.outcome == "ok")
            .map(|r| r.record.digests.clone())
            .collect();
        let want: Vec<u32> = match mode {
            OnFailure::Refuse => vec![1, 2, 4],
            OnFailure::Log => vec![1, 2, 3, 4],
        };
        let want: Vec<_> = want
            .iter()
            .map(|n| hex::encode(openssl::sha::sha256(&n.to_be_bytes())))
            .collect();
        assert_eq!(ok, want, "{mode:?}");
        assert!(env.admin(&["verify"]).0);
    }
}

/// A NUL in a record (a raw client can put one in its user argument) is
/// stored as U+FFFD: PostgreSQL's `text` cannot hold NUL, and such a batch
/// would otherwise fail again and again and stall the trail (with
/// `on_failure = "refuse"`, every later request would be refused). The
/// batch is written whole and the chain verifies.
async fn a_nul_in_a_record_is_stored(pg: Option<&str>) {
    let env = Env::start(pg, |_| {}).await;
    let db = AuditDb::open(&env.url).await.unwrap();
    let start = rows(&env.url, i64::MIN).await.last().map_or(0, |r| r.seq);
    let record = |user: &str| signatrust::audit::Record {
        kind: "request".into(),
        command: "sign".into(),
        user: user.into(),
        outcome: "error".into(),
        ..Default::default()
    };
    db.append(&[record("no\0body@localobs"), record("somebody@localobs")])
        .await
        .expect("a batch with a NUL is written");
    db.close().await;
    let got = rows(&env.url, start).await;
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0].record.user, "no\u{fffd}body@localobs");
    assert_eq!(got[1].record.user, "somebody@localobs");
    let mut check = signatrust::audit::ChainCheck::new(signatrust::audit::Anchor {
        seq: start,
        hash: got[0].prev_hash.clone(),
    });
    for r in &got {
        check.push(r).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_record_is_stored_sqlite() {
    a_nul_in_a_record_is_stored(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_record_is_stored_postgres() {
    let Some(url) = pg::scratch_database().await else {
        return;
    };
    a_nul_in_a_record_is_stored(Some(&url)).await;
}

/// One request from `source` (a loopback address), reply to EOF.
async fn send_from(source: &str, addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut s = sock.connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    s.shutdown().await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut reply))
        .await
        .expect("a reply within 30 s")
        .unwrap();
    reply
}

/// The error text of a reply.
fn error_text(reply: &[u8]) -> String {
    let outlen = u16::from_be_bytes([reply[2], reply[3]]) as usize;
    String::from_utf8_lossy(&reply[6 + outlen..])
        .trim_end()
        .to_owned()
}

/// Requests refused before they are handled leave a `refused` record with
/// the error the client got: a host not on the `allow:` list (with the
/// command and user it asked for), a source port above 1024 when reserved
/// ports are required, a malformed request; a connection that sends
/// nothing leaves none. A flood of refusals is recorded at most
/// `REFUSALS_PER_SECOND` a second, the rest summed up in one record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_handling_are_recorded_rate_limited() {
    use signatrust::audit::REFUSALS_PER_SECOND;
    let mut env = Env::start(None, |_| {}).await;
    let addr = env.addr();
    // A connection that sends nothing.
    drop(tokio::net::TcpStream::connect(addr).await.unwrap());
    let host = send_from("127.0.0.2", addr, &sign_request(1)).await;
    assert_eq!(error_text(&host), "illegal host 127.0.0.2");
    // An old-protocol request with a byte past its frame.
    let malformed = send(addr, b"\x00\x01\x00\x01ab!").await;
    let malformed_text = error_text(&malformed);
    assert!(!malformed_text.is_empty());
    // Served as usual.
    assert_eq!(&send(addr, &sign_request(2)).await[..2], [0, 0]);
    // A flood from a host not allowed.
    let flood = 3 * REFUSALS_PER_SECOND as usize;
    for i in 0..flood {
        send_from("127.0.0.3", addr, &sign_request(100 + i as u32)).await;
    }
    env.stop().await;
    let got = rows(&env.url, i64::MIN).await;
    let refused: Vec<_> = got
        .iter()
        .map(|r| &r.record)
        .filter(|r| r.kind == "refused")
        .collect();
    assert_eq!(
        refused[0].error, "illegal host 127.0.0.2",
        "{:?}",
        refused[0]
    );
    assert!(refused[0].peer.starts_with("127.0.0.2:"));
    assert_eq!(refused[0].command, "sign");
    assert_eq!(refused[0].user, "SHA256:defaultkey@localobs");
    assert_eq!(refused[0].outcome, "refused");
    assert_eq!(refused[1].error, malformed_text, "{:?}", refused[1]);
    assert!(refused[1].peer.starts_with("127.0.0.1:"));
    assert_eq!(refused[1].command, "");
    // The flood: every refusal is either a record or counted in a summary,
    // and no second holds more than the budget (plus one summary).
    let flooded: Vec<_> = refused[2..]
        .iter()
        .filter(|r| r.detail.is_empty())
        .collect();
    let summarised: u64 = refused[2..]
        .iter()
        .filter_map(|r| r.detail.strip_suffix(" refusals not recorded"))
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    assert!(flooded.iter().all(|r| r.error == "illegal host 127.0.0.3"));
    assert_eq!(flooded.len() as u64 + summarised, flood as u64);
    let mut per_second = BTreeMap::new();
    for r in &refused[2..] {
        *per_second.entry(r.time_us / 1_000_000).or_insert(0u32) += 1;
    }
    assert!(
        per_second.values().all(|&n| n <= REFUSALS_PER_SECOND + 1),
        "{per_second:?}"
    );
    // Requests served are recorded as before, and the chain verifies.
    assert_eq!(got.iter().filter(|r| r.record.kind == "request").count(), 1);
    let (ok, out) = env.admin(&["verify"]);
    assert!(ok, "{out}");

    // Reserved source ports required: the test's port is refused, and
    // recorded.
    let mut env = Env::start(None, |c| c.access.allow_unprivileged_ports = false).await;
    let port = send(env.addr(), &sign_request(3)).await;
    let port_text = error_text(&port);
    env.stop().await;
    let got = rows(&env.url, i64::MIN).await;
    let refused: Vec<_> = got.iter().filter(|r| r.record.kind == "refused").collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].record.error, port_text);
    assert_eq!(refused[0].record.command, "sign");
}

/// Batches of every shape (32-, 8- and 1-row statements; `?`
/// placeholders on SQLite, numbered ones on PostgreSQL) are stored field
/// for field, in order, chained.
async fn batches_of_any_size(url: &str) {
    let db = AuditDb::open(url).await.unwrap();
    let record = |i: i64| signatrust::audit::Record {
        time_us: 1_700_000_000_000_000 + i,
        kind: "request".into(),
        peer: format!("127.0.0.1:{}", 1000 + i),
        tls_subject: format!("CN=c{i}"),
        command: "sign".into(),
        user: format!("SHA256:u{i}"),
        key: format!("k{i}"),
        fingerprint: format!("{i:040X}"),
        hash_algo: "SHA256".into(),
        digests: format!("{i:064x}"),
        outcome: "ok".into(),
        error: format!("e{i}"),
        latency_us: i,
        os_user: format!("o{i}"),
        detail: format!("d{i}"),
    };
    let first: Vec<_> = (0..1041).map(record).collect();
    assert_eq!(db.append(&first).await.unwrap(), 1041);
    let second: Vec<_> = (1041..1044).map(record).collect();
    assert_eq!(db.append(&second).await.unwrap(), 3);
    let rows = db.page(i64::MIN, 5000, &Filter::default()).await.unwrap();
    assert_eq!(rows.len(), 1044);
    let mut check = signatrust::audit::ChainCheck::new(db.anchor().await.unwrap());
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.record, record(i as i64), "row {i}");
        check.push(row).unwrap_or_else(|e| panic!("row {i}: {e}"));
    }
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_any_size_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.db");
    std::fs::File::create(&file).unwrap();
    batches_of_any_size(&format!("sqlite://{}", file.display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_any_size_on_postgres() {
    let Some(url) = pg::scratch_database().await else {
        return;
    };
    batches_of_any_size(&url).await;
}

/// Records whose fields are awkward for the SQLite row's JSON `fields`
/// column: quotes, backslashes, control characters, non-ASCII text, text
/// that looks like JSON or a number, empty strings, extreme integers.
fn awkward_records() -> Vec<signatrust::audit::Record> {
    let texts = [
        "",
        "\"quoted\" and \\backslashed\\",
        "line\nbreak\ttab\u{1}\u{1f}\u{7f}",
        "Grüße, 署名, \u{1F511}, \u{fffd}, \u{2028}",
        "[\"not\", \"an\", \"array\"]",
        "123",
        "null",
        "$[7]",
    ];
    let mut out = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let t = t.to_string();
        let i = i as i64;
        out.push(signatrust::audit::Record {
            time_us: [i64::MIN, -1, 0, i64::MAX][i as usize % 4],
            kind: t.clone(),
            peer: t.clone(),
            tls_subject: t.clone(),
            command: t.clone(),
            user: t.clone(),
            key: t.clone(),
            fingerprint: t.clone(),
            hash_algo: t.clone(),
            digests: t.clone(),
            outcome: t.clone(),
            error: t.clone(),
            latency_us: [i64::MAX, i64::MIN, 0, -7][i as usize % 4],
            os_user: t.clone(),
            detail: t + "!",
        });
    }
    out
}

/// `records` chained after `chain` (empty: from the genesis), as the
/// writer appends them: appended to `chain`.
fn extend_chain(chain: &mut Vec<Chained>, records: Vec<signatrust::audit::Record>) {
    for r in records {
        let prev = chain
            .last()
            .map_or(signatrust::audit::GENESIS.to_owned(), |c| c.hash.clone());
        let c = r.chain(chain.len() as i64 + 1, prev);
        chain.push(c);
    }
}

/// Every row of `url`'s trail equals `want` and the chain verifies.
async fn assert_trail(url: &str, want: &[Chained]) {
    let db = AuditDb::open(url).await.unwrap();
    let got = db.page(i64::MIN, 1000, &Filter::default()).await.unwrap();
    assert_eq!(got, want);
    let mut check = signatrust::audit::ChainCheck::new(db.anchor().await.unwrap());
    for row in &got {
        check
            .push(row)
            .unwrap_or_else(|e| panic!("row {}: {e}", row.seq));
    }
    db.close().await;
}

/// The writer stores awkward fields, and reads them back, unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_fields_are_stored_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.db");
    std::fs::File::create(&file).unwrap();
    let mut urls = vec![format!("sqlite://{}", file.display())];
    urls.extend(pg::scratch_database().await);
    for url in urls {
        let db = AuditDb::open(&url).await.unwrap();
        let records = awkward_records();
        assert_eq!(db.append(&records).await.unwrap(), records.len());
        db.close().await;
        let mut want = Vec::new();
        extend_chain(&mut want, records);
        assert_trail(&url, &want).await;
    }
}

/// Rows written in the one-column-per-field layout, before
/// `migrations/sqlite/0009_audit_fields.sql` packed SQLite's rows, are
/// carried over by that migration unchanged: every field reads back as
/// written and the chain still verifies, and later appends continue it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_from_before_the_packed_layout_migrate_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    sqlx::any::install_default_drivers();
    let pool: AnyPool = sqlx::pool::PoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
    sqlx::migrate::Migrator::new(std::path::Path::new(migrations))
        .await
        .unwrap()
        .run_to(8, &pool)
        .await
        .unwrap();
    let mut want = Vec::new();
    extend_chain(&mut want, awkward_records());
    for c in &want {
        insert_row_with(&pool, INSERT_A_COLUMN_PER_FIELD, c).await;
    }
    pool.close().await;
    // AuditDb::open applies 0009.
    assert_trail(&url, &want).await;
    let db = AuditDb::open(&url).await.unwrap();
    let more = awkward_records();
    db.append(&more[..2]).await.unwrap();
    db.close().await;
    extend_chain(&mut want, more.into_iter().take(2).collect());
    assert_trail(&url, &want).await;
}
