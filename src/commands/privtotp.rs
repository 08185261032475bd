//! `privtotp(blob, timehex)`: RFC 6238 codes from an encrypted otpauth URI
//! (spec §4.6).
use super::privsign::decode_blob;
use super::{CmdError, Ctx, UserField};

pub(super) async fn run(
    _ctx: &Ctx,
    _field: &UserField,
    args: &[String],
) -> Result<Vec<Vec<u8>>, CmdError> {
    if args.len() != 2 {
        return Err(CmdError::PrivtotpArgs);
    }
    let _blob = decode_blob(&args[0])?;
    let t = &args[1];
    if t.len() != 8 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CmdError::BadTimeArgument);
    }
    // Blob decryption and the TOTP computation are tracked in issue 4.
    Err(CmdError::NotSupported("privtotp"))
}
