//! [`KeyError`], the error of the key store and of its database layer.
//!
//! Messages name the key, the database (password removed) and the
//! operation, never key material. A cause that has a type is kept as the
//! error's source instead of being flattened into the text, so `{e:#}`
//! (anyhow's chain) prints the whole story and `{e}` the store's part.
//! The wire never sees these texts: `commands` answers a key-store failure
//! with signd's generic internal error.

use std::fmt;

use thiserror::Error;

use super::kek::KekError;
use crate::sign::SignError;

/// Errors from the key store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A stored row that does not open (failed authentication) or does not
    /// match what it says (fingerprint).
    #[error("key {name}: {reason}")]
    Corrupt { name: String, reason: String },
    /// A database failure. `context` names the database and the operation;
    /// `source`, when there is one, says what went wrong.
    #[error("database: {context}")]
    Database {
        context: String,
        #[source]
        source: Option<DbError>,
    },
    /// `import` of a name that is taken.
    #[error("key {0} already exists")]
    Exists(String),
    /// A key name, alias or encryption-key id that cannot be stored.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// The KEK failed, or does not open a stored data key.
    #[error(transparent)]
    Kek(#[from] KekError),
    /// The configured KEK is not the one the store belongs to (its KEK
    /// canary, or for a store older than the canary, the KEK its rows
    /// name). Nothing was read or written: custody fails closed.
    #[error(
        "key store {store} belongs to KEK {expected}, but the configured KEK is {configured}{why}: \
         refusing to use it (configure the KEK the store was made with, or move the store to \
         another KEK with `signatrust-admin kek rewrap`)"
    )]
    KekMismatch {
        /// The database, password removed.
        store: String,
        /// The KEK id(s) the store records.
        expected: String,
        configured: String,
        /// Empty, or why a KEK with the expected id was still refused.
        why: &'static str,
    },
    #[error("no key named {0}")]
    NotFound(String),
    /// A stored secret key that does not load as a signing key.
    #[error("key {name}")]
    Sign {
        name: String,
        #[source]
        source: SignError,
    },
    /// The store's database cannot be reached (refusing connections, not
    /// answering): a serving read failed at once instead of waiting for it
    /// (`db.rs`, `Db::read`). `context` names the database, the operation
    /// and the cause.
    #[error("database: {context}")]
    Unreachable { context: String },
    /// Key data the store cannot represent.
    #[error("key {name}: {reason}")]
    Unsupported { name: String, reason: String },
}

impl KeyError {
    /// A [`KeyError::Database`] with a cause.
    pub(crate) fn database(context: String, source: impl Into<DbError>) -> KeyError {
        KeyError::Database {
            context,
            source: Some(source.into()),
        }
    }
}

/// The cause of a [`KeyError::Database`].
///
/// It is shown by its own text and reports no further source: sqlx's texts
/// already include their causes (`error returned from database: <cause>`),
/// so following sqlx's source too would print each cause twice. The typed
/// error is in the variant.
#[derive(Debug)]
#[non_exhaustive]
pub enum DbError {
    /// A file-system failure while preparing a SQLite file.
    Io(std::io::Error),
    /// A failure reported by sqlx (including migrations).
    Sqlx(sqlx::Error),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Io(e) => e.fmt(f),
            DbError::Sqlx(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DbError {}

impl From<std::io::Error> for DbError {
    fn from(e: std::io::Error) -> Self {
        DbError::Io(e)
    }
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        DbError::Sqlx(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain reads as the flat messages did, each cause once.
    #[test]
    fn chains_show_each_cause_once() {
        let e = KeyError::database(
            "sqlite:///k.db: read key".into(),
            sqlx::Error::Io(std::io::Error::other("disk on fire")),
        );
        assert_eq!(e.to_string(), "database: sqlite:///k.db: read key");
        assert_eq!(
            format!("{:#}", anyhow::Error::new(e)),
            "database: sqlite:///k.db: read key: error communicating with database: disk on fire"
        );

        let e = KeyError::Sign {
            name: "k".into(),
            source: SignError::BadPassphrase,
        };
        assert_eq!(
            format!("{:#}", anyhow::Error::new(e)),
            "key k: bad passphrase"
        );

        let e = KeyError::from(KekError::from(crate::keys::AeadError::Length));
        assert_eq!(
            format!("{:#}", anyhow::Error::new(e)),
            "kms: aes-256-gcm: bad key or nonce length"
        );
    }
}
