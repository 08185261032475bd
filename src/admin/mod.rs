//! `signatrust-admin`: key, alias and migration verbs.
//!
//! Each verb lives in its own file and talks to the store through
//! [`crate::keys::KeyStore`]; nothing here touches the wire protocol or the
//! server. Output is for humans: one line per thing done, errors naming the
//! file or key they concern.

pub mod cli;
mod import_signd;
mod key;

pub use cli::AdminCli;

use std::sync::Arc;

use anyhow::Context;

use crate::keys::{FileKek, KeyStore};
use crate::settings::Settings;

/// Runs one admin command to completion.
pub async fn run(cli: AdminCli) -> anyhow::Result<()> {
    let settings = Settings::resolve(cli.global.data_dir.clone(), cli.global.config.clone(), None)?;
    match cli.command {
        cli::Command::ImportSignd(args) => {
            let store = open_store(&settings).await?;
            import_signd::run(&store, &args).await
        }
        cli::Command::Key(cmd) => {
            let store = open_store(&settings).await?;
            key::run(&store, cmd).await
        }
        cli::Command::Alias(cmd) => {
            let store = open_store(&settings).await?;
            key::alias(&store, cmd).await
        }
    }
}

/// Opens the key store the settings name, creating it on first use.
pub async fn open_store(settings: &Settings) -> anyhow::Result<KeyStore> {
    settings.ensure_data_dir()?;
    let kek = FileKek::open_or_create(&settings.kek_file)
        .with_context(|| format!("opening the key-encryption key {}", settings.kek_file.display()))?;
    KeyStore::open(&settings.store_url, Arc::new(kek))
        .await
        .with_context(|| format!("opening the key store {}", settings.store_url_redacted()))
}
