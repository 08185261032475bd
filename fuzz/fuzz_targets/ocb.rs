//! GnuPG's OCB-encrypted data packet (tag 20, `sign::ocb`) on arbitrary
//! bytes: the message split (session key packets, then the packet), the
//! packet parser, and decryption under fixed AES-128/256 session keys, so
//! the chunk split and the tag checks run on every parsed packet. Never
//! panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signatrust::sign::ocb;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(msg)) = ocb::split_message(data) {
        let _ = msg.packet.decrypt(&[0x42; 32]);
    }
    if let Ok(packet) = ocb::parse_packet(data) {
        let _ = packet.decrypt(&[0x42; 32]);
        let _ = packet.decrypt(&[0x42; 16]);
    }
    // And as a gpg blob, the way privsign meets it.
    let _ = signatrust::sign::blob::decrypt_gpg(data, &[]);
});
