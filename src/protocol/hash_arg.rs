//! The `HEX@CCTTTTTTTT` hash argument of sign and privsign (spec §4.3).
use thiserror::Error;

/// A parsed hash argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashArg {
    /// The digest H, already the final OpenPGP hash.
    pub digest: Vec<u8>,
    /// Signature class, `0x00` or `0x01`.
    pub class: u8,
    /// Signature creation time from the trailer.
    pub time: u32,
}

/// `bad hash <arg>`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("bad hash {0}")]
pub struct BadHashArg(pub String);

impl HashArg {
    pub fn parse(_arg: &str) -> Result<HashArg, BadHashArg> {
        unimplemented!("HashArg::parse")
    }

    /// True for the all-`04` v4 probe digest.
    pub fn is_v4_probe(&self) -> bool {
        unimplemented!("HashArg::is_v4_probe")
    }
}
