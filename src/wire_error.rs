//! The only place where internal errors become signd's wire text.
//!
//! Every error a client can see is a [`WireError`]; its `Display` is the exact
//! obs-signd text where one exists (spec §4, §5), without the trailing
//! newline, which the reply encoder adds. Errors whose detail could help an
//! attacker or leak state (database, KMS) get a short generic text on the
//! wire; the detail goes to the log.

use thiserror::Error;

use crate::protocol::{DecodeError, EncodeError};

/// An error reply, by cause.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WireError {
    #[error("bad expire format")]
    BadExpireFormat,
    #[error("bad hash {0}")]
    BadHash(String),
    #[error("sign_with_agent: bad hashalgo {0}")]
    BadHashAlgo(String),
    #[error("bad private key")]
    BadPrivateKey,
    #[error("bad time argument")]
    BadTimeArgument,
    #[error("bad type: {0}")]
    BadType(String),
    /// The client certificate's subject matches no `allow_subject:` line.
    #[error("certificate denied: {0}")]
    CertificateDenied(String),
    #[error("certgen: no longer supported, please update your sign client")]
    CertgenUnsupported,
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The digest length does not match the hash algorithm (gpg-agent says
    /// "unsupported length of hash"; the fixtures accept any text).
    #[error("bad hash length: {algo} needs {want} bytes, got {got}")]
    DigestLength {
        algo: &'static str,
        want: usize,
        got: usize,
    },
    #[error("illegal hashalgo {0}")]
    IllegalHashAlgo(String),
    #[error("illegal host {0}")]
    IllegalHost(String),
    #[error("illegal user {0}")]
    IllegalUser(String),
    #[error("illegal user {target} for alias {alias}")]
    IllegalUserForAlias { target: String, alias: String },
    /// Key store, KMS or crypto failure. The wire text stays generic; the
    /// caller logs the cause.
    #[error("signatrust: internal error, see server log")]
    Internal(String),
    #[error("keygen: four arguments expected")]
    KeygenArgs,
    /// A command this server does not implement yet.
    #[error("{0}: not supported by this server")]
    NotSupported(&'static str),
    #[error("not coming from a reserved port")]
    NotReservedPort,
    #[error("privileged module is not loaded")]
    PrivilegedNotLoaded,
    #[error("privsign: at least two arguments expected")]
    PrivsignArgs,
    #[error("privtotp: two arguments expected")]
    PrivtotpArgs,
    #[error("pubkey: no argument expected")]
    PubkeyArgs,
    /// The reply would not fit the client's buffer.
    #[error("reply too big for the sign client: {0}")]
    ReplyTooBig(EncodeError),
    /// The request header declares more bytes than this server accepts;
    /// refused before the body is read.
    #[error("request too big: {declared} bytes declared, at most {max} accepted")]
    RequestTooBig { declared: usize, max: usize },
    #[error("sign: at least one arguments required")]
    SignArgs,
    #[error("server busy, try again later")]
    Busy,
    #[error("request timed out")]
    Timeout,
    /// The upstream signd could not be reached or did not answer in time.
    /// The detail goes to the log only.
    #[error("upstream signd {0} is not available")]
    UpstreamUnavailable(String),
    /// The upstream's TLS certificate did not verify against our
    /// `ssl_verifyfile`/`ssl_verifydir` (or does not name the host).
    #[error("upstream signd {0}: server certificate not trusted")]
    UpstreamCertificateUntrusted(String),
    /// The upstream refused our TLS client certificate.
    #[error("upstream signd {0} refused our client certificate")]
    UpstreamRefusedCertificate(String),
    #[error("unknown command: {0}")]
    UnknownCommand(String),
    #[error("unknown key: {0}")]
    UnknownKey(String),
    // Private-key blobs (spec §4.4, §8).
    #[error("bad encoded data")]
    BadEncodedData,
    #[error("truncated encoded data")]
    TruncatedEncodedData,
    #[error("unknown encryption key {0}")]
    UnknownEncryptionKey(String),
    #[error("malformed encryption key {0}")]
    MalformedEncryptionKey(String),
    #[error("bad encryption key {0}")]
    BadEncryptionKey(String),
    #[error("not a secret key packet")]
    NotASecretKeyPacket,
    #[error("unknown public key version {0}")]
    UnknownPublicKeyVersion(u8),
    #[error("unsupported public key algorithm {0}")]
    UnsupportedPublicKeyAlgorithm(u8),
    /// signd relays gpg's own decryption error; the fixtures only check
    /// the status, so we send gpg-style texts.
    #[error("gpg: {0}")]
    GpgDecrypt(&'static str),
    /// signd's texts for a malformed first packet of the plaintext.
    #[error("{0}")]
    BlobPacket(&'static str),
    /// The project key in the blob is unusable (protected, inconsistent,
    /// unsupported curve); the text names no key material.
    #[error("bad project key: {0}")]
    BlobKey(String),
    // privtotp (spec §4.6).
    #[error("bad totp uri")]
    BadTotpUri,
    #[error("missing totp parameter '{0}'")]
    MissingTotpParameter(&'static str),
    #[error("bad totp digits")]
    BadTotpDigits,
    #[error("bad totp period")]
    BadTotpPeriod,
    #[error("unsupported hmac algorithm")]
    UnsupportedHmacAlgorithm,
    #[error("time out of range")]
    TimeOutOfRange,
    /// keygen could not encrypt to the target: no such key, or it has no
    /// encryption subkey (gpg: "skipped: No public key").
    #[error("gpg: {0}: skipped: No public key")]
    NoEncryptionTarget(String),
}

impl From<crate::sign::blob::BlobError> for WireError {
    fn from(e: crate::sign::blob::BlobError) -> Self {
        use crate::sign::blob::BlobError as B;
        match e {
            B::BadEncodedData => WireError::BadEncodedData,
            B::TruncatedEncodedData => WireError::TruncatedEncodedData,
            B::UnknownEncryptionKey(id) => WireError::UnknownEncryptionKey(id),
            B::MalformedEncryptionKey(id) => WireError::MalformedEncryptionKey(id),
            B::BadEncryptionKey(id) => WireError::BadEncryptionKey(id),
            B::NoSecretKey => WireError::GpgDecrypt("decryption failed: No secret key"),
            B::DecryptionFailed => WireError::GpgDecrypt("decryption failed: Bad session key"),
            B::BadMessage(detail) => {
                tracing::debug!(%detail, "blob is not a valid OpenPGP message");
                WireError::GpgDecrypt("decrypt_message failed: Invalid packet")
            }
            B::TooLarge => WireError::GpgDecrypt("error writing to '-': File too large"),
            B::NotAPgpPacket => WireError::BlobPacket("not a pgp packet"),
            B::UnsupportedPacketLength => WireError::BlobPacket("unsupported pgp packet length"),
            B::TruncatedPacket => WireError::BlobPacket("truncated pgp packet"),
            B::NotASecretKeyPacket => WireError::NotASecretKeyPacket,
            B::UnknownPublicKeyVersion(v) => WireError::UnknownPublicKeyVersion(v),
            B::UnsupportedPublicKeyAlgorithm(a) => WireError::UnsupportedPublicKeyAlgorithm(a),
            B::Key(e) => WireError::BlobKey(e.to_string()),
            other => {
                tracing::error!(error = %other, "blob encryption failed");
                WireError::Internal(other.to_string())
            }
        }
    }
}

impl From<crate::sign::totp::TotpError> for WireError {
    fn from(e: crate::sign::totp::TotpError) -> Self {
        use crate::sign::totp::TotpError as T;
        match e {
            T::BadUri => WireError::BadTotpUri,
            T::MissingParameter(p) => WireError::MissingTotpParameter(p),
            T::BadDigits => WireError::BadTotpDigits,
            T::BadPeriod => WireError::BadTotpPeriod,
            T::UnsupportedAlgorithm => WireError::UnsupportedHmacAlgorithm,
            T::TimeOutOfRange => WireError::TimeOutOfRange,
            other => WireError::Internal(other.to_string()),
        }
    }
}

impl WireError {
    /// The exact bytes of the error line, as signd sends it.
    pub fn wire_text(&self) -> String {
        self.to_string()
    }
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
            (WireError::BadEncodedData, "bad encoded data"),
            (WireError::TruncatedEncodedData, "truncated encoded data"),
            (
                WireError::UnknownEncryptionKey("A5E1A4F82E43F0E7".into()),
                "unknown encryption key A5E1A4F82E43F0E7",
            ),
            (
                WireError::MalformedEncryptionKey("X".into()),
                "malformed encryption key X",
            ),
            (
                WireError::BadEncryptionKey("X".into()),
                "bad encryption key X",
            ),
            (WireError::NotASecretKeyPacket, "not a secret key packet"),
            (
                WireError::UnknownPublicKeyVersion(5),
                "unknown public key version 5",
            ),
            (
                WireError::UnsupportedPublicKeyAlgorithm(16),
                "unsupported public key algorithm 16",
            ),
            (WireError::BadTotpUri, "bad totp uri"),
            (
                WireError::MissingTotpParameter("secret"),
                "missing totp parameter 'secret'",
            ),
            (WireError::BadTotpDigits, "bad totp digits"),
            (WireError::BadTotpPeriod, "bad totp period"),
            (
                WireError::UnsupportedHmacAlgorithm,
                "unsupported hmac algorithm",
            ),
            (WireError::TimeOutOfRange, "time out of range"),
            (
                WireError::UpstreamUnavailable("h:1".into()),
                "upstream signd h:1 is not available",
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
    fn internal_errors_do_not_leak_detail() {
        let e = WireError::Internal("database password=hunter2".into());
        assert!(!e.wire_text().contains("hunter2"));
    }
}
