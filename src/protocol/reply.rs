//! Reply framing (spec §3).
//!
//! ```text
//! u16 status | u16 outlen | u16 errlen | out[outlen] | err[errlen]
//! ```
//!
//! `out` is empty for an error or when there are no outputs; otherwise it is
//! `u16 n | u16 len[n] | data...` in the new protocol and the single output
//! itself in the old one. `err` is the error text plus `\n`, or empty.
use super::{EncodeError, Protocol, Request};

/// Largest value of a u16 length field.
const U16_MAX: usize = u16::MAX as usize;

/// The sign client's receive buffer for every request shape but ping,
/// keygen and bulk signing (`byte buf[8192]` in obs-sign's sign.c: sign,
/// privsign, pubkey, privtotp, `-x`, `-C`).
pub const CLIENT_BUFFER: usize = 8192;
/// The sign client's receive buffer for keygen (`byte buf[16384]; /* 8192
/// pubkey + 8192 privkey */` in sign.c's `keygen`).
pub const KEYGEN_CLIENT_BUFFER: usize = 16384;
/// The sign client's receive buffer for `--bulk-cpio` (`doalloc(65536)` in
/// sign.c's `bulk_cpio_sign`): one sign/privsign request with up to 100
/// hashes (`BULK_MAX_ARGC`).
pub const BULK_CLIENT_BUFFER: usize = 65536;
/// The sign client's receive buffer for `sign -t` (`byte buf[256]` in
/// sign.c's `ping`).
pub const PING_CLIENT_BUFFER: usize = 256;
/// The most hashes a sign/privsign request carries in any mode of the sign
/// client but `--bulk-cpio`: an rpm's header+payload and header-only hashes
/// (sign.c's `sign`: `hashhex` and `hashhexh`, read into 8192 bytes). A
/// request with more can only come from `--bulk-cpio`.
pub const MAX_HASHES_OUTSIDE_BULK: usize = 2;

/// A status-1 reply with no outputs and no error text, in either protocol:
/// what [`Reply::error`]`("")` encodes to. The fallback when an error line
/// cannot be encoded.
pub const BARE_ERROR_REPLY: [u8; 6] = [0, 1, 0, 0, 0, 0];

/// The receive buffer of the `sign` client that sent `request`, the `limit`
/// for [`Reply::encode`], by the request's shape (obs-sign's sign.c and
/// sock.c; spec §1 "Client buffer sizes"):
///
/// | shape | client buffer |
/// |---|---|
/// | old-protocol ping (`sign -t`) | [`PING_CLIENT_BUFFER`] |
/// | `keygen` | [`KEYGEN_CLIENT_BUFFER`] |
/// | `sign` with more than [`MAX_HASHES_OUTSIDE_BULK`] hashes | [`BULK_CLIENT_BUFFER`] |
/// | `privsign` with a blob and more than [`MAX_HASHES_OUTSIDE_BULK`] hashes | [`BULK_CLIENT_BUFFER`] |
/// | everything else (one or two hashes, pubkey, privtotp, old protocol) | [`CLIENT_BUFFER`] |
///
/// A `--bulk-cpio` request with one or two members looks like an rpm
/// request and keeps the smaller buffer; so does anything the client does
/// not send (unknown commands): the smallest buffer a client of that shape
/// may have.
pub fn reply_limit(request: &Request) -> usize {
    let hashes = request.args().len();
    match (request.protocol, request.command()) {
        (Protocol::Old, Some("ping")) => PING_CLIENT_BUFFER,
        (Protocol::Old, _) => CLIENT_BUFFER,
        (Protocol::New, Some("keygen")) => KEYGEN_CLIENT_BUFFER,
        (Protocol::New, Some("sign")) if hashes > MAX_HASHES_OUTSIDE_BULK => BULK_CLIENT_BUFFER,
        (Protocol::New, Some("privsign")) if hashes > MAX_HASHES_OUTSIDE_BULK + 1 => {
            BULK_CLIENT_BUFFER
        }
        (Protocol::New, _) => CLIENT_BUFFER,
    }
}

/// A reply: status 0 with outputs, or an error text (without trailing `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub outputs: Vec<Vec<u8>>,
    pub error: String,
}

impl Reply {
    pub fn ok(outputs: Vec<Vec<u8>>) -> Self {
        Reply {
            status: 0,
            outputs,
            error: String::new(),
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Reply {
            status: 1,
            outputs: Vec::new(),
            error: text.into(),
        }
    }

    /// Encodes for `protocol`; refuses replies of `limit` bytes or more.
    ///
    /// `limit` is the client's receive buffer for the request's shape
    /// ([`reply_limit`]): the client reports `packet too big` for a reply
    /// that fills it. With a non-zero status the outputs are
    /// discarded, as Perl does. A non-empty `error` is sent with a trailing
    /// `\n` appended.
    ///
    /// Errors: [`EncodeError::OutputTooLong`] for an output over 65535 bytes,
    /// [`EncodeError::OldProtocolOutputCount`] for more than one output in
    /// the old protocol, [`EncodeError::OutTooLong`] /
    /// [`EncodeError::ErrorTooLong`] when a u16 length field would overflow,
    /// and [`EncodeError::ReplyTooBig`] for a total of `limit` bytes or more.
    /// Sizes are checked before anything is allocated.
    pub fn encode(&self, protocol: Protocol, limit: usize) -> Result<Vec<u8>, EncodeError> {
        let outputs: &[Vec<u8>] = if self.status == 0 { &self.outputs } else { &[] };
        if let Some((index, output)) = outputs.iter().enumerate().find(|(_, o)| o.len() > U16_MAX) {
            return Err(EncodeError::OutputTooLong {
                index,
                len: output.len(),
            });
        }
        let out_len = match (protocol, outputs.len()) {
            (_, 0) => 0,
            (Protocol::Old, 1) => outputs[0].len(),
            (Protocol::Old, count) => return Err(EncodeError::OldProtocolOutputCount { count }),
            (Protocol::New, count) => outputs
                .iter()
                .map(Vec::len)
                .fold(2 + 2 * count, usize::saturating_add),
        };
        if out_len > U16_MAX {
            return Err(EncodeError::OutTooLong { len: out_len });
        }
        let err_len = match self.error.len() {
            0 => 0,
            n => n + 1,
        };
        if err_len > U16_MAX {
            return Err(EncodeError::ErrorTooLong { len: err_len });
        }
        let len = 6 + out_len + err_len;
        if len >= limit {
            return Err(EncodeError::ReplyTooBig { len, limit });
        }

        // All lengths below fit a u16: out_len bounds count and every output.
        let u16be = |n: usize| (n as u16).to_be_bytes();
        let mut buf = Vec::with_capacity(len);
        buf.extend_from_slice(&self.status.to_be_bytes());
        buf.extend_from_slice(&u16be(out_len));
        buf.extend_from_slice(&u16be(err_len));
        if protocol == Protocol::New && !outputs.is_empty() {
            buf.extend_from_slice(&u16be(outputs.len()));
            for output in outputs {
                buf.extend_from_slice(&u16be(output.len()));
            }
        }
        for output in outputs {
            buf.extend_from_slice(output);
        }
        if err_len > 0 {
            buf.extend_from_slice(self.error.as_bytes());
            buf.push(b'\n');
        }
        debug_assert_eq!(buf.len(), len);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode;
    use super::super::test_fixtures;
    use super::*;

    fn be16(b: &[u8], at: usize) -> usize {
        usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
    }

    /// Parses a recorded reply independently of `encode`.
    fn parse(bytes: &[u8], protocol: Protocol) -> Reply {
        let status = be16(bytes, 0) as u16;
        let outlen = be16(bytes, 2);
        let errlen = be16(bytes, 4);
        assert_eq!(bytes.len(), 6 + outlen + errlen, "reply size");
        let out = &bytes[6..6 + outlen];
        let err = &bytes[6 + outlen..];
        let error = match err {
            [] => String::new(),
            [text @ .., b'\n'] => String::from_utf8(text.to_vec()).unwrap(),
            _ => panic!("error text without newline"),
        };
        let outputs = if out.is_empty() {
            Vec::new()
        } else if protocol == Protocol::Old {
            vec![out.to_vec()]
        } else {
            let n = be16(out, 0);
            let mut data = &out[2 + 2 * n..];
            let mut outputs = Vec::new();
            for i in 0..n {
                let (o, rest) = data.split_at(be16(out, 2 + 2 * i));
                outputs.push(o.to_vec());
                data = rest;
            }
            assert!(data.is_empty(), "answer size mismatch");
            outputs
        };
        Reply {
            status,
            outputs,
            error,
        }
    }

    /// Golden bytes: every recorded reply, parsed and re-encoded for the
    /// protocol of its request, is reproduced exactly.
    #[test]
    fn every_fixture_reply_reencodes_exactly() {
        let mut pairs: Vec<(String, String, Option<serde_json::Value>)> = Vec::new();
        for case in test_fixtures::cases() {
            for conn in &case.connections {
                let decoded = conn.reply_decoded.clone();
                pairs.push((conn.request.clone(), conn.reply.clone(), Some(decoded)));
            }
            for up in test_fixtures::upstream_requests(&case.name) {
                let reply = up.replace(".request.bin", ".reply.bin");
                pairs.push((up, reply, None));
            }
        }
        assert_eq!(pairs.len(), 125);
        let (mut with_outputs, mut old_with_output) = (0, 0);
        for (req_path, reply_path, manifest) in pairs {
            let request = decode(&test_fixtures::read(&req_path)).ok().flatten();
            let bytes = test_fixtures::read(&reply_path);
            // Requests that do not decode only ever got error replies.
            let protocol = request.as_ref().map_or(Protocol::New, |r| r.0.protocol);
            let reply = parse(&bytes, protocol);
            if request.is_none() {
                assert_ne!(reply.status, 0, "{reply_path}");
            }
            if let Some(m) = &manifest {
                assert_eq!(u64::from(reply.status), m["status"].as_u64().unwrap());
                let err = match reply.error.as_str() {
                    "" => String::new(),
                    text => format!("{text}\n"),
                };
                assert_eq!(err, m["err"].as_str().unwrap(), "{reply_path}");
                if let Some(lens) = m["outputs"].as_array() {
                    let lens: Vec<usize> =
                        lens.iter().map(|l| l.as_u64().unwrap() as usize).collect();
                    let got: Vec<usize> = reply.outputs.iter().map(Vec::len).collect();
                    assert_eq!(got, lens, "{reply_path}");
                    with_outputs += 1;
                }
            }
            if protocol == Protocol::Old && !reply.outputs.is_empty() {
                old_with_output += 1;
            }
            let limit = request
                .as_ref()
                .map_or(CLIENT_BUFFER, |r| reply_limit(&r.0));
            let encoded = reply.encode(protocol, limit).unwrap();
            assert_eq!(encoded, bytes, "{reply_path}");
        }
        assert_eq!(with_outputs, 36);
        assert!(old_with_output > 30, "{old_with_output}");
    }

    #[test]
    fn ping_and_error_replies() {
        let ping = Reply::ok(Vec::new());
        assert_eq!(ping.encode(Protocol::Old, CLIENT_BUFFER).unwrap(), [0; 6]);
        assert_eq!(ping.encode(Protocol::New, CLIENT_BUFFER).unwrap(), [0; 6]);
        let err = Reply::error("unknown key: x");
        let want = b"\x00\x01\x00\x00\x00\x0funknown key: x\n";
        assert_eq!(err.encode(Protocol::New, CLIENT_BUFFER).unwrap(), want);
        assert_eq!(err.encode(Protocol::Old, CLIENT_BUFFER).unwrap(), want);
        // An error discards partial outputs, in either protocol; and a
        // failed old-protocol reply with several outputs is no error.
        let partial = Reply {
            status: 1,
            outputs: vec![b"sig1".to_vec(), b"sig2".to_vec()],
            error: "bad hash x".into(),
        };
        let bytes = partial.encode(Protocol::Old, CLIENT_BUFFER).unwrap();
        assert_eq!(bytes, b"\x00\x01\x00\x00\x00\x0bbad hash x\n");
        assert_eq!(partial.encode(Protocol::New, CLIENT_BUFFER).unwrap(), bytes);
        // An empty error text is sent without a newline.
        let bare = Reply::error("");
        for protocol in [Protocol::New, Protocol::Old] {
            assert_eq!(
                bare.encode(protocol, CLIENT_BUFFER).unwrap(),
                BARE_ERROR_REPLY
            );
        }
    }

    #[test]
    fn output_framing() {
        let two = Reply::ok(vec![b"ab".to_vec(), Vec::new(), b"c".to_vec()]);
        assert_eq!(
            two.encode(Protocol::New, CLIENT_BUFFER).unwrap(),
            [0, 0, 0, 11, 0, 0, 0, 3, 0, 2, 0, 0, 0, 1, b'a', b'b', b'c']
        );
        let one = Reply::ok(vec![b"xyz".to_vec()]);
        assert_eq!(
            one.encode(Protocol::Old, CLIENT_BUFFER).unwrap(),
            [0, 0, 0, 3, 0, 0, b'x', b'y', b'z']
        );
        assert_eq!(
            two.encode(Protocol::Old, CLIENT_BUFFER),
            Err(EncodeError::OldProtocolOutputCount { count: 3 })
        );
        // A single empty output is still one output.
        let empty = Reply::ok(vec![Vec::new()]);
        assert_eq!(
            empty.encode(Protocol::New, CLIENT_BUFFER).unwrap(),
            [0, 0, 0, 4, 0, 0, 0, 1, 0, 0]
        );
    }

    #[test]
    fn client_buffer_limit() {
        // New protocol, one output: 6 + 2 + 2 + len.
        let fits = Reply::ok(vec![vec![7; 8191 - 10]]);
        assert_eq!(
            fits.encode(Protocol::New, CLIENT_BUFFER).unwrap().len(),
            8191
        );
        let full = Reply::ok(vec![vec![7; 8192 - 10]]);
        assert_eq!(
            full.encode(Protocol::New, CLIENT_BUFFER),
            Err(EncodeError::ReplyTooBig {
                len: 8192,
                limit: CLIENT_BUFFER
            })
        );
        // Old protocol: 6 + len.
        let fits = Reply::ok(vec![vec![7; 8191 - 6]]);
        assert_eq!(
            fits.encode(Protocol::Old, CLIENT_BUFFER).unwrap().len(),
            8191
        );
        let full = Reply::ok(vec![vec![7; 8192 - 6]]);
        assert!(matches!(
            full.encode(Protocol::Old, CLIENT_BUFFER),
            Err(EncodeError::ReplyTooBig { len: 8192, .. })
        ));
        // Error texts count too: 6 + text + newline.
        let fits = Reply::error("e".repeat(8191 - 7));
        assert_eq!(
            fits.encode(Protocol::New, CLIENT_BUFFER).unwrap().len(),
            8191
        );
        let full = Reply::error("e".repeat(8192 - 7));
        assert!(full.encode(Protocol::New, CLIENT_BUFFER).is_err());
    }

    #[test]
    fn keygen_buffer_limit() {
        // Two outputs: 6 + 2 + 4 + len.
        let fits = Reply::ok(vec![vec![1; 16383 - 12 - 3000], vec![2; 3000]]);
        assert_eq!(
            fits.encode(Protocol::New, KEYGEN_CLIENT_BUFFER)
                .unwrap()
                .len(),
            16383
        );
        assert!(matches!(
            fits.encode(Protocol::New, CLIENT_BUFFER),
            Err(EncodeError::ReplyTooBig {
                len: 16383,
                limit: 8192
            })
        ));
        let full = Reply::ok(vec![vec![1; 16384 - 12 - 3000], vec![2; 3000]]);
        assert_eq!(
            full.encode(Protocol::New, KEYGEN_CLIENT_BUFFER),
            Err(EncodeError::ReplyTooBig {
                len: 16384,
                limit: KEYGEN_CLIENT_BUFFER
            })
        );
    }

    /// Every request shape the sign client (obs-sign 61b2eca) sends, with
    /// the receive buffer sign.c reads its reply into.
    #[test]
    fn reply_limit_follows_the_clients_buffer_per_shape() {
        let req = |protocol, argv: &[&str]| Request {
            protocol,
            argv: argv.iter().map(|a| a.to_string()).collect(),
        };
        let hashes = |n: usize| vec!["00112233@0000000000"; n];
        let sign = |n| [&["sign", "u"][..], &hashes(n)].concat();
        let privsign = |n| [&["privsign", "u", "B10B"][..], &hashes(n)].concat();
        let (old, new) = (Protocol::Old, Protocol::New);
        let cases: Vec<(&str, Request, usize)> = vec![
            // ping(): byte buf[256]; doreq_raw(buf, 4, sizeof(buf)).
            ("sign -t", req(old, &["ping", ""]), 256),
            // sign(), probe_pubalgo(): byte buf[8192]; doreq_old(...).
            (
                "sign -d (old protocol)",
                req(old, &["sign", "u", "00@00"]),
                8192,
            ),
            // getpubkey(): byte buf[8192]; doreq_old(user, "PUBKEY", ...).
            ("sign -p", req(old, &["pubkey", "u"]), 8192),
            // sign(): byte buf[8192]; doreq_12(argc, args, buf, ...).
            ("sign -P -d", req(new, &privsign(1)), 8192),
            ("sign -r (header-only)", req(new, &sign(2)), 8192),
            ("sign -P -r (header-only)", req(new, &privsign(2)), 8192),
            // keyextend(), createcert(): unsigned char rbuf[8192].
            ("sign -x / -C", req(new, &sign(1)), 8192),
            // do_totp(): byte buf[8192].
            (
                "sign -T",
                req(new, &["privtotp", "u", "B10B", "00000000"]),
                8192,
            ),
            // keygen(): byte buf[16384]; /* 8192 pubkey + 8192 privkey */
            (
                "sign -g",
                req(new, &["keygen", "u", "rsa@2048", "800", "n", "e"]),
                16384,
            ),
            // bulk_cpio_sign(): buf = doalloc(65536); up to BULK_MAX_ARGC
            // (100) hashes per request. One or two members look like an rpm
            // request and keep the smaller buffer.
            ("--bulk-cpio, 1 member", req(new, &sign(1)), 8192),
            ("--bulk-cpio, 2 members", req(new, &sign(2)), 8192),
            ("--bulk-cpio, 3 members", req(new, &sign(3)), 65536),
            ("--bulk-cpio, 100 members", req(new, &sign(100)), 65536),
            ("-P --bulk-cpio, 3 members", req(new, &privsign(3)), 65536),
            (
                "-P --bulk-cpio, 100 members",
                req(new, &privsign(100)),
                65536,
            ),
            // Shapes the client never sends: the smallest buffer.
            ("new-protocol ping", req(new, &["ping", ""]), 8192),
            ("KEYGEN", req(new, &["KEYGEN", "u"]), 8192),
            (
                "unknown command",
                req(new, &["frob", "u", "a", "b", "c"]),
                8192,
            ),
            ("pubkey keygen", req(new, &["pubkey", "keygen"]), 8192),
            ("no argv", req(new, &[]), 8192),
        ];
        for (shape, request, buffer) in cases {
            assert_eq!(reply_limit(&request), buffer, "{shape}");
        }
        assert_eq!(
            (
                PING_CLIENT_BUFFER,
                CLIENT_BUFFER,
                KEYGEN_CLIENT_BUFFER,
                BULK_CLIENT_BUFFER
            ),
            (256, 8192, 16384, 65536)
        );
    }

    /// 100 RSA-4096 signature packets (about 540 bytes each) fit the bulk
    /// buffer; the client refuses a reply that fills it.
    #[test]
    fn bulk_buffer_limit() {
        let sigs = Reply::ok(vec![vec![0x88; 560]; 100]);
        let len = sigs
            .encode(Protocol::New, BULK_CLIENT_BUFFER)
            .unwrap()
            .len();
        assert_eq!(len, 6 + 2 + 200 + 56000);
        assert!(matches!(
            sigs.encode(Protocol::New, CLIENT_BUFFER),
            Err(EncodeError::ReplyTooBig { .. })
        ));
        // The u16 outlen caps a new-protocol reply at 6 + 65535 bytes, so
        // only the client's check (`l == bufl`: packet too big) is left.
        let full = Reply::ok(vec![vec![7; 65536 - 10]]);
        assert!(full.encode(Protocol::New, BULK_CLIENT_BUFFER).is_err());
        let fits = Reply::ok(vec![vec![7; 65535 - 10]]);
        assert_eq!(
            fits.encode(Protocol::New, BULK_CLIENT_BUFFER)
                .unwrap()
                .len(),
            65535
        );
    }

    #[test]
    fn u16_length_fields() {
        let big = usize::MAX;
        // One output over 65535 bytes, whatever the limit.
        let reply = Reply::ok(vec![vec![0; 10], vec![0; 65536]]);
        assert_eq!(
            reply.encode(Protocol::New, big),
            Err(EncodeError::OutputTooLong {
                index: 1,
                len: 65536
            })
        );
        let reply = Reply::ok(vec![vec![0; 65536]]);
        assert!(matches!(
            reply.encode(Protocol::Old, big),
            Err(EncodeError::OutputTooLong { index: 0, .. })
        ));
        // Old protocol: a 65535-byte output is the largest outlen.
        let reply = Reply::ok(vec![vec![0; 65535]]);
        assert_eq!(reply.encode(Protocol::Old, big).unwrap().len(), 6 + 65535);
        // New protocol: each output fits but the out section does not.
        let reply = Reply::ok(vec![vec![0; 65535]]);
        assert_eq!(
            reply.encode(Protocol::New, big),
            Err(EncodeError::OutTooLong { len: 65539 })
        );
        let reply = Reply::ok(vec![vec![0; 65531]]);
        assert_eq!(reply.encode(Protocol::New, big).unwrap().len(), 6 + 65535);
        // Error text: text + newline must fit.
        let reply = Reply::error("e".repeat(65534));
        assert_eq!(reply.encode(Protocol::New, big).unwrap().len(), 6 + 65535);
        let reply = Reply::error("e".repeat(65535));
        assert_eq!(
            reply.encode(Protocol::New, big),
            Err(EncodeError::ErrorTooLong { len: 65536 })
        );
        // Many tiny outputs overflow the count/length table first.
        let reply = Reply::ok(vec![Vec::new(); 40000]);
        assert!(matches!(
            reply.encode(Protocol::New, big),
            Err(EncodeError::OutTooLong { .. })
        ));
    }
}
