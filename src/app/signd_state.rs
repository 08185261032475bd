//! An obs-signd installation's state, loaded into a key store: the key of
//! every user with a file in `phrases:` (exported from the gpg home with
//! `gpg --export-secret-keys`, unlocked with the phrase), every alias of
//! `aliases:` and every symmetric key of `encryptionkeys:`.
//!
//! [`SigndState::load`] is the one walk over those directories. It reports
//! each file to a callback and leaves the wording to its two callers:
//! `signatrust-admin import-signd` (one line per item, failures listed at
//! the end) and the daemon's test mode (a warning per item it could not
//! load).
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::config::SignConfPaths;
use crate::keys::{KeyError, KeyStore};
use crate::secret::SecretBytes;
use crate::sign::import_tsk;

/// The state directories of one sign.conf, with the gpg home resolved.
#[derive(Debug)]
pub struct SigndState<'a> {
    /// `phrases:` and the gpg home holding its users' keys.
    keys: Option<(&'a Path, PathBuf)>,
    aliases: Option<&'a Path>,
    encryptionkeys: Option<&'a Path>,
    /// The gpg binary that exports the keys.
    gpg: &'a Path,
}

/// `phrases:` is set, but no gpg home is known to export its keys from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoGpgHome;

/// One state file, as [`SigndState::load`] handled it.
#[derive(Debug)]
pub enum Loaded<'a> {
    /// A `phrases:` entry: the key imported (`Ok(Some(..))` with its
    /// fingerprint and user IDs), already stored with the same fingerprint
    /// (`Ok(None)`), or why not.
    Key {
        user: &'a str,
        result: anyhow::Result<Option<String>>,
    },
    /// An `aliases:` entry: the target it now resolves to, or why not.
    Alias {
        alias: &'a str,
        result: Result<String, Failure>,
    },
    /// An `encryptionkeys:` entry: stored, or why not.
    EncryptionKey {
        id: &'a str,
        result: Result<(), Failure>,
    },
}

/// Why an alias or an encryption key was not loaded.
#[derive(Debug)]
pub enum Failure {
    /// The file is unreadable or not in signd's format.
    File(anyhow::Error),
    /// The store refused the item.
    Store(KeyError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::File(e) => write!(f, "{e:#}"),
            Failure::Store(e) => write!(f, "{e}"),
        }
    }
}

impl<'a> SigndState<'a> {
    /// The state `paths` names. The gpg home is sign.conf's `gnupghome:`,
    /// else `gnupghome` (a command-line choice), else `$GNUPGHOME`; it is
    /// needed only when `phrases:` is set.
    pub fn new(
        paths: &'a SignConfPaths,
        gpg: &'a Path,
        gnupghome: Option<PathBuf>,
    ) -> Result<SigndState<'a>, NoGpgHome> {
        let keys = match &paths.phrases {
            Some(phrases) => {
                let home = paths
                    .gnupghome
                    .clone()
                    .or(gnupghome)
                    .or_else(|| std::env::var_os("GNUPGHOME").map(PathBuf::from))
                    .ok_or(NoGpgHome)?;
                Some((phrases.as_path(), home))
            }
            None => None,
        };
        Ok(SigndState {
            keys,
            aliases: paths.aliases.as_deref(),
            encryptionkeys: paths.encryptionkeys.as_deref(),
            gpg,
        })
    }

    /// Loads keys, then aliases, then encryption keys into `store`, each
    /// directory in name order, and calls `report` once per file. An error
    /// from `report` stops the walk and is returned; so is a directory that
    /// cannot be read.
    pub async fn load(
        &self,
        store: &KeyStore,
        mut report: impl FnMut(Loaded<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        if let Some((phrases, home)) = &self.keys {
            for (user, file) in dir_entries(phrases)? {
                let result = import_user(store, self.gpg, home, &user, &file).await;
                report(Loaded::Key {
                    user: &user,
                    result,
                })?;
            }
        }
        if let Some(dir) = self.aliases {
            for (alias, file) in dir_entries(dir)? {
                let result = match alias_target(&file) {
                    Ok(target) => match store.set_alias(&alias, &target).await {
                        Ok(()) => Ok(target),
                        Err(e) => Err(Failure::Store(e)),
                    },
                    Err(e) => Err(Failure::File(e)),
                };
                report(Loaded::Alias {
                    alias: &alias,
                    result,
                })?;
            }
        }
        if let Some(dir) = self.encryptionkeys {
            for (id, file) in dir_entries(dir)? {
                let result = match read_encryption_key(&id, &file) {
                    Ok(secret) => store
                        .put_encryption_key(&id, &secret)
                        .await
                        .map_err(Failure::Store),
                    Err(e) => Err(Failure::File(e)),
                };
                report(Loaded::EncryptionKey { id: &id, result })?;
            }
        }
        Ok(())
    }
}

/// Imports one signd user; `Ok(None)` when the same key is already stored.
async fn import_user(
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
fn export_secret_key(
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

/// The first line of `path`, as signd reads its phrases files.
pub fn read_passphrase(path: &Path) -> anyhow::Result<SecretString> {
    let raw = Zeroizing::new(
        std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?,
    );
    let first = raw.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let s = std::str::from_utf8(first)
        .with_context(|| format!("{}: passphrase is not UTF-8", path.display()))?;
    Ok(SecretString::from(s.to_string()))
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

/// An alias file's target: its first line, which must not be empty.
fn alias_target(path: &Path) -> anyhow::Result<String> {
    let s = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let target = s.lines().next().unwrap_or("").trim_end();
    if target.is_empty() {
        bail!("{}: empty alias target", path.display());
    }
    Ok(target.to_owned())
}

/// Files of `dir` as (name, path), sorted, hidden files and directories
/// skipped. Symlinks are followed, as signd's `-e` test follows them; a
/// dangling one is kept so that reading it fails and is reported rather than
/// skipped silently.
fn dir_entries(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(dir: &Path) -> SignConfPaths {
        SignConfPaths {
            phrases: None,
            aliases: Some(dir.join("aliases")),
            encryptionkeys: Some(dir.join("enckeys")),
            gnupghome: None,
        }
    }

    /// Aliases and encryption keys, good and bad, reported in order; no gpg
    /// needed without `phrases:`.
    #[tokio::test]
    async fn the_walk_reports_every_file_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("aliases")).unwrap();
        std::fs::create_dir(d.join("enckeys")).unwrap();
        std::fs::write(d.join("aliases/a"), "target@x\nignored\n").unwrap();
        std::fs::write(d.join("aliases/b"), "\n").unwrap();
        std::fs::write(d.join("aliases/.hidden"), "x\n").unwrap();
        std::fs::write(d.join("enckeys/0123456789ABCDEF"), "ab".repeat(72)).unwrap();
        std::fs::write(d.join("enckeys/short"), "ab").unwrap();
        let kek = crate::keys::FileKek::open_or_create(&d.join("kek")).unwrap();
        let url = format!("sqlite://{}/s.db", d.display());
        let store = KeyStore::open(&url, std::sync::Arc::new(kek))
            .await
            .unwrap();

        let paths = paths(d);
        let state = SigndState::new(&paths, Path::new("gpg"), None).unwrap();
        let mut seen = Vec::new();
        state
            .load(&store, |item| {
                seen.push(match item {
                    Loaded::Key { user, .. } => format!("key {user}"),
                    Loaded::Alias { alias, result } => match result {
                        Ok(target) => format!("alias {alias} -> {target}"),
                        Err(e) => format!("alias {alias}: {e}"),
                    },
                    Loaded::EncryptionKey { id, result } => match result {
                        Ok(()) => format!("encryption key {id}"),
                        Err(e) => format!("encryption key {id}: {e}"),
                    },
                });
                Ok(())
            })
            .await
            .unwrap();
        let d = d.display();
        assert_eq!(
            seen,
            [
                "alias a -> target@x".to_owned(),
                format!("alias b: {d}/aliases/b: empty alias target"),
                "encryption key 0123456789ABCDEF".to_owned(),
                format!(
                    "encryption key short: {d}/enckeys/short: name is not 16 uppercase hex digits"
                ),
            ]
        );
        assert_eq!(store.alias("a").await.unwrap().as_deref(), Some("target@x"));
        assert!(store
            .encryption_key("0123456789ABCDEF")
            .await
            .unwrap()
            .is_some());

        // An error from the callback stops the walk.
        let mut calls = 0;
        let e = state
            .load(&store, |_| {
                calls += 1;
                Err(anyhow!("stop"))
            })
            .await
            .unwrap_err();
        assert_eq!((e.to_string(), calls), ("stop".to_owned(), 1));
        store.close().await;
    }

    #[test]
    fn phrases_need_a_gpg_home() {
        let paths = SignConfPaths {
            phrases: Some(PathBuf::from("/p")),
            gnupghome: Some(PathBuf::from("/conf-home")),
            ..SignConfPaths::default()
        };
        let state = SigndState::new(&paths, Path::new("gpg"), Some("/flag".into())).unwrap();
        assert_eq!(
            state.keys,
            Some((Path::new("/p"), PathBuf::from("/conf-home")))
        );
        let paths = SignConfPaths {
            gnupghome: None,
            ..paths
        };
        let state = SigndState::new(&paths, Path::new("gpg"), Some("/flag".into())).unwrap();
        assert_eq!(state.keys, Some((Path::new("/p"), PathBuf::from("/flag"))));
        // Without phrases: no gpg home is needed.
        let none = SignConfPaths::default();
        assert!(SigndState::new(&none, Path::new("gpg"), None)
            .unwrap()
            .keys
            .is_none());
    }
}
