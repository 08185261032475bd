//! The only place where internal errors become signd's wire text.
//!
//! Every error a client can see is a [`CmdError`]; its `Display` is the exact
//! obs-signd text where one exists (spec §4, §5), without the trailing
//! newline, which the reply encoder adds. Errors whose detail could help an
//! attacker or leak state (database, KMS) get a short generic text on the
//! wire; the detail goes to the log.

use thiserror::Error;

use crate::protocol::{DecodeError, EncodeError};

/// An error reply, by cause.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CmdError {
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
    #[error("unknown command: {0}")]
    UnknownCommand(String),
    #[error("unknown key: {0}")]
    UnknownKey(String),
}

impl CmdError {
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
        let cases: Vec<(CmdError, &str)> = vec![
            (CmdError::SignArgs, "sign: at least one arguments required"),
            (CmdError::UnknownKey("x".into()), "unknown key: x"),
            (CmdError::UnknownCommand(String::new()), "unknown command: "),
            (
                CmdError::BadHashAlgo("MD5".into()),
                "sign_with_agent: bad hashalgo MD5",
            ),
            (CmdError::Decode(DecodeError::ZeroSize), "zero size packet"),
            (
                CmdError::CertificateDenied("CN=x,O=y".into()),
                "certificate denied: CN=x,O=y",
            ),
            (
                CmdError::IllegalHost("127.0.0.2".into()),
                "illegal host 127.0.0.2",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.wire_text(), want);
        }
    }

    #[test]
    fn internal_errors_do_not_leak_detail() {
        let e = CmdError::Internal("database password=hunter2".into());
        assert!(!e.wire_text().contains("hunter2"));
    }
}
