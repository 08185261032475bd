//! v3 and v4-probe signature packets with old-format headers (spec §6.2-6.3).
use super::{HashAlgo, SignError, SigningKey};

/// Appends an OpenPGP old-format packet header for `tag` (< 16) and a body
/// of `len` bytes, with the shortest length encoding.
pub(crate) fn old_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    debug_assert!(tag < 16);
    let ctb = 0x80 | (tag << 2);
    if len < 0x100 {
        out.push(ctb);
        out.push(len as u8);
    } else if len < 0x1_0000 {
        out.push(ctb | 1);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(ctb | 2);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// Length of the header [`old_header`] writes.
pub(crate) fn old_header_len(len: usize) -> usize {
    if len < 0x100 {
        2
    } else if len < 0x1_0000 {
        3
    } else {
        5
    }
}

/// Appends a new-format packet header (for tags >= 16).
pub(crate) fn new_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(0xc0 | (tag & 0x3f));
    if len < 192 {
        out.push(len as u8);
    } else if len < 8384 {
        let l = len - 192;
        out.push(((l >> 8) as u8) + 192);
        out.push(l as u8);
    } else {
        out.push(0xff);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// Length of the header [`new_header`] writes.
pub(crate) fn new_header_len(len: usize) -> usize {
    if len < 192 {
        2
    } else if len < 8384 {
        3
    } else {
        6
    }
}

/// Appends a header the way `gpg --export` writes it: old format for tags
/// below 16, new format otherwise.
pub(crate) fn gpg_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    if tag < 16 {
        old_header(out, tag, len)
    } else {
        new_header(out, tag, len)
    }
}

pub(crate) fn gpg_header_len(tag: u8, len: usize) -> usize {
    if tag < 16 {
        old_header_len(len)
    } else {
        new_header_len(len)
    }
}

/// Whether `digest` is the client's v4 probe: non-empty and all `0x04`.
pub fn is_probe(digest: &[u8]) -> bool {
    !digest.is_empty() && digest.iter().all(|&b| b == 0x04)
}

/// Signs `digest` and wraps it: a v4 packet for the all-`04` probe digest,
/// a v3 packet otherwise. Class and time come from the request trailer.
pub fn signature_packet(
    key: &SigningKey,
    hash: HashAlgo,
    digest: &[u8],
    class: u8,
    time: u32,
) -> Result<Vec<u8>, SignError> {
    let mpis = key.sign_mpis(hash, digest)?;
    Ok(assemble_packet(key, hash, digest, class, time, &mpis))
}

/// The packet around signature MPIs already computed for `digest` (the
/// non-crypto half of [`signature_packet`], public for the benchmarks).
/// One allocation: the body length is known before it is written.
pub fn assemble_packet(
    key: &SigningKey,
    hash: HashAlgo,
    digest: &[u8],
    class: u8,
    time: u32,
    mpis: &[u8],
) -> Vec<u8> {
    let fpr = key.fingerprint();
    let keyid = key.key_id();
    let algo = key.algo() as u8;
    let time = time.to_be_bytes();
    let probe = is_probe(digest);
    // v4: 4 + 5 + 20 + 2 + 4 + 4 + 8 hashed/unhashed bytes; v3: 3 + 4 + 8 + 2.
    let fixed = if probe { 47 } else { 17 };
    let body_len = fixed + 2 + mpis.len();

    let mut out = Vec::with_capacity(old_header_len(body_len) + body_len);
    old_header(&mut out, 2, body_len);
    if probe {
        out.extend_from_slice(&[4, class, algo, hash.openpgp_id()]);
        out.extend_from_slice(&[0x00, 0x1d, 0x16, 0x21, 0x04]);
        out.extend_from_slice(fpr);
        out.extend_from_slice(&[0x05, 0x02]);
        out.extend_from_slice(&time);
        out.extend_from_slice(&[0x00, 0x0a, 0x09, 0x10]);
        out.extend_from_slice(&keyid);
    } else {
        out.extend_from_slice(&[3, 5, class]);
        out.extend_from_slice(&time);
        out.extend_from_slice(&keyid);
        out.extend_from_slice(&[algo, hash.openpgp_id()]);
    }
    out.extend_from_slice(&digest[..2]);
    out.extend_from_slice(mpis);
    debug_assert_eq!(out.len(), old_header_len(body_len) + body_len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_headers() {
        let mut v = Vec::new();
        old_header(&mut v, 2, 0x57);
        assert_eq!(v, [0x88, 0x57]);
        v.clear();
        old_header(&mut v, 2, 0x115);
        assert_eq!(v, [0x89, 0x01, 0x15]);
        v.clear();
        old_header(&mut v, 2, 0x12345);
        assert_eq!(v, [0x8a, 0x00, 0x01, 0x23, 0x45]);
        v.clear();
        old_header(&mut v, 13, 58);
        assert_eq!(v, [0xb4, 58]);
        for len in [0, 255, 256, 65535, 65536] {
            let mut v = Vec::new();
            old_header(&mut v, 6, len);
            assert_eq!(v.len(), old_header_len(len));
        }
    }

    #[test]
    fn new_headers() {
        for (len, want) in [
            (100usize, vec![0xd1, 100]),
            (192, vec![0xd1, 0xc0, 0x00]),
            (8383, vec![0xd1, 0xdf, 0xff]),
            (8384, vec![0xd1, 0xff, 0, 0, 0x20, 0xc0]),
        ] {
            let mut v = Vec::new();
            new_header(&mut v, 17, len);
            assert_eq!(v, want, "{len}");
            assert_eq!(v.len(), new_header_len(len));
        }
    }

    #[test]
    fn probe_detection() {
        assert!(is_probe(&[4; 20]));
        assert!(!is_probe(&[]));
        let mut d = [4u8; 32];
        d[31] = 5;
        assert!(!is_probe(&d));
    }
}
