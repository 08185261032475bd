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
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AnyPool, ConnectOptions, Connection, FromRow};

use super::error::{DbError, KeyError};
use super::url::{redacted_url, StoreBackend, StoreUrl};

/// The log target of PostgreSQL's NOTICEs, noise at info: e.g. "relation
/// _sqlx_migrations already exists, skipping" on every open.
pub(super) const PG_NOTICES: &str = "sqlx::postgres::notice";

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
const SELECT_DELETED_KEYS: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM deleted_keys ORDER BY name"
);
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
    /// Binary transferable public key.
    pub public: Vec<u8>,
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
            public: r.public.clone(),
            decrypt_only: r.decrypt_only,
        }
    }
}

/// A `deleted_keys` row without its secret: a key retired by `key delete`
/// or `key replace`, restorable until `purge_after`.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub(crate) struct DeletedRow {
    pub name: String,
    pub fingerprint: String,
    pub user_ids: String,
    /// Epoch seconds.
    pub deleted: i64,
    /// Epoch seconds after which the row is purged.
    pub purge_after: i64,
}

/// What [`Db::restore_key`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undelete {
    Restored,
    /// No retired key of that name.
    NotDeleted,
    /// A live key holds the name.
    NameTaken,
}

/// What [`Db::swap_retired_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Swap {
    /// The retired key is live again and the live one (this fingerprint)
    /// is the retired copy now.
    Swapped { retired: String },
    /// There was no live key: the retired one is simply restored.
    Restored,
    /// No retired key of that name.
    NotDeleted,
}

/// What [`Db::replace_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replaced {
    Yes,
    /// No key of that name: nothing changed.
    NotFound,
    /// The key of that name already is the new key: nothing changed.
    Already,
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
    backend: StoreBackend,
    /// PostgreSQL only: the full URL, for the change feed's connection.
    listen_url: Option<secrecy::SecretString>,
    /// PostgreSQL only: how to open a lone connection that asks whether the
    /// server is there at all (see [`Reach`]).
    probe: Option<AnyConnectOptions>,
    /// Whether the serving reads find the database reachable.
    reach: Reach,
    /// How long a serving read waits in all (the pool's acquire timeout).
    read_wait: Duration,
}

impl Db {
    /// Connects, preparing a new SQLite file if needed, and migrates.
    pub(crate) async fn connect(url: &str, cfg: PoolConfig) -> Result<Db, KeyError> {
        Self::connect_with(url, cfg, true).await
    }

    /// Connects without migrating (`signatrust-admin db status`).
    pub(crate) async fn connect_unmigrated(url: &str, cfg: PoolConfig) -> Result<Db, KeyError> {
        Self::connect_with(url, cfg, false).await
    }

    async fn connect_with(url: &str, cfg: PoolConfig, migrate: bool) -> Result<Db, KeyError> {
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
        if backend == StoreBackend::Postgres {
            // One direct attempt first: a pool that cannot connect retries
            // until its timeout and then says only "pool timed out", hiding
            // the cause (connection refused, authentication failed, no such
            // database) that this reports at once.
            match tokio::time::timeout(
                cfg.connect_timeout,
                sqlx::AnyConnection::connect_with(&opts),
            )
            .await
            {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                }
                Ok(Err(e)) => return Err(err(e)),
                Err(_) => {
                    return Err(KeyError::Database {
                        context: format!(
                            "{context}: no answer within {} s",
                            cfg.connect_timeout.as_secs_f32()
                        ),
                        source: None,
                    })
                }
            }
        }
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
        let probe = (backend == StoreBackend::Postgres).then(|| opts.clone());
        let pool = pool_opts.connect_with(opts).await.map_err(err)?;
        let db = Db {
            pool,
            url: shown,
            backend,
            listen_url: (backend == StoreBackend::Postgres).then(|| url.to_owned().into()),
            probe,
            reach: Reach::default(),
            read_wait: cfg.connect_timeout,
        };
        if migrate {
            db.migrator().run(&db.pool).await.map_err(|e| {
                KeyError::database(format!("{context}: migration failed"), sqlx::Error::from(e))
            })?;
        }
        Ok(db)
    }

    /// Begins a transaction that writes. On SQLite it is `BEGIN IMMEDIATE`:
    /// the write lock is taken at once, waiting up to the busy timeout,
    /// instead of a read that later upgrades to a write failing at once
    /// with "database is locked" while another process writes (a server
    /// appending audit records, say). Plain `BEGIN` on PostgreSQL.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            StoreBackend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            StoreBackend::Postgres => self.pool.begin().await,
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            StoreBackend::Sqlite => &SQLITE_MIGRATOR,
            StoreBackend::Postgres => &POSTGRES_MIGRATOR,
        }
    }

    /// Every migration this build knows, `(version, description,
    /// applied)`, in order; a database never migrated has none applied.
    pub(crate) async fn migrations(&self) -> Result<Vec<(i64, String, bool)>, KeyError> {
        let exists = match self.backend {
            StoreBackend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            StoreBackend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
        };
        let read = async {
            let (n,): (i64,) = sqlx::query_as(exists).fetch_one(&self.pool).await?;
            if n == 0 {
                return Ok(Vec::new());
            }
            sqlx::query_as::<_, (i64,)>("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
        };
        let applied: std::collections::HashSet<i64> = read
            .await
            .map_err(self.error("read the applied migrations"))?
            .into_iter()
            .map(|(v,)| v)
            .collect();
        Ok(self
            .migrator()
            .iter()
            .map(|m| {
                (
                    m.version,
                    m.description.to_string(),
                    applied.contains(&m.version),
                )
            })
            .collect())
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

    /// Runs a read of the serving path (`what` names it in errors) so that
    /// an unreachable PostgreSQL server fails it quickly and with its
    /// cause, instead of after the pool's acquire timeout with "pool timed
    /// out" (the pool keeps retrying a refused connection until then):
    ///
    /// - while the server is known to be unreachable, the read fails at
    ///   once, naming the cause and since when; one read per
    ///   [`RETRY_EVERY`] first asks the server again (a lone connection)
    ///   and goes ahead when it answers, which ends the outage;
    /// - a read that fails, or has no answer after [`PROBE_AFTER`], asks
    ///   the server the same way: if it cannot be reached the read fails
    ///   now and the outage begins; if it can, the read keeps its own
    ///   outcome (at most the acquire timeout).
    ///
    /// SQLite reads run as they are.
    async fn read<T>(
        &self,
        what: &'static str,
        op: impl std::future::Future<Output = Result<T, sqlx::Error>> + Send,
    ) -> Result<T, KeyError> {
        let Some(probe) = &self.probe else {
            return op.await.map_err(self.error(what));
        };
        // Boxed: the timers and the probe would otherwise grow every
        // future that reads a key, a connection's included.
        Box::pin(self.read_guarded(probe, what, op)).await
    }

    /// [`Db::read`] for PostgreSQL.
    async fn read_guarded<T>(
        &self,
        probe: &AnyConnectOptions,
        what: &'static str,
        op: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, KeyError> {
        let unreachable = |cause: String| KeyError::Unreachable {
            context: format!("{}: {what}: {cause}", self.url),
        };
        match self.reach.admit() {
            Admit::Go => {}
            Admit::Refuse(cause) => return Err(unreachable(cause)),
            Admit::Retry => {
                if let Err(cause) = probe_server(probe).await {
                    return Err(unreachable(self.reach.down(&self.url, cause)));
                }
            }
        }
        let op = tokio::time::timeout(self.read_wait, op);
        tokio::pin!(op);
        let slow = async {
            tokio::time::sleep(PROBE_AFTER).await;
            probe_server(probe).await
        };
        let outcome = tokio::select! {
            biased;
            outcome = &mut op => outcome,
            Err(cause) = slow => return Err(unreachable(self.reach.down(&self.url, cause))),
        };
        match outcome {
            Ok(Ok(v)) => {
                self.reach.up(&self.url);
                Ok(v)
            }
            Ok(Err(e)) => {
                match probe_server(probe).await {
                    Ok(()) => self.reach.up(&self.url),
                    Err(cause) => return Err(unreachable(self.reach.down(&self.url, cause))),
                }
                Err(self.error(what)(e))
            }
            Err(_) => Err(unreachable(format!(
                "no answer within {} s",
                self.read_wait.as_secs_f32()
            ))),
        }
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
            let mut tx = self.begin_write().await?;
            let mut inserted = Vec::with_capacity(keys.len());
            for k in keys {
                inserted.push(insert_in(&mut tx, k).await?);
            }
            tx.commit().await?;
            Ok(inserted)
        };
        insert.await.map_err(self.error("insert key"))
    }

    pub(crate) async fn get_key(&self, name: &str) -> Result<Option<KeyRow>, KeyError> {
        self.read("read key", async {
            sqlx::query_as(SELECT_KEY)
                .bind(name)
                .fetch_optional(&self.pool)
                .await
        })
        .await
    }

    pub(crate) async fn list_keys(&self) -> Result<Vec<KeyListRow>, KeyError> {
        sqlx::query_as(
            "SELECT name, fingerprint, algo, user_ids, created, public, decrypt_only FROM keys \
             ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.error("list keys"))
    }

    /// Deletes a key and its key IDs; `false` if there was none.
    pub(crate) async fn delete_key(&self, name: &str) -> Result<bool, KeyError> {
        let delete = async {
            let mut tx = self.begin_write().await?;
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

    /// Moves the key `name` (and drops its key IDs) to `deleted_keys` in one
    /// transaction, replacing an older retired copy of the same name;
    /// `false` if there was no such key. The server stops finding it at
    /// once; the wrapped secret stays until `purge_after`.
    pub(crate) async fn retire_key(
        &self,
        name: &str,
        now: i64,
        purge_after: i64,
    ) -> Result<bool, KeyError> {
        let retire = async {
            let mut tx = self.begin_write().await?;
            let moved = retire_in(&mut tx, name, now, purge_after).await?;
            tx.commit().await?;
            Ok(moved)
        };
        retire.await.map_err(self.error("retire key"))
    }

    /// Destroys the key `name` and any retired copy of it, wrapped secrets
    /// included; `false` if there was neither.
    pub(crate) async fn destroy_key(&self, name: &str) -> Result<bool, KeyError> {
        let destroy = async {
            let mut tx = self.begin_write().await?;
            let mut n = 0;
            for sql in [
                "DELETE FROM keys WHERE name = $1",
                "DELETE FROM deleted_keys WHERE name = $1",
                "DELETE FROM key_ids WHERE name = $1",
            ] {
                let res = sqlx::query(sql).bind(name).execute(&mut *tx).await?;
                if !sql.contains("key_ids") {
                    n += res.rows_affected();
                }
            }
            tx.commit().await?;
            Ok(n > 0)
        };
        destroy.await.map_err(self.error("destroy key"))
    }

    /// Moves the retired key `name` back into `keys` with its key IDs
    /// (`key_ids` reads them from the public key), in one transaction.
    pub(crate) async fn restore_key(
        &self,
        name: &str,
        key_ids: impl Fn(&[u8]) -> Vec<String>,
    ) -> Result<Undelete, KeyError> {
        let restore = async {
            let mut tx = self.begin_write().await?;
            let public: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT public FROM deleted_keys WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(public) = public else {
                return Ok(Undelete::NotDeleted);
            };
            let res = sqlx::query(concat!(
                "INSERT INTO keys (",
                key_columns!(),
                ") SELECT ",
                key_columns!(),
                " FROM deleted_keys WHERE name = $1 ON CONFLICT (name) DO NOTHING"
            ))
            .bind(name)
            .execute(&mut *tx)
            .await?;
            if res.rows_affected() == 0 {
                return Ok(Undelete::NameTaken);
            }
            sqlx::query("DELETE FROM deleted_keys WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            insert_key_ids(&mut tx, name, &key_ids(&public)).await?;
            tx.commit().await?;
            Ok(Undelete::Restored)
        };
        restore.await.map_err(self.error("restore key"))
    }

    /// Undoes a replace in one transaction: the retired key `name` becomes
    /// live again (with its key IDs, `key_ids` reads them from the public
    /// key) and the live key of that name becomes its retired copy,
    /// restorable until `purge_after`. A reader sees one key or the other,
    /// never none.
    pub(crate) async fn swap_retired_key(
        &self,
        name: &str,
        now: i64,
        purge_after: i64,
        key_ids: impl Fn(&[u8]) -> Vec<String>,
    ) -> Result<Swap, KeyError> {
        let swap = async {
            let mut tx = self.begin_write().await?;
            let retired: Option<KeyRow> = sqlx::query_as(concat!(
                "SELECT ",
                key_columns!(),
                " FROM deleted_keys WHERE name = $1"
            ))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(mut retired) = retired else {
                return Ok(Swap::NotDeleted);
            };
            let live: Option<String> =
                sqlx::query_scalar("SELECT fingerprint FROM keys WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
            // Retiring the live key replaces the retired copy, which is
            // held in `retired` and inserted back as the live key. Without
            // a live key nothing is retired, and the copy is removed here.
            retire_in(&mut tx, name, now, purge_after).await?;
            sqlx::query("DELETE FROM deleted_keys WHERE name = $1 AND fingerprint = $2")
                .bind(name)
                .bind(&retired.fingerprint)
                .execute(&mut *tx)
                .await?;
            retired.updated = now;
            let ids = key_ids(&retired.public);
            insert_in(
                &mut tx,
                &NewKey {
                    row: retired,
                    key_ids: ids,
                },
            )
            .await?;
            tx.commit().await?;
            Ok(match live {
                Some(fingerprint) => Swap::Swapped {
                    retired: fingerprint,
                },
                None => Swap::Restored,
            })
        };
        swap.await.map_err(self.error("swap key"))
    }

    /// Swaps the key under `new.row.name` in one transaction: the old row is
    /// retired (restorable until `purge_after`), the new one inserted with
    /// its key IDs. A reader sees the old key or the new one, never none.
    /// Nothing changes if there is no key of that name, or if it already
    /// has the new key's fingerprint (a replace run again after it
    /// committed: retiring the key it put in would push the key it
    /// replaced out of `deleted_keys`).
    pub(crate) async fn replace_key(
        &self,
        new: &NewKey,
        now: i64,
        purge_after: i64,
    ) -> Result<Replaced, KeyError> {
        let replace = async {
            let mut tx = self.begin_write().await?;
            let live: Option<String> =
                sqlx::query_scalar("SELECT fingerprint FROM keys WHERE name = $1")
                    .bind(&new.row.name)
                    .fetch_optional(&mut *tx)
                    .await?;
            match live {
                None => return Ok(Replaced::NotFound),
                Some(f) if f == new.row.fingerprint => return Ok(Replaced::Already),
                Some(_) => {}
            }
            retire_in(&mut tx, &new.row.name, now, purge_after).await?;
            insert_in(&mut tx, new).await?;
            tx.commit().await?;
            Ok(Replaced::Yes)
        };
        replace.await.map_err(self.error("replace key"))
    }

    /// Rewrites the key material of `new.row.name` in place (same name,
    /// fingerprint and creation row time; e.g. a new self-signature), with
    /// its key IDs; `false` if there is no such key.
    pub(crate) async fn update_key(&self, new: &NewKey) -> Result<bool, KeyError> {
        let k = &new.row;
        let update = async {
            let mut tx = self.begin_write().await?;
            let res = sqlx::query(
                "UPDATE keys SET fingerprint = $1, algo = $2, user_ids = $3, public = $4, \
                 secret_ct = $5, secret_nonce = $6, wrapped_dek = $7, kek_id = $8, updated = $9 \
                 WHERE name = $10",
            )
            .bind(&k.fingerprint)
            .bind(&k.algo)
            .bind(&k.user_ids)
            .bind(&k.public)
            .bind(&k.secret_ct)
            .bind(&k.secret_nonce)
            .bind(&k.wrapped_dek)
            .bind(&k.kek_id)
            .bind(k.updated)
            .bind(&k.name)
            .execute(&mut *tx)
            .await?;
            if res.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM key_ids WHERE name = $1")
                .bind(&k.name)
                .execute(&mut *tx)
                .await?;
            insert_key_ids(&mut tx, &k.name, &new.key_ids).await?;
            tx.commit().await?;
            Ok(true)
        };
        update.await.map_err(self.error("update key"))
    }

    /// Destroys retired keys whose retention ended (`purge_after <= now`);
    /// returns how many.
    pub(crate) async fn purge_deleted(&self, now: i64) -> Result<u64, KeyError> {
        let res = sqlx::query("DELETE FROM deleted_keys WHERE purge_after <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(self.error("purge deleted keys"))?;
        Ok(res.rows_affected())
    }

    /// Retired keys, by name.
    pub(crate) async fn list_deleted(&self) -> Result<Vec<DeletedRow>, KeyError> {
        sqlx::query_as(
            "SELECT name, fingerprint, user_ids, deleted, purge_after FROM deleted_keys \
             ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.error("list deleted keys"))
    }

    /// The store revision: bumped by triggers on every change to keys,
    /// aliases, encryption keys and settings (migration 0003).
    pub(crate) async fn revision(&self) -> Result<i64, KeyError> {
        self.read("read store revision", async {
            sqlx::query_scalar("SELECT revision FROM store_revision WHERE id = 1")
                .fetch_one(&self.pool)
                .await
        })
        .await
    }

    /// Aliases whose target is `target`, sorted.
    pub(crate) async fn aliases_to(&self, target: &str) -> Result<Vec<String>, KeyError> {
        sqlx::query_scalar("SELECT alias FROM aliases WHERE target = $1 ORDER BY alias")
            .bind(target)
            .fetch_all(&self.pool)
            .await
            .map_err(self.error("read aliases"))
    }

    /// A store-wide setting.
    pub(crate) async fn setting(&self, name: &str) -> Result<Option<String>, KeyError> {
        self.read("read setting", async {
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
        })
        .await
    }

    /// Sets (`Some`) or clears (`None`) a store-wide setting.
    pub(crate) async fn set_setting(
        &self,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), KeyError> {
        let q = match value {
            Some(v) => sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(name)
            .bind(v.to_owned()),
            None => sqlx::query("DELETE FROM settings WHERE name = $1").bind(name),
        };
        q.execute(&self.pool)
            .await
            .map_err(self.error("write setting"))?;
        Ok(())
    }

    /// Encryption keys without their secrets: `(id, kek_id, created)`.
    pub(crate) async fn list_enc_keys(&self) -> Result<Vec<(String, String, i64)>, KeyError> {
        sqlx::query_as("SELECT id, kek_id, created FROM encryption_keys ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(self.error("list encryption keys"))
    }

    /// Deletes an encryption key; `false` if there was none.
    pub(crate) async fn delete_enc_key(&self, id: &str) -> Result<bool, KeyError> {
        let res = sqlx::query("DELETE FROM encryption_keys WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(self.error("delete encryption key"))?;
        Ok(res.rows_affected() > 0)
    }

    /// Names of the keys whose primary key or a subkey has this key ID
    /// (16 upper-case hex digits).
    pub(crate) async fn names_with_key_id(&self, key_id: &str) -> Result<Vec<String>, KeyError> {
        self.read("look up key ID", async {
            sqlx::query_scalar("SELECT name FROM key_ids WHERE key_id = $1 ORDER BY name")
                .bind(key_id)
                .fetch_all(&self.pool)
                .await
        })
        .await
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
            let mut tx = self.begin_write().await?;
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
        self.read("read alias", async {
            sqlx::query_scalar("SELECT target FROM aliases WHERE alias = $1")
                .bind(alias)
                .fetch_optional(&self.pool)
                .await
        })
        .await
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
        self.read("read encryption key", async {
            sqlx::query_as(SELECT_ENC_KEY)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
        })
        .await
    }

    /// How many key rows and encryption-key rows each `kek_id` wraps, as
    /// `(kek_id, keys, encryption_keys)`, sorted by id.
    pub(crate) async fn kek_usage(&self) -> Result<Vec<(String, i64, i64)>, KeyError> {
        let count = async {
            // Retired keys count as keys: they are restorable.
            let keys: Vec<(String, i64)> = sqlx::query_as(
                "SELECT kek_id, COUNT(*) AS n FROM (SELECT kek_id FROM keys \
                 UNION ALL SELECT kek_id FROM deleted_keys) AS k GROUP BY kek_id",
            )
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
    /// rolls everything back. `canary` (the new KEK's id and wrapped check
    /// value) replaces the store's KEK canary in the same transaction.
    /// Returns how many rows were rewritten.
    pub(crate) async fn rewrap(
        &self,
        mut f: impl FnMut(RewrapRow<'_>) -> Result<Option<(Vec<u8>, String)>, KeyError>,
        canary: (&str, &[u8]),
        now: i64,
    ) -> Result<usize, KeyError> {
        let e = self.error("rewrap");
        let mut tx = self.begin_write().await.map_err(&e)?;
        let mut changed = 0;
        // Retired keys (restorable) hold wrapped secrets too.
        for (select, update) in [
            (
                SELECT_KEYS,
                "UPDATE keys SET wrapped_dek = $1, kek_id = $2, updated = $3 WHERE name = $4",
            ),
            (
                SELECT_DELETED_KEYS,
                "UPDATE deleted_keys SET wrapped_dek = $1, kek_id = $2, updated = $3 \
                 WHERE name = $4",
            ),
        ] {
            let keys: Vec<KeyRow> = sqlx::query_as(select)
                .fetch_all(&mut *tx)
                .await
                .map_err(&e)?;
            for k in &keys {
                if let Some((wrapped, kek_id)) = f(RewrapRow::Key(k))? {
                    sqlx::query(update)
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
        // The store now belongs to the new KEK: in the same transaction,
        // so a crash leaves rows and canary in agreement.
        sqlx::query("DELETE FROM kek_canary")
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
        sqlx::query(
            "INSERT INTO kek_canary (role, kek_id, wrapped, created) VALUES ('current', $1, $2, $3)",
        )
        .bind(canary.0)
        .bind(canary.1)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(&e)?;
        tx.commit().await.map_err(&e)?;
        Ok(changed)
    }

    /// Raw SQL for tests: a store as made before the KEK canary existed.
    #[cfg(test)]
    pub(crate) async fn forget_kek_canary(&self) -> Result<(), KeyError> {
        sqlx::query("DELETE FROM kek_canary")
            .execute(&self.pool)
            .await
            .map_err(self.error("tamper"))?;
        Ok(())
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

/// The KEK canary (migration 0006): which KEK the store belongs to.
impl Db {
    /// The store's KEK canary, `(kek_id, wrapped)`, if it has one.
    pub(crate) async fn kek_canary(&self) -> Result<Option<(String, Vec<u8>)>, KeyError> {
        self.kek_canary_of("current").await
    }

    /// Records `kek_id` as the store's KEK unless one is recorded already
    /// (the primary key makes two racing first opens agree on one); the
    /// caller reads the canary back to learn which won.
    pub(crate) async fn claim_kek_canary(
        &self,
        kek_id: &str,
        wrapped: &[u8],
        now: i64,
    ) -> Result<(), KeyError> {
        sqlx::query(
            "INSERT INTO kek_canary (role, kek_id, wrapped, created) VALUES ('current', $1, $2, $3) \
             ON CONFLICT (role) DO NOTHING",
        )
        .bind(kek_id)
        .bind(wrapped)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(self.error("record the KEK canary"))?;
        Ok(())
    }
}

/// How long a serving read waits before asking whether the server is
/// there at all ([`Db::read`]).
const PROBE_AFTER: Duration = Duration::from_millis(500);
/// While the server is unreachable, how often one serving read tries it
/// again; the others fail at once.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// How long a probe connection may take.
const PROBE_WAIT: Duration = Duration::from_secs(2);

/// Opens and closes one connection to the server, outside the pool: `Err`
/// with the cause (connection refused, authentication failed, the server
/// shutting down, no answer) when it cannot. A server that answers but
/// has no connection to spare (SQLSTATE class 53, e.g. too many clients)
/// is reachable: the pool is what waits for those.
async fn probe_server(opts: &AnyConnectOptions) -> Result<(), String> {
    match tokio::time::timeout(PROBE_WAIT, sqlx::AnyConnection::connect_with(opts)).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(sqlx::Error::Database(e))) if e.code().is_some_and(|c| c.starts_with("53")) => {
            Ok(())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", PROBE_WAIT.as_secs_f32())),
    }
}

/// What [`Reach::admit`] lets a read do.
enum Admit {
    /// The server was reachable: read.
    Go,
    /// The server is unreachable and it is this read's turn to try it.
    Retry,
    /// The server is unreachable: fail with this text.
    Refuse(String),
}

/// An outage as the serving reads see it.
struct Down {
    since: Instant,
    cause: String,
    /// When a read last tried the server.
    tried: Instant,
}

/// Whether the database is reachable, shared by the serving reads of one
/// [`Db`] (see [`Db::read`]). Holds no lock across an await; a read that
/// is cancelled while trying leaves nothing behind (the next one tries
/// after [`RETRY_EVERY`]).
#[derive(Default)]
struct Reach {
    down: std::sync::Mutex<Option<Down>>,
    /// Whether `down` is set: the reads of a reachable database take no
    /// lock.
    is_down: std::sync::atomic::AtomicBool,
}

impl Reach {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Down>> {
        self.down.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn admit(&self) -> Admit {
        if !self.is_down.load(std::sync::atomic::Ordering::Acquire) {
            return Admit::Go;
        }
        let mut down = self.lock();
        match down.as_mut() {
            None => Admit::Go,
            Some(d) if d.tried.elapsed() >= RETRY_EVERY => {
                d.tried = Instant::now();
                Admit::Retry
            }
            Some(d) => Admit::Refuse(d.describe()),
        }
    }

    /// Records that the server cannot be reached; returns the error text.
    fn down(&self, url: &str, cause: String) -> String {
        let mut down = self.lock();
        match down.as_mut() {
            Some(d) => {
                d.cause = cause;
                d.tried = Instant::now();
                d.describe()
            }
            None => {
                self.is_down
                    .store(true, std::sync::atomic::Ordering::Release);
                tracing::error!(
                    store = url,
                    error = %cause,
                    "key database unreachable: requests that need it fail at once (cached keys \
                     keep serving within [cache] stale_if_error_secs); trying it again every {} s",
                    RETRY_EVERY.as_secs()
                );
                let d = down.insert(Down {
                    since: Instant::now(),
                    cause,
                    tried: Instant::now(),
                });
                d.describe()
            }
        }
    }

    /// Records that the server answered.
    fn up(&self, url: &str) {
        if !self.is_down.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let mut down = self.lock();
        self.is_down
            .store(false, std::sync::atomic::Ordering::Release);
        if let Some(d) = down.take() {
            tracing::warn!(
                store = url,
                "key database reachable again after {:.1} s",
                d.since.elapsed().as_secs_f32()
            );
        }
    }
}

impl Down {
    fn describe(&self) -> String {
        format!(
            "database unreachable for {:.1} s: {}",
            self.since.elapsed().as_secs_f32(),
            self.cause
        )
    }
}

/// A change to the store made by another process, from the change feed
/// (migration 0007), or word that changes may have been missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreChange {
    /// The key row of this name was inserted, updated or deleted.
    Key(String),
    /// The alias of this name was set or removed.
    Alias(String),
    /// The feed was (re)connected after a gap: anything may have changed.
    Resync,
}

/// The store's change feed: PostgreSQL `LISTEN signatrust_store`, with its
/// own connection, reconnecting with a backoff when it is lost.
pub(crate) struct ChangeFeed {
    url: secrecy::SecretString,
    shown: String,
    listener: Option<sqlx::postgres::PgListener>,
    backoff: Duration,
    /// Whether the feed has been connected before (a later connection is
    /// a reconnection, after a gap).
    connected: bool,
    /// A lone connection's options, to learn why the server cannot be
    /// reached ([`probe_server`]).
    probe: Option<AnyConnectOptions>,
}

/// The longest wait between the change feed's attempts to reconnect.
const FEED_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The channel the triggers of migration 0007 notify.
const CHANGE_CHANNEL: &str = "signatrust_store";

impl ChangeFeed {
    /// The next change. Connects first if needed; after a reconnection
    /// yields [`StoreChange::Resync`]. Waits as long as it takes, retrying
    /// every 0.5–5 s while the database cannot be reached.
    pub(crate) async fn next(&mut self) -> StoreChange {
        use secrecy::ExposeSecret;
        loop {
            let Some(listener) = self.listener.as_mut() else {
                let connect = async {
                    // A lone connection first: it fails at once with the
                    // cause, where the listener's own pool would keep
                    // retrying a refused connection for 30 s and then say
                    // only "pool timed out".
                    if let Some(probe) = &self.probe {
                        probe_server(probe).await?;
                    }
                    let mut l = sqlx::postgres::PgListener::connect(self.url.expose_secret())
                        .await
                        .map_err(|e| e.to_string())?;
                    // A lost connection returns to this loop (which
                    // reconnects with a backoff and resyncs) instead of
                    // waiting in the listener's pool.
                    l.eager_reconnect(false);
                    l.listen(CHANGE_CHANNEL).await.map_err(|e| e.to_string())?;
                    Ok::<_, String>(l)
                };
                match connect.await {
                    Ok(l) => {
                        self.listener = Some(l);
                        self.backoff = Duration::from_millis(500);
                        // Only a reconnection follows a gap in which
                        // changes may have been missed; the first
                        // connection does not (the caches were filled from
                        // the database as it was, and the TTL bounds them),
                        // and emptying them then would race the first
                        // requests.
                        if std::mem::replace(&mut self.connected, true) {
                            tracing::info!(
                                store = %self.shown,
                                "change feed: listening again; changes of the gap are \
                                 looked up afresh"
                            );
                            return StoreChange::Resync;
                        }
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(
                            store = %self.shown,
                            "change feed: cannot listen ({e}); retrying in {:?}, the cache TTL \
                             bounds staleness meanwhile",
                            self.backoff
                        );
                        tokio::time::sleep(self.backoff).await;
                        self.backoff = (self.backoff * 2).min(FEED_BACKOFF_MAX);
                        continue;
                    }
                }
            };
            match listener.try_recv().await {
                Ok(Some(n)) => match n.payload().split_once(':') {
                    Some(("keys", name)) => return StoreChange::Key(name.to_owned()),
                    Some(("aliases", alias)) => return StoreChange::Alias(alias.to_owned()),
                    _ => tracing::debug!(payload = n.payload(), "change feed: ignored"),
                },
                Ok(None) => {
                    tracing::warn!(store = %self.shown, "change feed: connection lost");
                    self.listener = None;
                }
                Err(e) => {
                    tracing::warn!(store = %self.shown, "change feed: {e}");
                    self.listener = None;
                }
            }
        }
    }
}

impl Db {
    /// The change feed of a PostgreSQL store (it connects on its first
    /// [`ChangeFeed::next`]); `None` for SQLite, whose servers rely on the
    /// cache TTL.
    pub(crate) fn change_feed(&self) -> Option<ChangeFeed> {
        self.listen_url.as_ref().map(|url| ChangeFeed {
            url: url.clone(),
            shown: self.url.clone(),
            listener: None,
            backoff: Duration::from_millis(500),
            connected: false,
            probe: self.probe.clone(),
        })
    }
}

/// Which table a row under rotation lives in (`kek_rotation.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RotationKind {
    /// `keys`, by name; AAD from name and fingerprint.
    Key,
    /// `encryption_keys`, by id.
    EncKey,
    /// `deleted_keys` (retired, restorable), by name.
    Deleted,
}

impl RotationKind {
    pub(crate) const ALL: [RotationKind; 3] = [
        RotationKind::Key,
        RotationKind::EncKey,
        RotationKind::Deleted,
    ];

    fn tag(self) -> &'static str {
        match self {
            RotationKind::Key => "key",
            RotationKind::EncKey => "enckey",
            RotationKind::Deleted => "deleted",
        }
    }

    /// `SELECT name, fingerprint, kek_id, wrapped_dek, source, rot_kek_id,
    /// rot_wrapped` over the table, rotation wraps joined.
    fn select(self) -> &'static str {
        match self {
            RotationKind::Key => {
                "SELECT t.name, t.fingerprint, t.kek_id, t.wrapped_dek, r.source, r.kek_id, \
                 r.wrapped_dek FROM keys t LEFT JOIN kek_rotation r \
                 ON r.kind = 'key' AND r.name = t.name"
            }
            RotationKind::EncKey => {
                "SELECT t.id, '', t.kek_id, t.wrapped_dek, r.source, r.kek_id, r.wrapped_dek \
                 FROM encryption_keys t LEFT JOIN kek_rotation r \
                 ON r.kind = 'enckey' AND r.name = t.id"
            }
            RotationKind::Deleted => {
                "SELECT t.name, t.fingerprint, t.kek_id, t.wrapped_dek, r.source, r.kek_id, \
                 r.wrapped_dek FROM deleted_keys t LEFT JOIN kek_rotation r \
                 ON r.kind = 'deleted' AND r.name = t.name"
            }
        }
    }

    fn page(self) -> &'static str {
        match self {
            RotationKind::Key => {
                "SELECT t.name, t.fingerprint, t.kek_id, t.wrapped_dek, r.source, r.kek_id, \
                 r.wrapped_dek FROM keys t LEFT JOIN kek_rotation r \
                 ON r.kind = 'key' AND r.name = t.name WHERE t.name > $1 ORDER BY t.name LIMIT $2"
            }
            RotationKind::EncKey => {
                "SELECT t.id, '', t.kek_id, t.wrapped_dek, r.source, r.kek_id, r.wrapped_dek \
                 FROM encryption_keys t LEFT JOIN kek_rotation r \
                 ON r.kind = 'enckey' AND r.name = t.id WHERE t.id > $1 ORDER BY t.id LIMIT $2"
            }
            RotationKind::Deleted => {
                "SELECT t.name, t.fingerprint, t.kek_id, t.wrapped_dek, r.source, r.kek_id, \
                 r.wrapped_dek FROM deleted_keys t LEFT JOIN kek_rotation r \
                 ON r.kind = 'deleted' AND r.name = t.name WHERE t.name > $1 \
                 ORDER BY t.name LIMIT $2"
            }
        }
    }

    fn update(self) -> &'static str {
        match self {
            RotationKind::Key => {
                "UPDATE keys SET wrapped_dek = $1, kek_id = $2, updated = $3 WHERE name = $4"
            }
            RotationKind::EncKey => {
                "UPDATE encryption_keys SET wrapped_dek = $1, kek_id = $2, updated = $3 \
                 WHERE id = $4"
            }
            RotationKind::Deleted => {
                "UPDATE deleted_keys SET wrapped_dek = $1, kek_id = $2, updated = $3 \
                 WHERE name = $4"
            }
        }
    }
}

/// A row as `kek rotate` sees it: where it is, what its AAD needs, its
/// wrapped DEK, and the rotation wrap made for it so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RotationRow {
    pub kind: RotationKind,
    pub name: String,
    /// Empty for encryption keys.
    pub fingerprint: String,
    pub kek_id: String,
    pub wrapped_dek: Vec<u8>,
    /// `(source, kek_id, wrapped_dek)` from `kek_rotation`.
    pub rotated: Option<(String, String, Vec<u8>)>,
}

type RotationTuple = (
    String,
    String,
    String,
    Vec<u8>,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
);

fn rotation_row(kind: RotationKind, t: RotationTuple) -> RotationRow {
    let (name, fingerprint, kek_id, wrapped_dek, source, rkek, rwrapped) = t;
    RotationRow {
        kind,
        name,
        fingerprint,
        kek_id,
        wrapped_dek,
        rotated: match (source, rkek, rwrapped) {
            (Some(s), Some(k), Some(w)) => Some((s, k, w)),
            _ => None,
        },
    }
}

/// The hex SHA-256 of a wrapped DEK: what a rotation wrap was made from.
pub(crate) fn wrap_source(wrapped_dek: &[u8]) -> String {
    hex::encode(openssl::sha::sha256(wrapped_dek))
}

/// Online KEK rotation (migration 0008).
impl Db {
    /// Up to `limit` rows of `kind` named after `after`, in name order.
    pub(crate) async fn rotation_page(
        &self,
        kind: RotationKind,
        after: &str,
        limit: i64,
    ) -> Result<Vec<RotationRow>, KeyError> {
        let rows: Vec<RotationTuple> = sqlx::query_as(kind.page())
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(self.error("read rows to rotate"))?;
        Ok(rows.into_iter().map(|t| rotation_row(kind, t)).collect())
    }

    /// How many rows of `kind` there are.
    pub(crate) async fn rotation_count(&self, kind: RotationKind) -> Result<usize, KeyError> {
        let sql = match kind {
            RotationKind::Key => "SELECT COUNT(*) FROM keys",
            RotationKind::EncKey => "SELECT COUNT(*) FROM encryption_keys",
            RotationKind::Deleted => "SELECT COUNT(*) FROM deleted_keys",
        };
        let (n,): (i64,) = sqlx::query_as(sql)
            .fetch_one(&self.pool)
            .await
            .map_err(self.error("count rows to rotate"))?;
        Ok(n as usize)
    }

    /// Stores rotation wraps `(kind, name, source, kek_id, wrapped)` in one
    /// transaction, replacing older ones of the same rows.
    pub(crate) async fn put_rotation_wraps(
        &self,
        wraps: &[(RotationKind, String, String, String, Vec<u8>)],
    ) -> Result<(), KeyError> {
        let put = async {
            let mut tx = self.begin_write().await?;
            for (kind, name, source, kek_id, wrapped) in wraps {
                sqlx::query(
                    "INSERT INTO kek_rotation (kind, name, source, kek_id, wrapped_dek) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, name) DO UPDATE SET \
                     source = excluded.source, kek_id = excluded.kek_id, \
                     wrapped_dek = excluded.wrapped_dek",
                )
                .bind(kind.tag())
                .bind(name)
                .bind(source)
                .bind(kek_id)
                .bind(wrapped)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        };
        put.await.map_err(self.error("store rotation wraps"))
    }

    /// The rotation wrap of one row, `(source, kek_id, wrapped)`.
    pub(crate) async fn rotation_wrap(
        &self,
        kind: RotationKind,
        name: &str,
    ) -> Result<Option<(String, String, Vec<u8>)>, KeyError> {
        self.read("read a rotation wrap", async {
            sqlx::query_as(
                "SELECT source, kek_id, wrapped_dek FROM kek_rotation WHERE kind = $1 AND name = $2",
            )
            .bind(kind.tag())
            .bind(name)
            .fetch_optional(&self.pool)
            .await
        })
        .await
    }

    /// The canary of `role` (`current` or `next`), `(kek_id, wrapped)`.
    pub(crate) async fn kek_canary_of(
        &self,
        role: &str,
    ) -> Result<Option<(String, Vec<u8>)>, KeyError> {
        self.read("read the KEK canary", async {
            sqlx::query_as("SELECT kek_id, wrapped FROM kek_canary WHERE role = $1")
                .bind(role)
                .fetch_optional(&self.pool)
                .await
        })
        .await
    }

    /// Records the KEK a rotation moves to (role `next`).
    pub(crate) async fn set_next_canary(
        &self,
        kek_id: &str,
        wrapped: &[u8],
        now: i64,
    ) -> Result<(), KeyError> {
        sqlx::query(
            "INSERT INTO kek_canary (role, kek_id, wrapped, created) VALUES ('next', $1, $2, $3) \
             ON CONFLICT (role) DO UPDATE SET kek_id = excluded.kek_id, \
             wrapped = excluded.wrapped, created = excluded.created",
        )
        .bind(kek_id)
        .bind(wrapped)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(self.error("record the rotation's KEK"))?;
        Ok(())
    }

    /// Ends a rotation to `to` in one transaction: every row takes its
    /// rotation wrap, the wraps are dropped and the `next` canary becomes
    /// the current one. Returns `Err(names)` (changing nothing) when rows
    /// have no valid wrap under `to` yet, else how many rows moved.
    pub(crate) async fn finish_rotation(
        &self,
        to: &str,
        now: i64,
    ) -> Result<Result<usize, Vec<String>>, KeyError> {
        let e = self.error("finish the KEK rotation");
        let mut tx = self.begin_write().await.map_err(&e)?;
        let mut pending = Vec::new();
        let mut moved = 0;
        for kind in RotationKind::ALL {
            let rows: Vec<RotationTuple> = sqlx::query_as(kind.select())
                .fetch_all(&mut *tx)
                .await
                .map_err(&e)?;
            for t in rows {
                let r = rotation_row(kind, t);
                if r.kek_id == to {
                    continue;
                }
                match &r.rotated {
                    Some((source, kek, wrapped))
                        if kek == to && *source == wrap_source(&r.wrapped_dek) =>
                    {
                        sqlx::query(kind.update())
                            .bind(wrapped)
                            .bind(to)
                            .bind(now)
                            .bind(&r.name)
                            .execute(&mut *tx)
                            .await
                            .map_err(&e)?;
                        moved += 1;
                    }
                    _ => pending.push(format!("{} {}", kind.tag(), r.name)),
                }
            }
        }
        if !pending.is_empty() {
            tx.rollback().await.map_err(&e)?;
            return Ok(Err(pending));
        }
        let next: Option<(String,)> =
            sqlx::query_as("SELECT kek_id FROM kek_canary WHERE role = 'next'")
                .fetch_optional(&mut *tx)
                .await
                .map_err(&e)?;
        if next.as_ref().map(|(k,)| k.as_str()) != Some(to) {
            tx.rollback().await.map_err(&e)?;
            return Err(KeyError::Database {
                context: format!("{}: no rotation to KEK {to} is in progress", self.url),
                source: None,
            });
        }
        for sql in [
            "DELETE FROM kek_rotation",
            "DELETE FROM kek_canary WHERE role = 'current'",
            "UPDATE kek_canary SET role = 'current' WHERE role = 'next'",
        ] {
            sqlx::query(sql).execute(&mut *tx).await.map_err(&e)?;
        }
        tx.commit().await.map_err(&e)?;
        Ok(Ok(moved))
    }
}

/// Backups (`signatrust-admin backup`).
impl Db {
    /// Writes a consistent copy of this SQLite database to `path`, which
    /// must not exist: SQLite's `VACUUM INTO`, one read transaction, so
    /// the copy is whole even while servers write. The file is created
    /// first, empty with mode 0600 (`VACUUM INTO` accepts an empty file),
    /// and synced with its directory afterwards.
    ///
    /// # Errors
    /// A PostgreSQL store (use `pg_dump`), an existing `path`, or an I/O or
    /// database failure; a partial copy is removed.
    pub(crate) async fn backup_sqlite(&self, path: &Path) -> Result<(), KeyError> {
        let fail = |what: String, e: DbError| KeyError::Database {
            context: format!("{}: backup to {}: {what}", self.url, path.display()),
            source: Some(e),
        };
        if self.backend != StoreBackend::Sqlite {
            return Err(KeyError::Database {
                context: format!(
                    "{}: backup copies SQLite stores; back up a PostgreSQL store with pg_dump",
                    self.url
                ),
                source: None,
            });
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| fail("cannot create the file".into(), e.into()))?;
        let Some(target) = path.to_str() else {
            let _ = std::fs::remove_file(path);
            return Err(KeyError::Database {
                context: format!("backup to {}: the path is not UTF-8", path.display()),
                source: None,
            });
        };
        let copied = sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await;
        if let Err(e) = copied {
            let _ = std::fs::remove_file(path);
            return Err(fail("copy failed".into(), e.into()));
        }
        let sync = std::fs::File::open(path)
            .and_then(|f| f.sync_all())
            .and_then(
                |()| match path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    Some(dir) => std::fs::File::open(dir).and_then(|d| d.sync_all()),
                    None => Ok(()),
                },
            );
        sync.map_err(|e| fail("cannot sync the copy".into(), e.into()))
    }
}

/// Inserts one key row and its key IDs; `false` if the name is taken.
async fn insert_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    NewKey { row: k, key_ids }: &NewKey,
) -> Result<bool, sqlx::Error> {
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
        .execute(&mut **tx)
        .await?;
    let inserted = res.rows_affected() > 0;
    if inserted {
        insert_key_ids(tx, &k.name, key_ids).await?;
    }
    Ok(inserted)
}

/// Moves the key `name` to `deleted_keys` (replacing an older retired copy)
/// and drops its key IDs; `false` if there was no such key.
async fn retire_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    name: &str,
    now: i64,
    purge_after: i64,
) -> Result<bool, sqlx::Error> {
    let live: Option<i64> = sqlx::query_scalar("SELECT created FROM keys WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
    if live.is_none() {
        return Ok(false);
    }
    sqlx::query("DELETE FROM deleted_keys WHERE name = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    sqlx::query(concat!(
        "INSERT INTO deleted_keys (",
        key_columns!(),
        ", deleted, purge_after) SELECT ",
        key_columns!(),
        ", $2, $3 FROM keys WHERE name = $1"
    ))
    .bind(name)
    .bind(now)
    .bind(purge_after)
    .execute(&mut **tx)
    .await?;
    for sql in [
        "DELETE FROM keys WHERE name = $1",
        "DELETE FROM key_ids WHERE name = $1",
    ] {
        sqlx::query(sql).bind(name).execute(&mut **tx).await?;
    }
    Ok(true)
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
    // The URL parses (sqlx's reading) and names no file: in memory.
    // (sqlx names `sqlite::memory:` `file:sqlx-in-memory-N`; creating that
    // file in the working directory would be a store nobody sees.)
    let opts = SqliteConnectOptions::from_str(url).map_err(sql_err)?;
    let Some(path) = StoreUrl::parse(url).ok().and_then(|u| u.sqlite_path()) else {
        return Err(KeyError::Database {
            context: format!("{context}: in-memory SQLite databases are not supported"),
            source: None,
        });
    };
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

    /// While the server is unreachable, reads fail at once naming the
    /// cause, one read a [`RETRY_EVERY`] may try it again, and the first
    /// answer ends the outage.
    #[test]
    fn reach_fails_fast_while_down_and_retries_once_a_second() {
        let r = Reach::default();
        assert!(matches!(r.admit(), Admit::Go));
        r.up("db"); // nothing to end
        let text = r.down("db", "connection refused".into());
        assert!(
            text.contains("unreachable") && text.contains("connection refused"),
            "{text}"
        );
        assert!(matches!(r.admit(), Admit::Refuse(t) if t.contains("connection refused")));
        std::thread::sleep(RETRY_EVERY);
        assert!(
            matches!(r.admit(), Admit::Retry),
            "one retry after the interval"
        );
        assert!(matches!(r.admit(), Admit::Refuse(_)), "only one");
        r.down("db", "no answer".into());
        assert!(matches!(r.admit(), Admit::Refuse(t) if t.contains("no answer")));
        r.up("db");
        assert!(matches!(r.admit(), Admit::Go));
    }

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
        // The cause, not "pool timed out".
        let msg = chain(e);
        assert!(
            msg.contains("refused") && !msg.contains("timed out"),
            "{msg}"
        );
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
            ("file:0022", &[9; 60]),
            0,
        )
        .await
        .unwrap();
        assert_eq!(seen, 2);
        // The canary moved with the transaction.
        assert_eq!(
            db.kek_canary().await.unwrap(),
            Some(("file:0022".to_owned(), vec![9; 60]))
        );
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

    /// The whole error chain, as `{e:#}` prints it for the operator.
    fn chain(e: KeyError) -> String {
        format!("{:#}", anyhow::Error::new(e))
    }

    /// A wrong password and a missing database say so (needs the test
    /// server of `SIGNATRUST_TEST_PG_URL`; skipped without it).
    #[tokio::test]
    async fn postgres_authentication_and_database_errors_name_the_cause() {
        let Ok(url) = std::env::var("SIGNATRUST_TEST_PG_URL") else {
            eprintln!("SIGNATRUST_TEST_PG_URL not set; skipping");
            return;
        };
        let cfg = PoolConfig {
            max_connections: 1,
            connect_timeout: Duration::from_secs(30),
        };
        // postgres://USER:PASSWORD@HOST/DB: swap the password, then the DB.
        let (scheme, rest) = url.split_once("://").unwrap();
        let (userinfo, hostpath) = rest.split_once('@').expect("a URL with a user");
        let user = userinfo.split(':').next().unwrap();
        let bad = format!("{scheme}://{user}:not-the-password@{hostpath}");
        let Err(e) = Db::connect(&bad, cfg).await else {
            panic!("connected with a wrong password")
        };
        let msg = chain(e);
        assert!(msg.contains("password authentication failed"), "{msg}");
        assert!(!msg.contains("not-the-password"), "{msg}");
        let host = hostpath.split('/').next().unwrap();
        let missing = format!("{scheme}://{userinfo}@{host}/signatrust_no_such_database");
        let Err(e) = Db::connect(&missing, cfg).await else {
            panic!("connected to a missing database")
        };
        let msg = chain(e);
        assert!(msg.contains("does not exist"), "{msg}");
    }
}
