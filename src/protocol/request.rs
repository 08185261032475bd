//! Request framing (spec §2): old protocol, new protocol, old ping.
use super::DecodeError;

/// The largest request signd accepts: 4 + 65535 + 65535 bytes.
pub const MAX_REQUEST: usize = 4 + 65535 + 65535;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Old,
    New,
}

/// A decoded request, normalised to the new protocol's argv:
/// `argv[0]` is the command and `argv[1]` the user field.
///
/// Old-protocol requests are rewritten as Perl signd does (spec §2.2):
/// `00000000` becomes `["ping", ""]`, `user`+`H:arg` becomes
/// `["sign", "H:user", "arg"]` and `PUBKEY` becomes `["pubkey", user]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub protocol: Protocol,
    pub argv: Vec<String>,
}

/// Decodes one request from the start of `buf`.
///
/// `Ok(None)` means more bytes are needed. `Ok(Some((req, used)))` gives the
/// request and the number of bytes it occupied; bytes after `used` are the
/// caller's business (the server reports `packet size mismatch`).
pub fn decode(_buf: &[u8]) -> Result<Option<(Request, usize)>, DecodeError> {
    unimplemented!("protocol::decode")
}

/// The error for a peer that closed after sending `buffered` bytes of an
/// incomplete request.
pub fn eof_error(_buffered: usize) -> DecodeError {
    unimplemented!("protocol::eof_error")
}
