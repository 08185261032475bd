//! `pubkey`: the armored transferable public key of the user (spec §4.2).
use super::{internal, Ctx, UserField};
use crate::sign::armor_public_key;
use crate::wire_error::WireError;

pub(super) async fn run(
    ctx: &Ctx,
    field: &UserField,
    args: &[String],
) -> Result<Vec<Vec<u8>>, WireError> {
    if !args.is_empty() {
        return Err(WireError::PubkeyArgs);
    }
    let public = ctx
        .keys
        .public_key(&field.user)
        .await
        .map_err(internal)?
        .ok_or_else(|| WireError::UnknownKey(field.user.clone()))?;
    Ok(vec![armor_public_key(&public).into_bytes()])
}
