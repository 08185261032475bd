//! The key lifecycle of `signatrust-admin` as an operator lives it, against
//! real binaries: delete (refused while aliases point at the key, kept
//! restorable), restore, replace under a sign load from the real C client
//! (zero `unknown key`), extend (gpg and rpm 4.18 see the new expiry on the
//! key `pubkey` returns; signatures made before and after verify), aliases,
//! encryption keys, the default user, and bad input: each failure names the
//! thing, exits with the documented status (1 failure, 2 usage, 78
//! configuration) and leaves the store as it was; a closed stdout ends the
//! command quietly.
//!
//! The store is SQLite, and also PostgreSQL in a scratch database on the
//! server of `SIGNATRUST_TEST_PG_URL` (tests/support/pg.rs).

#[path = "support/client.rs"]
mod client;
#[path = "e2e_common.rs"]
mod common;
#[path = "support/pg.rs"]
mod pg;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

/// A store to run the admin tool against: a data dir (KEK file), and for
/// PostgreSQL a config naming the database.
struct Store {
    _dir: tempfile::TempDir,
    data: PathBuf,
    config: Option<PathBuf>,
    /// TOML for the daemon (`[store] url = ...`), empty for SQLite.
    store_toml: String,
    /// Prefix of every name, random on a shared PostgreSQL database.
    prefix: String,
}

impl Store {
    fn sqlite() -> Store {
        let dir = short_tempdir();
        Store {
            data: dir.path().join("data"),
            _dir: dir,
            config: None,
            store_toml: String::new(),
            prefix: String::new(),
        }
    }

    fn postgres() -> Option<Store> {
        // A scratch database each: a store belongs to one KEK, and each
        // test has its own data directory and so its own KEK file.
        let url = pg::scratch_database_blocking()?;
        let dir = short_tempdir();
        let store_toml = format!("[store]\nurl = \"{url}\"\n");
        let config = dir.path().join("admin.toml");
        std::fs::write(&config, &store_toml).unwrap();
        let mut rnd = [0u8; 4];
        openssl::rand::rand_bytes(&mut rnd).unwrap();
        Some(Store {
            data: dir.path().join("data"),
            _dir: dir,
            config: Some(config),
            store_toml,
            prefix: format!("pg{}-", hex::encode(rnd)),
        })
    }

    fn name(&self, n: &str) -> String {
        format!("{}{n}", self.prefix)
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c = Command::new(ADMIN);
        c.arg("--data-dir").arg(&self.data);
        if let Some(conf) = &self.config {
            c.arg("--config").arg(conf);
        }
        c.args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run signatrust-admin")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "signatrust-admin {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Asserts exit status `code` and a message naming every `names`.
    fn fails(&self, args: &[&str], code: i32, names: &[&str]) {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "signatrust-admin {args:?}: want exit {code}\nstdout: {}\nstderr: {err}",
            String::from_utf8_lossy(&out.stdout)
        );
        for n in names {
            assert!(
                err.contains(n),
                "{args:?}: message does not name {n:?}: {err}"
            );
        }
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }

    /// Everything an admin can see of the store, for our names only.
    fn snapshot(&self) -> String {
        let mine = |s: String| {
            s.lines()
                .filter(|l| self.prefix.is_empty() || l.contains(&self.prefix))
                .collect::<Vec<_>>()
                .join("\n")
        };
        format!(
            "{}\n--\n{}\n--\n{}\n--\n{}",
            mine(self.ok(&["key", "list"])),
            mine(self.ok(&["key", "list", "--deleted"])),
            mine(self.ok(&["alias", "list"])),
            mine(self.ok(&["enckey", "list"])),
        )
    }

    fn daemon(&self, extra: &str) -> Daemon {
        Daemon::start_with(&self.data, &self.store_toml, extra)
    }

    fn generate(&self, name: &str, ty: &str, extra: &[&str]) -> String {
        let mut args = vec![
            "key",
            "generate",
            name,
            "--type",
            ty,
            "--uid",
            "L <l@example.org>",
        ];
        args.extend_from_slice(extra);
        let out = self.ok(&args);
        fingerprint_in(&out)
    }
}

/// On a shared PostgreSQL database, the keys and aliases this test stored
/// (by their prefix) are destroyed afterwards; the one encryption key it
/// makes it deletes itself (other tests, e.g. the store's, expect every row
/// under their own KEK).
impl Drop for Store {
    fn drop(&mut self) {
        if self.prefix.is_empty() {
            return;
        }
        let ours = |args: &[&str]| -> Vec<String> {
            String::from_utf8_lossy(&self.run(args).stdout)
                .lines()
                .filter(|l| l.contains(&self.prefix))
                .map(|l| l.split('\t').next().unwrap_or("").to_owned())
                .collect()
        };
        for a in ours(&["alias", "list"]) {
            self.run(&["alias", "remove", &a]);
        }
        let mut keys = ours(&["key", "list"]);
        keys.extend(ours(&["key", "list", "--deleted"]));
        for k in keys {
            self.run(&["key", "delete", &k, "--now", "--force", "--yes"]);
        }
    }
}

fn fingerprint_in(out: &str) -> String {
    out.split_whitespace()
        .find(|w| w.len() == 40 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no fingerprint in {out:?}"))
        .to_owned()
}

fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

/// Signs `data` as `user` over the old protocol (SHA-256, now); the reply.
fn sign_req(daemon: &Daemon, user: &str, data: &[u8]) -> Reply {
    let time = now();
    let mut ctx = openssl::hash::Hasher::new(openssl::hash::MessageDigest::sha256()).unwrap();
    ctx.update(data).unwrap();
    ctx.update(&[0]).unwrap();
    ctx.update(&time.to_be_bytes()).unwrap();
    let d = ctx.finish().unwrap();
    let arg = format!("SHA256:{}@00{time:08x}", hex::encode(d));
    parse_reply(&daemon.exchange(&old_request(user, &arg)))
}

/// The armored key `pubkey` returns for `user`.
fn pubkey(daemon: &Daemon, user: &str) -> Vec<u8> {
    let r = parse_reply(&daemon.exchange(&new_request(&["pubkey", user])));
    assert_eq!(r.status, 0, "pubkey {user}: {r:?}");
    new_outputs(&r.out).remove(0)
}

/// The expiry gpg shows for the primary key of `asc` (epoch seconds).
fn gpg_expiry(asc: &[u8]) -> Option<i64> {
    let home = GpgHome::new();
    let f = home.path().join("k.asc");
    std::fs::write(&f, asc).unwrap();
    home.gpg_ok(&["--import", f.to_str().unwrap()]);
    let colons = home.gpg_ok(&["--with-colons", "--fixed-list-mode", "--list-keys"]);
    let colons = String::from_utf8(colons.stdout).unwrap();
    let line = colons.lines().find(|l| l.starts_with("pub:")).unwrap();
    line.split(':').nth(6).unwrap().parse().ok()
}

fn lifecycle(s: &Store) {
    let k = s.name("life");
    let al = s.name("life-alias");
    let fpr1 = s.generate(&k, "ed25519", &[]);
    s.ok(&["alias", "add", &al, &k]);
    let daemon = s.daemon("");
    assert_eq!(sign_req(&daemon, &k, b"x").status, 0);
    assert_eq!(sign_req(&daemon, &al, b"x").status, 0);

    // Deleting a key an alias points at is refused, naming the alias.
    let before = s.snapshot();
    s.fails(&["key", "delete", &k, "--yes"], 1, &[&k, &al, "--force"]);
    assert_eq!(s.snapshot(), before, "a refused delete changed the store");

    // --force: gone from the list and from the server at once (the
    // server's cache follows the store revision within a second).
    let out = s.ok(&["key", "delete", &k, "--yes", "--force"]);
    assert!(out.contains("restore"), "{out}");
    assert!(!s.ok(&["key", "list"]).contains(&fpr1));
    assert!(s.ok(&["key", "list", "--deleted"]).contains(&fpr1));
    std::thread::sleep(Duration::from_millis(1500));
    let r = sign_req(&daemon, &k, b"x");
    assert_eq!(r.err.trim_end(), format!("unknown key: {k}"), "{r:?}");
    s.fails(&["key", "show", &k], 1, &[&k]);

    // Restore brings back the same key; the server serves it again.
    s.ok(&["key", "restore", &k]);
    assert!(fingerprint_in(&s.ok(&["key", "show", &k])) == fpr1);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sign_req(&daemon, &k, b"x").status, 0);
    s.fails(&["key", "restore", &k], 1, &[&k]);

    // Replace: the new key serves; the old one is restorable only once the
    // name is free again.
    let out = s.ok(&[
        "key",
        "replace",
        &k,
        "--generate",
        "--type",
        "ed25519",
        "--uid",
        "New <n@example.org>",
    ]);
    let fpr2 = fingerprint_in(&out);
    assert_ne!(fpr1, fpr2);
    std::thread::sleep(Duration::from_millis(1500));
    let asc = String::from_utf8(pubkey(&daemon, &k)).unwrap();
    assert_eq!(asc, s.ok(&["key", "export", &k]), "pubkey after replace");
    // The refusal points at --swap, never at "delete it first" (deleting
    // would retire the replacement in place of the key to bring back).
    s.fails(&["key", "restore", &k], 1, &[&k, "exists", "--swap"]);

    // Undo the replace: the retired key is live again, served by the
    // server, and the replacement is the retired copy now.
    let out = s.ok(&["key", "restore", "--swap", &k]);
    assert!(out.contains(&fpr2), "{out}");
    assert_eq!(fingerprint_in(&s.ok(&["key", "show", &k])), fpr1);
    assert!(s.ok(&["key", "list", "--deleted"]).contains(&fpr2));
    std::thread::sleep(Duration::from_millis(1500));
    let r = sign_req(&daemon, &k, b"x");
    assert_eq!(r.status, 0, "{r:?}");
    assert_ne!(
        String::from_utf8(pubkey(&daemon, &k)).unwrap(),
        asc,
        "the server still serves the replacement"
    );
    // And back again: swaps are their own undo.
    s.ok(&["key", "restore", "--swap", &k]);
    assert_eq!(fingerprint_in(&s.ok(&["key", "show", &k])), fpr2);
    assert!(s.ok(&["key", "list", "--deleted"]).contains(&fpr1));

    // Deleting says which retired copy it discards (one per name).
    let out = s.ok(&["key", "delete", &k, "--yes", "--force"]);
    assert!(out.contains(&fpr1) && out.contains("discarded"), "{out}");
    s.ok(&["key", "delete", &k, "--yes", "--force", "--now"]);
    s.fails(&["key", "restore", &k], 1, &[&k]);
    s.fails(&["key", "restore", "--swap", &k], 1, &[&k]);

    // Unknown names: exit 1 naming the key, nothing changed.
    let before = s.snapshot();
    let nosuch = s.name("nosuch");
    for args in [
        vec!["key", "show", &nosuch],
        vec!["key", "export", &nosuch],
        vec!["key", "delete", &nosuch, "--yes"],
        vec!["key", "restore", &nosuch],
        vec!["key", "extend", &nosuch, "--days", "10"],
        vec!["alias", "remove", &nosuch],
        vec!["alias", "add", &al, &nosuch],
        vec!["enckey", "delete", &nosuch, "--yes"],
        vec!["default-user", "set", &nosuch],
    ] {
        s.fails(&args, 1, &[&nosuch]);
    }
    s.fails(
        &[
            "key",
            "replace",
            &nosuch,
            "--generate",
            "--type",
            "ed25519",
            "--uid",
            "X <x@x>",
        ],
        1,
        &[&nosuch],
    );
    assert_eq!(s.snapshot(), before, "failed verbs changed the store");
}

#[test]
fn delete_restore_replace_on_sqlite() {
    lifecycle(&Store::sqlite());
}

#[test]
fn delete_restore_replace_on_postgres() {
    let Some(s) = Store::postgres() else {
        eprintln!("SIGNATRUST_TEST_PG_URL not set; skipping");
        return;
    };
    lifecycle(&s);
    extend_and_names(&s);
}

/// `key replace` while four real `sign` clients sign in a loop: every
/// request gets a signature, by the old key or the new one; none gets
/// `unknown key`.
#[test]
fn replace_under_sign_load_never_answers_unknown_key() {
    let s = Store::sqlite();
    let k = "busy@example.org";
    s.generate(k, "ed25519", &[]);
    let daemon = s.daemon("");
    let work = short_tempdir();
    let conf = work.path().join("client.conf");
    std::fs::write(&conf, client::client_conf(daemon.addr.port())).unwrap();
    let file = work.path().join("data.txt");
    std::fs::write(&file, b"payload\n").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, conf, file) = (stop.clone(), conf.clone(), file.clone());
            std::thread::spawn(move || {
                let (mut ok, mut failures) = (0, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let out = Command::new(client::sign_client())
                        .arg("--config")
                        .arg(&conf)
                        .args(["-u", k, "-d"])
                        .arg(&file)
                        .stdin(Stdio::null())
                        .output()
                        .unwrap();
                    if out.status.success() {
                        ok += 1;
                    } else {
                        failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
                    }
                }
                (ok, failures)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut fprs = Vec::new();
    for _ in 0..3 {
        let out = s.ok(&[
            "key",
            "replace",
            k,
            "--generate",
            "--type",
            "ed25519",
            "--uid",
            "Busy <b@example.org>",
        ]);
        fprs.push(fingerprint_in(&out));
        std::thread::sleep(Duration::from_millis(400));
    }
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failures) = (0, Vec::new());
    for w in workers {
        let (o, f) = w.join().unwrap();
        ok += o;
        failures.extend(f);
    }
    assert!(ok > 20, "only {ok} signatures during the replaces");
    assert!(
        failures.is_empty(),
        "{} of {} requests failed, e.g.: {:?}\nlog:\n{}",
        failures.len(),
        ok + failures.len(),
        &failures[..failures.len().min(3)],
        daemon.log_text()
    );
    // After the last replace (and the cache poll), the server signs with
    // the newest key: gpg with only its public key verifies.
    let home = GpgHome::new();
    let asc = home.path().join("k.asc");
    std::fs::write(&asc, pubkey(&daemon, k)).unwrap();
    home.gpg_ok(&["--import", asc.to_str().unwrap()]);
    let r = sign_req(&daemon, k, b"after");
    assert_eq!(r.status, 0);
    let colons = String::from_utf8(home.gpg_ok(&["--with-colons", "--list-keys"]).stdout).unwrap();
    assert!(colons.contains(fprs.last().unwrap()), "{colons}");
}

/// `key extend`: the key `pubkey` returns carries the new expiry for gpg
/// and for rpm 4.18 (which imports it and keeps exactly it); signatures
/// made before and after the extension verify with it.
fn extend_and_names(s: &Store) {
    let k = s.name("ext");
    s.generate(&k, "rsa2048", &["--expire", "10", "--encryption-subkey"]);
    let daemon = s.daemon("");
    let old_asc = pubkey(&daemon, &k);
    let old_exp = gpg_expiry(&old_asc).expect("expires");
    let before = sign_req(&daemon, &k, b"before\n");
    assert_eq!(before.status, 0);

    // "extend" never shortens by mistake: a new expiry before the key's
    // own is refused, naming both dates, unless --shorten.
    let before_ext = s.snapshot();
    s.fails(
        &["key", "extend", &k, "--days", "3"],
        1,
        &[&k, "--shorten", "sooner"],
    );
    assert_eq!(
        s.snapshot(),
        before_ext,
        "a refused extend changed the store"
    );
    let out = s.ok(&["key", "extend", &k, "--days", "400"]);
    assert!(out.contains(&k), "{out}");
    std::thread::sleep(Duration::from_millis(1500));
    let new_asc = pubkey(&daemon, &k);
    let new_exp = gpg_expiry(&new_asc).expect("still expires");
    let want = i64::from(now()) + 400 * 86400;
    assert!(
        (new_exp - want).abs() < 120,
        "gpg sees expiry {new_exp}, want about {want} (was {old_exp})"
    );
    let show = s.ok(&["key", "show", &k, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(v["subkeys"][0]["expires"], v["expires"], "{show}");

    // rpm 4.18 imports the extended key (its parser refuses critical
    // subpackets it does not know) and stores exactly it.
    let dir = short_tempdir();
    let asc = dir.path().join("k.asc");
    std::fs::write(&asc, &new_asc).unwrap();
    let db = dir.path().join("rpmdb");
    std::fs::create_dir_all(&db).unwrap();
    let rpm = Command::new("rpmkeys")
        .arg("--dbpath")
        .arg(&db)
        .arg("--import")
        .arg(&asc)
        .output()
        .unwrap();
    assert!(
        rpm.status.success(),
        "{}",
        String::from_utf8_lossy(&rpm.stderr)
    );
    let q = Command::new("rpm")
        .arg("--dbpath")
        .arg(&db)
        .args(["-q", "gpg-pubkey", "--qf", "%{DESCRIPTION}"])
        .output()
        .unwrap();
    let stored = String::from_utf8_lossy(&q.stdout).into_owned();
    assert_eq!(
        gpg_expiry(stored.as_bytes()),
        Some(new_exp),
        "rpm stored another key:\n{stored}"
    );

    // Both signatures verify with the extended key.
    let after = sign_req(&daemon, &k, b"after\n");
    assert_eq!(after.status, 0);
    let home = GpgHome::new();
    let f = home.path().join("k.asc");
    std::fs::write(&f, &new_asc).unwrap();
    home.gpg_ok(&["--import", f.to_str().unwrap()]);
    home.assert_verifies(&before.out, b"before\n", "signature made before extend");
    home.assert_verifies(&after.out, b"after\n", "signature made after extend");

    // Names: an alias must point at something; :enc aliases may point at
    // an encryption key; bad names are usage errors naming the value.
    let enc = s.ok(&["enckey", "generate"]);
    let id = enc.lines().next().unwrap().trim().to_owned();
    assert_eq!(id.len(), 16, "{enc}");
    let enc_alias = format!(":enc:{k}");
    s.ok(&["alias", "add", &enc_alias, &id]);
    assert!(s
        .ok(&["alias", "list"])
        .contains(&format!("{enc_alias}\t{id}")));
    assert!(s.ok(&["enckey", "list"]).contains(&id));
    s.fails(&["enckey", "delete", &id, "--yes"], 1, &[&id, &enc_alias]);
    s.ok(&["alias", "remove", &enc_alias]);
    s.ok(&["enckey", "delete", &id, "--yes"]);
    assert!(!s.ok(&["enckey", "list"]).contains(&id));
    for bad in ["a/b", ".hidden", "", "sha256:x", "x\u{1}y"] {
        s.fails(&["alias", "add", bad, &k], 2, &[&format!("{bad:?}")]);
        s.fails(
            &[
                "key", "generate", bad, "--type", "ed25519", "--uid", "U <u@x>",
            ],
            2,
            &[&format!("{bad:?}")],
        );
    }
    s.fails(&["alias", "add", ":other", &k], 2, &[":other"]);
}

#[test]
fn extend_and_names_on_sqlite() {
    extend_and_names(&Store::sqlite());
}

/// `--expiring-within D --by N`: `--dry-run` changes nothing; the run
/// extends exactly the keys that expire within D days.
#[test]
fn extend_expiring_within() {
    let s = Store::sqlite();
    s.generate("soon", "ed25519", &["--expire", "5"]);
    s.generate("later", "ed25519", &["--expire", "100"]);
    s.generate("never", "ed25519", &[]);
    let before = s.ok(&["key", "list", "--json"]);
    let dry = s.ok(&[
        "key",
        "extend",
        "--expiring-within",
        "30",
        "--by",
        "365",
        "--dry-run",
    ]);
    assert!(
        dry.contains("soon") && !dry.contains("later") && !dry.contains("never\t"),
        "{dry}"
    );
    assert_eq!(
        s.ok(&["key", "list", "--json"]),
        before,
        "--dry-run changed keys"
    );
    let out = s.ok(&["key", "extend", "--expiring-within", "30", "--by", "365"]);
    assert!(out.contains("extended 1 of 1"), "{out}");
    // Then "later" (100 days) is in a 200-day window but expires after a
    // new 50-day expiry: left alone, never shortened.
    let out = s.ok(&["key", "extend", "--expiring-within", "200", "--by", "50"]);
    assert!(
        out.contains("later expires") && out.contains("left as it is"),
        "{out}"
    );
    // A key that never expires gets no expiry from "extend".
    s.fails(
        &["key", "extend", "never", "--days", "30"],
        1,
        &["never", "--shorten"],
    );
    let list: serde_json::Value = serde_json::from_str(&s.ok(&["key", "list", "--json"])).unwrap();
    let exp = |n: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == n)
            .unwrap()["expires"]
            .clone()
    };
    let old: serde_json::Value = serde_json::from_str(&before).unwrap();
    let old_exp = |n: &str| {
        old.as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == n)
            .unwrap()["expires"]
            .clone()
    };
    assert_ne!(exp("soon"), old_exp("soon"));
    assert_eq!(exp("later"), old_exp("later"));
    assert_eq!(exp("never"), serde_json::Value::Null);
    assert!(exp("soon").as_str().unwrap() > exp("later").as_str().unwrap());
}

/// Bad input: the documented exit status, a message naming the thing, no
/// change to the store; a closed stdout ends quietly.
#[test]
fn bad_input_and_closed_stdout() {
    bad_input(&Store::sqlite());
}

#[test]
fn bad_input_and_closed_stdout_on_postgres() {
    match Store::postgres() {
        Some(s) => bad_input(&s),
        None => eprintln!("SIGNATRUST_TEST_PG_URL not set; skipping"),
    }
}

fn bad_input(s: &Store) {
    let (k, n, piped) = (s.name("k"), s.name("n"), s.name("piped"));
    let (k, n, piped) = (k.as_str(), n.as_str(), piped.as_str());
    s.generate(k, "ed25519", &[]);
    let before = s.snapshot();
    let dir = short_tempdir();
    let missing = dir.path().join("missing.asc");
    let missing = missing.to_str().unwrap();
    s.fails(&["key", "import", n, missing], 1, &[missing]);
    s.fails(&["key", "replace", k, missing], 1, &[missing]);
    s.fails(&["enckey", "import", missing], 1, &[missing]);
    s.fails(
        &[
            "key", "generate", n, "--type", "rsa1024", "--uid", "U <u@x>",
        ],
        2,
        &["rsa1024"],
    );
    s.fails(&["key", "export", k, "--format", "der"], 2, &["der"]);
    s.fails(&["key", "frobnicate"], 2, &["frobnicate"]);
    let protected = fixture("obs-sign-t-fixtures/secret-key-passphrase.asc");
    let protected = protected.to_str().unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "nope\n").unwrap();
    let wrong = wrong.to_str().unwrap();
    s.fails(
        &["key", "import", n, protected, "--passphrase-file", wrong],
        1,
        &[protected, "passphrase"],
    );
    s.fails(
        &["key", "replace", k, protected, "--passphrase-file", wrong],
        1,
        &[protected, "passphrase"],
    );
    // A configuration error is 78 (EX_CONFIG), for both binaries.
    let bad_conf = dir.path().join("bad.toml");
    std::fs::write(&bad_conf, "[store]\nurl = 5\n").unwrap();
    let out = Command::new(ADMIN)
        .arg("--config")
        .arg(&bad_conf)
        .args(["key", "list"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(78),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(bad_conf.to_str().unwrap()));
    let out = Command::new(DAEMON)
        .arg("--config")
        .arg(&bad_conf)
        .arg("--check-config")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(78),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.snapshot(), before, "bad input changed the store");

    // Closed stdout (`… | true`): exit 0, nothing on stderr, and a
    // generate still stores its key exactly once.
    for args in [
        vec!["key", "export", k],
        vec!["key", "list", "--json"],
        vec!["key", "show", k],
        vec![
            "key",
            "generate",
            piped,
            "--type",
            "ed25519",
            "--uid",
            "P <p@x>",
            "--revocation-cert",
        ],
    ] {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if args.last().map(String::as_str) == Some("--revocation-cert") {
            args.push(dir.path().join("piped.rev").to_str().unwrap().to_owned());
        }
        let mut cmd = Command::new(ADMIN);
        cmd.arg("--data-dir").arg(&s.data);
        if let Some(c) = &s.config {
            cmd.arg("--config").arg(c);
        }
        let mut child = cmd
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before any output
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{args:?} into a closed pipe: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(s
        .ok(&["key", "list"])
        .lines()
        .any(|l| l.starts_with(&format!("{piped}\t"))));
    // signatrustd --check-config | true
    let mut child = Command::new(DAEMON)
        .arg("--data-dir")
        .arg(&s.data)
        .arg("--check-config")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "--check-config into a closed pipe: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let rev = std::fs::read_to_string(dir.path().join("piped.rev")).unwrap();
    assert!(
        rev.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----"),
        "{rev}"
    );
}

/// The revocation certificate `key generate` saves revokes the key in gpg.
#[test]
fn revocation_certificate_revokes_in_gpg() {
    let s = Store::sqlite();
    let out = s.ok(&[
        "key", "generate", "r", "--type", "ed25519", "--uid", "R <r@x>",
    ]);
    let path: &Path = Path::new(
        out.lines()
            .find_map(|l| l.strip_prefix("revocation certificate: "))
            .unwrap(),
    );
    assert!(path.starts_with(&s.data), "{out}");
    let home = GpgHome::new();
    let asc = home.path().join("k.asc");
    std::fs::write(&asc, s.ok(&["key", "export", "r"])).unwrap();
    home.gpg_ok(&["--import", asc.to_str().unwrap()]);
    home.gpg_ok(&["--import", path.to_str().unwrap()]);
    let colons = String::from_utf8(home.gpg_ok(&["--with-colons", "--list-keys"]).stdout).unwrap();
    let pub_line = colons.lines().find(|l| l.starts_with("pub:")).unwrap();
    assert_eq!(
        pub_line.split(':').nth(1),
        Some("r"),
        "not revoked: {colons}"
    );
    // A second generate does not overwrite it.
    s.ok(&["key", "delete", "r", "--yes", "--now"]);
    s.fails(
        &[
            "key", "generate", "r", "--type", "ed25519", "--uid", "R <r@x>",
        ],
        1,
        &[path.to_str().unwrap()],
    );
}

/// The store's default user serves requests with an empty user.
#[test]
fn default_user_serves_empty_user() {
    let s = Store::sqlite();
    s.generate("dflt", "ed25519", &[]);
    s.fails(&["default-user", "show"], 1, &["default user"]);
    s.ok(&["default-user", "set", "dflt"]);
    assert_eq!(s.ok(&["default-user", "show"]).trim(), "dflt");
    let daemon = s.daemon("");
    let r = sign_req(&daemon, "", b"x");
    assert_eq!(r.status, 0, "{r:?}");
    s.ok(&["default-user", "set", "--clear"]);
    std::thread::sleep(Duration::from_millis(1500));
    let r = sign_req(&daemon, "", b"x");
    assert_ne!(r.status, 0, "{r:?}");
}

/// A key made by gpg that expired long ago (the obs-sign fixture, created
/// 1970): `key extend` revives it; gpg and rpm 4.18 accept the key
/// `pubkey` returns, with the new expiry on key and subkey, and a
/// signature the server makes with it verifies.
#[test]
fn extend_revives_an_expired_gpg_key() {
    let s = Store::sqlite();
    let key = fixture("obs-sign-t-fixtures/secret-key-expired.asc");
    s.ok(&["key", "import", "old", key.to_str().unwrap()]);
    let daemon = s.daemon("");
    let expired = pubkey(&daemon, "old");
    assert!(
        gpg_expiry(&expired).unwrap() < i64::from(now()),
        "fixture not expired"
    );
    s.ok(&["key", "extend", "old", "--days", "30"]);
    std::thread::sleep(Duration::from_millis(1500));
    let asc = pubkey(&daemon, "old");
    let want = i64::from(now()) + 30 * 86400;
    let got = gpg_expiry(&asc).unwrap();
    assert!(
        (got - want).abs() < 120,
        "gpg sees {got}, want about {want}"
    );
    let home = GpgHome::new();
    let f = home.path().join("k.asc");
    std::fs::write(&f, &asc).unwrap();
    home.gpg_ok(&["--import", f.to_str().unwrap()]);
    let colons = String::from_utf8(
        home.gpg_ok(&["--with-colons", "--fixed-list-mode", "--list-keys"])
            .stdout,
    )
    .unwrap();
    for l in colons
        .lines()
        .filter(|l| l.starts_with("pub:") || l.starts_with("sub:"))
    {
        let f: Vec<&str> = l.split(':').collect();
        assert_ne!(f[1], "e", "still expired: {l}");
        assert_eq!(f[6].parse::<i64>().ok(), Some(got), "{l}");
    }
    let r = sign_req(&daemon, "old", b"revived\n");
    assert_eq!(r.status, 0, "{r:?}");
    home.assert_verifies(&r.out, b"revived\n", "signature by the revived key");
    let dir = short_tempdir();
    let db = dir.path().join("rpmdb");
    std::fs::create_dir_all(&db).unwrap();
    let rpm = Command::new("rpmkeys")
        .arg("--dbpath")
        .arg(&db)
        .arg("--import")
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        rpm.status.success(),
        "{}",
        String::from_utf8_lossy(&rpm.stderr)
    );
}

/// Runs the admin tool on a terminal (util-linux `script`), typing `input`.
fn on_terminal(s: &Store, args: &str, input: &str) -> Output {
    use std::io::Write;
    let cmd = format!("{ADMIN} --data-dir {} {args}", s.data.display());
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script(1)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// On a terminal, a protected key's passphrase is asked (never a flag),
/// and `key delete` asks before deleting: "n" keeps the key.
#[test]
fn terminal_prompts_for_passphrase_and_delete() {
    let s = Store::sqlite();
    let key = fixture("obs-sign-t-fixtures/secret-key-passphrase.asc");
    let out = on_terminal(&s, &format!("key import k {}", key.display()), "xxx\n");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("passphrase for"), "{text}");
    assert!(s.ok(&["key", "list"]).starts_with("k\t"));
    let out = on_terminal(&s, "key delete k", "n\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("[y/N]"));
    assert!(s.ok(&["key", "list"]).starts_with("k\t"), "deleted after n");
    let out = on_terminal(&s, "key delete k", "y\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(s.ok(&["key", "list"]).is_empty());
}

/// `kek status --json` for scripts; a key cannot take an alias's name
/// (clients asking for it would get the alias target).
#[test]
fn kek_status_json_and_keys_named_like_aliases() {
    let s = Store::sqlite();
    s.generate("k", "ed25519", &[]);
    s.ok(&["alias", "add", "al", "k"]);
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["kek", "status", "--json"])).unwrap();
    assert_eq!(v["opens"], true, "{v}");
    assert_eq!(v["wrapped"][0]["keys"], 1, "{v}");
    assert_eq!(v["wrapped"][0]["configured"], true, "{v}");
    assert_eq!(v["wrapped"][0]["kek_id"], v["kek_id"], "{v}");
    let before = s.snapshot();
    s.fails(
        &[
            "key", "generate", "al", "--type", "ed25519", "--uid", "U <u@x>",
        ],
        1,
        &["al", "alias"],
    );
    let key = fixture("obs-sign-t-fixtures/secret-key.asc");
    s.fails(
        &["key", "import", "al", key.to_str().unwrap()],
        1,
        &["al", "alias"],
    );
    s.fails(&["alias", "add", "k", "k"], 1, &["k"]);
    assert_eq!(s.snapshot(), before);
}
