//! Connections that have not sent their first byte yet, so that the
//! oldest can be shed when the connection limit is reached.
//!
//! obs-signd has no timeouts, and honest clients rely on it: `sign -c`
//! connects after reading 8 KiB of its input and sends only after hashing
//! all of it (spec §13, "Timeouts"). So the wait for the first byte is
//! generous ([`super::settings::DEFAULT_IDLE_TIMEOUT`]), and the defence
//! against idle connections is pressure-driven instead: a connection
//! arriving at the limit closes the oldest one still waiting for its first
//! byte (it gets `server busy`), never one whose request is under way.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// The connections still waiting for their first byte, in accept order.
#[derive(Debug, Default)]
pub(super) struct IdleConns {
    waiting: Mutex<BTreeMap<u64, CancellationToken>>,
    next: AtomicU64,
}

impl IdleConns {
    /// Registers a new connection as idle; it stays so until
    /// [`IdleGuard::active`] or the guard is dropped.
    pub(super) fn register(self: &Arc<Self>) -> IdleGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        self.lock().insert(id, token.clone());
        IdleGuard {
            set: self.clone(),
            id,
            token,
        }
    }

    /// Closes the oldest idle connection; `false` if there is none.
    pub(super) fn shed_oldest(&self) -> bool {
        match self.lock().pop_first() {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Closes every idle connection (at shutdown: they hold no request).
    pub(super) fn shed_all(&self) {
        for (_, token) in std::mem::take(&mut *self.lock()) {
            token.cancel();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, CancellationToken>> {
        // The map stays consistent whatever a panicking holder did.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One connection's place in [`IdleConns`].
#[derive(Debug)]
pub(super) struct IdleGuard {
    set: Arc<IdleConns>,
    id: u64,
    token: CancellationToken,
}

impl IdleGuard {
    /// The first byte arrived: this connection can no longer be shed.
    pub(super) fn active(&self) {
        self.set.lock().remove(&self.id);
    }

    /// Resolves when this connection has been shed.
    pub(super) async fn shed(&self) {
        self.token.cancelled().await
    }
}

impl Drop for IdleGuard {
    fn drop(&mut self) {
        self.active();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_oldest_idle_connection_is_shed_first_and_active_ones_never() {
        let set = Arc::new(IdleConns::default());
        let a = set.register();
        let b = set.register();
        let c = set.register();
        a.active();
        assert!(set.shed_oldest());
        // `a` sent its first byte: `b` is the oldest idle one.
        assert!(!a.token.is_cancelled());
        assert!(b.token.is_cancelled());
        b.shed().await;
        drop(c);
        assert!(!set.shed_oldest(), "a dropped guard is no longer idle");
        let d = set.register();
        set.shed_all();
        assert!(d.token.is_cancelled());
        assert!(!a.token.is_cancelled());
    }
}
