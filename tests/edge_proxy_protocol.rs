//! The PROXY protocol (`[server] proxy_protocol_from`), end to end over
//! TCP: an in-process server, and a raw client that plays the load
//! balancer, writing a v1 or v2 header (bytes laid out by hand from
//! HAProxy's specification, not by the server's code) and then a fixture
//! request. The reserved-port rule and `allow:` judge the address and port
//! the header carries; a listed balancer without a valid header, or a
//! header from an address that is not listed, is refused.
mod edge_common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use edge_common::{case, err_text, start};

/// Clients at 192.0.2.7 and 2001:db8::7 may sign, from reserved ports
/// (signd's default); the balancer itself (127.0.0.1) is not in `allow:`.
const CONF: &str = "allow: 192.0.2.7\nallow: 2001:db8::7\nuser: defaultkey@localobs\n";

fn balancer_on_loopback(c: &mut signatrust::config::Config) {
    c.log.file = None;
    c.edge.proxy_protocol_from = vec!["127.0.0.1/32".parse().unwrap()];
}

/// A v2 header (§2.2): signature, 0x21 (v2, PROXY), family/protocol,
/// length, addresses, ports; `command` 0x20 is LOCAL.
fn v2(command: u8, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(command);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            h.extend_from_slice(&[0x11, 0, 12]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            h.extend_from_slice(&[0x21, 0, 36]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
        }
        _ => unreachable!(),
    }
    h.extend_from_slice(&src.port().to_be_bytes());
    h.extend_from_slice(&dst.port().to_be_bytes());
    h
}

/// A v1 header (§2.1).
fn v1(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let family = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

fn at(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Writes `bytes` (header and request), reads to EOF within 10 s.
async fn send(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    try_send(addr, bytes).await.unwrap()
}

/// [`send`], with the error of a connection that ended with a reset.
async fn try_send(addr: SocketAddr, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(bytes).await?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("closed within 10 s")?;
    Ok(out)
}

/// Closed without a reply: nothing before EOF, or a reset (the server
/// closed with the unread request still in its buffer).
async fn closed_unanswered(addr: SocketAddr, bytes: &[u8]) -> Result<(), String> {
    match try_send(addr, bytes).await {
        Ok(b) if b.is_empty() => Ok(()),
        Ok(b) => Err(format!("answered: {}", err_text(&b))),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_carried_client_is_judged() {
    let s = start(CONF, balancer_on_loopback).await;
    let dst = s.addr;
    let dst6 = at("[2001:db8::1]:5167");
    for name in ["pubkey", "detached-sha256-v3"] {
        let (req, want) = case(name);
        // signd's rule: ports up to 1024 are reserved ones.
        for header in [
            v2(0x21, at("192.0.2.7:1011"), dst),
            v2(0x21, at("192.0.2.7:1024"), dst),
            v1(at("192.0.2.7:1011"), dst),
            v2(0x21, at("[2001:db8::7]:600"), dst6),
            v1(at("[2001:db8::7]:600"), dst6),
        ] {
            let got = send(s.addr, &[header.clone(), req.clone()].concat()).await;
            assert_eq!(
                got,
                want,
                "{name} behind {:?}: {}",
                String::from_utf8_lossy(&header),
                err_text(&got)
            );
        }
        let refused = [
            (
                v2(0x21, at("192.0.2.7:1025"), dst),
                "not coming from a reserved port",
            ),
            (
                v1(at("192.0.2.7:40000"), dst),
                "not coming from a reserved port",
            ),
            (
                v2(0x21, at("192.0.2.8:1011"), dst),
                "illegal host 192.0.2.8",
            ),
            (v1(at("192.0.2.8:1011"), dst), "illegal host 192.0.2.8"),
            (
                v2(0x21, at("[2001:db8::8]:600"), dst6),
                "illegal host 2001:db8::8",
            ),
        ];
        for (header, text) in refused {
            let got = send(s.addr, &[header.clone(), req.clone()].concat()).await;
            assert_eq!(
                err_text(&got),
                text,
                "{name} behind {:?}",
                String::from_utf8_lossy(&header)
            );
        }
    }
}

/// LOCAL (v2) and UNKNOWN (v1) carry no client: the connection is judged
/// as the balancer's own, here an unprivileged port on an address that
/// `allow:` does not list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_is_judged_as_the_balancer() {
    let s = start(CONF, balancer_on_loopback).await;
    let (req, want) = case("pubkey");
    for header in [
        v2(0x20, at("192.0.2.7:1011"), s.addr),
        b"PROXY UNKNOWN\r\n".to_vec(),
        b"PROXY UNKNOWN 192.0.2.7 192.0.2.1 1011 5167\r\n".to_vec(),
    ] {
        let got = send(s.addr, &[header, req.clone()].concat()).await;
        assert_eq!(err_text(&got), "not coming from a reserved port");
    }
    // The same server with the balancer in `allow:` and unprivileged
    // ports allowed answers its LOCAL connections.
    let open = start(
        "allow: 127.0.0.1\nallow-unprivileged-ports: true\nuser: defaultkey@localobs\n",
        balancer_on_loopback,
    )
    .await;
    let got = send(
        open.addr,
        &[v2(0x20, at("0.0.0.0:0"), at("0.0.0.0:0")), req].concat(),
    )
    .await;
    assert_eq!(got, want, "{}", err_text(&got));
}

/// A listed balancer's connection without a valid header is closed
/// without a reply, at once; one whose header does not come is closed at
/// the first-read (idle) timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_balancer_without_a_valid_header_is_refused() {
    let s = start(CONF, |c| {
        balancer_on_loopback(c);
        c.edge.idle_timeout = Duration::from_millis(500);
    })
    .await;
    let (req, _) = case("pubkey");
    let mut bad_v2 = v2(0x21, at("192.0.2.7:1011"), s.addr);
    bad_v2[12] = 0x11; // version 1 in a v2 header
    let mut bad_family = v2(0x21, at("192.0.2.7:1011"), s.addr);
    bad_family[13] = 0x41;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no header", req.clone()),
        ("v2 with version 1", [bad_v2, req.clone()].concat()),
        ("v2 with family 4", [bad_family, req.clone()].concat()),
        (
            "v1 without a port",
            [
                b"PROXY TCP4 192.0.2.7 127.0.0.1 1011\r\n".to_vec(),
                req.clone(),
            ]
            .concat(),
        ),
        (
            "v1 with a bad address",
            [
                b"PROXY TCP4 192.0.2.700 127.0.0.1 1011 5167\r\n".to_vec(),
                req.clone(),
            ]
            .concat(),
        ),
        ("v1 too long", [b"PROXY ".as_slice(), &[b'1'; 200]].concat()),
        ("HTTP", b"GET / HTTP/1.0\r\n\r\n".to_vec()),
    ];
    for (what, bytes) in cases {
        let t0 = Instant::now();
        let closed = closed_unanswered(s.addr, &bytes).await;
        assert_eq!(closed, Ok(()), "{what}");
        assert!(t0.elapsed() < Duration::from_millis(400), "{what}: at once");
    }
    // Silence, and half a header, wait for the idle timeout only.
    for partial in [
        b"".as_slice(),
        b"PROXY TCP4 192.0.2.7 ",
        b"\r\n\r\n\0\r\nQU",
    ] {
        let t0 = Instant::now();
        let closed = closed_unanswered(s.addr, partial).await;
        let took = t0.elapsed();
        assert_eq!(closed, Ok(()), "{partial:?}");
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(3),
            "{partial:?}: closed after {took:?}"
        );
    }
    // A good connection is still served after all of them.
    let (req, want) = case("pubkey");
    let got = send(
        s.addr,
        &[v2(0x21, at("192.0.2.7:1011"), s.addr), req].concat(),
    )
    .await;
    assert_eq!(got, want);
}

/// A header from an address that is not listed is refused with an error
/// reply (as signd refuses a peer), not judged as a frame; the same
/// request without it is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_from_an_unlisted_address_is_refused() {
    let s = start(
        "allow: 127.0.0.1\nallow-unprivileged-ports: true\nuser: defaultkey@localobs\n",
        |c| {
            c.log.file = None;
            c.edge.proxy_protocol_from = vec!["10.0.0.0/8".parse().unwrap()];
        },
    )
    .await;
    let (req, want) = case("pubkey");
    for header in [
        v2(0x21, at("192.0.2.7:1011"), s.addr),
        v1(at("192.0.2.7:1011"), s.addr),
    ] {
        let t0 = Instant::now();
        let got = send(s.addr, &[header, req.clone()].concat()).await;
        assert_eq!(
            err_text(&got),
            "PROXY protocol header from an address not in proxy_protocol_from"
        );
        assert!(t0.elapsed() < Duration::from_secs(2));
    }
    assert_eq!(send(s.addr, &req).await, want);
}
