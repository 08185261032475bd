//! `db status`, `db migrate` and `backup`: the key database itself, without
//! a KEK.
use anyhow::Context;

use super::cli::DbCommand;
use super::output::say;
use crate::config::Config;
use crate::keys::{redacted_url, KeyStore, Migration, StoreBackend};

pub(super) async fn run(config: &Config, cmd: DbCommand) -> anyhow::Result<()> {
    let url = config.store_url.as_str();
    say!("database: {}", redacted_url(url));
    let backend = match config.store_url.backend() {
        StoreBackend::Sqlite => "sqlite",
        StoreBackend::Postgres => "postgresql",
    };
    say!("backend: {backend}");
    let list = match cmd {
        DbCommand::Status => KeyStore::migrations_at(url).await,
        DbCommand::Migrate => {
            // Creating the schema is creating the store: its data directory
            // too, as a server's first start does.
            crate::app::create_private_dir(&config.data_dir)?;
            KeyStore::migrate_at(url).await
        }
    }
    .context("reading the schema of the key database")?;
    print_list(&list);
    let pending = list.iter().filter(|m| !m.applied).count();
    if pending > 0 {
        anyhow::bail!(
            "{pending} migration(s) pending: apply them with `signatrust-admin db migrate` (a \
             server or admin verb opening the store also does)"
        );
    }
    say!("schema up to date");
    Ok(())
}

fn print_list(list: &[Migration]) {
    for m in list {
        let state = if m.applied { "applied" } else { "pending" };
        say!("{:04} {:<24} {state}", m.version, m.description);
    }
}

pub(super) async fn backup(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    let url = config.store_url.as_str();
    let custody = KeyStore::backup_at(url, file)
        .await
        .with_context(|| format!("backing up {}", redacted_url(url)))?;
    let (keys, enc) = custody
        .usage
        .iter()
        .fold((0, 0), |(k, e), u| (k + u.keys, e + u.encryption_keys));
    say!(
        "backed up {} to {}: {keys} key(s), {enc} encryption key(s)",
        redacted_url(url),
        file.display()
    );
    if custody.is_claimed() {
        say!(
            "the copy opens only with KEK {}: keep that KEK (backed up separately), or the \
             copy is useless",
            custody.expected()
        );
    }
    Ok(())
}
