//! The admin CLI and `signatrustd --check-config` as an operator uses them:
//! real binaries, exit codes and messages.

#[path = "e2e_common.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

const UID: &str = "A <a@example.org>";

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a non-zero exit whose stderr mentions every `names`.
fn assert_fails_naming(out: &Output, names: &[&str], what: &str) {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "{what}: exited 0\nstdout: {}\nstderr: {err}",
        String::from_utf8_lossy(&out.stdout)
    );
    for n in names {
        assert!(
            err.contains(n),
            "{what}: message does not name {n:?}: {err}"
        );
    }
}

fn list_names(data: &Path) -> Vec<String> {
    admin_ok(data, &["key", "list"])
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

#[test]
fn generate_export_import_list_delete() {
    let store = short_tempdir();
    let data = store.path().join("store");
    let out = admin_ok(
        &data,
        &["key", "generate", "gen1", "--type", "ed25519", "--uid", UID],
    );
    let fpr = out
        .split_whitespace()
        .find(|w| w.len() == 40 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no fingerprint in {out:?}"))
        .to_uppercase();

    let list = admin_ok(&data, &["key", "list"]);
    let row: Vec<&str> = list
        .lines()
        .find(|l| l.starts_with("gen1\t"))
        .unwrap_or_else(|| panic!("gen1 not listed: {list}"))
        .split('\t')
        .collect();
    assert_eq!(row[2].to_uppercase(), fpr, "listed fingerprint");
    assert_eq!(row[3], UID, "listed user ID");

    // A second key under the same name is refused.
    let dup = admin(
        &data,
        &["key", "generate", "gen1", "--type", "ed25519", "--uid", UID],
    );
    assert_fails_naming(&dup, &["gen1"], "generate over an existing name");

    // The exported public key imports into gpg with the same fingerprint.
    let export = admin_ok(&data, &["key", "export", "gen1"]);
    assert!(export.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----\n"));
    let home = GpgHome::new();
    let asc = home.path().join("gen1.asc");
    std::fs::write(&asc, &export).unwrap();
    home.gpg_ok(&["--import", asc.to_str().unwrap()]);
    let colons = home.gpg_ok(&["--with-colons", "--list-keys"]);
    let colons = String::from_utf8(colons.stdout).unwrap();
    assert!(
        colons.contains(&format!("fpr:::::::::{fpr}:")),
        "gpg sees another fingerprint:\n{colons}"
    );
    assert!(colons.contains(UID), "gpg lacks the user ID:\n{colons}");
    assert!(
        colons
            .lines()
            .any(|l| l.starts_with("pub:") && l.contains(":ed25519:")),
        "not an ed25519 key:\n{colons}"
    );

    // The quickstart: the server signs with the generated key, gpg holding
    // only the exported public key accepts the signature.
    let daemon = Daemon::start(&data, "");
    let data_bytes = b"quickstart\n";
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let mut ctx = openssl::hash::Hasher::new(openssl::hash::MessageDigest::sha256()).unwrap();
    ctx.update(data_bytes).unwrap();
    ctx.update(&[0]).unwrap();
    ctx.update(&time.to_be_bytes()).unwrap();
    let d = ctx.finish().unwrap();
    let arg = format!("SHA256:{}@00{time:08x}", hex::encode(d));
    let r = parse_reply(&daemon.exchange(&old_request("gen1", &arg)));
    assert_eq!(r.status, 0, "sign with gen1: {r:?}");
    home.assert_verifies(&r.out, data_bytes, "signature by the generated key");
    drop(daemon);

    // Delete: gone from the list, export and a second delete fail.
    let out = admin_ok(&data, &["key", "delete", "gen1"]);
    assert!(out.contains("gen1"), "{out}");
    assert!(
        !list_names(&data).contains(&"gen1".to_string()),
        "gen1 still listed"
    );
    assert_fails_naming(
        &admin(&data, &["key", "export", "gen1"]),
        &["gen1"],
        "export after delete",
    );
    assert_fails_naming(
        &admin(&data, &["key", "delete", "gen1"]),
        &["gen1"],
        "second delete",
    );
}

#[test]
fn generate_rsa4096_is_listed_as_rsa4096() {
    let store = short_tempdir();
    let data = store.path().join("store");
    admin_ok(
        &data,
        &["key", "generate", "big", "--type", "rsa4096", "--uid", UID],
    );
    let list = admin_ok(&data, &["key", "list"]);
    assert!(list.starts_with("big\trsa4096\t"), "{list}");
    let export = admin_ok(&data, &["key", "export", "big"]);
    let home = GpgHome::new();
    let asc = home.path().join("big.asc");
    std::fs::write(&asc, export).unwrap();
    home.gpg_ok(&["--import", asc.to_str().unwrap()]);
    let colons = String::from_utf8(home.gpg_ok(&["--with-colons", "--list-keys"]).stdout).unwrap();
    assert!(
        colons
            .lines()
            .any(|l| l.starts_with("pub:") && l.split(':').nth(2) == Some("4096")),
        "not a 4096-bit key:\n{colons}"
    );
}

#[test]
fn admin_errors_name_the_file_or_key() {
    let store = short_tempdir();
    let data = store.path().join("store");
    let missing = store.path().join("no-such-key.asc");
    assert_fails_naming(
        &admin(&data, &["key", "import", "k", missing.to_str().unwrap()]),
        &[missing.to_str().unwrap()],
        "import of a missing file",
    );

    let protected = fixture("obs-sign-t-fixtures/secret-key-passphrase.asc");
    let protected = protected.to_str().unwrap();
    let wrong = store.path().join("wrong-phrase");
    std::fs::write(&wrong, "not-xxx\n").unwrap();
    let out = admin(
        &data,
        &[
            "key",
            "import",
            "k",
            protected,
            "--passphrase-file",
            wrong.to_str().unwrap(),
        ],
    );
    assert_fails_naming(&out, &[protected, "passphrase"], "wrong passphrase");
    assert_fails_naming(
        &admin(&data, &["key", "import", "k", protected]),
        &[protected, "passphrase"],
        "protected key without a passphrase",
    );
    let missing_phrase = store.path().join("no-such-phrase");
    assert_fails_naming(
        &admin(
            &data,
            &[
                "key",
                "import",
                "k",
                protected,
                "--passphrase-file",
                missing_phrase.to_str().unwrap(),
            ],
        ),
        &[missing_phrase.to_str().unwrap()],
        "missing passphrase file",
    );
    let public = fixture("obs-sign-t-fixtures/public-key.asc");
    assert_fails_naming(
        &admin(&data, &["key", "import", "k", public.to_str().unwrap()]),
        &[public.to_str().unwrap()],
        "import of a public key",
    );
    assert_fails_naming(
        &admin(&data, &["key", "export", "nosuch@example.org"]),
        &["nosuch@example.org"],
        "export of an unknown key",
    );
    // None of the failures left a key behind.
    assert!(list_names(&data).is_empty(), "failed imports stored a key");

    // The right phrase works, and is read from the first line only.
    let right = store.path().join("right-phrase");
    std::fs::write(&right, "xxx\nsecond line is ignored\n").unwrap();
    let out = admin_ok(
        &data,
        &[
            "key",
            "import",
            "k",
            protected,
            "--passphrase-file",
            right.to_str().unwrap(),
        ],
    );
    assert!(
        out.contains("77B63C38695D44BD06E3381B0F6ACA96A976B270"),
        "{out}"
    );
    // Importing again under the same name is refused, naming the key.
    assert_fails_naming(
        &admin(
            &data,
            &[
                "key",
                "import",
                "k",
                protected,
                "--passphrase-file",
                right.to_str().unwrap(),
            ],
        ),
        &["k"],
        "import over an existing name",
    );
}

fn check_config(data: &Path, args: &[&str]) -> Output {
    Command::new(DAEMON)
        .arg("--data-dir")
        .arg(data)
        .arg("--check-config")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run signatrustd")
}

#[test]
fn check_config_warns_with_file_and_line() {
    let dir = short_tempdir();
    let data = dir.path().join("store");
    let conf = dir.path().join("sign.conf");
    std::fs::write(
        &conf,
        "# obs-signd config\nport: 5167\nallow: 127.0.0.1\nuse-agent: true\n\
         frobnicate: yes\nuser: defaultkey@localobs\n",
    )
    .unwrap();
    let out = check_config(&data, &["--sign-conf", conf.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(out.status.success(), "unknown directives only warn: {err}");
    let want = format!("{}:5", conf.display());
    let line = err
        .lines()
        .find(|l| l.contains("frobnicate"))
        .unwrap_or_else(|| panic!("no warning about frobnicate: {err}"));
    assert!(line.contains(&want), "warning lacks {want}: {line}");
    assert!(line.contains("warning"), "{line}");
    // gpg plumbing (use-agent) is accepted without a warning.
    assert!(!err.contains("use-agent"), "use-agent warned: {err}");

    // A clean file: no warnings at all.
    let clean = dir.path().join("clean.conf");
    std::fs::write(&clean, "port: 5167\nallow: 127.0.0.1\n").unwrap();
    let out = check_config(&data, &["--sign-conf", clean.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The effective listen and allow settings are shown: sign.conf's here;
    // a TOML beside it overrides them (README), and --listen overrides both.
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("listen: 0.0.0.0:5167")
            && said.contains("allow: 127.0.0.1/32; source ports above 1024: refused"),
        "{said}"
    );
    let toml = dir.path().join("over.toml");
    std::fs::write(
        &toml,
        format!(
            "sign_conf = \"{}\"\n[server]\nallow = [\"10.0.0.0/8\"]\nallow_unprivileged_ports = true\n",
            clean.display()
        ),
    )
    .unwrap();
    let out = check_config(
        &data,
        &[
            "--config",
            toml.to_str().unwrap(),
            "--listen",
            "127.0.0.1:15167",
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}{}", stderr(&out));
    assert!(
        said.contains("listen: 127.0.0.1:15167")
            && said.contains("allow: 10.0.0.0/8; source ports above 1024: allowed"),
        "{said}"
    );
    assert!(
        !stderr(&out).contains("warning"),
        "clean config warned: {}",
        stderr(&out)
    );

    // Values obs-signd tolerates (issue 16 item 15): an allow entry it
    // cannot read (never matches), a boolean other than 1/true (false), an
    // empty map. The server starts and warns loudly with file:line.
    let odd = dir.path().join("odd.conf");
    std::fs::write(
        &odd,
        "port: 5167\nallow: 999.1.1.1 127.0.0.1\nallow-unprivileged-ports: yes\nmap:\n",
    )
    .unwrap();
    let out = check_config(&data, &["--sign-conf", odd.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    for (line, what) in [
        (2, "allow entry '999.1.1.1'"),
        (3, "'allow-unprivileged-ports: yes' is false"),
        (4, "'map:' without a user"),
    ] {
        let at = format!("{}:{line}:", odd.display());
        assert!(
            err.lines()
                .any(|l| l.contains("warning") && l.contains(&at) && l.contains(what)),
            "no warning {at} {what}: {err}"
        );
    }

    // A real error (bad port) fails, also with file:line.
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "port: 5167\nproxyport: abc\n").unwrap();
    let out = check_config(&data, &["--sign-conf", bad.to_str().unwrap()]);
    assert_fails_naming(&out, &[&format!("{}:2", bad.display())], "bad port");
}

/// `key import` takes binary keys as gpg exports them, refuses gpg stubs
/// (`--export-secret-subkeys`) and names the server could never serve.
#[test]
fn key_import_binary_stub_and_bad_names() {
    let home = GpgHome::new();
    home.gpg_ok(&[
        "--import",
        fixture("obs-sign-t-fixtures/secret-key.asc")
            .to_str()
            .unwrap(),
    ]);
    let binary = home.path().join("secret.gpg");
    std::fs::write(&binary, home.gpg_ok(&["--export-secret-keys"]).stdout).unwrap();
    let stub = home.path().join("stub.gpg");
    std::fs::write(&stub, home.gpg_ok(&["--export-secret-subkeys"]).stdout).unwrap();

    let store = short_tempdir();
    let data = store.path().join("store");
    let out = admin_ok(&data, &["key", "import", "bin", binary.to_str().unwrap()]);
    assert!(
        out.contains("2AA0E9F70F186184377807B57581F22BE40A9A2F"),
        "{out}"
    );
    assert_fails_naming(
        &admin(&data, &["key", "import", "stub", stub.to_str().unwrap()]),
        &[stub.to_str().unwrap(), "stub"],
        "import of a gpg stub",
    );
    for bad in ["a/b", ".hidden", ""] {
        assert_fails_naming(
            &admin(&data, &["key", "import", bad, binary.to_str().unwrap()]),
            &[&format!("{bad:?}")],
            &format!("import under the name {bad:?}"),
        );
    }
    assert_eq!(list_names(&data), ["bin"]);
}

/// Every verb of `signatrust-admin` with no subcommand of its own, as
/// typed (`key generate`, `backup`), from clap's definition.
fn leaf_verbs() -> Vec<String> {
    use clap::CommandFactory;
    let mut verbs = Vec::new();
    let mut stack = vec![(String::new(), signatrust::admin::AdminCli::command())];
    while let Some((path, cmd)) = stack.pop() {
        let subs: Vec<_> = cmd
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .cloned()
            .collect();
        if subs.is_empty() {
            verbs.push(path.clone());
        }
        for c in subs {
            stack.push((format!("{path} {}", c.get_name()).trim().to_owned(), c));
        }
    }
    verbs
}

/// `key list | head -1`: the listing ends quietly when its reader goes away
/// (no "Broken pipe" error, no panic, exit 0).
#[test]
fn key_list_into_a_closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    let dir = short_tempdir();
    let data = dir.path().join("data");
    // 5,000 names for one key, stored in bulk through the library (the
    // listing is ~500 KB, far more than a pipe buffer).
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = signatrust::config::Config::load(Some(data.clone()), None, None).unwrap();
        let store = signatrust::app::open_store(&config).await.unwrap();
        let key = signatrust::sign::generate(
            signatrust::sign::KeyType::Ed25519,
            "Pipe <pipe@example.org>",
        )
        .unwrap();
        let names: Vec<String> = (0..5000).map(|i| format!("k{i:06}")).collect();
        assert_eq!(store.import_many(&names, &key).await.unwrap(), 5000);
        store.close().await;
    });
    let mut child = Command::new(ADMIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["key", "list"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("k000000\t"), "{first}");
    // The reader is dropped here, with ~500 KB still to come.
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every admin verb, run with its stdout already closed (`… | true`),
/// exits as it would with a reader: no panic, no "Broken pipe", no error
/// but the verb's own, and its change made. The verb list is clap's own,
/// so a new verb fails this test until it has a row here.
#[test]
fn every_verb_into_a_closed_pipe_ends_quietly() {
    let dir = short_tempdir();
    let data = dir.path().join("data");
    admin_ok(
        &data,
        &["key", "generate", "k", "--type", "ed25519", "--uid", UID],
    );
    let new_toml = dir.path().join("new.toml");
    std::fs::write(&new_toml, file_kms_toml(&dir.path().join("new.key"))).unwrap();
    let old_toml = dir.path().join("old.toml");
    std::fs::write(&old_toml, file_kms_toml(&data.join("kek.key"))).unwrap();
    let signd = dir.path().join("signd");
    std::fs::create_dir_all(signd.join("phrases")).unwrap();
    std::fs::create_dir_all(signd.join("gnupg")).unwrap();
    let sign_conf = signd.join("sign.conf");
    std::fs::write(
        &sign_conf,
        format!(
            "phrases: {}\ngnupghome: {}\n",
            signd.join("phrases").display(),
            signd.join("gnupg").display()
        ),
    )
    .unwrap();
    let enckey = fixture("signd-state/enckeys/A5E1A4F82E43F0E7");
    let p = |p: &Path| p.to_str().unwrap().to_owned();
    let (new, old) = (p(&new_toml), p(&old_toml));
    let backup = p(&dir.path().join("backup.db"));
    // (verb, arguments after the global ones, expected exit status), in
    // an order in which each can succeed.
    let rows: Vec<(&str, Vec<String>, i32)> = vec![
        (
            "key generate",
            vec!["key", "generate", "g", "--type", "ed25519", "--uid", UID],
            0,
        ),
        (
            "key import",
            vec![
                "key",
                "import",
                "i",
                &p(&fixture("obs-sign-t-fixtures/secret-key.asc")),
            ],
            0,
        ),
        ("key list", vec!["key", "list"], 0),
        ("key show", vec!["key", "show", "k"], 0),
        ("key export", vec!["key", "export", "k"], 0),
        (
            "key extend",
            vec!["key", "extend", "k", "--days", "30", "--shorten"],
            0,
        ),
        (
            "key replace",
            vec![
                "key",
                "replace",
                "i",
                "--generate",
                "--type",
                "ed25519",
                "--uid",
                UID,
            ],
            0,
        ),
        ("key delete", vec!["key", "delete", "g", "--yes"], 0),
        ("key restore", vec!["key", "restore", "g"], 0),
        ("alias add", vec!["alias", "add", "a", "k"], 0),
        ("alias list", vec!["alias", "list"], 0),
        ("alias remove", vec!["alias", "remove", "a"], 0),
        ("enckey generate", vec!["enckey", "generate"], 0),
        ("enckey import", vec!["enckey", "import", &p(&enckey)], 0),
        ("enckey list", vec!["enckey", "list"], 0),
        (
            "enckey delete",
            vec!["enckey", "delete", "A5E1A4F82E43F0E7", "--yes"],
            0,
        ),
        ("default-user set", vec!["default-user", "set", "k"], 0),
        ("default-user show", vec!["default-user", "show"], 0),
        ("init", vec!["init"], 0),
        ("db status", vec!["db", "status"], 0),
        ("db migrate", vec!["db", "migrate"], 0),
        ("backup", vec!["backup", &backup], 0),
        (
            "import-signd",
            vec!["import-signd", "--sign-conf", &p(&sign_conf)],
            0,
        ),
        // Nothing to check is a failure of its own (exit 1), after output.
        ("check-blobs", vec!["check-blobs", &p(&signd)], 1),
        ("audit list", vec!["audit", "list"], 0),
        ("audit verify", vec!["audit", "verify"], 0),
        (
            "audit prune",
            vec!["audit", "prune", "--before", "2000-01-01T00:00:00Z"],
            0,
        ),
        ("kek status", vec!["kek", "status"], 0),
        ("kek create", vec!["--config", &new, "kek", "create"], 0),
        ("kek rotate", vec!["kek", "rotate", "--to-config", &new], 0),
        (
            "kek rotate",
            vec!["kek", "rotate", "--to-config", &new, "--finish"],
            0,
        ),
        (
            "kek rewrap",
            vec!["--config", &new, "kek", "rewrap", "--to-config", &old],
            0,
        ),
    ]
    .into_iter()
    .map(|(v, args, code)| (v, args.into_iter().map(|a| a.to_owned()).collect(), code))
    .collect();

    let verbs = leaf_verbs();
    let untested: Vec<_> = verbs
        .iter()
        .filter(|v| !rows.iter().any(|(r, _, _)| r == v))
        .collect();
    assert!(
        untested.is_empty(),
        "verbs without a closed-stdout row: {untested:?}"
    );

    for (verb, args, code) in &rows {
        let mut child = Command::new(ADMIN)
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before any output
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "{verb} {args:?} into a closed pipe: {err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe") && !err.contains("stdout"),
            "{verb} {args:?} into a closed pipe: {err}"
        );
        if *code == 0 {
            assert!(!err.contains("error"), "{verb} {args:?}: {err}");
        }
    }
    // The changes were made: the store is back under its first KEK, with
    // every key the rows made and the backup written.
    let names = list_names(&data);
    for n in ["g", "i", "k"] {
        assert!(names.contains(&n.to_owned()), "{n} in {names:?}");
    }
    assert_eq!(admin_ok(&data, &["default-user", "show"]).trim(), "k");
    assert!(std::fs::metadata(&backup).unwrap().len() > 0);
    admin_ok(&data, &["kek", "status"]);
    admin_ok(&data, &["audit", "verify"]);
}

/// `db migrate` makes a store where there is none, data directory (0700)
/// included, and records itself in the new store's audit trail; `audit
/// list` on a store that does not exist names it and creates nothing.
#[test]
fn db_migrate_creates_the_store_and_audit_names_a_missing_one() {
    use std::os::unix::fs::PermissionsExt;
    let dir = short_tempdir();
    let data = dir.path().join("new").join("data");
    let out = admin(&data, &["audit", "list"]);
    assert_fails_naming(
        &out,
        &[&format!(
            "no key store at {}",
            data.join("signatrust.db").display()
        )],
        "audit list without a store",
    );
    assert!(!dir.path().join("new").exists(), "audit list created files");
    let out = admin(&data, &["db", "migrate"]);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        stderr(&out)
    );
    let mode = std::fs::metadata(&data).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(admin_ok(&data, &["db", "status"]).contains("schema up to date"));
    let log = admin_ok(&data, &["audit", "list", "--json"]);
    assert!(log.contains("\"db migrate\""), "{log}");
}

/// A mistyped data directory creates nothing: every verb but those that
/// make a store (clap's list, less `init`, the key-adding verbs, `db
/// migrate`, `kek create|status`) refuses a SQLite store that does not
/// exist with exit 78, naming the file, and leaves no directory, database
/// or KEK behind; `kek status` reports the store as not there yet; `init`
/// then makes it (0700, with its KEK) and, run again, opens it.
#[test]
fn a_mistyped_data_dir_creates_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let dir = short_tempdir();
    let typo = dir.path().join("typo");
    let db = typo.join("signatrust.db");
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        "[kms]\nprovider = \"file\"\nkey_file = \"/nonexistent/k\"\n",
    )
    .unwrap();
    let other = other.to_str().unwrap();
    let refused: Vec<(&str, Vec<&str>)> = vec![
        ("key list", vec!["key", "list"]),
        ("key show", vec!["key", "show", "k"]),
        ("key export", vec!["key", "export", "k"]),
        ("key extend", vec!["key", "extend", "k", "--days", "30"]),
        (
            "key replace",
            vec![
                "key",
                "replace",
                "k",
                "--generate",
                "--type",
                "ed25519",
                "--uid",
                UID,
            ],
        ),
        ("key delete", vec!["key", "delete", "k", "--yes"]),
        ("key restore", vec!["key", "restore", "k"]),
        ("alias add", vec!["alias", "add", "a", "k"]),
        ("alias list", vec!["alias", "list"]),
        ("alias remove", vec!["alias", "remove", "a"]),
        ("enckey list", vec!["enckey", "list"]),
        (
            "enckey delete",
            vec!["enckey", "delete", "A5E1A4F82E43F0E7", "--yes"],
        ),
        ("default-user set", vec!["default-user", "set", "k"]),
        ("default-user show", vec!["default-user", "show"]),
        ("db status", vec!["db", "status"]),
        ("backup", vec!["backup", "/nonexistent/backup.db"]),
        ("check-blobs", vec!["check-blobs", "/nonexistent"]),
        ("audit list", vec!["audit", "list"]),
        ("audit verify", vec!["audit", "verify"]),
        (
            "audit prune",
            vec!["audit", "prune", "--before", "2000-01-01T00:00:00Z"],
        ),
        ("kek rewrap", vec!["kek", "rewrap", "--to-config", other]),
        ("kek rotate", vec!["kek", "rotate", "--to-config", other]),
    ];
    let makers = [
        "init",
        "import-signd",
        "key generate",
        "key import",
        "enckey generate",
        "enckey import",
        "db migrate",
        "kek create",
        "kek status",
    ];
    let verbs = leaf_verbs();
    let unlisted: Vec<_> = verbs
        .iter()
        .filter(|v| !makers.contains(&v.as_str()) && !refused.iter().any(|(r, _)| r == v))
        .collect();
    assert!(unlisted.is_empty(), "verbs in neither list: {unlisted:?}");

    for (verb, args) in &refused {
        let out = admin(&typo, args);
        assert_eq!(out.status.code(), Some(78), "{verb}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("no key store at {}", db.display())),
            "{verb}: {}",
            stderr(&out)
        );
        assert!(!typo.exists(), "{verb} created {}", typo.display());
    }
    let out = admin(&typo, &["kek", "status"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(does not exist yet"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // No KEK file either: a configuration error, as for every verb.
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(!typo.exists(), "kek status created {}", typo.display());
    // A bad time is a usage error (2), found before anything is opened.
    let out = admin(&typo, &["audit", "list", "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bad time 'yesterday'"),
        "{}",
        stderr(&out)
    );

    let made = admin_ok(&typo, &["init"]);
    assert!(made.starts_with("created store"), "{made}");
    assert_eq!(
        std::fs::metadata(&typo).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(typo.join("kek.key").exists() && db.exists());
    let again = admin_ok(&typo, &["init"]);
    assert!(
        again.starts_with("opened store") && again.contains("0 key(s)"),
        "{again}"
    );
    assert!(admin_ok(&typo, &["key", "list"]).is_empty());

    // The store named by URL, the data directory mistyped: its KEK file is
    // missing, which is refused before the directory is made.
    let elsewhere = dir.path().join("elsewhere");
    let url = format!("sqlite://{}", db.display());
    let out = admin(&elsewhere, &["--database-url", &url, "key", "list"]);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the KEK file does not exist"),
        "{}",
        stderr(&out)
    );
    assert!(!elsewhere.exists(), "{} was made", elsewhere.display());

    // A backup refused names the store and the file once each.
    let copy = dir.path().join("copy.db");
    admin_ok(&typo, &["backup", copy.to_str().unwrap()]);
    let out = admin(&typo, &["backup", copy.to_str().unwrap()]);
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out).matches(&db.display().to_string()).count(),
        1,
        "{}",
        stderr(&out)
    );
}

/// `key generate` for every type it offers, with and without `--expire`:
/// gpg imports the exported key with the expiry asked for and an
/// encryption subkey (so it can be the signd key of `keygen`/`privsign`),
/// and rpm 4.18's own OpenPGP parser imports every type it can verify
/// (ECDSA it cannot: checked to be refused, not skipped).
#[test]
fn generate_every_type_gpg_and_rpm_accept() {
    let store = short_tempdir();
    let data = store.path().join("store");
    for (ty, rpm_can) in [
        ("rsa2048", true),
        ("rsa3072", true),
        ("rsa4096", true),
        ("ed25519", true),
        ("dsa2048", true),
        ("nistp256", false),
        ("nistp384", false),
    ] {
        for expire in ["0", "730"] {
            let name = format!("{ty}-{expire}");
            admin_ok(
                &data,
                &[
                    "key",
                    "generate",
                    &name,
                    "--type",
                    ty,
                    "--uid",
                    UID,
                    "--expire",
                    expire,
                    "--encryption-subkey",
                ],
            );
            let export = admin_ok(&data, &["key", "export", &name]);
            let home = GpgHome::new();
            let asc = home.path().join("k.asc");
            std::fs::write(&asc, &export).unwrap();
            home.gpg_ok(&["--import", asc.to_str().unwrap()]);
            let colons = home.gpg_ok(&["--with-colons", "--fixed-list-mode", "--list-keys"]);
            let colons = String::from_utf8(colons.stdout).unwrap();
            let pub_line = colons
                .lines()
                .find(|l| l.starts_with("pub:"))
                .unwrap_or_else(|| panic!("{name}: no pub line: {colons}"));
            let f: Vec<&str> = pub_line.split(':').collect();
            let (created, expires) = (f[5], f[6]);
            if expire == "0" {
                assert!(expires.is_empty(), "{name}: expires {expires}: {pub_line}");
            } else {
                let days =
                    (expires.parse::<i64>().unwrap() - created.parse::<i64>().unwrap()) / 86400;
                assert_eq!(days, 730, "{name}: {pub_line}");
            }
            assert!(
                colons
                    .lines()
                    .any(|l| l.starts_with("sub:") && l.split(':').nth(11) == Some("e")),
                "{name}: no encryption subkey: {colons}"
            );
            let db = home.path().join("rpmdb");
            std::fs::create_dir_all(&db).unwrap();
            let rpm = Command::new("rpmkeys")
                .arg("--dbpath")
                .arg(&db)
                .arg("--import")
                .arg(&asc)
                .output()
                .expect("run rpmkeys");
            assert_eq!(
                rpm.status.success(),
                rpm_can,
                "{name}: rpmkeys --import: {}",
                String::from_utf8_lossy(&rpm.stderr)
            );
        }
    }
}
