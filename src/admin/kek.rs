//! `kek create`, `kek status` and `kek rewrap`: the key-encryption key.
//!
//! Migrating from the key file to an HSM is `kek create` with the new
//! configuration, `kek rewrap --to-config NEW.toml` with the old one, then
//! serving (and `kek status`) with the new one.
use std::path::Path;

use anyhow::{bail, Context};

use super::cli::KekCommand;
use super::output::{print_json, say};
use crate::app::cli::GlobalArgs;
use crate::app::{
    aws_kms_settings, create_private_dir, open_kek, open_store_with, pkcs11_settings,
};
use crate::config::{Config, KmsConfig};
use crate::keys::{AwsKmsKek, Custody, FileKek, Kek, KeyStore, Pkcs11Kek};

pub(super) async fn run(
    config: &Config,
    global: &GlobalArgs,
    cmd: KekCommand,
) -> anyhow::Result<()> {
    match cmd {
        KekCommand::Create => create(config),
        KekCommand::Status { json } => status(config, json).await,
        KekCommand::Rewrap { to_config } => rewrap(config, global, &to_config).await,
        KekCommand::Rotate {
            to_config,
            batch,
            finish,
        } => rotate(config, global, &to_config, batch as usize, finish).await,
    }
}

/// The provider and where its key lives, for humans. Never the PIN.
fn describe(kms: &KmsConfig) -> String {
    match kms {
        KmsConfig::File { key_file } => format!("file {}", key_file.display()),
        KmsConfig::Pkcs11 {
            module,
            token_label,
            key_label,
            ..
        } => format!(
            "pkcs11 module {}, token '{token_label}', key '{key_label}'",
            module.display()
        ),
        KmsConfig::AwsKms {
            key_id,
            region,
            endpoint,
            ..
        } => {
            let region = region.as_deref().unwrap_or("from the AWS chain");
            match endpoint {
                Some(e) => format!("aws-kms key '{key_id}', region {region}, endpoint {e}"),
                None => format!("aws-kms key '{key_id}', region {region}"),
            }
        }
    }
}

fn create(config: &Config) -> anyhow::Result<()> {
    match &config.kms {
        KmsConfig::File { key_file } => {
            if key_file.symlink_metadata().is_ok() {
                bail!(
                    "{}: the KEK file already exists; refusing to overwrite it",
                    key_file.display()
                );
            }
            create_private_dir(&config.data_dir)?;
            let kek = FileKek::open_or_create(key_file)
                .with_context(|| format!("creating the KEK file {}", key_file.display()))?;
            say!("created KEK {} in {}", kek.id(), key_file.display());
        }
        KmsConfig::Pkcs11 { token_label, .. } => {
            let settings = pkcs11_settings(&config.kms)?;
            let kek = Pkcs11Kek::create(&settings)?;
            say!(
                "created KEK {} (AES-256, sensitive, not extractable) on PKCS#11 token \
                 '{token_label}'",
                kek.id()
            );
        }
        KmsConfig::AwsKms { key_id, .. } => {
            let kek = AwsKmsKek::create(&aws_kms_settings(&config.kms)?)?;
            say!(
                "created KEK {} (KMS symmetric encryption key) as {key_id}",
                kek.id()
            );
        }
    }
    Ok(())
}

/// Whose rows a KEK id wraps, as `kek status` sees them from the
/// configured KEK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrap {
    /// The configured KEK's.
    Configured,
    /// The old KEK of the rotation the configured KEK is the target of:
    /// opened through the rows' rotation wraps.
    RotationOld,
    /// The target of the rotation under way, seen from its old KEK: rows a
    /// switched server made, which servers on the configured KEK cannot
    /// open.
    RotationNew,
    /// Any other KEK: the configured one cannot open these rows.
    Foreign,
}

async fn status(config: &Config, json: bool) -> anyhow::Result<()> {
    let opened = match &config.kms {
        // Status must not create the key file as a side effect.
        // A configuration error (exit 78), as for every other verb.
        KmsConfig::File { key_file } if key_file.symlink_metadata().is_err() => {
            Err(anyhow::anyhow!(
                "{}: does not exist (made by `signatrust-admin init`, `kek create`, or with a new \
                 store)",
                key_file.display()
            )
            .context(crate::app::exit::ConfigError))
        }
        kms => open_kek(kms),
    };
    let configured = opened.as_ref().ok().map(|k| k.id().to_owned());
    // Status creates no file: a SQLite store that does not exist yet holds
    // no rows. (Opening a database applies pending migrations, as every
    // verb does.)
    let exists = config.store_url.missing_file().is_none();
    let custody = if exists {
        KeyStore::custody_at(config.store_url.as_str()).await?
    } else {
        Custody::default()
    };
    let usage = &custody.usage;
    // During a rotation a server on its new KEK opens the rows through
    // their rotation wraps: what it cannot open is what has none yet.
    let onto = custody
        .rotation
        .as_ref()
        .filter(|r| configured.as_deref() == Some(r.to.as_str()));
    // From the old KEK's side of a rotation, rows made under the new KEK
    // (by a server already switched) are expected, though unreadable here.
    let rotating_to = custody.rotation.as_ref().map(|r| r.to.as_str());
    let rows: Vec<_> = usage
        .iter()
        .map(|u| {
            let wrap = if configured.as_deref() == Some(u.kek_id.as_str()) {
                Wrap::Configured
            } else if onto.is_some() {
                Wrap::RotationOld
            } else if rotating_to == Some(u.kek_id.as_str()) {
                Wrap::RotationNew
            } else {
                Wrap::Foreign
            };
            (u, wrap)
        })
        .collect();
    let count = |of: Wrap| -> i64 {
        rows.iter()
            .filter(|(_, w)| *w == of)
            .map(|(u, _)| u.keys + u.encryption_keys)
            .sum()
    };
    let made_new = count(Wrap::RotationNew);
    let foreign = match onto {
        Some(r) => (r.total - r.ready) as i64,
        None => count(Wrap::Foreign),
    };
    if json {
        print_json(&serde_json::json!({
            "provider": describe(&config.kms),
            "kek_id": configured,
            "opens": opened.is_ok(),
            "error": opened.as_ref().err().map(|e| format!("{e:#}")),
            "store": config.store_url.to_string(),
            "store_exists": exists,
            "store_kek_id": custody.kek_id,
            "wrapped": rows.iter().map(|(u, wrap)| serde_json::json!({
                "kek_id": u.kek_id,
                "keys": u.keys,
                "encryption_keys": u.encryption_keys,
                "configured": *wrap == Wrap::Configured,
            })).collect::<Vec<_>>(),
            "rotation": custody.rotation.as_ref().map(|r| serde_json::json!({
                "to": r.to,
                "rows": r.total,
                "ready": r.ready,
                "pending": r.pending,
                "configured": onto.is_some(),
            })),
        }));
    } else {
        say!("provider: {}", describe(&config.kms));
        match &opened {
            Ok(kek) => {
                say!("kek id: {}", kek.id());
                say!("kek opens: yes");
            }
            Err(e) => say!("kek opens: no: {e:#}"),
        }
        if exists {
            say!("store: {}", config.store_url);
        } else {
            say!(
                "store: {} (does not exist yet; made on first use)",
                config.store_url
            );
        }
        match &custody.kek_id {
            Some(id) => say!("store belongs to KEK: {id}"),
            None => say!("store belongs to KEK: none recorded yet (adopted on first open)"),
        }
        if let Some(r) = &custody.rotation {
            let mark = if onto.is_some() {
                " (the configured KEK)"
            } else {
                ""
            };
            say!(
                "rotation in progress to KEK {}{mark}: {} of {} row(s) open with it",
                r.to,
                r.ready,
                r.total
            );
        }
        if usage.is_empty() {
            say!("no secrets stored");
        }
        for (u, wrap) in &rows {
            let mark = match wrap {
                Wrap::Configured => "configured KEK",
                Wrap::RotationOld => "the rotation's old KEK",
                Wrap::RotationNew => "the rotation's new KEK",
                Wrap::Foreign => "NOT the configured KEK",
            };
            say!(
                "wrapped by {}: {} key(s), {} encryption key(s) ({mark})",
                u.kek_id,
                u.keys,
                u.encryption_keys
            );
        }
    }
    if let Err(e) = opened {
        return Err(e.context("the configured KEK does not open"));
    }
    if let Some(r) = onto {
        if r.ready < r.total {
            bail!(
                "{} row(s) have no wrap under the configured KEK {} yet ({}{}): a server on it \
                 cannot open them; run `kek rotate` again with the current KEK's configuration",
                r.total - r.ready,
                r.to,
                r.pending.join(", "),
                if r.total - r.ready > r.pending.len() {
                    ", …"
                } else {
                    ""
                }
            );
        }
        if !json {
            say!(
                "every row opens with the configured KEK; once every server uses it, end the \
                 rotation with `kek rotate --to-config <this configuration> --finish`"
            );
        }
        return Ok(());
    }
    if let (Some(store), Some(configured)) = (&custody.kek_id, &configured) {
        if store != configured {
            bail!(
                "the store belongs to KEK {store}, not to the configured KEK {configured}: the \
                 server and every admin verb refuse this configuration"
            );
        }
    }
    if made_new > 0 {
        bail!(
            "{made_new} row(s) were made under the rotation's new KEK {}: servers still on the \
             configured KEK cannot open them; switch every server to the new KEK, then `kek \
             rotate --to-config <its configuration> --finish`",
            rotating_to.unwrap_or_default()
        );
    }
    if foreign > 0 {
        bail!(
            "{foreign} row(s) are wrapped by a KEK other than the configured one; the server \
             cannot open them (rewrap them with `signatrust-admin kek rewrap`)"
        );
    }
    Ok(())
}

async fn rewrap(config: &Config, global: &GlobalArgs, to_config: &Path) -> anyhow::Result<()> {
    let target = Config::load(global.data_dir.clone(), Some(to_config.to_owned()), None)
        .context(crate::app::exit::ConfigError)?;
    if target.store_url != config.store_url {
        super::output::warn_line(format_args!(
            "note: only the [kms] section of {} is used; the store is {}",
            to_config.display(),
            config.store_url
        ));
    }
    let from = open_kek(&config.kms).context("opening the current KEK")?;
    let to = open_kek(&target.kms).with_context(|| {
        format!(
            "opening the new KEK of {} (create it first: signatrust-admin --config {} kek create)",
            to_config.display(),
            to_config.display()
        )
    })?;
    say!("from: {} ({})", from.id(), describe(&config.kms));
    say!("to:   {} ({})", to.id(), describe(&target.kms));
    let store = open_store_with(config, from).await?;
    let summary = store
        .rewrap_to(&*to)
        .await
        .context("rewrap failed; nothing was changed")?;
    store.close().await;
    say!(
        "rewrapped {} row(s) under {}; {} already were",
        summary.rewrapped,
        to.id(),
        summary.already
    );
    Ok(())
}

/// `kek rotate`: the online move to another KEK (`keys::store::rotation`).
async fn rotate(
    config: &Config,
    global: &GlobalArgs,
    to_config: &Path,
    batch: usize,
    finish: bool,
) -> anyhow::Result<()> {
    let target = Config::load(global.data_dir.clone(), Some(to_config.to_owned()), None)
        .context(crate::app::exit::ConfigError)?;
    let from = open_kek(&config.kms).context("opening the current KEK")?;
    let to = open_kek(&target.kms).with_context(|| {
        format!(
            "opening the new KEK of {} (create it first: signatrust-admin --config {} kek create)",
            to_config.display(),
            to_config.display()
        )
    })?;
    let store = open_store_with(config, from).await?;
    if finish {
        let moved = store
            .finish_rotation(&*to)
            .await
            .context("finishing the rotation; nothing was changed")?;
        store.close().await;
        say!(
            "rotation finished: {moved} row(s) moved to KEK {}; the store now opens only with it",
            to.id()
        );
        return Ok(());
    }
    say!("rotating to KEK {} ({})", to.id(), describe(&target.kms));
    let summary = store
        .rotate_to(&*to, batch, |done, total| {
            say!("{done}/{total} rows");
        })
        .await
        .context("rotation interrupted; the batches done are kept: run it again to resume")?;
    store.close().await;
    say!(
        "every row is wrapped by KEK {} ({} now, {} before); switch each server to the [kms] \
         of {} (rolling restart), then run `kek rotate --to-config {} --finish`",
        to.id(),
        summary.wrapped,
        summary.already,
        to_config.display(),
        to_config.display()
    );
    Ok(())
}
