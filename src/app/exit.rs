//! Exit statuses of both binaries, documented in `--help`, the man pages
//! and for systemd's `RestartPreventExitStatus=`:
//!
//! | status | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | failure: unknown key, unreadable or bad input, store error, ... |
//! | 2 | usage: unknown option, bad value or name (clap's own status) |
//! | 78 | configuration error (`EX_CONFIG` of sysexits.h): the configuration file, sign.conf or a setting in them is wrong; restarting will not help |
//!
//! A configuration error is an [`anyhow::Error`] carrying the
//! [`ConfigError`] context (`.context(ConfigError)`), which adds
//! "configuration error: " to the message.

/// Success.
pub const EX_OK: u8 = 0;
/// Any failure that is not one of the others.
pub const EX_FAILURE: u8 = 1;
/// Bad command line (what clap exits with).
pub const EX_USAGE: u8 = 2;
/// Configuration error (sysexits.h `EX_CONFIG`).
pub const EX_CONFIG: u8 = 78;

/// Marks an error as a configuration error: `result.context(ConfigError)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError;

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("configuration error")
    }
}

/// The exit status for `e`: [`EX_CONFIG`] for a [`ConfigError`], else
/// [`EX_FAILURE`].
pub fn exit_status(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<ConfigError>().is_some() {
        EX_CONFIG
    } else {
        EX_FAILURE
    }
}

/// Writes `prog: error` to stderr, ignoring a closed stderr (never panics),
/// and returns the exit status for it.
pub fn report(prog: &str, e: &anyhow::Error) -> std::process::ExitCode {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{prog}: {e:#}");
    std::process::ExitCode::from(exit_status(e))
}
