//! `certgen`: removed from signd; certificates are built client-side (§4.7).
use crate::wire_error::WireError;

pub(super) fn run() -> Result<Vec<Vec<u8>>, WireError> {
    Err(WireError::CertgenUnsupported)
}
