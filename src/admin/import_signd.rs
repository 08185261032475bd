//! `import-signd`: migrate a running obs-signd installation in one step.
//!
//! For every user with a file in `phrases:` the user's secret key is exported
//! from the gpg home (`gnupghome:`, else `--gnupghome`, else `$GNUPGHOME`)
//! with `gpg --export-secret-keys`, unlocked with the phrase and stored
//! envelope-encrypted. Then every alias of `aliases:` and every symmetric
//! key of `encryptionkeys:` is carried over. Each item is reported; failures
//! are listed at the end and make the command fail, after everything that
//! could be imported has been.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::cli::ImportSigndArgs;
use super::key::read_passphrase;
use crate::config::load_sign_conf_file;
use crate::keys::{KeyError, KeyStore};
use crate::secret::SecretBytes;
use crate::sign::import_tsk;

pub(super) async fn run(store: &KeyStore, args: &ImportSigndArgs) -> anyhow::Result<()> {
    let conf = load_sign_conf_file(&args.sign_conf)?;
    let paths = &conf.paths;
    let phrases = paths.phrases.clone().ok_or_else(|| {
        anyhow!(
            "{}: no phrases: directory configured, nothing to import",
            args.sign_conf.display()
        )
    })?;
    let gnupghome = paths
        .gnupghome
        .clone()
        .or_else(|| args.gnupghome.clone())
        .or_else(|| std::env::var_os("GNUPGHOME").map(PathBuf::from))
        .ok_or_else(|| {
            anyhow!(
                "{}: no gnupghome: set; pass --gnupghome or set GNUPGHOME",
                args.sign_conf.display()
            )
        })?;

    let mut failures: Vec<String> = Vec::new();
    let mut imported = 0usize;

    for (user, phrase_file) in dir_entries(&phrases)? {
        match import_user(store, &args.gpg, &gnupghome, &user, &phrase_file).await {
            Ok(Some(line)) => {
                imported += 1;
                println!("key {user}: imported {line}");
            }
            Ok(None) => println!("key {user}: already present with the same fingerprint, skipped"),
            Err(e) => {
                println!("key {user}: FAILED: {e:#}");
                failures.push(format!("key {user}: {e:#}"));
            }
        }
    }

    if let Some(dir) = &paths.aliases {
        for (alias, file) in dir_entries(dir)? {
            let result = first_line(&file).and_then(|target| {
                if target.is_empty() {
                    bail!("{}: empty alias target", file.display());
                }
                Ok(target)
            });
            match result {
                Ok(target) => match store.set_alias(&alias, &target).await {
                    Ok(()) => println!("alias {alias} -> {target}"),
                    Err(e) => failures.push(format!("alias {alias}: {e}")),
                },
                Err(e) => failures.push(format!("alias {alias}: {e:#}")),
            }
        }
    }

    if let Some(dir) = &paths.encryptionkeys {
        for (id, file) in dir_entries(dir)? {
            match read_encryption_key(&id, &file) {
                Ok(secret) => match store.put_encryption_key(&id, &secret).await {
                    Ok(()) => println!("encryption key {id}: imported"),
                    Err(e) => failures.push(format!("encryption key {id}: {e}")),
                },
                Err(e) => failures.push(format!("encryption key {id}: {e:#}")),
            }
        }
    }

    println!("imported {imported} key(s)");
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("signatrust-admin: {f}");
        }
        bail!("{} item(s) could not be imported", failures.len());
    }
    Ok(())
}

/// Imports one signd user; `Ok(None)` when the same key is already stored.
pub(crate) async fn import_user(
    store: &KeyStore,
    gpg: &Path,
    gnupghome: &Path,
    user: &str,
    phrase_file: &Path,
) -> anyhow::Result<Option<String>> {
    let phrase = read_passphrase(phrase_file)?;
    let exported = export_secret_key(gpg, gnupghome, user, &phrase)?;
    let passphrase = (!phrase.expose_secret().is_empty()).then_some(&phrase);
    let key = import_tsk(&exported, passphrase)
        .context("cannot unlock the exported key with the phrases file")?;
    match store.import(user, &key).await {
        Ok(()) => Ok(Some(format!(
            "{} {}",
            hex::encode_upper(key.fingerprint),
            key.user_ids.join(", ")
        ))),
        Err(KeyError::Exists(_)) => {
            let same = store.list().await?.into_iter().any(|k| {
                k.name == user
                    && k.fingerprint
                        .eq_ignore_ascii_case(&hex::encode(key.fingerprint))
            });
            if same {
                Ok(None)
            } else {
                bail!("a different key named {user} is already in the store")
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// `gpg --export-secret-keys` of the one key whose user ID is `<user>` (or,
/// failing that, matches `user` as gpg -u would), unlocked by loopback
/// pinentry with the phrase on stdin.
pub(crate) fn export_secret_key(
    gpg: &Path,
    home: &Path,
    user: &str,
    phrase: &SecretString,
) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let selector = [format!("<{user}>"), user.to_string()]
        .into_iter()
        .find(|sel| {
            count_secret_keys(gpg, home, sel)
                .map(|n| n > 0)
                .unwrap_or(false)
        })
        .ok_or_else(|| anyhow!("no secret key for {user} in {}", home.display()))?;
    let n = count_secret_keys(gpg, home, &selector)?;
    if n != 1 {
        bail!(
            "{n} secret keys in {} match {selector}; expected exactly one",
            home.display()
        );
    }
    let mut child = Command::new(gpg)
        .arg("--homedir")
        .arg(home)
        .args([
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase-fd",
            "0",
            "--export-secret-keys",
        ])
        .arg(&selector)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", gpg.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let mut line = Zeroizing::new(phrase.expose_secret().as_bytes().to_vec());
        line.push(b'\n');
        // gpg may not read the phrase (unprotected key): ignore EPIPE.
        let _ = stdin.write_all(&line);
    }
    let out = child.wait_with_output()?;
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() || stdout.is_empty() {
        bail!(
            "gpg --export-secret-keys {selector} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(stdout)
}

fn count_secret_keys(gpg: &Path, home: &Path, selector: &str) -> anyhow::Result<usize> {
    let out = Command::new(gpg)
        .arg("--homedir")
        .arg(home)
        .args(["--batch", "--with-colons", "--list-secret-keys"])
        .arg(selector)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", gpg.display()))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("sec:"))
        .count())
}

/// A signd encryption key file: one line of 144 hex characters; the whole
/// line is the passphrase of "01" blobs (spec §8.2).
pub fn read_encryption_key(id: &str, file: &Path) -> anyhow::Result<SecretBytes> {
    if id.len() != 16
        || !id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
    {
        bail!("{}: name is not 16 uppercase hex digits", file.display());
    }
    let raw = Zeroizing::new(
        std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?,
    );
    let line = raw.split(|&b| b == b'\n').next().unwrap_or(&[]);
    if line.len() != 144 || !line.iter().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "{}: not a signd encryption key (one line of 144 hex digits)",
            file.display()
        );
    }
    Ok(SecretBytes::from_slice(line))
}

pub(crate) fn first_line(path: &Path) -> anyhow::Result<String> {
    let s = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(s.lines().next().unwrap_or("").trim_end().to_string())
}

/// Files of `dir` as (name, path), sorted, hidden files and directories
/// skipped. Symlinks are followed, as signd's `-e` test follows them; a
/// dangling one is kept so that reading it fails and is reported rather than
/// skipped silently.
pub(crate) fn dir_entries(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read directory", dir.display()))?
    {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        match std::fs::metadata(entry.path()) {
            Ok(meta) if !meta.is_file() => continue,
            _ => {}
        }
        out.push((name, entry.path()));
    }
    out.sort();
    Ok(out)
}
