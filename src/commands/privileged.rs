//! `privileged`: signd's optional remote administration module. Signatrust
//! does key management through `signatrust-admin` instead (spec §4.8).
use super::CmdError;
use crate::protocol::Protocol;

pub(super) fn run(_protocol: Protocol) -> Result<super::Routed, CmdError> {
    // The old protocol can only express sign and pubkey, so the
    // "oldproto is not supported" branch of signd is unreachable here.
    Err(CmdError::PrivilegedNotLoaded)
}
