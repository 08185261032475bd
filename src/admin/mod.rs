//! `signatrust-admin`: key, alias, encryption-key and migration verbs.
//!
//! Each verb lives in its own file and talks to the store through
//! [`crate::keys::KeyStore`]; nothing here touches the wire protocol or the
//! server. Output is for humans, or JSON with `--json`: every verb changes
//! the store first and prints afterwards, through `output` (a closed
//! stdout ends the output quietly, never the work). Errors name the file
//! or key they concern; exit statuses are [`crate::app::exit`]'s.

mod alias;
mod check_blobs;
pub mod cli;
mod db;
mod enckey;
mod extend;
mod import_signd;
mod kek;
mod key;
pub(crate) mod output;
mod prompt;
mod retire;

pub use cli::AdminCli;

use anyhow::{bail, Context};

use crate::app::exit::ConfigError;
use crate::app::open_store;
use crate::config::Config;
use output::say;

/// Runs one admin command to completion. Logging starts once the
/// configuration is read, with its `[log] level`. A configuration that
/// does not load is a [`ConfigError`] (exit status 78).
pub async fn run(cli: AdminCli) -> anyhow::Result<()> {
    let config = cli.global.load_config(None).context(ConfigError)?;
    crate::logging::init_quieting(&config.log, crate::keys::NOISY_LOG_TARGETS);
    if config.lock_memory {
        crate::app::lock_memory()?;
    }
    let result = dispatch(&config, cli).await;
    match (result, output::take_error()) {
        (Ok(()), Some(e)) => Err(anyhow::Error::new(e).context("cannot write to stdout")),
        (r, _) => r,
    }
}

async fn dispatch(config: &Config, cli: AdminCli) -> anyhow::Result<()> {
    use cli::Command;
    match cli.command {
        Command::ImportSignd(args) => {
            let (store, _scratch) = import_signd::open(config, &args).await?;
            import_signd::run(&store, &args).await
        }
        Command::CheckBlobs(args) => {
            let store = open_store(config).await?;
            check_blobs::run(&store, &args).await
        }
        Command::Key(cmd) => {
            let store = open_store(config).await?;
            key::run(&store, config, cmd).await
        }
        Command::Alias(cmd) => {
            let store = open_store(config).await?;
            alias::run(&store, cmd).await
        }
        Command::Enckey(cmd) => {
            let store = open_store(config).await?;
            enckey::run(&store, cmd).await
        }
        Command::DefaultUser(cmd) => {
            let store = open_store(config).await?;
            default_user(&store, config, cmd).await
        }
        Command::Kek(cmd) => kek::run(config, &cli.global, cmd).await,
        Command::Db(cmd) => db::run(config, cmd).await,
        Command::Backup { file } => db::backup(config, &file).await,
    }
}

/// `default-user show|set`.
async fn default_user(
    store: &crate::keys::KeyStore,
    config: &Config,
    cmd: cli::DefaultUserCommand,
) -> anyhow::Result<()> {
    match cmd {
        cli::DefaultUserCommand::Show => {
            let stored = store.default_user().await?;
            match (&config.users.default_user, stored) {
                (Some(c), s) => {
                    say!("{c}");
                    if let Some(s) = s {
                        output::warn_line(format_args!(
                            "note: the configuration's default user {c} overrides the store's {s}"
                        ));
                    }
                }
                (None, Some(s)) => say!("{s}"),
                (None, None) => bail!("no default user set"),
            }
        }
        cli::DefaultUserCommand::Set { name, clear } => {
            if clear {
                store.set_default_user(None).await?;
                say!("default user cleared");
            } else if let Some(name) = name {
                if !store.exists(&name).await? && store.alias(&name).await?.is_none() {
                    bail!("no key or alias named {name}");
                }
                store.set_default_user(Some(&name)).await?;
                say!("default user: {name}");
                if let Some(c) = &config.users.default_user {
                    output::warn_line(format_args!(
                        "note: the configuration's default user {c} takes precedence"
                    ));
                }
            }
        }
    }
    Ok(())
}
