//! ASCII armor exactly as gpg 2.2 writes it.
use super::SignError;

/// Armors a binary transferable public key as `gpg --export -a` does.
pub fn armor_public_key(_binary: &[u8]) -> String {
    unimplemented!()
}

/// Decodes ASCII armor (any block type); binary input is returned unchanged.
pub fn dearmor(_input: &[u8]) -> Result<Vec<u8>, SignError> {
    unimplemented!()
}
