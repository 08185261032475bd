//! The store's database chosen at run time, on both backends: the
//! `--database-url` flag and `$SIGNATRUST_DATABASE_URL` (over `[store]
//! url`), `signatrust-admin db status|migrate`, and an admin and a server
//! sharing one store. Each test runs on SQLite and, with
//! `$SIGNATRUST_TEST_PG_URL` (always in CI), on a scratch PostgreSQL
//! database.

#[path = "e2e_common.rs"]
mod common;
#[path = "support/pg.rs"]
mod pg;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

const UID: &str = "Store <store@example.org>";

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A SQLite file outside the data directory, and a scratch PostgreSQL
/// database when there is a test server.
fn stores(dir: &Path) -> Vec<String> {
    let mut v = vec![format!("sqlite://{}/elsewhere.db", dir.display())];
    v.extend(pg::scratch_database_blocking());
    v
}

fn admin_at(data: &Path, url: &str, args: &[&str]) -> Output {
    let mut all = vec!["--database-url", url];
    all.extend_from_slice(args);
    admin(data, &all)
}

#[test]
fn db_status_and_migrate_on_each_backend() {
    let dir = short_tempdir();
    let data = dir.path().join("data");
    for url in stores(dir.path()) {
        let out = admin_at(&data, &url, &["db", "status"]);
        let t = text(&out);
        if url.starts_with("sqlite:") {
            // A SQLite file that does not exist is no store: named, not made.
            assert_eq!(out.status.code(), Some(78), "{url}: {t}");
            assert!(t.contains("no key store at"), "{url}: {t}");
            assert!(!dir.path().join("elsewhere.db").exists(), "{url}: made");
        } else {
            assert_eq!(out.status.code(), Some(1), "{url}: {t}");
            assert!(
                t.contains("0001 keys") && t.contains("pending") && !t.contains("applied"),
                "{url}: a new database has every migration pending: {t}"
            );
        }
        let out = admin_at(&data, &url, &["db", "migrate"]);
        assert!(out.status.success(), "{url}: {}", text(&out));
        let out = admin_at(&data, &url, &["db", "status"]);
        let t = text(&out);
        assert!(out.status.success(), "{url}: {t}");
        assert!(
            t.contains("schema up to date") && !t.contains("pending"),
            "{url}: {t}"
        );
        // The password never shows.
        assert!(!t.contains(":signatrust@"), "{url}: {t}");
    }
    // The flag won: nothing was made in the data directory, not even the
    // directory (`db migrate` makes the directory of the SQLite file it
    // creates, and none for PostgreSQL).
    assert!(!data.exists(), "{} was made", data.display());
    assert!(dir.path().join("elsewhere.db").exists());
}

#[test]
fn admin_and_server_share_the_store_the_url_names() {
    let dir = short_tempdir();
    for (i, url) in stores(dir.path()).into_iter().enumerate() {
        let data = dir.path().join(format!("data{i}"));
        let out = admin_at(
            &data,
            &url,
            &[
                "key", "generate", "shared", "--type", "ed25519", "--uid", UID,
            ],
        );
        assert!(out.status.success(), "{url}: {}", text(&out));
        // The environment variable names the same store.
        let out = Command::new(env!("CARGO_BIN_EXE_signatrust-admin"))
            .args(["--data-dir", data.to_str().unwrap(), "key", "list"])
            .env("SIGNATRUST_DATABASE_URL", &url)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success() && text(&out).contains("shared"),
            "{url}: {}",
            text(&out)
        );
        // Without either, the data directory's own store, which does not
        // exist: refused, naming it, and not made.
        let out = admin(&data, &["key", "list"]);
        let own = data.join("signatrust.db");
        assert_eq!(out.status.code(), Some(78), "{url}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("no key store at {}", own.display())),
            "{url}: {}",
            text(&out)
        );
        assert!(!own.exists());
        // The server's check opens that store with the data directory's KEK.
        let out = Command::new(env!("CARGO_BIN_EXE_signatrustd"))
            .args(["--data-dir", data.to_str().unwrap(), "--database-url", &url])
            .arg("--check-config")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success() && text(&out).contains("opens it"),
            "{url}: {}",
            text(&out)
        );
        // And serves the key from it.
        let daemon = Daemon::start(&data, &format!("[store]\nurl = \"{url}\"\n"));
        let r = parse_reply(&daemon.exchange(&new_request(&["pubkey", "shared"])));
        assert_eq!(r.status, 0, "{url}: pubkey: {r:?}");
        let exported = admin_at(&data, &url, &["key", "export", "shared"]);
        assert!(exported.status.success(), "{}", text(&exported));
        let outs = new_outputs(&r.out);
        let armored = String::from_utf8_lossy(&outs[0]);
        assert_eq!(
            armored.trim(),
            String::from_utf8_lossy(&exported.stdout).trim(),
            "{url}: the server's pubkey is the admin's export"
        );
    }
}

#[test]
fn a_bad_database_url_names_its_origin_and_hides_the_password() {
    let dir = short_tempdir();
    let data = dir.path().join("data");
    let out = admin_at(&data, "mysql://u:hunter2@db/keys", &["key", "list"]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("--database-url") && t.contains("mysql://u:***@db/keys"),
        "{t}"
    );
    assert!(!t.contains("hunter2"), "{t}");
    // An unreachable server: the cause, at once, not a pool timeout.
    let out = admin_at(
        &data,
        "postgres://u:hunter2@127.0.0.1:1/keys",
        &["key", "list"],
    );
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("refused") && !t.contains("timed out") && !t.contains("hunter2"),
        "{t}"
    );
    // An in-memory SQLite store would be a store nobody else sees: refused
    // by every verb, making nothing (sqlx names it `file:sqlx-in-memory-N`,
    // which was created as a file in the working directory).
    for verb in [
        &["key", "list"][..],
        &["init"],
        &["key", "generate", "m", "--type", "ed25519", "--uid", UID],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_signatrust-admin"))
            .args([
                "--data-dir",
                data.to_str().unwrap(),
                "--database-url",
                "sqlite::memory:",
            ])
            .args(verb)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let t = text(&out);
        assert!(!out.status.success(), "{verb:?}: {t}");
        assert!(
            t.contains("in-memory SQLite databases are not supported"),
            "{verb:?}: {t}"
        );
    }
    let made: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "data")
        .collect();
    assert!(made.is_empty(), "made {made:?}");
    assert!(
        !data.join("kek.key").exists(),
        "a KEK for an in-memory store"
    );
}

/// Two servers on one PostgreSQL store, caches warm and a cache TTL of
/// five minutes: a key deleted and an alias moved with `signatrust-admin`
/// are seen by both within seconds (the change feed), not after the TTL.
#[test]
fn two_servers_see_admin_changes_at_once() {
    let Some(url) = pg::scratch_database_blocking() else {
        return;
    };
    let dir = short_tempdir();
    let data = dir.path().join("data");
    for name in ["k1", "k2"] {
        let out = admin_at(
            &data,
            &url,
            &["key", "generate", name, "--type", "ed25519", "--uid", UID],
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = admin_at(&data, &url, &["alias", "set", "al", "k1"]);
    assert!(out.status.success(), "{}", text(&out));
    let toml = format!("[store]\nurl = \"{url}\"\n[cache]\nttl_secs = 300\n");
    let servers = [Daemon::start(&data, &toml), Daemon::start(&data, &toml)];
    let pubkey = |d: &Daemon, user: &str| {
        let r = parse_reply(&d.exchange(&new_request(&["pubkey", user])));
        (r.status == 0).then(|| new_outputs(&r.out).remove(0))
    };
    let k2 = pubkey(&servers[0], "k2").expect("k2 is served");
    for s in &servers {
        // Warm every cache: key rows, the alias.
        assert!(pubkey(s, "k1").is_some() && pubkey(s, "al").is_some());
    }

    // The alias first: a key aliases point at is not deleted.
    let out = admin_at(&data, &url, &["alias", "set", "al", "k2"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = admin_at(&data, &url, &["key", "delete", "k1", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let started = std::time::Instant::now();
    let bound = std::time::Duration::from_secs(5);
    for (i, s) in servers.iter().enumerate() {
        loop {
            let gone = pubkey(s, "k1").is_none();
            let moved = pubkey(s, "al").as_ref() == Some(&k2);
            if gone && moved {
                break;
            }
            assert!(
                started.elapsed() < bound,
                "server {i} still serves the old k1 or alias after {bound:?}:\n{}",
                s.log_text()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let r = parse_reply(&s.exchange(&new_request(&["pubkey", "k1"])));
        assert_eq!(r.err, "unknown key: k1\n", "server {i}");
    }
    println!("both servers saw the changes after {:?}", started.elapsed());

    // The feed's connection is cut (as by a database restart): the servers
    // reconnect, and a change made after that is seen too.
    let cut = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            let cut: Vec<(bool,)> = sqlx::query_as(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .fetch_all(&mut c)
            .await
            .unwrap();
            cut.len()
        });
    assert!(cut >= 2, "the two feeds' connections were cut ({cut})");
    let out = admin_at(&data, &url, &["alias", "remove", "al"]);
    assert!(out.status.success(), "{}", text(&out));
    let started = std::time::Instant::now();
    let bound = std::time::Duration::from_secs(15);
    for (i, s) in servers.iter().enumerate() {
        while pubkey(s, "al").is_some() {
            assert!(
                started.elapsed() < bound,
                "server {i} still serves the removed alias after {bound:?}:\n{}",
                s.log_text()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    println!("after the cut: {:?}", started.elapsed());
}
