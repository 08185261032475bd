//! The `HEX@CCTTTTTTTT` hash argument of sign and privsign (spec §4.3).
//!
//! The accepted syntax is Perl signd's
//! `^([0-9a-fA-F]{2})+@0[01][0-9a-fA-F]{8}$`: a non-empty, even-length hex
//! digest `H`, an `@`, then the 5-byte trailer as 10 hex digits whose first
//! byte, the signature class, is `00` or `01`. Whether `H` has the size of
//! the hash algorithm is not checked here (the commands layer knows the
//! algorithm); neither are the extra classes of the `openssl` module.
//!
//! Perl's `$` would also accept a trailing `\n`; that never matters because
//! control characters are rejected when the request is decoded, and we do not
//! accept it.
use thiserror::Error;

/// A parsed hash argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashArg {
    /// The digest H, already the final OpenPGP hash.
    pub digest: Vec<u8>,
    /// Signature class, `0x00` or `0x01`.
    pub class: u8,
    /// Signature creation time from the trailer.
    pub time: u32,
}

/// `bad hash <arg>`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("bad hash {0}")]
pub struct BadHashArg(pub String);

impl HashArg {
    /// Parses `HEX@CCTTTTTTTT`; hex digits of either case are accepted.
    pub fn parse(arg: &str) -> Result<HashArg, BadHashArg> {
        Self::parse_parts(arg).ok_or_else(|| BadHashArg(arg.to_owned()))
    }

    fn parse_parts(arg: &str) -> Option<HashArg> {
        let (digest, trailer) = arg.split_once('@')?;
        let trailer = trailer.as_bytes();
        if digest.is_empty() || trailer.len() != 10 || trailer[0] != b'0' {
            return None;
        }
        let class = match trailer[1] {
            b'0' => 0,
            b'1' => 1,
            _ => return None,
        };
        // hex::decode rejects odd lengths and non-hex bytes (including a
        // second '@').
        let digest = hex::decode(digest).ok()?;
        let mut time = [0u8; 4];
        hex::decode_to_slice(&trailer[2..], &mut time).ok()?;
        Some(HashArg {
            digest,
            class,
            time: u32::from_be_bytes(time),
        })
    }

    /// True for the v4 probe digest: only repetitions of `04040404`, i.e. a
    /// non-empty multiple of 4 bytes, all `0x04` (Perl: `/^(?:04040404)+\@/`).
    /// The client sends it with the digest size of its hash (20, 32 or 64
    /// bytes) and gets a v4 instead of a v3 signature packet back.
    pub fn is_v4_probe(&self) -> bool {
        !self.digest.is_empty()
            && self.digest.len().is_multiple_of(4)
            && self.digest.iter().all(|&b| b == 4)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixtures;
    use super::super::{decode, Protocol};
    use super::*;

    fn bad(arg: &str) {
        assert_eq!(
            HashArg::parse(arg),
            Err(BadHashArg(arg.to_owned())),
            "{arg:?}"
        );
    }

    #[test]
    fn parses_digest_class_and_time() {
        let h = HashArg::parse("29436fe016e495d1326e8febb0295e8c7c745504@006b05a428").unwrap();
        assert_eq!(
            hex::encode(&h.digest),
            "29436fe016e495d1326e8febb0295e8c7c745504"
        );
        assert_eq!(h.class, 0);
        assert_eq!(h.time, 0x6b05a428);
        let h = HashArg::parse("AbCdEf@01FFFFFFFF").unwrap();
        assert_eq!(h.digest, [0xab, 0xcd, 0xef]);
        assert_eq!(h.class, 1);
        assert_eq!(h.time, u32::MAX);
        let h = HashArg::parse("00@0000000000").unwrap();
        assert_eq!(h.digest, [0]);
        assert_eq!(h.time, 0);
        // The digest length is not checked here.
        assert_eq!(HashArg::parse("aaaa@016553f100").unwrap().digest.len(), 2);
    }

    #[test]
    fn rejects_malformed_arguments() {
        bad(""); // nothing
        bad("@0000000000"); // empty digest
        bad("abc@0000000000"); // odd hex
        bad("a@0000000000"); // odd hex
        bad("zz@0000000000"); // not hex (raw-sign-bad-hash)
        bad("abcd0000000000"); // missing '@'
        bad("abcd@"); // missing trailer
        bad("abcd@000000000"); // 9-digit trailer
        bad("abcd@00000000000"); // 11-digit trailer
        bad("abcd@0200000000"); // class 02
        bad("abcd@1000000000"); // class 10
        bad("abcd@bc00000000"); // class bc (--pkcs1pss)
        bad("abcd@4300000000"); // class 43 (openssl module only)
        bad("abcd@00000000zz"); // non-hex time
        bad("ab@cd@0000000000"); // two '@'
        bad("abcd@0000000000@"); // trailing '@'
        bad("abcd@0000000000\n"); // Perl's `$` would allow this
        bad(" abcd@0000000000");
        bad("abcd @0000000000");
        bad("+bcd@0000000000");
        bad("ab\u{e9}d@0000000000"); // non-ASCII
        bad("abcd@00000000\u{e9}"); // non-ASCII trailer of 10 bytes
        assert_eq!(
            HashArg::parse("bad").unwrap_err().to_string(),
            "bad hash bad"
        );
    }

    #[test]
    fn v4_probe_rule() {
        let probe = |hex: &str| {
            HashArg::parse(&format!("{hex}@0000000000"))
                .unwrap()
                .is_v4_probe()
        };
        assert!(probe(&"04".repeat(20)));
        assert!(probe(&"04".repeat(32)));
        assert!(probe(&"04".repeat(64)));
        assert!(probe("04040404"));
        assert!(!probe("0404")); // not a whole 04040404
        assert!(!probe(&"04".repeat(22))); // 22 bytes: not a multiple of 4
        assert!(!probe(&format!("{}05", "04".repeat(31))));
        assert!(!probe(&format!("05{}", "04".repeat(31))));
        assert!(!probe(&"40".repeat(32)));
        assert!(!probe(&"00".repeat(32)));
    }

    /// The hash arguments of a sign/privsign request and whether the reply
    /// succeeded; `None` for other commands.
    fn hash_args(argv: &[String]) -> Option<&[String]> {
        match argv.first()?.as_str() {
            "sign" => argv.get(2..),
            "privsign" => argv.get(3..),
            _ => None,
        }
    }

    /// Every hash argument in the fixtures: parse result vs the recorded
    /// reply. Successful hashes match the returned packet's version (v4 iff
    /// probe), class and time; failing ones match the `bad hash` text.
    #[test]
    fn fixture_hash_arguments_match_the_replies() {
        let (mut parsed, mut probes, mut rejected) = (0, 0, 0);
        for case in test_fixtures::cases() {
            for conn in &case.connections {
                let Ok(Some((req, _))) = decode(&test_fixtures::read(&conn.request)) else {
                    continue;
                };
                let Some(hashes) = hash_args(&req.argv) else {
                    continue;
                };
                let reply = test_fixtures::read(&conn.reply);
                let outlen = usize::from(u16::from_be_bytes([reply[2], reply[3]]));
                let out = &reply[6..6 + outlen];
                let err = std::str::from_utf8(&reply[6 + outlen..]).unwrap();
                let packets: Vec<&[u8]> = match (req.protocol, out.is_empty()) {
                    (_, true) => Vec::new(),
                    (Protocol::Old, false) => vec![out],
                    (Protocol::New, false) => {
                        let n = usize::from(u16::from_be_bytes([out[0], out[1]]));
                        let mut data = &out[2 + 2 * n..];
                        (0..n)
                            .map(|i| {
                                let len = u16::from_be_bytes([out[2 + 2 * i], out[3 + 2 * i]]);
                                let (p, rest) = data.split_at(usize::from(len));
                                data = rest;
                                p
                            })
                            .collect()
                    }
                };
                for (i, arg) in hashes.iter().enumerate() {
                    match HashArg::parse(arg) {
                        Ok(h) => {
                            parsed += 1;
                            let Some(packet) = packets.get(i) else {
                                continue; // failed for another reason
                            };
                            // Old-format signature packet, tag 2.
                            let body = match packet[0] {
                                0x88 => &packet[2..],
                                0x89 => &packet[3..],
                                tag => panic!("{}: tag {tag:#x}", conn.reply),
                            };
                            if h.is_v4_probe() {
                                probes += 1;
                                assert_eq!(body[0], 4, "{}: {arg}", conn.reply);
                                assert_eq!(body[1], h.class, "{}", conn.reply);
                            } else {
                                assert_eq!(body[..3], [3, 5, h.class], "{}", conn.reply);
                                assert_eq!(body[3..7], h.time.to_be_bytes(), "{}", conn.reply);
                            }
                        }
                        Err(e) => {
                            rejected += 1;
                            assert_eq!(err, format!("{e}\n"), "{}", conn.reply);
                            assert!(packets.is_empty());
                        }
                    }
                }
            }
        }
        assert!(parsed > 70, "{parsed}");
        // fingerprint, fingerprint-sha256, the -4 probes, v4probe-sha512,
        // the third hash of raw-sign-three-hashes-sha256, privsign probes.
        assert!(probes >= 12, "{probes}");
        // pkcs1pss (class bc), bad-hash, bad-class, second-hash-bad.
        assert_eq!(rejected, 4);
    }

    #[test]
    fn fixture_probe_digest_lengths() {
        let digest_len = |name: &str| {
            let case = test_fixtures::case(name);
            let bytes = test_fixtures::read(&case.connections[0].request);
            let (req, _) = decode(&bytes).unwrap().unwrap();
            let h = HashArg::parse(req.argv.last().unwrap()).unwrap();
            assert!(h.is_v4_probe(), "{name}");
            h.digest.len()
        };
        assert_eq!(digest_len("fingerprint"), 20);
        assert_eq!(digest_len("fingerprint-sha256"), 32);
        assert_eq!(digest_len("raw-sign-v4probe-sha512"), 64);
    }
}
