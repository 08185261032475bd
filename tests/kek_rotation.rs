//! Online KEK rotation through the real binaries: `kek rotate` while a
//! server signs under load, killed with SIGKILL half-way and run again (it
//! resumes), a second server on the new KEK during the rotation, then
//! `--finish`: zero failed sign requests throughout, and afterwards the
//! store opens with the new KEK alone.

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
    let kms = format!(
        "[kms]\nprovider = \"file\"\nkey_file = \"{}\"\n",
        new_key.display()
    );
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
