//! Configuration: parsing only, no sockets, no database.
//!
//! Two inputs, both optional, feed one validated [`Config`]:
//!
//! * obs-signd's `sign.conf` ([`sign_conf`]), so that an existing deployment
//!   keeps its port, `allow:` list, default user and `map:` lines;
//! * Signatrust's own TOML file ([`toml`]), for everything
//!   obs-signd never had: data directory, store, KMS, cache, timeouts, limits.
//!
//! Both are read through a [`Source`], so tests drive the whole load from an
//! in-memory map. Parsers are pure functions of `(origin, text)` and every
//! message names the file, and the line where it is known.
//!
//! **Precedence.**
//!
//! * Data directory: `--data-dir`, else TOML `data_dir`, else
//!   [`DEFAULT_DATA_DIR`].
//! * sign.conf: `--sign-conf`, else TOML `sign_conf`, else none.
//! * Anything set in both: the TOML `[server]`, `[users]` and `[log]` values
//!   win over sign.conf (`[users] map` entries override key by key).
//!
//! **Defaults.**
//!
//! * Listen on `0.0.0.0:<port>`, port from sign.conf (`proxyport`, else
//!   `port`), else 5167. obs-signd binds IPv4 `INADDR_ANY` too.
//! * Allow list: sign.conf's `allow:` entries. A sign.conf without `allow:`
//!   refuses everyone, as obs-signd does (with a warning). With neither a
//!   sign.conf nor a TOML `allow`, only `127.0.0.1` and `::1`.
//! * `allow_unprivileged_ports` is **false**, exactly as in obs-signd: clients
//!   must connect from a reserved source port. Deployments whose clients run
//!   unprivileged (containers, COPR) must set it explicitly.
//! * Timeouts: read 10 s, whole request 30 s, idle (first byte) 10 s;
//!   1024 concurrent connections; one sign worker per CPU.
//! * Store `sqlite://<data_dir>/signatrust.db`, file KEK `<data_dir>/kek.key`,
//!   key cache 30 s / 1024 entries, log level `info`.

pub mod sign_conf;
pub mod source;
pub mod toml;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

pub use self::sign_conf::{
    AllowEntry, Directive, Directives, Proto, SignConf, SignConfPaths, SubjectPattern, TlsFiles,
    Upstream,
};
pub use self::source::{FileSource, MemorySource, Source};
pub use self::toml::TomlConfig;

/// Where the embedded store and the KEK file live unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/signatrust";

/// Where a configuration problem is: a file, maybe a line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub origin: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl Location {
    pub fn file(origin: &str) -> Location {
        Location {
            origin: origin.to_owned(),
            line: None,
            column: None,
        }
    }

    pub fn line(origin: &str, line: usize) -> Location {
        Location {
            origin: origin.to_owned(),
            line: Some(line),
            column: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// A configuration that cannot be used. Every message names the file.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    /// A sign.conf line that is not `key: value…`.
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    /// TOML that does not parse or does not fit the schema.
    #[error("{at}: {message}")]
    Toml { at: Location, message: String },
    /// A value that parses but is not acceptable.
    #[error("{at}: {message}")]
    Value { at: Location, message: String },
}

/// The listening side: sockets, access control, limits, forwarding, TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Addresses to bind.
    pub listen: Vec<SocketAddr>,
    /// Clients allowed to connect; empty refuses everyone.
    pub allow: Vec<AllowEntry>,
    /// Accept clients whose source port is above 1024 (obs-signd's
    /// `allow-unprivileged-ports`). Default false.
    pub allow_unprivileged_ports: bool,
    /// Longest silence while reading a request, between two reads.
    pub read_timeout: Duration,
    /// Longest time from accept to the reply being written.
    pub request_deadline: Duration,
    /// Longest wait for the first byte of a request after accept.
    pub idle_timeout: Duration,
    /// Connections served at once; further ones get `server busy`.
    pub max_connections: usize,
    /// Over-limit connections being answered `server busy` at once; beyond
    /// this they are closed without being read.
    pub max_busy_refusals: usize,
    /// Bound on the reverse and forward DNS lookup for host names in
    /// `allow:` (a lookup that times out does not match).
    pub dns_timeout: Duration,
    /// Where unknown users are forwarded; `None` answers `unknown key`.
    pub upstream: Option<Upstream>,
    /// TLS settings from sign.conf.
    pub tls: TlsConfig,
    /// The pure "signproxy" role (spec §5.2): an upstream is configured and
    /// sign.conf has no `phrases:`, so every request is forwarded, pings
    /// with an empty user included.
    pub proxy_only: bool,
    /// Largest request accepted, judged on the header before the body is
    /// read. Default: the protocol maximum.
    pub max_request: usize,
}

/// TLS settings (§7.3 of the protocol notes), resolved with obs-signd's
/// fallbacks. Only the incoming side lives here; the upstream's is in
/// [`Upstream`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// `proxyproto`, else `proto`.
    pub proto: Proto,
    /// `proxyssl_*`, else `ssl_*`: server certificate and key, client CA.
    pub files: TlsFiles,
    /// Accept clients without a certificate.
    pub allow_certless: bool,
    /// Accepted client certificate subjects; empty accepts any verified one.
    pub allow_subject: Vec<SubjectPattern>,
}

/// User-field rewriting (§5 of the protocol notes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserConfig {
    /// Key used for an empty user (`user:`).
    pub default_user: Option<String>,
    /// `map:` table, keyed by the exact `[HASH:]from` text.
    pub map: BTreeMap<String, String>,
}

/// The key database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `sqlite://…` or `postgres://…`.
    pub url: String,
}

/// The key-encryption-key provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsConfig {
    /// A local 32-byte key file, created on first use.
    File { key_file: PathBuf },
    /// An AES-256 key on a PKCS#11 token (HSM).
    Pkcs11 {
        /// The PKCS#11 module (shared library).
        module: PathBuf,
        token_label: String,
        /// `CKA_LABEL` of the AES key.
        key_label: String,
        /// First line is the user PIN; `None`: `$SIGNATRUST_PKCS11_PIN`.
        pin_file: Option<PathBuf>,
    },
}

/// The cache of unwrapped keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    pub ttl: Duration,
    pub max_entries: usize,
}

/// Threads: the CPU pool that computes signatures and the I/O runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecConfig {
    /// Signing threads (`[exec] workers`, default: the cores).
    pub workers: usize,
    /// Network threads (`[exec] io_threads`, default: half the cores, at
    /// least one).
    pub io_threads: usize,
    /// Linux scheduling class of the network threads.
    pub io_scheduling: IoScheduling,
}

/// How the network threads are scheduled (`[exec] io_scheduling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoScheduling {
    /// `SCHED_BATCH`: a waking network thread does not preempt a signing
    /// thread mid-signature; it runs at the next scheduling point and then
    /// handles everything that arrived meanwhile. The default: it saves
    /// context switches on every request (BENCHMARKS.md).
    Batch,
    /// `SCHED_OTHER`, the Linux default.
    Normal,
}

impl Default for ExecConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ExecConfig {
            workers: cores,
            io_threads: (cores / 2).max(1),
            io_scheduling: IoScheduling::Batch,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A tracing filter directive such as `info` or `signatrust=debug`.
    pub level: String,
    /// Append the signd-style log here (`[log] file`, else sign.conf's
    /// `logfile:`); `None` logs to stderr.
    pub file: Option<PathBuf>,
}

/// Everything the daemon needs, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub users: UserConfig,
    pub store: StoreConfig,
    pub kms: KmsConfig,
    pub cache: CacheConfig,
    pub exec: ExecConfig,
    pub log: LogConfig,
    /// The obs-signd state directories, when a sign.conf was read.
    pub signd: Option<SignConfPaths>,
    /// The sign.conf that was read, if any.
    pub sign_conf_path: Option<PathBuf>,
    /// Non-fatal notes, each naming its file and line, for the log.
    pub warnings: Vec<String>,
}

impl Config {
    /// Loads the configuration from the file system. `data_dir` is
    /// `--data-dir`, `config_file` is `--config`, `sign_conf` is
    /// `--sign-conf`; each may be absent.
    pub fn load(
        data_dir: Option<PathBuf>,
        config_file: Option<PathBuf>,
        sign_conf: Option<PathBuf>,
    ) -> Result<Config, ConfigError> {
        Config::load_from(&FileSource, data_dir, config_file, sign_conf)
    }

    /// [`Config::load`] over any [`Source`].
    pub fn load_from(
        source: &dyn Source,
        data_dir: Option<PathBuf>,
        config_file: Option<PathBuf>,
        sign_conf: Option<PathBuf>,
    ) -> Result<Config, ConfigError> {
        let toml = match &config_file {
            Some(path) => {
                let text = source.read(path)?;
                tracing::debug!(path = %path.display(), "read configuration file");
                Some(TomlConfig::parse(&path.display().to_string(), &text)?)
            }
            None => None,
        };
        let sign_conf_path = sign_conf.or_else(|| toml.as_ref().and_then(|t| t.sign_conf.clone()));
        let signd = match &sign_conf_path {
            Some(path) => {
                let text = source.read(path)?;
                tracing::debug!(path = %path.display(), "read obs-signd sign.conf");
                Some(SignConf::parse(&path.display().to_string(), &text)?)
            }
            None => None,
        };
        if toml.is_none() && signd.is_none() {
            tracing::debug!("no configuration file given; using defaults");
        }
        let mut config = Config::build(data_dir, toml.as_ref(), signd.as_ref())?;
        config.sign_conf_path = sign_conf_path;
        Ok(config)
    }

    /// Merges parsed inputs into a validated configuration. Pure.
    pub fn build(
        data_dir: Option<PathBuf>,
        toml: Option<&TomlConfig>,
        signd: Option<&SignConf>,
    ) -> Result<Config, ConfigError> {
        let empty = TomlConfig::default();
        let t = toml.unwrap_or(&empty);
        let mut warnings = Vec::new();
        if let Some(s) = signd {
            warnings.extend(s.warnings.iter().cloned());
        }

        let data_dir = data_dir
            .or_else(|| t.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));

        let server = build_server(t, signd, &mut warnings)?;

        let mut users = UserConfig {
            default_user: signd.and_then(|s| s.user.clone()),
            map: signd.map(|s| s.map.clone()).unwrap_or_default(),
        };
        if let Some(user) = &t.users.default_user {
            users.default_user = Some(user.clone());
        }
        if let Some(map) = &t.users.map {
            users
                .map
                .extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
        }

        let store = StoreConfig {
            url: match &t.store.url {
                Some(url) => {
                    let u = url.get_ref();
                    if !(u.starts_with("sqlite:")
                        || u.starts_with("postgres://")
                        || u.starts_with("postgresql://"))
                    {
                        return Err(ConfigError::Value {
                            at: t.at(url),
                            message: format!(
                                "bad store url '{u}' (expected sqlite: or postgres://)"
                            ),
                        });
                    }
                    u.clone()
                }
                None => format!("sqlite://{}", data_dir.join("signatrust.db").display()),
            },
        };

        let kms = build_kms(t, &data_dir)?;

        let cache = CacheConfig {
            ttl: Duration::from_secs(t.cache.ttl_secs.unwrap_or(30)),
            max_entries: t.cache.max_entries.unwrap_or(1024),
        };

        let defaults = ExecConfig::default();
        let exec = ExecConfig {
            workers: match &t.exec.workers {
                Some(w) => positive(t, w, "exec.workers")?,
                None => defaults.workers,
            },
            io_threads: match &t.exec.io_threads {
                Some(n) => positive(t, n, "exec.io_threads")?,
                None => defaults.io_threads,
            },
            io_scheduling: match &t.exec.io_scheduling {
                Some(v) => match v.get_ref().as_str() {
                    "batch" => IoScheduling::Batch,
                    "normal" => IoScheduling::Normal,
                    other => {
                        return Err(ConfigError::Value {
                            at: t.at(v),
                            message: format!(
                            "bad exec.io_scheduling '{other}' (expected \"batch\" or \"normal\")"
                        ),
                        })
                    }
                },
                None => defaults.io_scheduling,
            },
        };

        let log = LogConfig {
            level: match &t.log.level {
                Some(level) if level.get_ref().trim().is_empty() => {
                    return Err(ConfigError::Value {
                        at: t.at(level),
                        message: "log.level must not be empty".to_owned(),
                    });
                }
                Some(level) => level.get_ref().clone(),
                None => "info".to_owned(),
            },
            file: t
                .log
                .file
                .clone()
                .or_else(|| signd.and_then(|s| s.logfile.clone())),
        };

        Ok(Config {
            data_dir,
            server,
            users,
            store,
            kms,
            cache,
            exec,
            log,
            signd: signd.map(|s| s.paths.clone()),
            sign_conf_path: None,
            warnings,
        })
    }
}

fn build_server(
    t: &TomlConfig,
    signd: Option<&SignConf>,
    warnings: &mut Vec<String>,
) -> Result<ServerConfig, ConfigError> {
    let port = signd.map_or(sign_conf::DEFAULT_PORT, SignConf::listen_port);
    let listen = match &t.server.listen {
        Some(list) => {
            if list.is_empty() {
                return Err(ConfigError::Value {
                    at: Location::file(t.origin()),
                    message: "server.listen must name at least one address".to_owned(),
                });
            }
            let mut out = Vec::with_capacity(list.len());
            for item in list {
                let addr =
                    item.get_ref()
                        .parse::<SocketAddr>()
                        .map_err(|_| ConfigError::Value {
                            at: t.at(item),
                            message: format!("bad listen address '{}'", item.get_ref()),
                        })?;
                out.push(addr);
            }
            out
        }
        None => vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)],
    };

    let allow = match (&t.server.allow, signd) {
        (Some(list), _) => {
            let mut out = Vec::with_capacity(list.len());
            for item in list {
                let entry =
                    AllowEntry::parse(item.get_ref()).ok_or_else(|| ConfigError::Value {
                        at: t.at(item),
                        message: format!("bad allow entry '{}'", item.get_ref()),
                    })?;
                out.push(entry);
            }
            out
        }
        (None, Some(s)) => match &s.allow {
            Some(list) => list.clone(),
            None => {
                warnings.push(format!(
                    "{}: no allow: directive, so every client is refused (as in obs-signd)",
                    s.origin
                ));
                Vec::new()
            }
        },
        (None, None) => vec![
            AllowEntry::Net(IpAddr::V4(Ipv4Addr::LOCALHOST).into()),
            AllowEntry::Net(IpAddr::V6(Ipv6Addr::LOCALHOST).into()),
        ],
    };

    let allow_unprivileged_ports = t
        .server
        .allow_unprivileged_ports
        .or_else(|| signd.and_then(|s| s.allow_unprivileged_ports))
        .unwrap_or(false);

    let ms = |v: &Option<::toml::Spanned<u64>>, name: &str, default: u64| match v {
        Some(v) => positive(t, v, name).map(Duration::from_millis),
        None => Ok(Duration::from_millis(default)),
    };
    let read_timeout = ms(&t.server.read_timeout_ms, "server.read_timeout_ms", 10_000)?;
    let request_deadline = ms(
        &t.server.request_deadline_ms,
        "server.request_deadline_ms",
        30_000,
    )?;
    let idle_timeout = ms(&t.server.idle_timeout_ms, "server.idle_timeout_ms", 10_000)?;
    let max_connections = match &t.server.max_connections {
        Some(v) => positive(t, v, "server.max_connections")?,
        None => 1024,
    };
    let max_busy_refusals = match &t.server.max_busy_refusals {
        Some(v) => positive(t, v, "server.max_busy_refusals")?,
        None => 64,
    };
    let dns_timeout = ms(&t.server.dns_timeout_ms, "server.dns_timeout_ms", 2_000)?;

    let tls = match signd {
        Some(s) => TlsConfig {
            proto: s.incoming_proto(),
            files: s.incoming_tls_files(),
            allow_certless: s.ssl_allow_certless.unwrap_or(false),
            allow_subject: s.allow_subject.clone(),
        },
        None => TlsConfig::default(),
    };

    let upstream = signd.and_then(SignConf::upstream);
    let proxy_only = upstream.is_some() && signd.is_some_and(|s| s.paths.phrases.is_none());
    let max_request = match &t.server.max_request_bytes {
        Some(v) => positive(t, v, "server.max_request_bytes")?,
        None => crate::protocol::MAX_REQUEST,
    };

    Ok(ServerConfig {
        listen,
        allow,
        allow_unprivileged_ports,
        read_timeout,
        request_deadline,
        idle_timeout,
        max_connections,
        max_busy_refusals,
        dns_timeout,
        upstream,
        tls,
        proxy_only,
        max_request,
    })
}

/// `[kms]`: the provider and exactly the settings it uses.
fn build_kms(t: &TomlConfig, data_dir: &Path) -> Result<KmsConfig, ConfigError> {
    use self::toml::TomlKmsProvider;
    let k = &t.kms;
    let provider = k.provider.as_ref().map(|p| *p.get_ref());
    let value_err = |at: Location, message: String| ConfigError::Value { at, message };
    match provider {
        None | Some(TomlKmsProvider::File) => {
            let pkcs11_only = [
                ("module", k.module.as_ref().map(|v| t.at(v))),
                ("token_label", k.token_label.as_ref().map(|v| t.at(v))),
                ("key_label", k.key_label.as_ref().map(|v| t.at(v))),
                ("pin_file", k.pin_file.as_ref().map(|v| t.at(v))),
            ];
            if let Some((name, Some(at))) = pkcs11_only.into_iter().find(|(_, at)| at.is_some()) {
                return Err(value_err(
                    at,
                    format!("kms.{name} is only for provider = \"pkcs11\" (provider is \"file\")"),
                ));
            }
            Ok(KmsConfig::File {
                key_file: k
                    .key_file
                    .as_ref()
                    .map(|v| v.get_ref().clone())
                    .unwrap_or_else(|| data_dir.join("kek.key")),
            })
        }
        Some(TomlKmsProvider::Pkcs11) => {
            let provider_at = k
                .provider
                .as_ref()
                .map_or_else(|| Location::file(t.origin()), |p| t.at(p));
            if let Some(v) = &k.key_file {
                return Err(value_err(
                    t.at(v),
                    "kms.key_file is only for provider = \"file\" (provider is \"pkcs11\")"
                        .to_owned(),
                ));
            }
            let missing = |name: &str, what: &str| {
                value_err(
                    provider_at.clone(),
                    format!("provider = \"pkcs11\" needs kms.{name} ({what})"),
                )
            };
            let module = k
                .module
                .as_ref()
                .ok_or_else(|| missing("module", "the path of the PKCS#11 module"))?;
            if module.get_ref().as_os_str().is_empty() {
                return Err(value_err(
                    t.at(module),
                    "kms.module must not be empty".into(),
                ));
            }
            let label = |v: &Option<::toml::Spanned<String>>, name: &str, what: &str| match v {
                None => Err(missing(name, what)),
                Some(s) if s.get_ref().trim().is_empty() => {
                    Err(value_err(t.at(s), format!("kms.{name} must not be empty")))
                }
                Some(s) => Ok(s.get_ref().clone()),
            };
            let token_label = label(&k.token_label, "token_label", "the label of the token")?;
            let key_label = label(&k.key_label, "key_label", "the label of the AES key")?;
            Ok(KmsConfig::Pkcs11 {
                module: module.get_ref().clone(),
                token_label,
                key_label,
                pin_file: k.pin_file.as_ref().map(|v| v.get_ref().clone()),
            })
        }
    }
}

/// A number that must not be zero.
fn positive<T>(t: &TomlConfig, v: &::toml::Spanned<T>, name: &str) -> Result<T, ConfigError>
where
    T: Copy + PartialEq + Default + fmt::Display,
{
    let n = *v.get_ref();
    if n == T::default() {
        return Err(ConfigError::Value {
            at: t.at(v),
            message: format!("{name} must be greater than 0"),
        });
    }
    Ok(n)
}

/// Convenience for callers that only have a path: the sign.conf alone.
pub fn load_sign_conf_file(path: &Path) -> Result<SignConf, ConfigError> {
    SignConf::load_file(path)
}

/// Convenience for callers that only have a path: the TOML file alone.
pub fn load_toml_file(path: &Path) -> Result<TomlConfig, ConfigError> {
    TomlConfig::load_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER_CONF: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/obs-sign-fixtures/signd-state/server.conf"
    );

    fn load(
        src: &MemorySource,
        data_dir: Option<&str>,
        config: Option<&str>,
        sign_conf: Option<&str>,
    ) -> Result<Config, ConfigError> {
        Config::load_from(
            src,
            data_dir.map(PathBuf::from),
            config.map(PathBuf::from),
            sign_conf.map(PathBuf::from),
        )
    }

    fn localhost_only() -> Vec<AllowEntry> {
        vec![
            AllowEntry::parse("127.0.0.1").unwrap(),
            AllowEntry::parse("::1").unwrap(),
        ]
    }

    #[test]
    fn defaults_without_any_file() {
        let c = load(&MemorySource::new(), None, None, None).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/signatrust"));
        assert_eq!(c.server.listen, ["0.0.0.0:5167".parse().unwrap()]);
        assert_eq!(c.server.allow, localhost_only());
        assert!(!c.server.allow_unprivileged_ports);
        assert_eq!(c.server.read_timeout, Duration::from_secs(10));
        assert_eq!(c.server.request_deadline, Duration::from_secs(30));
        assert_eq!(c.server.idle_timeout, Duration::from_secs(10));
        assert_eq!(c.server.max_connections, 1024);
        assert_eq!(c.server.dns_timeout, Duration::from_secs(2));
        assert_eq!(c.server.max_busy_refusals, 64);
        assert_eq!(c.server.upstream, None);
        assert_eq!(c.server.tls, TlsConfig::default());
        assert_eq!(c.users, UserConfig::default());
        assert_eq!(c.store.url, "sqlite:///var/lib/signatrust/signatrust.db");
        assert_eq!(
            c.kms,
            KmsConfig::File {
                key_file: PathBuf::from("/var/lib/signatrust/kek.key")
            }
        );
        assert_eq!(c.cache.ttl, Duration::from_secs(30));
        assert_eq!(c.cache.max_entries, 1024);
        assert!(c.exec.workers >= 1);
        assert_eq!(c.log.level, "info");
        assert_eq!(c.log.file, None);
        assert_eq!(c.signd, None);
        assert_eq!(c.sign_conf_path, None);
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn data_dir_precedence_and_derived_paths() {
        let src = MemorySource::new().with("/etc/st.toml", "data_dir = \"/from/toml\"\n");
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from/toml"));
        assert_eq!(c.store.url, "sqlite:///from/toml/signatrust.db");
        let c = load(&src, Some("/from/cli"), Some("/etc/st.toml"), None).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from/cli"));
        assert_eq!(
            c.kms,
            KmsConfig::File {
                key_file: PathBuf::from("/from/cli/kek.key")
            }
        );
    }

    #[test]
    fn sign_conf_precedence() {
        let src = MemorySource::new()
            .with("/etc/st.toml", "sign_conf = \"/etc/toml-sign.conf\"\n")
            .with("/etc/toml-sign.conf", "port: 1111\nallow: 10/8\n")
            .with("/etc/cli-sign.conf", "port: 2222\nallow: 10/8\n");
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(c.server.listen[0].port(), 1111);
        assert_eq!(c.sign_conf_path, Some(PathBuf::from("/etc/toml-sign.conf")));
        let c = load(&src, None, Some("/etc/st.toml"), Some("/etc/cli-sign.conf")).unwrap();
        assert_eq!(c.server.listen[0].port(), 2222);
        assert_eq!(c.sign_conf_path, Some(PathBuf::from("/etc/cli-sign.conf")));
    }

    #[test]
    fn fixture_server_conf_through_load() {
        let c = Config::load(None, None, Some(PathBuf::from(SERVER_CONF))).unwrap();
        assert_eq!(c.warnings, Vec::<String>::new());
        assert_eq!(c.server.listen, ["0.0.0.0:5167".parse().unwrap()]);
        assert_eq!(c.server.allow, [AllowEntry::parse("127.0.0.1").unwrap()]);
        assert_eq!(c.server.upstream, None);
        assert_eq!(c.users.default_user.as_deref(), Some("defaultkey@localobs"));
        assert_eq!(
            c.users.map.get("SHA512:mapsha512").map(String::as_str),
            Some("defaultkeysec@localobs")
        );
        assert_eq!(
            c.users.map.get("maptest").map(String::as_str),
            Some("defaultkey@localobs")
        );
        let paths = c.signd.unwrap();
        assert_eq!(paths.phrases, Some(PathBuf::from("@STATE@/phrases")));
        assert_eq!(c.log.file, Some(PathBuf::from("@STATE@/signd.log")));
    }

    #[test]
    fn toml_server_overrides_sign_conf() {
        let src = MemorySource::new()
            .with(
                "/etc/sign.conf",
                "port: 5167\nproxyport: 5168\nallow: 10/8\nallow-unprivileged-ports: false\n\
                 user: a\nmap: x y\nmap: z w\nlogfile: /var/log/signd.log\n",
            )
            .with(
                "/etc/st.toml",
                "[server]\nlisten = [\"127.0.0.1:7000\", \"[::1]:7000\"]\nallow = [\"192.168/16\"]\n\
                 allow_unprivileged_ports = true\n[users]\ndefault_user = \"b\"\nmap = { x = \"q\" }\n\
                 [log]\nfile = \"/var/log/st.log\"\n",
            );
        let c = load(&src, None, Some("/etc/st.toml"), Some("/etc/sign.conf")).unwrap();
        assert_eq!(
            c.server.listen,
            [
                "127.0.0.1:7000".parse::<SocketAddr>().unwrap(),
                "[::1]:7000".parse().unwrap()
            ]
        );
        assert_eq!(
            c.server.allow,
            [AllowEntry::parse("192.168.0.0/16").unwrap()]
        );
        assert!(c.server.allow_unprivileged_ports);
        assert_eq!(c.users.default_user.as_deref(), Some("b"));
        assert_eq!(c.users.map.get("x").map(String::as_str), Some("q"));
        assert_eq!(c.users.map.get("z").map(String::as_str), Some("w"));
        assert_eq!(c.log.file, Some(PathBuf::from("/var/log/st.log")));
        // The upstream is still sign.conf's: port 5167 on 127.0.0.1.
        let up = c.server.upstream.unwrap();
        assert_eq!((up.host.as_str(), up.port), ("127.0.0.1", 5167));
    }

    #[test]
    fn sign_conf_values_apply_without_toml_overrides() {
        let src = MemorySource::new().with(
            "/etc/sign.conf",
            "proxyport: 5168\nport: 15169\nallow: 10/8 ::1\nallow-unprivileged-ports: true\n",
        );
        let c = load(&src, None, None, Some("/etc/sign.conf")).unwrap();
        assert_eq!(c.server.listen, ["0.0.0.0:5168".parse().unwrap()]);
        assert_eq!(c.server.allow.len(), 2);
        assert!(c.server.allow_unprivileged_ports);
        assert_eq!(c.server.upstream.unwrap().port, 15169);
    }

    #[test]
    fn sign_conf_without_allow_refuses_everyone() {
        let src = MemorySource::new().with("/etc/sign.conf", "port: 5167\n");
        let c = load(&src, None, None, Some("/etc/sign.conf")).unwrap();
        assert!(c.server.allow.is_empty());
        assert_eq!(
            c.warnings,
            ["/etc/sign.conf: no allow: directive, so every client is refused (as in obs-signd)"]
        );
        // An explicit empty allow: line refuses everyone without a warning.
        let src = MemorySource::new().with("/etc/sign.conf", "allow:\n");
        let c = load(&src, None, None, Some("/etc/sign.conf")).unwrap();
        assert!(c.server.allow.is_empty());
        assert!(c.warnings.is_empty());
        // A TOML-only deployment keeps the localhost default.
        let src = MemorySource::new().with("/etc/st.toml", "[server]\nmax_connections = 5\n");
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(c.server.allow, localhost_only());
        assert_eq!(c.server.max_connections, 5);
    }

    #[test]
    fn dns_timeout_has_its_own_setting() {
        let src = MemorySource::new().with(
            "/etc/st.toml",
            "[server]\nread_timeout_ms = 9000\ndns_timeout_ms = 250\n",
        );
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(c.server.dns_timeout, Duration::from_millis(250));
        assert_eq!(c.server.read_timeout, Duration::from_secs(9));
        let src = MemorySource::new().with("/etc/st.toml", "[server]\ndns_timeout_ms = 0\n");
        let e = load(&src, None, Some("/etc/st.toml"), None).unwrap_err();
        assert!(
            e.to_string()
                .contains("server.dns_timeout_ms must be greater than 0"),
            "{e}"
        );
    }

    #[test]
    fn exec_threads_and_scheduling() {
        let c = load(&MemorySource::new(), None, None, None).unwrap();
        assert_eq!(c.exec, ExecConfig::default());
        assert_eq!(c.exec.io_scheduling, IoScheduling::Batch);
        assert!(c.exec.io_threads >= 1 && c.exec.io_threads <= c.exec.workers);
        let src = MemorySource::new().with(
            "/etc/st.toml",
            "[exec]\nworkers = 3\nio_threads = 2\nio_scheduling = \"normal\"\n",
        );
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(
            c.exec,
            ExecConfig {
                workers: 3,
                io_threads: 2,
                io_scheduling: IoScheduling::Normal
            }
        );
        let src = MemorySource::new().with("/etc/st.toml", "[exec]\nio_threads = 0\n");
        let e = load(&src, None, Some("/etc/st.toml"), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/st.toml:2:14: exec.io_threads must be greater than 0"
        );
        let src = MemorySource::new().with("/etc/st.toml", "[exec]\nio_scheduling = \"fifo\"\n");
        let e = load(&src, None, Some("/etc/st.toml"), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/st.toml:2:17: bad exec.io_scheduling 'fifo' (expected \"batch\" or \"normal\")"
        );
    }

    #[test]
    fn sign_conf_warnings_are_carried() {
        let src = MemorySource::new().with("/etc/sign.conf", "allow: 1.2.3.4\nbogus: 1\n");
        let c = load(&src, None, None, Some("/etc/sign.conf")).unwrap();
        assert_eq!(c.warnings, ["/etc/sign.conf:2: unknown directive 'bogus'"]);
    }

    #[test]
    fn tls_resolved_from_sign_conf() {
        let src = MemorySource::new().with(
            "/etc/sign.conf",
            "allow: 1.2.3.4\nproxyproto: ssl\nssl_certfile: /c\nssl_keyfile: /k\n\
             proxyssl_verifyfile: /ca\nallow_subject: CN=a b\n",
        );
        let c = load(&src, None, None, Some("/etc/sign.conf")).unwrap();
        assert_eq!(c.server.tls.proto, Proto::Ssl);
        assert_eq!(c.server.tls.files.certfile, Some(PathBuf::from("/c")));
        assert_eq!(c.server.tls.files.verifyfile, Some(PathBuf::from("/ca")));
        assert!(!c.server.tls.allow_certless);
        assert_eq!(
            c.server.tls.allow_subject,
            [SubjectPattern::Exact("CN=a b".into())]
        );
    }

    #[test]
    fn errors_name_the_file() {
        let src = MemorySource::new()
            .with("/etc/st.toml", "[server]\nlisten = [\"0.0.0.0\"]\n")
            .with(
                "/etc/bad.toml",
                "[server]\nallow = [\"ok.host\", \"300.1.1.1/8\"]\n",
            )
            .with("/etc/zero.toml", "[server]\nread_timeout_ms = 0\n")
            .with("/etc/empty.toml", "[server]\nlisten = []\n")
            .with("/etc/url.toml", "[store]\nurl = \"mysql://x\"\n")
            .with(
                "/etc/unknown.toml",
                "[store]\nurl = \"sqlite://x\"\npath = \"y\"\n",
            )
            .with("/etc/sign.conf", "port: abc\n");
        let e = |config: Option<&str>, sign: Option<&str>| {
            load(&src, None, config, sign).unwrap_err().to_string()
        };
        assert_eq!(
            e(Some("/etc/st.toml"), None),
            "/etc/st.toml:2:11: bad listen address '0.0.0.0'"
        );
        assert_eq!(
            e(Some("/etc/bad.toml"), None),
            "/etc/bad.toml:2:21: bad allow entry '300.1.1.1/8'"
        );
        assert_eq!(
            e(Some("/etc/zero.toml"), None),
            "/etc/zero.toml:2:19: server.read_timeout_ms must be greater than 0"
        );
        assert_eq!(
            e(Some("/etc/empty.toml"), None),
            "/etc/empty.toml: server.listen must name at least one address"
        );
        assert_eq!(
            e(Some("/etc/url.toml"), None),
            "/etc/url.toml:2:7: bad store url 'mysql://x' (expected sqlite: or postgres://)"
        );
        let unknown = e(Some("/etc/unknown.toml"), None);
        assert!(
            unknown.starts_with("/etc/unknown.toml:3:1: unknown field `path`"),
            "{unknown}"
        );
        assert_eq!(
            e(None, Some("/etc/sign.conf")),
            "/etc/sign.conf:1: bad port 'abc'"
        );
        assert_eq!(
            e(Some("/etc/missing.toml"), None),
            "/etc/missing.toml: no such file"
        );
        assert_eq!(
            e(None, Some("/etc/missing.conf")),
            "/etc/missing.conf: no such file"
        );
    }

    #[test]
    fn kms_pkcs11_parses() {
        let src = MemorySource::new().with(
            "/etc/st.toml",
            "[kms]\nprovider = \"pkcs11\"\nmodule = \"/usr/lib/softhsm/libsofthsm2.so\"\n\
             token_label = \"signatrust\"\nkey_label = \"signatrust-kek\"\n\
             pin_file = \"/etc/signatrust/hsm.pin\"\n",
        );
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(
            c.kms,
            KmsConfig::Pkcs11 {
                module: PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
                token_label: "signatrust".into(),
                key_label: "signatrust-kek".into(),
                pin_file: Some(PathBuf::from("/etc/signatrust/hsm.pin")),
            }
        );
        // Without pin_file the PIN comes from the environment at open time.
        let src = MemorySource::new().with(
            "/etc/st.toml",
            "[kms]\nprovider = \"pkcs11\"\nmodule = \"/m.so\"\ntoken_label = \"t\"\n\
             key_label = \"k\"\n",
        );
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert!(
            matches!(c.kms, KmsConfig::Pkcs11 { pin_file: None, .. }),
            "{:?}",
            c.kms
        );
    }

    #[test]
    fn kms_errors_name_the_spot() {
        let e = |text: &str| {
            let src = MemorySource::new().with("/etc/st.toml", text);
            load(&src, None, Some("/etc/st.toml"), None)
                .unwrap_err()
                .to_string()
        };
        let full = "module = \"/m.so\"\ntoken_label = \"t\"\nkey_label = \"k\"\n";
        // Each required pkcs11 setting, missing: the provider line is named.
        for (drop, what) in [
            ("module", "kms.module (the path of the PKCS#11 module)"),
            ("token_label", "kms.token_label (the label of the token)"),
            ("key_label", "kms.key_label (the label of the AES key)"),
        ] {
            let rest: String = full
                .lines()
                .filter(|l| !l.starts_with(drop))
                .map(|l| format!("{l}\n"))
                .collect();
            assert_eq!(
                e(&format!("[kms]\nprovider = \"pkcs11\"\n{rest}")),
                format!("/etc/st.toml:2:12: provider = \"pkcs11\" needs {what}")
            );
        }
        assert_eq!(
            e("[kms]\nprovider = \"pkcs11\"\nmodule = \"/m.so\"\ntoken_label = \" \"\nkey_label = \"k\"\n"),
            "/etc/st.toml:4:15: kms.token_label must not be empty"
        );
        assert_eq!(
            e(&format!("[kms]\nprovider = \"pkcs11\"\n{full}key_file = \"/kek\"\n")),
            "/etc/st.toml:6:12: kms.key_file is only for provider = \"file\" (provider is \"pkcs11\")"
        );
        assert_eq!(
            e("[kms]\nprovider = \"file\"\nmodule = \"/m.so\"\n"),
            "/etc/st.toml:3:10: kms.module is only for provider = \"pkcs11\" (provider is \"file\")"
        );
        // The default provider is file, so a stray pin_file is refused too.
        assert_eq!(
            e("[kms]\npin_file = \"/p\"\n"),
            "/etc/st.toml:2:12: kms.pin_file is only for provider = \"pkcs11\" (provider is \"file\")"
        );
        let unknown = e("[kms]\nprovider = \"pkcs11\"\npin = \"1234\"\n");
        assert!(
            unknown.starts_with("/etc/st.toml:3:1: unknown field `pin`"),
            "{unknown}"
        );
        assert!(!unknown.contains("1234"), "{unknown}");
    }

    #[test]
    fn location_display() {
        assert_eq!(Location::file("f").to_string(), "f");
        assert_eq!(Location::line("f", 3).to_string(), "f:3");
        let l = Location {
            origin: "f".into(),
            line: Some(3),
            column: Some(4),
        };
        assert_eq!(l.to_string(), "f:3:4");
    }
}
