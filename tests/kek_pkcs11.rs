//! The PKCS#11 KEK against SoftHSM2: key creation through the admin code
//! path (checked non-extractable by `pkcs11-tool`, not by our code), wrap and
//! unwrap, tampering, the error texts, a store served with the HSM KEK, and
//! the file → HSM migration (`kek rewrap`), judged by the recorded fixture
//! reply byte for byte and a scan of the data dir for the key's secret MPIs,
//! and a lost session (`C_CloseAllSessions` on the token's slot, called
//! through the module's own export) reopened and logged in again.
//!
//! Every test gets its own token, all in one SoftHSM token directory made
//! once per process (SoftHSM reads `SOFTHSM2_CONF` at `C_Initialize`, and
//! only sees the tokens that exist then). Skipped, saying so, only when the
//! SoftHSM module is not installed.

#[path = "e2e_common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use clap::Parser;
use common::*;
use secrecy::SecretString;
use signatrust::keys::{FileKek, Kek, KekError, Pkcs11Kek, Pkcs11Settings};
use signatrust::secret::SecretBytes;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "1234";
const KEY_LABEL: &str = "signatrust-kek";
const PLAIN: &str = "defaultkey@localobs";
const PLAIN_FPR: &str = "2AA0E9F70F186184377807B57581F22BE40A9A2F";
/// One token per test.
const TOKENS: &[&str] = &[
    "create",
    "roundtrip",
    "errors",
    "wrongpin",
    "store",
    "rewrap",
    "session",
];

struct Hsm {
    dir: PathBuf,
}

/// The shared SoftHSM set-up, or `None` (with a message) when SoftHSM is
/// not installed.
fn hsm() -> Option<&'static Hsm> {
    if !Path::new(MODULE).exists() {
        eprintln!("SKIPPED: {MODULE} is not installed (apt-get install softhsm2)");
        return None;
    }
    static HSM: OnceLock<Hsm> = OnceLock::new();
    Some(HSM.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("kek-pkcs11-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.display()
            ),
        )
        .unwrap();
        // Before any token is used in this process; child processes
        // (signatrust-admin, signatrustd, pkcs11-tool) inherit it.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        for label in TOKENS {
            run_ok(Command::new("softhsm2-util").args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                PIN,
                "--so-pin",
                "5678",
            ]));
        }
        std::fs::write(dir.join("pin"), format!("{PIN}\n")).unwrap();
        std::fs::set_permissions(
            dir.join("pin"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        Hsm { dir }
    }))
}

impl Hsm {
    fn pin_file(&self) -> PathBuf {
        self.dir.join("pin")
    }

    /// A `[kms]` section for `token`.
    fn kms(&self, token: &str) -> String {
        format!(
            "[kms]\nprovider = \"pkcs11\"\nmodule = \"{MODULE}\"\ntoken_label = \"{token}\"\n\
             key_label = \"{KEY_LABEL}\"\npin_file = \"{}\"\n",
            self.pin_file().display()
        )
    }

    /// A configuration file holding only [`Hsm::kms`].
    fn config(&self, dir: &Path, token: &str) -> PathBuf {
        let p = dir.join(format!("{token}.toml"));
        std::fs::write(&p, self.kms(token)).unwrap();
        p
    }

    fn settings(&self, token: &str) -> Pkcs11Settings {
        Pkcs11Settings {
            module: MODULE.into(),
            token_label: token.into(),
            key_label: KEY_LABEL.into(),
            pin: SecretString::from(PIN.to_owned()),
        }
    }
}

/// The tests of this file one at a time: SoftHSM keeps its tokens in files
/// that concurrent processes (the admin and daemon children) do not share
/// safely, which showed as sporadic CKR_GENERAL_ERROR under load.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `signatrust-admin --data-dir DATA [--config CONFIG] ARGS`.
fn admin_cfg(data: &Path, config: Option<&Path>, args: &[&str]) -> Output {
    admin(data, &with_config(config, args))
}

fn admin_cfg_ok(data: &Path, config: Option<&Path>, args: &[&str]) -> String {
    admin_ok(data, &with_config(config, args))
}

fn with_config<'a>(config: Option<&'a Path>, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = Vec::new();
    if let Some(c) = config {
        v.extend(["--config", c.to_str().unwrap()]);
    }
    v.extend_from_slice(args);
    v
}

fn kek_err(r: Result<Pkcs11Kek, KekError>) -> String {
    match r {
        Ok(k) => panic!("opened {k:?}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
// The guard serialises this file's tests; the runtime is single-threaded.
#[allow(clippy::await_holding_lock)]
async fn create_via_admin_makes_a_non_extractable_key() {
    let _serial = serial();
    let Some(hsm) = hsm() else { return };
    let tmp = short_tempdir();
    let cfg = hsm.config(tmp.path(), "create");
    let data = tmp.path().join("data");
    let args = |verb: &str| {
        signatrust::admin::AdminCli::parse_from([
            "signatrust-admin",
            "--data-dir",
            data.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "kek",
            verb,
        ])
    };
    signatrust::admin::run(args("create")).await.unwrap();
    let again = format!(
        "{:#}",
        signatrust::admin::run(args("create")).await.unwrap_err()
    );
    assert!(
        again.contains(
            "an object labelled 'signatrust-kek' already exists on PKCS#11 token 'create'"
        ),
        "{again}"
    );

    // The token's own view, through OpenSC's tool.
    let objects = run_ok(Command::new("pkcs11-tool").args([
        "--module",
        MODULE,
        "--token-label",
        "create",
        "--login",
        "--pin",
        PIN,
        "--list-objects",
        "--type",
        "secrkey",
    ]));
    let n = objects.matches("Secret Key Object").count();
    assert_eq!(n, 1, "one key after two creates:\n{objects}");
    for want in [
        "AES length 32",
        "label:      signatrust-kek",
        "sensitive",
        "never extractable",
    ] {
        assert!(objects.contains(want), "no {want:?} in:\n{objects}");
    }
    let field = |name: &str| -> Vec<String> {
        let line = objects
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} line:\n{objects}"));
        line.split(',').map(|w| w.trim().to_owned()).collect()
    };
    let access = field("Access:");
    assert!(
        access.iter().any(|a| a == "never extractable")
            && access.iter().any(|a| a == "sensitive")
            && !access.iter().any(|a| a == "extractable"),
        "{access:?}"
    );
    assert_eq!(field("Usage:"), ["encrypt", "decrypt"]);

    // Asking the token for the key bytes fails.
    let dump = Command::new("pkcs11-tool")
        .args([
            "--module",
            MODULE,
            "--token-label",
            "create",
            "--login",
            "--pin",
            PIN,
            "--read-object",
            "--type",
            "secrkey",
            "--label",
            KEY_LABEL,
        ])
        .output()
        .unwrap();
    assert!(!dump.status.success(), "the KEK value could be read out");
}

#[test]
fn wrap_unwrap_round_trip_and_tampering() {
    let _serial = serial();
    let Some(hsm) = hsm() else { return };
    let s = hsm.settings("roundtrip");
    let kek = Pkcs11Kek::create(&s).unwrap();
    let id = kek.id().to_owned();
    let prefix = "pkcs11:roundtrip/signatrust-kek:";
    assert!(id.starts_with(prefix), "{id}");
    let tail = &id[prefix.len()..];
    assert!(
        tail.len() == 16 && tail.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );

    let mut raw = [0u8; 32];
    openssl::rand::rand_bytes(&mut raw).unwrap();
    let dek = SecretBytes::from_slice(&raw);
    let w = kek.wrap(&dek, b"row-1").unwrap();
    assert_eq!(w.len(), 1 + 12 + 32 + 16);
    assert_eq!(w[0], 0x02);
    assert!(!w.windows(16).any(|win| raw.windows(16).any(|r| r == win)));
    assert_eq!(kek.unwrap(&w, b"row-1").unwrap(), dek);
    // A fresh IV every time.
    let w2 = kek.wrap(&dek, b"row-1").unwrap();
    assert_ne!(w[1..13], w2[1..13]);

    // A second handle on the same key (same id) unwraps too.
    let again = Pkcs11Kek::open(&s).unwrap();
    assert_eq!(again.id(), id);
    assert_eq!(again.unwrap(&w, b"row-1").unwrap(), dek);
    drop(again);
    // ... and dropping it leaves the first one working.
    assert_eq!(kek.unwrap(&w2, b"row-1").unwrap(), dek);

    let unwrap_fails = |wrapped: &[u8], aad: &[u8], what: &str| {
        assert!(
            matches!(kek.unwrap(wrapped, aad), Err(KekError::Unwrap)),
            "{what}"
        );
    };
    unwrap_fails(&w, b"row-2", "other aad");
    unwrap_fails(&w, b"", "empty aad");
    for i in 0..w.len() {
        let mut t = w.clone();
        t[i] ^= 0x01;
        unwrap_fails(&t, b"row-1", &format!("bit flipped in byte {i}"));
    }
    unwrap_fails(&w[..w.len() - 1], b"row-1", "truncated");
    unwrap_fails(&w[..13], b"row-1", "no ciphertext");
    unwrap_fails(&[], b"row-1", "empty");

    // A file-KEK wrapped DEK is not this KEK's.
    let dir = tempfile::tempdir().unwrap();
    let file = FileKek::open_or_create(&dir.path().join("kek")).unwrap();
    unwrap_fails(&file.wrap(&dek, b"row-1").unwrap(), b"row-1", "file KEK");
}

#[test]
fn errors_name_module_token_and_key() {
    let _serial = serial();
    let Some(hsm) = hsm() else { return };
    let mut s = hsm.settings("errors");
    Pkcs11Kek::create(&s).unwrap();

    let mut missing = s.clone();
    missing.module = "/nonexistent/libpkcs11-nothing.so".into();
    let e = kek_err(Pkcs11Kek::open(&missing));
    assert!(
        e.starts_with("cannot load PKCS#11 module /nonexistent/libpkcs11-nothing.so: "),
        "{e}"
    );

    let mut token = s.clone();
    token.token_label = "no-such-token".into();
    let e = kek_err(Pkcs11Kek::open(&token));
    assert!(
        e.starts_with(&format!(
            "no PKCS#11 token labelled 'no-such-token' in module {MODULE} (tokens: "
        )),
        "{e}"
    );
    for t in TOKENS {
        assert!(e.contains(&format!("'{t}'")), "token {t} not listed: {e}");
    }

    let mut wrong = hsm.settings("wrongpin");
    wrong.pin = SecretString::from("987654".to_owned());
    let e = kek_err(Pkcs11Kek::open(&wrong));
    assert_eq!(
        e,
        "PKCS#11 login to token 'wrongpin' failed: CKR_PIN_INCORRECT"
    );

    s.key_label = "absent-key".into();
    let e = kek_err(Pkcs11Kek::open(&s));
    assert_eq!(
        e,
        "no AES key labelled 'absent-key' on PKCS#11 token 'errors'; create one with \
         `signatrust-admin kek create`"
    );

    // A key of the wrong kind under the label, made by OpenSC's tool.
    run_ok(Command::new("pkcs11-tool").args([
        "--module",
        MODULE,
        "--token-label",
        "errors",
        "--login",
        "--pin",
        PIN,
        "--keygen",
        "--key-type",
        "AES:16",
        "--label",
        "aes128",
    ]));
    s.key_label = "aes128".into();
    let e = kek_err(Pkcs11Kek::open(&s));
    assert_eq!(
        e,
        "the AES key labelled 'aes128' on PKCS#11 token 'errors' is 128 bits, expected 256"
    );

    // No PIN file and no environment variable.
    if std::env::var_os(signatrust::keys::PIN_ENV).is_none() {
        let e = signatrust::keys::read_pin(None, "errors")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "no PIN for PKCS#11 token 'errors': set kms.pin_file or the SIGNATRUST_PKCS11_PIN"
            ),
            "{e}"
        );
    }

    // Through the CLI: the message reaches the operator, without the PIN.
    let tmp = short_tempdir();
    let cfg = tmp.path().join("bad.toml");
    std::fs::write(&cfg, hsm.kms("errors").replace(KEY_LABEL, "absent-key")).unwrap();
    let out = admin_cfg(&tmp.path().join("data"), Some(&cfg), &["init"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("no AES key labelled 'absent-key' on PKCS#11 token 'errors'"),
        "{err}"
    );
    assert!(!err.contains(PIN), "{err}");
}

/// Replays one fixture connection; the reply must be byte-identical (RSA
/// signatures are deterministic, so this checks the key and the signature).
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

fn import_plain(data: &Path, config: Option<&Path>) {
    let key = fixture("obs-sign-t-fixtures/secret-key.asc");
    let out = admin_cfg_ok(
        data,
        config,
        &["key", "import", PLAIN, key.to_str().unwrap()],
    );
    assert!(out.contains(PLAIN_FPR), "{out}");
}

fn listed_fingerprint(data: &Path, config: Option<&Path>) -> String {
    let list = admin_cfg_ok(data, config, &["key", "list"]);
    let line = list
        .lines()
        .find(|l| l.starts_with(&format!("{PLAIN}\t")))
        .unwrap_or_else(|| panic!("{PLAIN} not listed: {list}"));
    line.split('\t').nth(2).unwrap().to_uppercase()
}

#[test]
fn store_with_the_hsm_kek_imports_and_signs() {
    let _serial = serial();
    let Some(hsm) = hsm() else { return };
    let tmp = short_tempdir();
    let cfg = hsm.config(tmp.path(), "store");
    let data = tmp.path().join("data");
    let out = admin_cfg_ok(&data, Some(&cfg), &["kek", "create"]);
    assert!(out.contains("pkcs11:store/signatrust-kek:"), "{out}");
    import_plain(&data, Some(&cfg));
    assert!(!data.join("kek.key").exists(), "a key file was created");
    assert_eq!(listed_fingerprint(&data, Some(&cfg)), PLAIN_FPR);

    let daemon = Daemon::start(&data, &hsm.kms("store"));
    replay(&daemon, "detached-sha256-v3");
    replay(&daemon, "detached-sha512-v3");
    drop(daemon);
    assert_no_plaintext(&data);
}

#[test]
fn rewrap_moves_a_file_kek_store_into_the_hsm() {
    let _serial = serial();
    let Some(hsm) = hsm() else { return };
    let tmp = short_tempdir();
    let new_cfg = hsm.config(tmp.path(), "rewrap");
    let data = tmp.path().join("data");
    // A store under the file KEK.
    import_plain(&data, None);
    let status = admin_cfg_ok(&data, None, &["kek", "status"]);
    assert!(status.contains("provider: file "), "{status}");
    assert!(
        status.contains("key(s), 0 encryption key(s) (configured KEK)"),
        "{status}"
    );

    // The three migration commands.
    admin_cfg_ok(&data, Some(&new_cfg), &["kek", "create"]);
    let out = admin_cfg_ok(
        &data,
        None,
        &["kek", "rewrap", "--to-config", new_cfg.to_str().unwrap()],
    );
    assert!(
        out.contains("rewrapped 1 row(s) under pkcs11:rewrap/"),
        "{out}"
    );
    let status = admin_cfg_ok(&data, Some(&new_cfg), &["kek", "status"]);
    let id_line = status
        .lines()
        .find(|l| l.starts_with("kek id: "))
        .unwrap_or_else(|| panic!("{status}"));
    let id = id_line.trim_start_matches("kek id: ");
    assert!(id.starts_with("pkcs11:rewrap/signatrust-kek:"), "{status}");
    assert!(status.contains("kek opens: yes"), "{status}");
    assert!(
        status.contains(&format!(
            "wrapped by {id}: 1 key(s), 0 encryption key(s) (configured KEK)"
        )),
        "{status}"
    );
    assert!(!status.contains("NOT"), "{status}");

    // The old configuration now finds rows it cannot open, and says so.
    let old = admin_cfg(&data, None, &["kek", "status"]);
    assert!(!old.status.success());
    let old_out = String::from_utf8_lossy(&old.stdout);
    assert!(
        old_out.contains(&format!("wrapped by {id}: 1 key(s)"))
            && old_out.contains("NOT the configured KEK"),
        "{old_out}"
    );

    // The key file is no longer needed.
    std::fs::remove_file(data.join("kek.key")).unwrap();
    assert_eq!(listed_fingerprint(&data, Some(&new_cfg)), PLAIN_FPR);
    let daemon = Daemon::start(&data, &hsm.kms("rewrap"));
    replay(&daemon, "detached-sha256-v3");
    drop(daemon);
    assert_no_plaintext(&data);
}

/// No secret MPI of the fixture key (nor its 16-byte prefix or suffix) in
/// any file of the data dir, while its public modulus is (so the scan sees
/// the data).
fn assert_no_plaintext(data: &Path) {
    let (secret, public) = key_material("secret-key.asc", None);
    assert!(secret.len() >= 5 && !public.is_empty());
    assert_scan(&read_all(data), &secret, &public);
}

/// `C_CloseAllSessions` on the slot of `token`, through the module's own
/// export (the library is loaded once per process, so this is the KEK's
/// module instance): every session of the process with the token ends and
/// the login state with them, as after a token reset.
#[allow(unsafe_code)]
fn close_all_sessions(token: &str) {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    let ctx = Pkcs11::new(MODULE).unwrap();
    // Already initialised by the KEK: CKR_CRYPTOKI_ALREADY_INITIALIZED.
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == token)
        .unwrap_or_else(|| panic!("no token {token}"));
    type CloseAll = unsafe extern "C" fn(std::os::raw::c_ulong) -> std::os::raw::c_ulong;
    // SAFETY: the PKCS#11 module's exported C_CloseAllSessions(CK_SLOT_ID)
    // -> CK_RV, called with a slot id the module itself reported.
    let rv = unsafe {
        let lib = libloading::Library::new(MODULE).unwrap();
        let close: libloading::Symbol<CloseAll> = lib.get(b"C_CloseAllSessions").unwrap();
        close(slot.id() as std::os::raw::c_ulong)
    };
    assert_eq!(rv, 0, "C_CloseAllSessions: CKR 0x{rv:x}");
}

#[test]
fn a_lost_session_is_reopened_and_logged_in_again() {
    let _serial = serial();
    let Some(hsm) = hsm() else { return };
    let kek = Pkcs11Kek::create(&hsm.settings("session")).unwrap();
    let dek = SecretBytes::new(vec![7; 32]);
    let wrapped = kek.wrap(&dek, b"row").unwrap();
    for round in 0..3 {
        close_all_sessions("session");
        assert_eq!(
            kek.unwrap(&wrapped, b"row").unwrap(),
            dek,
            "unwrap after losing the session, round {round}"
        );
        close_all_sessions("session");
        let again = kek
            .wrap(&dek, b"row")
            .unwrap_or_else(|e| panic!("wrap after losing the session, round {round}: {e}"));
        assert_eq!(kek.unwrap(&again, b"row").unwrap(), dek);
    }
    // Still bound to the AAD after a reopen.
    close_all_sessions("session");
    assert!(matches!(
        kek.unwrap(&wrapped, b"other"),
        Err(KekError::Unwrap)
    ));
    assert_eq!(kek.unwrap(&wrapped, b"row").unwrap(), dek);
}
