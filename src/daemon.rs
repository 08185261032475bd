//! `signatrustd`: configuration → store → listeners → `server::run`.
//!
//! The binary is a thin `main` around [`run`]; tests build the same pieces
//! with [`build`] and serve them on `127.0.0.1:0`.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admin::cli::GlobalArgs;
use crate::commands::{Ctx, UserRules};
use crate::config::{Config, KmsConfig};
use crate::exec::Exec;
use crate::keys::{CacheConfig, FileKek, KeyStore, StoreOptions};
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
    let kek = match &config.kms {
        KmsConfig::File { key_file } => FileKek::open_or_create(key_file)
            .with_context(|| format!("opening the key-encryption key {}", key_file.display()))?,
    };
    let options = StoreOptions {
        cache: CacheConfig {
            capacity: config.cache.max_entries,
            ttl: config.cache.ttl,
        },
        ..StoreOptions::default()
    };
    KeyStore::open_with(&config.store.url, Arc::new(kek), options)
        .await
        .context("opening the key store")
}

fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
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
    let users = UserRules {
        default_user: config.users.default_user.clone(),
        map: config.users.map.clone(),
    };
    let exec = Exec::new(config.exec.workers, config.exec.workers * 64);
    let edge = EdgeConfig {
        access: AccessPolicy {
            allow: config.server.allow.clone(),
            allow_unprivileged_ports: config.server.allow_unprivileged_ports,
        },
        read_timeout: config.server.read_timeout,
        request_deadline: config.server.request_deadline,
        max_connections: config.server.max_connections,
    };
    Ok(Service {
        ctx: Arc::new(Ctx { keys, users, exec }),
        edge: Arc::new(edge),
        config,
    })
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(args: DaemonArgs) -> anyhow::Result<()> {
    let config = Config::load(
        args.global.data_dir.clone(),
        args.global.config.clone(),
        args.sign_conf.clone(),
    )?;
    for w in &config.warnings {
        eprintln!("signatrustd: warning: {w}");
    }
    if args.check_config {
        println!("configuration ok");
        return Ok(());
    }
    let listen = if args.listen.is_empty() {
        config.server.listen.clone()
    } else {
        args.listen.clone()
    };
    let service = build(config).await?;
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    for addr in listen {
        let listener = TcpListener::bind(addr)
            .await
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
