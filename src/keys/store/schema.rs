//! The store's schema version, for `signatrust-admin db status|migrate`:
//! which of this build's migrations (`migrations/{sqlite,postgres}`) a
//! database has, read and applied without any KEK, so that the schema of a
//! shared PostgreSQL store can be brought up to date before the servers
//! that need it are rolled out. Also the backup of a SQLite store, which
//! needs no KEK either.

use std::time::Duration;

use super::KeyStore;
use crate::keys::db::{Db, PoolConfig};
use crate::keys::error::KeyError;

/// One migration of this build and whether the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The number in its file name (`0006_kek_canary.sql` is 6).
    pub version: i64,
    /// The rest of the file name, words separated by spaces.
    pub description: String,
    pub applied: bool,
}

const POOL: PoolConfig = PoolConfig {
    max_connections: 1,
    connect_timeout: Duration::from_secs(10),
};

async fn read(db: Db) -> Result<Vec<Migration>, KeyError> {
    let list = db.migrations().await;
    db.close().await;
    Ok(list?
        .into_iter()
        .map(|(version, description, applied)| Migration {
            version,
            description,
            applied,
        })
        .collect())
}

impl KeyStore {
    /// Every migration of this build and whether the database at `url`
    /// has it, changing nothing (a SQLite file is created empty if
    /// missing).
    ///
    /// # Errors
    /// The database cannot be reached or read ([`KeyError::Database`]).
    pub async fn migrations_at(url: &str) -> Result<Vec<Migration>, KeyError> {
        read(Db::connect_unmigrated(url, POOL).await?).await
    }

    /// Applies the migrations the database at `url` lacks, in one
    /// transaction each; returns every migration afterwards. Opening a
    /// store does the same; this does it without a KEK.
    ///
    /// # Errors
    /// The database cannot be reached, or a migration fails (that one is
    /// rolled back, the ones before it stay).
    pub async fn migrate_at(url: &str) -> Result<Vec<Migration>, KeyError> {
        read(Db::connect(url, POOL).await?).await
    }
}

impl KeyStore {
    /// Copies the SQLite store at `url` to the new file `to` (mode 0600),
    /// consistently while servers use it, without any KEK: the copy holds
    /// only wrapped secrets and is useless without the store's KEK, which
    /// must be kept (and backed up) separately. Returns what the copy
    /// records about its KEK.
    ///
    /// # Errors
    /// A PostgreSQL store (back it up with `pg_dump`), an existing `to`,
    /// or a database or I/O failure (no partial copy is left).
    pub async fn backup_at(url: &str, to: &std::path::Path) -> Result<super::Custody, KeyError> {
        let db = Db::connect(url, POOL).await?;
        let done = async {
            let custody = super::custody::read(&db).await?;
            db.backup_sqlite(to).await?;
            Ok(custody)
        }
        .await;
        db.close().await;
        done
    }
}
