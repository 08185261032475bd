//! The network edge: the only module that owns sockets.
//!
//! [`run`] takes an already-bound listener and a shutdown future (the binary
//! passes SIGTERM/ctrl-c, tests pass a oneshot), accepts connections under a
//! connection limit and serves each with `conn::serve`: bounded read with
//! timeouts, access checks, `commands::handle`, write, close. One request per
//! connection, as signd.
//!
//! Its settings are plain data in [`settings`] (limits and timeouts, TLS,
//! the upstream) and [`access`] (the `allow:` list), which `config` fills
//! in; [`EdgeConfig`] holds them with the runtime objects built from them.
//! [`run_live`] serves each connection with the [`Live`] snapshot current
//! when it was accepted, which a reload (SIGHUP) replaces.

/// Library log targets the server quiets (`logging::init_quieting`):
/// rustls warns of every client that sends an IP address as its TLS server
/// name (SNI), which obs-sign's `sign` does whenever `server:` is an
/// address; harmless (the name is ignored), and it would fill the log.
pub const QUIET_LOG_TARGETS: &[&str] = &["rustls::msgs::handshake=error"];

pub mod access;
mod conn;
pub mod dns;
mod idle;
pub mod live;
pub mod metrics_http;
pub mod proxy;
pub mod proxy_header;
pub mod settings;
pub mod testmode;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use access::{AccessPolicy, Allow};
pub use conn::exchange;
pub use live::Live;
pub use metrics_http::serve_metrics;
pub use settings::EdgeSettings;

use crate::commands::Ctx;
use crate::logging::SigndLog;

/// The listening side, ready to serve: its settings and the runtime objects
/// `daemon` built from the configuration (TLS acceptor, upstream client,
/// signd log file).
///
/// It dereferences to its [`EdgeSettings`], so the connection code reads
/// `edge.settings.read_timeout` and the other limits directly.
#[derive(Debug, Clone, Default)]
pub struct EdgeConfig {
    /// Limits and timeouts.
    pub settings: EdgeSettings,
    /// Source ports and the `allow:` list.
    pub access: AccessPolicy,
    /// TLS on the listening side (`proto: ssl`).
    pub tls: Option<Arc<tls::TlsServer>>,
    /// Where requests for users without a local key go.
    pub upstream: Option<Arc<proxy::Upstream>>,
    /// obs-signd's log file, if configured.
    pub signd_log: Option<Arc<SigndLog>>,
    /// The audit trail's writer, if auditing is on.
    pub audit: Option<Arc<crate::audit::Auditor>>,
    /// Request and connection metrics (`/metrics`).
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// Serves until `shutdown` resolves, then stops accepting and waits for the
/// requests in flight to finish.
pub async fn run(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    ctx: Arc<Ctx>,
    edge: Arc<EdgeConfig>,
) {
    run_live(listener, shutdown, Arc::new(Live::new(ctx, edge))).await;
}

/// [`run`] with settings a reload may replace (SIGHUP, [`Live`]): each
/// connection is served with the snapshot current when it was accepted.
/// The limits and timeouts (`edge.settings`) are the first snapshot's for
/// the listener's whole life.
pub async fn run_live(listener: TcpListener, shutdown: impl Future<Output = ()>, live: Arc<Live>) {
    let (_, edge) = live.snapshot();
    let limit = Arc::new(Semaphore::new(edge.settings.max_connections));
    let refusals = Arc::new(Semaphore::new(edge.settings.max_busy_refusals));
    let idle = Arc::new(idle::IdleConns::default());
    let mut refused = RefusalLog::default();
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
                // This connection's settings, whatever a reload does later.
                let (ctx, edge) = live.snapshot();
                // No TCP_NODELAY: the reply is one corked write followed by
                // shutdown (`conn::Cork`); TLS sets it for its handshake.
                // signd's order: source port and allow list come first;
                // they are judged in `conn::serve` after the request has
                // been read, so that the client sees the error.
                match limit.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let ctx = ctx.clone();
                        let edge = edge.clone();
                        let cancel = cancel.clone();
                        let idle = idle.register();
                        tracker.spawn(async move {
                            if let Some(m) = &edge.metrics {
                                m.connections_open.inc();
                            }
                            conn::serve(stream, peer, &ctx, &edge, &cancel, idle).await;
                            if let Some(m) = &edge.metrics {
                                m.connections_open.dec();
                            }
                            drop(permit);
                        });
                    }
                    Err(_) => match refusals.clone().try_acquire_owned() {
                        // At the limit, the oldest connection still waiting
                        // for its first byte makes room (`idle`): this one
                        // waits briefly for the freed place, under the
                        // refusals' budget, and is refused if another took it.
                        Ok(refusal) if idle.shed_oldest() => {
                            let (ctx, edge, cancel) = (ctx.clone(), edge.clone(), cancel.clone());
                            let (limit, idle) = (limit.clone(), idle.register());
                            tracker.spawn(async move {
                                let wait = limit.acquire_owned();
                                match tokio::time::timeout(Duration::from_secs(1), wait).await {
                                    Ok(Ok(permit)) => {
                                        drop(refusal);
                                        conn::serve(stream, peer, &ctx, &edge, &cancel, idle).await;
                                        drop(permit);
                                    }
                                    _ => conn::refuse_busy(stream).await,
                                }
                            });
                        }
                        // A few refusals read the request and answer
                        // `server busy`, bounded in time and bytes.
                        Ok(permit) => {
                            refused.note(peer, true);
                            if let Some(m) = &edge.metrics {
                                m.connections_refused.inc();
                            }
                            tracker.spawn(async move {
                                conn::refuse_busy(stream).await;
                                drop(permit);
                            });
                        }
                        // Under a flood the rest are closed unread, with no
                        // task: the cost stays O(1) per connection.
                        Err(_) => {
                            refused.note(peer, false);
                            if let Some(m) = &edge.metrics {
                                m.connections_refused.inc();
                            }
                            drop(stream);
                        }
                    },
                }
            }
        }
    }
    drop(listener);
    // Connections still waiting for their first byte hold no request.
    idle.shed_all();
    tracker.close();
    tracing::info!(
        in_flight = tracker.len(),
        "shutting down, finishing requests in flight"
    );
    // Requests still reading when the drain period ends are cut off.
    if tokio::time::timeout(edge.settings.request_deadline, tracker.wait())
        .await
        .is_err()
    {
        cancel.cancel();
        tracker.wait().await;
    }
}

/// Rate-limited logging of refusals over the connection limit: a flood
/// must not become a flood of log lines. The first refusal is logged, then
/// at most one summary a second.
#[derive(Default)]
struct RefusalLog {
    answered: u64,
    closed: u64,
    last: Option<std::time::Instant>,
}

impl RefusalLog {
    fn note(&mut self, peer: std::net::SocketAddr, answered: bool) {
        if answered {
            self.answered += 1;
        } else {
            self.closed += 1;
        }
        let now = std::time::Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        tracing::warn!(
            %peer,
            answered_busy = self.answered,
            closed_unread = self.closed,
            "connection limit reached, refusing"
        );
        self.answered = 0;
        self.closed = 0;
        self.last = Some(now);
    }
}

/// Binds a listening socket. An IPv6 address is bound `IPV6_V6ONLY` when
/// `v6_only` (so that `0.0.0.0:P` and `[::]:P` can both be listened on);
/// otherwise an IPv6 wildcard also takes IPv4 clients, as v4-mapped peers.
pub fn bind(addr: std::net::SocketAddr, v6_only: bool) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(v6_only)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}
#[cfg(test)]
mod tests {
    /// Every connection is a spawned task, and spawning copies the future
    /// into the task: rarely used large states (the TLS server stream, the
    /// upstream exchange) are boxed so that a plain request stays small.
    /// It was 12 KiB before they were (BENCHMARKS.md).
    #[tokio::test]
    async fn a_plain_connection_task_stays_small() {
        let dir = tempfile::tempdir().unwrap();
        let kek = crate::keys::FileKek::open_or_create(&dir.path().join("kek")).unwrap();
        let url = format!("sqlite://{}/d.db", dir.path().display());
        let keys = crate::keys::KeyStore::open(&url, std::sync::Arc::new(kek))
            .await
            .unwrap();
        let ctx = crate::commands::Ctx {
            keys: std::sync::Arc::new(keys),
            users: Default::default(),
            exec: crate::exec::Exec::new(1, 4).unwrap(),
            blob_keys: crate::commands::BlobKeyCache::new(Default::default()),
        };
        let edge = super::EdgeConfig::default();
        let cancel = tokio_util::sync::CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let peer = stream.local_addr().unwrap();
        let idle = std::sync::Arc::new(super::idle::IdleConns::default()).register();
        let task = super::conn::serve(stream, peer, &ctx, &edge, &cancel, idle);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 4096, "connection future is {size} bytes");
    }
}
