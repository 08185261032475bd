//! keygen's blob target (issue 16 item 13): Perl signd encrypts the new
//! project key with `gpg --encrypt -r TARGET`, TARGET being the user or
//! its `:enc` alias, a key ID, fingerprint or user ID; gpg encrypts to one
//! key, the newest valid encryption subkey. The oracle is gpg itself, in a
//! home holding the same keys: for every TARGET the blob from
//! `signatrustd` has exactly the one PKESK (same key ID) that `gpg
//! --encrypt -r TARGET` writes, and `gpg --decrypt` opens it; targets gpg
//! skips give gpg's own text.
#[path = "e2e_common.rs"]
mod common;

use std::time::Duration;

use common::*;

const SIGND: &str = "signd@target.test";
const OTHER: &str = "other@target.test";
const NOENC: &str = "noenc@target.test";

fn fpr_of(home: &GpgHome, user: &str) -> String {
    let out = home.gpg_ok(&["--with-colons", "--list-keys", &format!("<{user}>")]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .unwrap()
        .split(':')
        .nth(9)
        .unwrap()
        .to_string()
}

/// Key IDs of the PKESKs in an OpenPGP message, per `gpg --list-packets`.
fn pkesk_ids(home: &GpgHome, msg: &[u8]) -> Vec<String> {
    let path = home.path().join("msg.gpg");
    std::fs::write(&path, msg).unwrap();
    let out = home.gpg(&["--list-packets", path.to_str().unwrap()]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(":pubkey enc packet:"))
        .map(|l| l.rsplit("keyid ").next().unwrap().trim().to_string())
        .collect()
}

/// What gpg does with `-r target`: the PKESK key IDs, or its error line.
fn gpg_oracle(home: &GpgHome, target: &str) -> Result<Vec<String>, String> {
    let plain = home.path().join("plain");
    std::fs::write(&plain, "x").unwrap();
    let out = home.gpg(&[
        "--trust-model",
        "always",
        "--yes",
        "-o",
        "-",
        "--encrypt",
        "-r",
        target,
        plain.to_str().unwrap(),
    ]);
    if out.status.success() {
        Ok(pkesk_ids(home, &out.stdout))
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err
            .lines()
            .find(|l| l.contains("skipped"))
            .unwrap_or(&err)
            .to_string())
    }
}

#[test]
fn keygen_encrypts_to_the_one_key_gpg_r_target_picks() {
    let home = GpgHome::new();
    // The signd key: signing primary, two encryption subkeys a second
    // apart (gpg picks the newer).
    home.gpg_ok(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        &format!("Signd Target <{SIGND}>"),
        "rsa2048",
        "sign",
        "never",
    ]);
    let signd_fpr = fpr_of(&home, SIGND);
    home.gpg_ok(&[
        "--passphrase",
        "",
        "--quick-add-key",
        &signd_fpr,
        "rsa2048",
        "encr",
    ]);
    std::thread::sleep(Duration::from_millis(1100));
    home.gpg_ok(&[
        "--passphrase",
        "",
        "--quick-add-key",
        &signd_fpr,
        "rsa2048",
        "encr",
    ]);
    // Another key with one encryption subkey, and one without any.
    for (user, uid) in [(OTHER, "Other Target"), (NOENC, "No Encryption")] {
        home.gpg_ok(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            &format!("{uid} <{user}>"),
            "ed25519",
            "sign",
            "never",
        ]);
    }
    let other_fpr = fpr_of(&home, OTHER);
    let noenc_fpr = fpr_of(&home, NOENC);
    home.gpg_ok(&[
        "--passphrase",
        "",
        "--quick-add-key",
        &other_fpr,
        "cv25519",
        "encr",
    ]);
    // The older signd encryption subkey, for `KEYID!`.
    let colons = String::from_utf8(
        home.gpg_ok(&["--with-colons", "--list-keys", &format!("<{SIGND}>")])
            .stdout,
    )
    .unwrap();
    let enc_subkeys: Vec<String> = colons
        .lines()
        .filter(|l| l.starts_with("sub:"))
        .map(|l| l.split(':').nth(4).unwrap().to_string())
        .collect();
    assert_eq!(enc_subkeys.len(), 2, "{colons}");

    let data = short_tempdir();
    for user in [SIGND, OTHER, NOENC] {
        let asc = data.path().join(format!("{user}.asc"));
        let out = home.gpg_ok(&["--export-secret-keys", "-a", &format!("<{user}>")]);
        std::fs::write(&asc, out.stdout).unwrap();
        admin_ok(data.path(), &["key", "import", user, asc.to_str().unwrap()]);
    }

    let targets = [
        None,
        Some(other_fpr[24..].to_string()),
        Some(other_fpr.clone()),
        Some(format!("0x{}", other_fpr[32..].to_lowercase())),
        Some("Other Target".to_string()),
        Some(format!("<{OTHER}>")),
        Some(format!("{}!", enc_subkeys[0])),
        Some(noenc_fpr[24..].to_string()),
        Some("No Encryption".to_string()),
        Some("Nobody Target".to_string()),
        // A mail address of a key that cannot encrypt: gpg 2.2.40 then
        // says "No name" (its --auto-key-locate fallback, also for a mail
        // address no key has); we say "Unusable public key" for every key
        // that cannot encrypt (README, compatibility).
        Some(NOENC.to_string()),
    ];
    let alias = format!(":enc:{SIGND}");
    for target in targets {
        // None (the first case): no alias, the target is the user.
        if let Some(t) = &target {
            admin_ok(data.path(), &["alias", "set", &alias, t]);
        }
        let gpg_target = target.clone().unwrap_or_else(|| SIGND.to_string());
        let mut want = gpg_oracle(&home, &gpg_target);
        if gpg_target == NOENC {
            assert_eq!(want, Err(format!("gpg: {NOENC}: skipped: No name")));
            want = Err(format!("gpg: {NOENC}: skipped: Unusable public key"));
        }
        let daemon = Daemon::start(data.path(), "");
        let reply = parse_reply(&daemon.exchange(&new_request(&[
            "keygen",
            SIGND,
            "ed25519",
            "800",
            "Project",
            "project@target.test",
        ])));
        match want {
            Ok(ids) => {
                assert_eq!(ids.len(), 1, "{gpg_target}: gpg wrote {ids:?}");
                assert_eq!((reply.status, reply.err.as_str()), (0, ""), "{gpg_target}");
                let outputs = new_outputs(&reply.out);
                let blob = hex::decode(&outputs[1]).unwrap();
                assert_eq!(pkesk_ids(&home, &blob), ids, "{gpg_target}");
                let path = home.path().join("blob.gpg");
                std::fs::write(&path, &blob).unwrap();
                home.gpg_ok(&[
                    "-o",
                    "/dev/null",
                    "--yes",
                    "--decrypt",
                    path.to_str().unwrap(),
                ]);
            }
            Err(line) => {
                assert_eq!(
                    (reply.status, reply.err.trim_end()),
                    (1, line.as_str()),
                    "{gpg_target}"
                );
            }
        }
    }
}
