//! The daemon's stderr as a journal reads it (the real `signatrustd`, its
//! stderr a file): no ANSI escapes; one request line per request, written
//! after the outcome, with the resolved key, its fingerprint, the outcome,
//! the latency and the peer as an address; `[log] level = "warn"` drops
//! request lines; `[log] format = "json"` writes lines that parse.
#[path = "e2e_common.rs"]
mod e2e_common;

use e2e_common::*;

/// The fixture signd key `defaultkey@localobs` (manifest.json).
const FPR: &str = "2AA0E9F70F186184377807B57581F22BE40A9A2F";

/// A store with the fixture key under the name `k`, and the alias `al`.
fn store() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = short_tempdir();
    let data = dir.path().join("store");
    let key = fixture("obs-sign-t-fixtures/secret-key.asc");
    admin_ok(&data, &["key", "import", "k", key.to_str().unwrap()]);
    admin_ok(&data, &["alias", "set", "al", "k"]);
    (dir, data)
}

/// A signed request through the alias and a refused one; then the log.
fn run(log_toml: &str) -> (String, u16) {
    let (_dir, data) = store();
    let d = Daemon::start(&data, log_toml);
    let digest = "ab".repeat(20);
    let ok = d.exchange(&old_request("al", &format!("{digest}@00656d0f00")));
    assert_eq!(&ok[..2], [0, 0], "{}", d.log_text());
    let bad = d.exchange(&old_request("nobody", &format!("{digest}@00656d0f00")));
    assert_ne!(&bad[..2], [0, 0]);
    // stderr is unbuffered; give the last line a moment.
    std::thread::sleep(std::time::Duration::from_millis(200));
    (d.log_text(), d.addr.port())
}

#[test]
fn text_lines_have_no_escapes_and_carry_the_outcome() {
    let (log, _) = run("[log]\nlevel = \"info\"\n");
    assert!(!log.contains('\u{1b}'), "escape bytes in a file:\n{log:?}");
    assert!(!log.contains("Some("), "{log}");
    let requests: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" request ") && l.contains("argv=sign"))
        .collect();
    assert_eq!(requests.len(), 2, "{log}");
    let ok = requests
        .iter()
        .find(|l| l.contains("outcome=ok"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(ok.contains("peer=127.0.0.1:"), "{ok}");
    assert!(ok.contains("key=k "), "{ok}");
    assert!(ok.contains(&format!("fingerprint={FPR}")), "{ok}");
    assert!(ok.contains("latency_us="), "{ok}");
    let bad = requests
        .iter()
        .find(|l| l.contains("outcome=error"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(bad.contains("unknown key: nobody"), "{bad}");
    assert!(bad.contains("key=nobody "), "{bad}");
}

#[test]
fn level_warn_drops_request_lines() {
    let (log, _) = run("[log]\nlevel = \"warn\"\n");
    assert!(!log.contains("request"), "{log}");
    assert!(!log.contains("INFO"), "{log}");
}

#[test]
fn json_lines_parse() {
    let (log, port) = run("[log]\nformat = \"json\"\n");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let ok = lines
        .iter()
        .find(|v| {
            let f = &v["fields"];
            f["message"] == "request" && f["outcome"] == "ok" && f["key"] != ""
        })
        .unwrap_or_else(|| panic!("no request line:\n{log}"));
    let f = &ok["fields"];
    assert_eq!(f["key"], "k");
    assert_eq!(f["fingerprint"], FPR);
    assert_eq!(f["level"].as_str(), None);
    assert_eq!(ok["level"], "INFO");
    assert!(f["latency_us"].as_u64().is_some(), "{ok}");
    let peer = f["peer"].as_str().unwrap();
    assert!(peer.starts_with("127.0.0.1:"), "{peer}");
    assert_ne!(peer, format!("127.0.0.1:{port}"), "the client's port");
}
