//! The audit tables (`migrations/*/0005_audit.sql`, `0009_audit_fields.sql`):
//! append a batch to the chain, read it back in pages, prune a prefix
//! behind an anchor.
//!
//! Rows are appended to `audit_log` (on SQLite a packed row: `seq`,
//! `time_us`, `key_name`, the other fields as one JSON array, the links)
//! and read from the view `audit_records`, which has every field as a
//! column on both backends.
//!
//! Its own connection pool on the store's database (SQLite or PostgreSQL
//! through sqlx's `Any` driver, `$n` placeholders), so that audit writes
//! never wait behind key loads and the key store knows nothing of them.
//! `seq` is the primary key: two writers (the server and an admin command)
//! that read the same tail cannot both append after it; the loser's
//! transaction fails and is retried on the new tail.
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, FromRow};

use super::record::{Anchor, Chained, Record};
use crate::keys::{redacted_url, DbError, StoreBackend, StoreUrl};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// The columns of the `audit_records` view (every field of a row), in
/// [`AuditRow`]'s order; on PostgreSQL also the `audit_log` table's.
macro_rules! audit_columns {
    () => {
        "seq, time_us, kind, peer, tls_subject, command, user_name, key_name, fingerprint, \
         hash_algo, digests, outcome, error, latency_us, os_user, detail, prev_hash, hash"
    };
}

/// The columns an append binds on SQLite, where the other fields are one
/// JSON array, `fields` ([`fields_json`]; the view `audit_records` of
/// `migrations/sqlite/0009_audit_fields.sql` reads them back).
const SQLITE_INSERT_COLUMNS: &str = "seq, time_us, key_name, fields, prev_hash, hash";

/// The columns an append binds on `backend`: the packed row on SQLite, a
/// column per field ([`audit_columns!`]) on PostgreSQL.
fn insert_columns(backend: StoreBackend) -> &'static str {
    match backend {
        StoreBackend::Sqlite => SQLITE_INSERT_COLUMNS,
        StoreBackend::Postgres => audit_columns!(),
    }
}

/// Rows per multi-row `INSERT`, largest first: a batch is written in
/// statements of these sizes (1000 records: 7 of 128 rows, 3 of 32, one
/// of 8), so that four statement texts per backend, prepared once per
/// connection and cached, cover every batch, and a batch costs a few
/// statements instead of one per record (each statement is a round trip
/// to sqlx's SQLite worker thread: 128 rows instead of 32 cut the CPU per
/// record by another 12 %). 128 rows bind at most 2304 values, far below
/// SQLite's 32766 and PostgreSQL's 65535.
///
/// On SQLite the placeholders are anonymous (`?`): with `$N`, sqlx asks
/// SQLite for each parameter's name (`sqlite3_bind_parameter_name`, a
/// linear search), so binding a statement costs O(parameters²), which is
/// why an earlier 500-row `INSERT` with `$N` was much slower than one row
/// per statement (BENCHMARKS.md). Measured on this machine (release,
/// 20,000 rows, both indexes): 13-15 µs CPU per row with one `$N` row per
/// statement, 4-5 µs with 32 `?` rows.
const INSERT_ROWS: [usize; 4] = [128, 32, 8, 1];

/// The `INSERT` of `rows` rows (one of [`INSERT_ROWS`]) for `backend`,
/// built once.
fn insert_sql(backend: StoreBackend, rows: usize) -> &'static str {
    type Texts = [String; INSERT_ROWS.len()];
    static SQL: std::sync::OnceLock<(Texts, Texts)> = std::sync::OnceLock::new();
    let build = |backend: StoreBackend| {
        let names = insert_columns(backend);
        let columns = names.split(',').count();
        INSERT_ROWS.map(|n| {
            let values: Vec<String> = (0..n)
                .map(|row| {
                    let params: Vec<String> = (1..=columns)
                        .map(|c| match backend {
                            StoreBackend::Postgres => format!("${}", row * columns + c),
                            StoreBackend::Sqlite => "?".to_owned(),
                        })
                        .collect();
                    format!("({})", params.join(", "))
                })
                .collect();
            format!(
                "INSERT INTO audit_log ({names}) VALUES {}",
                values.join(", ")
            )
        })
    };
    let (sqlite, postgres) =
        SQL.get_or_init(|| (build(StoreBackend::Sqlite), build(StoreBackend::Postgres)));
    let i = INSERT_ROWS
        .iter()
        .position(|&n| n == rows)
        .expect("one of INSERT_ROWS");
    match backend {
        StoreBackend::Sqlite => &sqlite[i],
        StoreBackend::Postgres => &postgres[i],
    }
}

/// The SQLite `fields` column of `r`: a JSON array of the fields that are
/// neither indexed (`time_us`, `key_name`) nor links of the chain, in the
/// order `migrations/sqlite/0009_audit_fields.sql` reads them.
fn fields_json(r: &Record) -> String {
    let fields = (
        &r.kind,
        &r.peer,
        &r.tls_subject,
        &r.command,
        &r.user,
        &r.fingerprint,
        &r.hash_algo,
        &r.digests,
        &r.outcome,
        &r.error,
        r.latency_us,
        &r.os_user,
        &r.detail,
    );
    serde_json::to_string(&fields).expect("strings and an integer encode as JSON")
}

const TAIL: &str = "SELECT seq, hash, prev_hash FROM audit_log ORDER BY seq DESC LIMIT 1";
const ANCHOR: &str = "SELECT seq, hash FROM audit_anchor WHERE id = 1";

/// Appending gives up after this many lost races or busy databases.
const APPEND_ATTEMPTS: u32 = 20;

/// How long one append transaction may take, in all, plus
/// [`APPEND_WAIT_PER_RECORD`]. Above SQLite's busy timeout (5 s) and
/// PostgreSQL's `lock_timeout` (5 s), which answer a held lock with an
/// error first; a healthy database commits a batch of 1024 in
/// milliseconds.
const APPEND_WAIT: Duration = Duration::from_secs(10);
/// More time per record of the batch, for the largest `[audit] batch`
/// (65,536: 43 s in all) on a slow disk.
const APPEND_WAIT_PER_RECORD: Duration = Duration::from_micros(500);

/// An audit database failure, naming the database (password removed).
#[derive(Debug, thiserror::Error)]
#[error("audit database {url}: {what}")]
pub struct AuditDbError {
    url: String,
    what: String,
    /// sqlx's text with its causes, shown once (`keys::DbError`).
    #[source]
    source: Option<DbError>,
}

/// Which rows `audit list` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only rows of this key name.
    pub key: Option<String>,
    /// Only rows at or after this time (epoch microseconds).
    pub since_us: Option<i64>,
    /// Only rows before this time (epoch microseconds).
    pub until_us: Option<i64>,
}

#[derive(FromRow)]
struct AuditRow {
    seq: i64,
    time_us: i64,
    kind: String,
    peer: String,
    tls_subject: String,
    command: String,
    user_name: String,
    key_name: String,
    fingerprint: String,
    hash_algo: String,
    digests: String,
    outcome: String,
    error: String,
    latency_us: i64,
    os_user: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl From<AuditRow> for Chained {
    fn from(r: AuditRow) -> Chained {
        Chained {
            seq: r.seq,
            prev_hash: r.prev_hash,
            hash: r.hash,
            record: Record {
                time_us: r.time_us,
                kind: r.kind,
                peer: r.peer,
                tls_subject: r.tls_subject,
                command: r.command,
                user: r.user_name,
                key: r.key_name,
                fingerprint: r.fingerprint,
                hash_algo: r.hash_algo,
                digests: r.digests,
                outcome: r.outcome,
                error: r.error,
                latency_us: r.latency_us,
                os_user: r.os_user,
                detail: r.detail,
            },
        }
    }
}

/// The audit tables of one database.
#[derive(Debug, Clone)]
pub struct AuditDb {
    pool: AnyPool,
    url: String,
    backend: StoreBackend,
    /// An append timed out, so its commit may have been made without the
    /// answer arriving: the next append first checks whether the chain
    /// already ends with its records (and then does not write them twice).
    uncertain: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// How long a write waits for a database connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

impl AuditDb {
    /// A pool that connects on first use (no I/O here): for the server,
    /// which has opened and migrated the store already. A SQLite file gets
    /// the store's per-connection settings (`synchronous = FULL`, a 5 s
    /// busy timeout).
    pub fn lazy(url: &str) -> Result<AuditDb, AuditDbError> {
        sqlx::any::install_default_drivers();
        let shown = redacted_url(url);
        let backend = StoreUrl::parse(url)
            .map(|u| u.backend())
            .map_err(|_| AuditDbError {
                url: shown.clone(),
                what: "unsupported URL: expected sqlite:// or postgres://".into(),
                source: None,
            })?;
        let opts = AnyConnectOptions::from_str(url).map_err(|e| AuditDbError {
            url: shown.clone(),
            what: "bad URL".into(),
            source: Some(e.into()),
        })?;
        // One writer, so a connection is never waited for: the timeout
        // bounds a database that cannot be reached (a refused connection
        // is retried until then), which is how long `on_failure =
        // "refuse"` takes to start refusing.
        let mut pool = AnyPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(ACQUIRE_TIMEOUT);
        // Per connection: SQLite's durability and busy wait; on PostgreSQL,
        // a transaction left open by a writer that timed out (its client
        // gone silent in a partition) ends on the server after 30 s instead
        // of holding its rows' locks until TCP gives up, and a write that
        // waits for such locks fails after 5 s (then retried).
        let settings: &'static [&'static str] = match backend {
            StoreBackend::Sqlite => &["PRAGMA synchronous = FULL", "PRAGMA busy_timeout = 5000"],
            StoreBackend::Postgres => &[
                "SET idle_in_transaction_session_timeout = '30s'",
                "SET lock_timeout = '5s'",
            ],
        };
        pool = pool.after_connect(move |conn, _meta| {
            Box::pin(async move {
                for &setting in settings {
                    sqlx::query(setting).execute(&mut *conn).await?;
                }
                Ok(())
            })
        });
        Ok(AuditDb {
            pool: pool.connect_lazy_with(opts),
            url: shown,
            backend,
            uncertain: Default::default(),
        })
    }

    /// A transaction that writes: `BEGIN IMMEDIATE` on SQLite, so that
    /// reading the chain's tail and appending to it cannot be interleaved
    /// with another writer (nor fail with "database is locked" on the
    /// upgrade); plain `BEGIN` on PostgreSQL.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            StoreBackend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            StoreBackend::Postgres => self.pool.begin().await,
        }
    }

    /// Connects and applies the store's migrations (for `signatrust-admin
    /// audit`, which needs no KEK).
    ///
    /// # Errors
    /// A SQLite file that does not exist (named: a mistyped data directory
    /// is not a store, and is not created here), or the database fails.
    pub async fn open(url: &str) -> Result<AuditDb, AuditDbError> {
        let db = AuditDb::lazy(url)?;
        if let Some(path) = StoreUrl::parse(url).ok().and_then(|u| u.missing_file()) {
            return Err(AuditDbError {
                url: db.url.clone(),
                what: format!(
                    "no key store at {} (`signatrust-admin init` or a server's first start \
                     creates it)",
                    path.display()
                ),
                source: None,
            });
        }
        let migrator = match StoreUrl::parse(url).map(|u| u.backend()) {
            Ok(StoreBackend::Postgres) => &POSTGRES_MIGRATOR,
            _ => &SQLITE_MIGRATOR,
        };
        migrator
            .run(&db.pool)
            .await
            .map_err(|e| db.error("migration failed")(sqlx::Error::from(e)))?;
        Ok(db)
    }

    /// The URL without its password.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn error(&self, what: &'static str) -> impl Fn(sqlx::Error) -> AuditDbError + '_ {
        move |e| AuditDbError {
            url: self.url.clone(),
            what: what.into(),
            source: Some(e.into()),
        }
    }

    /// Appends `records` to the chain in one transaction, in order, and
    /// returns how many were appended. Retried (a few ms apart) while
    /// another writer wins the race for the tail or the database is busy.
    pub async fn append(&self, records: &[Record]) -> Result<usize, AuditDbError> {
        let mut attempt = 0;
        loop {
            match self.try_append(records).await {
                Ok(rows) => return Ok(rows),
                Err(e) if attempt + 1 < APPEND_ATTEMPTS && retryable(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(2 << attempt.min(7))).await;
                }
                Err(e) => return Err(self.error("cannot append audit records")(e)),
            }
        }
    }

    /// One attempt at appending, on a connection of its own, bounded by
    /// [`APPEND_WAIT`]: a database that stops answering in the middle of
    /// the transaction (a network partition; PostgreSQL has no timeout of
    /// its own here) is an error after that, not a writer that waits
    /// forever while the backlog grows and a shutdown never ends. The
    /// connection is then dropped, not returned to the pool: it may still
    /// be waiting for the answer.
    async fn try_append(&self, records: &[Record]) -> Result<usize, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let wait = APPEND_WAIT + APPEND_WAIT_PER_RECORD * records.len() as u32;
        match tokio::time::timeout(wait, self.append_on(&mut conn, records)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                self.uncertain.store(true, Ordering::Relaxed);
                drop(conn.detach());
                Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", wait.as_secs()),
                )))
            }
        }
    }

    async fn append_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        records: &[Record],
    ) -> Result<usize, sqlx::Error> {
        use sqlx::Connection;
        let mut tx = match self.backend {
            StoreBackend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
            StoreBackend::Postgres => conn.begin().await?,
        };
        let tail: Option<(i64, String, String)> =
            sqlx::query_as(TAIL).fetch_optional(&mut *tx).await?;
        // After an attempt that timed out, its commit may have been made
        // (the answer lost, or SQLite's worker finishing it): then the
        // chain ends with this batch's last record, as a batch commits
        // whole. Checked in this transaction, so that it holds.
        let uncertain = self.uncertain.load(Ordering::Relaxed);
        if let (true, Some((seq, hash, prev_hash)), Some(r)) = (uncertain, &tail, records.last()) {
            if r.clone().without_nul().hash(*seq, prev_hash) == *hash {
                tx.rollback().await?;
                self.uncertain.store(false, Ordering::Relaxed);
                tracing::warn!(
                    records = records.len(),
                    "the audit transaction that timed out was committed after all; not written again"
                );
                return Ok(records.len());
            }
        }
        let (mut seq, mut prev) = match tail {
            Some((seq, hash, _)) => (seq, hash),
            None => {
                let a: Option<(i64, String)> =
                    sqlx::query_as(ANCHOR).fetch_optional(&mut *tx).await?;
                a.unwrap_or_else(|| {
                    let d = Anchor::default();
                    (d.seq, d.hash)
                })
            }
        };
        // A record with a NUL is stored (and hashed) with U+FFFD in its
        // place (Record::without_nul); the rest are bound as they are.
        let cleaned: Vec<Record>;
        let records = if records.iter().any(Record::has_nul) {
            cleaned = records.iter().cloned().map(Record::without_nul).collect();
            &cleaned[..]
        } else {
            records
        };
        // Each record's place: (seq, prev_hash, hash). The records
        // themselves are bound as they are, not copied; the links are
        // moved into the statement (a value bound by reference is cloned).
        let mut links = Vec::with_capacity(records.len());
        for r in records {
            seq += 1;
            let hash = r.hash(seq, &prev);
            links.push((seq, std::mem::replace(&mut prev, hash.clone()), hash));
        }
        let mut rest = records.iter().zip(links);
        let mut left = records.len();
        while left > 0 {
            let rows = INSERT_ROWS.into_iter().find(|&n| n <= left).unwrap_or(1);
            left -= rows;
            let mut q = sqlx::query(insert_sql(self.backend, rows));
            for (r, (seq, prev_hash, hash)) in rest.by_ref().take(rows) {
                q = match self.backend {
                    StoreBackend::Sqlite => q
                        .bind(seq)
                        .bind(r.time_us)
                        .bind(&r.key)
                        .bind(fields_json(r))
                        .bind(prev_hash)
                        .bind(hash),
                    StoreBackend::Postgres => q
                        .bind(seq)
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
                        .bind(prev_hash)
                        .bind(hash),
                };
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        if uncertain {
            self.uncertain.store(false, Ordering::Relaxed);
        }
        Ok(records.len())
    }

    /// Where the chain starts: the prune anchor, or the beginning.
    pub async fn anchor(&self) -> Result<Anchor, AuditDbError> {
        let a: Option<(i64, String)> = sqlx::query_as(ANCHOR)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.error("cannot read the audit anchor"))?;
        Ok(a.map(|(seq, hash)| Anchor { seq, hash })
            .unwrap_or_default())
    }

    /// Up to `limit` rows after `after_seq` that pass `filter`, by `seq`.
    pub async fn page(
        &self,
        after_seq: i64,
        limit: i64,
        filter: &Filter,
    ) -> Result<Vec<Chained>, AuditDbError> {
        let mut sql = format!(
            "SELECT {} FROM audit_records WHERE seq > $1",
            audit_columns!()
        );
        let mut n = 1;
        let mut next = |col: &str, op: &str| {
            n += 1;
            format!(" AND {col} {op} ${n}")
        };
        if filter.key.is_some() {
            sql += &next("key_name", "=");
        }
        if filter.since_us.is_some() {
            sql += &next("time_us", ">=");
        }
        if filter.until_us.is_some() {
            sql += &next("time_us", "<");
        }
        sql += &format!(" ORDER BY seq LIMIT {}", limit.max(1));
        // Built from the constant fragments above only; values are bound.
        let mut q = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql)).bind(after_seq);
        if let Some(k) = &filter.key {
            q = q.bind(k.clone());
        }
        if let Some(t) = filter.since_us {
            q = q.bind(t);
        }
        if let Some(t) = filter.until_us {
            q = q.bind(t);
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .map_err(self.error("cannot read audit records"))?;
        Ok(rows.into_iter().map(Chained::from).collect())
    }

    /// Removes the longest run of oldest rows written before `before_us`
    /// and records the last removed row's seq and hash as the anchor, in
    /// one transaction. Returns how many rows were removed.
    pub async fn prune(&self, before_us: i64, now_us: i64) -> Result<u64, AuditDbError> {
        let prune = async {
            let mut tx = self.begin_write().await?;
            let first_kept: Option<(i64,)> = sqlx::query_as(
                "SELECT seq FROM audit_log WHERE time_us >= $1 ORDER BY seq LIMIT 1",
            )
            .bind(before_us)
            .fetch_optional(&mut *tx)
            .await?;
            let cut: Option<(i64, String)> =
                match first_kept {
                    Some((kept,)) => sqlx::query_as(
                        "SELECT seq, hash FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT 1",
                    )
                    .bind(kept)
                    .fetch_optional(&mut *tx)
                    .await?,
                    None => {
                        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                            .fetch_optional(&mut *tx)
                            .await?
                    }
                };
            let Some((seq, hash)) = cut else {
                return Ok(0);
            };
            let removed = sqlx::query("DELETE FROM audit_log WHERE seq <= $1")
                .bind(seq)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "INSERT INTO audit_anchor (id, seq, hash, pruned_at) VALUES (1, $1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
                 pruned_at = excluded.pruned_at",
            )
            .bind(seq)
            .bind(&hash)
            .bind(now_us)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(removed)
        };
        prune
            .await
            .map_err(self.error("cannot prune audit records"))
    }

    /// Answers a trivial query (for readiness).
    pub async fn ping(&self) -> Result<(), AuditDbError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(self.error("does not answer"))
    }
}

/// A lost race for the tail (unique violation) or a busy/locked SQLite.
fn retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation() || {
                let m = d.message().to_ascii_lowercase();
                m.contains("locked") || m.contains("busy")
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One text per size and backend, with as many placeholders as values
    /// bound: anonymous on SQLite, numbered on PostgreSQL.
    #[test]
    fn insert_texts() {
        // The packed SQLite row binds 6 values, PostgreSQL's row 18.
        let (lite, pg_cols) = (6, 18);
        for rows in INSERT_ROWS {
            let sqlite = insert_sql(StoreBackend::Sqlite, rows);
            assert_eq!(sqlite.matches('?').count(), rows * lite);
            assert!(!sqlite.contains('$'));
            let pg = insert_sql(StoreBackend::Postgres, rows);
            assert!(pg.contains(&format!("${})", rows * pg_cols)));
            assert!(!pg.contains(&format!("${}", rows * pg_cols + 1)));
            assert_eq!(pg.matches('(').count(), rows + 1);
        }
    }
    // Batches of every shape, stored and chained: tests/audit.rs, on SQLite
    // and PostgreSQL.

    /// sqlx's texts carry their causes: the chain shows each one once
    /// (it showed a failed migration's cause four times).
    #[test]
    fn errors_show_each_cause_once() {
        let cause = sqlx::Error::Protocol("unable to open database file".into());
        let migrate = sqlx::Error::from(sqlx::migrate::MigrateError::Execute(cause));
        let e = AuditDbError {
            url: "sqlite:///x.db".into(),
            what: "migration failed".into(),
            source: Some(migrate.into()),
        };
        let text = format!("{:#}", anyhow::Error::new(e));
        assert_eq!(
            text.matches("unable to open database file").count(),
            1,
            "{text}"
        );
        assert!(text.starts_with("audit database sqlite:///x.db: migration failed: "));
    }

    /// A SQLite store that does not exist is named, and not created.
    #[tokio::test]
    async fn open_refuses_a_missing_sqlite_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.db");
        let url = format!("sqlite://{}", path.display());
        let Err(e) = AuditDb::open(&url).await else {
            panic!("opened a store that does not exist");
        };
        let text = format!("{:#}", anyhow::Error::new(e));
        assert!(
            text.contains(&format!("no key store at {}", path.display())),
            "{text}"
        );
        assert!(!path.exists());
    }
}
