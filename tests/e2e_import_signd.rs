//! `signatrust-admin import-signd` against a real obs-signd installation
//! built in a temp dir from the fixture keys (plus, where said, a generated
//! master key with an ElGamal subkey and an old signd key without a phrases
//! file), then the migrated store served by `signatrustd` (fixture replies
//! byte for byte), `--dry-run` and a second run compared on a dump of the
//! database, the decryption-only key, `check-blobs` on the fixture blobs,
//! and the plaintext scan: no secret MPI of the fixture keys may appear
//! anywhere in the data dir.

#[path = "e2e_common.rs"]
mod common;
#[path = "support/pg.rs"]
mod pg;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const PLAIN: &str = "defaultkey@localobs";
const SEC: &str = "defaultkeysec@localobs";
const PLAIN_FPR: &str = "2AA0E9F70F186184377807B57581F22BE40A9A2F";
const SEC_FPR: &str = "77B63C38695D44BD06E3381B0F6ACA96A976B270";
const ENCKEY: &str = "A5E1A4F82E43F0E7";
/// Generated: RSA-2048 primary with an ElGamal encryption subkey (the
/// appliance's shape), with an empty phrases file.
const MASTER: &str = "master@localobs";
/// Generated: the previous signd key after a rotation, no phrases file.
const OLD: &str = "old@localobs";

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

    /// Adds the generated master key (RSA + ElGamal subkey, empty phrases
    /// file) and the old key (EdDSA + Curve25519 ECDH subkey, no phrases
    /// file); returns the old key's fingerprint.
    fn add_generated_keys(&self) -> String {
        let params = self.dir.path().join("params");
        std::fs::write(
            &params,
            format!(
                "Key-Type: RSA\nKey-Length: 2048\nKey-Usage: sign\nSubkey-Type: ELG-E\n\
                 Subkey-Length: 2048\nSubkey-Usage: encrypt\nName-Real: Master\n\
                 Name-Email: {MASTER}\nExpire-Date: 0\n%no-protection\n%commit\n\
                 Key-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\nSubkey-Type: ecdh\n\
                 Subkey-Curve: cv25519\nSubkey-Usage: encrypt\nName-Real: Old\n\
                 Name-Email: {OLD}\nExpire-Date: 0\n%no-protection\n%commit\n"
            ),
        )
        .unwrap();
        self.gnupg
            .gpg_ok(&["--batch", "--gen-key", params.to_str().unwrap()]);
        std::fs::write(self.dir.path().join("phrases").join(MASTER), "").unwrap();
        self.fingerprint(OLD)
    }

    /// The fingerprint gpg lists for `<email>`.
    fn fingerprint(&self, email: &str) -> String {
        let out = self
            .gnupg
            .gpg_ok(&["--with-colons", "--list-keys", &format!("<{email}>")]);
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("a fingerprint")
            .to_owned()
    }

    fn sign_conf(&self) -> PathBuf {
        self.dir.path().join("sign.conf")
    }

    fn import(&self, data: &Path) -> std::process::Output {
        self.import_with(data, &[])
    }

    fn import_with(&self, data: &Path, extra: &[&str]) -> std::process::Output {
        let conf = self.sign_conf();
        let mut args = vec!["import-signd", "--sign-conf", conf.to_str().unwrap()];
        args.extend_from_slice(extra);
        admin(data, &args)
    }
}

/// Every row of every table, as `sqlite3 .dump` prints it.
/// The store's content, less the audit trail (which records each run, as
/// it should).
fn dump(data: &Path) -> String {
    let out = Command::new("sqlite3")
        .arg(data.join("signatrust.db"))
        .arg(
            ".dump keys aliases encryption_keys key_ids deleted_keys settings store_revision \
             kek_canary kek_rotation",
        )
        .output()
        .expect("run sqlite3");
    assert!(out.status.success(), "sqlite3 .dump failed");
    String::from_utf8(out.stdout).unwrap()
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
    let old_fpr = signd.add_generated_keys();
    let master_fpr = signd.fingerprint(MASTER);
    let store = short_tempdir();
    let data = store.path().join("store");

    // --dry-run where there is no store yet creates none.
    let out = signd.import_with(&data, &["--dry-run"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(!data.exists(), "--dry-run created {}", data.display());

    // --dry-run on an (empty) store, as signatrustd's first start leaves
    // it: every item reported, nothing stored.
    drop(Daemon::start(&data, ""));
    let before = dump(&data);
    let out = signd.import_with(&data, &["--dry-run"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "dry run failed:\n{stdout}\n{stderr}");
    for want in [
        format!("key {PLAIN}: would import {PLAIN_FPR}"),
        format!("key {MASTER}: would import {master_fpr}"),
        format!("key {old_fpr} (Old <{OLD}>): no phrases file: would import for decrypting"),
        format!("would set alias myalias -> {PLAIN}"),
        format!("encryption key {ENCKEY}: would import"),
        "dry run: nothing was changed".to_string(),
    ] {
        assert!(stdout.contains(&want), "dry run lacks {want:?}:\n{stdout}");
    }
    assert_eq!(dump(&data), before, "--dry-run changed the store");

    let out = signd.import(&data);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "import-signd failed:\n{stdout}\n{stderr}"
    );
    for want in [
        format!("key {PLAIN}: imported {PLAIN_FPR}"),
        format!("key {SEC}: imported {SEC_FPR}"),
        format!("key {MASTER}: imported {master_fpr}"),
        format!("key {old_fpr} (Old <{OLD}>): no phrases file: imported for decrypting blobs only"),
        format!("alias myalias -> {PLAIN}"),
        format!("alias :enc:{SEC} -> {ENCKEY}"),
        format!("encryption key {ENCKEY}: imported"),
        format!("sign.conf user: {PLAIN}: present"),
        "imported 3 key(s), 0 already present, 1 for decryption only".to_string(),
    ] {
        assert!(stdout.contains(&want), "output lacks {want:?}:\n{stdout}");
    }

    let mut list = key_list(&data);
    list.sort();
    assert_eq!(
        list,
        [
            (old_fpr.clone(), "ed25519".into(), old_fpr.clone()),
            (PLAIN.into(), "rsa2048".into(), PLAIN_FPR.into()),
            (SEC.into(), "rsa2048".into(), SEC_FPR.into()),
            (MASTER.into(), "rsa2048".into(), master_fpr.clone()),
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
    let before = dump(&data);
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
    assert!(
        stdout2.contains(&format!("key {old_fpr} (Old <{OLD}>): already present")),
        "{stdout2}"
    );
    assert_eq!(dump(&data), before, "the second run changed the store");

    // The migrated store answers as the recorded signd did.
    let daemon = Daemon::start(&data, "");
    for case in [
        "detached-sha256-v3",
        "detached-passphrase-key-sha256",
        "detached-alias-sha256",
        "pubkey",
        "pubkey-passphrase-key",
        "privsign-detached-sha256-v3",
        "privsign-symkey-detached-sha256-v3",
    ] {
        replay(&daemon, case);
    }
    // The generated master key signs, and gpg accepts the signature.
    let data_in = b"signed by the migrated master key\n";
    let pkt = sign_sha256(&daemon, MASTER, data_in);
    signd
        .gnupg
        .assert_verifies(&pkt, data_in, "master key signature");
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

/// A v3 detached signature of `data` by `user` (SHA-256, class 0), as the
/// client's `sign -d` asks for it; the packet.
fn sign_sha256(daemon: &Daemon, user: &str, data: &[u8]) -> Vec<u8> {
    let reply = parse_reply(&daemon.exchange(&old_request(user, &sha256_arg(data))));
    assert!(
        reply.status == 0 && reply.err.is_empty(),
        "sign -u {user}: {reply:?}\nlog:\n{}",
        daemon.log_text()
    );
    reply.out
}

/// `SHA256:HEX@00TIME`: the hash argument of a v3 class-0 signature.
fn sha256_arg(data: &[u8]) -> String {
    let time: u32 = 1_800_000_000;
    let mut hashed = data.to_vec();
    hashed.push(0);
    hashed.extend_from_slice(&time.to_be_bytes());
    let digest = openssl::sha::sha256(&hashed);
    format!("SHA256:{}@00{time:08x}", hex::encode(digest))
}

/// issue 16 item 10: a secret key of the gpg home without a phrases file
/// (the signd key before a rotation) is imported for decryption only: a
/// project blob encrypted to it still works with privsign (as with Perl
/// signd, whose gpg finds any secret key), while requests for the key's
/// name answer exactly as for a key that does not exist.
#[test]
fn import_signd_keeps_old_keys_for_decryption_only() {
    let signd = Signd::new("xxx");
    let old_fpr = signd.add_generated_keys();
    let store = short_tempdir();
    let data = store.path().join("store");
    let out = signd.import(&data);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");

    // A project key, its secret encrypted by gpg to the old key: an old
    // `_signkey` blob.
    let project = GpgHome::new();
    project.gpg_ok(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "Project <project@example.org>",
        "ed25519",
        "sign",
        "never",
    ]);
    let secret = project.gpg_ok(&["--passphrase", "", "--export-secret-keys"]);
    let plain = signd.dir.path().join("project.key");
    std::fs::write(&plain, &secret.stdout).unwrap();
    let enc = signd.gnupg.gpg_ok(&[
        "--trust-model",
        "always",
        "--recipient",
        &old_fpr,
        "--output",
        "-",
        "--encrypt",
        plain.to_str().unwrap(),
    ]);
    let blob = hex::encode(&enc.stdout);

    let daemon = Daemon::start(&data, "");
    let data_in = b"signed with an old project key\n";
    let arg = sha256_arg(data_in);
    let (hash, user_arg) = arg.split_once(':').unwrap();
    let req = new_request(&["privsign", &format!("{hash}:{PLAIN}"), &blob, user_arg]);
    let reply = parse_reply(&daemon.exchange(&req));
    assert_eq!(
        (reply.status, reply.err.as_str()),
        (0, ""),
        "privsign with a blob for the old key\nlog:\n{}",
        daemon.log_text()
    );
    let sig = new_outputs(&reply.out).remove(0);
    project.assert_verifies(&sig, data_in, "privsign with the old key's blob");

    // Every request naming the old key answers byte for byte as for a
    // missing one: by e-mail (gpg's name for it) and by its store name.
    for user in [OLD.to_owned(), old_fpr.clone()] {
        let missing = format!("missing-{user}");
        for (what, req, req_missing) in [
            (
                "sign",
                old_request(&user, &arg),
                old_request(&missing, &arg),
            ),
            (
                "pubkey",
                new_request(&["pubkey", &user]),
                new_request(&["pubkey", &missing]),
            ),
            (
                "privsign",
                new_request(&["privsign", &format!("{hash}:{user}"), &blob, user_arg]),
                new_request(&["privsign", &format!("{hash}:{missing}"), &blob, user_arg]),
            ),
        ] {
            let got = parse_reply(&daemon.exchange(&req));
            let want = parse_reply(&daemon.exchange(&req_missing));
            assert_eq!(
                (got.status, &got.out, got.err.clone()),
                (want.status, &want.out, want.err.replace(&missing, &user)),
                "{what} -u {user} must answer as an unknown key"
            );
            assert!(
                got.err.contains(&format!("unknown key: {user}")),
                "{what} -u {user}: {got:?}"
            );
        }
    }
}

/// `check-blobs` on an OBS project tree made of the fixture blobs and
/// public keys (gpg blobs to the signd key's ElGamal and ECDH... subkeys, a
/// symmetric "01" blob, a signd-held marker), one corrupted blob and one
/// blob beside the wrong `_pubkey`: both reported, the command fails; with
/// them removed it succeeds. `--json` says the same.
#[test]
fn check_blobs_reports_blobs_that_do_not_open() {
    let signd = Signd::new("xxx");
    let store = short_tempdir();
    let data = store.path().join("store");
    let out = signd.import(&data);
    assert!(out.status.success(), "{:?}", text(&out));

    let tree = short_tempdir();
    let projects = tree.path().join("projects");
    let project = |name: &str, blob: &[u8], public: &str| {
        let dir = projects.join(format!("{name}.pkg"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("_signkey"), blob).unwrap();
        std::fs::copy(fixture(&format!("generated/{public}")), dir.join("_pubkey")).unwrap();
    };
    let blob = |name: &str| std::fs::read(fixture(&format!("generated/{name}"))).unwrap();
    project(
        "home:p1",
        &blob("P1-rsa2048-gpgenc.hex"),
        "p1-rsa2048.pub.asc",
    );
    project(
        "home:p2",
        &blob("P2-rsa2048-symenc.hex"),
        "p2-rsa2048.pub.asc",
    );
    project(
        "home:p3",
        &blob("P3-nistp256-gpgenc.hex"),
        "p3-nistp256.pub.asc",
    );
    project("home:marker", b"x\n", "p1-rsa2048.pub.asc");
    let good = projects.clone();

    let check = |args: &[&str]| {
        let mut all = vec!["check-blobs"];
        all.extend_from_slice(args);
        let out = admin(&data, &all);
        let (o, e) = text(&out);
        (out.status.success(), o, e)
    };
    // A directory without any _signkey (the wrong one) is no pass.
    let empty = tree.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (ok, stdout, stderr) = check(&[empty.to_str().unwrap()]);
    assert!(!ok, "an empty tree passed: {stdout}");
    assert!(
        stderr.contains("no _signkey file") && stderr.contains(empty.to_str().unwrap()),
        "{stderr}"
    );

    let (ok, stdout, stderr) = check(&[good.to_str().unwrap()]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("checked 4 _signkey file(s): 3 ok, 0 failed, 1 marker(s)"),
        "{stdout}"
    );

    // One bit flipped in the ciphertext's last bytes (the MDC), and a good
    // blob next to another project's public key.
    let mut bad = blob("P3-nistp256-gpgenc.hex");
    let text_len = bad.trim_ascii_end().len();
    bad[text_len - 3] = if bad[text_len - 3] == b'0' {
        b'1'
    } else {
        b'0'
    };
    project("home:corrupt", &bad, "p3-nistp256.pub.asc");
    project(
        "home:mismatch",
        &blob("P1-rsa2048-gpgenc.hex"),
        "p2-rsa2048.pub.asc",
    );
    let (ok, stdout, stderr) = check(&[projects.to_str().unwrap()]);
    assert!(!ok, "corrupted blobs were not a failure:\n{stdout}");
    assert!(
        stdout.contains("checked 6 _signkey file(s): 3 ok, 2 failed, 1 marker(s)"),
        "{stdout}"
    );
    for name in ["home:corrupt", "home:mismatch"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(&format!("{name}.pkg/_signkey: FAILED"))),
            "{name} not reported:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("holds a different key than"),
        "the mismatch names its cause:\n{stdout}"
    );
    assert!(
        stderr.contains("2 of 6 _signkey file(s) failed"),
        "{stderr}"
    );

    let (ok, json, _) = check(&["--json", projects.to_str().unwrap()]);
    assert!(!ok);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (v["checked"].as_u64(), v["ok"].as_u64()),
        (Some(6), Some(3))
    );
    let failed: Vec<&str> = v["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["signkey"].as_str().unwrap())
        .collect();
    assert_eq!(failed.len(), 2, "{json}");
    assert!(
        failed.iter().any(|f| f.contains("home:corrupt.pkg")),
        "{json}"
    );
}

/// The migration on PostgreSQL (a scratch database; skipped without
/// `$SIGNATRUST_TEST_PG_URL`, always set in CI): keys, the decryption-only
/// key and aliases land there, a second run finds them all, and a server
/// on that store replays the fixtures and refuses the old key as unknown.
#[test]
fn import_signd_on_postgres() {
    let Some(url) = pg::scratch_database_blocking() else {
        return;
    };
    let signd = Signd::new("xxx");
    let old_fpr = signd.add_generated_keys();
    let store = short_tempdir();
    let data = store.path().join("store");
    let conf = signd.sign_conf();
    let run = || {
        admin(
            &data,
            &[
                "--database-url",
                &url,
                "import-signd",
                "--sign-conf",
                conf.to_str().unwrap(),
            ],
        )
    };
    let out = run();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("imported 3 key(s), 0 already present, 1 for decryption only"),
        "{stdout}"
    );
    let out = run();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("imported 0 key(s), 3 already present, 0 for decryption only")
            && stdout.contains(&format!("key {old_fpr} (Old <{OLD}>): already present")),
        "{stdout}"
    );
    let daemon = Daemon::start(&data, &format!("[store]\nurl = \"{url}\"\n"));
    for case in [
        "detached-sha256-v3",
        "detached-alias-sha256",
        "privsign-detached-sha256-v3",
        "privsign-symkey-detached-sha256-v3",
    ] {
        replay(&daemon, case);
    }
    let reply = parse_reply(&daemon.exchange(&old_request(OLD, &sha256_arg(b"x"))));
    assert_eq!(reply.err, format!("unknown key: {OLD}\n"));
}

/// `import-signd` takes its sign.conf from the configuration file's
/// `sign_conf` when `--sign-conf` is not given (the same file
/// `signatrustd` reads), and without either says what it needs.
#[test]
fn import_signd_reads_sign_conf_from_the_configuration_file() {
    let signd = Signd::new("xxx");
    let store = short_tempdir();
    let data = store.path().join("store");
    let without = store.path().join("without.toml");
    std::fs::write(&without, "").unwrap();
    let out = admin(
        &data,
        &["--config", without.to_str().unwrap(), "import-signd"],
    );
    let (_, err) = text(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("--sign-conf") && err.contains("sign_conf"),
        "{err}"
    );
    let with = store.path().join("with.toml");
    std::fs::write(
        &with,
        format!(
            "sign_conf = {:?}\n",
            signd.sign_conf().display().to_string()
        ),
    )
    .unwrap();
    let out = admin(&data, &["--config", with.to_str().unwrap(), "import-signd"]);
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{stdout}\n{err}");
    let names: Vec<_> = key_list(&data).into_iter().map(|(n, _, _)| n).collect();
    assert!(names.contains(&PLAIN.to_owned()), "{names:?}");
    assert!(names.contains(&SEC.to_owned()), "{names:?}");
}
