//! v3 and v4-probe signature packets with old-format headers (spec §6.2-6.3).
use super::{HashAlgo, SignError, SigningKey};

/// Signs `digest` and wraps it: a v4 packet for the all-`04` probe digest,
/// a v3 packet otherwise. Class and time come from the request trailer.
pub fn signature_packet(
    _key: &SigningKey,
    _hash: HashAlgo,
    _digest: &[u8],
    _class: u8,
    _time: u32,
) -> Result<Vec<u8>, SignError> {
    unimplemented!()
}
