//! `key extend`: new self-signatures with a later expiry, made here
//! ([`crate::sign::extend_tsk`]), so that `pubkey` returns the extended key.
//! `--expiring-within D --by N` is COPR's prolong job as one command: each
//! key is its own transaction, and a failure of one does not stop the
//! others (all are reported; the command then fails).
use anyhow::{bail, Context};

use super::output::{date, say, warn};
use crate::keys::KeyStore;
use crate::sign::{describe, extend_tsk, import_tsk};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Extends `name` to `days` from now. Returns the new expiry.
async fn extend(store: &KeyStore, name: &str, days: u64) -> anyhow::Result<u64> {
    let Some(secret) = store.secret(name).await? else {
        bail!("no key named {name}");
    };
    let t = now();
    let at = days
        .checked_mul(86400)
        .and_then(|s| s.checked_add(t))
        .context("--days too large")?;
    let now32 = u32::try_from(t).context("clock outside the OpenPGP range")?;
    let key = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let tsk = extend_tsk(&secret, at, now32)?;
        Ok(import_tsk(tsk.expose(), None)?)
    })
    .await?
    .with_context(|| format!("key {name}: cannot extend"))?;
    store.update(name, &key).await?;
    Ok(at)
}

/// Extends `name` to `days` from now. An expiry earlier than the key's
/// own (or any expiry for a key that never expires) is refused unless
/// `shorten`: "extend" must not cut a key's life by mistake.
pub(super) async fn one(
    store: &KeyStore,
    name: &str,
    days: u64,
    shorten: bool,
    dry_run: bool,
) -> anyhow::Result<()> {
    let Some(public) = store.public_key(name).await? else {
        bail!("no key named {name}");
    };
    let current = describe(&public)?.primary.expires;
    let target = now().saturating_add(days.saturating_mul(86400));
    let shown = current.map_or("never".into(), |e| date(e as i64));
    if !shorten && current.is_none_or(|e| e > target) {
        bail!(
            "key {name} expires {shown}; --days {days} would make it expire {}, sooner: \
             pass --shorten to do that",
            date(target as i64)
        );
    }
    if dry_run {
        say!(
            "would extend {name} (expires {shown}) to {}",
            date(target as i64)
        );
        return Ok(());
    }
    let at = extend(store, name, days).await?;
    say!("extended {name}: expires {}", date(at as i64));
    Ok(())
}

pub(super) async fn expiring(
    store: &KeyStore,
    within: u64,
    by: u64,
    dry_run: bool,
) -> anyhow::Result<()> {
    let limit = now().saturating_add(within.saturating_mul(86400));
    let mut due = Vec::new();
    for k in store.list().await? {
        match describe(&k.public) {
            Ok(d) => {
                if let Some(e) = d.primary.expires.filter(|&e| e <= limit) {
                    // Never shortened: a key that already expires after
                    // the new date is left alone.
                    if e >= now().saturating_add(by.saturating_mul(86400)) {
                        say!(
                            "{} expires {}, after the new expiry: left as it is",
                            k.name,
                            date(e as i64)
                        );
                        continue;
                    }
                    due.push((k.name, e));
                }
            }
            Err(e) => warn!("key {}: cannot read its expiry: {e}", k.name),
        }
    }
    let mut failed = 0;
    for (name, old) in &due {
        if dry_run {
            say!(
                "would extend {name}: expires {} -> {}",
                date(*old as i64),
                date((now() + by * 86400) as i64)
            );
            continue;
        }
        match extend(store, name, by).await {
            Ok(at) => say!(
                "extended {name}: expires {} -> {}",
                date(*old as i64),
                date(at as i64)
            ),
            Err(e) => {
                failed += 1;
                warn!("key {name}: {e:#}");
            }
        }
    }
    let verb = if dry_run { "would extend" } else { "extended" };
    say!(
        "{verb} {} of {} key(s) expiring within {within} days",
        due.len() - failed,
        due.len()
    );
    if failed > 0 {
        bail!("{failed} key(s) could not be extended");
    }
    Ok(())
}
