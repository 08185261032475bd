//! `sign(hash1, hash2, ...)`: one signature packet per digest (spec §4.3).
use super::{hash_algo, internal, Ctx, UserField};
use crate::protocol::HashArg;
use crate::sign::signature_packet;
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
    let hashes_len = hashes.len();
    let key = ctx
        .keys
        .signing_key(&field.user)
        .await
        .map_err(internal)?
        .ok_or_else(|| WireError::UnknownKey(field.user.clone()))?;
    let inline = key.signer.is_fast() && hashes_len <= INLINE_MAX_HASHES;
    let sign_all = move || {
        hashes
            .iter()
            .map(|h| signature_packet(&key.signer, algo, &h.digest, h.class, h.time))
            .collect::<Result<Vec<_>, _>>()
    };
    // A fast key (Ed25519, P-256: tens of µs per signature) with few
    // hashes is signed inline: the pool hand-off (two cross-thread wake-ups)
    // would cost as much as the signature, and the reactor is held for less
    // than ~100 µs. Everything else goes to the bounded crypto pool.
    let signed = if inline {
        sign_all()
    } else {
        ctx.exec
            .run(sign_all)
            .await
            .map_err(|e| WireError::Internal(e.to_string()))?
    };
    signed.map_err(|e| {
        tracing::error!(error = %e, "signing failed");
        WireError::Internal(e.to_string())
    })
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
/// gpg-agent ("unsupported length of hash"), we check it ourselves.
pub(super) fn check_lengths(
    algo: crate::sign::HashAlgo,
    hashes: &[HashArg],
) -> Result<(), WireError> {
    for h in hashes {
        if h.digest.len() != algo.digest_len() {
            return Err(WireError::DigestLength {
                algo: algo_name(algo),
                want: algo.digest_len(),
                got: h.digest.len(),
            });
        }
    }
    Ok(())
}

fn algo_name(algo: crate::sign::HashAlgo) -> &'static str {
    use crate::sign::HashAlgo;
    match algo {
        HashAlgo::Sha1 => "SHA1",
        HashAlgo::Sha256 => "SHA256",
        HashAlgo::Sha512 => "SHA512",
    }
}
