//! Structured logs with `tracing`, to stderr, filtered by `[log] level`
//! (default `info`), which `RUST_LOG` overrides when set; as text (ANSI
//! colours only when stderr is a terminal, so the journal gets plain text)
//! or as one JSON object per line (`[log] format = "json"`). Secrets never
//! reach a log line: secret types redact their `Debug`, and request logging
//! shortens blob arguments.
//!
//! Optionally also obs-signd's own log file (`logfile:` in sign.conf or
//! `[log] file`), one line per request or error in signd's format (spec
//! §10): `YYYY-MM-DD HH:MM:SS: <peer-ip>: <argv joined by spaces>` in local
//! time, errors as `<peer>: <message>`.
use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// The filter without `[log] level` or `RUST_LOG`.
pub const DEFAULT_LOG_LEVEL: &str = "info";

/// Logging settings (`[log]`), plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A tracing filter directive such as `info` or `signatrust=debug`
    /// (checked by [`check_level`]).
    pub level: String,
    /// Append the signd-style log here (`[log] file`, else sign.conf's
    /// `logfile:`); `None` logs to stderr only.
    pub file: Option<PathBuf>,
    /// How stderr lines look (`[log] format`).
    pub format: LogFormat,
}

/// `[log] format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `tracing`'s human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields` (with
    /// `message`), `target`.
    Json,
}

impl LogFormat {
    /// `"text"` or `"json"`; `None` for anything else.
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: DEFAULT_LOG_LEVEL.to_owned(),
            file: None,
            format: LogFormat::Text,
        }
    }
}

/// Whether `level` is a usable filter (`info`, `signatrust=debug,warn`, …);
/// the error is a predicate to follow the setting's name ("must not be
/// empty").
pub fn check_level(level: &str) -> Result<(), String> {
    if level.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    EnvFilter::try_new(level)
        .map(drop)
        .map_err(|e| format!("is not a tracing filter ({e})"))
}

/// The filter [`init`] applies: `env` (the value of `RUST_LOG`) when it is
/// set and valid, else the configured level.
pub fn filter(config: &LogConfig, env: Option<&str>) -> String {
    match env {
        Some(env) if check_level(env).is_ok() => env.to_owned(),
        _ => config.level.clone(),
    }
}

/// Starts logging to stderr with [`filter`] of `config` and `RUST_LOG`. Call
/// it once the configuration is loaded; later calls change nothing.
pub fn init(config: &LogConfig) {
    init_quieting(config, &[]);
}

/// [`init`], with each target of `quiet` (e.g. a library's chatty
/// target) at warn, or at the level it names (`target=error`), unless the
/// filter names its crate.
pub fn init_quieting(config: &LogConfig, quiet: &[&str]) {
    use std::io::IsTerminal;
    let env = std::env::var("RUST_LOG").ok();
    let spec = filter(config, env.as_deref());
    let mut filter = EnvFilter::new(&spec);
    for target in quiet {
        let krate = target.split(['=', ':']).next().unwrap_or(target);
        if !spec.contains(krate) {
            let directive = match target.contains('=') {
                true => (*target).to_owned(),
                false => format!("{target}=warn"),
            };
            if let Ok(d) = directive.parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Request arguments for logs: the blob argument of privsign, privtotp and
/// certgen is shortened to its first and last two characters, as signd
/// logs it.
pub struct LogArgv<'a>(pub &'a [String]);

impl fmt::Display for LogArgv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let blob_cmd = matches!(
            self.0.first().map(String::as_str),
            Some("privsign" | "privtotp" | "certgen")
        );
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let n = a.chars().count();
            if blob_cmd && i == 2 && n > 4 {
                let head: String = a.chars().take(2).collect();
                let tail: String = a.chars().skip(n - 2).collect();
                write!(f, "{head}...{tail}")?;
            } else {
                f.write_str(a)?;
            }
        }
        Ok(())
    }
}

/// obs-signd's log file, appended to.
#[derive(Debug)]
pub struct SigndLog {
    file: Mutex<std::fs::File>,
    path: PathBuf,
}

impl SigndLog {
    /// Opens (creating, mode 0640) `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<SigndLog> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(path)?;
        Ok(SigndLog {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// Opens the file's path again (after logrotate moved the file away:
    /// SIGHUP) and writes there from now on. On failure the old file is
    /// kept and the error returned.
    pub fn reopen(&self) -> std::io::Result<()> {
        let fresh = SigndLog::open(&self.path)?;
        let file = fresh.file.into_inner().unwrap_or_else(|e| e.into_inner());
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = file;
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<time>: <peer>: <argv>` for a request.
    pub fn request(&self, peer: Option<IpAddr>, argv: &[String]) {
        self.line(&format!("{}: {}", peer_text(peer), LogArgv(argv)));
    }

    /// `<time>: <peer>: <message>` for an error.
    pub fn error(&self, peer: Option<IpAddr>, message: &str) {
        self.line(&format!("{}: {message}", peer_text(peer)));
    }

    fn line(&self, text: &str) {
        let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
        // Control characters never reach a request argument (the decoder
        // rejects them), but error texts may carry anything: keep one line.
        let text: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let line = format!("{now}: {text}\n");
        if let Ok(mut f) = self.file.lock() {
            if let Err(e) = f.write_all(line.as_bytes()) {
                tracing::warn!(error = %e, "cannot write the signd log file");
            }
        }
    }
}

fn peer_text(peer: Option<IpAddr>) -> String {
    peer.map_or_else(|| "-".to_owned(), |p| p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rust_log_overrides_the_configured_level() {
        let config = LogConfig {
            level: "debug".to_owned(),
            ..LogConfig::default()
        };
        assert_eq!(filter(&config, None), "debug");
        assert_eq!(filter(&config, Some("warn")), "warn");
        assert_eq!(
            filter(&config, Some("signatrust=trace")),
            "signatrust=trace"
        );
        // An empty or unparsable RUST_LOG does not silence the daemon.
        assert_eq!(filter(&config, Some("")), "debug");
        assert_eq!(filter(&config, Some("=bad=")), "debug");
        assert_eq!(filter(&LogConfig::default(), None), "info");
    }

    #[test]
    fn levels_are_checked() {
        assert_eq!(check_level("info"), Ok(()));
        assert_eq!(check_level("signatrust=debug,warn"), Ok(()));
        assert_eq!(check_level(" "), Err("must not be empty".to_owned()));
        assert!(check_level("=bad=").is_err());
    }

    #[test]
    fn blobs_are_shortened() {
        assert_eq!(
            LogArgv(&argv(&["privsign", "u", "0123456789", "ab@00"])).to_string(),
            "privsign u 01...89 ab@00"
        );
        assert_eq!(
            LogArgv(&argv(&["sign", "u", "0123456789"])).to_string(),
            "sign u 0123456789"
        );
    }

    #[test]
    fn log_file_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signd.log");
        let log = SigndLog::open(&path).unwrap();
        log.request(
            Some("127.0.0.1".parse().unwrap()),
            &argv(&["privtotp", "u", "abcdef", "6553f100"]),
        );
        log.error(Some("10.0.0.1".parse().unwrap()), "unknown key: x\n");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let re = regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d: ").unwrap();
        assert!(re.is_match(lines[0]), "{}", lines[0]);
        assert!(lines[0].ends_with(": 127.0.0.1: privtotp u ab...ef 6553f100"));
        assert!(lines[1].ends_with(": 10.0.0.1: unknown key: x "));
    }
}
