//! `privileged`: signd's optional remote administration module. Signatrust
//! does key management through `signatrust-admin` instead (spec §4.8).
use crate::protocol::Protocol;
use crate::wire_error::WireError;

pub(super) fn run(_protocol: Protocol) -> Result<super::Handled, WireError> {
    // The old protocol can only express sign and pubkey, so the
    // "oldproto is not supported" branch of signd is unreachable here.
    Err(WireError::PrivilegedNotLoaded)
}
