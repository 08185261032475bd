//! `server::proxy_header::decode` (a load balancer's PROXY protocol v1/v2
//! header) on arbitrary bytes: never panics; a header it accepts ends
//! within the input, decodes the same from exactly its own bytes, and any
//! shorter prefix of it asks for more bytes instead of failing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signatrust::server::proxy_header::{decode, MAX_HEADER};

fuzz_target!(|data: &[u8]| {
    match decode(data) {
        Ok(Some((carried, used))) => {
            assert!(used > 0 && used <= data.len() && used <= MAX_HEADER);
            assert_eq!(decode(&data[..used]), Ok(Some((carried, used))));
            assert_eq!(decode(&data[..used - 1]), Ok(None));
        }
        Ok(None) => assert!(data.len() < MAX_HEADER),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
