//! Slow but honest peers (issue 16 items 8 and 9): a `sign -c` that
//! connects early and sends after hashing a slow input is served, idle
//! connections are shed oldest first only at the connection limit, and a
//! slow upstream signd is waited for (its own configurable timeout), while
//! a dead one is still reported at once.
#[path = "support/client.rs"]
mod client;
mod edge_common;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use edge_common::{case, err_text, exchange, start, start_keyless, write};

const CONF: &str = "allow: 127.0.0.1\nallow-unprivileged-ports: true\nuser: defaultkey@localobs\n";

/// Runs the plain C client with a config for `addr`, through `sh -c` so
/// that its stdin can be a slow pipeline: `{sign}` in `script` is the
/// client invocation.
fn client_sh(dir: &std::path::Path, addr: SocketAddr, script: &str) -> Output {
    let conf = write(dir, "client.conf", client::client_conf(addr.port()));
    let sign = format!(
        "{} --config {}",
        client::sign_client().display(),
        conf.display()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script.replace("{sign}", &sign))
        .output()
        .expect("run the sign client")
}

/// `(echo a; sleep 12; echo b) | sign -c` with the default settings: the
/// client connects after its first read and sends after hashing all of its
/// input, 12 s later. The old 10 s idle timeout answered `request timed
/// out`; obs-signd has no timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearsign_of_a_slow_input_with_default_settings() {
    let s = start(CONF, |c| c.log.file = None).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let addr = s.addr;
    let out = tokio::task::spawn_blocking(move || {
        client_sh(
            &path,
            addr,
            "(echo a; sleep 12; echo b) | {sign} -u defaultkey@localobs -c",
        )
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"),
        "{text}"
    );
    assert!(
        text.contains("\na\nb\n-----BEGIN PGP SIGNATURE-----"),
        "{text}"
    );
}

/// At the connection limit a new client is served by shedding the oldest
/// connection that has not sent a byte (it gets `server busy`); a younger
/// idle one stays open. The old code refused the new client instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_idle_connection_makes_room_at_the_limit() {
    let s = start(CONF, |c| {
        c.log.file = None;
        c.edge.max_connections = 2;
    })
    .await;
    let mut oldest = TcpStream::connect(s.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut younger = TcpStream::connect(s.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let addr = s.addr;
    let out = tokio::task::spawn_blocking(move || client_sh(&path, addr, "{sign} -t"))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "ping at the limit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), oldest.read_to_end(&mut got))
        .await
        .expect("the oldest idle connection is closed")
        .unwrap();
    assert_eq!(err_text(&got), "server busy, try again later");
    // The younger one is untouched and still served.
    let (req, want) = case("detached-sha256-v3");
    younger.write_all(&req).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), younger.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, want);
}

/// A fake upstream signd that answers `reply` `delay` after the request.
async fn slow_upstream(reply: Vec<u8>, delay: Duration) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let _ = s.write_all(&reply).await;
            });
        }
    });
    addr
}

fn proxy_conf(upstream: SocketAddr) -> String {
    format!(
        "server: 127.0.0.1\nport: {}\nproxyport: 5168\nallow: 127.0.0.1\n\
         allow-unprivileged-ports: true\nuse-unprivileged-ports: true\n",
        upstream.port()
    )
}

/// An upstream that takes longer than the server's read timeout and
/// request deadline to answer is waited for: forwarding has its own,
/// generous bound (`server.upstream_timeout_ms`). The old code gave up
/// after the read timeout with `upstream signd … is not available`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upstream_is_waited_for() {
    let (req, want) = case("signproxy-detached-sha256-v3");
    let up = slow_upstream(want.clone(), Duration::from_secs(3)).await;
    let proxy = start_keyless(&proxy_conf(up), |c| {
        c.log.file = None;
        c.edge.read_timeout = Duration::from_secs(1);
        c.edge.request_deadline = Duration::from_secs(2);
    })
    .await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(&req).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, want, "{}", err_text(&got));
}

/// The upstream timeout is configurable and reported as unavailability;
/// a closed port is reported at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_timeout_is_configurable() {
    let (req, want) = case("signproxy-detached-sha256-v3");
    let up = slow_upstream(want, Duration::from_secs(5)).await;
    let proxy = start_keyless(&proxy_conf(up), |c| {
        c.log.file = None;
        c.upstream.as_mut().unwrap().timeout = Duration::from_millis(800);
    })
    .await;
    let t = Instant::now();
    let got = exchange(proxy.addr, &req).await;
    let took = t.elapsed();
    assert_eq!(
        err_text(&got),
        format!("upstream signd 127.0.0.1:{} is not available", up.port())
    );
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // Nobody listening: no wait for the reply timeout.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let proxy = start_keyless(&proxy_conf(dead), |c| c.log.file = None).await;
    let t = Instant::now();
    let got = exchange(proxy.addr, &req).await;
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(
        err_text(&got),
        format!("upstream signd 127.0.0.1:{} is not available", dead.port())
    );
}

/// Shedding keeps the cost of an idle flood bounded: with every slot held
/// by an idle connection, each arrival sheds the oldest and waits for the
/// freed slot under the busy-refusal budget (the rest are closed unread),
/// so live tasks stay within slots + budget, and a good request arriving
/// after the flood is served at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_flood_costs_a_bounded_number_of_tasks() {
    const SLOTS: usize = 4;
    const REFUSALS: usize = 8;
    let s = start(CONF, |c| {
        c.log.file = None;
        c.edge.max_connections = SLOTS;
        c.edge.max_busy_refusals = REFUSALS;
    })
    .await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let base = metrics.num_alive_tasks();
    let mut held = Vec::new();
    let mut peak = base;
    for _ in 0..500 {
        held.push(TcpStream::connect(s.addr).await.unwrap());
        peak = peak.max(metrics.num_alive_tasks());
    }
    for _ in 0..20 {
        peak = peak.max(metrics.num_alive_tasks());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        peak <= base + SLOTS + REFUSALS + 4,
        "{peak} live tasks (base {base})"
    );
    let (req, want) = case("detached-sha256-v3");
    let t = Instant::now();
    let got = exchange(s.addr, &req).await;
    assert_eq!(got, want, "{}", err_text(&got));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}
