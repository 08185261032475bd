//! `certgen`: removed from signd; certificates are built client-side (§4.7).
use super::CmdError;

pub(super) fn run() -> Result<Vec<Vec<u8>>, CmdError> {
    Err(CmdError::CertgenUnsupported)
}
