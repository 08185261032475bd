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

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AnyPool, ConnectOptions, Connection, FromRow};

use super::error::KeyError;
use super::url::{StoreBackend, StoreUrl};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// The columns of a `keys` row, in [`KeyRow`]'s order. A macro rather than
/// a `const` so that `concat!` builds each statement at compile time (sqlx
/// takes SQL as `&'static str`); the list is written only here.
macro_rules! key_columns {
    () => {
        "name, fingerprint, algo, user_ids, public, secret_ct, secret_nonce, wrapped_dek, \
         kek_id, created, updated, decrypt_only"
    };
}

/// The columns of an `encryption_keys` row, in [`EncKeyRow`]'s order (see
/// [`key_columns`]).
macro_rules! enc_key_columns {
    () => {
        "id, ct, nonce, wrapped_dek, kek_id, created, updated"
    };
}

const INSERT_KEY: &str = concat!(
    "INSERT INTO keys (",
    key_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (name) DO NOTHING"
);
const SELECT_KEY: &str = concat!("SELECT ", key_columns!(), " FROM keys WHERE name = $1");
const SELECT_KEYS: &str = concat!("SELECT ", key_columns!(), " FROM keys ORDER BY name");
const PUT_ENC_KEY: &str = concat!(
    "INSERT INTO encryption_keys (",
    enc_key_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (id) DO UPDATE SET ct = excluded.ct, nonce = excluded.nonce, \
     wrapped_dek = excluded.wrapped_dek, kek_id = excluded.kek_id, updated = excluded.updated"
);
const SELECT_ENC_KEY: &str = concat!(
    "SELECT ",
    enc_key_columns!(),
    " FROM encryption_keys WHERE id = $1"
);
const SELECT_ENC_KEYS: &str = concat!(
    "SELECT ",
    enc_key_columns!(),
    " FROM encryption_keys ORDER BY id"
);

/// A `keys` row as stored.
#[derive(Clone, PartialEq, Eq, FromRow)]
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
    /// Seconds since the epoch.
    pub created: i64,
    /// Seconds since the epoch.
    pub updated: i64,
    /// 1: kept only to decrypt gpg blobs addressed to it, never served
    /// (migration 0004); 0: a signing key.
    pub decrypt_only: i64,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("name", &self.name)
            .field("fingerprint", &self.fingerprint)
            .field("algo", &self.algo)
            .field("kek_id", &self.kek_id)
            .field("decrypt_only", &self.decrypt_only)
            .finish_non_exhaustive()
    }
}

/// A key row to insert, with the key IDs (16 upper-case hex digits) of its
/// primary key and subkeys for the `key_ids` index. The caller reads them
/// from the public key: this layer does not parse OpenPGP.
pub(crate) struct NewKey {
    pub row: KeyRow,
    pub key_ids: Vec<String>,
}

/// The public columns of a `keys` row, for listing.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub(crate) struct KeyListRow {
    pub name: String,
    pub fingerprint: String,
    pub algo: String,
    pub user_ids: String,
    pub created: i64,
    pub decrypt_only: i64,
}

impl From<&KeyRow> for KeyListRow {
    fn from(r: &KeyRow) -> Self {
        KeyListRow {
            name: r.name.clone(),
            fingerprint: r.fingerprint.clone(),
            algo: r.algo.clone(),
            user_ids: r.user_ids.clone(),
            created: r.created,
            decrypt_only: r.decrypt_only,
        }
    }
}

/// An `encryption_keys` row.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
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

/// A database URL with its password (userinfo or `password=` parameter)
/// replaced by `***`, for messages.
pub fn redacted_url(url: &str) -> String {
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

impl Db {
    /// Connects, preparing a new SQLite file if needed, and migrates.
    pub(crate) async fn connect(url: &str, cfg: PoolConfig) -> Result<Db, KeyError> {
        sqlx::any::install_default_drivers();
        let shown = redacted_url(url);
        let context = format!("cannot open key database {shown}");
        let err = |e: sqlx::Error| KeyError::database(context.clone(), e);
        // The scheme is judged once, by the type `config` also parses with.
        let backend =
            StoreUrl::parse(url)
                .map(|u| u.backend())
                .map_err(|_| KeyError::Database {
                    context: format!(
                        "unsupported key database URL {shown}: expected sqlite:// or postgres://"
                    ),
                    source: None,
                })?;

        if backend == StoreBackend::Sqlite {
            prepare_sqlite(url, &context).await?;
        }

        let opts = AnyConnectOptions::from_str(url).map_err(err)?;
        let mut pool_opts = AnyPoolOptions::new()
            .max_connections(cfg.max_connections.max(1))
            .acquire_timeout(cfg.connect_timeout);
        if backend == StoreBackend::Sqlite {
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
        let pool = pool_opts.connect_with(opts).await.map_err(err)?;
        let migrator = match backend {
            StoreBackend::Sqlite => &SQLITE_MIGRATOR,
            StoreBackend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator.run(&pool).await.map_err(|e| {
            KeyError::database(format!("{context}: migration failed"), sqlx::Error::from(e))
        })?;
        Ok(Db { pool, url: shown })
    }

    /// The URL without its password.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    /// Turns a sqlx error of the operation `what` into a [`KeyError`] that
    /// names the database.
    fn error(&self, what: &'static str) -> impl Fn(sqlx::Error) -> KeyError + '_ {
        move |e| KeyError::database(format!("{}: {what}", self.url), e)
    }

    /// Inserts a key; `false` if the name is taken.
    pub(crate) async fn insert_key(&self, k: &NewKey) -> Result<bool, KeyError> {
        Ok(self.insert_keys(std::slice::from_ref(k)).await? == 1)
    }

    /// Inserts keys (and their key IDs) in one transaction, skipping names
    /// already taken; returns how many were inserted.
    pub(crate) async fn insert_keys(&self, keys: &[NewKey]) -> Result<usize, KeyError> {
        Ok(self
            .insert_keys_each(keys)
            .await?
            .into_iter()
            .filter(|&inserted| inserted)
            .count())
    }

    /// [`Db::insert_keys`], saying for each key whether it was inserted
    /// (`false`: the name was taken).
    pub(crate) async fn insert_keys_each(&self, keys: &[NewKey]) -> Result<Vec<bool>, KeyError> {
        let insert = async {
            let mut tx = self.pool.begin().await?;
            let mut inserted = Vec::with_capacity(keys.len());
            for NewKey { row: k, key_ids } in keys {
                let res = sqlx::query(INSERT_KEY)
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
                    .bind(k.decrypt_only)
                    .execute(&mut *tx)
                    .await?;
                if res.rows_affected() > 0 {
                    insert_key_ids(&mut tx, &k.name, key_ids).await?;
                }
                inserted.push(res.rows_affected() > 0);
            }
            tx.commit().await?;
            Ok(inserted)
        };
        insert.await.map_err(self.error("insert key"))
    }

    pub(crate) async fn get_key(&self, name: &str) -> Result<Option<KeyRow>, KeyError> {
        sqlx::query_as(SELECT_KEY)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.error("read key"))
    }

    pub(crate) async fn list_keys(&self) -> Result<Vec<KeyListRow>, KeyError> {
        sqlx::query_as(
            "SELECT name, fingerprint, algo, user_ids, created, decrypt_only FROM keys \
             ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.error("list keys"))
    }

    /// Deletes a key and its key IDs; `false` if there was none.
    pub(crate) async fn delete_key(&self, name: &str) -> Result<bool, KeyError> {
        let delete = async {
            let mut tx = self.pool.begin().await?;
            let res = sqlx::query("DELETE FROM keys WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM key_ids WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(res.rows_affected() > 0)
        };
        delete.await.map_err(self.error("delete key"))
    }

    /// Names of the keys whose primary key or a subkey has this key ID
    /// (16 upper-case hex digits).
    pub(crate) async fn names_with_key_id(&self, key_id: &str) -> Result<Vec<String>, KeyError> {
        sqlx::query_scalar("SELECT name FROM key_ids WHERE key_id = $1 ORDER BY name")
            .bind(key_id)
            .fetch_all(&self.pool)
            .await
            .map_err(self.error("look up key ID"))
    }

    /// Names of the keys that have at least one subkey.
    pub(crate) async fn names_with_subkeys(&self) -> Result<Vec<String>, KeyError> {
        sqlx::query_scalar(
            "SELECT name FROM key_ids WHERE key_id <> '' GROUP BY name HAVING COUNT(*) > 1 \
             ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.error("list keys with subkeys"))
    }

    /// Indexes the key IDs of up to `batch` keys stored before the
    /// `key_ids` table existed, reading each key's IDs from its public key
    /// with `key_ids`; returns how many keys it indexed (0: all are). One
    /// transaction per batch.
    pub(crate) async fn index_key_ids(
        &self,
        batch: i64,
        key_ids: impl Fn(&[u8]) -> Vec<String>,
    ) -> Result<usize, KeyError> {
        let index = async {
            let mut tx = self.pool.begin().await?;
            let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
                "SELECT name, public FROM keys k \
                 WHERE NOT EXISTS (SELECT 1 FROM key_ids i WHERE i.name = k.name) \
                 ORDER BY name LIMIT $1",
            )
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
            for (name, public) in &rows {
                insert_key_ids(&mut tx, name, &key_ids(public)).await?;
            }
            tx.commit().await?;
            Ok(rows.len())
        };
        index.await.map_err(self.error("index key IDs"))
    }

    pub(crate) async fn set_alias(&self, alias: &str, target: &str) -> Result<(), KeyError> {
        sqlx::query(
            "INSERT INTO aliases (alias, target) VALUES ($1, $2) \
             ON CONFLICT (alias) DO UPDATE SET target = excluded.target",
        )
        .bind(alias)
        .bind(target)
        .execute(&self.pool)
        .await
        .map_err(self.error("set alias"))?;
        Ok(())
    }

    pub(crate) async fn remove_alias(&self, alias: &str) -> Result<bool, KeyError> {
        let res = sqlx::query("DELETE FROM aliases WHERE alias = $1")
            .bind(alias)
            .execute(&self.pool)
            .await
            .map_err(self.error("remove alias"))?;
        Ok(res.rows_affected() > 0)
    }

    pub(crate) async fn get_alias(&self, alias: &str) -> Result<Option<String>, KeyError> {
        sqlx::query_scalar("SELECT target FROM aliases WHERE alias = $1")
            .bind(alias)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.error("read alias"))
    }

    pub(crate) async fn list_aliases(&self) -> Result<Vec<(String, String)>, KeyError> {
        sqlx::query_as("SELECT alias, target FROM aliases ORDER BY alias")
            .fetch_all(&self.pool)
            .await
            .map_err(self.error("list aliases"))
    }

    /// Inserts or replaces an encryption key.
    pub(crate) async fn put_enc_key(&self, k: &EncKeyRow) -> Result<(), KeyError> {
        sqlx::query(PUT_ENC_KEY)
            .bind(&k.id)
            .bind(&k.ct)
            .bind(&k.nonce)
            .bind(&k.wrapped_dek)
            .bind(&k.kek_id)
            .bind(k.created)
            .bind(k.updated)
            .execute(&self.pool)
            .await
            .map_err(self.error("store encryption key"))?;
        Ok(())
    }

    pub(crate) async fn get_enc_key(&self, id: &str) -> Result<Option<EncKeyRow>, KeyError> {
        sqlx::query_as(SELECT_ENC_KEY)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.error("read encryption key"))
    }

    /// How many key rows and encryption-key rows each `kek_id` wraps, as
    /// `(kek_id, keys, encryption_keys)`, sorted by id.
    pub(crate) async fn kek_usage(&self) -> Result<Vec<(String, i64, i64)>, KeyError> {
        let count = async {
            let keys: Vec<(String, i64)> =
                sqlx::query_as("SELECT kek_id, COUNT(*) AS n FROM keys GROUP BY kek_id")
                    .fetch_all(&self.pool)
                    .await?;
            let enc: Vec<(String, i64)> =
                sqlx::query_as("SELECT kek_id, COUNT(*) AS n FROM encryption_keys GROUP BY kek_id")
                    .fetch_all(&self.pool)
                    .await?;
            Ok((keys, enc))
        };
        let (keys, enc) = count.await.map_err(self.error("count rows by KEK"))?;
        let mut out: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
        for (id, n) in keys {
            out.entry(id).or_default().0 = n;
        }
        for (id, n) in enc {
            out.entry(id).or_default().1 = n;
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
        let e = self.error("rewrap");
        let mut tx = self.pool.begin().await.map_err(&e)?;
        let mut changed = 0;
        let keys: Vec<KeyRow> = sqlx::query_as(SELECT_KEYS)
            .fetch_all(&mut *tx)
            .await
            .map_err(&e)?;
        for k in &keys {
            if let Some((wrapped, kek_id)) = f(RewrapRow::Key(k))? {
                sqlx::query(
                    "UPDATE keys SET wrapped_dek = $1, kek_id = $2, updated = $3 WHERE name = $4",
                )
                .bind(&wrapped)
                .bind(&kek_id)
                .bind(now)
                .bind(&k.name)
                .execute(&mut *tx)
                .await
                .map_err(&e)?;
                changed += 1;
            }
        }
        let enc: Vec<EncKeyRow> = sqlx::query_as(SELECT_ENC_KEYS)
            .fetch_all(&mut *tx)
            .await
            .map_err(&e)?;
        for k in &enc {
            if let Some((wrapped, kek_id)) = f(RewrapRow::EncKey(k))? {
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
                .map_err(&e)?;
                changed += 1;
            }
        }
        tx.commit().await.map_err(&e)?;
        Ok(changed)
    }

    /// Raw SQL for tests: a key row as stored before `key_ids` existed.
    #[cfg(test)]
    pub(crate) async fn forget_key_ids(&self, name: &str) -> Result<(), KeyError> {
        sqlx::query("DELETE FROM key_ids WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(self.error("tamper"))?;
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
            .map_err(self.error("tamper"))?;
        Ok(())
    }
}

/// Writes the `key_ids` rows of one key: its key IDs, or one empty ID
/// when it has none (so that it counts as indexed).
async fn insert_key_ids(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    name: &str,
    key_ids: &[String],
) -> Result<(), sqlx::Error> {
    let none = [String::new()];
    let ids = if key_ids.is_empty() {
        &none[..]
    } else {
        key_ids
    };
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
/// Errors carry `context`, which names the database.
///
/// WAL is persistent in the file, and switching needs an exclusive lock that
/// `busy_timeout` does not wait for, so it is done once on a single
/// connection before the pool opens.
async fn prepare_sqlite(url: &str, context: &str) -> Result<(), KeyError> {
    let sql_err = |e: sqlx::Error| KeyError::database(context.to_owned(), e);
    let io_err = |e: std::io::Error| KeyError::database(context.to_owned(), e);
    let opts = SqliteConnectOptions::from_str(url).map_err(sql_err)?;
    let path = opts.get_filename().to_owned();
    if path.as_os_str() == ":memory:" || url.contains("mode=memory") {
        return Err(KeyError::Database {
            context: format!("{context}: in-memory SQLite databases are not supported"),
            source: None,
        });
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(f) => {
            f.sync_all().map_err(io_err)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io_err)?;
            }
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(KeyError::database(
                format!("{context}: cannot create {}", path.display()),
                e,
            ))
        }
    }
    let conn = opts
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(sql_err)?;
    conn.close().await.map_err(sql_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redacted_url("postgres://signer:s3cret@db.example:5432/keys"),
            "postgres://signer:***@db.example:5432/keys"
        );
        assert_eq!(
            redacted_url("postgres://signer@db/keys?sslmode=require&password=hunter2"),
            "postgres://signer@db/keys?sslmode=require&password=***"
        );
        assert_eq!(
            redacted_url("postgresql://u:p%40ss@h/db"),
            "postgresql://u:***@h/db"
        );
        assert_eq!(
            redacted_url("sqlite:///var/lib/x.db"),
            "sqlite:///var/lib/x.db"
        );
        assert_eq!(redacted_url("postgres://h/db"), "postgres://h/db");
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
        assert!(matches!(e, KeyError::Database { .. }), "{msg}");
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

    /// The derived row mappings read back every column as written, on the
    /// `Any` driver: user IDs stay one `\n`-joined string, blobs stay
    /// bytes, and the listing is the public part of the row.
    #[tokio::test]
    async fn rows_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let cfg = PoolConfig {
            max_connections: 1,
            connect_timeout: Duration::from_secs(5),
        };
        let db = Db::connect(&url, cfg).await.unwrap();
        let row = KeyRow {
            name: "k".into(),
            fingerprint: "AB".repeat(20),
            algo: "rsa".into(),
            user_ids: "A <a@example.org>\nB <b@example.org>".into(),
            public: vec![0, 1, 2, 255],
            secret_ct: vec![3; 40],
            secret_nonce: vec![4; 12],
            wrapped_dek: vec![5; 61],
            kek_id: "file:0011".into(),
            created: 1_700_000_000,
            updated: 1_700_000_001,
            decrypt_only: 1,
        };
        let new = NewKey {
            row: row.clone(),
            key_ids: vec!["0123456789ABCDEF".into(), "FEDCBA9876543210".into()],
        };
        assert!(db.insert_key(&new).await.unwrap());
        assert!(!db.insert_key(&new).await.unwrap(), "name taken");
        assert_eq!(db.get_key("k").await.unwrap(), Some(row.clone()));
        assert_eq!(db.list_keys().await.unwrap(), [KeyListRow::from(&row)]);
        assert_eq!(
            db.names_with_key_id("FEDCBA9876543210").await.unwrap(),
            ["k"]
        );
        assert_eq!(db.names_with_subkeys().await.unwrap(), ["k"]);
        assert_eq!(db.index_key_ids(10, |_| unreachable!()).await.unwrap(), 0);

        let enc = EncKeyRow {
            id: "e".into(),
            ct: vec![6; 33],
            nonce: vec![7; 12],
            wrapped_dek: vec![8; 61],
            kek_id: "file:0011".into(),
            created: 1,
            updated: 2,
        };
        db.put_enc_key(&enc).await.unwrap();
        assert_eq!(db.get_enc_key("e").await.unwrap(), Some(enc.clone()));
        let mut seen = 0;
        db.rewrap(
            |r| {
                match r {
                    RewrapRow::Key(k) => assert_eq!(k, &row),
                    RewrapRow::EncKey(k) => assert_eq!(k, &enc),
                }
                seen += 1;
                Ok(None)
            },
            0,
        )
        .await
        .unwrap();
        assert_eq!(seen, 2);
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
