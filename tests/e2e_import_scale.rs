//! `import-signd` at COPR's shape and (reduced) scale: a gpg home with
//! 2,000 passphrase-less Ed25519 keys, each with a phrases file holding
//! `1` (copr-keygen's marker), generated once per run by one gpg process.
//! The import runs with its stdout closed after the first line (`| head
//! -1`), must still import every key, and a second run must change
//! nothing; then every user signs through `signatrustd`, each signature
//! carrying the key ID gpg lists for that user, a sample verified by gpg.

#[path = "e2e_common.rs"]
mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::*;

const KEYS: usize = 2000;

fn user(i: usize) -> String {
    format!("owner{i}#project@copr.fedorainfracloud.org")
}

#[test]
fn import_signd_copr_scale_every_user_signs() {
    let gnupg = GpgHome::new();
    let dir = short_tempdir();
    let root = dir.path();
    let mut params = String::new();
    for i in 0..KEYS {
        params.push_str(&format!(
            "Key-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\n\
             Name-Real: owner{i}_project (None)\nName-Email: {}\n\
             Expire-Date: 0\n%no-protection\n%commit\n",
            user(i)
        ));
    }
    std::fs::write(root.join("params"), params).unwrap();
    let t = Instant::now();
    gnupg.gpg_ok(&[
        "--batch",
        "--quiet",
        "--gen-key",
        root.join("params").to_str().unwrap(),
    ]);
    eprintln!("generated {KEYS} keys in {:?}", t.elapsed());
    std::fs::create_dir(root.join("phrases")).unwrap();
    for i in 0..KEYS {
        std::fs::write(root.join("phrases").join(user(i)), "1\n").unwrap();
    }
    let conf = root.join("sign.conf");
    std::fs::write(
        &conf,
        format!(
            "allow: 0.0.0.0/0\nallow-unprivileged-ports: true\nphrases: {}/phrases\n\
             gnupghome: {}\n",
            root.display(),
            gnupg.path().display()
        ),
    )
    .unwrap();
    // gpg's own answer to "which key is USER": the fingerprint per address.
    let listing = gnupg.gpg_ok(&["--with-colons", "--list-keys"]);
    let mut fpr_of: HashMap<String, String> = HashMap::new();
    let mut fpr = String::new();
    for line in String::from_utf8(listing.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split(':').collect();
        match f[0] {
            "fpr" => fpr = f[9].to_owned(),
            "uid" => {
                let mail = f[9].split('<').nth(1).unwrap().trim_end_matches('>');
                fpr_of.insert(mail.to_owned(), fpr.clone());
            }
            _ => {}
        }
    }
    assert_eq!(fpr_of.len(), KEYS);

    let store = short_tempdir();
    let data = store.path().join("store");
    // `import-signd | head -1`: the reader goes away after one line.
    let t = Instant::now();
    let mut child = Command::new(ADMIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["import-signd", "--sign-conf"])
        .arg(&conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The pipe is closed here (the reader was dropped).
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("imported {KEYS} keys in {:?}", t.elapsed());
    assert!(
        out.status.success(),
        "import-signd with a closed stdout failed ({:?}):\n{first}\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let list = admin_ok(&data, &["key", "list"]);
    assert_eq!(list.lines().count(), KEYS, "every key is in the store");

    // A second run changes nothing, and says so.
    let again = admin(
        &data,
        &["import-signd", "--sign-conf", conf.to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("imported 0 key(s), {KEYS} already present")),
        "{}",
        stdout.lines().last().unwrap_or_default()
    );

    let daemon = Daemon::start(&data, "");
    let time: u32 = 1_800_000_000;
    let payload = b"an rpm header\n";
    let mut hashed = payload.to_vec();
    hashed.push(0);
    hashed.extend_from_slice(&time.to_be_bytes());
    let arg = format!(
        "SHA256:{}@00{time:08x}",
        hex::encode(openssl::sha::sha256(&hashed))
    );
    for i in 0..KEYS {
        let name = user(i);
        let reply = parse_reply(&daemon.exchange(&old_request(&name, &arg)));
        assert!(
            reply.status == 0 && reply.err.is_empty(),
            "sign -u {name}: {reply:?}"
        );
        let body = sig_body(&reply.out);
        let want = &fpr_of[&name][24..];
        assert_eq!(
            hex::encode_upper(&body[7..15]),
            want,
            "sign -u {name}: issuer key ID"
        );
        if i % 500 == 0 {
            gnupg.assert_verifies(&reply.out, payload, &format!("sign -u {name}"));
        }
    }
}
