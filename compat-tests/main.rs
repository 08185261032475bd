//! Replays the recorded obs-signd transcripts against an in-process
//! signatrustd and compares each reply as the manifest says.
//!
//! The server runs on `127.0.0.1:0` with the fixture's own `server.conf`
//! (through the real sign.conf parser), the two fixture keys imported under
//! their fixture names and phrases, and the fixture aliases. Cases owned by
//! later issues are replayed too but only reported, never silently skipped.

mod harness;
mod signproxy;

use harness::{case_scope, fixtures_dir, Harness, Scope};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_fixtures() {
    let dir = fixtures_dir();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.join("manifest.json")).expect("reading manifest.json"),
    )
    .unwrap();
    let h = Harness::start().await;

    let mut ran = 0;
    let mut matched = 0;
    let mut failures = Vec::new();
    let mut report = Vec::new();
    for case in manifest["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let determinism = case["reply_determinism"].as_str().unwrap_or("");
        let scope = case_scope(case);
        let outcome = match &scope {
            Scope::NotReplayable(why) => {
                report.push(format!("  skip  {name}: {why}"));
                continue;
            }
            _ => h.replay(case, determinism).await,
        };
        match (&scope, outcome) {
            (Scope::ThisIssue, Ok(())) => {
                ran += 1;
                matched += 1;
                report.push(format!("  ok    {name} ({determinism})"));
            }
            (Scope::ThisIssue, Err(e)) => {
                ran += 1;
                report.push(format!("  FAIL  {name}: {e}"));
                failures.push(format!("{name}: {e}"));
            }
            (Scope::Later(issue), r) => report.push(format!(
                "  later {name}: out of scope here (issue {issue}); replay {}",
                match r {
                    Ok(()) => "matches already".to_string(),
                    Err(e) => format!("differs: {e}"),
                }
            )),
            (Scope::NotReplayable(_), _) => unreachable!(),
        }
    }
    println!("{}", report.join("\n"));
    println!("compat: {ran} in-scope cases ran, {matched} matched");
    assert!(ran >= 60, "too few in-scope cases ran: {ran}");
    assert!(
        failures.is_empty(),
        "{} case(s) did not match:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// raw-split-request: Perl answers "packet too small" for a header split
/// across segments; we deliberately read on and answer the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_header_is_read_to_the_end() {
    let h = Harness::start().await;
    let req = std::fs::read(fixtures_dir().join("cases/raw-split-request/1.request.bin")).unwrap();
    let reply = h.exchange(&req, Some(3), None).await;
    assert_eq!(&reply[..2], &[0, 0], "status must be 0, got {reply:02x?}");
    // One output: a v3 RSA signature packet (0x89 header) for the digest.
    assert_eq!(&reply[6..8], &[0, 1]);
    assert_eq!(reply[10], 0x89);
}

/// Reserved-port rule on a server that does not allow unprivileged ports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unprivileged_source_port_is_refused_after_reading() {
    let h = Harness::start_strict().await;
    for case in ["raw-unprivileged-source-port", "unprivileged-port-ping"] {
        let dir = fixtures_dir().join("cases").join(case);
        let req = std::fs::read(dir.join("1.request.bin")).unwrap();
        let want = std::fs::read(dir.join("1.reply.bin")).unwrap();
        assert_eq!(h.exchange(&req, None, None).await, want, "{case}");
    }
}

/// `illegal host <ip>` for a source address outside `allow:`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disallowed_host_is_refused() {
    let h = Harness::start().await;
    let dir = fixtures_dir().join("cases/raw-disallowed-host");
    let req = std::fs::read(dir.join("1.request.bin")).unwrap();
    let want = std::fs::read(dir.join("1.reply.bin")).unwrap();
    let got = h
        .exchange(&req, None, Some("127.0.0.2".parse().unwrap()))
        .await;
    assert_eq!(got, want);
}

/// Every `signproxy-*` case through a keyless proxy to an upstream
/// signatrustd: the client's reply and the upstream's request both match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signproxy_cases_forward_to_an_upstream() {
    let (ran, failures) = signproxy::replay_signproxy_cases().await;
    println!("signproxy: {ran} cases ran, {} failed", failures.len());
    assert_eq!(ran, 6, "expected the six signproxy-* cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A proxy whose upstream is down answers with a clear error, promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signproxy_with_upstream_down_answers_an_error() {
    // A port nobody listens on: bind, note it, close.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let addr = signproxy::start_proxy(dead, dir.path()).await;
    let client = harness::Harness::client_for(addr);
    let req =
        std::fs::read(fixtures_dir().join("cases/signproxy-detached-sha256-v3/1.request.bin"))
            .unwrap();
    let t = std::time::Instant::now();
    let reply = client.exchange(&req, None, None).await;
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    let text = String::from_utf8_lossy(&reply[6..]).to_string();
    assert_eq!(&reply[..2], &[0, 1]);
    assert_eq!(
        text,
        format!(
            "upstream signd 127.0.0.1:{} is not available\n",
            dead.port()
        )
    );
}
