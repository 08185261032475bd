//! Test access to the recorded obs-signd transcripts (`obs-sign-fixtures/`).
//!
//! The directory is `$SIGNATRUST_FIXTURES` if set, otherwise
//! `obs-sign-fixtures` under the crate root. Tests fail loudly when it is
//! missing rather than passing vacuously.
use std::path::PathBuf;

use serde_json::Value;

pub(super) struct Case {
    pub name: String,
    pub connections: Vec<Connection>,
}

pub(super) struct Connection {
    /// Path of the request file, relative to the fixture root.
    pub request: String,
    /// Path of the reply file, relative to the fixture root.
    pub reply: String,
    pub request_decoded: Value,
    pub reply_decoded: Value,
}

pub(super) fn root() -> PathBuf {
    match std::env::var_os("SIGNATRUST_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("obs-sign-fixtures"),
    }
}

pub(super) fn read(relative: &str) -> Vec<u8> {
    let path = root().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub(super) fn cases() -> Vec<Case> {
    let manifest: Value =
        serde_json::from_slice(&read("manifest.json")).expect("manifest.json is not JSON");
    let cases: Vec<Case> = manifest["cases"]
        .as_array()
        .expect("manifest has no cases")
        .iter()
        .map(|case| Case {
            name: case["name"].as_str().unwrap().to_owned(),
            connections: case["connections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|conn| Connection {
                    request: conn["request"].as_str().unwrap().to_owned(),
                    reply: conn["reply"].as_str().unwrap().to_owned(),
                    request_decoded: conn["request_decoded"].clone(),
                    reply_decoded: conn["reply_decoded"].clone(),
                })
                .collect(),
        })
        .collect();
    assert_eq!(cases.len(), 112, "unexpected fixture set");
    cases
}

pub(super) fn case(name: &str) -> Case {
    cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no fixture case {name}"))
}

/// `cases/<name>/upstream-<n>.request.bin`, sorted (signproxy cases only).
pub(super) fn upstream_requests(name: &str) -> Vec<String> {
    let dir = root().join("cases").join(name);
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with("upstream-") && f.ends_with(".request.bin"))
        .map(|f| format!("cases/{name}/{f}"))
        .collect();
    found.sort();
    found
}
