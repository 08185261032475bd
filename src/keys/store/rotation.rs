//! Online KEK rotation (`signatrust-admin kek rotate`, migration 0008).
//!
//! 1. [`KeyStore::rotate_to`] records the new KEK as the store's `next`
//!    KEK, then wraps every row's data key a second time, by the new KEK,
//!    into `kek_rotation`, a batch per transaction. The rows themselves are
//!    not touched: servers on the old KEK keep serving, and servers already
//!    switched to the new KEK use the new wraps (the store's row loaders
//!    substitute them). Interrupted (kill -9), it is simply run again: rows
//!    already wrapped are skipped, so it resumes.
//! 2. The operator switches every server to the new KEK (rolling restart).
//! 3. [`KeyStore::finish_rotation`] moves the new wraps into the rows and
//!    makes the new KEK the store's only one, in one transaction; it
//!    refuses (changing nothing) while any row lacks a valid new wrap.
//!
//! A wrap records the SHA-256 of the wrapped DEK it was made from, so a row
//! replaced after its wrap was made never uses the stale one.

use super::{now, KeyStore};
use crate::keys::db::{wrap_source, RotationKind, RotationRow};
use crate::keys::envelope;
use crate::keys::error::KeyError;
use crate::keys::kek::Kek;

/// What [`KeyStore::rotate_to`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotationSummary {
    /// Rows wrapped by the new KEK in this run.
    pub wrapped: usize,
    /// Rows that already were (by an earlier, interrupted run, or rows
    /// stored under the new KEK).
    pub already: usize,
}

/// The AAD of a row, as the envelope bound its DEK.
fn aad(r: &RotationRow) -> Vec<u8> {
    match r.kind {
        RotationKind::Key | RotationKind::Deleted => envelope::key_aad(&r.name, &r.fingerprint),
        RotationKind::EncKey => envelope::enckey_aad(&r.name),
    }
}

/// Whether `r` is served by `to` already, directly or by a valid wrap.
pub(super) fn done_for(r: &RotationRow, to: &str) -> bool {
    r.kek_id == to
        || r.rotated
            .as_ref()
            .is_some_and(|(source, kek, _)| kek == to && *source == wrap_source(&r.wrapped_dek))
}

impl KeyStore {
    /// Wraps the data key of every row (signing keys, encryption keys,
    /// retired keys) by `to` as well, `batch` rows per transaction, calling
    /// `progress(done, total)` after each. Servers keep signing throughout.
    ///
    /// # Errors
    /// `to` is the store's KEK already, another rotation (to another KEK)
    /// is in progress, a row this store's KEK cannot unwrap, or a KEK or
    /// database failure; batches committed before stay (run it again).
    pub async fn rotate_to(
        &self,
        to: &dyn Kek,
        batch: usize,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<RotationSummary, KeyError> {
        let current = self.db.kek_canary().await?.map(|(id, _)| id);
        if current.as_deref() == Some(to.id()) {
            return Err(KeyError::Unsupported {
                name: to.id().to_owned(),
                reason: "is the store's KEK already: nothing to rotate".into(),
            });
        }
        match self.db.kek_canary_of("next").await? {
            Some((next, wrapped)) if next == to.id() => {
                if !envelope::opens_canary(to, &wrapped)? {
                    return Err(KeyError::KekMismatch {
                        store: self.db.url().to_owned(),
                        expected: next,
                        configured: to.id().to_owned(),
                        why: " for the rotation, yet it does not open the rotation's canary",
                    });
                }
            }
            Some((next, _)) => {
                return Err(KeyError::Unsupported {
                    name: to.id().to_owned(),
                    reason: format!(
                        "a rotation to KEK {next} is in progress: finish it (kek rotate \
                         --finish) before starting another"
                    ),
                })
            }
            None => {
                let wrapped = envelope::new_canary(to)?;
                self.db.set_next_canary(to.id(), &wrapped, now()).await?;
            }
        }
        let mut total = 0;
        for kind in RotationKind::ALL {
            total += self.db.rotation_count(kind).await?;
        }
        let mut summary = RotationSummary::default();
        let batch = batch.max(1);
        for kind in RotationKind::ALL {
            let mut after = String::new();
            loop {
                let page = self.db.rotation_page(kind, &after, batch as i64).await?;
                let Some(last) = page.last() else { break };
                after = last.name.clone();
                let mut wraps = Vec::new();
                for r in &page {
                    if done_for(r, to.id()) {
                        summary.already += 1;
                        continue;
                    }
                    let what = format!("{} {}", kind_name(kind), r.name);
                    if r.kek_id != self.kek.id() {
                        return Err(KeyError::Corrupt {
                            name: what,
                            reason: format!(
                                "wrapped by KEK {}, neither this store's KEK {} nor the new {}",
                                r.kek_id,
                                self.kek.id(),
                                to.id()
                            ),
                        });
                    }
                    let aad = aad(r);
                    let dek =
                        self.kek
                            .unwrap(&r.wrapped_dek, &aad)
                            .map_err(|e| KeyError::Corrupt {
                                name: what.clone(),
                                reason: format!("cannot unwrap its data key: {e}"),
                            })?;
                    let wrapped = to.wrap(&dek, &aad)?;
                    wraps.push((
                        kind,
                        r.name.clone(),
                        wrap_source(&r.wrapped_dek),
                        to.id().to_owned(),
                        wrapped,
                    ));
                }
                summary.wrapped += wraps.len();
                self.db.put_rotation_wraps(&wraps).await?;
                progress(summary.wrapped + summary.already, total);
            }
        }
        Ok(summary)
    }

    /// Ends the rotation to `to`: in one transaction every row takes its
    /// new wrap and `to` becomes the store's only KEK (the old one is
    /// refused from then on). Returns how many rows moved.
    ///
    /// # Errors
    /// No rotation to `to` is in progress, `to` does not open its canary,
    /// or some rows have no valid wrap yet (named; nothing changes: run
    /// `kek rotate` again first).
    pub async fn finish_rotation(&self, to: &dyn Kek) -> Result<usize, KeyError> {
        match self.db.kek_canary_of("next").await? {
            Some((next, wrapped)) if next == to.id() && envelope::opens_canary(to, &wrapped)? => {}
            _ => {
                return Err(KeyError::Unsupported {
                    name: to.id().to_owned(),
                    reason: "no rotation to this KEK is in progress (kek rotate first)".into(),
                })
            }
        }
        match self.db.finish_rotation(to.id(), now()).await? {
            Ok(moved) => {
                self.rows.clear();
                self.loaded.clear();
                Ok(moved)
            }
            Err(pending) => {
                Err(KeyError::Unsupported {
                    name: to.id().to_owned(),
                    reason: format!(
                    "{} row(s) have no wrap under this KEK yet ({}{}): run `kek rotate` again, \
                     then --finish",
                    pending.len(),
                    pending.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                    if pending.len() > 5 { ", …" } else { "" }
                ),
                })
            }
        }
    }

    /// A row read for serving, as this store's KEK can open it: during a
    /// rotation a server on the new KEK takes the row's rotation wrap.
    pub(super) async fn rotated_key_row(
        &self,
        kind: RotationKind,
        name: &str,
        kek_id: &mut String,
        wrapped_dek: &mut Vec<u8>,
    ) -> Result<(), KeyError> {
        if kek_id.as_str() == self.kek.id() {
            return Ok(());
        }
        if let Some((source, kek, wrapped)) = self.db.rotation_wrap(kind, name).await? {
            if kek == self.kek.id() && source == wrap_source(wrapped_dek) {
                *kek_id = kek;
                *wrapped_dek = wrapped;
            }
        }
        Ok(())
    }
}

pub(super) fn kind_name(kind: RotationKind) -> &'static str {
    match kind {
        RotationKind::Key => "key",
        RotationKind::EncKey => "encryption key",
        RotationKind::Deleted => "retired key",
    }
}
