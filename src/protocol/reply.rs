//! Reply framing (spec §3).
use super::{EncodeError, Protocol};

/// The sign client's receive buffer for every mode but keygen.
pub const CLIENT_BUFFER: usize = 8192;
/// The sign client's receive buffer for keygen.
pub const KEYGEN_CLIENT_BUFFER: usize = 16384;

/// A reply: status 0 with outputs, or an error text (without trailing `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub outputs: Vec<Vec<u8>>,
    pub error: String,
}

impl Reply {
    pub fn ok(outputs: Vec<Vec<u8>>) -> Self {
        Reply {
            status: 0,
            outputs,
            error: String::new(),
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Reply {
            status: 1,
            outputs: Vec::new(),
            error: text.into(),
        }
    }

    /// Encodes for `protocol`; refuses replies of `limit` bytes or more.
    pub fn encode(&self, _protocol: Protocol, _limit: usize) -> Result<Vec<u8>, EncodeError> {
        unimplemented!("Reply::encode")
    }
}
