//! The obs-signd wire format as pure bytes (spec §2–§3, §4.3 hash arguments).
//!
//! This module performs no I/O and knows nothing of keys, sockets, databases
//! or the async runtime; `tests/architecture.rs` enforces that.

mod error;
mod hash_arg;
mod reply;
mod request;

pub use error::{DecodeError, EncodeError};
pub use hash_arg::{BadHashArg, HashArg};
pub use reply::{Reply, CLIENT_BUFFER, KEYGEN_CLIENT_BUFFER};
pub use request::{decode, eof_error, Protocol, Request, MAX_REQUEST};
