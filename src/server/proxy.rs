//! Forwarding to an upstream signd (spec §5.2, the "signproxy" role).
//!
//! A request for a user this server has no key for is re-encoded after the
//! user rewriting (old-protocol sign and pubkey stay old-protocol with the
//! `HASH:` prefix on the argument; everything else, the old ping included,
//! goes as new protocol), sent on a new connection from a reserved local
//! port (600–1023, skipping `/etc/bindresvport.blacklist`) unless
//! `use-unprivileged-ports`, over TLS if the upstream's `proto` is `ssl`,
//! and the upstream's reply is relayed byte for byte. Every step is bounded
//! in time and the reply in size; an unreachable upstream gives a clear
//! error reply instead of a hang.
use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::protocol::{encode_new_request, encode_old_request, EncodeError, Protocol, Request};
use crate::server::settings::Proto;
pub use crate::server::settings::UpstreamSettings;
use crate::wire_error::WireError;

/// The lowest and highest reserved source port we bind (bindresvport's).
const RESERVED_PORTS: std::ops::RangeInclusive<u16> = 600..=1023;
/// The largest upstream reply relayed: the client's biggest buffer (64 KiB
/// for `--bulk-cpio`) plus the reply header.
pub const MAX_UPSTREAM_REPLY: usize = 65536 + 6;

/// A configured upstream signd.
pub struct Upstream {
    host: String,
    port: u16,
    tls: Option<Arc<ClientConfig>>,
    reserved_port: bool,
    /// Bound on resolving, connecting, the TLS handshake and sending.
    pub io_timeout: Duration,
    /// Bound on the wait for the whole reply once the request is sent
    /// ([`UpstreamSettings::timeout`]).
    pub reply_timeout: Duration,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .field("reserved_port", &self.reserved_port)
            .field("reply_timeout", &self.reply_timeout)
            .finish()
    }
}

impl Upstream {
    /// The client for `cfg`: its TLS configuration loaded when the
    /// upstream's `proto` is `ssl`. `io_timeout` (the server's read
    /// timeout) bounds each step up to sending the request, so that a dead
    /// upstream is reported quickly; `cfg.timeout` bounds the wait for the
    /// reply, so that a slow one is waited for.
    pub fn new(cfg: &UpstreamSettings, io_timeout: Duration) -> anyhow::Result<Upstream> {
        let tls = match cfg.proto {
            Proto::Ssl => Some(super::tls::client_config(&cfg.tls)?),
            _ => None,
        };
        Ok(Upstream {
            host: cfg.host.clone(),
            port: cfg.port,
            tls,
            reserved_port: !cfg.use_unprivileged_ports,
            io_timeout,
            reply_timeout: cfg.timeout,
        })
    }

    /// `host:port`, for messages.
    pub fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Forwards `request` and returns the upstream's reply bytes unchanged.
    pub async fn forward(&self, request: &Request) -> Result<Vec<u8>, WireError> {
        let bytes = encode_forward(request).map_err(|e| {
            tracing::warn!(error = %e, "cannot re-encode request for the upstream");
            WireError::UpstreamUnavailable(self.name())
        })?;
        match self.exchange(&bytes).await {
            Ok(reply) => Ok(reply),
            Err(e) if is_reserved_port_denied(&e) => {
                tracing::error!(
                    upstream = %self.name(),
                    error = %e,
                    "forwarding failed: cannot bind a reserved source port (600-1023) for the \
                     upstream signd; give signatrustd CAP_NET_BIND_SERVICE \
                     (AmbientCapabilities=CAP_NET_BIND_SERVICE in signatrustd.service) or set \
                     use-unprivileged-ports: true in sign.conf if the upstream allows \
                     unprivileged ports"
                );
                Err(WireError::UpstreamReservedPortDenied(self.name()))
            }
            Err(e) => {
                tracing::warn!(upstream = %self.name(), error = %e, "forwarding failed");
                Err(match tls_failure(&e) {
                    Some(TlsFailure::Untrusted) => {
                        WireError::UpstreamCertificateUntrusted(self.name())
                    }
                    Some(TlsFailure::RefusedUs) => {
                        WireError::UpstreamRefusedCertificate(self.name())
                    }
                    None => WireError::UpstreamUnavailable(self.name()),
                })
            }
        }
    }

    async fn exchange(&self, request: &[u8]) -> io::Result<Vec<u8>> {
        let stream = self.connect().await?;
        match &self.tls {
            Some(cfg) => {
                let tls = timed(
                    self.io_timeout,
                    super::tls::connect(cfg.clone(), &self.host, stream),
                )
                .await?;
                self.relay(tls, request).await
            }
            None => self.relay(stream, request).await,
        }
    }

    async fn relay<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        request: &[u8],
    ) -> io::Result<Vec<u8>> {
        timed(self.io_timeout, stream.write_all(request)).await?;
        timed(self.io_timeout, stream.flush()).await?;
        // Like the sign client: never half-close, read to EOF.
        let mut reply = Vec::with_capacity(1024);
        let read_all = async {
            let mut chunk = [0u8; 8192];
            loop {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                if reply.len() + n > MAX_UPSTREAM_REPLY {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "upstream reply too big",
                    ));
                }
                reply.extend_from_slice(&chunk[..n]);
            }
        };
        timed(self.reply_timeout, read_all).await?;
        if reply.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "empty reply from upstream",
            ));
        }
        Ok(reply)
    }

    async fn connect(&self) -> io::Result<TcpStream> {
        let addrs: Vec<SocketAddr> = timed(
            self.io_timeout,
            tokio::net::lookup_host((self.host.as_str(), self.port)),
        )
        .await?
        .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
        for addr in addrs {
            let attempt = if self.reserved_port {
                connect_reserved(addr, self.io_timeout).await
            } else {
                timed(self.io_timeout, TcpStream::connect(addr)).await
            };
            match attempt {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// Certificate trouble on the way to the upstream, told apart from plain
/// unavailability so that the operator sees which side to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsFailure {
    /// The upstream's certificate did not verify here.
    Untrusted,
    /// The upstream rejected our client certificate (or its absence).
    RefusedUs,
}

fn tls_failure(e: &io::Error) -> Option<TlsFailure> {
    use rustls::AlertDescription as A;
    match e.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(_) => Some(TlsFailure::Untrusted),
        rustls::Error::AlertReceived(
            A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied
            | A::CertificateRequired,
        ) => Some(TlsFailure::RefusedUs),
        _ => None,
    }
}

async fn timed<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")))
}

/// Re-encodes a rewritten request for the upstream (spec §5.2).
pub fn encode_forward(req: &Request) -> Result<Vec<u8>, EncodeError> {
    let cmd = req.argv.first().map(String::as_str);
    let field = req.argv.get(1).map(String::as_str).unwrap_or("");
    let old = req.protocol == Protocol::Old
        && match cmd {
            Some("sign") => req.argv.len() == 3,
            Some("pubkey") => req.argv.len() == 2,
            _ => false,
        };
    if !old {
        return encode_new_request(&req.argv);
    }
    let (prefix, user) = match field.split_once(':') {
        Some((h, u)) => (Some(h), u),
        None => (None, field),
    };
    let arg = if cmd == Some("pubkey") {
        "PUBKEY"
    } else {
        req.argv[2].as_str()
    };
    let arg = match prefix {
        Some(h) => format!("{h}:{arg}"),
        None => arg.to_owned(),
    };
    encode_old_request(user.as_bytes(), arg.as_bytes())
}

/// Ports bindresvport must not use, from `/etc/bindresvport.blacklist`.
fn blacklist() -> &'static HashSet<u16> {
    static LIST: OnceLock<HashSet<u16>> = OnceLock::new();
    LIST.get_or_init(|| {
        std::fs::read_to_string("/etc/bindresvport.blacklist")
            .map(|t| parse_blacklist(&t))
            .unwrap_or_default()
    })
}

fn parse_blacklist(text: &str) -> HashSet<u16> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.parse().ok())
        .collect()
}

/// The next reserved port to try; rotates so that consecutive forwards do
/// not collide with each other's TIME_WAIT.
static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

fn reserved_candidates() -> Vec<u16> {
    let span = RESERVED_PORTS.end() - RESERVED_PORTS.start() + 1;
    let start = NEXT_PORT.fetch_add(1, Ordering::Relaxed) % span;
    let list = blacklist();
    (0..span)
        .map(|i| RESERVED_PORTS.start() + (start + i) % span)
        .filter(|p| !list.contains(p))
        .collect()
}

/// A reserved port the process may not bind (`EACCES`, or `EPERM` from a
/// security module): the missing privilege, told apart from other
/// failures so that the log and the reply can name the fix.
#[derive(Debug)]
struct ReservedPortDenied {
    port: u16,
    source: io::Error,
}

impl std::fmt::Display for ReservedPortDenied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot bind reserved source port {}: {}",
            self.port, self.source
        )
    }
}

impl std::error::Error for ReservedPortDenied {}

/// Wraps a bind failure of reserved `port`, marking a missing privilege.
fn bind_error(e: io::Error, port: u16) -> io::Error {
    let denied = e.kind() == io::ErrorKind::PermissionDenied
        || e.raw_os_error() == Some(libc::EPERM)
        || e.raw_os_error() == Some(libc::EACCES);
    if denied {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            ReservedPortDenied { port, source: e },
        )
    } else {
        e
    }
}

fn is_reserved_port_denied(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<ReservedPortDenied>())
}

/// Connects from a reserved source port, moving on to the next port when
/// one is in use (locally or as the same 4-tuple in TIME_WAIT).
async fn connect_reserved(addr: SocketAddr, limit: Duration) -> io::Result<TcpStream> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut tried = 0;
    for port in reserved_candidates() {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        let local = match addr {
            SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], port)),
            SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], port)),
        };
        match socket.bind(local) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(bind_error(e, port)),
        }
        tried += 1;
        match tokio::time::timeout_at(deadline, socket.connect(addr)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable
                ) && tried < 64 =>
            {
                continue
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free reserved port (600-1023)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(protocol: Protocol, argv: &[&str]) -> Request {
        Request {
            protocol,
            argv: argv.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn only_a_missing_privilege_is_a_denied_reserved_port() {
        for errno in [libc::EACCES, libc::EPERM] {
            let e = bind_error(io::Error::from_raw_os_error(errno), 600);
            assert!(is_reserved_port_denied(&e), "{errno}");
            assert!(
                e.to_string()
                    .starts_with("cannot bind reserved source port 600: "),
                "{e}"
            );
        }
        for errno in [libc::EADDRNOTAVAIL, libc::EINVAL] {
            let e = bind_error(io::Error::from_raw_os_error(errno), 600);
            assert!(!is_reserved_port_denied(&e), "{errno}");
        }
    }

    #[test]
    fn old_sign_and_pubkey_stay_old_with_prefix_on_the_argument() {
        assert_eq!(
            encode_forward(&req(Protocol::Old, &["sign", "SHA256:u", "ab@00"])).unwrap(),
            encode_old_request(b"u", b"SHA256:ab@00").unwrap()
        );
        assert_eq!(
            encode_forward(&req(Protocol::Old, &["sign", "", "ab@00"])).unwrap(),
            encode_old_request(b"", b"ab@00").unwrap()
        );
        assert_eq!(
            encode_forward(&req(Protocol::Old, &["pubkey", "SHA256:u"])).unwrap(),
            encode_old_request(b"u", b"SHA256:PUBKEY").unwrap()
        );
    }

    #[test]
    fn everything_else_goes_as_new_protocol() {
        assert_eq!(
            encode_forward(&req(Protocol::Old, &["ping", ""])).unwrap(),
            [0, 10, 0, 0, 0, 2, 0, 4, 0, 0, b'p', b'i', b'n', b'g']
        );
        let argv = ["sign", "SHA256:u", "a@00", "b@00"];
        assert_eq!(
            encode_forward(&req(Protocol::New, &argv)).unwrap(),
            encode_new_request(&argv).unwrap()
        );
    }

    #[test]
    fn tls_failures_are_classified() {
        let wrap = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        assert_eq!(
            tls_failure(&wrap(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))),
            Some(TlsFailure::Untrusted)
        );
        assert_eq!(
            tls_failure(&wrap(rustls::Error::AlertReceived(
                rustls::AlertDescription::UnknownCA
            ))),
            Some(TlsFailure::RefusedUs)
        );
        assert_eq!(
            tls_failure(&wrap(rustls::Error::AlertReceived(
                rustls::AlertDescription::HandshakeFailure
            ))),
            None
        );
        assert_eq!(
            tls_failure(&io::Error::new(io::ErrorKind::TimedOut, "timed out")),
            None
        );
    }

    #[test]
    fn blacklist_parsing_and_candidates() {
        let l = parse_blacklist("# comment\n623\n 631 # ipp\nbogus\n\n664\n");
        assert_eq!(l, HashSet::from([623, 631, 664]));
        let c = reserved_candidates();
        assert!(c.iter().all(|p| RESERVED_PORTS.contains(p)));
        assert!(c.iter().all(|p| !blacklist().contains(p)));
    }
}
