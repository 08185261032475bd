//! Key custody: the database, envelope encryption and the unwrapped-key cache.
//!
//! Every secret (signing keys, the symmetric "encryption keys" of signd's
//! `encryptionkeys:` directory) is stored encrypted under its own random data
//! key (DEK, AES-256-GCM); each DEK is wrapped by a key-encryption key (KEK)
//! from a [`Kek`] provider. No plaintext key material ever reaches the
//! database. This module knows nothing of the wire protocol or sockets.
//!
//! Layout: `db` is the only file with SQL (sqlx `Any`, SQLite or
//! PostgreSQL), `envelope` does the AES-256-GCM sealing, `kms` holds the KEK
//! trait and the file KEK, `pkcs11` the HSM KEK, and `cache` the bounded
//! TTL cache.
//!
//! Lookups are lazy and by name: opening the store reads no keys, so it
//! scales to very many keys. Reads are cached for [`CacheConfig::ttl`]
//! (default 30 s, at most [`CacheConfig::capacity`] entries, default 1024,
//! per cache): a key deleted or changed by another process is never served
//! for longer than the TTL, while changes made through this `KeyStore`
//! invalidate at once. Alias lookups, including "no such alias", are cached
//! the same way.

mod cache;
mod db;
mod envelope;
mod kms;
mod pkcs11;

pub use cache::CacheConfig;
pub use kms::{FileKek, Kek, KmsError};
pub use pkcs11::{read_pin, Pkcs11Kek, Pkcs11Settings, PIN_ENV};

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::secret::SecretBytes;
use crate::sign::{ImportedKey, PubkeyAlgo, SigningKey};
pub(crate) use cache::TtlCache;
use db::{Db, EncKeyRow, KeyRow, PoolConfig, RewrapRow};
use envelope::OpenError;

/// Errors from the key store. Messages name the key, never its material.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("database: {0}")]
    Database(String),
    #[error("key {0} already exists")]
    Exists(String),
    #[error("no key named {0}")]
    NotFound(String),
    #[error("key {name}: {reason}")]
    Corrupt { name: String, reason: String },
    #[error(transparent)]
    Kms(#[from] KmsError),
    #[error("key {name}: {source}")]
    Sign {
        name: String,
        source: crate::sign::SignError,
    },
    /// A key name, alias or encryption-key id that cannot be stored.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// Key data the store cannot represent.
    #[error("key {name}: {reason}")]
    Unsupported { name: String, reason: String },
}

/// A row of `key list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub name: String,
    /// 40 upper-case hex digits.
    pub fingerprint: String,
    /// `rsa`, `dsa`, `ecdsa`, `eddsa` (or `algoN` for other OpenPGP ids).
    pub algo: String,
    pub user_ids: Vec<String>,
    /// Import time, seconds since the epoch.
    pub created: i64,
}

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

/// How many stored secrets one KEK wraps (`signatrust-admin kek status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekUsage {
    pub kek_id: String,
    /// Signing-key rows.
    pub keys: i64,
    /// Encryption-key rows.
    pub encryption_keys: i64,
}

/// What [`KeyStore::rewrap_to`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewrapSummary {
    /// Rows whose data key is now wrapped by the new KEK.
    pub rewrapped: usize,
    /// Rows that already were.
    pub already: usize,
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

/// A database URL with its password replaced by `***`, for messages.
pub fn redacted_url(url: &str) -> String {
    db::redact_url(url)
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

fn split_user_ids(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split('\n').map(str::to_owned).collect()
    }
}

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
    /// Bounds the blocking key loads of cache misses (`signing_key`), so a
    /// burst of misses does not become a burst of blocking threads.
    load_slots: Arc<tokio::sync::Semaphore>,
    /// Whether this instance has made sure every stored key is in the
    /// `key_ids` index (keys stored before it existed are added on the
    /// first lookup; keys stored since are indexed when inserted).
    key_ids_indexed: std::sync::atomic::AtomicBool,
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
        Ok(KeyStore {
            db,
            kek,
            rows: TtlCache::new(opts.cache),
            loaded: TtlCache::new(opts.cache),
            aliases: TtlCache::new(opts.cache),
            load_slots: Arc::new(tokio::sync::Semaphore::new(opts.load_concurrency.max(1))),
            key_ids_indexed: std::sync::atomic::AtomicBool::new(false),
        })
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
        self.db.close().await;
    }

    /// Stores `key` under `name`, envelope-encrypting its secret.
    /// [`KeyError::Exists`] if the name is taken.
    pub async fn import(&self, name: &str, key: &ImportedKey) -> Result<(), KeyError> {
        let row = self.sealed_row(name, key)?;
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
            .map(|n| self.sealed_row(n, key))
            .collect::<Result<Vec<_>, _>>()?;
        let inserted = self.db.insert_keys(&rows).await?;
        for n in names {
            self.invalidate_key(n);
        }
        Ok(inserted)
    }

    fn sealed_row(&self, name: &str, key: &ImportedKey) -> Result<KeyRow, KeyError> {
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
        Ok(KeyRow {
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
        })
    }

    /// The unwrapped signing key, cached for the TTL; `None` if there is no
    /// such key. Aliases are not resolved here.
    pub async fn signing_key(&self, name: &str) -> Result<Option<Arc<LoadedKey>>, KeyError> {
        self.loaded
            .get_or_load(name, || async {
                // Read the row fresh so the loaded key is never older than
                // the TTL, whatever the row cache holds.
                let Some(row) = self.fresh_row(name).await? else {
                    return Ok(None);
                };
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
                if fingerprint_hex(signer.fingerprint()) != row.fingerprint {
                    return Err(KeyError::Corrupt {
                        name: name.to_owned(),
                        reason: format!(
                            "secret key has fingerprint {}, row says {}",
                            fingerprint_hex(signer.fingerprint()),
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

    /// The decrypted transferable secret key as imported (secrets
    /// unprotected); `None` if there is no such key. The plaintext is not
    /// cached; only the encrypted row is.
    pub async fn secret(&self, name: &str) -> Result<Option<SecretBytes>, KeyError> {
        match self.row(name).await? {
            Some(row) => self
                .kek_blocking(move |kek| open_key_row(kek, &row))
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// Names of the stored keys a gpg message with these recipients (PKESK
    /// key IDs, `None` for a hidden recipient) may be addressed to: keys
    /// whose primary key or a subkey has one of the IDs, and for a hidden
    /// recipient every key with a subkey. An index lookup, not a scan: no
    /// key is read, let alone unwrapped.
    pub async fn names_by_key_id(
        &self,
        recipients: &[Option<[u8; 8]>],
    ) -> Result<Vec<String>, KeyError> {
        use std::sync::atomic::Ordering;
        if !self.key_ids_indexed.load(Ordering::Acquire) {
            while self.db.index_key_ids(1000).await? > 0 {}
            self.key_ids_indexed.store(true, Ordering::Release);
        }
        let mut names = std::collections::BTreeSet::new();
        for r in recipients {
            match r {
                Some(id) => names.extend(self.db.names_with_key_id(&hex::encode_upper(id)).await?),
                None => names.extend(self.db.names_with_subkeys().await?),
            }
        }
        Ok(names.into_iter().collect())
    }

    pub async fn exists(&self, name: &str) -> Result<bool, KeyError> {
        Ok(self.row(name).await?.is_some())
    }

    /// The binary transferable public key.
    pub async fn public_key(&self, name: &str) -> Result<Option<Vec<u8>>, KeyError> {
        Ok(self.row(name).await?.map(|r| r.public.clone()))
    }

    /// Details of a single key, without its secret.
    pub async fn info(&self, name: &str) -> Result<Option<KeyInfo>, KeyError> {
        Ok(self.row(name).await?.map(|r| KeyInfo {
            name: r.name.clone(),
            fingerprint: r.fingerprint.clone(),
            algo: r.algo.clone(),
            user_ids: split_user_ids(&r.user_ids),
            created: r.created,
        }))
    }

    /// All keys, by name. Reads no secrets (not cached).
    pub async fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        Ok(self
            .db
            .list_keys()
            .await?
            .into_iter()
            .map(|r| KeyInfo {
                user_ids: split_user_ids(&r.user_ids),
                name: r.name,
                fingerprint: r.fingerprint,
                algo: r.algo,
                created: r.created,
            })
            .collect())
    }

    /// Deletes a key; `false` if there was none. Aliases pointing at it are
    /// left alone (they then resolve to a missing key).
    pub async fn delete(&self, name: &str) -> Result<bool, KeyError> {
        let deleted = self.db.delete_key(name).await?;
        self.invalidate_key(name);
        Ok(deleted)
    }

    /// Creates or replaces an alias. The target need not exist (yet).
    pub async fn set_alias(&self, alias: &str, target: &str) -> Result<(), KeyError> {
        validate_name(alias)?;
        validate_name(target)?;
        self.db.set_alias(alias, target).await?;
        self.aliases.remove(alias);
        Ok(())
    }

    pub async fn remove_alias(&self, alias: &str) -> Result<bool, KeyError> {
        let removed = self.db.remove_alias(alias).await?;
        self.aliases.remove(alias);
        Ok(removed)
    }

    /// The target of `alias` (one level; not resolved further), cached for
    /// the TTL.
    pub async fn alias(&self, alias: &str) -> Result<Option<String>, KeyError> {
        let cached = self
            .aliases
            .get_or_load(alias, || async { self.db.get_alias(alias).await.map(Some) })
            .await?;
        Ok(cached.flatten())
    }

    /// All aliases as `(alias, target)`, sorted by alias (not cached).
    pub async fn list_aliases(&self) -> Result<Vec<(String, String)>, KeyError> {
        self.db.list_aliases().await
    }

    /// Stores (or replaces) a symmetric encryption key, envelope-encrypted.
    pub async fn put_encryption_key(&self, id: &str, secret: &SecretBytes) -> Result<(), KeyError> {
        validate_name(id)?;
        let sealed = envelope::seal(&*self.kek, secret, &envelope::enckey_aad(id))?;
        let t = now();
        self.db
            .put_enc_key(&EncKeyRow {
                id: id.to_owned(),
                ct: sealed.ct,
                nonce: sealed.nonce,
                wrapped_dek: sealed.wrapped_dek,
                kek_id: sealed.kek_id,
                created: t,
                updated: t,
            })
            .await
    }

    /// The decrypted encryption key (not cached).
    pub async fn encryption_key(&self, id: &str) -> Result<Option<SecretBytes>, KeyError> {
        let Some(row) = self.db.get_enc_key(id).await? else {
            return Ok(None);
        };
        self.kek_blocking(move |kek| {
            let aad = envelope::enckey_aad(&row.id);
            envelope::open(kek, &row.ct, &row.nonce, &row.wrapped_dek, &aad)
                .map_err(|e| open_error(kek, &row.id, &row.kek_id, e))
        })
        .await
        .map(Some)
    }

    /// How many rows each KEK id wraps, read from the database at `url`
    /// without opening any KEK (so it works when the KEK does not).
    pub async fn kek_usage_at(url: &str) -> Result<Vec<KekUsage>, KeyError> {
        let db = Db::connect(
            url,
            PoolConfig {
                max_connections: 1,
                connect_timeout: Duration::from_secs(10),
            },
        )
        .await?;
        let usage = db.kek_usage().await;
        db.close().await;
        Ok(usage?
            .into_iter()
            .map(|(kek_id, keys, encryption_keys)| KekUsage {
                kek_id,
                keys,
                encryption_keys,
            })
            .collect())
    }

    /// Re-wraps the data key of every key row and encryption-key row under
    /// `to`, in one database transaction: each DEK is unwrapped with this
    /// store's KEK, checked against its ciphertext, and wrapped by `to`
    /// with the same associated data. Rows already under `to` are left
    /// alone. Any failure (a row this KEK cannot open, a KEK error, a
    /// database error) rolls the whole transaction back, so the store is
    /// either entirely re-wrapped or unchanged. The secrets themselves are
    /// not re-encrypted: their DEKs stay the same.
    pub async fn rewrap_to(&self, to: &dyn Kek) -> Result<RewrapSummary, KeyError> {
        let mut already = 0;
        let rewrapped = self
            .db
            .rewrap(
                |row| {
                    let (what, aad, ct, nonce, wrapped, kek_id) = match row {
                        RewrapRow::Key(k) => (
                            format!("key {}", k.name),
                            envelope::key_aad(&k.name, &k.fingerprint),
                            &k.secret_ct,
                            &k.secret_nonce,
                            &k.wrapped_dek,
                            &k.kek_id,
                        ),
                        RewrapRow::EncKey(k) => (
                            format!("encryption key {}", k.id),
                            envelope::enckey_aad(&k.id),
                            &k.ct,
                            &k.nonce,
                            &k.wrapped_dek,
                            &k.kek_id,
                        ),
                    };
                    if kek_id == to.id() {
                        already += 1;
                        return Ok(None);
                    }
                    let corrupt = |reason: String| KeyError::Corrupt {
                        name: what.clone(),
                        reason,
                    };
                    let dek = self.kek.unwrap(wrapped, &aad).map_err(|e| {
                        corrupt(format!(
                            "cannot unwrap its data key with the current KEK {} (the row \
                             names {kek_id}): {e}",
                            self.kek.id()
                        ))
                    })?;
                    if envelope::gcm_decrypt(&dek, nonce, &aad, ct).is_none() {
                        return Err(corrupt(
                            "secret ciphertext failed authentication".to_owned(),
                        ));
                    }
                    let new = to.wrap(&dek, &aad)?;
                    Ok(Some((new, to.id().to_owned())))
                },
                now(),
            )
            .await?;
        self.rows.clear();
        self.loaded.clear();
        Ok(RewrapSummary { rewrapped, already })
    }

    fn invalidate_key(&self, name: &str) {
        self.rows.remove(name);
        self.loaded.remove(name);
    }

    async fn row(&self, name: &str) -> Result<Option<Arc<KeyRow>>, KeyError> {
        self.rows
            .get_or_load(name, || async {
                Ok(self.db.get_key(name).await?.map(Arc::new))
            })
            .await
    }

    /// Reads the row from the database, refreshing the row cache.
    async fn fresh_row(&self, name: &str) -> Result<Option<Arc<KeyRow>>, KeyError> {
        let generation = self.rows.generation();
        let started = Instant::now();
        let row = self.db.get_key(name).await?.map(Arc::new);
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
                Err(e) => KeyError::Kms(KmsError::Other(format!("KEK operation interrupted: {e}"))),
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
            KeyError::Kms(e)
        }
        OpenError::Data => KeyError::Corrupt {
            name: name.to_owned(),
            reason: "secret ciphertext failed authentication".into(),
        },
    }
}

#[cfg(test)]
mod tests;
