//! Encryption keys: the symmetric keys of signd's `encryptionkeys:`
//! directory (privsign decrypts blobs with them), stored under an id and
//! sealed like signing keys, each under its own data key. Not cached.

use super::{now, open_error, validate_name, KeyStore};
use crate::keys::db::{EncKeyRow, RotationKind};
use crate::keys::envelope;
use crate::keys::error::KeyError;
use crate::secret::SecretBytes;

/// An encryption key without its secret (`enckey list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncKeyInfo {
    pub id: String,
    /// The KEK that wraps its data key.
    pub kek_id: String,
    /// Seconds since the epoch.
    pub created: i64,
}

impl KeyStore {
    /// All encryption keys, by id, without secrets.
    pub async fn list_encryption_keys(&self) -> Result<Vec<EncKeyInfo>, KeyError> {
        Ok(self
            .db
            .list_enc_keys()
            .await?
            .into_iter()
            .map(|(id, kek_id, created)| EncKeyInfo {
                id,
                kek_id,
                created,
            })
            .collect())
    }

    /// Whether an encryption key `id` is stored (reads no secret).
    pub async fn encryption_key_exists(&self, id: &str) -> Result<bool, KeyError> {
        Ok(self.db.get_enc_key(id).await?.is_some())
    }

    /// Deletes an encryption key; `false` if there was none. Blobs made
    /// with it can no longer be decrypted.
    pub async fn delete_encryption_key(&self, id: &str) -> Result<bool, KeyError> {
        self.db.delete_enc_key(id).await
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
        let Some(mut row) = self.db.get_enc_key(id).await? else {
            return Ok(None);
        };
        self.rotated_key_row(
            RotationKind::EncKey,
            id,
            &mut row.kek_id,
            &mut row.wrapped_dek,
        )
        .await?;
        self.kek_blocking(move |kek| {
            let aad = envelope::enckey_aad(&row.id);
            envelope::open(kek, &row.ct, &row.nonce, &row.wrapped_dek, &aad)
                .map_err(|e| open_error(kek, &row.id, &row.kek_id, e))
        })
        .await
        .map(Some)
    }
}
