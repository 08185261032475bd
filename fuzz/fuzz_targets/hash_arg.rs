//! `HashArg::parse` on arbitrary strings: never panics, and whatever it
//! accepts prints back (lowercased) to the same argument.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signatrust::protocol::HashArg;

fuzz_target!(|data: &[u8]| {
    let Ok(arg) = std::str::from_utf8(data) else {
        return;
    };
    match HashArg::parse(arg) {
        Ok(h) => {
            assert!(h.class <= 1 && !h.digest.is_empty());
            let again = format!("{}@{:02x}{:08x}", hex::encode(&h.digest), h.class, h.time);
            assert_eq!(again, arg.to_ascii_lowercase());
            let _ = h.is_v4_probe();
        }
        Err(e) => assert_eq!(e.0, arg),
    }
});
