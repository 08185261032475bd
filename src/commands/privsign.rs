//! `privsign(blob, hash1, ...)`: sign with a project key carried in the
//! request as an encrypted blob (spec §4.4, §8).
use super::sign::{check_lengths, parse_hashes};
use super::{hash_algo, CmdError, Ctx, UserField};

pub(super) async fn run(
    _ctx: &Ctx,
    field: &UserField,
    args: &[String],
) -> Result<Vec<Vec<u8>>, CmdError> {
    if args.len() < 2 {
        return Err(CmdError::PrivsignArgs);
    }
    let _blob = decode_blob(&args[0])?;
    let hashes = parse_hashes(&args[1..])?;
    let algo = hash_algo(field)?;
    check_lengths(algo, &hashes)?;
    // Blob decryption (gpg and "01" formats) is tracked in issue 4.
    Err(CmdError::NotSupported("privsign"))
}

/// The blob must be non-empty, even-length hex.
pub(super) fn decode_blob(hex_blob: &str) -> Result<Vec<u8>, CmdError> {
    if hex_blob.is_empty() {
        return Err(CmdError::BadPrivateKey);
    }
    hex::decode(hex_blob).map_err(|_| CmdError::BadPrivateKey)
}
