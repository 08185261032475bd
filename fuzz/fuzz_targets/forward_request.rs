//! Proxy re-encoding: any request the decoder accepts re-encodes for the
//! upstream (or fails cleanly) into a frame that decodes to the same argv.
#![no_main]
use libfuzzer_sys::fuzz_target;
use signatrust::protocol::decode;
use signatrust::server::proxy::encode_forward;

fuzz_target!(|data: &[u8]| {
    let Ok(Some((req, _))) = decode(data) else {
        return;
    };
    let Ok(bytes) = encode_forward(&req) else {
        return;
    };
    let Ok(Some((again, used))) = decode(&bytes) else {
        panic!("re-encoded request does not decode: {bytes:02x?}");
    };
    assert_eq!(used, bytes.len());
    assert_eq!(again.argv, req.argv);
});
