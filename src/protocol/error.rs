//! Typed decode and encode errors.
use thiserror::Error;

/// Why a request could not be decoded. `Display` is signd's exact wire text
/// (without the trailing newline).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// An argument holds a byte 0x00-0x1f or 0x7f, or is not valid UTF-8.
    #[error("malformed argument")]
    MalformedArgument,
    /// The peer closed before the declared request size arrived.
    #[error("packet read error")]
    ReadError,
    /// More bytes than declared, or new-protocol lengths that do not add up.
    #[error("packet size mismatch")]
    SizeMismatch,
    /// The peer closed after fewer than 4 bytes.
    #[error("packet too small")]
    TooSmall,
    /// The peer closed without sending anything.
    #[error("zero size packet")]
    ZeroSize,
}

/// Why a reply could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// One output is longer than a u16 length can express.
    #[error("output {index} is {len} bytes, more than 65535")]
    OutputTooLong { index: usize, len: usize },
    /// The whole reply would not fit the client's receive buffer.
    #[error("reply of {len} bytes does not fit the client's {limit}-byte buffer")]
    ReplyTooBig { len: usize, limit: usize },
}
