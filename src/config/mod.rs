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
//! [`Config`] is a record of the subsystems' own settings types
//! ([`EdgeSettings`], [`AccessPolicy`], [`TlsSettings`], [`UpstreamSettings`],
//! [`UserRules`], [`StoreUrl`], [`CacheConfig`], [`ExecConfig`],
//! [`LogConfig`]). Their defaults and bounds are constants next to them;
//! this module only fills them in and names the file, line and column of a
//! value out of bounds.
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
//! * Timeouts and limits: [`EdgeSettings::default`] (read 10 s, whole
//!   request 30 s, idle 10 s, 1024 concurrent connections); one sign worker
//!   per CPU, keygen threads half the CPUs (at least one), a keygen waits
//!   for one at most 15 s ([`ExecConfig::default`]).
//! * Store `sqlite://<data_dir>/signatrust.db`, file KEK `<data_dir>/kek.key`,
//!   key cache [`CacheConfig::default`] (30 s, 1024 entries), log level
//!   [`DEFAULT_LOG_LEVEL`].

pub mod sign_conf;
pub mod source;
pub mod toml;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::toml::Spanned;
use thiserror::Error;

pub use self::sign_conf::{Directive, Directives, SignConf, SignConfPaths};
pub use self::source::{FileSource, MemorySource, Source};
pub use self::toml::TomlConfig;
use crate::audit::{AuditSettings, OnFailure, MAX_AUDIT_BATCH, MAX_AUDIT_QUEUE};
use crate::commands::UserRules;
use crate::exec::{
    ExecConfig, IoScheduling, MAX_IO_THREADS, MAX_KEYGEN_TIMEOUT, MAX_KEYGEN_WORKERS, MAX_WORKERS,
};
use crate::keys::{CacheConfig, StoreUrl, MAX_CACHE_CAPACITY, MAX_CACHE_TTL, MAX_STALE_IF_ERROR};
use crate::logging::{LogConfig, LogFormat, DEFAULT_LOG_LEVEL};
use crate::server::access::{AccessPolicy, Allow};
use crate::server::settings::{
    EdgeSettings, TlsSettings, UpstreamSettings, DEFAULT_UPSTREAM_TIMEOUT, MAX_CONNECTIONS,
    MAX_REQUEST, MAX_TIMEOUT,
};

/// Where the embedded store and the KEK file live unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/signatrust";
/// The embedded store's file in the data directory.
pub const STORE_FILE: &str = "signatrust.db";
/// The file KEK's file in the data directory.
pub const KEK_FILE: &str = "kek.key";

/// `[kms] timeout_ms` (provider `aws-kms`): default and upper bound of one
/// KMS call, retries included.
pub const DEFAULT_KMS_TIMEOUT_MS: u64 = 5_000;
pub const MAX_KMS_TIMEOUT_MS: u64 = 300_000;
/// `[kms] max_attempts` (provider `aws-kms`): default and upper bound.
pub const DEFAULT_KMS_ATTEMPTS: u32 = 3;
pub const MAX_KMS_ATTEMPTS: u32 = 10;

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
    /// A symmetric key in AWS KMS or an API-compatible service;
    /// credentials from the standard AWS chain.
    AwsKms {
        /// Key ID, key ARN, `alias/NAME` or alias ARN.
        key_id: String,
        /// `None`: `$AWS_REGION` or the profile's.
        region: Option<String>,
        /// An `http(s)://` URL replacing AWS's endpoint.
        endpoint: Option<String>,
        /// Bound on one KMS call, retries included, in milliseconds.
        timeout_ms: u64,
        /// Attempts per KMS call, at least 1.
        max_attempts: u32,
    },
}

/// Everything the daemon needs, validated: a record of each subsystem's
/// settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Addresses to bind.
    pub listen: Vec<SocketAddr>,
    /// Source ports and the `allow:` list; an empty list refuses everyone.
    pub access: AccessPolicy,
    /// Limits and timeouts of the listening side.
    pub edge: EdgeSettings,
    /// TLS of the listening side, from sign.conf.
    pub tls: TlsSettings,
    /// Where unknown users are forwarded; `None` answers `unknown key`.
    pub upstream: Option<UpstreamSettings>,
    /// User-field rewriting, and the pure "signproxy" role (an upstream and
    /// no `phrases:`: every request is forwarded).
    pub users: UserRules,
    /// The key database.
    pub store_url: StoreUrl,
    /// The KEK provider.
    pub kms: KmsConfig,
    /// The cache of unwrapped keys.
    pub cache: CacheConfig,
    /// Signing threads and network threads.
    pub exec: ExecConfig,
    /// Log filter and the signd log file.
    pub log: LogConfig,
    /// `[security] lock_memory`: lock all memory (`mlockall`) at start-up,
    /// so key material is never written to swap; start-up fails if it
    /// cannot. Default off.
    pub lock_memory: bool,
    /// The audit trail (`[audit]`).
    pub audit: AuditSettings,
    /// Where `/metrics`, `/healthz` and `/readyz` are served
    /// (`[metrics] listen`); `None`: nowhere (the default).
    pub metrics_listen: Option<SocketAddr>,
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

    /// Replaces the store URL (the command line's `--database-url` or the
    /// environment's `$SIGNATRUST_DATABASE_URL`, which win over `[store]
    /// url`); `origin` names where it came from, for the error.
    ///
    /// # Errors
    /// [`ConfigError::Value`] for a URL that is not `sqlite:` or `postgres:`.
    pub fn set_store_url(&mut self, url: &str, origin: &str) -> Result<(), ConfigError> {
        self.store_url = StoreUrl::parse(url).map_err(|e| ConfigError::Value {
            at: Location::file(origin),
            message: e.to_string(),
        })?;
        Ok(())
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
        let credentials = source.credentials_directory();
        let mut config = Config::build(
            data_dir,
            toml.as_ref(),
            signd.as_ref(),
            credentials.as_deref(),
        )?;
        config.sign_conf_path = sign_conf_path;
        Ok(config)
    }

    /// Merges parsed inputs into a validated configuration. Pure.
    /// `credentials` is systemd's `$CREDENTIALS_DIRECTORY`, which
    /// `${CREDENTIALS_DIRECTORY}` at the start of a `[kms]` path stands for.
    pub fn build(
        data_dir: Option<PathBuf>,
        toml: Option<&TomlConfig>,
        signd: Option<&SignConf>,
        credentials: Option<&Path>,
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

        // Checked even without an upstream: a bad value is an error anyway.
        let timeout = upstream_timeout(t)?;
        let upstream = signd
            .and_then(SignConf::upstream)
            .map(|up| UpstreamSettings { timeout, ..up });
        let proxy_only = upstream.is_some() && signd.is_some_and(|s| s.paths.phrases.is_none());
        let mut users = UserRules {
            default_user: signd.and_then(|s| s.user.clone()),
            map: signd.map(|s| s.map.clone()).unwrap_or_default(),
            proxy_only,
        };
        if let Some(user) = &t.users.default_user {
            users.default_user = Some(user.clone());
        }
        if let Some(map) = &t.users.map {
            users
                .map
                .extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
        }

        let store_url = match &t.store.url {
            Some(url) => StoreUrl::parse(url.get_ref()).map_err(|e| ConfigError::Value {
                at: t.at(url),
                message: e.to_string(),
            })?,
            None => StoreUrl::sqlite_file(&data_dir.join(STORE_FILE)),
        };

        let edge = build_edge(t)?;
        let exec = build_exec(t, &edge)?;
        Ok(Config {
            listen: build_listen(t, signd)?,
            access: build_access(t, signd, &mut warnings)?,
            edge,
            tls: signd.map(build_tls).unwrap_or_default(),
            upstream,
            users,
            store_url,
            kms: build_kms(t, &data_dir, credentials)?,
            cache: build_cache(t)?,
            exec,
            log: build_log(t, signd)?,
            lock_memory: t.security.lock_memory.unwrap_or(false),
            audit: build_audit(t)?,
            metrics_listen: match &t.metrics.listen {
                Some(v) => Some(v.get_ref().parse().map_err(|_| ConfigError::Value {
                    at: t.at(v),
                    message: format!(
                        "bad metrics.listen '{}' (expected address:port, e.g. 127.0.0.1:9167)",
                        v.get_ref()
                    ),
                })?),
                None => None,
            },
            data_dir,
            signd: signd.map(|s| s.paths.clone()),
            sign_conf_path: None,
            warnings,
        })
    }
}

/// `[server] listen`, else `0.0.0.0` on sign.conf's port.
fn build_listen(t: &TomlConfig, signd: Option<&SignConf>) -> Result<Vec<SocketAddr>, ConfigError> {
    let Some(list) = &t.server.listen else {
        let port = signd.map_or(sign_conf::DEFAULT_PORT, SignConf::listen_port);
        return Ok(vec![SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
        )]);
    };
    if list.is_empty() {
        return Err(ConfigError::Value {
            at: Location::file(t.origin()),
            message: "server.listen must name at least one address".to_owned(),
        });
    }
    list.iter()
        .map(|item| {
            item.get_ref()
                .parse::<SocketAddr>()
                .map_err(|_| ConfigError::Value {
                    at: t.at(item),
                    message: format!("bad listen address '{}'", item.get_ref()),
                })
        })
        .collect()
}

/// `[server] allow` and `allow_unprivileged_ports`, else sign.conf's.
fn build_access(
    t: &TomlConfig,
    signd: Option<&SignConf>,
    warnings: &mut Vec<String>,
) -> Result<AccessPolicy, ConfigError> {
    let allow = match (&t.server.allow, signd) {
        (Some(list), _) => {
            let mut out = Vec::with_capacity(list.len());
            for item in list {
                let entry = Allow::parse(item.get_ref()).ok_or_else(|| ConfigError::Value {
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
        (None, None) => Allow::loopback(),
    };
    let allow_unprivileged_ports = t
        .server
        .allow_unprivileged_ports
        .or_else(|| signd.and_then(|s| s.allow_unprivileged_ports))
        .unwrap_or(false);
    Ok(AccessPolicy {
        allow,
        allow_unprivileged_ports,
    })
}

/// `[server]` limits and timeouts over [`EdgeSettings::default`].
fn build_edge(t: &TomlConfig) -> Result<EdgeSettings, ConfigError> {
    let s = &t.server;
    let max_ms = MAX_TIMEOUT.as_millis() as u64;
    let ms = |v: &Option<Spanned<u64>>, name: &str, default: Duration| match v {
        Some(v) => bounded(t, v, name, 1..=max_ms).map(Duration::from_millis),
        None => Ok(default),
    };
    let count = |v: &Option<Spanned<usize>>, name: &str, max: usize, default: usize| match v {
        Some(v) => bounded(t, v, name, 1..=max),
        None => Ok(default),
    };
    let d = EdgeSettings::default();
    Ok(EdgeSettings {
        read_timeout: ms(&s.read_timeout_ms, "server.read_timeout_ms", d.read_timeout)?,
        idle_timeout: ms(&s.idle_timeout_ms, "server.idle_timeout_ms", d.idle_timeout)?,
        max_request: count(
            &s.max_request_bytes,
            "server.max_request_bytes",
            MAX_REQUEST,
            d.max_request,
        )?,
        dns_timeout: ms(&s.dns_timeout_ms, "server.dns_timeout_ms", d.dns_timeout)?,
        request_deadline: ms(
            &s.request_deadline_ms,
            "server.request_deadline_ms",
            d.request_deadline,
        )?,
        max_connections: count(
            &s.max_connections,
            "server.max_connections",
            MAX_CONNECTIONS,
            d.max_connections,
        )?,
        max_busy_refusals: count(
            &s.max_busy_refusals,
            "server.max_busy_refusals",
            MAX_CONNECTIONS,
            d.max_busy_refusals,
        )?,
        proxy_protocol_from: build_proxy_protocol_from(t)?,
        drain_grace: match &s.drain_grace_ms {
            Some(v) => {
                bounded(t, v, "server.drain_grace_ms", 0..=max_ms).map(Duration::from_millis)?
            }
            None => d.drain_grace,
        },
    })
}

/// `[server] proxy_protocol_from`: addresses or CIDR blocks (IPv4 short
/// forms as in `allow`); host names are refused, since a balancer is
/// judged before any DNS lookup could be.
fn build_proxy_protocol_from(t: &TomlConfig) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let Some(list) = &t.server.proxy_protocol_from else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|item| match Allow::parse(item.get_ref()) {
            Some(Allow::Net(net)) => Ok(net),
            _ => Err(ConfigError::Value {
                at: t.at(item),
                message: format!(
                    "bad server.proxy_protocol_from entry '{}' (expected an address or a CIDR block, e.g. 10.0.0.5 or 10.0.0.0/24)",
                    item.get_ref()
                ),
            }),
        })
        .collect()
}

/// `[server] upstream_timeout_ms`, bounded like the other timeouts.
fn upstream_timeout(t: &TomlConfig) -> Result<Duration, ConfigError> {
    match &t.server.upstream_timeout_ms {
        Some(v) => bounded(
            t,
            v,
            "server.upstream_timeout_ms",
            1..=MAX_TIMEOUT.as_millis() as u64,
        )
        .map(Duration::from_millis),
        None => Ok(DEFAULT_UPSTREAM_TIMEOUT),
    }
}

/// The listening side's TLS, with obs-signd's `proxyssl_*`/`ssl_*` fallbacks.
fn build_tls(s: &SignConf) -> TlsSettings {
    TlsSettings {
        proto: s.incoming_proto(),
        files: s.incoming_tls_files(),
        allow_certless: s.ssl_allow_certless.unwrap_or(false),
        allow_subject: s.allow_subject.clone(),
    }
}

/// `[cache]` over [`CacheConfig::default`]; zero turns the cache off.
fn build_cache(t: &TomlConfig) -> Result<CacheConfig, ConfigError> {
    let d = CacheConfig::default();
    Ok(CacheConfig {
        capacity: match &t.cache.max_entries {
            Some(v) => bounded(t, v, "cache.max_entries", 0..=MAX_CACHE_CAPACITY)?,
            None => d.capacity,
        },
        ttl: match &t.cache.ttl_secs {
            Some(v) => Duration::from_secs(bounded(
                t,
                v,
                "cache.ttl_secs",
                0..=MAX_CACHE_TTL.as_secs(),
            )?),
            None => d.ttl,
        },
        stale_if_error: match &t.cache.stale_if_error_secs {
            Some(v) => Duration::from_secs(bounded(
                t,
                v,
                "cache.stale_if_error_secs",
                0..=MAX_STALE_IF_ERROR.as_secs(),
            )?),
            None => d.stale_if_error,
        },
    })
}

/// `[exec]` over [`ExecConfig::default`]. A keygen's wait for a keygen
/// thread must end before the request deadline, or the client would get
/// `request timed out` instead of the keygen's own text: an explicit
/// `keygen_timeout_ms` below `server.request_deadline_ms` is required, and
/// the default is at most half the request deadline.
fn build_exec(t: &TomlConfig, edge: &EdgeSettings) -> Result<ExecConfig, ConfigError> {
    let d = ExecConfig::default();
    let deadline = edge.request_deadline;
    Ok(ExecConfig {
        workers: match &t.exec.workers {
            Some(w) => bounded(t, w, "exec.workers", 1..=MAX_WORKERS)?,
            None => d.workers,
        },
        io_threads: match &t.exec.io_threads {
            Some(n) => bounded(t, n, "exec.io_threads", 1..=MAX_IO_THREADS)?,
            None => d.io_threads,
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
            None => d.io_scheduling,
        },
        keygen_workers: match &t.exec.keygen_workers {
            Some(n) => bounded(t, n, "exec.keygen_workers", 1..=MAX_KEYGEN_WORKERS)?,
            None => d.keygen_workers,
        },
        keygen_timeout: match &t.exec.keygen_timeout_ms {
            Some(v) => {
                let max = MAX_KEYGEN_TIMEOUT.as_millis() as u64;
                let timeout =
                    Duration::from_millis(bounded(t, v, "exec.keygen_timeout_ms", 1..=max)?);
                if timeout >= deadline {
                    return Err(ConfigError::Value {
                        at: t.at(v),
                        message: format!(
                            "exec.keygen_timeout_ms must be less than server.request_deadline_ms ({})",
                            deadline.as_millis()
                        ),
                    });
                }
                timeout
            }
            None => d.keygen_timeout.min(deadline / 2),
        },
    })
}

/// `[log]`: the filter, and the signd log file (else sign.conf's `logfile:`).
fn build_log(t: &TomlConfig, signd: Option<&SignConf>) -> Result<LogConfig, ConfigError> {
    let level = match &t.log.level {
        Some(level) => {
            crate::logging::check_level(level.get_ref()).map_err(|why| ConfigError::Value {
                at: t.at(level),
                message: format!("log.level {why}"),
            })?;
            level.get_ref().clone()
        }
        None => DEFAULT_LOG_LEVEL.to_owned(),
    };
    let format = match &t.log.format {
        Some(f) => LogFormat::parse(f.get_ref()).ok_or_else(|| ConfigError::Value {
            at: t.at(f),
            message: format!(
                "bad log.format '{}' (expected \"text\" or \"json\")",
                f.get_ref()
            ),
        })?,
        None => LogFormat::Text,
    };
    Ok(LogConfig {
        level,
        format,
        file: t
            .log
            .file
            .clone()
            .or_else(|| signd.and_then(|s| s.logfile.clone())),
    })
}

/// `[audit]` over [`AuditSettings::default`] (on, refusing on failure).
fn build_audit(t: &TomlConfig) -> Result<AuditSettings, ConfigError> {
    let a = &t.audit;
    let d = AuditSettings::default();
    Ok(AuditSettings {
        enabled: a.enabled.unwrap_or(d.enabled),
        on_failure: match &a.on_failure {
            None => d.on_failure,
            Some(v) => match v.get_ref().as_str() {
                "refuse" => OnFailure::Refuse,
                "log" => OnFailure::Log,
                other => {
                    return Err(ConfigError::Value {
                        at: t.at(v),
                        message: format!(
                            "bad audit.on_failure '{other}' (expected \"refuse\" or \"log\")"
                        ),
                    })
                }
            },
        },
        queue: match &a.queue {
            Some(v) => bounded(t, v, "audit.queue", 1..=MAX_AUDIT_QUEUE)?,
            None => d.queue,
        },
        batch: match &a.batch {
            Some(v) => bounded(t, v, "audit.batch", 1..=MAX_AUDIT_BATCH)?,
            None => d.batch,
        },
    })
}

/// What a `[kms]` path may start with to name a systemd credential
/// (`LoadCredential=NAME:...` in the unit, then
/// `"${CREDENTIALS_DIRECTORY}/NAME"` here).
pub const CREDENTIALS_PREFIX: &str = "${CREDENTIALS_DIRECTORY}";

/// `path` with a leading [`CREDENTIALS_PREFIX`] replaced by `credentials`.
/// An error names the setting when the prefix is used but there is no
/// credentials directory, or when it is not followed by `/NAME`.
fn credential_path(
    t: &TomlConfig,
    v: &Spanned<PathBuf>,
    name: &str,
    credentials: Option<&Path>,
) -> Result<PathBuf, ConfigError> {
    let raw = v.get_ref();
    let Some(rest) = raw
        .to_str()
        .and_then(|s| s.strip_prefix(CREDENTIALS_PREFIX))
    else {
        return Ok(raw.clone());
    };
    let err = |message: String| ConfigError::Value {
        at: t.at(v),
        message,
    };
    let cred = rest.strip_prefix('/').unwrap_or("");
    if cred.is_empty() || cred.contains('/') {
        return Err(err(format!(
            "{name} '{}': expected {CREDENTIALS_PREFIX}/NAME, NAME the credential's name \
             (LoadCredential=NAME:PATH in the unit)",
            raw.display()
        )));
    }
    match credentials {
        Some(dir) => Ok(dir.join(cred)),
        None => Err(err(format!(
            "{name} '{}' names a systemd credential, but $CREDENTIALS_DIRECTORY is not set: \
             systemd sets it for a service with LoadCredential={cred}:PATH; outside the \
             service set it to a directory holding a file '{cred}'",
            raw.display()
        ))),
    }
}

/// `[kms]`: the provider and exactly the settings it uses.
fn build_kms(
    t: &TomlConfig,
    data_dir: &Path,
    credentials: Option<&Path>,
) -> Result<KmsConfig, ConfigError> {
    use self::toml::TomlKmsProvider;
    let k = &t.kms;
    let provider = k.provider.as_ref().map(|p| *p.get_ref());
    let value_err = |at: Location, message: String| ConfigError::Value { at, message };
    let name = |p: TomlKmsProvider| match p {
        TomlKmsProvider::File => "file",
        TomlKmsProvider::Pkcs11 => "pkcs11",
        TomlKmsProvider::AwsKms => "aws-kms",
    };
    // Every provider-specific setting and its provider: another
    // provider's setting is a mistake worth naming, not ignoring.
    let owned = [
        (
            "key_file",
            TomlKmsProvider::File,
            k.key_file.as_ref().map(|v| t.at(v)),
        ),
        (
            "module",
            TomlKmsProvider::Pkcs11,
            k.module.as_ref().map(|v| t.at(v)),
        ),
        (
            "token_label",
            TomlKmsProvider::Pkcs11,
            k.token_label.as_ref().map(|v| t.at(v)),
        ),
        (
            "key_label",
            TomlKmsProvider::Pkcs11,
            k.key_label.as_ref().map(|v| t.at(v)),
        ),
        (
            "pin_file",
            TomlKmsProvider::Pkcs11,
            k.pin_file.as_ref().map(|v| t.at(v)),
        ),
        (
            "key_id",
            TomlKmsProvider::AwsKms,
            k.key_id.as_ref().map(|v| t.at(v)),
        ),
        (
            "region",
            TomlKmsProvider::AwsKms,
            k.region.as_ref().map(|v| t.at(v)),
        ),
        (
            "endpoint",
            TomlKmsProvider::AwsKms,
            k.endpoint.as_ref().map(|v| t.at(v)),
        ),
        (
            "timeout_ms",
            TomlKmsProvider::AwsKms,
            k.timeout_ms.as_ref().map(|v| t.at(v)),
        ),
        (
            "max_attempts",
            TomlKmsProvider::AwsKms,
            k.max_attempts.as_ref().map(|v| t.at(v)),
        ),
    ];
    let effective = provider.unwrap_or(TomlKmsProvider::File);
    if let Some((key, owner, Some(at))) = owned
        .into_iter()
        .find(|(_, owner, at)| *owner != effective && at.is_some())
    {
        return Err(value_err(
            at,
            format!(
                "kms.{key} is only for provider = \"{}\" (provider is \"{}\")",
                name(owner),
                name(effective)
            ),
        ));
    }
    let provider_at = || {
        k.provider
            .as_ref()
            .map_or_else(|| Location::file(t.origin()), |p| t.at(p))
    };
    match provider {
        None | Some(TomlKmsProvider::File) => Ok(KmsConfig::File {
            key_file: match &k.key_file {
                Some(v) => credential_path(t, v, "kms.key_file", credentials)?,
                None => data_dir.join(KEK_FILE),
            },
        }),
        Some(TomlKmsProvider::AwsKms) => {
            let non_empty = |v: &Spanned<String>, name: &str| {
                let s = v.get_ref();
                if s.trim().is_empty() || s.chars().any(char::is_whitespace) {
                    Err(value_err(
                        t.at(v),
                        format!("kms.{name} must not be empty or contain spaces"),
                    ))
                } else {
                    Ok(s.clone())
                }
            };
            let key_id = k.key_id.as_ref().ok_or_else(|| {
                value_err(
                    provider_at(),
                    "provider = \"aws-kms\" needs kms.key_id (the KMS key: key ID, key ARN, \
                     alias/NAME or alias ARN)"
                        .into(),
                )
            })?;
            let key_id = non_empty(key_id, "key_id")?;
            let region = k
                .region
                .as_ref()
                .map(|v| non_empty(v, "region"))
                .transpose()?;
            let endpoint = match &k.endpoint {
                None => None,
                Some(v) => {
                    let e = non_empty(v, "endpoint")?;
                    let host = e
                        .strip_prefix("https://")
                        .or_else(|| e.strip_prefix("http://"));
                    if host.is_none_or(|h| h.is_empty() || h.starts_with('/')) {
                        return Err(value_err(
                            t.at(v),
                            format!(
                                "kms.endpoint must be an http:// or https:// URL with a host \
                                 (got '{e}')"
                            ),
                        ));
                    }
                    Some(e)
                }
            };
            Ok(KmsConfig::AwsKms {
                key_id,
                region,
                endpoint,
                timeout_ms: match &k.timeout_ms {
                    Some(v) => bounded(t, v, "kms.timeout_ms", 100..=MAX_KMS_TIMEOUT_MS)?,
                    None => DEFAULT_KMS_TIMEOUT_MS,
                },
                max_attempts: match &k.max_attempts {
                    Some(v) => bounded(t, v, "kms.max_attempts", 1..=MAX_KMS_ATTEMPTS)?,
                    None => DEFAULT_KMS_ATTEMPTS,
                },
            })
        }
        Some(TomlKmsProvider::Pkcs11) => {
            let provider_at = provider_at();
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
            let label = |v: &Option<Spanned<String>>, name: &str, what: &str| match v {
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
                pin_file: k
                    .pin_file
                    .as_ref()
                    .map(|v| credential_path(t, v, "kms.pin_file", credentials))
                    .transpose()?,
            })
        }
    }
}

/// A number within `range`; the error names the spot. A zero below the
/// range reads "must be greater than 0".
fn bounded<T>(
    t: &TomlConfig,
    v: &Spanned<T>,
    name: &str,
    range: RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: Copy + PartialOrd + Default + fmt::Display,
{
    let n = *v.get_ref();
    let message = if range.contains(&n) {
        return Ok(n);
    } else if n > *range.end() {
        format!("{name} must be at most {}", range.end())
    } else if n == T::default() {
        format!("{name} must be greater than 0")
    } else {
        format!("{name} must be at least {}", range.start())
    };
    Err(ConfigError::Value {
        at: t.at(v),
        message,
    })
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
    use crate::server::settings::{Proto, SubjectPattern};

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

    fn localhost_only() -> Vec<Allow> {
        vec![
            Allow::parse("127.0.0.1").unwrap(),
            Allow::parse("::1").unwrap(),
        ]
    }

    #[test]
    fn defaults_without_any_file() {
        let c = load(&MemorySource::new(), None, None, None).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/signatrust"));
        assert_eq!(c.listen, ["0.0.0.0:5167".parse().unwrap()]);
        assert_eq!(c.access.allow, localhost_only());
        assert!(!c.access.allow_unprivileged_ports);
        assert_eq!(c.edge.read_timeout, Duration::from_secs(10));
        assert_eq!(c.edge.request_deadline, Duration::from_secs(30));
        assert_eq!(c.edge.idle_timeout, Duration::from_secs(1800));
        assert_eq!(c.edge.max_connections, 1024);
        assert_eq!(c.edge.dns_timeout, Duration::from_secs(2));
        assert_eq!(c.edge.max_busy_refusals, 64);
        assert_eq!(c.upstream, None);
        assert_eq!(c.tls, TlsSettings::default());
        assert_eq!(c.users, UserRules::default());
        assert_eq!(
            c.store_url.as_str(),
            "sqlite:///var/lib/signatrust/signatrust.db"
        );
        assert_eq!(
            c.kms,
            KmsConfig::File {
                key_file: PathBuf::from("/var/lib/signatrust/kek.key")
            }
        );
        assert_eq!(c.cache.ttl, Duration::from_secs(30));
        assert_eq!(c.cache.capacity, 1024);
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
        assert_eq!(c.store_url.as_str(), "sqlite:///from/toml/signatrust.db");
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
        assert_eq!(c.listen[0].port(), 1111);
        assert_eq!(c.sign_conf_path, Some(PathBuf::from("/etc/toml-sign.conf")));
        let c = load(&src, None, Some("/etc/st.toml"), Some("/etc/cli-sign.conf")).unwrap();
        assert_eq!(c.listen[0].port(), 2222);
        assert_eq!(c.sign_conf_path, Some(PathBuf::from("/etc/cli-sign.conf")));
    }

    #[test]
    fn fixture_server_conf_through_load() {
        let c = Config::load(None, None, Some(PathBuf::from(SERVER_CONF))).unwrap();
        assert_eq!(c.warnings, Vec::<String>::new());
        assert_eq!(c.listen, ["0.0.0.0:5167".parse().unwrap()]);
        assert_eq!(c.access.allow, [Allow::parse("127.0.0.1").unwrap()]);
        assert_eq!(c.upstream, None);
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
                 allow_unprivileged_ports = true\nupstream_timeout_ms = 600000\n\
                 [users]\ndefault_user = \"b\"\nmap = { x = \"q\" }\n\
                 [log]\nfile = \"/var/log/st.log\"\n",
            );
        let c = load(&src, None, Some("/etc/st.toml"), Some("/etc/sign.conf")).unwrap();
        assert_eq!(
            c.listen,
            [
                "127.0.0.1:7000".parse::<SocketAddr>().unwrap(),
                "[::1]:7000".parse().unwrap()
            ]
        );
        assert_eq!(c.access.allow, [Allow::parse("192.168.0.0/16").unwrap()]);
        assert!(c.access.allow_unprivileged_ports);
        assert_eq!(c.users.default_user.as_deref(), Some("b"));
        assert_eq!(c.users.map.get("x").map(String::as_str), Some("q"));
        assert_eq!(c.users.map.get("z").map(String::as_str), Some("w"));
        assert_eq!(c.log.file, Some(PathBuf::from("/var/log/st.log")));
        // The upstream is still sign.conf's: port 5167 on 127.0.0.1.
        let up = c.upstream.unwrap();
        assert_eq!((up.host.as_str(), up.port), ("127.0.0.1", 5167));
        assert_eq!(up.timeout, Duration::from_secs(600));
    }

    #[test]
    fn sign_conf_values_apply_without_toml_overrides() {
        let src = MemorySource::new().with(
            "/etc/sign.conf",
            "proxyport: 5168\nport: 15169\nallow: 10/8 ::1\nallow-unprivileged-ports: true\n",
        );
        let c = load(&src, None, None, Some("/etc/sign.conf")).unwrap();
        assert_eq!(c.listen, ["0.0.0.0:5168".parse().unwrap()]);
        assert_eq!(c.access.allow.len(), 2);
        assert!(c.access.allow_unprivileged_ports);
        assert_eq!(c.upstream.unwrap().port, 15169);
    }

    #[test]
    fn sign_conf_without_allow_refuses_everyone() {
        let src = MemorySource::new().with("/etc/sign.conf", "port: 5167\n");
        let c = load(&src, None, None, Some("/etc/sign.conf")).unwrap();
        assert!(c.access.allow.is_empty());
        assert_eq!(
            c.warnings,
            ["/etc/sign.conf: no allow: directive, so every client is refused (as in obs-signd)"]
        );
        // An explicit empty allow: line refuses everyone without a warning.
        let src = MemorySource::new().with("/etc/sign.conf", "allow:\n");
        let c = load(&src, None, None, Some("/etc/sign.conf")).unwrap();
        assert!(c.access.allow.is_empty());
        assert!(c.warnings.is_empty());
        // A TOML-only deployment keeps the localhost default.
        let src = MemorySource::new().with("/etc/st.toml", "[server]\nmax_connections = 5\n");
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(c.access.allow, localhost_only());
        assert_eq!(c.edge.max_connections, 5);
    }

    #[test]
    fn dns_timeout_has_its_own_setting() {
        let src = MemorySource::new().with(
            "/etc/st.toml",
            "[server]\nread_timeout_ms = 9000\ndns_timeout_ms = 250\n",
        );
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(c.edge.dns_timeout, Duration::from_millis(250));
        assert_eq!(c.edge.read_timeout, Duration::from_secs(9));
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
                io_scheduling: IoScheduling::Normal,
                ..ExecConfig::default()
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
    fn audit_and_log_format() {
        let c = load(&MemorySource::new(), None, None, None).unwrap();
        assert_eq!(c.audit, crate::audit::AuditSettings::default());
        assert!(c.audit.enabled);
        assert_eq!(c.audit.on_failure, OnFailure::Refuse);
        assert_eq!(c.log.format, LogFormat::Text);
        let src = MemorySource::new().with(
            "/etc/st.toml",
            "[log]\nformat = \"json\"\n[audit]\nenabled = false\non_failure = \"log\"\nqueue = 10\nbatch = 2\n",
        );
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(
            c.audit,
            crate::audit::AuditSettings {
                enabled: false,
                on_failure: OnFailure::Log,
                queue: 10,
                batch: 2,
            }
        );
        assert_eq!(
            toml_err("[audit]\non_failure = \"ignore\"\n"),
            "/etc/st.toml:2:14: bad audit.on_failure 'ignore' (expected \"refuse\" or \"log\")"
        );
        assert_eq!(
            toml_err("[audit]\nqueue = 0\n"),
            "/etc/st.toml:2:9: audit.queue must be greater than 0"
        );
        assert_eq!(c.metrics_listen, None);
        assert_eq!(
            toml_err("[metrics]\nlisten = \"localhost\"\n"),
            "/etc/st.toml:2:10: bad metrics.listen 'localhost' (expected address:port, e.g. 127.0.0.1:9167)"
        );
        assert_eq!(
            toml_err("[log]\nformat = \"xml\"\n"),
            "/etc/st.toml:2:10: bad log.format 'xml' (expected \"text\" or \"json\")"
        );
    }

    /// The error of loading `text` as /etc/st.toml.
    fn toml_err(text: &str) -> String {
        let src = MemorySource::new().with("/etc/st.toml", text);
        load(&src, None, Some("/etc/st.toml"), None)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn thread_counts_are_bounded() {
        // A number of threads the machine cannot start is a configuration
        // error, not an abort when the pool is built.
        assert_eq!(
            toml_err("[exec]\nworkers = 100000\n"),
            "/etc/st.toml:2:11: exec.workers must be at most 1024"
        );
        assert_eq!(
            toml_err("[exec]\nworkers = 0\n"),
            "/etc/st.toml:2:11: exec.workers must be greater than 0"
        );
        assert_eq!(
            toml_err("[exec]\nio_threads = 1025\n"),
            "/etc/st.toml:2:14: exec.io_threads must be at most 1024"
        );
        let src = MemorySource::new().with(
            "/etc/st.toml",
            format!("[exec]\nworkers = {MAX_WORKERS}\nio_threads = {MAX_IO_THREADS}\n"),
        );
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!((c.exec.workers, c.exec.io_threads), (1024, 1024));
    }

    #[test]
    fn keygen_lane_settings() {
        let c = load(&MemorySource::new(), None, None, None).unwrap();
        assert_eq!(c.exec.keygen_workers, ExecConfig::default().keygen_workers);
        assert_eq!(c.exec.keygen_timeout, crate::exec::DEFAULT_KEYGEN_TIMEOUT);
        let src = MemorySource::new().with(
            "/etc/st.toml",
            "[exec]\nkeygen_workers = 3\nkeygen_timeout_ms = 2500\n",
        );
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(c.exec.keygen_workers, 3);
        assert_eq!(c.exec.keygen_timeout, Duration::from_millis(2500));
        assert_eq!(
            toml_err("[exec]\nkeygen_workers = 0\n"),
            "/etc/st.toml:2:18: exec.keygen_workers must be greater than 0"
        );
        assert_eq!(
            toml_err("[exec]\nkeygen_workers = 1025\n"),
            "/etc/st.toml:2:18: exec.keygen_workers must be at most 1024"
        );
        let e = toml_err("[exec]\nkeygen_workers = \"two\"\n");
        assert!(e.starts_with("/etc/st.toml:2:18: "), "{e}");
        assert_eq!(
            toml_err("[exec]\nkeygen_timeout_ms = 0\n"),
            "/etc/st.toml:2:21: exec.keygen_timeout_ms must be greater than 0"
        );
        // The wait must end before the request deadline, or the client gets
        // `request timed out` instead of the keygen's own text.
        assert_eq!(
            toml_err("[server]\nrequest_deadline_ms = 10000\n[exec]\nkeygen_timeout_ms = 10000\n"),
            "/etc/st.toml:4:21: exec.keygen_timeout_ms must be less than \
             server.request_deadline_ms (10000)"
        );
        // Unset, it follows a shorter request deadline (half of it).
        let src =
            MemorySource::new().with("/etc/st.toml", "[server]\nrequest_deadline_ms = 8000\n");
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(c.exec.keygen_timeout, Duration::from_millis(4000));
    }

    #[test]
    fn server_limits_are_bounded() {
        assert_eq!(
            toml_err("[server]\nmax_connections = 1000001\n"),
            "/etc/st.toml:2:19: server.max_connections must be at most 1000000"
        );
        assert_eq!(
            toml_err("[server]\nmax_connections = 0\n"),
            "/etc/st.toml:2:19: server.max_connections must be greater than 0"
        );
        assert_eq!(
            toml_err("[server]\nmax_busy_refusals = 99999999999\n"),
            "/etc/st.toml:2:21: server.max_busy_refusals must be at most 1000000"
        );
        assert_eq!(
            toml_err("[server]\nmax_busy_refusals = 0\n"),
            "/etc/st.toml:2:21: server.max_busy_refusals must be greater than 0"
        );
        assert_eq!(
            toml_err("[server]\nmax_request_bytes = 131075\n"),
            "/etc/st.toml:2:21: server.max_request_bytes must be at most 131074"
        );
        assert_eq!(
            toml_err("[server]\nmax_request_bytes = 0\n"),
            "/etc/st.toml:2:21: server.max_request_bytes must be greater than 0"
        );
        for name in [
            "read_timeout_ms",
            "request_deadline_ms",
            "idle_timeout_ms",
            "dns_timeout_ms",
            "upstream_timeout_ms",
        ] {
            let col = name.len() + 4;
            assert_eq!(
                toml_err(&format!("[server]\n{name} = 86400001\n")),
                format!("/etc/st.toml:2:{col}: server.{name} must be at most 86400000")
            );
            assert_eq!(
                toml_err(&format!("[server]\n{name} = 0\n")),
                format!("/etc/st.toml:2:{col}: server.{name} must be greater than 0")
            );
        }
        // The bounds themselves are accepted.
        let src = MemorySource::new().with(
            "/etc/st.toml",
            "[server]\nmax_connections = 1000000\nmax_busy_refusals = 1000000\n\
             max_request_bytes = 131074\nread_timeout_ms = 86400000\n",
        );
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(c.edge.max_connections, MAX_CONNECTIONS);
        assert_eq!(c.edge.max_request, MAX_REQUEST);
        assert_eq!(c.edge.read_timeout, MAX_TIMEOUT);
    }

    #[test]
    fn proxy_protocol_and_drain_grace() {
        let src = MemorySource::new().with(
            "/etc/st.toml",
            "[server]\nproxy_protocol_from = [\"127.0.0.1\", \"10/8\", \"fd00::/8\"]\n\
             drain_grace_ms = 0\n",
        );
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        let nets: Vec<String> = c
            .edge
            .proxy_protocol_from
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"]);
        assert!(c.edge.expects_proxy_header("10.1.2.3".parse().unwrap()));
        assert!(c
            .edge
            .expects_proxy_header("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!c.edge.expects_proxy_header("127.0.0.2".parse().unwrap()));
        assert_eq!(c.edge.drain_grace, Duration::ZERO);
        let d = load(&MemorySource::new(), None, None, None).unwrap();
        assert!(d.edge.proxy_protocol_from.is_empty());
        assert!(!d.edge.expects_proxy_header("127.0.0.1".parse().unwrap()));
        assert_eq!(
            toml_err("[server]\nproxy_protocol_from = [\"10/8\", \"lb.example.org\"]\n"),
            "/etc/st.toml:2:32: bad server.proxy_protocol_from entry 'lb.example.org' \
             (expected an address or a CIDR block, e.g. 10.0.0.5 or 10.0.0.0/24)"
        );
        assert_eq!(
            toml_err("[server]\ndrain_grace_ms = 86400001\n"),
            "/etc/st.toml:2:18: server.drain_grace_ms must be at most 86400000"
        );
    }

    #[test]
    fn cache_bounds_and_zero_turns_it_off() {
        assert_eq!(
            toml_err("[cache]\nmax_entries = 1000001\n"),
            "/etc/st.toml:2:15: cache.max_entries must be at most 1000000"
        );
        assert_eq!(
            toml_err("[cache]\nttl_secs = 86401\n"),
            "/etc/st.toml:2:12: cache.ttl_secs must be at most 86400"
        );
        let src =
            MemorySource::new().with("/etc/st.toml", "[cache]\nmax_entries = 0\nttl_secs = 0\n");
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(
            c.cache,
            CacheConfig {
                capacity: 0,
                ttl: Duration::ZERO,
                stale_if_error: crate::keys::DEFAULT_STALE_IF_ERROR,
            }
        );
        let src =
            MemorySource::new().with("/etc/st.toml", "[cache]\nmax_entries = 7\nttl_secs = 5\n");
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(
            c.cache,
            CacheConfig {
                capacity: 7,
                ttl: Duration::from_secs(5),
                stale_if_error: crate::keys::DEFAULT_STALE_IF_ERROR,
            }
        );
    }

    #[test]
    fn log_level_is_the_filter_unless_rust_log_is_set() {
        let src = MemorySource::new().with("/etc/st.toml", "[log]\nlevel = \"debug\"\n");
        let c = load(&src, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(c.log.level, "debug");
        // What `logging::init` applies, without and with RUST_LOG.
        assert_eq!(crate::logging::filter(&c.log, None), "debug");
        assert_eq!(crate::logging::filter(&c.log, Some("warn")), "warn");
        assert_eq!(
            toml_err("[log]\nlevel = \" \"\n"),
            "/etc/st.toml:2:9: log.level must not be empty"
        );
        let bad = toml_err("[log]\nlevel = \"=bad=\"\n");
        assert!(
            bad.starts_with("/etc/st.toml:2:9: log.level is not a tracing filter ("),
            "{bad}"
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
        assert_eq!(c.tls.proto, Proto::Ssl);
        assert_eq!(c.tls.files.certfile, Some(PathBuf::from("/c")));
        assert_eq!(c.tls.files.verifyfile, Some(PathBuf::from("/ca")));
        assert!(!c.tls.allow_certless);
        assert_eq!(
            c.tls.allow_subject,
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
    fn kms_paths_name_systemd_credentials() {
        let pkcs11 = "[kms]\nprovider = \"pkcs11\"\nmodule = \"/m.so\"\ntoken_label = \"t\"\n\
                      key_label = \"k\"\npin_file = \"${CREDENTIALS_DIRECTORY}/hsm-pin\"\n";
        let file = "[kms]\nkey_file = \"${CREDENTIALS_DIRECTORY}/kek\"\n";
        let bad = "[kms]\nkey_file = \"${CREDENTIALS_DIRECTORY}\"\n";
        let src = MemorySource::new()
            .with("/etc/p.toml", pkcs11)
            .with("/etc/f.toml", file)
            .with("/etc/bad.toml", bad);
        let creds = src
            .clone()
            .with_credentials("/run/credentials/signatrustd.service");
        let c = load(&creds, None, Some("/etc/p.toml"), None).unwrap();
        assert!(
            matches!(&c.kms, KmsConfig::Pkcs11 { pin_file: Some(p), .. }
                if p == Path::new("/run/credentials/signatrustd.service/hsm-pin")),
            "{:?}",
            c.kms
        );
        let c = load(&creds, None, Some("/etc/f.toml"), None).unwrap();
        assert_eq!(
            c.kms,
            KmsConfig::File {
                key_file: PathBuf::from("/run/credentials/signatrustd.service/kek")
            }
        );
        // Outside the unit: the error says what is missing, not "no such
        // file ${CREDENTIALS_DIRECTORY}/kek" later.
        let e =
            |src: &MemorySource, f: &str| load(src, None, Some(f), None).unwrap_err().to_string();
        assert_eq!(
            e(&src, "/etc/p.toml"),
            "/etc/p.toml:6:12: kms.pin_file '${CREDENTIALS_DIRECTORY}/hsm-pin' names a systemd \
             credential, but $CREDENTIALS_DIRECTORY is not set: systemd sets it for a service \
             with LoadCredential=hsm-pin:PATH; outside the service set it to a directory \
             holding a file 'hsm-pin'"
        );
        assert!(
            e(&src, "/etc/f.toml").starts_with(
                "/etc/f.toml:2:12: kms.key_file '${CREDENTIALS_DIRECTORY}/kek' names a systemd \
                 credential"
            ),
            "{}",
            e(&src, "/etc/f.toml")
        );
        assert_eq!(
            e(&creds, "/etc/bad.toml"),
            "/etc/bad.toml:2:12: kms.key_file '${CREDENTIALS_DIRECTORY}': expected \
             ${CREDENTIALS_DIRECTORY}/NAME, NAME the credential's name \
             (LoadCredential=NAME:PATH in the unit)"
        );
        // A plain path is untouched, credentials directory or not.
        let plain = MemorySource::new()
            .with("/etc/st.toml", "[kms]\nkey_file = \"/srv/kek\"\n")
            .with_credentials("/run/credentials/x");
        let c = load(&plain, None, Some("/etc/st.toml"), None).unwrap();
        assert_eq!(
            c.kms,
            KmsConfig::File {
                key_file: PathBuf::from("/srv/kek")
            }
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
    fn kms_aws_kms_parses_and_errors_name_the_spot() {
        let load_kms = |text: &str| {
            let src = MemorySource::new().with("/etc/st.toml", text);
            load(&src, None, Some("/etc/st.toml"), None).map(|c| c.kms)
        };
        let e = |text: &str| load_kms(text).unwrap_err().to_string();
        assert_eq!(
            load_kms(
                "[kms]\nprovider = \"aws-kms\"\nkey_id = \"alias/signatrust-kek\"\n\
                 region = \"eu-central-1\"\nendpoint = \"http://127.0.0.1:4566\"\n\
                 timeout_ms = 2000\nmax_attempts = 2\n"
            )
            .unwrap(),
            KmsConfig::AwsKms {
                key_id: "alias/signatrust-kek".into(),
                region: Some("eu-central-1".into()),
                endpoint: Some("http://127.0.0.1:4566".into()),
                timeout_ms: 2000,
                max_attempts: 2,
            }
        );
        // Region, endpoint, timeout and attempts are optional.
        assert_eq!(
            load_kms("[kms]\nprovider = \"aws-kms\"\nkey_id = \"arn:aws:kms:r:1:key/k\"\n")
                .unwrap(),
            KmsConfig::AwsKms {
                key_id: "arn:aws:kms:r:1:key/k".into(),
                region: None,
                endpoint: None,
                timeout_ms: DEFAULT_KMS_TIMEOUT_MS,
                max_attempts: DEFAULT_KMS_ATTEMPTS,
            }
        );
        let head = "[kms]\nprovider = \"aws-kms\"\n";
        assert_eq!(
            e(head),
            "/etc/st.toml:2:12: provider = \"aws-kms\" needs kms.key_id (the KMS key: key ID, \
             key ARN, alias/NAME or alias ARN)"
        );
        assert_eq!(
            e(&format!("{head}key_id = \" \"\n")),
            "/etc/st.toml:3:10: kms.key_id must not be empty or contain spaces"
        );
        assert_eq!(
            e(&format!(
                "{head}key_id = \"k\"\nendpoint = \"kms.local:443\"\n"
            )),
            "/etc/st.toml:4:12: kms.endpoint must be an http:// or https:// URL with a host \
             (got 'kms.local:443')"
        );
        assert_eq!(
            e(&format!("{head}key_id = \"k\"\ntimeout_ms = 0\n")),
            "/etc/st.toml:4:14: kms.timeout_ms must be greater than 0"
        );
        assert_eq!(
            e(&format!("{head}key_id = \"k\"\nmax_attempts = 11\n")),
            "/etc/st.toml:4:16: kms.max_attempts must be at most 10"
        );
        // Another provider's settings, either way round.
        assert_eq!(
            e(&format!("{head}key_id = \"k\"\nkey_label = \"l\"\n")),
            "/etc/st.toml:4:13: kms.key_label is only for provider = \"pkcs11\" (provider is \
             \"aws-kms\")"
        );
        assert_eq!(
            e("[kms]\nkey_id = \"k\"\n"),
            "/etc/st.toml:2:10: kms.key_id is only for provider = \"aws-kms\" (provider is \"file\")"
        );
        assert_eq!(
            e("[kms]\nprovider = \"pkcs11\"\nregion = \"r\"\n"),
            "/etc/st.toml:3:10: kms.region is only for provider = \"aws-kms\" (provider is \
             \"pkcs11\")"
        );
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
