//! `import-signd`: migrate a running obs-signd installation in one step
//! (`integrations.md` §4.2 items 1–5).
//!
//! For every user with a file in `phrases:` the user's secret key (with its
//! encryption subkeys) is exported from the gpg home (`gnupghome:`, else
//! `--gnupghome`, else `$GNUPGHOME`), unlocked with the phrase and stored
//! envelope-encrypted under the user's name, bound to the one fingerprint
//! the name stands for. Every other secret key of the home that can decrypt
//! is stored for decryption only (Perl signd decrypts `_signkey` blobs with
//! any key of its keyring): never served, a request for it answers as for
//! an unknown key. Then every alias of `aliases:` and every symmetric key
//! of `encryptionkeys:` is carried over, and sign.conf's `user:` and `map:`
//! targets are checked against what the store now holds (the other
//! settings are read by `signatrustd --sign-conf` itself). Each item is
//! reported; failures are listed at the end and make the command fail,
//! after everything that could be imported has been. `--dry-run` reports
//! the same and stores nothing. The walk itself is
//! [`SigndState::load`](crate::app::signd_state::SigndState::load).
//!
//! Output never stops the migration: keys are stored a batch per
//! transaction and reported after the commit; if stdout is closed
//! (`import-signd | head`) the report goes quiet and the import runs to the
//! end. On a terminal, a progress bar with count and ETA runs on stderr.
use std::collections::HashSet;
use std::io::{IsTerminal, Write};

use anyhow::{anyhow, bail};

use super::cli::ImportSigndArgs;
use super::output::{say, warn_line};
use crate::app::open_store;
use crate::app::signd_state::{KeyOutcome, LoadOptions, Loaded, SigndState};
use crate::config::{load_sign_conf_file, Config, KmsConfig, KEK_FILE};
use crate::keys::{KeyStore, StoreBackend, StoreUrl};

/// The store to import into. A dry run against an SQLite store that does
/// not exist yet checks against an empty scratch store in a temporary
/// directory (returned, to be kept while the store is used), so that it
/// creates neither the database nor the KEK file.
pub(super) async fn open(
    config: &Config,
    args: &ImportSigndArgs,
) -> anyhow::Result<(KeyStore, Option<tempfile::TempDir>)> {
    // A SQLite store with no file yet (in memory counts as none).
    let missing = config.store_url.backend() == StoreBackend::Sqlite
        && config
            .store_url
            .sqlite_path()
            .is_none_or(|path| !path.exists());
    if !(args.dry_run && missing) {
        return Ok((open_store(config).await?, None));
    }
    let dir = tempfile::Builder::new()
        .prefix("signatrust-dry-run-")
        .tempdir()
        .map_err(|e| anyhow!("cannot create a scratch directory: {e}"))?;
    let mut scratch = config.clone();
    scratch.data_dir = dir.path().to_path_buf();
    scratch.store_url = StoreUrl::sqlite_file(&dir.path().join("scratch.db"));
    scratch.kms = KmsConfig::File {
        key_file: dir.path().join(KEK_FILE),
    };
    say!(
        "dry run: no store at {} yet; checking against an empty one",
        config.store_url
    );
    Ok((open_store(&scratch).await?, Some(dir)))
}

/// The report on stdout (through `output`: quiet once stdout is closed),
/// and the progress bar.
struct Report {
    bar: Option<indicatif::ProgressBar>,
    /// Keys handled, for plain progress lines when there is no bar.
    done: u64,
    total: u64,
}

impl Report {
    fn new() -> Report {
        Report {
            bar: None,
            done: 0,
            total: 0,
        }
    }

    fn line(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| say!("{text}")),
            None => say!("{text}"),
        }
    }

    fn start(&mut self, total: usize) {
        self.total = total as u64;
        if total > 0 && std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(self.total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{wide_bar} {pos}/{len} keys, {per_sec}, {eta} left",
                )
                .expect("a valid template"),
            );
            self.bar = Some(bar);
        }
    }

    fn tick(&mut self) {
        self.done += 1;
        match &self.bar {
            Some(bar) => bar.inc(1),
            // Plain progress for large homes, every 1,000 keys.
            None if self.total > 1000
                && (self.done.is_multiple_of(1000) || self.done == self.total) =>
            {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "import-signd: {}/{} keys",
                    self.done,
                    self.total
                );
            }
            None => {}
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[derive(Default)]
struct Counts {
    imported: usize,
    present: usize,
    decrypt_only: usize,
    not_decrypt_only: usize,
}

pub(super) async fn run(store: &KeyStore, args: &ImportSigndArgs) -> anyhow::Result<()> {
    // `admin::run` fills in the configuration's `sign_conf`.
    let sign_conf = args.sign_conf.as_deref().ok_or_else(|| {
        anyhow!("import-signd needs a sign.conf: pass --sign-conf FILE or set sign_conf in the configuration file")
    })?;
    let conf = load_sign_conf_file(sign_conf)?;
    if conf.paths.phrases.is_none() {
        bail!(
            "{}: no phrases: directory configured, nothing to import",
            sign_conf.display()
        );
    }
    let state = SigndState::new(&conf.paths, &args.gpg, args.gnupghome.clone()).map_err(|_| {
        anyhow!(
            "{}: no gnupghome: set; pass --gnupghome or set GNUPGHOME",
            sign_conf.display()
        )
    })?;
    let opts = LoadOptions {
        dry_run: args.dry_run,
        jobs: args.jobs.map_or(LoadOptions::default().jobs, usize::from),
        ..LoadOptions::default()
    };
    let (would, dry) = if args.dry_run {
        ("would import", "dry run: ")
    } else {
        ("imported", "")
    };

    let mut report = Report::new();
    let mut failures: Vec<String> = Vec::new();
    let mut counts = Counts::default();
    // Names a request may now reach: keys and aliases.
    let mut names: HashSet<String> = HashSet::new();
    for w in &conf.warnings {
        report.line(&format!("sign.conf: {w}"));
    }
    let walk = state
        .load(store, &opts, |item| {
            match item {
                Loaded::Keys {
                    users,
                    decrypt_only,
                } => {
                    report.line(&format!(
                        "{dry}{users} user(s) in phrases:, {decrypt_only} other secret key(s) \
                         that can decrypt"
                    ));
                    report.start(users + decrypt_only);
                }
                Loaded::Key { user, result } => {
                    report.tick();
                    match result {
                        Ok(KeyOutcome::Imported(line)) => {
                            counts.imported += 1;
                            names.insert(user.to_owned());
                            report.line(&format!("key {user}: {would} {line}"));
                        }
                        Ok(KeyOutcome::Present) => {
                            counts.present += 1;
                            names.insert(user.to_owned());
                            report.line(&format!(
                                "key {user}: already present with the same fingerprint, skipped"
                            ));
                        }
                        Err(e) => {
                            report.line(&format!("key {user}: FAILED: {e:#}"));
                            failures.push(format!("key {user}: {e:#}"));
                        }
                    }
                }
                Loaded::DecryptOnly {
                    fingerprint,
                    user_ids,
                    result,
                } => {
                    report.tick();
                    let uids = user_ids.join(", ");
                    match result {
                        Ok(KeyOutcome::Imported(_)) => {
                            counts.decrypt_only += 1;
                            report.line(&format!(
                                "key {fingerprint} ({uids}): no phrases file: {would} for \
                                 decrypting blobs only, never served for signing"
                            ));
                        }
                        Ok(KeyOutcome::Present) => report.line(&format!(
                            "key {fingerprint} ({uids}): already present for decryption only"
                        )),
                        Err(e) => {
                            counts.not_decrypt_only += 1;
                            report.line(&format!(
                                "key {fingerprint} ({uids}): no phrases file, not imported for \
                                 decryption: {e:#}"
                            ));
                        }
                    }
                }
                Loaded::Alias { alias, result } => match result {
                    Ok((target, true)) => {
                        names.insert(alias.to_owned());
                        let verb = if args.dry_run { "would set " } else { "" };
                        report.line(&format!("{verb}alias {alias} -> {target}"));
                    }
                    Ok((target, false)) => {
                        names.insert(alias.to_owned());
                        report.line(&format!("alias {alias} -> {target}: already present"));
                    }
                    Err(e) => {
                        report.line(&format!("alias {alias}: FAILED: {e}"));
                        failures.push(format!("alias {alias}: {e}"));
                    }
                },
                Loaded::EncryptionKey { id, result } => match result {
                    Ok(true) => report.line(&format!("encryption key {id}: {would}")),
                    Ok(false) => report.line(&format!("encryption key {id}: already present")),
                    Err(e) => {
                        report.line(&format!("encryption key {id}: FAILED: {e}"));
                        failures.push(format!("encryption key {id}: {e}"));
                    }
                },
            }
            Ok(())
        })
        .await;
    report.finish();
    walk?;

    // sign.conf's own settings: signatrustd reads them from the file; what
    // they name must be here.
    let conf_name = sign_conf.display();
    let mut targets: Vec<(String, &str)> = Vec::new();
    if let Some(user) = &conf.user {
        targets.push(("user:".to_owned(), user));
    }
    for (from, to) in &conf.map {
        if !to.is_empty() {
            targets.push((format!("map: {from}"), to));
        }
    }
    for (what, name) in targets {
        let found =
            names.contains(name) || store.exists(name).await? || store.alias(name).await?.is_some();
        if found {
            report.line(&format!("sign.conf {what} {name}: present"));
        } else {
            let e = format!(
                "{conf_name}: {what} names {name}, which is neither an imported key nor an alias"
            );
            report.line(&format!("sign.conf: FAILED: {e}"));
            failures.push(e);
        }
    }
    report.line(&format!(
        "sign.conf: serve with `signatrustd --sign-conf {conf_name}` to keep its allow:, \
         port:, user:, map:, server: and TLS settings"
    ));

    report.line(&format!(
        "{dry}{would} {} key(s), {} already present, {} for decryption only{}",
        counts.imported,
        counts.present,
        counts.decrypt_only,
        if counts.not_decrypt_only > 0 {
            format!(
                ", {} protected key(s) without a phrases file left out",
                counts.not_decrypt_only
            )
        } else {
            String::new()
        }
    ));
    if args.dry_run {
        report.line("dry run: nothing was changed");
    }
    if !failures.is_empty() {
        for f in &failures {
            warn_line(format_args!("{f}"));
        }
        bail!("{} item(s) could not be imported", failures.len());
    }
    Ok(())
}
