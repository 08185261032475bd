//! `privsign(blob, hash1, ...)`: sign with a project key carried in the
//! request as an encrypted blob (spec §4.4, §8).
use std::sync::Arc;

use super::sign::{check_lengths, parse_hashes, sign_hashes};
use super::{hash_algo, internal, Ctx, UserField};
use crate::secret::SecretBytes;
use crate::sign::blob::{self, BlobError, BlobFormat};
use crate::sign::SigningKey;
use crate::wire_error::WireError;

pub(super) async fn run(
    ctx: &Ctx,
    field: &UserField,
    args: &[String],
    fingerprint: &mut String,
) -> Result<Vec<Vec<u8>>, WireError> {
    if args.len() < 2 {
        return Err(WireError::PrivsignArgs);
    }
    let blob = Arc::new(decode_blob(&args[0])?);
    // signd decrypts before it looks at the hashes (raw-privsign-short-symblob).
    let key = project_key(ctx, &field.user, blob).await?;
    *fingerprint = hex::encode_upper(key.fingerprint());
    let hashes = parse_hashes(&args[1..])?;
    let algo = hash_algo(field)?;
    check_lengths(algo, &hashes)?;
    sign_hashes(ctx, key, |k| k, algo, hashes).await
}

/// The project key in `blob`: from the blob cache, or decrypted (on the
/// crypto pool, once for concurrent requests with the same blob) and then
/// cached.
async fn project_key(
    ctx: &Ctx,
    user: &str,
    blob: Arc<Vec<u8>>,
) -> Result<Arc<SigningKey>, WireError> {
    ctx.blob_keys
        .get_or_load(&blob, || async {
            let plain = Arc::new(decrypt_blob(ctx, user, blob.clone()).await?);
            let key = on_pool(ctx, move || blob::signing_key(&plain)).await??;
            Ok(Arc::new(key))
        })
        .await
}

/// Runs blob crypto on the crypto pool. The outer error is the pool's; the
/// inner one stays typed, for the caller to match before it converts.
async fn on_pool<T, F>(ctx: &Ctx, f: F) -> Result<Result<T, BlobError>, WireError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, BlobError> + Send + 'static,
{
    ctx.exec
        .run(f)
        .await
        .map_err(|e| WireError::Internal(e.to_string()))
}

/// Decrypts a blob of either format (spec §8). Symmetric blobs use the
/// stored encryption key the blob names; gpg blobs are tried with the
/// request user's signd key first, then with the other stored keys the
/// blob is addressed to (any signd key that matches may decrypt it, as gpg
/// does for signd: case `privsign-wrong-user-for-blob`). Only those keys'
/// secrets are unwrapped, found by key ID in the store's index: a blob for
/// an unknown key costs no KEK operation and holds no other secret in
/// memory, however many keys the store has.
pub(super) async fn decrypt_blob(
    ctx: &Ctx,
    user: &str,
    blob: Arc<Vec<u8>>,
) -> Result<SecretBytes, WireError> {
    match blob::format(&blob)? {
        BlobFormat::Symmetric { key_id } => {
            let line = ctx
                .keys
                .encryption_key(&key_id)
                .await
                .map_err(internal)?
                .ok_or_else(|| BlobError::UnknownEncryptionKey(key_id.clone()))?;
            Ok(on_pool(ctx, move || blob::decrypt_symmetric(&blob, &key_id, &line)).await??)
        }
        BlobFormat::Gpg => {
            let own: Vec<SecretBytes> = ctx
                .keys
                .secret(user)
                .await
                .map_err(internal)?
                .into_iter()
                .collect();
            let b = blob.clone();
            match on_pool(ctx, move || blob::decrypt_gpg(&b, &own)).await? {
                Err(BlobError::NoSecretKey) => {}
                other => return Ok(other?),
            }
            let recipients = blob::gpg_recipients(&blob)?;
            let mut others = Vec::new();
            for name in ctx
                .keys
                .names_by_key_id(&recipients)
                .await
                .map_err(internal)?
            {
                if name == user {
                    continue;
                }
                // Decryption-only keys too (import-signd: signd keys
                // without a phrases file, as the previous key after a
                // rotation), which gpg would use for signd.
                if let Some(tsk) = ctx.keys.decryption_secret(&name).await.map_err(internal)? {
                    others.push(tsk);
                }
            }
            if others.is_empty() {
                return Err(BlobError::NoSecretKey.into());
            }
            Ok(on_pool(ctx, move || blob::decrypt_gpg(&blob, &others)).await??)
        }
    }
}

/// The blob must be non-empty, even-length hex.
pub(super) fn decode_blob(hex_blob: &str) -> Result<Vec<u8>, WireError> {
    if hex_blob.is_empty() {
        return Err(WireError::BadPrivateKey);
    }
    hex::decode(hex_blob).map_err(|_| WireError::BadPrivateKey)
}
