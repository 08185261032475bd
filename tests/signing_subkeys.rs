//! Signing subkeys (issue 16 item 4; spec §13 "Which key signs"): signd
//! signs with the *last* signing-capable key or subkey of the user's key.
//! A matrix over key types (RSA, DSA, EdDSA, ECDSA) × {certify-only
//! primary, signing primary} plus a signing subkey, each made by gpg
//! (`--quick-gen-key … cert|sign` + `--quick-add-key … sign`), imported
//! with `signatrust-admin key import` and with `import-signd`, served by
//! `signatrustd` and signed through by the real C `sign` client. Oracles:
//! `gpg --verify` accepts every signature, and the issuer is the key Perl
//! signd's `find_key` picks from gpg's own `--with-colons` listing (the
//! last `pub`/`sub` line whose capabilities hold a lower-case `s`).
#[path = "support/client.rs"]
mod client;
#[path = "e2e_common.rs"]
mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// (gpg algorithm of the primary, of the signing subkey, label): gpg
/// makes a `nistp256` subkey ECDH unless told `/ecdsa`.
const ALGOS: [(&str, &str, &str); 4] = [
    ("rsa2048", "rsa2048", "rsa"),
    ("dsa2048", "dsa2048", "dsa"),
    ("ed25519", "ed25519", "eddsa"),
    ("nistp256", "nistp256/ecdsa", "ecdsa"),
];

struct Made {
    user: String,
    /// The key ID (16 upper-case hex) Perl signd signs with.
    perl_issuer: String,
    primary: String,
}

/// Perl signd's `find_key` over `gpg --with-colons` output: the last
/// `pub`/`sub` of the first key whose own capabilities contain `s`.
fn perl_choice(colons: &str) -> String {
    let mut chosen = None;
    for line in colons.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if (f[0] == "pub" || f[0] == "sub") && f.get(11).is_some_and(|c| c.contains('s')) {
            chosen = Some(f[4].to_uppercase());
        }
    }
    chosen.expect("gpg lists a signing-capable key")
}

fn make_keys(home: &GpgHome) -> Vec<Made> {
    let mut made = Vec::new();
    for (algo, sub_algo, label) in ALGOS {
        for usage in ["cert", "sign"] {
            let user = format!("{label}-{usage}@subkeys.test");
            home.gpg_ok(&[
                "--passphrase",
                "",
                "--quick-gen-key",
                &format!("Subkey Test <{user}>"),
                algo,
                usage,
                "never",
            ]);
            let colons = String::from_utf8(
                home.gpg_ok(&["--with-colons", "--list-keys", &format!("<{user}>")])
                    .stdout,
            )
            .unwrap();
            let fpr = colons
                .lines()
                .find(|l| l.starts_with("fpr:"))
                .unwrap()
                .split(':')
                .nth(9)
                .unwrap()
                .to_string();
            home.gpg_ok(&[
                "--passphrase",
                "",
                "--quick-add-key",
                &fpr,
                sub_algo,
                "sign",
            ]);
            let colons = String::from_utf8(
                home.gpg_ok(&["--with-colons", "--list-keys", &format!("<{user}>")])
                    .stdout,
            )
            .unwrap();
            let perl_issuer = perl_choice(&colons);
            // The shape under test: the subkey is the one that signs.
            assert_ne!(perl_issuer, fpr[24..], "{user}: {colons}");
            made.push(Made {
                user,
                perl_issuer,
                primary: fpr,
            });
        }
    }
    made
}

/// Issuer key IDs in a signature, as `gpg --list-packets` shows them.
fn issuers(home: &GpgHome, sig: &Path) -> Vec<String> {
    let out = home.gpg(&["--list-packets", sig.to_str().unwrap()]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(":signature packet:"))
        .filter_map(|(_, rest)| rest.split("keyid ").nth(1))
        .map(|id| id.trim().to_uppercase())
        .collect()
}

fn sign_and_check(daemon: &Daemon, home: &GpgHome, keys: &[Made], how: &str) {
    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("client.conf");
    std::fs::write(&conf, client::client_conf(daemon.addr.port())).unwrap();
    for k in keys {
        let data = work.path().join(format!("{}.txt", k.user));
        std::fs::write(&data, format!("signed by {}\n", k.user)).unwrap();
        for hash in ["sha256", "sha512"] {
            let out = Command::new(client::sign_client())
                .arg("--config")
                .arg(&conf)
                .args(["-u", &k.user, "-h", hash, "-d"])
                .arg(&data)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{how} {} {hash}: {}\n{}",
                k.user,
                String::from_utf8_lossy(&out.stderr),
                daemon.log_text()
            );
            let sig = data.with_extension("txt.asc");
            let (ok, text) = home.verifies(
                &std::fs::read(&sig).unwrap(),
                &std::fs::read(&data).unwrap(),
            );
            assert!(ok, "{how} {} {hash}: gpg --verify: {text}", k.user);
            assert_eq!(
                issuers(home, &sig),
                std::slice::from_ref(&k.perl_issuer),
                "{how} {} {hash}: issuer (primary {})",
                k.user,
                k.primary
            );
            std::fs::remove_file(&sig).unwrap();
        }
    }
}

#[test]
fn signing_subkeys_sign_as_perl_signd_picks_them() {
    let home = GpgHome::new();
    let keys = make_keys(&home);

    // signatrust-admin key import, from `gpg --export-secret-keys`.
    let data = short_tempdir();
    for k in &keys {
        let asc = data.path().join(format!("{}.asc", k.user));
        let out = home.gpg_ok(&["--export-secret-keys", "-a", &format!("<{}>", k.user)]);
        std::fs::write(&asc, out.stdout).unwrap();
        admin_ok(
            data.path(),
            &["key", "import", &k.user, asc.to_str().unwrap()],
        );
    }
    let daemon = Daemon::start(data.path(), "");
    sign_and_check(&daemon, &home, &keys, "key import");
    drop(daemon);

    // import-signd, from the gpg home and a phrases directory.
    let signd = short_tempdir();
    std::fs::create_dir(signd.path().join("phrases")).unwrap();
    for k in &keys {
        std::fs::write(signd.path().join("phrases").join(&k.user), "").unwrap();
    }
    let conf = signd.path().join("sign.conf");
    std::fs::write(
        &conf,
        format!(
            "allow: 127.0.0.1\nphrases: {}\ngnupghome: {}\n",
            signd.path().join("phrases").display(),
            home.path().display()
        ),
    )
    .unwrap();
    let data = short_tempdir();
    let out = admin(
        data.path(),
        &["import-signd", "--sign-conf", conf.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "import-signd: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let daemon = Daemon::start(data.path(), "");
    sign_and_check(&daemon, &home, &keys, "import-signd");
}
