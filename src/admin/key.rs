//! `key generate|import|list|show|export`: making keys and looking at them.
//! Retiring and replacing are in `retire`, expiry in `extend`.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use secrecy::SecretString;
use serde_json::json;

use super::cli::{ExportFormat, GenType, KeyCommand};
use super::output::{date, print_json, say};
use super::{extend, prompt, retire};
use crate::app::signd_state::read_passphrase;
use crate::config::Config;
use crate::keys::KeyStore;
use crate::sign::{
    armor_public_key, describe, generate_key, import_tsk, public_pem, CertDetails, ImportedKey,
    KeyType, SignError,
};

pub(super) async fn run(store: &KeyStore, config: &Config, cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Import {
            name,
            file,
            passphrase_file,
        } => {
            refuse_alias_name(store, &name).await?;
            let key = read_key(&file, passphrase_file.as_deref())?;
            store.import(&name, &key).await?;
            say!(
                "imported {name}: {} {}",
                hex::encode_upper(key.fingerprint),
                key.user_ids.join(", ")
            );
        }
        KeyCommand::Generate {
            name,
            key_type,
            uid,
            expire,
            encryption_subkey,
            revocation_cert,
        } => {
            generate(
                store,
                config,
                &name,
                key_type,
                uid,
                expire,
                encryption_subkey,
                revocation_cert,
            )
            .await?
        }
        KeyCommand::List { json, deleted } => {
            if deleted {
                retire::list_deleted(store, json).await?
            } else {
                list(store, json).await?
            }
        }
        KeyCommand::Show { name, json } => show(store, &name, json).await?,
        KeyCommand::Export { name, format } => match store.public_key(&name).await? {
            Some(public) => match format {
                ExportFormat::Armor => super::output::write(&armor_public_key(&public)),
                ExportFormat::Pem => super::output::write(
                    &public_pem(&public).with_context(|| format!("key {name}"))?,
                ),
            },
            None => bail!("no key named {name}"),
        },
        KeyCommand::Delete {
            name,
            yes,
            force,
            now,
            retention_days,
        } => retire::delete(store, &name, yes, force, now, retention_days).await?,
        KeyCommand::Restore {
            name, swap: false, ..
        } => retire::restore(store, &name).await?,
        KeyCommand::Restore {
            name,
            swap: true,
            retention_days,
        } => retire::restore_swapping(store, &name, retention_days).await?,
        KeyCommand::Replace {
            name,
            file,
            passphrase_file,
            generate: _,
            key_type,
            uid,
            expire,
            encryption_subkey,
            retention_days,
        } => {
            let new = match (file, key_type, uid) {
                (Some(file), _, _) => read_key(&file, passphrase_file.as_deref())?,
                (None, Some(t), Some(uid)) => {
                    make_key(t, uid, expire, encryption_subkey).await?.key
                }
                _ => bail!("key replace needs FILE or --generate --type T --uid U"),
            };
            retire::replace(store, &name, &new, retention_days).await?
        }
        KeyCommand::Extend {
            name,
            days,
            expiring_within,
            by,
            shorten,
            dry_run,
        } => match (name, days, expiring_within, by) {
            (Some(name), Some(days), _, _) => {
                extend::one(store, &name, days, shorten, dry_run).await?
            }
            (None, _, Some(within), Some(by)) => {
                extend::expiring(store, within, by, dry_run).await?
            }
            _ => bail!("key extend needs NAME --days N or --expiring-within D --by N"),
        },
    }
    Ok(())
}

/// A key named like an alias could never be reached: clients asking for
/// the name get the alias target.
async fn refuse_alias_name(store: &KeyStore, name: &str) -> anyhow::Result<()> {
    if let Some(target) = store.alias(name).await? {
        bail!("{name} is an alias (of {target}); remove the alias or choose another name");
    }
    Ok(())
}

/// Reads and unlocks a secret key file: the passphrase from
/// `passphrase_file`, else, for a protected key, asked on the terminal.
/// Errors name the file.
pub(super) fn read_key(file: &Path, passphrase_file: Option<&Path>) -> anyhow::Result<ImportedKey> {
    let input = std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
    let passphrase = match passphrase_file {
        Some(p) => Some(read_passphrase(p)?),
        None => None,
    };
    let attempt = |p: Option<&SecretString>| {
        import_tsk(&input, p).with_context(|| format!("{}: cannot import", file.display()))
    };
    match attempt(passphrase.as_ref()) {
        Err(e)
            if passphrase.is_none()
                && matches!(e.downcast_ref(), Some(SignError::PassphraseRequired))
                && prompt::is_terminal() =>
        {
            let p = prompt::secret(&format!("passphrase for {}: ", file.display()))?;
            attempt(Some(&p))
        }
        r => r,
    }
}

fn key_type(t: GenType) -> KeyType {
    match t {
        GenType::Rsa2048 => KeyType::Rsa2048,
        GenType::Rsa3072 => KeyType::Rsa3072,
        GenType::Rsa4096 => KeyType::Rsa4096,
        GenType::Ed25519 => KeyType::Ed25519,
        GenType::Dsa2048 => KeyType::Dsa2048,
        GenType::Nistp256 => KeyType::NistP256,
        GenType::Nistp384 => KeyType::NistP384,
    }
}

/// Generates a key off the reactor.
pub(super) async fn make_key(
    t: GenType,
    uid: String,
    expire: u64,
    encryption_subkey: bool,
) -> anyhow::Result<crate::sign::GeneratedKey> {
    if uid.contains('\n') || uid.is_empty() {
        bail!("invalid user ID {uid:?}: empty or contains a newline");
    }
    let kind = key_type(t);
    Ok(
        tokio::task::spawn_blocking(move || generate_key(kind, &uid, expire, encryption_subkey))
            .await??,
    )
}

#[allow(clippy::too_many_arguments)]
async fn generate(
    store: &KeyStore,
    config: &Config,
    name: &str,
    t: GenType,
    uid: String,
    expire: u64,
    encryption_subkey: bool,
    revocation_cert: Option<PathBuf>,
) -> anyhow::Result<()> {
    if store.exists(name).await? {
        bail!("key {name} already exists");
    }
    refuse_alias_name(store, name).await?;
    let rev_path = match revocation_cert {
        Some(p) => p,
        None => {
            // With a PostgreSQL store the data directory may not exist yet.
            crate::app::create_private_dir(&config.data_dir)?;
            config.data_dir.join(format!("{name}.rev"))
        }
    };
    if rev_path.symlink_metadata().is_ok() {
        bail!(
            "{}: already exists; refusing to overwrite a revocation certificate",
            rev_path.display()
        );
    }
    let made = make_key(t, uid, expire, encryption_subkey).await?;
    // The certificate first: a key whose revocation certificate could not
    // be saved is not stored.
    write_new_file(&rev_path, revocation_text(&made).as_bytes())?;
    if let Err(e) = store.import(name, &made.key).await {
        let _ = std::fs::remove_file(&rev_path);
        return Err(e.into());
    }
    say!(
        "generated {name}: {}",
        hex::encode_upper(made.key.fingerprint)
    );
    say!("revocation certificate: {}", rev_path.display());
    Ok(())
}

/// The armored revocation certificate with gpg's explanation.
fn revocation_text(made: &crate::sign::GeneratedKey) -> String {
    let armored = armor_public_key(&made.revocation);
    format!(
        "This is a revocation certificate for the OpenPGP key\n\n\
         fpr    {}\n\n\
         Import it (`gpg --import`) to revoke the key, e.g. if its secret\n\
         is lost or compromised. Keep it safe: anyone holding it can revoke\n\
         the key.\n\n{armored}",
        hex::encode_upper(made.key.fingerprint)
    )
}

/// Creates `path` (mode 0600, refused if it exists) with `data`.
fn write_new_file(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("{}: cannot create", path.display()))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("{}: cannot write", path.display()))
}

fn expiry_text(e: Option<u64>) -> String {
    e.map_or_else(|| "never".to_owned(), |t| date(t as i64))
}

fn expiry_json(e: Option<u64>) -> serde_json::Value {
    e.map_or(serde_json::Value::Null, |t| json!(date(t as i64)))
}

/// Aliases grouped by target.
async fn aliases_by_target(
    store: &KeyStore,
) -> anyhow::Result<std::collections::BTreeMap<String, Vec<String>>> {
    let mut by: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (a, t) in store.list_aliases().await? {
        by.entry(t).or_default().push(a);
    }
    Ok(by)
}

async fn list(store: &KeyStore, json: bool) -> anyhow::Result<()> {
    let keys = store.list().await?;
    let aliases = aliases_by_target(store).await?;
    let mut rows = Vec::with_capacity(keys.len());
    for k in &keys {
        let d = describe(&k.public).ok();
        let algo = d
            .as_ref()
            .map_or(k.algo.clone(), |d| d.primary.algo.clone());
        let created = d
            .as_ref()
            .map_or(k.created, |d| i64::from(d.primary.created));
        let expires = d.as_ref().and_then(|d| d.primary.expires);
        let names = aliases.get(&k.name).cloned().unwrap_or_default();
        if json {
            rows.push(json!({
                "name": k.name,
                "algorithm": algo,
                "fingerprint": k.fingerprint,
                "user_ids": k.user_ids,
                "created": date(created),
                "expires": expiry_json(expires),
                "aliases": names,
            }));
        } else {
            say!(
                "{}\t{algo}\t{}\t{}\t{}\t{}\t{}",
                k.name,
                k.fingerprint,
                k.user_ids.join(", "),
                date(created),
                expiry_text(expires),
                names.join(",")
            );
        }
    }
    if json {
        print_json(&serde_json::Value::Array(rows));
    }
    Ok(())
}

fn subkeys_json(d: &CertDetails) -> serde_json::Value {
    d.subkeys
        .iter()
        .map(|s| {
            json!({
                "fingerprint": s.fingerprint,
                "algorithm": s.algo,
                "created": date(i64::from(s.created)),
                "expires": expiry_json(s.expires),
            })
        })
        .collect()
}

async fn show(store: &KeyStore, name: &str, json: bool) -> anyhow::Result<()> {
    let Some(info) = store.info(name).await? else {
        bail!("no key named {name}");
    };
    let d = describe(&info.public).with_context(|| format!("key {name}"))?;
    let aliases = store.aliases_to(name).await?;
    let kek = store.kek_id_of(name).await?.unwrap_or_default();
    if json {
        print_json(&json!({
            "name": name,
            "fingerprint": info.fingerprint,
            "algorithm": d.primary.algo,
            "user_ids": d.user_ids,
            "created": date(i64::from(d.primary.created)),
            "expires": expiry_json(d.primary.expires),
            "subkeys": subkeys_json(&d),
            "aliases": aliases,
            "kek": kek,
            "stored": date(info.created),
        }));
        return Ok(());
    }
    let mut out = format!(
        "name:        {name}\nfingerprint: {}\nalgorithm:   {}\n",
        info.fingerprint, d.primary.algo
    );
    for u in &d.user_ids {
        out.push_str(&format!("user ID:     {u}\n"));
    }
    out.push_str(&format!(
        "created:     {}\nexpires:     {}\n",
        date(i64::from(d.primary.created)),
        expiry_text(d.primary.expires)
    ));
    for s in &d.subkeys {
        out.push_str(&format!(
            "subkey:      {} {} created {} expires {}\n",
            s.fingerprint,
            s.algo,
            date(i64::from(s.created)),
            expiry_text(s.expires)
        ));
    }
    out.push_str(&format!(
        "aliases:     {}\nkek:         {kek}\nstored:      {}\n",
        if aliases.is_empty() {
            "-".to_owned()
        } else {
            aliases.join(", ")
        },
        date(info.created)
    ));
    super::output::write(&out);
    Ok(())
}
