//! The `signproxy-*` cases: a signatrustd with no keys (the fixture's
//! `signproxy.conf`: `server:`/`port:` of an upstream, no `phrases:`)
//! forwards to a second in-process signatrustd that holds the keys. A
//! recording relay between the two captures what the upstream received, so
//! both legs are compared with the fixtures, and checks that the proxy
//! connected from a reserved port.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use signatrust::config::Config;
use signatrust::daemon;

use crate::harness::{fixtures_dir, Harness};
use crate::support;

/// What the relay saw on one connection: source port and request bytes.
pub type Seen = Arc<Mutex<Vec<(u16, Vec<u8>)>>>;

/// Accepts connections, records each request (complete by the framing) and
/// relays it to `upstream`, then copies the reply back.
pub async fn recording_relay(upstream: SocketAddr) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, peer)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    if !matches!(signatrust::protocol::decode(&buf), Ok(None)) {
                        break;
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                record.lock().unwrap().push((peer.port(), buf.clone()));
                let mut up = TcpStream::connect(upstream).await.unwrap();
                up.write_all(&buf).await.unwrap();
                let mut reply = Vec::new();
                up.read_to_end(&mut reply).await.unwrap();
                let _ = s.write_all(&reply).await;
            });
        }
    });
    (addr, seen)
}

/// A keyless signatrustd configured from the fixture's signproxy.conf,
/// forwarding to `upstream`.
pub async fn start_proxy(upstream: SocketAddr, dir: &std::path::Path) -> support::Running {
    let text = std::fs::read_to_string(fixtures_dir().join("signd-state/signproxy.conf")).unwrap();
    let text: String = text
        .lines()
        .map(|l| match l.split_once(':') {
            Some(("port", _)) => format!("port: {}\n", upstream.port()),
            Some(("logfile", _)) => format!("logfile: {}\n", dir.join("signproxy.log").display()),
            _ => format!("{l}\n"),
        })
        .collect();
    let conf = dir.join("signproxy.conf");
    std::fs::write(&conf, text).unwrap();
    let mut config = Config::load(Some(dir.join("data")), None, Some(conf)).unwrap();
    assert!(config.users.proxy_only, "signproxy.conf is a pure proxy");
    // The test client cannot bind reserved ports; the proxy's own outgoing
    // connection still must (use-unprivileged-ports is not set).
    config.access.allow_unprivileged_ports = true;
    let service = daemon::build(config).await.unwrap();
    support::serve(&service).await
}

pub async fn replay_signproxy_cases() -> (usize, Vec<String>) {
    let fx = fixtures_dir();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(fx.join("manifest.json")).unwrap()).unwrap();
    let upstream = Harness::start().await;
    let (relay, seen) = recording_relay(upstream.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy_server = start_proxy(relay, dir.path()).await;
    let proxy = Harness::client_for(proxy_server.addr);
    let mut ran = 0;
    let mut failures = Vec::new();
    for case in manifest["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if !name.starts_with("signproxy") {
            continue;
        }
        ran += 1;
        let case_dir = fx.join("cases").join(name);
        let req = std::fs::read(case_dir.join("1.request.bin")).unwrap();
        let want = std::fs::read(case_dir.join("1.reply.bin")).unwrap();
        let want_up = std::fs::read(case_dir.join("upstream-1.request.bin")).unwrap();
        seen.lock().unwrap().clear();
        let got = proxy.exchange(&req, None, None).await;
        if got != want {
            failures.push(format!("{name}: reply differs: {got:02x?}"));
        }
        let legs = seen.lock().unwrap().clone();
        match legs.as_slice() {
            [(port, bytes)] => {
                if *bytes != want_up {
                    failures.push(format!("{name}: upstream got {bytes:02x?}"));
                }
                if !(600..=1023).contains(port) {
                    failures.push(format!("{name}: proxy used source port {port}"));
                }
            }
            other => failures.push(format!("{name}: {} upstream connections", other.len())),
        }
    }
    let log = std::fs::read_to_string(dir.path().join("signproxy.log")).unwrap_or_default();
    if !log.contains(": 127.0.0.1: ping ") && !log.contains(": 127.0.0.1: ping") {
        failures.push(format!("signd log file lacks the ping line: {log:?}"));
    }
    (ran, failures)
}
