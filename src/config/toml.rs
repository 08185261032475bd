//! Signatrust's own configuration file (`--config FILE`), in TOML.
//!
//! This is the low-level form: a direct record of what the file says, every
//! field optional, unknown fields rejected. Defaults and validation happen
//! when [`Config`](super::Config) is built from it. Example:
//!
//! ```toml
//! data_dir = "/var/lib/signatrust"   # embedded store and KEK file live here
//! sign_conf = "/etc/sign.conf"       # honour an obs-signd sign.conf
//!
//! [server]
//! listen = ["0.0.0.0:5167"]          # overrides sign.conf's port/proxyport
//! allow = ["127.0.0.1", "10/8"]      # overrides sign.conf's allow:
//! allow_unprivileged_ports = false
//! read_timeout_ms = 10000
//! request_deadline_ms = 30000
//! idle_timeout_ms = 1800000         # first byte; idle ones are also shed at max_connections
//! upstream_timeout_ms = 300000      # wait for a forwarded request's reply
//! max_connections = 1024
//! max_busy_refusals = 64            # over-limit connections answered "server busy"
//! dns_timeout_ms = 2000             # reverse + forward lookup for host names in allow
//! max_request_bytes = 131074         # judged on the header, before reading
//! proxy_protocol_from = ["10.0.0.5/32"]  # balancers sending a PROXY v1/v2 header
//! drain_grace_ms = 2000              # SIGTERM: /readyz not-ready this long, then close
//!
//! [users]
//! default_user = "defaultkey@localobs"
//! map = { "SHA512:legacy" = "newkey@example" }
//!
//! [store]
//! url = "sqlite:///var/lib/signatrust/signatrust.db"
//!
//! [kms]
//! provider = "file"
//! key_file = "/var/lib/signatrust/kek.key"
//! # or, the KEK in an HSM:
//! # provider = "pkcs11"
//! # module = "/usr/lib/softhsm/libsofthsm2.so"
//! # token_label = "signatrust"
//! # key_label = "signatrust-kek"
//! # pin_file = "/etc/signatrust/hsm.pin"  # else $SIGNATRUST_PKCS11_PIN
//! # A path starting ${CREDENTIALS_DIRECTORY}/ names a systemd credential
//! # (LoadCredential=hsm-pin:/etc/signatrust/hsm.pin in the unit):
//! # pin_file = "${CREDENTIALS_DIRECTORY}/hsm-pin"
//! # key_file = "${CREDENTIALS_DIRECTORY}/kek"
//! # or, the KEK in AWS KMS (credentials: the standard AWS chain):
//! # provider = "aws-kms"
//! # key_id = "alias/signatrust-kek"       # key ID, key ARN, alias or alias ARN
//! # region = "eu-central-1"               # else $AWS_REGION
//! # endpoint = "https://kms.example"      # an API-compatible service
//! # timeout_ms = 5000                     # one KMS call, retries included
//! # max_attempts = 3
//!
//! [cache]
//! ttl_secs = 30
//! max_entries = 1024
//!
//! [exec]
//! workers = 8                       # signing threads (default: the cores)
//! io_threads = 4                    # network threads (default: half the cores)
//! io_scheduling = "batch"           # or "normal"; see app::runtime
//! keygen_workers = 4                # key generation threads (default: half the cores)
//! keygen_timeout_ms = 15000         # a keygen's wait for a keygen thread
//!
//! [log]
//! level = "info"
//! format = "text"                   # or "json": one object per line
//! file = "/var/log/signatrust.log"
//!
//! [audit]
//! enabled = true
//! on_failure = "refuse"             # or "log": see crate::audit
//! queue = 4096                      # backlog bound, records
//! batch = 256                       # records per transaction
//!
//! [metrics]
//! listen = "127.0.0.1:9167"         # /metrics, /healthz, /readyz (default: off)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ::toml::Spanned;
use serde::Deserialize;

use super::source::read_file;
use super::{ConfigError, Location};

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TomlConfig {
    pub data_dir: Option<PathBuf>,
    pub sign_conf: Option<PathBuf>,
    #[serde(default)]
    pub server: TomlServer,
    #[serde(default)]
    pub users: TomlUsers,
    #[serde(default)]
    pub store: TomlStore,
    #[serde(default)]
    pub kms: TomlKms,
    #[serde(default)]
    pub cache: TomlCache,
    #[serde(default)]
    pub exec: TomlExec,
    #[serde(default)]
    pub log: TomlLog,
    #[serde(default)]
    pub security: TomlSecurity,
    #[serde(default)]
    pub audit: TomlAudit,
    #[serde(default)]
    pub metrics: TomlMetrics,
    /// The file's text, kept to turn spans into line numbers.
    #[serde(skip)]
    text: String,
    #[serde(skip)]
    origin: String,
}

/// `[server]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TomlServer {
    pub listen: Option<Vec<Spanned<String>>>,
    pub allow: Option<Vec<Spanned<String>>>,
    pub allow_unprivileged_ports: Option<bool>,
    pub read_timeout_ms: Option<Spanned<u64>>,
    pub request_deadline_ms: Option<Spanned<u64>>,
    pub idle_timeout_ms: Option<Spanned<u64>>,
    /// Wait for an upstream signd's reply to a forwarded request.
    pub upstream_timeout_ms: Option<Spanned<u64>>,
    pub max_connections: Option<Spanned<usize>>,
    /// Over-limit connections answered `server busy` at once; the rest
    /// are closed unread.
    pub max_busy_refusals: Option<Spanned<usize>>,
    /// Bound on the reverse and forward DNS lookup for host names in
    /// `allow`.
    pub dns_timeout_ms: Option<Spanned<u64>>,
    /// Largest request accepted (header-declared size), at most the
    /// protocol's 131074 bytes.
    pub max_request_bytes: Option<Spanned<usize>>,
    /// Load balancers (addresses or CIDR blocks) whose connections start
    /// with a PROXY protocol header.
    pub proxy_protocol_from: Option<Vec<Spanned<String>>>,
    /// After SIGTERM, how long /readyz is not-ready before the listeners
    /// close.
    pub drain_grace_ms: Option<Spanned<u64>>,
}

/// `[users]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TomlUsers {
    pub default_user: Option<String>,
    pub map: Option<BTreeMap<String, String>>,
}

/// `[store]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TomlStore {
    pub url: Option<Spanned<String>>,
}

/// `[kms]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TomlKms {
    pub provider: Option<Spanned<TomlKmsProvider>>,
    /// `file`: the 32-byte key file.
    pub key_file: Option<Spanned<PathBuf>>,
    /// `pkcs11`: the module (shared library).
    pub module: Option<Spanned<PathBuf>>,
    /// `pkcs11`: the token's label.
    pub token_label: Option<Spanned<String>>,
    /// `pkcs11`: the AES key's `CKA_LABEL`.
    pub key_label: Option<Spanned<String>>,
    /// `pkcs11`: a file whose first line is the user PIN (else the
    /// `SIGNATRUST_PKCS11_PIN` environment variable). Here and in
    /// `key_file`, a leading `${CREDENTIALS_DIRECTORY}/` names a systemd
    /// credential (`config::CREDENTIALS_PREFIX`).
    pub pin_file: Option<Spanned<PathBuf>>,
    /// `aws-kms`: key ID, key ARN, alias name (`alias/NAME`) or alias ARN.
    pub key_id: Option<Spanned<String>>,
    /// `aws-kms`: the AWS region (else `AWS_REGION` or the profile's).
    pub region: Option<Spanned<String>>,
    /// `aws-kms`: an `http(s)://` URL replacing AWS's KMS endpoint.
    pub endpoint: Option<Spanned<String>>,
    /// `aws-kms`: bound on one KMS call, retries included, in ms.
    pub timeout_ms: Option<Spanned<u64>>,
    /// `aws-kms`: attempts per KMS call.
    pub max_attempts: Option<Spanned<u32>>,
}

/// The KEK providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TomlKmsProvider {
    File,
    Pkcs11,
    /// AWS KMS or an API-compatible service.
    #[serde(rename = "aws-kms")]
    AwsKms,
}

/// `[cache]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TomlCache {
    pub ttl_secs: Option<Spanned<u64>>,
    pub max_entries: Option<Spanned<usize>>,
    pub stale_if_error_secs: Option<Spanned<u64>>,
}

/// `[exec]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TomlExec {
    pub workers: Option<Spanned<usize>>,
    pub io_threads: Option<Spanned<usize>>,
    pub io_scheduling: Option<Spanned<String>>,
    pub keygen_workers: Option<Spanned<usize>>,
    pub keygen_timeout_ms: Option<Spanned<u64>>,
}

/// `[log]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TomlLog {
    pub level: Option<Spanned<String>>,
    /// `"text"` (default) or `"json"`.
    pub format: Option<Spanned<String>>,
    pub file: Option<PathBuf>,
}

/// `[security]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TomlSecurity {
    /// Lock the process's memory (`mlockall`) so keys are never swapped out.
    pub lock_memory: Option<bool>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TomlMetrics {
    /// `address:port` of the HTTP listener for /metrics, /healthz, /readyz.
    pub listen: Option<Spanned<String>>,
}

/// `[audit]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TomlAudit {
    pub enabled: Option<bool>,
    /// `"refuse"` (default) or `"log"`.
    pub on_failure: Option<Spanned<String>>,
    pub queue: Option<Spanned<usize>>,
    pub batch: Option<Spanned<usize>>,
}

impl TomlConfig {
    /// Parses TOML text. `origin` names it in messages, which carry the line
    /// and column of the offending spot.
    pub fn parse(origin: &str, text: &str) -> Result<TomlConfig, ConfigError> {
        let mut cfg: TomlConfig = ::toml::from_str(text).map_err(|e| ConfigError::Toml {
            at: match e.span() {
                Some(span) => location_of(origin, text, span.start),
                None => Location::file(origin),
            },
            message: toml_message(e.message()),
        })?;
        cfg.text = text.to_owned();
        cfg.origin = origin.to_owned();
        Ok(cfg)
    }

    /// Reads and parses a file; messages name its path.
    pub fn load_file(path: &Path) -> Result<TomlConfig, ConfigError> {
        let text = read_file(path)?;
        TomlConfig::parse(&path.display().to_string(), &text)
    }

    /// The name the text was parsed under.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Where a value sits, for validation errors after parsing.
    pub(super) fn at<T>(&self, v: &Spanned<T>) -> Location {
        location_of(&self.origin, &self.text, v.span().start)
    }
}

/// Turns a byte offset into a 1-based line and column (in characters).
fn location_of(origin: &str, text: &str, offset: usize) -> Location {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Location {
        origin: origin.to_owned(),
        line: Some(line),
        column: Some(column),
    }
}

/// toml's messages are already lowercase and specific; keep one line and no
/// trailing period.
fn toml_message(m: &str) -> String {
    let first = m.lines().next().unwrap_or("").trim();
    first.trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        TomlConfig::parse("signatrust.toml", text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let c = TomlConfig::parse("t", "").unwrap();
        assert!(c.data_dir.is_none() && c.sign_conf.is_none());
        assert!(c.server.listen.is_none() && c.server.allow.is_none());
        assert!(c.kms.provider.is_none() && c.store.url.is_none());
    }

    #[test]
    fn full_example_parses() {
        let text = r#"
data_dir = "/srv/st"
sign_conf = "/etc/sign.conf"
[server]
listen = ["0.0.0.0:5167", "[::]:5167"]
allow = ["127.0.0.1", "10/8"]
allow_unprivileged_ports = true
read_timeout_ms = 1000
request_deadline_ms = 2000
idle_timeout_ms = 3000
max_connections = 10
dns_timeout_ms = 700
[users]
default_user = "k@x"
map = { "SHA512:a" = "b" }
[store]
url = "sqlite:///srv/st/db"
[kms]
provider = "file"
key_file = "/srv/kek"
[cache]
ttl_secs = 5
max_entries = 6
[exec]
workers = 3
[log]
level = "debug"
file = "/var/log/st.log"
"#;
        let c = TomlConfig::parse("t", text).unwrap();
        assert_eq!(c.data_dir, Some(PathBuf::from("/srv/st")));
        let listen: Vec<&str> = c
            .server
            .listen
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| s.get_ref().as_str())
            .collect();
        assert_eq!(listen, ["0.0.0.0:5167", "[::]:5167"]);
        assert_eq!(
            c.server.max_connections.as_ref().map(|v| *v.get_ref()),
            Some(10)
        );
        assert_eq!(
            c.server.dns_timeout_ms.as_ref().map(|v| *v.get_ref()),
            Some(700)
        );
        assert_eq!(
            c.kms.provider.as_ref().map(|p| *p.get_ref()),
            Some(TomlKmsProvider::File)
        );
        assert_eq!(
            c.users
                .map
                .as_ref()
                .unwrap()
                .get("SHA512:a")
                .map(String::as_str),
            Some("b")
        );
        assert_eq!(c.exec.workers.as_ref().map(|w| *w.get_ref()), Some(3));
        let at = c.at(c.server.allow.as_ref().unwrap().get(1).unwrap());
        assert_eq!(at.to_string(), "t:6:23");
    }

    #[test]
    fn unknown_field_is_rejected_with_file_and_line() {
        let e = err("data_dir = \"/x\"\n[server]\nlisten = []\nlisen = [\"x\"]\n");
        assert!(
            e.starts_with("signatrust.toml:4:1: unknown field `lisen`"),
            "{e}"
        );
        let e = err("colour = 1\n");
        assert!(
            e.starts_with("signatrust.toml:1:1: unknown field `colour`"),
            "{e}"
        );
        let e = err("[nope]\n");
        assert!(e.starts_with("signatrust.toml:1:"), "{e}");
        assert!(e.contains("unknown field `nope`"), "{e}");
    }

    #[test]
    fn type_and_syntax_errors_name_the_spot() {
        let e = err("[server]\nmax_connections = \"many\"\n");
        assert!(e.starts_with("signatrust.toml:2:19: "), "{e}");
        let e = err("[kms]\nprovider = \"vault\"\n");
        assert!(
            e.starts_with("signatrust.toml:2:12: unknown variant `vault`"),
            "{e}"
        );
        let e = err("data_dir = \n");
        assert!(e.starts_with("signatrust.toml:1:"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
        assert!(!e.ends_with('.'), "{e}");
    }

    #[test]
    fn location_of_counts_lines_and_chars() {
        assert_eq!(location_of("f", "ab\ncä d", 6).to_string(), "f:2:3");
        assert_eq!(location_of("f", "", 99).to_string(), "f:1:1");
        // An offset inside a multi-byte character must not panic.
        let _ = location_of("f", "ä", 1);
    }
}
