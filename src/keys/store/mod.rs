//! The key store: [`KeyStore`], built on the database layer (`db`), the
//! envelope and the TTL caches.
//!
//! This file holds the store itself and the serving paths: opening and
//! closing, importing keys, and reading them back (the unwrapped signing
//! key, the secret, the public key, whether a key exists). The other
//! facets are `impl KeyStore` blocks in their own files: `aliases`,
//! `enc_keys` (signd's symmetric encryption keys) and `maintenance`
//! (listing, info, delete, the key-ID index, KEK accounting and rewrap).
//!
//! Lookups are lazy and by name: opening the store reads no keys, so it
//! scales to very many keys. Reads are cached for [`CacheConfig::ttl`]
//! (default 30 s, at most [`CacheConfig::capacity`] entries, default 1024,
//! per cache): changes made through this `KeyStore` invalidate at once, and
//! changes by another process (`signatrust-admin key delete`, `replace`,
//! `extend`, `alias`) empty the caches within [`REVISION_POLL`] (1 s): a
//! lookup that finds the last check older than that reads the store
//! revision (a counter that database triggers bump on every change) and
//! clears the caches if it moved. So a deleted key stops serving within
//! about a second, and never later than the TTL. Alias lookups, including
//! "no such alias", are cached the same way.

mod aliases;
mod custody;
mod enc_keys;
mod health;
mod lifecycle;
mod maintenance;
mod rotation;
mod schema;
mod stats;

pub use custody::{Custody, RotationProgress};
pub use enc_keys::EncKeyInfo;
pub use lifecycle::{DeletedKey, RestoreOutcome, SwapOutcome, DEFAULT_RETENTION};
pub use maintenance::{KekUsage, KeyInfo, RewrapSummary};
pub use rotation::RotationSummary;
pub use schema::Migration;
pub use stats::DbStats;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::cache::{CacheConfig, CacheStats, TtlCache};
use super::db::{Db, KeyRow, NewKey, PoolConfig, RotationKind, StoreChange};
use super::envelope::{self, OpenError};
use super::error::KeyError;
use super::kek::{Kek, KekError};
use crate::secret::SecretBytes;
use crate::sign::{ImportedKey, PubkeyAlgo, SigningKey};

/// An unwrapped key, shared by the cache and requests in flight.
pub struct LoadedKey {
    pub name: String,
    pub signer: SigningKey,
    /// Binary transferable public key.
    pub public: Vec<u8>,
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Tuning for [`KeyStore::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Bounds and TTL of the key, row and alias caches.
    pub cache: CacheConfig,
    /// Database pool size.
    pub max_connections: u32,
    /// How long to wait for a database connection before failing.
    pub connect_timeout: Duration,
    /// Keys loaded (parsed and checked) at once on cache misses, off the
    /// reactor; further misses wait their turn. Default: the cores.
    pub load_concurrency: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache: CacheConfig::default(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            load_concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// What a stored key may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Served under its name: sign, pubkey, keygen, privsign (and its
    /// encryption subkeys decrypt blobs).
    Sign,
    /// Never served: only tried on gpg blobs addressed to it (a signd
    /// key without a phrases file, such as the previous key after a
    /// rotation, which still opens old `_signkey` blobs). A request for
    /// its name answers as for an unknown key.
    DecryptOnly,
}

/// Longest name, alias or encryption-key id, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// Checks a key name, alias or encryption-key id: non-empty, at most 255
/// bytes, no `/`, no control characters, no leading `.` (names double as
/// file names for signd compatibility).
pub fn validate_name(name: &str) -> Result<(), KeyError> {
    let bad = |reason| {
        Err(KeyError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        bad("empty")
    } else if name.len() > MAX_NAME_LEN {
        bad("longer than 255 bytes")
    } else if name.contains('/') {
        bad("contains '/'")
    } else if name.chars().any(char::is_control) {
        bad("contains a control character")
    } else if name.starts_with('.') {
        bad("starts with '.'")
    } else {
        Ok(())
    }
}

fn algo_name(algo: PubkeyAlgo) -> String {
    match algo as u8 {
        1 => "rsa".into(),
        17 => "dsa".into(),
        19 => "ecdsa".into(),
        22 => "eddsa".into(),
        n => format!("algo{n}"),
    }
}

fn fingerprint_hex(fpr: &[u8]) -> String {
    hex::encode_upper(fpr)
}

/// The key IDs of the primary key and subkeys in a binary public key, as
/// the `key_ids` index stores them (16 upper-case hex digits).
fn key_ids_hex(public: &[u8]) -> Vec<String> {
    crate::sign::key_ids(public)
        .iter()
        .map(hex::encode_upper)
        .collect()
}

/// How often a lookup checks the store revision (see the module doc).
pub const REVISION_POLL: Duration = Duration::from_secs(1);

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The key store.
pub struct KeyStore {
    db: Db,
    kek: Arc<dyn Kek>,
    /// Encrypted rows (no plaintext), for `exists`/`public_key`/`secret`.
    rows: TtlCache<Arc<KeyRow>>,
    /// Unwrapped signing keys.
    loaded: TtlCache<Arc<LoadedKey>>,
    /// Alias lookups, negative ones included.
    aliases: TtlCache<Option<String>>,
    /// Store-wide settings (the default user), unset ones included.
    settings: TtlCache<Option<String>>,
    /// Bounds the blocking key loads of cache misses (`signing_key`), so a
    /// burst of misses does not become a burst of blocking threads.
    load_slots: Arc<tokio::sync::Semaphore>,
    /// Whether this instance has made sure every stored key is in the
    /// `key_ids` index (keys stored before it existed are added on the
    /// first lookup; keys stored since are indexed when inserted).
    key_ids_indexed: std::sync::atomic::AtomicBool,
    /// When the store revision was last checked (ms since `epoch`), and
    /// the revision seen then (-1: not yet).
    revision_checked_ms: std::sync::atomic::AtomicU64,
    revision_seen: std::sync::atomic::AtomicI64,
    epoch: Instant,
    caching: bool,
    /// The serving path's database reads (`/metrics`).
    db_timings: stats::DbTimings,
    /// The KEK's wrap and unwrap calls (`stats::TimedKek` around `kek`).
    kek_timings: Arc<stats::DbTimings>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("url", &self.db.url())
            .field("kek", &self.kek.id())
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// Opens (creating and migrating if needed) the store at `url`:
    /// `sqlite:///path/to/file.db` or `postgres://...`, with default
    /// [`StoreOptions`].
    pub async fn open(url: &str, kek: Arc<dyn Kek>) -> Result<KeyStore, KeyError> {
        Self::open_with(url, kek, StoreOptions::default()).await
    }

    /// [`KeyStore::open`] with explicit cache and pool settings.
    ///
    /// Fails with [`KeyError::KekMismatch`] when `kek` is not the KEK the
    /// store belongs to (see `custody`); a store without one adopts `kek`.
    pub async fn open_with(
        url: &str,
        kek: Arc<dyn Kek>,
        opts: StoreOptions,
    ) -> Result<KeyStore, KeyError> {
        let db = Db::connect(
            url,
            PoolConfig {
                max_connections: opts.max_connections,
                connect_timeout: opts.connect_timeout,
            },
        )
        .await?;
        // Fail closed: the configured KEK must be the store's own.
        if let Err(e) = custody::bind_kek(&db, &*kek).await {
            db.close().await;
            return Err(e);
        }
        Ok(Self::from_parts(db, kek, opts))
    }

    /// The store over an open database, the KEK already checked.
    fn from_parts(db: Db, kek: Arc<dyn Kek>, opts: StoreOptions) -> KeyStore {
        let kek_timings = Arc::new(stats::DbTimings::default());
        KeyStore {
            db,
            kek: Arc::new(stats::TimedKek {
                inner: kek,
                timings: kek_timings.clone(),
            }),
            kek_timings,
            rows: TtlCache::new(opts.cache),
            loaded: TtlCache::new(opts.cache),
            aliases: TtlCache::new(opts.cache),
            settings: TtlCache::new(opts.cache),
            load_slots: Arc::new(tokio::sync::Semaphore::new(opts.load_concurrency.max(1))),
            key_ids_indexed: std::sync::atomic::AtomicBool::new(false),
            revision_checked_ms: std::sync::atomic::AtomicU64::new(0),
            revision_seen: std::sync::atomic::AtomicI64::new(-1),
            epoch: Instant::now(),
            caching: opts.cache.capacity > 0 && !opts.cache.ttl.is_zero(),
            db_timings: stats::DbTimings::default(),
        }
    }

    /// The database URL, password removed.
    pub fn url(&self) -> &str {
        self.db.url()
    }

    /// Id of the KEK new secrets are wrapped with.
    pub fn kek_id(&self) -> &str {
        self.kek.id()
    }

    /// Closes the database pool and empties the caches. The store must not
    /// be used afterwards (calls fail with a database error). Dropping the
    /// store also closes the pool, without waiting.
    pub async fn close(&self) {
        self.rows.clear();
        self.loaded.clear();
        self.aliases.clear();
        self.settings.clear();
        self.db.close().await;
    }

    /// Stores `key` under `name`, envelope-encrypting its secret.
    /// [`KeyError::Exists`] if the name is taken.
    pub async fn import(&self, name: &str, key: &ImportedKey) -> Result<(), KeyError> {
        let row = self.sealed_row(name, key, KeyUse::Sign)?;
        let inserted = self.db.insert_key(&row).await?;
        self.invalidate_key(name);
        if inserted {
            Ok(())
        } else {
            Err(KeyError::Exists(name.to_owned()))
        }
    }

    /// Stores the same `key` under each of `names` in one transaction, each
    /// copy sealed under its own data key (for benchmarks and bulk
    /// migrations). Names already taken are skipped; returns how many rows
    /// were inserted. Nothing is inserted if any name is invalid.
    pub async fn import_many(
        &self,
        names: &[String],
        key: &ImportedKey,
    ) -> Result<usize, KeyError> {
        let rows = names
            .iter()
            .map(|n| self.sealed_row(n, key, KeyUse::Sign))
            .collect::<Result<Vec<_>, _>>()?;
        let inserted = self.db.insert_keys(&rows).await?;
        for n in names {
            self.invalidate_key(n);
        }
        Ok(inserted)
    }

    /// Stores each `(name, key, use)` in one transaction, each secret
    /// sealed under its own data key (a batch of `import-signd`). Names
    /// already taken are skipped: the result says for each key whether it
    /// was inserted. Nothing is inserted if any name is invalid.
    pub async fn import_batch(
        &self,
        keys: &[(&str, &ImportedKey, KeyUse)],
    ) -> Result<Vec<bool>, KeyError> {
        let rows = keys
            .iter()
            .map(|(n, k, u)| self.sealed_row(n, k, *u))
            .collect::<Result<Vec<_>, _>>()?;
        let inserted = self.db.insert_keys_each(&rows).await?;
        for (n, _, _) in keys {
            self.invalidate_key(n);
        }
        Ok(inserted)
    }

    /// The row to insert for `key` under `name`: its secret sealed, and the
    /// key IDs for the index.
    fn sealed_row(&self, name: &str, key: &ImportedKey, usage: KeyUse) -> Result<NewKey, KeyError> {
        validate_name(name)?;
        if let Some(uid) = key.user_ids.iter().find(|u| u.contains('\n')) {
            return Err(KeyError::Unsupported {
                name: name.to_owned(),
                reason: format!("user ID {uid:?} contains a newline"),
            });
        }
        let fingerprint = fingerprint_hex(&key.fingerprint);
        let aad = envelope::key_aad(name, &fingerprint);
        let sealed = envelope::seal(&*self.kek, &key.secret, &aad)?;
        let t = now();
        Ok(NewKey {
            row: KeyRow {
                name: name.to_owned(),
                fingerprint,
                algo: algo_name(key.algo),
                user_ids: key.user_ids.join("\n"),
                public: key.public.clone(),
                secret_ct: sealed.ct,
                secret_nonce: sealed.nonce,
                wrapped_dek: sealed.wrapped_dek,
                kek_id: sealed.kek_id,
                created: t,
                updated: t,
                decrypt_only: i64::from(usage == KeyUse::DecryptOnly),
            },
            key_ids: key_ids_hex(&key.public),
        })
    }

    /// Empties the caches if another process changed the store: at most
    /// one caller per [`REVISION_POLL`] reads the revision; the others go
    /// on with the caches. A failed read is ignored (the lookup that
    /// follows reports a database that is down).
    async fn poll_revision(&self) {
        use std::sync::atomic::Ordering;
        if !self.caching {
            return;
        }
        let now_ms = self.epoch.elapsed().as_millis() as u64 + REVISION_POLL.as_millis() as u64;
        let last = self.revision_checked_ms.load(Ordering::Acquire);
        if now_ms.saturating_sub(last) < REVISION_POLL.as_millis() as u64
            || self
                .revision_checked_ms
                .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let Ok(rev) = self.db_timings.time(self.db.revision()).await else {
            return;
        };
        let seen = self.revision_seen.swap(rev, Ordering::AcqRel);
        if seen != rev && seen != -1 {
            self.rows.clear();
            self.loaded.clear();
            self.aliases.clear();
            self.settings.clear();
        }
    }

    /// The unwrapped signing key, cached for the TTL; `None` if there is no
    /// such key. Aliases are not resolved here.
    pub async fn signing_key(&self, name: &str) -> Result<Option<Arc<LoadedKey>>, KeyError> {
        self.poll_revision().await;
        self.loaded
            .get_or_load(name, || async {
                // Read the row fresh so the loaded key is never older than
                // the TTL, whatever the row cache holds.
                let Some(row) = self.fresh_row(name).await? else {
                    return Ok(None);
                };
                if row.decrypt_only != 0 {
                    return Ok(None);
                }
                // At most `load_concurrency` loads run at once; the permit
                // lives as long as the blocking task, so an abandoned
                // request does not free a slot early. The KEK unwrap runs
                // there too (see `kek_blocking`).
                let permit = self
                    .load_slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the load semaphore is never closed");
                let kek = self.kek.clone();
                let (row, signer) = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    let signer = open_key_row(&*kek, &row).and_then(|secret| {
                        SigningKey::load(&secret).map_err(|source| KeyError::Sign {
                            name: row.name.clone(),
                            source,
                        })
                    });
                    (row, signer)
                })
                .await
                .map_err(|e| match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(e) => KeyError::Corrupt {
                        name: name.to_owned(),
                        reason: format!("loading was interrupted: {e}"),
                    },
                })?;
                let signer = signer?;
                if fingerprint_hex(signer.primary_fingerprint()) != row.fingerprint {
                    return Err(KeyError::Corrupt {
                        name: name.to_owned(),
                        reason: format!(
                            "secret key has fingerprint {}, row says {}",
                            fingerprint_hex(signer.primary_fingerprint()),
                            row.fingerprint
                        ),
                    });
                }
                Ok(Some(Arc::new(LoadedKey {
                    name: name.to_owned(),
                    signer,
                    public: row.public.clone(),
                })))
            })
            .await
    }

    /// The decrypted transferable secret key of the signing key `name`
    /// as imported (secrets unprotected); `None` if there is no such key
    /// (a decryption-only key is not one). The plaintext is not cached;
    /// only the encrypted row is.
    pub async fn secret(&self, name: &str) -> Result<Option<SecretBytes>, KeyError> {
        match self.serving_row(name).await? {
            Some(row) => self
                .kek_blocking(move |kek| open_key_row(kek, &row))
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// [`KeyStore::secret`] of any stored key, decryption-only keys
    /// included: only for decrypting a gpg blob addressed to the key
    /// ([`KeyStore::names_by_key_id`]), never for serving it.
    pub async fn decryption_secret(&self, name: &str) -> Result<Option<SecretBytes>, KeyError> {
        match self.row(name).await? {
            Some(row) => self
                .kek_blocking(move |kek| open_key_row(kek, &row))
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// Whether a signing key named `name` is stored (cached for the TTL); a
    /// decryption-only key is not.
    pub async fn exists(&self, name: &str) -> Result<bool, KeyError> {
        Ok(self.serving_row(name).await?.is_some())
    }

    /// The binary transferable public key of the signing key `name`.
    pub async fn public_key(&self, name: &str) -> Result<Option<Vec<u8>>, KeyError> {
        Ok(self.serving_row(name).await?.map(|r| r.public.clone()))
    }

    /// The row of `name` if it is a signing key: what every serving path
    /// reads, so a decryption-only key answers exactly as a missing one.
    async fn serving_row(&self, name: &str) -> Result<Option<Arc<KeyRow>>, KeyError> {
        Ok(self.row(name).await?.filter(|r| r.decrypt_only == 0))
    }

    /// Follows the changes other processes make to a PostgreSQL store
    /// (its change feed: `LISTEN`, migration 0007), dropping each changed
    /// key or alias from this store's caches as it is announced, and
    /// expiring all of them when the feed reconnects after a gap (each is
    /// reloaded on next use). So a key deleted or
    /// replaced with `signatrust-admin` stops being served by every server
    /// within moments, and within the cache TTL (default 30 s) while the
    /// feed is down. Runs until dropped; returns at once for SQLite.
    pub async fn follow_changes(&self) {
        let Some(mut feed) = self.db.change_feed() else {
            return;
        };
        loop {
            match feed.next().await {
                StoreChange::Key(name) => self.invalidate_key(&name),
                StoreChange::Alias(alias) => self.aliases.remove(&alias),
                // Expired, not emptied: reloaded on next use, and still
                // there to serve stale should the database fail again
                // (the feed often reconnects while it is coming back).
                StoreChange::Resync => {
                    self.rows.expire_all();
                    self.loaded.expire_all();
                    self.aliases.expire_all();
                }
            }
        }
    }

    /// Hits and misses of the store's caches since start, by cache: `key`
    /// (unwrapped signing keys), `row` (encrypted rows: existence, public
    /// keys), `alias`, `setting` (the default user).
    pub fn cache_stats(&self) -> [(&'static str, CacheStats); 4] {
        [
            ("key", self.loaded.stats()),
            ("row", self.rows.stats()),
            ("alias", self.aliases.stats()),
            ("setting", self.settings.stats()),
        ]
    }

    /// Durations and errors of the database reads on the serving path
    /// since start (`stats.rs`).
    pub fn db_stats(&self) -> DbStats {
        self.db_timings.stats()
    }

    /// Durations and errors of the KEK's wrap and unwrap calls since start
    /// (a KMS round trip, a PKCS#11 call or local AES-GCM), in the same
    /// buckets as [`KeyStore::db_stats`].
    pub fn kek_stats(&self) -> DbStats {
        self.kek_timings.stats()
    }

    fn invalidate_key(&self, name: &str) {
        self.rows.remove(name);
        self.loaded.remove(name);
    }

    async fn row(&self, name: &str) -> Result<Option<Arc<KeyRow>>, KeyError> {
        self.poll_revision().await;
        self.rows
            .get_or_load(name, || async {
                Ok(self.read_key_row(name).await?.map(Arc::new))
            })
            .await
    }

    /// The stored row of `name`, with its rotation wrap in place when this
    /// store's KEK is the one a rotation moves to (`rotation.rs`).
    async fn read_key_row(&self, name: &str) -> Result<Option<KeyRow>, KeyError> {
        let Some(mut row) = self.db_timings.time(self.db.get_key(name)).await? else {
            return Ok(None);
        };
        self.rotated_key_row(
            RotationKind::Key,
            name,
            &mut row.kek_id,
            &mut row.wrapped_dek,
        )
        .await?;
        Ok(Some(row))
    }

    /// Reads the row from the database, refreshing the row cache.
    async fn fresh_row(&self, name: &str) -> Result<Option<Arc<KeyRow>>, KeyError> {
        let generation = self.rows.generation();
        let started = Instant::now();
        let row = self.read_key_row(name).await?.map(Arc::new);
        if let Some(r) = &row {
            self.rows
                .insert_if_current(name, r.clone(), generation, started);
        }
        Ok(row)
    }

    /// Runs `f` with the KEK on a blocking thread. A PKCS#11 token answers
    /// through blocking FFI calls (a network HSM in milliseconds), and the
    /// network threads must never wait on one; for the file KEK this costs a
    /// thread hand-off on a cache miss, next to a database read.
    async fn kek_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Kek) -> Result<T, KeyError> + Send + 'static,
    ) -> Result<T, KeyError> {
        let kek = self.kek.clone();
        tokio::task::spawn_blocking(move || f(&*kek))
            .await
            .map_err(|e| match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => KeyError::Kek(KekError::Other(format!("KEK operation interrupted: {e}"))),
            })?
    }
}

/// Opens a key row's secret with `kek`.
fn open_key_row(kek: &dyn Kek, row: &KeyRow) -> Result<SecretBytes, KeyError> {
    let aad = envelope::key_aad(&row.name, &row.fingerprint);
    envelope::open(
        kek,
        &row.secret_ct,
        &row.secret_nonce,
        &row.wrapped_dek,
        &aad,
    )
    .map_err(|e| open_error(kek, &row.name, &row.kek_id, e))
}

fn open_error(kek: &dyn Kek, name: &str, row_kek: &str, e: OpenError) -> KeyError {
    match e {
        OpenError::Kek(e) => {
            if row_kek != kek.id() {
                tracing::warn!(
                    key = name,
                    stored_kek = row_kek,
                    current_kek = kek.id(),
                    "secret was wrapped by a different KEK"
                );
            }
            KeyError::Kek(e)
        }
        OpenError::Data => KeyError::Corrupt {
            name: name.to_owned(),
            reason: "secret ciphertext failed authentication".into(),
        },
    }
}

#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod tests;
