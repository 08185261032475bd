//! Opening the key store and its KEK as the configuration describes, for
//! both binaries.
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::app::exit::ConfigError;
use crate::config::{Config, KmsConfig};
use crate::keys::{
    read_pin, AwsKmsKek, AwsKmsSettings, FileKek, Kek, KeyError, KeyStore, Pkcs11Kek,
    Pkcs11Settings, StoreOptions,
};

/// Opens the store the configuration names, creating the data directory
/// (mode 0700), and the file KEK only for a store that holds nothing yet.
///
/// Fails closed: a missing key file of a store that belongs to a KEK is an
/// error naming both (never a fresh KEK), and a KEK that is not the
/// store's own is refused by the store ([`KeyError::KekMismatch`]).
///
/// [`KeyError::KekMismatch`]: crate::keys::KeyError::KekMismatch
pub async fn open_store(config: &Config) -> anyhow::Result<KeyStore> {
    let missing_kek = match &config.kms {
        KmsConfig::File { key_file } if key_file.symlink_metadata().is_err() => Some(key_file),
        _ => None,
    };
    // A store that exists already (PostgreSQL, or a SQLite file elsewhere)
    // and belongs to a KEK whose file is missing is an error before
    // anything is made, the data directory included.
    let store_exists = config.store_url.missing_file().is_none();
    if let (Some(key_file), true) = (missing_kek, store_exists) {
        refuse_new_kek_for_claimed_store(config, key_file).await?;
    }
    // The file KEK usually lives in the data directory: create it first.
    create_private_dir(&config.data_dir)?;
    if let Some(key_file) = missing_kek {
        create_file_kek(config, key_file).await?;
    }
    let kek = open_kek(&config.kms)?;
    open(config, kek).await
}

/// Creates the missing KEK file `key_file`, unless the store already
/// belongs to a KEK: then the file was lost or misnamed, and a new KEK
/// would leave every stored key unreadable (and later ones under another
/// KEK), so it is an error that names the KEK to restore.
async fn create_file_kek(config: &Config, key_file: &Path) -> anyhow::Result<()> {
    refuse_new_kek_for_claimed_store(config, key_file).await?;
    FileKek::open_or_create(key_file)
        .with_context(|| format!("creating the key-encryption key {}", key_file.display()))?;
    Ok(())
}

/// The check before the missing KEK file `key_file` may be created (at
/// start-up, and by `signatrustd --check-config`): an error naming the
/// file, the store and the KEK to restore when the store belongs to one.
pub async fn refuse_new_kek_for_claimed_store(
    config: &Config,
    key_file: &Path,
) -> anyhow::Result<()> {
    let custody = KeyStore::custody_at(config.store_url.as_str())
        .await
        .context("opening the key store")?;
    if custody.is_claimed() {
        let (keys, enc) = custody
            .usage
            .iter()
            .fold((0, 0), |(k, e), u| (k + u.keys, e + u.encryption_keys));
        // A configuration error (exit 78): restarting will not bring the
        // key file back.
        return Err(anyhow::anyhow!(
            "{}: the KEK file does not exist, but the key store {} belongs to KEK {} ({keys} \
             key(s), {enc} encryption key(s)): restore that key file, or point [kms] key_file \
             at it; refusing to create a new KEK for a store that has one",
            key_file.display(),
            crate::keys::redacted_url(config.store_url.as_str()),
            custody.expected(),
        )
        .context(ConfigError));
    }
    Ok(())
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
        .map_err(|e| {
            // Another KEK than the store's own: a configuration error
            // (exit 78), which a restart cannot mend.
            let mismatch = matches!(e, KeyError::KekMismatch { .. });
            let e = anyhow::Error::new(e).context("opening the key store");
            if mismatch {
                e.context(ConfigError)
            } else {
                e
            }
        })
}

/// Opens the KEK the configuration names: the key file, the key on a
/// PKCS#11 token or the KMS key. Each must exist (`signatrust-admin kek create`; a file
/// KEK is also created by [`open_store`] for an empty store); this never
/// creates one.
pub fn open_kek(kms: &KmsConfig) -> anyhow::Result<Arc<dyn Kek>> {
    Ok(match kms {
        // A key file that is missing, unreadable or readable by others is
        // a configuration error (exit 78); a token or KMS that does not
        // answer may answer after a restart (exit 1).
        KmsConfig::File { key_file } => Arc::new(
            FileKek::open(key_file)
                .with_context(|| format!("opening the key-encryption key {}", key_file.display()))
                .context(ConfigError)?,
        ),
        KmsConfig::Pkcs11 { .. } => Arc::new(
            Pkcs11Kek::open(&pkcs11_settings(kms)?)
                .context("opening the key-encryption key on the PKCS#11 token")?,
        ),
        KmsConfig::AwsKms { .. } => Arc::new(
            AwsKmsKek::open(&aws_kms_settings(kms)?)
                .context("opening the key-encryption key in AWS KMS")?,
        ),
    })
}

/// The settings of a `provider = "aws-kms"` configuration; an error for
/// another provider.
pub fn aws_kms_settings(kms: &KmsConfig) -> anyhow::Result<AwsKmsSettings> {
    match kms {
        KmsConfig::AwsKms {
            key_id,
            region,
            endpoint,
            timeout_ms,
            max_attempts,
        } => Ok(AwsKmsSettings {
            key_id: key_id.clone(),
            region: region.clone(),
            endpoint: endpoint.clone(),
            timeout: std::time::Duration::from_millis(*timeout_ms),
            max_attempts: *max_attempts,
        }),
        _ => anyhow::bail!("the KEK provider is not aws-kms"),
    }
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
        _ => anyhow::bail!("the KEK provider is not pkcs11"),
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
