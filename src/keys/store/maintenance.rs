//! The store's administrative side: listing and details, delete, the
//! key-ID index (which key a gpg message is addressed to), and the KEK
//! accounting and rewrap of `signatrust-admin kek`.

use super::{key_ids_hex, now, KeyStore};
use crate::keys::aead;
use crate::keys::db::{KeyListRow, RewrapRow};
use crate::keys::envelope;
use crate::keys::error::KeyError;
use crate::keys::kek::Kek;

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
    /// Binary transferable public key (for [`crate::sign::describe`]).
    pub public: Vec<u8>,
    /// Kept only to decrypt blobs, never served
    /// ([`KeyUse::DecryptOnly`](super::KeyUse::DecryptOnly)).
    pub decrypt_only: bool,
}

impl From<KeyListRow> for KeyInfo {
    fn from(r: KeyListRow) -> Self {
        KeyInfo {
            user_ids: split_user_ids(&r.user_ids),
            name: r.name,
            fingerprint: r.fingerprint,
            algo: r.algo,
            created: r.created,
            public: r.public,
            decrypt_only: r.decrypt_only != 0,
        }
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

/// The user IDs of a row, stored joined with `\n`.
pub(super) fn split_user_ids(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split('\n').map(str::to_owned).collect()
    }
}

impl KeyStore {
    /// Details of a single key, without its secret.
    pub async fn info(&self, name: &str) -> Result<Option<KeyInfo>, KeyError> {
        Ok(self
            .row(name)
            .await?
            .map(|r| KeyInfo::from(KeyListRow::from(&*r))))
    }

    /// The id of the KEK that wraps the key `name`'s data key.
    pub async fn kek_id_of(&self, name: &str) -> Result<Option<String>, KeyError> {
        Ok(self.row(name).await?.map(|r| r.kek_id.clone()))
    }

    /// All keys, by name. Reads no secrets (not cached).
    pub async fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        Ok(self
            .db
            .list_keys()
            .await?
            .into_iter()
            .map(KeyInfo::from)
            .collect())
    }

    /// Deletes a key at once, with no retention (see
    /// [`KeyStore::retire`]); `false` if there was none. Aliases pointing
    /// at it are left alone (they then resolve to a missing key).
    pub async fn delete(&self, name: &str) -> Result<bool, KeyError> {
        let deleted = self.db.delete_key(name).await?;
        self.invalidate_key(name);
        Ok(deleted)
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
            while self.db.index_key_ids(1000, key_ids_hex).await? > 0 {}
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

    /// How many rows each KEK id wraps, read from the database at `url`
    /// without opening any KEK (so it works when the KEK does not).
    pub async fn kek_usage_at(url: &str) -> Result<Vec<KekUsage>, KeyError> {
        Ok(KeyStore::custody_at(url).await?.usage)
    }

    /// Re-wraps the data key of every key row and encryption-key row under
    /// `to`, in one database transaction: each DEK is unwrapped with this
    /// store's KEK, checked against its ciphertext, and wrapped by `to`
    /// with the same associated data. Rows already under `to` are left
    /// alone. Any failure (a row this KEK cannot open, a KEK error, a
    /// database error) rolls the whole transaction back, so the store is
    /// either entirely re-wrapped or unchanged. The secrets themselves are
    /// not re-encrypted: their DEKs stay the same. The store's KEK canary
    /// moves to `to` in the same transaction: afterwards only `to` opens
    /// the store.
    pub async fn rewrap_to(&self, to: &dyn Kek) -> Result<RewrapSummary, KeyError> {
        let mut already = 0;
        let canary = envelope::new_canary(to)?;
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
                    if aead::open(&dek, nonce, &aad, ct).is_none() {
                        return Err(corrupt(
                            "secret ciphertext failed authentication".to_owned(),
                        ));
                    }
                    let new = to.wrap(&dek, &aad)?;
                    Ok(Some((new, to.id().to_owned())))
                },
                (to.id(), &canary),
                now(),
            )
            .await?;
        self.rows.clear();
        self.loaded.clear();
        Ok(RewrapSummary { rewrapped, already })
    }
}
