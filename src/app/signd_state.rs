//! An obs-signd installation's state, loaded into a key store: the key of
//! every user with a file in `phrases:` (exported from the gpg home,
//! unlocked with the phrase), every other secret key of the gpg home that
//! can decrypt (for decryption only: Perl signd decrypts blobs with any
//! secret key of its keyring), every alias of `aliases:` and every
//! symmetric key of `encryptionkeys:`.
//!
//! [`SigndState::load`] is the one walk over that state. gpg runs a fixed
//! number of times however many keys there are: one listing of the whole
//! keyring, then `--export-secret-keys` of many keys per run, several runs
//! at once ([`LoadOptions::jobs`]); keys already stored with the same
//! fingerprint are not exported again. Keys are stored in batches of
//! [`LoadOptions::batch`], one transaction each, and reported after their
//! batch is committed, so a caller that stops in its callback stops between
//! transactions. It reports each item to a callback and leaves the wording
//! to its two callers: `signatrust-admin import-signd` (one line per item,
//! failures listed at the end, or with `--dry-run` what it would do) and the
//! daemon's test mode (a warning per item it could not load).
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::gpg_home::{export_secret_keys, split_keyring, Keyring, ListedKey, ResolveError};
use crate::config::SignConfPaths;
use crate::keys::{KeyError, KeyStore, KeyUse};
use crate::secret::SecretBytes;
use crate::sign::{import_tsk, ImportedKey};

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

/// How [`SigndState::load`] works.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Read and check everything, store nothing: each item is reported as
    /// it would be stored.
    pub dry_run: bool,
    /// gpg exports (and key unlocks) run at once. Default: the cores.
    pub jobs: usize,
    /// Keys per database transaction (and per report of progress).
    pub batch: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            dry_run: false,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            batch: 500,
        }
    }
}

/// `phrases:` is set, but no gpg home is known to export its keys from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoGpgHome;

/// What happened to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOutcome {
    /// Stored now (with `dry_run`: would be): fingerprint and user IDs.
    Imported(String),
    /// Already stored under this name with the same fingerprint.
    Present,
}

/// One state file, as [`SigndState::load`] handled it.
#[derive(Debug)]
pub enum Loaded<'a> {
    /// Before any key: how many `phrases:` users there are and how many
    /// other secret keys of the gpg home can decrypt.
    Keys { users: usize, decrypt_only: usize },
    /// A `phrases:` entry: the key stored as a signing key, or why not.
    Key {
        user: &'a str,
        result: anyhow::Result<KeyOutcome>,
    },
    /// A secret key of the gpg home that no `phrases:` entry names but that
    /// can decrypt (e.g. the previous signd key after a rotation): stored
    /// for decryption only under its fingerprint, never served, or why not
    /// (protected by a phrase no phrases file holds).
    DecryptOnly {
        fingerprint: &'a str,
        user_ids: &'a [String],
        result: anyhow::Result<KeyOutcome>,
    },
    /// An `aliases:` entry: the target it resolves to and whether it was
    /// (or would be) changed, or why not.
    Alias {
        alias: &'a str,
        result: Result<(String, bool), Failure>,
    },
    /// An `encryptionkeys:` entry: whether it was (or would be) stored,
    /// `false` when the same key is there already, or why not.
    EncryptionKey {
        id: &'a str,
        result: Result<bool, Failure>,
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

/// A `phrases:` user on its way into the store.
struct UserPlan {
    user: String,
    /// The resolved fingerprint and the phrase, or why there is none.
    todo: anyhow::Result<Option<(String, SecretString)>>,
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

    /// Loads keys, then decryption-only keys, then aliases, then encryption
    /// keys into `store` (with `opts.dry_run`: only checks them), each
    /// directory in name order, and calls `report` once per item. An error
    /// from `report` stops the walk (between two transactions) and is
    /// returned; so is a directory that cannot be read, or gpg failing to
    /// list the keyring.
    pub async fn load(
        &self,
        store: &KeyStore,
        opts: &LoadOptions,
        mut report: impl FnMut(Loaded<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        if let Some((phrases, home)) = &self.keys {
            self.load_keys(store, opts, phrases, home, &mut report)
                .await?;
        }
        if let Some(dir) = self.aliases {
            for (alias, file) in dir_entries(dir)? {
                let result = match alias_target(&file) {
                    Ok(target) => match store.alias(&alias).await {
                        Ok(Some(old)) if old == target => Ok((target, false)),
                        Ok(_) if opts.dry_run => Ok((target, true)),
                        Ok(_) => match store.set_alias(&alias, &target).await {
                            Ok(()) => Ok((target, true)),
                            Err(e) => Err(Failure::Store(e)),
                        },
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
                    Ok(secret) => match store.encryption_key(&id).await {
                        Ok(Some(old)) if old.expose() == secret.expose() => Ok(false),
                        Ok(_) if opts.dry_run => Ok(true),
                        Ok(_) => store
                            .put_encryption_key(&id, &secret)
                            .await
                            .map(|()| true)
                            .map_err(Failure::Store),
                        Err(e) => Err(Failure::Store(e)),
                    },
                    Err(e) => Err(Failure::File(e)),
                };
                report(Loaded::EncryptionKey { id: &id, result })?;
            }
        }
        Ok(())
    }

    /// The keys of `phrases:` users, then the decryption-only keys.
    async fn load_keys(
        &self,
        store: &KeyStore,
        opts: &LoadOptions,
        phrases: &Path,
        home: &Path,
        report: &mut impl FnMut(Loaded<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let entries = dir_entries(phrases)?;
        let gpg = self.gpg.to_owned();
        let home_owned = home.to_owned();
        let ring = tokio::task::spawn_blocking(move || Keyring::list(&gpg, &home_owned))
            .await
            .context("listing the gpg keyring was interrupted")??;
        // One listing of the store, not one per key.
        let stored: HashMap<String, (String, bool)> = store
            .list()
            .await?
            .into_iter()
            .map(|k| (k.name, (k.fingerprint, k.decrypt_only)))
            .collect();

        let mut users_fprs: HashSet<String> = HashSet::new();
        // The distinct phrases, to try on decryption-only keys.
        let mut phrases_seen: Vec<SecretString> = Vec::new();
        let mut plans = Vec::with_capacity(entries.len());
        for (user, file) in entries {
            if let Ok(k) = ring.resolve(&user) {
                users_fprs.insert(k.fingerprint.clone());
            }
            let todo = read_passphrase(&file).and_then(|phrase| {
                let p = phrase.expose_secret();
                if !p.is_empty() && !phrases_seen.iter().any(|q| q.expose_secret() == p) {
                    phrases_seen.push(phrase.clone());
                }
                plan_user(&ring, &stored, home, &user, phrase)
            });
            plans.push(UserPlan { user, todo });
        }
        // Every other secret key that can decrypt, as gpg would use it for
        // Perl signd's `gpg --decrypt`.
        let others: Vec<&ListedKey> = ring
            .keys
            .iter()
            .filter(|k| k.can_encrypt && k.secret_available)
            .filter(|k| !users_fprs.contains(&k.fingerprint))
            .collect();
        report(Loaded::Keys {
            users: plans.len(),
            decrypt_only: others.len(),
        })?;

        for chunk in plans.chunks_mut(opts.batch.max(1)) {
            // Export and unlock what this batch needs, several gpg runs at
            // once, grouped by phrase.
            let wanted: Vec<(String, SecretString)> = chunk
                .iter()
                .filter_map(|p| match &p.todo {
                    Ok(Some((f, ph))) => Some((f.clone(), ph.clone())),
                    _ => None,
                })
                .collect();
            let gpg = self.gpg.to_owned();
            let home_owned = home.to_owned();
            let jobs = opts.jobs;
            let mut unlocked = tokio::task::spawn_blocking(move || {
                unlock_keys(&gpg, &home_owned, &wanted, jobs, true)
            })
            .await
            .context("exporting keys was interrupted")?;
            let mut results: Vec<anyhow::Result<KeyOutcome>> = Vec::with_capacity(chunk.len());
            let mut batch: Vec<(usize, ImportedKey)> = Vec::new();
            for (i, p) in chunk.iter_mut().enumerate() {
                match std::mem::replace(&mut p.todo, Ok(None)) {
                    Err(e) => results.push(Err(e)),
                    Ok(None) => results.push(Ok(KeyOutcome::Present)),
                    Ok(Some((fpr, _))) => match unlocked.remove(&fpr) {
                        Some(Ok(key)) => {
                            results.push(Ok(KeyOutcome::Imported(describe(&key))));
                            batch.push((i, key));
                        }
                        Some(Err(e)) => results.push(Err(e)),
                        None => results.push(Err(anyhow!("gpg did not export {fpr}"))),
                    },
                }
            }
            if !opts.dry_run && !batch.is_empty() {
                let rows: Vec<(&str, &ImportedKey, KeyUse)> = batch
                    .iter()
                    .map(|(i, k)| (chunk[*i].user.as_str(), k, KeyUse::Sign))
                    .collect();
                let inserted = store.import_batch(&rows).await?;
                for ((i, _), ok) in batch.iter().zip(inserted) {
                    if !ok {
                        results[*i] = Err(anyhow!(
                            "a key named {} was stored meanwhile by someone else",
                            chunk[*i].user
                        ));
                    }
                }
            }
            for (p, result) in chunk.iter().zip(results) {
                report(Loaded::Key {
                    user: &p.user,
                    result,
                })?;
            }
        }

        self.load_decrypt_only(store, opts, home, &phrases_seen, &stored, &others, report)
            .await
    }

    /// The secret keys no `phrases:` user names that can decrypt: stored
    /// under their fingerprint for decryption only. Each is tried without a
    /// phrase, then with every phrase of `phrases:` (gpg, for Perl signd,
    /// unlocks whatever key a blob is addressed to with the request user's
    /// phrase); one that none unlocks is reported and left out.
    #[allow(clippy::too_many_arguments)]
    async fn load_decrypt_only(
        &self,
        store: &KeyStore,
        opts: &LoadOptions,
        home: &Path,
        phrases: &[SecretString],
        stored: &HashMap<String, (String, bool)>,
        others: &[&ListedKey],
        report: &mut impl FnMut(Loaded<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        for chunk in others.chunks(opts.batch.max(1)) {
            let mut results: Vec<Option<anyhow::Result<KeyOutcome>>> = Vec::new();
            let mut missing: Vec<String> = Vec::new();
            for k in chunk {
                match stored.get(&k.fingerprint) {
                    Some((fpr, _)) if *fpr == k.fingerprint => {
                        results.push(Some(Ok(KeyOutcome::Present)))
                    }
                    Some(_) => results.push(Some(Err(anyhow!(
                        "a different key named {} is already in the store",
                        k.fingerprint
                    )))),
                    None => {
                        results.push(None);
                        missing.push(k.fingerprint.clone());
                    }
                }
            }
            let mut found: HashMap<String, ImportedKey> = HashMap::new();
            let empty = SecretString::from(String::new());
            for phrase in std::iter::once(&empty).chain(phrases) {
                if missing.is_empty() {
                    break;
                }
                let wanted: Vec<(String, SecretString)> = missing
                    .iter()
                    .map(|f| (f.clone(), phrase.clone()))
                    .collect();
                let (gpg, home, jobs) = (self.gpg.to_owned(), home.to_owned(), opts.jobs);
                let unlocked = tokio::task::spawn_blocking(move || {
                    unlock_keys(&gpg, &home, &wanted, jobs, false)
                })
                .await
                .context("exporting keys was interrupted")?;
                for (fpr, key) in unlocked {
                    if let Ok(key) = key {
                        found.insert(fpr, key);
                    }
                }
                missing.retain(|f| !found.contains_key(f));
            }
            let mut batch: Vec<(&str, &ImportedKey, KeyUse)> = Vec::new();
            for (k, r) in chunk.iter().zip(results.iter_mut()) {
                if r.is_some() {
                    continue;
                }
                *r = Some(match found.get(&k.fingerprint) {
                    Some(key) => {
                        batch.push((&k.fingerprint, key, KeyUse::DecryptOnly));
                        Ok(KeyOutcome::Imported(describe(key)))
                    }
                    None => Err(anyhow!(
                        "protected, and no phrase of phrases: unlocks it (Perl signd \
                         could use it only with the phrase cached in gpg-agent)"
                    )),
                });
            }
            if !opts.dry_run && !batch.is_empty() {
                let inserted = store.import_batch(&batch).await?;
                let mut it = inserted.into_iter();
                for (k, r) in chunk.iter().zip(results.iter_mut()) {
                    if matches!(r, Some(Ok(KeyOutcome::Imported(_)))) && it.next() == Some(false) {
                        *r = Some(Err(anyhow!(
                            "a key named {} was stored meanwhile by someone else",
                            k.fingerprint
                        )));
                    }
                }
            }
            for (k, r) in chunk.iter().zip(results) {
                report(Loaded::DecryptOnly {
                    fingerprint: &k.fingerprint,
                    user_ids: &k.user_ids,
                    result: r.expect("every key has a result"),
                })?;
            }
        }
        Ok(())
    }
}

/// What to do for one `phrases:` user: `Ok(None)` when the store has the
/// key already, else the fingerprint to export and the phrase.
fn plan_user(
    ring: &Keyring,
    stored: &HashMap<String, (String, bool)>,
    home: &Path,
    user: &str,
    phrase: SecretString,
) -> anyhow::Result<Option<(String, SecretString)>> {
    let key = ring.resolve(user).map_err(|e| match e {
        ResolveError::NoKey => anyhow!("no secret key for {user} in {}", home.display()),
        ResolveError::Ambiguous(fprs) => anyhow!(
            "{} secret keys in {} match {user}: {}; expected exactly one",
            fprs.len(),
            home.display(),
            fprs.join(", ")
        ),
    })?;
    if !key.secret_available {
        bail!(
            "the secret key {} of {user} is not in {} (a stub or on a card)",
            key.fingerprint,
            home.display()
        );
    }
    match stored.get(user) {
        Some((fpr, false)) if *fpr == key.fingerprint => Ok(None),
        Some(_) => bail!("a different key named {user} is already in the store"),
        None => Ok(Some((key.fingerprint.clone(), phrase))),
    }
}

/// "FINGERPRINT user IDs", as the report shows a key.
fn describe(key: &ImportedKey) -> String {
    format!(
        "{} {}",
        hex::encode_upper(key.fingerprint),
        key.user_ids.join(", ")
    )
}

/// Exports and unlocks `wanted` (fingerprint, phrase): one gpg run per
/// phrase and share of `jobs`, `jobs` runs at once. With `explain`, a key
/// the bulk run did not yield is exported alone, so that its error is
/// gpg's (or the unlock's) for that key; without, it is left out.
fn unlock_keys(
    gpg: &Path,
    home: &Path,
    wanted: &[(String, SecretString)],
    jobs: usize,
    explain: bool,
) -> HashMap<String, anyhow::Result<ImportedKey>> {
    // Group by phrase, then cut each group into about `jobs` runs.
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by(|&a, &b| wanted[a].1.expose_secret().cmp(wanted[b].1.expose_secret()));
    let per_run = wanted.len().div_ceil(jobs.max(1)).max(1);
    let mut runs: Vec<Vec<usize>> = Vec::new();
    for i in order {
        match runs.last_mut() {
            Some(run)
                if run.len() < per_run
                    && wanted[run[0]].1.expose_secret() == wanted[i].1.expose_secret() =>
            {
                run.push(i)
            }
            _ => runs.push(vec![i]),
        }
    }
    let next = AtomicUsize::new(0);
    let out: Mutex<HashMap<String, anyhow::Result<ImportedKey>>> = Mutex::new(HashMap::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(runs.len()) {
            s.spawn(|| loop {
                let r = next.fetch_add(1, Ordering::Relaxed);
                let Some(run) = runs.get(r) else { break };
                let phrase = &wanted[run[0]].1;
                let fprs: Vec<&str> = run.iter().map(|&i| wanted[i].0.as_str()).collect();
                let mut got = export_and_unlock(gpg, home, &fprs, phrase);
                if explain {
                    for f in &fprs {
                        if !got.contains_key(*f) {
                            let result =
                                export_secret_keys(gpg, home, &[f], phrase).and_then(|data| {
                                    unlock_pieces(&data, &[f], phrase)
                                        .remove(*f)
                                        .unwrap_or_else(|| {
                                            Err(anyhow!("gpg exported no key with fingerprint {f}"))
                                        })
                                });
                            got.insert((*f).to_owned(), result);
                        }
                    }
                }
                out.lock().expect("no panics while held").extend(got);
            });
        }
    });
    out.into_inner().expect("no panics while held")
}

/// One gpg run for `fprs` with `phrase`, the output split and each key
/// unlocked; keys by fingerprint (none if gpg exported nothing).
fn export_and_unlock(
    gpg: &Path,
    home: &Path,
    fprs: &[&str],
    phrase: &SecretString,
) -> HashMap<String, anyhow::Result<ImportedKey>> {
    match export_secret_keys(gpg, home, fprs, phrase) {
        Ok(data) => unlock_pieces(&data, fprs, phrase),
        Err(_) => HashMap::new(),
    }
}

/// Splits exported keys and unlocks each with `phrase`; keys by
/// fingerprint. A key that fails to unlock is an `Err` under the
/// fingerprint it was exported for when `fprs` names only one.
fn unlock_pieces(
    data: &[u8],
    fprs: &[&str],
    phrase: &SecretString,
) -> HashMap<String, anyhow::Result<ImportedKey>> {
    let mut got = HashMap::new();
    let pieces = match split_keyring(data) {
        Ok(p) => p,
        Err(e) => {
            if let [f] = fprs {
                got.insert((*f).to_owned(), Err(e.context("gpg's export")));
            }
            return got;
        }
    };
    let passphrase = (!phrase.expose_secret().is_empty()).then_some(phrase);
    for piece in pieces {
        match import_tsk(piece, passphrase) {
            Ok(key) => {
                got.insert(hex::encode_upper(key.fingerprint), Ok(key));
            }
            Err(e) => {
                if let [f] = fprs {
                    got.insert(
                        (*f).to_owned(),
                        Err(anyhow::Error::new(e)
                            .context("cannot unlock the exported key with the phrases file")),
                    );
                }
            }
        }
    }
    got
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
        let walk = |opts: LoadOptions| {
            let (state, store) = (&state, &store);
            async move {
                let mut seen = Vec::new();
                state
                    .load(store, &opts, |item| {
                        seen.push(match item {
                            Loaded::Keys { .. } => "keys".to_owned(),
                            Loaded::Key { user, .. } => format!("key {user}"),
                            Loaded::DecryptOnly { fingerprint, .. } => format!("key {fingerprint}"),
                            Loaded::Alias { alias, result } => match result {
                                Ok((target, changed)) => {
                                    format!("alias {alias} -> {target} {changed}")
                                }
                                Err(e) => format!("alias {alias}: {e}"),
                            },
                            Loaded::EncryptionKey { id, result } => match result {
                                Ok(changed) => format!("encryption key {id} {changed}"),
                                Err(e) => format!("encryption key {id}: {e}"),
                            },
                        });
                        Ok(())
                    })
                    .await
                    .unwrap();
                seen
            }
        };
        // A dry run reports what a run does, and stores nothing.
        let dry = walk(LoadOptions {
            dry_run: true,
            ..LoadOptions::default()
        })
        .await;
        assert_eq!(store.alias("a").await.unwrap(), None);
        assert!(store
            .encryption_key("0123456789ABCDEF")
            .await
            .unwrap()
            .is_none());
        let seen = walk(LoadOptions::default()).await;
        assert_eq!(dry, seen);
        let d = d.display();
        assert_eq!(
            seen,
            [
                "alias a -> target@x true".to_owned(),
                format!("alias b: {d}/aliases/b: empty alias target"),
                "encryption key 0123456789ABCDEF true".to_owned(),
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
        // A second run finds both in place.
        let again = walk(LoadOptions::default()).await;
        assert_eq!(
            (again[0].as_str(), again[2].as_str()),
            (
                "alias a -> target@x false",
                "encryption key 0123456789ABCDEF false"
            )
        );

        // An error from the callback stops the walk.
        let mut calls = 0;
        let e = state
            .load(&store, &LoadOptions::default(), |_| {
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
