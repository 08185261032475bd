//! `enckey generate|list|import|delete`: the symmetric keys of "01" blobs
//! (spec §8.2), as `signd --gen-enckey` makes them.
use anyhow::{bail, Context};
use serde_json::json;

use super::cli::EnckeyCommand;
use super::output::{date, print_json, say};
use super::prompt;
use crate::app::signd_state::read_encryption_key;
use crate::keys::KeyStore;
use crate::secret::SecretBytes;

/// A new key line as signd writes it: the hex (lower case) of
/// `01 | created u32 | 10 (SHA-512) | 1 (count byte) | 9 (AES-256) |
/// random[64]`; the id is the first 8 random bytes, upper-case hex.
fn new_key() -> anyhow::Result<(String, SecretBytes)> {
    let mut raw = zeroize::Zeroizing::new([0u8; 72]);
    raw[0] = 1;
    let t = u32::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
    )?;
    raw[1..5].copy_from_slice(&t.to_be_bytes());
    raw[5] = 10;
    raw[6] = 1;
    raw[7] = 9;
    openssl::rand::rand_bytes(&mut raw[8..]).context("no randomness")?;
    let id = hex::encode_upper(&raw[8..16]);
    let line = zeroize::Zeroizing::new(hex::encode(&raw[..]));
    Ok((id, SecretBytes::from_slice(line.as_bytes())))
}

pub(super) async fn run(store: &KeyStore, cmd: EnckeyCommand) -> anyhow::Result<()> {
    match cmd {
        EnckeyCommand::Generate { alias } => {
            let (id, line) = new_key()?;
            if store.encryption_key_exists(&id).await? {
                bail!("encryption key {id} exists (random id collision); run again");
            }
            store.put_encryption_key(&id, &line).await?;
            if let Some(a) = &alias {
                store.set_alias(a, &id).await?;
            }
            say!("{id}");
            if let Some(a) = alias {
                say!("alias {a} -> {id}");
            }
        }
        EnckeyCommand::List { json } => {
            let keys = store.list_encryption_keys().await?;
            let mut aliases: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            for (a, t) in store.list_aliases().await? {
                aliases.entry(t).or_default().push(a);
            }
            if json {
                print_json(&serde_json::Value::Array(
                    keys.iter()
                        .map(|k| {
                            json!({
                                "id": k.id,
                                "created": date(k.created),
                                "kek": k.kek_id,
                                "aliases": aliases.get(&k.id).cloned().unwrap_or_default(),
                            })
                        })
                        .collect(),
                ));
            } else {
                for k in &keys {
                    say!(
                        "{}\t{}\t{}\t{}",
                        k.id,
                        date(k.created),
                        k.kek_id,
                        aliases.get(&k.id).map_or(String::new(), |a| a.join(","))
                    );
                }
            }
        }
        EnckeyCommand::Import { file } => {
            let id = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            let line = read_encryption_key(&id, &file)?;
            if store.encryption_key_exists(&id).await? {
                bail!("encryption key {id} exists; delete it first");
            }
            store.put_encryption_key(&id, &line).await?;
            say!("imported encryption key {id}");
        }
        EnckeyCommand::Delete { id, yes, force } => {
            if !store.encryption_key_exists(&id).await? {
                bail!("no encryption key named {id}");
            }
            let aliases = store.aliases_to(&id).await?;
            if !aliases.is_empty() && !force {
                bail!(
                    "encryption key {id} is the target of alias(es) {}; remove them or pass \
                     --force",
                    aliases.join(", ")
                );
            }
            if !yes
                && prompt::is_terminal()
                && !prompt::confirm(&format!(
                    "delete encryption key {id}? Blobs encrypted to it become unusable."
                ))?
            {
                bail!("not deleted: {id}");
            }
            store.delete_encryption_key(&id).await?;
            say!("deleted encryption key {id}");
        }
    }
    Ok(())
}
