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

/// Decodes `%XX` escapes, `XX` two hex digits (Perl's
/// `s/%([a-fA-F0-9]{2})/chr(hex($1))/sge`), and leaves anything else as it
/// is.
fn percent_decode(s: &[u8]) -> Vec<u8> {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Perl's `$` without `/m`: the end of `s`, or just before a final
/// newline. Returns `s` without that newline.
fn strip_final_newline(s: &[u8]) -> &[u8] {
    s.strip_suffix(b"\n").unwrap_or(s)
}

/// The query of a TOTP URI as Perl's
/// `/^otpauth:\/\/totp\/.*?\?(.*)$/` captures it: `.` stops at a newline
/// and `$` matches only at the end or before a final newline, so the URI
/// must be one line, optionally ending in a newline, which is not part of
/// the query (a URI written with `echo`).
fn query(uri: &[u8]) -> Option<&[u8]> {
    let rest = strip_final_newline(uri.strip_prefix(b"otpauth://totp/")?);
    if rest.contains(&b'\n') {
        return None;
    }
    let q = rest.iter().position(|&b| b == b'?')?;
    Some(&rest[q + 1..])
}

/// A query item's name and value; the value may be the secret.
type QueryItem = (Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>);

/// One `&`-separated query item as Perl reads it: percent-decoded as a
/// whole (the name too), then `/^([^=]+)=(.*)$/`: a non-empty name up to
/// the first `=` and a value without a newline (a final one is dropped).
/// `None` for items Perl ignores.
fn query_item(part: &[u8]) -> Option<QueryItem> {
    let item = Zeroizing::new(percent_decode(part));
    let eq = item.iter().position(|&b| b == b'=')?;
    if eq == 0 {
        return None;
    }
    let value = strip_final_newline(&item[eq + 1..]);
    if value.contains(&b'\n') {
        return None;
    }
    Some((
        Zeroizing::new(item[..eq].to_vec()),
        Zeroizing::new(value.to_vec()),
    ))
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
    let query = query(uri).ok_or(TotpError::BadUri)?;
    let (mut algorithm, mut secret, mut digits, mut period, mut skew) =
        (None, None, None, None, None);
    for (k, v) in query.split(|&b| b == b'&').filter_map(query_item) {
        match k.as_slice() {
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

    /// A URI written with `echo` ends in a newline: Perl's `(.*)$` leaves
    /// it out of the query whichever parameter is last.
    #[test]
    fn final_newline_is_not_part_of_the_query() {
        let params = [
            "secret=JBSWY3DPEHPK3PXP",
            "algorithm=SHA1",
            "digits=6",
            "period=30",
        ];
        let want = code(
            b"otpauth://totp/obs:test?secret=JBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30",
            0x6553f100,
            0x6553f100,
        )
        .unwrap();
        for last in 0..params.len() {
            let mut p = params.to_vec();
            let l = p.remove(last);
            p.push(l);
            let uri = format!("otpauth://totp/obs:test?{}\n", p.join("&"));
            assert_eq!(
                code(uri.as_bytes(), 0x6553f100, 0x6553f100).as_deref(),
                Ok(want.as_str()),
                "{uri:?}"
            );
        }
        // Only one final newline; anything after a newline is no URI.
        let ok = "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30";
        for bad in [
            format!("{ok}\n\n"),
            format!("{ok}\nx"),
            ok.replace("x?", "x\n?"),
        ] {
            assert_eq!(
                code(bad.as_bytes(), 0, NOW),
                Err(TotpError::BadUri),
                "{bad:?}"
            );
        }
    }

    /// Perl decodes each item as a whole, then keeps `name=value` items
    /// only (value without a newline but a final one); the last wins.
    #[test]
    fn query_items_as_perl_reads_them() {
        let ok = "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30";
        let want = code(ok.as_bytes(), 0, NOW).unwrap();
        for uri in [
            format!("{ok}&digits"),
            format!("{ok}&period&=5&digits"),
            ok.replace("digits=6", "%64igits=6"),
            ok.replace("digits=6", "digits=6%0A"),
            format!("{ok}&digits=7%0Ax"),
            ok.replace("&", "&&"),
        ] {
            assert_eq!(code(uri.as_bytes(), 0, NOW).as_ref(), Ok(&want), "{uri}");
        }
        let nodigits = ok.replace("digits=6", "digits=6%0Ax");
        assert_eq!(
            code(nodigits.as_bytes(), 0, NOW),
            Err(TotpError::MissingParameter("digits"))
        );
        let empty = format!("{ok}&digits%3D");
        assert_eq!(code(empty.as_bytes(), 0, NOW), Err(TotpError::BadDigits));
        // `%+6` is no escape (two hex digits only).
        let plus = ok.replace("digits=6", "digits=%+6");
        assert_eq!(code(plus.as_bytes(), 0, NOW), Err(TotpError::BadDigits));
    }
}
