//! Readiness of the store (`/readyz`): the database answers a query, and the
//! KEK wraps and unwraps a fresh data key (for an HSM: the session and the
//! key on the token work).

use super::KeyStore;
use crate::keys::aead;
use crate::keys::error::KeyError;
use crate::keys::kek::KekError;

/// Associated data of the readiness canary; never stored.
const CANARY_AAD: &[u8] = b"signatrust readiness canary";

impl KeyStore {
    /// Checks that the database answers and that the KEK opens what it
    /// wraps. Reads no key and caches nothing.
    ///
    /// Errors: the database's or the KEK's, naming them.
    pub async fn check_ready(&self) -> Result<(), KeyError> {
        // A name no key can have: a cheap indexed query that must answer.
        self.db.get_key("/readyz").await?;
        self.kek_blocking(|kek| {
            let dek = aead::random_secret(32)
                .map_err(|e| KeyError::Kek(KekError::Other(e.to_string())))?;
            let wrapped = kek.wrap(&dek, CANARY_AAD)?;
            if kek.unwrap(&wrapped, CANARY_AAD)? == dek {
                Ok(())
            } else {
                Err(KeyError::Kek(KekError::Other(
                    "the KEK did not unwrap the readiness canary to what it wrapped".into(),
                )))
            }
        })
        .await
    }
}
