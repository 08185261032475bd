//! The privsign/privtotp blob parsers on arbitrary bytes: format detection,
//! the symmetric "01" layout (with a known encryption key, so fuzzing reaches
//! SKESK/SEIPD/zlib/literal parsing), the gpg message path (no matching key),
//! the first-packet rule, the recipient and key-ID scans, and the TOTP URI
//! parser. Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signatrust::secret::SecretBytes;
use signatrust::sign::{blob, totp};

/// A throwaway signd-style encryption key line (144 hex characters), not a
/// fixture: its ID is whatever the fuzzer writes into the blob.
const ENC_KEY: &[u8] = b"01655b6c000a01090b30557a9fc4e90e33587da2c7ec11365b80a5caef14395e83a8cdf2173c6186abd0f51a3f6489aed3f81d42678cb1d6fb20456a8fb4d9fe23486d92b7dc0126";

fuzz_target!(|data: &[u8]| {
    let _ = blob::format(data);
    let _ = blob::xdata(data);
    let _ = blob::gpg_recipients(data);
    let _ = signatrust::sign::key_ids(data);
    let lookup = |_id: &str| Some(SecretBytes::from_slice(ENC_KEY));
    if let Ok(plain) = blob::decrypt(data, lookup, &[]) {
        let _ = blob::first_packet(plain.expose());
        let _ = blob::signing_key(&plain);
    }
    // The plaintext-side parsers directly on the input too.
    let plain = SecretBytes::from_slice(data);
    let _ = blob::first_packet(data);
    let _ = blob::signing_key(&plain);
    let _ = totp::code(data, 1_700_000_000, 1_700_000_000);
});
