//! Retiring, restoring, replacing and re-signing keys, and store-wide
//! settings (`signatrust-admin key delete|restore|replace|extend`,
//! `default-user`).
//!
//! A deleted key is *retired*: its row moves to `deleted_keys` in one
//! transaction, so the server stops finding it at once (within its cache
//! TTL for another process), while the wrapped secret stays until the
//! retention ends and [`KeyStore::restore`] can bring it back. A replace
//! retires the old key and inserts the new one in the same transaction: a
//! reader sees one or the other, never no key.

use std::time::Duration;

use super::{key_ids_hex, now, KeyStore, KeyUse};
use crate::keys::db::{Replaced, Swap, Undelete};
use crate::keys::error::KeyError;
use crate::sign::ImportedKey;

/// How long `key delete` keeps a retired key restorable: 30 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86400);

/// The settings key of the store's default user.
const DEFAULT_USER: &str = "default_user";

/// A retired key (`key list --deleted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedKey {
    pub name: String,
    /// 40 upper-case hex digits.
    pub fingerprint: String,
    pub user_ids: Vec<String>,
    /// When it was retired, seconds since the epoch.
    pub deleted: i64,
    /// When its secret is destroyed, seconds since the epoch.
    pub purge_after: i64,
}

/// What [`KeyStore::restore`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreOutcome {
    Restored,
    /// There is no retired key of that name (never deleted, purged, or
    /// destroyed with `--now`).
    NotDeleted,
    /// A live key holds the name (e.g. the replacement of a replace).
    NameTaken,
}

/// What [`KeyStore::restore_swapping`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapOutcome {
    /// The retired key is live again; the key that was live (this
    /// fingerprint, 40 upper-case hex digits) is now the retired copy.
    Swapped { retired: String },
    /// There was no live key; the retired one is restored.
    Restored,
    /// There is no retired key of that name.
    NotDeleted,
}

fn purge_time(now: i64, retention: Duration) -> i64 {
    now.saturating_add(i64::try_from(retention.as_secs()).unwrap_or(i64::MAX))
}

impl KeyStore {
    /// Retires the key `name`: it stops serving and is kept, restorable,
    /// for `retention`. `false` if there is no such key.
    pub async fn retire(&self, name: &str, retention: Duration) -> Result<bool, KeyError> {
        let t = now();
        let retired = self
            .db
            .retire_key(name, t, purge_time(t, retention))
            .await?;
        self.invalidate_key(name);
        Ok(retired)
    }

    /// Destroys the key `name` and any retired copy of it, wrapped secret
    /// included; `false` if there was neither.
    pub async fn destroy(&self, name: &str) -> Result<bool, KeyError> {
        let destroyed = self.db.destroy_key(name).await?;
        self.invalidate_key(name);
        Ok(destroyed)
    }

    /// Brings the retired key `name` back into service.
    pub async fn restore(&self, name: &str) -> Result<RestoreOutcome, KeyError> {
        let r = self.db.restore_key(name, key_ids_hex).await?;
        self.invalidate_key(name);
        Ok(match r {
            Undelete::Restored => RestoreOutcome::Restored,
            Undelete::NotDeleted => RestoreOutcome::NotDeleted,
            Undelete::NameTaken => RestoreOutcome::NameTaken,
        })
    }

    /// Brings the retired key `name` back in place of the live key of that
    /// name, which becomes the retired copy (restorable for `retention`),
    /// in one transaction: the undo of [`KeyStore::replace`]. Without a
    /// live key this is [`KeyStore::restore`].
    pub async fn restore_swapping(
        &self,
        name: &str,
        retention: Duration,
    ) -> Result<SwapOutcome, KeyError> {
        let t = now();
        let r = self
            .db
            .swap_retired_key(name, t, purge_time(t, retention), key_ids_hex)
            .await?;
        self.invalidate_key(name);
        Ok(match r {
            Swap::Swapped { retired } => SwapOutcome::Swapped { retired },
            Swap::Restored => SwapOutcome::Restored,
            Swap::NotDeleted => SwapOutcome::NotDeleted,
        })
    }

    /// Swaps `key` in under `name` in one transaction; the old key is
    /// retired for `retention`. `Ok(false)` (nothing changes) if the key
    /// named `name` already is `key` (same fingerprint): running a replace
    /// again after it committed keeps the replaced key restorable.
    /// [`KeyError::NotFound`] if there is no key named `name` (nothing
    /// changes).
    pub async fn replace(
        &self,
        name: &str,
        key: &ImportedKey,
        retention: Duration,
    ) -> Result<bool, KeyError> {
        let row = self.sealed_row(name, key, KeyUse::Sign)?;
        let t = now();
        let replaced = self
            .db
            .replace_key(&row, t, purge_time(t, retention))
            .await?;
        self.invalidate_key(name);
        match replaced {
            Replaced::Yes => Ok(true),
            Replaced::Already => Ok(false),
            Replaced::NotFound => Err(KeyError::NotFound(name.to_owned())),
        }
    }

    /// Rewrites the key `name` with new material for the same key (e.g.
    /// new self-signatures from [`crate::sign::extend_tsk`]), sealed under
    /// a new data key. [`KeyError::NotFound`] if there is no such key;
    /// [`KeyError::Corrupt`] if `key` has another fingerprint.
    pub async fn update(&self, name: &str, key: &ImportedKey) -> Result<(), KeyError> {
        let old = self.db.get_key(name).await?;
        // The key keeps its use (a decryption-only key stays one).
        let usage = match &old {
            Some(o) if o.decrypt_only != 0 => KeyUse::DecryptOnly,
            _ => KeyUse::Sign,
        };
        let row = self.sealed_row(name, key, usage)?;
        if let Some(old) = old {
            if old.fingerprint != row.row.fingerprint {
                return Err(KeyError::Corrupt {
                    name: name.to_owned(),
                    reason: format!(
                        "update with fingerprint {} for a key with {}",
                        row.row.fingerprint, old.fingerprint
                    ),
                });
            }
        }
        let updated = self.db.update_key(&row).await?;
        self.invalidate_key(name);
        if updated {
            Ok(())
        } else {
            Err(KeyError::NotFound(name.to_owned()))
        }
    }

    /// Destroys retired keys whose retention has ended; returns how many.
    pub async fn purge_deleted(&self) -> Result<u64, KeyError> {
        self.db.purge_deleted(now()).await
    }

    /// Retired keys, by name.
    pub async fn list_deleted(&self) -> Result<Vec<DeletedKey>, KeyError> {
        Ok(self
            .db
            .list_deleted()
            .await?
            .into_iter()
            .map(|r| DeletedKey {
                user_ids: super::maintenance::split_user_ids(&r.user_ids),
                name: r.name,
                fingerprint: r.fingerprint,
                deleted: r.deleted,
                purge_after: r.purge_after,
            })
            .collect())
    }

    /// Aliases whose target is `target`, sorted (not cached).
    pub async fn aliases_to(&self, target: &str) -> Result<Vec<String>, KeyError> {
        self.db.aliases_to(target).await
    }

    /// The store's default user (`signatrust-admin default-user set`), not
    /// cached.
    pub async fn default_user(&self) -> Result<Option<String>, KeyError> {
        self.db.setting(DEFAULT_USER).await
    }

    /// The store's default user as the server uses it: cached for the
    /// TTL like aliases (and emptied with them when the store changes).
    pub async fn served_default_user(&self) -> Result<Option<String>, KeyError> {
        self.poll_revision().await;
        let cached = self
            .settings
            .get_or_load(DEFAULT_USER, || async {
                self.db_timings
                    .time(self.db.setting(DEFAULT_USER))
                    .await
                    .map(Some)
            })
            .await?;
        Ok(cached.flatten())
    }

    /// Sets (`Some`) or clears (`None`) the store's default user.
    pub async fn set_default_user(&self, user: Option<&str>) -> Result<(), KeyError> {
        if let Some(u) = user {
            super::validate_name(u)?;
        }
        self.db.set_setting(DEFAULT_USER, user).await?;
        self.settings.remove(DEFAULT_USER);
        Ok(())
    }
}
