//! Online KEK rotation through the real binaries: `kek rotate` while a
//! server signs under load, killed with SIGKILL half-way and run again (it
//! resumes), a second server on the new KEK during the rotation, then
//! `--finish`: zero failed sign requests throughout, and afterwards the
//! store opens with the new KEK alone; and what `kek status` says at each
//! step of a rotation.

#[path = "e2e_common.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;

const KEYS: usize = 12;

fn sign_ok(d: &Daemon, user: &str, n: usize) -> bool {
    sign_at(d.addr, user, n)
}

fn sign_at(addr: std::net::SocketAddr, user: &str, n: usize) -> bool {
    let digest = hex::encode(openssl::sha::sha256(format!("{user}{n}").as_bytes()));
    let request = new_request(&[
        "sign",
        &format!("sha256:{user}"),
        &format!("{digest}@0065000000"),
    ]);
    match exchange_at(addr, &request) {
        Ok(reply) => parse_reply(&reply).status == 0,
        Err(_) => false,
    }
}

/// Signs round-robin over every key until stopped; counts requests and
/// failures.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: std::net::SocketAddr) -> Load {
        let (stop, sent, failed) = Default::default();
        let mut load = Load {
            stop,
            sent,
            failed,
            threads: Vec::new(),
        };
        for t in 0..2 {
            let (stop, sent, failed) = (load.stop.clone(), load.sent.clone(), load.failed.clone());
            load.threads.push(std::thread::spawn(move || {
                let mut n = t;
                while !stop.load(Ordering::SeqCst) {
                    if !sign_at(addr, &format!("k{}", n % KEYS), n) {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                    n += 2;
                }
            }));
        }
        load
    }

    fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        (
            self.sent.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

#[test]
fn rotation_under_load_resumes_after_sigkill_and_finishes() {
    let dir = short_tempdir();
    let data = dir.path().join("data");
    for i in 0..KEYS {
        admin_ok(
            &data,
            &[
                "key",
                "generate",
                &format!("k{i}"),
                "--type",
                "ed25519",
                "--uid",
                "R <r@example.org>",
            ],
        );
    }
    let new_key = dir.path().join("new.key");
    let new_toml = dir.path().join("new.toml");
    let kms = file_kms_toml(&new_key);
    std::fs::write(&new_toml, &kms).unwrap();
    admin_ok(
        &data,
        &["--config", new_toml.to_str().unwrap(), "kek", "create"],
    );

    // Server A on the old KEK, under load for the whole rotation.
    let a = Daemon::start(&data, "");
    let load = Load::start(a.addr);

    // The rotation, one row per transaction, killed half-way.
    let mut child = Command::new(env!("CARGO_BIN_EXE_signatrust-admin"))
        .args(["--data-dir", data.to_str().unwrap(), "kek", "rotate"])
        .args(["--to-config", new_toml.to_str().unwrap(), "--batch", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let half = format!("{}/", KEYS / 2);
    for line in lines.by_ref() {
        if line.unwrap().starts_with(&half) {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Run again: it resumes (rows done before are "before").
    let out = admin_ok(
        &data,
        &[
            "kek",
            "rotate",
            "--to-config",
            new_toml.to_str().unwrap(),
            "--batch",
            "2",
        ],
    );
    assert!(out.contains("every row is wrapped"), "{out}");
    let before: usize = out
        .split(" now, ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the summary says how many rows were done before");
    assert!(before >= KEYS / 2, "the re-run resumed: {out}");

    // Server B on the new KEK serves every key during the rotation.
    let b = Daemon::start(&data, &kms);
    for i in 0..KEYS {
        assert!(sign_ok(&b, &format!("k{i}"), 0), "k{i} on the new KEK");
    }
    let (sent_a, failed_a) = load.finish();
    assert_eq!(
        failed_a, 0,
        "{failed_a} of {sent_a} requests failed during the rotation"
    );
    assert!(sent_a > KEYS, "the load ran ({sent_a} requests)");

    // The switch is done (B); --finish under load on B.
    drop(a);
    let load = Load::start(b.addr);
    let out = admin_ok(
        &data,
        &[
            "kek",
            "rotate",
            "--to-config",
            new_toml.to_str().unwrap(),
            "--finish",
        ],
    );
    assert!(out.contains("rotation finished"), "{out}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (sent_b, failed_b) = load.finish();
    assert_eq!(
        failed_b, 0,
        "{failed_b} of {sent_b} requests failed during --finish"
    );

    // The new KEK alone: status is clean, the old key file is refused.
    let status = admin_ok(
        &data,
        &["--config", new_toml.to_str().unwrap(), "kek", "status"],
    );
    assert!(!status.contains("NOT the configured KEK"), "{status}");
    let old = admin(&data, &["key", "list"]);
    assert!(!old.status.success());
    assert!(
        String::from_utf8_lossy(&old.stderr).contains("belongs to KEK"),
        "{}",
        String::from_utf8_lossy(&old.stderr)
    );
    drop(b);
    let c = Daemon::start(&data, &kms);
    for i in 0..KEYS {
        assert!(sign_ok(&c, &format!("k{i}"), 1), "k{i} after --finish");
    }
}

/// `kek status` in the middle of a rotation, as the operator runs it at
/// each step: from the old KEK's configuration it reports the rotation;
/// from the new one (a server already switched) it reports which rows that
/// server cannot open yet, and once every row has its wrap it passes (the
/// store "belonging" to the old KEK is no refusal then: servers on the
/// new KEK serve through the wraps).
#[test]
fn kek_status_reports_a_rotation_in_progress_from_either_kek() {
    let dir = short_tempdir();
    let data = dir.path().join("data");
    let generate = |name: &str| {
        admin_ok(
            &data,
            &[
                "key",
                "generate",
                name,
                "--type",
                "ed25519",
                "--uid",
                "S <s@example.org>",
            ],
        );
    };
    generate("a");
    generate("b");
    let new_toml = dir.path().join("new.toml");
    std::fs::write(&new_toml, file_kms_toml(&dir.path().join("new.key"))).unwrap();
    let new = ["--config", new_toml.to_str().unwrap()];
    admin_ok(&data, &[&new[..], &["kek", "create"]].concat());
    // (It fails: the store does not belong to the new KEK yet.)
    let new_id = admin(&data, &[&new[..], &["kek", "status", "--json"]].concat());
    let new_id = serde_json::from_slice::<serde_json::Value>(&new_id.stdout).unwrap()["kek_id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin_ok(
        &data,
        &["kek", "rotate", "--to-config", new_toml.to_str().unwrap()],
    );
    // A key made under the old KEK after the wraps were made: no wrap.
    generate("late");

    let old = admin_ok(&data, &["kek", "status"]);
    assert!(
        old.contains(&format!(
            "rotation in progress to KEK {new_id}: 2 of 3 row(s) open with it"
        )),
        "{old}"
    );
    let out = admin(&data, &[&new[..], &["kek", "status"]].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "rotation in progress to KEK {new_id} (the configured KEK): 2 of 3 row(s)"
        )),
        "{stdout}"
    );
    assert!(
        stderr.contains("1 row(s) have no wrap under the configured KEK")
            && stderr.contains("(key late)"),
        "{stderr}"
    );
    let json = admin(&data, &[&new[..], &["kek", "status", "--json"]].concat());
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        json["rotation"],
        serde_json::json!({
            "to": new_id, "rows": 3, "ready": 2, "pending": ["key late"], "configured": true
        })
    );

    // The rotation run again wraps the late key: a server on the new KEK
    // opens every row, and status from there passes.
    admin_ok(
        &data,
        &["kek", "rotate", "--to-config", new_toml.to_str().unwrap()],
    );
    let out = admin_ok(&data, &[&new[..], &["kek", "status"]].concat());
    assert!(out.contains("3 of 3 row(s) open with it"), "{out}");
    assert!(out.contains("(the rotation's old KEK)"), "{out}");
    assert!(out.contains("--finish"), "{out}");

    // A key made on the new KEK's side: expected there, but the old side
    // cannot open it, and says so (not "rewrap it").
    admin_ok(
        &data,
        &[
            &new[..],
            &[
                "key",
                "generate",
                "fresh",
                "--type",
                "ed25519",
                "--uid",
                "F <f@example.org>",
            ],
        ]
        .concat(),
    );
    let out = admin(&data, &["kek", "status"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("(the rotation's new KEK)"), "{stdout}");
    assert!(
        stderr.contains("1 row(s) were made under the rotation's new KEK")
            && !stderr.contains("rewrap"),
        "{stderr}"
    );
    let out = admin_ok(&data, &[&new[..], &["kek", "status"]].concat());
    assert!(out.contains("4 of 4 row(s) open with it"), "{out}");

    let d = Daemon::start(&data, &std::fs::read_to_string(&new_toml).unwrap());
    for user in ["a", "b", "late", "fresh"] {
        assert!(sign_ok(&d, user, 0), "{user} on the new KEK");
    }
}
