//! obs-signd's test hooks (spec §12): `--test-sign` answers one framed
//! request read from stdin on stdout, and `-t CMD USER ARGS…` runs one
//! command and prints the raw reply. No socket and no peer: the access
//! rules (source port, `allow:`, TLS) do not apply, everything after them
//! does, forwarding included.
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

use super::EdgeConfig;
use crate::commands::Ctx;
use crate::protocol::{encode_new_request, Protocol};
use crate::wire_error::{error_reply, WireError};

/// Answers the one request framed on `input`, under the request deadline.
pub async fn answer_from<R: AsyncRead + Unpin>(
    input: &mut R,
    ctx: &Ctx,
    edge: &EdgeConfig,
) -> Vec<u8> {
    let deadline = Instant::now() + edge.settings.request_deadline;
    match timeout_at(
        deadline,
        super::exchange(input, None, async { Ok(()) }, ctx, edge),
    )
    .await
    {
        Ok(reply) => reply,
        Err(_) => error_reply(&WireError::Timeout, Protocol::New),
    }
}

/// `--test-sign`: stdin to stdout.
pub async fn test_sign(ctx: &Ctx, edge: &EdgeConfig) -> std::io::Result<()> {
    let mut stdin = tokio::io::stdin();
    let reply = answer_from(&mut stdin, ctx, edge).await;
    write_stdout(&reply).await
}

/// `-t CMD USER ARGS…`: the arguments as a new-protocol request.
pub async fn run_command(argv: &[String], ctx: &Ctx, edge: &EdgeConfig) -> std::io::Result<()> {
    let reply = match encode_new_request(argv) {
        Ok(bytes) => answer_from(&mut bytes.as_slice(), ctx, edge).await,
        Err(e) => error_reply(&WireError::Internal(e.to_string()), Protocol::New),
    };
    write_stdout(&reply).await
}

async fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = tokio::io::stdout();
    out.write_all(bytes).await?;
    out.flush().await
}
