//! `pubkey`: the armored transferable public key of the user (spec §4.2).
use super::{internal, CmdError, Ctx, UserField};
use crate::sign::armor_public_key;

pub(super) async fn run(
    ctx: &Ctx,
    field: &UserField,
    args: &[String],
) -> Result<Vec<Vec<u8>>, CmdError> {
    if !args.is_empty() {
        return Err(CmdError::PubkeyArgs);
    }
    let public = ctx
        .keys
        .public_key(&field.user)
        .await
        .map_err(internal)?
        .ok_or_else(|| CmdError::UnknownKey(field.user.clone()))?;
    Ok(vec![armor_public_key(&public).into_bytes()])
}
