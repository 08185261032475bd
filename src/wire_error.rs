//! The only place where errors become signd's wire text.
//!
//! Every error a client can see is a [`WireError`]; its `Display` (and
//! [`WireError::wire_text`]) is the exact obs-signd text where one exists
//! (spec §4, §5), without the trailing newline, which the reply encoder
//! adds; [`error_reply`] frames it. Errors whose detail could help an
//! attacker or leak state (database, KMS) get a short generic text on the
//! wire; the detail goes to the log.
//!
//! Errors of the layers below are nested, not copied: [`WireError::Blob`],
//! [`WireError::Decode`], [`WireError::Sign`] and [`WireError::Totp`]
//! carry the typed error, and
//! the texts signd shares with them are written once, in `sign::blob`,
//! `protocol` and `sign::totp`; only the texts that differ are written here.
//!
//! A leaf: this module knows `protocol` and the `sign` error types, nothing
//! of sockets, keys or commands. Both `commands` and `server` build their
//! errors from it.

use thiserror::Error;

use crate::protocol::{DecodeError, EncodeError, Protocol, Reply, BARE_ERROR_REPLY, CLIENT_BUFFER};
use crate::sign::blob::BlobError;
use crate::sign::totp::TotpError;
use crate::sign::{HashAlgo, PubkeyAlgo, SignError};

/// The wire text of every failure whose detail stays in the log.
const INTERNAL: &str = "signatrust: internal error, see server log";

/// An error reply, by cause. Variants are sorted by name.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WireError {
    /// The audit trail cannot take the record of this request (the audit
    /// database cannot be written, or its backlog is full) and `[audit]
    /// on_failure = "refuse"`: nothing is signed unaudited.
    #[error("audit trail unavailable, request refused")]
    AuditUnavailable,
    /// keygen's expiry is not 1 to 10 decimal digits.
    #[error("bad expire format")]
    BadExpireFormat,
    /// A sign or privsign hash argument does not parse (spec §4.3).
    #[error("bad hash {0}")]
    BadHash(String),
    /// The user field's hash prefix names no supported hash.
    #[error("sign_with_agent: bad hashalgo {0}")]
    BadHashAlgo(String),
    /// The privsign or privtotp blob is empty or not even-length hex.
    #[error("bad private key")]
    BadPrivateKey,
    /// privtotp's time is not 8 hex digits.
    #[error("bad time argument")]
    BadTimeArgument,
    /// keygen's real name or email holds a control character (signd's
    /// `checkbadchar`); the argument is `real name` or `email`.
    #[error("bad character in {0}")]
    BadCharacter(&'static str),
    /// keygen's key type is not one signd knows.
    #[error("bad type: {0}")]
    BadType(String),
    /// A private-key blob could not be used (spec §4.4, §8).
    #[error("{}", blob_text(.0))]
    Blob(#[source] BlobError),
    /// Over the connection limit, or shutting down.
    #[error("server busy, try again later")]
    Busy,
    /// certgen was removed from signd (spec §4.7).
    #[error("certgen: no longer supported, please update your sign client")]
    CertgenUnsupported,
    /// The client certificate's subject matches no `allow_subject:` line.
    #[error("certificate denied: {0}")]
    CertificateDenied(String),
    /// The request does not frame or has a malformed argument (spec §2).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// keygen's expiry, in days, lies beyond OpenPGP's 32-bit time: past
    /// 2106-02-07, where gpg sees the key as expired at once.
    #[error("bad expire: {0} days is beyond the OpenPGP time range")]
    ExpireTooFar(u64),
    /// The user field's hash prefix holds a control character.
    #[error("illegal hashalgo {0}")]
    IllegalHashAlgo(String),
    /// The peer's address (or confirmed name) is on no `allow:` line.
    #[error("illegal host {0}")]
    IllegalHost(String),
    /// The user has a `/`, a control character or a leading `.`.
    #[error("illegal user {0}")]
    IllegalUser(String),
    /// An alias points at an empty or illegal user.
    #[error("illegal user {target} for alias {alias}")]
    IllegalUserForAlias { target: String, alias: String },
    /// Key store, KMS or crypto failure. The wire text stays generic; the
    /// caller logs the cause.
    #[error("{INTERNAL}")]
    Internal(String),
    /// keygen needs exactly four arguments.
    #[error("keygen: four arguments expected")]
    KeygenArgs,
    /// keygen's real name or email is empty (or only spaces). Perl signd
    /// passes gpg's error through, `gpg: TMPDIR/params:4: missing
    /// argument` (line 5 for the email), with its random temporary path.
    #[error("keygen: {0} is empty (gpg: missing argument)")]
    KeygenMissingArgument(&'static str),
    /// No key generation slot became free within `[exec]
    /// keygen_timeout_ms`; the key was not generated (signd forks per
    /// request and has no such limit).
    #[error("keygen: no key generation slot free within {waited_ms} ms, try again later")]
    KeygenQueueTimeout { waited_ms: u64 },
    /// keygen's target names no stored key (gpg: "skipped: No public
    /// key").
    #[error("gpg: {0}: skipped: No public key")]
    NoEncryptionTarget(String),
    /// The source port is above 1024 and unprivileged ports are not allowed.
    #[error("not coming from a reserved port")]
    NotReservedPort,
    /// The `privileged` command: remote administration is not offered.
    #[error("privileged module is not loaded")]
    PrivilegedNotLoaded,
    /// privsign needs a blob and at least one hash.
    #[error("privsign: at least two arguments expected")]
    PrivsignArgs,
    /// privtotp needs a blob and a time.
    #[error("privtotp: two arguments expected")]
    PrivtotpArgs,
    /// pubkey takes no argument.
    #[error("pubkey: no argument expected")]
    PubkeyArgs,
    /// The reply would not fit the client's buffer.
    #[error("reply too big for the sign client: {0}")]
    ReplyTooBig(EncodeError),
    /// A signature the client asked for cannot be made: a digest whose
    /// length does not match the named hash, or one too short for the
    /// DSA/ECDSA key (spec §4.3). Failures of the server's own keys are
    /// internal.
    #[error("{}", sign_text(.0))]
    Sign(#[source] SignError),
    /// The request header declares more bytes than this server accepts;
    /// refused before the body is read.
    #[error("request too big: {declared} bytes declared, at most {max} accepted")]
    RequestTooBig { declared: usize, max: usize },
    /// sign needs at least one hash.
    #[error("sign: at least one arguments required")]
    SignArgs,
    /// The key store's database cannot be reached (down, refusing
    /// connections, not answering) and the request needs it: a key not in
    /// the cache. signd, whose keys are local files, has no such failure;
    /// the text tells the client to retry, the log names the cause.
    #[error("key store unavailable, try again later")]
    StoreUnavailable,
    /// The request was not read, or not answered, in time.
    #[error("request timed out")]
    Timeout,
    /// privtotp could not compute a code (spec §4.6).
    #[error("{}", totp_text(.0))]
    Totp(#[from] TotpError),
    /// The command is none of signd's.
    /// A PROXY protocol header from an address not in `[server]
    /// proxy_protocol_from` (Signatrust's own text).
    #[error("PROXY protocol header from an address not in proxy_protocol_from")]
    UnexpectedProxyHeader,
    #[error("unknown command: {0}")]
    UnknownCommand(String),
    /// No key of that name here, and no upstream to ask.
    #[error("unknown key: {0}")]
    UnknownKey(String),
    /// keygen's target key has no valid encryption-capable key (gpg:
    /// "skipped: Unusable public key").
    #[error("gpg: {0}: skipped: Unusable public key")]
    UnusableEncryptionTarget(String),
    /// The upstream's TLS certificate did not verify against our
    /// `ssl_verifyfile`/`ssl_verifydir` (or does not name the host).
    #[error("upstream signd {0}: server certificate not trusted")]
    UpstreamCertificateUntrusted(String),
    /// The upstream refused our TLS client certificate.
    #[error("upstream signd {0} refused our client certificate")]
    UpstreamRefusedCertificate(String),
    /// The upstream signd could not be reached or did not answer in time.
    /// The detail goes to the log only.
    #[error("upstream signd {0} is not available")]
    UpstreamUnavailable(String),
    /// No reserved source port (600-1023) could be bound for the upstream:
    /// the server lacks `CAP_NET_BIND_SERVICE` (a `User=` unit without
    /// `AmbientCapabilities=`). obs-signd has no text for this (it retries
    /// the bind forever and its client times out), so the reply keeps
    /// [`WireError::UpstreamUnavailable`]'s words and adds the fix.
    #[error(
        "upstream signd {0} is not available: binding a reserved source port needs \
         CAP_NET_BIND_SERVICE or use-unprivileged-ports: true"
    )]
    UpstreamReservedPortDenied(String),
}

/// The wire text of a blob error: signd's own texts are [`BlobError`]'s
/// `Display`; gpg's decryption errors, which signd relays, are gpg-style
/// here (the fixtures check only the status); encryption failures are
/// internal.
fn blob_text(e: &BlobError) -> String {
    use BlobError as B;
    match e {
        B::BadEncodedData
        | B::TruncatedEncodedData
        | B::UnknownEncryptionKey(_)
        | B::MalformedEncryptionKey(_)
        | B::BadEncryptionKey(_)
        | B::NotAPgpPacket
        | B::UnsupportedPacketLength
        | B::TruncatedPacket
        | B::NotASecretKeyPacket
        | B::UnknownPublicKeyVersion(_)
        | B::UnsupportedPublicKeyAlgorithm(_) => e.to_string(),
        B::NoSecretKey => "gpg: decryption failed: No secret key".to_owned(),
        B::DecryptionFailed => "gpg: decryption failed: Bad session key".to_owned(),
        B::BadMessage(_) => "gpg: decrypt_message failed: Invalid packet".to_owned(),
        B::TooLarge => "gpg: error writing to '-': File too large".to_owned(),
        // The project key in the blob is unusable (protected, inconsistent,
        // unsupported curve); the text names no key material.
        B::Key(k) => format!("bad project key: {k}"),
        B::Encrypt(_) | B::NoEncryptionKey => INTERNAL.to_owned(),
        // GnuPG >= 2.3's OCB packet: Signatrust's own text (README).
        B::Ocb(o) => o.to_string(),
    }
}

/// The wire text of a signing error: the client-caused ones name the
/// problem as gpg-agent logs it (agent/pksign.c: `a %zu bit hash is not
/// valid for a %u bit %s key` for a digest too short for a DSA/ECDSA key,
/// `can't encode a %d bit MD into a %d bits frame` for one too long for an
/// RSA key), the rest are internal.
fn sign_text(e: &SignError) -> String {
    match e {
        SignError::DigestLength { algo, got, want } => {
            format!(
                "bad hash length: {} needs {want} bytes, got {got}",
                hash_name(*algo)
            )
        }
        SignError::HashTooShort {
            algo,
            key,
            key_bits,
        } => {
            let key = match key {
                PubkeyAlgo::Rsa => "RSA",
                PubkeyAlgo::Dsa => "DSA",
                PubkeyAlgo::Ecdsa => "ECDSA",
                PubkeyAlgo::EdDsa => "EdDSA",
            };
            format!(
                "a {} bit hash is not valid for a {key_bits} bit {key} key",
                algo.digest_len() * 8
            )
        }
        // gpg-agent's text (agent/pksign.c `do_encode_md`).
        SignError::HashTooLong { algo, key_bits } => format!(
            "can't encode a {} bit MD into a {key_bits} bits frame",
            algo.digest_len() * 8
        ),
        _ => INTERNAL.to_owned(),
    }
}

/// The hash name as the user field spells it.
fn hash_name(algo: HashAlgo) -> &'static str {
    match algo {
        HashAlgo::Sha1 => "SHA1",
        HashAlgo::Sha256 => "SHA256",
        HashAlgo::Sha512 => "SHA512",
    }
}

impl From<SignError> for WireError {
    /// Logs what the wire text leaves out: a failure of the server's key or
    /// of the crypto library as an error, a client's bad request at debug.
    fn from(e: SignError) -> Self {
        match &e {
            SignError::DigestLength { .. }
            | SignError::HashTooShort { .. }
            | SignError::HashTooLong { .. } => {
                tracing::debug!(error = %e, "signature refused");
            }
            _ => tracing::error!(error = %e, "signing failed"),
        }
        WireError::Sign(e)
    }
}

/// The wire text of a TOTP error: [`TotpError`]'s `Display` is signd's,
/// except for an HMAC failure, which is internal.
fn totp_text(e: &TotpError) -> String {
    use TotpError as T;
    match e {
        T::BadUri
        | T::MissingParameter(_)
        | T::BadDigits
        | T::BadPeriod
        | T::UnsupportedAlgorithm
        | T::TimeOutOfRange => e.to_string(),
        T::Hmac => INTERNAL.to_owned(),
    }
}

impl From<BlobError> for WireError {
    /// Logs what the wire text leaves out.
    fn from(e: BlobError) -> Self {
        match &e {
            BlobError::BadMessage(detail) => {
                tracing::debug!(%detail, "blob is not a valid OpenPGP message");
            }
            BlobError::Encrypt(_) | BlobError::NoEncryptionKey => {
                tracing::error!(error = %e, "blob encryption failed");
            }
            _ => {}
        }
        WireError::Blob(e)
    }
}

impl WireError {
    /// The exact text of the error line, as signd sends it (without the
    /// trailing newline).
    pub fn wire_text(&self) -> String {
        self.to_string()
    }
}

/// Encodes `err` as an error reply (status 1, the wire text and `\n`) for
/// `protocol`, within the client's smallest buffer. An error line that does
/// not fit (one naming a user of thousands of bytes) gives the bare status-1
/// [`BARE_ERROR_REPLY`] instead.
pub fn error_reply(err: &WireError, protocol: Protocol) -> Vec<u8> {
    tracing::debug!(error = %err, "error reply");
    Reply::error(err.wire_text())
        .encode(protocol, CLIENT_BUFFER)
        .unwrap_or_else(|_| BARE_ERROR_REPLY.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_obs_signd() {
        let cases: Vec<(WireError, &str)> = vec![
            (WireError::SignArgs, "sign: at least one arguments required"),
            (WireError::UnknownKey("x".into()), "unknown key: x"),
            (
                WireError::KeygenQueueTimeout { waited_ms: 15000 },
                "keygen: no key generation slot free within 15000 ms, try again later",
            ),
            (
                WireError::StoreUnavailable,
                "key store unavailable, try again later",
            ),
            (
                WireError::UnknownCommand(String::new()),
                "unknown command: ",
            ),
            (
                WireError::BadHashAlgo("MD5".into()),
                "sign_with_agent: bad hashalgo MD5",
            ),
            (WireError::Decode(DecodeError::ZeroSize), "zero size packet"),
            (
                WireError::CertificateDenied("CN=x,O=y".into()),
                "certificate denied: CN=x,O=y",
            ),
            (
                WireError::IllegalHost("127.0.0.2".into()),
                "illegal host 127.0.0.2",
            ),
            (
                WireError::UpstreamUnavailable("h:1".into()),
                "upstream signd h:1 is not available",
            ),
            (
                WireError::UpstreamReservedPortDenied("h:1".into()),
                "upstream signd h:1 is not available: binding a reserved source port needs \
                 CAP_NET_BIND_SERVICE or use-unprivileged-ports: true",
            ),
            (
                WireError::UpstreamCertificateUntrusted("h:1".into()),
                "upstream signd h:1: server certificate not trusted",
            ),
            (
                WireError::UpstreamRefusedCertificate("h:1".into()),
                "upstream signd h:1 refused our client certificate",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.wire_text(), want);
        }
    }

    #[test]
    fn blob_texts_match_obs_signd() {
        let cases: Vec<(BlobError, &str)> = vec![
            (BlobError::BadEncodedData, "bad encoded data"),
            (BlobError::TruncatedEncodedData, "truncated encoded data"),
            (
                BlobError::UnknownEncryptionKey("A5E1A4F82E43F0E7".into()),
                "unknown encryption key A5E1A4F82E43F0E7",
            ),
            (
                BlobError::MalformedEncryptionKey("X".into()),
                "malformed encryption key X",
            ),
            (
                BlobError::BadEncryptionKey("X".into()),
                "bad encryption key X",
            ),
            (BlobError::NotASecretKeyPacket, "not a secret key packet"),
            (
                BlobError::UnknownPublicKeyVersion(5),
                "unknown public key version 5",
            ),
            (
                BlobError::UnsupportedPublicKeyAlgorithm(16),
                "unsupported public key algorithm 16",
            ),
            (BlobError::NotAPgpPacket, "not a pgp packet"),
            (
                BlobError::UnsupportedPacketLength,
                "unsupported pgp packet length",
            ),
            (BlobError::TruncatedPacket, "truncated pgp packet"),
            (
                BlobError::NoSecretKey,
                "gpg: decryption failed: No secret key",
            ),
            (
                BlobError::DecryptionFailed,
                "gpg: decryption failed: Bad session key",
            ),
            (
                BlobError::BadMessage("detail".into()),
                "gpg: decrypt_message failed: Invalid packet",
            ),
            (
                BlobError::TooLarge,
                "gpg: error writing to '-': File too large",
            ),
            (BlobError::NoEncryptionKey, INTERNAL),
        ];
        for (e, want) in cases {
            assert_eq!(WireError::from(e).wire_text(), want);
        }
    }

    #[test]
    fn totp_texts_match_obs_signd() {
        let cases: Vec<(TotpError, &str)> = vec![
            (TotpError::BadUri, "bad totp uri"),
            (
                TotpError::MissingParameter("secret"),
                "missing totp parameter 'secret'",
            ),
            (TotpError::BadDigits, "bad totp digits"),
            (TotpError::BadPeriod, "bad totp period"),
            (
                TotpError::UnsupportedAlgorithm,
                "unsupported hmac algorithm",
            ),
            (TotpError::TimeOutOfRange, "time out of range"),
            (TotpError::Hmac, INTERNAL),
        ];
        for (e, want) in cases {
            assert_eq!(WireError::from(e).wire_text(), want);
        }
    }

    #[test]
    fn sign_texts_name_the_clients_mistake() {
        let cases: Vec<(SignError, &str)> = vec![
            (
                SignError::DigestLength {
                    algo: HashAlgo::Sha256,
                    got: 20,
                    want: 32,
                },
                "bad hash length: SHA256 needs 32 bytes, got 20",
            ),
            (
                SignError::HashTooShort {
                    algo: HashAlgo::Sha1,
                    key: PubkeyAlgo::Dsa,
                    key_bits: 2048,
                },
                "a 160 bit hash is not valid for a 2048 bit DSA key",
            ),
            (
                SignError::HashTooShort {
                    algo: HashAlgo::Sha256,
                    key: PubkeyAlgo::Ecdsa,
                    key_bits: 384,
                },
                "a 256 bit hash is not valid for a 384 bit ECDSA key",
            ),
            (
                SignError::HashTooLong {
                    algo: HashAlgo::Sha512,
                    key_bits: 512,
                },
                "can't encode a 512 bit MD into a 512 bits frame",
            ),
            // The server's own key or the crypto library: internal.
            (SignError::BadKey("q".into()), INTERNAL),
            (SignError::Crypto("x".into()), INTERNAL),
            (SignError::PassphraseRequired, INTERNAL),
        ];
        for (e, want) in cases {
            assert_eq!(WireError::from(e).wire_text(), want);
        }
        assert_eq!(
            WireError::BadCharacter("real name").wire_text(),
            "bad character in real name"
        );
        assert_eq!(
            WireError::KeygenMissingArgument("email").wire_text(),
            "keygen: email is empty (gpg: missing argument)"
        );
        assert_eq!(
            WireError::ExpireTooFar(49711).wire_text(),
            "bad expire: 49711 days is beyond the OpenPGP time range"
        );
    }

    #[test]
    fn internal_errors_do_not_leak_detail() {
        let e = WireError::Internal("database password=hunter2".into());
        assert!(!e.wire_text().contains("hunter2"));
        let e = WireError::from(BlobError::Encrypt("password=hunter2".into()));
        assert!(!e.wire_text().contains("hunter2"));
        let e = WireError::from(SignError::Crypto("password=hunter2".into()));
        assert!(!e.wire_text().contains("hunter2"));
    }

    #[test]
    fn error_replies_are_framed_by_protocol() {
        let want = b"\x00\x01\x00\x00\x00\x0funknown key: x\n";
        for protocol in [Protocol::New, Protocol::Old] {
            let got = error_reply(&WireError::UnknownKey("x".into()), protocol);
            assert_eq!(got, want);
        }
        // An error line too long for its u16 length field: the bare frame.
        let long = WireError::UnknownKey("x".repeat(70000));
        assert_eq!(error_reply(&long, Protocol::New), BARE_ERROR_REPLY);
    }
}
