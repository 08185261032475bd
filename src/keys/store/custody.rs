//! Which KEK the store belongs to: the KEK canary (migration 0006), checked
//! on every open so that custody fails closed.
//!
//! A store records its KEK as a random value wrapped by it. Opening with
//! any other KEK (a lost key file replaced, a typo in `[kms] key_file`, a
//! token key re-created under the same label) is refused before a single
//! row is read or written, naming the KEK the store expects and the one
//! configured; so a store can never end up with rows under two KEKs by
//! accident, and a server never starts only to fail every signature.
//!
//! A store made before the canary existed adopts the configured KEK on its
//! first open, provided that KEK is one its rows name (or it has no rows).
//! While `kek rotate` moves the store to a new KEK, that KEK (the `next`
//! canary) is accepted too.

use super::rotation::{done_for, kind_name};
use super::{now, KekUsage, KeyStore};
use crate::keys::db::{Db, PoolConfig, RotationKind};
use crate::keys::envelope;
use crate::keys::error::KeyError;
use crate::keys::kek::Kek;

/// What a store records about its KEK, read without opening any KEK
/// ([`KeyStore::custody_at`]). The default is a store with nothing in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Custody {
    /// The id of the KEK the store belongs to, if it has recorded one.
    pub kek_id: Option<String>,
    /// How many rows each KEK id wraps.
    pub usage: Vec<KekUsage>,
    /// The online rotation (`kek rotate`) in progress, if any.
    pub rotation: Option<RotationProgress>,
}

/// How far an online rotation (`kek rotate`) has come: which rows a
/// server on the new KEK can open, directly or through a rotation wrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationProgress {
    /// The id of the KEK the store moves to (the `next` canary).
    pub to: String,
    /// Rows (signing keys, encryption keys, retired keys) the new KEK
    /// opens.
    pub ready: usize,
    /// All rows.
    pub total: usize,
    /// Up to [`RotationProgress::NAMED`] rows it does not open yet, as
    /// `kind name` (`key k3`, `encryption key 2`, `retired key old`).
    pub pending: Vec<String>,
}

impl RotationProgress {
    /// How many pending rows are named.
    pub const NAMED: usize = 5;
}

impl Custody {
    /// Whether the store belongs to a KEK already: it has recorded one, or
    /// holds rows wrapped by one. Such a store must never get a new KEK.
    pub fn is_claimed(&self) -> bool {
        self.kek_id.is_some() || !self.usage.is_empty()
    }

    /// The KEK id(s) the store expects, for messages.
    pub fn expected(&self) -> String {
        match &self.kek_id {
            Some(id) => id.clone(),
            None => self
                .usage
                .iter()
                .map(|u| u.kek_id.as_str())
                .collect::<Vec<_>>()
                .join(" or "),
        }
    }
}

/// Checks that `kek` is the KEK of the store behind `db`, recording it if
/// the store has none yet; [`KeyError::KekMismatch`] otherwise.
pub(super) async fn bind_kek(db: &Db, kek: &dyn Kek) -> Result<(), KeyError> {
    let mismatch = |expected: String, why: &'static str| KeyError::KekMismatch {
        store: db.url().to_owned(),
        expected,
        configured: kek.id().to_owned(),
        why,
    };
    if db.kek_canary().await?.is_none() {
        let usage = db.kek_usage().await?;
        if !usage.is_empty() && !usage.iter().any(|(id, _, _)| id == kek.id()) {
            let ids: Vec<&str> = usage.iter().map(|(id, _, _)| id.as_str()).collect();
            return Err(mismatch(ids.join(" or "), ""));
        }
        let wrapped = envelope::new_canary(kek)?;
        db.claim_kek_canary(kek.id(), &wrapped, now()).await?;
    }
    // Read back: a concurrent first open may have claimed it first.
    let Some((id, wrapped)) = db.kek_canary().await? else {
        return Err(KeyError::Database {
            context: format!("{}: the KEK canary vanished while opening", db.url()),
            source: None,
        });
    };
    let (id, wrapped) = if id == kek.id() {
        (id, wrapped)
    } else {
        // During an online rotation (`kek rotate`) the KEK it moves to is
        // the store's too: servers switched to it use the rotation wraps.
        match db.kek_canary_of("next").await? {
            Some((next, next_wrapped)) if next == kek.id() => (next, next_wrapped),
            _ => return Err(mismatch(id, "")),
        }
    };
    if !envelope::opens_canary(kek, &wrapped)? {
        return Err(mismatch(
            id,
            " with the same id, yet it does not open the store's KEK canary (a different key \
             under the same name?)",
        ));
    }
    Ok(())
}

impl KeyStore {
    /// What the store at `url` records about its KEK, read from the
    /// database without opening any KEK (so it works when the KEK does
    /// not): used before a file KEK may be created, and by `kek status`.
    pub async fn custody_at(url: &str) -> Result<Custody, KeyError> {
        let db = Db::connect(
            url,
            PoolConfig {
                max_connections: 1,
                connect_timeout: std::time::Duration::from_secs(10),
            },
        )
        .await?;
        let custody = read(&db).await;
        db.close().await;
        custody
    }
}

/// What the database behind `db` records about its KEK.
pub(super) async fn read(db: &Db) -> Result<Custody, KeyError> {
    let kek_id = db.kek_canary().await?.map(|(id, _)| id);
    let usage = db.kek_usage().await?;
    let rotation = match db.kek_canary_of("next").await? {
        Some((to, _)) => Some(rotation_progress(db, to).await?),
        None => None,
    };
    Ok(Custody {
        kek_id,
        rotation,
        usage: usage
            .into_iter()
            .map(|(kek_id, keys, encryption_keys)| KekUsage {
                kek_id,
                keys,
                encryption_keys,
            })
            .collect(),
    })
}

/// Counts the rows a server on KEK `to` can open (a page of rows at a
/// time, so a large store is not read into memory at once).
async fn rotation_progress(db: &Db, to: String) -> Result<RotationProgress, KeyError> {
    const PAGE: i64 = 500;
    let mut progress = RotationProgress {
        to,
        ready: 0,
        total: 0,
        pending: Vec::new(),
    };
    for kind in RotationKind::ALL {
        let mut after = String::new();
        loop {
            let page = db.rotation_page(kind, &after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.name.clone();
            for r in &page {
                progress.total += 1;
                if done_for(r, &progress.to) {
                    progress.ready += 1;
                } else if progress.pending.len() < RotationProgress::NAMED {
                    progress
                        .pending
                        .push(format!("{} {}", kind_name(kind), r.name));
                }
            }
        }
    }
    Ok(progress)
}
