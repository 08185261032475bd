//! What a SIGHUP may replace while the server runs: the commands' context
//! (its user map and default user) and the edge (TLS acceptor, `allow:`
//! list, subjects, upstream, signd log file), held as one snapshot.
//!
//! The accept loop takes the current snapshot once per connection
//! ([`Live::snapshot`]) and serves the whole connection with it: a new
//! connection sees the settings of the last successful reload, a request
//! in flight finishes with the ones it started with. [`Live::replace`]
//! swaps both halves at once, so no connection sees a new allow list with
//! an old certificate. Building the replacement (reading files, checking
//! it) is the caller's (`daemon`); nothing here does I/O.
//!
//! A `std::sync::RwLock` around an `Arc` is enough: only the accept loops
//! read it (one clone of two `Arc`s per connection) and a reload writes it
//! once.
use std::sync::{Arc, RwLock};

use super::EdgeConfig;
use crate::commands::Ctx;

/// The current commands context and edge, replaceable as one.
pub struct Live {
    current: RwLock<(Arc<Ctx>, Arc<EdgeConfig>)>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl Live {
    /// Starts with `ctx` and `edge`.
    pub fn new(ctx: Arc<Ctx>, edge: Arc<EdgeConfig>) -> Live {
        Live {
            current: RwLock::new((ctx, edge)),
        }
    }

    /// The settings a new connection is served with.
    pub fn snapshot(&self) -> (Arc<Ctx>, Arc<EdgeConfig>) {
        // A poisoned lock still holds a whole pair: the writer only assigns.
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        (current.0.clone(), current.1.clone())
    }

    /// From now on, new connections are served with `ctx` and `edge`;
    /// connections already accepted keep theirs.
    pub fn replace(&self, ctx: Arc<Ctx>, edge: Arc<EdgeConfig>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = (ctx, edge);
    }
}
