//! `signatrust-admin`: key, alias and migration verbs.
//!
//! Each verb lives in its own file and talks to the store through
//! [`crate::keys::KeyStore`]; nothing here touches the wire protocol or the
//! server. Output is for humans: one line per thing done, errors naming the
//! file or key they concern.

mod check_blobs;
pub mod cli;
mod db;
mod import_signd;
mod kek;
mod key;

pub use cli::AdminCli;

use crate::app::open_store;

/// Runs one admin command to completion. Logging starts once the
/// configuration is read, with its `[log] level`.
pub async fn run(cli: AdminCli) -> anyhow::Result<()> {
    let config = cli.global.load_config(None)?;
    crate::logging::init(&config.log);
    if config.lock_memory {
        crate::app::lock_memory()?;
    }
    match cli.command {
        cli::Command::ImportSignd(args) => {
            let (store, _scratch) = import_signd::open(&config, &args).await?;
            import_signd::run(&store, &args).await
        }
        cli::Command::CheckBlobs(args) => {
            let store = open_store(&config).await?;
            check_blobs::run(&store, &args).await
        }
        cli::Command::Key(cmd) => {
            let store = open_store(&config).await?;
            key::run(&store, cmd).await
        }
        cli::Command::Alias(cmd) => {
            let store = open_store(&config).await?;
            key::alias(&store, cmd).await
        }
        cli::Command::Kek(cmd) => kek::run(&config, &cli.global, cmd).await,
        cli::Command::Db(cmd) => db::run(&config, cmd).await,
        cli::Command::Backup { file } => db::backup(&config, &file).await,
    }
}
