//! `db status`, `db migrate` and `backup`: the key database itself, without
//! a KEK.
use std::path::Path;

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
            // On SQLite, creating the schema is creating the store: the
            // directory it lives in too (0700), as a server's first start
            // makes the data directory. A PostgreSQL store needs none.
            if let Some(dir) = config
                .store_url
                .sqlite_path()
                .and_then(|p| p.parent().map(Path::to_owned))
                .filter(|d| !d.as_os_str().is_empty())
            {
                crate::app::create_private_dir(&dir)?;
            }
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
    // The error names the store and the file already.
    let custody = KeyStore::backup_at(url, file).await?;
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
