//! `alias add|remove|list`: names that stand for a key (signd's `aliases:`
//! directory), and the `:enc` / `:enc:<user>` aliases that choose keygen's
//! blob encryption key (spec §5.3).
use anyhow::bail;
use serde_json::json;

use super::cli::AliasCommand;
use super::output::{print_json, say};
use crate::keys::KeyStore;

pub(super) async fn run(store: &KeyStore, cmd: AliasCommand) -> anyhow::Result<()> {
    match cmd {
        AliasCommand::Add { alias, target } => {
            let is_enc = alias.starts_with(":enc");
            let exists = store.exists(&target).await?
                || (is_enc && store.encryption_key_exists(&target).await?);
            if !exists && !is_enc {
                bail!("alias {alias}: no key named {target}");
            }
            if !exists {
                // keygen's blob target is what Perl hands to `gpg -r`: a
                // key ID, fingerprint or user ID, resolved among the stored
                // keys at request time (spec §13), so it need not be a name.
                super::output::warn_line(format_args!(
                    "note: {target} is not a stored key or encryption key name; keygen will \
                     resolve it as `gpg -r {target}` does (key ID, fingerprint, user ID)"
                ));
            }
            if store.exists(&alias).await? {
                bail!(
                    "alias {alias}: a key has that name; clients asking for {alias} would get \
                     the alias target, not the key"
                );
            }
            store.set_alias(&alias, &target).await?;
            say!("alias {alias} -> {target}");
        }
        AliasCommand::Remove { alias } => {
            if !store.remove_alias(&alias).await? {
                bail!("no alias named {alias}");
            }
            say!("removed alias {alias}");
        }
        AliasCommand::List { json } => {
            let all = store.list_aliases().await?;
            if json {
                print_json(&serde_json::Value::Array(
                    all.iter()
                        .map(|(a, t)| json!({"alias": a, "target": t}))
                        .collect(),
                ));
            } else {
                for (a, t) in &all {
                    say!("{a}\t{t}");
                }
            }
        }
    }
    Ok(())
}
