//! The metrics and health listener (`[metrics] listen`, off by default):
//! `GET /metrics` (Prometheus text, `crate::metrics`; the queue, cache and
//! database series are sampled from `Ctx` when scraped), `GET /healthz` (the
//! process answers: always 200), `GET /readyz` (200 when the store's
//! database answers and the KEK wraps and unwraps a canary, within 2 s; 503
//! with the reason otherwise, and while draining after SIGTERM). Anything
//! else is 404.
//!
//! HTTP is the least a scraper and a load balancer need, read and written
//! here: one `GET` per connection (`Connection: close`), the request head
//! bounded to 8 KiB and the whole exchange to 10 s; no body is read. (A
//! general HTTP server crate was left out: it would add a second HTTP
//! stack's worth of dependencies for three fixed routes.)
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::EdgeConfig;
use crate::commands::Ctx;

/// How long `/readyz` waits for the store and the KEK.
const READY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one HTTP connection may take in all.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);
/// Largest request head read.
const MAX_HEAD: usize = 8192;

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until `stop`;
/// `/readyz` answers 503 once `draining` is cancelled.
pub async fn serve_metrics(
    listener: TcpListener,
    ctx: Arc<Ctx>,
    edge: Arc<EdgeConfig>,
    draining: CancellationToken,
    stop: CancellationToken,
) {
    let tracker = TaskTracker::new();
    loop {
        let (stream, _) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (ctx, edge, draining) = (ctx.clone(), edge.clone(), draining.clone());
        tracker.spawn(async move {
            let _ = tokio::time::timeout(
                CONNECTION_DEADLINE,
                serve_http(stream, &ctx, &edge, &draining),
            )
            .await;
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// Reads one request head, answers, closes.
async fn serve_http(
    mut stream: TcpStream,
    ctx: &Ctx,
    edge: &EdgeConfig,
    draining: &CancellationToken,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() >= MAX_HEAD {
            return respond(&mut stream, 431, "request head too large\n", TEXT).await;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, body, kind) = if method != "GET" {
        (405, "only GET\n".to_owned(), TEXT)
    } else {
        answer(path, ctx, edge, draining).await
    };
    respond(&mut stream, status, &body, kind).await
}

const TEXT: &str = "text/plain; charset=utf-8";
const PROMETHEUS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    body: &str,
    kind: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Copies into `metrics` what the signing pool, the keygen lane, the
/// caches and the store count themselves: queue depths, cache hits and
/// misses, database read and KEK call latency and errors.
fn sample(metrics: &crate::metrics::Metrics, ctx: &Ctx) {
    let keygen = ctx.exec.keygen().stats();
    for (lane, q) in [("sign", ctx.exec.stats()), ("keygen", keygen)] {
        metrics.set_queue(lane, q.workers, q.capacity, q.admitted, q.queued);
    }
    metrics.set_keygen_refused(keygen.refused_full, keygen.timed_out);
    let blob = ("blob", ctx.blob_keys.stats());
    for (cache, c) in ctx.keys.cache_stats().into_iter().chain([blob]) {
        metrics.set_cache(cache, c.hits, c.misses, c.entries);
    }
    let db = ctx.keys.db_stats();
    metrics.set_db_reads(db.count, db.errors, db.sum_seconds, &db.buckets);
    let kek = ctx.keys.kek_stats();
    metrics.set_kek_calls(kek.count, kek.errors, kek.sum_seconds, &kek.buckets);
}

/// Status, body and content type for `path`.
async fn answer(
    path: &str,
    ctx: &Ctx,
    edge: &EdgeConfig,
    draining: &CancellationToken,
) -> (u16, String, &'static str) {
    match path {
        "/metrics" => {
            let Some(metrics) = &edge.metrics else {
                return (404, "no metrics\n".into(), TEXT);
            };
            if let Some(a) = &edge.audit {
                metrics.set_audit(a.backlog(), a.dropped(), a.failing());
            }
            sample(metrics, ctx);
            (200, metrics.encode(), PROMETHEUS)
        }
        "/healthz" => (200, "ok\n".into(), TEXT),
        "/readyz" => {
            if draining.is_cancelled() {
                return (503, "not ready: draining\n".into(), TEXT);
            }
            match tokio::time::timeout(READY_TIMEOUT, ctx.keys.check_ready()).await {
                Ok(Ok(())) => (200, "ready\n".into(), TEXT),
                Ok(Err(e)) => {
                    let e = format!("{:#}", anyhow::Error::new(e));
                    tracing::warn!(error = %e, "not ready");
                    (503, format!("not ready: {e}\n"), TEXT)
                }
                Err(_) => (
                    503,
                    "not ready: the store did not answer within 2 s\n".into(),
                    TEXT,
                ),
            }
        }
        _ => (404, "not found\n".into(), TEXT),
    }
}
