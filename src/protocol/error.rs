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
    /// The encoded output section is longer than the u16 `outlen` allows.
    #[error("reply output section is {len} bytes, more than 65535")]
    OutTooLong { len: usize },
    /// The error text plus its newline is longer than the u16 `errlen` allows.
    #[error("error text is {len} bytes, more than 65535")]
    ErrorTooLong { len: usize },
    /// An old-protocol reply can carry exactly one output (a programming
    /// error in the caller, Perl dies the same way).
    #[error("only one reply supported in old protocol, got {count}")]
    OldProtocolOutputCount { count: usize },
    /// A request to forward does not fit its u16 length fields.
    #[error("request of {len} bytes is too big to encode")]
    RequestTooBig { len: usize },
    /// An old-protocol request with an empty argument cannot be expressed:
    /// its header would read as a new-protocol request.
    #[error("old-protocol request needs a non-empty argument")]
    EmptyOldArgument,
}
