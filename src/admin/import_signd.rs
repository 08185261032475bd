//! `import-signd`: migrate a running obs-signd installation in one step.
//!
//! For every user with a file in `phrases:` the user's secret key is exported
//! from the gpg home (`gnupghome:`, else `--gnupghome`, else `$GNUPGHOME`)
//! with `gpg --export-secret-keys`, unlocked with the phrase and stored
//! envelope-encrypted. Then every alias of `aliases:` and every symmetric
//! key of `encryptionkeys:` is carried over. Each item is reported; failures
//! are listed at the end and make the command fail, after everything that
//! could be imported has been. The walk itself is
//! [`SigndState::load`](crate::app::signd_state::SigndState::load).
use anyhow::{anyhow, bail};

use super::cli::ImportSigndArgs;
use crate::app::signd_state::{Loaded, SigndState};
use crate::config::load_sign_conf_file;
use crate::keys::KeyStore;

pub(super) async fn run(store: &KeyStore, args: &ImportSigndArgs) -> anyhow::Result<()> {
    let conf = load_sign_conf_file(&args.sign_conf)?;
    if conf.paths.phrases.is_none() {
        bail!(
            "{}: no phrases: directory configured, nothing to import",
            args.sign_conf.display()
        );
    }
    let state = SigndState::new(&conf.paths, &args.gpg, args.gnupghome.clone()).map_err(|_| {
        anyhow!(
            "{}: no gnupghome: set; pass --gnupghome or set GNUPGHOME",
            args.sign_conf.display()
        )
    })?;

    let mut failures: Vec<String> = Vec::new();
    let mut imported = 0usize;
    state
        .load(store, |item| {
            match item {
                Loaded::Key {
                    user,
                    result: Ok(Some(line)),
                } => {
                    imported += 1;
                    println!("key {user}: imported {line}");
                }
                Loaded::Key {
                    user,
                    result: Ok(None),
                } => println!("key {user}: already present with the same fingerprint, skipped"),
                Loaded::Key {
                    user,
                    result: Err(e),
                } => {
                    println!("key {user}: FAILED: {e:#}");
                    failures.push(format!("key {user}: {e:#}"));
                }
                Loaded::Alias {
                    alias,
                    result: Ok(target),
                } => println!("alias {alias} -> {target}"),
                Loaded::Alias {
                    alias,
                    result: Err(e),
                } => failures.push(format!("alias {alias}: {e}")),
                Loaded::EncryptionKey { id, result: Ok(()) } => {
                    println!("encryption key {id}: imported")
                }
                Loaded::EncryptionKey { id, result: Err(e) } => {
                    failures.push(format!("encryption key {id}: {e}"))
                }
            }
            Ok(())
        })
        .await?;

    println!("imported {imported} key(s)");
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("signatrust-admin: {f}");
        }
        bail!("{} item(s) could not be imported", failures.len());
    }
    Ok(())
}
