//! `signatrustd`: configuration → store → listeners → `server::run`.
//!
//! The binary is a thin `main` around [`main`]; tests build the same pieces
//! with [`build`] and serve them on `127.0.0.1:0`. This module only turns
//! the configuration's settings into runtime objects (the store, the
//! signing pool, the TLS acceptor, the upstream client, the signd log file);
//! the settings themselves are the subsystems' own types.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::app::cli::DaemonArgs;
use crate::app::signd_state::{Failure, LoadOptions, Loaded, SigndState};
use crate::audit::{AuditDb, Auditor};
use crate::commands::{BlobKeyCache, Ctx};
use crate::config::{Config, KmsConfig, KEK_FILE};
use crate::exec::Exec;
use crate::keys::{KeyStore, StoreUrl};
use crate::logging::SigndLog;
use crate::server::proxy::Upstream;
use crate::server::settings::Proto;
use crate::server::tls::TlsServer;
use crate::server::{EdgeConfig, Live};

/// The server's shared state, built from a validated configuration.
pub struct Service {
    /// The context built at start-up (its store, pool and caches are
    /// shared by every later reload's).
    pub ctx: Arc<Ctx>,
    /// The edge built at start-up (its audit writer and metrics are shared
    /// by every later reload's).
    pub edge: Arc<EdgeConfig>,
    /// The configuration read at start-up: what a reload compares the
    /// settings that need a restart with.
    pub config: Config,
    /// What new connections are served with; a SIGHUP replaces it.
    pub live: Arc<Live>,
}

impl Service {
    /// Writes the audit records still queued and stops the audit writer.
    /// Call once the listeners have finished their requests.
    pub async fn close(&self) {
        if let Some(a) = &self.edge.audit {
            a.close().await;
        }
    }
}

/// Builds the service from a configuration.
pub async fn build(config: Config) -> anyhow::Result<Service> {
    let keys = Arc::new(crate::app::open_store(&config).await?);
    build_with_store(config, keys)
}

/// Builds the edge (limits, access, TLS, upstream, signd log file) from a
/// configuration. Fails on unusable TLS files or an unwritable log file.
pub fn edge_config(config: &Config) -> anyhow::Result<EdgeConfig> {
    let tls = tls_server(config)?;
    let upstream = upstream(config, config.edge.read_timeout)?;
    let signd_log = match &config.log.file {
        Some(path) => Some(Arc::new(open_signd_log(path)?)),
        None => None,
    };
    Ok(EdgeConfig {
        settings: config.edge.clone(),
        access: config.access.clone(),
        tls,
        upstream,
        signd_log,
        audit: None,
        metrics: Some(Arc::new(crate::metrics::Metrics::new())),
    })
}

/// The TLS acceptor (`proto: ssl`), reading the certificate, key and CA.
fn tls_server(config: &Config) -> anyhow::Result<Option<Arc<TlsServer>>> {
    Ok(match config.tls.proto {
        Proto::Ssl => Some(Arc::new(
            TlsServer::new(&config.tls).context("setting up TLS (proto: ssl)")?,
        )),
        Proto::Plain => None,
    })
}

/// The upstream signd's client, if one is configured; `read_timeout`
/// bounds each step of forwarding.
fn upstream(
    config: &Config,
    read_timeout: std::time::Duration,
) -> anyhow::Result<Option<Arc<Upstream>>> {
    Ok(match &config.upstream {
        Some(up) => Some(Arc::new(
            Upstream::new(up, read_timeout).context("setting up the upstream signd")?,
        )),
        None => None,
    })
}

fn open_signd_log(path: &Path) -> anyhow::Result<SigndLog> {
    SigndLog::open(path).with_context(|| format!("{}: cannot open the log file", path.display()))
}

/// [`build`] on an already opened store. Inside a tokio runtime, with
/// `[audit] enabled`, it starts the audit writer on the store's database;
/// [`Service::close`] flushes it.
pub fn build_with_store(config: Config, keys: Arc<KeyStore>) -> anyhow::Result<Service> {
    let exec = Exec::start(&config.exec).context(
        "starting the signing and key-generation threads ([exec] workers, keygen_workers)",
    )?;
    let mut edge = edge_config(&config)?;
    if config.audit.enabled && tokio::runtime::Handle::try_current().is_ok() {
        let db = AuditDb::lazy(config.store_url.as_str()).context("opening the audit trail")?;
        edge.audit = Some(Arc::new(Auditor::start(db, &config.audit)));
    }
    let ctx = Arc::new(Ctx {
        keys,
        users: config.users.clone(),
        exec,
        blob_keys: BlobKeyCache::new(config.cache),
    });
    let edge = Arc::new(edge);
    Ok(Service {
        live: Arc::new(Live::new(ctx.clone(), edge.clone())),
        ctx,
        edge,
        config,
    })
}

/// obs-signd's sign.conf when neither `--sign-conf` nor the TOML names one.
pub const DEFAULT_SIGN_CONF: &str = "/etc/sign.conf";

/// The sign.conf to honour: `--sign-conf`; in test mode, as `signd -t` and
/// `signd --test-sign` do, `$SIGN_CONF` (`sign_conf_env`) if set and not
/// empty, else [`DEFAULT_SIGN_CONF`] unless `--data-dir`/`--config` say
/// where the configuration is. Serving, only `--sign-conf` (or the TOML).
fn sign_conf_path(args: &DaemonArgs, sign_conf_env: Option<std::ffi::OsString>) -> Option<PathBuf> {
    if let Some(p) = &args.sign_conf {
        return Some(p.clone());
    }
    if !args.test_mode() {
        return None;
    }
    match sign_conf_env.filter(|v| !v.is_empty()) {
        Some(v) => Some(PathBuf::from(v)),
        None if args.global.data_dir.is_none() && args.global.config.is_none() => {
            Some(PathBuf::from(DEFAULT_SIGN_CONF))
        }
        None => None,
    }
}

/// The whole daemon: configuration (read before any thread is started, so
/// that `[exec]` can size the runtime, and before logging starts, so that
/// `[log] level` applies), runtime, then [`run`] until SIGTERM or SIGINT, or
/// one test-mode request.
pub fn main(args: DaemonArgs) -> anyhow::Result<()> {
    let test_mode = args.test_mode();
    let config = args
        .global
        .load_config(sign_conf_path(&args, std::env::var_os("SIGN_CONF")))
        .context(crate::app::exit::ConfigError)?;
    // Test mode writes nothing to stderr (spec §12): OBS's appliance runs
    // `sign --test-sign signd -C key.asc > cert 2>&1`, so a log line would
    // land in the certificate. Its logs and warnings appear only when
    // asked for with RUST_LOG; a fatal error is still printed.
    if !test_mode || std::env::var_os("RUST_LOG").is_some() {
        let quiet: Vec<&str> = crate::keys::NOISY_LOG_TARGETS
            .iter()
            .chain(crate::server::QUIET_LOG_TARGETS)
            .copied()
            .collect();
        crate::logging::init_quieting(&config.log, &quiet);
    }
    if config.lock_memory {
        // Before any thread or key exists; --check-config reports it too.
        crate::app::lock_memory()?;
    }
    for w in &config.warnings {
        if test_mode {
            tracing::warn!("{w}");
        } else {
            let _ = writeln!(std::io::stderr(), "signatrustd: warning: {w}");
        }
    }
    let runtime = crate::app::runtime(&config.exec).context("cannot start the async runtime")?;
    if args.check_config && !test_mode {
        runtime.block_on(check_config(&config))?;
        // What the server would listen on and whom it would let in, after
        // the TOML's values have overridden sign.conf's (and --listen
        // both): the merge is easy to misread.
        let listen = listen_addrs(&args, &config);
        let list = |items: Vec<String>| match items.is_empty() {
            true => "none".to_owned(),
            false => items.join(", "),
        };
        let access = &config.access;
        // A closed stdout (`--check-config | true`) is not an error.
        let _ = writeln!(
            std::io::stdout(),
            "listen: {}\nallow: {}; source ports above 1024: {}",
            list(listen.iter().map(ToString::to_string).collect()),
            list(access.allow.iter().map(ToString::to_string).collect()),
            if access.allow_unprivileged_ports {
                "allowed"
            } else {
                "refused"
            }
        );
        let _ = writeln!(std::io::stdout(), "configuration ok");
        return Ok(());
    }
    runtime.block_on(async move {
        if test_mode {
            run_test_mode(args, config).await
        } else {
            run(args, config).await
        }
    })
}

/// `--check-config`: what start-up would check, short of listening. The
/// TLS files load, the upstream is usable, the log file opens for
/// appending, the store is reachable and migrated, and the configured KEK
/// is the store's own (it opens the store's KEK canary). A missing file
/// KEK is fine only for a store that holds nothing (start-up creates it).
async fn check_config(config: &Config) -> anyhow::Result<()> {
    edge_config(config)?;
    let missing_file_kek = match &config.kms {
        KmsConfig::File { key_file } => key_file.symlink_metadata().is_err().then_some(key_file),
        KmsConfig::Pkcs11 { .. } | KmsConfig::AwsKms { .. } => None,
    };
    let store = crate::keys::redacted_url(config.store_url.as_str());
    // Checking creates nothing: a store file that does not exist is
    // reported (start-up would create it, empty, with a new KEK), so that
    // a mistyped data_dir or [store] url shows, instead of being made.
    if config.store_url.sqlite_path().is_some_and(|p| !p.exists()) {
        let kek = missing_file_kek
            .map(|k| format!(", and the KEK file {}", k.display()))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stdout(),
            "store {store}: does not exist yet; created at start-up (empty){kek}: a new \
             installation, or check data_dir and [store] url",
        );
        return Ok(());
    }
    if let Some(key_file) = missing_file_kek {
        crate::app::create_private_dir(&config.data_dir)?;
        crate::app::refuse_new_kek_for_claimed_store(config, key_file).await?;
        let _ = writeln!(
            std::io::stdout(),
            "store {store}: empty; the KEK file {} will be created at start-up",
            key_file.display()
        );
        return Ok(());
    }
    let keys = crate::app::open_store(config).await?;
    let _ = writeln!(
        std::io::stdout(),
        "store {store}: reachable, migrated, KEK {} opens it",
        keys.kek_id()
    );
    keys.close().await;
    Ok(())
}

/// The addresses to listen on: `--listen`, else the configuration's.
fn listen_addrs<'a>(args: &'a DaemonArgs, config: &'a Config) -> &'a [std::net::SocketAddr] {
    if args.listen.is_empty() {
        &config.listen
    } else {
        &args.listen
    }
}

/// Serves `config` until SIGTERM or SIGINT.
pub async fn run(args: DaemonArgs, config: Config) -> anyhow::Result<()> {
    let listen = listen_addrs(&args, &config).to_vec();
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
        let (live, stop) = (service.live.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            crate::server::run_live(listener, stop.cancelled_owned(), live).await;
        }));
    }
    // Another process's changes to a shared (PostgreSQL) store reach the
    // caches at once; a no-op for SQLite.
    let keys = service.ctx.keys.clone();
    let feed = tokio::spawn(async move { keys.follow_changes().await });
    // Cancelled first on SIGTERM (`/readyz` answers 503), the listeners
    // close `[server] drain_grace_ms` later.
    let draining = CancellationToken::new();
    let stop_metrics = CancellationToken::new();
    let metrics_task = match service.config.metrics_listen {
        Some(addr) => {
            let listener = crate::server::bind(addr, false)
                .with_context(|| format!("cannot listen on {addr} ([metrics] listen)"))?;
            tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
            let (ctx, edge) = (service.ctx.clone(), service.edge.clone());
            let (draining, stop) = (draining.clone(), stop_metrics.clone());
            Some(tokio::spawn(crate::server::serve_metrics(
                listener, ctx, edge, draining, stop,
            )))
        }
        None => None,
    };
    // systemd (Type=notify): the store and its KEK are open and every
    // listener is bound. Without $NOTIFY_SOCKET this does nothing.
    if let Err(e) = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]) {
        tracing::warn!(error = %e, "cannot notify systemd (READY=1)");
    }
    let watchdog = start_watchdog();
    serve_signals(&service, &args).await;
    tracing::info!("signal received, shutting down");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    if let Some(w) = watchdog {
        w.abort();
    }
    draining.cancel();
    let grace = service.edge.settings.drain_grace;
    if !grace.is_zero() {
        // A balancer's health check sees not-ready and stops sending new
        // connections before the listeners close ([server] drain_grace_ms).
        tracing::info!(
            grace_ms = grace.as_millis() as u64,
            "draining: /readyz not ready, still accepting until the grace period ends"
        );
        // A second SIGTERM (or SIGINT) cuts the grace short.
        let again = async {
            use tokio::signal::unix::{signal, SignalKind};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut term), Ok(mut int)) => tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                },
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(grace) => {}
            _ = again => tracing::info!("second signal: drain grace cut short"),
        }
    }
    feed.abort();
    shutdown.cancel();
    for t in tasks {
        let _ = t.await;
    }
    stop_metrics.cancel();
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    service.close().await;
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
        config.store_url = StoreUrl::sqlite_file(&dir.path().join("scratch.db"));
        config.kms = KmsConfig::File {
            key_file: dir.path().join(KEK_FILE),
        };
        let keys = Arc::new(crate::app::open_store(&config).await?);
        load_signd_keys(&config, &keys).await?;
        scratch = Some(dir);
        build_with_store(config, keys)?
    };
    let result = match &args.test {
        Some(argv) => crate::server::testmode::run_command(argv, &service.ctx, &service.edge).await,
        None => crate::server::testmode::test_sign(&service.ctx, &service.edge).await,
    };
    service.close().await;
    service.ctx.keys.close().await;
    service.ctx.exec.close();
    drop(scratch);
    result.context("writing the reply")
}

/// Loads what Perl signd would serve from sign.conf's state into `keys`:
/// the key of every user in `phrases:` from the gpg home (`gnupghome:`,
/// else `$GNUPGHOME`), aliases and symmetric encryption keys. A user whose
/// key cannot be loaded is logged and left out (it answers `unknown key`).
async fn load_signd_keys(config: &Config, keys: &KeyStore) -> anyhow::Result<()> {
    let Some(paths) = &config.signd else {
        return Ok(());
    };
    let state = SigndState::new(paths, Path::new("gpg"), None).map_err(|_| {
        anyhow::anyhow!("sign.conf names phrases: but neither gnupghome: nor $GNUPGHOME is set")
    })?;
    state
        .load(keys, &LoadOptions::default(), |item| {
            match item {
                // Logged, not printed: test mode keeps stderr clean.
                Loaded::Key {
                    user,
                    result: Err(e),
                } => tracing::warn!("key {user}: {e:#}"),
                Loaded::Alias {
                    alias,
                    result: Err(Failure::File(_)),
                } => tracing::warn!("alias {alias}: unreadable or empty"),
                Loaded::EncryptionKey {
                    id,
                    result: Err(Failure::File(e)),
                } => tracing::warn!("encryption key {id}: {e:#}"),
                // The store failing is not a problem of one file: stop.
                Loaded::Alias {
                    result: Err(Failure::Store(e)),
                    ..
                }
                | Loaded::EncryptionKey {
                    result: Err(Failure::Store(e)),
                    ..
                } => return Err(e.into()),
                // Keys Perl could not use either (protected, no phrase).
                Loaded::DecryptOnly { .. } | Loaded::Keys { .. } => {}
                Loaded::Key { result: Ok(_), .. }
                | Loaded::Alias { result: Ok(_), .. }
                | Loaded::EncryptionKey { result: Ok(_), .. } => {}
            }
            Ok(())
        })
        .await
}

/// Waits for SIGTERM or SIGINT; on SIGHUP reloads what can change
/// without a restart ([`reload`]) and goes on waiting.
async fn serve_signals(service: &Service, args: &DaemonArgs) {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(mut term), Ok(mut int), Ok(mut hup)) => loop {
            tokio::select! {
                _ = term.recv() => return,
                _ = int.recv() => return,
                _ = hup.recv() => reload(service, args).await,
            }
        },
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// SIGHUP: reads the configuration again (the TOML file and the sign.conf
/// it names, or `--sign-conf`) and replaces what can change without a
/// restart: the TLS certificate, key and client CAs, `allow_subject:`, the
/// `allow:` list and source-port rule, the user map and default user, the
/// upstream, and the signd log file (reopened: logrotate's `postrotate
/// kill -HUP`). New connections are served with the new settings, those in
/// flight finish with the old ones (`server::Live`).
///
/// All or nothing: a file that does not parse, a certificate or key that
/// cannot be read, a log file that cannot be opened keeps every old
/// setting, and the error (naming the file, and the line where known) is
/// logged. Settings read only at start-up (listen addresses, limits and
/// timeouts, store, KMS, cache, workers, log level and format, audit,
/// metrics listener) are logged as needing a restart when changed, and not
/// applied. systemd is told `RELOADING=1` before and `READY=1` after. With
/// auditing on, the reload is recorded (`kind = admin`, command `server
/// reload`, the settings replaced or the error).
async fn reload(service: &Service, args: &DaemonArgs) {
    tracing::info!("SIGHUP: reloading the configuration");
    let mut reloading = vec![sd_notify::NotifyState::Reloading];
    // systemd 253+ requires the timestamp with RELOADING=1.
    if let Ok(now) = sd_notify::NotifyState::monotonic_usec_now() {
        reloading.push(now);
    }
    let _ = sd_notify::notify(false, &reloading);
    let outcome = match reload_config(service, args) {
        Ok(replaced) => {
            tracing::info!(
                replaced = %replaced.join(", "),
                "configuration reloaded, new connections use it"
            );
            Ok(format!("replaced: {}", replaced.join(", ")))
        }
        Err(e) => {
            let e = format!("{e:#}");
            tracing::error!(error = %e, "reload failed, keeping the old settings");
            Err(e)
        }
    };
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    if let Some(auditor) = &service.edge.audit {
        let (outcome, error, detail) = match outcome {
            Ok(detail) => ("ok", String::new(), detail),
            Err(e) => ("error", e, String::new()),
        };
        match auditor.reserve().await {
            Ok(slot) => slot.send(crate::audit::Record {
                time_us: crate::audit::now_us(),
                kind: crate::audit::Kind::Admin.as_str().into(),
                command: "server reload".into(),
                outcome: outcome.into(),
                error,
                detail,
                os_user: crate::audit::os_user(),
                ..crate::audit::Record::default()
            }),
            Err(e) => tracing::warn!(error = %e, "the reload has no audit record"),
        }
    }
}

/// [`reload`]'s work: the names of the settings replaced (TLS and the
/// upstream whenever configured: their files may have changed under the
/// same names), or why none was.
fn reload_config(service: &Service, args: &DaemonArgs) -> anyhow::Result<Vec<&'static str>> {
    let new = args
        .global
        .load_config(sign_conf_path(args, std::env::var_os("SIGN_CONF")))?;
    for w in &new.warnings {
        tracing::warn!("{w}");
    }
    for setting in needs_restart(&service.config, &new, !args.listen.is_empty()) {
        tracing::warn!(
            setting,
            "changed in the configuration; needs a restart, not applied"
        );
    }
    let (old_ctx, old_edge) = service.live.snapshot();
    // Everything that can fail, before anything is replaced.
    let tls = tls_server(&new)?;
    // The listener's read timeout is the start-up one.
    let upstream = upstream(&new, old_edge.settings.read_timeout)?;
    let signd_log = match (&old_edge.signd_log, &new.log.file) {
        // The same file: reopened in place below, so that the requests in
        // flight write their lines to the new file too.
        (Some(old), Some(path)) if old.path() == path => Some(old.clone()),
        (_, Some(path)) => Some(Arc::new(open_signd_log(path)?)),
        (_, None) => None,
    };
    if let (Some(old), Some(new_log)) = (&old_edge.signd_log, &signd_log) {
        if Arc::ptr_eq(old, new_log) {
            old.reopen()
                .with_context(|| format!("{}: cannot reopen the log file", old.path().display()))?;
        }
    }
    let mut changed = Vec::new();
    let (old_users, old_access) = (&old_ctx.users, &old_edge.access);
    let old_tls = old_edge.tls.is_some();
    for (name, differs) in [
        ("users", *old_users != new.users),
        ("allow", *old_access != new.access),
        // The files' contents may have changed under the same names.
        ("tls", old_tls || tls.is_some()),
        (
            "upstream",
            old_edge.upstream.is_some() || upstream.is_some(),
        ),
        (
            "log file",
            old_edge.signd_log.as_ref().map(|l| l.path()) != new.log.file.as_deref(),
        ),
    ] {
        if differs {
            changed.push(name);
        }
    }
    let ctx = Arc::new(Ctx {
        keys: old_ctx.keys.clone(),
        users: new.users.clone(),
        exec: old_ctx.exec.clone(),
        blob_keys: old_ctx.blob_keys.clone(),
    });
    let edge = Arc::new(EdgeConfig {
        // Sized the listener's limits at start-up.
        settings: old_edge.settings.clone(),
        access: new.access.clone(),
        tls,
        upstream,
        signd_log,
        audit: old_edge.audit.clone(),
        metrics: old_edge.metrics.clone(),
    });
    service.live.replace(ctx, edge);
    Ok(changed)
}

/// The settings read only at start-up that differ between `old` and `new`,
/// by their configuration names. `listen_overridden`: `--listen` was given,
/// so the configured addresses do not matter.
fn needs_restart(old: &Config, new: &Config, listen_overridden: bool) -> Vec<&'static str> {
    [
        (
            "[server] listen",
            !listen_overridden && old.listen != new.listen,
        ),
        ("[server] limits and timeouts", old.edge != new.edge),
        ("data_dir", old.data_dir != new.data_dir),
        ("[store] url", old.store_url != new.store_url),
        ("[kms]", old.kms != new.kms),
        ("[cache]", old.cache != new.cache),
        ("[exec]", old.exec != new.exec),
        ("[log] level", old.log.level != new.log.level),
        ("[log] format", old.log.format != new.log.format),
        ("[security] lock_memory", old.lock_memory != new.lock_memory),
        ("[audit]", old.audit != new.audit),
        ("[metrics] listen", old.metrics_listen != new.metrics_listen),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

/// systemd's watchdog (`WatchdogSec=`): WATCHDOG=1 at half the interval,
/// from the runtime, so a wedged reactor stops the pings.
fn start_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return None;
    }
    let every = std::time::Duration::from_micros(usec / 2);
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        }
    }))
}
