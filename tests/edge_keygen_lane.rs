//! Key generation does not starve signing (issue 11): while several
//! RSA-4096 keygens run, a sign request is answered before most of them
//! finish, because keygens run in their own lane (`[exec] keygen_workers`)
//! and not on the signing workers. Asserts order, not time (timing is in
//! BENCHMARKS.md, "Key generation under signing load").
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod edge_common;
use edge_common::{err_text, start};

const CONF: &str = "allow: 127.0.0.1\nallow-unprivileged-ports: true\nuser: defaultkey@localobs\n";
const USER: &str = "defaultkey@localobs";
/// More keygens than signing workers, so on a shared first-come pool the
/// sign request would queue behind them.
const KEYGENS: usize = 4;

/// A new-protocol request, encoded as the `sign` client does (the
/// library's client-side encoder, checked against the fixtures).
fn new_request(args: &[&str]) -> Vec<u8> {
    signatrust::protocol::encode_new_request(args).unwrap()
}

/// Sends `request` and reads the reply to EOF, bounded generously (the
/// request deadline answers first).
async fn exchange(addr: SocketAddr, request: Vec<u8>) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), s.read_to_end(&mut out))
        .await
        .expect("a reply")
        .unwrap();
    out
}

fn status(reply: &[u8]) -> u16 {
    u16::from_be_bytes([reply[0], reply[1]])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_is_answered_while_rsa4096_keygens_run() {
    let s = start(CONF, |c| {
        c.log.file = None;
        c.exec.workers = 2;
        c.exec.keygen_workers = 1;
        c.exec.keygen_timeout = Duration::from_secs(100);
        c.edge.request_deadline = Duration::from_secs(110);
    })
    .await;
    let finished = Arc::new(AtomicUsize::new(0));
    let mut keygens = Vec::new();
    for i in 0..KEYGENS {
        let (addr, finished) = (s.addr, finished.clone());
        let req = new_request(&[
            "keygen",
            USER,
            "rsa@4096",
            "800",
            &format!("Project {i}"),
            "p@example.org",
        ]);
        keygens.push(tokio::spawn(async move {
            let reply = exchange(addr, req).await;
            finished.fetch_add(1, Ordering::SeqCst);
            reply
        }));
    }
    // Let the keygen requests reach the server first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let digest = hex::encode(openssl::sha::sha1(b"data"));
    let sign = exchange(
        s.addr,
        new_request(&["sign", USER, &format!("{digest}@0065000000")]),
    )
    .await;
    let done_at_sign = finished.load(Ordering::SeqCst);
    assert_eq!(status(&sign), 0, "sign: {}", err_text(&sign));
    for k in keygens {
        let reply = k.await.unwrap();
        assert_eq!(status(&reply), 0, "keygen: {}", err_text(&reply));
    }
    // On one first-come pool of 2 workers the sign request runs after at
    // least KEYGENS - 2 keygens; in the lane it overtakes them all (one
    // may finish meanwhile only if generating it took less than a sign).
    assert!(
        done_at_sign <= 1,
        "{done_at_sign} of {KEYGENS} RSA-4096 keygens finished before the sign reply"
    );
}

/// A keygen that no keygen worker takes before `[exec]
/// keygen_timeout_ms` is answered with its own text (a full queue, `server
/// busy`, is checked in `commands::keygen` and `exec`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keygens_past_the_lane_get_specific_errors() {
    let s = start(CONF, |c| {
        c.log.file = None;
        c.exec.workers = 1;
        c.exec.keygen_workers = 1;
        c.exec.keygen_timeout = Duration::from_millis(1);
    })
    .await;
    // One keygen runs (seconds); the other two wait in the queue and give
    // up after 1 ms.
    let mut keygens = Vec::new();
    for i in 0..3 {
        let addr = s.addr;
        let req = new_request(&[
            "keygen",
            USER,
            "rsa@4096",
            "800",
            &format!("Project {i}"),
            "p@example.org",
        ]);
        keygens.push(tokio::spawn(async move { exchange(addr, req).await }));
    }
    let mut texts = Vec::new();
    for k in keygens {
        let reply = k.await.unwrap();
        texts.push(if status(&reply) == 0 {
            "ok".to_string()
        } else {
            err_text(&reply)
        });
    }
    let timed_out = "keygen: no key generation slot free within 1 ms, try again later";
    assert!(
        texts.iter().any(|t| t == timed_out),
        "no keygen timed out in the queue: {texts:?}"
    );
    assert!(
        texts.iter().all(|t| t == "ok" || t == timed_out),
        "{texts:?}"
    );
}
