//! `keygen(type, expiredays, realname, email)`: a new project key, returned
//! as an armored public key and an encrypted private-key blob (spec §4.5).
use super::{CmdError, Ctx, UserField};

/// The key types signd accepts, by their wire names.
pub(super) const TYPES: &[&str] = &[
    "rsa@1024",
    "rsa@2048",
    "rsa@4096",
    "dsa@1024",
    "dsa@2048",
    "dsa@4096",
    "ed25519",
    "eddsa@ed25519",
    "nistp256",
    "ecdsa@nistp256",
    "nistp384",
    "ecdsa@nistp384",
];

pub(super) async fn run(
    _ctx: &Ctx,
    _field: &UserField,
    args: &[String],
) -> Result<Vec<Vec<u8>>, CmdError> {
    if args.len() != 4 {
        return Err(CmdError::KeygenArgs);
    }
    if !TYPES.contains(&args[0].as_str()) {
        return Err(CmdError::BadType(args[0].clone()));
    }
    let expire = &args[1];
    if expire.is_empty() || expire.len() > 10 || !expire.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CmdError::BadExpireFormat);
    }
    // Generation and blob encryption are tracked in issue 4.
    Err(CmdError::NotSupported("keygen"))
}
