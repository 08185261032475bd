//! `key ...` and `alias ...` verbs.
use std::io::Write;

use anyhow::{bail, Context};

use super::cli::{AliasCommand, GenType, KeyCommand};
use crate::app::signd_state::read_passphrase;
use crate::keys::KeyStore;
use crate::sign::{armor_public_key, generate_with_expiry, import_tsk, KeyType};

pub(super) async fn run(store: &KeyStore, cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Import {
            name,
            file,
            passphrase_file,
        } => {
            let input =
                std::fs::read(&file).with_context(|| format!("{}: cannot read", file.display()))?;
            let passphrase = match passphrase_file {
                Some(p) => Some(read_passphrase(&p)?),
                None => None,
            };
            let key = import_tsk(&input, passphrase.as_ref())
                .with_context(|| format!("{}: cannot import", file.display()))?;
            store.import(&name, &key).await?;
            println!(
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
        } => {
            let kind = match key_type {
                GenType::Rsa2048 => KeyType::Rsa2048,
                GenType::Rsa4096 => KeyType::Rsa4096,
                GenType::Ed25519 => KeyType::Ed25519,
                GenType::Dsa2048 => KeyType::Dsa2048,
                GenType::Nistp256 => KeyType::NistP256,
                GenType::Nistp384 => KeyType::NistP384,
            };
            let key = tokio::task::spawn_blocking(move || generate_with_expiry(kind, &uid, expire))
                .await??;
            store.import(&name, &key).await?;
            println!("generated {name}: {}", hex::encode_upper(key.fingerprint));
        }
        KeyCommand::List => print_lines(store.list().await?.iter().map(|k| {
            format!(
                "{}\t{}\t{}\t{}",
                k.name,
                k.algo,
                k.fingerprint,
                k.user_ids.join(", ")
            )
        }))?,
        KeyCommand::Export { name } => match store.public_key(&name).await? {
            Some(public) => print!("{}", armor_public_key(&public)),
            None => bail!("no key named {name}"),
        },
        KeyCommand::Delete { name } => {
            if !store.delete(&name).await? {
                bail!("no key named {name}");
            }
            println!("deleted {name}");
        }
    }
    Ok(())
}

pub(super) async fn alias(store: &KeyStore, cmd: AliasCommand) -> anyhow::Result<()> {
    match cmd {
        AliasCommand::Set { alias, target } => {
            store.set_alias(&alias, &target).await?;
            println!("alias {alias} -> {target}");
        }
        AliasCommand::Remove { alias } => {
            if !store.remove_alias(&alias).await? {
                bail!("no alias named {alias}");
            }
            println!("removed alias {alias}");
        }
        AliasCommand::List => print_lines(
            store
                .list_aliases()
                .await?
                .iter()
                .map(|(a, t)| format!("{a}\t{t}")),
        )?,
    }
    Ok(())
}

/// Writes listing lines to stdout. A reader that goes away early (`| head`)
/// ends the listing quietly, as with other Unix tools, instead of an error
/// or a panic.
fn print_lines(lines: impl Iterator<Item = String>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for line in lines {
        match writeln!(out, "{line}") {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            r => r?,
        }
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}
