//! RFC 6238 TOTP codes from an `otpauth://totp/` URI (spec §4.6).
//!
//! Pure: the caller passes the decrypted URI and the server's clock.

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use thiserror::Error;
use zeroize::Zeroizing;

/// Why no code could be computed. The texts are signd's.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TotpError {
    #[error("bad totp uri")]
    BadUri,
    #[error("missing totp parameter '{0}'")]
    MissingParameter(&'static str),
    #[error("bad totp digits")]
    BadDigits,
    #[error("bad totp period")]
    BadPeriod,
    #[error("unsupported hmac algorithm")]
    UnsupportedAlgorithm,
    #[error("time out of range")]
    TimeOutOfRange,
    #[error("hmac failed")]
    Hmac,
}

/// Decodes `%XX` escapes (and leaves malformed ones as they are).
fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            let h = std::str::from_utf8(&s[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = h {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Base32 (RFC 4648) of the upper-cased input, stopping at the first
/// character outside `A-Z2-7` (padding included).
fn base32_decode(s: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(s.len() * 5 / 8));
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &c in s {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => break,
        };
        acc = (acc << 5) | v as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// A decimal parameter as Perl's numeric context reads it: leading digits,
/// anything else is 0.
fn perl_number(s: &[u8]) -> u64 {
    let mut n: u64 = 0;
    for &c in s.iter().skip_while(|c| c.is_ascii_whitespace()) {
        if !c.is_ascii_digit() {
            break;
        }
        n = n.saturating_mul(10).saturating_add((c - b'0') as u64);
    }
    n
}

/// The TOTP code for `uri` at `time` (0 means `now`).
pub fn code(uri: &[u8], time: u64, now: u64) -> Result<String, TotpError> {
    let rest = uri
        .strip_prefix(b"otpauth://totp/")
        .ok_or(TotpError::BadUri)?;
    let q = rest
        .iter()
        .position(|&b| b == b'?')
        .ok_or(TotpError::BadUri)?;
    let query = &rest[q + 1..];
    let (mut algorithm, mut secret, mut digits, mut period, mut skew) =
        (None, None, None, None, None);
    for part in query.split(|&b| b == b'&') {
        let (k, v) = match part.iter().position(|&b| b == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &b""[..]),
        };
        let v = Zeroizing::new(percent_decode(v));
        match k {
            b"algorithm" => algorithm = Some(v),
            b"secret" => secret = Some(v),
            b"digits" => digits = Some(v),
            b"period" => period = Some(v),
            b"skew" => skew = Some(v),
            _ => {}
        }
    }
    let algorithm = algorithm.ok_or(TotpError::MissingParameter("algorithm"))?;
    let secret = secret.ok_or(TotpError::MissingParameter("secret"))?;
    let digits = digits.ok_or(TotpError::MissingParameter("digits"))?;
    let period = period.ok_or(TotpError::MissingParameter("period"))?;

    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(TotpError::BadDigits);
    }
    let digits = perl_number(&digits);
    if !(1..=10).contains(&digits) {
        return Err(TotpError::BadDigits);
    }
    if period.is_empty() || !period.iter().all(u8::is_ascii_digit) {
        return Err(TotpError::BadPeriod);
    }
    let period = perl_number(&period);
    if period < 1 {
        return Err(TotpError::BadPeriod);
    }
    let md = match algorithm.to_ascii_lowercase().as_slice() {
        b"sha1" => MessageDigest::sha1(),
        b"sha256" => MessageDigest::sha256(),
        b"sha512" => MessageDigest::sha512(),
        _ => return Err(TotpError::UnsupportedAlgorithm),
    };
    let skew = skew.map_or(3600, |s| perl_number(&s));

    let t = if time == 0 {
        now
    } else {
        if time.abs_diff(now) > skew {
            return Err(TotpError::TimeOutOfRange);
        }
        time
    };

    let key = base32_decode(&secret);
    let counter = (t / period).to_be_bytes();
    let pkey = PKey::hmac(&key).map_err(|_| TotpError::Hmac)?;
    let mut signer = Signer::new(md, &pkey).map_err(|_| TotpError::Hmac)?;
    signer.update(&counter).map_err(|_| TotpError::Hmac)?;
    let mac = Zeroizing::new(signer.sign_to_vec().map_err(|_| TotpError::Hmac)?);
    let off = (mac[mac.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([mac[off] & 0x7f, mac[off + 1], mac[off + 2], mac[off + 3]]);
    let modulus = 10u64.pow(digits as u32);
    let value = bin as u64 % modulus;
    Ok(format!("{value:0width$}", width = digits as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn fixture_case() {
        let uri = b"otpauth://totp/obs:test?secret=JBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30&skew=2000000000";
        assert_eq!(code(uri, 0x6553f100, 5).unwrap(), "324550");
        assert_eq!(code(uri, 0, 0x6553f100).unwrap(), "324550");
    }

    /// RFC 6238 appendix B vectors (8 digits).
    #[test]
    fn rfc6238_vectors() {
        let s1 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"; // "12345678901234567890"
        let s256 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA";
        let s512 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA=";
        for (t, a, b, c) in [
            (59u64, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (20000000000, "65353130", "77737706", "47863826"),
        ] {
            for (alg, sec, want) in [("SHA1", s1, a), ("sha256", s256, b), ("Sha512", s512, c)] {
                let uri = format!(
                    "otpauth://totp/x?secret={sec}&algorithm={alg}&digits=8&period=30&skew=99999999999"
                );
                assert_eq!(code(uri.as_bytes(), t, NOW).unwrap(), want, "{alg} {t}");
            }
        }
    }

    #[test]
    fn errors() {
        let ok = "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30";
        assert_eq!(
            code(b"otpauth://hotp/x?a=b", 0, NOW),
            Err(TotpError::BadUri)
        );
        assert_eq!(code(b"otpauth://totp/x", 0, NOW), Err(TotpError::BadUri));
        for p in ["algorithm", "secret", "digits", "period"] {
            let uri = ok.replace(&format!("{p}="), "zz=");
            assert_eq!(
                code(uri.as_bytes(), 0, NOW),
                Err(TotpError::MissingParameter(p))
            );
        }
        let d0 = ok.replace("digits=6", "digits=0");
        assert_eq!(code(d0.as_bytes(), 0, NOW), Err(TotpError::BadDigits));
        let d11 = ok.replace("digits=6", "digits=11");
        assert_eq!(code(d11.as_bytes(), 0, NOW), Err(TotpError::BadDigits));
        let p0 = ok.replace("period=30", "period=0");
        assert_eq!(code(p0.as_bytes(), 0, NOW), Err(TotpError::BadPeriod));
        let md5 = ok.replace("SHA1", "MD5");
        assert_eq!(
            code(md5.as_bytes(), 0, NOW),
            Err(TotpError::UnsupportedAlgorithm)
        );
        // default skew 3600
        assert!(code(ok.as_bytes(), NOW - 3600, NOW).is_ok());
        assert_eq!(
            code(ok.as_bytes(), NOW - 3601, NOW),
            Err(TotpError::TimeOutOfRange)
        );
        assert_eq!(
            code(ok.as_bytes(), NOW + 3601, NOW),
            Err(TotpError::TimeOutOfRange)
        );
        // percent-decoded values, 10 digits
        let enc = ok
            .replace("SHA1", "%53HA1")
            .replace("digits=6", "digits=10");
        assert_eq!(code(enc.as_bytes(), 0, NOW).unwrap().len(), 10);
    }
}
