//! Hygiene of a whole fixture replay at trace level, through the real
//! binaries: the store made with `signatrust-admin` (the fixture keys, one
//! behind a passphrase, the fixture aliases and encryption key; trace
//! logging), `signatrustd` serving it with the fixture `server.conf`
//! (its `logfile:` too) and `[log] level = "trace"`, every in-scope
//! fixture case replayed. Then neither the server's log, the signd
//! logfile, the admin's output, any file of the data directory (SQLite
//! and its WAL) nor, on PostgreSQL, a `pg_dump` of the store holds a
//! secret MPI of the fixture keys, the symmetric encryption key or the
//! KEK, raw or as hex. The controls: most cases answer as recorded, and
//! the log and the dump hold the public parts the scan looks beside.

#[path = "e2e_common.rs"]
mod common;
#[path = "support/pg.rs"]
mod pg;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn text(out: &std::process::Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `signatrust-admin` at trace level; returns everything it printed.
fn admin_trace(data: &Path, url: Option<&str>, args: &[&str]) -> Vec<u8> {
    let mut cmd = Command::new(ADMIN);
    cmd.env("RUST_LOG", "trace").arg("--data-dir").arg(data);
    if let Some(u) = url {
        cmd.args(["--database-url", u]);
    }
    let out = cmd.args(args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    let mut all = out.stdout;
    all.extend(out.stderr);
    all
}

/// One connection of a case: the request, half-closed when incomplete (as
/// the compat harness does), the reply to EOF.
fn exchange_raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    if matches!(signatrust::protocol::decode(request), Ok(None)) {
        s.shutdown(Shutdown::Write).unwrap();
    }
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    reply
}

/// Every rendering of a secret a log or dump could carry: raw bytes and
/// hex in either case, whole and its first and last 16 bytes.
fn renderings(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for part in [secret, &secret[..16], &secret[secret.len() - 16..]] {
        out.push(part.to_vec());
        out.push(hex::encode(part).into_bytes());
        out.push(hex::encode_upper(part).into_bytes());
    }
    out
}

fn assert_clean(what: &str, hay: &[u8], secrets: &[(String, Vec<u8>)]) {
    for (name, secret) in secrets {
        for r in renderings(secret) {
            assert!(
                !contains(hay, &r),
                "{name} appears in {what} (as {:?})",
                String::from_utf8_lossy(&r)
            );
        }
    }
}

#[test]
fn fixture_replay_at_trace_level_leaves_no_secret_behind() {
    let fx = fixtures_dir();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.join("manifest.json")).unwrap()).unwrap();
    let mut urls = vec![None];
    urls.extend(pg::scratch_database_blocking().map(Some));
    for (n, url) in urls.iter().enumerate() {
        let url = url.as_deref();
        let dir = short_tempdir();
        let data = dir.path().join("data");
        let state = dir.path().join("state");
        std::fs::create_dir_all(state.join("tmp")).unwrap();
        let phrase = dir.path().join("phrase");
        std::fs::write(&phrase, "xxx\n").unwrap();

        // The store, as an operator would make it.
        let mut admin_text = Vec::new();
        let keys = fx.join("obs-sign-t-fixtures");
        admin_text.extend(admin_trace(
            &data,
            url,
            &[
                "key",
                "import",
                "defaultkey@localobs",
                keys.join("secret-key.asc").to_str().unwrap(),
            ],
        ));
        admin_text.extend(admin_trace(
            &data,
            url,
            &[
                "key",
                "import",
                "defaultkeysec@localobs",
                keys.join("secret-key-passphrase.asc").to_str().unwrap(),
                "--passphrase-file",
                phrase.to_str().unwrap(),
            ],
        ));
        let enckeys = fx.join("signd-state/enckeys");
        for entry in std::fs::read_dir(&enckeys).unwrap() {
            let path = entry.unwrap().path();
            admin_text.extend(admin_trace(
                &data,
                url,
                &["enckey", "import", path.to_str().unwrap()],
            ));
        }
        for entry in std::fs::read_dir(fx.join("signd-state/aliases")).unwrap() {
            let entry = entry.unwrap();
            let target = std::fs::read_to_string(entry.path()).unwrap();
            let target = target.lines().next().unwrap().trim_end_matches('\r');
            let alias = entry.file_name().to_string_lossy().into_owned();
            admin_text.extend(admin_trace(&data, url, &["alias", "add", &alias, target]));
        }

        // The fixture's server.conf, its state directory made real (the
        // logfile: is written), serving the store at trace level.
        let conf = std::fs::read_to_string(fx.join("signd-state/server.conf"))
            .unwrap()
            .replace("@STATE@", state.to_str().unwrap());
        let conf_path = dir.path().join("server.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let store = url.map_or(String::new(), |u| format!("[store]\nurl = \"{u}\"\n"));
        let daemon = Daemon::start_with(
            &data,
            &format!("sign_conf = \"{}\"", conf_path.display()),
            &format!("{store}[log]\nlevel = \"trace\"\n"),
        );
        let (mut sent, mut identical, mut privsign_ok) = (0, 0, 0);
        for case in manifest["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let det = case["reply_determinism"].as_str().unwrap_or("");
            let kind = case["kind"].as_str().unwrap_or("");
            if (kind != "sign-client" && kind != "raw-request")
                || name.starts_with("signproxy")
                || name.contains("unprivileged")
                || name.contains("disallowed")
            {
                continue;
            }
            for conn in case["connections"].as_array().unwrap() {
                let request = std::fs::read(fx.join(conn["request"].as_str().unwrap())).unwrap();
                let want = std::fs::read(fx.join(conn["reply"].as_str().unwrap())).unwrap();
                let got = exchange_raw(daemon.addr, &request);
                sent += 1;
                if det == "byte-identical" && got == want {
                    identical += 1;
                }
                if name.contains("privsign") && got.len() >= 6 && parse_reply(&got).status == 0 {
                    privsign_ok += 1;
                }
            }
        }
        let log = daemon.log_text();
        drop(daemon);
        println!(
            "store {n}: {sent} requests replayed at trace level, {identical} byte-identical, \
             {privsign_ok} privsign answered OK"
        );
        // The controls: the replay worked (blobs decrypted too), and the
        // log is the trace log.
        assert!(identical >= 60, "only {identical} replies as recorded");
        assert!(privsign_ok >= 3, "privsign answered OK {privsign_ok} times");
        assert!(log.contains("TRACE") || log.contains("DEBUG"), "{log}");
        let signd_log = std::fs::read(state.join("signd.log")).unwrap_or_default();
        assert!(!signd_log.is_empty(), "the signd logfile: was written");

        let mut secrets = Vec::new();
        for (file, pass) in [
            ("secret-key.asc", None),
            ("secret-key-passphrase.asc", Some("xxx")),
        ] {
            secrets.extend(key_material(file, pass).0);
        }
        for entry in std::fs::read_dir(&enckeys).unwrap() {
            let line = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let key = hex::decode(line.trim()).expect("an enckey file is hex");
            secrets.push(("the symmetric encryption key".into(), key));
        }
        secrets.push((
            "the KEK".into(),
            std::fs::read(data.join("kek.key")).unwrap(),
        ));
        assert_clean("the server's trace log", log.as_bytes(), &secrets);
        assert_clean("the signd logfile", &signd_log, &secrets);
        assert_clean("the admin's trace output", &admin_text, &secrets);
        for (path, bytes) in read_all(&data) {
            if path.file_name().is_some_and(|f| f == "kek.key") {
                continue;
            }
            assert_clean(&path.display().to_string(), &bytes, &secrets);
        }
        if let Some(u) = url {
            let dump = Command::new("pg_dump").arg(u).output().unwrap();
            assert!(dump.status.success(), "pg_dump: {}", text(&dump));
            let (_, public) = key_material("secret-key.asc", None);
            assert!(
                contains(&dump.stdout, hex::encode(&public[0].1[..16]).as_bytes()),
                "the control: the dump holds the key rows"
            );
            assert_clean("the PostgreSQL dump", &dump.stdout, &secrets);
        }
    }
}
