//! `privtotp(blob, timehex)`: RFC 6238 codes from an encrypted otpauth URI
//! (spec §4.6).
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::privsign::{decode_blob, decrypt_blob};
use super::{Ctx, UserField};
use crate::sign::totp;
use crate::wire_error::WireError;

pub(super) async fn run(
    ctx: &Ctx,
    field: &UserField,
    args: &[String],
) -> Result<Vec<Vec<u8>>, WireError> {
    if args.len() != 2 {
        return Err(WireError::PrivtotpArgs);
    }
    let blob = decode_blob(&args[0])?;
    let t = &args[1];
    if t.len() != 8 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WireError::BadTimeArgument);
    }
    let t = u32::from_str_radix(t, 16).map_err(|_| WireError::BadTimeArgument)?;
    // The literal data of the blob is the otpauth URI itself.
    let uri = decrypt_blob(ctx, &field.user, Arc::new(blob)).await?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let code = totp::code(uri.expose(), u64::from(t), now)?;
    Ok(vec![code.into_bytes()])
}
