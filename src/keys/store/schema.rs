//! The store's schema version, for `signatrust-admin db status|migrate`:
//! which of this build's migrations (`migrations/{sqlite,postgres}`) a
//! database has, read and applied without any KEK, so that the schema of a
//! shared PostgreSQL store can be brought up to date before the servers
//! that need it are rolled out.

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
