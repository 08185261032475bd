//! One connection: read one request (bounded in size and time), check
//! access, handle (locally or by forwarding upstream), write the reply,
//! close.
//!
//! Order of checks, before any key is touched:
//!
//! 1. connection limit (in `run`: over the limit → `server busy`, unread);
//!    then, from a load balancer in `[server] proxy_protocol_from`, its
//!    PROXY protocol header (`proxy_header`, within the idle timeout,
//!    before TLS): the client it carries is the peer for every later
//!    check, the logs and the audit; without a valid header the
//!    connection is closed unanswered. A header from anyone else is
//!    refused after the read, as a bad request;
//! 2. plain TCP: the request is read first — idle timeout for the first
//!    byte (and shed, oldest first, at the connection limit: `idle`), read
//!    timeout between reads, declared size checked against the maximum on
//!    the 4-byte header, the request deadline counted from its first byte
//!    (the client may connect long before it sends) — and
//!    only then source port, `allow:` (addresses, then forward-confirmed
//!    host names) are judged, so the client receives the error;
//!    TLS: source port and `allow:` are judged before the handshake (a
//!    refused peer gets no handshake; what it sent is drained, bounded, and
//!    the error is written in plaintext as signd does), then the bounded
//!    handshake with client-certificate verification, then the request is
//!    read inside TLS and `allow_subject:` is judged;
//! 3. framing and argument checks (the decoder);
//! 4. user rewriting, existence, forwarding, then the command. Forwarding
//!    is bounded by the upstream's own timeouts, not the request deadline.
use std::future::Future;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_util::sync::CancellationToken;

use super::idle::IdleGuard;
use super::EdgeConfig;
use crate::audit;
use crate::commands::{handle_noted, Ctx, Handled, Note};
use crate::logging::LogArgv;
use crate::protocol::{self, DecodeError, Protocol, Request};
use crate::wire_error::{error_reply, WireError};

pub(super) async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    ctx: &Ctx,
    edge: &EdgeConfig,
    cancel: &CancellationToken,
    idle: IdleGuard,
) {
    // A listed load balancer's header comes first, before TLS; from then
    // on the client it carries is the peer. Boxed: only balancers' tasks
    // need room for it.
    let peer = if edge.settings.expects_proxy_header(peer.ip()) {
        match Box::pin(proxied_peer(&mut stream, peer, edge, cancel, &idle)).await {
            Some(client) => client,
            None => return,
        }
    } else {
        peer
    };
    match edge.tls.clone() {
        None => {
            let access = check_access(edge, peer);
            let peer = Peer::new(Some(peer), String::new());
            serve_stream(stream, peer, access, ctx, edge, cancel, &idle).await;
        }
        // Boxed: the TLS state is large, and every plain connection's task
        // would otherwise carry (and copy) room for it.
        Some(tls) => Box::pin(serve_tls(stream, peer, tls, ctx, edge, cancel, &idle)).await,
    }
}

/// Reads the PROXY protocol header of a listed balancer's connection
/// (`super::proxy_header`), within the idle timeout (and until the
/// connection is shed or the server stops): the client's address and port
/// it carries, the balancer's own for `LOCAL`/`UNKNOWN`, or `None` (logged)
/// when the connection is to be closed without a reply.
async fn proxied_peer(
    stream: &mut TcpStream,
    balancer: SocketAddr,
    edge: &EdgeConfig,
    cancel: &CancellationToken,
    idle: &IdleGuard,
) -> Option<SocketAddr> {
    use super::proxy_header::{self, Carried};
    let header = tokio::select! {
        r = proxy_header::read(stream, edge.settings.idle_timeout) => r,
        _ = idle.shed() => {
            tracing::info!(%balancer, "idle connection shed at the connection limit");
            return None;
        }
        _ = cancel.cancelled() => return None,
    };
    match header {
        Ok(Carried::Client(client)) => {
            tracing::debug!(%balancer, %client, "PROXY protocol header");
            Some(client)
        }
        Ok(Carried::Local) => {
            tracing::debug!(%balancer, "PROXY protocol LOCAL: judged as the balancer itself");
            Some(balancer)
        }
        Err(e) => {
            tracing::warn!(
                %balancer,
                error = %e,
                "connection from a server.proxy_protocol_from address refused, closed without a reply"
            );
            if let Some(m) = &edge.metrics {
                m.connections_refused.inc();
            }
            None
        }
    }
}

async fn serve_tls(
    mut stream: TcpStream,
    peer: SocketAddr,
    tls: std::sync::Arc<super::tls::TlsServer>,
    ctx: &Ctx,
    edge: &EdgeConfig,
    cancel: &CancellationToken,
    idle: &IdleGuard,
) {
    // Handshake flights must not wait for ACKs (Nagle).
    let _ = stream.set_nodelay(true);
    if let Err(e) = check_access(edge, peer).await {
        tracing::info!(%peer, error = %e, "access refused");
        if let Some(log) = &edge.signd_log {
            log.error(Some(peer.ip()), &e.wire_text());
        }
        audit_refusal(edge, &Peer::new(Some(peer), String::new()), None, &e);
        drain(&mut stream, edge).await;
        write_reply(&mut stream, &error_reply(&e, Protocol::New), edge).await;
        return;
    }
    // The client starts the handshake when it connects, but may send its
    // request much later; both waits are the idle wait.
    let handshake = tokio::time::timeout(edge.settings.idle_timeout, tls.accept(stream));
    let stream = tokio::select! {
        r = handshake => match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::info!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, "TLS handshake timed out");
                return;
            }
        },
        _ = idle.shed() => {
            tracing::info!(%peer, "idle connection shed at the connection limit");
            return;
        }
        _ = cancel.cancelled() => return,
    };
    let certs = stream.get_ref().1.peer_certificates();
    let subject_text = certs
        .and_then(|c| c.first())
        .and_then(|c| super::tls::rfc2253_subject(c))
        .unwrap_or_default();
    let subject = tls.check_subject(certs);
    serve_stream(
        stream,
        Peer::new(Some(peer), subject_text),
        async move { subject },
        ctx,
        edge,
        cancel,
        idle,
    )
    .await;
}

/// Reads the request, judges `access` (run after the read), answers and
/// closes.
async fn serve_stream<S: AsyncRead + AsyncWrite + Cork + Unpin>(
    mut stream: S,
    peer: Peer,
    access: impl Future<Output = Result<(), WireError>>,
    ctx: &Ctx,
    edge: &EdgeConfig,
    cancel: &CancellationToken,
    idle: &IdleGuard,
) {
    let reply = tokio::select! {
        bytes = exchange_with(&mut stream, &peer, access, ctx, edge, Some(idle)) => bytes,
        _ = cancel.cancelled() => error_reply(&WireError::Busy, Protocol::New),
    };
    write_reply(&mut stream, &reply, edge).await;
}

/// The write is bounded too: a client that does not read must not hold
/// the connection forever.
async fn write_reply<S: AsyncWrite + Cork + Unpin>(
    stream: &mut S,
    reply: &[u8],
    edge: &EdgeConfig,
) {
    stream.cork();
    let write = async {
        stream.write_all(reply).await?;
        stream.shutdown().await
    };
    if let Err(e) = tokio::time::timeout(edge.settings.read_timeout, write)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "write timed out",
            ))
        })
    {
        tracing::debug!(error = %e, "writing reply failed");
    }
}

/// A stream over a TCP socket that can be corked before the reply: the
/// reply and the FIN of the `shutdown` that follows then leave in one
/// segment instead of two (one trip less through the network stack for
/// both ends, measured in BENCHMARKS.md). The shutdown pushes the corked
/// data out at once.
pub(super) trait Cork {
    fn cork(&self);
}

impl Cork for TcpStream {
    fn cork(&self) {
        // Best effort: without it the reply still goes out, in two segments.
        let _ = socket2::SockRef::from(self).set_tcp_cork(true);
    }
}

impl Cork for tokio_rustls::server::TlsStream<TcpStream> {
    fn cork(&self) {
        self.get_ref().0.cork();
    }
}

/// Reads and discards what a refused peer sent (a TLS ClientHello, say),
/// bounded in bytes and time, so that the error is not lost to a reset.
async fn drain(stream: &mut TcpStream, edge: &EdgeConfig) {
    let mut chunk = [0u8; 4096];
    let mut total = 0usize;
    let limit =
        tokio::time::Instant::now() + edge.settings.read_timeout.min(edge.settings.idle_timeout);
    while total < 65536 {
        match timeout_at(limit, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => total += n,
            _ => return,
        }
        // A ClientHello comes in one segment; do not wait for more.
        if total > 0 {
            return;
        }
    }
}

/// Source port, then `allow:` addresses, then host names (forward-confirmed
/// reverse DNS, bounded by `dns_timeout`).
async fn check_access(edge: &EdgeConfig, peer: SocketAddr) -> Result<(), WireError> {
    match edge.access.check(peer) {
        Err(WireError::IllegalHost(ip)) if edge.access.has_host_names() => {
            let addr = peer.ip();
            if let Some(name) = super::dns::confirmed_name(addr, edge.settings.dns_timeout).await {
                if edge.access.allows_host_name(&name) {
                    return Ok(());
                }
            }
            Err(WireError::IllegalHost(ip))
        }
        other => other,
    }
}

/// Reads one request from `stream`, judges `access` after the read, and
/// returns the reply bytes: a local answer, the upstream's relayed reply, or
/// an error. Bounded in time by itself: the request deadline from the
/// first byte, the upstream's timeouts when forwarding. The caller writes
/// the reply. Used by the listener and by `--test-sign`.
pub async fn exchange<S: AsyncRead + Unpin>(
    stream: &mut S,
    peer: Option<SocketAddr>,
    access: impl Future<Output = Result<(), WireError>>,
    ctx: &Ctx,
    edge: &EdgeConfig,
) -> Vec<u8> {
    exchange_with(
        stream,
        &Peer::new(peer, String::new()),
        access,
        ctx,
        edge,
        None,
    )
    .await
}

/// The client of one connection, for logs and the audit trail.
struct Peer {
    addr: Option<SocketAddr>,
    /// The client certificate's RFC 2253 subject (TLS), else empty.
    subject: String,
}

impl Peer {
    fn new(addr: Option<SocketAddr>, subject: String) -> Peer {
        Peer { addr, subject }
    }
}

/// `address:port`, or `-` without one (test mode).
impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.addr {
            Some(a) => write!(f, "{a}"),
            None => f.write_str("-"),
        }
    }
}

/// How a request ended, for the request log and the audit trail.
enum Outcome {
    Ok,
    /// The wire text sent to the client.
    Error(String),
    /// Relayed from the upstream signd.
    Forwarded,
}

/// What the deadline-bound part of an exchange decided.
enum Local {
    Reply(Vec<u8>, Outcome),
    Forward(Request, String),
}

/// [`exchange`] for a [`Peer`]: read (the first byte may wait for the idle
/// timeout, the rest within the request deadline), judge, handle within
/// the deadline, forward under the upstream's own timeouts. The request is
/// logged after its outcome and, for the commands `crate::audit` names,
/// recorded in the audit trail (its place in the backlog reserved before
/// anything is signed).
async fn exchange_with<S: AsyncRead + Unpin>(
    stream: &mut S,
    peer: &Peer,
    access: impl Future<Output = Result<(), WireError>>,
    ctx: &Ctx,
    edge: &EdgeConfig,
    idle: Option<&IdleGuard>,
) -> Vec<u8> {
    // Read first, then judge: signd's early errors sent before reading are
    // often lost to a TCP reset (spec §1). The read is bounded by size
    // (declared size checked on the header, the decoder never takes more
    // than declared) and time.
    let mut deadline = None;
    let request = read_request(stream, edge, idle, &mut deadline).await;
    // Whether the client sent anything: a connection closed (or shed)
    // before its first byte is no refused request.
    let sent = deadline.is_some();
    let deadline = deadline.unwrap_or_else(|| Instant::now() + edge.settings.request_deadline);
    let ip = peer.addr.map(|p| p.ip());
    let access = timeout_at(deadline, access)
        .await
        .unwrap_or(Err(WireError::Timeout));
    if let Err(e) = access {
        tracing::info!(peer = %peer, error = %e, "access refused");
        if let Some(log) = &edge.signd_log {
            log.error(ip, &e.wire_text());
        }
        if let Some(m) = &edge.metrics {
            let cmd = request
                .as_ref()
                .ok()
                .and_then(|r| r.command())
                .unwrap_or("");
            m.request(cmd, "error", std::time::Duration::ZERO);
        }
        audit_refusal(edge, peer, request.as_ref().ok(), &e);
        return error_reply(&e, Protocol::New);
    }
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(peer = %peer, error = %e, "bad request");
            if let Some(log) = &edge.signd_log {
                log.error(ip, &e.wire_text());
            }
            if let Some(m) = &edge.metrics {
                m.request("", "error", std::time::Duration::ZERO);
            }
            if sent {
                audit_refusal(edge, peer, None, &e);
            }
            return error_reply(&e, Protocol::New);
        }
    };
    if let Some(log) = &edge.signd_log {
        log.request(ip, &request.argv);
    }
    let started = std::time::Instant::now();
    let time_us = audit::now_us();
    let cmd = request.command().unwrap_or("");
    let slot = match edge.audit.as_deref().filter(|_| audit::is_audited(cmd)) {
        Some(auditor) => match auditor.reserve().await {
            Ok(slot) => Some(slot),
            Err(e) => {
                tracing::error!(peer = %peer, argv = %LogArgv(&request.argv), error = %e, "audit trail unavailable, request refused");
                if let Some(m) = &edge.metrics {
                    m.request(cmd, "refused", started.elapsed());
                }
                let e = WireError::AuditUnavailable;
                if let Some(log) = &edge.signd_log {
                    log.error(ip, &e.wire_text());
                }
                return error_reply(&e, request.protocol);
            }
        },
        None => None,
    };
    let mut note = Note::default();
    let (reply, outcome) = match timeout_at(deadline, handle_local(ctx, &request, &mut note)).await
    {
        Ok(Local::Reply(bytes, outcome)) => (bytes, outcome),
        // Forwarding is bounded by the upstream's own timeouts, not the
        // request deadline: an old signd behind gpg-agent may be slow.
        Ok(Local::Forward(forwarded, user)) => forward(edge, &forwarded, user, &request, ip).await,
        Err(_) => {
            tracing::info!(peer = %peer, "request deadline exceeded");
            let e = WireError::Timeout;
            (
                error_reply(&e, Protocol::New),
                Outcome::Error(e.wire_text()),
            )
        }
    };
    let latency = started.elapsed();
    let (outcome_text, error) = match &outcome {
        Outcome::Ok => ("ok", ""),
        Outcome::Error(e) => ("error", e.as_str()),
        Outcome::Forwarded => ("forwarded", ""),
    };
    tracing::info!(
        peer = %peer,
        argv = %LogArgv(&request.argv),
        key = %note.key,
        fingerprint = %note.fingerprint,
        outcome = %outcome_text,
        error = %error,
        latency_us = latency.as_micros() as u64,
        "request"
    );
    if let Some(m) = &edge.metrics {
        m.request(cmd, outcome_text, latency);
    }
    if let Some(slot) = slot {
        let args = request.args();
        let hashes = match cmd {
            "sign" => args,
            "privsign" => args.get(1..).unwrap_or(&[]),
            _ => &[],
        };
        slot.send(audit::Record {
            time_us,
            kind: audit::Kind::Request.as_str().into(),
            peer: peer.to_string(),
            tls_subject: peer.subject.clone(),
            command: cmd.into(),
            user: request.user().unwrap_or("").into(),
            key: note.key,
            fingerprint: note.fingerprint,
            hash_algo: if hashes.is_empty() {
                String::new()
            } else {
                note.hash_algo
            },
            digests: audit::digests_of(hashes),
            outcome: outcome_text.into(),
            error: error.into(),
            latency_us: i64::try_from(latency.as_micros()).unwrap_or(i64::MAX),
            detail: if note.blob_sha256.is_empty() {
                String::new()
            } else {
                format!("blob sha256 {}", note.blob_sha256)
            },
            ..audit::Record::default()
        });
    }
    reply
}

/// Records a request refused before it was handled (`kind = refused`):
/// source port, `allow:` list or TLS subject (`request` is the decoded
/// request, if it decoded), or a malformed request (`None`). Best effort
/// and rate-limited (`audit::Auditor::record_refusal`), for every command:
/// who tried what matters whatever the command was. The command and user
/// are clipped, as they come from a client nobody admitted.
fn audit_refusal(edge: &EdgeConfig, peer: &Peer, request: Option<&Request>, e: &WireError) {
    let Some(auditor) = &edge.audit else { return };
    let clip = |s: &str| {
        let mut end = s.len().min(REFUSED_FIELD_MAX);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s[..end].to_owned()
    };
    auditor.record_refusal(audit::Record {
        time_us: audit::now_us(),
        kind: audit::Kind::Refused.as_str().into(),
        peer: peer.to_string(),
        tls_subject: peer.subject.clone(),
        command: clip(request.and_then(|r| r.command()).unwrap_or("")),
        user: clip(request.and_then(|r| r.user()).unwrap_or("")),
        outcome: "refused".into(),
        error: e.wire_text(),
        ..audit::Record::default()
    });
}

/// The longest command or user field a refusal record keeps, in bytes.
const REFUSED_FIELD_MAX: usize = 256;

/// Handles a decoded, admitted request locally (within the deadline): the
/// reply bytes and how it ended, or what to forward.
async fn handle_local(ctx: &Ctx, request: &Request, note: &mut Note) -> Local {
    let failed = |e: &WireError| Outcome::Error(e.wire_text());
    // Boxed: the command's future (key store reads, the KEK, the crypto
    // pool) is some 2.3 KiB, allocated once the request has been read
    // rather than carried by every connection's task, including the idle
    // ones still waiting for their first byte
    // (`server::tests::a_plain_connection_task_stays_small`).
    match Box::pin(handle_noted(ctx, request, note)).await {
        // The only place a reply becomes bytes, bounded by the client's
        // receive buffer.
        Ok(Handled::Local(reply)) => {
            match reply.encode(request.protocol, protocol::reply_limit(request)) {
                Ok(bytes) => Local::Reply(bytes, Outcome::Ok),
                Err(e) => {
                    let e = WireError::ReplyTooBig(e);
                    Local::Reply(error_reply(&e, request.protocol), failed(&e))
                }
            }
        }
        Ok(Handled::Forward {
            request: forwarded,
            user,
        }) => Local::Forward(forwarded, user),
        Err(e) => Local::Reply(error_reply(&e, request.protocol), failed(&e)),
    }
}

/// Relays `forwarded` to the upstream signd, or answers `unknown key`
/// without one.
async fn forward(
    edge: &EdgeConfig,
    forwarded: &Request,
    user: String,
    request: &Request,
    ip: Option<std::net::IpAddr>,
) -> (Vec<u8>, Outcome) {
    match &edge.upstream {
        // Boxed: the upstream exchange (a TLS client among others) is
        // large, and only proxies need room for it.
        Some(up) => match Box::pin(up.forward(forwarded)).await {
            Ok(bytes) => (bytes, Outcome::Forwarded),
            Err(e) => {
                if let Some(log) = &edge.signd_log {
                    log.error(ip, &e.wire_text());
                }
                (
                    error_reply(&e, request.protocol),
                    Outcome::Error(e.wire_text()),
                )
            }
        },
        None => {
            let e = WireError::UnknownKey(user);
            (
                error_reply(&e, request.protocol),
                Outcome::Error(e.wire_text()),
            )
        }
    }
}

/// Reads one request. The first byte may take `idle_timeout` (or until the
/// connection is shed); from it on, `deadline` is set to the request
/// deadline, and each later read may take `read_timeout` within it.
async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    edge: &EdgeConfig,
    idle: Option<&IdleGuard>,
    deadline: &mut Option<Instant>,
) -> Result<Request, WireError> {
    // Read straight into `buf` (no stack chunk: the connection's task stays
    // small, and spawning it copies less).
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // A load balancer's header from an address not in
        // `proxy_protocol_from`: refused as such, not judged as a frame.
        if super::proxy_header::starts_with_header(&buf) {
            return Err(WireError::UnexpectedProxyHeader);
        }
        if let Some(declared) = protocol::declared_len(&buf) {
            if declared > edge.settings.max_request {
                return Err(WireError::RequestTooBig {
                    declared,
                    max: edge.settings.max_request,
                });
            }
        }
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
        // Never read past the declared frame by more than one chunk: the
        // decoder judges surplus bytes as a size mismatch. `read_buf` fills
        // at most the spare capacity, which `reserve` bounds by about 4 KiB
        // plus what is buffered (the size check above bounds that).
        buf.reserve(4096);
        let read = match *deadline {
            Some(end) => {
                let limit = end.min(Instant::now() + edge.settings.read_timeout);
                match timeout_at(limit, stream.read_buf(&mut buf)).await {
                    Ok(r) => r,
                    Err(_) => return Err(WireError::Timeout),
                }
            }
            None => {
                let first =
                    tokio::time::timeout(edge.settings.idle_timeout, stream.read_buf(&mut buf));
                let shed = async {
                    match idle {
                        Some(g) => g.shed().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    r = first => match r {
                        Ok(r) => r,
                        Err(_) => return Err(WireError::Timeout),
                    },
                    _ = shed => {
                        tracing::info!("idle connection shed at the connection limit");
                        return Err(WireError::Busy);
                    }
                }
            }
        };
        let n = match read {
            Ok(n) => n,
            Err(_) => return Err(DecodeError::ReadError.into()),
        };
        if n == 0 {
            return Err(protocol::eof_error(buf.len()).into());
        }
        if deadline.is_none() {
            if let Some(g) = idle {
                g.active();
            }
            *deadline = Some(Instant::now() + edge.settings.request_deadline);
        }
    }
}

/// Refuses a connection over the limit: reads what the client sends (at
/// most one request's worth, for at most a second) so that the error is not
/// lost to a reset, then answers `server busy`.
pub(super) async fn refuse_busy(mut stream: TcpStream) {
    let limit = Instant::now() + std::time::Duration::from_secs(1);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < 16384 && matches!(protocol::decode(&buf), Ok(None)) {
        match timeout_at(limit, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    let reply = error_reply(&WireError::Busy, Protocol::New);
    let _ = timeout_at(limit + std::time::Duration::from_secs(1), async {
        stream.write_all(&reply).await?;
        stream.shutdown().await
    })
    .await;
}
