//! `signatrust-admin`: key, alias and migration verbs.
//!
//! Each verb lives in its own file and talks to the store through
//! [`crate::keys::KeyStore`]; nothing here touches the wire protocol or the
//! server. Output is for humans: one line per thing done, errors naming the
//! file or key they concern.

mod audit;
pub mod cli;
mod import_signd;
mod kek;
mod key;

pub use cli::AdminCli;

use crate::app::open_store;
use crate::config::Config;

/// Runs one admin command to completion. Logging starts once the
/// configuration is read, with its `[log] level`. A verb that changes
/// something is recorded in the audit trail afterwards, with its outcome
/// (`crate::audit::record_admin`); if that fails the command fails too,
/// saying that the change itself was made.
pub async fn run(cli: AdminCli) -> anyhow::Result<()> {
    let config = Config::load(cli.global.data_dir.clone(), cli.global.config.clone(), None)?;
    crate::logging::init(&config.log);
    let change = audit::describe(&cli.command);
    let kek_create = matches!(cli.command, cli::Command::Kek(cli::KekCommand::Create));
    let name = change.as_ref().map(|c| c.key.clone()).unwrap_or_default();
    let mut fingerprint = String::new();
    let result = run_verb(&config, &cli.global, cli.command, &name, &mut fingerprint).await;
    let Some(mut change) = change else {
        return result;
    };
    change.fingerprint = fingerprint;
    let outcome = result.as_ref().map(drop).map_err(|e| format!("{e:#}"));
    if let Err(e) = crate::audit::record_admin(config.store_url.as_str(), change, outcome).await {
        let e = format!("{:#}", anyhow::Error::new(e));
        // `kek create` may run before the database exists.
        if result.is_ok() && !kek_create {
            anyhow::bail!(
                "the change was made, but it could not be recorded in the audit trail: {e}"
            );
        }
        eprintln!("signatrust-admin: warning: not recorded in the audit trail: {e}");
    }
    result
}

/// The fingerprint of key `name`, if there is one (for the audit record).
async fn key_fingerprint(store: &crate::keys::KeyStore, name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    store.info(name).await.ok().flatten().map(|i| i.fingerprint)
}

/// Runs the verb; for `key` verbs, sets `fingerprint` to that of key
/// `name` (after the change, else before it).
async fn run_verb(
    config: &Config,
    global: &crate::app::cli::GlobalArgs,
    command: cli::Command,
    name: &str,
    fingerprint: &mut String,
) -> anyhow::Result<()> {
    match command {
        cli::Command::Key(cmd) => {
            let store = open_store(config).await?;
            let before = key_fingerprint(&store, name).await;
            let r = key::run(&store, cmd).await;
            *fingerprint = key_fingerprint(&store, name)
                .await
                .or(before)
                .unwrap_or_default();
            r
        }
        cli::Command::Audit(cmd) => audit::run(config.store_url.as_str(), cmd).await,
        cli::Command::ImportSignd(args) => {
            let store = open_store(config).await?;
            import_signd::run(&store, &args).await
        }
        cli::Command::Alias(cmd) => {
            let store = open_store(config).await?;
            key::alias(&store, cmd).await
        }
        cli::Command::Kek(cmd) => kek::run(config, global, cmd).await,
    }
}
