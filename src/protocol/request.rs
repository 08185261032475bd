//! Request framing (spec §2): old protocol, new protocol, old ping.
//!
//! Every request starts with two big-endian `u16` values `A` and `B`:
//!
//! | A  | B  | frame |
//! |----|----|-------|
//! | 0  | 0  | old-protocol ping, exactly 4 bytes |
//! | ≠0 | 0  | new protocol: `A` body bytes `u16 argc, u16 len[argc], args` |
//! | any| ≠0 | old protocol: `A` user bytes, then `B` argument bytes |
//!
//! [`decode`] is incremental: it can be called on a growing buffer and says
//! `Ok(None)` until the whole declared frame is there. It never reads past
//! the declared size, so it never allocates more than the frame itself.
use super::{DecodeError, EncodeError};

/// The largest request signd accepts: 4 + 65535 + 65535 bytes.
pub const MAX_REQUEST: usize = 4 + 65535 + 65535;

/// Which framing a request arrived in. The reply must use the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Old,
    New,
}

/// A decoded request, normalised to the new protocol's argv:
/// `argv[0]` is the command and `argv[1]` the user field.
///
/// Old-protocol requests are rewritten as Perl signd does (spec §2.2):
/// `00000000` becomes `["ping", ""]`, `user`+`H:arg` becomes
/// `["sign", "H:user", "arg"]` and `PUBKEY` becomes `["pubkey", user]`.
///
/// A new-protocol request may carry any number of arguments, including none
/// (`argv` empty) or only a command; the commands layer decides what that
/// means. Every element is valid UTF-8 free of control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub protocol: Protocol,
    pub argv: Vec<String>,
}

impl Request {
    /// The command, `argv[0]`, if present.
    pub fn command(&self) -> Option<&str> {
        self.argv.first().map(String::as_str)
    }

    /// The user field, `argv[1]`, if present.
    pub fn user(&self) -> Option<&str> {
        self.argv.get(1).map(String::as_str)
    }

    /// The command arguments after the user field (possibly empty).
    pub fn args(&self) -> &[String] {
        self.argv.get(2..).unwrap_or(&[])
    }
}

/// The framing of one request before argument checks and normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RawFrame<'a> {
    /// `00 00 00 00`.
    OldPing,
    /// `u16 userlen | u16 arglen | user | arg` with `arglen != 0`.
    Old { user: &'a [u8], arg: &'a [u8] },
    /// New protocol argv, exactly as sent.
    New(Vec<&'a [u8]>),
}

/// The two header values `A` and `B`, once 4 bytes are there.
fn header(buf: &[u8]) -> Option<(usize, usize)> {
    let h = buf.get(..4)?;
    let a = usize::from(u16::from_be_bytes([h[0], h[1]]));
    let b = usize::from(u16::from_be_bytes([h[2], h[3]]));
    Some((a, b))
}

/// The size in bytes of the frame at the start of `buf` as its 4-byte header
/// declares it, header included: `4 + A + B`, at most [`MAX_REQUEST`].
/// `None` while fewer than 4 bytes are there.
///
/// A server checks this against its own request limit before it reads the
/// body; [`decode`] frames with it.
pub fn declared_len(buf: &[u8]) -> Option<usize> {
    header(buf).map(|(a, b)| 4 + a + b)
}

/// Splits one frame off the start of `buf` without checking the contents of
/// the arguments. `Ok(None)`: more bytes needed.
fn split_frame(buf: &[u8]) -> Result<Option<(RawFrame<'_>, usize)>, DecodeError> {
    let (Some((a, b)), Some(used)) = (header(buf), declared_len(buf)) else {
        return Ok(None);
    };
    let Some(frame) = buf.get(..used) else {
        return Ok(None);
    };
    let raw = match (a, b) {
        (0, 0) => RawFrame::OldPing,
        (_, 0) => RawFrame::New(split_new_body(&frame[4..])?),
        (_, _) => RawFrame::Old {
            user: &frame[4..4 + a],
            arg: &frame[4 + a..],
        },
    };
    Ok(Some((raw, used)))
}

/// Splits a complete new-protocol body `u16 argc | u16 len[argc] | args`.
///
/// Perl only checks `bodylen >= 2 + 2*argc` and silently truncates or ignores
/// surplus bytes; we insist that the lengths fill the body exactly.
fn split_new_body(body: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    let (count, rest) = body.split_at_checked(2).ok_or(DecodeError::SizeMismatch)?;
    let argc = usize::from(u16::from_be_bytes([count[0], count[1]]));
    let (lens, mut data) = rest
        .split_at_checked(2 * argc)
        .ok_or(DecodeError::SizeMismatch)?;
    // argc <= (bodylen - 2) / 2 here, so this allocation is bounded by the
    // declared (and already received) body size.
    let mut argv = Vec::with_capacity(argc);
    for len in lens.chunks_exact(2) {
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let (arg, rest) = data
            .split_at_checked(len)
            .ok_or(DecodeError::SizeMismatch)?;
        argv.push(arg);
        data = rest;
    }
    if !data.is_empty() {
        return Err(DecodeError::SizeMismatch);
    }
    Ok(argv)
}

/// Spec §2.4: no byte 0x00-0x1f or 0x7f, and valid UTF-8.
fn check_arg(arg: &[u8]) -> Result<&str, DecodeError> {
    if arg.iter().any(|&c| c < 0x20 || c == 0x7f) {
        return Err(DecodeError::MalformedArgument);
    }
    std::str::from_utf8(arg).map_err(|_| DecodeError::MalformedArgument)
}

/// Decodes one request from the start of `buf`.
///
/// `Ok(None)` means more bytes are needed (this includes fewer than 4 bytes:
/// unlike Perl we do not judge the header on the first read alone).
/// `Ok(Some((req, used)))` gives the request and the number of bytes it
/// occupied, always `4 + A + B`; bytes after `used` are the caller's business
/// (the server reports `packet size mismatch`).
///
/// Errors: [`DecodeError::SizeMismatch`] for a new-protocol body whose
/// argument count and lengths do not fill it exactly, and
/// [`DecodeError::MalformedArgument`] for an argument with a control
/// character, DEL or invalid UTF-8 (checked on the raw user and argument of
/// old-protocol requests as well).
pub fn decode(buf: &[u8]) -> Result<Option<(Request, usize)>, DecodeError> {
    let Some((raw, used)) = split_frame(buf)? else {
        return Ok(None);
    };
    let request = match raw {
        RawFrame::OldPing => Request {
            protocol: Protocol::Old,
            argv: vec!["ping".to_owned(), String::new()],
        },
        RawFrame::New(args) => Request {
            protocol: Protocol::New,
            argv: args
                .into_iter()
                .map(|a| check_arg(a).map(str::to_owned))
                .collect::<Result<_, _>>()?,
        },
        RawFrame::Old { user, arg } => {
            let user = check_arg(user)?;
            let arg = check_arg(arg)?;
            // The old protocol carries the hash prefix on the argument:
            // everything before the first ':' moves onto the user.
            let (user, arg) = match arg.split_once(':') {
                Some((prefix, rest)) => (format!("{prefix}:{user}"), rest),
                None => (user.to_owned(), arg),
            };
            let argv = if arg == "PUBKEY" {
                vec!["pubkey".to_owned(), user]
            } else {
                vec!["sign".to_owned(), user, arg.to_owned()]
            };
            Request {
                protocol: Protocol::Old,
                argv,
            }
        }
    };
    Ok(Some((request, used)))
}

/// The error for a peer that closed after sending `buffered` bytes of an
/// incomplete request.
pub fn eof_error(buffered: usize) -> DecodeError {
    match buffered {
        0 => DecodeError::ZeroSize,
        1..=3 => DecodeError::TooSmall,
        _ => DecodeError::ReadError,
    }
}

/// Frames `argv` as a new-protocol request, as a proxying signd forwards
/// every request that is not an old-protocol sign or pubkey.
///
/// Fails with [`EncodeError::RequestTooBig`] if the body exceeds 65535 bytes.
pub fn encode_new_request<S: AsRef<[u8]>>(argv: &[S]) -> Result<Vec<u8>, EncodeError> {
    let body_len = argv
        .iter()
        .map(|a| 2 + a.as_ref().len())
        .fold(2usize, usize::saturating_add);
    let body_len16 =
        u16::try_from(body_len).map_err(|_| EncodeError::RequestTooBig { len: 4 + body_len })?;
    // body_len < 65536 also bounds argc and every single length.
    let mut out = Vec::with_capacity(4 + body_len);
    out.extend_from_slice(&body_len16.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(argv.len() as u16).to_be_bytes());
    for a in argv {
        out.extend_from_slice(&(a.as_ref().len() as u16).to_be_bytes());
    }
    for a in argv {
        out.extend_from_slice(a.as_ref());
    }
    Ok(out)
}

/// Frames an old-protocol `user`/`arg` request (`arg` still carrying its
/// `HASH:` prefix, if any), as a proxying signd forwards old-protocol sign
/// and pubkey requests.
///
/// Fails with [`EncodeError::RequestTooBig`] if either part exceeds 65535
/// bytes, or if `arg` is empty (that header would mean "new protocol").
pub fn encode_old_request(user: &[u8], arg: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let too_big = || EncodeError::RequestTooBig {
        len: 4 + user.len() + arg.len(),
    };
    let user_len = u16::try_from(user.len()).map_err(|_| too_big())?;
    let arg_len = u16::try_from(arg.len()).map_err(|_| too_big())?;
    if arg_len == 0 {
        return Err(EncodeError::EmptyOldArgument);
    }
    let mut out = Vec::with_capacity(4 + user.len() + arg.len());
    out.extend_from_slice(&user_len.to_be_bytes());
    out.extend_from_slice(&arg_len.to_be_bytes());
    out.extend_from_slice(user);
    out.extend_from_slice(arg);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_fixtures::{self, Connection};
    use super::*;

    fn ok(buf: &[u8]) -> (Request, usize) {
        decode(buf)
            .expect("decode error")
            .expect("incomplete request")
    }

    fn argv(req: &Request) -> Vec<&str> {
        req.argv.iter().map(String::as_str).collect()
    }

    fn new_frame(args: &[&[u8]]) -> Vec<u8> {
        encode_new_request(args).unwrap()
    }

    /// What the manifest says the request is, as (protocol, argv).
    fn expected(conn: &Connection) -> Option<(Protocol, Vec<String>)> {
        let d = &conn.request_decoded;
        match d["protocol"].as_str()? {
            "new" => {
                let argv: Vec<String> = d["argv"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect();
                assert_eq!(d["argc"].as_u64().unwrap() as usize, argv.len());
                Some((Protocol::New, argv))
            }
            "old" => {
                let command = d["command"].as_str().unwrap();
                if command == "ping" {
                    return Some((Protocol::Old, vec!["ping".into(), String::new()]));
                }
                let user = d["user"].as_str().unwrap();
                let arg = d["arg"].as_str().unwrap();
                // Spec §2.2 normalisation, written independently of decode().
                let (user, arg) = match arg.find(':') {
                    Some(i) => (format!("{}:{user}", &arg[..i]), &arg[i + 1..]),
                    None => (user.to_owned(), arg),
                };
                let argv = match command {
                    "pubkey" => {
                        assert_eq!(arg, "PUBKEY");
                        vec!["pubkey".into(), user]
                    }
                    "sign" => vec!["sign".into(), user, arg.to_owned()],
                    other => panic!("unexpected old command {other}"),
                };
                Some((Protocol::Old, argv))
            }
            other => panic!("unexpected protocol {other}"),
        }
    }

    /// The manifest abbreviates long arguments (privsign blobs, SHA-512
    /// hash arguments) as `<first 40>...(<total> chars)...<last 24>`.
    fn manifest_arg_matches(got: &str, want: &str) -> bool {
        let abbreviated = want.split_once("...(").and_then(|(head, rest)| {
            let (total, tail) = rest.split_once(" chars)...")?;
            Some((head, total.parse::<usize>().ok()?, tail))
        });
        match abbreviated {
            Some((head, total, tail)) => {
                got.len() == total && got.starts_with(head) && got.ends_with(tail)
            }
            None => got == want,
        }
    }

    #[test]
    fn manifest_abbreviations() {
        assert!(manifest_arg_matches("abc", "abc"));
        assert!(!manifest_arg_matches("abcd", "abc"));
        assert!(manifest_arg_matches("ab0123cd", "ab...(8 chars)...cd"));
        assert!(!manifest_arg_matches("ab01234cd", "ab...(8 chars)...cd"));
        assert!(!manifest_arg_matches("ab0123ce", "ab...(8 chars)...cd"));
    }

    /// Cases whose request is deliberately not decodable to argv.
    fn expected_error(name: &str) -> Option<DecodeError> {
        match name {
            "raw-control-char-arg"
            | "raw-del-char-arg"
            | "raw-invalid-utf8-arg"
            | "keygen-bad-realname" => Some(DecodeError::MalformedArgument),
            _ => None,
        }
    }

    #[test]
    fn every_fixture_request_decodes_as_the_manifest_says() {
        let cases = test_fixtures::cases();
        let mut checked = 0;
        let mut errors = 0;
        for case in &cases {
            for conn in &case.connections {
                let bytes = test_fixtures::read(&conn.request);
                if let Some(err) = expected_error(&case.name) {
                    assert_eq!(decode(&bytes), Err(err), "{}", conn.request);
                    errors += 1;
                    continue;
                }
                let Some((protocol, argv)) = expected(conn) else {
                    continue; // raw shapes, tested one by one below
                };
                let (req, used) = ok(&bytes);
                assert_eq!(used, bytes.len(), "{}: used", conn.request);
                assert_eq!(req.protocol, protocol, "{}: protocol", conn.request);
                assert_eq!(req.argv.len(), argv.len(), "{}: argc", conn.request);
                for (got, want) in req.argv.iter().zip(&argv) {
                    assert!(
                        manifest_arg_matches(got, want),
                        "{}: {got:?} is not {want:?}",
                        conn.request
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(errors, 4);
        // 119 connections minus 3 raw shapes and 4 malformed arguments.
        assert_eq!(checked, 112);
    }

    #[test]
    fn upstream_requests_decode_like_the_client_request() {
        let mut seen = 0;
        for case in test_fixtures::cases() {
            for path in test_fixtures::upstream_requests(&case.name) {
                let upstream = test_fixtures::read(&path);
                let client = test_fixtures::read(&case.connections[0].request);
                let (up, used) = ok(&upstream);
                assert_eq!(used, upstream.len(), "{path}");
                let (down, _) = ok(&client);
                assert_eq!(up.argv, down.argv, "{path}");
                if case.name == "signproxy-ping" {
                    // The proxy forwards the old ping as new ["ping", ""].
                    assert_eq!(up.protocol, Protocol::New);
                    assert_eq!(upstream, encode_new_request(&["ping", ""]).unwrap());
                } else {
                    // Everything else is forwarded verbatim.
                    assert_eq!(up.protocol, down.protocol, "{path}");
                    assert_eq!(upstream, client, "{path}");
                }
                seen += 1;
            }
        }
        assert_eq!(seen, 6);
    }

    #[test]
    fn fixture_requests_reencode_to_the_same_bytes() {
        let mut seen = 0;
        for case in test_fixtures::cases() {
            for conn in &case.connections {
                let d = &conn.request_decoded;
                let bytes = test_fixtures::read(&conn.request);
                let encoded = match (d["protocol"].as_str(), d["command"].as_str()) {
                    (Some("new"), _) if expected_error(&case.name).is_none() => {
                        let (req, _) = ok(&bytes);
                        encode_new_request(&req.argv).unwrap()
                    }
                    (Some("old"), Some("ping")) => continue,
                    (Some("old"), _) => encode_old_request(
                        d["user"].as_str().unwrap().as_bytes(),
                        d["arg"].as_str().unwrap().as_bytes(),
                    )
                    .unwrap(),
                    _ => continue,
                };
                assert_eq!(encoded, bytes, "{}", conn.request);
                seen += 1;
            }
        }
        assert!(seen > 100, "only {seen} requests re-encoded");
    }

    #[test]
    fn byte_by_byte_equals_all_at_once() {
        let mut paths: Vec<String> = Vec::new();
        for case in test_fixtures::cases() {
            paths.extend(case.connections.iter().map(|c| c.request.clone()));
            paths.extend(test_fixtures::upstream_requests(&case.name));
        }
        assert_eq!(paths.len(), 125);
        for path in paths {
            let bytes = test_fixtures::read(&path);
            let whole = decode(&bytes);
            if bytes.is_empty() {
                assert_eq!(whole, Ok(None));
                continue;
            }
            // Where the whole buffer decodes, the frame may end before the
            // buffer does (raw-size-mismatch-extra); everything before the
            // end of the frame is "need more".
            let end = match &whole {
                Ok(Some((_, used))) => *used,
                _ => bytes.len(),
            };
            for n in 0..end {
                assert_eq!(decode(&bytes[..n]), Ok(None), "{path} at {n}");
            }
            assert_eq!(decode(&bytes[..end]), whole, "{path}");
        }
    }

    #[test]
    fn raw_zero_size() {
        let bytes = test_fixtures::read("cases/raw-zero-size/1.request.bin");
        assert!(bytes.is_empty());
        assert_eq!(decode(&bytes), Ok(None));
        assert_eq!(eof_error(bytes.len()), DecodeError::ZeroSize);
        assert_eq!(eof_error(0).to_string(), "zero size packet");
        assert_reply_text("raw-zero-size", eof_error(0));
    }

    #[test]
    fn raw_too_small() {
        let bytes = test_fixtures::read("cases/raw-too-small/1.request.bin");
        assert_eq!(bytes.len(), 2);
        assert_eq!(decode(&bytes), Ok(None));
        assert_eq!(eof_error(bytes.len()), DecodeError::TooSmall);
        assert_reply_text("raw-too-small", eof_error(bytes.len()));
    }

    #[test]
    fn raw_size_mismatch_extra_leaves_the_surplus_to_the_caller() {
        let bytes = test_fixtures::read("cases/raw-size-mismatch-extra/1.request.bin");
        assert_eq!(bytes, [0, 0, 0, 0, 0, 0]);
        let (req, used) = ok(&bytes);
        assert_eq!(used, 4);
        assert!(used < bytes.len());
        assert_eq!(req.protocol, Protocol::Old);
        assert_eq!(argv(&req), ["ping", ""]);
        assert_reply_text("raw-size-mismatch-extra", DecodeError::SizeMismatch);
    }

    #[test]
    fn raw_split_request_decodes_unlike_perl() {
        let bytes = test_fixtures::read("cases/raw-split-request/1.request.bin");
        for n in 0..bytes.len() {
            assert_eq!(decode(&bytes[..n]), Ok(None));
        }
        let (req, used) = ok(&bytes);
        assert_eq!(used, bytes.len());
        assert_eq!(
            argv(&req),
            [
                "sign",
                "defaultkey@localobs",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@006553f100"
            ]
        );
    }

    #[test]
    fn raw_malformed_arguments() {
        for name in [
            "raw-control-char-arg",
            "raw-del-char-arg",
            "raw-invalid-utf8-arg",
            "keygen-bad-realname",
        ] {
            let bytes = test_fixtures::read(&format!("cases/{name}/1.request.bin"));
            // The framing itself is fine and gives the manifest's argv ...
            let (raw, used) = split_frame(&bytes).unwrap().unwrap();
            assert_eq!(used, bytes.len());
            let RawFrame::New(raw) = raw else {
                panic!("{name}: not a new-protocol frame");
            };
            let case = test_fixtures::case(name);
            let want: Vec<Vec<u8>> = case.connections[0].request_decoded["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| unescape_hex(v.as_str().unwrap()))
                .collect();
            assert_eq!(raw, want, "{name}");
            // ... but an argument is not.
            assert_eq!(
                decode(&bytes),
                Err(DecodeError::MalformedArgument),
                "{name}"
            );
            assert_reply_text(name, DecodeError::MalformedArgument);
        }
    }

    #[test]
    fn raw_new_empty_argv() {
        let bytes = test_fixtures::read("cases/raw-new-empty-argv/1.request.bin");
        let (req, used) = ok(&bytes);
        assert_eq!(used, 6);
        assert_eq!(req.protocol, Protocol::New);
        assert!(req.argv.is_empty());
        assert_eq!(req.command(), None);
        assert_eq!(req.user(), None);
        assert!(req.args().is_empty());
    }

    /// The manifest writes undecodable bytes as a literal `\\xHH`.
    fn unescape_hex(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = s.as_bytes();
        while !rest.is_empty() {
            if rest.len() >= 4 && rest.starts_with(b"\\x") {
                if let Ok(b) = u8::from_str_radix(std::str::from_utf8(&rest[2..4]).unwrap(), 16) {
                    out.push(b);
                    rest = &rest[4..];
                    continue;
                }
            }
            out.push(rest[0]);
            rest = &rest[1..];
        }
        out
    }

    /// The fixture's reply carries the error text our error displays.
    fn assert_reply_text(name: &str, err: DecodeError) {
        let reply = test_fixtures::read(&format!("cases/{name}/1.reply.bin"));
        let text = format!("{err}\n");
        assert_eq!(&reply[6..], text.as_bytes(), "{name}");
    }

    #[test]
    fn eof_error_thresholds() {
        assert_eq!(eof_error(0), DecodeError::ZeroSize);
        assert_eq!(eof_error(1), DecodeError::TooSmall);
        assert_eq!(eof_error(3), DecodeError::TooSmall);
        assert_eq!(eof_error(4), DecodeError::ReadError);
        assert_eq!(eof_error(MAX_REQUEST), DecodeError::ReadError);
        assert_eq!(eof_error(4).to_string(), "packet read error");
        assert_eq!(eof_error(2).to_string(), "packet too small");
    }

    #[test]
    fn old_protocol_normalisation() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("u", "abcd@0000000000", &["sign", "u", "abcd@0000000000"]),
            ("u", "SHA256:ab@00", &["sign", "SHA256:u", "ab@00"]),
            ("", "SHA512:x", &["sign", "SHA512:", "x"]),
            // Only the first colon splits.
            ("u", "a:b:c", &["sign", "a:u", "b:c"]),
            // An empty prefix still moves.
            ("u", ":x", &["sign", ":u", "x"]),
            // A user with a colon is left alone.
            ("a:b", "x", &["sign", "a:b", "x"]),
            ("u", "PUBKEY", &["pubkey", "u"]),
            ("u", "SHA256:PUBKEY", &["pubkey", "SHA256:u"]),
            ("", "PUBKEY", &["pubkey", ""]),
            // Case-sensitive, like Perl's `eq`.
            ("u", "pubkey", &["sign", "u", "pubkey"]),
            ("u", "PUBKEY:", &["sign", "PUBKEY:u", ""]),
            ("u", "x:PUBKEY:", &["sign", "x:u", "PUBKEY:"]),
            ("ü", "é:ß", &["sign", "é:ü", "ß"]),
        ];
        for &(user, arg, want) in cases {
            let bytes = encode_old_request(user.as_bytes(), arg.as_bytes()).unwrap();
            let (req, used) = ok(&bytes);
            assert_eq!(used, bytes.len());
            assert_eq!(req.protocol, Protocol::Old);
            assert_eq!(argv(&req), want, "{user:?} {arg:?}");
        }
    }

    #[test]
    fn old_protocol_checks_raw_user_and_arg() {
        for (user, arg) in [
            (&b"u\x00"[..], &b"x"[..]),
            (b"u", b"SHA256:\x1fx"),
            (b"u", b"x\x7f"),
            (b"\xff", b"x"),
            (b"u", b"SHA256:\xc3"),
            // Split UTF-8 sequence across user/arg stays invalid.
            (b"u\xc3", b"\xa9"),
            (b"u", b"\n"),
        ] {
            let bytes = encode_old_request(user, arg).unwrap();
            assert_eq!(
                decode(&bytes),
                Err(DecodeError::MalformedArgument),
                "{user:?} {arg:?}"
            );
        }
    }

    #[test]
    fn old_ping_is_exactly_four_bytes() {
        let (req, used) = ok(&[0, 0, 0, 0]);
        assert_eq!(used, 4);
        assert_eq!(req.protocol, Protocol::Old);
        assert_eq!(argv(&req), ["ping", ""]);
        let (_, used) = ok(&[0, 0, 0, 0, 0xff, 0xff, 0xff]);
        assert_eq!(used, 4);
    }

    #[test]
    fn header_split_across_reads() {
        let bytes = new_frame(&[b"ping", b""]);
        for n in 0..4 {
            assert_eq!(decode(&bytes[..n]), Ok(None));
        }
        assert_eq!(ok(&bytes).1, bytes.len());
    }

    #[test]
    fn declared_len_is_the_header_sum_before_the_body_arrives() {
        assert_eq!(declared_len(&[]), None);
        assert_eq!(declared_len(&[0xff, 0xff, 0xff]), None);
        assert_eq!(declared_len(&[0, 0, 0, 0]), Some(4));
        assert_eq!(
            declared_len(&[0x01, 0x02, 0x00, 0x03, 9]),
            Some(4 + 258 + 3)
        );
        assert_eq!(declared_len(&[0xff, 0xff, 0xff, 0xff]), Some(MAX_REQUEST));
        let bytes = new_frame(&[b"ping", b""]);
        assert_eq!(declared_len(&bytes), Some(ok(&bytes).1));
    }

    #[test]
    fn new_protocol_size_checks() {
        // bodylen 1: not even room for argc.
        assert_eq!(decode(&[0, 1, 0, 0, 0]), Err(DecodeError::SizeMismatch));
        // argc 2 but room for one length only.
        assert_eq!(
            decode(&[0, 4, 0, 0, 0, 2, 0, 0]),
            Err(DecodeError::SizeMismatch)
        );
        // argc 1, len 3, but only 2 bytes of data (Perl truncates).
        assert_eq!(
            decode(&[0, 6, 0, 0, 0, 1, 0, 3, b'a', b'b']),
            Err(DecodeError::SizeMismatch)
        );
        // argc 1, len 1, but 2 bytes of data (Perl ignores the surplus).
        assert_eq!(
            decode(&[0, 6, 0, 0, 0, 1, 0, 1, b'a', b'b']),
            Err(DecodeError::SizeMismatch)
        );
        // argc 0 with surplus body.
        assert_eq!(
            decode(&[0, 3, 0, 0, 0, 0, b'x']),
            Err(DecodeError::SizeMismatch)
        );
        // Exact fit.
        let (req, used) = ok(&[0, 6, 0, 0, 0, 1, 0, 2, b'a', b'b', 0xff]);
        assert_eq!(used, 10);
        assert_eq!(req.protocol, Protocol::New);
        assert_eq!(argv(&req), ["ab"]);
        // Incomplete body is not an error yet, even if it will be one.
        assert_eq!(decode(&[0, 6, 0, 0, 0, 9]), Ok(None));
    }

    #[test]
    fn new_protocol_argument_checks() {
        for bad in [
            &b"\x00"[..],
            b"\x1f",
            b"\x7f",
            b"a\tb",
            b"\xff",
            b"\xc3",
            b"\xed\xa0\x80",
        ] {
            let bytes = new_frame(&[b"sign", b"u", bad]);
            assert_eq!(
                decode(&bytes),
                Err(DecodeError::MalformedArgument),
                "{bad:?}"
            );
            let bytes = new_frame(&[bad, b"u"]);
            assert_eq!(
                decode(&bytes),
                Err(DecodeError::MalformedArgument),
                "{bad:?}"
            );
        }
        // Printable ASCII, space, and multi-byte UTF-8 are fine; 0x80-0x9f
        // control characters as code points (U+0080..) are not bytes < 0x20.
        let bytes = new_frame(&[b"keygen", b"u", b" ~", "Jörg \u{85}".as_bytes()]);
        assert_eq!(argv(&ok(&bytes).0), ["keygen", "u", " ~", "Jörg \u{85}"]);
    }

    #[test]
    fn largest_requests() {
        // Largest new-protocol body: one argument filling 65535 bytes.
        let arg = vec![b'a'; 65535 - 4];
        let bytes = new_frame(&[&arg]);
        assert_eq!(bytes.len(), 4 + 65535);
        let (req, used) = ok(&bytes);
        assert_eq!(used, bytes.len());
        assert_eq!(req.argv[0].len(), 65531);
        assert!(encode_new_request(&[vec![b'a'; 65535 - 3]]).is_err());
        // Largest old-protocol request.
        let user = vec![b'u'; 65535];
        let arg = vec![b'x'; 65535];
        let bytes = encode_old_request(&user, &arg).unwrap();
        assert_eq!(bytes.len(), MAX_REQUEST);
        let (req, used) = ok(&bytes);
        assert_eq!(used, MAX_REQUEST);
        assert_eq!(req.argv[2].len(), 65535);
        assert!(encode_old_request(&user, &[b'x'; 65536]).is_err());
        assert_eq!(
            encode_old_request(b"u", b""),
            Err(EncodeError::EmptyOldArgument)
        );
        // Huge argc in a small body does not allocate or panic.
        assert_eq!(
            decode(&[0, 2, 0, 0, 0xff, 0xff]),
            Err(DecodeError::SizeMismatch)
        );
    }

    #[test]
    fn new_argv_round_trips() {
        let argv: Vec<String> = vec!["ping".into(), String::new()];
        let bytes = encode_new_request(&argv).unwrap();
        assert_eq!(
            bytes,
            [0, 10, 0, 0, 0, 2, 0, 4, 0, 0, b'p', b'i', b'n', b'g']
        );
        let (req, _) = ok(&bytes);
        assert_eq!(req.argv, argv);
        assert_eq!(req.command(), Some("ping"));
        assert_eq!(req.user(), Some(""));
        assert!(req.args().is_empty());
        // argc = 0 encodes and decodes as the empty argv.
        let empty: [&str; 0] = [];
        assert_eq!(encode_new_request(&empty).unwrap(), [0, 2, 0, 0, 0, 0]);
    }

    /// A cheap deterministic PRNG so the "never panics" test needs no crate.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_used_is_declared_size() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for round in 0..20_000 {
            let len = (xorshift(&mut state) % 48) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| xorshift(&mut state) as u8).collect();
            // Keep the declared sizes small often enough to reach the body.
            if buf.len() >= 4 && round % 2 == 0 {
                buf[0] = 0;
                buf[2] = 0;
                if round % 4 == 0 {
                    buf[3] = 0;
                }
            }
            if let Ok(Some((_, used))) = decode(&buf) {
                let a = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
                let b = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
                assert_eq!(used, 4 + a + b);
                assert!(used <= buf.len());
            }
        }
    }
}
