//! Architecture invariants from ARCHITECTURE.md, stated as absences and
//! enforced here: the pure layers never reach for sockets, the async runtime
//! or the database, and only the server owns sockets.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// Lines of non-test code (comments dropped) of every file under
/// `src/<module>`. Test code may read fixture files, so each item marked
/// `#[cfg(test)]` is skipped (a `mod x;` line, or a braced block), and files
/// that are test-only modules (`test_*.rs`, `tests.rs`) are not scanned.
fn code_lines(module: &str) -> Vec<(PathBuf, usize, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(module);
    let mut out = Vec::new();
    for file in rust_files(&dir) {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        if stem == "tests" || stem.starts_with("test_") {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        let mut skipping = false;
        let mut depth = 0i64;
        let mut entered = false;
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.trim() == "#[cfg(test)]" {
                skipping = true;
                depth = 0;
                entered = false;
                continue;
            }
            if skipping {
                depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
                entered |= code.contains('{');
                if (entered && depth <= 0) || (!entered && code.trim_end().ends_with(';')) {
                    skipping = false;
                }
                continue;
            }
            out.push((file.clone(), i + 1, code.to_string()));
        }
    }
    out
}

fn assert_absent(module: &str, forbidden: &[&str]) {
    let mut hits = Vec::new();
    for (file, line, code) in code_lines(module) {
        for f in forbidden {
            if code.contains(f) {
                hits.push(format!("{}:{line}: `{f}` in {code:?}", file.display()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "src/{module} must not use these:\n{}",
        hits.join("\n")
    );
}

const IO_AND_RUNTIME: &[&str] = &[
    "tokio",
    "sqlx",
    "std::net::Tcp",
    "std::net::Udp",
    "TcpStream",
    "TcpListener",
    "UdpSocket",
    "rustls",
    "async fn",
    ".await",
];

#[test]
fn protocol_knows_nothing_of_keys_sockets_runtime_or_database() {
    let mut forbidden = IO_AND_RUNTIME.to_vec();
    forbidden.extend([
        "crate::keys",
        "crate::sign",
        "crate::server",
        "crate::commands",
        "sequoia",
        "openssl",
        "std::fs",
    ]);
    assert_absent("protocol", &forbidden);
}

#[test]
fn sign_is_pure_crypto() {
    let mut forbidden = IO_AND_RUNTIME.to_vec();
    forbidden.extend([
        "crate::keys",
        "crate::protocol",
        "crate::server",
        "crate::commands",
    ]);
    assert_absent("sign", &forbidden);
}

#[test]
fn only_the_server_owns_sockets() {
    for module in ["protocol", "sign", "keys", "commands", "config", "admin"] {
        assert_absent(
            module,
            &["TcpStream", "TcpListener", "UdpSocket", "tokio::net"],
        );
    }
}

#[test]
fn config_only_parses() {
    assert_absent("config", IO_AND_RUNTIME);
}

#[test]
fn keys_never_speak_the_wire_protocol() {
    assert_absent(
        "keys",
        &["crate::protocol", "crate::server", "crate::commands"],
    );
}

#[test]
fn the_checker_finds_what_it_looks_for() {
    // Guard against a checker that can never fail: the server module does
    // use sockets, so the scan must see them there.
    let hits = code_lines("server")
        .iter()
        .filter(|(_, _, c)| c.contains("TcpStream"))
        .count();
    assert!(hits > 0, "scan found no TcpStream in src/server");
}
