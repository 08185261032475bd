//! `key delete`, `key restore`, `key replace` and `key list --deleted`:
//! retiring keys safely (see `keys::store::lifecycle`).
use std::time::Duration;

use anyhow::bail;
use serde_json::json;

use super::output::{date, print_json, say};
use super::prompt;
use crate::keys::{KeyError, KeyStore, RestoreOutcome, SwapOutcome};
use crate::sign::ImportedKey;

fn retention(days: u64) -> Duration {
    Duration::from_secs(days.saturating_mul(86400))
}

pub(super) async fn delete(
    store: &KeyStore,
    name: &str,
    yes: bool,
    force: bool,
    now: bool,
    retention_days: u64,
) -> anyhow::Result<()> {
    let purged = store.purge_deleted().await?;
    if purged > 0 {
        say!("purged {purged} retired key(s) whose retention ended");
    }
    let Some(info) = store.info(name).await? else {
        // `--now` also destroys a retired copy.
        if now && store.list_deleted().await?.iter().any(|d| d.name == name) {
            if !yes
                && prompt::is_terminal()
                && !prompt::confirm(&format!("destroy the retired key {name} for good?"))?
            {
                bail!("not deleted: {name}");
            }
            store.destroy(name).await?;
            say!("destroyed retired key {name}");
            return Ok(());
        }
        bail!("no key named {name}");
    };
    let aliases = store.aliases_to(name).await?;
    if !aliases.is_empty() && !force {
        bail!(
            "key {name} is the target of alias(es) {}; remove them or pass --force",
            aliases.join(", ")
        );
    }
    // One retired copy per name: retiring this key discards an older one.
    let discarded = match now {
        true => None,
        false => store
            .list_deleted()
            .await?
            .into_iter()
            .find(|d| d.name == name),
    };
    if !yes && prompt::is_terminal() {
        let mut what = if now {
            "destroy its secret now (no restore)".to_owned()
        } else {
            format!("keep it restorable for {retention_days} days")
        };
        if let Some(d) = &discarded {
            what += &format!(
                "; the retired copy {} (retired {}) is discarded",
                d.fingerprint,
                date(d.deleted)
            );
        }
        let question = format!(
            "delete key {name} ({} {})? It stops serving at once; {what}.",
            info.fingerprint,
            info.user_ids.join(", ")
        );
        if !prompt::confirm(&question)? {
            bail!("not deleted: {name}");
        }
    }
    if now {
        store.destroy(name).await?;
        say!("deleted {name}: secret destroyed");
    } else {
        if !store.retire(name, retention(retention_days)).await? {
            bail!("no key named {name}");
        }
        say!(
            "deleted {name}: restorable with `signatrust-admin key restore {name}` for \
             {retention_days} days"
        );
        if let Some(d) = discarded {
            say!(
                "the older retired copy of {name} ({}, retired {}) was discarded: one retired \
                 copy is kept per name",
                d.fingerprint,
                date(d.deleted)
            );
        }
    }
    if !aliases.is_empty() {
        say!("alias(es) {} now point at no key", aliases.join(", "));
    }
    Ok(())
}

/// `key restore` (with or without `--swap`) of a name with no retired key.
fn not_retired(name: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "no retired key named {name} (never deleted, destroyed with --now, or its retention \
         ended)"
    )
}

pub(super) async fn restore(store: &KeyStore, name: &str) -> anyhow::Result<()> {
    store.purge_deleted().await?;
    match store.restore(name).await? {
        RestoreOutcome::Restored => {
            say!("restored {name}");
            Ok(())
        }
        RestoreOutcome::NotDeleted => Err(not_retired(name)),
        // Not "delete it first": deleting retires the live key in place
        // of the one to restore, which would be lost.
        RestoreOutcome::NameTaken => bail!(
            "a key named {name} exists (the replacement of a `key replace`?); `signatrust-admin \
             key restore --swap {name}` puts the retired key back and retires the live one"
        ),
    }
}

pub(super) async fn restore_swapping(
    store: &KeyStore,
    name: &str,
    retention_days: u64,
) -> anyhow::Result<()> {
    store.purge_deleted().await?;
    match store
        .restore_swapping(name, retention(retention_days))
        .await?
    {
        SwapOutcome::Swapped { retired } => {
            say!(
                "restored {name}; the key it replaced ({retired}) is retired, restorable with \
                 `signatrust-admin key restore --swap {name}` for {retention_days} days"
            );
            Ok(())
        }
        SwapOutcome::Restored => {
            say!("restored {name}");
            Ok(())
        }
        SwapOutcome::NotDeleted => Err(not_retired(name)),
    }
}

pub(super) async fn replace(
    store: &KeyStore,
    name: &str,
    new: &ImportedKey,
    retention_days: u64,
) -> anyhow::Result<()> {
    match store.replace(name, new, retention(retention_days)).await {
        Ok(true) => {}
        // Run again after it committed (interrupted before it said so):
        // done already, and the replaced key stays restorable.
        Ok(false) => {
            say!(
                "{name} already is {} {}: nothing replaced",
                hex::encode_upper(new.fingerprint),
                new.user_ids.join(", ")
            );
            return Ok(());
        }
        Err(KeyError::NotFound(_)) => bail!("no key named {name}"),
        Err(e) => return Err(e.into()),
    }
    say!(
        "replaced {name}: now {} {}",
        hex::encode_upper(new.fingerprint),
        new.user_ids.join(", ")
    );
    Ok(())
}

pub(super) async fn list_deleted(store: &KeyStore, json: bool) -> anyhow::Result<()> {
    store.purge_deleted().await?;
    let rows = store.list_deleted().await?;
    if json {
        print_json(&serde_json::Value::Array(
            rows.iter()
                .map(|d| {
                    json!({
                        "name": d.name,
                        "fingerprint": d.fingerprint,
                        "user_ids": d.user_ids,
                        "deleted": date(d.deleted),
                        "purge_after": date(d.purge_after),
                    })
                })
                .collect(),
        ));
    } else {
        for d in &rows {
            say!(
                "{}\t{}\t{}\tdeleted {}\tpurged after {}",
                d.name,
                d.fingerprint,
                d.user_ids.join(", "),
                date(d.deleted),
                date(d.purge_after)
            );
        }
    }
    Ok(())
}
