//! `signatrust-admin`: key, alias, encryption-key and migration verbs.
//!
//! Each verb lives in its own file and talks to the store through
//! [`crate::keys::KeyStore`]; nothing here touches the wire protocol or the
//! server. Output is for humans, or JSON with `--json`: every verb changes
//! the store first and prints afterwards, through `output` (a closed
//! stdout ends the output quietly, never the work). Errors name the file
//! or key they concern; exit statuses are [`crate::app::exit`]'s.

mod alias;
mod audit;
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
/// does not load is a [`ConfigError`] (exit status 78). A verb that changes
/// something is recorded in the audit trail afterwards, with its outcome
/// (`crate::audit::record_admin`); if that fails the command fails too,
/// saying that the change itself was made.
pub async fn run(mut cli: AdminCli) -> anyhow::Result<()> {
    let config = cli.global.load_config(None).context(ConfigError)?;
    if let cli::Command::ImportSignd(args) = &mut cli.command {
        if args.sign_conf.is_none() {
            args.sign_conf = config.sign_conf_path.clone();
        }
    }
    crate::logging::init_quieting(&config.log, crate::keys::NOISY_LOG_TARGETS);
    if config.lock_memory {
        crate::app::lock_memory()?;
    }
    if !may_create_store(&cli.command) {
        refuse_missing_store(&config)?;
    }
    let change = audit::describe(&cli.command);
    let kek_create = matches!(cli.command, cli::Command::Kek(cli::KekCommand::Create));
    let name = change.as_ref().map(|c| c.key.clone()).unwrap_or_default();
    let before = key_fingerprint(&config, &name).await;
    let result = dispatch(&config, cli).await;
    let result = match (result, output::take_error()) {
        (Ok(()), Some(e)) => Err(anyhow::Error::new(e).context("cannot write to stdout")),
        (r, _) => r,
    };
    let Some(mut change) = change else {
        return result;
    };
    change.fingerprint = match key_fingerprint(&config, &name).await {
        Some(f) => f,
        None => before.unwrap_or_default(),
    };
    let outcome = result.as_ref().map(drop).map_err(|e| format!("{e:#}"));
    if let Err(e) = crate::audit::record_admin(config.store_url.as_str(), change, outcome).await {
        let e = format!("{:#}", anyhow::Error::new(e));
        // `kek create` may run before the database exists.
        if result.is_ok() && !kek_create {
            anyhow::bail!(
                "the change was made, but it could not be recorded in the audit trail: {e}"
            );
        }
        output::warn_line(format_args!(
            "warning: not recorded in the audit trail: {e}"
        ));
    }
    result
}

/// Whether `command` may make the store where there is none (with the data
/// directory, and the file KEK for a new store): `init`, the verbs that
/// put keys in it, `db migrate`, and `kek create` and `kek status`, which
/// work before any store exists. Every other verb refuses a missing store
/// ([`refuse_missing_store`]).
fn may_create_store(command: &cli::Command) -> bool {
    use cli::{Command, DbCommand, EnckeyCommand, KekCommand, KeyCommand};
    matches!(
        command,
        Command::Init
            | Command::ImportSignd(_)
            | Command::Key(KeyCommand::Generate { .. } | KeyCommand::Import { .. })
            | Command::Enckey(EnckeyCommand::Generate { .. } | EnckeyCommand::Import { .. })
            | Command::Db(DbCommand::Migrate)
            | Command::Kek(KekCommand::Create | KekCommand::Status { .. })
    )
}

/// A configuration error (exit 78) naming the SQLite file when the store
/// it names does not exist: a mistyped `--data-dir` must not leave a new,
/// empty store and a new KEK behind, nor list an empty store as if it were
/// the real one.
fn refuse_missing_store(config: &Config) -> anyhow::Result<()> {
    let Some(path) = config.store_url.missing_file() else {
        return Ok(());
    };
    Err(anyhow::anyhow!(
        "no key store at {}: check --data-dir, --database-url or [store] url (a new store is \
         made by `signatrust-admin init`, `key generate`, `key import`, `enckey generate`, \
         `enckey import`, `import-signd`, `db migrate` or the first start of signatrustd)",
        path.display()
    )
    .context(ConfigError))
}

/// The fingerprint of key `name`, if there is one (for the audit record).
async fn key_fingerprint(config: &Config, name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let store = open_store(config).await.ok()?;
    let fpr = store.info(name).await.ok().flatten().map(|i| i.fingerprint);
    store.close().await;
    fpr
}

async fn dispatch(config: &Config, cli: AdminCli) -> anyhow::Result<()> {
    use cli::Command;
    match cli.command {
        Command::Init => init(config).await,
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
        Command::Audit(cmd) => audit::run(config.store_url.as_str(), cmd).await,
    }
}

/// `init`: opens the store, which creates what is missing, and says what
/// it is bound to.
async fn init(config: &Config) -> anyhow::Result<()> {
    // Whether a SQLite file was there; a PostgreSQL database exists
    // before (its schema is made by opening it, as by every verb).
    let existed = config.store_url.sqlite_path().map(|p| p.exists());
    let store = open_store(config).await?;
    let kek = store.kek_id().to_owned();
    let keys = store.list().await?.len();
    store.close().await;
    say!(
        "{} {}: bound to KEK {kek}, {keys} key(s)",
        match existed {
            Some(true) => "opened store",
            Some(false) => "created store",
            None => "store",
        },
        config.store_url
    );
    Ok(())
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
