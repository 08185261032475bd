//! The repository layer: the only file in `keys` with SQL.
//!
//! One code path for SQLite and PostgreSQL through sqlx's `Any` driver with
//! `$n` placeholders and portable types (TEXT, BLOB/BYTEA, 64-bit integer
//! epoch seconds). The schema lives in `migrations/{sqlite,postgres}`, is
//! embedded in the binary and applied on open.
//!
//! SQLite durability: the database runs in WAL mode with `synchronous=FULL`.
//! WAL makes every transaction atomic (a crash mid-write leaves the previous
//! consistent state; an incomplete WAL frame is ignored on recovery) and
//! `FULL` additionally fsyncs the WAL at each commit, so an import or delete
//! that returned success survives a power loss. Writes are rare (admin
//! operations), so the extra fsync costs nothing that matters; `NORMAL`
//! would also be consistent but could lose the last commits on power loss.
//! The file is created mode 0600 (SQLite gives the `-wal`/`-shm` files the
//! same mode), `busy_timeout` is 5 s and foreign keys are on.

use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AnyPool, ConnectOptions, Connection, Row};

use super::KeyError;

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A `keys` row as stored.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct KeyRow {
    pub name: String,
    /// 40 upper-case hex digits.
    pub fingerprint: String,
    pub algo: String,
    /// User IDs joined with `\n`.
    pub user_ids: String,
    pub public: Vec<u8>,
    pub secret_ct: Vec<u8>,
    pub secret_nonce: Vec<u8>,
    pub wrapped_dek: Vec<u8>,
    pub kek_id: String,
    pub created: i64,
    pub updated: i64,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("name", &self.name)
            .field("fingerprint", &self.fingerprint)
            .field("algo", &self.algo)
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

/// The public columns of a `keys` row, for listing.
#[derive(Debug, Clone)]
pub(crate) struct KeyListRow {
    pub name: String,
    pub fingerprint: String,
    pub algo: String,
    pub user_ids: String,
    pub created: i64,
}

/// An `encryption_keys` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EncKeyRow {
    pub id: String,
    pub ct: Vec<u8>,
    pub nonce: Vec<u8>,
    pub wrapped_dek: Vec<u8>,
    pub kek_id: String,
    pub created: i64,
    pub updated: i64,
}

/// A row handed to the callback of [`Db::rewrap`].
pub(crate) enum RewrapRow<'a> {
    Key(&'a KeyRow),
    EncKey(&'a EncKeyRow),
}

/// Pool settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolConfig {
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

pub(crate) struct Db {
    pool: AnyPool,
    /// The URL with any password removed, for error messages.
    url: String,
}

/// `url` with the password (userinfo or `password=` parameter) replaced by
/// `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = out[auth_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| auth_start + i);
        if let Some(at) = out[auth_start..auth_end].rfind('@') {
            let userinfo = &out[auth_start..auth_start + at];
            if let Some(colon) = userinfo.find(':') {
                let pw_start = auth_start + colon + 1;
                out.replace_range(pw_start..auth_start + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{base}{}", query.join("&"));
    }
    out
}

fn backend_of(url: &str) -> Option<Backend> {
    if url.starts_with("sqlite:") {
        Some(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(Backend::Postgres)
    } else {
        None
    }
}

fn key_list_row(r: &AnyRow) -> Result<KeyListRow, sqlx::Error> {
    Ok(KeyListRow {
        name: r.try_get("name")?,
        fingerprint: r.try_get("fingerprint")?,
        algo: r.try_get("algo")?,
        user_ids: r.try_get("user_ids")?,
        created: r.try_get("created")?,
    })
}

fn key_row(r: &AnyRow) -> Result<KeyRow, sqlx::Error> {
    Ok(KeyRow {
        name: r.try_get("name")?,
        fingerprint: r.try_get("fingerprint")?,
        algo: r.try_get("algo")?,
        user_ids: r.try_get("user_ids")?,
        public: r.try_get("public")?,
        secret_ct: r.try_get("secret_ct")?,
        secret_nonce: r.try_get("secret_nonce")?,
        wrapped_dek: r.try_get("wrapped_dek")?,
        kek_id: r.try_get("kek_id")?,
        created: r.try_get("created")?,
        updated: r.try_get("updated")?,
    })
}

fn enc_row(r: &AnyRow) -> Result<EncKeyRow, sqlx::Error> {
    Ok(EncKeyRow {
        id: r.try_get("id")?,
        ct: r.try_get("ct")?,
        nonce: r.try_get("nonce")?,
        wrapped_dek: r.try_get("wrapped_dek")?,
        kek_id: r.try_get("kek_id")?,
        created: r.try_get("created")?,
        updated: r.try_get("updated")?,
    })
}

impl Db {
    /// Connects, preparing a new SQLite file if needed, and migrates.
    pub(crate) async fn connect(url: &str, cfg: PoolConfig) -> Result<Db, KeyError> {
        sqlx::any::install_default_drivers();
        let shown = redact_url(url);
        let err = |what: &str, e: &dyn std::fmt::Display| {
            KeyError::Database(format!("cannot open key database {shown}: {what}{e}"))
        };
        let backend = backend_of(url).ok_or_else(|| {
            KeyError::Database(format!(
                "unsupported key database URL {shown}: expected sqlite:// or postgres://"
            ))
        })?;

        if backend == Backend::Sqlite {
            prepare_sqlite(url).await.map_err(|e| err("", &e))?;
        }

        let opts = AnyConnectOptions::from_str(url).map_err(|e| err("", &e))?;
        let mut pool_opts = AnyPoolOptions::new()
            .max_connections(cfg.max_connections.max(1))
            .acquire_timeout(cfg.connect_timeout);
        if backend == Backend::Sqlite {
            pool_opts = pool_opts.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // Per connection: these are not persistent.
                    sqlx::query("PRAGMA synchronous = FULL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 5000")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = pool_opts
            .connect_with(opts)
            .await
            .map_err(|e| err("", &e))?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|e| err("migration failed: ", &e))?;
        Ok(Db { pool, url: shown })
    }

    /// The URL without its password.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    fn err(&self, what: &str, e: sqlx::Error) -> KeyError {
        KeyError::Database(format!("{}: {what}: {e}", self.url))
    }

    /// Inserts a key; `false` if the name is taken.
    pub(crate) async fn insert_key(&self, k: &KeyRow) -> Result<bool, KeyError> {
        Ok(self.insert_keys(std::slice::from_ref(k)).await? == 1)
    }

    /// Inserts keys in one transaction, skipping names already taken;
    /// returns how many were inserted.
    pub(crate) async fn insert_keys(&self, keys: &[KeyRow]) -> Result<usize, KeyError> {
        let e = |e| self.err("insert key", e);
        let mut tx = self.pool.begin().await.map_err(e)?;
        let mut inserted = 0;
        for k in keys {
            let res = sqlx::query(
                "INSERT INTO keys (name, fingerprint, algo, user_ids, public, secret_ct, \
                 secret_nonce, wrapped_dek, kek_id, created, updated) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(&k.name)
            .bind(&k.fingerprint)
            .bind(&k.algo)
            .bind(&k.user_ids)
            .bind(&k.public)
            .bind(&k.secret_ct)
            .bind(&k.secret_nonce)
            .bind(&k.wrapped_dek)
            .bind(&k.kek_id)
            .bind(k.created)
            .bind(k.updated)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
            if res.rows_affected() > 0 {
                insert_key_ids(&mut tx, &k.name, &k.public)
                    .await
                    .map_err(e)?;
            }
            inserted += res.rows_affected() as usize;
        }
        tx.commit().await.map_err(e)?;
        Ok(inserted)
    }

    pub(crate) async fn get_key(&self, name: &str) -> Result<Option<KeyRow>, KeyError> {
        let e = |e| self.err("read key", e);
        let row = sqlx::query(
            "SELECT name, fingerprint, algo, user_ids, public, secret_ct, secret_nonce, \
             wrapped_dek, kek_id, created, updated FROM keys WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(e)?;
        row.as_ref().map(key_row).transpose().map_err(e)
    }

    pub(crate) async fn list_keys(&self) -> Result<Vec<KeyListRow>, KeyError> {
        let e = |e| self.err("list keys", e);
        let rows = sqlx::query(
            "SELECT name, fingerprint, algo, user_ids, created FROM keys ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(e)?;
        rows.iter()
            .map(key_list_row)
            .collect::<Result<_, _>>()
            .map_err(e)
    }

    pub(crate) async fn delete_key(&self, name: &str) -> Result<bool, KeyError> {
        let e = |e| self.err("delete key", e);
        let mut tx = self.pool.begin().await.map_err(e)?;
        let res = sqlx::query("DELETE FROM keys WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        sqlx::query("DELETE FROM key_ids WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        tx.commit().await.map_err(e)?;
        Ok(res.rows_affected() > 0)
    }

    /// Names of the keys whose primary key or a subkey has this key ID
    /// (16 upper-case hex digits).
    pub(crate) async fn names_with_key_id(&self, key_id: &str) -> Result<Vec<String>, KeyError> {
        let e = |e| self.err("look up key ID", e);
        let rows = sqlx::query("SELECT name FROM key_ids WHERE key_id = $1 ORDER BY name")
            .bind(key_id)
            .fetch_all(&self.pool)
            .await
            .map_err(e)?;
        rows.iter().map(|r| r.try_get("name").map_err(e)).collect()
    }

    /// Names of the keys that have at least one subkey.
    pub(crate) async fn names_with_subkeys(&self) -> Result<Vec<String>, KeyError> {
        let e = |e| self.err("list keys with subkeys", e);
        let rows = sqlx::query(
            "SELECT name FROM key_ids WHERE key_id <> '' GROUP BY name HAVING COUNT(*) > 1 \
             ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(e)?;
        rows.iter().map(|r| r.try_get("name").map_err(e)).collect()
    }

    /// Indexes the key IDs of up to `batch` keys stored before the
    /// `key_ids` table existed; returns how many keys it indexed (0: all
    /// are). One transaction per batch.
    pub(crate) async fn index_key_ids(&self, batch: i64) -> Result<usize, KeyError> {
        let e = |e| self.err("index key IDs", e);
        let mut tx = self.pool.begin().await.map_err(e)?;
        let rows = sqlx::query(
            "SELECT name, public FROM keys k \
             WHERE NOT EXISTS (SELECT 1 FROM key_ids i WHERE i.name = k.name) \
             ORDER BY name LIMIT $1",
        )
        .bind(batch)
        .fetch_all(&mut *tx)
        .await
        .map_err(e)?;
        for r in &rows {
            let name: String = r.try_get("name").map_err(e)?;
            let public: Vec<u8> = r.try_get("public").map_err(e)?;
            insert_key_ids(&mut tx, &name, &public).await.map_err(e)?;
        }
        tx.commit().await.map_err(e)?;
        Ok(rows.len())
    }

    pub(crate) async fn set_alias(&self, alias: &str, target: &str) -> Result<(), KeyError> {
        let e = |e| self.err("set alias", e);
        let mut tx = self.pool.begin().await.map_err(e)?;
        sqlx::query(
            "INSERT INTO aliases (alias, target) VALUES ($1, $2) \
             ON CONFLICT (alias) DO UPDATE SET target = excluded.target",
        )
        .bind(alias)
        .bind(target)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
        tx.commit().await.map_err(e)
    }

    pub(crate) async fn remove_alias(&self, alias: &str) -> Result<bool, KeyError> {
        let e = |e| self.err("remove alias", e);
        let mut tx = self.pool.begin().await.map_err(e)?;
        let res = sqlx::query("DELETE FROM aliases WHERE alias = $1")
            .bind(alias)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        tx.commit().await.map_err(e)?;
        Ok(res.rows_affected() > 0)
    }

    pub(crate) async fn get_alias(&self, alias: &str) -> Result<Option<String>, KeyError> {
        let e = |e| self.err("read alias", e);
        let row = sqlx::query("SELECT target FROM aliases WHERE alias = $1")
            .bind(alias)
            .fetch_optional(&self.pool)
            .await
            .map_err(e)?;
        row.map(|r| r.try_get("target")).transpose().map_err(e)
    }

    pub(crate) async fn list_aliases(&self) -> Result<Vec<(String, String)>, KeyError> {
        let e = |e| self.err("list aliases", e);
        let rows = sqlx::query("SELECT alias, target FROM aliases ORDER BY alias")
            .fetch_all(&self.pool)
            .await
            .map_err(e)?;
        rows.iter()
            .map(|r| Ok((r.try_get("alias")?, r.try_get("target")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(e)
    }

    /// Inserts or replaces an encryption key.
    pub(crate) async fn put_enc_key(&self, k: &EncKeyRow) -> Result<(), KeyError> {
        let e = |e| self.err("store encryption key", e);
        let mut tx = self.pool.begin().await.map_err(e)?;
        sqlx::query(
            "INSERT INTO encryption_keys (id, ct, nonce, wrapped_dek, kek_id, created, updated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET ct = excluded.ct, nonce = excluded.nonce, \
             wrapped_dek = excluded.wrapped_dek, kek_id = excluded.kek_id, \
             updated = excluded.updated",
        )
        .bind(&k.id)
        .bind(&k.ct)
        .bind(&k.nonce)
        .bind(&k.wrapped_dek)
        .bind(&k.kek_id)
        .bind(k.created)
        .bind(k.updated)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
        tx.commit().await.map_err(e)
    }

    pub(crate) async fn get_enc_key(&self, id: &str) -> Result<Option<EncKeyRow>, KeyError> {
        let e = |e| self.err("read encryption key", e);
        let row = sqlx::query(
            "SELECT id, ct, nonce, wrapped_dek, kek_id, created, updated \
             FROM encryption_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(e)?;
        row.as_ref().map(enc_row).transpose().map_err(e)
    }

    /// How many key rows and encryption-key rows each `kek_id` wraps, as
    /// `(kek_id, keys, encryption_keys)`, sorted by id.
    pub(crate) async fn kek_usage(&self) -> Result<Vec<(String, i64, i64)>, KeyError> {
        let e = |e| self.err("count rows by KEK", e);
        let mut out: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
        let keys = sqlx::query("SELECT kek_id, COUNT(*) AS n FROM keys GROUP BY kek_id")
            .fetch_all(&self.pool)
            .await
            .map_err(e)?;
        for r in &keys {
            out.entry(r.try_get("kek_id").map_err(e)?).or_default().0 =
                r.try_get("n").map_err(e)?;
        }
        let enc = sqlx::query("SELECT kek_id, COUNT(*) AS n FROM encryption_keys GROUP BY kek_id")
            .fetch_all(&self.pool)
            .await
            .map_err(e)?;
        for r in &enc {
            out.entry(r.try_get("kek_id").map_err(e)?).or_default().1 =
                r.try_get("n").map_err(e)?;
        }
        Ok(out.into_iter().map(|(id, (k, n))| (id, k, n)).collect())
    }

    /// Re-wraps data keys in one transaction: every key row and
    /// encryption-key row is handed to `f`, which returns the new wrapped
    /// DEK and KEK id, or `None` to leave the row alone. The first error
    /// rolls everything back. Returns how many rows were rewritten.
    pub(crate) async fn rewrap(
        &self,
        mut f: impl FnMut(RewrapRow<'_>) -> Result<Option<(Vec<u8>, String)>, KeyError>,
        now: i64,
    ) -> Result<usize, KeyError> {
        let e = |e| self.err("rewrap", e);
        let mut tx = self.pool.begin().await.map_err(e)?;
        let mut changed = 0;
        let keys = sqlx::query(
            "SELECT name, fingerprint, algo, user_ids, public, secret_ct, secret_nonce, \
             wrapped_dek, kek_id, created, updated FROM keys ORDER BY name",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(e)?;
        for r in &keys {
            let k = key_row(r).map_err(e)?;
            if let Some((wrapped, kek_id)) = f(RewrapRow::Key(&k))? {
                sqlx::query(
                    "UPDATE keys SET wrapped_dek = $1, kek_id = $2, updated = $3 WHERE name = $4",
                )
                .bind(&wrapped)
                .bind(&kek_id)
                .bind(now)
                .bind(&k.name)
                .execute(&mut *tx)
                .await
                .map_err(e)?;
                changed += 1;
            }
        }
        let enc = sqlx::query(
            "SELECT id, ct, nonce, wrapped_dek, kek_id, created, updated \
             FROM encryption_keys ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(e)?;
        for r in &enc {
            let k = enc_row(r).map_err(e)?;
            if let Some((wrapped, kek_id)) = f(RewrapRow::EncKey(&k))? {
                sqlx::query(
                    "UPDATE encryption_keys SET wrapped_dek = $1, kek_id = $2, updated = $3 \
                     WHERE id = $4",
                )
                .bind(&wrapped)
                .bind(&kek_id)
                .bind(now)
                .bind(&k.id)
                .execute(&mut *tx)
                .await
                .map_err(e)?;
                changed += 1;
            }
        }
        tx.commit().await.map_err(e)?;
        Ok(changed)
    }

    /// Raw SQL for tests: a key row as stored before `key_ids` existed.
    #[cfg(test)]
    pub(crate) async fn forget_key_ids(&self, name: &str) -> Result<(), KeyError> {
        sqlx::query("DELETE FROM key_ids WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err("tamper", e))?;
        Ok(())
    }

    /// Raw SQL for tests that simulate tampering with stored rows.
    #[cfg(test)]
    pub(crate) async fn tamper_key(&self, name: &str, secret_ct: &[u8]) -> Result<(), KeyError> {
        sqlx::query("UPDATE keys SET secret_ct = $1 WHERE name = $2")
            .bind(secret_ct)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err("tamper", e))?;
        Ok(())
    }
}

/// Writes the `key_ids` rows of one key: its v4 key IDs, or one empty ID
/// when it has none (so that it counts as indexed).
async fn insert_key_ids(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    name: &str,
    public: &[u8],
) -> Result<(), sqlx::Error> {
    let mut ids: Vec<String> = crate::sign::key_ids(public)
        .iter()
        .map(hex::encode_upper)
        .collect();
    if ids.is_empty() {
        ids.push(String::new());
    }
    for id in ids {
        sqlx::query("INSERT INTO key_ids (key_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(name)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Creates the SQLite file (mode 0600) if missing and switches it to WAL.
///
/// WAL is persistent in the file, and switching needs an exclusive lock that
/// `busy_timeout` does not wait for, so it is done once on a single
/// connection before the pool opens.
async fn prepare_sqlite(url: &str) -> Result<(), String> {
    let opts = SqliteConnectOptions::from_str(url).map_err(|e| e.to_string())?;
    let path = opts.get_filename().to_owned();
    if path.as_os_str() == ":memory:" || url.contains("mode=memory") {
        return Err("in-memory SQLite databases are not supported".into());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(f) => {
            f.sync_all().map_err(|e| e.to_string())?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| e.to_string())?;
            }
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
    }
    let conn = opts
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    conn.close().await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://signer:s3cret@db.example:5432/keys"),
            "postgres://signer:***@db.example:5432/keys"
        );
        assert_eq!(
            redact_url("postgres://signer@db/keys?sslmode=require&password=hunter2"),
            "postgres://signer@db/keys?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("postgresql://u:p%40ss@h/db"),
            "postgresql://u:***@h/db"
        );
        assert_eq!(
            redact_url("sqlite:///var/lib/x.db"),
            "sqlite:///var/lib/x.db"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }

    #[tokio::test]
    async fn unsupported_scheme_is_refused() {
        let cfg = PoolConfig {
            max_connections: 1,
            connect_timeout: Duration::from_secs(1),
        };
        let Err(e) = Db::connect("mysql://u:pw@h/db", cfg).await else {
            panic!("mysql accepted")
        };
        let msg = e.to_string();
        assert!(msg.contains("mysql://u:***@h/db"), "{msg}");
        assert!(!msg.contains("pw"), "{msg}");
    }

    #[tokio::test]
    async fn unreachable_postgres_is_a_clear_error() {
        let cfg = PoolConfig {
            max_connections: 1,
            connect_timeout: Duration::from_secs(2),
        };
        // Port 1 on localhost: connection refused.
        let Err(e) = Db::connect("postgres://u:topsecret@127.0.0.1:1/keys", cfg).await else {
            panic!("connected to nothing")
        };
        let msg = e.to_string();
        assert!(matches!(e, KeyError::Database(_)), "{msg}");
        assert!(msg.contains("postgres://u:***@127.0.0.1:1/keys"), "{msg}");
        assert!(!msg.contains("topsecret"), "{msg}");
    }

    #[tokio::test]
    async fn sqlite_file_is_private_and_wal() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let url = format!("sqlite://{}", path.display());
        let cfg = PoolConfig {
            max_connections: 2,
            connect_timeout: Duration::from_secs(5),
        };
        let db = Db::connect(&url, cfg).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let jm: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(jm.to_ascii_lowercase(), "wal");
        let sync: i64 = sqlx::query("PRAGMA synchronous")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        let fk: i64 = sqlx::query("PRAGMA foreign_keys")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(fk, 1);
        db.close().await;
        // Reopening an existing, migrated file works.
        let db = Db::connect(&url, cfg).await.unwrap();
        assert!(db.get_key("nope").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn missing_directory_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/no/such/dir/k.db", dir.path().display());
        let cfg = PoolConfig {
            max_connections: 1,
            connect_timeout: Duration::from_secs(2),
        };
        let Err(e) = Db::connect(&url, cfg).await else {
            panic!("opened")
        };
        let msg = e.to_string();
        assert!(msg.contains(&url), "{msg}");
    }
}
