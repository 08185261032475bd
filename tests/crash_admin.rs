//! Crash consistency of `signatrust-admin`: SIGKILL in the middle of a
//! large `import-signd` (SQLite, and PostgreSQL for the kills between its
//! steps), of `key delete` (retire, `--now`, `--force` past an alias) and
//! of `key replace`, at several points each (fractions of the time an
//! uninterrupted run takes, and progress lines). After every kill the
//! store must be consistent: `PRAGMA integrity_check` (SQLite), `db
//! status`, `kek status` (every row under the store's KEK), `audit
//! verify`, each key's key-ID rows present, every alias resolving, every
//! stored key signing through `signatrustd` with the fingerprint gpg lists
//! for its user (no half-imported key), and a single-key verb leaves the
//! store as before or as after, nothing in between. Running the verb
//! again then completes it: the store equals the one an uninterrupted run
//! leaves (a dump of every table but the audit trail, wrapped secrets and
//! timestamps, which differ from run to run by design).

#[path = "e2e_common.rs"]
mod common;
#[path = "support/pg.rs"]
mod pg;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Keys of the generated signd home: three of import-signd's batches (500
/// keys a transaction), so that kills land between them.
const KEYS: usize = 1200;
/// Aliases of the signd home (`aliasN` -> user N).
const ALIASES: usize = 20;
/// Where the kills land, as fractions of an uninterrupted run.
const KILL_AT: [f64; 7] = [0.02, 0.1, 0.25, 0.45, 0.65, 0.85, 1.0];

fn user(i: usize) -> String {
    format!("crash{i}@example.org")
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A store under test: a data directory (its KEK, and its SQLite file
/// unless `url` names a PostgreSQL database).
struct Store {
    data: PathBuf,
    url: Option<String>,
}

impl Store {
    /// The admin's arguments for this store.
    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = Vec::new();
        if let Some(u) = &self.url {
            all.extend(["--database-url", u.as_str()]);
        }
        all.extend_from_slice(args);
        all
    }

    fn admin(&self, args: &[&str]) -> Output {
        admin(&self.data, &self.args(args))
    }

    fn admin_ok(&self, args: &[&str]) -> String {
        admin_ok(&self.data, &self.args(args))
    }

    fn daemon(&self) -> Daemon {
        let toml = self
            .url
            .as_ref()
            .map_or(String::new(), |u| format!("[store]\nurl = \"{u}\"\n"));
        Daemon::start(&self.data, &toml)
    }

    /// Runs SQL (SQLite's dialect; `hex(x)` is translated for PostgreSQL)
    /// with sqlite3 or psql: each row one `|`-separated line.
    fn sql(&self, sql: &str) -> String {
        let out = match &self.url {
            None => Command::new("sqlite3")
                .arg(self.data.join("signatrust.db"))
                .arg(sql)
                .output()
                .expect("run sqlite3"),
            Some(u) => Command::new("psql")
                .args([
                    u.as_str(),
                    "-X",
                    "-q",
                    "-At",
                    "-F",
                    "|",
                    "-v",
                    "ON_ERROR_STOP=1",
                ])
                .arg("-c")
                .arg(
                    sql.replace("hex(public)", "upper(encode(public, 'hex'))")
                        .replace("count(*)", "count(*)::int"),
                )
                .output()
                .expect("run psql"),
        };
        assert!(out.status.success(), "{sql}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The store's content that a run must reproduce: every table but the
    /// audit trail, without wrapped secrets (fresh data keys each run) and
    /// times.
    fn snapshot(&self) -> String {
        [
            "SELECT 'key', name, fingerprint, algo, user_ids, hex(public), decrypt_only \
             FROM keys ORDER BY name;",
            "SELECT 'key_id', name, key_id FROM key_ids ORDER BY name, key_id;",
            "SELECT 'alias', alias, target FROM aliases ORDER BY alias;",
            "SELECT 'enckey', id FROM encryption_keys ORDER BY id;",
            "SELECT 'deleted', name, fingerprint, user_ids, hex(public) FROM deleted_keys \
             ORDER BY name;",
            "SELECT 'setting', name, value FROM settings ORDER BY name;",
            "SELECT 'canary', role, kek_id FROM kek_canary ORDER BY role;",
            "SELECT 'rotation', count(*) FROM kek_rotation;",
        ]
        .iter()
        .map(|q| self.sql(q))
        .collect()
    }

    /// A copy of `self` (no process has it open) at `to`: the data
    /// directory copied; on PostgreSQL a new, empty database (the
    /// template stores hold no rows there).
    fn copy_to(&self, to: &Path) -> Store {
        std::fs::create_dir(to).unwrap();
        std::fs::set_permissions(to, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        for entry in std::fs::read_dir(&self.data).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
        Store {
            data: to.to_owned(),
            url: self
                .url
                .as_ref()
                .map(|_| pg::scratch_database_blocking().expect("a scratch database")),
        }
    }
}

/// Runs `signatrust-admin ARGS` on `store` and SIGKILLs it after `after`
/// (unless it finished first: then `false`).
fn run_killed(store: &Store, args: &[&str], after: Duration) -> bool {
    let log = std::fs::File::create(store.data.with_extension("log")).unwrap();
    let mut child: Child = Command::new(ADMIN)
        .arg("--data-dir")
        .arg(&store.data)
        .args(store.args(args))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill(); // SIGKILL
    child.wait().unwrap();
    !finished
}

/// Runs `signatrust-admin ARGS` on `store` and SIGKILLs it as soon as its
/// stdout shows the `nth` line containing `needle`.
fn run_killed_on_line(store: &Store, args: &[&str], needle: &str, nth: usize) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(ADMIN)
        .arg("--data-dir")
        .arg(&store.data)
        .args(store.args(args))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = 0;
    for line in stdout.lines() {
        if line.unwrap().contains(needle) {
            seen += 1;
            if seen == nth {
                break;
            }
        }
    }
    assert_eq!(seen, nth, "{needle:?} seen {seen} times, not {nth}");
    let _ = child.kill(); // SIGKILL
    child.wait().unwrap();
}

/// Times an uninterrupted run (which must succeed).
fn timed(store: &Store, args: &[&str]) -> Duration {
    let t = Instant::now();
    store.admin_ok(args);
    t.elapsed()
}

/// The consistency every kill must leave; `fprs` is gpg's fingerprint for
/// each key name the store may hold (one of them, for a replaced key).
/// Returns how many keys the store holds.
fn assert_consistent(
    store: &Store,
    fprs: &BTreeMap<String, BTreeSet<String>>,
    aliases_resolve: bool,
    what: &str,
) -> usize {
    if store.url.is_none() {
        assert_eq!(store.sql("PRAGMA integrity_check;").trim(), "ok", "{what}");
        assert_eq!(store.sql("PRAGMA foreign_key_check;").trim(), "", "{what}");
    }
    for verb in [
        &["db", "status"][..],
        &["kek", "status"],
        &["audit", "verify"],
    ] {
        let out = store.admin(verb);
        assert!(out.status.success(), "{what}: {verb:?}: {}", text(&out));
    }
    // Key-ID index rows belong to live keys, and every live key has some.
    let orphans =
        store.sql("SELECT DISTINCT name FROM key_ids WHERE name NOT IN (SELECT name FROM keys);");
    assert_eq!(orphans.trim(), "", "{what}: key_ids without a key");
    let unindexed =
        store.sql("SELECT name FROM keys WHERE name NOT IN (SELECT name FROM key_ids);");
    assert_eq!(unindexed.trim(), "", "{what}: keys without key_ids");
    // Every alias resolves to a stored key (the signd home's aliases all
    // do; `key delete --force` leaves an alias pointing at nothing).
    if aliases_resolve {
        let dangling = store.sql(
            "SELECT alias FROM aliases WHERE target NOT IN (SELECT name FROM keys) \
             AND alias NOT LIKE ':enc%';",
        );
        assert_eq!(dangling.trim(), "", "{what}: dangling aliases");
    }
    let rows = store.sql("SELECT name, fingerprint FROM keys ORDER BY name;");
    let keys: Vec<(String, String)> = rows
        .lines()
        .map(|l| {
            let (n, f) = l.split_once('|').unwrap();
            (n.to_owned(), f.to_owned())
        })
        .collect();
    for (name, fpr) in &keys {
        let want = fprs
            .get(name)
            .unwrap_or_else(|| panic!("{what}: unexpected key {name}"));
        assert!(
            want.contains(fpr),
            "{what}: {name} has {fpr}, want {want:?}"
        );
    }
    // Every stored key unwraps and signs.
    if !keys.is_empty() {
        let daemon = store.daemon();
        let digest = hex::encode(openssl::sha::sha256(b"crash"));
        for (name, _) in &keys {
            let reply = parse_reply(&daemon.exchange(&new_request(&[
                "sign",
                &format!("sha256:{name}"),
                &format!("{digest}@0065000000"),
            ])));
            assert!(
                reply.status == 0 && reply.err.is_empty(),
                "{what}: {name} does not sign: {reply:?}"
            );
        }
    }
    keys.len()
}

/// A signd installation: a gpg home with KEYS passphrase-less Ed25519 keys
/// (phrases files holding copr-keygen's `1`), ALIASES aliases, the fixture
/// signd's encryption keys, and a sign.conf naming them.
struct SigndHome {
    gnupg: GpgHome,
    dir: tempfile::TempDir,
}

impl SigndHome {
    fn new() -> SigndHome {
        let gnupg = GpgHome::new();
        let dir = short_tempdir();
        let root = dir.path();
        let mut params = String::new();
        for i in 0..KEYS {
            params.push_str(&format!(
                "Key-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\nName-Real: Crash {i}\n\
                 Name-Email: {}\nExpire-Date: 0\n%no-protection\n%commit\n",
                user(i)
            ));
        }
        std::fs::write(root.join("params"), params).unwrap();
        gnupg.gpg_ok(&[
            "--batch",
            "--quiet",
            "--gen-key",
            root.join("params").to_str().unwrap(),
        ]);
        for sub in ["phrases", "aliases", "enckeys"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        for i in 0..KEYS {
            std::fs::write(root.join("phrases").join(user(i)), "1\n").unwrap();
        }
        for i in 0..ALIASES {
            std::fs::write(
                root.join("aliases").join(format!("alias{i}")),
                format!("{}\n", user(i * 7 % KEYS)),
            )
            .unwrap();
        }
        // The fixture signd's encryption keys, copied into the temp home.
        for entry in std::fs::read_dir(fixture("signd-state").join("enckeys")).unwrap() {
            let entry = entry.unwrap();
            let bytes = std::fs::read(entry.path()).unwrap();
            std::fs::write(root.join("enckeys").join(entry.file_name()), bytes).unwrap();
        }
        std::fs::write(
            root.join("sign.conf"),
            format!(
                "user: {}\nallow: 127.0.0.1\nphrases: {r}/phrases\naliases: {r}/aliases\n\
                 encryptionkeys: {r}/enckeys\ngnupghome: {g}\n",
                user(0),
                r = root.display(),
                g = gnupg.path().display()
            ),
        )
        .unwrap();
        SigndHome { gnupg, dir }
    }

    fn sign_conf(&self) -> PathBuf {
        self.dir.path().join("sign.conf")
    }

    /// gpg's fingerprint of each user.
    fn fingerprints(&self) -> BTreeMap<String, BTreeSet<String>> {
        let listing = self.gnupg.gpg_ok(&["--with-colons", "--list-keys"]);
        let mut map = BTreeMap::new();
        let mut fpr = String::new();
        for line in String::from_utf8(listing.stdout).unwrap().lines() {
            let f: Vec<&str> = line.split(':').collect();
            match f[0] {
                "fpr" if fpr.is_empty() => fpr = f[9].to_owned(),
                "pub" => fpr.clear(),
                "uid" => {
                    let mail = f[9].split('<').nth(1).unwrap().trim_end_matches('>');
                    map.insert(mail.to_owned(), BTreeSet::from([fpr.clone()]));
                }
                _ => {}
            }
        }
        assert_eq!(map.len(), KEYS);
        map
    }
}

/// An empty store with its KEK, copied for every run so that all runs
/// share the KEK (and so the KEK canary compares equal).
fn empty_store(root: &Path, url: Option<String>) -> Store {
    let tmpl = Store {
        data: root.join("template"),
        url,
    };
    tmpl.admin_ok(&["init"]);
    assert!(
        tmpl.data.join("kek.key").exists(),
        "the template has its KEK"
    );
    tmpl
}

/// On SQLite, and on PostgreSQL (scratch databases; skipped without
/// `$SIGNATRUST_TEST_PG_URL`) for the kills between the import's steps.
#[test]
fn import_signd_killed_at_several_points_completes_when_run_again() {
    let home = SigndHome::new();
    let fprs = home.fingerprints();
    let conf = home.sign_conf();
    let args = ["import-signd", "--sign-conf", conf.to_str().unwrap()];
    let mut backends = vec![None];
    backends.extend(pg::scratch_database_blocking().map(Some));
    for url in backends {
        let backend = if url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        };
        let dir = short_tempdir();
        let tmpl = empty_store(dir.path(), url);

        let reference = tmpl.copy_to(&dir.path().join("reference"));
        let full = timed(&reference, &args);
        let want = reference.snapshot();
        assert_eq!(
            assert_consistent(&reference, &fprs, true, "uninterrupted"),
            KEYS,
            "the uninterrupted import holds every key"
        );
        eprintln!("{backend}: uninterrupted import-signd of {KEYS} keys: {full:?}");

        let mut partial = 0;
        // At fractions of an uninterrupted run (SQLite: the timing says
        // where they land, the checks hold wherever it is).
        let kill_at: &[f64] = if tmpl.url.is_none() { &KILL_AT } else { &[] };
        for (i, at) in kill_at.iter().enumerate() {
            let store = tmpl.copy_to(&dir.path().join(format!("killed{i}")));
            let after = full.mul_f64(*at);
            let killed = run_killed(&store, &args, after);
            let what = format!("{backend}: import-signd killed after {after:?}");
            let held = assert_consistent(&store, &fprs, true, &what);
            let aliases: usize = store
                .sql("SELECT count(*) FROM aliases;")
                .trim()
                .parse()
                .unwrap();
            eprintln!("{what} (killed: {killed}): {held} key(s), {aliases} alias(es)");
            if killed && ((held > 0 && held < KEYS) || (held == KEYS && aliases < ALIASES)) {
                partial += 1;
            }
            // Run again: the same store as the uninterrupted run.
            store.admin_ok(&args);
            assert_eq!(store.snapshot(), want, "{what}, then run again");
        }
        // Kills that land between the import's steps for certain: right
        // after the first and the second batch was committed (import-signd
        // reports each key after its batch is), and at the first alias.
        for (needle, nth, keys) in [
            (": imported", 1, 500..=500),
            (": imported", 501, 1000..=1000),
            ("alias alias", 1, KEYS..=KEYS),
        ] {
            let store = tmpl.copy_to(
                &dir.path()
                    .join(format!("killed-on-line-{nth}-{}", needle.len())),
            );
            run_killed_on_line(&store, &args, needle, nth);
            let what = format!("{backend}: import-signd killed at its report {nth} of {needle:?}");
            let held = assert_consistent(&store, &fprs, true, &what);
            let aliases = store.sql("SELECT count(*) FROM aliases;");
            eprintln!("{what}: {held} key(s), {} alias(es)", aliases.trim());
            assert!(keys.contains(&held), "{what}: {held} keys");
            store.admin_ok(&args);
            assert_eq!(store.snapshot(), want, "{what}, then run again");
            partial += 1;
        }
        eprintln!("{backend}: {partial} kill(s) left a partial import");
    }
}

/// A single-key verb killed at several points: the store is as before or
/// as after, consistent, and the verb run again ends where an
/// uninterrupted run does.
#[test]
fn key_delete_and_replace_killed_at_several_points() {
    let dir = short_tempdir();
    let tmpl = empty_store(dir.path(), None);
    let mut fprs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in 0..4 {
        let name = format!("k{i}");
        tmpl.admin_ok(&[
            "key",
            "generate",
            &name,
            "--type",
            "ed25519",
            "--uid",
            &format!("K{i} <k{i}@example.org>"),
        ]);
        let info = tmpl.admin_ok(&["key", "list", "--json"]);
        let list: serde_json::Value = serde_json::from_str(&info).unwrap();
        for k in list.as_array().unwrap() {
            if k["name"] == name.as_str() {
                let fpr = k["fingerprint"].as_str().unwrap().to_uppercase();
                fprs.insert(name.clone(), BTreeSet::from([fpr]));
            }
        }
    }
    tmpl.admin_ok(&["alias", "add", "al", "k1"]);
    // The replacement: a gpg-made secret key in a file.
    let gnupg = GpgHome::new();
    let params = dir.path().join("params");
    std::fs::write(
        &params,
        "Key-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\nName-Real: New\n\
         Name-Email: new@example.org\nExpire-Date: 0\n%no-protection\n%commit\n",
    )
    .unwrap();
    gnupg.gpg_ok(&["--batch", "--gen-key", params.to_str().unwrap()]);
    let tsk = dir.path().join("new.asc");
    let out = gnupg.gpg_ok(&["--armor", "--export-secret-keys", "new@example.org"]);
    std::fs::write(&tsk, &out.stdout).unwrap();
    let listing = gnupg.gpg_ok(&["--with-colons", "--list-keys", "new@example.org"]);
    let new_fpr = String::from_utf8(listing.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .unwrap()
        .to_owned();
    fprs.get_mut("k3").unwrap().insert(new_fpr);

    let before = tmpl.snapshot();
    let tsk = tsk.to_str().unwrap();
    let verbs: [&[&str]; 3] = [
        &["key", "delete", "k1", "--yes", "--force"],
        &["key", "delete", "k2", "--yes", "--now"],
        &["key", "replace", "k3", tsk],
    ];
    for (v, args) in verbs.iter().enumerate() {
        let reference = tmpl.copy_to(&dir.path().join(format!("reference{v}")));
        let full = timed(&reference, args);
        let want = reference.snapshot();
        assert_ne!(want, before, "{args:?} changes the store");
        assert_consistent(&reference, &fprs, false, &format!("{args:?} uninterrupted"));
        // Run again after it completed (as after a kill between its commit
        // and its exit): nothing more changes; for replace, the replaced
        // key stays the restorable copy.
        let out = reference.admin(args);
        assert!(
            out.status.success() || text(&out).contains("no key named"),
            "{args:?} run again: {}",
            text(&out)
        );
        assert_eq!(
            reference.snapshot(),
            want,
            "{args:?} run again after it completed"
        );
        let mut seen = BTreeSet::new();
        for (i, at) in KILL_AT.iter().chain(&[0.5, 0.75, 0.9]).enumerate() {
            let data = tmpl.copy_to(&dir.path().join(format!("killed{v}-{i}")));
            let after = full.mul_f64(*at);
            let killed = run_killed(&data, args, after);
            let what = format!("{args:?} killed after {after:?} (killed: {killed})");
            let now = data.snapshot();
            assert!(
                now == before || now == want,
                "{what}: the store is neither as before nor as after:\n{now}"
            );
            seen.insert(if now == before { "before" } else { "after" });
            assert_consistent(&data, &fprs, false, &what);
            // Run again: done, or (delete) "no key named" when it was.
            let out = data.admin(args);
            let again = text(&out);
            assert!(
                out.status.success() || (now == want && again.contains("no key named")),
                "{what}, run again: {again}"
            );
            assert_eq!(data.snapshot(), want, "{what}, then run again");
        }
        eprintln!("{args:?} ({full:?} uninterrupted): the kills left the store {seen:?}");
    }
}
