//! Opening the key store and its KEK as the configuration describes, for
//! both binaries.
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::config::{Config, KmsConfig};
use crate::keys::{read_pin, FileKek, Kek, KeyStore, Pkcs11Kek, Pkcs11Settings, StoreOptions};

/// Opens the store the configuration names, creating the data directory
/// (mode 0700) and the file KEK on first use.
pub async fn open_store(config: &Config) -> anyhow::Result<KeyStore> {
    // The file KEK usually lives in the data directory: create it first.
    create_private_dir(&config.data_dir)?;
    let kek = open_kek(&config.kms)?;
    open(config, kek).await
}

/// Opens the store the configuration names with the given KEK (`kek
/// rewrap` opens it under the current KEK), creating the data directory.
pub async fn open_store_with(config: &Config, kek: Arc<dyn Kek>) -> anyhow::Result<KeyStore> {
    create_private_dir(&config.data_dir)?;
    open(config, kek).await
}

async fn open(config: &Config, kek: Arc<dyn Kek>) -> anyhow::Result<KeyStore> {
    let options = StoreOptions {
        cache: config.cache,
        ..StoreOptions::default()
    };
    KeyStore::open_with(config.store_url.as_str(), kek, options)
        .await
        .context("opening the key store")
}

/// Opens the KEK the configuration names: the file KEK (created on first
/// use) or the key on a PKCS#11 token (which must exist: `signatrust-admin
/// kek create`).
pub fn open_kek(kms: &KmsConfig) -> anyhow::Result<Arc<dyn Kek>> {
    Ok(match kms {
        KmsConfig::File { key_file } => {
            Arc::new(FileKek::open_or_create(key_file).with_context(|| {
                format!("opening the key-encryption key {}", key_file.display())
            })?)
        }
        KmsConfig::Pkcs11 { .. } => Arc::new(
            Pkcs11Kek::open(&pkcs11_settings(kms)?)
                .context("opening the key-encryption key on the PKCS#11 token")?,
        ),
    })
}

/// The PKCS#11 settings of a `provider = "pkcs11"` configuration, PIN
/// read; an error for another provider.
pub fn pkcs11_settings(kms: &KmsConfig) -> anyhow::Result<Pkcs11Settings> {
    match kms {
        KmsConfig::Pkcs11 {
            module,
            token_label,
            key_label,
            pin_file,
        } => Ok(Pkcs11Settings {
            module: module.clone(),
            token_label: token_label.clone(),
            key_label: key_label.clone(),
            pin: read_pin(pin_file.as_deref(), token_label)?,
        }),
        KmsConfig::File { .. } => anyhow::bail!("the KEK provider is not pkcs11"),
    }
}

/// Creates `dir` (and its parents) with mode 0700 unless it exists.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("{}: cannot create data directory", dir.display()))?;
    }
    Ok(())
}
