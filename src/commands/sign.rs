//! `sign(hash1, hash2, ...)`: one signature packet per digest (spec §4.3).
use std::sync::Arc;

use super::{hash_algo, internal, Ctx, UserField};
use crate::protocol::HashArg;
use crate::sign::{signature_packet, HashAlgo, SignError, SigningKey};
use crate::wire_error::WireError;

pub(super) async fn run(
    ctx: &Ctx,
    field: &UserField,
    args: &[String],
) -> Result<Vec<Vec<u8>>, WireError> {
    if args.is_empty() {
        return Err(WireError::SignArgs);
    }
    let hashes = parse_hashes(args)?;
    let algo = hash_algo(field)?;
    check_lengths(algo, &hashes)?;
    let key = ctx
        .keys
        .signing_key(&field.user)
        .await
        .map_err(internal)?
        .ok_or_else(|| WireError::UnknownKey(field.user.clone()))?;
    // A fast key (Ed25519, P-256: tens of µs per signature) with few
    // hashes is signed inline: the pool hand-off (two cross-thread wake-ups)
    // would cost as much as the signature, and the reactor is held for less
    // than ~100 µs. Everything else goes to the bounded crypto pool.
    if key.signer.is_fast() && hashes.len() <= INLINE_MAX_HASHES {
        return hashes
            .iter()
            .map(|h| signature_packet(&key.signer, algo, &h.digest, h.class, h.time))
            .collect::<Result<Vec<_>, _>>()
            .map_err(signing_failed);
    }
    sign_hashes(ctx, key, |k| &k.signer, algo, hashes).await
}

/// Signs `hashes` with the key `signer` finds in `key`, on the crypto
/// pool, one signature packet per hash in their order. The hashes are
/// split into contiguous runs, one per worker (at most one run per hash),
/// so a bulk request (`--bulk-cpio`: up to 100 hashes) uses every worker;
/// the packets are byte-identical to signing them one after the other.
pub(super) async fn sign_hashes<K: Send + Sync + 'static>(
    ctx: &Ctx,
    key: Arc<K>,
    signer: fn(&K) -> &SigningKey,
    algo: HashAlgo,
    hashes: Vec<HashArg>,
) -> Result<Vec<Vec<u8>>, WireError> {
    let runs = ctx.exec.workers().clamp(1, hashes.len().max(1));
    let per_run = hashes.len().div_ceil(runs).max(1);
    let hashes = Arc::new(hashes);
    let jobs: Vec<_> = (0..hashes.len())
        .step_by(per_run)
        .map(|start| {
            let (key, hashes) = (key.clone(), hashes.clone());
            move || {
                hashes[start..(start + per_run).min(hashes.len())]
                    .iter()
                    .map(|h| signature_packet(signer(&key), algo, &h.digest, h.class, h.time))
                    .collect::<Result<Vec<_>, _>>()
            }
        })
        .collect();
    let mut packets = Vec::with_capacity(hashes.len());
    for run in ctx
        .exec
        .run_all(jobs)
        .await
        .map_err(|e| WireError::Internal(e.to_string()))?
    {
        packets.extend(run.map_err(signing_failed)?);
    }
    Ok(packets)
}

/// A signature that could not be made: logged and named by `wire_error`.
fn signing_failed(e: SignError) -> WireError {
    WireError::from(e)
}

/// Most hashes of a fast key signed on the reactor (an rpm request has two).
const INLINE_MAX_HASHES: usize = 2;

/// Parses every hash argument first, so a bad one anywhere fails the request
/// before anything is signed.
pub(super) fn parse_hashes(args: &[String]) -> Result<Vec<HashArg>, WireError> {
    args.iter()
        .map(|a| HashArg::parse(a).map_err(|e| WireError::BadHash(e.0)))
        .collect()
}

/// The digest must have the size of the hash algorithm; signd leaves this to
/// gpg-agent ("unsupported length of hash"), we check it ourselves, before
/// the key is loaded.
pub(super) fn check_lengths(algo: HashAlgo, hashes: &[HashArg]) -> Result<(), WireError> {
    match hashes.iter().find(|h| h.digest.len() != algo.digest_len()) {
        Some(h) => Err(WireError::Sign(SignError::DigestLength {
            algo,
            got: h.digest.len(),
            want: algo.digest_len(),
        })),
        None => Ok(()),
    }
}
