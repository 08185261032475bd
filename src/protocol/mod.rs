//! The obs-signd wire format as pure bytes (spec §2–§3, §4.3 hash arguments).
//!
//! * [`decode`] turns the bytes a client sent into a [`Request`], normalised
//!   to the new protocol's argv; it is incremental and says `Ok(None)` until
//!   the declared frame is complete. [`eof_error`] names the error for a
//!   peer that closed early.
//!   [`declared_len`] reads the frame size off the 4-byte header, so a
//!   server can refuse an oversized request before reading its body.
//! * [`Reply::encode`] frames a reply for the request's [`Protocol`] and
//!   refuses replies the `sign` client could not receive, whose buffer
//!   [`reply_limit`] gives.
//! * [`HashArg`] parses the `HEX@CCTTTTTTTT` argument of sign and privsign.
//! * [`encode_new_request`] and [`encode_old_request`] frame requests, as a
//!   proxying signd forwards them.
//!
//! This module performs no I/O and knows nothing of keys, sockets, databases
//! or the async runtime; `tests/architecture.rs` enforces that.

mod error;
mod hash_arg;
mod reply;
mod request;
#[cfg(test)]
mod test_fixtures;

pub use error::{DecodeError, EncodeError};
pub use hash_arg::{BadHashArg, HashArg};
pub use reply::{
    reply_limit, Reply, BARE_ERROR_REPLY, BULK_CLIENT_BUFFER, CLIENT_BUFFER, KEYGEN_CLIENT_BUFFER,
    MAX_HASHES_OUTSIDE_BULK, PING_CLIENT_BUFFER,
};
pub use request::{
    declared_len, decode, encode_new_request, encode_old_request, eof_error, Protocol, Request,
    MAX_REQUEST,
};
