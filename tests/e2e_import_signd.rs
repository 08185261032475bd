//! `signatrust-admin import-signd` against a real obs-signd installation
//! built in a temp dir from the fixture keys, then the migrated store served
//! by `signatrustd` (fixture replies byte for byte), and the plaintext scan:
//! no secret MPI of the fixture keys may appear anywhere in the data dir.

#[path = "e2e_common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const PLAIN: &str = "defaultkey@localobs";
const SEC: &str = "defaultkeysec@localobs";
const PLAIN_FPR: &str = "2AA0E9F70F186184377807B57581F22BE40A9A2F";
const SEC_FPR: &str = "77B63C38695D44BD06E3381B0F6ACA96A976B270";
const ENCKEY: &str = "A5E1A4F82E43F0E7";

/// An obs-signd installation: gpg home with both fixture secret keys,
/// phrases/, aliases/, enckeys/ and a sign.conf naming them.
struct Signd {
    gnupg: GpgHome,
    dir: tempfile::TempDir,
}

impl Signd {
    fn new(sec_phrase: &str) -> Signd {
        let gnupg = GpgHome::new();
        gnupg.gpg_ok(&[
            "--import",
            fixture("obs-sign-t-fixtures/secret-key.asc")
                .to_str()
                .unwrap(),
        ]);
        gnupg.gpg_ok(&[
            "--passphrase",
            "xxx",
            "--import",
            fixture("obs-sign-t-fixtures/secret-key-passphrase.asc")
                .to_str()
                .unwrap(),
        ]);
        let dir = short_tempdir();
        let root = dir.path();
        std::fs::create_dir(root.join("phrases")).unwrap();
        std::fs::write(root.join("phrases").join(PLAIN), "").unwrap();
        std::fs::write(root.join("phrases").join(SEC), sec_phrase).unwrap();
        // Copies (contents only: the fixture files are read-only).
        for sub in ["aliases", "enckeys"] {
            std::fs::create_dir(root.join(sub)).unwrap();
            for entry in std::fs::read_dir(fixture("signd-state").join(sub)).unwrap() {
                let entry = entry.unwrap();
                let bytes = std::fs::read(entry.path()).unwrap();
                std::fs::write(root.join(sub).join(entry.file_name()), bytes).unwrap();
            }
        }
        std::fs::write(
            root.join("sign.conf"),
            format!(
                "# an obs-signd sign.conf\nuser: {PLAIN}\nallow: 127.0.0.1\n\
                 phrases: {r}/phrases\naliases: {r}/aliases\n\
                 encryptionkeys: {r}/enckeys\ngnupghome: {g}\nuse-agent: true\n",
                r = root.display(),
                g = gnupg.path().display()
            ),
        )
        .unwrap();
        Signd { gnupg, dir }
    }

    fn sign_conf(&self) -> PathBuf {
        self.dir.path().join("sign.conf")
    }

    fn import(&self, data: &Path) -> std::process::Output {
        admin(
            data,
            &[
                "import-signd",
                "--sign-conf",
                self.sign_conf().to_str().unwrap(),
            ],
        )
    }
}

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `key list` as (name, algo, fingerprint) rows.
fn key_list(data: &Path) -> Vec<(String, String, String)> {
    admin_ok(data, &["key", "list"])
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert!(f.len() >= 3, "key list line {l:?}");
            (f[0].to_string(), f[1].to_string(), f[2].to_uppercase())
        })
        .collect()
}

/// Replays one fixture connection against the daemon; the reply must be
/// byte-identical.
fn replay(daemon: &Daemon, case: &str) {
    let req = std::fs::read(fixture(&format!("cases/{case}/1.request.bin"))).unwrap();
    let want = std::fs::read(fixture(&format!("cases/{case}/1.reply.bin"))).unwrap();
    let got = daemon.exchange(&req);
    assert!(
        got == want,
        "{case}: reply differs from the fixture\nwant {:?}\ngot  {:?}\nlog:\n{}",
        parse_reply(&want),
        parse_reply(&got),
        daemon.log_text()
    );
}

#[test]
fn import_signd_migrates_keys_aliases_and_enckeys() {
    let signd = Signd::new("xxx");
    let store = short_tempdir();
    let data = store.path().join("store");

    let out = signd.import(&data);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "import-signd failed:\n{stdout}\n{stderr}"
    );
    for want in [
        format!("key {PLAIN}: imported {PLAIN_FPR}"),
        format!("key {SEC}: imported {SEC_FPR}"),
        format!("alias myalias -> {PLAIN}"),
        format!("alias :enc:{SEC} -> {ENCKEY}"),
        format!("encryption key {ENCKEY}: imported"),
        "imported 2 key(s)".to_string(),
    ] {
        assert!(stdout.contains(&want), "output lacks {want:?}:\n{stdout}");
    }

    let mut list = key_list(&data);
    list.sort();
    assert_eq!(
        list,
        [
            (PLAIN.into(), "rsa2048".into(), PLAIN_FPR.into()),
            (SEC.into(), "rsa2048".into(), SEC_FPR.into()),
        ]
    );
    for (name, file) in [
        (PLAIN, "public-key.asc"),
        (SEC, "public-key-passphrase.asc"),
    ] {
        let exported = admin_ok(&data, &["key", "export", name]);
        let want =
            std::fs::read_to_string(fixture(&format!("obs-sign-t-fixtures/{file}"))).unwrap();
        assert!(
            exported == want,
            "key export {name} differs from {file}:\n{exported}"
        );
    }
    let aliases = admin_ok(&data, &["alias", "list"]);
    assert!(
        aliases.contains(&format!("myalias\t{PLAIN}"))
            && aliases.contains(&format!(":enc:{SEC}\t{ENCKEY}")),
        "alias list: {aliases}"
    );

    // Idempotent: a second run changes nothing and says so.
    let again = signd.import(&data);
    let (stdout2, stderr2) = text(&again);
    assert!(
        again.status.success(),
        "second import-signd failed:\n{stdout2}\n{stderr2}"
    );
    for user in [PLAIN, SEC] {
        assert!(
            stdout2.contains(&format!("key {user}: already present")),
            "second run does not report {user} as already present:\n{stdout2}"
        );
    }
    assert!(stdout2.contains("imported 0 key(s)"), "{stdout2}");
    assert_eq!(key_list(&data).len(), 2, "second run added keys");

    // The migrated store answers as the recorded signd did.
    let daemon = Daemon::start(&data, "");
    for case in [
        "detached-sha256-v3",
        "detached-passphrase-key-sha256",
        "detached-alias-sha256",
        "pubkey",
        "pubkey-passphrase-key",
    ] {
        replay(&daemon, case);
    }
    drop(daemon);

    // The passphrase-protected key came through import-signd, so scan here
    // too (after the server ran and closed the database).
    assert_no_plaintext(&data);
}

#[test]
fn import_signd_wrong_passphrase_fails_but_imports_the_rest() {
    let signd = Signd::new("not-the-passphrase");
    let store = short_tempdir();
    let data = store.path().join("store");

    let out = signd.import(&data);
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "import-signd with a wrong passphrase succeeded:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains(SEC),
        "the error does not name the user {SEC}:\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("key {PLAIN}: imported {PLAIN_FPR}")),
        "{stdout}"
    );
    let list = key_list(&data);
    assert_eq!(
        list,
        [(PLAIN.into(), "rsa2048".into(), PLAIN_FPR.into())],
        "only the key with the right phrase is imported"
    );
    // The gpg home was not harmed: the right phrase still works afterwards.
    std::fs::write(signd.dir.path().join("phrases").join(SEC), "xxx").unwrap();
    let out = signd.import(&data);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("key {SEC}: imported {SEC_FPR}"))
            && stdout.contains(&format!("key {PLAIN}: already present")),
        "{stdout}"
    );
    drop(signd.gnupg);
}

/// Perl signd tests `-e "$phrases/$user"`, which follows symlinks; so must
/// the migration. Also: without `gnupghome:`, `--gnupghome` names the home.
#[test]
fn import_signd_follows_symlinks_and_takes_gnupghome_flag() {
    let signd = Signd::new("xxx");
    let root = signd.dir.path();
    // Move the phrases and an alias elsewhere and link them back.
    let elsewhere = root.join("managed");
    std::fs::create_dir(&elsewhere).unwrap();
    for (dir, name) in [("phrases", SEC), ("aliases", "myalias")] {
        let from = root.join(dir).join(name);
        let to = elsewhere.join(name);
        std::fs::rename(&from, &to).unwrap();
        std::os::unix::fs::symlink(&to, &from).unwrap();
    }
    // The same sign.conf without gnupghome:.
    let conf = std::fs::read_to_string(signd.sign_conf()).unwrap();
    let conf: String = conf
        .lines()
        .filter(|l| !l.starts_with("gnupghome:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let conf_file = root.join("sign-nohome.conf");
    std::fs::write(&conf_file, conf).unwrap();

    let store = short_tempdir();
    let data = store.path().join("store");
    let out = Command::new(ADMIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["import-signd", "--sign-conf"])
        .arg(&conf_file)
        .arg("--gnupghome")
        .arg(signd.gnupg.path())
        .env_remove("GNUPGHOME")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("key {SEC}: imported {SEC_FPR}")),
        "the symlinked phrases file was not followed:\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("alias myalias -> {PLAIN}")),
        "the symlinked alias was not followed:\n{stdout}"
    );
    assert_eq!(key_list(&data).len(), 2);
}

/// A phrases file for a user the gpg home has no key for, and a dangling
/// link in phrases/: both fail, naming the user; the rest is imported.
#[test]
fn import_signd_reports_users_it_cannot_import() {
    let signd = Signd::new("xxx");
    let phrases = signd.dir.path().join("phrases");
    std::fs::write(phrases.join("nokey@localobs"), "").unwrap();
    std::os::unix::fs::symlink(phrases.join("gone"), phrases.join("dangling@localobs")).unwrap();
    let store = short_tempdir();
    let data = store.path().join("store");
    let out = signd.import(&data);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    for user in ["nokey@localobs", "dangling@localobs"] {
        assert!(
            stderr.contains(&format!("key {user}:")),
            "no failure reported for {user}:\n{stderr}"
        );
    }
    assert_eq!(
        key_list(&data).len(),
        2,
        "the good keys were still imported"
    );
}

#[test]
fn key_import_cli_stores_no_plaintext() {
    let store = short_tempdir();
    let data = store.path().join("store");
    let phrase = store.path().join("phrase");
    std::fs::write(&phrase, "xxx\n").unwrap();
    admin_ok(
        &data,
        &[
            "key",
            "import",
            PLAIN,
            fixture("obs-sign-t-fixtures/secret-key.asc")
                .to_str()
                .unwrap(),
        ],
    );
    admin_ok(
        &data,
        &[
            "key",
            "import",
            SEC,
            fixture("obs-sign-t-fixtures/secret-key-passphrase.asc")
                .to_str()
                .unwrap(),
            "--passphrase-file",
            phrase.to_str().unwrap(),
        ],
    );
    // While nothing else runs: the files exactly as the admin left them.
    assert_no_plaintext(&data);
    // And after the server has loaded and used both keys.
    let daemon = Daemon::start(&data, "");
    replay(&daemon, "detached-sha256-v3");
    replay(&daemon, "detached-passphrase-key-sha256");
    drop(daemon);
    assert_no_plaintext(&data);
}

/// The scan can say no: a data dir with one secret MPI planted in a stray
/// file fails it.
#[test]
#[should_panic(expected = "ElGamal x (prefix) found in plaintext")]
fn scan_detects_a_planted_secret() {
    let store = short_tempdir();
    let data = store.path().join("store");
    admin_ok(
        &data,
        &[
            "key",
            "import",
            PLAIN,
            fixture("obs-sign-t-fixtures/secret-key.asc")
                .to_str()
                .unwrap(),
        ],
    );
    let (secret, _) = key_material("secret-key.asc", None);
    let (_, x) = secret
        .iter()
        .find(|(what, _)| what.ends_with("ElGamal x"))
        .unwrap();
    let mut planted = b"some noise ".to_vec();
    planted.extend_from_slice(&x[..20]);
    std::fs::write(data.join("signatrust.db-journal"), planted).unwrap();
    assert_no_plaintext_of(&data, &[("secret-key.asc", None)]);
}

/// The scan: no secret MPI of either fixture key (nor its 16-byte prefix or
/// suffix, nor the symmetric encryption key's text) appears in any file of
/// the data dir; the public moduli do, so the scan is known to see the data.
fn assert_no_plaintext(data: &Path) {
    assert_no_plaintext_of(
        data,
        &[
            ("secret-key.asc", None),
            ("secret-key-passphrase.asc", Some("xxx")),
        ],
    );
}

fn assert_no_plaintext_of(data: &Path, keys: &[(&str, Option<&str>)]) {
    let (mut secret, mut public) = (Vec::new(), Vec::new());
    for (file, phrase) in keys {
        let (s, p) = key_material(file, *phrase);
        secret.extend(s);
        public.extend(p);
    }
    if keys.len() == 2 {
        assert_eq!(
            secret.len(),
            4 + 1 + 4,
            "RSA d,p,q,u + ElGamal x + RSA d,p,q,u"
        );
    }

    let files = read_all(data);
    let names: Vec<String> = files
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n == "signatrust.db"),
        "files: {names:?}"
    );
    let enckey_line = std::fs::read(fixture(&format!("signd-state/enckeys/{ENCKEY}"))).unwrap();
    let enckey_line = enckey_line.split(|&b| b == b'\n').next().unwrap().to_vec();
    assert_eq!(enckey_line.len(), 144);
    let mut needles = secret.clone();
    needles.push((format!("enckey {ENCKEY}"), enckey_line.clone()));
    needles.push((
        format!("enckey {ENCKEY} bytes"),
        hex::decode(&enckey_line).unwrap(),
    ));
    assert_scan(&files, &needles, &public);

    let kek = data.join("kek.key");
    let meta = std::fs::metadata(&kek).expect("kek.key exists");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "kek.key mode");
    assert_eq!(meta.len(), 32, "kek.key size");
}
