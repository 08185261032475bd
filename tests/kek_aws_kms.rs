//! The AWS KMS KEK (`[kms] provider = "aws-kms"`) against moto's server
//! mode, started by each test on loopback (`tests/support/moto.rs`): wrap
//! and unwrap bound to the AAD (the encryption context), `kek create`
//! through the admin (the alias and key checked with raw KMS calls, not
//! our SDK code), a server signing with keys wrapped under KMS (replies
//! byte-identical to the obs-signd fixtures, and `gpg --verify`), a wrong
//! or disabled key failing closed with messages naming it, online rotation
//! file → aws-kms → file, and a KMS outage under a sign load (through a
//! relay the test cuts, stalls and restores): cached keys keep signing,
//! others get an error reply within the configured bound (also when KMS
//! accepts connections and never answers), and the server recovers.
//!
//! Skipped, saying so, only when moto is not installed outside CI.

#[path = "e2e_common.rs"]
mod common;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/relay.rs"]
mod relay;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use moto::{Moto, REGION};
use relay::Relay;
use signatrust::keys::{AwsKmsKek, AwsKmsSettings, Kek, KekError};
use signatrust::secret::SecretBytes;

const PLAIN: &str = "defaultkey@localobs";
const PLAIN_FPR: &str = "2AA0E9F70F186184377807B57581F22BE40A9A2F";

/// A `[kms]` section for `key_id` at `endpoint`.
fn kms(endpoint: &str, key_id: &str, extra: &str) -> String {
    format!(
        "[kms]\nprovider = \"aws-kms\"\nkey_id = \"{key_id}\"\nregion = \"{REGION}\"\n\
         endpoint = \"{endpoint}\"\n{extra}"
    )
}

fn write_config(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn admin_cfg(data: &Path, config: &Path, args: &[&str]) -> std::process::Output {
    let mut v = vec!["--config", config.to_str().unwrap()];
    v.extend_from_slice(args);
    admin(data, &v)
}

fn admin_cfg_ok(data: &Path, config: &Path, args: &[&str]) -> String {
    let mut v = vec!["--config", config.to_str().unwrap()];
    v.extend_from_slice(args);
    admin_ok(data, &v)
}

fn stderr(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "succeeded: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn import_plain(data: &Path, config: Option<&Path>) {
    let key = fixture("obs-sign-t-fixtures/secret-key.asc");
    let mut args = Vec::new();
    if let Some(c) = config {
        args.extend(["--config", c.to_str().unwrap()]);
    }
    args.extend(["key", "import", PLAIN, key.to_str().unwrap()]);
    let out = admin_ok(data, &args);
    assert!(out.contains(PLAIN_FPR), "{out}");
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

/// The id line of `kek status`.
fn kek_id(status: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("kek id: "))
        .unwrap_or_else(|| panic!("no kek id in {status}"))
        .to_owned()
}

fn settings(endpoint: &str, key_id: &str) -> AwsKmsSettings {
    AwsKmsSettings {
        region: Some(REGION.into()),
        endpoint: Some(endpoint.into()),
        timeout: Duration::from_secs(10),
        ..AwsKmsSettings::new(key_id)
    }
}

#[test]
fn wrap_unwrap_is_bound_to_the_aad_and_the_key() {
    let tmp = short_tempdir();
    let Some(moto) = Moto::start(tmp.path()) else {
        return;
    };
    let (key_a, arn_a) = moto.create_key();
    let (_, arn_b) = moto.create_key();
    let a = AwsKmsKek::open(&settings(&moto.endpoint(), &key_a)).unwrap();
    assert_eq!(a.id(), format!("aws-kms:{arn_a}"));
    // By ARN: the same KEK id.
    let a2 = AwsKmsKek::open(&settings(&moto.endpoint(), &arn_a)).unwrap();
    assert_eq!(a2.id(), a.id());

    let dek = SecretBytes::new(vec![0x5a; 32]);
    let w = a.wrap(&dek, b"row-1").unwrap();
    assert_eq!(w[0], 3);
    assert!(
        !w.windows(32).any(|x| x == dek.expose()),
        "the DEK is in the wrap"
    );
    assert_eq!(a.unwrap(&w, b"row-1").unwrap(), dek);
    assert_eq!(a2.unwrap(&w, b"row-1").unwrap(), dek);
    for aad in [&b"row-2"[..], b"", b"row-1\0"] {
        assert!(
            matches!(a.unwrap(&w, aad), Err(KekError::Unwrap)),
            "opened under aad {aad:?}"
        );
    }
    // Another KMS key does not open it (AWS answers IncorrectKeyException,
    // an Unwrap error; moto AccessDeniedException, a KMS error: either way
    // nothing is returned).
    let b = AwsKmsKek::open(&settings(&moto.endpoint(), &arn_b)).unwrap();
    assert_ne!(b.id(), a.id());
    match b.unwrap(&w, b"row-1") {
        Err(KekError::Unwrap) => {}
        Err(KekError::AwsKms(e)) => {
            assert!(e.contains("Decrypt failed") && e.contains(&arn_b), "{e}")
        }
        other => panic!("another key opened it: {:?}", other.map(|_| "a DEK")),
    }
    // A flipped ciphertext byte does not open.
    let mut t = w.clone();
    let last = t.len() - 1;
    t[last] ^= 1;
    assert!(matches!(a.unwrap(&t, b"row-1"), Err(KekError::Unwrap)));
}

#[test]
fn create_imports_signs_and_gpg_verifies() {
    let tmp = short_tempdir();
    let Some(moto) = Moto::start(tmp.path()) else {
        return;
    };
    let data = tmp.path().join("data");
    let section = kms(&moto.endpoint(), "alias/signatrust-kek", "");
    let cfg = write_config(tmp.path(), "kms.toml", &section);

    let out = admin_cfg_ok(&data, &cfg, &["kek", "create"]);
    assert!(out.contains("created KEK aws-kms:arn:aws:kms:"), "{out}");
    // The alias exists in KMS and names an enabled symmetric key (asked
    // with raw KMS calls).
    let described = moto
        .kms("DescribeKey", r#"{"KeyId":"alias/signatrust-kek"}"#)
        .unwrap();
    let arn = described["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
    assert_eq!(described["KeyMetadata"]["KeyState"], "Enabled");
    assert_eq!(described["KeyMetadata"]["KeyUsage"], "ENCRYPT_DECRYPT");
    assert!(
        out.contains(&format!("created KEK aws-kms:{arn} ")),
        "{out}"
    );
    // A second create is refused.
    let again = stderr(&admin_cfg(&data, &cfg, &["kek", "create"]));
    assert!(again.contains("the alias exists already"), "{again}");

    import_plain(&data, Some(&cfg));
    admin_cfg_ok(
        &data,
        &cfg,
        &[
            "key",
            "generate",
            "gen1",
            "--type",
            "ed25519",
            "--uid",
            "K <k@example.org>",
        ],
    );
    assert!(!data.join("kek.key").exists(), "a key file was created");
    let status = admin_cfg_ok(&data, &cfg, &["kek", "status"]);
    assert_eq!(kek_id(&status), format!("aws-kms:{arn}"));
    assert!(status.contains("kek opens: yes"), "{status}");
    assert!(
        status.contains(&format!(
            "wrapped by aws-kms:{arn}: 2 key(s), 0 encryption key(s) (configured KEK)"
        )),
        "{status}"
    );

    let check = std::process::Command::new(env!("CARGO_BIN_EXE_signatrustd"))
        .args(["--data-dir", data.to_str().unwrap(), "--config"])
        .arg(&cfg)
        .arg("--check-config")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        said.contains(&format!("reachable, migrated, KEK aws-kms:{arn} opens it")),
        "{said}"
    );

    let daemon = Daemon::start(&data, &section);
    replay(&daemon, "detached-sha256-v3");
    replay(&daemon, "detached-sha512-v3");
    // gpg, holding only the exported public key, accepts a signature.
    let export = admin_cfg_ok(&data, &cfg, &["key", "export", "gen1"]);
    let home = GpgHome::new();
    let asc = home.path().join("gen1.asc");
    std::fs::write(&asc, &export).unwrap();
    home.gpg_ok(&["--import", asc.to_str().unwrap()]);
    let payload = b"signed under a KMS-wrapped key\n";
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let mut h = openssl::hash::Hasher::new(openssl::hash::MessageDigest::sha256()).unwrap();
    h.update(payload).unwrap();
    h.update(&[0]).unwrap();
    h.update(&time.to_be_bytes()).unwrap();
    let arg = format!("SHA256:{}@00{time:08x}", hex::encode(h.finish().unwrap()));
    let r = parse_reply(&daemon.exchange(&old_request("gen1", &arg)));
    assert_eq!(r.status, 0, "sign with gen1: {r:?}\n{}", daemon.log_text());
    home.assert_verifies(&r.out, payload, "signature by the KMS-wrapped key");
    drop(daemon);

    // Nothing secret of the fixture key in the data dir.
    let (secret, public) = key_material("secret-key.asc", None);
    assert_scan(&read_all(&data), &secret, &public);
}

#[test]
fn a_wrong_missing_or_disabled_kms_key_fails_closed() {
    let tmp = short_tempdir();
    let Some(moto) = Moto::start(tmp.path()) else {
        return;
    };
    let (key_a, arn_a) = moto.create_key();
    let (key_b, arn_b) = moto.create_key();
    let data = tmp.path().join("data");
    let good = write_config(tmp.path(), "a.toml", &kms(&moto.endpoint(), &key_a, ""));
    import_plain(&data, Some(&good));

    // Another, existing KMS key: the store's canary names both.
    let other = write_config(tmp.path(), "b.toml", &kms(&moto.endpoint(), &key_b, ""));
    let e = stderr(&admin_cfg(&data, &other, &["key", "list"]));
    assert!(
        e.contains(&format!(
            "belongs to KEK aws-kms:{arn_a}, but the configured KEK is aws-kms:{arn_b}"
        )),
        "{e}"
    );
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_signatrustd"))
        .args(["--data-dir", data.to_str().unwrap(), "--config"])
        .arg(&other)
        .arg("--check-config")
        .output()
        .unwrap();
    let e = stderr(&check);
    assert!(
        e.contains(&format!("belongs to KEK aws-kms:{arn_a}")),
        "{e}"
    );

    // A key that does not exist: named, with the service's answer.
    let missing_id = "11111111-2222-3333-4444-555555555555";
    let missing = write_config(
        tmp.path(),
        "missing.toml",
        &kms(&moto.endpoint(), missing_id, ""),
    );
    let e = stderr(&admin_cfg(&data, &missing, &["key", "list"]));
    assert!(
        e.contains(&format!(
            "KMS key '{missing_id}' (region {REGION}, endpoint {})",
            moto.endpoint()
        )) && e.contains("DescribeKey failed: NotFoundException"),
        "{e}"
    );

    // A disabled key: refused at open, working again once enabled.
    moto.kms("DisableKey", &format!(r#"{{"KeyId":"{key_a}"}}"#))
        .unwrap();
    let e = stderr(&admin_cfg(&data, &good, &["key", "list"]));
    assert!(
        e.contains(&format!("key {arn_a} is not enabled (state Disabled)")),
        "{e}"
    );
    moto.kms("EnableKey", &format!(r#"{{"KeyId":"{key_a}"}}"#))
        .unwrap();
    let list = admin_cfg_ok(&data, &good, &["key", "list"]);
    assert!(list.contains(PLAIN), "{list}");

    // The store's key under the file KEK is refused too (no key file is
    // created for a claimed store).
    let e = stderr(&admin(&data, &["key", "list"]));
    assert!(e.contains(&format!("aws-kms:{arn_a}")), "{e}");
    assert!(!data.join("kek.key").exists());
}

#[test]
fn rotate_from_a_file_kek_to_aws_kms_and_back() {
    let tmp = short_tempdir();
    let Some(moto) = Moto::start(tmp.path()) else {
        return;
    };
    let (key, arn) = moto.create_key();
    let data = tmp.path().join("data");
    import_plain(&data, None);
    let file_id = kek_id(&admin_ok(&data, &["kek", "status"]));
    let section = kms(&moto.endpoint(), &key, "");
    let to_kms = write_config(tmp.path(), "kms.toml", &section);

    let out = admin_ok(
        &data,
        &["kek", "rotate", "--to-config", to_kms.to_str().unwrap()],
    );
    assert!(
        out.contains(&format!("rotating to KEK aws-kms:{arn}")),
        "{out}"
    );
    // Both KEKs serve during the rotation.
    let on_file = Daemon::start(&data, "");
    replay(&on_file, "detached-sha256-v3");
    drop(on_file);
    let on_kms = Daemon::start(&data, &section);
    replay(&on_kms, "detached-sha256-v3");
    drop(on_kms);
    let out = admin_ok(
        &data,
        &[
            "kek",
            "rotate",
            "--to-config",
            to_kms.to_str().unwrap(),
            "--finish",
        ],
    );
    assert!(out.contains("rotation finished"), "{out}");
    let status = admin_cfg_ok(&data, &to_kms, &["kek", "status"]);
    assert!(
        status.contains(&format!(
            "wrapped by aws-kms:{arn}: 1 key(s), 0 encryption key(s) (configured KEK)"
        )) && !status.contains("NOT"),
        "{status}"
    );
    // The old key file is refused now; the KMS key alone serves.
    let e = stderr(&admin(&data, &["key", "list"]));
    assert!(e.contains("belongs to KEK"), "{e}");
    std::fs::remove_file(data.join("kek.key")).unwrap();
    let on_kms = Daemon::start(&data, &section);
    replay(&on_kms, "detached-sha512-v3");
    drop(on_kms);

    // And back to a new file KEK.
    let back_key = tmp.path().join("back.key");
    let back = write_config(tmp.path(), "back.toml", &file_kms_toml(&back_key));
    admin_cfg_ok(&data, &back, &["kek", "create"]);
    for finish in [false, true] {
        let mut args = vec!["kek", "rotate", "--to-config", back.to_str().unwrap()];
        if finish {
            args.push("--finish");
        }
        admin_cfg_ok(&data, &to_kms, &args);
    }
    let status = admin_cfg_ok(&data, &back, &["kek", "status"]);
    let back_id = kek_id(&status);
    assert!(
        back_id.starts_with("file:") && back_id != file_id,
        "{status}"
    );
    assert!(!status.contains("NOT"), "{status}");
    let e = stderr(&admin_cfg(&data, &to_kms, &["key", "list"]));
    assert!(e.contains(&format!("belongs to KEK {back_id}")), "{e}");
    let on_file = Daemon::start(&data, &file_kms_toml(&back_key));
    replay(&on_file, "detached-sha256-v3");
}

#[test]
fn rewrap_moves_a_file_kek_store_into_aws_kms() {
    let tmp = short_tempdir();
    let Some(moto) = Moto::start(tmp.path()) else {
        return;
    };
    let (key, arn) = moto.create_key();
    let data = tmp.path().join("data");
    import_plain(&data, None);
    let section = kms(&moto.endpoint(), &key, "");
    let to_kms = write_config(tmp.path(), "kms.toml", &section);
    // At trace level: the AWS SDK's own trace events print whole KMS
    // requests and responses (a data key in "Plaintext"); they are capped.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signatrust-admin"))
        .env("RUST_LOG", "trace")
        .args(["--data-dir", data.to_str().unwrap()])
        .args(["kek", "rewrap", "--to-config", to_kms.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, log) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{log}");
    assert!(
        stdout.contains(&format!("rewrapped 1 row(s) under aws-kms:{arn}")),
        "{stdout}"
    );
    assert!(log.contains("TRACE"), "trace logging is on:\n{log}");
    assert!(
        !log.contains("Plaintext") && !log.contains("CiphertextBlob"),
        "a KMS body in the log:\n{log}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&admin_cfg_ok(&data, &to_kms, &["kek", "status", "--json"])).unwrap();
    assert_eq!(json["kek_id"], format!("aws-kms:{arn}"));
    assert_eq!(json["opens"], true);
    assert_eq!(json["store_kek_id"], format!("aws-kms:{arn}"));
    assert_eq!(
        json["provider"],
        format!(
            "aws-kms key '{key}', region {REGION}, endpoint {}",
            moto.endpoint()
        )
    );
    assert_eq!(json["wrapped"][0]["configured"], true, "{json}");
    std::fs::remove_file(data.join("kek.key")).unwrap();
    let daemon = Daemon::start(&data, &section);
    replay(&daemon, "detached-sha256-v3");
}

fn sign(addr: std::net::SocketAddr, user: &str) -> Reply {
    let digest = hex::encode(openssl::sha::sha256(user.as_bytes()));
    let req = new_request(&[
        "sign",
        &format!("sha256:{user}"),
        &format!("{digest}@0065000000"),
    ]);
    parse_reply(&exchange_at(addr, &req).expect("exchange"))
}

#[test]
fn kms_outage_keeps_cached_keys_and_recovers() {
    let tmp = short_tempdir();
    let Some(moto) = Moto::start(tmp.path()) else {
        return;
    };
    let (key, _) = moto.create_key();
    let relay = Relay::start(format!("127.0.0.1:{}", moto.port));
    let section = kms(
        &format!("http://127.0.0.1:{}", relay.port),
        &key,
        "timeout_ms = 2000\nmax_attempts = 2\n",
    );
    let cfg = write_config(tmp.path(), "kms.toml", &section);
    let data = tmp.path().join("data");
    for name in ["warm", "cold", "cold2"] {
        admin_cfg_ok(
            &data,
            &cfg,
            &[
                "key",
                "generate",
                name,
                "--type",
                "ed25519",
                "--uid",
                "O <o@example.org>",
            ],
        );
    }
    let daemon = Daemon::start(
        &data,
        &format!("{section}[cache]\nttl_secs = 1\nstale_if_error_secs = 600\n"),
    );
    assert_eq!(sign(daemon.addr, "warm").status, 0);

    // A sign load on the cached key for the whole outage.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (stop, sent, failed, addr) = (stop.clone(), sent.clone(), failed.clone(), daemon.addr);
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                sent.fetch_add(1, Ordering::SeqCst);
                if sign(addr, "warm").status != 0 {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    relay.cut();
    // Past the TTL the key in use still signs (its unwrapped key is
    // served stale while KMS cannot be asked).
    std::thread::sleep(Duration::from_millis(1500));
    // A key never unwrapped: an error reply within the KMS bound (2 s per
    // call, retries included), far from the 30 s request deadline.
    let started = Instant::now();
    let r = sign(daemon.addr, "cold");
    let took = started.elapsed();
    assert_ne!(r.status, 0, "signed with an uncached key without KMS");
    assert!(!r.err.is_empty(), "{r:?}");
    assert!(
        took < Duration::from_secs(8),
        "the error took {took:?} (kms.timeout_ms 2000)"
    );
    println!("uncached key during the outage: {:?} after {took:?}", r.err);
    let log = daemon.log_text();
    assert!(
        log.contains("Decrypt failed"),
        "the log names the KMS failure:\n{log}"
    );
    // The admin says so too, naming the key and the endpoint.
    let status = admin_cfg(&data, &cfg, &["kek", "status"]);
    assert!(!status.status.success());
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(
        said.contains(&format!(
            "kek opens: no: opening the key-encryption key in AWS KMS: KMS key '{key}'"
        )) && said.contains("DescribeKey failed: cannot reach KMS"),
        "{said}"
    );

    relay.restore();
    let started = Instant::now();
    loop {
        let r = sign(daemon.addr, "cold");
        if r.status == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not recovered 30 s after KMS returned: {r:?}\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("recovered {:?} after KMS returned", started.elapsed());

    // A partition rather than a refusal: connections accepted, never
    // answered. The uncached key is refused within kms.timeout_ms, not at
    // the request deadline, and the server recovers again.
    relay.stall();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let r = sign(daemon.addr, "cold2");
    let took = started.elapsed();
    assert_ne!(r.status, 0, "signed with an uncached key without KMS");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(8),
        "the error took {took:?} (kms.timeout_ms 2000)"
    );
    println!(
        "uncached key during the partition: {:?} after {took:?}",
        r.err
    );
    let log = daemon.log_text();
    assert!(
        log.contains("no answer within 2000 ms (kms.timeout_ms)"),
        "the log names the timeout:\n{log}"
    );
    relay.restore();
    let started = Instant::now();
    while sign(daemon.addr, "cold2").status != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not recovered 30 s after the partition:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("recovered {:?} after the partition", started.elapsed());
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    let (sent, failed) = (sent.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    assert_eq!(
        failed, 0,
        "{failed} of {sent} requests for the cached key failed"
    );
    println!("{sent} requests for the cached key during the outages, {failed} failed");
    assert!(sent >= 10, "the load ran ({sent} requests)");
}
