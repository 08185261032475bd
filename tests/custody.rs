//! Custody fails closed, through the real binaries: a store that holds keys
//! never gets a new KEK, and a KEK that is not the store's own is refused by
//! every admin verb, by `signatrustd --check-config` and by start-up, with
//! a message naming the expected and the configured KEK and nothing changed.

#[path = "e2e_common.rs"]
mod common;
#[path = "support/pg.rs"]
mod pg;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

const UID: &str = "Custody <custody@example.org>";

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn daemon(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signatrustd"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run signatrustd")
}

/// The KEK id `kek status` prints for the configured KEK.
fn kek_id(data: &Path) -> String {
    admin_ok(data, &["kek", "status"])
        .lines()
        .find_map(|l| l.strip_prefix("kek id: "))
        .expect("kek status prints the KEK id")
        .to_owned()
}

/// Everything the store holds but the audit trail (which records the
/// refused attempts, as it should), read with the sqlite3 tool.
fn store_bytes(data: &Path) -> Vec<u8> {
    let out = Command::new("sqlite3")
        .arg("-readonly")
        .arg(data.join("signatrust.db"))
        .arg(
            "SELECT hex(name), hex(fingerprint), hex(wrapped_dek), kek_id, updated FROM keys \
             ORDER BY name; SELECT * FROM aliases ORDER BY alias; \
             SELECT role, kek_id, hex(wrapped) FROM kek_canary ORDER BY role; \
             SELECT id, hex(wrapped_dek), kek_id FROM encryption_keys ORDER BY id;",
        )
        .output()
        .expect("run sqlite3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every command that opens the store, as the operator would run it.
fn verbs() -> Vec<Vec<&'static str>> {
    vec![
        vec!["key", "list"],
        vec!["key", "export", "k1"],
        vec!["key", "generate", "k2", "--type", "ed25519", "--uid", UID],
        vec!["alias", "list"],
    ]
}

#[test]
fn missing_kek_file_is_never_replaced() {
    let dir = short_tempdir();
    let data = dir.path().join("store");
    admin_ok(
        &data,
        &["key", "generate", "k1", "--type", "ed25519", "--uid", UID],
    );
    let id = kek_id(&data);
    let kek = data.join("kek.key");
    let saved = std::fs::read(&kek).unwrap();
    std::fs::remove_file(&kek).unwrap();
    let before = store_bytes(&data);

    for args in verbs() {
        let out = admin(&data, &args);
        let t = text(&out);
        assert_eq!(
            out.status.code(),
            Some(78),
            "{args:?} ran without its KEK (or not exit 78, a configuration error): {t}"
        );
        assert!(
            t.contains(&kek.display().to_string())
                && t.contains("does not exist")
                && t.contains(&id),
            "{args:?}: the message must name the missing file and the store's KEK: {t}"
        );
        assert!(!kek.exists(), "{args:?} created a new KEK file");
    }
    let out = daemon(&data, &["--check-config"]);
    assert_eq!(out.status.code(), Some(78), "check-config: {}", text(&out));
    assert!(text(&out).contains(&id), "{}", text(&out));
    let out = daemon(&data, &["--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(78), "signatrustd: {}", text(&out));
    assert!(text(&out).contains(&id), "{}", text(&out));
    assert!(!kek.exists(), "signatrustd created a new KEK file");
    assert_eq!(store_bytes(&data), before, "the store changed");

    // Restored, everything works again.
    std::fs::write(&kek, &saved).unwrap();
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();
    admin_ok(&data, &["key", "export", "k1"]);
    let out = daemon(&data, &["--check-config"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn another_kek_is_refused_naming_both() {
    let dir = short_tempdir();
    let data = dir.path().join("store");
    admin_ok(
        &data,
        &["key", "generate", "k1", "--type", "ed25519", "--uid", UID],
    );
    let id = kek_id(&data);
    // A different key file in its place (a restore from the wrong backup).
    let kek = data.join("kek.key");
    let other = dir.path().join("other");
    admin_ok(&other, &["kek", "create"]);
    std::fs::copy(other.join("kek.key"), &kek).unwrap();
    let other_id = kek_id(&other);
    assert_ne!(id, other_id);
    let before = store_bytes(&data);

    for args in verbs() {
        let out = admin(&data, &args);
        let t = text(&out);
        assert_eq!(
            out.status.code(),
            Some(78),
            "{args:?} ran under another KEK (or not exit 78): {t}"
        );
        assert!(
            t.contains(&format!("belongs to KEK {id}"))
                && t.contains(&format!("configured KEK is {other_id}")),
            "{args:?}: {t}"
        );
    }
    let out = admin(&data, &["kek", "status"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("store belongs to KEK: {id}")),
        "{}",
        text(&out)
    );
    let out = daemon(&data, &["--check-config"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(text(&out).contains(&other_id), "{}", text(&out));
    assert_eq!(store_bytes(&data), before, "the store changed");
}

/// `--check-config` creates nothing: a data directory that does not exist
/// (a typo, or a new installation) is reported, and stays absent.
#[test]
fn check_config_creates_no_store() {
    let dir = short_tempdir();
    let data = dir.path().join("typo");
    let out = daemon(&data, &["--check-config"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
    assert!(!data.exists(), "--check-config created {}", data.display());
}

#[test]
fn kek_file_open_to_the_group_is_refused() {
    let dir = short_tempdir();
    let data = dir.path().join("store");
    admin_ok(&data, &["init"]);
    let kek = data.join("kek.key");
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o640)).unwrap();
    for out in [
        admin(&data, &["key", "list"]),
        daemon(&data, &["--check-config"]),
    ] {
        assert_eq!(out.status.code(), Some(78), "{}", text(&out));
        assert!(
            text(&out).contains("too open") && text(&out).contains(&kek.display().to_string()),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn check_config_opens_the_store_and_its_tls_files() {
    let dir = short_tempdir();
    let data = dir.path().join("store");
    // A fresh data directory: fine, the KEK is made at start-up.
    let out = daemon(&data, &["--check-config"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("created at start-up"), "{}", text(&out));
    assert!(!data.exists(), "--check-config created the data directory");
    admin_ok(&data, &["init"]);
    let out = daemon(&data, &["--check-config"]);
    assert!(
        out.status.success() && text(&out).contains("opens it"),
        "{}",
        text(&out)
    );
    // A TLS certificate that cannot be read fails the check, naming it.
    let conf = dir.path().join("sign.conf");
    let missing = dir.path().join("no-such-cert.pem");
    std::fs::write(
        &conf,
        format!(
            "proto: ssl\nssl_certfile: {0}\nssl_keyfile: {0}\n",
            missing.display()
        ),
    )
    .unwrap();
    let out = daemon(
        &data,
        &["--sign-conf", conf.to_str().unwrap(), "--check-config"],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&missing.display().to_string()),
        "{}",
        text(&out)
    );
    // A log file that cannot be opened fails the check, naming it (its
    // directory is a regular file: refused even for root).
    let not_dir = dir.path().join("not-a-dir");
    std::fs::write(&not_dir, "").unwrap();
    let conf = dir.path().join("log.conf");
    let log = not_dir.join("signd.log");
    std::fs::write(&conf, format!("logfile: {}\n", log.display())).unwrap();
    let out = daemon(
        &data,
        &["--sign-conf", conf.to_str().unwrap(), "--check-config"],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&log.display().to_string()),
        "{}",
        text(&out)
    );
}

/// `backup` copies a live store; the copy plus the KEK serves the same
/// bytes, the copy alone holds no secret and is refused without its KEK.
#[test]
fn backup_restores_with_its_kek_and_holds_nothing_without() {
    let dir = short_tempdir();
    let data = dir.path().join("store");
    let key = fixture("obs-sign-t-fixtures/secret-key.asc");
    admin_ok(&data, &["key", "import", "plain", key.to_str().unwrap()]);
    let id = kek_id(&data);
    // Taken while a server has the store open.
    let live = Daemon::start(&data, "");
    let backup = dir.path().join("backup.db");
    let out = admin_ok(&data, &["backup", backup.to_str().unwrap()]);
    assert!(out.contains("1 key(s)") && out.contains(&id), "{out}");
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "backup file mode");
    // A second backup to the same file is refused, naming it.
    let out = admin(&data, &["backup", backup.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&backup.display().to_string()),
        "{}",
        text(&out)
    );

    // Without the KEK, the copy holds no secret in plaintext, nor the KEK.
    let (mut secret, public) = key_material("secret-key.asc", None);
    secret.push((
        "the KEK".into(),
        std::fs::read(data.join("kek.key")).unwrap(),
    ));
    assert_scan(
        &[(backup.clone(), std::fs::read(&backup).unwrap())],
        &secret,
        &public,
    );
    // And is refused, naming the KEK it needs.
    let bare = dir.path().join("bare");
    std::fs::create_dir(&bare).unwrap();
    std::fs::copy(&backup, bare.join("signatrust.db")).unwrap();
    let out = admin(&bare, &["key", "list"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&id), "{}", text(&out));

    // Copy plus KEK: a server whose replies are byte for byte the same.
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&backup, restored.join("signatrust.db")).unwrap();
    std::fs::copy(data.join("kek.key"), restored.join("kek.key")).unwrap();
    let back = Daemon::start(&restored, "");
    let digest = hex::encode(openssl::sha::sha256(b"backup"));
    for request in [
        new_request(&["pubkey", "plain"]),
        old_request("plain", &format!("SHA256:{digest}@0065000000")),
        new_request(&["sign", "sha256:plain", &format!("{digest}@0065000000")]),
    ] {
        let (a, b) = (live.exchange(&request), back.exchange(&request));
        assert_eq!(parse_reply(&a).status, 0, "{:?}", parse_reply(&a));
        assert_eq!(a, b, "the restored server answers differently");
    }
}

/// A PostgreSQL store is not copied by `backup`: the error names pg_dump
/// (with a test server), or the cause when the server cannot be reached.
#[test]
fn backup_of_a_postgres_store_points_at_pg_dump() {
    let dir = short_tempdir();
    let mut urls = vec![("postgres://u@127.0.0.1:1/keys".to_owned(), "refused")];
    urls.extend(pg::scratch_database_blocking().map(|u| (u, "pg_dump")));
    for (url, says) in urls {
        let out = admin(
            &dir.path().join("data"),
            &[
                "--database-url",
                &url,
                "backup",
                dir.path().join("b.db").to_str().unwrap(),
            ],
        );
        assert!(!out.status.success(), "{}", text(&out));
        assert!(text(&out).contains(says), "{url}: {}", text(&out));
        assert!(!dir.path().join("b.db").exists());
    }
}

/// `[security] lock_memory`: the server's memory is locked (never
/// swapped), or start-up fails naming the limit and the remedy; never a
/// server that runs unlocked when it was told to lock.
#[test]
fn lock_memory_locks_or_refuses_loudly() {
    let dir = short_tempdir();
    let data = dir.path().join("store");
    admin_ok(&data, &["init"]);
    let conf = dir.path().join("lock.toml");
    std::fs::write(&conf, "[security]\nlock_memory = true\n").unwrap();
    // Root: the owner of /proc/self (no unsafe libc call in tests).
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0;

    // A finite limit without CAP_IPC_LOCK (dropped from the bounding set
    // when running as root): refused up front.
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--bounding-set", "-ipc_lock", "prlimit"]);
        c
    } else {
        Command::new("prlimit")
    };
    let out = cmd
        .arg("--memlock=65536:65536")
        .arg(env!("CARGO_BIN_EXE_signatrustd"))
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&conf)
        .arg("--check-config")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("lock_memory") && t.contains("65536") && t.contains("LimitMEMLOCK"),
        "{t}"
    );

    // Where locking is possible (root, as in CI), the server runs locked.
    if root {
        let daemon = Daemon::start(&data, "[security]\nlock_memory = true\n");
        let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid())).unwrap();
        let locked_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmLck:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmLck in /proc/PID/status");
        assert!(locked_kb > 1024, "VmLck {locked_kb} kB:\n{status}");
    }
}

/// Every rendering of a secret a log could carry: raw bytes, hex in either
/// case, and a `Debug` list of its first bytes.
fn renderings(secret: &[u8]) -> Vec<Vec<u8>> {
    let head = &secret[..12];
    let list = format!(
        "[{}",
        head.iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    vec![
        head.to_vec(),
        secret[secret.len() - 12..].to_vec(),
        hex::encode(head).into_bytes(),
        hex::encode_upper(head).into_bytes(),
        list.into_bytes(),
    ]
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

/// The fixture replay's requests at trace level on both backends: neither
/// the server's log, the admin's output, the database files nor a
/// PostgreSQL dump hold a secret MPI of the fixture keys or the KEK.
#[test]
fn trace_logs_and_stores_hold_no_secret() {
    let dir = short_tempdir();
    let mut urls = vec![None];
    urls.extend(pg::scratch_database_blocking().map(Some));
    for (i, url) in urls.into_iter().enumerate() {
        let data = dir.path().join(format!("store{i}"));
        let phrase = dir.path().join("phrase");
        std::fs::write(&phrase, "xxx\n").unwrap();
        let mut admin_text = Vec::new();
        for (name, file, pass) in [
            ("plain", "secret-key.asc", None),
            ("pass", "secret-key-passphrase.asc", Some(&phrase)),
        ] {
            let key = fixture(&format!("obs-sign-t-fixtures/{file}"));
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_signatrust-admin"));
            cmd.env("RUST_LOG", "trace").arg("--data-dir").arg(&data);
            if let Some(u) = &url {
                cmd.args(["--database-url", u]);
            }
            cmd.args(["key", "import", name, key.to_str().unwrap()]);
            if let Some(p) = pass {
                cmd.arg("--passphrase-file").arg(p);
            }
            let out = cmd.stdin(Stdio::null()).output().unwrap();
            assert!(out.status.success(), "{}", text(&out));
            admin_text.extend(out.stdout);
            admin_text.extend(out.stderr);
        }
        let store = match &url {
            Some(u) => format!("[store]\nurl = \"{u}\"\n"),
            None => String::new(),
        };
        let daemon = Daemon::start(&data, &format!("{store}[log]\nlevel = \"trace\"\n"));
        let digest = hex::encode(openssl::sha::sha256(b"scan"));
        for user in ["plain", "pass"] {
            for request in [
                new_request(&["pubkey", user]),
                old_request(user, &format!("SHA256:{digest}@0065000000")),
                new_request(&[
                    "sign",
                    &format!("sha256:{user}"),
                    &format!("{digest}@0065000000"),
                ]),
                new_request(&["keyid", user]),
            ] {
                daemon.exchange(&request);
            }
        }
        let log = daemon.log_text();
        // The control: the log holds the debug lines, the requests too.
        assert!(log.contains("DEBUG") && log.contains("plain"), "{log}");
        drop(daemon);

        let mut secrets = Vec::new();
        for (file, pass) in [
            ("secret-key.asc", None),
            ("secret-key-passphrase.asc", Some("xxx")),
        ] {
            secrets.extend(key_material(file, pass).0);
        }
        secrets.push((
            "the KEK".into(),
            std::fs::read(data.join("kek.key")).unwrap(),
        ));
        assert_clean("the server's trace log", log.as_bytes(), &secrets);
        assert_clean("the admin's output", &admin_text, &secrets);
        for (path, bytes) in read_all(&data) {
            if path.file_name().is_some_and(|n| n == "kek.key") {
                continue;
            }
            assert_clean(&path.display().to_string(), &bytes, &secrets);
        }
        if let Some(u) = &url {
            let dump = Command::new("pg_dump").arg(u).output().unwrap();
            assert!(dump.status.success(), "pg_dump: {}", text(&dump));
            let dump = dump.stdout;
            // The control: the dump holds the keys' public parts.
            let (_, public) = key_material("secret-key.asc", None);
            let n_hex = hex::encode(&public[0].1[..16]);
            assert!(contains(&dump, n_hex.as_bytes()), "the dump holds the rows");
            assert_clean("the PostgreSQL dump", &dump, &secrets);
        }
    }
}
