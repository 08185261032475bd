//! The network edge: the only module that owns sockets.
//!
//! [`run`] takes an already-bound listener and a shutdown future (the binary
//! passes SIGTERM/ctrl-c, tests pass a oneshot), accepts connections under a
//! connection limit and serves each with `conn::serve`: bounded read with
//! timeouts, access checks, `commands::handle`, write, close. One request per
//! connection, as signd.

pub mod access;
mod conn;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use access::{AccessPolicy, Allow};

use crate::commands::Ctx;

/// Limits and policy of the listening side.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub access: AccessPolicy,
    /// Longest wait for the next bytes of a request.
    pub read_timeout: Duration,
    /// Longest time from accept to the reply being written.
    pub request_deadline: Duration,
    /// Connections served at once; more are refused with a busy error.
    pub max_connections: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            access: AccessPolicy::default(),
            read_timeout: Duration::from_secs(10),
            request_deadline: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Serves until `shutdown` resolves, then stops accepting and waits for the
/// requests in flight to finish.
pub async fn run(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    ctx: Arc<Ctx>,
    edge: Arc<EdgeConfig>,
) {
    let limit = Arc::new(Semaphore::new(edge.max_connections));
    let tracker = TaskTracker::new();
    let cancel = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                match limit.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let ctx = ctx.clone();
                        let edge = edge.clone();
                        let cancel = cancel.clone();
                        tracker.spawn(async move {
                            conn::serve(stream, peer, &ctx, &edge, &cancel).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        tracing::warn!(%peer, "connection limit reached, refusing");
                        tracker.spawn(conn::refuse_busy(stream));
                    }
                }
            }
        }
    }
    drop(listener);
    tracker.close();
    tracing::info!(
        in_flight = tracker.len(),
        "shutting down, finishing requests in flight"
    );
    // Requests still reading when the drain period ends are cut off.
    if tokio::time::timeout(edge.request_deadline, tracker.wait())
        .await
        .is_err()
    {
        cancel.cancel();
        tracker.wait().await;
    }
}
