//! One connection: read one request (bounded in size and time), check
//! access, handle, write the reply, close.
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_util::sync::CancellationToken;

use super::EdgeConfig;
use crate::commands::{self, error_reply, CmdError, Ctx, Outcome};
use crate::protocol::{self, DecodeError, Protocol, Request};

pub(super) async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    ctx: &Ctx,
    edge: &EdgeConfig,
    cancel: &CancellationToken,
) {
    let deadline = Instant::now() + edge.request_deadline;
    let reply = tokio::select! {
        r = timeout_at(deadline, answer(&mut stream, peer, ctx, edge)) => match r {
            Ok(bytes) => bytes,
            Err(_) => {
                tracing::info!(%peer, "request deadline exceeded");
                error_reply(&CmdError::Timeout, Protocol::New)
            }
        },
        _ = cancel.cancelled() => error_reply(&CmdError::Busy, Protocol::New),
    };
    // The write is bounded too: a client that does not read must not hold
    // the connection forever.
    let write = async {
        stream.write_all(&reply).await?;
        stream.shutdown().await
    };
    if let Err(e) = tokio::time::timeout(edge.read_timeout, write)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "write timed out",
            ))
        })
    {
        tracing::debug!(%peer, error = %e, "writing reply failed");
    }
}

async fn answer(stream: &mut TcpStream, peer: SocketAddr, ctx: &Ctx, edge: &EdgeConfig) -> Vec<u8> {
    // Read first, then judge: signd's early errors sent before reading are
    // often lost to a TCP reset (spec §1). The read is bounded by size
    // (the decoder never accepts more than the declared length) and time.
    let request = read_request(stream, edge).await;
    if let Err(e) = edge.access.check(peer) {
        tracing::info!(%peer, error = %e, "access refused");
        return error_reply(&e, Protocol::New);
    }
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(%peer, error = %e, "bad request");
            return error_reply(&e, Protocol::New);
        }
    };
    tracing::info!(%peer, argv = %LogArgv(&request.argv), "request");
    match commands::handle(ctx, &request).await {
        Outcome::Reply(bytes) => bytes,
        Outcome::Forward { unknown_key, .. } => unknown_key,
    }
}

async fn read_request(stream: &mut TcpStream, edge: &EdgeConfig) -> Result<Request, CmdError> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        match protocol::decode(&buf) {
            Ok(Some((req, used))) => {
                if buf.len() > used {
                    return Err(DecodeError::SizeMismatch.into());
                }
                return Ok(req);
            }
            Ok(None) => {}
            Err(e) => return Err(e.into()),
        }
        let n = match tokio::time::timeout(edge.read_timeout, stream.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return Err(DecodeError::ReadError.into()),
            Err(_) => return Err(CmdError::Timeout),
        };
        if n == 0 {
            return Err(protocol::eof_error(buf.len()).into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Refuses a connection over the limit without reading from it.
pub(super) async fn refuse_busy(mut stream: TcpStream) {
    let reply = error_reply(&CmdError::Busy, Protocol::New);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), stream.write_all(&reply)).await;
}

/// Request arguments for the log: blobs (privsign, privtotp, certgen) are
/// shortened to their first and last two characters, as signd logs them.
struct LogArgv<'a>(&'a [String]);

impl std::fmt::Display for LogArgv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let blob_cmd = matches!(
            self.0.first().map(String::as_str),
            Some("privsign" | "privtotp" | "certgen")
        );
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let n = a.chars().count();
            if blob_cmd && i == 2 && n > 4 {
                let head: String = a.chars().take(2).collect();
                let tail: String = a.chars().skip(n - 2).collect();
                write!(f, "{head}...{tail}")?;
            } else {
                f.write_str(a)?;
            }
        }
        Ok(())
    }
}
