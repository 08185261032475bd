//! `protocol::decode` on arbitrary bytes: never panics, `used` is the
//! declared frame size, decoding is incremental, and new-protocol requests
//! re-encode to the exact frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signatrust::protocol::{decode, encode_new_request, Protocol};

fuzz_target!(|data: &[u8]| {
    let Ok(Some((req, used))) = decode(data) else {
        return;
    };
    let a = usize::from(u16::from_be_bytes([data[0], data[1]]));
    let b = usize::from(u16::from_be_bytes([data[2], data[3]]));
    assert_eq!(used, 4 + a + b);
    assert!(used <= data.len());
    assert_eq!(decode(&data[..used - 1]), Ok(None));
    assert_eq!(decode(&data[..used]), Ok(Some((req.clone(), used))));
    for arg in &req.argv {
        assert!(!arg.bytes().any(|c| c < 0x20 || c == 0x7f));
    }
    if req.protocol == Protocol::New {
        assert_eq!(encode_new_request(&req.argv).unwrap(), &data[..used]);
    }
});
