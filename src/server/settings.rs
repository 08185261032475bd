//! The listening side's settings as plain data: limits and timeouts, TLS,
//! the upstream signd. Each default and each bound is a named constant here,
//! next to the field it belongs to.
//!
//! Nothing in this file opens a socket or names tokio or rustls: `config`
//! builds these values while it parses, and `daemon` turns them into the
//! runtime objects ([`super::EdgeConfig`], [`super::tls::TlsServer`],
//! [`super::proxy::Upstream`]).

use std::path::PathBuf;
use std::time::Duration;

/// Default longest wait for the next bytes of a request.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default longest wait for the first byte after accept: generous, because
/// an honest client may connect long before it sends (`sign -c` connects
/// after reading 8 KiB of its input and sends after hashing all of it;
/// obs-signd has no timeout at all). Idle connections are also shed,
/// oldest first, when the connection limit is reached.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Default longest time from a request's first byte to the reply being
/// written (forwarding excepted: [`DEFAULT_UPSTREAM_TIMEOUT`]).
pub const DEFAULT_REQUEST_DEADLINE: Duration = Duration::from_secs(30);
/// Default longest wait for an upstream signd's reply once the request is
/// sent: an old signd behind gpg-agent may take minutes under load.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Default bound on the DNS lookups for host names in `allow:`.
pub const DEFAULT_DNS_TIMEOUT: Duration = Duration::from_secs(2);
/// Default number of connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default number of busy refusals in progress at once.
pub const DEFAULT_MAX_BUSY_REFUSALS: usize = 64;
/// Default largest request: the protocol's maximum (spec §3).
pub const DEFAULT_MAX_REQUEST: usize = crate::protocol::MAX_REQUEST;

/// Default pause between `/readyz` turning not-ready on SIGTERM and the
/// listeners closing: none.
pub const DEFAULT_DRAIN_GRACE: Duration = Duration::ZERO;

/// Upper bound of every timeout above: one day. Longer ones are a typo, and
/// a deadline must stay addable to the clock.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// Upper bound of `max_connections` and `max_busy_refusals`: far above what
/// one process has file descriptors for, far below what a semaphore takes.
pub const MAX_CONNECTIONS: usize = 1_000_000;
/// Upper bound of `max_request`: nothing larger can be a signd request.
pub const MAX_REQUEST: usize = crate::protocol::MAX_REQUEST;

/// Limits and timeouts of the listening side (`[server]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeSettings {
    /// Longest wait for the next bytes of a request, between two reads.
    /// Also bounds each step of forwarding to the upstream.
    pub read_timeout: Duration,
    /// Longest wait for the first byte after accept (and for the TLS
    /// handshake). A connection still waiting is also closed, oldest first,
    /// when a new one arrives at the connection limit.
    pub idle_timeout: Duration,
    /// Largest request accepted, judged on the 4-byte header before the
    /// body is read. At most [`MAX_REQUEST`].
    pub max_request: usize,
    /// Bound on the reverse and forward DNS lookup for host names in
    /// `allow:` (a lookup that times out does not match).
    pub dns_timeout: Duration,
    /// Longest time from the request's first byte to the reply being
    /// written, forwarding excepted (bounded by
    /// [`UpstreamSettings::timeout`]); also how long a shutdown waits for
    /// the requests in flight.
    pub request_deadline: Duration,
    /// Connections served at once; more are refused with a busy error.
    pub max_connections: usize,
    /// Busy refusals in progress at once (each reads for at most a second
    /// so that the client sees the error). Beyond this, an over-limit
    /// connection is closed at once, unread: a flood costs no task.
    pub max_busy_refusals: usize,
    /// Peers that must start every connection with a PROXY protocol
    /// header (v1 or v2) carrying the client's address and port, which the
    /// reserved-port rule, `allow:`, the logs and the audit then judge
    /// (`super::proxy_header`). Empty (the default): nobody.
    pub proxy_protocol_from: Vec<ipnet::IpNet>,
    /// After SIGTERM, how long `/readyz` answers not-ready while the
    /// listeners still accept, so that a load balancer's health check
    /// takes the server out before it stops accepting. At most
    /// [`MAX_TIMEOUT`]; zero (the default) closes the listeners at once.
    pub drain_grace: Duration,
}

impl EdgeSettings {
    /// Whether a connection from `peer` must start with a PROXY protocol
    /// header (IPv4-mapped IPv6 peers are judged by their IPv4 address).
    pub fn expects_proxy_header(&self, peer: std::net::IpAddr) -> bool {
        let ip = super::access::canonical(peer);
        self.proxy_protocol_from.iter().any(|n| n.contains(&ip))
    }
}

impl Default for EdgeSettings {
    fn default() -> Self {
        EdgeSettings {
            read_timeout: DEFAULT_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_request: DEFAULT_MAX_REQUEST,
            dns_timeout: DEFAULT_DNS_TIMEOUT,
            request_deadline: DEFAULT_REQUEST_DEADLINE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_busy_refusals: DEFAULT_MAX_BUSY_REFUSALS,
            proxy_protocol_from: Vec::new(),
            drain_grace: DEFAULT_DRAIN_GRACE,
        }
    }
}

/// Transport of one side of a connection (sign.conf's `proto:` and
/// `proxyproto:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Proto {
    /// Plain TCP (obs-signd calls it `unprotected`; `plain` is accepted too).
    #[default]
    Plain,
    /// TLS.
    Ssl,
}

impl Proto {
    /// sign.conf's spelling: `ssl`, `unprotected` or `plain`; `None` for
    /// anything else.
    pub fn parse(s: &str) -> Option<Proto> {
        match s {
            "ssl" => Some(Proto::Ssl),
            "unprotected" | "plain" => Some(Proto::Plain),
            _ => None,
        }
    }
}

/// An `allow_subject:` line: an exact RFC 2253 subject, or `/regex/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectPattern {
    Exact(String),
    /// The text between the slashes, uncompiled (Perl regex syntax).
    Regex(String),
}

impl SubjectPattern {
    /// `/…/` is a regex, anything else an exact subject.
    pub fn parse(s: &str) -> SubjectPattern {
        match s.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
            Some(re) => SubjectPattern::Regex(re.to_owned()),
            None => SubjectPattern::Exact(s.to_owned()),
        }
    }
}

/// Certificate, key and CA locations of one TLS side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    pub verifyfile: Option<PathBuf>,
    pub verifydir: Option<PathBuf>,
}

impl TlsFiles {
    /// Field by field: `self` where set, else `fallback`.
    pub fn or(&self, fallback: &TlsFiles) -> TlsFiles {
        TlsFiles {
            certfile: self.certfile.clone().or_else(|| fallback.certfile.clone()),
            keyfile: self.keyfile.clone().or_else(|| fallback.keyfile.clone()),
            verifyfile: self
                .verifyfile
                .clone()
                .or_else(|| fallback.verifyfile.clone()),
            verifydir: self
                .verifydir
                .clone()
                .or_else(|| fallback.verifydir.clone()),
        }
    }
}

/// TLS of the listening side (spec §7.3), resolved with obs-signd's
/// fallbacks. The upstream's side is in [`UpstreamSettings`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// `proxyproto`, else `proto`; [`Proto::Plain`] turns TLS off.
    pub proto: Proto,
    /// `proxyssl_*`, else `ssl_*`: server certificate and key, client CA.
    pub files: TlsFiles,
    /// Accept clients without a certificate.
    pub allow_certless: bool,
    /// Accepted client certificate subjects; empty accepts any verified one.
    pub allow_subject: Vec<SubjectPattern>,
}

/// Where requests for unknown users are forwarded (the signproxy role,
/// spec §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// `server:`, a host name or address.
    pub host: String,
    /// `port:`.
    pub port: u16,
    /// `proto:`.
    pub proto: Proto,
    /// `ssl_*`: client certificate and the CA to verify the upstream with.
    pub tls: TlsFiles,
    /// `use-unprivileged-ports:`: connect from a port above 1023.
    pub use_unprivileged_ports: bool,
    /// Longest wait for the upstream's whole reply once the request is
    /// sent (connecting, the TLS handshake and sending are bounded by the
    /// server's `read_timeout`). At most [`MAX_TIMEOUT`]; TOML
    /// `server.upstream_timeout_ms`.
    pub timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_within_their_bounds() {
        let d = EdgeSettings::default();
        for t in [
            d.read_timeout,
            d.idle_timeout,
            d.dns_timeout,
            d.request_deadline,
            DEFAULT_UPSTREAM_TIMEOUT,
        ] {
            assert!(!t.is_zero() && t <= MAX_TIMEOUT, "{t:?}");
        }
        assert!(d.max_connections <= MAX_CONNECTIONS);
        assert!(d.max_busy_refusals <= MAX_CONNECTIONS);
        assert!(d.max_request <= MAX_REQUEST);
    }

    #[test]
    fn subject_patterns_and_protos() {
        assert_eq!(
            SubjectPattern::parse("/^CN=a/"),
            SubjectPattern::Regex("^CN=a".into())
        );
        assert_eq!(
            SubjectPattern::parse("CN=a"),
            SubjectPattern::Exact("CN=a".into())
        );
        assert_eq!(Proto::parse("unprotected"), Some(Proto::Plain));
        assert_eq!(Proto::parse("ssl"), Some(Proto::Ssl));
        assert_eq!(Proto::parse("tls"), None);
    }
}
