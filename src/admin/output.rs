//! Standard output that never panics and never stops a command half-way.
//!
//! Every verb changes the store first and prints afterwards. Output goes
//! through [`say!`](crate::admin::say) (a line) and [`print_json`]: when
//! the reader has gone away (`signatrust-admin key export X | true`,
//! `key list | head -1`), the rest of the output is dropped quietly and the
//! command finishes its work and exits 0; no write error can interrupt a
//! multi-key verb between two of its transactions. Any other write error
//! (a full disk behind a redirect) is reported once at the end and makes
//! the command fail.
//!
//! Rust starts programs with SIGPIPE ignored, so a closed pipe is an
//! `EPIPE` error here, never a signal.

use std::io::{ErrorKind, Write};
use std::sync::Mutex;

/// Whether stdout still takes output, and the first non-EPIPE error.
static STATE: Mutex<State> = Mutex::new(State {
    closed: false,
    error: None,
});

struct State {
    closed: bool,
    error: Option<std::io::Error>,
}

/// Writes `text` to stdout and flushes it, unless stdout is closed.
pub fn write(text: &str) {
    let mut st = STATE.lock().unwrap_or_else(|p| p.into_inner());
    if st.closed {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        st.closed = true;
        if e.kind() != ErrorKind::BrokenPipe {
            st.error = Some(e);
        }
    }
}

/// Whether the reader of stdout has gone away (or a write failed): a long
/// listing can stop reading what nobody will see.
pub fn closed() -> bool {
    STATE.lock().unwrap_or_else(|p| p.into_inner()).closed
}

/// Writes one line (`text` and a newline).
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut s = std::fmt::format(args);
    s.push('\n');
    write(&s);
}

/// Pretty-printed JSON and a newline.
pub fn print_json(value: &serde_json::Value) {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    write(&s);
}

/// Seconds since the epoch as `2026-11-30T04:50:00Z` (UTC).
pub fn date(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// The first write error other than a closed pipe, if any: the command
/// fails with it after finishing its work.
pub fn take_error() -> Option<std::io::Error> {
    STATE.lock().unwrap_or_else(|p| p.into_inner()).error.take()
}

/// A warning line on stderr (never panics, even with stderr closed).
pub fn warn_line(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "signatrust-admin: {args}");
}

/// `say!("...", args)`: one line on stdout through [`line`].
macro_rules! say {
    ($($t:tt)*) => {
        $crate::admin::output::line(format_args!($($t)*))
    };
}
pub(crate) use say;

/// `warn!("...", args)`: one `signatrust-admin: ` line on stderr.
macro_rules! warn_ {
    ($($t:tt)*) => {
        $crate::admin::output::warn_line(format_args!($($t)*))
    };
}
pub(crate) use warn_ as warn;
