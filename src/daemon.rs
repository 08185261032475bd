//! `signatrustd`: configuration → store → listeners → `server::run`.
//!
//! The binary is a thin `main` around [`run`]; tests build the same pieces
//! with [`build`] and serve them on `127.0.0.1:0`.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;

use crate::admin::cli::GlobalArgs;
use crate::commands::{BlobKeyCache, Ctx, UserRules};
use crate::config::{Config, KmsConfig, Proto};
use crate::exec::Exec;
use crate::keys::{
    read_pin, CacheConfig, FileKek, Kek, KeyStore, Pkcs11Kek, Pkcs11Settings, StoreOptions,
};
use crate::logging::SigndLog;
use crate::server::proxy::Upstream;
use crate::server::tls::TlsServer;
use crate::server::{AccessPolicy, EdgeConfig};

/// The obs-signd compatible signing server.
#[derive(Debug, Parser)]
#[command(name = "signatrustd", version)]
pub struct DaemonArgs {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// An obs-signd sign.conf to honour (port, allow, user, map, ...).
    #[arg(long, value_name = "FILE")]
    pub sign_conf: Option<PathBuf>,
    /// Listen on this address instead of the configured one (repeatable).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,
    /// Load and validate the configuration, print warnings, and exit.
    #[arg(long)]
    pub check_config: bool,
    /// obs-signd's test hook: read one framed request on stdin, write the
    /// reply on stdout. The sign.conf is `--sign-conf`, else `$SIGN_CONF`.
    /// Without --data-dir/--config the keys come from the gpg home named by
    /// sign.conf, held in a scratch store that is deleted on exit.
    #[arg(long, conflicts_with = "test")]
    pub test_sign: bool,
    /// Run one command (`-t CMD USER ARGS…`) and print the raw reply, as
    /// `signd -t` does. Same configuration rules as --test-sign.
    #[arg(short = 't', value_name = "CMD USER ARGS", num_args = 1.., allow_hyphen_values = true)]
    pub test: Option<Vec<String>>,
}

/// The server's shared state, built from a validated configuration.
pub struct Service {
    pub ctx: Arc<Ctx>,
    pub edge: Arc<EdgeConfig>,
    pub config: Config,
}

/// Opens the store the configuration names, creating the data directory
/// (mode 0700) and the KEK on first use.
pub async fn open_store(config: &Config) -> anyhow::Result<KeyStore> {
    create_private_dir(&config.data_dir)?;
    let kek = open_kek(&config.kms)?;
    open_store_with(config, kek).await
}

/// Opens the KEK the configuration names: the file KEK (created on first
/// use) or the key on a PKCS#11 token (which must exist: `signatrust-admin
/// kek create`).
pub fn open_kek(kms: &KmsConfig) -> anyhow::Result<Arc<dyn Kek>> {
    Ok(match kms {
        KmsConfig::File { key_file } => {
            Arc::new(FileKek::open_or_create(key_file).with_context(|| {
                format!("opening the key-encryption key {}", key_file.display())
            })?)
        }
        KmsConfig::Pkcs11 { .. } => Arc::new(
            Pkcs11Kek::open(&pkcs11_settings(kms)?)
                .context("opening the key-encryption key on the PKCS#11 token")?,
        ),
    })
}

/// The PKCS#11 settings of a `provider = "pkcs11"` configuration, PIN
/// read; an error for another provider.
pub fn pkcs11_settings(kms: &KmsConfig) -> anyhow::Result<Pkcs11Settings> {
    match kms {
        KmsConfig::Pkcs11 {
            module,
            token_label,
            key_label,
            pin_file,
        } => Ok(Pkcs11Settings {
            module: module.clone(),
            token_label: token_label.clone(),
            key_label: key_label.clone(),
            pin: read_pin(pin_file.as_deref(), token_label)?,
        }),
        KmsConfig::File { .. } => anyhow::bail!("the KEK provider is not pkcs11"),
    }
}

/// Opens the store the configuration names with the given KEK.
pub async fn open_store_with(config: &Config, kek: Arc<dyn Kek>) -> anyhow::Result<KeyStore> {
    create_private_dir(&config.data_dir)?;
    let options = StoreOptions {
        cache: CacheConfig {
            capacity: config.cache.max_entries,
            ttl: config.cache.ttl,
        },
        ..StoreOptions::default()
    };
    KeyStore::open_with(&config.store.url, kek, options)
        .await
        .context("opening the key store")
}

pub(crate) fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("{}: cannot create data directory", dir.display()))?;
    }
    Ok(())
}

/// Builds the service from a configuration.
pub async fn build(config: Config) -> anyhow::Result<Service> {
    let keys = Arc::new(open_store(&config).await?);
    build_with_store(config, keys)
}

/// Builds the edge (limits, access, TLS, upstream, signd log file) from a
/// configuration. Fails on unusable TLS files or an unwritable log file.
pub fn edge_config(config: &Config) -> anyhow::Result<EdgeConfig> {
    let server = &config.server;
    let tls = match server.tls.proto {
        Proto::Ssl => Some(Arc::new(
            TlsServer::new(&server.tls).context("setting up TLS (proto: ssl)")?,
        )),
        _ => None,
    };
    let upstream = match &server.upstream {
        Some(up) => Some(Arc::new(
            Upstream::new(up, server.read_timeout).context("setting up the upstream signd")?,
        )),
        None => None,
    };
    let signd_log = match &config.log.file {
        Some(path) => Some(Arc::new(SigndLog::open(path).with_context(|| {
            format!("{}: cannot open the log file", path.display())
        })?)),
        None => None,
    };
    Ok(EdgeConfig {
        access: AccessPolicy {
            allow: server.allow.clone(),
            allow_unprivileged_ports: server.allow_unprivileged_ports,
        },
        read_timeout: server.read_timeout,
        idle_timeout: server.idle_timeout,
        max_request: server.max_request,
        dns_timeout: server.dns_timeout,
        tls,
        upstream,
        signd_log,
        request_deadline: server.request_deadline,
        max_connections: server.max_connections,
        max_busy_refusals: server.max_busy_refusals,
    })
}

/// [`build`] on an already opened store.
pub fn build_with_store(config: Config, keys: Arc<KeyStore>) -> anyhow::Result<Service> {
    let users = UserRules {
        default_user: config.users.default_user.clone(),
        map: config.users.map.clone(),
        proxy_only: config.server.proxy_only,
    };
    let exec = Exec::new(config.exec.workers, config.exec.workers * 64);
    // The same bounds as the store's caches (`open_store_with`).
    let blob_keys = BlobKeyCache::new(CacheConfig {
        capacity: config.cache.max_entries,
        ttl: config.cache.ttl,
    });
    let edge = edge_config(&config)?;
    Ok(Service {
        ctx: Arc::new(Ctx {
            keys,
            users,
            exec,
            blob_keys,
        }),
        edge: Arc::new(edge),
        config,
    })
}

/// The whole daemon: configuration (read before any thread is started, so
/// that `[exec]` can size the runtime), runtime, then [`run`] until SIGTERM
/// or SIGINT, or one test-mode request.
pub fn main(args: DaemonArgs) -> anyhow::Result<()> {
    let test_mode = args.test_sign || args.test.is_some();
    // Test mode takes sign.conf from $SIGN_CONF too, as `signd -t` does.
    let sign_conf = match &args.sign_conf {
        Some(p) => Some(p.clone()),
        None if test_mode => std::env::var_os("SIGN_CONF").map(PathBuf::from),
        None => None,
    };
    let config = Config::load(
        args.global.data_dir.clone(),
        args.global.config.clone(),
        sign_conf,
    )?;
    for w in &config.warnings {
        eprintln!("signatrustd: warning: {w}");
    }
    if args.check_config && !test_mode {
        println!("configuration ok");
        return Ok(());
    }
    let runtime = runtime(&config.exec).context("cannot start the async runtime")?;
    runtime.block_on(async move {
        if test_mode {
            run_test_mode(args, config).await
        } else {
            run(args, config).await
        }
    })
}

/// Serves `config` until SIGTERM or SIGINT.
pub async fn run(args: DaemonArgs, config: Config) -> anyhow::Result<()> {
    let listen = if args.listen.is_empty() {
        config.server.listen.clone()
    } else {
        args.listen.clone()
    };
    let service = build(config).await?;
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    for &addr in &listen {
        // `[::]:P` next to `0.0.0.0:P` must be IPv6-only to coexist.
        let v6_only = listen
            .iter()
            .any(|a| a.is_ipv4() && a.port() == addr.port());
        let listener = crate::server::bind(addr, v6_only)
            .with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!(%addr, "listening");
        let (ctx, edge, stop) = (service.ctx.clone(), service.edge.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            crate::server::run(listener, stop.cancelled_owned(), ctx, edge).await;
        }));
    }
    wait_for_signal().await;
    tracing::info!("signal received, shutting down");
    shutdown.cancel();
    for t in tasks {
        let _ = t.await;
    }
    service.ctx.exec.close();
    Ok(())
}

/// `--test-sign` and `-t`: one request, no socket.
async fn run_test_mode(args: DaemonArgs, mut config: Config) -> anyhow::Result<()> {
    let configured_store = args.global.data_dir.is_some() || args.global.config.is_some();
    // The scratch store (if any) lives until the request is answered.
    let mut scratch = None;
    let service = if configured_store {
        build(config).await?
    } else {
        let dir = tempfile::Builder::new()
            .prefix("signatrustd-test-")
            .tempdir()
            .context("creating a scratch directory")?;
        config.data_dir = dir.path().to_path_buf();
        config.store.url = format!("sqlite://{}", dir.path().join("scratch.db").display());
        config.kms = KmsConfig::File {
            key_file: dir.path().join("kek.key"),
        };
        let keys = Arc::new(open_store(&config).await?);
        load_signd_keys(&config, &keys).await?;
        scratch = Some(dir);
        build_with_store(config, keys)?
    };
    let result = match &args.test {
        Some(argv) => crate::server::testmode::run_command(argv, &service.ctx, &service.edge).await,
        None => crate::server::testmode::test_sign(&service.ctx, &service.edge).await,
    };
    service.ctx.keys.close().await;
    service.ctx.exec.close();
    drop(scratch);
    result.context("writing the reply")
}

/// Loads what Perl signd would serve from sign.conf's state into `keys`:
/// the key of every user in `phrases:` from the gpg home (`gnupghome:`,
/// else `$GNUPGHOME`), aliases and symmetric encryption keys. A user whose
/// key cannot be loaded is reported and left out (it answers `unknown key`).
async fn load_signd_keys(config: &Config, keys: &KeyStore) -> anyhow::Result<()> {
    use crate::admin::import_signd::{dir_entries, first_line, import_user, read_encryption_key};
    let Some(paths) = &config.signd else {
        return Ok(());
    };
    if let Some(phrases) = &paths.phrases {
        let home = paths
            .gnupghome
            .clone()
            .or_else(|| std::env::var_os("GNUPGHOME").map(PathBuf::from))
            .context("sign.conf names phrases: but neither gnupghome: nor $GNUPGHOME is set")?;
        let gpg = std::path::Path::new("gpg");
        for (user, file) in dir_entries(phrases)? {
            if let Err(e) = import_user(keys, gpg, &home, &user, &file).await {
                eprintln!("signatrustd: key {user}: {e:#}");
            }
        }
    }
    if let Some(dir) = &paths.aliases {
        for (alias, file) in dir_entries(dir)? {
            match first_line(&file) {
                Ok(target) if !target.is_empty() => keys.set_alias(&alias, &target).await?,
                _ => eprintln!("signatrustd: alias {alias}: unreadable or empty"),
            }
        }
    }
    if let Some(dir) = &paths.encryptionkeys {
        for (id, file) in dir_entries(dir)? {
            match read_encryption_key(&id, &file) {
                Ok(secret) => keys.put_encryption_key(&id, &secret).await?,
                Err(e) => eprintln!("signatrustd: encryption key {id}: {e:#}"),
            }
        }
    }
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The I/O runtime of the daemon (`[exec] io_threads`, `io_scheduling`).
///
/// Crypto runs on the `exec` pool (one thread per core), so the reactor needs
/// fewer threads than there are cores: by default half the cores, at least
/// one. More reactor threads than that only compete with the signers for the
/// same cores and add cross-thread wake-ups to every request.
///
/// On Linux the reactor threads are `SCHED_BATCH` by default. Under load the
/// signing threads keep every core busy; a normally scheduled reactor thread
/// preempts one of them at every wake-up (each new connection, each finished
/// signature), which costs two context switches per request. As
/// `SCHED_BATCH` it waits for the next scheduling point instead and then
/// handles all that arrived meanwhile. On an idle core it runs at once, so
/// only a saturated server sees the (sub-millisecond) delay. Measured in
/// BENCHMARKS.md ("Scheduling the network threads").
pub fn runtime(exec: &crate::config::ExecConfig) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .enable_all()
        .thread_name("signatrust-io")
        .worker_threads(exec.io_threads);
    if exec.io_scheduling == crate::config::IoScheduling::Batch {
        // Also applies to tokio's blocking threads (key loads), which are
        // CPU work too.
        builder.on_thread_start(|| {
            if let Err(e) = set_batch_scheduling() {
                tracing::warn!(error = %e, "cannot set SCHED_BATCH on a network thread");
            }
        });
    }
    builder.build()
}

/// Puts the calling thread into the `SCHED_BATCH` class (allowed without
/// privileges). A no-op outside Linux.
fn set_batch_scheduling() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid sched_param for the call's duration;
        // pid 0 is the calling thread.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Keeps key material out of core dumps and away from ptrace by other
/// users: no core files, not dumpable.
pub fn harden_process() {
    // SAFETY: plain libc calls with valid arguments and no pointers kept.
    #[allow(unsafe_code)]
    unsafe {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::config::{ExecConfig, IoScheduling};

    fn policy_on_runtime(scheduling: IoScheduling) -> (i32, i32) {
        let exec = ExecConfig {
            workers: 1,
            io_threads: 2,
            io_scheduling: scheduling,
        };
        let rt = runtime(&exec).unwrap();
        // SAFETY: plain query of the calling thread's policy.
        #[allow(unsafe_code)]
        let policy = || unsafe { libc::sched_getscheduler(0) };
        let worker = rt.block_on(async { tokio::spawn(async move { policy() }).await.unwrap() });
        let blocking = rt.block_on(async { tokio::task::spawn_blocking(policy).await.unwrap() });
        (worker, blocking)
    }

    #[test]
    fn network_threads_are_batch_scheduled_unless_configured_otherwise() {
        assert_eq!(
            policy_on_runtime(IoScheduling::Batch),
            (libc::SCHED_BATCH, libc::SCHED_BATCH)
        );
        assert_eq!(
            policy_on_runtime(IoScheduling::Normal),
            (libc::SCHED_OTHER, libc::SCHED_OTHER)
        );
    }
}
