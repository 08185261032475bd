//! The PROXY protocol header a load balancer puts before the client's bytes
//! (HAProxy's `send-proxy`/`send-proxy-v2`, nginx's `proxy_protocol on`,
//! cloud balancers), read from the balancers listed in `[server]
//! proxy_protocol_from` before anything else (and before TLS), so that the
//! reserved-port rule, `allow:`, the logs and the audit trail judge the
//! client's address and port instead of the balancer's.
//!
//! Spec: HAProxy's "The PROXY protocol", versions 1 (text, §2.1) and 2
//! (binary, §2.2). The header's fields are parsed by the `ppp` crate, on a
//! byte slice; this module only frames it ([`decode`]: where the header ends,
//! how long it may be) and reads it off the socket ([`read`]) without
//! taking a byte of what follows, so that the signd request (or the TLS
//! ClientHello) is read afterwards as from any other client.
//!
//! What a header carries ([`Carried`]):
//!
//! * `PROXY` (v2) / `TCP4`, `TCP6` (v1) with IP addresses: the client's
//!   address and source port;
//! * `LOCAL` (v2; HAProxy sends it for health checks with
//!   `check-send-proxy`), `UNKNOWN` (v1), or an address family without IP
//!   addresses (unspecified, UNIX): the connection is the balancer's own,
//!   and it is judged as the balancer (its address and port), as the
//!   specification asks (§2.2: "use the real connection endpoints").
//!
//! A listed balancer's connection without a valid header, with one longer
//! than [`MAX_HEADER`] bytes, or whose header does not arrive within the
//! first-read (idle) timeout, is closed without a reply: after a bad header
//! nothing on the connection can be trusted to be a request.
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use thiserror::Error;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The v2 signature (§2.2): `\r\n\r\n\0\r\nQUIT\n`.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The v1 prefix (§2.1), with its space.
pub const V1_PREFIX: &[u8] = b"PROXY ";
/// Longest v1 header, `\r\n` included (§2.1).
pub const MAX_V1_HEADER: usize = 107;
/// Longest v2 header accepted: the 16 fixed bytes, the addresses and the
/// TLVs (HAProxy's SSL and unique-id TLVs, the cloud balancers' endpoint
/// ids stay far below). The protocol allows 65,551.
pub const MAX_HEADER: usize = 4096;
/// The v2 fixed part: signature, version and command, family and
/// protocol, length (§2.2).
const V2_FIXED: usize = 16;

/// What a PROXY protocol header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    /// The client's address and source port (`PROXY`, `TCP4`, `TCP6`).
    Client(SocketAddr),
    /// The balancer's own connection (`LOCAL`, `UNKNOWN`, or no IP
    /// addresses): judged by the connection's own address and port.
    Local,
}

/// Why a listed balancer's connection was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeaderError {
    /// The connection does not start with either version's signature.
    #[error("no PROXY protocol header: the connection starts with {0}")]
    Missing(String),
    /// A signature, then something the specification does not allow.
    #[error("malformed PROXY protocol v{version} header: {detail}")]
    Malformed { version: u8, detail: String },
    /// Longer than [`MAX_V1_HEADER`] (v1) or [`MAX_HEADER`] (v2).
    #[error("PROXY protocol v{version} header longer than {max} bytes")]
    TooLong { version: u8, max: usize },
    /// End of stream before the header was complete.
    #[error("connection closed after {0} bytes, before the PROXY protocol header was complete")]
    Closed(usize),
    /// The header did not arrive in time.
    #[error("no complete PROXY protocol header within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// Reading the socket failed.
    #[error("reading the PROXY protocol header: {0}")]
    Io(String),
}

/// Whether `buf` starts with a whole v1 prefix or v2 signature: what a
/// connection from a balancer that is *not* listed looks like (no signd
/// request starts so: both would declare an old-protocol frame of
/// thousands of bytes).
pub fn starts_with_header(buf: &[u8]) -> bool {
    buf.starts_with(V1_PREFIX) || buf.starts_with(&V2_SIGNATURE)
}

/// Frames and parses one header at the start of `buf`. `Ok(None)`: more
/// bytes are needed (every byte of `buf` belongs to the header then);
/// `Ok(Some((carried, used)))`: the header is `buf[..used]`, and what
/// follows is the client's.
///
/// # Errors
/// [`HeaderError::Missing`] when `buf` cannot start a header,
/// [`HeaderError::Malformed`] and [`HeaderError::TooLong`] as their names
/// say.
pub fn decode(buf: &[u8]) -> Result<Option<(Carried, usize)>, HeaderError> {
    let starts = |sig: &[u8]| sig.starts_with(&buf[..buf.len().min(sig.len())]);
    if buf.is_empty() {
        Ok(None)
    } else if starts(&V2_SIGNATURE) {
        decode_v2(buf)
    } else if starts(V1_PREFIX) {
        decode_v1(buf)
    } else {
        let shown = &buf[..buf.len().min(8)];
        Err(HeaderError::Missing(format!(
            "{} (hex)",
            shown.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )))
    }
}

fn decode_v1(buf: &[u8]) -> Result<Option<(Carried, usize)>, HeaderError> {
    let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() >= MAX_V1_HEADER {
            return Err(HeaderError::TooLong {
                version: 1,
                max: MAX_V1_HEADER,
            });
        }
        return Ok(None);
    };
    let used = newline + 1;
    if used > MAX_V1_HEADER {
        return Err(HeaderError::TooLong {
            version: 1,
            max: MAX_V1_HEADER,
        });
    }
    let malformed = |detail: String| HeaderError::Malformed { version: 1, detail };
    let header = &buf[..used];
    if !header.ends_with(b"\r\n") {
        return Err(malformed("the line does not end with \\r\\n".into()));
    }
    let parsed = ppp::v1::Header::try_from(header).map_err(|e| malformed(lower(&e)))?;
    // ppp stops at the first `\r`: the header must be all of the line.
    if parsed.header.len() != used {
        return Err(malformed("stray \\r inside the line".into()));
    }
    let carried = match parsed.addresses {
        ppp::v1::Addresses::Tcp4(a) => {
            Carried::Client(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
        }
        ppp::v1::Addresses::Tcp6(a) => {
            Carried::Client(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
        }
        ppp::v1::Addresses::Unknown => Carried::Local,
    };
    Ok(Some((carried, used)))
}

fn decode_v2(buf: &[u8]) -> Result<Option<(Carried, usize)>, HeaderError> {
    if buf.len() < V2_FIXED {
        return Ok(None);
    }
    let used = V2_FIXED + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if used > MAX_HEADER {
        return Err(HeaderError::TooLong {
            version: 2,
            max: MAX_HEADER,
        });
    }
    if buf.len() < used {
        return Ok(None);
    }
    let parsed = ppp::v2::Header::try_from(&buf[..used]).map_err(|e| HeaderError::Malformed {
        version: 2,
        detail: lower(&e),
    })?;
    let carried = match (parsed.command, parsed.addresses) {
        (ppp::v2::Command::Local, _) => Carried::Local,
        (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv4(a)) => {
            Carried::Client(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
        }
        (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv6(a)) => {
            Carried::Client(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
        }
        (ppp::v2::Command::Proxy, ppp::v2::Addresses::Unspecified)
        | (ppp::v2::Command::Proxy, ppp::v2::Addresses::Unix(_)) => Carried::Local,
    };
    Ok(Some((carried, used)))
}

/// ppp's messages start with a capital and end with a period.
fn lower(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    let s = s.trim_end_matches('.');
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Reads one header off `stream` within `limit`, taking exactly its bytes
/// (it peeks, then consumes what [`decode`] used): the next read on
/// `stream` sees the client's first byte.
///
/// # Errors
/// As [`decode`], and [`HeaderError::Closed`], [`HeaderError::Timeout`],
/// [`HeaderError::Io`].
pub async fn read(stream: &mut TcpStream, limit: Duration) -> Result<Carried, HeaderError> {
    match tokio::time::timeout(limit, read_unbounded(stream)).await {
        Ok(r) => r,
        Err(_) => Err(HeaderError::Timeout(limit)),
    }
}

async fn read_unbounded(stream: &mut TcpStream) -> Result<Carried, HeaderError> {
    let io = |e: std::io::Error| HeaderError::Io(e.to_string());
    let mut taken: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 512];
    loop {
        let n = stream.peek(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(HeaderError::Closed(taken.len()));
        }
        let before = taken.len();
        taken.extend_from_slice(&chunk[..n]);
        match decode(&taken)? {
            Some((carried, used)) => {
                // `used` > `before`: the previous round needed more.
                stream
                    .read_exact(&mut chunk[..used - before])
                    .await
                    .map_err(io)?;
                return Ok(carried);
            }
            // All of it is header: consume it, and peek for the rest.
            None => {
                stream.read_exact(&mut chunk[..n]).await.map_err(io)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(s: &str) -> Carried {
        Carried::Client(s.parse().unwrap())
    }

    /// A v2 header as HAProxy 2.6 sends it with `send-proxy-v2` for a TCP
    /// client 192.0.2.7:1011 → 198.51.100.1:5167 (bytes from the spec's
    /// layout, §2.2: 0x21 = v2 PROXY, 0x11 = TCP over IPv4, length 12).
    const V2_TCP4: [u8; 28] = [
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, // signature
        0x21, 0x11, 0x00, 0x0c, // PROXY, TCP4, 12 bytes
        192, 0, 2, 7, 198, 51, 100, 1, // source, destination
        0x03, 0xf3, 0x14, 0x2f, // 1011, 5167
    ];

    #[test]
    fn v1_golden_bytes() {
        let cases: &[(&[u8], Carried)] = &[
            (
                b"PROXY TCP4 192.0.2.7 198.51.100.1 1011 5167\r\n",
                client("192.0.2.7:1011"),
            ),
            (
                b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 5167\r\n",
                client("[2001:db8::7]:40000"),
            ),
            (b"PROXY UNKNOWN\r\n", Carried::Local),
            (b"PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n", Carried::Local),
        ];
        for (bytes, want) in cases {
            let mut buf = bytes.to_vec();
            let len = buf.len();
            // The signd request that follows is not the header's.
            buf.extend_from_slice(&[0, 8, 0, 0, 0, 1, 0, 4]);
            assert_eq!(
                decode(&buf),
                Ok(Some((*want, len))),
                "{}",
                String::from_utf8_lossy(bytes)
            );
            for cut in 0..len {
                assert_eq!(decode(&buf[..cut]), Ok(None), "cut at {cut}");
            }
        }
    }

    #[test]
    fn v2_golden_bytes() {
        let mut buf = V2_TCP4.to_vec();
        buf.extend_from_slice(b"\x00\x08rest");
        assert_eq!(decode(&buf), Ok(Some((client("192.0.2.7:1011"), 28))));
        for cut in 0..28 {
            assert_eq!(decode(&buf[..cut]), Ok(None), "cut at {cut}");
        }
        // IPv6 with a NOOP TLV (type 4, 3 bytes): 16 + 36 + 6.
        let mut v6 = V2_SIGNATURE.to_vec();
        v6.extend_from_slice(&[0x21, 0x21, 0x00, 42]);
        v6.extend_from_slice(
            &"2001:db8::7"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        v6.extend_from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        v6.extend_from_slice(&[0x00, 0x50, 0x14, 0x2f, 0x04, 0x00, 0x03, 1, 2, 3]);
        assert_eq!(decode(&v6), Ok(Some((client("[2001:db8::7]:80"), 58))));
        // LOCAL (HAProxy's checks with check-send-proxy): no addresses.
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
        assert_eq!(decode(&local), Ok(Some((Carried::Local, 16))));
        // LOCAL may still carry addresses; they are not the client's.
        let mut local4 = V2_TCP4.to_vec();
        local4[12] = 0x20;
        assert_eq!(decode(&local4), Ok(Some((Carried::Local, 28))));
        // PROXY over UNIX sockets: no IP address to judge.
        let mut unix = V2_SIGNATURE.to_vec();
        unix.extend_from_slice(&[0x21, 0x31, 0x00, 216]);
        unix.extend_from_slice(&[0u8; 216]);
        assert_eq!(decode(&unix), Ok(Some((Carried::Local, 232))));
    }

    #[test]
    fn refusals() {
        let missing = decode(&[0, 8, 0, 0, 0, 1]).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "no PROXY protocol header: the connection starts with 000800000001 (hex)"
        );
        assert!(matches!(
            decode(b"GET / HTTP/1.0\r\n"),
            Err(HeaderError::Missing(_))
        ));
        assert!(matches!(decode(b"PROXZ"), Err(HeaderError::Missing(_))));
        let bad_v1: &[&[u8]] = &[
            b"PROXY TCP4 192.0.2.7 198.51.100.1 1011\r\n",
            b"PROXY TCP4 192.0.2.777 198.51.100.1 1011 5167\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 70000 5167\r\n",
            b"PROXY TCP5 192.0.2.7 198.51.100.1 1011 5167\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 1011 5167\n",
            b"PROXY TCP4 192.0.2.7\r198.51.100.1 1011 5167\r\n",
        ];
        for bytes in bad_v1 {
            let e = decode(bytes).unwrap_err();
            assert!(
                matches!(e, HeaderError::Malformed { version: 1, .. }),
                "{}: {e}",
                String::from_utf8_lossy(bytes)
            );
            assert!(e
                .to_string()
                .starts_with("malformed PROXY protocol v1 header: "));
            assert!(!e.to_string().ends_with('.'), "{e}");
        }
        let long = [b"PROXY ".as_slice(), &[b'1'; 120]].concat();
        assert_eq!(
            decode(&long),
            Err(HeaderError::TooLong {
                version: 1,
                max: MAX_V1_HEADER
            })
        );
        // v2: version 1, command 2, family 4, an address block too short.
        for (at, byte) in [(12, 0x11u8), (12, 0x22), (13, 0x41)] {
            let mut b = V2_TCP4.to_vec();
            b[at] = byte;
            assert!(
                matches!(decode(&b), Err(HeaderError::Malformed { version: 2, .. })),
                "byte {at} = {byte:#x}: {:?}",
                decode(&b)
            );
        }
        let mut short = V2_TCP4.to_vec();
        short[15] = 4;
        short.truncate(20);
        assert!(matches!(
            decode(&short),
            Err(HeaderError::Malformed { version: 2, .. })
        ));
        let mut huge = V2_TCP4.to_vec();
        huge[14] = 0x10;
        assert_eq!(
            decode(&huge),
            Err(HeaderError::TooLong {
                version: 2,
                max: MAX_HEADER
            })
        );
    }

    #[test]
    fn unlisted_headers_are_recognised() {
        assert!(starts_with_header(&V2_TCP4));
        assert!(starts_with_header(b"PROXY TCP4 "));
        assert!(!starts_with_header(b"PROXY"));
        assert!(!starts_with_header(&[0, 8, 0, 0]));
    }

    /// Exactly the header is consumed: the next read sees the request.
    #[tokio::test]
    async fn read_takes_only_the_header() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let writer = tokio::spawn(async move {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            // In pieces: the header split inside the signature and the
            // addresses, then the request.
            for piece in [&V2_TCP4[..5], &V2_TCP4[5..20], &V2_TCP4[20..], b"after"] {
                c.write_all(piece).await.unwrap();
                c.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            c
        });
        let (mut s, _) = listener.accept().await.unwrap();
        let got = read(&mut s, Duration::from_secs(5)).await;
        assert_eq!(got, Ok(client("192.0.2.7:1011")));
        let _c = writer.await.unwrap();
        let mut rest = [0u8; 5];
        s.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"after");

        // Silence is bounded by the limit.
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut s, _) = listener.accept().await.unwrap();
        c.write_all(b"PROXY TCP4").await.unwrap();
        let got = read(&mut s, Duration::from_millis(100)).await;
        assert_eq!(got, Err(HeaderError::Timeout(Duration::from_millis(100))));
        drop(c);
        let got = read(&mut s, Duration::from_secs(5)).await;
        assert_eq!(got, Err(HeaderError::Closed(0)));
    }
}
