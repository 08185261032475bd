//! ASCII armor exactly as gpg 2.2 writes it.
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::SignError;

/// The OpenPGP CRC-24 (RFC 4880 §6.1).
pub(crate) fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00b7_04ce;
    for &b in data {
        crc ^= (b as u32) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4cfb;
            }
        }
    }
    crc & 0x00ff_ffff
}

/// Armors a binary transferable public key as `gpg --export -a` does.
pub fn armor_public_key(binary: &[u8]) -> String {
    let b64 = STANDARD.encode(binary);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 100);
    out.push_str("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push('=');
    out.push_str(&STANDARD.encode(&crc24(binary).to_be_bytes()[1..]));
    out.push_str("\n-----END PGP PUBLIC KEY BLOCK-----\n");
    out
}

fn armor_err(what: &str) -> SignError {
    SignError::OpenPgp(format!("bad ASCII armor: {what}"))
}

/// Decodes ASCII armor (any block type); binary input is returned unchanged.
///
/// Only the first armored block is decoded. Armor headers are skipped; a
/// checksum line, if present, must match. The caller owns the result; wrap
/// it in a zeroising buffer if the input may hold secret key material.
pub fn dearmor(input: &[u8]) -> Result<Vec<u8>, SignError> {
    let start = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(input.len());
    let trimmed = &input[start..];
    if !trimmed.starts_with(b"-----BEGIN PGP ") {
        // OpenPGP binary data always starts with a byte >= 0x80; text in
        // front of an armored block (as in a mail) is skipped.
        if trimmed.first().is_some_and(|&b| b < 0x80) {
            if let Some(pos) = find(trimmed, b"\n-----BEGIN PGP ") {
                return dearmor(&trimmed[pos + 1..]);
            }
        }
        return Ok(input.to_vec());
    }
    let mut lines = trimmed
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let begin = lines.next().ok_or_else(|| armor_err("empty"))?;
    if !begin.ends_with(b"-----") {
        return Err(armor_err("malformed BEGIN line"));
    }
    // Armored secret keys pass through here: no reallocation, wiped on drop.
    let mut b64 = zeroize::Zeroizing::new(Vec::with_capacity(trimmed.len()));
    let mut crc: Option<Vec<u8>> = None;
    let mut in_headers = true;
    let mut ended = false;
    for line in lines {
        let l = trim(line);
        if in_headers {
            if l.is_empty() {
                in_headers = false;
                continue;
            }
            if l.contains(&b':') && !l.starts_with(b"-----") {
                continue;
            }
            // No blank line after BEGIN: the data starts right away.
            in_headers = false;
        }
        if l.starts_with(b"-----END PGP ") {
            ended = true;
            break;
        }
        if l.is_empty() {
            continue;
        }
        if l[0] == b'=' && l.len() == 5 {
            crc = Some(l[1..].to_vec());
            continue;
        }
        b64.extend_from_slice(l);
    }
    if !ended {
        return Err(armor_err("no END line"));
    }
    let data = STANDARD
        .decode(&*b64)
        .map_err(|_| armor_err("invalid base64"))?;
    if let Some(c) = crc {
        let want = STANDARD
            .decode(&c)
            .map_err(|_| armor_err("invalid checksum"))?;
        if want[..] != crc24(&data).to_be_bytes()[1..] {
            return Err(armor_err("checksum mismatch"));
        }
    }
    Ok(data)
}

fn trim(l: &[u8]) -> &[u8] {
    let s = l
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(l.len());
    let e = l
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(s, |e| e + 1);
    &l[s..e.max(s)]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc24_known_value() {
        // CRC-24 of the empty string is the init value.
        assert_eq!(crc24(b""), 0xb704ce);
        // Check value from the RFC 4880 algorithm (as computed by gpg).
        assert_eq!(crc24(b"123456789"), 0x21cf02);
    }

    #[test]
    fn roundtrip_and_binary_passthrough() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let a = armor_public_key(&data);
        assert!(a.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"));
        assert!(a.ends_with("\n-----END PGP PUBLIC KEY BLOCK-----\n"));
        assert!(a.lines().all(|l| l.len() <= 64));
        assert_eq!(dearmor(a.as_bytes()).unwrap(), data);
        let bin = vec![0x99u8, 1, 2, 3];
        assert_eq!(dearmor(&bin).unwrap(), bin);
    }

    #[test]
    fn headers_crlf_and_bad_crc() {
        let data = b"hello world, this is armored";
        let a = armor_public_key(data);
        let with_hdr = a.replacen("\n\n", "\nVersion: GnuPG v2\nComment: x\n\n", 1);
        assert_eq!(dearmor(with_hdr.as_bytes()).unwrap(), data);
        let crlf = a.replace('\n', "\r\n");
        assert_eq!(dearmor(crlf.as_bytes()).unwrap(), data);
        let eq = a.rfind("\n=").unwrap();
        let mut bad = a.clone().into_bytes();
        bad[eq + 2] = if bad[eq + 2] == b'A' { b'B' } else { b'A' };
        assert!(dearmor(&bad).is_err());
        let trunc = &a[..a.find("-----END").unwrap()];
        assert!(dearmor(trunc.as_bytes()).is_err());
    }
}
