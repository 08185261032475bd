//! Aliases: a name that stands for another key name (signd's `aliases:`),
//! resolved one level and cached for the TTL, "no such alias" included.

use super::{validate_name, KeyStore};
use crate::keys::error::KeyError;

impl KeyStore {
    /// Creates or replaces an alias. The target need not exist (yet).
    pub async fn set_alias(&self, alias: &str, target: &str) -> Result<(), KeyError> {
        validate_name(alias)?;
        validate_name(target)?;
        self.db.set_alias(alias, target).await?;
        self.aliases.remove(alias);
        Ok(())
    }

    /// Removes an alias; `false` if there was none.
    pub async fn remove_alias(&self, alias: &str) -> Result<bool, KeyError> {
        let removed = self.db.remove_alias(alias).await?;
        self.aliases.remove(alias);
        Ok(removed)
    }

    /// The target of `alias` (one level; not resolved further), cached for
    /// the TTL.
    pub async fn alias(&self, alias: &str) -> Result<Option<String>, KeyError> {
        self.poll_revision().await;
        let cached = self
            .aliases
            .get_or_load(alias, || async {
                self.db_timings
                    .time(self.db.get_alias(alias))
                    .await
                    .map(Some)
            })
            .await?;
        Ok(cached.flatten())
    }

    /// All aliases as `(alias, target)`, sorted by alias (not cached).
    pub async fn list_aliases(&self) -> Result<Vec<(String, String)>, KeyError> {
        self.db.list_aliases().await
    }
}
