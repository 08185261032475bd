//! Encryption keys: the symmetric keys of signd's `encryptionkeys:`
//! directory (privsign decrypts blobs with them), stored under an id and
//! sealed like signing keys, each under its own data key. Not cached.

use super::{now, open_error, validate_name, KeyStore};
use crate::keys::db::EncKeyRow;
use crate::keys::envelope;
use crate::keys::error::KeyError;
use crate::secret::SecretBytes;

impl KeyStore {
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
}
